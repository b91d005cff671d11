//! xlog: (call, debug level) → return code and the line emitted (tracing target `script`, klevel).

#[path = "textops_harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::{ModValue, RouteType, Value};

/// (function, args, debug, expected (klevel, text) or None when filtered)
type XlogCase = (
    &'static str,
    &'static [&'static str],
    i32,
    Option<(i64, &'static str)>,
);

#[test]
fn levels_and_filtering() {
    let reg = registry(&[]);
    // (function, args, debug, expected (klevel, text) or None when filtered)
    let cases: &[XlogCase] = &[
        ("xlog", &["m=$var(m)"], 3, Some((-1, "m=INVITE"))),
        (
            "xlog",
            &["L_INFO", "info $var(m)\n"],
            3,
            Some((2, "info INVITE\n")),
        ),
        ("xlog", &["L_DBG", "dbg"], 2, None),
        ("xlog", &["L_DBG", "dbg"], 3, Some((3, "dbg"))),
        ("xlog", &["$var(lvl)", "by var"], 3, Some((1, "by var"))),
        ("xdbg", &["d"], 3, Some((3, "d"))),
        ("xinfo", &["i"], 3, Some((2, "i"))),
        ("xnotice", &["n"], 3, Some((1, "n"))),
        ("xwarn", &["w"], 3, Some((0, "w"))),
        ("xerr", &["e"], 3, Some((-1, "e"))),
        ("xbug", &["b"], 3, Some((-4, "b"))),
        ("xcrit", &["c"], 3, Some((-3, "c"))),
        ("xalert", &["a"], 3, Some((-5, "a"))),
        ("xalert", &["a"], -6, None),
        (
            "xlog",
            &["L_ERR", "undefined: $var(none) $avp(none)"],
            3,
            Some((-1, "undefined: 0 <null>")),
        ),
    ];
    for (f, args, debug, want) in cases {
        let o = call_with(
            &reg,
            INVITE,
            RouteType::Request,
            *debug,
            &[(f, args)],
            &|ctx| {
                set_var(&reg, ctx, "m", Value::str("INVITE"));
                set_var(&reg, ctx, "lvl", Value::Int(1));
            },
        );
        assert_eq!(o.rc, 1, "{f}{args:?}");
        let got: Vec<(i64, &str)> = o.script.iter().map(|(l, t)| (*l, t.as_str())).collect();
        assert_eq!(
            got,
            want.iter().copied().collect::<Vec<_>>(),
            "{f}{args:?} at debug {debug}"
        );
    }
}

#[test]
fn non_numeric_level_variable() {
    let reg = registry(&[]);
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("xlog", &["$var(l)", "x"])],
        &|ctx| set_var(&reg, ctx, "l", Value::str("L_INFO")),
    );
    assert_eq!((o.rc, o.script.len()), (-1, 0));
    assert!(
        o.logs
            .iter()
            .any(|(l, t)| *l == -1 && t.contains("invalid log level value")),
        "{:?}",
        o.logs
    );
}

#[test]
fn load_time_checks() {
    let reg = registry(&[]);
    for (f, args, needle) in [
        ("xlog", &["ERR", "x"][..], "unknown log level"),
        ("xlog", &["L_Q", "x"], "unknown log level"),
        ("xlog", &["LOG_LOCAL0", "L_ERR", "x"], "not implemented yet"),
        ("xlogl", &["x"], "not implemented yet"),
        ("xdbgl", &["x"], "not implemented yet"),
    ] {
        let e = prepare(&reg, f, args).err().unwrap_or_default();
        assert!(e.contains(needle), "{f}{args:?}: {e}");
    }
    assert!(reg.parse_format("$C(rx)").is_ok());
    assert!(reg.parse_format("$C(zz)").is_err());
    let mut r = ferrosip_api::Registry::new();
    r.add(ferrosip_modules::xlog::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r
        .set_modparam("xlog", "prefix", ModValue::Str("X: ".into()))
        .is_err());
    assert!(r
        .set_modparam("xlog", "prefix", ModValue::Str("<script>: ".into()))
        .is_ok());
    assert!(matches!(
        r.set_modparam("xlog", "log_facility", ModValue::Str("LOG_LOCAL0".into())),
        Err(ferrosip_api::Error::NotImplemented(_))
    ));
}

#[test]
fn colors_buf_size_and_methods_filter() {
    // force_color: $C gives escapes; without it, nothing
    for (force, want) in [(1, "\x1b[0;31;49mred\x1b[0;39;49m"), (0, "red")] {
        let reg = registry(&[("xlog", "force_color", ModValue::Int(force))]);
        let o = call(&reg, INVITE, "xlog", &["L_ERR", "$C(rx)red$C(xx)"]);
        assert_eq!(o.script, vec![(-1, want.to_string())]);
    }
    let reg = registry(&[("xlog", "buf_size", ModValue::Int(8))]);
    let o = call(&reg, INVITE, "xlog", &["L_ERR", "123456789"]);
    assert_eq!((o.rc, o.script.len()), (-1, 0));
    // xlogm: INVITE (1) filtered with 1, printed with 2; -1 prints nothing
    for (filter, printed) in [(1, false), (2, true), (-1, false)] {
        let reg = registry(&[("xlog", "methods_filter", ModValue::Int(filter))]);
        let o = call(&reg, INVITE, "xlogm", &["L_ERR", "m"]);
        assert_eq!(
            (o.rc, !o.script.is_empty()),
            (1, printed),
            "filter {filter}"
        );
    }
}
