//! Kamailio's `corex` module: `append_branch` (all forms, with q), `send_udp`/`send_tcp`/
//! `send_data` through the [`ferrosip_api::Server`] (IP-literal destinations), `file_read`,
//! `file_write`, extended flags (`setxflag`, `resetxflag`, `isxflagset`, 0..63) and
//! `is_faked_msg`.
//!
//! Refused at load (see docs/modules-2.md): the socket functions (`set_send_socket[_name]`,
//! `set_recv_socket[_name]`, `set_source_address`, `is_socket_name`, `sendx`) and `$lsock` — the
//! module API has no view of the server's listening sockets yet; `via_add_srvid`,
//! `via_add_xavp_params`, `via_use_xavp_fields`, `via_reply_add_xavp_params` — the server's Via
//! builder does not read those per-message switches yet; `forward_uac`, `forward_uac_uri`,
//! `forward_reply` — need the forwarding path; `msg_iflag_set`/`reset`/`is_set` — the internal
//! flags are read by subsystems (uac, tm) that do not exist yet; `is_incoming` and the `nio_*`
//! modparams — no network-IO interception; `$cfg` — the runtime does not pass the config position
//! to variables; `$atkv` — no async tasks; modparams `alias_subdomains`, `dns_cache`, `dns_file`
//! (no DNS cache / aliases in the module API), `evcb_reply_out` (no event callbacks). corex's RPC
//! commands (`corex.list_sockets` …) are not exported (same reason as the socket functions).
//!
//! Sending: the message is sent as received (Kamailio's `send_udp` sends `msg->buf`, without
//! edits). The destination is the parameter, else `$du`, else the R-URI; its host must be an IP
//! address (no resolver is reachable from modules yet: a host name fails with -1 and a log line).

use std::net::SocketAddr;
use std::sync::Arc;

use ferrosip_api::ctx::Branch;
use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K, PvExport};
use ferrosip_api::{Ctx, Dest, Error, ModuleExports, Proto, RetCode, RouteMask, Value};

use crate::pv::uriops;

/// Kamailio's default `max_branches` is 12, the R-URI included.
pub const MAX_BRANCHES: usize = 12;

/// The `corex` export table.
pub fn exports() -> ModuleExports {
    let any = RouteMask::ANY;
    let rf = RouteMask::REQUEST.or(RouteMask::FAILURE);
    let mut m = ModuleExports::new("corex");
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
        refused(
            "forward_reply",
            &[],
            RouteMask::CORE_ONREPLY,
            "forward a reply: refused (no forwarding path)",
        ),
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
        .with(|c, _| Ok(RetCode(send(c, None, Proto::Udp, None)))),
        FnExport::new(
            "send_udp",
            &[K::Spve],
            rf,
            "send the received message over UDP to the URI",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(send(c, Some(&u), Proto::Udp, None)))
        }),
        FnExport::new(
            "send_tcp",
            &[],
            rf,
            "send the received message over TCP to $du or the R-URI",
        )
        .with(|c, _| Ok(RetCode(send(c, None, Proto::Tcp, None)))),
        FnExport::new(
            "send_tcp",
            &[K::Spve],
            rf,
            "send the received message over TCP to the URI",
        )
        .with(|c, a| {
            let u = arg(c, a, 0)?;
            Ok(RetCode(send(c, Some(&u), Proto::Tcp, None)))
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
            Ok(RetCode(send(c, Some(&u), Proto::Udp, Some(&d))))
        }),
        refused(
            "sendx",
            &[K::Spve, K::Spve, K::Spve],
            any,
            "send data from a given local socket: refused (no socket list in the module API)",
        ),
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
            "set an internal message flag: refused (read by uac/tm, not implemented)",
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
        refused(
            "set_send_socket",
            &[K::Spve],
            any,
            "force the sending socket: refused (no socket list in the module API)",
        ),
        refused(
            "set_send_socket_name",
            &[K::Spve],
            any,
            "force the sending socket by name: refused (no socket list)",
        ),
        refused(
            "set_recv_socket",
            &[K::Spve],
            any,
            "change the receiving socket: refused (no socket list)",
        ),
        refused(
            "set_recv_socket_name",
            &[K::Spve],
            any,
            "change the receiving socket by name: refused (no socket list)",
        ),
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
        refused(
            "is_socket_name",
            &[K::Spve],
            any,
            "true for a listening socket name: refused (no socket list)",
        ),
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
/// with `$du`, the main branch flags and the forced socket, which are then reset. 1 on success;
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
    if ctx.state.branches.len() + 1 >= MAX_BRANCHES {
        ctx.log_error("max nr of branches exceeded");
        return -1;
    }
    let given = uri.filter(|u| !u.is_empty());
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

/// `send_udp`/`send_tcp`/`send_data`: sends `data` (or the message as received) to `uri` (or
/// `$du`, or the R-URI). The URI's `transport` overrides `proto` for `send_data` only.
pub fn send(ctx: &mut Ctx<'_>, uri: Option<&[u8]>, proto: Proto, data: Option<&[u8]>) -> i64 {
    let target = match uri.filter(|u| !u.is_empty()) {
        Some(u) => u.to_vec(),
        None => ctx
            .state
            .dst_uri
            .clone()
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| ctx.ruri()),
    };
    let Some(u) = uriops::parse(&target) else {
        ctx.log_error(&format!(
            "failed to parse uri [{}]",
            String::from_utf8_lossy(&target)
        ));
        return -1;
    };
    let host = u.host.of(&target);
    let Some(ip) = crate::siputils::strs::host_ip(host) else {
        ctx.log_error(&format!(
            "cannot send to [{}]: host names need a resolver, which modules cannot reach yet",
            String::from_utf8_lossy(host)
        ));
        return -1;
    };
    let proto = match (data, u.transport.and_then(|t| t.value)) {
        (Some(_), Some(t)) => Proto::from_name(t.of(&target)).unwrap_or(proto),
        _ => proto,
    };
    let default_port = if u.scheme == ferrosip_sipmsg::Scheme::Sips {
        5061
    } else {
        5060
    };
    let dst = Dest {
        addr: SocketAddr::new(ip, u.port.unwrap_or(default_port)),
        proto,
        socket: ctx.state.force_socket.unwrap_or(ctx.rcv.socket),
    };
    let bytes = match data {
        Some(d) => d.to_vec(),
        None => ctx.msg.buf().to_vec(),
    };
    match ctx.server.send(&dst, &bytes) {
        Ok(()) => 1,
        Err(e) => {
            ctx.log_error(&format!("failed to send: {e}"));
            -1
        }
    }
}

// ---- internals ----

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
