//! Positions and names of actions as Kamailio's debugger reports them (`cfgtrace`: `c=[file] l=LINE
//! a=TYPE n=NAME`), computed once at load for the per-action hook.
//!
//! Kamailio stamps an action with the line its parser had reached when it built it (`set_cfg_pos`
//! in cfg.y), which is the line of the statement's last token — except where the grammar needs to
//! read one token more to know the statement ended: an `if` without `else` (is an `else` next?), so
//! its line is that of the next token. The rules below were checked against Kamailio 5.6.3 (the
//! action type numbers are the same in 6.0: `enum action_type` in src/core/route_struct.h).

use ferrosip_config::ast::{self, CaseLabel};
use ferrosip_config::Span;

/// Kamailio action type numbers (`enum action_type`).
pub(super) mod kind {
    pub const DROP: u8 = 2;
    pub const ROUTE: u8 = 5;
    pub const IF: u8 = 16;
    pub const BLOCK: u8 = 18;
    pub const EVAL: u8 = 19;
    pub const SWITCH_JT: u8 = 20;
    pub const SWITCH_COND: u8 = 21;
    pub const MATCH_COND: u8 = 22;
    pub const WHILE: u8 = 23;
    pub const MODULE0: u8 = 24;
    pub const MODULEX: u8 = 31;
    /// `MODULEn_RVE_T` = `MODULEn_T` + 7 (a parameter is an expression evaluated per call).
    pub const RVE_OFFSET: u8 = 7;
    pub const ASSIGN: u8 = 63;
}

/// The core actions Kamailio's grammar builds for a function name (their type and the debugger's
/// name for it, `debugger_act.c`); `None` for module functions. Types without a debugger name
/// print `unknown`, as Kamailio does.
pub(super) fn core_action(name: &str) -> Option<(u8, &'static str)> {
    Some(match name {
        "forward" => (1, "forward"),
        "log" => (3, "log"),
        "error" => (4, "error"),
        "exec" => (6, "exec"),
        "rewritehost" | "sethost" | "seth" => (7, "sethost"),
        "rewritehostport" | "sethostport" | "sethp" => (8, "sethostport"),
        "rewriteuser" | "setuser" | "setu" => (9, "setuser"),
        "rewriteuserpass" | "setuserpass" | "setup" => (10, "setuserpass"),
        "rewriteport" | "setport" | "setp" => (11, "setport"),
        "rewriteuri" | "seturi" => (12, "seturi"),
        "rewritehostporttrans" | "sethostporttrans" | "sethpt" => (13, "sethostporttrans"),
        "userphone" => (15, "setuserphone"),
        "setflag" => (39, "setflag"),
        "resetflag" => (40, "resetflag"),
        "isflagset" => (41, "isflagset"),
        "setavpflag" | "resetavpflag" | "isavpflagset" => (42, "avpflag"),
        "prefix" => (44, "prefix"),
        "strip" => (45, "strip"),
        "strip_tail" => (46, "striptail"),
        "append_branch" => (47, "append_branch"),
        "remove_branch" => (48, "unknown"),
        "clear_branches" => (49, "unknown"),
        "revert_uri" => (50, "reverturi"),
        "forward_tcp" => (51, "forward_tcp"),
        "forward_udp" => (52, "forward_udp"),
        "forward_tls" => (53, "forward_tls"),
        "forward_sctp" => (54, "forward_sctp"),
        "force_rport" | "add_rport" => (55, "force_rport"),
        "add_local_rport" => (56, "add_local_rport"),
        "set_advertised_address" => (57, "set_adv_addr"),
        "set_advertised_port" => (58, "set_adv_port"),
        "force_tcp_alias" | "add_tcp_alias" => (59, "force_tcp_alias"),
        "force_send_socket" => (62, "force_send_socket"),
        "udp_mtu_try_proto" => (65, "udp_mtu_try_proto"),
        "set_forward_no_connect" => (66, "set_fwd_no_connect"),
        "set_reply_no_connect" => (67, "set_rpl_no_connect"),
        "set_forward_close" => (68, "set_fwd_close"),
        "set_reply_close" => (69, "set_rpl_close"),
        "cfg_select" => (70, "unknown"),
        "cfg_reset" => (71, "unknown"),
        _ => return None,
    })
}

/// A module function's action type: `MODULEn_T` by parameter count (`MODULEX_T` for variadic
/// ones), the `_RVE` variant when a parameter is not constant.
pub(super) fn module_kind(nargs: usize, variadic: bool, rve: bool) -> u8 {
    let base = match u8::try_from(nargs) {
        Ok(n) if n <= 6 && !variadic => kind::MODULE0 + n,
        _ => kind::MODULEX,
    };
    if rve && base != kind::MODULE0 {
        base + kind::RVE_OFFSET
    } else {
        base
    }
}

/// True when Kamailio sees a constant parameter (a literal, or an expression of literals it
/// folds); a variable or anything computed makes the call a `_RVE` one.
pub(super) fn is_constant(e: &ast::Expr) -> bool {
    match e {
        ast::Expr::Int(..) | ast::Expr::Str(..) | ast::Expr::Ident(..) => true,
        ast::Expr::Unary { expr, .. } => is_constant(expr),
        ast::Expr::Binary { left, right, .. } => is_constant(left) && is_constant(right),
        _ => false,
    }
}

