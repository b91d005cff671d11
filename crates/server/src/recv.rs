//! The receive path: what happens to one message on the worker thread that received it
//! (Kamailio's `receive_msg`).
//!
//! 1. `msg_recv_max_size`: bigger messages are dropped (counted `too_big`).
//! 2. With `received_route_mode=1`, `event_route[core:msg-received]` on Kamailio's faked OPTIONS
//!    with the bytes in `$rcv()`: `drop` (or a negative value) discards them, `$rcv(buf)` may
//!    rewrite them before they are parsed.
//! 3. `Msg::parse`; a message whose first line, Via, From, To, Call-ID or CSeq cannot be read is
//!    dropped and counted (`bad_msg_hdr`), as Kamailio's parse checks do, after
//!    `event_route[core:receive-parse-error]` ran on it (`$mb`/`$ml` are the broken bytes).
//!    A request whose version is not `SIP/2.0` (HTTP on a SIP port) takes the non-SIP path
//!    instead ([`Receiver::non_sip`]): `event_route[core:pre-routing]`, then
//!    `event_route[xhttp:request]` when xhttp is loaded and takes it, else it is dropped (Kamailio's
//!    non-SIP message hooks).
//! 4. One `tracing` span per message (call-id, cseq, method, source) when the JSON log engine
//!    prints Call-IDs.
//! 5. `event_route[core:pre-routing]` (a `drop` or `exit` stops the message).
//! 6. Requests: sl's ACK filter (ACKs to our own negative replies), `;alias` of the top Via with
//!    `tcp_accept_aliases`, `request_route`, `force_tcp_alias()`.
//!    Replies: `check_via`, `reply_route` (`drop` or 0 stops), then relay by the second Via
//!    (`received`/`rport` honoured) from the socket Kamailio's `get_send_socket` would pick.
//!
//! Replies built by modules (sl) go out through [`WireServer::send`], with the message's
//! `set_reply_close()`/`set_reply_no_connect()` flags and `reply_to_via`.

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::Arc;

use ferrosip_api::{
    Ctx, Dest, Error as ApiError, RcvData, RcvEvent, RecvInfo, RouteType, Server, WorkerState,
};
use ferrosip_modules::sl::SlApi;
use ferrosip_modules::xhttp::XhttpApi;
use ferrosip_script::{Program, RouteId};
use ferrosip_sipmsg::build;
use ferrosip_sipmsg::edit::SendContext;
use ferrosip_sipmsg::{Msg, Transport as ViaTransport};
use ferrosip_transport::{Destination, Proto as TProto, ReceiveInfo, SendOptions, SocketId};

use crate::netcore::{msg_net, reset_msg_net, resolve, to_api_proto, to_tproto, Net, NetCell};
use crate::sockets::{via_transport, SIP_PORT};
use crate::stats::CoreStats;

