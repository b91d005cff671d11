//! POSIX extended regular expressions (what Kamailio's `regcomp(REG_EXTENDED)` accepts) compiled
//! with the `regex` crate through a translation layer.
//!
//! Differences handled (the rest of ERE is a subset of the `regex` syntax):
//! - Bracket expressions have no escapes in POSIX (`[\]` is a backslash), `]` first is literal, and
//!   `[`, `&&`, `--`, `~~` are plain characters; every member is re-escaped for `regex`.
//!   `[:class:]` is kept; `[=x=]` and `[.x.]` become the literal character. `<` and `>` stay
//!   unescaped inside brackets (the `regex` crate refuses `\<`/`\>` there: `[^>]` must compile).
//! - Outside brackets, glibc's GNU escapes `\w \W \s \S \b \B \< \>` keep their meaning; any other
//!   escaped character is the literal character (so `\d` matches `d`, as with glibc).
//! - A `{` that does not start a valid interval is a literal brace.
//! - `.` matches any byte including newline (no `REG_NEWLINE`); matching is on bytes, Unicode off.
//!
//! Matching is leftmost-first instead of POSIX leftmost-longest; Kamailio compiles these with
//! `REG_NOSUB` (match/no-match only), where the two agree.

use regex::bytes::{Regex, RegexBuilder};

/// Compiles a POSIX ERE; `icase` = `REG_ICASE`.
pub fn compile(pattern: &str, icase: bool) -> Result<Regex, String> {
    let translated = translate(pattern)?;
    RegexBuilder::new(&translated)
        .unicode(false)
        .dot_matches_new_line(true)
        .case_insensitive(icase)
        .size_limit(1 << 20)
        .build()
        .map_err(|e| format!("bad regular expression `{pattern}`: {e}"))
}

/// The `regex`-crate spelling of a POSIX ERE.
pub fn translate(p: &str) -> Result<String, String> {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    while let Some(&ch) = c.get(i) {
        match ch {
            '\\' => {
                let Some(&n) = c.get(i + 1) else {
                    return Err(format!("trailing backslash in `{p}`"));
                };
                match n {
                    'w' | 'W' | 's' | 'S' | 'b' | 'B' => {
                        out.push('\\');
                        out.push(n);
                    }
                    '<' => out.push_str(r"\b{start}"),
                    '>' => out.push_str(r"\b{end}"),
                    _ => push_literal(&mut out, n),
                }
                i += 2;
            }
            '[' => {
                i = bracket(&c, i + 1, &mut out)
                    .ok_or_else(|| format!("unbalanced `[` in `{p}`"))?;
            }
            '{' => {
                let mut j = i + 1;
                while c.get(j).is_some_and(|x| x.is_ascii_digit() || *x == ',') {
                    j += 1;
                }
                let body: String = c.get(i + 1..j).unwrap_or_default().iter().collect();
                let valid = c.get(j) == Some(&'}')
                    && !body.is_empty()
                    && body.chars().next().is_some_and(|x| x.is_ascii_digit())
                    && body.matches(',').count() <= 1;
                if valid {
                    out.push('{');
                    out.push_str(&body);
                    out.push('}');
                    i = j + 1;
                } else {
                    out.push_str("\\{");
                    i += 1;
                }
            }
            '}' => {
                out.push_str("\\}");
                i += 1;
            }
            _ => {
                out.push(ch);
                i += 1;
            }
        }
    }
    Ok(out)
}

fn push_literal(out: &mut String, ch: char) {
    if ch.is_ascii_punctuation() || ch == ' ' {
        out.push('\\');
    }
    out.push(ch);
}

/// Translates a bracket expression starting after `[`; returns the index after its `]`.
fn bracket(c: &[char], mut i: usize, out: &mut String) -> Option<usize> {
    out.push('[');
    if c.get(i) == Some(&'^') {
        out.push('^');
        i += 1;
    }
    let mut first = true;
    loop {
        let ch = *c.get(i)?;
        if ch == ']' && !first {
            out.push(']');
            return Some(i + 1);
        }
        first = false;
        if ch == '[' {
            match c.get(i + 1) {
                Some(':') => {
                    let end = find_close(c, i + 2, ':')?;
                    let name: String = c.get(i + 2..end)?.iter().collect();
                    out.push_str("[:");
                    out.push_str(&name);
                    out.push_str(":]");
                    i = end + 2;
                    continue;
                }
                Some('=') | Some('.') => {
                    let delim = *c.get(i + 1)?;
                    let end = find_close(c, i + 2, delim)?;
                    for x in c.get(i + 2..end)? {
                        push_class_literal(out, *x);
                    }
                    i = end + 2;
                    continue;
                }
                _ => {}
            }
        }
        // A range `a-z` keeps its dash; a dash first or last is literal.
        if ch == '-' && c.get(i + 1) != Some(&']') && out.ends_with(|x: char| x != '[' && x != '^')
        {
            out.push('-');
        } else {
            push_class_literal(out, ch);
        }
        i += 1;
    }
}

fn find_close(c: &[char], from: usize, delim: char) -> Option<usize> {
    (from..c.len().saturating_sub(1))
        .find(|&k| c.get(k) == Some(&delim) && c.get(k + 1) == Some(&']'))
}

fn push_class_literal(out: &mut String, ch: char) {
    // `regex` accepts any escaped ASCII punctuation except `<` and `>` (it reserves `\<`/`\>`
    // for word boundaries and rejects them, also inside classes), and both are plain there.
    if ch.is_ascii_punctuation() && ch != '<' && ch != '>' {
        out.push('\\');
    }
    out.push(ch);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn posix_semantics() {
        // (pattern, icase, subject, matches)
        let cases: &[(&str, bool, &str, bool)] = &[
            ("^sip:", false, "sip:alice@x", true),
            ("^SIP:", true, "sip:alice@x", true),
            ("^SIP:", false, "sip:alice@x", false),
            ("[[:digit:]]{3}", false, "ab123", true),
            ("[[:digit:]]{3}", false, "ab12", false),
            ("\\d", false, "d", true),
            ("\\d", false, "5", false),
            ("[\\]", false, "\\", true),
            ("[]a]", false, "]", true),
            ("[a-c]x", false, "bx", true),
            ("[a-]", false, "-", true),
            ("a{x", false, "a{x", true),
            ("a{2}", false, "aa", true),
            ("[&&]", false, "&", true),
            ("a.b", false, "a\nb", true),
            ("^\\+49.*", false, "+4912", true),
            ("\\.", false, "a", false),
            ("x|y$", false, "ay", true),
            ("\\<ab", false, "x ab", true),
            ("[[=a=]]", false, "a", true),
            // `<`/`>` inside brackets, as members and as range ends (common in real configs)
            ("<([^>]*)>", false, "To: <sip:a@b>", true),
            ("^[^>]*$", false, "a>b", false),
            ("[<>]", false, "x>", true),
            ("[<>]", false, "x=", false),
            ("[;->]", false, "=", true),
            ("[^<-?]", false, ">", false),
            ("[[=>=]]", false, ">", true),
        ];
        for (p, icase, s, want) in cases {
            let re = compile(p, *icase).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(
                re.is_match(s.as_bytes()),
                *want,
                "{p} on {s:?} ({})",
                translate(p).unwrap()
            );
        }
        for bad in ["[abc", "a\\", "(ab"] {
            assert!(compile(bad, false).is_err(), "{bad}");
        }
    }
}
