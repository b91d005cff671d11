//! sl's reply API for other modules (`ferrosip_modules::sl::SlReply`, Kamailio's `sl_load_api`):
//! replies of sanity, siputils' `options_reply` and auth's challenges are counted in sl's
//! statistics, open sl's ACK window (an ACK to sanity's 400 is absorbed) and run the reply-out
//! hooks; the modules are refused at load without sl, in any load order with it.
//!
//! The statistics are compared with Kamailio 5.6.3 on the same sequence of requests: Kamailio
//! logs its `$stat(...)` values at the end, ferrosip's come from sl's API. Without Kamailio the
//! comparison is skipped (it fails under `CI`); ferrosip's own numbers are asserted either way.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::net::UdpSocket;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ferrosip_api::{store, ModValue, ModuleExports, Proto, RecvInfo, Registry, RouteType};
use ferrosip_modules::sl::{SlApi, STAT_NAMES};

/// The modules of the test, in this order, with sanity's `autodrop` 0.
fn registry_of(names: &[&str]) -> Result<Registry, String> {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::var_avp_pvs();
    core.pvs.extend(store::core_pvs());
    reg.add(core).map_err(|e| e.to_string())?;
    for n in names {
        let m = match *n {
            "sl" => ferrosip_modules::sl::exports(),
            "sanity" => ferrosip_modules::sanity::exports(),
            "siputils" => ferrosip_modules::siputils::exports(),
            "auth" => ferrosip_modules::auth::exports(),
            "xhttp" => ferrosip_modules::xhttp::exports(),
            "xlog" => ferrosip_modules::xlog::exports(),
            other => return Err(format!("no module {other} in this test")),
        };
        reg.add(m).map_err(|e| e.to_string())?;
    }
    if names.contains(&"sanity") {
        reg.set_modparam("sanity", "autodrop", ModValue::Int(0))
            .map_err(|e| e.to_string())?;
    }
    reg.init_all().map_err(|e| e.to_string())?;
    Ok(reg)
}

/// (Call-ID prefix, what the request route calls)
const STEPS: &[(&str, &str, &[&str])] = &[
    ("sanity", "sanity_check", &["128"]),
    ("options", "options_reply", &[]),
    ("www", "www_challenge", &["example.com", "0"]),
    ("proxy", "proxy_challenge", &["example.com", "0"]),
    ("sl", "sl_send_reply", &["404", "Nope"]),
];

/// The request of step `i` (Content-Length too large for sanity's 128 check).
fn request(i: usize, prefix: &str, cport: u16) -> String {
    let (method, ruri, cl) = match prefix {
        "options" => ("OPTIONS", "sip:127.0.0.1", 0),
        "sanity" => ("INVITE", "sip:bob@127.0.0.1", 5),
        _ => ("INVITE", "sip:bob@127.0.0.1", 0),
    };
    format!(
        "{method} {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-s{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{i}\r\nTo: <sip:bob@example.com>\r\n\
Call-ID: {prefix}-{i}\r\nCSeq: 1 {method}\r\nContent-Length: {cl}\r\n\r\n"
    )
}

/// The ACK to a negative reply of [`request`] `i`, with the reply's To header.
fn ack(i: usize, prefix: &str, cport: u16, reply: &str) -> String {
    let to = reply
        .split("\r\n")
        .find(|l| l.starts_with("To:"))
        .unwrap_or("To: <sip:bob@example.com>");
    format!(
        "ACK sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{cport};branch=z9hG4bK-s{i}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a{i}\r\n{to}\r\n\
Call-ID: {prefix}-{i}\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
    )
}

