//! Kamailio's `corex` module: `append_branch` (all forms, with q), `send_udp`/`send_tcp`/
//! `send_data` through the [`ferrosip_api::Server`] (IP-literal destinations), `file_read`,
//! `file_write`, extended flags (`setxflag`, `resetxflag`, `isxflagset`, 0..63) and
//! `is_faked_msg`.
//!
//! The socket functions (`set_send_socket[_name]`, `set_recv_socket[_name]`, `is_socket_name`,
//! `sendx`) work on [`ferrosip_api::Server::sockets`]: the send socket is the message's forced
//! socket (`MsgState::force_socket`), the receive socket is `Ctx::rcv`. `forward_reply` relays
//! through the core ([`ferrosip_api::Network::forward_reply`]).
//!
//! Refused at load (see docs/modules-2.md): `set_source_address` (no raw-socket sending) and
//! `$lsock`; `via_add_srvid`,
//! `via_add_xavp_params`, `via_use_xavp_fields`, `via_reply_add_xavp_params` — the server's Via
//! builder does not read those per-message switches yet; `forward_uac`, `forward_uac_uri` —
//! stateless forwarding as a UAC is not in the module API; `msg_iflag_set`/`reset`/`is_set` — the internal
//! flags are read by subsystems (uac, tm) that do not exist yet; `is_incoming` and the `nio_*`
//! modparams — no network-IO interception; `$cfg` — the runtime does not pass the config position
//! to variables; `$atkv` — no async tasks; modparams `alias_subdomains`, `dns_cache`, `dns_file`
//! (no DNS cache / aliases in the module API), `evcb_reply_out` (no event callbacks). corex's RPC
//! commands (`corex.list_sockets` …) are not exported (same reason as the socket functions).
//!
//! Sending: the message is sent as received (Kamailio's `send_udp` sends `msg->buf`, without
//! edits). The destination is the `host[:port]` parameter, else `$du`, else the R-URI; its host
//! must be an IP address (no resolver is reachable from modules yet: a host name fails like an
//! unresolvable one, with a log line).

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};

use ferrosip_api::ctx::Branch;
use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K, PvExport};
use ferrosip_api::{Ctx, Dest, Error, ModuleExports, Proto, RetCode, RouteMask, Value};

use crate::pv::uriops;

/// Kamailio's default `max_branches` (the core parameter, read through `CoreParams`), the R-URI
/// included.
pub const MAX_BRANCHES: usize = 12;

