//! Table-driven tests of usrloc (memory) and registrar: REGISTER → reply bytes and stored state,
//! expiry with a controlled clock, `*` unregistration, max_contacts, out-of-order CSeq,
//! lookup → R-URI / branches / `$du`, and the `ul.*` RPC entries' output.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use std::sync::Arc;

use ferrosip_api::export::RpcValue;
use ferrosip_api::{store, ModValue, ModuleExports, Registry, RouteType};
use ferrosip_modules::usrloc::UlApi;

const T0: i64 = 1_700_000_000;

fn reg_with(ul: &[(&str, ModValue)], rg: &[(&str, ModValue)]) -> (Registry, Arc<UlApi>) {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::var_avp_pvs();
    core.pvs.extend(store::core_pvs());
    reg.add(core).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::sl::exports(),
        ferrosip_modules::usrloc::exports(),
        ferrosip_modules::registrar::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    for (n, v) in ul {
        reg.set_modparam("usrloc", n, v.clone())
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    for (n, v) in rg {
        reg.set_modparam("registrar", n, v.clone())
            .unwrap_or_else(|e| panic!("{n}: {e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let api = reg.api::<UlApi>().unwrap_or_else(|| panic!("usrloc api"));
    api.clock().set(T0);
    (reg, api)
}

fn register(user: &str, callid: &str, cseq: u32, extra: &str) -> String {
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-{callid}-{cseq}\r\n\
Max-Forwards: 70\r\n\
From: <sip:{user}@example.com>;tag=f1\r\n\
To: <sip:{user}@example.com>\r\n\
Call-ID: {callid}\r\n\
CSeq: {cseq} REGISTER\r\n\
{extra}Content-Length: 0\r\n\r\n"
    )
}

fn invite(user: &str) -> String {
    format!(
        "INVITE sip:{user}@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bK-inv\r\n\
Max-Forwards: 70\r\n\
From: <sip:caller@example.com>;tag=c1\r\n\
To: <sip:{user}@example.com>\r\n\
Call-ID: inv1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n"
    )
}

/// Runs one function; returns (rc, status line, Contact line or "", other registrar header lines).
fn run(
    reg: &Registry,
    msg: &str,
    f: &str,
    args: &[&str],
) -> (i64, String, String, Vec<String>, Outcome) {
    let o = call_with(reg, msg, RouteType::Request, 3, &[(f, args)], &|_| {});
    let reply = o.sent.first().map(|(_, b)| b.clone()).unwrap_or_default();
    let status = reply.lines().next().unwrap_or("").to_string();
    let contact = reply
        .lines()
        .find(|l| l.starts_with("Contact:"))
        .unwrap_or("")
        .to_string();
    let others = reply
        .lines()
        .filter(|l| {
            [
                "P-Registrar-Error:",
                "Retry-After:",
                "Min-Expires:",
                "Path:",
                "Unsupported:",
            ]
            .iter()
            .any(|p| l.starts_with(p))
        })
        .map(str::to_string)
        .collect();
    (o.rc, status, contact, others, o)
}

type Step = (
    &'static str,            // user
    &'static str,            // call-id
    u32,                     // cseq
    &'static str,            // extra headers
    i64,                     // clock offset from T0
    i64,                     // save rc
    &'static str,            // status line
    &'static str,            // Contact line
    &'static [&'static str], // other headers
);

/// lookup() gives the R-URI its contact's q (Kamailio's set_ruri_q: tm's t_load_contacts orders
/// by it), and corex's append_branch() without a URI moves it into the branch with that q.
#[test]
fn lookup_sets_the_ruri_q() {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::var_avp_pvs();
    core.pvs.extend(store::core_pvs());
    reg.add(core).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::sl::exports(),
        ferrosip_modules::usrloc::exports(),
        ferrosip_modules::registrar::exports(),
        ferrosip_modules::corex::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let ul = reg.api::<UlApi>().unwrap_or_else(|| panic!("usrloc api"));
    ul.clock().set(T0);
    let extra = "Contact: <sip:a@10.0.0.5>;q=0.3\r\nContact: <sip:a@10.0.0.6>;q=0.7\r\n";
    let o = call(
        &reg,
        &register("dave", "q1", 1, extra),
        "save",
        &["location"],
    );
    assert_eq!(o.rc, 1, "{:?}", o.logs);
    let o = call(&reg, &invite("dave"), "lookup", &["location"]);
    assert_eq!(o.rc, 1);
    assert_eq!(o.ruri, "sip:a@10.0.0.6");
    assert_eq!(o.state.ruri_q, Some(700));
    assert_eq!(o.state.branches.first().map(|b| b.q), Some(300));
    let o = call_with(
        &reg,
        &invite("dave"),
        RouteType::Request,
        3,
        &[("lookup", &["location"]), ("append_branch", &[])],
        &|_| {},
    );
    let qs: Vec<i32> = o.state.branches.iter().map(|b| b.q).collect();
    assert_eq!(qs, [300, 700], "the R-URI joins the branches with its q");
}

#[test]
fn register_sequences() {
    let (reg, _api) = reg_with(
        &[],
        &[
            ("max_contacts", ModValue::Int(3)),
            ("retry_after", ModValue::Int(30)),
        ],
    );
    let steps: &[Step] = &[
        // First registration: two contacts, q order, Expires header, instance/reg-id carried.
        ("alice", "c1", 1,
         "Contact: <sip:alice@10.0.0.2>;expires=60\r\nContact: <sip:alice@10.0.0.1:5070>;q=0.5;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\nExpires: 120\r\n",
         0, 1, "SIP/2.0 200 OK",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=120;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.2>;expires=60", &[]),
        // A third contact with the default expires, 10 s later.
        ("alice", "c2", 1, "Contact: <sip:alice@10.0.0.3>\r\n", 10, 1, "SIP/2.0 200 OK",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=110;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.2>;expires=50, <sip:alice@10.0.0.3>;expires=3600", &[]),
        // Refresh of an existing contact: rc 2.
        ("alice", "c2", 2, "Contact: <sip:alice@10.0.0.3>;expires=300\r\n", 20, 2, "SIP/2.0 200 OK",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=100;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.2>;expires=40, <sip:alice@10.0.0.3>;expires=300", &[]),
        // Out of order: same Call-ID, lower CSeq → 400 Invalid CSeq, record unchanged in the reply.
        ("alice", "c2", 1, "Contact: <sip:alice@10.0.0.3>;expires=900\r\n", 21, -1, "SIP/2.0 400 Bad Request",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=99;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.2>;expires=39, <sip:alice@10.0.0.3>;expires=299",
         &["P-Registrar-Error: Invalid CSeq number"]),
        // Retransmission (same CSeq within cseq_delay): skipped, still 200.
        ("alice", "c2", 2, "Contact: <sip:alice@10.0.0.3>;expires=900\r\n", 22, 1, "SIP/2.0 200 OK",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=98;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.2>;expires=38, <sip:alice@10.0.0.3>;expires=298", &[]),
        // A fourth contact: max_contacts 3 → 503 with Retry-After, rc -2.
        ("alice", "c3", 1, "Contact: <sip:alice@10.0.0.4>\r\n", 23, -2, "SIP/2.0 503 Service Unavailable",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=97;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.2>;expires=37, <sip:alice@10.0.0.3>;expires=297",
         &["P-Registrar-Error: Too many registered contacts", "Retry-After: 30"]),
        // Removing one contact with expires=0: rc 3.
        ("alice", "c1", 2, "Contact: <sip:alice@10.0.0.2>;expires=0\r\n", 24, 3, "SIP/2.0 200 OK",
         "Contact: <sip:alice@10.0.0.1:5070>;q=0.5;expires=96;+sip.instance=\"<urn:uuid:1>\";reg-id=1, <sip:alice@10.0.0.3>;expires=296", &[]),
        // Query (no Contact): rc 4, bindings listed. The first contact expired meanwhile.
        ("alice", "c9", 1, "", 130, 4, "SIP/2.0 200 OK", "Contact: <sip:alice@10.0.0.3>;expires=190", &[]),
        // Below min_expires (60) is raised to it; max none.
        ("bob", "b1", 1, "Contact: <sip:bob@10.0.0.5>;expires=5\r\n", 130, 1, "SIP/2.0 200 OK",
         "Contact: <sip:bob@10.0.0.5>;expires=60", &[]),
        // `*` with Expires 0 removes everything: rc 3, no Contact.
        ("alice", "c9", 2, "Contact: *\r\nExpires: 0\r\n", 131, 3, "SIP/2.0 200 OK", "", &[]),
        // `*` without Expires: 0 → 400.
        ("bob", "b1", 2, "Contact: *\r\n", 132, -1, "SIP/2.0 400 Bad Request", "",
         &["P-Registrar-Error: * used in contact and expires is not zero"]),
        // Query of an AoR without bindings: 200 without Contact.
        ("carol", "x1", 1, "", 133, 4, "SIP/2.0 200 OK", "", &[]),
    ];
    for (i, (user, cid, cseq, extra, off, rc, status, contact, others)) in steps.iter().enumerate()
    {
        _api.clock().set(T0 + off);
        let (got_rc, got_status, got_contact, got_others, _) = run(
            &reg,
            &register(user, cid, *cseq, extra),
            "save",
            &["location"],
        );
        assert_eq!(
            (got_rc, got_status.as_str(), got_contact.as_str()),
            (*rc, *status, *contact),
            "step {i}"
        );
        assert_eq!(got_others, others.to_vec(), "step {i}");
    }
}

#[test]
fn expiry_sweep_with_controlled_time() {
    let (reg, api) = reg_with(&[], &[]);
    for (user, e) in [("a", 100), ("b", 200), ("c", 0)] {
        let extra = if e == 0 {
            "Contact: <sip:c@h>;expires=0\r\n".to_string()
        } else {
            format!("Contact: <sip:{user}@h>;expires={e}\r\n")
        };
        run(
            &reg,
            &register(user, user, 1, &extra),
            "save",
            &["location"],
        );
    }
    let dump = |api: &UlApi| -> Vec<String> {
        api.store()
            .dump("location")
            .into_iter()
            .map(|r| r.aor)
            .collect()
    };
    assert_eq!(
        dump(&api),
        vec!["a", "b"],
        "expires=0 on a new AoR stores nothing"
    );
    // (now offset, removed by the sweep, AoRs left)
    let table: &[(i64, usize, &[&str])] = &[(99, 0, &["a", "b"]), (100, 1, &["b"]), (250, 1, &[])];
    for (off, removed, left) in table {
        assert_eq!(api.timer(T0 + off), *removed, "at +{off}");
        assert_eq!(dump(&api), left.to_vec(), "at +{off}");
    }
}

#[test]
fn lookup_sets_ruri_branches_and_du() {
    let (reg, api) = reg_with(
        &[("nat_bflag", ModValue::Int(6))],
        &[
            ("use_path", ModValue::Int(1)),
            ("path_mode", ModValue::Int(1)),
        ],
    );
    let extra = "Contact: <sip:d@10.0.0.7>;q=0.2\r\n\
Contact: <sip:d@192.168.1.2:5062>;q=0.9;received=\"sip:1.2.3.4:40000\"\r\n\
Contact: <sip:d@10.0.0.8>;q=0.5\r\n";
    let (rc, st, _, _, _) = run(
        &reg,
        &register("dave", "d1", 1, extra),
        "save",
        &["location"],
    );
    assert_eq!((rc, st.as_str()), (1, "SIP/2.0 200 OK"));
    let with_path =
        "Path: <sip:edge.example.com;lr>\r\nSupported: path\r\nContact: <sip:e@10.0.0.9>\r\n";
    let (rc, _, _, others, _) = run(
        &reg,
        &register("erin", "e1", 1, with_path),
        "save",
        &["location"],
    );
    assert_eq!(rc, 1);
    assert_eq!(others, vec!["Path: <sip:edge.example.com;lr>".to_string()]);

    let o = call_with(
        &reg,
        &invite("dave"),
        RouteType::Request,
        3,
        &[("lookup", &["location"])],
        &|_| {},
    );
    assert_eq!(o.rc, 1);
    assert_eq!(o.ruri, "sip:d@192.168.1.2:5062");
    assert_eq!(o.state.dst_uri.as_deref(), Some(&b"sip:1.2.3.4:40000"[..]));
    let br: Vec<(String, i32)> = o
        .state
        .branches
        .iter()
        .map(|b| (String::from_utf8_lossy(&b.uri).into_owned(), b.q))
        .collect();
    assert_eq!(
        br,
        vec![
            ("sip:d@10.0.0.8".into(), 500),
            ("sip:d@10.0.0.7".into(), 200)
        ]
    );

    let o = call_with(
        &reg,
        &invite("erin"),
        RouteType::Request,
        3,
        &[("lookup", &["location"])],
        &|_| {},
    );
    assert_eq!((o.rc, o.ruri.as_str()), (1, "sip:e@10.0.0.9"));
    assert_eq!(
        o.state.dst_uri.as_deref(),
        Some(&b"sip:edge.example.com;lr"[..])
    );

    // Not registered: -1; registered() agrees; after expiry lookup fails too.
    let cases: &[(&str, &str, i64)] = &[
        ("lookup", "nobody", -1),
        ("registered", "nobody", -1),
        ("registered", "dave", 1),
    ];
    for (f, user, want) in cases {
        let o = call_with(
            &reg,
            &invite(user),
            RouteType::Request,
            3,
            &[(f, &["location"])],
            &|_| {},
        );
        assert_eq!(o.rc, *want, "{f} {user}");
    }
    // registered() on a reply checks the To URI.
    let reply =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 10.0.0.9;branch=z9hG4bK-r\r\nFrom: <sip:x@h>;tag=1\r\n\
To: <sip:dave@example.com>;tag=2\r\nCall-ID: r\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    let o = call_with(
        &reg,
        reply,
        RouteType::CoreOnReply,
        3,
        &[("registered", &["location"])],
        &|_| {},
    );
    assert_eq!(o.rc, 1, "registered on a reply");
    api.clock().set(T0 + 3601);
    let o = call_with(
        &reg,
        &invite("dave"),
        RouteType::Request,
        3,
        &[("lookup", &["location"])],
        &|_| {},
    );
    assert_eq!(o.rc, -1, "expired contacts are not used");
}

#[test]
fn method_filtering_gives_minus_two() {
    let (reg, _api) = reg_with(&[], &[("method_filtering", ModValue::Int(1))]);
    run(
        &reg,
        &register(
            "m",
            "m1",
            1,
            "Allow: MESSAGE, OPTIONS\r\nContact: <sip:m@h>\r\n",
        ),
        "save",
        &["location"],
    );
    let o = call_with(
        &reg,
        &invite("m"),
        RouteType::Request,
        3,
        &[("lookup", &["location"])],
        &|_| {},
    );
    assert_eq!(o.rc, -2);
}

#[test]
fn errors_and_modes() {
    // min_expires_mode → 423 with Min-Expires.
    let (reg, _api) = reg_with(&[], &[("min_expires_mode", ModValue::Int(1))]);
    let (rc, st, _, others, _) = run(
        &reg,
        &register("x", "x1", 1, "Contact: <sip:x@h>;expires=10\r\n"),
        "save",
        &["location"],
    );
    assert_eq!((rc, st.as_str()), (-1, "SIP/2.0 423 Interval Too Brief"));
    assert_eq!(
        others,
        vec![
            "Min-Expires: 60".to_string(),
            "P-Registrar-Error: Interval too brief".into()
        ]
    );
    // Strict path mode without Supported: path → 420.
    let (reg, _api) = reg_with(&[], &[("use_path", ModValue::Int(1))]);
    let (rc, st, _, others, _) = run(
        &reg,
        &register("y", "y1", 1, "Path: <sip:p;lr>\r\nContact: <sip:y@h>\r\n"),
        "save",
        &["location"],
    );
    assert_eq!((rc, st.as_str()), (1, "SIP/2.0 420 Bad Extension"));
    assert_eq!(
        others,
        vec![
            "Unsupported: path".to_string(),
            "Path: <sip:p;lr>".into(),
            "P-Registrar-Error: No support for found Path indicated".into()
        ]
    );
    // Flag 0x02: no reply; 0x12 prepares it for reg_send_reply; 0x04 replaces contacts.
    let (reg, api) = reg_with(&[], &[]);
    let o = call_with(
        &reg,
        &register("z", "z1", 1, "Contact: <sip:z1@h>\r\n"),
        RouteType::Request,
        3,
        &[("save", &["location", "2"])],
        &|_| {},
    );
    assert_eq!((o.rc, o.sent.len()), (1, 0));
    let o = call_with(
        &reg,
        &register("z", "z1", 2, "Contact: <sip:z2@h>\r\n"),
        RouteType::Request,
        3,
        &[("save", &["location", "18"]), ("reg_send_reply", &[])],
        &|_| {},
    );
    assert_eq!(o.rc, 1);
    assert!(
        o.sent
            .first()
            .is_some_and(|(_, b)| b
                .contains("Contact: <sip:z1@h>;expires=3600, <sip:z2@h>;expires=3600\r\n")),
        "{:?}",
        o.sent
    );
    let (rc, _, contact, _, _) = run(
        &reg,
        &register("z", "z1", 3, "Contact: <sip:z3@h>\r\n"),
        "save",
        &["location", "4"],
    );
    assert_eq!(
        (rc, contact.as_str()),
        (1, "Contact: <sip:z3@h>;expires=3600")
    );
    assert_eq!(
        api.store().get("location", "z").map(|r| r.contacts.len()),
        Some(1)
    );
    // unregister by AoR.
    let o = call(
        &reg,
        &invite("z"),
        "unregister",
        &["location", "sip:z@example.com"],
    );
    assert_eq!(o.rc, 1);
    assert!(api.store().get("location", "z").is_none());
    let o = call(
        &reg,
        &invite("z"),
        "unregister",
        &["location", "sip:z@example.com"],
    );
    assert_eq!(o.rc, -3);
}

#[test]
fn load_time_refusals() {
    let mut reg = Registry::new();
    reg.add(ferrosip_modules::usrloc::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    reg.add(ferrosip_modules::registrar::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    let refused: &[(&str, &str, ModValue)] = &[
        ("usrloc", "db_mode", ModValue::Int(5)),
        ("usrloc", "ka_interval", ModValue::Int(5)),
        ("registrar", "outbound_mode", ModValue::Int(1)),
        ("registrar", "flow_timer", ModValue::Int(1)),
        ("registrar", "sock_flag", ModValue::Int(40)),
    ];
    for (m, n, v) in refused {
        assert!(reg.set_modparam(m, n, v.clone()).is_err(), "{m}.{n}");
    }
    // registrar without usrloc loaded first fails at init.
    let mut reg = Registry::new();
    reg.add(ferrosip_modules::registrar::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(reg.init_all().is_err());
}

fn rpc(reg: &Registry, name: &str, args: &[RpcValue]) -> Result<RpcValue, (i32, String)> {
    let r = reg.rpc(name).unwrap_or_else(|| panic!("{name}"));
    (r.handler)(args).map_err(|f| (f.code, f.message))
}

fn field<'a>(v: &'a RpcValue, path: &[&str]) -> Option<&'a RpcValue> {
    let mut cur = v;
    for p in path {
        cur = match cur {
            RpcValue::Struct(m) => &m.iter().find(|(k, _)| k == p)?.1,
            RpcValue::Array(a) => a.first().and_then(|x| match x {
                RpcValue::Struct(m) => m.iter().find(|(k, _)| k == p).map(|(_, v)| v),
                _ => None,
            })?,
            _ => return None,
        };
    }
    Some(cur)
}

#[test]
fn rpc_entries() {
    let (reg, api) = reg_with(&[], &[]);
    run(
        &reg,
        &register(
            "r",
            "r1",
            1,
            "User-Agent: ua/1\r\nContact: <sip:r@10.0.0.1>;q=1\r\n",
        ),
        "save",
        &["location"],
    );
    let s = |x: &str| RpcValue::Str(x.into());
    let lk = rpc(&reg, "ul.lookup", &[s("location"), s("r")]).unwrap_or_else(|e| panic!("{e:?}"));
    let c = field(&lk, &["Contacts", "Contact"]).unwrap_or_else(|| panic!("{lk:?}"));
    let cases: &[(&str, RpcValue)] = &[
        ("Address", s("sip:r@10.0.0.1")),
        ("Expires", RpcValue::Int(3600)),
        ("Q", RpcValue::Double(1.0)),
        ("Call-ID", s("r1")),
        ("CSeq", RpcValue::Int(1)),
        ("User-Agent", s("ua/1")),
        ("Socket", s("udp:127.0.0.1:5060")),
    ];
    for (k, want) in cases {
        assert_eq!(field(c, &[k]), Some(want), "{k}");
    }
    assert_eq!(
        rpc(&reg, "ul.lookup", &[s("location"), s("nobody")])
            .err()
            .map(|e| e.0),
        Some(404)
    );
    assert_eq!(
        rpc(&reg, "ul.lookup", &[s("nope"), s("r")])
            .err()
            .map(|e| e.1),
        Some("Domain table not found".into())
    );
    // ul.add then ul.dump shows two AoRs.
    let add = [
        s("location"),
        s("q"),
        s("sip:q@h"),
        RpcValue::Int(60),
        RpcValue::Double(0.5),
        s("0"),
        RpcValue::Int(0),
        RpcValue::Int(0),
        RpcValue::Int(-1),
    ];
    assert!(rpc(&reg, "ul.add", &add).is_ok());
    let dump = rpc(&reg, "ul.dump", &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let aors = field(&dump, &["Domains", "Domain", "AoRs"]);
    assert!(
        matches!(aors, Some(RpcValue::Array(a)) if a.len() == 2),
        "{dump:?}"
    );
    assert_eq!(
        field(&dump, &["Domains", "Domain", "Stats", "Records"]),
        Some(&RpcValue::Int(2))
    );
    assert_eq!(
        api.store()
            .get("location", "q")
            .map(|r| r.contacts[0].expires),
        Some(T0 + 60)
    );
    // rm_contact, rm, flush.
    assert_eq!(
        rpc(
            &reg,
            "ul.rm_contact",
            &[s("location"), s("q"), s("sip:x@h")]
        )
        .err()
        .map(|e| e.0),
        Some(404)
    );
    assert!(rpc(
        &reg,
        "ul.rm_contact",
        &[s("location"), s("q"), s("sip:q@h")]
    )
    .is_ok());
    assert!(api.store().get("location", "q").is_none());
    assert!(rpc(&reg, "ul.rm", &[s("location"), s("r")]).is_ok());
    assert!(api.store().dump("location").is_empty());
    assert!(rpc(&reg, "ul.flush", &[]).is_ok());
    assert_eq!(
        rpc(&reg, "ul.db_users", &[s("location")]).err(),
        Some((500, "Command is not supported in db_mode=0".to_string()))
    );
}

#[test]
fn gruu_lookup() {
    let (reg, api) = reg_with(&[], &[]);
    let extra = "Supported: gruu\r\nContact: <sip:g1@h>;+sip.instance=\"<urn:uuid:a>\"\r\nContact: <sip:g2@h>;q=0.1\r\n";
    let (rc, _, contact, _, _) = run(&reg, &register("gg", "g1", 1, extra), "save", &["location"]);
    assert_eq!(rc, 1);
    let ruid = api
        .store()
        .get("location", "gg")
        .and_then(|r| {
            r.contacts
                .iter()
                .find(|c| c.uri == "sip:g1@h")
                .map(|c| c.ruid.clone())
        })
        .unwrap_or_default();
    assert!(
        contact.contains(&format!("temp-gruu=\"sip:{ruid}-")),
        "{contact}"
    );
    assert!(
        contact.contains("pub-gruu=\"sip:gg@example.com;gr=urn:uuid:a\""),
        "{contact}"
    );
    let temp = contact
        .split("temp-gruu=\"")
        .nth(1)
        .and_then(|x| x.split('"').next())
        .unwrap_or("")
        .to_string();
    // (R-URI, rc, new R-URI, branches)
    let cases: Vec<(String, i64, &str, usize)> = vec![
        ("sip:gg@example.com".into(), 1, "sip:g2@h", 1),
        ("sip:gg@example.com;gr=urn:uuid:a".into(), 1, "sip:g1@h", 0),
        ("sip:gg@example.com;gr=urn:uuid:zz".into(), -1, "", 0),
        (temp.clone(), 1, "sip:g1@h", 0),
        ("sip:nope-ab@example.com;gr".into(), -1, "", 0),
    ];
    for (ruri, rc, want, nb) in cases {
        let msg = invite("x").replacen("sip:x@example.com", &ruri, 1);
        let o = call_with(
            &reg,
            &msg,
            RouteType::Request,
            3,
            &[("lookup", &["location"])],
            &|_| {},
        );
        assert_eq!(o.rc, rc, "{ruri}");
        if rc > 0 {
            assert_eq!(
                (o.ruri.as_str(), o.state.branches.len()),
                (want, nb),
                "{ruri}"
            );
        }
    }
}

#[test]
fn fetch_contacts_and_ulc() {
    let (reg, _api) = reg_with(&[], &[]);
    run(
        &reg,
        &register(
            "f",
            "f1",
            1,
            "User-Agent: ua-f\r\nContact: <sip:f1@h>;q=0.7\r\nContact: <sip:f2@h>;expires=100\r\n",
        ),
        "save",
        &["location"],
    );
    let names = [
        "$(ulc(p=>count))",
        "$(ulc(p=>aor))",
        "$(ulc(p=>addr))",
        "$(ulc(p=>addr)[1])",
        "$(ulc(p=>q)[0])",
        "$(ulc(p=>q)[1])",
        "$(ulc(p=>expires)[1])",
        "$(ulc(p=>user_agent))",
        "$(ulc(p=>addr)[2])",
        "$(ulc(q=>addr))",
    ];
    let specs: Vec<_> = names
        .iter()
        .map(|n| {
            let (r, _) =
                ferrosip_api::pv::parse_pv_ref(n.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
            reg.resolve_pv(&r).unwrap_or_else(|e| panic!("{n}: {e}"))
        })
        .collect();
    let (h, a) = prepare(
        &reg,
        "reg_fetch_contacts",
        &["location", "sip:f@example.com", "p"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let got = std::cell::RefCell::new(Vec::new());
    let o = call_with(&reg, &invite("x"), RouteType::Request, 3, &[], &|ctx| {
        assert_eq!(h(ctx, &a).map(|r| r.0).ok(), Some(1));
        *got.borrow_mut() = specs.iter().map(|s| s.get(ctx)).collect();
    });
    assert_eq!(o.rc, 0);
    use ferrosip_api::Value as V;
    let want = vec![
        V::Int(2),
        V::str("f"),
        V::str("sip:f1@h"),
        V::str("sip:f2@h"),
        V::Int(700),
        V::Int(-1),
        V::Int(T0 + 100),
        V::str("ua-f"),
        V::Null,
        V::Null,
    ];
    assert_eq!(*got.borrow(), want);
    for bad in ["$ulc(p)", "$ulc(p=>nope)"] {
        let (r, _) =
            ferrosip_api::pv::parse_pv_ref(bad.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(reg.resolve_pv(&r).is_err(), "{bad}");
    }
    let o = call(
        &reg,
        &invite("x"),
        "reg_fetch_contacts",
        &["location", "sip:none@example.com", "p"],
    );
    assert_eq!(o.rc, -1);
}

/// Runs `f(args)` on `msg` with a caller-made recorder (core parameters, listening sockets);
/// returns the first message sent.
fn reply_with(
    reg: &Registry,
    msg: &str,
    rec: &mut ferrosip_api::Recorder,
    f: &str,
    args: &[&str],
) -> String {
    let (h, a) = prepare(reg, f, args).unwrap_or_else(|e| panic!("{f}: {e}"));
    let mut m =
        ferrosip_sipmsg::Msg::parse(msg.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let mut w = ferrosip_api::WorkerState::default();
    let rcv = ferrosip_api::RecvInfo {
        src: src(),
        dst: local(),
        proto: ferrosip_api::Proto::Udp,
        socket: 0,
    };
    let mut ctx = ferrosip_api::Ctx::new(&mut m, RouteType::Request, rcv, &mut w, rec)
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = h(&mut ctx, &a);
    rec.sent
        .first()
        .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// save()'s reply is sl's (Kamailio's registrar sends it with `slb.freply`): `Server:` and the
/// `Warning: 392` follow the core parameters, and the to-tag is the one sl_send_reply gives the
/// same REGISTER (seeded with the first listening socket, not the receiving one).
#[test]
fn save_reply_headers_and_tag_are_sl_ones() {
    use ferrosip_api::{CoreParams, Proto, Recorder, SocketInfo};
    let sockets = || {
        vec![
            SocketInfo::new(
                Proto::Udp,
                "192.0.2.77:5080".parse().unwrap_or_else(|e| panic!("{e}")),
            ),
            SocketInfo::new(Proto::Udp, local()),
        ]
    };
    // (server_signature, server_header, sip_warning) → Server line, Warning present
    let cases: &[(bool, &str, bool, Option<&str>, bool)] = &[
        (
            true,
            "Server: kamailio (5.6.3 (x86_64/linux))",
            false,
            Some("\r\nServer: kamailio (5.6.3 (x86_64/linux))\r\n"),
            false,
        ),
        (false, "Server: x", false, None, false),
        (true, "Server: x", true, Some("\r\nServer: x\r\n"), true),
    ];
    for (i, (sig, hdr, warn, want_server, want_warning)) in cases.iter().enumerate() {
        let core = CoreParams {
            server_signature: *sig,
            server_header: hdr.to_string(),
            sip_warning: *warn,
            ..CoreParams::default()
        };
        let (reg, _api) = reg_with(&[], &[]);
        let msg = register(
            "srv",
            &format!("srv{i}"),
            1,
            "Contact: <sip:srv@10.0.0.1:5070>\r\n",
        );
        let mut rec = Recorder {
            core: Some(core.clone()),
            sockets: sockets(),
            ..Recorder::default()
        };
        let r = reply_with(&reg, &msg, &mut rec, "save", &["location"]);
        assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
        match want_server {
            Some(l) => assert!(r.contains(l), "{r}"),
            None => assert!(!r.contains("Server:"), "{r}"),
        }
        assert_eq!(r.contains("\r\nWarning: 392 "), *want_warning, "{r}");
        let mut rec = Recorder {
            core: Some(core),
            sockets: sockets(),
            ..Recorder::default()
        };
        let sl = reply_with(&reg, &msg, &mut rec, "sl_send_reply", &["200", "OK"]);
        let to = |m: &str| {
            m.lines()
                .find(|l| l.starts_with("To:"))
                .unwrap_or_default()
                .to_string()
        };
        assert!(to(&r).contains(";tag="), "{r}");
        assert_eq!(to(&r), to(&sl), "registrar and sl to-tags");
    }
}

/// Kamailio's statistics and `ul.dump` details, as the stock kamailio.cfg test compares them:
/// the table exists from load (the fixup of `lookup("location")`) with `location_users`,
/// `location_contacts` and `location_expires`; `registered_users`; `registrar:accepted_regs` /
/// `rejected_regs` and the settings exported as statistics; `[not set]` for empty fields;
/// `Last-Keepalive` set with the contact; `Max-Slots`; the expiry sweep counted per table.
#[test]
fn statistics_and_dump_details() {
    let (reg, api) = reg_with(
        &[("hash_size", ModValue::Int(2))],
        &[
            ("max_expires", ModValue::Int(3600)),
            ("max_contacts", ModValue::Int(2)),
        ],
    );
    let stats = reg
        .api::<ferrosip_api::Stats>()
        .unwrap_or_else(|| panic!("stats registry"));
    let stat = |g: &str, n: &str| stats.find(g, n).map(|s| s.value());
    assert_eq!(
        stat("usrloc", "location_users"),
        None,
        "no table before load"
    );
    prepare(&reg, "lookup", &["location"]).unwrap_or_else(|e| panic!("{e}"));
    let s = |x: &str| RpcValue::Str(x.into());
    let dump = rpc(&reg, "ul.dump", &[s("brief")]).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        field(&dump, &["Domains", "Domain", "Domain"]),
        Some(&s("location")),
        "the table is there before any REGISTER: {dump:?}"
    );
    // (step, REGISTER user, call-id, cseq, extra headers, save rc)
    let steps: &[(&str, &str, u32, &str, i64)] = &[
        (
            "bob",
            "s1",
            1,
            "Contact: <sip:bob@10.0.0.1>;expires=30\r\n",
            1,
        ),
        ("dave", "s2", 1, "Contact: <sip:dave@10.0.0.2>\r\n", 1),
        (
            "erin",
            "s3",
            1,
            "Contact: <sip:e1@10.0.0.3>, <sip:e2@10.0.0.3>\r\n",
            1,
        ),
        // three contacts with max_contacts 2: refused
        ("erin", "s4", 1, "Contact: <sip:e3@10.0.0.3>\r\n", -2),
        // no AoR (bad To): not counted
        ("", "s5", 1, "Contact: <sip:x@10.0.0.3>\r\n", -1),
    ];
    for (user, cid, cseq, extra, rc) in steps {
        let mut m = register(user, cid, *cseq, extra);
        if user.is_empty() {
            m = m.replace("To: <sip:@example.com>", "To: <sip:@>");
        }
        assert_eq!(run(&reg, &m, "save", &["location"]).0, *rc, "{user} {cid}");
    }
    // (group, name, value)
    let want: &[(&str, &str, u64)] = &[
        ("registrar", "accepted_regs", 3),
        ("registrar", "rejected_regs", 1),
        ("registrar", "max_expires", 3600),
        ("registrar", "max_contacts", 2),
        ("registrar", "default_expire", 3600),
        ("registrar", "default_expires_range", 0),
        ("registrar", "expires_range", 0),
        ("usrloc", "registered_users", 3),
        ("usrloc", "location_users", 3),
        ("usrloc", "location_contacts", 4),
        ("usrloc", "location_expires", 0),
    ];
    for (g, n, v) in want {
        assert_eq!(stat(g, n), Some(*v), "{g}:{n}");
    }
    // bob, dave and erin share hash slot 3 of 4: dumped in registration order
    let dump = rpc(&reg, "ul.dump", &[]).unwrap_or_else(|e| panic!("{e:?}"));
    let text = format!("{dump:?}");
    let pos = |x: &str| text.find(&format!("Str(\"{x}\")")).unwrap_or(usize::MAX);
    assert!(
        pos("bob") < pos("dave") && pos("dave") < pos("erin"),
        "{text}"
    );
    assert_eq!(
        field(&dump, &["Domains", "Domain", "Stats", "Max-Slots"]),
        Some(&RpcValue::Int(3))
    );
    let lk = rpc(&reg, "ul.lookup", &[s("location"), s("bob")]).unwrap_or_else(|e| panic!("{e:?}"));
    let c = field(&lk, &["Contacts", "Contact"]).unwrap_or_else(|| panic!("{lk:?}"));
    for (k, v) in [
        ("Received", s("[not set]")),
        ("Path", s("[not set]")),
        ("Instance", s("[not set]")),
        ("Last-Keepalive", RpcValue::Int(T0)),
        ("Last-Modified", RpcValue::Int(T0)),
    ] {
        assert_eq!(field(c, &[k]), Some(&v), "{k}");
    }
    // bob's contact expires (30 s raised to min_expires, 60): the sweep counts it for the table
    assert_eq!(api.timer(T0 + 61), 1);
    assert_eq!(stat("usrloc", "location_expires"), Some(1));
    assert_eq!(stat("usrloc", "location_users"), Some(2));
    assert_eq!(stat("usrloc", "registered_users"), Some(2));
}
