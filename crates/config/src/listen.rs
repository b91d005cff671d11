//! Address syntax shared by `listen=`, `alias=`, `socket = { bind = … }` and the command line's `-l`:
//! `[proto:]addr_lst[:port[-port_end]][/advaddr[:port]]` where `addr_lst` is a host, an IP address,
//! an interface name, `[ipv6]` or a parenthesised list `(a, b, …)`.

use crate::ast::Listen;
use crate::diag::{Diagnostic, Error};
use crate::span::Span;

pub(crate) const PROTOS: [&str; 7] = ["udp", "tcp", "tls", "sctp", "ws", "wss", "any"];

/// Parses the `-l` command-line value.
pub fn parse_listen_arg(text: &str) -> Result<Listen, Diagnostic> {
    parse_listen_text(text, true, Span::default()).map_err(|m| {
        Diagnostic::error(
            Error::Semantic(format!("bad listen address `{text}`: {m}")),
            None,
        )
    })
}

/// Parses `[proto:]addr_lst[:port[-end]]` (and `/adv[:port]` when `allow_adv`).
pub(crate) fn parse_listen_text(text: &str, allow_adv: bool, span: Span) -> Result<Listen, String> {
    let mut l = Listen {
        span,
        ..Listen::default()
    };
    let mut rest = text.trim();
    if let Some((p, r)) = rest.split_once(':') {
        let pl = p.to_ascii_lowercase();
        if PROTOS.contains(&pl.as_str()) && !r.starts_with(':') {
            l.proto = Some(pl);
            rest = r;
        }
    }
    if let Some(r) = rest.strip_prefix('(') {
        let close = r.find(')').ok_or("missing `)` after the address list")?;
        for a in r[..close].split(',') {
            l.addrs.push(check_host(a.trim())?);
        }
        rest = &r[close + 1..];
    } else {
        let (host, r) = split_host(rest)?;
        l.addrs.push(check_host(host)?);
        rest = r;
    }
    if let Some(r) = rest.strip_prefix(':') {
        let end = r.find('/').unwrap_or(r.len());
        let ports = &r[..end];
        let (a, b) = match ports.split_once('-') {
            Some((a, b)) => (a, Some(b)),
            None => (ports, None),
        };
        l.port = Some(parse_port(a)?);
        if let Some(b) = b {
            let e = parse_port(b)?;
            if Some(e) < l.port {
                return Err("port range ends before it starts".into());
            }
            l.port_end = Some(e);
        }
        rest = &r[end..];
    }
    if let Some(adv) = rest.strip_prefix('/') {
        if !allow_adv {
            return Err("unexpected `/`".into());
        }
        l.advertise = Some(parse_hostport(adv)?);
        rest = "";
    }
    if !rest.is_empty() {
        return Err(format!("unexpected `{rest}`"));
    }
    Ok(l)
}

/// `host[:port]` for `advertise`.
pub(crate) fn parse_hostport(text: &str) -> Result<(String, Option<u16>), String> {
    let (host, rest) = split_host(text.trim())?;
    let host = check_host(host)?;
    match rest.strip_prefix(':') {
        Some(p) => Ok((host, Some(parse_port(p)?))),
        None if rest.is_empty() => Ok((host, None)),
        None => Err(format!("unexpected `{rest}`")),
    }
}

fn split_host(s: &str) -> Result<(&str, &str), String> {
    if let Some(r) = s.strip_prefix('[') {
        let close = r.find(']').ok_or("missing `]` after IPv6 address")?;
        return Ok((&s[..close + 2], &r[close + 1..]));
    }
    let end = s.find([':', '/']).unwrap_or(s.len());
    Ok((&s[..end], &s[end..]))
}

fn check_host(h: &str) -> Result<String, String> {
    if h.is_empty() {
        return Err("missing address".into());
    }
    if let Some(v6) = h.strip_prefix('[').and_then(|x| x.strip_suffix(']')) {
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("bad IPv6 address `{v6}`"));
        }
        return Ok(v6.to_string());
    }
    if h.parse::<std::net::Ipv6Addr>().is_ok() {
        return Ok(h.to_string());
    }
    if h.bytes().all(|c| c.is_ascii_digit() || c == b'.') {
        if h.parse::<std::net::Ipv4Addr>().is_err() {
            return Err(format!("bad IPv4 address `{h}`"));
        }
        return Ok(h.to_string());
    }
    if h == "*" {
        return Ok(h.to_string());
    }
    let ok = h
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-' | b'_'));
    if !ok || h.starts_with(['.', '-']) {
        return Err(format!("bad host or interface name `{h}`"));
    }
    Ok(h.to_string())
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse::<u16>()
        .map_err(|_| format!("bad port `{p}` (must be 0-65535)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(l: &Listen) -> String {
        format!(
            "{:?}|{}|{:?}|{:?}|{:?}",
            l.proto,
            l.addrs.join(","),
            l.port,
            l.port_end,
            l.advertise
        )
    }

    #[test]
    fn listen_forms() {
        let cases = [
            ("localhost", "None|localhost|None|None|None"),
            (
                "udp:127.0.0.1:5080",
                "Some(\"udp\")|127.0.0.1|Some(5080)|None|None",
            ),
            ("eth0:5062", "None|eth0|Some(5062)|None|None"),
            (
                "udp:127.0.0.1:5080/1.2.3.4:5060",
                "Some(\"udp\")|127.0.0.1|Some(5080)|None|Some((\"1.2.3.4\", Some(5060)))",
            ),
            ("sctp:(eth0)", "Some(\"sctp\")|eth0|None|None|None"),
            (
                "(eth0, eth1, 127.0.0.1):5065",
                "None|eth0,eth1,127.0.0.1|Some(5065)|None|None",
            ),
            ("tcp:[::1]:5060", "Some(\"tcp\")|::1|Some(5060)|None|None"),
            (
                "TLS:sip.example.com:5061",
                "Some(\"tls\")|sip.example.com|Some(5061)|None|None",
            ),
            (
                "udp:10.0.0.1:5060-5070",
                "Some(\"udp\")|10.0.0.1|Some(5060)|Some(5070)|None",
            ),
        ];
        for (t, want) in cases {
            match parse_listen_arg(t) {
                Ok(l) => assert_eq!(show(&l), want, "{t}"),
                Err(e) => panic!("{t}: {}", e.message()),
            }
        }
        for bad in [
            "",
            "udp:",
            "1.2.3.256",
            "host:99999",
            "(a, b",
            "[::g]",
            "a b",
            "h:5070-5060",
        ] {
            assert!(parse_listen_arg(bad).is_err(), "{bad}");
        }
    }
}
