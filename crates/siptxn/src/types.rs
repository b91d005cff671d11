//! Small input and output types shared by the state machines: time, status
//! codes, transaction kinds, the tm configuration and the actions returned.

use crate::Error;

/// A point in time in milliseconds on a clock the caller chooses (usually
/// milliseconds since the timer thread started). The crate never reads a clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    /// `self + ms`, saturating (a far deadline never wraps to the past).
    #[must_use]
    pub fn plus(self, ms: u32) -> Time {
        Time(self.0.saturating_add(u64::from(ms)))
    }

    /// Milliseconds value.
    #[must_use]
    pub fn ms(self) -> u64 {
        self.0
    }
}

/// A SIP status code, guaranteed to be in 100..=699.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StatusCode(u16);

impl StatusCode {
    /// 100 Trying.
    pub const TRYING: StatusCode = StatusCode(100);
    /// 408 Request Timeout (faked on `fr_timer`/`fr_inv_timer` expiry).
    pub const REQUEST_TIMEOUT: StatusCode = StatusCode(408);
    /// 487 Request Terminated (faked by `cancel_b_method` 0, sent when a
    /// CANCEL arrives before any branch exists).
    pub const REQUEST_TERMINATED: StatusCode = StatusCode(487);
    /// 500, sent when failure_route dropped all replies and added no branch.
    pub const SERVER_ERROR: StatusCode = StatusCode(500);
    /// 503, faked when a branch's request cannot be (re)sent.
    pub const SERVICE_UNAVAILABLE: StatusCode = StatusCode(503);

    /// Validates a code received from the network or the script.
    pub fn new(code: u16) -> Result<StatusCode, Error> {
        if (100..=699).contains(&code) {
            Ok(StatusCode(code))
        } else {
            Err(Error::InvalidStatus(code))
        }
    }

    /// The numeric code.
    #[must_use]
    pub fn code(self) -> u16 {
        self.0
    }

    /// 1xx.
    #[must_use]
    pub fn is_provisional(self) -> bool {
        self.0 < 200
    }

    /// 2xx.
    #[must_use]
    pub fn is_success(self) -> bool {
        (200..300).contains(&self.0)
    }

    /// 3xx–6xx.
    #[must_use]
    pub fn is_negative(self) -> bool {
        self.0 >= 300
    }
}

/// Which RFC 3261 state machine applies: INVITE (figures 5 and 7) or
/// non-INVITE (figures 6 and 8). ACK never creates a transaction and CANCEL is
/// a non-INVITE transaction of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnKind {
    /// INVITE.
    Invite,
    /// Every other method that creates a transaction (including CANCEL).
    NonInvite,
}

/// Whether the transport loses messages: only unreliable transports get
/// retransmission timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Transport {
    /// UDP (and SCTP in unordered mode, which Kamailio treats alike).
    Unreliable,
    /// TCP, TLS, WebSocket.
    Reliable,
}

/// Index of a client branch inside one proxy transaction (Kamailio's
/// `branch` / `$T_branch_idx`), 0-based, below `max_branches`.
pub type BranchIdx = u8;

/// Kamailio's `cancel_b_method`: what CANCELing a branch that has received no
/// reply yet does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelBMethod {
    /// 0: stop the branch at once and fake a local 487 on it.
    FakeReply,
    /// 1 (default): keep retransmitting the request; send the CANCEL as soon
    /// as a provisional reply arrives, or let the branch time out (408).
    DeferUntilProvisional,
    /// 2: send (and retransmit) the CANCEL at once, even though RFC 3261
    /// allows a CANCEL only on a branch that received a provisional reply.
    ForceCancel,
}

impl CancelBMethod {
    /// From the modparam integer.
    pub fn from_int(v: i64) -> Result<CancelBMethod, Error> {
        match v {
            0 => Ok(CancelBMethod::FakeReply),
            1 => Ok(CancelBMethod::DeferUntilProvisional),
            2 => Ok(CancelBMethod::ForceCancel),
            _ => Err(Error::Config {
                name: "cancel_b_method",
                reason: "must be 0, 1 or 2",
            }),
        }
    }
}

