//! pike: blocking once the density is exceeded, unblocking after a sampling-unit swap finds the
//! address cold, removal after `remove_latency`, per-address isolation, `pike.top` output, and the
//! script function on the request's source address.

#[path = "common/harness.rs"]
mod h;

use std::net::{IpAddr, SocketAddr};

use ferrosip_api::export::RpcValue;
use ferrosip_api::{ModValue, ModuleExports, Proto, RecvInfo, Registry, RouteType};
use ferrosip_modules::pike::{Mark, PikeApi};

fn registry(density: i64, unit: i64, latency: i64) -> Registry {
    let mut reg = Registry::new();
    reg.add(ModuleExports::new("core"))
        .unwrap_or_else(|e| panic!("{e}"));
    reg.add(ferrosip_modules::pike::exports())
        .unwrap_or_else(|e| panic!("{e}"));
    for (n, v) in [
        ("reqs_density_per_unit", density),
        ("sampling_time_unit", unit),
        ("remove_latency", latency),
    ] {
        reg.set_modparam("pike", n, ModValue::Int(v))
            .unwrap_or_else(|e| panic!("{e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    reg
}

fn api(reg: &Registry) -> std::sync::Arc<PikeApi> {
    reg.api::<PikeApi>().unwrap_or_else(|| panic!("pike api"))
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

/// Hits before the first one counted on the full address: the request that creates the
/// first-byte node is not checked, so that node splits at max(density/4, 2) hits; each new level
/// inherits its parent's hits minus one and splits on its next hit (4 levels for IPv4, 16 for
/// IPv6).
fn warmup(density: u32, levels: u32) -> u32 {
    (density >> 2).max(2) + levels - 2
}

#[test]
fn blocks_after_density_and_unblocks_after_a_cold_unit() {
    // (density, address): the request number (1-based) that is blocked first.
    let cases = [
        (30u32, "192.0.2.7", 4u32),
        (8, "192.0.2.8", 4),
        (16, "2001:db8::1", 16),
    ];
    for (density, addr, levels) in cases {
        let reg = registry(i64::from(density), 2, 10);
        let p = api(&reg);
        p.tick(1000);
        let a = ip(addr);
        let marks: Vec<Mark> = (0..warmup(density, levels) + density + 3)
            .map(|_| p.check(a))
            .collect();
        let first = marks
            .iter()
            .position(|m| *m == Mark::NewlyBlocked)
            .map(|i| i + 1);
        assert_eq!(
            first,
            Some((warmup(density, levels) + density) as usize),
            "{addr} {marks:?}"
        );
        assert!(
            marks
                .iter()
                .skip(first.unwrap_or(0))
                .all(|m| *m == Mark::Blocked),
            "{addr}"
        );
        // Still hot in the previous window after one swap; cold after the second.
        assert_eq!(p.tick(1002), Vec::<IpAddr>::new());
        assert_eq!(p.check(a), Mark::Blocked);
        assert_eq!(p.tick(1004), vec![a]);
        assert_eq!(p.check(a), Mark::Ok);
        // A different address is counted on its own.
        let other = if a.is_ipv4() {
            ip("192.0.2.99")
        } else {
            ip("2001:db8::99")
        };
        assert_eq!(p.check(other), Mark::Ok);
    }
}

#[test]
fn idle_addresses_are_removed_after_remove_latency() {
    let reg = registry(8, 2, 10);
    let p = api(&reg);
    p.tick(100);
    let a = ip("198.51.100.1");
    for _ in 0..warmup(8, 4) + 1 {
        p.check(a);
    }
    let top = |p: &PikeApi, reg: &Registry| {
        let _ = p;
        let r = reg.rpc("pike.top").unwrap_or_else(|| panic!("pike.top"));
        (r.handler)(&[RpcValue::Str("ALL".into())]).unwrap_or_else(|f| panic!("{}", f.message))
    };
    let RpcValue::Array(rows) = top(&p, &reg) else {
        panic!("array")
    };
    assert_eq!(
        rows,
        vec![RpcValue::Struct(vec![
            ("ip_addr".into(), RpcValue::Str("198.51.100.1".into())),
            ("leaf_hits_prev".into(), RpcValue::Int(0)),
            ("leaf_hits_curr".into(), RpcValue::Int(1)),
            ("expires".into(), RpcValue::Int(110)),
            ("status".into(), RpcValue::Str("ALL".into())),
        ])]
    );
    p.tick(109);
    assert!(matches!(top(&p, &reg), RpcValue::Array(r) if r.len() == 1));
    p.tick(110);
    p.tick(111);
    assert_eq!(top(&p, &reg), RpcValue::Array(vec![]));
    // Everything starts again: the address needs the warm-up again.
    assert_eq!(p.check(a), Mark::Ok);
    let r = reg.rpc("pike.top").unwrap_or_else(|| panic!("pike.top"));
    assert!((r.handler)(&[RpcValue::Str("bogus".into())]).is_err());
}

#[test]
fn script_function_uses_the_source_address() {
    let reg = registry(4, 2, 10);
    let rcv = RecvInfo {
        src: SocketAddr::from(([203, 0, 113, 5], 5060)),
        dst: h::local(),
        proto: Proto::Udp,
        socket: 0,
    };
    let mut codes = Vec::new();
    let mut logs = Vec::new();
    for _ in 0..warmup(4, 4) + 4 + 2 {
        let o = h::call_full(
            &reg,
            h::INVITE.as_bytes(),
            RouteType::Request,
            3,
            &[("pike_check_req", &[])],
            &|_| {},
            rcv,
        );
        codes.push(o.rc);
        logs.extend(o.logs);
    }
    assert_eq!(codes, vec![1, 1, 1, 1, 1, 1, 1, -2, -1, -1]);
    assert_eq!(
        logs,
        vec![(0, "PIKE - BLOCKing ip 203.0.113.5".to_string())]
    );
    let o = h::call(&reg, h::INVITE, "pike_check_ip", &["not-an-ip"]);
    assert_eq!(o.rc, -1);
}
