//! `--cfg-print`: the config as Kamailio prints it with `kamailio --cfg-print -f FILE`.
//!
//! Kamailio implements this as a separate mode of its lexer that echoes the input: comments and
//! `#!define`-family lines are printed verbatim, `#!ifdef`/`#!ifndef`/`#!ifexp`/`#!else`/`#!endif`
//! lines and the regions they skip are dropped, `include_file`/`import_file` and their file name are
//! replaced by the included file's printed content, defines are *not* expanded and `#!subst` lines are
//! printed as ordinary text (they are not applied). We reproduce that scanner here, byte for byte,
//! rather than pretty-printing our token stream, because its output is the reference.

use crate::diag::{Diagnostic, Error};
use crate::pp::{is_define_name, module_define_name, predefined, split_subst, unquote};
use crate::ppexpr::{self, Value};
use crate::span::{FileId, SourceMap, Span};
use crate::{Host, LoadOptions, SubstKind};
use std::collections::HashMap;

pub(crate) struct Printer<'h> {
    host: &'h dyn Host,
    pub sources: SourceMap,
    defines: HashMap<String, Option<String>>,
    conds: Vec<bool>,
    cond_spans: Vec<Span>,
    pub out: Vec<u8>,
    pub diags: Vec<Diagnostic>,
    depth: usize,
    included_bytes: usize,
}

fn eatable(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | 8)
}

