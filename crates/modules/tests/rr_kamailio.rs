//! Differential test of the rr module against Kamailio 5.6.3 (`/usr/sbin/kamailio`).
//!
//! Kamailio listens on UDP and TCP 127.0.0.1:<free port>; each case (selected by Call-ID) runs a
//! list of rr calls in `request_route`, logs each return code, `$du` and `$ru`, then forwards the
//! request statelessly to the test's UDP socket (`forward`) or TCP listener (`forward_tcp`, which
//! makes `record_route()` double). ferrosip runs the same calls on the same request with the same
//! sockets and builds the forwarded bytes with sipmsg's stateless-forward builder; both are
//! compared byte for byte after replacing the branch of the top Via (Kamailio's own) by `BRANCH`.
//! Without Kamailio the test is skipped, unless `CI` is set, where it fails.

#[path = "common/harness.rs"]
#[allow(unused_imports)]
mod harness;
mod rr_support;

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use ferrosip_api::ModValue;
use harness::{free_port, Kamailio, MPATH};
use rr_support::{registry, run, tcp, udp, Net, Step};

/// (Call-ID, request template, calls, forward over TCP)
type Case = (&'static str, &'static str, &'static [Step<'static>], bool);

const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Max-Forwards: 70
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: CID
CSeq: 1 INVITE
Contact: <sip:alice@127.0.0.1:CPORT>
Content-Length: 0

";

const SIPS_INVITE: &str = "INVITE sips:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: CID
CSeq: 1 INVITE
Content-Length: 0

";

/// Upstream BYE (from the callee): our Route, then the caller side.
const BYE_UP: &str = "BYE sip:alice@127.0.0.1:CPORT SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;lr;ftag=a1;nat=yes>, <sip:p2.example.com;lr>
From: <sip:bob@example.com>;tag=b2
To: <sip:alice@example.com>;tag=a1
Call-ID: CID
CSeq: 2 BYE
Content-Length: 0

";

const PRELOADED: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: CID
CSeq: 1 INVITE
Content-Length: 0

";

const PRELOADED2: &str = "INVITE sip:bob@example.com SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;lr>
Route: <sip:edge.example.com;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>
Call-ID: CID
CSeq: 1 INVITE
Content-Length: 0

";

/// The previous hop was a strict router: the R-URI is ours.
const STRICT_PREV: &str = "BYE sip:127.0.0.1:KPORT;lr;ftag=a1 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:p2.example.com;lr>
Route: <sip:bob@10.0.0.9:5062>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 3 BYE
Content-Length: 0

";

/// Both hops strict: the R-URI is ours, the next Route has no `lr`.
const STRICT_BOTH: &str = "BYE sip:127.0.0.1:KPORT SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:strict2.example.com>, <sip:bob@10.0.0.9:5062>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 3 BYE
Content-Length: 0

";

/// The next hop is a strict router (with maddr).
const STRICT_NEXT: &str = "BYE sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;lr>,<sip:strict.example.com:5070;maddr=10.1.1.1>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 4 BYE
Content-Length: 0

";

/// Double Route of ours (UDP/TCP), then the next hop.
const DOUBLE: &str = "BYE sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;transport=tcp;r2=on;lr;ftag=a1>
Route: <sip:127.0.0.1:KPORT;r2=on;lr;ftag=a1>, <sip:p3.example.com:5070;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 5 BYE
Content-Length: 0

";

/// Double Route in one header, nothing after it (in dialog).
const DOUBLE_ONLY: &str = "ACK sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;r2=on;lr>,<sip:127.0.0.1:KPORT;transport=tcp;r2=on;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 5 ACK
Content-Length: 0

";

const NOT_OURS: &str = "BYE sip:bob@10.0.0.9:5062 SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:other.example.com;lr>, <sip:127.0.0.1:KPORT;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 6 BYE
Content-Length: 0

";

