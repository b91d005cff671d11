//! Statements and blocks: `if`/`else`, `switch`, `while`, `break`, `return`/`exit`/`drop`,
//! `route(…)`, assignments and function calls, with recovery at the next statement.

use crate::ast::*;
use crate::diag::{Diagnostic, Error};
use crate::lexer::Tk;
use crate::parser::{describe, PResult, Parser, BARE_ACTIONS, ROUTE_KEYWORDS};
use crate::span::Span;

enum Const {
    Int(i64),
    Str(String),
}

/// Folds a constant case label (numbers, strings and operators on them).
fn const_value(e: &Expr) -> Option<Const> {
    match e {
        Expr::Int(i, _) => Some(Const::Int(*i)),
        Expr::Str(s, _) => Some(Const::Str(s.clone())),
        Expr::Unary { op, expr, .. } => match (op, const_value(expr)?) {
            (UnOp::Neg, Const::Int(i)) => Some(Const::Int(i.wrapping_neg())),
            (UnOp::BitNot, Const::Int(i)) => Some(Const::Int(!i)),
            (UnOp::Not, Const::Int(i)) => Some(Const::Int(i64::from(i == 0))),
            (UnOp::IntCast, Const::Int(i)) => Some(Const::Int(i)),
            (UnOp::IntCast, Const::Str(s)) => Some(Const::Int(s.trim().parse().unwrap_or(0))),
            (UnOp::StrCast, Const::Int(i)) => Some(Const::Str(i.to_string())),
            (UnOp::StrCast, Const::Str(s)) => Some(Const::Str(s)),
            (UnOp::Strlen, Const::Str(s)) => Some(Const::Int(s.len() as i64)),
            _ => None,
        },
        Expr::Binary {
            op, left, right, ..
        } => {
            let (l, r) = (const_value(left)?, const_value(right)?);
            match (op, l, r) {
                (BinOp::Add, Const::Str(a), Const::Str(b)) => Some(Const::Str(a + &b)),
                (BinOp::Add, Const::Str(a), Const::Int(b)) => Some(Const::Str(format!("{a}{b}"))),
                (op, Const::Int(a), Const::Int(b)) => Some(Const::Int(match op {
                    BinOp::Add => a.wrapping_add(b),
                    BinOp::Sub => a.wrapping_sub(b),
                    BinOp::Mul => a.wrapping_mul(b),
                    BinOp::Div => a.checked_div(b)?,
                    BinOp::Mod => a.checked_rem(b)?,
                    BinOp::BitOr => a | b,
                    BinOp::BitAnd => a & b,
                    BinOp::BitXor => a ^ b,
                    BinOp::Shl => a.checked_shl(u32::try_from(b).ok()?)?,
                    BinOp::Shr => a.checked_shr(u32::try_from(b).ok()?)?,
                    _ => return None,
                })),
                _ => None,
            }
        }
        _ => None,
    }
}

