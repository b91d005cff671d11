//! Shared helpers of the black-box wire tests (`tests/wire.rs`, `tests/torture.rs`,
//! `tests/protos.rs`), included with `#[path]`: start ferrosip or Kamailio on 127.0.0.1 with a
//! config text, send raw SIP over UDP/TCP, stop the server by its pid.
#![allow(dead_code)]

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ferrosip-wire-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir_all(&d);
    d
}

/// A port that is free for UDP and TCP on 127.0.0.1 and ::1 right now.
pub fn free_port() -> u16 {
    for _ in 0..50 {
        let Ok(u) = UdpSocket::bind("127.0.0.1:0") else {
            continue;
        };
        let Ok(a) = u.local_addr() else { continue };
        let p = a.port();
        if std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
            && UdpSocket::bind(("::1", p)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port");
}

/// Sends a signal with kill(1) (the root package has no libc dependency).
pub fn signal(pid: i32, sig: &str) {
    let _ = Command::new("kill")
        .args([format!("-{sig}"), pid.to_string()])
        .status();
}

/// A running server; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    pub child: Child,
    pub dir: PathBuf,
    pub log: PathBuf,
}

impl Server {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// SIGTERM and wait; returns the exit code. The server runs in its own process group (see
    /// [`start_args`]), which is then SIGKILLed: a Kamailio whose main process hung in its shutdown,
    /// or left a worker behind, leaves nothing running.
    pub fn stop(&mut self) -> Option<i32> {
        signal(self.pid(), "TERM");
        let t0 = Instant::now();
        let mut code = None;
        let mut exited = false;
        while t0.elapsed() < Duration::from_secs(8) {
            if let Ok(Some(st)) = self.child.try_wait() {
                code = st.code();
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.pid())])
            .stderr(Stdio::null())
            .status();
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        code
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident set size in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmRSS:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.stop();
        }
    }
}

pub fn ferrosip_bin() -> &'static str {
    env!("CARGO_BIN_EXE_ferrosip")
}

pub fn kamailio_bin() -> Option<&'static str> {
    let k = "/usr/sbin/kamailio";
    std::path::Path::new(k).exists().then_some(k)
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// True when the test must fail instead of skipping for a missing tool.
pub fn ci() -> bool {
    std::env::var_os("CI").is_some()
}

/// Starts `bin` in the foreground (`-DD -E`) with `cfg`, waits until `probe` answers or the
/// log shows it listens.
pub fn start(bin: &str, name: &str, cfg: &str, ready: &[SocketAddr]) -> Server {
    start_args(bin, name, cfg, ready, &[])
}

