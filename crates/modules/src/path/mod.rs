//! Kamailio's `path` module (RFC 3327): `add_path([user[, params]])` and
//! `add_path_received([user[, params]])` append a `Path` header naming this server, and with
//! `use_received=1` a request routed by a Route that carries `;received=` is sent there.
//!
//! The header is `Path: <sip:[user@]ADDR;lr[;received=SRC][;params]>` appended after the last
//! header. `ADDR` is the sending socket (`address[:port][;transport=…]`, `;sn=name` after it
//! with `sockname_mode=1`), written when the outgoing buffer is built (an edit substitution, as
//! Kamailio's lumps), so it names the socket the request actually leaves from. `SRC` is
//! `sip:IP:PORT` of the request's source, with `;transport=PROTO` escaped as
//! `%3Btransport%3DPROTO` for anything but UDP. Checked byte for byte against Kamailio 5.6.3
//! (tests/path_wire.rs).
//!
//! `use_received` needs rr loaded before path (its `RrApi`): after `loose_route()` routed a
//! request, the `received` parameter of the Route that named this server — quotes removed,
//! `%XX` escapes decoded — becomes `$du`. Without the `outbound` module (ferrosip has none) there
//! are no flow tokens and no `;ob`, as in Kamailio without it.

use std::sync::Arc;

use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, Proto, RetCode, RouteMask};
use ferrosip_sipmsg::edit::{At, Subst};
use ferrosip_sipmsg::uri::{unescape, UriParamIter};
use ferrosip_sipmsg::Span;

use crate::rr::RrApi;

/// The `path` export table.
pub fn exports() -> ModuleExports {
    let mut m = ModuleExports::new("path");
    let sockname = Arc::new(std::sync::OnceLock::<bool>::new());
    let add = |name: &'static str, arity: usize, received: bool, doc: &'static str| {
        let sn = Arc::clone(&sockname);
        let params = [K::Spve, K::Spve];
        FnExport::new(name, &params[..arity], RouteMask::REQUEST, doc).with(move |ctx, a| {
            let user = text_arg(ctx, a, 0)?;
            let extra = text_arg(ctx, a, 1)?;
            let sn = *sn.get().unwrap_or(&false);
            Ok(RetCode(add_path(ctx, &user, &extra, received, sn)))
        })
    };
    m.functions = vec![
        add(
            "add_path",
            0,
            false,
            "append Path: <sip:ADDR;lr> naming the sending socket",
        ),
        add(
            "add_path",
            1,
            false,
            "append Path: <sip:user@ADDR;lr> naming the sending socket",
        ),
        add(
            "add_path",
            2,
            false,
            "append Path: <sip:user@ADDR;lr;params> naming the sending socket",
        ),
        add(
            "add_path_received",
            0,
            true,
            "append Path: <sip:ADDR;lr;received=SRC> with the request's source",
        ),
        add(
            "add_path_received",
            1,
            true,
            "append Path: <sip:user@ADDR;lr;received=SRC> with the request's source",
        ),
        add(
            "add_path_received",
            2,
            true,
            "append Path: <sip:user@ADDR;lr;received=SRC;params> with the request's source",
        ),
    ];
    let flag = |name: &'static str, doc: &'static str| {
        ModParam::new(name, ModParamType::Int, doc).check(|v| match v {
            ModValue::Int(_) => Ok(()),
            _ => Err("must be an integer".into()),
        })
    };
    m.params = vec![
        flag(
            "use_received",
            "1: after loose_route(), the received parameter of our Route becomes $du (needs rr)",
        ),
        flag(
            "sockname_mode",
            "1: ;sn=<socket name> after the address in the Path URI",
        ),
    ];
    let sn = Arc::clone(&sockname);
    m.init = Some(Arc::new(move |ictx| {
        let on = |n: &str| matches!(ictx.modparam(n), Some(ModValue::Int(i)) if *i != 0);
        let _ = sn.set(on("sockname_mode"));
        if on("use_received") {
            let rr = ictx.api::<RrApi>().ok_or_else(|| {
                Error::Init("path: use_received needs the rr module, loaded before path".into())
            })?;
            rr.register(Arc::new(received_to_dst_uri));
        }
        Ok(())
    }));
    m
}

fn text_arg(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Result<Vec<u8>, Error> {
    Ok(a.get(i).map(|x| x.bytes(ctx)).unwrap_or_default())
}

/// Appends the Path header; 1 on success, -1 when the message has no header to anchor it to.
pub fn add_path(
    ctx: &mut Ctx<'_>,
    user: &[u8],
    extra: &[u8],
    received: bool,
    sockname: bool,
) -> i64 {
    let Ok(eoh) = ctx.msg.headers_end() else {
        ctx.log_error("path: failed to parse message");
        return -1;
    };
    let mut head = b"Path: <sip:".to_vec();
    if !user.is_empty() {
        head.extend_from_slice(user);
        head.push(b'@');
    }
    let mut tail = b";lr".to_vec();
    if received {
        tail.extend_from_slice(b";received=");
        tail.extend_from_slice(&received_uri(ctx));
    }
    if !extra.is_empty() {
        tail.push(b';');
        tail.extend_from_slice(extra);
    }
    tail.extend_from_slice(b">\r\n");
    let subst = if sockname {
        Subst::SndAllEx
    } else {
        Subst::SndAll
    };
    let e = &mut ctx.edits;
    let done = e
        .anchor(eoh)
        .and_then(|a| e.insert(At::After(a), &head))
        .and_then(|p| e.insert_subst(At::Next(p), subst))
        .and_then(|p| e.insert(At::Next(p), &tail));
    match done {
        Ok(_) => 1,
        Err(err) => {
            ctx.log_error(&format!("path: failed to insert the Path header: {err}"));
            -1
        }
    }
}

/// `sip:IP:PORT` of the source (IPv6 in brackets), `%3Btransport%3D<proto>` unless UDP — `$su`
/// with its `;transport=` written escaped, in upper-case hex as Kamailio's path module writes it
/// (pv's `{s.escape.param}` writes lower case).
fn received_uri(ctx: &Ctx<'_>) -> Vec<u8> {
    let src = ctx.rcv.src;
    let mut s = match src {
        std::net::SocketAddr::V4(a) => format!("sip:{}:{}", a.ip(), a.port()),
        std::net::SocketAddr::V6(a) => format!("sip:[{}]:{}", a.ip(), a.port()),
    };
    if ctx.rcv.proto != Proto::Udp {
        s.push_str("%3Btransport%3D");
        s.push_str(ctx.rcv.proto.name());
    }
    s.into_bytes()
}

/// The rr callback of `use_received`: `;received=` among the parameters of our Route (any case,
/// as Kamailio's parse_params) becomes the destination URI, quotes removed, `%XX` decoded.
fn received_to_dst_uri(ctx: &mut Ctx<'_>, params: &[u8]) {
    let Some(v) = UriParamIter::new(params, Span::new(0, params.len()))
        .find(|p| p.name.of(params).eq_ignore_ascii_case(b"received"))
        .and_then(|p| p.value)
        .map(|v| v.of(params))
    else {
        return;
    };
    let v = match v {
        [b'"', inner @ .., b'"'] => inner,
        v => v,
    };
    if !v.is_empty() {
        ctx.state.dst_uri = Some(unescape(v).into_owned());
    }
}
