//! corex's socket functions, sl's `sl_forward_reply` and kex's `setdebug`/`resetdebug`, run on
//! ferrosip and on Kamailio 5.6.3 with the same config and the same datagrams; the script's log
//! lines and what each peer receives (first line, and from which server port) must be the same:
//! - two listening sockets (named `one` and `two`); `is_socket_name`;
//! - `set_send_socket`/`set_send_socket_name` switching the source of a forwarded request;
//! - `set_recv_socket`/`set_recv_socket_name` changing `$Ri`/`$Rp`/`$Rn` (and the socket the
//!   stateless reply leaves from);
//! - `sendx` sending data from the second socket;
//! - corex's `forward_reply()`, and `sl_forward_reply` in `onreply_route` relaying a reply with another code and reason, and
//!   refusing a change of class (the core relays the reply unchanged then);
//! - `setdebug(3)` making an `xlog("L_DBG")` line appear, for the next message of the same worker
//!   too, until `resetdebug()`.

use std::io::Read;
use std::net::UdpSocket;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

const KAMAILIO: &str = "/usr/sbin/kamailio";

fn free_udp() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").expect("a free port")
}

fn port_of(s: &UdpSocket) -> u16 {
    s.local_addr().map(|a| a.port()).unwrap_or(0)
}

fn request(user: &str, local: u16, server: u16, call: &str, cseq: u32) -> String {
    format!(
        "OPTIONS sip:{user}@127.0.0.1:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{call}\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:{user}@127.0.0.1>\r\nCall-ID: {call}\r\nCSeq: {cseq} OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    )
}

/// A 200 OK for a relayed request: its Via, From, To, Call-ID and CSeq lines copied.
fn reply_to(req: &str) -> String {
    let mut out = String::from("SIP/2.0 200 OK\r\n");
    for l in req.split("\r\n") {
        let name = l.split(':').next().unwrap_or("").to_ascii_lowercase();
        if ["via", "from", "to", "call-id", "cseq"].contains(&name.as_str()) {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

#[derive(Debug, PartialEq, Eq)]
struct Seen {
    logs: Vec<String>,
    got: Vec<String>,
}

fn recv(s: &UdpSocket, buf: &mut [u8]) -> Option<(String, u16)> {
    s.recv_from(buf)
        .ok()
        .map(|(n, from)| (String::from_utf8_lossy(&buf[..n]).into_owned(), from.port()))
}

fn first(s: &str) -> &str {
    s.split("\r\n").next().unwrap_or("")
}

fn run(bin: &str, kamailio: bool, tag: &str) -> Seen {
    let dir = std::env::temp_dir().join(format!("ferrosip-corexsl-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let client = free_udp();
    let uas = free_udp();
    let (sport, sport2) = (port_of(&free_udp()), port_of(&free_udp()));
    let (cport, uport) = (port_of(&client), port_of(&uas));
    let text = CFG
        .replace("SPORT2", &sport2.to_string())
        .replace("SPORT", &sport.to_string())
        .replace("UPORT", &uport.to_string());
    let path = dir.join("c.cfg");
    std::fs::write(&path, text).expect("config");
    let mut cmd = Command::new(bin);
    cmd.args(["-DD", "-E", "-f"]).arg(&path).arg("-Y").arg(&dir);
    if kamailio {
        cmd.args(["-w"]).arg(&dir);
    }
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    for s in [&client, &uas] {
        s.set_read_timeout(Some(Duration::from_millis(400)))
            .expect("timeout");
    }
    let mut buf = vec![0u8; 65536];
    let mut got = Vec::new();
    let ping = request("ping", cport, sport, "ping", 1);
    let mut up = false;
    for _ in 0..40 {
        let _ = client.send_to(ping.as_bytes(), ("127.0.0.1", sport));
        if client.recv_from(&mut buf).is_ok() {
            up = true;
            break;
        }
    }
    let name = |p: u16| {
        if p == sport {
            "SPORT"
        } else if p == sport2 {
            "SPORT2"
        } else {
            "other"
        }
    };
    if up {
        // Forwarded requests: from which server socket they reach the UAS.
        for user in ["sock", "sockn", "plain"] {
            let r = request(user, cport, sport, &format!("c-{user}"), 1);
            let _ = client.send_to(r.as_bytes(), ("127.0.0.1", sport));
            got.push(match recv(&uas, &mut buf) {
                Some((m, p)) => format!("uas: {} from {}", first(&m), name(p)),
                None => "uas: nothing".into(),
            });
        }
        // Stateless replies after set_recv_socket[_name]: from which socket they come.
        for user in ["recv", "recvn", "badsock"] {
            let r = request(user, cport, sport, &format!("c-{user}"), 1);
            let _ = client.send_to(r.as_bytes(), ("127.0.0.1", sport));
            got.push(match recv(&client, &mut buf) {
                Some((m, p)) => format!("client: {} from {}", first(&m), name(p)),
                None => "client: nothing".into(),
            });
        }
        // sendx: the data reaches the UAS from the second socket.
        let r = request("sendx", cport, sport, "c-sendx", 1);
        let _ = client.send_to(r.as_bytes(), ("127.0.0.1", sport));
        got.push(match recv(&uas, &mut buf) {
            Some((m, p)) => format!("uas: {m} from {}", name(p)),
            None => "uas: nothing".into(),
        });
        let _ = recv(&client, &mut buf);
        // Replies relayed by sl_forward_reply (CSeq 2: 202 Changed; 3: class change refused).
        for cseq in [2u32, 3, 4, 5] {
            let r = request("fwd", cport, sport, &format!("c-fwd{cseq}"), cseq);
            let _ = client.send_to(r.as_bytes(), ("127.0.0.1", sport));
            let Some((m, _)) = recv(&uas, &mut buf) else {
                got.push("uas: nothing".into());
                continue;
            };
            let _ = uas.send_to(reply_to(&m).as_bytes(), ("127.0.0.1", sport));
            got.push(match recv(&client, &mut buf) {
                Some((m, p)) => format!("client: {} from {}", first(&m), name(p)),
                None => "client: nothing".into(),
            });
        }
        // setdebug / resetdebug over three messages of the same worker.
        for (i, user) in ["dbg1", "dbg2", "dbg3"].iter().enumerate() {
            let r = request(user, cport, sport, &format!("c-{user}-{i}"), 1);
            let _ = client.send_to(r.as_bytes(), ("127.0.0.1", sport));
            let _ = recv(&client, &mut buf);
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(up, "{bin} did not answer; stderr:\n{err}");
    let norm = |s: &str| {
        s.replace(&sport2.to_string(), "SPORT2")
            .replace(&sport.to_string(), "SPORT")
            .replace(&uport.to_string(), "UPORT")
            .replace(&cport.to_string(), "CPORT")
    };
    Seen {
        logs: err
            .lines()
            .filter_map(|l| l.split_once("T: ").map(|(_, t)| norm(t)))
            .collect(),
        got: got.iter().map(|g| norm(g)).collect(),
    }
}

const CFG: &str = r#"#!KAMAILIO
listen=udp:127.0.0.1:SPORT name "one"
listen=udp:127.0.0.1:SPORT2 name "two"
children=1
disable_tcp=yes
debug=2
log_stderror=yes
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "sl.so"
loadmodule "corex.so"
loadmodule "kex.so"

request_route {
    if ($rU == "sock") {
        if (is_socket_name("two") && !is_socket_name("three")) {
            xlog("L_ERR", "T: names ok\n");
        }
        set_send_socket("udp:127.0.0.1:SPORT2");
        $du = "sip:127.0.0.1:UPORT";
        forward();
        exit;
    }
    if ($rU == "sockn") {
        set_send_socket_name("two");
        $du = "sip:127.0.0.1:UPORT";
        forward();
        exit;
    }
    if ($rU == "plain") {
        $du = "sip:127.0.0.1:UPORT";
        forward();
        exit;
    }
    if ($rU == "recv") {
        xlog("L_ERR", "T: before $Ri:$Rp $Rn\n");
        set_recv_socket("udp:127.0.0.1:SPORT2");
        xlog("L_ERR", "T: after $Ri:$Rp $Rn\n");
        sl_send_reply("200", "Recv");
        exit;
    }
    if ($rU == "recvn") {
        set_recv_socket_name("two");
        xlog("L_ERR", "T: after name $Ri:$Rp $Rn\n");
        sl_send_reply("200", "RecvName");
        exit;
    }
    if ($rU == "badsock") {
        if (set_send_socket("udp:127.0.0.1:1")) {
            xlog("L_ERR", "T: unknown socket accepted\n");
        }
        sl_send_reply("404", "Bad Socket");
        exit;
    }
    if ($rU == "sendx") {
        sendx("sip:127.0.0.1:UPORT", "udp:127.0.0.1:SPORT2", "hello sendx");
        sl_send_reply("200", "Sent");
        exit;
    }
    if ($rU == "fwd") {
        $du = "sip:127.0.0.1:UPORT";
        forward();
        exit;
    }
    if ($rU == "dbg1") {
        xlog("L_DBG", "T: dbg1 before\n");
        setdebug(3);
        xlog("L_DBG", "T: dbg1 after\n");
    }
    if ($rU == "dbg2") {
        xlog("L_DBG", "T: dbg2 kept\n");
        resetdebug();
        xlog("L_DBG", "T: dbg2 reset\n");
    }
    if ($rU == "dbg3") {
        xlog("L_DBG", "T: dbg3\n");
    }
    sl_send_reply("200", "OK");
}

onreply_route {
    xlog("L_ERR", "T: reply $rs $cs on $Rp\n");
    if ($cs == 2) {
        sl_forward_reply("202", "Changed");
        drop;
    }
    if ($cs == 3) {
        if (!sl_forward_reply("404")) {
            xlog("L_ERR", "T: class change refused\n");
        }
    }
    if ($cs == 4) {
        sl_forward_reply("299");
        drop;
    }
    if ($cs == 5) {
        forward_reply();
        drop;
    }
}
"#;

#[test]
fn corex_sl_kex_against_kamailio() {
    let theirs = Path::new(KAMAILIO)
        .exists()
        .then(|| run(KAMAILIO, true, "kam"));
    eprintln!("kamailio: {theirs:#?}");
    let ours = run(env!("CARGO_BIN_EXE_ferrosip"), false, "ours");
    let want = vec![
        "uas: OPTIONS sip:sock@127.0.0.1:SPORT SIP/2.0 from SPORT2",
        "uas: OPTIONS sip:sockn@127.0.0.1:SPORT SIP/2.0 from SPORT2",
        "uas: OPTIONS sip:plain@127.0.0.1:SPORT SIP/2.0 from SPORT",
        "client: SIP/2.0 200 Recv from SPORT2",
        "client: SIP/2.0 200 RecvName from SPORT2",
        "client: SIP/2.0 404 Bad Socket from SPORT",
        "uas: hello sendx from SPORT2",
        "client: SIP/2.0 202 Changed from SPORT",
        "client: SIP/2.0 200 OK from SPORT",
        "client: SIP/2.0 299 OK from SPORT",
        "client: SIP/2.0 200 OK from SPORT",
    ];
    assert_eq!(ours.got, want, "logs: {:#?}", ours.logs);
    let log_want = vec![
        "names ok",
        "before 127.0.0.1:SPORT one",
        "after 127.0.0.1:SPORT2 two",
        "after name 127.0.0.1:SPORT2 two",
        "unknown socket accepted",
        "reply 200 2 on SPORT",
        "reply 200 3 on SPORT",
        "class change refused",
        "reply 200 4 on SPORT",
        "reply 200 5 on SPORT",
        "dbg1 after",
        "dbg2 kept",
    ];
    assert_eq!(ours.logs, log_want);
    match theirs {
        Some(k) => assert_eq!(ours, k),
        None => eprintln!("kamailio not installed: comparison skipped"),
    }
}
