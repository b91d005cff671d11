//! AVP names given in modparams of auth (`challenge_attr`), siputils (`rpid_avp`) and
//! permissions (`peer_tag_avp`) name the same AVP as the script's `$avp(…)`, whatever accepted
//! spelling either side uses (class and track prefixes, `s:`, `i:`). The same statements run on
//! ferrosip (in process) and on Kamailio 5.6.3, with the modparams spelled three ways; every
//! `xlog` line is compared. No database: permissions reads an `address_file`.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

/// The modparams of each variant: challenge_attr, rpid_avp, peer_tag_avp.
const VARIANTS: &[(&str, &str, &str)] = &[
    ("$t.ch", "$avp(t.rp)", "$avp(tu.pt)"),
    ("$i:7", "$avp(i:5)", "$avp(s:pt)"),
    // `$avp(ch)` after `$` is the attribute named `avp(ch)` for Kamailio: not `$avp(ch)`.
    ("$avp(ch)", "$avp(fd.rp)", "$avp(i:9)"),
];

/// The statements; every spelling of the AVPs is read after each module wrote.
const BODY: &str = r#"
    pv_www_authenticate("example.com", "secret", "2");
    xlog("L_ERR", "A rc=$rc t=$(avp(t.ch){s.select,0,,}) tr=$(avp(tr.ch){s.len}) f=$(avp(ch){s.len}) fr=$(avp(fr.ch){s.len}) i7=$(avp(i:7){s.select,0,,}) s=$(avp(s:ch){s.len})\n");
    $avp(rp) = "<sip:+4930100@example.com>";
    is_rpid_user_e164(); xlog("L_ERR", "R0 rc=$rc\n");
    $avp(tu.rp) = "<sip:+4930200@example.com>";
    is_rpid_user_e164(); xlog("L_ERR", "R1 rc=$rc\n");
    $avp(tr.rp) = "<sip:alice@example.com>";
    is_rpid_user_e164(); xlog("L_ERR", "R2 rc=$rc\n");
    $avp(i:5) = "<sip:+4930500@example.com>";
    is_rpid_user_e164(); xlog("L_ERR", "R3 rc=$rc\n");
    $avp(fd.rp) = "sip:+4930600@example.com";
    is_rpid_user_e164(); xlog("L_ERR", "R4 rc=$rc\n");
    allow_address("1", "127.0.0.1", "5060");
    xlog("L_ERR", "P rc=$rc t=$avp(t.pt) tu=$avp(tu.pt) tr=$avp(tr.pt) f=$avp(pt) fr=$avp(fr.pt) s=$avp(s:pt) i9=$avp(i:9)\n");
"#;

fn config(port: Option<u16>, variant: (&str, &str, &str), addr: &str) -> String {
    let head = match port {
        Some(p) => format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{p}\n\
             mpath=\"{}\"\n",
            harness::MPATH
        ),
        None => String::new(),
    };
    let (ch, rp, pt) = variant;
    format!(
        "{head}loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\n\
         loadmodule \"auth.so\"\nloadmodule \"siputils.so\"\nloadmodule \"permissions.so\"\n\
         modparam(\"auth\", \"challenge_attr\", \"{ch}\")\n\
         modparam(\"siputils\", \"rpid_avp\", \"{rp}\")\n\
         modparam(\"permissions\", \"address_file\", \"{addr}\")\n\
         modparam(\"permissions\", \"peer_tag_avp\", \"{pt}\")\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \txlog(\"L_ERR\", \"@@B $ci@@\\n\");\n{BODY}\n\txlog(\"L_ERR\", \"@@E $ci@@\\n\");\n\texit;\n}}\n"
    )
}

fn message(callid: &str) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{callid}\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>\r\nCall-ID: {callid}\r\n\
CSeq: 1 REGISTER\r\nContent-Length: 0\r\n\r\n"
    )
}

fn ferrosip_lines(cfg: String, callid: &str) -> Vec<String> {
    harness::request_log_lines(
        cfg,
        vec![
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
            ferrosip_modules::sl::exports(),
            ferrosip_modules::auth::exports(),
            ferrosip_modules::siputils::exports(),
            ferrosip_modules::permissions::exports(),
        ],
        &message(callid),
    )
}

#[test]
fn modparam_avps_match_the_script_as_kamailio() {
    let dir = std::env::temp_dir().join(format!("ferrosip-avp-mp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let addr = dir.join("addr.list");
    std::fs::write(&addr, "1 127.0.0.1 32 5060 tagA\n").unwrap_or_else(|e| panic!("{e}"));
    let addr = addr.display().to_string();
    // What ferrosip must print whatever Kamailio says (variant by variant).
    let want: [&[&str]; 3] = [
        &[
            "A rc=-5 t=WWW-Authenticate: Digest realm=\"example.com\" tr=88 f= fr= i7= s=",
            "R0 rc=-1",
            "R1 rc=1",
            "R2 rc=-1",
            "R3 rc=-1",
            "R4 rc=-1",
            "P rc=1 t=tagA tu=tagA tr=<null> f=<null> fr=<null> s=<null> i9=<null>",
        ],
        &[
            "A rc=-5 t= tr= f= fr= i7=WWW-Authenticate: Digest realm=\"example.com\" s=",
            "R0 rc=-1",
            "R1 rc=-1",
            "R2 rc=-1",
            "R3 rc=1",
            "R4 rc=1",
            "P rc=1 t=<null> tu=<null> tr=<null> f=tagA fr=tagA s=tagA i9=<null>",
        ],
        &[
            "A rc=-5 t= tr= f= fr= i7= s=",
            "R0 rc=-1",
            "R1 rc=-1",
            "R2 rc=-1",
            "R3 rc=-1",
            "R4 rc=1",
            "P rc=1 t=<null> tu=<null> tr=<null> f=<null> fr=<null> s=<null> i9=tagA",
        ],
    ];
    for (i, v) in VARIANTS.iter().enumerate() {
        let callid = format!("avp-mp-{i}");
        let ours = ferrosip_lines(config(None, *v, &addr), &callid);
        eprintln!("ours {ours:?}");
        let port = harness::free_port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let Some(mut kam) = harness::Kamailio::start(
            &config(Some(port), *v, &addr),
            port,
            &client,
            &format!("avpmp{i}"),
        ) else {
            break;
        };
        client
            .send_to(message(&callid).as_bytes(), format!("127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kam.wait_for(&format!("@@E {callid}@@"), Duration::from_secs(5)),
            "{}",
            kam.text()
        );
        let theirs = harness::kamailio_step(&kam.text(), &callid).unwrap_or_default();
        eprintln!("theirs {theirs:?}");
        assert_eq!(ours, theirs, "{v:?}");
        assert_eq!(ours, want[i], "{v:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
