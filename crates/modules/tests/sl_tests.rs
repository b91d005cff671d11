//! sl: (request, call) → return code, the reply bytes and where they went.

#[path = "textops_harness.rs"]
mod harness;
use harness::*;

use std::net::SocketAddr;

use ferrosip_api::{ModValue, RouteType};

#[test]
fn sl_send_reply_table() {
    let reg = registry(&[]);
    // (function, code, reason, rc, first line of the reply or None when nothing is sent)
    let cases: &[(&str, &str, &str, i64, Option<&str>)] = &[
        (
            "sl_send_reply",
            "404",
            "Not Here",
            1,
            Some("SIP/2.0 404 Not Here\r\n"),
        ),
        ("sl_reply", "200", "OK", 1, Some("SIP/2.0 200 OK\r\n")),
        (
            "send_reply",
            "100",
            "Trying",
            1,
            Some("SIP/2.0 100 Trying\r\n"),
        ),
        ("sl_send_reply", "99", "Bad", -1, None),
        ("sl_send_reply", "700", "Bad", -1, None),
        ("sl_send_reply", "404", "", -1, None),
    ];
    for (f, code, reason, rc, first) in cases {
        let o = call(&reg, INVITE, f, &[code, reason]);
        assert_eq!(o.rc, *rc, "{f}({code}, {reason})");
        match first {
            Some(l) => {
                assert_eq!(o.sent.len(), 1, "{f}");
                assert!(o.sent[0].1.starts_with(l), "{}", o.sent[0].1);
            }
            None => assert!(o.sent.is_empty(), "{f}({code})"),
        }
    }
}

#[test]
fn reply_layout_and_to_tag() {
    let reg = registry(&[]);
    let o = call(&reg, INVITE, "sl_send_reply", &["404", "Not Here"]);
    let (dst, reply) = &o.sent[0];
    // no rport in the Via: the Via port, source IP (Kamailio's update_sock_struct_from_ip)
    assert_eq!(dst.addr, SocketAddr::from(([10, 0, 0, 1], 5070)));
    let want_prefix = "SIP/2.0 404 Not Here\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=";
    assert!(reply.starts_with(want_prefix), "{reply}");
    assert!(
        reply.ends_with("\r\nCall-ID: c1@10.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"),
        "{reply}"
    );
    // sl's tag: 32 hex (MD5 of signature and socket), '.', 8 hex (CRCs of Via and Call-ID);
    // the exact value is compared with Kamailio's in sl_kamailio.rs
    let tag_in_reply = reply
        .split("To: <sip:bob@example.com>;tag=")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .unwrap_or_default()
        .to_string();
    assert_eq!(tag_in_reply.len(), 41);
    assert_eq!(tag_in_reply.as_bytes()[32], b'.');
    // a 100 gets no to-tag
    let o = call(&reg, INVITE, "sl_send_reply", &["100", "Trying"]);
    assert!(
        o.sent[0].1.contains("To: <sip:bob@example.com>\r\n"),
        "{}",
        o.sent[0].1
    );
}

#[test]
fn rport_and_received() {
    let reg = registry(&[]);
    let msg = INVITE
        .replace(";branch=z9hG4bK-1", ";rport;branch=z9hG4bK-1")
        .replace("10.0.0.1:5070;", "192.0.2.9:5070;");
    let o = call(&reg, &msg, "sl_send_reply", &["403", "No"]);
    let (dst, reply) = &o.sent[0];
    assert_eq!(dst.addr, src(), "rport: reply to the source port");
    assert!(
        reply.contains(
            "Via: SIP/2.0/UDP 192.0.2.9:5070;rport=5070;received=10.0.0.1;branch=z9hG4bK-1\r\n"
        ),
        "{reply}"
    );
}

#[test]
fn no_reply_to_ack_or_replies() {
    let reg = registry(&[]);
    let ack = INVITE
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK");
    let o = call(&reg, &ack, "sl_send_reply", &["404", "x"]);
    assert_eq!((o.rc, o.sent.len()), (-1, 0));
    let reply = "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-1\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: x\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let o = call_with(
        &reg,
        reply,
        RouteType::CoreOnReply,
        3,
        &[("send_reply", &["500", "x"])],
        &|_| {},
    );
    assert_eq!((o.rc, o.sent.len()), (-1, 0));
}

