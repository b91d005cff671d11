//! The network side of the core functions the script crate lists but cannot implement without
//! sockets: `forward*`, `force_send_socket`, `force_rport`/`add_rport`, `add_local_rport`,
//! `force_tcp_alias`/`add_tcp_alias`, `udp_mtu_try_proto`, `set_advertised_*`,
//! `set_{forward,reply}_{no_connect,close}`. [`install`] fills the handlers of the script's core
//! export table before the config is compiled; they reach the sockets through a [`NetCell`] that
//! the start-up path fills once the sockets are bound.
//!
//! `forward_tls`/`forward_sctp` behave as in a Kamailio without TLS/SCTP listeners (ferrosip has
//! neither; `enable_tls=yes` and such listeners are refused at start): Kamailio's "no
//! corresponding listening socket" error and `E_NO_SOCKET` (-7).
//!
//! Per-message network flags (send options, advertised address, forced rport) are the api's
//! `MsgState::net`: forwarding reads them from the message's state, so tm's routes on its timer
//! thread forward with the flags saved at `t_relay`. A thread-local mirror ([`MsgNet`], reset by
//! the receive path before each message) serves the paths that have no context.

use std::cell::RefCell;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{Arg, Handler};
use ferrosip_api::{
    Ctx, Dest, Error as ApiError, ForwardRequest, ModuleExports, Network, RetCode, RouteType, Sent,
};
use ferrosip_script::{Program, RouteId};
use ferrosip_sipmsg::build::{self, ForwardOptions, RecvInfo as BuildRecv, SendTarget};
use ferrosip_sipmsg::uri::Scheme;
use ferrosip_sipmsg::{Span, Uri};
use ferrosip_transport::{Destination, Proto as TProto, SendOptions, SocketStr, TransportHandle};

use crate::sockets::{via_transport, Sock, Sockets, SIP_PORT};
use crate::stats::CoreStats;
use crate::wirecfg::WireSettings;

/// Everything the network functions and the receive path share, frozen once the sockets are bound.
pub struct Net {
    pub sockets: Sockets,
    pub handle: TransportHandle,
    pub wire: WireSettings,
    pub stats: CoreStats,
    /// The compiled config (for `onsend_route`), set right after compiling.
    pub program: Arc<Program>,
    /// `onsend_route`, looked up once.
    pub onsend: Option<RouteId>,
    /// What `Server::core_params` returns ([`WireSettings::core_params`]).
    pub core_params: ferrosip_api::CoreParams,
    /// What `Server::sockets` returns: the bound sockets in `listen` order, indexed by their id.
    pub api_sockets: Vec<ferrosip_api::SocketInfo>,
    /// The log level control (for servers made outside a received message).
    pub log: crate::log::LogControl,
}

/// The core's [`Network`] for modules (tm): forwarding with a chosen branch, raw sends, and a
/// [`ferrosip_api::Server`] for routes run outside a received message.
pub struct CoreNetwork {
    pub cell: NetCell,
}

impl Network for CoreNetwork {
    fn forward(&self, ctx: &mut Ctx<'_>, req: &ForwardRequest<'_>) -> Result<Sent, ApiError> {
        let n = net(&self.cell)?;
        let hop = match req.host {
            Some((host, port)) => NextHop {
                host: host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_string(),
                port,
                proto: req.proto.map(to_tproto),
                secure: false,
            },
            None => {
                let uri: &[u8] = match &ctx.state.dst_uri {
                    Some(d) if !d.is_empty() => d,
                    _ => ctx.ruri_ref(),
                };
                let mut h = next_hop_from_uri(uri).map_err(ApiError::Runtime)?;
                if let Some(p) = req.proto {
                    h.proto = Some(to_tproto(p));
                }
                h
            }
        };
        match send_request(ctx, n, &hop, req.branch, req.path) {
            Ok((d, bytes)) => {
                CoreStats::inc(&n.stats.fwd_requests);
                Ok(Sent {
                    dest: Dest {
                        addr: d.addr,
                        proto: to_api_proto(d.proto),
                        socket: d.socket.map_or(0, |s| s.0),
                    },
                    bytes,
                })
            }
            Err(e) => {
                CoreStats::inc(&n.stats.err_requests);
                Err(ApiError::Runtime(e))
            }
        }
    }