thread_local! {
    /// `$var` and the other per-worker state (Kamailio: per process).
    static WORKER: RefCell<WorkerState> = RefCell::new(WorkerState::default());
    static NUMBERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Worker numbers for the log lines (Kamailio's `process_no`: 0 is the main process, SIP workers
/// count from 1), given to each worker thread on its first message.
static NEXT_WORKER: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(1);

fn number_worker() {
    NUMBERED.with(|n| {
        if !n.get() {
            n.set(true);
            let no = NEXT_WORKER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            crate::log::set_process_no(no);
        }
    });
}

/// The receive path, shared by every worker thread.
pub struct Receiver {
    pub net: NetCell,
    pub program: Arc<Program>,
    /// Blocks looked up once at start (a lookup by name hashes and allocates).
    pub routes: Routes,
    pub sl: Option<Arc<SlApi>>,
    /// tm: replies of its transactions, the end of request_route.
    pub tm: Option<Arc<ferrosip_modules::tm::TmApi>>,
    pub check_via: bool,
    /// Kamailio `debug`, read per log call (RPC may change it).
    pub log: crate::log::LogControl,
    /// `log_prefix`: rendered for each message and put before the text of every log line
    /// written while the message is processed.
    pub log_prefix: Option<ferrosip_api::Format>,
    /// Open a `tracing` span per message (it carries the Call-ID to the JSON log engine's `c`
    /// flag; about 5 k instructions per message, so only when that flag is on).
    pub spans: bool,
    /// xhttp's hook for HTTP requests ([`xhttp_hook`]), when the module is loaded.
    pub xhttp: Option<XhttpHook>,
    /// Modules' hooks for replies no transaction took (usrloc's keepalive replies).
    pub hooks: Option<Arc<ferrosip_api::NetHooks>>,
}

/// What the non-SIP path needs from xhttp: its filter and the event route it runs.
#[derive(Debug, Clone)]
pub struct XhttpHook {
    pub api: Arc<XhttpApi>,
    pub route: RouteId,
}

/// xhttp's hook when the module is loaded; like Kamailio's xhttp `mod_init`, a config that loads
/// xhttp without `event_route[xhttp:request]` does not start.
pub fn xhttp_hook(
    reg: &ferrosip_api::Registry,
    program: &Program,
) -> Result<Option<XhttpHook>, crate::Error> {
    let Some(api) = reg.api::<XhttpApi>() else {
        return Ok(None);
    };
    let route = program
        .route(ferrosip_script::Entry::Event(
            ferrosip_modules::xhttp::EVENT_ROUTE,
        ))
        .ok_or_else(|| {
            crate::Error::Compile(format!(
                "xhttp: failed to find event_route[{}]",
                ferrosip_modules::xhttp::EVENT_ROUTE
            ))
        })?;
    Ok(Some(XhttpHook { api, route }))
}

impl Receiver {
    /// Handles one received message. Never panics on peer input.
    pub fn handle(&self, ri: &ReceiveInfo, data: &[u8]) {
        let Some(n) = self.net.get() else { return };
        number_worker();
        if data.len() > n.wire.msg_recv_max_size {
            CoreStats::inc(&n.stats.too_big);
            emit(
                n.wire.transport.corelog,
                &format!(
                    "read message too large: {} (cfg msg recv max size: {})",
                    data.len(),
                    n.wire.msg_recv_max_size
                ),
            );
            return;
        }
        reset_msg_net();
        let rcv = RecvInfo {
            src: ri.src,
            dst: ri.dst,
            proto: to_api_proto(ri.proto),
            socket: ri.socket.0,
        };
        let mut server = WireServer {
            n,
            ri: *ri,
            log: &self.log,
        };
        // event_route[core:msg-received] sees (and may rewrite) the bytes before any parsing.
        let data: Vec<u8> = match self.routes.msg_received {
            Some(id) if n.wire.received_route_mode == 1 => {
                match self.msg_received(id, rcv, data, &mut server) {
                    Some(d) => d,
                    None => return,
                }
            }
            _ => ferrosip_sipmsg::pool::copy(data),
        };
        // The parser keeps the buffer only when it succeeds: a copy for
        // event_route[core:receive-parse-error], made only when the config has one.
        let raw = self.routes.parse_error.map(|id| (id, data.clone()));
        let mut msg = match Msg::parse(data) {
            Ok(m) if non_sip_request(&m) && !broken(&m) => {
                self.non_sip(n, rcv, m, &mut server);
                crate::log::set_message_prefix("");
                return;
            }
            Ok(m) if mandatory_ok(&m) => m,
            other => {
                CoreStats::inc(&n.stats.bad_msg_hdr);
                tracing::debug!(src = %ri.src, "unparsable message or missing mandatory header, dropped");
                let msg = other.ok();
                if let Some((id, raw)) = raw.filter(|_| msg.as_ref().is_none_or(broken)) {
                    self.parse_error(id, rcv, msg, raw, &mut server);
                } else {
                    // Kamailio numbers every message it tries to parse (`msg_no`, `$mi`).
                    WORKER.with(|w| {
                        if let Ok(mut ws) = w.try_borrow_mut() {
                            ws.msg_seq += 1;
                        }
                    });
                }
                return;
            }
        };
        let span = if self.spans {
            message_span(&msg, ri)
        } else {
            tracing::Span::none()
        };
        let _enter = span.enter();
        WORKER.with(|w| {
            let Ok(mut ws) = w.try_borrow_mut() else {
                return;
            };
            if msg.is_request() {
                self.request(n, ri, rcv, &mut msg, &mut ws, &mut server);
            } else {
                self.reply(n, ri, rcv, &mut msg, &mut ws, &mut server);
            }
        });
        crate::log::set_message_prefix("");
    }

    /// A request whose version is not `SIP/2.0` (Kamailio's non-SIP message hooks, after
    /// `event_route[core:pre-routing]`): HTTP goes to `event_route[xhttp:request]` when xhttp is
    /// loaded and its `url_skip`/`url_match` let it through, on the request with a Via made from
    /// the source address; anything else is dropped (not counted as a bad message).
    fn non_sip(&self, n: &Net, rcv: RecvInfo, mut msg: Msg, server: &mut WireServer<'_>) {
        WORKER.with(|w| {
            let Ok(mut ws) = w.try_borrow_mut() else {
                return;
            };
            let id = {
                let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Request, rcv, &mut ws, server)
                else {
                    return;
                };
                self.set_log_prefix(&mut ctx);
                if !self.pre_routing(&mut ctx) {
                    return;
                }
                ctx.state.id
            };
            let Some(hook) = self.xhttp.as_ref().filter(|h| h.api.accepts(&msg)) else {
                tracing::debug!(src = %rcv.src, "non-SIP request dropped");
                return;
            };
            let mut msg = match XhttpApi::sip_request(&msg, rcv.src, rcv.proto) {
                Some(b) => match Msg::parse(b) {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::error!("xhttp: parse_msg failed: {e}");
                        return;
                    }
                },
                None => msg,
            };
            if msg.via1().is_err() {
                tracing::error!(src = %rcv.src, "xhttp: strange message (no usable Via), dropped");
                return;
            }
            // Kamailio counts the request in its pre-script callbacks (kex's core statistics).
            n.stats.count_request(None);
            // The faked message keeps the request's id ($mi), as Kamailio's copy does.
            ws.msg_seq = id.saturating_sub(1);
            let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Event, rcv, &mut ws, server) else {
                return;
            };
            self.set_log_prefix(&mut ctx);
            let _ = self.program.run(hook.route, &mut ctx);
        });
    }

    /// Renders `log_prefix` for the message the context holds (Kamailio: `log_prefix_set()` once
    /// per received message).
    fn set_log_prefix(&self, ctx: &mut Ctx<'_>) {
        if let Some(f) = &self.log_prefix {
            let text = f.render(ctx);
            crate::log::set_message_prefix(&String::from_utf8_lossy(&text));
        }
    }

    fn request(
        &self,
        n: &Net,
        ri: &ReceiveInfo,
        rcv: RecvInfo,
        msg: &mut Msg,
        ws: &mut WorkerState,
        server: &mut WireServer<'_>,
    ) {
        if let Some(sl) = &self.sl {
            // sl seeds its to-tags with the first listening socket (`sl::seed`), so an ACK to
            // one of its replies carries a tag made from that address, whichever socket got it.
            let local = n.api_sockets.first().map_or(ri.dst, |s| s.addr);
            if sl.filter_ack(msg, local) {
                // Kamailio: sl's pre-script callback stops the chain before kex's counts it
                // (kex loaded before sl, as usual), and the core counts a dropped request.
                CoreStats::inc(&n.stats.drop_requests);
                return;
            }
        }
        if n.wire.tcp_accept_aliases && ri.proto != TProto::Udp {
            tcp_alias_from_via(n, ri, msg, None);
        }
        if n.wire.reply_to_via {
            note_via_addr(msg);
        }
        let Ok(mut ctx) = Ctx::new(msg, RouteType::Request, rcv, ws, server) else {
            return;
        };
        self.set_log_prefix(&mut ctx);
        if !self.pre_routing(&mut ctx) {
            return; // Kamailio: before the counting callbacks, counted nowhere
        }
        // kex's pre-script callback (rcv_requests and the method's counter).
        n.stats.count_request(ctx.msg.method());
        if let Some(id) = self.routes.request {
            let _ = self.program.run(id, &mut ctx);
        }
        if let Some(tm) = &self.tm {
            tm.script_end(&mut ctx);
        }
        drop(ctx);
        if let Some(port) = msg_net(|m| m.tcp_alias) {
            tcp_alias_from_via(n, ri, msg, Some(port));
        }
    }

    fn reply(
        &self,
        n: &Net,
        _ri: &ReceiveInfo,
        rcv: RecvInfo,
        msg: &mut Msg,
        ws: &mut WorkerState,
        server: &mut WireServer<'_>,
    ) {
        // kex's pre-script callbacks (rcv_replies, class, code, CSeq method); the CSeq was
        // parsed by the mandatory-header check, a cached read.
        let count = |msg: &Msg| {
            let cseq = msg.cseq().ok().map(|c| c.method);
            n.stats.count_reply(msg.status().unwrap_or(0), cseq);
        };
        if self.check_via {
            let mine = msg
                .via1()
                .map(|v| {
                    let host = v.host.of(msg.buf());
                    n.sockets.is_myself(host, v.port.unwrap_or(0), None)
                })
                .unwrap_or(false);
            if !mine {
                // Kamailio counts it (before its reply_route) and refuses it in forward_reply
                // without a drop count.
                count(msg);
                tracing::debug!("check_via: reply not for us, dropped");
                return;
            }
        }
        let Ok(mut ctx) = Ctx::new(msg, RouteType::CoreOnReply, rcv, ws, server) else {
            return;
        };
        self.set_log_prefix(&mut ctx);
        if !self.pre_routing(&mut ctx) {
            return; // Kamailio: before the counting callbacks, counted nowhere
        }
        count(ctx.msg);
        if let Some(out) = self.routes.reply.map(|id| self.program.run(id, &mut ctx)) {
            if out.dropped || (out.exited && out.rc == 0) {
                CoreStats::inc(&n.stats.drop_replies);
                return;
            }
        }
        // tm's transactions take their replies (Kamailio: the tm reply callback of forward_reply).
        if let Some(tm) = &self.tm {
            if ctx.routes.is_none() {
                ctx.routes = Some(self.program.runner());
            }
            if tm.on_reply(&mut ctx) {
                return;
            }
        }
        // The other modules' reply callbacks (Kamailio's `response_f`): usrloc's keepalives.
        if self
            .hooks
            .as_ref()
            .is_some_and(|h| h.reply_in(&*ctx.msg, &ctx.rcv))
        {
            return;
        }
        match relay_reply(&mut ctx, n, None) {
            Ok(()) => CoreStats::inc(&n.stats.fwd_replies),
            Err(e) => {
                CoreStats::inc(&n.stats.err_replies);
                tracing::debug!("reply not relayed: {e}");
            }
        }
    }

    /// `event_route[core:msg-received]` (Kamailio's `ksr_evrt_received`): runs on a faked
    /// message with the received bytes in `$rcv()`; returns the bytes to parse (`$rcv(buf)` may
    /// have rewritten them), `None` when the route dropped them (`drop`, or a negative value, as
    /// Kamailio's `receive_msg` treats `ret < 0`).
    fn msg_received(
        &self,
        id: RouteId,
        rcv: RecvInfo,
        data: &[u8],
        server: &mut WireServer<'_>,
    ) -> Option<Vec<u8>> {
        let received = RcvData {
            buf: data.to_vec(),
            event: RcvEvent::Message,
        };
        let out = self.run_on_faked(id, rcv, None, received, server)?;
        if out.0 {
            tracing::debug!("dropping the received message (core:msg-received)");
            return None;
        }
        Some(out.1)
    }

    /// `event_route[core:receive-parse-error]` (Kamailio's `sr_core_ert_run`): on the message
    /// when its first line parsed (its mandatory headers did not), else on a faked message; `$mb`
    /// and `$ml` are the bytes as received, `$si`/`$Ri`… the addresses. The message is dropped
    /// whatever the route does.
    fn parse_error(
        &self,
        id: RouteId,
        rcv: RecvInfo,
        msg: Option<Msg>,
        raw: Vec<u8>,
        server: &mut WireServer<'_>,
    ) {
        let received = RcvData {
            buf: raw,
            event: RcvEvent::ParseError,
        };
        let _ = self.run_on_faked(id, rcv, msg, received, server);
    }

    /// Runs an event route of the receive path with `received` in the context, on `msg` or
    /// Kamailio's faked OPTIONS; returns (dropped, the bytes afterwards).
    fn run_on_faked(
        &self,
        id: RouteId,
        rcv: RecvInfo,
        msg: Option<Msg>,
        received: RcvData,
        server: &mut WireServer<'_>,
    ) -> Option<(bool, Vec<u8>)> {
        let mut msg = match msg {
            Some(m) => m,
            None => Msg::parse(FAKED_MSG.as_bytes().to_vec()).ok()?,
        };
        // The faked message of msg-received has its own numbering in Kamailio (`msg_no` counts
        // received messages, including the ones that then fail to parse): `$mi` of the real
        // message must not move because of it.
        let faked = received.event == RcvEvent::Message;
        WORKER.with(|w| {
            let mut ws = w.try_borrow_mut().ok()?;
            let seq = ws.msg_seq;
            let mut ctx = Ctx::new(&mut msg, RouteType::Event, rcv, &mut ws, server).ok()?;
            ctx.state.received = Some(Box::new(received));
            let out = self.program.run(id, &mut ctx);
            let buf = ctx.state.received.take().map(|r| r.buf).unwrap_or_default();
            drop(ctx);
            if faked {
                ws.msg_seq = seq;
            }
            Some((out.dropped || out.rc < 0, buf))
        })
    }

    /// `event_route[core:pre-routing]`: `false` when it dropped the message.
    fn pre_routing(&self, ctx: &mut Ctx<'_>) -> bool {
        let Some(id) = self.routes.pre_routing else {
            return true;
        };
        let saved = ctx.route_type;
        ctx.route_type = RouteType::Event;
        let out = Some(self.program.run(id, ctx));
        ctx.route_type = saved;
        ctx.last_rc = 0;
        !out.is_some_and(|o| o.dropped || (o.exited && o.rc == 0))
    }
}

