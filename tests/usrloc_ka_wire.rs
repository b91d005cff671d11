//! usrloc's keepalives and `handle_lost_tcp` over real sockets, the `ferrosip` binary and
//! Kamailio 5.6.3 side by side with the same config (`ka_mode=1`, `ka_timeout=4`,
//! `timer_interval=2`, `handle_lost_tcp=1`):
//! - two UDP contacts register; both get keepalive OPTIONS laid out as Kamailio's (compared after
//!   normalising ports, times, record ids and counters; the AoR hash in the From tag is compared
//!   as is); alice answers them, bob stays silent;
//! - bob's contact is let expire (10 s after `ka_timeout` passed) and removed, alice's stays, and
//!   `ul.lookup` (kamcmd over ctl) shows alice's `Last-Keepalive` moved past her registration
//!   with a round trip;
//! - a contact registered over TCP gets its keepalive on the connection it registered over (its
//!   Contact names a port where nothing listens), the same as Kamailio's, and is gone from
//!   `lookup` as soon as that connection closes;
//! - in `db_mode=1` (SQLite) the silent contact's row is deleted with it, the answering one's kept;
//! - with `close_expired_tcp=1` the sweep that removes an expired TCP contact closes its
//!   connection;
//! - `ka_logmsg` with variables of the reply (`$fu`, `$rs`, `$rr`, `$si`, `$tu`, `$rm`, `$$`):
//!   the round-trip line is the same;
//! - `ka_filter=1` and DB-only keepalives (`db_mode=3`, the rows read from SQLite each sweep): a
//!   row another server saved (`server_id` 5) gets no keepalive with the filter (in `db_mode` 1
//!   too, where it was loaded at startup), one with the filter off; rows of this server do.

#[path = "wire_harness.rs"]
mod w;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";
const KAMCMD: &str = "/usr/sbin/kamcmd";

fn config(port: u16, sock: &str, kamailio: bool) -> String {
    config_with(port, sock, kamailio, "")
}

/// [`config`] with more lines before the routing block.
fn config_with(port: u16, sock: &str, kamailio: bool, extra: &str) -> String {
    let mpath = if kamailio {
        format!("mpath=\"{MPATH}\"\n")
    } else {
        String::new()
    };
    format!(
        "#!KAMAILIO\n{mpath}listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n\
children=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\n\
loadmodule \"registrar.so\"\nloadmodule \"ctl.so\"\n\
modparam(\"ctl\", \"binrpc\", \"unix:{sock}\")\n\
modparam(\"usrloc\", \"timer_interval\", 2)\n\
modparam(\"usrloc\", \"ka_mode\", 1)\n\
modparam(\"usrloc\", \"ka_timeout\", 4)\n\
modparam(\"usrloc\", \"handle_lost_tcp\", 1)\n\
modparam(\"usrloc\", \"ka_loglevel\", 2)\n{extra}\
request_route {{\n\
    if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n\
    if (lookup(\"location\")) {{ sl_send_reply(\"200\", \"found\"); exit; }}\n\
    sl_send_reply(\"404\", \"not found\");\n\
}}\n"
    )
}

fn register(via_proto: &str, me: SocketAddr, user: &str, transport: &str) -> String {
    register_at(via_proto, me, me.port(), user, transport)
}

