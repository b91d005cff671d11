//! Run-time observability and tuning shared by the core and the modules: the statistics registry
//! (Kamailio's counters/statistics framework: `group:name` values read by `stats.*` and `cnt.*`
//! RPCs and `$stat`) and the registry of run-time configuration variables (Kamailio's cfg
//! framework: `group.var` read and set by the `cfg.*` RPCs).
//!
//! Both are found through [`InitCtx::stats`] / [`InitCtx::cfg_vars`] (get-or-create: the first
//! module that asks creates the shared instance, later ones get the same one) and, by the server
//! after init, through [`crate::Registry::api`]. Registration takes a write lock and may happen at
//! any time (the core registers its counters after module init); the hot path only touches the
//! [`Stat`] handle kept by the registrant (one relaxed atomic add).
//!
//! What this does not do: no per-process counter arrays (ferrosip workers are threads, one atomic
//! per counter is enough), no shared-memory statistics, no delayed cfg commits per process (the
//! `cfg_rpc` module keeps its own pending list).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::export::{PvExport, PvNameRule};
use crate::pv::PvInner;
use crate::registry::InitCtx;
use crate::value::Value;
use crate::Error;

/// Whether a statistic may be reset by `stats.reset_statistics`, `cnt.reset` … (Kamailio's
/// `STAT_NO_RESET` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatMode {
    /// Reset to zero on request.
    Resettable,
    /// Reset requests are ignored (gauges such as `usrloc:registered_users`).
    NoReset,
}

/// Reads a computed statistic.
pub type StatGetFn = Arc<dyn Fn() -> u64 + Send + Sync>;
/// Resets a computed statistic (for values kept elsewhere, such as the core's counters).
pub type StatResetFn = Arc<dyn Fn() + Send + Sync>;

/// One statistic. Counters are incremented through this handle; computed values call their
/// getter on every read.
pub struct Stat {
    group: String,
    name: String,
    doc: String,
    mode: StatMode,
    source: Source,
}

enum Source {
    Counter(AtomicU64),
    Computed {
        get: StatGetFn,
        reset: Option<StatResetFn>,
    },
}

impl fmt::Debug for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stat({}:{} = {})", self.group, self.name, self.value())
    }
}

impl Stat {
    /// Adds one (no effect on a computed statistic).
    pub fn inc(&self) {
        self.add(1);
    }

    /// Adds `v`, which may be negative (Kamailio's `update_stat`, `cnt_add`); the value wraps
    /// like Kamailio's unsigned long. No effect on a computed statistic.
    pub fn add(&self, v: i64) {
        if let Source::Counter(c) = &self.source {
            // Two's complement: adding `v as u64` is adding a negative number, wrapping.
            c.fetch_add(v as u64, Ordering::Relaxed);
        }
    }

    /// The current value.
    pub fn value(&self) -> u64 {
        match &self.source {
            Source::Counter(c) => c.load(Ordering::Relaxed),
            Source::Computed { get, .. } => get(),
        }
    }

    /// Resets the value to zero unless the statistic is [`StatMode::NoReset`] or computed without
    /// a reset function. Returns true when something was reset.
    pub fn reset(&self) -> bool {
        if self.mode == StatMode::NoReset {
            return false;
        }
        match &self.source {
            Source::Counter(c) => {
                c.store(0, Ordering::Relaxed);
                true
            }
            Source::Computed { reset: Some(r), .. } => {
                r();
                true
            }
            Source::Computed { reset: None, .. } => false,
        }
    }

    /// The group (`core`, `sl`, `usrloc` …).
    pub fn group(&self) -> &str {
        &self.group
    }

    /// The name inside its group.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The description (`cnt.help`); empty when none was given.
    pub fn doc(&self) -> &str {
        &self.doc
    }

    /// The reset mode.
    pub fn mode(&self) -> StatMode {
        self.mode
    }

    /// True for a computed statistic (its value lives elsewhere).
    pub fn is_computed(&self) -> bool {
        matches!(self.source, Source::Computed { .. })
    }
}

type Groups = BTreeMap<String, BTreeMap<String, Arc<Stat>>>;

/// All statistics of a server instance, by group then name. Iteration is in byte order of the
/// names, which is the order Kamailio 5.6.3 prints them in (`bad_URIs_rcvd` before
/// `bad_msg_hdr`).
#[derive(Default)]
pub struct Stats {
    groups: RwLock<Groups>,
}