/// The blocks the receive path runs, resolved once.
#[derive(Debug, Clone, Copy)]
pub struct Routes {
    pub request: Option<RouteId>,
    pub reply: Option<RouteId>,
    pub pre_routing: Option<RouteId>,
    /// `event_route[core:msg-received]` (run when `received_route_mode=1`).
    pub msg_received: Option<RouteId>,
    /// `event_route[core:receive-parse-error]`.
    pub parse_error: Option<RouteId>,
}

impl Routes {
    pub fn of(p: &Program) -> Routes {
        use ferrosip_script::Entry;
        Routes {
            request: p.route(Entry::Request),
            reply: p.route(Entry::Reply),
            pre_routing: p.route(Entry::Event("core:pre-routing")),
            msg_received: p.route(Entry::Event("core:msg-received")),
            parse_error: p.route(Entry::Event("core:receive-parse-error")),
        }
    }
}

/// The message the receive events run on when there is no parsed one (Kamailio's
/// `FAKED_SIP_MSG`, so `$rm`, `$ci`… give what they give there).
const FAKED_MSG: &str = "OPTIONS sip:kamailio.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nFrom: <sip:server@kamailio.org>;tag=xyz\r\nTo: <sip:server@kamailio.org>\r\nCall-ID: aaa-bbb-ccc-ddd\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

