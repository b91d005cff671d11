//! Units of Kamailio's own black-box test suite, github.com/kamailio/kamailio-tests, run against
//! ferrosip: each unit's shell script runs unchanged with `KAMBIN` pointing at ferrosip, and passes
//! when it exits 0 — the script starts the "Kamailio" with its flags (`-P -w -Y -a no`, `-ddd -E`,
//! `-c`), sends SIP with sipsak and greps the log.
//!
//! Where the suite comes from: a scratch checkout at a pinned commit
//! (`scripts/fetch-kamailio-tests.sh`, git-ignored — the units are Kamailio's, never committed
//! here) or `$FERROSIP_KTESTS`. Absent, every test here is skipped with a message, also in CI:
//! CI machines have no network beyond Debian's mirror, and `.ci/run` fetches the suite only when
//! it can (ARCHITECTURE.md, "Decisions").
//!
//! How each unit runs, and why:
//! - in its own network namespace (`unshare -n`, loopback up): the units use port 5060 and
//!   sipsak's fixed local ports, which other tests of this suite (or a local Kamailio) could hold;
//!   and in its own PID namespace (`-p -f`), whose first process — the unit's bash — reaps the
//!   daemons the unit stops at once (this container's init reaps orphans only every ~2 s);
//! - on its own copy of the unit folder (units write generated config files next to their
//!   scripts) with its own `KAMRUN` directory for the pid file: a daemon killed by one step can
//!   still be a zombie waiting for its reaper when the next step starts, and Kamailio — and
//!   ferrosip — refuse a pid file whose process still exists;
//! - `KAMBIN` is a small wrapper ([`kambin_wrapper`]): without `-f`, Kamailio reads the config it was installed
//!   with (the units' Docker images build Kamailio 6.0 from source, so that is 6.0's stock
//!   `etc/kamailio.cfg`); ferrosip's default path is its own, so the wrapper adds `-f` with the
//!   6.0 stock file (scratch copy, `scripts/fetch-stock-cfg.sh`), or Debian's 5.6 file when that
//!   is absent. Every other flag reaches ferrosip as the unit wrote it. It also waits (3 s at
//!   most) for the previous run's process of the same pid file to be gone;
//! - `sipsak -M` runs a stand-in ([`SIPSAK_M`]): Debian's sipsak 0.9.8.1 crashes in message mode.
//! - what a unit leaves running (a failed step exits before its `kill`) is found by its pid-file
//!   directory on the command line and stopped by pid.
//!
//! Which units: those issue #7 names (tcfgxx0001 up to its first MySQL step, tcfgxx0002,
//! tcfgxx0003, tulocx0001, tregxx0001, tpvxxx0001, tsiput0001) and issue #8's tauthx0001, which
//! needs the MariaDB server `.ci/run` starts (`MYSQL_UNIX_PORT`, root without a password, as
//! crates/db/scripts/test-servers.sh sets it up): the test makes the unit's database `kamailio`
//! and its user `kamailio`, creates the schema with `ferrosip-ctl db create`, and passes
//! `ferrosip-ctl` as `KAMCTL` (`add`, `db show`).

#[path = "wire_harness.rs"]
mod harness;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use harness::{ci, ferrosip_bin, have};

/// `$FERROSIP_KTESTS`, else the scratch checkout.
fn suite_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("FERROSIP_KTESTS") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("scratch/kamailio-tests");
    p.join("units").is_dir().then_some(p)
}

/// The config Kamailio would read without `-f` (see the crate doc).
fn default_cfg() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("FERROSIP_STOCK60_CFG").map(PathBuf::from),
        Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("scratch/stock/kamailio-6.0.cfg")),
        Some(PathBuf::from("/etc/kamailio/kamailio.cfg")),
    ];
    candidates.into_iter().flatten().find(|p| p.is_file())
}

