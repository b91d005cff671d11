//! The crate's one error type.

use std::io;
use std::net::SocketAddr;

use crate::spec::{ConnId, Proto, SocketId};

/// Everything that can go wrong in the transport layer, grouped by who is at fault: the config
/// (a listener that cannot be built), the caller (a send that cannot be honoured) or the system.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- config: listeners ---
    /// `listen=` names a protocol this build does not implement yet.
    #[error("listen: protocol '{0}' is not supported yet (only udp and tcp are implemented)")]
    ProtoNotSupported(Proto),
    /// Binding a listener failed (address in use, address not local, permission...).
    #[error("cannot bind {proto}:{addr}: {source}")]
    Bind {
        proto: Proto,
        addr: SocketAddr,
        #[source]
        source: io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid transport setting {name}: {reason}")]
    InvalidSetting { name: &'static str, reason: String },
    /// A socket string (`proto:host:port`) that cannot be split.
    #[error("invalid socket {0}")]
    InvalidSocket(String),
    /// `start` was called twice.
    #[error("transport already started")]
    AlreadyStarted,

    // --- caller: send ---
    /// No bound socket can send to this destination (no listener of that protocol and family).
    #[error("no {proto} socket to send to {addr}")]
    NoSocket { proto: Proto, addr: SocketAddr },
    /// The socket id given does not exist or is of another protocol.
    #[error("socket {0} cannot be used for this send")]
    WrongSocket(SocketId),
    /// "no connect" was asked and no connection to the destination exists.
    #[error("no open connection to {0} and connecting was not allowed")]
    NoConnection(SocketAddr),
    /// `tcp_max_connections` reached.
    #[error("tcp_max_connections ({0}) reached")]
    TooManyConnections(usize),
    /// The connection's write queue is full (the peer does not read fast enough).
    #[error("write queue of connection {0} is full")]
    QueueFull(ConnId),
    /// The connection went away while queueing.
    #[error("connection {0} is closed")]
    ConnectionClosed(ConnId),
    /// TCP is disabled (`disable_tcp=yes`).
    #[error("tcp is disabled (disable_tcp)")]
    TcpDisabled,
    /// The transport was shut down.
    #[error("transport is shut down")]
    ShutDown,

    // --- system ---
    /// A socket call failed.
    #[error("{op}: {source}")]
    Io {
        op: &'static str,
        #[source]
        source: io::Error,
    },
    /// A thread could not be spawned or joined in time.
    #[error("thread {0}")]
    Thread(String),
}

impl Error {
    pub(crate) fn io(op: &'static str, source: io::Error) -> Self {
        Error::Io { op, source }
    }
}