/// Kamailio's `failure_reply_mode` (and `t_drop_replies()`): which stored
/// branch replies survive a failure_route when choosing the final reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureReplyMode {
    /// 0: keep every reply; a reply of an earlier serial leg may still win.
    KeepAll,
    /// 1: drop every stored reply after failure_route; if failure_route adds
    /// no branch and sends no reply, a local 500 is sent.
    DropAll,
    /// 2: drop only the replies of the leg that just failed.
    DropLastLeg,
    /// 3 (default): drop every earlier reply, but only if failure_route added
    /// a new branch; the final reply then comes from the newest leg.
    DropAllIfNewBranch,
}

impl FailureReplyMode {
    /// From the modparam integer.
    pub fn from_int(v: i64) -> Result<FailureReplyMode, Error> {
        match v {
            0 => Ok(FailureReplyMode::KeepAll),
            1 => Ok(FailureReplyMode::DropAll),
            2 => Ok(FailureReplyMode::DropLastLeg),
            3 => Ok(FailureReplyMode::DropAllIfNewBranch),
            _ => Err(Error::Config {
                name: "failure_reply_mode",
                reason: "must be 0, 1, 2 or 3",
            }),
        }
    }
}

/// The tm modparams this crate implements, with Kamailio's names and
/// defaults. All times are milliseconds, as in Kamailio's modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TmConfig {
    /// `retr_timer1` (T1), first retransmission interval. Default 500.
    pub retr_timer1: u32,
    /// `retr_timer2` (T2), retransmission interval cap. Default 4000.
    pub retr_timer2: u32,
    /// `fr_timer`: no final reply at all (RFC timers B and F). Default 30000.
    pub fr_timer: u32,
    /// `fr_inv_timer`: INVITE, no final reply after a provisional (RFC timer
    /// C). Default 120000.
    pub fr_inv_timer: u32,
    /// `wt_timer`: time a completed transaction stays to absorb
    /// retransmissions (plays RFC timers D, I, J and K). Default 5000.
    pub wt_timer: u32,
    /// `max_inv_lifetime`, cap on an INVITE transaction's branches. Default 180000.
    pub max_inv_lifetime: u32,
    /// `max_noninv_lifetime`, same for non-INVITE. Default 32000.
    pub max_noninv_lifetime: u32,
    /// `restart_fr_on_each_reply`. Default true.
    pub restart_fr_on_each_reply: bool,
    /// `auto_inv_100`: send 100 Trying when an INVITE transaction is created.
    pub auto_inv_100: bool,
    /// `relay_100`: relay received 100s upstream. Default false.
    pub relay_100: bool,
    /// `noisy_ctimer`: reply 408 even to a lone unanswered INVITE branch.
    pub noisy_ctimer: bool,
    /// `cancel_b_method`. Default [`CancelBMethod::DeferUntilProvisional`].
    pub cancel_b_method: CancelBMethod,
    /// `failure_reply_mode`. Default [`FailureReplyMode::DropAllIfNewBranch`].
    pub failure_reply_mode: FailureReplyMode,
    /// `disable_6xx_block`. Default false (RFC behaviour).
    pub disable_6xx_block: bool,
    /// `faked_reply_prio`: penalty added to faked replies when choosing the
    /// best reply. Default 0.
    pub faked_reply_prio: i32,
    /// `max_branches` (core). Default 12, at most 32.
    pub max_branches: u8,
}

impl Default for TmConfig {
    fn default() -> Self {
        TmConfig {
            retr_timer1: 500,
            retr_timer2: 4000,
            fr_timer: 30_000,
            fr_inv_timer: 120_000,
            wt_timer: 5000,
            max_inv_lifetime: 180_000,
            max_noninv_lifetime: 32_000,
            restart_fr_on_each_reply: true,
            auto_inv_100: true,
            relay_100: false,
            noisy_ctimer: true,
            cancel_b_method: CancelBMethod::DeferUntilProvisional,
            failure_reply_mode: FailureReplyMode::DropAllIfNewBranch,
            disable_6xx_block: false,
            faked_reply_prio: 0,
            max_branches: 12,
        }
    }
}

