//! The command-line flags: one declarative table ([`FLAGS`]) from which the parser and `-h` are
//! built, and a getopt-compatible parser.
//!
//! Parsing follows Kamailio's `getopt_long` use: short options cluster (`-DD`, `-dd`, `-cE`), an
//! option argument is attached (`-fkamailio.cfg`) or the next word (`-f kamailio.cfg`), long options
//! take `--name=value` or `--name value` and may be abbreviated to an unambiguous prefix
//! (`--vers`), and `--` ends the options. Two deliberate differences, both stricter: a word that is
//! not an option is an error (Kamailio ignores it), and an unknown long option is named in the
//! message (Kamailio prints an option code).

use std::fmt::Write as _;

/// What a flag does; the parser returns these in command-line order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagId {
    AutoAliases,
    Alias,
    AtExit,
    AllErrors,
    Define,
    RecvBuffer,
    SendBuffer,
    Check,
    CfgPrint,
    DebugInc,
    Debug,
    NoFork,
    LogColor,
    LogStderr,
    CfgFile,
    Gid,
    PgidFile,
    Help,
    Internals,
    CheckVia,
    Listen,
    LoadModule,
    LogEngine,
    ModulesPath,
    ShmSize,
    Modparam,
    PkgSize,
    Children,
    TcpChildren,
    OptLevel,
    PidFile,
    SctpChildren,
    ReceivedDns,
    ReceivedRevDns,
    ServerId,
    Subst,
    SubstDef,
    SubstDefs,
    DisableSctp,
    Chroot,
    DisableTcp,
    Uid,
    Version,
    ShmManager,
    PkgManager,
    RuntimeDir,
    WorkDir,
    PollMethod,
}

/// One flag: its spellings, the name of its argument (if it takes one) and its help text.
#[derive(Debug, Clone, Copy)]
pub struct FlagDef {
    pub id: FlagId,
    pub short: Option<char>,
    pub long: Option<&'static str>,
    /// Name of the argument in the help (`file`, `nr` …); `None` for a switch.
    pub value: Option<&'static str>,
    /// Help lines; the first is printed beside the flag, the others below it.
    pub help: &'static [&'static str],
}

const fn flag(
    id: FlagId,
    short: Option<char>,
    long: Option<&'static str>,
    value: Option<&'static str>,
    help: &'static [&'static str],
) -> FlagDef {
    FlagDef {
        id,
        short,
        long,
        value,
        help,
    }
}

/// The default `-f`: where an operator who installs ferrosip next to (or instead of) Kamailio puts the
/// configuration. The file keeps Kamailio's name because it *is* a kamailio.cfg.
pub const DEFAULT_CFG_FILE: &str = "/etc/ferrosip/kamailio.cfg";

/// The default `-Y` (Kamailio's is `/run/kamailio`).
pub const DEFAULT_RUNTIME_DIR: &str = "/run/ferrosip";

