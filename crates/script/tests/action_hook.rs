//! The per-action hook: which actions it sees, in which order, with Kamailio's line numbers,
//! action types and names (the values Kamailio 5.6.3's debugger printed for the same statements:
//! tests/debugger.rs compares the whole trace with a running Kamailio), and that a program without
//! hooks runs exactly as before.

mod common;

use std::sync::{Arc, Mutex};

use ferrosip_api::Ctx;
use ferrosip_script::{ActionHook, ActionSite, Entry};

/// Records `route l=LINE c=COL a=KIND n=NAME` for every action, and `after` calls.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<String>>,
}

impl ActionHook for Recording {
    fn before(&self, _ctx: &mut Ctx<'_>, s: &ActionSite<'_>) {
        if let Ok(mut v) = self.seen.lock() {
            v.push(format!(
                "{} {} l={} c={} a={} n={}",
                s.route_name, s.file, s.line, s.column, s.kind, s.name
            ));
        }
    }

    fn after(&self, _ctx: &mut Ctx<'_>) {
        if let Ok(mut v) = self.seen.lock() {
            v.push("after".into());
        }
    }
}

fn trace(cfg: &str) -> Vec<String> {
    let (mut p, _) = common::program(cfg).unwrap_or_else(|e| panic!("{e}"));
    let hook = Arc::new(Recording::default());
    assert!(p.add_action_hook(hook.clone()));
    let mut w = ferrosip_api::WorkerState::default();
    common::run_with(&p, Entry::Request, common::OPTIONS, &mut w);
    let seen = hook.seen.lock().map(|v| v.clone()).unwrap_or_default();
    // Every `before` has its `after`; keep the `before` lines for the comparison.
    let befores: Vec<String> = seen.iter().filter(|l| *l != "after").cloned().collect();
    assert_eq!(befores.len() * 2, seen.len(), "{seen:?}");
    befores
}

