//! URIs: `sip:`, `sips:`, `tel:` and `urn:` (the schemes Kamailio's `parse_uri` knows).

use std::borrow::Cow;

use crate::error::{Error, Result};
use crate::headers::param::Param;
use crate::lex::at;
use crate::msg::{ExtraChars, ParseOptions};
use crate::span::Span;

/// URI scheme (after `phone2tel`, see [`Uri::user_phone`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Scheme {
    Sip,
    Sips,
    Tel,
    /// Only produced by `phone2tel` from a `sips:` URI with `user=phone`.
    Tels,
    Urn,
}

/// What the host part is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostKind {
    /// Dotted-quad IPv4 address.
    Ipv4,
    /// IPv6 reference, brackets included in [`Uri::host`].
    Ipv6,
    /// A host name.
    Name,
    /// No host (tel URIs; urn).
    None,
}

/// A parsed URI. All spans index the message buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uri {
    /// The whole URI.
    pub span: Span,
    /// Scheme.
    pub scheme: Scheme,
    /// The scheme token (without `:`).
    pub scheme_span: Span,
    /// User part (escapes kept; see [`Uri::user_unescaped`]). For tel URIs, the number.
    pub user: Option<Span>,
    /// Password.
    pub password: Option<Span>,
    /// Host as written (`[...]` kept for IPv6); empty for tel.
    pub host: Span,
    /// What the host is.
    pub host_kind: HostKind,
    /// Port.
    pub port: Option<u16>,
    /// Port digits.
    pub port_span: Option<Span>,
    /// URI parameters, from the first `;` (exclusive) to `?` or the end. After
    /// `phone2tel`, the parameters of the embedded tel number (Kamailio's `params`).
    pub params: Span,
    /// The original `sip:` parameters (Kamailio's `sip_params`); equal to `params`
    /// unless `phone2tel` applied.
    pub sip_params: Span,
    /// Headers after `?` (without the `?`).
    pub headers: Option<Span>,
    /// True when `phone2tel` turned a `sip:...;user=phone` URI into a tel view.
    pub user_phone: bool,
    /// `transport=`.
    pub transport: Option<Param>,
    /// `ttl=`.
    pub ttl: Option<Param>,
    /// `user=`.
    pub user_param: Option<Param>,
    /// `method=`.
    pub method: Option<Param>,
    /// `maddr=`.
    pub maddr: Option<Param>,
    /// `lr`.
    pub lr: Option<Param>,
    /// `r2`.
    pub r2: Option<Param>,
    /// `gr`.
    pub gr: Option<Param>,
}

impl Uri {
    /// Parses `span` of `buf` with default options.
    pub fn parse(buf: &[u8], span: Span) -> Result<Uri> {
        Uri::parse_with(buf, span, &ParseOptions::default())
    }

    /// Parses `span` of `buf` (`uri_host_extra_chars` and `phone2tel` from `opts`).
    pub fn parse_with(buf: &[u8], span: Span, opts: &ParseOptions) -> Result<Uri> {
        parse(buf, span, opts.uri_host_extra_chars, opts.phone2tel)
    }

    /// Iterates the URI parameters (`name[=value]`, no LWS) of [`Uri::params`].
    pub fn param_iter<'a>(&self, buf: &'a [u8]) -> UriParamIter<'a> {
        UriParamIter::new(buf, self.params)
    }

    /// The first parameter named `name` (ASCII case-insensitive).
    pub fn param(&self, buf: &[u8], name: &[u8]) -> Option<Param> {
        self.param_iter(buf)
            .find(|p| p.name.eq_ignore_case(buf, name))
    }

    /// The user part with `%HH` escapes decoded (once; RFC 4475 esc01: not recursive).
    pub fn user_unescaped<'a>(&self, buf: &'a [u8]) -> Option<Cow<'a, [u8]>> {
        self.user.map(|u| unescape(u.of(buf)))
    }
}

