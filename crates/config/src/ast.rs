//! The syntax tree. Every node carries the [`Span`] of the text it came from; names keep Kamailio's
//! spelling. The tree says what the config *says*; resolving function, module and variable names is
//! the script compiler's job.

use crate::span::Span;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    /// A core global parameter (`name` is the canonical spelling).
    Param(Param),
    /// `group.var = value [desc "…"]`, `group[N].var = …` (cfg framework variables).
    CustomParam(CustomParam),
    LoadModule(LoadModule),
    /// `loadpath` / `mpath`.
    LoadPath {
        path: String,
        span: Span,
    },
    ModParam(ModParam),
    /// `cfgengine "name"`.
    CfgEngine {
        name: String,
        span: Span,
    },
    /// `flags` declarations (`flags NAME[:N], …`).
    Flags(Vec<FlagDecl>),
    /// `avpflags` declarations.
    AvpFlags(Vec<FlagDecl>),
    Route(RouteBlock),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Param {
    pub name: &'static str,
    /// The spelling used in the file (may be an alias).
    pub written: String,
    pub name_span: Span,
    pub value: ParamValue,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    Int(i64),
    Bool(bool),
    Str(String),
    /// A bare identifier (e.g. `log_facility=LOG_LOCAL0`) or unquoted address text.
    Ident(String),
    Listen(Listen),
    Socket(SocketBlock),
}

impl ParamValue {
    /// Integer view: ints and booleans.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            ParamValue::Int(i) => Some(*i),
            ParamValue::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }
    /// Text view: strings and identifiers.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            ParamValue::Str(s) | ParamValue::Ident(s) => Some(s),
            _ => None,
        }
    }
}

/// A listen / alias / `-l` address: `[proto:]addr_lst[:port[-port_end]]` plus attributes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Listen {
    /// `udp`, `tcp`, `tls`, `sctp`, `ws`, `wss` (lower case), or none (all).
    pub proto: Option<String>,
    /// Host names, IP addresses (IPv6 without brackets) or interface names; several for `(a, b)`.
    pub addrs: Vec<String>,
    pub port: Option<u16>,
    /// Last port of a range (`socket` blocks: `5060-5070`).
    pub port_end: Option<u16>,
    /// `advertise host[:port]` (or `/advaddr` on the command line).
    pub advertise: Option<(String, Option<u16>)>,
    pub name: Option<String>,
    pub virtual_: bool,
    pub agname: Option<String>,
    pub workers: Option<i64>,
    pub span: Span,
}