/// A REGISTER from `me` for a contact at port `cport`.
fn register_at(via_proto: &str, me: SocketAddr, cport: u16, user: &str, transport: &str) -> String {
    let p = me.port();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{via_proto} 127.0.0.1:{p};branch=z9hG4bK-{user}-1\r\n\
From: <sip:{user}@127.0.0.1>;tag=r{user}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}-{p}\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:{user}@127.0.0.1:{cport}{transport}>\r\nExpires: 300\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// `lookup` of `user` through the server: true when it answers "found".
fn found(server: SocketAddr, user: &str) -> bool {
    let s = match UdpSocket::bind("127.0.0.1:0") {
        Ok(s) => s,
        Err(e) => panic!("bind: {e}"),
    };
    let p = s.local_addr().map_or(9, |a| a.port());
    let msg = format!(
        "MESSAGE sip:{user}@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{p};branch=z9hG4bK-q{user}{p}\r\n\
From: <sip:q@127.0.0.1>;tag=q\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: q-{user}-{p}\r\n\
CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    );
    let _ = s.send_to(msg.as_bytes(), server);
    let got = w::collect_udp(&s, Duration::from_millis(400));
    assert!(!got.is_empty(), "no answer to the lookup of {user}");
    got.iter().any(|m| m.starts_with("SIP/2.0 200 found"))
}

/// A 200 to a keepalive, echoing its dialog headers.
fn answer(req: &str) -> String {
    let keep: Vec<&str> = req
        .split("\r\n")
        .filter(|l| {
            let n = l.split(':').next().unwrap_or("");
            ["Via", "From", "To", "Call-ID", "CSeq"].contains(&n)
        })
        .collect();
    format!(
        "SIP/2.0 200 OK\r\n{}\r\nContent-Length: 0\r\n\r\n",
        keep.join("\r\n")
    )
}

/// A keepalive without what differs per server and run: ports, hex times, record ids, counters,
/// the Call-ID's random part and pid. The AoR hash stays.
fn normalise(req: &str, port: u16, ua: u16) -> String {
    req.split("\r\n")
        .map(|l| {
            let l = l
                .replace(&format!(":{port}"), ":SRV")
                .replace(&format!(":{ua}"), ":UA");
            if let Some(v) = l.strip_prefix("Via: ") {
                let (head, branch) = v.split_once(";branch=").unwrap_or((v, ""));
                let shape: Vec<String> = branch.split('.').map(digits_to_n).collect();
                return format!("Via: {head};branch={}", shape.join("."));
            }
            if let Some((head, tag)) = l.split_once(";tag=") {
                // <ruid uloc-<hex>-<hex>-<n>>-<aorhash>-<sec>-<usec>-<cnt>.<bcnt>
                let parts: Vec<&str> = tag.split('-').collect();
                let n = parts.len();
                let hash = if n >= 4 { parts[n - 4] } else { "?" };
                let ruid_ok = n == 8 && parts[0] == "uloc";
                return format!("{head};tag=RUID({ruid_ok})-{hash}-SEC-USEC-N.N");
            }
            if let Some(cid) = l.strip_prefix("Call-ID: ") {
                let parts: Vec<&str> = cid.split('-').collect();
                return format!("Call-ID: {}-HEX-HEX-N.N ({} parts)", parts[0], parts.len());
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn digits_to_n(s: &str) -> String {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        "N".into()
    } else {
        s.to_string()
    }
}

fn kamcmd(sock: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("10")
        .arg(KAMCMD)
        .arg("-s")
        .arg(format!("unix:{sock}"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run kamcmd: {e}"));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// The integer field `name` of kamcmd's output.
fn field(out: &str, name: &str) -> Option<i64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(&format!("{name}: ")))
        .and_then(|v| v.trim().parse().ok())
}

/// What one server did.
#[derive(Debug)]
struct Outcome {
    /// alice's first keepalive, normalised.
    first: String,
    /// Keepalives alice and bob received.
    alice_ka: usize,
    bob_ka: usize,
    /// Seconds after registering when bob was no longer found (None: still there).
    bob_gone: Option<f64>,
    alice_found: bool,
    /// (Last-Keepalive - Last-Modified, KA-Roundtrip) of alice's contact (kamcmd).
    alice_ka_fields: Option<(i64, i64)>,
    /// The first `ka_loglevel` line from "keepalive roundtrip", digits and record id
    /// normalised.
    log_line: String,
}

fn run(bin: &str, name: &str) -> Outcome {
    run_with(bin, name, "")
}

/// [`run`] with more config lines.
fn run_with(bin: &str, name: &str, extra: &str) -> Outcome {
    let port = w::free_port();
    let dir = w::scratch(name);
    let sock = dir.join("ctl.sock").to_string_lossy().into_owned();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    // -w /: Kamailio 5.6 opens sqlite:///abs/path as the relative path "abs/path".
    let args: &[&str] = if bin.contains("kamailio") {
        &["-w", "/"]
    } else {
        &[]
    };
    let mut srv = w::start_args(
        bin,
        name,
        &config_with(port, &sock, bin.contains("kamailio"), extra),
        &[srv_addr],
        args,
    );
    let alice = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let bob = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let (a_addr, b_addr) = (
        alice.local_addr().unwrap_or(srv_addr),
        bob.local_addr().unwrap_or(srv_addr),
    );
    for (s, me, u) in [(&alice, a_addr, "alice"), (&bob, b_addr, "bob")] {
        let _ = s.send_to(register("UDP", me, u, "").as_bytes(), srv_addr);
        let got = w::collect_udp(s, Duration::from_millis(500));
        assert!(
            got.iter().any(|m| m.starts_with("SIP/2.0 200")),
            "{name}: REGISTER {u}: {got:?}"
        );
    }
    let t0 = Instant::now();
    for s in [&alice, &bob] {
        let _ = s.set_read_timeout(Some(Duration::from_millis(100)));
    }
    let mut out = Outcome {
        first: String::new(),
        alice_ka: 0,
        bob_ka: 0,
        bob_gone: None,
        alice_found: false,
        alice_ka_fields: None,
        log_line: String::new(),
    };
    let mut buf = vec![0u8; 65536];
    let mut next_probe = Duration::from_secs(1);
    // ka_timeout 4 s + up to two sweeps + 10 s of grace + a sweep: bob is gone within ~20 s.
    while t0.elapsed() < Duration::from_secs(24) {
        if let Ok((n, from)) = alice.recv_from(&mut buf) {
            let req = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned();
            if req.starts_with("OPTIONS ") {
                out.alice_ka += 1;
                if out.first.is_empty() {
                    out.first = normalise(&req, port, a_addr.port());
                }
                let _ = alice.send_to(answer(&req).as_bytes(), from);
            }
        }
        if let Ok((n, _)) = bob.recv_from(&mut buf) {
            if buf.get(..n).is_some_and(|b| b.starts_with(b"OPTIONS ")) {
                out.bob_ka += 1;
            }
        }
        if t0.elapsed() >= next_probe {
            next_probe += Duration::from_secs(1);
            if out.bob_gone.is_none() && !found(srv_addr, "bob") {
                out.bob_gone = Some(t0.elapsed().as_secs_f64());
            }
        }
    }
    out.alice_found = found(srv_addr, "alice");
    if w::have(KAMCMD) {
        let l = kamcmd(&sock, &["ul.lookup", "location", "alice"]);
        out.alice_ka_fields = field(&l, "Last-Keepalive")
            .zip(field(&l, "Last-Modified"))
            .map(|(k, m)| k - m)
            .zip(field(&l, "KA-Roundtrip"));
    }
    srv.stop();
    out.log_line = srv
        .log_text()
        .lines()
        .find_map(|l| {
            l.split_once("keepalive roundtrip: ")
                .map(|(_, t)| t.to_string())
        })
        .map(|t| {
            let t = match (t.find("ruid ["), t.find("] to-uri")) {
                (Some(a), Some(b)) if a < b => format!("{}ruid [RUID{}", &t[..a], &t[b..]),
                _ => t,
            };
            t.chars()
                .map(|c| if c.is_ascii_digit() { 'N' } else { c })
                .collect()
        })
        .unwrap_or_default();
    out
}

#[test]
fn keepalives_keep_answering_contacts_and_drop_silent_ones() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    let k = std::thread::spawn(move || run(kam, "ulka-kam"));
    let f = run(w::ferrosip_bin(), "ulka-fs");
    let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
    eprintln!("kamailio: {k:#?}\nferrosip: {f:#?}");
    for (who, o) in [("kamailio", &k), ("ferrosip", &f)] {
        assert!(o.alice_found, "{who}: alice (answering) removed: {o:?}");
        let gone = o
            .bob_gone
            .unwrap_or_else(|| panic!("{who}: bob (silent) kept: {o:?}"));
        assert!(
            (12.0..=22.0).contains(&gone),
            "{who}: bob removed after {gone:.1} s, expected ka_timeout + 10 s + sweeps: {o:?}"
        );
        assert!(
            o.alice_ka >= 8,
            "{who}: alice got {} keepalives",
            o.alice_ka
        );
        assert!(o.bob_ka >= 3, "{who}: bob got {} keepalives", o.bob_ka);
        if let Some((moved, rtt)) = o.alice_ka_fields {
            assert!(
                moved >= 15,
                "{who}: Last-Keepalive not moved by replies: {o:?}"
            );
            assert!(rtt > 0, "{who}: no KA-Roundtrip: {o:?}");
        } else {
            assert!(!w::have(KAMCMD), "{who}: ul.lookup fields missing");
        }
    }
    assert_eq!(f.first, k.first, "keepalive layout (ferrosip vs kamailio)");
    assert!(!k.log_line.is_empty(), "kamailio logged no round trip");
    assert_eq!(
        f.log_line, k.log_line,
        "ka_loglevel line (ferrosip vs kamailio)"
    );
    assert!(
        f.first.contains("RUID(true)")
            && f.first.contains("Call-ID: ksrulka-HEX-HEX-N.N (4 parts)"),
        "{}",
        f.first
    );
    let (kg, fg) = (k.bob_gone.unwrap_or(0.0), f.bob_gone.unwrap_or(0.0));
    assert!(
        (kg - fg).abs() <= 4.0,
        "removal times differ: kamailio {kg:.1} s, ferrosip {fg:.1} s"
    );
}

/// (registered, found, found after the close, the keepalive received on the connection).
fn lost_tcp(bin: &str, name: &str) -> (bool, bool, bool, String) {
    let port = w::free_port();
    let dir = w::scratch(name);
    let sock = dir.join("ctl.sock").to_string_lossy().into_owned();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut srv = w::start(
        bin,
        name,
        &config(port, &sock, bin.contains("kamailio")),
        &[srv_addr],
    );
    let mut c = connect_tcp(srv_addr, name);
    let me = c.local_addr().unwrap_or(srv_addr);
    // The contact names port 9 (nothing listens there): the keepalive can only arrive on the
    // connection the contact registered over.
    let _ = c.write_all(register_at("TCP", me, 9, "carol", ";transport=tcp").as_bytes());
    let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
    let mut got = String::new();
    let mut buf = vec![0u8; 4096];
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(4) && !got.contains("OPTIONS ") {
        if let Ok(n) = c.read(&mut buf) {
            got.push_str(&String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])));
        }
    }
    let ok = got.starts_with("SIP/2.0 200");
    let ka = got
        .find("OPTIONS ")
        .map(|i| normalise(&got[i..], port, me.port()))
        .unwrap_or_default();
    let before = found(srv_addr, "carol");
    drop(c);
    // Kamailio expires the contact when the connection's close is seen; poll a little.
    let t0 = Instant::now();
    let mut after = true;
    while t0.elapsed() < Duration::from_millis(1500) && after {
        std::thread::sleep(Duration::from_millis(100));
        after = found(srv_addr, "carol");
    }
    srv.stop();
    (ok, before, after, ka)
}

#[test]
fn handle_lost_tcp_removes_the_contact_of_a_closed_connection() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    let k = lost_tcp(kam, "ulka-tcp-kam");
    let f = lost_tcp(w::ferrosip_bin(), "ulka-tcp-fs");
    assert_eq!(
        (k.0, k.1, k.2),
        (true, true, false),
        "kamailio: (registered, found, found after close)"
    );
    assert!(
        k.3.contains("Via: SIP/2.0/TCP 127.0.0.1:SRV"),
        "kamailio keepalive: {}",
        k.3
    );
    assert_eq!(f, k, "ferrosip vs kamailio");
}

