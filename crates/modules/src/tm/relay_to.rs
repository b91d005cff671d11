//! `t_relay_to([proxy][, flags])`, `t_replicate([uri])`, `t_replicate(host, port)`,
//! `t_replicate_udp/tcp(host, port)`, `t_forward_nonack[_uri|_udp|_tcp]`: their export entries and
//! load-time parsing.

use std::sync::Arc;

use ferrosip_api::export::Arg;
use ferrosip_api::{Ctx, Error, FnExport, ParamKind as K, Proto, RetCode, RouteMask};
use ferrosip_sipmsg::{Span, Uri};

use super::*;

const REQ_FAIL: RouteMask = RouteMask(RouteMask::REQUEST.0 | RouteMask::FAILURE.0);

/// `t_relay_to` flag: no automatic 100 Trying.
const NO_AUTO_100: u32 = 0x1;
/// `t_relay_to` flag: no internal negative reply (`t_set_disable_internal_reply`).
const NO_INTERNAL_REPLY: u32 = 0x2;
/// `t_relay_to` flag: no DNS failover (ferrosip has none: nothing to do).
const NO_FAILOVER: u32 = 0x4;

pub(super) fn functions(tm: &Arc<Tm>) -> Vec<FnExport> {
    let mut v = Vec::new();
    for (arity, doc) in [
        (0, "t_relay()"),
        (1, "t_relay() to a proxy ([proto:]host[:port]) or with flags (0x1 no 100 Trying, 0x2 no internal negative reply, 0x4 no DNS failover)"),
        (2, "t_relay() to a proxy with flags"),
    ] {
        let t = tm.clone();
        v.push(
            FnExport::new("t_relay_to", &vec![K::Str; arity], REQ_FAIL, doc)
                .fixup(relay_to_fixup)
                .with(move |ctx, a| relay_to(&t, ctx, a)),
        );
    }
    let t = tm.clone();
    v.push(
        FnExport::new(
            "t_replicate",
            &[],
            RouteMask::REQUEST,
            "send statefully to $du or the R-URI; the branches' replies stay here",
        )
        .with(move |ctx, _| replicate(&t, ctx, Target::default())),
    );
    let t = tm.clone();
    v.push(
        FnExport::new(
            "t_replicate",
            &[K::Spve],
            RouteMask::REQUEST,
            "send statefully to the host, port and transport of a SIP URI; replies stay here",
        )
        .with(move |ctx, a| {
            let uri = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
            if uri.is_empty() {
                return replicate(&t, ctx, Target::default());
            }
            match uri_target(&uri) {
                Some(target) => replicate(&t, ctx, target),
                None => {
                    ctx.log_error("t_replicate: bad replicate SIP address!");
                    Ok(RetCode(-1))
                }
            }
        }),
    );
    for (name, proto, doc) in [
        (
            "t_replicate",
            None,
            "send statefully to host:port; replies stay here",
        ),
        (
            "t_replicate_udp",
            Some(Proto::Udp),
            "t_replicate(host, port) over UDP",
        ),
        (
            "t_replicate_tcp",
            Some(Proto::Tcp),
            "t_replicate(host, port) over TCP",
        ),
    ] {
        let t = tm.clone();
        v.push(
            FnExport::new(name, &[K::Spve, K::IntOrVar], RouteMask::REQUEST, doc).with(
                move |ctx, a| {
                    let target = host_port(ctx, a, "t_replicate", proto.or(Some(Proto::Udp)))?;
                    replicate(&t, ctx, target)
                },
            ),
        );
    }
    let t = tm.clone();
    v.push(
        FnExport::new(
            "t_forward_nonack_uri",
            &[],
            RouteMask::REQUEST,
            "forward on the existing transaction (t_newtran) to $du or the R-URI",
        )
        .with(move |ctx, _| forward_nonack(&t, ctx, Target::default())),
    );
    for (name, proto, doc) in [
        (
            "t_forward_nonack",
            None,
            "forward on the existing transaction to host:port",
        ),
        (
            "t_forward_nonack_udp",
            Some(Proto::Udp),
            "t_forward_nonack over UDP",
        ),
        (
            "t_forward_nonack_tcp",
            Some(Proto::Tcp),
            "t_forward_nonack over TCP",
        ),
    ] {
        let t = tm.clone();
        v.push(
            FnExport::new(name, &[K::Spve, K::IntOrVar], RouteMask::REQUEST, doc).with(
                move |ctx, a| {
                    let target = host_port(ctx, a, "t_forward_nonack", proto)?;
                    forward_nonack(&t, ctx, target)
                },
            ),
        );
    }
    v
}

