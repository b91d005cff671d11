//! More of tm over the wire, side by side with Kamailio 5.6.3 (same method as `tests/tm_wire.rs`:
//! scripted UAC and UASs on 127.0.0.1, every message each endpoint receives normalised and
//! compared, plus the `TMX:` lines the config logs).
//!
//! Scenarios: `event_route[tm:branch-failure:…]` on a parallel fork (486 on one branch, 200 on
//! the other), before failure_route in a serial fork (re-armed there for the new branch), and on
//! an `fr_inv_timer` timeout; serial forking by q value with `t_load_contacts()` /
//! `t_next_contacts()` (q 1.0 → the two q 0.5 contacts in parallel → the R-URI without q).

#[path = "wire_harness.rs"]
mod harness;
#[path = "sip_endpoints.rs"]
mod sip_endpoints;

use std::path::Path;
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
modparam("tm", "fr_inv_timer", 1500)
modparam("tm", "fr_timer", 1000)
modparam("tm", "wt_timer", 500)
modparam("tm", "contacts_avp", "tm_contacts")
modparam("tm", "contact_flows_avp", "tm_flows")
request_route {
    if (has_totag()) {
        if (is_method("ACK") && t_check_trans()) { t_relay(); }
        exit;
    }
    if (is_method("CANCEL")) {
        xlog("L_INFO", "TMX: cancel $T_inv($rU) $T_inv($ci) $T_inv($rm)\n");
        if (t_check_trans()) { t_relay(); }
        exit;
    }
    t_check_trans();
    if ($rU == "bfpar") {
        $ru = "sip:one@127.0.0.1:UAS1";
        setbflag(3);
        append_branch("sip:two@127.0.0.1:UAS2");
        t_on_branch_failure("BF");
        t_on_failure("AFTER");
        t_on_reply("RPL");
    } else if ($rU == "bfser") {
        $ru = "sip:first@127.0.0.1:UAS1";
        t_on_branch_failure("BF");
        t_on_failure("NEXT");
    } else if ($rU == "bftmo") {
        $ru = "sip:slow@127.0.0.1:UAS1";
        t_on_branch_failure("BF");
    } else if ($rU == "qser") {
        $ru = "sip:low@127.0.0.1:UAS2";
        append_branch("sip:high@127.0.0.1:UAS1", "1.0");
        append_branch("sip:mid1@127.0.0.1:UAS1", "0.5");
        append_branch("sip:mid2@127.0.0.1:UAS2", "0.5");
        t_load_contacts();
        xlog("L_INFO", "TMX: loaded $rc $cnt($xavp(tm_contacts)) $xavp(tm_contacts=>uri) $xavp(tm_contacts=>q_flag) $xavp(tm_contacts[1]=>uri) $xavp(tm_contacts[1]=>q_flag) $xavp(tm_contacts[3]=>uri) $xavp(tm_contacts[3]=>q_flag) $T_branch_idx\n");
        t_next_contacts();
        xlog("L_INFO", "TMX: next $rc $ru $T_branch_idx $cnt($xavp(tm_contacts))\n");
        t_on_failure("QNEXT");
    } else if ($rU == "kill") {
        t_reply_callid("$hdr(X-Cid)", "1", "486", "Killed Here");
        xlog("L_INFO", "TMX: kill $rc\n");
        t_reply_callid("no-such-call", "1", "486", "Killed Here");
        xlog("L_INFO", "TMX: kill-none $rc\n");
        sl_send_reply("200", "OK");
        exit;
    } else if ($rU == "nonack") {
        t_newtran();
        t_forward_nonack_udp("127.0.0.1", "UAS2");
        xlog("L_INFO", "TMX: nonack $rc\n");
        exit;
    } else if ($rU == "relayto") {
        t_relay_to("udp:127.0.0.1:UAS2", "0x1");
        exit;
    } else if ($rU == "repl") {
        t_replicate("sip:127.0.0.1:UAS2");
        t_reply("202", "Accepted");
        exit;
    } else {
        $ru = "sip:bob@127.0.0.1:UAS1";
        t_on_reply("RPL");
    }
    xlog("L_INFO", "TMX: request $T(id_index) $T(reply_code) $T(branch_index)\n");
    if (!t_relay()) { sl_reply_error(); }
    exit;
}
event_route[tm:branch-failure:BF] {
    xlog("L_INFO", "TMX: bf $T_branch_idx $T_reply_code $rU $T_rpl($rs) $T_rpl($tt) $ru\n");
    if (t_check_status("486")) { xlog("L_INFO", "TMX: bf busy\n"); }
    if (t_branch_timeout()) { xlog("L_INFO", "TMX: bf timeout\n"); }
    if (t_branch_replied()) { xlog("L_INFO", "TMX: bf replied\n"); }
    setflag(7);
}
onreply_route[RPL] {
    xlog("L_INFO", "TMX: rpl $rs $T_reply_last $T_branch(uri) $T_branch(flags) $T(reply_code) $T(reply_reason) $T(branch_index) $T(id_index)\n");
}
failure_route[AFTER] {
    xlog("L_INFO", "TMX: after $T_reply_code\n");
}
failure_route[NEXT] {
    xlog("L_INFO", "TMX: failure $T_reply_code $T_branch_idx $T(reply_type) $T_branch(flags) $T(reply_reason) $T(id_index)\n");
    if (isflagset(7)) { xlog("L_INFO", "TMX: flag from bf\n"); }
    if (t_check_status("486")) {
        $ru = "sip:second@127.0.0.1:UAS2";
        t_on_branch_failure("BF");
        t_relay();
    }
}
failure_route[QNEXT] {
    if (t_is_canceled()) { exit; }
    if (t_next_contacts()) {
        xlog("L_INFO", "TMX: qnext $ru $T_branch_idx $cnt($xavp(tm_contacts))\n");
        t_on_failure("QNEXT");
        t_relay();
    } else {
        xlog("L_INFO", "TMX: qnext none $rc\n");
    }
}
"#;

