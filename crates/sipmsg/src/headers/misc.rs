//! Content-Type, Event, option-tag and method lists, Privacy and Date.

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::headers::param::{parse_params, Params};
use crate::lex::{at, is_token, skip_lws, CommaIter};
use crate::msg::Method;
use crate::span::Span;

fn bad(kind: HeaderKind, at: usize, reason: &'static str) -> Error {
    Error::BadHeader { kind, at, reason }
}

fn token_end(buf: &[u8], mut i: usize, end: usize) -> usize {
    while i < end && is_token(at(buf, i)) {
        i += 1;
    }
    i
}

/// `Content-Type: type/subtype *(;param)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentType {
    /// Media type (`application`).
    pub mtype: Span,
    /// Subtype (`sdp`).
    pub subtype: Span,
    /// Parameters (`boundary`, `charset` …).
    pub params: Params,
}

impl ContentType {
    /// Whether the type is `t/s` (ASCII case-insensitive).
    pub fn is(&self, buf: &[u8], t: &[u8], s: &[u8]) -> bool {
        self.mtype.eq_ignore_case(buf, t) && self.subtype.eq_ignore_case(buf, s)
    }
}

/// Parses a media type (also used for body parts).
pub fn parse_content_type(buf: &[u8], value: Span) -> Result<ContentType> {
    let k = HeaderKind::ContentType;
    let (s, e) = (value.start as usize, value.end as usize);
    let i = skip_lws(buf, s, e);
    let te = token_end(buf, i, e);
    if te == i {
        return Err(bad(k, i, "no media type"));
    }
    let slash = skip_lws(buf, te, e);
    if at(buf, slash) != b'/' || slash >= e {
        return Err(bad(k, slash, "no /"));
    }
    let ss = skip_lws(buf, slash + 1, e);
    let se = token_end(buf, ss, e);
    if se == ss {
        return Err(bad(k, ss, "no subtype"));
    }
    let (params, pe) = parse_params(buf, se, e).map_err(|(r, a)| bad(k, a, r))?;
    if skip_lws(buf, pe, e) != e {
        return Err(bad(k, pe, "junk after media type"));
    }
    Ok(ContentType {
        mtype: Span::new(i, te),
        subtype: Span::new(ss, se),
        params,
    })
}

/// `Event: package[.template] *(;param)` (RFC 6665).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event {
    /// The event type including templates (`presence.winfo`).
    pub package: Span,
    /// Parameters.
    pub params: Params,
    /// The `id` parameter value.
    pub id: Option<Span>,
}

/// Event / Allow-Events element.
pub fn parse_event(buf: &[u8], value: Span) -> Result<Event> {
    let k = HeaderKind::Event;
    let (s, e) = (value.start as usize, value.end as usize);
    let i = skip_lws(buf, s, e);
    let pe = token_end(buf, i, e);
    if pe == i {
        return Err(bad(k, i, "no event package"));
    }
    let (params, end) = parse_params(buf, pe, e).map_err(|(r, a)| bad(k, a, r))?;
    if skip_lws(buf, end, e) != e {
        return Err(bad(k, end, "junk after event"));
    }
    Ok(Event {
        package: Span::new(i, pe),
        params,
        id: params.get(buf, b"id").and_then(|p| p.value),
    })
}

/// A comma-separated list of tokens (Supported, Require, Proxy-Require, Unsupported,
/// Allow-Events without params); appends each to `out`.
pub fn parse_token_list(
    buf: &[u8],
    value: Span,
    kind: HeaderKind,
    out: &mut Vec<Span>,
) -> Result<()> {
    if value.is_empty() {
        // An empty Supported is legal (RFC 3261 §20.37: `Supported: *(option-tag)`).
        return Ok(());
    }
    for el in CommaIter::new(buf, value) {
        if el.is_empty() {
            return Err(bad(kind, el.start as usize, "empty element"));
        }
        if !el.of(buf).iter().all(|&b| is_token(b)) {
            return Err(bad(kind, el.start as usize, "not a token"));
        }
        out.push(el);
    }
    Ok(())
}

