//! `tm`: Kamailio's transaction module — stateful forwarding with forking, reply selection,
//! retransmissions and timers, CANCEL and hop-by-hop ACK, failure routes.
//!
//! The state machines are `ferrosip-siptxn`'s ([`ProxyTxn`]); this module matches messages to
//! transactions ([`table`]), builds and sends what the machines ask for through the core's
//! [`Network`], runs `branch_route`, `onreply_route` and `failure_route`, and owns the timer
//! thread (started at child init, stopped at destroy). The server hands it every received reply
//! ([`TmApi::on_reply`]) and tells it when request_route ended ([`TmApi::script_end`]).
//!
//! Per-message state (the transaction of the message being processed, `t_on_*` armed before the
//! transaction exists) lives in a thread-local keyed by the message id, as Kamailio's per-process
//! `T` and `goto_on_*` globals; the script runs synchronously on the worker thread.
//!
//! Not implemented (refused at load): see [`REFUSED`] and docs/modules-tm.md.

mod api;
mod funcs;
mod more;
mod relay_to;
mod routes;
mod serial;
mod timer;
mod uac;

use routes::run_failure;
use timer::timer_loop;
pub mod msgs;
pub mod table;

pub use api::{CancelWhich, TmxCounters};

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use ferrosip_api::{
    CoreParams, Ctx, Dest, Error, ForwardRequest, ModParam, ModParamType, ModValue, ModuleExports,
    Network, NetworkApi, Proto, RetCode, RouteRunner, RouteType, RpcExport, Server, WorkerState,
};
use ferrosip_sipmsg::branch::{
    parse_branch, parse_reverse_hex, push_reverse_hex, ToTagGenerator, MCOOKIE, TM_TOTAG_SEPARATOR,
    TM_TOTAG_SIGNATURE,
};
use ferrosip_sipmsg::build::{self, ReplyOptions};
use ferrosip_sipmsg::edit::{SendContext, SocketInfo as BuildSocket};
use ferrosip_sipmsg::{Method, Msg, Transport as ViaTransport};
use ferrosip_siptxn::{
    Action, CancelReason, ProxyTxn, StatusCode, Time, TmConfig, Transport, TxnKind, TM_INT_PARAMS,
};

use table::{method_class, OutBranch, ReqKey, StoredReply, Table, Txn, TxnCell};

/// Functions of Kamailio's tm that ferrosip does not implement yet: refused at load.
pub const REFUSED: &[(&str, usize)] = &[
    ("t_cell_append_branches", 2),
    ("t_forward_nonack_sctp", 2),
    ("t_forward_nonack_tls", 2),
    ("t_is_retr_async_reply", 0),
    ("t_relay_to_sctp", 0),
    ("t_relay_to_sctp", 2),
    ("t_relay_to_tls", 0),
    ("t_relay_to_tls", 2),
    ("t_replicate_sctp", 2),
    ("t_replicate_tls", 2),
    ("t_write_req", 2),
    ("t_write_unix", 2),
];

/// tm modparams known from Kamailio's documentation that ferrosip refuses (setting one is an error).
const REFUSED_PARAMS: &[&str] = &[
    "ruri_matching",
    "via1_matching",
    "callid_matching",
    "callid_cseq_matching",
    "auto_inv_100_reason",
    "unix_tx_timeout",
    "fr_timer_avp",
    "fr_inv_timer_avp",
    "tw_append",
    "pass_provisional_replies",
    "aggregate_challenges",
    "unmatched_cancel",
    "default_code",
    "default_reason",
    "reparse_invite",
    "ac_extra_hdrs",
    "blst_503",
    "blst_503_def_timeout",
    "blst_503_min_timeout",
    "blst_503_max_timeout",
    "blst_methods_add",
    "blst_methods_lookup",
    "reparse_on_dns_failover",
    "on_sl_reply",
    "local_ack_mode",
    "remap_503_500",
    "failure_exec_mode",
    "dns_reuse_rcv_socket",
    "e2e_cancel_hop_by_hop",
    "headers_mode",
    "xavp_contact",
    "event_callback",
    "rich_redirect",
    "event_callback_lres_sent",
    "exec_time_check",
    "reply_relay_mode",
    "enable_uac_fr",
    "failover_reply_codes",
    "reply_408_code",
    "reply_408_reason",
];

/// Counters (`tm.stats`).
#[derive(Debug, Default)]
pub struct TmStats {
    pub created: AtomicU64,
    pub freed: AtomicU64,
    pub relayed_replies: AtomicU64,
    pub local_replies: AtomicU64,
    pub replies_2xx: AtomicU64,
    pub replies_3xx: AtomicU64,
    pub replies_4xx: AtomicU64,
    pub replies_5xx: AtomicU64,
    pub replies_6xx: AtomicU64,
    pub rpl_received: AtomicU64,
    /// Transactions started here (t_uac_send, tm.t_uac_*), counted in `created` too.
    pub local_created: AtomicU64,
    /// Local ACKs sent (no transaction; counted as a cell created and freed, as Kamailio).
    pub ack_cells: AtomicU64,
}

/// The module's state, shared by the workers and the timer thread.
pub struct Tm {
    cfg: OnceLock<TmConfig>,
    net: OnceLock<Arc<dyn Network>>,
    routes: OnceLock<Arc<dyn RouteRunner>>,
    core: OnceLock<CoreParams>,
    totags: OnceLock<ToTagGenerator>,
    table: Table,
    epoch: Instant,
    stop: Arc<AtomicBool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    pub stats: TmStats,
    /// Callbacks for the first final reply sent upstream (acc).
    finals: std::sync::RwLock<Vec<FinalCallback>>,
    /// Requests being processed before their transaction exists (`t_precheck_trans`).
    prechecks: Mutex<std::collections::HashSet<ReqKey>>,
    /// Watchers of the replies sent upstream (dlgs).
    reply_out: OnceLock<Arc<ferrosip_api::ReplyOut>>,
    /// `contacts_avp` / `contact_flows_avp` (serial forking).
    serial: OnceLock<serial::SerialNames>,
    /// Requests started here: numbers their keys and generated Call-IDs.
    uac_seq: AtomicU64,
    /// Kamailio's random Call-ID prefix of local requests.
    callid_prefix: u64,
    /// `local_cancel_reason` and `e2e_cancel_reason` (both on when unset).
    cancel_reasons: OnceLock<CancelReasons>,
    /// Transactions the timer thread freed, dropped by a worker ([`Tm::bury`], [`Tm::reap`]).
    graveyard: Mutex<Vec<Arc<TxnCell>>>,
    /// Counts [`Tm::reap`] calls: the timer thread drops the graveyard itself when no worker
    /// reaped during a whole tick (no traffic), so an idle server keeps nothing.
    reaps: AtomicU64,
}

/// Freed transactions waiting for a worker to drop them; past this the timer thread drops them.
const GRAVEYARD_MAX: usize = 4096;
/// Freed transactions a worker drops per message.
const REAP_PER_MESSAGE: usize = 8;

/// The Reason-header modparams of the CANCELs tm sends.
#[derive(Debug, Clone, Copy)]
struct CancelReasons {
    /// `local_cancel_reason`: a CANCEL tm decides on (another branch's final reply,
    /// `t_cancel_callid` with a cause) carries `Reason: SIP;cause=…`.
    local: bool,
    /// `e2e_cancel_reason`: the Reason headers of a received CANCEL are copied (per transaction:
    /// `t_set_no_e2e_cancel_reason`).
    e2e: bool,
}

/// The first final reply a transaction sent upstream, as callbacks see it.
#[derive(Debug, Clone, Copy)]
pub struct FinalReply<'a> {
    /// Status code.
    pub code: u16,
    /// Reason phrase.
    pub reason: &'a [u8],
    /// The reply as sent (relayed or generated here).
    pub reply: Option<&'a Msg>,
    /// Generated here (`t_reply`, a faked 408 …) rather than relayed.
    pub local: bool,
}

