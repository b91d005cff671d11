//! registrar's `lookup_filter_mode=2` over real sockets, the `ferrosip` binary and Kamailio 5.6.3
//! side by side with the same config: a contact registered over a TCP connection is found while
//! the connection is open and no longer once it has closed; one registered over UDP with a
//! `;transport=tcp` Contact (no connection of its own) stays found. With `lookup_filter_mode=0`
//! the closed connection's contact stays found too (no `handle_lost_tcp`).

#[path = "wire_harness.rs"]
mod w;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

fn config(port: u16, kamailio: bool, mode: i32) -> String {
    let mpath = if kamailio {
        format!("mpath=\"{MPATH}\"\n")
    } else {
        String::new()
    };
    format!(
        "#!KAMAILIO\n{mpath}listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n\
children=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
modparam(\"registrar\", \"lookup_filter_mode\", {mode})\n\
request_route {{\n\
    if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n\
    if (lookup(\"location\")) {{ sl_send_reply(\"200\", \"found\"); exit; }}\n\
    sl_send_reply(\"404\", \"not found\");\n\
}}\n"
    )
}

fn register(via: &str, me: SocketAddr, user: &str, contact: &str) -> String {
    let p = me.port();
    format!(
        "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/{via} 127.0.0.1:{p};branch=z9hG4bK-{user}\r\n\
From: <sip:{user}@127.0.0.1>;tag=r{user}\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: reg-{user}-{p}\r\n\
CSeq: 1 REGISTER\r\nContact: <{contact}>\r\nExpires: 300\r\nContent-Length: 0\r\n\r\n"
    )
}

/// `lookup` of `user` through the server: true when it answers "found".
fn found(server: SocketAddr, user: &str) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
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

/// A TCP connection to the server, retried for up to 5 s (the start check probes UDP).
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

/// (tc found while open, ut found, tc found after the close).
fn run(bin: &str, name: &str, mode: i32) -> (bool, bool, bool) {
    let port = w::free_port();
    let srv_addr: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut srv = w::start(
        bin,
        name,
        &config(port, bin.contains("kamailio"), mode),
        &[srv_addr],
    );
    let mut c = connect_tcp(srv_addr, name);
    let me = c.local_addr().unwrap_or(srv_addr);
    let _ = c.write_all(register("TCP", me, "tc", "sip:tc@127.0.0.1:9;transport=tcp").as_bytes());
    let u = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let ume = u.local_addr().unwrap_or(srv_addr);
    let _ = u.send_to(
        register("UDP", ume, "ut", "sip:ut@10.0.0.1;transport=tcp").as_bytes(),
        srv_addr,
    );
    let got = w::collect_udp(&u, Duration::from_millis(500));
    assert!(
        got.iter().any(|m| m.starts_with("SIP/2.0 200")),
        "{name}: REGISTER ut: {got:?}"
    );
    std::thread::sleep(Duration::from_millis(300));
    let open = found(srv_addr, "tc");
    let ut = found(srv_addr, "ut");
    drop(c);
    // The close is seen a moment later; poll.
    let t0 = Instant::now();
    let mut after = true;
    while t0.elapsed() < Duration::from_millis(1500) && after {
        std::thread::sleep(Duration::from_millis(100));
        after = found(srv_addr, "tc");
    }
    srv.stop();
    (open, ut, after)
}

#[test]
fn lookup_filter_mode_2_drops_contacts_of_closed_connections() {
    let Some(kam) = w::kamailio_bin() else {
        assert!(!w::ci(), "kamailio missing");
        return;
    };
    for (mode, want) in [(2, (true, true, false)), (0, (true, true, true))] {
        let k = run(kam, &format!("reglfm-kam-{mode}"), mode);
        let f = run(w::ferrosip_bin(), &format!("reglfm-fs-{mode}"), mode);
        assert_eq!(k, want, "kamailio, lookup_filter_mode {mode}");
        assert_eq!(f, k, "lookup_filter_mode {mode} (ferrosip vs kamailio)");
    }
}
