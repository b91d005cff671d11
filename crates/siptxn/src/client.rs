//! Client transactions (RFC 3261 §17.1, figures 5 and 6) as Kamailio's tm
//! runs them: one per branch of a proxied request.
//!
//! Differences from the RFC that are Kamailio's (and therefore ours):
//! - INVITE retransmissions are capped at T2 too (the RFC doubles timer A
//!   without a cap), and stop at the first reply of any kind.
//! - Timer B/F is `fr_timer` (30 s, not 64·T1); after a provisional reply an
//!   INVITE branch waits `fr_inv_timer` (timer C), restarted on each
//!   provisional when `restart_fr_on_each_reply` is set. Both are capped by
//!   the transaction's end of life (`max_inv_lifetime`/`max_noninv_lifetime`).
//! - Expiry fakes a local 408 on the branch ([`Action::FakedReply`]).
//! - A completed branch has no timer D/K of its own: it lives until the whole
//!   transaction is freed by `wt_timer` (see [`crate::ProxyTxn`]).
//! - CANCEL follows `cancel_b_method` (see [`CancelBMethod`]).

use crate::types::{
    min_time, Action, BranchIdx, CancelBMethod, CancelReason, Retr, StatusCode, Time, Transport,
    TxnKind, TxnTimers,
};

/// One client transaction (one branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientTxn {
    branch: BranchIdx,
    kind: TxnKind,
    transport: Transport,
    /// Code of the last reply that counted (Kamailio's `last_received`); 0
    /// before any.
    last_received: u16,
    /// Some reply (any code) was received: `t_branch_replied()`.
    replied: bool,
    state: ClientState,
    cancel: CancelState,
}

/// States of a client transaction. Each variant holds only what is valid in
/// it: timers exist only while a final reply is awaited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientState {
    /// Request sent, no reply yet (figure 5 "Calling", figure 6 "Trying").
    Calling {
        /// Request retransmission (unreliable transports only).
        retr: Option<RetrTimer>,
        /// `fr_timer` deadline.
        fr_at: Time,
    },
    /// A provisional reply was received.
    Proceeding {
        /// Non-INVITE over UDP keeps retransmitting every T2; INVITE stops.
        retr: Option<RetrTimer>,
        /// `fr_inv_timer` (INVITE) or still `fr_timer` (non-INVITE) deadline.
        fr_at: Time,
    },
    /// The transaction completed on another branch (2xx relayed or a final
    /// reply sent upstream): this branch's timers are stopped; it only waits
    /// for a late reply (a provisional then triggers the owed CANCEL).
    Abandoned,
    /// A final non-2xx reply (or a faked one) was received.
    Completed {
        /// The final code.
        status: StatusCode,
        /// It was faked locally (408, 487, 503).
        faked: bool,
    },
    /// A 2xx to an INVITE was received; further 2xx are relayed too.
    Accepted {
        /// The 2xx code.
        status: StatusCode,
    },
}

/// A retransmission timer, public only so that states can be inspected in
/// tests; its fields are private.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrTimer(Retr);

impl RetrTimer {
    /// When the next retransmission is due.
    #[must_use]
    pub fn due(&self) -> Time {
        self.0.at
    }
}

/// CANCEL progress of an INVITE branch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelState {
    /// Not canceled.
    None,
    /// Canceled before any provisional reply: the CANCEL is owed and is sent
    /// when a provisional arrives (`cancel_b_method` 1, or the transaction
    /// completed elsewhere).
    Deferred {
        /// Reason to put in the CANCEL.
        reason: CancelReason,
    },
    /// CANCEL sent; retransmitted over UDP until a reply or `fr_timer`.
    Sent {
        /// Retransmission timer.
        retr: Option<RetrTimer>,
        /// Retransmissions stop at this instant (`fr_timer` of the CANCEL).
        until: Time,
    },
    /// CANCEL answered with a final reply.
    Answered,
}

/// What a client event means for the transaction user (the proxy core).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientVerdict {
    /// Nothing to do upstream: absorbed retransmission, reply on a canceled
    /// branch, or a reply that cannot change a final state.
    Absorbed,
    /// A provisional reply to consider for relaying.
    Provisional(StatusCode),
    /// The branch just completed with this final reply.
    Final {
        /// The code.
        status: StatusCode,
        /// Faked locally.
        faked: bool,
    },
    /// One more 2xx on an INVITE branch that already had one (a UAS
    /// retransmitting its 200): Kamailio relays it too.
    Another2xx(StatusCode),
}

