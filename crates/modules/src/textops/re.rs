//! Regular expressions as textops compiles them, and sed-style substitutions (`/re/repl/flags`,
//! Kamailio's `subst_parser` / `subst_run`).
//!
//! textops compiles with `REG_EXTENDED | REG_ICASE | REG_NEWLINE`: case-insensitive, `^`/`$` at line
//! boundaries, `.` not matching a newline. Substitutions default to `REG_EXTENDED | REG_NEWLINE`,
//! flag `i` adds `REG_ICASE`, `s` drops `REG_NEWLINE`, `g` replaces every match. The translation to
//! the `regex` crate is `ferrosip_api::posix`, with the line flags given inline.
//! Patterns are adjusted before translation ([`prepare_posix`]): under `REG_NEWLINE` a negated
//! bracket (`[^a]`) does not match a newline.

use ferrosip_api::export::Arg;
use ferrosip_api::posix;

/// A compiled regular expression (kept in an [`Arg::Regex`], the api's regex type).
#[derive(Clone, Debug)]
pub struct Re(Arg);

impl Re {
    /// Compiles `p` with textops' flags: `icase`, `newline` = `REG_NEWLINE`.
    pub fn compile(p: &str, icase: bool, newline: bool) -> Result<Re, String> {
        let inline = if newline { "(?m-s)" } else { "(?s-m)" };
        let p = prepare_posix(p, newline);
        posix::compile(&format!("{inline}{p}"), icase)
            .map(|r| Re(Arg::Regex(r)))
            .map_err(|e| e.replace(inline, ""))
    }

    /// textops' usual flags (`REG_EXTENDED | REG_ICASE | REG_NEWLINE`).
    pub fn textops(p: &str) -> Result<Re, String> {
        Re::compile(p, true, true)
    }

    /// The compiled form as a function argument (shared: a cloned `regex` value would start with an
    /// empty matching cache on every call).
    pub fn into_arg(self) -> Arg {
        Arg::Custom(std::sync::Arc::new(self))
    }

    /// The regex inside an argument made by [`Re::into_arg`].
    pub fn from_arg(a: &Arg) -> Option<&Re> {
        match a {
            Arg::Custom(c) => c.downcast_ref::<Re>(),
            _ => None,
        }
    }

    /// First match at or after `start` (`^` only matches at 0 or after a newline).
    pub fn find_at(&self, hay: &[u8], start: usize) -> Option<(usize, usize)> {
        match &self.0 {
            Arg::Regex(r) => r.find_at(hay, start).map(|m| (m.start(), m.end())),
            _ => None,
        }
    }

    /// True when `hay` matches somewhere.
    pub fn is_match(&self, hay: &[u8]) -> bool {
        self.find_at(hay, 0).is_some()
    }

    /// Group positions of the first match at or after `start` (index 0 = whole match).
    pub fn captures_at(&self, hay: &[u8], start: usize) -> Option<Vec<Option<(usize, usize)>>> {
        match &self.0 {
            Arg::Regex(r) => r.captures_at(hay, start).map(|c| {
                (0..c.len())
                    .map(|i| c.get(i).map(|m| (m.start(), m.end())))
                    .collect()
            }),
            _ => None,
        }
    }
}

/// Prepares a POSIX pattern for `ferrosip_api::posix`:
/// - with `REG_NEWLINE` (`newline`), a non-matching list never matches a newline: a literal newline
///   is added to every negated bracket (`[^;]` becomes `[^;<LF>]`);
///
/// POSIX brackets have no escapes, `]` right after `[` or `[^` is a member, and `[:class:]`,
/// `[=x=]`, `[.x.]` are kept whole.
pub fn prepare_posix(p: &str, newline: bool) -> String {
    let c: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 4);
    let mut i = 0;
    while let Some(&ch) = c.get(i) {
        if ch == '\\' {
            out.push(ch);
            if let Some(&n) = c.get(i + 1) {
                out.push(n);
            }
            i += 2;
            continue;
        }
        if ch != '[' {
            out.push(ch);
            i += 1;
            continue;
        }
        match bracket(&c, i) {
            Some((neg, members, end)) => {
                out.push_str(&rewrite(neg, &members, newline));
                i = end + 1;
            }
            None => {
                // unterminated: leave it to the compiler to report
                out.extend(c.get(i..).unwrap_or_default());
                i = c.len();
            }
        }
    }
    out
}

