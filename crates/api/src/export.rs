//! The export table of a module: functions, modparams, pseudo-variables, transformations, RPC
//! commands, event routes and lifecycle hooks. One typed entry per exported thing; docs/compat.md rows
//! are rendered from these entries ([`crate::Registry::compat_rows`]).

use std::any::Any;
use std::fmt;
use std::sync::Arc;

use crate::ctx::Ctx;
use crate::pv::{Format, PvInner, PvName, PvSpec};
use crate::registry::{InitCtx, Registry};
use crate::route::RouteMask;
use crate::value::{RetCode, Value};
use crate::Error;

/// How a function parameter is prepared once, at load (Kamailio's fixups, by the name of the
/// `mod_fix.c` helper they replace).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ParamKind {
    /// A constant string; an expression that folds to a constant is accepted.
    Str,
    /// A constant integer (a numeric string constant is accepted too).
    Int,
    /// A constant integer written as a number (the core grammar's `NUMBER`: `strip(2)`, not
    /// `strip("2")`).
    Number,
    /// A string with embedded variables, evaluated per call (`fixup_spve_*`). A non-constant
    /// expression is accepted and evaluated per call.
    Spve,
    /// Exactly one variable, read at run time (`fixup_pvar_*`).
    Var,
    /// Exactly one writable variable (an output parameter).
    VarW,
    /// An integer constant or a variable holding one (`fixup_igp_*`); expressions are accepted.
    IntOrVar,
    /// A regular expression, compiled at load (`fixup_regexp_*`). POSIX extended, case-sensitive
    /// unless the function says otherwise.
    Regex,
    /// The name of a route block of [`RouteKindRef`]: resolved at load, an unknown name is an error.
    Route(RouteKindRef),
    /// A flag: a number 0..=31 or a name declared with `flags` (core flag functions).
    Flag,
    /// Any expression, evaluated per call into a [`Value`].
    Expr,
}

impl ParamKind {
    /// Short name used in the compat table.
    pub fn label(self) -> &'static str {
        match self {
            ParamKind::Str => "str",
            ParamKind::Int => "int",
            ParamKind::Number => "number",
            ParamKind::Spve => "spve",
            ParamKind::Var => "var",
            ParamKind::VarW => "var(w)",
            ParamKind::IntOrVar => "int|var",
            ParamKind::Regex => "regex",
            ParamKind::Route(RouteKindRef::Route) => "route",
            ParamKind::Route(RouteKindRef::Failure) => "failure_route",
            ParamKind::Route(RouteKindRef::Branch) => "branch_route",
            ParamKind::Route(RouteKindRef::OnReply) => "onreply_route",
            ParamKind::Route(RouteKindRef::Event) => "event_route",
            ParamKind::Flag => "flag",
            ParamKind::Expr => "expr",
        }
    }
}

/// Which table of route blocks a route-name parameter refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RouteKindRef {
    /// `route[NAME]`.
    Route,
    /// `failure_route[NAME]`.
    Failure,
    /// `branch_route[NAME]`.
    Branch,
    /// `onreply_route[NAME]`.
    OnReply,
    /// `event_route[NAME]`.
    Event,
}

/// A value computed at run time by the script engine for a parameter (a non-constant expression).
/// Implemented by the script crate; modules only call [`DynValue::eval`] through [`Arg`].
pub trait DynValue: Send + Sync + fmt::Debug {
    /// Evaluates the expression in the current message context.
    fn eval(&self, ctx: &mut Ctx<'_>) -> Value;
}

/// A prepared parameter, as the function receives it.
#[derive(Clone)]
pub enum Arg {
    /// A constant integer.
    Int(i64),
    /// A constant string.
    Str(Vec<u8>),
    /// A string with variables.
    Fmt(Format),
    /// One variable.
    Var(PvSpec),
    /// A compiled regular expression.
    Regex(regex::bytes::Regex),
    /// A resolved route block: its name and its index in its table.
    Route {
        /// The block name as written.
        name: String,
        /// Index in the program's table of that kind.
        index: usize,
    },
    /// A flag number.
    Flag(u32),
    /// An expression evaluated per call.
    Dyn(Arc<dyn DynValue>),
    /// Whatever a function's own fixup made of its parameters.
    Custom(Arc<dyn Any + Send + Sync>),
}

impl fmt::Debug for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Int(i) => write!(f, "Int({i})"),
            Arg::Str(s) => write!(f, "Str({:?})", String::from_utf8_lossy(s)),
            Arg::Fmt(x) => write!(f, "Fmt({x:?})"),
            Arg::Var(p) => write!(f, "Var(${})", p.name()),
            Arg::Regex(r) => write!(f, "Regex({})", r.as_str()),
            Arg::Route { name, index } => write!(f, "Route({name}#{index})"),
            Arg::Flag(n) => write!(f, "Flag({n})"),
            Arg::Dyn(d) => write!(f, "Dyn({d:?})"),
            Arg::Custom(_) => write!(f, "Custom"),
        }
    }
}