    fn forward_reply(
        &self,
        ctx: &mut Ctx<'_>,
        status: Option<(u16, &[u8])>,
    ) -> Result<(), ApiError> {
        let n = net(&self.cell)?;
        match crate::recv::relay_reply(ctx, n, status) {
            Ok(()) => {
                CoreStats::inc(&n.stats.fwd_replies);
                Ok(())
            }
            Err(e) => {
                CoreStats::inc(&n.stats.err_replies);
                Err(ApiError::Runtime(e))
            }
        }
    }

    fn send(&self, dest: &Dest, bytes: &[u8]) -> Result<(), ApiError> {
        let n = net(&self.cell)?;
        let d = Destination {
            proto: to_tproto(dest.proto),
            addr: dest.addr,
            socket: Some(ferrosip_transport::SocketId(dest.socket)),
            conn: None,
        };
        n.handle
            .send(&d, SendOptions::default(), bytes)
            .map(drop)
            .map_err(|e| ApiError::Runtime(format!("send to {} failed: {e}", dest.addr)))
    }

    fn server(&self) -> Result<Box<dyn ferrosip_api::Server + '_>, ApiError> {
        let n = net(&self.cell)?;
        let local = n
            .sockets
            .socks
            .first()
            .map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |s| s.local);
        Ok(Box::new(crate::recv::WireServer {
            n,
            ri: ferrosip_transport::ReceiveInfo {
                src: local,
                dst: local,
                proto: TProto::Udp,
                socket: ferrosip_transport::SocketId(0),
                conn: None,
            },
            log: &n.log,
        }))
    }

    fn routes(&self) -> Option<Arc<dyn ferrosip_api::RouteRunner>> {
        self.cell.get().map(|n| n.program.runner())
    }

    fn send_conn(&self, dest: &Dest, conn: u64, bytes: &[u8]) -> Result<(), ApiError> {
        let n = net(&self.cell)?;
        let d = Destination {
            proto: to_tproto(dest.proto),
            addr: dest.addr,
            socket: Some(ferrosip_transport::SocketId(dest.socket)),
            conn: Some(ferrosip_transport::ConnId(conn)),
        };
        n.handle
            .send(&d, SendOptions::default(), bytes)
            .map(drop)
            .map_err(|e| ApiError::Runtime(format!("send to {} failed: {e}", dest.addr)))
    }

    fn conn_alive(&self, id: u64) -> Option<bool> {
        let n = self.cell.get()?;
        Some(
            n.handle
                .connection(ferrosip_transport::ConnId(id))
                .is_some(),
        )
    }

    fn close_conn(&self, id: u64) -> bool {
        self.cell
            .get()
            .is_some_and(|n| n.handle.close(ferrosip_transport::ConnId(id)).is_ok())
    }
}

/// Filled after binding; read by the handlers on the worker threads.
pub type NetCell = Arc<OnceLock<Net>>;

/// Per-message network flags: the api's [`ferrosip_api::NetFlags`], kept in the message's
/// `MsgState` (what forwarding reads, and what tm saves for its failure routes) and mirrored in a
/// thread-local for the paths that have no context: replies sent through [`Server::send`] and the
/// TCP alias added after the script.
///
/// [`Server::send`]: ferrosip_api::Server::send
pub type MsgNet = ferrosip_api::NetFlags;

thread_local! {
    static MSG_NET: RefCell<MsgNet> = RefCell::new(MsgNet::default());
}

/// Clears the per-message flags (called before each message).
pub fn reset_msg_net() {
    MSG_NET.with(|m| *m.borrow_mut() = MsgNet::default());
}

/// Reads the per-message flags.
pub fn msg_net<T>(f: impl FnOnce(&MsgNet) -> T) -> T {
    MSG_NET.with(|m| f(&m.borrow()))
}

fn set_msg_net(f: impl FnOnce(&mut MsgNet)) {
    MSG_NET.with(|m| f(&mut m.borrow_mut()));
}

/// Sets a flag in the message's state and in the thread-local mirror.
fn set_flags(ctx: &mut Ctx<'_>, f: impl Fn(&mut MsgNet)) {
    f(&mut ctx.state.net);
    set_msg_net(f);
}