/// A request whose version is not `SIP/2.0` (HTTP, or an unknown protocol): Kamailio hands it to
/// its non-SIP hooks instead of the SIP routes.
fn non_sip_request(m: &Msg) -> bool {
    m.request_line()
        .is_some_and(|rl| rl.proto != ferrosip_sipmsg::Proto::Sip)
}

/// Via, From, To, Call-ID and CSeq must be readable (Kamailio drops the message otherwise).
/// Kamailio's CSeq parser keeps the number as text (only `sanity` converts it), so an overlarge
/// number (RFC 4475 scalar02) passes here too: two tokens are enough.
fn mandatory_ok(m: &Msg) -> bool {
    m.via1().is_ok() && m.from().is_ok() && m.to().is_ok() && m.call_id().is_ok() && cseq_ok(m)
}

/// A header Kamailio parses while reading the headers (Via, To, CSeq) is there but cannot be
/// parsed: Kamailio 6.0 runs event_route[core:receive-parse-error] for that, not for a missing
/// header (its "required headers not found" check drops those silently) nor for a bad From or
/// Call-ID (parsed later, on use). Kamailio 5.6.3 runs it for a broken Via only (a bad To or CSeq
/// is logged as "parsing relevant headers failed" without the event).
fn broken(m: &Msg) -> bool {
    use ferrosip_sipmsg::HeaderKind as H;
    let present = |k| !matches!(m.header(k), Ok(None));
    m.headers().is_err()
        || (present(H::Via) && m.via1().is_err())
        || (present(H::To) && m.to().is_err())
        || (present(H::CSeq) && !cseq_two_tokens(m))
}

