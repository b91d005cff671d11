//! Differential test: the cases of `pv_support/cases.rs` marked comparable are evaluated by
//! Kamailio 5.6.3 (`/usr/sbin/kamailio`) through `xlog()` lines and compared with ferrosip's values.
//!
//! One Kamailio runs with one UDP worker on 127.0.0.1:<free port>; each case is one message (so
//! AVPs and XAVPs start empty, as in ferrosip's per-message context); the config counts messages in
//! `$var(k)` and runs the k-th case. Kamailio's stderr is read until the case's markers appear.
//! Without Kamailio the test is skipped, unless `CI` is set, where it fails.

mod pv_support;

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrosip_api::RecvInfo;
use pv_support::{call_id, cases, message, ours, registry, Case, Kam};

const KAMAILIO: &str = "/usr/sbin/kamailio";
const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// Escapes text for a double-quoted Kamailio config string.
fn cfg_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c => out.push(c),
        }
    }
    out
}

fn setup_line(pv: &str, v: pv_support::Val) -> String {
    if pv == pv_support::APPLY {
        return format!("{pv};");
    }
    match v {
        pv_support::Val::S(s) => format!("{pv} = \"{}\";", cfg_str(s)),
        pv_support::Val::I(i) => format!("{pv} = {i};"),
        pv_support::Val::N => format!("{pv} = $null;"),
    }
}

fn config(port: u16, list: &[&Case]) -> String {
    // Request cases go to request_route, reply cases to reply_route; both count every message.
    let mut req = String::new();
    let mut rpl = String::new();
    for (k, c) in list.iter().enumerate() {
        let body = if message(c.msg).starts_with(b"SIP/2.0 ") {
            &mut rpl
        } else {
            &mut req
        };
        body.push_str(&format!("\tif ($var(k) == {}) {{\n", k + 1));
        for (pv, v) in c.setup {
            body.push_str(&format!("\t\t{}\n", setup_line(pv, *v)));
        }
        body.push_str(&format!(
            "\t\txlog(\"L_ERR\", \"@@{}@@{}@@E@@\\n\");\n\t}}\n",
            k + 1,
            cfg_str(c.expr)
        ));
    }
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{MPATH}\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"textopsx.so\"\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \t$var(k) = $var(k) + 1;\n{req}\texit;\n}}\n\
         reply_route {{\n\t$var(k) = $var(k) + 1;\n{rpl}\tdrop;\n}}\n"
    )
}

struct Kamailio {
    child: Child,
    err: Arc<Mutex<Vec<u8>>>,
    dir: std::path::PathBuf,
}

impl Kamailio {
    fn text(&self) -> String {
        let g = match self.err.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        String::from_utf8_lossy(&g).into_owned()
    }

    /// Waits until `needle` is in stderr.
    fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.text().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.text().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM to the main process makes it stop its children; SIGKILL if it lingers.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let start = Instant::now();
        let mut exited = false;
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                exited = true;
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if !exited {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn ping() -> Vec<u8> {
    b"OPTIONS sip:ping@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-ping\r\n\
From: <sip:t@x>;tag=1\r\nTo: <sip:t@x>\r\nCall-ID: ping\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
        .to_vec()
}

/// Starts Kamailio with the cases on a free port and waits until it answers the ping. Returns the
/// running instance and its address, or its log.
fn start(list: &[&Case], client: &UdpSocket, attempt: u32) -> Result<(Kamailio, String), String> {
    let port = {
        let probe = UdpSocket::bind("127.0.0.1:0").expect("probe socket");
        probe.local_addr().expect("addr").port()
    };
    let dir =
        std::env::temp_dir().join(format!("ferrosip-pv-kam-{}-{attempt}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmpdir");
    let cfg_path = dir.join("pv.cfg");
    std::fs::write(&cfg_path, config(port, list)).expect("write cfg");
    let mut child = Command::new(KAMAILIO)
        .arg("-f")
        .arg(&cfg_path)
        .args(["-DD", "-E", "-n", "1", "-M", "64", "-Y"])
        .arg(&dir)
        .arg("-w")
        .arg(&dir)
        .env("FERROSIP_PV_TEST", "pv-env-value")
        .env("FERROSIP_PV_NUM", "42")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start kamailio");
    let err = Arc::new(Mutex::new(Vec::new()));
    let mut pipe = child.stderr.take().expect("stderr pipe");
    let sink = err.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut g) = sink.lock() {
                g.extend_from_slice(&buf[..n]);
            }
        }
    });
    let mut kam = Kamailio {
        child,
        err,
        dir: dir.clone(),
    };
    let dst = format!("127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..100 {
        let _ = client.send_to(&ping(), &dst);
        if kam.wait_for("@@READY@@", Duration::from_millis(100)) {
            ready = true;
            break;
        }
        if let Ok(Some(_)) = kam.child.try_wait() {
            break;
        }
    }
    if ready {
        Ok((kam, dst))
    } else {
        Err(kam.text())
    }
}

