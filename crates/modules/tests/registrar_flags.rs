//! registrar's `registered()` with match flags (3 parameters) and action flags (4 parameters)
//! through the real config compiler and script engine, and the same config in Kamailio 5.6.3 over
//! UDP: a REGISTER saves a contact with a `xavp_contact` record, then MESSAGEs call
//! `registered()` with flags and the script logs the return code, how many `$xavp(rcd)` records
//! exist and the `xavp_contact` record it sees. Action bit 1 copies the contact's record, bit 2
//! leaves `xavp_rcd` alone; the match flags narrow nothing without `xavp_cfg` (not set here), in
//! Kamailio as well. Without Kamailio the comparison is skipped, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{Recorder, WorkerState};

const CHECK: &str = r#"route[CHECK] {
    xlog("L_ERR", "$rm rc=$var(rc) n=$cnt($xavp(rcd)) a=$xavp(ulattrs=>a) k=$cnt($xavp(ulattrs))\n");
}
"#;

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    $var(rc) = 0;
    if (method == "REGISTER") {
        $xavp(ulattrs=>a) = "v1";
        save("location");
        $var(rc) = $rc;
        $xavp(ulattrs) = $null;
        $xavp(rcd) = $null;
    } else if ($hdr(X-Fn) == "m7") {
        registered("location", "$ru", 7);
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "a1") {
        registered("location", "$ru", 0, 1);
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "a2") {
        registered("location", "$ru", 0, 2);
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "a3") {
        $var(act) = 3;
        registered("location", "$ru", "$var(act)", "$var(act)");
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "bob") {
        registered("location", "sip:bob@127.0.0.1", 7, 1);
        $var(rc) = $rc;
    }
    route(CHECK);
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

/// (Call-ID, method, X-Fn)
const STEPS: &[(&str, &str, &str)] = &[
    ("r1", "REGISTER", ""),
    ("m1", "MESSAGE", "m7"),
    ("m2", "MESSAGE", "a1"),
    ("m3", "MESSAGE", "a2"),
    ("m4", "MESSAGE", "a3"),
    ("m5", "MESSAGE", "bob"),
];

/// The lines expected on ferrosip, step by step (the 6.0 documentation's behaviour).
const WANT: &[&[&str]] = &[
    &["REGISTER rc=1 n=0 a=<null> k=0"],
    &["MESSAGE rc=1 n=1 a=<null> k=0"],
    &["MESSAGE rc=1 n=1 a=v1 k=1"],
    &["MESSAGE rc=1 n=0 a=<null> k=0"],
    &["MESSAGE rc=1 n=0 a=v1 k=1"],
    &["MESSAGE rc=-1 n=0 a=<null> k=0"],
];

fn message(port: u16, callid: &str, method: &str, xfn: &str) -> String {
    let extra = if method == "REGISTER" {
        "Contact: <sip:c1@10.0.0.1>\r\nExpires: 3600\r\n".to_string()
    } else {
        format!("X-Fn: {xfn}\r\n")
    };
    format!(
        "{method} sip:alice@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{callid};rport\r\n\
From: <sip:alice@127.0.0.1>;tag=f-{callid}\r\nTo: <sip:alice@127.0.0.1>\r\n\
Call-ID: {callid}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

const MODPARAMS: &str = "modparam(\"registrar\", \"xavp_rcd\", \"rcd\")\n\
modparam(\"usrloc\", \"xavp_contact\", \"ulattrs\")\n";

/// The script lines of every step on ferrosip.
fn ferrosip_lines() -> Vec<Vec<String>> {
    let (p, request) = harness::compile_registrar(&format!("{}{CHECK}{ROUTE}", MODPARAMS));
    let mut w = WorkerState::default();
    let mut all = Vec::new();
    for (callid, method, xfn) in STEPS {
        let mut rec = Recorder {
            debug: 3,
            ..Recorder::default()
        };
        harness::run_request(
            &p,
            request,
            &mut w,
            &mut rec,
            &message(9, callid, method, xfn),
        );
        if *method == "REGISTER" {
            let sent = rec
                .sent
                .first()
                .map(|s| String::from_utf8_lossy(&s.1).into_owned());
            assert!(
                sent.as_deref()
                    .is_some_and(|s| s.starts_with("SIP/2.0 200 ")),
                "{sent:?}"
            );
        }
        all.push(harness::script_lines(&rec));
    }
    all
}

#[test]
fn registered_flags_follow_the_documentation() {
    let got = ferrosip_lines();
    assert_eq!(got.len(), WANT.len());
    for (i, (got, want)) in got.iter().zip(WANT.iter()).enumerate() {
        assert_eq!(got, want, "step {}", STEPS[i].0);
    }
}

#[test]
fn kamailio_agrees_on_registered_flags() {
    let ours = ferrosip_lines();
    let port = harness::free_port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         loadmodule \"xlog.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n{}{CHECK}{ROUTE}",
        harness::MPATH,
        MODPARAMS
    );
    let Some(mut kam) = harness::Kamailio::start(&cfg, port, &client, "regflags") else {
        return;
    };
    let dst = format!("127.0.0.1:{port}");
    for (i, (callid, method, xfn)) in STEPS.iter().enumerate() {
        let m = message(
            client.local_addr().map(|a| a.port()).unwrap_or(9),
            callid,
            method,
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
