//! Listener threads shared by `jsonrpcs` and `ctl`: the control sockets are the one documented
//! place where modules open sockets themselves (Kamailio runs them in dedicated processes; we run
//! them on dedicated threads, see docs/control.md). Sockets are bound in the module's init hook (so
//! a bad path fails the config load) and served from `child_init` on, after the server may have
//! forked into the background; `destroy` stops the threads and removes the socket files.

use std::ffi::CString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ferrosip_api::Error;

/// How often blocked threads look at the stop flag.
pub(crate) const TICK: Duration = Duration::from_millis(100);

/// The threads of one module's listeners and the files they created.
#[derive(Default)]
pub(crate) struct Runner {
    stop: Arc<AtomicBool>,
    threads: Arc<Mutex<Vec<JoinHandle<()>>>>,
    files: Mutex<Vec<PathBuf>>,
}

impl Runner {
    /// Starts a named thread running `f(stop)`.
    pub(crate) fn spawn(&self, name: &str, f: impl FnOnce(Arc<AtomicBool>) + Send + 'static) {
        spawn_into(&self.threads, &self.stop, name, f);
    }

    /// Remembers a file to remove at shutdown.
    pub(crate) fn owns_file(&self, p: PathBuf) {
        lock(&self.files).push(p);
    }

    /// Stops every thread (accept loops and connections), waits for them, removes the files.
    pub(crate) fn stop_all(&self) {
        self.stop.store(true, Ordering::SeqCst);
        loop {
            let batch: Vec<JoinHandle<()>> = lock(&self.threads).drain(..).collect();
            if batch.is_empty() {
                break;
            }
            for h in batch {
                let _ = h.join();
            }
        }
        for f in lock(&self.files).drain(..) {
            let _ = std::fs::remove_file(f);
        }
    }
}

/// A bound stream listener (unix or TCP).
pub(crate) enum StreamListener {
    /// `unixs:` path.
    Unix(UnixListener),
    /// `tcp:` address.
    Tcp(TcpListener),
}

/// One accepted stream connection.
pub(crate) enum Conn {
    /// From a unix listener.
    Unix(UnixStream),
    /// From a TCP listener.
    Tcp(TcpStream),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.read(buf),
            Conn::Tcp(s) => s.read(buf),
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Unix(s) => s.write(buf),
            Conn::Tcp(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Unix(s) => s.flush(),
            Conn::Tcp(s) => s.flush(),
        }
    }
}

/// A per-connection handler: runs until the peer closes or `stop` is set.
pub(crate) type ConnHandler = Arc<dyn Fn(&mut Conn, &AtomicBool) + Send + Sync>;

/// Serves a stream listener: one thread accepts, one thread per connection runs `handler`.
pub(crate) fn serve_stream(runner: &Runner, name: &str, l: StreamListener, handler: ConnHandler) {
    let threads = Arc::clone(&runner.threads);
    let stop_c = Arc::clone(&runner.stop);
    let cname = format!("{name}-conn");
    runner.spawn(name, move |stop| {
        let nb = match &l {
            StreamListener::Unix(u) => u.set_nonblocking(true),
            StreamListener::Tcp(t) => t.set_nonblocking(true),
        };
        if let Err(e) = nb {
            tracing::error!("control listener: {e}");
            return;
        }
        while !stop.load(Ordering::SeqCst) {
            let conn = match &l {
                StreamListener::Unix(u) => u.accept().map(|(s, _)| Conn::Unix(s)),
                StreamListener::Tcp(t) => t.accept().map(|(s, _)| Conn::Tcp(s)),
            };
            let mut conn = match conn {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(TICK / 2);
                    continue;
                }
                Err(e) => {
                    tracing::warn!("control listener accept: {e}");
                    std::thread::sleep(TICK);
                    continue;
                }
            };
            let setup = match &conn {
                Conn::Unix(s) => s
                    .set_nonblocking(false)
                    .and_then(|_| s.set_read_timeout(Some(TICK))),
                Conn::Tcp(s) => s
                    .set_nonblocking(false)
                    .and_then(|_| s.set_read_timeout(Some(TICK))),
            };
            if setup.is_err() {
                continue;
            }
            let h = Arc::clone(&handler);
            spawn_into(&threads, &stop_c, &cname, move |stop| h(&mut conn, &stop));
        }
    });
}

/// A bound datagram socket (unix or UDP).
pub(crate) enum DgramSocket {
    /// `unixd:` path / jsonrpcs' socket path.
    Unix(UnixDatagram),
    /// `udp:` address.
    Udp(UdpSocket),
}