/// In dialog, R-URI ours (an application server's Contact) and a Route set.
const RURI_OURS: &str = "INFO sip:as@127.0.0.1:KPORT SIP/2.0
Via: SIP/2.0/UDP 127.0.0.1:CPORT;branch=z9hG4bK-CID
Route: <sip:127.0.0.1:KPORT;lr;ftag=a1>, <sip:p4.example.com;lr>
From: <sip:alice@example.com>;tag=a1
To: <sip:bob@example.com>;tag=b2
Call-ID: CID
CSeq: 7 INFO
Content-Length: 0

";

const CASES: &[Case] = &[
    (
        "rm1",
        INVITE,
        &[("record_route", &[]), ("remove_record_route", &[])],
        false,
    ),
    (
        "rm2",
        INVITE,
        &[
            ("record_route", &[";p=1"]),
            ("add_rr_param", &[";q=2"]),
            ("remove_record_route", &[]),
            ("record_route", &[]),
            ("add_rr_param", &[";late"]),
        ],
        true,
    ),
    ("rm3", INVITE, &[("remove_record_route", &[])], false),
    (
        "rm4",
        INVITE,
        &[
            ("add_rr_param", &[";a=1"]),
            ("record_route_preset", &["1.2.3.4;r2=on", "5.6.7.8;r2=on"]),
            ("remove_record_route", &[]),
            ("remove_record_route", &[]),
        ],
        false,
    ),
    (
        "rm5",
        INVITE,
        &[
            ("record_route_advertised_address", &["10.9.8.7:5080"]),
            ("remove_record_route", &[]),
        ],
        true,
    ),
    ("rr1", INVITE, &[("record_route", &[])], false),
    ("rr2", INVITE, &[("record_route", &[])], true),
    (
        "rr3",
        INVITE,
        &[
            ("add_rr_param", &[";a=1"]),
            ("record_route", &[";p=$ci"]),
            ("add_rr_param", &[";x=y"]),
            ("record_route", &[]),
        ],
        true,
    ),
    (
        "rr4",
        INVITE,
        &[("record_route_preset", &["1.2.3.4:5090;x=1"])],
        false,
    ),
    (
        "rr5",
        INVITE,
        &[
            ("record_route_preset", &["1.2.3.4;r2=on", "5.6.7.8;r2=on"]),
            ("add_rr_param", &[";q"]),
        ],
        false,
    ),
    (
        "rr6",
        INVITE,
        &[("record_route_advertised_address", &["sip.example.net:5090"])],
        true,
    ),
    (
        "rr7",
        INVITE,
        &[("record_route_advertised_address", &["sip.example.net"])],
        false,
    ),
    ("rr8", SIPS_INVITE, &[("record_route", &[])], false),
    (
        "lr1",
        BYE_UP,
        &[
            ("loose_route", &[]),
            ("check_route_param", &["nat=YES"]),
            ("check_route_param", &["^;lr;"]),
            ("is_direction", &["upstream"]),
            ("is_direction", &["downstream"]),
            ("rr_next_hop_route", &[]),
            ("record_route", &[]),
        ],
        false,
    ),
    (
        "lr2",
        PRELOADED,
        &[("loose_route", &[]), ("rr_next_hop_route", &[])],
        false,
    ),
    ("lr3", PRELOADED, &[("loose_route_preloaded", &[])], false),
    (
        "lr4",
        PRELOADED2,
        &[("loose_route", &[]), ("rr_next_hop_route", &[])],
        false,
    ),
    (
        "lr5",
        STRICT_PREV,
        &[
            ("loose_route", &[]),
            ("check_route_param", &["ftag=a1"]),
            ("check_route_param", &["^;"]),
            ("is_direction", &["downstream"]),
        ],
        false,
    ),
    ("lr6", STRICT_BOTH, &[("loose_route", &[])], false),
    ("lr7", STRICT_NEXT, &[("loose_route", &[])], false),
    (
        "lr8",
        DOUBLE,
        &[("loose_route", &[]), ("rr_next_hop_route", &[])],
        false,
    ),
    ("lr9", DOUBLE_ONLY, &[("loose_route", &[])], false),
    (
        "lr10",
        NOT_OURS,
        &[("loose_route", &[]), ("check_route_param", &["lr"])],
        false,
    ),
    ("lr11", RURI_OURS, &[("loose_route", &[])], false),
    ("lr12", RURI_OURS, &[("loose_route_mode", &["1"])], false),
    ("lr13", INVITE, &[("loose_route", &[])], false),
];

