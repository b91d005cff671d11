//! RFC 3261 figures 5 (INVITE) and 6 (non-INVITE) client transactions with
//! Kamailio's timer values: T1=500, T2=4000, fr_timer=30000,
//! fr_inv_timer=120000, max_inv_lifetime=180000, max_noninv_lifetime=32000.

use ferrosip_siptxn::{
    Action, CancelBMethod, CancelHow, CancelReason, ClientState, ClientTxn, ClientVerdict,
    StatusCode, Time, TmConfig, Transport, TxnKind, TxnTimers,
};

#[derive(Debug, Clone, Copy)]
enum Ev {
    Reply(u16),
    Cancel(CancelBMethod),
}

struct Case {
    name: &'static str,
    kind: TxnKind,
    transport: Transport,
    /// Events injected at given instants (ms).
    events: &'static [(u64, Ev)],
    /// Run the timers until this instant.
    until: u64,
    /// Every action expected, with its instant, in order.
    expect: Vec<(u64, Action)>,
    /// Expected end state.
    end: fn(ClientState) -> bool,
}

fn sc(c: u16) -> StatusCode {
    StatusCode::new(c).unwrap()
}

const fn rt(b: u8) -> Action {
    Action::RetransmitRequest { branch: b }
}

type Log = Vec<(u64, Action)>;
type Verdicts = Vec<(u64, ClientVerdict)>;

