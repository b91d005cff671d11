//! The transaction table: cells in shards, found by the request's key (requests, ACK, CANCEL) or by
//! the hash index and label our Via branch carries (replies); one timer wheel for all of them.
//!
//! Locking: a shard lock only while a map is read or changed; a cell's lock while its transaction
//! is read or changed — never while a route runs; the wheel lock last (cell → wheel), and the timer
//! thread never holds the wheel while it locks a cell.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use ferrosip_api::{Dest, MsgState, RecvInfo};
use ferrosip_sipmsg::edit::Edits;
use ferrosip_sipmsg::{Method, Msg};
use ferrosip_siptxn::{ProxyTxn, Time, TimerId, TimerWheel};

/// Number of shards (a power of two; the hash index picks one).
const SHARDS: usize = 64;

/// How a request is matched to its transaction (Kamailio's `t_lookup_request`): RFC 3261 — top
/// Via branch (with the magic cookie), sent-by host (lower case) and port, method class; pre-RFC
/// 3261 peers — Kamailio's characteristic MD5 of the request and the method class.
///
/// Encoded as one byte string (one allocation, shared by the table's map and the cell):
/// `R`, port (2 bytes), branch length (4 bytes), branch, host length (4 bytes), host, method; or
/// `O`, the 32-byte MD5, method. The lengths keep two different keys from encoding alike.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReqKey(Arc<[u8]>);

impl ReqKey {
    /// The key of `msg` as the transaction of method `as_method` (ACK looks for INVITE; a CANCEL
    /// looks for its own transaction or, through `t_lookup_cancel`, for the INVITE).
    pub fn of(msg: &Msg, as_method: &[u8]) -> Option<ReqKey> {
        let buf = msg.buf();
        let via = msg.via1().ok()?;
        let branch = via
            .branch
            .and_then(|b| b.value)
            .map(|v| v.of(buf))
            .filter(|b| b.len() > 7 && b[..7].eq_ignore_ascii_case(b"z9hG4bK"));
        match branch {
            Some(b) => {
                let host = via.host.of(buf);
                let (bl, hl) = (
                    u32::try_from(b.len()).ok()?,
                    u32::try_from(host.len()).ok()?,
                );
                Some(ReqKey::encode(|k| {
                    k.push(b'R');
                    k.extend_from_slice(&via.port.unwrap_or(0).to_be_bytes());
                    k.extend_from_slice(&bl.to_be_bytes());
                    k.extend_from_slice(b);
                    k.extend_from_slice(&hl.to_be_bytes());
                    k.extend(host.iter().map(u8::to_ascii_lowercase));
                    k.extend(as_method.iter().map(u8::to_ascii_uppercase));
                }))
            }
            None => {
                let (md5, _) = ferrosip_sipmsg::build::transaction_key(msg).ok()?;
                Some(ReqKey::old(&md5, as_method))
            }
        }
    }

    /// A pre-RFC 3261 key: `md5` and the method class.
    pub fn old(md5: &[u8; 32], method: &[u8]) -> ReqKey {
        ReqKey::encode(|k| {
            k.push(b'O');
            k.extend_from_slice(md5);
            k.extend(method.iter().map(u8::to_ascii_uppercase));
        })
    }

    /// The key `fill` writes, built in a per-thread scratch buffer: one allocation (the shared
    /// key itself).
    fn encode(fill: impl FnOnce(&mut Vec<u8>)) -> ReqKey {
        thread_local! {
            static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
        }
        SCRATCH.with(|s| match s.try_borrow_mut() {
            Ok(mut k) => {
                k.clear();
                fill(&mut k);
                let key = ReqKey(Arc::from(&k[..]));
                if k.capacity() > 4096 {
                    *k = Vec::new();
                }
                key
            }
            Err(_) => {
                let mut k = Vec::new();
                fill(&mut k);
                ReqKey(k.into())
            }
        })
    }
}

/// The method class a request's transaction is stored under: ACK belongs to INVITE; other methods
/// as written ([`ReqKey`] upper-cases them).
pub fn method_class(msg: &Msg) -> &[u8] {
    match msg.method() {
        Some(Method::Ack) => b"INVITE",
        _ => msg
            .request_line()
            .map_or(&[][..], |rl| rl.method_span.of(msg.buf())),
    }
}

/// One outgoing branch.
#[derive(Debug, Clone)]
pub struct OutBranch {
    /// The request as sent (retransmissions, CANCEL and ACK are derived from it).
    pub sent: ferrosip_api::Sent,
    /// The R-URI of the branch.
    pub uri: Vec<u8>,
    /// The CANCEL we sent on it, for retransmissions.
    pub cancel: Option<Vec<u8>>,
    /// The last final reply received on it, as it would be relayed (edits of onreply_route
    /// applied), with its code and reason: relayed if it wins the selection.
    pub reply: Option<StoredReply>,
    /// `onreply_route` armed for this branch (`t_on_reply`), a route block index.
    pub on_reply: Option<usize>,
    /// `event_route[tm:branch-failure:…]` armed when the branch was created
    /// (`t_on_branch_failure`); taken when it runs, so it runs once per branch.
    pub on_branch_failure: Option<usize>,
    /// Branch flags the branch was sent with (the branch-failure route sees them).
    pub bflags: u32,
    /// The contact's `+sip.instance` (`t_next_contact_flow`), empty when none.
    pub instance: Vec<u8>,
    /// The Path the branch was sent with (its Route headers; `t_reuse_branch`), empty when none.
    pub path: Vec<u8>,
    /// Its request is no longer retransmitted (`tm.cancel` before any reply, as Kamailio's
    /// `cancel_branch` without flags: the branch waits for its timeout).
    pub retr_stopped: bool,
}

