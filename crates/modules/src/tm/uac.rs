//! Requests tm sends on its own — Kamailio's `t_uac`: `t_uac_send()`, the `tm.t_uac_start`,
//! `tm.t_uac_wait` and `tm.t_uac_wait_block` RPCs, and `event_route[tm:local-request]` run on
//! the request before it goes out.
//!
//! The request is built here with Kamailio's layout (request line, our Via, `To`, `From` with
//! a tag, `CSeq`, `Call-ID`, `Max-Forwards: 70`, `Content-Length`, `User-Agent`, then the
//! caller's other headers, `!!` replaced by the send socket's `ip:port`). Its transaction is a
//! [`Txn`] whose replies stay with it (the `replicated` flag: nothing goes upstream) with one
//! branch, so retransmissions, timeouts and the ACK of a negative INVITE reply are the
//! forwarding engine's. The final reply (received or the faked 408) completes an optional
//! [`Waiter`] (the waiting RPCs).
//!
//! Kamailio 6.0's behaviours kept: `drop` in `event_route[tm:local-request]` sends nothing (the
//! RPC answers its E_DROP fault, `t_uac_send()` returns false); changes to `$ru`,
//! headers and body made there are applied, `$fs` moves the request (and its Via) to that
//! socket, `$du` is shown but does not change where it goes. An INVITE's 2xx is acknowledged
//! here ([`ack_2xx`], each retransmission again); an `ACK` is sent once without a transaction.
//! Not done (an error at run time): TLS/SCTP/WS next hops.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use ferrosip_api::export::{RpcFault, RpcValue};
use ferrosip_api::{
    Ctx, Dest, Proto, RecvInfo, RouteRunner, RouteType, Server, SocketInfo, WorkerState,
};
use ferrosip_sipmsg::branch::{crcitt_string_array, md5_string_array};
use ferrosip_sipmsg::{HeaderKind, Msg};
use ferrosip_siptxn::{ProxyTxn, TxnKind};

use super::relay_to::{parse_proxy, uri_target};
use super::table::{OutBranch, ReqKey, Txn, TxnCell};
use super::*;

/// The event route tm runs on the requests it generates.
pub(super) const LOCAL_REQUEST: &str = "tm:local-request";

/// Kamailio's `DEFAULT_CSEQ`.
const DEFAULT_CSEQ: u32 = 10;

/// How deep `event_route[tm:local-request]` may nest (a `t_uac_send` inside it).
const MAX_DEPTH: u32 = 4;

thread_local! {
    /// Runs of `event_route[tm:local-request]` in progress on this thread.
    static DEPTH: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// How long `tm.t_uac_wait_block` waits (Kamailio: 80 s).
const WAIT_BLOCK: Duration = Duration::from_secs(80);
/// Bound of `tm.t_uac_wait` (longer than any transaction: `max_inv_lifetime` is 180 s).
const WAIT_ANY: Duration = Duration::from_secs(200);

/// The six parameters, in Kamailio's order.
#[derive(Debug, Clone, Default)]
pub(super) struct UacParams {
    pub method: Vec<u8>,
    pub ruri: Vec<u8>,
    /// Next hop URI; empty or `.` for none.
    pub nexthop: Vec<u8>,
    /// Send socket `[proto:]ip[:port]`; empty or `.` for none.
    pub socket: Vec<u8>,
    /// Header lines; From and To at least.
    pub headers: Vec<u8>,
    pub body: Vec<u8>,
}

/// Why nothing was sent, as the RPC fault Kamailio answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct UacFault {
    pub code: i32,
    pub text: String,
}

fn fault(code: i32, text: impl Into<String>) -> UacFault {
    UacFault {
        code,
        text: text.into(),
    }
}

/// The final reply of a local transaction (a faked one has no bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UacDone {
    pub code: u16,
    pub reason: Vec<u8>,
    /// The reply as received.
    pub reply: Option<Vec<u8>>,
}

/// Where a waiting RPC gets the final reply.
#[derive(Debug, Default)]
pub struct Waiter {
    slot: Mutex<Option<UacDone>>,
    cv: Condvar,
}

impl Waiter {
    /// Records the first final reply and wakes the waiter.
    pub fn complete(&self, d: UacDone) {
        let mut g = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            *g = Some(d);
            self.cv.notify_all();
        }
    }

    /// The final reply, waiting at most `limit`.
    pub fn wait(&self, limit: Duration) -> Option<UacDone> {
        let deadline = Instant::now() + limit;
        let mut g = self.slot.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(d) = g.clone() {
                return Some(d);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            g = match self.cv.wait_timeout(g, left) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
        }
    }
}

/// What a local transaction keeps besides the forwarding state.
#[derive(Debug, Default)]
pub struct LocalUac {
    pub waiter: Option<Arc<Waiter>>,
    /// The ACK of the INVITE's 2xx and where it went (sent again for a retransmitted 2xx).
    pub ack: Option<(Dest, Vec<u8>)>,
}

impl LocalUac {
    /// A final reply won: tells the waiter.
    pub(super) fn completed(&self, code: u16, reply: Option<&[u8]>) {
        let Some(w) = &self.waiter else { return };
        let parsed = reply.and_then(|r| Msg::parse(r.to_vec()).ok());
        let reason = parsed
            .as_ref()
            .and_then(|m| m.status_line().map(|s| s.reason.of(m.buf()).to_vec()))
            .unwrap_or_else(|| msgs::reason(code).to_vec());
        w.complete(UacDone {
            code,
            reason,
            reply: reply.map(<[u8]>::to_vec),
        });
    }
}

/// A request ready to be built: everything checked and resolved.
struct Prepared {
    method: Vec<u8>,
    ruri: Vec<u8>,
    /// The next hop (or the R-URI), `$du` in the local-request route.
    hop: Vec<u8>,
    /// Socket given by the caller (index into the server's sockets).
    forced: Option<u32>,
    dest: Dest,
    to: Vec<u8>,
    from: Vec<u8>,
    callid: Vec<u8>,
    cseq: u32,
    /// The caller's other headers, `!!` substituted.
    extra: Vec<u8>,
    body: Vec<u8>,
}

