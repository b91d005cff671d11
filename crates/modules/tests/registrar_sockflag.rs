//! registrar's `sock_flag` with `sock_hdr_name` (and with `xavp_cfg`'s `socket`) through the real
//! config compiler and script engine, and the same configs in Kamailio 5.6.3 over UDP with two
//! listeners: a REGISTER arriving on the first one with the flag set (and the header or the XAVP
//! naming the second socket) stores the second socket; without the flag, with a header naming a
//! socket that is not ours, or with an unparsable one, the receiving socket. The script logs
//! `save()`'s return code and `$ulc(…=>socket)` of the AoR's contact. Without Kamailio the
//! comparison is skipped, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::{SocketAddr, UdpSocket};
use std::time::Duration;

use ferrosip_api::{Ctx, Proto, Recorder, RecvInfo, RouteType, SocketInfo, WorkerState};

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    if ($hdr(X-Flag) == "1") { setflag(18); }
    if ($hdr(X-Xsock) != $null) { $xavp(reg=>socket) = $hdr(X-Xsock); }
    save("location", "0x02");
    $var(rc) = $rc;
    $xavp(reg) = $null;
    if (reg_fetch_contacts("location", "$tu", "p")) {
        xlog("L_ERR", "rc=$var(rc) socket=$(ulc(p=>socket)[0])\n");
    } else {
        xlog("L_ERR", "rc=$var(rc) none\n");
    }
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

/// The two ways to name the socket.
const BY_HEADER: &str = "modparam(\"registrar\", \"sock_flag\", 18)\n\
modparam(\"registrar\", \"sock_hdr_name\", \"X-Sock\")\n";
const BY_XAVP: &str = "modparam(\"registrar\", \"sock_flag\", 18)\n\
modparam(\"registrar\", \"xavp_cfg\", \"reg\")\n";

/// (Call-ID = user, flag, extra headers; `P2` is the second listener's port)
type Step = (&'static str, bool, &'static str);

const HEADER_STEPS: &[Step] = &[
    ("h1", true, "X-Sock: udp:127.0.0.1:P2\r\n"),
    ("h2", false, "X-Sock: udp:127.0.0.1:P2\r\n"),
    ("h3", true, "X-Sock:  127.0.0.1:P2  \r\n"),
    ("h4", true, "X-Sock: udp:192.0.2.1:5060\r\n"),
    ("h5", true, "X-Sock: udp:127.0.0.1:notaport\r\n"),
    ("h6", true, ""),
    (
        "h7",
        true,
        "x-sock: udp:127.0.0.1:P2\r\nX-Sock: udp:127.0.0.1:P1\r\n",
    ),
];

const XAVP_STEPS: &[Step] = &[
    ("x1", true, "X-Xsock: udp:127.0.0.1:P2\r\n"),
    ("x2", false, "X-Xsock: udp:127.0.0.1:P2\r\n"),
    ("x3", true, "X-Sock: udp:127.0.0.1:P2\r\n"),
];

fn message(client: u16, p1: u16, p2: u16, step: &Step) -> String {
    let (user, flag, extra) = *step;
    let extra = extra
        .replace("P2", &p2.to_string())
        .replace("P1", &p1.to_string());
    format!(
        "REGISTER sip:127.0.0.1:{p1} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{client};branch=z9hG4bK-{user};rport\r\n\
From: <sip:{user}@127.0.0.1>;tag=f-{user}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
Call-ID: {user}\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n\
Contact: <sip:{user}@10.0.0.1:5070>\r\nExpires: 300\r\nX-Flag: {}\r\n{extra}Content-Length: 0\r\n\r\n",
        u8::from(flag)
    )
}

