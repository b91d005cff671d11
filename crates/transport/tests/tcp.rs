//! TCP on real loopback sockets: framing across writes, pipelining, CRLF pings, replies and
//! requests reusing connections, aliases, connect on demand and "no connect", idle lifetime,
//! connection limits, close-after-send, framing errors, IPv6.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use common::*;
use ferrosip_transport::{
    ConnId, ConnState, Destination, Direction, Error, Proto, SendOptions, Sent, TransportConfig,
};

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    s
}

/// Reads exactly `n` bytes.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// True when the peer closed (EOF or reset) within `WAIT`; false on data or timeout.
fn closed_by_peer(s: &mut TcpStream) -> bool {
    let mut b = [0u8; 64];
    match s.read(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

fn echo_reply(
    h: &ferrosip_transport::TransportHandle,
    ri: &ferrosip_transport::ReceiveInfo,
    d: &[u8],
) {
    if d.starts_with(b"OPTIONS sip:reply") {
        let mut r = b"SIP/2.0 200 OK\r\n".to_vec();
        r.extend_from_slice(d);
        let close = d.windows(5).any(|w| w == b"close");
        let opts = SendOptions {
            close_after: close,
            ..SendOptions::default()
        };
        let sent = h.send(&Destination::reply_to(ri), opts, &r).unwrap();
        assert!(matches!(sent, Sent::Tcp { conn, new_connection: false } if Some(conn) == ri.conn));
    }
}

#[test]
fn a_message_split_over_several_writes_arrives_whole() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut c = connect(local(&t, 0));
    let m = sip("split", "0123456789abcdef");
    for chunk in m.as_bytes().chunks(7) {
        c.write_all(chunk).unwrap();
        c.flush().unwrap();
        std::thread::sleep(Duration::from_millis(3));
    }
    let g = take(&rx, 1);
    assert_eq!(g[0].data, m.as_bytes());
    assert_eq!(g[0].ri.proto, Proto::Tcp);
    assert_eq!(g[0].ri.src, c.local_addr().unwrap());
    assert_eq!(g[0].ri.dst, local(&t, 0));
    assert!(g[0].ri.conn.is_some());
    assert!(g[0].thread.starts_with("fs-tcpw-"), "{}", g[0].thread);
    nothing_more(&rx, Duration::from_millis(50));
    t.join(WAIT).unwrap();
}

#[test]
fn pipelined_messages_in_one_write_arrive_as_two_in_order() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut c = connect(local(&t, 0));
    let (a, b) = (sip("one", "first body"), sip("two", ""));
    c.write_all(format!("{a}{b}").as_bytes()).unwrap();
    let g = take(&rx, 2);
    assert_eq!(g[0].data, a.as_bytes());
    assert_eq!(g[1].data, b.as_bytes());
    assert_eq!(g[0].ri.conn, g[1].ri.conn);
    eventually("tcp_received", || t.stats().tcp_received == 2);
    t.join(WAIT).unwrap();
}

#[test]
fn crlf_ping_is_answered_with_crlf() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut c = connect(local(&t, 0));
    c.write_all(b"\r\n\r\n").unwrap();
    assert_eq!(read_n(&mut c, 2), b"\r\n");
    // The connection still carries SIP afterwards.
    let m = sip("after-ping", "");
    c.write_all(m.as_bytes()).unwrap();
    assert_eq!(take(&rx, 1)[0].data, m.as_bytes());
    assert_eq!(t.stats().tcp_crlf_pings, 1);
    t.join(WAIT).unwrap();

    // With tcp_crlf_ping off the ping is swallowed silently.
    let mut off = cfg();
    off.tcp_crlf_ping = false;
    let (t, rx) = start_recording(off, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut c = connect(local(&t, 0));
    c.write_all(b"\r\n\r\n").unwrap();
    let m = sip("no-pong", "");
    c.write_all(m.as_bytes()).unwrap();
    assert_eq!(take(&rx, 1)[0].data, m.as_bytes());
    c.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let mut b = [0u8; 8];
    assert!(c.read(&mut b).is_err(), "no pong expected");
    t.join(WAIT).unwrap();
}

