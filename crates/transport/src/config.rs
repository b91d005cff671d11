//! Core parameters that shape the transport layer, with Kamailio's defaults.

use std::time::Duration;

use crate::error::Error;

/// Kamailio's `MIN_UDP_PACKET`: shorter datagrams (NAT keepalives, probes) are dropped silently.
pub const MIN_UDP_PACKET: usize = 32;
/// Kamailio's `BUF_SIZE`: the largest datagram (and, here, TCP message) accepted.
pub const BUF_SIZE: usize = 65535;
/// Kamailio's `MAX_RECV_BUFFER_SIZE`, the default `maxbuffer`.
pub const DEFAULT_MAXBUFFER: usize = 256 * 1024;

/// Transport settings, filled by the server from the config's core parameters and frozen before
/// `start`. Names follow the Kamailio parameter each field comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransportConfig {
    /// `children`: receiver threads per UDP socket (unless the spec's `workers` overrides it).
    pub children: usize,
    /// `tcp_children`: threads that run the handler for TCP messages (Kamailio: default `children`).
    pub tcp_children: usize,
    /// `maxbuffer`: upper bound of the `SO_RCVBUF` probing of UDP sockets; 0 skips probing.
    pub maxbuffer: usize,
    /// Datagrams fetched per `recvmmsg` call (no Kamailio equivalent: it reads one at a time).
    pub udp_batch: usize,
    /// How often an idle UDP receiver wakes to notice shutdown (its `SO_RCVTIMEO`).
    pub udp_poll_interval: Duration,
    /// `disable_tcp`: TCP listeners are not opened and TCP sends fail.
    pub disable_tcp: bool,
    /// `tcp_connection_lifetime`: idle connections are closed after this (read or write resets it).
    pub tcp_connection_lifetime: Duration,
    /// `tcp_max_connections`: accepted plus outgoing connections.
    pub tcp_max_connections: usize,
    /// `tcp_accept_iplimit`: accepted connections per source IP; 0 = no limit.
    pub tcp_accept_iplimit: usize,
    /// `tcp_crlf_ping`: answer a CRLFCRLF keepalive with CRLF.
    pub tcp_crlf_ping: bool,
    /// `tcp_accept_no_cl`: accept TCP messages without Content-Length (body length 0).
    pub tcp_accept_no_cl: bool,
    /// `tcp_connect_timeout`.
    pub tcp_connect_timeout: Duration,
    /// `tcp_send_timeout`: a write that cannot finish in this time closes the connection.
    pub tcp_send_timeout: Duration,
    /// `tcp_no_connect`: never open outgoing connections (every send behaves as "no connect").
    pub tcp_no_connect: bool,
    /// Largest TCP message the framer accepts before it closes the connection.
    pub tcp_max_msg_size: usize,
    /// Buffers queued per connection before sends fail (Kamailio's `tcp_conn_wq_max`, in buffers).
    pub tcp_conn_wq_max: usize,
    /// Messages queued per TCP worker before connection readers wait (back-pressure).
    pub tcp_worker_queue: usize,
    /// Threads of the tokio runtime that runs accept/read/write.
    pub io_threads: usize,
    /// `tos`: IP TOS / IPv6 traffic class of UDP sockets and of IPv4 TCP sockets (Kamailio sets
    /// it only on IPv4 for TCP). Default `IPTOS_LOWDELAY`.
    pub tos: u8,
    /// TCP keepalives, set on listeners (accepted connections inherit them) and on outgoing
    /// connections, as Kamailio sets them.
    pub tcp_keepalive: KeepAlive,
    /// `corelog`: the Kamailio log level of the core's messages about traffic that are not
    /// critical (here: a TCP read error). Default `L_ERR` (-1).
    pub corelog: i32,
}

/// `tcp_keepalive` (`SO_KEEPALIVE`, Kamailio's default on) and `tcp_keepidle`, `tcp_keepintvl`,
/// `tcp_keepcnt` (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT`; 0 = left at the system's value,
/// Kamailio's default). The three numbers are set even when `enabled` is off, as Kamailio does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeepAlive {
    pub enabled: bool,
    /// Seconds of idleness before the first probe.
    pub idle: u32,
    /// Seconds between probes.
    pub interval: u32,
    /// Unanswered probes before the connection is dropped.
    pub count: u32,
}