/// Every flag, in the order `-h` lists them (Kamailio's order: alphabetical by letter).
pub const FLAGS: &[FlagDef] = {
    use FlagId::*;
    &[
        flag(
            AutoAliases,
            Some('a'),
            None,
            Some("mode"),
            &["Automatic aliases for the listen addresses: yes/on or no/off"],
        ),
        flag(
            Alias,
            None,
            Some("alias"),
            Some("val"),
            &["Add an alias '[proto:]hostname[:port]' (as the 'alias' parameter)"],
        ),
        flag(
            AtExit,
            None,
            Some("atexit"),
            Some("val"),
            &[
                "Run exit callbacks of external libraries: y[es]/1 or n[o]/0",
                "(accepted for compatibility; ferrosip loads no external libraries)",
            ],
        ),
        flag(
            AllErrors,
            None,
            Some("all-errors"),
            None,
            &[
                "Report every config error found, not only the first ones",
                "(ferrosip always reports all of them)",
            ],
        ),
        flag(
            Define,
            Some('A'),
            None,
            Some("define"),
            &["Define a preprocessor name: -A NAME, -A 'NAME=1', -A 'NAME=\"text\"'"],
        ),
        flag(
            RecvBuffer,
            Some('b'),
            None,
            Some("nr"),
            &["Upper limit for the UDP receive buffer size probing"],
        ),
        flag(
            SendBuffer,
            Some('B'),
            None,
            Some("nr"),
            &["Upper limit for the UDP send buffer size probing"],
        ),
        flag(
            Check,
            Some('c'),
            None,
            None,
            &["Check the configuration file and exit"],
        ),
        flag(
            CfgPrint,
            None,
            Some("cfg-print"),
            None,
            &["Print the configuration after includes and #!ifdef evaluation"],
        ),
        flag(
            DebugInc,
            Some('d'),
            None,
            None,
            &["Raise the log level by one (repeatable, counting from 0)"],
        ),
        flag(
            Debug,
            None,
            Some("debug"),
            Some("val"),
            &["Set the log level (-5 alert .. 3 debug)"],
        ),
        flag(
            NoFork,
            Some('D'),
            None,
            None,
            &[
                "Daemon control: -D do not fork; -DD do not daemonize;",
                "-DDD daemonize (default)",
            ],
        ),
        flag(
            LogColor,
            Some('e'),
            None,
            None,
            &["Colour log messages per level (with -E)"],
        ),
        flag(
            LogStderr,
            Some('E'),
            None,
            None,
            &["Log to stderr instead of syslog"],
        ),
        flag(
            CfgFile,
            Some('f'),
            None,
            Some("file"),
            &["Configuration file (default: /etc/ferrosip/kamailio.cfg)"],
        ),
        flag(
            Gid,
            Some('g'),
            None,
            Some("gid"),
            &["Run with this group (name or number)"],
        ),
        flag(
            PgidFile,
            Some('G'),
            None,
            Some("file"),
            &["Write the process group id to this file"],
        ),
        flag(
            Help,
            Some('h'),
            Some("help"),
            None,
            &["Print this help and exit"],
        ),
        flag(
            Internals,
            Some('I'),
            None,
            None,
            &["Print internal build information and exit"],
        ),
        flag(
            CheckVia,
            Some('K'),
            None,
            None,
            &["Check the Via host of replies before forwarding them"],
        ),
        flag(
            Listen,
            Some('l'),
            None,
            Some("address"),
            &[
                "Listen on an address (repeatable):",
                "[proto:]addr_lst[:port][/advaddr[:port]][/name]",
                "proto: udp, tcp, tls or sctp; addr_lst: addr or (addr, addr ...);",
                "addr: host name, IP address ([::1] for IPv6) or interface name.",
                "Examples: -l localhost, -l udp:127.0.0.1:5080, -l eth0:5062,",
                "-l udp:127.0.0.1:5080/1.2.3.4:5060, -l \"sctp:(eth0)\",",
                "-l \"(eth0, eth1, 127.0.0.1):5065\". Default: all interfaces",
            ],
        ),
        flag(
            LoadModule,
            None,
            Some("loadmodule"),
            Some("name"),
            &["Load a module (as loadmodule in the config)"],
        ),
        flag(
            LogEngine,
            None,
            Some("log-engine"),
            Some("name[:data]"),
            &["Log message format: json[:flags], flags from a A c j M N p U"],
        ),
        flag(
            ModulesPath,
            Some('L'),
            None,
            Some("path"),
            &["Modules search path (accepted; ferrosip's modules are built in)"],
        ),
        flag(
            ShmSize,
            Some('m'),
            None,
            Some("nr"),
            &["Shared memory size in MB (accepted; no effect in ferrosip)"],
        ),
        flag(
            Modparam,
            None,
            Some("modparam"),
            Some("mod:param:type:value"),
            &[
                "Set a module parameter; type is 's' (string) or 'i' (integer),",
                "e.g. --modparam=corex:alias_subdomains:s:example.org",
            ],
        ),
        flag(
            PkgSize,
            Some('M'),
            None,
            Some("nr"),
            &["Private memory size in MB (accepted; no effect in ferrosip)"],
        ),
        flag(
            Children,
            Some('n'),
            None,
            Some("processes"),
            &["Number of SIP workers per UDP socket (default: 8)"],
        ),
        flag(
            TcpChildren,
            Some('N'),
            None,
            Some("nr"),
            &["Number of TCP workers (default: as -n)"],
        ),
        flag(
            OptLevel,
            Some('O'),
            None,
            Some("nr"),
            &["Script optimization level (accepted; no effect in ferrosip)"],
        ),
        flag(
            PidFile,
            Some('P'),
            None,
            Some("file"),
            &["Write the process id to this file"],
        ),
        flag(
            SctpChildren,
            Some('Q'),
            None,
            Some("nr"),
            &["Number of SCTP workers (default: as -n)"],
        ),
        flag(
            ReceivedDns,
            Some('r'),
            None,
            None,
            &["Add received= to Via when a DNS lookup of its host does not match"],
        ),
        flag(
            ReceivedRevDns,
            Some('R'),
            None,
            None,
            &["As -r with reverse DNS (both: -rR)"],
        ),
        flag(
            ServerId,
            None,
            Some("server-id"),
            Some("num"),
            &["Set server_id"],
        ),
        flag(
            Subst,
            None,
            Some("subst"),
            Some("exp"),
            &["Add a #!subst preprocessor directive"],
        ),
        flag(
            SubstDef,
            None,
            Some("substdef"),
            Some("exp"),
            &["Add a #!substdef preprocessor directive"],
        ),
        flag(
            SubstDefs,
            None,
            Some("substdefs"),
            Some("exp"),
            &["Add a #!substdefs preprocessor directive"],
        ),
        flag(DisableSctp, Some('S'), None, None, &["Disable SCTP"]),
        flag(
            Chroot,
            Some('t'),
            None,
            Some("dir"),
            &["Change the root directory to dir"],
        ),
        flag(DisableTcp, Some('T'), None, None, &["Disable TCP"]),
        flag(
            Uid,
            Some('u'),
            None,
            Some("uid"),
            &["Run as this user (name or number)"],
        ),
        flag(
            Version,
            Some('v'),
            Some("version"),
            None,
            &["Print the version and exit"],
        ),
        flag(Version, Some('V'), None, None, &["Same as -v"]),
        flag(
            ShmManager,
            Some('x'),
            None,
            Some("name"),
            &["Shared memory manager: fm, qm or tlsf (accepted; no effect)"],
        ),
        flag(
            PkgManager,
            Some('X'),
            None,
            Some("name"),
            &["Private memory manager: fm, qm or tlsf (accepted; no effect)"],
        ),
        flag(
            RuntimeDir,
            Some('Y'),
            None,
            Some("dir"),
            &["Runtime directory (default: /run/ferrosip)"],
        ),
        flag(
            WorkDir,
            Some('w'),
            None,
            Some("dir"),
            &["Working directory (default: /)"],
        ),
        flag(
            PollMethod,
            Some('W'),
            None,
            Some("type"),
            &[
                "Poll method: poll, epoll_lt, epoll_et, sigio_rt, select, kqueue,",
                "/dev/poll (accepted; ferrosip uses the OS's best one)",
            ],
        ),
    ]
};