impl Arg {
    /// The parameter as a value, evaluating variables and expressions.
    pub fn value(&self, ctx: &mut Ctx<'_>) -> Value {
        match self {
            Arg::Int(i) => Value::Int(*i),
            Arg::Str(s) => Value::Str(s.clone()),
            Arg::Fmt(f) => Value::Str(f.render(ctx)),
            Arg::Var(p) => p.get(ctx),
            Arg::Regex(r) => Value::str(r.as_str()),
            Arg::Route { name, .. } => Value::str(name.as_str()),
            Arg::Flag(n) => Value::Int(i64::from(*n)),
            Arg::Dyn(d) => d.eval(ctx),
            Arg::Custom(_) => Value::Null,
        }
    }

    /// The parameter as bytes (Kamailio's `fixup_get_svalue`).
    pub fn bytes(&self, ctx: &mut Ctx<'_>) -> Vec<u8> {
        match self {
            Arg::Str(s) => s.clone(),
            other => other.value(ctx).into_bytes(),
        }
    }

    /// [`Arg::bytes`] without copying a constant string parameter.
    pub fn bytes_ref(&self, ctx: &mut Ctx<'_>) -> std::borrow::Cow<'_, [u8]> {
        match self {
            Arg::Str(s) => std::borrow::Cow::Borrowed(s),
            other => std::borrow::Cow::Owned(other.value(ctx).into_bytes()),
        }
    }

    /// The parameter as an integer (Kamailio's `fixup_get_ivalue`): a string that is not a number is
    /// an error, as in Kamailio.
    pub fn int(&self, ctx: &mut Ctx<'_>) -> Result<i64, Error> {
        match self {
            Arg::Int(i) => Ok(*i),
            other => match other.value(ctx) {
                Value::Int(i) => Ok(i),
                Value::Str(s) => crate::value::str_to_int(&s).ok_or_else(|| {
                    Error::Runtime(format!("not an integer: {:?}", String::from_utf8_lossy(&s)))
                }),
                Value::Null => Err(Error::Runtime("undefined value for integer".into())),
            },
        }
    }
}

/// A module function: `fn(ctx, prepared args) -> return code`. An `Err` is logged by the engine and
/// counts as `-1` (Kamailio functions return -1 on internal errors).
pub type Handler = Arc<dyn Fn(&mut Ctx<'_>, &[Arg]) -> Result<RetCode, Error> + Send + Sync>;

/// A function's own load-time check/preparation of its prepared parameters (e.g. `sl_send_reply`
/// checking that a constant code is 100..699). Returns a user-facing message on refusal.
pub type Fixup = Arc<dyn Fn(&mut [Arg]) -> Result<(), String> + Send + Sync>;

/// What a [`FixupEnv`]-taking fixup sees besides the arguments: the registry (to prepare formats
/// with variables, e.g. in `subst` replacements) and where the call is written.
#[derive(Clone, Copy)]
pub struct FixupEnv<'a> {
    /// The registry the config is compiled against.
    pub registry: &'a Registry,
    /// File of the call, as the config names it (empty when unknown).
    pub file: &'a str,
    /// 1-based line of the call (0 when unknown): `xlogl`, `xdbgl`.
    pub line: u32,
    /// 1-based column of the call (0 when unknown).
    pub col: u32,
}

/// A fixup that gets the [`FixupEnv`] and may append arguments (e.g. the call's line). Runs after
/// [`FnExport::fixup`].
pub type FixupWithEnv =
    Arc<dyn Fn(&mut Vec<Arg>, &FixupEnv<'_>) -> Result<(), String> + Send + Sync>;

/// One exported function with one arity. Several entries may share a name (Kamailio's overloads).
#[derive(Clone)]
pub struct FnExport {
    /// Script name, Kamailio's spelling.
    pub name: &'static str,
    /// Parameter kinds, in order.
    pub params: Vec<ParamKind>,
    /// When true, the last kind repeats: any count `>= params.len() - 1` is accepted.
    pub variadic: bool,
    /// Route types where a call is allowed.
    pub routes: RouteMask,
    /// One line for docs/compat.md.
    pub doc: &'static str,
    /// The implementation, or `None` while it is not implemented: such a function is in the tables
    /// (so the name is known and documented) but a config that calls it is refused at load with
    /// "not implemented yet".
    pub handler: Option<Handler>,
    /// Optional load-time check.
    pub fixup: Option<Fixup>,
    /// Optional load-time preparation with the registry and the call's position.
    pub fixup_env: Option<FixupWithEnv>,
}

impl fmt::Debug for FnExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnExport")
            .field("name", &self.name)
            .field("params", &self.params)
            .field("variadic", &self.variadic)
            .field("routes", &self.routes)
            .field("implemented", &self.handler.is_some())
            .finish()
    }
}

