//! The preprocessor: runs over the lexer's items, acts on `#!` directives, expands defines into tokens
//! that carry the use-site span, splices included files, merges adjacent double-quoted strings and
//! applies `#!subst` rules to strings and pseudo-variables. Its output is the token stream the parser
//! reads.

use crate::diag::{Diagnostic, Error};
use crate::lexer::{
    tokens_of, DefKind, DirKind, Directive, Item, LexMode, Lexer, Origin, Tk, Token,
};
use crate::ppexpr::{self, Value};
use crate::re::Regex;
use crate::span::{FileId, SourceMap, Span};
use crate::{Host, LoadOptions, SubstKind};
use std::collections::HashMap;
use std::rc::Rc;

/// Include nesting limit (Kamailio's).
const MAX_INCLUDE_DEPTH: usize = 10;
/// Nested define expansions before we call it a loop (Kamailio would loop forever).
const MAX_EXPANSION_DEPTH: usize = 32;
/// Stop collecting after this many errors: the rest would be noise.
pub(crate) const MAX_ERRORS: usize = 50;
/// Tokens that define expansions may produce in one load (nested defines can grow exponentially).
const MAX_EXPANDED_TOKENS: usize = 200_000;
/// Bytes of included text in one load (a file may include itself up to the depth limit).
const MAX_INCLUDED_BYTES: usize = 64 << 20;

/// The version the front end reports through the predefined defines.
pub const KAMAILIO_VERSION: u32 = 6_000_007;

#[derive(Debug, Clone)]
pub(crate) struct Define {
    pub value: Option<String>,
    pub span: Option<Span>,
    /// Definition order (Kamailio lists its defines in the order they were made; `#!redefine`
    /// keeps the place of the define it replaces).
    pub seq: u32,
}

struct Cond {
    taken: bool,
    span: Span,
}

struct SubstRule {
    re: Regex,
    repl: String,
    global: bool,
}

pub(crate) struct Preprocessor<'h> {
    host: &'h dyn Host,
    pub sources: SourceMap,
    pub defines: HashMap<String, Define>,
    /// The last [`Define::seq`] handed out.
    define_seq: u32,
    conds: Vec<Cond>,
    substs: Vec<SubstRule>,
    pub out: Vec<Token>,
    pub diags: Vec<Diagnostic>,
    depth: usize,
    pending: Option<Token>,
    error_count: usize,
    expanded: usize,
    included_bytes: usize,
    /// The compatibility mode in force (global, like Kamailio's `sr_cfg_compat`: a mode line in an
    /// included file stays in force after the include).
    mode: LexMode,
}

/// Splits `NAME` / `NAME=value` (the `-A` form).
fn split_cli_define(d: &str) -> (&str, Option<&str>) {
    match d.split_once('=') {
        Some((n, v)) => (n, Some(v)),
        None => (d, None),
    }
}

pub(crate) fn is_define_name(n: &str) -> bool {
    let b = n.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
}

/// Parses a subst expression `/re/repl/flags` (any delimiter) into its parts.
pub(crate) fn split_subst(spec: &str) -> Result<(String, String, String), String> {
    let mut chars = spec.chars();
    let delim = chars.next().ok_or("empty subst expression")?;
    if delim == '\\' || delim.is_alphanumeric() {
        return Err(format!("invalid separator `{delim}` in subst expression"));
    }
    let mut parts = vec![String::new()];
    let mut prev = '\0';
    for c in chars {
        if c == delim && prev != '\\' {
            parts.push(String::new());
        } else if let Some(p) = parts.last_mut() {
            p.push(c);
        }
        prev = c;
    }
    if parts.len() != 3 {
        return Err(format!(
            "bad subst expression `{spec}`: expected {delim}regexp{delim}replacement{delim}flags"
        ));
    }
    let flags = parts.pop().unwrap_or_default();
    let repl = parts.pop().unwrap_or_default();
    let re = parts.pop().unwrap_or_default();
    // An escaped delimiter stands for itself.
    let unesc = |s: String| s.replace(&format!("\\{delim}"), &delim.to_string());
    Ok((unesc(re), unesc(repl), flags))
}

