//! The `path` module on the real binary, side by side with Kamailio 5.6.3 on the same config:
//! the Path header `add_path`/`add_path_received` append (user, parameters, the sending socket,
//! `;sn=` with `sockname_mode`, the source of a UDP, TCP and IPv6 request, the order next to
//! another appended header), and `use_received`: after `loose_route()`, the `received` parameter
//! of the Route that named the server becomes `$du` and the request goes there.

#[path = "wire_harness.rs"]
mod harness;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use harness::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn register(ci: &str, proto: &str, via_host: &str, via_port: u16, extra: &str) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/{proto} {via_host}:{via_port};branch=z9hG4bK-{ci}\r\n\
From: <sip:b@example.com>;tag=1\r\nTo: <sip:b@example.com>\r\nCall-ID: {ci}\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:b@127.0.0.1:5092>\r\nMax-Forwards: 70\r\n{extra}\
Content-Length: 0\r\n\r\n"
    )
}

/// The Path headers (and `X-` headers, for their order) of the next request the sink receives.
fn path_lines(sink: &UdpSocket) -> Vec<String> {
    collect_udp(sink, Duration::from_millis(1500))
        .first()
        .map(|m| {
            m.lines()
                .filter(|l| l.starts_with("Path:") || l.starts_with("X-"))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_else(|| vec!["nothing forwarded".into()])
}

/// Every case through `bin`: (case, lines), the TCP source port written as `TCPPORT`.
fn run(bin: &str, tag: &str) -> Vec<(String, Vec<String>)> {
    let port = free_port();
    let sink = UdpSocket::bind("127.0.0.1:0").expect("sink");
    sink.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let sink_port = sink.local_addr().expect("sink address").port();
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\nlisten=udp:[::1]:{port}\n\
children=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"textops.so\"\nloadmodule \"rr.so\"\nloadmodule \"path.so\"\n\
request_route {{\n\
    if ($ci == \"p0\") add_path();\n\
    if ($ci == \"p1\") add_path(\"bob\");\n\
    if ($ci == \"p2\") add_path(\"bob\", \"ob;x=1\");\n\
    if ($ci =~ \"^p3\") add_path_received();\n\
    if ($ci == \"p4\") add_path_received(\"al\");\n\
    if ($ci == \"p5\") add_path_received(\"$fU\", \"y=$rd\");\n\
    if ($ci == \"p6\") {{ add_path(\"a\"); append_hf(\"X-Mid: 1\\r\\n\"); add_path(\"b\"); }}\n\
    if ($ci == \"p7\") add_path(\"\");\n\
    forward_udp(\"127.0.0.1\", {sink_port});\n\
    exit;\n\
}}\n"
    );
    let to = addr(&format!("127.0.0.1:{port}"));
    let mut srv = start(bin, tag, &cfg, &[to]);
    let mut out = Vec::new();
    let u = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let up = u.local_addr().expect("udp address").port();
    for ci in ["p0", "p1", "p2", "p3", "p4", "p5", "p6", "p7"] {
        u.send_to(register(ci, "UDP", "127.0.0.1", up, "").as_bytes(), to)
            .expect("send");
        let lines = path_lines(&sink)
            .into_iter()
            .map(|l| l.replace(&format!(":{up}"), ":UDPPORT"))
            .collect();
        out.push((ci.to_string(), lines));
    }
    let mut t = TcpStream::connect(to).expect("tcp");
    let tp = t.local_addr().expect("tcp address").port();
    t.write_all(register("p3t", "TCP", "127.0.0.1", tp, "").as_bytes())
        .expect("tcp send");
    let lines = path_lines(&sink)
        .into_iter()
        .map(|l| l.replace(&format!(":{tp}"), ":TCPPORT"))
        .collect();
    out.push(("p3t".to_string(), lines));
    let u6 = UdpSocket::bind("[::1]:0").expect("udp6");
    let p6 = u6.local_addr().expect("udp6 address").port();
    u6.send_to(
        register("p3v6", "UDP", "[::1]", p6, "").as_bytes(),
        addr(&format!("[::1]:{port}")),
    )
    .expect("send6");
    let lines = path_lines(&sink)
        .into_iter()
        .map(|l| l.replace(&format!(":{p6}"), ":UDPPORT"))
        .collect();
    out.push(("p3v6".to_string(), lines));
    srv.stop();
    out
}

#[test]
fn path_headers_like_kamailio() {
    let ours = run(ferrosip_bin(), "pathf");
    let want: &[(&str, &[&str])] = &[
        ("p0", &["Path: <sip:127.0.0.1:PORT;lr>"]),
        ("p1", &["Path: <sip:bob@127.0.0.1:PORT;lr>"]),
        ("p2", &["Path: <sip:bob@127.0.0.1:PORT;lr;ob;x=1>"]),
        (
            "p3",
            &["Path: <sip:127.0.0.1:PORT;lr;received=sip:127.0.0.1:UDPPORT>"],
        ),
        (
            "p4",
            &["Path: <sip:al@127.0.0.1:PORT;lr;received=sip:127.0.0.1:UDPPORT>"],
        ),
        (
            "p5",
            &["Path: <sip:b@127.0.0.1:PORT;lr;received=sip:127.0.0.1:UDPPORT;y=example.com>"],
        ),
        (
            "p6",
            &[
                "Path: <sip:a@127.0.0.1:PORT;lr>",
                "X-Mid: 1",
                "Path: <sip:b@127.0.0.1:PORT;lr>",
            ],
        ),
        ("p7", &["Path: <sip:127.0.0.1:PORT;lr>"]),
        (
            "p3t",
            &["Path: <sip:127.0.0.1:PORT;lr;received=sip:127.0.0.1:TCPPORT%3Btransport%3Dtcp>"],
        ),
        (
            "p3v6",
            &["Path: <sip:127.0.0.1:PORT;lr;received=sip:[::1]:UDPPORT>"],
        ),
    ];
    let norm = |v: &[(String, Vec<String>)]| -> Vec<(String, Vec<String>)> {
        // The server's own port differs between the two runs.
        v.iter()
            .map(|(c, l)| {
                let l = l
                    .iter()
                    .map(|x| {
                        let mut s = x.clone();
                        if let Some(i) = s.find("127.0.0.1:") {
                            let rest = &s[i + 10..];
                            let end = rest.find([';', '>']).unwrap_or(rest.len());
                            if rest[..end].chars().all(|c| c.is_ascii_digit()) {
                                s = format!("{}127.0.0.1:PORT{}", &s[..i], &rest[end..]);
                            }
                        }
                        s
                    })
                    .collect();
                (c.clone(), l)
            })
            .collect()
    };
    let ours = norm(&ours);
    let want: Vec<(String, Vec<String>)> = want
        .iter()
        .map(|(c, l)| (c.to_string(), l.iter().map(|x| x.to_string()).collect()))
        .collect();
    assert_eq!(ours, want);
    match kamailio_bin() {
        Some(kam) => assert_eq!(norm(&run(kam, "pathk")), ours),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
}

/// `sockname_mode=1` puts `;sn=` after the address; `use_received=1` sends a request routed by
/// our Route to its `received` parameter (unquoted, unescaped), not to a later Route's.
fn run_received(bin: &str, tag: &str) -> (Vec<String>, Vec<String>) {
    let port = free_port();
    let sink = UdpSocket::bind("127.0.0.1:0").expect("sink");
    sink.set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let sink_port = sink.local_addr().expect("sink address").port();
    let target = UdpSocket::bind("127.0.0.1:0").expect("target");
    target
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    let tport = target.local_addr().expect("target address").port();
    let cfg = format!(
        "listen=udp:127.0.0.1:{port} name \"s1\"\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"rr.so\"\nloadmodule \"path.so\"\n\
modparam(\"path\", \"use_received\", 1)\nmodparam(\"path\", \"sockname_mode\", 1)\n\
request_route {{\n\
    if ($ci =~ \"^r\") {{\n\
        loose_route();\n\
        xlog(\"L_INFO\", \"du-line $ci $rc [$du]\\n\");\n\
        forward();\n\
        exit;\n\
    }}\n\
    add_path_received(\"u\");\n\
    forward_udp(\"127.0.0.1\", {sink_port});\n\
    exit;\n\
}}\n"
    );
    let to = addr(&format!("127.0.0.1:{port}"));
    let mut srv = start(bin, tag, &cfg, &[to]);
    let u = UdpSocket::bind("127.0.0.1:0").expect("udp");
    let up = u.local_addr().expect("udp address").port();
    u.send_to(register("p", "UDP", "127.0.0.1", up, "").as_bytes(), to)
        .expect("send");
    let path = path_lines(&sink)
        .into_iter()
        .map(|l| {
            l.replace(&format!(":{up}"), ":UDPPORT")
                .replace(&format!(":{port}"), ":PORT")
        })
        .collect();
    let me = format!("127.0.0.1:{port}");
    let routes = [
        format!("<sip:{me};lr;received=sip:127.0.0.1:{tport}>"),
        format!("<sip:u@{me};lr;received=sip:127.0.0.1:{tport}%3Btransport%3Dudp>"),
        format!("<sip:{me};lr;received=\"sip:127.0.0.1:{tport}\">"),
        format!("<sip:{me};lr>,<sip:127.0.0.1:{sink_port};lr;received=sip:127.0.0.1:{tport}>"),
    ];
    let mut arrived = Vec::new();
    for (i, r) in routes.iter().enumerate() {
        let ci = format!("r{i}");
        let msg = register(&ci, "UDP", "127.0.0.1", up, &format!("Route: {r}\r\n"));
        u.send_to(msg.as_bytes(), to).expect("send");
        let at_target = !collect_udp(&target, Duration::from_millis(800)).is_empty();
        let at_sink = !collect_udp(&sink, Duration::from_millis(300)).is_empty();
        arrived.push(format!("{ci} target={at_target} sink={at_sink}"));
    }
    srv.stop();
    let log = srv.log_text();
    let mut lines: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("du-line ").map(|(_, r)| r.to_string()))
        .map(|l| {
            l.replace(&format!(":{tport}"), ":TARGET")
                .replace(&format!(":{sink_port}"), ":SINK")
                .replace(&format!(":{port}"), ":PORT")
        })
        .collect();
    lines.extend(arrived);
    (path, lines)
}

#[test]
fn sockname_mode_and_use_received_like_kamailio() {
    let ours = run_received(ferrosip_bin(), "pathrf");
    assert_eq!(
        ours.0,
        ["Path: <sip:u@127.0.0.1:PORT;sn=s1;lr;received=sip:127.0.0.1:UDPPORT>"]
    );
    assert_eq!(
        ours.1,
        [
            "r0 -3 [sip:127.0.0.1:TARGET]",
            "r1 -3 [sip:127.0.0.1:TARGET;transport=udp]",
            "r2 -3 [sip:127.0.0.1:TARGET]",
            "r3 1 [sip:127.0.0.1:SINK;lr;received=sip:127.0.0.1:TARGET]",
            "r0 target=true sink=false",
            "r1 target=true sink=false",
            "r2 target=true sink=false",
            "r3 target=false sink=true",
        ]
    );
    match kamailio_bin() {
        Some(kam) => assert_eq!(run_received(kam, "pathrk"), ours),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
}

/// `use_received=1` without rr loaded before path: the server does not start (Kamailio 5.6.3:
/// "failed to load rr-API", module init error).
#[test]
fn use_received_without_rr_is_refused_at_start() {
    let dir = scratch("path-norr");
    let cfg = dir.join("k.cfg");
    std::fs::write(
        &cfg,
        format!(
            "listen=udp:127.0.0.1:{}\nloadmodule \"path.so\"\n\
             modparam(\"path\", \"use_received\", 1)\nrequest_route {{ exit; }}\n",
            free_port()
        ),
    )
    .expect("write cfg");
    let out = std::process::Command::new("timeout")
        .arg("20")
        .arg(ferrosip_bin())
        .args(["-DD", "-E", "-f"])
        .arg(&cfg)
        .output()
        .expect("run ferrosip");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started: {err}");
    assert!(err.contains("use_received needs the rr module"), "{err}");
}
