//! Property tests of the edit engine on parsed messages:
//! - no edit: the built buffer is the input, byte for byte;
//! - random edits (add, remove, replace headers; replace the body; new R-URI): re-parsing the built
//!   buffer shows exactly the edited values, and Content-Length follows the body.

use ferrosip_sipmsg::build::apply_changes;
use ferrosip_sipmsg::edit::{At, Edits, SendContext};
use ferrosip_sipmsg::Msg;
use proptest::prelude::*;

/// One generated request and what each extra header holds.
#[derive(Debug, Clone)]
struct Gen {
    bytes: Vec<u8>,
    extra: Vec<(String, String)>,
}

fn token() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9][a-zA-Z0-9.!%*_+`'~-]{0,11}"
}

fn value() -> impl Strategy<Value = String> {
    // header values: printable, no leading/trailing blank, no CR/LF, no comma games needed
    "[a-zA-Z0-9<>@:;=/._-][a-zA-Z0-9 <>@:;=/._-]{0,30}[a-zA-Z0-9>@._-]"
}

fn request() -> impl Strategy<Value = Gen> {
    (
        prop::sample::select(vec![
            "INVITE", "MESSAGE", "OPTIONS", "BYE", "REGISTER", "FOO",
        ]),
        token(),
        prop::collection::vec(("[a-z][a-z0-9]{0,10}", 1u16..65535), 1..4),
        token(),
        token(),
        prop::collection::vec(value(), 0..5),
        prop::sample::select(vec![": ", ":", " : ", ":\t"]),
        prop::option::of("[ -~]{0,40}"),
        any::<bool>(),
    )
        .prop_map(
            |(method, user, vias, tag, cid, extras, sep, body, compact)| {
                let mut s = format!("{method} sip:{user}@example.com SIP/2.0\r\n");
                for (host, port) in &vias {
                    let name = if compact { "v" } else { "Via" };
                    s += &format!(
                        "{name}{sep}SIP/2.0/UDP {host}.example.net:{port};branch=z9hG4bK{host}\r\n"
                    );
                }
                s += &format!("From{sep}<sip:a@example.com>;tag={tag}\r\n");
                s += &format!("To{sep}<sip:{user}@example.com>\r\n");
                s += &format!("Call-ID{sep}{cid}\r\n");
                s += &format!("CSeq{sep}1 {method}\r\n");
                let mut extra = Vec::new();
                for (i, v) in extras.iter().enumerate() {
                    let name = format!("X-H{i}");
                    s += &format!("{name}{sep}{v}\r\n");
                    extra.push((name, v.clone()));
                }
                let body = body.unwrap_or_default();
                s += &format!("Content-Length{sep}{}\r\n\r\n{body}", body.len());
                Gen {
                    bytes: s.into_bytes(),
                    extra,
                }
            },
        )
}

/// What to do with each extra header.
#[derive(Debug, Clone)]
enum Op {
    Keep,
    Remove,
    Replace(String),
}

fn value_of(m: &Msg, name: &str) -> Vec<String> {
    m.headers_named(name.as_bytes())
        .unwrap()
        .map(|h| String::from_utf8_lossy(m.slice(h.value)).into_owned())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn no_edit_is_identity(g in request()) {
        let msg = Msg::parse(g.bytes.clone()).unwrap();
        let e = Edits::new(msg.buf().len()).unwrap();
        let (out, info) = e.apply(msg.buf(), msg.headers_end().unwrap(), &SendContext::default()).unwrap();
        prop_assert_eq!(&out, &g.bytes);
        prop_assert_eq!(info.body_delta, 0);
        let out = apply_changes(&msg, &e, None, None).unwrap();
        prop_assert_eq!(out, g.bytes);
    }

    #[test]
    fn random_edits_are_seen_after_reparse(
        g in request(),
        ops in prop::collection::vec(
            prop_oneof![Just(Op::Keep), Just(Op::Remove), value().prop_map(Op::Replace)], 5),
        added in prop::collection::vec(value(), 0..3),
        new_body in prop::option::of("[ -~]{0,60}"),
        new_ruri in prop::option::of("sip:[a-z]{1,8}@example\\.org"),
    ) {
        let msg = Msg::parse(g.bytes.clone()).unwrap();
        let mut e = Edits::new(msg.buf().len()).unwrap();
        let hdrs = msg.headers().unwrap().to_vec();
        for ((name, _), op) in g.extra.iter().zip(&ops) {
            let h = hdrs.iter().find(|h| msg.slice(h.name) == name.as_bytes()).unwrap();
            match op {
                Op::Keep => {}
                Op::Remove => { e.delete(h.span.start as usize, h.span.len()).unwrap(); }
                Op::Replace(v) => { e.replace(h.value.start as usize, h.value.len(), v.as_bytes()).unwrap(); }
            }
        }
        let eoh = msg.headers_end().unwrap();
        for (i, v) in added.iter().enumerate() {
            // one anchor per header, as append_hf does: they come out in call order
            let a = e.anchor(eoh).unwrap();
            e.insert(At::Before(a), format!("X-New{i}: {v}\r\n").as_bytes()).unwrap();
        }
        let old_body = msg.body().unwrap().to_vec();
        if let Some(b) = &new_body {
            let span = msg.body_span().unwrap();
            e.replace(span.start as usize, span.len(), b.as_bytes()).unwrap();
        }
        let out = apply_changes(&msg, &e, None, new_ruri.as_deref().map(str::as_bytes)).unwrap();
        let re = Msg::parse(out).unwrap();
        for ((name, old), op) in g.extra.iter().zip(&ops) {
            let got = value_of(&re, name);
            match op {
                Op::Keep => prop_assert_eq!(got, vec![old.clone()]),
                Op::Remove => prop_assert!(got.is_empty()),
                Op::Replace(v) => prop_assert_eq!(got, vec![v.clone()]),
            }
        }
        for (i, v) in added.iter().enumerate() {
            prop_assert_eq!(value_of(&re, &format!("X-New{i}")), vec![v.clone()]);
        }
        let names: Vec<String> = re.headers().unwrap().iter()
            .map(|h| String::from_utf8_lossy(re.slice(h.name)).into_owned())
            .filter(|n| n.starts_with("X-New")).collect();
        let want: Vec<String> = (0..added.len()).map(|i| format!("X-New{i}")).collect();
        prop_assert_eq!(names, want);
        let body = new_body.map(String::into_bytes).unwrap_or(old_body);
        prop_assert_eq!(re.body().unwrap(), &body[..]);
        prop_assert_eq!(re.content_length().unwrap().map(|c| c.value as usize), Some(body.len()));
        if let Some(u) = &new_ruri {
            let rl = re.request_line().unwrap();
            prop_assert_eq!(re.slice(rl.uri), u.as_bytes());
        }
        // the mandatory headers are untouched
        prop_assert_eq!(re.via1().unwrap().host.of(re.buf()), msg.via1().unwrap().host.of(msg.buf()));
        prop_assert_eq!(re.slice(re.call_id().unwrap()), msg.slice(msg.call_id().unwrap()));
    }
}

#[test]
fn captured_inputs_round_trip() {
    let dir = format!("{}/tests/data/kamailio", env!("CARGO_MANIFEST_DIR"));
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|x| x == "in" || x == "out") {
            let bytes = std::fs::read(&path).unwrap();
            let msg = Msg::parse(bytes.clone()).unwrap();
            let e = Edits::new(bytes.len()).unwrap();
            assert_eq!(
                apply_changes(&msg, &e, None, None).unwrap(),
                bytes,
                "{path:?}"
            );
            n += 1;
        }
    }
    assert!(n >= 10, "expected the captured messages, found {n}");
}

/// RFC 4475/5118 torture messages (`/work/shared/corpus/torture/`): every one the parser accepts is
/// rebuilt unchanged without edits, and its forwarded copy (requests) or local reply parses again
/// with one more Via (forwarded request) and the same Call-ID.
#[test]
fn torture_messages_round_trip_and_forward() {
    use ferrosip_sipmsg::build::{
        forward_request, local_reply, ForwardOptions, RecvInfo, ReplyOptions, SendTarget,
    };
    use ferrosip_sipmsg::edit::{SocketInfo, Transport};
    use std::net::{IpAddr, Ipv4Addr};

    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/corpus/torture"
    );
    let sock = SocketInfo {
        ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100)),
        port: 5060,
        proto: Transport::Udp,
        advertise: None,
        sockname: "",
    };
    let rcv = RecvInfo {
        src_ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
        src_port: 5062,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let to = SendTarget {
        socket: &sock,
        proto: Transport::Udp,
    };
    let (mut files, mut identity, mut forwarded, mut replied) = (0, 0, 0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|x| x != "sip") {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        let Ok(msg) = Msg::parse(bytes.clone()) else {
            continue;
        };
        if msg.headers().is_err() {
            continue;
        }
        let e = Edits::new(bytes.len()).unwrap();
        assert_eq!(
            apply_changes(&msg, &e, None, None).unwrap(),
            bytes,
            "{path:?}"
        );
        identity += 1;
        if !msg.is_request() {
            continue;
        }
        let vias = msg.vias().map(<[_]>::len);
        if let (Ok(out), Ok(n)) = (
            forward_request(&msg, &e, &rcv, &to, &ForwardOptions::default()),
            vias,
        ) {
            let re = Msg::parse(out).unwrap_or_else(|err| panic!("{path:?}: {err}"));
            assert_eq!(re.vias().unwrap().len(), n + 1, "{path:?}");
            assert_eq!(
                re.call_id().map(|s| re.slice(s).to_vec()),
                msg.call_id().map(|s| msg.slice(s).to_vec()),
                "{path:?}"
            );
            forwarded += 1;
        }
        if let Ok(out) = local_reply(&msg, &rcv, 500, b"Server Error", &ReplyOptions::default()) {
            let re = Msg::parse(out).unwrap_or_else(|err| panic!("{path:?}: {err}"));
            assert_eq!(re.status(), Some(500), "{path:?}");
            re.headers().unwrap_or_else(|err| panic!("{path:?}: {err}"));
            replied += 1;
        }
    }
    eprintln!(
        "torture: {files} files, {identity} identity, {forwarded} forwarded, {replied} replied"
    );
    assert!(files >= 60, "torture corpus missing ({files} files)");
    assert!(
        identity >= 50 && forwarded >= 40 && replied >= 42,
        "{identity} {forwarded} {replied}"
    );
}