fn config(port: u16) -> String {
    let mut body = String::new();
    for (prefix, f, args) in STEPS {
        let a: Vec<String> = args.iter().map(|x| format!("\"{x}\"")).collect();
        body.push_str(&format!(
            "\tif ($ci =~ \"^{prefix}-\") {{ {f}({}); exit; }}\n",
            a.join(", ")
        ));
    }
    let stats: Vec<String> = STAT_NAMES
        .iter()
        .chain(["sent_replies", "failures", "received_ACKs"].iter())
        .map(|n| format!("{n}=$stat({n})"))
        .collect();
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nserver_signature=no\n\
         listen=udp:127.0.0.1:{port}\nmpath=\"{MPATH}\"\n\
         loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"siputils.so\"\n\
         loadmodule \"sanity.so\"\nloadmodule \"auth.so\"\nloadmodule \"kex.so\"\n\
         modparam(\"sanity\", \"autodrop\", 0)\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \tif ($ci == \"stats\") {{ xlog(\"L_ERR\", \"@@STATS {}@@\\n\"); exit; }}\n\
         \tif ($rm == \"ACK\") {{ xlog(\"L_ERR\", \"@@ACK $ci@@\\n\"); exit; }}\n{body}\texit;\n}}\n",
        stats.join(" ")
    )
}

/// ferrosip's counters as `name=value` words, in the order of [`config`]'s log line.
fn our_stats(reg: &Registry) -> String {
    let s = reg
        .api::<SlApi>()
        .unwrap_or_else(|| panic!("SlApi"))
        .stats();
    let mut words: Vec<String> = s.replies.iter().map(|(n, v)| format!("{n}={v}")).collect();
    words.push(format!("sent_replies={}", s.sent));
    words.push(format!("failures={}", s.failures));
    words.push(format!("received_ACKs={}", s.received_acks));
    words.join(" ")
}

/// Kamailio refuses sanity, siputils, auth and xhttp without sl ("cannot bind to SL API"); with
/// sl they load whether sl comes before or after them.
#[test]
fn refused_without_sl_in_any_order_with_it() {
    for m in ["sanity", "siputils", "auth", "xhttp"] {
        let e = registry_of(&[m]).err().unwrap_or_default();
        assert!(e.contains("cannot bind to SL API"), "{m}: {e}");
        assert!(registry_of(&[m, "sl"]).is_ok(), "{m} before sl");
        assert!(registry_of(&["sl", m]).is_ok(), "{m} after sl");
    }
}

/// Modules loaded before sl still count in sl's statistics (the handle is filled by sl's init).
#[test]
fn counted_when_loaded_before_sl() {
    let reg = registry_of(&["sanity", "siputils", "auth", "sl"]).unwrap_or_else(|e| panic!("{e}"));
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        proto: Proto::Udp,
        socket: 0,
    };
    for (i, (prefix, f, args)) in STEPS.iter().enumerate() {
        let o = call_full(
            &reg,
            request(i, prefix, 5070).as_bytes(),
            RouteType::Request,
            3,
            &[(f, args)],
            &|_| {},
            rcv,
        );
        assert_eq!(o.sent.len(), 1, "{prefix}: {:?}", o.logs);
    }
    let s = our_stats(&reg);
    for want in [
        "200_replies=1",
        "400_replies=1",
        "401_replies=1",
        "404_replies=1",
        "407_replies=1",
        "sent_replies=5",
        "failures=0",
    ] {
        assert!(s.split(' ').any(|w| w == want), "{want} in {s}");
    }
}

/// The reply-out hooks (dlgs' SIP-reply-out event) see sanity's, options_reply's and auth's
/// replies.
#[test]
fn reply_out_hooks_see_module_replies() {
    let reg = registry_of(&["sl", "sanity", "siputils", "auth"]).unwrap_or_else(|e| panic!("{e}"));
    let seen = Arc::new(AtomicUsize::new(0));
    let s2 = Arc::clone(&seen);
    reg.api::<ferrosip_api::ReplyOut>()
        .unwrap_or_else(|| panic!("ReplyOut"))
        .add(Arc::new(move |m: &ferrosip_sipmsg::Msg| {
            if m.status_line().is_some() {
                s2.fetch_add(1, Ordering::Relaxed);
            }
        }));
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        proto: Proto::Udp,
        socket: 0,
    };
    for (i, (prefix, f, args)) in STEPS.iter().take(4).enumerate() {
        call_full(
            &reg,
            request(i, prefix, 5070).as_bytes(),
            RouteType::Request,
            3,
            &[(f, args)],
            &|_| {},
            rcv,
        );
    }
    assert_eq!(seen.load(Ordering::Relaxed), 4);
}

