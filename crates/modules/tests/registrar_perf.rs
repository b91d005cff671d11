//! Cost per call of `save` and `lookup` (ignored; run with
//! `cargo test --release -p ferrosip-modules --test registrar_perf -- --ignored --nocapture`).
//! Prints numbers, asserts only that the calls succeeded: timing is never a test verdict.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::time::Instant;

use ferrosip_api::{store, ModuleExports, Recorder, RecvInfo, Registry, RouteType, WorkerState};
use ferrosip_sipmsg::Msg;

#[test]
#[ignore]
fn save_and_lookup_cost() {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::var_avp_pvs();
    reg.add(core).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::sl::exports(),
        ferrosip_modules::usrloc::exports(),
        ferrosip_modules::registrar::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let (save_h, save_a) = prepare(&reg, "save", &["location"]).unwrap_or_else(|e| panic!("{e}"));
    let (look_h, look_a) = prepare(&reg, "lookup", &["location"]).unwrap_or_else(|e| panic!("{e}"));
    let n = 20_000;
    let regs: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                "REGISTER sip:h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-{i}\r\n\
From: <sip:u{}@h>;tag=1\r\nTo: <sip:u{}@h>\r\nCall-ID: c{i}\r\nCSeq: 1 REGISTER\r\n\
Contact: <sip:u@10.0.{}.{}:5060>;expires=600\r\nUser-Agent: perf\r\nContent-Length: 0\r\n\r\n",
                i % 10_000,
                i % 10_000,
                i / 256 % 256,
                i % 256
            )
            .into_bytes()
        })
        .collect();
    let invites: Vec<Vec<u8>> = (0..n)
        .map(|i| {
            format!(
                "INVITE sip:u{}@h SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-i{i}\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:u{}@h>\r\nCall-ID: i{i}\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n",
                i % 10_000,
                i % 10_000
            )
            .into_bytes()
        })
        .collect();
    let mut worker = WorkerState::default();
    let mut rec = Recorder::default();
    let mut run = |msgs: &[Vec<u8>], h: &ferrosip_api::export::Handler, a: &[ferrosip_api::Arg]| {
        let start = Instant::now();
        for m in msgs {
            let mut msg = Msg::parse(m.clone()).unwrap_or_else(|e| panic!("{e}"));
            let mut ctx = ferrosip_api::Ctx::new(
                &mut msg,
                RouteType::Request,
                RecvInfo::default(),
                &mut worker,
                &mut rec,
            )
            .unwrap_or_else(|e| panic!("{e}"));
            let rc = h(&mut ctx, a).map(|r| r.0).unwrap_or(-1);
            assert!(rc > 0, "rc {rc}");
        }
        rec.sent.clear();
        start.elapsed().as_nanos() as f64 / msgs.len() as f64
    };
    let save_ns = run(&regs, &save_h, &save_a);
    let look_ns = run(&invites, &look_h, &look_a);
    eprintln!(
        "save: {save_ns:.0} ns/call (10,000 AoRs, 2 contacts each, 200 built and sent); \
lookup: {look_ns:.0} ns/call (message parse and context included)"
    );
}
