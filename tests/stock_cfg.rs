//! The stock `kamailio.cfg` files run unmodified on ferrosip and answer as Kamailio does
//! (issue #7, "Done when"): Debian's `/etc/kamailio/kamailio.cfg` (Kamailio 5.6's file, installed
//! with the kamailio package) and Kamailio 6.0.7's `etc/kamailio.cfg` (not committed: fetched
//! into `scratch/stock/kamailio-6.0.cfg` by `scripts/fetch-stock-cfg.sh`, or named by
//! `FERROSIP_STOCK60_CFG`; that part is skipped with a message when the file is absent).
//!
//! Each file is started, with no define, on ferrosip and on Kamailio 5.6.3 (`/usr/sbin/kamailio`),
//! listening on 127.0.0.1 only (`-l` overrides the file's listen) with a scratch run dir (`-Y`).
//! Then, against each server: `sipsak -s` (200 Keepalive), sipsak's usrloc mode, and scripted UDP
//! endpoints: REGISTER of alice and bob, INVITE alice→bob with 100/180/200, ACK and BYE along the
//! Record-Route, MESSAGE, unknown user (404), foreign domain (403 Not relaying), a scanner's
//! User-Agent (silence), Max-Forwards 0 (483), no R-URI user (484), unregistration. What every
//! endpoint receives is normalised (branches, tags, ports, Server/User-Agent, Date, the 5.6 vs 6.0
//! position of `received` in generated replies) and compared message by message; so are the
//! `ACC:` lines both servers log for the calls.
//!
//! `FERROSIP_STOCK_DUMP=DIR` writes what was compared, per server, to `DIR/<run>.txt`.
//!
//! Kamailio 5.6.3 cannot load the 6.0 file as it is (no `dlgs` module, no `send_reply_error`):
//! it runs a copy with those lines mechanically adapted ([`stock_support::for_kamailio56`]); ferrosip always runs
//! the file itself. docs/stock-config.md lists what differs and why.

#[path = "wire_harness.rs"]
mod harness;
#[path = "stock_support.rs"]
mod stock_support;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::{ci, have, kamailio_bin, scratch, Server};
use stock_support::for_kamailio56;

/// Debian's stock configuration (Kamailio 5.6).
const DEBIAN_CFG: &str = "/etc/kamailio/kamailio.cfg";

/// Where scripts/fetch-stock-cfg.sh puts Kamailio 6.0.7's `etc/kamailio.cfg`.
const STOCK60_SCRATCH: &str = "scratch/stock/kamailio-6.0.cfg";

/// A free port with four digits: sipsak 0.9.8 drops the fifth digit of a port in the R-URI.
fn port4() -> u16 {
    let seed = std::process::id() as u64
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() as u64);
    for i in 0..400u64 {
        let p = 5100 + ((seed.wrapping_mul(2654435761).wrapping_add(i * 7919)) % 4800) as u16;
        if UdpSocket::bind(("127.0.0.1", p)).is_ok()
            && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        {
            return p;
        }
    }
    panic!("no free four-digit port");
}

/// Starts `bin` on the config file `cfg` (not copied: `import_file` resolves next to it) with
/// `-l` for UDP and TCP on 127.0.0.1:`port` and a scratch run dir.
fn start_file(bin: &str, name: &str, cfg: &Path, port: u16) -> Server {
    let dir = scratch(name);
    let run = dir.join("run");
    let _ = std::fs::remove_dir_all(&run);
    let _ = std::fs::create_dir_all(&run);
    let log = dir.join("server.log");
    let logf = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
    let d = |p: &Path| p.to_string_lossy().into_owned();
    let mut args: Vec<String> = vec![
        "-f".into(),
        d(cfg),
        "-DD".into(),
        "-E".into(),
        "-Y".into(),
        d(&run),
        "-w".into(),
        d(&dir),
        "-l".into(),
        format!("udp:127.0.0.1:{port}"),
        "-l".into(),
        format!("tcp:127.0.0.1:{port}"),
    ];
    if bin.contains("kamailio") {
        args.extend(["-m".into(), "64".into(), "-M".into(), "8".into()]);
    }
    let child = Command::new(bin)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logf)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let mut s = Server { child, dir, log };
    let proxy = proxy_addr(port);
    let probe = Ua::new("probe");
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("{bin} exited early ({st}): {}", s.log_text());
        }
        probe.send(proxy, &keepalive(probe.port, port, "probe"));
        if probe.recv(Duration::from_millis(200)).is_some() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{bin} did not answer: {}",
            s.log_text()
        );
    }
    s
}

fn proxy_addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A scripted user agent: a UDP socket on 127.0.0.1 and what it received.
struct Ua {
    name: &'static str,
    sock: UdpSocket,
    port: u16,
    got: Vec<String>,
}

impl Ua {
    fn new(name: &'static str) -> Ua {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let port = sock.local_addr().map(|a| a.port()).unwrap_or(0);
        Ua {
            name,
            sock,
            port,
            got: Vec::new(),
        }
    }

    fn send(&self, to: SocketAddr, msg: &str) {
        let _ = self.sock.send_to(msg.as_bytes(), to);
    }

    fn recv(&self, wait: Duration) -> Option<String> {
        let _ = self
            .sock
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))));
        let mut buf = vec![0u8; 65536];
        let (n, _) = self.sock.recv_from(&mut buf).ok()?;
        Some(String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned())
    }

    /// Waits for a message whose first line starts with `first`; keeps everything received.
    fn expect(&mut self, first: &str) -> String {
        self.expect_in(first, "")
    }

    /// [`Ua::expect`] for a message that also contains `text` (a CSeq line …).
    fn expect_in(&mut self, first: &str, text: &str) -> String {
        let hit = |m: &String| m.starts_with(first) && m.contains(text);
        if let Some(m) = self.got.iter().find(|m| hit(m)) {
            return m.clone();
        }
        let t0 = Instant::now();
        while t0.elapsed() < WAIT {
            if let Some(m) = self.recv(Duration::from_millis(50)) {
                self.got.push(m.clone());
                if hit(&m) {
                    return m;
                }
            }
        }
        String::new()
    }

    /// Collects for `wait`.
    fn drain(&mut self, wait: Duration) {
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            if let Some(m) = self.recv(Duration::from_millis(20)) {
                self.got.push(m);
            }
        }
    }
}

const WAIT: Duration = Duration::from_secs(3);

fn header<'a>(msg: &'a str, name: &str) -> Vec<&'a str> {
    msg.split("\r\n")
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter(|l| {
            l.split(':')
                .next()
                .is_some_and(|n| n.trim().eq_ignore_ascii_case(name))
        })
        .collect()
}

/// Request lines and headers every scripted request shares.
#[allow(clippy::too_many_arguments)]
fn request(
    method: &str,
    ruri: &str,
    ua: &Ua,
    from_user: &str,
    to: &str,
    call: &str,
    cseq: u32,
    extra: &str,
    body: &str,
) -> String {
    format!(
        "{method} {ruri} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-t-{call}-{cseq}{m};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:{from_user}@127.0.0.1>;tag=t-{call}\r\n\
To: {to}\r\n\
Call-ID: {call}@stock\r\n\
CSeq: {cseq} {method}\r\n\
User-Agent: stock-test\r\n\
{extra}Content-Length: {len}\r\n\r\n{body}",
        port = ua.port,
        m = method.to_ascii_lowercase(),
        len = body.len()
    )
}

