//! Kamailio's `sl` module: stateless replies (`sl_send_reply`, `send_reply` without tm), the local
//! to-tag (`$ltt`), reply statistics (`sl.stats`) and absorption of ACKs to our own negative
//! replies ([`SlApi::filter_ack`], Kamailio's pre-script `sl_filter_ACK`).
//!
//! Replies are built by `ferrosip_sipmsg::build::sl_reply` (Kamailio's layout and to-tag) and sent
//! through the context's [`ferrosip_api::Server`] to the source address of the request (Kamailio's
//! `update_sock_struct_from_ip`: source IP, source port when the Via has `rport`, else the Via port
//! or 5060), from the socket the request came in on.
//!
//! Headers and a body for replies (`append_to_reply`, `set_reply_body` of textops, the Contact
//! set of 3xx replies) are kept per message by [`reply_lumps`].
//!
//! Other modules reply through [`SlReply`] (Kamailio's `sl_load_api`): sanity, auth, siputils'
//! `options_reply` and xhttp take it in their init and refuse to load without sl, as Kamailio's
//! do ("cannot bind to SL API"); their replies go through the same path as `sl_send_reply`'s
//! (counters, ACK window, reply-out hooks, `event_route[sl:local-response]`). A reply to an HTTP
//! request (xhttp) has its Via copies renamed `Sia` ([`http`]), as Kamailio's core builder does.
//!
//! `sl_forward_reply` relays the received reply through the core
//! ([`ferrosip_api::Network::forward_reply`]), with another code of the same class and reason.
//!
//! Refused at load (see docs/modules-1.md): `send_reply_mode`; modparams `event_callback_fl_ack`, `event_callback_lres_sent` (KEMI), and
//! `rich_redirect` values with bit 2 (path in Contact).

pub mod api;
pub mod http;
pub mod reply_lumps;

pub use api::SlReply;

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use ferrosip_api::ctx::FL_FORCE_RPORT;
use ferrosip_api::export::{
    EventRouteExport, FnExport, ModParam, ModParamType, ParamKind as K, PvExport, PvNameRule,
    RpcExport, RpcValue,
};
use ferrosip_api::pv::{PvInner, PvName};
use ferrosip_api::{Ctx, Dest, Error, ModValue, ModuleExports, Proto, RetCode, RouteMask, Value};
use ferrosip_sipmsg::branch::{ToTagGenerator, SL_TOTAG_SEPARATOR, SL_TOTAG_SIGNATURE};
use ferrosip_sipmsg::build::{self, ReplyOptions};
use ferrosip_sipmsg::edit::SocketInfo;
use ferrosip_sipmsg::{HeaderKind, Method, Msg, Transport};

/// sl's frozen modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SlConfig {
    /// `default_code`: used when the code parameter cannot be read.
    pub default_code: u16,
    /// `default_reason`: used when the reason parameter cannot be read.
    pub default_reason: Vec<u8>,
    /// `bind_tm`: reply statefully when a transaction exists (no tm yet: always stateless).
    pub bind_tm: bool,
    /// `rich_redirect`: 1 adds `;flags=` of each branch to the Contacts of 3xx replies.
    pub rich_redirect: i64,
}

impl Default for SlConfig {
    fn default() -> SlConfig {
        SlConfig {
            default_code: 500,
            default_reason: b"Internal Server Error".to_vec(),
            bind_tm: true,
            rich_redirect: 0,
        }
    }
}

/// How long after sending a reply an ACK carrying our to-tag is still absorbed
/// (Kamailio's `SL_RPL_WAIT_TIME`, 2 s).
pub const ACK_WAIT: Duration = Duration::from_secs(2);

/// Names of the reply counters, in Kamailio's order (`sl` statistics).
pub const STAT_NAMES: [&str; 20] = [
    "1xx_replies",
    "200_replies",
    "202_replies",
    "2xx_replies",
    "300_replies",
    "301_replies",
    "302_replies",
    "3xx_replies",
    "400_replies",
    "401_replies",
    "403_replies",
    "404_replies",
    "407_replies",
    "408_replies",
    "483_replies",
    "4xx_replies",
    "500_replies",
    "5xx_replies",
    "6xx_replies",
    "xxx_replies",
];

