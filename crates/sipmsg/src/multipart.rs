//! multipart bodies (RFC 2046 §5.1): splits a body at its boundary into parts, each with
//! its own header section and body. Used to find an `application/sdp` part (Kamailio's
//! `get_body_part`) and by the body operations of textops.

use crate::error::{Error, Result};
use crate::span::Span;

/// One body part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Part {
    /// The part's header section (may be empty).
    pub headers: Span,
    /// Its `Content-Type` value, if it has one.
    pub content_type: Option<Span>,
    /// The part's body.
    pub body: Span,
}

fn bad(at: usize, reason: &'static str) -> Error {
    Error::BadBody { at, reason }
}

/// Splits `body` (a span of `buf`) at `boundary` (the value of the Content-Type
/// `boundary` parameter, without quotes).
pub fn parse(buf: &[u8], body: Span, boundary: &[u8]) -> Result<Vec<Part>> {
    if boundary.is_empty() || boundary.len() > 70 {
        return Err(bad(body.start as usize, "bad boundary"));
    }
    let (start, end) = (body.start as usize, body.end as usize);
    let data = buf.get(start..end).unwrap_or(&[]);
    // Delimiters: "--boundary" at the start of the body or after a line end.
    let mut delim = Vec::with_capacity(boundary.len() + 2);
    delim.extend_from_slice(b"--");
    delim.extend_from_slice(boundary);
    let finder = memchr::memmem::Finder::new(&delim);
    let mut positions = Vec::new();
    for p in finder.find_iter(data) {
        if p == 0 || data.get(p - 1) == Some(&b'\n') {
            positions.push(p);
        }
    }
    let Some(&first) = positions.first() else {
        return Err(bad(start, "no boundary in body"));
    };
    let _ = first;
    let mut parts = Vec::new();
    let mut closed = false;
    for w in 0..positions.len() {
        let p = positions[w];
        let after = p + delim.len();
        if data.get(after..after + 2) == Some(b"--") {
            closed = true;
            break;
        }
        // Skip transport padding and the line end after the delimiter.
        let Some(lf) = memchr::memchr(b'\n', data.get(after..).unwrap_or(&[])) else {
            return Err(bad(start + after, "no line end after boundary"));
        };
        let part_start = after + lf + 1;
        let Some(&next) = positions.get(w + 1) else {
            return Err(bad(start + part_start, "part not terminated by a boundary"));
        };
        // The line end before the next delimiter belongs to the delimiter.
        let mut part_end = next;
        if part_end > part_start && data.get(part_end - 1) == Some(&b'\n') {
            part_end -= 1;
            if part_end > part_start && data.get(part_end - 1) == Some(&b'\r') {
                part_end -= 1;
            }
        }
        parts.push(split_part(
            data,
            start,
            part_start,
            part_end.max(part_start),
        )?);
    }
    if !closed {
        return Err(bad(end, "no closing boundary"));
    }
    Ok(parts)
}

fn split_part(data: &[u8], base: usize, s: usize, e: usize) -> Result<Part> {
    let seg = data.get(s..e).unwrap_or(&[]);
    // Header section ends at the first empty line; a part may have no headers at all.
    let (hdr_end, body_start) = if seg.starts_with(b"\r\n") {
        (0, 2)
    } else if seg.starts_with(b"\n") {
        (0, 1)
    } else if let Some(p) = memchr::memmem::find(seg, b"\r\n\r\n") {
        (p + 2, p + 4)
    } else if let Some(p) = memchr::memmem::find(seg, b"\n\n") {
        (p + 1, p + 2)
    } else {
        return Err(bad(base + s, "part without header/body separator"));
    };
    let headers = &seg[..hdr_end];
    let mut content_type = None;
    let mut ls = 0;
    while ls < headers.len() {
        let le = memchr::memchr(b'\n', &headers[ls..]).map_or(headers.len(), |p| ls + p + 1);
        let line = &headers[ls..le];
        if let Some(c) = memchr::memchr(b':', line) {
            let name = line[..c].trim_ascii();
            if name.eq_ignore_ascii_case(b"content-type") || name.eq_ignore_ascii_case(b"c") {
                let v = &line[c + 1..];
                let lead = v.len() - v.trim_ascii_start().len();
                let trail = v.len() - v.trim_ascii_end().len();
                let vs = base + s + ls + c + 1 + lead;
                let ve = base + s + le - trail;
                content_type = Some(Span::new(vs, ve.max(vs)));
            }
        }
        ls = le;
    }
    Ok(Part {
        headers: Span::new(base + s, base + s + hdr_end),
        content_type,
        body: Span::new(base + s + body_start.min(seg.len()), base + e),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_table() {
        let ok = "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\r\n--b1--\r\n";
        let b = ok.as_bytes();
        let parts = parse(b, Span::new(0, b.len()), b"b1").unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].body.of(b), b"hello");
        assert_eq!(parts[0].content_type.unwrap().of(b), b"text/plain");
        assert_eq!(parts[1].body.of(b), b"v=0\r\n");
        let bad_cases: &[(&str, &[u8])] = &[
            ("no boundary here", b"b1"),
            ("--b1\r\n\r\nx\r\n", b"b1"),
            ("--b1\r\nContent-Type: a/b\r\n\r\nx\r\n--b1--", b""),
        ];
        for (body, bd) in bad_cases {
            let b = body.as_bytes();
            assert!(parse(b, Span::new(0, b.len()), bd).is_err(), "{body:?}");
        }
    }
}