/// Iterator over `;`-separated URI parameters.
pub struct UriParamIter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> UriParamIter<'a> {
    /// Parameters in `span` (the text after the first `;`).
    pub fn new(buf: &'a [u8], span: Span) -> Self {
        UriParamIter {
            buf,
            pos: span.start as usize,
            end: if span.is_empty() {
                span.start as usize
            } else {
                span.end as usize
            },
        }
    }
}

impl Iterator for UriParamIter<'_> {
    type Item = Param;
    fn next(&mut self) -> Option<Param> {
        while self.pos < self.end {
            let s = self.pos;
            let e = memchr::memchr(b';', self.buf.get(s..self.end).unwrap_or(&[]))
                .map_or(self.end, |p| s + p);
            self.pos = e + 1;
            if e == s {
                continue; // empty parameter (`;;`), skipped as Kamailio does
            }
            let seg = self.buf.get(s..e).unwrap_or(&[]);
            let (name, value) = match memchr::memchr(b'=', seg) {
                Some(q) => (Span::new(s, s + q), Some(Span::new(s + q + 1, e))),
                None => (Span::new(s, e), None),
            };
            // The span starts at the `;` before the parameter, when there is one.
            let ps = if s > 0 && at(self.buf, s - 1) == b';' {
                s - 1
            } else {
                s
            };
            return Some(Param {
                span: Span::new(ps, e),
                name,
                value,
            });
        }
        None
    }
}

/// Decodes `%HH` escapes once; invalid escapes are kept as written.
pub fn unescape(s: &[u8]) -> Cow<'_, [u8]> {
    if !s.contains(&b'%') {
        return Cow::Borrowed(s);
    }
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let b = s[i];
        if b == b'%' {
            if let (Some(h), Some(l)) = (
                s.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                s.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b);
        i += 1;
    }
    Cow::Owned(out)
}

fn bad(at: usize, reason: &'static str) -> Error {
    Error::BadUri { at, reason }
}

fn is_host_char(b: u8, extra: ExtraChars) -> bool {
    b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || extra.contains(b)
}

fn classify_host(h: &[u8]) -> HostKind {
    let mut parts = 0;
    let ok = h.split(|&b| b == b'.').all(|p| {
        parts += 1;
        !p.is_empty()
            && p.len() <= 3
            && p.iter().all(u8::is_ascii_digit)
            && crate::lex::parse_u32(p).is_some_and(|v| v <= 255)
    });
    if ok && parts == 4 {
        HostKind::Ipv4
    } else {
        HostKind::Name
    }
}