impl fmt::Debug for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stats({} groups)", self.read().len())
    }
}

impl Stats {
    /// An empty registry.
    pub fn new() -> Stats {
        Stats::default()
    }

    /// Registers a counter and returns its handle. A name taken in the group is an error
    /// (Kamailio refuses a second registration too); group and name must be non-empty and
    /// free of `:` (the separator of `group:name`).
    pub fn counter(
        &self,
        group: &str,
        name: &str,
        doc: &str,
        mode: StatMode,
    ) -> Result<Arc<Stat>, Error> {
        self.insert(group, name, doc, mode, Source::Counter(AtomicU64::new(0)))
    }

    /// Registers a statistic whose value is computed by `get` on every read (memory sizes,
    /// counters kept by the core in its own fast structure); `reset` makes it resettable.
    pub fn computed(
        &self,
        group: &str,
        name: &str,
        doc: &str,
        get: StatGetFn,
        reset: Option<StatResetFn>,
    ) -> Result<Arc<Stat>, Error> {
        let mode = if reset.is_some() {
            StatMode::Resettable
        } else {
            StatMode::NoReset
        };
        self.insert(group, name, doc, mode, Source::Computed { get, reset })
    }

    /// The statistic `group:name`.
    pub fn find(&self, group: &str, name: &str) -> Option<Arc<Stat>> {
        self.read().get(group)?.get(name).cloned()
    }

    /// The first statistic called `name` in any group, groups in order (Kamailio's `get_stat`,
    /// which looks statistics up by name alone).
    pub fn find_name(&self, name: &str) -> Option<Arc<Stat>> {
        self.read().values().find_map(|g| g.get(name).cloned())
    }

    /// Group names, sorted.
    pub fn groups(&self) -> Vec<String> {
        self.read().keys().cloned().collect()
    }

    /// The statistics of `group`, sorted by name (empty for an unknown group).
    pub fn group(&self, group: &str) -> Vec<Arc<Stat>> {
        self.read()
            .get(group)
            .map(|g| g.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Every statistic, by group then name.
    pub fn all(&self) -> Vec<Arc<Stat>> {
        self.read()
            .values()
            .flat_map(|g| g.values().cloned())
            .collect()
    }

    fn insert(
        &self,
        group: &str,
        name: &str,
        doc: &str,
        mode: StatMode,
        source: Source,
    ) -> Result<Arc<Stat>, Error> {
        for (what, s) in [("group", group), ("name", name)] {
            if s.is_empty() || s.contains(':') {
                return Err(Error::Config(format!(
                    "statistic {what} `{s}`: must be non-empty and without ':'"
                )));
            }
        }
        let mut w = self.write();
        let g = w.entry(group.to_string()).or_default();
        if g.contains_key(name) {
            return Err(Error::Duplicate(format!("statistic `{group}:{name}`")));
        }
        let s = Arc::new(Stat {
            group: group.to_string(),
            name: name.to_string(),
            doc: doc.to_string(),
            mode,
            source,
        });
        g.insert(name.to_string(), Arc::clone(&s));
        Ok(s)
    }

    fn read(&self) -> RwLockReadGuard<'_, Groups> {
        match self.groups.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn write(&self) -> RwLockWriteGuard<'_, Groups> {
        match self.groups.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

/// Where a `$stat` getter finds the registry once its module is initialised.
pub type StatsCell = Arc<OnceLock<Arc<Stats>>>;

/// The `$stat(name)` pseudo-variable (Kamailio's pv module, `pv_stats.c`): the value of the first
/// statistic called `name` (group ignored, as Kamailio), `$null` when there is none. The owning
/// module fills `cell` from [`InitCtx::stats`] in its init hook; before that every read is
/// `$null`. Read-only.
pub fn stat_pv(cell: StatsCell) -> PvExport {
    PvExport {
        name: "stat",
        doc: "value of a statistic by name ($stat(rcv_requests)); $null when unknown",
        inner: PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(|name: &str, _| {
            if name.is_empty() {
                return Err("$stat needs a statistic name".to_string());
            }
            Ok(PvInner::Str(name.as_bytes().to_vec()))
        })),
        get: Arc::new(move |ctx, n| {
            let name = n.name_bytes(ctx);
            let name = String::from_utf8_lossy(&name);
            let stat = cell.get().and_then(|s| s.find_name(&name));
            Ok(match stat {
                Some(s) => Value::Int(i64::try_from(s.value()).unwrap_or(i64::MAX)),
                None => {
                    tracing::warn!(func = "pv_get_stat", "No stat variable ``{name}''");
                    Value::Null
                }
            })
        }),
        set: None,
    }
}

/// The type of a run-time configuration variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CfgType {
    /// `CFG_VAR_INT`.
    Int,
    /// `CFG_VAR_STRING` / `CFG_VAR_STR`.
    Str,
}

/// A value of a run-time configuration variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CfgValue {
    /// Integer.
    Int(i64),
    /// String.
    Str(String),
}