/// Kamailio's `t_forward_nonack`: the branches of a transaction the script created
/// (`t_newtran`), without the automatic 100 Trying; an ACK is refused.
pub(super) fn forward_nonack(tm: &Tm, ctx: &mut Ctx<'_>, target: Target) -> Result<RetCode, Error> {
    let Some(cell) = cur_cell(ctx) else {
        ctx.log_error("t_forward_nonack: can't forward when no transaction was set up");
        return Ok(RetCode(-1));
    };
    if ctx.msg.method() == Some(ferrosip_sipmsg::Method::Ack) {
        ctx.log(
            ferrosip_api::L_WARN,
            "t_forward_nonack: you don't really want to fwd hop-by-hop ACK",
        );
        return Ok(RetCode(-1));
    }
    cell.lock().auto_100 = false;
    forward_branches(tm, ctx, &cell, &target)
}

fn replicate(tm: &Tm, ctx: &mut Ctx<'_>, target: Target) -> Result<RetCode, Error> {
    relay_or_replicate(tm, ctx, &target, true)
}

/// Load time: a flags argument becomes `Arg::Int`, a proxy `Arg::Custom(Target)`.
fn relay_to_fixup(args: &mut [Arg]) -> Result<(), String> {
    let n = args.len();
    for (i, a) in args.iter_mut().enumerate() {
        let Arg::Str(s) = a else { continue };
        let text = String::from_utf8_lossy(s).into_owned();
        let is_flags = (n == 2 && i == 1) || (n == 1 && parse_flags(&text).is_some());
        if is_flags {
            let f = parse_flags(&text).ok_or_else(|| format!("invalid flags <{text}>"))?;
            *a = Arg::Int(i64::from(f));
        } else {
            let t = parse_proxy(&text)
                .ok_or_else(|| format!("invalid proxy addr parameter <{text}>"))?;
            *a = Arg::Custom(Arc::new(t));
        }
    }
    Ok(())
}

fn relay_to(tm: &Tm, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let mut target = Target::default();
    let mut flags = 0u32;
    for x in a {
        match x {
            Arg::Int(f) => flags = u32::try_from(*f).unwrap_or(0),
            Arg::Custom(c) => {
                if let Some(t) = c.downcast_ref::<Target>() {
                    target = t.clone();
                }
            }
            _ => {}
        }
    }
    if flags & NO_AUTO_100 != 0 {
        match cur_cell(ctx) {
            Some(cell) => cell.lock().auto_100 = false,
            None => cur(ctx, |c| c.auto_100 = Some(false)),
        }
    }
    if flags & NO_INTERNAL_REPLY != 0 {
        match cur_cell(ctx) {
            Some(cell) => cell.lock().no_internal_reply = true,
            None => cur(ctx, |c| c.no_internal_reply = Some(true)),
        }
    }
    // NO_FAILOVER: ferrosip does no DNS failover.
    let _ = NO_FAILOVER;
    t_relay(tm, ctx, &target)
}

/// Kamailio's flags text: `0x` + hex digits, or decimal digits.
fn parse_flags(text: &str) -> Option<u32> {
    match text.strip_prefix("0x") {
        Some(h) if !h.is_empty() => u32::from_str_radix(h, 16).ok(),
        _ if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        _ => None,
    }
}

fn proto_of(name: &str) -> Option<Proto> {
    Some(match name.to_ascii_lowercase().as_str() {
        "udp" => Proto::Udp,
        "tcp" => Proto::Tcp,
        "tls" => Proto::Tls,
        "sctp" => Proto::Sctp,
        "ws" => Proto::Ws,
        "wss" => Proto::Wss,
        _ => return None,
    })
}

