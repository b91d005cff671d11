//! siputils, kex and corex: table-driven calls through the export tables — return code, R-URI and
//! message edits, replies, variables and flags.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::{ModValue, RouteType, Value};

/// (function, args, replacements on INVITE, expected rc, expected R-URI after the call or "").
type Case = (
    &'static str,
    &'static [&'static str],
    &'static [(&'static str, &'static str)],
    i64,
    &'static str,
);

const CASES: &[Case] = &[
    ("has_totag", &[], &[], -1, ""),
    (
        "has_totag",
        &[],
        &[(
            "To: <sip:bob@example.com>",
            "To: <sip:bob@example.com>;tag=x",
        )],
        1,
        "",
    ),
    ("is_request", &[], &[], 1, ""),
    ("is_reply", &[], &[], -1, ""),
    ("is_sip", &[], &[], 1, ""),
    ("is_http", &[], &[], -1, ""),
    ("is_first_hop", &[], &[], 1, ""),
    (
        "is_first_hop",
        &[],
        &[(
            "Max-Forwards",
            "Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bK-2\r\nMax-Forwards",
        )],
        -1,
        "",
    ),
    (
        "uri_param",
        &["lr"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr;x=1",
        )],
        1,
        "",
    ),
    (
        "uri_param",
        &["x"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr;x=1",
        )],
        -1,
        "",
    ),
    (
        "uri_param",
        &["x", "1"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr;x=1",
        )],
        1,
        "",
    ),
    (
        "uri_param",
        &["X", "1"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr;x=1",
        )],
        -1,
        "",
    ),
    (
        "uri_param_any",
        &["X"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr;x=1",
        )],
        1,
        "",
    ),
    ("uri_param_any", &["y"], &[], -1, ""),
    (
        "add_uri_param",
        &["nat=yes"],
        &[],
        1,
        "sip:bob@example.com;nat=yes",
    ),
    (
        "add_uri_param",
        &["nat=yes"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr?h=1",
        )],
        1,
        "sip:bob@example.com;lr;nat=yes?h=1",
    ),
    (
        "uri_param_rm",
        &["lr"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;lr;x=1",
        )],
        1,
        "sip:bob@example.com;x=1",
    ),
    (
        "uri_param_rm",
        &["x"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;x=1;lr",
        )],
        1,
        "sip:bob@example.com;lr",
    ),
    ("uri_param_rm", &["zz"], &[], 1, "sip:bob@example.com"),
    ("is_uri", &["sip:a@b"], &[], 1, ""),
    ("is_uri", &["a@b"], &[], -1, ""),
    ("is_tel_number", &["+4930123"], &[], 1, ""),
    ("is_tel_number", &["+0123"], &[], -2, ""),
    ("is_numeric", &["0123"], &[], 1, ""),
    ("is_alphanum", &["ab-1"], &[], -3, ""),
    ("is_alphanumex", &["ab-1", "-"], &[], 1, ""),
    (
        "cmp_uri",
        &["sip:bob@EXAMPLE.com", "sip:bob@example.com"],
        &[],
        1,
        "",
    ),
    (
        "cmp_uri",
        &["sip:bob@example.com;user=phone", "sip:bob@example.com"],
        &[],
        -1,
        "",
    ),
    (
        "cmp_aor",
        &["sip:bob@example.com:5060", "sip:bob@example.com"],
        &[],
        1,
        "",
    ),
    ("cmp_aor", &["x", "sip:bob@example.com"], &[], -2, ""),
    ("cmp_hdr_name", &["f", "From"], &[], 1, ""),
    ("cmp_hdr_name", &["To", "From"], &[], -1, ""),
    (
        "is_gruu",
        &[],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:bob@example.com;gr=urn:x",
        )],
        1,
        "",
    ),
    ("is_gruu", &["sip:a@b;gr"], &[], 2, ""),
    ("is_gruu", &[], &[], -1, ""),
    (
        "is_supported",
        &["100rel"],
        &[("Subject:", "Supported: timer, 100rel\r\nSubject:")],
        1,
        "",
    ),
    (
        "is_supported",
        &["path"],
        &[("Subject:", "Supported: timer, 100rel\r\nSubject:")],
        -1,
        "",
    ),
    (
        "contact_param_check",
        &["ob"],
        &[("10.0.0.1:5070>", "10.0.0.1:5070;ob>")],
        1,
        "",
    ),
    ("contact_param_check", &["ob"], &[], -1, ""),
    (
        "hdr_date_check",
        &["10"],
        &[(
            "Subject:",
            "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\nSubject:",
        )],
        -4,
        "",
    ),
    ("hdr_date_check", &["10"], &[], -1, ""),
    (
        "contact_param_check",
        &["ob"],
        &[("Contact: <sip:alice@10.0.0.1:5070>\r\n", "")],
        1,
        "",
    ),
    (
        "decode_contact",
        &[],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:nat*bob**10.0.0.5*5071*tcp@1.2.3.4;lr",
        )],
        1,
        "sip:bob@10.0.0.5:5071;transport=tcp;lr",
    ),
    (
        "contact_param_decode_ruri",
        &["ksu"],
        &[(
            "INVITE sip:bob@example.com",
            "INVITE sip:1.2.3.4;ksu=c2lwOmFsaWNlQDEwLjAuMC4xOjUwNzA",
        )],
        1,
        "sip:alice@10.0.0.1:5070",
    ),
    ("sip_parse_headers", &[], &[], 1, ""),
    (
        "sip_parse_headers",
        &[],
        &[("CSeq: 1 INVITE", "CSeq: 1")],
        -1,
        "",
    ),
    ("is_myself", &["sip:127.0.0.1:5060"], &[], 1, ""),
    ("is_myself", &["sip:127.0.0.1:5070"], &[], -1, ""),
    ("is_myhost", &["sip:127.0.0.1:5070"], &[], 1, ""),
    ("is_myself", &["example.net"], &[], -1, ""),
    ("isdsturiset", &[], &[], -1, ""),
    ("is_faked_msg", &[], &[], -1, ""),
];

