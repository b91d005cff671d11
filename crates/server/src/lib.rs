//! Startup (config → modules → compile → bind → workers), the receive and forward paths, core RPCs,
//! signals, reload and shutdown. Also the logging back end (Kamailio's stderr line shape, syslog, JSON).
//!
//! What exists today: the logging back end ([`log`]), the parsers for the command-line values that
//! need more than a number (`-l` in [`listen`], `--modparam` in [`modparam`]), the typed core settings
//! ([`settings`]) and the start-up sequence up to "config loaded and checked" ([`startup`]). Serving SIP
//! does not exist yet: [`startup::run`] stops with [`Error::NotServing`] after the checks instead of
//! pretending to serve.

pub mod listen;
pub mod log;
pub mod modparam;

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
}
