//! Proxy-core scenarios: parallel and serial forking, failure_route, CANCEL
//! before and after a provisional, 6xx, timeouts. Each scenario is a table of
//! timed operations and the exact timed actions expected.

use ferrosip_siptxn::{
    Action, CancelBMethod, CancelOutcome, CancelReason, Error, FailureReplyMode, ProxyTxn,
    StatusCode, Time, TmConfig, Transport, TxnKind,
};

#[derive(Debug, Clone)]
enum Op {
    /// `t_on_failure()`.
    ArmFailure,
    /// Branch sent over UDP; the expected index is checked.
    Add(u8),
    /// Branch sent over TCP.
    AddTcp(u8),
    /// Reply on branch.
    Reply(u8, u16),
    /// e2e CANCEL received.
    Cancel(CancelOutcome),
    /// Reply to our CANCEL.
    CancelReply(u8, u16),
    /// `t_reply()`.
    Local(u16),
    /// failure_route finished.
    FailureDone,
    /// `t_drop_replies()`.
    Drop(FailureReplyMode),
    /// Expect `add_branch` to fail.
    AddFails(Error),
    /// Upstream retransmitted the request.
    Retrans,
    /// request_route ended (`t_unref`).
    ScriptDone,
    /// Upstream ACKed our negative reply.
    Ack,
}

use Op::*;

fn sc(c: u16) -> StatusCode {
    StatusCode::new(c).unwrap()
}
fn relay(b: u8, c: u16) -> Action {
    Action::RelayReply {
        branch: b,
        status: sc(c),
    }
}
fn local(c: u16) -> Action {
    Action::SendLocalReply { status: sc(c) }
}
fn ack(b: u8, c: u16) -> Action {
    Action::SendAck {
        branch: b,
        status: sc(c),
    }
}
fn cancel(b: u8, reason: CancelReason) -> Action {
    Action::SendCancel { branch: b, reason }
}
fn fail_route(b: u8, c: u16, faked: bool) -> Action {
    Action::RunFailureRoute {
        branch: b,
        status: sc(c),
        faked,
    }
}
fn rt(b: u8) -> Action {
    Action::RetransmitRequest { branch: b }
}
fn rr(c: u16) -> Action {
    Action::RetransmitReply { status: sc(c) }
}
fn rc(b: u8) -> Action {
    Action::RetransmitCancel { branch: b }
}
const TRYING: Action = Action::SendLocalReply {
    status: StatusCode::TRYING,
};
const FREE: Action = Action::Free;

/// Runs `ops` (with timers firing in between, at their exact deadlines)
/// until nothing is left; returns the timed action log.
fn run(cfg: &TmConfig, kind: TxnKind, ops: &[(u64, Op)]) -> Vec<(u64, Action)> {
    let mut out = vec![];
    let mut t = ProxyTxn::new(kind, Transport::Unreliable, Time(0), cfg, &mut out);
    let mut log: Vec<(u64, Action)> = out.drain(..).map(|a| (0, a)).collect();
    let mut i = 0;
    loop {
        let next_op = ops.get(i).map(|(at, _)| *at);
        let next_timer = t.next_deadline().map(|d| d.ms());
        let now = match (next_op, next_timer) {
            (Some(o), Some(d)) => o.min(d),
            (Some(o), None) => o,
            (None, Some(d)) => d,
            (None, None) => break,
        };
        assert!(now < 1_000_000, "runaway scenario");
        if next_timer == Some(now) {
            t.on_timer(Time(now), &mut out);
        }
        if next_op == Some(now) {
            let op = ops[i].1.clone();
            i += 1;
            let n = Time(now);
            match op {
                ArmFailure => t.set_on_failure(true),
                Add(b) => assert_eq!(t.add_branch(n, Transport::Unreliable), Ok(b)),
                AddTcp(b) => assert_eq!(t.add_branch(n, Transport::Reliable), Ok(b)),
                AddFails(e) => assert_eq!(t.add_branch(n, Transport::Unreliable), Err(e)),
                Reply(b, c) => t.on_reply(n, b, sc(c), &mut out).unwrap(),
                Cancel(expected) => assert_eq!(t.cancel(n, &mut out), Ok(expected)),
                CancelReply(b, c) => t.on_cancel_reply(b, sc(c)).unwrap(),
                Local(c) => t.reply_locally(n, sc(c), &mut out).unwrap(),
                FailureDone => t.failure_route_done(n, &mut out).unwrap(),
                Drop(m) => t.drop_replies(m).unwrap(),
                Retrans => t.on_request_retransmission(&mut out),
                ScriptDone => t.script_done(n),
                Ack => {
                    t.on_ack().unwrap();
                }
            }
        }
        log.extend(out.drain(..).map(|a| (now, a)));
    }
    assert!(t.is_freed(), "transaction not freed: {log:?} {t:?}");
    log
}

