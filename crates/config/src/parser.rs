//! Recursive-descent parser over the preprocessed token stream: top-level items and statements.
//! Expressions, pseudo-variables and addresses are in `expr.rs`.
//!
//! Error recovery: a bad statement is skipped to its `;` (or the end of its block); a bad top-level
//! item is skipped to the next line that starts a new item, so one run reports several independent
//! errors.

use crate::ast::*;
use crate::diag::{Diagnostic, Error};
use crate::lexer::{Tk, Token};
use crate::listen::{parse_hostport, parse_listen_text};
use crate::params::{self, ParamKind};
use crate::pp::MAX_ERRORS;
use crate::span::{SourceMap, Span};

pub(crate) type PResult<T> = Result<T, Diagnostic>;

pub(crate) struct Parser<'s> {
    pub toks: Vec<Token>,
    pub pos: usize,
    pub diags: Vec<Diagnostic>,
    pub sources: &'s SourceMap,
    pub eof_span: Span,
    /// Parsing a `case` label: `:` ends the expression instead of joining an address.
    pub in_case_label: bool,
    /// Current nesting of expressions and blocks (bounded so hostile input cannot exhaust the stack).
    pub depth: usize,
}

/// Deepest nesting of parentheses, unary operators and blocks we parse.
pub(crate) const MAX_NESTING: usize = 64;

pub(crate) const ROUTE_KEYWORDS: [&str; 8] = [
    "request_route",
    "route",
    "branch_route",
    "failure_route",
    "reply_route",
    "onreply_route",
    "onsend_route",
    "event_route",
];

/// Core actions usable as bare words (`force_rport;`); any other function needs `()`.
pub(crate) const BARE_ACTIONS: [&str; 10] = [
    "force_rport",
    "add_rport",
    "add_local_rport",
    "force_tcp_alias",
    "add_tcp_alias",
    "revert_uri",
    "set_forward_close",
    "set_forward_no_connect",
    "set_reply_close",
    "set_reply_no_connect",
];

pub(crate) fn describe(t: &Token) -> String {
    match &t.kind {
        Tk::Str(_) => format!("string {}", t.text),
        _ => format!("`{}`", t.text),
    }
}

impl<'s> Parser<'s> {
    pub fn new(toks: Vec<Token>, sources: &'s SourceMap, eof_span: Span) -> Parser<'s> {
        Parser {
            toks,
            pos: 0,
            diags: Vec::new(),
            sources,
            eof_span,
            in_case_label: false,
            depth: 0,
        }
    }

    // ---- token helpers ----

    pub fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }
    pub fn peek_at(&self, n: usize) -> Option<&Token> {
        self.toks.get(self.pos + n)
    }
    pub fn at_punct(&self, p: &str) -> bool {
        self.peek().is_some_and(|t| t.is_punct(p))
    }
    pub fn at_ident(&self, s: &str) -> bool {
        self.peek().is_some_and(|t| t.is_ident(s))
    }
    pub fn bump(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        if t.is_some() {
            self.pos += 1;
        }
        t
    }
    pub fn cur_span(&self) -> Span {
        self.peek().map(|t| t.span).unwrap_or(self.eof_span)
    }
    pub fn prev_span(&self) -> Span {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map(|t| t.span)
            .unwrap_or(self.eof_span)
    }

    /// An error at a token, noting the define it came from.
    pub fn err_tok(&self, t: Option<&Token>, e: Error) -> Diagnostic {
        match t {
            Some(t) => {
                let d = Diagnostic::error(e, Some(t.span));
                if let Some(o) = &t.origin {
                    return d
                        .with_note(o.def_span, format!("in expansion of define `{}`", o.define));
                }
                // An error right after a define's expansion is often caused by its value.
                let prev = self.pos.checked_sub(1).and_then(|i| self.toks.get(i));
                match prev.and_then(|p| p.origin.as_ref()) {
                    Some(o) if self.peek().is_some_and(|c| c.span == t.span) => d.with_note(
                        o.def_span,
                        format!("after the expansion of define `{}`", o.define),
                    ),
                    _ => d,
                }
            }
            None => Diagnostic::error(e, Some(self.eof_span)),
        }
    }

    pub fn syntax(&self, msg: String) -> Diagnostic {
        let msg = if self.peek().is_none() {
            format!("{msg}, found end of file")
        } else {
            msg
        };
        self.err_tok(self.peek(), Error::Syntax(msg))
    }