/// Parallel fork: 486 on one branch runs the branch-failure route; the 200 on the other does not.
fn branch_failure_parallel(r: &mut Run) {
    let inv = invite(r.uac.port, "bfpar", "bfpar");
    r.uac.send(r.proxy, &inv);
    let a = r.uas1.expect("INVITE", W).unwrap_or_default();
    let b = r.uas2.expect("INVITE", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&a, 486, "Busy Here", "p1", r.uas1.port));
    r.uas1.expect("ACK", W);
    r.uas2
        .send(r.proxy, &reply(&b, 200, "OK", "p2", r.uas2.port));
    r.uac.expect("SIP/2.0 200", W);
    r.uac.drain(Duration::from_millis(300));
}

/// Serial fork: the branch-failure route runs before failure_route (whose flag it sets), and once
/// re-armed there, for the new branch's 404 too (then relayed: no failure_route armed).
fn branch_failure_serial(r: &mut Run) {
    let inv = invite(r.uac.port, "bfser", "bfser");
    r.uac.send(r.proxy, &inv);
    let a = r.uas1.expect("INVITE", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&a, 486, "Busy Here", "s1", r.uas1.port));
    r.uas1.expect("ACK", W);
    let b = r.uas2.expect("INVITE", W).unwrap_or_default();
    r.uas2
        .send(r.proxy, &reply(&b, 404, "Not Found", "s2", r.uas2.port));
    r.uas2.expect("ACK", W);
    r.uac.expect("SIP/2.0 404", W);
    r.uac.drain(Duration::from_millis(300));
}

/// `fr_inv_timer` runs out after a 180: the branch-failure route sees the faked 408 (timeout,
/// replied), then the CANCEL and the 408 upstream.
fn branch_failure_timeout(r: &mut Run) {
    let inv = invite(r.uac.port, "bftmo", "bftmo");
    r.uac.send(r.proxy, &inv);
    let req = r.uas1.expect("INVITE", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&req, 180, "Ringing", "t1", r.uas1.port));
    let c = r.uas1.expect("CANCEL", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&c, 200, "OK", "t1", r.uas1.port));
    r.uac.expect("SIP/2.0 408", W);
    r.uas1.send(
        r.proxy,
        &reply(&req, 487, "Request Terminated", "t1", r.uas1.port),
    );
    r.uas1.expect("ACK", W);
    r.uac.drain(Duration::from_millis(300));
}

