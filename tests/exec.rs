//! The exec module on ferrosip and on Kamailio 5.6.3 with the same config and the same request:
//! `exec_msg` writes the message to the command's input (the file it produces is compared byte
//! for byte), `exec_avp` fills AVPs from the output lines (integer names, then a list), `exec_cmd`
//! reports the exit status, the commands see the same `SIP_*` environment variables, and
//! `exec_dset` passes the R-URI as the last argument and turns the output into R-URI and branches.

#[path = "wire_harness.rs"]
mod harness;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::time::Duration;

use harness::{ci, ferrosip_bin, free_port, kamailio_bin, start};

fn config(port: u16, dir: &Path) -> String {
    let out = dir.join("msg.txt");
    format!(
        r#"#!KAMAILIO
listen=udp:127.0.0.1:{port}
children=1
disable_tcp=yes
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "sl.so"
loadmodule "exec.so"
request_route {{
    if (exec_msg("cat > {out}")) {{ xlog("L_ERR", "msg ok\n"); }}
    exec_avp("printf 'one\n\n two  \nthree\n'");
    xlog("L_ERR", "avp $avp(i:1)|$avp(i:2)|$avp(i:3)\n");
    exec_avp("echo a; echo b; echo c", "$avp(x), $avp(s:y)");
    xlog("L_ERR", "list $avp(x)|$avp(y)|$avp(i:3)\n");
    if (!exec_cmd("exit 3")) {{ xlog("L_ERR", "cmd failed\n"); }}
    if (exec_cmd("true")) {{ xlog("L_ERR", "cmd ok\n"); }}
    if (!exec_avp("exit 2")) {{ xlog("L_ERR", "avp failed\n"); }}
    exec_avp("echo $$SIP_HF_CALLID/$$SIP_HF_CSEQ/$$SIP_HF_MAX_FORWARDS/$$SIP_HF_X_TEST/$$SIP_HF_VIA", "$avp(e1)");
    exec_avp("echo $$SIP_ORUI/$$SIP_OUSER/$$SIP_RURI/$$SIP_USER/$$SIP_SRCIP/$$SIP_DID/$$SIP_TID", "$avp(e2)");
    xlog("L_ERR", "env $avp(e1)\n");
    xlog("L_ERR", "env $avp(e2)\n");
    if (exec_dset("echo sip:x@h1.example; echo; echo")) {{
        xlog("L_ERR", "dset $ru|$(branch(uri)[0])|$(branch(uri)[1])\n");
    }}
    if (!exec_dset("true")) {{ xlog("L_ERR", "dset empty\n"); }}
    sl_send_reply("200", "OK");
}}
"#,
        out = out.display()
    )
}

