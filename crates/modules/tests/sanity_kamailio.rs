//! Differential test against Kamailio 5.6.3 for sanity, siputils, kex and corex: each case runs
//! calls in `request_route` on one request (`autodrop` 0 so failures are visible); Kamailio logs
//! the return code and `$ru` with `xlog`, and any reply it sends reaches the test socket. Compared
//! with ferrosip: the return code, the R-URI, the first Contact after `msg_apply_changes()`, a
//! variable, and any reply byte for byte (to-tag and `Unsupported:` included).
//! Replies sent to Kamailio run `sanity_check`/`is_reply`/`is_first_hop` in its core `reply_route`
//! (`RouteType::CoreOnReply` here); their return codes are compared and nothing may be sent.
//!
//! sip_p_charging_vector: 5.6's code differs from 6.0's (no per-message reset: `$pcv` without a
//! header shows the previous message's data; `r` returns 1 and `$pcv` keeps the removed value);
//! only the cases where both versions behave alike are compared, 6.0's behaviour is in the table
//! tests.
//!
//! One Kamailio with one UDP worker on 127.0.0.1:<free port> serves every case (dispatch on the
//! Call-ID). Without Kamailio the test is skipped, unless `CI` is set, where it fails.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{ModValue, Proto, RecvInfo, RouteType};

/// (name, replacements on the base request, calls)
type Case = (
    &'static str,
    &'static [(&'static str, &'static str)],
    &'static [(&'static str, &'static [&'static str])],
);

