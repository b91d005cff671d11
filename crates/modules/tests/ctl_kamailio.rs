//! Debian's real `kamcmd` and `kamctl rpc` against our ctl/jsonrpcs listeners and against
//! Kamailio 5.6.3 (ctl + jsonrpcs + sl on a private run dir): for the same RPC shapes the printed
//! output must be identical. `core.version` and `core.sockets_list` come from a test module that
//! returns what Kamailio's return for this config (the server will own the real ones); the
//! `system.*` commands, faults and `sl.stats`' help are ours for real.
//!
//! Skipped (with a message) when kamcmd/kamailio are missing, but fails when `CI` is set.

mod ctl_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ctl_support::*;
use ferrosip_api::ModValue;

const KAMCMD: &str = "/usr/sbin/kamcmd";
const KAMCTL: &str = "/usr/sbin/kamctl";
const KAMAILIO: &str = "/usr/sbin/kamailio";

fn tools_present() -> bool {
    let ok = [KAMCMD, KAMCTL, KAMAILIO]
        .iter()
        .all(|p| Path::new(p).exists());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "kamcmd/kamctl/kamailio are required when CI is set"
        );
        eprintln!("skipped: kamcmd/kamctl/kamailio not installed");
    }
    ok
}

struct Kamailio {
    child: Child,
    dir: TmpDir,
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM lets the main process stop its children; then reap it.
        // SAFETY: plain kill(2) on the pid of our own child.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_kamailio(udp: u16, ctl_tcp: u16, ctl_udp: u16) -> Kamailio {
    let dir = TmpDir::new("kam");
    let d = dir.0.to_string_lossy().to_string();
    let cfg = format!(
        r#"#!KAMAILIO
debug=1
log_stderror=yes
children=1
listen=udp:127.0.0.1:{udp}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "jsonrpcs.so"
loadmodule "ctl.so"
loadmodule "sl.so"
modparam("jsonrpcs", "fifo_name", "{d}/kamailio_rpc.fifo")
modparam("jsonrpcs", "dgram_socket", "{d}/kamailio_rpc.sock")
modparam("ctl", "binrpc", "unix:{d}/kamailio_ctl")
modparam("ctl", "binrpc", "tcp:127.0.0.1:{ctl_tcp}")
modparam("ctl", "binrpc", "udp:127.0.0.1:{ctl_udp}")
modparam("ctl", "binrpc", "unixd:{d}/kamailio_ctl_d")
request_route {{ sl_send_reply("404", "x"); }}
"#
    );
    std::fs::write(dir.path("k.cfg"), cfg).expect("cfg");
    let child = Command::new(KAMAILIO)
        .args(["-f", &format!("{d}/k.cfg"), "-D", "-E", "-Y", &d])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start kamailio");
    let k = Kamailio { child, dir };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(10) {
        if kamcmd(&format!("unix:{d}/kamailio_ctl"), &["core.version"]).0 == 0 {
            return k;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("kamailio did not answer on its ctl socket");
}

/// Runs kamcmd; returns (exit code, stdout + stderr).
fn kamcmd(sock: &str, args: &[&str]) -> (i32, String) {
    let out = Command::new(KAMCMD)
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .expect("run kamcmd");
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), s)
}

