//! `dlgs`: lightweight dialog tracking without transactions (Kamailio's dlgs module, as in
//! Kamailio 6.0). `dlgs_init()` starts tracking the call of an INVITE by its Call-ID with three
//! free attributes (`src`, `dst`, `data`); requests passed to `dlgs_update()` (ACK, CANCEL, BYE)
//! and replies to the INVITE move it through INIT → PROGRESS → ANSWERED → CONFIRMED →
//! TERMINATED, or to NOTANSWERED; `dlgs_count()` and `dlgs_tags_*()` count ongoing calls; the
//! `dlgs.*` RPCs list them; a timer (`timer_interval`) removes records past their lifetime.
//!
//! How replies reach the state machine: in Kamailio, dlgs subscribes to the core's "SIP reply
//! out" event (fired by sl for local replies and by tm for local and relayed replies); here that
//! is [`DlgsApi::on_reply_out`], which sl/tm must call for each reply they send. A reply routed
//! through `onreply_route` also updates the record when the script calls `dlgs_init()` there,
//! as in Kamailio. `dlgs_update()` is, as in Kamailio, refused in reply routes.
//!
//! Not here: the serial-forking tracking by Via branch and the `dlgs.count` RPC that Kamailio
//! added after 6.0 (Call-ID alone identifies a record, as in 6.0); KEMI.

pub mod fnmatch;
pub mod rpc;
pub mod table;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType as T, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask};
use ferrosip_sipmsg::{Method, Msg};

use table::{Event, Filter, Keys, Lifetimes, State, Table};

/// The frozen modparams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DlgsConfig {
    /// Number of slots of the table (`2^hash_size`).
    pub slots: usize,
    /// Seconds between expiry runs.
    pub timer_interval: u64,
    /// Lifetimes.
    pub lifetimes: Lifetimes,
}

impl Default for DlgsConfig {
    fn default() -> DlgsConfig {
        DlgsConfig {
            slots: 512,
            timer_interval: 30,
            lifetimes: Lifetimes::default(),
        }
    }
}