/// [`start`] with more command-line arguments (`-A NAME=value` …).
pub fn start_args(
    bin: &str,
    name: &str,
    cfg: &str,
    ready: &[SocketAddr],
    extra: &[&str],
) -> Server {
    let dir = scratch(name);
    let cfg_path = dir.join("test.cfg");
    std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| panic!("write cfg: {e}"));
    let log = dir.join("server.log");
    let logf = std::fs::File::create(&log).unwrap_or_else(|e| panic!("log file: {e}"));
    let run = dir.join("run");
    let _ = std::fs::create_dir_all(&run);
    let mut args: Vec<String> = vec![
        "-f".into(),
        cfg_path.to_string_lossy().into(),
        "-DD".into(),
        "-E".into(),
        "-Y".into(),
        run.to_string_lossy().into(),
        "-w".into(),
        dir.to_string_lossy().into(),
    ];
    if bin.contains("kamailio") {
        args.extend(["-m".into(), "64".into(), "-M".into(), "8".into()]);
    }
    args.extend(extra.iter().map(|a| a.to_string()));
    let child = Command::new(bin)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(logf)
        // Its own process group, which stop() kills as a whole.
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {bin}: {e}"));
    let mut s = Server { child, dir, log };
    let t0 = Instant::now();
    loop {
        if let Ok(Some(st)) = s.child.try_wait() {
            panic!("{bin} exited early ({st}): {}", s.log_text());
        }
        if ready.iter().all(|a| port_bound(*a)) {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(15),
            "{bin} did not start: {}",
            s.log_text()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    s
}

/// True when something listens on the UDP address (a bind fails).
fn port_bound(a: SocketAddr) -> bool {
    UdpSocket::bind(a).is_err()
}

/// Sends one datagram from a fresh socket and collects what comes back within `wait`.
pub fn udp_exchange(to: SocketAddr, msg: &[u8], wait: Duration) -> Vec<String> {
    let bind: SocketAddr = if to.is_ipv4() {
        "127.0.0.1:0".parse().unwrap_or(to)
    } else {
        "[::1]:0".parse().unwrap_or(to)
    };
    let s = UdpSocket::bind(bind).unwrap_or_else(|e| panic!("bind: {e}"));
    let _ = s.send_to(msg, to);
    collect_udp(&s, wait)
}

pub fn collect_udp(s: &UdpSocket, wait: Duration) -> Vec<String> {
    let mut out = Vec::new();
    let t0 = Instant::now();
    let mut buf = vec![0u8; 70000];
    while t0.elapsed() < wait {
        let left = wait
            .saturating_sub(t0.elapsed())
            .max(Duration::from_millis(1));
        let _ = s.set_read_timeout(Some(left));
        match s.recv_from(&mut buf) {
            Ok((n, _)) => {
                out.push(String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned());
                // one answer is what every caller waits for; keep listening briefly for a second
                if out.len() == 1 {
                    let _ = s.set_read_timeout(Some(Duration::from_millis(50)));
                    if let Ok((n, _)) = s.recv_from(&mut buf) {
                        out.push(String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned());
                    }
                    return out;
                }
            }
            Err(_) => break,
        }
    }
    out
}

/// Writes `msg` on a new TCP connection and collects what arrives within `wait` (stops after the
/// first complete answer).
pub fn tcp_exchange(to: SocketAddr, msg: &[u8], wait: Duration) -> Vec<String> {
    let Ok(mut c) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) else {
        return vec!["<connect failed>".into()];
    };
    let _ = c.write_all(msg);
    let mut got = Vec::new();
    let t0 = Instant::now();
    let mut buf = [0u8; 8192];
    while t0.elapsed() < wait {
        let _ = c.set_read_timeout(Some(Duration::from_millis(50)));
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                got.extend_from_slice(buf.get(..n).unwrap_or(&[]));
                let t = String::from_utf8_lossy(&got);
                if let Some(end) = t.find("\r\n\r\n") {
                    let cl = t
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            let k = k.trim().to_ascii_lowercase();
                            (k == "content-length" || k == "l")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + cl {
                        break;
                    }
                }
            }
            Err(_) => {}
        }
    }
    if got.is_empty() {
        vec![]
    } else {
        vec![String::from_utf8_lossy(&got).into_owned()]
    }
}

/// First line of each answer.
pub fn status_lines(answers: &[String]) -> Vec<String> {
    answers
        .iter()
        .map(|a| a.lines().next().unwrap_or("").to_string())
        .collect()
}

/// An OPTIONS health check from `from_port`-less socket.
pub fn options(to: SocketAddr, proto: &str, n: u32) -> String {
    let host = match to {
        SocketAddr::V6(a) => format!("[{}]", a.ip()),
        SocketAddr::V4(a) => a.ip().to_string(),
    };
    format!(
        "OPTIONS sip:ping@{host}:{port} SIP/2.0\r\n\
Via: SIP/2.0/{proto} {host}:9;branch=z9hG4bKhc{n};rport\r\n\
From: <sip:hc@{host}>;tag=hc{n}\r\n\
To: <sip:ping@{host}>\r\n\
Call-ID: hc-{n}@test\r\n\
CSeq: {n} OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n",
        port = to.port()
    )
}

/// True when the server answers an OPTIONS with a 200 over UDP.
pub fn healthy(to: SocketAddr, n: u32) -> bool {
    for _ in 0..3 {
        let a = udp_exchange(
            to,
            options(to, "UDP", n).as_bytes(),
            Duration::from_millis(700),
        );
        if status_lines(&a)
            .iter()
            .any(|l| l.starts_with("SIP/2.0 200"))
        {
            return true;
        }
    }
    false
}

/// The sl configuration used by the wire, torture and PROTOS tests.
pub fn sl_cfg(port: u16, extra_listen: &str) -> String {
    format!(
        "listen=udp:127.0.0.1:{port}\nlisten=tcp:127.0.0.1:{port}\n{extra_listen}\
children=2\nlog_stderror=yes\ndebug=1\nloadmodule \"sl.so\"\n\
request_route {{\n\
    if (method == \"OPTIONS\") {{\n        sl_send_reply(\"200\", \"OK\");\n        exit;\n    }}\n\
    if (method == \"ACK\") {{ exit; }}\n\
    sl_send_reply(\"405\", \"Method Not Allowed\");\n}}\n"
    )
}

