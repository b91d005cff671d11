//! Builders: byte-exact outputs, including messages captured from Kamailio 5.6.3
//! (tests/data/kamailio/, see its README for how they were captured).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ferrosip_sipmsg::branch::{
    ToTagGenerator, SL_TOTAG_SEPARATOR, SL_TOTAG_SIGNATURE, TM_TOTAG_SEPARATOR, TM_TOTAG_SIGNATURE,
};
use ferrosip_sipmsg::build::{
    apply_changes, forward_reply, forward_request, kamailio_branch, local_reply, reply_to_tag,
    sl_reply, BuildError, ForwardOptions, RecvInfo, ReplyOptions, SendTarget, WarningInfo,
};
use ferrosip_sipmsg::edit::{
    Advertise, At, Cond, Edits, SendContext, SocketInfo, Subst, Transport,
};
use ferrosip_sipmsg::Msg;

const LOCALHOST: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn udp_sock(port: u16) -> SocketInfo<'static> {
    SocketInfo {
        ip: LOCALHOST,
        port,
        proto: Transport::Udp,
        advertise: None,
        sockname: "",
    }
}

fn data(name: &str) -> Vec<u8> {
    let p = format!("{}/tests/data/kamailio/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&p).unwrap_or_else(|e| panic!("{p}: {e}"))
}

fn crlf(s: &str) -> Vec<u8> {
    s.replace('\n', "\r\n").into_bytes()
}

fn show(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn forwarded_requests_match_kamailio_captures() {
    let sock = udp_sock(5177);
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5191,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let to = SendTarget {
        socket: &sock,
        proto: Transport::Udp,
    };
    for (case, force_rport) in [
        ("fwd_invite", false),
        ("fwd_bye_received_rport", false),
        ("fwd_notify_force_rport_nobranch", true),
    ] {
        let msg = Msg::parse(data(&format!("{case}.in"))).unwrap();
        let edits = Edits::new(msg.buf().len()).unwrap();
        let opts = ForwardOptions {
            force_rport,
            ..ForwardOptions::default()
        };
        let out = forward_request(&msg, &edits, &rcv, &to, &opts).unwrap();
        assert_eq!(show(&out), show(&data(&format!("{case}.out"))), "{case}");
    }
}

#[test]
fn sl_replies_match_kamailio_captures() {
    let sock = udp_sock(5177);
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5191,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let tags = ToTagGenerator::new(
        SL_TOTAG_SIGNATURE,
        SL_TOTAG_SEPARATOR,
        b"127.0.0.1",
        b"5177",
    );
    let opts = ReplyOptions {
        server_header: Some(b"Server: kamailio (5.6.3 (x86_64/linux))"),
        ..ReplyOptions::default()
    };
    for (case, code, reason) in [
        ("sl_options_200", 200, "OK"),
        ("sl_subscribe_404", 404, "Not here"),
    ] {
        let msg = Msg::parse(data(&format!("{case}.in"))).unwrap();
        let out = sl_reply(&msg, &rcv, code, reason.as_bytes(), &tags, &opts).unwrap();
        assert_eq!(show(&out), show(&data(&format!("{case}.out"))), "{case}");
    }
}

/// Edits recorded the way Kamailio's textops records them, then forwarded: the output must be the
/// bytes Kamailio 5.6.3 sent (second capture run).
#[test]
fn textops_edits_match_kamailio_capture() {
    let sock = udp_sock(5177);
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5191,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let to = SendTarget {
        socket: &sock,
        proto: Transport::Udp,
    };
    let msg = Msg::parse(data("edits_message_textops.in")).unwrap();
    let buf = msg.buf();
    let hdrs = msg.headers().unwrap().to_vec();
    let eoh = msg.headers_end().unwrap();
    let mut e = Edits::new(buf.len()).unwrap();
    // append_hf: a new anchor at the end of the header section, text before it
    for line in [&b"X-A: 1\r\n"[..], b"X-B: 2\r\n"] {
        let a = e.anchor(eoh).unwrap();
        e.insert(At::Before(a), line).unwrap();
    }
    // insert_hf: a new anchor at the first header, text before it
    for line in [&b"X-I: 0\r\n"[..], b"X-J: 0\r\n"] {
        let a = e.anchor(hdrs[0].span.start as usize).unwrap();
        e.insert(At::Before(a), line).unwrap();
    }
    // remove_hf("Subject"): delete the whole header
    let subject = hdrs
        .iter()
        .find(|h| msg.slice(h.name) == b"Subject")
        .unwrap();
    e.delete(subject.span.start as usize, subject.span.len())
        .unwrap();
    // replace_body("hello", "goodbye"): delete the match, new text after it
    let body = msg.body_span().unwrap();
    let at = body.start as usize
        + msg
            .body()
            .unwrap()
            .windows(5)
            .position(|w| w == b"hello")
            .unwrap();
    let a = e.delete(at, 5).unwrap();
    e.insert(At::After(a), b"goodbye").unwrap();
    let out = forward_request(&msg, &e, &rcv, &to, &ForwardOptions::default()).unwrap();
    assert_eq!(show(&out), show(&data("edits_message_textops.out")));
}

#[test]
fn tcp_and_warning_match_kamailio_captures() {
    let udp = udp_sock(5177);
    let tcp = SocketInfo {
        proto: Transport::Tcp,
        ..udp_sock(5177)
    };
    // request received over TCP (connection id 1), forwarded over TCP, add_local_rport()
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5192,
        socket: &tcp,
        proto: Transport::Tcp,
        conn_id: 1,
    };
    let to = SendTarget {
        socket: &tcp,
        proto: Transport::Tcp,
    };
    let msg = Msg::parse(data("fwd_tcp_in_local_rport.in")).unwrap();
    let e = Edits::new(msg.buf().len()).unwrap();
    let opts = ForwardOptions {
        add_local_rport: true,
        ..ForwardOptions::default()
    };
    let out = forward_request(&msg, &e, &rcv, &to, &opts).unwrap();
    assert_eq!(show(&out), show(&data("fwd_tcp_in_local_rport.out")));

    // sip_warning=yes, server_signature=no; the worker's pid was 26564
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5191,
        socket: &udp,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let tags = ToTagGenerator::new(
        SL_TOTAG_SIGNATURE,
        SL_TOTAG_SEPARATOR,
        b"127.0.0.1",
        b"5177",
    );
    let msg = Msg::parse(data("sl_options_warning.in")).unwrap();
    let opts = ReplyOptions {
        warning: Some(WarningInfo {
            pid: 26564,
            new_ruri: None,
        }),
        ..ReplyOptions::default()
    };
    let out = sl_reply(&msg, &rcv, 200, b"OK", &tags, &opts).unwrap();
    assert_eq!(show(&out), show(&data("sl_options_warning.out")));
}

/// Kamailio rr's `record_route()` lump structure (enable_double_rr=1, append_fromtag=1), rebuilt
/// with this crate's edit API: two anchor pairs at the first header; the outbound pair guarded by
/// `IfDiffRealms` conditions and showing the sending socket, the inbound pair the receiving socket.
fn record_route(e: &mut Edits, first: usize, ftag: &str) {
    // outbound (only when the sockets differ)
    let (l, l2) = (e.anchor(first).unwrap(), e.anchor(first).unwrap());
    let c1 = e.insert_cond(At::After(l), Cond::IfDiffRealms).unwrap();
    let c2 = e.insert_cond(At::Before(l2), Cond::IfDiffRealms).unwrap();
    build_rr(e, At::Next(c1), At::Next(c2), Subst::SndAll, ftag);
    // inbound
    let (l, l2) = (e.anchor(first).unwrap(), e.anchor(first).unwrap());
    build_rr(e, At::After(l), At::Before(l2), Subst::RcvAll, ftag);
}

/// rr's `build_rr()`: prefix, address substitution, `;r2=on` when the sockets differ, then on the
/// second anchor the parameters and the terminator.
fn build_rr(e: &mut Edits, at_l: At, at_l2: At, subst: Subst, ftag: &str) {
    let p = e.insert(at_l, b"Record-Route: <sip:").unwrap();
    let p = e.insert_subst(At::Next(p), subst).unwrap();
    let c = e.insert_cond(At::Next(p), Cond::IfDiffRealms).unwrap();
    e.insert(At::Next(c), b";r2=on").unwrap();
    let s = e
        .insert(at_l2, format!(";lr;ftag={ftag}").as_bytes())
        .unwrap();
    e.insert(At::Next(s), b">\r\n").unwrap();
}

#[test]
fn double_record_route_matches_kamailio_captures() {
    let udp = udp_sock(5177);
    let tcp = SocketInfo {
        proto: Transport::Tcp,
        ..udp_sock(5177)
    };
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5191,
        socket: &udp,
        proto: Transport::Udp,
        conn_id: 0,
    };
    for (case, ftag, to) in [
        (
            "rr_double_udp_to_tcp",
            "r1",
            SendTarget {
                socket: &tcp,
                proto: Transport::Tcp,
            },
        ),
        (
            "rr_single_udp_to_udp",
            "r2",
            SendTarget {
                socket: &udp,
                proto: Transport::Udp,
            },
        ),
    ] {
        let msg = Msg::parse(data(&format!("{case}.in"))).unwrap();
        let mut e = Edits::new(msg.buf().len()).unwrap();
        record_route(&mut e, msg.headers().unwrap()[0].span.start as usize, ftag);
        let out = forward_request(&msg, &e, &rcv, &to, &ForwardOptions::default()).unwrap();
        assert_eq!(show(&out), show(&data(&format!("{case}.out"))), "{case}");
    }
}