/// The `-h` text (after the version line).
pub fn help_text(program: &str) -> String {
    let mut out = format!("Usage: {program} [options]\nOptions:\n");
    for f in FLAGS {
        let mut names = Vec::new();
        if let Some(c) = f.short {
            names.push(match f.value {
                Some(v) => format!("-{c} {v}"),
                None => format!("-{c}"),
            });
        }
        if let Some(l) = f.long {
            names.push(match (f.value, f.short) {
                (Some(v), _) => format!("--{l}={v}"),
                (None, _) => format!("--{l}"),
            });
        }
        let left = names.join(", ");
        let mut lines = f.help.iter();
        let first = lines.next().copied().unwrap_or("");
        if left.len() < 16 {
            let _ = writeln!(out, "    {left:<16} {first}");
        } else {
            let _ = writeln!(out, "    {left}\n{:21}{first}", "");
        }
        for l in lines {
            let _ = writeln!(out, "{:23}{l}", "");
        }
    }
    out
}

/// A command-line problem. The message is what the binary prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgError {
    Unknown(String),
    MissingValue(String),
    UnexpectedValue(String),
    Ambiguous(String),
    Positional(String),
}

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArgError::Unknown(o) => write!(f, "Unknown option '{o}'. Use -h for help."),
            ArgError::MissingValue(o) => {
                write!(f, "Option '{o}' requires an argument. Use -h for help.")
            }
            ArgError::UnexpectedValue(o) => {
                write!(
                    f,
                    "Option '{o}' does not take an argument. Use -h for help."
                )
            }
            ArgError::Ambiguous(o) => write!(f, "Option '{o}' is ambiguous. Use -h for help."),
            ArgError::Positional(a) => {
                write!(
                    f,
                    "Unexpected argument '{a}' (options start with '-'). Use -h for help."
                )
            }
        }
    }
}