const CASES: &[Case] = &[
    ("sanity-good", &[], &[("sanity_check", &["32767", "15"])]),
    ("sanity-default", &[], &[("sanity_check", &[])]),
    ("sanity-scheme", &[("INVITE sip:bob", "INVITE foo:bob")], &[("sanity_check", &["2"])]),
    ("sanity-cseq-method", &[("CSeq: 1 INVITE", "CSeq: 1 BYE")], &[("sanity_check", &["32"])]),
    ("sanity-cseq-value", &[("CSeq: 1 INVITE", "CSeq: 99999999999 INVITE")], &[("sanity_check", &["64"])]),
    ("sanity-cl", &[("Content-Length: 11", "Content-Length: 12")], &[("sanity_check", &["128"])]),
    ("sanity-expires", &[("Subject:", "Expires: 12x\r\nSubject:")], &[("sanity_check", &["256"])]),
    ("sanity-expires-ok", &[("Subject:", "Expires: 3600\r\nSubject:")], &[("sanity_check", &["256"])]),
    ("sanity-proxy-require", &[("Subject:", "Proxy-Require: foo\r\nSubject:")], &[("sanity_check", &["512"])]),
    ("sanity-from-uri", &[("From: <sip:alice@example.com>", "From: <sip:alice@>")], &[("sanity_check", &["1024", "2"])]),
    ("sanity-contact-uri", &[("Contact: <sip:alice@10.0.0.1:5070>", "Contact: <sip:alice@10.0.0.1:99999>")], &[("sanity_check", &["1024", "8"])]),
    ("sanity-digest-basic", &[("Subject:", "Authorization: Basic YTpi\r\nSubject:")], &[("sanity_check", &["2048"])]),
    ("sanity-authz-basic", &[("Subject:", "Authorization: Basic YTpi\r\nSubject:")], &[("sanity_check", &["8192"])]),
    ("sanity-digest-no-nonce", &[("Subject:", "Authorization: Digest username=\"a\", realm=\"r\", uri=\"sip:b@c\", response=\"1\"\r\nSubject:")], &[("sanity_check", &["2048"])]),
    ("sanity-digest-empty-user", &[("Subject:", "Authorization: Digest username=\"\", realm=\"r\", nonce=\"n\", uri=\"sip:b@c\", response=\"1\"\r\nSubject:")], &[("sanity_check", &["2048"])]),
    ("sanity-duptags", &[(";tag=a1", ";tag=a1;tag=a2")], &[("sanity_check", &["4096"])]),
    ("sanity-range", &[], &[("sanity_check", &["32768"])]),
    ("has-totag", &[], &[("has_totag", &[])]),
    ("is-first-hop", &[], &[("is_first_hop", &[])]),
    ("uri-param", &[("INVITE sip:bob@example.com", "INVITE sip:bob@example.com;lr;x=1")], &[("uri_param", &["x", "1"])]),
    ("uri-param-novalue", &[("INVITE sip:bob@example.com", "INVITE sip:bob@example.com;lr;x=1")], &[("uri_param", &["x"])]),
    ("uri-param-any", &[("INVITE sip:bob@example.com", "INVITE sip:bob@example.com;lr;x=1")], &[("uri_param_any", &["LR"])]),
    ("add-uri-param", &[], &[("add_uri_param", &["nat=yes"])]),
    ("uri-param-rm", &[("INVITE sip:bob@example.com", "INVITE sip:bob@example.com;lr;x=1")], &[("uri_param_rm", &["lr"])]),
    ("is-uri", &[], &[("is_uri", &["sip:a@b"])]),
    ("is-tel", &[], &[("is_tel_number", &["+0123"])]),
    ("is-numeric", &[], &[("is_numeric", &["0123"])]),
    ("is-alphanum", &[], &[("is_alphanum", &["ab-1"])]),
    ("is-alphanumex", &[], &[("is_alphanumex", &["ab-1", "-"])]),
    ("cmp-uri", &[], &[("cmp_uri", &["sip:bob@EXAMPLE.com", "sip:bob@example.com"])]),
    ("cmp-uri-user-param", &[], &[("cmp_uri", &["sip:bob@example.com;user=phone", "sip:bob@example.com"])]),
    ("cmp-aor", &[], &[("cmp_aor", &["sip:bob@example.com:5060", "sip:bob@example.com"])]),
    ("cmp-aor-bad", &[], &[("cmp_aor", &["x", "sip:bob@example.com"])]),
    ("cmp-hdr-name", &[], &[("cmp_hdr_name", &["f", "From"])]),
    ("cmp-hdr-name-diff", &[], &[("cmp_hdr_name", &["To", "From"])]),
    ("is-gruu", &[], &[("is_gruu", &["sip:a@b;gr"])]),
    ("is-supported", &[("Subject:", "Supported: timer, 100rel\r\nSubject:")], &[("is_supported", &["100rel"])]),
    ("hdr-date-old", &[("Subject:", "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\nSubject:")], &[("hdr_date_check", &["10"])]),
    ("setsflag", &[], &[("setsflag", &["3"]), ("issflagset", &["3"])]),
    ("setsflag-range", &[], &[("setsflag", &["32"])]),
    ("setbflag-branch", &[], &[("append_branch", &["sip:c@d"]), ("setbflag", &["2", "1"]), ("isbflagset", &["2", "1"])]),
    ("setbflag-nobranch", &[], &[("setbflag", &["2", "1"])]),
    ("isdsturiset", &[], &[("setdsturi", &["sip:10.0.0.9"]), ("isdsturiset", &[])]),
    ("resetdsturi", &[], &[("setdsturi", &["sip:10.0.0.9"]), ("resetdsturi", &[]), ("isdsturiset", &[])]),
    ("append-branch-q", &[], &[("append_branch", &["sip:c@d", "0.5"])]),
    ("append-branch-badq", &[], &[("append_branch", &["sip:c@d", "1.5"])]),
    ("setxflag", &[], &[("setxflag", &["40"]), ("isxflagset", &["40"])]),
    ("is-faked", &[], &[("is_faked_msg", &[])]),
    ("append-branch-302", &[], &[("append_branch", &["sip:carol@example.org", "0.5"]), ("append_branch", &["sip:dave@example.org"]), ("sl_send_reply", &["302", "Moved"])]),
    ("append-branch-ruri-302", &[], &[("setbflag", &["2"]), ("append_branch", &[]), ("append_branch", &["sip:dave@example.org", "1"]), ("sl_send_reply", &["302", "Moved"])]),
    ("is-myself-uri", &[], &[("is_myself", &["sip:127.0.0.1"])]),
    ("is-myself-host", &[], &[("is_myself", &["127.0.0.1"])]),
    ("is-myself-other", &[], &[("is_myself", &["sip:10.9.9.9"])]),
    ("options-reply", &[("INVITE sip:bob@example.com", "OPTIONS sip:example.com"), ("CSeq: 1 INVITE", "CSeq: 1 OPTIONS")], &[("options_reply", &[])]),
    ("options-reply-user", &[("INVITE sip:bob@example.com", "OPTIONS sip:bob@example.com"), ("CSeq: 1 INVITE", "CSeq: 1 OPTIONS")], &[("options_reply", &[])]),
    ("options-reply-invite", &[], &[("options_reply", &[])]),
    ("sanity-proxy-require-two", &[("Subject:", "Proxy-Require: foo, bar\r\nSubject:")], &[("sanity_check", &["512"])]),
    ("pcv-fields", &[("Subject:", "P-Charging-Vector: icid-value=AyretyU0dm;icid-generated-at=192.0.6.8;orig-ioi=home1.net\r\nSubject:")], &[("pv_printf", &["$var(t)", "$pcv(value)|$pcv(genaddr)|$pcv(orig)|$pcv(term)|$pcv(all)"])]),
    ("pcv-keep", &[("Subject:", "P-Charging-Vector: icid-value=AyretyU0dm;icid-generated-at=192.0.6.8;orig-ioi=home1.net\r\nSubject:")], &[("sip_p_charging_vector", &["g"])]),
    ("pcv-no-icid", &[("Subject:", "P-Charging-Vector: orig-ioi=x\r\nSubject:")], &[("pv_printf", &["$var(t)", "$pcv(value)"])]),
    ("pcv-remove-absent", &[], &[("sip_p_charging_vector", &["r"])]),
    ("tel2sip", &[], &[("tel2sip", &["tel:+12-(34)-56-78;Ext=200;ISUB=+123-456", "foo.com", "$var(t)"])]),
    ("tel2sip-not-tel", &[], &[("tel2sip", &["sip:a@b", "foo.com", "$var(t)"])]),
    ("pv-printf", &[], &[("pv_printf", &["$var(t)", "a-$var(t)-b"])]),
    ("get-uri-param", &[("INVITE sip:bob@example.com", "INVITE sip:bob@example.com;lr;x=1")], &[("get_uri_param", &["x", "$var(t)"])]),
    ("set-uri-user", &[], &[("pv_printf", &["$var(t)", "sip:a@b.c:5060;p=1"]), ("pv_printf", &["$var(u)", "zed"]),
            ("set_uri_user", &["$var(t)", "$var(u)"])]),
    ("set-uri-host", &[], &[("pv_printf", &["$var(t)", "sip:a@b.c:5060;p=1"]), ("pv_printf", &["$var(u)", "d.e"]),
            ("set_uri_host", &["$var(t)", "$var(u)"])]),
    ("is-e164", &[], &[("pv_printf", &["$var(t)", "+4930123"]), ("is_e164", &["$var(t)"])]),
    ("is-uri-user-e164", &[], &[("pv_printf", &["$var(t)", "sip:+4930123@x"]), ("is_uri_user_e164", &["$var(t)"])]),
    ("encode-contact", &[], &[("encode_contact", &["nat", "1.2.3.4"])]),
    ("encode-contact-tcp", &[("10.0.0.1:5070>", "10.0.0.1:5070;transport=tcp;ob>")], &[("encode_contact", &["nat", "1.2.3.4"])]),
    ("decode-contact", &[("INVITE sip:bob@example.com", "INVITE sip:nat*bob*pw*10.0.0.5*5071*tcp@1.2.3.4;lr")], &[("decode_contact", &[])]),
    ("decode-contact-bad", &[("INVITE sip:bob@example.com", "INVITE sip:nat*bob@1.2.3.4")], &[("decode_contact", &[])]),
    ("decode-contact-header", &[("<sip:alice@10.0.0.1:5070>", "<sip:nat*alice**10.0.0.1*5070*@1.2.3.4>")], &[("decode_contact_header", &[])]),
    ("contact-param-encode", &[], &[("contact_param_encode", &["ksu", "sip:1.2.3.4:5060;transport=tcp"])]),
    ("contact-param-encode-bare", &[("Contact: <sip:alice@10.0.0.1:5070>", "Contact: sip:alice@10.0.0.1:5070")], &[("contact_param_encode", &["ksu", "sip:1.2.3.4"])]),
    ("contact-param-decode", &[("<sip:alice@10.0.0.1:5070>", "<sip:1.2.3.4;ksu=c2lwOmFsaWNlQDEwLjAuMC4xOjUwNzA>")], &[("contact_param_decode", &["ksu"])]),
    ("contact-param-decode-ruri", &[("INVITE sip:bob@example.com", "INVITE sip:1.2.3.4;ksu=c2lwOmFsaWNlQDEwLjAuMC4xOjUwNzA")], &[("contact_param_decode_ruri", &["ksu"])]),
    ("contact-param-rm", &[("10.0.0.1:5070>", "10.0.0.1:5070;a=1;ob;b>")], &[("contact_param_rm", &["ob"])]),
];