/// A TCP connection to the server: the start check probes UDP, and Kamailio's TCP listener may come
/// up a moment later on a loaded machine, so refused connects are retried for up to 5 s.
fn connect_tcp(addr: SocketAddr, name: &str) -> TcpStream {
    let t0 = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(c) => return c,
            Err(e) if t0.elapsed() > Duration::from_secs(5) => panic!("{name}: connect: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// Seconds from a TCP registration with `Expires: 2` until the server closes the connection
/// (`None`: still open after 10 s).
fn expired_close(bin: &str, name: &str) -> Option<f64> {
    let port = w::free_port();
    let dir = w::scratch(name);
    let sock = dir.join("ctl.sock").to_string_lossy().into_owned();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let extra = "modparam(\"usrloc\", \"close_expired_tcp\", 1)\n\
modparam(\"registrar\", \"min_expires\", 1)\n";
    let cfg = config_with(port, &sock, bin.contains("kamailio"), extra);
    let mut srv = w::start(bin, name, &cfg, &[srv_addr]);
    let mut c = connect_tcp(srv_addr, name);
    let me = c.local_addr().unwrap_or(srv_addr);
    let reg = register("TCP", me, "erin", ";transport=tcp").replace("Expires: 300", "Expires: 2");
    let _ = c.write_all(reg.as_bytes());
    let _ = c.set_read_timeout(Some(Duration::from_millis(200)));
    let t0 = Instant::now();
    let mut buf = vec![0u8; 4096];
    let mut closed = None;
    while t0.elapsed() < Duration::from_secs(10) {
        match c.read(&mut buf) {
            Ok(0) => {
                closed = Some(t0.elapsed().as_secs_f64());
                break;
            }
            Ok(_) => {} // the 200 and keepalives
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = Some(t0.elapsed().as_secs_f64());
                break;
            }
        }
    }
    srv.stop();
    closed
}

#[test]
fn close_expired_tcp_closes_the_connection_of_an_expired_contact() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    let k = std::thread::spawn(move || expired_close(kam, "ulka-close-kam"));
    let f = expired_close(w::ferrosip_bin(), "ulka-close-fs");
    let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
    for (who, t) in [("kamailio", k), ("ferrosip", f)] {
        let t = t.unwrap_or_else(|| panic!("{who}: connection still open 10 s after registering"));
        // Expires 2 s (whole seconds: a little less from the REGISTER), removed by the next sweep
        // (timer_interval 2 s).
        assert!(
            (1.0..=6.0).contains(&t),
            "{who}: closed after {t:.2} s ({k:?}, {f:?})"
        );
    }
}

