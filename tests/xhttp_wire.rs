//! HTTP on a SIP port, end to end (issue #7, xhttp and JSON-RPC over HTTP): ferrosip and Kamailio
//! 5.6.3 run the same config — xhttp, jsonrpcs with `transport` 7, an `event_route[xhttp:request]`
//! that answers with `xhttp_reply()` or `jsonrpc_dispatch()` — and receive the same raw HTTP
//! requests over TCP (and one over UDP). Every answer is compared after normalising what must
//! differ: the client's ephemeral port in the `Sia:` copy of the faked Via, the `Server:` header,
//! the `core.version` string (and the Content-Length that follows from it). Silence (no answer:
//! invalid JSON, a URL `url_skip` excludes) and connection handling (keep-alive, pipelining,
//! `set_reply_close()`) are compared too; curl, when installed, must reuse its connection for two
//! URLs on both servers.
//!
//! The stock configuration with `-A WITH_JSONRPC` (Debian's file on both servers, Kamailio 6.0.7's
//! on ferrosip when `scratch/stock/kamailio-6.0.cfg` exists) answers `curl -d '{...}' /RPC` the same
//! way. Skipped without Kamailio unless `CI` is set.

#[path = "wire_harness.rs"]
mod harness;
#[path = "stock_support.rs"]
mod stock_support;

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

fn config(port: u16, run: &Path, kamailio: bool) -> String {
    let r = run.to_string_lossy();
    let mpath = if kamailio {
        "mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"\n"
    } else {
        ""
    };
    format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
listen=udp:127.0.0.1:{port}
listen=tcp:127.0.0.1:{port}
tcp_accept_no_cl=yes
{mpath}loadmodule "xhttp.so"
loadmodule "jsonrpcs.so"
loadmodule "sl.so"
loadmodule "kex.so"
loadmodule "pv.so"
modparam("xhttp", "url_skip", "^/skip")
modparam("jsonrpcs", "transport", 7)
modparam("jsonrpcs", "fifo_name", "{r}/kamailio_rpc.fifo")
modparam("jsonrpcs", "dgram_socket", "{r}/kamailio_rpc.sock")
request_route {{
    if ($rU == "xr") {{
        xhttp_reply("200", "OK", "text/plain", "a SIP body");
        exit;
    }}
    if ($rU == "jd") {{
        if (jsonrpc_dispatch()) {{
            sl_send_reply("202", "Passed On");
        }}
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
event_route[xhttp:request] {{
    if ($hu =~ "^/close") {{
        set_reply_close();
    }}
    if ($hu =~ "^/RPC") {{
        jsonrpc_dispatch();
        exit;
    }}
    if ($hu =~ "^/echo") {{
        xhttp_reply("200", "OK", "text/plain", "m=$rm u=$hu p=$(hu{{url.path}}) q=$(hu{{url.querystring}}) ua=$hdr(User-Agent) ct=$hdr(Content-Type) b=$rb si=$si pr=$pr");
        exit;
    }}
    if ($hu =~ "^/code") {{
        $var(c) = 404;
        xhttp_reply("$var(c)", "Nope", "", "");
        exit;
    }}
    xhttp_reply("200", "OK", "text/html", "<html><body>Wrong URL $hu</body></html>");
    exit;
}}
"#
    )
}

/// A client connection that keeps what it read past one answer (pipelined replies).
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    port: u16,
}

impl Conn {
    fn open(to: SocketAddr) -> Conn {
        let s = TcpStream::connect_timeout(&to, Duration::from_secs(2))
            .unwrap_or_else(|e| panic!("connect {to}: {e}"));
        let port = s.local_addr().map_or(0, |a| a.port());
        Conn {
            s,
            buf: Vec::new(),
            port,
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.s
            .write_all(bytes)
            .unwrap_or_else(|e| panic!("write: {e}"));
    }

    /// One complete answer (header section and Content-Length bytes), or `None` when nothing
    /// complete came within `wait` (or the server closed first).
    fn answer(&mut self, wait: Duration) -> Option<String> {
        let t0 = Instant::now();
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(n) = complete(&self.buf) {
                let a: Vec<u8> = self.buf.drain(..n).collect();
                return Some(String::from_utf8_lossy(&a).into_owned());
            }
            let left = wait.saturating_sub(t0.elapsed());
            if left.is_zero() {
                return None;
            }
            let _ = self
                .s
                .set_read_timeout(Some(left.max(Duration::from_millis(1))));
            match self.s.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self
                    .buf
                    .extend_from_slice(chunk.get(..n).unwrap_or_default()),
                Err(_) => return None,
            }
        }
    }

    /// True when the server closes the connection within `wait` (nothing else arriving).
    fn closed(&mut self, wait: Duration) -> bool {
        let _ = self.s.set_read_timeout(Some(wait));
        let mut b = [0u8; 64];
        matches!(self.s.read(&mut b), Ok(0))
    }
}

/// Length of the first complete answer in `buf`.
fn complete(buf: &[u8]) -> Option<usize> {
    let eoh = buf.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(buf.get(..eoh)?);
    let cl = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    (buf.len() >= eoh + cl).then_some(eoh + cl)
}

/// An answer with what must differ between the servers replaced: the client port in `Sia:`, the
/// `Server:` header, the version string of `core.version`; Content-Length is checked against
/// the body and then dropped (it follows the version string).
fn normalise(answer: &str, client_port: u16) -> String {
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((answer, ""));
    let mut out = Vec::new();
    for l in head.split("\r\n") {
        if let Some(v) = l.strip_prefix("Content-Length: ") {
            assert_eq!(
                v.trim().parse::<usize>().ok(),
                Some(body.len()),
                "Content-Length of {answer:?}"
            );
            continue;
        }
        if l.starts_with("Server: ") {
            out.push("Server: X".to_string());
            continue;
        }
        out.push(l.replace(&format!(":{client_port}"), ":CPORT"));
    }
    let body = match body.find("\"result\":\t\"") {
        Some(i) if body.contains("(x86_64/linux)") => {
            let start = i + "\"result\":\t\"".len();
            let end = body[start..].find('"').map_or(body.len(), |e| start + e);
            format!("{}VERSION{}", &body[..start], &body[end..])
        }
        _ => body.to_string(),
    };
    format!("{}\r\n\r\n{body}", out.join("\r\n"))
}

fn post(path: &str, json: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: t/1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    )
}