/// The request: fixed bytes (the Via names a fixed port, `rport` sends the answer back), so the
/// transaction id and the file `exec_msg` writes are the same for both servers.
fn request(port: u16) -> String {
    format!(
        "OPTIONS sip:bob@127.0.0.1:{port} SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKexec1\r\n\
         From: <sip:a@127.0.0.1>;tag=f1\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: exec-call-1\r\n\
         CSeq: 7 OPTIONS\r\nMax-Forwards: 70\r\nX-Test: one\r\nX-Test: two\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

/// Runs `bin` on `port` (the same port for both servers: the R-URI, hence `SIP_TID`, holds it).
fn run(bin: &str, name: &str, port: u16) -> (Vec<String>, Vec<u8>) {
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let dir = harness::scratch(name);
    let mut s = start(bin, name, &config(port, &dir), &[addr]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("bind: {e}"));
    let _ = sock.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 4096];
    let mut answered = false;
    for _ in 0..20 {
        let _ = sock.send_to(request(port).as_bytes(), addr);
        if sock.recv_from(&mut buf).is_ok() {
            answered = true;
            break;
        }
    }
    std::thread::sleep(Duration::from_millis(200));
    s.stop();
    let log = s.log_text();
    assert!(answered, "{bin}: no answer; log:\n{log}");
    // One run of the script: its lines up to the second env line (a retransmission repeats them).
    let lines: Vec<String> = log
        .lines()
        .filter(|l| l.contains("<script>"))
        .map(|l| l.split_once(") ").map_or(l, |(_, r)| r).to_string())
        .take(10)
        .collect();
    let file = std::fs::read(dir.join("msg.txt")).unwrap_or_default();
    (lines, file)
}

#[test]
fn exec_functions_match_kamailio() {
    let port = free_port();
    let (ours, file) = run(ferrosip_bin(), "exec-ours", port);
    let want = [
        "ERROR: <script>: msg ok",
        "ERROR: <script>: avp one| two|three",
        "ERROR: <script>: list a|b|c",
        "ERROR: <script>: cmd failed",
        "ERROR: <script>: cmd ok",
        "ERROR: <script>: avp failed",
        "ERROR: <script>: env exec-call-1/7 OPTIONS/70/one,two/SIP/2.0/UDP 127.0.0.1:5999;rport;branch=z9hG4bKexec1",
    ];
    assert_eq!(&ours[..want.len().min(ours.len())], &want[..], "{ours:#?}");
    // exec_dset: the first line is the R-URI, the empty one is skipped, the last `echo` printed the
    // R-URI it got as its argument (a branch now); no output at all fails.
    for line in [
        format!("ERROR: <script>: dset sip:x@h1.example|sip:bob@127.0.0.1:{port}|<null>"),
        "ERROR: <script>: dset empty".to_string(),
    ] {
        assert!(ours.contains(&line), "{line} in {ours:#?}");
    }
    assert_eq!(file, request(port).into_bytes(), "exec_msg input");
    let Some(k) = kamailio_bin() else {
        assert!(!ci(), "kamailio is required under CI");
        eprintln!("kamailio not installed: comparison skipped");
        return;
    };
    let (theirs, their_file) = run(k, "exec-kamailio", port);
    assert_eq!(
        ours, theirs,
        "ferrosip (left) and Kamailio 5.6.3 (right) differ"
    );
    assert_eq!(file, their_file, "exec_msg input differs");
}

/// The core's `exec("cmd")` (not the module's): the command runs, NOTICEs say it is the "dumb
/// version" and give a non-zero wait status (`exit 3` → 768), the return value is always 1 —
/// the same on Kamailio 5.6.3.
#[test]
fn core_exec_matches_kamailio() {
    let mut servers = vec![(ferrosip_bin(), "exec-core-ours")];
    match kamailio_bin() {
        Some(k) => servers.push((k, "exec-core-kamailio")),
        None => assert!(!ci(), "kamailio is required under CI"),
    }
    for (bin, name) in servers {
        let port = free_port();
        let dir = harness::scratch(name);
        let out = dir.join("core.txt");
        let _ = std::fs::remove_file(&out);
        let cfg = format!(
            "listen=udp:127.0.0.1:{port}\nchildren=1\ndisable_tcp=yes\ndebug=2\nlog_stderror=yes\n\
             loadmodule \"sl.so\"\n\
             request_route {{\n    exec(\"echo core > {}\");\n    exec(\"exit 3\");\n    \
             if (exec(\"exit 1\")) {{ sl_send_reply(\"200\", \"exec true\"); exit; }}\n    \
             sl_send_reply(\"500\", \"exec false\");\n}}\n",
            out.display()
        );
        let to = SocketAddr::from(([127, 0, 0, 1], port));
        let mut s = start(bin, name, &cfg, &[to]);
        let got = harness::udp_exchange(
            to,
            harness::options(to, "UDP", 1).as_bytes(),
            Duration::from_secs(3),
        );
        s.stop();
        let log = s.log_text();
        assert_eq!(
            harness::status_lines(&got),
            ["SIP/2.0 200 exec true"],
            "{bin}: {log}"
        );
        assert_eq!(
            std::fs::read_to_string(&out).unwrap_or_default(),
            "core\n",
            "{bin}"
        );
        for line in [
            "exec(\"exit 3\") not fully implemented, using dumb version...",
            "exec() returned 768",
            "exec() returned 256",
        ] {
            assert!(
                log.lines()
                    .any(|l| l.contains("NOTICE") && l.ends_with(line)),
                "{bin}: `{line}` in\n{log}"
            );
        }
    }
}