/// The script lines of every step on ferrosip, listening on udp 127.0.0.1 `p1` and `p2`, the
/// REGISTER received on `p1`.
fn ferrosip_lines(params: &str, steps: &[Step], p1: u16, p2: u16) -> Vec<Vec<String>> {
    let (p, request) = harness::compile_registrar(&format!("{params}{ROUTE}"));
    let mut w = WorkerState::default();
    let mut all = Vec::new();
    let sock = |port: u16| SocketInfo::new(Proto::Udp, SocketAddr::from(([127, 0, 0, 1], port)));
    for step in steps {
        let mut rec = Recorder {
            debug: 3,
            sockets: vec![sock(p1), sock(p2)],
            ..Recorder::default()
        };
        let rcv = RecvInfo {
            dst: SocketAddr::from(([127, 0, 0, 1], p1)),
            src: SocketAddr::from(([127, 0, 0, 1], 9)),
            ..RecvInfo::default()
        };
        let mut m = ferrosip_sipmsg::Msg::parse(message(9, p1, p2, step).into_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        {
            let mut ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
                .unwrap_or_else(|e| panic!("{e}"));
            p.run(request, &mut ctx);
        }
        all.push(
            rec.lines
                .iter()
                .map(|l| l.3.trim_end_matches('\n').to_string())
                .filter(|l| l.starts_with("rc="))
                .collect(),
        );
    }
    all
}

#[test]
fn sock_flag_stores_the_named_socket() {
    let (p1, p2) = (5091, 5092);
    let s = |port: u16| vec![format!("rc=1 socket=udp:127.0.0.1:{port}")];
    let got = ferrosip_lines(BY_HEADER, HEADER_STEPS, p1, p2);
    // flag + header; no flag; spaces around, no proto; not ours; bad port; no header; the first
    // header of the name (any case) counts
    let want = [s(p2), s(p1), s(p2), s(p1), s(p1), s(p1), s(p2)];
    assert_eq!(got, want);
    let got = ferrosip_lines(BY_XAVP, XAVP_STEPS, p1, p2);
    // the XAVP's socket; no flag; a header is not read without sock_hdr_name
    assert_eq!(got, [s(p2), s(p1), s(p1)]);
    // the flag alone (no header name, no xavp_cfg) is reset at init, as in Kamailio
    let only = "modparam(\"registrar\", \"sock_flag\", 18)\n";
    let got = ferrosip_lines(only, &HEADER_STEPS[..1], p1, p2);
    assert_eq!(got, [s(p1)]);
}

fn kamailio_agrees(params: &str, steps: &[Step], tag: &str) {
    let (p1, p2) = (harness::free_port(), harness::free_port());
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let ours = ferrosip_lines(params, steps, p1, p2);
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{p1}\n\
         listen=udp:127.0.0.1:{p2}\nmpath=\"{}\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         loadmodule \"xlog.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
         {params}{ROUTE}",
        harness::MPATH,
    );
    let Some(mut kam) = harness::Kamailio::start(&cfg, p1, &client, tag) else {
        return;
    };
    let dst = format!("127.0.0.1:{p1}");
    let cport = client.local_addr().map(|a| a.port()).unwrap_or(9);
    for (i, step) in steps.iter().enumerate() {
        client
            .send_to(message(cport, p1, p2, step).as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kam.wait_for(&format!("@@E {}@@", step.0), Duration::from_secs(5)),
            "{}:\n{}",
            step.0,
            kam.text()
        );
        let theirs: Vec<String> = harness::kamailio_step(&kam.text(), step.0)
            .unwrap_or_default()
            .into_iter()
            .filter(|l| l.starts_with("rc="))
            .collect();
        assert_eq!(ours[i], theirs, "step {}", step.0);
    }
}

#[test]
fn kamailio_agrees_on_sock_hdr_name() {
    kamailio_agrees(BY_HEADER, HEADER_STEPS, "sockflag-hdr");
}

#[test]
fn kamailio_agrees_on_the_xavp_socket() {
    kamailio_agrees(BY_XAVP, XAVP_STEPS, "sockflag-xavp");
}
