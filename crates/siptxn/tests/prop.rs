//! Property test: random event sequences against random configurations
//! never panic, respect the one-final-reply rule, and every transaction is
//! freed once time passes its lifetimes.

use std::collections::HashMap;

use ferrosip_siptxn::{
    Action, CancelBMethod, FailureReplyMode, Handle, ProxyTxn, StatusCode, Time, TmConfig,
    Transport, TxnKind, TxnManager,
};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Ev {
    Advance(u32),
    Reply { txn: usize, branch: u8, code: u16 },
    CancelReply { txn: usize, branch: u8, code: u16 },
    Cancel { txn: usize },
    Local { txn: usize, code: u16 },
    Retrans { txn: usize },
    Ack { txn: usize },
    SendFailed { txn: usize, branch: u8 },
    SetFr { txn: usize, fr_inv: u32, fr: u32 },
    SetLifetime { txn: usize, ms: u32 },
}

#[derive(Debug, Clone)]
struct Setup {
    invite: bool,
    udp: bool,
    branches: Vec<bool>,
    arm_failure: bool,
}

fn code() -> impl Strategy<Value = u16> {
    prop_oneof![
        Just(100u16),
        Just(180),
        Just(183),
        Just(200),
        Just(202),
        Just(302),
        Just(401),
        Just(404),
        Just(408),
        Just(480),
        Just(486),
        Just(487),
        Just(500),
        Just(503),
        Just(600),
        Just(603),
        100u16..700,
    ]
}

fn event() -> impl Strategy<Value = Ev> {
    let txn = 0usize..6;
    let br = 0u8..5;
    prop_oneof![
        4 => (0u32..70_000).prop_map(Ev::Advance),
        6 => (txn.clone(), br.clone(), code()).prop_map(|(txn, branch, code)| Ev::Reply { txn, branch, code }),
        1 => (txn.clone(), br.clone(), code()).prop_map(|(txn, branch, code)| Ev::CancelReply { txn, branch, code }),
        1 => txn.clone().prop_map(|txn| Ev::Cancel { txn }),
        1 => (txn.clone(), code()).prop_map(|(txn, code)| Ev::Local { txn, code }),
        1 => txn.clone().prop_map(|txn| Ev::Retrans { txn }),
        1 => txn.clone().prop_map(|txn| Ev::Ack { txn }),
        1 => (txn.clone(), br).prop_map(|(txn, branch)| Ev::SendFailed { txn, branch }),
        1 => (txn.clone(), 0u32..200_000, 0u32..60_000).prop_map(|(txn, fr_inv, fr)| Ev::SetFr { txn, fr_inv, fr }),
        1 => (txn, 0u32..200_000).prop_map(|(txn, ms)| Ev::SetLifetime { txn, ms }),
    ]
}

fn setup() -> impl Strategy<Value = Setup> {
    (
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<bool>(), 0..4),
        any::<bool>(),
    )
        .prop_map(|(invite, udp, branches, arm_failure)| Setup {
            invite,
            udp,
            branches,
            arm_failure,
        })
}

fn config() -> impl Strategy<Value = TmConfig> {
    (
        0i64..3,
        0i64..4,
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        1u8..6,
    )
        .prop_map(
            |(cbm, frm, d6, noisy, restart, auto100, relay100, maxb)| TmConfig {
                cancel_b_method: CancelBMethod::from_int(cbm).unwrap(),
                failure_reply_mode: FailureReplyMode::from_int(frm).unwrap(),
                disable_6xx_block: d6,
                noisy_ctimer: noisy,
                restart_fr_on_each_reply: restart,
                auto_inv_100: auto100,
                relay_100: relay100,
                max_branches: maxb,
                ..TmConfig::default()
            },
        )
}

/// Upstream-visible facts per transaction, checked as actions arrive.
#[derive(Default)]
struct Seen {
    final_sent: Option<u16>,
    freed: bool,
}

struct World {
    m: TxnManager,
    handles: Vec<Handle>,
    seen: HashMap<Handle, Seen>,
    /// Serial-forking budget so failure_route does not fork forever.
    forks_left: u32,
}

impl World {
    fn observe(&mut self, h: Handle, a: Action) {
        let s = self.seen.entry(h).or_default();
        assert!(!s.freed, "action {a:?} after Free");
        let status = match a {
            Action::SendLocalReply { status } | Action::RelayReply { status, .. } => Some(status),
            Action::Free => {
                s.freed = true;
                None
            }
            _ => None,
        };
        if let Some(st) = status.filter(|s| !s.is_provisional()) {
            if let Some(first) = s.final_sent {
                let relayed_2xx = matches!(a, Action::RelayReply { .. }) && st.is_success();
                assert!(relayed_2xx, "second final {st:?} after {first}");
            }
            s.final_sent.get_or_insert(st.code());
        }
        if let Some(st) = status.filter(|s| s.is_provisional()) {
            assert!(s.final_sent.is_none(), "provisional {st:?} after a final");
        }
    }

