//! Messages per second from one TCP connection to one TCP worker on loopback: the client writes
//! 500-byte messages 64 at a time (pipelined), the handler only counts. This covers read, framing,
//! the hand-off to the worker thread and the handler call.
//! Run: `cargo bench -p ferrosip-transport --bench tcp`.

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrosip_transport::{ListenSpec, Proto, Transport, TransportConfig};

const PIPELINE: u64 = 64;

fn message(len: usize) -> Vec<u8> {
    let head = "OPTIONS sip:bench@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/TCP 127.0.0.1:5070;branch=z9hG4bK-1\r\nCall-ID: bench\r\nCSeq: 1 OPTIONS\r\n";
    let body_len = len.saturating_sub(head.len() + "Content-Length: 000\r\n\r\n".len());
    format!(
        "{head}Content-Length: {body_len:03}\r\n\r\n{}",
        "x".repeat(body_len)
    )
    .into_bytes()
}

fn one_connection(c: &mut Criterion) {
    let cfg = TransportConfig {
        children: 1,
        tcp_children: 1,
        ..TransportConfig::default()
    };
    let spec = ListenSpec::new(Proto::Tcp, IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let mut t = Transport::bind(cfg, &[spec]).expect("bind");
    let count = Arc::new(AtomicU64::new(0));
    let seen = count.clone();
    t.start(move |_, d| {
        std::hint::black_box(d.len());
        seen.fetch_add(1, Ordering::Release);
    })
    .expect("start");
    let mut client = TcpStream::connect(t.sockets()[0].local).expect("connect");
    client.set_nodelay(true).expect("nodelay");
    let burst = message(500).repeat(PIPELINE as usize);

    let mut g = c.benchmark_group("tcp_receive");
    g.throughput(Throughput::Elements(PIPELINE));
    g.bench_function("one_connection_one_worker_500B_x64", |b| {
        b.iter_custom(|iters| {
            let base = count.load(Ordering::Acquire);
            let start = Instant::now();
            for _ in 0..iters {
                client.write_all(&burst).expect("write");
            }
            let target = base + iters * PIPELINE;
            let deadline = Instant::now() + Duration::from_secs(5);
            while count.load(Ordering::Acquire) < target && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            start.elapsed()
        })
    });
    g.finish();
    drop(client);
    t.join(Duration::from_secs(2)).expect("join");
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = one_connection
}
criterion_main!(benches);
