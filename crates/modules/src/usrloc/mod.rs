//! Kamailio's `usrloc` module: location tables ("domains", named by `save("location")`),
//! address-of-record records and their contacts, the expiry sweep, the `ul.*` RPC commands, and
//! the database modes `db_mode` 1 to 4 ([`db::DbStore`], Kamailio's `location` table and values). registrar reaches it through [`UlApi`] (Kamailio's `load_ul_api`), taken
//! with `InitCtx::api` at init.
//!
//! Storage sits behind [`LocationStore`] so SQL or Redis back ends can be added (DESIGN.md §3);
//! [`MemoryStore`] shards each table by AoR hash with one short `std::sync::Mutex` per shard
//! (workers are threads; a lock is held only while one record is read or changed, never across
//! I/O). Time is never read inside the store: callers pass `now` (seconds), and the expiry sweep
//! is [`UlApi::timer`], which the server's timer calls every `timer_interval` seconds — so tests
//! drive time themselves.
//!
//! Keepalives (`ka_mode`, `ka_filter`, `ka_logmsg`) and `handle_lost_tcp`/`close_expired_tcp`
//! are in [`keepalive`]; they run in the sweep, on the contacts held in memory, or in DB-only
//! mode on the rows the database gives ([`db::DbStore::ka_rows`]).
//!
//! Refused at load (docs/modules-registrar.md): `ka_interval`,
//! `ka_randomize`, `ka_reply_codes`, `handle_lost_tcp` in DB-only mode.

pub mod db;
pub mod keepalive;
pub mod rpc;
pub mod store;

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ferrosip_api::export::{ModParam, ModParamType};
use ferrosip_api::stats::{Stat, StatMode, Stats};
use ferrosip_api::{Error, ModValue, ModuleExports, NetworkApi};

pub use db::{DbConfig, DbMode, DbStore};
pub use keepalive::{KaConfig, Keepalive};
pub use store::{LocationStore, MemoryStore, Record, UContact};

/// `matching_mode`: how a REGISTER contact is matched with a stored one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchingMode {
    /// 0: contact URI only.
    #[default]
    ContactOnly,
    /// 1: contact URI and Call-ID.
    ContactCallid,
    /// 2: contact URI and Path.
    ContactPath,
    /// 3: Call-ID only.
    CallidOnly,
}

/// usrloc's frozen modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UlConfig {
    /// `use_domain`: the AoR is `user@domain` instead of `user`.
    pub use_domain: bool,
    /// `matching_mode`.
    pub matching_mode: MatchingMode,
    /// `cseq_delay`: a REGISTER with the same Call-ID and CSeq within this many seconds of the
    /// last update is a retransmission (skipped); later it is out of order (refused).
    pub cseq_delay: i64,
    /// `nat_bflag`: branch flag set on contacts behind NAT (-1 = none).
    pub nat_bflag: i32,
    /// `timer_interval`: seconds between expiry sweeps.
    pub timer_interval: i64,
    /// `desc_time_order`: newest contact first instead of ordering by q.
    pub desc_time_order: bool,
    /// `hash_size`: number of shards is `2^hash_size`.
    pub hash_size: u32,
    /// `db_mode`, `db_url`, the column names and the other database parameters.
    pub db: DbConfig,
    /// `preload`: tables created at startup (and loaded from the database).
    pub preload: Vec<String>,
    /// `xavp_contact`: the XAVP whose newest record is stored with each saved contact (in the
    /// database modes also in `<table>_attrs`) and put back by `lookup`.
    pub xavp_contact: Option<String>,
    /// The keepalive and TCP-handling modparams.
    pub ka: KaConfig,
}

impl Default for UlConfig {
    fn default() -> UlConfig {
        UlConfig {
            use_domain: false,
            matching_mode: MatchingMode::ContactOnly,
            cseq_delay: 20,
            nat_bflag: -1,
            timer_interval: 60,
            desc_time_order: false,
            hash_size: 10,
            db: DbConfig::default(),
            preload: Vec::new(),
            xavp_contact: None,
            ka: KaConfig::default(),
        }
    }
}

