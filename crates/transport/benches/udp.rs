//! Datagrams per second through one UDP receiver thread on loopback.
//!
//! A client on the bench thread keeps at most `WINDOW` datagrams in flight (so the socket buffer
//! never overflows and nothing is lost) and the handler only counts, so the number is the cost of
//! the receive path itself: `recvmmsg`, address conversion, checks, the handler call.
//! The wall-clock rate depends on the client and on whatever else the machine runs, so the bench
//! also prints the receiver thread's own CPU time per datagram (its CPU clock, read through
//! `pthread_getcpuclockid`), which is what one worker can sustain per core.
//! Run: `cargo bench -p ferrosip-transport --bench udp`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrosip_transport::{ListenSpec, Proto, Transport, TransportConfig};

const WINDOW: u64 = 128;

/// CPU time consumed so far by thread `t`.
fn thread_cpu(t: libc::pthread_t) -> Duration {
    let mut clk: libc::clockid_t = 0;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is the receiver thread, alive until `join`; both out-pointers are valid.
    unsafe {
        if libc::pthread_getcpuclockid(t, &mut clk) != 0 || libc::clock_gettime(clk, &mut ts) != 0 {
            return Duration::ZERO;
        }
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

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
        let receiver: Arc<OnceLock<libc::pthread_t>> = Arc::new(OnceLock::new());
        let me = receiver.clone();
        t.start(move |_, d| {
            black_box(d.len());
            // SAFETY: pthread_self has no preconditions.
            me.get_or_init(|| unsafe { libc::pthread_self() });
            seen.fetch_add(1, Ordering::Relaxed);
        })
        .expect("start");
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        let msg = options(500);
        client.send_to(&msg, server).expect("send");
        while receiver.get().is_none() {
            std::thread::yield_now();
        }
        let rt = *receiver.get().expect("receiver thread seen");
        let (cpu0, n0) = (thread_cpu(rt), count.load(Ordering::Relaxed));
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
        let (cpu, n) = (thread_cpu(rt) - cpu0, count.load(Ordering::Relaxed) - n0);
        let per = cpu.as_nanos() as f64 / n.max(1) as f64;
        let s = t.stats();
        eprintln!(
            "batch {batch}: {} datagrams in {} recvmmsg calls (max batch {}); receiver CPU {per:.0} ns/datagram = {:.0} datagrams/s per core",
            s.udp_received, s.udp_recv_calls, s.udp_max_batch, 1e9 / per.max(1.0)
        );
        t.join(Duration::from_secs(2)).expect("join");
    }
    g.finish();
}

criterion_group!(benches, one_worker);
criterion_main!(benches);
