//! Expressions (Kamailio's precedence, lowest first: `||` `&&` `|` `&` `^` `<<` `>>`
//! `== != =~ eq ne ieq ine` `< > <= >=` `+ -` `* / mod` unary `! ~ -` `defined` casts), core keywords,
//! unquoted addresses, pseudo-variables with inner names, indexes and transformation chains.

use crate::ast::{Attr, AttrClass, AttrIndex, BinOp, Expr, Pv, Transformation, UnOp};
use crate::diag::Error;
use crate::lexer::{Tk, Token};
use crate::parser::{describe, PResult, Parser};
use crate::span::Span;

/// Core keywords usable as operands (`uri == myself`, `src_ip == 10.0.0.0/8`, `proto == udp` …).
const KEYWORDS: [&str; 24] = [
    "method",
    "uri",
    "status",
    "from_uri",
    "to_uri",
    "src_ip",
    "src_port",
    "dst_ip",
    "dst_port",
    "snd_ip",
    "snd_port",
    "snd_proto",
    "to_proto",
    "snd_af",
    "to_af",
    "to_ip",
    "to_port",
    "proto",
    "af",
    "myself",
    "retcode",
    "max_len",
    "from",
    "to",
];

/// Binding power of `==`, `!=`, `=~`, `eq` … (see [`binop`]).
const COMPARISON_BP: u8 = 8;

