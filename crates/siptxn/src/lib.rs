//! Sans-I/O RFC 3261 §17 transaction state machines and timer arithmetic,
//! with Kamailio tm's behaviour as a stateful proxy.
//!
//! Events and `now` go in, [`Action`]s come out. No sockets, no clock, no
//! global state, no logging: the tm module (in `crates/modules`) parses and
//! matches messages, builds and sends bytes, owns the timer thread and runs
//! the routes; this crate decides what happens.
//!
//! - [`ClientTxn`]: one branch (figures 5 and 6): retransmissions T1→T2 over
//!   unreliable transports, `fr_timer`/`fr_inv_timer` with the faked 408,
//!   hop-by-hop ACK of negative INVITE replies, CANCEL per `cancel_b_method`.
//! - [`ServerTxn`]: the upstream side (figures 7 and 8): 100 Trying
//!   (`auto_inv_100`), absorbing request retransmissions, negative INVITE
//!   reply retransmissions until the ACK, the `wt_timer` wait state.
//! - [`ProxyTxn`]: one server transaction and N branches: reply selection,
//!   provisional relaying, 2xx handling, 6xx, CANCEL, failure_route hand-off
//!   for serial forking, `failure_reply_mode`.
//! - [`TimerWheel`], [`Table`]: a hierarchical timing wheel and a slab with
//!   generation-checked handles, sized for 100k transactions;
//!   [`TxnManager`] joins them.
//!
//! Not here: message parsing and building, transaction matching (hashing
//! Call-ID/CSeq/branch), sockets, DNS failover, blocklists, callbacks,
//! `branch_failure` routes, suspended/async transactions, locally originated
//! (UAC) transactions (`t_uac`). `docs/transactions.md` describes the timer
//! values and every place where Kamailio departs from RFC 3261.

mod client;
mod error;
mod manager;
mod proxy;
mod server;
mod table;
mod types;
mod wheel;

pub use client::{CancelHow, CancelState, ClientState, ClientTxn, ClientVerdict, RetrTimer};
pub use error::Error;
pub use manager::TxnManager;
pub use proxy::{reply_priority, CancelOutcome, ProxyTxn};
pub use server::{AckVerdict, ReplyOrigin, SentReply, ServerRetr, ServerState, ServerTxn};
pub use table::{Handle, Table};
pub use types::{
    Action, BranchIdx, CancelBMethod, CancelReason, FailureReplyMode, StatusCode, Time, TmConfig,
    Transport, TxnKind, TxnTimers, TM_INT_PARAMS,
};
pub use wheel::{TimerId, TimerWheel, MAX_DELAY_MS};