/// Called once per transaction when its first final reply went upstream, with a context on the
/// request (the script state saved at `t_relay`: flags, AVPs, R-URI) — Kamailio's
/// `TMCB_RESPONSE_OUT` as acc uses it.
pub type FinalCallback = Arc<dyn Fn(&mut Ctx<'_>, &FinalReply<'_>) + Send + Sync>;

/// What other parts of the server use: the reply hook, the end-of-script hook, counters.
pub struct TmApi {
    tm: Arc<Tm>,
}

/// Per-thread state of the message being processed.
#[derive(Default)]
struct Cur {
    msg_id: u64,
    cell: Option<Arc<TxnCell>>,
    on_failure: Option<usize>,
    on_reply: Option<usize>,
    on_branch: Option<usize>,
    /// `t_on_branch_failure` before the transaction exists (an event route index).
    on_branch_failure: Option<usize>,
    /// `t_set_fr` before the transaction exists.
    fr: Option<(u32, u32)>,
    /// `t_set_auto_inv_100` before the transaction exists.
    auto_100: Option<bool>,
    /// `t_relay_to` flag 0x2 / `t_set_disable_internal_reply` before the transaction exists.
    no_internal_reply: Option<bool>,
    /// `t_set_no_e2e_cancel_reason` before the transaction exists.
    no_e2e_reason: Option<bool>,
    /// In branch_route: the index of the branch being prepared.
    branch_idx: Option<usize>,
    /// In onreply_route: the branch of the reply.
    reply_branch: Option<u8>,
    /// `t_precheck_trans` registered this request's key (removed at the end of the script).
    precheck: Option<ReqKey>,
    /// In failure_route: (branch, code, faked) of the reply that failed; in the branch-failure
    /// route (branch, code, timed out).
    failed: Option<(u8, u16, bool)>,
    /// In the branch-failure route: the branch got a reply (`FL_REPLIED`).
    failed_replied: bool,
    /// In failure_route: the R-URI at its start (the main branch is forwarded again only when
    /// the script changed it).
    ruri_at_start: Option<Vec<u8>>,
}

thread_local! {
    static CUR: RefCell<Cur> = RefCell::new(Cur::default());
}

/// Runs `f` on the thread's current-message state, reset when `ctx` is another message.
fn cur<R>(ctx: &Ctx<'_>, f: impl FnOnce(&mut Cur) -> R) -> R {
    CUR.with(|c| {
        let mut c = c.borrow_mut();
        if c.msg_id != ctx.state.id {
            *c = Cur {
                msg_id: ctx.state.id,
                ..Cur::default()
            };
        }
        f(&mut c)
    })
}

fn cur_cell(ctx: &Ctx<'_>) -> Option<Arc<TxnCell>> {
    cur(ctx, |c| c.cell.clone())
}

impl Tm {
    fn new() -> Tm {
        Tm {
            cfg: OnceLock::new(),
            net: OnceLock::new(),
            routes: OnceLock::new(),
            core: OnceLock::new(),
            totags: OnceLock::new(),
            table: Table::new(),
            epoch: Instant::now(),
            stop: Arc::new(AtomicBool::new(false)),
            thread: Mutex::new(None),
            stats: TmStats::default(),
            finals: std::sync::RwLock::new(Vec::new()),
            prechecks: Mutex::new(std::collections::HashSet::new()),
            reply_out: OnceLock::new(),
            serial: OnceLock::new(),
            uac_seq: AtomicU64::new(0),
            callid_prefix: random_prefix(),
            cancel_reasons: OnceLock::new(),
            graveyard: Mutex::new(Vec::new()),
            reaps: AtomicU64::new(0),
        }
    }

    /// The timer thread is done with `cell`: when it holds the last reference (the transaction
    /// was freed), a worker drops it instead ([`Tm::reap`]). The transaction's memory came from
    /// a worker's allocations; freed there, it is ready for that worker's next transaction
    /// instead of crossing between threads' allocator caches on every call.
    fn bury(&self, cell: Arc<TxnCell>) {
        if Arc::strong_count(&cell) != 1 {
            return;
        }
        let mut g = self.graveyard.lock().unwrap_or_else(|e| e.into_inner());
        if g.len() < GRAVEYARD_MAX {
            g.push(cell);
        }
    }

    /// Drops a few of the transactions the timer thread freed (called by workers per message).
    fn reap(&self) {
        self.reaps.fetch_add(1, Ordering::Relaxed);
        // Taken under the lock into a fixed array (no allocation), dropped after it.
        let mut dead: [Option<Arc<TxnCell>>; REAP_PER_MESSAGE] = Default::default();
        {
            let Ok(mut g) = self.graveyard.try_lock() else {
                return;
            };
            for slot in &mut dead {
                *slot = g.pop();
            }
        }
        drop(dead);
    }

    /// The timer thread's end of tick: without a reap since `last` (the value it saw a tick ago),
    /// it drops the graveyard itself. Returns the current count.
    fn reap_idle(&self, last: u64) -> u64 {
        let now = self.reaps.load(Ordering::Relaxed);
        if now == last {
            let dead =
                std::mem::take(&mut *self.graveyard.lock().unwrap_or_else(|e| e.into_inner()));
            drop(dead);
        }
        now
    }

    fn now(&self) -> Time {
        Time(u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX))
    }

    fn cfg(&self) -> &TmConfig {
        static DEFAULT: OnceLock<TmConfig> = OnceLock::new();
        self.cfg
            .get()
            .unwrap_or_else(|| DEFAULT.get_or_init(TmConfig::default))
    }

    fn cancel_reasons(&self) -> CancelReasons {
        self.cancel_reasons.get().copied().unwrap_or(CancelReasons {
            local: true,
            e2e: true,
        })
    }

    fn serial_names(&self) -> serial::SerialNames {
        self.serial.get().cloned().unwrap_or_default()
    }

    fn net(&self) -> Result<&Arc<dyn Network>, Error> {
        self.net
            .get()
            .ok_or_else(|| Error::Runtime("tm: the core network is not available".into()))
    }

    /// Learns what it needs from the first message context (the program's routes, the core
    /// parameters, the to-tag seed).
    fn learn(&self, ctx: &Ctx<'_>) {
        if self.routes.get().is_none() {
            if let Some(r) = &ctx.routes {
                let _ = self.routes.set(r.clone());
            }
        }
        if self.core.get().is_none() {
            let _ = self.core.set(ctx.server.core_params().clone());
        }
        if self.totags.get().is_none() {
            let seed = ctx.server.sockets().first().map_or(ctx.rcv.dst, |s| s.addr);
            let addr = match seed.ip() {
                std::net::IpAddr::V4(ip) => ip.to_string(),
                std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            };
            let _ = self.totags.set(ToTagGenerator::new(
                TM_TOTAG_SIGNATURE,
                TM_TOTAG_SEPARATOR,
                addr.as_bytes(),
                seed.port().to_string().as_bytes(),
            ));
        }
    }
}

/// A per-process random 64-bit value (no RNG crate: the clock and pid through MD5).
fn random_prefix() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let seed = format!("{nanos}-{}", std::process::id());
    let h = ferrosip_sipmsg::branch::md5_string_array(&[seed.as_bytes()]);
    let hex = std::str::from_utf8(&h[..16]).unwrap_or("0");
    u64::from_str_radix(hex, 16).unwrap_or(0)
}

fn our_branch(hash: u32, label: u32, idx: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(32);
    b.extend_from_slice(MCOOKIE);
    push_reverse_hex(&mut b, hash);
    b.push(b'.');
    push_reverse_hex(&mut b, label);
    b.push(b'.');
    push_reverse_hex(&mut b, u32::try_from(idx).unwrap_or(0));
    b
}

fn transport_of(p: Proto) -> Transport {
    match p {
        Proto::Udp => Transport::Unreliable,
        _ => Transport::Reliable,
    }
}