fn run(case: &Case) -> (Log, Verdicts, ClientTxn) {
    let timers = TxnTimers::from_config(&TmConfig::default());
    let eol = Time(match case.kind {
        TxnKind::Invite => 180_000,
        TxnKind::NonInvite => 32_000,
    });
    let mut c = ClientTxn::new(0, case.kind, case.transport, Time(0), &timers, eol);
    let mut log = vec![];
    let mut verdicts = vec![];
    let mut events = case.events.iter().peekable();
    loop {
        let next_ev = events.peek().map(|(t, _)| *t);
        let next_timer = c.next_deadline().map(|t| t.ms());
        let now = match (next_ev, next_timer) {
            (Some(e), Some(t)) => e.min(t),
            (Some(e), None) => e,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if now > case.until {
            break;
        }
        let mut out = vec![];
        if next_timer == Some(now) {
            let v = c.on_timer(Time(now), &timers, &mut out);
            if v != ClientVerdict::Absorbed {
                verdicts.push((now, v));
            }
        }
        if next_ev == Some(now) {
            let (_, ev) = events.next().unwrap();
            let v = match *ev {
                Ev::Reply(code) => c.on_reply(Time(now), sc(code), &timers, eol, &mut out),
                Ev::Cancel(m) => c.cancel(
                    Time(now),
                    CancelHow::Method(m),
                    CancelReason::Received,
                    &timers,
                    &mut out,
                ),
            };
            verdicts.push((now, v));
        }
        log.extend(out.into_iter().map(|a| (now, a)));
    }
    (log, verdicts, c)
}

const TO408: Action = Action::FakedReply {
    branch: 0,
    status: StatusCode::REQUEST_TIMEOUT,
};

#[test]
fn figure_5_and_6_tables() {
    let cases = [
        Case {
            name: "INVITE/UDP no answer: A doubles to T2, B=fr_timer fakes 408",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            events: &[],
            until: 200_000,
            expect: vec![
                (500, rt(0)),
                (1500, rt(0)),
                (3500, rt(0)),
                (7500, rt(0)),
                (11_500, rt(0)),
                (15_500, rt(0)),
                (19_500, rt(0)),
                (23_500, rt(0)),
                (27_500, rt(0)),
                (30_000, TO408),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
        Case {
            name: "INVITE/TCP no answer: no retransmission, 408 at fr_timer",
            kind: TxnKind::Invite,
            transport: Transport::Reliable,
            events: &[],
            until: 200_000,
            expect: vec![(30_000, TO408)],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
        Case {
            name: "INVITE/UDP 180 stops A, fr_inv_timer (C) then 408 + CANCEL",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            events: &[(1000, Ev::Reply(180))],
            until: 200_000,
            expect: vec![
                (500, rt(0)),
                (121_000, TO408),
                (
                    121_000,
                    Action::SendCancel {
                        branch: 0,
                        reason: CancelReason::FinalReply(StatusCode::REQUEST_TIMEOUT),
                    },
                ),
                // The CANCEL is retransmitted over UDP until fr_timer.
                (121_500, Action::RetransmitCancel { branch: 0 }),
                (122_500, Action::RetransmitCancel { branch: 0 }),
                (124_500, Action::RetransmitCancel { branch: 0 }),
                (128_500, Action::RetransmitCancel { branch: 0 }),
                (132_500, Action::RetransmitCancel { branch: 0 }),
                (136_500, Action::RetransmitCancel { branch: 0 }),
                (140_500, Action::RetransmitCancel { branch: 0 }),
                (144_500, Action::RetransmitCancel { branch: 0 }),
                (148_500, Action::RetransmitCancel { branch: 0 }),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
        Case {
            name: "INVITE: late provisional, fr_inv capped by max_inv_lifetime",
            kind: TxnKind::Invite,
            transport: Transport::Reliable,
            events: &[(20_000, Ev::Reply(100)), (100_000, Ev::Reply(183))],
            until: 200_000,
            expect: vec![
                (180_000, TO408),
                (
                    180_000,
                    Action::SendCancel {
                        branch: 0,
                        reason: CancelReason::FinalReply(StatusCode::REQUEST_TIMEOUT),
                    },
                ),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
        Case {
            name: "INVITE 486: ACK, Completed; retransmitted 486 re-ACKed and absorbed",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            events: &[
                (200, Ev::Reply(180)),
                (2000, Ev::Reply(486)),
                (2600, Ev::Reply(486)),
            ],
            until: 200_000,
            expect: vec![
                (
                    2000,
                    Action::SendAck {
                        branch: 0,
                        status: StatusCode::new(486).unwrap(),
                    },
                ),
                (
                    2600,
                    Action::SendAck {
                        branch: 0,
                        status: StatusCode::new(486).unwrap(),
                    },
                ),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::new(486).unwrap(),
                    faked: false,
                }
            },
        },
        Case {
            name: "INVITE 200: Accepted, no ACK (end to end), no timers",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            events: &[(700, Ev::Reply(200)), (900, Ev::Reply(200))],
            until: 200_000,
            expect: vec![(500, rt(0))],
            end: |s| {
                s == ClientState::Accepted {
                    status: StatusCode::new(200).unwrap(),
                }
            },
        },
        Case {
            name: "non-INVITE/UDP no answer: E doubles to T2, F=fr_timer 408",
            kind: TxnKind::NonInvite,
            transport: Transport::Unreliable,
            events: &[],
            until: 200_000,
            expect: vec![
                (500, rt(0)),
                (1500, rt(0)),
                (3500, rt(0)),
                (7500, rt(0)),
                (11_500, rt(0)),
                (15_500, rt(0)),
                (19_500, rt(0)),
                (23_500, rt(0)),
                (27_500, rt(0)),
                (30_000, TO408),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
        Case {
            name: "non-INVITE/UDP provisional switches to T2, fr_timer unchanged",
            kind: TxnKind::NonInvite,
            transport: Transport::Unreliable,
            events: &[(2000, Ev::Reply(100))],
            until: 200_000,
            expect: vec![
                (500, rt(0)),
                (1500, rt(0)),
                (6000, rt(0)),
                (10_000, rt(0)),
                (14_000, rt(0)),
                (18_000, rt(0)),
                (22_000, rt(0)),
                (26_000, rt(0)),
                (30_000, TO408),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
        Case {
            name: "non-INVITE 200 completes without ACK",
            kind: TxnKind::NonInvite,
            transport: Transport::Unreliable,
            events: &[(800, Ev::Reply(200)), (900, Ev::Reply(200))],
            until: 200_000,
            expect: vec![(500, rt(0))],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::new(200).unwrap(),
                    faked: false,
                }
            },
        },
        Case {
            name: "non-INVITE/TCP 404, no ACK, no timers",
            kind: TxnKind::NonInvite,
            transport: Transport::Reliable,
            events: &[(800, Ev::Reply(404))],
            until: 200_000,
            expect: vec![],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::new(404).unwrap(),
                    faked: false,
                }
            },
        },
        Case {
            name:
                "cancel_b_method=1 before provisional: INVITE keeps retransmitting, CANCEL on 180",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            events: &[
                (100, Ev::Cancel(CancelBMethod::DeferUntilProvisional)),
                (1000, Ev::Reply(180)),
                (1200, Ev::Reply(487)),
            ],
            until: 200_000,
            expect: vec![
                (500, rt(0)),
                (
                    1000,
                    Action::SendCancel {
                        branch: 0,
                        reason: CancelReason::Received,
                    },
                ),
                (
                    1200,
                    Action::SendAck {
                        branch: 0,
                        status: StatusCode::REQUEST_TERMINATED,
                    },
                ),
                (1500, Action::RetransmitCancel { branch: 0 }),
                (2500, Action::RetransmitCancel { branch: 0 }),
                (4500, Action::RetransmitCancel { branch: 0 }),
                (8500, Action::RetransmitCancel { branch: 0 }),
                (12_500, Action::RetransmitCancel { branch: 0 }),
                (16_500, Action::RetransmitCancel { branch: 0 }),
                (20_500, Action::RetransmitCancel { branch: 0 }),
                (24_500, Action::RetransmitCancel { branch: 0 }),
                (28_500, Action::RetransmitCancel { branch: 0 }),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TERMINATED,
                    faked: false,
                }
            },
        },
        Case {
            name: "cancel_b_method=0 before provisional: faked 487 at once",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            events: &[(100, Ev::Cancel(CancelBMethod::FakeReply))],
            until: 200_000,
            expect: vec![(
                100,
                Action::FakedReply {
                    branch: 0,
                    status: StatusCode::REQUEST_TERMINATED,
                },
            )],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TERMINATED,
                    faked: true,
                }
            },
        },
        Case {
            name:
                "cancel_b_method=2 before provisional: CANCEL at once, INVITE retransmissions stop",
            kind: TxnKind::Invite,
            transport: Transport::Reliable,
            events: &[(100, Ev::Cancel(CancelBMethod::ForceCancel))],
            until: 200_000,
            expect: vec![
                (
                    100,
                    Action::SendCancel {
                        branch: 0,
                        reason: CancelReason::Received,
                    },
                ),
                (30_000, TO408),
            ],
            end: |s| {
                s == ClientState::Completed {
                    status: StatusCode::REQUEST_TIMEOUT,
                    faked: true,
                }
            },
        },
    ];
    for case in &cases {
        let (log, _, c) = run(case);
        assert_eq!(log, case.expect.clone(), "{}", case.name);
        assert!(
            (case.end)(c.state()),
            "{}: end state {:?}",
            case.name,
            c.state()
        );
        assert_eq!(c.next_deadline(), None, "{}: timers left", case.name);
    }
}

#[test]
fn verdicts_seen_by_the_proxy_core() {
    // (event code sequence, expected verdicts)
    let table: [(&[u16], &[ClientVerdict]); 4] = [
        (
            &[180, 180, 200, 200],
            &[
                ClientVerdict::Provisional(sc(180)),
                ClientVerdict::Provisional(sc(180)),
                ClientVerdict::Final {
                    status: sc(200),
                    faked: false,
                },
                ClientVerdict::Another2xx(sc(200)),
            ],
        ),
        (
            &[183, 486, 486, 200],
            &[
                ClientVerdict::Provisional(sc(183)),
                ClientVerdict::Final {
                    status: sc(486),
                    faked: false,
                },
                ClientVerdict::Absorbed,
                // 200 after 486 on the same branch: Kamailio discards it.
                ClientVerdict::Absorbed,
            ],
        ),
        (
            &[302, 180],
            &[
                ClientVerdict::Final {
                    status: sc(302),
                    faked: false,
                },
                ClientVerdict::Absorbed,
            ],
        ),
        (&[100], &[ClientVerdict::Provisional(sc(100))]),
    ];
    let timers = TxnTimers::from_config(&TmConfig::default());
    for (codes, expected) in table {
        let mut c = ClientTxn::new(
            3,
            TxnKind::Invite,
            Transport::Unreliable,
            Time(0),
            &timers,
            Time(180_000),
        );
        let mut out = vec![];
        let got: Vec<ClientVerdict> = codes
            .iter()
            .enumerate()
            .map(|(i, code)| {
                c.on_reply(
                    Time(10 * i as u64 + 10),
                    sc(*code),
                    &timers,
                    Time(180_000),
                    &mut out,
                )
            })
            .collect();
        assert_eq!(got, expected.to_vec(), "{codes:?}");
        assert!(out.iter().all(|a| match a {
            Action::SendAck { branch, .. } => *branch == 3,
            _ => true,
        }));
    }
}

#[test]
fn timers_tolerate_late_firing() {
    let timers = TxnTimers::from_config(&TmConfig::default());
    let mut c = ClientTxn::new(
        0,
        TxnKind::Invite,
        Transport::Unreliable,
        Time(0),
        &timers,
        Time(180_000),
    );
    let mut out = vec![];
    // The timer thread was stalled for 40 s: one 408, no burst of
    // retransmissions.
    let v = c.on_timer(Time(40_000), &timers, &mut out);
    assert_eq!(
        v,
        ClientVerdict::Final {
            status: StatusCode::REQUEST_TIMEOUT,
            faked: true
        }
    );
    assert_eq!(out, vec![TO408]);
    // A retransmission fired 300 ms late reschedules from the real instant.
    let mut c = ClientTxn::new(
        0,
        TxnKind::Invite,
        Transport::Unreliable,
        Time(0),
        &timers,
        Time(180_000),
    );
    out.clear();
    c.on_timer(Time(800), &timers, &mut out);
    assert_eq!(out, vec![rt(0)]);
    assert_eq!(c.next_deadline(), Some(Time(1800)));
    // Calling early does nothing.
    out.clear();
    c.on_timer(Time(1000), &timers, &mut out);
    assert!(out.is_empty());
}
