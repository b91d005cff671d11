//! Network input never panics a worker: every implemented function of sanity, siputils, kex and
//! corex runs on the RFC 4475/5118 torture messages and on every 9th PROTOS c07-sip case
//! (`../shared/corpus/`), in request_route and in the core reply_route. Replies they send must be
//! well formed. Skipped when the corpus is absent, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::path::Path;

const CORPUS: &str = "../../../shared/corpus";

use ferrosip_api::{Proto, RecvInfo, RouteType};

/// Calls run on every message, one at a time.
const CALLS: &[(&str, &[&str])] = &[
    ("sanity_check", &["32767", "15"]),
    ("sanity_check", &[]),
    ("sanity_reply", &[]),
    ("has_totag", &[]),
    ("is_first_hop", &[]),
    ("is_first_hop", &["1"]),
    ("uri_param", &["lr"]),
    ("uri_param", &["transport", "tcp"]),
    ("uri_param_any", &["user"]),
    ("add_uri_param", &["nat=yes"]),
    ("get_uri_param", &["transport", "$var(x)"]),
    ("uri_param_rm", &["transport"]),
    ("tel2sip", &["tel:+1-800", "x.org", "$var(x)"]),
    (
        "tel2sip2",
        &["tel:+1-800;phone-context=x.org", "x.org", "$var(x)"],
    ),
    ("is_uri", &["$var(x)"]),
    ("cmp_uri", &["sip:a@b", "$var(x)"]),
    ("cmp_aor", &["sip:a@b", "$var(x)"]),
    ("is_gruu", &[]),
    ("is_supported", &["100rel"]),
    ("contact_param_encode", &["ksu", "sip:127.0.0.1"]),
    ("contact_param_decode", &["ksu"]),
    ("contact_param_decode_ruri", &["ksu"]),
    ("contact_param_rm", &["expires"]),
    ("contact_param_check", &["expires"]),
    ("encode_contact", &["nat", "127.0.0.1"]),
    ("decode_contact", &[]),
    ("decode_contact_header", &[]),
    ("hdr_date_check", &["10"]),
    ("sip_parse_headers", &[]),
    ("sip_p_charging_vector", &["f"]),
    ("options_reply", &[]),
    ("append_rpid_hf", &[]),
    ("setbflag", &["3", "1"]),
    ("append_branch", &[]),
    ("append_branch", &["sip:x@127.0.0.1", "0.5"]),
    ("send_udp", &[]),
    ("setxflag", &["63"]),
    ("is_myself", &["sip:127.0.0.1"]),
];

#[test]
fn corpus_never_panics_and_replies_are_well_formed() {
    let Some(messages) = corpus(9) else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the corpus is missing"
        );
        eprintln!("skipped: corpus not found");
        return;
    };
    let reg = registry(&[]);
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        proto: Proto::Udp,
        socket: 0,
    };
    let (mut parsed, mut rejected, mut replies) = (0usize, 0usize, 0usize);
    for m in &messages {
        if ferrosip_sipmsg::Msg::parse(m.clone()).is_err() {
            continue;
        }
        parsed += 1;
        let route = if m.starts_with(b"SIP/") {
            RouteType::CoreOnReply
        } else {
            RouteType::Request
        };
        for call in CALLS {
            let o = call_full(&reg, m, route, 3, &[*call], &|_| {}, rcv);
            if call.0 == "sanity_check" && call.1.len() == 2 && o.rc != 1 {
                rejected += 1;
            }
            for (_, r) in &o.sent {
                if call.0 == "send_udp" {
                    continue;
                }
                replies += 1;
                // The status line copies the request's version token, as Kamailio does.
                let code = r.split("\r\n").next().and_then(|l| l.split(' ').nth(1));
                assert!(
                    code.is_some_and(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit())),
                    "{}: {r}",
                    call.0
                );
                assert!(r.contains("\r\n\r\n"), "{}: {r}", call.0);
            }
        }
    }
    eprintln!(
        "{} messages, {parsed} parsed, {rejected} rejected by sanity_check(32767, 15), {replies} replies",
        messages.len()
    );
    assert!(parsed > 400, "only {parsed} messages parsed");
    assert!(rejected > 0 && rejected < parsed);
}