/// The integer tm modparams [`TmConfig::set_modparam`] understands, with
/// Kamailio's spelling.
pub const TM_INT_PARAMS: &[&str] = &[
    "retr_timer1",
    "retr_timer2",
    "fr_timer",
    "fr_inv_timer",
    "wt_timer",
    "max_inv_lifetime",
    "max_noninv_lifetime",
    "restart_fr_on_each_reply",
    "auto_inv_100",
    "relay_100",
    "noisy_ctimer",
    "cancel_b_method",
    "failure_reply_mode",
    "disable_6xx_block",
    "faked_reply_prio",
];

impl TmConfig {
    /// Applies `modparam("tm", name, value)` for the parameters this crate
    /// implements ([`TM_INT_PARAMS`]). Any other name is an error, so that
    /// the tm module handles it itself or refuses the config; timer values
    /// must fit in `u32` milliseconds. Call [`TmConfig::validate`] once all
    /// modparams are applied (T2 >= T1 is checked there).
    pub fn set_modparam(&mut self, name: &str, value: i64) -> Result<(), Error> {
        fn ms(name: &'static str, v: i64) -> Result<u32, Error> {
            u32::try_from(v).map_err(|_| Error::Config {
                name,
                reason: "must be 0..=4294967295 ms",
            })
        }
        fn flag(v: i64) -> bool {
            v != 0
        }
        match name {
            "retr_timer1" => self.retr_timer1 = ms("retr_timer1", value)?,
            "retr_timer2" => self.retr_timer2 = ms("retr_timer2", value)?,
            "fr_timer" => self.fr_timer = ms("fr_timer", value)?,
            "fr_inv_timer" => self.fr_inv_timer = ms("fr_inv_timer", value)?,
            "wt_timer" => self.wt_timer = ms("wt_timer", value)?,
            "max_inv_lifetime" => self.max_inv_lifetime = ms("max_inv_lifetime", value)?,
            "max_noninv_lifetime" => self.max_noninv_lifetime = ms("max_noninv_lifetime", value)?,
            "restart_fr_on_each_reply" => self.restart_fr_on_each_reply = flag(value),
            "auto_inv_100" => self.auto_inv_100 = flag(value),
            "relay_100" => self.relay_100 = flag(value),
            "noisy_ctimer" => self.noisy_ctimer = flag(value),
            "cancel_b_method" => self.cancel_b_method = CancelBMethod::from_int(value)?,
            "failure_reply_mode" => self.failure_reply_mode = FailureReplyMode::from_int(value)?,
            "disable_6xx_block" => self.disable_6xx_block = flag(value),
            "faked_reply_prio" => {
                self.faked_reply_prio = i32::try_from(value)
                    .ok()
                    .filter(|v| (-32_000..=32_000).contains(v))
                    .ok_or(Error::Config {
                        name: "faked_reply_prio",
                        reason: "must be within -32000..=32000",
                    })?;
            }
            _ => {
                return Err(Error::Config {
                    name: "tm",
                    reason: "parameter not handled by siptxn",
                })
            }
        }
        Ok(())
    }

    /// Refuses values Kamailio would refuse or that would make the timers
    /// meaningless (a zero interval would retransmit in a busy loop).
    pub fn validate(&self) -> Result<(), Error> {
        let checks: [(&'static str, bool, &'static str); 7] = [
            ("retr_timer1", self.retr_timer1 == 0, "must be > 0"),
            (
                "retr_timer2",
                self.retr_timer2 < self.retr_timer1,
                "must be >= retr_timer1",
            ),
            ("fr_timer", self.fr_timer == 0, "must be > 0"),
            ("fr_inv_timer", self.fr_inv_timer == 0, "must be > 0"),
            ("wt_timer", self.wt_timer == 0, "must be > 0"),
            (
                "max_branches",
                self.max_branches == 0 || self.max_branches > 32,
                "must be 1..=32",
            ),
            (
                "faked_reply_prio",
                !(-32_000..=32_000).contains(&self.faked_reply_prio),
                "must be within -32000..=32000",
            ),
        ];
        for (name, bad, reason) in checks {
            if bad {
                return Err(Error::Config { name, reason });
            }
        }
        Ok(())
    }
}

/// Per-transaction timer values: copied from [`TmConfig`] when the
/// transaction is created and changed by `t_set_fr()`, `t_set_retr()` and
/// `t_set_max_lifetime()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TxnTimers {
    /// T1.
    pub t1: u32,
    /// T2.
    pub t2: u32,
    /// `fr_timer`.
    pub fr: u32,
    /// `fr_inv_timer`.
    pub fr_inv: u32,
    /// `wt_timer`.
    pub wait: u32,
    /// `restart_fr_on_each_reply`.
    pub restart_fr_on_each_reply: bool,
}

