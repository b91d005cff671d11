//! Startup (config → modules → compile → bind → workers), the receive and forward paths, core
//! statistics, signals and shutdown. Also the logging back end (Kamailio's stderr line shape,
//! syslog, JSON).
//!
//! Map:
//! - [`startup`]: the sequence from the command line to "config loaded and checked" (`-c` stops
//!   there, after compiling the routing blocks), then [`serve`];
//! - [`cfgmap`], [`settings`], [`wirecfg`]: the config's global parameters as typed settings
//!   (core, and sockets/receive/forward/TCP → `TransportConfig`), refusing what is not implemented;
//! - [`listen`] (`-l`, `--alias`), [`modparam`] (`--modparam`): command-line parsers;
//! - [`sockets`]: listen statements → transport specs, bound sockets, `myself`;
//! - [`serve`]: registry and compile, daemonize (`-D`), pid/pgid files, chroot/workdir, signals,
//!   bind, `-u`/`-g`, `event_route[core:worker-one-init]`, start, SIGTERM/SIGINT → `join`;
//! - [`recv`]: the per-message receive path on the worker threads and the `Server` the script
//!   sees (replies, logging, `myself`);
//! - [`netcore`]: the network core functions (`forward*`, `force_send_socket`, send flags …);
//! - [`timers`]: the timer thread running modules' periodic tasks (usrloc/htable/pike sweeps);
//! - [`corerpc`]: the core's RPC commands (`core.*`) and statistics registration;
//! - [`stats`]: core counters; [`process`]: pid files and directories; [`log`]: the log back end.
//!
//! Not here yet (refused at load with a clear message): TLS/SCTP/WS sockets (so `forward_tls`/
//! `forward_sctp` fail as in a Kamailio without such listeners), DNS SRV/NAPTR
//! (names resolve through the system resolver, A before AAAA), reload.

pub mod cfgmap;
pub mod corerpc;
pub mod listen;
pub mod log;
pub mod modparam;
pub mod netcore;
pub mod process;
pub mod recv;
pub mod serve;
pub mod settings;
pub mod sockets;
pub mod startup;
pub mod stats;
pub mod timers;
pub mod wirecfg;

/// Errors of the start-up path. Each names what the operator has to fix.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad -l address specifier: {arg}: {why}")]
    Listen { arg: String, why: String },
    #[error("failed to set modparam: {arg}: {why}")]
    Modparam { arg: String, why: String },
    #[error("unknown log engine '{0}' (the only engine is 'json')")]
    LogEngine(String),
    #[error("a global logger is already installed")]
    LoggerInstalled,
    #[error("bad value for core parameter '{name}': {why}")]
    Param { name: String, why: String },
    /// `-c` only: module parameters ferrosip does not implement (rendered diagnostics); the check
    /// reports them as warnings and stops before compiling the routes.
    #[error("{0}")]
    CheckNotImplemented(String),
    #[error("could not find module <{0}> (not a Kamailio 6.0 module)")]
    UnknownModule(String),
    #[error("failed to set modparam: No module matching <{module}> found (param '{param}'; load it with an earlier --loadmodule)")]
    ModparamNotLoaded { module: String, param: String },
    #[error("bad user name/uid number: -u {0}")]
    BadUser(String),
    #[error("bad group name/gid number: -g {0}")]
    BadGroup(String),
    #[error("failed to create runtime dir {dir}: {why}")]
    RuntimeDir { dir: String, why: String },
    #[error("loading config file({path}): {why}, check file and directory permissions")]
    CfgFile { path: String, why: String },
    #[error("pid file {path}: {why}")]
    PidFile { path: String, why: String },
    #[error("cannot {what} {dir}: {why}")]
    Directory {
        what: &'static str,
        dir: String,
        why: String,
    },
    #[error("bad config file ({0} errors)")]
    BadConfig(usize),
    #[error("modules not implemented by ferrosip yet: {0}")]
    ModulesNotImplemented(String),
    #[error("core parameters not implemented by ferrosip yet: {0}")]
    ParamsNotImplemented(String),
    #[error("socket {what}: {why}")]
    Socket { what: String, why: String },
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Compile(String),
}