/// Sends a request on a new local transaction. `Ok(false)`: `event_route[tm:local-request]`
/// dropped it (nothing sent, no transaction).
pub(super) fn send(
    tm: &Tm,
    server: &mut dyn Server,
    worker: &mut WorkerState,
    routes: Option<Arc<dyn RouteRunner>>,
    p: &UacParams,
    waiter: Option<Arc<Waiter>>,
    prefer: Option<u32>,
) -> Result<bool, UacFault> {
    let prep = prepare(tm, server, p, prefer)?;
    if prep.method == b"ACK" {
        return send_ack(tm, server, worker, routes, &prep);
    }
    let hash = ferrosip_sipmsg::branch::hash_index(&prep.callid, prep.cseq.to_string().as_bytes());
    let key = local_key(tm, &prep.method);
    let now = tm.now();
    let mut cfg = tm.cfg().clone();
    cfg.auto_inv_100 = false;
    let kind = if prep.method == b"INVITE" {
        TxnKind::Invite
    } else {
        TxnKind::NonInvite
    };
    let dest = prep.dest;
    let sockets = server.sockets().to_vec();
    let sock_of = |idx: u32| sockets.get(idx as usize).cloned();
    let Some(sock) = sock_of(dest.socket) else {
        return Err(fault(500, "no socket found"));
    };
    // The request without a branch yet: the label comes with the cell.
    let rcv = RecvInfo {
        src: sock.addr,
        dst: dest.addr,
        proto: dest.proto,
        socket: dest.socket,
    };
    let placeholder = Msg::parse(build(&prep, &via_line(&sock, b"z9hG4bK"), server))
        .map_err(|e| fault(500, format!("cannot build the request: {e}")))?;
    let net = tm.net().map_err(|e| fault(500, e.to_string()))?.clone();
    let made = tm.table.insert(hash, key, |_label| Txn {
        p: ProxyTxn::new(kind, Transport::Reliable, now, &cfg, &mut Vec::new()),
        req: placeholder,
        rcv,
        state: ferrosip_api::MsgState::default(),
        edits: None,
        reply_dest: dest,
        branches: Vec::new(),
        last_reply: None,
        final_code: 0,
        final_local: false,
        on_failure: None,
        on_reply: None,
        on_branch: None,
        on_branch_failure: None,
        timer: None,
        is_cancel: false,
        failed_branch: None,
        to_tag: None,
        cancel_reason: None,
        auto_100: false,
        delayed_error: None,
        no_internal_reply: false,
        no_e2e_reason: false,
        local_cancel: false,
        failed_silently: false,
        replicated: true,
        send_after_callbacks: false,
        uac: Some(Box::new(LocalUac { waiter, ack: None })),
    });
    let Ok(cell) = made else {
        return Err(fault(500, "cannot create the transaction"));
    };
    tm.stats.created.fetch_add(1, Ordering::Relaxed);
    tm.stats.local_created.fetch_add(1, Ordering::Relaxed);
    let branch = our_branch(cell.hash, cell.label, 0);
    let mut bytes = build(&prep, &via_line(&sock, &branch), server);
    let mut dest = dest;
    if let Some(r) = routes.as_ref() {
        if let Some(index) = r.event_route(LOCAL_REQUEST) {
            match local_route(
                r,
                index,
                Some(&cell),
                (&prep.hop, prep.forced),
                bytes,
                dest,
                &sockets,
                server,
                worker,
            ) {
                Some((b, d)) => {
                    bytes = b;
                    dest = d;
                }
                None => {
                    tm.table.remove(&cell);
                    tm.stats.freed.fetch_add(1, Ordering::Relaxed);
                    return Ok(false);
                }
            }
        }
    }
    let req = match Msg::parse(bytes.clone()) {
        Ok(r) => r,
        Err(e) => {
            tm.table.remove(&cell);
            tm.stats.freed.fetch_add(1, Ordering::Relaxed);
            return Err(fault(500, format!("cannot parse the local request: {e}")));
        }
    };
    let mut t = cell.lock();
    t.req = req;
    t.rcv.socket = dest.socket;
    if let Some(s) = sock_of(dest.socket) {
        t.rcv.src = s.addr;
    }
    let transport = transport_of(dest.proto);
    if t.p.add_branch(now, transport).is_err() {
        drop(t);
        tm.table.remove(&cell);
        tm.stats.freed.fetch_add(1, Ordering::Relaxed);
        return Err(fault(500, "cannot add the branch"));
    }
    // Kamailio logs a failed send and keeps the transaction (the retransmissions may get through).
    if let Err(e) = net.send(&dest, &bytes) {
        server.log(ferrosip_api::L_ERR, &format!("tm: local request: {e}"));
    }
    t.branches.push(OutBranch {
        sent: ferrosip_api::Sent { dest, bytes },
        uri: prep.ruri.clone(),
        cancel: None,
        reply: None,
        on_reply: None,
        on_branch_failure: None,
        bflags: 0,
        instance: Vec::new(),
        path: Vec::new(),
        retr_stopped: false,
    });
    tm.table.reschedule(&cell, &mut t);
    Ok(true)
}

/// `ACK` (Kamailio builds it like any local request but keeps no transaction): the
/// local-request route, then one send.
fn send_ack(
    tm: &Tm,
    server: &mut dyn Server,
    worker: &mut WorkerState,
    routes: Option<Arc<dyn RouteRunner>>,
    prep: &Prepared,
) -> Result<bool, UacFault> {
    let sockets = server.sockets().to_vec();
    let sock = sockets
        .get(prep.dest.socket as usize)
        .cloned()
        .ok_or_else(|| fault(500, "no socket found"))?;
    let n = tm.uac_seq.fetch_add(1, Ordering::Relaxed);
    let hash = ferrosip_sipmsg::branch::hash_index(&prep.callid, prep.cseq.to_string().as_bytes());
    let branch = our_branch(hash, u32::try_from(n & 0xffff_ffff).unwrap_or(0), 0);
    let mut bytes = build(prep, &via_line(&sock, &branch), server);
    let mut dest = prep.dest;
    if let Some(r) = routes.as_ref() {
        if let Some(index) = r.event_route(LOCAL_REQUEST) {
            match local_route(
                r,
                index,
                None,
                (&prep.hop, prep.forced),
                bytes,
                dest,
                &sockets,
                server,
                worker,
            ) {
                Some((b, d)) => (bytes, dest) = (b, d),
                None => return Ok(false),
            }
        }
    }
    let net = tm.net().map_err(|e| fault(500, e.to_string()))?.clone();
    tm.stats.ack_cells.fetch_add(1, Ordering::Relaxed);
    if let Err(e) = net.send(&dest, &bytes) {
        server.log(ferrosip_api::L_ERR, &format!("tm: local request: {e}"));
    }
    Ok(true)
}