/// Network namespaces need root (CI runs as root).
fn can_unshare() -> bool {
    have("unshare")
        && Command::new("unshare")
            .args(["-n", "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
}

/// What one unit printed and how it ended; `None` when the unit could not be run here (skipped).
struct UnitRun {
    code: Option<i32>,
    output: String,
}

fn run_unit(unit: &str) -> Option<UnitRun> {
    run_unit_env(unit, &[])
}

fn run_unit_env(unit: &str, env: &[(&str, String)]) -> Option<UnitRun> {
    let Some(suite) = suite_dir() else {
        eprintln!(
            "kamailio-tests not found (scratch/kamailio-tests or $FERROSIP_KTESTS): {unit} skipped; \
             scripts/fetch-kamailio-tests.sh fetches it"
        );
        return None;
    };
    if !have("sipsak") || !can_unshare() {
        assert!(!ci(), "CI: sipsak and unshare (as root) are required");
        eprintln!("sipsak or unshare -n missing: {unit} skipped");
        return None;
    }
    let cfg = default_cfg().expect("no default config: neither the 6.0 stock file nor Debian's");

    let work = std::env::temp_dir().join(format!("ferrosip-kt-{}-{unit}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("units")).expect("work dir");
    for part in ["etc", "libs"] {
        copy_dir(&suite.join(part), &work.join(part));
    }
    copy_dir(
        &suite.join("units").join(unit),
        &work.join("units").join(unit),
    );
    let run = work.join("run");
    std::fs::create_dir_all(&run).expect("run dir");

    let kambin = work.join("kambin");
    std::fs::write(
        &kambin,
        kambin_wrapper(ferrosip_bin(), &cfg.display().to_string()),
    )
    .expect("write KAMBIN wrapper");
    make_executable(&kambin);
    // sipsak's message mode, which Debian's sipsak crashes in (see SIPSAK_M), comes first on PATH.
    let bin = work.join("bin");
    std::fs::create_dir_all(&bin).expect("bin dir");
    std::fs::write(bin.join("sipsak"), SIPSAK_M).expect("write the sipsak stand-in");
    make_executable(&bin.join("sipsak"));
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into())
    );

    let out = Command::new("timeout")
        // A network namespace (private port 5060) and a PID namespace whose first process is
        // the unit's bash: it reaps the stopped daemons at once (see the crate doc).
        .args(["180", "unshare", "-n", "-p", "-f", "sh", "-c"])
        .arg(format!(
            "ip link set lo up && cd units/{unit} && exec bash ./{unit}.sh 2>&1"
        ))
        .current_dir(&work)
        .env("KAMBIN", &kambin)
        .env("PATH", &path)
        .env("KAMRUN", &run)
        .env_remove("KAMPID")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .output()
        .expect("run the unit");
    stop_leftovers(&run);
    let output =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let _ = std::fs::remove_dir_all(&work);
    Some(UnitRun {
        code: out.status.code(),
        output,
    })
}

/// `KAMBIN`: ferrosip with the default config added when the unit gives no `-f`, started only once
/// the process of a previous run with the same `-P` pid file is gone. The units stop a server with
/// `kill` and start the next one at once; Kamailio reaches its own pid-file check only after
/// loading its modules, ferrosip much sooner, and both refuse a pid file whose process still
/// runs (the wait is bounded: 3 s).
fn kambin_wrapper(bin: &str, cfg: &str) -> String {
    format!(
        r#"#!/bin/sh
pidfile=; prev=; has_f=
for a in "$@"; do
  [ "$prev" = "-P" ] && pidfile=$a
  case "$a" in -f|-f?*) has_f=1;; esac
  prev=$a
done
if [ -n "$pidfile" ] && [ -f "$pidfile" ]; then
  old=$(cat "$pidfile" 2>/dev/null); i=0
  while [ -n "$old" ] && kill -0 "$old" 2>/dev/null && [ $i -lt 300 ]; do sleep 0.01; i=$((i+1)); done
fi
[ -n "$has_f" ] && exec {bin} "$@"
exec {bin} -f {cfg} "$@"
"#
    )
}

/// A stand-in for `sipsak -M` (message mode): Debian 12's sipsak 0.9.8.1 crashes there on every
/// run (a write through a NULL buffer; Kamailio fails the units the same way), while the units
/// only need the MESSAGE sent to the `-s` URI and its answer printed. Sent with bash's `/dev/udp`
/// (no other tool needed); every other sipsak mode runs the real sipsak.
const SIPSAK_M: &str = r#"#!/bin/bash
case " $* " in *" -M "*) ;; *) exec /usr/bin/sipsak "$@";; esac
uri=; prev=
for a in "$@"; do [ "$prev" = "-s" ] && uri=$a; prev=$a; done
hp=${uri#sip:}; hp=${hp#*@}; hp=${hp%%;*}; host=$hp; port=5060
case "$hp" in *:*) host=${hp%:*}; port=${hp##*:};; esac
exec 3<>"/dev/udp/$host/$port" || exit 2
n=$RANDOM$RANDOM
body="sipsak message mode stand-in"
# Built first and written with one write(2) (dd): each write on /dev/udp is a datagram, and bash's
# printf writes line by line.
printf -v msg 'MESSAGE %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK.%s;rport\r\nFrom: <sip:sipsak@127.0.0.1>;tag=%s\r\nTo: <%s>\r\nCall-ID: %s@127.0.0.1\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s' \
  "$uri" "$n" "$n" "$uri" "$n" "${#body}" "$body"
tmp=$(mktemp)
printf '%s' "$msg" > "$tmp"
dd if="$tmp" bs=65536 count=1 status=none >&3
rm -f "$tmp"
timeout 2 head -n 1 <&3
exit 0
"#;

fn copy_dir(from: &Path, to: &Path) {
    let st = Command::new("cp")
        .arg("-r")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success(), "copy {} → {}", from.display(), to.display());
}