/// Module state shared by the functions, `$ltt`, the RPC and [`SlApi`].
#[derive(Debug)]
pub struct SlState {
    config: OnceLock<SlConfig>,
    started: Instant,
    /// Milliseconds since `started` until which ACKs are checked (0 = never replied).
    ack_deadline_ms: AtomicU64,
    counters: [AtomicU64; 20],
    failures: AtomicU64,
    filtered_acks: AtomicU64,
    /// tm's stateful reply, when tm is loaded (`send_reply` uses it when the message has a
    /// transaction).
    stateful: OnceLock<Stateful>,
    /// Watchers of the replies sent (dlgs).
    reply_out: OnceLock<Arc<ferrosip_api::ReplyOut>>,
    /// The core's relay path (`sl_forward_reply`).
    net: OnceLock<ferrosip_api::NetworkApi>,
}

/// Replies statefully when the message has a transaction: `Some(return code)`, else `None`.
pub type StatefulReply = Arc<dyn Fn(&mut Ctx<'_>, i64, &[u8]) -> Option<i64> + Send + Sync>;

/// A snapshot of the counters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SlStats {
    /// Per [`STAT_NAMES`] entry.
    pub replies: Vec<(&'static str, u64)>,
    /// `sent_replies`.
    pub sent: u64,
    /// `sent_err_replies`: always 0, as in Kamailio 6.0, whose sl declares this counter but never
    /// increments it (checked with Kamailio 5.6.3 after error replies).
    pub sent_err: u64,
    /// `failures`.
    pub failures: u64,
    /// `received_ACKs`: ACKs absorbed.
    pub received_acks: u64,
}

/// What the server calls before running `request_route` (Kamailio registers `sl_filter_ACK` as a
/// pre-script callback). Handed out with [`ferrosip_api::InitCtx::provide`].
#[derive(Debug, Clone)]
pub struct SlApi {
    state: Arc<SlState>,
}

impl SlApi {
    /// True when `msg` is an ACK to a reply sl sent less than [`ACK_WAIT`] ago (its To tag is our
    /// tag for it): the server drops it without running the script.
    pub fn filter_ack(&self, msg: &Msg, local: SocketAddr) -> bool {
        self.state.filter_ack(msg, local)
    }

    /// The counters.
    pub fn stats(&self) -> SlStats {
        self.state.stats()
    }

    /// tm hands its stateful reply over (when tm is initialised after sl).
    pub fn set_stateful(&self, f: StatefulReply) {
        let _ = self.state.stateful.set(Stateful(f));
    }
}

/// [`StatefulReply`] kept in the state (a named wrapper for `Debug`).
struct Stateful(StatefulReply);

impl std::fmt::Debug for Stateful {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatefulReply")
    }
}

impl SlState {
    fn new() -> SlState {
        SlState {
            config: OnceLock::new(),
            started: Instant::now(),
            ack_deadline_ms: AtomicU64::new(0),
            counters: Default::default(),
            failures: AtomicU64::new(0),
            filtered_acks: AtomicU64::new(0),
            stateful: OnceLock::new(),
            reply_out: OnceLock::new(),
            net: OnceLock::new(),
        }
    }

