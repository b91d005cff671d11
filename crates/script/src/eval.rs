//! The evaluator: runs compiled route blocks with Kamailio's control-flow and value rules.
//!
//! Control flow mirrors Kamailio's `run_actions`: every statement yields an integer, a block yields
//! the value of its last executed statement, and the flags BREAK / RETURN / EXIT / DROP stop the
//! current block. A function returning 0 or `return 0` sets EXIT, which stops the whole script.

use std::net::IpAddr;
use std::sync::Arc;

use ferrosip_api::export::DynValue;
use ferrosip_api::{Ctx, Value};

use crate::ir::{
    int_op, unary_op, value_op, Action, At, Call, ElemRhs, Expr, Kw, MatchRhs, Op, Route,
    RouteTarget, Stmt, StrCase, Un,
};
use crate::{ActionHook, ActionSite, RunOptions};

pub(crate) const BREAK: u8 = 1;
pub(crate) const RETURN: u8 = 2;
pub(crate) const EXIT: u8 = 4;
pub(crate) const DROP: u8 = 8;

/// State of one top-level run.
pub(crate) struct Run<'p> {
    pub routes: &'p [Route],
    pub opts: &'p RunOptions,
    /// Per-action hooks; empty in the common case, which costs one branch per action.
    hooks: &'p [Arc<dyn ActionHook>],
    /// File names for [`ActionSite::file`].
    files: &'p [String],
    pub flags: u8,
    pub depth: u32,
    /// Set when an expression failed (division by zero): the assignment is not done, a condition is
    /// false, as in Kamailio.
    pub failed: bool,
}