struct Case {
    name: &'static str,
    cfg: TmConfig,
    ops: Vec<(u64, Op)>,
    expect: Vec<(u64, Action)>,
}

fn check(cases: Vec<Case>) {
    for c in cases {
        let log = run(&c.cfg, TxnKind::Invite, &c.ops);
        assert_eq!(log, c.expect, "{}", c.name);
    }
}

fn d() -> TmConfig {
    TmConfig::default()
}

#[test]
fn parallel_fork() {
    check(vec![
        Case {
            name: "486 + 200 -> relay 200; 180 relayed, 100 not",
            cfg: d(),
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (50, Reply(0, 100)),
                (100, Reply(0, 180)),
                (200, Reply(0, 486)),
                (300, Reply(1, 200)),
                (400, Reply(1, 200)),
            ],
            expect: vec![
                (0, TRYING),
                (100, relay(0, 180)),
                (200, ack(0, 486)),
                (300, relay(1, 200)),
                // The UAS retransmits its 200: relayed again.
                (400, relay(1, 200)),
                (5300, FREE),
            ],
        },
        Case {
            name:
                "200 first: the other (ringing) branch is CANCELed; its 487 is ACKed, not relayed",
            cfg: d(),
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (100, Reply(0, 180)),
                (300, Reply(1, 200)),
                (350, CancelReply(0, 200)),
                (400, Reply(0, 487)),
            ],
            expect: vec![
                (0, TRYING),
                (100, relay(0, 180)),
                (300, relay(1, 200)),
                (300, cancel(0, CancelReason::FinalReply(sc(200)))),
                (400, ack(0, 487)),
                (5300, FREE),
            ],
        },
        Case {
            name: "200 first, other branch silent: CANCEL owed until its provisional",
            cfg: d(),
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (300, Reply(1, 200)),
                (1000, Reply(0, 180)),
                (1100, Reply(0, 200)),
            ],
            expect: vec![
                (0, TRYING),
                (300, relay(1, 200)),
                (1000, cancel(0, CancelReason::FinalReply(sc(200)))),
                // A forked 200 from the canceled branch still goes upstream.
                (1100, relay(0, 200)),
                (5300, FREE),
            ],
        },
        Case {
            name: "486 + 404 without failure_route -> best (404) relayed",
            cfg: d(),
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (200, Reply(0, 486)),
                (300, Reply(1, 404)),
            ],
            expect: vec![
                (0, TRYING),
                (200, ack(0, 486)),
                (300, ack(1, 404)),
                (300, relay(1, 404)),
                (800, rr(404)),
                (1800, rr(404)),
                (3800, rr(404)),
                (5300, FREE),
            ],
        },
        Case {
            name: "486 + 404 with failure_route: signal, then best reply relayed",
            cfg: d(),
            ops: vec![
                (0, ArmFailure),
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (200, Reply(0, 486)),
                (300, Reply(1, 404)),
                (310, FailureDone),
            ],
            expect: vec![
                (0, TRYING),
                (200, ack(0, 486)),
                (300, ack(1, 404)),
                (300, fail_route(1, 404, false)),
                (310, relay(1, 404)),
                (810, rr(404)),
                (1810, rr(404)),
                (3810, rr(404)),
                (5310, FREE),
            ],
        },
        Case {
            name: "401 beats 404 and 503 (Kamailio's 4xx ordering)",
            cfg: d(),
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (0, AddTcp(2)),
                (100, Reply(0, 503)),
                (200, Reply(1, 404)),
                (300, Reply(2, 401)),
            ],
            expect: vec![
                (0, TRYING),
                (100, ack(0, 503)),
                (200, ack(1, 404)),
                (300, ack(2, 401)),
                (300, relay(2, 401)),
                (800, rr(401)),
                (1800, rr(401)),
                (3800, rr(401)),
                (5300, FREE),
            ],
        },
    ]);
}

