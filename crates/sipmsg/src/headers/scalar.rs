//! Single-value headers: CSeq, Call-ID, Max-Forwards, Content-Length, Expires and the
//! other plain numbers.

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::lex::{at, is_token, parse_u32, skip_lws};
use crate::msg::Method;
use crate::span::Span;

/// `CSeq: number method`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CSeq {
    /// The sequence number (RFC 3261: below 2^31, but any `u32` is accepted, as in
    /// Kamailio; larger values are an error, RFC 4475 scalar02).
    pub number: u32,
    /// The digits.
    pub number_span: Span,
    /// Recognised method.
    pub method: Method,
    /// The method token.
    pub method_span: Span,
}

/// `Content-Length` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ContentLength {
    /// The length.
    pub value: u32,
    /// The digits (what to replace when the body changes).
    pub span: Span,
}

fn bad(kind: HeaderKind, at: usize, reason: &'static str) -> Error {
    Error::BadHeader { kind, at, reason }
}

fn digits(buf: &[u8], value: Span, kind: HeaderKind) -> Result<(u32, Span)> {
    let s = value.start as usize;
    let e = value.end as usize;
    let mut j = s;
    while j < e && at(buf, j).is_ascii_digit() {
        j += 1;
    }
    if j == s {
        return Err(bad(kind, s, "not a number"));
    }
    if skip_lws(buf, j, e) != e {
        return Err(bad(kind, j, "junk after number"));
    }
    let n = parse_u32(buf.get(s..j).unwrap_or(&[])).ok_or(bad(kind, s, "number too large"))?;
    Ok((n, Span::new(s, j)))
}

/// The CSeq grammar Kamailio checks while indexing (`parse_cseq`): a number token, one
/// or more SP (not HT, not a fold: RFC 4475 wsinv is refused for that), a method token,
/// then only blanks. The number is not converted here (RFC 4475 scalar02 passes this
/// and fails [`parse_cseq`]).
pub fn parse_cseq_syntax(buf: &[u8], value: Span) -> Result<(Span, Span)> {
    let k = HeaderKind::CSeq;
    let (s, e) = (value.start as usize, value.end as usize);
    let mut j = s;
    while j < e && is_token(at(buf, j)) {
        j += 1;
    }
    if j == s || at(buf, j) != b' ' || j >= e {
        return Err(bad(k, j, "no method found"));
    }
    // After the first SP, Kamailio skips SP and HT (`1 \tX` passes, `1\tX` does not).
    let mut ms = j + 1;
    while ms < e && matches!(at(buf, ms), b' ' | b'\t') {
        ms += 1;
    }
    let mut me = ms;
    while me < e && !matches!(at(buf, me), b' ' | b'\t' | b'\r' | b'\n') {
        me += 1;
    }
    if me == ms {
        return Err(bad(k, ms, "no method found"));
    }
    if skip_lws(buf, me, e) != e {
        return Err(bad(k, me, "junk after method"));
    }
    Ok((Span::new(s, j), Span::new(ms, me)))
}

/// CSeq: [`parse_cseq_syntax`], then the number must be decimal and fit `u32`, and the
/// method a token.
pub fn parse_cseq(buf: &[u8], value: Span) -> Result<CSeq> {
    // The usual shape, `digits SP method`, in one pass; anything else (blanks, folds,
    // errors) takes the general path below, which accepts this shape with the same result.
    let v = value.of(buf);
    let s = value.start as usize;
    let mut n: u64 = 0;
    let mut j = 0;
    while let Some(&d) = v.get(j).filter(|d| d.is_ascii_digit() && j < 10) {
        n = n * 10 + u64::from(d - b'0');
        j += 1;
    }
    if j > 0 && v.get(j) == Some(&b' ') {
        let m = v.get(j + 1..).unwrap_or(&[]);
        if let (Ok(number), false, true) = (
            u32::try_from(n),
            m.is_empty(),
            m.iter().all(|&b| is_token(b)),
        ) {
            return Ok(CSeq {
                number,
                number_span: Span::new(s, s + j),
                method: Method::from_token(m),
                method_span: Span::new(s + j + 1, s + v.len()),
            });
        }
    }
    parse_cseq_general(buf, value)
}

