//! The start-up sequence, as far as it exists: command line → module checks → config load → module
//! checks → settings → logging → user/group → runtime directory → (`-c`: stop here, "config file ok")
//! → refuse to serve, because the receive path does not exist yet.
//!
//! Order and priorities follow Kamailio's `main()`: `--loadmodule`/`--modparam` are applied before
//! the config is read (so a `--modparam` needs an earlier `--loadmodule` of its module), the config's
//! global parameters come next, and the command line overrides them afterwards.
//!
//! Deliberately not run until serving exists: chroot, chdir, pid and pgid files (written and tested in
//! [`crate::process`]), setuid/setgid and daemonizing per `-D` (not written yet). They are
//! irreversible or visible to process supervisors, and a server that refuses to run must not leave a
//! pid file behind or detach from the terminal before saying why. `-D`, `-P`, `-G`, `-t`, `-w` are
//! parsed and validated now and take effect with the receive path.

use std::io::Write;

use ferrosip_modules::registry::{self, ModuleStatus};

use crate::listen::{HostPort, ListenArg};
use crate::log::{LogControl, LogEngine};
use crate::modparam::Modparam;
use crate::settings::{CoreSettings, ParamValue};
use crate::Error;

/// What to do after the config is loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Start the server.
    #[default]
    Serve,
    /// `-c`: check the config and exit.
    Check,
    /// `--cfg-print`: print the preprocessed config and exit.
    CfgPrint,
}

/// How `-D` asks the process to detach (`-D` … `-DDD`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForkMode {
    /// No `-D`, or `-DDD` and more: daemonize.
    #[default]
    Daemonize,
    /// `-D`: do not fork at all.
    NoFork,
    /// `-DD`: fork workers but stay in the foreground.
    NoDaemonize,
}

impl ForkMode {
    /// From the number of `-D` given.
    pub fn from_count(n: usize) -> ForkMode {
        match n {
            1 => ForkMode::NoFork,
            2 => ForkMode::NoDaemonize,
            _ => ForkMode::Daemonize,
        }
    }
}

/// Everything the command line asks for, typed. Built by the binary.
#[derive(Debug, Clone, Default)]
pub struct CommandLine {
    /// `-f`, as given (`-` reads stdin).
    pub cfg_file: String,
    pub mode: Mode,
    /// `-A`, `--subst*`.
    pub defines: Vec<String>,
    pub substs: Vec<(ferrosip_config::SubstKind, String)>,
    /// `-d` count or `--debug` value; overrides the config's `debug`.
    pub debug: Option<i32>,
    /// `-E` (or `-c`, which forces stderr logging).
    pub log_stderr: bool,
    /// `-e`.
    pub log_color: bool,
    /// `--log-engine`; overrides `log_engine_type`/`log_engine_data`.
    pub log_engine: Option<LogEngine>,
    pub fork: ForkMode,
    pub pid_file: Option<String>,
    pub pgid_file: Option<String>,
    /// `--loadmodule`, in order.
    pub loadmodules: Vec<String>,
    /// `--modparam`, in order.
    pub modparams: Vec<Modparam>,
    /// Core parameters set by flags (`-n` → `children`, `-u` → `user` …), applied after the config.
    pub overrides: Vec<(&'static str, ParamValue)>,
    /// `-l`.
    pub listen: Vec<ListenArg>,
    /// `--alias`.
    pub aliases: Vec<HostPort>,
    /// Flags accepted for compatibility that change nothing in ferrosip (`-m 64`), with the reason;
    /// each is logged once at start.
    pub no_effect: Vec<String>,
}

/// How a successful run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// `-c`: the config is fine.
    CheckOk,
    /// `--cfg-print`: the text to print on stdout.
    CfgPrinted(String),
    /// The server ran and stopped on a signal.
    Stopped,
}