#[test]
fn forwarded_replies_match_kamailio_captures() {
    for case in ["fwd_reply_two_via_headers", "fwd_reply_combined_via"] {
        let msg = Msg::parse(data(&format!("{case}.in"))).unwrap();
        let e = Edits::new(msg.buf().len()).unwrap();
        let out = forward_reply(&msg, &e, &SendContext::default()).unwrap();
        assert_eq!(show(&out), show(&data(&format!("{case}.out"))), "{case}");
    }
}

#[test]
fn tm_relay_and_replies_match_kamailio_captures() {
    let sock = udp_sock(5177);
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5191,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let to = SendTarget {
        socket: &sock,
        proto: Transport::Udp,
    };
    let server = ReplyOptions {
        server_header: Some(b"Server: kamailio (5.6.3 (x86_64/linux))"),
        ..ReplyOptions::default()
    };
    let inv = Msg::parse(data("tm_relay_invite.in")).unwrap();
    let e = Edits::new(inv.buf().len()).unwrap();
    let out = forward_request(&inv, &e, &rcv, &to, &ForwardOptions::default()).unwrap();
    assert_eq!(show(&out), show(&data("tm_relay_invite.out")));
    let out = local_reply(
        &inv,
        &rcv,
        100,
        b"trying -- your call is important to us",
        &server,
    )
    .unwrap();
    assert_eq!(show(&out), show(&data("tm_100_trying.out")));
    // t_reply: tm's own to-tag generator
    let tags = ToTagGenerator::new(
        TM_TOTAG_SIGNATURE,
        TM_TOTAG_SEPARATOR,
        b"127.0.0.1",
        b"5177",
    );
    let sub = Msg::parse(data("tm_reply_404.in")).unwrap();
    let tag = reply_to_tag(&sub, &tags).unwrap();
    let opts = ReplyOptions {
        to_tag: Some(&tag),
        ..server
    };
    let out = local_reply(&sub, &rcv, 404, b"Not Found", &opts).unwrap();
    assert_eq!(show(&out), show(&data("tm_reply_404.out")));
}