    fn config(&self) -> &SlConfig {
        static DEFAULT: OnceLock<SlConfig> = OnceLock::new();
        self.config
            .get()
            .unwrap_or_else(|| DEFAULT.get_or_init(SlConfig::default))
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn count(&self, code: u16) {
        let i = match code {
            100..=199 => 0,
            200 => 1,
            202 => 2,
            201..=299 => 3,
            300 => 4,
            301 => 5,
            302 => 6,
            303..=399 => 7,
            400 => 8,
            401 => 9,
            403 => 10,
            404 => 11,
            407 => 12,
            408 => 13,
            483 => 14,
            402..=499 => 15,
            500 => 16,
            501..=599 => 17,
            600..=699 => 18,
            _ => 19,
        };
        if let Some(c) = self.counters.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Kamailio's `sl_reply_helper`: sends, then counts the reply (1) or the failure (-1).
    fn reply(&self, ctx: &mut Ctx<'_>, code: u16, reason: &[u8], more: &[u8]) -> i64 {
        // `more` is appended to the queued reply headers for this reply only: extending the
        // message's own buffer and truncating it back costs no allocation once it has grown.
        let queued = ctx.state.reply_hdrs.len();
        ctx.state.reply_hdrs.extend_from_slice(more);
        let r = try_send(ctx, self, code, reason);
        ctx.state.reply_hdrs.truncate(queued);
        match r {
            Ok(()) => {
                self.count(code);
                1
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                if !e.is_empty() {
                    ctx.log_error(&e);
                }
                -1
            }
        }
    }

    /// sl's `send_reply` when tm takes it: `Some(rc)` of tm's `t_reply` when `bind_tm` is on,
    /// tm is loaded and the request has a transaction; `None` to reply statelessly.
    fn stateful_reply(
        &self,
        ctx: &mut Ctx<'_>,
        code: i64,
        reason: &[u8],
        more: &[u8],
    ) -> Option<i64> {
        if !self.config().bind_tm {
            return None;
        }
        let f = self.stateful.get()?;
        let queued = ctx.state.reply_hdrs.len();
        ctx.state.reply_hdrs.extend_from_slice(more);
        let rc = (f.0)(ctx, code, reason);
        ctx.state.reply_hdrs.truncate(queued);
        rc
    }

    fn stats(&self) -> SlStats {
        let replies: Vec<(&'static str, u64)> = STAT_NAMES
            .iter()
            .zip(self.counters.iter())
            .map(|(n, c)| (*n, c.load(Ordering::Relaxed)))
            .collect();
        let sent = replies.iter().map(|(_, v)| v).sum();
        let sent_err = 0;
        SlStats {
            replies,
            sent,
            sent_err,
            failures: self.failures.load(Ordering::Relaxed),
            received_acks: self.filtered_acks.load(Ordering::Relaxed),
        }
    }

    fn filter_ack(&self, msg: &Msg, local: SocketAddr) -> bool {
        if msg.method() != Some(Method::Ack) {
            return false;
        }
        if self.ack_deadline_ms.load(Ordering::Relaxed) <= self.now_ms() {
            return false; // too late to be an ACK to one of our replies
        }
        let Ok(Some(_)) = msg.header(HeaderKind::To) else {
            return false;
        };
        let Ok(to) = msg.to() else {
            return false;
        };
        let Some(tag) = to.tag.map(|t| msg.slice(t)) else {
            return false;
        };
        let Ok(ours) = build::reply_to_tag(msg, &generator(local)) else {
            return false;
        };
        if tag == ours.as_slice() {
            self.filtered_acks.fetch_add(1, Ordering::Relaxed);
            return true;
        }
        false
    }
}

/// The `sl` export table.
/// `sl.stats`: Kamailio's reply shape (5.6.3 and 6.0 alike) — the reply counters named by
/// their code or class without the `_replies` suffix of the statistics (`200`, `2xx` … `xxx`),
/// 1xx left out, no totals (those are the `sl:` statistics only).
fn rpc_stats(s: &SlStats) -> RpcValue {
    RpcValue::Struct(
        s.replies
            .iter()
            .filter(|(n, _)| *n != "1xx_replies")
            .map(|(n, v)| {
                (
                    n.trim_end_matches("_replies").to_string(),
                    RpcValue::Int(i64::try_from(*v).unwrap_or(i64::MAX)),
                )
            })
            .collect(),
    )
}

pub fn exports() -> ModuleExports {
    let st = Arc::new(SlState::new());
    let mut m = ModuleExports::new("sl");
    let reply_routes = RouteMask::REQUEST
        .or(RouteMask::ONREPLY)
        .or(RouteMask::FAILURE);
    let send = |name: &'static str, routes: RouteMask, doc: &'static str| {
        let s = Arc::clone(&st);
        let stateful = name == "send_reply";
        FnExport::new(name, &[K::IntOrVar, K::Spve], routes, doc).with(move |ctx, a| {
            let cfg = s.config();
            let code = match a.first().map(|x| x.int(ctx)) {
                Some(Ok(c)) => c,
                _ => i64::from(cfg.default_code),
            };
            let reason = match a.get(1) {
                Some(r) => r.bytes_ref(ctx),
                None => std::borrow::Cow::Owned(cfg.default_reason.clone()),
            };
            if stateful {
                if let Some(rc) = s.stateful_reply(ctx, code, &reason, &[]) {
                    return Ok(RetCode(rc));
                }
            }
            Ok(RetCode(send_reply(ctx, &s, code, &reason)))
        })
    };
    m.functions =
        vec![
        send(
            "sl_send_reply",
            RouteMask::REQUEST,
            "send a stateless reply (code, reason)",
        ),
        send("sl_reply", RouteMask::REQUEST, "alias of sl_send_reply"),
        send(
            "send_reply",
            reply_routes,
            "reply statefully (tm's t_reply) when the message has a transaction, else statelessly",
        ),
        FnExport::new(
            "send_reply_mode",
            &[K::IntOrVar, K::Spve, K::IntOrVar],
            reply_routes,
            "send_reply with mode flags: refused (the reply send flags reach the transport only from the core)",
        ),
        error_reply("sl_reply_error", RouteMask::REQUEST, &st),
        error_reply("send_reply_error", reply_routes, &st),
        forward_reply(&st, &[], "relay the received reply statelessly to the next Via"),
        forward_reply(
            &st,
            &[K::Spve],
            "relay the received reply with another code of the same class",
        ),
        forward_reply(
            &st,
            &[K::Spve, K::Spve],
            "relay the received reply with another code (same class) and reason",
        ),
    ];
    m.event_routes = vec![EventRouteExport {
        name: "sl:local-response",
        doc: "run after sl sent a local reply; the message is the reply",
    }];
    m.params = vec![
        ModParam::new(
            "default_code",
            ModParamType::Int,
            "code used when the code parameter cannot be read (500)",
        )
        .check(|v| match v {
            ModValue::Int(i) if (100..=699).contains(i) => Ok(()),
            _ => Err("must be 100..699".into()),
        }),
        ModParam::new(
            "default_reason",
            ModParamType::Str,
            "reason used when the reason parameter cannot be read",
        ),
        ModParam::new(
            "bind_tm",
            ModParamType::Int,
            "send_reply goes through tm when a transaction exists (no tm yet)",
        ),
        ModParam::new(
            "rich_redirect",
            ModParamType::Int,
            "1: branch flags in 3xx Contacts; bit 2 (path) is not supported",
        )
        .check(|v| match v {
            ModValue::Int(0) | ModValue::Int(1) => Ok(()),
            _ => Err("only 0 and 1 are supported (path in Contact is not)".into()),
        }),
        ModParam {
            implemented: false,
            ..ModParam::new(
                "event_callback_fl_ack",
                ModParamType::Str,
                "KEMI callback for filtered ACKs: no KEMI",
            )
        },
        ModParam {
            implemented: false,
            ..ModParam::new(
                "event_callback_lres_sent",
                ModParamType::Str,
                "KEMI callback for sent local replies: no KEMI",
            )
        },
    ];
    let sp = Arc::clone(&st);
    m.pvs = vec![PvExport {
        name: "ltt",
        doc: "local to-tag of replies to this request: $ltt(s) sl's, $ltt(t) tm's (no tm: null), $ltt(x) either",
        inner: PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(|inner: &str, _reg: &ferrosip_api::Registry| match inner {
            "x" | "s" | "t" => Ok(PvInner::Str(inner.as_bytes().to_vec())),
            _ => Err(format!("unknown PV ltt key: {inner}")),
        })),
        get: Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
            let _ = &sp;
            match &n.inner {
                PvInner::Str(k) if k.as_slice() != b"t" => Ok(local_to_tag(ctx).map_or(Value::Null, Value::Str)),
                _ => Ok(Value::Null),
            }
        }),
        set: None,
    }];
    let sr = Arc::clone(&st);
    m.rpcs = vec![RpcExport {
        name: "sl.stats",
        doc: "Print reply statistics.",
        handler: Arc::new(move |_args: &[RpcValue]| Ok(rpc_stats(&sr.stats()))),
    }];
    let si = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let mut c = SlConfig::default();
        for (name, v) in ictx.modparams() {
            match (*name, v) {
                ("default_code", ModValue::Int(i)) => {
                    c.default_code = u16::try_from(*i).unwrap_or(500)
                }
                ("default_reason", ModValue::Str(s)) => c.default_reason = s.as_bytes().to_vec(),
                ("bind_tm", ModValue::Int(i)) => c.bind_tm = *i != 0,
                ("rich_redirect", ModValue::Int(i)) => c.rich_redirect = *i,
                _ => {}
            }
        }
        si.config
            .set(c)
            .map_err(|_| Error::Init("sl initialised twice".into()))?;
        let _ = si.reply_out.set(ictx.reply_out());
        if let Some(n) = ictx.api::<ferrosip_api::NetworkApi>() {
            let _ = si.net.set((*n).clone());
        }
        SlReply::of(ictx).fill(Arc::clone(&si))?;
        if let Some(tm) = ictx.api::<crate::tm::TmApi>() {
            let _ = si.stateful.set(Stateful(tm.stateful_reply()));
        }
        ictx.provide(Arc::new(SlApi {
            state: Arc::clone(&si),
        }));
        Ok(())
    }));
    m
}

