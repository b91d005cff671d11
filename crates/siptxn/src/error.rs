//! The crate's single error type.

use thiserror::Error;

/// Everything that can go wrong when driving a transaction.
///
/// Split by who is at fault: the peer (a reply with a status code outside
/// 100..=699), the configuration (a timer or mode value Kamailio would refuse),
/// or the caller (an event that is not valid in the transaction's state).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Error {
    /// Peer: a status code outside 100..=699.
    #[error("invalid SIP status code {0} (must be 100..=699)")]
    InvalidStatus(u16),

    /// Config: a modparam value Kamailio's tm would refuse.
    #[error("invalid tm parameter {name}: {reason}")]
    Config {
        /// Kamailio's parameter name (`retr_timer1`, `failure_reply_mode` …).
        name: &'static str,
        /// Why the value is refused.
        reason: &'static str,
    },

    /// Caller: a final reply was already sent upstream; only relayed INVITE
    /// 2xx replies may follow it.
    #[error("a final reply was already sent for this transaction")]
    AlreadyReplied,

    /// Caller: the transaction was canceled (e2e CANCEL received); Kamailio
    /// refuses new branches on a canceled transaction.
    #[error("transaction canceled: no new branches allowed")]
    Canceled,

    /// Caller: a 6xx reply was received and `disable_6xx_block` is off; forking
    /// is stopped until failure_route runs.
    #[error("6xx received: new branches are blocked")]
    Blocked6xx,

    /// Caller: more branches than `max_branches`.
    #[error("too many branches (max_branches = {0})")]
    TooManyBranches(u8),

    /// Caller: a branch index that was never created.
    #[error("unknown branch {0}")]
    UnknownBranch(u8),

    /// Caller: the operation needs an INVITE transaction (CANCEL, ACK).
    #[error("operation only valid for INVITE transactions")]
    NotInvite,

    /// Caller: the event is not valid in the transaction's current state.
    #[error("operation not valid in state {0}")]
    WrongState(&'static str),

    /// Caller: a handle whose slot was freed or reused.
    #[error("stale transaction handle")]
    StaleHandle,
}