const REQ: &str = "MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
Route: <sip:proxy.example.com;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 5 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello";

/// One forwarding scenario: options, receive/send sockets, edits, expected output.
struct Fwd {
    name: &'static str,
    recv_proto: Transport,
    send: SocketInfo<'static>,
    send_proto: Transport,
    opts: ForwardOptions<'static>,
    edit: fn(&Msg, &mut Edits),
    want: &'static str,
}

#[test]
fn forward_request_table() {
    let msg = Msg::parse(crlf(REQ)).unwrap();
    let branch = show(&kamailio_branch(&msg, 0).unwrap());
    let branch1 = show(&kamailio_branch(&msg, 1).unwrap());
    assert!(branch.starts_with("z9hG4bK") && branch.ends_with(".0"));
    assert!(branch1.ends_with(".1"));
    assert_eq!(branch[..branch.len() - 1], branch1[..branch1.len() - 1]);
    let v6 = SocketInfo {
        ip: IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1)),
        port: 5060,
        proto: Transport::Udp,
        advertise: None,
        sockname: "",
    };
    let adv = SocketInfo {
        advertise: Some(Advertise {
            host: "sip.example.net",
            port: 5080,
            proto: None,
        }),
        ..udp_sock(5060)
    };
    let tcp = SocketInfo {
        proto: Transport::Tcp,
        ..udp_sock(5070)
    };
    let cases = [
        Fwd {
            name: "plain, port 5060 not shown, received added (10.0.0.5 != 127.0.0.1)",
            recv_proto: Transport::Udp,
            send: udp_sock(5060),
            send_proto: Transport::Udp,
            opts: ForwardOptions::default(),
            edit: |_, _| {},
            want: "MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1;branch=BR0
Via: SIP/2.0/UDP 10.0.0.5:5060;received=127.0.0.1;branch=z9hG4bKm1
Route: <sip:proxy.example.com;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 5 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello",
        },
        Fwd {
            name: "new R-URI, path, local rport, branch 1, no received",
            recv_proto: Transport::Udp,
            send: udp_sock(5062),
            send_proto: Transport::Udp,
            opts: ForwardOptions {
                new_ruri: Some(b"sip:bob@192.0.2.7:5061"),
                branch_index: 1,
                no_received: true,
                add_local_rport: true,
                path: Some(b"<sip:edge.example.com;lr>"),
                ..ForwardOptions::default()
            },
            edit: |_, _| {},
            want: "MESSAGE sip:bob@192.0.2.7:5061 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5062;branch=BR1;rport
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
Route: <sip:edge.example.com;lr>
Route: <sip:proxy.example.com;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 5 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello",
        },
        Fwd {
            name: "received over TCP: ;i=, body edit adjusts Content-Length, RR with substitution",
            recv_proto: Transport::Tcp,
            send: tcp,
            send_proto: Transport::Tcp,
            opts: ForwardOptions {
                no_received: true,
                ..ForwardOptions::default()
            },
            edit: |m, e| {
                let body = m.body_span().unwrap();
                e.replace(body.start as usize, body.len(), b"hello, world")
                    .unwrap();
                let route = m
                    .headers()
                    .unwrap()
                    .iter()
                    .find(|h| h.kind == ferrosip_sipmsg::HeaderKind::Route)
                    .unwrap()
                    .span
                    .start as usize;
                e.remove_header_for_test(route);
                let first = m.headers().unwrap()[0].span.start as usize;
                let a = e.anchor(first).unwrap();
                let p = e.insert(At::Before(a), b"Record-Route: <sip:").unwrap();
                let p = e.insert_subst(At::Next(p), Subst::SndAll).unwrap();
                e.insert(At::Next(p), b";lr>\r\n").unwrap();
            },
            want: "MESSAGE sip:bob@example.com SIP/2.0
Record-Route: <sip:127.0.0.1:5070;transport=tcp;lr>
Via: SIP/2.0/TCP 127.0.0.1:5070;branch=BR0;i=a2
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 5 MESSAGE
Content-Type: text/plain
Content-Length: 12

hello, world",
        },
        Fwd {
            name: "advertised address, double RR condition false on same socket",
            recv_proto: Transport::Udp,
            send: adv,
            send_proto: Transport::Udp,
            opts: ForwardOptions {
                no_received: true,
                ..ForwardOptions::default()
            },
            edit: |m, e| {
                let first = m.headers().unwrap()[0].span.start as usize;
                let a = e.anchor(first).unwrap();
                let c = e.insert_cond(At::Before(a), Cond::IfDiffRealms).unwrap();
                e.insert(At::Next(c), b"Record-Route: <sip:second;lr>\r\n")
                    .unwrap();
            },
            want: "MESSAGE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP sip.example.net:5080;branch=BR0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
Route: <sip:proxy.example.com;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 5 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello",
        },
        Fwd {
            name: "IPv6 socket in brackets, double RR condition true across families",
            recv_proto: Transport::Udp,
            send: v6,
            send_proto: Transport::Udp,
            opts: ForwardOptions {
                no_received: true,
                ..ForwardOptions::default()
            },
            edit: |m, e| {
                let first = m.headers().unwrap()[0].span.start as usize;
                let a = e.anchor(first).unwrap();
                let c = e.insert_cond(At::Before(a), Cond::IfDiffAf).unwrap();
                let p = e.insert(At::Next(c), b"Record-Route: <sip:").unwrap();
                let p = e.insert_subst(At::Next(p), Subst::SndIp).unwrap();
                e.insert(At::Next(p), b";lr>\r\n").unwrap();
            },
            want: "MESSAGE sip:bob@example.com SIP/2.0
Record-Route: <sip:[2001:db8::1];lr>
Via: SIP/2.0/UDP [2001:db8::1];branch=BR0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
Route: <sip:proxy.example.com;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>
Call-ID: msg-1
CSeq: 5 MESSAGE
Content-Type: text/plain
Content-Length: 5

hello",
        },
    ];
    let rsock = udp_sock(5060);
    for c in &cases {
        let rcv = RecvInfo {
            src_ip: LOCALHOST,
            src_port: 5999,
            socket: &rsock,
            proto: c.recv_proto,
            conn_id: 0x2a,
        };
        let to = SendTarget {
            socket: &c.send,
            proto: c.send_proto,
        };
        let mut e = Edits::new(msg.buf().len()).unwrap();
        (c.edit)(&msg, &mut e);
        let out = forward_request(&msg, &e, &rcv, &to, &c.opts).unwrap();
        let want = c.want.replace("BR0", &branch).replace("BR1", &branch1);
        assert_eq!(show(&out), show(&crlf(&want)), "{}", c.name);
        Msg::parse(out).unwrap().headers().unwrap();
    }
}

