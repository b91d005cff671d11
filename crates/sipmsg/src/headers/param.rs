//! Generic header parameters: `*( LWS ";" LWS name [ LWS "=" LWS value ] )`.

use crate::lex::{at, is_token, scan_while, skip_lws, skip_quoted};
use crate::span::Span;

/// One parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    /// From the `;` before the name to the end of the value (or name): removing this span
    /// removes the parameter.
    pub span: Span,
    /// The name.
    pub name: Span,
    /// The value as written (quotes included for a quoted string); `None` for a bare name.
    pub value: Option<Span>,
}

impl Param {
    /// The value with surrounding double quotes removed (escapes are left as written).
    pub fn unquoted(&self, buf: &[u8]) -> Option<Span> {
        let v = self.value?;
        let b = v.of(buf);
        if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
            Some(Span::new(v.start as usize + 1, v.end as usize - 1))
        } else {
            Some(v)
        }
    }
}

/// A validated run of parameters; iterate with [`Params::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Params {
    /// From the first `;` to the end of the last parameter (empty when there is none).
    pub span: Span,
}

impl Params {
    /// The parameters in order.
    pub fn iter<'a>(&self, buf: &'a [u8]) -> ParamIter<'a> {
        ParamIter {
            buf,
            pos: self.span.start as usize,
            end: self.span.end as usize,
        }
    }

    /// The first parameter named `name` (ASCII case-insensitive).
    pub fn get(&self, buf: &[u8], name: &[u8]) -> Option<Param> {
        self.iter(buf).find(|p| p.name.eq_ignore_case(buf, name))
    }

    /// True when there is no parameter.
    pub fn is_empty(&self) -> bool {
        self.span.is_empty()
    }
}

/// Iterator over [`Params`].
pub struct ParamIter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl Iterator for ParamIter<'_> {
    type Item = Param;
    fn next(&mut self) -> Option<Param> {
        if self.pos >= self.end {
            return None;
        }
        match parse_one(self.buf, self.pos, self.end, true) {
            Ok(Some((p, next))) => {
                self.pos = next;
                Some(p)
            }
            _ => {
                self.pos = self.end;
                None
            }
        }
    }
}

/// Whether `b` may appear in an unquoted parameter value. Wider than `token`: Via
/// `received` carries IPv6 addresses (`2001:db8::9`, `[2001:db8::9]`, RFC 5118 §4.5) and
/// other params carry host:port.
#[inline]
fn is_value_char(b: u8) -> bool {
    VALUE[usize::from(b)]
}

/// Lookup table for [`is_value_char`] (runs for every byte of every parameter value).
static VALUE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.'
                    | b'!'
                    | b'%'
                    | b'*'
                    | b'_'
                    | b'+'
                    | b'`'
                    | b'\''
                    | b'~'
                    | b':'
                    | b'['
                    | b']'
                    | b'/'
                    | b'@'
                    | b'?'
                    | b'&'
                    | b'$'
            )
            || b >= 0x80;
        i += 1;
    }
    t
};

/// Parses one `;name[=value]` starting at `i` (LWS before `;` allowed). Returns `None`
/// when the next non-LWS byte is not `;`.
fn parse_one(
    buf: &[u8],
    i: usize,
    end: usize,
    empty_ok: bool,
) -> Result<Option<(Param, usize)>, (&'static str, usize)> {
    let semi = skip_lws(buf, i, end);
    if semi >= end || at(buf, semi) != b';' {
        return Ok(None);
    }
    let ns = skip_lws(buf, semi + 1, end);
    let ne = scan_while(buf, ns, end, is_token);
    if ne == ns {
        return Err(("empty parameter name", ns));
    }
    let name = Span::new(ns, ne);
    let after = skip_lws(buf, ne, end);
    if after < end && at(buf, after) == b'=' {
        let vs = skip_lws(buf, after + 1, end);
        let ve = if at(buf, vs) == b'"' && vs < end {
            skip_quoted(buf, vs, end).ok_or(("unterminated quoted string", vs))?
        } else {
            scan_while(buf, vs, end, is_value_char)
        };
        if ve == vs && !empty_ok {
            return Err(("empty parameter value", vs));
        }
        Ok(Some((
            Param {
                span: Span::new(semi, ve.max(after + 1)),
                name,
                value: Some(Span::new(vs.min(ve), ve)),
            },
            ve,
        )))
    } else {
        Ok(Some((
            Param {
                span: Span::new(semi, ne),
                name,
                value: None,
            },
            ne,
        )))
    }
}

/// Parses and validates the parameters starting at `i`; returns them and the index of
/// the first byte after the last one (LWS after it is not consumed). `name=` with an empty
/// value is an error (Kamailio's Via parser refuses it).
pub(crate) fn parse_params(
    buf: &[u8],
    i: usize,
    end: usize,
) -> Result<(Params, usize), (&'static str, usize)> {
    parse_params_ext(buf, i, end, false)
}

/// Like [`parse_params`]; `empty_ok` accepts `name=` with an empty value (Kamailio's
/// To/From parser does).
pub(crate) fn parse_params_ext(
    buf: &[u8],
    i: usize,
    end: usize,
    empty_ok: bool,
) -> Result<(Params, usize), (&'static str, usize)> {
    parse_params_each(buf, i, end, empty_ok, |_| {})
}

/// Like [`parse_params_ext`], handing every parameter to `each` as it is parsed (so
/// callers pick out the ones they know without a second pass).
pub(crate) fn parse_params_each(
    buf: &[u8],
    i: usize,
    end: usize,
    empty_ok: bool,
    mut each: impl FnMut(Param),
) -> Result<(Params, usize), (&'static str, usize)> {
    let mut pos = i;
    let mut first: Option<usize> = None;
    while let Some((p, next)) = parse_one(buf, pos, end, empty_ok)? {
        first.get_or_insert(p.span.start as usize);
        each(p);
        pos = next;
    }
    let start = first.unwrap_or(i);
    Ok((
        Params {
            span: Span::new(start, pos.max(start)),
        },
        pos,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_table() {
        // input, expected (name, value) list or error
        type Want = std::result::Result<Vec<(&'static str, Option<&'static str>)>, ()>;
        let table: Vec<(&str, Want)> = vec![
            (";a=1;b", Ok(vec![("a", Some("1")), ("b", None)])),
            (
                " ; a = 1 ;\r\n b=\"x;y\"",
                Ok(vec![("a", Some("1")), ("b", Some("\"x;y\""))]),
            ),
            (
                ";received=[2001:db8::9:255]",
                Ok(vec![("received", Some("[2001:db8::9:255]"))]),
            ),
            (
                ";received=2001:db8::9:255",
                Ok(vec![("received", Some("2001:db8::9:255"))]),
            ),
            (";;a", Err(())),
            (";a=", Err(())),
            (";a=\"open", Err(())),
            ("", Ok(vec![])),
        ];
        for (input, want) in table {
            let buf = input.as_bytes();
            let got = parse_params(buf, 0, buf.len())
                .map_err(|_| ())
                .map(|(ps, _)| {
                    ps.iter(buf)
                        .map(|p| {
                            (
                                std::str::from_utf8(p.name.of(buf))
                                    .unwrap_or("?")
                                    .to_string(),
                                p.value.map(|v| {
                                    std::str::from_utf8(v.of(buf)).unwrap_or("?").to_string()
                                }),
                            )
                        })
                        .collect::<Vec<_>>()
                });
            let want = want.map(|v| {
                v.into_iter()
                    .map(|(n, v)| (n.to_string(), v.map(str::to_string)))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "{input:?}");
        }
    }
}