impl Default for KeepAlive {
    fn default() -> Self {
        KeepAlive {
            enabled: true,
            idle: 0,
            interval: 0,
            count: 0,
        }
    }
}

impl Default for TransportConfig {
    fn default() -> Self {
        TransportConfig {
            children: 8,
            tcp_children: 8,
            maxbuffer: DEFAULT_MAXBUFFER,
            udp_batch: 16,
            udp_poll_interval: Duration::from_millis(200),
            disable_tcp: false,
            tcp_connection_lifetime: Duration::from_secs(120),
            tcp_max_connections: 2048,
            tcp_accept_iplimit: 1024,
            tcp_crlf_ping: true,
            tcp_accept_no_cl: false,
            tcp_connect_timeout: Duration::from_secs(10),
            tcp_send_timeout: Duration::from_secs(10),
            tcp_no_connect: false,
            tcp_max_msg_size: BUF_SIZE,
            tcp_conn_wq_max: 1024,
            tcp_worker_queue: 1024,
            io_threads: 1,
            tos: 0x10,
            tcp_keepalive: KeepAlive::default(),
            corelog: -1,
        }
    }
}

impl TransportConfig {
    /// Rejects values that would make a thread pool or a queue empty.
    pub fn validate(&self) -> Result<(), Error> {
        let positive: [(&'static str, usize); 6] = [
            ("children", self.children),
            ("tcp_children", self.tcp_children),
            ("udp_batch", self.udp_batch),
            ("tcp_conn_wq_max", self.tcp_conn_wq_max),
            ("tcp_worker_queue", self.tcp_worker_queue),
            ("io_threads", self.io_threads),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(Error::InvalidSetting {
                    name,
                    reason: "must be at least 1".into(),
                });
            }
        }
        if self.udp_batch > 1024 {
            return Err(Error::InvalidSetting {
                name: "udp_batch",
                reason: "at most 1024 (UIO_MAXIOV)".into(),
            });
        }
        if self.udp_poll_interval.is_zero() {
            return Err(Error::InvalidSetting {
                name: "udp_poll_interval",
                reason: "must not be zero (a zero SO_RCVTIMEO blocks forever)".into(),
            });
        }
        if self.tcp_connection_lifetime.is_zero() {
            return Err(Error::InvalidSetting {
                name: "tcp_connection_lifetime",
                reason: "must be positive".into(),
            });
        }
        Ok(())
    }
}

/// Logs `text` from `func` at the Kamailio level `level` (`corelog`): the `tracing` level whose
/// band holds it, with the exact level in the `klevel` field (the server's log layer prints it,
/// filtered by `debug`, see its `LogLevel::band`).
pub(crate) fn log_core(level: i32, func: &str, text: &str) {
    let k = i64::from(level);
    match level {
        i32::MIN..=-1 => tracing::error!(klevel = k, func, "{text}"),
        0 => tracing::warn!(klevel = k, func, "{text}"),
        1 | 2 => tracing::info!(klevel = k, func, "{text}"),
        _ => tracing::debug!(klevel = k, func, "{text}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_table() {
        type Tweak = fn(&mut TransportConfig);
        let cases: [(&str, Tweak, Option<&str>); 6] = [
            ("defaults", |_| {}, None),
            ("no children", |c| c.children = 0, Some("children")),
            (
                "no tcp children",
                |c| c.tcp_children = 0,
                Some("tcp_children"),
            ),
            ("huge batch", |c| c.udp_batch = 5000, Some("udp_batch")),
            (
                "zero poll",
                |c| c.udp_poll_interval = Duration::ZERO,
                Some("udp_poll_interval"),
            ),
            (
                "zero lifetime",
                |c| c.tcp_connection_lifetime = Duration::ZERO,
                Some("tcp_connection_lifetime"),
            ),
        ];
        for (what, tweak, want) in cases {
            let mut c = TransportConfig::default();
            tweak(&mut c);
            match (c.validate(), want) {
                (Ok(()), None) => {}
                (Err(Error::InvalidSetting { name, .. }), Some(w)) => assert_eq!(name, w, "{what}"),
                (got, _) => panic!("{what}: unexpected {got:?}"),
            }
        }
    }
}