/// The ACK for a 2xx of a local INVITE (Kamailio's `build_dlg_ack`): R-URI the reply's
/// Contact, the INVITE's Via (same branch), From and Call-ID, the reply's To, `CSeq: n ACK`, the
/// route set from its Record-Route (reversed), `User-Agent`, `Content-Length: 0`; sent to the
/// first loose route or the Contact. `Some((dest, bytes, hop, new))`: `new` when it was just
/// built (the caller runs `event_route[tm:local-request]` on it, unlocked, and stores it with
/// [`store_ack`]); a stored one is sent again for a retransmitted 2xx.
pub(super) fn ack_2xx(t: &Txn, reply: &Msg, server: &dyn Server) -> Option<Ack2xx> {
    if t.req.method() != Some(ferrosip_sipmsg::Method::Invite) {
        return None;
    }
    if let Some((dest, bytes)) = t.uac.as_ref().and_then(|u| u.ack.clone()) {
        return Some(Ack2xx {
            dest,
            bytes,
            hop: Vec::new(),
            new: false,
        });
    }
    let invite = t.branches.first().map(|b| b.sent.clone())?;
    build_ack(&invite, reply, server)
}

/// An ACK to send for a 2xx of a local INVITE.
pub(super) struct Ack2xx {
    pub dest: Dest,
    pub bytes: Vec<u8>,
    /// Its next hop (`$du` in the local-request route).
    pub hop: Vec<u8>,
    /// Built now (not yet through the local-request route, not stored).
    pub new: bool,
}

/// Sends the 2xx ACK of a local INVITE: a new one goes through `event_route[tm:local-request]`
/// first (Kamailio 6.0; its changes are applied, a `drop` does not stop it) and is kept on the
/// transaction for the 2xx retransmissions.
pub(super) fn send_ack_2xx(
    tm: &Tm,
    cell: &Arc<TxnCell>,
    mut ack: Ack2xx,
    server: &mut dyn Server,
    worker: &mut WorkerState,
) {
    let Some(net) = tm.net.get().cloned() else {
        return;
    };
    if ack.new {
        if let Some(r) = tm.routes.get().cloned() {
            if let Some(index) = r.event_route(LOCAL_REQUEST) {
                let sockets = server.sockets().to_vec();
                let forced = Some(ack.dest.socket);
                let original = ack.bytes.clone();
                if let Some((b, d)) = local_route(
                    &r,
                    index,
                    Some(cell),
                    (&ack.hop, forced),
                    std::mem::take(&mut ack.bytes),
                    ack.dest,
                    &sockets,
                    server,
                    worker,
                ) {
                    (ack.bytes, ack.dest) = (b, d);
                } else {
                    ack.bytes = original;
                }
            }
        }
        let mut t = cell.lock();
        if let Some(u) = t.uac.as_mut() {
            u.ack = Some((ack.dest, ack.bytes.clone()));
        }
    }
    if let Err(e) = net.send(&ack.dest, &ack.bytes) {
        server.log(
            ferrosip_api::L_ERR,
            &format!("tm: ACK of a local INVITE: {e}"),
        );
    }
}

