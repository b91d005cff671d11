//! Differential test against Kamailio 5.6.3 for functions used on replies (`reply_route`):
//! `change_reply_status[_code]`, `msg_apply_changes`, header and body edits. Kamailio relays the
//! reply to the second Via (the test socket); ferrosip's message with the edits applied, minus the
//! top Via, must be the same bytes, and the return codes must agree.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{Proto, RecvInfo, RouteType};

/// (name, status line, calls)
type Case = (
    &'static str,
    &'static str,
    &'static [(&'static str, &'static [&'static str])],
);

const CASES: &[Case] = &[
    (
        "status",
        "183 Session Progress",
        &[("change_reply_status", &["180", "Ringing"])],
    ),
    (
        "status-class",
        "183 Session Progress",
        &[("change_reply_status", &["200", "OK"])],
    ),
    (
        "status-code",
        "183 Session Progress",
        &[("change_reply_status_code", &["181"])],
    ),
    (
        "status-negative",
        "486 Busy Here",
        &[("change_reply_status", &["603", "Decline"])],
    ),
    (
        "status-neg-to-pos",
        "486 Busy Here",
        &[("change_reply_status", &["200", "OK"])],
    ),
    (
        "apply",
        "200 OK",
        &[
            ("append_hf", &["X-A: 1\r\n"]),
            ("msg_apply_changes", &[]),
            ("remove_hf", &["X-A"]),
        ],
    ),
    (
        "append",
        "200 OK",
        &[("append_hf", &["X-B: 2\r\n"]), ("remove_hf", &["Subject"])],
    ),
    (
        "subst-hf",
        "200 OK",
        &[("subst_hf", &["To", "/tag=b1/tag=zz/", "a"])],
    ),
    (
        "set-body",
        "200 OK",
        &[("set_body", &["hello", "text/plain"])],
    ),
    ("is-method", "200 OK", &[("is_method", &["INVITE"])]),
    (
        "hf-value",
        "200 OK",
        &[("include_hf_value", &["Supported", "timer"])],
    ),
];

fn reply(i: usize, status: &str, kport: u16, cport: u16) -> String {
    format!(
        "SIP/2.0 {status}\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{kport};branch=z9hG4bK-k{i}\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-c{i}\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b1\r\n\
Call-ID: r-{i}\r\n\
CSeq: 1 INVITE\r\n\
Subject: Hi\r\n\
Content-Length: 0\r\n\r\n"
    )
}

fn config(port: u16) -> String {
    let mut body = String::new();
    for (i, (_, _, steps)) in CASES.iter().enumerate() {
        body.push_str(&format!("\tif ($ci == \"r-{i}\") {{\n"));
        for (f, args) in *steps {
            let a: Vec<String> = args.iter().map(|x| format!("\"{}\"", cfg_str(x))).collect();
            body.push_str(&format!("\t\t{f}({});\n", a.join(", ")));
        }
        body.push_str(&format!(
            "\t\txlog(\"L_ERR\", \"@@K{i}K@@$rc@@\\n\");\n\t}}\n"
        ));
    }
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{MPATH}\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"textops.so\"\n\
         loadmodule \"textopsx.so\"\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\texit;\n}}\n\
         reply_route {{\n{body}}}\n"
    )
}

#[test]
fn kamailio_56_agrees() {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap_or_else(|e| panic!("{e}"));
    let cport = client
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let Some(mut kam) = Kamailio::start(&config(port), port, &client, "replies") else {
        return;
    };
    let dst = format!("127.0.0.1:{port}");
    let reg = registry(&[]);
    let rcv = RecvInfo {
        src: client.local_addr().unwrap_or_else(|e| panic!("{e}")),
        dst: dst.parse().unwrap_or_else(|e| panic!("{e}")),
        proto: Proto::Udp,
        socket: 0,
    };
    let mut mismatches = Vec::new();
    for (i, (name, status, steps)) in CASES.iter().enumerate() {
        let msg = reply(i, status, port, cport);
        client
            .send_to(msg.as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        let marker = format!("@@K{i}K@@");
        assert!(
            kam.wait_for(&marker, Duration::from_secs(5)),
            "no output for {name}:\n{}",
            kam.text()
        );
        let text = kam.text();
        let krc: i64 = text
            .split(&marker)
            .nth(1)
            .and_then(|r| r.split("@@").next())
            .and_then(|r| r.parse().ok())
            .unwrap_or(i64::MIN);
        let mut buf = vec![0u8; 65536];
        let got = match client.recv_from(&mut buf) {
            Ok((n, _)) => String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned(),
            Err(_) => String::new(),
        };
        let o = call_full(
            &reg,
            msg.as_bytes(),
            RouteType::CoreOnReply,
            3,
            steps,
            &|_| {},
            rcv,
        );
        let top = format!("Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-k{i}\r\n");
        let ours = o.out.replacen(&top, "", 1);
        if krc != o.rc || got != ours {
            mismatches.push(format!(
                "case {name} (rc kamailio {krc}, ours {}):\n--- kamailio\n{got}\n--- ferrosip\n{ours}",
                o.rc
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        CASES.len(),
        mismatches.join("\n")
    );
}