/// Kamailio's `parse_cseq` wants a number token and a method token, nothing more (the number is
/// not checked: `CSeq: x1 OPTIONS` passes there).
fn cseq_two_tokens(m: &Msg) -> bool {
    let Ok(Some(h)) = m.header(ferrosip_sipmsg::HeaderKind::CSeq) else {
        return false;
    };
    let v = h.value.of(m.buf());
    v.split(|b| b.is_ascii_whitespace())
        .filter(|t| !t.is_empty())
        .count()
        == 2
}

fn cseq_ok(m: &Msg) -> bool {
    if m.cseq().is_ok() {
        return true;
    }
    let Ok(Some(h)) = m.header(ferrosip_sipmsg::HeaderKind::CSeq) else {
        return false;
    };
    let v = h.value.of(m.buf());
    // Only the overflow case: a folded value (RFC 4475 wsinv) is left to the parser's verdict,
    // which matches Kamailio's silence for it.
    if v.iter().any(|b| matches!(b, b'\r' | b'\n')) {
        return false;
    }
    let mut tokens = v
        .split(|b| matches!(b, b' ' | b'\t'))
        .filter(|t| !t.is_empty());
    matches!(
        (tokens.next(), tokens.next(), tokens.next()),
        (Some(n), Some(_), None) if n.iter().all(u8::is_ascii_digit)
    )
}

