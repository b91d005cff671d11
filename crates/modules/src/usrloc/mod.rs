//! Kamailio's `usrloc` module, memory only (`db_mode=0`): location tables ("domains", named by
//! `save("location")`), address-of-record records and their contacts, the expiry sweep and the
//! `ul.*` RPC commands. registrar reaches it through [`UlApi`] (Kamailio's `load_ul_api`), taken
//! with `InitCtx::api` at init.
//!
//! Storage sits behind [`LocationStore`] so SQL or Redis back ends can be added (DESIGN.md §3);
//! [`MemoryStore`] shards each table by AoR hash with one short `std::sync::Mutex` per shard
//! (workers are threads; a lock is held only while one record is read or changed, never across
//! I/O). Time is never read inside the store: callers pass `now` (seconds), and the expiry sweep
//! is [`UlApi::timer`], which the server's timer calls every `timer_interval` seconds — so tests
//! drive time themselves.
//!
//! Refused at load (docs/modules-registrar.md): every `db_mode` other than 0 and the database,
//! keepalive and TCP-handling modparams, and the `ul.db_*` RPCs.

pub mod rpc;
pub mod store;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use ferrosip_api::export::{ModParam, ModParamType};
use ferrosip_api::stats::{Stat, StatMode, Stats};
use ferrosip_api::{Error, ModValue, ModuleExports};

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
}

impl UlApi {
    /// An API over `store`.
    pub fn new(config: UlConfig, store: Arc<dyn LocationStore>, clock: Arc<Clock>) -> UlApi {
        let started = clock.now();
        UlApi {
            config,
            store,
            clock,
            ruid_counter: AtomicU64::new(0),
            started,
            stats: None,
            expired: Mutex::new(Vec::new()),
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

    /// The expiry sweep (Kamailio's `ul_timer`): removes contacts expired at `now` and empty
    /// records, counts them in `<table>_expires`; returns how many contacts were removed.
    pub fn timer(&self, now: i64) -> usize {
        let gone = self.store.expire(now);
        let expired = lock(&self.expired);
        for (table, n) in &gone {
            if let Some((_, st)) = expired.iter().find(|(t, _)| t == table) {
                st.add(i64::try_from(*n).unwrap_or(i64::MAX));
            }
        }
        gone.iter().map(|(_, n)| n).sum()
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
    let mut m = ModuleExports::new("usrloc");
    m.params = params();
    m.rpcs = rpc::rpcs(Arc::clone(&api));
    let slot = Arc::clone(&api);
    m.init = Some(Arc::new(move |ictx| {
        let cfg = config_from(ictx.modparams())?;
        let store: Arc<dyn LocationStore> = Arc::new(MemoryStore::new(cfg.hash_size));
        let a =
            Arc::new(UlApi::new(cfg, store, Arc::new(Clock::default())).with_stats(ictx.stats())?);
        slot.set(Arc::clone(&a))
            .map_err(|_| Error::Init("usrloc initialised twice".into()))?;
        ictx.provide(a);
        Ok(())
    }));
    m
}

// ---- internals ----

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
            ModValue::Str(_) => continue,
        };
        match *name {
            "db_mode" if i != 0 => {
                return Err(Error::NotImplemented(format!(
                    "usrloc db_mode {i} (only 0, memory only, is supported)"
                )))
            }
            "use_domain" => c.use_domain = i != 0,
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
            "desc_time_order" => c.desc_time_order = i != 0,
            "hash_size" => c.hash_size = u32::try_from(i.clamp(1, 16)).unwrap_or(10),
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
    let mut v = vec![
        int(
            "db_mode",
            "0 = memory only (other modes need a database: refused)",
        )
        .check(|v| match v {
            ModValue::Int(0) => Ok(()),
            _ => Err("not implemented yet (only db_mode 0, memory only)".into()),
        }),
        int("use_domain", "AoR is user@domain"),
        int(
            "matching_mode",
            "0 contact, 1 contact+callid, 2 contact+path, 3 callid",
        )
        .check(|v| match v {
            ModValue::Int(0..=3) => Ok(()),
            _ => Err("must be 0..3".into()),
        }),
        int(
            "cseq_delay",
            "seconds a same-CSeq REGISTER counts as retransmission",
        ),
        int("nat_bflag", "branch flag marking contacts behind NAT"),
        int("timer_interval", "seconds between expiry sweeps"),
        int(
            "timer_procs",
            "timer processes (one sweep function here: no effect)",
        ),
        int("desc_time_order", "newest contact first instead of by q"),
        int("hash_size", "log2 of the number of shards per table"),
        int(
            "rm_expired_delay",
            "no effect in memory mode (DB cleanup delay)",
        ),
        int("expires_type", "no effect in memory mode (DB column type)"),
        int("db_load", "no effect with db_mode 0"),
        int("db_insert_update", "no effect with db_mode 0"),
        int("db_check_update", "no effect with db_mode 0"),
        int("db_update_as_insert", "no effect with db_mode 0"),
        int("db_ops_ruid", "no effect with db_mode 0"),
        int("db_timer_clean", "no effect with db_mode 0"),
        int("db_clean_tcp", "no effect with db_mode 0"),
        int("db_raw_fetch_type", "no effect with db_mode 0"),
        int("db_insert_null", "no effect with db_mode 0"),
        int("fetch_rows", "no effect with db_mode 0"),
        int("server_id_filter", "no effect with db_mode 0"),
        int("load_rank", "no effect with db_mode 0"),
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
        "version_table",
    ] {
        v.push(ModParam::new(
            n,
            ModParamType::Str,
            "DB column name: no effect with db_mode 0",
        ));
    }
    v.push(refused(
        "db_url",
        ModParamType::Str,
        "database URL: no database back end yet",
    ));
    v.push(refused(
        "xavp_contact",
        ModParamType::Str,
        "xavp stored with contacts: not yet",
    ));
    for n in [
        "handle_lost_tcp",
        "close_expired_tcp",
        "skip_remote_socket",
        "preload",
    ] {
        let ty = if n == "preload" {
            ModParamType::Str
        } else {
            ModParamType::Int
        };
        v.push(refused(n, ty, "TCP/preload handling: not yet"));
    }
    for n in [
        "ka_mode",
        "ka_interval",
        "ka_randomize",
        "ka_timeout",
        "ka_loglevel",
    ] {
        v.push(refused(
            n,
            ModParamType::Int,
            "keepalive: not yet (needs tm)",
        ));
    }
    for n in [
        "ka_from",
        "ka_domain",
        "ka_method",
        "ka_filter",
        "ka_logmsg",
        "ka_reply_codes",
    ] {
        let ty = if n == "ka_filter" {
            ModParamType::Int
        } else {
            ModParamType::Str
        };
        v.push(refused(n, ty, "keepalive: not yet (needs tm)"));
    }
    v
}
