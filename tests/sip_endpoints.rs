//! Scripted SIP endpoints for the black-box tests (`tests/tm_wire.rs`, `tests/tm_more_wire.rs`,
//! `tests/tm_rest_wire.rs`, `tests/tm_uac_wire.rs`, `tests/tm_fns_wire.rs`, `tests/dlgs_wire.rs`),
//! included with `#[path]`: a UDP socket that keeps what it receives, and builders for the UAC's
//! INVITE and in-dialog requests and the UAS's replies.
#![allow(dead_code)]

use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

/// An endpoint: a UDP socket and everything it received.
pub struct Ep {
    pub sock: UdpSocket,
    pub port: u16,
    pub got: Vec<String>,
}

impl Default for Ep {
    fn default() -> Ep {
        Ep::new()
    }
}

impl Ep {
    pub fn new() -> Ep {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let _ = sock.set_read_timeout(Some(Duration::from_millis(50)));
        let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        Ep {
            sock,
            port,
            got: Vec::new(),
        }
    }

    pub fn send(&self, to: SocketAddr, msg: &str) {
        let _ = self.sock.send_to(msg.as_bytes(), to);
    }

    /// Waits for a message whose first line starts with `first`; keeps everything received.
    pub fn expect(&mut self, first: &str, wait: Duration) -> Option<String> {
        let t0 = Instant::now();
        let mut buf = vec![0u8; 65536];
        // Already received?
        if let Some(m) = self.got.iter().find(|m| m.starts_with(first)) {
            return Some(m.clone());
        }
        while t0.elapsed() < wait {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.got.push(m.clone());
                if m.starts_with(first) {
                    return Some(m);
                }
            }
        }
        None
    }

    /// Collects for `wait`.
    pub fn drain(&mut self, wait: Duration) {
        let t0 = Instant::now();
        let mut buf = vec![0u8; 65536];
        while t0.elapsed() < wait {
            if let Ok((n, _)) = self.sock.recv_from(&mut buf) {
                self.got
                    .push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }
}

pub fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .filter(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

/// A UAS reply to `req`: Vias, From, To (with `tag` unless it has one), Call-ID, CSeq, and the
/// Record-Route for 18x/2xx.
pub fn reply(req: &str, code: u16, reason: &str, tag: &str, contact: u16) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    for v in header(req, "Via") {
        out.push_str(v);
        out.push_str("\r\n");
    }
    if (180..300).contains(&code) {
        for r in header(req, "Record-Route") {
            out.push_str(r);
            out.push_str("\r\n");
        }
    }
    for h in ["From", "Call-ID", "CSeq"] {
        for l in header(req, h) {
            out.push_str(l);
            out.push_str("\r\n");
        }
    }
    for l in header(req, "To") {
        out.push_str(l);
        if !l.contains(";tag=") && code > 100 {
            out.push_str(";tag=");
            out.push_str(tag);
        }
        out.push_str("\r\n");
    }
    if (180..300).contains(&code) {
        out.push_str(&format!("Contact: <sip:uas@127.0.0.1:{contact}>\r\n"));
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

pub fn invite(uac: u16, user: &str, call: &str) -> String {
    format!(
        "INVITE sip:{user}@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{uac};branch=z9hG4bK-{call}-1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@127.0.0.1>;tag=a-{call}\r\n\
To: <sip:{user}@127.0.0.1>\r\n\
Call-ID: {call}@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@127.0.0.1:{uac}>\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// An in-dialog request from the UAC after the 2xx `ok`: Route from its Record-Route (reversed),
/// R-URI = the UAS Contact.
pub fn in_dialog(uac: u16, ok: &str, method: &str, cseq: u32, call: &str) -> String {
    let contact = header(ok, "Contact")
        .first()
        .and_then(|c| c.split('<').nth(1))
        .and_then(|c| c.split('>').next())
        .unwrap_or("sip:x@127.0.0.1")
        .to_string();
    let mut routes: Vec<&str> = header(ok, "Record-Route")
        .iter()
        .map(|l| l.split_once(':').map_or("", |x| x.1).trim())
        .collect();
    routes.reverse();
    let to = header(ok, "To")
        .first()
        .copied()
        .unwrap_or("To: <x>")
        .to_string();
    let mut out = format!(
        "{method} {contact} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{uac};branch=z9hG4bK-{call}-{method}-{cseq};rport\r\n\
Max-Forwards: 70\r\n"
    );
    for r in routes {
        out.push_str(&format!("Route: {r}\r\n"));
    }
    out.push_str(&format!(
        "From: <sip:alice@127.0.0.1>;tag=a-{call}\r\n{to}\r\nCall-ID: {call}@127.0.0.1\r\nCSeq: {cseq} {method}\r\nContent-Length: 0\r\n\r\n"
    ));
    out
}

/// Strips what legitimately differs between runs and servers.
pub fn normalise(s: &str, ports: &[(u16, &str)]) -> String {
    let mut out = String::new();
    for line in s.split("\r\n") {
        let mut l = line.to_string();
        for (p, name) in ports {
            l = l.replace(&format!(":{p}"), &format!(":<{name}>"));
            l = l.replace(&format!("={p}"), &format!("=<{name}>"));
        }
        // Branches of the proxy, to-tags it generates, the Server header's version.
        for key in ["branch=z9hG4bK", "tag="] {
            if let Some(i) = l.find(key) {
                let start = i + key.len();
                // A header's tag runs to the next parameter; `ftag=` sits inside `<…>`. (Kamailio
                // 5.6.3's sl to-tag has been seen with a `>` in it.)
                let in_uri = key == "tag=" && i > 0 && l.as_bytes().get(i - 1) == Some(&b'f');
                let stops: &[char] = if in_uri {
                    &[';', ',', ' ', '>']
                } else {
                    &[';', ',', ' ']
                };
                let end = l[start..].find(stops).map_or(l.len(), |e| start + e);
                let val = &l[start..end];
                if !(val.starts_with('-') || val.starts_with("a-") || val.len() <= 3) {
                    l.replace_range(start..end, "<GEN>");
                }
            }
        }
        if l.starts_with("Server:") || l.starts_with("User-Agent:") {
            l = "Server: <SERVER>".into();
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// A socket address written in a test (`"127.0.0.1:5060"`).
pub fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// What a scenario saw: per endpoint (or per observation), the normalised messages in arrival
/// order.
pub type Seen = Vec<(String, Vec<String>)>;

/// How long an endpoint waits for a message it expects.
pub const W: Duration = Duration::from_secs(3);

/// The tm scenarios' cast: the proxy under test, a UAC and two UASs.
pub struct Run {
    pub proxy: SocketAddr,
    pub uac: Ep,
    pub uas1: Ep,
    pub uas2: Ep,
}

/// The messages seen under `key`.
pub fn lines(seen: &Seen, key: &str) -> Vec<String> {
    seen.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.clone())
        .unwrap_or_default()
}

/// The first line of each message seen under `key`.
pub fn first_lines(seen: &Seen, key: &str) -> Vec<String> {
    lines(seen, key)
        .iter()
        .map(|m| m.lines().next().unwrap_or("").to_string())
        .collect()
}

/// The `name:` header lines of every message seen under `key`.
pub fn headers_of(seen: &Seen, key: &str, name: &str) -> Vec<String> {
    lines(seen, key)
        .iter()
        .flat_map(|m| {
            m.lines()
                .filter(|l| l.starts_with(&format!("{name}:")))
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .collect()
}