/// Where replies to the request in `ctx` go (Kamailio's `init_rb` without `reply_to_via`): the
/// source IP; the source port with `rport`/`force_rport()` or a connection, else the Via port.
fn reply_dest(ctx: &Ctx<'_>) -> Dest {
    let src = ctx.rcv.src;
    let port = if ctx.rcv.proto != Proto::Udp {
        src.port()
    } else {
        match ctx.msg.via1() {
            Ok(v)
                if v.rport.is_none()
                    && ctx.state.msg_flags & ferrosip_api::ctx::FL_FORCE_RPORT == 0 =>
            {
                v.port.unwrap_or(5060)
            }
            _ => src.port(),
        }
    };
    Dest {
        addr: std::net::SocketAddr::new(src.ip(), port),
        proto: ctx.rcv.proto,
        socket: ctx.rcv.socket,
    }
}

fn via_transport(p: Proto) -> ViaTransport {
    match p {
        Proto::Udp => ViaTransport::Udp,
        Proto::Tcp => ViaTransport::Tcp,
        Proto::Tls => ViaTransport::Tls,
        Proto::Sctp => ViaTransport::Sctp,
        Proto::Ws => ViaTransport::Ws,
        Proto::Wss => ViaTransport::Wss,
    }
}

/// The transport a branch will use, for its retransmission timers: the forced one, else the
/// URI's `transport=` (TCP/TLS/… are reliable), else UDP.
fn branch_transport(uri: &[u8], forced: Option<Proto>) -> Transport {
    if let Some(p) = forced {
        return transport_of(p);
    }
    let lower = uri.to_ascii_lowercase();
    let reliable = [
        &b"transport=tcp"[..],
        b"transport=tls",
        b"transport=ws",
        b"transport=sctp",
    ]
    .iter()
    .any(|t| lower.windows(t.len()).any(|w| w == *t))
        || lower.starts_with(b"sips:");
    if reliable {
        Transport::Reliable
    } else {
        Transport::Unreliable
    }
}

/// Outcome of looking up or creating the transaction of a request.
enum NewTxn {
    Created(Arc<TxnCell>),
    Retransmission,
}

fn hash_of(msg: &Msg) -> u32 {
    let buf = msg.buf();
    let call_id = msg.call_id().map(|s| s.of(buf)).unwrap_or_default();
    let cseq = msg
        .cseq()
        .map(|c| c.number_span.of(buf))
        .unwrap_or_default();
    ferrosip_sipmsg::branch::hash_index(call_id, cseq)
}

/// Kamailio's `t_newtran`: a retransmission re-sends the last reply; a new request gets a
/// transaction (and 100 Trying for INVITE with `auto_inv_100`).
fn new_txn(tm: &Tm, ctx: &mut Ctx<'_>) -> Result<NewTxn, Error> {
    if let Some(c) = cur_cell(ctx) {
        return Ok(NewTxn::Created(c));
    }
    tm.learn(ctx);
    let msg = &*ctx.msg;
    let class = method_class(msg);
    let key = ReqKey::of(msg, class)
        .ok_or_else(|| Error::Runtime("tm: cannot compute the transaction key".into()))?;
    let hash = hash_of(msg);
    if let Some(cell) = tm.table.find(hash, &key) {
        retransmission(tm, &cell);
        return Ok(NewTxn::Retransmission);
    }
    // A copy with its header index (no second parse).
    let req = msg.clone();
    let kind = if msg.method() == Some(Method::Invite) {
        TxnKind::Invite
    } else {
        TxnKind::NonInvite
    };
    let now = tm.now();
    let mut actions = Vec::new();
    let dest = reply_dest(ctx);
    let rcv = ctx.rcv;
    let state = ctx.state.clone();
    let mut cfg = tm.cfg().clone();
    let auto_100 = cur(ctx, |c| c.auto_100).unwrap_or(cfg.auto_inv_100);
    // Kamailio sends the automatic 100 from t_relay, not from t_newtran (t_newtran + t_reply
    // answers without it): the transaction is created without it, forward_branches sends it.
    cfg.auto_inv_100 = false;
    if let Some(m) = tm
        .core
        .get()
        .and_then(|c| u8::try_from(c.max_branches).ok())
    {
        cfg.max_branches = m;
    }
    let made = tm.table.insert(hash, key, |_label| Txn {
        p: ProxyTxn::new(kind, transport_of(rcv.proto), now, &cfg, &mut actions),
        req,
        rcv,
        state,
        edits: None,
        reply_dest: dest,
        branches: Vec::new(),
        last_reply: None,
        final_code: 0,
        final_local: false,
        on_failure: None,
        on_reply: None,
        on_branch: None,
        on_branch_failure: cur(ctx, |c| c.on_branch_failure),
        timer: None,
        is_cancel: false,
        failed_branch: None,
        to_tag: None,
        cancel_reason: None,
        auto_100,
        delayed_error: None,
        // Kamailio applies the flags set before the transaction to an INVITE's only.
        no_internal_reply: kind == TxnKind::Invite
            && cur(ctx, |c| c.no_internal_reply).unwrap_or(false),
        // e2e_cancel_reason is the default, t_set_no_e2e_cancel_reason before the transaction
        // overrides it (Kamailio applies both to an INVITE's transaction only).
        no_e2e_reason: kind == TxnKind::Invite
            && cur(ctx, |c| c.no_e2e_reason).unwrap_or(!tm.cancel_reasons().e2e),
        local_cancel: false,
        failed_silently: false,
        replicated: false,
        send_after_callbacks: false,
        uac: None,
    });
    let cell = match made {
        Ok(c) => c,
        Err(existing) => {
            retransmission(tm, &existing);
            return Ok(NewTxn::Retransmission);
        }
    };
    tm.stats.created.fetch_add(1, Ordering::Relaxed);
    {
        let mut t = cell.lock();
        if let Some((inv, noninv)) = cur(ctx, |c| c.fr) {
            t.p.set_fr(now, inv, noninv);
        }
        let _ = apply(tm, &cell, &mut t, &actions, None);
        tm.table.reschedule(&cell, &mut t);
    }
    cur(ctx, |c| c.cell = Some(cell.clone()));
    Ok(NewTxn::Created(cell))
}

fn retransmission(tm: &Tm, cell: &Arc<TxnCell>) {
    let mut actions = Vec::new();
    let mut t = cell.lock();
    t.p.on_request_retransmission(&mut actions);
    let _ = apply(tm, cell, &mut t, &actions, None);
    tm.table.reschedule(cell, &mut t);
}

/// The destination of `t_relay` and friends.
#[derive(Debug, Clone, Default)]
struct Target {
    host: Option<(String, u16)>,
    proto: Option<Proto>,
}

/// `t_relay()` and its variants.
fn t_relay(tm: &Tm, ctx: &mut Ctx<'_>, target: &Target) -> Result<RetCode, Error> {
    relay_or_replicate(tm, ctx, target, false)
}

/// `t_relay` and, with `replicate`, `t_replicate` (the same, but the transaction keeps what its
/// branches answer to itself).
fn relay_or_replicate(
    tm: &Tm,
    ctx: &mut Ctx<'_>,
    target: &Target,
    replicate: bool,
) -> Result<RetCode, Error> {
    if !ctx.msg.is_request() {
        return Err(Error::Runtime("t_relay: not a request".into()));
    }
    tm.learn(ctx);
    // failure_route and the branch-failure route add branches to the transaction.
    if matches!(
        ctx.route_type,
        RouteType::Failure | RouteType::BranchFailure
    ) {
        let Some(cell) = cur_cell(ctx) else {
            return Err(Error::Runtime(
                "t_relay: no transaction in failure_route".into(),
            ));
        };
        return forward_branches(tm, ctx, &cell, target);
    }
    match ctx.msg.method() {
        Some(Method::Ack) => return relay_ack(tm, ctx, target),
        Some(Method::Cancel) => {
            if let Some(inv) = lookup_invite(tm, ctx) {
                return relay_cancel(tm, ctx, &inv);
            }
        }
        _ => {}
    }
    let cell = match new_txn(tm, ctx)? {
        NewTxn::Created(c) => c,
        NewTxn::Retransmission => return Ok(RetCode(0)),
    };
    if replicate {
        cell.lock().replicated = true;
    }
    forward_branches(tm, ctx, &cell, target)
}

