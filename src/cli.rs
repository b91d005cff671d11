//! From parsed flags to a [`CommandLine`], the version and internals texts, and the exit codes.
//!
//! Exit codes are Kamailio's: 0 for success (`-c` ok, `-v`, `-h`, `--cfg-print`), 255 (`exit(-1)`)
//! for every error: bad option, bad option value, bad config, refused start.

use ferrosip_config::SubstKind;
use ferrosip_server::listen::{parse_hostport, parse_listen};
use ferrosip_server::log::LogEngine;
use ferrosip_server::modparam::parse_modparam;
use ferrosip_server::settings::ParamValue;
use ferrosip_server::startup::{CommandLine, ForkMode, Mode};

use crate::flags::{FlagId, Occurrence, Parsed, DEFAULT_CFG_FILE, DEFAULT_RUNTIME_DIR};

/// Exit code for every failure (Kamailio exits with -1).
pub const EXIT_FAILURE: u8 = 255;

/// What the command line asks for before anything is loaded.
#[derive(Debug)]
pub enum Action {
    Help,
    Version,
    Internals,
    Run(Box<CommandLine>),
}

/// The `-v` text.
pub fn version_text() -> String {
    format!(
        "version: ferrosip {} ({}/{})\n\
         compatible: kamailio 6.0 configuration language and command line\n\
         modules: {} of {} Kamailio modules implemented\n\
         id: unknown\n\
         compiled with rustc\n",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS,
        ferrosip_modules::registry::IMPLEMENTED_MODULES.len(),
        ferrosip_modules::registry::KAMAILIO_MODULES.len(),
    )
}

