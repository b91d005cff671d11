//! Core statistics with Kamailio's counter names (`core:` group of `kamcmd stats.get_statistics`).
//! Relaxed atomics: counters, not synchronisation.

use std::sync::atomic::{AtomicU64, Ordering};

/// The core counters the receive and forward paths keep.
#[derive(Debug, Default)]
pub struct CoreStats {
    pub rcv_requests: AtomicU64,
    pub rcv_replies: AtomicU64,
    pub fwd_requests: AtomicU64,
    pub fwd_replies: AtomicU64,
    pub drop_requests: AtomicU64,
    pub drop_replies: AtomicU64,
    pub err_requests: AtomicU64,
    pub err_replies: AtomicU64,
    /// Messages that could not be parsed (first line, Via) or lacked a mandatory header.
    pub bad_msg_hdr: AtomicU64,
    /// Messages above `msg_recv_max_size`.
    pub too_big: AtomicU64,
}

impl CoreStats {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    /// The counter called `name` (Kamailio's name), for the statistics registry.
    pub fn counter(&self, name: &str) -> Option<&AtomicU64> {
        Some(match name {
            "rcv_requests" => &self.rcv_requests,
            "rcv_replies" => &self.rcv_replies,
            "fwd_requests" => &self.fwd_requests,
            "fwd_replies" => &self.fwd_replies,
            "drop_requests" => &self.drop_requests,
            "drop_replies" => &self.drop_replies,
            "err_requests" => &self.err_requests,
            "err_replies" => &self.err_replies,
            "bad_msg_hdr" => &self.bad_msg_hdr,
            "too_big" => &self.too_big,
            _ => return None,
        })
    }

    /// `(name, value)` pairs with Kamailio's names.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        vec![
            ("rcv_requests", g(&self.rcv_requests)),
            ("rcv_replies", g(&self.rcv_replies)),
            ("fwd_requests", g(&self.fwd_requests)),
            ("fwd_replies", g(&self.fwd_replies)),
            ("drop_requests", g(&self.drop_requests)),
            ("drop_replies", g(&self.drop_replies)),
            ("err_requests", g(&self.err_requests)),
            ("err_replies", g(&self.err_replies)),
            ("bad_msg_hdr", g(&self.bad_msg_hdr)),
            ("too_big", g(&self.too_big)),
        ]
    }
}