fn keepalive(from: u16, port: u16, call: &str) -> String {
    format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{from};branch=z9hG4bK-t-{call};rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:probe@127.0.0.1>;tag=t-{call}\r\n\
To: <sip:127.0.0.1:{port}>\r\n\
Call-ID: {call}@stock\r\n\
CSeq: 1 OPTIONS\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn register(ua: &Ua, proxy: u16, user: &str, call: &str, cseq: u32, expires: u32) -> String {
    let contact = format!(
        "Contact: <sip:{user}@127.0.0.1:{port}>\r\nExpires: {expires}\r\n",
        port = ua.port
    );
    request(
        "REGISTER",
        &format!("sip:127.0.0.1:{proxy}"),
        ua,
        user,
        &format!("<sip:{user}@127.0.0.1>"),
        call,
        cseq,
        &contact,
        "",
    )
}

const SDP: &str = "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n\
t=0 0\r\nm=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

fn invite(ua: &Ua, ruri: &str, call: &str) -> String {
    let contact = format!(
        "Contact: <sip:alice@127.0.0.1:{}>\r\nContent-Type: application/sdp\r\n",
        ua.port
    );
    let to = format!("<{ruri}>");
    request("INVITE", ruri, ua, "alice", &to, call, 1, &contact, SDP)
}

/// The ACK to a negative final reply `rpl` of `inv` (same branch, To with the reply's tag).
fn ack_negative(inv: &str, rpl: &str) -> String {
    same_branch(inv, "ACK", Some(rpl))
}

/// A request on the INVITE `inv`'s branch (ACK to a negative reply, CANCEL): same R-URI, Via,
/// From, Call-ID and CSeq number, no body; the To of `rpl` when given.
fn same_branch(inv: &str, method: &str, rpl: Option<&str>) -> String {
    let old_to = header(inv, "To").first().copied().unwrap_or("To: <x>");
    let to = rpl
        .and_then(|r| header(r, "To").first().copied())
        .unwrap_or(old_to);
    let head = inv.split("\r\n\r\n").next().unwrap_or(inv);
    let mut out = head
        .replacen("INVITE ", &format!("{method} "), 1)
        .replace("CSeq: 1 INVITE", &format!("CSeq: 1 {method}"))
        .replace(old_to, to)
        .split("\r\n")
        .filter(|l| {
            !(l.starts_with("Content-Type:")
                || l.starts_with("Contact:")
                || l.starts_with("Content-Length:"))
        })
        .collect::<Vec<_>>()
        .join("\r\n");
    out.push_str("\r\nContent-Length: 0\r\n\r\n");
    out
}

/// A UAS reply to `req`: Vias, Record-Route (18x/2xx), From, To (+`tag` unless present),
/// Call-ID, CSeq, Contact (18x/2xx).
fn reply(req: &str, code: u16, reason: &str, ua: &Ua, tag: &str) -> String {
    let mut out = format!("SIP/2.0 {code} {reason}\r\n");
    let copy = |out: &mut String, name: &str| {
        for l in header(req, name) {
            out.push_str(l);
            out.push_str("\r\n");
        }
    };
    copy(&mut out, "Via");
    if (180..300).contains(&code) {
        copy(&mut out, "Record-Route");
    }
    copy(&mut out, "From");
    for l in header(req, "To") {
        out.push_str(l);
        if !l.contains(";tag=") {
            out.push_str(";tag=");
            out.push_str(tag);
        }
        out.push_str("\r\n");
    }
    copy(&mut out, "Call-ID");
    copy(&mut out, "CSeq");
    if (180..300).contains(&code) {
        out.push_str(&format!(
            "Contact: <sip:{}@127.0.0.1:{}>\r\n",
            ua.name, ua.port
        ));
    }
    out.push_str("User-Agent: stock-test\r\nContent-Length: 0\r\n\r\n");
    out
}

/// An in-dialog request of the caller after the 2xx `ok`: R-URI = the callee's Contact, Route
/// from the Record-Route (reversed), To with the callee's tag.
fn in_dialog(ua: &Ua, ok: &str, method: &str, cseq: u32, call: &str) -> String {
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
    let extra: String = routes.iter().map(|r| format!("Route: {r}\r\n")).collect();
    let to = header(ok, "To").first().copied().unwrap_or("To: <x>");
    let to = to.split_once(':').map_or("", |x| x.1).trim();
    request(method, &contact, ua, "alice", to, call, cseq, &extra, "")
}

/// The endpoints of one server's run and what they received.
struct Run {
    proxy: SocketAddr,
    alice: Ua,
    bob: Ua,
    /// bob's second device (the fork flow).
    bob2: Ua,
    /// Extra observations (sipsak output, ACC lines), by name.
    notes: Vec<(String, Vec<String>)>,
}

fn registrations(r: &mut Run) {
    let m = register(&r.alice, r.proxy.port(), "alice", "reg-a", 1, 300);
    r.alice.send(r.proxy, &m);
    r.alice.expect("SIP/2.0 200");
    let m = register(&r.bob, r.proxy.port(), "bob", "reg-b", 1, 300);
    r.bob.send(r.proxy, &m);
    r.bob.expect("SIP/2.0 200");
}

/// A URI of the proxy's domain: `uri==myself` compares the port too (5060 when absent).
fn local(r: &Run, user: &str) -> String {
    if user.is_empty() {
        format!("sip:127.0.0.1:{}", r.proxy.port())
    } else {
        format!("sip:{user}@127.0.0.1:{}", r.proxy.port())
    }
}

fn call(r: &mut Run) {
    let inv = invite(&r.alice, &local(r, "bob"), "call");
    r.alice.send(r.proxy, &inv);
    let req = r.bob.expect("INVITE");
    r.bob
        .send(r.proxy, &reply(&req, 180, "Ringing", &r.bob, "t-bob"));
    r.alice.expect("SIP/2.0 180");
    r.bob
        .send(r.proxy, &reply(&req, 200, "OK", &r.bob, "t-bob"));
    let ok = r.alice.expect("SIP/2.0 200");
    r.alice
        .send(r.proxy, &in_dialog(&r.alice, &ok, "ACK", 1, "call"));
    r.bob.expect("ACK");
    r.alice
        .send(r.proxy, &in_dialog(&r.alice, &ok, "BYE", 2, "call"));
    let bye = r.bob.expect("BYE");
    r.bob
        .send(r.proxy, &reply(&bye, 200, "OK", &r.bob, "t-bob"));
    r.alice.expect_in("SIP/2.0 200", "CSeq: 2 BYE");
    r.alice.drain(Duration::from_millis(200));
    r.bob.drain(Duration::from_millis(100));
}

fn message(r: &mut Run) {
    let m = request(
        "MESSAGE",
        &local(r, "bob"),
        &r.alice,
        "alice",
        "<sip:bob@127.0.0.1>",
        "msg",
        1,
        "Content-Type: text/plain\r\n",
        "hello",
    );
    r.alice.send(r.proxy, &m);
    let req = r.bob.expect("MESSAGE");
    r.bob
        .send(r.proxy, &reply(&req, 200, "OK", &r.bob, "t-bob"));
    r.alice.drain(Duration::from_millis(300));
}

/// bob registers a second device with a lower q: an INVITE to bob forks to both (lookup makes
/// a branch per contact); bob2 rings, bob answers, bob2 is cancelled (487, ACK).
fn fork(r: &mut Run) {
    let m = register(&r.bob2, r.proxy.port(), "bob", "reg-b2", 1, 300)
        .replace(">\r\nExpires:", ">;q=0.5\r\nExpires:");
    r.bob2.send(r.proxy, &m);
    r.bob2.expect("SIP/2.0 200");
    let inv = invite(&r.alice, &local(r, "bob"), "fork");
    r.alice.send(r.proxy, &inv);
    let req1 = r.bob.expect("INVITE");
    let req2 = r.bob2.expect("INVITE");
    r.bob2
        .send(r.proxy, &reply(&req2, 180, "Ringing", &r.bob2, "t-bob2"));
    r.alice.expect("SIP/2.0 180");
    r.bob
        .send(r.proxy, &reply(&req1, 200, "OK", &r.bob, "t-bob"));
    let ok = r.alice.expect("SIP/2.0 200");
    let c = r.bob2.expect("CANCEL");
    r.bob2
        .send(r.proxy, &reply(&c, 200, "OK", &r.bob2, "t-bob2"));
    r.bob2.send(
        r.proxy,
        &reply(&req2, 487, "Request Terminated", &r.bob2, "t-bob2"),
    );
    r.bob2.expect("ACK");
    r.alice
        .send(r.proxy, &in_dialog(&r.alice, &ok, "ACK", 1, "fork"));
    r.bob.expect("ACK");
    r.alice
        .send(r.proxy, &in_dialog(&r.alice, &ok, "BYE", 2, "fork"));
    let bye = r.bob.expect("BYE");
    r.bob
        .send(r.proxy, &reply(&bye, 200, "OK", &r.bob, "t-bob"));
    r.alice.expect_in("SIP/2.0 200", "CSeq: 2 BYE");
    // bob2 leaves again (the next flows call bob alone)
    let m = register(&r.bob2, r.proxy.port(), "bob", "reg-b2", 2, 0);
    r.bob2.send(r.proxy, &m);
    r.bob2.expect_in("SIP/2.0 200", "CSeq: 2 REGISTER");
    r.alice.drain(Duration::from_millis(200));
    r.bob2.drain(Duration::from_millis(100));
}

/// `Contact: *` with Expires 0 removes all of bob's contacts; an INVITE to him is a 404 then;
/// bob registers again.
fn star(r: &mut Run) {
    let m = register(&r.bob2, r.proxy.port(), "bob", "reg-b2", 3, 0).replace(
        &format!("Contact: <sip:bob@127.0.0.1:{}>", r.bob2.port),
        "Contact: *",
    );
    r.bob2.send(r.proxy, &m);
    r.bob2.expect("SIP/2.0 200");
    rejected(r, "bob", "star", "SIP/2.0 404", |m| m);
    let m = register(&r.bob, r.proxy.port(), "bob", "reg-b", 3, 300);
    r.bob.send(r.proxy, &m);
    r.bob.expect("SIP/2.0 200");
}

/// bob is busy: 486 relayed to alice (failure_route MANAGE_FAILURE runs), ACKs on both sides.
fn busy(r: &mut Run) {
    let inv = invite(&r.alice, &local(r, "bob"), "busy");
    r.alice.send(r.proxy, &inv);
    let req = r.bob.expect("INVITE");
    r.bob
        .send(r.proxy, &reply(&req, 486, "Busy Here", &r.bob, "t-bob"));
    r.bob.expect("ACK");
    let rpl = r.alice.expect("SIP/2.0 486");
    r.alice.send(r.proxy, &ack_negative(&inv, &rpl));
    r.alice.drain(Duration::from_millis(300));
    r.bob.drain(Duration::from_millis(100));
}

/// alice cancels a ringing call: 200 canceling, CANCEL to bob, 487 relayed, ACKs.
fn cancel(r: &mut Run) {
    let inv = invite(&r.alice, &local(r, "bob"), "cancel");
    r.alice.send(r.proxy, &inv);
    let req = r.bob.expect("INVITE");
    r.bob
        .send(r.proxy, &reply(&req, 180, "Ringing", &r.bob, "t-bob"));
    r.alice.expect("SIP/2.0 180");
    r.alice.send(r.proxy, &same_branch(&inv, "CANCEL", None));
    let c = r.bob.expect("CANCEL");
    r.bob.send(r.proxy, &reply(&c, 200, "OK", &r.bob, "t-bob"));
    // the proxy answers the CANCEL itself: wait for it so the order at alice is fixed
    r.alice.expect_in("SIP/2.0 200", "CSeq: 1 CANCEL");
    r.bob.send(
        r.proxy,
        &reply(&req, 487, "Request Terminated", &r.bob, "t-bob"),
    );
    r.bob.expect("ACK");
    let rpl = r.alice.expect("SIP/2.0 487");
    r.alice.send(r.proxy, &ack_negative(&inv, &rpl));
    r.alice.drain(Duration::from_millis(300));
    r.bob.drain(Duration::from_millis(100));
}

/// OPTIONS to a registered user is relayed to it (only a user-less one is the keepalive).
fn options_to_user(r: &mut Run) {
    let m = request(
        "OPTIONS",
        &local(r, "bob"),
        &r.alice,
        "alice",
        &format!("<{}>", local(r, "bob")),
        "opt",
        1,
        "",
        "",
    );
    r.alice.send(r.proxy, &m);
    let req = r.bob.expect("OPTIONS");
    r.bob
        .send(r.proxy, &reply(&req, 200, "OK", &r.bob, "t-bob"));
    r.alice.drain(Duration::from_millis(300));
}

/// No presence in the stock files: SUBSCRIBE for voicemail and PUBLISH are refused with 404;
/// an in-dialog request without Route is "404 Not here".
fn presence_and_stray(r: &mut Run) {
    let to = format!("<{}>", local(r, "bob"));
    let sub = request(
        "SUBSCRIBE",
        &local(r, "bob"),
        &r.alice,
        "alice",
        &to,
        "sub",
        1,
        "Event: message-summary\r\nExpires: 60\r\n",
        "",
    );
    r.alice.send(r.proxy, &sub);
    r.alice.expect_in("SIP/2.0 404", "SUBSCRIBE");
    let publ = request(
        "PUBLISH",
        &local(r, "bob"),
        &r.alice,
        "alice",
        &to,
        "pub",
        1,
        "Event: presence\r\nExpires: 60\r\n",
        "",
    );
    r.alice.send(r.proxy, &publ);
    r.alice.expect_in("SIP/2.0 404", "PUBLISH");
    let stray = request(
        "BYE",
        &local(r, "bob"),
        &r.alice,
        "alice",
        &format!("{to};tag=t-nodialog"),
        "stray",
        1,
        "",
        "",
    );
    r.alice.send(r.proxy, &stray);
    r.alice.expect_in("SIP/2.0 404", "BYE");
    r.alice.drain(Duration::from_millis(200));
}

/// Requests sanity_check() refuses (the stock files run it with autodrop 0): sanity's reply,
/// then the script logs "Malformed SIP request" and exits.
fn malformed(r: &mut Run) {
    let to = format!("<{}>", local(r, "bob"));
    let base = |call: &str, method: &str, extra: &str| {
        request(
            method,
            &local(r, "bob"),
            &r.alice,
            "alice",
            &to,
            call,
            1,
            extra,
            "",
        )
    };
    let cases = [
        base("bad-cseq-method", "MESSAGE", "").replace("CSeq: 1 MESSAGE", "CSeq: 1 INFO"),
        base("bad-expires", "REGISTER", "Expires: soon\r\n"),
        base("bad-cl", "MESSAGE", "").replace("Content-Length: 0", "Content-Length: 40"),
        base("bad-from", "MESSAGE", "")
            .replace("From: <sip:alice@127.0.0.1>", "From: <sip:alice@[::1>"),
        base("bad-ruri", "MESSAGE", "").replacen("MESSAGE sip:bob@", "MESSAGE sip:b%ob@[", 1),
        base("bad-scheme", "MESSAGE", "").replacen("MESSAGE sip:", "MESSAGE xyz:", 1),
    ];
    for m in cases {
        r.alice.send(r.proxy, &m);
        r.alice.drain(Duration::from_millis(150));
    }
}

/// An Expires above max_expires (3600 in both files) is cut down in the reply.
fn long_expires(r: &mut Run) {
    let m = register(&r.bob, r.proxy.port(), "bob", "reg-b", 2, 7200);
    r.bob.send(r.proxy, &m);
    r.bob.expect("SIP/2.0 200");
}

/// An INVITE answered by the proxy itself with `code`, then its ACK (absorbed).
fn rejected(r: &mut Run, user: &str, call: &str, code: &str, mutate: fn(String) -> String) {
    let ruri = if user.contains('@') {
        user.to_string()
    } else {
        local(r, user)
    };
    let inv = mutate(invite(&r.alice, &ruri, call));
    r.alice.send(r.proxy, &inv);
    let rpl = r.alice.expect(code);
    if !rpl.is_empty() {
        r.alice.send(r.proxy, &ack_negative(&inv, &rpl));
    }
    r.alice.drain(Duration::from_millis(300));
}

fn unknown_user(r: &mut Run) {
    rejected(r, "carol", "unknown", "SIP/2.0 404", |m| m);
}

fn foreign_domain(r: &mut Run) {
    rejected(r, "sip:bob@example.com", "foreign", "SIP/2.0 403", |m| m);
}

fn no_user(r: &mut Run) {
    rejected(r, "", "nouser", "SIP/2.0 484", |m| m);
}

fn too_many_hops(r: &mut Run) {
    rejected(r, "bob", "hops", "SIP/2.0 483", |m| {
        m.replace("Max-Forwards: 70", "Max-Forwards: 0")
    });
}

fn scanner(r: &mut Run) {
    for (i, ua) in ["friendly-scanner", "sipvicious", "sipcli/v1.8"]
        .iter()
        .enumerate()
    {
        let m = keepalive(r.alice.port, r.proxy.port(), &format!("scan{i}")).replace(
            "CSeq: 1 OPTIONS\r\n",
            &format!("CSeq: 1 OPTIONS\r\nUser-Agent: {ua}\r\n"),
        );
        r.alice.send(r.proxy, &m);
    }
    r.alice.drain(Duration::from_millis(500));
}

fn unregister(r: &mut Run) {
    let m = register(&r.alice, r.proxy.port(), "alice", "reg-a", 2, 0);
    r.alice.send(r.proxy, &m);
    r.alice.expect("SIP/2.0 200");
    // alice is gone: an INVITE to her is a 404 now
    rejected(r, "alice", "gone", "SIP/2.0 404", |m| m);
}

/// The keepalive and a REGISTER over TCP (each on its own connection).
fn over_tcp(r: &mut Run) {
    let port = r.proxy.port();
    let mut got = Vec::new();
    for m in [
        keepalive(9, port, "tcp-ka"),
        register(&r.alice, port, "erin", "tcp-reg", 1, 300),
    ] {
        let m = m.replace("SIP/2.0/UDP", "SIP/2.0/TCP");
        got.extend(harness::tcp_exchange(r.proxy, m.as_bytes(), WAIT));
    }
    r.notes.push(("tcp".into(), got));
}

/// A caller on one TCP connection: what it sent is framed back by Content-Length.
struct TcpUa {
    stream: std::net::TcpStream,
    port: u16,
    buf: Vec<u8>,
    got: Vec<String>,
}

impl TcpUa {
    fn connect(to: SocketAddr) -> Option<TcpUa> {
        let stream = std::net::TcpStream::connect_timeout(&to, WAIT).ok()?;
        let port = stream.local_addr().ok()?.port();
        let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
        Some(TcpUa {
            stream,
            port,
            buf: Vec::new(),
            got: Vec::new(),
        })
    }

    fn send(&mut self, msg: &str) {
        use std::io::Write as _;
        let _ = self.stream.write_all(msg.as_bytes());
    }

    /// Moves complete messages from the buffer to `got`.
    fn frame(&mut self) {
        loop {
            let text = String::from_utf8_lossy(&self.buf).into_owned();
            let Some(end) = text.find("\r\n\r\n") else {
                return;
            };
            let cl = header(&text[..end + 2], "Content-Length")
                .first()
                .and_then(|l| l.split_once(':'))
                .and_then(|(_, v)| v.trim().parse::<usize>().ok())
                .unwrap_or(0);
            let total = end + 4 + cl;
            if self.buf.len() < total {
                return;
            }
            let m: Vec<u8> = self.buf.drain(..total).collect();
            self.got.push(String::from_utf8_lossy(&m).into_owned());
        }
    }

    /// Waits for a message whose first line starts with `first` and that contains `text`.
    fn expect_in(&mut self, first: &str, text: &str) -> String {
        use std::io::Read as _;
        let t0 = Instant::now();
        let mut chunk = [0u8; 8192];
        loop {
            self.frame();
            if let Some(m) = self
                .got
                .iter()
                .find(|m| m.starts_with(first) && m.contains(text))
            {
                return m.clone();
            }
            if t0.elapsed() > WAIT {
                return String::new();
            }
            if let Ok(n) = self.stream.read(&mut chunk) {
                self.buf.extend_from_slice(chunk.get(..n).unwrap_or(&[]));
            }
        }
    }
}

/// alice calls bob over TCP (bob is on UDP): record_route() puts two Record-Route headers
/// (enable_double_rr, transport change), ACK and BYE come back over TCP along them.
fn tcp_call(r: &mut Run) {
    let Some(mut tcp) = TcpUa::connect(r.proxy) else {
        r.notes
            .push(("caller".into(), vec!["<connect failed>".into()]));
        return;
    };
    let fake = Ua {
        name: "alice",
        sock: r.alice.sock.try_clone().unwrap_or_else(|e| panic!("{e}")),
        port: tcp.port,
        got: Vec::new(),
    };
    let lp = tcp.port;
    let tcpify = move |m: String| {
        m.replace("SIP/2.0/UDP", "SIP/2.0/TCP").replace(
            &format!("<sip:alice@127.0.0.1:{lp}>"),
            &format!("<sip:alice@127.0.0.1:{lp};transport=tcp>"),
        )
    };
    tcp.send(&tcpify(invite(&fake, &local(r, "bob"), "tcpcall")));
    let req = r.bob.expect("INVITE");
    r.bob
        .send(r.proxy, &reply(&req, 180, "Ringing", &r.bob, "t-bob"));
    tcp.expect_in("SIP/2.0 180", "");
    r.bob
        .send(r.proxy, &reply(&req, 200, "OK", &r.bob, "t-bob"));
    let ok = tcp.expect_in("SIP/2.0 200", "INVITE");
    tcp.send(&tcpify(in_dialog(&fake, &ok, "ACK", 1, "tcpcall")));
    r.bob.expect("ACK");
    tcp.send(&tcpify(in_dialog(&fake, &ok, "BYE", 2, "tcpcall")));
    let bye = r.bob.expect("BYE");
    r.bob
        .send(r.proxy, &reply(&bye, 200, "OK", &r.bob, "t-bob"));
    tcp.expect_in("SIP/2.0 200", "BYE");
    r.bob.drain(Duration::from_millis(100));
    r.notes
        .push(("caller".into(), std::mem::take(&mut tcp.got)));
}

/// sipsak's keepalive and usrloc mode; the reply sipsak printed.
fn sipsak(r: &mut Run) {
    let port = r.proxy.port();
    let out = run_sipsak(&["-vv", "-s", &format!("sip:127.0.0.1:{port}")]);
    r.notes.push(("sipsak -s".into(), vec![out]));
    let out = run_sipsak(&[
        "-U",
        "-i",
        "-vvv",
        "-C",
        "sip:dave@127.0.0.1:9999",
        "-s",
        &format!("sip:dave@127.0.0.1:{port}"),
    ]);
    r.notes.push(("sipsak -U".into(), vec![out]));
}

/// Runs sipsak; the exit status, then the replies it printed.
fn run_sipsak(args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("20")
        .arg("sipsak")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("sipsak: {e}"));
    let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
    let mut replies = Vec::new();
    let mut cur: Option<Vec<&str>> = None;
    for l in text.lines() {
        if l.starts_with("SIP/2.0 ") {
            cur = Some(vec![l]);
        } else if let Some(c) = cur.as_mut() {
            if l.is_empty() {
                replies.push(c.join("\r\n"));
                cur = None;
            } else {
                c.push(l);
            }
        }
    }
    format!(
        "exit {}\n{}",
        out.status.code().unwrap_or(-1),
        replies.join("\n--\n")
    )
}