/// Where a datagram came from (and the reply goes).
pub(crate) enum Peer {
    /// A unix client; `None` when it did not bind a path (no reply possible).
    Unix(Option<PathBuf>),
    /// A UDP client.
    Udp(SocketAddr),
}

/// Answers one datagram; `None` = no reply.
pub(crate) type DgramHandler = Arc<dyn Fn(&[u8]) -> Option<Vec<u8>> + Send + Sync>;

/// Serves a datagram socket with `workers` threads; replies go back to the sender with a send
/// timeout of `send_timeout`.
pub(crate) fn serve_dgram(
    runner: &Runner,
    name: &str,
    sock: DgramSocket,
    workers: usize,
    send_timeout: Duration,
    handler: DgramHandler,
) {
    for _ in 0..workers.max(1) {
        let s = match &sock {
            DgramSocket::Unix(u) => u.try_clone().map(DgramSocket::Unix),
            DgramSocket::Udp(u) => u.try_clone().map(DgramSocket::Udp),
        };
        let Ok(s) = s else { continue };
        let h = Arc::clone(&handler);
        runner.spawn(name, move |stop| {
            let t = Some(send_timeout.max(Duration::from_millis(1)));
            let _ = match &s {
                DgramSocket::Unix(u) => u.set_read_timeout(Some(TICK)).and(u.set_write_timeout(t)),
                DgramSocket::Udp(u) => u.set_read_timeout(Some(TICK)).and(u.set_write_timeout(t)),
            };
            let mut buf = vec![0u8; 65536];
            while !stop.load(Ordering::SeqCst) {
                let got = match &s {
                    DgramSocket::Unix(u) => u
                        .recv_from(&mut buf)
                        .map(|(n, a)| (n, Peer::Unix(a.as_pathname().map(Path::to_path_buf)))),
                    DgramSocket::Udp(u) => u.recv_from(&mut buf).map(|(n, a)| (n, Peer::Udp(a))),
                };
                let Ok((n, peer)) = got else { continue };
                let Some(reply) = h(buf.get(..n).unwrap_or_default()) else {
                    continue;
                };
                let sent = match (&s, &peer) {
                    (DgramSocket::Unix(u), Peer::Unix(Some(p))) => u.send_to(&reply, p).map(|_| ()),
                    (DgramSocket::Udp(u), Peer::Udp(a)) => u.send_to(&reply, a).map(|_| ()),
                    _ => Err(io::Error::other("request from an unbound socket, no reply")),
                };
                if let Err(e) = sent {
                    tracing::error!("control datagram reply: {e}");
                }
            }
        });
    }
}

/// Binds a UDP socket on `host:port`.
pub(crate) fn bind_udp(addr: &str) -> Result<UdpSocket, Error> {
    UdpSocket::bind(addr).map_err(|e| Error::Init(format!("cannot listen on udp:{addr}: {e}")))
}