/// How a branch is canceled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelHow {
    /// The transaction already has its final reply (`F_CANCEL_B_KILL`): stop
    /// the branch's timers; send a CANCEL only if a provisional was received,
    /// else owe it until one arrives.
    Kill,
    /// An e2e CANCEL or a 6xx: follow `cancel_b_method`.
    Method(CancelBMethod),
}

impl ClientTxn {
    /// A client transaction whose request the caller has just sent at `now`.
    /// `eol` is the transaction's end of life (`max_*_lifetime` from its
    /// creation); the final-response timer never runs past it.
    #[must_use]
    pub fn new(
        branch: BranchIdx,
        kind: TxnKind,
        transport: Transport,
        now: Time,
        timers: &TxnTimers,
        eol: Time,
    ) -> ClientTxn {
        let retr = match transport {
            Transport::Unreliable => Some(RetrTimer(Retr::start(now, timers.t1))),
            Transport::Reliable => None,
        };
        ClientTxn {
            branch,
            kind,
            transport,
            last_received: 0,
            replied: false,
            state: ClientState::Calling {
                retr,
                fr_at: capped(now, timers.fr, eol),
            },
            cancel: CancelState::None,
        }
    }

    /// Branch index.
    #[must_use]
    pub fn branch(&self) -> BranchIdx {
        self.branch
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> ClientState {
        self.state
    }

    /// CANCEL progress.
    #[must_use]
    pub fn cancel_state(&self) -> CancelState {
        self.cancel
    }

    /// Kamailio's `last_received` (0 when nothing counted yet).
    #[must_use]
    pub fn last_received(&self) -> u16 {
        self.last_received
    }

    /// A reply was received on this branch, even if a 408 was faked later
    /// (Kamailio's `F_RB_REPLIED`, for `t_branch_replied()`).
    #[must_use]
    pub fn was_replied(&self) -> bool {
        self.replied
    }

    /// No final reply yet (Kamailio: `last_received < 200`).
    #[must_use]
    pub fn is_pending(&self) -> bool {
        matches!(
            self.state,
            ClientState::Calling { .. } | ClientState::Proceeding { .. } | ClientState::Abandoned
        )
    }

    /// The next instant at which [`ClientTxn::on_timer`] has work.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Time> {
        let own = match self.state {
            ClientState::Calling { retr, fr_at } | ClientState::Proceeding { retr, fr_at } => {
                min_time(retr.map(|r| r.0.at), Some(fr_at))
            }
            _ => None,
        };
        let cancel = match self.cancel {
            CancelState::Sent {
                retr: Some(r),
                until,
            } => Some(r.0.at.min(until)),
            _ => None,
        };
        min_time(own, cancel)
    }