/// Everything one server produced: (flow/endpoint, normalised messages).
type Seen = Vec<(String, Vec<String>)>;

type Flow = fn(&mut Run);

const FLOWS: &[(&str, Flow)] = &[
    ("sipsak", sipsak),
    ("register", registrations),
    ("call", call),
    ("message", message),
    ("fork", fork),
    ("busy", busy),
    ("cancel", cancel),
    ("options", options_to_user),
    ("presence", presence_and_stray),
    ("long-expires", long_expires),
    ("malformed", malformed),
    ("unknown-user", unknown_user),
    ("foreign-domain", foreign_domain),
    ("no-user", no_user),
    ("too-many-hops", too_many_hops),
    ("scanner", scanner),
    ("unregister", unregister),
    ("tcp", over_tcp),
    ("tcp-call", tcp_call),
    ("star", star),
];

fn run_server(bin: &str, name: &str, cfg: &Path) -> Seen {
    let port = port4();
    let mut srv = start_file(bin, name, cfg, port);
    let mut r = Run {
        proxy: proxy_addr(port),
        alice: Ua::new("alice"),
        bob: Ua::new("bob"),
        bob2: Ua::new("bob"),
        notes: Vec::new(),
    };
    let ports = [
        (port, "PROXY"),
        (r.alice.port, "ALICE"),
        (r.bob.port, "BOB"),
        (r.bob2.port, "BOB2"),
    ];
    let mut seen = Seen::new();
    for (flow, f) in FLOWS {
        f(&mut r);
        for (who, ua) in [
            ("alice", &mut r.alice),
            ("bob", &mut r.bob),
            ("bob2", &mut r.bob2),
        ] {
            let msgs = std::mem::take(&mut ua.got);
            seen.push((
                format!("{flow}/{who}"),
                msgs.iter().map(|m| normalise(m, &ports)).collect(),
            ));
        }
        for (k, v) in std::mem::take(&mut r.notes) {
            seen.push((
                format!("{flow}/{k}"),
                v.iter().map(|m| normalise(m, &ports)).collect(),
            ));
        }
    }
    // What the control interfaces say afterwards: JSON-RPC over jsonrpcs' datagram socket,
    // and Debian's kamcmd over the ctl socket.
    let run = srv.dir.join("run");
    for (method, params) in JSONRPCS {
        let out = jsonrpc(&run.join("kamailio_rpc.sock"), method, params);
        seen.push((
            format!("jsonrpc/{method} {}", params.join(" ")),
            vec![normalise_rpc(&out, &ports)],
        ));
    }
    if Path::new(KAMCMD).exists() {
        let sock = format!("unix:{}", run.join("kamailio_ctl").display());
        for cmd in KAMCMDS {
            let out = kamcmd(&sock, cmd);
            seen.push((
                format!("kamcmd/{}", cmd.join(" ")),
                vec![normalise_rpc(&out, &ports)],
            ));
        }
    }
    // acc writes after the transaction completes
    std::thread::sleep(Duration::from_millis(300));
    let log = srv.log_text();
    // Sorted: when a transaction's line is written is not part of the comparison (ferrosip
    // writes a forked INVITE's line when the transaction ends, see docs/stock-config.md).
    let mut acc: Vec<String> = log
        .lines()
        .filter_map(|l| l.split_once("ACC: ").map(|(_, t)| normalise_acc(t, &ports)))
        .collect();
    acc.sort();
    seen.push(("log/ACC".into(), acc));
    // the script's own log lines: level, the files' log_prefix and the xlog text (after the
    // process number and pid)
    let script: Vec<String> = log
        .lines()
        .filter(|l| l.contains("<script>: "))
        .map(|l| l.split_once(") ").map_or(l, |(_, t)| t).to_string())
        .map(|t| replace_numbers_after(&normalise_acc(&t, &ports), "127.0.0.1:", "<PORT>"))
        .collect();
    seen.push(("log/script".into(), script));
    if let Some(dir) = std::env::var_os("FERROSIP_STOCK_DUMP") {
        // what was compared, for reading a difference in full
        let text: String = seen
            .iter()
            .map(|(k, v)| format!("=== {k}\n{}\n", v.join("\n")))
            .collect();
        let _ = std::fs::create_dir_all(&dir);
        let _ = std::fs::write(Path::new(&dir).join(format!("{name}.txt")), text);
    }
    let code = srv.stop();
    assert_eq!(
        code,
        Some(0),
        "{bin} on {}: exit {code:?}\n{log}",
        cfg.display()
    );
    if std::env::var_os("FERROSIP_STOCK_DUMP").is_none() {
        let _ = std::fs::remove_dir_all(&srv.dir);
    }
    seen
}

