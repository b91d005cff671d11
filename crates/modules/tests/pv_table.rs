//! Table-driven test of the pv module: (SIP message, PV or PV with transformations) → expected
//! value, for every PV and transformation name the module exports, with undefined and write cases.
//! The table lives in `pv_support/cases.rs`; `pv_kamailio.rs` checks the same cases against
//! Kamailio 5.6.3.

mod pv_support;

use pv_support::{cases, default_rcv, ours, registry};

#[test]
fn every_case_gives_the_expected_value() {
    std::env::set_var("FERROSIP_PV_TEST", "pv-env-value");
    std::env::set_var("FERROSIP_PV_NUM", "42");
    let reg = registry();
    let mut failures = Vec::new();
    let all = cases::all();
    for c in &all {
        match ours(&reg, c, default_rcv()) {
            Ok((got, _)) if got == c.want => {}
            Ok((got, logs)) => failures.push(format!(
                "{} on {}: got {got:?}, want {:?} (logs: {logs:?})",
                c.expr, c.msg, c.want
            )),
            Err(e) => failures.push(format!("{} on {}: {e}", c.expr, c.msg)),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
}

/// Header writes go through the edit list: the script still reads the original header, and the
/// message built from the edits carries the new one (Kamailio's `pv_set_xto_attr` rules).
#[test]
fn header_writes_edit_the_outgoing_message() {
    use ferrosip_api::pv::parse_pv_ref;
    use ferrosip_api::{Ctx, Recorder, RouteType, Value, WorkerState};
    use ferrosip_sipmsg::edit::SendContext;
    use ferrosip_sipmsg::Msg;

    let reg = registry();
    // (message, writes with `None` for $null, the header line expected in the output)
    type Writes<'a> = &'a [(&'a str, Option<&'a str>)];
    let cases: &[(&str, Writes, &str)] = &[
        (
            "inv",
            &[("$fu", Some("sip:x@y.example"))],
            "From: \"Alice Liddell\" <sip:x@y.example>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$fu", None)],
            "From: \"Alice Liddell\" <sip:alice@atlanta.example.com>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$fU", Some("bobby"))],
            "From: \"Alice Liddell\" <sip:bobby@atlanta.example.com>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$fU", None)],
            "From: \"Alice Liddell\" <sip:atlanta.example.com>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$fd", Some("d.example"))],
            "From: \"Alice Liddell\" <sip:alice@d.example>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$fn", Some("\"Mallory\""))],
            "From: \"Mallory\" <sip:alice@atlanta.example.com>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$fn", None)],
            "From: <sip:alice@atlanta.example.com>;tag=ft-123;x=1",
        ),
        (
            "inv",
            &[("$tn", Some("Robert"))],
            "To: Robert <sip:bob@biloxi.example.com>",
        ),
        (
            "inv",
            &[("$tu", Some("sip:robert@biloxi.example.com"))],
            "To: Bob <sip:robert@biloxi.example.com>",
        ),
        (
            "reg",
            &[("$tn", Some("\"Carol\""))],
            "To: \"Carol\" <sip:carol@example.com>",
        ),
        (
            "reg",
            &[("$tU", Some("c2")), ("$td", Some("example.org"))],
            "To: <sip:c2@example.org>",
        ),
        (
            "opt",
            &[("$fn", Some("D"))],
            "From: D <sip:dave@example.com>;tag=o1",
        ),
        (
            "opt",
            &[("$fu", Some("sip:e@example.com;p=1"))],
            "From: <sip:e@example.com;p=1>;tag=o1",
        ),
    ];
    for (key, writes, want) in cases {
        let mut msg = Msg::parse(pv_support::message(key)).expect("message");
        let original = {
            let mut worker = WorkerState::default();
            let mut server = Recorder::default();
            let mut ctx = Ctx::new(
                &mut msg,
                RouteType::Request,
                default_rcv(),
                &mut worker,
                &mut server,
            )
            .expect("ctx");
            for (pv, v) in *writes {
                let (r, _) = parse_pv_ref(pv.as_bytes()).expect("pv syntax");
                let spec = reg.resolve_pv(&r).expect("known pv");
                assert!(spec.is_writable(), "{pv} is writable");
                let v = v.map(Value::str).unwrap_or(Value::Null);
                spec.set(&mut ctx, v).expect("write");
            }
            // The script still sees the received header.
            let name = if want.starts_with("From") {
                "$fu"
            } else {
                "$tu"
            };
            let f = reg.parse_format(name).expect("format");
            let seen = f.render(&mut ctx);
            let mut out = Vec::new();
            let eoh = ctx.msg.headers_end().expect("eoh");
            ctx.edits
                .write(ctx.msg.buf(), eoh, &SendContext::default(), &mut out)
                .expect("apply edits");
            (seen, out)
        };
        let (seen, out) = original;
        let text = String::from_utf8_lossy(&out);
        assert!(
            text.lines().any(|l| l.trim_end() == *want),
            "{key} {writes:?}: no line {want:?} in\n{text}"
        );
        let hdr = if want.starts_with("From") {
            "From"
        } else {
            "To"
        };
        let orig = Msg::parse(pv_support::message(key)).expect("message");
        let orig_uri = if hdr == "From" {
            orig.from()
        } else {
            orig.to()
        }
        .expect("header")
        .uri;
        assert_eq!(
            seen,
            orig_uri.of(orig.buf()),
            "{key}: the script sees the original {hdr} URI"
        );
    }
}