/// Kamailio parses a `$` in the replacement as the start of a pseudo-variable and refuses the rule
/// when none follows (`^1[0-9]{3}$` as a replacement is an error there, seen while rendering a
/// dev-configs template). Whether the variable exists is module knowledge, not checked here.
pub(crate) fn check_replacement(repl: &str) -> Result<(), String> {
    let mut chars = repl.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '$' => match chars.clone().next() {
                Some(n) if n.is_ascii_alphanumeric() || matches!(n, '_' | '(' | '{') => {}
                _ => return Err("`$` in the replacement does not start a pseudo-variable".into()),
            },
            _ => {}
        }
    }
    Ok(())
}

/// Removes one level of matching quotes.
pub(crate) fn unquote(s: &str) -> &str {
    let b = s.as_bytes();
    if b.len() >= 2 && (b[0] == b'"' || b[0] == b'\'') && b[b.len() - 1] == b[0] {
        &s[1..s.len() - 1]
    } else {
        s
    }
}

impl<'h> Preprocessor<'h> {
    pub fn new(host: &'h dyn Host, opts: &LoadOptions) -> Preprocessor<'h> {
        let mut pp = Preprocessor {
            host,
            sources: SourceMap::new(),
            defines: HashMap::new(),
            define_seq: 0,
            conds: Vec::new(),
            substs: Vec::new(),
            out: Vec::new(),
            diags: Vec::new(),
            depth: 0,
            pending: None,
            error_count: 0,
            expanded: 0,
            included_bytes: 0,
            mode: LexMode::Max,
        };
        for (name, value) in predefined(&opts.os_name) {
            pp.put_define(name, value, None);
        }
        for d in &opts.defines {
            let (name, value) = split_cli_define(d);
            if !is_define_name(name) {
                pp.error(
                    Error::Preprocessor(format!("bad define `{d}` on the command line")),
                    None,
                );
                continue;
            }
            pp.put_define(name.to_string(), value.map(str::to_string), None);
        }
        for (kind, expr) in &opts.substs {
            if let Err(e) = pp.add_subst(*kind, expr, None) {
                pp.error(Error::Preprocessor(format!("{e} (command line)")), None);
            }
        }
        pp
    }

    /// Adds or replaces a define; a replaced one keeps its place in the definition order.
    fn put_define(&mut self, name: String, value: Option<String>, span: Option<Span>) {
        let seq = match self.defines.get(&name) {
            Some(d) => d.seq,
            None => {
                self.define_seq += 1;
                self.define_seq
            }
        };
        self.defines.insert(name, Define { value, span, seq });
    }

    /// The defines in force, in definition order (Kamailio's `core.ppdefines`), with their values.
    pub fn ordered_defines(&self) -> Vec<(String, Option<String>)> {
        let mut v: Vec<(&String, &Define)> = self.defines.iter().collect();
        v.sort_by_key(|(_, d)| d.seq);
        v.into_iter()
            .map(|(n, d)| (n.clone(), d.value.clone()))
            .collect()
    }

    fn error(&mut self, e: Error, span: Option<Span>) {
        self.error_count += 1;
        self.diags.push(Diagnostic::error(e, span));
    }

    fn active(&self) -> bool {
        self.conds.iter().all(|c| c.taken)
    }

    pub fn is_defined(&self, name: &str) -> bool {
        self.defines.contains_key(name)
    }

    /// Runs the entry file. `text` is its content, already read by the caller.
    pub fn run_entry(&mut self, name: &str, text: String) {
        let text: Rc<str> = Rc::from(text.as_str());
        let file = self.sources.add(name, text.to_string());
        self.run_file(file, &text);
        self.flush();
        if let Some(c) = self.conds.last() {
            let n = self.conds.len();
            let span = c.span;
            self.error(
                Error::Preprocessor(format!(
                    "different number of preprocessor directives: {n} more #!if[n]def as #!endif"
                )),
                Some(span),
            );
        }
    }

    fn run_file(&mut self, file: FileId, text: &str) {
        let mut lx = Lexer::new(text, file);
        lx.mode = self.mode;
        loop {
            if self.error_count >= MAX_ERRORS {
                return;
            }
            if !self.active() {
                match lx.skip_conditional() {
                    Some(d) => self.directive(d, file),
                    None => return,
                }
                lx.mode = self.mode;
                continue;
            }
            let item = lx.next_item();
            for e in lx.take_deferred() {
                self.error_count += 1;
                self.diags.push(e);
            }
            match item {
                Ok(Item::Eof) => return,
                Ok(Item::Tok(t)) => self.emit(t, 0),
                Ok(Item::Dir(d)) => {
                    self.directive(d, file);
                    // A mode line (here or in an included file) changes how `$` is read from
                    // the next token on.
                    lx.mode = self.mode;
                }
                Err(e) => {
                    if e.severity() == crate::diag::Severity::Error {
                        self.error_count += 1;
                    }
                    self.diags.push(e);
                }
            }
        }
    }

    fn lookup_value(&self, id: &str) -> Value {
        match self.defines.get(id) {
            None => Value::Num(0.0),
            Some(Define { value: None, .. }) => Value::Num(1.0),
            Some(Define { value: Some(v), .. }) => Value::Str(unquote(v.trim()).to_string()),
        }
    }

    fn directive(&mut self, d: Directive, file: FileId) {
        self.flush();
        match d.kind.clone() {
            DirKind::IfDef | DirKind::IfNdef => {
                let arg = d.arg.trim_start_matches([' ', '\t', '\r']);
                let len = arg
                    .bytes()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
                    .count();
                let name = &arg[..len];
                let rest = &arg[len..];
                if !is_define_name(name) || rest.starts_with('-') {
                    let what = if rest.starts_with('-') {
                        ": '-' not allowed"
                    } else {
                        ""
                    };
                    self.error(
                        Error::Preprocessor(format!(
                            "bad conditional directive: expected one identifier{what}"
                        )),
                        Some(d.arg_span),
                    );
                } else if !rest.trim().is_empty() {
                    // Kamailio ignores (echoes) the rest of the line.
                    self.diags.push(Diagnostic::warning(
                        Error::Preprocessor(format!(
                            "text after `{name}` is ignored: `{}`",
                            rest.trim()
                        )),
                        Some(d.arg_span),
                    ));
                }
                let defined = self.is_defined(name);
                let taken = if d.kind == DirKind::IfDef {
                    defined
                } else {
                    !defined
                };
                self.conds.push(Cond {
                    taken,
                    span: d.span,
                });
            }
            DirKind::IfExp => {
                let taken = match ppexpr::eval(d.arg.trim(), &|id| self.lookup_value(id)) {
                    Ok(v) => v.truthy(),
                    Err(e) => {
                        // Kamailio logs the error and takes the condition as false.
                        self.diags.push(Diagnostic::warning(
                            Error::Preprocessor(format!(
                                "cannot evaluate #!ifexp expression: {e}; taken as false"
                            )),
                            Some(d.arg_span),
                        ));
                        false
                    }
                };
                self.conds.push(Cond {
                    taken,
                    span: d.span,
                });
            }
            DirKind::Else => match self.conds.last_mut() {
                Some(c) => c.taken = !c.taken,
                None => self.diags.push(Diagnostic::warning(
                    Error::Preprocessor(
                        "invalid position for preprocessor directive 'else'".into(),
                    ),
                    Some(d.span),
                )),
            },
            DirKind::Endif => {
                if self.conds.pop().is_none() {
                    self.error(
                        Error::Preprocessor(
                            "different number of preprocessor directives: 1 more #!endif as #!if[n]def"
                                .into(),
                        ),
                        Some(d.span),
                    );
                }
            }
            DirKind::Define(kind) => self.define(kind, &d),
            DirKind::Undef { try_ } => {
                let name = d.arg.trim();
                if self.defines.remove(name).is_none() && !try_ {
                    self.error(
                        Error::Preprocessor(format!("cannot undefine `{name}`: not defined")),
                        Some(d.arg_span),
                    );
                }
            }
            DirKind::DefEnv { quoted, try_ } => {
                let (id, var) = match d.arg.split_once('=') {
                    Some((i, v)) => (i, v),
                    None => (d.arg.as_str(), d.arg.as_str()),
                };
                if !is_define_name(id) {
                    self.error(
                        Error::Preprocessor(format!("bad define name `{id}`")),
                        Some(d.arg_span),
                    );
                    return;
                }
                match self.host.env(var) {
                    Some(v) => {
                        let v = if quoted { format!("\"{v}\"") } else { v };
                        self.set_define(DefKind::Define, id, Some(v), d.arg_span);
                    }
                    None if try_ => {}
                    None => self.error(
                        Error::Preprocessor(format!("environment variable `{var}` is not set")),
                        Some(d.arg_span),
                    ),
                }
            }
            DirKind::Subst(kind) => {
                let a = d.arg.trim();
                let spec = if a.len() >= 2 && (a.starts_with('"') || a.starts_with('\'')) {
                    unquote(a)
                } else {
                    self.error(
                        Error::Preprocessor("subst directive needs a quoted expression".into()),
                        Some(d.arg_span),
                    );
                    return;
                };
                // The argument is an ordinary string token in Kamailio's lexer, so the rules defined
                // so far rewrite it first: after `#!substdef "!IP!x!g"`, `#!substdef "!IPV6!y!g"`
                // defines `xV6`, not `IPV6` (dev-configs row 30 depends on it).
                let spec = self.apply_substs(spec);
                if let Err(e) = self.add_subst(kind, &spec, Some(d.arg_span)) {
                    self.error(Error::Preprocessor(e), Some(d.arg_span));
                }
            }
            DirKind::Include { import } => self.include(&d, import, file),
            // The mode lines switch how the lexer reads `$` from the next line on (Kamailio's
            // `sr_cfg_compat`); the script compiler also reads the first one for the `$xy`
            // fallback of the default mode.
            DirKind::Compat(mode) => {
                self.mode = match mode.as_str() {
                    "KAMAILIO" | "OPENSER" => LexMode::Kamailio,
                    "SER" => LexMode::Ser,
                    "MAXCOMPAT" | "ALL" => LexMode::Max,
                    _ => {
                        self.error(
                            Error::Preprocessor(format!(
                                "unknown compatibility mode #!{mode} (#!KAMAILIO, #!OPENSER, #!SER, #!MAXCOMPAT, #!ALL)"
                            )),
                            Some(d.span),
                        );
                        self.mode
                    }
                };
            }
        }
    }

    fn define(&mut self, kind: DefKind, d: &Directive) {
        let arg = d.arg.trim_start_matches([' ', '\t', '\r']);
        let name_len = arg
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'_')
            .count();
        let name = &arg[..name_len];
        let rest = &arg[name_len..];
        let name_span = Span::new(
            d.arg_span.file,
            d.arg_span.begin as usize,
            d.arg_span.begin as usize + name_len,
        );
        if rest.starts_with('-') {
            self.error(
                Error::Preprocessor(format!("bad define name `{name}-…`: '-' not allowed")),
                Some(name_span),
            );
            return;
        }
        if !is_define_name(name) || !(rest.is_empty() || rest.starts_with([' ', '\t', '\r'])) {
            self.error(
                Error::Preprocessor("bad define: expected an identifier".into()),
                Some(d.arg_span),
            );
            return;
        }
        let value = rest.trim_matches([' ', '\t', '\r', '\u{8}']);
        let value = match kind {
            DefKind::DefExp | DefKind::DefExps => {
                match ppexpr::eval(value, &|id| self.lookup_value(id)) {
                    Ok(v) if kind == DefKind::DefExps => Some(format!("\"{}\"", v.text())),
                    Ok(v) => Some(v.text()),
                    Err(e) => {
                        self.error(
                            Error::Preprocessor(format!(
                                "cannot evaluate #!defexp expression: {e}"
                            )),
                            Some(d.arg_span),
                        );
                        return;
                    }
                }
            }
            _ if value.is_empty() => None,
            _ => Some(value.to_string()),
        };
        self.set_define(kind, name, value, name_span);
    }

