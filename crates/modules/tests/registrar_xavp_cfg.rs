//! registrar's `xavp_cfg` through the real config compiler and script engine, and the same config
//! in Kamailio 5.6.3 over UDP: REGISTERs set `max_contacts`, `q` and `expires` in `$xavp(reg)`
//! before `save()` (integers count, a string does not, a field in an older record does not), the
//! script lists the AoR's contacts with `reg_fetch_contacts`/`$ulc` (q, seconds left rounded to
//! tens); MESSAGEs call `registered()` with match flags 1/2/4 against `match_callid`,
//! `match_received`, `match_contact`; with `lookup_filter_mode=1`, `lookup()` and
//! `lookup_to_dset()` keep the contacts with a branch flag of `rlf_bflags`. Return codes, contact
//! lists, R-URI, branch flags, branches and reply status lines must agree. Without Kamailio the comparison is skipped, unless `CI` is set.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{Recorder, WorkerState};

const ROUTE: &str = r#"request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    $var(rc) = 0;
    if (method == "REGISTER") {
        if ($hdr(X-B) == "1") { setbflag(1); }
        if ($hdr(X-B) == "3") { setbflag(3); }
        if ($hdr(X-RcvSet) != $null) { $avp(rcv) = $hdr(X-RcvSet); }
        if ($hdr(X-Old) != $null) { $xavp(reg=>q) = 100; }
        $xavp(reg=>dummy) = 1;
        if ($hdr(X-Max) != $null) { $xavp(reg[0]=>max_contacts) = $(hdr(X-Max){s.int}); }
        if ($hdr(X-MaxS) != $null) { $xavp(reg[0]=>max_contacts) = $hdr(X-MaxS); }
        if ($hdr(X-Q) != $null) { $xavp(reg[0]=>q) = $(hdr(X-Q){s.int}); }
        if ($hdr(X-Exp) != $null) { $xavp(reg[0]=>expires) = $(hdr(X-Exp){s.int}); }
        save("location");
        $var(rc) = $rc;
        $xavp(reg) = $null;
        xlog("L_ERR", "save rc=$var(rc)\n");
        if (reg_fetch_contacts("location", "$tu", "p")) {
            $var(i) = 0;
            while ($var(i) < $ulc(p=>count)) {
                $var(left) = ($(ulc(p=>expires)[$var(i)]) - $Ts + 5) / 10;
                xlog("L_ERR", "c $(ulc(p=>addr)[$var(i)]) q=$(ulc(p=>q)[$var(i)]) e=$var(left)\n");
                $var(i) = $var(i) + 1;
            }
        } else {
            xlog("L_ERR", "no contacts\n");
        }
    } else if ($hdr(X-Fn) != $null) {
        if ($hdr(X-Rlf) != $null) { $xavp(reg=>rlf_bflags) = $(hdr(X-Rlf){s.int}); }
        if ($hdr(X-Fn) == "dset") { lookup_to_dset("location"); } else { lookup("location"); }
        $var(rc) = $rc;
        $xavp(reg) = $null;
        xlog("L_ERR", "$hdr(X-Fn) rc=$var(rc) ru=$ru bf=$bf b=$(branch(uri)[0]),$(branch(uri)[1]),$(branch(uri)[2])\n");
    } else {
        $xavp(reg=>dummy) = 1;
        if ($hdr(X-Cid) != $null) { $xavp(reg[0]=>match_callid) = $hdr(X-Cid); }
        if ($hdr(X-Rcv) != $null) { $xavp(reg[0]=>match_received) = $hdr(X-Rcv); }
        if ($hdr(X-Ct) != $null) { $xavp(reg[0]=>match_contact) = $hdr(X-Ct); }
        $var(f) = $(hdr(X-Flags){s.int});
        registered("location", "$ru", "$var(f)");
        $var(rc) = $rc;
        $xavp(reg) = $null;
        xlog("L_ERR", "registered rc=$var(rc)\n");
    }
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

const MODPARAMS: &str = "modparam(\"registrar\", \"xavp_cfg\", \"reg\")\n\
modparam(\"registrar\", \"max_contacts\", 3)\n\
modparam(\"registrar\", \"received_avp\", \"$avp(rcv)\")\n\
modparam(\"registrar\", \"lookup_filter_mode\", 1)\n";