/// Fills the handlers of the network functions in the script's core table.
/// The core's `exec("cmd")`, as Kamailio runs it: a NOTICE that it is the "dumb version", the
/// command through `/bin/sh -c` (what `system()` does) on this worker, a NOTICE with the wait
/// status when it is not 0, and always 1.
fn exec_fn(ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, ApiError> {
    use std::os::unix::process::ExitStatusExt as _;
    let cmd = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let cmd = String::from_utf8_lossy(&cmd).into_owned();
    ctx.log(
        ferrosip_api::L_NOTICE,
        &format!("exec(\"{cmd}\") not fully implemented, using dumb version..."),
    );
    let status = std::process::Command::new("/bin/sh")
        .arg("-c")
        .arg(&cmd)
        .status()
        .map_or(-1, |s| s.into_raw());
    if status != 0 {
        ctx.log(ferrosip_api::L_NOTICE, &format!("exec() returned {status}"));
    }
    Ok(RetCode::TRUE)
}

pub fn install(core: &mut ModuleExports, cell: &NetCell) {
    for f in core.functions.iter_mut() {
        let arity = f.params.len();
        let c = cell.clone();
        let h: Option<Handler> = match (f.name, arity) {
            ("forward", _) => Some(Arc::new(move |ctx: &mut Ctx<'_>, a: &[Arg]| {
                forward_fn(ctx, a, &c, None)
            })),
            ("forward_udp", _) => Some(Arc::new(move |ctx: &mut Ctx<'_>, a: &[Arg]| {
                forward_fn(ctx, a, &c, Some(TProto::Udp))
            })),
            ("forward_tcp", _) => Some(Arc::new(move |ctx: &mut Ctx<'_>, a: &[Arg]| {
                forward_fn(ctx, a, &c, Some(TProto::Tcp))
            })),
            ("forward_tls", _) => Some(Arc::new(move |ctx: &mut Ctx<'_>, a: &[Arg]| {
                forward_no_socket(ctx, a, &c, TProto::Tls)
            })),
            ("forward_sctp", _) => Some(Arc::new(move |ctx: &mut Ctx<'_>, a: &[Arg]| {
                forward_no_socket(ctx, a, &c, TProto::Sctp)
            })),
            ("force_send_socket", 1) => Some(Arc::new(move |ctx: &mut Ctx<'_>, a: &[Arg]| {
                force_send_socket(ctx, a, &c)
            })),
            ("force_rport" | "add_rport", 0) => Some(Arc::new(|ctx: &mut Ctx<'_>, _a: &[Arg]| {
                // Both places: the api's flag is what sl and tm read for the reply port.
                ctx.state.msg_flags |= ferrosip_api::ctx::FL_FORCE_RPORT;
                set_flags(ctx, |m| m.force_rport = true);
                Ok(RetCode::TRUE)
            })),
            ("add_local_rport", 0) => Some(Arc::new(|ctx: &mut Ctx<'_>, _a: &[Arg]| {
                ctx.state.msg_flags |= ferrosip_api::ctx::FL_ADD_LOCAL_RPORT;
                set_flags(ctx, |m| m.add_local_rport = true);
                Ok(RetCode::TRUE)
            })),
            ("exec", 1) => Some(Arc::new(|ctx: &mut Ctx<'_>, a: &[Arg]| exec_fn(ctx, a))),
            ("set_forward_no_connect", 0) => flag(|m| m.forward_no_connect = true),
            ("set_reply_no_connect", 0) => flag(|m| m.reply_no_connect = true),
            ("set_forward_close", 0) => flag(|m| m.forward_close = true),
            ("set_reply_close", 0) => flag(|m| m.reply_close = true),
            ("force_tcp_alias" | "add_tcp_alias", _) => {
                Some(Arc::new(|ctx: &mut Ctx<'_>, a: &[Arg]| {
                    let port = match a.first() {
                        Some(x) => u16::try_from(x.int(ctx)?)
                            .map_err(|_| ApiError::Runtime("bad alias port".into()))?,
                        None => 0,
                    };
                    if ctx.rcv.proto == ferrosip_api::Proto::Udp {
                        return Ok(RetCode::FALSE);
                    }
                    set_flags(ctx, |m| m.tcp_alias = Some(port));
                    Ok(RetCode::TRUE)
                }))
            }
            ("udp_mtu_try_proto", 1) => Some(Arc::new(|ctx: &mut Ctx<'_>, a: &[Arg]| {
                let p = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                let proto = std::str::from_utf8(&p)
                    .ok()
                    .and_then(TProto::parse)
                    .filter(|p| p.is_implemented())
                    .ok_or_else(|| ApiError::Runtime("udp_mtu_try_proto: bad protocol".into()))?;
                set_flags(ctx, |m| m.udp_mtu_proto = Some(to_api_proto(proto)));
                Ok(RetCode::TRUE)
            })),
            ("set_advertised_address", 1) => Some(Arc::new(|ctx: &mut Ctx<'_>, a: &[Arg]| {
                let v = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                let s = String::from_utf8_lossy(&v).into_owned();
                set_flags(ctx, |m| m.adv_address = Some(s.clone()));
                Ok(RetCode::TRUE)
            })),
            ("set_advertised_port", 1) => Some(Arc::new(|ctx: &mut Ctx<'_>, a: &[Arg]| {
                let v = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                let p = u16::try_from(v)
                    .map_err(|_| ApiError::Runtime("set_advertised_port: bad port".into()))?;
                let p = p.to_string();
                set_flags(ctx, |m| m.adv_port = Some(p.clone()));
                Ok(RetCode::TRUE)
            })),
            _ => None,
        };
        if h.is_some() {
            f.handler = h;
        }
    }
}

