//! Timing-wheel cost at the scale tm needs: 100k armed timers (one per
//! transaction), deadlines spread like tm's (0.5 s retransmissions up to
//! 180 s lifetimes), advanced in 10 ms ticks as a timer thread would.

use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion};
use ferrosip_siptxn::{
    StatusCode, Time, TimerId, TimerWheel, TmConfig, Transport, TxnKind, TxnManager,
};

const N: usize = 100_000;

/// Deterministic spread of deadlines over 0..180 s (xorshift, no rand dep).
fn deadlines() -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..N)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            1 + x % 180_000
        })
        .collect()
}

fn filled(ds: &[u64]) -> (TimerWheel<u32>, Vec<TimerId>) {
    let mut w = TimerWheel::with_capacity(Time(0), N);
    let ids = ds
        .iter()
        .enumerate()
        .map(|(i, d)| w.insert(Time(*d), i as u32))
        .collect();
    (w, ids)
}

fn bench(c: &mut Criterion) {
    let ds = deadlines();
    c.bench_function("wheel insert 100k", |b| {
        b.iter_batched(
            || TimerWheel::<u32>::with_capacity(Time(0), N),
            |mut w| {
                for (i, d) in ds.iter().enumerate() {
                    w.insert(Time(*d), i as u32);
                }
                w
            },
            BatchSize::LargeInput,
        );
    });
    c.bench_function("wheel cancel 100k", |b| {
        b.iter_batched(
            || filled(&ds),
            |(mut w, ids)| {
                for id in ids {
                    black_box(w.cancel(id));
                }
                w
            },
            BatchSize::LargeInput,
        );
    });
    c.bench_function("wheel advance 180s in 10ms ticks, 100k fire", |b| {
        b.iter_batched(
            || (filled(&ds).0, Vec::with_capacity(N)),
            |(mut w, mut out)| {
                let mut now = 0;
                while now <= 180_000 {
                    now += 10;
                    out.clear();
                    w.advance(Time(now), &mut out);
                    black_box(out.len());
                }
                assert!(w.is_empty());
                w
            },
            BatchSize::LargeInput,
        );
    });
    c.bench_function("wheel reschedule 100k (cancel + insert)", |b| {
        b.iter_batched(
            || filled(&ds),
            |(mut w, ids)| {
                for (i, id) in ids.into_iter().enumerate() {
                    w.cancel(id);
                    w.insert(Time(ds[i] + 500), i as u32);
                }
                w
            },
            BatchSize::LargeInput,
        );
    });
}

/// A whole proxied INVITE through `TxnManager`: create (100 Trying), one
/// UDP branch, 180, 200, then time passes until every transaction is freed.
fn lifecycle(c: &mut Criterion) {
    let ringing = StatusCode::new(180).unwrap();
    let ok = StatusCode::new(200).unwrap();
    c.bench_function(
        "txn lifecycle 100k INVITE (100, 180, 200, wait, free)",
        |b| {
            b.iter_batched(
                || TxnManager::new(TmConfig::default(), Time(0), N).unwrap(),
                |mut m| {
                    let mut out = Vec::with_capacity(8);
                    let mut fired = Vec::with_capacity(N);
                    for i in 0..N as u64 {
                        let now = Time(i / 100); // 100k calls over 1 s
                        out.clear();
                        let h = m
                            .create(TxnKind::Invite, Transport::Unreliable, now, &mut out)
                            .unwrap();
                        m.with(h, |t| {
                            t.add_branch(now, Transport::Unreliable).unwrap();
                            t.script_done(now);
                            t.on_reply(now.plus(20), 0, ringing, &mut out).unwrap();
                            t.on_reply(now.plus(40), 0, ok, &mut out).unwrap();
                        })
                        .unwrap();
                        black_box(out.len());
                    }
                    let mut now = 0;
                    while !m.is_empty() {
                        now += 10;
                        fired.clear();
                        m.advance(Time(now), &mut fired);
                    }
                    m
                },
                BatchSize::LargeInput,
            );
        },
    );
}

criterion_group!(benches, bench, lifecycle);
criterion_main!(benches);