fn get(path: &str, version: &str) -> String {
    format!("GET {path} {version}\r\nHost: 127.0.0.1\r\nUser-Agent: t/1\r\nAccept: */*\r\n\r\n")
}

const WAIT: Duration = Duration::from_secs(3);
/// How long silence must last to count as "no answer".
const QUIET: Duration = Duration::from_millis(700);

/// One request per new connection: the normalised answer, or `(none)`.
fn ask(to: SocketAddr, req: &str) -> String {
    let mut c = Conn::open(to);
    c.send(req.as_bytes());
    match c.answer(WAIT) {
        Some(a) => normalise(&a, c.port),
        None => "(none)".into(),
    }
}

/// Everything the test sends, in order, with what each server answered (normalised).
fn exchanges(to: SocketAddr) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let mut one = |name: &str, req: String| {
        let a = ask(to, &req);
        out.push((name.to_string(), a));
    };
    one("get wrong url", get("/foo", "HTTP/1.1"));
    one("get http/1.0", get("/bar?x=1", "HTTP/1.0"));
    one("echo get with query", get("/echo/a/b?k=v&z=1", "HTTP/1.1"));
    one("echo post body", post("/echo", "hello=world"));
    one(
        "code from a variable, no content type",
        get("/code", "HTTP/1.1"),
    );
    one(
        "rpc core.version",
        post(
            "/RPC",
            r#"{"jsonrpc":"2.0","method":"core.version","id":1}"#,
        ),
    );
    one(
        "rpc core.echo with params and a string id",
        post(
            "/RPC",
            r#"{"jsonrpc":"2.0","method":"core.echo","params":["a",2],"id":"abc"}"#,
        ),
    );
    one(
        "rpc unknown method",
        post("/RPC", r#"{"jsonrpc":"2.0","method":"no.such","id":7}"#),
    );
    one(
        "rpc methodHelp of an unknown command",
        post(
            "/RPC",
            r#"{"jsonrpc":"2.0","method":"system.methodHelp","params":["no.such"],"id":8}"#,
        ),
    );
    one(
        "rpc wrong jsonrpc version",
        post(
            "/RPC",
            r#"{"jsonrpc":"1.0","method":"core.version","id":9}"#,
        ),
    );
    one("rpc invalid json", post("/RPC", "{not json"));
    one("url_skip", get("/skip/this", "HTTP/1.1"));
    one("http/2 version", get("/foo", "HTTP/2"));
    one("unknown protocol", get("/foo", "FOO/1.0"));
    // xhttp_reply on a SIP request: sl's reply with the content type and body (and sl's to-tag,
    // which depends on the listening port: normalised).
    let mut c = Conn::open(to);
    let sip = format!(
        "OPTIONS sip:xr@{to} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{cp};branch=z9hG4bK-xr1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:xr@127.0.0.1>\r\nCall-ID: xr-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
        cp = c.port
    );
    c.send(sip.as_bytes());
    let a = c.answer(WAIT).map_or("(none)".into(), |a| {
        let a = normalise(&a, c.port).replace(&format!("{to}"), "PROXY");
        match a.split_once("<sip:xr@127.0.0.1>;tag=") {
            Some((head, rest)) => {
                let end = rest.find("\r\n").unwrap_or(rest.len());
                format!("{head}<sip:xr@127.0.0.1>;tag=TAG{}", &rest[end..])
            }
            None => a,
        }
    });
    out.push(("xhttp_reply to a SIP request".into(), a));
    // jsonrpc_dispatch() on a SIP request does nothing and returns true.
    let jd = sip.replace("sip:xr@", "sip:jd@").replace("xr-1", "jd-1");
    c.send(jd.as_bytes());
    let a = c.answer(WAIT).map_or("(none)".into(), |a| {
        a.lines().next().unwrap_or_default().to_string()
    });
    out.push(("jsonrpc_dispatch on a SIP request".into(), a));
    out
}