/// q-ordered serial forking: high (q 1.0) → 486; mid1 + mid2 (q 0.5) in parallel → 486 and 480;
/// low (the R-URI, no q) → 200.
fn q_serial(r: &mut Run) {
    let inv = invite(r.uac.port, "qser", "qser");
    r.uac.send(r.proxy, &inv);
    let high = r.uas1.expect("INVITE sip:high", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&high, 486, "Busy Here", "q1", r.uas1.port));
    r.uas1.expect("ACK", W);
    let mid1 = r.uas1.expect("INVITE sip:mid1", W).unwrap_or_default();
    let mid2 = r.uas2.expect("INVITE sip:mid2", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&mid1, 486, "Busy Here", "q2", r.uas1.port));
    r.uas1.drain(Duration::from_millis(300));
    r.uas2.send(
        r.proxy,
        &reply(&mid2, 480, "Temporarily Unavailable", "q3", r.uas2.port),
    );
    r.uas2.expect("ACK", W);
    let low = r.uas2.expect("INVITE sip:low", W).unwrap_or_default();
    r.uas2
        .send(r.proxy, &reply(&low, 200, "OK", "q4", r.uas2.port));
    r.uac.expect("SIP/2.0 200", W);
    r.uac.drain(Duration::from_millis(300));
}

/// CANCEL of a ringing call: `$T_inv(…)` reads the INVITE; `$T_reply_last` in onreply_route.
fn cancel_ringing(r: &mut Run) {
    let inv = invite(r.uac.port, "bob", "cancel");
    r.uac.send(r.proxy, &inv);
    let req = r.uas1.expect("INVITE", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&req, 180, "Ringing", "c1", r.uas1.port));
    r.uac.expect("SIP/2.0 180", W);
    let cancel = inv
        .replace("INVITE sip:", "CANCEL sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 CANCEL")
        .replace(
            "Contact: <sip:alice@127.0.0.1",
            "X-Was-Contact: <sip:alice@127.0.0.1",
        );
    r.uac.send(r.proxy, &cancel);
    let c = r.uas1.expect("CANCEL", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&c, 200, "OK", "c1", r.uas1.port));
    r.uac.expect("SIP/2.0 200 canceling", W);
    r.uas1.send(
        r.proxy,
        &reply(&req, 487, "Request Terminated", "c1", r.uas1.port),
    );
    r.uac.expect("SIP/2.0 487", W);
    r.uas1.expect("ACK", W);
    r.uac.drain(Duration::from_millis(300));
}

/// `t_relay_to(proxy, "0x1")`: to UAS2 whatever the R-URI, without 100 Trying; the 486 relayed.
fn relay_to_proxy(r: &mut Run) {
    busy_at_uas2(r, "relayto");
}

/// `t_newtran()` + `t_forward_nonack_udp(host, port)`: forwarded to UAS2 without 100 Trying.
fn forward_nonack(r: &mut Run) {
    busy_at_uas2(r, "nonack");
}

/// An INVITE to `user` that the proxy sends to UAS2, which answers 486.
fn busy_at_uas2(r: &mut Run, user: &str) {
    let inv = invite(r.uac.port, user, user);
    r.uac.send(r.proxy, &inv);
    let req = r.uas2.expect("INVITE", W).unwrap_or_default();
    r.uas2
        .send(r.proxy, &reply(&req, 486, "Busy Here", "r2", r.uas2.port));
    r.uas2.expect("ACK", W);
    r.uac.expect("SIP/2.0 486", W);
    r.uac.drain(Duration::from_millis(300));
}

/// `t_replicate(uri)` then `t_reply()`: the copy goes to UAS2, its 200 stays at the proxy; the
/// UAC gets only the script's 202.
fn replicate_message(r: &mut Run) {
    let msg = invite(r.uac.port, "repl", "repl")
        .replace("INVITE sip:", "MESSAGE sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 MESSAGE");
    r.uac.send(r.proxy, &msg);
    let copy = r.uas2.expect("MESSAGE", W).unwrap_or_default();
    r.uac.expect("SIP/2.0 202", W);
    r.uas2
        .send(r.proxy, &reply(&copy, 200, "OK", "m2", r.uas2.port));
    r.uac.drain(Duration::from_millis(400));
    r.uas2.drain(Duration::from_millis(100));
}

