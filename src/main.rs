//! The `ferrosip` binary: the command line only. Everything else is in `ferrosip-server`.
//!
//! Reads the flags ([`flags`]: one table for parsing and `-h`), turns them into a typed command line
//! ([`cli`]), installs the logger, and hands over to `ferrosip_server::startup::run`. Exit codes are
//! Kamailio's: 0 on success, 255 on any error.
//!
//! Decisions (where ferrosip differs from `kamailio`, and why):
//! - default `-f` is `/etc/ferrosip/kamailio.cfg` and default `-Y` is `/run/ferrosip`, so that both
//!   servers can be installed side by side; the file keeps Kamailio's name because it is one;
//! - `-v` says `version: ferrosip X.Y.Z (arch/os)`: it does not pretend to be Kamailio;
//! - a word that is not an option (`ferrosip start`) is an error; Kamailio ignores it;
//! - `--log-engine` with an engine other than `json` is an error; Kamailio ignores it;
//! - memory, allocator, poll-method, `-L`, `-O`, `--atexit`, `--all-errors` flags are validated as
//!   Kamailio validates them and then logged once (INFO) as having no effect;
//! - config diagnostics are printed rustc-style on stderr (file:line:col and a caret), not as
//!   Kamailio's `CRITICAL: ... yyerror_at()` log lines; the closing `ERROR: bad config file (N errors)`
//!   and `config file ok, exiting...` lines are Kamailio's;
//! - without `-D`, the process daemonizes and the command returns only once the server serves
//!   (exit 0) or could not start (exit 255, reason on stderr), through a status pipe; the daemon
//!   keeps stderr when the log goes there (`-E`/`log_stderror`). SIGTERM/SIGINT stop it (exit 0).

mod cli;
mod flags;

use std::io::Write as _;
use std::process::ExitCode;

use ferrosip_server::log::{self, LogConfig, LogControl};
use ferrosip_server::startup::{self, Mode, Outcome};

fn main() -> ExitCode {
    let mut args = Vec::new();
    for a in std::env::args_os().skip(1) {
        match a.into_string() {
            Ok(s) => args.push(s),
            Err(raw) => {
                eprintln!("Argument {raw:?} is not valid UTF-8. Use -h for help.");
                return ExitCode::from(cli::EXIT_FAILURE);
            }
        }
    }
    let parsed = flags::parse(&args);
    let cmd = match cli::interpret(&parsed) {
        Ok(cli::Action::Help) => {
            print!("{}\n{}", cli::version_line(), flags::help_text("ferrosip"));
            return ExitCode::SUCCESS;
        }
        Ok(cli::Action::Version) => {
            print!("{}", cli::version_text());
            return ExitCode::SUCCESS;
        }
        Ok(cli::Action::Internals) => {
            print!("{}", cli::internals_text());
            return ExitCode::SUCCESS;
        }
        Ok(cli::Action::Run(cmd)) => cmd,
        Err(msg) => {
            eprintln!("{msg}");
            return ExitCode::from(cli::EXIT_FAILURE);
        }
    };

    // Until the config is read, log as the command line says (Kamailio: `-E`, `-e`, `-d`,
    // `--log-engine` are taken before anything else; `-c` forces stderr).
    let log = LogControl::new(
        cmd.debug
            .unwrap_or(ferrosip_server::settings::DEFAULT_DEBUG),
        LogConfig {
            stderr: cmd.log_stderr || cmd.mode != Mode::Serve,
            color: cmd.log_color,
            engine: cmd.log_engine.unwrap_or_default(),
            ..LogConfig::default()
        },
    );
    if let Err(e) = log::install(&log) {
        eprintln!("ERROR: {e}");
        return ExitCode::from(cli::EXIT_FAILURE);
    }

    let mut stderr = std::io::stderr();
    match startup::run(&cmd, &log, &mut stderr) {
        Ok(Outcome::CheckOk) => {
            let _ = writeln!(stderr, "config file ok, exiting...");
            ExitCode::SUCCESS
        }
        Ok(Outcome::CfgPrinted(text)) => {
            let mut out = std::io::stdout().lock();
            if out
                .write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .is_err()
            {
                return ExitCode::from(cli::EXIT_FAILURE);
            }
            ExitCode::SUCCESS
        }
        Ok(Outcome::Stopped) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(stderr, "ERROR: {e}");
            ExitCode::from(cli::EXIT_FAILURE)
        }
    }
}