/// An ACK: absorbed when it acknowledges a negative reply of one of our INVITE transactions,
/// else (the e2e ACK of a 2xx) relayed statelessly.
fn relay_ack(tm: &Tm, ctx: &mut Ctx<'_>, target: &Target) -> Result<RetCode, Error> {
    if let Some(cell) = find_for(tm, ctx, b"INVITE") {
        let mut t = cell.lock();
        if let Ok(ferrosip_siptxn::AckVerdict::Absorbed) = t.p.on_ack() {
            tm.table.reschedule(&cell, &mut t);
            return Ok(RetCode(0));
        }
    }
    let net = tm.net()?.clone();
    let req = ForwardRequest {
        host: target.host.as_ref().map(|(h, p)| (h.as_str(), *p)),
        proto: target.proto,
        branch: None,
        path: None,
    };
    match net.forward(ctx, &req) {
        Ok(_) => Ok(RetCode::TRUE),
        Err(e) => {
            ctx.log_error(&format!("t_relay: {e}"));
            Ok(RetCode::FALSE)
        }
    }
}

fn find_for(tm: &Tm, ctx: &Ctx<'_>, class: &[u8]) -> Option<Arc<TxnCell>> {
    let key = ReqKey::of(ctx.msg, class)?;
    tm.table.find(hash_of(ctx.msg), &key)
}

/// The INVITE transaction a CANCEL refers to (`t_lookup_cancel`).
fn lookup_invite(tm: &Tm, ctx: &Ctx<'_>) -> Option<Arc<TxnCell>> {
    if ctx.msg.method() != Some(Method::Cancel) {
        return None;
    }
    find_for(tm, ctx, b"INVITE")
}

/// An e2e CANCEL matching an INVITE transaction: its own transaction answers 200, the INVITE's
/// branches are canceled (or 487 is sent when none was forwarded).
fn relay_cancel(tm: &Tm, ctx: &mut Ctx<'_>, inv: &Arc<TxnCell>) -> Result<RetCode, Error> {
    let own = match new_txn(tm, ctx)? {
        NewTxn::Created(c) => c,
        NewTxn::Retransmission => return Ok(RetCode(0)),
    };
    {
        let now = tm.now();
        let mut t = own.lock();
        t.is_cancel = true;
        let mut actions = Vec::new();
        t.p.reply_locally(now, StatusCode::new(200).map_err(rt)?, &mut actions)
            .map_err(rt)?;
        PENDING_REASON.with(|r| *r.borrow_mut() = Some(b"canceling".to_vec()));
        let _ = apply(tm, &own, &mut t, &actions, None);
        PENDING_REASON.with(|r| *r.borrow_mut() = None);
        tm.table.reschedule(&own, &mut t);
    }
    let reason: Vec<u8> = {
        let buf = ctx.msg.buf();
        ctx.msg
            .headers()
            .map(|hs| {
                hs.iter()
                    .filter(|h| h.name.of(buf).eq_ignore_ascii_case(b"Reason"))
                    .flat_map(|h| h.span.of(buf).to_vec())
                    .collect()
            })
            .unwrap_or_default()
    };
    let now = tm.now();
    let mut actions = Vec::new();
    let mut t = inv.lock();
    t.local_cancel = false;
    // t_set_no_e2e_cancel_reason(1): the received Reason is not copied.
    t.cancel_reason = Some(if t.no_e2e_reason { Vec::new() } else { reason });
    match t.p.cancel(now, &mut actions) {
        Ok(_) => {}
        Err(e) => {
            tm.table.reschedule(inv, &mut t);
            ctx.log(ferrosip_api::L_DBG, &format!("t_relay_cancel: {e}"));
            return Ok(RetCode(0));
        }
    }
    let fr = apply(tm, inv, &mut t, &actions, None);
    tm.table.reschedule(inv, &mut t);
    drop(t);
    if let Some(f) = fr {
        run_failure(tm, inv, f, ctx.server, ctx.worker);
    }
    flush_finals(tm, ctx.server, ctx.worker);
    // The CANCEL is handled: the script stops (Kamailio's t_relay_cancel returns 0).
    Ok(RetCode(0))
}

/// A transaction whose first final reply was just decided, waiting for the callbacks
/// ([`flush_finals`]) once no transaction is locked.
struct QueuedFinal {
    cell: Arc<TxnCell>,
    code: u16,
    bytes: Vec<u8>,
    /// Generated here.
    local: bool,
    /// The reply is sent after the callbacks ran (to this destination), so that what they
    /// record for this transaction (acc) comes before anything the reply triggers (the caller's
    /// ACK and BYE, handled by another worker). `None`: already sent.
    send_after: Option<Dest>,
}

type FinalQueue = Vec<QueuedFinal>;

thread_local! {
    static FINALS: RefCell<FinalQueue> = const { RefCell::new(Vec::new()) };
}

/// Runs the final-reply callbacks queued on this thread.
fn flush_finals(tm: &Tm, server: &mut dyn Server, worker: &mut WorkerState) {
    routes::run_branch_failures(tm, server, worker);
    let queued = FINALS.with(|f| std::mem::take(&mut *f.borrow_mut()));
    if queued.is_empty() {
        return;
    }
    let cbs: Vec<FinalCallback> = tm.finals.read().unwrap_or_else(|e| e.into_inner()).clone();
    for q in queued {
        run_final_callbacks(tm, &cbs, &q, server, worker);
        if let (Some(dest), Some(net)) = (q.send_after, tm.net.get()) {
            let _ = net.send(&dest, &q.bytes);
            if let Some(ro) = tm.reply_out.get() {
                ro.run_bytes(&q.bytes);
            }
        }
    }
}

fn run_final_callbacks(
    tm: &Tm,
    cbs: &[FinalCallback],
    q: &QueuedFinal,
    server: &mut dyn Server,
    worker: &mut WorkerState,
) {
    let (code, local) = (q.code, q.local);
    {
        let (mut msg, state, rcv) = {
            let t = q.cell.lock();
            (t.req.clone(), t.state.clone(), t.rcv)
        };
        let reply = Msg::parse(q.bytes.clone()).ok();
        let reason = reply
            .as_ref()
            .and_then(|r| r.status_line().map(|s| s.reason.of(r.buf()).to_vec()))
            .unwrap_or_default();
        let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Request, rcv, worker, server) else {
            return;
        };
        ctx.state = state;
        ctx.routes = tm.routes.get().cloned();
        let fr = FinalReply {
            code,
            reason: &reason,
            reply: reply.as_ref(),
            local,
        };
        for cb in cbs {
            cb(&mut ctx, &fr);
        }
    }
}

/// Sends a reply upstream now, or — the transaction's first final reply while final-reply
/// callbacks exist — marks it to be sent by [`flush_finals`] after them.
fn send_upstream(tm: &Tm, net: &Arc<dyn Network>, t: &mut Txn, code: u16, bytes: &[u8]) {
    if code >= 200 && t.final_code == 0 && !t.is_cancel {
        let has_cbs = tm.finals.read().map(|v| !v.is_empty()).unwrap_or(false);
        if has_cbs {
            t.send_after_callbacks = true;
            return;
        }
    }
    let _ = net.send(&t.reply_dest, bytes);
    if let Some(ro) = tm.reply_out.get() {
        ro.run_bytes(bytes);
    }
}

/// Extra header lines and body of a local reply (`append_to_reply`).
type ReplyLumps = (Vec<u8>, Option<Vec<u8>>);

thread_local! {
    /// Reason phrase for the local reply about to be built on this thread (t_reply's text).
    static PENDING_REASON: RefCell<Option<Vec<u8>>> = const { RefCell::new(None) };
    /// Extra headers and body for the local reply about to be built (append_to_reply).
    static PENDING_LUMPS: RefCell<Option<ReplyLumps>> = const { RefCell::new(None) };
}

fn rt(e: impl std::fmt::Display) -> Error {
    Error::Runtime(format!("tm: {e}"))
}