/// One parsed occurrence: the flag and its argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Occurrence {
    pub id: FlagId,
    /// How it was spelled (`-f`, `--debug`), for messages.
    pub spelled: String,
    pub value: Option<String>,
}

/// The result of the getopt pass: flags in order, and the first error with its position in that
/// order (Kamailio acts on `-v` or `-h` met before a bad option, and on the error otherwise).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub flags: Vec<Occurrence>,
    pub error: Option<(usize, ArgError)>,
    /// `-h`/`--help` anywhere, even as another option's argument (`-f -h`), as Kamailio checks.
    pub help: bool,
}

impl Parsed {
    /// The occurrences before the first error.
    pub fn valid(&self) -> &[Occurrence] {
        let end = self.error.as_ref().map_or(self.flags.len(), |(i, _)| *i);
        self.flags.get(..end).unwrap_or(&self.flags)
    }
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Parsed {
    let mut p = Parsed::default();
    let mut i = 0;
    let mut options_done = false;
    while let Some(arg) = args.get(i) {
        i += 1;
        if options_done || arg == "-" || !arg.starts_with('-') {
            p.fail(ArgError::Positional(arg.clone()));
            continue;
        }
        if arg == "--" {
            options_done = true;
            continue;
        }
        if let Some(long) = arg.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            let def = match find_long(name) {
                Ok(d) => d,
                Err(e) => {
                    p.fail(e);
                    continue;
                }
            };
            let spelled = format!("--{}", def.long.unwrap_or(name));
            let value = match (def.value, inline) {
                (None, None) => None,
                (None, Some(_)) => {
                    p.fail(ArgError::UnexpectedValue(spelled));
                    continue;
                }
                (Some(_), Some(v)) => Some(v),
                (Some(_), None) => match args.get(i) {
                    Some(v) => {
                        i += 1;
                        Some(v.clone())
                    }
                    None => {
                        p.fail(ArgError::MissingValue(spelled));
                        continue;
                    }
                },
            };
            p.push(def.id, spelled, value);
            continue;
        }
        // A cluster of short options.
        for (pos, c) in arg.char_indices().skip(1) {
            let spelled = format!("-{c}");
            let Some(def) = FLAGS.iter().find(|f| f.short == Some(c)) else {
                p.fail(ArgError::Unknown(spelled));
                continue;
            };
            if def.value.is_none() {
                p.push(def.id, spelled, None);
                continue;
            }
            let rest = arg.get(pos + c.len_utf8()..).unwrap_or("");
            let value = if !rest.is_empty() {
                Some(rest.to_string())
            } else if let Some(v) = args.get(i) {
                i += 1;
                Some(v.clone())
            } else {
                p.fail(ArgError::MissingValue(spelled));
                break;
            };
            p.push(def.id, spelled, value);
            break;
        }
    }
    p
}

