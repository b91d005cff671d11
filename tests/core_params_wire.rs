//! Core parameters ferrosip accepts because they describe what it does (`fork=yes`,
//! `disable_tls=yes`, `dns_try_naptr=no`, `use_dns_cache=off`, `tcp_async=yes` …) and the TCP
//! keepalive parameters, on the real binary, side by side with Kamailio 5.6.3 where installed:
//! - a config setting them starts and answers; the values ferrosip does not implement stop it
//!   with a message naming the parameter (and `-c` only warns);
//! - `tcp_keepalive`/`tcp_keepidle` reach the server's accepted and outgoing TCP connections: the
//!   kernel's keepalive timer of those sockets (/proc/net/tcp) is armed with `tcp_keepidle`, or
//!   not at all with `tcp_keepalive=no` — as Kamailio's are;
//! - `src_ip == host.name` resolves the name as Kamailio with `use_dns_cache=off` (in a namespace
//!   with the test's own name server);
//! - `auto_bind_ipv6` selects the addresses of expanded interfaces (in a network namespace);
//! - `corelog` is the level of a TCP read error line, and of a too-large datagram's;
//! - `mhomed=1` sends a UDP request from the socket of the kernel's source address.
//!
//! The exact TCP_KEEPINTVL/TCP_KEEPCNT values are read back with getsockopt by the transport's
//! own test (crates/transport/tests/keepalive.rs).

#[path = "wire_harness.rs"]
mod harness;

use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// A config that listens on UDP and TCP `port`, answers nothing itself and forwards every
/// request statelessly to its R-URI (no module needed, so Kamailio runs it as it is).
fn forward_cfg(port: u16, params: &str) -> String {
    format!(
        "listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\nchildren=2\ntcp_children=2\n\
log_stderror=yes\ndebug=2\n{params}\n\
request_route {{\n    forward();\n    exit;\n}}\n"
    )
}

/// The kernel's timer of the IPv4 TCP socket from `local` to `remote`: (kind, seconds left).
/// Kind 0 is none, 1 retransmit, 2 keepalive (proc(5)); the time is in clock ticks of 1/100 s.
fn tcp_timer(local: SocketAddr, remote: SocketAddr) -> Option<(u8, f64)> {
    let text = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let parse = |s: &str| -> Option<SocketAddr> {
        let (ip, port) = s.split_once(':')?;
        let ip = u32::from_str_radix(ip, 16).ok()?;
        let port = u16::from_str_radix(port, 16).ok()?;
        // The address is the network-order word printed as a host-order number.
        Some(SocketAddr::V4(SocketAddrV4::new(
            Ipv4Addr::from(ip.to_ne_bytes()),
            port,
        )))
    };
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        if parse(f.get(1)?)? != local || parse(f.get(2)?)? != remote {
            return None;
        }
        let (kind, when) = f.get(5)?.split_once(':')?;
        Some((
            u8::from_str_radix(kind, 16).ok()?,
            u64::from_str_radix(when, 16).ok()? as f64 / 100.0,
        ))
    })
}