/// Forwards the destination set (the R-URI branch and the appended branches) on `cell`.
fn forward_branches(
    tm: &Tm,
    ctx: &mut Ctx<'_>,
    cell: &Arc<TxnCell>,
    target: &Target,
) -> Result<RetCode, Error> {
    let net = tm.net()?.clone();
    let in_branch_failure = ctx.route_type == RouteType::BranchFailure;
    let in_failure = ctx.route_type == RouteType::Failure || in_branch_failure;
    let (on_failure, on_reply, on_branch) =
        cur(ctx, |c| (c.on_failure.take(), c.on_reply, c.on_branch));
    // The branch-failure route leaves the transaction's failure_route armed.
    let on_failure = match in_branch_failure {
        true => on_failure.or_else(|| cell.lock().on_failure),
        false => on_failure,
    };
    // The branches: (uri, dst_uri, path, socket, bflags, instance)
    type B = (
        Vec<u8>,
        Option<Vec<u8>>,
        Option<Vec<u8>>,
        Option<u32>,
        u32,
        Vec<u8>,
    );
    let mut list: Vec<B> = Vec::new();
    let main_changed = !in_failure
        || cur(ctx, |c| c.ruri_at_start.clone()) != ctx.state.new_uri
        || ctx.state.dst_uri.as_ref().is_some_and(|d| !d.is_empty());
    if main_changed {
        list.push((
            ctx.ruri(),
            ctx.state.dst_uri.clone(),
            None,
            ctx.state.force_socket,
            ctx.state.bflags,
            serial::ruri_instance(ctx),
        ));
    }
    for b in std::mem::take(&mut ctx.state.branches) {
        list.push((
            b.uri,
            (!b.dst_uri.is_empty()).then_some(b.dst_uri),
            (!b.path.is_empty()).then_some(b.path),
            b.socket.or(ctx.state.force_socket),
            b.flags,
            b.instance,
        ));
    }
    if list.is_empty() {
        ctx.log_error("t_relay: no branch for forwarding");
        return Ok(RetCode::FALSE);
    }
    let saved = (
        ctx.state.new_uri.clone(),
        ctx.state.dst_uri.clone(),
        ctx.state.force_socket,
        ctx.state.bflags,
    );
    {
        let mut t = cell.lock();
        if !in_failure {
            t.state = ctx.state.clone();
            // The edits matter only to a failure_route (t_save_lumps keeps them too).
            if on_failure.is_some() {
                t.edits = Some(ctx.edits.clone());
            }
        }
        t.on_failure = on_failure;
        t.on_reply = on_reply.or(t.on_reply);
        t.on_branch = on_branch;
        t.p.set_on_failure(on_failure.is_some());
    }
    let now = tm.now();
    if !in_failure {
        let mut t = cell.lock();
        if t.auto_100 && t.last_reply.is_none() && t.req.method() == Some(Method::Invite) {
            t.auto_100 = false;
            let mut hundred = Vec::new();
            if let Ok(s100) = StatusCode::new(100) {
                if t.p.reply_locally(now, s100, &mut hundred).is_ok() {
                    let _ = apply(tm, cell, &mut t, &hundred, None);
                }
            }
        }
    }
    let mut sent_any = false;
    let mut actions = Vec::new();
    // Branches whose request could not be sent, with the error.
    let mut failed: Vec<(u8, String)> = Vec::new();
    for (uri, dst, path, socket, bflags, instance) in list {
        ctx.state.new_uri = Some(uri.clone());
        ctx.state.dst_uri = dst;
        ctx.state.force_socket = socket;
        ctx.state.bflags = bflags;
        let saved_edits = on_branch.map(|_| ctx.edits.clone());
        if let Some(r) = on_branch {
            let next = cell.lock().branches.len();
            cur(ctx, |c| c.branch_idx = Some(next));
            if let Some(runner) = ctx.routes.clone() {
                let rt_saved = ctx.route_type;
                ctx.route_type = RouteType::Branch;
                let out = runner.run(r, ctx);
                ctx.route_type = rt_saved;
                if out.is_ok_and(|o| o.dropped) {
                    if let Some(e) = saved_edits {
                        ctx.edits = e;
                    }
                    continue;
                }
            }
        }
        let branch_uri = ctx.ruri();
        let hop_uri = match &ctx.state.dst_uri {
            Some(d) if !d.is_empty() => d.clone(),
            _ => branch_uri.clone(),
        };
        let mut t = cell.lock();
        let idx = t.branches.len();
        let transport = branch_transport(&hop_uri, target.proto);
        let b = match t.p.add_branch(now, transport) {
            Ok(b) => b,
            Err(e) => {
                drop(t);
                ctx.log_error(&format!("t_relay: cannot add a branch: {e}"));
                if let Some(e) = saved_edits {
                    ctx.edits = e;
                }
                continue;
            }
        };
        let branch = our_branch(cell.hash, cell.label, idx);
        let req = ForwardRequest {
            host: target.host.as_ref().map(|(h, p)| (h.as_str(), *p)),
            proto: target.proto,
            branch: Some(&branch),
            path: path.as_deref(),
        };
        match net.forward(ctx, &req) {
            Ok(sent) => {
                sent_any = true;
                let on_branch_failure = t.on_branch_failure;
                t.branches.push(OutBranch {
                    sent,
                    uri: branch_uri,
                    cancel: None,
                    reply: None,
                    on_reply,
                    on_branch_failure,
                    bflags: ctx.state.bflags,
                    instance,
                    path: path.clone().unwrap_or_default(),
                    retr_stopped: false,
                });
            }
            Err(e) => {
                let dest = t.reply_dest;
                t.branches.push(OutBranch {
                    sent: ferrosip_api::Sent {
                        dest,
                        bytes: Vec::new(),
                    },
                    uri: branch_uri,
                    cancel: None,
                    reply: None,
                    on_reply,
                    on_branch_failure: None,
                    bflags: ctx.state.bflags,
                    instance,
                    path: path.clone().unwrap_or_default(),
                    retr_stopped: false,
                });
                failed.push((b, e.to_string()));
                drop(t);
                ctx.log_error(&format!("t_relay: sending the request failed: {e}"));
            }
        }
        if let Some(e) = saved_edits {
            ctx.edits = e;
        }
    }
    (
        ctx.state.new_uri,
        ctx.state.dst_uri,
        ctx.state.force_socket,
        ctx.state.bflags,
    ) = saved;
    // Nothing could be sent from request_route: as Kamailio, t_relay fails with the core error set
    // (sl_reply_error() answers from it) and the transaction is answered with the same error
    // after the script (t_unref's delayed kill_transaction).
    let killed = !in_failure && !sent_any && !failed.is_empty();
    let fr = {
        let mut t = cell.lock();
        if killed {
            let unresolvable = failed.iter().any(|(_, e)| e.contains("cannot resolve"));
            let err = if unresolvable {
                crate::sl::E_BAD_ADDRESS
            } else {
                crate::sl::E_SEND
            };
            ctx.state.ser_error = err;
            if t.no_internal_reply {
                t.failed_silently = true;
            } else {
                t.delayed_error = Some(err);
            }
        } else {
            for (b, _) in &failed {
                let _ = t.p.send_failed(now, *b, &mut actions);
            }
        }
        let fr = apply(tm, cell, &mut t, &actions, None);
        tm.table.reschedule(cell, &mut t);
        fr
    };
    if let Some(f) = fr {
        if !in_failure {
            run_failure(tm, cell, f, ctx.server, ctx.worker);
        }
    }
    if !in_failure {
        flush_finals(tm, ctx.server, ctx.worker);
    }
    Ok(if sent_any {
        RetCode::TRUE
    } else if killed && cell.lock().failed_silently {
        // Kamailio's t_relay_to: -4 when the internal reply is disabled.
        RetCode(-4)
    } else {
        RetCode::FALSE
    })
}

/// A failure_route to run: (branch, code, faked).
type FailureRun = (u8, u16, bool);

