//! Server transactions (RFC 3261 §17.2, figures 7 and 8) as Kamailio's tm
//! runs them.
//!
//! Differences from the RFC that are Kamailio's (and therefore ours):
//! - The wait timer (`wt_timer`, 5 s) starts when the first final reply is
//!   sent, whatever happens next: it frees the transaction (RFC timers H, I
//!   and J all collapse into it). A negative INVITE reply is retransmitted
//!   over UDP (T1 doubling to T2, timer G) until the ACK arrives, `fr_timer`
//!   passes, or the transaction is freed.
//! - A relayed 2xx is not retransmitted (the UAS does that end to end); a 2xx
//!   built locally (`t_reply(200)` to an INVITE) is retransmitted on every
//!   transport until the ACK, because upstream may be UDP.
//! - A retransmitted request re-sends the last reply sent, whatever it was;
//!   before any reply it is absorbed silently.

use crate::types::{
    min_time, Action, BranchIdx, Retr, StatusCode, Time, Transport, TxnKind, TxnTimers,
};
use crate::Error;

/// Who produced a reply sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReplyOrigin {
    /// Built locally (`t_reply()`, 100 Trying, a faked reply that won).
    Local,
    /// Relayed from a branch.
    Relayed(BranchIdx),
}

/// The last reply sent upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SentReply {
    /// Code.
    pub status: StatusCode,
    /// Origin.
    pub origin: ReplyOrigin,
}

/// States of a server transaction; each variant holds only what is valid in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerState {
    /// Request received, nothing sent yet (figure 8 "Trying"; an INVITE with
    /// `auto_inv_100` off).
    Trying,
    /// A provisional reply was sent (figures 7 and 8 "Proceeding").
    Proceeding {
        /// The last provisional.
        last: SentReply,
    },
    /// A final reply was sent: non-2xx to an INVITE (figure 7 "Completed",
    /// awaiting the ACK) or any final to a non-INVITE (figure 8 "Completed").
    Completed {
        /// The final reply.
        last: SentReply,
        /// Reply retransmission (INVITE over UDP only).
        retr: Option<ServerRetr>,
        /// When the transaction is freed (`wt_timer` after the final reply).
        free_at: Time,
    },
    /// A 2xx was sent to an INVITE (RFC 6026 "Accepted"). Later 2xx from other
    /// branches are relayed too.
    Accepted {
        /// The first 2xx sent.
        last: SentReply,
        /// Retransmission of a locally built 2xx until the ACK.
        retr: Option<ServerRetr>,
        /// When the transaction is freed.
        free_at: Time,
    },
    /// ACK received for the negative reply (figure 7 "Confirmed"), or the
    /// transaction was released without a reply (`t_release`): it only
    /// absorbs retransmissions until freed.
    Confirmed {
        /// The final reply, if one was sent.
        last: Option<SentReply>,
        /// When the transaction is freed.
        free_at: Time,
    },
    /// Freed ("Terminated"): the owner removes it from the table.
    Terminated,
}

/// A reply retransmission timer (fields private).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerRetr {
    retr: Retr,
    /// Retransmissions stop here (`fr_timer` after the final reply).
    until: Time,
}

impl ServerRetr {
    /// When the next retransmission is due.
    #[must_use]
    pub fn due(&self) -> Time {
        self.retr.at
    }
}

/// What an ACK meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckVerdict {
    /// It acknowledged our negative (or local 2xx) reply, or was a
    /// retransmission of such an ACK: absorbed.
    Absorbed,
    /// Not ours to absorb (an end-to-end ACK for a relayed 2xx, or an ACK
    /// before any final reply): the caller routes it statelessly.
    EndToEnd,
}

/// One server transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTxn {
    kind: TxnKind,
    transport: Transport,
    state: ServerState,
}

impl ServerTxn {
    /// A server transaction for a request just received. With
    /// `auto_inv_100` an INVITE is answered 100 Trying at once.
    #[must_use]
    pub fn new(
        kind: TxnKind,
        transport: Transport,
        auto_inv_100: bool,
        out: &mut Vec<Action>,
    ) -> ServerTxn {
        let mut s = ServerTxn {
            kind,
            transport,
            state: ServerState::Trying,
        };
        if kind == TxnKind::Invite && auto_inv_100 {
            s.state = ServerState::Proceeding {
                last: SentReply {
                    status: StatusCode::TRYING,
                    origin: ReplyOrigin::Local,
                },
            };
            out.push(Action::SendLocalReply {
                status: StatusCode::TRYING,
            });
        }
        s
    }