/// `socket = { bind = …; advertise = …; name = "…"; … }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketBlock {
    pub bind: Listen,
    pub vrf: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct CustomParam {
    pub group: String,
    pub index: Option<i64>,
    pub var: String,
    pub value: ParamValue,
    pub desc: Option<String>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LoadModule {
    /// As written: `tm.so`, `/usr/lib/…/tm.so`, `tm`.
    pub path: String,
    /// `loadmodule("x", "opts")`.
    pub opts: Option<String>,
    /// `loadmodulex` (path may contain PVs, evaluated at load).
    pub x: bool,
    pub span: Span,
}

impl LoadModule {
    /// The module name: file name without directory and `.so`.
    pub fn name(&self) -> &str {
        let base = self.path.rsplit('/').next().unwrap_or(&self.path);
        base.strip_suffix(".so").unwrap_or(base)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModParam {
    /// Module name or `a|b` alternation.
    pub module: String,
    pub param: String,
    pub value: ModParamValue,
    /// `modparamx`.
    pub x: bool,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ModParamValue {
    Int(i64),
    Str(String),
    /// `modparamx` with a bare PV.
    Pv(Pv),
}

#[derive(Debug, Clone, PartialEq)]
pub struct FlagDecl {
    pub name: String,
    pub pos: Option<i64>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteKind {
    /// `request_route`, `route`, `route[0]`.
    Request,
    /// `route[NAME]`.
    Route,
    Branch,
    Failure,
    /// Core `reply_route`, `onreply_route` without name or `[0]`.
    Reply,
    /// `onreply_route[NAME]` (tm).
    OnReply,
    OnSend,
    Event,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteBlock {
    pub kind: RouteKind,
    /// The keyword as written (`onreply_route`, `route`, …).
    pub keyword: String,
    /// Name as written inside the brackets (number, identifier or string value); `None` for the main
    /// blocks.
    pub name: Option<String>,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stmt {
    /// An expression used as a statement (normally a function call).
    Expr(Expr),
    Assign {
        target: Expr,
        value: Expr,
        span: Span,
    },
    If {
        cond: Expr,
        then: Vec<Stmt>,
        otherwise: Option<Vec<Stmt>>,
        span: Span,
    },
    Switch {
        subject: Expr,
        cases: Vec<Case>,
        span: Span,
    },
    While {
        cond: Expr,
        body: Vec<Stmt>,
        span: Span,
    },
    Break(Span),
    Return(Option<Expr>, Span),
    Exit(Option<Expr>, Span),
    Drop(Option<Expr>, Span),
    /// `route(expr)`.
    Route {
        target: Expr,
        span: Span,
    },
    Block(Vec<Stmt>, Span),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    pub label: CaseLabel,
    pub body: Vec<Stmt>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum CaseLabel {
    Default,
    Int(i64),
    Str(String),
    /// `case /"regex":`.
    Regex(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnOp {
    Not,
    BitNot,
    Neg,
    Defined,
    Strlen,
    Strempty,
    IntCast,
    StrCast,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Or,
    And,
    BitOr,
    BitAnd,
    BitXor,
    Shl,
    Shr,
    Eq,
    Ne,
    Match,
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

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Int(i64, Span),
    Str(String, Span),
    Pv(Pv),
    /// `@via[1].branch` (without the `@`).
    Select(String, Span),
    /// Core keyword: `method`, `uri`, `status`, `src_ip`, `myself`, `msg:len`, …
    Keyword(String, Span),
    /// A bare identifier (function argument such as `L_INFO`, route names, protocol names).
    Ident(String, Span),
    /// An unquoted address as written: `1.2.3.4`, `udp:host:5060`, `[::1]`, with optional `/mask`.
    Addr {
        text: String,
        mask: Option<u8>,
        span: Span,
    },
    Call {
        name: String,
        args: Vec<Expr>,
        span: Span,
    },
    Unary {
        op: UnOp,
        expr: Box<Expr>,
        span: Span,
    },
    Binary {
        op: BinOp,
        left: Box<Expr>,
        right: Box<Expr>,
        span: Span,
    },
    /// `selval(cond, a, b)`.
    Selval {
        cond: Box<Expr>,
        yes: Box<Expr>,
        no: Box<Expr>,
        span: Span,
    },
    /// `($x = expr)`: an assignment in parentheses used as a value (Kamailio's grammar allows it,
    /// e.g. `if ($var(n) = $var(n) + 1) …`); its value is the assigned value.
    Assign {
        target: Box<Expr>,
        value: Box<Expr>,
        span: Span,
    },
}

impl Expr {
    pub fn span(&self) -> Span {
        match self {
            Expr::Int(_, s)
            | Expr::Str(_, s)
            | Expr::Select(_, s)
            | Expr::Keyword(_, s)
            | Expr::Ident(_, s) => *s,
            Expr::Pv(p) => p.span,
            Expr::Addr { span, .. }
            | Expr::Call { span, .. }
            | Expr::Unary { span, .. }
            | Expr::Binary { span, .. }
            | Expr::Selval { span, .. }
            | Expr::Assign { span, .. } => *span,
        }
    }
}

/// A pseudo-variable reference: `$name`, `$name(inner)`, `$(name(inner)[index]{tr}…)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pv {
    /// As written.
    pub text: String,
    pub name: String,
    pub inner: Option<String>,
    pub index: Option<String>,
    pub transformations: Vec<Transformation>,
    pub span: Span,
    /// Set when the reference is a core attribute (AVP) rather than a module pseudo-variable:
    /// `%name` in every mode, `$f.name` / `$name[1]` in the default mode, and every `$name`
    /// under `#!SER`. `name` is then `avp` and `inner` the Kamailio AVP identifier (`f.name`).
    pub attr: Option<Attr>,
}

/// A core attribute reference (Kamailio's `avp_spec` from the cfg grammar): read and written by
/// the core with its own rules (assignment replaces, a read without index needs exactly one value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attr {
    pub class: AttrClass,
    pub name: String,
    pub index: AttrIndex,
}

/// The track/class prefix of an attribute (`$fu.x`: from track, user class).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrClass {
    /// No prefix (`$x`): from track, every class when read.
    None,
    /// `f.`
    From,
    /// `t.`
    To,
    /// `fr.`
    FromUri,
    /// `tr.`
    ToUri,
    /// `fu.`
    FromUser,
    /// `tu.`
    ToUser,
    /// `fd.`
    FromDomain,
    /// `td.`
    ToDomain,
    /// `g.`
    Global,
}

impl AttrClass {
    /// The class of a prefix word as Kamailio's lexer knows them (`f`, `t`, `fr` … `g`).
    pub fn from_prefix(word: &str) -> Option<AttrClass> {
        Some(match word {
            "f" => AttrClass::From,
            "t" => AttrClass::To,
            "fr" => AttrClass::FromUri,
            "tr" => AttrClass::ToUri,
            "fu" => AttrClass::FromUser,
            "tu" => AttrClass::ToUser,
            "fd" => AttrClass::FromDomain,
            "td" => AttrClass::ToDomain,
            "g" => AttrClass::Global,
            _ => return None,
        })
    }

    /// The prefix as written (empty for [`AttrClass::None`]).
    pub fn prefix(self) -> &'static str {
        match self {
            AttrClass::None => "",
            AttrClass::From => "f",
            AttrClass::To => "t",
            AttrClass::FromUri => "fr",
            AttrClass::ToUri => "tr",
            AttrClass::FromUser => "fu",
            AttrClass::ToUser => "tu",
            AttrClass::FromDomain => "fd",
            AttrClass::ToDomain => "td",
            AttrClass::Global => "g",
        }
    }
}

/// The index written after an attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrIndex {
    /// No brackets.
    None,
    /// `[]`: every value (only meaningful as an assignment target or source).
    All,
    /// `[n]`: n > 0 counts from the oldest value (1 = first added), n < 0 from the newest.
    At(i64),
}

/// `{class.name,param,…}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transformation {
    pub class: String,
    pub name: String,
    pub params: Vec<String>,
}

impl Config {
    /// Core parameters in file order: (canonical name, value). `listen` appears once per address.
    pub fn global_params(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.items.iter().filter_map(|i| match i {
            Item::Param(p) => Some((p.name, &p.value)),
            _ => None,
        })
    }

    /// Every `loadmodule` / `loadmodulex`: (module name, span of the statement).
    pub fn loadmodules(&self) -> Vec<(&str, Span)> {
        self.items
            .iter()
            .filter_map(|i| match i {
                Item::LoadModule(m) => Some((m.name(), m.span)),
                _ => None,
            })
            .collect()
    }

    pub fn routes(&self) -> impl Iterator<Item = &RouteBlock> {
        self.items.iter().filter_map(|i| match i {
            Item::Route(r) => Some(r),
            _ => None,
        })
    }

    pub fn modparams(&self) -> impl Iterator<Item = &ModParam> {
        self.items.iter().filter_map(|i| match i {
            Item::ModParam(m) => Some(m),
            _ => None,
        })
    }
}
