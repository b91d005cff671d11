//! The rest of tm's known differences, side by side with Kamailio 5.6.3 (same method as
//! `tests/tm_more_wire.rs`: scripted UAC and UASs on 127.0.0.1, every message each endpoint
//! receives normalised and compared, plus the `TMX:` lines the config logs).
//!
//! Scenarios: the request's network flags (`set_advertised_address/port()`) on the branch a
//! failure_route adds on tm's timer thread after a timeout; the branch-failure route and
//! failure_route on a timeout (their order, and a branch the branch-failure route adds before the
//! reply selection); `t_relay_to(…, "0x2")` when the request cannot be sent; `tm.cancel` of a
//! local INVITE that had no provisional reply (no more retransmissions); `onsend_route` and tm's
//! local requests.

#[path = "wire_harness.rs"]
mod harness;
#[path = "sip_endpoints.rs"]
mod sip_endpoints;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use harness::*;
use sip_endpoints::*;

const CFG: &str = r#"#!KAMAILIO
debug=2
log_stderror=yes
children=2
disable_tcp=yes
listen=udp:127.0.0.1:PORT
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "xlog.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "corex.so"
loadmodule "kex.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "fifo_name", "RPCDIR/rpc.fifo")
modparam("jsonrpcs", "dgram_socket", "RPCDIR/rpc.sock")
modparam("tm", "fr_inv_timer", 2500)
modparam("tm", "fr_timer", 1000)
modparam("tm", "wt_timer", 500)
request_route {
    if (has_totag()) {
        if (is_method("ACK") && t_check_trans()) { t_relay(); }
        exit;
    }
    if ($rU == "adv") {
        set_advertised_address("adv.example.test");
        set_advertised_port(5099);
        $ru = "sip:slow@127.0.0.1:UAS1";
        t_on_failure("ADV");
    } else if ($rU == "bfto") {
        $ru = "sip:slow@127.0.0.1:UAS1";
        t_set_fr(1000, 1000);
        t_on_branch_failure("BF");
        t_on_failure("TMO");
    } else if ($rU == "bfadd") {
        $ru = "sip:slow@127.0.0.1:UAS1";
        t_set_fr(1000, 1000);
        t_on_branch_failure("ADD");
    } else if ($rU == "noint") {
        t_relay_to("udp:127.0.0.1:UAS2", "0x2");
        xlog("L_INFO", "TMX: noint $rc\n");
        exit;
    } else if ($rU == "nointrpl") {
        $du = "sip:127.0.0.1:UAS2";
        t_set_disable_internal_reply(1);
        t_relay();
        xlog("L_INFO", "TMX: nointrpl $rc\n");
        t_reply("503", "Relay Failed Here");
        exit;
    } else if ($rU == "uacinv") {
        t_uac_send("INVITE", "sip:slow@127.0.0.1:UAS1", "", "",
            "From: <sip:a@127.0.0.1>;tag=ft1\r\nTo: <sip:slow@127.0.0.1>\r\nCall-ID: unr-1\r\nCSeq: 7 INVITE\r\nContact: <sip:a@127.0.0.1:PORT>\r\n", "");
        sl_send_reply("200", "Sent");
        exit;
    }
    if (!t_relay()) { sl_reply_error(); }
    exit;
}
onsend_route {
    xlog("L_INFO", "TMX: onsend $snd(ip):$snd(port) $rm\n");
    if ($rU == "noint" || $rU == "nointrpl") { drop; }
}
event_route[tm:branch-failure:BF] {
    xlog("L_INFO", "TMX: bf $T_branch_idx $T_reply_code $T(reply_type)\n");
}
event_route[tm:branch-failure:ADD] {
    xlog("L_INFO", "TMX: bfadd $T_branch_idx $T_reply_code\n");
    if ($T_branch_idx == 0) {
        append_branch("sip:two@127.0.0.1:UAS2");
        t_relay();
        xlog("L_INFO", "TMX: bfadd relay $rc\n");
    }
}
failure_route[ADV] {
    xlog("L_INFO", "TMX: adv $T_reply_code\n");
    $ru = "sip:fast@127.0.0.1:UAS2";
    t_relay();
}
failure_route[TMO] {
    xlog("L_INFO", "TMX: tmo $T_reply_code $T_branch_idx $T(reply_type)\n");
}
"#;