    pub fn expect_punct(&mut self, p: &str) -> PResult<Token> {
        if self.at_punct(p) {
            if let Some(t) = self.bump() {
                return Ok(t);
            }
        }
        let found = self
            .peek()
            .map(|t| format!(", found {}", describe(t)))
            .unwrap_or_default();
        Err(self.syntax(format!("expected `{p}`{found}")))
    }

    /// A `;` ending a statement: when missing, point just after the previous token.
    pub fn expect_semi(&mut self) -> PResult<()> {
        if self.at_punct(";") {
            self.pos += 1;
            return Ok(());
        }
        let prev = self.pos.checked_sub(1).and_then(|i| self.toks.get(i));
        let found = self
            .peek()
            .map(describe)
            .unwrap_or_else(|| "end of file".into());
        let d = match prev {
            Some(p) => {
                let s = Span::new(p.span.file, p.span.end as usize, p.span.end as usize + 1);
                let mut d = Diagnostic::error(
                    Error::Syntax(format!("expected `;` after this statement, found {found}")),
                    Some(s),
                );
                if let Some(o) = &p.origin {
                    d = d.with_note(o.def_span, format!("in expansion of define `{}`", o.define));
                }
                d
            }
            None => self.syntax(format!("expected `;`, found {found}")),
        };
        Err(d)
    }

    pub fn expect_string(&mut self, what: &str) -> PResult<(String, Span)> {
        if let Some(Token {
            kind: Tk::Str(s),
            span,
            ..
        }) = self.peek()
        {
            let r = (s.clone(), *span);
            self.pos += 1;
            return Ok(r);
        }
        let found = self.peek().map(describe).unwrap_or_default();
        Err(self.syntax(format!("expected {what} (a quoted string), found {found}")))
    }

    /// Whether a line break separates token `i` from the one before it.
    pub fn newline_before(&self, i: usize) -> bool {
        let (Some(prev), Some(cur)) = (
            i.checked_sub(1).and_then(|j| self.toks.get(j)),
            self.toks.get(i),
        ) else {
            return true;
        };
        if prev.span.file != cur.span.file || prev.span.end > cur.span.begin {
            return prev.span != cur.span;
        }
        self.sources
            .text(cur.span.file)
            .get(prev.span.end as usize..cur.span.begin as usize)
            .is_some_and(|gap| gap.contains('\n'))
    }

    /// Enters one nesting level; an error when too deep.
    pub(crate) fn enter(&mut self) -> PResult<()> {
        if self.depth >= MAX_NESTING {
            return Err(self.syntax(format!("nesting deeper than {MAX_NESTING} levels")));
        }
        self.depth += 1;
        Ok(())
    }