fn build_ack(invite: &ferrosip_api::Sent, reply: &Msg, server: &dyn Server) -> Option<Ack2xx> {
    let req = Msg::parse(invite.bytes.clone()).ok()?;
    let (rb, qb) = (reply.buf(), req.buf());
    let line = |m: &Msg, k: HeaderKind| -> Option<Vec<u8>> {
        let h = m.headers().ok()?.iter().find(|h| h.kind == k).copied()?;
        Some(h.span.of(m.buf()).to_vec())
    };
    let contact = reply
        .headers()
        .ok()?
        .iter()
        .find(|h| h.kind == HeaderKind::Contact)
        .map(|h| angle_uri(h.value.of(rb)))
        .unwrap_or_default();
    let mut routes: Vec<Vec<u8>> = Vec::new();
    for h in reply
        .headers()
        .ok()?
        .iter()
        .filter(|h| h.kind == HeaderKind::RecordRoute)
    {
        for part in h.value.of(rb).split(|&c| c == b',') {
            let p = part.trim_ascii();
            if !p.is_empty() {
                routes.push(p.to_vec());
            }
        }
    }
    routes.reverse();
    let first_loose = routes.first().map(|r| angle_uri(r)).filter(|u| {
        let l = u.to_ascii_lowercase();
        l.windows(3).any(|w| w == b";lr")
    });
    let (ruri, hop) = match (&first_loose, routes.first()) {
        (Some(f), _) => (contact.clone(), f.clone()),
        (None, Some(strict)) => {
            let s = angle_uri(strict);
            routes.remove(0);
            routes.push([b"<", contact.as_slice(), b">"].concat());
            (s.clone(), s)
        }
        (None, None) => (contact.clone(), contact.clone()),
    };
    if ruri.is_empty() {
        return None;
    }
    let target = uri_target(&hop)?;
    let (host, port) = target.host?;
    let addr = resolve(&host, if port == 0 { 5060 } else { port })?;
    let via = line(&req, HeaderKind::Via)?;
    let from = line(&req, HeaderKind::From)?;
    let callid = line(&req, HeaderKind::CallId)?;
    let to = reply
        .headers()
        .ok()?
        .iter()
        .find(|h| h.kind == HeaderKind::To)
        .map(|h| h.value.of(rb).to_vec())?;
    let cseq = req.cseq().ok()?.number_span.of(qb).to_vec();
    let mut b = b"ACK ".to_vec();
    b.extend_from_slice(&ruri);
    b.extend_from_slice(b" SIP/2.0\r\n");
    b.extend_from_slice(&via);
    b.extend_from_slice(&from);
    b.extend_from_slice(&callid);
    b.extend_from_slice(b"To: ");
    b.extend_from_slice(&to);
    b.extend_from_slice(b"\r\nCSeq: ");
    b.extend_from_slice(&cseq);
    b.extend_from_slice(b" ACK\r\n");
    if !routes.is_empty() {
        b.extend_from_slice(b"Route: ");
        b.extend_from_slice(&routes.join(&b", "[..]));
        b.extend_from_slice(b"\r\n");
    }
    let core = server.core_params();
    if core.server_signature && !core.user_agent_header.is_empty() {
        b.extend_from_slice(core.user_agent_header.as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    let dest = Dest {
        addr,
        proto: target.proto.unwrap_or(invite.dest.proto),
        socket: invite.dest.socket,
    };
    Some(Ack2xx {
        dest,
        bytes: b,
        hop,
        new: true,
    })
}

/// The URI of a name-addr (`<…>` when present, else up to the first `;`).
fn angle_uri(v: &[u8]) -> Vec<u8> {
    match v.iter().position(|&c| c == b'<') {
        Some(s) => {
            let rest = &v[s + 1..];
            let e = rest.iter().position(|&c| c == b'>').unwrap_or(rest.len());
            rest[..e].to_vec()
        }
        None => {
            let e = v.iter().position(|&c| c == b';').unwrap_or(v.len());
            v[..e].trim_ascii().to_vec()
        }
    }
}

/// A key no received request can have (request keys hold an MD5 in hex or a Via branch).
fn local_key(tm: &Tm, method: &[u8]) -> ReqKey {
    let n = tm.uac_seq.fetch_add(1, Ordering::Relaxed);
    let mut md5 = [b'.'; 32];
    let text = format!("LOCAL{n}");
    for (d, s) in md5.iter_mut().zip(text.bytes()) {
        *d = s;
    }
    ReqKey::old(&md5, method)
}

/// Runs `event_route[tm:local-request]` on the request: `None` when it dropped it, else the
/// bytes to send (the route's changes applied) and where.
#[allow(clippy::too_many_arguments)]
fn local_route(
    runner: &Arc<dyn RouteRunner>,
    index: usize,
    cell: Option<&Arc<TxnCell>>,
    (hop, forced): (&[u8], Option<u32>),
    bytes: Vec<u8>,
    dest: Dest,
    sockets: &[SocketInfo],
    server: &mut dyn Server,
    worker: &mut WorkerState,
) -> Option<(Vec<u8>, Dest)> {
    let Ok(mut msg) = Msg::parse(bytes.clone()) else {
        return Some((bytes, dest));
    };
    let src = sockets
        .get(dest.socket as usize)
        .map_or(dest.addr, |s| s.addr);
    let rcv = RecvInfo {
        src,
        dst: dest.addr,
        proto: dest.proto,
        socket: dest.socket,
    };
    // A `t_uac_send` in the route itself would run the route again: bounded, not a stack overflow.
    if DEPTH.with(|d| d.get()) >= MAX_DEPTH {
        server.log(
            ferrosip_api::L_ERR,
            &format!("event_route[{LOCAL_REQUEST}]: local requests nested too deep, not run"),
        );
        return Some((bytes, dest));
    }
    let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Event, rcv, worker, server) else {
        return Some((bytes, dest));
    };
    ctx.routes = Some(runner.clone());
    ctx.state.dst_uri = (!hop.is_empty()).then(|| hop.to_vec());
    ctx.state.force_socket = forced;
    // The route sees the new transaction as the current one (Kamailio's `T`); the caller's
    // per-message tm state is put back afterwards.
    let saved = CUR.with(|c| std::mem::take(&mut *c.borrow_mut()));
    CUR.with(|c| {
        *c.borrow_mut() = Cur {
            msg_id: ctx.state.id,
            cell: cell.cloned(),
            ..Cur::default()
        }
    });
    DEPTH.with(|d| d.set(d.get() + 1));
    let out = runner.run(index, &mut ctx);
    DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    CUR.with(|c| *c.borrow_mut() = saved);
    match out {
        Ok(o) if o.dropped => return None,
        Ok(_) => {}
        Err(e) => ctx.log_error(&format!("event_route[{LOCAL_REQUEST}]: {e}")),
    }
    let mut out = bytes;
    if !ctx.edits.is_empty() || ctx.state.new_uri.is_some() {
        match ferrosip_sipmsg::build::apply_changes(
            ctx.msg,
            &ctx.edits,
            None,
            ctx.state.new_uri.as_deref(),
        ) {
            Ok(b) => out = b,
            Err(e) => ctx.log_error(&format!("event_route[{LOCAL_REQUEST}]: {e}")),
        }
    }
    let mut dest = dest;
    // `$fs` changed: the request leaves from that socket, with a Via for it (same branch).
    if let Some(id) = ctx.state.force_socket.filter(|id| Some(*id) != forced) {
        if let (Some(new), Some(old)) =
            (sockets.get(id as usize), sockets.get(dest.socket as usize))
        {
            let branch = ctx
                .msg
                .via1()
                .ok()
                .and_then(|v| v.branch.and_then(|b| b.value))
                .map(|s| s.of(ctx.msg.buf()).to_vec())
                .unwrap_or_default();
            let before = via_line(old, &branch);
            let after = via_line(new, &branch);
            if let Some(i) = find(&out, &before) {
                out.splice(i..i + before.len(), after);
            }
            dest.socket = id;
            dest.proto = new.proto;
        }
    }
    Some((out, dest))
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Kamailio's `t_uac_send`/`rpc_t_uac` checks, in its order, with its fault texts.
fn prepare(
    tm: &Tm,
    server: &dyn Server,
    p: &UacParams,
    prefer: Option<u32>,
) -> Result<Prepared, UacFault> {
    if p.method.is_empty() {
        return Err(fault(400, "Empty method"));
    }
    let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    if ferrosip_sipmsg::uri::Uri::parse(&p.ruri, ferrosip_sipmsg::Span::new(0, p.ruri.len()))
        .is_err()
    {
        return Err(fault(
            400,
            format!("Invalid request uri \"{}\"", lossy(&p.ruri)),
        ));
    }
    let nexthop = (!p.nexthop.is_empty() && p.nexthop != b".").then_some(&p.nexthop);
    if let Some(n) = nexthop {
        if ferrosip_sipmsg::uri::Uri::parse(n, ferrosip_sipmsg::Span::new(0, n.len())).is_err() {
            return Err(fault(400, format!("Invalid next-hop uri \"{}\"", lossy(n))));
        }
    }
    let sockets = server.sockets();
    let forced = match (!p.socket.is_empty() && p.socket != b".").then_some(&p.socket) {
        None => None,
        Some(s) => {
            let text = lossy(s);
            let Some((host, port, proto)) = parse_proxy(&text).and_then(|t| {
                let (h, port) = t.host?;
                Some((h, port, t.proto))
            }) else {
                return Err(fault(400, format!("Invalid send socket \"{text}\"")));
            };
            let ip = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .parse::<IpAddr>()
                .ok();
            let found = sockets.iter().position(|s| {
                ip == Some(s.addr.ip())
                    && (port == 0 || port == s.addr.port())
                    && proto.is_none_or(|p| p == s.proto)
            });
            match found.and_then(|i| u32::try_from(i).ok()) {
                Some(i) => Some(i),
                None => return Err(fault(400, format!("No local socket for \"{text}\""))),
            }
        }
    };
    // The headers, parsed as those of a request.
    let mut fake = b"OPTIONS sip:x SIP/2.0\r\n".to_vec();
    fake.extend_from_slice(&p.headers);
    if !fake.ends_with(b"\r\n") {
        fake.extend_from_slice(b"\r\n");
    }
    fake.extend_from_slice(b"\r\n");
    let hm = Msg::parse(fake).map_err(|_| fault(400, "Invalid headers"))?;
    let hdrs = hm.headers().map_err(|_| fault(400, "Invalid headers"))?;
    let has = |k: HeaderKind| hdrs.iter().any(|h| h.kind == k);
    if !p.body.is_empty() && !has(HeaderKind::ContentType) {
        return Err(fault(400, "Content-Type missing"));
    }
    if !p.body.is_empty() && has(HeaderKind::ContentLength) {
        return Err(fault(400, "Content-Length disallowed"));
    }
    if !has(HeaderKind::To) {
        return Err(fault(400, "To missing"));
    }
    if !has(HeaderKind::From) {
        return Err(fault(400, "From missing"));
    }
    let hbuf = hm.buf();
    let from = hm.from().map_err(|_| fault(400, "Error in From"))?;
    let to = hm.to().map_err(|_| fault(400, "Error in To"))?;
    let cseq = if has(HeaderKind::CSeq) {
        let h = hdrs.iter().find(|h| h.kind == HeaderKind::CSeq);
        let value = h.map(|h| h.value.of(hbuf)).unwrap_or_default();
        let mut parts = value
            .split(|c| c.is_ascii_whitespace())
            .filter(|s| !s.is_empty());
        let num = parts.next().unwrap_or_default();
        let meth = parts.next().unwrap_or_default();
        if num.is_empty() || !num.iter().all(u8::is_ascii_digit) {
            return Err(fault(400, "Non-numerical CSeq"));
        }
        if meth != p.method.as_slice() {
            return Err(fault(400, "CSeq method mismatch"));
        }
        std::str::from_utf8(num)
            .ok()
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| fault(400, "Non-numerical CSeq"))?
    } else {
        DEFAULT_CSEQ
    };
    let callid = match hdrs.iter().find(|h| h.kind == HeaderKind::CallId) {
        Some(h) if !h.value.of(hbuf).is_empty() => h.value.of(hbuf).to_vec(),
        _ => tm.new_callid(sockets),
    };
    // From and To as Kamailio prints them: `<uri>` and the tag (generated for From).
    let mut from_v = b"<".to_vec();
    from_v.extend_from_slice(from.uri.of(hbuf));
    from_v.extend_from_slice(b">;tag=");
    match from.tag.map(|t| t.of(hbuf)).filter(|t| !t.is_empty()) {
        Some(t) => from_v.extend_from_slice(t),
        None => from_v.extend_from_slice(&from_tag(sockets, &callid)),
    }
    let mut to_v = b"<".to_vec();
    to_v.extend_from_slice(to.uri.of(hbuf));
    to_v.push(b'>');
    if let Some(t) = to.tag.map(|t| t.of(hbuf)).filter(|t| !t.is_empty()) {
        to_v.extend_from_slice(b";tag=");
        to_v.extend_from_slice(t);
    }
    // Where it goes and from which socket.
    let hop = nexthop.cloned().unwrap_or_else(|| p.ruri.clone());
    let target = uri_target(&hop).ok_or_else(|| fault(500, "no socket found"))?;
    let scheme_secure = hop.len() >= 5 && hop[..5].eq_ignore_ascii_case(b"sips:");
    let proto = match (forced, target.proto) {
        (Some(i), _) => sockets.get(i as usize).map_or(Proto::Udp, |s| s.proto),
        (None, Some(p)) => p,
        (None, None) if scheme_secure => Proto::Tls,
        (None, None) => Proto::Udp,
    };
    if !matches!(proto, Proto::Udp | Proto::Tcp) {
        return Err(fault(
            500,
            format!(
                "local requests over {} are not implemented yet",
                proto.name()
            ),
        ));
    }
    let (host, port) = target.host.unwrap_or_default();
    let addr = resolve(&host, if port == 0 { 5060 } else { port })
        .ok_or_else(|| fault(500, "no socket found"))?;
    // Kamailio's choice without a forced socket: the worker's own socket (the one the message
    // being processed came on) when it fits, else — the RPC process has none — the last
    // listening socket of the protocol and address family.
    let fits = |s: &SocketInfo| s.proto == proto && s.addr.is_ipv4() == addr.is_ipv4();
    let socket = match forced {
        Some(i) => i,
        None => prefer
            .filter(|i| sockets.get(*i as usize).is_some_and(fits))
            .or_else(|| {
                sockets
                    .iter()
                    .rposition(fits)
                    .and_then(|i| u32::try_from(i).ok())
            })
            .ok_or_else(|| fault(500, "no socket found"))?,
    };
    let sock = sockets
        .get(socket as usize)
        .ok_or_else(|| fault(500, "no socket found"))?;
    // The other headers, `!!` replaced by the send socket's address.
    let mut extra = Vec::new();
    let subst = sock_host_port(sock);
    for h in hdrs.iter().filter(|h| {
        !matches!(
            h.kind,
            HeaderKind::From | HeaderKind::To | HeaderKind::CallId | HeaderKind::CSeq
        )
    }) {
        let line = h.span.of(hbuf);
        let mut i = 0;
        while i < line.len() {
            if line[i] == b'!' && line.get(i + 1) == Some(&b'!') {
                extra.extend_from_slice(&subst);
                i += 2;
            } else {
                extra.push(line[i]);
                i += 1;
            }
        }
    }
    Ok(Prepared {
        method: p.method.clone(),
        ruri: p.ruri.clone(),
        hop,
        forced,
        dest: Dest {
            addr,
            proto,
            socket,
        },
        to: to_v,
        from: from_v,
        callid,
        cseq,
        extra,
        body: p.body.clone(),
    })
}

fn resolve(host: &str, port: u16) -> Option<SocketAddr> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Some(SocketAddr::new(ip, port));
    }
    (h, port).to_socket_addrs().ok()?.next()
}