/// sanity_check in the core reply_route on `SIP/2.0 200 OK` replies: (name, replacements, args).
const REPLY_CASES: &[Case] = &[
    ("reply-default", &[], &[("sanity_check", &[])]),
    ("reply-version", &[], &[("sanity_check", &["1"])]),
    ("reply-scheme", &[], &[("sanity_check", &["2"])]),
    ("reply-headers", &[], &[("sanity_check", &["4"])]),
    ("reply-cseq-method", &[], &[("sanity_check", &["32"])]),
    ("reply-cseq-value", &[], &[("sanity_check", &["64"])]),
    ("reply-cl", &[], &[("sanity_check", &["128"])]),
    (
        "reply-cl-bad",
        &[("Content-Length: 0", "Content-Length: 5")],
        &[("sanity_check", &["128"])],
    ),
    ("reply-uris", &[], &[("sanity_check", &["1024", "7"])]),
    ("reply-duptags", &[], &[("sanity_check", &["4096"])]),
    ("reply-is-reply", &[], &[("is_reply", &[])]),
    ("reply-first-hop", &[], &[("is_first_hop", &[])]),
];

fn reply_msg(i: usize, cport: u16, reps: &[(&str, &str)]) -> String {
    let mut s = format!(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-r{i}\r\n\
From: <sip:alice@example.com>;tag=a1\r\nTo: <sip:bob@example.com>;tag=b1\r\n\
Call-ID: reply-{i}\r\nCSeq: 1 INVITE\r\nContact: <sip:bob@10.0.0.2>\r\nContent-Length: 0\r\n\r\n"
    );
    for (a, b) in reps {
        s = s.replacen(a, b, 1);
    }
    s
}

