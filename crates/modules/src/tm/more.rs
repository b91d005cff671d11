//! More tm script functions: `t_reply_error()`, `t_send_reply()`, `t_clean()`,
//! `t_use_uac_headers()`, `t_set_no_e2e_cancel_reason()` (and its alias
//! `t_disable_e2e_cancel_reason()`), and the forms whose destination is a protocol and a
//! `host:port` given as text or AVP: `t_replicate_to()`, `t_relay_to_avp()`,
//! `t_forward_nonack_to()`.

use std::sync::Arc;

use ferrosip_api::export::Arg;
use ferrosip_api::{Ctx, Error, FnExport, ParamKind as K, Proto, RetCode, RouteMask, Value};
use ferrosip_sipmsg::Method;

use super::*;

const REQ_FAIL: RouteMask = RouteMask(RouteMask::REQUEST.0 | RouteMask::FAILURE.0);
const REQ_FAIL_BR: RouteMask = RouteMask(REQ_FAIL.0 | RouteMask::BRANCH.0);

/// Kamailio's `TM_LIFETIME_LIMIT`: `t_clean()` frees transactions this long past their end of
/// life (ms).
const LIFETIME_LIMIT_MS: u64 = 90_000;

type H = fn(&Tm, &mut Ctx<'_>, &[Arg]) -> Result<RetCode, Error>;

pub(super) fn functions(tm: &Arc<Tm>) -> Vec<FnExport> {
    let f = |name: &'static str, params: &[K], mask: RouteMask, doc: &'static str, h: H| {
        let t = tm.clone();
        FnExport::new(name, params, mask, doc).with(move |ctx, a| h(&t, ctx, a))
    };
    let mut v = vec![
        f(
            "t_reply_error",
            &[],
            REQ_FAIL.or(RouteMask::ONREPLY),
            "reply statefully with the core's last error (as sl_reply_error, tagged TM)",
            t_reply_error,
        ),
        f(
            "t_send_reply",
            &[K::IntOrVar, K::Spve],
            REQ_FAIL.or(RouteMask::ONREPLY),
            "create the transaction if needed (t_newtran) and reply statefully (t_reply)",
            t_send_reply,
        ),
        f(
            "t_clean",
            &[],
            RouteMask::ANY,
            "free transactions more than 90 s past their lifetime (logged as a hard cleanup)",
            t_clean,
        ),
        f(
            "t_use_uac_headers",
            &[],
            RouteMask::ANY,
            "build ACK/CANCEL headers from the forwarded INVITE (what ferrosip always does): returns 1",
            |_, _, _| Ok(RetCode::TRUE),
        ),
    ];
    for name in ["t_set_no_e2e_cancel_reason", "t_disable_e2e_cancel_reason"] {
        v.push(f(
            name,
            &[K::IntOrVar],
            REQ_FAIL_BR.or(RouteMask::TM_ONREPLY),
            "1: the Reason of a received CANCEL is not copied into the CANCELs tm sends (0: it is)",
            |_, ctx, a| {
                let on = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0) != 0;
                match cur_cell(ctx) {
                    Some(c) => c.lock().no_e2e_reason = on,
                    None => cur(ctx, |c| c.no_e2e_reason = Some(on)),
                }
                Ok(RetCode::TRUE)
            },
        ));
    }
    let addr = |name: &'static str, doc: &'static str, h: H| {
        let t = tm.clone();
        FnExport::new(name, &[K::Str, K::Str], RouteMask::REQUEST, doc)
            .fixup(proto_addr_fixup)
            .with(move |ctx, a| h(&t, ctx, a))
    };
    v.push(addr(
        "t_replicate_to",
        "t_replicate to a protocol and host:port (text or $avp names)",
        |tm, ctx, a| match proto_addr(ctx, a) {
            Some(target) => relay_or_replicate(tm, ctx, &target, true),
            None => Ok(RetCode(-1)),
        },
    ));
    v.push(addr(
        "t_relay_to_avp",
        "t_relay to a protocol and host:port (text or $avp names)",
        |tm, ctx, a| match proto_addr(ctx, a) {
            Some(target) => t_relay(tm, ctx, &target),
            None => Ok(RetCode(-1)),
        },
    ));
    v.push(addr(
        "t_forward_nonack_to",
        "t_forward_nonack to a protocol and host:port (text or $avp names)",
        |tm, ctx, a| match proto_addr(ctx, a) {
            Some(target) => super::relay_to::forward_nonack(tm, ctx, target),
            None => Ok(RetCode(-1)),
        },
    ));
    v
}

