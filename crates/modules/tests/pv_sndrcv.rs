//! `$snd()`/`$sndto()`/`$sndfrom()` (the message being sent, onsend_route) and `$rcv()`/`$recv()`
//! (what was received, event_route[core:msg-received]): every key Kamailio's pv module parses,
//! `$null` outside their routes, and `$rcv(buf|bufat|hexat)` writes.

mod pv_support;

use std::net::SocketAddr;

use ferrosip_api::pv::parse_pv_ref;
use ferrosip_api::{
    Ctx, Proto, RcvData, RcvEvent, Recorder, RouteType, SendInfo, Value, WorkerState,
};
use ferrosip_sipmsg::Msg;
use pv_support::{default_rcv, message, registry};

fn get(reg: &ferrosip_api::Registry, ctx: &mut Ctx<'_>, pv: &str) -> Value {
    let (r, _) = parse_pv_ref(pv.as_bytes()).expect("syntax");
    reg.resolve_pv(&r).expect("known").get(ctx)
}

fn set(reg: &ferrosip_api::Registry, ctx: &mut Ctx<'_>, pv: &str, v: Value) -> Result<(), String> {
    let (r, _) = parse_pv_ref(pv.as_bytes()).expect("syntax");
    reg.resolve_pv(&r)
        .expect("known")
        .set(ctx, v)
        .map_err(|e| e.to_string())
}

fn int(i: i64) -> Value {
    Value::Int(i)
}

fn text(t: &str) -> Value {
    Value::Str(t.as_bytes().to_vec())
}

#[test]
fn send_info_in_onsend_route_and_null_elsewhere() {
    let reg = registry();
    let mut msg = Msg::parse(message("inv")).expect("message");
    let (mut worker, mut server) = (WorkerState::default(), Recorder::default());
    let mut ctx = Ctx::new(
        &mut msg,
        RouteType::OnSend,
        default_rcv(),
        &mut worker,
        &mut server,
    )
    .expect("ctx");
    for pv in ["$snd(ip)", "$sndto(port)", "$sndfrom(buf)", "$snd(len)"] {
        assert_eq!(get(&reg, &mut ctx, pv), Value::Null, "{pv} outside onsend");
    }
    ctx.state.sending = Some(Box::new(SendInfo {
        to: SocketAddr::from(([192, 0, 2, 9], 5070)),
        from: SocketAddr::from(([127, 0, 0, 1], 5060)),
        proto: Proto::Tcp,
        buf: b"INVITE sip:x SIP/2.0\r\n\r\n".to_vec(),
    }));
    let cases: &[(&str, Value)] = &[
        ("$snd(ip)", text("192.0.2.9")),
        ("$sndto(ip)", text("192.0.2.9")),
        ("$sndfrom(ip)", text("127.0.0.1")),
        ("$snd(port)", int(5070)),
        ("$sndfrom(port)", int(5060)),
        ("$snd(af)", int(2)),
        ("$snd(proto)", int(2)),
        ("$sndfrom(sproto)", text("tcp")),
        ("$snd(buf)", text("INVITE sip:x SIP/2.0\r\n\r\n")),
        ("$snd(len)", int(24)),
    ];
    for (pv, want) in cases {
        assert_eq!(&get(&reg, &mut ctx, pv), want, "{pv}");
    }
    assert!(
        set(&reg, &mut ctx, "$snd(ip)", text("x")).is_err(),
        "read-only"
    );
}

#[test]
fn receive_info_in_msg_received() {
    let reg = registry();
    let mut msg = Msg::parse(message("opt")).expect("message");
    let (mut worker, mut server) = (WorkerState::default(), Recorder::default());
    let mut ctx = Ctx::new(
        &mut msg,
        RouteType::Event,
        default_rcv(),
        &mut worker,
        &mut server,
    )
    .expect("ctx");
    assert_eq!(get(&reg, &mut ctx, "$rcv(buf)"), Value::Null, "no event");
    ctx.state.received = Some(Box::new(RcvData {
        buf: b"OPTIONS sip:a SIP/2.0\r\n".to_vec(),
        event: RcvEvent::ParseError,
    }));
    assert_eq!(
        get(&reg, &mut ctx, "$rcv(len)"),
        Value::Null,
        "parse-error: $rcv is null in Kamailio"
    );
    assert_eq!(
        get(&reg, &mut ctx, "$ml"),
        int(23),
        "$ml of the broken bytes"
    );
    ctx.state.received = Some(Box::new(RcvData {
        buf: b"OPTIONS sip:a SIP/2.0\r\n".to_vec(),
        event: RcvEvent::Message,
    }));
    let cases: &[(&str, Value)] = &[
        ("$rcv(af)", int(2)),
        ("$rcv(buf)", text("OPTIONS sip:a SIP/2.0\r\n")),
        ("$recv(len)", int(23)),
        ("$rcv(proto)", int(1)),
        ("$rcv(sproto)", text("udp")),
        ("$rcv(srcip)", text("192.0.2.55")),
        ("$rcv(srcport)", int(5099)),
        ("$rcv(rcvip)", text("127.0.0.1")),
        ("$rcv(rcvport)", int(5060)),
        ("$rcv(safe)", int(1)),
        ("$rcv(evtype)", int(1)),
        ("$rcv(hexat)", Value::Null),
    ];
    for (pv, want) in cases {
        assert_eq!(&get(&reg, &mut ctx, pv), want, "{pv}");
    }
    // Writes: (pv, value, expected buffer or None for a refused write).
    let writes: &[(&str, Value, Option<&str>)] = &[
        (
            "$rcv(bufat)",
            text("8:xyz"),
            Some("OPTIONS xyz:a SIP/2.0\r\n"),
        ),
        (
            "$rcv(hexat)",
            text("0:6f70"),
            Some("opTIONS xyz:a SIP/2.0\r\n"),
        ),
        ("$rcv(hexat)", text("0:6f7"), None),
        ("$rcv(bufat)", text("99:x"), None),
        ("$rcv(bufat)", text("x"), None),
        ("$rcv(len)", int(3), None),
        ("$rcv(buf)", text("PING"), Some("PING")),
        ("$rcv(buf)", Value::Null, Some("")),
    ];
    for (pv, v, want) in writes {
        let r = set(&reg, &mut ctx, pv, v.clone());
        let buf = ctx.state.received.as_ref().map(|r| r.buf.clone());
        match want {
            Some(w) => {
                assert!(r.is_ok(), "{pv} = {v:?}: {r:?}");
                assert_eq!(buf.as_deref(), Some(w.as_bytes()), "{pv} = {v:?}");
            }
            None => assert!(r.is_err(), "{pv} = {v:?} must be refused"),
        }
    }
}