/// The same requests to Kamailio 5.6.3 (real UDP) and to ferrosip's modules: the same replies
/// (status lines), the ACK to sanity's 400 absorbed by both (Kamailio's script never sees it),
/// and the same sl statistics afterwards.
#[test]
fn kamailio_56_counts_the_same() {
    let reg = registry_of(&["xlog", "sl", "siputils", "sanity", "auth"])
        .unwrap_or_else(|e| panic!("{e}"));
    let sl = reg.api::<SlApi>().unwrap_or_else(|| panic!("SlApi"));
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .unwrap_or_else(|e| panic!("{e}"));
    let cport = client
        .local_addr()
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let dst = format!("127.0.0.1:{port}");
    let rcv = RecvInfo {
        src: client.local_addr().unwrap_or_else(|e| panic!("{e}")),
        dst: dst.parse().unwrap_or_else(|e| panic!("{e}")),
        proto: Proto::Udp,
        socket: 0,
    };
    let before = our_stats(&reg);
    // ferrosip: each step, then the ACK to sanity's 400 through the server's pre-script filter.
    let mut ours = Vec::new();
    for (i, (prefix, f, args)) in STEPS.iter().enumerate() {
        let req = request(i, prefix, cport);
        let o = call_full(
            &reg,
            req.as_bytes(),
            RouteType::Request,
            3,
            &[(f, args)],
            &|_| {},
            rcv,
        );
        let reply = o.sent.first().map(|s| s.1.clone()).unwrap_or_default();
        ours.push(reply.split("\r\n").next().unwrap_or_default().to_string());
        if *prefix == "sanity" {
            let a = ack(i, prefix, cport, &reply);
            let m = ferrosip_sipmsg::Msg::parse(a.into_bytes()).unwrap_or_else(|e| panic!("{e}"));
            assert!(sl.filter_ack(&m, rcv.dst), "ACK to sanity's 400 absorbed");
        }
    }
    let after = our_stats(&reg);
    assert_ne!(before, after);
    for want in ["400_replies=1", "received_ACKs=1", "sent_replies=5"] {
        assert!(after.split(' ').any(|w| w == want), "{want} in {after}");
    }
    assert_eq!(
        ours,
        [
            "SIP/2.0 400 Content-Length mis-match",
            "SIP/2.0 200 OK",
            "SIP/2.0 401 Unauthorized",
            "SIP/2.0 407 Proxy Authentication Required",
            "SIP/2.0 404 Nope",
        ]
    );
    let Some(mut kam) = Kamailio::start(&config(port), port, &client, "sl-api") else {
        return;
    };
    let mut theirs = Vec::new();
    let mut buf = vec![0u8; 65536];
    for (i, (prefix, _, _)) in STEPS.iter().enumerate() {
        client
            .send_to(request(i, prefix, cport).as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        let reply = match client.recv_from(&mut buf) {
            Ok((n, _)) => String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned(),
            Err(e) => panic!("{prefix}: no reply from Kamailio: {e}\n{}", kam.text()),
        };
        theirs.push(reply.split("\r\n").next().unwrap_or_default().to_string());
        if *prefix == "sanity" {
            client
                .send_to(ack(i, prefix, cport, &reply).as_bytes(), &dst)
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    assert_eq!(ours, theirs);
    let stats = "OPTIONS sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-st\r\n\
From: <sip:t@x>;tag=1\r\nTo: <sip:t@x>\r\nCall-ID: stats\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    client
        .send_to(stats.as_bytes(), &dst)
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        kam.wait_for("@@STATS ", Duration::from_secs(5)),
        "{}",
        kam.text()
    );
    let text = kam.text();
    assert!(
        !text.contains("@@ACK "),
        "Kamailio's script saw the ACK:\n{text}"
    );
    let line = text
        .split("@@STATS ")
        .nth(1)
        .and_then(|r| r.split("@@").next())
        .unwrap_or_default()
        .to_string();
    assert_eq!(after, line, "ferrosip vs Kamailio 5.6.3 sl statistics");
}
