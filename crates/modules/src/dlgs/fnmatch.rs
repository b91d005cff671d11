//! Shell wildcard matching as POSIX `fnmatch(pattern, string, 0)` does it in the C locale (what
//! the `fm` operator of dlgs uses): `*` any run of bytes, `?` one byte, `[...]` a bracket
//! expression (`!` or `^` negates, ranges, `[:class:]`), `\` quotes the next byte (a trailing one never matches). With no flags,
//! `/` and a leading `.` are ordinary bytes.

/// Whether `s` matches the wildcard `pat`.
pub fn fnmatch(pat: &[u8], s: &[u8]) -> bool {
    let (mut p, mut i) = (0usize, 0usize);
    // Where to resume after the last `*`: (pattern index after it, string index it covers up to).
    let mut star: Option<(usize, usize)> = None;
    loop {
        if let Some(&pc) = pat.get(p) {
            match pc {
                b'*' => {
                    // Consecutive stars are one star.
                    while pat.get(p) == Some(&b'*') {
                        p += 1;
                    }
                    star = Some((p, i));
                    continue;
                }
                b'?' if i < s.len() => {
                    p += 1;
                    i += 1;
                    continue;
                }
                b'[' if i < s.len() => {
                    if let Some((hit, next)) = bracket(pat, p, s[i]) {
                        if hit {
                            p = next;
                            i += 1;
                            continue;
                        }
                    } else if s[i] == b'[' {
                        // No closing `]`: the `[` is literal.
                        p += 1;
                        i += 1;
                        continue;
                    }
                }
                b'\\' => {
                    // A trailing backslash never matches (glibc: "trailing \\ loses").
                    let Some(&lit) = pat.get(p + 1) else {
                        return false;
                    };
                    if s.get(i) == Some(&lit) {
                        p += 2;
                        i += 1;
                        continue;
                    }
                }
                c if s.get(i) == Some(&c) => {
                    p += 1;
                    i += 1;
                    continue;
                }
                _ => {}
            }
        } else if i == s.len() {
            return true;
        }
        // Mismatch: let the last star eat one more byte, or fail.
        match star {
            Some((sp, si)) if si < s.len() => {
                star = Some((sp, si + 1));
                p = sp;
                i = si + 1;
            }
            _ => return false,
        }
    }
}

/// Matches byte `c` against the bracket expression at `pat[start] == b'['`: `Some((matched,
/// index after the closing bracket))`, `None` when there is no closing bracket.
fn bracket(pat: &[u8], start: usize, c: u8) -> Option<(bool, usize)> {
    let mut j = start + 1;
    let negate = matches!(pat.get(j), Some(b'!') | Some(b'^'));
    if negate {
        j += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let b = *pat.get(j)?;
        if b == b']' && !first {
            return Some((hit != negate, j + 1));
        }
        first = false;
        if b == b'[' && pat.get(j + 1) == Some(&b':') {
            if let Some(end) = find(pat, j + 2, b":]") {
                let name = &pat[j + 2..end];
                hit |= class(name, c);
                j = end + 2;
                continue;
            }
        }
        let (lo, after) = if b == b'\\' && j + 1 < pat.len() {
            (pat[j + 1], j + 2)
        } else {
            (b, j + 1)
        };
        // A range unless the `-` is last before `]`.
        if pat.get(after) == Some(&b'-') && pat.get(after + 1).is_some_and(|&x| x != b']') {
            let mut k = after + 1;
            let mut hi = *pat.get(k)?;
            if hi == b'\\' && k + 1 < pat.len() {
                k += 1;
                hi = pat[k];
            }
            hit |= lo <= c && c <= hi;
            j = k + 1;
        } else {
            hit |= lo == c;
            j = after;
        }
    }
}

fn find(hay: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

fn class(name: &[u8], c: u8) -> bool {
    match name {
        b"alpha" => c.is_ascii_alphabetic(),
        b"digit" => c.is_ascii_digit(),
        b"alnum" => c.is_ascii_alphanumeric(),
        b"upper" => c.is_ascii_uppercase(),
        b"lower" => c.is_ascii_lowercase(),
        b"space" => matches!(c, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c),
        b"blank" => matches!(c, b' ' | b'\t'),
        b"punct" => c.is_ascii_punctuation(),
        b"xdigit" => c.is_ascii_hexdigit(),
        b"cntrl" => c.is_ascii_control(),
        b"print" => (0x20..0x7f).contains(&c),
        b"graph" => c.is_ascii_graphic(),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::fnmatch;

    #[test]
    fn posix_fnmatch_cases() {
        // Expectations as glibc's fnmatch(pattern, string, 0) in the C locale.
        let cases: &[(&str, &str, bool)] = &[
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything/at.all", true),
            ("a*", "abc", true),
            ("a*c", "abbbc", true),
            ("a*c", "abbbd", false),
            ("*@example.com", "sip:alice@example.com", true),
            ("sip:*@*.com", "sip:alice@example.com", true),
            ("?", "a", true),
            ("?", "", false),
            ("a?c", "abc", true),
            ("[abc]x", "bx", true),
            ("[!abc]x", "bx", false),
            ("[^abc]x", "dx", true),
            ("[a-c]", "b", true),
            ("[a-c]", "d", false),
            ("[]]", "]", true),
            ("[!]]", "a", true),
            ("[a-]", "-", true),
            ("[[:digit:]]*", "5060", true),
            ("[[:alpha:]]", "5", false),
            ("[", "[", true),
            ("[ab", "[ab", true),
            ("\\*", "*", true),
            ("\\*", "a", false),
            ("a\\", "a\\", false),
            ("a\\b", "ab", true),
            ("*a*b*", "xxaxxbxx", true),
            ("*a*b*", "xxbxxaxx", false),
            ("**b", "aab", true),
            (".*", ".hidden", true),
            ("a/*", "a/b/c", true),
            ("A*", "abc", false),
        ];
        for (p, s, want) in cases {
            assert_eq!(fnmatch(p.as_bytes(), s.as_bytes()), *want, "{p:?} {s:?}");
        }
    }
}