#[test]
fn serial_fork_from_failure_route() {
    check(vec![
        Case {
            name: "486+404 -> failure_route adds a branch -> its 200 relayed",
            cfg: d(),
            ops: vec![
                (0, ArmFailure),
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (200, Reply(0, 486)),
                (300, Reply(1, 404)),
                (300, AddTcp(2)),
                (300, FailureDone),
                (500, Reply(2, 180)),
                (900, Reply(2, 200)),
            ],
            expect: vec![
                (0, TRYING),
                (200, ack(0, 486)),
                (300, ack(1, 404)),
                (300, fail_route(1, 404, false)),
                (500, relay(2, 180)),
                (900, relay(2, 200)),
                (5900, FREE),
            ],
        },
        Case {
            name: "failure_reply_mode=3: new leg's 480 wins over old 404",
            cfg: d(),
            ops: vec![
                (0, ArmFailure),
                (0, AddTcp(0)),
                (100, Reply(0, 404)),
                (100, AddTcp(1)),
                (100, FailureDone),
                (200, Reply(1, 480)),
            ],
            expect: vec![
                (0, TRYING),
                (100, ack(0, 404)),
                (100, fail_route(0, 404, false)),
                (200, ack(1, 480)),
                // failure_route was not re-armed: relayed directly.
                (200, relay(1, 480)),
                (700, rr(480)),
                (1700, rr(480)),
                (3700, rr(480)),
                (5200, FREE),
            ],
        },
        Case {
            name: "failure_reply_mode=0: old 404 still wins, and its branch's failure_route runs again",
            cfg: TmConfig { failure_reply_mode: FailureReplyMode::KeepAll, ..d() },
            ops: vec![
                (0, ArmFailure),
                (0, AddTcp(0)),
                (100, Reply(0, 404)),
                (100, AddTcp(1)),
                (100, FailureDone),
                (200, Reply(1, 480)),
                (200, FailureDone),
            ],
            expect: vec![
                (0, TRYING),
                (100, ack(0, 404)),
                (100, fail_route(0, 404, false)),
                (200, ack(1, 480)),
                // Kamailio keeps t_on_failure per branch: branch 0 was armed.
                (200, fail_route(0, 404, false)),
                (200, relay(0, 404)),
                (700, rr(404)),
                (1700, rr(404)),
                (3700, rr(404)),
                (5200, FREE),
            ],
        },
        Case {
            name: "t_drop_replies() with no new branch -> local 500",
            cfg: d(),
            ops: vec![
                (0, ArmFailure),
                (0, AddTcp(0)),
                (100, Reply(0, 404)),
                (100, Drop(FailureReplyMode::DropAll)),
                (100, FailureDone),
            ],
            expect: vec![
                (0, TRYING),
                (100, ack(0, 404)),
                (100, fail_route(0, 404, false)),
                (100, local(500)),
                (600, rr(500)),
                (1600, rr(500)),
                (3600, rr(500)),
                (5100, FREE),
            ],
        },
        Case {
            name: "timeout -> failure_route (faked 408) re-arms and forwards twice",
            cfg: d(),
            ops: vec![
                (0, ArmFailure),
                (0, AddTcp(0)),
                (30_000, ArmFailure),
                (30_000, AddTcp(1)),
                (30_000, FailureDone),
                (60_000, FailureDone),
            ],
            expect: vec![
                (0, TRYING),
                (30_000, Action::FakedReply { branch: 0, status: StatusCode::REQUEST_TIMEOUT }),
                (30_000, fail_route(0, 408, true)),
                (60_000, Action::FakedReply { branch: 1, status: StatusCode::REQUEST_TIMEOUT }),
                (60_000, fail_route(1, 408, true)),
                (60_000, local(408)),
                (60500, rr(408)),
                (61500, rr(408)),
                (63500, rr(408)),
                (65_000, FREE),
            ],
        },
        Case {
            name: "t_reply() inside failure_route",
            cfg: d(),
            ops: vec![(0, ArmFailure), (0, AddTcp(0)), (100, Reply(0, 486)), (100, Local(480)), (100, FailureDone)],
            expect: vec![
                (0, TRYING),
                (100, ack(0, 486)),
                (100, fail_route(0, 486, false)),
                (100, local(480)),
                (600, rr(480)),
                (1600, rr(480)),
                (3600, rr(480)),
                (5100, FREE),
            ],
        },
    ]);
}