/// The first line of `-h` and `-v`.
pub fn version_line() -> String {
    format!(
        "version: ferrosip {} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

/// The `-I` text: what Kamailio prints as compile flags has no equivalent; list what is built in.
pub fn internals_text() -> String {
    let implemented = ferrosip_modules::registry::IMPLEMENTED_MODULES;
    format!(
        "{}\nbuild flags: none (ferrosip has no compile-time options)\nbuilt-in modules: {}\n\
         default config file: {DEFAULT_CFG_FILE}\ndefault runtime dir: {DEFAULT_RUNTIME_DIR}\n",
        version_line(),
        if implemented.is_empty() {
            "(none yet)".to_string()
        } else {
            implemented.join(", ")
        },
    )
}

/// Turns the parsed flags into an action. The error is the message to print.
pub fn interpret(parsed: &Parsed) -> Result<Action, String> {
    if parsed.help {
        return Ok(Action::Help);
    }
    // `-v`/`-I` met before a bad option win, as in Kamailio's in-order processing.
    for o in parsed.valid() {
        match o.id {
            FlagId::Version => return Ok(Action::Version),
            FlagId::Internals => return Ok(Action::Internals),
            _ => {}
        }
    }
    if let Some((_, e)) = &parsed.error {
        return Err(e.to_string());
    }
    let mut cmd = CommandLine {
        cfg_file: DEFAULT_CFG_FILE.to_string(),
        ..Default::default()
    };
    let mut debug_inc: Option<i32> = None;
    let mut forks = 0usize;
    let mut check = false;
    let mut print = false;
    let mut runtime_dir: Option<String> = None;
    for o in &parsed.flags {
        let v = o.value.clone().unwrap_or_default();
        match o.id {
            FlagId::Help | FlagId::Version | FlagId::Internals => {}
            FlagId::Check => check = true,
            FlagId::CfgPrint => print = true,
            FlagId::CfgFile => cmd.cfg_file = v,
            FlagId::Define => cmd.defines.push(v),
            FlagId::Subst => cmd.substs.push((SubstKind::Subst, v)),
            FlagId::SubstDef => cmd.substs.push((SubstKind::SubstDef, v)),
            FlagId::SubstDefs => cmd.substs.push((SubstKind::SubstDefs, v)),
            FlagId::DebugInc => {
                let d = debug_inc.get_or_insert(cmd.debug.unwrap_or(0));
                *d += 1;
                cmd.debug = Some(*d);
            }
            FlagId::Debug => {
                let d = int(o, &v, "bad debug level value")?;
                debug_inc = Some(d);
                cmd.debug = Some(d);
            }
            FlagId::LogStderr => cmd.log_stderr = true,
            FlagId::LogColor => cmd.log_color = true,
            FlagId::LogEngine => {
                cmd.log_engine = Some(LogEngine::parse(&v).map_err(|e| e.to_string())?);
            }
            FlagId::NoFork => forks += 1,
            FlagId::PidFile => cmd.pid_file = Some(v),
            FlagId::PgidFile => cmd.pgid_file = Some(v),
            FlagId::LoadModule => cmd.loadmodules.push(v),
            FlagId::Modparam => cmd
                .modparams
                .push(parse_modparam(&v).map_err(|e| e.to_string())?),
            FlagId::Listen => cmd
                .listen
                .push(parse_listen(&v).map_err(|e| e.to_string())?),
            FlagId::Alias => cmd
                .aliases
                .push(parse_hostport(&v).map_err(|_| format!("Invalid alias value '{v}'"))?),
            FlagId::AutoAliases => {
                let on = match v.as_str() {
                    "yes" | "on" => 1,
                    "no" | "off" => 0,
                    _ => {
                        return Err(format!(
                            "bad auto aliases parameter: {v} (valid on, off, yes, no)"
                        ))
                    }
                };
                cmd.overrides.push(("auto_aliases", ParamValue::Int(on)));
            }
            FlagId::AtExit => match v.chars().next() {
                Some('y' | '1' | 'n' | '0') => cmd.no_effect.push(format!(
                    "--atexit={v}: ferrosip loads no external libraries"
                )),
                _ => return Err(format!("bad atexit value: {v}")),
            },
            FlagId::AllErrors => cmd
                .no_effect
                .push("--all-errors: every config error is always reported".into()),
            FlagId::RecvBuffer => {
                let n = int(o, &v, "bad max buffer size number")?;
                cmd.overrides.push(("maxbuffer", ParamValue::Int(n.into())));
            }
            FlagId::SendBuffer => {
                let n = int(o, &v, "bad max buffer size number")?;
                cmd.overrides
                    .push(("maxsndbuffer", ParamValue::Int(n.into())));
            }
            FlagId::Children => {
                let n = int(o, &v, "bad process number")?;
                cmd.overrides.push(("children", ParamValue::Int(n.into())));
            }
            FlagId::TcpChildren => {
                let n = int(o, &v, "bad process number")?;
                cmd.overrides
                    .push(("tcp_children", ParamValue::Int(n.into())));
            }
            FlagId::SctpChildren => {
                let n = int(o, &v, "bad process number")?;
                cmd.overrides
                    .push(("sctp_children", ParamValue::Int(n.into())));
            }
            FlagId::ServerId => {
                let n = int(o, &v, "bad server_id value")?;
                cmd.overrides.push(("server_id", ParamValue::Int(n.into())));
            }
            FlagId::CheckVia => cmd.overrides.push(("check_via", ParamValue::Int(1))),
            FlagId::ReceivedDns => cmd.overrides.push(("dns", ParamValue::Int(1))),
            FlagId::ReceivedRevDns => cmd.overrides.push(("rev_dns", ParamValue::Int(1))),
            FlagId::DisableTcp => cmd.overrides.push(("disable_tcp", ParamValue::Int(1))),
            FlagId::DisableSctp => cmd.overrides.push(("disable_sctp", ParamValue::Int(1))),
            FlagId::Uid => cmd.overrides.push(("user", ParamValue::Str(v))),
            FlagId::Gid => cmd.overrides.push(("group", ParamValue::Str(v))),
            FlagId::Chroot => cmd.overrides.push(("chroot", ParamValue::Str(v))),
            FlagId::WorkDir => cmd.overrides.push(("workdir", ParamValue::Str(v))),
            FlagId::RuntimeDir => runtime_dir = Some(v),
            FlagId::ShmSize | FlagId::PkgSize => {
                let n = int(o, &v, "bad memory size number")?;
                if n <= 0 {
                    return Err(format!(
                        "out of limits memory size number: {} {v}",
                        o.spelled
                    ));
                }
                cmd.no_effect.push(format!(
                    "{} {v}: memory is not pre-allocated by ferrosip",
                    o.spelled
                ));
            }
            FlagId::ShmManager | FlagId::PkgManager => match v.as_str() {
                "fm" | "qm" | "tlsf" => cmd
                    .no_effect
                    .push(format!("{} {v}: ferrosip uses Rust's allocator", o.spelled)),
                _ => {
                    return Err(format!(
                        "bad memory manager name: {} {v} (fm, qm or tlsf)",
                        o.spelled
                    ))
                }
            },
            FlagId::PollMethod => match v.as_str() {
                "poll" | "epoll_lt" | "epoll_et" | "sigio_rt" | "select" | "kqueue"
                | "/dev/poll" => cmd
                    .no_effect
                    .push(format!("-W {v}: ferrosip picks the poll method itself")),
                _ => return Err(format!("bad poll method name: -W {v}")),
            },
            FlagId::ModulesPath => cmd
                .no_effect
                .push(format!("-L {v}: ferrosip's modules are built in")),
            FlagId::OptLevel => {
                int(o, &v, "bad optimization level")?;
                cmd.no_effect.push(format!(
                    "-O {v}: the script is always compiled the same way"
                ));
            }
        }
    }
    cmd.overrides.push((
        "rundir",
        ParamValue::Str(runtime_dir.unwrap_or_else(|| DEFAULT_RUNTIME_DIR.to_string())),
    ));
    cmd.fork = ForkMode::from_count(forks);
    // Kamailio: --cfg-print wins over -c (it returns right after parsing).
    cmd.mode = if print {
        Mode::CfgPrint
    } else if check {
        Mode::Check
    } else {
        Mode::Serve
    };
    Ok(Action::Run(Box::new(cmd)))
}

fn int(o: &Occurrence, v: &str, what: &str) -> Result<i32, String> {
    v.trim()
        .parse::<i32>()
        .map_err(|_| format!("{what}: {} {v}", o.spelled))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flags::parse;

    fn run(a: &[&str]) -> Result<CommandLine, String> {
        let args: Vec<String> = a.iter().map(|s| s.to_string()).collect();
        match interpret(&parse(&args))? {
            Action::Run(c) => Ok(*c),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn actions() {
        let table: [(&[&str], &str); 6] = [
            (&["-v", "-j"], "Version"),
            (&["-j", "-v"], "Err"),
            (&["-j", "-h"], "Help"),
            (&["-I"], "Internals"),
            (&["--version"], "Version"),
            (&["-c"], "Run"),
        ];
        for (a, want) in table {
            let args: Vec<String> = a.iter().map(|s| s.to_string()).collect();
            let got = match interpret(&parse(&args)) {
                Ok(Action::Help) => "Help",
                Ok(Action::Version) => "Version",
                Ok(Action::Internals) => "Internals",
                Ok(Action::Run(_)) => "Run",
                Err(_) => "Err",
            };
            assert_eq!(got, want, "{a:?}");
        }
    }

    #[test]
    fn values() {
        let c = run(&[
            "-dd",
            "-DD",
            "-c",
            "-f",
            "x.cfg",
            "-A",
            "A=1",
            "--substdef=/a/b/",
        ])
        .unwrap_or_default();
        assert_eq!(c.debug, Some(2));
        assert_eq!(c.fork, ForkMode::NoDaemonize);
        assert_eq!(c.mode, Mode::Check);
        assert_eq!(c.cfg_file, "x.cfg");
        assert_eq!(c.defines, vec!["A=1".to_string()]);
        assert_eq!(c.substs, vec![(SubstKind::SubstDef, "/a/b/".to_string())]);
        let c = run(&["--debug=3", "-d"]).unwrap_or_default();
        assert_eq!(c.debug, Some(4));
        let c = run(&["-m", "64", "-M", "8", "-n", "4", "-u", "nobody"]).unwrap_or_default();
        assert_eq!(c.no_effect.len(), 2);
        assert!(c.overrides.contains(&("children", ParamValue::Int(4))));
        assert!(c
            .overrides
            .contains(&("user", ParamValue::Str("nobody".into()))));
        assert!(c
            .overrides
            .contains(&("rundir", ParamValue::Str(DEFAULT_RUNTIME_DIR.into()))));
        assert_eq!(c.mode, Mode::Serve);
        assert_eq!(c.cfg_file, DEFAULT_CFG_FILE);
        let c = run(&["-c", "--cfg-print"]).unwrap_or_default();
        assert_eq!(c.mode, Mode::CfgPrint);
    }

    #[test]
    fn bad_values() {
        let table: [(&[&str], &str); 10] = [
            (&["-a", "maybe"], "bad auto aliases parameter: maybe"),
            (&["-n", "x"], "bad process number: -n x"),
            (&["--debug=x"], "bad debug level value"),
            (
                &["-l", "bogus:1:2:3"],
                "bad -l address specifier: bogus:1:2:3",
            ),
            (&["--modparam=tm"], "failed to set modparam"),
            (&["--log-engine=xml"], "unknown log engine"),
            (&["-m", "0"], "out of limits"),
            (&["-x", "foo"], "bad memory manager name"),
            (&["-W", "foo"], "bad poll method name"),
            (&["--alias=a:b"], "Invalid alias value 'a:b'"),
        ];
        for (a, want) in table {
            let e = run(a).err().unwrap_or_default();
            assert!(e.contains(want), "{a:?}: {e}");
        }
    }
}