/// `t_reply_callid()` from another request answers a ringing INVITE's transaction.
fn reply_callid(r: &mut Run) {
    let inv = invite(r.uac.port, "bob", "rcid");
    r.uac.send(r.proxy, &inv);
    let req = r.uas1.expect("INVITE", W).unwrap_or_default();
    r.uas1
        .send(r.proxy, &reply(&req, 180, "Ringing", "k1", r.uas1.port));
    r.uac.expect("SIP/2.0 180", W);
    let msg = invite(r.uac.port, "kill", "kill")
        .replace("INVITE sip:", "MESSAGE sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 MESSAGE")
        .replace("Contact: ", "X-Cid: rcid@127.0.0.1\r\nContact: ");
    r.uac.send(r.proxy, &msg);
    let killed = r.uac.expect("SIP/2.0 486", W).unwrap_or_default();
    r.uac.expect("SIP/2.0 200", W);
    let to = header(&killed, "To")
        .first()
        .copied()
        .unwrap_or("")
        .to_string();
    let ack = inv
        .replace("INVITE sip:", "ACK sip:")
        .replace("CSeq: 1 INVITE", "CSeq: 1 ACK")
        .replace("To: <sip:bob@127.0.0.1>", &to);
    r.uac.send(r.proxy, &ack);
    // The proxy cancels the ringing branch; the UAS answers well within wt_timer (500 ms after
    // the ACK), so the transaction still exists when the 487 comes.
    if let Some(c) = r.uas1.expect("CANCEL", Duration::from_millis(300)) {
        r.uas1
            .send(r.proxy, &reply(&c, 200, "OK", "k1", r.uas1.port));
        r.uas1.send(
            r.proxy,
            &reply(&req, 487, "Request Terminated", "k1", r.uas1.port),
        );
        r.uas1.expect("ACK", W);
    }
    r.uac.drain(Duration::from_millis(300));
}

type Scenario = fn(&mut Run);