const KAMCMD: &str = "/usr/sbin/kamcmd";

/// JSON-RPC commands asked of both servers after the flows.
const JSONRPCS: &[(&str, &[&str])] = &[
    ("stats.get_statistics", &["usrloc:"]),
    ("stats.get_statistics", &["registrar:"]),
    ("stats.get_statistics", &["sl:"]),
    ("stats.get_statistics", &["tmx:"]),
    ("ul.dump", &[]),
    ("ul.lookup", &["location", "bob"]),
];

/// kamcmd commands asked of both servers after the flows.
const KAMCMDS: &[&[&str]] = &[&["ul.dump", "brief"]];

/// One JSON-RPC request over jsonrpcs' unix datagram socket; the reply text.
fn jsonrpc(sock: &Path, method: &str, params: &[&str]) -> String {
    use std::os::unix::net::UnixDatagram;
    let me = sock.with_file_name(format!("client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me);
    let Ok(c) = UnixDatagram::bind(&me) else {
        return format!("<cannot bind {}>", me.display());
    };
    let _ = c.set_read_timeout(Some(WAIT));
    let params: Vec<String> = params.iter().map(|p| format!("\"{p}\"")).collect();
    let req = format!(
        "{{\"jsonrpc\": \"2.0\", \"method\": \"{method}\", \"params\": [{}], \"id\": 1}}",
        params.join(", ")
    );
    let mut buf = vec![0u8; 65536];
    let out = match c
        .send_to(req.as_bytes(), sock)
        .and_then(|_| c.recv(&mut buf))
    {
        Ok(n) => String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned(),
        Err(e) => format!("<{e}>"),
    };
    let _ = std::fs::remove_file(&me);
    out
}

fn kamcmd(sock: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("10")
        .arg(KAMCMD)
        .arg("-s")
        .arg(sock)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run kamcmd: {e}"));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

/// RPC output without what differs per run: ports, record ids (`uloc-<time>-<pid>-<n>`, the
/// counter being per Kamailio process), times and the seconds left before expiry.
fn normalise_rpc(out: &str, ports: &[(u16, &str)]) -> String {
    out.lines()
        .map(|l| {
            let mut l = ports.iter().fold(l.to_string(), |acc, (p, n)| {
                acc.replace(&format!(":{p}"), &format!(":<{n}>"))
            });
            if l.contains("Call-ID") && !l.contains("@stock") {
                l = "Call-ID: <SIPSAK>".into();
            }
            if let Some(i) = l.find("uloc-") {
                let end = l[i..]
                    .find(|c: char| c == '"' || c.is_whitespace())
                    .map_or(l.len(), |e| i + e);
                l.replace_range(i..end, "<RUID>");
            }
            // Transactions still in their wait timer when the question comes: timing.
            l = replace_numbers_after(&l, "tmx:inuse_transactions = ", "<N>");
            for key in ["Expires", "Last-Keepalive", "Last-Modified"] {
                for sep in [": ", "\":\t"] {
                    let k = format!("{key}{sep}");
                    if let Some(i) = l.find(&k) {
                        let start = i + k.len();
                        let n = l[start..].bytes().take_while(u8::is_ascii_digit).count();
                        if n > 0 {
                            l.replace_range(start..start + n, "<N>");
                        }
                    }
                }
            }
            l
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Strips what legitimately differs between runs and servers.
fn normalise(msg: &str, ports: &[(u16, &str)]) -> String {
    // sipsak's output holds several messages: track whether the current one is a reply
    let mut is_reply = false;
    let mut out = String::new();
    for line in msg.split('\n') {
        let mut l = line.trim_end_matches('\r').to_string();
        if l.starts_with("SIP/2.0 ") {
            is_reply = true;
        } else if l.ends_with(" SIP/2.0") {
            is_reply = false;
        }
        for (p, name) in ports {
            l = l.replace(&format!(":{p}"), &format!(":<{name}>"));
            l = l.replace(&format!("={p}"), &format!("=<{name}>"));
        }
        // ports of sipsak and of anything else not ours
        l = replace_numbers_after(&l, "127.0.0.1:", "<PORT>");
        l = replace_numbers_after(&l, "rport=", "<PORT>");
        for key in ["branch=", "tag="] {
            l = replace_generated(&l, key);
        }
        // the receiving TCP connection's id in the proxy's Via (`;i=`): numbering is the
        // server's own (see docs/stock-config.md)
        if let Some(i) = l.find(";i=") {
            let start = i + 3;
            let n = l[start..]
                .bytes()
                .take_while(u8::is_ascii_alphanumeric)
                .count();
            l.replace_range(start..start + n, "<CONN>");
        }
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("server:") || lower.starts_with("user-agent:") {
            if !l.contains("stock-test") {
                l = "<AGENT>".into();
            }
        } else if lower.starts_with("date:") {
            l = "Date: <DATE>".into();
        } else if lower.starts_with("call-id:") && !l.contains("@stock") {
            l = "Call-ID: <SIPSAK>".into();
        } else if is_reply && lower.starts_with("via:") {
            l = received_last(&l);
        } else if is_reply && lower.starts_with("contact:") {
            // Other contacts of the AoR show the seconds they have left: one may have passed
            // since they were registered (300, 3600 and 60 are the expires this test uses).
            for (late, full) in [("299", "300"), ("3599", "3600"), ("59", "60")] {
                l = l
                    .replace(&format!(";expires={late},"), &format!(";expires={full},"))
                    .replace(&format!(";expires={late}"), &format!(";expires={full}"));
            }
        }
        out.push_str(&l);
        out.push('\n');
    }
    out
}

/// `received` at the end of the Via's parameters: Kamailio 5.6 appends it there in replies it
/// generates, 6.0 (and ferrosip) right after `rport` (Kamailio commit d613f30214).
fn received_last(via: &str) -> String {
    let Some(i) = via.find(";received=") else {
        return via.to_string();
    };
    let rest = &via[i + 1..];
    let end = rest.find([';', ',']).map_or(rest.len(), |e| e);
    let param = &rest[..end];
    let mut s = String::new();
    s.push_str(&via[..i]);
    s.push_str(&rest[end..]);
    s.push(';');
    s.push_str(param);
    s
}

fn replace_numbers_after(l: &str, key: &str, with: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while let Some(i) = rest.find(key) {
        let start = i + key.len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let n = tail.bytes().take_while(u8::is_ascii_digit).count();
        if n > 0 {
            out.push_str(with);
        }
        rest = &tail[n..];
    }
    out.push_str(rest);
    out
}

/// Values of `key` the test did not write (they start with `t-` or `z9hG4bK-t-`) become `<GEN>`.
fn replace_generated(l: &str, key: &str) -> String {
    let mut out = String::new();
    let mut rest = l;
    while let Some(i) = rest.find(key) {
        let start = i + key.len();
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        // `ftag=` sits inside `<…>`; a header's tag runs to the next parameter (Kamailio 5.6.3's sl
        // to-tag has been seen with a `>` in it).
        let in_uri = key == "tag=" && rest[..i].ends_with('f');
        let stops: &[char] = if in_uri {
            &[';', ',', ' ', '>']
        } else {
            &[';', ',', ' ']
        };
        let end = tail.find(stops).unwrap_or(tail.len());
        let val = &tail[..end];
        if val.starts_with("t-") || val.starts_with("z9hG4bK-t-") {
            out.push_str(val);
        } else {
            out.push_str("<GEN>");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// An `ACC:` line without what differs per run: timestamps and generated tags, ports.
fn normalise_acc(t: &str, ports: &[(u16, &str)]) -> String {
    t.split(';')
        .map(|f| match f.split_once('=') {
            Some((k, _)) if k.ends_with("timestamp") => format!("{k}=T"),
            Some(("to_tag", v)) if !v.is_empty() && !v.starts_with("t-") => "to_tag=<GEN>".into(),
            _ => ports.iter().fold(f.to_string(), |acc, (p, n)| {
                acc.replace(&format!(":{p}"), &format!(":<{n}>"))
            }),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn first_lines(seen: &Seen, key: &str) -> Vec<String> {
    seen.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| {
            v.iter()
                .map(|m| m.lines().next().unwrap_or("").to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// What ferrosip must answer on its own, whether or not Kamailio is there to compare with.
fn check_flows(seen: &Seen, cfg: &str) {
    let all = |key: &str| first_lines(seen, key);
    let sipsak = seen
        .iter()
        .find(|(k, _)| k == "sipsak/sipsak -s")
        .map(|(_, v)| v.join(""))
        .unwrap_or_default();
    assert!(
        sipsak.starts_with("exit 0\n") && sipsak.contains("SIP/2.0 200 Keepalive"),
        "{cfg}: sipsak -s: {sipsak}"
    );
    let usrloc = seen
        .iter()
        .find(|(k, _)| k == "sipsak/sipsak -U")
        .map(|(_, v)| v.join(""))
        .unwrap_or_default();
    assert!(
        usrloc.starts_with("exit 0\n") && usrloc.contains("SIP/2.0 200 OK"),
        "{cfg}: sipsak -U: {usrloc}"
    );
    assert_eq!(all("register/alice"), ["SIP/2.0 200 OK"], "{cfg}");
    assert_eq!(all("register/bob"), ["SIP/2.0 200 OK"], "{cfg}");
    assert_eq!(
        all("call/alice"),
        [
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK",
            "SIP/2.0 200 OK"
        ],
        "{cfg}: the caller"
    );
    let methods = |key: &str| -> Vec<String> {
        all(key)
            .iter()
            .map(|l| l.split(' ').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        methods("call/bob"),
        ["INVITE", "ACK", "BYE"],
        "{cfg}: the callee"
    );
    assert_eq!(all("message/alice"), ["SIP/2.0 200 OK"], "{cfg}");
    assert_eq!(
        all("fork/alice"),
        [
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 OK",
            "SIP/2.0 200 OK"
        ],
        "{cfg}: forked call"
    );
    assert_eq!(
        methods("fork/bob2"),
        ["SIP/2.0", "INVITE", "CANCEL", "ACK", "SIP/2.0"],
        "{cfg}: the cancelled fork (between its REGISTER replies)"
    );
    assert_eq!(
        all("star/alice"),
        ["SIP/2.0 404 Not Found"],
        "{cfg}: after *"
    );
    assert_eq!(
        all("busy/alice"),
        [
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 486 Busy Here"
        ],
        "{cfg}"
    );
    assert_eq!(methods("busy/bob"), ["INVITE", "ACK"], "{cfg}: busy callee");
    assert_eq!(
        methods("cancel/bob"),
        ["INVITE", "CANCEL", "ACK"],
        "{cfg}: cancelled callee"
    );
    assert_eq!(
        all("cancel/alice"),
        [
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 180 Ringing",
            "SIP/2.0 200 canceling",
            "SIP/2.0 487 Request Terminated"
        ],
        "{cfg}"
    );
    assert_eq!(all("options/alice"), ["SIP/2.0 200 OK"], "{cfg}");
    assert_eq!(
        all("presence/alice"),
        [
            "SIP/2.0 404 No voicemail service",
            "SIP/2.0 404 Not here",
            "SIP/2.0 404 Not here"
        ],
        "{cfg}"
    );
    assert_eq!(
        all("unknown-user/alice"),
        ["SIP/2.0 404 Not Found"],
        "{cfg}"
    );
    assert_eq!(
        all("foreign-domain/alice"),
        ["SIP/2.0 403 Not relaying"],
        "{cfg}"
    );
    assert_eq!(
        all("no-user/alice"),
        ["SIP/2.0 484 Address Incomplete"],
        "{cfg}"
    );
    assert_eq!(
        all("too-many-hops/alice"),
        ["SIP/2.0 483 Too Many Hops"],
        "{cfg}"
    );
    assert!(
        all("scanner/alice").is_empty(),
        "{cfg}: scanners get no answer"
    );
    assert_eq!(
        all("malformed/alice"),
        [
            "SIP/2.0 400 CSeq method does not match request method",
            "SIP/2.0 400 Expires value is illegal",
            "SIP/2.0 400 Content-Length mis-match",
            "SIP/2.0 400 Invalid From Header",
            "SIP/2.0 400 Bad Request URI",
            "SIP/2.0 400 Bad Request URI"
        ],
        "{cfg}: sanity_check"
    );
    let script = seen
        .iter()
        .find(|(k, _)| k == "log/script")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert_eq!(
        script.first().map(String::as_str),
        Some("ERROR: {1 1 INFO bad-cseq-method@stock} <script>: Malformed SIP request from 127.0.0.1:<ALICE>"),
        "{cfg}: the script's log lines with log_prefix: {script:?}"
    );
    assert_eq!(script.len(), 6, "{cfg}: {script:?}");
    assert_eq!(
        all("unregister/alice"),
        ["SIP/2.0 200 OK", "SIP/2.0 404 Not Found"],
        "{cfg}"
    );
    assert_eq!(
        all("tcp/tcp"),
        ["SIP/2.0 200 Keepalive", "SIP/2.0 200 OK"],
        "{cfg}: over TCP"
    );
    let acc = seen
        .iter()
        .find(|(k, _)| k == "log/ACC")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    assert!(
        acc.iter()
            .any(|l| l.contains("method=INVITE") && l.contains("code=200")),
        "{cfg}: the answered call is accounted: {acc:?}"
    );
}

/// Differences found by this test whose fix belongs to a part of ferrosip outside the modules
/// this test's owner may change; each is reported in docs/stock-config.md. Entry: (what, the
/// text in Kamailio's output, the text in ferrosip's instead, why). Before comparing, the first
/// is replaced by the second in Kamailio's output of `what`, so the rest must still match;
/// `"*"` skips `what` altogether. A listed difference must still be there (remove the entry when
/// it is fixed); any other difference fails the test.
const KNOWN: &[(&str, &str, &str, &str)] = &[];

fn compare(cfg: &str, ours: &Seen, theirs: &Seen) {
    assert_eq!(ours.len(), theirs.len(), "{cfg}");
    let mut diffs = Vec::new();
    for ((k, a), (k2, b)) in ours.iter().zip(theirs.iter()) {
        assert_eq!(k, k2, "{cfg}");
        let text = |b: &[String]| {
            format!(
                "== {k}\n-- ferrosip:\n{}\n-- kamailio:\n{}",
                a.join("\n"),
                b.join("\n")
            )
        };
        let known: Vec<_> = KNOWN.iter().filter(|e| e.0 == k).collect();
        if known.iter().any(|e| e.1 == "*") {
            let why = known.iter().map(|e| e.3).collect::<Vec<_>>().join("; ");
            if a == b {
                diffs.push(format!("== {k}: fixed ({why}): remove it from KNOWN"));
            } else {
                eprintln!("{cfg}: known difference ({why}):\n{}", text(b));
            }
            continue;
        }
        let mut b = b.clone();
        for (_, kam, fer, why) in &known {
            if !b.iter().any(|m| m.contains(kam)) || a.iter().any(|m| m.contains(kam)) {
                diffs.push(format!("== {k}: fixed or changed ({why}): update KNOWN"));
            }
            for m in &mut b {
                *m = m.replace(kam, fer);
            }
        }
        if *a != b {
            diffs.push(text(&b));
        }
    }
    if let Some(dir) = std::env::var_os("FERROSIP_STOCK_DUMP") {
        let _ = std::fs::write(Path::new(&dir).join("differences.txt"), diffs.join("\n"));
    }
    assert!(
        diffs.is_empty(),
        "{cfg}: what the endpoints received differs from Kamailio:\n{}",
        diffs.join("\n")
    );
}

fn tools_present() -> bool {
    if have("sipsak") {
        return true;
    }
    assert!(!ci(), "CI: sipsak is required");
    eprintln!("sipsak not installed: test skipped");
    false
}

/// Runs `cfg` on ferrosip (checked on its own) and, when installed, on Kamailio (`kam_cfg`: the
/// same file, or its 5.6 copy) and compares.
fn ferrosip_and_kamailio(name: &str, cfg: &Path, kam_cfg: &Path) {
    let label = cfg.display().to_string();
    let ours = run_server(harness::ferrosip_bin(), name, cfg);
    match kamailio_bin() {
        Some(kam) => {
            let theirs = run_server(kam, &format!("{name}-kam"), kam_cfg);
            check_flows(&theirs, &format!("{label} on Kamailio"));
            compare(&label, &ours, &theirs);
        }
        None => {
            assert!(!ci(), "CI: kamailio is required for the differential test");
            eprintln!("kamailio not installed: differential part skipped");
        }
    }
    check_flows(&ours, &label);
}

#[test]
fn debian_stock_cfg_matches_kamailio() {
    if !tools_present() {
        return;
    }
    let cfg = Path::new(DEBIAN_CFG);
    if !cfg.exists() {
        assert!(!ci(), "CI: {DEBIAN_CFG} comes with the kamailio package");
        eprintln!("{DEBIAN_CFG} absent (kamailio not installed): skipped");
        return;
    }
    ferrosip_and_kamailio("stock-debian", cfg, cfg);
}

#[test]
fn kamailio60_stock_cfg_matches_kamailio() {
    if !tools_present() {
        return;
    }
    let Some(cfg) = stock_support::stock60_path() else {
        eprintln!(
            "Kamailio 6.0.7's kamailio.cfg not found ({STOCK60_SCRATCH} or \
             $FERROSIP_STOCK60_CFG): skipped; scripts/fetch-stock-cfg.sh fetches it"
        );
        return;
    };
    let text = std::fs::read_to_string(&cfg).unwrap_or_else(|e| panic!("{}: {e}", cfg.display()));
    assert!(
        text.contains("loadmodule \"dlgs.so\""),
        "{}: not Kamailio 6.0's stock file",
        cfg.display()
    );
    let dir = scratch("stock60-k56");
    let k56 = dir.join("kamailio-6.0-for-5.6.cfg");
    std::fs::write(&k56, for_kamailio56(&text)).unwrap_or_else(|e| panic!("{e}"));
    ferrosip_and_kamailio("stock60", &cfg, &k56);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation() {
        let ports = [(5555, "PROXY")];
        let table = [
            (
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:4000;branch=z9hG4bK.5b;rport=4000;received=127.0.0.1;alias\r\n",
                "SIP/2.0 200 OK\nVia: SIP/2.0/UDP 127.0.0.1:<PORT>;branch=<GEN>;rport=<PORT>;alias;received=127.0.0.1\n\n",
            ),
            (
                "INVITE sip:bob@127.0.0.1:5555 SIP/2.0\r\nRecord-Route: <sip:127.0.0.1:5555;lr>\r\nTo: <sip:b@x>;tag=t-bob\r\nFrom: <sip:a@x>;tag=abc.def\r\n",
                "INVITE sip:bob@127.0.0.1:<PROXY> SIP/2.0\nRecord-Route: <sip:127.0.0.1:<PROXY>;lr>\nTo: <sip:b@x>;tag=t-bob\nFrom: <sip:a@x>;tag=<GEN>\n\n",
            ),
            (
                "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5555;branch=z9hG4bK1;i=3\r\n",
                "INVITE sip:b@x SIP/2.0\nVia: SIP/2.0/UDP 127.0.0.1:<PROXY>;branch=<GEN>;i=<CONN>\n\n",
            ),
            (
                "SIP/2.0 200 OK\r\nContact: <sip:b@h>;q=0.5;expires=300, <sip:c@h>;expires=299\r\n",
                "SIP/2.0 200 OK\nContact: <sip:b@h>;q=0.5;expires=300, <sip:c@h>;expires=300\n\n",
            ),
            (
                "SIP/2.0 200 OK\r\nServer: kamailio (5.6.3)\r\nUser-Agent: stock-test\r\n",
                "SIP/2.0 200 OK\n<AGENT>\nUser-Agent: stock-test\n\n",
            ),
        ];
        for (input, want) in table {
            assert_eq!(normalise(input, &ports), want, "{input}");
        }
    }

    #[test]
    fn kamailio56_copy_of_the_60_file() {
        // (line of the 6.0 file, line Kamailio 5.6 runs)
        let table = [
            (
                "loadmodule \"dlgs.so\"",
                "# (5.6: no dlgs) loadmodule \"dlgs.so\"",
            ),
            (
                "modparam(\"dlgs\", \"timer_interval\", 10)",
                "# (5.6: no dlgs) modparam(\"dlgs\", \"timer_interval\", 10)",
            ),
            (
                "\t\tdlgs_update();",
                "\t\t$var(no_dlgs_in_56) = 0; # dlgs_update();",
            ),
            (
                "\t\tdlgs_init(\"$fu\", \"$tu\", \"srcip=$si\");",
                "\t\t$var(no_dlgs_in_56) = 0; # dlgs_init(\"$fu\", \"$tu\", \"srcip=$si\");",
            ),
            ("\t\tsend_reply_error();", "\t\tsl_reply_error();"),
            ("\tif (!t_relay()) {", "\tif (!t_relay()) {"),
        ];
        for (line, want) in table {
            assert_eq!(for_kamailio56(line), want);
        }
    }
}
