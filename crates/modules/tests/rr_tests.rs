//! rr table tests: (message, calls, sockets, modparams) → return codes, forwarded bytes (built
//! by sipmsg's stateless-forward builder), new R-URI and `$du`.

mod rr_support;

use std::net::SocketAddr;

use ferrosip_api::ModValue;
use rr_support::{registry, run, tcp, udp, Net, Step};

const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

";

/// In-dialog BYE from the callee (upstream): Route names us then the caller's proxy.
const BYE_UP: &str = "BYE sip:alice@10.0.0.1:5070 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.2:5090;branch=z9hG4bK-2
Route: <sip:127.0.0.1:5080;lr;ftag=a1;nat=yes>, <sip:p2.example.com;lr>
From: <sip:bob@example.com>;tag=b2
To: <sip:alice@example.com>;tag=a1
Call-ID: c1
CSeq: 2 BYE
Content-Length: 0

";

fn net(rcv: u16, snd_tcp: bool) -> Net {
    Net {
        rcv: udp(rcv),
        snd: if snd_tcp { tcp(rcv) } else { udp(rcv) },
        src: SocketAddr::from(([10, 0, 0, 1], 5070)),
    }
}

struct Case {
    name: &'static str,
    params: &'static [(&'static str, i64)],
    msg: &'static str,
    steps: &'static [Step<'static>],
    snd_tcp: bool,
    rcs: &'static [i64],
    /// (from, to) replacements turning the message (with our Via added) into the expected output.
    edits: &'static [(&'static str, &'static str)],
    ruri: Option<&'static str>,
    du: Option<&'static str>,
    pvs: &'static [&'static str],
}

const VIA_INV: &str =
    "Via: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070";

fn expected(c: &Case) -> String {
    let mut s = c.msg.to_string();
    for (a, b) in c.edits {
        assert!(
            s.contains(a),
            "{}: test bug: {a:?} not in the message",
            c.name
        );
        s = s.replacen(a, b, 1);
    }
    s
}

