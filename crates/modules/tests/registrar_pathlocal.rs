//! registrar's `path_check_local=1` through the real config compiler and script engine, and the
//! same config in Kamailio 5.6.3 over UDP: REGISTERs save contacts with Path vectors whose first
//! hop is ours (followed by another hop, or alone with a `received` contact) or not; `lookup()`
//! then gives `$du` from the second hop, from `received`, or from the first hop, and the
//! appended branch its destination the same way. Without Kamailio the comparison is skipped,
//! unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ferrosip_api::{Ctx, Proto, Recorder, RecvInfo, RouteType, SocketInfo, WorkerState};

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    if (method == "REGISTER") {
        save("location", "0x02");
        xlog("L_ERR", "save rc=$rc\n");
    } else {
        lookup("location");
        xlog("L_ERR", "$rU rc=$rc ru=$ru du=$du b=$(branch(uri)[0]) bdu=$(branch(dst_uri)[0])\n");
    }
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

const MODPARAMS: &str = "modparam(\"registrar\", \"use_path\", 1)\n\
modparam(\"registrar\", \"path_check_local\", 1)\n";

/// (Call-ID, user, contacts, Path or "") — `P` is our port.
type Step = (&'static str, &'static str, &'static str, &'static str);

const STEPS: &[Step] = &[
    (
        "r1",
        "a1",
        "<sip:c1@10.0.0.1>",
        "<sip:127.0.0.1:P;lr>,<sip:10.0.0.9;lr>",
    ),
    (
        "r2",
        "a2",
        "<sip:c2@10.0.0.2>;received=\"sip:10.0.0.2:5099\"",
        "<sip:127.0.0.1:P;lr>",
    ),
    ("r3", "a3", "<sip:c3@10.0.0.3>", "<sip:10.0.0.8;lr>"),
    (
        "r4",
        "a4",
        "<sip:c4@10.0.0.4>;q=0.5, <sip:c5@10.0.0.4>;q=0.4",
        "<sip:127.0.0.1:P;lr>,<sip:10.0.0.7;lr>",
    ),
    ("r5", "a5", "<sip:c6@10.0.0.5>", ""),
    ("m1", "a1", "", ""),
    ("m2", "a2", "", ""),
    ("m3", "a3", "", ""),
    ("m4", "a4", "", ""),
    ("m5", "a5", "", ""),
];

fn message(client: u16, port: u16, step: &Step) -> String {
    let (callid, user, contacts, path) = *step;
    let path = path.replace(":P;", &format!(":{port};"));
    let (method, extra) = if contacts.is_empty() {
        ("MESSAGE", String::new())
    } else {
        let p = if path.is_empty() {
            String::new()
        } else {
            format!("Path: {path}\r\nSupported: path\r\n")
        };
        (
            "REGISTER",
            format!("Contact: {contacts}\r\nExpires: 300\r\n{p}"),
        )
    };
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{client};branch=z9hG4bK-{callid};rport\r\n\
From: <sip:{user}@127.0.0.1>;tag=f-{callid}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
Call-ID: {callid}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

fn ferrosip_lines(port: u16) -> Vec<Vec<String>> {
    let (p, request) = harness::compile_registrar(&format!("{MODPARAMS}{ROUTE}"));
    let mut w = WorkerState::default();
    let mut all = Vec::new();
    for step in STEPS {
        let mut rec = Recorder {
            debug: 3,
            sockets: vec![SocketInfo::new(
                Proto::Udp,
                SocketAddr::from(([127, 0, 0, 1], port)),
            )],
            myself: vec![("127.0.0.1".into(), port)],
            ..Recorder::default()
        };
        let rcv = RecvInfo {
            dst: SocketAddr::from(([127, 0, 0, 1], port)),
            ..RecvInfo::default()
        };
        let mut m = ferrosip_sipmsg::Msg::parse(message(9, port, step).into_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        {
            let mut ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
                .unwrap_or_else(|e| panic!("{e}"));
            p.run(request, &mut ctx);
        }
        all.push(harness::script_lines(&rec));
    }
    all
}

#[test]
fn local_first_path_hop_is_skipped() {
    let port = 5093;
    let got = ferrosip_lines(port);
    let look: Vec<String> = got[5..]
        .iter()
        .map(|l| l.first().cloned().unwrap_or_default())
        .collect();
    let want = [
        "c1 rc=1 ru=sip:c1@10.0.0.1 du=sip:10.0.0.9;lr b=<null> bdu=<null>",
        "c2 rc=1 ru=sip:c2@10.0.0.2 du=sip:10.0.0.2:5099 b=<null> bdu=<null>",
        "c3 rc=1 ru=sip:c3@10.0.0.3 du=sip:10.0.0.8;lr b=<null> bdu=<null>",
        "c4 rc=1 ru=sip:c4@10.0.0.4 du=sip:10.0.0.7;lr b=sip:c5@10.0.0.4 bdu=sip:10.0.0.7;lr",
        "c6 rc=1 ru=sip:c6@10.0.0.5 du=<null> b=<null> bdu=<null>",
    ];
    assert_eq!(look, want);
}

#[test]
fn kamailio_agrees_on_path_check_local() {
    let port = harness::free_port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let ours = ferrosip_lines(port);
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         loadmodule \"xlog.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
         {MODPARAMS}{ROUTE}",
        harness::MPATH,
    );
    let Some(mut kam) = harness::Kamailio::start(&cfg, port, &client, "pathlocal") else {
        return;
    };
    let dst = format!("127.0.0.1:{port}");
    let cport = client.local_addr().map(|a| a.port()).unwrap_or(9);
    for (i, step) in STEPS.iter().enumerate() {
        client
            .send_to(message(cport, port, step).as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kam.wait_for(&format!("@@E {}@@", step.0), Duration::from_secs(5)),
            "{}:\n{}",
            step.0,
            kam.text()
        );
        let theirs = harness::kamailio_step(&kam.text(), step.0).unwrap_or_default();
        assert_eq!(ours[i], theirs, "step {}", step.0);
    }
}
