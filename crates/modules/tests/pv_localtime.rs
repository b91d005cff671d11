//! Local time in the pv module (`$time()`, `$timef()`, `$Tf`, `{s.ftime}`) follows the
//! host's zone, as Kamailio's does through libc: the same statements run on ferrosip and on
//! Kamailio 5.6.3 under two non-UTC zones given as POSIX `TZ` strings (no tz database needed):
//! one with daylight saving time and a negative offset, one with a half-hour offset. Fixed
//! timestamps pin the calendar text; for the message's own time the zone-dependent parts (the
//! offset in minutes, `%Z %z`, `isdst`) and the agreement between PVs are compared.
//!
//! One test function only: the process's `TZ` is changed (and libc's `tzset` called) between
//! the zones, which must not race with another test's local-time call.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::{Ctx, Recorder, RecvInfo, RouteType, WorkerState};

const ZONES: &[&str] = &["EST5EDT,M3.2.0,M11.1.0", "IST-5:30"];

/// The statements; each `xlog` line is compared.
const BODY: &str = r#"
    $var(jan) = 1704067200; $var(jul) = 1719835200;
    xlog("L_ERR", "A $(var(jan){s.ftime,%Y-%m-%d %H:%M:%S %Z %z %a %j}) | $(var(jul){s.ftime,%Y-%m-%d %H:%M:%S %Z %z %a %j})\n");
    xlog("L_ERR", "B $(var(jul){s.ftime,%c|%x %X|%s|%D %r})\n");
    $var(m) = ($time(hour) * 60 + $time(min) - $utime(hour) * 60 - $utime(min) + 1440) mod 1440;
    xlog("L_ERR", "C offset=$var(m) $timef(%Z %z) isdst=$time(isdst) utc_isdst=$utime(isdst) $utimef(%Z %z)\n");
    if ($Tf == $timef(%a %b %e %H:%M:%S %Y)) { xlog("L_ERR", "D Tf is the local ctime\n"); }
    if ($time(year) == $(Ts{s.ftime,%Y}) && $time(yday) == $(Ts{s.ftime,%j}{s.int})) { xlog("L_ERR", "E fields agree with ftime\n"); }
"#;

fn config(port: Option<u16>) -> String {
    let head = match port {
        Some(p) => format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{p}\n\
             mpath=\"{}\"\n",
            harness::MPATH
        ),
        None => String::new(),
    };
    format!(
        "{head}loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \txlog(\"L_ERR\", \"@@B $ci@@\\n\");\n{BODY}\n\txlog(\"L_ERR\", \"@@E $ci@@\\n\");\n\texit;\n}}\n"
    )
}

fn message(callid: &str) -> String {
    format!(
        "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{callid}\r\n\
From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: {callid}\r\n\
CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    )
}

fn ferrosip_lines(callid: &str) -> Vec<String> {
    let (p, request) = harness::compile_request(
        config(None),
        vec![
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
        ],
    );
    let mut w = WorkerState::default();
    let mut rec = Recorder {
        debug: 3,
        ..Recorder::default()
    };
    let mut m =
        ferrosip_sipmsg::Msg::parse(message(callid).into_bytes()).unwrap_or_else(|e| panic!("{e}"));
    {
        let mut ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        p.run(request, &mut ctx);
    }
    harness::script_lines(&rec)
}

extern "C" {
    /// POSIX `tzset` (the libc crate does not declare it).
    fn tzset();
}

fn set_zone(tz: &str) {
    std::env::set_var("TZ", tz);
    // SAFETY: tzset only rereads TZ into libc's zone state; this test is the only one in this
    // binary, so no other thread converts a time meanwhile.
    unsafe { tzset() };
}

#[test]
fn local_time_follows_the_host_zone_as_kamailio() {
    let before = std::env::var_os("TZ");
    for (i, tz) in ZONES.iter().enumerate() {
        set_zone(tz);
        let callid = format!("tz-{i}");
        let ours = ferrosip_lines(&callid);
        // What must hold whatever Kamailio says: the fixed timestamps in this zone.
        let want_a = match i {
            0 => "A 2023-12-31 19:00:00 EST -0500 Sun 365 | 2024-07-01 08:00:00 EDT -0400 Mon 183",
            _ => "A 2024-01-01 05:30:00 IST +0530 Mon 001 | 2024-07-01 17:30:00 IST +0530 Mon 183",
        };
        assert_eq!(
            ours.first().map(String::as_str),
            Some(want_a),
            "{tz}: {ours:?}"
        );
        for needle in ["D Tf", "E fields"] {
            assert!(
                ours.iter().any(|l| l.starts_with(needle)),
                "{tz}: no `{needle}` line in {ours:?}"
            );
        }
        // Kamailio under the same zone (it inherits TZ from this process).
        let port = harness::free_port();
        let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let Some(mut kam) = harness::Kamailio::start(&config(Some(port)), port, &client, "tz")
        else {
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
        eprintln!("{tz}: kamailio {theirs:?}");
        assert_eq!(ours, theirs, "{tz}");
    }
    match before {
        Some(v) => std::env::set_var("TZ", v),
        None => std::env::remove_var("TZ"),
    }
}
