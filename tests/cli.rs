//! Black-box tests of the `ferrosip` command line: the built binary is run with the flags of
//! `kamailio -h` and its exit code, stdout and stderr are checked. Where the answer must be the same
//! as Kamailio's, the installed `kamailio` is run too (required when `CI=true`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

fn data(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/cli")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// A private runtime directory, so that `-c` (which creates it, like Kamailio) touches nothing global.
fn rundir() -> String {
    let d: PathBuf = std::env::temp_dir().join(format!("ferrosip-cli-test-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d.join("run").to_string_lossy().into_owned()
}

fn run_bin(bin: &str, args: &[&str]) -> Out {
    let out = Command::new(bin)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {bin}: {e}"));
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ferrosip(args: &[&str]) -> Out {
    run_bin(env!("CARGO_BIN_EXE_ferrosip"), args)
}

/// `ferrosip -c -f <data file> -Y <tmp> <extra…>`.
fn check(file: &str, extra: &[&str]) -> Out {
    let f = data(file);
    let y = rundir();
    let mut args = vec!["-c", "-f", f.as_str(), "-Y", y.as_str()];
    args.extend_from_slice(extra);
    ferrosip(&args)
}

fn kamailio() -> Option<&'static str> {
    let path = "/usr/sbin/kamailio";
    if Path::new(path).exists() {
        Some(path)
    } else if std::env::var("CI").as_deref() == Ok("true") {
        panic!("kamailio is required for the differential tests under CI");
    } else {
        eprintln!("kamailio not installed: differential checks skipped");
        None
    }
}

#[test]
fn version_flags() {
    let v = ferrosip(&["-v"]);
    assert_eq!(v.code, 0);
    let first = v.stdout.lines().next().unwrap_or("");
    let want = format!(
        "version: ferrosip {} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    );
    assert_eq!(first, want);
    for flag in ["-V", "--version", "--vers"] {
        let o = ferrosip(&[flag]);
        assert_eq!(
            (o.code, o.stdout.as_str()),
            (0, v.stdout.as_str()),
            "{flag}"
        );
    }
    // In-order processing: -v before a bad option wins, after it the error wins.
    assert_eq!(ferrosip(&["-v", "-j"]).code, 0);
    assert_eq!(ferrosip(&["-j", "-v"]).code, 255);
}

#[test]
fn help_lists_every_kamailio_flag() {
    let h = ferrosip(&["-h"]);
    assert_eq!(h.code, 0);
    assert!(h.stdout.starts_with("version: ferrosip "), "{}", h.stdout);
    assert!(h.stdout.contains("\nUsage: ferrosip [options]\n"));
    assert_eq!(ferrosip(&["--help"]).stdout, h.stdout);
    // The flags of Kamailio 6.0's `kamailio -h`.
    let short = "aAbBcdDeEfgGhIKlLmMnNOPQrRStTuvVxXYwW";
    for c in short.chars() {
        let spelled = format!("    -{c}");
        assert!(h.stdout.contains(&spelled), "-{c} missing from -h");
    }
    for long in [
        "--alias",
        "--atexit",
        "--all-errors",
        "--cfg-print",
        "--debug",
        "--help",
        "--loadmodule",
        "--log-engine",
        "--modparam",
        "--server-id",
        "--subst",
        "--substdef",
        "--substdefs",
        "--version",
    ] {
        assert!(h.stdout.contains(long), "{long} missing from -h");
    }
    // -h is honoured even as another option's argument or after a bad option, as in Kamailio.
    assert_eq!(ferrosip(&["-f", "-h"]).stdout, h.stdout);
    assert_eq!(ferrosip(&["-j", "-h"]).code, 0);
}

#[test]
fn bad_options() {
    let table: [(&[&str], &str); 6] = [
        (&["-j"], "Unknown option '-j'. Use -h for help."),
        (&["--bogus"], "Unknown option '--bogus'. Use -h for help."),
        (
            &["-f"],
            "Option '-f' requires an argument. Use -h for help.",
        ),
        (
            &["-c", "-a", "maybe"],
            "bad auto aliases parameter: maybe (valid on, off, yes, no)",
        ),
        (&["-n", "x"], "bad process number: -n x"),
        (&["start"], "Unexpected argument 'start'"),
    ];
    for (args, msg) in table {
        let o = ferrosip(args);
        assert_eq!(o.code, 255, "{args:?}");
        assert!(o.stderr.contains(msg), "{args:?}: {}", o.stderr);
        assert!(o.stdout.is_empty());
    }
}

#[test]
fn same_exit_codes_as_kamailio() {
    let Some(k) = kamailio() else { return };
    let y = rundir();
    let missing = data("does-not-exist.cfg");
    let cases: Vec<Vec<String>> = vec![
        vec!["-j".into()],
        vec!["-f".into()],
        vec!["-h".into()],
        vec!["-v".into()],
        vec!["-c".into(), "-f".into(), data("good.cfg")],
        vec!["-c".into(), "-f".into(), data("syntax_error.cfg")],
        vec!["-c".into(), "-f".into(), data("unknown_module.cfg")],
        vec!["-c".into(), "-f".into(), missing],
        vec![
            "-c".into(),
            "-A".into(),
            "WITH_BROKEN".into(),
            "-f".into(),
            data("ifdef.cfg"),
        ],
        vec![
            "-c".into(),
            "-f".into(),
            data("good.cfg"),
            "--modparam=tm:fr_timer:i:10".into(),
        ],
        vec![
            "-c".into(),
            "-f".into(),
            data("good.cfg"),
            "--loadmodule=nosuchmod".into(),
        ],
        vec!["-c".into(), "-f".into(), data("no_modules.cfg")],
        vec![
            "-c".into(),
            "-f".into(),
            data("no_modules.cfg"),
            "-a".into(),
            "maybe".into(),
        ],
        vec![
            "-c".into(),
            "-f".into(),
            data("no_modules.cfg"),
            "-n".into(),
            "x".into(),
        ],
        vec![
            "-c".into(),
            "-f".into(),
            data("no_modules.cfg"),
            "--debug=x".into(),
        ],
        vec![
            "-c".into(),
            "-f".into(),
            data("no_modules.cfg"),
            "-u".into(),
            "no-such-user-x".into(),
        ],
        vec![
            "-c".into(),
            "-f".into(),
            data("no_modules.cfg"),
            "-u".into(),
            "root".into(),
        ],
        vec![
            "-c".into(),
            "-DD".into(),
            "-dd".into(),
            "-E".into(),
            "-f".into(),
            data("no_modules.cfg"),
        ],
        vec!["-V".into(), "-c".into()],
        vec!["start".into()],
    ];
    // Debian's stock kamailio.cfg, with the feature switches whose modules the base package ships.
    let mut cases = cases;
    let stock = "/etc/kamailio/kamailio.cfg";
    if Path::new(stock).exists() {
        for define in [
            "",
            "WITH_NAT",
            "WITH_DEBUG",
            "WITH_ANTIFLOOD",
            "WITH_AUTH",
            "WITH_PRESENCE",
        ] {
            let mut c: Vec<String> = vec!["-c".into(), "-f".into(), stock.into()];
            if !define.is_empty() {
                c.extend(["-A".into(), define.into()]);
            }
            cases.push(c);
        }
    }
    for case in cases {
        let mut args: Vec<&str> = case.iter().map(String::as_str).collect();
        args.extend(["-Y", y.as_str()]);
        let ours = ferrosip(&args);
        let theirs = run_bin(k, &args);
        assert_eq!(
            ours.code, theirs.code,
            "{args:?}\nours: {}\nkamailio: {}",
            ours.stderr, theirs.stderr
        );
    }
}

#[test]
fn check_good_and_broken_configs() {
    let ok = check("good.cfg", &[]);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert!(
        ok.stderr.ends_with("config file ok, exiting...\n"),
        "{}",
        ok.stderr
    );
    // sl is implemented now (it was the example of a missing module): no warning, and -c compiled
    // the routing block that calls sl_send_reply.
    assert!(
        !ok.stderr.contains("is not implemented by ferrosip yet"),
        "{}",
        ok.stderr
    );

    let bad = check("syntax_error.cfg", &[]);
    assert_eq!(bad.code, 255);
    assert!(bad.stderr.contains("error: "), "{}", bad.stderr);
    // The error points into the file with line:column (the missing ';' is seen at line 5 or 6).
    let path = data("syntax_error.cfg");
    assert!(
        bad.stderr.contains(&format!("{path}:5:")) || bad.stderr.contains(&format!("{path}:6:")),
        "{}",
        bad.stderr
    );
    assert!(
        bad.stderr.contains("ERROR: bad config file ("),
        "{}",
        bad.stderr
    );
    assert!(!bad.stderr.contains("config file ok"));

    let missing = check("does-not-exist.cfg", &[]);
    assert_eq!(missing.code, 255);
    assert!(
        missing.stderr.contains("No such file or directory"),
        "{}",
        missing.stderr
    );
}

#[test]
fn unknown_module_is_an_error_at_its_line() {
    let o = check("unknown_module.cfg", &[]);
    assert_eq!(o.code, 255);
    assert!(
        o.stderr.contains("unknown module `nosuchmod`"),
        "{}",
        o.stderr
    );
    assert!(
        o.stderr
            .contains(&format!("{}:4:1", data("unknown_module.cfg"))),
        "{}",
        o.stderr
    );

    let cli = check("good.cfg", &["--loadmodule=nosuchmod"]);
    assert_eq!(cli.code, 255);
    assert!(
        cli.stderr.contains("could not find module <nosuchmod>"),
        "{}",
        cli.stderr
    );
    let mp = check("good.cfg", &["--modparam=tm:fr_timer:i:10"]);
    assert_eq!(mp.code, 255);
    assert!(
        mp.stderr.contains("No module matching <tm> found"),
        "{}",
        mp.stderr
    );
    let ok = check(
        "good.cfg",
        &["--loadmodule=tm", "--modparam=tm:fr_timer:i:10"],
    );
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn define_changes_ifdef_outcome() {
    assert_eq!(check("ifdef.cfg", &[]).code, 0);
    let broken = check("ifdef.cfg", &["-A", "WITH_BROKEN"]);
    assert_eq!(broken.code, 255, "{}", broken.stderr);
    // Attached argument and NAME=value forms.
    assert_eq!(check("ifdef.cfg", &["-AWITH_BROKEN=1"]).code, 255);
}

#[test]
fn cfg_print_evaluates_ifdefs() {
    let f = data("ifdef.cfg");
    let plain = ferrosip(&["--cfg-print", "-f", &f]);
    assert_eq!(plain.code, 0, "{}", plain.stderr);
    assert!(plain.stdout.contains("debug=1"), "{}", plain.stdout);
    assert!(!plain.stdout.contains("marker-defined"));
    let marked = ferrosip(&["--cfg-print", "-A", "WITH_MARKER", "-f", &f]);
    assert_eq!(marked.code, 0);
    assert!(
        marked
            .stdout
            .contains("server_header=\"Server: marker-defined\""),
        "{}",
        marked.stdout
    );
    assert!(!marked.stdout.contains("WITH_BROKEN\ndebug="));
}

/// The INFO line logged at start for `-m 64` (accepted, no effect).
const NO_EFFECT: &str = "option accepted with no effect: -m 64";

#[test]
fn stderr_log_line_shape() {
    let o = check("no_modules.cfg", &["-E", "-dd", "-m", "64"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let line = o
        .stderr
        .lines()
        .find(|l| l.contains(NO_EFFECT))
        .unwrap_or_else(|| panic!("{}", o.stderr));
    // " 0(<pid>) INFO: <core> [<file>:<line>]: <function>(): <text>"
    let rest = line.strip_prefix(" 0(").unwrap_or_else(|| panic!("{line}"));
    let (pid, rest) = rest.split_once(") ").unwrap_or_else(|| panic!("{line}"));
    assert!(pid.parse::<u32>().is_ok(), "{line}");
    let rest = rest
        .strip_prefix("INFO: <core> [server/startup.rs:")
        .unwrap_or_else(|| panic!("{line}"));
    let (lineno, rest) = rest.split_once("]: ").unwrap_or_else(|| panic!("{line}"));
    assert!(lineno.parse::<u32>().is_ok(), "{line}");
    assert!(
        rest.starts_with("run(): ") || rest.starts_with("main(): "),
        "{line}"
    );

    let colored = check("no_modules.cfg", &["-E", "-e", "-dd", "-m", "64"]);
    let line = colored
        .stderr
        .lines()
        .find(|l| l.contains(NO_EFFECT))
        .unwrap_or_default();
    assert!(line.starts_with("\x1b[0;36;49m 0("), "{line:?}");
}

#[test]
fn json_log_engine() {
    let o = check(
        "no_modules.cfg",
        &["--log-engine=json", "-E", "--debug=2", "-m", "64"],
    );
    assert_eq!(o.code, 0, "{}", o.stderr);
    let doc = o
        .stderr
        .lines()
        .find(|l| l.contains(NO_EFFECT))
        .unwrap_or_else(|| panic!("{}", o.stderr));
    assert!(doc.starts_with("{ \"time\": \""), "{doc}");
    assert!(doc.contains("Z\", \"idx\": 0, \"pid\": "), "{doc}");
    assert!(doc.contains("\"level\": \"INFO\", \"module\": \"core\", \"file\": \"server/startup.rs\", \"line\": "), "{doc}");
    assert!(
        doc.contains("\"logprefix\": \"\", \"message\": \"option accepted"),
        "{doc}"
    );
    assert!(doc.ends_with("\\n\" }"), "{doc}");

    let m = check(
        "no_modules.cfg",
        &["--log-engine=json:McN", "-E", "--debug=2", "-m", "64"],
    );
    assert!(
        m.stderr.contains("\"callid\": \"\", \"logprefix\""),
        "{}",
        m.stderr
    );
    // M: no "\n" inside the message; N: no newline after the document.
    assert!(
        m.stderr.contains("pre-allocated by ferrosip\" }"),
        "{}",
        m.stderr
    );
    assert!(
        !m.stderr.contains("pre-allocated by ferrosip\\n"),
        "{}",
        m.stderr
    );
    assert!(
        !m.stderr.contains("pre-allocated by ferrosip\" }\n"),
        "{}",
        m.stderr
    );

    let bad = check("no_modules.cfg", &["--log-engine=xml"]);
    assert_eq!(bad.code, 255);
}

#[test]
fn json_log_engine_from_config_parameters() {
    // log_engine_type/log_engine_data switch the engine once the config is loaded...
    let o = check("json_log.cfg", &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    let doc = o
        .stderr
        .lines()
        .find(|l| l.contains("shm_mem_size"))
        .unwrap_or_else(|| panic!("{}", o.stderr));
    assert!(doc.starts_with("{ \"time\": "), "{doc}");
    // ... with flag M: no "\n" at the end of the message.
    assert!(doc.ends_with("no effect: shm_mem_size\" }"), "{doc}");
    // --log-engine on the command line wins over the config.
    let cli = check("json_log.cfg", &["--log-engine=json:c"]);
    let doc = cli
        .stderr
        .lines()
        .find(|l| l.contains("shm_mem_size"))
        .unwrap_or_else(|| panic!("{}", cli.stderr));
    assert!(doc.contains("\"callid\": \"\""), "{doc}");
    assert!(doc.ends_with("no effect: shm_mem_size\\n\" }"), "{doc}");
}

#[test]
fn debug_level_controls_output() {
    let table: [(&[&str], bool); 6] = [
        (&[], false),
        (&["-d"], false),
        (&["-dd"], true),
        (&["--debug=1"], false),
        (&["--debug=2"], true),
        (&["--debug", "3"], true),
    ];
    for (flags, shown) in table {
        let mut args = vec!["-E", "-m", "64"];
        args.extend_from_slice(flags);
        let o = check("no_modules.cfg", &args);
        assert_eq!(o.code, 0, "{flags:?}: {}", o.stderr);
        assert_eq!(
            o.stderr.contains(NO_EFFECT),
            shown,
            "{flags:?}: {}",
            o.stderr
        );
    }
}

#[test]
fn config_log_settings_and_no_effect_params() {
    // The config's debug=2 applies after it is loaded: the no-effect notes are INFO lines.
    let o = check("internals.cfg", &[]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    for name in ["shm_mem_size", "memlog", "memdbg", "loadpath/mpath"] {
        let note = format!("main(): config setting accepted with no effect: {name}\n");
        assert_eq!(o.stderr.matches(&note).count(), 1, "{name}: {}", o.stderr);
    }
    // The command line's level wins over the config's.
    let quiet = check("internals.cfg", &["--debug=1"]);
    assert!(!quiet.stderr.contains("no effect"), "{}", quiet.stderr);
    // Without -c and -E, log_stderror=yes from the config sends the log to stderr (the server
    // runs in the foreground here, on a private address, and stops on SIGTERM).
    let y = rundir();
    let served = serve_briefly(&[
        "-f",
        &data("internals.cfg"),
        "-Y",
        &y,
        "-DD",
        "-l",
        "udp:127.0.0.1:5093",
    ]);
    assert_eq!(served.code, 0, "{}", served.stderr);
    assert!(
        served.stderr.contains(") INFO: <core> [server/startup.rs:"),
        "{}",
        served.stderr
    );
}

/// Runs the server in the foreground for a moment, then stops it with SIGTERM (changed by the wire
/// helper when serving replaced the "cannot serve SIP yet" refusal).
fn serve_briefly(args: &[&str]) -> Out {
    let dir = std::env::temp_dir().join(format!("ferrosip-cli-serve-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let err = dir.join(format!("stderr-{}", args.len()));
    let child = Command::new(env!("CARGO_BIN_EXE_ferrosip"))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&err).unwrap_or_else(|e| panic!("{e}")))
        .spawn()
        .unwrap_or_else(|e| panic!("spawn: {e}"));
    let mut child = child;
    std::thread::sleep(std::time::Duration::from_millis(700));
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().unwrap_or_else(|e| panic!("wait: {e}"));
    Out {
        code: status.code().unwrap_or(-1),
        stdout: String::new(),
        stderr: std::fs::read_to_string(&err).unwrap_or_default(),
    }
}

#[test]
fn serves_and_stops_on_sigterm() {
    let f = data("no_modules.cfg");
    let y = rundir();
    let o = serve_briefly(&["-f", &f, "-Y", &y, "-E", "-DD"]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(!o.stderr.contains("ERROR"), "{}", o.stderr);
}

#[test]
fn config_from_stdin() {
    use std::io::Write as _;
    let y = rundir();
    let run = |text: &[u8]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ferrosip"))
            .args(["-c", "-f", "-", "-Y", &y])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            let _ = stdin.write_all(text);
        }
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("wait: {e}"));
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let good = std::fs::read(data("no_modules.cfg")).unwrap_or_default();
    let (code, err) = run(&good);
    assert_eq!(code, 0, "{err}");
    let bad = std::fs::read(data("unknown_module.cfg")).unwrap_or_default();
    let (code, err) = run(&bad);
    assert_eq!(code, 255);
    assert!(err.contains("unknown module `nosuchmod`"), "{err}");
}

#[test]
fn example_config_is_accepted() {
    let f = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/basic.cfg");
    let f = f.to_string_lossy();
    let y = rundir();
    let o = ferrosip(&["-c", "-f", &f, "-Y", &y]);
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert!(o.stderr.ends_with("config file ok, exiting...\n"));
}

#[test]
fn kemi_cfgengine_is_refused_at_its_line() {
    let out = check("cfgengine_lua.cfg", &[]);
    assert_eq!(out.code, 255, "{}", out.stderr);
    let path = data("cfgengine_lua.cfg");
    assert!(
        out.stderr.contains(&format!("{path}:4:1")),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("KEMI scripting engines are not implemented"),
        "{}",
        out.stderr
    );
    // `cfgengine "native"` is the interpreter ferrosip has: accepted.
    let native = std::env::temp_dir().join(format!("ferrosip-native-{}.cfg", std::process::id()));
    let text = std::fs::read_to_string(&path).expect("test config");
    std::fs::write(&native, text.replace("\"lua\"", "\"native\"")).expect("temp config");
    let n = native.to_string_lossy().to_string();
    let y = rundir();
    let ok = ferrosip(&["-c", "-f", n.as_str(), "-Y", y.as_str()]);
    let _ = std::fs::remove_file(&native);
    assert_eq!(ok.code, 0, "{}", ok.stderr);
}

#[test]
fn unimplemented_core_parameter_warns_under_check_and_is_refused_when_serving() {
    let checked = check("param_not_implemented.cfg", &[]);
    assert_eq!(checked.code, 0, "{}", checked.stderr);
    let path = data("param_not_implemented.cfg");
    assert!(
        checked.stderr.contains(&format!("{path}:5:1"))
            && checked
                .stderr
                .contains("core parameter `tcp_linger2` is not implemented by ferrosip yet"),
        "{}",
        checked.stderr
    );
    let y = rundir();
    let served = ferrosip(&["-DD", "-E", "-f", path.as_str(), "-Y", y.as_str()]);
    assert_eq!(served.code, 255, "{}", served.stderr);
    assert!(
        served
            .stderr
            .contains("core parameters not implemented by ferrosip yet: tcp_linger2"),
        "{}",
        served.stderr
    );
}

#[test]
fn tm_event_routes_are_accepted_with_their_trigger() {
    assert_eq!(check("tm_events.cfg", &[]).code, 0);
    // tm runs event_route[tm:branch-failure:…] (t_on_branch_failure) and
    // event_route[tm:local-request] (t_uac_send, tm.t_uac_*) now.
    let bf = check("tm_events.cfg", &["-A", "BRANCH_FAILURE"]);
    assert_eq!(bf.code, 0, "{}", bf.stderr);
    let out = check("tm_events.cfg", &["-A", "LOCAL"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("local-request"), "{}", out.stderr);
}

#[test]
fn a_module_loaded_twice_is_refused_at_its_line() {
    let out = check("dup_module.cfg", &[]);
    assert_eq!(out.code, 255, "{}", out.stderr);
    let path = data("dup_module.cfg");
    assert!(
        out.stderr.contains(&format!("{path}:3:1"))
            && out
                .stderr
                .contains("attempting to load the same module twice (`sl`)"),
        "{}",
        out.stderr
    );
    // --loadmodule counts too (Kamailio refuses it the same way).
    let once = check("tm_events.cfg", &["--loadmodule", "tm.so"]);
    assert_eq!(once.code, 255, "{}", once.stderr);
    assert!(
        once.stderr.contains("same module twice (`tm`)"),
        "{}",
        once.stderr
    );
}

/// `ferrosip -c` accepts Debian's stock config with no define, with each `WITH_*` define (next to
/// WITH_MYSQL) and with all of them: what ferrosip lacks there (TLS, acc's database back end, modules) are warnings under
/// `-c`, as Kamailio would accept the file.
#[test]
fn stock_config_checks_with_every_define() {
    let stock = "/etc/kamailio/kamailio.cfg";
    let Ok(text) = std::fs::read_to_string(stock) else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI: Debian's kamailio package is required"
        );
        eprintln!("{stock} missing: skipped");
        return;
    };
    let mut defines: Vec<String> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("#!ifdef WITH_"))
        .map(|d| format!("WITH_{}", d.trim()))
        .collect();
    defines.sort();
    defines.dedup();
    assert!(defines.len() > 10, "{defines:?}");
    let y = rundir();
    // The database features need WITH_MYSQL for DBURL (Kamailio refuses them alone too).
    let mut sets: Vec<Vec<String>> = vec![Vec::new(), defines.clone()];
    sets.extend(
        defines
            .iter()
            .map(|d| vec!["WITH_MYSQL".to_string(), d.clone()]),
    );
    for set in sets {
        let mut args = vec![
            "-c".to_string(),
            "-f".into(),
            stock.into(),
            "-Y".into(),
            y.clone(),
        ];
        for d in &set {
            args.push("-A".into());
            args.push(d.clone());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = ferrosip(&refs);
        assert_eq!(out.code, 0, "{set:?}: {}", out.stderr);
    }
}