/// Cases run with modparams changed.
const CASES_B: &[Case] = &[
    ("b1", INVITE, &[("record_route", &[";z=1"])], false),
    ("b2", INVITE, &[("record_route", &[])], true),
    (
        "b3",
        INVITE,
        &[("record_route_preset", &["1.2.3.4"])],
        false,
    ),
    (
        "b4",
        INVITE,
        &[("record_route_advertised_address", &["sip.example.net"])],
        false,
    ),
    ("b5", DOUBLE, &[("loose_route", &[])], false),
    ("b6", SIPS_INVITE, &[("record_route", &[])], false),
];

/// Variables compared after the calls.
const PVS: &[&str] = &[
    "$fti",
    "$tti",
    "$rdir(name)",
    "$rdir(id)",
    "$fs",
    "$route_uri",
];

/// A modparam value.
enum Param {
    I(i64),
    S(&'static str),
}

const PARAMS_B: &[(&str, Param)] = &[
    ("enable_double_rr", Param::I(2)),
    ("append_fromtag", Param::I(0)),
    ("enable_full_lr", Param::I(1)),
    ("add_username", Param::I(1)),
    ("ignore_sips", Param::I(1)),
];

/// Cases run without double Record-Route, with socket names, a custom user AVP and
/// `force_send_socket`.
const CASES_C: &[Case] = &[
    (
        "c1",
        INVITE,
        &[("record_route", &[]), ("record_route", &[])],
        true,
    ),
    (
        "c2",
        INVITE,
        &[("=avp:rru", &["mo"]), ("record_route", &[";k=v"])],
        false,
    ),
    (
        "c3",
        INVITE,
        &[("record_route_advertised_address", &["sip.example.net:5090"])],
        true,
    ),
    (
        "c4",
        INVITE,
        &[
            ("add_rr_param", &[";a=1"]),
            ("record_route_preset", &["1.2.3.4"]),
        ],
        false,
    ),
    (
        "c5",
        DOUBLE,
        &[("loose_route", &[]), ("rr_next_hop_route", &[])],
        false,
    ),
    (
        "c6",
        INVITE,
        &[("record_route_preset", &["1.2.3.4", "5.6.7.8"])],
        false,
    ),
    (
        "c7",
        BYE_UP,
        &[
            ("loose_route", &[]),
            ("record_route_preset", &["1.2.3.4"]),
            ("record_route", &[]),
        ],
        false,
    ),
];

const PARAMS_C: &[(&str, Param)] = &[
    ("enable_double_rr", Param::I(0)),
    ("add_username", Param::I(1)),
    ("custom_user_avp", Param::S("$avp(rru)")),
    ("sockname_mode", Param::I(1)),
    ("force_send_socket", Param::I(1)),
];

fn cfg_call(name: &str, args: &[&str]) -> String {
    let a: Vec<String> = args.iter().map(|a| format!("\"{a}\"")).collect();
    format!("{name}({})", a.join(", "))
}

fn config(port: u16, sink: u16, tsink: u16, cases: &[Case], params: &[(&str, Param)]) -> String {
    let mut s = format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nmemdbg=5\nmemlog=5\n\
listen=udp:127.0.0.1:{port} name \"sudp\"\nlisten=tcp:127.0.0.1:{port} name \"stcp\"\ntcp_children=1\n\
mpath=\"{MPATH}\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"rr.so\"\n"
    );
    for (n, v) in params {
        match v {
            Param::I(i) => s.push_str(&format!("modparam(\"rr\", \"{n}\", {i})\n")),
            Param::S(t) => s.push_str(&format!("modparam(\"rr\", \"{n}\", \"{t}\")\n")),
        }
    }
    s.push_str(
        "request_route {\n  if ($ci == \"ping\") { xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }\n",
    );
    for (cid, _, calls, tcp) in cases {
        s.push_str(&format!("  if ($ci == \"{cid}\") {{\n"));
        for (name, args) in *calls {
            if let Some(avp) = name.strip_prefix("=avp:") {
                let v = args.first().copied().unwrap_or_default();
                s.push_str(&format!("    $avp({avp}) = \"{v}\";\n"));
                continue;
            }
            s.push_str(&format!(
                "    {}; xlog(\"L_ERR\", \"@@RC $ci $rc@@\\n\");\n",
                cfg_call(name, args)
            ));
        }
        s.push_str(&format!(
            "    xlog(\"L_ERR\", \"@@END $ci du=$du ru=$ru pv={}@@\\n\");\n",
            PVS.join("|")
        ));
        if *tcp {
            s.push_str(&format!("    forward_tcp(\"127.0.0.1\", {tsink});\n"));
        } else {
            s.push_str(&format!("    forward(\"127.0.0.1\", {sink});\n"));
        }
        s.push_str("    exit;\n  }\n");
    }
    s.push_str("}\n");
    s
}