impl<'p> Run<'p> {
    pub fn new(routes: &'p [Route], opts: &'p RunOptions) -> Run<'p> {
        Run::traced(routes, opts, &[], &[])
    }

    /// A run that calls `hooks` around every action.
    pub fn traced(
        routes: &'p [Route],
        opts: &'p RunOptions,
        hooks: &'p [Arc<dyn ActionHook>],
        files: &'p [String],
    ) -> Run<'p> {
        Run {
            routes,
            opts,
            hooks,
            files,
            flags: 0,
            depth: 0,
            failed: false,
        }
    }

    /// Kamailio's `run_actions`.
    pub fn block(&mut self, stmts: &[Action], ctx: &mut Ctx<'_>) -> i64 {
        self.depth += 1;
        if self.depth > self.opts.max_recursive_level {
            ctx.log_error(&format!(
                "too many recursive routing table lookups ({}) giving up!",
                self.depth
            ));
            self.depth -= 1;
            return -1;
        }
        let mut ret = 1;
        for a in stmts {
            ret = if self.hooks.is_empty() {
                self.stmt(&a.stmt, ctx)
            } else {
                self.hook_before(&a.at, ctx);
                let r = self.stmt(&a.stmt, ctx);
                self.hook_after(ctx);
                r
            };
            if self.flags & (BREAK | RETURN | EXIT) != 0 {
                if self.flags & EXIT != 0 {
                    ctx.last_rc = ret;
                }
                break;
            }
        }
        self.depth -= 1;
        ret
    }

    fn stmt(&mut self, s: &Stmt, ctx: &mut Ctx<'_>) -> i64 {
        match s {
            Stmt::Call(c) => self.invoke(c, ctx),
            Stmt::Eval(e) => {
                self.eval_int(e, ctx);
                if self.flags & EXIT != 0 {
                    return 0;
                }
                self.flags &= !(RETURN | BREAK);
                1
            }
            Stmt::Assign(pv, e) => {
                // `$x = f()` / `$x = route(X)` store the raw return code (Kamailio's
                // lval_*_assign run the action directly); inside larger expressions calls are 1/0.
                let v = match e {
                    Expr::Call(c) => {
                        let r = self.traced_invoke(c, ctx);
                        self.flags &= !(RETURN | BREAK);
                        Value::Int(r)
                    }
                    Expr::Route(t) => Value::Int(self.traced_route(t, ctx)),
                    Expr::Action(a) => Value::Int(self.traced_stmt(a, ctx)),
                    Expr::Select(sel) => match (sel.get)(ctx) {
                        Ok(v) => v,
                        Err(e) => {
                            ctx.log_error(&format!("select @{} failed: {e}", sel.path));
                            let _ = pv.set(ctx, Value::str(""));
                            return -1;
                        }
                    },
                    e => {
                        self.failed = false;
                        let v = self.eval(e, ctx);
                        if self.failed {
                            ctx.log_error(&format!(
                                "assignment to {} failed: expression evaluation failed",
                                pv.text()
                            ));
                            return -1;
                        }
                        v
                    }
                };
                if self.flags & EXIT != 0 {
                    return 0;
                }
                match pv.set(ctx, v) {
                    Ok(()) => 1,
                    Err(err) => {
                        ctx.log_error(&format!("assignment to {} failed: {err}", pv.text()));
                        -1
                    }
                }
            }
            Stmt::SetVar(spec, slot, e) => {
                let v = match e {
                    Expr::Call(c) => {
                        let r = self.traced_invoke(c, ctx);
                        self.flags &= !(RETURN | BREAK);
                        Value::Int(r)
                    }
                    Expr::Route(t) => Value::Int(self.traced_route(t, ctx)),
                    Expr::Action(a) => Value::Int(self.traced_stmt(a, ctx)),
                    // Kamailio assigns "" when a select on the right side fails, and reports -1.
                    Expr::Select(sel) => match (sel.get)(ctx) {
                        Ok(v) => v,
                        Err(e) => {
                            ctx.log_error(&format!("select @{} failed: {e}", sel.path));
                            ctx.worker.set_var(*slot, Value::str(""));
                            return -1;
                        }
                    },
                    e => {
                        self.failed = false;
                        let v = self.eval(e, ctx);
                        if self.failed {
                            ctx.log_error(&format!(
                                "assignment to {} failed: expression evaluation failed",
                                spec.text()
                            ));
                            return -1;
                        }
                        v
                    }
                };
                if self.flags & EXIT != 0 {
                    return 0;
                }
                // $var cannot hold null: assigning $null makes it 0, as in Kamailio.
                let v = if v.is_null() { Value::Int(0) } else { v };
                ctx.worker.set_var(*slot, v);
                1
            }
            Stmt::If(cond, then, otherwise) => {
                self.failed = false;
                let mut v = self.eval_int(cond, ctx);
                if self.failed {
                    v = 0;
                }
                if self.flags & EXIT != 0 {
                    return 0;
                }
                self.flags &= !(RETURN | BREAK);
                if self.truth(v) {
                    if then.is_empty() {
                        1
                    } else {
                        self.block(then, ctx)
                    }
                } else if otherwise.is_empty() {
                    1
                } else {
                    self.block(otherwise, ctx)
                }
            }
            Stmt::SwitchInt { subject, cases } => {
                let v = self.eval_int(subject, ctx);
                if self.flags & EXIT != 0 {
                    return 0;
                }
                self.flags &= !(RETURN | BREAK);
                let start = cases
                    .iter()
                    .position(|(c, _)| *c == Some(v))
                    .or_else(|| cases.iter().position(|(c, _)| c.is_none()));
                match start {
                    Some(i) => self.fall_through(cases.iter().skip(i).map(|(_, b)| b), ctx),
                    None => 1,
                }
            }
            Stmt::SwitchStr { subject, cases } => {
                let v = self.eval(subject, ctx).into_bytes();
                if self.flags & EXIT != 0 {
                    return 0;
                }
                self.flags &= !(RETURN | BREAK);
                let start = cases
                    .iter()
                    .position(|(c, _)| match c {
                        StrCase::Str(s) => *s == v,
                        StrCase::Regex(r) => r.is_match(&v),
                        StrCase::Default => false,
                    })
                    .or_else(|| {
                        cases
                            .iter()
                            .position(|(c, _)| matches!(c, StrCase::Default))
                    });
                match start {
                    Some(i) => self.fall_through(cases.iter().skip(i).map(|(_, b)| b), ctx),
                    None => 1,
                }
            }
            Stmt::While(cond, body) => {
                let mut n: i64 = 0;
                let mut seen = 0u8;
                let mut ret = 1;
                while seen & (BREAK | RETURN | EXIT) == 0 {
                    let v = self.eval_int(cond, ctx);
                    if !self.truth(v) {
                        break;
                    }
                    if self.opts.max_while_loops > 0 {
                        n += 1;
                    }
                    if n > self.opts.max_while_loops {
                        ctx.log_error(&format!(
                            "runaway while: more than {} loops",
                            self.opts.max_while_loops
                        ));
                        return -1;
                    }
                    if !body.is_empty() {
                        ret = self.block(body, ctx);
                        seen |= self.flags;
                        self.flags &= !BREAK;
                    }
                }
                ret
            }
            Stmt::Break => {
                self.flags |= BREAK;
                0
            }
            Stmt::Return(e) => {
                let v = e.as_ref().map_or(1, |e| self.eval_int(e, ctx));
                self.flags |= RETURN;
                if v == 0 {
                    self.flags |= EXIT;
                }
                v
            }
            Stmt::Exit(e) => {
                let v = e.as_ref().map_or(1, |e| self.eval_int(e, ctx));
                self.flags |= EXIT;
                v
            }
            Stmt::Drop(e) => {
                let v = e.as_ref().map_or(0, |e| self.eval_int(e, ctx));
                self.flags |= EXIT | DROP;
                v
            }
            Stmt::Route(t) => self.route(t, ctx),
            Stmt::Block(b) => {
                let r = self.block(b, ctx);
                self.flags &= !BREAK;
                r
            }
        }
    }

    /// Runs case bodies from the matched one on, until a `break` (fall-through, as in C).
    fn fall_through<'a>(
        &mut self,
        bodies: impl Iterator<Item = &'a Vec<Action>>,
        ctx: &mut Ctx<'_>,
    ) -> i64 {
        let mut ret = 1;
        for b in bodies {
            if b.is_empty() {
                continue;
            }
            ret = self.block(b, ctx);
            if self.flags & (BREAK | RETURN | EXIT) != 0 {
                break;
            }
        }
        self.flags &= !BREAK;
        ret
    }

    fn truth(&self, v: i64) -> bool {
        if self.opts.return_mode == 0 {
            v > 0
        } else {
            v != 0
        }
    }

    /// Calls the hooks before an action. Kept out of line: the common path only tests
    /// `hooks.is_empty()`.
    #[cold]
    #[inline(never)]
    fn hook_before(&self, at: &At, ctx: &mut Ctx<'_>) {
        let route_name = self
            .routes
            .get(at.route as usize)
            .map_or("DEFAULT_ROUTE", kamailio_route_name);
        let file = self.files.get(at.file as usize).map_or("", String::as_str);
        let site = ActionSite {
            route_name,
            file,
            line: at.line,
            column: at.col,
            kind: at.kind,
            name: at.name,
        };
        for h in self.hooks {
            h.before(ctx, &site);
        }
    }

    #[cold]
    #[inline(never)]
    fn hook_after(&self, ctx: &mut Ctx<'_>) {
        for h in self.hooks {
            h.after(ctx);
        }
    }

    /// A function call inside an expression: an action of its own for the hooks (Kamailio runs
    /// it through `run_actions`).
    fn traced_invoke(&mut self, c: &Call, ctx: &mut Ctx<'_>) -> i64 {
        if self.hooks.is_empty() {
            return self.invoke(c, ctx);
        }
        self.hook_before(&c.at, ctx);
        let r = self.invoke(c, ctx);
        self.hook_after(ctx);
        r
    }

    /// `route(X)` inside an expression.
    fn traced_route(&mut self, t: &(RouteTarget, At), ctx: &mut Ctx<'_>) -> i64 {
        if self.hooks.is_empty() {
            return self.route(&t.0, ctx);
        }
        self.hook_before(&t.1, ctx);
        let r = self.route(&t.0, ctx);
        self.hook_after(ctx);
        r
    }

    /// An assignment used as a value.
    fn traced_stmt(&mut self, a: &Action, ctx: &mut Ctx<'_>) -> i64 {
        if self.hooks.is_empty() {
            return self.stmt(&a.stmt, ctx);
        }
        self.hook_before(&a.at, ctx);
        let r = self.stmt(&a.stmt, ctx);
        self.hook_after(ctx);
        r
    }

    /// Calls a module function (Kamailio's `MODF_CALL` + `MODF_HANDLE_RETCODE`).
    pub fn invoke(&mut self, c: &Call, ctx: &mut Ctx<'_>) -> i64 {
        let r = match (c.handler)(ctx, &c.args) {
            Ok(rc) => rc.0,
            Err(e) => {
                ctx.log_error(&format!("{}(): {e}", c.name));
                -1
            }
        };
        if !c.core {
            if r == 0 {
                self.flags |= EXIT;
            }
            ctx.last_rc = r;
        }
        r
    }

    /// `route(X)`: its value is the block's value; it becomes `$rc`; `return`/`break` stop there.
    fn route(&mut self, t: &RouteTarget, ctx: &mut Ctx<'_>) -> i64 {
        let idx = match t {
            RouteTarget::Static(i, name) => match i {
                Some(i) => *i,
                None => {
                    ctx.log_error(&format!("route \"{name}\" not found"));
                    return -1;
                }
            },
            RouteTarget::Dynamic(e) => {
                let name = self.eval(e, ctx).into_bytes();
                match self.routes.iter().position(|r| {
                    r.kind == ferrosip_api::RouteType::Request
                        && !r.name.is_empty()
                        && r.name.as_bytes() == name.as_slice()
                }) {
                    Some(i) => i,
                    None => {
                        ctx.log_error(&format!(
                            "route \"{}\" not found",
                            String::from_utf8_lossy(&name)
                        ));
                        return -1;
                    }
                }
            }
        };
        let Some(r) = self.routes.get(idx) else {
            return -1;
        };
        let body = Arc::clone(&r.body);
        let ret = self.block(&body, ctx);
        ctx.last_rc = ret;
        self.flags &= !(RETURN | BREAK);
        ret
    }

    fn expr_result(&self, ret: i64) -> i64 {
        if self.opts.return_mode == 1 {
            ret
        } else {
            i64::from(ret > 0)
        }
    }

    /// Value-mode evaluation (right sides of assignments, string contexts).
    pub fn eval(&mut self, e: &Expr, ctx: &mut Ctx<'_>) -> Value {
        match e {
            Expr::Const(v) => v.clone(),
            Expr::Pv(p) => p.get(ctx),
            Expr::Var(i) => var_value(ctx, *i).clone(),
            Expr::Select(sel) => match (sel.get)(ctx) {
                Ok(v) => v,
                Err(e) => {
                    // As in Kamailio: a failing select fails the expression (no assignment).
                    ctx.log_error(&format!("select @{} failed: {e}", sel.path));
                    self.failed = true;
                    Value::Null
                }
            },
            Expr::Kw(k) => kw_value(*k, ctx),
            Expr::Unary(op @ (Un::Strlen | Un::Strempty | Un::StrCast | Un::IntCast), x) => {
                let v = self.eval(x, ctx);
                unary_op(*op, v)
            }
            Expr::Bin(op @ (Op::Eq | Op::Ne | Op::StrEq | Op::StrNe), l, r)
                if matches!(**r, Expr::Const(_))
                    && matches!(**l, Expr::Var(_) | Expr::Const(_) | Expr::Pv(_)) =>
            {
                // Common shape `$x == "const"`: compare without cloning either side.
                let Expr::Const(rv) = &**r else {
                    return Value::Null;
                };
                let owned;
                let lv: &Value = match &**l {
                    Expr::Var(i) => var_value(ctx, *i),
                    Expr::Const(c) => c,
                    other => {
                        owned = self.eval(other, ctx);
                        &owned
                    }
                };
                let eq = match op {
                    Op::Eq | Op::Ne => crate::ir::eq_values(lv, rv),
                    _ => lv.to_bytes() == rv.to_bytes(),
                };
                Value::Int(i64::from(eq == matches!(op, Op::Eq | Op::StrEq)))
            }
            Expr::Bin(op @ (Op::Add | Op::Eq | Op::Ne | Op::StrEq | Op::StrNe), l, r) => {
                let lv = self.eval(l, ctx);
                let rv = match (op, &lv) {
                    (Op::Eq | Op::Ne | Op::Add, Value::Int(_)) => Value::Int(self.eval_int(r, ctx)),
                    _ => self.eval(r, ctx),
                };
                match value_op(*op, lv, rv) {
                    Ok(v) => v,
                    Err(m) => {
                        ctx.log_error(m);
                        self.failed = true;
                        Value::Null
                    }
                }
            }
            Expr::Selval(c, a, b) => {
                let v = self.eval_int(c, ctx);
                if self.truth(v) {
                    self.eval(a, ctx)
                } else {
                    self.eval(b, ctx)
                }
            }
            _ => Value::Int(self.eval_int(e, ctx)),
        }
    }

    /// Integer-mode evaluation (conditions, arithmetic).
    pub fn eval_int(&mut self, e: &Expr, ctx: &mut Ctx<'_>) -> i64 {
        match e {
            Expr::Const(v) => v.to_int(),
            Expr::Pv(p) => p.get(ctx).to_int(),
            Expr::Var(i) => var_value(ctx, *i).to_int(),
            Expr::Select(_) => self.eval(e, ctx).to_int(),
            Expr::Kw(k) => kw_value(*k, ctx).to_int(),
            Expr::Call(c) => {
                let r = self.traced_invoke(c, ctx);
                self.flags &= !(RETURN | BREAK);
                self.expr_result(r)
            }
            Expr::Route(t) => {
                let r = self.traced_route(t, ctx);
                self.expr_result(r)
            }
            Expr::Action(a) => {
                let r = self.traced_stmt(a, ctx);
                self.flags &= !(RETURN | BREAK);
                self.expr_result(r)
            }
            Expr::Defined(x) => i64::from(match &**x {
                Expr::Pv(p) => !p.get(ctx).is_null(),
                // A $var always has a value (0 when never set).
                _ => true,
            }),
            Expr::Unary(Un::Not, x) => i64::from(self.eval_int(x, ctx) == 0),
            Expr::Unary(Un::BitNot, x) => !self.eval_int(x, ctx),
            Expr::Unary(Un::Neg, x) => self.eval_int(x, ctx).wrapping_neg(),
            Expr::Unary(Un::IntCast, x) => self.eval(x, ctx).to_int(),
            Expr::Unary(op, x) => {
                let v = self.eval(x, ctx);
                unary_op(*op, v).to_int()
            }
            Expr::Bin(Op::And, l, r) => {
                if self.eval_int(l, ctx) == 0 {
                    0
                } else {
                    i64::from(self.eval_int(r, ctx) != 0)
                }
            }
            Expr::Bin(Op::Or, l, r) => {
                if self.eval_int(l, ctx) != 0 {
                    1
                } else {
                    i64::from(self.eval_int(r, ctx) != 0)
                }
            }
            Expr::Bin(op @ (Op::Eq | Op::Ne | Op::StrEq | Op::StrNe), _, _) => {
                let _ = op;
                self.eval(e, ctx).to_int()
            }
            Expr::Bin(op, l, r) => {
                let a = self.eval_int(l, ctx);
                let b = self.eval_int(r, ctx);
                match int_op(*op, a, b) {
                    Some(v) => v,
                    None => {
                        ctx.log_error("division by zero in expression");
                        self.failed = true;
                        0
                    }
                }
            }
            Expr::Match(l, rhs) => {
                if let (Expr::Kw(k), MatchRhs::Const(re)) = (&**l, &**rhs) {
                    if let Some(b) = kw_text(*k, ctx) {
                        return i64::from(re.is_match(b));
                    }
                }
                let s = self.eval(l, ctx).into_bytes();
                i64::from(match &**rhs {
                    MatchRhs::Const(re) => re.is_match(&s),
                    MatchRhs::Dyn(x) => {
                        let p = self.eval(x, ctx).into_bytes();
                        match ferrosip_api::posix::compile(&String::from_utf8_lossy(&p), true) {
                            Ok(re) => re.is_match(&s),
                            Err(m) => {
                                ctx.log_error(&m);
                                false
                            }
                        }
                    }
                })
            }
            Expr::Elem { kw, negate, rhs } => {
                // Kamailio's eval_elem: a send keyword outside onsend_route is a bug in the
                // config and the comparison is false whatever the operator.
                if kw.is_send() && ctx.state.sending.is_none() {
                    ctx.log_error(&format!(
                        "BUG: eval_elem: {} unknown (not in a onsend_route?)",
                        kw.name()
                    ));
                    return 0;
                }
                let r = self.elem(*kw, rhs, ctx);
                i64::from(r != *negate)
            }
            Expr::Selval(..) => self.eval(e, ctx).to_int(),
        }
    }

    fn elem(&mut self, kw: Kw, rhs: &ElemRhs, ctx: &mut Ctx<'_>) -> bool {
        match rhs {
            ElemRhs::Myself => match kw {
                Kw::SrcIp | Kw::DstIp | Kw::SndIp | Kw::ToIp => {
                    let ip = kw_ip(kw, ctx);
                    ctx.server.is_myself(ip.to_string().as_bytes(), 0, None)
                }
                _ => match kw_text(kw, ctx) {
                    Some(u) => {
                        let u = u.to_vec();
                        crate::uri::is_myself(&u, ctx)
                    }
                    None => {
                        let u = kw_value(kw, ctx).into_bytes();
                        crate::uri::is_myself(&u, ctx)
                    }
                },
            },
            ElemRhs::Net(net, mask) => in_net(kw_ip(kw, ctx), *net, *mask),
            ElemRhs::Host(name) => host_has(kw_ip(kw, ctx), name),
            ElemRhs::Regex(re) => match kw_text(kw, ctx) {
                Some(b) => re.is_match(b),
                None => re.is_match(&kw_value(kw, ctx).to_bytes()),
            },
            // `method == "INVITE"`, `uri == "sip:…"`: compared in place, nothing copied.
            ElemRhs::Expr(x) if kw.is_text() && matches!(x, Expr::Const(_)) => {
                let Expr::Const(c) = x else {
                    return false;
                };
                let right = c.to_bytes();
                match kw_text(kw, ctx) {
                    Some(left) => left.eq_ignore_ascii_case(&right),
                    None => kw_value(kw, ctx).to_bytes().eq_ignore_ascii_case(&right),
                }
            }
            ElemRhs::Expr(x) => {
                let v = self.eval(x, ctx);
                let left = kw_value(kw, ctx);
                if kw.is_text() {
                    left.to_bytes().eq_ignore_ascii_case(&v.to_bytes())
                } else if kw.is_ip() {
                    let l = left.to_bytes();
                    let r = v.to_bytes();
                    match (
                        std::str::from_utf8(&l)
                            .ok()
                            .and_then(|s| s.parse::<IpAddr>().ok()),
                        std::str::from_utf8(&r).ok().and_then(|s| {
                            s.trim_matches(|c| c == '[' || c == ']')
                                .parse::<IpAddr>()
                                .ok()
                        }),
                    ) {
                        (Some(a), Some(b)) => a == b,
                        _ => l == r,
                    }
                } else {
                    left.to_int() == v.to_int()
                }
            }
        }
    }
}

