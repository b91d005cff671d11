//! sl: (request, call) → return code, the reply bytes and where they went.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::net::SocketAddr;

use ferrosip_api::{ModValue, RouteType};

/// Calls `f(args)` of `reg` on `msg` with a caller-made recorder (core parameters, sockets).
fn call_on(
    reg: &ferrosip_api::Registry,
    msg: &str,
    rec: &mut ferrosip_api::Recorder,
    f: &str,
    args: &[&str],
    setup: &dyn Fn(&mut ferrosip_api::Ctx<'_>),
) -> i64 {
    let (h, a) = prepare(reg, f, args).unwrap_or_else(|e| panic!("{f}: {e}"));
    let mut m =
        ferrosip_sipmsg::Msg::parse(msg.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let mut w = ferrosip_api::WorkerState::default();
    let rcv = ferrosip_api::RecvInfo {
        src: src(),
        dst: local(),
        proto: ferrosip_api::Proto::Udp,
        socket: 0,
    };
    let mut ctx = ferrosip_api::Ctx::new(&mut m, RouteType::Request, rcv, &mut w, rec)
        .unwrap_or_else(|e| panic!("{e}"));
    setup(&mut ctx);
    h(&mut ctx, &a).map_or(-1, |r| r.0)
}

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
    assert!(
        r.contains(
            "CSeq: 1 INVITE\r\nX-A: 1\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"
        ),
        "{r}"
    );
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
    let e = prepare(&reg, "send_reply_mode", &["200", "OK", "1"])
        .err()
        .unwrap_or_default();
    assert!(e.contains("not implemented yet"), "send_reply_mode: {e}");
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
    assert_eq!((st.sent, st.sent_err, st.received_acks), (1, 0, 1));
}

/// The core parameters sl reads (`server_signature`, `server_header`, `sip_warning`), the
/// `force_rport()` mark, the error reply, and the to-tag seed from the first listening socket.
#[test]
fn core_params_error_reply_force_rport_and_seed() {
    use ferrosip_api::{CoreParams, Proto, Recorder, SocketInfo};
    let reg = registry(&[]);
    // a server that does not pass its parameters: no Server: (as before they reached modules)
    let mut rec = Recorder::default();
    call_on(
        &reg,
        INVITE,
        &mut rec,
        "sl_send_reply",
        &["404", "Nope"],
        &|_| {},
    );
    assert!(!String::from_utf8_lossy(&rec.sent[0].1).contains("Server:"));
    // (server_signature, server_header, sip_warning) → Server line present, Warning present
    let cases: &[(bool, &str, bool, Option<&str>, bool)] = &[
        (
            true,
            "Server: kamailio (5.6.3 (x86_64/linux))",
            false,
            Some("Server: kamailio (5.6.3 (x86_64/linux))\r\n"),
            false,
        ),
        (false, "Server: x", false, None, false),
        (true, "Server: x", true, Some("Server: x\r\n"), true),
    ];
    for (sig, hdr, warn, want_server, want_warning) in cases {
        let mut rec = Recorder {
            core: Some(CoreParams {
                server_signature: *sig,
                server_header: hdr.to_string(),
                sip_warning: *warn,
                ..CoreParams::default()
            }),
            ..Recorder::default()
        };
        assert_eq!(
            call_on(
                &reg,
                INVITE,
                &mut rec,
                "sl_send_reply",
                &["404", "Nope"],
                &|_| {}
            ),
            1
        );
        let r = String::from_utf8_lossy(&rec.sent[0].1).into_owned();
        match want_server {
            Some(l) => assert!(r.contains(l), "{r}"),
            None => assert!(!r.contains("Server:"), "{r}"),
        }
        assert_eq!(r.contains("\r\nWarning: 392 "), *want_warning, "{r}");
    }
    // sl_reply_error without a core error: Kamailio 5.6.3's reply and log line
    let mut rec = Recorder::default();
    assert_eq!(
        call_on(&reg, INVITE, &mut rec, "sl_reply_error", &[], &|_| {}),
        1
    );
    let r = String::from_utf8_lossy(&rec.sent[0].1).into_owned();
    assert!(
        r.starts_with("SIP/2.0 500 I'm terribly sorry, server error occurred (1/SL)\r\n"),
        "{r}"
    );
    assert!(rec
        .logs
        .iter()
        .any(|(l, t)| *l == -1 && t.contains("stateless error reply used")));
    let mut rec = Recorder::default();
    call_on(&reg, INVITE, &mut rec, "send_reply_error", &[], &|c| {
        c.state.ser_error = -5
    });
    assert!(String::from_utf8_lossy(&rec.sent[0].1)
        .starts_with("SIP/2.0 500 I'm terribly sorry, server error occurred (5/SL)\r\n"));
    // force_rport(): the reply goes to the source port and the Via gets rport=
    let mut rec = Recorder::default();
    call_on(
        &reg,
        INVITE,
        &mut rec,
        "sl_send_reply",
        &["200", "OK"],
        &|c| {
            c.state.msg_flags |= ferrosip_api::ctx::FL_FORCE_RPORT;
        },
    );
    assert_eq!(rec.sent[0].0.addr, src());
    let r = String::from_utf8_lossy(&rec.sent[0].1).into_owned();
    assert!(r.contains(&format!(";rport={}", src().port())), "{r}");
    // the to-tag is seeded with the first listening socket, not the receiving one
    let tag = |rec: &Recorder| {
        String::from_utf8_lossy(&rec.sent[0].1)
            .split(";tag=")
            .nth(2)
            .and_then(|t| t.split("\r\n").next())
            .unwrap_or_default()
            .to_string()
    };
    let mut plain = Recorder::default();
    call_on(
        &reg,
        INVITE,
        &mut plain,
        "sl_send_reply",
        &["404", "x"],
        &|_| {},
    );
    let mut first_is_local = Recorder {
        sockets: vec![SocketInfo::new(Proto::Udp, local())],
        ..Recorder::default()
    };
    call_on(
        &reg,
        INVITE,
        &mut first_is_local,
        "sl_send_reply",
        &["404", "x"],
        &|_| {},
    );
    let mut other_first = Recorder {
        sockets: vec![
            SocketInfo::new(
                Proto::Udp,
                "192.0.2.77:5080".parse().unwrap_or_else(|e| panic!("{e}")),
            ),
            SocketInfo::new(Proto::Udp, local()),
        ],
        ..Recorder::default()
    };
    call_on(
        &reg,
        INVITE,
        &mut other_first,
        "sl_send_reply",
        &["404", "x"],
        &|c| c.rcv.socket = 1,
    );
    assert_eq!(tag(&plain).len(), 41);
    assert_eq!(tag(&plain), tag(&first_is_local));
    assert_ne!(tag(&plain), tag(&other_first));
}

/// `event_route[sl:local-response]` runs after a local reply, with the reply as the message.
#[test]
fn local_response_event_route() {
    use ferrosip_api::{Ctx, Recorder, RecvInfo, WorkerState};
    use ferrosip_config::LoadOptions;
    struct NoFiles;
    impl ferrosip_config::Host for NoFiles {
        fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                path.to_string(),
            ))
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }
    let cfg = "request_route {\n sl_send_reply(\"404\", \"Nope\");\n xlog(\"L_ERR\", \"after $rm\");\n}\nevent_route[sl:local-response] {\n xlog(\"L_ERR\", \"local $rs $rr\");\n}\n";
    let loaded =
        ferrosip_config::load_text("t.cfg", cfg.to_string(), &LoadOptions::default(), &NoFiles)
            .unwrap_or_else(|f| panic!("{}", f.render()));
    let mut reg = ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::pv::exports(),
        ferrosip_modules::xlog::exports(),
        ferrosip_modules::sl::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
    assert!(p.warnings().is_empty(), "{:?}", p.warnings());
    let mut rec = Recorder {
        debug: 3,
        ..Recorder::default()
    };
    let mut w = WorkerState::default();
    let mut m =
        ferrosip_sipmsg::Msg::parse(INVITE.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        ..RecvInfo::default()
    };
    let mut ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
        .unwrap_or_else(|e| panic!("{e}"));
    let id = p
        .route(ferrosip_script::Entry::Request)
        .unwrap_or_else(|| panic!("route"));
    p.run(id, &mut ctx);
    drop(ctx);
    let lines: Vec<&str> = rec.lines.iter().map(|l| l.3.as_str()).collect();
    assert_eq!(lines, vec!["local 404 Nope", "after INVITE"]);
    assert_eq!(rec.sent.len(), 1);
}
