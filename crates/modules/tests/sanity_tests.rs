//! sanity: every check bit on a message broken for it and on the good one; the replies (status
//! line, `Unsupported:` for 420) through the Recorder; `autodrop`, `noreply` + `sanity_reply()`,
//! the mask ranges.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::{ModValue, RouteType};

/// (name, replacements on INVITE, args of sanity_check, return code, first line of the reply).
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [&'static str],
    i64,
    Option<&'static str>,
);

const AUTH: &str = "Authorization: Digest username=\"a\", realm=\"r\", nonce=\"n\", uri=\"sip:bob@example.com\", response=\"0123\"\r\nContent-Type";

const CASES: &[Case] = &[
    ("good-defaults", &[], &[], 1, None),
    ("good-all", &[], &["32767", "15"], 1, None),
    ("1-version", &[(" SIP/2.0\r\nVia", " SIP/3.0\r\nVia")], &["1"], 0, Some("SIP/3.0 505 Version Not Supported (R-URI)")),
    ("2-scheme", &[("INVITE sip:bob", "INVITE foo:bob")], &["2"], 0, Some("SIP/2.0 400 Bad Request URI")),
    ("4-missing-callid", &[("Call-ID: c1@10.0.0.1\r\n", "")], &["4"], 0, None),
    ("4-dup-from", &[("To: ", "From: <sip:x@y>;tag=2\r\nTo: ")], &["4"], 0, None),
    ("8-16-pass", &[], &["24"], 1, None),
    ("32-method", &[("CSeq: 1 INVITE", "CSeq: 1 BYE")], &["32"], 0, Some("SIP/2.0 400 CSeq method does not match request method")),
    ("32-case", &[("CSeq: 1 INVITE", "CSeq: 1 invite")], &["32"], 0, Some("SIP/2.0 400 CSeq method does not match request method")),
    ("64-value", &[("CSeq: 1 INVITE", "CSeq: 99999999999 INVITE")], &["64"], 0, Some("SIP/2.0 400 CSeq number is illegal")),
    ("64-letters", &[("CSeq: 1 INVITE", "CSeq: 1a INVITE")], &["64"], 0, Some("SIP/2.0 400 CSeq number is illegal")),
    ("128-cl", &[("Content-Length: 11", "Content-Length: 12")], &["128"], 0, Some("SIP/2.0 400 Content-Length mis-match")),
    ("256-expires", &[("Subject:", "Expires: 12x\r\nSubject:")], &["256"], 0, Some("SIP/2.0 400 Expires value is illegal")),
    ("256-expires-ok", &[("Subject:", "Expires: 3600\r\nSubject:")], &["256"], 1, None),
    ("512-proxy-require", &[("Subject:", "Proxy-Require: foo\r\nSubject:")], &["512"], 0, Some("SIP/2.0 420 Bad Proxy Require Extension")),
    ("1024-from", &[("From: <sip:alice@example.com>", "From: <sip:alice@>")], &["1024", "2"], 0, Some("SIP/2.0 400 Invalid From Header")),
    ("1024-contact", &[("Contact: <sip:alice@10.0.0.1:5070>", "Contact: <sip:alice@10.0.0.1:99999>")], &["1024", "8"], 0, Some("SIP/2.0 400 Bad Contact URI")),
    ("1024-contact-unchecked", &[("Contact: <sip:alice@10.0.0.1:5070>", "Contact: <sip:alice@10.0.0.1:99999>")], &["1024", "7"], 1, None),
    ("2048-good", &[("Content-Type", AUTH)], &["2048"], 1, None),
    ("2048-no-nonce", &[("Content-Type", "Authorization: Digest username=\"a\", realm=\"r\", uri=\"sip:b@c\", response=\"1\"\r\nContent-Type")], &["2048"], 0, Some("SIP/2.0 400 Bad Auth Credentials")),
    ("2048-empty-user", &[("Content-Type", "Authorization: Digest username=\"\", realm=\"r\", nonce=\"n\", uri=\"sip:b@c\", response=\"1\"\r\nContent-Type")], &["2048"], 0, Some("SIP/2.0 400 Auth Empty User")),
    ("2048-basic", &[("Content-Type", "Authorization: Basic YTpi\r\nContent-Type")], &["2048"], 0, None),
    ("8192-basic", &[("Content-Type", "Authorization: Basic YTpi\r\nContent-Type")], &["8192"], 1, None),
    ("4096-two-tags", &[(";tag=a1", ";tag=a1;tag=a2")], &["4096"], 0, Some("SIP/2.0 400 Many From Tag Params")),
    ("16384-via", &[], &["16384"], 1, None),
    (
        "16384-bad-via",
        &[("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1", "Via: SIP/2.0/UDP")],
        &["16384"],
        0,
        None,
    ),
    (
        "8-16-bad-via-still-pass",
        &[("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1", "Via: SIP/2.0/UDP")],
        &["24"],
        1,
        None,
    ),
];

