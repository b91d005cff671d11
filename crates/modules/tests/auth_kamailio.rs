//! Differential test against Kamailio 5.6.3 for auth, htable and pike: the challenge header
//! layout (nonce normalised), pv_www_authenticate's return code for responses computed here for
//! Kamailio's nonce and for ours (MD5 qop=auth, SHA-256 qop=auth-int, wrong password), `$sht` /
//! `$shtinc` values printed with xlog, and the request at which pike starts blocking. Skipped
//! when /usr/sbin/kamailio is missing, failing when CI is set.

#[path = "common/harness.rs"]
mod h;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{
    store, Ctx, ModValue, ModuleExports, Recorder, RecvInfo, Registry, RouteType, Value,
    WorkerState,
};
use ferrosip_modules::auth::digest::{self, Alg, Qop, ResponseInput};
use ferrosip_modules::pike::{Mark, PikeApi};
use ferrosip_sipmsg::Msg;
use h::{free_port, Kamailio, MPATH};

fn config(port: u16) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nserver_signature=no\n\
         listen=udp:127.0.0.1:{port}\nmpath=\"{MPATH}\"\n\
         loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"auth.so\"\n\
         loadmodule \"htable.so\"\nloadmodule \"pike.so\"\n\
         modparam(\"htable\", \"htable\", \"a=>size=4;initval=0\")\n\
         modparam(\"pike\", \"sampling_time_unit\", 60)\nmodparam(\"pike\", \"reqs_density_per_unit\", 30)\n\
         request_route {{\n\
         \tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \tif ($ci =~ \"^pike\") {{ if (!pike_check_req()) {{ sl_send_reply(\"503\", \"Blocked\"); exit; }} sl_send_reply(\"200\", \"OK\"); exit; }}\n\
         \tif ($ci =~ \"^ht\") {{ $sht(a=>x) = $sht(a=>x) + 2; $var(c) = $shtinc(a=>c); $sht(a=>s) = \"v\" + $var(c);\n\
         \t\txlog(\"L_ERR\", \"@@HT x=$sht(a=>x) c=$var(c) s=$sht(a=>s) m=$sht(a=>missing)@@\\n\"); sl_send_reply(\"200\", \"OK\"); exit; }}\n\
         \tif ($ci =~ \"^ch\") {{ www_challenge(\"example.com\", \"$(hdr(X-Flags){{s.int}})\"); exit; }}\n\
         \tif ($ci =~ \"^pc\") {{ proxy_challenge(\"example.com\", \"$(hdr(X-Flags){{s.int}})\"); exit; }}\n\
         \tpv_www_authenticate(\"example.com\", \"secret\", \"0\");\n\
         \txlog(\"L_ERR\", \"@@AUTH $ci rc=$rc@@\\n\"); sl_send_reply(\"200\", \"OK\"); exit;\n\
         }}\n"
    )
}

fn request(method: &str, callid: &str, extra: &str) -> String {
    format!(
        "{method} sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport;branch=z9hG4bK-{callid}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@example.com>;tag=a1\r\nTo: <sip:alice@example.com>\r\n\
Call-ID: {callid}\r\nCSeq: 1 {method}\r\n{extra}Content-Length: 4\r\n\r\nbody"
    )
}

fn credentials(nonce: &str, pass: &str, alg: Alg, qop: Qop) -> String {
    let (uri, cnonce, nc) = ("sip:example.com", "f00dcafe", "00000001");
    let ha1 = digest::ha1(
        alg,
        b"alice",
        b"example.com",
        pass.as_bytes(),
        nonce.as_bytes(),
        cnonce.as_bytes(),
    );
    let input = ResponseInput {
        ha1: &ha1,
        nonce: nonce.as_bytes(),
        nc: nc.as_bytes(),
        cnonce: cnonce.as_bytes(),
        qop,
        method: b"REGISTER",
        uri: uri.as_bytes(),
        body: b"body",
    };
    let resp = digest::response(alg, &input);
    let a = if alg == Alg::Sha256 { "SHA-256" } else { "MD5" };
    let q = match qop {
        Qop::Auth => format!(", qop=auth, nc={nc}, cnonce=\"{cnonce}\""),
        Qop::AuthInt => format!(", qop=auth-int, nc={nc}, cnonce=\"{cnonce}\""),
        Qop::None => String::new(),
    };
    format!("Authorization: Digest username=\"alice\", realm=\"example.com\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{resp}\", algorithm={a}{q}\r\n")
}