fn msg(reps: &[(&str, &str)]) -> String {
    let mut s = INVITE.to_string();
    for (a, b) in reps {
        assert!(s.contains(a), "replacement {a:?} does not apply");
        s = s.replacen(a, b, 1);
    }
    s
}

#[test]
fn function_table() {
    let reg = registry(&[]);
    for (f, args, reps, rc, ruri) in CASES {
        let m = msg(reps);
        let o = call_myself(&reg, &m, &[(f, args)]);
        assert_eq!(o.rc, *rc, "{f}{args:?} {reps:?}: logs {:?}", o.logs);
        if !ruri.is_empty() {
            assert_eq!(o.ruri, *ruri, "{f}{args:?}");
            assert!(
                o.out.starts_with(&format!("INVITE {ruri} SIP/2.0\r\n")),
                "{f}: {}",
                o.out
            );
        }
    }
}

/// Runs the steps with 127.0.0.1:5060 as our address.
fn call_myself(reg: &ferrosip_api::Registry, m: &str, steps: &[(&str, &[&str])]) -> Outcome {
    let rcv = ferrosip_api::RecvInfo {
        src: src(),
        dst: local(),
        proto: ferrosip_api::Proto::Udp,
        socket: 0,
    };
    call_full_myself(reg, m.as_bytes(), steps, rcv)
}

#[test]
fn options_reply_headers() {
    let opts = "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-o\r\n\
From: <sip:a@example.com>;tag=1\r\nTo: <sip:example.com>\r\nCall-ID: o1\r\nCSeq: 5 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let reg = registry(&[(
        "siputils",
        "options_support",
        ModValue::Str("100rel".into()),
    )]);
    let o = call(&reg, opts, "options_reply", &[]);
    assert_eq!(o.rc, 1);
    let r = &o.sent.first().unwrap_or_else(|| panic!("no reply")).1;
    assert!(r.starts_with("SIP/2.0 200 OK\r\n"), "{r}");
    assert!(
        r.contains(
            "\r\nAccept: */*\r\nAccept-Encoding: \r\nAccept-Language: en\r\nSupported: 100rel\r\n"
        ),
        "{r}"
    );
    // Not OPTIONS, or a user in the R-URI: false, nothing sent.
    let o = call(&reg, INVITE, "options_reply", &[]);
    assert_eq!((o.rc, o.sent.len()), (-1, 0));
    let o = call(
        &reg,
        &opts.replace("OPTIONS sip:example.com", "OPTIONS sip:u@example.com"),
        "options_reply",
        &[],
    );
    assert_eq!((o.rc, o.sent.len()), (-1, 0));
}