fn message_span(msg: &Msg, ri: &ReceiveInfo) -> tracing::Span {
    let buf = msg.buf();
    let empty = ferrosip_sipmsg::Span::new(0, 0);
    let call_id = msg.call_id().unwrap_or(empty);
    let (cseq, method) = msg
        .cseq()
        .map(|c| (c.number_span, c.method_span))
        .unwrap_or((empty, empty));
    // Borrowed text (no allocation for UTF-8 header values): the span exists for every message.
    tracing::error_span!(
        "sip",
        call_id = %String::from_utf8_lossy(call_id.of(buf)),
        cseq = %String::from_utf8_lossy(cseq.of(buf)),
        method = %String::from_utf8_lossy(method.of(buf)),
        src = %format_args!("{}:{}", ri.proto, ri.src)
    )
}

/// Kamailio's `forward_reply`: the second Via's address (`received=`, `rport=` win), protocol of
/// that Via, sent from the socket `get_send_socket` picks; `status` replaces the code and reason
/// of the status line (sl's `sl_forward_reply`).
pub(crate) fn relay_reply(
    ctx: &mut Ctx<'_>,
    n: &Net,
    status: Option<(u16, &[u8])>,
) -> Result<(), String> {
    let (rcv_id, rcv_proto) = (ctx.rcv.socket, to_tproto(ctx.rcv.proto));
    let msg = &*ctx.msg;
    let buf = msg.buf();
    let via2 = msg
        .via2()
        .map_err(|e| e.to_string())?
        .copied()
        .ok_or("no second Via (a reply for us)")?;
    let host = match via2.received.and_then(|r| r.value) {
        Some(v) => v.of(buf),
        None => via2.host.of(buf),
    };
    let host = String::from_utf8_lossy(host)
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let rport = via2
        .rport
        .and_then(|r| r.value)
        .and_then(|v| std::str::from_utf8(v.of(buf)).ok()?.parse::<u16>().ok());
    let port = rport.or(via2.port).unwrap_or(SIP_PORT);
    let proto = match via2.transport {
        ViaTransport::Udp | ViaTransport::Other => TProto::Udp,
        ViaTransport::Tcp => TProto::Tcp,
        other => return Err(format!("reply over {other:?}: not implemented yet")),
    };
    let to = resolve(&host, port)?;
    let rcv_sock = n.sockets.get(rcv_id).ok_or("unknown receive socket")?;
    let snd = n
        .sockets
        .send_socket(proto, &to, Some(rcv_id))
        .ok_or_else(|| format!("no {proto} socket for {to}"))?;
    let rcv_info = rcv_sock.build_info();
    let sctx = SendContext {
        rcv_socket: Some(&rcv_info),
        rcv_proto: via_transport(rcv_proto),
        snd_socket: None,
        snd_proto: via_transport(proto),
        global_address: None,
        global_port: None,
    };
    let mut bytes = build::forward_reply(msg, &ctx.edits, &sctx).map_err(|e| e.to_string())?;
    if let Some((code, reason)) = status {
        let eol = bytes
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("no status line")?;
        let mut line = format!("SIP/2.0 {code} ").into_bytes();
        line.extend_from_slice(reason);
        bytes.splice(..eol, line);
    }
    let (snd_id, snd_local) = (snd.id, snd.local);
    // onsend_route_reply (Kamailio's forward_reply): the relayed reply passes onsend_route.
    let bytes = if n.wire.onsend_route_reply {
        let (keep, bytes) = crate::netcore::run_onsend(ctx, n, to, snd_local, proto, bytes);
        if !keep {
            return Err(format!(
                "reply to {}:{}({}) dropped (onsend_route)",
                to.ip(),
                to.port(),
                to_api_proto(proto).number()
            ));
        }
        bytes
    } else {
        bytes
    };
    let dst = Destination {
        proto,
        addr: to,
        socket: Some(SocketId(snd_id)),
        conn: None,
    };
    let opts = msg_net(|m| SendOptions {
        no_connect: m.forward_no_connect,
        close_after: m.forward_close,
    });
    let sent = n
        .handle
        .send(&dst, opts, &bytes)
        .map(drop)
        .map_err(|e| e.to_string());
    ferrosip_sipmsg::pool::give_bytes(bytes);
    sent
}

