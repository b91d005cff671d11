//! The module contract: export tables (functions with typed parameters and allowed route types,
//! modparams, pseudo-variables, transformations, RPC commands, event routes, init hooks), the
//! per-message context, values and return codes.
//!
//! Layout: [`core`] (sockets, core parameters, log lines with facility/prefix, running routes from
//! functions), [`value`] (values, return codes), [`route`] (route types and masks with Kamailio's bits),
//! [`export`] (what one module exports), [`pv`] (variables resolved at load, strings with variables),
//! [`ctx`] (what a function sees per message), [`store`] (the storage-backed `$var`/`$avp`/`$rc`),
//! [`avp`] (Kamailio's AVP track/class lists over the flat AVP table),
//! [`registry`] (all modules; lookups at load; inter-module APIs; compat rows).
//!
//! What this crate does not do: it parses no config, evaluates no script and opens no socket. The
//! script crate compiles configs against a [`Registry`]; the server implements [`ctx::Server`].
//! Modules never see AST nodes or sockets and reach each other only through typed APIs handed out
//! by the registry at init ([`registry::InitCtx::provide`] / [`registry::InitCtx::api`]).

pub mod avp;
pub mod core;
pub mod ctx;
pub mod export;
pub mod net;
pub mod posix;
pub mod pv;
pub mod registry;
pub mod route;
pub mod stats;
pub mod store;
pub mod value;

pub use core::{CoreParams, LogLine, RouteResult, RouteRunner, SocketInfo, SCRIPT_PREFIX};
pub use ctx::{Ctx, Dest, MsgState, NetFlags, Proto, Recorder, RecvInfo, Server, WorkerState};
pub use export::{
    Arg, FnExport, ModParam, ModParamType, ModValue, ModuleExports, ParamKind, PvExport,
    PvNameRule, RouteKindRef, RpcExport, SelectExport, TransformExport,
};
pub use net::{
    ConnClosedHook, ForwardRequest, NetHooks, Network, NetworkApi, RcvData, RcvEvent, ReplyInHook,
    ReplyOut, ReplyOutHook, SendInfo, Sent,
};
pub use pv::{Format, PvSpec};
pub use registry::{FormatParser, InitCtx, Registry, Timer, TimerFn, VarNames};
pub use route::{RouteMask, RouteType};
pub use stats::{CfgAccess, CfgType, CfgValue, CfgVar, CfgVars, Stat, StatMode, Stats};
pub use value::{RetCode, Value};

/// Kamailio log levels.
pub const L_ALERT: i32 = -5;
/// `L_BUG`.
pub const L_BUG: i32 = -4;
/// `L_CRIT2`.
pub const L_CRIT2: i32 = -3;
/// `L_CRIT`.
pub const L_CRIT: i32 = -2;
/// `L_ERR`.
pub const L_ERR: i32 = -1;
/// `L_WARN`.
pub const L_WARN: i32 = 0;
/// `L_NOTICE`.
pub const L_NOTICE: i32 = 1;
/// `L_INFO`.
pub const L_INFO: i32 = 2;
/// `L_DBG`.
pub const L_DBG: i32 = 3;

/// Errors of the module contract.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Something registered twice.
    #[error("{0} is exported twice")]
    Duplicate(String),
    /// A config value refused (modparam type, unknown name …).
    #[error("{0}")]
    Config(String),
    /// Known but not implemented yet: refused at load, never silently ignored.
    #[error("{0}: not implemented yet")]
    NotImplemented(String),
    /// A failure while processing a message (logged; the function counts as failed).
    #[error("{0}")]
    Runtime(String),
    /// A module's init failed.
    #[error("module init failed: {0}")]
    Init(String),
}