/// (Call-ID, method, user, contacts, extra headers)
type Step = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const STEPS: &[Step] = &[
    // a new AoR with two contacts and max_contacts 1 from the XAVP: too many
    (
        "r1",
        "REGISTER",
        "alice",
        "<sip:c1@10.0.0.1>, <sip:c2@10.0.0.1>",
        "X-Max: 1\r\n",
    ),
    // max_contacts 2, q 500 and expires 120 from the XAVP (the header says 3600)
    (
        "r2",
        "REGISTER",
        "alice",
        "<sip:c1@10.0.0.1>, <sip:c2@10.0.0.1>;q=0.1",
        "X-Max: 2\r\nX-Q: 500\r\nX-Exp: 120\r\n",
    ),
    // a third contact beyond the XAVP's 2
    (
        "r3",
        "REGISTER",
        "alice",
        "<sip:c3@10.0.0.1>",
        "X-Max: 2\r\n",
    ),
    // the modparam's 3 again
    ("r4", "REGISTER", "alice", "<sip:c3@10.0.0.1>", ""),
    // a string max_contacts does not count: the modparam's 3 refuses a fourth contact
    (
        "r5",
        "REGISTER",
        "alice",
        "<sip:c4@10.0.0.1>",
        "X-MaxS: 10\r\n",
    ),
    (
        "r6",
        "REGISTER",
        "alice",
        "<sip:c4@10.0.0.1>",
        "X-Max: 10\r\n",
    ),
    // 0 from the XAVP: no limit
    (
        "r7",
        "REGISTER",
        "alice",
        "<sip:c5@10.0.0.1>",
        "X-Max: 0\r\n",
    ),
    // a q out of 0..1000: error
    (
        "r8",
        "REGISTER",
        "alice",
        "<sip:c1@10.0.0.1>",
        "X-Q: 2000\r\n",
    ),
    // expires 0 from the XAVP removes the contact (no limit: 5 contacts are over the modparam's 3)
    (
        "r9",
        "REGISTER",
        "alice",
        "<sip:c5@10.0.0.1>",
        "X-Exp: 0\r\nX-Max: 0\r\n",
    ),
    // below min_expires (60): raised; a q in an older record of the XAVP does not count
    (
        "r10",
        "REGISTER",
        "alice",
        "<sip:c2@10.0.0.1>",
        "X-Exp: 30\r\nX-Old: 1\r\nX-Max: 0\r\n",
    ),
    (
        "r11",
        "REGISTER",
        "bob",
        "<sip:b1@10.0.0.2>",
        "X-RcvSet: sip:192.0.2.7:5080\r\n",
    ),
    ("m1", "MESSAGE", "bob", "", "X-Flags: 1\r\nX-Cid: r11\r\n"),
    ("m2", "MESSAGE", "bob", "", "X-Flags: 1\r\nX-Cid: other\r\n"),
    (
        "m3",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 2\r\nX-Rcv: sip:192.0.2.7:5080\r\n",
    ),
    (
        "m4",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 2\r\nX-Rcv: sip:192.0.2.7:5081\r\n",
    ),
    (
        "m5",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 4\r\nX-Ct: sip:b1@10.0.0.2\r\n",
    ),
    (
        "m6",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 4\r\nX-Ct: sip:b9@10.0.0.2\r\n",
    ),
    // values set but their flags not given: nothing narrowed
    (
        "m7",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 0\r\nX-Cid: other\r\nX-Ct: sip:b9@10.0.0.2\r\n",
    ),
    (
        "m8",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 7\r\nX-Cid: r11\r\nX-Rcv: sip:192.0.2.7:5080\r\nX-Ct: sip:b1@10.0.0.2\r\n",
    ),
    (
        "m9",
        "MESSAGE",
        "bob",
        "",
        "X-Flags: 7\r\nX-Cid: r11\r\nX-Rcv: sip:192.0.2.7:5080\r\nX-Ct: sip:b2@10.0.0.2\r\n",
    ),
    // a flag without its value: nothing narrowed
    ("m10", "MESSAGE", "bob", "", "X-Flags: 1\r\n"),
    (
        "m11",
        "MESSAGE",
        "alice",
        "",
        "X-Flags: 2\r\nX-Rcv: sip:192.0.2.7:5080\r\n",
    ),
    // lookup_filter_mode 1: carl's contacts with branch flags 1, 3 and none
    (
        "r12",
        "REGISTER",
        "carl",
        "<sip:k1@10.0.0.3>;q=0.5",
        "X-B: 1\r\n",
    ),
    (
        "r13",
        "REGISTER",
        "carl",
        "<sip:k2@10.0.0.3>;q=0.4",
        "X-B: 3\r\n",
    ),
    ("r14", "REGISTER", "carl", "<sip:k3@10.0.0.3>;q=0.3", ""),
    ("l1", "MESSAGE", "carl", "", "X-Fn: lookup\r\n"),
    ("l2", "MESSAGE", "carl", "", "X-Fn: lookup\r\nX-Rlf: 8\r\n"),
    ("l3", "MESSAGE", "carl", "", "X-Fn: lookup\r\nX-Rlf: 10\r\n"),
    ("l4", "MESSAGE", "carl", "", "X-Fn: lookup\r\nX-Rlf: 4\r\n"),
    ("l5", "MESSAGE", "carl", "", "X-Fn: lookup\r\nX-Rlf: 0\r\n"),
    ("l6", "MESSAGE", "carl", "", "X-Fn: dset\r\nX-Rlf: 8\r\n"),
];

