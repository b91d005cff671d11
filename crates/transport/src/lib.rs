//! The only crate that opens sockets: listeners, the TCP connection table, send.
//!
//! What it does:
//! - binds `listen=` sockets ([`ListenSpec`]): udp and tcp, IPv4 and IPv6, wildcard or not;
//!   other protocols (tls, sctp, ws, wss) are refused with [`Error::ProtoNotSupported`];
//! - UDP: `children` (or the socket's `socket_workers`) receiver threads per socket, each reading
//!   `recvmmsg` batches into buffers it reuses, dropping datagrams shorter than Kamailio's
//!   `MIN_UDP_PACKET` or from port 0 (counted), and calling the handler on its own thread;
//!   `SO_RCVBUF` probed up to `maxbuffer`;
//! - TCP: accept/read/write on a tokio runtime; messages framed by [`framer`] and queued to
//!   `tcp_children` worker threads (one connection always goes to the same worker, so its
//!   messages are handled in order); the connection table (`$conid`, lookup by peer and by alias),
//!   connection reuse, connect on demand or "no connect", idle lifetime, connection limits,
//!   CRLF keepalive answers, close-after-send;
//! - counters ([`Stats`]) and one shutdown for everything ([`Transport::join`]).
//!
//! What it does not do: parse SIP beyond framing, choose destinations (DNS, Via, Route: that is
//! the server's job), TLS/WebSocket/SCTP (refused for now), Kamailio's `mhomed` source selection.
//!
//! Use: [`Transport::bind`] → [`Transport::handle`] (give a clone to whatever sends) →
//! [`Transport::start`] with the handler → … → [`Transport::join`]. See `docs/transport.md`.

pub mod config;
pub mod conn;
pub mod error;
pub mod framer;
pub mod spec;
pub mod stats;
mod tcp;
mod transport;
mod udp;

pub use config::{TransportConfig, BUF_SIZE, DEFAULT_MAXBUFFER, MIN_UDP_PACKET};
pub use conn::{ConnInfo, ConnState, Direction};
pub use error::Error;
pub use spec::{
    ConnId, Destination, ListenSpec, Proto, ReceiveInfo, SendOptions, Sent, SocketId, SocketInfo,
    SocketStr,
};
pub use stats::{Stats, StatsSnapshot};
pub use transport::{Handler, Transport, TransportHandle};