/// `ip:port` a socket signals (its advertised address when it has one).
fn sock_host_port(s: &SocketInfo) -> Vec<u8> {
    match &s.advertise {
        Some((h, p)) => format!("{h}:{}", if *p == 0 { s.addr.port() } else { *p }).into_bytes(),
        None => match s.addr.ip() {
            IpAddr::V4(ip) => format!("{ip}:{}", s.addr.port()).into_bytes(),
            IpAddr::V6(ip) => format!("[{ip}]:{}", s.addr.port()).into_bytes(),
        },
    }
}

fn via_line(s: &SocketInfo, branch: &[u8]) -> Vec<u8> {
    let mut v = b"Via: SIP/2.0/".to_vec();
    v.extend_from_slice(s.proto.name().to_ascii_uppercase().as_bytes());
    v.push(b' ');
    v.extend_from_slice(&sock_host_port(s));
    v.extend_from_slice(b";branch=");
    v.extend_from_slice(branch);
    v.extend_from_slice(b"\r\n");
    v
}

/// Kamailio's `build_uac_req` layout.
fn build(p: &Prepared, via: &[u8], server: &dyn Server) -> Vec<u8> {
    let mut b = Vec::with_capacity(256 + p.extra.len() + p.body.len());
    b.extend_from_slice(&p.method);
    b.push(b' ');
    b.extend_from_slice(&p.ruri);
    b.extend_from_slice(b" SIP/2.0\r\n");
    b.extend_from_slice(via);
    for (name, value) in [(&b"To: "[..], &p.to), (b"From: ", &p.from)] {
        b.extend_from_slice(name);
        b.extend_from_slice(value);
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(format!("CSeq: {} ", p.cseq).as_bytes());
    b.extend_from_slice(&p.method);
    b.extend_from_slice(b"\r\nCall-ID: ");
    b.extend_from_slice(&p.callid);
    b.extend_from_slice(b"\r\n");
    // Kamailio adds its own only when the caller's headers carry no `Max-Forwards:` (written so).
    let own_maxfwd = p.extra.len() >= 15 && find(&p.extra, b"Max-Forwards:").is_some();
    if !own_maxfwd {
        b.extend_from_slice(b"Max-Forwards: 70\r\n");
    }
    b.extend_from_slice(format!("Content-Length: {}\r\n", p.body.len()).as_bytes());
    let core = server.core_params();
    if core.server_signature && !core.user_agent_header.is_empty() {
        b.extend_from_slice(core.user_agent_header.as_bytes());
        b.extend_from_slice(b"\r\n");
    }
    b.extend_from_slice(&p.extra);
    b.extend_from_slice(b"\r\n");
    b.extend_from_slice(&p.body);
    b
}

/// Kamailio's From tag of local requests: an MD5 of the first socket, `-`, a CRC of the Call-ID.
fn from_tag(sockets: &[SocketInfo], callid: &[u8]) -> Vec<u8> {
    let (addr, port) = sockets.first().map_or((String::new(), String::new()), |s| {
        (s.addr.ip().to_string(), s.addr.port().to_string())
    });
    let mut tag = md5_string_array(&[
        b"Long live kamailio server",
        addr.as_bytes(),
        port.as_bytes(),
    ])
    .to_vec();
    tag.push(b'-');
    tag.extend_from_slice(&crcitt_string_array(&[Some(callid)]));
    tag
}

impl Tm {
    /// Kamailio's generated Call-ID: a 64-bit counter in hex, `-`, the process id, `@`, the first
    /// socket's address.
    fn new_callid(&self, sockets: &[SocketInfo]) -> Vec<u8> {
        let n = self
            .callid_prefix
            .wrapping_add(self.uac_seq.fetch_add(1, Ordering::Relaxed));
        let host = sockets
            .first()
            .map_or("127.0.0.1".to_string(), |s| match s.addr.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            });
        format!("{n:016x}-{}@{host}", std::process::id()).into_bytes()
    }
}