/// A reply kept for the selection.
#[derive(Debug, Clone)]
pub struct StoredReply {
    pub code: u16,
    pub reason: Vec<u8>,
    /// The bytes to relay upstream.
    pub relay: Vec<u8>,
    /// The reply as received (`$T_rpl`, failure_route's reply view).
    pub received: Vec<u8>,
}

/// What a transaction keeps besides its state machine.
pub struct Txn {
    pub p: ProxyTxn,
    /// The request as received.
    pub req: Msg,
    pub rcv: RecvInfo,
    /// The script state at `t_relay` time (flags, AVPs, R-URI …), restored for failure_route.
    pub state: MsgState,
    /// The edits at `t_relay` time (`t_save_lumps`), restored for failure_route.
    pub edits: Option<Edits>,
    /// Where replies go upstream.
    pub reply_dest: Dest,
    pub branches: Vec<OutBranch>,
    /// The last reply sent upstream (bytes, for retransmissions).
    pub last_reply: Option<Vec<u8>>,
    /// Code of the last final reply sent upstream (0 = none yet).
    pub final_code: u16,
    /// That reply was generated here.
    pub final_local: bool,
    /// `t_on_failure`, `t_on_reply`, `t_on_branch`, `t_on_branch_failure` as block indexes.
    pub on_failure: Option<usize>,
    pub on_reply: Option<usize>,
    pub on_branch: Option<usize>,
    pub on_branch_failure: Option<usize>,
    /// The wheel entry and its deadline.
    pub timer: Option<(TimerId, Time)>,
    /// The transaction is an e2e CANCEL's own (answered locally with 200).
    pub is_cancel: bool,
    /// Branch of the reply that ran failure_route last (`$T_branch_idx`, `t_check_status`).
    pub failed_branch: Option<(u8, u16, bool)>,
    /// Local reply of the transaction (to-tag kept for every local reply).
    pub to_tag: Option<Vec<u8>>,
    /// Reason header of the e2e CANCEL to copy into the CANCELs we send.
    pub cancel_reason: Option<Vec<u8>>,
    /// `auto_inv_100` (or `t_set_auto_inv_100`) for this transaction: the first `t_relay` sends
    /// 100 Trying.
    pub auto_100: bool,
    /// No branch could be sent from request_route: the core error to answer with when the script
    /// ends (Kamailio's delayed `kill_transaction`).
    pub delayed_error: Option<i32>,
    /// No internal negative reply (`t_relay_to` flag 0x2, `t_set_disable_internal_reply`): when
    /// nothing could be sent, the transaction lives on for the script to answer or relay again.
    pub no_internal_reply: bool,
    /// `t_set_no_e2e_cancel_reason(1)`: the Reason of a received CANCEL is not copied into the
    /// CANCELs sent on the branches.
    pub no_e2e_reason: bool,
    /// The branches were canceled from here (`tm.cancel`, `t_cancel_callid`), not by a received
    /// CANCEL: `t_is_canceled()` stays false, as in Kamailio.
    pub local_cancel: bool,
    /// That happened: when the script ends without a final reply, the transaction is released
    /// without one (Kamailio's `t_unref`: "script writer didn't release transaction").
    pub failed_silently: bool,
    /// Made by `t_replicate`: replies of the branches are not relayed upstream and no reply is
    /// generated for them (Kamailio's local-transaction flag); only the script's own `t_reply`
    /// goes out.
    pub replicated: bool,
    /// The first final reply waits for the final-reply callbacks (set while the transaction is
    /// locked, taken when its callbacks are queued).
    pub send_after_callbacks: bool,
    /// A transaction started here (t_uac_send, tm.t_uac_*): its waiting RPC, if any.
    pub uac: Option<Box<super::uac::LocalUac>>,
}

impl Txn {
    /// Kamailio's `T_CANCELED`: a CANCEL was received for it (`t_is_canceled()`).
    pub fn is_canceled(&self) -> bool {
        self.p.is_canceled() && !self.local_cancel
    }
}

/// A transaction with its lock.
pub struct TxnCell {
    pub hash: u32,
    pub label: u32,
    pub key: ReqKey,
    inner: Mutex<Txn>,
}