fn flag(set: fn(&mut MsgNet)) -> Option<Handler> {
    Some(Arc::new(move |ctx: &mut Ctx<'_>, _a: &[Arg]| {
        set_flags(ctx, set);
        Ok(RetCode::TRUE)
    }))
}

fn net(cell: &NetCell) -> Result<&Net, ApiError> {
    cell.get()
        .ok_or_else(|| ApiError::Runtime("no sockets bound yet".into()))
}

fn force_send_socket(ctx: &mut Ctx<'_>, a: &[Arg], cell: &NetCell) -> Result<RetCode, ApiError> {
    let n = net(cell)?;
    let text = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let text = String::from_utf8_lossy(&text).into_owned();
    let s = SocketStr::parse(&text).map_err(|e| ApiError::Runtime(e.to_string()))?;
    let ip: Option<IpAddr> = s.host.parse().ok();
    let found = n.sockets.socks.iter().find(|k| {
        s.proto.is_none_or(|p| p == k.proto)
            && s.port.is_none_or(|p| p == k.local.port())
            && match ip {
                Some(ip) => k.local.ip() == ip,
                None => k.adv_host.as_deref() == Some(s.host.as_str()),
            }
    });
    match found {
        Some(k) => {
            ctx.state.force_socket = Some(k.id);
            Ok(RetCode::TRUE)
        }
        None => {
            ctx.log_error(&format!(
                "force_send_socket: no socket found to match [{text}]"
            ));
            Ok(RetCode::FALSE)
        }
    }
}

/// Where a request goes: host text (IPv6 without brackets), port (0 = default), protocol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NextHop {
    pub host: String,
    pub port: u16,
    pub proto: Option<TProto>,
    pub secure: bool,
}

/// Kamailio's `forward()` destination from a URI (`$du` or the R-URI): host, port, `transport=`;
/// `sips:` asks for TLS.
pub fn next_hop_from_uri(uri: &[u8]) -> Result<NextHop, String> {
    let u = Uri::parse(uri, Span::new(0, uri.len())).map_err(|e| format!("bad uri: {e}"))?;
    let host = String::from_utf8_lossy(u.host.of(uri))
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    if host.is_empty() {
        return Err("bad uri: no host".into());
    }
    let proto = match u.transport.and_then(|t| t.value) {
        Some(v) => {
            let t = String::from_utf8_lossy(v.of(uri)).to_ascii_lowercase();
            Some(TProto::parse(&t).ok_or_else(|| format!("bad uri transport {t}"))?)
        }
        None => None,
    };
    Ok(NextHop {
        host,
        port: u.port.unwrap_or(0),
        proto,
        secure: matches!(u.scheme, Scheme::Sips),
    })
}

/// Resolves a host with the system resolver (IP literals as they are); IPv4 answers first, as
/// Kamailio with `dns_try_ipv6=no` asks only for A records when a name has both.
pub fn resolve(host: &str, port: u16) -> Result<SocketAddr, String> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or(addrs.first())
        .copied()
        .ok_or_else(|| format!("cannot resolve {host}"))
}