impl FnExport {
    /// A function entry; set the handler with [`FnExport::with`].
    pub fn new(
        name: &'static str,
        params: &[ParamKind],
        routes: RouteMask,
        doc: &'static str,
    ) -> FnExport {
        FnExport {
            name,
            params: params.to_vec(),
            variadic: false,
            routes,
            doc,
            handler: None,
            fixup: None,
            fixup_env: None,
        }
    }

    /// Sets the implementation.
    pub fn with(
        mut self,
        f: impl Fn(&mut Ctx<'_>, &[Arg]) -> Result<RetCode, Error> + Send + Sync + 'static,
    ) -> FnExport {
        self.handler = Some(Arc::new(f));
        self
    }

    /// Sets the load-time check.
    pub fn fixup(
        mut self,
        f: impl Fn(&mut [Arg]) -> Result<(), String> + Send + Sync + 'static,
    ) -> FnExport {
        self.fixup = Some(Arc::new(f));
        self
    }

    /// Sets the load-time preparation that sees the registry and the call's position.
    pub fn fixup_env(
        mut self,
        f: impl Fn(&mut Vec<Arg>, &FixupEnv<'_>) -> Result<(), String> + Send + Sync + 'static,
    ) -> FnExport {
        self.fixup_env = Some(Arc::new(f));
        self
    }

    /// Makes the last parameter kind repeat.
    pub fn variadic(mut self) -> FnExport {
        self.variadic = true;
        self
    }

    /// True when `n` arguments fit this entry.
    pub fn accepts_arity(&self, n: usize) -> bool {
        if self.variadic {
            n + 1 >= self.params.len()
        } else {
            n == self.params.len()
        }
    }

    /// The kind of argument `i` (the last kind for variadic tails).
    pub fn kind_of(&self, i: usize) -> Option<ParamKind> {
        match self.params.get(i) {
            Some(k) => Some(*k),
            None if self.variadic => self.params.last().copied(),
            None => None,
        }
    }
}

/// Type of a module parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModParamType {
    /// `PARAM_INT`.
    Int,
    /// `PARAM_STRING` / `PARAM_STR`.
    Str,
}

/// A modparam value as given in the config or by `--modparam`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModValue {
    /// Integer.
    Int(i64),
    /// String.
    Str(String),
}

/// Validates a modparam value before it is stored; the message is shown to the user.
pub type ModParamCheck = Arc<dyn Fn(&ModValue) -> Result<(), String> + Send + Sync>;

/// A module parameter. Values set by `modparam()` are kept by the registry, in order, and read by the
/// module in its init hook ([`InitCtx::modparams`]); the module freezes them into its own typed struct.
#[derive(Clone)]
pub struct ModParam {
    /// Kamailio's name.
    pub name: &'static str,
    /// Declared type; an integer given for a string parameter is refused, a numeric string for an
    /// integer parameter is converted (Kamailio does the same).
    pub ty: ModParamType,
    /// One line for docs.
    pub doc: &'static str,
    /// Optional validation.
    pub check: Option<ModParamCheck>,
    /// False when the parameter is known but its effect is not implemented: setting it is refused.
    pub implemented: bool,
}