    /// Handles a reply received on this branch.
    pub fn on_reply(
        &mut self,
        now: Time,
        status: StatusCode,
        timers: &TxnTimers,
        eol: Time,
        out: &mut Vec<Action>,
    ) -> ClientVerdict {
        let b = self.branch;
        self.replied = true;
        if status.is_provisional() {
            // A canceled branch: the provisional is not relayed and does not
            // restart fr; it only (re)triggers the CANCEL (Kamailio checks
            // this before anything else, even after a faked 487).
            match self.cancel {
                CancelState::Deferred { reason } => {
                    self.send_cancel(now, reason, timers, out);
                    return ClientVerdict::Absorbed;
                }
                CancelState::Sent { .. } | CancelState::Answered => {
                    out.push(Action::RetransmitCancel { branch: b });
                    return ClientVerdict::Absorbed;
                }
                CancelState::None => {}
            }
            let (retr, fr_at) = match self.state {
                ClientState::Calling { retr, fr_at } | ClientState::Proceeding { retr, fr_at } => {
                    (retr, fr_at)
                }
                ClientState::Abandoned => {
                    self.last_received = status.code();
                    return ClientVerdict::Provisional(status);
                }
                ClientState::Completed { .. } | ClientState::Accepted { .. } => {
                    return ClientVerdict::Absorbed
                }
            };
            let (retr, fr_at) = match self.kind {
                TxnKind::Invite => {
                    let last = self.last_received;
                    let restart = timers.restart_fr_on_each_reply
                        || (status.code() > last && (status.code() >= 180 || last == 0));
                    let fr_at = if restart {
                        capped(now, timers.fr_inv, eol)
                    } else {
                        fr_at
                    };
                    (None, fr_at)
                }
                TxnKind::NonInvite => (
                    retr.map(|_| RetrTimer(Retr::switch_to_t2(now, timers.t2))),
                    fr_at,
                ),
            };
            self.state = ClientState::Proceeding { retr, fr_at };
            self.last_received = status.code();
            return ClientVerdict::Provisional(status);
        }
        // Final reply. Negative INVITE replies are acknowledged hop by hop
        // every time, retransmissions included.
        if self.kind == TxnKind::Invite && status.is_negative() {
            out.push(Action::SendAck { branch: b, status });
        }
        match self.state {
            ClientState::Calling { .. }
            | ClientState::Proceeding { .. }
            | ClientState::Abandoned => {
                self.state = if self.kind == TxnKind::Invite && status.is_success() {
                    ClientState::Accepted { status }
                } else {
                    ClientState::Completed {
                        status,
                        faked: false,
                    }
                };
                self.last_received = status.code();
                ClientVerdict::Final {
                    status,
                    faked: false,
                }
            }
            ClientState::Accepted { .. } if status.is_success() => {
                ClientVerdict::Another2xx(status)
            }
            // Retransmission, or a status rewrite (e.g. 200 after a faked
            // 408): Kamailio discards both.
            ClientState::Accepted { .. } | ClientState::Completed { .. } => ClientVerdict::Absorbed,
        }
    }

    /// Handles a reply to the CANCEL sent on this branch.
    pub fn on_cancel_reply(&mut self, status: StatusCode) {
        if let CancelState::Sent { until, .. } = self.cancel {
            self.cancel = if status.is_provisional() {
                CancelState::Sent { retr: None, until }
            } else {
                CancelState::Answered
            };
        }
    }

    /// Runs due timers. Tolerates late calls: each due timer fires once.
    pub fn on_timer(
        &mut self,
        now: Time,
        timers: &TxnTimers,
        out: &mut Vec<Action>,
    ) -> ClientVerdict {
        let b = self.branch;
        if let CancelState::Sent {
            retr: Some(mut r),
            until,
        } = self.cancel
        {
            if until <= now {
                self.cancel = CancelState::Sent { retr: None, until };
            } else if r.0.at <= now {
                out.push(Action::RetransmitCancel { branch: b });
                r.0.fire(now, timers.t2);
                self.cancel = CancelState::Sent {
                    retr: Some(r),
                    until,
                };
            }
        }
        let (retr, fr_at, calling) = match self.state {
            ClientState::Calling { retr, fr_at } => (retr, fr_at, true),
            ClientState::Proceeding { retr, fr_at } => (retr, fr_at, false),
            _ => return ClientVerdict::Absorbed,
        };
        // The final-response timer wins over a retransmission due at the
        // same tick, as in Kamailio's retr_buf_handler.
        if fr_at <= now {
            let owed_cancel = self.kind == TxnKind::Invite
                && (100..200).contains(&self.last_received)
                && self.cancel == CancelState::None;
            return self.fake(now, StatusCode::REQUEST_TIMEOUT, owed_cancel, timers, out);
        }
        if let Some(mut r) = retr {
            if r.0.at <= now {
                out.push(Action::RetransmitRequest { branch: b });
                r.0.fire(now, timers.t2);
                self.state = if calling {
                    ClientState::Calling {
                        retr: Some(r),
                        fr_at,
                    }
                } else {
                    ClientState::Proceeding {
                        retr: Some(r),
                        fr_at,
                    }
                };
            }
        }
        ClientVerdict::Absorbed
    }

