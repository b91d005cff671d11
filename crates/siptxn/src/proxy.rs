//! The stateful-proxy core: one server transaction and N client branches
//! (Kamailio's tm `cell`), reply selection across branches and the
//! failure_route hand-off.
//!
//! The caller (the tm module) parses messages, matches them to a transaction
//! and a branch, builds and sends bytes and runs routes; this type decides.
//! Rules, all Kamailio's (`t_should_relay_response`, `t_pick_branch`):
//! - Provisional replies are relayed as they come, except 100 (`relay_100`
//!   off: 100 Trying is only ever sent locally, by `auto_inv_100`) and except
//!   replies on a branch being canceled.
//! - The first 2xx is relayed at once and ends the transaction: other pending
//!   branches stop and are CANCELed (or owe a CANCEL until they send a
//!   provisional). Later INVITE 2xx are relayed too, even after a negative
//!   final reply was sent.
//! - Negative replies are stored until every branch has completed; then the
//!   best is picked ([`reply_priority`]): 2xx < 6xx < 3xx < 4xx < 5xx, and
//!   among 4xx 401, 407, 415, 420, 484 first. If the winning branch has
//!   `t_on_failure` armed, [`Action::RunFailureRoute`] is returned and the
//!   decision waits for [`ProxyTxn::failure_route_done`] (serial forking);
//!   otherwise the winner is relayed (a faked one is sent as a local reply).
//! - A 6xx while other branches are pending cancels them (once) unless
//!   `disable_6xx_block` / `t_set_disable_6xx()`; new branches are refused
//!   until failure_route runs.

use crate::client::{CancelHow, ClientTxn, ClientVerdict};
use crate::server::{AckVerdict, ReplyOrigin, ServerTxn};
use crate::types::{
    min_time, Action, BranchIdx, CancelBMethod, CancelReason, FailureReplyMode, StatusCode, Time,
    TmConfig, Transport, TxnKind, TxnTimers,
};
use crate::Error;

/// Kamailio's reply priority (`get_prio`): lower wins. 2xx 0+xx, 6xx
/// 1000+xx, 3xx 3000+xx, 4xx 4000+(xx for 401/407/415/420/484, else
/// 100+xx), 5xx 5000+xx; `faked_reply_prio` is added to faked replies.
#[must_use]
pub fn reply_priority(status: StatusCode, faked: bool, faked_reply_prio: i32) -> i32 {
    let code = i32::from(status.code());
    let (class, xx) = (code / 100, code % 100);
    let base = match class {
        1 => 11_000 + xx,
        2 => xx,
        3 => 3000 + xx,
        4 => match xx {
            1 | 7 | 15 | 20 | 84 => 4000 + xx,
            _ => 4100 + xx,
        },
        5 => 5000 + xx,
        _ => 1000 + xx, // 6xx (StatusCode guarantees 100..=699)
    };
    if faked {
        base + faked_reply_prio
    } else {
        base
    }
}

/// What an e2e CANCEL did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelOutcome {
    /// No branch could be canceled: a local 487 was sent to the INVITE.
    Replied487,
    /// Branches are being canceled; their 487s will make the final reply.
    Canceling,
    /// The INVITE already had its final reply: nothing to cancel.
    AlreadyFinal,
    /// An e2e CANCEL was already processed: nothing more to do. (Kamailio
    /// would answer a second, different CANCEL with a local 487 while the
    /// branches' own 487s are pending; we do not.)
    AlreadyCanceled,
}

/// Parameters copied from [`TmConfig`] into each transaction (small and
/// `Copy`, so 100k transactions do not share a lock on the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Params {
    relay_100: bool,
    noisy_ctimer: bool,
    cancel_b_method: CancelBMethod,
    failure_reply_mode: FailureReplyMode,
    faked_reply_prio: i32,
    max_branches: u8,
}

/// A branch: its client transaction plus what reply selection needs.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Branch {
    txn: ClientTxn,
    /// Stored negative reply (Kamailio `uac[b].reply`): `None` before it
    /// completes and after failure_reply_mode dropped it.
    reply: Option<(StatusCode, bool)>,
    /// `t_on_failure` was armed when the branch was created.
    on_failure: bool,
    /// Serial-forking leg (0 for request_route, +1 per failure_route).
    leg: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Routing,
    FailureRoute {
        branch_cnt: usize,
        picked: BranchIdx,
    },
    Freed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    Pending,
    Best(BranchIdx),
    Nothing,
}