#[test]
fn reply_lumps_and_redirect() {
    let reg = registry(&[]);
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[
            ("append_to_reply", &["X-A: 1\r\n"]),
            ("set_reply_body", &["hello", "text/plain"]),
            ("sl_send_reply", &["488", "Not Acceptable Here"]),
        ],
        &|_| {},
    );
    let r = &o.sent[0].1;
    assert!(r.contains("CSeq: 1 INVITE\r\nX-A: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"), "{r}");
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("sl_send_reply", &["302", "Moved"])],
        &|ctx| {
            ctx.state.new_uri = Some(b"sip:bob@192.0.2.1".to_vec());
            ctx.state.branches.push(ferrosip_api::ctx::Branch {
                uri: b"sip:bob@192.0.2.2".to_vec(),
                q: 500,
                ..Default::default()
            });
        },
    );
    assert!(
        o.sent[0]
            .1
            .contains("Contact: <sip:bob@192.0.2.1>, <sip:bob@192.0.2.2>;q=0.5\r\n"),
        "{}",
        o.sent[0].1
    );
}

#[test]
fn modparams() {
    let reg = registry(&[
        ("sl", "default_code", ModValue::Int(503)),
        ("sl", "default_reason", ModValue::Str("Busy Here".into())),
    ]);
    // a code parameter that is not a number falls back to default_code
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("sl_send_reply", &["$var(nocode)", "Busy Here"])],
        &|ctx| set_var(&reg, ctx, "nocode", ferrosip_api::Value::str("abc")),
    );
    assert!(
        o.sent[0].1.starts_with("SIP/2.0 503 Busy Here\r\n"),
        "{}",
        o.sent[0].1
    );
    let mut bad = ferrosip_api::Registry::new();
    bad.add(ferrosip_modules::sl::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    for (n, v) in [
        ("default_code", ModValue::Int(42)),
        ("rich_redirect", ModValue::Int(2)),
    ] {
        assert!(bad.set_modparam("sl", n, v).is_err(), "{n}");
    }
    assert!(matches!(
        bad.set_modparam("sl", "event_callback_fl_ack", ModValue::Str("x".into())),
        Err(ferrosip_api::Error::NotImplemented(_))
    ));
}

#[test]
fn refused_functions() {
    let reg = registry(&[]);
    for (f, args) in [
        ("sl_reply_error", &[][..]),
        ("send_reply_error", &[]),
        ("sl_forward_reply", &[]),
        ("send_reply_mode", &["200", "OK", "1"]),
    ] {
        let e = prepare(&reg, f, args).err().unwrap_or_default();
        assert!(e.contains("not implemented yet"), "{f}: {e}");
    }
}

#[test]
fn stats_ltt_and_ack_filter() {
    let reg = registry(&[]);
    let api = reg
        .api::<ferrosip_modules::sl::SlApi>()
        .unwrap_or_else(|| panic!("SlApi"));
    let o = call(&reg, INVITE, "sl_send_reply", &["486", "Busy"]);
    let tag = o.sent[0]
        .1
        .split("To: <sip:bob@example.com>;tag=")
        .nth(1)
        .and_then(|r| r.split("\r\n").next())
        .unwrap_or_default()
        .to_string();
    // $ltt(s) gives the same tag
    let fmt = reg
        .parse_format("$ltt(s)")
        .unwrap_or_else(|e| panic!("{e}"));
    let mut m =
        ferrosip_sipmsg::Msg::parse(INVITE.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let mut w = ferrosip_api::WorkerState::default();
    let mut rec = ferrosip_api::Recorder::default();
    let rcv = ferrosip_api::RecvInfo {
        src: src(),
        dst: local(),
        proto: ferrosip_api::Proto::Udp,
        socket: 0,
    };
    let mut ctx = ferrosip_api::Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(String::from_utf8_lossy(&fmt.render(&mut ctx)), tag);
    assert!(reg.parse_format("$ltt(q)").is_err());
    // the ACK for that reply is absorbed, another ACK is not
    let ack = INVITE
        .replacen("INVITE sip:", "ACK sip:", 1)
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace(
            "To: <sip:bob@example.com>",
            &format!("To: <sip:bob@example.com>;tag={tag}"),
        );
    let m = ferrosip_sipmsg::Msg::parse(ack.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    assert!(api.filter_ack(&m, local()));
    let other = ack.replace(&tag, "other-tag");
    let m =
        ferrosip_sipmsg::Msg::parse(other.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    assert!(!api.filter_ack(&m, local()));
    let st = api.stats();
    assert_eq!(
        st.replies
            .iter()
            .find(|(n, _)| *n == "4xx_replies")
            .map(|x| x.1),
        Some(1)
    );
    assert_eq!((st.sent, st.sent_err, st.received_acks), (1, 1, 1));
}