/// Names Kamailio has but ferrosip cannot serve yet are refused when the config loads, saying why;
/// read-only PVs refuse writes.
#[test]
fn refused_and_read_only() {
    use ferrosip_api::pv::parse_pv_ref;
    let reg = registry();
    let refused: &[(&str, &str)] = &[
        ("$snd(nosuch)", "unknown name"),
        ("$rcv(nosuch)", "unknown name"),
        ("$ruid", "R-URI branch attributes"),
        ("$sel(nosuch.user)", "unknown select"),
        (
            "$mbu",
            "not implemented yet (the updated message buffer needs the send path)",
        ),
        ("$sid", "server_id"),
        ("$nosuch", "unknown pseudo-variable"),
        ("$via0(nosuch)", "unknown name"),
        ("$(ru{s.nosuch})", "unknown string transformation"),
        ("$(ru{s.substr,x,1})", "not a number"),
        ("$(ru{uri.nosuch})", "unknown transformation"),
        ("$(ru{s.sha3,100})", "bit length"),
        ("$xavu(a[1]=>b)", "no index"),
        ("$Mf(40)", "0..31"),
    ];
    for (text, why) in refused {
        let err = parse_pv_ref(text.as_bytes())
            .and_then(|(r, _)| reg.resolve_pv(&r))
            .err()
            .unwrap_or_else(|| panic!("{text} must be refused"));
        assert!(err.contains(why), "{text}: {err:?} should mention {why:?}");
    }
    let read_only = [
        "$ci",
        "$rm",
        "$hdr(X)",
        "$si",
        "$ft",
        "$(ru{s.len})",
        "$Ts",
        "$rb",
        "$cs",
    ];
    for text in read_only {
        let (r, _) = parse_pv_ref(text.as_bytes()).expect("syntax");
        assert!(!reg.resolve_pv(&r).expect("known").is_writable(), "{text}");
    }
    let writable = [
        "$ru",
        "$rU",
        "$rd",
        "$rp",
        "$du",
        "$fu",
        "$fU",
        "$fd",
        "$fn",
        "$tu",
        "$tU",
        "$td",
        "$tn",
        "$br",
        "$bf",
        "$mf",
        "$sf",
        "$mF",
        "$var(x)",
        "$vz(x)",
        "$vn(x)",
        "$avp(x)",
        "$xavp(a=>b)",
        "$xavu(a=>b)",
        "$xavi(a=>b)",
        "$shv(x)",
        "$Mf(1)",
        "$(branch(uri)[0])",
        "$Sf(1)",
        "$Bf(1)",
    ];
    for text in writable {
        let (r, _) = parse_pv_ref(text.as_bytes()).expect("syntax");
        assert!(reg.resolve_pv(&r).expect("known").is_writable(), "{text}");
    }
}

/// `$sel(path)` reads the select `@path` that some module exports.
#[test]
fn sel_reads_module_selects() {
    use ferrosip_api::export::SelectGet;
    use ferrosip_api::{ModuleExports, SelectExport, Value};
    use std::sync::Arc;

    let mut reg = ferrosip_api::Registry::new();
    let mut m = ModuleExports::new("core");
    m.pvs = ferrosip_api::store::core_pvs();
    m.selects = vec![SelectExport {
        root: "cfg_get",
        doc: "test",
        resolve: Arc::new(|path: &str| {
            let path = path.to_string();
            if path == "none" {
                return Err("no such group".to_string());
            }
            let get: SelectGet = Arc::new(move |_| Ok(Value::str(format!("v:{path}"))));
            Ok(get)
        }),
    }];
    reg.add(m).expect("core");
    reg.add(ferrosip_modules::pv::exports()).expect("pv");
    let c = pv_support::Case {
        msg: "inv",
        setup: &[],
        expr: "$sel(cfg_get.pstn.gw_ip)|$(sel(cfg_get.a){s.len})",
        want: "v:pstn.gw_ip|3",
        kam: pv_support::Kam::Skip("test-only select"),
    };
    let (got, _) = ours(&reg, &c, default_rcv()).expect("evaluates");
    assert_eq!(got, c.want);
    assert!(reg.parse_format("$sel(cfg_get.none)").is_err());
    assert!(reg.parse_format("$sel(nosuch)").is_err());
}