/// Allow: the methods listed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Allow {
    /// Each method token.
    pub methods: Vec<(Method, Span)>,
}

impl Allow {
    /// Whether `m` is listed (for `Method::Other`, compare the spans yourself).
    pub fn contains(&self, m: Method) -> bool {
        m != Method::Other && self.methods.iter().any(|(x, _)| *x == m)
    }
}

/// Appends the methods of one Allow header.
pub fn parse_allow(buf: &[u8], value: Span, out: &mut Allow) -> Result<()> {
    let mut toks = Vec::new();
    parse_token_list(buf, value, HeaderKind::Allow, &mut toks)?;
    out.methods
        .extend(toks.into_iter().map(|t| (Method::from_token(t.of(buf)), t)));
    Ok(())
}

/// Privacy values (RFC 3323, RFC 3325), as Kamailio's `parse_privacy` bits.
pub mod privacy {
    /// `user`
    pub const USER: u8 = 1;
    /// `header`
    pub const HEADER: u8 = 2;
    /// `session`
    pub const SESSION: u8 = 4;
    /// `none`
    pub const NONE: u8 = 8;
    /// `critical`
    pub const CRITICAL: u8 = 16;
    /// `id`
    pub const ID: u8 = 32;
    /// `history` (RFC 4244)
    pub const HISTORY: u8 = 64;
}

/// Privacy: `priv-value *(";" priv-value)`; unknown values are an error (as in Kamailio).
pub fn parse_privacy(buf: &[u8], value: Span) -> Result<u8> {
    let k = HeaderKind::Privacy;
    let mut bits = 0u8;
    let (s, e) = (value.start as usize, value.end as usize);
    let mut i = skip_lws(buf, s, e);
    loop {
        let te = token_end(buf, i, e);
        let t = buf.get(i..te).unwrap_or(&[]);
        let bit = [
            (&b"user"[..], privacy::USER),
            (b"header", privacy::HEADER),
            (b"session", privacy::SESSION),
            (b"none", privacy::NONE),
            (b"critical", privacy::CRITICAL),
            (b"id", privacy::ID),
            (b"history", privacy::HISTORY),
        ]
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(t))
        .map(|&(_, b)| b)
        .ok_or(bad(k, i, "unknown privacy value"))?;
        bits |= bit;
        let j = skip_lws(buf, te, e);
        if j >= e {
            return Ok(bits);
        }
        if at(buf, j) != b';' {
            return Err(bad(k, j, "expected ;"));
        }
        i = skip_lws(buf, j + 1, e);
    }
}

/// `Date: Sat, 13 Nov 2010 23:29:00 GMT` (RFC 1123, GMT only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Date {
    /// 1..=31
    pub day: u8,
    /// 1..=12
    pub month: u8,
    /// Four-digit year.
    pub year: u16,
    /// 0..=23
    pub hour: u8,
    /// 0..=59
    pub minute: u8,
    /// 0..=60 (leap second)
    pub second: u8,
}