impl Parser<'_> {
    /// `{ stmt* }`, recovering from errors inside.
    pub fn block(&mut self) -> PResult<Vec<Stmt>> {
        self.enter()?;
        let r = self.block_inner();
        self.depth -= 1;
        r
    }

    fn block_inner(&mut self) -> PResult<Vec<Stmt>> {
        let open = self.expect_punct("{")?;
        if self.at_punct("}") {
            // Kamailio's grammar has no empty block (`{ ; }` is fine: it holds an empty statement).
            // Reported at the `}` as Kamailio does (its parser fails on that token).
            let close = self.peek().cloned();
            return Err(self
                .err_tok(
                    close.as_ref(),
                    Error::Syntax(
                        "empty block `{}`: write at least one statement (`;` will do)".into(),
                    ),
                )
                .with_note(Some(open.span), "the block opens here"));
        }
        let mut body = Vec::new();
        loop {
            if self.too_many_errors() {
                return Ok(body);
            }
            match self.peek() {
                // Kamailio notices a missing `}` where the text stops making sense (the end of
                // file, the next route keyword) and reports that line; the opening brace is a note.
                None => {
                    // Kamailio counts the end of a file ending in a newline on its last line.
                    let mut at = self.eof_span;
                    let text = self.sources.text(at.file);
                    if at.begin > 0 && text.as_bytes().get(at.begin as usize - 1) == Some(&b'\n') {
                        at = Span::new(at.file, at.begin as usize - 1, at.begin as usize - 1);
                    }
                    return Err(Diagnostic::error(
                        Error::Syntax("unclosed `{`: missing `}` before end of file".into()),
                        Some(at),
                    )
                    .with_note(Some(open.span), "the block opens here"));
                }
                Some(t) if t.is_punct("}") => {
                    self.pos += 1;
                    return Ok(body);
                }
                Some(t)
                    if t.kind == Tk::Ident
                        && ROUTE_KEYWORDS.contains(&t.text.as_str())
                        && self.newline_before(self.pos)
                        && self.looks_like_route_start() =>
                {
                    // A route block starting inside a block: the `}` is missing.
                    let at = t.clone();
                    return Err(self
                        .err_tok(
                            Some(&at),
                            Error::Syntax(
                                "unclosed `{`: missing `}` before the next route block".into(),
                            ),
                        )
                        .with_note(Some(open.span), "the block opens here"));
                }
                _ => {}
            }
            self.stmt_or_recover(&mut body);
        }
    }

    /// Parses one statement into `body`; on error records it and skips ahead, always making
    /// progress so a recovery point that is also an error cannot loop.
    fn stmt_or_recover(&mut self, body: &mut Vec<Stmt>) {
        let before = self.pos;
        match self.stmt() {
            Ok(Some(s)) => body.push(s),
            Ok(None) => {}
            Err(d) => {
                self.push_diag(d);
                self.recover_stmt();
                if self.pos == before && !self.at_route_start() {
                    self.pos += 1;
                }
            }
        }
    }

    /// A route keyword starting a line and followed by `{` or `[…] {`.
    fn at_route_start(&self) -> bool {
        self.peek().is_some_and(|t| {
            t.kind == Tk::Ident
                && ROUTE_KEYWORDS.contains(&t.text.as_str())
                && self.newline_before(self.pos)
        }) && self.looks_like_route_start()
    }

    pub(crate) fn looks_like_route_start(&self) -> bool {
        match self.peek_at(1) {
            Some(n) if n.is_punct("{") => true,
            Some(n) if n.is_punct("[") => self.toks[self.pos..]
                .iter()
                .take(8)
                .skip_while(|x| !x.is_punct("]"))
                .nth(1)
                .is_some_and(|x| x.is_punct("{")),
            _ => false,
        }
    }

    /// Skips to the end of the current statement (`;`), or to the `}` closing the current block
    /// (not consumed).
    fn recover_stmt(&mut self) {
        let mut depth = 0i32;
        while let Some(t) = self.peek() {
            if t.is_punct("{") {
                depth += 1;
            } else if t.is_punct("}") {
                if depth == 0 {
                    return;
                }
                depth -= 1;
                if depth == 0 {
                    self.pos += 1;
                    return;
                }
            } else if t.is_punct(";") && depth == 0 {
                self.pos += 1;
                return;
            } else if depth == 0
                && t.kind == Tk::Ident
                && ROUTE_KEYWORDS.contains(&t.text.as_str())
                && self.newline_before(self.pos)
                && self.looks_like_route_start()
            {
                return;
            }
            self.pos += 1;
        }
    }

    /// A statement or a `{}` block used as a statement body.
    fn body(&mut self) -> PResult<Vec<Stmt>> {
        if self.at_punct("{") {
            return self.block();
        }
        Ok(self.stmt()?.into_iter().collect())
    }

    pub fn stmt(&mut self) -> PResult<Option<Stmt>> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.syntax("expected a statement".into()));
        };
        if t.is_punct(";") {
            self.pos += 1;
            return Ok(None);
        }
        if t.is_punct("{") {
            // Kamailio has no free-standing blocks; `{` only follows if/else/while/switch.
            return Err(self.err_tok(
                Some(&t),
                Error::Syntax(
                    "unexpected `{`: a block must follow if, else, while or switch".into(),
                ),
            ));
        }
        if t.kind == Tk::Ident {
            match t.text.as_str() {
                "if" => {
                    self.pos += 1;
                    let cond = self.expr()?;
                    let then = self.body()?;
                    let otherwise = if self.at_ident("else") {
                        self.pos += 1;
                        Some(self.body()?)
                    } else {
                        None
                    };
                    return Ok(Some(Stmt::If {
                        cond,
                        then,
                        otherwise,
                        span: t.span.to(self.prev_span()),
                    }));
                }
                "else" => {
                    return Err(self.err_tok(Some(&t), Error::Syntax("`else` without `if`".into())))
                }
                "while" => {
                    self.pos += 1;
                    let cond = self.expr()?;
                    let body = self.body()?;
                    return Ok(Some(Stmt::While {
                        cond,
                        body,
                        span: t.span.to(self.prev_span()),
                    }));
                }
                "switch" => return self.switch().map(Some),
                "break" => {
                    self.pos += 1;
                    self.expect_semi()?;
                    return Ok(Some(Stmt::Break(t.span)));
                }
                "return" | "exit" | "drop" => {
                    self.pos += 1;
                    let empty_parens =
                        self.at_punct("(") && self.peek_at(1).is_some_and(|n| n.is_punct(")"));
                    if empty_parens {
                        // `drop();`, `exit();`, `return();`
                        self.pos += 2;
                    }
                    let v = if empty_parens || self.at_punct(";") || self.at_punct("}") {
                        None
                    } else {
                        Some(self.expr()?)
                    };
                    self.expect_semi()?;
                    let span = t.span.to(self.prev_span());
                    return Ok(Some(match t.text.as_str() {
                        "return" => Stmt::Return(v, span),
                        "exit" => Stmt::Exit(v, span),
                        _ => Stmt::Drop(v, span),
                    }));
                }
                "route" if self.peek_at(1).is_some_and(|n| n.is_punct("(")) => {
                    self.pos += 2;
                    let target = self.expr()?;
                    self.expect_punct(")")?;
                    self.expect_semi()?;
                    return Ok(Some(Stmt::Route {
                        target,
                        span: t.span.to(self.prev_span()),
                    }));
                }
                _ => {}
            }
        }
        if t.kind == Tk::Attr {
            // `$x = …` / `$x[] = …`; the index is part of the target, so parse it first.
            let save = self.pos;
            let target = self.attr_ref()?;
            if self.peek().is_some_and(|n| n.is_punct("+=")) {
                return Err(self.syntax("`+=` is not supported: write `$x = $x + …`".into()));
            }
            if self.peek().is_some_and(|n| n.is_punct("=")) {
                if let Some(Attr {
                    index: AttrIndex::At(_),
                    ..
                }) = target.attr
                {
                    return Err(self.err_tok(
                        Some(&t),
                        Error::Syntax(format!(
                            "an attribute with a position (`{}`) cannot be assigned: use `{}` or `{}[]`",
                            target.text, t.text, t.text
                        )),
                    ));
                }
                self.pos += 1;
                let value = self.expr()?;
                self.expect_semi()?;
                return Ok(Some(Stmt::Assign {
                    target: Expr::Pv(target),
                    value,
                    span: t.span.to(self.prev_span()),
                }));
            }
            self.pos = save;
        }
        if matches!(t.kind, Tk::Pv | Tk::Select) {
            if let Some(n) = self.peek_at(1) {
                if n.is_punct("+=") {
                    let n = n.clone();
                    return Err(self.err_tok(
                        Some(&n),
                        Error::Syntax("`+=` is not supported: write `$x = $x + …`".into()),
                    ));
                }
                if n.is_punct("=") {
                    let target = self.primary()?;
                    if let Expr::Pv(pv) = &target {
                        if !pv.transformations.is_empty() {
                            return Err(self.err_tok(
                                Some(&t),
                                Error::Syntax(
                                    "a pseudo-variable with transformations cannot be assigned"
                                        .into(),
                                ),
                            ));
                        }
                        if matches!(pv.name.as_str(), "?" | "rc" | "retcode") {
                            return Err(self.err_tok(
                                Some(&t),
                                Error::Syntax(format!("`{}` is read-only", pv.text)),
                            ));
                        }
                    }
                    self.pos += 1;
                    let value = self.expr()?;
                    self.expect_semi()?;
                    return Ok(Some(Stmt::Assign {
                        target,
                        value,
                        span: t.span.to(self.prev_span()),
                    }));
                }
            }
        }
        // A statement is a function call (`name(args…);`) or a core action usable bare.
        if t.kind != Tk::Ident {
            return Err(self.err_tok(
                Some(&t),
                Error::Syntax(format!("expected a statement, found {}", describe(&t))),
            ));
        }
        let e = if self.peek_at(1).is_some_and(|n| n.is_punct("(")) {
            match self.primary()? {
                e @ Expr::Call { .. } => e,
                _ => {
                    return Err(self.err_tok(
                        Some(&t),
                        Error::Syntax(format!(
                            "expected a statement, found the expression `{}(…)`",
                            t.text
                        )),
                    ))
                }
            }
        } else if BARE_ACTIONS.contains(&t.text.as_str()) {
            self.pos += 1;
            Expr::Call {
                name: t.text.clone(),
                args: Vec::new(),
                span: t.span,
            }
        } else {
            return Err(self.err_tok(
                Some(&t),
                Error::Syntax(format!(
                    "`(` `)` expected after `{}` (function call)",
                    t.text
                )),
            ));
        };
        self.expect_semi()?;
        Ok(Some(Stmt::Expr(e)))
    }

    fn switch(&mut self) -> PResult<Stmt> {
        let kw = self
            .bump()
            .ok_or_else(|| self.syntax("expected `switch`".into()))?;
        let subject = self.expr()?;
        self.expect_punct("{")?;
        let mut cases: Vec<Case> = Vec::new();
        loop {
            let Some(t) = self.peek().cloned() else {
                return Err(self.err_tok(
                    Some(&kw),
                    Error::Syntax("unclosed `switch` block: missing `}`".into()),
                ));
            };
            if t.is_punct("}") {
                self.pos += 1;
                break;
            }
            let label = if t.is_ident("case") {
                self.pos += 1;
                match self.case_label() {
                    Ok(l) => Some(l),
                    Err(d) => {
                        // Keep parsing the switch: skip the bad label up to its `:`.
                        self.push_diag(d);
                        while self
                            .peek()
                            .is_some_and(|x| !x.is_punct(":") && !x.is_punct("}"))
                        {
                            self.pos += 1;
                        }
                        None
                    }
                }
            } else if t.is_ident("default") {
                self.pos += 1;
                if cases.iter().any(|c| c.label == CaseLabel::Default) {
                    self.push_diag(self.err_tok(
                        Some(&t),
                        Error::Syntax("bad switch: more than one `default:` label".into()),
                    ));
                }
                Some(CaseLabel::Default)
            } else {
                return Err(self.syntax(format!(
                    "expected `case`, `default` or `}}` in switch, found {}",
                    describe(&t)
                )));
            };
            self.expect_punct(":")?;
            let mut body = Vec::new();
            while !(self.at_ident("case") || self.at_ident("default") || self.at_punct("}")) {
                if self.peek().is_none() {
                    break;
                }
                if self.at_route_start() {
                    // The switch's `}` is missing; let the enclosing block report it.
                    break;
                }
                self.stmt_or_recover(&mut body);
            }
            // A case whose label was reported as bad is dropped (its body was still checked).
            if let Some(label) = label {
                cases.push(Case {
                    label,
                    body,
                    span: t.span.to(self.prev_span()),
                });
            }
        }
        Ok(Stmt::Switch {
            subject,
            cases,
            span: kw.span.to(self.prev_span()),
        })
    }

    fn case_label(&mut self) -> PResult<CaseLabel> {
        if self.at_punct("/") {
            self.pos += 1;
            let (re, _) = self.expect_string("regular expression")?;
            return Ok(CaseLabel::Regex(re));
        }
        // A constant expression (`case 1:`, `case -1:`, `case "a" + "b":`, `case (2):`); `:` ends it.
        let t = self.peek().cloned();
        self.in_case_label = true;
        let e = self.expr();
        self.in_case_label = false;
        let e = e?;
        match const_value(&e) {
            Some(Const::Int(i)) => Ok(CaseLabel::Int(i)),
            Some(Const::Str(s)) => Ok(CaseLabel::Str(s)),
            None => Err(self
                .err_tok(
                    t.as_ref(),
                    Error::Syntax(
                        "constant expected after `case` (a number, a string or `/\"regex\"`)"
                            .into(),
                    ),
                )
                .with_span(e.span())),
        }
    }
}