impl TxnTimers {
    /// The values of a new transaction.
    #[must_use]
    pub fn from_config(cfg: &TmConfig) -> TxnTimers {
        TxnTimers {
            t1: cfg.retr_timer1,
            t2: cfg.retr_timer2,
            fr: cfg.fr_timer,
            fr_inv: cfg.fr_inv_timer,
            wait: cfg.wt_timer,
            restart_fr_on_each_reply: cfg.restart_fr_on_each_reply,
        }
    }
}

/// Why a CANCEL is sent on a branch; the tm layer turns it into a `Reason`
/// header (RFC 3326) as `local_cancel_reason`/`e2e_cancel_reason` dictate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CancelReason {
    /// An end-to-end CANCEL was received from upstream (copy its Reason headers).
    Received,
    /// A final reply with this code ended the transaction (`SIP;cause=<code>`).
    FinalReply(StatusCode),
}

/// What the caller must do after feeding an event. Actions are appended to a
/// caller-owned `Vec` so that the hot path does not allocate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Re-send the branch's request exactly as first sent.
    RetransmitRequest {
        /// Branch.
        branch: BranchIdx,
    },
    /// Build and send the hop-by-hop ACK for the negative final reply received
    /// on an INVITE branch (same Via branch, R-URI, Call-ID, From, CSeq number
    /// as the INVITE sent; To with the reply's tag).
    SendAck {
        /// Branch.
        branch: BranchIdx,
        /// The negative reply being acknowledged.
        status: StatusCode,
    },
    /// Build and send a CANCEL for the branch's INVITE.
    SendCancel {
        /// Branch.
        branch: BranchIdx,
        /// Why.
        reason: CancelReason,
    },
    /// Re-send the branch's CANCEL exactly as first sent.
    RetransmitCancel {
        /// Branch.
        branch: BranchIdx,
    },
    /// A reply was faked on the branch (408 on `fr_timer`/`fr_inv_timer`
    /// expiry, 487 by `cancel_b_method` 0, 503 when sending failed). It takes
    /// part in reply selection like a received reply; nothing is sent for it.
    FakedReply {
        /// Branch.
        branch: BranchIdx,
        /// The faked code.
        status: StatusCode,
    },
    /// Build a reply locally and send it upstream (100 Trying, a faked reply
    /// that won the selection, `t_reply()`, 487 for a CANCEL with no branch).
    SendLocalReply {
        /// Code.
        status: StatusCode,
    },
    /// Relay upstream the reply just received on (or stored for) the branch.
    RelayReply {
        /// Branch whose reply is relayed.
        branch: BranchIdx,
        /// Its code.
        status: StatusCode,
    },
    /// Re-send upstream the last reply sent, byte for byte.
    RetransmitReply {
        /// Code of that reply.
        status: StatusCode,
    },
    /// All branches completed negatively and the winning branch has
    /// `t_on_failure` armed: run that failure_route (it may add branches with
    /// [`crate::ProxyTxn::add_branch`] or reply), then call
    /// [`crate::ProxyTxn::failure_route_done`].
    RunFailureRoute {
        /// The winning branch (`$T_branch_idx` in the route).
        branch: BranchIdx,
        /// Its reply code (`$T_reply_code`, `t_check_status()`).
        status: StatusCode,
        /// The reply was faked (`t_branch_timeout()` true for a 408).
        faked: bool,
    },
    /// The transaction is over: remove it from the table.
    Free,
}

/// A retransmission schedule: first at `send + T1`, then intervals doubling
/// up to T2 (RFC 3261 timers A, E and G as Kamailio runs them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Retr {
    /// When the next retransmission is due.
    pub(crate) at: Time,
    /// Interval used after that one fires (before capping at T2).
    pub(crate) next: u32,
}

impl Retr {
    pub(crate) fn start(now: Time, t1: u32) -> Retr {
        Retr {
            at: now.plus(t1),
            next: t1.saturating_mul(2),
        }
    }

