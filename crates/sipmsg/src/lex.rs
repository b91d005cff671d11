//! Small lexical helpers shared by the parsers (RFC 3261 §25.1 character classes).

use crate::span::Span;

/// SP or HT.
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// RFC 3261 `token` characters.
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    TOKEN[usize::from(b)]
}

/// Lookup table for [`is_token`] (the parsers call it for most bytes they look at).
static TOKEN: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~'
            );
        i += 1;
    }
    t
};

/// Index of the first byte in `from..end` for which `f` is false (`end` if none); the
/// slice iterator makes this a tight loop without per-byte bounds checks.
#[inline]
pub(crate) fn scan_while(buf: &[u8], from: usize, end: usize, f: impl Fn(u8) -> bool) -> usize {
    let end = end.min(buf.len());
    match buf.get(from..end) {
        Some(s) => s.iter().position(|&b| !f(b)).map_or(end, |p| from + p),
        None => from,
    }
}

/// Index of the first byte in `from..end` equal to `a` or `b`. Eight bytes at a time in a
/// register: the values this searches (URIs, header lines) are short, so the call and
/// setup of a vector search would cost more than the search.
#[inline]
pub(crate) fn find2(buf: &[u8], from: usize, end: usize, a: u8, b: u8) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    // Flags the bytes of `x` that are zero; the lowest flag is exact (a borrow can only
    // flag bytes above a real zero byte), which is all the search needs.
    #[inline]
    fn zeros(x: u64) -> u64 {
        x.wrapping_sub(LO) & !x & HI
    }
    let end = end.min(buf.len());
    let (sa, sb) = (LO * u64::from(a), LO * u64::from(b));
    let mut i = from;
    while let Some(w) = buf.get(i..i + 8).filter(|_| i + 8 <= end) {
        let mut word = [0u8; 8];
        word.copy_from_slice(w);
        let w = u64::from_le_bytes(word);
        let z = zeros(w ^ sa) | zeros(w ^ sb);
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    buf.get(i..end)?
        .iter()
        .position(|&c| c == a || c == b)
        .map(|p| i + p)
}

/// Byte at `i`, or 0 past the end (0 is never a valid delimiter, so callers can match on it).
#[inline]
pub(crate) fn at(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

/// Skips linear white space (SP, HT, and CRLF/LF folds followed by SP/HT) from `i`,
/// not past `end`.
#[inline]
pub(crate) fn skip_lws(buf: &[u8], mut i: usize, end: usize) -> usize {
    while i < end {
        match at(buf, i) {
            b' ' | b'\t' => i += 1,
            b'\r' if at(buf, i + 1) == b'\n' && is_ws(at(buf, i + 2)) && i + 2 < end => i += 3,
            b'\n' if is_ws(at(buf, i + 1)) && i + 1 < end => i += 2,
            _ => break,
        }
    }
    i
}

/// Trims LWS (including CR/LF) from the end of `start..end`.
#[inline]
pub(crate) fn trim_end(buf: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && matches!(at(buf, end - 1), b' ' | b'\t' | b'\r' | b'\n') {
        end -= 1;
    }
    end
}

/// Trims LWS on both sides of a span.
#[inline]
pub(crate) fn trim(buf: &[u8], s: Span) -> Span {
    let start = skip_lws(buf, s.start as usize, s.end as usize);
    let end = trim_end(buf, start, s.end as usize);
    Span::new(start, end)
}

/// Skips a quoted string starting at the `"` at `i`; returns the index after the closing
/// quote, or `None` if it is not closed before `end`. Handles `\` quoted-pairs.
pub(crate) fn skip_quoted(buf: &[u8], mut i: usize, end: usize) -> Option<usize> {
    i += 1;
    while i < end {
        match at(buf, i) {
            b'"' => return Some(i + 1),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    None
}

/// Parses an unsigned decimal number that must fit in `u32`. Leading zeros are allowed
/// (RFC 4475 wsinv has `0009`).
pub(crate) fn parse_u32(digits: &[u8]) -> Option<u32> {
    if digits.is_empty() {
        return None;
    }
    let mut v: u32 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
    }
    Some(v)
}

/// Splits `s` at top-level commas (outside quoted strings and `<...>`), trimming LWS
/// around each element. Empty elements are yielded as empty spans so callers can reject
/// them.
pub(crate) struct CommaIter<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
    done: bool,
}

impl<'a> CommaIter<'a> {
    pub(crate) fn new(buf: &'a [u8], s: Span) -> Self {
        CommaIter {
            buf,
            pos: s.start as usize,
            end: s.end as usize,
            done: s.is_empty(),
        }
    }
}

impl Iterator for CommaIter<'_> {
    type Item = Span;
    fn next(&mut self) -> Option<Span> {
        if self.done {
            return None;
        }
        let start = self.pos;
        let mut i = start;
        let mut angle = false;
        while i < self.end {
            match at(self.buf, i) {
                b'"' => match skip_quoted(self.buf, i, self.end) {
                    Some(j) => {
                        i = j;
                        continue;
                    }
                    None => {
                        i = self.end;
                        break;
                    }
                },
                b'<' => angle = true,
                b'>' => angle = false,
                b',' if !angle => break,
                _ => {}
            }
            i += 1;
        }
        let item = trim(self.buf, Span::new(start, i.min(self.end)));
        if i >= self.end {
            self.done = true;
        } else {
            self.pos = i + 1;
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comma_split() {
        let table: &[(&str, &[&str])] = &[
            ("a, b,c", &["a", "b", "c"]),
            (
                "\"x, y\" <sip:a>, <sip:b,c>",
                &["\"x, y\" <sip:a>", "<sip:b,c>"],
            ),
            ("a,,b", &["a", "", "b"]),
            ("one", &["one"]),
            ("a ,\r\n b", &["a", "b"]),
        ];
        for (input, want) in table {
            let buf = input.as_bytes();
            let got: Vec<&str> = CommaIter::new(buf, Span::new(0, buf.len()))
                .map(|s| std::str::from_utf8(s.of(buf)).unwrap_or("?"))
                .collect();
            assert_eq!(&got, want, "{input}");
        }
    }

    #[test]
    fn find2_agrees_with_a_byte_search() {
        let fill = [b'a', b'=', b'?', 0x3d ^ 0x80, b'<' ^ 1, 0xff, 0];
        for len in 0..40usize {
            for hit in (0..=len).step_by(3) {
                let mut buf: Vec<u8> = (0..len).map(|k| fill[k % fill.len()]).collect();
                if hit < len {
                    buf[hit] = if hit % 2 == 0 { b'<' } else { b'>' };
                }
                if hit + 5 < len {
                    buf[hit + 5] = b'>';
                }
                for from in 0..=len + 1 {
                    for end in [0, from, from + 3, len, len + 2] {
                        let want = buf
                            .get(from..end.min(len))
                            .and_then(|r| r.iter().position(|&c| c == b'<' || c == b'>'))
                            .map(|p| from + p);
                        assert_eq!(
                            find2(&buf, from, end, b'<', b'>'),
                            want,
                            "{buf:?} {from} {end}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn numbers() {
        let table: &[(&str, Option<u32>)] = &[
            ("0", Some(0)),
            ("0009", Some(9)),
            ("4294967295", Some(u32::MAX)),
            ("4294967296", None),
            ("", None),
            ("-1", None),
            ("12a", None),
        ];
        for (s, want) in table {
            assert_eq!(parse_u32(s.as_bytes()), *want, "{s}");
        }
    }
}
