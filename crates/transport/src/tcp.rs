//! TCP on the tokio runtime: listeners, the accept loop, connection tasks and outgoing connects.
//!
//! Each connection is two tasks. The reader frames the stream, hands complete messages to the TCP
//! worker chosen by connection id (so one connection's messages are handled in order) and queues
//! CRLF pongs; the writer writes what senders queue on the connection's channel. The connection
//! closes on idleness (`tcp_connection_lifetime`, reads and writes both count), a framing error,
//! EOF, a failed or timed-out write, a close-after-send, or shutdown.

use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, timeout, Instant};
use tokio_util::sync::CancellationToken;

use crate::config::{log_core, KeepAlive};
use crate::conn::{Cmd, ConnInfo, ConnState, Direction, Entry};
use crate::error::Error;
use crate::framer::{FrameEvent, FrameLimits, Framer, StreamFramer};
use crate::spec::{ConnId, Proto, ReceiveInfo, SocketId};
use crate::stats::Stats;
use crate::transport::{Shared, TcpJob};

/// Kamailio's `DEFAULT_TCP_BUF_SIZE`: bytes read per `read` call.
const READ_BUF: usize = 16384;
/// Listen backlog (Kamailio's `tcp_listen_backlog` default).
const BACKLOG: i32 = 1024;

/// Sets `tcp_keepalive`, `tcp_keepidle`, `tcp_keepintvl` and `tcp_keepcnt` on a TCP socket, as
/// Kamailio's `init_sock_keepalive` does: `SO_KEEPALIVE` only when enabled, each number only when
/// not 0, and a failure only warns (a value above the kernel's limit, say).
pub(crate) fn set_keepalive(sock: &impl AsFd, ka: &KeepAlive, what: SocketAddr) {
    if ka.enabled {
        if let Err(e) = socket2::SockRef::from(sock).set_keepalive(true) {
            tracing::warn!(%what, error = %e, "failed to enable SO_KEEPALIVE");
        }
    }
    let opts: [(&str, libc::c_int, u32); 3] = [
        ("tcp_keepintvl", libc::TCP_KEEPINTVL, ka.interval),
        ("tcp_keepidle", libc::TCP_KEEPIDLE, ka.idle),
        ("tcp_keepcnt", libc::TCP_KEEPCNT, ka.count),
    ];
    for (name, opt, v) in opts {
        if v == 0 {
            continue;
        }
        let Ok(val) = libc::c_int::try_from(v) else {
            tracing::warn!(%what, "{name} {v}: too large");
            continue;
        };
        // SAFETY: setsockopt on a descriptor the SockRef borrows, with a pointer to a c_int that
        // lives across the call and its exact size.
        let rc = unsafe {
            libc::setsockopt(
                sock.as_fd().as_raw_fd(),
                libc::IPPROTO_TCP,
                opt,
                std::ptr::addr_of!(val).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            tracing::warn!(%what, error = %e, "failed to set {name} {v}");
        }
    }
}

/// Binds and listens; the socket is handed to tokio in `start`. Keepalive options are set on the
/// listener: Linux copies them to every accepted connection.
pub(crate) fn bind(
    addr: SocketAddr,
    tos: u8,
    keepalive: &KeepAlive,
) -> Result<std::net::TcpListener, Error> {
    let bind_err = |source| Error::Bind {
        proto: Proto::Tcp,
        addr,
        source,
    };
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(bind_err)?;
    if addr.is_ipv6() {
        sock.set_only_v6(true).map_err(bind_err)?;
    }
    sock.set_reuse_address(true).map_err(bind_err)?;
    if addr.is_ipv4() {
        // Accepted sockets inherit it. Not critical, as in Kamailio.
        if let Err(e) = sock.set_tos(u32::from(tos)) {
            tracing::warn!(%addr, error = %e, "setting tos");
        }
    }
    set_keepalive(&sock, keepalive, addr);
    sock.bind(&addr.into()).map_err(bind_err)?;
    sock.listen(BACKLOG).map_err(bind_err)?;
    sock.set_nonblocking(true).map_err(bind_err)?;
    Ok(sock.into())
}

/// Accepts until shutdown, applying `tcp_max_connections` and `tcp_accept_iplimit`.
pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener, socket: SocketId) {
    loop {
        let accepted = tokio::select! {
            _ = shared.cancel.cancelled() => return,
            r = listener.accept() => r,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(%socket, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (tx, rx) = mpsc::channel(shared.cfg.tcp_conn_wq_max);
        let id = {
            let mut t = table(&shared);
            if t.len() >= shared.cfg.tcp_max_connections {
                Stats::inc(&shared.stats.tcp_rejected_max);
                tracing::warn!(%peer, "tcp_max_connections reached, rejecting");
                continue; // dropping `stream` closes it
            }
            let limit = shared.cfg.tcp_accept_iplimit;
            if limit > 0 && t.accepted_from(peer.ip()) >= limit {
                Stats::inc(&shared.stats.tcp_rejected_iplimit);
                tracing::warn!(%peer, "tcp_accept_iplimit reached, rejecting");
                continue;
            }
            let id = shared.next_conn_id();
            t.insert(Entry {
                info: ConnInfo {
                    id,
                    proto: Proto::Tcp,
                    peer,
                    local: stream.local_addr().ok(),
                    socket,
                    direction: Direction::Accepted,
                    state: ConnState::Established,
                },
                tx,
            });
            id
        };
        Stats::inc(&shared.stats.tcp_accepted);
        Stats::inc(&shared.stats.tcp_active);
        tokio::spawn(run_conn::<Framer>(shared.clone(), id, socket, stream, rx));
    }
}

/// Opens an outgoing connection whose table entry (and first queued buffer) already exist.
pub(crate) async fn connect(
    shared: Arc<Shared>,
    id: ConnId,
    socket: SocketId,
    local_ip: Option<std::net::IpAddr>,
    peer: SocketAddr,
    rx: mpsc::Receiver<Cmd>,
) {
    let attempt = async {
        let s = if peer.is_ipv6() {
            TcpSocket::new_v6()?
        } else {
            let s = TcpSocket::new_v4()?;
            if let Err(e) = socket2::SockRef::from(&s).set_tos(u32::from(shared.cfg.tos)) {
                tracing::warn!(%peer, error = %e, "setting tos");
            }
            s
        };
        set_keepalive(&s, &shared.cfg.tcp_keepalive, peer);
        if let Some(ip) = local_ip {
            // Leave with the listener's address, like Kamailio, so the peer sees our SIP address.
            s.bind(SocketAddr::new(ip, 0))?;
        }
        s.connect(peer).await
    };
    let stream = tokio::select! {
        _ = shared.cancel.cancelled() => None,
        r = timeout(shared.cfg.tcp_connect_timeout, attempt) => match r {
            Ok(Ok(s)) => Some(s),
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "tcp connect failed");
                None
            }
            Err(_) => {
                tracing::debug!(%peer, "tcp_connect_timeout");
                None
            }
        },
    };
    let Some(stream) = stream else {
        Stats::inc(&shared.stats.tcp_connect_failed);
        close(&shared, id);
        return;
    };
    if let Ok(local) = stream.local_addr() {
        table(&shared).set_established(id, local);
    }
    Stats::inc(&shared.stats.tcp_connected);
    run_conn::<Framer>(shared, id, socket, stream, rx).await;
}

