//! name-addr / addr-spec with header parameters: From, To, Contact, Route,
//! Record-Route, Path, P-Asserted-Identity, P-Preferred-Identity, Diversion, Refer-To…

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::headers::param::{parse_params_each, Params};
use crate::lex::{at, find2, skip_lws, skip_quoted, trim_end};
use crate::span::Span;

/// One `[display-name] <uri> *(;param)` or `addr-spec *(;param)` element.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NameAddr {
    /// The whole element.
    pub span: Span,
    /// The display name as written (quotes included), if any.
    pub display: Option<Span>,
    /// The URI, without `<>` (and without blanks inside them).
    pub uri: Span,
    /// Whether the URI was enclosed in `<>`.
    pub bracketed: bool,
    /// The header parameters after the URI.
    pub params: Params,
    /// The `tag` parameter value (From/To).
    pub tag: Option<Span>,
}

impl NameAddr {
    /// The display name without quotes (escapes left as written).
    pub fn display_unquoted(&self, buf: &[u8]) -> Option<Span> {
        let d = self.display?;
        let b = d.of(buf);
        if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
            Some(Span::new(d.start as usize + 1, d.end as usize - 1))
        } else {
            Some(d)
        }
    }
}

/// Parses a value that holds exactly one element (From, To, Refer-To…).
pub fn parse_single(buf: &[u8], value: Span, kind: HeaderKind) -> Result<NameAddr> {
    let (na, next) = parse_at(buf, value.start as usize, value.end as usize, kind, false)?;
    if skip_lws(buf, next, value.end as usize) < value.end as usize {
        return Err(bad(kind, next, "junk after name-addr"));
    }
    Ok(na)
}

/// Parses a comma-separated list of elements (Contact, Route, Record-Route, Path,
/// P-Asserted-Identity…) and appends them to `out`.
pub fn parse_list(
    buf: &[u8],
    value: Span,
    kind: HeaderKind,
    out: &mut Vec<NameAddr>,
) -> Result<()> {
    let end = value.end as usize;
    let mut i = value.start as usize;
    loop {
        let (na, next) = parse_at(buf, i, end, kind, true)?;
        out.push(na);
        let j = skip_lws(buf, next, end);
        if j >= end {
            return Ok(());
        }
        if at(buf, j) != b',' {
            return Err(bad(kind, j, "junk after name-addr"));
        }
        i = skip_lws(buf, j + 1, end);
        if i >= end {
            return Err(bad(kind, i, "empty element after comma"));
        }
    }
}

fn bad(kind: HeaderKind, at: usize, reason: &'static str) -> Error {
    Error::BadHeader { kind, at, reason }
}