/// The `corex` export table.
pub fn exports() -> ModuleExports {
    let any = RouteMask::ANY;
    let rf = RouteMask::REQUEST.or(RouteMask::FAILURE);
    let mut m = ModuleExports::new("corex");
    let net: Arc<OnceLock<ferrosip_api::NetworkApi>> = Arc::new(OnceLock::new());
    let relay = Arc::clone(&net);
    m.init = Some(Arc::new(move |ictx| {
        if let Some(n) = ictx.api::<ferrosip_api::NetworkApi>() {
            let _ = net.set((*n).clone());
        }
        Ok(())
    }));
    m.functions = vec![
        refused(
            "forward_uac",
            &[],
            RouteMask::REQUEST,
            "forward as a UAC: refused (no forwarding path)",
        ),
        refused(
            "forward_uac_uri",
            &[K::Spve],
            RouteMask::REQUEST,
            "forward as a UAC to a URI: refused (no forwarding path)",
        ),
        FnExport::new(
            "forward_reply",
            &[],
            RouteMask::CORE_ONREPLY,
            "relay the received reply statelessly now, as the core does after onreply_route",
        )
        .with(move |c, _| {
            let Some(n) = relay.get() else {
                c.log_error("forward_reply: the core's relay path is not available");
                return Ok(RetCode::FALSE);
            };
            match n.0.forward_reply(c, None) {
                Ok(()) => Ok(RetCode::TRUE),
                Err(e) => {
                    c.log_error(&format!("forward_reply: {e}"));
                    Ok(RetCode::FALSE)
                }
            }
        }),
        FnExport::new(
            "append_branch",
            &[],
            rf,
            "move the R-URI ($du, flags, socket) into a new branch",
        )
        .with(|c, _| Ok(RetCode(append_branch(c, None, None)))),
        FnExport::new(
            "append_branch",
            &[K::Spve],
            rf,
            "add a branch with this URI",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(append_branch(c, Some(&u), None)))
        }),
        FnExport::new(
            "append_branch",
            &[K::Spve, K::Spve],
            rf,
            "add a branch with this URI and q value",
        )
        .with(|c, a| {
            let (u, q) = (arg(c, a, 0)?, arg(c, a, 1)?);
            Ok(RetCode(append_branch(c, Some(&u), Some(&q))))
        }),
        FnExport::new(
            "send_udp",
            &[],
            rf,
            "send the received message over UDP to $du or the R-URI",
        )
        .with(|c, _| Ok(RetCode(send_msg(c, None, Proto::Udp)))),
        FnExport::new(
            "send_udp",
            &[K::Spve],
            rf,
            "send the received message over UDP to host[:port]",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(send_msg(c, Some(&u), Proto::Udp)))
        }),
        FnExport::new(
            "send_tcp",
            &[],
            rf,
            "send the received message over TCP to $du or the R-URI",
        )
        .with(|c, _| Ok(RetCode(send_msg(c, None, Proto::Tcp)))),
        FnExport::new(
            "send_tcp",
            &[K::Spve],
            rf,
            "send the received message over TCP to host[:port]",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(send_msg(c, Some(&u), Proto::Tcp)))
        }),
        FnExport::new(
            "send_data",
            &[K::Spve, K::Spve],
            any,
            "send the data to the URI (its transport, UDP by default)",
        )
        .with(|c, a| {
            let (u, d) = (arg(c, a, 0)?, arg(c, a, 1)?);
            if u.is_empty() || d.is_empty() {
                return Ok(RetCode::FALSE);
            }
            Ok(RetCode(send_data(c, &u, &d)))
        }),
        FnExport::new(
            "sendx",
            &[K::Spve, K::Spve, K::Spve],
            any,
            "send the data to the URI from the listening socket given as proto:ip:port",
        )
        .with(|c, a| {
            let (u, sock, d) = (arg(c, a, 0)?, arg(c, a, 1)?, arg(c, a, 2)?);
            if u.is_empty() || d.is_empty() {
                return Ok(RetCode::FALSE);
            }
            let Some(id) = find_socket(c, &sock) else {
                c.log_error(&format!(
                    "sendx: no socket found to match [{}]",
                    String::from_utf8_lossy(&sock)
                ));
                return Ok(RetCode::FALSE);
            };
            Ok(RetCode(send_data_from(c, &u, &d, Some(id))))
        }),
        refused(
            "is_incoming",
            &[],
            any,
            "network-IO interception: refused (nio not implemented)",
        ),
        refused(
            "msg_iflag_set",
            &[K::Spve],
            any,
            "set an internal message flag: refused (its flags are read only by uac, which ferrosip lacks)",
        ),
        refused(
            "msg_iflag_reset",
            &[K::Spve],
            any,
            "reset an internal message flag: refused (see msg_iflag_set)",
        ),
        refused(
            "msg_iflag_is_set",
            &[K::Spve],
            any,
            "test an internal message flag: refused (see msg_iflag_set)",
        ),
        FnExport::new(
            "file_read",
            &[K::Spve, K::VarW],
            any,
            "read a whole file into a variable",
        )
        .fixup(writable_second)
        .with(|c, a| {
            let name = arg(c, a, 0)?;
            let Some(Arg::Var(p)) = a.get(1) else {
                return Err(Error::Runtime("missing variable".into()));
            };
            let p = p.clone();
            if name.is_empty() {
                c.log_error("cannot get file path");
                return Ok(RetCode::FALSE);
            }
            let path = String::from_utf8_lossy(&name).into_owned();
            match std::fs::read(&path) {
                Ok(data) => {
                    p.set(c, Value::Str(data))?;
                    Ok(RetCode::TRUE)
                }
                Err(e) => {
                    c.log_error(&format!("cannot open file: {path} ({e})"));
                    Ok(RetCode::FALSE)
                }
            }
        }),
        FnExport::new(
            "file_write",
            &[K::Spve, K::Spve],
            any,
            "write (truncate) a file with the content",
        )
        .with(|c, a| {
            let (name, data) = (arg(c, a, 0)?, arg(c, a, 1)?);
            if name.is_empty() {
                c.log_error("cannot get file path");
                return Ok(RetCode::FALSE);
            }
            if data.is_empty() {
                c.log_error("cannot get the content");
                return Ok(RetCode::FALSE);
            }
            let path = String::from_utf8_lossy(&name).into_owned();
            match std::fs::write(&path, &data) {
                Ok(()) => Ok(RetCode::TRUE),
                Err(e) => {
                    c.log_error(&format!("cannot open file: {path} ({e})"));
                    Ok(RetCode::FALSE)
                }
            }
        }),
        xflag("setxflag", XOp::Set, "set an extended flag (0..63)"),
        xflag("resetxflag", XOp::Reset, "reset an extended flag (0..63)"),
        xflag(
            "isxflagset",
            XOp::Test,
            "true when the extended flag (0..63) is set",
        ),
        FnExport::new(
            "set_send_socket",
            &[K::Spve],
            any,
            "force the sending socket (proto:ip:port) for the message",
        )
        .with(|c, a| {
            let t = arg(c, a, 0)?;
            Ok(RetCode(socket_op(c, &t, SockOp::Send)))
        }),
        FnExport::new(
            "set_send_socket_name",
            &[K::Spve],
            any,
            "force the sending socket by its listen name",
        )
        .with(|c, a| {
            let t = arg(c, a, 0)?;
            Ok(RetCode(socket_op(c, &t, SockOp::SendName)))
        }),
        FnExport::new(
            "set_recv_socket",
            &[K::Spve],
            any,
            "make the message look received on the socket proto:ip:port",
        )
        .with(|c, a| {
            let t = arg(c, a, 0)?;
            Ok(RetCode(socket_op(c, &t, SockOp::Recv)))
        }),
        FnExport::new(
            "set_recv_socket_name",
            &[K::Spve],
            any,
            "make the message look received on the socket with this name",
        )
        .with(|c, a| {
            let t = arg(c, a, 0)?;
            Ok(RetCode(socket_op(c, &t, SockOp::RecvName)))
        }),
        refused(
            "set_source_address",
            &[K::Spve],
            any,
            "force the source address: refused (no raw-socket sending)",
        ),
        refused(
            "via_add_srvid",
            &[K::IntOrVar],
            any,
            "add srvid to our Via: refused (Via builder does not read it yet)",
        ),
        refused(
            "via_add_xavp_params",
            &[K::IntOrVar],
            any,
            "add XAVP params to our Via: refused (Via builder does not read it yet)",
        ),
        refused(
            "via_use_xavp_fields",
            &[K::IntOrVar],
            any,
            "take Via fields from XAVP: refused (Via builder does not read it yet)",
        ),
        refused(
            "via_reply_add_xavp_params",
            &[K::IntOrVar],
            any,
            "add XAVP params to reply Via: refused (Via builder does not read it yet)",
        ),
        FnExport::new(
            "is_faked_msg",
            &[],
            any,
            "true for a faked message (ferrosip runs scripts on real messages only)",
        )
        .with(|_, _| Ok(RetCode::FALSE)),
        FnExport::new(
            "is_socket_name",
            &[K::Spve],
            any,
            "true when a listening socket has this name",
        )
        .with(|c, a| {
            let t = arg(c, a, 0)?;
            let found = c
                .server
                .sockets()
                .iter()
                .any(|k| k.name.as_deref().map(str::as_bytes) == Some(&t[..]));
            Ok(RetCode::from_bool(found))
        }),
    ];
    let off = |name: &'static str, ty: ModParamType, doc: &'static str| ModParam {
        implemented: false,
        ..ModParam::new(name, ty, doc)
    };
    m.params = vec![
        off(
            "alias_subdomains",
            ModParamType::Str,
            "domains whose subdomains are local: refused (no alias list in the module API)",
        ),
        off(
            "dns_cache",
            ModParamType::Str,
            "static DNS cache records: refused (no DNS cache)",
        ),
        off(
            "dns_file",
            ModParamType::Str,
            "file of DNS cache records: refused (no DNS cache)",
        ),
        off(
            "nio_intercept",
            ModParamType::Int,
            "network-IO interception: refused (nio not implemented)",
        ),
        off(
            "nio_min_msg_len",
            ModParamType::Int,
            "nio minimum message length: refused",
        ),
        off("nio_msg_avp", ModParamType::Str, "nio message AVP: refused"),
        off(
            "evcb_reply_out",
            ModParamType::Str,
            "KEMI callback for outgoing replies: refused (no KEMI)",
        ),
    ];
    m.pvs = vec![
        refused_pv(
            "cfg",
            "config position (line, name, file, route): refused (not passed to variables yet)",
        ),
        refused_pv(
            "lsock",
            "listening socket attributes: refused (no socket list)",
        ),
        refused_pv("atkv", "async task key/value: refused (no async tasks)"),
    ];
    m
}