    fn set_define(&mut self, kind: DefKind, name: &str, value: Option<String>, span: Span) {
        if let Some(old) = self.defines.get(name) {
            match kind {
                DefKind::TryDef => return,
                DefKind::Redef => {}
                _ => {
                    let d = Diagnostic::error(
                        Error::Preprocessor(format!("`{name}` is already defined")),
                        Some(span),
                    );
                    let d = match old.span {
                        Some(s) => d.with_note(Some(s), "previous definition"),
                        None => d.with_note(None, "predefined or set on the command line"),
                    };
                    self.error_count += 1;
                    self.diags.push(d);
                    return;
                }
            }
        }
        self.put_define(name.to_string(), value, Some(span));
    }

    fn add_subst(&mut self, kind: SubstKind, spec: &str, span: Option<Span>) -> Result<(), String> {
        let (re, repl, flags) = split_subst(spec)?;
        check_replacement(&repl).map_err(|m| format!("bad subst expression `{spec}`: {m}"))?;
        let icase = flags.contains('i');
        let global = flags.contains('g');
        let rx =
            Regex::new(&re, icase).map_err(|e| format!("bad subst expression `{spec}`: {e}"))?;
        self.substs.push(SubstRule {
            re: rx,
            repl: repl.clone(),
            global,
        });
        if kind != SubstKind::Subst {
            // Kamailio takes any non-empty regex text as the define name (a name no identifier can
            // spell is simply never expanded); only an empty one is refused.
            if re.is_empty() {
                return Err("substdef define name is empty".into());
            }
            let value = if kind == SubstKind::SubstDefs {
                format!("\"{repl}\"")
            } else {
                repl
            };
            let span = span.unwrap_or_default();
            self.put_define(re, Some(value), Some(span));
        }
        Ok(())
    }

