//! Datagrams per second through one UDP receiver thread on loopback.
//!
//! A client on the bench thread keeps at most `WINDOW` datagrams in flight (so the socket buffer
//! never overflows and nothing is lost) and the handler only counts, so the number is the cost of
//! the receive path itself: `recvmmsg`, address conversion, checks, the handler call.
//! Run: `cargo bench -p ferrosip-transport --bench udp`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrosip_transport::{ListenSpec, Proto, Transport, TransportConfig};

const WINDOW: u64 = 128;

fn options(len: usize) -> Vec<u8> {
    let head = "OPTIONS sip:bench@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK-1\r\nCall-ID: bench\r\nCSeq: 1 OPTIONS\r\nContent-Length: ";
    let mut m = format!("{head}0000\r\n\r\n").into_bytes();
    m.resize(len.max(m.len()), b'x');
    m
}

fn one_worker(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_receive");
    g.throughput(Throughput::Elements(1));
    for batch in [1usize, 16] {
        let cfg = TransportConfig {
            children: 1,
            udp_batch: batch,
            disable_tcp: true,
            udp_poll_interval: Duration::from_millis(50),
            ..TransportConfig::default()
        };
        let spec = ListenSpec::new(Proto::Udp, IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let mut t = Transport::bind(cfg, &[spec]).expect("bind");
        let server = t.sockets()[0].local;
        let count = Arc::new(AtomicU64::new(0));
        let seen = count.clone();
        t.start(move |_, d| {
            black_box(d.len());
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .expect("start");
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        let msg = options(500);
        g.bench_function(format!("one_worker_batch{batch}_500B"), |b| {
            b.iter_custom(|iters| {
                let base = count.load(Ordering::Relaxed);
                let start = Instant::now();
                let mut sent = 0u64;
                while sent < iters {
                    if sent - (count.load(Ordering::Relaxed) - base) < WINDOW {
                        client.send_to(&msg, server).expect("send");
                        sent += 1;
                    } else {
                        std::hint::spin_loop();
                    }
                }
                let deadline = Instant::now() + Duration::from_secs(2);
                while count.load(Ordering::Relaxed) - base < iters && Instant::now() < deadline {
                    std::hint::spin_loop();
                }
                start.elapsed()
            })
        });
        let s = t.stats();
        eprintln!(
            "batch {batch}: {} datagrams in {} recvmmsg calls (max batch {})",
            s.udp_received, s.udp_recv_calls, s.udp_max_batch
        );
        t.join(Duration::from_secs(2)).expect("join");
    }
    g.finish();
}

criterion_group!(benches, one_worker);
criterion_main!(benches);