/// Parses one element at `start`; `in_list` stops an addr-spec or an unquoted display
/// name at a comma.
pub(crate) fn parse_at(
    buf: &[u8],
    start: usize,
    end: usize,
    kind: HeaderKind,
    in_list: bool,
) -> Result<(NameAddr, usize)> {
    let i = skip_lws(buf, start, end);
    if i >= end {
        return Err(bad(kind, i, "empty value"));
    }
    let mut display = None;
    let lt: Option<usize>;
    if at(buf, i) == b'"' {
        let q_end = skip_quoted(buf, i, end).ok_or(bad(kind, i, "unterminated quoted string"))?;
        display = Some(Span::new(i, q_end));
        let j = skip_lws(buf, q_end, end);
        if at(buf, j) != b'<' || j >= end {
            return Err(bad(kind, j, "quoted display name not followed by <"));
        }
        lt = Some(j);
    } else if at(buf, i) == b'<' {
        lt = Some(i);
    } else {
        // Either `display-name <uri>` with an unquoted display name or an addr-spec.
        // Look for `<` before the end of this element. Kamailio accepts non-token
        // characters (commas) in an unquoted display name of From/To (RFC 4475 baddn).
        let mut j = i;
        let mut found = None;
        while j < end {
            match at(buf, j) {
                b'<' => {
                    found = Some(j);
                    break;
                }
                b',' if in_list => break,
                b';' | b'"' | b'>' => break,
                _ => j += 1,
            }
        }
        lt = found;
        if let Some(l) = found {
            let d_end = trim_end(buf, i, l);
            if d_end > i {
                // Kamailio's to-body parser refuses an unquoted display name that starts
                // with NUL or a backslash (PROTOS sip-from-displayname) and takes any
                // other byte up to `<`.
                if matches!(at(buf, i), 0 | b'\\') {
                    return Err(bad(kind, i, "bad character in display name"));
                }
                display = Some(Span::new(i, d_end));
            }
        }
    }
    let (uri, bracketed, after) = match lt {
        Some(l) => {
            // One search for the closing `>` that also notices a `<` before it (which the
            // trimmed URI would then contain).
            let (gt, lt_inside) = match find2(buf, l + 1, end, b'<', b'>') {
                Some(p) if at(buf, p) == b'>' => (p, false),
                Some(p) => {
                    let gt = memchr::memchr(b'>', buf.get(p..end).unwrap_or(&[]))
                        .map(|q| p + q)
                        .ok_or(bad(kind, l, "missing >"))?;
                    (gt, true)
                }
                None => return Err(bad(kind, l, "missing >")),
            };
            // Kamailio tolerates blanks inside <> (RFC 4475 badaspec); the URI is trimmed.
            let us = skip_lws(buf, l + 1, gt);
            let ue = trim_end(buf, us, gt);
            if lt_inside {
                return Err(bad(kind, us, "< inside <>"));
            }
            (Span::new(us, ue), true, gt + 1)
        }
        None => {
            // addr-spec: the URI ends at `;` (header params), blanks, or `,` in a list.
            let mut j = i;
            while j < end
                && !matches!(at(buf, j), b';' | b' ' | b'\t' | b'\r' | b'\n')
                && !(in_list && at(buf, j) == b',')
            {
                j += 1;
            }
            (Span::new(i, j), false, j)
        }
    };
    if uri.is_empty() {
        return Err(bad(kind, uri.start as usize, "empty URI"));
    }
    if !bracketed
        && at(buf, uri.start as usize) == b'*'
        && uri.len() == 1
        && kind != HeaderKind::Contact
    {
        return Err(bad(kind, uri.start as usize, "* outside Contact"));
    }
    // Kamailio's to-body parser accepts `;tag` and `;name=` without a value.
    let mut tag = None;
    let (params, pend) = parse_params_each(buf, after, end, true, |p| {
        if tag.is_none() && p.name.eq_ignore_case(buf, b"tag") {
            tag = Some(p.value);
        }
    })
    .map_err(|(r, a)| bad(kind, a, r))?;
    let tag = tag.flatten();
    let span_end = if params.is_empty() { after } else { pend };
    Ok((
        NameAddr {
            span: Span::new(i, span_end),
            display,
            uri,
            bracketed,
            params,
            tag,
        },
        pend,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(buf: &[u8], sp: Option<Span>) -> Option<String> {
        sp.map(|x| String::from_utf8_lossy(x.of(buf)).into_owned())
    }

    #[test]
    fn single_table() {
        // value, Some((display, uri, tag)) or None for error
        type Want = Option<(Option<&'static str>, &'static str, Option<&'static str>)>;
        let table: &[(&str, Want)] = &[
            ("<sip:a@b>;tag=1", Some((None, "sip:a@b", Some("1")))),
            (
                "\"A \\\"q\\\" B\" <sip:a@b>",
                Some((Some("\"A \\\"q\\\" B\""), "sip:a@b", None)),
            ),
            (
                "caller<sip:a@b>;tag=x",
                Some((Some("caller"), "sip:a@b", Some("x"))),
            ),
            ("sip:a@b;tag=z", Some((None, "sip:a@b", Some("z")))),
            (
                "Bell, Alexander <sip:a@b>;tag=43",
                Some((Some("Bell, Alexander"), "sip:a@b", Some("43"))),
            ),
            (
                "\"Watson, Thomas\" < sip:t@b >",
                Some((Some("\"Watson, Thomas\""), "sip:t@b", None)),
            ),
            ("\"Mr. J. User <sip:j@b>", None),
            ("<sip:a@b", None),
            ("<sip:a@b>;tag", Some((None, "sip:a@b", None))),
            ("<sip:a@b>;;", None),
            ("<sip:a@b> junk", None),
            ("", None),
            ("<>", None),
        ];
        for (v, want) in table {
            let buf = v.as_bytes();
            let got = parse_single(buf, Span::new(0, buf.len()), HeaderKind::To)
                .ok()
                .map(|na| {
                    (
                        s(buf, na.display),
                        s(buf, Some(na.uri)).unwrap_or_default(),
                        s(buf, na.tag),
                    )
                });
            let want =
                want.map(|(d, u, t)| (d.map(str::to_string), u.to_string(), t.map(str::to_string)));
            assert_eq!(got, want, "{v:?}");
        }
    }

    #[test]
    fn list_table() {
        let table: &[(&str, Option<&[&str]>)] = &[
            (
                "<sip:a@b>, \"x, y\" <sip:c@d>;expires=5",
                Some(&["sip:a@b", "sip:c@d"]),
            ),
            ("sip:a@b;q=0.5,sip:c@d", Some(&["sip:a@b", "sip:c@d"])),
            ("*", Some(&["*"])),
            ("<sip:a@b>,", None),
            ("<sip:a@b>;;;", None),
        ];
        for (v, want) in table {
            let buf = v.as_bytes();
            let mut out = Vec::new();
            let got = parse_list(buf, Span::new(0, buf.len()), HeaderKind::Contact, &mut out)
                .ok()
                .map(|_| {
                    out.iter()
                        .map(|n| String::from_utf8_lossy(n.uri.of(buf)).into_owned())
                        .collect::<Vec<_>>()
                });
            let want = want.map(|w| w.iter().map(|x| x.to_string()).collect::<Vec<_>>());
            assert_eq!(got, want, "{v:?}");
        }
    }
}