/// Reads a configuration variable.
pub type CfgGetFn = Arc<dyn Fn() -> CfgValue + Send + Sync>;
/// Sets a configuration variable (already converted to its type); the message is shown to the
/// RPC client's log.
pub type CfgSetFn = Arc<dyn Fn(CfgValue) -> Result<(), String> + Send + Sync>;

/// How a configuration variable may be changed at run time.
#[derive(Clone)]
pub enum CfgAccess {
    /// Changed by the setter.
    Writable(CfgSetFn),
    /// Known, readable, but not changeable in ferrosip; the reason is logged when a set is refused.
    ReadOnly(&'static str),
}

/// One run-time configuration variable (`core.debug`, `pstn.gw_ip` …).
#[derive(Clone)]
pub struct CfgVar {
    /// Group (`core`, a module name, or a custom group of the config).
    pub group: String,
    /// Name inside the group.
    pub name: String,
    /// Description (`cfg.help`).
    pub doc: String,
    /// Declared type.
    pub ty: CfgType,
    /// The value `cfg.reset` restores (the value the config gave at start).
    pub default: CfgValue,
    /// Getter.
    pub get: CfgGetFn,
    /// Setter or the reason there is none.
    pub access: CfgAccess,
}

impl fmt::Debug for CfgVar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CfgVar({}.{}: {:?})", self.group, self.name, self.ty)
    }
}

impl CfgVar {
    /// Converts `v` to this variable's type as Kamailio's cfg framework does (an integer given
    /// to a string variable is printed; a string given to an integer variable must be a decimal
    /// number) and sets it.
    pub fn set(&self, v: CfgValue) -> Result<(), String> {
        let v = match (self.ty, v) {
            (CfgType::Int, CfgValue::Str(s)) => match s.trim().parse::<i64>() {
                Ok(i) => CfgValue::Int(i),
                Err(_) => return Err(format!("not an integer: \"{s}\"")),
            },
            (CfgType::Str, CfgValue::Int(i)) => CfgValue::Str(i.to_string()),
            (_, v) => v,
        };
        match &self.access {
            CfgAccess::Writable(set) => set(v),
            CfgAccess::ReadOnly(why) => Err(format!(
                "{}.{} cannot be changed at run time: {why}",
                self.group, self.name
            )),
        }
    }
}

/// The run-time configuration variables of a server instance, in registration order.
#[derive(Default)]
pub struct CfgVars {
    vars: RwLock<Vec<CfgVar>>,
}

impl fmt::Debug for CfgVars {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CfgVars({})", self.list().len())
    }
}

impl CfgVars {
    /// An empty registry.
    pub fn new() -> CfgVars {
        CfgVars::default()
    }

    /// Registers a variable; `group.name` registered twice is an error.
    pub fn register(&self, var: CfgVar) -> Result<(), Error> {
        let mut w = match self.vars.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if w.iter().any(|v| v.group == var.group && v.name == var.name) {
            return Err(Error::Duplicate(format!(
                "cfg variable `{}.{}`",
                var.group, var.name
            )));
        }
        w.push(var);
        Ok(())
    }

    /// The variable `group.name`.
    pub fn find(&self, group: &str, name: &str) -> Option<CfgVar> {
        self.list()
            .into_iter()
            .find(|v| v.group == group && v.name == name)
    }

    /// Every variable, in registration order.
    pub fn list(&self) -> Vec<CfgVar> {
        match self.vars.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }
}