/// Checks the `--loadmodule` and `--modparam` arguments against the module registry, as Kamailio
/// does before reading the config. Returns the Kamailio modules that ferrosip does not implement.
pub fn check_command_line_modules(cmd: &CommandLine) -> Result<Vec<String>, Error> {
    let mut missing = Vec::new();
    for m in &cmd.loadmodules {
        match registry::status(m) {
            ModuleStatus::Implemented => {}
            ModuleStatus::NotImplemented => missing.push(registry::module_name(m).to_string()),
            ModuleStatus::Unknown => {
                return Err(Error::UnknownModule(registry::module_name(m).to_string()))
            }
        }
    }
    // Kamailio matches the module part (a regular expression) against the modules loaded so far and
    // fails when none matches; for an alternation that means: at least one of them must be loaded.
    for p in &cmd.modparams {
        let loaded = |m: &String| {
            cmd.loadmodules
                .iter()
                .any(|l| registry::module_name(l) == m)
        };
        if !p.modules.iter().any(loaded) {
            return Err(Error::ModparamNotLoaded {
                module: p.modules.join("|"),
                param: p.param.clone(),
            });
        }
    }
    Ok(missing)
}

/// Applies the command-line overrides on top of the config's settings.
pub fn apply_overrides(settings: &mut CoreSettings, cmd: &CommandLine) -> Result<(), Error> {
    for (name, value) in &cmd.overrides {
        settings.apply_param(name, value)?;
    }
    if let Some(d) = cmd.debug {
        settings.debug = d;
    }
    if cmd.log_stderr || cmd.mode != Mode::Serve {
        settings.log_stderror = true;
    }
    if cmd.log_color {
        settings.log_color = true;
    }
    settings.listen.extend(cmd.listen.iter().cloned());
    settings.aliases.extend(cmd.aliases.iter().cloned());
    Ok(())
}

/// Switches the logger to what the settings ask for (the command line's `--log-engine` wins).
pub fn configure_logging(
    log: &LogControl,
    s: &CoreSettings,
    cmd: &CommandLine,
) -> Result<(), Error> {
    let mut cfg = s.log_config()?;
    if let Some(e) = cmd.log_engine {
        cfg.engine = e;
    }
    log.configure(cfg);
    log.set_debug(s.debug);
    Ok(())
}

/// A resolved `-u`/`user` and `-g`/`group`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Ids {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

/// Resolves user and group names (or numbers) as Kamailio's `user2uid`/`group2gid` do: a user's
/// primary group becomes the gid unless a group is given.
pub fn resolve_ids(user: Option<&str>, group: Option<&str>) -> Result<Ids, Error> {
    let mut ids = Ids::default();
    if let Some(u) = user {
        let (uid, gid) = lookup_user(u).ok_or_else(|| Error::BadUser(u.to_string()))?;
        ids.uid = Some(uid);
        ids.gid = gid;
    }
    if let Some(g) = group {
        ids.gid = Some(lookup_group(g).ok_or_else(|| Error::BadGroup(g.to_string()))?);
    }
    Ok(ids)
}

fn lookup_user(name: &str) -> Option<(u32, Option<u32>)> {
    if let Ok(n) = name.parse::<u32>() {
        return Some((n, None));
    }
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: `pwd` is plain data that getpwnam_r fills; `buf` outlives the call and its length is
    // passed; `result` is only read after the call.
    unsafe {
        let mut pwd: libc::passwd = std::mem::zeroed();
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc = libc::getpwnam_r(
            cname.as_ptr(),
            &mut pwd,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            return None;
        }
        Some((pwd.pw_uid, Some(pwd.pw_gid)))
    }
}

fn lookup_group(name: &str) -> Option<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Some(n);
    }
    let cname = std::ffi::CString::new(name).ok()?;
    let mut buf = vec![0u8; 16 * 1024];
    // SAFETY: as in `lookup_user`, with getgrnam_r.
    unsafe {
        let mut grp: libc::group = std::mem::zeroed();
        let mut result: *mut libc::group = std::ptr::null_mut();
        let rc = libc::getgrnam_r(
            cname.as_ptr(),
            &mut grp,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut result,
        );
        if rc != 0 || result.is_null() {
            return None;
        }
        Some(grp.gr_gid)
    }
}