impl fmt::Debug for ModParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModParam")
            .field("name", &self.name)
            .field("ty", &self.ty)
            .finish()
    }
}

impl ModParam {
    /// An implemented parameter without extra validation.
    pub fn new(name: &'static str, ty: ModParamType, doc: &'static str) -> ModParam {
        ModParam {
            name,
            ty,
            doc,
            check: None,
            implemented: true,
        }
    }

    /// Adds a validator.
    pub fn check(
        mut self,
        f: impl Fn(&ModValue) -> Result<(), String> + Send + Sync + 'static,
    ) -> ModParam {
        self.check = Some(Arc::new(f));
        self
    }
}

/// Parses the inner name of a PV at load (`$avp(name)` → `name`). Gets the registry to build formats
/// for dynamic names.
pub type PvParse = Arc<dyn Fn(&str, &Registry) -> Result<PvInner, String> + Send + Sync>;
/// Reads a PV.
pub type PvGet = Arc<dyn Fn(&mut Ctx<'_>, &PvName) -> Result<Value, Error> + Send + Sync>;
/// Writes a PV; `Value::Null` deletes/resets (assignment of `$null`).
pub type PvSet = Arc<dyn Fn(&mut Ctx<'_>, &PvName, Value) -> Result<(), Error> + Send + Sync>;

/// Whether a PV takes an inner name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PvNameRule {
    /// `$rm` only.
    None,
    /// `$var(x)` only.
    Required,
    /// Both forms.
    Optional,
}

/// A pseudo-variable class (`$var`, `$avp`, `$ru` …).
#[derive(Clone)]
pub struct PvExport {
    /// Name without `$` and without inner name.
    pub name: &'static str,
    /// One line for docs.
    pub doc: &'static str,
    /// Inner-name rule.
    pub inner: PvNameRule,
    /// Whether `[n]` / `[*]` is meaningful.
    pub indexed: bool,
    /// Inner-name parser; `None` keeps the inner text as [`crate::pv::PvInner::Str`].
    pub parse: Option<PvParse>,
    /// Getter.
    pub get: PvGet,
    /// Setter; `None` = read-only (assigning is a load error).
    pub set: Option<PvSet>,
}

impl fmt::Debug for PvExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PvExport(${})", self.name)
    }
}

/// A transformation applied to a value (`{s.len}` …), prepared at load.
pub type Transform = Arc<dyn Fn(&mut Ctx<'_>, Value) -> Result<Value, Error> + Send + Sync>;
/// Prepares a transformation: gets the text inside the braces after `class.` (e.g. `substr,1,2`).
pub type TransformParse = Arc<dyn Fn(&str, &Registry) -> Result<Transform, String> + Send + Sync>;

/// A transformation class (`s`, `uri`, `param` …).
#[derive(Clone)]
pub struct TransformExport {
    /// Class name.
    pub class: &'static str,
    /// One line for docs.
    pub doc: &'static str,
    /// Preparer.
    pub parse: TransformParse,
}

impl fmt::Debug for TransformExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransformExport({})", self.class)
    }
}

/// A value in an RPC request or answer (JSON-RPC / binrpc shaped).
#[derive(Debug, Clone, PartialEq)]
pub enum RpcValue {
    /// Absent.
    Null,
    /// Integer.
    Int(i64),
    /// Double.
    Double(f64),
    /// String.
    Str(String),
    /// Array.
    Array(Vec<RpcValue>),
    /// Struct with ordered members.
    Struct(Vec<(String, RpcValue)>),
}

/// An RPC failure: code and message, as Kamailio's `rpc->fault`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RpcFault {
    /// Code (Kamailio uses HTTP-like codes: 400, 500 …).
    pub code: i32,
    /// Message.
    pub message: String,
}

/// An RPC handler.
pub type RpcHandler = Arc<dyn Fn(&[RpcValue]) -> Result<RpcValue, RpcFault> + Send + Sync>;

/// An RPC command (`core.version`, `tm.stats` …).
#[derive(Clone)]
pub struct RpcExport {
    /// Name, Kamailio's spelling.
    pub name: &'static str,
    /// One line for docs.
    pub doc: &'static str,
    /// Implementation.
    pub handler: RpcHandler,
}

