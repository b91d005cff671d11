//! Helpers shared by the black-box transport tests: a recording handler and small configs.
#![allow(dead_code)]

use std::net::{IpAddr, SocketAddr};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ferrosip_transport::{
    ListenSpec, Proto, ReceiveInfo, Transport, TransportConfig, TransportHandle,
};

pub const WAIT: Duration = Duration::from_secs(5);

/// A received message as the handler saw it.
#[derive(Debug, Clone)]
pub struct Got {
    pub ri: ReceiveInfo,
    pub data: Vec<u8>,
    pub thread: String,
}

pub fn cfg() -> TransportConfig {
    TransportConfig {
        children: 2,
        tcp_children: 2,
        udp_poll_interval: Duration::from_millis(50),
        ..TransportConfig::default()
    }
}

pub fn spec(proto: Proto, ip: &str) -> ListenSpec {
    ListenSpec::new(proto, ip.parse::<IpAddr>().unwrap(), 0)
}

/// Binds, starts with a handler that records every message (and, if `reply` is given, answers
/// it through the transport with `reply(handle, ri, data)`), returns the transport and the feed.
pub fn start_recording(
    cfg: TransportConfig,
    specs: &[ListenSpec],
    reply: Option<fn(&TransportHandle, &ReceiveInfo, &[u8])>,
) -> (Transport, mpsc::Receiver<Got>) {
    let mut t = Transport::bind(cfg, specs).expect("bind");
    let (tx, rx) = mpsc::channel();
    let handle = Arc::new(OnceLock::new());
    let _ = handle.set(t.handle());
    t.start(move |ri: &ReceiveInfo, data: &[u8]| {
        if let (Some(f), Some(h)) = (reply, handle.get()) {
            f(h, ri, data);
        }
        let _ = tx.send(Got {
            ri: *ri,
            data: data.to_vec(),
            thread: std::thread::current().name().unwrap_or("").to_string(),
        });
    })
    .expect("start");
    (t, rx)
}

/// Receives `n` messages or panics after `WAIT`.
pub fn take(rx: &mpsc::Receiver<Got>, n: usize) -> Vec<Got> {
    let deadline = Instant::now() + WAIT;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(g) => out.push(g),
            Err(_) => panic!("got {} of {n} messages", out.len()),
        }
    }
    out
}

/// Asserts that nothing more arrives within `d`.
pub fn nothing_more(rx: &mpsc::Receiver<Got>, d: Duration) {
    if let Ok(g) = rx.recv_timeout(d) {
        panic!("unexpected message {:?}", String::from_utf8_lossy(&g.data));
    }
}

/// A SIP request with a Content-Length and a body, at least 32 bytes.
pub fn sip(tag: &str, body: &str) -> String {
    format!(
        "OPTIONS sip:{tag}@example.com SIP/2.0\r\nCall-ID: {tag}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// Waits until `f` is true or panics after `WAIT`.
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

pub fn local(t: &Transport, i: usize) -> SocketAddr {
    t.sockets()[i].local
}
