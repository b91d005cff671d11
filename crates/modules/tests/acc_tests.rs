//! acc through its export table: `acc_log_request` / `acc_request` lines with `log_extra`
//! variables read in the message context, level, facility and origin of the line, the debug
//! threshold, load-time refusals (empty comment, modparams that are not implemented),
//! `acc_db_request` without a database, a `db_url` whose driver is not loaded, and the init order
//! with tm. The final-reply lines are checked against Kamailio
//! in tests/acc_wire.rs at the repository root.

#[path = "common/harness.rs"]
mod harness;
use harness::prepare;

use ferrosip_api::{
    store, Ctx, Error, ModValue, ModuleExports, Recorder, RecvInfo, Registry, RouteType, Value,
    WorkerState,
};
use ferrosip_sipmsg::Msg;

const MSG: &str = "MESSAGE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b9\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 7 MESSAGE\r\n\
Content-Length: 0\r\n\r\n";

/// A registry with the core and pv variables, tm and acc (in `order`), modparams set, init run.
fn build(order: &[&str], params: &[(&str, ModValue)]) -> Result<Registry, Error> {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::core_pvs();
    reg.add(core)?;
    reg.add(ferrosip_modules::pv::exports())?;
    for m in order {
        match *m {
            "tm" => reg.add(ferrosip_modules::tm::exports())?,
            "acc" => reg.add(ferrosip_modules::acc::exports())?,
            _ => {}
        }
    }
    for (n, v) in params {
        reg.set_modparam("acc", n, v.clone())?;
    }
    reg.init_all()?;
    Ok(reg)
}

fn registry(params: &[(&str, ModValue)]) -> Registry {
    build(&["tm", "acc"], params).unwrap_or_else(|e| panic!("{e}"))
}

/// What one call printed: (return code, acc lines as (level, facility, origin, text without the
/// timestamp value), other log lines).
type Printed = (i64, Vec<(i32, Option<i32>, String, String)>, Vec<String>);

/// Calls `name(args)` on `msg` after setting the AVPs, with the log threshold `debug`.
fn run(reg: &Registry, debug: i32, avps: &[(&str, Value)], name: &str, args: &[&str]) -> Printed {
    let mut m = Msg::parse(MSG.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let mut worker = WorkerState::default();
    let mut rec = Recorder {
        debug,
        ..Recorder::default()
    };
    let (h, a) = prepare(reg, name, args).unwrap_or_else(|e| panic!("{e}"));
    let rc = {
        let mut ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut worker,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        for (avp, v) in avps {
            let (r, _) = ferrosip_api::pv::parse_pv_ref(format!("$avp({avp})").as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            let spec = reg.resolve_pv(&r).unwrap_or_else(|e| panic!("{e}"));
            spec.set(&mut ctx, v.clone())
                .unwrap_or_else(|e| panic!("{e}"));
        }
        ctx.state.new_uri = Some(b"sip:carol@example.net".to_vec());
        h(&mut ctx, &a).map(|r| r.0).unwrap_or(-1)
    };
    let lines = rec
        .lines
        .iter()
        .map(|(l, f, p, t)| {
            let (head, rest) = t.split_once("timestamp=").unwrap_or((t, ""));
            let rest = rest.split_once(';').map_or("", |(_, r)| r);
            (
                *l,
                *f,
                p.clone().unwrap_or_default(),
                format!("{head}|{rest}"),
            )
        })
        .collect();
    let others = rec
        .logs
        .iter()
        .filter(|(_, t)| !t.contains("ACC: "))
        .map(|(_, t)| t.clone())
        .collect();
    (rc, lines, others)
}

const CORE: &str = "method=MESSAGE;from_tag=a1;to_tag=b9;call_id=c1@10.0.0.1";

#[test]
fn request_lines() {
    let reg = registry(&[(
        "log_extra",
        ModValue::Str("uri=$ru; user=$rU ;a=$avp(x);i=$avp(i);none=$avp(nope);fn=$fn".into()),
    )]);
    let avps = [("x", Value::str("hello")), ("i", Value::Int(42))];
    let code_only = [("i", Value::Int(503))];
    let dollar = [("x", Value::str("cost $5"))];
    let extra = "uri=sip:carol@example.net;user=carol;a=hello;i=42;none=;fn=\"Alice\"";
    let req = "ACC: request accounted: ";
    // (function, args, avps, return code, expected text or none)
    type Case<'a> = (
        &'a str,
        &'a [&'a str],
        &'a [(&'a str, Value)],
        i64,
        Option<String>,
    );
    let cases: Vec<Case<'_>> = vec![
        (
            "acc_log_request",
            &["200 Delivered to you"],
            &avps,
            1,
            Some(format!("{req}|{CORE};code=200;reason=Delivered to you;{extra}")),
        ),
        (
            "acc_log_request",
            &["no code here"],
            &avps,
            1,
            Some(format!("{req}|{CORE};code=;reason=no code here;{extra}")),
        ),
        (
            "acc_log_request",
            &["$avp(x) from $fU"],
            &avps,
            1,
            Some(format!("{req}|{CORE};code=;reason=hello from alice;{extra}")),
        ),
        (
            "acc_log_request",
            &["$avp(i)"],
            &code_only,
            1,
            Some(format!(
                "{req}|{CORE};code=503;reason=;uri=sip:carol@example.net;user=carol;a=;i=503;none=;fn=\"Alice\""
            )),
        ),
        (
            "acc_request",
            &["404 Not here", "acc"],
            &avps,
            1,
            Some(format!("{req}|{CORE};code=404;reason=Not here;{extra}")),
        ),
        // acc_request refuses a comment whose value holds a `$`.
        (
            "acc_request",
            &["$avp(x)", "acc"],
            &dollar,
            -1,
            None,
        ),
    ];
    for (name, args, avps, rc, want) in cases {
        let (got_rc, lines, _) = run(&reg, 3, avps, name, args);
        assert_eq!(got_rc, rc, "{name}{args:?}");
        let want: Vec<_> = want
            .into_iter()
            .map(|t| (1, Some(3 << 3), "acc [acc/mod.rs:".to_string(), t))
            .collect();
        let got: Vec<_> = lines
            .into_iter()
            .map(|(l, f, p, t)| (l, f, p.get(..16).unwrap_or("").to_string(), t))
            .collect();
        assert_eq!(got, want, "{name}{args:?}");
    }
}