    /// Cancels the branch. CANCEL exists only for INVITE: on a non-INVITE
    /// branch this does nothing (Kamailio's 6xx handling would also "cancel"
    /// non-INVITE branches; we let them finish, as RFC 3261 §9.1 requires).
    pub fn cancel(
        &mut self,
        now: Time,
        how: CancelHow,
        reason: CancelReason,
        timers: &TxnTimers,
        out: &mut Vec<Action>,
    ) -> ClientVerdict {
        if self.kind != TxnKind::Invite || !self.is_pending() {
            return ClientVerdict::Absorbed;
        }
        let replied = self.last_received >= 100;
        if how == CancelHow::Kill {
            self.state = ClientState::Abandoned;
        }
        match (how, self.cancel) {
            // A CANCEL is already out, or already owed (keep its reason).
            (
                _,
                CancelState::Sent { .. } | CancelState::Answered | CancelState::Deferred { .. },
            ) => ClientVerdict::Absorbed,
            (CancelHow::Kill, CancelState::None) => {
                if replied {
                    self.send_cancel(now, reason, timers, out);
                } else {
                    self.cancel = CancelState::Deferred { reason };
                }
                ClientVerdict::Absorbed
            }
            (CancelHow::Method(m), CancelState::None) => {
                if replied || m == CancelBMethod::ForceCancel {
                    self.send_cancel(now, reason, timers, out);
                    return ClientVerdict::Absorbed;
                }
                self.cancel = CancelState::Deferred { reason };
                if m == CancelBMethod::FakeReply {
                    return self.fake(now, StatusCode::REQUEST_TERMINATED, false, timers, out);
                }
                ClientVerdict::Absorbed
            }
        }
    }

    /// The request (or a retransmission) could not be sent: Kamailio fakes a
    /// 503 on the branch.
    pub fn send_failed(
        &mut self,
        now: Time,
        timers: &TxnTimers,
        out: &mut Vec<Action>,
    ) -> ClientVerdict {
        if !matches!(
            self.state,
            ClientState::Calling { .. } | ClientState::Proceeding { .. }
        ) {
            return ClientVerdict::Absorbed;
        }
        self.fake(now, StatusCode::SERVICE_UNAVAILABLE, false, timers, out)
    }

    /// The transaction completed elsewhere (Kamailio's `cleanup_uac_timers`):
    /// stop the request's retransmission and final-response timers.
    pub fn abandon(&mut self) {
        if matches!(
            self.state,
            ClientState::Calling { .. } | ClientState::Proceeding { .. }
        ) {
            self.state = ClientState::Abandoned;
        }
    }

    /// `t_set_fr()` on a running branch: 0 leaves a value unchanged. A branch
    /// on `fr_inv_timer` gets the new `fr_inv`, others the new `fr` (capped
    /// by the end of life).
    pub fn change_fr(&mut self, now: Time, fr_inv: u32, fr: u32, eol: Time) {
        let is_inv_phase = self.kind == TxnKind::Invite && self.last_received >= 100;
        let fr_slot = match &mut self.state {
            ClientState::Calling { fr_at, .. } | ClientState::Proceeding { fr_at, .. } => fr_at,
            _ => return,
        };
        if is_inv_phase {
            if fr_inv != 0 {
                *fr_slot = now.plus(fr_inv);
            }
        } else if fr != 0 {
            *fr_slot = capped(now, fr, eol);
        }
    }

    /// `t_set_max_lifetime()`: a running final-response timer never runs
    /// past the new end of life.
    pub fn cap_to_eol(&mut self, eol: Time) {
        if let ClientState::Calling { fr_at, .. } | ClientState::Proceeding { fr_at, .. } =
            &mut self.state
        {
            *fr_at = (*fr_at).min(eol);
        }
    }

    fn fake(
        &mut self,
        now: Time,
        status: StatusCode,
        cancel_after: bool,
        timers: &TxnTimers,
        out: &mut Vec<Action>,
    ) -> ClientVerdict {
        self.state = ClientState::Completed {
            status,
            faked: true,
        };
        self.last_received = status.code();
        out.push(Action::FakedReply {
            branch: self.branch,
            status,
        });
        if cancel_after {
            self.send_cancel(now, CancelReason::FinalReply(status), timers, out);
        }
        ClientVerdict::Final {
            status,
            faked: true,
        }
    }

    fn send_cancel(
        &mut self,
        now: Time,
        reason: CancelReason,
        timers: &TxnTimers,
        out: &mut Vec<Action>,
    ) {
        // The INVITE is not retransmitted any more once its CANCEL is out.
        match &mut self.state {
            ClientState::Calling { retr, .. } | ClientState::Proceeding { retr, .. } => {
                *retr = None
            }
            _ => {}
        }
        out.push(Action::SendCancel {
            branch: self.branch,
            reason,
        });
        let retr = match self.transport {
            Transport::Unreliable => Some(RetrTimer(Retr::start(now, timers.t1))),
            Transport::Reliable => None,
        };
        self.cancel = CancelState::Sent {
            retr,
            until: now.plus(timers.fr),
        };
    }
}