impl DlgsConfig {
    /// Reads the modparams the way Kamailio's mod_init does: `hash_size` is a power of two
    /// exponent (values above 16 are 16, values below 2 keep 512 slots), a `timer_interval`
    /// <= 0 is 30, and lifetimes are C `int`s stored as `unsigned int` (a negative one is a
    /// lifetime of about 136 years).
    pub fn from_params(params: &[(&'static str, ModValue)]) -> DlgsConfig {
        let mut c = DlgsConfig::default();
        // C int semantics on purpose: Kamailio keeps these in `int` and then `unsigned int`.
        let as_uint = |v: i64| u64::from(v as i32 as u32);
        for (name, v) in params {
            let ModValue::Int(v) = v else { continue };
            match *name {
                "hash_size" if *v > 1 => c.slots = 1 << (*v).min(16),
                "hash_size" => c.slots = 512,
                "timer_interval" => c.timer_interval = if *v > 0 { as_uint(*v) } else { 30 },
                "init_lifetime" => c.lifetimes.init = as_uint(*v),
                "active_lifetime" => c.lifetimes.active = as_uint(*v),
                "finish_lifetime" => c.lifetimes.finish = as_uint(*v),
                _ => {}
            }
        }
        c
    }
}

/// The module's state, offered to other modules and to the server (`ctx.api::<DlgsApi>()`).
#[derive(Debug)]
pub struct DlgsApi {
    config: DlgsConfig,
    table: Table,
    // 0 = wall clock; otherwise the pinned time in seconds (tests).
    pinned_now: AtomicU64,
}

impl DlgsApi {
    /// An API with this configuration, record ids based on `started` (seconds).
    pub fn new(config: DlgsConfig, started: u64) -> DlgsApi {
        DlgsApi {
            config,
            table: Table::new(config.slots, config.lifetimes, started),
            pinned_now: AtomicU64::new(0),
        }
    }

    /// The frozen modparams.
    pub fn config(&self) -> DlgsConfig {
        self.config
    }

    /// The table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// The clock used to stamp records: the wall clock, or the pinned time.
    pub fn now(&self) -> u64 {
        match self.pinned_now.load(Ordering::Relaxed) {
            0 => wall_secs(),
            n => n,
        }
    }

    /// Pins the clock (seconds; `0` = wall clock again).
    pub fn set_now(&self, now: u64) {
        self.pinned_now.store(now, Ordering::Relaxed);
    }

    /// The expiry sweep at `now` (seconds): what the timer runs every `timer_interval`.
    /// Returns the number of records removed.
    pub fn timer(&self, now: u64) -> usize {
        self.table.expire(now)
    }

    /// A reply leaving the server (Kamailio's `SREV_SIP_REPLY_OUT` callback): replies to the
    /// INVITE move the tracked dialog (1xx → PROGRESS, 2xx → ANSWERED, >= 300 → NOTANSWERED).
    /// sl calls this for its local replies and tm for local and relayed replies (after
    /// `onreply_route`, unless the script dropped the reply). Returns the (old, new) state, `None`
    /// when the Call-ID is not tracked; `Err` for a reply without the needed headers.
    pub fn on_reply_out(&self, reply: &Msg) -> Result<Option<(State, State)>, String> {
        self.update_from(reply)
    }

    /// Applies a request or a reply to its dialog (what `dlgs_update()` does).
    pub fn update_from(&self, msg: &Msg) -> Result<Option<(State, State)>, String> {
        let ev = event(msg)?;
        let k = keys(msg)?;
        Ok(self.table.update(k.callid, ev, self.now()))
    }

    /// `dlgs_init` on a message: an INVITE starts tracking; another request is an update; a
    /// reply updates a tracked dialog but cannot start one. That last rule is Kamailio 6.0's
    /// observable behaviour: its record constructor checks the request method on the reply too,
    /// so only an already tracked Call-ID is updated.
    pub fn init_from(&self, msg: &Msg, src: &[u8], dst: &[u8], data: &[u8]) -> Result<(), String> {
        match event(msg)? {
            Event::Request(Method::Invite) => {
                let k = keys(msg)?;
                self.table.add(&k, src, dst, data, self.now());
                Ok(())
            }
            Event::Request(_) => self.update_from(msg).map(|_| ()),
            Event::Reply { cseq, .. } => {
                let k = keys(msg)?;
                let mut result = Ok(());
                if cseq == Method::Invite && !self.table.contains(k.callid) {
                    result = Err("executed for non-INVITE request: a reply cannot start \
                                  tracking a dialog"
                        .to_string());
                }
                self.update_from(msg)?;
                result
            }
        }
    }
}

/// The `dlgs` export table.
pub fn exports() -> ModuleExports {
    let api: Arc<OnceLock<Arc<DlgsApi>>> = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("dlgs");
    m.params = vec![
        ModParam::new(
            "hash_size",
            T::Int,
            "table size as a power of two exponent (9: 512 slots; at most 16)",
        ),
        ModParam::new("timer_interval", T::Int, "seconds between expiry runs (30)"),
        ModParam::new(
            "init_lifetime",
            T::Int,
            "seconds a dialog may stay unconfirmed, from its INVITE (180)",
        ),
        ModParam::new(
            "active_lifetime",
            T::Int,
            "seconds a confirmed dialog is kept, from its 2xx (10800)",
        ),
        ModParam::new(
            "finish_lifetime",
            T::Int,
            "seconds a finished dialog is kept, from its end (10)",
        ),
    ];
    m.functions = functions(&api);
    m.rpcs = rpc::rpcs(Arc::clone(&api));
    let slot = Arc::clone(&api);
    m.init = Some(Arc::new(move |ictx| {
        let cfg = DlgsConfig::from_params(ictx.modparams());
        let a = Arc::new(DlgsApi::new(cfg, wall_secs()));
        slot.set(Arc::clone(&a))
            .map_err(|_| Error::Init("dlgs initialised twice".into()))?;
        let t = Arc::clone(&a);
        ictx.register_timer(
            "dlgs expiry",
            Duration::from_secs(cfg.timer_interval),
            Arc::new(move |ms| {
                t.timer(ms / 1000);
            }),
        )?;
        // Replies sent by sl and tm (the core's "SIP reply out" event in Kamailio).
        let watcher = Arc::clone(&a);
        ictx.reply_out().add(Arc::new(move |reply| {
            let _ = watcher.on_reply_out(reply);
        }));
        ictx.provide(a);
        Ok(())
    }));
    m
}

// ---- internals ----

type Api = Arc<OnceLock<Arc<DlgsApi>>>;

fn functions(api: &Api) -> Vec<FnExport> {
    let init_routes = RouteMask::REQUEST
        .or(RouteMask::BRANCH)
        .or(RouteMask::ONREPLY)
        .or(RouteMask::ONSEND);
    let update_routes = RouteMask::REQUEST
        .or(RouteMask::BRANCH)
        .or(RouteMask::ONSEND);
    let with = |f: fn(&DlgsApi, &mut Ctx<'_>, &[Arg]) -> RetCode| {
        let a = Arc::clone(api);
        move |ctx: &mut Ctx<'_>, args: &[Arg]| match a.get() {
            Some(api) => Ok(f(api, ctx, args)),
            None => Err(Error::Runtime("dlgs not initialised".into())),
        }
    };
    vec![
        FnExport::new(
            "dlgs_init",
            &[K::Spve, K::Spve, K::Spve],
            init_routes,
            "start tracking the dialog of an INVITE with src, dst and data attributes",
        )
        .with(with(init)),
        FnExport::new(
            "dlgs_update",
            &[],
            update_routes,
            "update the dialog state from a request (ACK, CANCEL, BYE)",
        )
        .with(with(update)),
        FnExport::new(
            "dlgs_count",
            &[K::Spve, K::Spve, K::Spve],
            RouteMask::ANY,
            "number of ongoing dialogs matching field (src|dst|data|any) op (eq|ne|re|sw|fm) data",
        )
        .with(with(count)),
        FnExport::new(
            "dlgs_tags_add",
            &[K::Spve],
            RouteMask::ANY,
            "add a tag to the current dialog",
        )
        .with(with(tags_add)),
        FnExport::new(
            "dlgs_tags_rm",
            &[K::Spve],
            RouteMask::ANY,
            "remove a tag from the current dialog",
        )
        .with(with(tags_rm)),
        FnExport::new(
            "dlgs_tags_count",
            &[K::Spve],
            RouteMask::ANY,
            "number of times a tag is set on ongoing dialogs",
        )
        .with(with(tags_count)),
    ]
}

fn arg(ctx: &mut Ctx<'_>, args: &[Arg], i: usize) -> Vec<u8> {
    args.get(i).map(|a| a.bytes(ctx)).unwrap_or_default()
}

fn log(ctx: &mut Ctx<'_>, r: Result<(), String>) {
    if let Err(e) = r {
        ctx.log_error(&format!("dlgs: {e}"));
    }
}

fn init(api: &DlgsApi, ctx: &mut Ctx<'_>, args: &[Arg]) -> RetCode {
    let (src, dst, data) = (arg(ctx, args, 0), arg(ctx, args, 1), arg(ctx, args, 2));
    let r = api.init_from(ctx.msg, &src, &dst, &data);
    log(ctx, r);
    // Kamailio's dlgs_init returns 1 whatever happened to the record.
    RetCode(1)
}

fn update(api: &DlgsApi, ctx: &mut Ctx<'_>, _: &[Arg]) -> RetCode {
    let r = api.update_from(ctx.msg).map(|_| ());
    log(ctx, r);
    RetCode(1)
}

fn count(api: &DlgsApi, ctx: &mut Ctx<'_>, args: &[Arg]) -> RetCode {
    let (field, op, data) = (arg(ctx, args, 0), arg(ctx, args, 1), arg(ctx, args, 2));
    match Filter::new(&field, &op, &data) {
        // Kamailio: an error is -1 inside, shifted to -2; no match is 0, shifted to -1.
        Err(e) => {
            ctx.log_error(&format!("dlgs: {e}"));
            RetCode(-2)
        }
        Ok(f) => match api.table.count(&f) {
            0 => RetCode(-1),
            n => RetCode(i64::try_from(n).unwrap_or(i64::MAX)),
        },
    }
}

fn tags_add(api: &DlgsApi, ctx: &mut Ctx<'_>, args: &[Arg]) -> RetCode {
    tag_op(api, ctx, args, Table::tags_add)
}

fn tags_rm(api: &DlgsApi, ctx: &mut Ctx<'_>, args: &[Arg]) -> RetCode {
    tag_op(api, ctx, args, Table::tags_rm)
}

fn tag_op(
    api: &DlgsApi,
    ctx: &mut Ctx<'_>,
    args: &[Arg],
    f: fn(&Table, &[u8], &[u8]) -> bool,
) -> RetCode {
    let tag = arg(ctx, args, 0);
    if tag.is_empty() {
        return RetCode(-1);
    }
    let callid = match keys(ctx.msg) {
        Ok(k) => k.callid.to_vec(),
        Err(e) => {
            ctx.log_error(&format!("dlgs: {e}"));
            return RetCode(-1);
        }
    };
    if f(&api.table, &callid, &tag) {
        RetCode(1)
    } else {
        RetCode(-1)
    }
}

fn tags_count(api: &DlgsApi, ctx: &mut Ctx<'_>, args: &[Arg]) -> RetCode {
    let tag = arg(ctx, args, 0);
    match api.table.tags_count(&tag) {
        0 => RetCode(-1),
        n => RetCode(i64::try_from(n).unwrap_or(i64::MAX)),
    }
}

/// What the message means for the state machine (Kamailio reads the CSeq of a reply first).
fn event(msg: &Msg) -> Result<Event<'_>, String> {
    if msg.is_request() {
        return Ok(Event::Request(msg.method().unwrap_or(Method::Other)));
    }
    let cseq = msg.cseq().map_err(|_| "no CSEQ header".to_string())?;
    let ttag = match msg.to() {
        Ok(to) => to.tag.map(|t| msg.slice(t)).unwrap_or_default(),
        Err(_) => &[],
    };
    Ok(Event::Reply {
        cseq: cseq.method,
        code: msg.status().unwrap_or(0),
        ttag,
    })
}