    pub(crate) fn push_diag(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    pub fn too_many_errors(&self) -> bool {
        self.diags.len() >= MAX_ERRORS
    }

    // ---- top level ----

    pub fn config(&mut self) -> Config {
        let mut items = Vec::new();
        while self.peek().is_some() && !self.too_many_errors() {
            let start = self.pos;
            match self.item(&mut items) {
                Ok(()) => {}
                Err(d) => {
                    self.push_diag(d);
                    self.recover_top(start);
                }
            }
        }
        Config { items }
    }

    /// Skips to the start of the next top-level item.
    fn recover_top(&mut self, start: usize) {
        // Braces opened since the item started still need closing.
        let mut depth: i32 = self.toks[start..self.pos.min(self.toks.len())]
            .iter()
            .map(|t| i32::from(t.is_punct("{")) - i32::from(t.is_punct("}")))
            .sum();
        if self.pos == start {
            if self.at_punct("{") {
                depth += 1;
            }
            self.pos += 1;
        }
        while let Some(t) = self.peek() {
            if depth <= 0 && self.newline_before(self.pos) && t.kind == Tk::Ident {
                return;
            }
            if depth > 0
                && t.kind == Tk::Ident
                && ROUTE_KEYWORDS.contains(&t.text.as_str())
                && self.newline_before(self.pos)
                && self.looks_like_route_start()
            {
                return;
            }
            if t.is_punct("{") {
                depth += 1;
            } else if t.is_punct("}") {
                depth -= 1;
                if depth <= 0 {
                    self.pos += 1;
                    return;
                }
            } else if t.is_punct(";") && depth <= 0 {
                self.pos += 1;
                return;
            }
            self.pos += 1;
        }
    }

    fn item(&mut self, items: &mut Vec<Item>) -> PResult<()> {
        let Some(t) = self.peek().cloned() else {
            return Ok(());
        };
        if t.is_punct(";") {
            self.pos += 1;
            return Ok(());
        }
        if t.kind != Tk::Ident {
            return Err(self.err_tok(
                Some(&t),
                Error::Syntax(format!("unexpected {} at top level", describe(&t))),
            ));
        }
        let w = t.text.as_str();
        match w {
            "loadmodule" | "loadmodulex" => {
                self.pos += 1;
                let paren = self.at_punct("(");
                if paren {
                    self.pos += 1;
                }
                let (path, _) = self.expect_string("module path")?;
                let mut opts = None;
                if paren {
                    if self.at_punct(",") {
                        self.pos += 1;
                        opts = Some(self.expect_string("module options")?.0);
                    }
                    self.expect_punct(")")?;
                }
                let span = t.span.to(self.prev_span());
                self.opt_semi();
                items.push(Item::LoadModule(LoadModule {
                    path,
                    opts,
                    x: w == "loadmodulex",
                    span,
                }));
            }
            "loadpath" | "mpath" => {
                self.pos += 1;
                if self.at_punct("=") {
                    self.pos += 1;
                }
                let (path, _) = self.expect_string("module path")?;
                let span = t.span.to(self.prev_span());
                self.opt_semi();
                items.push(Item::LoadPath { path, span });
            }
            "modparam" | "modparamx" => {
                self.pos += 1;
                let x = w == "modparamx";
                self.expect_punct("(")?;
                let (module, _) = self.expect_string("module name")?;
                self.expect_punct(",")?;
                let (param, _) = self.expect_string("parameter name")?;
                self.expect_punct(",")?;
                let value = self.modparam_value(x)?;
                self.expect_punct(")")?;
                let span = t.span.to(self.prev_span());
                self.opt_semi();
                items.push(Item::ModParam(ModParam {
                    module,
                    param,
                    value,
                    x,
                    span,
                }));
            }
            "cfgengine" => {
                self.pos += 1;
                let (name, _) = self.expect_string("engine name")?;
                let span = t.span.to(self.prev_span());
                self.opt_semi();
                items.push(Item::CfgEngine { name, span });
            }
            "flags" | "avpflags" => {
                self.pos += 1;
                let decls = self.flag_decls()?;
                items.push(if w == "flags" {
                    Item::Flags(decls)
                } else {
                    Item::AvpFlags(decls)
                });
            }
            _ if ROUTE_KEYWORDS.contains(&w) => {
                let r = self.route_block()?;
                items.push(Item::Route(r));
            }
            _ => self.assignment_item(&t, items)?,
        }
        Ok(())
    }

    fn opt_semi(&mut self) {
        if self.at_punct(";") {
            self.pos += 1;
        }
    }

    fn modparam_value(&mut self, x: bool) -> PResult<ModParamValue> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.syntax("expected a parameter value".into()));
        };
        let neg = t.is_punct("-");
        let t = if neg {
            self.pos += 1;
            self.peek().cloned().unwrap_or(t)
        } else {
            t
        };
        let v = match &t.kind {
            Tk::Int(i) => ModParamValue::Int(if neg { -i } else { *i }),
            Tk::Str(s) if !neg => ModParamValue::Str(s.clone()),
            Tk::Ident if !neg && params::bool_word(&t.text).is_some() => {
                ModParamValue::Int(i64::from(params::bool_word(&t.text).unwrap_or(false)))
            }
            Tk::Pv if x && !neg => ModParamValue::Pv(self.parse_pv_token(&t)?),
            _ => {
                return Err(self.err_tok(
                    Some(&t),
                    Error::Syntax(format!(
                        "expected a string or an integer as modparam value, found {}",
                        describe(&t)
                    )),
                ))
            }
        };
        self.pos += 1;
        Ok(v)
    }

    fn flag_decls(&mut self) -> PResult<Vec<FlagDecl>> {
        let mut out = Vec::new();
        while let Some(t) = self.peek().cloned() {
            if t.kind != Tk::Ident {
                return Err(self.syntax(format!("expected a flag name, found {}", describe(&t))));
            }
            self.pos += 1;
            let mut pos = None;
            if self.at_punct(":") {
                self.pos += 1;
                match self.bump() {
                    Some(Token {
                        kind: Tk::Int(i), ..
                    }) => pos = Some(i),
                    other => {
                        return Err(self.err_tok(
                            other.as_ref(),
                            Error::Syntax("expected a flag number after `:`".into()),
                        ))
                    }
                }
            }
            out.push(FlagDecl {
                name: t.text.clone(),
                pos,
                span: t.span.to(self.prev_span()),
            });
            if self.at_punct(",") {
                self.pos += 1;
                continue;
            }
            break;
        }
        self.opt_semi();
        Ok(out)
    }

    fn route_block(&mut self) -> PResult<RouteBlock> {
        let kw = self
            .bump()
            .ok_or_else(|| self.syntax("expected a route block".into()))?;
        let mut name = None;
        // `event_route[a:b:c]` is lexed as a bracketed IPv6-looking token.
        if kw.text == "event_route" && self.peek().is_some_and(|t| t.kind == Tk::Ipv6) {
            if let Some(t) = self.bump() {
                name = Some(
                    t.text
                        .trim_start_matches('[')
                        .trim_end_matches(']')
                        .to_string(),
                );
            }
        } else if self.at_punct("[") {
            let open = self.pos;
            self.pos += 1;
            if kw.text != "event_route" {
                // `route[NAME]`: one identifier, number or string.
                let name_tok = self.peek().cloned();
                let single = matches!(
                    name_tok.as_ref().map(|t| &t.kind),
                    Some(Tk::Ident | Tk::Int(_) | Tk::Str(_))
                ) && self.peek_at(1).is_some_and(|n| n.is_punct("]"));
                if !single {
                    return Err(self.err_tok(
                        name_tok.as_ref(),
                        Error::Syntax(
                            "bad route name: expected one identifier, number or quoted string"
                                .into(),
                        ),
                    ));
                }
            }
            let mut text = String::new();
            while let Some(t) = self.peek() {
                if t.is_punct("]") {
                    break;
                }
                if t.is_punct("{") || t.is_punct(";") {
                    return Err(self.syntax("expected `]` after the route name".into()));
                }
                match &t.kind {
                    Tk::Str(s) => text.push_str(s),
                    _ => text.push_str(&t.text),
                }
                self.pos += 1;
            }
            self.expect_punct("]")?;
            if text.is_empty() {
                return Err(self.err_tok(
                    self.toks.get(open),
                    Error::Syntax("empty route name".into()),
                ));
            }
            if kw.text == "event_route" && !text.contains(':') {
                return Err(self.err_tok(
                    self.toks.get(open + 1),
                    Error::Syntax(format!(
                        "bad event_route name `{text}`: expected `group:name`"
                    )),
                ));
            }
            name = Some(text);
        } else if kw.text == "event_route" {
            return Err(self.syntax(format!("expected `[` and a name after `{}`", kw.text)));
        }
        let main = name.as_deref().is_none_or(|n| n == "0");
        let kind = match kw.text.as_str() {
            "request_route" => RouteKind::Request,
            "route" if main => RouteKind::Request,
            "route" => RouteKind::Route,
            "branch_route" => RouteKind::Branch,
            "failure_route" => RouteKind::Failure,
            "reply_route" => RouteKind::Reply,
            "onreply_route" if main => RouteKind::Reply,
            "onreply_route" => RouteKind::OnReply,
            "onsend_route" => RouteKind::OnSend,
            _ => RouteKind::Event,
        };
        if (kw.text == "request_route" || kw.text == "reply_route") && name.is_some() {
            return Err(self.err_tok(
                Some(&kw),
                Error::Syntax(format!("`{}` takes no name", kw.text)),
            ));
        }
        let body = self.block()?;
        Ok(RouteBlock {
            kind,
            keyword: kw.text.clone(),
            name,
            body,
            span: kw.span.to(self.prev_span()),
        })
    }

    /// `name = value`, `group.var = value [desc "…"]`, `group[N].var = …`; also catches unknown
    /// route block kinds (`foo_route { … }`).
    fn assignment_item(&mut self, t: &Token, items: &mut Vec<Item>) -> PResult<()> {
        let next = self.peek_at(1).cloned();
        let custom = next.as_ref().is_some_and(|n| n.is_punct("."))
            || (next.as_ref().is_some_and(|n| n.is_punct("["))
                && self.peek_at(3).is_some_and(|x| x.is_punct("]"))
                && self.peek_at(4).is_some_and(|x| x.is_punct(".")));
        if custom {
            return self.custom_param(t, items);
        }
        let looks_route = next.as_ref().is_some_and(|n| n.is_punct("{"))
            || (next.as_ref().is_some_and(|n| n.is_punct("["))
                && self.toks[self.pos..]
                    .iter()
                    .take(8)
                    .skip_while(|x| !x.is_punct("]"))
                    .nth(1)
                    .is_some_and(|x| x.is_punct("{")));
        if looks_route || t.text.ends_with("_route") {
            return Err(self.err_tok(
                Some(t),
                Error::Syntax(format!(
                    "unknown route block kind `{}` (expected one of: {})",
                    t.text,
                    ROUTE_KEYWORDS.join(", ")
                )),
            ));
        }
        if !next.as_ref().is_some_and(|n| n.is_punct("=")) {
            return Err(self.err_tok(
                Some(t),
                Error::Syntax(format!(
                    "unexpected `{}` at top level (expected a parameter assignment, module or route block)",
                    t.text
                )),
            ));
        }
        let Some((name, kind)) = params::lookup(&t.text) else {
            return Err(self.err_tok(
                Some(t),
                Error::Semantic(format!("unknown core parameter `{}`", t.text)),
            ));
        };
        self.pos += 2;
        match kind {
            ParamKind::Listen | ParamKind::Alias => {
                let line_start = self.pos;
                loop {
                    let l = self.listen_value(kind == ParamKind::Listen)?;
                    items.push(Item::Param(Param {
                        name,
                        written: t.text.clone(),
                        name_span: t.span,
                        span: t.span.to(self.prev_span()),
                        value: ParamValue::Listen(l),
                    }));
                    // Several addresses may follow on the same line.
                    let more = self.peek().is_some_and(|x| {
                        matches!(x.kind, Tk::Ident | Tk::Int(_) | Tk::Ipv6 | Tk::Str(_))
                            || x.is_punct("(")
                    }) && !self.newline_before(self.pos)
                        && self.pos > line_start;
                    if !more {
                        break;
                    }
                }
            }
            ParamKind::Socket => {
                let value = ParamValue::Socket(self.socket_block()?);
                items.push(Item::Param(Param {
                    name,
                    written: t.text.clone(),
                    name_span: t.span,
                    span: t.span.to(self.prev_span()),
                    value,
                }));
            }
            _ => {
                let value = self.scalar_value(name, kind)?;
                items.push(Item::Param(Param {
                    name,
                    written: t.text.clone(),
                    name_span: t.span,
                    span: t.span.to(self.prev_span()),
                    value,
                }));
            }
        }
        self.opt_semi();
        Ok(())
    }

    fn custom_param(&mut self, t: &Token, items: &mut Vec<Item>) -> PResult<()> {
        self.pos += 1;
        let mut index = None;
        if self.at_punct("[") {
            self.pos += 1;
            match self.bump() {
                Some(Token {
                    kind: Tk::Int(i), ..
                }) => index = Some(i),
                other => {
                    return Err(self.err_tok(
                        other.as_ref(),
                        Error::Syntax("expected a group index number".into()),
                    ))
                }
            }
            self.expect_punct("]")?;
        }
        self.expect_punct(".")?;
        let var = match self.bump() {
            Some(v) if v.kind == Tk::Ident => v,
            other => {
                return Err(self.err_tok(
                    other.as_ref(),
                    Error::Syntax("expected a variable name after `.`".into()),
                ))
            }
        };
        self.expect_punct("=")?;
        if t.text == "kemi" && index.is_none() {
            let full = format!("kemi.{}", var.text);
            let Some((name, kind)) = params::lookup(&full) else {
                return Err(self.err_tok(
                    Some(&var),
                    Error::Semantic(format!("unknown core parameter `{full}`")),
                ));
            };
            let value = self.scalar_value(name, kind)?;
            items.push(Item::Param(Param {
                name,
                written: full,
                name_span: t.span.to(var.span),
                span: t.span.to(self.prev_span()),
                value,
            }));
            self.opt_semi();
            return Ok(());
        }
        // Kamailio's grammar: a NUMBER (no sign) or a STRING.
        let vt = self.peek().cloned();
        let value = match self.bump() {
            Some(Token {
                kind: Tk::Int(i), ..
            }) => ParamValue::Int(i),
            Some(Token {
                kind: Tk::Str(s), ..
            }) => ParamValue::Str(s),
            Some(b) if b.kind == Tk::Ident && params::bool_word(&b.text).is_some() => {
                ParamValue::Int(i64::from(params::bool_word(&b.text).unwrap_or(false)))
            }
            _ => {
                return Err(self.err_tok(
                    vt.as_ref(),
                    Error::Syntax(format!(
                        "expected a non-negative integer or a quoted string as value of `{}.{}`",
                        t.text, var.text
                    )),
                ))
            }
        };
        let mut desc = None;
        if self.peek().is_some_and(|x| {
            x.kind == Tk::Ident && matches!(x.text.as_str(), "desc" | "descr" | "description")
        }) {
            self.pos += 1;
            desc = Some(self.expect_string("description")?.0);
        }
        items.push(Item::CustomParam(CustomParam {
            group: t.text.clone(),
            index,
            var: var.text.clone(),
            value,
            desc,
            span: t.span.to(self.prev_span()),
        }));
        self.opt_semi();
        Ok(())
    }

    fn scalar_value(&mut self, name: &str, kind: ParamKind) -> PResult<ParamValue> {
        let value_start = self.pos;
        let Some(t) = self.peek().cloned() else {
            return Err(self.syntax(format!("expected a value for `{name}`")));
        };
        let value = if t.is_punct("-") {
            self.pos += 1;
            match self.bump() {
                Some(Token {
                    kind: Tk::Int(i), ..
                }) => ParamValue::Int(-i),
                _ => {
                    return Err(self.err_tok(
                        Some(&t),
                        Error::Syntax("expected a number after `-`".into()),
                    ))
                }
            }
        } else {
            match &t.kind {
                Tk::Str(s) => {
                    self.pos += 1;
                    ParamValue::Str(s.clone())
                }
                Tk::Int(i)
                    if !self
                        .peek_at(1)
                        .is_some_and(|n| n.joined && (n.is_punct(".") || n.is_punct(":"))) =>
                {
                    self.pos += 1;
                    ParamValue::Int(*i)
                }
                Tk::Ident if params::bool_word(&t.text).is_some() => {
                    self.pos += 1;
                    ParamValue::Bool(params::bool_word(&t.text).unwrap_or(false))
                }
                Tk::Ident | Tk::Int(_) | Tk::Ipv6 => {
                    let (text, _) = self.joined_run();
                    ParamValue::Ident(text)
                }
                _ => {
                    return Err(self.err_tok(
                        Some(&t),
                        Error::Syntax(format!(
                            "expected a value for `{name}`, found {}",
                            describe(&t)
                        )),
                    ))
                }
            }
        };
        let negative = matches!(value, ParamValue::Int(i) if i < 0);
        let is_num = matches!(value, ParamValue::Int(_) | ParamValue::Bool(_));
        let bare = matches!(value, ParamValue::Ident(_));
        // A single identifier token, not an address run such as `a.b.c`.
        let word = bare && t.kind == Tk::Ident && self.pos == value_start + 1;
        let ok = match kind {
            ParamKind::Int => is_num,
            ParamKind::Nat | ParamKind::Bool => is_num && !negative,
            ParamKind::Str => matches!(value, ParamValue::Str(_)),
            ParamKind::StrId => matches!(value, ParamValue::Str(_)) || word,
            ParamKind::Id => word,
            ParamKind::IdNum => word || (is_num && !negative),
            ParamKind::NumStr => (is_num && !negative) || matches!(value, ParamValue::Str(_)),
            ParamKind::Addr => matches!(value, ParamValue::Str(_)) || bare,
            ParamKind::Proto => {
                word && value.as_str().is_some_and(|w| {
                    ["udp", "tcp", "tls", "sctp", "ws", "wss"]
                        .contains(&w.to_ascii_lowercase().as_str())
                })
            }
            _ => true,
        };
        // Kamailio checks the facility name when it reads the parameter.
        const FACILITIES: [&str; 20] = [
            "LOG_AUTH",
            "LOG_CRON",
            "LOG_DAEMON",
            "LOG_KERN",
            "LOG_LOCAL0",
            "LOG_LOCAL1",
            "LOG_LOCAL2",
            "LOG_LOCAL3",
            "LOG_LOCAL4",
            "LOG_LOCAL5",
            "LOG_LOCAL6",
            "LOG_LOCAL7",
            "LOG_LPR",
            "LOG_MAIL",
            "LOG_NEWS",
            "LOG_USER",
            "LOG_UUCP",
            "LOG_AUTHPRIV",
            "LOG_FTP",
            "LOG_SYSLOG",
        ];
        if ok && name == "log_facility" {
            if let Some(f) = value.as_str() {
                if !FACILITIES.contains(&f) {
                    return Err(self.err_tok(
                        Some(&t),
                        Error::Semantic(format!(
                            "bad log_facility `{f}` (expected one of {})",
                            FACILITIES.join(", ")
                        )),
                    ));
                }
            }
        }
        if !ok {
            let want = match kind {
                ParamKind::Int => "an integer",
                ParamKind::Nat => "a non-negative integer",
                ParamKind::Bool => "a boolean (yes/no) or number",
                ParamKind::Str => "a quoted string",
                ParamKind::StrId => "a quoted string or an identifier",
                ParamKind::Id => "an identifier",
                ParamKind::IdNum => "an identifier or a number",
                ParamKind::NumStr => "a number or a quoted string",
                ParamKind::Addr => "an address or a quoted string",
                ParamKind::Proto => "a protocol (udp, tcp, tls, sctp)",
                _ => "a value",
            };
            return Err(self.err_tok(
                Some(&t),
                Error::Semantic(format!("bad value for `{name}`: expected {want}")),
            ));
        }
        Ok(value)
    }

    /// Concatenates a run of joined address-like tokens (`sip.example.com`, `udp:1.2.3.4:5060`,
    /// `(eth0, eth1):5060`), returning its text and span.
    pub fn joined_run(&mut self) -> (String, Span) {
        let mut text = String::new();
        let start = self.cur_span();
        let mut first = true;
        let mut paren = 0;
        while let Some(t) = self.peek() {
            if !first && !t.joined && paren == 0 {
                break;
            }
            let ok = match &t.kind {
                Tk::Ident | Tk::Int(_) | Tk::Ipv6 => true,
                Tk::Punct(p) => {
                    matches!(*p, "." | ":" | "-" | "(" | ")" | "," | "*")
                        && !(paren == 0 && *p == ",")
                }
                // Kamailio's `listen_id` may be a quoted string, also after `proto:`
                // (`listen=udp:IP:5060` with `#!define IP "10.0.0.1"`, dev-configs row 33).
                Tk::Str(_) => {
                    paren > 0
                        || text.strip_suffix(':').is_some_and(|p| {
                            crate::listen::PROTOS.contains(&p.to_ascii_lowercase().as_str())
                        })
                }
                _ => false,
            };
            if !ok || (t.is_punct(")") && paren == 0) {
                break;
            }
            if t.is_punct("(") {
                paren += 1;
            } else if t.is_punct(")") {
                paren -= 1;
            }
            match &t.kind {
                Tk::Str(s) => text.push_str(s),
                _ => text.push_str(&t.text),
            }
            if t.is_punct(",") {
                text.push(' ');
            }
            self.pos += 1;
            first = false;
        }
        (text, start.to(self.prev_span()))
    }

    /// One `listen`/`alias` address with its attributes (`advertise`, `name`, `virtual`, `agname`).
    fn listen_value(&mut self, attrs: bool) -> PResult<Listen> {
        let t = self.peek().cloned();
        let (text, span) = match &t {
            Some(Token {
                kind: Tk::Str(s),
                span,
                ..
            }) => {
                self.pos += 1;
                (s.clone(), *span)
            }
            Some(_) => self.joined_run(),
            None => (String::new(), self.eof_span),
        };
        let mut l = parse_listen_text(&text, false, span).map_err(|m| {
            let d = self.err_tok(
                t.as_ref(),
                Error::Semantic(format!("bad listen address `{text}`: {m}")),
            );
            d.with_span(span)
        })?;
        while attrs && self.peek().is_some() {
            if self.at_ident("advertise") {
                self.pos += 1;
                let at = self.peek().cloned();
                let (adv, _) = match &at {
                    Some(Token {
                        kind: Tk::Str(s),
                        span,
                        ..
                    }) => {
                        let r = (s.clone(), *span);
                        self.pos += 1;
                        // `advertise "host":port`
                        if self.at_punct(":") {
                            self.pos += 1;
                            let (p, _) = self.joined_run();
                            (format!("{}:{p}", r.0), r.1)
                        } else {
                            r
                        }
                    }
                    _ => self.joined_run(),
                };
                let adv_span = at
                    .as_ref()
                    .map(|t| t.span)
                    .unwrap_or(self.eof_span)
                    .to(self.prev_span());
                l.advertise = Some(parse_hostport(&adv).map_err(|m| {
                    let d = self.err_tok(
                        at.as_ref(),
                        Error::Semantic(format!("bad advertise address `{adv}`: {m}")),
                    );
                    d.with_span(adv_span)
                })?);
            } else if self.at_ident("name") {
                self.pos += 1;
                l.name = Some(self.expect_string("socket name")?.0);
            } else if self.at_ident("agname") {
                self.pos += 1;
                l.agname = Some(self.expect_string("socket group name")?.0);
            } else if self.at_ident("virtual") {
                self.pos += 1;
                l.virtual_ = true;
            } else {
                break;
            }
        }
        l.span = span.to(self.prev_span());
        Ok(l)
    }

    fn socket_block(&mut self) -> PResult<SocketBlock> {
        let open = self.expect_punct("{")?;
        let mut bind: Option<Listen> = None;
        let mut adv = None;
        let mut name = None;
        let mut agname = None;
        let mut virtual_ = false;
        let mut vrf = None;
        let mut workers = None;
        while !self.at_punct("}") {
            let Some(k) = self.bump() else {
                return Err(self.err_tok(
                    Some(&open),
                    Error::Syntax("unclosed `{` of socket block".into()),
                ));
            };
            if k.is_punct(";") {
                continue;
            }
            self.expect_punct("=")?;
            match k.text.as_str() {
                "bind" => bind = Some(self.listen_value(false)?),
                "advertise" => {
                    let at = self.peek().cloned();
                    let (a, _) = match &at {
                        Some(Token {
                            kind: Tk::Str(s), ..
                        }) => {
                            self.pos += 1;
                            (s.clone(), Span::default())
                        }
                        _ => self.joined_run(),
                    };
                    adv = Some(parse_hostport(&a).map_err(|m| {
                        self.err_tok(
                            at.as_ref(),
                            Error::Semantic(format!("bad advertise address `{a}`: {m}")),
                        )
                    })?);
                }
                "name" => name = Some(self.expect_string("socket name")?.0),
                "agname" => agname = Some(self.expect_string("socket group name")?.0),
                "vrf" => vrf = Some(self.expect_string("VRF name")?.0),
                "virtual" => {
                    let v = self.bump();
                    virtual_ = match v.as_ref().map(|x| (&x.kind, x.text.as_str())) {
                        Some((Tk::Int(i), _)) => *i != 0,
                        Some((Tk::Ident, w)) if params::bool_word(w).is_some() => {
                            params::bool_word(w).unwrap_or(false)
                        }
                        _ => {
                            return Err(self.err_tok(
                                v.as_ref(),
                                Error::Syntax("expected yes/no for `virtual`".into()),
                            ))
                        }
                    };
                }
                "workers" => match self.bump() {
                    Some(Token {
                        kind: Tk::Int(i), ..
                    }) => workers = Some(i),
                    other => {
                        return Err(self.err_tok(
                            other.as_ref(),
                            Error::Syntax("expected a number for `workers`".into()),
                        ))
                    }
                },
                _ => {
                    return Err(self.err_tok(
                        Some(&k),
                        Error::Syntax(format!("unknown socket attribute `{}`", k.text)),
                    ))
                }
            }
            self.opt_semi();
        }
        let close = self.expect_punct("}")?;
        let span = open.span.to(close.span);
        let Some(mut bind) = bind else {
            return Err(self.err_tok(
                Some(&open),
                Error::Syntax("socket block without `bind`".into()),
            ));
        };
        bind.advertise = adv.or(bind.advertise);
        bind.name = name;
        bind.agname = agname;
        bind.virtual_ = virtual_;
        bind.workers = workers;
        Ok(SocketBlock { bind, vrf, span })
    }
}