/// Seconds since the epoch, or a fixed value set by tests.
#[derive(Debug, Default)]
pub struct Clock {
    fixed: AtomicI64,
}

impl Clock {
    /// Now: the fixed time when one was set (tests), else the system clock.
    pub fn now(&self) -> i64 {
        let f = self.fixed.load(Ordering::Relaxed);
        if f > 0 {
            return f;
        }
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }

    /// Freezes the clock at `t` seconds (0 returns to the system clock).
    pub fn set(&self, t: i64) {
        self.fixed.store(t, Ordering::Relaxed);
    }
}

/// The usrloc API handed to registrar (Kamailio's `usrloc_api_t`).
#[derive(Debug)]
pub struct UlApi {
    config: UlConfig,
    store: Arc<dyn LocationStore>,
    clock: Arc<Clock>,
    ruid_counter: AtomicU64,
    started: i64,
    /// The statistics registry, when the server has one (tests may run without).
    stats: Option<Arc<Stats>>,
    /// `usrloc:<table>_expires` per table: contacts removed by the expiry sweep.
    expired: Mutex<Vec<(String, Arc<Stat>)>>,
    /// The database store (db_mode 1 to 4), also reachable as `store`.
    db: Option<Arc<DbStore>>,
    /// Keepalives and TCP handling.
    ka: Keepalive,
    /// The core's network (keepalives, connection checks), set at init.
    net: OnceLock<NetworkApi>,
    /// Set at shutdown: the last sweep sends no keepalives.
    stopping: AtomicBool,
    /// Called after each sweep with the contacts it removed (registrar's
    /// `event_route[usrloc:contact-expired]`, Kamailio's `UL_CONTACT_EXPIRE` callback).
    on_expired: OnceLock<ExpiredHook>,
}

/// What [`UlApi::on_expired`] is given: called with (table, AoR, contact) of each contact a
/// sweep removed.
/// `wanted` says whether it has anything to do (the config has the event route), so a sweep
/// lists (and in DB-only mode reads) the expired contacts only then.
#[derive(Clone)]
pub struct ExpiredHook {
    /// True when the hook wants the contacts.
    pub wanted: Arc<dyn Fn() -> bool + Send + Sync>,
    /// Called with the contacts.
    pub run: Arc<dyn Fn(Vec<Expired>) + Send + Sync>,
}

/// A contact a sweep removed: (table, AoR, contact).
pub type Expired = (String, String, UContact);

impl std::fmt::Debug for ExpiredHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExpiredHook")
    }
}

impl UlApi {
    /// An API over `store`.
    pub fn new(config: UlConfig, store: Arc<dyn LocationStore>, clock: Arc<Clock>) -> UlApi {
        let started = clock.now();
        let ka = Keepalive::new(config.ka.clone(), config.nat_bflag);
        UlApi {
            ka,
            net: OnceLock::new(),
            stopping: AtomicBool::new(false),
            on_expired: OnceLock::new(),
            config,
            store,
            clock,
            ruid_counter: AtomicU64::new(0),
            started,
            stats: None,
            expired: Mutex::new(Vec::new()),
            db: None,
        }
    }

    /// An API over a database store (db_mode 1 to 4).
    pub fn with_db(config: UlConfig, store: Arc<DbStore>, clock: Arc<Clock>) -> UlApi {
        let s: Arc<dyn LocationStore> = store.clone();
        let mut a = UlApi::new(config, s, clock);
        a.db = Some(store);
        a
    }

    /// The database error met by this thread's last store call (write-through and DB-only
    /// writes, DB-only reads), cleared by the call; `None` when it succeeded or in memory mode.
    /// Kamailio's registrar answers such a REGISTER with a 500.
    pub fn take_db_error(&self) -> Option<String> {
        db::take_error()
    }