fn forward_reply(st: &Arc<SlState>, params: &[K], doc: &'static str) -> FnExport {
    let s = Arc::clone(st);
    FnExport::new("sl_forward_reply", params, RouteMask::ONREPLY, doc).with(move |ctx, a| {
        let code = match a.first() {
            Some(x) => x.bytes(ctx),
            None => Vec::new(),
        };
        let reason = match a.get(1) {
            Some(x) => x.bytes(ctx),
            None => Vec::new(),
        };
        Ok(RetCode(sl_forward_reply(ctx, &s, &code, &reason)))
    })
}

/// `sl_forward_reply([code[, reason]])` (Kamailio's `w_sl_forward_reply`): relays the received
/// reply statelessly through the core's relay path, the code replaced when given (three digits,
/// same class as the received one) and the reason when given (else the received reason is kept).
/// 1 when sent, -1 otherwise.
pub fn sl_forward_reply(ctx: &mut Ctx<'_>, st: &SlState, code: &[u8], reason: &[u8]) -> i64 {
    let Some(net) = st.net.get() else {
        ctx.log_error("sl_forward_reply: the core's relay path is not available");
        return -1;
    };
    let Some(orig) = ctx.msg.status() else {
        ctx.log_error("sl_forward_reply: not a reply");
        return -1;
    };
    let status = if code.is_empty() {
        None
    } else {
        let new = match std::str::from_utf8(code).ok().and_then(|c| {
            (c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit()))
                .then(|| c.parse::<u16>().ok())
                .flatten()
        }) {
            Some(c) if c >= 100 => c,
            _ => {
                ctx.log_error(&format!(
                    "invalid reply code: {}",
                    String::from_utf8_lossy(code)
                ));
                return -1;
            }
        };
        if new / 100 != orig / 100 {
            ctx.log_error(&format!(
                "reply code class cannot be changed: {orig} to {new}"
            ));
            return -1;
        }
        let reason = if reason.is_empty() {
            let m = &*ctx.msg;
            m.status_line()
                .map(|l| l.reason.of(m.buf()).to_vec())
                .unwrap_or_default()
        } else {
            reason.to_vec()
        };
        Some((new, reason))
    };
    let st2 = status.as_ref().map(|(c, r)| (*c, r.as_slice()));
    match net.0.forward_reply(ctx, st2) {
        Ok(()) => 1,
        Err(e) => {
            ctx.log_error(&format!("sl_forward_reply: {e}"));
            -1
        }
    }
}