fn msg(reps: &[(&str, &str)]) -> String {
    let mut s = INVITE.to_string();
    for (a, b) in reps {
        assert!(s.contains(a), "replacement {a:?} does not apply");
        s = s.replacen(a, b, 1);
    }
    s
}

#[test]
fn every_check_bit() {
    let reg = registry(&[]);
    for (name, reps, args, rc, reply) in CASES {
        let o = call(&reg, &msg(reps), "sanity_check", args);
        assert_eq!(o.rc, *rc, "{name}: logs {:?}", o.logs);
        let first = o
            .sent
            .first()
            .map(|(_, b)| b.split("\r\n").next().unwrap_or("").to_string());
        assert_eq!(first.as_deref(), *reply, "{name}");
        assert!(o.sent.len() <= 1, "{name}: one reply at most");
    }
}

#[test]
fn reply_layout_and_unsupported_header() {
    let reg = registry(&[]);
    let o = call(
        &reg,
        &msg(&[("Subject:", "Proxy-Require: foo, bar\r\nSubject:")]),
        "sanity_check",
        &["512"],
    );
    let (dst, r) = o.sent.first().unwrap_or_else(|| panic!("no reply"));
    assert_eq!(dst.addr.to_string(), "10.0.0.1:5070");
    assert!(r.contains("\r\nUnsupported: foo\r\n"), "{r}");
    assert!(r.contains("\r\nTo: <sip:bob@example.com>;tag="), "{r}");
    assert!(r.contains("CSeq: 1 INVITE\r\n"), "{r}");
    // With the extensions configured, the same request passes.
    let reg = registry(&[("sanity", "proxy_require", ModValue::Str("foo, bar".into()))]);
    let o = call(
        &reg,
        &msg(&[("Subject:", "Proxy-Require: foo, bar\r\nSubject:")]),
        "sanity_check",
        &["512"],
    );
    assert_eq!((o.rc, o.sent.len()), (1, 0));
}

#[test]
fn modparams_autodrop_noreply_and_ranges() {
    let bad = msg(&[("CSeq: 1 INVITE", "CSeq: 1 BYE")]);
    // autodrop 0: false instead of stopping the script.
    let reg = registry(&[("sanity", "autodrop", ModValue::Int(0))]);
    let o = call(&reg, &bad, "sanity_check", &[]);
    assert_eq!((o.rc, o.sent.len()), (-1, 1));
    // default_checks without the CSeq method check: passes.
    let reg = registry(&[("sanity", "default_checks", ModValue::Int(1))]);
    assert_eq!(call(&reg, &bad, "sanity_check", &[]).rc, 1);
    // noreply: nothing sent by sanity_check; sanity_reply sends the chosen reply.
    let reg = registry(&[("sanity", "noreply", ModValue::Int(1))]);
    let o = call_with(
        &reg,
        &bad,
        RouteType::Request,
        3,
        &[("sanity_check", &[]), ("sanity_reply", &[])],
        &|_| {},
    );
    assert_eq!(o.rc, 1);
    assert_eq!(o.sent.len(), 1);
    assert!(o.sent[0]
        .1
        .starts_with("SIP/2.0 400 CSeq method does not match request method\r\n"));
    // noreply without a failed check: 500.
    let o = call(&reg, &msg(&[]), "sanity_reply", &[]);
    assert!(o
        .sent
        .first()
        .is_some_and(|s| s.1.starts_with("SIP/2.0 500 Server Sanity Failure\r\n")));
    // Without noreply, sanity_reply does nothing.
    let reg = registry(&[]);
    let o = call(&reg, &msg(&[]), "sanity_reply", &[]);
    assert_eq!((o.rc, o.sent.len()), (1, 0));
    // Mask ranges: 1..32767 and 1..15.
    for args in [&["0"][..], &["32768"], &["1", "16"], &["1", "0"]] {
        let o = call(&reg, &msg(&[]), "sanity_check", args);
        assert_eq!(o.rc, -1, "{args:?}");
        assert!(
            o.logs
                .iter()
                .any(|(_, l)| l.contains("outside of valid range")),
            "{args:?}"
        );
    }
    // ACK is never answered.
    let ack = msg(&[
        ("INVITE sip:", "ACK sip:"),
        ("CSeq: 1 INVITE", "CSeq: 1 BYE"),
    ]);
    let o = call(&reg, &ack, "sanity_check", &["32"]);
    assert_eq!((o.rc, o.sent.len()), (0, 0));
}