/// Every PV the module exports and every transformation name is exercised by the case table.
#[test]
fn table_covers_every_name() {
    let exports = ferrosip_modules::pv::exports();
    let all = cases::all();
    let exprs: Vec<String> = all
        .iter()
        .flat_map(|c| {
            let mut v = vec![c.expr.to_string()];
            v.extend(c.setup.iter().map(|(p, _)| p.to_string()));
            v
        })
        .collect();
    // Refused at load (tested in refused_and_read_only); `$stat` reads statistics other
    // modules register (pv_functions.rs, with sl); `$sel` is exercised by
    // sel_reads_module_selects with a test select root; the send and receive info by
    // pv_sndrcv.rs.
    let refused = [
        "snd", "sndto", "sndfrom", "rcv", "recv", "stat", "sel",
        // server/context data, tested in context_and_socket_data
        "mi", "def", "defn", "Rn", "RAi", "RAp", "Ras", "sas", "RAu", "RAut",
        // the static branch outlives the message: pv_sbranch.rs, against Kamailio
        "sbranch",
    ];
    let mut missing = Vec::new();
    for p in &exports.pvs {
        if refused.contains(&p.name) {
            continue;
        }
        let plain = format!("${}", p.name);
        let paren = format!("$({}", p.name);
        let used = exprs.iter().any(|e| {
            [&plain, &paren].iter().any(|pat| {
                e.match_indices(pat.as_str()).any(|(i, _)| {
                    let next = e.as_bytes().get(i + pat.len()).copied().unwrap_or(b' ');
                    !(next.is_ascii_alphanumeric() || next == b'_' || next == b'.')
                })
            })
        });
        if !used {
            missing.push(format!("${}", p.name));
        }
    }
    let s_names = [
        "len",
        "int",
        "intv",
        "md5",
        "sha1",
        "sha256",
        "sha384",
        "sha512",
        "sha3",
        "keccak",
        "rmws",
        "rmhdws",
        "rmhlws",
        "tolower",
        "toupper",
        "numeric",
        "encode.hexa",
        "decode.hexa",
        "encode.7bit",
        "decode.7bit",
        "encode.base58",
        "decode.base58",
        "encode.base64",
        "decode.base64",
        "encode.base64t",
        "decode.base64t",
        "encode.base64url",
        "decode.base64url",
        "encode.base64urlt",
        "decode.base64urlt",
        "escape.common",
        "unescape.common",
        "escape.crlf",
        "unescape.crlf",
        "escape.user",
        "unescape.user",
        "escape.param",
        "unescape.param",
        "escape.csv",
        "prefixes",
        "prefixes.quoted",
        "substr",
        "select",
        "selectsw",
        "strip",
        "striptail",
        "stripto",
        "ftime",
        "replace",
        "corehash",
        "trim",
        "rtrim",
        "ltrim",
        "rm",
        "urlencode.param",
        "urldecode.param",
        "unquote",
        "unbracket",
        "count",
        "before",
        "after",
        "rbefore",
        "rafter",
        "fmtlines",
        "fmtlinet",
        "charat",
        "byteat",
        "crc32",
    ];
    assert_eq!(s_names.len(), 68, "Kamailio 6.0 has 68 s.* names");
    let others = [
        "uri.user",
        "uri.host",
        "uri.domain",
        "uri.passwd",
        "uri.port",
        "uri.saor",
        "uri.suri",
        "uri.duri",
        "uri.params",
        "uri.param",
        "uri.rmparam",
        "uri.headers",
        "uri.transport",
        "uri.ttl",
        "uri.uparam",
        "uri.maddr",
        "uri.method",
        "uri.lr",
        "uri.r2",
        "uri.scheme",
        "uri.tosocket",
        "param.value",
        "param.in",
        "param.valueat",
        "param.name",
        "param.count",
        "nameaddr.uri",
        "nameaddr.len",
        "nameaddr.name",
        "tobody.uri",
        "tobody.tag",
        "tobody.user",
        "tobody.host",
        "tobody.params",
        "tobody.display",
        "line.at",
        "line.sw",
        "line.count",
        "urialias.encode",
        "urialias.decode",
        "val.n0",
        "val.ne",
        "val.json",
        "val.jsonqe",
        "num.fdigit",
        "num.ldigit",
    ];
    let names = s_names
        .iter()
        .map(|n| format!("s.{n}"))
        .chain(others.iter().map(|n| n.to_string()));
    for n in names {
        let used = exprs.iter().any(|e| {
            [format!("{{{n}}}"), format!("{{{n},")]
                .iter()
                .any(|pat| e.contains(pat.as_str()))
        });
        if !used {
            missing.push(format!("{{{n}}}"));
        }
    }
    assert!(missing.is_empty(), "not in the case table: {missing:?}");
}

