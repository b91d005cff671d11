//! `event_route[usrloc:contact-expired]` over real sockets, the `ferrosip` binary and Kamailio
//! 5.6.3 side by side with the same config (`timer_interval=1`, `min_expires=1`): two contacts
//! registered for 2 s expire; the route runs once for each, in the same order, with the same
//! `$ulc(exp=>…)` values, message ids counting up and `$var` kept between runs — in memory
//! (`db_mode=0`) and in DB-only mode on SQLite (`db_mode=3`, the rows read before the cleaning
//! deletes them).

#[path = "wire_harness.rs"]
mod w;

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

const ROUTE: &str = r#"request_route {
    if (method == "REGISTER") { save("location"); exit; }
    exit;
}
event_route[usrloc:contact-expired] {
    xlog("L_ERR", "EXP aor=$ulc(exp=>aor) dom=$ulc(exp=>domain) n=$ulc(exp=>count) addr=$ulc(exp=>addr) cid=$ulc(exp=>callid) q=$ulc(exp=>q) cseq=$ulc(exp=>cseq) rcv=[$ulc(exp=>received)] ua=$ulc(exp=>user_agent) mi=$mi rm=$rm ru=$ru var=$var(x)\n");
    $var(x) = $var(x) + 1;
}
"#;

/// The event route's lines (after "EXP ").
fn run(bin: &str, name: &str, db_mode: i32) -> Vec<String> {
    let port = w::free_port();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let kam = bin.contains("kamailio");
    let mpath = if kam {
        format!("mpath=\"{MPATH}\"\n")
    } else {
        String::new()
    };
    let db = if db_mode == 0 {
        String::new()
    } else {
        let url = w::sqlite_location(name);
        format!(
            "loadmodule \"db_sqlite.so\"\nmodparam(\"usrloc\", \"db_url\", \"{url}\")\n\
modparam(\"usrloc\", \"db_mode\", {db_mode})\n"
        )
    };
    let cfg = format!(
        "#!KAMAILIO\n{mpath}listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"xlog.so\"\nloadmodule \"usrloc.so\"\n\
loadmodule \"registrar.so\"\n{db}\
modparam(\"usrloc\", \"timer_interval\", 1)\n\
modparam(\"registrar\", \"min_expires\", 1)\n{ROUTE}"
    );
    // -w /: Kamailio 5.6 opens sqlite:///abs/path as the relative path "abs/path".
    let args: &[&str] = if kam { &["-w", "/"] } else { &[] };
    let mut srv = w::start_args(bin, name, &cfg, &[srv_addr], args);
    let u = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let p = u.local_addr().map_or(9, |a| a.port());
    let reg = format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-x{p}\r\n\
From: <sip:al@127.0.0.1>;tag=f\r\nTo: <sip:al@127.0.0.1>\r\nCall-ID: exp-call\r\n\
CSeq: 7 REGISTER\r\nUser-Agent: t/1\r\n\
Contact: <sip:a1@10.0.0.1>;expires=2, <sip:a2@10.0.0.1>;expires=2;q=0.5\r\n\
Content-Length: 0\r\n\r\n"
    );
    let _ = u.send_to(reg.as_bytes(), srv_addr);
    let got = w::collect_udp(&u, Duration::from_millis(500));
    assert!(
        got.iter().any(|m| m.starts_with("SIP/2.0 200")),
        "{name}: REGISTER: {got:?}"
    );
    let lines = |s: &w::Server| -> Vec<String> {
        s.log_text()
            .lines()
            .filter_map(|l| l.split_once("EXP ").map(|(_, t)| t.to_string()))
            .collect()
    };
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(8) && lines(&srv).len() < 2 {
        std::thread::sleep(Duration::from_millis(200));
    }
    // a moment more: no third run
    std::thread::sleep(Duration::from_millis(1200));
    srv.stop();
    lines(&srv)
}

#[test]
fn contact_expired_event_route_runs_as_kamailios() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    for mode in [0, 3] {
        let kn = format!("ulexp-kam-{mode}");
        let k = std::thread::spawn(move || run(kam, &kn, mode));
        let f = run(w::ferrosip_bin(), &format!("ulexp-fs-{mode}"), mode);
        let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
        assert_eq!(k.len(), 2, "kamailio db_mode {mode}: {k:?}");
        assert_eq!(f, k, "db_mode {mode} (ferrosip vs kamailio)");
    }
}