/// [`parse_cseq`] for any value.
fn parse_cseq_general(buf: &[u8], value: Span) -> Result<CSeq> {
    let k = HeaderKind::CSeq;
    let (number_span, method_span) = parse_cseq_syntax(buf, value)?;
    let digits = number_span.of(buf);
    if !digits.iter().all(u8::is_ascii_digit) {
        return Err(bad(k, number_span.start as usize, "number is not decimal"));
    }
    let number = parse_u32(digits).ok_or(bad(k, number_span.start as usize, "number too large"))?;
    if !method_span.of(buf).iter().all(|&b| is_token(b)) {
        return Err(bad(k, method_span.start as usize, "method is not a token"));
    }
    Ok(CSeq {
        number,
        number_span,
        method: Method::from_token(method_span.of(buf)),
        method_span,
    })
}

/// Retry-After as Kamailio checks it while indexing: 1 to 10 digits, then a blank, `;`,
/// `(` or the end (the value wraps like Kamailio's `unsigned` for 10-digit input).
pub fn parse_retry_after(buf: &[u8], value: Span) -> Result<u32> {
    let (s, e) = (value.start as usize, value.end as usize);
    let mut j = s;
    let mut v: u32 = 0;
    while j < e && at(buf, j).is_ascii_digit() {
        v = v
            .wrapping_mul(10)
            .wrapping_add(u32::from(at(buf, j) - b'0'));
        j += 1;
    }
    let n = j - s;
    if n == 0
        || n > 10
        || (j < e && !matches!(at(buf, j), b' ' | b'\t' | b';' | b'(' | b'\r' | b'\n'))
    {
        return Err(bad(HeaderKind::RetryAfter, s, "bad Retry-After"));
    }
    Ok(v)
}

/// Call-ID: `word [ "@" word ]`; any non-blank value is accepted, as in Kamailio (RFC 4475
/// intmeth has `%"<>[]{}()` in it), but it must be one word.
pub fn parse_call_id(buf: &[u8], value: Span) -> Result<Span> {
    if value.is_empty() {
        return Err(bad(HeaderKind::CallId, value.start as usize, "empty"));
    }
    if let Some(p) = value.of(buf).iter().position(|&b| b <= b' ' || b == 0x7f) {
        return Err(bad(
            HeaderKind::CallId,
            value.start as usize + p,
            "blank or control character",
        ));
    }
    Ok(value)
}

/// Max-Forwards: a number. Values above 255 are returned as they are; the maxfwd logic
/// decides (Kamailio's `maxfwd` caps them).
pub fn parse_max_forwards(buf: &[u8], value: Span) -> Result<u32> {
    digits(buf, value, HeaderKind::MaxForwards).map(|(n, _)| n)
}

/// Content-Length: digits and blanks only; like Kamailio, values from 2147483640 up are
/// refused ("content length value is too large").
pub fn parse_content_length(buf: &[u8], value: Span) -> Result<ContentLength> {
    let (value, span) = digits(buf, value, HeaderKind::ContentLength)?;
    if value >= 2_147_483_640 {
        return Err(bad(
            HeaderKind::ContentLength,
            span.start as usize,
            "value too large",
        ));
    }
    Ok(ContentLength { value, span })
}

