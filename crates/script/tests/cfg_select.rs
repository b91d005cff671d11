//! `cfg_select("group", id)` / `cfg_reset("group")` over the config's custom cfg groups, with the
//! values Kamailio 5.6.3 printed for the same config (tests/cfg_select.rs runs both servers):
//! an instance's own values, the defaults for what it does not set, a failed selection keeping the
//! previous one, `$rc` untouched (core actions), and a fresh message starting from the defaults.

mod common;

use ferrosip_api::WorkerState;
use ferrosip_script::Entry;

const CFG: &str = r#"
foo.bar = 1 desc "x"
foo.baz = "s" desc "y"
foo[2].bar = 5
foo[3].baz = "t"
request_route {
    $var(x) = @cfg_get.foo.bar; $var(y) = @cfg_get.foo.baz;
    rec("a=$var(x) $var(y)");
    cfg_select("foo", 2);
    $var(x) = @cfg_get.foo.bar; $var(y) = @cfg_get.foo.baz;
    rec("b=$var(x) $var(y) rc=$rc");
    $var(i) = 3;
    cfg_select("foo", $var(i));
    $var(x) = @cfg_get.foo.bar; $var(y) = @cfg_get.foo.baz;
    rec("c=$var(x) $var(y) rc=$rc");
    cfg_select("foo", 7);
    $var(x) = @cfg_get.foo.bar; $var(y) = @cfg_get.foo.baz;
    rec("d=$var(x) $var(y) rc=$rc");
    cfg_reset("foo");
    $var(x) = @cfg_get.foo.bar; $var(y) = @cfg_get.foo.baz;
    rec("e=$var(x) $var(y) rc=$rc");
    cfg_select("foo", 2);
}
"#;

#[test]
fn instances_are_selected_per_message() {
    let (p, _) = common::program(CFG).unwrap_or_else(|e| panic!("{e}"));
    let mut w = WorkerState::default();
    let want = [
        "a=1 s",
        "b=5 s rc=1",
        "c=1 t rc=1",
        "d=1 t rc=1",
        "e=1 s rc=1",
    ];
    // Twice on the same worker: the second message starts with the defaults again although the
    // first one ended with instance 2 selected.
    for _ in 0..2 {
        let ran = common::run_with(&p, Entry::Request, common::OPTIONS, &mut w);
        assert_eq!(ran.rec_logs, want);
        assert!(
            ran.logs
                .iter()
                .any(|l| l.contains("group instance 'foo[7]' does not exist")),
            "{:?}",
            ran.logs
        );
    }
}

#[test]
fn unknown_groups_are_refused_at_load() {
    let cases = [
        (
            "request_route { cfg_select(\"nope\", 1); }",
            "configuration group \"nope\" not found",
        ),
        (
            "request_route { cfg_reset(\"core\"); }",
            "configuration group \"core\" not found",
        ),
        (
            "foo.bar = 1\nrequest_route { cfg_select($var(g), 1); }",
            "constant",
        ),
    ];
    for (cfg, want) in cases {
        match common::program(cfg) {
            Ok(_) => panic!("accepted: {cfg}"),
            Err(e) => assert!(e.contains(want), "{cfg}: {e}"),
        }
    }
}
