//! The compiled form of a config: route blocks of statements whose every name is resolved. Also the
//! pure value operations shared by the evaluator and the constant folder.

use std::sync::Arc;

use ferrosip_api::export::{Arg, Handler};
use ferrosip_api::pv::PvSpec;
use ferrosip_api::{RouteType, Value};
use regex::bytes::Regex;

/// Where an action sits in the config and what Kamailio calls it, for the per-action hook
/// ([`crate::ActionHook`]: `debugger` cfgtrace, `log_prefix_mode`). Computed at load, so the hook
/// costs nothing when no one listens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct At {
    /// Index of the block that textually contains the action (Kamailio's `a->rname`).
    pub route: u32,
    /// Index in the program's file names (Kamailio's `a->cfile`).
    pub file: u32,
    /// Kamailio's `a->cline`: the line its parser was at when it built the action (see
    /// `compile::at`).
    pub line: u32,
    /// Column where the statement starts (1-based).
    pub col: u32,
    /// Kamailio's action type number (`enum action_type`, printed as `a=`).
    pub kind: u8,
    /// What the debugger calls it: the function name or the statement kind.
    pub name: &'static str,
}

/// A statement with its position: one element of a block (Kamailio's `struct action`).
#[derive(Debug, Clone)]
pub(crate) struct Action {
    pub stmt: Stmt,
    pub at: At,
}

/// A statement.
#[derive(Debug, Clone)]
pub(crate) enum Stmt {
    /// A function call used as a statement.
    Call(Call),
    /// Any other expression used as a statement (evaluated for its side effects).
    Eval(Expr),
    Assign(PvSpec, Expr),
    /// Assignment to `$var(name)` by slot.
    SetVar(PvSpec, usize, Expr),
    If(Expr, Vec<Action>, Vec<Action>),
    /// `switch` on integers: case values, index of the first statement list to run.
    SwitchInt {
        subject: Expr,
        cases: Vec<(Option<i64>, Vec<Action>)>,
    },
    /// `switch` on strings / regexes.
    SwitchStr {
        subject: Expr,
        cases: Vec<(StrCase, Vec<Action>)>,
    },
    While(Expr, Vec<Action>),
    Break,
    Return(Option<Expr>),
    Exit(Option<Expr>),
    Drop(Option<Expr>),
    Route(RouteTarget),
    Block(Vec<Action>),
}

/// A string-switch label.
#[derive(Debug, Clone)]
pub(crate) enum StrCase {
    Default,
    Str(Vec<u8>),
    Regex(Regex),
}

/// Which `route[..]` to run.
#[derive(Debug, Clone)]
pub(crate) enum RouteTarget {
    /// Resolved at load (index in the program's route list); `None` when undefined (warned at load,
    /// an error at run time as in Kamailio).
    Static(Option<usize>, String),
    /// Name computed per message.
    Dynamic(Box<Expr>),
}

/// A resolved select.
#[derive(Clone)]
pub(crate) struct Sel {
    pub path: String,
    pub get: ferrosip_api::export::SelectGet,
}

impl std::fmt::Debug for Sel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "@{}", self.path)
    }
}

/// A resolved function call.
#[derive(Clone)]
pub(crate) struct Call {
    pub name: &'static str,
    /// A core command: Kamailio's core actions neither update `$rc` nor stop the script when they
    /// yield 0 (only module functions do, through `MODF_HANDLE_RETCODE`).
    pub core: bool,
    pub handler: Handler,
    pub args: Vec<Arg>,
    /// Position, for the hook when the call is evaluated inside an expression (as a statement,
    /// the enclosing [`Action`] carries the same).
    pub at: At,
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}({:?})", self.name, self.args)
    }
}

/// Core keywords usable in expressions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kw {
    Method,
    Uri,
    FromUri,
    ToUri,
    SrcIp,
    SrcPort,
    DstIp,
    DstPort,
    Proto,
    Af,
    MsgLen,
    Status,
    /// onsend_route: address, port, protocol and family of the sending socket.
    SndIp,
    SndPort,
    SndProto,
    SndAf,
    /// onsend_route: where the message goes.
    ToIp,
    ToPort,
}