/// `t_uac_send(method, ruri, nexthop, socket, headers, body)`: 1 when sent, -1 on a bad
/// parameter, when it cannot be sent or when the local-request route dropped it (Kamailio 6.0).
pub(super) fn t_uac_send(tm: &Tm, ctx: &mut Ctx<'_>, p: &UacParams) -> RetCode {
    tm.learn(ctx);
    let routes = ctx.routes.clone();
    let own = Some(ctx.rcv.socket);
    match send(tm, ctx.server, ctx.worker, routes, p, None, own) {
        Ok(true) => RetCode::TRUE,
        // Kamailio 6.0: a drop in the local-request route fails the request (E_DROP); 5.6
        // returned true.
        Ok(false) => {
            ctx.log_error("t_uac_send(): UAC error");
            RetCode::FALSE
        }
        Err(f) => {
            ctx.log_error(&format!("t_uac_send(): {}", f.text));
            RetCode::FALSE
        }
    }
}

/// How an RPC waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum RpcMode {
    Start,
    Wait,
    Block,
}

/// `tm.t_uac_start`, `tm.t_uac_wait`, `tm.t_uac_wait_block`.
pub(super) fn rpc(tm: &Tm, args: &[RpcValue], mode: RpcMode) -> Result<RpcValue, RpcFault> {
    let text = |v: &RpcValue| -> Vec<u8> {
        match v {
            RpcValue::Str(s) => s.as_bytes().to_vec(),
            RpcValue::Int(i) => i.to_string().into_bytes(),
            RpcValue::Double(d) => d.to_string().into_bytes(),
            _ => Vec::new(),
        }
    };
    if args.len() < 5 {
        let n = args.len();
        return Err(RpcFault {
            code: 400,
            message: if n == 0 {
                "too few parameters (0/5)".into()
            } else {
                format!("too few parameters (-{n}/5)")
            },
        });
    }
    let a = |i: usize| args.get(i).map(text).unwrap_or_default();
    let p = UacParams {
        method: a(0),
        ruri: a(1),
        nexthop: a(2),
        socket: a(3),
        headers: a(4),
        body: a(5),
    };
    let net = tm
        .net()
        .map_err(|e| RpcFault {
            code: 500,
            message: e.to_string(),
        })?
        .clone();
    let routes = tm.routes.get().cloned().or_else(|| net.routes());
    let waiter = (mode != RpcMode::Start).then(|| Arc::new(Waiter::default()));
    let sent = {
        let mut server = net.server().map_err(|e| RpcFault {
            code: 500,
            message: e.to_string(),
        })?;
        if tm.core.get().is_none() {
            let _ = tm.core.set(server.core_params().clone());
        }
        let mut worker = WorkerState::default();
        send(
            tm,
            server.as_mut(),
            &mut worker,
            routes,
            &p,
            waiter.clone(),
            None,
        )
    };
    match sent {
        Ok(true) => {}
        // Kamailio 6.0's answer to E_DROP (5.6: "No error (0/RPC/UAC)").
        Ok(false) => {
            return Err(RpcFault {
                code: 500,
                message: "I'm terribly sorry, server error occurred (19/RPC/UAC)".into(),
            })
        }
        Err(f) => {
            return Err(RpcFault {
                code: f.code,
                message: f.text,
            })
        }
    }
    let Some(w) = waiter else {
        return Ok(RpcValue::Struct(Vec::new()));
    };
    let limit = if mode == RpcMode::Block {
        WAIT_BLOCK
    } else {
        WAIT_ANY
    };
    let Some(done) = w.wait(limit) else {
        return Err(RpcFault {
            code: 500,
            message: "no final reply".into(),
        });
    };
    let reason = String::from_utf8_lossy(&done.reason).into_owned();
    if mode == RpcMode::Block {
        return Ok(RpcValue::Struct(vec![
            ("code".into(), RpcValue::Int(i64::from(done.code))),
            ("text".into(), RpcValue::Str(reason)),
        ]));
    }
    Ok(RpcValue::Array(wait_reply(&done, reason)))
}