    /// The database store, when `db_mode` is not 0.
    pub fn db_store(&self) -> Option<&DbStore> {
        self.db.as_deref()
    }

    /// `ul.flush` and shutdown: the expiry sweep, then every queued database write (write-back);
    /// returns the writes done.
    pub fn flush(&self) -> Result<usize, String> {
        self.timer(self.clock.now());
        match &self.db {
            Some(d) if d.config().mode.writes() => d.flush(),
            _ => Ok(0),
        }
    }

    /// Registers the statistics in `stats` (Kamailio's `usrloc` group): `registered_users`
    /// now, the per-table `<table>_users`, `<table>_contacts` and `<table>_expires` as tables
    /// are created.
    pub fn with_stats(mut self, stats: Arc<Stats>) -> Result<UlApi, Error> {
        let store = Arc::clone(&self.store);
        stats.computed(
            "usrloc",
            "registered_users",
            "number of AoRs over all location tables",
            Arc::new(move || {
                store
                    .domains()
                    .iter()
                    .map(|d| store.counts(d).0 as u64)
                    .sum()
            }),
            None,
        )?;
        self.stats = Some(stats);
        Ok(self)
    }

    /// The frozen modparams.
    pub fn config(&self) -> &UlConfig {
        &self.config
    }

    /// The storage.
    pub fn store(&self) -> &dyn LocationStore {
        self.store.as_ref()
    }

    /// The clock registrar uses for `act_time`.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Creates a location table (`register_udomain`) with its statistics; registering it twice
    /// is fine.
    pub fn register_udomain(&self, name: &str) {
        if self.store.has_domain(name) {
            return;
        }
        self.store.register_domain(name);
        let Some(stats) = &self.stats else { return };
        let mut expired = lock(&self.expired);
        if expired.iter().any(|(n, _)| n == name) {
            return;
        }
        // Kamailio names them `<table><ksr_stats_namesep><what>`, the separator being `_`;
        // users and contacts are gauges (no reset), expires a resettable counter.
        for (what, pick) in [("users", 0usize), ("contacts", 1)] {
            let (store, table) = (Arc::clone(&self.store), name.to_string());
            let _ = stats.computed(
                "usrloc",
                &format!("{name}_{what}"),
                "",
                Arc::new(move || {
                    let (users, contacts, _) = store.counts(&table);
                    (if pick == 0 { users } else { contacts }) as u64
                }),
                None,
            );
        }
        if let Ok(st) = stats.counter(
            "usrloc",
            &format!("{name}_expires"),
            "",
            StatMode::Resettable,
        ) {
            expired.push((name.to_string(), st));
        }
    }

    /// The keepalives.
    pub fn keepalive(&self) -> &Keepalive {
        &self.ka
    }

    /// Whether TCP/TLS/WS connection `id` is still open (`None`: no network, or the server
    /// cannot tell), for registrar's `lookup_filter_mode` 2.
    pub fn conn_alive(&self, id: u64) -> Option<bool> {
        self.net.get()?.0.conn_alive(id)
    }

    /// Gives the API the core's network (keepalives, connection checks).
    pub fn set_network(&self, net: NetworkApi) {
        let _ = self.net.set(net);
    }