/// Two requests on one connection, one after the other, then two in a single write; then
/// `/close` (set_reply_close) must close the connection after its answer.
fn connection_use(to: SocketAddr) -> Vec<String> {
    let mut c = Conn::open(to);
    let mut out = Vec::new();
    for path in ["/first", "/second"] {
        c.send(get(path, "HTTP/1.1").as_bytes());
        let a = c
            .answer(WAIT)
            .map_or("(none)".into(), |a| normalise(&a, c.port));
        out.push(a);
    }
    let both = format!("{}{}", get("/p1", "HTTP/1.1"), post("/echo", "x=2"));
    c.send(both.as_bytes());
    for _ in 0..2 {
        let a = c
            .answer(WAIT)
            .map_or("(none)".into(), |a| normalise(&a, c.port));
        out.push(a);
    }
    out.push(format!("open after keep-alive: {}", !c.closed(QUIET)));
    c.send(get("/close", "HTTP/1.1").as_bytes());
    let a = c
        .answer(WAIT)
        .map_or("(none)".into(), |a| normalise(&a, c.port));
    out.push(a);
    out.push(format!("closed after set_reply_close: {}", c.closed(WAIT)));
    out
}

/// An HTTP request in a UDP datagram: answered with a datagram (Kamailio's xhttp works on any
/// transport the request came over).
fn over_udp(to: SocketAddr) -> String {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let port = s.local_addr().map_or(0, |a| a.port());
    let _ = s.send_to(get("/echo?udp=1", "HTTP/1.1").as_bytes(), to);
    let _ = s.set_read_timeout(Some(WAIT));
    let mut b = vec![0u8; 65536];
    match s.recv(&mut b) {
        Ok(n) => normalise(
            &String::from_utf8_lossy(b.get(..n).unwrap_or_default()),
            port,
        ),
        Err(_) => "(none)".into(),
    }
}