/// Replaces the branch value of the first Via by `BRANCH`.
fn normalise(s: &str) -> String {
    let Some(v) = s.find("\r\nVia: ") else {
        return s.to_string();
    };
    let Some(b) = s[v..].find(";branch=").map(|i| v + i + 8) else {
        return s.to_string();
    };
    let end = s[b..].find([';', '\r']).map_or(s.len(), |i| b + i);
    format!("{}BRANCH{}", &s[..b], &s[end..])
}

/// Reads one request with `Content-Length: 0` from a TCP stream (requests end at the empty line).
fn read_tcp(stream: &mut TcpStream, pending: &mut Vec<u8>) -> Option<String> {
    let mut buf = [0u8; 4096];
    loop {
        if let Some(i) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
            let msg: Vec<u8> = pending.drain(..i + 4).collect();
            return Some(String::from_utf8_lossy(&msg).into_owned());
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return None,
            Ok(n) => pending.extend_from_slice(buf.get(..n).unwrap_or_default()),
        }
    }
}

fn run_against_kamailio(cases: &[Case], params: &[(&str, Param)], tag: &str) {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap_or_else(|e| panic!("{e}"));
    let cport = client.local_addr().map(|a| a.port()).unwrap_or(0);
    let sink = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    sink.set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap_or_else(|e| panic!("{e}"));
    let sink_port = sink.local_addr().map(|a| a.port()).unwrap_or(0);
    let tsink = TcpListener::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let tsink_port = tsink.local_addr().map(|a| a.port()).unwrap_or(0);
    let port = free_port();
    let cfg = config(port, sink_port, tsink_port, cases, params);
    let Some(mut kam) = Kamailio::start(&cfg, port, &client, tag) else {
        return;
    };
    let modparams: Vec<(&str, ModValue)> = params
        .iter()
        .map(|(n, v)| {
            let v = match v {
                Param::I(i) => ModValue::Int(*i),
                Param::S(t) => ModValue::Str(t.to_string()),
            };
            (*n, v)
        })
        .collect();
    let reg = registry(&modparams).unwrap_or_else(|e| panic!("{e}"));
    let myself = [("127.0.0.1", port)];
    let mut tcp_conn: Option<TcpStream> = None;
    let mut pending = Vec::new();
    let mut failures = Vec::new();
    let mut compared = 0;
    for (cid, tmpl, calls, over_tcp) in cases {
        let msg = tmpl
            .replace("CPORT", &cport.to_string())
            .replace("KPORT", &port.to_string())
            .replace("CID", cid);
        let wire = msg.replace('\n', "\r\n");
        client
            .send_to(wire.as_bytes(), ("127.0.0.1", port))
            .unwrap_or_else(|e| panic!("{e}"));
        let kam_out = if *over_tcp {
            if tcp_conn.is_none() {
                tsink
                    .set_nonblocking(false)
                    .unwrap_or_else(|e| panic!("{e}"));
                let (s, _) = tsink.accept().unwrap_or_else(|e| panic!("accept: {e}"));
                s.set_read_timeout(Some(Duration::from_secs(3)))
                    .unwrap_or_else(|e| panic!("{e}"));
                tcp_conn = Some(s);
            }
            tcp_conn
                .as_mut()
                .and_then(|s| read_tcp(s, &mut pending))
                .unwrap_or_else(|| "<nothing>".into())
        } else {
            let mut buf = [0u8; 65536];
            match sink.recv_from(&mut buf) {
                Ok((n, _)) => {
                    String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned()
                }
                Err(e) => format!("<nothing: {e}>"),
            }
        };
        let end = format!("@@END {cid} ");
        kam.wait_for(&end, Duration::from_secs(2));
        let log = kam.text();
        let rc_tag = format!("@@RC {cid} ");
        let kam_rcs: Vec<i64> = log
            .split(&rc_tag)
            .skip(1)
            .filter_map(|s| s.split("@@").next().and_then(|v| v.trim().parse().ok()))
            .collect();
        let kam_end = log
            .split(&end)
            .nth(1)
            .and_then(|s| s.split("@@").next())
            .unwrap_or("<no END line>")
            .to_string();
        // `$route_uri` without a Route header: 5.6.3 fails the read (xlog prints nothing); 6.0
        // returns `$null` (kamailio commit 09a0a1a0b4), which ferrosip follows.
        let kam_end = match kam_end.strip_suffix('|') {
            Some(k) => format!("{k}|<null>"),
            None => kam_end,
        };
        let net = Net {
            rcv: udp(port),
            snd: if *over_tcp { tcp(port) } else { udp(port) },
            src: SocketAddr::from(([127, 0, 0, 1], cport)),
        };
        let mut steps: Vec<Step<'_>> = calls.to_vec();
        steps.extend(PVS.iter().map(|p| (*p, &[][..])));
        let o = run(&reg, &msg, &steps, &net, &myself);
        let ours_end = format!(
            "du={} ru={} pv={}",
            o.du.as_deref().unwrap_or("<null>"),
            o.ruri.clone().unwrap_or_else(|| {
                msg.split_whitespace()
                    .nth(1)
                    .unwrap_or_default()
                    .to_string()
            }),
            o.pvs.join("|")
        );
        let (k, f) = (normalise(&kam_out), normalise(&o.out));
        compared += 1;
        if k != f || kam_rcs != o.rcs || kam_end != ours_end {
            failures.push(format!(
                "case {cid}:\n rcs kamailio {kam_rcs:?} ferrosip {:?}\n end kamailio [{kam_end}] ferrosip [{ours_end}]\n--- kamailio\n{k}--- ferrosip\n{f}--- logs {:?}",
                o.rcs, o.logs
            ));
        }
    }
    drop(kam);
    assert!(
        failures.is_empty(),
        "{} of {compared} cases differ:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
    eprintln!("rr: {compared} cases agree with Kamailio 5.6.3 ({tag})");
}

#[test]
fn rr_agrees_with_kamailio_defaults() {
    run_against_kamailio(CASES, &[], "rr-a");
}

#[test]
fn rr_agrees_with_kamailio_socket_names_single_rr() {
    run_against_kamailio(CASES_C, PARAMS_C, "rr-c");
}

#[test]
fn rr_agrees_with_kamailio_modparams() {
    run_against_kamailio(CASES_B, PARAMS_B, "rr-b");
}