struct Run {
    proxy: SocketAddr,
    uac: Ep,
    uas1: Ep,
    uas2: Ep,
    rpcdir: std::path::PathBuf,
}

fn message(uac: u16, user: &str, call: &str) -> String {
    invite(uac, user, call)
        .replace("INVITE sip:", "MESSAGE sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 MESSAGE")
}

/// A MESSAGE whose first branch times out (`fr_timer`); failure_route relays it to UAS2 from
/// tm's timer thread: the Via carries the advertised address and port set in request_route.
fn advertised_after_timeout(r: &mut Run) {
    r.uac.send(r.proxy, &message(r.uac.port, "adv", "adv"));
    let m = r
        .uas2
        .expect("MESSAGE", Duration::from_secs(4))
        .unwrap_or_default();
    r.uas2
        .send(r.proxy, &reply(&m, 200, "OK", "a2", r.uas2.port));
    r.uac.expect("SIP/2.0 200", W);
    r.uas1.drain(Duration::from_millis(100));
    r.uac.drain(Duration::from_millis(300));
}

/// An INVITE ringing until `fr_inv_timer` (1 s): the branch-failure route and failure_route on
/// the faked 408, in that order; tm's CANCEL and the ACK of the 487 do not go through
/// onsend_route (Kamailio runs it only for requests forwarded from a message).
fn branch_failure_then_failure(r: &mut Run) {
    r.uac.send(r.proxy, &invite(r.uac.port, "bfto", "bfto"));
    let req = r.uas1.expect("INVITE", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&req, 180, "Ringing", "f1", r.uas1.port));
    if let Some(c) = r.uas1.expect("CANCEL", W) {
        // A moment later: failure_route has run by then (ferrosip runs it unlocked, and a 487
        // stored meanwhile would be what `$T(reply_type)` sees).
        std::thread::sleep(Duration::from_millis(200));
        r.uas1
            .send(r.proxy, &reply(&c, 200, "OK", "f1", r.uas1.port));
        r.uas1.send(
            r.proxy,
            &reply(&req, 487, "Request Terminated", "f1", r.uas1.port),
        );
        r.uas1.expect("ACK", W);
    }
    if let Some(rpl) = r.uac.expect("SIP/2.0 408", W) {
        ack_negative(r, &rpl, "bfto", "bfto");
    }
    r.uas1.drain(Duration::from_millis(100));
    r.uac.drain(Duration::from_millis(300));
}

/// The branch-failure route adds a branch on the timeout's 408: it is relayed before the reply
/// selection, so the 408 does not go upstream; UAS2's 200 does.
fn branch_failure_adds_branch(r: &mut Run) {
    r.uac.send(r.proxy, &invite(r.uac.port, "bfadd", "bfadd"));
    if let Some(b) = r.uas2.expect("INVITE", W) {
        r.uas2
            .send(r.proxy, &reply(&b, 200, "OK", "b2", r.uas2.port));
    }
    r.uac.expect("SIP/2.0 200", W);
    r.uas1.drain(Duration::from_millis(100));
    r.uac.drain(Duration::from_millis(1500));
}

/// `t_relay_to(…, "0x2")` on an INVITE whose only branch onsend_route drops: no internal reply
/// (the script sends nothing, only the 100 Trying goes upstream; `$rc` is -4).
fn no_internal_reply(r: &mut Run) {
    r.uac.send(r.proxy, &invite(r.uac.port, "noint", "noint"));
    r.uac.drain(Duration::from_millis(1500));
}

/// The UAC's ACK of the negative reply `rpl` to its INVITE to `user` (Call-ID `call`).
fn ack_negative(r: &Run, rpl: &str, user: &str, call: &str) {
    let to = header(rpl, "To").first().copied().unwrap_or("").to_string();
    let ack = invite(r.uac.port, user, call)
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace(&format!("To: <sip:{user}@127.0.0.1>"), &to);
    r.uac.send(r.proxy, &ack);
}

