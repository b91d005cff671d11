//! The onsend_route keywords (`snd_ip snd_port snd_proto snd_af to_ip to_port`, the aliases
//! `to_proto`/`to_af`, and `msg:len` = the outgoing length) read `MsgState::sending`; outside
//! onsend_route a comparison with them is false whatever the operator (Kamailio's eval_elem), and
//! `snd_ip`/`to_ip` do not even compile there (compile_errors.rs).

mod common;

use common::{myself_recorder, program, OPTIONS};
use ferrosip_api::{Ctx, Proto, RecvInfo, SendInfo, WorkerState};
use ferrosip_script::Entry;
use ferrosip_sipmsg::Msg;

/// Runs onsend_route with `sending` (or without, `None`) and returns the `rec()` lines.
fn run(cfg: &str, sending: Option<SendInfo>) -> Vec<String> {
    let (p, _) = program(cfg).unwrap_or_else(|e| panic!("refused:\n{e}"));
    let mut rec = myself_recorder();
    let mut worker = WorkerState::default();
    let mut m = Msg::parse(OPTIONS.as_bytes().to_vec()).expect("message");
    let rcv = RecvInfo {
        src: "10.0.0.2:5060".parse().expect("addr"),
        dst: "127.0.0.1:5060".parse().expect("addr"),
        ..RecvInfo::default()
    };
    let rt = ferrosip_api::RouteType::OnSend;
    let mut ctx = Ctx::new(&mut m, rt, rcv, &mut worker, &mut rec).expect("ctx");
    ctx.state.sending = sending.map(Box::new);
    p.run_entry(Entry::OnSend, &mut ctx).expect("onsend_route");
    drop(ctx);
    rec.logs
        .iter()
        .filter(|(l, _)| *l == ferrosip_api::L_INFO)
        .map(|(_, t)| t.clone())
        .collect()
}

fn info(to: &str, from: &str, proto: Proto, len: usize) -> SendInfo {
    SendInfo {
        to: to.parse().expect("to"),
        from: from.parse().expect("from"),
        proto,
        buf: vec![b'x'; len],
    }
}

#[test]
fn keywords_compare_with_the_message_being_sent() {
    let v4 = || Some(info("192.0.2.7:5070", "127.0.0.1:5060", Proto::Udp, 300));
    let v6 = || Some(info("[2001:db8::7]:5080", "[::1]:5062", Proto::Tcp, 12));
    let cases: &[(&str, Option<SendInfo>, bool)] = &[
        ("to_ip == 192.0.2.7", v4(), true),
        ("to_ip == 192.0.2.0/24", v4(), true),
        ("to_ip == \"192.0.2.7\"", v4(), true),
        ("to_ip != 192.0.2.7", v4(), false),
        ("to_ip == myself", v4(), false),
        ("snd_ip == myself", v4(), true),
        ("snd_ip == 127.0.0.1 && snd_port == 5060", v4(), true),
        ("to_port == 5070", v4(), true),
        ("snd_proto == UDP && snd_af == INET", v4(), true),
        ("to_proto == UDP && to_af == INET", v4(), true),
        ("msg:len == 300", v4(), true),
        ("to_ip == \"2001:db8::7\" && to_port == 5080", v6(), true),
        (
            "snd_proto == TCP && snd_af == INET6 && snd_port == 5062",
            v6(),
            true,
        ),
        ("msg:len == 12", v6(), true),
        // Without send info (the route run by hand here; in a config only snd_port, snd_proto,
        // snd_af and to_port compile outside onsend_route): false with == and with !=.
        ("to_ip == 192.0.2.7", None, false),
        ("to_ip != 192.0.2.7", None, false),
        ("snd_port != 1", None, false),
        ("to_port == 5070", None, false),
        ("msg:len > 12", None, true),
    ];
    for (cond, sending, want) in cases {
        let cfg = format!(
            "request_route {{ exit; }}\nonsend_route {{\n  if ({cond}) {{ rec(\"yes\"); }} else {{ rec(\"no\"); }}\n}}\n"
        );
        let got = run(&cfg, sending.clone());
        let want = if *want { "yes" } else { "no" };
        assert_eq!(got, vec![want.to_string()], "{cond} with {sending:?}");
    }
}
