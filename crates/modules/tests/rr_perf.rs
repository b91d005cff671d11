//! Rough cost per call of rr's hot functions (ignored by default; run with
//! `cargo test --release -p ferrosip-modules --test rr_perf -- --ignored --nocapture`).
//! Each iteration parses the request, runs the calls and builds the forwarded bytes; the cost of
//! the same iteration without calls is printed first. Prints numbers, asserts nothing about time.

mod rr_support;

use std::net::SocketAddr;
use std::time::Instant;

use rr_support::{registry, run_raw, udp, Net, Step};

const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@10.0.0.1:5070>\r\n\
Content-Length: 0\r\n\r\n";

const BYE: &str = "BYE sip:alice@10.0.0.1:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5090;branch=z9hG4bK-2\r\n\
Route: <sip:127.0.0.1:5080;lr;ftag=a1>, <sip:p2.example.com;lr>\r\n\
From: <sip:bob@example.com>;tag=b2\r\n\
To: <sip:alice@example.com>;tag=a1\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 2 BYE\r\n\
Content-Length: 0\r\n\r\n";

#[test]
#[ignore]
fn cost_per_call() {
    let reg = registry(&[]).unwrap_or_else(|e| panic!("{e}"));
    let net = Net {
        rcv: udp(5080),
        snd: udp(5080),
        src: SocketAddr::from(([10, 0, 0, 1], 5070)),
    };
    let myself = [("127.0.0.1", 5080)];
    let cases: &[(&str, &str, &[Step<'_>])] = &[
        ("INVITE, no call", INVITE, &[]),
        ("INVITE, record_route()", INVITE, &[("record_route", &[])]),
        (
            "INVITE, add_rr_param + record_route(params)",
            INVITE,
            &[("add_rr_param", &[";nat=yes"]), ("record_route", &[";x=1"])],
        ),
        ("BYE, no call", BYE, &[]),
        ("BYE, loose_route()", BYE, &[("loose_route", &[])]),
        (
            "BYE, loose_route + is_direction",
            BYE,
            &[("loose_route", &[]), ("is_direction", &["upstream"])],
        ),
    ];
    let n = 20_000u32;
    for (name, msg, steps) in cases {
        let start = Instant::now();
        for _ in 0..n {
            let o = run_raw(&reg, msg.as_bytes().to_vec(), steps, &net, &myself);
            assert!(o.is_some_and(|o| !o.out.starts_with("ERROR")));
        }
        let ns = start.elapsed().as_nanos() / u128::from(n);
        eprintln!("{name}: {ns} ns per message (parse, calls, build)");
    }
}
