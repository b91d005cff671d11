//! RFC 3261 figures 7 (INVITE) and 8 (non-INVITE) server transactions with
//! Kamailio's timer values (T1=500, T2=4000, wt_timer=5000, fr_timer=30000).

use ferrosip_siptxn::{
    AckVerdict, Action, ReplyOrigin, ServerState, ServerTxn, StatusCode, Time, TmConfig, Transport,
    TxnKind, TxnTimers,
};

#[derive(Debug, Clone, Copy)]
enum Ev {
    /// Request retransmission from upstream.
    Retrans,
    /// Reply sent (code, local?).
    Reply(u16, bool),
    Ack,
}

struct Case {
    name: &'static str,
    kind: TxnKind,
    transport: Transport,
    auto_100: bool,
    events: Vec<(u64, Ev)>,
    expect: Vec<(u64, Action)>,
    /// Instant at which the transaction is Terminated (freed).
    freed_at: Option<u64>,
}

fn sc(c: u16) -> StatusCode {
    StatusCode::new(c).unwrap()
}

fn rr(c: u16) -> Action {
    Action::RetransmitReply { status: sc(c) }
}

fn relay(c: u16) -> Action {
    Action::RelayReply {
        branch: 0,
        status: sc(c),
    }
}

fn local(c: u16) -> Action {
    Action::SendLocalReply { status: sc(c) }
}

fn run(case: &Case) -> (Vec<(u64, Action)>, Option<u64>, ServerTxn) {
    let timers = TxnTimers::from_config(&TmConfig::default());
    let mut out = vec![];
    let mut s = ServerTxn::new(case.kind, case.transport, case.auto_100, &mut out);
    let mut log: Vec<(u64, Action)> = out.drain(..).map(|a| (0, a)).collect();
    let mut events = case.events.iter().peekable();
    let mut freed = None;
    loop {
        let next_ev = events.peek().map(|(t, _)| *t);
        let next_timer = s.next_deadline().map(|t| t.ms());
        let now = match (next_ev, next_timer) {
            (Some(e), Some(t)) => e.min(t),
            (Some(e), None) => e,
            (None, Some(t)) => t,
            (None, None) => break,
        };
        if next_timer == Some(now) {
            s.on_timer(Time(now), &timers, &mut out);
            if s.is_terminated() && freed.is_none() {
                freed = Some(now);
            }
        }
        if next_ev == Some(now) {
            let (_, ev) = events.next().unwrap();
            match *ev {
                Ev::Retrans => s.on_request_retransmission(&mut out),
                Ev::Reply(code, is_local) => {
                    let origin = if is_local {
                        ReplyOrigin::Local
                    } else {
                        ReplyOrigin::Relayed(0)
                    };
                    s.reply(Time(now), sc(code), origin, &timers, &mut out)
                        .unwrap();
                }
                Ev::Ack => {
                    s.on_ack().unwrap();
                }
            }
        }
        log.extend(out.drain(..).map(|a| (now, a)));
    }
    (log, freed, s)
}