/// Kamailio's `parse_phostport`: `[proto:]host[:port]`, the host an IPv6 reference in brackets
/// or a name; with one colon, `proto:host` when the first part is a transport, else `host:port`.
pub(super) fn parse_proxy(text: &str) -> Option<Target> {
    let mut parts: Vec<&str> = Vec::new();
    let mut rest = text;
    // Split on ':' outside brackets; bounded by the text length.
    while !rest.is_empty() {
        if rest.starts_with('[') {
            let end = rest.find(']')? + 1;
            parts.push(rest.get(..end)?);
            rest = rest.get(end..)?;
            rest = rest.strip_prefix(':').unwrap_or(rest);
            continue;
        }
        match rest.find(':') {
            Some(i) => {
                parts.push(rest.get(..i)?);
                rest = rest.get(i + 1..)?;
            }
            None => {
                parts.push(rest);
                rest = "";
            }
        }
    }
    let port = |p: &str| p.parse::<u16>().ok();
    let (proto, host, port) = match parts.as_slice() {
        [h] => (None, *h, 0),
        [a, b] => match proto_of(a) {
            Some(p) if port(b).is_none() => (Some(p), *b, 0),
            _ => (None, *a, port(b)?),
        },
        [p, h, n] => (Some(proto_of(p)?), *h, port(n)?),
        _ => return None,
    };
    if host.is_empty() {
        return None;
    }
    Some(Target {
        host: Some((host.to_string(), port)),
        proto,
    })
}

/// The destination of `t_replicate(uri)`: the URI's host, port and `transport=`.
pub(super) fn uri_target(uri: &[u8]) -> Option<Target> {
    let u = Uri::parse(uri, Span::new(0, uri.len())).ok()?;
    let host = String::from_utf8_lossy(u.host.of(uri)).into_owned();
    let proto = u
        .transport
        .and_then(|p| p.value)
        .and_then(|v| proto_of(&String::from_utf8_lossy(v.of(uri))));
    Some(Target {
        host: Some((host, u.port.unwrap_or(0))),
        proto,
    })
}

/// The `(host, port)` parameters of `t_replicate(host, port)` / `t_forward_nonack(host, port)` and
/// their `_udp`/`_tcp` forms as a target; a port outside 0..=65535 is `fname`'s error.
fn host_port(
    ctx: &mut Ctx<'_>,
    a: &[Arg],
    fname: &str,
    proto: Option<Proto>,
) -> Result<Target, Error> {
    let host = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let port = a.get(1).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
    let port = u16::try_from(port).map_err(|_| Error::Runtime(format!("{fname}: bad port")))?;
    Ok(Target {
        host: Some((String::from_utf8_lossy(&host).into_owned(), port)),
        proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proxies_and_flags() {
        // (text, proto, host, port) — None: refused
        type Case<'a> = (&'a str, Option<(Option<Proto>, &'a str, u16)>);
        let cases: &[Case] = &[
            ("10.0.0.1", Some((None, "10.0.0.1", 0))),
            ("10.0.0.1:5070", Some((None, "10.0.0.1", 5070))),
            ("udp:10.0.0.1", Some((Some(Proto::Udp), "10.0.0.1", 0))),
            (
                "tcp:h.example:5080",
                Some((Some(Proto::Tcp), "h.example", 5080)),
            ),
            ("[::1]:5060", Some((None, "[::1]", 5060))),
            ("tls:[::1]:5061", Some((Some(Proto::Tls), "[::1]", 5061))),
            ("host:notaport", None),
            ("bogus:h:1", None),
            ("", None),
        ];
        for (text, want) in cases {
            let got = parse_proxy(text).and_then(|t| t.host.map(|(h, p)| (t.proto, h, p)));
            let want = want.map(|(pr, h, p)| (pr, h.to_string(), p));
            assert_eq!(got, want, "{text}");
        }
        let flags: &[(&str, Option<u32>)] = &[
            ("0x1", Some(1)),
            ("0x05", Some(5)),
            ("3", Some(3)),
            ("0x", None),
            ("1.2.3.4", None),
            ("x1", None),
        ];
        for (text, want) in flags {
            assert_eq!(parse_flags(text), *want, "{text}");
        }
    }

    #[test]
    fn fixup_takes_flags_and_proxies() {
        let mut a = vec![Arg::Str(b"0x2".to_vec())];
        assert!(relay_to_fixup(&mut a).is_ok());
        assert!(matches!(a.first(), Some(Arg::Int(2))));
        let mut a = vec![
            Arg::Str(b"udp:127.0.0.1:5070".to_vec()),
            Arg::Str(b"1".to_vec()),
        ];
        assert!(relay_to_fixup(&mut a).is_ok());
        assert!(matches!(a.get(1), Some(Arg::Int(1))));
        assert!(matches!(a.first(), Some(Arg::Custom(_))));
    }
}