#[test]
fn a_reply_goes_back_on_the_same_connection() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], Some(echo_reply));
    let mut c1 = connect(local(&t, 0));
    let mut c2 = connect(local(&t, 0));
    let (m1, m2) = (sip("reply-1", ""), sip("reply-2", "two"));
    c2.write_all(m2.as_bytes()).unwrap();
    c1.write_all(m1.as_bytes()).unwrap();
    let g = take(&rx, 2);
    assert_ne!(g[0].ri.conn, g[1].ri.conn);
    let want1 = format!("SIP/2.0 200 OK\r\n{m1}");
    let want2 = format!("SIP/2.0 200 OK\r\n{m2}");
    assert_eq!(read_n(&mut c1, want1.len()), want1.as_bytes());
    assert_eq!(read_n(&mut c2, want2.len()), want2.as_bytes());
    eventually("tcp_sent", || t.stats().tcp_sent == 2);
    t.join(WAIT).unwrap();
}

#[test]
fn reply_close_closes_after_writing() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], Some(echo_reply));
    let mut c = connect(local(&t, 0));
    let m = sip("reply-close", "close");
    c.write_all(m.as_bytes()).unwrap();
    take(&rx, 1);
    let want = format!("SIP/2.0 200 OK\r\n{m}");
    assert_eq!(read_n(&mut c, want.len()), want.as_bytes());
    assert!(closed_by_peer(&mut c));
    eventually("table empty", || t.handle().connections().is_empty());
    t.join(WAIT).unwrap();
}

#[test]
fn a_request_to_a_connected_peer_reuses_the_connection_and_its_aliases() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let h = t.handle();
    let mut c = connect(local(&t, 0));
    c.write_all(sip("register", "").as_bytes()).unwrap();
    let ri = take(&rx, 1)[0].ri;
    let conn = ri.conn.unwrap();
    let info = h.connection(conn).unwrap();
    assert_eq!(info.direction, Direction::Accepted);
    assert_eq!(info.peer, c.local_addr().unwrap());
    assert_eq!(h.find_connection(ri.src), Some(conn));

    // A new request to the peer's address, no connection id given: same connection.
    let req = sip("request-to-peer", "");
    let sent = h
        .send(
            &Destination::new(Proto::Tcp, ri.src),
            SendOptions::default(),
            req.as_bytes(),
        )
        .unwrap();
    assert_eq!(
        sent,
        Sent::Tcp {
            conn,
            new_connection: false
        }
    );
    assert_eq!(read_n(&mut c, req.len()), req.as_bytes());

    // force_tcp_alias: the peer's advertised port now maps to this connection too.
    let alias: SocketAddr = "127.0.0.1:5999".parse().unwrap();
    assert_eq!(h.find_connection(alias), None);
    h.add_alias(conn, alias).unwrap();
    let req2 = sip("via-alias", "");
    let sent = h
        .send(
            &Destination::new(Proto::Tcp, alias),
            SendOptions {
                no_connect: true,
                ..Default::default()
            },
            req2.as_bytes(),
        )
        .unwrap();
    assert_eq!(
        sent,
        Sent::Tcp {
            conn,
            new_connection: false
        }
    );
    assert_eq!(read_n(&mut c, req2.len()), req2.as_bytes());
    assert!(matches!(
        h.add_alias(ConnId(999_999), alias),
        Err(Error::ConnectionClosed(_))
    ));
    assert_eq!(h.connections().len(), 1);
    t.join(WAIT).unwrap();
}