fn forward_fn(
    ctx: &mut Ctx<'_>,
    a: &[Arg],
    cell: &NetCell,
    proto: Option<TProto>,
) -> Result<RetCode, ApiError> {
    let n = net(cell)?;
    if !ctx.msg.is_request() {
        return Err(ApiError::Runtime("forward: not a request".into()));
    }
    let hop = match a.first() {
        None => {
            let uri: &[u8] = match &ctx.state.dst_uri {
                Some(d) if !d.is_empty() => d,
                _ => ctx.ruri_ref(),
            };
            let mut h = next_hop_from_uri(uri)
                .map_err(|e| ApiError::Runtime(format!("forward: {e} - dropping packet")))?;
            if let Some(p) = proto {
                h.proto = Some(p);
            }
            h
        }
        Some(_) => {
            let (host, port) = host_port_args(ctx, a)?;
            NextHop {
                host,
                port,
                // forward(host[, port]) keeps the received protocol (Kamailio's FORWARD_T).
                proto: Some(proto.unwrap_or(to_tproto(ctx.rcv.proto))),
                secure: false,
            }
        }
    };
    let rc = forward_to(ctx, n, &hop);
    match rc {
        Ok(()) => {
            CoreStats::inc(&n.stats.fwd_requests);
            Ok(RetCode::TRUE)
        }
        Err(e) => {
            CoreStats::inc(&n.stats.err_requests);
            if e != ONSEND_DROPPED {
                ctx.log_error(&format!("forward: {e}"));
            }
            Ok(RetCode::FALSE)
        }
    }
}

