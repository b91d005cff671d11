//! Property tests: generated valid messages parse back to the values they were
//! generated from; arbitrary bytes (and mutated valid messages) never panic any parser
//! or the stream framer.

use proptest::prelude::*;

use crate::framing::{StreamConfig, StreamEvent, StreamFramer};
use crate::headers::via::Transport;
use crate::uri::HostKind;
use crate::{Method, Msg};

#[derive(Debug, Clone)]
struct Host {
    text: String,
    kind: HostKind,
}

fn host() -> impl Strategy<Value = Host> {
    prop_oneof![
        "[a-z][a-z0-9-]{0,10}(\\.[a-z][a-z0-9]{0,8}){0,3}".prop_map(|t| Host {
            text: t,
            kind: HostKind::Name
        }),
        (0u8..=255, 0u8..=255, 0u8..=255, 0u8..=255).prop_map(|(a, b, c, d)| Host {
            text: format!("{a}.{b}.{c}.{d}"),
            kind: HostKind::Ipv4
        }),
        prop::collection::vec(0u16..=0xffff, 8).prop_map(|g| Host {
            text: format!(
                "[{}]",
                g.iter()
                    .map(|x| format!("{x:x}"))
                    .collect::<Vec<_>>()
                    .join(":")
            ),
            kind: HostKind::Ipv6
        }),
    ]
}

#[derive(Debug, Clone)]
struct ViaSpec {
    transport: &'static str,
    host: Host,
    port: Option<u16>,
    branch: String,
    rport: bool,
}

fn via() -> impl Strategy<Value = ViaSpec> {
    (
        prop::sample::select(vec!["UDP", "TCP", "TLS", "SCTP", "WS", "WSS", "udp"]),
        host(),
        prop::option::of(1u16..),
        "z9hG4bK[a-zA-Z0-9.!%*_+`'~-]{1,20}",
        any::<bool>(),
    )
        .prop_map(|(transport, host, port, branch, rport)| ViaSpec {
            transport,
            host,
            port,
            branch,
            rport,
        })
}

#[derive(Debug, Clone)]
struct Spec {
    method: String,
    ruri_user: Option<String>,
    ruri_host: Host,
    ruri_port: Option<u16>,
    vias: Vec<ViaSpec>,
    one_via_header: bool,
    from_display: Option<String>,
    from_user: String,
    from_tag: String,
    to_tag: Option<String>,
    call_id: String,
    cseq: u32,
    max_forwards: Option<u32>,
    body: Vec<u8>,
    compact: bool,
    fold_cseq_front: bool,
    lf_only: bool,
    upper_names: bool,
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        (
            prop_oneof![
                prop::sample::select(vec![
                    "INVITE",
                    "REGISTER",
                    "OPTIONS",
                    "BYE",
                    "ACK",
                    "CANCEL",
                    "MESSAGE",
                    "SUBSCRIBE",
                    "NOTIFY"
                ])
                .prop_map(String::from),
                "[A-Z][A-Z0-9._!%*+`'~-]{0,12}",
            ],
            prop::option::of("[a-zA-Z0-9_.!~*'()&=+$,;?/-]{1,12}"),
            host(),
            prop::option::of(1u16..),
            prop::collection::vec(via(), 1..4),
            any::<bool>(),
        ),
        (
            prop::option::of("[a-zA-Z0-9 ]{0,12}"),
            "[a-z0-9]{1,10}",
            "[a-zA-Z0-9]{1,12}",
            prop::option::of("[a-zA-Z0-9]{1,12}"),
            "[a-zA-Z0-9.!%*_+`'~()<>:\\\\\"/\\[\\]?{}-]{1,24}(@[a-z0-9.]{1,12})?",
            any::<u32>(),
            prop::option::of(0u32..=255),
        ),
        (
            prop::collection::vec(any::<u8>(), 0..64),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (method, ruri_user, ruri_host, ruri_port, vias, one_via_header),
                (from_display, from_user, from_tag, to_tag, call_id, cseq, max_forwards),
                (body, compact, fold_cseq_front, lf_only, upper_names),
            )| Spec {
                method,
                ruri_user,
                ruri_host,
                ruri_port,
                vias,
                one_via_header,
                from_display,
                from_user,
                from_tag,
                to_tag,
                call_id,
                cseq,
                max_forwards,
                body,
                compact,
                fold_cseq_front,
                lf_only,
                upper_names,
            },
        )
}