/// The block name Kamailio's debugger prints for a block (its parser's `routename`, or the
/// default name of the block's keyword; event routes always get the default).
fn kamailio_route_name(r: &Route) -> &str {
    use ferrosip_api::RouteType as T;
    match r.kind {
        T::Event => "DEFAULT_EVENT",
        _ if !r.name.is_empty() => &r.name,
        T::CoreOnReply | T::TmOnReply => "DEFAULT_ONREPLY",
        T::Failure | T::BranchFailure => "DEFAULT_FAILURE",
        T::Branch => "DEFAULT_BRANCH",
        T::OnSend => "DEFAULT_SEND",
        _ => "DEFAULT_ROUTE",
    }
}

/// `src_ip == name` as Kamailio's comp_ip: the address's text equals the name (any case), or the
/// name resolves to it. The name is resolved at each evaluation by the system resolver (the one
/// `forward()` uses: /etc/hosts, then DNS) — Kamailio with `use_dns_cache=off`, the only DNS mode
/// ferrosip accepts. Kamailio takes the IPv4 answers when there are any, else the IPv6 ones, so an
/// IPv6 source never matches a name that also has an IPv4 address. No reverse lookup: that is
/// `rev_dns=yes`, which ferrosip refuses.
pub(crate) fn host_has(ip: IpAddr, name: &str) -> bool {
    use std::net::ToSocketAddrs;
    if ip.to_string().eq_ignore_ascii_case(name) {
        return true;
    }
    let Ok(addrs) = (name, 0).to_socket_addrs() else {
        return false;
    };
    let addrs: Vec<IpAddr> = addrs.map(|a| a.ip()).collect();
    let v4 = addrs.iter().any(IpAddr::is_ipv4);
    addrs.iter().any(|a| a.is_ipv4() == v4 && *a == ip)
}