    /// Current state.
    #[must_use]
    pub fn state(&self) -> ServerState {
        self.state
    }

    /// Kind.
    #[must_use]
    pub fn kind(&self) -> TxnKind {
        self.kind
    }

    /// A final reply has been sent (Kamailio: `uas.status >= 200`).
    #[must_use]
    pub fn is_final(&self) -> bool {
        matches!(
            self.state,
            ServerState::Completed { .. }
                | ServerState::Accepted { .. }
                | ServerState::Confirmed { last: Some(_), .. }
        )
    }

    /// Released (final reply sent or `t_release`): the wait timer runs.
    #[must_use]
    pub fn is_on_wait(&self) -> bool {
        matches!(
            self.state,
            ServerState::Completed { .. }
                | ServerState::Accepted { .. }
                | ServerState::Confirmed { .. }
        )
    }

    /// Freed.
    #[must_use]
    pub fn is_terminated(&self) -> bool {
        self.state == ServerState::Terminated
    }

    /// The last reply sent.
    #[must_use]
    pub fn last_reply(&self) -> Option<SentReply> {
        match self.state {
            ServerState::Trying | ServerState::Terminated => None,
            ServerState::Proceeding { last }
            | ServerState::Completed { last, .. }
            | ServerState::Accepted { last, .. } => Some(last),
            ServerState::Confirmed { last, .. } => last,
        }
    }