/// `append_branch([uri[, q]])`. Without a URI the R-URI (new or original) moves into the branch
/// with `$du`, its q (unless one is given), the main branch flags and the forced socket, which are
/// then reset. 1 on success;
/// -1 for a bad q or when the branch table is full.
pub fn append_branch(ctx: &mut Ctx<'_>, uri: Option<&[u8]>, q: Option<&[u8]>) -> i64 {
    let q = match q.filter(|q| !q.is_empty()) {
        Some(t) => match parse_q(t) {
            Some(q) => q,
            None => {
                ctx.log_error("cannot parse the Q parameter");
                return -1;
            }
        },
        None => -1,
    };
    let max = usize::try_from(ctx.server.core_params().max_branches).unwrap_or(MAX_BRANCHES);
    if ctx.state.branches.len() + 1 >= max {
        ctx.log_error("max nr of branches exceeded");
        return -1;
    }
    let given = uri.filter(|u| !u.is_empty());
    // The R-URI moved into the branch keeps its q (Kamailio's get_ruri_q) unless one is given.
    let q = match (given, q) {
        (None, -1) => ctx.state.ruri_q.unwrap_or(-1),
        _ => q,
    };
    let b = Branch {
        uri: given.map(<[u8]>::to_vec).unwrap_or_else(|| ctx.ruri()),
        dst_uri: ctx.state.dst_uri.clone().unwrap_or_default(),
        path: Vec::new(),
        q,
        flags: ctx.state.bflags,
        socket: ctx.state.force_socket,
        instance: Vec::new(),
        ruid: Vec::new(),
    };
    if b.uri.is_empty() {
        return -1;
    }
    ctx.state.branches.push(b);
    if given.is_none() {
        ctx.state.force_socket = None;
        ctx.state.bflags = 0;
        ctx.state.dst_uri = None;
    }
    1
}