    fn apply_substs(&self, s: &str) -> String {
        let mut cur = s.to_string();
        for r in &self.substs {
            if let Some(n) = r.re.replace(&cur, &r.repl, r.global) {
                cur = n;
            }
        }
        cur
    }

    fn include(&mut self, d: &Directive, import: bool, file: FileId) {
        let arg = d.arg.trim();
        let q = arg.chars().next();
        if matches!(q, Some('"' | '\'')) && (arg.len() < 2 || !arg.ends_with(q.unwrap_or('"'))) {
            self.error(
                Error::Preprocessor(format!("bad file name {arg}: unbalanced quotes")),
                Some(d.arg_span),
            );
            return;
        }
        let raw = unquote(arg);
        let path = self.apply_substs(raw);
        if path.is_empty() {
            self.error(
                Error::Preprocessor("missing file name after include directive".into()),
                Some(d.span),
            );
            return;
        }
        if self.depth >= MAX_INCLUDE_DEPTH {
            self.error(
                Error::Preprocessor(format!(
                    "too many nested includes (limit {MAX_INCLUDE_DEPTH}) at `{path}`"
                )),
                Some(d.arg_span),
            );
            return;
        }
        let mut tried = vec![path.clone()];
        let mut found = self.host.read_file(&path).ok().map(|b| (path.clone(), b));
        if found.is_none() && !path.starts_with('/') {
            let cur = self.sources.name(file).to_string();
            if let Some(idx) = cur.rfind('/') {
                let alt = format!("{}/{}", &cur[..idx], path);
                found = self.host.read_file(&alt).ok().map(|b| (alt.clone(), b));
                tried.push(alt);
            }
        }
        let Some((name, bytes)) = found else {
            if !import {
                self.error(
                    Error::Preprocessor(format!(
                        "cannot open included file `{path}` (tried: {})",
                        tried.join(", ")
                    )),
                    Some(d.arg_span),
                );
            }
            return;
        };
        self.included_bytes = self.included_bytes.saturating_add(bytes.len());
        if self.included_bytes > MAX_INCLUDED_BYTES {
            self.error(
                Error::Preprocessor(format!(
                    "included files exceed {} MiB in total (at `{path}`)",
                    MAX_INCLUDED_BYTES >> 20
                )),
                Some(d.arg_span),
            );
            return;
        }
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let id = self.sources.add(&name, text.clone());
        self.depth += 1;
        self.run_file(id, &text);
        self.flush();
        self.depth -= 1;
    }