/// `t_reply_error()`: Kamailio's `err2reason_phrase` of the last core error, tagged `TM`, sent
/// with `t_reply`.
fn t_reply_error(tm: &Tm, ctx: &mut Ctx<'_>, _a: &[Arg]) -> Result<RetCode, Error> {
    if ctx.msg.method() == Some(Method::Ack) {
        return Ok(RetCode(-1));
    }
    let (code, reason) = crate::sl::err2reason(ctx.state.ser_error, "TM");
    let args = [Arg::Int(i64::from(code)), Arg::Str(reason.into_bytes())];
    funcs::t_reply(tm, ctx, &args)
}

/// `t_send_reply(code, reason)`: `t_newtran()` when the request has no transaction yet (a
/// retransmission is noted and the reply attempted anyway, as Kamailio), then `t_reply()`.
fn t_send_reply(tm: &Tm, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    if ctx.msg.method() == Some(Method::Ack) {
        return Ok(RetCode(-1));
    }
    if cur_cell(ctx).is_none() && ctx.msg.is_request() {
        if let NewTxn::Retransmission = new_txn(tm, ctx)? {
            ctx.log(
                ferrosip_api::L_NOTICE,
                "t_send_reply: transaction already in process",
            );
        }
    }
    funcs::t_reply(tm, ctx, a)
}

/// `t_clean()`: frees every transaction more than [`LIFETIME_LIMIT_MS`] past its end of life
/// (Kamailio's `tm_clean_lifetime`), with a warning per transaction; returns 1.
fn t_clean(tm: &Tm, ctx: &mut Ctx<'_>, _a: &[Arg]) -> Result<RetCode, Error> {
    let now = tm.now();
    for cell in tm.table.cells() {
        let mut t = cell.lock();
        if t.p.end_of_life().0.saturating_add(LIFETIME_LIMIT_MS) >= now.0 {
            continue;
        }
        let method = t
            .req
            .request_line()
            .map(|rl| String::from_utf8_lossy(rl.method_span.of(t.req.buf())).into_owned())
            .unwrap_or_default();
        tm.table.evict(&cell, &mut t);
        drop(t);
        tm.stats.freed.fetch_add(1, Ordering::Relaxed);
        ctx.log(
            ferrosip_api::L_WARN,
            &format!(
                "[hard cleanup] tindex={} tlabel={} method='{method}'",
                cell.hash, cell.label
            ),
        );
    }
    Ok(RetCode::TRUE)
}

/// One parameter of `t_replicate_to`/`t_relay_to_avp`/`t_forward_nonack_to`: text, or an AVP
/// named with Kamailio's old `$name` syntax (`fix_param(FPARAM_AVP)`).
#[derive(Debug, Clone)]
enum ProtoAddrArg {
    Text(Vec<u8>),
    Avp(Vec<u8>),
}

/// Load time: a parameter that starts with `$` names an AVP (`$name`, `$s:name`; `$i:n` reads
/// the AVP with that number as its name), anything else is text.
fn proto_addr_fixup(args: &mut [Arg]) -> Result<(), String> {
    for a in args.iter_mut() {
        let Arg::Str(s) = a else { continue };
        let text = s.trim_ascii();
        let p = match text.strip_prefix(b"$") {
            Some(name) if !name.is_empty() => {
                let name = match name {
                    [b's' | b'S' | b'i' | b'I', b':', rest @ ..] if !rest.is_empty() => rest,
                    _ => name,
                };
                ProtoAddrArg::Avp(name.to_vec())
            }
            _ => ProtoAddrArg::Text(text.to_vec()),
        };
        *a = Arg::Custom(Arc::new(p));
    }
    Ok(())
}

/// The newest value of AVP `name`.
fn avp_value(ctx: &Ctx<'_>, name: &[u8]) -> Option<Value> {
    ctx.state.avps.values(name).first().map(|v| v.value.clone())
}