fn alnum(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

#[derive(Clone, Copy, PartialEq)]
enum Dir {
    Define,
    Cond(u8), // 0 ifdef, 1 ifndef, 2 ifexp
    Else,
    Endif,
    Env,
    Include(bool),
}

impl<'h> Printer<'h> {
    pub fn new(host: &'h dyn Host, opts: &LoadOptions) -> Printer<'h> {
        let mut p = Printer {
            host,
            sources: SourceMap::new(),
            defines: HashMap::new(),
            conds: Vec::new(),
            cond_spans: Vec::new(),
            out: Vec::new(),
            diags: Vec::new(),
            depth: 0,
            included_bytes: 0,
        };
        for (n, v) in predefined(&opts.os_name) {
            p.defines.insert(n, v);
        }
        for d in &opts.defines {
            let (n, v) = match d.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (d.as_str(), None),
            };
            p.defines.insert(n.to_string(), v);
        }
        // Command-line substdef/substdefs still define their names.
        for (k, e) in &opts.substs {
            if *k != SubstKind::Subst {
                if let Ok((re, repl, _)) = split_subst(e) {
                    let v = if *k == SubstKind::SubstDefs {
                        format!("\"{repl}\"")
                    } else {
                        repl
                    };
                    p.defines.insert(re, Some(v));
                }
            }
        }
        p
    }

    fn active(&self) -> bool {
        self.conds.iter().all(|c| *c)
    }

    fn error(&mut self, msg: String, span: Option<Span>) {
        self.diags
            .push(Diagnostic::error(Error::Preprocessor(msg), span));
    }

    pub fn run_entry(&mut self, name: &str, text: String) {
        let id = self.sources.add(name, text.clone());
        self.run(id, text.as_bytes());
        if let Some(s) = self.cond_spans.last().copied() {
            let n = self.conds.len();
            self.error(
                format!(
                    "different number of preprocessor directives: {n} more #!if[n]def as #!endif"
                ),
                Some(s),
            );
        }
    }

    /// `#!word` / `!!word` at `i`: which directive and where the word ends.
    fn directive_at(b: &[u8], i: usize) -> Option<(Dir, usize)> {
        let (c0, c1) = (b.get(i)?, b.get(i + 1)?);
        let prefixed = (*c0 == b'#' || *c0 == b'!') && *c1 == b'!';
        let start = if prefixed { i + 2 } else { i };
        let mut end = start;
        while end < b.len() && alnum(b[end]) {
            end += 1;
        }
        let word = std::str::from_utf8(&b[start..end]).ok()?;
        let next = b.get(end).copied();
        let blanks_then_eol = || {
            let mut e = end;
            while e < b.len() && eatable(b[e]) {
                e += 1;
            }
            b.get(e) == Some(&b'\n')
        };
        // include_file / import_file match with or without prefix, anywhere (as flex does).
        if !prefixed {
            return match &b[i..] {
                s if s.starts_with(b"include_file") => Some((Dir::Include(false), i + 12)),
                s if s.starts_with(b"import_file") => Some((Dir::Include(true), i + 11)),
                _ => None,
            };
        }
        let space = next.is_some_and(eatable);
        let d = match word {
            "define" | "def" | "trydefine" | "trydef" | "redefine" | "redef" | "defexp"
            | "defexps"
                if space =>
            {
                Dir::Define
            }
            "ifdef" if space => Dir::Cond(0),
            "ifndef" if space => Dir::Cond(1),
            "ifexp" if space => Dir::Cond(2),
            "else" if blanks_then_eol() => Dir::Else,
            "endif" if blanks_then_eol() => Dir::Endif,
            "defenv" | "defenvs" | "trydefenv" | "trydefenvs" => Dir::Env,
            _ if b[start..].starts_with(b"include_file") => {
                return Some((Dir::Include(false), start + 12))
            }
            _ if b[start..].starts_with(b"import_file") => {
                return Some((Dir::Include(true), start + 11))
            }
            _ => return None,
        };
        Some((d, end))
    }

    fn run(&mut self, file: FileId, b: &[u8]) {
        let mut i = 0;
        while i < b.len() {
            if !self.active() {
                // Skip state: only conditionals are seen; nothing is printed.
                match Self::directive_at(b, i) {
                    Some((d @ (Dir::Cond(_) | Dir::Else | Dir::Endif), end)) => {
                        i = self.conditional(file, b, i, d, end);
                    }
                    _ => i += 1,
                }
                continue;
            }
            let c = b[i];
            if c == b'/' && b.get(i + 1) == Some(&b'*') {
                i = self.block_comment(b, i);
                continue;
            }
            if let Some((d, end)) = Self::directive_at(b, i) {
                i = match d {
                    Dir::Cond(_) | Dir::Else | Dir::Endif => self.conditional(file, b, i, d, end),
                    Dir::Define => self.define(file, b, i, end),
                    Dir::Env => self.defenv(file, b, i, end),
                    Dir::Include(import) => self.include(file, b, end, import),
                };
                continue;
            }
            if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
                let end = b[i..].iter().position(|&x| x == b'\n').map(|p| i + p + 1);
                match end {
                    Some(e) => {
                        self.out.extend_from_slice(&b[i..e]);
                        i = e;
                    }
                    None => {
                        // flex's `.*{CR}` needs the newline: without it only `#` is echoed.
                        self.out.push(c);
                        i += 1;
                    }
                }
                continue;
            }
            if b[i..].starts_with(b"loadmodule") {
                i = self.loadmodule(b, i);
                continue;
            }
            self.out.push(c);
            i += 1;
        }
    }

    fn block_comment(&mut self, b: &[u8], mut i: usize) -> usize {
        let mut nest = 0usize;
        while i < b.len() {
            if b[i..].starts_with(b"/*") {
                nest += 1;
                self.out.extend_from_slice(b"/*");
                i += 2;
            } else if b[i..].starts_with(b"*/") {
                nest -= 1;
                self.out.extend_from_slice(b"*/");
                i += 2;
                if nest == 0 {
                    return i;
                }
            } else {
                self.out.push(b[i]);
                i += 1;
            }
        }
        i
    }

    fn lookup(&self, id: &str) -> Value {
        match self.defines.get(id) {
            None => Value::Num(0.0),
            Some(None) => Value::Num(1.0),
            Some(Some(v)) => Value::Str(unquote(v.trim()).to_string()),
        }
    }

    fn conditional(&mut self, file: FileId, b: &[u8], start: usize, d: Dir, end: usize) -> usize {
        let line_end = b[end..]
            .iter()
            .position(|&x| x == b'\n')
            .map(|p| end + p)
            .unwrap_or(b.len());
        let arg = String::from_utf8_lossy(&b[end..line_end]).into_owned();
        let span = Span::new(file, start, end);
        match d {
            Dir::Cond(k) => {
                let taken = if k == 2 {
                    ppexpr::eval(arg.trim(), &|id| self.lookup(id))
                        .map(|v| v.truthy())
                        .unwrap_or(false)
                } else {
                    let id = arg.split_whitespace().next().unwrap_or("");
                    if !is_define_name(id) {
                        self.error(
                            "bad conditional directive: expected one identifier".into(),
                            Some(Span::new(file, end, line_end)),
                        );
                    }
                    self.defines.contains_key(id) == (k == 0)
                };
                self.conds.push(taken);
                self.cond_spans.push(span);
            }
            Dir::Else => {
                if let Some(c) = self.conds.last_mut() {
                    *c = !*c;
                }
            }
            _ => {
                if self.conds.pop().is_none() {
                    self.error(
                        "different number of preprocessor directives: 1 more #!endif as #!if[n]def"
                            .into(),
                        Some(span),
                    );
                }
                self.cond_spans.pop();
            }
        }
        (line_end + 1).min(b.len())
    }

    fn define(&mut self, file: FileId, b: &[u8], start: usize, word_end: usize) -> usize {
        let word = String::from_utf8_lossy(&b[start + 2..word_end]).into_owned();
        let mut i = word_end;
        while i < b.len() && eatable(b[i]) {
            i += 1;
        }
        let id_start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        let name = String::from_utf8_lossy(&b[id_start..i]).into_owned();
        // The value runs to the end of line; backslash-newline continues it.
        let mut j = i;
        while j < b.len() && eatable(b[j]) {
            j += 1;
        }
        let mut value = Vec::new();
        while j < b.len() && b[j] != b'\n' {
            if b[j] == b'\\' && b.get(j + 1) == Some(&b'\n') {
                j += 2;
                continue;
            }
            value.push(b[j]);
            j += 1;
        }
        let end = (j + 1).min(b.len());
        self.out.extend_from_slice(&b[start..end]);
        let span = Span::new(file, id_start, i);
        if !is_define_name(&name) || b.get(i) == Some(&b'-') {
            self.error(format!("bad define name `{name}`"), Some(span));
            return end;
        }
        let value = String::from_utf8_lossy(&value)
            .trim_end_matches([' ', '\t', '\r'])
            .to_string();
        let value = match word.as_str() {
            "defexp" | "defexps" => match ppexpr::eval(&value, &|id| self.lookup(id)) {
                Ok(v) if word == "defexps" => Some(format!("\"{}\"", v.text())),
                Ok(v) => Some(v.text()),
                Err(e) => {
                    self.error(
                        format!("cannot evaluate #!defexp expression: {e}"),
                        Some(span),
                    );
                    return end;
                }
            },
            _ if value.is_empty() => None,
            _ => Some(value),
        };
        let exists = self.defines.contains_key(&name);
        match word.as_str() {
            "trydefine" | "trydef" if exists => {}
            "redefine" | "redef" => {
                self.defines.insert(name, value);
            }
            _ if exists => self.error(format!("`{name}` is already defined"), Some(span)),
            _ => {
                self.defines.insert(name, value);
            }
        }
        end
    }

    fn defenv(&mut self, file: FileId, b: &[u8], start: usize, word_end: usize) -> usize {
        let word = String::from_utf8_lossy(&b[start + 2..word_end]).into_owned();
        let mut i = word_end;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let s = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        self.out.extend_from_slice(&b[start..i]);
        let arg = String::from_utf8_lossy(&b[s..i]).into_owned();
        let (id, var) = arg.split_once('=').unwrap_or((&arg, &arg));
        match self.host.env(var) {
            Some(v) => {
                let v = if word.ends_with('s') {
                    format!("\"{v}\"")
                } else {
                    v
                };
                self.defines.insert(id.to_string(), Some(v));
            }
            None if word.starts_with("try") => {}
            None => self.error(
                format!("environment variable `{var}` is not set"),
                Some(Span::new(file, s, i)),
            ),
        }
        i
    }

    fn include(&mut self, file: FileId, b: &[u8], word_end: usize, import: bool) -> usize {
        let mut i = word_end;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let s = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        let raw = String::from_utf8_lossy(&b[s..i]).into_owned();
        let path = unquote(&raw).to_string();
        let span = Span::new(file, s, i);
        if self.depth >= 10 {
            self.error(format!("too many nested includes at `{path}`"), Some(span));
            return i;
        }
        let mut found = self.host.read_file(&path).ok().map(|x| (path.clone(), x));
        if found.is_none() && !path.starts_with('/') {
            let cur = self.sources.name(file).to_string();
            if let Some(k) = cur.rfind('/') {
                let alt = format!("{}/{}", &cur[..k], path);
                found = self.host.read_file(&alt).ok().map(|x| (alt, x));
            }
        }
        match found {
            Some((_, bytes)) if self.included_bytes + bytes.len() > (64 << 20) => {
                self.error(
                    format!("included files exceed 64 MiB in total (at `{path}`)"),
                    Some(span),
                );
            }
            Some((name, bytes)) => {
                self.included_bytes += bytes.len();
                let text = String::from_utf8_lossy(&bytes).into_owned();
                let id = self.sources.add(&name, text.clone());
                self.depth += 1;
                self.run(id, text.as_bytes());
                self.depth -= 1;
            }
            None if import => {}
            None => self.error(format!("cannot open included file `{path}`"), Some(span)),
        }
        i
    }

    fn loadmodule(&mut self, b: &[u8], start: usize) -> usize {
        let mut i = start + 10;
        while i < b.len() && (b[i] == b' ' || b[i] == b'\t') {
            i += 1;
        }
        let s = i;
        while i < b.len() && !matches!(b[i], b' ' | b'\t' | b'\r' | b'\n') {
            i += 1;
        }
        self.out.extend_from_slice(&b[start..i]);
        let m = String::from_utf8_lossy(&b[s..i]).into_owned();
        if m.len() > 2 {
            if let Some(d) = module_define_name(unquote(&m)) {
                self.defines.entry(d).or_insert(None);
            }
        }
        i
    }
}