/// What ferrosip must log (the 6.0 documentation's behaviour), step by step.
const WANT: &[&[&str]] = &[
    &[
        "save rc=-2",
        "no contacts",
        "reply SIP/2.0 503 Service Unavailable",
    ],
    &[
        "save rc=1",
        "c sip:c2@10.0.0.1 q=500 e=12",
        "c sip:c1@10.0.0.1 q=500 e=12",
        "reply SIP/2.0 200 OK",
    ],
];

fn message(port: u16, step: &Step) -> String {
    let (callid, method, user, contacts, extra) = *step;
    let contact = if contacts.is_empty() {
        String::new()
    } else {
        format!("Contact: {contacts}\r\nExpires: 3600\r\n")
    };
    format!(
        "{method} sip:{user}@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{callid};rport\r\n\
From: <sip:{user}@127.0.0.1>;tag=f-{callid}\r\nTo: <sip:{user}@127.0.0.1>\r\n\
Call-ID: {callid}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{contact}{extra}Content-Length: 0\r\n\r\n"
    )
}

fn status_line(reply: &[u8]) -> String {
    let text = String::from_utf8_lossy(reply);
    format!("reply {}", text.lines().next().unwrap_or_default())
}

/// The script lines (and the reply's status line for REGISTERs) of every step on ferrosip.
fn ferrosip_lines() -> Vec<Vec<String>> {
    let cfg = format!(
        "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         loadmodule \"kex.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
         {MODPARAMS}{ROUTE}"
    );
    let (p, request) = harness::compile_request(
        cfg,
        vec![
            ferrosip_modules::sl::exports(),
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
            ferrosip_modules::kex::exports(),
            ferrosip_modules::usrloc::exports(),
            ferrosip_modules::registrar::exports(),
        ],
    );
    let mut w = WorkerState::default();
    let mut all = Vec::new();
    for step in STEPS {
        let mut rec = Recorder {
            debug: 3,
            ..Recorder::default()
        };
        harness::run_request(&p, request, &mut w, &mut rec, &message(9, step));
        let mut lines: Vec<String> = rec
            .lines
            .iter()
            .map(|l| l.3.trim_end_matches('\n').to_string())
            .filter(|l| !l.starts_with("@@"))
            .collect();
        if step.1 == "REGISTER" {
            let sent = rec.sent.first().map(|s| status_line(&s.1));
            lines.push(sent.unwrap_or_else(|| "no reply".into()));
        }
        all.push(lines);
    }
    all
}