fn run_all(bin: &str, name: &str) -> Seen {
    let mut seen: Seen = Vec::new();
    let scenarios: &[(&str, Scenario)] = &[
        ("bf-parallel", branch_failure_parallel),
        ("bf-serial", branch_failure_serial),
        ("bf-timeout", branch_failure_timeout),
        ("q-serial", q_serial),
        ("cancel", cancel_ringing),
        ("relay-to", relay_to_proxy),
        ("replicate", replicate_message),
        ("reply-callid", reply_callid),
        ("forward-nonack", forward_nonack),
    ];
    for (sname, f) in scenarios {
        let (uac, uas1, uas2) = (Ep::new(), Ep::new(), Ep::new());
        let port = free_port();
        let proxy = addr(&format!("127.0.0.1:{port}"));
        let mut r = Run {
            proxy,
            uac,
            uas1,
            uas2,
        };
        let rpcdir = scratch(&format!("{name}-{sname}-rpc"));
        let cfg = CFG
            .replace("RPCDIR", &rpcdir.to_string_lossy())
            .replace("PORT", &port.to_string())
            .replace("UAS1", &r.uas1.port.to_string())
            .replace("UAS2", &r.uas2.port.to_string());
        let started = Instant::now();
        let mut srv = start(bin, &format!("{name}-{sname}"), &cfg, &[proxy]);
        f(&mut r);
        if *sname == "q-serial" {
            // Kamailio's tmx refreshes its statistics at most every 2 s of uptime.
            std::thread::sleep(Duration::from_millis(2500).saturating_sub(started.elapsed()));
            seen.push((format!("{sname}/tmx-stats"), tmx_stats(&rpcdir)));
        }
        let ports = [
            (port, "PROXY"),
            (r.uac.port, "UAC"),
            (r.uas1.port, "UAS1"),
            (r.uas2.port, "UAS2"),
        ];
        let log = srv.log_text();
        assert!(
            !log.contains("is not run by any loaded module"),
            "the branch-failure route is tm's: {log}"
        );
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

/// `stats.get_statistics tmx:` over jsonrpcs' datagram socket: the cumulative counters (the
/// gauges `inuse_transactions`/`active_transactions` depend on when the wait timers ran).
fn tmx_stats(dir: &Path) -> Vec<String> {
    use std::os::unix::net::UnixDatagram;
    let sock = dir.join("rpc.sock");
    let me = dir.join("client.sock");
    let _ = std::fs::remove_file(&me);
    let Ok(c) = UnixDatagram::bind(&me) else {
        return vec![format!("<cannot bind {}>", me.display())];
    };
    let _ = c.set_read_timeout(Some(W));
    let req =
        r#"{"jsonrpc": "2.0", "method": "stats.get_statistics", "params": ["tmx:"], "id": 1}"#;
    let mut buf = vec![0u8; 65536];
    let out = match c
        .send_to(req.as_bytes(), &sock)
        .and_then(|_| c.recv(&mut buf))
    {
        Ok(n) => String::from_utf8_lossy(buf.get(..n).unwrap_or(&[])).into_owned(),
        Err(e) => format!("<{e}>"),
    };
    let _ = std::fs::remove_file(&me);
    out.split('"')
        .filter(|p| p.starts_with("tmx:"))
        .filter(|p| !p.contains("inuse_") && !p.contains("active_"))
        .map(str::to_string)
        .collect()
}

#[test]
fn tm_branch_failure_and_q_serial_forking_match_kamailio() {
    let ours = run_all(ferrosip_bin(), "tm-more");
    // What ferrosip must do on its own (also checked when Kamailio is absent).
    let log = lines(&ours, "bf-parallel/log");
    assert!(
        log.iter().any(|l| l.starts_with("bf 0 486 "))
            && log
                .iter()
                .filter(|l| l
                    .strip_prefix("bf ")
                    .is_some_and(|r| r.starts_with(char::is_numeric)))
                .count()
                == 1,
        "branch-failure on the 486 branch only: {log:?}"
    );
    let log = lines(&ours, "bf-serial/log");
    let pos = |p: &str| log.iter().position(|l| l.starts_with(p));
    assert!(
        pos("bf 0 486").is_some()
            && pos("bf 0 486") < pos("failure 486")
            && log.iter().any(|l| l == "flag from bf")
            && log.iter().any(|l| l.starts_with("bf 1 404")),
        "branch-failure before failure_route, re-armed for the next branch: {log:?}"
    );
    let log = lines(&ours, "bf-timeout/log");
    assert!(
        log.iter().any(|l| l.starts_with("bf 0 408"))
            && log.iter().any(|l| l == "bf timeout")
            && log.iter().any(|l| l == "bf replied"),
        "branch-failure on the timeout: {log:?}"
    );
    let invites = |k: &str| -> Vec<String> {
        first_lines(&ours, k)
            .into_iter()
            .filter(|l| l.starts_with("INVITE"))
            .map(|l| l.split('@').next().unwrap_or("").to_string())
            .collect()
    };
    assert_eq!(
        invites("q-serial/uas1"),
        ["INVITE sip:high", "INVITE sip:mid1"],
        "q order at UAS1"
    );
    assert_eq!(
        invites("q-serial/uas2"),
        ["INVITE sip:mid2", "INVITE sip:low"],
        "q order at UAS2"
    );
    assert!(first_lines(&ours, "q-serial/uac").contains(&"SIP/2.0 200 OK".to_string()));
    assert_eq!(
        first_lines(&ours, "relay-to/uac"),
        ["SIP/2.0 486 Busy Here"],
        "t_relay_to with 0x1: no 100 Trying"
    );
    assert_eq!(
        first_lines(&ours, "replicate/uac"),
        ["SIP/2.0 202 Accepted"],
        "t_replicate: the copy's 200 stays at the proxy"
    );
    assert_eq!(
        lines(&ours, "reply-callid/log")
            .iter()
            .filter(|l| l.starts_with("kill"))
            .collect::<Vec<_>>(),
        ["kill 1", "kill-none -1"],
        "t_reply_callid"
    );
    assert_eq!(
        first_lines(&ours, "forward-nonack/uac"),
        ["SIP/2.0 486 Busy Here"],
        "t_forward_nonack_udp: no 100 Trying"
    );
    let stats = lines(&ours, "q-serial/tmx-stats");
    eprintln!("tmx stats: {stats:?}");
    // One INVITE transaction: 100 generated; 4 final replies received (3 negative, the 200).
    for want in [
        "tmx:UAS_transactions = 1",
        "tmx:2xx_transactions = 1",
        "tmx:rpl_received = 4",
        "tmx:rpl_generated = 1",
    ] {
        assert!(stats.iter().any(|l| l == want), "{want} in {stats:?}");
    }

    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI: kamailio is required for the differential test");
        eprintln!("kamailio not installed: differential part skipped");
        return;
    };
    let theirs = run_all(kam, "tm-more-kam");
    for ((k, ours), (_, theirs)) in ours.iter().zip(theirs.iter()) {
        assert_eq!(
            ours, theirs,
            "{k}: what the endpoint received (or the log) differs from Kamailio"
        );
    }
}