    fn emit(&mut self, mut t: Token, depth: usize) {
        if t.kind == Tk::Ident {
            if let Some(def) = self.defines.get(&t.text).cloned() {
                let Some(value) = def.value else {
                    // A define without value expands to nothing (as in Kamailio).
                    return;
                };
                if depth >= MAX_EXPANSION_DEPTH {
                    self.error(
                        Error::Preprocessor(format!(
                            "define `{}` expands recursively (more than {MAX_EXPANSION_DEPTH} levels)",
                            t.text
                        )),
                        Some(t.span),
                    );
                    return;
                }
                let origin = t.origin.clone().or_else(|| {
                    Some(Rc::new(Origin {
                        define: t.text.clone(),
                        def_span: def.span,
                    }))
                });
                match tokens_of(&value, t.span, t.joined, self.mode) {
                    Ok(toks) if self.expanded + toks.len() > MAX_EXPANDED_TOKENS => {
                        // Report once; later expansions are dropped (the result is garbage anyway).
                        if self.expanded <= MAX_EXPANDED_TOKENS {
                            self.error(
                                Error::Preprocessor(format!(
                                    "define expansions produce more than {MAX_EXPANDED_TOKENS} tokens (at `{}`)",
                                    t.text
                                )),
                                Some(t.span),
                            );
                        }
                        self.expanded = usize::MAX / 2;
                    }
                    Ok(toks) => {
                        self.expanded += toks.len();
                        for mut x in toks {
                            x.origin = origin.clone();
                            self.emit(x, depth + 1);
                        }
                    }
                    Err(e) => {
                        let e =
                            e.with_note(def.span, format!("in the value of define `{}`", t.text));
                        self.error_count += 1;
                        self.diags.push(e);
                    }
                }
                return;
            }
        }
        match &t.kind {
            Tk::Str(v) => {
                let double = t.text.starts_with('"');
                if let Some(p) = &mut self.pending {
                    if double && p.text.ends_with('"') && p.span.file == t.span.file {
                        if let Tk::Str(pv) = &mut p.kind {
                            pv.push_str(v);
                        }
                        p.text.push(' ');
                        p.text.push_str(&t.text);
                        p.span = p.span.to(t.span);
                        return;
                    }
                }
                self.flush();
                self.pending = Some(t);
                return;
            }
            Tk::Pv if !self.substs.is_empty() => {
                t.text = self.apply_substs(&t.text);
            }
            _ => {}
        }
        self.flush();
        self.out.push(t);
    }

