//! The compiler: AST → [`crate::Program`]. Resolves every function (by name and arity), variable,
//! flag, route and regex at load; refuses unknown names, wrong arity, functions in route types that
//! do not allow them and not-implemented features, each with file:line:col; warns on `route(X)` for
//! an undefined X; folds constant expressions.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use ferrosip_api::export::{Arg, FnExport, ParamKind, RouteKindRef};
use ferrosip_api::pv::PvRef;
use ferrosip_api::{posix, PvSpec, Registry, RouteMask, RouteType, Value};
use ferrosip_config::ast::{self, BinOp, CaseLabel, RouteKind, UnOp};
use ferrosip_config::{Diagnostic, Error as CfgError, Span};

use crate::eval::DynExpr;
use crate::ir::{
    int_op, unary_op, value_op, Action, At, Call, ElemRhs, Expr, Kw, MatchRhs, Op, Route,
    RouteTarget, Stmt, StrCase, Un,
};
use crate::{CompileOptions, Program, RunOptions};

mod at;
mod attr;
mod typeck;

/// Where a call site sits, for the route-type check done once all routes are known.
struct Site {
    route: usize,
    name: &'static str,
    mask: RouteMask,
    span: Span,
}

struct Compiler<'a> {
    reg: &'a Registry,
    opts: &'a CompileOptions,
    run: RunOptions,
    errors: Vec<Diagnostic>,
    warnings: Vec<Diagnostic>,
    flags: HashMap<String, u32>,
    avpflags: HashMap<String, u32>,
    routes: Vec<Route>,
    keys: HashMap<(u8, String), usize>,
    sites: Vec<Site>,
    cur: usize,
}

/// Functions of the core's table: Kamailio's core actions, which leave `$rc` alone.
fn is_core(module: &str) -> bool {
    module == "core"
}

fn err(msg: impl Into<String>, span: Span) -> Diagnostic {
    Diagnostic::error(CfgError::Semantic(msg.into()), Some(span))
}

fn kind_code(k: RouteKind) -> u8 {
    match k {
        RouteKind::Request => 0,
        RouteKind::Route => 1,
        RouteKind::Branch => 2,
        RouteKind::Failure => 3,
        RouteKind::Reply => 4,
        RouteKind::OnReply => 5,
        RouteKind::OnSend => 6,
        RouteKind::Event => 7,
    }
}

fn ref_code(k: RouteKindRef) -> u8 {
    match k {
        RouteKindRef::Route => 1,
        RouteKindRef::Branch => 2,
        RouteKindRef::Failure => 3,
        RouteKindRef::OnReply => 5,
        RouteKindRef::Event => 7,
    }
}

fn route_type(k: RouteKind) -> RouteType {
    match k {
        RouteKind::Request | RouteKind::Route => RouteType::Request,
        RouteKind::Branch => RouteType::Branch,
        RouteKind::Failure => RouteType::Failure,
        RouteKind::Reply => RouteType::CoreOnReply,
        RouteKind::OnReply => RouteType::TmOnReply,
        RouteKind::OnSend => RouteType::OnSend,
        RouteKind::Event => RouteType::Event,
    }
}

