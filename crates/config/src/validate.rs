//! Checks Kamailio's grammar applies beyond the shape of expressions: where bare identifiers,
//! unquoted addresses and core keywords may appear, and that named flags are declared.
//!
//! In Kamailio's grammar a core keyword (`uri`, `src_ip`, `method`, `proto`, `af`, `msg:len`, …) is only
//! the left operand of a comparison (`myself` also as the left operand against `uri`/`src_ip`…), an
//! unquoted address only compares with an IP keyword or is an argument of a few core functions, and a
//! bare identifier is only a route name, a declared flag, a method/protocol/address-family value or a
//! host/interface compared with an IP keyword. Everywhere else they are syntax errors (for example
//! `xlog(L_INFO, "…")` needs `"L_INFO"`).

use crate::ast::{BinOp, Config, Expr, Item, Stmt};
use crate::diag::{Diagnostic, Error};
use std::collections::HashSet;

const IP_KEYWORDS: [&str; 4] = ["src_ip", "dst_ip", "snd_ip", "to_ip"];
const URI_KEYWORDS: [&str; 3] = ["uri", "from_uri", "to_uri"];
const PROTO_KEYWORDS: [&str; 3] = ["proto", "snd_proto", "to_proto"];
const AF_KEYWORDS: [&str; 3] = ["af", "snd_af", "to_af"];
const PROTOS: [&str; 6] = ["udp", "tcp", "tls", "sctp", "ws", "wss"];
const AFS: [&str; 4] = ["inet", "inet6", "ipv4", "ipv6"];
/// Core functions whose arguments may be identifiers or unquoted addresses.
const LOOSE_ARG_FUNCS: [&str; 12] = [
    "forward",
    "forward_udp",
    "forward_tcp",
    "forward_tls",
    "forward_sctp",
    "send",
    "send_tcp",
    "force_send_socket",
    "set_advertised_address",
    "udp_mtu_try_proto",
    "cfg_select",
    "cfg_reset",
];
const FLAG_FUNCS: [&str; 6] = [
    "setflag",
    "resetflag",
    "isflagset",
    "setavpflag",
    "resetavpflag",
    "isavpflagset",
];

/// Core functions (tokens of Kamailio's grammar, so no module can export them) and their argument
/// counts (min, max), from Kamailio 6.0's grammar.
const CORE_ARITY: &[(&str, usize, usize)] = &[
    ("add_local_rport", 0, 0),
    ("cfg_reset", 1, 1),
    ("cfg_select", 2, 2),
    ("clear_branches", 0, 0),
    ("error", 2, 2),
    ("exec", 1, 1),
    ("force_rport", 0, 0),
    ("add_rport", 0, 0),
    ("force_send_socket", 1, 1),
    ("force_tcp_alias", 0, 1),
    ("add_tcp_alias", 0, 1),
    ("forward", 0, 2),
    ("forward_sctp", 1, 2),
    ("forward_tcp", 1, 2),
    ("forward_tls", 1, 2),
    ("forward_udp", 1, 2),
    ("isflagset", 1, 1),
    ("log", 1, 2),
    ("prefix", 1, 1),
    ("remove_branch", 0, 1),
    ("resetflag", 1, 1),
    ("revert_uri", 0, 0),
    ("route", 1, 1),
    ("setflag", 1, 1),
    ("set_advertised_address", 1, 1),
    ("set_advertised_port", 1, 1),
    ("set_forward_close", 0, 0),
    ("set_forward_no_connect", 0, 0),
    ("set_reply_close", 0, 0),
    ("set_reply_no_connect", 0, 0),
    ("rewritehost", 1, 1),
    ("sethost", 1, 1),
    ("seth", 1, 1),
    ("rewritehostport", 1, 1),
    ("sethostport", 1, 1),
    ("sethp", 1, 1),
    ("rewritehostporttrans", 1, 1),
    ("sethostporttrans", 1, 1),
    ("sethpt", 1, 1),
    ("rewriteport", 1, 1),
    ("setport", 1, 1),
    ("setp", 1, 1),
    ("rewriteuri", 1, 1),
    ("seturi", 1, 1),
    ("rewriteuser", 1, 1),
    ("setuser", 1, 1),
    ("setu", 1, 1),
    ("rewriteuserpass", 1, 1),
    ("setuserpass", 1, 1),
    ("setup", 1, 1),
    ("userphone", 0, 0),
    ("strip", 1, 1),
    ("strip_tail", 1, 1),
    ("udp_mtu_try_proto", 1, 1),
];

fn is_comparison(op: BinOp) -> bool {
    matches!(
        op,
        BinOp::Eq
            | BinOp::Ne
            | BinOp::Match
            | BinOp::Lt
            | BinOp::Gt
            | BinOp::Le
            | BinOp::Ge
            | BinOp::StrEq
            | BinOp::StrNe
            | BinOp::IntEq
            | BinOp::IntNe
    )
}

struct V {
    flags: HashSet<String>,
    diags: Vec<Diagnostic>,
}

fn syntax(e: &Expr, msg: String) -> Diagnostic {
    Diagnostic::error(Error::Syntax(msg), Some(e.span()))
}

