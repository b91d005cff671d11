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
//! ```
//! use ferrosip_siptxn::{Action, ProxyTxn, StatusCode, Time, TmConfig, Transport, TxnKind};
//!
//! let cfg = TmConfig::default();
//! let mut out = Vec::new();
//! // INVITE received over UDP: tm creates the transaction (100 Trying goes out).
//! let mut t = ProxyTxn::new(TxnKind::Invite, Transport::Unreliable, Time(0), &cfg, &mut out);
//! assert_eq!(out, [Action::SendLocalReply { status: StatusCode::TRYING }]);
//! // request_route: t_on_failure + t_relay to one UDP destination.
//! t.set_on_failure(true);
//! let b = t.add_branch(Time(0), Transport::Unreliable)?;
//! t.script_done(Time(0));
//! // Nothing back: the timer thread retransmits at T1.
//! assert_eq!(t.next_deadline(), Some(Time(500)));
//! out.clear();
//! t.on_timer(Time(500), &mut out);
//! assert_eq!(out, [Action::RetransmitRequest { branch: b }]);
//! // 486 from downstream: ACK it; it is the only branch, so failure_route runs.
//! out.clear();
//! t.on_reply(Time(800), b, StatusCode::new(486)?, &mut out)?;
//! assert!(matches!(out[1], Action::RunFailureRoute { status, .. } if status.code() == 486));
//! // The failure_route forwards nowhere: the 486 is relayed upstream.
//! out.clear();
//! t.failure_route_done(Time(800), &mut out)?;
//! assert_eq!(out, [Action::RelayReply { branch: b, status: StatusCode::new(486)? }]);
//! # Ok::<(), ferrosip_siptxn::Error>(())
//! ```
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
