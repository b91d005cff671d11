//! registrar's `lookup_xavp(table, uri, rxname, cxname)` and `reg_from_user(table, uri, mode)`
//! through the real config compiler and script engine: a REGISTER with two contacts (one with a
//! `received` parameter), then lookups that log the record and contact XAVPs, and messages from
//! several source addresses checked against the AoR. Kamailio 5.6.3 has neither function (both
//! came later), so the steps assert Kamailio 6.0's documented behaviour (docs/compat.md says so).

use std::net::SocketAddr;

use ferrosip_api::{Ctx, Proto, Recorder, RecvInfo, RouteType, SocketInfo, WorkerState};
use ferrosip_config::LoadOptions;

const LOOKUP_ROUTE: &str = r#"route[SHOW] {
    xlog("L_ERR", "rc=$var(rc) aor=$xavp(rul=>aor) count=$xavp(rul=>count) nr=$cnt($xavp(rul)) nc=$cnt($xavp(cul))\n");
    $var(i) = 0;
    while ($var(i) < $cnt($xavp(cul)) && $var(i) < 5) {
        xlog("L_ERR", "c$var(i) uri=$xavp(cul[$var(i)]=>uri) socket=$xavp(cul[$var(i)]=>socket) dsturi=$xavp(cul[$var(i)]=>dsturi)\n");
        $var(i) = $var(i) + 1;
    }
}
request_route {
    if ($ci == "ping") { xlog("L_ERR", "@@READY@@\n"); exit; }
    xlog("L_ERR", "@@B $ci@@\n");
    $var(rc) = 0;
    if (method == "REGISTER") {
        save("location");
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "plain") {
        lookup_xavp("location", "sip:alice@127.0.0.1", "rul", "cul");
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "pre") {
        $xavp(cul=>uri) = "old";
        $xavp(rul=>aor) = "oldaor";
        $var(t) = "location";
        $var(r) = "rul";
        lookup_xavp("$var(t)", "$ru", "$var(r)", "cul");
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "nobody") {
        lookup_xavp("location", "sip:nobody@127.0.0.1", "rul", "cul");
        $var(rc) = $rc;
    } else if ($hdr(X-Fn) == "notable") {
        lookup_xavp("nosuch", "sip:alice@127.0.0.1", "rul", "cul");
        $var(rc) = $rc;
    }
    route(SHOW);
    xlog("L_ERR", "@@E $ci@@\n");
    exit;
}
"#;

/// (Call-ID, method, X-Fn)
const STEPS: &[(&str, &str, &str)] = &[
    ("r1", "REGISTER", ""),
    ("x1", "MESSAGE", "plain"),
    ("x2", "MESSAGE", "pre"),
    ("x3", "MESSAGE", "nobody"),
    ("x4", "MESSAGE", "notable"),
];

fn message(port: u16, callid: &str, method: &str, xfn: &str) -> String {
    let extra = if method == "REGISTER" {
        "Contact: <sip:c1@127.0.0.1:5070;transport=udp>\r\n\
Contact: <sip:c2@10.0.0.2>;received=\"sip:10.9.9.9:5071\"\r\nExpires: 3600\r\n"
            .to_string()
    } else {
        format!("X-Fn: {xfn}\r\n")
    };
    format!(
        "{method} sip:alice@127.0.0.1 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{callid};rport\r\n\
From: <sip:alice@127.0.0.1>;tag=f-{callid}\r\nTo: <sip:alice@127.0.0.1>\r\n\
Call-ID: {callid}\r\nCSeq: 1 {method}\r\nMax-Forwards: 70\r\n{extra}Content-Length: 0\r\n\r\n"
    )
}

const FROM_ROUTE: &str = r#"request_route {
    xlog("L_ERR", "@@B $ci@@\n");
    if (method == "REGISTER") {
        save("location");
    } else {
        $var(m) = $(hdr(X-Mode){s.int});
        reg_from_user("location", "$hdr(X-Aor)", "$var(m)");
        xlog("L_ERR", "rc=$rc\n");
    }
    exit;
}
"#;

struct NoFiles;
impl ferrosip_config::Host for NoFiles {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.to_string(),
        ))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