impl InitCtx<'_> {
    /// The statistics registry shared by the core and every module (created by the first caller).
    pub fn stats(&mut self) -> Arc<Stats> {
        match self.api::<Stats>() {
            Some(s) => s,
            None => {
                let s = Arc::new(Stats::new());
                self.provide(Arc::clone(&s));
                s
            }
        }
    }

    /// The run-time configuration variables shared by the core and every module (created by the
    /// first caller).
    pub fn cfg_vars(&mut self) -> Arc<CfgVars> {
        match self.api::<CfgVars>() {
            Some(s) => s,
            None => {
                let s = Arc::new(CfgVars::new());
                self.provide(Arc::clone(&s));
                s
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicI64;

    #[test]
    fn counters_inc_add_reset_by_mode() {
        let s = Stats::new();
        let a = s
            .counter("sl", "sent_replies", "", StatMode::Resettable)
            .expect("register");
        let g = s
            .counter("usrloc", "registered_users", "", StatMode::NoReset)
            .expect("register");
        // (handle, adds, value after adds, reset() result, value after reset)
        type Case<'a> = (&'a Arc<Stat>, &'a [i64], u64, bool, u64);
        let cases: [Case; 2] = [(&a, &[1, 1, 5], 7, true, 0), (&g, &[3, -1], 2, false, 2)];
        for (h, adds, want, reset, after) in cases {
            for v in adds {
                h.add(*v);
            }
            assert_eq!(h.value(), want, "{}", h.name());
            assert_eq!(h.reset(), reset, "{}", h.name());
            assert_eq!(h.value(), after, "{}", h.name());
        }
        a.inc();
        assert_eq!(s.find("sl", "sent_replies").map(|x| x.value()), Some(1));
    }

    #[test]
    fn computed_values_read_and_reset_through_closures() {
        let s = Stats::new();
        let backing = Arc::new(AtomicI64::new(41));
        let b1 = Arc::clone(&backing);
        let b2 = Arc::clone(&backing);
        let c = s
            .computed(
                "core",
                "rcv_requests",
                "",
                Arc::new(move || b1.load(Ordering::Relaxed) as u64),
                Some(Arc::new(move || b2.store(0, Ordering::Relaxed))),
            )
            .expect("register");
        let fixed = s
            .computed("shmem", "total_size", "", Arc::new(|| 64), None)
            .expect("register");
        backing.fetch_add(1, Ordering::Relaxed);
        assert_eq!(c.value(), 42);
        c.inc(); // no effect on computed values
        assert_eq!(c.value(), 42);
        assert!(c.reset());
        assert_eq!(backing.load(Ordering::Relaxed), 0);
        assert!(!fixed.reset());
        assert_eq!(fixed.value(), 64);
        assert!(c.is_computed());
    }

    #[test]
    fn registration_errors() {
        let s = Stats::new();
        s.counter("g", "n", "", StatMode::Resettable)
            .expect("first");
        let cases = [
            ("g", "n", "twice"),
            ("", "n", "empty group"),
            ("g", "", "empty name"),
            ("g:x", "n", "colon in group"),
            ("g", "a:b", "colon in name"),
        ];
        for (g, n, why) in cases {
            assert!(s.counter(g, n, "", StatMode::Resettable).is_err(), "{why}");
        }
        // Same name in another group is fine.
        assert!(s.counter("h", "n", "", StatMode::Resettable).is_ok());
    }

    #[test]
    fn iteration_order_and_lookup_by_name() {
        let s = Stats::new();
        for (g, n) in [
            ("sl", "xxx_replies"),
            ("core", "bad_msg_hdr"),
            ("core", "bad_URIs_rcvd"),
            ("sl", "1xx_replies"),
            ("mygrp", "rcv_requests"),
            ("core", "rcv_requests"),
        ] {
            s.counter(g, n, "", StatMode::Resettable).expect("register");
        }
        let all: Vec<String> = s
            .all()
            .iter()
            .map(|x| format!("{}:{}", x.group(), x.name()))
            .collect();
        assert_eq!(
            all,
            [
                "core:bad_URIs_rcvd",
                "core:bad_msg_hdr",
                "core:rcv_requests",
                "mygrp:rcv_requests",
                "sl:1xx_replies",
                "sl:xxx_replies"
            ]
        );
        assert_eq!(s.groups(), ["core", "mygrp", "sl"]);
        assert_eq!(
            s.find_name("rcv_requests").map(|x| x.group().to_string()),
            Some("core".to_string())
        );
        assert!(s.find_name("nosuch").is_none());
        assert!(s.group("nosuch").is_empty());
    }

    #[test]
    fn stat_pv_reads_by_name_and_null_when_unknown() {
        let cell: StatsCell = Arc::new(OnceLock::new());
        let mut m = crate::ModuleExports::new("pv");
        m.pvs = vec![stat_pv(Arc::clone(&cell))];
        let mut reg = crate::Registry::new();
        assert!(reg.add(m).is_ok());
        assert!(reg.parse_format("$stat()").is_err(), "a name is required");
        let stats = Arc::new(Stats::new());
        let h = stats
            .counter("core", "rcv_requests", "", StatMode::Resettable)
            .expect("register");
        h.add(7);
        let mut msg = ferrosip_sipmsg::Msg::parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n".to_vec(),
        )
        .expect("parses");
        let mut w = crate::WorkerState::default();
        let mut rec = crate::Recorder::default();
        let f = reg
            .parse_format("[$stat(rcv_requests)] [$stat(nosuch)]")
            .expect("format");
        // (registry set, rendered)
        for (set, want) in [(false, "[<null>] [<null>]"), (true, "[7] [<null>]")] {
            if set {
                let _ = cell.set(Arc::clone(&stats));
            }
            let mut ctx = crate::Ctx::new(
                &mut msg,
                crate::RouteType::Request,
                crate::RecvInfo::default(),
                &mut w,
                &mut rec,
            )
            .expect("ctx");
            assert_eq!(f.render(&mut ctx), want.as_bytes(), "set={set}");
        }
    }

    #[test]
    fn cfg_var_conversions_and_access() {
        let store = Arc::new(AtomicI64::new(1));
        let st = Arc::clone(&store);
        let text = Arc::new(RwLock::new(String::from("1.2.3.4")));
        let tx = Arc::clone(&text);
        let vars = CfgVars::new();
        vars.register(CfgVar {
            group: "core".into(),
            name: "debug".into(),
            doc: "debug level".into(),
            ty: CfgType::Int,
            default: CfgValue::Int(1),
            get: {
                let s = Arc::clone(&store);
                Arc::new(move || CfgValue::Int(s.load(Ordering::Relaxed)))
            },
            access: CfgAccess::Writable(Arc::new(move |v| match v {
                CfgValue::Int(i) => {
                    st.store(i, Ordering::Relaxed);
                    Ok(())
                }
                CfgValue::Str(_) => Err("int expected".into()),
            })),
        })
        .expect("register");
        vars.register(CfgVar {
            group: "pstn".into(),
            name: "gw_ip".into(),
            doc: "".into(),
            ty: CfgType::Str,
            default: CfgValue::Str("1.2.3.4".into()),
            get: Arc::new(move || CfgValue::Str(tx.read().map(|g| g.clone()).unwrap_or_default())),
            access: CfgAccess::ReadOnly("fixed at load"),
        })
        .expect("register");
        let debug = vars.find("core", "debug").expect("debug");
        let gw = vars.find("pstn", "gw_ip").expect("gw_ip");
        // (var, value, accepted, value read afterwards)
        let cases = [
            (&debug, CfgValue::Int(3), true, CfgValue::Int(3)),
            (&debug, CfgValue::Str(" 4".into()), true, CfgValue::Int(4)),
            (&debug, CfgValue::Str("abc".into()), false, CfgValue::Int(4)),
            (
                &gw,
                CfgValue::Int(5),
                false,
                CfgValue::Str("1.2.3.4".into()),
            ),
        ];
        for (var, v, ok, after) in cases {
            assert_eq!(var.set(v.clone()).is_ok(), ok, "{var:?} {v:?}");
            assert_eq!((var.get)(), after, "{var:?} {v:?}");
        }
        assert!(vars
            .register(CfgVar {
                access: CfgAccess::ReadOnly("x"),
                ..debug.clone()
            })
            .is_err());
        assert_eq!(vars.list().len(), 2);
        assert!(vars.find("core", "nosuch").is_none());
        drop(text);
    }
}
