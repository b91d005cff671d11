//! What the core offers modules that send requests on their own (tm): building a request as the
//! core's `forward()` would, with a Via branch the module chooses, and sending bytes again later
//! from a thread that is not processing a received message (tm's timer thread).
//!
//! The server implements [`Network`] over its sockets and provides it to modules at init as
//! [`NetworkApi`] (`InitCtx::api::<NetworkApi>()`); it is usable once the sockets are bound.

use std::sync::Arc;

use crate::ctx::{Ctx, Dest, Proto, Server};
use crate::Error;

/// One request to forward from the message in a [`Ctx`] (Kamailio's `t_send_branch` input): the
/// R-URI, `$du`, forced socket and edits are the context's; this says where and with which branch.
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardRequest<'a> {
    /// Explicit next hop `host`, `port` (0 = from the URI or 5060) — `t_relay("host", port)`;
    /// `None` = the context's `$du`, else its R-URI.
    pub host: Option<(&'a str, u16)>,
    /// Transport forced by the caller (`t_relay_to_tcp`); `None` = from the URI, else UDP.
    pub proto: Option<Proto>,
    /// Value of the `branch` parameter of our Via; `None` = the core's stateless branch (an e2e
    /// ACK relayed statelessly by tm).
    pub branch: Option<&'a [u8]>,
    /// Path vector inserted as Route headers (`lookup` with `use_path`).
    pub path: Option<&'a [u8]>,
}

/// What was sent (kept by tm for retransmissions, CANCEL and ACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    /// Where it went.
    pub dest: Dest,
    /// The bytes on the wire.
    pub bytes: Vec<u8>,
}

/// The message being sent, as `onsend_route` sees it (Kamailio's `onsend_info`): set in
/// [`crate::MsgState::sending`] while the route runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendInfo {
    /// Where it goes (`to_ip`/`to_port`, `$sndto(ip)`/`$sndto(port)`).
    pub to: std::net::SocketAddr,
    /// Address of the socket it leaves from (`snd_ip`/`snd_port`, `$sndfrom(...)`).
    pub from: std::net::SocketAddr,
    /// Protocol of that socket (`snd_proto`, `$snd(proto)`).
    pub proto: Proto,
    /// The bytes that will be sent (`$snd(buf)`, `msg:len` in onsend_route).
    pub buf: Vec<u8>,
}

/// Which receive event runs (Kamailio's `evtype` of `$rcv(evtype)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RcvEvent {
    /// `event_route[core:msg-received]` (`received_route_mode=1`): the buffer may be rewritten
    /// with `$rcv(buf)`; the receive path parses what is left.
    Message,
    /// `event_route[core:receive-parse-error]`: the buffer is read-only; `$rcv()` is `$null`
    /// there in Kamailio, only `$mb`/`$ml` read it.
    ParseError,
}

/// The received bytes during a receive event: set in [`crate::MsgState::received`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvData {
    /// The datagram or stream frame as received (or as rewritten by `$rcv(buf)`).
    pub buf: Vec<u8>,
    /// The event being run.
    pub event: RcvEvent,
}

/// The core's sending services for modules.
pub trait Network: Send + Sync {
    /// Builds the request of `ctx` for `req` (our Via first, `received`/`rport`, edits applied,
    /// `onsend_route` run), sends it and returns what was sent. `Err` when the next hop cannot be
    /// resolved, no socket fits, `onsend_route` dropped it or the send failed.
    fn forward(&self, ctx: &mut Ctx<'_>, req: &ForwardRequest<'_>) -> Result<Sent, Error>;

    /// Builds a request without sending it (CANCEL and ACK are built by tm; retransmissions reuse
    /// [`Sent::bytes`]): sends `bytes` to `dest`.
    fn send(&self, dest: &Dest, bytes: &[u8]) -> Result<(), Error>;

    /// A [`Server`] for running routes outside the processing of a received message (failure_route
    /// after a timeout on tm's timer thread): logging, sending, `myself`, sockets, core parameters.
    fn server(&self) -> Result<Box<dyn Server + '_>, Error>;

    /// The loaded program's route blocks, for modules that run an `event_route` outside a
    /// received message (htable's `mod-init` in child init, `expired:<table>` on the timer
    /// thread). `None` before the sockets are bound or from a server that does not offer it.
    fn routes(&self) -> Option<std::sync::Arc<dyn crate::RouteRunner>> {
        None
    }

    /// [`Network::send`] on connection `conn` ([`Server::conn_id`]) while it is open, else as
    /// `send` does (a connection to `dest`, or a new one) — usrloc's keepalives to contacts
    /// registered over TCP, as Kamailio sends them on the contact's `tcpconn_id`.
    fn send_conn(&self, dest: &Dest, _conn: u64, bytes: &[u8]) -> Result<(), Error> {
        self.send(dest, bytes)
    }

    /// Relays the reply in `ctx` statelessly, as the core does after `onreply_route` (Kamailio's
    /// `forward_reply`: our Via removed, sent to the next Via's address); `status` replaces the
    /// code and reason of the status line (sl's `sl_forward_reply`). `Err` when it cannot go.
    fn forward_reply(
        &self,
        _ctx: &mut Ctx<'_>,
        _status: Option<(u16, &[u8])>,
    ) -> Result<(), Error> {
        Err(Error::Runtime("this server cannot relay replies".into()))
    }