#[test]
fn cancel_before_and_after_provisional() {
    check(vec![
        Case {
            name: "CANCEL after 180: CANCEL sent at once, 487 relayed",
            cfg: d(),
            ops: vec![
                (0, Add(0)),
                (100, Reply(0, 180)),
                (200, Cancel(CancelOutcome::Canceling)),
                (300, Cancel(CancelOutcome::AlreadyCanceled)),
                (900, CancelReply(0, 200)),
                (1000, Reply(0, 487)),
                (1600, Ack),
            ],
            expect: vec![
                (0, TRYING),
                (100, relay(0, 180)),
                (200, cancel(0, CancelReason::Received)),
                (700, rc(0)),
                (1000, ack(0, 487)),
                (1000, relay(0, 487)),
                // Upstream ACKs at 1600: reply retransmission stops.
                (1500, rr(487)),
                (6000, FREE),
            ],
        },
        Case {
            name: "CANCEL before any reply (cancel_b_method=1): INVITE still retransmitted, CANCEL on 180, 180 not relayed",
            cfg: d(),
            ops: vec![
                (0, Add(0)),
                (100, Cancel(CancelOutcome::Canceling)),
                (1600, Reply(0, 180)),
                (1700, CancelReply(0, 200)),
                (1800, Reply(0, 487)),
            ],
            expect: vec![
                (0, TRYING),
                (500, rt(0)),
                (1500, rt(0)),
                (1600, cancel(0, CancelReason::Received)),
                (1800, ack(0, 487)),
                (1800, relay(0, 487)),
                (2300, rr(487)),
                (3300, rr(487)),
                (5300, rr(487)),
                (6800, FREE),
            ],
        },
        Case {
            name: "CANCEL before any reply, branch never answers: 408 at fr_timer",
            cfg: d(),
            ops: vec![(0, AddTcp(0)), (100, Cancel(CancelOutcome::Canceling))],
            expect: vec![
                (0, TRYING),
                (30_000, Action::FakedReply { branch: 0, status: StatusCode::REQUEST_TIMEOUT }),
                (30_000, local(408)),
                (30500, rr(408)),
                (31500, rr(408)),
                (33500, rr(408)),
                (35_000, FREE),
            ],
        },
        Case {
            name: "CANCEL before any reply, cancel_b_method=0: faked 487 relayed at once",
            cfg: TmConfig { cancel_b_method: CancelBMethod::FakeReply, ..d() },
            ops: vec![(0, AddTcp(0)), (100, Cancel(CancelOutcome::Canceling))],
            expect: vec![
                (0, TRYING),
                (100, Action::FakedReply { branch: 0, status: StatusCode::REQUEST_TERMINATED }),
                (100, local(487)),
                (600, rr(487)),
                (1600, rr(487)),
                (3600, rr(487)),
                (5100, FREE),
            ],
        },
        Case {
            name: "CANCEL before any branch: local 487; new branches refused",
            cfg: d(),
            ops: vec![(0, Retrans), (10, Cancel(CancelOutcome::Replied487)), (20, AddFails(Error::AlreadyReplied))],
            expect: vec![
                (0, TRYING),
                (0, Action::RetransmitReply { status: StatusCode::TRYING }),
                (10, local(487)),
                (510, rr(487)),
                (1510, rr(487)),
                (3510, rr(487)),
                (5010, FREE),
            ],
        },
        Case {
            name: "CANCEL after the final reply: nothing to do",
            cfg: d(),
            ops: vec![(0, AddTcp(0)), (100, Reply(0, 603)), (200, Cancel(CancelOutcome::AlreadyFinal))],
            expect: vec![
                (0, TRYING),
                (100, ack(0, 603)),
                (100, relay(0, 603)),
                (600, rr(603)),
                (1600, rr(603)),
                (3600, rr(603)),
                (5100, FREE),
            ],
        },
    ]);
}