/// Message id, cached message time, the server's sockets (names, advertised addresses, `$fs`
/// written and read) and the preprocessor defines given to the registry.
#[test]
fn context_and_socket_data() {
    use ferrosip_api::pv::parse_pv_ref;
    use ferrosip_api::{Ctx, Proto, Recorder, RouteType, SocketInfo, Value, WorkerState};
    let mut reg = ferrosip_api::Registry::new();
    reg.set_defines(vec![
        ("WITH_AUTH".into(), None),
        ("DBURL".into(), Some("mysql://x".into())),
        ("N".into(), Some("42".into())),
    ]);
    let mut core = ferrosip_api::ModuleExports::new("core");
    core.pvs = ferrosip_api::store::core_pvs();
    reg.add(core).expect("core");
    reg.add(ferrosip_modules::pv::exports()).expect("pv");
    reg.init_all().expect("init");
    let mut udp = SocketInfo::new(Proto::Udp, "127.0.0.1:5060".parse().expect("addr"));
    udp.name = Some("main".into());
    udp.advertise = Some(("sip.example.com".into(), 0));
    let tcp = SocketInfo::new(Proto::Tcp, "127.0.0.1:5070".parse().expect("addr"));
    let mut server = Recorder {
        debug: 3,
        sockets: vec![udp, tcp],
        ..Recorder::default()
    };
    let mut worker = WorkerState::default();
    let mut msg = ferrosip_sipmsg::Msg::parse(pv_support::message("inv")).expect("msg");
    let pv = |t: &str| {
        reg.resolve_pv(&parse_pv_ref(t.as_bytes()).expect("syntax").0)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
    };
    for round in 1..=2 {
        let mut ctx = Ctx::new(
            &mut msg,
            RouteType::Request,
            default_rcv(),
            &mut worker,
            &mut server,
        )
        .expect("ctx");
        let f = reg
            .parse_format(
                "$mi|$Rn|$RAi|$RAp|$Ras|$sas|$fs|$def(WITH_AUTH)|$def(DBURL)|$defn(N)|$def(NONE)|$RAu|$RAut",
            )
            .expect("format");
        let want = format!(
            "{round}|main|sip.example.com|5060|udp:sip.example.com:5060|udp:192.0.2.55:5099|<null>||mysql://x|42|<null>|sip:sip.example.com:5060|sip:sip.example.com:5060;transport=udp"
        );
        assert_eq!(String::from_utf8_lossy(&f.render(&mut ctx)), want);
        let ts = pv("$Ts").get(&mut ctx);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        assert_eq!(pv("$Ts").get(&mut ctx), ts, "$Ts is cached per message");
        pv("$fs")
            .set(&mut ctx, Value::str("tcp:127.0.0.1:5070"))
            .expect("our socket");
        assert_eq!(pv("$fs").get(&mut ctx), Value::str("tcp:127.0.0.1:5070"));
        assert_eq!(pv("$fsn").get(&mut ctx), Value::Null, "no name");
        assert!(pv("$fs")
            .set(&mut ctx, Value::str("udp:10.9.9.9:5060"))
            .is_err());
        pv("$fs").set(&mut ctx, Value::Null).expect("clears");
        assert_eq!(ctx.state.force_socket, None);
    }
    // without a socket list the socket PVs fail instead of guessing
    let mut bare = Recorder::default();
    let mut ctx = Ctx::new(
        &mut msg,
        RouteType::Request,
        default_rcv(),
        &mut worker,
        &mut bare,
    )
    .expect("ctx");
    assert_eq!(ctx.state.id, 3);
    assert!(pv("$RAi").try_get(&mut ctx).is_err());
    assert_eq!(
        String::from_utf8_lossy(&reg.parse_format("[$Rn]").expect("f").render(&mut ctx)),
        "[]"
    );
}