/// Runs each (message, source) through `route` on ferrosip; the script lines of every step.
fn ferrosip_lines(route: &str, listen: u16, steps: &[(String, SocketAddr)]) -> Vec<Vec<String>> {
    let cfg = format!(
        "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         loadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n{route}"
    );
    let loaded = ferrosip_config::load_text("t.cfg", cfg, &LoadOptions::default(), &NoFiles)
        .unwrap_or_else(|f| panic!("{}", f.render()));
    let mut reg = ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::sl::exports(),
        ferrosip_modules::pv::exports(),
        ferrosip_modules::xlog::exports(),
        ferrosip_modules::usrloc::exports(),
        ferrosip_modules::registrar::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    assert!(diags.is_empty(), "{diags:?}");
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
    let request = p
        .route(ferrosip_script::Entry::Request)
        .unwrap_or_else(|| panic!("request_route"));
    let mut w = WorkerState::default();
    let local = SocketAddr::from(([127, 0, 0, 1], listen));
    let mut all = Vec::new();
    for (text, src) in steps {
        let mut rec = Recorder {
            debug: 3,
            sockets: vec![SocketInfo::new(Proto::Udp, local)],
            ..Recorder::default()
        };
        let mut m = ferrosip_sipmsg::Msg::parse(text.clone().into_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let rcv = RecvInfo {
            src: *src,
            dst: local,
            proto: Proto::Udp,
            socket: 0,
        };
        {
            let mut ctx = Ctx::new(&mut m, RouteType::Request, rcv, &mut w, &mut rec)
                .unwrap_or_else(|e| panic!("{e}"));
            p.run(request, &mut ctx);
        }
        all.push(
            rec.lines
                .iter()
                .map(|l| l.3.trim_end_matches('\n').to_string())
                .filter(|l| !l.starts_with("@@"))
                .collect(),
        );
    }
    all
}

fn lookup_steps(client: u16) -> Vec<(String, SocketAddr)> {
    let src = SocketAddr::from(([127, 0, 0, 1], client));
    STEPS
        .iter()
        .map(|(c, m, x)| (message(client, c, m, x), src))
        .collect()
}

#[test]
fn lookup_xavp_fills_record_and_contacts() {
    let got = ferrosip_lines(LOOKUP_ROUTE, 5099, &lookup_steps(9));
    let c1 = "uri=sip:c1@127.0.0.1:5070;transport=udp socket=udp:127.0.0.1:5099 dsturi=<null>";
    let c2 = "uri=sip:c2@10.0.0.2 socket=udp:127.0.0.1:5099 dsturi=sip:10.9.9.9:5071";
    let want: &[&[String]] = &[
        &["rc=1 aor=<null> count=<null> nr=0 nc=0".into()],
        &[
            "rc=1 aor=alice count=2 nr=1 nc=2".into(),
            format!("c0 {c1}"),
            format!("c1 {c2}"),
        ],
        &[
            "rc=1 aor=alice count=2 nr=2 nc=3".into(),
            format!("c0 {c1}"),
            format!("c1 {c2}"),
            "c2 uri=old socket=<null> dsturi=<null>".into(),
        ],
        &["rc=-1 aor=<null> count=<null> nr=0 nc=0".into()],
        &["rc=-1 aor=<null> count=<null> nr=0 nc=0".into()],
    ];
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(want.iter()).enumerate() {
        assert_eq!(g, w, "step {}", STEPS[i].0);
    }
}

#[test]
fn reg_from_user_matches_the_source_address() {
    let reg = message(9, "r1", "REGISTER", "");
    let msg = |aor: &str, mode: i64| {
        format!(
            "MESSAGE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-m\r\n\
From: <sip:a@127.0.0.1>;tag=1\r\nTo: <sip:x@127.0.0.1>\r\nCall-ID: m\r\nCSeq: 1 MESSAGE\r\n\
X-Aor: {aor}\r\nX-Mode: {mode}\r\nContent-Length: 0\r\n\r\n"
        )
    };
    let at = |ip: [u8; 4], port: u16| SocketAddr::from((ip, port));
    let alice = "sip:alice@127.0.0.1";
    // (source, AoR, mode, expected return code)
    let cases: &[(SocketAddr, &str, i64, i64)] = &[
        (at([127, 0, 0, 1], 1234), alice, 0, 1),
        (at([127, 0, 0, 1], 1234), alice, 1, -1),
        (at([127, 0, 0, 1], 5070), alice, 1, 1),
        (at([127, 0, 0, 1], 5070), alice, 3, 1),
        (at([10, 9, 9, 9], 5071), alice, 1, 1),
        // the received address has no transport parameter
        (at([10, 9, 9, 9], 5071), alice, 2, -1),
        // the received address, not the contact's host, is compared
        (at([10, 0, 0, 2], 5060), alice, 0, -1),
        (at([127, 0, 0, 1], 5070), "sip:nobody@127.0.0.1", 0, -1),
    ];
    let mut steps = vec![(reg, at([127, 0, 0, 1], 9))];
    steps.extend(
        cases
            .iter()
            .map(|(src, aor, mode, _)| (msg(aor, *mode), *src)),
    );
    let got = ferrosip_lines(FROM_ROUTE, 5099, &steps);
    for (i, (src, aor, mode, want)) in cases.iter().enumerate() {
        assert_eq!(
            got[i + 1],
            vec![format!("rc={want}")],
            "{src} {aor} mode {mode}"
        );
    }
}