#[test]
fn connect_on_demand_and_no_connect() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let h = t.handle();
    let peer = TcpListener::bind("127.0.0.1:0").unwrap();
    let dst = Destination::new(Proto::Tcp, peer.local_addr().unwrap());

    // No connection yet: "no connect" must fail and open nothing.
    let no = SendOptions {
        no_connect: true,
        ..Default::default()
    };
    assert!(matches!(h.send(&dst, no, b"x"), Err(Error::NoConnection(a)) if a == dst.addr));
    assert!(h.connections().is_empty());

    // Connect on demand; the peer gets the bytes from our listener's IP.
    let req = sip("outgoing", "");
    let sent = h
        .send(&dst, SendOptions::default(), req.as_bytes())
        .unwrap();
    let Sent::Tcp {
        conn,
        new_connection: true,
    } = sent
    else {
        panic!("{sent:?}")
    };
    let (mut s, from) = peer.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(from.ip(), local(&t, 0).ip());
    assert_eq!(read_n(&mut s, req.len()), req.as_bytes());
    eventually("established", || {
        h.connection(conn).map(|c| c.state) == Some(ConnState::Established)
    });
    assert_eq!(h.connection(conn).unwrap().direction, Direction::Outgoing);

    // Now "no connect" succeeds on the existing connection, and the peer's answer comes back
    // through the handler with the same connection id.
    let sent = h.send(&dst, no, req.as_bytes()).unwrap();
    assert_eq!(
        sent,
        Sent::Tcp {
            conn,
            new_connection: false
        }
    );
    assert_eq!(read_n(&mut s, req.len()), req.as_bytes());
    let answer = "SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n";
    s.write_all(answer.as_bytes()).unwrap();
    let g = take(&rx, 1);
    assert_eq!(g[0].data, answer.as_bytes());
    assert_eq!(g[0].ri.conn, Some(conn));
    assert_eq!(g[0].ri.src, dst.addr);
    assert_eq!(t.stats().tcp_connected, 1);

    // A connection refused is counted and removed.
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sent = h
        .send(
            &Destination::new(Proto::Tcp, gone),
            SendOptions::default(),
            b"x",
        )
        .unwrap();
    let Sent::Tcp { conn: failed, .. } = sent else {
        panic!()
    };
    eventually("failed connect removed", || h.connection(failed).is_none());
    assert_eq!(t.stats().tcp_connect_failed, 1);

    // tcp_no_connect makes every send "no connect".
    t.join(WAIT).unwrap();
    let mut c = cfg();
    c.tcp_no_connect = true;
    let (t, _rx) = start_recording(c, &[spec(Proto::Tcp, "127.0.0.1")], None);
    assert!(matches!(
        t.handle().send(&dst, SendOptions::default(), b"x"),
        Err(Error::NoConnection(_))
    ));
    t.join(WAIT).unwrap();
}