/// One proxied transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTxn {
    kind: TxnKind,
    uas: ServerTxn,
    // One heap block per transaction holding the branches inline; most
    // transactions have one branch, and `max_branches` bounds the rest.
    branches: Vec<Branch>,
    timers: TxnTimers,
    params: Params,
    eol: Time,
    phase: Phase,
    leg: u16,
    canceled: bool,
    got_6xx: bool,
    disable_6xx: bool,
    on_failure: bool,
    drop_override: Option<FailureReplyMode>,
}

impl ProxyTxn {
    /// A transaction for a request received at `now` (`t_newtran`). With
    /// `auto_inv_100`, an INVITE gets [`Action::SendLocalReply`] 100 at once.
    #[must_use]
    pub fn new(
        kind: TxnKind,
        transport: Transport,
        now: Time,
        cfg: &TmConfig,
        out: &mut Vec<Action>,
    ) -> ProxyTxn {
        let lifetime = match kind {
            TxnKind::Invite => cfg.max_inv_lifetime,
            TxnKind::NonInvite => cfg.max_noninv_lifetime,
        };
        ProxyTxn {
            kind,
            uas: ServerTxn::new(kind, transport, cfg.auto_inv_100, out),
            branches: Vec::new(),
            timers: TxnTimers::from_config(cfg),
            params: Params {
                relay_100: cfg.relay_100,
                noisy_ctimer: cfg.noisy_ctimer,
                cancel_b_method: cfg.cancel_b_method,
                failure_reply_mode: cfg.failure_reply_mode,
                faked_reply_prio: cfg.faked_reply_prio,
                max_branches: cfg.max_branches,
            },
            eol: now.plus(lifetime),
            phase: Phase::Routing,
            leg: 0,
            canceled: false,
            got_6xx: false,
            disable_6xx: cfg.disable_6xx_block,
            on_failure: false,
            drop_override: None,
        }
    }

    /// The server side.
    #[must_use]
    pub fn server(&self) -> &ServerTxn {
        &self.uas
    }

    /// A branch's client transaction.
    #[must_use]
    pub fn branch(&self, b: BranchIdx) -> Option<&ClientTxn> {
        self.branches.get(usize::from(b)).map(|br| &br.txn)
    }

    /// Number of branches created so far.
    #[must_use]
    pub fn branch_count(&self) -> usize {
        self.branches.len()
    }