/// Creates the runtime directory if it does not exist (mode 0700, owned by the run-time user), as
/// Kamailio does even under `-c`.
pub fn ensure_runtime_dir(dir: &str, ids: Ids) -> Result<(), Error> {
    use std::os::unix::fs::DirBuilderExt as _;
    let path = std::path::Path::new(dir);
    if path.exists() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(path)
        .map_err(|e| Error::RuntimeDir {
            dir: dir.to_string(),
            why: e.to_string(),
        })?;
    if ids.uid.is_some() || ids.gid.is_some() {
        std::os::unix::fs::chown(path, ids.uid, ids.gid).map_err(|e| Error::RuntimeDir {
            dir: dir.to_string(),
            why: format!("chown: {e}"),
        })?;
    }
    Ok(())
}

/// Writes text to the operator's terminal (stderr); a closed stderr is not worth failing for.
fn say(out: &mut dyn Write, text: &str) {
    let _ = out.write_all(text.as_bytes());
}

/// The real outside world for the config front end.
pub struct RealHost {
    /// The config text when it comes from stdin (`-f -`), served for the path `-`.
    stdin: Option<Vec<u8>>,
}

impl ferrosip_config::Host for RealHost {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        match (&self.stdin, path) {
            (Some(text), "-") => Ok(text.clone()),
            _ => std::fs::read(path),
        }
    }

    fn env(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// The config file path as Kamailio's `fix_cfg_file` makes it: absolute (relative to the current
/// directory), `-` for stdin.
pub fn absolute_cfg_path(path: &str) -> Result<String, Error> {
    let bad = |why: &str| Error::CfgFile {
        path: path.to_string(),
        why: why.to_string(),
    };
    if path == "-" {
        return Ok(path.to_string());
    }
    if path.is_empty() || path == "/" {
        return Err(bad("invalid config file name"));
    }
    if path.starts_with('/') {
        return Ok(path.to_string());
    }
    let cwd = std::env::current_dir().map_err(|e| bad(&e.to_string()))?;
    Ok(cwd.join(path).to_string_lossy().into_owned())
}

/// Runs the start-up sequence for `cmd`. Diagnostics are written to `out` as they are found; the
/// returned error is the final one-line reason.
pub fn run(cmd: &CommandLine, log: &LogControl, out: &mut dyn Write) -> Result<Outcome, Error> {
    for what in &cmd.no_effect {
        tracing::info!(func = "main", "option accepted with no effect: {what}");
    }
    let mut missing = check_command_line_modules(cmd)?;

    let entry = absolute_cfg_path(&cmd.cfg_file)?;
    let stdin = if entry == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map_err(|e| {
            Error::CfgFile {
                path: entry.clone(),
                why: e.to_string(),
            }
        })?;
        Some(buf)
    } else {
        // Checked here for Kamailio's message; the front end reads it again.
        std::fs::metadata(&entry)
            .and_then(|m| {
                if m.is_dir() {
                    Err(std::io::Error::other("Is a directory"))
                } else {
                    Ok(())
                }
            })
            .and_then(|_| std::fs::File::open(&entry).map(drop))
            .map_err(|e| Error::CfgFile {
                path: entry.clone(),
                why: io_reason(&e),
            })?;
        None
    };
    let host = RealHost { stdin };
    let opts = ferrosip_config::LoadOptions {
        defines: cmd.defines.clone(),
        substs: cmd.substs.clone(),
        os_name: std::env::consts::OS.to_string(),
    };

    if cmd.mode == Mode::CfgPrint {
        return match ferrosip_config::cfg_print(&entry, &opts, &host) {
            Ok(text) => Ok(Outcome::CfgPrinted(text)),
            Err(f) => Err(report_failure(&f, out)),
        };
    }
    let loaded = match ferrosip_config::load(&entry, &opts, &host) {
        Ok(l) => l,
        Err(f) => return Err(report_failure(&f, out)),
    };
    let cfg_check = crate::cfgmap::check(&loaded, cmd);
    for w in loaded.warnings.iter().chain(cfg_check.warnings.iter()) {
        say(out, &w.render(&loaded.sources));
    }
    let warnings = loaded.warnings.len() + cfg_check.warnings.len();
    if !cfg_check.errors.is_empty() {
        for e in &cfg_check.errors {
            say(out, &e.render(&loaded.sources));
        }
        return Err(Error::BadConfig(cfg_check.errors.len()));
    }
    if warnings > 0 {
        say(out, &format!("{warnings} config warnings\n"));
    }
    missing.extend(cfg_check.not_implemented);

    let mut settings = cfg_check.settings;
    apply_overrides(&mut settings, cmd)?;
    let params_not_implemented = cfg_check.params_not_implemented;
    configure_logging(log, &settings, cmd)?;
    // Logged once the config's log settings apply.
    for name in &cfg_check.no_effect {
        tracing::info!(
            func = "main",
            "config setting accepted with no effect: {name}"
        );
    }
    let ids = resolve_ids(settings.user.as_deref(), settings.group.as_deref())?;
    if let Some(dir) = &settings.rundir {
        ensure_runtime_dir(dir, ids)?;
    }
    missing.dedup();
    if cmd.mode == Mode::Check {
        // Kamailio's -c compiles the routing blocks too; with modules ferrosip lacks that would
        // only repeat "unknown function", so it is done when every module exists.
        if missing.is_empty() {
            match crate::serve::compile(
                &loaded,
                cmd,
                settings.log_prefix.as_deref(),
                settings.rundir.as_deref(),
            ) {
                Err(Error::CheckNotImplemented(text)) => {
                    eprint!("{}", text.replace("error: ", "warning: "));
                }
                other => {
                    other?;
                }
            }
        }
        return Ok(Outcome::CheckOk);
    }
    if !missing.is_empty() {
        return Err(Error::ModulesNotImplemented(missing.join(", ")));
    }
    if !params_not_implemented.is_empty() {
        return Err(Error::ParamsNotImplemented(
            params_not_implemented.join(", "),
        ));
    }
    // Before module init and binding, which may resolve names, and while single-threaded.
    // Without an IPv6 listener dns_try_ipv6 is off (a listen error is reported when binding).
    let mut defs = cfg_check.wire.listens.clone();
    defs.extend(
        settings
            .listen
            .iter()
            .map(crate::sockets::ListenDef::from_arg),
    );
    let w = &cfg_check.wire;
    settings.ipv6_listener =
        crate::sockets::listen_specs(&defs, w.port, settings.disable_tcp, w.expand())
            .map_or(true, |specs| specs.iter().any(|s| s.addr.is_ipv6()));
    settings.apply_resolver_options()?;
    let mut compiled = crate::serve::compile(
        &loaded,
        cmd,
        settings.log_prefix.as_deref(),
        settings.rundir.as_deref(),
    )?;
    crate::log::action::install(&mut compiled, settings.log_prefix_mode)?;
    crate::serve::serve(cmd, &settings, &cfg_check.wire, compiled, log, ids)?;
    Ok(Outcome::Stopped)
}