/// `curl -v URL1 URL2`: the answers and whether curl reused its connection.
fn curl_two(to: SocketAddr) -> Option<(bool, String)> {
    if !have("curl") {
        return None;
    }
    let out = Command::new("timeout")
        .args(["10", "curl", "-sv"])
        .arg(format!("http://{to}/a"))
        .arg(format!("http://{to}/b"))
        .output()
        .ok()?;
    let err = String::from_utf8_lossy(&out.stderr);
    Some((
        err.contains("Re-using existing connection"),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ))
}

struct Run {
    server: Server,
    to: SocketAddr,
}

fn launch(bin: &str, name: &str, kamailio: bool) -> Run {
    let port = free_port();
    let dir = scratch(name);
    let run = dir.join("run");
    let _ = std::fs::create_dir_all(&run);
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let server = start(bin, name, &config(port, &run, kamailio), &[to]);
    wait_tcp(to, &server);
    Run { server, to }
}

fn wait_tcp(to: SocketAddr, server: &Server) {
    let t0 = Instant::now();
    while TcpStream::connect_timeout(&to, Duration::from_millis(200)).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "no TCP listener on {to}: {}",
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Debug)]
struct Seen {
    exchanges: Vec<(String, String)>,
    connection: Vec<String>,
    udp: String,
    curl: Option<(bool, String)>,
    /// `core:rcv_requests` at the end: HTTP requests that reached the event route count.
    received: String,
}

fn observe(r: &Run) -> Seen {
    Seen {
        exchanges: exchanges(r.to),
        connection: connection_use(r.to),
        udp: over_udp(r.to),
        curl: curl_two(r.to),
        received: ask(
            r.to,
            &post(
                "/RPC",
                r#"{"jsonrpc":"2.0","method":"stats.get_statistics","params":["rcv_requests"],"id":1}"#,
            ),
        ),
    }
}

