//! [`Transport`]: binds the listeners, runs the receiver threads and the TCP runtime, stops them.
//! [`TransportHandle`]: the cloneable send side (and connection table queries) used by workers.

use std::net::{SocketAddr, UdpSocket};
use std::os::fd::AsRawFd as _;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::config::TransportConfig;
use crate::conn::{Cmd, ConnInfo, ConnState, ConnTable, Direction, Entry};
use crate::error::Error;
use crate::spec::{
    ConnId, Destination, ListenSpec, Proto, ReceiveInfo, SendOptions, Sent, SocketId, SocketInfo,
};
use crate::stats::{Stats, StatsSnapshot};
use crate::{tcp, udp};

/// The handler every worker calls for every received message, on the worker's own thread.
pub type Handler = dyn Fn(&ReceiveInfo, &[u8]) + Send + Sync;

/// Called with the id of every connection that closes (usrloc's `handle_lost_tcp`), on the
/// runtime: it must not block.
pub type CloseHook = dyn Fn(ConnId) + Send + Sync;

/// A message framed by a connection task, waiting for a TCP worker.
pub(crate) struct TcpJob {
    pub ri: ReceiveInfo,
    pub msg: Vec<u8>,
}

/// State shared by the owner, the handles, the threads and the tasks.
pub(crate) struct Shared {
    pub cfg: TransportConfig,
    pub stats: Stats,
    pub sockets: Vec<SocketInfo>,
    /// UDP sockets by `SocketId` index (`None` for other protocols and after shutdown).
    udp: RwLock<Vec<Option<Arc<UdpSocket>>>>,
    pub conns: Mutex<ConnTable>,
    next_conn: AtomicU64,
    pub cancel: CancellationToken,
    pub stopped: AtomicBool,
    /// One queue per TCP worker; emptied at shutdown so the workers see the end.
    queues: RwLock<Vec<mpsc::Sender<TcpJob>>>,
    /// Spawns connects from worker threads. Cleared at shutdown: a handle keeps the runtime's
    /// epoll and eventfd descriptors open.
    rt: RwLock<Option<tokio::runtime::Handle>>,
    /// Told about every connection that closes ([`Transport::on_close`]).
    pub on_close: RwLock<Option<Arc<CloseHook>>>,
}

impl Shared {
    pub fn next_conn_id(&self) -> ConnId {
        ConnId(self.next_conn.fetch_add(1, Ordering::Relaxed))
    }

    /// The queue of the worker that handles connection `id` (same worker for its whole life).
    pub fn worker_queue(&self, id: ConnId) -> Option<mpsc::Sender<TcpJob>> {
        let q = self.queues.read().unwrap_or_else(|e| e.into_inner());
        if q.is_empty() {
            return None;
        }
        let i = (id.0 % q.len() as u64) as usize;
        q.get(i).cloned()
    }
}

/// The running transport layer. Dropping it stops everything (with a 2 s bound); prefer
/// [`Transport::join`] to learn whether every thread stopped in time.
pub struct Transport {
    shared: Arc<Shared>,
    runtime: Option<tokio::runtime::Runtime>,
    tcp_listeners: Vec<(SocketId, std::net::TcpListener)>,
    tcp_rx: Vec<mpsc::Receiver<TcpJob>>,
    udp_threads: Vec<(String, JoinHandle<()>)>,
    tcp_threads: Vec<(String, JoinHandle<()>)>,
    started: bool,
}