/// Validates the inside of `[...]`: hex digits, `:` and `.` (for an embedded IPv4), at
/// least one `:`. A triple colon is tolerated (RFC 5118 §4.10 asks to).
fn valid_ipv6(inner: &[u8]) -> bool {
    !inner.is_empty()
        && inner.len() <= 45
        && inner.contains(&b':')
        && inner
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

fn parse(buf: &[u8], span: Span, extra: ExtraChars, phone2tel: bool) -> Result<Uri> {
    let s = span.start as usize;
    let e = span.end as usize;
    let u = buf.get(s..e).ok_or(bad(s, "out of range"))?;
    if u.len() < 5 {
        return Err(bad(s, "too short"));
    }
    // `"` is taken in the user part, parameters and headers, as Kamailio's parser does
    // (`;received="sip:…"` in a Route, `sip:a"b@host`); a host with one is still refused.
    if let Some(p) = u
        .iter()
        .position(|&b| b <= b' ' || b == 0x7f || matches!(b, b'<' | b'>'))
    {
        return Err(bad(s + p, "character not allowed in URI"));
    }
    let colon = memchr::memchr(b':', u).ok_or(bad(s, "no scheme"))?;
    let sch = &u[..colon];
    let scheme = if sch.eq_ignore_ascii_case(b"sip") {
        Scheme::Sip
    } else if sch.eq_ignore_ascii_case(b"sips") {
        Scheme::Sips
    } else if sch.eq_ignore_ascii_case(b"tel") {
        Scheme::Tel
    } else if sch.eq_ignore_ascii_case(b"urn") {
        Scheme::Urn
    } else {
        // Kamailio's parse_uri refuses other schemes; a server answers 416.
        return Err(bad(s, "unsupported URI scheme"));
    };
    let rest = s + colon + 1;
    let mut uri = Uri {
        span,
        scheme,
        scheme_span: Span::new(s, s + colon),
        user: None,
        password: None,
        host: Span::empty(rest),
        host_kind: HostKind::None,
        port: None,
        port_span: None,
        params: Span::empty(e),
        sip_params: Span::empty(e),
        headers: None,
        user_phone: false,
        transport: None,
        ttl: None,
        user_param: None,
        method: None,
        maddr: None,
        lr: None,
        r2: None,
        gr: None,
    };
    match scheme {
        Scheme::Urn => {
            if rest >= e {
                return Err(bad(rest, "empty urn"));
            }
            uri.host = Span::new(rest, e);
            return Ok(uri);
        }
        Scheme::Tel | Scheme::Tels => {
            let num_end =
                memchr::memchr(b';', buf.get(rest..e).unwrap_or(&[])).map_or(e, |p| rest + p);
            if num_end == rest {
                return Err(bad(rest, "empty telephone number"));
            }
            uri.user = Some(Span::new(rest, num_end));
            if num_end < e {
                uri.params = Span::new(num_end + 1, e);
                uri.sip_params = uri.params;
            }
            return Ok(uri);
        }
        Scheme::Sip | Scheme::Sips => {}
    }
    // userinfo: up to the first '@' (user may contain ';', '?', '/' …, RFC 4475 semiuri).
    let mut hs = rest;
    if let Some(p) = memchr::memchr(b'@', buf.get(rest..e).unwrap_or(&[])) {
        let at_pos = rest + p;
        if at_pos == rest {
            return Err(bad(rest, "'@' without user"));
        }
        let ui = buf.get(rest..at_pos).unwrap_or(&[]);
        match memchr::memchr(b':', ui) {
            Some(c) => {
                if c == 0 {
                    return Err(bad(rest, "empty user"));
                }
                uri.user = Some(Span::new(rest, rest + c));
                uri.password = Some(Span::new(rest + c + 1, at_pos));
            }
            None => uri.user = Some(Span::new(rest, at_pos)),
        }
        hs = at_pos + 1;
    }
    // host
    let he = if at(buf, hs) == b'[' && hs < e {
        let close = memchr::memchr(b']', buf.get(hs..e).unwrap_or(&[]))
            .map(|p| hs + p)
            .ok_or(bad(hs, "unterminated IPv6 reference"))?;
        if !valid_ipv6(buf.get(hs + 1..close).unwrap_or(&[])) {
            return Err(bad(hs, "bad IPv6 reference"));
        }
        uri.host_kind = HostKind::Ipv6;
        close + 1
    } else {
        let mut j = hs;
        while j < e && is_host_char(at(buf, j), extra) {
            j += 1;
        }
        uri.host_kind = classify_host(buf.get(hs..j).unwrap_or(&[]));
        j
    };
    if he == hs {
        return Err(bad(hs, "empty host"));
    }
    uri.host = Span::new(hs, he);
    let mut i = he;
    if at(buf, i) == b':' && i < e {
        let ps = i + 1;
        let mut pe = ps;
        while pe < e && at(buf, pe).is_ascii_digit() {
            pe += 1;
        }
        if pe == ps || pe - ps > 5 {
            return Err(bad(ps, "bad port"));
        }
        let v = crate::lex::parse_u32(buf.get(ps..pe).unwrap_or(&[])).ok_or(bad(ps, "bad port"))?;
        uri.port = Some(u16::try_from(v).map_err(|_| bad(ps, "port out of range"))?);
        uri.port_span = Some(Span::new(ps, pe));
        i = pe;
    }
    if i < e && at(buf, i) == b';' {
        let pe = memchr::memchr(b'?', buf.get(i..e).unwrap_or(&[])).map_or(e, |p| i + p);
        uri.params = Span::new(i + 1, pe);
        uri.sip_params = uri.params;
        i = pe;
    }
    if i < e && at(buf, i) == b'?' {
        uri.headers = Some(Span::new(i + 1, e));
        i = e;
    }
    if i < e {
        return Err(bad(i, "unexpected character after host"));
    }
    for p in UriParamIter::new(buf, uri.params) {
        let n = p.name.of(buf);
        let slot = match n.len() {
            9 if n.eq_ignore_ascii_case(b"transport") => &mut uri.transport,
            3 if n.eq_ignore_ascii_case(b"ttl") => &mut uri.ttl,
            4 if n.eq_ignore_ascii_case(b"user") => &mut uri.user_param,
            6 if n.eq_ignore_ascii_case(b"method") => &mut uri.method,
            5 if n.eq_ignore_ascii_case(b"maddr") => &mut uri.maddr,
            2 if n.eq_ignore_ascii_case(b"lr") => &mut uri.lr,
            2 if n.eq_ignore_ascii_case(b"r2") => &mut uri.r2,
            2 if n.eq_ignore_ascii_case(b"gr") => &mut uri.gr,
            _ => continue,
        };
        if slot.is_none() {
            *slot = Some(p);
        }
    }
    if phone2tel {
        if let (Some(up), Some(user)) = (uri.user_param, uri.user) {
            // Kamailio compares the value case-sensitively with "phone".
            if up.value.map(|v| v.of(buf)) == Some(b"phone".as_slice()) {
                uri.scheme = if scheme == Scheme::Sips {
                    Scheme::Tels
                } else {
                    Scheme::Tel
                };
                uri.user_phone = true;
                match memchr::memchr(b';', user.of(buf)) {
                    Some(p) => {
                        let us = user.start as usize;
                        uri.params = Span::new(us + p + 1, user.end as usize);
                        uri.user = Some(Span::new(us, us + p));
                    }
                    None => uri.params = Span::empty(user.end as usize),
                }
            }
        }
    }
    Ok(uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(buf: &[u8], s: Option<Span>) -> Option<&str> {
        s.map(|x| std::str::from_utf8(x.of(buf)).unwrap_or("?"))
    }

    #[test]
    fn uri_table() {
        // uri, Some((scheme, user, host, host kind, port)) or None for error
        type Want = Option<(
            Scheme,
            Option<&'static str>,
            &'static str,
            HostKind,
            Option<u16>,
        )>;
        let table: &[(&str, Want)] = &[
            (
                "sip:alice@example.com",
                Some((
                    Scheme::Sip,
                    Some("alice"),
                    "example.com",
                    HostKind::Name,
                    None,
                )),
            ),
            (
                "SIPS:bob:secret@10.0.0.1:5061;transport=tcp",
                Some((
                    Scheme::Sips,
                    Some("bob"),
                    "10.0.0.1",
                    HostKind::Ipv4,
                    Some(5061),
                )),
            ),
            (
                "sip:[2001:db8::10]:5070",
                Some((
                    Scheme::Sip,
                    None,
                    "[2001:db8::10]",
                    HostKind::Ipv6,
                    Some(5070),
                )),
            ),
            (
                "sip:[2001:db8::10:5070]",
                Some((
                    Scheme::Sip,
                    None,
                    "[2001:db8::10:5070]",
                    HostKind::Ipv6,
                    None,
                )),
            ),
            (
                "sip:[2001:db8:::192.0.2.1]",
                Some((
                    Scheme::Sip,
                    None,
                    "[2001:db8:::192.0.2.1]",
                    HostKind::Ipv6,
                    None,
                )),
            ),
            (
                "sip:user;par=u%40example.net@example.com",
                Some((
                    Scheme::Sip,
                    Some("user;par=u%40example.net"),
                    "example.com",
                    HostKind::Name,
                    None,
                )),
            ),
            (
                "sip:user@example.com?Route=%3Csip:example.com%3E",
                Some((
                    Scheme::Sip,
                    Some("user"),
                    "example.com",
                    HostKind::Name,
                    None,
                )),
            ),
            (
                "tel:+1-201-555-0123;phone-context=x",
                Some((
                    Scheme::Tel,
                    Some("+1-201-555-0123"),
                    "",
                    HostKind::None,
                    None,
                )),
            ),
            (
                "sip:+1234;npdi@gw.example.com;user=phone",
                Some((
                    Scheme::Tel,
                    Some("+1234"),
                    "gw.example.com",
                    HostKind::Name,
                    None,
                )),
            ),
            ("sip:2001:db8::10", None),
            ("<sip:user@example.com>", None),
            ("nobodyKnowsThisScheme:totallyopaquecontent", None),
            ("sip:@example.com", None),
            ("sip:a@", None),
            ("sip:a@b:70000", None),
            ("sip:a@b:", None),
            ("sip:a@ho st", None),
            ("sip:a@host_x", None),
            ("sip:", None),
        ];
        for (u, want) in table {
            let b = u.as_bytes();
            let got = Uri::parse(b, Span::new(0, b.len())).ok().map(|x| {
                (
                    x.scheme,
                    st(b, x.user),
                    st(b, Some(x.host)).unwrap_or(""),
                    x.host_kind,
                    x.port,
                )
            });
            assert_eq!(got, *want, "{u:?}");
        }
    }

    #[test]
    fn double_quotes_outside_the_host() {
        // As Kamailio 5.6.3: taken in the user part, parameters and headers, refused in the host.
        for ok in [
            &b"sip:127.0.0.1;lr;received=\"sip:10.0.0.1:5060\""[..],
            b"sip:a\"b@127.0.0.1",
            b"sip:a@127.0.0.1?h=\"1\"",
        ] {
            let u = Uri::parse(ok, Span::new(0, ok.len()));
            assert!(u.is_ok(), "{:?}", String::from_utf8_lossy(ok));
        }
        let b = b"sip:127.0.0.1;lr;received=\"sip:10.0.0.1:5060\"";
        let u = Uri::parse(b, Span::new(0, b.len())).unwrap();
        let r = u.param(b, b"received").unwrap().value.unwrap();
        assert_eq!(r.of(b), b"\"sip:10.0.0.1:5060\"");
        let bad = b"sip:a@ex\"ample.com";
        assert!(Uri::parse(bad, Span::new(0, bad.len())).is_err());
    }

    #[test]
    fn host_extra_chars_and_params() {
        let b = b"sip:a@host_x;lr;transport=TCP;;foo=bar?h=v";
        let opts = ParseOptions {
            uri_host_extra_chars: ExtraChars::from_chars("_"),
            ..ParseOptions::default()
        };
        let u = Uri::parse_with(b, Span::new(0, b.len()), &opts).unwrap();
        assert_eq!(u.host.of(b), b"host_x");
        assert!(u.lr.is_some());
        assert_eq!(u.transport.unwrap().value.unwrap().of(b), b"TCP");
        assert_eq!(u.param(b, b"FOO").unwrap().value.unwrap().of(b), b"bar");
        assert_eq!(u.param_iter(b).count(), 3);
        assert_eq!(st(b, u.headers), Some("h=v"));
        let no_p2t = ParseOptions {
            phone2tel: false,
            ..ParseOptions::default()
        };
        let b = b"sip:+1234@gw;user=phone";
        assert_eq!(
            Uri::parse_with(b, Span::new(0, b.len()), &no_p2t)
                .unwrap()
                .scheme,
            Scheme::Sip
        );
    }

    #[test]
    fn unescaping() {
        let table: &[(&str, &[u8])] = &[
            ("sips%3Auser%40example.com", b"sips:user@example.com"),
            ("value%41", b"valueA"),
            ("%2541", b"%41"),
            ("a%00b", b"a\0b"),
            ("bad%zz", b"bad%zz"),
        ];
        for (s, want) in table {
            assert_eq!(&*unescape(s.as_bytes()), *want, "{s}");
        }
    }
}
