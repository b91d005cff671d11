//! xlog: (call, debug level) → return code and the line emitted (`Server::log_line`, which the
//! test recorder also emits as `tracing` target `script` with klevel).

#[path = "common/harness.rs"]
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
        (
            "xlog",
            &["LOG_NOPE", "L_ERR", "x"],
            "unknown syslog facility",
        ),
        (
            "xlogl",
            &["LOG_NOPE", "L_ERR", "x"],
            "unknown syslog facility",
        ),
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
        .is_ok());
    assert!(r
        .set_modparam("xlog", "log_facility", ModValue::Str("LOG_LOCAL0".into()))
        .is_ok());
    assert!(r
        .set_modparam("xlog", "log_facility", ModValue::Str("LOG_NOPE".into()))
        .is_err());
    assert!(matches!(
        r.set_modparam("xlog", "log_colors", ModValue::Str("L_ERR=cr".into())),
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

/// Through the script runtime (real config, real fixups): xlogl/xdbgl print the call's line,
/// `xlog(facility, …)` and `log_facility` set the line's facility, `prefix` replaces `<script>: `,
/// core `log()` takes the same path (`Server::log_line`), `$C` colours when logging to stderr.
#[test]
fn lines_facility_prefix_and_one_path() {
    use ferrosip_api::{CoreParams, Ctx, Recorder, RecvInfo, WorkerState};
    use ferrosip_config::LoadOptions;
    struct NoFiles;
    impl ferrosip_config::Host for NoFiles {
        fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
            Err(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                path.to_string(),
            ))
        }
        fn env(&self, _: &str) -> Option<String> {
            None
        }
    }
    let cfg = "request_route {\n xlogl(\"L_ERR\", \"a $var(m)\\n\");\n xdbgl(\"d\");\n xlog(\"LOG_LOCAL0\", \"L_WARN\", \"fac\");\n xlogl(\"x\");\n log(1, \"core\\n\");\n xlog(\"L_ERR\", \"$C(rx)c\");\n}\n";
    type Line = (i32, Option<i32>, Option<String>, String);
    let run = |modparams: &[(&str, ModValue)], stderr: bool| -> (Vec<Line>, Vec<String>) {
        let loaded =
            ferrosip_config::load_text("t.cfg", cfg.to_string(), &LoadOptions::default(), &NoFiles)
                .unwrap_or_else(|f| panic!("{}", f.render()));
        let mut reg =
            ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
        reg.add(ferrosip_modules::pv::exports())
            .unwrap_or_else(|e| panic!("{e}"));
        reg.add(ferrosip_modules::xlog::exports())
            .unwrap_or_else(|e| panic!("{e}"));
        for (n, v) in modparams {
            reg.set_modparam("xlog", n, v.clone())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        reg.init_all().unwrap_or_else(|e| panic!("{e}"));
        let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
        let mut rec = Recorder {
            debug: 3,
            core: Some(CoreParams {
                log_stderror: stderr,
                ..CoreParams::default()
            }),
            ..Recorder::default()
        };
        let mut w = WorkerState::default();
        let mut m = ferrosip_sipmsg::Msg::parse(INVITE.as_bytes().to_vec())
            .unwrap_or_else(|e| panic!("{e}"));
        let mut ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        set_var(&reg, &mut ctx, "m", Value::str("M"));
        let id = p
            .route(ferrosip_script::Entry::Request)
            .unwrap_or_else(|| panic!("route"));
        p.run(id, &mut ctx);
        drop(ctx);
        (
            rec.lines.clone(),
            rec.logs.iter().map(|(_, t)| t.clone()).collect(),
        )
    };
    let (lines, logs) = run(&[], false);
    let local0 = Some(16 << 3);
    let want: Vec<Line> = vec![
        (-1, None, None, "2:a M\n".into()),
        (3, None, None, "3:d".into()),
        (0, local0, None, "fac".into()),
        (-1, None, None, "5:x".into()),
        (1, None, None, "core".into()),
        (-1, None, None, "c".into()),
    ];
    assert_eq!(lines, want);
    assert_eq!(logs.first().map(String::as_str), Some("<script>: 2:a M\n"));
    let (lines, logs) = run(
        &[
            ("prefix", ModValue::Str("P: ".into())),
            ("log_facility", ModValue::Str("LOG_LOCAL1".into())),
            ("long_format", ModValue::Int(1)),
        ],
        true,
    );
    let local1 = Some(17 << 3);
    let p = Some("P: ".to_string());
    let want: Vec<Line> = vec![
        (-1, local1, p.clone(), "t.cfg:2:a M\n".into()),
        (3, local1, p.clone(), "t.cfg:3:d".into()),
        (0, local0, p.clone(), "fac".into()),
        (-1, local1, p.clone(), "t.cfg:5:x".into()),
        (1, None, None, "core".into()),
        (-1, local1, p, "\x1b[0;31;49mc".into()),
    ];
    assert_eq!(lines, want);
    assert_eq!(logs.get(4).map(String::as_str), Some("<script>: core"));
}