/// Parses a SIP-date. Only "GMT" is accepted as zone (RFC 4475 baddate has `EST`).
pub fn parse_date(buf: &[u8], value: Span) -> Result<Date> {
    let k = HeaderKind::Date;
    let v = value.of(buf);
    let err = |r| bad(k, value.start as usize, r);
    // "Www, DD Mmm YYYY HH:MM:SS GMT" = 29 bytes exactly.
    if v.len() != 29 {
        return Err(err("bad length"));
    }
    const DAYS: [&[u8]; 7] = [b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat", b"Sun"];
    const MONTHS: [&[u8]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    if !DAYS.contains(&&v[0..3]) || &v[3..5] != b", " {
        return Err(err("bad weekday"));
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> { crate::lex::parse_u32(v.get(r)?) };
    let day = num(5..7)
        .filter(|d| (1..=31).contains(d))
        .ok_or(err("bad day"))?;
    let month = MONTHS
        .iter()
        .position(|m| *m == &v[8..11])
        .ok_or(err("bad month"))?;
    let year = num(12..16).ok_or(err("bad year"))?;
    let hour = num(17..19).filter(|h| *h <= 23).ok_or(err("bad hour"))?;
    let minute = num(20..22).filter(|m| *m <= 59).ok_or(err("bad minute"))?;
    let second = num(23..25).filter(|s| *s <= 60).ok_or(err("bad second"))?;
    if v[7] != b' '
        || v[11] != b' '
        || v[16] != b' '
        || v[19] != b':'
        || v[22] != b':'
        || v[25] != b' '
    {
        return Err(err("bad separators"));
    }
    if &v[26..29] != b"GMT" {
        return Err(err("zone is not GMT"));
    }
    Ok(Date {
        day: day as u8,
        month: month as u8 + 1,
        year: year as u16,
        hour: hour as u8,
        minute: minute as u8,
        second: second as u8,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sp(b: &[u8]) -> Span {
        Span::new(0, b.len())
    }

    #[test]
    fn content_type_table() {
        let table: &[(&str, Option<(&str, &str)>)] = &[
            ("application/sdp", Some(("application", "sdp"))),
            (
                "multipart/mixed;boundary=unique-boundary-1",
                Some(("multipart", "mixed")),
            ),
            ("text/plain ; charset=\"utf-8\"", Some(("text", "plain"))),
            ("application", None),
            ("/sdp", None),
            ("a/b c", None),
        ];
        for (v, want) in table {
            let b = v.as_bytes();
            let got = parse_content_type(b, sp(b)).ok().map(|c| {
                (
                    String::from_utf8_lossy(c.mtype.of(b)).into_owned(),
                    String::from_utf8_lossy(c.subtype.of(b)).into_owned(),
                )
            });
            assert_eq!(
                got,
                want.map(|(a, b)| (a.to_string(), b.to_string())),
                "{v}"
            );
        }
    }

    #[test]
    fn lists_privacy_event_date() {
        let b = b"100rel, timer,path";
        let mut out = Vec::new();
        parse_token_list(b, sp(b), HeaderKind::Supported, &mut out).unwrap();
        assert_eq!(out.len(), 3);
        let b = b"100rel,,x";
        assert!(parse_token_list(b, sp(b), HeaderKind::Require, &mut Vec::new()).is_err());
        let b = b"INVITE, ACK, FOO";
        let mut a = Allow::default();
        parse_allow(b, sp(b), &mut a).unwrap();
        assert!(a.contains(Method::Ack) && !a.contains(Method::Bye) && a.methods.len() == 3);
        let table: &[(&str, Option<u8>)] = &[
            ("id", Some(privacy::ID)),
            (
                "header; user ;critical",
                Some(privacy::HEADER | privacy::USER | privacy::CRITICAL),
            ),
            ("none", Some(privacy::NONE)),
            ("foo", None),
            ("id,user", None),
        ];
        for (v, want) in table {
            assert_eq!(
                parse_privacy(v.as_bytes(), sp(v.as_bytes())).ok(),
                *want,
                "{v}"
            );
        }
        let b = b"presence.winfo;id=7";
        let ev = parse_event(b, sp(b)).unwrap();
        assert_eq!(ev.package.of(b), b"presence.winfo");
        assert_eq!(ev.id.unwrap().of(b), b"7");
        let dates: &[(&str, bool)] = &[
            ("Sat, 13 Nov 2010 23:29:00 GMT", true),
            ("Thu, 21 Feb 2002 13:02:03 EST", false),
            ("Thu, 21 Feb 2002 25:02:03 GMT", false),
            ("Xyz, 21 Feb 2002 13:02:03 GMT", false),
            ("Thu, 21 Feb 2002", false),
        ];
        for (d, ok) in dates {
            assert_eq!(
                parse_date(d.as_bytes(), sp(d.as_bytes())).is_ok(),
                *ok,
                "{d}"
            );
        }
    }
}