#[test]
fn keepalives_in_db_mode_1_delete_the_silent_contact_row() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    let extra = |url: &str| {
        format!(
            "loadmodule \"db_sqlite.so\"\nmodparam(\"usrloc\", \"db_url\", \"{url}\")\n\
modparam(\"usrloc\", \"db_mode\", 1)\n"
        )
    };
    let (ku, fu) = (
        w::sqlite_location("ulka-db-kam"),
        w::sqlite_location("ulka-db-fs"),
    );
    let (ke, fe) = (extra(&ku), extra(&fu));
    let k = std::thread::spawn(move || run_with(kam, "ulka-db-kam", &ke));
    let f = run_with(w::ferrosip_bin(), "ulka-db-fs", &fe);
    let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
    for (who, o, url) in [("kamailio", &k, &ku), ("ferrosip", &f, &fu)] {
        assert!(o.alice_found, "{who}: alice removed: {o:?}");
        let gone = o
            .bob_gone
            .unwrap_or_else(|| panic!("{who}: bob kept: {o:?}"));
        assert!(
            (12.0..=22.0).contains(&gone),
            "{who}: bob removed after {gone:.1} s"
        );
        assert_eq!(w::location_users(url), ["alice"], "{who}: rows left");
    }
}

/// The `ka_loglevel` line of a server with `ka_logmsg` set: alice registers, answers her first
/// keepalive; the line's text after "keepalive roundtrip: ", record id and digits normalised.
fn logmsg_line(bin: &str, name: &str) -> String {
    let port = w::free_port();
    let dir = w::scratch(name);
    let sock = dir.join("ctl.sock").to_string_lossy().into_owned();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let extra = "modparam(\"usrloc\", \"ka_logmsg\", \
\" from [$fu] code [$rs] reason [$rr] src [$si] tu [$tu] m [$rm] $$ done\")\n";
    let cfg = config_with(port, &sock, bin.contains("kamailio"), extra);
    let mut srv = w::start(bin, name, &cfg, &[srv_addr]);
    let alice = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let me = alice.local_addr().unwrap_or(srv_addr);
    let _ = alice.send_to(register("UDP", me, "alice", "").as_bytes(), srv_addr);
    let _ = alice.set_read_timeout(Some(Duration::from_millis(100)));
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    let mut answered = false;
    while t0.elapsed() < Duration::from_secs(6) && !answered {
        if let Ok((n, from)) = alice.recv_from(&mut buf) {
            let req = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned();
            if req.starts_with("OPTIONS ") {
                let _ = alice.send_to(answer(&req).as_bytes(), from);
                answered = true;
            }
        }
    }
    assert!(answered, "{name}: no keepalive within 6 s");
    let t1 = Instant::now();
    let mut line = String::new();
    while t1.elapsed() < Duration::from_secs(3) && line.is_empty() {
        std::thread::sleep(Duration::from_millis(100));
        line = srv
            .log_text()
            .lines()
            .find_map(|l| {
                l.split_once("keepalive roundtrip: ")
                    .map(|(_, t)| t.to_string())
            })
            .unwrap_or_default();
    }
    srv.stop();
    let line = match (line.find("ruid ["), line.find("] from")) {
        (Some(a), Some(b)) if a < b => format!("{}ruid [RUID{}", &line[..a], &line[b..]),
        _ => line,
    };
    line.chars()
        .map(|c| if c.is_ascii_digit() { 'N' } else { c })
        .collect()
}