#[test]
fn lifetime_closes_an_idle_connection() {
    let mut c = cfg();
    c.tcp_connection_lifetime = Duration::from_millis(700);
    let (t, rx) = start_recording(c, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut idle = connect(local(&t, 0));
    idle.write_all(sip("idle", "").as_bytes()).unwrap();
    let conn = take(&rx, 1)[0].ri.conn.unwrap();
    // An active connection survives several lifetimes.
    let mut busy = connect(local(&t, 0));
    for i in 0..12 {
        busy.write_all(sip(&format!("busy{i}"), "").as_bytes())
            .unwrap();
        take(&rx, 1);
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(closed_by_peer(&mut idle));
    // The peer sees EOF a moment before the table forgets the connection.
    eventually("idle one removed", || t.handle().connection(conn).is_none());
    assert_eq!(t.handle().connections().len(), 1, "the busy one stays");
    assert_eq!(t.stats().tcp_closed_idle, 1);
    t.join(WAIT).unwrap();
}

fn limits(max: usize, iplimit: usize) -> TransportConfig {
    let mut c = cfg();
    c.tcp_max_connections = max;
    c.tcp_accept_iplimit = iplimit;
    c
}

/// Opens `n` connections that each get a message through, then one more; returns that one.
fn fill_then_one_more(
    t: &ferrosip_transport::Transport,
    rx: &std::sync::mpsc::Receiver<Got>,
    n: usize,
) -> (Vec<TcpStream>, TcpStream) {
    let mut ok = Vec::new();
    for i in 0..n {
        let mut c = connect(local(t, 0));
        c.write_all(sip(&format!("fill{i}"), "").as_bytes())
            .unwrap();
        take(rx, 1);
        ok.push(c);
    }
    (ok, connect(local(t, 0)))
}

#[test]
fn max_connections_refuses_extra_connections() {
    let (t, rx) = start_recording(limits(2, 0), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let (mut ok, mut extra) = fill_then_one_more(&t, &rx, 2);
    assert!(closed_by_peer(&mut extra));
    assert_eq!(t.stats().tcp_rejected_max, 1);
    // The admitted ones still work, and outgoing connects are refused too.
    ok[1].write_all(sip("still-ok", "").as_bytes()).unwrap();
    assert_eq!(take(&rx, 1)[0].data, sip("still-ok", "").as_bytes());
    let far = TcpListener::bind("127.0.0.1:0").unwrap();
    assert!(matches!(
        t.handle().send(
            &Destination::new(Proto::Tcp, far.local_addr().unwrap()),
            SendOptions::default(),
            b"x"
        ),
        Err(Error::TooManyConnections(2))
    ));
    // Closing one makes room again.
    drop(ok.remove(0));
    eventually("slot freed", || t.handle().connections().len() == 1);
    let mut again = connect(local(&t, 0));
    again.write_all(sip("again", "").as_bytes()).unwrap();
    assert_eq!(take(&rx, 1)[0].data, sip("again", "").as_bytes());
    t.join(WAIT).unwrap();
}

#[test]
fn per_ip_limit_refuses_extra_connections_from_that_ip() {
    let (t, rx) = start_recording(limits(100, 2), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let (_ok, mut extra) = fill_then_one_more(&t, &rx, 2);
    assert!(closed_by_peer(&mut extra));
    assert_eq!(t.stats().tcp_rejected_iplimit, 1);
    assert_eq!(t.stats().tcp_rejected_max, 0);
    t.join(WAIT).unwrap();
}

#[test]
fn unframeable_stream_is_closed_and_counted() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut c = connect(local(&t, 0));
    c.write_all(b"OPTIONS sip:x SIP/2.0\r\nCall-ID: no-cl\r\n\r\n")
        .unwrap();
    assert!(closed_by_peer(&mut c));
    nothing_more(&rx, Duration::from_millis(50));
    assert_eq!(t.stats().tcp_frame_errors, 1);
    t.join(WAIT).unwrap();

    let mut lenient = cfg();
    lenient.tcp_accept_no_cl = true;
    let (t, rx) = start_recording(lenient, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let mut c = connect(local(&t, 0));
    let m = "OPTIONS sip:x SIP/2.0\r\nCall-ID: no-cl\r\n\r\n";
    c.write_all(m.as_bytes()).unwrap();
    assert_eq!(take(&rx, 1)[0].data, m.as_bytes());
    t.join(WAIT).unwrap();
}

#[test]
fn ipv6_works_both_ways() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "::1")], Some(echo_reply));
    let mut c = connect(local(&t, 0));
    let m = sip("reply-v6", "");
    c.write_all(m.as_bytes()).unwrap();
    let g = take(&rx, 1);
    assert!(g[0].ri.src.is_ipv6() && g[0].ri.dst.is_ipv6());
    let want = format!("SIP/2.0 200 OK\r\n{m}");
    assert_eq!(read_n(&mut c, want.len()), want.as_bytes());

    let peer = TcpListener::bind("[::1]:0").unwrap();
    let h = t.handle();
    let sent = h
        .send(
            &Destination::new(Proto::Tcp, peer.local_addr().unwrap()),
            SendOptions::default(),
            m.as_bytes(),
        )
        .unwrap();
    assert!(matches!(
        sent,
        Sent::Tcp {
            new_connection: true,
            ..
        }
    ));
    let (mut s, from) = peer.accept().unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    assert_eq!(from.ip(), "::1".parse::<std::net::IpAddr>().unwrap());
    assert_eq!(read_n(&mut s, m.len()), m.as_bytes());
    // No IPv4 TCP socket: an IPv4 destination has nowhere to leave from.
    assert!(matches!(
        h.send(
            &Destination::new(Proto::Tcp, "127.0.0.1:9".parse().unwrap()),
            SendOptions::default(),
            b"x"
        ),
        Err(Error::NoSocket { .. })
    ));
    t.join(WAIT).unwrap();
}