/// The type of a `switch` after Kamailio's fixup (`fix_switch`/`fix_match`): a block when only
/// `default` is left or the subject is constant, a jump table for more than three integer
/// cases within 100 of each other, a condition table otherwise; `case` for string switches.
pub(super) fn switch_kind(cases: &[ast::Case], constant_subject: bool) -> u8 {
    let ints: Vec<i64> = cases
        .iter()
        .filter_map(|c| match c.label {
            CaseLabel::Int(i) => Some(i),
            _ => None,
        })
        .collect();
    let labelled = cases
        .iter()
        .filter(|c| !matches!(c.label, CaseLabel::Default))
        .count();
    if labelled == 0 || constant_subject {
        return kind::BLOCK;
    }
    if ints.len() != labelled {
        return kind::MATCH_COND;
    }
    // Kamailio's search for the densest run of case values (switch.c, MAX_JT_SIZE 100).
    let mut best = 3;
    let mut found = false;
    for (i, &first) in ints.iter().enumerate() {
        let mut last = first;
        let mut hits = 1;
        for (j, &v) in ints.iter().enumerate() {
            if i == j || v <= first {
                continue;
            }
            if v < last {
                hits += 1;
            } else if v.saturating_sub(first) < 100 {
                last = v;
                hits += 1;
            }
        }
        if hits > best {
            best = hits;
            found = first != last;
        }
    }
    if found {
        kind::SWITCH_JT
    } else {
        kind::SWITCH_COND
    }
}

/// The span of a statement.
pub(super) fn stmt_span(s: &ast::Stmt) -> Span {
    match s {
        ast::Stmt::Expr(e) => e.span(),
        ast::Stmt::Assign { span, .. }
        | ast::Stmt::If { span, .. }
        | ast::Stmt::Switch { span, .. }
        | ast::Stmt::While { span, .. }
        | ast::Stmt::Route { span, .. }
        | ast::Stmt::Break(span)
        | ast::Stmt::Return(_, span)
        | ast::Stmt::Exit(_, span)
        | ast::Stmt::Drop(_, span)
        | ast::Stmt::Block(_, span) => *span,
    }
}

/// True when Kamailio's parser reads the token after the statement before building it: an `if`
/// without `else`, or an `if … else if …` chain ending in one (the inner `if` is the unbraced
/// `else` body, so both end at the same place).
pub(super) fn reads_next_token(s: &ast::Stmt) -> bool {
    match s {
        ast::Stmt::If {
            otherwise: None, ..
        } => true,
        ast::Stmt::If {
            otherwise: Some(o),
            span,
            ..
        } => match o.as_slice() {
            [inner @ ast::Stmt::If { .. }] => {
                stmt_span(inner).end == span.end && reads_next_token(inner)
            }
            _ => false,
        },
        _ => false,
    }
}

/// The offset of the first token at or after `from` in `text`: whitespace and comments (`#…`,
/// `//…`, `/*…*/`) are skipped. Preprocessor lines (`#!…`) are skipped like comments, so a
/// disabled `#!ifdef` region right after the statement is not seen as such (the next statement in
/// the same block, when there is one, is used instead: see the caller).
pub(super) fn next_token(text: &str, from: usize) -> usize {
    let b = text.as_bytes();
    let mut i = from.min(b.len());
    // Bounded by the text length: every iteration advances `i`.
    while let Some(&c) = b.get(i) {
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'#' || (c == b'/' && b.get(i + 1) == Some(&b'/')) {
            while b.get(i).is_some_and(|&c| c != b'\n') {
                i += 1;
            }
        } else if c == b'/' && b.get(i + 1) == Some(&b'*') {
            i += 2;
            while i < b.len() && !(b.get(i) == Some(&b'*') && b.get(i + 1) == Some(&b'/')) {
                i += 1;
            }
            i = (i + 2).min(b.len());
        } else {
            break;
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_token_skips_space_and_comments() {
        let cases = [
            ("  x", 0, 2),
            ("# c\n  y", 0, 6),
            ("// c\n/* a\nb */ z", 0, 15),
            ("}", 0, 0),
            ("   ", 0, 3),
            ("/* open", 0, 7),
        ];
        for (text, from, want) in cases {
            assert_eq!(next_token(text, from), want, "{text:?}");
        }
    }

    #[test]
    fn module_kinds_follow_kamailio_numbers() {
        let cases = [
            (0, false, false, 24),
            (1, false, false, 25),
            (2, false, false, 26),
            (1, false, true, 32),
            (2, false, true, 33),
            (6, false, false, 30),
            (7, false, false, 31),
            (2, true, false, 31),
            (2, true, true, 38),
            (0, false, true, 24),
        ];
        for (n, var, rve, want) in cases {
            assert_eq!(module_kind(n, var, rve), want, "{n} {var} {rve}");
        }
    }

    #[test]
    fn switch_kinds() {
        let case = |label| ast::Case {
            label,
            body: Vec::new(),
            span: Span::default(),
        };
        let ints = |v: &[i64]| {
            v.iter()
                .map(|i| case(CaseLabel::Int(*i)))
                .collect::<Vec<_>>()
        };
        let cases: Vec<(Vec<ast::Case>, bool, u8)> = vec![
            (ints(&[2]), false, kind::SWITCH_COND),
            (ints(&[1, 2, 3]), false, kind::SWITCH_COND),
            (ints(&[1, 2, 3, 4]), false, kind::SWITCH_JT),
            (ints(&[1, 200, 400, 600]), false, kind::SWITCH_COND),
            (ints(&[1, 2]), true, kind::BLOCK),
            (vec![case(CaseLabel::Default)], false, kind::BLOCK),
            (
                vec![case(CaseLabel::Str("a".into())), case(CaseLabel::Default)],
                false,
                kind::MATCH_COND,
            ),
        ];
        for (cs, constant, want) in cases {
            assert_eq!(switch_kind(&cs, constant), want, "{cs:?}");
        }
    }
}
