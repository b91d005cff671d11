//! Datagrams per second through one UDP receiver thread on loopback.
//!
//! Two shapes, each with `udp_batch` 1 (one datagram per system call, like Kamailio's `recvfrom`)
//! and 16:
//! - `stream`: a client on the bench thread keeps at most `WINDOW` datagrams in flight (so nothing
//!   is lost); the receiver mostly sleeps and wakes per datagram.
//! - `drain`: the receiver is held while `QUEUED` datagrams pile up in the socket buffer, then
//!   released; this is the saturated case where batches fill.
//!
//! The handler only counts. Wall-clock rates depend on the client and on whatever else the machine
//! runs, so the bench also prints the receiver thread's own CPU time per datagram (its CPU clock,
//! read through `pthread_getcpuclockid`), which is what one worker sustains per core.
//! Run: `cargo bench -p ferrosip-transport --bench udp`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrosip_transport::{ListenSpec, Proto, Transport, TransportConfig};

const WINDOW: u64 = 128;
/// Fits the default-sized socket buffer (rmem_max 208 KiB, doubled) with 500-byte datagrams.
const QUEUED: u64 = 100;

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

/// One receiver thread whose handler counts, and can be held on a `gate`.
struct Rig {
    t: Transport,
    server: SocketAddr,
    count: Arc<AtomicU64>,
    /// While true, a datagram starting with "HOLD" keeps the receiver in the handler.
    gate: Arc<AtomicBool>,
    thread: libc::pthread_t,
    client: UdpSocket,
    msg: Vec<u8>,
}

impl Rig {
    fn new(batch: usize) -> Rig {
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
        let gate = Arc::new(AtomicBool::new(false));
        let receiver: Arc<OnceLock<libc::pthread_t>> = Arc::new(OnceLock::new());
        let (seen, held, me) = (count.clone(), gate.clone(), receiver.clone());
        t.start(move |_, d| {
            // SAFETY: pthread_self has no preconditions.
            me.get_or_init(|| unsafe { libc::pthread_self() });
            if d.starts_with(b"HOLD") {
                while held.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_micros(50));
                }
            }
            black_box(d.len());
            seen.fetch_add(1, Ordering::Release);
        })
        .expect("start");
        let client = UdpSocket::bind("127.0.0.1:0").expect("client");
        let msg = options(500);
        client.send_to(&msg, server).expect("send");
        while receiver.get().is_none() {
            std::thread::yield_now();
        }
        let thread = *receiver.get().expect("receiver thread seen");
        while count.load(Ordering::Acquire) == 0 {
            std::thread::yield_now();
        }
        Rig {
            t,
            server,
            count,
            gate,
            thread,
            client,
            msg,
        }
    }

    fn wait_for(&self, target: u64) {
        let deadline = Instant::now() + Duration::from_secs(2);
        while self.count.load(Ordering::Acquire) < target && Instant::now() < deadline {
            std::hint::spin_loop();
        }
    }

    /// `iters` datagrams with at most `WINDOW` in flight; wall-clock time.
    fn stream(&self, iters: u64) -> Duration {
        let base = self.count.load(Ordering::Acquire);
        let start = Instant::now();
        let mut sent = 0u64;
        while sent < iters {
            if sent - (self.count.load(Ordering::Acquire) - base) < WINDOW {
                self.client.send_to(&self.msg, self.server).expect("send");
                sent += 1;
            } else {
                std::hint::spin_loop();
            }
        }
        self.wait_for(base + iters);
        start.elapsed()
    }

    /// `iters` rounds of: hold the receiver, queue `QUEUED` datagrams, release, wait for all.
    /// Returns the wall-clock drain time and the receiver CPU spent draining.
    fn drain(&self, iters: u64) -> (Duration, Duration) {
        let (mut wall, mut cpu) = (Duration::ZERO, Duration::ZERO);
        let mut hold = b"HOLD".to_vec();
        hold.resize(64, b'-');
        for _ in 0..iters {
            let base = self.count.load(Ordering::Acquire);
            self.gate.store(true, Ordering::Release);
            self.client.send_to(&hold, self.server).expect("send");
            // Give the receiver time to take the hold datagram, alone, before the pile-up.
            std::thread::sleep(Duration::from_micros(300));
            for _ in 0..QUEUED {
                self.client.send_to(&self.msg, self.server).expect("send");
            }
            let cpu0 = thread_cpu(self.thread);
            let start = Instant::now();
            self.gate.store(false, Ordering::Release);
            self.wait_for(base + 1 + QUEUED);
            wall += start.elapsed();
            cpu += thread_cpu(self.thread).saturating_sub(cpu0);
        }
        (wall, cpu)
    }
}

fn report(shape: &str, batch: usize, rig: &Rig, cpu: Duration, n: u64) {
    let per = cpu.as_nanos() as f64 / n.max(1) as f64;
    let s = rig.t.stats();
    eprintln!(
        "{shape} batch {batch}: {n} datagrams, {} recvmmsg calls in all (max batch {}); receiver CPU {per:.0} ns/datagram = {:.0} datagrams/s per core",
        s.udp_recv_calls,
        s.udp_max_batch,
        1e9 / per.max(1.0)
    );
}

fn stream(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_stream");
    g.throughput(Throughput::Elements(1));
    for batch in [1usize, 16] {
        let rig = Rig::new(batch);
        let (cpu0, n0) = (thread_cpu(rig.thread), rig.count.load(Ordering::Acquire));
        g.bench_function(format!("one_worker_batch{batch}_500B"), |b| {
            b.iter_custom(|iters| rig.stream(iters))
        });
        let (cpu, n) = (
            thread_cpu(rig.thread).saturating_sub(cpu0),
            rig.count.load(Ordering::Acquire) - n0,
        );
        report("stream", batch, &rig, cpu, n);
        rig.t.join(Duration::from_secs(2)).expect("join");
    }
    g.finish();
}

fn drain(c: &mut Criterion) {
    let mut g = c.benchmark_group("udp_drain");
    g.throughput(Throughput::Elements(QUEUED));
    for batch in [1usize, 16] {
        let rig = Rig::new(batch);
        let (mut cpu, mut rounds) = (Duration::ZERO, 0u64);
        g.bench_function(format!("one_worker_batch{batch}_500B_x{QUEUED}"), |b| {
            b.iter_custom(|iters| {
                let (wall, c) = rig.drain(iters);
                cpu += c;
                rounds += iters;
                wall
            })
        });
        report("drain", batch, &rig, cpu, rounds * QUEUED);
        rig.t.join(Duration::from_secs(2)).expect("join");
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(4));
    targets = stream, drain
}
criterion_main!(benches);