/// Renders every diagnostic of a failed load and returns the summary error.
fn report_failure(f: &ferrosip_config::Failure, out: &mut dyn Write) -> Error {
    let mut errors = 0;
    for d in &f.diagnostics {
        if d.severity() == ferrosip_config::Severity::Error {
            errors += 1;
        }
        say(out, &d.render(&f.sources));
    }
    Error::BadConfig(errors)
}

/// The `strerror` text Kamailio prints for the usual cases.
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "No such file or directory".to_string(),
        std::io::ErrorKind::PermissionDenied => "Permission denied".to_string(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modparam::parse_modparam;

    #[test]
    fn fork_modes() {
        let table = [
            (0, ForkMode::Daemonize),
            (1, ForkMode::NoFork),
            (2, ForkMode::NoDaemonize),
            (3, ForkMode::Daemonize),
            (4, ForkMode::Daemonize),
        ];
        for (n, want) in table {
            assert_eq!(ForkMode::from_count(n), want);
        }
    }

    #[test]
    fn command_line_modules() {
        let mp = |s: &str| parse_modparam(s).ok().into_iter().collect::<Vec<_>>();
        type Case<'a> = (Vec<&'a str>, Vec<Modparam>, Result<Vec<&'a str>, &'a str>);
        let cases: Vec<Case<'_>> = vec![
            (vec!["sl", "tm.so"], mp("tm:fr_timer:i:1"), Ok(vec![])),
            (
                vec!["sl", "dialog.so"],
                mp("dialog:x:i:1"),
                Ok(vec!["dialog"]),
            ),
            (
                vec!["nosuch"],
                vec![],
                Err("could not find module <nosuch>"),
            ),
            (
                vec![],
                mp("tm:fr_timer:i:1"),
                Err("No module matching <tm> found"),
            ),
            (vec!["dialog"], mp("dialog|tm:x:s:y"), Ok(vec!["dialog"])),
            (
                vec!["sl"],
                mp("dialog|tm:x:s:y"),
                Err("No module matching <dialog|tm> found"),
            ),
        ];
        for (mods, params, want) in cases {
            let cmd = CommandLine {
                loadmodules: mods.iter().map(|s| s.to_string()).collect(),
                modparams: params,
                ..Default::default()
            };
            let got = check_command_line_modules(&cmd).map_err(|e| e.to_string());
            match want {
                Ok(v) => assert_eq!(got.ok(), Some(v.iter().map(|s| s.to_string()).collect())),
                Err(msg) => {
                    let e = got.err().unwrap_or_default();
                    assert!(e.contains(msg), "{e}");
                }
            }
        }
    }

    #[test]
    fn overrides_win() {
        let mut s = CoreSettings::default();
        let _ = s.apply_param("debug", &ParamValue::Int(1));
        let _ = s.apply_param("children", &ParamValue::Int(2));
        let cmd = CommandLine {
            debug: Some(3),
            overrides: vec![
                ("children", ParamValue::Int(6)),
                ("user", ParamValue::Str("nobody".into())),
            ],
            mode: Mode::Check,
            ..Default::default()
        };
        assert!(apply_overrides(&mut s, &cmd).is_ok());
        assert_eq!(
            (s.debug, s.children, s.user.as_deref(), s.log_stderror),
            (3, 6, Some("nobody"), true)
        );
    }

    #[test]
    fn users_and_groups() {
        assert_eq!(
            resolve_ids(Some("root"), None).ok(),
            Some(Ids {
                uid: Some(0),
                gid: Some(0)
            })
        );
        assert_eq!(
            resolve_ids(Some("1234"), Some("0")).ok(),
            Some(Ids {
                uid: Some(1234),
                gid: Some(0)
            })
        );
        assert!(resolve_ids(Some("no-such-user-ferrosip"), None).is_err());
        assert!(resolve_ids(None, Some("no-such-group-ferrosip")).is_err());
    }

    #[test]
    fn runtime_dir_is_created() {
        let base = std::env::temp_dir().join(format!("ferrosip-rundir-{}", std::process::id()));
        let dir = base.join("run");
        let _ = std::fs::create_dir_all(&base);
        let d = dir.to_string_lossy().to_string();
        assert!(ensure_runtime_dir(&d, Ids::default()).is_ok());
        assert!(dir.is_dir());
        assert!(
            ensure_runtime_dir(&d, Ids::default()).is_ok(),
            "existing dir is fine"
        );
        let nested = base.join("a/b").to_string_lossy().to_string();
        assert!(
            ensure_runtime_dir(&nested, Ids::default()).is_err(),
            "parents are not created"
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