/// The nonce and realm of the (WWW-/Proxy-)Authenticate challenge in `reply`; empty strings when
/// it has none.
pub fn digest_challenge(reply: &str) -> (String, String) {
    let Some(line) = reply.lines().find(|l| l.contains("Authenticate:")) else {
        return (String::new(), String::new());
    };
    let field = |name: &str| {
        line.split(&format!("{name}=\""))
            .nth(1)
            .and_then(|r| r.split('"').next())
            .unwrap_or("")
            .to_string()
    };
    (field("nonce"), field("realm"))
}

/// MD5 digest credentials without qop (what SIP phones and sipsak send) for `method uri`.
pub fn digest_credentials(
    user: &str,
    realm: &str,
    pass: &str,
    nonce: &str,
    method: &str,
    uri: &str,
) -> String {
    use ferrosip_modules::auth::digest::{ha1, response, Alg, Qop, ResponseInput};
    let h = ha1(
        Alg::Md5,
        user.as_bytes(),
        realm.as_bytes(),
        pass.as_bytes(),
        b"",
        b"",
    );
    let resp = response(
        Alg::Md5,
        &ResponseInput {
            ha1: &h,
            nonce: nonce.as_bytes(),
            nc: b"",
            cnonce: b"",
            qop: Qop::None,
            method: method.as_bytes(),
            uri: uri.as_bytes(),
            body: b"",
        },
    );
    format!(
        "Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", \
         response=\"{resp}\", algorithm=MD5"
    )
}

/// The server URL in `var`, or `None` — the test is then skipped with a message — when it is unset.
/// `.ci/run` starts PostgreSQL and MariaDB (crates/db/scripts/test-servers.sh) and sets the URLs, so
/// in CI (`CI` set) a missing URL is a failure, not a skip.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: {var} must be set (.ci/run starts the servers)"
            );
            eprintln!("{var} not set: skipped (crates/db/scripts/test-servers.sh starts a server)");
            None
        }
    }
}

/// One JSON-RPC call over jsonrpcs' datagram socket (`<dir>/rpc.sock`); the answer with whitespace outside strings
/// removed (Kamailio pretty-prints, ferrosip does not).
pub fn rpc_dgram(dir: &std::path::Path, method: &str, params: &[&str], wait: Duration) -> String {
    let sock = dir.join("rpc.sock");
    let me = dir.join(format!("client-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&me);
    let Ok(c) = std::os::unix::net::UnixDatagram::bind(&me) else {
        return format!("<cannot bind {}>", me.display());
    };
    let _ = c.set_read_timeout(Some(wait));
    let esc = |s: &str| {
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace("\r", "\\r")
            .replace("\n", "\\n")
    };
    let ps: Vec<String> = params.iter().map(|p| format!("\"{}\"", esc(p))).collect();
    let req = format!(
        r#"{{"jsonrpc": "2.0", "method": "{method}", "params": [{}], "id": 1}}"#,
        ps.join(", ")
    );
    let mut buf = vec![0u8; 65536];
    let out = match c
        .send_to(req.as_bytes(), &sock)
        .and_then(|_| c.recv(&mut buf))
    {
        Ok(n) => String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned(),
        Err(e) => format!("<{e}>"),
    };
    let _ = std::fs::remove_file(&me);
    compact_json(&out)
}

/// JSON text without the whitespace outside strings.
pub fn compact_json(s: &str) -> String {
    let mut out = String::new();
    let (mut in_str, mut esc) = (false, false);
    for c in s.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// A fresh SQLite file with Kamailio's `version` and `location` tables; its URL.
pub fn sqlite_location(name: &str) -> String {
    use ferrosip_modules::db::ferrosip_db::{schema, Db};
    let f = scratch(name).join("location.db");
    let _ = std::fs::remove_file(&f);
    let url = format!("sqlite://{}", f.display());
    let db = Db::connect(&url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let tables: Vec<_> = ["version", "location"]
        .iter()
        .filter_map(|t| schema::table(t))
        .collect();
    schema::create(&db, &tables).unwrap_or_else(|e| panic!("{e}"));
    url
}

/// The usernames in the `location` table at `url`, sorted.
pub fn location_users(url: &str) -> Vec<String> {
    use ferrosip_modules::db::ferrosip_db::Db;
    let db = Db::connect(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    let r = db
        .raw_query("SELECT username FROM location ORDER BY username")
        .unwrap_or_else(|e| panic!("{e}"));
    r.rows
        .iter()
        .filter_map(|row| row.first().and_then(|v| v.as_str().map(str::to_string)))
        .collect()
}