impl fmt::Debug for RpcExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RpcExport({})", self.name)
    }
}

/// An `event_route[name]` a module may run (`htable:mod-init`, `tm:local-request` …).
#[derive(Debug, Clone)]
pub struct EventRouteExport {
    /// Full name, `module:event`; a name ending with `:` stands for the family of routes whose
    /// names start with it (`tm:branch-failure:` for `event_route[tm:branch-failure:<id>]`).
    pub name: &'static str,
    /// One line for docs.
    pub doc: &'static str,
}

/// Reads a select's value for the current message.
pub type SelectGet = Arc<dyn Fn(&mut Ctx<'_>) -> Result<Value, Error> + Send + Sync>;
/// Prepares a select at load from the path after its root (`pstn.gw_ip` for
/// `@cfg_get.pstn.gw_ip`); an unknown path is refused with a user-facing message.
pub type SelectResolve = Arc<dyn Fn(&str) -> Result<SelectGet, String> + Send + Sync>;

/// A select root (`@cfg_get.…`, `@ruri.…`), also reachable as `$sel(…)` through the pv module.
#[derive(Clone)]
pub struct SelectExport {
    /// First path element (`cfg_get`, `ruri`, `via` …).
    pub root: &'static str,
    /// One line for docs.
    pub doc: &'static str,
    /// Resolver for the rest of the path.
    pub resolve: SelectResolve,
}

impl fmt::Debug for SelectExport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SelectExport(@{})", self.root)
    }
}

/// Init hook: after config load, before workers (Kamailio `mod_init`).
pub type InitHook = Arc<dyn Fn(&mut InitCtx<'_>) -> Result<(), Error> + Send + Sync>;
/// Per-worker init (Kamailio `child_init`), with the worker rank.
pub type ChildInitHook = Arc<dyn Fn(i32) -> Result<(), Error> + Send + Sync>;
/// Shutdown hook.
pub type DestroyHook = Arc<dyn Fn() + Send + Sync>;

/// Everything one module exports.
#[derive(Clone, Default)]
pub struct ModuleExports {
    /// Module name (`tm`, `sl` …); `core` for the core.
    pub name: &'static str,
    /// Functions.
    pub functions: Vec<FnExport>,
    /// Modparams.
    pub params: Vec<ModParam>,
    /// Pseudo-variables.
    pub pvs: Vec<PvExport>,
    /// Transformation classes.
    pub transforms: Vec<TransformExport>,
    /// RPC commands.
    pub rpcs: Vec<RpcExport>,
    /// Event routes.
    pub event_routes: Vec<EventRouteExport>,
    /// Select roots.
    pub selects: Vec<SelectExport>,
    /// PV names known but refused, with the reason shown to the user (`("snd", "needs
    /// onsend_route")`): a config using `$snd`, `$snd(x)` or `$(snd(x){…})` is refused at load with
    /// that reason, whatever its form.
    pub refused_pvs: Vec<(&'static str, &'static str)>,
    /// `mod_init`.
    pub init: Option<InitHook>,
    /// `child_init`.
    pub child_init: Option<ChildInitHook>,
    /// `destroy`.
    pub destroy: Option<DestroyHook>,
}

impl fmt::Debug for ModuleExports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleExports")
            .field("name", &self.name)
            .field("functions", &self.functions.len())
            .field("params", &self.params.len())
            .field("pvs", &self.pvs.len())
            .finish()
    }
}

impl ModuleExports {
    /// An empty table for module `name`.
    pub fn new(name: &'static str) -> ModuleExports {
        ModuleExports {
            name,
            ..ModuleExports::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arity_rules() {
        let f = FnExport::new("f", &[ParamKind::Str, ParamKind::Spve], RouteMask::ANY, "");
        let v =
            FnExport::new("v", &[ParamKind::Str, ParamKind::Spve], RouteMask::ANY, "").variadic();
        let cases = [
            (&f, 1, false),
            (&f, 2, true),
            (&f, 3, false),
            (&v, 0, false),
            (&v, 1, true),
            (&v, 5, true),
        ];
        for (e, n, want) in cases {
            assert_eq!(e.accepts_arity(n), want, "{} {n}", e.name);
        }
        assert_eq!(v.kind_of(4), Some(ParamKind::Spve));
        assert_eq!(f.kind_of(4), None);
    }
}