#[test]
fn kamailio_56_agrees() {
    if !std::path::Path::new(KAMAILIO).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and {KAMAILIO} is missing"
        );
        eprintln!("skipped: {KAMAILIO} not installed");
        return;
    }
    std::env::set_var("FERROSIP_PV_TEST", "pv-env-value");
    std::env::set_var("FERROSIP_PV_NUM", "42");
    let all = cases::all();
    let list: Vec<&Case> = all.iter().filter(|c| c.kam == Kam::Same).collect();
    let client = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    client
        .set_read_timeout(Some(Duration::from_millis(50)))
        .expect("timeout");
    // A port picked free may be taken before Kamailio binds it (other tests run Kamailio too):
    // try a few times.
    let mut started = None;
    let mut last_log = String::new();
    for attempt in 0..3 {
        match start(&list, &client, attempt) {
            Ok(x) => {
                started = Some(x);
                break;
            }
            Err(log) => last_log = log,
        }
    }
    let Some((mut kam, dst)) = started else {
        panic!("kamailio did not start:\n{last_log}");
    };
    let reg = registry();
    let rcv = RecvInfo {
        src: client.local_addr().expect("client addr"),
        dst: dst.parse().expect("server addr"),
        ..RecvInfo::default()
    };
    let mut mismatches = Vec::new();
    for (k, c) in list.iter().enumerate() {
        let k = k + 1;
        client.send_to(&message(c.msg), &dst).expect("send");
        let start_marker = format!("@@{k}@@");
        assert!(
            kam.wait_for(&start_marker, Duration::from_secs(5)),
            "no output for case {k} ({}) on {} ({}):\n{}",
            c.expr,
            c.msg,
            call_id(c.msg),
            kam.text()
        );
        assert!(
            kam.wait_for("@@E@@", Duration::from_secs(5)),
            "unterminated output for case {k} ({}) on {}:\n{}",
            c.expr,
            c.msg,
            kam.text()
        );
        let text = kam.text();
        let from = text
            .find(&start_marker)
            .map(|i| i + start_marker.len())
            .unwrap_or(0);
        let theirs = text
            .get(from..)
            .and_then(|t| t.find("@@E@@").map(|e| t[..e].to_string()))
            .unwrap_or_default();
        let (mine, _) = ours(&reg, c, rcv).expect("ferrosip evaluation");
        if mine != theirs {
            mismatches.push(format!(
                "{} on {}: kamailio {theirs:?}, ferrosip {mine:?}",
                c.expr, c.msg
            ));
        }
        // Keep the buffer small: drop what has been read.
        if let Ok(mut g) = kam.err.lock() {
            g.clear();
        }
    }
    drop(kam);
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ from Kamailio 5.6.3:\n{}",
        mismatches.len(),
        list.len(),
        mismatches.join("\n")
    );
}
