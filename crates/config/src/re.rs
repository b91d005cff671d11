//! A small backtracking regular-expression engine for `#!subst` / `--subst` (POSIX extended syntax:
//! literals, `.`, bracket expressions with ranges and `[:class:]`, `^`, `$`, groups, `|`, `*`, `+`,
//! `?`, `{m,n}`). The front end has no dependencies beyond `thiserror`, and a subst pattern is a short
//! literal-heavy expression, so a simple engine is enough. It returns the leftmost match, trying
//! alternatives in order and quantifiers greedily (not POSIX leftmost-longest; documented in
//! docs/config-frontend.md). Matching is bounded by a step budget so a hostile pattern cannot hang the
//! loader.

#[derive(Debug, Clone)]
enum Node {
    Char(char),
    Any,
    Class(Vec<(char, char)>, bool),
    Start,
    End,
    Group(Vec<Vec<Node>>, usize),
    Repeat(Box<Node>, usize, usize),
}

#[derive(Debug, Clone)]
pub(crate) struct Regex {
    alts: Vec<Vec<Node>>,
    groups: usize,
    icase: bool,
}

type Caps = Vec<Option<(usize, usize)>>;

struct Parser<'a> {
    c: &'a [char],
    i: usize,
    groups: usize,
    depth: usize,
}

impl Parser<'_> {
    fn alts(&mut self) -> Result<Vec<Vec<Node>>, String> {
        // Groups nest by recursion: bound it so a hostile pattern cannot exhaust the stack.
        if self.depth >= 100 {
            return Err("regular expression nested too deeply".into());
        }
        self.depth += 1;
        let r = self.alts_inner();
        self.depth -= 1;
        r
    }

    fn alts_inner(&mut self) -> Result<Vec<Vec<Node>>, String> {
        let mut alts = vec![self.seq()?];
        while self.c.get(self.i) == Some(&'|') {
            self.i += 1;
            alts.push(self.seq()?);
        }
        Ok(alts)
    }

    fn seq(&mut self) -> Result<Vec<Node>, String> {
        let mut seq = Vec::new();
        while let Some(&ch) = self.c.get(self.i) {
            if ch == '|' || ch == ')' {
                break;
            }
            self.i += 1;
            let atom = match ch {
                '.' => Node::Any,
                '^' => Node::Start,
                '$' => Node::End,
                '(' => {
                    self.groups += 1;
                    let g = self.groups;
                    let a = self.alts()?;
                    if self.c.get(self.i) != Some(&')') {
                        return Err("missing `)` in regular expression".into());
                    }
                    self.i += 1;
                    Node::Group(a, g)
                }
                '[' => self.class()?,
                '\\' => {
                    let e = *self
                        .c
                        .get(self.i)
                        .ok_or("trailing `\\` in regular expression")?;
                    self.i += 1;
                    match e {
                        'n' => Node::Char('\n'),
                        't' => Node::Char('\t'),
                        _ => Node::Char(e),
                    }
                }
                '*' | '+' | '?' => return Err(format!("nothing to repeat before `{ch}`")),
                _ => Node::Char(ch),
            };
            let atom = self.quant(atom)?;
            seq.push(atom);
        }
        Ok(seq)
    }

    fn quant(&mut self, mut atom: Node) -> Result<Node, String> {
        loop {
            let (min, max) = match self.c.get(self.i) {
                Some('*') => (0, usize::MAX),
                Some('+') => (1, usize::MAX),
                Some('?') => (0, 1),
                Some('{') => {
                    let start = self.i;
                    let close = self.c[start..]
                        .iter()
                        .position(|&x| x == '}')
                        .ok_or("missing `}` in regular expression")?;
                    let inner: String = self.c[start + 1..start + close].iter().collect();
                    let (a, b) = match inner.split_once(',') {
                        Some((a, "")) => (a.trim().parse().ok(), Some(usize::MAX)),
                        Some((a, b)) => (a.trim().parse().ok(), b.trim().parse().ok()),
                        None => (inner.trim().parse().ok(), inner.trim().parse().ok()),
                    };
                    match (a, b) {
                        (Some(a), Some(b)) if a <= b => {
                            self.i = start + close;
                            (a, b)
                        }
                        _ => return Err(format!("bad repetition `{{{inner}}}`")),
                    }
                }
                _ => return Ok(atom),
            };
            self.i += 1;
            atom = Node::Repeat(Box::new(atom), min, max);
        }
    }

    fn class(&mut self) -> Result<Node, String> {
        let mut neg = false;
        if self.c.get(self.i) == Some(&'^') {
            neg = true;
            self.i += 1;
        }
        let mut ranges = Vec::new();
        let mut first = true;
        loop {
            let ch = *self
                .c
                .get(self.i)
                .ok_or("missing `]` in regular expression")?;
            if ch == ']' && !first {
                self.i += 1;
                break;
            }
            first = false;
            if ch == '[' && self.c.get(self.i + 1) == Some(&':') {
                let rest: String = self.c[self.i..].iter().collect();
                if let Some(end) = rest.find(":]") {
                    let name = &rest[2..end];
                    let r: &[(char, char)] = match name {
                        "digit" => &[('0', '9')],
                        "alpha" => &[('a', 'z'), ('A', 'Z')],
                        "alnum" => &[('a', 'z'), ('A', 'Z'), ('0', '9')],
                        "upper" => &[('A', 'Z')],
                        "lower" => &[('a', 'z')],
                        "space" => &[(' ', ' '), ('\t', '\r')],
                        "xdigit" => &[('0', '9'), ('a', 'f'), ('A', 'F')],
                        "punct" => &[('!', '/'), (':', '@'), ('[', '`'), ('{', '~')],
                        _ => return Err(format!("unknown character class `{name}`")),
                    };
                    ranges.extend_from_slice(r);
                    self.i += rest[..end + 2].chars().count();
                    continue;
                }
            }
            self.i += 1;
            if self.c.get(self.i) == Some(&'-') && self.c.get(self.i + 1).is_some_and(|&x| x != ']')
            {
                let hi = self.c[self.i + 1];
                self.i += 2;
                ranges.push((ch, hi));
            } else {
                ranges.push((ch, ch));
            }
        }
        Ok(Node::Class(ranges, neg))
    }
}

