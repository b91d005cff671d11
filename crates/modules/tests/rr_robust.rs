//! Network input never panics a worker: every rr function and variable runs on the RFC 4475/5118
//! torture messages and on every 9th PROTOS c07-sip case (`../shared/corpus/`), as received and
//! with Route sets naming us inserted (loose, double, strict with `maddr`), under the default
//! modparams and `enable_double_rr=2, add_username=1, enable_full_lr=1`; the forwarded message is
//! built each time. Skipped when the corpus is absent, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;
use harness::corpus;

mod rr_support;

use std::net::SocketAddr;

use ferrosip_api::ModValue;
use rr_support::{registry, run_raw, tcp, udp, Net, Step};

const STEPS: &[Step<'static>] = &[
    ("$route_uri", &[]),
    ("$fti", &[]),
    ("$tti", &[]),
    ("$rdir(name)", &[]),
    ("loose_route", &[]),
    ("loose_route_mode", &["1"]),
    ("loose_route_preloaded", &[]),
    ("check_route_param", &["nat=yes"]),
    ("is_direction", &["upstream"]),
    ("rr_next_hop_route", &[]),
    ("add_rr_param", &[";a=1"]),
    ("record_route", &[";p=$ci"]),
    ("add_rr_param", &[";b"]),
    ("record_route_preset", &["1.2.3.4", "5.6.7.8"]),
    ("record_route_advertised_address", &["x.example.net"]),
    ("$rdir(id)", &[]),
];

/// Route sets inserted after the first line.
const ROUTES: &[&str] = &[
    "",
    "Route: <sip:127.0.0.1:5080;lr;ftag=x>, <sip:n.example.com;lr>\r\n",
    "Route: <sip:127.0.0.1:5080;r2=on;lr>,<sip:127.0.0.1:5080;transport=tcp;r2=on;lr>\r\n",
    "Route: <sip:127.0.0.1:5080;lr>\r\nRoute: <sip:s.example.com;maddr=10.0.0.1>\r\n",
    "Route: <sip:127.0.0.1:5080;lr;ftag=\"q;x\">,\r\n <sip:127.0.0.1>\r\n",
];

/// `msg` with `routes` inserted after its first line.
fn with_routes(msg: &[u8], routes: &str) -> Vec<u8> {
    let Some(i) = msg.windows(2).position(|w| w == b"\r\n") else {
        return msg.to_vec();
    };
    let mut out = msg.get(..i + 2).unwrap_or_default().to_vec();
    out.extend_from_slice(routes.as_bytes());
    out.extend_from_slice(msg.get(i + 2..).unwrap_or_default());
    out
}

#[test]
fn corpus_never_panics() {
    let Some(msgs) = corpus(9) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the corpus is missing"
        );
        eprintln!("skipped: corpus not found");
        return;
    };
    let regs = [
        registry(&[]).unwrap_or_else(|e| panic!("{e}")),
        registry(&[
            ("enable_double_rr", ModValue::Int(2)),
            ("add_username", ModValue::Int(1)),
            ("enable_full_lr", ModValue::Int(1)),
        ])
        .unwrap_or_else(|e| panic!("{e}")),
    ];
    let myself = [("127.0.0.1", 5080)];
    let (mut runs, mut built, mut routed) = (0, 0, 0);
    for (k, reg) in regs.iter().enumerate() {
        let net = Net {
            rcv: udp(5080),
            snd: if k == 0 { udp(5080) } else { tcp(5080) },
            src: SocketAddr::from(([127, 0, 0, 1], 5999)),
        };
        for m in &msgs {
            for r in ROUTES {
                let Some(o) = run_raw(reg, with_routes(m, r), STEPS, &net, &myself) else {
                    continue;
                };
                runs += 1;
                if !o.out.starts_with("ERROR") {
                    built += 1;
                }
                if o.rcs.first() == Some(&1) {
                    routed += 1;
                }
            }
        }
    }
    eprintln!(
        "rr: {runs} runs on {} corpus messages, {built} forwarded, {routed} routed by loose_route",
        msgs.len()
    );
    assert!(
        runs > 1000 && built > 500 && routed > 300,
        "{runs} {built} {routed}"
    );
}