/// Waits (bounded) until the socket from `local` to `remote` exists and has no data in flight,
/// then returns its timer.
fn settled_timer(local: SocketAddr, remote: SocketAddr) -> (u8, f64) {
    let t0 = Instant::now();
    loop {
        match tcp_timer(local, remote) {
            Some(t) if t.0 != 1 => return t,
            _ => {}
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "no settled socket {local} -> {remote} in /proc/net/tcp"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A TCP connection to the server: the start check probes UDP, and on a loaded machine the TCP
/// listener may come up a moment later, so refused connects are retried for up to 5 s.
fn connect_tcp(to: SocketAddr) -> TcpStream {
    let t0 = Instant::now();
    loop {
        match TcpStream::connect(to) {
            Ok(c) => return c,
            Err(_) if t0.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("connect to the server: {e}"),
        }
    }
}

/// Timers of the server's accepted connection and of the connection it opens to forward a
/// request over TCP, with `params` in the config.
fn server_timers(bin: &str, tag: &str, params: &str) -> ((u8, f64), (u8, f64)) {
    let port = free_port();
    let srv_addr = addr(&format!("127.0.0.1:{port}"));
    let mut srv = start(bin, tag, &forward_cfg(port, params), &[srv_addr]);
    // Accepted: wait until the server can read from the connection (it accepted it).
    let c = connect_tcp(srv_addr);
    let client = c.local_addr().expect("client address");
    let t0 = Instant::now();
    while tcp_timer(srv_addr, client).is_none() && t0.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // Give the server's accept loop time to see the connection before the socket is read.
    std::thread::sleep(Duration::from_millis(200));
    let accepted = settled_timer(srv_addr, client);

    // Outgoing: an OPTIONS over UDP whose R-URI is our TCP listener.
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind peer");
    let peer_addr = peer.local_addr().expect("peer address");
    let req = format!(
        "OPTIONS sip:ka@{peer_addr};transport=tcp SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKka1;rport\r\n\
From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:ka@127.0.0.1>\r\nCall-ID: ka-{tag}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    u.send_to(req.as_bytes(), srv_addr).expect("send");
    peer.set_nonblocking(true).expect("nonblocking");
    let t0 = Instant::now();
    let (mut s, from) = loop {
        match peer.accept() {
            Ok(x) => break x,
            Err(_) if t0.elapsed() < Duration::from_secs(5) => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!(
                "{tag}: the server did not connect to {peer_addr}: {e}\n{}",
                srv.log_text()
            ),
        }
    };
    // Read the forwarded request so nothing stays in flight.
    s.set_nonblocking(false).expect("blocking");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let mut buf = [0u8; 4096];
    let _ = s.read(&mut buf);
    let outgoing = settled_timer(from, peer_addr);
    drop(c);
    drop(s);
    srv.stop();
    (accepted, outgoing)
}

const KEEP: &str = "tcp_keepalive=yes\ntcp_keepidle=37\ntcp_keepintvl=5\ntcp_keepcnt=3";
const NO_KEEP: &str = "tcp_keepalive=no";

fn check_keepidle(bin: &str, tag: &str) {
    let (a, o) = server_timers(bin, &format!("{tag}-ka"), KEEP);
    for (what, (kind, left)) in [("accepted", a), ("outgoing", o)] {
        assert_eq!(
            kind, 2,
            "{tag} {what}: keepalive timer expected, got {kind} ({left}s)"
        );
        assert!(
            left > 30.0 && left <= 37.0,
            "{tag} {what}: keepalive timer at {left}s, tcp_keepidle=37"
        );
    }
    let (a, o) = server_timers(bin, &format!("{tag}-noka"), NO_KEEP);
    for (what, (kind, left)) in [("accepted", a), ("outgoing", o)] {
        assert_eq!(
            kind, 0,
            "{tag} {what}: no timer expected, got {kind} ({left}s)"
        );
    }
}

#[test]
fn tcp_keepalive_and_keepidle_reach_accepted_and_outgoing_connections() {
    check_keepidle(ferrosip_bin(), "fs");
    // The default is on, as in Kamailio: the timer runs with the system's idle time.
    let (a, o) = server_timers(ferrosip_bin(), "fs-default", "");
    let sys: f64 = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_keepalive_time")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(7200.0);
    for (what, (kind, left)) in [("accepted", a), ("outgoing", o)] {
        assert_eq!(kind, 2, "default {what}: keepalive timer expected");
        assert!(
            left > sys - 10.0 && left <= sys,
            "default {what}: {left}s, system {sys}s"
        );
    }
    match kamailio_bin() {
        Some(kam) => check_keepidle(kam, "kam"),
        None => {
            assert!(!ci(), "CI: kamailio is required");
            eprintln!("kamailio not installed: comparison skipped");
        }
    }
}

/// Every parameter set to the value that describes ferrosip: the server starts and forwards.
const MATCHING: &str = "fork=yes\ndisable_tls=yes\nenable_tls=no\ntcp_async=yes\n\
dns_try_naptr=no\nuse_dns_cache=off\ndns_cache_init=off\nuse_dns_failover=off\ndns_srv_lb=off\n\
dns_cache_flags=0\ndns_naptr_ignore_rfc=yes\ndns_udp_pref=30\ndns_tcp_pref=20\ndns_tls_pref=10\n\
dns_sctp_pref=20\nroute_locks_size=0\ntls_max_connections=2048\nasync_workers=2\nauto_bind_ipv6=0\n";

fn forwards(bin: &str, tag: &str, params: &str) -> bool {
    let port = free_port();
    let srv_addr = addr(&format!("127.0.0.1:{port}"));
    let target = std::net::UdpSocket::bind("127.0.0.1:0").expect("target");
    let t_addr = target.local_addr().expect("target address");
    let mut srv = start(bin, tag, &forward_cfg(port, params), &[srv_addr]);
    let req = format!(
        "OPTIONS sip:x@{t_addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKm{tag}\r\n\
From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: m-{tag}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    u.send_to(req.as_bytes(), srv_addr).expect("send");
    let got = collect_udp(&target, Duration::from_secs(2));
    srv.stop();
    got.iter().any(|m| m.starts_with("OPTIONS sip:x@"))
}

#[test]
fn parameters_matching_ferrosip_start_and_serve() {
    assert!(forwards(ferrosip_bin(), "fs-match", MATCHING));
    if let Some(kam) = kamailio_bin() {
        // Kamailio 5.6.3 takes the same lines (`dns_cache_init=off` keeps its cache out).
        assert!(forwards(kam, "kam-match", MATCHING));
    }
}

/// The other values stop the server with the parameter's name and the reason; `-c` warns.
#[test]
fn other_values_are_refused_when_serving() {
    let cases = [
        ("fork=no", "fork", "single-process"),
        ("disable_tls=no", "disable_tls", "no TLS"),
        ("tcp_async=no", "tcp_async", "writer task"),
        ("dns_try_naptr=yes", "dns_try_naptr", "NAPTR"),
        (
            "use_dns_cache=on",
            "use_dns_cache",
            "not Kamailio's default",
        ),
        ("dns_cache_init=on", "dns_cache_init", "DNS cache"),
        ("use_dns_failover=on", "use_dns_failover", "failover"),
        ("dns_udp_pref=10", "dns_udp_pref", "NAPTR"),
        ("route_locks_size=128", "route_locks_size", "Call-ID"),
    ];
    let dir = scratch("core-params-refused");
    for (i, (line, name, why)) in cases.iter().enumerate() {
        let port = free_port();
        let cfg = dir.join(format!("c{i}.cfg"));
        std::fs::write(&cfg, forward_cfg(port, line)).expect("write cfg");
        let run = |extra: &[&str]| {
            // Bounded: a server that starts after all is killed by timeout(1) (status 124).
            let out = Command::new("timeout")
                .args([
                    "15",
                    ferrosip_bin(),
                    "-f",
                    &cfg.to_string_lossy(),
                    "-DD",
                    "-E",
                    "-w",
                ])
                .arg(&dir)
                .args(extra)
                .stdin(Stdio::null())
                .output()
                .expect("run ferrosip");
            (
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (code, err) = run(&["-c"]);
        assert_eq!(code, Some(0), "{line} under -c: {err}");
        assert!(
            err.contains(&format!("`{name}`")) && err.contains(why),
            "{line} -c: {err}"
        );
        // Serving: refused before binding anything (no process to stop).
        let (code, err) = run(&[]);
        assert!(code != Some(0) && code != Some(124), "{line} started");
        assert!(err.contains(name), "{line}: {err}");
    }
}

/// Runs this binary's ignored test `inner` in new namespaces (`unshare` with `flags`: `-n`, or
/// `-mn` for a mount namespace too) after the shell commands `setup`, with the environment
/// variable `env` set (the inner test does nothing without it), and asserts that it passed.
/// Without unshare (as root) or ip it is skipped, and fails under CI.
fn in_namespace(flags: &str, setup: &str, inner: &str, env: &str, timeout_s: u32) {
    let can_unshare = have("unshare")
        && Command::new("unshare")
            .args([flags, "true"])
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if !can_unshare || !have("ip") {
        assert!(!ci(), "CI: unshare {flags} (as root) and ip are required");
        eprintln!("unshare {flags} or ip missing: skipped");
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let script = format!(
        "{setup} && exec '{}' --exact {inner} --ignored --nocapture --test-threads=1",
        exe.display()
    );
    let out = Command::new("timeout")
        .args([
            &timeout_s.to_string(),
            "unshare",
            flags,
            "sh",
            "-c",
            &script,
        ])
        .env(env, "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the namespace");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "inside the namespace:\n{text}"
    );
}

/// Set in the environment of the copy of this test binary that runs inside the namespace.
const DNS_NS: &str = "FERROSIP_DNS_NAMESPACE";

/// The resolver parameters, in a network and mount namespace whose /etc/resolv.conf names this
/// test's own name server on 127.0.0.1:53 (`dns_inside_a_namespace`, run by this binary there):
/// - `dns_retr_time` and `dns_retr_no` bound a lookup the server never answers;
/// - `dns_try_ipv6=no` leaves a name with only an AAAA record unresolved.
#[test]
fn resolver_parameters_in_a_namespace() {
    let dir = scratch("dns-namespace");
    let resolv = dir.join("resolv.conf");
    std::fs::write(&resolv, "nameserver 127.0.0.1\n").expect("resolv.conf");
    let setup = format!(
        "ip link set lo up && mount --bind '{}' /etc/resolv.conf",
        resolv.display()
    );
    in_namespace("-mn", &setup, "dns_inside_a_namespace", DNS_NS, 180);
}

/// The time from a request to the 500 its script sends when `forward()` cannot resolve the
/// R-URI's host, for `dns_retr_time`=`t` and `dns_retr_no`=`n`.
fn unanswered_lookup_time(bin: &str, tag: &str, t: u32, n: u32) -> f64 {
    let port = free_port();
    let srv_addr = addr(&format!("127.0.0.1:{port}"));
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
dns_retr_time={t}\ndns_retr_no={n}\nuse_dns_cache=off\nloadmodule \"sl.so\"\n\
request_route {{\n    if (!forward()) {{\n        sl_send_reply(\"500\", \"no dns\");\n    }}\n    exit;\n}}\n"
    );
    let mut srv = start(bin, tag, &cfg, &[srv_addr]);
    let req = format!(
        "OPTIONS sip:x@nowhere.ferrosip.test:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKdns{tag};rport\r\n\
From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: dns-{tag}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let t0 = Instant::now();
    u.send_to(req.as_bytes(), srv_addr).expect("send");
    let got = collect_udp(&u, Duration::from_secs(20));
    let took = t0.elapsed().as_secs_f64();
    srv.stop();
    assert!(
        got.iter().any(|m| m.starts_with("SIP/2.0 500")),
        "{tag}: no 500 after {took}s: {got:?}\n{}",
        srv.log_text()
    );
    took
}

/// A name server for the namespace: `v6only.ferrosip.test` has an AAAA record (::1) and no A
/// record, `both.ferrosip.test` both (127.0.0.1, ::1); queries for `nowhere.ferrosip.test` are
/// never answered; anything else is NXDOMAIN. Runs until `stop` is set (bounded by 170 s).
/// The questions the name server was asked: (name, type).
type Asked = std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>;

fn name_server(
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    asked: Asked,
) -> std::thread::JoinHandle<()> {
    let s = std::net::UdpSocket::bind("127.0.0.1:53").expect("bind 127.0.0.1:53");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut buf = [0u8; 512];
        while !stop.load(std::sync::atomic::Ordering::Relaxed)
            && t0.elapsed() < Duration::from_secs(170)
        {
            let Ok((n, from)) = s.recv_from(&mut buf) else {
                continue;
            };
            let q = buf.get(..n).unwrap_or(&[]);
            if let (Some(name), Ok(mut a)) = (question(q), asked.lock()) {
                a.push(name);
            }
            if let Some(answer) = dns_answer(q) {
                let _ = s.send_to(&answer, from);
            }
        }
    })
}

/// The name and type a query asks for.
fn question(q: &[u8]) -> Option<(String, u16)> {
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    Some((
        labels.join("."),
        u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]),
    ))
}

/// The answer to one query, or `None` to stay silent.
fn dns_answer(q: &[u8]) -> Option<Vec<u8>> {
    // Header (12 bytes), then the question: labels, type, class.
    let mut i = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*q.get(i)?);
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(q.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let name = labels.join(".");
    let qtype = u16::from_be_bytes([*q.get(i)?, *q.get(i + 1)?]);
    let question = q.get(12..i + 4)?;
    let rdata: Option<Vec<u8>> = match (name.as_str(), qtype) {
        ("nowhere.ferrosip.test", _) => return None,
        ("v6only.ferrosip.test", 28) => Some(std::net::Ipv6Addr::LOCALHOST.octets().to_vec()),
        ("both.ferrosip.test", 1) => Some(vec![127, 0, 0, 1]),
        ("both.ferrosip.test", 28) => Some(std::net::Ipv6Addr::LOCALHOST.octets().to_vec()),
        _ => None,
    };
    let known = name == "v6only.ferrosip.test" || name == "both.ferrosip.test";
    let mut a = Vec::new();
    a.extend_from_slice(q.get(0..2)?); // id
    a.extend_from_slice(&[0x81, if known { 0x80 } else { 0x83 }]); // response, RD, RA, rcode
    a.extend_from_slice(&[0, 1, 0, u8::from(rdata.is_some()), 0, 0, 0, 0]);
    a.extend_from_slice(question);
    if let Some(r) = rdata {
        a.extend_from_slice(&[0xc0, 12]); // the question's name
        a.extend_from_slice(&qtype.to_be_bytes());
        a.extend_from_slice(&[0, 1, 0, 0, 0, 60]); // IN, TTL 60
        a.extend_from_slice(&u16::try_from(r.len()).ok()?.to_be_bytes());
        a.extend_from_slice(&r);
    }
    Some(a)
}

/// Whether a request whose R-URI is `host`:`port` reaches `port` on ::1, with `params`.
fn reaches_v6(bin: &str, tag: &str, host: &str, params: &str) -> bool {
    let port = free_port();
    let srv_addr = addr(&format!("127.0.0.1:{port}"));
    let target = std::net::UdpSocket::bind("[::1]:0").expect("target");
    let t_port = target.local_addr().expect("target address").port();
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}
listen=udp:[::1]:{port}
children=1
log_stderror=yes
debug=2
use_dns_cache=off
{params}
request_route {{
    forward();
    exit;
}}
"
    );
    let mut srv = start(bin, tag, &cfg, &[srv_addr]);
    let req = format!(
        "OPTIONS sip:x@{host}:{t_port} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK6{tag};rport\r\n\
From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: v6-{tag}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    u.send_to(req.as_bytes(), srv_addr).expect("send");
    let got = collect_udp(&target, Duration::from_secs(2));
    srv.stop();
    got.iter().any(|m| m.starts_with("OPTIONS sip:x@"))
}

/// `src_ip`/`dst_ip` compared with host names, for a request from 127.0.0.1 and one from ::1:
/// the lines the script logs (`host-line <source> <results>`, one letter per comparison that held).
fn host_comparisons(bin: &str, tag: &str) -> Vec<String> {
    let port = free_port();
    let v4 = addr(&format!("127.0.0.1:{port}"));
    let v6 = addr(&format!("[::1]:{port}"));
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\nlisten=udp:[::1]:{port}\nchildren=1\nlog_stderror=yes\n\
debug=2\nuse_dns_cache=off\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
request_route {{
    $var(r) = \"\";
    if (src_ip == both.ferrosip.test) $var(r) = $var(r) + \"b\";
    if (src_ip == v6only.ferrosip.test) $var(r) = $var(r) + \"6\";
    if (src_ip == nx.ferrosip.test) $var(r) = $var(r) + \"n\";
    if (src_ip != nx.ferrosip.test) $var(r) = $var(r) + \"N\";
    if (src_ip == localhost) $var(r) = $var(r) + \"l\";
    if (src_ip == LOCALHOST) $var(r) = $var(r) + \"L\";
    if (src_ip == ip6-nowhere) $var(r) = $var(r) + \"i\";
    if (dst_ip == both.ferrosip.test) $var(r) = $var(r) + \"d\";
    if (src_ip != both.ferrosip.test) $var(r) = $var(r) + \"B\";
    xlog(\"L_INFO\", \"host-line $si [$var(r)]\\n\");
    exit;
}}
"
    );
    let mut srv = start(bin, tag, &cfg, &[v4]);
    for (from, to) in [("127.0.0.1:0", v4), ("[::1]:0", v6)] {
        let u = std::net::UdpSocket::bind(from).expect("udp");
        u.send_to(options(to, "UDP", 1).as_bytes(), to)
            .expect("send");
    }
    let t0 = Instant::now();
    while srv.log_text().matches("host-line").count() < 2 && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    srv.stop();
    let mut lines: Vec<String> = srv
        .log_text()
        .lines()
        .filter_map(|l| l.split_once("host-line ").map(|(_, r)| r.to_string()))
        .collect();
    lines.sort();
    lines
}

/// Sends a request to `name` through a server with `params` that listens on 127.0.0.1 (and ::1
/// with `v6`), so that it looks the name up (the name server does not know it).
fn asked_aaaa(bin: &str, tag: &str, name: &str, params: &str, v6: bool) {
    let port = free_port();
    let srv_addr = addr(&format!("127.0.0.1:{port}"));
    let six = if v6 {
        format!("listen=udp:[::1]:{port}\n")
    } else {
        String::new()
    };
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\n{six}children=1\nlog_stderror=yes\ndebug=2\n\
         use_dns_cache=off\n{params}\nrequest_route {{\n    forward();\n    exit;\n}}\n"
    );
    let mut srv = start(bin, tag, &cfg, &[srv_addr]);
    let req = format!(
        "OPTIONS sip:x@{name}:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKq{tag};rport\r\n\
From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: q-{tag}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    u.send_to(req.as_bytes(), srv_addr).expect("send");
    // The lookup is answered at once (NXDOMAIN); a second for both record types.
    std::thread::sleep(Duration::from_secs(1));
    srv.stop();
}

#[test]
#[ignore = "run inside its namespace by resolver_parameters_in_a_namespace"]
fn dns_inside_a_namespace() {
    if std::env::var_os(DNS_NS).is_none() {
        eprintln!("only meaningful inside the namespace set up by its caller: nothing done");
        return;
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let asked = Asked::default();
    let server = name_server(stop.clone(), asked.clone());
    let mut bins = vec![("fs", ferrosip_bin())];
    match kamailio_bin() {
        Some(k) => bins.push(("kam", k)),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
    for (tag, bin) in &bins {
        // Listening on ::1, an AAAA-only name is reached unless dns_try_ipv6=no.
        assert!(reaches_v6(
            bin,
            &format!("{tag}-v6"),
            "v6only.ferrosip.test",
            ""
        ));
        assert!(!reaches_v6(
            bin,
            &format!("{tag}-v6no"),
            "v6only.ferrosip.test",
            "dns_try_ipv6=no"
        ));
        // Listening on IPv4 only, AAAA records are not asked for, with or without
        // dns_try_ipv6=yes (it turns itself off); listening on ::1 too, they are.
        for (i, (params, v6, want)) in [
            ("", false, false),
            ("dns_try_ipv6=yes", false, false),
            ("dns_try_ipv6=yes", true, true),
        ]
        .into_iter()
        .enumerate()
        {
            let name = format!("probe{i}-{tag}.ferrosip.test");
            asked_aaaa(bin, &format!("{tag}-probe{i}"), &name, params, v6);
            let seen = asked.lock().is_ok_and(|a| a.contains(&(name.clone(), 28)));
            assert_eq!(seen, want, "{tag}: `{params}`, IPv6 listener: {v6}");
        }
        // With both records the A record wins either way.
        assert!(!reaches_v6(
            bin,
            &format!("{tag}-both"),
            "both.ferrosip.test",
            ""
        ));
    }
    // Host names in address comparisons: the address's text, else the name's addresses — the
    // IPv4 ones when it has any (so ::1 is not `both`), else the IPv6 ones; names from /etc/hosts
    // too, as with Kamailio's use_dns_cache=off.
    for (tag, bin) in &bins {
        assert_eq!(
            host_comparisons(bin, &format!("{tag}-hosts")),
            ["127.0.0.1 [bNlLd]", "::1 [6NB]"],
            "{tag}"
        );
    }
    // With one name server glibc waits `t` seconds for each of its `n` tries (its defaults: 5 s,
    // 2 tries, so every case below differs from them).
    for (tag, bin) in bins {
        for (t, n, lo, hi) in [(1, 1, 0.9, 1.9), (2, 1, 1.9, 2.9), (1, 3, 2.9, 3.9)] {
            let took = unanswered_lookup_time(bin, &format!("{tag}-t{t}n{n}"), t, n);
            eprintln!("{tag}: dns_retr_time={t} dns_retr_no={n}: 500 after {took:.2}s");
            assert!(
                took >= lo && took <= hi,
                "{tag}: dns_retr_time={t} dns_retr_no={n}: 500 after {took:.2}s, not {lo}..{hi}s"
            );
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let _ = server.join();
}

/// Set in the environment of the copy of this test binary that runs in the binding namespace.
const BIND_NS: &str = "FERROSIP_BIND_NAMESPACE";

/// `auto_bind_ipv6`, in a network namespace whose only interface is `lo` (127.0.0.1 and ::1):
/// without `listen`, and with a `listen` naming `lo`, the server binds the interface's IPv4
/// address only by default and its IPv6 address too with `auto_bind_ipv6=1`
/// (`bind_inside_a_namespace`, run by this binary there).
#[test]
fn auto_bind_ipv6_in_a_namespace() {
    in_namespace(
        "-n",
        "ip link set lo up",
        "bind_inside_a_namespace",
        BIND_NS,
        120,
    );
}

/// The sockets bound on `port` (UDP, and TCP in the listening state) as "udp 127.0.0.1",
/// "tcp ::1" …, from /proc/net (in the namespace, only the server under test binds anything).
fn bound_on(port: u16) -> Vec<String> {
    let mut out = Vec::new();
    for (file, proto, v6) in [
        ("udp", "udp", false),
        ("udp6", "udp", true),
        ("tcp", "tcp", false),
        ("tcp6", "tcp", true),
    ] {
        let text = std::fs::read_to_string(format!("/proc/net/{file}")).unwrap_or_default();
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (Some(local), Some(state)) = (f.get(1), f.get(3)) else {
                continue;
            };
            // 0A: TCP_LISTEN; UDP sockets show 07 (TCP_CLOSE).
            if proto == "tcp" && *state != "0A" {
                continue;
            }
            let Some((ip, p)) = local.split_once(':') else {
                continue;
            };
            if u16::from_str_radix(p, 16).ok() != Some(port) {
                continue;
            }
            // The address is printed as 32-bit words in host order.
            let words: Vec<u32> = (0..ip.len() / 8)
                .filter_map(|i| u32::from_str_radix(ip.get(i * 8..i * 8 + 8)?, 16).ok())
                .collect();
            let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_ne_bytes()).collect();
            let ip = if v6 {
                <[u8; 16]>::try_from(bytes.as_slice())
                    .map(|b| std::net::Ipv6Addr::from(b).to_string())
            } else {
                <[u8; 4]>::try_from(bytes.as_slice()).map(|b| Ipv4Addr::from(b).to_string())
            };
            if let Ok(ip) = ip {
                out.push(format!("{proto} {ip}"));
            }
        }
    }
    out.sort();
    out
}

#[test]
#[ignore = "run inside its namespace by auto_bind_ipv6_in_a_namespace"]
fn bind_inside_a_namespace() {
    if std::env::var_os(BIND_NS).is_none() {
        eprintln!("only meaningful inside the namespace set up by its caller: nothing done");
        return;
    }
    let mut bins = vec![("fs", ferrosip_bin())];
    match kamailio_bin() {
        Some(k) => bins.push(("kam", k)),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
    let v4 = ["tcp 127.0.0.1", "udp 127.0.0.1"];
    let v4v6 = ["tcp 127.0.0.1", "tcp ::1", "udp 127.0.0.1", "udp ::1"];
    // (parameter line, listen, expected sockets); Kamailio 5.6.3 with auto_bind_ipv6=1 and no
    // listen binds nothing in such a namespace (it does not start serving), so that case is
    // the binary's alone.
    let cases: [(&str, bool, &[&str], bool); 5] = [
        ("", false, &v4, true),
        ("auto_bind_ipv6=0", false, &v4, true),
        ("auto_bind_ipv6=1", false, &v4v6, false),
        ("", true, &v4[1..], true),
        (
            "auto_bind_ipv6=1",
            true,
            &["udp 127.0.0.1", "udp ::1"],
            true,
        ),
    ];
    for (tag, bin) in &bins {
        for (i, (param, listen_lo, want, kam_too)) in cases.iter().enumerate() {
            if *tag == "kam" && !kam_too {
                continue;
            }
            let port = free_port();
            let listen = if *listen_lo {
                format!("listen=udp:lo:{port}\n")
            } else {
                format!("port={port}\n")
            };
            let cfg = format!(
                "{param}\n{listen}children=1\ntcp_children=1\nlog_stderror=yes\ndebug=2\n\
                 request_route {{\n    exit;\n}}\n"
            );
            let mut srv = start(
                bin,
                &format!("{tag}-bind{i}"),
                &cfg,
                &[addr(&format!("127.0.0.1:{port}"))],
            );
            // The other sockets are opened in the same start-up step; a moment for the last.
            std::thread::sleep(Duration::from_millis(500));
            let got = bound_on(port);
            srv.stop();
            assert_eq!(got, *want, "{tag}: `{param}`, listen on lo: {listen_lo}");
        }
    }
}

/// The log line a TCP connection reset by the client leaves (its level and text, with the
/// addresses cut off), for `params`; `None` when nothing is logged.
fn tcp_read_error_line(bin: &str, tag: &str, params: &str) -> Option<String> {
    let port = free_port();
    let srv_addr = addr(&format!("127.0.0.1:{port}"));
    let mut srv = start(bin, tag, &forward_cfg(port, params), &[srv_addr]);
    let mut c = connect_tcp(srv_addr);
    // A CRLF keepalive, which both answer with CRLF, then half a request, so that the server is
    // reading when the client closes with the answer unread — which sends a reset.
    std::io::Write::write_all(
        &mut c,
        b"\r\n\r\nOPTIONS sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:9;branch=z9hG4bKr\r\n",
    )
    .expect("write");
    std::thread::sleep(Duration::from_millis(300));
    drop(c);
    std::thread::sleep(Duration::from_millis(500));
    srv.stop();
    srv.log_text().lines().find_map(|l| {
        let at = l.find("error reading: Connection reset by peer (104)")?;
        let level = l.split(':').next()?.split(' ').next_back()?;
        Some(format!("{level} {}", &l[at..at + 45]))
    })
}

/// `corelog` is the level of the core's traffic messages: a TCP read error is an ERROR line by
/// default, a NOTICE line with `corelog=1` (shown with `debug=2`, not with `debug=0`) — as Kamailio
/// 5.6.3 logs it.
#[test]
fn corelog_sets_the_level_of_tcp_read_errors() {
    let mut bins = vec![("fs", ferrosip_bin())];
    if let Some(k) = kamailio_bin() {
        bins.push(("kam", k));
    }
    let text = "error reading: Connection reset by peer (104)";
    for (tag, bin) in bins {
        for (i, (params, want)) in [
            ("", Some(format!("ERROR {text}"))),
            ("corelog=1", Some(format!("NOTICE {text}"))),
            ("corelog=1\ndebug=0", None),
            ("core_log=-1\ndebug=-1", Some(format!("ERROR {text}"))),
        ]
        .into_iter()
        .enumerate()
        {
            let got = tcp_read_error_line(bin, &format!("{tag}-corelog{i}"), params);
            assert_eq!(got, want, "{tag}: {params:?}");
        }
    }
}

/// A datagram above `msg_recv_max_size` is dropped with a line at `corelog` (Kamailio 6.0's
/// udp_rcv_loop; 5.6.3 has no `msg_recv_max_size`, so the binary alone).
#[test]
fn corelog_sets_the_level_of_too_large_messages() {
    for (i, (params, want)) in [
        ("", Some("ERROR")),
        ("corelog=2", Some("INFO")),
        ("corelog=2\ndebug=1", None),
    ]
    .into_iter()
    .enumerate()
    {
        let port = free_port();
        let srv_addr = addr(&format!("127.0.0.1:{port}"));
        let cfg = forward_cfg(port, &format!("msg_recv_max_size=512\n{params}"));
        let mut srv = start(
            ferrosip_bin(),
            &format!("fs-toolarge{i}"),
            &cfg,
            &[srv_addr],
        );
        let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
        u.send_to(&[b'x'; 600], srv_addr).expect("send");
        std::thread::sleep(Duration::from_millis(500));
        srv.stop();
        let log = srv.log_text();
        let line = log
            .lines()
            .find(|l| l.contains("read message too large: 600 (cfg msg recv max size: 512)"));
        let level = line.and_then(|l| l.split(':').next()?.split(' ').next_back());
        assert_eq!(level, want, "{params:?}: {log}");
    }
}

/// Set in the environment of the copy of this test binary that runs in the mhomed namespace.
const MHOMED_NS: &str = "FERROSIP_MHOMED_NAMESPACE";

/// `mhomed`, in a network namespace where lo has 127.0.0.2/32 too, so that the kernel sends to
/// 127.0.0.2 from 127.0.0.2 and to 127.0.0.1 from 127.0.0.1 (`mhomed_inside_a_namespace`).
#[test]
fn mhomed_in_a_namespace() {
    in_namespace(
        "-n",
        "ip link set lo up && ip addr add 127.0.0.2/32 dev lo",
        "mhomed_inside_a_namespace",
        MHOMED_NS,
        120,
    );
}

/// The top Via host of the request a server listening on UDP 127.0.0.1 and 127.0.0.2 forwards
/// to `target_ip`, having received it on `in_ip`.
fn forwarded_via(bin: &str, tag: &str, params: &str, in_ip: &str, target_ip: &str) -> String {
    let port = free_port();
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\nlisten=udp:127.0.0.2:{port}\nchildren=1\n\
         log_stderror=yes\ndebug=2\n{params}\nrequest_route {{\n    forward();\n    exit;\n}}\n"
    );
    let target = std::net::UdpSocket::bind(format!("{target_ip}:0")).expect("target");
    let t_addr = target.local_addr().expect("target address");
    let mut srv = start(
        bin,
        tag,
        &cfg,
        &[
            addr(&format!("127.0.0.1:{port}")),
            addr(&format!("127.0.0.2:{port}")),
        ],
    );
    let req = format!(
        "OPTIONS sip:x@{t_addr} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKh{tag}\r\n\
From: <sip:t@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: h-{tag}@test\r\n\
CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    u.send_to(req.as_bytes(), addr(&format!("{in_ip}:{port}")))
        .expect("send");
    let got = collect_udp(&target, Duration::from_secs(2));
    srv.stop();
    got.iter()
        .find_map(|m| {
            let via = m.lines().find(|l| l.starts_with("Via: "))?;
            let host = via.strip_prefix("Via: SIP/2.0/UDP ")?.split(':').next()?;
            Some(host.to_string())
        })
        .unwrap_or_else(|| format!("nothing forwarded: {got:?}"))
}

#[test]
#[ignore = "run inside its namespace by mhomed_in_a_namespace"]
fn mhomed_inside_a_namespace() {
    if std::env::var_os(MHOMED_NS).is_none() {
        eprintln!("only meaningful inside the namespace set up by its caller: nothing done");
        return;
    }
    let mut bins = vec![("fs", ferrosip_bin())];
    match kamailio_bin() {
        Some(k) => bins.push(("kam", k)),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
    // (mhomed line, received on, target, our Via)
    let cases = [
        ("", "127.0.0.1", "127.0.0.2", "127.0.0.1"),
        ("mhomed=1", "127.0.0.1", "127.0.0.2", "127.0.0.2"),
        ("mhomed=1", "127.0.0.2", "127.0.0.1", "127.0.0.1"),
        ("mhomed=0", "127.0.0.2", "127.0.0.1", "127.0.0.2"),
    ];
    for (tag, bin) in bins {
        for (i, (params, in_ip, target, want)) in cases.iter().enumerate() {
            let got = forwarded_via(bin, &format!("{tag}-mh{i}"), params, in_ip, target);
            assert_eq!(&got, want, "{tag}: `{params}`, in on {in_ip}, to {target}");
        }
    }
}