/// One member of a bracket expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Member {
    Char(char),
    /// `a-z`
    Range(char, char),
    /// `[:alpha:]`, `[=x=]`, `[.x.]` as written
    Class(String),
}

/// Parses the bracket expression starting at `c[i] == '['`: (negated, members, index of `]`).
fn bracket(c: &[char], i: usize) -> Option<(bool, Vec<Member>, usize)> {
    let mut k = i + 1;
    let neg = c.get(k) == Some(&'^');
    if neg {
        k += 1;
    }
    let mut members = Vec::new();
    let mut first = true;
    loop {
        let x = *c.get(k)?;
        if x == ']' && !first {
            return Some((neg, members, k));
        }
        first = false;
        if x == '[' && matches!(c.get(k + 1), Some(':' | '=' | '.')) {
            let delim = *c.get(k + 1)?;
            let mut m = k + 2;
            while !(c.get(m) == Some(&delim) && c.get(m + 1) == Some(&']')) {
                c.get(m)?;
                m += 1;
            }
            members.push(Member::Class(c.get(k..m + 2)?.iter().collect()));
            k = m + 2;
            continue;
        }
        if c.get(k + 1) == Some(&'-') && c.get(k + 2).is_some_and(|y| *y != ']') {
            members.push(Member::Range(x, *c.get(k + 2)?));
            k += 3;
            continue;
        }
        members.push(Member::Char(x));
        k += 1;
    }
}

fn render(neg: bool, members: &[Member], extra: &str) -> String {
    // a `^` that would come first in a matching list would negate it: keep it off the front
    let caret = Member::Char('^');
    if !neg && members.contains(&caret) {
        let others: Vec<Member> = members.iter().filter(|m| **m != caret).cloned().collect();
        let leading =
            others.iter().any(|m| *m != Member::Char('-')) || others.contains(&Member::Char(']'));
        if leading {
            let mut body = render(false, &others, extra);
            body.pop(); // `]`
            let dash = body.ends_with('-') && others.contains(&Member::Char('-'));
            if dash {
                body.pop();
                body.push_str("^-]");
            } else {
                body.push_str("^]");
            }
            return body;
        }
        // only `^` (and maybe `-`): `-` first is a plain member in POSIX
        return if others.is_empty() && extra.is_empty() {
            "\\^".to_string()
        } else {
            format!("[-{extra}^]")
        };
    }
    let mut s = String::from("[");
    if neg {
        s.push('^');
    }
    // a `]` member must come first and a `-` member last to stay plain members
    let close = members.iter().filter(|m| **m == Member::Char(']'));
    let dash = members.contains(&Member::Char('-'));
    let rest = members
        .iter()
        .filter(|m| **m != Member::Char(']') && **m != Member::Char('-'));
    for m in close.chain(rest) {
        match m {
            Member::Char(ch) => s.push(*ch),
            Member::Range(a, b) => {
                s.push(*a);
                s.push('-');
                s.push(*b);
            }
            Member::Class(t) => s.push_str(t),
        }
    }
    s.push_str(extra);
    if dash {
        s.push('-');
    }
    s.push(']');
    s
}

fn rewrite(neg: bool, members: &[Member], newline: bool) -> String {
    // `<`/`>` members need no special handling any more: `ferrosip_api::posix` leaves them
    // unescaped inside brackets.
    let nl = if neg && newline { "\n" } else { "" };
    render(neg, members, nl)
}

/// The bytes regexec sees: C strings end at the first NUL.
pub fn c_str(b: &[u8]) -> &[u8] {
    match b.iter().position(|&c| c == 0) {
        Some(i) => b.get(..i).unwrap_or(b),
        None => b,
    }
}

/// One part of a replacement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Piece {
    /// Literal bytes.
    Lit(Vec<u8>),
    /// `\0`..`\9`.
    Group(usize),
    /// `\u`: the Request-URI.
    Ruri,
}

/// A parsed `/re/repl/flags` expression.
#[derive(Clone, Debug)]
pub struct Subst {
    /// The expression.
    pub re: Re,
    /// The replacement.
    pub repl: Vec<Piece>,
    /// Flag `g`.
    pub global: bool,
}

/// One replacement found by [`Subst::run`]: byte range in the input and the new bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Replacement {
    /// Start in the input.
    pub start: usize,
    /// End in the input.
    pub end: usize,
    /// What replaces it.
    pub text: Vec<u8>,
}

