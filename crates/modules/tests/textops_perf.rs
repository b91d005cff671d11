//! Rough cost per call of common functions (ignored by default; run with
//! `cargo test --release -p ferrosip-modules --test textops_perf -- --ignored --nocapture`).
//! Prints numbers, asserts nothing about time.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::time::Instant;

use ferrosip_api::{Ctx, Proto, Recorder, RecvInfo, RouteType, WorkerState};
use ferrosip_sipmsg::Msg;

const STEPS: &[(&str, &[&str])] = &[
    ("is_method", &["INVITE|BYE"]),
    ("mf_process_maxfwd_header", &["10"]),
    ("is_present_hf", &["Contact"]),
    ("append_hf", &["X-A: 1\r\n"]),
    ("remove_hf", &["Subject"]),
    ("search", &["^subject: hello"]),
    ("subst_hf", &["Via", "/;branch=/;b=/", "a"]),
    ("xlog", &["L_DBG", "suppressed $var(x)"]),
    ("sl_send_reply", &["404", "Not Found"]),
];

#[test]
#[ignore]
fn cost_per_call() {
    let reg = registry(&[]);
    let n = 20_000u32;
    for (f, a) in STEPS {
        let (h, args) = prepare(&reg, f, a).unwrap_or_else(|e| panic!("{e}"));
        let start = Instant::now();
        for _ in 0..n {
            let mut m = Msg::parse(INVITE.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
            let mut w = WorkerState::default();
            let mut rec = Recorder {
                debug: 2,
                ..Recorder::default()
            };
            let rcv = RecvInfo {
                src: src(),
                dst: local(),
                proto: Proto::Udp,
                socket: 0,
            };
            let mut ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
                .unwrap_or_else(|e| panic!("{e}"));
            let _ = h(&mut ctx, &args);
        }
        let with = start.elapsed();
        // the same loop without the call: message parse and context set-up only
        let start = Instant::now();
        for _ in 0..n {
            let mut m = Msg::parse(INVITE.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
            let mut w = WorkerState::default();
            let mut rec = Recorder {
                debug: 2,
                ..Recorder::default()
            };
            let rcv = RecvInfo {
                src: src(),
                dst: local(),
                proto: Proto::Udp,
                socket: 0,
            };
            let ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec);
            std::hint::black_box(&ctx.is_ok());
        }
        let base = start.elapsed();
        let per = with.saturating_sub(base).as_nanos() / u128::from(n);
        println!("{f:<28} {per:>8} ns/call");
    }
}
