//! Shutdown: every thread and socket the transport created is gone after `join`, within a bound.
//! One test in its own binary, so that counting this process's threads and descriptors is exact.

mod common;

use std::io::Write;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::time::{Duration, Instant};

use common::*;
use ferrosip_transport::{Destination, Proto, SendOptions};

fn thread_names() -> Vec<String> {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .map(|s| s.trim().to_string())
        .collect()
}

fn fds() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| {
            let p = e.ok()?.path();
            Some(format!(
                "{}->{}",
                p.display(),
                std::fs::read_link(&p).ok()?.display()
            ))
        })
        .collect();
    v.sort();
    v
}

#[test]
fn join_stops_every_thread_and_closes_every_socket() {
    let threads_before = thread_names().len();
    let fds_before = fds();

    let mut udp6 = spec(Proto::Udp, "::1");
    udp6.workers = Some(3); // socket_workers override
    let specs = [
        spec(Proto::Udp, "127.0.0.1"),
        udp6,
        spec(Proto::Tcp, "127.0.0.1"),
    ];
    let (t, rx) = start_recording(cfg(), &specs, None);

    // A new thread names itself once it runs, so poll until all have.
    let count = |prefix: &str| {
        thread_names()
            .iter()
            .filter(|n| n.starts_with(prefix))
            .count()
    };
    eventually("children=2 on socket 0", || count("fs-udp0-") == 2);
    eventually("socket_workers=3 on socket 1", || count("fs-udp1-") == 3);
    eventually("tcp_children=2", || count("fs-tcpw-") == 2);
    eventually("one I/O thread", || count("fs-tcp-io") == 1);

    // Leave live traffic and connections behind: an accepted one, an outgoing one, UDP.
    let mut c = TcpStream::connect(local(&t, 2)).unwrap();
    c.write_all(sip("live", "").as_bytes()).unwrap();
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    t.handle()
        .send(
            &Destination::new(Proto::Tcp, peer.local_addr().unwrap()),
            SendOptions::default(),
            b"x",
        )
        .unwrap();
    let (_accepted, _) = peer.accept().unwrap();
    let u = UdpSocket::bind("127.0.0.1:0").unwrap();
    u.send_to(sip("udp", "").as_bytes(), local(&t, 0)).unwrap();
    take(&rx, 2);
    eventually("both connections in the table", || {
        t.handle().connections().len() == 2
    });
    let handle = t.handle(); // a handle outliving the transport must not keep sockets open

    let started = Instant::now();
    t.join(Duration::from_secs(3))
        .expect("every thread stopped");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "join took {took:?}");

    // Our own test sockets go too, then the process must be back where it started.
    drop((c, peer, _accepted, u));
    eventually("threads gone", || {
        let now = thread_names();
        now.iter().all(|n| !n.starts_with("fs-")) && now.len() == threads_before
    });
    let deadline = Instant::now() + WAIT;
    while fds() != fds_before && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(fds(), fds_before, "descriptors left open");
    assert!(handle.connections().is_empty());
    drop(handle);
    drop(rx);
}