#[test]
fn figure_7_and_8_tables() {
    let cases = vec![
        Case {
            name: "INVITE/UDP 486, no ACK: G doubles from T1 until wt_timer frees",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            auto_100: true,
            events: vec![(100, Ev::Retrans), (1000, Ev::Reply(486, false))],
            expect: vec![
                (0, local(100)),
                (100, rr(100)),
                (1000, relay(486)),
                (1500, rr(486)),
                (2500, rr(486)),
                (4500, rr(486)),
            ],
            freed_at: Some(6000),
        },
        Case {
            name: "INVITE/UDP 486 then ACK: Confirmed, retransmissions stop, ACK retransmission absorbed",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            auto_100: true,
            events: vec![
                (1000, Ev::Reply(486, false)),
                (2000, Ev::Ack),
                (2100, Ev::Ack),
                (2200, Ev::Retrans),
            ],
            expect: vec![(0, local(100)), (1000, relay(486)), (1500, rr(486)), (2200, rr(486))],
            freed_at: Some(6000),
        },
        Case {
            name: "INVITE/TCP 404: no reply retransmission",
            kind: TxnKind::Invite,
            transport: Transport::Reliable,
            auto_100: true,
            events: vec![(1000, Ev::Reply(404, true))],
            expect: vec![(0, local(100)), (1000, local(404))],
            freed_at: Some(6000),
        },
        Case {
            name: "INVITE relayed 200: not retransmitted by the proxy; request retransmission re-sends it",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            auto_100: true,
            events: vec![(500, Ev::Reply(180, false)), (800, Ev::Reply(200, false)), (900, Ev::Retrans)],
            expect: vec![(0, local(100)), (500, relay(180)), (800, relay(200)), (900, rr(200))],
            freed_at: Some(5800),
        },
        Case {
            name: "INVITE local 200 over TCP: retransmitted anyway until the ACK",
            kind: TxnKind::Invite,
            transport: Transport::Reliable,
            auto_100: false,
            events: vec![(1000, Ev::Reply(200, true)), (2000, Ev::Ack)],
            expect: vec![(1000, local(200)), (1500, rr(200))],
            freed_at: Some(6000),
        },
        Case {
            name: "INVITE without auto_inv_100: retransmission absorbed until a reply exists",
            kind: TxnKind::Invite,
            transport: Transport::Unreliable,
            auto_100: false,
            events: vec![(100, Ev::Retrans), (200, Ev::Reply(183, false)), (300, Ev::Retrans)],
            expect: vec![(200, relay(183)), (300, rr(183))],
            freed_at: None,
        },
        Case {
            name: "non-INVITE: Trying absorbs, Proceeding and Completed re-send, freed after wt_timer",
            kind: TxnKind::NonInvite,
            transport: Transport::Unreliable,
            auto_100: true,
            events: vec![
                (100, Ev::Retrans),
                (200, Ev::Reply(100, true)),
                (300, Ev::Retrans),
                (400, Ev::Reply(200, false)),
                (600, Ev::Retrans),
                (5399, Ev::Retrans),
            ],
            expect: vec![(200, local(100)), (300, rr(100)), (400, relay(200)), (600, rr(200)), (5399, rr(200))],
            freed_at: Some(5400),
        },
    ];
    for case in &cases {
        let (log, freed, _) = run(case);
        assert_eq!(log, case.expect, "{}", case.name);
        assert_eq!(freed, case.freed_at, "{}", case.name);
    }
}

#[test]
fn ack_verdicts_and_states() {
    let timers = TxnTimers::from_config(&TmConfig::default());
    let mut out = vec![];
    // (reply before ACK, origin local?, expected verdict, expected state kind)
    let table: [(Option<u16>, bool, AckVerdict, &str); 4] = [
        (None, true, AckVerdict::EndToEnd, "Proceeding"),
        (Some(486), false, AckVerdict::Absorbed, "Confirmed"),
        (Some(200), false, AckVerdict::EndToEnd, "Accepted"),
        (Some(200), true, AckVerdict::Absorbed, "Accepted"),
    ];
    for (reply, is_local, verdict, state) in table {
        let mut s = ServerTxn::new(TxnKind::Invite, Transport::Unreliable, true, &mut out);
        if let Some(code) = reply {
            let origin = if is_local {
                ReplyOrigin::Local
            } else {
                ReplyOrigin::Relayed(1)
            };
            s.reply(Time(10), sc(code), origin, &timers, &mut out)
                .unwrap();
        }
        assert_eq!(s.on_ack().unwrap(), verdict, "{reply:?}");
        let name = match s.state() {
            ServerState::Trying => "Trying",
            ServerState::Proceeding { .. } => "Proceeding",
            ServerState::Completed { .. } => "Completed",
            ServerState::Accepted { retr, .. } => {
                assert!(retr.is_none(), "ACK stops 2xx retransmission");
                "Accepted"
            }
            ServerState::Confirmed { .. } => "Confirmed",
            ServerState::Terminated => "Terminated",
        };
        assert_eq!(name, state, "{reply:?}");
    }
}

#[test]
fn reply_retransmission_stops_at_fr_timer() {
    // With wt_timer longer than fr_timer, G stops at fr_timer (Kamailio runs
    // the reply's retransmission buffer under fr_timer).
    let cfg = TmConfig {
        wt_timer: 60_000,
        fr_timer: 10_000,
        ..TmConfig::default()
    };
    let timers = TxnTimers::from_config(&cfg);
    let mut out = vec![];
    let mut s = ServerTxn::new(TxnKind::Invite, Transport::Unreliable, false, &mut out);
    s.reply(Time(0), sc(500), ReplyOrigin::Local, &timers, &mut out)
        .unwrap();
    out.clear();
    let mut sent = vec![];
    while let Some(d) = s.next_deadline() {
        s.on_timer(d, &timers, &mut out);
        sent.extend(out.drain(..).map(|_| d.ms()));
    }
    assert_eq!(sent, vec![500, 1500, 3500, 7500]);
    assert!(s.is_terminated());
}