#[test]
fn sites_follow_kamailio() {
    let cases: Vec<(&str, Vec<&str>)> = vec![
        (
            // line 2: assignment; the `if` without else takes the line of the next token (5),
            // the call in its condition is traced after it with its own line.
            "request_route {\n  $var(a) = 1;\n  if (ret(1)) {\n    rec(\"x\"); }\n  exit;\n}\n",
            vec![
                "DEFAULT_ROUTE t.cfg l=2 c=3 a=63 n=assign",
                "DEFAULT_ROUTE t.cfg l=5 c=3 a=16 n=if",
                "DEFAULT_ROUTE t.cfg l=3 c=7 a=25 n=ret",
                "DEFAULT_ROUTE t.cfg l=4 c=5 a=25 n=rec",
                "DEFAULT_ROUTE t.cfg l=5 c=3 a=2 n=exit",
            ],
        ),
        (
            // an `if` that ends its block: the next token is the closing brace of the route;
            // a call over two lines has the line of its `)`; `return` in a named route.
            "request_route {\n  two(\"a\",\n  1);\n  route(R);\n}\nroute[R] {\n  if ($var(a) == 0)\n  {\n    return -1;\n  }\n}\n",
            vec![
                "DEFAULT_ROUTE t.cfg l=3 c=3 a=26 n=two",
                "DEFAULT_ROUTE t.cfg l=4 c=3 a=5 n=route",
                "R t.cfg l=11 c=3 a=16 n=if",
                "R t.cfg l=9 c=5 a=2 n=return",
            ],
        ),
        (
            // if/else ends at the else block's brace; an else-if chain reads the next token;
            // a variable parameter makes a module call `_RVE` (25 + 7); core functions carry
            // Kamailio's action names.
            "request_route {\n  if (1) { ret(1); } else { ret(2); }\n  if (0) { ret(3); } else if (1) { rec(\"$var(a)\"); }\n  rec($var(a));\n  rewritehost(\"h\");\n  setflag(1);\n  drop;\n}\n",
            vec![
                "DEFAULT_ROUTE t.cfg l=2 c=3 a=16 n=if",
                "DEFAULT_ROUTE t.cfg l=2 c=12 a=25 n=ret",
                "DEFAULT_ROUTE t.cfg l=4 c=3 a=16 n=if",
                "DEFAULT_ROUTE t.cfg l=4 c=27 a=16 n=if",
                "DEFAULT_ROUTE t.cfg l=3 c=36 a=25 n=rec",
                "DEFAULT_ROUTE t.cfg l=4 c=3 a=32 n=rec",
                "DEFAULT_ROUTE t.cfg l=5 c=3 a=7 n=sethost",
                "DEFAULT_ROUTE t.cfg l=6 c=3 a=39 n=setflag",
                "DEFAULT_ROUTE t.cfg l=7 c=3 a=2 n=drop",
            ],
        ),
        (
            // switches: a condition table (21), `break` is an `exit` action; a jump table for
            // four close integer cases (20); string cases (22); while and its body per loop.
            "request_route {\n  $var(i) = 2;\n  switch ($var(i)) {\n    case 2: ret(1); break;\n  }\n  switch ($var(i)) { case 1: case 2: case 3: case 4: break; }\n  switch ($rm) { case \"OPTIONS\": break; }\n  while ($var(i) < 4) { $var(i) = $var(i) + 1; }\n}\n",
            vec![
                "DEFAULT_ROUTE t.cfg l=2 c=3 a=63 n=assign",
                "DEFAULT_ROUTE t.cfg l=5 c=3 a=21 n=switch",
                "DEFAULT_ROUTE t.cfg l=4 c=13 a=25 n=ret",
                "DEFAULT_ROUTE t.cfg l=4 c=21 a=2 n=exit",
                "DEFAULT_ROUTE t.cfg l=6 c=3 a=20 n=switch",
                "DEFAULT_ROUTE t.cfg l=6 c=54 a=2 n=exit",
                "DEFAULT_ROUTE t.cfg l=7 c=3 a=22 n=case",
                "DEFAULT_ROUTE t.cfg l=7 c=34 a=2 n=exit",
                "DEFAULT_ROUTE t.cfg l=8 c=3 a=23 n=while",
                "DEFAULT_ROUTE t.cfg l=8 c=25 a=63 n=assign",
                "DEFAULT_ROUTE t.cfg l=8 c=25 a=63 n=assign",
            ],
        ),
        (
            // `route()` in a condition and in an assignment, an `if` followed by a comment.
            "request_route {\n  if (route(R)) { ret(1); } # c\n  $var(x) = route(R);\n}\nroute[R] { return 1; }\n",
            vec![
                "DEFAULT_ROUTE t.cfg l=3 c=3 a=16 n=if",
                "DEFAULT_ROUTE t.cfg l=2 c=7 a=5 n=route",
                "R t.cfg l=5 c=12 a=2 n=return",
                "DEFAULT_ROUTE t.cfg l=2 c=19 a=25 n=ret",
                "DEFAULT_ROUTE t.cfg l=3 c=3 a=63 n=assign",
                "DEFAULT_ROUTE t.cfg l=3 c=13 a=5 n=route",
                "R t.cfg l=5 c=12 a=2 n=return",
            ],
        ),
    ];
    for (cfg, want) in cases {
        assert_eq!(trace(cfg), want, "config:\n{cfg}");
    }
}

#[test]
fn hooks_only_before_sharing_and_no_hook_changes_nothing() {
    let cfg =
        "request_route {\n  $var(a) = 5;\n  if ($var(a) == 5) { rec(\"five\"); }\n  return 3;\n}\n";
    let plain = common::run(cfg, common::OPTIONS);
    let (mut p, _) = common::program(cfg).unwrap_or_else(|e| panic!("{e}"));
    assert!(p.add_action_hook(Arc::new(Recording::default())));
    let mut w = ferrosip_api::WorkerState::default();
    let hooked = common::run_with(&p, Entry::Request, common::OPTIONS, &mut w);
    assert_eq!((plain.out, plain.logs), (hooked.out, hooked.logs));
    let _shared = p.runner();
    assert!(!p.add_action_hook(Arc::new(Recording::default())));
}