/// The same with the script answering itself (`t_set_disable_internal_reply(1)` before
/// `t_relay()`).
fn no_internal_reply_script_answers(r: &mut Run) {
    r.uac
        .send(r.proxy, &invite(r.uac.port, "nointrpl", "nointrpl"));
    if let Some(rpl) = r.uac.expect("SIP/2.0 503", W) {
        ack_negative(r, &rpl, "nointrpl", "nointrpl");
    }
    r.uac.drain(Duration::from_millis(500));
}

/// A MESSAGE: Kamailio applies the flag set before the transaction to INVITEs only, so the
/// failed relay is answered 477 as without it.
fn no_internal_reply_message(r: &mut Run) {
    r.uac
        .send(r.proxy, &message(r.uac.port, "noint", "nointmsg"));
    r.uac.expect("SIP/2.0 477", W);
    r.uac.drain(Duration::from_millis(300));
}

/// `tm.cancel` of a local INVITE with no provisional reply: its retransmissions stop; then a 180
/// and the `fr_inv_timer` expiry.
fn cancel_unreplied(r: &mut Run) {
    r.uac
        .send(r.proxy, &message(r.uac.port, "uacinv", "uacinv"));
    r.uac.expect("SIP/2.0 200", W);
    let inv = r.uas1.expect("INVITE", W).unwrap_or_default();
    let answer = harness::rpc_dgram(&r.rpcdir, "tm.cancel", &["unr-1", "7"], W);
    r.uac.got.push(format!("RPC {answer}"));
    // T1 is 500 ms: two retransmissions would come within 1.6 s.
    r.uas1.drain(Duration::from_millis(1600));
    r.uas1
        .send(r.proxy, &reply(&inv, 180, "Ringing", "u1", r.uas1.port));
    // fr_inv_timer (2.5 s) runs out meanwhile.
    if let Some(c) = r.uas1.expect("CANCEL", Duration::from_millis(1800)) {
        r.uas1
            .send(r.proxy, &reply(&c, 200, "OK", "u1", r.uas1.port));
        r.uas1.send(
            r.proxy,
            &reply(&inv, 487, "Request Terminated", "u1", r.uas1.port),
        );
        r.uas1.expect("ACK", W);
    }
    r.uas1.drain(Duration::from_millis(300));
}

type Scenario = fn(&mut Run);

const SCENARIOS: &[(&str, Scenario)] = &[
    ("adv-timeout", advertised_after_timeout),
    ("bf-then-failure", branch_failure_then_failure),
    ("bf-adds-branch", branch_failure_adds_branch),
    ("no-internal-reply", no_internal_reply),
    ("no-internal-reply-script", no_internal_reply_script_answers),
    ("no-internal-reply-message", no_internal_reply_message),
    ("cancel-unreplied", cancel_unreplied),
];

fn run_all(bin: &str, name: &str) -> Seen {
    let mut seen: Seen = Vec::new();
    for (sname, f) in SCENARIOS {
        let port = free_port();
        let proxy = addr(&format!("127.0.0.1:{port}"));
        let rpcdir = scratch(&format!("{name}-{sname}-rpc"));
        let mut r = Run {
            proxy,
            uac: Ep::new(),
            uas1: Ep::new(),
            uas2: Ep::new(),
            rpcdir: rpcdir.clone(),
        };
        let cfg = CFG
            .replace("RPCDIR", &rpcdir.to_string_lossy())
            .replace("PORT", &port.to_string())
            .replace("UAS1", &r.uas1.port.to_string())
            .replace("UAS2", &r.uas2.port.to_string());
        let mut srv = start(bin, &format!("{name}-{sname}"), &cfg, &[proxy]);
        let t0 = Instant::now();
        f(&mut r);
        assert!(t0.elapsed() < Duration::from_secs(20), "{sname} bounded");
        let ports = [
            (port, "PROXY"),
            (r.uac.port, "UAC"),
            (r.uas1.port, "UAS1"),
            (r.uas2.port, "UAS2"),
        ];
        let log = srv.log_text();
        let tmx: Vec<String> = log
            .lines()
            .filter_map(|l| l.split_once("TMX: ").map(|(_, t)| t.to_string()))
            .map(|l| {
                ports.iter().fold(l, |acc, (p, n)| {
                    acc.replace(&format!(":{p}"), &format!(":<{n}>"))
                })
            })
            .collect();
        seen.push((format!("{sname}/log"), tmx));
        for (who, ep) in [("uac", &r.uac), ("uas1", &r.uas1), ("uas2", &r.uas2)] {
            seen.push((
                format!("{sname}/{who}"),
                ep.got.iter().map(|m| normalise(m, &ports)).collect(),
            ));
        }
        assert_eq!(srv.stop(), Some(0), "{}", srv.log_text());
    }
    seen
}