#[test]
fn six_xx() {
    check(vec![
        Case {
            name: "603 cancels the ringing branch; forking blocked; 603 wins over 487",
            cfg: d(),
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (100, Reply(0, 180)),
                (200, Reply(1, 603)),
                (250, AddFails(Error::Blocked6xx)),
                (300, Reply(0, 487)),
                (900, Ack),
            ],
            expect: vec![
                (0, TRYING),
                (100, relay(0, 180)),
                (200, ack(1, 603)),
                (200, cancel(0, CancelReason::FinalReply(sc(603)))),
                (300, ack(0, 487)),
                (300, relay(1, 603)),
                (800, rr(603)),
                (5300, FREE),
            ],
        },
        Case {
            name: "disable_6xx_block: 603 is an ordinary reply, the other branch's 200 wins",
            cfg: TmConfig {
                disable_6xx_block: true,
                ..d()
            },
            ops: vec![
                (0, AddTcp(0)),
                (0, AddTcp(1)),
                (200, Reply(1, 603)),
                (300, Reply(0, 200)),
            ],
            expect: vec![
                (0, TRYING),
                (200, ack(1, 603)),
                (300, relay(0, 200)),
                (5300, FREE),
            ],
        },
    ]);
}

#[test]
fn noisy_ctimer_off_drops_silently() {
    let cfg = TmConfig {
        noisy_ctimer: false,
        ..d()
    };
    let log = run(&cfg, TxnKind::Invite, &[(0, AddTcp(0))]);
    assert_eq!(
        log,
        vec![
            (0, TRYING),
            (
                30_000,
                Action::FakedReply {
                    branch: 0,
                    status: StatusCode::REQUEST_TIMEOUT
                }
            ),
            (35_000, FREE),
        ]
    );
}

#[test]
fn non_invite_proxy() {
    let ops = [
        (0, Add(0)),
        (0, Add(1)),
        (700, Reply(0, 100)),
        (800, Reply(1, 200)),
    ];
    let log = run(&d(), TxnKind::NonInvite, &ops);
    assert_eq!(
        log,
        vec![
            (500, rt(0)),
            (500, rt(1)),
            (800, relay(1, 200)),
            // Branch 0 is simply abandoned: no CANCEL for non-INVITE.
            (5800, FREE),
        ]
    );
    // A transaction whose script neither forwards nor replies is released.
    let log = run(&d(), TxnKind::NonInvite, &[(10, Retrans), (10, ScriptDone)]);
    assert_eq!(log, vec![(5010, FREE)]);
}

