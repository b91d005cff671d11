//! The old sl-like stateless sender, kept only for registrar's `save` replies
//! (`crate::registrar::save` → [`send_with`]) until registrar takes sl's API.
//!
//! Every other module replies through [`crate::sl::SlReply`] (Kamailio's `sl_load_api`), which
//! counts the reply in sl's statistics, opens sl's ACK-absorption window, runs the reply-out hooks
//! and `event_route[sl:local-response]`, and answers statefully through tm when asked
//! (`send_reply`). This builder does none of that: registrar should hold an `SlReply` from
//! `SlReply::bind(ictx, "registrar")` and call its `send_reply(ctx, code, reason, hdrs)`, then this
//! file can go.

use std::net::SocketAddr;

use ferrosip_api::{Ctx, Dest, Proto};
use ferrosip_sipmsg::build::{self, ReplyOptions};
use ferrosip_sipmsg::edit::SocketInfo;
use ferrosip_sipmsg::{Method, Transport};

/// Sends `code reason` to the source of the request in `ctx` with the reply headers queued on
/// the message, then `more` header lines (each ending in CRLF) — registrar's
/// headers come after `append_to_reply`'s in Kamailio (lump order).
pub fn send_with(ctx: &mut Ctx<'_>, code: u16, reason: &[u8], more: &[u8]) -> Result<(), String> {
    if !ctx.msg.is_request() || ctx.msg.method() == Some(Method::Ack) {
        return Err(String::new());
    }
    let (mut hdrs, body) = crate::sl::reply_lumps::get(ctx);
    hdrs.extend_from_slice(more);
    let dst = dest(ctx)?;
    let proto = transport(ctx.rcv.proto);
    let sock = SocketInfo {
        ip: ctx.rcv.dst.ip(),
        port: ctx.rcv.dst.port(),
        proto,
        advertise: None,
        sockname: "",
    };
    let rcv = build::RecvInfo {
        src_ip: ctx.rcv.src.ip(),
        src_port: ctx.rcv.src.port(),
        socket: &sock,
        proto,
        conn_id: 0,
    };
    let force_rport = force_rport(ctx);
    let gen = crate::sl::generator(crate::sl::seed(ctx));
    let core = ctx.server.core_params();
    let opts = ReplyOptions {
        extra_headers: &hdrs,
        body: body.as_deref(),
        force_rport,
        server_header: core
            .server_signature
            .then_some(core.server_header.as_bytes()),
        warning: core.sip_warning.then(|| build::WarningInfo {
            pid: std::process::id(),
            new_ruri: ctx.state.new_uri.as_deref(),
        }),
        ..ReplyOptions::default()
    };
    let buf = build::sl_reply(ctx.msg, &rcv, code, reason, &gen, &opts)
        .map_err(|e| format!("response building failed: {e}"))?;
    ctx.server
        .send(&dst, &buf)
        .map_err(|e| format!("failed to send reply: {e}"))
}

fn force_rport(ctx: &Ctx<'_>) -> bool {
    ctx.state.msg_flags & ferrosip_api::ctx::FL_FORCE_RPORT != 0
}

fn transport(p: Proto) -> Transport {
    match p {
        Proto::Udp => Transport::Udp,
        Proto::Tcp => Transport::Tcp,
        Proto::Tls => Transport::Tls,
        Proto::Sctp => Transport::Sctp,
        Proto::Ws => Transport::Ws,
        Proto::Wss => Transport::Wss,
    }
}

/// Source IP; over UDP the source port when the top Via has `rport` (or after `force_rport()`),
/// else the Via port or 5060.
fn dest(ctx: &Ctx<'_>) -> Result<Dest, String> {
    let src = ctx.rcv.src;
    let port = if ctx.rcv.proto != Proto::Udp {
        src.port()
    } else {
        let via = ctx
            .msg
            .via1()
            .map_err(|e| format!("cannot lookup reply dst: {e}"))?;
        if via.rport.is_some() || force_rport(ctx) {
            src.port()
        } else {
            via.port.unwrap_or(5060)
        }
    };
    Ok(Dest {
        addr: SocketAddr::new(src.ip(), port),
        proto: ctx.rcv.proto,
        socket: ctx.rcv.socket,
    })
}