#[test]
fn http_requests_answered_like_kamailio() {
    let mut f = launch(ferrosip_bin(), "xhttp-f", false);
    let ours = observe(&f);
    let flog = f.server.log_text();
    assert_eq!(f.server.stop(), Some(0), "{flog}");

    // What ferrosip answers by itself, whatever Kamailio does.
    let find = |name: &str| {
        ours.exchanges
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .unwrap_or_default()
    };
    assert!(
        find("get wrong url").starts_with("HTTP/1.1 200 OK\r\nSia: SIP/2.0/TCP 127.0.0.1:CPORT\r\nContent-Type: text/html\r\nServer: X\r\n\r\n<html><body>Wrong URL /foo</body></html>"),
        "{ours:#?}\n{flog}"
    );
    assert!(
        find("rpc core.version").contains("application/json"),
        "{ours:#?}"
    );
    assert_eq!(find("rpc invalid json"), "(none)", "{flog}");
    assert_eq!(find("url_skip"), "(none)");
    assert_eq!(
        find("jsonrpc_dispatch on a SIP request"),
        "SIP/2.0 202 Passed On"
    );
    let sip = find("xhttp_reply to a SIP request");
    assert!(
        sip.starts_with(
            "SIP/2.0 200 OK\r\nVia: SIP/2.0/TCP 127.0.0.1:CPORT;branch=z9hG4bK-xr1\r\n"
        ) && sip.contains(";tag=TAG\r\n")
            && sip.ends_with("Content-Type: text/plain\r\nServer: X\r\n\r\na SIP body"),
        "{sip}"
    );
    assert!(
        ours.received.contains("\"core:rcv_requests = "),
        "{}",
        ours.received
    );
    if let Some((reused, body)) = &ours.curl {
        assert!(*reused, "curl did not reuse its connection: {body}");
        assert_eq!(
            body,
            "<html><body>Wrong URL /a</body></html><html><body>Wrong URL /b</body></html>"
        );
    }

    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI: kamailio is required");
        eprintln!("kamailio not installed: comparison skipped");
        return;
    };
    let mut k = launch(kam, "xhttp-k", true);
    let theirs = observe(&k);
    k.server.stop();

    let mut diffs = Vec::new();
    for ((name, a), (_, b)) in ours.exchanges.iter().zip(theirs.exchanges.iter()) {
        if a != b {
            diffs.push(format!("{name}:\n  ferrosip: {a:?}\n  kamailio: {b:?}"));
        }
    }
    for (i, (a, b)) in ours
        .connection
        .iter()
        .zip(theirs.connection.iter())
        .enumerate()
    {
        if a != b {
            diffs.push(format!(
                "connection step {i}:\n  ferrosip: {a:?}\n  kamailio: {b:?}"
            ));
        }
    }
    if ours.udp != theirs.udp {
        diffs.push(format!(
            "udp:\n  ferrosip: {:?}\n  kamailio: {:?}",
            ours.udp, theirs.udp
        ));
    }
    if ours.received != theirs.received {
        diffs.push(format!(
            "rcv_requests:\n  ferrosip: {:?}\n  kamailio: {:?}",
            ours.received, theirs.received
        ));
    }
    if ours.curl != theirs.curl {
        diffs.push(format!(
            "curl:\n  ferrosip: {:?}\n  kamailio: {:?}",
            ours.curl, theirs.curl
        ));
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

/// `system.listMethods` over HTTP: the same document layout, and every command ferrosip lists
/// is one Kamailio 5.6.3 lists for the same modules (ferrosip implements a subset).
#[test]
fn list_methods_over_http() {
    let mut f = launch(ferrosip_bin(), "xhttp-lm-f", false);
    let req = post(
        "/RPC",
        r#"{"jsonrpc":"2.0","method":"system.listMethods","id":1}"#,
    );
    let ours = ask(f.to, &req);
    f.server.stop();
    // cJSON prints a string array on one line: `"result":\t["a", "b"],`.
    let names = |a: &str| -> Vec<String> {
        let Some(list) = a
            .split_once("\"result\":\t[")
            .and_then(|(_, r)| r.split_once(']'))
            .map(|(l, _)| l)
        else {
            return Vec::new();
        };
        list.split(", ")
            .map(|n| n.trim_matches('"').to_string())
            .collect()
    };
    let ours_names = names(&ours);
    for m in ["core.version", "system.listMethods", "system.methodHelp"] {
        assert!(ours_names.iter().any(|n| n == m), "{m} missing: {ours}");
    }
    assert!(ours.starts_with("HTTP/1.1 200 OK\r\n"), "{ours}");
    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI: kamailio is required");
        return;
    };
    let mut k = launch(kam, "xhttp-lm-k", true);
    let theirs = ask(k.to, &req);
    k.server.stop();
    let theirs_names = names(&theirs);
    let extra: Vec<&String> = ours_names
        .iter()
        .filter(|n| !theirs_names.contains(n))
        .collect();
    assert!(
        extra.is_empty(),
        "commands Kamailio does not have: {extra:?}"
    );
    let head = |a: &str| a.split("\r\n\r\n").next().unwrap_or_default().to_string();
    assert_eq!(head(&ours), head(&theirs));
}