#[test]
fn disable_tcp_skips_listeners_and_refuses_sends() {
    let mut c = cfg();
    c.disable_tcp = true;
    let (t, _rx) = start_recording(
        c,
        &[spec(Proto::Udp, "127.0.0.1"), spec(Proto::Tcp, "127.0.0.1")],
        None,
    );
    assert_eq!(t.sockets().len(), 1);
    assert_eq!(t.sockets()[0].spec.proto, Proto::Udp);
    assert!(matches!(
        t.handle().send(
            &Destination::new(Proto::Tcp, "127.0.0.1:9".parse().unwrap()),
            SendOptions::default(),
            b"x"
        ),
        Err(Error::TcpDisabled)
    ));
    t.join(WAIT).unwrap();
}

#[test]
fn send_timeout_closes_a_connection_whose_peer_does_not_read() {
    let mut c = cfg();
    c.tcp_send_timeout = Duration::from_millis(200);
    let (t, rx) = start_recording(c, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let h = t.handle();
    let mut stalled = connect(local(&t, 0));
    stalled.write_all(sip("stalled", "").as_bytes()).unwrap();
    let conn = take(&rx, 1)[0].ri.conn.unwrap();
    // Far more than the loopback socket buffers hold; the peer never reads.
    let chunk = vec![b'x'; 64 * 1024];
    let mut queued = 0;
    for _ in 0..400 {
        match h.send(
            &Destination::new(Proto::Tcp, stalled.local_addr().unwrap()),
            SendOptions {
                no_connect: true,
                ..Default::default()
            },
            &chunk,
        ) {
            Ok(_) => queued += 1,
            Err(Error::NoConnection(_) | Error::ConnectionClosed(_)) => break,
            Err(e) => panic!("{e}"),
        }
    }
    assert!(queued > 0);
    eventually("connection closed by send timeout", || {
        h.connection(conn).is_none()
    });
    assert_eq!(t.stats().tcp_send_timeouts, 1);
    assert_eq!(t.stats().tcp_send_errors, 0);
    t.join(WAIT).unwrap();
}

#[test]
fn connect_timeout_gives_up_on_a_peer_that_never_answers() {
    use socket2::{Domain, Socket, Type};
    let mut c = cfg();
    c.tcp_connect_timeout = Duration::from_millis(300);
    let (t, _rx) = start_recording(c, &[spec(Proto::Tcp, "127.0.0.1")], None);
    // A listener that never accepts, its queue filled: further SYNs are dropped, so a connect
    // neither succeeds nor fails until the timeout.
    let l = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    l.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    l.listen(0).unwrap();
    let addr = l.local_addr().unwrap().as_socket().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        let _ = s.connect_timeout(&addr.into(), Duration::from_millis(100));
        fillers.push(s);
    }
    let started = std::time::Instant::now();
    let h = t.handle();
    let Sent::Tcp {
        conn,
        new_connection: true,
    } = h
        .send(
            &Destination::new(Proto::Tcp, addr),
            SendOptions::default(),
            b"x",
        )
        .unwrap()
    else {
        panic!("expected a new connection")
    };
    eventually("connect given up", || h.connection(conn).is_none());
    let took = started.elapsed();
    assert_eq!(t.stats().tcp_connect_failed, 1);
    assert!(
        took >= Duration::from_millis(250),
        "gave up after {took:?}: not a timeout"
    );
    t.join(WAIT).unwrap();
}