fn binop(t: &Token) -> Option<(BinOp, u8)> {
    let op = match &t.kind {
        Tk::Punct(p) => match *p {
            "||" => (BinOp::Or, 1),
            "&&" => (BinOp::And, 2),
            "|" => (BinOp::BitOr, 3),
            "&" => (BinOp::BitAnd, 4),
            "^" => (BinOp::BitXor, 5),
            "<<" => (BinOp::Shl, 6),
            ">>" => (BinOp::Shr, 7),
            "==" => (BinOp::Eq, 8),
            "!=" => (BinOp::Ne, 8),
            "=~" => (BinOp::Match, 8),
            "<" => (BinOp::Lt, 9),
            ">" => (BinOp::Gt, 9),
            "<=" => (BinOp::Le, 9),
            ">=" => (BinOp::Ge, 9),
            "+" => (BinOp::Add, 10),
            "-" => (BinOp::Sub, 10),
            "*" => (BinOp::Mul, 11),
            "/" => (BinOp::Div, 11),
            _ => return None,
        },
        Tk::Ident => match t.text.as_str() {
            "or" => (BinOp::Or, 1),
            "and" => (BinOp::And, 2),
            "eq" => (BinOp::StrEq, 8),
            "ne" => (BinOp::StrNe, 8),
            "ieq" => (BinOp::IntEq, 8),
            "ine" => (BinOp::IntNe, 8),
            "mod" => (BinOp::Mod, 11),
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

/// Statically known type of an expression (Kamailio's parse-time `rve_check_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    Int,
    Str,
    Unknown,
}

/// Finds the first operand whose known type contradicts its operator, as Kamailio does at load:
/// arithmetic, bitwise, logical, ordering and `ieq`/`ine` want integers; `+`, `==`, `!=`, `=~` want the
/// right operand to match an integer left operand; `strlen`/`strempty` want a string.
fn check_types(e: &Expr) -> Result<Ty, (Span, &'static str)> {
    const STR_NOT_INT: &str = "bad expression: type mismatch: str instead of int";
    let want_int = |e: &Expr| -> Result<(), (Span, &'static str)> {
        if check_types(e)? == Ty::Str {
            return Err((e.span(), STR_NOT_INT));
        }
        Ok(())
    };
    Ok(match e {
        Expr::Int(..) => Ty::Int,
        Expr::Str(..) => Ty::Str,
        Expr::Call { args, .. } => {
            for a in args {
                check_types(a)?;
            }
            Ty::Unknown
        }
        Expr::Assign { value, .. } => check_types(value)?,
        Expr::Selval { cond, yes, no, .. } => {
            check_types(cond)?;
            let (a, b) = (check_types(yes)?, check_types(no)?);
            if a == b {
                a
            } else {
                Ty::Unknown
            }
        }
        Expr::Unary { op, expr, .. } => match op {
            UnOp::Not | UnOp::BitNot | UnOp::Neg => {
                want_int(expr)?;
                Ty::Int
            }
            UnOp::Strlen | UnOp::Strempty => {
                if check_types(expr)? == Ty::Int {
                    return Err((
                        expr.span(),
                        "bad expression: type mismatch: int instead of str",
                    ));
                }
                Ty::Int
            }
            UnOp::Defined => {
                check_types(expr)?;
                Ty::Int
            }
            UnOp::IntCast => {
                check_types(expr)?;
                Ty::Int
            }
            UnOp::StrCast => {
                check_types(expr)?;
                Ty::Str
            }
        },
        Expr::Binary {
            op, left, right, ..
        } => match op {
            BinOp::Add | BinOp::Eq | BinOp::Ne | BinOp::Match => {
                let l = check_types(left)?;
                let r = check_types(right)?;
                if l == Ty::Int && r == Ty::Str {
                    return Err((right.span(), STR_NOT_INT));
                }
                if *op == BinOp::Add {
                    l
                } else {
                    Ty::Int
                }
            }
            BinOp::StrEq | BinOp::StrNe => {
                check_types(left)?;
                check_types(right)?;
                Ty::Int
            }
            _ => {
                want_int(left)?;
                want_int(right)?;
                Ty::Int
            }
        },
        _ => Ty::Unknown,
    })
}

impl Parser<'_> {
    /// A full expression, type-checked like Kamailio does when it loads the config.
    pub fn expr(&mut self) -> PResult<Expr> {
        let start = self.peek().cloned();
        let e = self.expr_bp(0)?;
        if let Err((span, msg)) = check_types(&e) {
            let d = self.err_tok(start.as_ref(), Error::Semantic(msg.to_string()));
            return Err(d.with_span(span));
        }
        Ok(e)
    }

    fn expr_bp(&mut self, min: u8) -> PResult<Expr> {
        let mut left = self.unary()?;
        while let Some(t) = self.peek() {
            let Some((op, bp)) = binop(t) else { break };
            if bp <= min {
                break;
            }
            self.pos += 1;
            let right = self.expr_bp(bp)?;
            let span = left.span().to(right.span());
            left = Expr::Binary {
                op,
                left: Box::new(left),
                right: Box::new(right),
                span,
            };
        }
        Ok(left)
    }

    fn unary(&mut self) -> PResult<Expr> {
        self.enter()?;
        let r = self.unary_inner();
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self) -> PResult<Expr> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.syntax("expected an expression".into()));
        };
        let op = if t.is_punct("!") || t.is_ident("not") {
            Some(UnOp::Not)
        } else if t.is_punct("~") {
            Some(UnOp::BitNot)
        } else if t.is_punct("-") {
            Some(UnOp::Neg)
        } else if t.is_ident("defined") {
            Some(UnOp::Defined)
        } else if t.is_punct("(")
            && self.peek_at(2).is_some_and(|c| c.is_punct(")"))
            && self
                .peek_at(1)
                .is_some_and(|c| c.is_ident("int") || c.is_ident("str"))
        {
            let int = self.peek_at(1).is_some_and(|c| c.is_ident("int"));
            self.pos += 2;
            Some(if int { UnOp::IntCast } else { UnOp::StrCast })
        } else {
            None
        };
        let Some(op) = op else {
            return self.primary();
        };
        self.pos += 1;
        // In Kamailio's grammar a core keyword starts a whole comparison (`uri == myself` is one
        // `exp_elem`), so `!uri == myself` negates the comparison, unlike `!$x == 1`, which compares
        // `!$x`. Real configs rely on it (dev-configs rows 08, 11, 24).
        let e = if op == UnOp::Not && self.keyword_ahead() {
            self.enter()?;
            let r = self.expr_bp(COMPARISON_BP - 1);
            self.depth -= 1;
            r?
        } else {
            self.unary()?
        };
        if op == UnOp::Neg {
            if let Expr::Int(i, s) = e {
                return Ok(Expr::Int(-i, t.span.to(s)));
            }
        }
        let span = t.span.to(e.span());
        Ok(Expr::Unary {
            op,
            expr: Box::new(e),
            span,
        })
    }

    /// Whether the next token is a core keyword used as an operand (`uri`, `method`, `msg:len` …).
    fn keyword_ahead(&self) -> bool {
        let Some(t) = self.peek() else { return false };
        if !matches!(t.kind, Tk::Ident) || self.peek_at(1).is_some_and(|n| n.is_punct("(")) {
            return false;
        }
        KEYWORDS.contains(&t.text.as_str())
            || (t.text == "msg" && self.peek_at(1).is_some_and(|n| n.joined && n.is_punct(":")))
    }

    pub fn primary(&mut self) -> PResult<Expr> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.syntax("expected an expression".into()));
        };
        match &t.kind {
            Tk::Str(s) => {
                self.pos += 1;
                Ok(Expr::Str(s.clone(), t.span))
            }
            Tk::Pv => {
                self.pos += 1;
                Ok(Expr::Pv(self.parse_pv_token(&t)?))
            }
            Tk::Attr => Ok(Expr::Pv(self.attr_ref()?)),
            Tk::Select => {
                self.pos += 1;
                Ok(Expr::Select(t.text[1..].to_string(), t.span))
            }
            Tk::Ipv6 => self.address(),
            Tk::Int(i) => {
                let colon_ok = !self.in_case_label;
                if self
                    .peek_at(1)
                    .is_some_and(|n| n.joined && (n.is_punct(".") || (colon_ok && n.is_punct(":"))))
                {
                    return self.address();
                }
                self.pos += 1;
                Ok(Expr::Int(*i, t.span))
            }
            Tk::Punct("(")
                if self
                    .peek_at(1)
                    .is_some_and(|n| matches!(n.kind, Tk::Pv | Tk::Attr | Tk::Select))
                    && self.peek_at(2).is_some_and(|n| n.is_punct("=")) =>
            {
                // `($x = expr)`: an assignment used as a value.
                self.pos += 1;
                let target = self.primary()?;
                self.pos += 1;
                let value = self.expr_bp(0)?;
                self.expect_punct(")")?;
                Ok(Expr::Assign {
                    target: Box::new(target),
                    value: Box::new(value),
                    span: t.span.to(self.prev_span()),
                })
            }
            Tk::Punct("(") => {
                self.pos += 1;
                let e = self.expr_bp(0)?;
                self.expect_punct(")")?;
                Ok(e)
            }
            Tk::Ident => self.ident_expr(&t),
            _ => Err(self.err_tok(
                Some(&t),
                Error::Syntax(format!("expected an expression, found {}", describe(&t))),
            )),
        }
    }

    fn ident_expr(&mut self, t: &Token) -> PResult<Expr> {
        let next = self.peek_at(1).cloned();
        let next_joined = |p: &str| next.as_ref().is_some_and(|n| n.joined && n.is_punct(p));
        if t.text == "msg" && next_joined(":") && self.peek_at(2).is_some_and(|n| n.is_ident("len"))
        {
            self.pos += 3;
            return Ok(Expr::Keyword("msg:len".into(), t.span.to(self.prev_span())));
        }
        if next.as_ref().is_some_and(|n| n.is_punct("(")) {
            return self.call(t);
        }
        if next_joined(".") || (!self.in_case_label && next_joined(":")) {
            return self.address();
        }
        // `ip6-localhost`, `my-host`: Kamailio's `host` rule joins names with `-`; a name that is
        // not a keyword has no other meaning before a joined `-` (`src_port-1` stays arithmetic).
        if next_joined("-")
            && !KEYWORDS.contains(&t.text.as_str())
            && crate::params::bool_word(&t.text).is_none()
            && self
                .peek_at(2)
                .is_some_and(|n| n.joined && matches!(n.kind, Tk::Ident | Tk::Int(_)))
        {
            return self.address();
        }
        self.pos += 1;
        // Kamailio's lexer turns boolean words into numbers everywhere.
        if let Some(b) = crate::params::bool_word(&t.text) {
            return Ok(Expr::Int(i64::from(b), t.span));
        }
        if KEYWORDS.contains(&t.text.as_str()) {
            Ok(Expr::Keyword(t.text.clone(), t.span))
        } else {
            Ok(Expr::Ident(t.text.clone(), t.span))
        }
    }

    fn call(&mut self, t: &Token) -> PResult<Expr> {
        self.pos += 2;
        let mut args = Vec::new();
        if !self.at_punct(")") {
            loop {
                args.push(self.expr()?);
                if self.at_punct(",") {
                    self.pos += 1;
                    continue;
                }
                break;
            }
        }
        self.expect_punct(")")?;
        let span = t.span.to(self.prev_span());
        let name = t.text.clone();
        let one = |args: Vec<Expr>, op: UnOp, p: &Parser| -> PResult<Expr> {
            let mut it = args.into_iter();
            match (it.next(), it.next()) {
                (Some(e), None) => Ok(Expr::Unary {
                    op,
                    expr: Box::new(e),
                    span,
                }),
                _ => Err(p.err_tok(
                    Some(t),
                    Error::Syntax(format!("`{name}` takes exactly one argument")),
                )),
            }
        };
        match t.text.as_str() {
            "strlen" => one(args, UnOp::Strlen, self),
            "strempty" => one(args, UnOp::Strempty, self),
            "selval" => {
                let mut it = args.into_iter();
                match (it.next(), it.next(), it.next(), it.next()) {
                    (Some(c), Some(a), Some(b), None) => Ok(Expr::Selval {
                        cond: Box::new(c),
                        yes: Box::new(a),
                        no: Box::new(b),
                        span,
                    }),
                    _ => Err(self.err_tok(
                        Some(t),
                        Error::Syntax("`selval` takes exactly three arguments".into()),
                    )),
                }
            }
            _ => Ok(Expr::Call { name, args, span }),
        }
    }

    /// An unquoted address (`1.2.3.4`, `sip.example.com`, `udp:host:5060`, `[::1]`, `uri:host`),
    /// with an optional `/mask` for networks.
    fn address(&mut self) -> PResult<Expr> {
        let (text, span) = self.joined_run();
        let mut mask = None;
        if self.at_punct("/")
            && self.peek().is_some_and(|t| t.joined)
            && (text.contains('.') || text.contains(':'))
        {
            if let Some(Tk::Int(m)) = self.peek_at(1).map(|t| t.kind.clone()) {
                let max = if text.contains('.') && !text.starts_with('[') {
                    32
                } else {
                    128
                };
                if !(0..=max).contains(&m) {
                    let t = self.peek_at(1).cloned();
                    return Err(self.err_tok(
                        t.as_ref(),
                        Error::Semantic(format!("bad network mask `/{m}`")),
                    ));
                }
                mask = Some(m as u8);
                self.pos += 2;
            }
        }
        Ok(Expr::Addr {
            text,
            mask,
            span: span.to(self.prev_span()),
        })
    }

    /// An attribute token and its optional index (`[n]`, `[-n]`, `[]`), which Kamailio's grammar
    /// takes as separate tokens (blanks allowed between them).
    pub fn attr_ref(&mut self) -> PResult<Pv> {
        let Some(t) = self.peek().cloned() else {
            return Err(self.syntax("expected an attribute".into()));
        };
        self.pos += 1;
        // The lexer checked the shape: mark, then `name` or `class.name`.
        let body = t.text[1..].trim_start_matches([' ', '\t']);
        let (class, name) = match body.split_once('.') {
            Some((c, n)) => (AttrClass::from_prefix(c).unwrap_or(AttrClass::None), n),
            None => (AttrClass::None, body),
        };
        let mut index = AttrIndex::None;
        let mut span = t.span;
        if self.peek().is_some_and(|n| n.is_punct("[")) {
            self.pos += 1;
            index = if self.peek().is_some_and(|n| n.is_punct("]")) {
                AttrIndex::All
            } else {
                let neg = self.peek().is_some_and(|n| n.is_punct("-"));
                if neg {
                    self.pos += 1;
                }
                match self.peek().map(|n| n.kind.clone()) {
                    Some(Tk::Int(i)) => {
                        self.pos += 1;
                        AttrIndex::At(if neg { -i } else { i })
                    }
                    _ => {
                        return Err(self.syntax(format!(
                            "bad index of attribute `{}`: expected `[number]`, `[-number]` or `[]`",
                            t.text
                        )))
                    }
                }
            };
            span = span.to(self.expect_punct("]")?.span);
        }
        let text = match index {
            AttrIndex::None => t.text.clone(),
            AttrIndex::All => format!("{}[]", t.text),
            AttrIndex::At(i) => format!("{}[{i}]", t.text),
        };
        Ok(Pv {
            text,
            name: "avp".into(),
            inner: Some(body.to_string()),
            index: None,
            transformations: Vec::new(),
            span,
            attr: Some(Attr {
                class,
                name: name.to_string(),
                index,
            }),
        })
    }

    pub fn parse_pv_token(&self, t: &Token) -> PResult<Pv> {
        parse_pv(&t.text)
            .map_err(|m| self.err_tok(Some(t), Error::Semantic(m)))
            .map(|mut p| {
                p.span = t.span;
                p
            })
    }
}