impl Kw {
    /// Keywords compared as text (case-insensitively with `==`, as Kamailio's `comp_str`).
    pub fn is_text(self) -> bool {
        matches!(self, Kw::Method | Kw::Uri | Kw::FromUri | Kw::ToUri)
    }
    pub fn is_ip(self) -> bool {
        matches!(self, Kw::SrcIp | Kw::DstIp | Kw::SndIp | Kw::ToIp)
    }
    /// The keyword as the config spells it.
    pub fn name(self) -> &'static str {
        match self {
            Kw::Method => "method",
            Kw::Uri => "uri",
            Kw::FromUri => "from_uri",
            Kw::ToUri => "to_uri",
            Kw::SrcIp => "src_ip",
            Kw::SrcPort => "src_port",
            Kw::DstIp => "dst_ip",
            Kw::DstPort => "dst_port",
            Kw::Proto => "proto",
            Kw::Af => "af",
            Kw::MsgLen => "msg:len",
            Kw::Status => "status",
            Kw::SndIp => "snd_ip",
            Kw::SndPort => "snd_port",
            Kw::SndProto => "snd_proto",
            Kw::SndAf => "snd_af",
            Kw::ToIp => "to_ip",
            Kw::ToPort => "to_port",
        }
    }
    /// Keywords that exist only while onsend_route runs (Kamailio's `onsend_info`).
    pub fn is_send(self) -> bool {
        matches!(
            self,
            Kw::SndIp | Kw::SndPort | Kw::SndProto | Kw::SndAf | Kw::ToIp | Kw::ToPort
        )
    }
}

/// Right side of an old-style keyword comparison.
#[derive(Debug, Clone)]
pub(crate) enum ElemRhs {
    Myself,
    Net(std::net::IpAddr, u8),
    /// `src_ip == host.example`: the address's text, then the name's addresses (eval::host_has).
    Host(String),
    Regex(Regex),
    Expr(Expr),
}

/// Binary operators after resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Or,
    And,
    BitOr,
    BitAnd,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    StrEq,
    StrNe,
    IntEq,
    IntNe,
    Lt,
    Gt,
    Le,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// Unary operators after resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Un {
    Not,
    BitNot,
    Neg,
    Strlen,
    Strempty,
    IntCast,
    StrCast,
}

/// An expression.
#[derive(Debug, Clone)]
pub(crate) enum Expr {
    Const(Value),
    Pv(PvSpec),
    /// `$var(name)` read straight from the worker's slot (the storage is the api crate's, whoever
    /// registers the PV): no dynamic call, no clone in integer and comparison contexts.
    Var(usize),
    Kw(Kw),
    /// A select resolved at load.
    Select(Sel),
    Call(Box<Call>),
    /// `($x = expr)` used as a value: like a call, its value is the assignment's return code
    /// (1 on success), not the assigned value (checked against Kamailio 5.6.3).
    Action(Box<Action>),
    Route(Box<(RouteTarget, At)>),
    Defined(Box<Expr>),
    Unary(Un, Box<Expr>),
    Bin(Op, Box<Expr>, Box<Expr>),
    /// `=~`: case-insensitive POSIX ERE.
    Match(Box<Expr>, Box<MatchRhs>),
    /// Old-style comparison of a keyword (`uri == myself`, `src_ip == 10.0.0.0/8`, `method == "X"`).
    Elem {
        kw: Kw,
        negate: bool,
        rhs: Box<ElemRhs>,
    },
    Selval(Box<Expr>, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone)]
pub(crate) enum MatchRhs {
    Const(Regex),
    Dyn(Expr),
}

/// One route block.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub name: String,
    pub kind: RouteType,
    pub body: Arc<Vec<Action>>,
}

/// The slot of a `$var(name)` spec without transformations, for the fast path.
pub(crate) fn var_slot(spec: &PvSpec) -> Option<usize> {
    if spec.name() != "var" || spec.has_transforms() {
        return None;
    }
    match spec.pv_name() {
        ferrosip_api::pv::PvName {
            inner: ferrosip_api::pv::PvInner::Int(i),
            index: ferrosip_api::pv::PvIndex::None,
        } => usize::try_from(*i).ok(),
        _ => None,
    }
}

/// Integer result of a binary integer operator; `None` for division by zero.
pub(crate) fn int_op(op: Op, a: i64, b: i64) -> Option<i64> {
    Some(match op {
        Op::Or => i64::from(a != 0 || b != 0),
        Op::And => i64::from(a != 0 && b != 0),
        Op::BitOr => a | b,
        Op::BitAnd => a & b,
        Op::BitXor => a ^ b,
        Op::Shl => a.wrapping_shl(u32::try_from(b).unwrap_or(u32::MAX) & 63),
        Op::Shr => a.wrapping_shr(u32::try_from(b).unwrap_or(u32::MAX) & 63),
        Op::Eq | Op::IntEq => i64::from(a == b),
        Op::Ne | Op::IntNe => i64::from(a != b),
        Op::Lt => i64::from(a < b),
        Op::Gt => i64::from(a > b),
        Op::Le => i64::from(a <= b),
        Op::Ge => i64::from(a >= b),
        Op::Add => a.wrapping_add(b),
        Op::Sub => a.wrapping_sub(b),
        Op::Mul => a.wrapping_mul(b),
        Op::Div => a.checked_div(b)?,
        Op::Mod => a.checked_rem(b)?,
        Op::StrEq => i64::from(a.to_string() == b.to_string()),
        Op::StrNe => i64::from(a.to_string() != b.to_string()),
    })
}