/// `sanity_check()` (default checks) and `sanity_check(32767, 15)` (`autodrop` 0) on every torture
/// request and a sample of PROTOS INVITEs, in Kamailio 5.6.3 and here: where Kamailio runs the script, the return codes must agree. Messages Kamailio drops
/// before the script (its parser refuses them) are listed, not compared: that is the parser's and
/// the server's business, not sanity's.
#[test]
fn torture_requests_agree_with_kamailio() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(CORPUS)
        .join("torture");
    if !dir.is_dir() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI is set and the corpus is missing"
        );
        return;
    }
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nserver_signature=no\n\
         listen=udp:127.0.0.1:{port}\nmpath=\"{MPATH}\"\n\
         loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"sanity.so\"\n\
         modparam(\"sanity\", \"autodrop\", 0)\nmodparam(\"sanity\", \"noreply\", 1)\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \tsanity_check();\n\t$var(a) = $rc;\n\tsanity_check(\"32767\", \"15\");\n\txlog(\"L_ERR\", \"@@T$var(a)@@$rc@@\\n\");\n\texit;\n}}\n"
    );
    let Some(kam) = Kamailio::start(&cfg, port, &client, "torture") else {
        return;
    };
    let reg = registry(&[
        ("sanity", "autodrop", ferrosip_api::ModValue::Int(0)),
        ("sanity", "noreply", ferrosip_api::ModValue::Int(1)),
    ]);
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        proto: Proto::Udp,
        socket: 0,
    };
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    names.sort();
    let mut inputs: Vec<(String, Vec<u8>)> = names
        .iter()
        .filter_map(|p| {
            let name = p.file_name()?.to_string_lossy().into_owned();
            Some((name, std::fs::read(p).ok()?))
        })
        .collect();
    // A sample of PROTOS (every 3rd message of the corpus(9) sample, which already
    // takes every 9th case).
    if let Some(all) = corpus(9) {
        for (k, m) in all.into_iter().enumerate().filter(|(k, _)| k % 3 == 0) {
            if m.starts_with(b"INVITE") {
                inputs.push((format!("protos#{k}"), m));
            }
        }
    }
    let (mut compared, mut dropped, mut mismatches) = (0, Vec::new(), Vec::new());
    for (name, m) in inputs {
        if m.starts_with(b"SIP/") {
            continue;
        }
        let seen = kam.text().matches("@@T").count();
        let _ = client.send_to(&m, format!("127.0.0.1:{port}"));
        let start = std::time::Instant::now();
        while kam.text().matches("@@T").count() == seen
            && start.elapsed() < std::time::Duration::from_millis(400)
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let text = kam.text();
        let mut fields = text
            .split("@@T")
            .nth(seen + 1)
            .unwrap_or("")
            .split("@@")
            .map(|r| r.parse::<i64>().ok());
        let (Some(Some(k1)), Some(Some(k2))) = (fields.next(), fields.next()) else {
            dropped.push(name);
            continue;
        };
        let ours = |args: &[&str]| {
            if ferrosip_sipmsg::Msg::parse(m.clone()).is_ok() {
                call_full(
                    &reg,
                    &m,
                    RouteType::Request,
                    3,
                    &[("sanity_check", args)],
                    &|_| {},
                    rcv,
                )
                .rc
            } else {
                i64::MIN
            }
        };
        let (o1, o2) = (ours(&[]), ours(&["32767", "15"]));
        compared += 1;
        if (o1, o2) != (k1, k2) {
            mismatches.push(format!(
                "{name}: kamailio {k1}/{k2}, ours {o1}/{o2} (default / all checks)"
            ));
        }
    }
    eprintln!("compared {compared}; dropped by Kamailio before the script: {dropped:?}");
    assert!(compared > 20, "only {compared} compared");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// Cost of one `sanity_check()` on the harness INVITE (prints only; run with
/// `cargo test --release -p ferrosip-modules --test sanity_robust -- --ignored --nocapture`).
#[test]
#[ignore]
fn sanity_check_cost() {
    let reg = registry(&[]);
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        proto: Proto::Udp,
        socket: 0,
    };
    for args in [&[][..], &["32767", "15"][..]] {
        let (h, a) = prepare(&reg, "sanity_check", args).unwrap_or_else(|e| panic!("{e}"));
        let n = 20_000u32;
        let mut total = std::time::Duration::ZERO;
        for _ in 0..n {
            // A fresh message each time: the typed parses are cached per message.
            let mut m = ferrosip_sipmsg::Msg::parse(INVITE.as_bytes().to_vec())
                .unwrap_or_else(|e| panic!("{e}"));
            let mut w = ferrosip_api::WorkerState::default();
            let mut rec = ferrosip_api::Recorder::default();
            let mut ctx = ferrosip_api::Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
                .unwrap_or_else(|e| panic!("{e}"));
            let t = std::time::Instant::now();
            let rc = h(&mut ctx, &a).map(|r| r.0).unwrap_or(-99);
            total += t.elapsed();
            assert_eq!(rc, 1);
        }
        eprintln!("sanity_check{args:?}: {:?} per call", total / n);
    }
}