/// Parses a PV's text: `$?`, `$name`, `$name(inner)`, `$(name(inner)[index]{tr}…)`.
pub(crate) fn parse_pv(text: &str) -> Result<Pv, String> {
    let bad = |why: &str| format!("bad pseudo-variable `{text}`: {why}");
    let body = text.strip_prefix('$').ok_or_else(|| bad("missing `$`"))?;
    let mut pv = Pv {
        text: text.to_string(),
        name: String::new(),
        inner: None,
        index: None,
        transformations: Vec::new(),
        span: Default::default(),
        attr: None,
    };
    if body == "?" {
        pv.name = "?".into();
        return Ok(pv);
    }
    let (inside, full) = match body.strip_prefix('(') {
        Some(r) => (r.strip_suffix(')').ok_or_else(|| bad("missing `)`"))?, true),
        None => (body, false),
    };
    let b = inside.as_bytes();
    let mut i = 0;
    while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] == b'.') {
        i += 1;
    }
    if i == 0 {
        return Err(bad("missing name"));
    }
    pv.name = inside[..i].to_string();
    if b.get(i) == Some(&b'(') {
        let close = matching(inside, i, b'(', b')').ok_or_else(|| bad("unbalanced `(`"))?;
        pv.inner = Some(inside[i + 1..close].to_string());
        i = close + 1;
    }
    if !full {
        if i != b.len() {
            return Err(bad("unexpected text after the name"));
        }
        return Ok(pv);
    }
    if b.get(i) == Some(&b'[') {
        let close = matching(inside, i, b'[', b']').ok_or_else(|| bad("unbalanced `[`"))?;
        let idx = &inside[i + 1..close];
        if idx.is_empty() {
            return Err(bad("empty index"));
        }
        pv.index = Some(idx.to_string());
        i = close + 1;
    }
    while i < b.len() {
        // Kamailio tolerates blanks after a transformation (`$(ru{s.len} )`).
        if b[i] == b' ' || b[i] == b'\t' {
            i += 1;
            continue;
        }
        if b[i] != b'{' {
            return Err(format!(
                "bad transformation syntax in `{text}`: expected `{{class.name…}}`, found `{}`",
                &inside[i..]
            ));
        }
        let close = matching(inside, i, b'{', b'}')
            .ok_or_else(|| format!("bad transformation syntax in `{text}`: unclosed `{{`"))?;
        pv.transformations.push(
            parse_transformation(&inside[i + 1..close])
                .map_err(|m| format!("bad transformation syntax in `{text}`: {m}"))?,
        );
        i = close + 1;
    }
    Ok(pv)
}

