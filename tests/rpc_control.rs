//! The RPC interface of the stock config, end to end: ferrosip and Kamailio 5.6.3 run the same
//! config (ctl, jsonrpcs, kex, sl, usrloc, registrar, counters, cfg_rpc, xlog, custom cfg
//! parameters) and Debian's `kamcmd` asks both the same things after the same SIP traffic:
//! `stats.*` (kex), `cnt.*` (counters), `cfg.*` (cfg_rpc), `core.*` (core). Outputs that must
//! agree are compared after replacing the servers' ports, pids and times; `cfg.set_now_int core
//! debug 3` must make an `xlog("L_DBG", …)` line appear in both logs.
//!
//! Known, documented differences (docs/control.md) are asserted on ferrosip alone: the version
//! string, `core.shmmem` values (process memory), `core.ps` thread list, `cfg.help` (6.0 shape).
//! Custom cfg parameters set over RPC reach the script on both. Skipped without kamcmd/kamailio unless `CI` is set.

#[path = "wire_harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::*;

const KAMCMD: &str = "/usr/sbin/kamcmd";

fn config(port: u16, run: &Path, kamailio: bool) -> String {
    let r = run.to_string_lossy();
    let mpath = if kamailio {
        "mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"\n"
    } else {
        ""
    };
    format!(
        r#"#!KAMAILIO
#!define FOO 1
#!define BAR "bar value"
debug=1
log_stderror=yes
children=2
listen=udp:127.0.0.1:{port}
alias="example.com"
{mpath}loadmodule "jsonrpcs.so"
loadmodule "ctl.so"
loadmodule "kex.so"
loadmodule "sl.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "counters.so"
loadmodule "cfg_rpc.so"
loadmodule "pv.so"
loadmodule "xlog.so"
modparam("jsonrpcs", "fifo_name", "{r}/kamailio_rpc.fifo")
modparam("jsonrpcs", "dgram_socket", "{r}/kamailio_rpc.sock")
modparam("ctl", "binrpc", "unix:{r}/kamailio_ctl")
modparam("counters", "script_counter", "foo")
modparam("counters", "script_cnt_grp_name", "mygrp")
modparam("counters", "script_counter", "bar: bar counter")
modparam("counters", "script_counter", "other.baz the baz counter")
pstn.gw_ip = "1.2.3.4" desc "My PSTN GW Address"
pstn.gwport = 5060 desc "the port"
request_route {{
    cnt_inc("script.foo");
    cnt_add("bar", "5");
    $var(n) = 7;
    cnt_add("other.baz", "$var(n)");
    if ($rU == "reset") {{ cnt_reset("bar"); }}
    xlog("L_DBG", "dbg-line $rU\n");
    xlog("L_NOTICE", "defines [$def(FOO)] [$def(BAR)] [$def(MOD_sl)] [$def(NOPE)]\n");
    sl_send_reply("404", "Not Here $sel(cfg_get.pstn.gw_ip):$sel(cfg_get.pstn.gwport)");
}}
event_route[core:pre-routing] {{
    if ($ci =~ "^prdrop") {{ drop; }}
}}
"#
    )
}

fn kamcmd(sock: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("10")
        .arg(KAMCMD)
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run kamcmd: {e}"));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

fn request(user: &str, port: u16) -> String {
    format!(
        "OPTIONS sip:{user}@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-{user}-1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: rpc-{user}\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// One server with its ctl socket.
struct Running {
    server: Server,
    sock: String,
    port: u16,
    run: std::path::PathBuf,
}

fn launch(bin: &str, name: &str, kamailio: bool) -> Running {
    let port = free_port();
    let dir = scratch(name);
    let run = dir.join("run");
    let _ = std::fs::create_dir_all(&run);
    let cfg = config(port, &run, kamailio);
    let addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], port));
    let server = start(bin, name, &cfg, &[addr]);
    let sock = format!("unix:{}/kamailio_ctl", run.to_string_lossy());
    let t0 = Instant::now();
    while !kamcmd(&sock, &["core.uptime"]).contains("uptime") {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "{name}: ctl does not answer: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Running {
        server,
        sock,
        port,
        run,
    }
}

