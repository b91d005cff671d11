//! Differential test against Kamailio 5.6.3 for xlog: the same `xlog`/`x*` calls (levels by name
//! and by variable, formats with variables, `$null`, escapes) run in Kamailio (`debug=2`, lines read
//! from its stderr) and in ferrosip (`debug` 2); the printed level and text must agree, and a line
//! suppressed by the level must be suppressed in both.
//!
//! Not compared: a format without a final newline — Kamailio then glues the next log line to it;
//! ferrosip's log back end always ends the line (a deliberate difference of the back end).

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{RecvInfo, RouteType, Value};

/// (function, args); every format starts with `X{i}:` so lines can be matched.
const CASES: &[(&str, &[&str])] = &[
    ("xlog", &["plain text\n"]),
    ("xlog", &["L_ALERT", "alert\n"]),
    ("xlog", &["L_BUG", "bug\n"]),
    ("xlog", &["L_CRIT", "crit\n"]),
    ("xlog", &["L_ERR", "err a=$var(a) n=$var(n)\n"]),
    ("xlog", &["L_WARN", "warn\n"]),
    ("xlog", &["L_NOTICE", "notice\n"]),
    ("xlog", &["L_INFO", "info [$avp(none)] [$var(unset)]\n"]),
    ("xlog", &["L_DBG", "debug is suppressed at debug=2\n"]),
    ("xlog", &["$var(lvl)", "level from a variable\n"]),
    ("xlog", &["$var(a)", "level from a non-numeric variable\n"]),
    ("xdbg", &["xdbg suppressed\n"]),
    ("xinfo", &["xinfo\n"]),
    ("xnotice", &["xnotice\n"]),
    ("xwarn", &["xwarn\n"]),
    ("xerr", &["xerr tab\there\n"]),
    ("xbug", &["xbug\n"]),
    ("xcrit", &["xcrit\n"]),
    ("xalert", &["xalert\n"]),
    ("xlogm", &["L_ERR", "xlogm default filter prints nothing\n"]),
];

/// The format with its case marker.
fn marked(i: usize, args: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    if let Some(last) = v.last_mut() {
        *last = format!("X{i}:{last}");
    }
    v
}

fn config(port: u16) -> String {
    let mut body = String::from("\t$var(a) = \"x\";\n\t$var(n) = 5;\n\t$var(lvl) = 1;\n");
    for (i, (f, args)) in CASES.iter().enumerate() {
        let a: Vec<String> = marked(i, args)
            .iter()
            .map(|x| format!("\"{}\"", cfg_str(x)))
            .collect();
        body.push_str(&format!("\t{f}({});\n", a.join(", ")));
    }
    body.push_str("\txlog(\"L_ERR\", \"@@DONE@@\\n\");\n");
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{MPATH}\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n{body}\texit;\n}}\n"
    )
}

/// Kamailio's level word for a level number.
fn word(level: i64) -> &'static str {
    match level {
        -5 => "ALERT",
        -4 => "BUG",
        -3 => "CRITICAL",
        -2 => "CRITICAL",
        -1 => "ERROR",
        0 => "WARNING",
        1 => "NOTICE",
        2 => "INFO",
        _ => "DEBUG",
    }
}

#[test]
fn kamailio_56_agrees() {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let Some(mut kam) = Kamailio::start(&config(port), port, &client, "xlog") else {
        return;
    };
    let msg = INVITE.replace("Call-ID: c1@10.0.0.1", "Call-ID: xlog-1");
    client
        .send_to(msg.as_bytes(), format!("127.0.0.1:{port}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        kam.wait_for("@@DONE@@", Duration::from_secs(5)),
        "{}",
        kam.text()
    );
    let text = kam.text();
    // Kamailio: " 1(pid) LEVEL: <script>: X<i>:text"; a line per call.
    let mut theirs: Vec<(usize, String)> = Vec::new();
    for line in text.lines() {
        let Some((head, rest)) = line.split_once(": <script>: X") else {
            continue;
        };
        let Some((idx, t)) = rest.split_once(':') else {
            continue;
        };
        let lvl = head.rsplit(' ').next().unwrap_or_default().to_string();
        if let Ok(i) = idx.parse::<usize>() {
            theirs.push((i, format!("{lvl}: {t}")));
        }
    }
    let reg = registry(&[]);
    let steps: Vec<(String, Vec<String>)> = CASES
        .iter()
        .enumerate()
        .map(|(i, (f, a))| (f.to_string(), marked(i, a)))
        .collect();
    let step_refs: Vec<Vec<&str>> = steps
        .iter()
        .map(|(_, a)| a.iter().map(String::as_str).collect())
        .collect();
    let calls: Vec<(&str, &[&str])> = steps
        .iter()
        .zip(step_refs.iter())
        .map(|((f, _), a)| (f.as_str(), a.as_slice()))
        .collect();
    let o = call_full(
        &reg,
        msg.as_bytes(),
        RouteType::Request,
        2,
        &calls,
        &|ctx| {
            set_var(&reg, ctx, "a", Value::str("x"));
            set_var(&reg, ctx, "n", Value::Int(5));
            set_var(&reg, ctx, "lvl", Value::Int(1));
        },
        RecvInfo::default(),
    );
    let ours: Vec<(usize, String)> = o
        .script
        .iter()
        .filter_map(|(l, t)| {
            let rest = t.strip_prefix('X')?;
            let (idx, body) = rest.split_once(':')?;
            // the log back end drops one trailing newline, as Kamailio's line does
            let body = body.strip_suffix('\n').unwrap_or(body);
            Some((idx.parse().ok()?, format!("{}: {body}", word(*l))))
        })
        .collect();
    assert_eq!(ours, theirs);
    assert!(theirs.len() >= 15, "{theirs:?}");
}
