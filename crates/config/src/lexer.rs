//! The lexer: one file's (or one define value's) text → tokens and directive lines.
//!
//! Kamailio's lexer is context-sensitive (IP addresses, `udp:1.2.3.4:5060`, PV names with balanced
//! parentheses). We keep this lexer context-free except for four self-delimiting forms it recognises
//! whole: pseudo-variables (`$name`, `$name(…)`, `$(…)`, `$?`), attributes (`%x`, `$f.x`, every `$x`
//! under `#!SER` — which `$` forms are attributes depends on the [`LexMode`] the preprocessor sets
//! at each mode line), selects (`@a.b[1].c`) and bracketed IPv6 addresses (`[::1]`). Everything else (IPv4 addresses, host names, `proto:host:port`, networks) is
//! reassembled by the parser from adjacent tokens: each token records whether whitespace preceded it
//! (`joined == false`).
//!
//! Directive lines (`#!…` / `!!…`) are returned as [`Directive`] items with their argument text so the
//! preprocessor can act on them; a region skipped by `#!ifdef` is never tokenised
//! ([`Lexer::skip_conditional`] scans it for the next conditional directive only).

use crate::diag::{Diagnostic, Error};
use crate::span::{FileId, Span};
use std::rc::Rc;

/// Where a token produced by a `#!define` expansion came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Origin {
    pub define: String,
    pub def_span: Option<Span>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Tk {
    Ident,
    Int(i64),
    /// A quoted string; the payload is the unescaped value.
    Str(String),
    /// A pseudo-variable, `text` holds it whole (`$(avp(x)[*]{s.len})`).
    Pv,
    /// A core attribute without its index (`%x`, `$f.x`, every `$x` under `#!SER`): the parser
    /// reads a following `[n]` / `[]` (Kamailio lexes the brackets as ordinary tokens).
    Attr,
    /// A select, `text` holds it whole (`@via[1].branch`).
    Select,
    /// A bracketed IPv6 address, `text` holds it with the brackets.
    Ipv6,
    Punct(&'static str),
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub kind: Tk,
    /// Raw source text of the token (strings with their quotes).
    pub text: String,
    pub span: Span,
    /// No whitespace/comment between this token and the previous one.
    pub joined: bool,
    pub origin: Option<Rc<Origin>>,
}

impl Token {
    pub fn is_punct(&self, p: &str) -> bool {
        matches!(self.kind, Tk::Punct(q) if q == p)
    }
    pub fn is_ident(&self, s: &str) -> bool {
        self.kind == Tk::Ident && self.text == s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DefKind {
    Define,
    TryDef,
    Redef,
    DefExp,
    DefExps,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirKind {
    Define(DefKind),
    Undef {
        try_: bool,
    },
    IfDef,
    IfNdef,
    IfExp,
    Else,
    Endif,
    DefEnv {
        quoted: bool,
        try_: bool,
    },
    Subst(crate::SubstKind),
    Include {
        import: bool,
    },
    /// `#!KAMAILIO`, `#!SER`, … (compatibility mode line).
    Compat(String),
}

#[derive(Debug, Clone)]
pub(crate) struct Directive {
    pub kind: DirKind,
    /// The `#!word` part.
    pub span: Span,
    /// Argument text: for defines the rest of the line (continuations joined), for conditionals the
    /// identifier or expression, for includes the file name as written.
    pub arg: String,
    pub arg_span: Span,
}

/// How `$` is read: Kamailio's `sr_cfg_compat`, switched by the mode lines from the line on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum LexMode {
    /// No mode line, `#!MAXCOMPAT`, `#!ALL`: `$` starts a pseudo-variable, except `$f.x`
    /// (class prefix) and `$x[` which are attributes.
    #[default]
    Max,
    /// `#!KAMAILIO`, `#!OPENSER`: `$` always starts a pseudo-variable.
    Kamailio,
    /// `#!SER`: `$` is an attribute mark (only `$?`, `$rc`, `$retcode` stay pseudo-variables).
    Ser,
}

pub(crate) enum Item {
    Tok(Token),
    Dir(Directive),
    Eof,
}

const PUNCTS: [&str; 31] = [
    "==", "!=", "=~", "<=", ">=", "<<", ">>", "&&", "||", "+=", "(", ")", "{", "}", "[", "]", ";",
    ",", ":", ".", "=", "<", ">", "+", "-", "*", "/", "|", "&", "^", "~",
];
const PUNCT_TAIL: [&str; 2] = ["!", "%"];

pub(crate) struct Lexer<'a> {
    src: &'a str,
    b: &'a [u8],
    pos: usize,
    file: FileId,
    /// For define values: every token gets this span instead of its own.
    fixed_span: Option<Span>,
    /// First token of the text inherits this `joined` value.
    first_joined: bool,
    at_start: bool,
    /// Set by the preprocessor when it meets a mode line.
    pub mode: LexMode,
    /// Errors found in a token that is still returned (a malformed attribute), so the parser does
    /// not add follow-on errors for a missing token; the caller drains them after each item.
    deferred: Vec<Diagnostic>,
}

fn is_id_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}
fn is_alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}
fn is_eatable(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | 8)
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str, file: FileId) -> Lexer<'a> {
        Lexer {
            src,
            b: src.as_bytes(),
            pos: 0,
            file,
            fixed_span: None,
            first_joined: false,
            at_start: true,
            mode: LexMode::Max,
            deferred: Vec::new(),
        }
    }

    /// A lexer over a define's value: all tokens carry `use_span`.
    pub fn for_expansion(src: &'a str, use_span: Span, joined: bool) -> Lexer<'a> {
        let mut l = Lexer::new(src, use_span.file);
        l.fixed_span = Some(use_span);
        l.first_joined = joined;
        l
    }

    fn span(&self, begin: usize, end: usize) -> Span {
        self.fixed_span
            .unwrap_or_else(|| Span::new(self.file, begin, end))
    }

    fn peek(&self, off: usize) -> u8 {
        self.b.get(self.pos + off).copied().unwrap_or(0)
    }

    fn err(&self, msg: String, begin: usize, end: usize) -> Diagnostic {
        Diagnostic::error(Error::Lexical(msg), Some(self.span(begin, end)))
    }

    /// Skips whitespace and comments; returns true when something was skipped.
    fn skip_trivia(&mut self) -> Result<bool, Diagnostic> {
        let start = self.pos;
        loop {
            let c = self.peek(0);
            if c == b'\n' || is_eatable(c) {
                self.pos += 1;
            } else if c == b'\\' && self.peek(1) == b'\n' {
                self.pos += 2;
            } else if c == b'\\' && self.peek(1) == b'\r' && self.peek(2) == b'\n' {
                self.pos += 3;
            } else if (c == b'#' && !(self.peek(1) == b'!' && self.directive_word().is_some()))
                || (c == b'/' && self.peek(1) == b'/')
            {
                self.skip_line_comment();
            } else if c == b'/' && self.peek(1) == b'*' {
                self.skip_block_comment()?;
            } else {
                break;
            }
        }
        Ok(self.pos > start)
    }

    fn skip_line_comment(&mut self) {
        while self.pos < self.b.len() && self.b[self.pos] != b'\n' {
            self.pos += 1;
        }
    }

    fn skip_block_comment(&mut self) -> Result<(), Diagnostic> {
        let start = self.pos;
        let mut depth = 0usize;
        while self.pos < self.b.len() {
            if self.peek(0) == b'/' && self.peek(1) == b'*' {
                depth += 1;
                self.pos += 2;
            } else if self.peek(0) == b'*' && self.peek(1) == b'/' {
                depth -= 1;
                self.pos += 2;
                if depth == 0 {
                    return Ok(());
                }
            } else {
                self.pos += 1;
            }
        }
        // Kamailio logs this and keeps what it parsed before the comment: a warning, not an error
        // (whatever the comment swallowed, such as a `}`, still fails the parse).
        Err(Diagnostic::warning(
            Error::Lexical(format!(
                "unexpected end of file: {depth} comment(s) open; the rest of the file is a comment"
            )),
            Some(self.span(start, start + 2)),
        ))
    }

    /// If the text at `pos` is `#!word` / `!!word` with a known directive word, its kind and the end of
    /// the word.
    fn directive_word(&self) -> Option<(DirKind, usize)> {
        let c0 = self.peek(0);
        let c1 = self.peek(1);
        if !((c0 == b'#' || c0 == b'!') && c1 == b'!') {
            return None;
        }
        let start = self.pos + 2;
        let mut end = start;
        while end < self.b.len() && (is_alnum(self.b[end])) {
            end += 1;
        }
        let word = self.src.get(start..end)?;
        let next = self.b.get(end).copied().unwrap_or(b'\n');
        let need_space = is_eatable(next);
        let kind = match word {
            "define" | "def" => DirKind::Define(DefKind::Define),
            "trydefine" | "trydef" => DirKind::Define(DefKind::TryDef),
            "redefine" | "redef" => DirKind::Define(DefKind::Redef),
            "defexp" => DirKind::Define(DefKind::DefExp),
            "defexps" => DirKind::Define(DefKind::DefExps),
            "undefine" | "undef" => DirKind::Undef { try_: false },
            "tryundefine" | "tryundef" => DirKind::Undef { try_: true },
            "ifdef" => DirKind::IfDef,
            "ifndef" => DirKind::IfNdef,
            "ifexp" => DirKind::IfExp,
            "else" => DirKind::Else,
            "endif" => DirKind::Endif,
            "defenv" => DirKind::DefEnv {
                quoted: false,
                try_: false,
            },
            "defenvs" => DirKind::DefEnv {
                quoted: true,
                try_: false,
            },
            "trydefenv" => DirKind::DefEnv {
                quoted: false,
                try_: true,
            },
            "trydefenvs" => DirKind::DefEnv {
                quoted: true,
                try_: true,
            },
            "subst" => DirKind::Subst(crate::SubstKind::Subst),
            "substdef" => DirKind::Subst(crate::SubstKind::SubstDef),
            "substdefs" => DirKind::Subst(crate::SubstKind::SubstDefs),
            "include_file" => DirKind::Include { import: false },
            "import_file" => DirKind::Include { import: true },
            "KAMAILIO" | "OPENSER" | "SER" | "MAXCOMPAT" | "ALL" if c0 == b'#' => {
                DirKind::Compat(word.to_string())
            }
            _ => return None,
        };
        // Kamailio's patterns: define-like and if(n)def/ifexp need whitespace after the word;
        // else/endif/compat need only blanks up to the end of line.
        let ok = match kind {
            DirKind::Else | DirKind::Endif | DirKind::Compat(_) => {
                let mut e = end;
                while e < self.b.len() && is_eatable(self.b[e]) {
                    e += 1;
                }
                e >= self.b.len() || self.b[e] == b'\n'
            }
            DirKind::Define(_) | DirKind::Undef { .. } | DirKind::IfDef | DirKind::IfNdef => {
                need_space || next == b'\n'
            }
            DirKind::IfExp => need_space,
            _ => true,
        };
        if !ok {
            return None;
        }
        Some((kind, end))
    }

    /// Rest of the current line from `from` (exclusive of the newline), honouring backslash-newline
    /// continuations when `continued` (define values). Returns the text and the end position (after the
    /// newline, if any).
    fn rest_of_line(&self, from: usize, continued: bool) -> (String, usize, usize) {
        let mut out = String::new();
        let mut i = from;
        let mut text_end = from;
        while i < self.b.len() {
            let c = self.b[i];
            if c == b'\n' {
                text_end = i;
                return (out, text_end, i + 1);
            }
            if continued && c == b'\\' && self.b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            // Copy whole UTF-8 characters.
            let ch_len = utf8_len(c);
            if let Some(s) = self.src.get(i..i + ch_len) {
                out.push_str(s);
            }
            i += ch_len;
            text_end = i;
        }
        (out, text_end, i)
    }

    fn directive(&mut self, kind: DirKind, word_end: usize) -> Directive {
        // Whatever follows a directive line is not glued to the token before it.
        self.at_start = true;
        self.first_joined = false;
        let start = self.pos;
        let span = self.span(start, word_end);
        let mut i = word_end;
        while i < self.b.len() && is_eatable(self.b[i]) {
            i += 1;
        }
        match kind {
            DirKind::Include { .. } => {
                // The file name is the next blank-delimited word; the rest of the line is lexed normally.
                let s = i;
                while i < self.b.len() && !matches!(self.b[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                self.pos = i;
                Directive {
                    kind,
                    span,
                    arg: self.src.get(s..i).unwrap_or("").to_string(),
                    arg_span: self.span(s, i),
                }
            }
            DirKind::DefEnv { .. } => {
                let s = i;
                while i < self.b.len() && !matches!(self.b[i], b' ' | b'\t' | b'\r' | b'\n') {
                    i += 1;
                }
                self.pos = i;
                Directive {
                    kind,
                    span,
                    arg: self.src.get(s..i).unwrap_or("").to_string(),
                    arg_span: self.span(s, i),
                }
            }
            DirKind::Define(_) => {
                let (arg, text_end, next) = self.rest_of_line(i, true);
                self.pos = next;
                Directive {
                    kind,
                    span,
                    arg,
                    arg_span: self.span(i, text_end),
                }
            }
            _ => {
                let (arg, text_end, next) = self.rest_of_line(i, false);
                self.pos = next;
                Directive {
                    kind,
                    span,
                    arg,
                    arg_span: self.span(i, text_end),
                }
            }
        }
    }

    /// In a region skipped by a false conditional: advance to the next `#!ifdef`/`#!ifndef`/
    /// `#!ifexp`/`#!else`/`#!endif` (recognised anywhere, like Kamailio's skip state) without
    /// tokenising anything. Returns `None` at end of text.
    pub fn skip_conditional(&mut self) -> Option<Directive> {
        while self.pos < self.b.len() {
            if let Some((kind, end)) = self.directive_word() {
                if matches!(
                    kind,
                    DirKind::IfDef
                        | DirKind::IfNdef
                        | DirKind::IfExp
                        | DirKind::Else
                        | DirKind::Endif
                ) {
                    return Some(self.directive(kind, end));
                }
            }
            self.pos += 1;
        }
        None
    }

    pub fn next_item(&mut self) -> Result<Item, Diagnostic> {
        let skipped = self.skip_trivia()?;
        let joined = if self.at_start {
            self.first_joined
        } else {
            !skipped
        };
        self.at_start = false;
        if self.pos >= self.b.len() {
            return Ok(Item::Eof);
        }
        if let Some((kind, end)) = self.directive_word() {
            return Ok(Item::Dir(self.directive(kind, end)));
        }
        let start = self.pos;
        let c = self.peek(0);
        let kind = if c == b'"' || c == b'\'' {
            Tk::Str(self.string(c)?)
        } else if is_id_start(c) {
            while is_alnum(self.peek(0)) {
                self.pos += 1;
            }
            let word = &self.src[start..self.pos];
            if word == "include_file" || word == "import_file" {
                let import = word == "import_file";
                self.pos = start;
                return Ok(Item::Dir(
                    self.directive(DirKind::Include { import }, start + word.len()),
                ));
            }
            Tk::Ident
        } else if c.is_ascii_digit() {
            self.number()
        } else if c == b'$' {
            self.dollar()?
        } else if c == b'%' && is_id_start(self.peek(1)) {
            // `%` is Kamailio's attribute mark in every mode (there is no `%` operator: `mod`).
            self.pos += 1;
            self.attr(start);
            Tk::Attr
        } else if c == b'@' && is_id_start(self.peek(1)) {
            self.select();
            Tk::Select
        } else if c == b'[' && self.ipv6() {
            Tk::Ipv6
        } else if let Some(p) = PUNCTS
            .iter()
            .chain(PUNCT_TAIL.iter())
            .find(|p| self.src[self.pos..].starts_with(**p))
        {
            self.pos += p.len();
            Tk::Punct(p)
        } else {
            let ch = self.src[self.pos..].chars().next().unwrap_or('?');
            let end = self.pos + ch.len_utf8();
            let e = self.err(
                format!("unexpected character `{}`", ch.escape_default()),
                start,
                end,
            );
            self.pos = end;
            return Err(e);
        };
        Ok(Item::Tok(Token {
            kind,
            text: self.src[start..self.pos].to_string(),
            span: self.span(start, self.pos),
            joined,
            origin: None,
        }))
    }

    fn string(&mut self, quote: u8) -> Result<String, Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let mut out: Vec<u8> = Vec::new();
        loop {
            let Some(&c) = self.b.get(self.pos) else {
                return Err(self.err("unterminated string".into(), start, start + 1));
            };
            if c == quote {
                self.pos += 1;
                break;
            }
            if quote == b'\'' || c != b'\\' {
                out.push(c);
                self.pos += 1;
                continue;
            }
            // Escapes of double-quoted strings, as Kamailio's lexer knows them.
            let n = self.peek(1);
            self.pos += 2;
            match n {
                b'n' => out.push(b'\n'),
                b'r' => out.push(b'\r'),
                b'a' => out.push(7),
                b't' => out.push(b'\t'),
                b'"' => out.push(b'"'),
                b'\\' => out.push(b'\\'),
                b'\n' => {}
                b'x' if self.peek(0).is_ascii_hexdigit() => {
                    let mut v = 0u32;
                    let mut k = 0;
                    while k < 2 && self.peek(0).is_ascii_hexdigit() {
                        v = v * 16 + (self.peek(0) as char).to_digit(16).unwrap_or(0);
                        self.pos += 1;
                        k += 1;
                    }
                    out.push(v as u8);
                }
                b'0'..=b'7' if (b'0'..=b'7').contains(&self.peek(0)) => {
                    let mut v = u32::from(n - b'0');
                    let mut k = 1;
                    while k < 3 && (b'0'..=b'7').contains(&self.peek(0)) {
                        v = v * 8 + u32::from(self.peek(0) - b'0');
                        self.pos += 1;
                        k += 1;
                    }
                    out.push((v & 0xff) as u8);
                }
                0 => return Err(self.err("unterminated string".into(), start, start + 1)),
                other => {
                    // Unknown escape: Kamailio keeps the backslash and the character.
                    out.push(b'\\');
                    out.push(other);
                }
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn number(&mut self) -> Tk {
        let start = self.pos;
        while is_alnum(self.peek(0)) {
            self.pos += 1;
        }
        let t = &self.src[start..self.pos];
        match parse_number(t) {
            Some(v) => Tk::Int(v),
            None => Tk::Ident, // Kamailio's NUM_ID (e.g. `5060abc`, `2001` in IPv6 parts is a number)
        }
    }

    /// Errors of tokens already returned (see `deferred`).
    pub fn take_deferred(&mut self) -> Vec<Diagnostic> {
        std::mem::take(&mut self.deferred)
    }

    /// `$…` as the current mode reads it.
    fn dollar(&mut self) -> Result<Tk, Diagnostic> {
        let start = self.pos;
        let rest = &self.src[start..];
        match self.mode {
            LexMode::Kamailio => {}
            LexMode::Ser => {
                // Kamailio's RETCODE rule wins over the attribute mark (longest match).
                for rc in ["$retcode", "$rc", "$?"] {
                    if rest.starts_with(rc) {
                        self.pos += rc.len();
                        return Ok(Tk::Pv);
                    }
                }
                if self.peek(1) == b'(' {
                    // Skip the whole `$(…)` so one error is reported, not one per inner token.
                    self.pos += 1;
                    let _ = self.balanced(start);
                    let e = self.err(
                        "`$(` under #!SER: `$` marks an attribute (`$name`, `$f.name`), pseudo-variables \
                         are not available in SER mode"
                            .into(),
                        start,
                        start + 2,
                    );
                    self.deferred.push(e);
                    return Ok(Tk::Attr);
                }
                self.pos += 1;
                self.attr(start);
                return Ok(Tk::Attr);
            }
            LexMode::Max => {
                // Kamailio's AVP_PVAR state: a class prefix with its dot (`$fu.x`) or a name
                // directly followed by `[` makes an attribute.
                let b = &self.b[start + 1..];
                let word = b.iter().take_while(|c| is_alnum(**c)).count();
                let first_ok = b.first().is_some_and(|c| is_id_start(*c));
                let prefix = first_ok
                    && b.get(word) == Some(&b'.')
                    && is_attr_class(&self.src[start + 1..start + 1 + word]);
                if prefix || (first_ok && b.get(word) == Some(&b'[')) {
                    self.pos += 1;
                    self.attr(start);
                    return Ok(Tk::Attr);
                }
            }
        }
        self.pv()?;
        Ok(Tk::Pv)
    }

    /// An attribute after its mark (`$` or `%` at `start`): `name` or `class.name`, where a class
    /// word (`f t fr tr fu tu fd td g`) is never a name (Kamailio's lexer gives it its own token).
    fn attr(&mut self, start: usize) {
        let mark = &self.src[start..start + 1];
        // Kamailio's ATTR state has no rule for blanks: flex echoes and skips them (`$ x` is `$x`).
        while matches!(self.peek(0), b' ' | b'\t') {
            self.pos += 1;
        }
        let word = |l: &mut Self| {
            let s = l.pos;
            if is_id_start(l.peek(0)) {
                while is_alnum(l.peek(0)) {
                    l.pos += 1;
                }
            }
            s..l.pos
        };
        let w = word(self);
        if w.is_empty() {
            // Nothing consumed after the mark (already skipped): the next token starts here.
            let e = self.err(
                format!("expected an attribute name after `{mark}`"),
                start,
                start + 1,
            );
            self.deferred.push(e);
            return;
        }
        let first = self.src[w.clone()].to_string();
        if !is_attr_class(&first) {
            return;
        }
        if self.peek(0) != b'.' {
            let e = self.err(
                format!(
                    "`{mark}{first}` is an attribute class, not a name: write `{mark}{first}.name`"
                ),
                start,
                self.pos,
            );
            self.deferred.push(e);
            return;
        }
        self.pos += 1;
        let n = word(self);
        let name = &self.src[n.clone()];
        if n.is_empty() || is_attr_class(name) {
            let e = self.err(
                format!(
                    "bad attribute `{}`: expected a name after `{first}.` (class words cannot be names)",
                    &self.src[start..self.pos]
                ),
                start,
                self.pos,
            );
            self.deferred.push(e);
        }
    }

    fn pv(&mut self) -> Result<(), Diagnostic> {
        let start = self.pos;
        self.pos += 1;
        let c = self.peek(0);
        if c == b'?' {
            self.pos += 1;
            return Ok(());
        }
        if c == b'(' {
            return self.balanced(start);
        }
        if !is_id_start(c) {
            return Err(self.err(
                "bad pseudo-variable: `$` must be followed by a name or `(`".into(),
                start,
                start + 1,
            ));
        }
        while is_alnum(self.peek(0)) || (self.peek(0) == b'.' && is_id_start(self.peek(1))) {
            self.pos += 1;
        }
        if self.peek(0) == b'(' {
            return self.balanced(start);
        }
        Ok(())
    }

    /// From an opening parenthesis at `pos`, to just after its matching one (no string awareness, as
    /// in Kamailio).
    fn balanced(&mut self, start: usize) -> Result<(), Diagnostic> {
        let mut depth = 0usize;
        while let Some(&c) = self.b.get(self.pos) {
            self.pos += 1;
            match c {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(());
                    }
                }
                b'\n' => break,
                _ => {}
            }
        }
        Err(self.err(
            format!("unterminated pseudo-variable name ({depth} parenthesis open)"),
            start,
            self.pos.min(start + 1),
        ))
    }

    fn select(&mut self) {
        self.pos += 1;
        loop {
            let c = self.peek(0);
            if is_alnum(c) || (c == b'.' && is_id_start(self.peek(1))) {
                self.pos += 1;
            } else if c == b'[' {
                let save = self.pos;
                self.pos += 1;
                while !matches!(self.peek(0), b']' | b'\n' | 0) {
                    self.pos += 1;
                }
                if self.peek(0) == b']' {
                    self.pos += 1;
                } else {
                    self.pos = save;
                    return;
                }
            } else {
                return;
            }
        }
    }

    /// `[` hex/colon/dot `]` with at least two colons: a bracketed IPv6 address.
    fn ipv6(&mut self) -> bool {
        let mut i = self.pos + 1;
        let mut colons = 0;
        while let Some(&c) = self.b.get(i) {
            if c == b']' {
                if colons >= 2 {
                    self.pos = i + 1;
                    return true;
                }
                return false;
            }
            if c == b':' {
                colons += 1;
            } else if !(c.is_ascii_hexdigit() || c == b'.') {
                return false;
            }
            i += 1;
        }
        false
    }
}

/// A class word of Kamailio's attribute syntax.
fn is_attr_class(w: &str) -> bool {
    crate::ast::AttrClass::from_prefix(w).is_some()
}

fn utf8_len(first: u8) -> usize {
    match first {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => 1,
    }
}

/// Kamailio's number forms: decimal, `0x` hex, leading-zero octal, `NNNb` binary.
pub(crate) fn parse_number(t: &str) -> Option<i64> {
    if let Some(h) = t.strip_prefix("0x") {
        return i64::from_str_radix(h, 16).ok();
    }
    if let Some(b) = t.strip_suffix('b') {
        if !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1') {
            return i64::from_str_radix(b, 2).ok();
        }
        return None;
    }
    if t.len() > 1 && t.starts_with('0') {
        return i64::from_str_radix(&t[1..], 8).ok();
    }
    if t.bytes().all(|c| c.is_ascii_digit()) {
        return t.parse().ok();
    }
    None
}

/// Lexes a whole text into tokens (directives are an error here); for define values and tests.
pub(crate) fn tokens_of(
    src: &str,
    use_span: Span,
    joined: bool,
    mode: LexMode,
) -> Result<Vec<Token>, Diagnostic> {
    let mut l = Lexer::for_expansion(src, use_span, joined);
    l.mode = mode;
    let mut out = Vec::new();
    loop {
        let item = l.next_item()?;
        if let Some(e) = l.take_deferred().into_iter().next() {
            return Err(e);
        }
        match item {
            Item::Tok(t) => out.push(t),
            Item::Eof => return Ok(out),
            Item::Dir(d) => {
                return Err(Diagnostic::error(
                    Error::Preprocessor("preprocessor directive inside a define value".into()),
                    Some(d.span),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<(Tk, String, bool)> {
        let mut l = Lexer::new(src, FileId(0));
        let mut v = Vec::new();
        loop {
            match l.next_item() {
                Ok(Item::Tok(t)) => v.push((t.kind, t.text, t.joined)),
                Ok(Item::Eof) => return v,
                Ok(Item::Dir(d)) => {
                    v.push((Tk::Ident, format!("DIR:{:?}:{}", d.kind, d.arg), false))
                }
                Err(e) => {
                    v.push((Tk::Ident, format!("ERR:{}", e.message()), false));
                    return v;
                }
            }
        }
    }

    #[test]
    fn numbers() {
        let cases = [
            ("10", Some(10)),
            ("0x1F", Some(31)),
            ("017", Some(15)),
            ("101b", Some(5)),
            ("0", Some(0)),
            ("08", None),
            ("12ab", None),
        ];
        for (t, v) in cases {
            assert_eq!(parse_number(t), v, "{t}");
        }
    }

    #[test]
    fn tokens_and_joins() {
        let v = kinds(
            "a=1.2.3.4 # c\n$var(x) $(avp(y)[*]{s.len}) \"a\\tb\" 'r\\n' [::1] @via[1].branch $?",
        );
        let texts: Vec<_> = v.iter().map(|t| t.1.as_str()).collect();
        assert_eq!(
            texts,
            [
                "a",
                "=",
                "1",
                ".",
                "2",
                ".",
                "3",
                ".",
                "4",
                "$var(x)",
                "$(avp(y)[*]{s.len})",
                "\"a\\tb\"",
                "'r\\n'",
                "[::1]",
                "@via[1].branch",
                "$?"
            ]
        );
        assert!(v[2].2 && v[3].2 && !v[9].2);
        assert_eq!(v[11].0, Tk::Str("a\tb".into()));
        assert_eq!(v[12].0, Tk::Str("r\\n".into()));
    }

    #[test]
    fn directives_and_errors() {
        let v = kinds("#!define X 1 \\\n 2\n#!ifdef Y\n#!else\n#!KAMAILIO\n");
        assert_eq!(v[0].1, "DIR:Define(Define):X 1  2");
        assert_eq!(v[1].1, "DIR:IfDef:Y");
        assert_eq!(v[2].1, "DIR:Else:");
        assert_eq!(v[3].1, "DIR:Compat(\"KAMAILIO\"):");
        let cases = [
            ("\"abc", "ERR:unterminated string"),
            (
                "/* x",
                "ERR:unexpected end of file: 1 comment(s) open; the rest of the file is a comment",
            ),
            ("`", "ERR:unexpected character ```"),
            ("#!foo bar\nx", "x"),
        ];
        for (src, want) in cases {
            assert_eq!(
                kinds(src).last().map(|t| t.1.clone()).unwrap_or_default(),
                want,
                "{src}"
            );
        }
    }
}