/// The `host[, port]` parameters of the `forward*` functions: the host without IPv6 brackets, the
/// port (0 when not given).
fn host_port_args(ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<(String, u16), ApiError> {
    let host = match a.first() {
        Some(x) => String::from_utf8_lossy(&x.bytes(ctx)).into_owned(),
        None => return Err(ApiError::Runtime("forward: no destination".into())),
    };
    let port = match a.get(1) {
        Some(p) => {
            u16::try_from(p.int(ctx)?).map_err(|_| ApiError::Runtime("forward: bad port".into()))?
        }
        None => 0,
    };
    Ok((
        host.trim_start_matches('[')
            .trim_end_matches(']')
            .to_string(),
        port,
    ))
}

/// Kamailio's `E_NO_SOCKET`: what its forward functions return when no listening socket has the
/// protocol asked for.
const E_NO_SOCKET: i64 = -7;

/// `forward_tls(host[, port])` / `forward_sctp(host[, port])`: ferrosip listens on neither
/// protocol, so — as Kamailio without such a listener — the destination is resolved, then the
/// forward fails for want of a socket.
fn forward_no_socket(
    ctx: &mut Ctx<'_>,
    a: &[Arg],
    cell: &NetCell,
    proto: TProto,
) -> Result<RetCode, ApiError> {
    let n = net(cell)?;
    let (host, port) = host_port_args(ctx, a)?;
    let port = if port == 0 { SIP_PORT } else { port };
    CoreStats::inc(&n.stats.err_requests);
    match resolve(&host, port) {
        Ok(to) => {
            let af = if to.is_ipv4() { 2 } else { 10 };
            ctx.log_error(&format!(
                "forward_request(): cannot forward to af {af}, proto {} no corresponding listening socket",
                to_api_proto(proto).number()
            ));
            Ok(RetCode(E_NO_SOCKET))
        }
        Err(e) => {
            ctx.log_error(&format!("forward: {e}"));
            Ok(RetCode::FALSE)
        }
    }
}

/// Builds and sends the request to `hop` (Kamailio's `forward_request`).
pub fn forward_to(ctx: &mut Ctx<'_>, n: &Net, hop: &NextHop) -> Result<(), String> {
    send_request(ctx, n, hop, None, None).map(|(_, bytes)| ferrosip_sipmsg::pool::give_bytes(bytes))
}

/// [`forward_to`] with the Via branch given (tm) or computed (`None`: Kamailio's stateless branch)
/// and an optional path; returns the destination and the bytes sent.
pub fn send_request(
    ctx: &mut Ctx<'_>,
    n: &Net,
    hop: &NextHop,
    branch: Option<&[u8]>,
    path: Option<&[u8]>,
) -> Result<(Destination, Vec<u8>), String> {
    let mut proto = match (hop.proto, hop.secure) {
        (Some(TProto::Udp), true) => return Err("secure uri incompatible with udp".into()),
        (_, true) | (Some(TProto::Tls), _) => return Err("tls is not implemented yet".into()),
        (Some(p), false) => p,
        (None, false) => TProto::Udp,
    };
    if !proto.is_implemented() {
        return Err(format!("{proto} is not implemented yet"));
    }
    let port = if hop.port == 0 { SIP_PORT } else { hop.port };
    let to = resolve(&hop.host, port)?;
    // The message's own flags (on tm's timer thread, those saved with the transaction).
    let flags = ctx.state.net.clone();
    let mut buf = build_request(ctx, n, proto, &to, &flags, branch, path)?;
    // udp_mtu: a UDP request bigger than the MTU goes over udp_mtu_try_proto instead.
    if proto == TProto::Udp && n.wire.udp_mtu > 0 && buf.1.len() > n.wire.udp_mtu {
        let alt = flags.udp_mtu_proto.map(to_tproto).or_else(|| {
            n.wire
                .udp_mtu_try_proto
                .as_deref()
                .and_then(TProto::parse)
                .filter(|p| p.is_implemented())
        });
        if let Some(p) = alt.filter(|p| *p != TProto::Udp) {
            proto = p;
            buf = build_request(ctx, n, proto, &to, &flags, branch, path)?;
        }
    }
    let (sock_id, bytes) = buf;
    let from = n.sockets.get(sock_id).map_or(to, |s| s.local);
    let (keep, bytes) = run_onsend(ctx, n, to, from, proto, bytes);
    if !keep {
        // Kamailio's forward_request: an INFO line, not an error (the forward still fails).
        ctx.log(
            ferrosip_api::L_INFO,
            &format!(
                "request to {}:{}({}) dropped (onsend_route)",
                to.ip(),
                to.port(),
                to_api_proto(proto).number()
            ),
        );
        return Err(ONSEND_DROPPED.into());
    }
    let dst = Destination {
        proto,
        addr: to,
        socket: Some(ferrosip_transport::SocketId(sock_id)),
        conn: None,
    };
    let opts = SendOptions {
        no_connect: flags.forward_no_connect,
        close_after: flags.forward_close,
    };
    n.handle
        .send(&dst, opts, &bytes)
        .map_err(|e| format!("send to {to} failed: {e}"))?;
    Ok((dst, bytes))
}

fn build_request(
    ctx: &Ctx<'_>,
    n: &Net,
    proto: TProto,
    to: &SocketAddr,
    flags: &MsgNet,
    branch: Option<&[u8]>,
    path: Option<&[u8]>,
) -> Result<(u32, Vec<u8>), String> {
    let snd: &Sock = match ctx.state.force_socket.and_then(|id| n.sockets.get(id)) {
        Some(s) => s,
        None => n
            .sockets
            .send_socket(proto, to, Some(ctx.rcv.socket))
            .ok_or_else(|| format!("no {proto} socket for {to}"))?,
    };
    let rcv_sock = n
        .sockets
        .get(ctx.rcv.socket)
        .ok_or("unknown receive socket")?;
    let rcv_info = rcv_sock.build_info();
    let snd_info = snd.build_info();
    let rcv = BuildRecv {
        src_ip: ctx.rcv.src.ip(),
        src_port: ctx.rcv.src.port(),
        socket: &rcv_info,
        proto: via_transport(rcv_sock.proto),
        // Our Via's `i=` on a request that came over TCP (Kamailio's connection id).
        conn_id: ctx
            .server
            .conn_id()
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(0),
    };
    let target = SendTarget {
        socket: &snd_info,
        proto: via_transport(proto),
    };
    let opts = ForwardOptions {
        new_ruri: ctx.state.new_uri.as_deref(),
        branch_index: 0,
        force_rport: flags.force_rport
            || n.wire.force_rport
            || ctx.state.msg_flags & ferrosip_api::ctx::FL_FORCE_RPORT != 0,
        no_received: false,
        add_local_rport: flags.add_local_rport
            || n.wire.add_local_rport
            || ctx.state.msg_flags & ferrosip_api::ctx::FL_ADD_LOCAL_RPORT != 0,
        path,
        via_host: flags.adv_address.as_deref(),
        via_port: flags.adv_port.as_deref(),
    };
    let out = match branch {
        Some(b) => build::forward_request_with_branch(ctx.msg, &ctx.edits, &rcv, &target, &opts, b),
        None => build::forward_request(ctx.msg, &ctx.edits, &rcv, &target, &opts),
    }
    .map_err(|e| format!("building the request failed: {e}"))?;
    Ok((snd.id, out))
}

/// The error of a send that `onsend_route` dropped (already logged at INFO, as Kamailio does).
pub const ONSEND_DROPPED: &str = "dropped in onsend_route";

/// Runs `onsend_route` (when the config has one) on the message about to be sent, with the send
/// info (`snd_*`/`to_*`, `$snd()`) in the context; `false` when it dropped the message. The
/// bytes come back unchanged: what the route does to the message no longer reaches them
/// (Kamailio builds the buffer before onsend_route too).
pub fn run_onsend(
    ctx: &mut Ctx<'_>,
    n: &Net,
    to: SocketAddr,
    from: SocketAddr,
    proto: TProto,
    bytes: Vec<u8>,
) -> (bool, Vec<u8>) {
    let Some(id) = n.onsend else {
        return (true, bytes);
    };
    let saved = ctx.route_type;
    let saved_rc = ctx.last_rc;
    let outer = ctx.state.sending.replace(Box::new(ferrosip_api::SendInfo {
        to,
        from,
        proto: to_api_proto(proto),
        buf: bytes,
    }));
    ctx.route_type = RouteType::OnSend;
    let out = n.program.run(id, ctx);
    ctx.route_type = saved;
    ctx.last_rc = saved_rc;
    let info = std::mem::replace(&mut ctx.state.sending, outer);
    let bytes = info.map(|i| i.buf).unwrap_or_default();
    (!(out.dropped || (out.exited && out.rc == 0)), bytes)
}

/// The api's protocol as the transport names it.
pub fn to_tproto(p: ferrosip_api::Proto) -> TProto {
    match p {
        ferrosip_api::Proto::Udp => TProto::Udp,
        ferrosip_api::Proto::Tcp => TProto::Tcp,
        ferrosip_api::Proto::Tls => TProto::Tls,
        ferrosip_api::Proto::Sctp => TProto::Sctp,
        ferrosip_api::Proto::Ws => TProto::Ws,
        ferrosip_api::Proto::Wss => TProto::Wss,
    }
}

/// The transport's protocol as the api names it.
pub fn to_api_proto(p: TProto) -> ferrosip_api::Proto {
    match p {
        TProto::Udp => ferrosip_api::Proto::Udp,
        TProto::Tcp => ferrosip_api::Proto::Tcp,
        TProto::Tls => ferrosip_api::Proto::Tls,
        TProto::Sctp => ferrosip_api::Proto::Sctp,
        TProto::Ws => ferrosip_api::Proto::Ws,
        TProto::Wss => ferrosip_api::Proto::Wss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_hops() {
        let hop = |h: &str, port, proto, secure| {
            Ok::<_, ()>(NextHop {
                host: h.into(),
                port,
                proto,
                secure,
            })
        };
        let cases: &[(&str, Result<NextHop, ()>)] = &[
            ("sip:alice@127.0.0.1", hop("127.0.0.1", 0, None, false)),
            (
                "sip:bob@example.com:5070;transport=TCP",
                hop("example.com", 5070, Some(TProto::Tcp), false),
            ),
            ("sip:[::1]:5062", hop("::1", 5062, None, false)),
            ("sips:x@example.com", hop("example.com", 0, None, true)),
            ("sip:x@h;transport=foo", Err(())),
            ("nonsense", Err(())),
        ];
        for (u, want) in cases {
            assert_eq!(
                &next_hop_from_uri(u.as_bytes()).map_err(|_| ()),
                want,
                "{u}"
            );
        }
        assert_eq!(
            resolve("127.0.0.1", 5060),
            Ok("127.0.0.1:5060"
                .parse()
                .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))))
        );
        assert_eq!(resolve("localhost", 7).map(|a| a.port()), Ok(7));
        assert!(resolve("no-such-host.invalid", 5060).is_err());
    }

    #[test]
    fn message_flags_are_per_thread_and_reset() {
        set_msg_net(|m| m.forward_close = true);
        assert!(msg_net(|m| m.forward_close));
        let other = std::thread::spawn(|| msg_net(|m| m.forward_close)).join();
        assert_eq!(other.ok(), Some(false));
        reset_msg_net();
        assert!(!msg_net(|m| m.forward_close));
    }
}