impl Running {
    fn send(&self, user: &str) {
        let to = SocketAddr::from(([127, 0, 0, 1], self.port));
        let got = udp_exchange(
            to,
            request(user, self.port).as_bytes(),
            Duration::from_secs(2),
        );
        assert!(
            got.iter().any(|r| r.starts_with("SIP/2.0 404")),
            "no 404 for {user}: {got:?}"
        );
    }

    /// kamcmd output with this server's port replaced by `PORT`.
    fn ask(&self, args: &[&str]) -> String {
        kamcmd(&self.sock, args).replace(&self.port.to_string(), "PORT")
    }

    /// Debian's `kamctl rpc …` against this server's jsonrpcs FIFO (`RPCFIFOPATH`), with the
    /// request id kamctl draws and the port replaced.
    fn kamctl(&self, args: &[&str]) -> String {
        let out = Command::new("timeout")
            .args(["10", "kamctl", "rpc"])
            .args(args)
            .env("RPCFIFOPATH", self.run.join("kamailio_rpc.fifo"))
            .output()
            .unwrap_or_else(|e| panic!("run kamctl: {e}"));
        let text = String::from_utf8_lossy(&out.stdout).replace(&self.port.to_string(), "PORT");
        text.lines()
            .map(|l| match l.trim_start().strip_prefix("\"id\":") {
                Some(_) => "  \"id\": ID",
                None => l,
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    /// A JSON-RPC request over jsonrpcs' datagram socket (what `kamctl rpc` and kamcli send);
    /// the reply document as text. kamcmd's type prefixes are honoured: `s:` string, digits int.
    fn json(&self, args: &[&str]) -> String {
        let (method, params) = args.split_first().map_or(("", &[][..]), |(m, p)| (*m, p));
        let params: Vec<String> = params
            .iter()
            .map(|p| match p.strip_prefix("s:") {
                Some(s) => format!("\"{s}\""),
                None if p.parse::<i64>().is_ok() => p.to_string(),
                None => format!("\"{p}\""),
            })
            .collect();
        let req = format!(
            "{{\"jsonrpc\": \"2.0\", \"method\": \"{method}\", \"params\": [{}], \"id\": 1}}",
            params.join(", ")
        );
        self.json_doc(&req)
    }

    /// The reply to the JSON-RPC document `req` over jsonrpcs' datagram socket.
    fn json_doc(&self, req: &str) -> String {
        let run = self.server.dir.join("run");
        let me = run.join(format!("client-{}.sock", std::process::id()));
        let _ = std::fs::remove_file(&me);
        let sock = std::os::unix::net::UnixDatagram::bind(&me)
            .unwrap_or_else(|e| panic!("bind {}: {e}", me.display()));
        let _ = sock.set_read_timeout(Some(Duration::from_secs(5)));
        sock.send_to(req.as_bytes(), run.join("kamailio_rpc.sock"))
            .unwrap_or_else(|e| panic!("send to jsonrpcs: {e}"));
        let mut buf = vec![0u8; 65536];
        let n = sock.recv(&mut buf).unwrap_or(0);
        let _ = std::fs::remove_file(&me);
        String::from_utf8_lossy(buf.get(..n).unwrap_or_default())
            .replace(&self.port.to_string(), "PORT")
    }
}

/// The commands whose output must be identical on both servers, in order (later ones see the
/// effects of earlier ones).
const SAME: &[&[&str]] = &[
    &["stats.get_statistics", "rcv_requests", "fwd_requests"],
    &["stats.get_statistics", "usrloc:"],
    &["sl.stats"],
    &["stats.get_statistics", "nosuch", "nosuch:"],
    &["stats.get_statistics"],
    &[
        "stats.fetch",
        "rcv_requests",
        "usrloc:",
        "core.fwd_requests",
    ],
    &["stats.fetchn", "rcv_requests", "usrloc.registered_users"],
    &["stats.clear_statistics", "rcv_requests"],
    &["stats.clear_statistics", "rcv_requests"],
    &["stats.reset_statistics", "usrloc:"],
    &["stats.get_statistics", "rcv_requests", "registered_users"],
    &["stats.get_statistics", "mygrp:", "script:", "other:"],
    &["cnt.get", "script", "foo"],
    &["cnt.get", "mygrp", "bar"],
    &["cnt.get", "mygrp"],
    &["cnt.get_raw", "other", "baz"],
    &["cnt.get", "nosuch", "x"],
    &["cnt.var_list", "mygrp"],
    &["cnt.var_list", "nosuch"],
    &["cnt.grp_get_all", "other"],
    &["cnt.help", "mygrp", "bar"],
    &["cnt.help", "script", "foo"],
    &["cnt.help", "other", "baz"],
    &["cnt.reset", "script", "foo"],
    &["cnt.get", "script", "foo"],
    &["cnt.get"],
    &["cfg.get", "core", "debug"],
    &["cfg.get", "pstn", "gw_ip"],
    &["cfg.get", "pstn", "gwport"],
    &["cfg.get", "pstn"],
    &["cfg.get", "pstn", "nosuch"],
    &["cfg.help", "nosuch", "x"],
    &["cfg.set_now_int", "core", "debug", "3"],
    &["cfg.get", "core", "debug"],
    &["cfg.set_now_int", "core", "debug", "s:x"],
    &["cfg.set_now_string", "core", "debug", "2"],
    &["cfg.set_now_string", "core", "debug", "abc"],
    &["cfg.set_delayed_string", "core", "debug", "abc"],
    &["cfg.set_delayed_int", "core", "debug", "2"],
    &["cfg.diff"],
    &["cfg.rollback"],
    &["cfg.diff"],
    &["cfg.get", "core", "debug"],
    // The config's custom variables are writable, with the cfg framework's conversions.
    &["cfg.set_now_string", "pstn", "gw_ip", "5.6.7.8"],
    &["cfg.set_now_int", "pstn", "gwport", "5070"],
    &["cfg.get", "pstn"],
    &["cfg.set_now_int", "pstn", "gw_ip", "7"],
    &["cfg.get", "pstn", "gw_ip"],
    &["cfg.set_now_string", "pstn", "gwport", "abc"],
    &["cfg.set", "pstn", "gw_ip", "s:5.6.7.8"],
    &["cfg.set_delayed_int", "pstn", "gwport", "5090"],
    &["cfg.diff"],
    &["cfg.commit"],
    &["cfg.get", "pstn"],
    &["core.printi", "1", "2"],
    &["core.prints", "a", "b"],
    &["core.echo", "a", "1", "s:b"],
    &["core.aliases_list"],
];

#[test]
fn kamcmd_sees_the_same_statistics_counters_and_cfg_on_both_servers() {
    let kam = match kamailio_bin() {
        Some(k) if Path::new(KAMCMD).exists() => k,
        _ => {
            assert!(!ci(), "kamailio and kamcmd are required when CI is set");
            eprintln!("skipped: kamailio/kamcmd not installed");
            return;
        }
    };
    let mut servers = [
        launch(ferrosip_bin(), "rpc-ferrosip", false),
        launch(kam, "rpc-kamailio", true),
    ];
    for s in &servers {
        for u in ["alice", "bob", "reset"] {
            s.send(u);
        }
        let log = s.server.log_text();
        assert!(!log.contains("dbg-line"), "debug=1 hides L_DBG: {log}");
    }
    let mut diffs = Vec::new();
    for cmd in SAME {
        let [ours, theirs] = [&servers[0], &servers[1]].map(|s| s.ask(cmd));
        if ours != theirs {
            diffs.push(format!(
                "kamcmd {}:\n--- ferrosip\n{ours}--- kamailio\n{theirs}",
                cmd.join(" ")
            ));
        }
    }
    // The same questions as JSON-RPC documents (read-only ones: the state is the same now).
    // Not `cnt.get` without parameters: Kamailio's JSON-RPC scan failure is an empty result,
    // its BINRPC one a fault; ferrosip's handlers cannot tell the transports apart.
    for cmd in SAME.iter().filter(|c| c.len() > 1).filter(|c| {
        c.first().is_some_and(|m| {
            m.starts_with("stats.get")
                || m.starts_with("stats.fetch")
                || m.starts_with("cnt.get")
                || *m == "cfg.get"
                || m.starts_with("core.print")
                || *m == "core.echo"
        })
    }) {
        let [ours, theirs] = [&servers[0], &servers[1]].map(|s| s.json(cmd));
        if ours != theirs || ours.is_empty() {
            diffs.push(format!(
                "JSON-RPC {}:\n--- ferrosip\n{ours}\n--- kamailio\n{theirs}",
                cmd.join(" ")
            ));
        }
    }
    // Parameters kamcmd cannot send: structs, arrays, null, negative and fractional numbers.
    // `core.echo` converts numbers and stops at the first other value; `core.prints` stops at
    // the first non-string; object params are read in member order.
    for doc in [
        r#"{"jsonrpc": "2.0", "method": "core.echo", "params": ["a", {"x": 1}, "b"], "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "core.echo", "params": [{"a": 1, "b": "x"}, "s"], "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "core.echo", "params": [-3, 1.5, "x", null, "y"], "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "core.echo", "params": [2.9, "y", [1], "z"], "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "core.echo", "params": {"a": "b", "c": 2}, "id": 1}"#,
        r#"{"jsonrpc": "2.0", "method": "core.prints", "params": ["q", 5, "z"], "id": 1}"#,
    ] {
        let [ours, theirs] = [&servers[0], &servers[1]].map(|s| s.json_doc(doc));
        if ours != theirs || !ours.contains("\"result\"") {
            diffs.push(format!(
                "JSON-RPC {doc}:\n--- ferrosip\n{ours}\n--- kamailio\n{theirs}"
            ));
        }
    }
    // Debian's `kamctl rpc` (jsonrpcs over the FIFO) asks both the same (issue #7).
    if have("kamctl") {
        for cmd in [
            &["stats.get_statistics", "rcv_requests", "registered_users"][..],
            &["stats.get_statistics", "mygrp:", "script:"],
            &["cfg.get", "pstn", "gw_ip"],
        ] {
            let [ours, theirs] = [&servers[0], &servers[1]].map(|s| s.kamctl(cmd));
            if ours != theirs || !ours.contains("\"result\"") {
                diffs.push(format!(
                    "kamctl rpc {}:\n--- ferrosip\n{ours}\n--- kamailio\n{theirs}",
                    cmd.join(" ")
                ));
            }
        }
    } else {
        assert!(!ci(), "CI: kamctl (package kamailio) is required");
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));

    // debug=3 set over RPC reaches the log at once, on both servers.
    for s in &servers {
        s.send("after");
        let t0 = Instant::now();
        while !s.server.log_text().contains("dbg-line after") {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "L_DBG line missing after cfg.set_now_int core debug 3: {}",
                s.server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    // The script reads the custom variables as set over RPC, on both servers; on ferrosip
    // `cfg.reset pstn` brings the config's values back (Kamailio 5.6.3's ctl process dies of a
    // SIGSEGV on `cfg.reset` of a custom group, taking the server down).
    let reason = |s: &Running| {
        let to = SocketAddr::from(([127, 0, 0, 1], s.port));
        let got = udp_exchange(
            to,
            request("cfgread", s.port).as_bytes(),
            Duration::from_secs(2),
        );
        got.first()
            .and_then(|r| r.lines().next())
            .unwrap_or_default()
            .to_string()
    };
    for s in &servers {
        assert_eq!(reason(s), "SIP/2.0 404 Not Here 5.6.7.8:5090");
    }
    assert_eq!(servers[0].ask(&["cfg.reset", "pstn"]), "");
    assert_eq!(reason(&servers[0]), "SIP/2.0 404 Not Here 1.2.3.4:5060");

    // Shapes both share, values ours.
    for s in &servers {
        let up = s.ask(&["core.uptime"]);
        for key in ["now: ", "up_since: ", "uptime: "] {
            assert!(up.contains(key), "{up}");
        }
        let ps = s.ask(&["core.psx"]);
        for want in [
            "DSC: main process - attendant",
            "DSC: udp receiver child=0 sock=127.0.0.1:PORT",
            "DSC: udp receiver child=1 sock=127.0.0.1:PORT",
            "DSC: ctl handler",
            "DSC: JSONRPCS DATAGRAM",
            "DSC: timer",
        ] {
            assert!(ps.contains(want), "{want} in {ps}");
        }
        let mem = s.ask(&["core.shmmem", "k"]);
        for key in [
            "total",
            "free",
            "used",
            "real_used",
            "max_used",
            "fragments",
        ] {
            assert!(mem.contains(&format!("\t{key}: ")), "{key} in {mem}");
        }
    }
    let ours = &servers[0];
    assert_eq!(
        ours.ask(&["core.version"]),
        format!(
            "ferrosip {} ({}/{})\n",
            env!("CARGO_PKG_VERSION"),
            std::env::consts::ARCH,
            std::env::consts::OS
        )
    );
    // Our process memory is what /proc says of the server process.
    let rss_kib = ours.server.rss_kib();
    let mem = ours.ask(&["core.shmmem", "k"]);
    let used: u64 = mem
        .lines()
        .find_map(|l| l.trim().strip_prefix("used: "))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        used > 0 && used.abs_diff(rss_kib) < rss_kib / 2 + 1024,
        "used {used} KiB vs VmRSS {rss_kib} KiB"
    );
    assert_eq!(
        ours.ask(&["cfg.help", "pstn", "gw_ip"]),
        "{\n\tdesc: My PSTN GW Address\n\ttype: string\n}\n"
    );
    assert_eq!(
        ours.ask(&["core.sockets_list"]),
        "{\n\tsocket: {\n\t\taf: ipv4\n\t\tproto: udp\n\t\taddress: 127.0.0.1\n\t\tport: PORT\n\t\tagname: none\n\t\tmcast: no\n\t\tmhomed: no\n\t\tvirtual: no\n\t}\n}\n"
    );
    assert_eq!(
        ours.ask(&["core.tcp_info"]),
        "error: 500 - tcp support disabled\n",
        "no TCP socket in this config"
    );
    let listed = ours.ask(&["system.listMethods"]);
    for m in [
        "core.psx",
        "stats.fetchn",
        "cnt.grp_get_all",
        "cfg.set_delayed_int",
    ] {
        assert!(listed.lines().any(|l| l == m), "{m} in {listed}");
    }
    for s in &mut servers {
        s.server.stop();
    }
}

/// `cnt_inc`/`cnt_add`/`cnt_reset` naming an undeclared counter stop the server at start, on both
/// servers, with Kamailio's words; the group named by `script_cnt_grp_name` applies to the
/// counters declared after it only.
/// The run-information commands: loaded modules (newest first), the preprocessor's defines (the
/// config's and `MOD_<name>`, in definition order; the predefined version names differ: ferrosip
/// predefines 6.0's), the working directory and the command line; `$def()` sees `#!define` lines.
#[test]
fn core_run_information_matches_kamailio() {
    let kam = match kamailio_bin() {
        Some(k) if Path::new(KAMCMD).exists() => k,
        _ => {
            assert!(!ci(), "kamailio and kamcmd are required when CI is set");
            eprintln!("skipped: kamailio/kamcmd not installed");
            return;
        }
    };
    let servers = [
        launch(ferrosip_bin(), "rpcinfo-ferrosip", false),
        launch(kam, "rpcinfo-kamailio", true),
    ];
    let ours_first = |cmd: &[&str]| servers.each_ref().map(|s| s.ask(cmd));
    let [ours, theirs] = ours_first(&["core.modules"]);
    assert_eq!(ours, theirs, "core.modules");
    assert!(ours.starts_with("xlog\npv\n"), "{ours}");
    // Kamailio's own names (KAMAILIO_5…, and 6.0's KAMAILIO_VERSION/OS_NAME) come first.
    let own = |t: &str| t.starts_with("KAMAILIO") || t.starts_with("OS_NAME");
    let [ours, theirs] = ours_first(&["core.ppdefines"]).map(|t| {
        t.lines()
            .filter(|l| !own(l))
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    assert_eq!(ours, theirs, "core.ppdefines");
    assert_eq!(ours.first().map(String::as_str), Some("FOO"), "{ours:?}");
    let [ours, theirs] = ours_first(&["core.ppdefines_full"]).map(|t| {
        t.split("}\n")
            .filter(|b| {
                !b.lines()
                    .any(|l| l.trim().strip_prefix("name: ").is_some_and(own))
            })
            .map(str::to_string)
            .collect::<Vec<_>>()
    });
    assert_eq!(ours, theirs, "core.ppdefines_full");
    assert!(
        ours.iter().any(|b| b.contains("value: \"bar value\"")),
        "{ours:?}"
    );
    for s in &servers {
        assert_eq!(
            s.ask(&["core.pwd"]).trim_end(),
            s.server.dir.to_string_lossy(),
            "core.pwd"
        );
    }
    // The command line: Kamailio's has the memory options the harness adds for it.
    let [ours, theirs] = servers.each_ref().map(|s| {
        let dir = s.server.dir.to_string_lossy().into_owned();
        s.ask(&["core.arg"])
            .lines()
            .skip(1)
            .map(|a| a.replace(&dir, "DIR"))
            .collect::<Vec<_>>()
    });
    let theirs: Vec<String> = theirs
        .chunks(2)
        .filter(|p| !matches!(p[0].as_str(), "-m" | "-M"))
        .flatten()
        .cloned()
        .collect();
    assert_eq!(ours, theirs, "core.arg");
    assert!(ours.iter().any(|a| a == "-DD"), "{ours:?}");
    for s in &servers {
        s.send("defs");
    }
    let line = |s: &Running| {
        s.server
            .log_text()
            .lines()
            .find_map(|l| l.find("defines [").map(|i| l[i..].to_string()))
            .unwrap_or_default()
    };
    let [ours, theirs] = servers.each_ref().map(line);
    assert_eq!(ours, theirs, "$def() of #!define lines");
    assert!(ours.starts_with("defines [1] ["), "{ours}");
    let info = servers[0].ask(&["core.runinfo"]);
    assert!(
        info.contains("name: ferrosip") && info.contains("uptime_secs:"),
        "{info}"
    );
}

#[test]
fn undeclared_counters_are_refused_at_start() {
    let kam = kamailio_bin();
    if kam.is_none() {
        assert!(!ci(), "kamailio is required when CI is set");
    }
    // (function call, refused)
    let cases = [
        ("cnt_inc(\"foo\")", true), // declared as script.foo, before the group changed
        ("cnt_inc(\"script.foo\")", false),
        ("cnt_add(\"bar\", \"1\")", false), // mygrp.bar
        ("cnt_reset(\"script.bar\")", true),
        ("cnt_reset(\"nosuch.x\")", true),
    ];
    for (call, refused) in cases {
        let mut bins = vec![(ferrosip_bin(), "")];
        if let Some(k) = kam {
            bins.push((k, "mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"\n"));
        }
        for (bin, mpath) in bins {
            let dir = scratch(&format!("cnt-refused-{}", call.len()));
            let port = free_port();
            let cfg = format!(
                "#!KAMAILIO\nlisten=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\n{mpath}\
                 loadmodule \"sl.so\"\nloadmodule \"counters.so\"\n\
                 modparam(\"counters\", \"script_counter\", \"foo\")\n\
                 modparam(\"counters\", \"script_cnt_grp_name\", \"mygrp\")\n\
                 modparam(\"counters\", \"script_counter\", \"bar\")\n\
                 request_route {{ {call}; sl_send_reply(\"404\", \"x\"); }}\n"
            );
            let path = dir.join("c.cfg");
            std::fs::write(&path, cfg).unwrap_or_else(|e| panic!("write: {e}"));
            // Its own process group, so Kamailio's workers go too when it is stopped below.
            let mut child = std::os::unix::process::CommandExt::process_group(
                Command::new(bin)
                    .arg("-f")
                    .arg(&path)
                    .args(["-DD", "-E", "-Y"])
                    .arg(&dir)
                    .args(["-m", "64"].iter().filter(|_| bin.contains("kamailio")))
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::piped()),
                0,
            )
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
            let t0 = Instant::now();
            let exited = loop {
                if let Ok(Some(st)) = child.try_wait() {
                    break Some(st);
                }
                if t0.elapsed() > Duration::from_secs(3) {
                    break None;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            if exited.is_none() {
                let _ = Command::new("kill")
                    .args(["-TERM", "--", &format!("-{}", child.id())])
                    .status();
            }
            let out = child
                .wait_with_output()
                .map(|o| String::from_utf8_lossy(&o.stderr).into_owned())
                .unwrap_or_default();
            assert_eq!(
                exited.is_some_and(|s| !s.success()),
                refused,
                "{bin}: {call}: {out}"
            );
            if refused {
                assert!(
                    out.contains("does not exist (forgot to define it?)"),
                    "{bin}: {out}"
                );
            }
        }
    }
}

/// The same requests (every method kex counts, an unknown one, KDMQ, an ACK absorbed by sl, one
/// dropped in event_route[core:pre-routing]) and replies (classes, 18x, the 4xx codes with their
/// own counter, CSeq methods with and without per-method counters, one dropped in pre-routing)
/// sent to both servers: `stats.get_statistics core:` must agree, every per-method and
/// per-class counter included (ferrosip's own `too_big` and the 4xx codes Kamailio 6.0 added
/// aside).
#[test]
fn core_statistics_by_method_and_class_match_kamailio() {
    let kam = match kamailio_bin() {
        Some(k) if Path::new(KAMCMD).exists() => k,
        _ => {
            assert!(!ci(), "kamailio and kamcmd are required when CI is set");
            eprintln!("skipped: kamailio/kamcmd not installed");
            return;
        }
    };
    const METHODS: &[&str] = &[
        "INVITE",
        "INVITE",
        "CANCEL",
        "ACK",
        "BYE",
        "INFO",
        "REGISTER",
        "SUBSCRIBE",
        "NOTIFY",
        "MESSAGE",
        "OPTIONS",
        "PRACK",
        "UPDATE",
        "REFER",
        "PUBLISH",
        "FOO",
        "KDMQ",
    ];
    const REPLIES: &[(u16, &str)] = &[
        (100, "INVITE"),
        (180, "INVITE"),
        (183, "INVITE"),
        (200, "REGISTER"),
        (302, "BYE"),
        (401, "REGISTER"),
        (404, "MESSAGE"),
        (407, "INVITE"),
        (480, "INVITE"),
        (486, "INVITE"),
        (403, "CANCEL"),
        (500, "PRACK"),
        (603, "UPDATE"),
        (699, "REFER"),
        (200, "OPTIONS"),
        (202, "FOO"),
        (799, "INVITE"),
    ];
    let mut outputs = Vec::new();
    for (bin, name, kamailio) in [
        (ferrosip_bin(), "core-stats-ferrosip", false),
        (kam, "core-stats-kamailio", true),
    ] {
        let mut s = launch(bin, name, kamailio);
        let me = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
        let my_port = me.local_addr().map_or(0, |a| a.port());
        let _ = me.set_read_timeout(Some(Duration::from_millis(500)));
        let to = SocketAddr::from(([127, 0, 0, 1], s.port));
        let mut buf = vec![0u8; 65535];
        // Dropped in event_route[core:pre-routing]: counted nowhere (Kamailio runs it before
        // kex's counting callbacks).
        let dropped = [
            format!("OPTIONS sip:bob@127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{my_port};rport;branch=z9hG4bK-prd\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: prdrop-q\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n", p = s.port),
            format!("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-prdr\r\nVia: SIP/2.0/UDP 127.0.0.1:{my_port};branch=z9hG4bK-prdr2\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: prdrop-r\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n", p = s.port),
        ];
        for m in &dropped {
            let _ = me.send_to(m.as_bytes(), to);
        }
        let mut invite_tag = String::new();
        for (i, m) in METHODS.iter().enumerate() {
            let req = format!(
                "{m} sip:bob@127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{my_port};rport;branch=z9hG4bK-m{i}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: cs-m{i}\r\nCSeq: 1 {m}\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
                p = s.port
            );
            let _ = me.send_to(req.as_bytes(), to);
            if *m != "ACK" {
                // The 404 (one at a time, so both servers see the same order).
                let n = me.recv_from(&mut buf).map_or(0, |(n, _)| n);
                let text = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
                if i == 0 {
                    invite_tag = text
                        .lines()
                        .find(|l| l.starts_with("To:"))
                        .and_then(|l| l.split_once(";tag="))
                        .map(|(_, t)| t.trim().to_string())
                        .unwrap_or_default();
                }
            }
        }
        // The ACK to the first INVITE's 404: absorbed by sl before kex counts it (kex is loaded
        // before sl), counted as a dropped request.
        assert!(!invite_tag.is_empty(), "{name}: no to-tag on the 404");
        let ack = format!(
            "ACK sip:bob@127.0.0.1:{p} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{my_port};rport;branch=z9hG4bK-m0\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag={invite_tag}\r\nCall-ID: cs-m0\r\nCSeq: 1 ACK\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            p = s.port
        );
        let _ = me.send_to(ack.as_bytes(), to);
        for (code, m) in REPLIES {
            let rpl = format!(
                "SIP/2.0 {code} Some Reason\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-gone{code}\r\nVia: SIP/2.0/UDP 127.0.0.1:{my_port};branch=z9hG4bK-r{code}\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:bob@127.0.0.1>;tag=2\r\nCall-ID: cs-r{code}-{m}\r\nCSeq: 1 {m}\r\nContent-Length: 0\r\n\r\n",
                p = s.port
            );
            let _ = me.send_to(rpl.as_bytes(), to);
            // Relayed to the second Via, which is us.
            let _ = me.recv_from(&mut buf);
        }
        // Every message counted (the totals are the last thing each handler's path reaches).
        let want = format!(
            "core:drop_requests = 1\ncore:rcv_replies = {}\ncore:rcv_requests = {}\nsl:received_ACKs = 1\n",
            REPLIES.len(),
            METHODS.len()
        );
        let totals = [
            "stats.get_statistics",
            "drop_requests",
            "rcv_replies",
            "rcv_requests",
            "received_ACKs",
        ];
        let t0 = Instant::now();
        while s.ask(&totals) != want {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "{name}: {}\n{}",
                s.ask(&totals),
                s.server.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        let core = s.ask(&["stats.get_statistics", "core:"]);
        let lines: Vec<String> = core
            .lines()
            .filter(|l| !l.starts_with("core:too_big ="))
            .map(str::to_string)
            .collect();
        s.server.stop();
        outputs.push(lines);
    }
    let [ours, theirs] = [&outputs[0], &outputs[1]];
    assert_eq!(ours.len(), 108, "{ours:#?}");
    for want in [
        "core:rcv_requests_invite = 2",
        "core:unsupported_methods = 1",
        "core:rcv_replies_18x = 2",
        "core:rcv_replies_403 = 1",
        "core:rcv_replies_4xx_reg = 1",
        "core:rcv_replies_6xx_refer = 1",
    ] {
        assert!(ours.iter().any(|l| l == want), "{want} in {ours:#?}");
    }
    // Kamailio 6.0 counts these 4xx codes too; 5.6.3 only 401, 404, 407, 480 and 486.
    const NEW_IN_60: &[u16] = &[
        400, 402, 403, 405, 406, 408, 409, 410, 411, 413, 414, 415, 420, 481, 482, 483, 484, 485,
        487, 488, 489, 491, 493,
    ];
    let ours: Vec<&String> = ours
        .iter()
        .filter(|l| {
            !NEW_IN_60
                .iter()
                .any(|c| l.starts_with(&format!("core:rcv_replies_{c} =")))
        })
        .collect();
    let diff: Vec<String> = ours
        .iter()
        .zip(theirs.iter())
        .filter(|(a, b)| **a != *b)
        .map(|(a, b)| format!("ferrosip {a} / kamailio {b}"))
        .collect();
    assert!(
        diff.is_empty() && ours.len() == theirs.len(),
        "{}",
        diff.join("\n")
    );
}