/// Sends a stateless reply for the request in `ctx` (Kamailio's `sl_reply_helper`): 1 on
/// success, -1 on failure (ACK, bad code or reason, a reply message, unparsable request, send
/// error). Used by `sl_send_reply` and `send_reply`.
pub fn send_reply(ctx: &mut Ctx<'_>, st: &SlState, code: i64, reason: &[u8]) -> i64 {
    match u16::try_from(code).ok().filter(|c| (100..=699).contains(c)) {
        Some(c) => st.reply(ctx, c, reason, &[]),
        None => {
            st.failures.fetch_add(1, Ordering::Relaxed);
            ctx.log_error(&format!("invalid reply code {code}"));
            -1
        }
    }
}

/// sl's to-tag for the request in `ctx` (`$ltt(s)`): `None` for replies or unparsable requests.
pub fn local_to_tag(ctx: &Ctx<'_>) -> Option<Vec<u8>> {
    if !ctx.msg.is_request() {
        return None;
    }
    build::reply_to_tag(ctx.msg, &generator(seed(ctx)))
        .ok()
        .map(|t| t.to_vec())
}

/// The to-tag seed address: the first listening socket, as Kamailio's `sl_startup` takes it
/// (`sock_info` list head); the receiving socket when the server lists none. The server must pass
/// the same address to [`SlApi::filter_ack`].
pub fn seed(ctx: &Ctx<'_>) -> SocketAddr {
    ctx.server.sockets().first().map_or(ctx.rcv.dst, |s| s.addr)
}