#[test]
fn limits_and_misuse() {
    let cfg = TmConfig {
        max_branches: 2,
        ..d()
    };
    let mut out = vec![];
    let mut t = ProxyTxn::new(
        TxnKind::Invite,
        Transport::Reliable,
        Time(0),
        &cfg,
        &mut out,
    );
    assert_eq!(t.add_branch(Time(0), Transport::Reliable), Ok(0));
    assert_eq!(t.add_branch(Time(0), Transport::Reliable), Ok(1));
    assert_eq!(
        t.add_branch(Time(0), Transport::Reliable),
        Err(Error::TooManyBranches(2))
    );
    assert_eq!(
        t.on_reply(Time(1), 5, sc(200), &mut out),
        Err(Error::UnknownBranch(5))
    );
    assert_eq!(
        t.failure_route_done(Time(1), &mut out),
        Err(Error::WrongState("not in failure_route"))
    );
    assert!(t.drop_replies(FailureReplyMode::DropAll).is_err());
    t.on_reply(Time(2), 0, sc(200), &mut out).unwrap();
    assert_eq!(
        t.reply_locally(Time(3), sc(500), &mut out),
        Err(Error::AlreadyReplied)
    );
    let mut n = ProxyTxn::new(
        TxnKind::NonInvite,
        Transport::Reliable,
        Time(0),
        &cfg,
        &mut out,
    );
    assert_eq!(n.cancel(Time(0), &mut out), Err(Error::NotInvite));
}

#[test]
fn transport_error_fakes_503() {
    // Figures 5/6 "transport error": Kamailio fakes a 503 on the branch,
    // which then takes part in reply selection like any other reply.
    let mut out = vec![];
    let mut t = ProxyTxn::new(
        TxnKind::Invite,
        Transport::Reliable,
        Time(0),
        &d(),
        &mut out,
    );
    t.add_branch(Time(0), Transport::Reliable).unwrap();
    t.add_branch(Time(0), Transport::Reliable).unwrap();
    out.clear();
    t.send_failed(Time(5), 0, &mut out).unwrap();
    assert_eq!(
        out,
        vec![Action::FakedReply {
            branch: 0,
            status: sc(503)
        }]
    );
    out.clear();
    t.on_reply(Time(9), 1, sc(603), &mut out).unwrap();
    assert_eq!(
        out,
        vec![ack(1, 603), relay(1, 603)],
        "603 beats the faked 503"
    );
    out.clear();
    t.send_failed(Time(10), 0, &mut out).unwrap();
    assert!(
        out.is_empty(),
        "a completed branch ignores later send failures"
    );
}

#[test]
fn challenges_and_branch_flags() {
    let mut out = vec![];
    let mut t = ProxyTxn::new(
        TxnKind::Invite,
        Transport::Reliable,
        Time(0),
        &d(),
        &mut out,
    );
    for _ in 0..3 {
        t.add_branch(Time(0), Transport::Reliable).unwrap();
    }
    t.on_reply(Time(10), 0, sc(407), &mut out).unwrap();
    t.on_reply(Time(20), 1, sc(100), &mut out).unwrap();
    t.on_reply(Time(30), 2, sc(401), &mut out).unwrap();
    assert_eq!(t.challenge_branches().collect::<Vec<_>>(), vec![0, 2]);
    out.clear();
    t.on_timer(Time(120_020), &mut out);
    // Branch 1 timed out after its 100: replied, and faked 408 loses to 401.
    assert!(t.branch(1).unwrap().was_replied());
    assert!(out.contains(&relay(2, 401)), "{out:?}");
}

#[test]
fn t_set_fr_and_max_lifetime() {
    let mut out = vec![];
    let mut t = ProxyTxn::new(
        TxnKind::Invite,
        Transport::Reliable,
        Time(0),
        &d(),
        &mut out,
    );
    t.add_branch(Time(0), Transport::Reliable).unwrap();
    // t_set_fr(fr_inv=0 unchanged, fr=5000) at 1000: timeout at 6000.
    t.set_fr(Time(1000), 0, 5000);
    assert_eq!(t.next_deadline(), Some(Time(6000)));
    t.on_reply(Time(2000), 0, sc(180), &mut out).unwrap();
    assert_eq!(t.next_deadline(), Some(Time(122_000)));
    t.set_max_lifetime(Time(3000), 10_000);
    assert_eq!(t.next_deadline(), Some(Time(13_000)));
    // Branches created after t_set_fr use the new fr_timer.
    t.set_fr(Time(3000), 7000, 4000);
    assert_eq!(t.timers().fr, 4000);
    assert_eq!(
        t.next_deadline(),
        Some(Time(10_000)),
        "fr_inv re-armed from now"
    );
}