fn config(port: u16) -> String {
    let mut replies = String::new();
    for (i, c) in REPLY_CASES.iter().enumerate() {
        replies.push_str(&format!("\tif ($ci == \"reply-{i}\") {{\n"));
        for (f, args) in c.2 {
            let a: Vec<String> = args.iter().map(|x| format!("\"{}\"", cfg_str(x))).collect();
            replies.push_str(&format!("\t\t{f}({});\n", a.join(", ")));
        }
        replies.push_str(&format!(
            "\t\txlog(\"L_ERR\", \"@@R{i}R@@$rc@@\\n\");\n\t\tdrop;\n\t}}\n"
        ));
    }
    let mut body = String::new();
    for (i, c) in CASES.iter().enumerate() {
        body.push_str(&format!(
            "\tif ($ci == \"case-{i}\") {{\n\t\t$var(t) = 0;\n"
        ));
        for (f, args) in c.2 {
            let a: Vec<String> = args.iter().map(|x| format!("\"{}\"", cfg_str(x))).collect();
            body.push_str(&format!("\t\t{f}({});\n", a.join(", ")));
        }
        body.push_str(&format!(
            "\t\t$var(rc) = $rc;\n\t\tmsg_apply_changes();\n\t\txlog(\"L_ERR\", \"@@K{i}K@@$var(rc)@@$ru@@$hdr(Contact)@@$var(t)@@\\n\");\n\t\texit;\n\t}}\n"
        ));
    }
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nserver_signature=no\n\
         listen=udp:127.0.0.1:{port}\nmpath=\"{MPATH}\"\n\
         loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"siputils.so\"\n\
         loadmodule \"sanity.so\"\nloadmodule \"kex.so\"\nloadmodule \"corex.so\"\nloadmodule \"textopsx.so\"\n\
         modparam(\"sanity\", \"autodrop\", 0)\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n{body}\texit;\n}}\n\
         reply_route {{\n{replies}\tdrop;\n}}\n"
    )
}