/// Kamailio's `str2q`: `0`, `1`, `0.x` … `1.000` (up to three decimals) → q×1000.
pub fn parse_q(t: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(t).ok()?.trim();
    let (int, frac) = match s.split_once('.') {
        Some((i, f)) => (i, f),
        None => (s, ""),
    };
    if int.is_empty()
        || frac.len() > 3
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let i: i32 = int.parse().ok()?;
    let f: i32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<3}").parse().ok()?
    };
    let q = i.checked_mul(1000)?.checked_add(f)?;
    (q <= 1000).then_some(q)
}

/// `send_udp`/`send_tcp`: sends the message as received to `hostport` (`host[:port]`, IPv6 in
/// brackets; port 5060 by default), or to `$du`, or to the R-URI. 1, -1 on failure, -5
/// (Kamailio's `E_BUG`) when the next hop does not parse or resolve.
pub fn send_msg(ctx: &mut Ctx<'_>, hostport: Option<&[u8]>, proto: Proto) -> i64 {
    let addr = match hostport.filter(|h| !h.is_empty()) {
        Some(hp) => {
            let (host, port) = split_hostport(hp);
            crate::siputils::strs::host_ip(host).map(|ip| SocketAddr::new(ip, port))
        }
        None => {
            let target = ctx
                .state
                .dst_uri
                .clone()
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| ctx.ruri());
            uri_addr(&target).map(|(a, _)| a)
        }
    };
    let Some(addr) = addr else {
        ctx.log_error("failed to resolve the destination (IP addresses only: modules cannot reach a resolver yet)");
        return -5;
    };
    let bytes = ctx.msg.buf().to_vec();
    transmit(ctx, addr, proto, &bytes)
}

