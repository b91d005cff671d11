//! `log_prefix` is rendered per message and printed after the level of every log line written while
//! the message is processed — compared with the line Kamailio 5.6.3 writes for the same config.
//! With `log_prefix_mode=1` it is rendered again around every action, so it follows variables the
//! script changes; with 0 it keeps the value it had when the message arrived.

use std::io::Read;
use std::net::UdpSocket;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn config(port: u16) -> String {
    format!(
        "#!KAMAILIO\nlisten=udp:127.0.0.1:{port}\nchildren=1\ndisable_tcp=yes\n\
         log_prefix=\"{{$rm $ci}} \"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\n\
         request_route {{\n    xlog(\"L_ERR\", \"hello\\n\");\n    sl_send_reply(\"200\", \"OK\");\n}}\n"
    )
}

/// Sends one OPTIONS (retrying while the server starts) and returns once it is answered.
fn options(port: u16) -> bool {
    let s = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    s.set_read_timeout(Some(Duration::from_millis(300)))
        .expect("timeout");
    let local = s.local_addr().expect("local address").port();
    let m = format!(
        "OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bKlp\r\n\
         From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:127.0.0.1>\r\nCall-ID: lp-call-1\r\nCSeq: 1 OPTIONS\r\n\
         Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    let mut buf = [0u8; 4096];
    for _ in 0..30 {
        let _ = s.send_to(m.as_bytes(), ("127.0.0.1", port));
        if s.recv_from(&mut buf).is_ok() {
            return true;
        }
    }
    false
}

/// Runs `cmd` on a config file, sends one OPTIONS, stops it by PID and returns the line with `hello`.
fn hello_line(mut cmd: Command, port: u16) -> String {
    let mut child: Child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let answered = options(port);
    // Stop by PID (SIGTERM), as every test here does.
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    assert!(answered, "no answer; stderr:\n{err}");
    err.lines()
        .find(|l| l.contains("hello"))
        .map(|l| l.split_once(')').map_or(l, |(_, rest)| rest).to_string())
        .unwrap_or_else(|| panic!("no hello line in:\n{err}"))
}

#[test]
fn log_prefix_is_printed_like_kamailio() {
    let dir = std::env::temp_dir().join(format!("ferrosip-logprefix-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_udp_port();
    let cfg = dir.join("lp.cfg");
    std::fs::write(&cfg, config(port)).expect("config");
    let mut ours = Command::new(env!("CARGO_BIN_EXE_ferrosip"));
    ours.args(["-DD", "-E", "-f"]).arg(&cfg).arg("-Y").arg(&dir);
    let line = hello_line(ours, port);
    assert_eq!(line, " ERROR: {OPTIONS lp-call-1} <script>: hello");

    let kamailio = "/usr/sbin/kamailio";
    if !std::path::Path::new(kamailio).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kamailio is required under CI"
        );
        eprintln!("kamailio not installed: comparison skipped");
        return;
    }
    let port = free_udp_port();
    std::fs::write(&cfg, config(port)).expect("config");
    let mut theirs = Command::new(kamailio);
    theirs
        .args(["-DD", "-E", "-n", "1", "-f"])
        .arg(&cfg)
        .arg("-Y")
        .arg(&dir)
        .arg("-w")
        .arg(&dir);
    assert_eq!(hello_line(theirs, port), line);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A config whose prefix shows `$var(n)`, which the script changes between two xlog lines.
fn mode_config(port: u16, mode: i64) -> String {
    format!(
        "#!KAMAILIO\nlisten=udp:127.0.0.1:{port}\nchildren=1\ndisable_tcp=yes\n\
         log_prefix=\"[$var(n)] \"\nlog_prefix_mode={mode}\n\
         loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\n\
         request_route {{\n    $var(n) = 1;\n    xlog(\"L_ERR\", \"first\\n\");\n\
         $var(n) = $var(n) + 1;\n    if ($var(n) == 2) {{ xlog(\"L_ERR\", \"second\\n\"); }}\n\
         sl_send_reply(\"200\", \"OK\");\n}}\n"
    )
}

/// Runs `cmd`, sends one OPTIONS, stops it and returns the `first`/`second` lines without the
/// process origin.
fn mode_lines(mut cmd: Command, port: u16) -> Vec<String> {
    let mut child: Child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("server starts");
    let answered = options(port);
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    assert!(answered, "no answer; stderr:\n{err}");
    err.lines()
        .filter(|l| l.contains("first") || l.contains("second"))
        .map(|l| l.split_once(')').map_or(l, |(_, rest)| rest).to_string())
        .collect()
}

#[test]
fn log_prefix_mode_renders_per_action_like_kamailio() {
    let dir = std::env::temp_dir().join(format!("ferrosip-logprefixmode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let cfg = dir.join("lpm.cfg");
    let kamailio = "/usr/sbin/kamailio";
    let have_kamailio = std::path::Path::new(kamailio).exists();
    if !have_kamailio {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "kamailio is required under CI"
        );
        eprintln!("kamailio not installed: comparison skipped");
    }
    let cases: [(i64, [&str; 2]); 2] = [
        // Once per message: `$var(n)` was 0 when the message arrived.
        (
            0,
            [
                " ERROR: [0] <script>: first",
                " ERROR: [0] <script>: second",
            ],
        ),
        // Before each action: the value the previous actions left.
        (
            1,
            [
                " ERROR: [1] <script>: first",
                " ERROR: [2] <script>: second",
            ],
        ),
    ];
    for (mode, want) in cases {
        let port = free_udp_port();
        std::fs::write(&cfg, mode_config(port, mode)).expect("config");
        let mut ours = Command::new(env!("CARGO_BIN_EXE_ferrosip"));
        ours.args(["-DD", "-E", "-f"]).arg(&cfg).arg("-Y").arg(&dir);
        let lines = mode_lines(ours, port);
        assert_eq!(lines, want, "log_prefix_mode={mode}");
        if have_kamailio {
            let port = free_udp_port();
            std::fs::write(&cfg, mode_config(port, mode)).expect("config");
            let mut theirs = Command::new(kamailio);
            theirs
                .args(["-DD", "-E", "-n", "1", "-f"])
                .arg(&cfg)
                .arg("-Y")
                .arg(&dir)
                .arg("-w")
                .arg(&dir);
            assert_eq!(mode_lines(theirs, port), lines, "log_prefix_mode={mode}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