/// Runs `kamctl rpc` against the FIFO at `fifo`; the `"id"` kamctl picks (its pid) is masked.
fn kamctl(fifo: &Path, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("10")
        .arg(KAMCTL)
        .arg("rpc")
        .args(args)
        .env("RPCFIFOPATH", fifo)
        .output()
        .expect("run kamctl");
    let s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.lines()
        .map(|l| match l.find("\"id\":") {
            Some(i) => format!("{}\"id\": <pid>", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn kamcmd_and_kamctl_print_the_same_for_both_servers() {
    if !tools_present() {
        return;
    }
    let udp = free_udp_port();
    let k_tcp = free_tcp_port();
    let k_udp = free_udp_port();
    let o_udp = free_udp_port();
    let kam = start_kamailio(udp, k_tcp, k_udp);
    let (mut params, _, our_tcp) = default_params(1);
    params.push((
        "ctl",
        "binrpc",
        ModValue::Str(format!("udp:127.0.0.1:{o_udp}")),
    ));
    params.push((
        "ctl",
        "binrpc",
        ModValue::Str("unixd:@DIR@/kamailio_ctl_d".into()),
    ));
    // kamctl creates its reply FIFO in /tmp, Kamailio's default fifo_reply_dir
    params.retain(|(_, n, _)| *n != "fifo_reply_dir");
    let ours = start("kamcmd", udp, &params);
    let kd = kam.dir.0.to_string_lossy().to_string();
    let od = ours.dir.0.to_string_lossy().to_string();

    let commands: [&[&str]; 12] = [
        &["ctl.listen"],
        &["ctl.connections"],
        &["ctl.who"],
        &["core.version"],
        &["core.sockets_list"],
        &["system.methodHelp", "sl.stats"],
        &["system.methodHelp", "system.listMethods"],
        &["system.methodHelp", "system.methodSignature"],
        &["system.methodHelp", "no.such"],
        &["system.methodHelp"],
        &["system.methodSignature", "sl.stats"],
        &["no.such.command"],
    ];
    let mut compared = 0;
    for cmd in commands {
        for (ks, os) in [
            (
                format!("unix:{kd}/kamailio_ctl"),
                format!("unix:{od}/kamailio_ctl"),
            ),
            (
                format!("tcp:127.0.0.1:{k_tcp}"),
                format!("tcp:127.0.0.1:{our_tcp}"),
            ),
            (
                format!("udp:127.0.0.1:{k_udp}"),
                format!("udp:127.0.0.1:{o_udp}"),
            ),
            (
                format!("unixd:{kd}/kamailio_ctl_d"),
                format!("unixd:{od}/kamailio_ctl_d"),
            ),
        ] {
            if cmd == ["ctl.who"] && !ks.starts_with("unix:") {
                continue; // the client's ephemeral port differs; datagrams have no connection
            }
            let (krc, kout) = kamcmd(&ks, cmd);
            assert!(
                !kout.is_empty(),
                "kamcmd {cmd:?} printed nothing against kamailio"
            );
            let (orc, oout) = kamcmd(&os, cmd);
            // socket paths and TCP ports differ between the two servers
            let norm = |s: String, dir: &str, tcp: u16, udp: u16| {
                s.replace(dir, "<DIR>")
                    .replace(&tcp.to_string(), "<TCP>")
                    .replace(&udp.to_string(), "<UDP>")
            };
            assert_eq!(
                (orc, norm(oout, &od, our_tcp, o_udp)),
                (krc, norm(kout, &kd, k_tcp, k_udp)),
                "kamcmd {cmd:?} over {os}"
            );
            compared += 1;
        }
        let want = kamctl(&kam.dir.path("kamailio_rpc.fifo"), cmd);
        let got = kamctl(&ours.dir.path("kamailio_rpc.fifo"), cmd);
        assert!(
            !want.is_empty(),
            "kamctl {cmd:?} printed nothing against kamailio"
        );
        assert_eq!(got, want, "kamctl rpc {cmd:?}");
        compared += 1;
    }
    eprintln!("{compared} outputs compared");

    // system.listMethods: one name per line from both; ours lists exactly the table.
    let (rc, k_list) = kamcmd(&format!("unix:{kd}/kamailio_ctl"), &["system.listMethods"]);
    assert_eq!(rc, 0);
    assert!(k_list
        .lines()
        .all(|l| !l.is_empty() && !l.contains([' ', '{', '\t'])));
    let (rc, o_list) = kamcmd(&format!("unix:{od}/kamailio_ctl"), &["system.listMethods"]);
    assert_eq!(rc, 0);
    let names: Vec<String> = o_list.lines().map(str::to_string).collect();
    assert_eq!(names, ours.table.names());
    for common in [
        "sl.stats",
        "system.listMethods",
        "system.methodHelp",
        "core.version",
    ] {
        assert!(
            k_list.lines().any(|l| l == common),
            "kamailio lists {common}"
        );
        assert!(names.iter().any(|l| l == common), "we list {common}");
    }

    // The nested structure as kamcmd prints it (Kamailio's ctl sends arrays as structs; a
    // one-member struct in an array is the member itself, as Kamailio's `struct_add` on an array
    // handle sends it — usrloc's `AoR: …` lines).
    let (rc, nested) = kamcmd(&format!("unix:{od}/kamailio_ctl"), &["t.nested"]);
    assert_eq!(rc, 0);
    assert_eq!(
        nested,
        "{\n\tname: alpha\n\tcount: 3\n\tratio: 0.500000\n\titems: {\n\t\t-1\n\t\ttwo\n\t\t{\n\t\t\t3\n\t\t\t4\n\t\t}\n\t\tk: v\"q\n\t}\n\tempty: {\n\t}\n}\n"
    );
}