fn exchange(client: &UdpSocket, port: u16, msg: &str) -> String {
    let _ = client.send_to(msg.as_bytes(), format!("127.0.0.1:{port}"));
    let mut buf = [0u8; 65535];
    for _ in 0..20 {
        if let Ok((n, _)) = client.recv_from(&mut buf) {
            let s = String::from_utf8_lossy(buf.get(..n).unwrap_or_default()).into_owned();
            if !s.contains("Call-ID: ping") {
                return s;
            }
        }
    }
    String::new()
}

/// The challenge line with the nonce replaced by N, and the nonce.
fn challenge_line(reply: &str) -> (String, String) {
    let line = reply
        .lines()
        .find(|l| l.contains("Authenticate:"))
        .unwrap_or("")
        .to_string();
    let nonce = line
        .split("nonce=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .unwrap_or("")
        .to_string();
    (line.replace(&nonce, "N"), nonce)
}

fn registry() -> Registry {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::var_avp_pvs();
    core.pvs.extend(store::core_pvs());
    reg.add(core).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::sl::exports(),
        ferrosip_modules::auth::exports(),
        ferrosip_modules::htable::exports(),
        ferrosip_modules::pike::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    let mp = [
        (
            "htable",
            "htable",
            ModValue::Str("a=>size=4;initval=0".into()),
        ),
        ("pike", "sampling_time_unit", ModValue::Int(60)),
        ("pike", "reqs_density_per_unit", ModValue::Int(30)),
    ];
    for (m, n, v) in mp {
        reg.set_modparam(m, n, v).unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    reg
}

#[test]
fn kamailio_56_agrees() {
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    client
        .set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap_or_else(|e| panic!("{e}"));
    let port = free_port();
    let Some(mut kam) = Kamailio::start(&config(port), port, &client, "auth") else {
        return;
    };
    let reg = registry();

    // Challenge layout for several flags, 401 and 407.
    for (i, (kind, func, flags)) in [
        ("ch", "www_challenge", "0"),
        ("ch", "www_challenge", "1"),
        ("ch", "www_challenge", "2"),
        ("ch", "www_challenge", "17"),
        ("pc", "proxy_challenge", "1"),
    ]
    .into_iter()
    .enumerate()
    {
        let msg = request(
            "REGISTER",
            &format!("{kind}{i}"),
            &format!("X-Flags: {flags}\r\n"),
        );
        let theirs = exchange(&client, port, &msg);
        let ours = h::call(&reg, &msg, func, &["example.com", flags]);
        let ours_reply = ours
            .sent
            .first()
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        let (kl, kn) = challenge_line(&theirs);
        assert!(!kn.is_empty(), "kamailio reply: {theirs}\n{}", kam.text());
        let (ol, on) = challenge_line(&ours_reply);
        assert_eq!(ol, kl, "{func} {flags}");
        assert_eq!(on.len(), kn.len(), "nonce length {on} {kn}");
        assert_eq!(ours_reply.lines().next(), theirs.lines().next());
    }

    // pv_www_authenticate with responses computed here for each side's nonce.
    let kam_nonce = challenge_line(&exchange(
        &client,
        port,
        &request("REGISTER", "ch9", "X-Flags: 1\r\n"),
    ))
    .1;
    let our_nonce = challenge_line(
        &h::call(
            &reg,
            &request("REGISTER", "c", ""),
            "www_challenge",
            &["example.com", "1"],
        )
        .sent
        .first()
        .map(|(_, r)| r.clone())
        .unwrap_or_default(),
    )
    .1;
    // (name, password, algorithm, qop, Kamailio 5.6.3's code, ours). Where they differ it is
    // deliberate (docs/modules-auth.md): 5.6 checks only MD5-sized responses (6.0 added SHA-256),
    // and its auth-int hashes an uninitialised H(entity-body) buffer; we follow RFC 7616/2617.
    let cases = [
        ("md5", "secret", Alg::Md5, Qop::Auth, 1, 1),
        ("noqop", "secret", Alg::Md5, Qop::None, 1, 1),
        ("wrong", "nope", Alg::Md5, Qop::Auth, -2, -2),
        ("sha", "secret", Alg::Sha256, Qop::Auth, -1, 1),
        ("md5int", "secret", Alg::Md5, Qop::AuthInt, -2, 1),
        ("shaint", "secret", Alg::Sha256, Qop::AuthInt, -1, 1),
    ];
    for (name, pass, alg, qop, kwant, owant) in cases {
        let kmsg = request(
            "REGISTER",
            &format!("auth-{name}"),
            &credentials(&kam_nonce, pass, alg, qop),
        );
        let _ = exchange(&client, port, &kmsg);
        let needle = format!("@@AUTH auth-{name} rc=");
        assert!(
            kam.wait_for(&needle, Duration::from_secs(2)),
            "{}",
            kam.text()
        );
        let text = kam.text();
        let krc: i64 = text
            .split(&needle)
            .nth(1)
            .and_then(|r| r.split("@@").next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(99);
        let omsg = request(
            "REGISTER",
            &format!("auth-{name}"),
            &credentials(&our_nonce, pass, alg, qop),
        );
        let orc = h::call(
            &reg,
            &omsg,
            "pv_www_authenticate",
            &["example.com", "secret", "0"],
        )
        .rc;
        assert_eq!((krc, orc), (kwant, owant), "{name}: (kamailio, ferrosip)");
    }

    // htable values printed with xlog, three requests.
    let api = reg
        .api::<ferrosip_modules::htable::HtableApi>()
        .unwrap_or_else(|| panic!("htable api"));
    let pv = |text: &str| {
        let (r, _) =
            ferrosip_api::pv::parse_pv_ref(text.as_bytes()).unwrap_or_else(|e| panic!("{e}"));
        reg.resolve_pv(&r).unwrap_or_else(|e| panic!("{e}"))
    };
    for i in 1..=3 {
        let _ = exchange(&client, port, &request("OPTIONS", &format!("ht{i}"), ""));
        let mut m =
            Msg::parse(request("OPTIONS", "x", "").into_bytes()).unwrap_or_else(|e| panic!("{e}"));
        let mut w = WorkerState::default();
        let mut rec = Recorder::default();
        let mut ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let ctx: &mut Ctx<'_> = &mut ctx;
        let x = pv("$sht(a=>x)").get(ctx).to_int() + 2;
        pv("$sht(a=>x)")
            .set(ctx, Value::Int(x))
            .unwrap_or_else(|e| panic!("{e}"));
        let c = pv("$shtinc(a=>c)").get(ctx);
        pv("$sht(a=>s)")
            .set(ctx, Value::str(format!("v{}", c.to_text())))
            .unwrap_or_else(|e| panic!("{e}"));
        let ours = format!(
            "@@HT x={} c={} s={} m={}@@",
            pv("$sht(a=>x)").get(ctx).to_text(),
            c.to_text(),
            pv("$sht(a=>s)").get(ctx).to_text(),
            pv("$sht(a=>missing)").get(ctx).to_text()
        );
        assert!(
            kam.wait_for(&ours, Duration::from_secs(2)),
            "{ours} not in:\n{}",
            kam.text()
        );
    }
    assert_eq!(api.get("a", b"c"), Some(Value::Int(3)));

    // pike: the request at which blocking starts, and the codes after it.
    let p = reg.api::<PikeApi>().unwrap_or_else(|| panic!("pike api"));
    let mut theirs = Vec::new();
    let mut ours = Vec::new();
    for i in 0..45 {
        let r = exchange(&client, port, &request("OPTIONS", &format!("pike{i}"), ""));
        theirs.push(if r.starts_with("SIP/2.0 200") {
            1
        } else if r.starts_with("SIP/2.0 503") {
            -1
        } else {
            0
        });
        ours.push(
            if p.check(
                "127.0.0.1"
                    .parse()
                    .unwrap_or(std::net::IpAddr::from([127, 0, 0, 1])),
            ) == Mark::Ok
            {
                1
            } else {
                -1
            },
        );
    }
    assert_eq!(ours, theirs);
    assert!(
        kam.text().contains("PIKE - BLOCKing ip 127.0.0.1"),
        "{}",
        kam.text()
    );
    eprintln!(
        "pike: first blocked request {:?}",
        ours.iter().position(|c| *c == -1).map(|i| i + 1)
    );
}