/// True when `ip` is in `net/mask` (families must match).
pub(crate) fn in_net(ip: IpAddr, net: IpAddr, mask: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = if mask == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(mask.min(32)))
            };
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = if mask == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(mask.min(128)))
            };
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

/// The address an IP keyword names (send keywords: checked by the caller to be in onsend_route;
/// the unspecified address otherwise).
fn kw_ip(kw: Kw, ctx: &Ctx<'_>) -> IpAddr {
    let unspecified = IpAddr::from([0u8, 0, 0, 0]);
    match kw {
        Kw::SrcIp => ctx.rcv.src.ip(),
        Kw::SndIp => ctx
            .state
            .sending
            .as_ref()
            .map_or(unspecified, |s| s.from.ip()),
        Kw::ToIp => ctx
            .state
            .sending
            .as_ref()
            .map_or(unspecified, |s| s.to.ip()),
        _ => ctx.rcv.dst.ip(),
    }
}

/// A `$var` slot (0 when never set).
fn var_value<'c>(ctx: &'c Ctx<'_>, slot: usize) -> &'c Value {
    static ZERO: Value = Value::Int(0);
    match ctx.worker.var(slot) {
        Value::Null => &ZERO,
        v => v,
    }
}

/// The R-URI / method bytes borrowed from the message or the new R-URI, when available.
fn kw_text<'c>(k: Kw, ctx: &'c Ctx<'_>) -> Option<&'c [u8]> {
    match k {
        Kw::Uri if ctx.msg.is_request() => Some(match &ctx.state.new_uri {
            Some(u) => u.as_slice(),
            None => ctx.original_ruri(),
        }),
        Kw::Method => ctx
            .msg
            .request_line()
            .map(|rl| rl.method_span.of(ctx.msg.buf())),
        _ => None,
    }
}