    /// The expiry sweep (Kamailio's `ul_timer`): keepalives and lost connections first
    /// ([`Keepalive::sweep`]), then removes contacts expired at `now` and empty records, counts
    /// them in `<table>_expires` (closing their connections with `close_expired_tcp`); returns
    /// how many contacts were removed.
    pub fn timer(&self, now: i64) -> usize {
        // Kamailio sends no keepalives once the modules are being destroyed.
        if !self.stopping.load(Ordering::Relaxed) {
            if let Some(mem) = self.store.memory() {
                self.ka.sweep(mem, self.net.get(), now);
            } else if let Some(db) = self.db.as_ref().filter(|_| self.config.ka.mode != 0) {
                // DB-only: the rows are the contacts (Kamailio's ul_ka_db_records).
                let ka = &self.config.ka;
                let rows = db.ka_rows(
                    now,
                    ka.mode & keepalive::KA_NAT != 0,
                    ka.filter_server_id.then_some(0),
                );
                self.ka.sweep_rows(rows, self.net.get(), now);
            }
        }
        let mut closing = Vec::new();
        if self.config.ka.close_expired_tcp {
            if let Some(mem) = self.store.memory() {
                mem.for_each_mut(&mut |_, _, list| {
                    closing.extend(
                        list.iter()
                            .filter(|c| c.tcpconn_id > 0 && !c.is_valid(now))
                            .filter_map(|c| u64::try_from(c.tcpconn_id).ok()),
                    );
                });
            }
        }
        let mut listed = Vec::new();
        let hook = self.on_expired.get().filter(|h| (h.wanted)());
        let gone = match hook {
            Some(_) => self.store.expire_listed(now, &mut listed),
            None => self.store.expire(now),
        };
        if let Some(net) = self.net.get() {
            for id in closing {
                net.0.close_conn(id);
            }
        }
        let expired = lock(&self.expired);
        for (table, n) in &gone {
            if let Some((_, st)) = expired.iter().find(|(t, _)| t == table) {
                st.add(i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
        drop(expired);
        // after the sweep, no lock held: the hook runs script routes
        if let Some(h) = hook.filter(|_| !listed.is_empty()) {
            (h.run)(listed);
        }
        gone.iter().map(|(_, n)| n).sum()
    }

    /// Sets the hook called after each sweep with the contacts it removed (once, at init).
    pub fn on_expired(&self, hook: ExpiredHook) {
        let _ = self.on_expired.set(hook);
    }

    /// A new record id: `uloc-<start time hex>-<pid hex>-<counter>`, unique per server run
    /// (Kamailio's sruid in `SRUID_INC` mode has the same shape).
    pub fn next_ruid(&self) -> String {
        let n = self.ruid_counter.fetch_add(1, Ordering::Relaxed) + 1;
        format!("uloc-{:x}-{:x}-{n}", self.started, std::process::id())
    }
}

/// The `usrloc` export table.
pub fn exports() -> ModuleExports {
    let api: Arc<OnceLock<Arc<UlApi>>> = Arc::new(OnceLock::new());
    let net: Arc<OnceLock<NetworkApi>> = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("usrloc");
    m.params = params();
    m.rpcs = rpc::rpcs(Arc::clone(&api));
    let (slot, n) = (Arc::clone(&api), Arc::clone(&net));
    m.init = Some(Arc::new(move |ictx| {
        let cfg = config_from(ictx.modparams())?;
        let clock = Arc::new(Clock::default());
        let a = if cfg.db.mode == DbMode::NoDb {
            let store: Arc<dyn LocationStore> = Arc::new(MemoryStore::new(cfg.hash_size));
            UlApi::new(cfg.clone(), store, clock)
        } else {
            let store = Arc::new(
                DbStore::new(
                    cfg.db.clone(),
                    cfg.hash_size,
                    cfg.use_domain,
                    cfg.desc_time_order,
                )
                .with_matching(cfg.matching_mode)
                .with_nat_bflag(cfg.nat_bflag)
                .with_attrs(cfg.xavp_contact.is_some()),
            );
            store.set_drivers(crate::db::DbDrivers::of(ictx));
            UlApi::with_db(cfg.clone(), store, clock)
        };
        if cfg.db.mode == DbMode::DbOnly && cfg.ka.handle_lost_tcp {
            return Err(Error::Config(
                "usrloc: handle_lost_tcp works on contacts in memory; not with db_mode 3".into(),
            ));
        }
        let a = Arc::new(a.with_stats(ictx.stats())?);
        if let Some(net) = ictx.api::<NetworkApi>() {
            let _ = n.set((*net).clone());
            a.set_network((*net).clone());
        }
        if let Some(text) = &cfg.ka.logmsg {
            a.ka.set_logfmt(logmsg_format(text)?);
        }
        if cfg.ka.mode != 0 {
            let (ul, hooks) = (Arc::clone(&a), ictx.net_hooks());
            hooks.add_reply_in(Arc::new(move |msg, rcv| {
                ul.ka.on_reply(msg, rcv, ul.net.get())
            }));
        }
        if cfg.ka.handle_lost_tcp {
            let (ul, hooks) = (Arc::clone(&a), ictx.net_hooks());
            hooks.add_conn_closed(Arc::new(move |id| {
                if let Some(mem) = ul.store.memory() {
                    ul.ka.conn_closed(mem, id);
                }
            }));
        }
        for t in &cfg.preload {
            a.register_udomain(t);
        }
        slot.set(Arc::clone(&a))
            .map_err(|_| Error::Init("usrloc initialised twice".into()))?;
        ictx.provide(a);
        Ok(())
    }));
    let (slot, n) = (Arc::clone(&api), Arc::clone(&net));
    m.child_init = Some(Arc::new(move |_rank| {
        // Kamailio loads in the child of rank load_rank; ferrosip's workers are threads of one
        // process whose child_init runs once, after the fork and the bind.
        let Some(d) = slot.get().and_then(|a| a.db.clone()) else {
            return Ok(());
        };
        let sockets = match n.get().map(|n| n.0.server()) {
            Some(Ok(srv)) => srv.sockets().iter().map(|s| s.socket_str()).collect(),
            _ => Vec::new(),
        };
        d.open(sockets).map(drop).map_err(Error::Init)
    }));
    let slot = Arc::clone(&api);
    m.destroy = Some(Arc::new(move || {
        // Kamailio's destroy synchronises every table (write-back flush); read-only writes nothing.
        if let Some(a) = slot.get() {
            a.stopping.store(true, Ordering::Relaxed);
        }
        if let Some(a) = slot.get().filter(|a| a.db.is_some()) {
            if let Err(e) = a.flush() {
                tracing::error!("usrloc: flush at shutdown: {e}");
            }
        }
    }));
    m
}

// ---- internals ----

/// `ka_logmsg` parsed against the variables of the core and the pv module (the ones a reply
/// gives values to: `$tu`, `$fu`, `$rs`, `$rr`, `$si`, `$sp`, `$sas`, `$hdr(…)` …); another
/// module's variable is refused at load.
fn logmsg_format(text: &str) -> Result<ferrosip_api::Format, Error> {
    let mut reg = ferrosip_api::Registry::new();
    let mut core = ModuleExports::new("core");
    core.pvs = ferrosip_api::store::core_pvs();
    reg.add(core)?;
    reg.add(crate::pv::exports())?;
    reg.parse_format(text)
        .map_err(|e| Error::Config(format!("usrloc: ka_logmsg \"{text}\": {e}")))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn config_from(params: &[(&'static str, ModValue)]) -> Result<UlConfig, Error> {
    let mut c = UlConfig::default();
    for (name, v) in params {
        let i = match v {
            ModValue::Int(i) => *i,
            ModValue::Str(s) => {
                match *name {
                    "db_url" => c.db.url = s.clone(),
                    "preload" => c.preload.push(s.clone()),
                    "xavp_contact" => c.xavp_contact = Some(s.clone()).filter(|s| !s.is_empty()),
                    "ka_from" => c.ka.from = s.clone(),
                    "ka_domain" => c.ka.domain = s.clone(),
                    "ka_method" => c.ka.method = s.clone(),
                    "ka_logmsg" => c.ka.logmsg = Some(s.clone()),
                    n => {
                        c.db.cols.set(n, s);
                    }
                }
                continue;
            }
        };
        let on = i != 0;
        match *name {
            "db_mode" => {
                c.db.mode = DbMode::from_int(i)
                    .ok_or_else(|| Error::Config(format!("usrloc db_mode {i} is invalid")))?
            }
            "use_domain" => c.use_domain = on,
            "matching_mode" => {
                c.matching_mode = match i {
                    0 => MatchingMode::ContactOnly,
                    1 => MatchingMode::ContactCallid,
                    2 => MatchingMode::ContactPath,
                    3 => MatchingMode::CallidOnly,
                    _ => {
                        return Err(Error::Config(format!(
                            "usrloc matching_mode {i} is invalid"
                        )))
                    }
                }
            }
            "cseq_delay" => c.cseq_delay = i,
            "nat_bflag" => c.nat_bflag = i32::try_from(i).unwrap_or(-1),
            "timer_interval" => c.timer_interval = i.max(1),
            "desc_time_order" => c.desc_time_order = on,
            "hash_size" => c.hash_size = u32::try_from(i.clamp(1, 16)).unwrap_or(10),
            "db_load" => c.db.load = on,
            "db_insert_update" => c.db.insert_update = on,
            "db_check_update" => c.db.check_update = on,
            "db_update_as_insert" => c.db.update_as_insert = on,
            "db_timer_clean" => c.db.timer_clean = on,
            "db_ops_ruid" => c.db.ops_ruid = on,
            "version_table" => c.db.version_check = on,
            "rm_expired_delay" => c.db.rm_expired_delay = i,
            "expires_type" => c.db.expires_bigint = i == 1,
            "db_insert_null" => c.db.insert_null = on,
            "db_clean_tcp" => c.db.clean_tcp = on,
            "server_id_filter" => c.db.server_id_filter = on,
            "skip_remote_socket" => c.db.skip_remote_socket = on,
            "ka_mode" => c.ka.mode = u32::try_from(i & 7).unwrap_or(0),
            "ka_timeout" => c.ka.timeout = i.max(0),
            "ka_loglevel" => c.ka.loglevel = i32::try_from(i).unwrap_or(255),
            "ka_filter" => c.ka.filter_server_id = i & 1 != 0,
            "handle_lost_tcp" => c.ka.handle_lost_tcp = on,
            "close_expired_tcp" => c.ka.close_expired_tcp = on,
            _ => {}
        }
    }
    Ok(c)
}

fn params() -> Vec<ModParam> {
    let int = |n: &'static str, doc: &'static str| ModParam::new(n, ModParamType::Int, doc);
    let refused = |n: &'static str, ty: ModParamType, doc: &'static str| ModParam {
        implemented: false,
        ..ModParam::new(n, ty, doc)
    };
    let only = |n: &'static str, allowed: &'static [i64], doc: &'static str| {
        int(n, doc).check(move |v| match v {
            ModValue::Int(i) if allowed.contains(i) => Ok(()),
            _ => Err(format!("must be one of {allowed:?}: {doc}")),
        })
    };
    let mut v = vec![
        only(
            "db_mode",
            &[0, 1, 2, 3, 4],
            "0 memory, 1 write-through, 2 write-back, 3 DB-only, 4 load only",
        ),
        int("use_domain", "AoR is user@domain"),
        only(
            "matching_mode",
            &[0, 1, 2, 3],
            "0 contact, 1 contact+callid, 2 contact+path, 3 callid",
        ),
        int(
            "cseq_delay",
            "seconds a same-CSeq REGISTER counts as retransmission",
        ),
        int("nat_bflag", "branch flag marking contacts behind NAT"),
        int(
            "timer_interval",
            "seconds between expiry sweeps and write-back flushes",
        ),
        int(
            "timer_procs",
            "timer processes (one sweep function here: no effect)",
        ),
        int("desc_time_order", "newest contact first instead of by q"),
        int("hash_size", "log2 of the number of shards per table"),
        int(
            "rm_expired_delay",
            "seconds expired rows are kept (DB-only timer)",
        ),
        only(
            "expires_type",
            &[0, 1],
            "0 DATETIME, 1 BIGINT expires/last_modified columns",
        ),
        int("db_load", "load the table at startup (db_mode 1, 2)"),
        int(
            "db_insert_update",
            "an insert meeting the same ruid replaces the row",
        ),
        int(
            "db_check_update",
            "an update that matched no row becomes an insert",
        ),
        int("db_update_as_insert", "updates written as inserts"),
        int(
            "db_ops_ruid",
            "updates/deletes by ruid (1) or by AoR, contact, Call-ID (0)",
        ),
        int(
            "db_timer_clean",
            "db_mode 1, 2: the timer deletes expired rows",
        ),
        int("db_clean_tcp", "delete rows of TCP contacts at load"),
        only(
            "db_raw_fetch_type",
            &[0, 1],
            "raw query flavour of the DB-only keepalive fetch (no effect: one ordinary query)",
        ),
        int("db_insert_null", "inserts name the null columns too"),
        int(
            "fetch_rows",
            "rows per fetch at load (no effect: the table is read at once)",
        ),
        int(
            "server_id_filter",
            "1: load and clean only this server's rows (server_id 0, the core's)",
        ),
        int(
            "load_rank",
            "worker rank that loads (no effect: one process loads)",
        ),
        int("version_table", "0 skips the location table version check"),
        int(
            "skip_remote_socket",
            "skip rows whose socket is not one of ours at load",
        ),
        ModParam::new("db_url", ModParamType::Str, "database URL (db_mode 1 to 4)"),
        ModParam::new(
            "preload",
            ModParamType::Str,
            "location table to create (and load) at startup",
        ),
    ];
    for n in [
        "ruid_column",
        "user_column",
        "domain_column",
        "contact_column",
        "expires_column",
        "q_column",
        "callid_column",
        "cseq_column",
        "flags_column",
        "cflags_column",
        "user_agent_column",
        "received_column",
        "path_column",
        "socket_column",
        "methods_column",
        "instance_column",
        "reg_id_column",
        "server_id_column",
        "connection_id_column",
        "keepalive_column",
        "partition_column",
    ] {
        v.push(ModParam::new(n, ModParamType::Str, "DB column name"));
    }
    v.push(ModParam::new(
        "xavp_contact",
        ModParamType::Str,
        "XAVP stored with each saved contact (and in <table>_attrs) and restored by lookup",
    ));
    v.extend([
        int(
            "handle_lost_tcp",
            "expire the contacts of a TCP/TLS/WS connection when it closes",
        ),
        int(
            "close_expired_tcp",
            "close the connection of a contact the sweep removes",
        ),
        only(
            "ka_mode",
            &[0, 1, 2, 3, 4, 5, 6, 7],
            "keepalives: 0 off, bits 1 all, 2 NAT-flagged, 4 UDP only",
        ),
        int(
            "ka_timeout",
            "seconds without a keepalive reply before a contact expires (0 never)",
        ),
        int(
            "ka_loglevel",
            "log level of the round-trip line per keepalive reply (255 none)",
        ),
        int(
            "ka_filter",
            "keepalive filters: bit 1 = only contacts saved with this server's server_id (0)",
        ),
        ModParam::new("ka_from", ModParamType::Str, "From URI of keepalives"),
        ModParam::new(
            "ka_domain",
            ModParamType::Str,
            "To domain of keepalives when the AoR has none",
        ),
        ModParam::new("ka_method", ModParamType::Str, "keepalive request method"),
        ModParam::new(
            "ka_logmsg",
            ModParamType::Str,
            "text after the round trip and ruid of the ka_loglevel line, variables evaluated on the reply",
        ),
    ]);
    for n in ["ka_interval", "ka_randomize"] {
        v.push(refused(
            n,
            ModParamType::Int,
            "keepalive interval apart from timer_interval: not yet",
        ));
    }
    v.push(refused(
        "ka_reply_codes",
        ModParamType::Str,
        "keepalive reply codes: not yet (any reply counts, as in Kamailio 5.6)",
    ));
    v
}