fn matching(s: &str, open_at: usize, open: u8, close: u8) -> Option<usize> {
    let mut depth = 0usize;
    for (j, &c) in s.as_bytes().iter().enumerate().skip(open_at) {
        if c == open {
            depth += 1;
        } else if c == close {
            depth -= 1;
            if depth == 0 {
                return Some(j);
            }
        }
    }
    None
}

fn parse_transformation(t: &str) -> Result<Transformation, String> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in t.chars() {
        match c {
            '{' | '(' => depth += 1,
            '}' | ')' => depth -= 1,
            _ => {}
        }
        if c == ',' && depth == 0 {
            parts.push(std::mem::take(&mut cur));
        } else {
            cur.push(c);
        }
    }
    parts.push(cur);
    // Trailing blanks after the name are accepted (`{s.len }`), leading ones are not.
    let head = parts.remove(0);
    let head = head.trim_end();
    let Some((class, name)) = head.split_once('.') else {
        return Err(format!("`{{{t}}}` is not `{{class.name}}`"));
    };
    let ok_class = !class.is_empty()
        && class
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_');
    let ok_name = !name.is_empty()
        && name
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'.');
    if !ok_class || !ok_name {
        return Err(format!("`{{{t}}}` is not `{{class.name}}`"));
    }
    Ok(Transformation {
        class: class.to_string(),
        name: name.to_string(),
        params: parts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pvs() {
        let cases = [
            ("$?", Ok(("?", None, None, 0))),
            ("$rU", Ok(("rU", None, None, 0))),
            ("$var(x)", Ok(("var", Some("x"), None, 0))),
            ("$sht(ipban=>$si)", Ok(("sht", Some("ipban=>$si"), None, 0))),
            (
                "$(avp(x)[*]{s.len}{s.int})",
                Ok(("avp", Some("x"), Some("*"), 2)),
            ),
            ("$(ru{s.len})", Ok(("ru", None, None, 1))),
            (
                "$(hdr(X){s.select,1,;}{s.substr,$var(a),2})",
                Ok(("hdr", Some("X"), None, 2)),
            ),
            ("$T_branch_idx", Ok(("T_branch_idx", None, None, 0))),
            ("$(ru{s.len)", Err(())),
            ("$(ru{len})", Err(())),
            ("$(ru x)", Err(())),
            ("$(avp(x)[])", Err(())),
            ("$(ru{s.len })", Ok(("ru", None, None, 1))),
            ("$(ru{s.len} )", Ok(("ru", None, None, 1))),
            ("$(ru{ s.len})", Err(())),
            ("$(ru{s.len}{})", Err(())),
        ];
        for (t, want) in cases {
            let got = parse_pv(t).map(|p| (p.name, p.inner, p.index, p.transformations.len()));
            match want {
                Ok((n, i, x, k)) => assert_eq!(
                    got,
                    Ok((
                        n.to_string(),
                        i.map(str::to_string),
                        x.map(str::to_string),
                        k
                    )),
                    "{t}"
                ),
                Err(()) => assert!(got.is_err(), "{t}: {got:?}"),
            }
        }
        let p = parse_pv("$(hdr(X){s.select,1,;})").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(p.transformations[0].params, ["1", ";"]);
    }
}

#[cfg(test)]
mod parse_tests {
    use crate::ast::{Expr, Stmt};
    use crate::{load_text, Host, LoadOptions};

    struct NoFiles;
    impl Host for NoFiles {
        fn read_file(&self, _: &str) -> std::io::Result<Vec<u8>> {
            Err(std::io::Error::new(std::io::ErrorKind::NotFound, "none"))
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }

    /// S-expression view of an expression, for compact expectations.
    fn sx(e: &Expr) -> String {
        match e {
            Expr::Int(i, _) => i.to_string(),
            Expr::Str(s, _) => format!("{s:?}"),
            Expr::Pv(p) => p.text.clone(),
            Expr::Select(s, _) => format!("@{s}"),
            Expr::Keyword(k, _) => format!("kw:{k}"),
            Expr::Ident(i, _) => format!("id:{i}"),
            Expr::Addr { text, mask, .. } => match mask {
                Some(m) => format!("addr:{text}/{m}"),
                None => format!("addr:{text}"),
            },
            Expr::Call { name, args, .. } => {
                format!(
                    "{name}({})",
                    args.iter().map(sx).collect::<Vec<_>>().join(", ")
                )
            }
            Expr::Unary { op, expr, .. } => format!("({op:?} {})", sx(expr)),
            Expr::Binary {
                op, left, right, ..
            } => format!("({op:?} {} {})", sx(left), sx(right)),
            Expr::Selval { cond, yes, no, .. } => {
                format!("(selval {} {} {})", sx(cond), sx(yes), sx(no))
            }
            Expr::Assign { target, value, .. } => format!("(= {} {})", sx(target), sx(value)),
        }
    }

    fn cond_of(src: &str) -> String {
        let text = format!("request_route {{\n if ({src}) {{ exit; }}\n}}\n");
        let l = load_text("t.cfg", text, &LoadOptions::default(), &NoFiles)
            .unwrap_or_else(|f| panic!("{src}: {}", f.render()));
        let r = l
            .config
            .routes()
            .next()
            .map(|r| r.body.clone())
            .unwrap_or_default();
        match r.first() {
            Some(Stmt::If { cond, .. }) => sx(cond),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn precedence_and_forms() {
        let cases = [
            ("1 + 2 * 3", "(Add 1 (Mul 2 3))"),
            ("$a || $b && $c", "(Or $a (And $b $c))"),
            ("$a | $b & $c ^ $d", "(BitOr $a (BitAnd $b (BitXor $c $d)))"),
            ("$a == 1 + 2", "(Eq $a (Add 1 2))"),
            ("$a < 2 == 1", "(Eq (Lt $a 2) 1)"),
            ("!is_method(\"INVITE\")", "(Not is_method(\"INVITE\"))"),
            ("uri==myself", "(Eq kw:uri kw:myself)"),
            // A keyword starts a whole comparison, so `!` negates it (Kamailio's grammar).
            ("!uri == myself", "(Not (Eq kw:uri kw:myself))"),
            (
                "! uri=~\"sip:.*\" && $x",
                "(And (Not (Match kw:uri \"sip:.*\")) $x)",
            ),
            ("!$x == 1", "(Eq (Not $x) 1)"),
            ("src_ip==10.0.0.0/8", "(Eq kw:src_ip addr:10.0.0.0/8)"),
            ("src_ip!=127.0.0.1", "(Ne kw:src_ip addr:127.0.0.1)"),
            ("dst_ip==[::1]", "(Eq kw:dst_ip addr:[::1])"),
            ("msg:len > 2048", "(Gt kw:msg:len 2048)"),
            ("$rU =~ \"^[0-9]+$\"", "(Match $rU \"^[0-9]+$\")"),
            ("$x mod 2 eq \"1\"", "(StrEq (Mod $x 2) \"1\")"),
            ("(int)$x ieq 3", "(IntEq (IntCast $x) 3)"),
            (
                "defined $avp(x) and not strempty($v)",
                "(And (Defined $avp(x)) (Not (Strempty $v)))",
            ),
            ("strlen($ru) > 10", "(Gt (Strlen $ru) 10)"),
            ("selval($x, 1, 2) == -1", "(Eq (selval $x 1 2) -1)"),
            ("$(ru{s.len}) > 512", "(Gt $(ru{s.len}) 512)"),
            (
                "@cfg_get.pstn.gw_ip != \"\"",
                "(Ne @cfg_get.pstn.gw_ip \"\")",
            ),
            ("proto == UDP", "(Eq kw:proto id:UDP)"),
            ("$? == 1", "(Eq $? 1)"),
            ("~$a << 1 >> 2", "(Shl (BitNot $a) (Shr 1 2))"),
            ("0x10 + 010 + 101b", "(Add (Add 16 8) 5)"),
            (
                "($var(n) = $var(n) + 1) > 3",
                "(Gt (= $var(n) (Add $var(n) 1)) 3)",
            ),
            ("$var(x) = 1", "(= $var(x) 1)"),
        ];
        for (src, want) in cases {
            assert_eq!(cond_of(src), want, "{src}");
        }
    }
}
