//! htable's event routes over the wire, side by side with Kamailio 5.6.3: the same config and the
//! same requests on both servers.
//!
//! - `event_route[htable:mod-init]` runs once before the first request is served, after the
//!   database table is loaded (it copies a loaded value into another table), on Kamailio's faked
//!   `OPTIONS sip:you@kamailio.org` request; the items it sets are seen by the first request.
//! - `event_route[htable:expired:a]` runs for each item of the autoexpire table `a` removed by the
//!   timer (items set in mod-init and by a request), with `$shtrecord(key)`/`$shtrecord(value)`;
//!   table `b` expires too but has no route. The route's own writes are read back by a request;
//!   it sees the `$var` mod-init set (Kamailio's timer process is forked after mod-init).
//! - `drop` in mod-init stops the start on both servers.
//!
//! The `HT` lines each server logs are compared (expired lines sorted: both servers sweep in the
//! order of their own hash slots), and so are the reply headers.

#[path = "wire_harness.rs"]
mod harness;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::{Duration, Instant};

use ferrosip_modules::db::ferrosip_db::{schema, Db, Value};
use harness::*;

const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

const CFG: &str = r#"#!KAMAILIO
MPATH
debug=2
log_stderror=yes
children=1
disable_tcp=yes
listen=udp:127.0.0.1:PORT
loadmodule "db_sqlite.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "textops.so"
loadmodule "htable.so"
modparam("htable", "db_url", "DBURL")
modparam("htable", "htable", "d=>size=4;dbtable=htable;")
modparam("htable", "htable", "a=>size=4;autoexpire=4;")
modparam("htable", "htable", "b=>size=4;autoexpire=4;")
modparam("htable", "htable", "c=>size=4;")
modparam("htable", "timer_interval", 1)
event_route[htable:mod-init] {
    xlog("L_NOTICE", "HT mod-init: rm=$rm ru=$ru fu=$fu ci=$ci d=$sht(d=>k1) rec=[$shtrecord(key)][$shtrecord(value)]\n");
    $sht(a=>init) = "from-init";
    $sht(a=>num) = 41;
    $sht(b=>silent) = 1;
    $sht(c=>seen) = $sht(d=>k1);
    $var(p) = 7;
    DROP
}
event_route[htable:expired:a] {
    xlog("L_NOTICE", "HT expired a: key=$shtrecord(key) value=$shtrecord(value) rm=$rm ru=$ru p=$var(p)\n");
    $sht(c=>exp_$shtrecord(key)) = $shtrecord(value);
}
request_route {
    if ($rU == "set") {
        $sht(a=>$fU) = "v-" + $fU;
        $sht(b=>$fU) = 2;
        sl_send_reply("200", "OK");
        exit;
    }
    append_to_reply("X-C: $sht(c=>seen)|$sht(c=>exp_init)|$sht(c=>exp_num)|$sht(c=>exp_alice)|$sht(a=>init)|$sht(b=>silent)|[$shtrecord(key)]\r\n");
    sl_send_reply("200", "OK");
}
"#;