impl V {
    fn rval(&mut self, e: &Expr) {
        match e {
            Expr::Ident(name, _) => self.diags.push(syntax(
                e,
                format!("unexpected identifier `{name}` in an expression (quote strings; define names with #!define)"),
            )),
            Expr::Addr { text, .. } => self.diags.push(syntax(
                e,
                format!("unexpected address `{text}`: unquoted addresses only compare with src_ip/dst_ip/snd_ip/to_ip or go to core functions such as force_send_socket()"),
            )),
            Expr::Keyword(k, _) => self.diags.push(syntax(
                e,
                format!("`{k}` can only be compared (for example `{k} == …`)"),
            )),
            Expr::Call { name, args, .. } => {
                if let Some((_, min, max)) = CORE_ARITY.iter().find(|(n, _, _)| n == name) {
                    if args.len() < *min || args.len() > *max {
                        let want = if min == max {
                            format!("{min}")
                        } else {
                            format!("{min} to {max}")
                        };
                        self.diags.push(syntax(
                            e,
                            format!(
                                "core function `{name}` takes {want} argument(s), not {}",
                                args.len()
                            ),
                        ));
                    }
                }
                self.call(name, args)
            }
            Expr::Unary { expr, .. } => self.rval(expr),
            Expr::Assign { value, .. } => self.rval(value),
            Expr::Selval { cond, yes, no, .. } => {
                self.rval(cond);
                self.rval(yes);
                self.rval(no);
            }
            Expr::Binary {
                op, left, right, ..
            } => {
                if is_comparison(*op) {
                    if let (Expr::Keyword(m, _), Expr::Keyword(k, _)) = (&**left, &**right) {
                        let k = k.as_str();
                        if m == "myself" && (IP_KEYWORDS.contains(&k) || URI_KEYWORDS.contains(&k)) {
                            return;
                        }
                    }
                    if let Expr::Keyword(k, _) = &**left {
                        return self.keyword_cmp(k, right);
                    }
                }
                self.rval(left);
                self.rval(right);
            }
            Expr::Int(..) | Expr::Str(..) | Expr::Pv(_) | Expr::Select(..) => {}
        }
    }

    /// Right operand of `KEYWORD <op> …`.
    fn keyword_cmp(&mut self, k: &str, right: &Expr) {
        let myself = matches!(right, Expr::Keyword(m, _) if m == "myself");
        let ident = match right {
            Expr::Ident(i, _) => Some(i.to_ascii_lowercase()),
            _ => None,
        };
        let ok = if k == "myself" {
            false
        } else if IP_KEYWORDS.contains(&k) {
            myself
                || ident.is_some()
                || matches!(right, Expr::Addr { text, .. } if text.starts_with('[') || !text.contains(':'))
        } else if URI_KEYWORDS.contains(&k) {
            myself
        } else if k == "method" {
            ident.is_some()
        } else if PROTO_KEYWORDS.contains(&k) {
            ident.as_deref().is_some_and(|i| PROTOS.contains(&i))
        } else if AF_KEYWORDS.contains(&k) {
            ident.as_deref().is_some_and(|i| AFS.contains(&i))
        } else {
            false
        };
        if !ok {
            self.rval(right);
        }
    }

    fn call(&mut self, name: &str, args: &[Expr]) {
        let loose = LOOSE_ARG_FUNCS.contains(&name);
        for a in args {
            match a {
                Expr::Ident(flag, _) if FLAG_FUNCS.contains(&name) => {
                    if !self.flags.contains(flag) {
                        self.diags.push(syntax(
                            a,
                            format!(
                                "flag `{flag}` is not declared (use `flags {flag}` or a number)"
                            ),
                        ));
                    }
                }
                Expr::Ident(..) | Expr::Addr { .. } if loose => {}
                Expr::Ident(..) if name == "route" => {}
                _ => self.rval(a),
            }
        }
    }

    fn stmts(&mut self, body: &[Stmt]) {
        for s in body {
            self.stmt(s);
        }
    }

    fn stmt(&mut self, s: &Stmt) {
        match s {
            Stmt::Expr(e) => self.rval(e),
            Stmt::Assign { value, .. } => self.rval(value),
            Stmt::If {
                cond,
                then,
                otherwise,
                ..
            } => {
                self.rval(cond);
                self.stmts(then);
                if let Some(o) = otherwise {
                    self.stmts(o);
                }
            }
            Stmt::Switch { subject, cases, .. } => {
                self.rval(subject);
                for c in cases {
                    self.stmts(&c.body);
                }
            }
            Stmt::While { cond, body, .. } => {
                self.rval(cond);
                self.stmts(body);
            }
            Stmt::Return(v, _) | Stmt::Exit(v, _) | Stmt::Drop(v, _) => {
                if let Some(v) = v {
                    self.rval(v);
                }
            }
            Stmt::Route { target, .. } => {
                if !matches!(target, Expr::Ident(..)) {
                    self.rval(target);
                }
            }
            Stmt::Block(b, _) => self.stmts(b),
            Stmt::Break(_) => {}
        }
    }
}

/// Diagnostics for misplaced identifiers, addresses and keywords, and undeclared named flags.
pub(crate) fn check(config: &Config) -> Vec<Diagnostic> {
    let mut flags = HashSet::new();
    for item in &config.items {
        if let Item::Flags(d) | Item::AvpFlags(d) = item {
            flags.extend(d.iter().map(|f| f.name.clone()));
        }
    }
    let mut v = V {
        flags,
        diags: Vec::new(),
    };
    for r in config.routes() {
        v.stmts(&r.body);
    }
    v.diags
}