impl TxnCell {
    /// Locks the transaction (a poisoned lock is taken over: a panic in one message must not
    /// wedge the transaction for the others).
    pub fn lock(&self) -> MutexGuard<'_, Txn> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// foldhash with a per-process random seed: fast on short keys, and a peer cannot precompute
/// colliding request keys (SipHash cost 3 % of the instructions of a proxied call).
type FastBuild = foldhash::fast::RandomState;

#[derive(Default)]
struct Shard {
    by_key: HashMap<ReqKey, Arc<TxnCell>, FastBuild>,
    by_label: HashMap<u32, Arc<TxnCell>, FastBuild>,
    next_label: u32,
}

/// All transactions and their timers.
pub struct Table {
    shards: Vec<Mutex<Shard>>,
    wheel: Mutex<TimerWheel<Weak<TxnCell>>>,
    /// Live transactions (entries of the shards' `by_label` maps), kept beside the maps so the
    /// timer thread's per-tick check does not lock every shard.
    live: AtomicUsize,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Table {
    fn default() -> Table {
        Table::new()
    }
}

impl Table {
    pub fn new() -> Table {
        Table {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(),
            wheel: Mutex::new(TimerWheel::with_capacity(Time(0), 1024)),
            live: AtomicUsize::new(0),
        }
    }

    fn shard(&self, hash: u32) -> &Mutex<Shard> {
        &self.shards[hash as usize % SHARDS] // SHARDS > 0
    }

    /// The transaction of `key`, if any.
    pub fn find(&self, hash: u32, key: &ReqKey) -> Option<Arc<TxnCell>> {
        lock(self.shard(hash)).by_key.get(key).cloned()
    }

    /// The transaction our branch `(hash, label)` names.
    pub fn by_label(&self, hash: u32, label: u32) -> Option<Arc<TxnCell>> {
        lock(self.shard(hash)).by_label.get(&label).cloned()
    }

    /// Inserts a new transaction unless one with the same key exists (a retransmission that raced
    /// with the first copy): `Err(existing)` then.
    pub fn insert(
        &self,
        hash: u32,
        key: ReqKey,
        make: impl FnOnce(u32) -> Txn,
    ) -> Result<Arc<TxnCell>, Arc<TxnCell>> {
        let mut sh = lock(self.shard(hash));
        if let Some(c) = sh.by_key.get(&key) {
            return Err(c.clone());
        }
        sh.next_label = sh.next_label.wrapping_add(1);
        let mut label = sh.next_label;
        while sh.by_label.contains_key(&label) {
            label = label.wrapping_add(1);
        }
        sh.next_label = label;
        let cell = Arc::new(TxnCell {
            hash,
            label,
            key: key.clone(),
            inner: Mutex::new(make(label)),
        });
        sh.by_key.insert(key, cell.clone());
        sh.by_label.insert(label, cell.clone());
        self.live.fetch_add(1, Ordering::Relaxed);
        Ok(cell)
    }

    /// Removes a transaction (it was freed).
    pub fn remove(&self, cell: &TxnCell) {
        let mut sh = lock(self.shard(cell.hash));
        if sh
            .by_label
            .get(&cell.label)
            .is_some_and(|c| std::ptr::eq(Arc::as_ptr(c), cell))
        {
            sh.by_label.remove(&cell.label);
            sh.by_key.remove(&cell.key);
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Removes a live transaction at once, its timer included (`t_clean`'s hard cleanup).
    pub fn evict(&self, cell: &Arc<TxnCell>, t: &mut Txn) {
        if let Some((id, _)) = t.timer.take() {
            lock(&self.wheel).cancel(id);
        }
        self.remove(cell);
    }

    /// Number of live transactions.
    pub fn len(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// A snapshot of every live transaction (for RPCs; each shard is locked only while copied).
    pub fn cells(&self) -> Vec<Arc<TxnCell>> {
        let mut out = Vec::new();
        for sh in &self.shards {
            out.extend(lock(sh).by_label.values().cloned());
        }
        out
    }

    /// The live transactions with hash index `hash` (Kamailio's hash bucket).
    pub fn bucket(&self, hash: u32) -> Vec<Arc<TxnCell>> {
        lock(self.shard(hash))
            .by_label
            .values()
            .filter(|c| c.hash == hash)
            .cloned()
            .collect()
    }

    /// No live transaction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Re-arms the cell's timer at the transaction's next deadline (or removes it from the table
    /// when it was freed). Call with the cell locked, after every change.
    pub fn reschedule(&self, cell: &Arc<TxnCell>, t: &mut Txn) {
        if t.p.is_freed() {
            if let Some((id, _)) = t.timer.take() {
                lock(&self.wheel).cancel(id);
            }
            self.remove(cell);
            return;
        }
        let want = t.p.next_deadline();
        if t.timer.map(|(_, d)| d) == want {
            return;
        }
        let mut w = lock(&self.wheel);
        if let Some((id, _)) = t.timer.take() {
            w.cancel(id);
        }
        if let Some(d) = want {
            t.timer = Some((w.insert(d, Arc::downgrade(cell)), d));
        }
    }

    /// Moves the wheel to `now`: the cells whose timer is due, with the timer id they fired with.
    pub fn due(&self, now: Time, out: &mut Vec<(TimerId, Weak<TxnCell>)>) {
        lock(&self.wheel).advance(now, out);
    }

    /// Number of armed timers.
    pub fn timers(&self) -> usize {
        lock(&self.wheel).len()
    }
}
