//! Counters: plain relaxed atomics, cheap enough for the data path, read as a snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

macro_rules! counters {
    ($($(#[$doc:meta])* $name:ident),* $(,)?) => {
        /// Live counters shared by every thread of a transport.
        #[derive(Debug, Default)]
        pub struct Stats {
            $($(#[$doc])* pub $name: AtomicU64,)*
        }

        /// A copy of [`Stats`] at one moment.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
        pub struct StatsSnapshot {
            $($(#[$doc])* pub $name: u64,)*
        }

        impl Stats {
            /// Reads every counter (each one atomically; the set is not a consistent cut).
            pub fn snapshot(&self) -> StatsSnapshot {
                StatsSnapshot { $($name: self.$name.load(Relaxed),)* }
            }
        }
    };
}

counters! {
    /// Datagrams handed to the handler.
    udp_received,
    /// `recvmmsg` calls that returned at least one datagram.
    udp_recv_calls,
    /// Largest number of datagrams one `recvmmsg` returned.
    udp_max_batch,
    /// Dropped: shorter than `MIN_UDP_PACKET`.
    udp_dropped_short,
    /// Dropped: source port 0.
    udp_dropped_port0,
    /// Dropped: larger than the receive buffer (truncated by the kernel).
    udp_dropped_truncated,
    /// `recvmmsg` failures other than timeouts and interrupts.
    udp_recv_errors,
    /// Datagrams sent.
    udp_sent,
    /// `sendto` failures.
    udp_send_errors,
    /// TCP messages handed to the handler.
    tcp_received,
    /// TCP buffers written.
    tcp_sent,
    /// Connections accepted.
    tcp_accepted,
    /// Outgoing connections established.
    tcp_connected,
    /// Outgoing connections that failed or timed out.
    tcp_connect_failed,
    /// Connections open now (accepted + outgoing, including connecting).
    tcp_active,
    /// Accepts refused: `tcp_max_connections`.
    tcp_rejected_max,
    /// Accepts refused: `tcp_accept_iplimit`.
    tcp_rejected_iplimit,
    /// Connections closed for idleness (`tcp_connection_lifetime`).
    tcp_closed_idle,
    /// Connections closed because the stream could not be framed (bad Content-Length, too big).
    tcp_frame_errors,
    /// Writes that failed (peer gone).
    tcp_send_errors,
    /// Writes that hit `tcp_send_timeout`.
    tcp_send_timeouts,
    /// Sends refused because the connection's write queue was full.
    tcp_sendq_full,
    /// Connections whose read failed (reset by the peer).
    tcp_con_reset,
    /// CRLFCRLF keepalives received.
    tcp_crlf_pings,
    /// Handler calls that panicked (the worker survives).
    handler_panics,
}

impl StatsSnapshot {
    /// The counters under Kamailio's names of the `tcp` group (`kamcmd cnt.get tcp ...`,
    /// `stats.get_statistics tcp:`). `current_write_queue_size` (bytes queued) is not tracked.
    pub fn kamailio_tcp(&self) -> [(&'static str, u64); 10] {
        [
            ("established", self.tcp_accepted + self.tcp_connected),
            ("passive_open", self.tcp_accepted),
            ("connect_success", self.tcp_connected),
            ("connect_failed", self.tcp_connect_failed),
            (
                "local_reject",
                self.tcp_rejected_max + self.tcp_rejected_iplimit,
            ),
            ("con_timeout", self.tcp_closed_idle),
            ("con_reset", self.tcp_con_reset),
            ("send_timeout", self.tcp_send_timeouts),
            ("sendq_full", self.tcp_sendq_full),
            ("current_opened_connections", self.tcp_active),
        ]
    }
}

impl Stats {
    pub(crate) fn add(c: &AtomicU64, n: u64) {
        c.fetch_add(n, Relaxed);
    }
    pub(crate) fn inc(c: &AtomicU64) {
        c.fetch_add(1, Relaxed);
    }
    pub(crate) fn dec(c: &AtomicU64) {
        c.fetch_sub(1, Relaxed);
    }
    pub(crate) fn max(c: &AtomicU64, v: u64) {
        c.fetch_max(v, Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snapshot_reflects_updates() {
        let s = Stats::default();
        Stats::inc(&s.udp_received);
        Stats::add(&s.udp_received, 4);
        Stats::max(&s.udp_max_batch, 7);
        Stats::max(&s.udp_max_batch, 3);
        Stats::inc(&s.tcp_active);
        Stats::dec(&s.tcp_active);
        let snap = s.snapshot();
        assert_eq!(snap.udp_received, 5);
        assert_eq!(snap.udp_max_batch, 7);
        assert_eq!(snap.tcp_active, 0);
        assert_eq!(snap.tcp_sent, 0);
    }

    #[test]
    fn kamailio_tcp_names_add_up() {
        let s = StatsSnapshot {
            tcp_accepted: 3,
            tcp_connected: 2,
            tcp_rejected_max: 1,
            tcp_rejected_iplimit: 4,
            tcp_active: 5,
            tcp_send_timeouts: 6,
            ..StatsSnapshot::default()
        };
        let k: std::collections::HashMap<_, _> = s.kamailio_tcp().into_iter().collect();
        let cases = [
            ("established", 5),
            ("passive_open", 3),
            ("connect_success", 2),
            ("local_reject", 5),
            ("current_opened_connections", 5),
            ("send_timeout", 6),
            ("con_reset", 0),
        ];
        for (name, want) in cases {
            assert_eq!(k[name], want, "{name}");
        }
    }
}
