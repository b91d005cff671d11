//! `tcp_keepalive`, `tcp_keepidle`, `tcp_keepintvl`, `tcp_keepcnt` on real loopback connections:
//! the options are read back with getsockopt from the transport's own descriptors (found in
//! /proc/self/fd by their addresses) on an accepted connection and on an outgoing one.

mod common;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::BorrowedFd;
use std::time::Duration;

use common::*;
use ferrosip_transport::config::KeepAlive;
use ferrosip_transport::{Destination, Proto, SendOptions, TransportConfig};

/// What getsockopt says about one socket: SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT.
#[derive(Debug, PartialEq, Eq)]
struct Opts {
    on: bool,
    idle: u64,
    intvl: u64,
    cnt: u32,
}

/// The options of the descriptor of this process connected from `local` to `peer`.
fn opts_of(local: SocketAddr, peer: SocketAddr) -> Option<Opts> {
    let dir = std::fs::read_dir("/proc/self/fd").ok()?;
    for e in dir.flatten() {
        let Some(fd) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let is_socket =
            std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().starts_with("socket:"));
        if !is_socket {
            continue;
        }
        // SAFETY: the descriptor is open (just listed) and only borrowed for these getsockopt
        // calls; the transport that owns it is alive until the test ends.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let s = socket2::SockRef::from(&fd);
        let addr = |a: std::io::Result<socket2::SockAddr>| a.ok().and_then(|a| a.as_socket());
        if addr(s.local_addr()) == Some(local) && addr(s.peer_addr()) == Some(peer) {
            return Some(Opts {
                on: s.keepalive().ok()?,
                idle: s.keepalive_time().ok()?.as_secs(),
                intvl: s.keepalive_interval().ok()?.as_secs(),
                cnt: s.keepalive_retries().ok()?,
            });
        }
    }
    None
}

fn sysctl(name: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/sys/net/ipv4/{name}"))
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or_else(|| panic!("/proc/sys/net/ipv4/{name}"))
}

/// Opens one accepted and one outgoing connection on a transport with `ka` and returns the
/// options of both as the transport's sockets carry them.
fn accepted_and_outgoing(ka: KeepAlive) -> (Opts, Opts) {
    let cfg = TransportConfig {
        tcp_keepalive: ka,
        ..cfg()
    };
    let (t, _rx) = start_recording(cfg, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let listen = local(&t, 0);

    // Accepted: our client connects; the transport's socket goes from `listen` to the client.
    let c = TcpStream::connect(listen).expect("connect");
    let client = c.local_addr().expect("client address");
    let h = t.handle();
    eventually("the connection is accepted", || {
        h.connections().iter().any(|i| i.peer == client)
    });
    let accepted = opts_of(listen, client).expect("the accepted socket");

    // Outgoing: the transport connects to our listener from its listener's IP.
    let peer = TcpListener::bind("127.0.0.1:0").expect("bind peer");
    let dst = Destination::new(Proto::Tcp, peer.local_addr().expect("peer address"));
    h.send(&dst, SendOptions::default(), sip("ka", "").as_bytes())
        .expect("send");
    let (_s, from) = peer.accept().expect("accept");
    let outgoing = opts_of(from, dst.addr).expect("the outgoing socket");
    drop(c);
    t.join(WAIT).expect("join");
    (accepted, outgoing)
}

#[test]
fn configured_keepalive_options_are_on_accepted_and_outgoing_connections() {
    let (a, o) = accepted_and_outgoing(KeepAlive {
        enabled: true,
        idle: 31,
        interval: 7,
        count: 4,
    });
    let want = Opts {
        on: true,
        idle: 31,
        intvl: 7,
        cnt: 4,
    };
    assert_eq!(a, want, "accepted");
    assert_eq!(o, want, "outgoing");
}

#[test]
fn defaults_enable_keepalive_and_leave_the_timers_to_the_system() {
    let (a, o) = accepted_and_outgoing(KeepAlive::default());
    let want = Opts {
        on: true,
        idle: sysctl("tcp_keepalive_time"),
        intvl: sysctl("tcp_keepalive_intvl"),
        cnt: u32::try_from(sysctl("tcp_keepalive_probes")).unwrap_or(u32::MAX),
    };
    assert_eq!(a, want, "accepted");
    assert_eq!(o, want, "outgoing");
}

#[test]
fn keepalive_off_still_sets_the_numbers_as_kamailio_does() {
    let (a, o) = accepted_and_outgoing(KeepAlive {
        enabled: false,
        idle: 45,
        interval: 0,
        count: 2,
    });
    let want = Opts {
        on: false,
        idle: 45,
        intvl: sysctl("tcp_keepalive_intvl"),
        cnt: 2,
    };
    assert_eq!(a, want, "accepted");
    assert_eq!(o, want, "outgoing");
    // Not a value the kernel takes: a warning, the connection still works.
    let (a, _) = accepted_and_outgoing(KeepAlive {
        enabled: true,
        idle: 86_400,
        interval: 0,
        count: 0,
    });
    assert!(a.on);
    assert_eq!(a.idle, sysctl("tcp_keepalive_time"));
}

#[test]
fn a_second_connection_inherits_too() {
    // Linux copies the listener's options at accept: check a later connection as well, after
    // the first one closed.
    let cfg = TransportConfig {
        tcp_keepalive: KeepAlive {
            enabled: true,
            idle: 12,
            interval: 3,
            count: 5,
        },
        ..cfg()
    };
    let (t, _rx) = start_recording(cfg, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let listen = local(&t, 0);
    let h = t.handle();
    for round in 0..2 {
        let c = TcpStream::connect(listen).expect("connect");
        let client = c.local_addr().expect("client");
        eventually("accepted", || {
            h.connections().iter().any(|i| i.peer == client)
        });
        let got = opts_of(listen, client).expect("accepted socket");
        assert_eq!(
            got,
            Opts {
                on: true,
                idle: 12,
                intvl: 3,
                cnt: 5
            },
            "round {round}"
        );
        drop(c);
        std::thread::sleep(Duration::from_millis(20));
    }
    t.join(WAIT).expect("join");
}