impl Transport {
    /// Binds every listener. Nothing receives until [`Transport::start`]; sending works at once.
    ///
    /// Protocols other than udp and tcp are refused. With `disable_tcp` TCP listeners are skipped
    /// (logged), as Kamailio does.
    pub fn bind(cfg: TransportConfig, specs: &[ListenSpec]) -> Result<Transport, Error> {
        cfg.validate()?;
        if let Some(s) = specs.iter().find(|s| !s.proto.is_implemented()) {
            return Err(Error::ProtoNotSupported(s.proto));
        }
        let mut sockets = Vec::new();
        let mut udp_socks = Vec::new();
        let mut tcp_listeners = Vec::new();
        for spec in specs {
            let id = SocketId(sockets.len() as u32);
            let local = match spec.proto {
                Proto::Udp => {
                    let s = udp::bind(
                        spec.bind_addr(),
                        cfg.maxbuffer,
                        cfg.udp_poll_interval,
                        cfg.tos,
                    )?;
                    let local = s.local_addr().map_err(|e| Error::io("getsockname", e))?;
                    udp_socks.push(Some(Arc::new(s)));
                    local
                }
                Proto::Tcp if cfg.disable_tcp => {
                    tracing::warn!(addr = %spec.bind_addr(), "disable_tcp: tcp listener not opened");
                    continue;
                }
                Proto::Tcp => {
                    let l = tcp::bind(spec.bind_addr(), cfg.tos, &cfg.tcp_keepalive)?;
                    let local = l.local_addr().map_err(|e| Error::io("getsockname", e))?;
                    tcp_listeners.push((id, l));
                    udp_socks.push(None);
                    local
                }
                other => return Err(Error::ProtoNotSupported(other)),
            };
            sockets.push(SocketInfo {
                id,
                spec: spec.clone(),
                local,
            });
        }
        let runtime = if cfg.disable_tcp {
            None
        } else {
            Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(cfg.io_threads)
                    .thread_name("fs-tcp-io")
                    .enable_all()
                    .build()
                    .map_err(|e| Error::io("tokio runtime", e))?,
            )
        };
        let (queues, tcp_rx): (Vec<_>, Vec<_>) = (0..cfg.tcp_children)
            .map(|_| mpsc::channel(cfg.tcp_worker_queue))
            .unzip();
        let shared = Arc::new(Shared {
            rt: RwLock::new(runtime.as_ref().map(|r| r.handle().clone())),
            cfg,
            stats: Stats::default(),
            sockets,
            udp: RwLock::new(udp_socks),
            conns: Mutex::new(ConnTable::default()),
            next_conn: AtomicU64::new(1),
            on_close: RwLock::new(None),
            cancel: CancellationToken::new(),
            stopped: AtomicBool::new(false),
            queues: RwLock::new(queues),
        });
        Ok(Transport {
            shared,
            runtime,
            tcp_listeners,
            tcp_rx,
            udp_threads: Vec::new(),
            tcp_threads: Vec::new(),
            started: false,
        })
    }

    /// The bound sockets, indexed by `SocketId`.
    pub fn sockets(&self) -> &[SocketInfo] {
        &self.shared.sockets
    }

    /// A cloneable handle for sending and for connection-table queries.
    pub fn handle(&self) -> TransportHandle {
        TransportHandle {
            shared: self.shared.clone(),
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// Calls `hook` with the id of every TCP/TLS/WS connection that closes, whoever closed it
    /// (Kamailio's TCP-closed event). Set before [`Transport::start`].
    pub fn on_close<F>(&self, hook: F)
    where
        F: Fn(ConnId) + Send + Sync + 'static,
    {
        let mut g = self
            .shared
            .on_close
            .write()
            .unwrap_or_else(|e| e.into_inner());
        *g = Some(Arc::new(hook));
    }

    /// Starts the UDP receivers (`children` or the socket's `workers` each), the `tcp_children`
    /// workers and the accept loops. `handler` runs on those threads, never on the runtime.
    pub fn start<H>(&mut self, handler: H) -> Result<(), Error>
    where
        H: Fn(&ReceiveInfo, &[u8]) + Send + Sync + 'static,
    {
        if self.started {
            return Err(Error::AlreadyStarted);
        }
        self.started = true;
        let handler: Arc<Handler> = Arc::new(handler);
        let cfg = &self.shared.cfg;
        let udp_socks = self
            .shared
            .udp
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        for (info, sock) in self.shared.sockets.iter().zip(udp_socks) {
            let Some(sock) = sock else { continue };
            for n in 0..info.spec.workers.unwrap_or(cfg.children).max(1) {
                let name = format!("fs-udp{}-{}", info.id.0, n);
                let (shared, sock, handler) = (self.shared.clone(), sock.clone(), handler.clone());
                let (id, local, batch) = (info.id, info.local, cfg.udp_batch);
                let h = spawn(&name, move || {
                    udp::Receiver {
                        sock: &sock,
                        id,
                        local,
                        stats: &shared.stats,
                        stop: &shared.stopped,
                    }
                    .run(batch, &*handler)
                })?;
                self.udp_threads.push((name, h));
            }
        }
        for (n, mut rx) in self.tcp_rx.drain(..).enumerate() {
            let name = format!("fs-tcpw-{n}");
            let (shared, handler) = (self.shared.clone(), handler.clone());
            let h = spawn(&name, move || {
                while let Some(job) = rx.blocking_recv() {
                    if catch_unwind(AssertUnwindSafe(|| handler(&job.ri, &job.msg))).is_err() {
                        Stats::inc(&shared.stats.handler_panics);
                    }
                }
            })?;
            self.tcp_threads.push((name, h));
        }
        if let Some(rt) = &self.runtime {
            for (id, l) in self.tcp_listeners.drain(..) {
                let _guard = rt.enter();
                let l = tokio::net::TcpListener::from_std(l).map_err(|e| Error::io("listen", e))?;
                rt.spawn(tcp::accept_loop(self.shared.clone(), l, id));
            }
        }
        Ok(())
    }

    /// Asks every thread and task to stop; returns at once. See [`Transport::join`].
    pub fn shutdown(&self) {
        self.shared.stopped.store(true, Ordering::Relaxed);
        self.shared.cancel.cancel();
        // Receivers blocked in recvmmsg wake at once (Linux returns 0 on a UDP socket whose
        // reading side is shut down) instead of at their next udp_poll_interval: a server that
        // is stopped and started again right away (kamailio-tests do) finds the old one gone.
        for s in self
            .shared
            .udp
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
        {
            // SAFETY: a valid descriptor owned by `s`; shutdown does not close it.
            unsafe {
                libc::shutdown(s.as_raw_fd(), libc::SHUT_RD);
            }
        }
    }

    /// Stops everything and waits at most `timeout` for it; sockets are closed on return. An error
    /// names the threads that did not stop (they are left detached).
    pub fn join(mut self, timeout: Duration) -> Result<(), Error> {
        self.finish(timeout)
    }

    fn finish(&mut self, timeout: Duration) -> Result<(), Error> {
        self.shutdown();
        let deadline = Instant::now() + timeout;
        let mut stuck = wait_all(std::mem::take(&mut self.udp_threads), deadline);
        self.shared
            .rt
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(rt) = self.runtime.take() {
            // Tasks saw the token already; this drops what is left and joins the I/O threads.
            rt.shutdown_timeout(deadline.saturating_duration_since(Instant::now()));
        }
        self.tcp_listeners.clear();
        self.tcp_rx.clear();
        // Dropping the last queue senders (tasks are gone) ends the TCP workers' loops.
        self.shared
            .queues
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
        stuck.extend(wait_all(std::mem::take(&mut self.tcp_threads), deadline));
        for s in self
            .shared
            .udp
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .iter_mut()
        {
            *s = None;
        }
        tcp::table(&self.shared).clear();
        if stuck.is_empty() {
            Ok(())
        } else {
            Err(Error::Thread(format!(
                "did not stop in time: {}",
                stuck.join(", ")
            )))
        }
    }
}

impl Drop for Transport {
    fn drop(&mut self) {
        if let Err(e) = self.finish(Duration::from_secs(2)) {
            tracing::error!(error = %e, "transport shutdown");
        }
    }
}

fn spawn(name: &str, f: impl FnOnce() + Send + 'static) -> Result<JoinHandle<()>, Error> {
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(f)
        .map_err(|e| Error::Thread(format!("{name}: {e}")))
}

/// Joins every thread that finishes before `deadline`; returns the names of the others.
fn wait_all(threads: Vec<(String, JoinHandle<()>)>, deadline: Instant) -> Vec<String> {
    let mut stuck = Vec::new();
    for (name, h) in threads {
        while !h.is_finished() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if h.is_finished() {
            let _ = h.join();
        } else {
            stuck.push(name);
        }
    }
    stuck
}

/// The send side. Cheap to clone; usable from any thread, including inside the handler.
#[derive(Clone)]
pub struct TransportHandle {
    shared: Arc<Shared>,
}

impl TransportHandle {
    /// Sends `data` to `dst`.
    ///
    /// UDP: one `sendto` from the chosen socket (`dst.socket`, else the first UDP socket of the
    /// destination's family). TCP: queued on `dst.conn` if it is still open, else on a connection
    /// to `dst.addr` (or an alias of it), else on a new connection, unless `no_connect` (or
    /// `tcp_no_connect`) forbids it. TCP sends do not wait for the write; write errors close the
    /// connection and are counted.
    pub fn send(&self, dst: &Destination, opts: SendOptions, data: &[u8]) -> Result<Sent, Error> {
        if self.shared.stopped.load(Ordering::Relaxed) {
            return Err(Error::ShutDown);
        }
        match dst.proto {
            Proto::Udp => self.send_udp(dst, data),
            Proto::Tcp => self.send_tcp(dst, opts, data),
            other => Err(Error::ProtoNotSupported(other)),
        }
    }

    fn send_udp(&self, dst: &Destination, data: &[u8]) -> Result<Sent, Error> {
        let (id, sock) = {
            let socks = self.shared.udp.read().unwrap_or_else(|e| e.into_inner());
            match dst.socket {
                Some(id) => match socks.get(id.0 as usize) {
                    Some(Some(s)) => (id, s.clone()),
                    _ => return Err(Error::WrongSocket(id)),
                },
                None => self
                    .shared
                    .sockets
                    .iter()
                    .zip(socks.iter())
                    .find_map(|(info, s)| match s {
                        Some(s) if info.local.is_ipv4() == dst.addr.is_ipv4() => {
                            Some((info.id, s.clone()))
                        }
                        _ => None,
                    })
                    .ok_or(Error::NoSocket {
                        proto: Proto::Udp,
                        addr: dst.addr,
                    })?,
            }
        };
        match sock.send_to(data, dst.addr) {
            Ok(_) => {
                Stats::inc(&self.shared.stats.udp_sent);
                Ok(Sent::Udp { from: id })
            }
            Err(e) => {
                Stats::inc(&self.shared.stats.udp_send_errors);
                Err(Error::io("sendto", e))
            }
        }
    }

    fn send_tcp(&self, dst: &Destination, opts: SendOptions, data: &[u8]) -> Result<Sent, Error> {
        let shared = &self.shared;
        if shared.cfg.disable_tcp {
            return Err(Error::TcpDisabled);
        }
        let Some(rt) = shared.rt.read().unwrap_or_else(|e| e.into_inner()).clone() else {
            return Err(Error::ShutDown);
        };
        let cmd = Cmd::Send {
            data: data.to_vec(),
            close: opts.close_after,
        };
        let mut table = tcp::table(shared);
        let existing = dst
            .conn
            .filter(|id| table.get(*id).is_some())
            .or_else(|| table.find(dst.addr));
        if let Some(id) = existing {
            let entry = table.get(id).ok_or(Error::ConnectionClosed(id))?;
            return match entry.tx.try_send(cmd) {
                Ok(()) => Ok(Sent::Tcp {
                    conn: id,
                    new_connection: false,
                }),
                Err(mpsc::error::TrySendError::Full(_)) => {
                    Stats::inc(&shared.stats.tcp_sendq_full);
                    Err(Error::QueueFull(id))
                }
                Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::ConnectionClosed(id)),
            };
        }
        if opts.no_connect || shared.cfg.tcp_no_connect {
            return Err(Error::NoConnection(dst.addr));
        }
        if table.len() >= shared.cfg.tcp_max_connections {
            return Err(Error::TooManyConnections(shared.cfg.tcp_max_connections));
        }
        let sock = match dst.socket {
            Some(id) => shared
                .sockets
                .get(id.0 as usize)
                .filter(|s| s.spec.proto == Proto::Tcp)
                .ok_or(Error::WrongSocket(id))?,
            None => shared
                .sockets
                .iter()
                .find(|s| s.spec.proto == Proto::Tcp && s.local.is_ipv4() == dst.addr.is_ipv4())
                .ok_or(Error::NoSocket {
                    proto: Proto::Tcp,
                    addr: dst.addr,
                })?,
        };
        let local_ip = Some(sock.local.ip()).filter(|ip| !ip.is_unspecified());
        let id = shared.next_conn_id();
        let (tx, rx) = mpsc::channel(shared.cfg.tcp_conn_wq_max);
        // Cannot fail: the channel is new and has room for at least one buffer.
        let _ = tx.try_send(cmd);
        table.insert(Entry {
            info: ConnInfo {
                id,
                proto: Proto::Tcp,
                peer: dst.addr,
                local: None,
                socket: sock.id,
                direction: Direction::Outgoing,
                state: ConnState::Connecting,
            },
            tx,
        });
        drop(table);
        Stats::inc(&shared.stats.tcp_active);
        rt.spawn(tcp::connect(
            shared.clone(),
            id,
            sock.id,
            local_ip,
            dst.addr,
            rx,
        ));
        Ok(Sent::Tcp {
            conn: id,
            new_connection: true,
        })
    }

    /// Closes connection `id` once what is already queued on it is written
    /// (`tcp_close_connection()`). Errors when it is gone.
    pub fn close(&self, id: ConnId) -> Result<(), Error> {
        let table = tcp::table(&self.shared);
        let entry = table.get(id).ok_or(Error::ConnectionClosed(id))?;
        match entry.tx.try_send(Cmd::Close) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(_)) => Err(Error::QueueFull(id)),
            Err(mpsc::error::TrySendError::Closed(_)) => Err(Error::ConnectionClosed(id)),
        }
    }

    /// One connection's details.
    pub fn connection(&self, id: ConnId) -> Option<ConnInfo> {
        tcp::table(&self.shared).get(id).map(|e| e.info.clone())
    }

    /// The connection that a send to `peer` would use (direct or alias).
    pub fn find_connection(&self, peer: SocketAddr) -> Option<ConnId> {
        tcp::table(&self.shared).find(peer)
    }

    /// Every open connection, by id.
    pub fn connections(&self) -> Vec<ConnInfo> {
        tcp::table(&self.shared).list()
    }

    /// `force_tcp_alias` / `tcp_accept_aliases`: sends to `alias` (the peer's IP with the port from
    /// its Via, usually) use connection `id`. Errors when the connection is gone.
    pub fn add_alias(&self, id: ConnId, alias: SocketAddr) -> Result<(), Error> {
        if tcp::table(&self.shared).add_alias(id, alias) {
            Ok(())
        } else {
            Err(Error::ConnectionClosed(id))
        }
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.shared.stats.snapshot()
    }

    /// The bound sockets, indexed by `SocketId`.
    pub fn sockets(&self) -> &[SocketInfo] {
        &self.shared.sockets
    }

    /// The socket bound to `addr` with `proto` (`force_send_socket(udp:1.2.3.4:5060)`); a socket
    /// bound to the wildcard matches any address of its family with its port.
    pub fn find_socket(&self, proto: Proto, addr: SocketAddr) -> Option<&SocketInfo> {
        let exact = self
            .shared
            .sockets
            .iter()
            .find(|s| s.spec.proto == proto && s.local == addr);
        exact.or_else(|| {
            self.shared.sockets.iter().find(|s| {
                s.spec.proto == proto
                    && s.local.ip().is_unspecified()
                    && s.local.is_ipv4() == addr.is_ipv4()
                    && s.local.port() == addr.port()
            })
        })
    }

    /// The socket named `name` (`listen=... name "..."`).
    pub fn socket_by_name(&self, name: &str) -> Option<&SocketInfo> {
        self.shared
            .sockets
            .iter()
            .find(|s| s.spec.name.as_deref() == Some(name))
    }
}
