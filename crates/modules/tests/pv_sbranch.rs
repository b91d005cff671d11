//! pv's static branch (`$sbranch(attr)`, `sbranch_set_ruri()`, `sbranch_append()`,
//! `sbranch_reset()`) through the real config compiler and script engine, and the same config in
//! Kamailio 5.6.3 over UDP (one worker, so the static branch outlives each message there as it
//! does on our worker thread). Every step logs the static branch, the R-URI, `$du` and the
//! branches; the lines must be the expected ones on ferrosip and identical on Kamailio. Without
//! Kamailio the comparison is skipped, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{Recorder, WorkerState};

const CHECK: &str = r#"route[CHECK] {
    xlog("L_ERR", "rc=$var(rc) s=$sbranch(uri) d=$sbranch(dst_uri) p=$sbranch(path) q=$sbranch(q) f=$sbranch(flags) c=$sbranch(count)\n");
    xlog("L_ERR", "ru=$ru du=$du bf=$bf n=$branch(count)\n");
    $var(i) = 0;
    while ($var(i) < $branch(count) && $var(i) < 5) {
        xlog("L_ERR", "b$var(i) $(branch(uri)[$var(i)]) d=$(branch(dst_uri)[$var(i)]) p=$(branch(path)[$var(i)]) q=$(branch(q)[$var(i)]) f=$(branch(flags)[$var(i)])\n");
        $var(i) = $var(i) + 1;
    }
}
"#;

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    $var(rc) = 0;
    if ($hdr(X-Fn) == "fill") {
        $sbranch(uri) = "sip:a@10.0.0.1";
        $sbranch(dst_uri) = "sip:10.0.0.9:5080";
        $sbranch(path) = "<sip:p.example;lr>";
        $sbranch(flags) = 3;
    } else if ($hdr(X-Fn) == "ruri") {
        sbranch_set_ruri();
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "append") {
        $sbranch(q) = 500;
        sbranch_append();
        $var(rc) = $rc;
        $sbranch(dst_uri) = $null;
        $sbranch(q) = $null;
        sbranch_append();
    } else if ($hdr(X-Fn) == "reset") {
        sbranch_reset();
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "empty") {
        sbranch_set_ruri();
        $var(rc) = $rc;
        sbranch_append();
        $var(rc) = $var(rc) + $rc;
    } else if ($hdr(X-Fn) == "clear") {
        $sbranch(uri) = "sip:b@10.0.0.2";
        $sbranch(flags) = 4;
        $sbranch(uri) = $null;
    }
    route(CHECK);
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

/// (Call-ID, X-Fn)
const STEPS: &[(&str, &str)] = &[
    ("s1", "fill"),
    ("s2", "ruri"),
    ("s3", "append"),
    ("s4", "reset"),
    ("s5", "empty"),
    ("s6", "clear"),
];

/// The lines expected on ferrosip, step by step.
const WANT: &[&[&str]] = &[
    &[
        "rc=0 s=sip:a@10.0.0.1 d=sip:10.0.0.9:5080 p=<sip:p.example;lr> q=0 f=3 c=0",
        "ru=sip:bob@127.0.0.1 du=<null> bf=0 n=<null>",
    ],
    &[
        "rc=1 s=sip:a@10.0.0.1 d=sip:10.0.0.9:5080 p=<sip:p.example;lr> q=0 f=3 c=0",
        "ru=sip:a@10.0.0.1 du=sip:10.0.0.9:5080 bf=3 n=<null>",
    ],
    &[
        "rc=1 s=sip:a@10.0.0.1 d=<null> p=<sip:p.example;lr> q=<null> f=3 c=2",
        "ru=sip:bob@127.0.0.1 du=<null> bf=0 n=2",
        "b0 sip:a@10.0.0.1 d=sip:10.0.0.9:5080 p=<sip:p.example;lr> q=500 f=3",
        "b1 sip:a@10.0.0.1 d=<null> p=<sip:p.example;lr> q=<null> f=3",
    ],
    &[
        "rc=1 s=<null> d=<null> p=<null> q=<null> f=<null> c=0",
        "ru=sip:bob@127.0.0.1 du=<null> bf=0 n=<null>",
    ],
    &[
        "rc=-2 s=<null> d=<null> p=<null> q=<null> f=<null> c=0",
        "ru=sip:bob@127.0.0.1 du=<null> bf=0 n=<null>",
    ],
    &[
        "rc=0 s=<null> d=<null> p=<null> q=<null> f=<null> c=0",
        "ru=sip:bob@127.0.0.1 du=<null> bf=0 n=<null>",
    ],
];

fn message(port: u16, callid: &str, xfn: &str) -> String {
    format!(
        "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{callid};rport\r\n\
From: <sip:alice@127.0.0.1>;tag=f-{callid}\r\nTo: <sip:bob@127.0.0.1>\r\n\
Call-ID: {callid}\r\nCSeq: 1 MESSAGE\r\nMax-Forwards: 70\r\nX-Fn: {xfn}\r\nContent-Length: 0\r\n\r\n"
    )
}

/// The script lines of every step on ferrosip.
fn ferrosip_lines() -> Vec<Vec<String>> {
    let cfg = format!("loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n{CHECK}{ROUTE}");
    let (p, request) = harness::compile_request(
        cfg,
        vec![
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
        ],
    );
    let mut w = WorkerState::default();
    let mut all = Vec::new();
    for (callid, xfn) in STEPS {
        let mut rec = Recorder {
            debug: 3,
            ..Recorder::default()
        };
        harness::run_request(&p, request, &mut w, &mut rec, &message(9, callid, xfn));
        all.push(harness::script_lines(&rec));
    }
    all
}

#[test]
fn static_branch_lines() {
    let got = ferrosip_lines();
    assert_eq!(got.len(), WANT.len());
    for (i, (got, want)) in got.iter().zip(WANT.iter()).enumerate() {
        assert_eq!(got, want, "step {}", STEPS[i].0);
    }
}

#[test]
fn kamailio_agrees_on_the_static_branch() {
    let ours = ferrosip_lines();
    let port = harness::free_port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n{CHECK}{ROUTE}",
        harness::MPATH,
    );
    let Some(mut kam) = harness::Kamailio::start(&cfg, port, &client, "sbranch") else {
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