/// Runs `f(args)` on `msg` with a caller-made recorder, from 10.0.0.1:6000 (not the Via port),
/// with `force_rport()` done or not; returns (destination, reply).
fn reply_from(
    reg: &ferrosip_api::Registry,
    msg: &str,
    rec: &mut ferrosip_api::Recorder,
    f: &str,
    args: &[&str],
    force_rport: bool,
) -> (String, String) {
    let (h, a) = prepare(reg, f, args).unwrap_or_else(|e| panic!("{f}: {e}"));
    let mut m =
        ferrosip_sipmsg::Msg::parse(msg.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let mut w = ferrosip_api::WorkerState::default();
    let rcv = ferrosip_api::RecvInfo {
        src: "10.0.0.1:6000".parse().unwrap_or_else(|e| panic!("{e}")),
        dst: local(),
        proto: ferrosip_api::Proto::Udp,
        socket: 0,
    };
    let mut ctx = ferrosip_api::Ctx::new(&mut m, RouteType::Request, rcv, &mut w, rec)
        .unwrap_or_else(|e| panic!("{e}"));
    if force_rport {
        ctx.state.msg_flags |= ferrosip_api::ctx::FL_FORCE_RPORT;
    }
    let _ = h(&mut ctx, &a);
    rec.sent
        .first()
        .map(|(d, b)| (d.addr.to_string(), String::from_utf8_lossy(b).into_owned()))
        .unwrap_or_default()
}

/// sanity's replies are sl's (Kamailio's sanity replies through sl): `Server:` and `Warning:`
/// from the core parameters, sl's to-tag (seeded with the first listening socket), and after
/// `force_rport()` (the stock kamailio.cfg calls it before sanity_check) `rport=` and the source
/// port as destination.
#[test]
fn replies_are_sl_ones() {
    use ferrosip_api::{CoreParams, Proto, Recorder, SocketInfo};
    let reg = registry(&[]);
    let bad = msg(&[("CSeq: 1 INVITE", "CSeq: 1 BYE")]);
    // (server_signature, sip_warning, force_rport) → Server line, Warning, rport= and port 6000
    let cases = [
        (true, false, false),
        (false, false, true),
        (true, true, true),
    ];
    for (sig, warn, rport) in cases {
        let core = CoreParams {
            server_signature: sig,
            server_header: "Server: kamailio (5.6.3 (x86_64/linux))".into(),
            sip_warning: warn,
            ..CoreParams::default()
        };
        let rec = || Recorder {
            core: Some(core.clone()),
            sockets: vec![
                SocketInfo::new(
                    Proto::Udp,
                    "192.0.2.77:5080".parse().unwrap_or_else(|e| panic!("{e}")),
                ),
                SocketInfo::new(Proto::Udp, local()),
            ],
            ..Recorder::default()
        };
        let case = format!("signature {sig}, warning {warn}, force_rport {rport}");
        let (dst, r) = reply_from(&reg, &bad, &mut rec(), "sanity_check", &["32"], rport);
        let (sl_dst, sl) = reply_from(
            &reg,
            &bad,
            &mut rec(),
            "sl_send_reply",
            &["400", "x"],
            rport,
        );
        assert!(
            r.starts_with("SIP/2.0 400 CSeq method does not match"),
            "{case}: {r}"
        );
        assert_eq!(
            r.contains("\r\nServer: kamailio (5.6.3 (x86_64/linux))\r\n"),
            sig,
            "{case}: {r}"
        );
        assert_eq!(r.contains("\r\nWarning: 392 "), warn, "{case}: {r}");
        assert_eq!(r.contains(";rport=6000"), rport, "{case}: {r}");
        let port = if rport { "6000" } else { "5070" };
        assert_eq!(dst, format!("10.0.0.1:{port}"), "{case}");
        assert_eq!(dst, sl_dst, "{case}: sl's destination");
        let to = |m: &str| {
            m.lines()
                .find(|l| l.starts_with("To:"))
                .unwrap_or_default()
                .to_string()
        };
        assert!(to(&r).contains(";tag="), "{case}: {r}");
        assert_eq!(to(&r), to(&sl), "{case}: sl's to-tag");
    }
}