#[test]
fn ka_logmsg_formats_the_round_trip_line_as_kamailio() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    let k = std::thread::spawn(move || logmsg_line(kam, "ulka-logmsg-kam"));
    let f = logmsg_line(w::ferrosip_bin(), "ulka-logmsg-fs");
    let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
    assert!(
        k.contains(" from [sip:server@kamailio.org] code [NNN] reason [OK]")
            && k.ends_with("$ done"),
        "kamailio: {k}"
    );
    assert_eq!(f, k, "ka_logmsg line (ferrosip vs kamailio)");
}

/// Keepalives seen by three UDP contacts of a server with `ka_mode=1` on an SQLite `location`
/// table: alice registers through the server (and answers), dave's and erin's rows are written
/// into the table before the start, dave's with `server_id` 5 (another server's), erin's with 0.
#[derive(Debug, PartialEq)]
struct DbKa {
    /// alice's first keepalive, normalised.
    first: String,
    alice: bool,
    dave: bool,
    erin: bool,
}

/// A `location` row for `user` at `contact` saved by server `server_id`, valid for an hour.
fn insert_row(url: &str, user: &str, contact: &str, server_id: i32) {
    use ferrosip_modules::db::ferrosip_db::{Db, Value};
    let db = Db::connect(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let row: Vec<(&str, Value)> = vec![
        ("username", Value::from(user)),
        ("contact", Value::from(contact)),
        ("expires", Value::DateTime(now + 3600)),
        ("q", Value::Double(-1.0)),
        ("callid", Value::from(format!("row-{user}").as_str())),
        ("cseq", Value::Int(1)),
        ("flags", Value::Int(0)),
        ("cflags", Value::Int(0)),
        ("user_agent", Value::from("t")),
        ("last_modified", Value::DateTime(now)),
        (
            "ruid",
            Value::from(format!("ruid-{user}-{server_id}").as_str()),
        ),
        ("reg_id", Value::Int(0)),
        ("server_id", Value::Int(server_id)),
        ("connection_id", Value::Int(-1)),
        ("keepalive", Value::Int(0)),
        ("partition", Value::Int(0)),
    ];
    db.insert("location", &row)
        .unwrap_or_else(|e| panic!("insert {user}: {e}"));
}

/// Empty `version` and `location` tables on a database server.
fn fresh_server_tables(url: &str) {
    use ferrosip_modules::db::ferrosip_db::{schema, Db};
    let db = Db::connect(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    for t in ["location", "version"] {
        db.raw_execute(&format!("DROP TABLE IF EXISTS {t}"))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let tables: Vec<_> = ["version", "location"]
        .iter()
        .filter_map(|t| schema::table(t))
        .collect();
    schema::create(&db, &tables).unwrap_or_else(|e| panic!("{e}"));
}

/// [`db_keepalives_at`] on a fresh SQLite file of its own.
fn db_keepalives(bin: &str, name: &str, db_mode: i32, ka_filter: i32) -> DbKa {
    let url = w::sqlite_location(name);
    db_keepalives_at(bin, name, &url, db_mode, ka_filter)
}

/// The keepalives of `bin` with `location` at `url` (fresh tables, dave's and erin's rows
/// written here).
fn db_keepalives_at(bin: &str, name: &str, url: &str, db_mode: i32, ka_filter: i32) -> DbKa {
    let drv = match url.split(':').next() {
        Some("postgres") => "db_postgres",
        Some("mysql") => "db_mysql",
        _ => "db_sqlite",
    };
    if drv != "db_sqlite" {
        fresh_server_tables(url);
    }
    let port = w::free_port();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let kam = bin.contains("kamailio");
    let socks: Vec<UdpSocket> = (0..3)
        .map(|_| UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}")))
        .collect();
    let addr = |i: usize| socks[i].local_addr().unwrap_or(srv_addr);
    insert_row(url, "dave", &format!("sip:dave@{}", addr(1)), 5);
    insert_row(url, "erin", &format!("sip:erin@{}", addr(2)), 0);
    let mpath = if kam {
        format!("mpath=\"{MPATH}\"\n")
    } else {
        String::new()
    };
    let cfg = format!(
        "#!KAMAILIO\n{mpath}listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"{drv}.so\"\nloadmodule \"usrloc.so\"\n\
loadmodule \"registrar.so\"\n\
modparam(\"usrloc\", \"db_url\", \"{url}\")\n\
modparam(\"usrloc\", \"db_mode\", {db_mode})\n\
modparam(\"usrloc\", \"timer_interval\", 2)\n\
modparam(\"usrloc\", \"ka_mode\", 1)\n\
modparam(\"usrloc\", \"ka_filter\", {ka_filter})\n\
request_route {{\n\
    if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n\
    sl_send_reply(\"404\", \"not found\");\n\
}}\n"
    );
    let args: &[&str] = if kam { &["-w", "/"] } else { &[] };
    let mut srv = w::start_args(bin, name, &cfg, &[srv_addr], args);
    let me = addr(0);
    let _ = socks[0].send_to(register("UDP", me, "alice", "").as_bytes(), srv_addr);
    let got = w::collect_udp(&socks[0], Duration::from_millis(500));
    assert!(
        got.iter().any(|m| m.starts_with("SIP/2.0 200")),
        "{name}: REGISTER alice: {got:?}"
    );
    for s in &socks {
        let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
    }
    let mut out = DbKa {
        first: String::new(),
        alice: false,
        dave: false,
        erin: false,
    };
    let mut buf = vec![0u8; 65536];
    let t0 = Instant::now();
    // timer_interval 2 s: two sweeps or more within 5 s.
    while t0.elapsed() < Duration::from_secs(5) {
        for (i, s) in socks.iter().enumerate() {
            if let Ok((n, from)) = s.recv_from(&mut buf) {
                let req = String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned();
                if !req.starts_with("OPTIONS ") {
                    continue;
                }
                match i {
                    0 => {
                        if out.first.is_empty() {
                            out.first = normalise(&req, port, me.port());
                        }
                        out.alice = true;
                        let _ = s.send_to(answer(&req).as_bytes(), from);
                    }
                    1 => out.dave = true,
                    _ => out.erin = true,
                }
            }
        }
    }
    srv.stop();
    out
}

#[test]
fn ka_filter_and_db_only_keepalives_agree_with_kamailio() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    // (db_mode, ka_filter, dave (server_id 5) pinged)
    for (mode, filter, dave) in [(3, 1, false), (3, 0, true), (1, 1, false)] {
        let kn = format!("ulka-dbka-kam-{mode}-{filter}");
        let fname = format!("ulka-dbka-fs-{mode}-{filter}");
        let k = std::thread::spawn(move || db_keepalives(kam, &kn, mode, filter));
        let f = db_keepalives(w::ferrosip_bin(), &fname, mode, filter);
        let k = k.join().unwrap_or_else(|_| panic!("kamailio run panicked"));
        assert_eq!(
            (k.alice, k.dave, k.erin),
            (true, dave, true),
            "kamailio db_mode {mode} ka_filter {filter}: {k:?}"
        );
        assert_eq!(
            f, k,
            "db_mode {mode} ka_filter {filter} (ferrosip vs kamailio)"
        );
    }
}

#[test]
fn ka_filter_and_db_only_keepalives_on_postgres_and_mariadb() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    for var in ["FERROSIP_TEST_PG_URL", "FERROSIP_TEST_MYSQL_URL"] {
        let Some(url) = w::server_url(var) else {
            continue;
        };
        // One database: the two servers run one after the other.
        for (mode, filter) in [(3, 1), (1, 1)] {
            let k = db_keepalives_at(kam, &format!("ulka-srv-kam-{mode}"), &url, mode, filter);
            let f = db_keepalives_at(
                w::ferrosip_bin(),
                &format!("ulka-srv-fs-{mode}"),
                &url,
                mode,
                filter,
            );
            assert_eq!(
                (k.alice, k.dave, k.erin),
                (true, false, true),
                "kamailio {var} db_mode {mode}: {k:?}"
            );
            assert_eq!(f, k, "{var} db_mode {mode} (ferrosip vs kamailio)");
        }
    }
}