/// jsonrpcs loaded before xhttp: Kamailio finds xhttp's API by name, so HTTP works in this order
/// too; both servers answer the same.
#[test]
fn jsonrpcs_loaded_before_xhttp() {
    let swap = |cfg: String| {
        cfg.replace(
            "loadmodule \"xhttp.so\"\nloadmodule \"jsonrpcs.so\"",
            "loadmodule \"jsonrpcs.so\"\nloadmodule \"xhttp.so\"",
        )
    };
    let req = post(
        "/RPC",
        r#"{"jsonrpc":"2.0","method":"core.echo","params":["order"],"id":3}"#,
    );
    let mut answers = Vec::new();
    let bins: Vec<(&str, bool)> = std::iter::once((ferrosip_bin(), false))
        .chain(kamailio_bin().map(|k| (k, true)))
        .collect();
    for (i, (bin, kamailio)) in bins.into_iter().enumerate() {
        let port = free_port();
        let name = format!("xhttp-order-{i}");
        let dir = scratch(&name);
        let run = dir.join("run");
        let _ = std::fs::create_dir_all(&run);
        let cfg = swap(config(port, &run, kamailio));
        assert!(cfg.contains("\"jsonrpcs.so\"\nloadmodule \"xhttp.so\""));
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = start(bin, &name, &cfg, &[to]);
        wait_tcp(to, &server);
        answers.push(ask(to, &req));
        server.stop();
    }
    assert!(
        answers.first().is_some_and(|a| a.contains("[\"order\"]")),
        "{answers:?}"
    );
    if let [ours, theirs] = answers.as_slice() {
        assert_eq!(ours, theirs);
    } else {
        assert!(!ci(), "CI: kamailio is required");
    }
}

/// Without xhttp an HTTP request on a SIP port gets no answer (Kamailio's non-SIP hooks drop it)
/// and the connection keeps working: a SIP OPTIONS sent on it afterwards is answered.
#[test]
fn without_xhttp_http_is_dropped() {
    let cfg = |port: u16, kamailio: bool| {
        let mpath = if kamailio {
            "mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"\n"
        } else {
            ""
        };
        format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=2\nlisten=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\ntcp_accept_no_cl=yes\n{mpath}loadmodule \"sl.so\"\nrequest_route {{\n    sl_send_reply(\"404\", \"Not Here\");\n}}\n"
        )
    };
    let mut seen = Vec::new();
    let bins: Vec<(&str, bool)> = std::iter::once((ferrosip_bin(), false))
        .chain(kamailio_bin().map(|k| (k, true)))
        .collect();
    for (i, (bin, kamailio)) in bins.into_iter().enumerate() {
        let port = free_port();
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let mut server = start(bin, &format!("xhttp-none-{i}"), &cfg(port, kamailio), &[to]);
        wait_tcp(to, &server);
        let mut c = Conn::open(to);
        c.send(get("/RPC", "HTTP/1.1").as_bytes());
        let http = c.answer(QUIET);
        let sip = format!(
            "OPTIONS sip:x@127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:{cp};branch=z9hG4bK-x1\r\nFrom: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: nox-1\r\nCSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            cp = c.port
        );
        c.send(sip.as_bytes());
        let status = c
            .answer(WAIT)
            .and_then(|a| a.lines().next().map(str::to_string));
        let log = server.log_text();
        server.stop();
        assert_eq!(http, None, "{bin} answered HTTP without xhttp");
        assert_eq!(
            status.as_deref(),
            Some("SIP/2.0 404 Not Here"),
            "{bin}: {log}"
        );
        seen.push((http, status));
    }
    assert!(seen.len() == 2 || !ci(), "CI: kamailio is required");
}

/// Kamailio's xhttp refuses to start without `event_route[xhttp:request]`; so does ferrosip.
#[test]
fn xhttp_without_its_event_route_does_not_start() {
    let port = free_port();
    let dir = scratch("xhttp-noroute");
    let run = dir.join("run");
    let _ = std::fs::create_dir_all(&run);
    let cfg = config(port, &run, false);
    let cut = cfg.find("event_route[xhttp:request]").unwrap_or(cfg.len());
    let cfg = cfg
        .get(..cut)
        .unwrap_or_default()
        .replace("jsonrpc_dispatch();", "");
    let path = dir.join("noroute.cfg");
    std::fs::write(&path, &cfg).unwrap_or_else(|e| panic!("write: {e}"));
    let out = Command::new("timeout")
        .arg("20")
        .arg(ferrosip_bin())
        .args(["-DD", "-E", "-f"])
        .arg(&path)
        .arg("-Y")
        .arg(&run)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run: {e}"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert_ne!(out.status.code(), Some(124), "kept running: {err}");
    assert!(
        err.contains("failed to find event_route[xhttp:request]"),
        "{err}"
    );
}