/// `==` / `!=` by Kamailio's rules: the left operand's type decides; an undefined left operand takes
/// the right one's type; undefined on both sides compares equal.
pub(crate) fn eq_values(l: &Value, r: &Value) -> bool {
    match (l, r) {
        (Value::Int(a), _) => *a == r.to_int(),
        (Value::Str(a), _) => a.as_slice() == &*r.to_bytes(),
        (Value::Null, Value::Int(b)) => *b == 0,
        (Value::Null, Value::Str(b)) => b.is_empty(),
        (Value::Null, Value::Null) => true,
    }
}

/// Value-mode binary operation on two evaluated operands (not for `&&`/`||`, which short-circuit).
/// `Err` carries a message (division by zero).
pub(crate) fn value_op(op: Op, l: Value, r: Value) -> Result<Value, &'static str> {
    match op {
        Op::Add => Ok(match l {
            Value::Int(a) => Value::Int(a.wrapping_add(r.to_int())),
            Value::Str(mut a) => {
                a.extend_from_slice(&r.to_bytes());
                Value::Str(a)
            }
            // undef + x: the undefined value is the empty string.
            Value::Null => Value::Str(r.into_bytes()),
        }),
        Op::Eq => Ok(Value::Int(i64::from(eq_values(&l, &r)))),
        Op::Ne => Ok(Value::Int(i64::from(!eq_values(&l, &r)))),
        Op::StrEq => Ok(Value::Int(i64::from(l.to_bytes() == r.to_bytes()))),
        Op::StrNe => Ok(Value::Int(i64::from(l.to_bytes() != r.to_bytes()))),
        _ => int_op(op, l.to_int(), r.to_int())
            .map(Value::Int)
            .ok_or("division by zero"),
    }
}

/// Unary operation on a value.
pub(crate) fn unary_op(op: Un, v: Value) -> Value {
    match op {
        Un::Not => Value::Int(i64::from(v.to_int() == 0)),
        Un::BitNot => Value::Int(!v.to_int()),
        Un::Neg => Value::Int(v.to_int().wrapping_neg()),
        Un::Strlen => Value::Int(i64::try_from(v.to_bytes().len()).unwrap_or(i64::MAX)),
        Un::Strempty => Value::Int(i64::from(v.to_bytes().is_empty())),
        Un::IntCast => Value::Int(v.to_int()),
        Un::StrCast => Value::Str(v.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_ops_follow_the_cookbook() {
        let s = |x: &str| Value::str(x);
        let cases: Vec<(Op, Value, Value, Value)> = vec![
            (Op::Add, s("a"), Value::Int(1), s("a1")),
            (Op::Add, Value::Int(1), s("2"), Value::Int(3)),
            (Op::Add, Value::Int(1), s("x"), Value::Int(1)),
            (Op::Add, Value::Null, Value::Int(5), s("5")),
            (Op::Eq, Value::Int(0), s(""), Value::Int(1)),
            (Op::StrEq, Value::Int(0), s(""), Value::Int(0)),
            (Op::Eq, s("a"), s("b"), Value::Int(0)),
            (Op::IntEq, s("a"), s("b"), Value::Int(1)),
            (Op::Eq, Value::Null, Value::Null, Value::Int(1)),
            (Op::Eq, Value::Null, Value::Int(0), Value::Int(1)),
            (Op::Eq, Value::Null, s(""), Value::Int(1)),
            (Op::Ne, Value::Null, s("x"), Value::Int(1)),
            (Op::Eq, s("10"), Value::Int(10), Value::Int(1)),
            (Op::Eq, s("010"), Value::Int(10), Value::Int(0)),
            (Op::Eq, Value::Int(10), s("010"), Value::Int(1)),
            (Op::Lt, s("2"), s("10"), Value::Int(1)),
            (Op::Mod, Value::Int(7), Value::Int(3), Value::Int(1)),
            (Op::BitAnd, Value::Int(6), Value::Int(3), Value::Int(2)),
            (Op::Shl, Value::Int(1), Value::Int(4), Value::Int(16)),
            (Op::Sub, s("5"), Value::Null, Value::Int(5)),
        ];
        for (op, l, r, want) in cases {
            assert_eq!(
                value_op(op, l.clone(), r.clone()),
                Ok(want),
                "{l:?} {op:?} {r:?}"
            );
        }
        assert!(value_op(Op::Div, Value::Int(1), Value::Int(0)).is_err());
        assert_eq!(unary_op(Un::IntCast, s("a")), Value::Int(0));
        assert_eq!(unary_op(Un::StrCast, Value::Int(12)), s("12"));
        assert_eq!(unary_op(Un::Strlen, Value::Int(123)), Value::Int(3));
        assert_eq!(unary_op(Un::Strempty, Value::Null), Value::Int(1));
        assert_eq!(unary_op(Un::BitNot, Value::Int(2)), Value::Int(-3));
    }
}