    /// Fires the retransmission. The next one is scheduled from `now`, not
    /// from `at`: a late timer must not cause a burst of catch-up sends.
    pub(crate) fn fire(&mut self, now: Time, t2: u32) {
        let interval = self.next.min(t2);
        self.at = now.plus(interval);
        self.next = self.next.saturating_mul(2);
    }

    /// Non-INVITE after a provisional reply: retransmit every T2 from now.
    pub(crate) fn switch_to_t2(now: Time, t2: u32) -> Retr {
        Retr {
            at: now.plus(t2),
            next: t2,
        }
    }
}

/// Smallest of optional deadlines.
pub(crate) fn min_time(a: Option<Time>, b: Option<Time>) -> Option<Time> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retr_schedule_doubles_to_t2() {
        // Kamailio defaults: sends at 0, then 500, 1500, 3500, 7500, 11500, 15500.
        let mut r = Retr::start(Time(0), 500);
        let mut fired = vec![];
        for _ in 0..6 {
            let now = r.at;
            fired.push(now.0);
            r.fire(now, 4000);
        }
        assert_eq!(fired, vec![500, 1500, 3500, 7500, 11500, 15500]);
    }

    #[test]
    fn retr_late_fire_does_not_burst() {
        let mut r = Retr::start(Time(0), 500);
        r.fire(Time(900), 4000); // 400 ms late
        assert_eq!(r.at, Time(1900));
    }

    #[test]
    fn status_code_range() {
        for (code, ok) in [
            (99, false),
            (100, true),
            (699, true),
            (700, false),
            (0, false),
        ] {
            assert_eq!(StatusCode::new(code).is_ok(), ok, "{code}");
        }
    }

    #[test]
    fn config_validation() {
        assert!(TmConfig::default().validate().is_ok());
        type Mutate = fn(&mut TmConfig);
        let cases: [(Mutate, &str); 4] = [
            (|c| c.retr_timer1 = 0, "retr_timer1"),
            (|c| c.retr_timer2 = 100, "retr_timer2"),
            (|c| c.max_branches = 33, "max_branches"),
            (|c| c.wt_timer = 0, "wt_timer"),
        ];
        for (f, name) in cases {
            let mut c = TmConfig::default();
            f(&mut c);
            match c.validate() {
                Err(Error::Config { name: n, .. }) => assert_eq!(n, name),
                other => panic!("{name}: {other:?}"),
            }
        }
    }

    #[test]
    fn set_modparam_table() {
        // (name, value, ok, check)
        type Check = fn(&TmConfig) -> bool;
        let table: [(&str, i64, bool, Check); 9] = [
            ("fr_timer", 10_000, true, |c| c.fr_timer == 10_000),
            ("fr_inv_timer", 90_000, true, |c| c.fr_inv_timer == 90_000),
            ("retr_timer1", 250, true, |c| c.retr_timer1 == 250),
            ("noisy_ctimer", 0, true, |c| !c.noisy_ctimer),
            ("cancel_b_method", 2, true, |c| {
                c.cancel_b_method == CancelBMethod::ForceCancel
            }),
            ("failure_reply_mode", 0, true, |c| {
                c.failure_reply_mode == FailureReplyMode::KeepAll
            }),
            ("fr_timer", -1, false, |c| c.fr_timer == 30_000),
            ("faked_reply_prio", 40_000, false, |c| {
                c.faked_reply_prio == 0
            }),
            ("auto_inv_100_reason", 1, false, |_| true),
        ];
        for (name, value, ok, check) in table {
            let mut c = TmConfig::default();
            assert_eq!(c.set_modparam(name, value).is_ok(), ok, "{name}={value}");
            assert!(check(&c), "{name}={value}");
        }
        for name in TM_INT_PARAMS {
            let mut c = TmConfig::default();
            assert!(c.set_modparam(name, 1).is_ok(), "{name} listed but refused");
        }
    }

    #[test]
    fn modparam_ints() {
        assert_eq!(
            FailureReplyMode::from_int(3),
            Ok(FailureReplyMode::DropAllIfNewBranch)
        );
        assert!(FailureReplyMode::from_int(4).is_err());
        assert_eq!(CancelBMethod::from_int(0), Ok(CancelBMethod::FakeReply));
        assert!(CancelBMethod::from_int(-1).is_err());
    }
}