#[test]
fn tm_leftovers_match_kamailio() {
    let ours = run_all(ferrosip_bin(), "tm-rest");
    if std::env::var("TM_REST_DUMP").is_ok() {
        for (k, v) in &ours {
            eprintln!("== {k}\n{}", v.join("\n--\n"));
        }
    }
    // What ferrosip must do on its own (also checked when Kamailio is absent).
    let via = |k: &str| -> Vec<String> {
        lines(&ours, k)
            .iter()
            .filter_map(|m| m.lines().nth(1).map(str::to_string))
            .collect()
    };
    assert_eq!(
        via("adv-timeout/uas2").first().map(String::as_str),
        Some("Via: SIP/2.0/UDP adv.example.test:5099;branch=z9hG4bK<GEN>"),
        "the branch failure_route sends from the timer thread keeps the request's advertised address"
    );
    let log = lines(&ours, "bf-then-failure/log");
    let pos = |p: &str| log.iter().position(|l| l.starts_with(p));
    assert!(
        pos("bf 0 408").is_some() && pos("bf 0 408") < pos("tmo 408"),
        "branch-failure route before failure_route: {log:?}"
    );
    assert_eq!(
        log.iter().filter(|l| l.starts_with("onsend")).count(),
        1,
        "tm's CANCEL and ACK do not run onsend_route: {log:?}"
    );
    assert_eq!(
        first_lines(&ours, "bf-adds-branch/uac"),
        [
            "SIP/2.0 100 trying -- your call is important to us",
            "SIP/2.0 200 OK"
        ],
        "a branch added in the branch-failure route on a timeout's 408 keeps the call going"
    );
    assert_eq!(
        lines(&ours, "no-internal-reply/log")
            .last()
            .map(String::as_str),
        Some("noint -4"),
        "t_relay_to with 0x2 returns -4"
    );
    assert_eq!(
        first_lines(&ours, "no-internal-reply/uac"),
        ["SIP/2.0 100 trying -- your call is important to us"],
        "no internal negative reply"
    );
    assert_eq!(
        first_lines(&ours, "no-internal-reply-message/uac"),
        ["SIP/2.0 477 Unfortunately error on sending to next hop occurred (477/TM)"],
        "the flag set before a non-INVITE transaction is not kept (as Kamailio)"
    );
    assert_eq!(
        first_lines(&ours, "cancel-unreplied/uas1"),
        ["INVITE sip:slow@127.0.0.1:<UAS1> SIP/2.0"],
        "tm.cancel stops the retransmissions of an unreplied branch"
    );
    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI has Kamailio");
        eprintln!("kamailio not installed: compared nothing");
        return;
    };
    let theirs = run_all(kam, "tm-rest-kam");
    if std::env::var("TM_REST_DUMP").is_ok() {
        for (k, v) in &theirs {
            eprintln!("== KAM {k}\n{}", v.join("\n--\n"));
        }
    }
    let differ: Vec<String> = ours
        .iter()
        .zip(theirs.iter())
        .filter(|((_, a), (_, b))| a != b)
        .map(|((k, a), (_, b))| format!("{k}:\n  ferrosip: {a:?}\n  Kamailio: {b:?}"))
        .collect();
    assert!(
        differ.is_empty(),
        "ferrosip vs Kamailio 5.6.3:\n{}",
        differ.join("\n")
    );
}