/// Compiles a parsed config.
pub(crate) fn compile(
    config: &ast::Config,
    reg: &Registry,
    opts: &CompileOptions,
) -> Result<Program, Vec<Diagnostic>> {
    let mut run = RunOptions::default();
    for (name, v) in config.global_params() {
        match (name, v.as_int()) {
            ("return_mode", Some(i)) => run.return_mode = i,
            ("max_while_loops", Some(i)) => run.max_while_loops = i,
            ("max_recursive_level", Some(i)) => {
                run.max_recursive_level = u32::try_from(i.max(1)).unwrap_or(u32::MAX)
            }
            _ => {}
        }
    }
    let mut c = Compiler {
        reg,
        opts,
        run,
        errors: Vec::new(),
        warnings: Vec::new(),
        flags: HashMap::new(),
        avpflags: HashMap::new(),
        routes: Vec::new(),
        keys: HashMap::new(),
        sites: Vec::new(),
        cur: 0,
    };
    for item in &config.items {
        match item {
            ast::Item::Flags(d) => c.declare_flags(d, false),
            ast::Item::AvpFlags(d) => c.declare_flags(d, true),
            _ => {}
        }
    }
    // Pass 1: every route block gets its slot, so calls can refer to blocks defined later.
    let blocks: Vec<&ast::RouteBlock> = config.routes().collect();
    for b in &blocks {
        let name = match b.kind {
            RouteKind::Request | RouteKind::Reply | RouteKind::OnSend => String::new(),
            _ => b.name.clone().unwrap_or_default(),
        };
        let key = (kind_code(b.kind), name.clone());
        if c.keys.contains_key(&key) {
            c.errors.push(err(
                format!(
                    "duplicate {} block{}",
                    b.keyword,
                    if name.is_empty() {
                        String::new()
                    } else {
                        format!(" `{name}`")
                    }
                ),
                b.span,
            ));
            continue;
        }
        if b.kind == RouteKind::Event && !reg.has_event_route(&name) && !name.starts_with("core:") {
            c.warnings.push(Diagnostic::warning(
                CfgError::Semantic(format!(
                    "event_route[{name}] is not run by any loaded module"
                )),
                Some(b.span),
            ));
        }
        c.keys.insert(key, c.routes.len());
        c.routes.push(Route {
            name,
            kind: route_type(b.kind),
            body: Arc::new(Vec::new()),
        });
    }
    // Pass 2: bodies.
    let mut done = vec![false; c.routes.len()];
    for b in &blocks {
        let name = match b.kind {
            RouteKind::Request | RouteKind::Reply | RouteKind::OnSend => String::new(),
            _ => b.name.clone().unwrap_or_default(),
        };
        let Some(&idx) = c.keys.get(&(kind_code(b.kind), name)) else {
            continue;
        };
        if done.get(idx).copied().unwrap_or(true) {
            continue; // a duplicate block, already reported
        }
        if let Some(d) = done.get_mut(idx) {
            *d = true;
        }
        c.cur = idx;
        let body = c.stmts(&b.body);
        if let Some(r) = c.routes.get_mut(idx) {
            r.body = Arc::new(body);
        }
    }
    c.check_route_types();
    if !c.errors.is_empty() {
        let mut all = c.errors;
        all.extend(c.warnings);
        return Err(all);
    }
    let files = opts
        .sources
        .as_ref()
        .map(|src| {
            (0..src.len())
                .map(|i| {
                    src.name(ferrosip_config::FileId(
                        u32::try_from(i).unwrap_or(u32::MAX),
                    ))
                })
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Ok(Program::new(c.routes, c.keys, c.run, c.warnings, files))
}

impl Compiler<'_> {
    fn declare_flags(&mut self, decls: &[ast::FlagDecl], avp: bool) {
        let map = if avp {
            &mut self.avpflags
        } else {
            &mut self.flags
        };
        for d in decls {
            let pos = match d.pos {
                Some(p) if (0..32).contains(&p) => p as u32, // range checked
                Some(p) => {
                    self.errors
                        .push(err(format!("flag position {p} out of range 0..31"), d.span));
                    continue;
                }
                None => match (0..32u32).find(|n| !map.values().any(|v| v == n)) {
                    Some(n) => n,
                    None => {
                        self.errors.push(err("no free flag left", d.span));
                        continue;
                    }
                },
            };
            if map.values().any(|v| *v == pos) {
                self.errors.push(err(
                    format!("flag `{}`: position {pos} already in use", d.name),
                    d.span,
                ));
                continue;
            }
            if map.insert(d.name.clone(), pos).is_some() {
                self.errors
                    .push(err(format!("flag `{}` declared twice", d.name), d.span));
            }
        }
    }

    /// Kamailio's rule (cfg.y `find_export_record(name, n, rt)`): a call is checked against the
    /// type of the block that textually contains it; `route[X]` blocks count as request_route and
    /// `event_route` as REQUEST|ONEVENT, whoever calls them.
    fn check_route_types(&mut self) {
        for s in &self.sites {
            let Some(r) = self.routes.get(s.route) else {
                continue;
            };
            let bits = match r.kind {
                RouteType::Event => RouteMask::EVENT.0,
                k => k.bit(),
            };
            if s.mask.0 & bits == 0 {
                self.errors.push(err(
                    format!(
                        "command `{}` cannot be used in the block ({} route; allowed in: {})",
                        s.name,
                        r.kind.keyword(),
                        s.mask.describe()
                    ),
                    s.span,
                ));
            }
        }
    }

    fn stmts(&mut self, list: &[ast::Stmt]) -> Vec<Action> {
        let mut out = Vec::with_capacity(list.len());
        for (i, s) in list.iter().enumerate() {
            let Some(stmt) = self.stmt(s) else { continue };
            let at = self.stmt_at(s, &stmt, list.get(i + 1));
            out.push(Action { stmt, at });
        }
        out
    }

    /// The position and name of a compiled statement (see `at`): `next` is the statement after it
    /// in the same block, whose start is the token Kamailio's parser reads after an `if` without
    /// `else`.
    fn stmt_at(&self, s: &ast::Stmt, stmt: &Stmt, next: Option<&ast::Stmt>) -> At {
        use at::kind;
        let span = at::stmt_span(s);
        let (k, name) = match (s, stmt) {
            (_, Stmt::Call(c)) => return c.at,
            (ast::Stmt::Switch { cases, .. }, Stmt::SwitchInt { subject, .. })
            | (ast::Stmt::Switch { cases, .. }, Stmt::SwitchStr { subject, .. }) => {
                let k = at::switch_kind(cases, matches!(subject, Expr::Const(_)));
                let name = match k {
                    kind::BLOCK => "block",
                    kind::MATCH_COND => "case",
                    _ => "switch",
                };
                (k, name)
            }
            (_, Stmt::Eval(_)) => (kind::EVAL, "eval"),
            (_, Stmt::Assign(..) | Stmt::SetVar(..)) => (kind::ASSIGN, "assign"),
            (_, Stmt::If(..)) => (kind::IF, "if"),
            (_, Stmt::SwitchInt { .. } | Stmt::SwitchStr { .. }) => (kind::SWITCH_COND, "switch"),
            (_, Stmt::While(..)) => (kind::WHILE, "while"),
            // `break` is an `exit`-kind DROP_T action for Kamailio's debugger (BREAK_R_F flag).
            (_, Stmt::Break | Stmt::Exit(_)) => (kind::DROP, "exit"),
            (_, Stmt::Return(_)) => (kind::DROP, "return"),
            (_, Stmt::Drop(_)) => (kind::DROP, "drop"),
            (_, Stmt::Route(_)) => (kind::ROUTE, "route"),
            (_, Stmt::Block(_)) => (kind::BLOCK, "block"),
        };
        let line_at = if at::reads_next_token(s) {
            match next {
                Some(n) if at::stmt_span(n).file == span.file => at::stmt_span(n).begin as usize,
                _ => match &self.opts.sources {
                    Some(src) => at::next_token(src.text(span.file), span.end as usize),
                    None => span.end as usize,
                },
            }
        } else {
            (span.end as usize).saturating_sub(1)
        };
        self.at(span, line_at, k, name)
    }

    /// An [`At`] for a statement or call spanning `span`, whose line is the one holding byte
    /// `line_at` of the same file.
    fn at(&self, span: Span, line_at: usize, kind: u8, name: &'static str) -> At {
        let (line, col) = match &self.opts.sources {
            Some(src) => {
                let l = src.locate(Span::new(span.file, line_at, line_at));
                let c = src.locate(span);
                (l.line, c.column)
            }
            None => (0, 0),
        };
        At {
            route: u32::try_from(self.cur).unwrap_or(u32::MAX),
            file: span.file.0,
            line: u32::try_from(line).unwrap_or(u32::MAX),
            col: u32::try_from(col).unwrap_or(u32::MAX),
            kind,
            name,
        }
    }

    fn stmt(&mut self, s: &ast::Stmt) -> Option<Stmt> {
        Some(match s {
            ast::Stmt::Expr(ast::Expr::Call { name, args, span }) if name != "route" => {
                Stmt::Call(self.call(name, args, *span)?)
            }
            ast::Stmt::Expr(e) => match self.expr(e, true)? {
                Expr::Call(c) => Stmt::Call(*c),
                Expr::Route(t) => Stmt::Route(t.0),
                other => Stmt::Eval(other),
            },
            ast::Stmt::Assign {
                target,
                value,
                span,
            } => self.assign(target, value, *span)?,
            ast::Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                let c = self.top_expr(cond);
                let t = self.stmts(then);
                let o = otherwise
                    .as_ref()
                    .map(|o| self.stmts(o))
                    .unwrap_or_default();
                Stmt::If(c?, t, o)
            }
            ast::Stmt::While { cond, body, .. } => {
                let c = self.top_expr(cond);
                let b = self.stmts(body);
                Stmt::While(c?, b)
            }
            ast::Stmt::Switch { subject, cases, .. } => {
                let subj = self.top_expr(subject);
                let all_int = cases
                    .iter()
                    .all(|c| matches!(c.label, CaseLabel::Int(_) | CaseLabel::Default));
                if all_int {
                    let cs = cases
                        .iter()
                        .map(|c| {
                            let l = match c.label {
                                CaseLabel::Int(i) => Some(i),
                                _ => None,
                            };
                            (l, self.stmts(&c.body))
                        })
                        .collect();
                    Stmt::SwitchInt {
                        subject: subj?,
                        cases: cs,
                    }
                } else if let Some(bad) = cases
                    .iter()
                    .find(|c| matches!(c.label, CaseLabel::Int(_)))
                    .filter(|_| {
                        cases
                            .iter()
                            .any(|c| matches!(c.label, CaseLabel::Str(_) | CaseLabel::Regex(_)))
                    })
                {
                    self.errors.push(err(
                        "bad switch(): mixed integer and string/RE cases not allowed",
                        bad.span,
                    ));
                    return None;
                } else {
                    let mut cs = Vec::new();
                    for c in cases {
                        let l = match &c.label {
                            CaseLabel::Default => StrCase::Default,
                            CaseLabel::Int(i) => StrCase::Str(i.to_string().into_bytes()),
                            CaseLabel::Str(s) => StrCase::Str(s.as_bytes().to_vec()),
                            CaseLabel::Regex(r) => match posix::compile(r, false) {
                                Ok(re) => StrCase::Regex(re),
                                Err(m) => {
                                    self.errors.push(err(m, c.span));
                                    StrCase::Default
                                }
                            },
                        };
                        cs.push((l, self.stmts(&c.body)));
                    }
                    Stmt::SwitchStr {
                        subject: subj?,
                        cases: cs,
                    }
                }
            }
            ast::Stmt::Break(_) => Stmt::Break,
            ast::Stmt::Return(e, _) => Stmt::Return(self.opt_expr(e)?),
            ast::Stmt::Exit(e, _) => Stmt::Exit(self.opt_expr(e)?),
            ast::Stmt::Drop(e, _) => Stmt::Drop(self.opt_expr(e)?),
            ast::Stmt::Route { target, .. } => Stmt::Route(self.route_target(target)?),
            ast::Stmt::Block(b, _) => Stmt::Block(self.stmts(b)),
        })
    }

    /// `$x = expr` (as a statement, or in parentheses as a value).
    fn assign(&mut self, target: &ast::Expr, value: &ast::Expr, span: Span) -> Option<Stmt> {
        let ast::Expr::Pv(p) = target else {
            self.errors
                .push(err("only a variable can be assigned", span));
            return None;
        };
        if let Some(a) = &p.attr {
            if a.class == ast::AttrClass::Global {
                self.errors.push(err(
                    format!(
                        "global attributes are read-only in the script: `{}` cannot be assigned",
                        p.text
                    ),
                    p.span,
                ));
                return None;
            }
        }
        // `$x = $y[]` copies every value of `$y` (Kamailio's lval_avp_assign special case): for
        // an attribute target the copy is the target's setter and the value a constant 1 (what
        // the assignment yields). A pseudo-variable target takes the value `$y[]` reads, which is
        // undefined: `$var(x) = $y[]` is `$var(x) = $null` (Kamailio 5.6.3: `$var` 0, `$xavp`,
        // `$du` and `$vn` deleted — tests/wire_core.rs).
        if let (
            Some(dst),
            ast::Expr::Pv(ast::Pv {
                attr:
                    Some(
                        src @ ast::Attr {
                            index: ast::AttrIndex::All,
                            ..
                        },
                    ),
                ..
            }),
        ) = (&p.attr, value)
        {
            let spec = attr::copy_all_spec(&p.text, dst, src);
            return Some(Stmt::Assign(spec, Expr::Const(Value::Int(1))));
        }
        let spec = self.pv_spec(p)?;
        if !spec.is_writable() {
            self.errors.push(err(
                format!("read only pvar in assignment left side: `{}`", p.text),
                p.span,
            ));
            return None;
        }
        let v = self.top_expr(value)?;
        Some(match crate::ir::var_slot(&spec) {
            Some(slot) => Stmt::SetVar(spec, slot, v),
            None => Stmt::Assign(spec, v),
        })
    }

    fn opt_expr(&mut self, e: &Option<ast::Expr>) -> Option<Option<Expr>> {
        match e {
            None => Some(None),
            Some(e) => self.top_expr(e).map(Some),
        }
    }

    fn route_target(&mut self, target: &ast::Expr) -> Option<RouteTarget> {
        let name = match target {
            ast::Expr::Ident(n, _) | ast::Expr::Str(n, _) => Some(n.clone()),
            ast::Expr::Int(i, _) => Some(i.to_string()),
            _ => None,
        };
        match name {
            Some(n) => {
                let idx = self.keys.get(&(1, n.clone())).copied();
                if idx.is_none() {
                    self.warnings.push(Diagnostic::warning(
                        CfgError::Semantic(format!("route `{n}` is not defined")),
                        Some(target.span()),
                    ));
                }
                Some(RouteTarget::Static(idx, n))
            }
            None => Some(RouteTarget::Dynamic(Box::new(self.expr(target, false)?))),
        }
    }

    fn pv_ref(p: &ast::Pv) -> PvRef {
        PvRef {
            text: p.text.clone(),
            name: p.name.clone(),
            inner: p.inner.clone(),
            index: p.index.clone(),
            transforms: p
                .transformations
                .iter()
                .map(|t| {
                    let mut s = format!("{}.{}", t.class, t.name);
                    for a in &t.params {
                        s.push(',');
                        s.push_str(a);
                    }
                    s
                })
                .collect(),
        }
    }

    /// The mode in force at `span`: Kamailio switches at each mode line, so the last one before
    /// the position in its file counts; before any, the entry file starts in the default mode and
    /// an included file inherits `opts.compat` (the entry file's first mode line; a mode line
    /// skipped by `#!ifdef` is still counted here).
    fn compat_at(&self, span: Span) -> crate::Compat {
        let Some(src) = &self.opts.sources else {
            return self.opts.compat;
        };
        let text = src.text(span.file);
        let before = text.get(..span.begin as usize).unwrap_or("");
        crate::Compat::last_in(before).unwrap_or(if span.file.0 == 0 {
            crate::Compat::Max
        } else {
            self.opts.compat
        })
    }

    fn pv_spec(&mut self, p: &ast::Pv) -> Option<PvSpec> {
        if let Some(a) = &p.attr {
            return Some(attr::spec(&p.text, a));
        }
        match self.reg.resolve_pv(&Self::pv_ref(p)) {
            Ok(s) => Some(s),
            // Kamailio's default mode reads an unknown plain `$name` as the core attribute `name`
            // (the old SER syntax, with the core's attribute rules) and only logs; so do we.
            Err(_)
                if self.compat_at(p.span) != crate::Compat::Kamailio
                    && self.reg.pv(&p.name).is_none()
                    && p.inner.is_none()
                    && p.index.is_none()
                    && p.transformations.is_empty()
                    && p.name != "?"
                    && !p.name.contains('.') =>
            {
                self.warnings.push(Diagnostic::warning(
                    CfgError::Semantic(format!(
                        "unknown pseudo-variable `{}`: read as the attribute (AVP) `{}`, as Kamailio does",
                        p.text, p.name
                    )),
                    Some(p.span),
                ));
                let a = ast::Attr {
                    class: ast::AttrClass::None,
                    name: p.name.clone(),
                    index: ast::AttrIndex::None,
                };
                Some(attr::spec(&p.text, &a))
            }
            Err(m) => {
                self.errors.push(err(m, p.span));
                None
            }
        }
    }

    /// `$env(X)` and `$def(X)` are constant for the life of the process: folded at load.
    fn pv_expr(&mut self, p: &ast::Pv) -> Option<Expr> {
        match (p.name.as_str(), &p.inner) {
            ("env", Some(n)) if p.transformations.is_empty() => {
                return Some(Expr::Const(
                    std::env::var_os(n).map_or(Value::Null, |v| Value::Str(v.into_encoded_bytes())),
                ));
            }
            ("def", Some(n)) if p.transformations.is_empty() => {
                let v = self.opts.defines.iter().rev().find(|(k, _)| k == n);
                return Some(Expr::Const(match v {
                    Some((_, Some(val))) => Value::str(val.as_str()),
                    Some((_, None)) => Value::str(""),
                    None => Value::Null,
                }));
            }
            _ => {}
        }
        let spec = self.pv_spec(p)?;
        Some(match crate::ir::var_slot(&spec) {
            Some(slot) => Expr::Var(slot),
            None => Expr::Pv(spec),
        })
    }

    fn keyword(&mut self, k: &str, span: Span) -> Option<Expr> {
        let kw = match k {
            "method" => Kw::Method,
            "uri" => Kw::Uri,
            "from_uri" => Kw::FromUri,
            "to_uri" => Kw::ToUri,
            "src_ip" => Kw::SrcIp,
            "src_port" => Kw::SrcPort,
            "dst_ip" => Kw::DstIp,
            "dst_port" => Kw::DstPort,
            "proto" => Kw::Proto,
            "af" => Kw::Af,
            "msg:len" => Kw::MsgLen,
            "status" => Kw::Status,
            "snd_ip" => Kw::SndIp,
            "snd_port" => Kw::SndPort,
            // Kamailio's lexer reads `to_proto`/`to_af` as `snd_proto`/`snd_af`.
            "snd_proto" | "to_proto" => Kw::SndProto,
            "snd_af" | "to_af" => Kw::SndAf,
            "to_ip" => Kw::ToIp,
            "to_port" => Kw::ToPort,
            "retcode" => {
                let r = PvRef {
                    text: "$retcode".into(),
                    name: "retcode".into(),
                    inner: None,
                    index: None,
                    transforms: vec![],
                };
                return match self.reg.resolve_pv(&r) {
                    Ok(s) => Some(Expr::Pv(s)),
                    Err(m) => {
                        self.errors.push(err(m, span));
                        None
                    }
                };
            }
            "myself" => {
                self.errors
                    .push(err("`myself` can only be compared with `==`/`!=`", span));
                return None;
            }
            "max_len" => {
                self.errors.push(err(
                    "`max_len` was removed from Kamailio's config language",
                    span,
                ));
                return None;
            }
            other => {
                self.errors
                    .push(err(format!("keyword `{other}`: not implemented yet"), span));
                return None;
            }
        };
        // Kamailio's cfg.y (`onsend_check`) refuses these two outside the text of onsend_route
        // (route[X] included); the other send keywords are accepted anywhere and false there.
        if matches!(kw, Kw::SndIp | Kw::ToIp)
            && self.routes.get(self.cur).map(|r| r.kind) != Some(RouteType::OnSend)
        {
            self.errors
                .push(err(format!("{k} allowed only in onsend_routes"), span));
            return None;
        }
        Some(Expr::Kw(kw))
    }

    fn ident(&mut self, name: &str, span: Span) -> Option<Expr> {
        let v = match name {
            "UDP" | "udp" => 1,
            "TCP" | "tcp" => 2,
            "TLS" | "tls" => 3,
            "SCTP" | "sctp" => 4,
            "WS" | "ws" => 5,
            "WSS" | "wss" => 6,
            "INET" => 2,
            "INET6" => 10,
            _ => {
                self.errors
                    .push(err(format!("unknown identifier `{name}`"), span));
                return None;
            }
        };
        Some(Expr::Const(Value::Int(v)))
    }

    /// A statement-level expression: type-checked, then compiled.
    fn top_expr(&mut self, e: &ast::Expr) -> Option<Expr> {
        self.check_types(e)?;
        self.expr(e, true)
    }

    /// Compiles an expression; `calls` = function calls and `route()` are allowed in it.
    fn expr(&mut self, e: &ast::Expr, calls: bool) -> Option<Expr> {
        match e {
            ast::Expr::Int(i, _) => Some(Expr::Const(Value::Int(*i))),
            ast::Expr::Str(s, _) => Some(Expr::Const(Value::str(s.as_str()))),
            ast::Expr::Pv(p) => self.pv_expr(p),
            ast::Expr::Select(s, span) => match self.reg.resolve_select(s) {
                Ok(get) => Some(Expr::Select(crate::ir::Sel {
                    path: s.clone(),
                    get,
                })),
                Err(m) => {
                    let m = if m.starts_with("unknown select") {
                        format!("{m}: not implemented yet")
                    } else {
                        m
                    };
                    self.errors.push(err(m, *span));
                    None
                }
            },
            ast::Expr::Keyword(k, span) => self.keyword(k, *span),
            ast::Expr::Ident(n, span) => self.ident(n, *span),
            ast::Expr::Addr { text, .. } => Some(Expr::Const(Value::str(text.as_str()))),
            ast::Expr::Call { name, args, span } => {
                if !calls {
                    self.errors.push(err(
                        format!(
                            "function call `{name}()` is not allowed inside a function parameter"
                        ),
                        *span,
                    ));
                    return None;
                }
                if name == "route" {
                    let [a] = args.as_slice() else {
                        self.errors
                            .push(err("`route` takes exactly one parameter", *span));
                        return None;
                    };
                    let t = self.route_target(a)?;
                    let at = self.at(
                        *span,
                        (span.end as usize).saturating_sub(1),
                        at::kind::ROUTE,
                        "route",
                    );
                    return Some(Expr::Route(Box::new((t, at))));
                }
                Some(Expr::Call(Box::new(self.call(name, args, *span)?)))
            }
            ast::Expr::Unary { op, expr, .. } => {
                let x = self.expr(expr, calls)?;
                if *op == UnOp::Defined {
                    return Some(match x {
                        Expr::Const(v) => Expr::Const(Value::Int(i64::from(!v.is_null()))),
                        x => Expr::Defined(Box::new(x)),
                    });
                }
                let u = match op {
                    UnOp::Not => Un::Not,
                    UnOp::BitNot => Un::BitNot,
                    UnOp::Neg => Un::Neg,
                    UnOp::Strlen => Un::Strlen,
                    UnOp::Strempty => Un::Strempty,
                    UnOp::IntCast => Un::IntCast,
                    UnOp::StrCast => Un::StrCast,
                    UnOp::Defined => Un::Not, // handled above
                };
                Some(match x {
                    Expr::Const(v) => Expr::Const(unary_op(u, v)),
                    x => Expr::Unary(u, Box::new(x)),
                })
            }
            ast::Expr::Binary {
                op,
                left,
                right,
                span,
            } => self.binary(*op, left, right, *span, calls),
            ast::Expr::Assign {
                target,
                value,
                span,
            } => {
                if !calls {
                    self.errors.push(err(
                        "an assignment is not allowed inside a function parameter",
                        *span,
                    ));
                    return None;
                }
                let stmt = self.assign(target, value, *span)?;
                let at = self.at(
                    *span,
                    (span.end as usize).saturating_sub(1),
                    at::kind::ASSIGN,
                    "assign",
                );
                Some(Expr::Action(Box::new(Action { stmt, at })))
            }
            ast::Expr::Selval { cond, yes, no, .. } => {
                let c = self.expr(cond, calls);
                let a = self.expr(yes, calls);
                let b = self.expr(no, calls);
                let (c, a, b) = (c?, a?, b?);
                if let Expr::Const(v) = &c {
                    let t = if self.run.return_mode == 0 {
                        v.to_int() > 0
                    } else {
                        v.to_int() != 0
                    };
                    return Some(if t { a } else { b });
                }
                Some(Expr::Selval(Box::new(c), Box::new(a), Box::new(b)))
            }
        }
    }

    fn binary(
        &mut self,
        op: BinOp,
        left: &ast::Expr,
        right: &ast::Expr,
        span: Span,
        calls: bool,
    ) -> Option<Expr> {
        // Old-style keyword comparisons: `uri == myself`, `src_ip == 10.0.0.0/8`, `method == "X"`.
        if matches!(op, BinOp::Eq | BinOp::Ne | BinOp::Match) {
            let (kwe, other) = match (left, right) {
                (ast::Expr::Keyword(m, _), ast::Expr::Keyword(_, _)) if m == "myself" => {
                    (right, left)
                }
                (ast::Expr::Keyword(_, _), _) => (left, right),
                _ => (right, right),
            };
            if let ast::Expr::Keyword(k, kspan) = kwe {
                if !std::ptr::eq(kwe, other) {
                    return self.elem(k, *kspan, op, other, span, calls);
                }
            }
        }
        let l = self.expr(left, calls);
        let r = self.expr(right, calls);
        let (l, r) = (l?, r?);
        if op == BinOp::Match {
            return Some(match r {
                Expr::Const(v) => {
                    let re = match posix::compile(&v.to_text(), true) {
                        Ok(re) => re,
                        Err(m) => {
                            self.errors.push(err(m, right.span()));
                            return None;
                        }
                    };
                    match l {
                        Expr::Const(lv) => {
                            Expr::Const(Value::Int(i64::from(re.is_match(&lv.to_bytes()))))
                        }
                        l => Expr::Match(Box::new(l), Box::new(MatchRhs::Const(re))),
                    }
                }
                r => Expr::Match(Box::new(l), Box::new(MatchRhs::Dyn(r))),
            });
        }
        let o = match op {
            BinOp::Or => Op::Or,
            BinOp::And => Op::And,
            BinOp::BitOr => Op::BitOr,
            BinOp::BitAnd => Op::BitAnd,
            BinOp::BitXor => Op::BitXor,
            BinOp::Shl => Op::Shl,
            BinOp::Shr => Op::Shr,
            BinOp::Eq => Op::Eq,
            BinOp::Ne => Op::Ne,
            BinOp::StrEq => Op::StrEq,
            BinOp::StrNe => Op::StrNe,
            BinOp::IntEq => Op::IntEq,
            BinOp::IntNe => Op::IntNe,
            BinOp::Lt => Op::Lt,
            BinOp::Gt => Op::Gt,
            BinOp::Le => Op::Le,
            BinOp::Ge => Op::Ge,
            BinOp::Add => Op::Add,
            BinOp::Sub => Op::Sub,
            BinOp::Mul => Op::Mul,
            BinOp::Div => Op::Div,
            BinOp::Mod => Op::Mod,
            BinOp::Match => Op::Eq, // handled above
        };
        if let (Expr::Const(a), Expr::Const(b)) = (&l, &r) {
            let folded = match o {
                Op::Or | Op::And => int_op(o, a.to_int(), b.to_int())
                    .map(Value::Int)
                    .ok_or("bad operands"),
                _ => value_op(o, a.clone(), b.clone()),
            };
            match folded {
                Ok(v) => return Some(Expr::Const(v)),
                Err(m) => {
                    self.errors.push(err(m, span));
                    return None;
                }
            }
        }
        Some(Expr::Bin(o, Box::new(l), Box::new(r)))
    }

    fn elem(
        &mut self,
        k: &str,
        kspan: Span,
        op: BinOp,
        other: &ast::Expr,
        span: Span,
        calls: bool,
    ) -> Option<Expr> {
        let Expr::Kw(kw) = self.keyword(k, kspan)? else {
            // `retcode` compares like any variable.
            let l = self.keyword(k, kspan)?;
            let r = self.expr(other, calls)?;
            let o = if op == BinOp::Ne { Op::Ne } else { Op::Eq };
            return Some(Expr::Bin(o, Box::new(l), Box::new(r)));
        };
        let negate = op == BinOp::Ne;
        let rhs = match other {
            ast::Expr::Keyword(m, _) if m == "myself" => {
                if op == BinOp::Match || !(kw.is_text() || kw.is_ip()) || kw == Kw::Method {
                    self.errors
                        .push(err(format!("`{k}` cannot be compared with `myself`"), span));
                    return None;
                }
                ElemRhs::Myself
            }
            ast::Expr::Addr {
                text,
                mask,
                span: aspan,
            } if kw.is_ip() && op != BinOp::Match => {
                let t = text.trim_start_matches('[').trim_end_matches(']');
                match t.parse::<IpAddr>() {
                    Ok(ip) => {
                        let full = if ip.is_ipv4() { 32 } else { 128 };
                        ElemRhs::Net(ip, mask.unwrap_or(full))
                    }
                    // A host name: resolved when the comparison runs, as Kamailio does.
                    Err(_) if mask.is_none() && !t.contains(':') => ElemRhs::Host(t.to_string()),
                    Err(_) => {
                        self.errors.push(err(
                            format!("`{text}`: not an address or a host name"),
                            *aspan,
                        ));
                        return None;
                    }
                }
            }
            ast::Expr::Ident(name, _) if kw.is_ip() && op != BinOp::Match => {
                ElemRhs::Host(name.clone())
            }
            // `method == INVITE`: a bare identifier compared with a text keyword is a string.
            ast::Expr::Ident(name, _) if kw.is_text() => {
                let v = Expr::Const(Value::str(name.as_str()));
                if op == BinOp::Match {
                    match posix::compile(name, true) {
                        Ok(re) => ElemRhs::Regex(re),
                        Err(m) => {
                            self.errors.push(err(m, other.span()));
                            return None;
                        }
                    }
                } else {
                    ElemRhs::Expr(v)
                }
            }
            _ => {
                let r = self.expr(other, calls)?;
                if op == BinOp::Match {
                    match r {
                        Expr::Const(v) => match posix::compile(&v.to_text(), true) {
                            Ok(re) => ElemRhs::Regex(re),
                            Err(m) => {
                                self.errors.push(err(m, other.span()));
                                return None;
                            }
                        },
                        r => {
                            return Some(Expr::Match(
                                Box::new(Expr::Kw(kw)),
                                Box::new(MatchRhs::Dyn(r)),
                            ));
                        }
                    }
                } else if kw.is_text() || kw.is_ip() || kw.is_send() {
                    // Send keywords stay an Elem: outside onsend_route both == and != are false.
                    ElemRhs::Expr(r)
                } else {
                    let o = if negate { Op::Ne } else { Op::Eq };
                    return Some(Expr::Bin(o, Box::new(Expr::Kw(kw)), Box::new(r)));
                }
            }
        };
        Some(Expr::Elem {
            kw,
            negate,
            rhs: Box::new(rhs),
        })
    }

    /// Resolves a function call: name, arity, parameters, implementation status; records the site for
    /// the route-type check.
    fn call(&mut self, name: &str, args: &[ast::Expr], span: Span) -> Option<Call> {
        let cands = self.reg.functions(name);
        if cands.is_empty() {
            self.errors.push(err(
                format!("unknown function `{name}` (missing loadmodule?)"),
                span,
            ));
            return None;
        }
        let Some((module, f)) = cands.iter().find(|(_, f)| f.accepts_arity(args.len())) else {
            let mut arities: Vec<String> = cands
                .iter()
                .map(|(_, f)| {
                    if f.variadic {
                        format!("{}+", f.params.len().saturating_sub(1))
                    } else {
                        f.params.len().to_string()
                    }
                })
                .collect();
            arities.sort();
            arities.dedup();
            self.errors.push(err(
                format!(
                    "wrong number of parameters for `{name}`: {} given, accepted: {}",
                    args.len(),
                    arities.join(" or ")
                ),
                span,
            ));
            return None;
        };
        let f: &FnExport = f;
        let mut prepared = Vec::with_capacity(args.len());
        let mut ok = true;
        for (i, a) in args.iter().enumerate() {
            let Some(kind) = f.kind_of(i) else {
                ok = false;
                break;
            };
            match self.arg(f, i, kind, a) {
                Some(x) => prepared.push(x),
                None => ok = false,
            }
        }
        if !ok {
            return None;
        }
        let Some(handler) = f.handler.clone() else {
            self.errors
                .push(err(format!("function `{name}`: not implemented yet"), span));
            return None;
        };
        if let Some(fix) = &f.fixup {
            if let Err(m) = fix(&mut prepared) {
                self.errors.push(err(format!("{name}(): {m}"), span));
                return None;
            }
        }
        if let Some(fix) = &f.fixup_env {
            let (file, line, col) = match &self.opts.sources {
                Some(src) => {
                    let l = src.locate(span);
                    (l.file_name, l.line as u32, l.column as u32)
                }
                None => ("", 0, 0),
            };
            let env = ferrosip_api::export::FixupEnv {
                registry: self.reg,
                file,
                line,
                col,
            };
            if let Err(m) = fix(&mut prepared, &env) {
                self.errors.push(err(format!("{name}(): {m}"), span));
                return None;
            }
        }
        self.sites.push(Site {
            route: self.cur,
            name: f.name,
            mask: f.routes,
            span,
        });
        // append_branch is a core action in Kamailio (here it lives in corex).
        let core_action =
            at::core_action(f.name).filter(|_| is_core(module) || f.name == "append_branch");
        let (kind, aname) = core_action.unwrap_or_else(|| {
            let rve = !args.iter().all(at::is_constant);
            (at::module_kind(args.len(), f.variadic, rve), f.name)
        });
        let at = self.at(span, (span.end as usize).saturating_sub(1), kind, aname);
        Some(Call {
            name: f.name,
            core: is_core(module),
            handler,
            args: prepared,
            at,
        })
    }

    /// A constant view of an argument: literal, identifier or address text, or a folded expression.
    fn constant(&mut self, a: &ast::Expr) -> Option<Value> {
        match a {
            ast::Expr::Int(i, _) => Some(Value::Int(*i)),
            ast::Expr::Str(s, _) => Some(Value::str(s.as_str())),
            ast::Expr::Ident(s, _) => Some(Value::str(s.as_str())),
            ast::Expr::Addr { text, mask, .. } => Some(Value::str(match mask {
                Some(m) => format!("{text}/{m}"),
                None => text.clone(),
            })),
            ast::Expr::Unary { .. } | ast::Expr::Binary { .. } => {
                let before = self.errors.len();
                let e = self.expr(a, false);
                match e {
                    Some(Expr::Const(v)) => Some(v),
                    _ => {
                        self.errors.truncate(before);
                        None
                    }
                }
            }
            _ => None,
        }
    }

    fn arg(&mut self, f: &FnExport, i: usize, kind: ParamKind, a: &ast::Expr) -> Option<Arg> {
        let n = i + 1;
        let span = a.span();
        // Expressions in parameters get the same load-time type check as elsewhere (Kamailio checks
        // every expression when it builds it).
        if matches!(a, ast::Expr::Unary { .. } | ast::Expr::Binary { .. }) {
            self.check_types(a)?;
        }
        let c = self.constant(a);
        match kind {
            ParamKind::Str => match c {
                Some(v) => Some(Arg::Str(v.into_bytes())),
                None => {
                    self.errors.push(err(
                        format!("parameter {n} of `{}` must be a constant string", f.name),
                        span,
                    ));
                    None
                }
            },
            ParamKind::Number => match (&c, a) {
                (Some(Value::Int(i)), ast::Expr::Int(..) | ast::Expr::Unary { .. }) => {
                    Some(Arg::Int(*i))
                }
                _ => {
                    self.errors.push(err(
                        format!(
                            "parameter {n} of `{}`: bad argument, number expected",
                            f.name
                        ),
                        span,
                    ));
                    None
                }
            },
            ParamKind::Int => match c.as_ref().and_then(|v| match v {
                Value::Int(i) => Some(*i),
                Value::Str(s) => ferrosip_api::value::str_to_int(s),
                Value::Null => None,
            }) {
                Some(i) => Some(Arg::Int(i)),
                None => {
                    self.errors.push(err(
                        format!("parameter {n} of `{}` must be an integer", f.name),
                        span,
                    ));
                    None
                }
            },
            ParamKind::Spve | ParamKind::IntOrVar | ParamKind::Expr => {
                if kind == ParamKind::IntOrVar {
                    if let Some(Value::Int(i)) = &c {
                        return Some(Arg::Int(*i));
                    }
                    if let Some(Value::Str(s)) = &c {
                        if let Some(i) = ferrosip_api::value::str_to_int(s) {
                            return Some(Arg::Int(i));
                        }
                    }
                }
                match (c, a) {
                    (Some(Value::Str(s)), ast::Expr::Str(..)) if kind != ParamKind::Expr => {
                        let text = String::from_utf8_lossy(&s).into_owned();
                        match self.reg.parse_format(&text) {
                            Ok(fmt) => Some(match fmt.as_constant() {
                                Some(b) => Arg::Str(b),
                                // Kamailio's fixup_igp: quotes do not matter, a parameter that is
                                // exactly one variable (`"$var(port)"`) is that variable.
                                None if kind == ParamKind::IntOrVar => match fmt.single_pv() {
                                    Some(pv) => Arg::Var(pv.clone()),
                                    None => Arg::Fmt(fmt),
                                },
                                None => Arg::Fmt(fmt),
                            }),
                            Err(m) => {
                                self.errors.push(err(m, span));
                                None
                            }
                        }
                    }
                    (Some(Value::Int(i)), _) if kind == ParamKind::Expr => Some(Arg::Int(i)),
                    (Some(v), _) => Some(Arg::Str(v.into_bytes())),
                    (None, ast::Expr::Pv(p)) if !matches!(p.name.as_str(), "env" | "def") => {
                        self.pv_spec(p).map(Arg::Var)
                    }
                    (None, _) => {
                        let e = self.expr(a, false)?;
                        Some(match e {
                            Expr::Const(v) => Arg::Str(v.into_bytes()),
                            e => Arg::Dyn(Arc::new(DynExpr {
                                expr: e,
                                opts: self.run.clone(),
                            })),
                        })
                    }
                }
            }
            ParamKind::Var | ParamKind::VarW => {
                let spec = match a {
                    ast::Expr::Pv(p) => self.pv_spec(p)?,
                    ast::Expr::Str(s, _) => match ferrosip_api::pv::parse_pv_ref(s.as_bytes()) {
                        Ok((r, used)) if used == s.len() => match self.reg.resolve_pv(&r) {
                            Ok(x) => x,
                            Err(m) => {
                                self.errors.push(err(m, span));
                                return None;
                            }
                        },
                        _ => {
                            self.errors.push(err(
                                format!("parameter {n} of `{}` must be a variable", f.name),
                                span,
                            ));
                            return None;
                        }
                    },
                    _ => {
                        self.errors.push(err(
                            format!("parameter {n} of `{}` must be a variable", f.name),
                            span,
                        ));
                        return None;
                    }
                };
                if kind == ParamKind::VarW && !spec.is_writable() {
                    self.errors.push(err(
                        format!("parameter {n} of `{}` must be a writable variable", f.name),
                        span,
                    ));
                    return None;
                }
                Some(Arg::Var(spec))
            }
            ParamKind::Regex => match c {
                Some(v) => match posix::compile(&v.to_text(), false) {
                    Ok(re) => Some(Arg::Regex(re)),
                    Err(m) => {
                        self.errors.push(err(m, span));
                        None
                    }
                },
                None => {
                    self.errors.push(err(
                        format!(
                            "parameter {n} of `{}` must be a constant regular expression",
                            f.name
                        ),
                        span,
                    ));
                    None
                }
            },
            ParamKind::Route(k) => {
                let Some(v) = c else {
                    self.errors.push(err(
                        format!("parameter {n} of `{}` must be a route name", f.name),
                        span,
                    ));
                    return None;
                };
                let name = v.to_text();
                match self.keys.get(&(ref_code(k), name.clone())) {
                    Some(&index) => Some(Arg::Route { name, index }),
                    None => {
                        self.errors.push(err(
                            format!("{} `{name}` is not defined", ParamKind::Route(k).label()),
                            span,
                        ));
                        None
                    }
                }
            }
            ParamKind::Flag => {
                let avp = f.name.ends_with("avpflag") || f.name == "isavpflagset";
                let flag = match &c {
                    // AVP flags must be declared names (cfg.y `flag_name`), message flags may be numbers.
                    Some(Value::Int(_)) if avp => None,
                    Some(Value::Int(x)) if (0..32).contains(x) => Some(*x as u32), // range checked
                    Some(Value::Str(s)) => {
                        let name = String::from_utf8_lossy(s);
                        let map = if avp { &self.avpflags } else { &self.flags };
                        map.get(name.as_ref()).copied().or_else(|| {
                            ferrosip_api::value::str_to_int(s)
                                .filter(|x| !avp && (0..32).contains(x))
                                .map(|x| x as u32)
                        })
                    }
                    _ => None,
                };
                match flag {
                    Some(x) => Some(Arg::Flag(x)),
                    None => {
                        self.errors.push(err(
                            format!("parameter {n} of `{}` must be a flag number 0..31 or a declared {}flag name", f.name, if avp { "avp" } else { "" }),
                            span,
                        ));
                        None
                    }
                }
            }
        }
    }
}