    /// Next instant at which [`ServerTxn::on_timer`] has work.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Time> {
        match self.state {
            ServerState::Completed { retr, free_at, .. }
            | ServerState::Accepted { retr, free_at, .. } => {
                min_time(retr.map(|r| r.retr.at.min(r.until)), Some(free_at))
            }
            ServerState::Confirmed { free_at, .. } => Some(free_at),
            _ => None,
        }
    }

    /// Sends a reply upstream: pushes the send action and updates the state.
    /// After a final reply only further 2xx relayed for an INVITE are
    /// accepted (forked 200s); anything else is refused.
    pub fn reply(
        &mut self,
        now: Time,
        status: StatusCode,
        origin: ReplyOrigin,
        timers: &TxnTimers,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        let sent = SentReply { status, origin };
        let action = match origin {
            ReplyOrigin::Local => Action::SendLocalReply { status },
            ReplyOrigin::Relayed(branch) => Action::RelayReply { branch, status },
        };
        match self.state {
            ServerState::Trying | ServerState::Proceeding { .. } => {}
            ServerState::Accepted { .. }
            | ServerState::Confirmed { .. }
            | ServerState::Completed { .. }
                if self.kind == TxnKind::Invite
                    && status.is_success()
                    && matches!(origin, ReplyOrigin::Relayed(_)) =>
            {
                // Kamailio's RPS_PUSHED_AFTER_COMPLETION: relayed, state kept.
                out.push(action);
                return Ok(());
            }
            ServerState::Terminated => return Err(Error::WrongState("Terminated")),
            _ => return Err(Error::AlreadyReplied),
        }
        out.push(action);
        if status.is_provisional() {
            self.state = ServerState::Proceeding { last: sent };
            return Ok(());
        }
        let free_at = now.plus(timers.wait);
        let start = || {
            Some(ServerRetr {
                retr: Retr::start(now, timers.t1),
                until: now.plus(timers.fr),
            })
        };
        self.state = match (self.kind, status.is_success()) {
            (TxnKind::Invite, true) => ServerState::Accepted {
                last: sent,
                retr: if origin == ReplyOrigin::Local {
                    start()
                } else {
                    None
                },
                free_at,
            },
            (TxnKind::Invite, false) => ServerState::Completed {
                last: sent,
                retr: if self.transport == Transport::Unreliable {
                    start()
                } else {
                    None
                },
                free_at,
            },
            (TxnKind::NonInvite, _) => ServerState::Completed {
                last: sent,
                retr: None,
                free_at,
            },
        };
        Ok(())
    }

    /// A retransmission of the request arrived: re-send the last reply, if any.
    pub fn on_request_retransmission(&mut self, out: &mut Vec<Action>) {
        if let Some(last) = self.last_reply() {
            if self.state != ServerState::Terminated {
                out.push(Action::RetransmitReply {
                    status: last.status,
                });
            }
        }
    }

    /// An ACK matched this transaction.
    pub fn on_ack(&mut self) -> Result<AckVerdict, Error> {
        if self.kind != TxnKind::Invite {
            return Err(Error::NotInvite);
        }
        Ok(match self.state {
            ServerState::Completed { last, free_at, .. } => {
                self.state = ServerState::Confirmed {
                    last: Some(last),
                    free_at,
                };
                AckVerdict::Absorbed
            }
            ServerState::Accepted {
                last,
                retr: Some(_),
                free_at,
            } => {
                self.state = ServerState::Accepted {
                    last,
                    retr: None,
                    free_at,
                };
                AckVerdict::Absorbed
            }
            ServerState::Confirmed { .. } => AckVerdict::Absorbed,
            _ => AckVerdict::EndToEnd,
        })
    }

    /// `t_release_transaction()`: stop retransmitting and start the wait
    /// timer if it is not running (it never restarts).
    pub fn release(&mut self, now: Time, timers: &TxnTimers) {
        self.state = match self.state {
            ServerState::Trying | ServerState::Proceeding { .. } => ServerState::Confirmed {
                last: None,
                free_at: now.plus(timers.wait),
            },
            ServerState::Completed { last, free_at, .. }
            | ServerState::Accepted { last, free_at, .. } => ServerState::Confirmed {
                last: Some(last),
                free_at,
            },
            s => s,
        };
    }

    /// Runs due timers (late calls fire each due timer once).
    pub fn on_timer(&mut self, now: Time, timers: &TxnTimers, out: &mut Vec<Action>) {
        match &mut self.state {
            ServerState::Completed { free_at, .. }
            | ServerState::Accepted { free_at, .. }
            | ServerState::Confirmed { free_at, .. }
                if *free_at <= now =>
            {
                self.state = ServerState::Terminated;
            }
            ServerState::Completed { last, retr, .. }
            | ServerState::Accepted { last, retr, .. } => {
                if let Some(r) = retr {
                    if r.until <= now {
                        *retr = None;
                    } else if r.retr.at <= now {
                        out.push(Action::RetransmitReply {
                            status: last.status,
                        });
                        r.retr.fire(now, timers.t2);
                    }
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::TmConfig;

    #[test]
    fn second_final_is_refused_except_relayed_2xx() {
        let t = TxnTimers::from_config(&TmConfig::default());
        let mut out = vec![];
        let ok = StatusCode::new(200).unwrap();
        let busy = StatusCode::new(486).unwrap();
        // (kind, first, second, second origin, expected)
        let table = [
            (TxnKind::Invite, ok, ok, ReplyOrigin::Relayed(1), Ok(())),
            (TxnKind::Invite, busy, ok, ReplyOrigin::Relayed(1), Ok(())),
            (
                TxnKind::Invite,
                ok,
                ok,
                ReplyOrigin::Local,
                Err(Error::AlreadyReplied),
            ),
            (
                TxnKind::Invite,
                ok,
                busy,
                ReplyOrigin::Relayed(1),
                Err(Error::AlreadyReplied),
            ),
            (
                TxnKind::NonInvite,
                ok,
                ok,
                ReplyOrigin::Relayed(1),
                Err(Error::AlreadyReplied),
            ),
        ];
        for (kind, first, second, origin, expected) in table {
            let mut s = ServerTxn::new(kind, Transport::Unreliable, false, &mut out);
            s.reply(Time(1), first, ReplyOrigin::Relayed(0), &t, &mut out)
                .unwrap();
            assert_eq!(
                s.reply(Time(2), second, origin, &t, &mut out),
                expected,
                "{kind:?} {first:?} {second:?}"
            );
        }
    }

    #[test]
    fn ack_on_non_invite_is_refused() {
        let mut out = vec![];
        let mut s = ServerTxn::new(TxnKind::NonInvite, Transport::Unreliable, true, &mut out);
        assert!(out.is_empty(), "no auto 100 for non-INVITE");
        assert_eq!(s.on_ack(), Err(Error::NotInvite));
    }
}