    /// Whether TCP/TLS/WS connection `id` ([`Server::conn_id`]) is still open; `None` from a
    /// server without connections (usrloc's `handle_lost_tcp` sweep).
    fn conn_alive(&self, _id: u64) -> Option<bool> {
        None
    }

    /// Closes connection `id` once its queued writes are out (usrloc's `close_expired_tcp`);
    /// `false` when it is not open.
    fn close_conn(&self, _id: u64) -> bool {
        false
    }
}

/// Called with a received reply that no transaction took and where it came from, before the core
/// relays it (Kamailio's module `response_f` callbacks in `forward_reply`); `true` takes it: it
/// is not relayed.
pub type ReplyInHook =
    Arc<dyn Fn(&ferrosip_sipmsg::Msg, &crate::ctx::RecvInfo) -> bool + Send + Sync>;

/// Called with the id of a TCP/TLS/WS connection that closed (Kamailio's TCP-closed event);
/// runs on the transport's runtime, so it must not block.
pub type ConnClosedHook = Arc<dyn Fn(u64) + Send + Sync>;

/// The receive-side hooks of modules that watch replies meant for them (usrloc's keepalives) and
/// connection closes (usrloc's `handle_lost_tcp`); get it with [`crate::InitCtx::net_hooks`].
/// The server runs them; a module that adds none costs nothing.
#[derive(Default)]
pub struct NetHooks {
    reply_in: std::sync::RwLock<Vec<ReplyInHook>>,
    closed: std::sync::RwLock<Vec<ConnClosedHook>>,
}

impl std::fmt::Debug for NetHooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetHooks")
    }
}

impl NetHooks {
    /// Adds a reply hook.
    pub fn add_reply_in(&self, hook: ReplyInHook) {
        match self.reply_in.write() {
            Ok(mut g) => g.push(hook),
            Err(p) => p.into_inner().push(hook),
        }
    }

    /// Adds a connection-closed hook.
    pub fn add_conn_closed(&self, hook: ConnClosedHook) {
        match self.closed.write() {
            Ok(mut g) => g.push(hook),
            Err(p) => p.into_inner().push(hook),
        }
    }

    /// Runs the reply hooks in the order they were added; `true` when one took the reply.
    pub fn reply_in(&self, reply: &ferrosip_sipmsg::Msg, rcv: &crate::ctx::RecvInfo) -> bool {
        let hooks = match self.reply_in.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        hooks.iter().any(|h| h(reply, rcv))
    }

    /// Runs the connection-closed hooks.
    pub fn conn_closed(&self, id: u64) {
        let hooks = match self.closed.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for h in hooks {
            h(id);
        }
    }
}

/// How modules get the [`Network`] at init (`InitCtx::api::<NetworkApi>()`).
#[derive(Clone)]
pub struct NetworkApi(pub Arc<dyn Network>);

impl std::fmt::Debug for NetworkApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NetworkApi")
    }
}

/// Called with every reply the server sends on its own or relays (Kamailio's "SIP reply out"
/// event, which dlgs follows).
pub type ReplyOutHook = Arc<dyn Fn(&ferrosip_sipmsg::Msg) + Send + Sync>;

/// The hooks for replies going out, shared by the modules that send replies (sl, tm) and those that
/// watch them (dlgs); get it with [`crate::InitCtx::reply_out`].
#[derive(Default)]
pub struct ReplyOut {
    hooks: std::sync::RwLock<Vec<ReplyOutHook>>,
    any: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for ReplyOut {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReplyOut")
    }
}

impl ReplyOut {
    /// Adds a hook.
    pub fn add(&self, hook: ReplyOutHook) {
        match self.hooks.write() {
            Ok(mut g) => g.push(hook),
            Err(p) => p.into_inner().push(hook),
        }
        self.any.store(true, std::sync::atomic::Ordering::Release);
    }

    /// True when some module watches replies (senders parse what they sent only then).
    pub fn wanted(&self) -> bool {
        self.any.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Runs every hook on a reply that was sent.
    pub fn run(&self, reply: &ferrosip_sipmsg::Msg) {
        let hooks = match self.hooks.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        for h in hooks {
            h(reply);
        }
    }

    /// Parses `bytes` and runs the hooks, when there are any.
    pub fn run_bytes(&self, bytes: &[u8]) {
        if self.wanted() {
            if let Ok(m) = ferrosip_sipmsg::Msg::parse(bytes.to_vec()) {
                self.run(&m);
            }
        }
    }
}

impl crate::InitCtx<'_> {
    /// The receive-side hooks shared by every module (created by the first caller).
    pub fn net_hooks(&mut self) -> Arc<NetHooks> {
        match self.api::<NetHooks>() {
            Some(r) => r,
            None => {
                let r = Arc::new(NetHooks::default());
                self.provide(Arc::clone(&r));
                r
            }
        }
    }

    /// The reply-out hooks shared by every module (created by the first caller).
    pub fn reply_out(&mut self) -> Arc<ReplyOut> {
        match self.api::<ReplyOut>() {
            Some(r) => r,
            None => {
                let r = Arc::new(ReplyOut::default());
                self.provide(Arc::clone(&r));
                r
            }
        }
    }
}
