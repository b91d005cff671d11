//! usrloc's `server_id_filter=1` over real sockets, the `ferrosip` binary and Kamailio 5.6.3 side
//! by side with the same config (`db_mode=1`, `db_timer_clean=1`, `timer_interval=1`) on a
//! SQLite `location` table of their own holding rows of this server (`server_id` 0) and of
//! another (`server_id` 5), valid and expired: only this server's valid row is loaded (a
//! `lookup` finds it, not the other server's), and the expiry cleaning deletes only this
//! server's expired row. The same without the filter: everything valid is loaded and every
//! expired row deleted.

#[path = "wire_harness.rs"]
mod w;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ferrosip_modules::db::ferrosip_db::{Db, Value};

const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// A fresh SQLite file with `version` and `location`, and four rows: (user, server_id, valid).
fn location(name: &str) -> String {
    let url = w::sqlite_location(name);
    let db = Db::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    for (user, server_id, valid) in [
        ("tom", 0, true),
        ("sam", 5, true),
        ("old0", 0, false),
        ("old5", 5, false),
    ] {
        let expires = if valid { now + 3600 } else { now - 100 };
        let row: Vec<(&str, Value)> = vec![
            ("username", Value::from(user)),
            (
                "contact",
                Value::from(format!("sip:{user}@10.0.0.1").as_str()),
            ),
            ("expires", Value::DateTime(expires)),
            ("q", Value::Double(-1.0)),
            ("callid", Value::from(format!("row-{user}").as_str())),
            ("cseq", Value::Int(1)),
            ("flags", Value::Int(0)),
            ("cflags", Value::Int(0)),
            ("user_agent", Value::from("t")),
            ("last_modified", Value::DateTime(now - 200)),
            ("ruid", Value::from(format!("ruid-{user}").as_str())),
            ("reg_id", Value::Int(0)),
            ("server_id", Value::Int(server_id)),
            ("connection_id", Value::Int(-1)),
            ("keepalive", Value::Int(0)),
            ("partition", Value::Int(0)),
        ];
        db.insert("location", &row)
            .unwrap_or_else(|e| panic!("insert {user}: {e}"));
    }
    url
}

/// What the `lookup` of `user` answers (the reply's status line). Sent up to three times, as a
/// UDP client retransmits: a loaded CI machine may leave the first one unanswered for 500 ms.
fn lookup(server: SocketAddr, user: &str) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let p = s.local_addr().map_or(9, |a| a.port());
    let msg = format!(
        "MESSAGE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-q{user}{p}\r\n\
From: <sip:q@127.0.0.1>;tag=q\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: q-{user}-{p}\r\n\
CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    );
    for _ in 0..3 {
        let _ = s.send_to(msg.as_bytes(), server);
        let got = w::collect_udp(&s, Duration::from_millis(500));
        if let Some(status) = got.first().and_then(|m| m.lines().next()) {
            return status.to_string();
        }
    }
    "no answer".to_string()
}

/// (lookups of tom and sam, users left after the cleaning).
fn run(bin: &str, name: &str, filter: i32) -> (Vec<String>, Vec<String>) {
    let url = location(name);
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
    let cfg = format!(
        "#!KAMAILIO\n{mpath}listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"db_sqlite.so\"\nloadmodule \"usrloc.so\"\n\
loadmodule \"registrar.so\"\n\
modparam(\"usrloc\", \"db_url\", \"{url}\")\n\
modparam(\"usrloc\", \"db_mode\", 1)\n\
modparam(\"usrloc\", \"db_timer_clean\", 1)\n\
modparam(\"usrloc\", \"timer_interval\", 1)\n\
modparam(\"usrloc\", \"server_id_filter\", {filter})\n\
request_route {{\n\
    if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n\
    if (lookup(\"location\")) {{ sl_send_reply(\"200\", \"found\"); exit; }}\n\
    sl_send_reply(\"404\", \"not found\");\n\
}}\n"
    );
    // -w /: Kamailio 5.6 opens sqlite:///abs/path as the relative path "abs/path".
    let args: &[&str] = if kam { &["-w", "/"] } else { &[] };
    let mut srv = w::start_args(bin, name, &cfg, &[srv_addr], args);
    let found = vec![lookup(srv_addr, "tom"), lookup(srv_addr, "sam")];
    // timer_interval 1 s: a few sweeps.
    std::thread::sleep(Duration::from_millis(3500));
    srv.stop();
    (found, w::location_users(&url))
}

#[test]
fn server_id_filter_loads_and_cleans_only_this_servers_rows() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    // (filter, lookups of tom and sam, users left)
    let want: [(i32, [&str; 2], &[&str]); 2] = [
        (
            1,
            ["SIP/2.0 200 found", "SIP/2.0 404 not found"],
            &["old5", "sam", "tom"],
        ),
        (
            0,
            ["SIP/2.0 200 found", "SIP/2.0 200 found"],
            &["sam", "tom"],
        ),
    ];
    for (filter, found, left) in want {
        let kn = format!("ulsrv-kam-{filter}");
        let k = std::thread::spawn(move || run(kam, &kn, filter));
        let f = run(w::ferrosip_bin(), &format!("ulsrv-fs-{filter}"), filter);
        let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
        assert_eq!(k.0, found, "kamailio lookups, server_id_filter {filter}");
        assert_eq!(k.1, left, "kamailio rows left, server_id_filter {filter}");
        assert_eq!(f, k, "server_id_filter {filter} (ferrosip vs kamailio)");
    }
}
