//! Run-level behaviour: outcomes of `drop`/`exit`/`return`, `return_mode=1`, `$var` kept across
//! messages of a worker while AVPs and flags are per message, replies through the server, other
//! entry points, and the compat rows rendered from the export tables.

mod common;
use common::*;

use ferrosip_api::WorkerState;
use ferrosip_script::Entry;

#[test]
fn outcomes() {
    // (body, rc, exited, dropped)
    let cases: &[(&str, i64, bool, bool)] = &[
        ("rec(\"x\");", 1, false, false),
        ("ret(-2);", -2, false, false),
        ("exit;", 1, true, false),
        ("exit(5);", 5, true, false),
        ("drop;", 0, true, true),
        ("return;", 1, false, false),
        ("return(-1);", -1, false, false),
        ("return 0;", 0, true, false),
        ("ret(0); rec(\"no\");", 0, true, false),
        ("if (1) { rec(\"a\"); }", 1, false, false),
        ("if (0) { rec(\"a\"); }", 1, false, false),
        ("$var(a) = 1;", 1, false, false),
        ("route(D); rec(\"no\");", 0, true, true),
    ];
    for (body, rc, exited, dropped) in cases {
        let cfg = format!("request_route {{\n{body}\n}}\nroute[D] {{ drop; }}\n");
        let r = run(&cfg, OPTIONS);
        assert_eq!(
            (r.out.rc, r.out.exited, r.out.dropped),
            (*rc, *exited, *dropped),
            "{body}"
        );
        assert!(!r.logs.iter().any(|l| l == "no"), "{body}");
    }
}

#[test]
fn return_mode_1_propagates_values() {
    let cfg = "return_mode=1\nrequest_route {\n if (route(M2) == -2) rec(\"is -2\");\n if (route(M2)) rec(\"nonzero is true\");\n if (ret(-1)) rec(\"-1 true\");\n}\nroute[M2] { return -2; }\n";
    let r = run(cfg, OPTIONS);
    assert_eq!(r.logs, vec!["is -2", "nonzero is true", "-1 true"]);
    // The same config with the default mode.
    let r = run(&cfg.replace("return_mode=1\n", ""), OPTIONS);
    assert!(r.logs.is_empty(), "{:?}", r.logs);
}

#[test]
fn worker_state_persists_message_state_does_not() {
    let (p, _) = program("request_route {\n $var(n) = $var(n) + 1; $avp(a) = $avp(a) + 1; if (isflagset(2)) rec(\"flag leaked\"); setflag(2);\n rec(\"n=$var(n) a=$avp(a)\");\n}\n").expect("accepted");
    let mut w = WorkerState::default();
    let first = run_with(&p, Entry::Request, OPTIONS, &mut w);
    let second = run_with(&p, Entry::Request, OPTIONS, &mut w);
    assert_eq!(first.logs, vec!["n=1 a=1"]);
    assert_eq!(second.logs, vec!["n=2 a=1"]);
    assert_eq!(second.flags, 1 << 2);
}

#[test]
fn reply_and_ruri() {
    let r = run("request_route {\n if (method == \"INVITE\") { strip(3); reply(404, \"Not $rm\"); exit; }\n}\n", INVITE);
    assert_eq!(r.sent, vec!["SIP/2.0 404 Not INVITE\r\n\r\n"]);
    assert_eq!(r.ruri, "sip:12345@example.com;user=phone");
    let r = run(
        "request_route {\n if (method == \"INVITE\") { reply(404, \"x\"); }\n}\n",
        OPTIONS,
    );
    assert!(r.sent.is_empty());
}

#[test]
fn other_entry_points() {
    let cfg = "request_route { rec(\"req\"); }\nfailure_route[F1] { rec(\"fail\"); fail_only(); }\nbranch_route[1] { rec(\"branch\"); }\nonsend_route { rec(\"onsend\"); }\nevent_route[core:worker-one-init] { rec(\"event\"); }\nroute[SUB] { rec(\"sub\"); return 4; }\n";
    let (p, _) = program(cfg).expect("accepted");
    let mut w = WorkerState::default();
    for (e, want) in [
        (Entry::Failure("F1"), "fail"),
        (Entry::Branch("1"), "branch"),
        (Entry::OnSend, "onsend"),
        (Entry::Event("core:worker-one-init"), "event"),
        (Entry::Route("SUB"), "sub"),
    ] {
        let r = run_with(&p, e, OPTIONS, &mut w);
        assert_eq!(r.logs, vec![want], "{e:?}");
    }
    assert!(p.route(Entry::Reply).is_none());
    assert!(p.route(Entry::Failure("nope")).is_none());
}

#[test]
fn compat_rows_come_from_the_tables() {
    let rows = registry().compat_rows();
    let expect = [
        "| core | `setflag(flag)` | ANY | yes | set a message flag (number 0..31 or `flags` name) |",
        "| core | `forward(spve, int\\|var)` | ANY | not yet | forward statelessly to host and port |",
        "| pv | `req_only()` | REQUEST | yes | test: request routes only |",
    ];
    for e in expect {
        assert!(rows.lines().any(|l| l == e), "missing row {e}\n{rows}");
    }
    assert!(rows.starts_with("| module | function | routes | implemented | description |\n|---|"));
}