#[test]
fn variables_branches_flags() {
    let reg = registry(&[]);
    let steps: &[(&str, &[&str])] = &[
        ("get_uri_param", &["x", "$var(x)"]),
        ("tel2sip", &["tel:+(34)-999-888-777", "foo.com", "$var(t)"]),
        ("pv_printf", &["$var(p)", "x=$var(x) t=$var(t)"]),
        ("pv_printf", &["$var(u)", "alice"]),
        ("set_uri_user", &["$var(t)", "$var(u)"]),
        ("setsflag", &["3"]),
        ("setbflag", &["5"]),
        ("setdsturi", &["sip:10.0.0.9:5080"]),
        ("append_branch", &[]),
        ("append_branch", &["sip:carol@example.org", "0.5"]),
        ("setbflag", &["7", "2"]),
        ("setxflag", &["40"]),
        ("isxflagset", &["40"]),
    ];
    let m = msg(&[(
        "INVITE sip:bob@example.com",
        "INVITE sip:bob@example.com;x=1",
    )]);
    let o = call_with(&reg, &m, RouteType::Request, 3, steps, &|_| {});
    assert_eq!(o.rc, 1);
    let st = &o.state;
    assert_eq!(st.sflags, 1 << 3);
    assert_eq!(st.bflags, 0, "append_branch() moved the main branch flags");
    assert_eq!(st.dst_uri, None, "append_branch() moved $du");
    assert_eq!(st.branches.len(), 2);
    assert_eq!(st.branches[0].uri, b"sip:bob@example.com;x=1");
    assert_eq!(st.branches[0].dst_uri, b"sip:10.0.0.9:5080");
    assert_eq!(st.branches[0].flags, 1 << 5);
    assert_eq!(st.branches[0].q, -1);
    assert_eq!(st.branches[1].uri, b"sip:carol@example.org");
    assert_eq!(st.branches[1].q, 500);
    assert_eq!(st.branches[1].flags, 1 << 7);
    let o2 = call_with(&reg, &m, RouteType::Request, 3, steps, &|_| {});
    assert_eq!(o2.state.branches.len(), 2);
    // Variables, read back through the registry's $var.
    let vars = read_vars(&reg, &m, steps, &["x", "t", "p"]);
    assert_eq!(vars[0], Value::str("1"));
    assert_eq!(vars[1], Value::str("sip:alice@foo.com;user=phone"));
    assert_eq!(
        vars[2],
        Value::str("x=1 t=sip:+34999888777@foo.com;user=phone")
    );
    let v = read_vars(
        &reg,
        INVITE,
        &[(
            "tel2sip2",
            &[
                "tel:7042;phone-context=example.com",
                "example.com",
                "$var(s)",
            ],
        )],
        &["s"],
    );
    assert_eq!(v[0], Value::str("sip:7042@example.com;user=phone"));
    // Out-of-range flags and branch indexes are false.
    for (f, a) in [
        ("setsflag", &["32"][..]),
        ("setbflag", &["1", "3"]),
        ("setxflag", &["64"]),
    ] {
        assert_eq!(call(&reg, INVITE, f, a).rc, -1, "{f}{a:?}");
    }
    // A bad q fails.
    assert_eq!(
        call(&reg, INVITE, "append_branch", &["sip:a@b", "1.5"]).rc,
        -1
    );
}

#[test]
fn rpid_and_e164() {
    let reg = registry(&[
        ("siputils", "rpid_prefix", ModValue::Str("<".into())),
        (
            "siputils",
            "rpid_suffix",
            ModValue::Str(">;party=calling".into()),
        ),
    ]);
    let with_rpid =
        |c: &mut ferrosip_api::Ctx<'_>| c.state.avps.add(b"rpid", Value::str("sip:+4930123@x.org"));
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("append_rpid_hf", &[])],
        &with_rpid,
    );
    assert_eq!(o.rc, 1);
    assert!(
        o.out.contains(
            "Content-Length: 11\r\nRemote-Party-ID: <sip:+4930123@x.org>;party=calling\r\n\r\n"
        ),
        "{}",
        o.out
    );
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("is_rpid_user_e164", &[])],
        &with_rpid,
    );
    assert_eq!(o.rc, 1);
    assert_eq!(call(&reg, INVITE, "append_rpid_hf", &[]).rc, -1, "no AVP");
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("append_rpid_hf", &["P ", " S"])],
        &with_rpid,
    );
    assert!(
        o.out
            .contains("Remote-Party-ID: P sip:+4930123@x.org S\r\n"),
        "{}",
        o.out
    );
    let set = |c: &mut ferrosip_api::Ctx<'_>| c.state.avps.add(b"n", Value::str("+4930123"));
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("is_e164", &["$avp(n)"])],
        &set,
    );
    assert_eq!(o.rc, 1);
    let reg = registry(&[("siputils", "e164_max_len", ModValue::Int(5))]);
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[("is_e164", &["$avp(n)"])],
        &set,
    );
    assert_eq!(o.rc, -1);
}