/// Expires, Min-Expires, Session-Expires' delta, Retry-After's delta: a number of
/// seconds (`u32`; RFC 4475 scalar02's 2^32+ values fail).
pub fn parse_delta(buf: &[u8], value: Span, kind: HeaderKind) -> Result<u32> {
    // Retry-After and Session-Expires may carry a comment / parameters after the number.
    let s = value.start as usize;
    let e = value.end as usize;
    let mut j = s;
    while j < e && at(buf, j).is_ascii_digit() {
        j += 1;
    }
    let tail = skip_lws(buf, j, e);
    if tail != e
        && !matches!(
            kind,
            HeaderKind::RetryAfter | HeaderKind::SessionExpires | HeaderKind::MinSE
        )
    {
        return Err(bad(kind, j, "junk after number"));
    }
    if tail != e && !matches!(at(buf, tail), b';' | b'(') {
        return Err(bad(kind, j, "junk after number"));
    }
    parse_u32(buf.get(s..j).unwrap_or(&[])).ok_or(bad(kind, s, "not a number or too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cseq_fast_path_agrees_with_the_general_parser() {
        let mut values: Vec<String> = vec![];
        for num in [
            "0",
            "1",
            "0009",
            "314159",
            "4294967295",
            "4294967296",
            "99999999999",
            "12a",
            "",
        ] {
            for sep in [" ", "  ", "\t", " \t", ""] {
                for m in ["INVITE", "invite", "X", "", "IN/VITE", "INVITE ", "A\r\n B"] {
                    values.push(format!("{num}{sep}{m}"));
                }
            }
        }
        for v in values {
            // Inside a buffer, as in a message: the value span does not start at 0.
            let buf = format!("CSeq: {v}\r\n").into_bytes();
            let span = Span::new(6, 6 + v.len());
            assert_eq!(
                parse_cseq(&buf, span),
                parse_cseq_general(&buf, span),
                "{v:?}"
            );
        }
    }

    #[test]
    fn cseq_table() {
        let table: &[(&str, Option<(u32, Method)>)] = &[
            ("1 INVITE", Some((1, Method::Invite))),
            ("0009 \r\n REGISTER", None),
            ("0009  REGISTER ", Some((9, Method::Register))),
            ("1\tINVITE", None),
            ("1a INVITE", None),
            ("4294967295 ACK", Some((u32::MAX, Method::Ack))),
            ("36893488147419103232 INVITE", None),
            ("1INVITE", None),
            ("1", None),
            ("x INVITE", None),
            ("1 INVITE x", None),
            ("5 NEWMETHOD", Some((5, Method::Other))),
        ];
        for (v, want) in table {
            let b = v.as_bytes();
            let got = parse_cseq(b, Span::new(0, b.len()))
                .ok()
                .map(|c| (c.number, c.method));
            assert_eq!(got, *want, "{v:?}");
        }
    }

    #[test]
    fn numbers_table() {
        let table: &[(&str, Option<u32>)] = &[
            ("0", Some(0)),
            ("0068", Some(68)),
            ("-999", None),
            ("five", None),
            ("12 3", None),
            ("", None),
            ("99999999999", None),
            ("2147483639", Some(2147483639)),
        ];
        for (v, want) in table {
            let b = v.as_bytes();
            let sp = Span::new(0, b.len());
            assert_eq!(
                parse_content_length(b, sp).ok().map(|c| c.value),
                *want,
                "{v:?}"
            );
            if v.len() < 10 {
                assert_eq!(parse_max_forwards(b, sp).ok(), *want, "{v:?}");
            }
        }
        let b = b"120 (I'm in a meeting);duration=60";
        assert_eq!(
            parse_delta(b, Span::new(0, b.len()), HeaderKind::RetryAfter).ok(),
            Some(120)
        );
        assert_eq!(
            parse_delta(b, Span::new(0, b.len()), HeaderKind::Expires).ok(),
            None
        );
        for (v, ok) in [
            ("5 (x) ;duration=3", true),
            ("abc", false),
            ("4294967296", true),
            ("12345678901", false),
            ("", false),
        ] {
            let b = v.as_bytes();
            assert_eq!(
                parse_retry_after(b, Span::new(0, b.len())).is_ok(),
                ok,
                "{v}"
            );
        }
        let b = b"1a INVITE";
        assert!(parse_cseq_syntax(b, Span::new(0, b.len())).is_ok());
        let c = b"abc@host";
        assert!(parse_call_id(c, Span::new(0, c.len())).is_ok());
        let c = b"abc def";
        assert!(parse_call_id(c, Span::new(0, c.len())).is_err());
    }
}
