//! The forwarding hot path: parse a 1 KB INVITE, record a Record-Route (the script's edit), and build
//! the forwarded copy with our Via, branch, received/rport and Content-Length handling.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrosip_sipmsg::build::{forward_request, ForwardOptions, RecvInfo, SendTarget};
use ferrosip_sipmsg::edit::{At, Edits, SocketInfo, Subst, Transport};
use ferrosip_sipmsg::Msg;

fn invite_1k() -> Vec<u8> {
    let sdp = "v=0\r\no=alice 2890844526 2890844526 IN IP4 192.0.2.10\r\ns=-\r\n\
c=IN IP4 192.0.2.10\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8 97 101\r\na=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\na=rtpmap:97 iLBC/8000\r\na=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n";
    let mut m = format!(
        "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;rport;branch=z9hG4bK74bf9.a8f3c1e2\r\n\
Max-Forwards: 70\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=9fxced76sl\r\n\
To: \"Bob\" <sip:bob@biloxi.example.com>\r\n\
Call-ID: 3848276298220188511@atlanta.example.com\r\n\
CSeq: 31862 INVITE\r\n\
Contact: <sip:alice@192.0.2.10:5060;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, OPTIONS, BYE, REFER, NOTIFY, MESSAGE, SUBSCRIBE, INFO, UPDATE\r\n\
Supported: replaces, timer, 100rel\r\n\
User-Agent: bench-agent/1.0\r\n\
Session-Expires: 1800\r\n\
Content-Type: application/sdp\r\n\
Content-Length: {}\r\n\r\n{sdp}",
        sdp.len()
    );
    // pad with an extension header to reach ~1 KB
    let pad = 1024usize.saturating_sub(m.len() + 12);
    let at = m.find("Content-Type").unwrap_or(0);
    m.insert_str(at, &format!("X-Pad: {}\r\n", "p".repeat(pad)));
    m.into_bytes()
}

fn bench(c: &mut Criterion) {
    let raw = invite_1k();
    let sock = SocketInfo {
        ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 1)),
        port: 5060,
        proto: Transport::Udp,
        advertise: None,
        sockname: "",
    };
    let rcv = RecvInfo {
        src_ip: IpAddr::V4(Ipv4Addr::new(203, 0, 113, 5)),
        src_port: 40123,
        socket: &sock,
        proto: Transport::Udp,
        conn_id: 0,
    };
    let to = SendTarget {
        socket: &sock,
        proto: Transport::Udp,
    };
    let mut g = c.benchmark_group("sipmsg_build");
    g.throughput(Throughput::Bytes(raw.len() as u64));
    g.bench_function("forward_invite_1k_via_rr", |b| {
        b.iter(|| {
            let msg = Msg::parse(black_box(raw.clone())).unwrap();
            let first = msg.headers().unwrap()[0].span.start as usize;
            let mut e = Edits::new(msg.buf().len()).unwrap();
            let a = e.anchor(first).unwrap();
            let p = e.insert(At::Before(a), b"Record-Route: <sip:").unwrap();
            let p = e.insert_subst(At::Next(p), Subst::SndAll).unwrap();
            e.insert(At::Next(p), b";lr>\r\n").unwrap();
            let out = forward_request(&msg, &e, &rcv, &to, &ForwardOptions::default()).unwrap();
            black_box(out)
        })
    });
    // the builder alone, on an already parsed message with the edit recorded
    let msg = Msg::parse(raw.clone()).unwrap();
    let first = msg.headers().unwrap()[0].span.start as usize;
    let mut e = Edits::new(msg.buf().len()).unwrap();
    let a = e.anchor(first).unwrap();
    let p = e.insert(At::Before(a), b"Record-Route: <sip:").unwrap();
    let p = e.insert_subst(At::Next(p), Subst::SndAll).unwrap();
    e.insert(At::Next(p), b";lr>\r\n").unwrap();
    let _ = msg.vias().unwrap();
    let _ = msg.content_length().unwrap();
    g.bench_function("forward_build_only", |b| {
        b.iter(|| {
            black_box(forward_request(&msg, &e, &rcv, &to, &ForwardOptions::default()).unwrap())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