/// Carries out what the state machine asked for. `current` is the reply being processed (its
/// branch and the bytes to relay). Returns the failure_route to run, if any (the caller runs it
/// with the cell unlocked).
fn apply(
    tm: &Tm,
    cell: &Arc<TxnCell>,
    t: &mut Txn,
    actions: &[Action],
    current: Option<(u8, &[u8])>,
) -> Option<FailureRun> {
    let net = tm.net.get()?;
    let mut failure = None;
    let final_before = t.final_code;
    for a in actions {
        match *a {
            Action::RetransmitRequest { branch } => {
                if let Some(b) = t
                    .branches
                    .get(usize::from(branch))
                    .filter(|b| !b.retr_stopped)
                {
                    let _ = net.send(&b.sent.dest, &b.sent.bytes);
                }
            }
            Action::SendAck { branch, .. } => {
                // The reply being relayed, else the one received on the branch (a local
                // transaction's reply has no Via left to relay it by).
                let to = match current {
                    Some((cb, bytes)) if cb == branch => msgs::to_line(bytes),
                    _ => None,
                }
                .or_else(|| {
                    t.branches
                        .get(usize::from(branch))
                        .and_then(|b| b.reply.as_ref())
                        .and_then(|r| msgs::to_line(&r.received))
                });
                if let Some(b) = t.branches.get(usize::from(branch)) {
                    if let Some(ack) = msgs::derive(&b.sent.bytes, b"ACK", to.as_deref(), b"") {
                        let _ = net.send(&b.sent.dest, &ack);
                    }
                }
            }
            Action::SendCancel { branch, reason } => {
                let local_reason = tm.cancel_reasons().local;
                let reason_lines = match reason {
                    CancelReason::Received => t.cancel_reason.clone().unwrap_or_default(),
                    // local_cancel_reason=0: CANCELs tm decides on carry no Reason.
                    CancelReason::FinalReply(_) if !local_reason => Vec::new(),
                    CancelReason::FinalReply(s) if s.code() == 200 => {
                        b"Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n".to_vec()
                    }
                    // A branch timeout (408) cancels without a Reason, as Kamailio (its
                    // local_cancel_reason covers CANCELs caused by a received final reply).
                    CancelReason::FinalReply(s) if s.code() == 408 => Vec::new(),
                    CancelReason::FinalReply(s) => {
                        format!("Reason: SIP;cause={}\r\n", s.code()).into_bytes()
                    }
                };
                // A branch canceled already (t_cancel_branches) gets no second CANCEL.
                if let Some(b) = t
                    .branches
                    .get_mut(usize::from(branch))
                    .filter(|b| b.cancel.is_none())
                {
                    if let Some(c) = msgs::derive(&b.sent.bytes, b"CANCEL", None, &reason_lines) {
                        let _ = net.send(&b.sent.dest, &c);
                        b.cancel = Some(c);
                    }
                }
            }
            Action::RetransmitCancel { branch } => {
                if let Some(b) = t.branches.get(usize::from(branch)) {
                    if let Some(c) = &b.cancel {
                        let _ = net.send(&b.sent.dest, c);
                    }
                }
            }
            Action::FakedReply { branch, status } => {
                if let Some(route) = routes::branch_failure_due(t, branch, status.code(), false) {
                    let replied = t.p.branch(branch).is_some_and(|b| b.was_replied());
                    routes::queue_branch_failure(
                        cell,
                        routes::BranchFailure {
                            branch,
                            code: status.code(),
                            route,
                            timeout: status.code() == 408,
                            replied,
                        },
                    );
                }
                if let Some(b) = t.branches.get_mut(usize::from(branch)) {
                    b.reply = Some(StoredReply {
                        code: status.code(),
                        reason: msgs::reason(status.code()).to_vec(),
                        relay: Vec::new(),
                        received: Vec::new(),
                    });
                }
            }
            // A replicated transaction answers only through the script (t_reply sets the
            // pending reason); what its branches cause stays here.
            Action::SendLocalReply { status } | Action::RelayReply { status, .. }
                if t.replicated && PENDING_REASON.with(|r| r.borrow().is_none()) =>
            {
                // A local transaction's reply: Kamailio counts it as sent (a received one as
                // relayed, a faked one as generated); the waiting RPC gets the final one.
                if let Some(u) = &t.uac {
                    let c = match *a {
                        Action::RelayReply { .. } => &tm.stats.relayed_replies,
                        _ => &tm.stats.local_replies,
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                    if !status.is_provisional() {
                        count_final(tm, status.code());
                        let received = match *a {
                            Action::RelayReply { branch, .. } => t
                                .branches
                                .get(usize::from(branch))
                                .and_then(|b| b.reply.as_ref())
                                .map(|r| r.received.as_slice())
                                .filter(|r| !r.is_empty()),
                            _ => None,
                        };
                        u.completed(status.code(), received);
                    }
                }
            }
            Action::SendLocalReply { status } => {
                send_local(tm, t, status.code());
            }
            Action::RelayReply { branch, status } => {
                let bytes: Option<Vec<u8>> = match current {
                    Some((cb, bytes)) if cb == branch => Some(bytes.to_vec()),
                    _ => t
                        .branches
                        .get(usize::from(branch))
                        .and_then(|b| b.reply.as_ref())
                        .map(|r| r.relay.clone())
                        .filter(|r| !r.is_empty()),
                };
                match bytes {
                    Some(bytes) => {
                        send_upstream(tm, net, t, status.code(), &bytes);
                        tm.stats.relayed_replies.fetch_add(1, Ordering::Relaxed);
                        count_final(tm, status.code());
                        if !status.is_provisional() {
                            t.final_code = status.code();
                            t.final_local = false;
                        }
                        t.last_reply = Some(bytes);
                    }
                    // A faked reply won: Kamailio sends it as a local reply.
                    None => send_local(tm, t, status.code()),
                }
            }
            Action::RetransmitReply { .. } => {
                if let Some(r) = &t.last_reply {
                    let _ = net.send(&t.reply_dest, r);
                }
            }
            Action::RunFailureRoute {
                branch,
                status,
                faked,
            } => failure = Some((branch, status.code(), faked)),
            Action::Free => {
                tm.stats.freed.fetch_add(1, Ordering::Relaxed);
                tm.table.remove(cell);
            }
        }
    }
    if final_before == 0 && t.final_code != 0 && !t.is_cancel {
        let has_cbs = tm.finals.read().map(|v| !v.is_empty()).unwrap_or(false);
        if has_cbs {
            let q = QueuedFinal {
                cell: cell.clone(),
                code: t.final_code,
                bytes: t.last_reply.clone().unwrap_or_default(),
                local: t.final_local,
                send_after: std::mem::take(&mut t.send_after_callbacks).then_some(t.reply_dest),
            };
            FINALS.with(|f| f.borrow_mut().push(q));
        }
    }
    failure
}

fn count_final(tm: &Tm, code: u16) {
    let c = match code / 100 {
        2 => &tm.stats.replies_2xx,
        3 => &tm.stats.replies_3xx,
        4 => &tm.stats.replies_4xx,
        5 => &tm.stats.replies_5xx,
        6 => &tm.stats.replies_6xx,
        _ => return,
    };
    c.fetch_add(1, Ordering::Relaxed);
}

/// Builds and sends a reply generated here (100 Trying, `t_reply`, a faked winner, 487 …).
fn send_local(tm: &Tm, t: &mut Txn, code: u16) {
    let Some(net) = tm.net.get() else { return };
    let reason = PENDING_REASON
        .with(|r| r.borrow_mut().take())
        .unwrap_or_else(|| msgs::reason(code).to_vec());
    let (hdrs, body) = PENDING_LUMPS
        .with(|r| r.borrow_mut().take())
        .unwrap_or_default();
    let sock = BuildSocket {
        ip: t.rcv.dst.ip(),
        port: t.rcv.dst.port(),
        proto: via_transport(t.rcv.proto),
        advertise: None,
        sockname: "",
    };
    let rcv = build::RecvInfo {
        src_ip: t.rcv.src.ip(),
        src_port: t.rcv.src.port(),
        socket: &sock,
        proto: via_transport(t.rcv.proto),
        conn_id: 0,
    };
    let needs_tag = code >= 180
        && t.req
            .to()
            .map(|to| to.tag.is_none_or(|s| s.is_empty()))
            .unwrap_or(false);
    if needs_tag && t.to_tag.as_ref().is_none_or(|v| v.is_empty()) {
        if let Some(g) = tm.totags.get() {
            t.to_tag = build::reply_to_tag(&t.req, g).ok().map(|x| x.to_vec());
        }
    }
    let core = tm.core.get();
    let opts = ReplyOptions {
        to_tag: if needs_tag { t.to_tag.as_deref() } else { None },
        force_rport: t.state.msg_flags & ferrosip_api::ctx::FL_FORCE_RPORT != 0,
        extra_headers: &hdrs,
        body: body.as_deref(),
        server_header: core
            .filter(|c| c.server_signature)
            .map(|c| c.server_header.as_bytes()),
        ..ReplyOptions::default()
    };
    let Ok(bytes) = build::local_reply(&t.req, &rcv, code, &reason, &opts) else {
        return;
    };
    send_upstream(tm, net, t, code, &bytes);
    tm.stats.local_replies.fetch_add(1, Ordering::Relaxed);
    count_final(tm, code);
    if code >= 200 {
        t.final_code = code;
        t.final_local = true;
    }
    t.last_reply = Some(bytes);
}

/// A reply for one of our branches (`TmApi::on_reply`).
/// The transaction and branch a reply's top Via branch (ours) names.
fn reply_target(tm: &Tm, msg: &Msg) -> Option<(Arc<TxnCell>, u8)> {
    let via = msg.via1().ok()?;
    let value = via.branch.and_then(|b| b.value)?.of(msg.buf());
    let pb = parse_branch(value)?;
    let label = parse_reverse_hex(pb.key)?;
    let idx = u8::try_from(pb.branch_index).ok()?;
    Some((tm.table.by_label(pb.hash_index, label)?, idx))
}

thread_local! {
    /// CANCELs `t_cancel_branches()` asked for in onreply_route, sent once the reply has been
    /// handled (Kamailio holds the transaction's reply lock meanwhile, so what the CANCEL
    /// provokes cannot overtake the reply).
    static DEFERRED_CANCELS: RefCell<Vec<(Vec<u8>, Dest)>> = const { RefCell::new(Vec::new()) };
}

fn on_reply(tm: &Tm, ctx: &mut Ctx<'_>) -> bool {
    let handled = on_reply_inner(tm, ctx);
    let cancels = DEFERRED_CANCELS.with(|d| std::mem::take(&mut *d.borrow_mut()));
    if let Some(net) = tm.net.get() {
        for (bytes, dest) in &cancels {
            let _ = net.send(dest, bytes);
        }
    }
    handled
}

fn on_reply_inner(tm: &Tm, ctx: &mut Ctx<'_>) -> bool {
    let Some((cell, idx)) = reply_target(tm, ctx.msg) else {
        return false;
    };
    let Some(code) = ctx.msg.status() else {
        return false;
    };
    let Ok(status) = StatusCode::new(code) else {
        return true;
    };
    tm.stats.rpl_received.fetch_add(1, Ordering::Relaxed);
    let is_cancel_reply = ctx
        .msg
        .cseq()
        .map(|c| c.method == Method::Cancel)
        .unwrap_or(false);
    let now = tm.now();
    // A 2xx of an INVITE started here: tm acknowledges it (and each retransmission), as Kamailio.
    if (200..300).contains(&code) && !is_cancel_reply {
        let ack = {
            let t = cell.lock();
            t.uac
                .is_some()
                .then(|| uac::ack_2xx(&t, ctx.msg, ctx.server))
                .flatten()
        };
        if let Some(ack) = ack {
            uac::send_ack_2xx(tm, &cell, ack, ctx.server, ctx.worker);
        }
    }
    if is_cancel_reply {
        let mut t = cell.lock();
        let _ = t.p.on_cancel_reply(idx, status);
        tm.table.reschedule(&cell, &mut t);
        return true;
    }
    let on_reply_route = {
        let t = cell.lock();
        if usize::from(idx) >= t.branches.len() {
            return true;
        }
        // A provisional on a branch canceled before it answered only triggers the owed CANCEL:
        // Kamailio neither relays it nor runs onreply_route for it.
        let owed_cancel = status.is_provisional()
            && t.p.branch(idx).is_some_and(|b| {
                matches!(
                    b.cancel_state(),
                    ferrosip_siptxn::CancelState::Deferred { .. }
                )
            });
        if owed_cancel {
            None
        } else {
            t.branches
                .get(usize::from(idx))
                .and_then(|b| b.on_reply)
                .or(t.on_reply)
        }
    };
    if let Some(r) = on_reply_route {
        if let Some(runner) = ctx.routes.clone() {
            CUR.with(|c| {
                *c.borrow_mut() = Cur {
                    msg_id: ctx.state.id,
                    cell: Some(cell.clone()),
                    reply_branch: Some(idx),
                    ..Cur::default()
                }
            });
            let saved = ctx.route_type;
            ctx.route_type = RouteType::TmOnReply;
            let out = runner.run(r, ctx);
            ctx.route_type = saved;
            let dropped = out.is_ok_and(|o| o.dropped);
            if dropped && status.is_provisional() {
                return true;
            }
        }
    }
    // The reply as it would be relayed (Via of ours removed, onreply_route's edits applied).
    let relay = {
        let sock = ctx.rcv_socket().map(|s| (s.addr, s.proto));
        let bsock = sock.map(|(a, p)| BuildSocket {
            ip: a.ip(),
            port: a.port(),
            proto: via_transport(p),
            advertise: None,
            sockname: "",
        });
        let sctx = SendContext {
            rcv_socket: bsock.as_ref(),
            rcv_proto: via_transport(ctx.rcv.proto),
            snd_socket: None,
            snd_proto: ViaTransport::Udp,
            global_address: None,
            global_port: None,
        };
        build::forward_reply(ctx.msg, &ctx.edits, &sctx).unwrap_or_default()
    };
    let mut actions = Vec::new();
    let fr = {
        let mut t = cell.lock();
        if !status.is_provisional() {
            if let Some(b) = t.branches.get_mut(usize::from(idx)) {
                b.reply = Some(StoredReply {
                    code,
                    reason: ctx
                        .msg
                        .status_line()
                        .map(|s| s.reason.of(ctx.msg.buf()).to_vec())
                        .unwrap_or_default(),
                    relay: relay.clone(),
                    received: ctx.msg.buf().to_vec(),
                });
            }
        }
        // Kamailio runs the branch-failure route before the reply takes part in the selection.
        if let Some(route) = routes::branch_failure_due(&mut t, idx, code, true) {
            // Kamailio marks a branch replied after this reply is handled: only an earlier
            // (provisional) reply counts here.
            let replied = t.p.branch(idx).is_some_and(|b| b.was_replied());
            drop(t);
            let run = routes::BranchFailure {
                branch: idx,
                code,
                route,
                timeout: false,
                replied,
            };
            routes::run_branch_failure(tm, &cell, &run, ctx.server, ctx.worker);
            t = cell.lock();
        }
        if t.p.on_reply(now, idx, status, &mut actions).is_err() {
            return true;
        }
        let fr = apply(tm, &cell, &mut t, &actions, Some((idx, &relay)));
        tm.table.reschedule(&cell, &mut t);
        fr
    };
    if let Some(f) = fr {
        run_failure(tm, &cell, f, ctx.server, ctx.worker);
    }
    flush_finals(tm, ctx.server, ctx.worker);
    true
}

/// The module's export table.
pub fn exports() -> ModuleExports {
    let tm = Arc::new(Tm::new());
    let mut m = ModuleExports::new("tm");
    m.functions = funcs::functions(&tm);
    m.functions.extend(relay_to::functions(&tm));
    m.functions.extend(more::functions(&tm));
    m.event_routes = vec![
        ferrosip_api::export::EventRouteExport {
            name: "tm:branch-failure:",
            doc: "event_route[tm:branch-failure:<id>]: armed by t_on_branch_failure(\"<id>\")",
        },
        ferrosip_api::export::EventRouteExport {
            name: uac::LOCAL_REQUEST,
            doc: "run on every request tm sends on its own (t_uac_send, tm.t_uac_*)",
        },
    ];
    m.params = params();
    m.rpcs = rpcs(&tm);
    let ti = tm.clone();
    m.init = Some(Arc::new(move |ictx| {
        let mut cfg = TmConfig::default();
        let mut names = serial::SerialNames::default();
        let mut reasons = CancelReasons {
            local: true,
            e2e: true,
        };
        for (name, v) in ictx.modparams() {
            match (&name[..], v) {
                ("contacts_avp", ModValue::Str(s)) => names.contacts = s.as_bytes().to_vec(),
                ("contact_flows_avp", ModValue::Str(s)) => names.flows = s.as_bytes().to_vec(),
                ("local_cancel_reason", ModValue::Int(i)) => reasons.local = *i != 0,
                ("e2e_cancel_reason", ModValue::Int(i)) => reasons.e2e = *i != 0,
                (name, ModValue::Int(i)) if TM_INT_PARAMS.contains(&name) => {
                    cfg.set_modparam(name, *i)
                        .map_err(|e| Error::Init(format!("tm: {e}")))?;
                }
                _ => {}
            }
        }
        let _ = ti.serial.set(names);
        let _ = ti.cancel_reasons.set(reasons);
        cfg.validate()
            .map_err(|e| Error::Init(format!("tm: {e}")))?;
        let _ = ti.cfg.set(cfg);
        let _ = ti.reply_out.set(ictx.reply_out());
        if let Some(n) = ictx.api::<NetworkApi>() {
            let _ = ti.net.set(n.0.clone());
        }
        let api = Arc::new(TmApi { tm: ti.clone() });
        // sl initialised before tm: give it the stateful reply now.
        if let Some(sl) = ictx.api::<crate::sl::SlApi>() {
            sl.set_stateful(api.stateful_reply());
        }
        ictx.provide(api);
        Ok(())
    }));
    let tc = tm.clone();
    m.child_init = Some(Arc::new(move |_rank| {
        let mut slot = tc.thread.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            let t = tc.clone();
            let h = std::thread::Builder::new()
                .name("tm-timer".into())
                .spawn(move || timer_loop(t, Duration::from_millis(10)))
                .map_err(|e| Error::Init(format!("tm: timer thread: {e}")))?;
            *slot = Some(h);
        }
        Ok(())
    }));
    let td = tm;
    m.destroy = Some(Arc::new(move || {
        td.stop.store(true, Ordering::Relaxed);
        if let Some(h) = td.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }));
    m
}