/// Registers `src_ip:port` as an alias of the connection the message came on: the Via's `alias`
/// port for `tcp_accept_aliases`, or the port given to `force_tcp_alias()` (0: the Via port).
fn tcp_alias_from_via(n: &Net, ri: &ReceiveInfo, msg: &Msg, forced: Option<u16>) {
    let Some(conn) = ri.conn else { return };
    let Ok(via) = msg.via1() else { return };
    if forced.is_none() && via.alias.is_none() {
        return;
    }
    let port = match forced {
        Some(p) if p != 0 => p,
        _ => via.port.unwrap_or(SIP_PORT),
    };
    let _ = n.handle.add_alias(conn, SocketAddr::new(ri.src.ip(), port));
}

/// The [`Server`] the script and the modules see while one message is processed.
pub struct WireServer<'a> {
    pub n: &'a Net,
    pub ri: ReceiveInfo,
    pub log: &'a crate::log::LogControl,
}

impl Server for WireServer<'_> {
    fn log_enabled(&self, level: i32) -> bool {
        level <= self.log.debug()
    }

    fn log(&mut self, level: i32, text: &str) {
        emit(level, text);
    }

    /// Replies (and whatever else modules send): the message's reply flags apply; with
    /// `reply_to_via` a reply to the message's source goes to its top Via's address instead.
    fn send(&mut self, dst: &Dest, bytes: &[u8]) -> Result<(), ApiError> {
        let proto = to_tproto(dst.proto);
        let mut addr = dst.addr;
        if self.n.wire.reply_to_via && addr == self.ri.src && proto == TProto::Udp {
            // The request is not reachable here; the module computed the source address, which
            // `reply_to_via` replaces by the Via's sent-by (resolved like any next hop).
            if let Some(via_addr) = via_addr_of_current() {
                addr = via_addr;
            }
        }
        let d = Destination {
            proto,
            addr,
            socket: Some(SocketId(dst.socket)),
            conn: if proto != TProto::Udp && addr == self.ri.src {
                self.ri.conn
            } else {
                None
            },
        };
        let opts = msg_net(|m| SendOptions {
            no_connect: m.reply_no_connect,
            close_after: m.reply_close,
        });
        self.n
            .handle
            .send(&d, opts, bytes)
            .map(drop)
            .map_err(|e| ApiError::Runtime(e.to_string()))
    }

    fn is_myself(&self, host: &[u8], port: u16, proto: Option<ferrosip_api::Proto>) -> bool {
        self.n.sockets.is_myself(host, port, proto.map(to_tproto))
    }

    fn conn_id(&self) -> Option<u64> {
        self.ri.conn.map(|c| c.0)
    }

    fn set_worker_log_level(&mut self, level: Option<i32>) -> bool {
        crate::log::set_thread_debug(level);
        true
    }

    fn sockets(&self) -> &[ferrosip_api::SocketInfo] {
        &self.n.api_sockets
    }

    fn core_params(&self) -> &ferrosip_api::CoreParams {
        &self.n.core_params
    }
}