/// Kamailio's `err2reason` for the core error code (`MsgState::ser_error`, `E_*`): the core sets
/// none yet, so every error is `E_UNSPEC` (-1): `500 I'm terribly sorry, server error occurred
/// (1/SL)` (checked against Kamailio 5.6.3). Other codes keep the generic text with their number.
pub fn error_reason(ser_error: i32) -> (u16, String) {
    err2reason(ser_error, "SL")
}

/// Kamailio's `E_SEND`: the request could not be sent to the next hop.
pub const E_SEND: i32 = -477;
/// Kamailio's `E_BAD_ADDRESS`: the next hop does not resolve.
pub const E_BAD_ADDRESS: i32 = -478;

/// Kamailio's `err2reason`: status and reason for a core error code, tagged `(n/SL)` or `(n/TM)`.
pub fn err2reason(ser_error: i32, who: &str) -> (u16, String) {
    match ser_error {
        E_SEND => (
            477,
            format!("Unfortunately error on sending to next hop occurred (477/{who})"),
        ),
        E_BAD_ADDRESS => (478, format!("Unresolvable destination (478/{who})")),
        _ => {
            let n = if ser_error < 0 {
                -i64::from(ser_error)
            } else {
                1
            };
            (
                500,
                format!("I'm terribly sorry, server error occurred ({n}/{who})"),
            )
        }
    }
}

fn error_reply(name: &'static str, routes: RouteMask, st: &Arc<SlState>) -> FnExport {
    let s = Arc::clone(st);
    FnExport::new(
        name,
        &[],
        routes,
        "reply with the core's last error (MsgState::ser_error) as Kamailio's err2reason",
    )
    .with(move |ctx, _| {
        let (code, reason) = error_reason(ctx.state.ser_error);
        ctx.log_error(&format!("{name}(): stateless error reply used: {reason}"));
        Ok(RetCode(send_reply(
            ctx,
            &s,
            i64::from(code),
            reason.as_bytes(),
        )))
    })
}

// ---- internals ----

/// The to-tag generator seeded with `local` (see [`seed`]).
/// sl's to-tag generator for the first listening socket `local`. Its fixed part is an MD5 of the
/// address, which Kamailio computes once at startup; here once per thread and socket (a cache
/// of one: every reply of a server uses the same first socket).
pub(crate) fn generator(local: SocketAddr) -> ToTagGenerator {
    thread_local! {
        static LAST: std::cell::Cell<Option<(SocketAddr, ToTagGenerator)>> =
            const { std::cell::Cell::new(None) };
    }
    LAST.with(|last| match last.get() {
        Some((a, g)) if a == local => g,
        _ => {
            let addr = match local.ip() {
                IpAddr::V4(ip) => ip.to_string(),
                IpAddr::V6(ip) => format!("[{ip}]"),
            };
            let g = ToTagGenerator::new(
                SL_TOTAG_SIGNATURE,
                SL_TOTAG_SEPARATOR,
                addr.as_bytes(),
                local.port().to_string().as_bytes(),
            );
            last.set(Some((local, g)));
            g
        }
    })
}

fn transport(p: Proto) -> Transport {
    match p {
        Proto::Udp => Transport::Udp,
        Proto::Tcp => Transport::Tcp,
        Proto::Tls => Transport::Tls,
        Proto::Sctp => Transport::Sctp,
        Proto::Ws => Transport::Ws,
        Proto::Wss => Transport::Wss,
    }
}