/// Time of the last read or write on a connection, shared by its reader and writer.
struct Activity {
    epoch: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = self.epoch.elapsed().as_millis() as u64;
        self.last_ms.store(ms, Ordering::Relaxed);
    }
    fn last(&self) -> Instant {
        self.epoch + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// Runs one connection: a reader (this task) and a writer (a second task), so a peer that writes
/// while not reading cannot block our reads behind a pending write, and the other way round.
/// Either side ending (EOF, error, idleness, close, shutdown) ends both through `done`.
///
/// Generic over the framer so the trait's methods (not the inherent ones of the type behind
/// [`Framer`]) are the only API used here.
async fn run_conn<F: StreamFramer>(
    shared: Arc<Shared>,
    id: ConnId,
    socket: SocketId,
    stream: TcpStream,
    rx: mpsc::Receiver<Cmd>,
) {
    let (Ok(peer), Ok(local)) = (stream.peer_addr(), stream.local_addr()) else {
        close(&shared, id);
        return;
    };
    // The entry's sender, for CRLF pongs: they then queue behind pending writes, in order.
    let Some(pong) = table(&shared).get(id).map(|e| e.tx.clone()) else {
        return;
    };
    let _ = stream.set_nodelay(true);
    let (rd, wr) = stream.into_split();
    let done = shared.cancel.child_token();
    let activity = Arc::new(Activity {
        epoch: Instant::now(),
        last_ms: AtomicU64::new(0),
    });
    let writer = tokio::spawn(write_loop(
        shared.clone(),
        wr,
        rx,
        done.clone(),
        activity.clone(),
    ));
    let ri = ReceiveInfo {
        src: peer,
        dst: local,
        proto: Proto::Tcp,
        socket,
        conn: Some(id),
    };
    read_loop::<F>(&shared, ri, rd, pong, &done, &activity).await;
    done.cancel();
    let _ = writer.await;
    close(&shared, id);
}

async fn read_loop<F: StreamFramer>(
    shared: &Shared,
    ri: ReceiveInfo,
    mut rd: tokio::net::tcp::OwnedReadHalf,
    pong: mpsc::Sender<Cmd>,
    done: &CancellationToken,
    activity: &Activity,
) {
    let cfg = &shared.cfg;
    let Some(id) = ri.conn else { return };
    let queue = shared.worker_queue(id);
    let mut framer = F::new(FrameLimits {
        max_size: cfg.tcp_max_msg_size,
        accept_no_cl: cfg.tcp_accept_no_cl,
        crlf_ping: cfg.tcp_crlf_ping,
    });
    let mut buf = vec![0u8; READ_BUF];
    let mut deadline = Instant::now() + cfg.tcp_connection_lifetime;
    loop {
        let n = tokio::select! {
            _ = done.cancelled() => return,
            _ = sleep_until(deadline) => {
                // Writes count as activity too; they are recorded by the writer.
                deadline = activity.last() + cfg.tcp_connection_lifetime;
                if deadline <= Instant::now() {
                    Stats::inc(&shared.stats.tcp_closed_idle);
                    tracing::debug!(conn = %id, peer = %ri.src, "tcp_connection_lifetime expired");
                    return;
                }
                continue;
            }
            r = rd.read(&mut buf) => match r {
                Ok(0) => return,
                Err(e) => {
                    Stats::inc(&shared.stats.tcp_con_reset);
                    // Kamailio's tcp_read error line, at `corelog`.
                    let why = e.to_string();
                    let why = why.split(" (os error").next().unwrap_or_default();
                    log_core(
                        cfg.corelog,
                        "tcp_read_data",
                        &format!(
                            "error reading: {why} ({}) ([{}]:{} -> [{}]:{})",
                            e.raw_os_error().unwrap_or(0),
                            ri.src.ip(),
                            ri.src.port(),
                            ri.dst.ip(),
                            ri.dst.port()
                        ),
                    );
                    return;
                }
                Ok(n) => n,
            },
        };
        activity.touch();
        deadline = Instant::now() + cfg.tcp_connection_lifetime;
        framer.feed(&buf[..n]);
        loop {
            match framer.next_event() {
                Ok(None) => break,
                Ok(Some(FrameEvent::Ping)) => {
                    // Only reported when tcp_crlf_ping is on. A full write queue drops the pong:
                    // the peer is not reading anyway.
                    Stats::inc(&shared.stats.tcp_crlf_pings);
                    let _ = pong.try_send(Cmd::Send {
                        data: b"\r\n".to_vec(),
                        close: false,
                    });
                }
                Ok(Some(FrameEvent::Message(msg))) => {
                    let Some(q) = &queue else { return };
                    // Awaiting here is the back-pressure: a busy worker slows this reader.
                    tokio::select! {
                        _ = done.cancelled() => return,
                        r = q.send(TcpJob { ri, msg }) => if r.is_err() { return },
                    }
                    Stats::inc(&shared.stats.tcp_received);
                }
                Err(e) => {
                    Stats::inc(&shared.stats.tcp_frame_errors);
                    tracing::info!(conn = %id, peer = %ri.src, error = %e, "closing unframeable tcp stream");
                    return;
                }
            }
        }
    }
}

async fn write_loop(
    shared: Arc<Shared>,
    mut wr: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Cmd>,
    done: CancellationToken,
    activity: Arc<Activity>,
) {
    loop {
        let cmd = tokio::select! {
            _ = done.cancelled() => break,
            cmd = rx.recv() => cmd,
        };
        match cmd {
            None => break,
            Some(Cmd::Send { data, close }) => {
                let ok = tokio::select! {
                    _ = done.cancelled() => break,
                    ok = write(&shared, &mut wr, &data) => ok,
                };
                if !ok {
                    break;
                }
                Stats::inc(&shared.stats.tcp_sent);
                activity.touch();
                if close {
                    let _ = wr.shutdown().await;
                    break;
                }
            }
            Some(Cmd::Close) => {
                let _ = wr.shutdown().await;
                break;
            }
        }
    }
    done.cancel();
}

/// Writes with `tcp_send_timeout`; false means the connection must close.
async fn write(shared: &Shared, wr: &mut tokio::net::tcp::OwnedWriteHalf, data: &[u8]) -> bool {
    match timeout(shared.cfg.tcp_send_timeout, wr.write_all(data)).await {
        Ok(Ok(())) => true,
        Ok(Err(_)) => {
            Stats::inc(&shared.stats.tcp_send_errors);
            false
        }
        Err(_) => {
            Stats::inc(&shared.stats.tcp_send_timeouts);
            false
        }
    }
}

fn close(shared: &Shared, id: ConnId) {
    // Count under the lock, so whoever sees the entry gone also sees the gauge updated.
    let gone = {
        let mut t = table(shared);
        let gone = t.remove(id).is_some();
        if gone {
            Stats::dec(&shared.stats.tcp_active);
        }
        gone
    };
    if gone {
        let hook = shared
            .on_close
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(h) = hook {
            h(id);
        }
    }
}

pub(crate) fn table(shared: &Shared) -> std::sync::MutexGuard<'_, crate::conn::ConnTable> {
    // A poisoned table means a panic while holding a short, non-panicking critical section; the
    // data is still consistent hash maps, so keep serving.
    shared
        .conns
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
