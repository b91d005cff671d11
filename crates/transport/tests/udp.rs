//! UDP on real loopback sockets: delivery and ReceiveInfo across workers, batching, replies from
//! the receiving socket, drops of tiny datagrams, IPv6, wildcard destination addresses.

mod common;

use std::collections::HashSet;
use std::net::UdpSocket;
use std::time::Duration;

use common::*;
use ferrosip_transport::{Destination, Error, Proto, SendOptions, Sent, SocketId, Transport};

#[test]
fn datagrams_reach_the_handler_across_two_workers() {
    // A slow handler keeps one receiver busy, so the other must pick up what arrives meanwhile.
    let (t, rx) = start_recording(
        cfg(),
        &[spec(Proto::Udp, "127.0.0.1")],
        Some(|_, _, _| std::thread::sleep(Duration::from_micros(300))),
    );
    let server = local(&t, 0);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    const N: usize = 300;
    let mut sent = HashSet::new();
    for i in 0..N {
        let m = sip(&format!("u{i}"), "x");
        client.send_to(m.as_bytes(), server).unwrap();
        sent.insert(m.into_bytes());
        if i % 50 == 49 {
            // Stay well below the socket buffer: this test is about delivery, not loss.
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let got = take(&rx, N);
    let mut threads = HashSet::new();
    for g in &got {
        assert_eq!(g.ri.src, client.local_addr().unwrap());
        assert_eq!(g.ri.dst, server);
        assert_eq!(g.ri.proto, Proto::Udp);
        assert_eq!(g.ri.socket, SocketId(0));
        assert_eq!(g.ri.conn, None);
        assert!(sent.remove(&g.data), "duplicate or foreign datagram");
        threads.insert(g.thread.clone());
    }
    assert!(sent.is_empty());
    assert!(
        threads.iter().all(|n| n.starts_with("fs-udp0-")),
        "{threads:?}"
    );
    // Two receivers share the socket; under this load both get work.
    assert_eq!(threads.len(), 2, "workers used: {threads:?}");
    // The counter is bumped once per batch, after the handler calls.
    eventually("udp_received", || t.stats().udp_received == N as u64);
    t.join(WAIT).unwrap();
}

#[test]
fn a_burst_is_read_in_recvmmsg_batches() {
    let mut c = cfg();
    c.children = 1;
    let mut t = Transport::bind(c, &[spec(Proto::Udp, "127.0.0.1")]).unwrap();
    let server = local(&t, 0);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    const N: usize = 64;
    // Queue the burst before any receiver runs, so the first calls find many datagrams waiting.
    for i in 0..N {
        client
            .send_to(sip(&format!("b{i}"), "").as_bytes(), server)
            .unwrap();
    }
    let (tx, rx) = std::sync::mpsc::channel();
    t.start(move |_, d| {
        let _ = tx.send(d.len());
    })
    .unwrap();
    for _ in 0..N {
        rx.recv_timeout(WAIT).expect("datagram");
    }
    eventually("udp_received", || t.stats().udp_received == N as u64);
    let s = t.stats();
    assert!(s.udp_max_batch > 1, "max batch {}", s.udp_max_batch);
    assert!(
        s.udp_recv_calls < N as u64,
        "{} calls for {N} datagrams",
        s.udp_recv_calls
    );
    t.join(WAIT).unwrap();
}

#[test]
fn a_reply_from_the_receiving_socket_reaches_the_client() {
    let specs = [spec(Proto::Udp, "127.0.0.1"), spec(Proto::Udp, "127.0.0.1")];
    let (t, rx) = start_recording(
        cfg(),
        &specs,
        Some(|h, ri, data| {
            let mut reply = b"SIP/2.0 200 OK\r\n".to_vec();
            reply.extend_from_slice(data);
            let sent = h.send(&Destination::reply_to(ri), SendOptions::default(), &reply);
            assert_eq!(sent.unwrap(), Sent::Udp { from: ri.socket });
        }),
    );
    // Use the second socket so "first socket of the family" would be visibly wrong.
    let server = local(&t, 1);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_read_timeout(Some(WAIT)).unwrap();
    let m = sip("r1", "hello");
    client.send_to(m.as_bytes(), server).unwrap();
    let g = take(&rx, 1);
    assert_eq!(g[0].ri.socket, SocketId(1));
    let mut buf = [0u8; 2048];
    let (n, from) = client.recv_from(&mut buf).unwrap();
    assert_eq!(
        from, server,
        "reply must leave from the socket that received"
    );
    assert_eq!(&buf[..n], format!("SIP/2.0 200 OK\r\n{m}").as_bytes());
    assert_eq!(t.stats().udp_sent, 1);
    t.join(WAIT).unwrap();
}

#[test]
fn tiny_datagrams_are_dropped_and_counted() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Udp, "127.0.0.1")], None);
    let server = local(&t, 0);
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    let tiny: [&[u8]; 4] = [b"\r\n\r\n", b"\0\0\0\0", b"x", &[b'y'; 31]];
    for d in tiny {
        client.send_to(d, server).unwrap();
    }
    let m = sip("after-tiny", "");
    client.send_to(m.as_bytes(), server).unwrap();
    let g = take(&rx, 1);
    assert_eq!(g[0].data, m.as_bytes());
    nothing_more(&rx, Duration::from_millis(100));
    eventually("drop counter", || t.stats().udp_dropped_short == 4);
    eventually("udp_received", || t.stats().udp_received == 1);
    t.join(WAIT).unwrap();
}