fn params() -> Vec<ModParam> {
    let mut v: Vec<ModParam> = TM_INT_PARAMS
        .iter()
        .map(|n| ModParam::new(n, ModParamType::Int, "see docs/transactions.md"))
        .collect();
    v.push(ModParam::new(
        "contacts_avp",
        ModParamType::Str,
        "XAVP of t_load_contacts/t_next_contacts (empty = off)",
    ));
    v.push(ModParam::new(
        "local_cancel_reason",
        ModParamType::Int,
        "0: CANCELs tm decides on (another branch's final reply, t_cancel_callid) carry no Reason",
    ));
    v.push(ModParam::new(
        "e2e_cancel_reason",
        ModParamType::Int,
        "0: Reason headers of a received CANCEL are not copied (t_set_no_e2e_cancel_reason overrides)",
    ));
    v.push(ModParam::new(
        "contact_flows_avp",
        ModParamType::Str,
        "XAVP where t_next_contacts puts the other flows of an instance",
    ));
    for n in REFUSED_PARAMS {
        let mut p = ModParam::new(n, ModParamType::Int, "not implemented");
        p.implemented = false;
        v.push(p);
    }
    v
}

fn rpcs(tm: &Arc<Tm>) -> Vec<RpcExport> {
    use ferrosip_api::export::RpcValue;
    let t = tm.clone();
    let mut v = vec![RpcExport {
        name: "tm.stats",
        doc: "transaction counters",
        handler: Arc::new(move |_args| {
            let g = |c: &AtomicU64| RpcValue::Int(c.load(Ordering::Relaxed) as i64);
            let s = &t.stats;
            let cells = t.table.cells();
            let current = cells.len() as i64;
            // In the wait state: a final reply went upstream (wt_timer runs until the free).
            let waiting = cells
                .iter()
                .filter(|c| c.lock().p.server().is_on_wait())
                .count() as i64;
            Ok(RpcValue::Struct(vec![
                ("current".into(), RpcValue::Int(current)),
                ("waiting".into(), RpcValue::Int(waiting)),
                ("total".into(), g(&s.created)),
                ("total_local".into(), g(&s.local_created)),
                ("rpl_received".into(), g(&s.rpl_received)),
                ("rpl_generated".into(), g(&s.local_replies)),
                ("rpl_sent".into(), {
                    let n = s.local_replies.load(Ordering::Relaxed)
                        + s.relayed_replies.load(Ordering::Relaxed);
                    RpcValue::Int(n as i64)
                }),
                ("6xx".into(), g(&s.replies_6xx)),
                ("5xx".into(), g(&s.replies_5xx)),
                ("4xx".into(), g(&s.replies_4xx)),
                ("3xx".into(), g(&s.replies_3xx)),
                ("2xx".into(), g(&s.replies_2xx)),
                // Kamailio builds (and frees at once) a cell for a local ACK too.
                ("created".into(), {
                    let n = s.created.load(Ordering::Relaxed) + s.ack_cells.load(Ordering::Relaxed);
                    RpcValue::Int(n as i64)
                }),
                ("freed".into(), {
                    let n = s.freed.load(Ordering::Relaxed) + s.ack_cells.load(Ordering::Relaxed);
                    RpcValue::Int(n as i64)
                }),
                // ferrosip frees a transaction at once (no reference counting to wait for).
                ("delayed_free".into(), RpcValue::Int(0)),
            ]))
        }),
    }];
    for (name, doc, mode) in [
        (
            "tm.t_uac_start",
            "send a request (method, R-URI, next hop, socket, headers[, body])",
            uac::RpcMode::Start,
        ),
        (
            "tm.t_uac_wait",
            "like tm.t_uac_start, answering with the final reply (code, reason, dialog, reply)",
            uac::RpcMode::Wait,
        ),
        (
            "tm.t_uac_wait_block",
            "like tm.t_uac_start, answering with the final reply's code and text",
            uac::RpcMode::Block,
        ),
    ] {
        let t = tm.clone();
        v.push(RpcExport {
            name,
            doc,
            handler: Arc::new(move |args| uac::rpc(&t, args, mode)),
        });
    }
    let t = tm.clone();
    v.push(RpcExport {
        name: "tm.cancel",
        doc: "cancel the INVITE transaction with this Call-ID and CSeq number",
        handler: Arc::new(move |args| uac::rpc_cancel(&t, args)),
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_round_trip() {
        for (h, l, i) in [(0u32, 1u32, 0usize), (0xffff, 0xabc, 3), (7, 0, 11)] {
            let b = our_branch(h, l, i);
            let p = parse_branch(&b).expect("ours");
            assert_eq!(p.hash_index, h);
            assert_eq!(parse_reverse_hex(p.key), Some(l));
            assert_eq!(p.branch_index as usize, i);
        }
    }

    #[test]
    fn transports() {
        let cases: &[(&str, Option<Proto>, Transport)] = &[
            ("sip:a@h", None, Transport::Unreliable),
            ("sip:a@h;transport=TCP", None, Transport::Reliable),
            ("sips:a@h", None, Transport::Reliable),
            ("sip:a@h", Some(Proto::Tcp), Transport::Reliable),
        ];
        for (u, p, want) in cases {
            assert_eq!(branch_transport(u.as_bytes(), *p), *want, "{u}");
        }
    }
}