#[test]
fn xavp_cfg_overrides_follow_the_documentation() {
    let got = ferrosip_lines();
    assert_eq!(got.len(), STEPS.len());
    for (i, want) in WANT.iter().enumerate() {
        assert_eq!(got[i], *want, "step {}", STEPS[i].0);
    }
    let rc = |i: usize| got[i].first().cloned().unwrap_or_default();
    // r3: too many; r4: the modparam's limit; r5: string ignored; r6, r7: raised, unlimited;
    // r8: bad q; r9: removed
    let want_rc = [
        (2, "save rc=-2"),
        (3, "save rc=1"),
        (4, "save rc=-2"),
        (5, "save rc=1"),
        (6, "save rc=1"),
        (7, "save rc=-1"),
        (8, "save rc=3"),
    ];
    for (i, want) in want_rc {
        assert_eq!(rc(i), want, "step {}: {:?}", STEPS[i].0, got[i]);
    }
    assert!(
        got[7].contains(&"reply SIP/2.0 400 Bad Request".to_string()),
        "{:?}",
        got[7]
    );
    assert!(!got[8].iter().any(|l| l.contains("c5@")), "{:?}", got[8]);
    // r10: c2 refreshed with 60 s (min_expires) and the default q (the older record's 100
    // does not count)
    assert!(
        got[9].contains(&"c sip:c2@10.0.0.1 q=-1 e=6".to_string()),
        "{:?}",
        got[9]
    );
    let reg: Vec<String> = got[11..22]
        .iter()
        .map(|l| l.first().cloned().unwrap_or_default())
        .collect();
    let want_reg = [1, -1, 1, -1, 1, -1, 1, 1, -1, 1, -1];
    let want_reg: Vec<String> = want_reg
        .iter()
        .map(|r| format!("registered rc={r}"))
        .collect();
    assert_eq!(reg, want_reg);
    let look: Vec<String> = got[25..]
        .iter()
        .map(|l| l.first().cloned().unwrap_or_default())
        .collect();
    let k = |n: u8| format!("sip:k{n}@10.0.0.3");
    let want_look = [
        format!("lookup rc=1 ru={} bf=2 b={},{},<null>", k(1), k(2), k(3)),
        format!("lookup rc=1 ru={} bf=8 b=<null>,<null>,<null>", k(2)),
        format!("lookup rc=1 ru={} bf=2 b={},<null>,<null>", k(1), k(2)),
        "lookup rc=-1 ru=sip:carl@127.0.0.1 bf=0 b=<null>,<null>,<null>".to_string(),
        format!("lookup rc=1 ru={} bf=2 b={},{},<null>", k(1), k(2), k(3)),
        format!(
            "dset rc=1 ru=sip:carl@127.0.0.1 bf=0 b={},<null>,<null>",
            k(2)
        ),
    ];
    assert_eq!(look, want_look);
}

#[test]
fn kamailio_agrees_on_xavp_cfg() {
    let ours = ferrosip_lines();
    let port = harness::free_port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\nloadmodule \"sl.so\"\nloadmodule \"pv.so\"\n\
         loadmodule \"xlog.so\"\nloadmodule \"kex.so\"\nloadmodule \"usrloc.so\"\n\
         loadmodule \"registrar.so\"\n{MODPARAMS}{ROUTE}",
        harness::MPATH,
    );
    let Some(mut kam) = harness::Kamailio::start(&cfg, port, &client, "regxcfg") else {
        return;
    };
    let dst = format!("127.0.0.1:{port}");
    let mut buf = vec![0u8; 65536];
    for (i, step) in STEPS.iter().enumerate() {
        let m = message(client.local_addr().map(|a| a.port()).unwrap_or(9), step);
        client
            .send_to(m.as_bytes(), &dst)
            .unwrap_or_else(|e| panic!("{e}"));
        let callid = step.0;
        assert!(
            kam.wait_for(&format!("@@E {callid}@@"), Duration::from_secs(5)),
            "{callid}:\n{}",
            kam.text()
        );
        let mut theirs = harness::kamailio_step(&kam.text(), callid).unwrap_or_default();
        if step.1 == "REGISTER" {
            let reply = match client.recv_from(&mut buf) {
                Ok((n, _)) => status_line(buf.get(..n).unwrap_or_default()),
                Err(_) => "no reply".into(),
            };
            theirs.push(reply);
        }
        assert_eq!(ours[i], theirs, "step {callid}");
    }
}