    /// Branches whose stored reply is a 401 or 407, for
    /// `aggregate_challenges`: when the relayed reply is one of them, the tm
    /// layer merges the WWW-/Proxy-Authenticate headers of all of these.
    pub fn challenge_branches(&self) -> impl Iterator<Item = BranchIdx> + '_ {
        self.branches
            .iter()
            .enumerate()
            .filter_map(|(i, br)| match br.reply {
                Some((st, false)) if matches!(st.code(), 401 | 407) => Some(idx(i)),
                _ => None,
            })
    }

    /// Current per-transaction timer values.
    #[must_use]
    pub fn timers(&self) -> &TxnTimers {
        &self.timers
    }

    /// End of life (`max_*_lifetime` after creation).
    #[must_use]
    pub fn end_of_life(&self) -> Time {
        self.eol
    }

    /// An e2e CANCEL was received (`t_is_canceled()`).
    #[must_use]
    pub fn is_canceled(&self) -> bool {
        self.canceled
    }

    /// failure_route is pending ([`Action::RunFailureRoute`] was returned).
    #[must_use]
    pub fn in_failure_route(&self) -> bool {
        matches!(self.phase, Phase::FailureRoute { .. })
    }

    /// [`Action::Free`] was returned.
    #[must_use]
    pub fn is_freed(&self) -> bool {
        self.phase == Phase::Freed
    }

    /// `t_on_failure()`: arm (or disarm) failure_route for branches created
    /// from now on. Kamailio disarms it when failure_route starts, so a
    /// failure_route that forwards again must re-arm it.
    pub fn set_on_failure(&mut self, armed: bool) {
        self.on_failure = armed;
    }

    /// `t_set_disable_6xx()`.
    pub fn set_disable_6xx(&mut self, disabled: bool) {
        self.disable_6xx = disabled;
    }

    /// `t_drop_replies()`: overrides `failure_reply_mode` for the current
    /// failure_route run (Kamailio allows it only there).
    pub fn drop_replies(&mut self, mode: FailureReplyMode) -> Result<(), Error> {
        if !self.in_failure_route() {
            return Err(Error::WrongState("t_drop_replies outside failure_route"));
        }
        self.drop_override = Some(mode);
        Ok(())
    }

    /// `t_set_fr(fr_inv, fr)`: 0 leaves a value unchanged; running branches
    /// are re-armed from `now`.
    pub fn set_fr(&mut self, now: Time, fr_inv: u32, fr: u32) {
        if fr_inv != 0 {
            self.timers.fr_inv = fr_inv;
        }
        if fr != 0 {
            self.timers.fr = fr;
        }
        for br in &mut self.branches {
            br.txn.change_fr(now, fr_inv, fr, self.eol);
        }
    }

    /// `t_set_retr(t1, t2)`: 0 leaves a value unchanged; applies to the next
    /// retransmission intervals.
    pub fn set_retr(&mut self, t1: u32, t2: u32) -> Result<(), Error> {
        let new_t1 = if t1 == 0 { self.timers.t1 } else { t1 };
        let new_t2 = if t2 == 0 { self.timers.t2 } else { t2 };
        if new_t2 < new_t1 {
            return Err(Error::Config {
                name: "retr_timer2",
                reason: "must be >= retr_timer1",
            });
        }
        self.timers.t1 = new_t1;
        self.timers.t2 = new_t2;
        Ok(())
    }

    /// `t_set_max_lifetime()`: the end of life becomes `now + ms`; running
    /// branches' final-response timers are capped to it.
    pub fn set_max_lifetime(&mut self, now: Time, ms: u32) {
        self.eol = now.plus(ms);
        for br in &mut self.branches {
            br.txn.cap_to_eol(self.eol);
        }
    }

    /// The caller has just sent the request on a new branch (`t_relay`,
    /// `append_branch` + `t_relay`, or a failure_route forward).
    pub fn add_branch(&mut self, now: Time, transport: Transport) -> Result<BranchIdx, Error> {
        if self.phase == Phase::Freed {
            return Err(Error::WrongState("Freed"));
        }
        if self.uas.is_on_wait() {
            return Err(Error::AlreadyReplied);
        }
        if self.canceled {
            return Err(Error::Canceled);
        }
        if self.got_6xx && !self.disable_6xx {
            return Err(Error::Blocked6xx);
        }
        let n = self.branches.len();
        if n >= usize::from(self.params.max_branches) {
            return Err(Error::TooManyBranches(self.params.max_branches));
        }
        let b =
            BranchIdx::try_from(n).map_err(|_| Error::TooManyBranches(self.params.max_branches))?;
        self.branches.push(Branch {
            txn: ClientTxn::new(b, self.kind, transport, now, &self.timers, self.eol),
            reply: None,
            on_failure: self.on_failure,
            leg: self.leg,
        });
        Ok(b)
    }

    /// A reply matched branch `b`.
    pub fn on_reply(
        &mut self,
        now: Time,
        b: BranchIdx,
        status: StatusCode,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        self.check_alive()?;
        let timers = self.timers;
        let eol = self.eol;
        let br = self.branch_mut(b)?;
        let v = br.txn.on_reply(now, status, &timers, eol, out);
        self.handle_verdict(now, b, v, out);
        Ok(())
    }

    /// A reply to the CANCEL we sent on branch `b`.
    pub fn on_cancel_reply(&mut self, b: BranchIdx, status: StatusCode) -> Result<(), Error> {
        self.check_alive()?;
        self.branch_mut(b)?.txn.on_cancel_reply(status);
        Ok(())
    }

    /// Sending (or re-sending) branch `b`'s request failed: a 503 is faked on it.
    pub fn send_failed(
        &mut self,
        now: Time,
        b: BranchIdx,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        self.check_alive()?;
        let timers = self.timers;
        let v = self.branch_mut(b)?.txn.send_failed(now, &timers, out);
        self.handle_verdict(now, b, v, out);
        Ok(())
    }

    /// An e2e CANCEL for this INVITE was received. The caller answers the
    /// CANCEL itself (200, from its own non-INVITE transaction) and absorbs
    /// retransmissions of the CANCEL there; calling this again is a no-op.
    pub fn cancel(&mut self, now: Time, out: &mut Vec<Action>) -> Result<CancelOutcome, Error> {
        self.check_alive()?;
        if self.kind != TxnKind::Invite {
            return Err(Error::NotInvite);
        }
        if self.canceled {
            return Ok(CancelOutcome::AlreadyCanceled);
        }
        self.canceled = true;
        if self.uas.is_on_wait() {
            return Ok(CancelOutcome::AlreadyFinal);
        }
        let how = CancelHow::Method(self.params.cancel_b_method);
        let mut any = false;
        for i in 0..self.branches.len() {
            let br = &mut self.branches[i];
            if !br.txn.is_pending()
                || matches!(
                    br.txn.cancel_state(),
                    crate::client::CancelState::Sent { .. } | crate::client::CancelState::Answered
                )
            {
                continue;
            }
            any = true;
            let v = br
                .txn
                .cancel(now, how, CancelReason::Received, &self.timers, out);
            self.handle_verdict(now, idx(i), v, out);
        }
        if !any && !self.uas.is_on_wait() {
            self.send_final_local(now, StatusCode::REQUEST_TERMINATED, out)?;
            return Ok(CancelOutcome::Replied487);
        }
        Ok(CancelOutcome::Canceling)
    }

    /// `t_reply()` from the script (request_route or failure_route).
    pub fn reply_locally(
        &mut self,
        now: Time,
        status: StatusCode,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        self.check_alive()?;
        if status.is_provisional() {
            return self
                .uas
                .reply(now, status, ReplyOrigin::Local, &self.timers, out);
        }
        self.send_final_local(now, status, out)
    }

    /// The request was retransmitted by upstream.
    pub fn on_request_retransmission(&mut self, out: &mut Vec<Action>) {
        if self.phase != Phase::Freed {
            self.uas.on_request_retransmission(out);
        }
    }

    /// An ACK matched this INVITE transaction.
    pub fn on_ack(&mut self) -> Result<AckVerdict, Error> {
        self.check_alive()?;
        self.uas.on_ack()
    }

    /// The failure_route asked for by [`Action::RunFailureRoute`] has run;
    /// branches it added with [`ProxyTxn::add_branch`] and any reply it sent
    /// with [`ProxyTxn::reply_locally`] are taken into account here.
    pub fn failure_route_done(&mut self, now: Time, out: &mut Vec<Action>) -> Result<(), Error> {
        let Phase::FailureRoute { branch_cnt, picked } = self.phase else {
            return Err(Error::WrongState("not in failure_route"));
        };
        self.phase = Phase::Routing;
        let mode = self
            .drop_override
            .take()
            .unwrap_or(self.params.failure_reply_mode);
        if self.uas.is_on_wait() {
            return Ok(()); // the script replied (or released) itself
        }
        let added = self.branches.len() > branch_cnt;
        let drop = match mode {
            FailureReplyMode::KeepAll => false,
            FailureReplyMode::DropAllIfNewBranch => added,
            FailureReplyMode::DropAll | FailureReplyMode::DropLastLeg => true,
        };
        if drop {
            let last_leg = self
                .branches
                .get(branch_cnt.saturating_sub(1))
                .map_or(0, |b| b.leg);
            for br in self.branches.iter_mut().take(branch_cnt) {
                if mode != FailureReplyMode::DropLastLeg || br.leg == last_leg {
                    br.reply = None;
                }
            }
        }
        if added {
            match self.pick() {
                Pick::Pending => return Ok(()),
                Pick::Best(b) => return self.relay_picked(now, b, out),
                Pick::Nothing if !drop => return self.relay_picked(now, picked, out),
                Pick::Nothing => {}
            }
        } else if !drop {
            return self.relay_picked(now, picked, out);
        }
        // Every reply was dropped and no new branch can produce one:
        // Kamailio kills the transaction with an error reply.
        self.send_final_local(now, StatusCode::SERVER_ERROR, out)
    }

    /// The script finished with the request (Kamailio's `t_unref`): a
    /// transaction with no branch and no final reply is released (it will
    /// be freed after `wt_timer` without sending anything).
    pub fn script_done(&mut self, now: Time) {
        if self.phase == Phase::Routing && self.branches.is_empty() && !self.uas.is_on_wait() {
            self.uas.release(now, &self.timers);
        }
    }

    /// The next instant at which [`ProxyTxn::on_timer`] has work.
    #[must_use]
    pub fn next_deadline(&self) -> Option<Time> {
        if self.phase == Phase::Freed {
            return None;
        }
        self.branches
            .iter()
            .fold(self.uas.next_deadline(), |acc, br| {
                min_time(acc, br.txn.next_deadline())
            })
    }

    /// Runs every timer due at `now` (late calls are fine: each due timer
    /// fires once and reschedules from `now`).
    pub fn on_timer(&mut self, now: Time, out: &mut Vec<Action>) {
        if self.phase == Phase::Freed {
            return;
        }
        for i in 0..self.branches.len() {
            let br = &mut self.branches[i];
            let unreplied = br.txn.last_received() == 0;
            let branch_on_failure = br.on_failure;
            let v = br.txn.on_timer(now, &self.timers, out);
            let silent = matches!(v, ClientVerdict::Final { status, faked: true } if status == StatusCode::REQUEST_TIMEOUT)
                && !self.params.noisy_ctimer
                && self.kind == TxnKind::Invite
                && self.branches.len() == 1
                && !branch_on_failure
                && !self.on_failure
                && unreplied;
            if silent {
                // noisy_ctimer off: a lone INVITE branch that never got a
                // reply is dropped without a 408 upstream.
                self.uas.release(now, &self.timers);
                continue;
            }
            self.handle_verdict(now, idx(i), v, out);
        }
        self.uas.on_timer(now, &self.timers, out);
        if self.uas.is_terminated() {
            self.phase = Phase::Freed;
            out.push(Action::Free);
        }
    }

    fn check_alive(&self) -> Result<(), Error> {
        if self.phase == Phase::Freed {
            Err(Error::WrongState("Freed"))
        } else {
            Ok(())
        }
    }

    fn branch_mut(&mut self, b: BranchIdx) -> Result<&mut Branch, Error> {
        self.branches
            .get_mut(usize::from(b))
            .ok_or(Error::UnknownBranch(b))
    }

    fn handle_verdict(&mut self, now: Time, b: BranchIdx, v: ClientVerdict, out: &mut Vec<Action>) {
        match v {
            ClientVerdict::Absorbed => {}
            ClientVerdict::Provisional(status) => {
                let hidden_100 = status == StatusCode::TRYING && !self.params.relay_100;
                if !self.uas.is_on_wait() && !hidden_100 {
                    // Cannot fail: the server side is not final.
                    let _ = self
                        .uas
                        .reply(now, status, ReplyOrigin::Relayed(b), &self.timers, out);
                }
            }
            ClientVerdict::Another2xx(status) => {
                let _ = self
                    .uas
                    .reply(now, status, ReplyOrigin::Relayed(b), &self.timers, out);
            }
            ClientVerdict::Final { status, faked } => {
                self.on_branch_final(now, b, status, faked, out)
            }
        }
    }

    fn on_branch_final(
        &mut self,
        now: Time,
        b: BranchIdx,
        status: StatusCode,
        faked: bool,
        out: &mut Vec<Action>,
    ) {
        if self.uas.is_on_wait() {
            // Only INVITE 2xx pass once a final reply was sent; ServerTxn
            // refuses the rest, which is the discard Kamailio does.
            if status.is_success() && !faked {
                let _ = self
                    .uas
                    .reply(now, status, ReplyOrigin::Relayed(b), &self.timers, out);
            }
            return;
        }
        if status.is_success() {
            let _ = self
                .uas
                .reply(now, status, ReplyOrigin::Relayed(b), &self.timers, out);
            self.stop_pending_branches(now, CancelReason::FinalReply(status), out);
            return;
        }
        if let Some(br) = self.branches.get_mut(usize::from(b)) {
            br.reply = Some((status, faked));
        }
        if self.in_failure_route() {
            return; // decided by failure_route_done
        }
        match self.pick() {
            Pick::Pending => {
                if status.code() >= 600 && !self.got_6xx && !self.disable_6xx {
                    self.got_6xx = true;
                    let how = CancelHow::Method(self.params.cancel_b_method);
                    for i in 0..self.branches.len() {
                        let v = self.branches[i].txn.cancel(
                            now,
                            how,
                            CancelReason::FinalReply(status),
                            &self.timers,
                            out,
                        );
                        self.handle_verdict(now, idx(i), v, out);
                    }
                }
            }
            Pick::Best(p) => {
                self.got_6xx = false;
                let (on_failure, reply) = match self.branches.get(usize::from(p)) {
                    Some(br) => (br.on_failure, br.reply),
                    None => (false, None),
                };
                match reply {
                    Some((code, was_faked)) if on_failure => {
                        self.on_failure = false;
                        self.drop_override = None;
                        self.leg = self.leg.saturating_add(1);
                        self.phase = Phase::FailureRoute {
                            branch_cnt: self.branches.len(),
                            picked: p,
                        };
                        out.push(Action::RunFailureRoute {
                            branch: p,
                            status: code,
                            faked: was_faked,
                        });
                    }
                    _ => {
                        let _ = self.relay_picked(now, p, out);
                    }
                }
            }
            Pick::Nothing => {
                let _ = self.send_final_local(now, StatusCode::SERVER_ERROR, out);
            }
        }
    }

    /// Kamailio's `t_pick_branch`: `Pending` while any branch has no final
    /// reply; otherwise the stored reply with the lowest priority (the first
    /// one on ties).
    fn pick(&self) -> Pick {
        let mut best: Option<(i32, BranchIdx)> = None;
        for (i, br) in self.branches.iter().enumerate() {
            if br.txn.is_pending() {
                return Pick::Pending;
            }
            if let Some((status, faked)) = br.reply {
                let prio = reply_priority(status, faked, self.params.faked_reply_prio);
                if best.is_none_or(|(p, _)| prio < p) {
                    best = Some((prio, idx(i)));
                }
            }
        }
        best.map_or(Pick::Nothing, |(_, b)| Pick::Best(b))
    }

    fn relay_picked(
        &mut self,
        now: Time,
        p: BranchIdx,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        let Some((status, faked)) = self.branches.get(usize::from(p)).and_then(|b| b.reply) else {
            return self.send_final_local(now, StatusCode::SERVER_ERROR, out);
        };
        let origin = if faked {
            ReplyOrigin::Local
        } else {
            ReplyOrigin::Relayed(p)
        };
        self.uas.reply(now, status, origin, &self.timers, out)?;
        self.stop_pending_branches(now, CancelReason::FinalReply(status), out);
        Ok(())
    }

    fn send_final_local(
        &mut self,
        now: Time,
        status: StatusCode,
        out: &mut Vec<Action>,
    ) -> Result<(), Error> {
        self.uas
            .reply(now, status, ReplyOrigin::Local, &self.timers, out)?;
        self.stop_pending_branches(now, CancelReason::FinalReply(status), out);
        Ok(())
    }

    /// A final reply went upstream: stop every pending branch and CANCEL the
    /// INVITE ones (`cleanup_uac_timers` + `cancel_uacs(F_CANCEL_B_KILL)`).
    fn stop_pending_branches(&mut self, now: Time, reason: CancelReason, out: &mut Vec<Action>) {
        for br in &mut self.branches {
            if br.txn.is_pending() {
                br.txn.abandon();
                br.txn
                    .cancel(now, CancelHow::Kill, reason, &self.timers, out);
            }
        }
    }
}

fn idx(i: usize) -> BranchIdx {
    // Branch counts are bounded by max_branches <= 32.
    BranchIdx::try_from(i).unwrap_or(BranchIdx::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sc(c: u16) -> StatusCode {
        StatusCode::new(c).unwrap()
    }

    #[test]
    fn priority_order_matches_kamailio() {
        // Each code must beat every code after it.
        let order = [
            200, 202, 600, 603, 302, 401, 407, 484, 400, 404, 486, 500, 503, 180,
        ];
        for w in order.windows(2) {
            assert!(
                reply_priority(sc(w[0]), false, 0) < reply_priority(sc(w[1]), false, 0),
                "{} should beat {}",
                w[0],
                w[1]
            );
        }
    }

    #[test]
    fn faked_penalty() {
        // faked_reply_prio=2000 lets a received 486 beat a faked 408.
        assert!(reply_priority(sc(408), true, 0) < reply_priority(sc(486), false, 0));
        assert!(reply_priority(sc(408), true, 2000) > reply_priority(sc(486), false, 2000));
    }
}
