//! The timing wheel against a naive model: random inserts, cancels and
//! advances (small and huge jumps); every timer fires exactly once, never
//! before its deadline, and on the first advance that reaches it.

use std::collections::BTreeMap;

use ferrosip_siptxn::{Time, TimerId, TimerWheel, TxnKind, TxnManager};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Insert(u64),
    Cancel(usize),
    Advance(u64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop_oneof![0u64..100, 0u64..5000, 0u64..300_000, 0u64..(1u64 << 40)].prop_map(Op::Insert),
        1 => any::<usize>().prop_map(Op::Cancel),
        3 => prop_oneof![0u64..70, 0u64..5000, 0u64..(1u64 << 37)].prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn wheel_matches_model(start in 0u64..(1u64 << 38), ops in prop::collection::vec(op(), 0..200)) {
        let horizon = ferrosip_siptxn::MAX_DELAY_MS;
        let mut w = TimerWheel::new(Time(start));
        let mut now = start;
        // payload -> (id, effective deadline)
        let mut live: BTreeMap<u32, (TimerId, u64)> = BTreeMap::new();
        let mut next_payload = 0u32;
        let mut out = vec![];
        for op in ops {
            match op {
                Op::Insert(delta) => {
                    let d = now.saturating_add(delta);
                    let id = w.insert(Time(d), next_payload);
                    live.insert(next_payload, (id, d.min(now + horizon)));
                    next_payload += 1;
                }
                Op::Cancel(i) => {
                    if !live.is_empty() {
                        let key = *live.keys().nth(i % live.len()).unwrap();
                        let (id, _) = live.remove(&key).unwrap();
                        prop_assert_eq!(w.cancel(id), Some(key));
                        prop_assert_eq!(w.cancel(id), None);
                    }
                }
                Op::Advance(delta) => {
                    now += delta;
                    out.clear();
                    w.advance(Time(now), &mut out);
                    let mut fired: Vec<u32> = out.iter().map(|(_, v)| *v).collect();
                    fired.sort_unstable();
                    let due: Vec<u32> = live.iter().filter(|(_, (_, d))| *d <= now).map(|(k, _)| *k).collect();
                    prop_assert_eq!(&fired, &due, "at {}", now);
                    for k in due {
                        live.remove(&k);
                    }
                }
            }
            prop_assert_eq!(w.len(), live.len());
        }
    }
}

#[test]
fn manager_holds_and_frees_100k_transactions() {
    // 100k INVITE transactions created over 10 s, never answered upstream:
    // request_route ends without forwarding, so each is released and freed
    // wt_timer later.
    let mut m = TxnManager::new(ferrosip_siptxn::TmConfig::default(), Time(0), 100_000).unwrap();
    let mut out = vec![];
    let mut handles = Vec::with_capacity(100_000);
    for i in 0..100_000u64 {
        let now = Time(i / 10);
        let h = m
            .create(
                TxnKind::Invite,
                ferrosip_siptxn::Transport::Unreliable,
                now,
                &mut out,
            )
            .unwrap();
        m.with(h, |t| t.script_done(now)).unwrap();
        handles.push(h);
    }
    assert_eq!(m.len(), 100_000);
    assert_eq!(m.timers_armed(), 100_000);
    let mut fired = vec![];
    m.advance(Time(15_000), &mut fired);
    assert_eq!(fired.len(), 100_000, "one Free each");
    assert!(m.is_empty());
    assert_eq!(m.timers_armed(), 0);
    assert!(handles.iter().all(|h| m.get(*h).is_none()));
    // Transactions stay inline in the slab: keep the per-transaction
    // footprint small (branches live in one Vec allocation).
    assert!(
        std::mem::size_of::<ferrosip_siptxn::ProxyTxn>() <= 160,
        "{}",
        std::mem::size_of::<ferrosip_siptxn::ProxyTxn>()
    );
}