impl Parsed {
    fn push(&mut self, id: FlagId, spelled: String, value: Option<String>) {
        if id == FlagId::Help || value.as_deref() == Some("-h") {
            self.help = true;
        }
        self.flags.push(Occurrence { id, spelled, value });
    }

    fn fail(&mut self, e: ArgError) {
        if self.error.is_none() {
            self.error = Some((self.flags.len(), e));
        }
    }
}

fn find_long(name: &str) -> Result<&'static FlagDef, ArgError> {
    if let Some(d) = FLAGS.iter().find(|f| f.long == Some(name)) {
        return Ok(d);
    }
    let mut hits = FLAGS.iter().filter(|f| {
        f.long
            .is_some_and(|l| !name.is_empty() && l.starts_with(name))
    });
    match (hits.next(), hits.next()) {
        (Some(d), None) => Ok(d),
        (Some(_), Some(_)) => Err(ArgError::Ambiguous(format!("--{name}"))),
        _ => Err(ArgError::Unknown(format!("--{name}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use FlagId::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|a| a.to_string()).collect()
    }

    fn ids(p: &Parsed) -> Vec<(FlagId, Option<&str>)> {
        p.flags.iter().map(|o| (o.id, o.value.as_deref())).collect()
    }

    #[test]
    fn table_is_consistent() {
        // Every short letter and long name is unique, every flag has help, and every FlagId is
        // reachable from the table.
        let mut shorts: Vec<char> = FLAGS.iter().filter_map(|f| f.short).collect();
        let n = shorts.len();
        shorts.sort_unstable();
        shorts.dedup();
        assert_eq!(shorts.len(), n);
        let mut longs: Vec<&str> = FLAGS.iter().filter_map(|f| f.long).collect();
        let n = longs.len();
        longs.sort_unstable();
        longs.dedup();
        assert_eq!(longs.len(), n);
        assert!(FLAGS
            .iter()
            .all(|f| !f.help.is_empty() && (f.short.is_some() || f.long.is_some())));
        // Kamailio's getopt string and long option list, as a check that nothing is missing.
        let kamailio_short = ":f:cm:M:dVIhEeb:B:l:L:n:vKrRDTN:W:w:t:u:g:P:G:SQ:O:a:A:x:X:Y:";
        for c in kamailio_short.chars().filter(|c| *c != ':') {
            assert!(FLAGS.iter().any(|f| f.short == Some(c)), "-{c} missing");
        }
        let kamailio_long = [
            "help",
            "version",
            "alias",
            "subst",
            "substdef",
            "substdefs",
            "server-id",
            "loadmodule",
            "modparam",
            "log-engine",
            "debug",
            "cfg-print",
            "atexit",
            "all-errors",
        ];
        for l in kamailio_long {
            assert!(FLAGS.iter().any(|f| f.long == Some(l)), "--{l} missing");
        }
        assert_eq!(FLAGS.len(), 49);
    }

    #[test]
    fn getopt_behaviour() {
        type Case<'a> = (Vec<&'a str>, Vec<(FlagId, Option<&'a str>)>);
        let table: Vec<Case<'_>> = vec![
            (vec!["-DD"], vec![(NoFork, None), (NoFork, None)]),
            (
                vec!["-dd", "-E"],
                vec![(DebugInc, None), (DebugInc, None), (LogStderr, None)],
            ),
            (
                vec!["-cf", "k.cfg"],
                vec![(Check, None), (CfgFile, Some("k.cfg"))],
            ),
            (
                vec!["-fk.cfg", "-c"],
                vec![(CfgFile, Some("k.cfg")), (Check, None)],
            ),
            (
                vec!["-cfk.cfg"],
                vec![(Check, None), (CfgFile, Some("k.cfg"))],
            ),
            (vec!["--debug=3"], vec![(Debug, Some("3"))]),
            (vec!["--debug", "3"], vec![(Debug, Some("3"))]),
            (vec!["--vers"], vec![(Version, None)]),
            (vec!["-A", "X=\"y\""], vec![(Define, Some("X=\"y\""))]),
            (
                vec!["-l", "udp:127.0.0.1:5060"],
                vec![(Listen, Some("udp:127.0.0.1:5060"))],
            ),
            (
                vec!["--modparam=a:b:s:c=d"],
                vec![(Modparam, Some("a:b:s:c=d"))],
            ),
            (
                vec!["--log-engine=json:M"],
                vec![(LogEngine, Some("json:M"))],
            ),
            (vec!["-f", "-"], vec![(CfgFile, Some("-"))]),
        ];
        for (a, want) in table {
            let p = parse(&args(&a));
            assert_eq!(p.error, None, "{a:?}");
            assert_eq!(ids(&p), want, "{a:?}");
        }
    }

    #[test]
    fn errors_and_help() {
        type Case<'a> = (Vec<&'a str>, Option<(usize, ArgError)>, bool);
        let table: Vec<Case<'_>> = vec![
            (vec!["-j"], Some((0, ArgError::Unknown("-j".into()))), false),
            (
                vec!["-c", "--bogus"],
                Some((1, ArgError::Unknown("--bogus".into()))),
                false,
            ),
            (
                vec!["-f"],
                Some((0, ArgError::MissingValue("-f".into()))),
                false,
            ),
            (
                vec!["--debug"],
                Some((0, ArgError::MissingValue("--debug".into()))),
                false,
            ),
            (
                vec!["-c=1"],
                Some((1, ArgError::Unknown("-=".into()))),
                false,
            ),
            (
                vec!["--cfg-print=x"],
                Some((0, ArgError::UnexpectedValue("--cfg-print".into()))),
                false,
            ),
            (
                vec!["--subst"],
                Some((0, ArgError::MissingValue("--subst".into()))),
                false,
            ),
            (
                vec!["--s"],
                Some((0, ArgError::Ambiguous("--s".into()))),
                false,
            ),
            (
                vec!["start"],
                Some((0, ArgError::Positional("start".into()))),
                false,
            ),
            (
                vec!["-j", "-h"],
                Some((0, ArgError::Unknown("-j".into()))),
                true,
            ),
            (vec!["-f", "-h"], None, true),
            (vec!["--help"], None, true),
            (
                vec!["--", "-c"],
                Some((0, ArgError::Positional("-c".into()))),
                false,
            ),
        ];
        for (a, err, help) in table {
            let p = parse(&args(&a));
            assert_eq!(p.error, err, "{a:?}");
            assert_eq!(p.help, help, "{a:?}");
        }
        let p = parse(&args(&["-v", "-j"]));
        assert_eq!(p.valid().len(), 1);
    }

    #[test]
    fn unicode_and_odd_words() {
        let table: Vec<(Vec<&str>, Option<ArgError>)> = vec![
            (vec!["-é"], Some(ArgError::Unknown("-é".into()))),
            (vec!["-fé"], None),
            (vec!["--é"], Some(ArgError::Unknown("--é".into()))),
            (vec!["--"], None),
            (vec!["--="], Some(ArgError::Unknown("--".into()))),
            (vec!["-"], Some(ArgError::Positional("-".into()))),
        ];
        for (a, want) in table {
            let p = parse(&args(&a));
            assert_eq!(p.error.map(|(_, e)| e), want, "{a:?}");
        }
    }

    #[test]
    fn help_lists_every_flag() {
        let h = help_text("ferrosip");
        for f in FLAGS {
            if let Some(c) = f.short {
                assert!(h.contains(&format!("    -{c}")), "-{c}");
            }
            if let Some(l) = f.long {
                assert!(h.contains(&format!("--{l}")), "--{l}");
            }
        }
        assert!(
            h.starts_with("Usage: ferrosip [options]\nOptions:\n    -a mode          Automatic")
        );
    }
}