fn make_executable(p: &Path) {
    use std::os::unix::fs::PermissionsExt as _;
    let mut perm = std::fs::metadata(p).expect("stat").permissions();
    perm.set_mode(0o755);
    std::fs::set_permissions(p, perm).expect("chmod");
}

/// Stops, by pid, any server still running with this unit's pid-file directory in its arguments.
fn stop_leftovers(run: &Path) {
    let Ok(out) = Command::new("pgrep")
        .args(["-f", &run.display().to_string()])
        .output()
    else {
        return;
    };
    for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
        // pgrep prints positive pids only; anything else is skipped (`kill 0` would signal our
        // own process group).
        if let Ok(pid @ 1..) = pid.parse::<i32>() {
            harness::signal(pid, "KILL");
        }
    }
}

fn assert_passes(unit: &str) {
    let Some(r) = run_unit(unit) else { return };
    assert_eq!(
        r.code,
        Some(0),
        "kamailio-tests unit {unit} failed on ferrosip; its output:\n{}",
        r.output
    );
}

#[test]
fn tcfgxx0001_default_config_steps_before_mysql() {
    // The unit starts the stock config with more and more defines; from the fourth step on they
    // include WITH_MYSQL, which needs a MySQL server holding Kamailio's schema (issue #8). The
    // first three steps (`-c`, a plain start, `-A WITH_DEBUG`) must pass: the unit reaches the
    // fourth step only when they did, as it exits at the first failure.
    let Some(r) = run_unit("tcfgxx0001") else {
        return;
    };
    let mysql_step = "--- start with default config and main -A options";
    assert!(
        r.code == Some(0) || r.output.contains(mysql_step),
        "tcfgxx0001 failed before its MySQL steps; its output:\n{}",
        r.output
    );
}

#[test]
fn tcfgxx0002_sipsak_keepalive() {
    assert_passes("tcfgxx0002");
}

#[test]
fn tcfgxx0003_unbalanced_preprocessor_directives() {
    assert_passes("tcfgxx0003");
}

#[test]
fn tulocx0001_sipsak_usrloc_mode() {
    assert_passes("tulocx0001");
}

#[test]
fn tregxx0001_registrar_xavp_rcd() {
    assert_passes("tregxx0001");
}

#[test]
fn tpvxxx0001_xavi() {
    assert_passes("tpvxxx0001");
}

#[test]
fn tsiput0001_siputils_checks() {
    assert_passes("tsiput0001");
}

#[test]
fn tauthx0001_digest_auth_on_mysql() {
    // The unit's config reaches MySQL as mysql://kamailio:kamailiorw@localhost/kamailio: "localhost"
    // is the server's unix socket, as for libmysqlclient.
    let Ok(sock) = std::env::var("MYSQL_UNIX_PORT") else {
        assert!(
            !ci(),
            "CI: MYSQL_UNIX_PORT must be set (.ci/run starts MariaDB)"
        );
        eprintln!(
            "MYSQL_UNIX_PORT not set: tauthx0001 skipped (crates/db/scripts/test-servers.sh)"
        );
        return;
    };
    if suite_dir().is_none() {
        eprintln!("kamailio-tests not found: tauthx0001 skipped");
        return;
    }
    let sql = "DROP DATABASE IF EXISTS kamailio; CREATE DATABASE kamailio; \
               CREATE USER IF NOT EXISTS 'kamailio'@'localhost' IDENTIFIED BY 'kamailiorw'; \
               GRANT ALL ON kamailio.* TO 'kamailio'@'localhost';";
    let st = Command::new("mariadb")
        .args(["--socket", &sock, "-u", "root", "-e", sql])
        .status()
        .expect("mariadb client");
    assert!(st.success(), "could not create the database kamailio");
    // `cargo test --workspace` builds ferrosip-ctl next to ferrosip.
    let ctl = Path::new(ferrosip_bin()).with_file_name("ferrosip-ctl");
    if !ctl.exists() {
        assert!(!ci(), "CI: {} not built", ctl.display());
        eprintln!("{} not built: tauthx0001 skipped", ctl.display());
        return;
    }
    let url = "mysql://kamailio:kamailiorw@localhost/kamailio";
    let o = Command::new(&ctl)
        .args(["-d", url, "db", "create"])
        .output()
        .expect("ferrosip-ctl");
    assert!(o.status.success(), "db create: {o:?}");
    let Some(r) = run_unit_env(
        "tauthx0001",
        &[
            ("KAMCTL", ctl.display().to_string()),
            ("DBURL", url.to_string()),
        ],
    ) else {
        return;
    };
    assert_eq!(
        r.code,
        Some(0),
        "kamailio-tests unit tauthx0001 failed on ferrosip; its output:\n{}",
        r.output
    );
}