/// Kamailio's `str2proto` (unknown: none, the URI decides).
fn str2proto(ctx: &mut Ctx<'_>, s: &[u8]) -> Option<Proto> {
    Some(match s.to_ascii_lowercase().as_slice() {
        b"udp" => Proto::Udp,
        b"tcp" => Proto::Tcp,
        b"tls" => Proto::Tls,
        b"sctp" => Proto::Sctp,
        b"ws" => Proto::Ws,
        b"wss" => {
            ctx.log(ferrosip_api::L_WARN, "\"wss\" used somewhere...");
            Proto::Ws
        }
        _ => return None,
    })
}

/// Kamailio's protocol numbers (an integer AVP).
fn num2proto(n: i64) -> Option<Proto> {
    Some(match n {
        1 => Proto::Udp,
        2 => Proto::Tcp,
        3 => Proto::Tls,
        4 => Proto::Sctp,
        5 => Proto::Ws,
        6 => Proto::Wss,
        _ => return None,
    })
}

/// Kamailio's `t_protoaddr2proxy`: the protocol (text, or an AVP holding a name or a number;
/// missing: none), `host[:port]` (text or a string AVP; port 5060 when absent). `None`, with
/// Kamailio's error line, when the address is unusable.
fn proto_addr(ctx: &mut Ctx<'_>, a: &[Arg]) -> Option<Target> {
    let arg = |i: usize| match a.get(i) {
        Some(Arg::Custom(c)) => c.downcast_ref::<ProtoAddrArg>().cloned(),
        _ => None,
    };
    let proto = match arg(0) {
        Some(ProtoAddrArg::Text(t)) => str2proto(ctx, &t),
        Some(ProtoAddrArg::Avp(n)) => match avp_value(ctx, &n) {
            Some(Value::Int(i)) => num2proto(i),
            Some(v) => str2proto(ctx, &v.to_bytes()),
            None => None,
        },
        None => None,
    };
    let hostport = match arg(1) {
        Some(ProtoAddrArg::Text(t)) => t,
        Some(ProtoAddrArg::Avp(n)) => match avp_value(ctx, &n) {
            Some(Value::Int(_)) => {
                ctx.log_error(&format!(
                    "avp <{}> value is not string",
                    String::from_utf8_lossy(&n)
                ));
                return None;
            }
            Some(v) => v.to_bytes().into_owned(),
            None => Vec::new(),
        },
        None => Vec::new(),
    };
    let (host, port) = match hostport.iter().position(|b| *b == b':') {
        Some(i) => {
            let (h, p) = hostport.split_at(i);
            let port = std::str::from_utf8(p.get(1..).unwrap_or_default())
                .ok()
                .and_then(|p| p.parse::<u16>().ok());
            let Some(port) = port else {
                ctx.log_error(&format!(
                    "bad port number <{}>",
                    String::from_utf8_lossy(&hostport)
                ));
                return None;
            };
            (h.to_vec(), port)
        }
        None => (hostport.clone(), 5060),
    };
    if host.is_empty() {
        ctx.log_error("host name is empty");
        return None;
    }
    Some(Target {
        host: Some((String::from_utf8_lossy(&host).into_owned(), port)),
        proto,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixup_tells_avps_from_text() {
        let mut a = vec![
            Arg::Str(b"$s:proto".to_vec()),
            Arg::Str(b" 127.0.0.1:5070 ".to_vec()),
        ];
        assert!(proto_addr_fixup(&mut a).is_ok());
        let got: Vec<String> = a
            .iter()
            .map(|x| match x {
                Arg::Custom(c) => format!("{:?}", c.downcast_ref::<ProtoAddrArg>()),
                _ => "other".into(),
            })
            .collect();
        assert_eq!(
            got,
            [
                "Some(Avp([112, 114, 111, 116, 111]))",
                "Some(Text([49, 50, 55, 46, 48, 46, 48, 46, 49, 58, 53, 48, 55, 48]))"
            ]
        );
    }

    #[test]
    fn protocol_numbers() {
        assert_eq!(num2proto(1), Some(Proto::Udp));
        assert_eq!(num2proto(2), Some(Proto::Tcp));
        assert_eq!(num2proto(9), None);
    }
}