#[test]
fn level_facility_and_threshold() {
    let reg = registry(&[
        ("log_level", ModValue::Int(2)),
        ("log_facility", ModValue::Str("LOG_LOCAL5".into())),
    ]);
    // (debug, lines printed)
    for (debug, printed) in [(2, 1), (1, 0), (3, 1)] {
        let (rc, lines, _) = run(&reg, debug, &[], "acc_log_request", &["200 ok"]);
        assert_eq!(rc, 1);
        assert_eq!(lines.len(), printed, "debug {debug}");
        for (level, facility, origin, _) in lines {
            assert_eq!((level, facility), (2, Some(21 << 3)));
            assert!(
                origin.starts_with("acc [acc/mod.rs:")
                    && origin.ends_with("]: acc_log_request(): "),
                "{origin}"
            );
        }
    }
}

#[test]
fn log_kern_means_the_core_facility() {
    // Kamailio's log macros treat facility 0 (LOG_KERN) as "use the core's log_facility".
    let reg = registry(&[("log_facility", ModValue::Str("LOG_KERN".into()))]);
    let (_, lines, _) = run(&reg, 3, &[], "acc_log_request", &["200 ok"]);
    assert_eq!(
        lines.iter().map(|l| (l.0, l.1)).collect::<Vec<_>>(),
        [(1, None)]
    );
}

#[test]
fn refused_at_load() {
    let reg = registry(&[]);
    let e = prepare(&reg, "acc_log_request", &[""])
        .err()
        .unwrap_or_default();
    assert!(e.contains("first parameter is empty"), "{e}");
    let e = prepare(&reg, "acc_db_request", &["200 ok", ""])
        .err()
        .unwrap_or_default();
    assert!(e.contains("first parameter is empty"), "{e}");
    // Without db_url it loads and fails at run time, as in Kamailio.
    let (rc, lines, other) = run(&reg, 3, &[], "acc_db_request", &["200 ok", "acc"]);
    assert_eq!((rc, lines.len()), (-1, 0));
    assert!(
        other
            .iter()
            .any(|l| l.contains("db support not configured")),
        "{other:?}"
    );
    // A db_url needs its driver module: the start (child init) fails with Kamailio's text.
    let r = build(
        &["tm", "acc"],
        &[(
            "db_url",
            ModValue::Str("mysql://k:k@localhost/kamailio".into()),
        )],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let e = r
        .child_init_all(0)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(e.contains("Module db_mysql not found"), "{e}");
    // (modparam, value, what the error says)
    let cases: &[(&str, ModValue, &str)] = &[
        (
            "multi_leg_info",
            ModValue::Str("a=$avp(x)".into()),
            "not implemented",
        ),
        ("report_ack", ModValue::Int(1), "e2e ACK"),
        ("log_flag", ModValue::Int(40), "invalid value"),
        ("log_extra", ModValue::Str("x=$var(a)".into()), "$var"),
        ("nonsense", ModValue::Int(1), "unknown modparam"),
    ];
    for (n, v, want) in cases {
        let e = build(&["tm", "acc"], &[(n, v.clone())])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains(want), "{n}: `{e}` should contain `{want}`");
    }
    // The stock configuration's acc section loads.
    let stock = build(
        &["tm", "acc"],
        &[
            ("early_media", ModValue::Int(0)),
            ("report_ack", ModValue::Int(0)),
            ("report_cancels", ModValue::Int(0)),
            ("detect_direction", ModValue::Int(0)),
            ("log_flag", ModValue::Int(1)),
            ("log_missed_flag", ModValue::Int(2)),
            (
                "log_extra",
                ModValue::Str(
                    "src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;dst_domain=$rd"
                        .into(),
                ),
            ),
            ("failed_transaction_flag", ModValue::Int(3)),
        ],
    );
    assert!(stock.is_ok(), "{:?}", stock.err());
}

#[test]
fn tm_must_come_first() {
    for order in [&["acc", "tm"][..], &["acc"][..]] {
        let e = build(order, &[])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("the tm module must be loaded before acc"),
            "{order:?}: {e}"
        );
    }
}