    /// Applies `f` to a transaction, then answers any failure_route request
    /// the way a script would (maybe forwarding again).
    fn drive(&mut self, h: Handle, now: Time, f: impl FnOnce(&mut ProxyTxn, &mut Vec<Action>)) {
        let mut out = vec![];
        let forks = &mut self.forks_left;
        let r = self.m.with(h, |t| {
            f(t, &mut out);
            answer_failure_routes(t, now, forks, &mut out);
        });
        if r.is_ok() {
            for a in out {
                self.observe(h, a);
            }
        }
    }

    fn advance(&mut self, now: Time) {
        let mut out = vec![];
        self.m.advance(now, &mut out);
        for (h, a) in out {
            self.observe(h, a);
            if let Action::RunFailureRoute { .. } = a {
                self.drive(h, now, |_, _| {});
            }
        }
    }
}

fn answer_failure_routes(t: &mut ProxyTxn, now: Time, forks: &mut u32, out: &mut Vec<Action>) {
    while t.in_failure_route() {
        if *forks > 0 {
            *forks -= 1;
            // The budget's bits pick what this failure_route does.
            t.set_on_failure(*forks & 1 == 0);
            if *forks & 2 != 0 {
                t.drop_replies(FailureReplyMode::DropAll).unwrap();
            }
            if *forks & 4 != 0 {
                let _ = t.reply_locally(now, sc(480), out);
            } else {
                let _ = t.add_branch(now, Transport::Unreliable);
            }
        }
        if t.failure_route_done(now, out).is_err() {
            break;
        }
    }
}

fn sc(c: u16) -> StatusCode {
    StatusCode::new(c).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_never_panic_and_always_free(
        cfg in config(),
        setups in prop::collection::vec(setup(), 1..6),
        events in prop::collection::vec(event(), 0..80),
        forks in 0u32..8,
    ) {
        let mut w = World {
            m: TxnManager::new(cfg, Time(0), 8).unwrap(),
            handles: vec![],
            seen: HashMap::new(),
            forks_left: forks,
        };
        let mut now = Time(0);
        // request_route: create, arm failure_route, forward, t_unref.
        for s in &setups {
            let kind = if s.invite { TxnKind::Invite } else { TxnKind::NonInvite };
            let up = if s.udp { Transport::Unreliable } else { Transport::Reliable };
            let mut out = vec![];
            let h = w.m.create(kind, up, now, &mut out).unwrap();
            for a in out { w.observe(h, a); }
            let branches = s.branches.clone();
            let arm = s.arm_failure;
            w.drive(h, now, |t, _| {
                t.set_on_failure(arm);
                for udp in branches {
                    let tr = if udp { Transport::Unreliable } else { Transport::Reliable };
                    let _ = t.add_branch(now, tr);
                }
                t.script_done(now);
            });
            w.handles.push(h);
        }
        for ev in events {
            let pick = |i: usize| w.handles[i % w.handles.len()];
            match ev {
                Ev::Advance(ms) => {
                    now = now.plus(ms);
                    w.advance(now);
                }
                Ev::Reply { txn, branch, code } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, out| { let _ = t.on_reply(now, branch, sc(code), out); });
                }
                Ev::CancelReply { txn, branch, code } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, _| { let _ = t.on_cancel_reply(branch, sc(code)); });
                }
                Ev::Cancel { txn } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, out| { let _ = t.cancel(now, out); });
                }
                Ev::Local { txn, code } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, out| { let _ = t.reply_locally(now, sc(code), out); });
                }
                Ev::Retrans { txn } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, out| t.on_request_retransmission(out));
                }
                Ev::Ack { txn } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, _| { let _ = t.on_ack(); });
                }
                Ev::SendFailed { txn, branch } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, out| { let _ = t.send_failed(now, branch, out); });
                }
                Ev::SetFr { txn, fr_inv, fr } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, _| t.set_fr(now, fr_inv, fr));
                }
                Ev::SetLifetime { txn, ms } => {
                    let h = pick(txn);
                    w.drive(h, now, |t, _| t.set_max_lifetime(now, ms));
                }
            }
        }
        // Past every lifetime: max fr_inv/fr set above (200 s) + serial legs
        // + wt_timer, in one-second ticks (timers fire late, as in tm).
        w.forks_left = 0;
        let end = now.plus(1_500_000);
        while now < end && !w.m.is_empty() {
            now = now.plus(1000);
            w.advance(now);
        }
        prop_assert!(w.m.is_empty(), "{} transactions left", w.m.len());
        prop_assert_eq!(w.m.timers_armed(), 0);
        for h in &w.handles {
            prop_assert!(w.seen.get(h).is_some_and(|s| s.freed), "no Free for {:?}", h);
        }
    }
}