#[test]
fn close_ends_a_connection_after_its_queued_writes() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let h = t.handle();
    let mut c = connect(local(&t, 0));
    c.write_all(sip("to-close", "").as_bytes()).unwrap();
    let ri = take(&rx, 1)[0].ri;
    let conn = ri.conn.unwrap();
    let last = sip("last-words", "");
    h.send(
        &Destination::reply_to(&ri),
        SendOptions::default(),
        last.as_bytes(),
    )
    .unwrap();
    h.close(conn).unwrap();
    assert_eq!(read_n(&mut c, last.len()), last.as_bytes());
    assert!(closed_by_peer(&mut c));
    eventually("removed", || h.connection(conn).is_none());
    assert!(matches!(h.close(conn), Err(Error::ConnectionClosed(_))));
    let k: std::collections::HashMap<_, _> = t.stats().kamailio_tcp().into_iter().collect();
    assert_eq!(k["passive_open"], 1);
    assert_eq!(k["current_opened_connections"], 0);
    t.join(WAIT).unwrap();
}

#[test]
fn reads_go_on_while_a_write_to_a_non_reading_peer_is_stuck() {
    let mut c = cfg();
    c.tcp_send_timeout = Duration::from_secs(30);
    let (t, rx) = start_recording(c, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let h = t.handle();
    let mut peer = connect(local(&t, 0));
    peer.write_all(sip("first", "").as_bytes()).unwrap();
    let ri = take(&rx, 1)[0].ri;
    // More than the socket buffers hold: the writer is now blocked on a peer that does not read.
    let chunk = vec![b'x'; 64 * 1024];
    for _ in 0..200 {
        h.send(&Destination::reply_to(&ri), SendOptions::default(), &chunk)
            .unwrap();
    }
    std::thread::sleep(Duration::from_millis(100));
    let m = sip("while-stuck", "");
    peer.write_all(m.as_bytes()).unwrap();
    assert_eq!(take(&rx, 1)[0].data, m.as_bytes());
    assert_eq!(t.stats().tcp_send_timeouts, 0);
    t.join(WAIT).unwrap();
}

#[test]
fn writes_keep_a_connection_alive() {
    let mut c = cfg();
    c.tcp_connection_lifetime = Duration::from_millis(700);
    let (t, rx) = start_recording(c, &[spec(Proto::Tcp, "127.0.0.1")], None);
    let h = t.handle();
    let mut peer = connect(local(&t, 0));
    peer.write_all(sip("hello", "").as_bytes()).unwrap();
    let ri = take(&rx, 1)[0].ri;
    let note = sip("keepalive-from-us", "");
    for _ in 0..12 {
        h.send(
            &Destination::reply_to(&ri),
            SendOptions::default(),
            note.as_bytes(),
        )
        .unwrap();
        assert_eq!(read_n(&mut peer, note.len()), note.as_bytes());
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        h.connection(ri.conn.unwrap()).is_some(),
        "closed despite writes"
    );
    assert!(closed_by_peer(&mut peer), "idle close once we stop writing");
    assert_eq!(t.stats().tcp_closed_idle, 1);
    t.join(WAIT).unwrap();
}

#[test]
fn the_close_hook_sees_every_closed_connection() {
    let (t, rx) = start_recording(cfg(), &[spec(Proto::Tcp, "127.0.0.1")], None);
    let closed = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let seen = closed.clone();
    t.on_close(move |id| seen.lock().unwrap().push(id));
    let mut a = connect(local(&t, 0));
    let mut b = connect(local(&t, 0));
    a.write_all(sip("a", "").as_bytes()).unwrap();
    let ca = take(&rx, 1)[0].ri.conn.unwrap();
    b.write_all(sip("b", "").as_bytes()).unwrap();
    let cb = take(&rx, 1)[0].ri.conn.unwrap();
    assert!(closed.lock().unwrap().is_empty(), "nothing closed yet");
    // Closed by the peer.
    drop(a);
    eventually("peer close reported", || {
        closed.lock().unwrap().as_slice() == [ca]
    });
    // Closed by us (tcp_close_connection).
    t.handle().close(cb).unwrap();
    assert!(closed_by_peer(&mut b));
    eventually("our close reported", || {
        closed.lock().unwrap().as_slice() == [ca, cb]
    });
    t.join(WAIT).unwrap();
    assert_eq!(closed.lock().unwrap().len(), 2, "each close reported once");
}