// ---- the stock configuration with WITH_JSONRPC ----

const DEBIAN_CFG: &str = "/etc/kamailio/kamailio.cfg";

/// Starts `bin` on a stock file with `-A WITH_JSONRPC`, listening on 127.0.0.1:`port` (UDP and
/// TCP) with a scratch run dir.
fn start_stock(bin: &str, name: &str, cfg: &Path, port: u16) -> Server {
    let dir = scratch(name);
    let run = dir.join("run");
    let _ = std::fs::remove_dir_all(&run);
    let _ = std::fs::create_dir_all(&run);
    let log = dir.join("server.log");
    let logf = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
    let mut args: Vec<String> = vec![
        "-f".into(),
        cfg.to_string_lossy().into(),
        "-DD".into(),
        "-E".into(),
        "-A".into(),
        "WITH_JSONRPC".into(),
        "-Y".into(),
        run.to_string_lossy().into(),
        "-w".into(),
        dir.to_string_lossy().into(),
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
    let to = SocketAddr::from(([127, 0, 0, 1], port));
    let t0 = Instant::now();
    while TcpStream::connect_timeout(&to, Duration::from_millis(200)).is_err() {
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("{bin} exited early ({st}): {}", s.log_text());
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "{bin} did not listen: {}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    s
}

/// What the stock event route answers: JSON-RPC at /RPC, "Wrong URL" elsewhere, and the
/// connection closed after each answer (`set_reply_close()`); plus `curl -d … /RPC`.
fn stock_answers(to: SocketAddr) -> Vec<String> {
    let mut out = Vec::new();
    for req in [
        post(
            "/RPC",
            r#"{"jsonrpc":"2.0","method":"core.version","id":1}"#,
        ),
        post("/RPC", r#"{"jsonrpc":"2.0","method":"no.such","id":2}"#),
        get("/index.html", "HTTP/1.1"),
    ] {
        let mut c = Conn::open(to);
        c.send(req.as_bytes());
        out.push(
            c.answer(WAIT)
                .map_or("(none)".into(), |a| normalise(&a, c.port)),
        );
        out.push(format!("closed: {}", c.closed(WAIT)));
    }
    if have("curl") {
        let o = Command::new("timeout")
            .args(["10", "curl", "-s", "-d"])
            .arg(r#"{"jsonrpc":"2.0","method":"core.echo","params":["x"],"id":1}"#)
            .arg(format!("http://{to}/RPC"))
            .output();
        out.push(o.map_or("(curl failed)".into(), |o| {
            String::from_utf8_lossy(&o.stdout).into_owned()
        }));
    }
    out
}

#[test]
fn stock_config_with_jsonrpc() {
    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI: kamailio is required");
        eprintln!("kamailio not installed: skipped");
        return;
    };
    if !Path::new(DEBIAN_CFG).exists() {
        assert!(!ci(), "CI: {DEBIAN_CFG} is required");
        return;
    }
    let port = free_port();
    let mut k = start_stock(kam, "xhttp-stock-k", Path::new(DEBIAN_CFG), port);
    let theirs = stock_answers(SocketAddr::from(([127, 0, 0, 1], port)));
    k.stop();
    assert!(
        theirs.first().is_some_and(|a| a.contains("VERSION")),
        "Kamailio: {theirs:?}"
    );
    let mut files = vec![PathBuf::from(DEBIAN_CFG)];
    files.extend(stock_support::stock60_path());
    for (i, file) in files.iter().enumerate() {
        let port = free_port();
        let mut f = start_stock(ferrosip_bin(), &format!("xhttp-stock-f{i}"), file, port);
        let ours = stock_answers(SocketAddr::from(([127, 0, 0, 1], port)));
        let log = f.log_text();
        assert_eq!(f.stop(), Some(0), "{log}");
        assert_eq!(ours, theirs, "{}:\n{log}", file.display());
    }
}