struct Matcher<'a> {
    t: &'a [char],
    icase: bool,
    budget: usize,
    /// Recursion depth; each matched repetition nests, so long texts are bounded here.
    depth: usize,
}

/// Deepest recursion of the matcher (a match needing more is treated as no match).
const MAX_MATCH_DEPTH: usize = 1000;

impl Matcher<'_> {
    fn one(&self, n: &Node, pos: usize) -> bool {
        let Some(&c) = self.t.get(pos) else {
            return false;
        };
        let eq = |a: char, b: char| {
            if self.icase {
                a.to_lowercase().eq(b.to_lowercase())
            } else {
                a == b
            }
        };
        match n {
            Node::Char(x) => eq(*x, c),
            Node::Any => c != '\n',
            Node::Class(r, neg) => {
                let hit = r.iter().any(|&(lo, hi)| {
                    (lo..=hi).contains(&c)
                        || (self.icase
                            && ((lo..=hi).contains(&c.to_ascii_lowercase())
                                || (lo..=hi).contains(&c.to_ascii_uppercase())))
                });
                hit != *neg
            }
            _ => false,
        }
    }

    fn m(
        &mut self,
        seq: &[Node],
        pos: usize,
        caps: &mut Caps,
        k: &mut dyn FnMut(&mut Self, usize, &mut Caps) -> bool,
    ) -> bool {
        if self.budget == 0 || self.depth >= MAX_MATCH_DEPTH {
            return false;
        }
        self.budget -= 1;
        self.depth += 1;
        let r = self.m_inner(seq, pos, caps, k);
        self.depth -= 1;
        r
    }

    fn m_inner(
        &mut self,
        seq: &[Node],
        pos: usize,
        caps: &mut Caps,
        k: &mut dyn FnMut(&mut Self, usize, &mut Caps) -> bool,
    ) -> bool {
        let Some((first, rest)) = seq.split_first() else {
            return k(self, pos, caps);
        };
        match first {
            Node::Start => pos == 0 && self.m(rest, pos, caps, k),
            Node::End => pos == self.t.len() && self.m(rest, pos, caps, k),
            Node::Group(alts, g) => {
                let g = *g;
                for alt in alts {
                    let ok = self.m(alt, pos, caps, &mut |me: &mut Self, p, caps: &mut Caps| {
                        let old = caps.get(g).copied().flatten();
                        if let Some(slot) = caps.get_mut(g) {
                            *slot = Some((pos, p));
                        }
                        if me.m(rest, p, caps, k) {
                            return true;
                        }
                        if let Some(slot) = caps.get_mut(g) {
                            *slot = old;
                        }
                        false
                    });
                    if ok {
                        return true;
                    }
                }
                false
            }
            Node::Repeat(node, min, max)
                if matches!(**node, Node::Char(_) | Node::Any | Node::Class(..)) =>
            {
                // One character per iteration: count greedily, then back off without recursion
                // per character (long texts must not deepen the stack).
                let mut n = 0;
                while n < *max && self.one(node, pos + n) {
                    n += 1;
                }
                if n < *min {
                    return false;
                }
                (*min..=n).rev().any(|cnt| self.m(rest, pos + cnt, caps, k))
            }
            Node::Repeat(node, min, max) => self.rep(node, *min, *max, 0, rest, pos, caps, k),
            n => self.one(n, pos) && self.m(rest, pos + 1, caps, k),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn rep(
        &mut self,
        node: &Node,
        min: usize,
        max: usize,
        count: usize,
        rest: &[Node],
        pos: usize,
        caps: &mut Caps,
        k: &mut dyn FnMut(&mut Self, usize, &mut Caps) -> bool,
    ) -> bool {
        if count < max {
            let one = std::slice::from_ref(node);
            let ok = self.m(one, pos, caps, &mut |me: &mut Self, p, caps: &mut Caps| {
                // An empty iteration cannot make progress: stop repeating.
                if p == pos {
                    return false;
                }
                me.rep(node, min, max, count + 1, rest, p, caps, k)
            });
            if ok {
                return true;
            }
        }
        count >= min && self.m(rest, pos, caps, k)
    }
}

impl Regex {
    pub fn new(pattern: &str, icase: bool) -> Result<Regex, String> {
        let c: Vec<char> = pattern.chars().collect();
        let mut p = Parser {
            c: &c,
            i: 0,
            groups: 0,
            depth: 0,
        };
        let alts = p.alts()?;
        if p.i < c.len() {
            return Err("unbalanced `)` in regular expression".into());
        }
        Ok(Regex {
            alts,
            groups: p.groups,
            icase,
        })
    }

    /// Leftmost match at or after `start` (char index): group 0 is the whole match.
    fn find_at(&self, t: &[char], start: usize, budget: &mut usize) -> Option<Caps> {
        let whole = Node::Group(self.alts.clone(), 0);
        for s in start..=t.len() {
            if *budget == 0 {
                return None;
            }
            let mut m = Matcher {
                t,
                icase: self.icase,
                budget: *budget,
                depth: 0,
            };
            let mut caps: Caps = vec![None; self.groups + 1];
            let mut found: Option<Caps> = None;
            m.m(
                std::slice::from_ref(&whole),
                s,
                &mut caps,
                &mut |_, _, c: &mut Caps| {
                    found = Some(c.clone());
                    true
                },
            );
            *budget = m.budget;
            if found.is_some() {
                return found;
            }
        }
        None
    }

    /// Replaces the first (or every, with `global`) match; `\0`..`\9` in `repl` insert groups.
    /// Returns `None` when nothing matched.
    pub fn replace(&self, text: &str, repl: &str, global: bool) -> Option<String> {
        let t: Vec<char> = text.chars().collect();
        let mut out = String::new();
        let mut last = 0;
        let mut any = false;
        let mut start = 0;
        // One step budget for the whole replacement, so a hostile pattern on a long string ends.
        let mut budget = 1_000_000usize;
        while start <= t.len() {
            let Some(caps) = self.find_at(&t, start, &mut budget) else {
                break;
            };
            let Some((ms, me)) = caps.first().copied().flatten() else {
                break;
            };
            any = true;
            out.extend(&t[last..ms]);
            let mut r = repl.chars().peekable();
            while let Some(c) = r.next() {
                if c == '\\' {
                    match r.next() {
                        Some(d) if d.is_ascii_digit() => {
                            let gi = d as usize - '0' as usize;
                            if let Some(Some((a, b))) = caps.get(gi) {
                                out.extend(&t[*a..*b]);
                            }
                        }
                        Some('n') => out.push('\n'),
                        Some(o) => out.push(o),
                        None => out.push('\\'),
                    }
                } else {
                    out.push(c);
                }
            }
            last = me;
            start = if me == ms { me + 1 } else { me };
            if !global {
                break;
            }
        }
        if !any {
            return None;
        }
        if last <= t.len() {
            out.extend(&t[last..]);
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_cases() {
        let cases = [
            ("foo", "bar", false, false, "a foo foo", Some("a bar foo")),
            ("foo", "bar", true, false, "a foo foo", Some("a bar bar")),
            ("^a(b+)c$", "[\\1]", false, false, "abbbc", Some("[bbb]")),
            ("x|y", "-", true, false, "axbyc", Some("a-b-c")),
            (
                "[[:digit:]]{2,3}",
                "N",
                true,
                false,
                "1 22 4444",
                Some("1 N N4"),
            ),
            ("[^a-c]+", "", true, false, "abxyc", Some("abc")),
            ("FOO", "x", false, true, "foo", Some("x")),
            ("q", "x", false, false, "abc", None),
            ("a.c", "\\0\\0", false, false, "abc", Some("abcabc")),
            (
                "(a|ab)(c|bcd)",
                "<\\1,\\2>",
                false,
                false,
                "abcd",
                Some("<a,bcd>"),
            ),
        ];
        for (re, repl, g, i, text, want) in cases {
            let r = Regex::new(re, i).unwrap_or_else(|e| panic!("{re}: {e}"));
            assert_eq!(r.replace(text, repl, g).as_deref(), want, "{re} on {text}");
        }
        for bad in ["(a", "a)", "[a", "*a", "a{3,1}", "[[:foo:]]"] {
            assert!(Regex::new(bad, false).is_err(), "{bad}");
        }
    }

    #[test]
    fn hostile_pattern_terminates() {
        let r = Regex::new("(a*)*b", false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(r.replace(&"a".repeat(40), "x", false), None);
    }
}