/// `send_data(uri, data)`: sends `data` to the URI's address over its transport (UDP when none).
pub fn send_data(ctx: &mut Ctx<'_>, uri: &[u8], data: &[u8]) -> i64 {
    send_data_from(ctx, uri, data, None)
}

/// What a socket function does with the socket it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SockOp {
    Send,
    SendName,
    Recv,
    RecvName,
}

/// `set_send_socket[_name]`, `set_recv_socket[_name]` (Kamailio 5.6.3 and 6.0 alike): -1 for an
/// empty or unparsable value; an unknown socket is logged (warning) and changes nothing, yet
/// returns 1. Receiving: `$Ri`, `$Rp`, `$Rn`, `$pr` and the socket replies leave from follow the
/// new socket.
fn socket_op(ctx: &mut Ctx<'_>, text: &[u8], op: SockOp) -> i64 {
    if text.is_empty() {
        ctx.log_error("cannot get socket address value");
        return -1;
    }
    let id = match op {
        SockOp::Send | SockOp::Recv => match parse_socket(text) {
            Some(spec) => lookup_socket(ctx, &spec),
            None => {
                ctx.log_error(&format!(
                    "invalid socket specification [{}]",
                    String::from_utf8_lossy(text)
                ));
                return -1;
            }
        },
        SockOp::SendName | SockOp::RecvName => ctx
            .server
            .sockets()
            .iter()
            .position(|k| k.name.as_deref().map(str::as_bytes) == Some(text))
            .and_then(|i| u32::try_from(i).ok()),
    };
    let Some(id) = id else {
        ctx.log(
            ferrosip_api::L_WARN,
            &format!(
                "no socket found to match [{}]",
                String::from_utf8_lossy(text)
            ),
        );
        return 1;
    };
    match op {
        SockOp::Send | SockOp::SendName => ctx.state.force_socket = Some(id),
        SockOp::Recv | SockOp::RecvName => {
            let Some(k) = ctx.server.sockets().get(id as usize) else {
                return -1;
            };
            let (addr, proto) = (k.addr, k.proto);
            ctx.rcv.socket = id;
            ctx.rcv.dst = addr;
            ctx.rcv.proto = proto;
        }
    }
    1
}

/// Kamailio's socket string `[proto:]host[:port]` split (IPv6 in brackets when a port follows).
struct SockSpec {
    proto: Option<Proto>,
    host: String,
    port: Option<u16>,
}