#[test]
fn kamailio_56_agrees() {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap_or_else(|e| panic!("{e}"));
    let cport = client
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let Some(mut kam) = Kamailio::start(&config(port), port, &client, "sanity") else {
        return;
    };
    let reg = registry(&[("sanity", "autodrop", ModValue::Int(0))]);
    let dst = format!("127.0.0.1:{port}");
    let rcv = RecvInfo {
        src: client.local_addr().unwrap_or_else(|e| panic!("{e}")),
        dst: dst.parse().unwrap_or_else(|e| panic!("{e}")),
        proto: Proto::Udp,
        socket: 0,
    };
    let mut mismatches = Vec::new();
    for (i, c) in CASES.iter().enumerate() {
        let mut req = INVITE
            .replace("Call-ID: c1@10.0.0.1", &format!("Call-ID: case-{i}"))
            .replace("10.0.0.1:5070;branch", &format!("127.0.0.1:{cport};branch"));
        for (a, b) in c.1 {
            assert!(req.contains(a), "{}: {a:?}", c.0);
            req = req.replacen(a, b, 1);
        }
        client
            .send_to(req.as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        let marker = format!("@@K{i}K@@");
        assert!(
            kam.wait_for(&marker, Duration::from_secs(5)),
            "no output for {}:\n{}",
            c.0,
            kam.text()
        );
        let text = kam.text();
        let mut parts = text.split(&marker).nth(1).unwrap_or("").split("@@");
        let krc: i64 = parts
            .next()
            .and_then(|r| r.parse().ok())
            .unwrap_or(i64::MIN);
        let kru = parts.next().unwrap_or("").to_string();
        let kct = parts.next().unwrap_or("").to_string();
        let kvar = parts.next().unwrap_or("").to_string();
        assert!(
            kct.starts_with('<') || kct.starts_with("sip:"),
            "{}: no Contact logged ({kct:?})",
            c.0
        );
        let mut buf = vec![0u8; 65536];
        let kreply = match client.recv_from(&mut buf) {
            Ok((n, _)) => String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned(),
            Err(_) => String::new(),
        };
        // 127.0.0.1 is ours on both sides (no port-specific case: the ports differ).
        let o = call_full_myself(&reg, req.as_bytes(), c.2, rcv);
        let ours_reply = o.sent.first().map(|s| s.1.clone()).unwrap_or_default();
        // Kamailio's `$ru` is `<null>` when the R-URI does not parse; the harness prints the raw
        // R-URI (that is the pv module's business, not these modules').
        let ru_differs = kru != o.ruri && !(kru == "<null>" && c.0 == "sanity-scheme");
        // The first Contact after the edits (Kamailio: `$hdr(Contact)` after msg_apply_changes()).
        let ct = o
            .out
            .split("\r\n")
            .find_map(|l| l.strip_prefix("Contact: "))
            .unwrap_or("<null>")
            .to_string();
        let var = read_vars(&reg, &req, c.2, &["t"])
            .first()
            .map(|v| v.to_text())
            .unwrap_or_default();
        if krc != o.rc || ru_differs || kreply != ours_reply || kct != ct || kvar != var {
            mismatches.push(format!(
                "case {}: kamailio rc {krc} ru {kru} ct {kct} reply {kreply:?}; ours rc {} ru {} ct {ct} reply {ours_reply:?} (var t: kamailio {kvar:?}, ours {var:?})",
                c.0, o.rc, o.ruri
            ));
        }
    }
    // Replies through the core reply_route: no reply is ever sent, only return codes compared.
    for (i, c) in REPLY_CASES.iter().enumerate() {
        let rep = reply_msg(i, cport, c.1);
        client
            .send_to(rep.as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        let marker = format!("@@R{i}R@@");
        assert!(
            kam.wait_for(&marker, Duration::from_secs(5)),
            "no output for {}:\n{}",
            c.0,
            kam.text()
        );
        let text = kam.text();
        let krc: i64 = text
            .split(&marker)
            .nth(1)
            .and_then(|r| r.split("@@").next())
            .and_then(|r| r.parse().ok())
            .unwrap_or(i64::MIN);
        let o = call_full(
            &reg,
            rep.as_bytes(),
            RouteType::CoreOnReply,
            3,
            c.2,
            &|_| {},
            rcv,
        );
        if krc != o.rc || !o.sent.is_empty() {
            mismatches.push(format!(
                "reply case {}: kamailio rc {krc}; ours rc {} (sent {})",
                c.0,
                o.rc,
                o.sent.len()
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

/// Modparams other than the defaults, on a second Kamailio: `noreply` + `sanity_reply()`,
/// `autodrop` 0 (so `sanity_reply()` runs after a failed check), `proxy_require`,
/// `default_checks`, `uri_checks` and the `options_*` headers.
const MODPARAM_CASES: &[Case] = &[
    (
        "noreply-then-reply",
        &[("CSeq: 1 INVITE", "CSeq: 1 BYE")],
        &[("sanity_check", &["32"]), ("sanity_reply", &[])],
    ),
    ("noreply-none-then-reply", &[], &[("sanity_reply", &[])]),
    (
        "noreply-silent",
        &[("CSeq: 1 INVITE", "CSeq: 1 BYE")],
        &[("sanity_check", &[])],
    ),
    (
        "proxy-require-known",
        &[("Subject:", "Proxy-Require: foo, bar\r\nSubject:")],
        &[("sanity_check", &["512"])],
    ),
    (
        "proxy-require-unknown",
        &[("Subject:", "Proxy-Require: foo, baz\r\nSubject:")],
        &[("sanity_check", &["512"]), ("sanity_reply", &[])],
    ),
    (
        "default-checks-1",
        &[("CSeq: 1 INVITE", "CSeq: 1 BYE")],
        &[("sanity_check", &[])],
    ),
    (
        "uri-checks-contact",
        &[(
            "Contact: <sip:alice@10.0.0.1:5070>",
            "Contact: <sip:alice@10.0.0.1:99999>",
        )],
        &[("sanity_check", &["1024"]), ("sanity_reply", &[])],
    ),
    (
        "options-headers",
        &[
            ("INVITE sip:bob@example.com", "OPTIONS sip:example.com"),
            ("CSeq: 1 INVITE", "CSeq: 1 OPTIONS"),
        ],
        &[("options_reply", &[])],
    ),
];

#[test]
fn kamailio_56_agrees_with_modparams() {
    let params: &[(&str, &str, ModValue)] = &[
        ("sanity", "noreply", ModValue::Int(1)),
        ("sanity", "autodrop", ModValue::Int(0)),
        ("sanity", "proxy_require", ModValue::Str("foo, bar".into())),
        ("sanity", "default_checks", ModValue::Int(1)),
        ("sanity", "uri_checks", ModValue::Int(8)),
        (
            "siputils",
            "options_accept",
            ModValue::Str("application/sdp".into()),
        ),
        (
            "siputils",
            "options_support",
            ModValue::Str("100rel, timer".into()),
        ),
        (
            "siputils",
            "options_accept_language",
            ModValue::Str("de".into()),
        ),
    ];
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_millis(150)))
        .unwrap_or_else(|e| panic!("{e}"));
    let cport = client
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let mut body = String::new();
    for (i, c) in MODPARAM_CASES.iter().enumerate() {
        body.push_str(&format!(
            "\tif ($ci == \"case-{i}\") {{\n\t\txlog(\"L_ERR\", \"@@S{i}S@@\\n\");\n"
        ));
        for (f, args) in c.2 {
            let a: Vec<String> = args.iter().map(|x| format!("\"{}\"", cfg_str(x))).collect();
            body.push_str(&format!("\t\t{f}({});\n", a.join(", ")));
        }
        body.push_str(&format!(
            "\t\txlog(\"L_ERR\", \"@@K{i}K@@$rc@@\\n\");\n\t\texit;\n\t}}\n"
        ));
    }
    let mut mp = String::new();
    for (m, n, v) in params {
        match v {
            ModValue::Int(i) => mp.push_str(&format!("modparam(\"{m}\", \"{n}\", {i})\n")),
            ModValue::Str(s) => mp.push_str(&format!("modparam(\"{m}\", \"{n}\", \"{s}\")\n")),
        }
    }
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nserver_signature=no\n\
         listen=udp:127.0.0.1:{port}\nmpath=\"{MPATH}\"\n\
         loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"siputils.so\"\n\
         loadmodule \"sanity.so\"\nloadmodule \"kex.so\"\nloadmodule \"corex.so\"\n{mp}\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n{body}\texit;\n}}\n"
    );
    let Some(mut kam) = Kamailio::start(&cfg, port, &client, "modparams") else {
        return;
    };
    let reg = registry(params);
    let dst = format!("127.0.0.1:{port}");
    let rcv = RecvInfo {
        src: client.local_addr().unwrap_or_else(|e| panic!("{e}")),
        dst: dst.parse().unwrap_or_else(|e| panic!("{e}")),
        proto: Proto::Udp,
        socket: 0,
    };
    let mut mismatches = Vec::new();
    let mut replies = 0;
    for (i, c) in MODPARAM_CASES.iter().enumerate() {
        let mut req = INVITE
            .replace("Call-ID: c1@10.0.0.1", &format!("Call-ID: case-{i}"))
            .replace("10.0.0.1:5070;branch", &format!("127.0.0.1:{cport};branch"));
        for (a, b) in c.1 {
            assert!(req.contains(a), "{}: {a:?}", c.0);
            req = req.replacen(a, b, 1);
        }
        client
            .send_to(req.as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        let start = format!("@@S{i}S@@");
        assert!(
            kam.wait_for(&start, Duration::from_secs(5)),
            "no output for {}:\n{}",
            c.0,
            kam.text()
        );
        // The rc line is missing when the script stopped (autodrop): wait briefly for it.
        let marker = format!("@@K{i}K@@");
        let krc: Option<i64> = if kam.wait_for(&marker, Duration::from_millis(300)) {
            kam.text()
                .split(&marker)
                .nth(1)
                .and_then(|r| r.split("@@").next())
                .and_then(|r| r.parse().ok())
        } else {
            None
        };
        let mut buf = vec![0u8; 65536];
        let kreply = match client.recv_from(&mut buf) {
            Ok((n, _)) => String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned(),
            Err(_) => String::new(),
        };
        let o = call_full(
            &reg,
            req.as_bytes(),
            RouteType::Request,
            3,
            c.2,
            &|_| {},
            rcv,
        );
        // Ours: the runner does not stop after a 0, so a stop shows as rc 0 of the stopping call.
        let stopped_at =
            c.2.iter()
                .enumerate()
                .find(|(k, _)| {
                    let prefix: Vec<(&str, &[&str])> =
                        c.2.iter().take(k + 1).map(|(f, a)| (*f, *a)).collect();
                    call_full(
                        &reg,
                        req.as_bytes(),
                        RouteType::Request,
                        3,
                        &prefix,
                        &|_| {},
                        rcv,
                    )
                    .rc == 0
                })
                .map(|(k, _)| k);
        let ours_rc = match stopped_at {
            Some(_) => None,
            None => Some(o.rc),
        };
        let ours_reply = match stopped_at {
            Some(k) => {
                let prefix: Vec<(&str, &[&str])> =
                    c.2.iter().take(k + 1).map(|(f, a)| (*f, *a)).collect();
                call_full(
                    &reg,
                    req.as_bytes(),
                    RouteType::Request,
                    3,
                    &prefix,
                    &|_| {},
                    rcv,
                )
                .sent
                .first()
                .map(|s| s.1.clone())
                .unwrap_or_default()
            }
            None => o.sent.first().map(|s| s.1.clone()).unwrap_or_default(),
        };
        replies += usize::from(!kreply.is_empty());
        if krc != ours_rc || kreply != ours_reply {
            mismatches.push(format!(
                "case {}: kamailio rc {krc:?} reply {kreply:?}; ours rc {ours_rc:?} reply {ours_reply:?}",
                c.0
            ));
        }
    }
    // sanity_reply(): 400 CSeq, 500 without stored reply, 420 with Unsupported, 400 Bad Contact
    // URI; and the OPTIONS 200.
    assert_eq!(replies, 5, "replies seen from Kamailio");
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        MODPARAM_CASES.len(),
        mismatches.join("\n")
    );
}