/// Builds and sends the reply; the headers queued on the message (with the caller's extra ones
/// already appended) and the body are borrowed, not copied.
fn try_send(ctx: &mut Ctx<'_>, st: &SlState, code: u16, reason: &[u8]) -> Result<(), String> {
    if reason.is_empty() {
        return Err("reply reason is null or empty".into());
    }
    if !ctx.msg.is_request() {
        return Err(String::new());
    }
    if ctx.msg.method() == Some(Method::Ack) {
        return Err(String::new()); // Kamailio never replies to ACK, silently
    }
    // A 3xx carries the destination set as Contact (Kamailio's print_dset).
    if (300..400).contains(&code) {
        if let Some(c) = contact_set(ctx, st.config().rich_redirect) {
            reply_lumps::add_header(ctx, &c);
        }
    }
    let dst = reply_dest(ctx).map_err(|e| format!("cannot lookup reply dst: {e}"))?;
    let sock = SocketInfo {
        ip: ctx.rcv.dst.ip(),
        port: ctx.rcv.dst.port(),
        proto: transport(ctx.rcv.proto),
        advertise: None,
        sockname: "",
    };
    let rcv = build::RecvInfo {
        src_ip: ctx.rcv.src.ip(),
        src_port: ctx.rcv.src.port(),
        socket: &sock,
        proto: transport(ctx.rcv.proto),
        conn_id: 0,
    };
    let gen = generator(seed(ctx));
    // Borrowed, not cloned, and the Warning's pid (a system call) only when it is sent.
    let core = ctx.server.core_params();
    let opts = ReplyOptions {
        extra_headers: &ctx.state.reply_hdrs,
        body: ctx.state.reply_body.as_deref(),
        force_rport: ctx.state.msg_flags & FL_FORCE_RPORT != 0,
        server_header: core
            .server_signature
            .then_some(core.server_header.as_bytes()),
        warning: core.sip_warning.then(|| build::WarningInfo {
            pid: std::process::id(),
            new_ruri: ctx.state.new_uri.as_deref(),
        }),
        ..ReplyOptions::default()
    };
    let mut buf = build::sl_reply(ctx.msg, &rcv, code, reason, &gen, &opts)
        .map_err(|e| format!("response building failed: {e}"))?;
    let http = http::is_http(ctx.msg);
    if http {
        http::rename_vias(ctx.msg, &mut buf);
    }
    ctx.server
        .send(&dst, &buf)
        .map_err(|e| format!("failed to send reply: {e}"))?;
    // Kamailio raises the SIP-reply-out event for SIP requests only.
    if let Some(ro) = st.reply_out.get().filter(|_| !http) {
        ro.run_bytes(&buf);
    }
    let deadline = st.now_ms() + u64::try_from(ACK_WAIT.as_millis()).unwrap_or(2000);
    st.ack_deadline_ms.store(deadline, Ordering::Relaxed);
    local_response_route(ctx, &buf, dst);
    ferrosip_sipmsg::pool::give_bytes(buf);
    Ok(())
}

/// `event_route[sl:local-response]`: run after a local reply was sent, with the reply as the
/// message (Kamailio runs it on the sent reply). A failure there does not undo the reply.
fn local_response_route(ctx: &mut Ctx<'_>, reply: &[u8], dst: Dest) {
    let Some(runner) = ctx.routes.clone() else {
        return;
    };
    let Some(index) = runner.event_route("sl:local-response") else {
        return;
    };
    let Ok(mut msg) = Msg::parse(reply.to_vec()) else {
        return;
    };
    let rcv = ferrosip_api::RecvInfo {
        src: ctx.rcv.dst,
        dst: dst.addr,
        proto: dst.proto,
        socket: dst.socket,
    };
    let worker: &mut ferrosip_api::WorkerState = ctx.worker;
    let server: &mut dyn ferrosip_api::Server = ctx.server;
    let Ok(mut sub) = Ctx::new(
        &mut msg,
        ferrosip_api::RouteType::Event,
        rcv,
        worker,
        server,
    ) else {
        return;
    };
    sub.routes = Some(runner.clone());
    if let Err(e) = runner.run(index, &mut sub) {
        sub.log_error(&format!("event_route[sl:local-response]: {e}"));
    }
}