/// Test helper trait: delete one whole header by its start offset.
trait RemoveHeader {
    fn remove_header_for_test(&mut self, start: usize);
}

impl RemoveHeader for Edits {
    fn remove_header_for_test(&mut self, start: usize) {
        // "Route: <sip:proxy.example.com;lr>\r\n" is 35 bytes
        self.delete(start, 35).unwrap();
    }
}

#[test]
fn forward_reply_table() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "top Via header removed",
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx.y.0
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
From: <sip:a@example.com>;tag=f1
To: <sip:b@example.com>;tag=t1
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

",
            "SIP/2.0 200 OK
Via: SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKm1
From: <sip:a@example.com>;tag=f1
To: <sip:b@example.com>;tag=t1
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

",
        ),
        (
            "first via of a combined header removed, TCP second via gets Content-Length",
            "SIP/2.0 180 Ringing
Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx.y.0, SIP/2.0/TCP 10.0.0.5;branch=z9hG4bKm1
From: <sip:a@example.com>;tag=f1
To: <sip:b@example.com>;tag=t1
Call-ID: c1
CSeq: 1 INVITE

",
            "SIP/2.0 180 Ringing
Via: SIP/2.0/TCP 10.0.0.5;branch=z9hG4bKm1
From: <sip:a@example.com>;tag=f1
To: <sip:b@example.com>;tag=t1
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

",
        ),
    ];
    for (name, input, want) in cases {
        let msg = Msg::parse(crlf(input)).unwrap();
        let e = Edits::new(msg.buf().len()).unwrap();
        let out = forward_reply(&msg, &e, &SendContext::default()).unwrap();
        assert_eq!(show(&out), show(&crlf(want)), "{name}");
    }
    let single = Msg::parse(crlf(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx
Call-ID: c1
CSeq: 1 INVITE
Content-Length: 0

",
    ))
    .unwrap();
    let e = Edits::new(single.buf().len()).unwrap();
    assert_eq!(
        forward_reply(&single, &e, &SendContext::default()),
        Err(BuildError::NoSecondVia)
    );
}