fn request(port: u16, ruser: &str, fuser: &str, n: u32) -> String {
    format!(
        "OPTIONS sip:{ruser}@127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bK-ht-{n}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{fuser}@127.0.0.1>;tag=f{n}\r\n\
To: <sip:{ruser}@127.0.0.1>\r\n\
Call-ID: ht-{n}@127.0.0.1\r\n\
CSeq: {n} OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// The `X-C:` header of the reply (or the status line when there is none).
fn ask(to: SocketAddr, ruser: &str, fuser: &str, n: u32) -> String {
    let answers = udp_exchange(
        to,
        request(to.port(), ruser, fuser, n).as_bytes(),
        Duration::from_millis(700),
    );
    let Some(a) = answers.first() else {
        return "no answer".into();
    };
    a.lines()
        .find(|l| l.starts_with("X-C:"))
        .or_else(|| a.lines().next())
        .unwrap_or("")
        .to_string()
}

/// A SQLite file with Kamailio's htable table and one row.
fn database(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("ht.sqlite").display());
    let db = Db::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    let t: Vec<_> = schema::table("htable").into_iter().collect();
    schema::create(&db, &t).unwrap_or_else(|e| panic!("{e}"));
    db.insert(
        "htable",
        &[
            ("key_name", "k1".into()),
            ("key_type", Value::Int(0)),
            ("value_type", Value::Int(0)),
            ("key_value", "dbval".into()),
            ("expires", Value::Int(0)),
        ],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    url
}

fn config(port: u16, url: &str, kamailio: bool, drop: bool) -> String {
    CFG.replace(
        "MPATH",
        &if kamailio {
            format!("mpath=\"{MPATH}\"")
        } else {
            String::new()
        },
    )
    .replace("PORT", &port.to_string())
    .replace("DBURL", url)
    .replace("DROP", if drop { "drop;" } else { "" })
}

/// The `HT` lines of a log, without what precedes `HT`; expired lines sorted.
fn ht_lines(log: &str) -> Vec<String> {
    let mut init: Vec<String> = Vec::new();
    let mut expired: Vec<String> = Vec::new();
    for l in log.lines() {
        if let Some(i) = l.find("HT ") {
            let t = l[i..].to_string();
            if t.starts_with("HT expired") {
                expired.push(t);
            } else {
                init.push(t);
            }
        }
    }
    expired.sort();
    init.extend(expired);
    init
}

/// Runs the flow on one server: what the requests saw, and the `HT` lines.
fn run(bin: &str, name: &str, kamailio: bool) -> (Vec<String>, Vec<String>) {
    let dir = scratch(name);
    let url = database(&dir);
    let port = free_port();
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    // -w /: Kamailio 5.6 opens sqlite:///abs/path as the relative path "abs/path".
    let extra: &[&str] = if kamailio { &["-w", "/"] } else { &[] };
    let mut s = start_args(
        bin,
        name,
        &config(port, &url, kamailio, false),
        &[to],
        extra,
    );
    let t0 = Instant::now();
    let mut seen = vec![ask(to, "query", "bob", 1)];
    seen.push(ask(to, "set", "alice", 2));
    // Items live 4 s, the timer runs every second: everything is gone after 6 s.
    let mut last = String::new();
    while t0.elapsed() < Duration::from_secs(12) {
        std::thread::sleep(Duration::from_millis(500));
        last = ask(to, "query", "bob", 3);
        if t0.elapsed() > Duration::from_secs(7) && last.contains("v-alice") {
            break;
        }
    }
    seen.push(last);
    s.stop();
    (seen, ht_lines(&s.log_text()))
}

#[test]
fn htable_event_routes_match_kamailio() {
    let (seen, lines) = run(ferrosip_bin(), "ht-events-f", false);
    assert_eq!(
        seen,
        [
            "X-C: dbval|<null>|<null>|<null>|from-init|1|[]",
            "SIP/2.0 200 OK",
            "X-C: dbval|from-init|41|v-alice|<null>|<null>|[]",
        ],
        "{lines:?}"
    );
    assert_eq!(
        lines,
        [
            "HT mod-init: rm=OPTIONS ru=sip:you@kamailio.org fu=sip:you@kamailio.org ci=123 d=dbval rec=[][]",
            "HT expired a: key=alice value=v-alice rm=OPTIONS ru=sip:you@kamailio.org p=7",
            "HT expired a: key=init value=from-init rm=OPTIONS ru=sip:you@kamailio.org p=7",
            "HT expired a: key=num value=41 rm=OPTIONS ru=sip:you@kamailio.org p=7",
        ]
    );
    let Some(k) = kamailio_bin().filter(|_| Path::new(&format!("{MPATH}db_sqlite.so")).exists())
    else {
        assert!(!ci(), "CI: kamailio and its db_sqlite module are required");
        eprintln!("skipped the Kamailio half: kamailio or its db_sqlite.so missing");
        return;
    };
    let (kseen, klines) = run(k, "ht-events-k", true);
    assert_eq!(seen, kseen);
    assert_eq!(lines, klines);
}

#[test]
fn drop_in_mod_init_stops_the_start_as_in_kamailio() {
    let mut bins = vec![(ferrosip_bin(), false)];
    match kamailio_bin().filter(|_| Path::new(&format!("{MPATH}db_sqlite.so")).exists()) {
        Some(k) => bins.push((k, true)),
        None => assert!(!ci(), "CI: kamailio and its db_sqlite module are required"),
    }
    for (bin, kamailio) in bins {
        let dir = scratch(if kamailio { "ht-drop-k" } else { "ht-drop-f" });
        let url = database(&dir);
        let port = free_port();
        let cfg_path = dir.join("drop.cfg");
        std::fs::write(&cfg_path, config(port, &url, kamailio, true))
            .unwrap_or_else(|e| panic!("{e}"));
        let log = dir.join("drop.log");
        let logf = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{e}"));
        let mut child = std::process::Command::new(bin)
            .args(["-f", &cfg_path.to_string_lossy(), "-DD", "-E", "-w", "/"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(logf)
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e}"));
        let t0 = Instant::now();
        let status = loop {
            if let Ok(Some(st)) = child.try_wait() {
                break Some(st);
            }
            if t0.elapsed() > Duration::from_secs(10) {
                signal(child.id() as i32, "TERM");
                std::thread::sleep(Duration::from_millis(500));
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let err = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.is_some_and(|s| !s.success()), "{bin} started: {err}");
        assert!(err.contains("HT mod-init: rm=OPTIONS"), "{bin}: {err}");
        assert!(err.contains("exit due to 'drop'"), "{bin}: {err}");
        // The port was never served: a bind succeeds.
        assert!(UdpSocket::bind(("127.0.0.1", port)).is_ok(), "{bin}");
    }
}
