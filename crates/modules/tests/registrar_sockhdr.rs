//! registrar's `add_sock_hdr(name)` through the real config compiler and script engine, and the
//! same config in Kamailio 5.6.3 over UDP: the header naming the receiving socket is added after
//! the last header; after `msg_apply_changes()` the script logs the return code, the header's
//! count and value, the message length and its MD5, which must be identical on both. Without
//! Kamailio the comparison is skipped, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ferrosip_api::{Proto, Recorder, SocketInfo, WorkerState};

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    add_sock_hdr("X-Sock");
    $var(rc) = $rc;
    if ($hdr(X-Fn) == "twice") { add_sock_hdr("Y-Sock"); }
    msg_apply_changes();
    xlog("L_ERR", "rc=$var(rc) n=$hdrc(X-Sock) v=$hdr(X-Sock) y=$hdr(Y-Sock) ml=$ml md5=$(mb{s.md5})\n");
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

/// (Call-ID, X-Fn)
const STEPS: &[(&str, &str)] = &[("h1", "once"), ("h2", "twice")];

fn message(port: u16, callid: &str, xfn: &str) -> String {
    format!(
        "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{callid};rport\r\n\
From: <sip:alice@127.0.0.1>;tag=f-{callid}\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: {callid}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nX-Fn: {xfn}\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi"
    )
}

/// The script lines of every step on ferrosip.
fn ferrosip_lines(listen: u16, client: u16) -> Vec<Vec<String>> {
    let cfg = format!(
        "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         loadmodule \"textopsx.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n{ROUTE}"
    );
    let (p, request) = harness::compile_request(
        cfg,
        vec![
            ferrosip_modules::sl::exports(),
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
            ferrosip_modules::textopsx::exports(),
            ferrosip_modules::usrloc::exports(),
            ferrosip_modules::registrar::exports(),
        ],
    );
    let mut w = WorkerState::default();
    let mut all = Vec::new();
    for (callid, xfn) in STEPS {
        let mut rec = Recorder {
            debug: 3,
            sockets: vec![SocketInfo::new(
                Proto::Udp,
                SocketAddr::from(([127, 0, 0, 1], listen)),
            )],
            ..Recorder::default()
        };
        harness::run_request(&p, request, &mut w, &mut rec, &message(client, callid, xfn));
        all.push(harness::script_lines(&rec));
    }
    all
}

#[test]
fn sock_header_names_the_receiving_socket() {
    let got = ferrosip_lines(5099, 9);
    let want_v = "rc=1 n=1 v=udp:127.0.0.1:5099 y=<null>";
    assert!(
        got[0].len() == 1 && got[0][0].starts_with(want_v),
        "{got:?}"
    );
    let want_y = "rc=1 n=1 v=udp:127.0.0.1:5099 y=udp:127.0.0.1:5099";
    assert!(
        got[1].len() == 1 && got[1][0].starts_with(want_y),
        "{got:?}"
    );
    // the original message plus both header lines
    let base = message(9, "h2", "twice").len();
    let added = 2 * "X-Sock: udp:127.0.0.1:5099\r\n".len();
    assert!(
        got[1][0].contains(&format!(" ml={} ", base + added)),
        "{got:?}"
    );
}

#[test]
fn kamailio_adds_the_same_header() {
    let port = harness::free_port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let ours = ferrosip_lines(port, client.local_addr().map(|a| a.port()).unwrap_or(9));
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         loadmodule \"textopsx.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n{ROUTE}",
        harness::MPATH,
    );
    let Some(mut kam) = harness::Kamailio::start(&cfg, port, &client, "sockhdr") else {
        return;
    };
    let dst = format!("127.0.0.1:{port}");
    for (i, (callid, xfn)) in STEPS.iter().enumerate() {
        let m = message(
            client.local_addr().map(|a| a.port()).unwrap_or(9),
            callid,
            xfn,
        );
        client
            .send_to(m.as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kam.wait_for(&format!("@@E {callid}@@"), Duration::from_secs(5)),
            "{callid}:\n{}",
            kam.text()
        );
        let theirs = harness::kamailio_step(&kam.text(), callid).unwrap_or_default();
        assert_eq!(ours[i], theirs, "step {callid}");
    }
}