#[test]
fn local_reply_table() {
    let req = crlf(
        "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKi1
Via: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bKi0
Record-Route: <sip:rr1;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>;tag=old
Call-ID: inv-1
CSeq: 7 INVITE
Contact: <sip:alice@10.0.0.5>
Content-Length: 0

",
    );
    let msg = Msg::parse(req).unwrap();
    let sock = udp_sock(5060);
    let rcv = RecvInfo {
        src_ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        src_port: 40000,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let cases: &[(&str, u16, &str, ReplyOptions<'_>, &str)] = &[
        (
            "100 Trying: no RR, rport replaced, received appended",
            100,
            "Trying",
            ReplyOptions::default(),
            "SIP/2.0 100 Trying
Via: SIP/2.0/UDP 10.0.0.5:5060;rport=40000;received=192.0.2.1;branch=z9hG4bKi1
Via: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bKi0
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>;tag=old
Call-ID: inv-1
CSeq: 7 INVITE
Content-Length: 0

",
        ),
        (
            "183 with to-tag replaced, extra headers, body, warning",
            183,
            "Session Progress",
            ReplyOptions {
                to_tag: Some(b"newtag"),
                extra_headers: b"Contact: <sip:me@127.0.0.1>\r\nContent-Type: text/plain\r\n",
                body: Some(b"hi"),
                server_header: Some(b"Server: ferrosip"),
                warning: Some(WarningInfo {
                    pid: 42,
                    new_ruri: None,
                }),
                ..ReplyOptions::default()
            },
            "SIP/2.0 183 Session Progress
Via: SIP/2.0/UDP 10.0.0.5:5060;rport=40000;received=192.0.2.1;branch=z9hG4bKi1
Via: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bKi0
Record-Route: <sip:rr1;lr>
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>;tag=newtag
Call-ID: inv-1
CSeq: 7 INVITE
Contact: <sip:me@127.0.0.1>
Content-Type: text/plain
Server: ferrosip
Content-Length: 2
Warning: 392 127.0.0.1:5060 \"Noisy feedback tells:  pid=42 req_src_ip=192.0.2.1 req_src_port=40000 in_uri=sip:bob@example.com out_uri=sip:bob@example.com via_cnt==2\"

hi",
        ),
        (
            "no_received leaves the Via alone",
            486,
            "Busy Here",
            ReplyOptions {
                no_received: true,
                ..ReplyOptions::default()
            },
            "SIP/2.0 486 Busy Here
Via: SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKi1
Via: SIP/2.0/UDP 10.0.0.4;branch=z9hG4bKi0
From: <sip:alice@example.com>;tag=f1
To: <sip:bob@example.com>;tag=old
Call-ID: inv-1
CSeq: 7 INVITE
Content-Length: 0

",
        ),
    ];
    for (name, code, reason, opts, want) in cases {
        let out = local_reply(&msg, &rcv, *code, reason.as_bytes(), opts).unwrap();
        assert_eq!(show(&out), show(&crlf(want)), "{name}");
        Msg::parse(out).unwrap().headers().unwrap();
    }
    assert_eq!(
        local_reply(&msg, &rcv, 200, b"", &ReplyOptions::default()),
        Err(BuildError::BadStatus)
    );
    assert_eq!(
        local_reply(&msg, &rcv, 99, b"x", &ReplyOptions::default()),
        Err(BuildError::BadStatus)
    );
}

#[test]
fn sl_refuses_ack_and_keeps_existing_tag() {
    let sock = udp_sock(5060);
    let rcv = RecvInfo {
        src_ip: LOCALHOST,
        src_port: 5060,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let tags = ToTagGenerator::new(
        SL_TOTAG_SIGNATURE,
        SL_TOTAG_SEPARATOR,
        b"127.0.0.1",
        b"5060",
    );
    let ack = Msg::parse(crlf(
        "ACK sip:b@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKa
From: <sip:a@example.com>;tag=f
To: <sip:b@example.com>
Call-ID: a
CSeq: 1 ACK
Content-Length: 0

",
    ))
    .unwrap();
    assert_eq!(
        sl_reply(&ack, &rcv, 200, b"OK", &tags, &ReplyOptions::default()),
        Err(BuildError::ReplyToAck)
    );
    let bye = Msg::parse(crlf(
        "BYE sip:b@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKb
From: <sip:a@example.com>;tag=f
To: <sip:b@example.com>;tag=keep
Call-ID: b
CSeq: 2 BYE
Content-Length: 0

",
    ))
    .unwrap();
    let out = sl_reply(&bye, &rcv, 200, b"OK", &tags, &ReplyOptions::default()).unwrap();
    assert!(show(&out).contains("\r\nTo: <sip:b@example.com>;tag=keep\r\n"));
    // 1xx below 180 gets no tag either
    let inv = Msg::parse(crlf(
        "INVITE sip:b@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKc
From: <sip:a@example.com>;tag=f
To: <sip:b@example.com>
Call-ID: c
CSeq: 1 INVITE
Content-Length: 0

",
    ))
    .unwrap();
    let out = sl_reply(&inv, &rcv, 100, b"Trying", &tags, &ReplyOptions::default()).unwrap();
    assert!(show(&out).contains("\r\nTo: <sip:b@example.com>\r\n"));
    let out = sl_reply(&inv, &rcv, 180, b"Ringing", &tags, &ReplyOptions::default()).unwrap();
    assert!(show(&out).contains("\r\nTo: <sip:b@example.com>;tag="));
}

#[test]
fn apply_changes_table() {
    let msg = Msg::parse(crlf(REQ)).unwrap();
    let sock = udp_sock(5060);
    // header insert with a receive-socket substitution, body replaced: Content-Length follows
    let mut e = Edits::new(msg.buf().len()).unwrap();
    let eoh = msg.headers_end().unwrap();
    let a = e.anchor(eoh).unwrap();
    let p = e.insert(At::Before(a), b"X-Rcv: ").unwrap();
    let p = e.insert_subst(At::Next(p), Subst::RcvAll).unwrap();
    e.insert(At::Next(p), b"\r\n").unwrap();
    let body = msg.body_span().unwrap();
    e.replace(body.start as usize, body.len(), b"bye").unwrap();
    let out = apply_changes(&msg, &e, Some(&sock), Some(b"sip:carol@example.org")).unwrap();
    let want = crlf(
        &REQ.replace("sip:bob@example.com SIP", "sip:carol@example.org SIP")
            .replace(
                "Content-Length: 5\n",
                "Content-Length: 3\nX-Rcv: 127.0.0.1\n",
            )
            .replace("\nhello", "\nbye"),
    );
    assert_eq!(show(&out), show(&want));
    let re = Msg::parse(out).unwrap();
    assert_eq!(re.body().unwrap(), b"bye");
    assert_eq!(re.content_length().unwrap().unwrap().value, 3);
    // a removed Content-Length counts as absent: body edits on UDP then add none
    let mut r = Edits::new(msg.buf().len()).unwrap();
    let cl = msg
        .header(ferrosip_sipmsg::HeaderKind::ContentLength)
        .unwrap()
        .unwrap()
        .span;
    r.delete(cl.start as usize, cl.len()).unwrap();
    r.replace(body.start as usize, body.len(), b"x").unwrap();
    let out = apply_changes(&msg, &r, Some(&sock), None).unwrap();
    let want = crlf(
        &REQ.replace("Content-Length: 5\n", "")
            .replace("\nhello", "\nx"),
    );
    assert_eq!(show(&out), show(&want));
    // a reply is fixed for the transport of its second Via: TCP there adds the missing Content-Length
    let reply = crlf(
        "SIP/2.0 200 OK
Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx.y.0
Via: SIP/2.0/TCP 10.0.0.5;branch=z9hG4bKm1
Call-ID: c1
CSeq: 1 MESSAGE

",
    );
    let rmsg = Msg::parse(reply.clone()).unwrap();
    let none = Edits::new(reply.len()).unwrap();
    let out = apply_changes(&rmsg, &none, Some(&sock), None).unwrap();
    let mut want = reply[..reply.len() - 2].to_vec();
    want.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    assert_eq!(show(&out), show(&want));
    // conditional edits are refused, as Kamailio refuses msg_apply_changes after record_route
    let mut c = Edits::new(msg.buf().len()).unwrap();
    let a = c.anchor(0).unwrap();
    c.insert_cond(At::After(a), Cond::IfDiffRealms).unwrap();
    assert_eq!(
        apply_changes(&msg, &c, Some(&sock), None),
        Err(BuildError::ConditionalEdits)
    );
}