#[test]
fn ipv6_and_wildcard_sockets_report_real_addresses() {
    let specs = [
        spec(Proto::Udp, "::1"),
        spec(Proto::Udp, "0.0.0.0"),
        spec(Proto::Udp, "::"),
    ];
    let (t, rx) = start_recording(cfg(), &specs, None);
    let cases = [
        ("[::1]:0", 0usize, "::1"),
        ("127.0.0.1:0", 1, "127.0.0.1"),
        ("[::1]:0", 2, "::1"),
    ];
    for (client_addr, sock, want_dst_ip) in cases {
        let client = UdpSocket::bind(client_addr).unwrap();
        let port = local(&t, sock).port();
        let target = std::net::SocketAddr::new(want_dst_ip.parse().unwrap(), port);
        client.send_to(sip("v6", "").as_bytes(), target).unwrap();
        let g = take(&rx, 1);
        assert_eq!(g[0].ri.socket, SocketId(sock as u32));
        assert_eq!(g[0].ri.src, client.local_addr().unwrap());
        assert_eq!(g[0].ri.dst, target, "socket {sock}");
    }
    t.join(WAIT).unwrap();
}

#[test]
fn unimplemented_protocols_are_refused_by_name() {
    for proto in [Proto::Tls, Proto::Sctp, Proto::Ws, Proto::Wss] {
        let specs = [spec(Proto::Udp, "127.0.0.1"), spec(proto, "127.0.0.1")];
        match Transport::bind(cfg(), &specs) {
            Err(e @ Error::ProtoNotSupported(p)) => {
                assert_eq!(p, proto);
                assert!(e.to_string().contains(proto.as_str()), "{e}");
            }
            Err(e) => panic!("{proto}: wrong error {e}"),
            Ok(_) => panic!("{proto} accepted"),
        }
    }
}

#[test]
fn sending_needs_a_socket_of_the_family() {
    let t = Transport::bind(cfg(), &[spec(Proto::Udp, "127.0.0.1")]).unwrap();
    let h = t.handle();
    let dst = Destination::new(Proto::Udp, "[::1]:5060".parse().unwrap());
    assert!(matches!(
        h.send(&dst, SendOptions::default(), b"x"),
        Err(Error::NoSocket { .. })
    ));
    let mut bad = Destination::new(Proto::Udp, "127.0.0.1:5060".parse().unwrap());
    bad.socket = Some(SocketId(7));
    assert!(matches!(
        h.send(&bad, SendOptions::default(), b"x"),
        Err(Error::WrongSocket(SocketId(7)))
    ));
    t.join(WAIT).unwrap();
    assert!(matches!(
        h.send(
            &Destination::new(Proto::Udp, "127.0.0.1:9".parse().unwrap()),
            SendOptions::default(),
            b"x"
        ),
        Err(Error::ShutDown)
    ));
}

#[test]
fn sockets_are_found_by_address_and_name() {
    let mut named = spec(Proto::Udp, "127.0.0.1");
    named.name = Some("s-lo".into());
    let specs = [
        named,
        spec(Proto::Udp, "0.0.0.0"),
        spec(Proto::Tcp, "127.0.0.1"),
    ];
    let t = Transport::bind(cfg(), &specs).unwrap();
    let h = t.handle();
    let (lo, any, tcp) = (local(&t, 0), local(&t, 1), local(&t, 2));
    let via_wildcard = std::net::SocketAddr::new("127.0.0.1".parse().unwrap(), any.port());
    let cases = [
        (Proto::Udp, lo, Some(0)),
        (Proto::Udp, via_wildcard, Some(1)),
        (Proto::Tcp, tcp, Some(2)),
        (Proto::Udp, tcp, None),
        (Proto::Tcp, lo, None),
    ];
    for (proto, addr, want) in cases {
        assert_eq!(
            h.find_socket(proto, addr).map(|s| s.id),
            want.map(SocketId),
            "{proto}:{addr}"
        );
    }
    assert_eq!(h.socket_by_name("s-lo").map(|s| s.id), Some(SocketId(0)));
    assert!(h.socket_by_name("nope").is_none());
    t.join(WAIT).unwrap();
}

#[test]
fn a_panicking_handler_is_counted_and_the_worker_goes_on() {
    let mut c = cfg();
    c.children = 1;
    let (t, rx) = start_recording(
        c,
        &[spec(Proto::Udp, "127.0.0.1")],
        Some(|_, _, d| assert!(!d.windows(5).any(|w| w == b"boom!"), "handler failure")),
    );
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(sip("p1", "boom!").as_bytes(), local(&t, 0))
        .unwrap();
    client
        .send_to(sip("p2", "fine").as_bytes(), local(&t, 0))
        .unwrap();
    let g = take(&rx, 1);
    assert_eq!(g[0].data, sip("p2", "fine").as_bytes());
    eventually("panic counted", || t.stats().handler_panics == 1);
    t.join(WAIT).unwrap();
}

#[test]
fn join_reports_a_worker_stuck_in_its_handler() {
    let mut c = cfg();
    c.children = 1;
    let (t, rx) = start_recording(
        c,
        &[spec(Proto::Udp, "127.0.0.1")],
        Some(|_, _, _| std::thread::sleep(Duration::from_millis(1500))),
    );
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    client
        .send_to(sip("slow", "").as_bytes(), local(&t, 0))
        .unwrap();
    // The recording happens after the slow part; wait until the worker is inside the handler.
    std::thread::sleep(Duration::from_millis(200));
    let started = std::time::Instant::now();
    match t.join(Duration::from_millis(300)) {
        Err(Error::Thread(msg)) => assert!(msg.contains("fs-udp0-0"), "{msg}"),
        other => panic!("expected a stuck-thread error, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "join overran its bound"
    );
    drop(rx);
}