    /// Emits a pending (possibly merged) string after applying substs; defines `MOD_<name>` when it
    /// is a `loadmodule` argument.
    pub fn flush(&mut self) {
        let Some(mut t) = self.pending.take() else {
            return;
        };
        if let Tk::Str(v) = &t.kind {
            if !self.substs.is_empty() {
                t.kind = Tk::Str(self.apply_substs(v));
            }
        }
        if let Tk::Str(v) = &t.kind {
            let n = self.out.len();
            let after_loadmodule = |i: usize| {
                self.out
                    .get(i)
                    .is_some_and(|x| x.is_ident("loadmodule") || x.is_ident("loadmodulex"))
            };
            let is_mod = (n >= 1 && after_loadmodule(n - 1))
                || (n >= 2 && self.out[n - 1].is_punct("(") && after_loadmodule(n - 2));
            if is_mod {
                if let Some(m) = module_define_name(v) {
                    if !self.defines.contains_key(&m) {
                        self.put_define(m, None, Some(t.span));
                    }
                }
            }
        }
        self.out.push(t);
    }
}

/// `MOD_<name>` for a loadmodule path: the file name without directory and `.so`.
pub(crate) fn module_define_name(path: &str) -> Option<String> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let base = base.strip_suffix(".so").unwrap_or(base);
    if base.is_empty() || base.len() >= 60 {
        return None;
    }
    Some(format!("MOD_{base}"))
}

/// The defines Kamailio 6.0.7 predefines (`pp_define_core`).
pub(crate) fn predefined(os_name: &str) -> Vec<(String, Option<String>)> {
    let v = KAMAILIO_VERSION;
    let (maj, min, pat) = (v / 1_000_000, (v % 1_000_000) / 1000, v % 1000);
    let os = if os_name.is_empty() { "linux" } else { os_name };
    vec![
        (format!("KAMAILIO_{maj}"), None),
        (format!("KAMAILIO_{maj}_{min}"), None),
        (format!("KAMAILIO_{maj}_{min}_{pat}"), None),
        ("KAMAILIO_VERSION".into(), Some(v.to_string())),
        ("OS_NAME".into(), Some(format!("\"{os}\""))),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subst_replacements() {
        let cases = [
            ("x", true),
            ("a$rU", true),
            ("$(ru{s.len})", true),
            ("a\\$", true),
            ("^1[0-9]{3}$", false),
            ("a$ b", false),
            ("$", false),
        ];
        for (repl, ok) in cases {
            assert_eq!(check_replacement(repl).is_ok(), ok, "{repl}");
        }
    }

    #[test]
    fn subst_specs() {
        let cases = [
            ("/a/b/g", Ok(("a", "b", "g"))),
            ("|x\\|y|z|", Ok(("x|y", "z", ""))),
            ("/a/b", Err(())),
            ("", Err(())),
        ];
        for (spec, want) in cases {
            let got = split_subst(spec);
            match want {
                Ok((a, b, c)) => assert_eq!(got, Ok((a.into(), b.into(), c.into())), "{spec}"),
                Err(()) => assert!(got.is_err(), "{spec}"),
            }
        }
    }

    #[test]
    fn module_names() {
        let cases = [
            ("tm.so", Some("MOD_tm")),
            ("/usr/lib/x/db_mysql.so", Some("MOD_db_mysql")),
            ("sl", Some("MOD_sl")),
            ("", None),
        ];
        for (p, want) in cases {
            assert_eq!(module_define_name(p).as_deref(), want, "{p}");
        }
    }
}