/// `tm.cancel(callid, cseq)`: cancels the branches of the INVITE transaction with that Call-ID
/// and CSeq number (a local one, or any other, as Kamailio's `t_lookup_callid`); a branch with no
/// provisional reply yet gets its CANCEL when one comes, else it times out. Kamailio's jsonrpcs
/// shows only the last of its two values: the text.
pub(super) fn rpc_cancel(tm: &Tm, args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let text = |v: Option<&RpcValue>| -> Option<Vec<u8>> {
        match v? {
            RpcValue::Str(s) => Some(s.as_bytes().to_vec()),
            RpcValue::Int(i) => Some(i.to_string().into_bytes()),
            _ => None,
        }
    };
    let (Some(callid), Some(cseq)) = (text(args.first()), text(args.get(1))) else {
        return Err(RpcFault {
            code: 400,
            message: "Callid and CSeq expected as parameters".into(),
        });
    };
    let hash = ferrosip_sipmsg::branch::hash_index(&callid, &cseq);
    let found = tm.table.bucket(hash).into_iter().find(|c| {
        let t = c.lock();
        let buf = t.req.buf();
        t.req
            .call_id()
            .is_ok_and(|s| s.of(buf) == callid.as_slice())
            && t.req.cseq().is_ok_and(|q| {
                q.number_span.of(buf) == cseq.as_slice()
                    && q.method_span.of(buf).eq_ignore_ascii_case(b"INVITE")
            })
    });
    let Some(cell) = found else {
        return Err(RpcFault {
            code: 400,
            message: "Transaction not found".into(),
        });
    };
    if let Some(net) = tm.net.get().cloned() {
        if let Ok(mut server) = net.server() {
            let mut worker = WorkerState::default();
            cancel_local(tm, &cell, None, server.as_mut(), &mut worker);
        }
    }
    Ok(RpcValue::Str(
        "branches remaining (waiting for timeout)".into(),
    ))
}

/// Cancels the branches of `cell` as Kamailio's `cancel_uacs` with `F_CANCEL_LOCAL` (`tm.cancel`,
/// tmx `t_cancel_callid`): a CANCEL on each branch with a provisional reply (with `reason`, a
/// `Reason:` line, when given), a branch with no reply yet stops retransmitting and waits for its
/// timeout; no reply is generated for the transaction.
pub(super) fn cancel_local(
    tm: &Tm,
    cell: &Arc<TxnCell>,
    reason: Option<Vec<u8>>,
    server: &mut dyn Server,
    worker: &mut WorkerState,
) {
    let reason_lines = reason.clone().unwrap_or_default();
    // Kamailio 6.0 runs event_route[tm:local-request] on each CANCEL tm.cancel sends, as a
    // notification (what it changes or drops is not used).
    let cancels: Vec<(Vec<u8>, Dest)> = {
        let t = cell.lock();
        t.branches
            .iter()
            .enumerate()
            .filter(|(i, b)| {
                b.cancel.is_none()
                    && u8::try_from(*i)
                        .ok()
                        .and_then(|i| t.p.branch(i))
                        .is_some_and(|c| (100..200).contains(&c.last_received()))
            })
            .filter_map(|(_, b)| {
                msgs::derive(&b.sent.bytes, b"CANCEL", None, &reason_lines)
                    .map(|c| (c, b.sent.dest))
            })
            .collect()
    };
    notify_local_cancels(tm, cancels, server, worker);
    let now = tm.now();
    let mut actions = Vec::new();
    let fr = {
        let mut t = cell.lock();
        if let Some(r) = reason {
            t.cancel_reason = Some(r);
        }
        // Kamailio's tm.cancel cancels without flags: a branch with no reply yet stops
        // retransmitting and is left to its timeout.
        for i in 0..t.branches.len() {
            let unreplied = u8::try_from(i)
                .ok()
                .and_then(|i| t.p.branch(i))
                .is_some_and(|c| c.last_received() == 0);
            if let (true, Some(b)) = (unreplied, t.branches.get_mut(i)) {
                b.retr_stopped = true;
            }
        }
        // No branch left to cancel: nothing happens (Kamailio's empty cancel bitmap; the state
        // machine would answer 487 itself).
        let pending = (0..t.p.branch_count())
            .filter_map(|i| u8::try_from(i).ok())
            .any(|i| t.p.branch(i).is_some_and(|c| c.is_pending()));
        if pending && !t.p.is_canceled() {
            t.local_cancel = true;
        }
        if pending && t.p.cancel(now, &mut actions).is_ok() {
            let fr = apply(tm, cell, &mut t, &actions, None);
            tm.table.reschedule(cell, &mut t);
            fr
        } else {
            None
        }
    };
    if let Some(f) = fr {
        run_failure(tm, cell, f, server, worker);
    }
    flush_finals(tm, server, worker);
}