impl Subst {
    /// Parses `<sep>re<sep>repl<sep>flags` (the first character is the separator; a backslash is
    /// refused as separator, as Kamailio does). Variables in the replacement are refused (the
    /// module API gives fixups no registry to resolve them).
    pub fn parse(s: &str) -> Result<Subst, String> {
        let b = s.as_bytes();
        let bad = || format!("bad subst expression `{s}`");
        if b.len() < 3 {
            return Err(bad());
        }
        let sep = *b.first().ok_or_else(bad)?;
        if sep == b'\\' {
            return Err(format!("invalid separator char `\\` in `{s}`"));
        }
        // the regex ends at the first separator not preceded by a backslash
        let mut i = 1;
        while i < b.len() && !(b[i] == sep && b[i - 1] != b'\\') {
            i += 1;
        }
        if i >= b.len() {
            return Err(bad());
        }
        let re_text = s.get(1..i).ok_or_else(bad)?;
        // replacement up to the next unescaped separator
        let mut repl = Vec::new();
        let mut lit = Vec::new();
        let mut j = i + 1;
        let mut closed = false;
        while j < b.len() {
            let c = b[j];
            if c == b'\\' {
                let n = *b.get(j + 1).ok_or_else(bad)?;
                match n {
                    b'\\' => lit.push(b'\\'),
                    b'n' => lit.push(b'\n'),
                    b'r' => lit.push(b'\r'),
                    b't' => lit.push(b'\t'),
                    b'$' => lit.push(b'$'),
                    b'u' | b'0'..=b'9' => {
                        if !lit.is_empty() {
                            repl.push(Piece::Lit(std::mem::take(&mut lit)));
                        }
                        repl.push(if n == b'u' {
                            Piece::Ruri
                        } else {
                            Piece::Group(usize::from(n - b'0'))
                        });
                    }
                    other => lit.push(other),
                }
                j += 2;
                continue;
            }
            if c == sep {
                closed = true;
                break;
            }
            if c == b'$' {
                return Err(format!(
                    "variables in the replacement of `{s}` are not supported yet (escape `$` as `\\$`)"
                ));
            }
            lit.push(c);
            j += 1;
        }
        if !closed {
            return Err(bad());
        }
        if !lit.is_empty() {
            repl.push(Piece::Lit(lit));
        }
        let (mut icase, mut newline, mut global) = (false, true, false);
        for f in b.get(j + 1..).unwrap_or_default() {
            match f {
                b'i' => icase = true,
                b's' => newline = false,
                b'g' => global = true,
                _ => return Err(format!("unknown flag `{}` in `{s}`", char::from(*f))),
            }
        }
        let re = Re::compile(re_text, icase, newline)?;
        Ok(Subst { re, repl, global })
    }

    /// The replacements for `input` (all matches with `g`, else the first); `ruri` fills `\u`.
    /// Empty matches are skipped one byte further so the scan always ends.
    pub fn run(&self, input: &[u8], ruri: &[u8]) -> Vec<Replacement> {
        let input = c_str(input);
        let mut out = Vec::new();
        let mut pos = 0;
        while pos <= input.len() {
            let Some(caps) = self.re.captures_at(input, pos) else {
                break;
            };
            let Some(Some((s, e))) = caps.first().copied() else {
                break;
            };
            let mut text = Vec::new();
            for p in &self.repl {
                match p {
                    Piece::Lit(l) => text.extend_from_slice(l),
                    Piece::Ruri => text.extend_from_slice(ruri),
                    Piece::Group(g) => {
                        if let Some(Some((gs, ge))) = caps.get(*g) {
                            text.extend_from_slice(input.get(*gs..*ge).unwrap_or_default());
                        }
                    }
                }
            }
            out.push(Replacement {
                start: s,
                end: e,
                text,
            });
            if !self.global {
                break;
            }
            pos = if e > s { e } else { e + 1 };
        }
        out
    }