/// `now + ms`, but never past `eol`; an end of life already passed expires
/// at once (Kamailio: "expire now").
fn capped(now: Time, ms: u32, eol: Time) -> Time {
    now.plus(ms).min(eol.max(now))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TmConfig;

    fn timers() -> TxnTimers {
        TxnTimers::from_config(&TmConfig::default())
    }

    fn sc(c: u16) -> StatusCode {
        StatusCode::new(c).unwrap_or(StatusCode::TRYING)
    }

    #[test]
    fn capped_never_before_now() {
        assert_eq!(capped(Time(10), 5, Time(100)), Time(15));
        assert_eq!(capped(Time(10), 500, Time(100)), Time(100));
        assert_eq!(capped(Time(200), 500, Time(100)), Time(200));
    }

    #[test]
    fn cancel_on_non_invite_is_a_no_op() {
        let t = timers();
        let mut c = ClientTxn::new(
            0,
            TxnKind::NonInvite,
            Transport::Unreliable,
            Time(0),
            &t,
            Time(32_000),
        );
        let mut out = vec![];
        let v = c.cancel(
            Time(10),
            CancelHow::Method(CancelBMethod::ForceCancel),
            CancelReason::Received,
            &t,
            &mut out,
        );
        assert_eq!(v, ClientVerdict::Absorbed);
        assert!(out.is_empty());
        assert_eq!(c.cancel_state(), CancelState::None);
    }

    #[test]
    fn kill_stops_timers_and_keeps_the_owed_cancel_reason() {
        let t = timers();
        let mut out = vec![];
        // (provisional first?, prior e2e cancel?, expected cancel state kind)
        let table = [
            (false, false, "deferred-final"),
            (false, true, "deferred-received"),
            (true, false, "sent"),
            (true, true, "sent"),
        ];
        for (prov, e2e, expected) in table {
            let mut c = ClientTxn::new(
                0,
                TxnKind::Invite,
                Transport::Unreliable,
                Time(0),
                &t,
                Time(180_000),
            );
            if prov {
                c.on_reply(Time(10), sc(180), &t, Time(180_000), &mut out);
            }
            if e2e {
                let m = CancelHow::Method(CancelBMethod::DeferUntilProvisional);
                c.cancel(Time(20), m, CancelReason::Received, &t, &mut out);
            }
            let reason = CancelReason::FinalReply(sc(200));
            c.cancel(Time(30), CancelHow::Kill, reason, &t, &mut out);
            assert_eq!(c.state(), ClientState::Abandoned, "{prov} {e2e}");
            let kind = match c.cancel_state() {
                CancelState::Deferred {
                    reason: CancelReason::Received,
                } => "deferred-received",
                CancelState::Deferred {
                    reason: CancelReason::FinalReply(_),
                } => "deferred-final",
                CancelState::Sent { .. } => "sent",
                other => panic!("{other:?}"),
            };
            assert_eq!(kind, expected, "{prov} {e2e}");
            // Only CANCEL retransmissions may remain.
            let d = c.next_deadline();
            assert!(d.is_none() || matches!(c.cancel_state(), CancelState::Sent { .. }));
        }
    }

    #[test]
    fn restart_fr_only_on_increasing_when_disabled() {
        let mut t = timers();
        t.restart_fr_on_each_reply = false;
        let mut c = ClientTxn::new(
            0,
            TxnKind::Invite,
            Transport::Reliable,
            Time(0),
            &t,
            Time(180_000),
        );
        let mut out = vec![];
        // (time, code, expected fr deadline after it)
        let table = [
            (100, 100, 100 + 120_000), // first provisional always restarts
            (1_000, 100, 100 + 120_000),
            (2_000, 180, 2_000 + 120_000),
            (3_000, 180, 2_000 + 120_000), // repeated 180: no restart
            (4_000, 183, 4_000 + 120_000),
        ];
        for (now, code, fr) in table {
            c.on_reply(Time(now), sc(code), &t, Time(180_000), &mut out);
            match c.state() {
                ClientState::Proceeding { fr_at, .. } => {
                    assert_eq!(fr_at, Time(fr.min(180_000)), "{now}")
                }
                s => panic!("{s:?}"),
            }
        }
    }
}
