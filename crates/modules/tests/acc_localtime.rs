//! acc's `time_mode` 3 (local time) and 4 (UTC) under non-UTC zones, on ferrosip (in process)
//! and on Kamailio 5.6.3: `acc_log_request` lines with `time_format` `%Z %z|%Y-%m-%d %H:%M:%S`
//! under two POSIX `TZ` strings (one with daylight saving time, one with a half-hour offset).
//! The zone part must be the same on both servers; on each, the printed clock must be the
//! line's `timestamp` shifted by the printed offset (the runs are seconds apart, so the clocks
//! themselves are not compared).
//!
//! One test function only: the process's `TZ` is changed (and libc's `tzset` called) between
//! the zones, which must not race with another test's local-time call.

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::time::Duration;

use ferrosip_api::WorkerState;
use ferrosip_api::{store, Ctx, ModValue, ModuleExports, Recorder, RecvInfo, Registry, RouteType};
use ferrosip_modules::pv::timefmt;

const ZONES: &[&str] = &["EST5EDT,M3.2.0,M11.1.0", "IST-5:30"];
const FORMAT: &str = "%Z %z|%Y-%m-%d %H:%M:%S";

fn message(callid: &str) -> String {
    format!(
        "MESSAGE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{callid}\r\n\
From: <sip:alice@127.0.0.1>;tag=a\r\nTo: <sip:bob@127.0.0.1>\r\nCall-ID: {callid}\r\n\
CSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n"
    )
}

fn kamailio_cfg(port: u16, mode: i64) -> String {
    format!(
        "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\n\
         mpath=\"{}\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"tm.so\"\n\
         loadmodule \"acc.so\"\nmodparam(\"acc\", \"time_mode\", {mode})\n\
         modparam(\"acc\", \"time_attr\", \"t\")\nmodparam(\"acc\", \"time_format\", \"{FORMAT}\")\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \tacc_log_request(\"lt\");\n\txlog(\"L_ERR\", \"@@E $ci@@\\n\");\n\texit;\n}}\n",
        harness::MPATH
    )
}

/// ferrosip's line for one `acc_log_request("lt")`.
fn ferrosip_line(mode: i64, callid: &str) -> String {
    let mut reg = Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = store::core_pvs();
    let ok = |r: Result<(), ferrosip_api::Error>| r.unwrap_or_else(|e| panic!("{e}"));
    ok(reg.add(core));
    ok(reg.add(ferrosip_modules::pv::exports()));
    ok(reg.add(ferrosip_modules::tm::exports()));
    ok(reg.add(ferrosip_modules::acc::exports()));
    for (n, v) in [
        ("time_mode", ModValue::Int(mode)),
        ("time_attr", ModValue::Str("t".into())),
        ("time_format", ModValue::Str(FORMAT.into())),
    ] {
        ok(reg.set_modparam("acc", n, v));
    }
    ok(reg.init_all());
    let (h, a) =
        harness::prepare(&reg, "acc_log_request", &["lt"]).unwrap_or_else(|e| panic!("{e}"));
    let mut m =
        ferrosip_sipmsg::Msg::parse(message(callid).into_bytes()).unwrap_or_else(|e| panic!("{e}"));
    let mut w = WorkerState::default();
    let mut rec = Recorder {
        debug: 3,
        ..Recorder::default()
    };
    {
        let mut ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let rc = h(&mut ctx, &a).map(|r| r.0).unwrap_or(-1);
        assert_eq!(rc, 1);
    }
    rec.lines
        .iter()
        .map(|l| l.3.clone())
        .find(|t| t.contains("ACC: request accounted: "))
        .unwrap_or_else(|| panic!("no acc line: {:?}", rec.lines))
}

/// (zone part `%Z %z`, whether the clock is the timestamp shifted by the printed offset).
fn check(line: &str) -> (String, bool) {
    let rest = line
        .split("timestamp=")
        .nth(1)
        .unwrap_or_else(|| panic!("no timestamp in {line}"));
    let (secs, rest) = rest.split_once(";t=").unwrap_or_else(|| panic!("{line}"));
    let t = rest.split(';').next().unwrap_or_default();
    let (zone, clock) = t.split_once('|').unwrap_or_else(|| panic!("{line}"));
    let off = zone.rsplit(' ').next().unwrap_or_default();
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let hh: i64 = off.get(1..3).and_then(|s| s.parse().ok()).unwrap_or(99);
    let mm: i64 = off.get(3..5).and_then(|s| s.parse().ok()).unwrap_or(99);
    let secs: i64 = secs.parse().unwrap_or_else(|e| panic!("{line}: {e}"));
    let shifted = secs + sign * (hh * 3600 + mm * 60);
    let want = timefmt::strftime(b"%Y-%m-%d %H:%M:%S", shifted);
    (zone.to_string(), clock.as_bytes() == want.as_slice())
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
fn time_modes_follow_the_host_zone_as_kamailio() {
    let before = std::env::var_os("TZ");
    'zones: for (i, tz) in ZONES.iter().enumerate() {
        set_zone(tz);
        for mode in [3, 4] {
            let callid = format!("acc-tz-{i}-{mode}");
            let ours = ferrosip_line(mode, &callid);
            let (zone, consistent) = check(&ours);
            assert!(consistent, "{tz} mode {mode}: {ours}");
            // The UTC mode names the zone as glibc does after gmtime_r.
            if mode == 4 {
                assert_eq!(zone, "GMT +0000", "{ours}");
            } else {
                assert_ne!(zone, "GMT +0000", "{tz}: {ours}");
            }
            let port = harness::free_port();
            let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
            let Some(mut kam) = harness::Kamailio::start(
                &kamailio_cfg(port, mode),
                port,
                &client,
                &format!("acctz{i}{mode}"),
            ) else {
                break 'zones;
            };
            client
                .send_to(message(&callid).as_bytes(), format!("127.0.0.1:{port}"))
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(
                kam.wait_for(&format!("@@E {callid}@@"), Duration::from_secs(5)),
                "{}",
                kam.text()
            );
            let text = kam.text();
            let theirs = text
                .lines()
                .find(|l| l.contains("ACC: request accounted: "))
                .unwrap_or_else(|| panic!("no acc line from Kamailio:\n{text}"));
            eprintln!("{tz} mode {mode}\n ours:   {ours}\n theirs: {theirs}");
            let (kzone, kconsistent) = check(theirs);
            assert!(kconsistent, "{tz} mode {mode}: {theirs}");
            assert_eq!(zone, kzone, "{tz} mode {mode}");
            // The rest of the line (core attributes) is the same too.
            assert_eq!(
                ours.split_once(";method=").map(|p| p.1),
                theirs.split_once(";method=").map(|p| p.1),
                "{tz} mode {mode}"
            );
        }
    }
    match before {
        Some(v) => std::env::set_var("TZ", v),
        None => std::env::remove_var("TZ"),
    }
}