thread_local! {
    /// Top Via sent-by of the message being processed, for `reply_to_via`.
    static VIA_ADDR: RefCell<Option<SocketAddr>> = const { RefCell::new(None) };
}

fn via_addr_of_current() -> Option<SocketAddr> {
    VIA_ADDR.with(|v| *v.borrow())
}

/// Records the top Via's sent-by for `reply_to_via` (only when the setting is on: it resolves).
pub fn note_via_addr(msg: &Msg) {
    let addr = msg.via1().ok().and_then(|v| {
        let host = String::from_utf8_lossy(v.host.of(msg.buf()))
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        resolve(&host, v.port.unwrap_or(SIP_PORT)).ok()
    });
    VIA_ADDR.with(|v| *v.borrow_mut() = addr);
}

/// One core log line at a Kamailio level.
pub fn emit(level: i32, text: &str) {
    let k = i64::from(level);
    let text = text.strip_suffix('\n').unwrap_or(text);
    if level <= ferrosip_api::L_ERR {
        tracing::event!(tracing::Level::ERROR, klevel = k, "{}", text);
    } else if level == ferrosip_api::L_WARN {
        tracing::event!(tracing::Level::WARN, klevel = k, "{}", text);
    } else if level <= ferrosip_api::L_INFO {
        tracing::event!(tracing::Level::INFO, klevel = k, "{}", text);
    } else {
        tracing::event!(tracing::Level::DEBUG, klevel = k, "{}", text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mandatory_headers() {
        let base = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@y>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let cases: &[(&str, bool)] = &[
            ("", true),
            ("Via: ", false),
            ("From: ", false),
            ("To: ", false),
            ("Call-ID: ", false),
            ("CSeq: ", false),
        ];
        let big = base.replace("CSeq: 1 OPTIONS", "CSeq: 36893488147419103232 OPTIONS");
        assert!(
            Msg::parse(big.into_bytes()).is_ok_and(|m| mandatory_ok(&m)),
            "overlarge CSeq kept"
        );
        let bad = base.replace("CSeq: 1 OPTIONS", "CSeq: x1 OPTIONS");
        assert!(
            !Msg::parse(bad.into_bytes()).is_ok_and(|m| mandatory_ok(&m)),
            "non-numeric CSeq"
        );
        for (drop_line, want) in cases {
            let text: String = if drop_line.is_empty() {
                base.to_string()
            } else {
                base.split("\r\n")
                    .filter(|l| !l.starts_with(drop_line))
                    .collect::<Vec<_>>()
                    .join("\r\n")
            };
            let ok = Msg::parse(text.into_bytes())
                .map(|m| mandatory_ok(&m))
                .unwrap_or(false);
            assert_eq!(ok, *want, "without {drop_line}");
        }
    }

    /// Which unusable messages run event_route[core:receive-parse-error] (Kamailio: a header it
    /// parses while reading the headers is broken) and which are dropped without it (missing
    /// headers, a bad From or Call-ID).
    #[test]
    fn parse_error_event_only_for_broken_headers() {
        let base = "OPTIONS sip:a@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\nFrom: <sip:b@x>;tag=1\r\nTo: <sip:a@y>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        let cases: &[(&str, &str, bool)] = &[
            ("", "", false),
            ("From: <sip:b@x>;tag=1\r\n", "", false),
            (
                "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n",
                "",
                false,
            ),
            (
                "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1",
                "Via: garbage here",
                true,
            ),
            ("To: <sip:a@y>", "To: <<sip:a@@>>;;;tag", true),
            ("CSeq: 1 OPTIONS", "CSeq: x1 OPTIONS", false),
            ("CSeq: 1 OPTIONS", "CSeq: 1 OPTIONS extra", true),
            ("CSeq: 1 OPTIONS", "CSeq: 1", true),
            ("From: <sip:b@x>;tag=1", "From: <<sip:b@@>>;;;tag", false),
        ];
        for (from, to, want) in cases {
            let text = base.replacen(from, to, 1);
            let m = Msg::parse(text.into_bytes()).expect("first line parses");
            assert_eq!(broken(&m), *want, "{from:?} -> {to:?}");
        }
    }
}