/// The index of the listening socket matching a socket string (host = bound IP or advertised
/// name); `None` when it does not parse or no socket matches.
fn find_socket(ctx: &Ctx<'_>, text: &[u8]) -> Option<u32> {
    lookup_socket(ctx, &parse_socket(text)?)
}

fn parse_socket(text: &[u8]) -> Option<SockSpec> {
    let s = std::str::from_utf8(text).ok()?.trim();
    let (proto, rest) = match s.split_once(':') {
        Some((p, r)) => match Proto::from_name(p.as_bytes()) {
            Some(p) => (Some(p), r),
            None => (None, s),
        },
        None => (None, s),
    };
    let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
        let (h, after) = inner.split_once(']')?;
        match after {
            "" => (h, None),
            p => (h, Some(p.strip_prefix(':')?.parse::<u16>().ok()?)),
        }
    } else if rest.matches(':').count() == 1 {
        let (h, p) = rest.split_once(':')?;
        (h, Some(p.parse::<u16>().ok()?))
    } else {
        (rest, None)
    };
    if host.is_empty() {
        return None;
    }
    Some(SockSpec {
        proto,
        host: host.to_string(),
        port,
    })
}

fn lookup_socket(ctx: &Ctx<'_>, spec: &SockSpec) -> Option<u32> {
    let SockSpec { proto, host, port } = spec;
    let (proto, port) = (*proto, *port);
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    let i = ctx.server.sockets().iter().position(|k| {
        proto.is_none_or(|p| p == k.proto)
            && port.is_none_or(|p| p == k.addr.port())
            && match ip {
                Some(ip) => k.addr.ip() == ip,
                None => k.advertise.as_ref().is_some_and(|(h, _)| h == host),
            }
    })?;
    u32::try_from(i).ok()
}

/// `send_data`/`sendx`: `data` to the URI's address, from socket `from` (else the forced or
/// receiving one).
fn send_data_from(ctx: &mut Ctx<'_>, uri: &[u8], data: &[u8], from: Option<u32>) -> i64 {
    let Some((addr, proto)) = uri_addr(uri) else {
        ctx.log_error(&format!(
            "bad dst sip uri or unresolvable host <{}> (IP addresses only)",
            String::from_utf8_lossy(uri)
        ));
        return -1;
    };
    let proto = proto.unwrap_or(Proto::Udp);
    match from {
        Some(socket) => {
            let dst = Dest {
                addr,
                proto,
                socket,
            };
            match ctx.server.send(&dst, data) {
                Ok(()) => 1,
                Err(e) => {
                    ctx.log_error(&format!("failed to send: {e}"));
                    -1
                }
            }
        }
        None => transmit(ctx, addr, proto, data),
    }
}

// ---- internals ----

/// `host[:port]` (Kamailio's corex_send parsing: a `:` after the `]` of an IPv6 reference, else
/// the first `:`); port 5060 when absent, 0 when not a number (as `str2s`).
fn split_hostport(hp: &[u8]) -> (&[u8], u16) {
    let from = hp.iter().position(|b| *b == b']').map_or(0, |p| p + 1);
    match hp
        .get(from..)
        .and_then(|r| r.iter().position(|b| *b == b':'))
        .map(|p| p + from)
    {
        Some(c) => {
            let port = std::str::from_utf8(hp.get(c + 1..).unwrap_or_default())
                .ok()
                .and_then(|p| p.parse().ok())
                .unwrap_or(0);
            (hp.get(..c).unwrap_or_default(), port)
        }
        None => (hp, 5060),
    }
}