fn hostport(h: &Host, p: Option<u16>) -> String {
    match p {
        Some(p) => format!("{}:{p}", h.text),
        None => h.text.clone(),
    }
}

fn render(s: &Spec) -> Vec<u8> {
    let nl = if s.lf_only { "\n" } else { "\r\n" };
    let name = |long: &str, short: &str| -> String {
        let n = if s.compact { short } else { long };
        if s.upper_names {
            n.to_ascii_uppercase()
        } else {
            n.to_string()
        }
    };
    let user = s
        .ruri_user
        .as_ref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let mut out = format!(
        "{} sip:{}{} SIP/2.0{nl}",
        s.method,
        user,
        hostport(&s.ruri_host, s.ruri_port)
    );
    let via_text: Vec<String> = s
        .vias
        .iter()
        .map(|v| {
            format!(
                "SIP/2.0/{} {};branch={}{}",
                v.transport,
                hostport(&v.host, v.port),
                v.branch,
                if v.rport { ";rport" } else { "" }
            )
        })
        .collect();
    if s.one_via_header {
        out.push_str(&format!(
            "{}: {}{nl}",
            name("Via", "v"),
            via_text.join(" , ")
        ));
    } else {
        for v in &via_text {
            out.push_str(&format!("{}: {v}{nl}", name("Via", "v")));
        }
    }
    let display = s
        .from_display
        .as_ref()
        .map(|d| format!("\"{d}\" "))
        .unwrap_or_default();
    out.push_str(&format!(
        "{}: {display}<sip:{}@example.com>;tag={}{nl}",
        name("From", "f"),
        s.from_user,
        s.from_tag
    ));
    match &s.to_tag {
        Some(t) => out.push_str(&format!(
            "{}: sip:bob@example.com;tag={t}{nl}",
            name("To", "t")
        )),
        None => out.push_str(&format!("{}: <sip:bob@example.com>{nl}", name("To", "t"))),
    }
    out.push_str(&format!("{}: {}{nl}", name("Call-ID", "i"), s.call_id));
    let fold = if s.fold_cseq_front {
        format!("{nl} ")
    } else {
        " ".to_string()
    };
    out.push_str(&format!("CSeq:{fold}{} {}{nl}", s.cseq, s.method));
    if let Some(mf) = s.max_forwards {
        out.push_str(&format!("Max-Forwards: {mf}{nl}"));
    }
    out.push_str(&format!(
        "{}: {}{nl}{nl}",
        name("Content-Length", "l"),
        s.body.len()
    ));
    let mut b = out.into_bytes();
    b.extend_from_slice(&s.body);
    b
}

