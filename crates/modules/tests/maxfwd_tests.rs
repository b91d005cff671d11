//! maxfwd: (message, call) → return code and the message after the edits.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::ModValue;

fn with_mf(v: Option<&str>) -> String {
    let base = INVITE.replace("Max-Forwards: 70\r\n", "");
    match v {
        Some(v) => base.replacen("Via:", &format!("Max-Forwards: {v}\r\nVia:"), 1),
        None => base,
    }
}

#[test]
fn process_maxfwd_table() {
    let reg = registry(&[]);
    // (header value or absent, limit, rc, header in the output)
    let cases: &[(Option<&str>, &str, i64, &str)] = &[
        (None, "10", 2, "Max-Forwards: 10\r\nVia:"),
        (Some("70"), "10", 1, "Max-Forwards: 69\r\n"),
        (Some("10"), "70", 1, "Max-Forwards:  9\r\n"),
        (Some("1"), "70", 1, "Max-Forwards: 0\r\n"),
        (Some("0"), "70", -1, "Max-Forwards: 0\r\n"),
        (Some("100"), "70", 1, "Max-Forwards:  70\r\n"),
        (Some("abc"), "70", -2, "Max-Forwards: abc\r\n"),
        (Some("70"), "256", -1, "Max-Forwards: 70\r\n"),
    ];
    for (v, limit, rc, want) in cases {
        for name in [
            "mf_process_maxfwd_header",
            "maxfwd_process",
            "process_maxfwd",
        ] {
            let msg = with_mf(*v);
            let o = call(&reg, &msg, name, &[limit]);
            assert_eq!(o.rc, *rc, "{name}({limit}) on {v:?}");
            assert!(o.out.contains(want), "{name}({limit}) on {v:?}: {}", o.out);
        }
    }
    // absent header: added before the first header, exactly once
    let o = call(&reg, &with_mf(None), "mf_process_maxfwd_header", &["10"]);
    assert!(
        o.out
            .starts_with("INVITE sip:bob@example.com SIP/2.0\r\nMax-Forwards: 10\r\nVia:"),
        "{}",
        o.out
    );
}

#[test]
fn max_limit_modparam() {
    let reg = registry(&[("maxfwd", "max_limit", ModValue::Int(16))]);
    let o = call(
        &reg,
        &with_mf(Some("70")),
        "mf_process_maxfwd_header",
        &["10"],
    );
    assert_eq!(o.rc, 1);
    assert!(o.out.contains("Max-Forwards: 16\r\n"), "{}", o.out);
    let mut bad = ferrosip_api::Registry::new();
    bad.add(ferrosip_modules::maxfwd::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(bad
        .set_modparam("maxfwd", "max_limit", ModValue::Int(300))
        .is_err());
}

#[test]
fn is_maxfwd_lt_table() {
    let reg = registry(&[]);
    let cases: &[(Option<&str>, &str, i64)] = &[
        (Some("5"), "10", 1),
        (Some("10"), "10", -1),
        (Some("70"), "10", -1),
        (None, "10", -2),
        (Some("x1"), "10", -3),
        (Some("5"), "300", -1),
    ];
    for (v, limit, rc) in cases {
        for name in ["is_maxfwd_lt", "maxfwd_at_least", "mf_lowlimit"] {
            let o = call(&reg, &with_mf(*v), name, &[limit]);
            assert_eq!(o.rc, *rc, "{name}({limit}) on {v:?}");
            assert_eq!(o.out, with_mf(*v), "no edit");
        }
    }
}

#[test]
fn variable_limit() {
    let reg = registry(&[]);
    let o = call_with(
        &reg,
        &with_mf(Some("70")),
        ferrosip_api::RouteType::Request,
        3,
        &[("is_maxfwd_lt", &["$var(l)"])],
        &|ctx| set_var(&reg, ctx, "l", ferrosip_api::Value::Int(71)),
    );
    assert_eq!(o.rc, 1);
}