#[test]
fn rr_table() {
    let cases = [
        Case {
            name: "record_route, same socket: one header with ftag",
            params: &[],
            msg: INVITE,
            steps: &[("record_route", &[])],
            snd_tcp: false,
            rcs: &[1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:127.0.0.1:5080;lr;ftag=a1>\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "record_route UDP to TCP: double, outbound first, r2=on",
            params: &[],
            msg: INVITE,
            steps: &[("record_route", &[])],
            snd_tcp: true,
            rcs: &[1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:127.0.0.1:5080;transport=tcp;r2=on;lr;ftag=a1>\nRecord-Route: <sip:127.0.0.1:5080;r2=on;lr;ftag=a1>\nVia: SIP/2.0/TCP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "enable_double_rr=2, append_fromtag=0, enable_full_lr=1: always two",
            params: &[("enable_double_rr", 2), ("append_fromtag", 0), ("enable_full_lr", 1)],
            msg: INVITE,
            steps: &[("record_route", &[])],
            snd_tcp: false,
            rcs: &[1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:127.0.0.1:5080;r2=on;lr=on>\nRecord-Route: <sip:127.0.0.1:5080;r2=on;lr=on>\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "params: record_route(p), add_rr_param before and after, second RR refused",
            params: &[("enable_double_rr", 0)],
            msg: INVITE,
            steps: &[
                ("add_rr_param", &[";a=1"]),
                ("record_route", &[";p=$ci"]),
                ("add_rr_param", &[";b=2"]),
                ("add_rr_param", &[";c"]),
                ("record_route", &[]),
            ],
            snd_tcp: false,
            rcs: &[1, 1, 1, 1, -1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:127.0.0.1:5080;lr;ftag=a1;p=c1;a=1;b=2;c>\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "add_username; add_rr_param after a double RR goes into both",
            params: &[("add_username", 1)],
            msg: INVITE,
            steps: &[("record_route", &[]), ("add_rr_param", &[";x=y"])],
            snd_tcp: true,
            rcs: &[1, 1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:bob@127.0.0.1:5080;transport=tcp;r2=on;lr;ftag=a1;x=y>\nRecord-Route: <sip:bob@127.0.0.1:5080;r2=on;lr;ftag=a1;x=y>\nVia: SIP/2.0/TCP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "record_route_preset: ftag before ;lr",
            params: &[],
            msg: INVITE,
            steps: &[("record_route_preset", &["1.2.3.4:5090;x=1"])],
            snd_tcp: false,
            rcs: &[1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:1.2.3.4:5090;x=1;ftag=a1;lr>\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "record_route_preset with two addresses",
            params: &[],
            msg: INVITE,
            steps: &[("record_route_preset", &["1.2.3.4;r2=on", "5.6.7.8;r2=on"])],
            snd_tcp: false,
            rcs: &[1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:1.2.3.4;r2=on;ftag=a1;lr>\nRecord-Route: <sip:5.6.7.8;r2=on;ftag=a1;lr>\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "record_route_preset with two addresses refused without double RR",
            params: &[("enable_double_rr", 0)],
            msg: INVITE,
            steps: &[("record_route_preset", &["1.2.3.4", "5.6.7.8"])],
            snd_tcp: false,
            rcs: &[-1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                VIA_INV,
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "record_route_advertised_address UDP to TCP: transport and r2 on both",
            params: &[],
            msg: INVITE,
            steps: &[("record_route_advertised_address", &["sip.example.net:5090"])],
            snd_tcp: true,
            rcs: &[1],
            edits: &[(
                "Via: SIP/2.0/UDP 10.0.0.1:5070",
                "Record-Route: <sip:sip.example.net:5090;transport=tcp;r2=on;ftag=a1;lr>\nRecord-Route: <sip:sip.example.net:5090;transport=udp;r2=on;ftag=a1;lr>\nVia: SIP/2.0/TCP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.1:5070",
            )],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "loose_route: our Route removed, next Route to $du; upstream ftag is the To tag",
            params: &[],
            msg: BYE_UP,
            steps: &[
                ("loose_route", &[]),
                ("check_route_param", &["nat=YES"]),
                ("check_route_param", &["^;lr"]),
                ("is_direction", &["upstream"]),
                ("is_direction", &["downstream"]),
                ("rr_next_hop_route", &[]),
                ("$route_uri", &[]),
                ("$fti", &[]),
                ("$tti", &[]),
                ("$rdir(name)", &[]),
                ("$rdir(id)", &[]),
                ("record_route", &[]),
            ],
            snd_tcp: false,
            rcs: &[1, 1, 1, 1, -1, 1, 1],
            edits: &[
                (
                    "Via: SIP/2.0/UDP 10.0.0.2:5090",
                    "Record-Route: <sip:127.0.0.1:5080;lr;ftag=a1>\nVia: SIP/2.0/UDP 127.0.0.1:5080;branch=BRANCH\nVia: SIP/2.0/UDP 10.0.0.2:5090;received=10.0.0.1",
                ),
                ("<sip:127.0.0.1:5080;lr;ftag=a1;nat=yes>, ", ""),
            ],
            ruri: None,
            du: Some("sip:p2.example.com;lr"),
            pvs: &[
                "sip:127.0.0.1:5080;lr;ftag=a1;nat=yes",
                "a1",
                "b2",
                "upstream",
                "2",
            ],
        },
        Case {
            name: "loose_route: preloaded Route naming only us",
            params: &[],
            msg: "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1
Route: <sip:127.0.0.1:5080;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

",
            steps: &[("loose_route", &[]), ("rr_next_hop_route", &[])],
            snd_tcp: false,
            rcs: &[-3, -1],
            edits: &[
                ("Via: SIP/2.0/UDP 10.0.0.1:5070", VIA_INV),
                ("Route: <sip:127.0.0.1:5080;lr>\n", ""),
            ],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "loose_route: no Route header",
            params: &[],
            msg: INVITE,
            steps: &[("loose_route", &[]), ("loose_route_preloaded", &[])],
            snd_tcp: false,
            rcs: &[-1, -1],
            edits: &[("Via: SIP/2.0/UDP 10.0.0.1:5070", VIA_INV)],
            ruri: None,
            du: None,
            pvs: &[],
        },
        Case {
            name: "strict router before us: R-URI is ours, last Route back to the R-URI",
            params: &[],
            msg: "BYE sip:127.0.0.1:5080;lr;ftag=a1 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-3
Route: <sip:p2.example.com;lr>
Route: <sip:bob@10.0.0.9:5062>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: c1
CSeq: 3 BYE
Content-Length: 0

",
            steps: &[("loose_route", &[]), ("check_route_param", &["ftag=a1"]), ("check_route_param", &["^;"])],
            snd_tcp: false,
            rcs: &[1, 1, -1],
            edits: &[
                ("BYE sip:127.0.0.1:5080;lr;ftag=a1 SIP/2.0", "BYE sip:bob@10.0.0.9:5062 SIP/2.0"),
                ("Via: SIP/2.0/UDP 10.0.0.1:5070", VIA_INV),
                ("Route: <sip:bob@10.0.0.9:5062>\n", ""),
            ],
            ruri: Some("sip:bob@10.0.0.9:5062"),
            du: Some("sip:p2.example.com;lr"),
            pvs: &[],
        },
        Case {
            name: "next hop is a strict router: R-URI saved as last Route",
            params: &[],
            msg: "BYE sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-4
Route: <sip:127.0.0.1:5080;lr>,<sip:strict.example.com;maddr=10.1.1.1>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: c1
CSeq: 4 BYE
Content-Length: 0

",
            steps: &[("loose_route", &[])],
            snd_tcp: false,
            rcs: &[1],
            edits: &[
                ("BYE sip:bob@10.0.0.9:5062 SIP/2.0", "BYE sip:10.1.1.1 SIP/2.0"),
                ("Via: SIP/2.0/UDP 10.0.0.1:5070", VIA_INV),
                (
                    "Route: <sip:127.0.0.1:5080;lr>,<sip:strict.example.com;maddr=10.1.1.1>\n",
                    "",
                ),
                // Kamailio anchors the saved R-URI at the end of the parsed headers
                ("Content-Length: 0\n\n", "Content-Length: 0\nRoute: <sip:bob@10.0.0.9:5062>\n\n"),
            ],
            ruri: Some("sip:10.1.1.1"),
            du: None,
            pvs: &[],
        },
        Case {
            name: "double Route (r2=on) of ours removed in two headers; loose_route_mode(1)",
            params: &[],
            msg: "BYE sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-5
Route: <sip:127.0.0.1:5080;transport=tcp;r2=on;lr;ftag=a1>
Route: <sip:127.0.0.1:5080;r2=on;lr;ftag=a1>, <sip:p3.example.com:5070;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: c1
CSeq: 5 BYE
Content-Length: 0

",
            steps: &[
                ("loose_route_mode", &["1"]),
                ("is_direction", &["downstream"]),
                ("rr_next_hop_route", &[]),
                // the second Route names our UDP socket: it becomes the send socket
                ("$fs", &[]),
            ],
            snd_tcp: false,
            rcs: &[1, 1, 1],
            edits: &[
                ("Via: SIP/2.0/UDP 10.0.0.1:5070", VIA_INV),
                ("Route: <sip:127.0.0.1:5080;transport=tcp;r2=on;lr;ftag=a1>\n", ""),
                ("<sip:127.0.0.1:5080;r2=on;lr;ftag=a1>, ", ""),
            ],
            ruri: None,
            du: Some("sip:p3.example.com:5070;lr"),
            pvs: &["udp:127.0.0.1:5080"],
        },
        Case {
            name: "top Route not ours: $du from it, nothing removed",
            params: &[],
            msg: "BYE sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-6
Route: <sip:other.example.com;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: c1
CSeq: 6 BYE
Content-Length: 0

",
            steps: &[("loose_route", &[]), ("check_route_param", &["lr"]), ("rr_next_hop_route", &[])],
            snd_tcp: false,
            rcs: &[1, -1, -1],
            edits: &[("Via: SIP/2.0/UDP 10.0.0.1:5070", VIA_INV)],
            ruri: None,
            du: Some("sip:other.example.com;lr"),
            pvs: &[],
        },
    ];
    let myself = [("127.0.0.1", 5080)];
    let mut failures = Vec::new();
    for c in &cases {
        let params: Vec<(&str, ModValue)> = c
            .params
            .iter()
            .map(|(n, v)| (*n, ModValue::Int(*v)))
            .collect();
        let reg = registry(&params).unwrap_or_else(|e| panic!("{}: {e}", c.name));
        let o = run(&reg, c.msg, c.steps, &net(5080, c.snd_tcp), &myself);
        let got = o.out.replace("\r\n", "\n");
        let want = expected(c);
        if o.rcs != c.rcs
            || got != want
            || o.ruri.as_deref() != c.ruri
            || o.du.as_deref() != c.du
            || o.pvs != c.pvs
        {
            failures.push(format!(
                "{}:\n rcs {:?} want {:?}\n ruri {:?} want {:?}\n du {:?} want {:?}\n pvs {:?} want {:?}\n--- got\n{got}--- want\n{want}--- logs {:?}",
                c.name, o.rcs, c.rcs, o.ruri, c.ruri, o.du, c.du, o.pvs, c.pvs, o.logs
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn refused_at_load() {
    let cases: &[(&str, ModValue)] = &[
        ("enable_double_rr", ModValue::Int(3)),
        ("custom_user_avp", ModValue::Str("$var(u)".into())),
    ];
    for (n, v) in cases {
        assert!(registry(&[(n, v.clone())]).is_err(), "{n}={v:?} accepted");
    }
    let reg = registry(&[]).unwrap_or_else(|e| panic!("{e}"));
    assert!(rr_support::prepare(&reg, "remove_record_route", &[]).is_ok());
    let e = rr_support::prepare(&reg, "is_direction", &["sideways"]).err();
    assert_eq!(
        e.as_deref(),
        Some("is_direction(): unknown direction 'sideways'")
    );
    let reg = registry(&[("append_fromtag", ModValue::Int(0))]).unwrap_or_else(|e| panic!("{e}"));
    assert!(rr_support::prepare(&reg, "is_direction", &["upstream"]).is_err());
    assert!(registry(&[("force_send_socket", ModValue::Int(1))]).is_ok());
}