    /// The input with the replacements applied (Kamailio's `subst_str`), or `None` when nothing
    /// matched.
    pub fn apply(&self, input: &[u8], ruri: &[u8]) -> Option<Vec<u8>> {
        let reps = self.run(input, ruri);
        if reps.is_empty() {
            return None;
        }
        let input = c_str(input);
        let mut out = Vec::with_capacity(input.len());
        let mut last = 0;
        for r in &reps {
            out.extend_from_slice(input.get(last..r.start).unwrap_or_default());
            out.extend_from_slice(&r.text);
            last = r.end;
        }
        out.extend_from_slice(input.get(last..).unwrap_or_default());
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (pattern, subject, match)
    type AngleCase = (&'static str, &'static str, Option<(usize, usize)>);

    #[test]
    fn subst_table() {
        // (expression, input, output or None when nothing matched)
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("/a/b/", "xaya", Some("xbya")),
            ("/a/b/g", "xaya", Some("xbyb")),
            ("/A/b/", "xaya", None),
            ("/A/b/i", "xaya", Some("xbya")),
            (
                "/^sip:([0-9]+)@(.*)$/sip:+49\\1@\\2/",
                "sip:123@h",
                Some("sip:+49123@h"),
            ),
            ("|x|\\|y|", "axb", Some("a|yb")),
            ("/b\\/c/d/", "ab/c", Some("ad")),
            ("/a/[\\0]/g", "aa", Some("[a][a]")),
            ("/x*/-/g", "ab", Some("-a-b-")),
            ("/^/>/g", "l1\nl2", Some(">l1\n>l2")),
            ("/./!/s", "\n", Some("!")),
            ("/./!/", "\n", None),
        ];
        for (e, input, want) in cases {
            let s = Subst::parse(e).unwrap_or_else(|m| panic!("{e}: {m}"));
            let got = s.apply(input.as_bytes(), b"sip:u@h");
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{e} on {input:?}");
        }
        for bad in ["/a/b", "ab", "\\a\\b\\", "/a/b/x", "/a/$rU/", "/(/x/"] {
            assert!(Subst::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn textops_flags() {
        let re = Re::textops("^via:").unwrap_or_else(|e| panic!("{e}"));
        assert!(re.is_match(b"INVITE x\r\nVia: a"));
        assert!(!re.is_match(b"INVITE x Via: a"));
        let neg = Re::textops("^subject:[^;]*").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(neg.find_at(b"Subject: a\r\nX: b;c", 0), Some((0, 11)));
        let cases = [
            ("[^;]", "[^;\n]"),
            ("[^]a]", "[^]a\n]"),
            ("[^[:space:]]x", "[^[:space:]\n]x"),
            ("\\[^a]", "\\[^a]"),
            ("[a^]", "[a^]"),
            ("[^a", "[^a"),
            ("[^>]", "[^>\n]"),
            ("[a>]", "[a>]"),
            ("[<>]", "[<>]"),
            ("[^a-]", "[^a\n-]"),
            ("[-a]", "[a-]"),
            ("[-^]", "[-^]"),
            ("[a^]", "[a^]"),
            ("[]^]", "[]^]"),
        ];
        for (p, want) in cases {
            assert_eq!(prepare_posix(p, true), want, "{p}");
        }
        // (pattern, subject, match)
        let angles: &[AngleCase] = &[
            ("<([^>]*)>", "To: <sip:a@b>;tag=1", Some((4, 13))),
            ("[^>;]+", ">;ab;", Some((2, 4))),
            ("[^<]+", "<<=?", Some((2, 4))),
            ("x[>;]", "ax>", Some((1, 3))),
        ];
        for (p, subj, want) in angles {
            let re = Re::textops(p).unwrap_or_else(|e| panic!("{p}: {e}"));
            assert_eq!(re.find_at(subj.as_bytes(), 0), *want, "{p} on {subj}");
        }
        let dot = Re::textops("a.b").unwrap_or_else(|e| panic!("{e}"));
        assert!(!dot.is_match(b"a\nb"));
        assert_eq!(c_str(b"ab\0cd"), b"ab");
    }

    #[test]
    fn bracket_rewriting_never_panics() {
        // every pattern of up to 4 characters over the characters the rewriting cares about:
        // compiling may fail (bad pattern), but it never panics, and a compiled one runs
        let alphabet = ['[', ']', '^', '-', '<', '>', ';', 'a', '\\', ':'];
        let mut n = 0;
        let mut stack = vec![String::new()];
        while let Some(p) = stack.pop() {
            for nl in [true, false] {
                if let Ok(re) = Re::compile(&p, true, nl) {
                    let _ = re.find_at(b"a<b>;c\n[d]", 0);
                    n += 1;
                }
            }
            if p.chars().count() < 4 {
                for c in alphabet {
                    stack.push(format!("{p}{c}"));
                }
            }
        }
        assert!(n > 1000, "{n}");
    }
}