/// Reads once, retrying on timeouts until data, EOF (`Ok(0)`) or `stop`.
pub(crate) fn read_some(c: &mut impl Read, buf: &mut [u8], stop: &AtomicBool) -> io::Result<usize> {
    loop {
        match c.read(buf) {
            Ok(n) => return Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) =>
            {
                if stop.load(Ordering::SeqCst) {
                    return Ok(0);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

/// Binds a unix stream socket at `path`, replacing a stale socket file.
pub(crate) fn bind_unix_stream(path: &Path, own: &Ownership) -> Result<UnixListener, Error> {
    remove_stale(path, |t| t.is_socket())?;
    let l = UnixListener::bind(path)
        .map_err(|e| Error::Init(format!("cannot bind {}: {e}", path.display())))?;
    own.apply(path)?;
    Ok(l)
}

/// Binds a unix datagram socket at `path`, replacing a stale socket file.
pub(crate) fn bind_unix_dgram(path: &Path, own: &Ownership) -> Result<UnixDatagram, Error> {
    remove_stale(path, |t| t.is_socket())?;
    let s = UnixDatagram::bind(path)
        .map_err(|e| Error::Init(format!("cannot bind {}: {e}", path.display())))?;
    own.apply(path)?;
    Ok(s)
}

/// Binds a TCP listener on `host:port` (an optional `tcp:` prefix is accepted).
pub(crate) fn bind_tcp(spec: &str) -> Result<TcpListener, Error> {
    let addr = spec.strip_prefix("tcp:").unwrap_or(spec);
    TcpListener::bind(addr).map_err(|e| Error::Init(format!("cannot listen on tcp:{addr}: {e}")))
}

/// Creates (or reuses) the FIFO at `path` and opens it for reading. It is opened read-write so
/// that the last writer closing does not give us an end-of-file (the FIFO stays usable).
pub(crate) fn open_fifo(path: &Path, own: &Ownership) -> Result<File, Error> {
    remove_stale(path, |t| t.is_fifo())?;
    let c = CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| Error::Config(format!("bad FIFO path {}", path.display())))?;
    // SAFETY: `c` is a valid NUL-terminated path; mkfifo has no other preconditions.
    let rc = unsafe { libc::mkfifo(c.as_ptr(), own.mode as libc::mode_t) };
    if rc != 0 {
        return Err(Error::Init(format!(
            "cannot create FIFO {}: {}",
            path.display(),
            io::Error::last_os_error()
        )));
    }
    own.apply(path)?;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| Error::Init(format!("cannot open FIFO {}: {e}", path.display())))
}

/// Waits up to [`TICK`] for `f` to become readable.
pub(crate) fn wait_readable(f: &impl AsRawFd) -> bool {
    let mut p = libc::pollfd {
        fd: f.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd, count 1.
    let rc = unsafe { libc::poll(&mut p, 1, TICK.as_millis() as libc::c_int) };
    rc > 0 && (p.revents & libc::POLLIN) != 0
}

/// Mode, user and group a created socket or FIFO gets (`fifo_mode`, `fifo_user` …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ownership {
    /// Permission bits.
    pub mode: u32,
    /// Owner uid, `None` = inherited.
    pub uid: Option<u32>,
    /// Group gid, `None` = inherited.
    pub gid: Option<u32>,
}

impl Ownership {
    fn apply(&self, path: &Path) -> Result<(), Error> {
        // mkfifo/bind honour the umask: set the mode explicitly, as Kamailio does with chmod.
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(self.mode))
            .map_err(|e| Error::Init(format!("cannot chmod {}: {e}", path.display())))?;
        if self.uid.is_some() || self.gid.is_some() {
            std::os::unix::fs::chown(path, self.uid, self.gid)
                .map_err(|e| Error::Init(format!("cannot chown {}: {e}", path.display())))?;
        }
        Ok(())
    }
}

/// A user given as a number or a name (`fifo_user`, ctl's `user`).
pub(crate) fn user_id(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.trim().parse::<u32>() {
        return Ok(n);
    }
    let c = CString::new(s).map_err(|_| format!("bad user name {s:?}"))?;
    // SAFETY: valid C string; the returned record is read immediately, before any other call.
    let pw = unsafe { libc::getpwnam(c.as_ptr()) };
    if pw.is_null() {
        return Err(format!("unknown user {s:?}"));
    }
    // SAFETY: non-null pointer returned by getpwnam.
    Ok(unsafe { (*pw).pw_uid })
}

/// A group given as a number or a name.
pub(crate) fn group_id(s: &str) -> Result<u32, String> {
    if let Ok(n) = s.trim().parse::<u32>() {
        return Ok(n);
    }
    let c = CString::new(s).map_err(|_| format!("bad group name {s:?}"))?;
    // SAFETY: valid C string; the returned record is read immediately.
    let gr = unsafe { libc::getgrnam(c.as_ptr()) };
    if gr.is_null() {
        return Err(format!("unknown group {s:?}"));
    }
    // SAFETY: non-null pointer returned by getgrnam.
    Ok(unsafe { (*gr).gr_gid })
}

// ---- internals ----

fn spawn_into(
    threads: &Arc<Mutex<Vec<JoinHandle<()>>>>,
    stop: &Arc<AtomicBool>,
    name: &str,
    f: impl FnOnce(Arc<AtomicBool>) + Send + 'static,
) {
    let s = Arc::clone(stop);
    match std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || f(s))
    {
        Ok(h) => lock(threads).push(h),
        Err(e) => tracing::error!("cannot start control thread {name}: {e}"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// Removes `path` if it exists and is of the expected kind (a leftover of an earlier run); any
/// other file there is an error rather than something we silently delete.
fn remove_stale(path: &Path, is_kind: impl Fn(std::fs::FileType) -> bool) -> Result<(), Error> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if is_kind(m.file_type()) => std::fs::remove_file(path)
            .map_err(|e| Error::Init(format!("cannot remove stale {}: {e}", path.display()))),
        Ok(_) => Err(Error::Init(format!(
            "{} exists and is not a socket/FIFO",
            path.display()
        ))),
        Err(_) => Ok(()),
    }
}
