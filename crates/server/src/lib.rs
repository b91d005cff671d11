//! Startup (config → modules → compile → bind → workers), the receive and forward paths, core RPCs,
//! signals, reload and shutdown. Also the logging back end (Kamailio's stderr line shape, syslog, JSON).
//!
//! What exists today: the logging back end ([`log`]), the parsers for the command-line values that
//! need more than a number (`-l` in [`listen`], `--modparam` in [`modparam`]), the typed core settings
//! ([`settings`]), the start-up sequence up to "config loaded and checked" ([`startup`]) and the
//! pid-file and directory steps that will follow it ([`process`]). Serving SIP
//! does not exist yet: [`startup::run`] stops with [`Error::NotServing`] after the checks instead of
//! pretending to serve.

pub mod cfgmap;
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
    #[error("socket {what}: {why}")]
    Socket { what: String, why: String },
    #[error("{0}")]
    Transport(String),
    #[error("{0}")]
    Compile(String),
}