/// The value of a core keyword for the current message.
pub(crate) fn kw_value(k: Kw, ctx: &mut Ctx<'_>) -> Value {
    match k {
        Kw::Method => {
            if let Some(rl) = ctx.msg.request_line() {
                return Value::Str(rl.method_span.of(ctx.msg.buf()).to_vec());
            }
            match ctx.msg.cseq() {
                Ok(c) => Value::Str(c.method_span.of(ctx.msg.buf()).to_vec()),
                Err(_) => Value::Null,
            }
        }
        Kw::Uri => {
            if ctx.msg.is_request() {
                Value::Str(ctx.ruri())
            } else {
                Value::Null
            }
        }
        Kw::FromUri => match ctx.msg.from_uri() {
            Ok(u) => Value::Str(u.span.of(ctx.msg.buf()).to_vec()),
            Err(_) => Value::Null,
        },
        Kw::ToUri => match ctx.msg.to_uri() {
            Ok(u) => Value::Str(u.span.of(ctx.msg.buf()).to_vec()),
            Err(_) => Value::Null,
        },
        Kw::SrcIp => Value::Str(ctx.rcv.src.ip().to_string().into_bytes()),
        Kw::SrcPort => Value::Int(i64::from(ctx.rcv.src.port())),
        Kw::DstIp => Value::Str(ctx.rcv.dst.ip().to_string().into_bytes()),
        Kw::DstPort => Value::Int(i64::from(ctx.rcv.dst.port())),
        Kw::Proto => Value::Int(ctx.rcv.proto.number()),
        Kw::Af => Value::Int(if ctx.rcv.src.is_ipv6() { 10 } else { 2 }),
        // In onsend_route, the length of what goes on the wire (Kamailio's MSGLEN_O).
        Kw::MsgLen => {
            let len = match &ctx.state.sending {
                Some(snd) => snd.buf.len(),
                None => ctx.msg.buf().len(),
            };
            Value::Int(i64::try_from(len).unwrap_or(i64::MAX))
        }
        Kw::Status => Value::Int(ctx.msg.status().map_or(0, i64::from)),
        Kw::SndIp | Kw::SndPort | Kw::SndProto | Kw::SndAf | Kw::ToIp | Kw::ToPort => {
            let Some(snd) = &ctx.state.sending else {
                return Value::Null;
            };
            match k {
                Kw::SndIp => Value::Str(snd.from.ip().to_string().into_bytes()),
                Kw::SndPort => Value::Int(i64::from(snd.from.port())),
                Kw::SndProto => Value::Int(snd.proto.number()),
                Kw::SndAf => Value::Int(if snd.from.is_ipv6() { 10 } else { 2 }),
                Kw::ToIp => Value::Str(snd.to.ip().to_string().into_bytes()),
                _ => Value::Int(i64::from(snd.to.port())),
            }
        }
    }
}

/// A non-constant function argument: evaluated per call, without access to route blocks (the
/// compiler refuses function calls inside arguments).
#[derive(Debug)]
pub(crate) struct DynExpr {
    pub expr: Expr,
    pub opts: RunOptions,
}

impl DynValue for DynExpr {
    fn eval(&self, ctx: &mut Ctx<'_>) -> Value {
        let mut run = Run::new(&[], &self.opts);
        run.eval(&self.expr, ctx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let cases = [
            ("10.1.2.3", "10.0.0.0", 8, true),
            ("11.1.2.3", "10.0.0.0", 8, false),
            ("192.168.1.1", "192.168.1.1", 32, true),
            ("1.2.3.4", "0.0.0.0", 0, true),
            ("::1", "::", 0, true),
            ("2001:db8::1", "2001:db8::", 32, true),
            ("2001:db9::1", "2001:db8::", 32, false),
            ("10.0.0.1", "::", 0, false),
        ];
        for (a, n, m, want) in cases {
            assert_eq!(in_net(ip(a), ip(n), m), want, "{a} in {n}/{m}");
        }
    }
}
