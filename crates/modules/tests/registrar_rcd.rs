//! registrar's `xavp_rcd` / `xavp_rcd_mask` through the real config compiler and script engine,
//! and the same config in Kamailio 5.6.3: after `save()` (a REGISTER with two contacts, Path and a
//! `received` parameter), `lookup()`, `registered()` and `lookup_to_dset()`, the script logs
//! which fields of `$xavp(rcd[0])` exist (`pv_isset`, as kamailio-tests' tregxx0001 does), their
//! values (the random ruid only as "set", expires as "positive") and how many there are. Run for
//! three masks; the lines must be the expected ones on ferrosip and identical on Kamailio.
//! Without Kamailio the comparison is skipped, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{Recorder, WorkerState};

const CHECK: &str = r#"route[CHECK] {
    xlog("L_ERR", "$rm n=$cnt($xavp(rcd)) c=$cnt($xavp(rcd[0]=>contact)) x=$xavp(rcd[0]=>x)\n");
    if (pv_isset("$xavp(rcd[0]=>ruid)")) { xlog("L_ERR", "ruid set\n"); }
    if (pv_isset("$xavp(rcd[0]=>contact)")) { xlog("L_ERR", "contact $xavp(rcd[0]=>contact) / $xavp(rcd[0]=>contact[1])\n"); }
    if (pv_isset("$xavp(rcd[0]=>expires)")) {
        if ($xavp(rcd[0]=>expires) > 3000) { xlog("L_ERR", "expires positive\n"); }
        else { xlog("L_ERR", "expires $xavp(rcd[0]=>expires)\n"); }
    }
    if (pv_isset("$xavp(rcd[0]=>received)")) { xlog("L_ERR", "received $xavp(rcd[0]=>received)\n"); }
    if (pv_isset("$xavp(rcd[0]=>path)")) { xlog("L_ERR", "path $xavp(rcd[0]=>path)\n"); }
}
"#;

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    if (method == "REGISTER") {
        save("location");
    } else if ($hdr(X-Fn) == "registered") {
        registered("location");
    } else if ($hdr(X-Fn) == "dset") {
        lookup_to_dset("location");
    } else if ($hdr(X-Fn) == "pre") {
        $xavp(rcd=>x) = "pre";
        lookup("location");
    } else {
        lookup("location");
    }
    route(CHECK);
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

/// (Call-ID, method, X-Fn)
const STEPS: &[(&str, &str, &str)] = &[
    ("r1", "REGISTER", ""),
    ("m1", "MESSAGE", ""),
    ("m2", "MESSAGE", "registered"),
    ("m3", "MESSAGE", "dset"),
    ("m4", "MESSAGE", "pre"),
];

/// (xavp_rcd_mask, expected lines per step)
type Run = (i64, &'static [&'static [&'static str]]);

const RUNS: &[Run] = &[
    (
        0,
        &[
            &[
                "REGISTER n=1 c=2 x=<null>",
                "ruid set",
                "contact sip:c1@10.0.0.1 / sip:c2@10.0.0.2",
                "expires positive",
                "received sip:10.9.9.9:5070",
                "path <sip:edge.example;lr>",
            ],
            &[
                "MESSAGE n=1 c=1 x=<null>",
                "ruid set",
                "contact sip:c2@10.0.0.2 / <null>",
                "expires positive",
                "received sip:10.9.9.9:5070",
                "path <sip:edge.example;lr>",
            ],
            &[
                "MESSAGE n=1 c=1 x=<null>",
                "ruid set",
                "contact sip:c2@10.0.0.2 / <null>",
                "expires positive",
                "received sip:10.9.9.9:5070",
                "path <sip:edge.example;lr>",
            ],
            &["MESSAGE n=0 c=0 x=<null>"],
            &[
                "MESSAGE n=1 c=1 x=pre",
                "ruid set",
                "contact sip:c2@10.0.0.2 / <null>",
                "expires positive",
                "received sip:10.9.9.9:5070",
                "path <sip:edge.example;lr>",
            ],
        ],
    ),
    (
        // contact, received, path left out
        26,
        &[
            &["REGISTER n=1 c=0 x=<null>", "ruid set", "expires positive"],
            &["MESSAGE n=1 c=0 x=<null>", "ruid set", "expires positive"],
            &["MESSAGE n=1 c=0 x=<null>", "ruid set", "expires positive"],
            &["MESSAGE n=0 c=0 x=<null>"],
            &["MESSAGE n=1 c=0 x=pre", "ruid set", "expires positive"],
        ],
    ),
    (
        // everything left out: an empty record still exists
        31,
        &[
            &["REGISTER n=1 c=0 x=<null>"],
            &["MESSAGE n=1 c=0 x=<null>"],
            &["MESSAGE n=1 c=0 x=<null>"],
            &["MESSAGE n=0 c=0 x=<null>"],
            &["MESSAGE n=1 c=0 x=pre"],
        ],
    ),
];

fn message(port: u16, callid: &str, method: &str, xfn: &str) -> String {
    let extra = if method == "REGISTER" {
        "Contact: <sip:c1@10.0.0.1>;q=0.5\r\n\
Contact: <sip:c2@10.0.0.2>;q=0.9;received=\"sip:10.9.9.9:5070\"\r\n\
Path: <sip:edge.example;lr>\r\nSupported: path\r\nExpires: 3600\r\n"
            .to_string()
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

fn modparams(mask: i64) -> String {
    format!(
        "modparam(\"registrar\", \"xavp_rcd\", \"rcd\")\n\
         modparam(\"registrar\", \"xavp_rcd_mask\", {mask})\n\
         modparam(\"registrar\", \"use_path\", 1)\n"
    )
}

/// The script lines of every step on ferrosip.
fn ferrosip_lines(mask: i64) -> Vec<Vec<String>> {
    let (p, request) = harness::compile_registrar(&format!("{}{CHECK}{ROUTE}", modparams(mask)));
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
fn rcd_fields_follow_the_mask() {
    for (mask, want) in RUNS {
        let got = ferrosip_lines(*mask);
        for (i, (got, want)) in got.iter().zip(want.iter()).enumerate() {
            assert_eq!(got, want, "mask {mask}, step {}", STEPS[i].0);
        }
    }
}

#[test]
fn kamailio_fills_the_same_fields() {
    for (mask, _) in RUNS {
        let ours = ferrosip_lines(*mask);
        let port = harness::free_port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let cfg = format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
             mpath=\"{}\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
             loadmodule \"xlog.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n{}{CHECK}{ROUTE}",
            harness::MPATH,
            modparams(*mask)
        );
        let Some(mut kam) = harness::Kamailio::start(&cfg, port, &client, "rcd") else {
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
            assert_eq!(ours[i], theirs, "mask {mask}, step {callid}");
        }
    }
}