/// The address of a URI with an IP host (port 5060, 5061 for sips:) and its transport parameter.
fn uri_addr(uri: &[u8]) -> Option<(SocketAddr, Option<Proto>)> {
    let u = uriops::parse(uri)?;
    let ip = crate::siputils::strs::host_ip(u.host.of(uri))?;
    let default_port = if u.scheme == ferrosip_sipmsg::Scheme::Sips {
        5061
    } else {
        5060
    };
    let proto = u
        .transport
        .and_then(|t| t.value)
        .and_then(|t| Proto::from_name(t.of(uri)));
    Some((SocketAddr::new(ip, u.port.unwrap_or(default_port)), proto))
}

fn transmit(ctx: &mut Ctx<'_>, addr: SocketAddr, proto: Proto, bytes: &[u8]) -> i64 {
    let dst = Dest {
        addr,
        proto,
        socket: ctx.state.force_socket.unwrap_or(ctx.rcv.socket),
    };
    match ctx.server.send(&dst, bytes) {
        Ok(()) => 1,
        Err(e) => {
            ctx.log_error(&format!("failed to send: {e}"));
            -1
        }
    }
}

/// The extended flags live in a hidden per-message XAVP (the module API has no field for them;
/// no config can spell a name starting with NUL).
const XFLAGS: &[u8] = b"\0xflags";

#[derive(Debug, Clone, Copy)]
enum XOp {
    Set,
    Reset,
    Test,
}

fn xflags(ctx: &Ctx<'_>) -> u64 {
    ctx.state
        .xavps
        .get(XFLAGS)
        .and_then(|l| l.first())
        .and_then(|r| r.first())
        .map(|(_, v)| v.to_int() as u64)
        .unwrap_or(0)
}

fn set_xflags(ctx: &mut Ctx<'_>, v: u64) {
    ctx.state.xavps.insert(
        XFLAGS.to_vec(),
        vec![vec![(b"v".to_vec(), Value::Int(v as i64))]],
    );
}

fn xflag(name: &'static str, op: XOp, doc: &'static str) -> FnExport {
    FnExport::new(name, &[K::IntOrVar], RouteMask::ANY, doc).with(move |c, a| {
        let f = a
            .first()
            .ok_or_else(|| Error::Runtime("missing parameter".into()))?
            .int(c)?;
        let Some(bit) = u32::try_from(f).ok().filter(|b| *b < 64) else {
            return Ok(RetCode::FALSE);
        };
        let cur = xflags(c);
        let mask = 1u64 << bit;
        match op {
            XOp::Set => set_xflags(c, cur | mask),
            XOp::Reset => set_xflags(c, cur & !mask),
            XOp::Test => return Ok(RetCode::from_bool(cur & mask != 0)),
        }
        Ok(RetCode::TRUE)
    })
}

fn arg(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Result<Vec<u8>, Error> {
    Ok(a.get(i)
        .ok_or_else(|| Error::Runtime("missing parameter".into()))?
        .bytes(ctx))
}

fn writable_second(a: &mut [Arg]) -> Result<(), String> {
    match a.get(1) {
        Some(Arg::Var(p)) if p.is_writable() => Ok(()),
        _ => Err("the second parameter must be a writable variable".into()),
    }
}

fn refused(name: &'static str, params: &[K], routes: RouteMask, doc: &'static str) -> FnExport {
    FnExport::new(name, params, routes, doc)
}

fn refused_pv(name: &'static str, doc: &'static str) -> PvExport {
    let msg = format!("${name} is not implemented yet: {doc}");
    PvExport {
        name,
        doc,
        inner: ferrosip_api::PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(move |_, _| Err(msg.clone()))),
        get: Arc::new(|_, _| Ok(Value::Null)),
        set: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        let cases: &[(&str, Option<i32>)] = &[
            ("1", Some(1000)),
            ("0", Some(0)),
            ("0.5", Some(500)),
            ("0.05", Some(50)),
            ("1.000", Some(1000)),
            ("1.5", None),
            ("0.1234", None),
            ("x", None),
            ("", None),
        ];
        for (t, want) in cases {
            assert_eq!(parse_q(t.as_bytes()), *want, "{t}");
        }
    }
}