fn exercise_everything(bytes: Vec<u8>) {
    if let Ok(m) = Msg::parse(bytes.clone()) {
        let _ = m.parse_all_headers();
        let _ = m.check_required();
        let _ = m.typed_failures();
        let _ = crate::framing::check_content_length(&m);
        if let Ok(hs) = m.headers() {
            for h in hs {
                assert!(h.span.end as usize <= m.buf().len());
                assert!(h.value.start >= h.name.end && h.value.end <= h.span.end);
                for v in m.values(h) {
                    assert!(v.end <= h.value.end);
                }
            }
        }
    }
    let mut f = StreamFramer::new(StreamConfig::default());
    for chunk in bytes.chunks(7) {
        f.feed(chunk);
        while let Ok(Some(ev)) = f.next_event() {
            if let StreamEvent::Message(m) = ev {
                let _ = Msg::parse(m).map(|m| m.typed_failures());
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn generated_messages_round_trip(s in spec()) {
        let bytes = render(&s);
        let m = Msg::parse(bytes.clone()).expect("valid message");
        let b = m.buf();
        prop_assert!(m.parse_all_headers().is_ok(), "{:?}", m.parse_all_headers());
        prop_assert!(m.check_required().is_ok());
        prop_assert_eq!(m.request_line().expect("request").method_span.of(b), s.method.as_bytes());
        prop_assert_eq!(m.method(), Some(Method::from_token(s.method.as_bytes())));
        let u = m.ruri().expect("ruri").expect("request");
        prop_assert_eq!(u.user.map(|x| x.of(b).to_vec()), s.ruri_user.as_ref().map(|x| x.as_bytes().to_vec()));
        prop_assert_eq!(u.host.of(b), s.ruri_host.text.as_bytes());
        prop_assert_eq!(u.host_kind, s.ruri_host.kind);
        prop_assert_eq!(u.port, s.ruri_port);
        let vias = m.vias().expect("vias");
        prop_assert_eq!(vias.len(), s.vias.len());
        for (got, want) in vias.iter().zip(&s.vias) {
            prop_assert_eq!(got.host.of(b), want.host.text.as_bytes());
            prop_assert_eq!(got.port, want.port);
            prop_assert_eq!(got.transport, Transport::from_token(want.transport.as_bytes()));
            prop_assert_eq!(got.branch_value().map(|x| x.of(b).to_vec()), Some(want.branch.as_bytes().to_vec()));
            prop_assert_eq!(got.rport.is_some(), want.rport);
        }
        let from = m.from().expect("from");
        prop_assert_eq!(from.tag.map(|t| t.of(b).to_vec()), Some(s.from_tag.as_bytes().to_vec()));
        prop_assert_eq!(from.display_unquoted(b).map(|d| d.of(b).to_vec()), s.from_display.as_ref().map(|d| d.as_bytes().to_vec()));
        prop_assert_eq!(m.from_uri().expect("from uri").user.map(|x| x.of(b).to_vec()), Some(s.from_user.as_bytes().to_vec()));
        prop_assert_eq!(m.to().expect("to").tag.map(|t| t.of(b).to_vec()), s.to_tag.as_ref().map(|t| t.as_bytes().to_vec()));
        prop_assert_eq!(m.call_id().expect("call-id").of(b), s.call_id.as_bytes());
        let cseq = m.cseq().expect("cseq");
        prop_assert_eq!(cseq.number, s.cseq);
        prop_assert_eq!(cseq.method_span.of(b), s.method.as_bytes());
        prop_assert_eq!(m.max_forwards().expect("mf"), s.max_forwards);
        prop_assert_eq!(m.content_length().expect("cl").map(|c| c.value as usize), Some(s.body.len()));
        prop_assert_eq!(m.body().expect("body"), &s.body[..]);
        // The stream framer cuts the same message out of a stream, in any chunking.
        let mut f = StreamFramer::new(StreamConfig::default());
        let mut stream = bytes.clone();
        stream.extend_from_slice(&bytes);
        let mut got = Vec::new();
        for chunk in stream.chunks(13) {
            f.feed(chunk);
            while let Some(StreamEvent::Message(x)) = f.next_event().expect("framing") {
                got.push(x);
            }
        }
        prop_assert_eq!(got, vec![bytes.clone(), bytes]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..600)) {
        exercise_everything(bytes);
    }

    #[test]
    fn mutated_messages_never_panic(s in spec(), edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..8)) {
        let mut bytes = render(&s);
        for (at, byte, op) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match op {
                0 => bytes[i] = byte,
                1 => bytes.insert(i, byte),
                _ => {
                    bytes.remove(i);
                }
            }
        }
        exercise_everything(bytes);
    }
}
