//! Load-time refusals: each config is refused with the expected message at the expected
//! file:line:col; warnings do not refuse.

mod common;
use common::*;

use ferrosip_api::WorkerState;
use ferrosip_script::Entry;

#[test]
fn refused_with_location() {
    // (config, expected fragment of the message, expected "line:col")
    let cases: &[(&str, &str, &str)] = &[
        ("request_route {\n  nosuch_fn();\n}\n", "unknown function `nosuch_fn`", "t.cfg:2:3"),
        ("request_route {\n  rec(\"a\");\n    two(\"x\");\n}\n", "wrong number of parameters for `two`: 1 given, accepted: 2", "t.cfg:3:5"),
        ("request_route {\n  rec(\"a\", \"b\", \"c\");\n}\n", "wrong number of parameters for `rec`", "t.cfg:2:3"),
        ("request_route { req_only(); }\nfailure_route[F] {\n  rec(\"x\");\n  req_only();\n}\n",
            "command `req_only` cannot be used in the block (FAILURE route", "t.cfg:4:3"),
        ("request_route {\n fail_only();\n}\n", "command `fail_only` cannot be used in the block (REQUEST route", "t.cfg:2:2"),
        // route[X] is a request block whoever calls it (Kamailio's cfg.y rule).
        ("request_route { route(S); }\nfailure_route[F] { route(S); }\nroute[S] {\n  fail_only();\n}\n",
            "command `fail_only` cannot be used in the block (REQUEST route", "t.cfg:4:3"),
        ("request_route { exit; }\nonsend_route {\n  setflag(1);\n  rewritehost(\"x\");\n}\n",
            "command `rewritehost` cannot be used in the block (ONSEND route", "t.cfg:4:3"),
        ("request_route {\n  forward();\n}\n", "function `forward`: not implemented yet", "t.cfg:2:3"),
        ("request_route {\n  force_send_socket(\"udp:1.2.3.4:5060\");\n}\n", "function `force_send_socket`: not implemented yet", "t.cfg:2:3"),
        ("request_route {\n  $var(x) = $nosuch(y);\n}\n", "unknown pseudo-variable `$nosuch(y)`", "t.cfg:2:13"),
        ("request_route {\n  $rm = \"x\";\n}\n", "read only pvar in assignment left side", "t.cfg:2:3"),
        ("request_route {\n  $var(b) = 1 + \"2\";\n}\n", "type mismatch: str instead of int", "t.cfg:2:17"),
        ("request_route {\n  $var(c) = \"5\" - 2;\n}\n", "type mismatch: str instead of int", "t.cfg:2:13"),
        ("request_route {\n  if (0 == \"abc\") { rec(\"x\"); }\n}\n", "type mismatch: str instead of int", "t.cfg:2:12"),
        ("request_route {\n  rec(1 - \"x\");\n}\n", "type mismatch: str instead of int", "t.cfg:2:11"),
        ("request_route {\n  setflag(40);\n}\n", "must be a flag number 0..31", "t.cfg:2:11"),
        ("request_route {\n  setflag(UNDECLARED);\n}\n", "UNDECLARED", "t.cfg:2:11"),
        ("request_route {\n  if ($var(x) =~ \"(ab\") { rec(\"x\"); }\n}\n", "bad regular expression", "t.cfg:2:18"),
        ("request_route {\n  rec(\"$nosuch(x)\");\n}\n", "unknown pseudo-variable `$nosuch(x)`", "t.cfg:2:7"),
        ("request_route {\n  $var(x) = @via[1].received;\n}\n", "select `@via[1].received`: `received`: not implemented yet", "t.cfg:2:13"),
        ("request_route {\n  $var(x) = @nosuch.thing;\n}\n", "unknown select `@nosuch.thing`: not implemented yet", "t.cfg:2:13"),
        ("pstn.gw_ip = \"1.2.3.4\"\nrequest_route {\n  $var(x) = @cfg_get.pstn.nope;\n}\n", "select `@cfg_get.pstn.nope`: unknown cfg variable `pstn.nope`", "t.cfg:3:13"),
        ("request_route {\n  if (from == \"x\") { rec(\"x\"); }\n}\n", "keyword `from`: not implemented yet", "t.cfg:2:7"),
        ("request_route {\n  if (snd_ip == 1.2.3.4) { rec(\"x\"); }\n}\n", "snd_ip allowed only in onsend_routes", "t.cfg:2:7"),
        ("request_route { route(X); }\nroute[X] {\n  if (to_ip != 1.2.3.4) { rec(\"x\"); }\n}\n", "to_ip allowed only in onsend_routes", "t.cfg:3:7"),
        ("request_route {\n  rec(\"x\", rec(\"y\"));\n}\n", "wrong number of parameters", "t.cfg:2:3"),
        ("request_route {\n  ret(ret(1));\n}\n", "not allowed inside a function parameter", "t.cfg:2:7"),
        ("request_route { exit; }\nrequest_route { exit; }\n", "duplicate request_route block", "t.cfg:2:1"),
        // With `#!KAMAILIO` every `$` is a pseudo-variable: Kamailio says "Can't get from cache".
        ("#!KAMAILIO\nrequest_route {\n  $legacy = 1;\n}\n", "unknown pseudo-variable `$legacy`", "t.cfg:3:3"),
    ];
    for (cfg, msg, at) in cases {
        match program(cfg) {
            Ok(_) => panic!("accepted, expected `{msg}`:\n{cfg}"),
            Err(text) => {
                assert!(text.contains(msg), "expected `{msg}` in:\n{text}");
                assert!(
                    text.contains(&format!("--> {at}")),
                    "expected location {at} in:\n{text}"
                );
            }
        }
    }
}

#[test]
fn accepted_where_kamailio_accepts() {
    let cases = [
        // A request-only function in route[X] called from failure_route: accepted at load.
        "request_route { exit; }\nfailure_route[F] { route(S); }\nroute[S] { req_only(); }\n",
        // event_route is REQUEST|ONEVENT: request functions are allowed.
        "request_route { exit; }\nevent_route[core:worker-one-init] { req_only(); }\n",
        "request_route { exit; }\nonsend_route { setflag(1); log(\"x\"); if (isflagset(1)) { drop; } }\n",
    ];
    for cfg in cases {
        if let Err(e) = program(cfg) {
            panic!("refused:\n{e}\n{cfg}");
        }
    }
}

#[test]
fn undefined_route_is_a_warning() {
    let (p, loaded) =
        program("request_route {\n  route(NOPE);\n  rec(\"after\");\n}\n").expect("accepted");
    assert_eq!(p.warnings().len(), 1);
    let w = p.warnings()[0].render(&loaded.sources);
    assert!(
        w.contains("warning: route `NOPE` is not defined") && w.contains("t.cfg:2:9"),
        "{w}"
    );
    // At run time, as in Kamailio: an error is logged and the script goes on.
    let r = run_with(&p, Entry::Request, OPTIONS, &mut WorkerState::default());
    assert_eq!(r.logs, vec!["route \"NOPE\" not found", "after"]);
}

#[test]
fn rendering_example() {
    let text =
        program("request_route {\n  rec(\"a\");\n    two(\"x\");\n}\n").expect_err("refused");
    assert_eq!(
        text,
        "error: wrong number of parameters for `two`: 1 given, accepted: 2\n --> t.cfg:3:5\n  |\n3 |     two(\"x\");\n  |     ^^^^^^^^\n"
    );
}
