//! `add_sock_hdr(name)`: a header `name: proto:ip:port` naming the socket the request came in on,
//! added after the last header, so that a registrar behind this proxy can learn where the
//! contact is reachable; and the registrar side, `sock_flag` with `sock_hdr_name` or
//! `xavp_cfg`'s `socket` ([`socket_override`]).

use ferrosip_api::ctx::Proto;
use ferrosip_api::{Arg, Ctx, Error, RetCode};

use super::{RegConfig, Registrar};

/// `sock_flag`: when the REGISTER carries that message flag, `save()` stores the socket named
/// by the first `sock_hdr_name` header (or, without that parameter, by the `socket` string of
/// the `xavp_cfg` XAVP) instead of the receiving one — Kamailio's `get_sock_val`. `None` (the
/// receiving socket) when the flag is not set, the text is missing or empty, does not parse as
/// `[proto:]host[:port]`, or names no socket of ours. Returns the socket's index and its
/// `proto:ip:port` string.
pub fn socket_override(ctx: &mut Ctx<'_>, cfg: &RegConfig) -> Option<(u32, String)> {
    let flag = cfg.sock_flag?;
    if ctx.state.flags & (1u32 << (flag & 31)) == 0 {
        return None;
    }
    let text = match &cfg.sock_hdr_name {
        Some(name) => {
            let buf = ctx.msg.buf();
            let h = ctx
                .msg
                .headers()
                .ok()?
                .iter()
                .find(|h| h.name.of(buf).eq_ignore_ascii_case(name))?;
            h.value.of(buf).trim_ascii().to_vec()
        }
        None => super::xcfg::text(ctx, cfg, "socket")?,
    };
    let (proto, host, port) = parse_phostport(&text)?;
    let i = crate::rr::find_socket(ctx, host, port, proto);
    let Some(i) = i else {
        ctx.log_error(&format!(
            "non-local socket <{}>",
            String::from_utf8_lossy(&text)
        ));
        return None;
    };
    let s = ctx
        .server
        .sockets()
        .get(usize::try_from(i).ok()?)?
        .socket_str();
    Some((i, s))
}

/// Kamailio's `parse_phostport`: `[proto:]host[:port]`, the host an IPv4 address, a name or an
/// IPv6 address in brackets; port 0 when absent.
fn parse_phostport(s: &[u8]) -> Option<(Option<Proto>, &[u8], u16)> {
    let port_of = |p: &[u8]| -> Option<u16> { std::str::from_utf8(p).ok()?.parse().ok() };
    let (proto, rest) = match s.iter().position(|b| *b == b':') {
        Some(i) if !s.starts_with(b"[") => match Proto::from_name(s.get(..i)?) {
            Some(p) => (Some(p), s.get(i + 1..)?),
            None => (None, s),
        },
        _ => (None, s),
    };
    let (host, port) = if rest.starts_with(b"[") {
        let end = rest.iter().position(|b| *b == b']')?;
        let host = rest.get(..=end)?;
        match rest.get(end + 1..)? {
            [] => (host, 0),
            [b':', p @ ..] => (host, port_of(p)?),
            _ => return None,
        }
    } else {
        match rest.iter().rposition(|b| *b == b':') {
            Some(i) => (rest.get(..i)?, port_of(rest.get(i + 1..)?)?),
            None => (rest, 0),
        }
    };
    if host.is_empty() {
        return None;
    }
    Some((proto, host, port))
}

/// `add_sock_hdr(name)`: 1, or -1 when the header section cannot be found, the name is empty or
/// the receiving socket is not in the server's list.
pub fn w_add_sock_hdr(_r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let name = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    if name.is_empty() {
        return Ok(RetCode(-1));
    }
    let Ok(eoh) = ctx.msg.headers_end() else {
        return Ok(RetCode(-1));
    };
    let Some(sock) = ctx
        .server
        .sockets()
        .get(ctx.rcv.socket as usize)
        .map(|s| s.socket_str())
    else {
        return Ok(RetCode(-1));
    };
    let mut hdr = name;
    hdr.extend_from_slice(b": ");
    hdr.extend_from_slice(sock.as_bytes());
    hdr.extend_from_slice(b"\r\n");
    ctx.edits
        .insert_at(eoh, &hdr)
        .map_err(|e| Error::Runtime(format!("add_sock_hdr: {e}")))?;
    Ok(RetCode(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (protocol, host, port) as parsed.
    type Parsed<'a> = Option<(Option<Proto>, &'a str, u16)>;

    #[test]
    fn phostport() {
        let cases: &[(&str, Parsed<'_>)] = &[
            (
                "udp:127.0.0.1:5060",
                Some((Some(Proto::Udp), "127.0.0.1", 5060)),
            ),
            ("tcp:10.0.0.1", Some((Some(Proto::Tcp), "10.0.0.1", 0))),
            ("10.0.0.1:5070", Some((None, "10.0.0.1", 5070))),
            ("host.example", Some((None, "host.example", 0))),
            ("tls:[::1]:5061", Some((Some(Proto::Tls), "[::1]", 5061))),
            ("[::1]", Some((None, "[::1]", 0))),
            ("udp:127.0.0.1:x", None),
            ("udp:", None),
            ("[::1", None),
        ];
        for (s, want) in cases {
            let got = parse_phostport(s.as_bytes());
            let want = want.map(|(p, h, port)| (p, h.as_bytes(), port));
            assert_eq!(got, want, "{s}");
        }
    }
}