/// Kamailio's `update_sock_struct_from_ip`: source IP; source port when the top Via has `rport`,
/// else the Via's port or 5060. Connection-oriented transports answer on the connection (the
/// source address).
fn reply_dest(ctx: &Ctx<'_>) -> Result<Dest, String> {
    let src = ctx.rcv.src;
    let port = if ctx.rcv.proto != Proto::Udp {
        src.port()
    } else {
        let via = ctx.msg.via1().map_err(|e| e.to_string())?;
        if via.rport.is_some() || ctx.state.msg_flags & FL_FORCE_RPORT != 0 {
            src.port()
        } else {
            via.port.unwrap_or(5060)
        }
    };
    Ok(Dest {
        addr: SocketAddr::new(src.ip(), port),
        proto: ctx.rcv.proto,
        socket: ctx.rcv.socket,
    })
}

/// `Contact: <uri>[;q=..][;flags=..], …\r\n` of the new R-URI and the branches, or `None`.
fn contact_set(ctx: &Ctx<'_>, rich: i64) -> Option<Vec<u8>> {
    let mut items: Vec<(Vec<u8>, i32, u32)> = Vec::new();
    if let Some(u) = &ctx.state.new_uri {
        items.push((u.clone(), -1, ctx.state.bflags));
    }
    for b in &ctx.state.branches {
        items.push((b.uri.clone(), b.q, b.flags));
    }
    if items.is_empty() {
        return None;
    }
    let mut out = b"Contact: ".to_vec();
    for (i, (uri, q, flags)) in items.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.push(b'<');
        out.extend_from_slice(uri);
        out.push(b'>');
        if *q >= 0 {
            out.extend_from_slice(b";q=");
            out.extend_from_slice(q_text(*q).as_bytes());
        }
        if rich & 1 != 0 {
            out.extend_from_slice(format!(";flags={flags}").as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// Kamailio's `q2str`: q×1000 as a decimal without trailing zeros (`1`, `0.5`, `0.05`).
pub fn q_text(q: i32) -> String {
    if q >= 1000 {
        return "1".into();
    }
    if q <= 0 {
        return "0".into();
    }
    let frac = format!("{q:03}");
    format!("0.{}", frac.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn q_values() {
        let cases = [
            (1000, "1"),
            (500, "0.5"),
            (50, "0.05"),
            (123, "0.123"),
            (0, "0"),
        ];
        for (q, want) in cases {
            assert_eq!(q_text(q), want, "{q}");
        }
    }

    #[test]
    fn counters_by_class() {
        let s = SlState::new();
        for c in [100, 180, 200, 202, 204, 302, 404, 486, 500, 503, 603, 700] {
            s.count(c);
        }
        let st = s.stats();
        let get = |n: &str| st.replies.iter().find(|(x, _)| *x == n).map(|(_, v)| *v);
        assert_eq!(get("1xx_replies"), Some(2));
        assert_eq!(get("2xx_replies"), Some(1));
        assert_eq!(get("4xx_replies"), Some(1));
        assert_eq!(get("5xx_replies"), Some(1));
        assert_eq!(get("xxx_replies"), Some(1));
        assert_eq!(st.sent, 12);
        assert_eq!(st.sent_err, 0, "Kamailio never counts sent_err_replies");
    }

    #[test]
    fn rpc_shape_is_kamailios() {
        let s = SlState::new();
        for c in [100, 200, 200, 483, 799] {
            s.count(c);
        }
        let RpcValue::Struct(m) = rpc_stats(&s.stats()) else {
            panic!("struct expected");
        };
        let names: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            [
                "200", "202", "2xx", "300", "301", "302", "3xx", "400", "401", "403", "404", "407",
                "408", "483", "4xx", "500", "5xx", "6xx", "xxx"
            ]
        );
        let get = |n: &str| m.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("200"), Some(RpcValue::Int(2)));
        assert_eq!(get("483"), Some(RpcValue::Int(1)));
        assert_eq!(get("xxx"), Some(RpcValue::Int(1)));
    }
}