/// Runs `event_route[tm:local-request]` on CANCELs tm sends on its own (`tm.cancel`,
/// `t_cancel_callid`, `t_cancel_branches`), as Kamailio 6.0 does for `F_CANCEL_LOCAL`: a
/// notification, what the route changes or drops is not used.
pub(super) fn notify_local_cancels(
    tm: &Tm,
    cancels: Vec<(Vec<u8>, Dest)>,
    server: &mut dyn Server,
    worker: &mut WorkerState,
) {
    let Some(r) = tm.routes.get().cloned() else {
        return;
    };
    let Some(index) = r.event_route(LOCAL_REQUEST) else {
        return;
    };
    let sockets = server.sockets().to_vec();
    for (bytes, dest) in cancels {
        let _ = local_route(
            &r,
            index,
            None,
            (b"", None),
            bytes,
            dest,
            &sockets,
            server,
            worker,
        );
    }
}

/// `tm.t_uac_wait`'s answer, Kamailio's `rpc_uac_callback`: code and reason; for a 2xx the
/// dialog's target, next hop and route set; then the reply from its first header.
fn wait_reply(done: &UacDone, reason: String) -> Vec<RpcValue> {
    let mut v = vec![RpcValue::Int(i64::from(done.code)), RpcValue::Str(reason)];
    let Some(bytes) = &done.reply else {
        v.extend((0..4).map(|_| RpcValue::Str(String::new())));
        return v;
    };
    let Ok(m) = Msg::parse(bytes.clone()) else {
        return v;
    };
    let buf = m.buf();
    if (200..300).contains(&done.code) {
        let contact = m
            .headers()
            .ok()
            .and_then(|hs| hs.iter().find(|h| h.kind == HeaderKind::Contact).copied())
            .map(|h| {
                let val = h.value.of(buf);
                let s = val.iter().position(|&c| c == b'<').map_or(0, |i| i + 1);
                let e = val[s..]
                    .iter()
                    .position(|&c| c == b'>' || (s == 0 && c == b';'))
                    .map_or(val.len(), |i| s + i);
                String::from_utf8_lossy(&val[s..e]).into_owned()
            })
            .unwrap_or_default();
        // The route set: the Record-Route entries in reverse order.
        let mut rr: Vec<String> = Vec::new();
        if let Ok(hs) = m.headers() {
            for h in hs.iter().filter(|h| h.kind == HeaderKind::RecordRoute) {
                for part in h.value.of(buf).split(|&c| c == b',') {
                    rr.push(String::from_utf8_lossy(part).trim().to_string());
                }
            }
        }
        rr.reverse();
        let first_lr = rr.first().is_some_and(|r| r.contains(";lr"));
        let strip = |r: &str| r.trim_start_matches('<').trim_end_matches('>').to_string();
        let (ruri, next_hop, routes) = match rr.first() {
            None => (contact.clone(), contact, String::new()),
            Some(first) if first_lr => (contact, strip(first), format!("Route: {}", rr.join(", "))),
            // Strict routing: the first route is the R-URI, the target goes last.
            Some(first) => {
                let rest: Vec<String> = rr.iter().skip(1).cloned().collect();
                let mut routes = String::from("Route: ");
                routes.push_str(&rest.join(", "));
                if !rest.is_empty() {
                    routes.push_str(", ");
                }
                routes.push_str(&format!("<{contact}>"));
                (strip(first), strip(first), routes)
            }
        };
        v.push(RpcValue::Str(ruri));
        v.push(RpcValue::Str(next_hop));
        v.push(RpcValue::Str(routes));
    }
    let first_header = m
        .headers()
        .ok()
        .and_then(|hs| hs.first().map(|h| h.span.start as usize))
        .unwrap_or(buf.len());
    v.push(RpcValue::Str(
        String::from_utf8_lossy(buf.get(first_header..).unwrap_or_default()).into_owned(),
    ));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_waiter_keeps_the_first_final_reply() {
        let w = Waiter::default();
        assert_eq!(w.wait(Duration::from_millis(10)), None);
        w.complete(UacDone {
            code: 404,
            reason: b"Not Found".to_vec(),
            reply: None,
        });
        w.complete(UacDone {
            code: 200,
            reason: b"OK".to_vec(),
            reply: None,
        });
        assert_eq!(w.wait(Duration::ZERO).map(|d| d.code), Some(404));
    }

    #[test]
    fn wait_replies_have_kamailio_s_shape() {
        let faked = UacDone {
            code: 408,
            reason: b"Request Timeout".to_vec(),
            reply: None,
        };
        let v = wait_reply(&faked, "Request Timeout".into());
        assert_eq!(v.len(), 6);
        let ok = b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nRecord-Route: <sip:p2;lr>, <sip:p1;lr>\r\nContact: <sip:b@10.0.0.2>\r\nFrom: <sip:a@x>;tag=1\r\nTo: <sip:b@x>;tag=2\r\nCall-ID: c\r\nCSeq: 10 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let d = UacDone {
            code: 200,
            reason: b"OK".to_vec(),
            reply: Some(ok.to_vec()),
        };
        let v = wait_reply(&d, "OK".into());
        let s: Vec<String> = v
            .iter()
            .map(|x| match x {
                RpcValue::Str(s) => s.clone(),
                RpcValue::Int(i) => i.to_string(),
                _ => String::new(),
            })
            .collect();
        assert_eq!(
            s[..5],
            [
                "200",
                "OK",
                "sip:b@10.0.0.2",
                "sip:p1;lr",
                "Route: <sip:p1;lr>, <sip:p2;lr>"
            ]
        );
        assert!(s[5].starts_with("Via: SIP/2.0/UDP"), "{}", s[5]);
        let nf = b"SIP/2.0 404 Not Found\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bKx\r\nContent-Length: 0\r\n\r\n";
        let d = UacDone {
            code: 404,
            reason: b"Not Found".to_vec(),
            reply: Some(nf.to_vec()),
        };
        assert_eq!(wait_reply(&d, "Not Found".into()).len(), 3);
    }
}
