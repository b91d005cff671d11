//! dlgs: state transitions over message sequences (requests through the functions, replies
//! through `onreply_route` and through the reply-out hook), counting and tags with Kamailio's
//! return codes, RPC output, expiry with a pinned clock, the timer registration, and concurrent
//! use of the shared table.
//!
//! Kamailio 5.6.3's Debian package has no dlgs.so, so nothing here is compared with a running
//! Kamailio: expectations come from the dlgs documentation and the 6.0 source's behaviour.

#[path = "common/harness.rs"]
mod h;

use std::sync::Arc;

use ferrosip_api::export::RpcValue;
use ferrosip_api::{ModValue, Registry, RouteType};
use ferrosip_modules::dlgs::DlgsApi;
use ferrosip_sipmsg::Msg;

const T0: u64 = 1_700_000_000;

fn registry(params: &[(&str, i64)]) -> Registry {
    // The pv module brings `$var`, `$fu`, `$tu`, `$ci` …
    let mut reg = Registry::new();
    for m in [
        ferrosip_modules::pv::exports(),
        ferrosip_modules::dlgs::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    for (n, v) in params {
        reg.set_modparam("dlgs", n, ModValue::Int(*v))
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    api(&reg).set_now(T0);
    reg
}

fn api(reg: &Registry) -> Arc<DlgsApi> {
    reg.api::<DlgsApi>()
        .unwrap_or_else(|| panic!("dlgs api not provided"))
}

fn req(method: &str, callid: &str, ftag: &str, ttag: &str, from: &str, to: &str) -> String {
    let tt = if ttag.is_empty() {
        String::new()
    } else {
        format!(";tag={ttag}")
    };
    let ft = if ftag.is_empty() {
        String::new()
    } else {
        format!(";tag={ftag}")
    };
    format!(
        "{method} sip:{to}@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-{callid}-{method}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{from}@example.com>{ft}\r\n\
To: <sip:{to}@example.com>{tt}\r\n\
Call-ID: {callid}\r\n\
CSeq: 1 {method}\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn invite(callid: &str, from: &str, to: &str) -> String {
    req("INVITE", callid, "a1", "", from, to)
}

fn reply(code: u16, cseq_method: &str, callid: &str, ttag: &str) -> String {
    let tt = if ttag.is_empty() {
        String::new()
    } else {
        format!(";tag={ttag}")
    };
    format!(
        "SIP/2.0 {code} Whatever\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-{callid}-INVITE\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>{tt}\r\n\
Call-ID: {callid}\r\n\
CSeq: 1 {cseq_method}\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// One step of a sequence.
enum Step {
    /// A function called in a route on a message.
    Call(RouteType, String, &'static str, &'static [&'static str]),
    /// A reply handed to the reply-out hook (what sl/tm do when they send it).
    ReplyOut(String),
    /// Move the pinned clock.
    At(u64),
}

/// Runs the steps; returns the state code of `callid` after each step (`None` = not tracked),
/// the return code of each call (0 for other steps) and the error lines logged.
fn run(reg: &Registry, callid: &str, steps: &[Step]) -> (Vec<Option<i64>>, Vec<i64>, Vec<String>) {
    let a = api(reg);
    let mut states = Vec::new();
    let mut rcs = Vec::new();
    let mut errors = Vec::new();
    for s in steps {
        match s {
            Step::Call(route, msg, f, args) => {
                let o = h::call_with(reg, msg, *route, 3, &[(f, args)], &|_| {});
                rcs.push(o.rc);
                errors.extend(o.logs.into_iter().filter(|(l, _)| *l < 0).map(|(_, t)| t));
            }
            Step::ReplyOut(msg) => {
                let m = Msg::parse(msg.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
                if let Err(e) = a.on_reply_out(&m) {
                    errors.push(e);
                }
                rcs.push(0);
            }
            Step::At(t) => {
                a.set_now(*t);
                rcs.push(0);
            }
        }
        states.push(state_of(&a, callid));
    }
    (states, rcs, errors)
}

fn state_of(a: &DlgsApi, callid: &str) -> Option<i64> {
    let mut st = None;
    a.table().visit(|it| {
        if it.callid == callid.as_bytes() {
            st = Some(it.state.code());
        }
        true
    });
    st
}

const INIT: &[&str] = &["$fu", "$tu", "my data"];

fn init_req(msg: String) -> Step {
    Step::Call(RouteType::Request, msg, "dlgs_init", INIT)
}

fn update(msg: String) -> Step {
    Step::Call(RouteType::Request, msg, "dlgs_update", &[])
}

fn init_reply(route: RouteType, msg: String) -> Step {
    Step::Call(route, msg, "dlgs_init", INIT)
}

#[test]
fn state_transitions_over_message_sequences() {
    let c = "c1@h";
    let ack = || req("ACK", c, "a1", "b1", "alice", "bob");
    let bye = || req("BYE", c, "a1", "b1", "alice", "bob");
    let cancel = || req("CANCEL", c, "a1", "", "alice", "bob");
    type Case = (&'static str, Vec<Step>, Vec<Option<i64>>);
    let cases: Vec<Case> = vec![
        (
            "answered call through the reply-out hook",
            vec![
                init_req(invite(c, "alice", "bob")),
                Step::ReplyOut(reply(100, "INVITE", c, "")),
                Step::ReplyOut(reply(180, "INVITE", c, "b1")),
                Step::ReplyOut(reply(200, "INVITE", c, "b1")),
                update(ack()),
                update(bye()),
                Step::ReplyOut(reply(200, "BYE", c, "b1")),
            ],
            vec![
                Some(0),
                Some(1),
                Some(1),
                Some(2),
                Some(3),
                Some(4),
                Some(4),
            ],
        ),
        (
            "answered call through onreply_route dlgs_init",
            vec![
                init_req(invite(c, "alice", "bob")),
                init_reply(RouteType::TmOnReply, reply(183, "INVITE", c, "b1")),
                init_reply(RouteType::CoreOnReply, reply(200, "INVITE", c, "b1")),
                update(bye()),
            ],
            vec![Some(0), Some(1), Some(2), Some(4)],
        ),
        (
            "cancelled before the answer",
            vec![
                init_req(invite(c, "alice", "bob")),
                Step::ReplyOut(reply(180, "INVITE", c, "b1")),
                update(cancel()),
                Step::ReplyOut(reply(487, "INVITE", c, "b1")),
            ],
            vec![Some(0), Some(1), Some(5), Some(5)],
        ),
        (
            "rejected",
            vec![
                init_req(invite(c, "alice", "bob")),
                Step::ReplyOut(reply(486, "INVITE", c, "b1")),
                update(ack()),
            ],
            vec![Some(0), Some(5), Some(5)],
        ),
        (
            "CANCEL after the answer and BYE before it change nothing",
            vec![
                init_req(invite(c, "alice", "bob")),
                update(bye()),
                Step::ReplyOut(reply(200, "INVITE", c, "b1")),
                update(cancel()),
                Step::ReplyOut(reply(486, "INVITE", c, "b1")),
            ],
            vec![Some(0), Some(0), Some(2), Some(2), Some(2)],
        ),
        (
            "dlgs_init on a non-INVITE request is an update; a re-INVITE adds nothing",
            vec![
                init_req(invite(c, "alice", "bob")),
                Step::ReplyOut(reply(200, "INVITE", c, "b1")),
                init_req(ack()),
                init_req(req("INVITE", c, "a1", "b1", "alice", "bob")),
                init_req(bye()),
            ],
            vec![Some(0), Some(2), Some(3), Some(3), Some(4)],
        ),
        (
            "a reply cannot start tracking (Kamailio 6.0)",
            vec![
                init_reply(RouteType::TmOnReply, reply(200, "INVITE", c, "b1")),
                Step::ReplyOut(reply(180, "INVITE", c, "b1")),
            ],
            vec![None, None],
        ),
        (
            "an INVITE without From tag is not tracked",
            vec![init_req(req("INVITE", c, "", "", "alice", "bob"))],
            vec![None],
        ),
        (
            "dlgs_update and replies for an unknown call are ignored",
            vec![update(bye()), Step::ReplyOut(reply(200, "INVITE", c, "b1"))],
            vec![None, None],
        ),
        (
            "Call-ID matches case-sensitively",
            vec![
                init_req(invite(c, "alice", "bob")),
                Step::ReplyOut(reply(200, "INVITE", "C1@H", "b1")),
            ],
            vec![Some(0), Some(0)],
        ),
    ];
    for (name, steps, want) in cases {
        let reg = registry(&[]);
        let (states, rcs, _) = run(&reg, c, &steps);
        assert_eq!(states, want, "{name}");
        // Every dlgs_init / dlgs_update call returns 1, whatever happened (as in Kamailio).
        for (s, rc) in steps.iter().zip(&rcs) {
            if matches!(s, Step::Call(..)) {
                assert_eq!(*rc, 1, "{name}");
            }
        }
    }
}

#[test]
fn errors_are_logged_not_returned() {
    let c = "e1";
    let cases: Vec<(Step, &str)> = vec![
        (
            init_reply(RouteType::TmOnReply, reply(200, "INVITE", c, "b1")),
            "a reply cannot start tracking",
        ),
        (
            init_req(req("INVITE", c, "", "", "alice", "bob")),
            "failed to get From header",
        ),
        (
            init_req(
                "INVITE sip:b@x SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\n\
From: <sip:a@x>;tag=1\r\nCSeq: 1 INVITE\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
                    .into(),
            ),
            "missing Call-Id or To",
        ),
        (
            Step::ReplyOut(
                "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK-1\r\nFrom: <sip:a@x>;tag=1\r\n\
To: <sip:b@x>\r\nCall-ID: x\r\nContent-Length: 0\r\n\r\n"
                    .into(),
            ),
            "no CSEQ header",
        ),
    ];
    for (step, want) in cases {
        let reg = registry(&[]);
        let (_, rcs, errors) = run(&reg, c, std::slice::from_ref(&step));
        assert!(
            errors.iter().any(|e| e.contains(want)),
            "{want}: {errors:?}"
        );
        assert!(rcs == [1] || rcs == [0], "{want}: {rcs:?}");
    }
}

fn call(reg: &Registry, msg: &str, f: &str, args: &[&str]) -> i64 {
    h::call_with(reg, msg, RouteType::Request, 3, &[(f, args)], &|_| {}).rc
}

/// Four dialogs: alice→bob answered+ACKed, alice→carol ringing, dave→bob finished, erin→bob
/// rejected.
fn populated() -> Registry {
    let reg = registry(&[]);
    let a = api(&reg);
    for (cid, from, to, data) in [
        ("d1", "alice", "bob", "gw1"),
        ("d2", "alice", "carol", "gw2"),
        ("d3", "dave", "bob", "gw1"),
        ("d4", "erin", "bob", "gw3"),
    ] {
        assert_eq!(
            call(
                &reg,
                &invite(cid, from, to),
                "dlgs_init",
                &["$fu", "$tu", data]
            ),
            1
        );
    }
    let out = |m: String| {
        let m = Msg::parse(m.into_bytes()).unwrap_or_else(|e| panic!("{e}"));
        a.on_reply_out(&m).unwrap_or_else(|e| panic!("{e}"));
    };
    out(reply(200, "INVITE", "d1", "t1"));
    call(
        &reg,
        &req("ACK", "d1", "a1", "t1", "alice", "bob"),
        "dlgs_update",
        &[],
    );
    out(reply(180, "INVITE", "d2", "t2"));
    out(reply(200, "INVITE", "d3", "t3"));
    call(
        &reg,
        &req("BYE", "d3", "a1", "t3", "dave", "bob"),
        "dlgs_update",
        &[],
    );
    out(reply(603, "INVITE", "d4", "t4"));
    reg
}

#[test]
fn counting_with_kamailio_return_codes() {
    let reg = populated();
    let msg = invite("other", "x", "y");
    let cases: &[(&str, &str, &str, i64)] = &[
        ("any", "eq", "*", 2),
        ("ANY", "ne", "", 2),
        ("src", "eq", "sip:alice@example.com", 2),
        ("src", "eq", "sip:dave@example.com", -1), // finished: not counted
        ("dst", "eq", "sip:bob@example.com", 1),
        ("dst", "ne", "sip:bob@example.com", 1),
        ("dst", "sw", "sip:c", 1),
        ("data", "re", "^GW[12]$$", 2), // `$$`: a literal `$` in a string with variables
        ("data", "re", "gw3", -1),
        ("src", "fm", "sip:*@example.com", 2),
        ("src", "fm", "sip:?lice@*", 2),
        ("src", "fm", "sip:bob*", -1),
        ("from", "eq", "x", -2),
        ("src", "like", "x", -2),
        ("src", "re", "(", -2),
    ];
    for (f, o, d, want) in cases {
        assert_eq!(
            call(&reg, &msg, "dlgs_count", &[f, o, d]),
            *want,
            "{f} {o} {d}"
        );
    }
    // Parameters with variables.
    let o = h::call_with(
        &reg,
        &invite("d1", "alice", "bob"),
        RouteType::Request,
        3,
        &[("dlgs_count", &["src", "eq", "$fu"])],
        &|_| {},
    );
    assert_eq!(o.rc, 2);
}

#[test]
fn tags_add_remove_count() {
    let reg = populated();
    let on = |cid: &str| invite(cid, "alice", "bob");
    let cases: &[(&str, &str, &str, i64)] = &[
        ("d1", "dlgs_tags_count", "vip", -1),
        ("d1", "dlgs_tags_add", "vip", 1),
        ("d2", "dlgs_tags_add", "vip", 1),
        ("d2", "dlgs_tags_add", "vip", 1), // a tag may be set twice
        ("d1", "dlgs_tags_count", "vip", 3),
        ("d3", "dlgs_tags_add", "vip", 1), // finished dialog: tagged, not counted
        ("d1", "dlgs_tags_count", "vip", 3),
        ("d2", "dlgs_tags_rm", "vip", 1),
        ("d1", "dlgs_tags_count", "vip", 2),
        ("d2", "dlgs_tags_rm", "absent", 1),
        ("nope", "dlgs_tags_add", "vip", -1), // no such dialog
        ("nope", "dlgs_tags_rm", "vip", -1),
        ("d1", "dlgs_tags_add", "", -1), // empty tag
        ("d1", "dlgs_tags_rm", "", -1),
        ("d1", "dlgs_tags_count", "", -1),
        ("d1", "dlgs_tags_count", "VIP", -1), // case-sensitive
    ];
    for (cid, f, tag, want) in cases {
        assert_eq!(call(&reg, &on(cid), f, &[tag]), *want, "{cid} {f} {tag}");
    }
    // A tag taken from a variable, in a reply route.
    let o = h::call_with(
        &reg,
        &reply(200, "INVITE", "d2", "t2"),
        RouteType::TmOnReply,
        3,
        &[("dlgs_tags_add", &["$ci"]), ("dlgs_tags_count", &["d2"])],
        &|_| {},
    );
    assert_eq!(o.rc, 1);
}

fn rpc(reg: &Registry, name: &str, args: &[&str]) -> Result<RpcValue, (i32, String)> {
    let r = reg.rpc(name).unwrap_or_else(|| panic!("{name}"));
    let args: Vec<RpcValue> = args.iter().map(|s| RpcValue::Str(s.to_string())).collect();
    (r.handler)(&args).map_err(|f| (f.code, f.message))
}

fn field<'a>(v: &'a RpcValue, name: &str) -> &'a RpcValue {
    match v {
        RpcValue::Struct(m) => m
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {name} in {v:?}")),
        _ => panic!("not a struct: {v:?}"),
    }
}

fn items(v: RpcValue) -> Vec<RpcValue> {
    match v {
        RpcValue::Array(a) => a,
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn rpc_list_briefing_get_and_stats() {
    let reg = registry(&[]);
    let a = api(&reg);
    call(
        &reg,
        &invite("r1", "alice", "bob"),
        "dlgs_init",
        &["$fu", "$tu", "x"],
    );
    a.set_now(T0 + 5);
    let m =
        Msg::parse(reply(200, "INVITE", "r1", "b7").into_bytes()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        a.on_reply_out(&m)
            .map(|r| r.map(|(o, n)| (o.code(), n.code()))),
        Ok(Some((0, 2)))
    );
    let list = items(rpc(&reg, "dlgs.list", &[]).unwrap_or_else(|e| panic!("{e:?}")));
    assert_eq!(list.len(), 1);
    let one = &list[0];
    let names: Vec<&str> = match one {
        RpcValue::Struct(m) => m.iter().map(|(k, _)| k.as_str()).collect(),
        _ => panic!(),
    };
    assert_eq!(
        names,
        [
            "count",
            "src",
            "dst",
            "data",
            "ruid",
            "callid",
            "ftag",
            "ttag",
            "ts_init",
            "ts_answer",
            "state"
        ]
    );
    let s = |v: &str| RpcValue::Str(v.to_string());
    assert_eq!(field(one, "count"), &RpcValue::Int(1));
    assert_eq!(field(one, "src"), &s("sip:alice@example.com"));
    assert_eq!(field(one, "dst"), &s("sip:bob@example.com"));
    assert_eq!(field(one, "data"), &s("x"));
    assert_eq!(field(one, "callid"), &s("r1"));
    assert_eq!(field(one, "ftag"), &s("a1"));
    assert_eq!(field(one, "ttag"), &s("b7"));
    assert_eq!(field(one, "ts_init"), &RpcValue::Int(T0 as i64));
    assert_eq!(field(one, "ts_answer"), &RpcValue::Int(T0 as i64 + 5));
    assert_eq!(field(one, "state"), &RpcValue::Int(2));
    match field(one, "ruid") {
        RpcValue::Str(r) => assert!(r.starts_with("dlgs-") && r.split('-').count() == 5, "{r}"),
        other => panic!("{other:?}"),
    }
    let brief = items(rpc(&reg, "dlgs.briefing", &[]).unwrap_or_else(|e| panic!("{e:?}")));
    assert_eq!(
        brief,
        vec![RpcValue::Struct(vec![
            ("count".into(), RpcValue::Int(1)),
            ("src".into(), s("sip:alice@example.com")),
            ("dst".into(), s("sip:bob@example.com")),
            ("callid".into(), s("r1")),
            ("state".into(), RpcValue::Int(2)),
        ])]
    );
    let stats = rpc(&reg, "dlgs.stats", &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let st = |v: [i64; 6]| {
        RpcValue::Struct(
            [
                "init",
                "progress",
                "answered",
                "confirmed",
                "terminated",
                "notanswered",
            ]
            .iter()
            .zip(v)
            .map(|(k, n)| (k.to_string(), RpcValue::Int(n)))
            .collect(),
        )
    };
    assert_eq!(
        stats,
        RpcValue::Struct(vec![
            ("final".into(), st([0; 6])),
            ("active".into(), st([0, 0, 1, 0, 0, 0])),
        ])
    );
}

#[test]
fn rpc_get_filters_and_faults() {
    let reg = populated();
    let callids = |v: RpcValue| -> Vec<String> {
        items(v)
            .iter()
            .map(|i| match field(i, "callid") {
                RpcValue::Str(s) => s.clone(),
                _ => String::new(),
            })
            .collect()
    };
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    type Case<'a> = (&'a str, &'a [&'a str], Result<Vec<&'a str>, &'a str>);
    let cases: &[Case] = &[
        // getall includes finished dialogs (no state filter, as in Kamailio).
        (
            "dlgs.getall",
            &["dst", "eq", "sip:bob@example.com"],
            Ok(vec!["d1", "d3", "d4"]),
        ),
        ("dlgs.getall", &["data", "re", "GW1"], Ok(vec!["d1", "d3"])),
        (
            "dlgs.getall",
            &["src", "fm", "sip:[de]*"],
            Ok(vec!["d3", "d4"]),
        ),
        // `any` compares src in the RPCs.
        (
            "dlgs.getall",
            &["any", "sw", "sip:alice"],
            Ok(vec!["d1", "d2"]),
        ),
        ("dlgs.getall", &["src", "eq", "nobody"], Ok(vec![])),
        ("dlgs.getall", &["src", "eq"], Err("Invalid Parameters")),
        ("dlgs.getall", &["who", "eq", "x"], Err("Invalid Field")),
        ("dlgs.get", &["src", "xx", "x"], Err("Invalid Operator")),
        (
            "dlgs.get",
            &["src", "re", "a("],
            Err("Invalid Matching Value"),
        ),
    ];
    for (name, args, want) in cases {
        let got = rpc(&reg, name, args);
        match want {
            Ok(ids) => {
                let got = got.unwrap_or_else(|e| panic!("{name} {args:?}: {e:?}"));
                assert_eq!(
                    sorted(callids(got)),
                    ids.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
                    "{name} {args:?}"
                );
            }
            Err(msg) => assert_eq!(got, Err((500, msg.to_string())), "{name} {args:?}"),
        }
    }
    // dlgs.get: only the first match, numbered 1.
    let first = items(
        rpc(&reg, "dlgs.get", &["dst", "eq", "sip:bob@example.com"])
            .unwrap_or_else(|e| panic!("{e:?}")),
    );
    assert_eq!(first.len(), 1);
    assert_eq!(field(&first[0], "count"), &RpcValue::Int(1));
    // dlgs.getall numbers its matches 1..n.
    let all = items(
        rpc(&reg, "dlgs.getall", &["dst", "eq", "sip:bob@example.com"])
            .unwrap_or_else(|e| panic!("{e:?}")),
    );
    let counts: Vec<&RpcValue> = all.iter().map(|i| field(i, "count")).collect();
    assert_eq!(
        counts,
        [&RpcValue::Int(1), &RpcValue::Int(2), &RpcValue::Int(3)]
    );
}

#[test]
fn expiry_with_a_pinned_clock() {
    // (what happens to the dialog, lifetime that applies, from when) with lifetimes init 100,
    // active 1000, finish 10.
    let params = [
        ("init_lifetime", 100),
        ("active_lifetime", 1000),
        ("finish_lifetime", 10),
    ];
    let c = "x1";
    let ack = req("ACK", c, "a1", "b1", "alice", "bob");
    let bye = req("BYE", c, "a1", "b1", "alice", "bob");
    let cases: Vec<(&str, Vec<Step>, u64)> = vec![
        ("INIT: init_lifetime from the INVITE", vec![], T0 + 100),
        (
            "PROGRESS: init_lifetime from the INVITE",
            vec![
                Step::At(T0 + 50),
                Step::ReplyOut(reply(180, "INVITE", c, "b1")),
            ],
            T0 + 100,
        ),
        (
            "ANSWERED without ACK: init_lifetime from the INVITE",
            vec![
                Step::At(T0 + 50),
                Step::ReplyOut(reply(200, "INVITE", c, "b1")),
            ],
            T0 + 100,
        ),
        (
            "CONFIRMED: active_lifetime from the answer",
            vec![
                Step::At(T0 + 50),
                Step::ReplyOut(reply(200, "INVITE", c, "b1")),
                update(ack.clone()),
            ],
            T0 + 1050,
        ),
        (
            "TERMINATED: finish_lifetime from the BYE",
            vec![
                Step::At(T0 + 50),
                Step::ReplyOut(reply(200, "INVITE", c, "b1")),
                update(ack.clone()),
                Step::At(T0 + 70),
                update(bye.clone()),
            ],
            T0 + 80,
        ),
        (
            "NOTANSWERED: finish_lifetime from the final reply",
            vec![
                Step::At(T0 + 30),
                Step::ReplyOut(reply(404, "INVITE", c, "")),
            ],
            T0 + 40,
        ),
    ];
    for (name, steps, last) in cases {
        let reg = registry(&params);
        let a = api(&reg);
        let mut all = vec![init_req(invite(c, "alice", "bob"))];
        all.extend(steps);
        run(&reg, c, &all);
        let before = state_of(&a, c);
        assert!(before.is_some(), "{name}");
        // Kept while `start + lifetime >= now`, removed by the first sweep after that.
        assert_eq!(a.timer(last), 0, "{name}");
        assert_eq!(state_of(&a, c), before, "{name}");
        assert_eq!(a.timer(last + 1), 1, "{name}");
        assert_eq!(state_of(&a, c), None, "{name}");
        // The removed record moves from the active to the final statistics.
        let (removed, active) = a.table().stats();
        assert_eq!(
            active.ongoing() + active.terminated + active.notanswered,
            0,
            "{name}"
        );
        let gone = [
            removed.init,
            removed.progress,
            removed.answered,
            removed.confirmed,
            removed.terminated,
            removed.notanswered,
        ];
        let idx = usize::try_from(before.unwrap_or(0)).unwrap_or(0);
        assert_eq!(gone.iter().sum::<u64>(), 1, "{name}");
        assert_eq!(gone[idx], 1, "{name}");
        // And is no longer counted.
        assert_eq!(
            call(
                &reg,
                &invite("q", "a", "b"),
                "dlgs_count",
                &["any", "eq", ""]
            ),
            -1
        );
    }
}

#[test]
fn timer_is_registered_with_timer_interval() {
    for (params, want) in [
        (vec![], 30u64),
        (vec![("timer_interval", 5)], 5),
        (vec![("timer_interval", 0)], 30),
    ] {
        let reg = registry(&params);
        let t: Vec<_> = reg.timers().iter().filter(|t| t.module == "dlgs").collect();
        assert_eq!(t.len(), 1);
        assert_eq!(t[0].interval, std::time::Duration::from_secs(want));
        // The registered function sweeps with the time it is given (milliseconds).
        call(&reg, &invite("t1", "a", "b"), "dlgs_init", &["a", "b", ""]);
        (t[0].run)((T0 + 180) * 1000);
        assert_eq!(state_of(&api(&reg), "t1"), Some(0));
        (t[0].run)((T0 + 181) * 1000);
        assert_eq!(state_of(&api(&reg), "t1"), None);
    }
}

#[test]
fn modparams_are_typed() {
    let mut reg = Registry::new();
    reg.add(ferrosip_modules::dlgs::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    for n in [
        "hash_size",
        "timer_interval",
        "init_lifetime",
        "active_lifetime",
        "finish_lifetime",
    ] {
        assert!(
            reg.set_modparam("dlgs", n, ModValue::Str("x".into()))
                .is_err(),
            "{n}"
        );
        assert!(reg.set_modparam("dlgs", n, ModValue::Int(7)).is_ok(), "{n}");
    }
    assert!(reg
        .set_modparam("dlgs", "db_url", ModValue::Str("x".into()))
        .is_err());
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(api(&reg).table().size(), 128);
}

#[test]
fn concurrent_workers_share_the_table() {
    let reg = Arc::new(registry(&[("hash_size", 4)]));
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let reg = Arc::clone(&reg);
            std::thread::spawn(move || {
                for i in 0..200 {
                    let cid = format!("w{t}-{i}");
                    call(
                        &reg,
                        &invite(&cid, "alice", "bob"),
                        "dlgs_init",
                        &["$fu", "$tu", ""],
                    );
                    if i % 2 == 0 {
                        call(
                            &reg,
                            &req("CANCEL", &cid, "a1", "", "alice", "bob"),
                            "dlgs_update",
                            &[],
                        );
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap_or_else(|_| panic!("worker panicked"));
    }
    let msg = invite("q", "a", "b");
    assert_eq!(call(&reg, &msg, "dlgs_count", &["any", "eq", ""]), 400);
    assert_eq!(
        call(
            &reg,
            &msg,
            "dlgs_count",
            &["src", "eq", "sip:alice@example.com"]
        ),
        400
    );
    let (_, active) = api(&reg).table().stats();
    assert_eq!((active.init, active.notanswered), (400, 400));
}