/// Call-ID, From tag and To tag, with Kamailio's refusals (all headers must parse; Call-ID and
/// To must be there; the From tag must not be empty).
fn keys(msg: &Msg) -> Result<Keys<'_>, String> {
    msg.headers()
        .map_err(|_| "failed to parse the request headers".to_string())?;
    let missing = || "bad request or missing Call-Id or To headers".to_string();
    let callid = msg.call_id().map_err(|_| missing())?;
    let to = msg.to().map_err(|_| missing())?;
    let ftag = msg
        .from()
        .ok()
        .and_then(|f| f.tag)
        .map(|t| msg.slice(t))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| "failed to get From header".to_string())?;
    Ok(Keys {
        callid: msg.slice(callid).trim_ascii(),
        ftag,
        ttag: to.tag.map(|t| msg.slice(t)).unwrap_or_default(),
    })
}

fn wall_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modparams_as_kamailio_reads_them() {
        let p = |n: &'static str, v: i64| (n, ModValue::Int(v));
        let cases: Vec<(Vec<(&'static str, ModValue)>, DlgsConfig)> = vec![
            (vec![], DlgsConfig::default()),
            (
                vec![p("hash_size", 5)],
                DlgsConfig {
                    slots: 32,
                    ..DlgsConfig::default()
                },
            ),
            (
                vec![p("hash_size", 40)],
                DlgsConfig {
                    slots: 1 << 16,
                    ..DlgsConfig::default()
                },
            ),
            (vec![p("hash_size", 1)], DlgsConfig::default()),
            (vec![p("hash_size", -3)], DlgsConfig::default()),
            (
                vec![p("timer_interval", 0), p("init_lifetime", 5)],
                DlgsConfig {
                    timer_interval: 30,
                    lifetimes: Lifetimes {
                        init: 5,
                        ..Lifetimes::default()
                    },
                    ..DlgsConfig::default()
                },
            ),
            (
                vec![
                    p("timer_interval", 7),
                    p("active_lifetime", 60),
                    p("finish_lifetime", -1),
                ],
                DlgsConfig {
                    timer_interval: 7,
                    lifetimes: Lifetimes {
                        active: 60,
                        finish: u64::from(u32::MAX),
                        ..Lifetimes::default()
                    },
                    ..DlgsConfig::default()
                },
            ),
            // The last value wins.
            (
                vec![p("hash_size", 3), p("hash_size", 4)],
                DlgsConfig {
                    slots: 16,
                    ..DlgsConfig::default()
                },
            ),
        ];
        for (params, want) in cases {
            assert_eq!(DlgsConfig::from_params(&params), want, "{params:?}");
        }
    }
}