#[test]
fn corex_send_and_files() {
    let reg = registry(&[]);
    let o = call(&reg, INVITE, "send_udp", &["10.1.2.3:5099"]);
    assert_eq!(o.rc, 1);
    assert_eq!(o.sent.len(), 1);
    assert_eq!(o.sent[0].0.addr.to_string(), "10.1.2.3:5099");
    assert_eq!(o.sent[0].1, INVITE, "sent as received");
    let o = call(
        &reg,
        INVITE,
        "send_data",
        &["sip:10.1.2.3;transport=tcp", "hello"],
    );
    assert_eq!(
        (o.rc, o.sent[0].0.proto, o.sent[0].1.as_str()),
        (1, ferrosip_api::Proto::Tcp, "hello")
    );
    assert_eq!(
        call(&reg, INVITE, "send_tcp", &[]).rc,
        -5,
        "R-URI host is a name: E_BUG as an unresolvable host"
    );
    // Without a parameter: $du first.
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[
            ("setdsturi", &["sip:[2001:db8::1]:5070"]),
            ("send_tcp", &[]),
        ],
        &|_| {},
    );
    assert_eq!(o.rc, 1);
    assert_eq!(o.sent[0].0.addr.to_string(), "[2001:db8::1]:5070");
    assert_eq!(o.sent[0].0.proto, ferrosip_api::Proto::Tcp);
    let o = call(&reg, INVITE, "send_udp", &["[2001:db8::2]"]);
    assert_eq!(o.sent[0].0.addr.to_string(), "[2001:db8::2]:5060");
    let dir = std::env::temp_dir().join(format!("ferrosip-mods2-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let f = dir.join("f.txt");
    let fs = f.to_string_lossy().into_owned();
    assert_eq!(call(&reg, INVITE, "file_write", &[&fs, "abc"]).rc, 1);
    assert_eq!(std::fs::read_to_string(&f).unwrap_or_default(), "abc");
    let vars = read_vars(&reg, INVITE, &[("file_read", &[&fs, "$var(f)"])], &["f"]);
    assert_eq!(vars[0], Value::str("abc"));
    assert_eq!(
        call(&reg, INVITE, "file_read", &["/nonexistent/x", "$var(f)"]).rc,
        -1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn contact_rewrites() {
    let reg = registry(&[(
        "siputils",
        "contact_flds_separator",
        ModValue::Str("-".into()),
    )]);
    let cases: &[(&str, &[&str], &str)] = &[
        (
            "encode_contact",
            &["nat", "1.2.3.4"],
            "Contact: <sip:nat-alice--10.0.0.1-5070-@1.2.3.4>\r\n",
        ),
        (
            "contact_param_encode",
            &["ksu", "sip:1.2.3.4"],
            "Contact: <sip:1.2.3.4;ksu=c2lwOmFsaWNlQDEwLjAuMC4xOjUwNzA>\r\n",
        ),
    ];
    for (f, args, want) in cases {
        let o = call(&reg, INVITE, f, args);
        assert_eq!(o.rc, 1, "{f}");
        assert!(o.out.contains(want), "{f}: {}", o.out);
    }
    let m = INVITE.replace("10.0.0.1:5070>", "10.0.0.1:5070;a=1;ob;b>");
    let o = call(&reg, &m, "contact_param_rm", &["OB"]);
    assert!(
        o.out
            .contains("Contact: <sip:alice@10.0.0.1:5070;a=1;b>\r\n"),
        "{}",
        o.out
    );
    // Round trip: encode then decode (on the encoded message) gives the original URI back.
    let enc = call(
        &reg,
        INVITE,
        "contact_param_encode",
        &["ksu", "sip:1.2.3.4"],
    )
    .out;
    let dec = call(&reg, &enc, "contact_param_decode", &["ksu"]);
    assert!(
        dec.out.contains("Contact: <sip:alice@10.0.0.1:5070>\r\n"),
        "{}",
        dec.out
    );
    // No Contact: encode_contact fails, decode functions do nothing.
    let none = INVITE.replace("Contact: <sip:alice@10.0.0.1:5070>\r\n", "");
    assert_eq!(
        call(&reg, &none, "encode_contact", &["nat", "1.2.3.4"]).rc,
        -1
    );
    assert_eq!(call(&reg, &none, "contact_param_decode", &["ksu"]).rc, 1);
}

#[test]
fn p_charging_vector() {
    let reg = registry(&[]);
    let pcv = "P-Charging-Vector: icid-value=AyretyU0dm;icid-generated-at=192.0.6.8;orig-ioi=home1.net\r\n";
    let with = INVITE.replace("Subject:", &format!("{pcv}Subject:"));
    // Generate when absent: 3; the sending address is filled in when the buffer is built.
    let o = call(&reg, INVITE, "sip_p_charging_vector", &["g"]);
    assert_eq!(o.rc, 3);
    let line = o
        .out
        .split("\r\n")
        .find(|l| l.starts_with("P-Charging-Vector: "))
        .unwrap_or_else(|| panic!("no PCV in {}", o.out))
        .to_string();
    let v = line
        .strip_prefix("P-Charging-Vector: icid-value=")
        .and_then(|r| r.split(';').next())
        .unwrap_or_default();
    assert_eq!(v.len(), 32, "{line}");
    assert!(v.starts_with("495653"), "IVS prefix: {line}");
    assert!(o.out.contains(";icid-generated-at="), "{line}");
    // Present: g does nothing (1), r deletes (4), f replaces (5); a second call after generation is 1.
    let cases: &[(&[&str], i64, bool)] =
        &[(&["g"], 1, true), (&["r"], 4, false), (&["f"], 5, false)];
    for (flags, rc, kept) in cases {
        let o = call(&reg, &with, "sip_p_charging_vector", flags);
        assert_eq!(o.rc, *rc, "{flags:?}");
        assert_eq!(o.out.contains(pcv), *kept, "{flags:?}: {}", o.out);
    }
    let o = call_with(
        &reg,
        &with,
        RouteType::Request,
        3,
        &[
            ("sip_p_charging_vector", &["f"]),
            ("sip_p_charging_vector", &["r"]),
        ],
        &|_| {},
    );
    assert_eq!(o.rc, 1, "no change after generation");
    // $pcv fields.
    let steps: &[(&str, &[&str])] = &[
        (
            "pv_printf",
            &[
                "$var(a)",
                "$pcv(value)|$pcv(genaddr)|$pcv(orig)|$pcv(status)",
            ],
        ),
        ("sip_p_charging_vector", &["r"]),
        ("pv_printf", &["$var(b)", "$pcv(status)|$pcv(value)"]),
    ];
    let v = read_vars(&reg, &with, steps, &["a", "b"]);
    assert_eq!(v[0], Value::str("AyretyU0dm|192.0.6.8|home1.net|1"));
    assert_eq!(v[1], Value::str("4|<null>"));
    let v = read_vars(
        &reg,
        INVITE,
        &[("pv_printf", &["$var(a)", "$pcv(status)"])],
        &["a"],
    );
    assert_eq!(v[0], Value::str("0"));
    assert!(prepare(&reg, "pv_printf", &["$var(a)", "$pcv(nope)"]).is_err());
}

#[test]
fn refused_at_load() {
    let reg = registry(&[]);
    for (f, n) in [("via_add_srvid", 1), ("forward_uac", 0)] {
        let args: Vec<&str> = std::iter::repeat_n("$var(a)", n).collect();
        let e = prepare(&reg, f, &args).err().unwrap_or_default();
        assert!(e.contains("not implemented yet"), "{f}: {e}");
    }
    let mut r2 = ferrosip_api::Registry::new();
    r2.add(ferrosip_modules::corex::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(r2
        .set_modparam("corex", "dns_cache", ModValue::Str("x".into()))
        .is_err());
    for pv in ["$cfg(line)", "$lsock(x)"] {
        let (r, _) =
            ferrosip_api::pv::parse_pv_ref(pv.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        assert!(r2.resolve_pv(&r).is_err(), "{pv}");
    }
}
