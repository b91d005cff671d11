//! `htable`: named in-memory hash tables shared by every worker (Kamailio's htable module without
//! its DMQ part): `$sht(t=>k)` and friends, the `sht_*` functions, iterators, script locks, the
//! `htable.*` RPCs, and database tables (`dbtable`, `dbmode`, `cols`: [`db`]) loaded at startup
//! and by `htable.reload`, written back at shutdown and by `htable.store`. Expiry is applied on
//! read and by [`HtableApi::timer`] (the server's timer, every `timer_interval` seconds), which runs
//! `event_route[htable:expired:<table>]`; `event_route[htable:mod-init]` runs after the tables are
//! loaded ([`events`]).
//!
//! Not here: DMQ replication, `timer_procs`, `event_callback`: refused at load.

pub mod db;
pub mod events;
pub mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::export::{
    Arg, FnExport, ModParam, ModParamType as T, ParamKind as K, PvExport, PvNameRule, RpcExport,
    RpcFault, RpcValue,
};
use ferrosip_api::pv::{Format, PvInner, PvName};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Value, L_INFO};

use db::{HtDb, HtDbConfig};
use store::{parse_def, Table};

/// Module state: the tables (built at init, then fixed) and the clock.
#[derive(Debug, Default)]
pub struct HtState {
    tables: OnceLock<HashMap<String, Arc<Table>>>,
    db: OnceLock<Arc<HtDb>>,
    events: events::Events,
    timer_interval: AtomicU64,
    // 0 = wall clock; otherwise the pinned time (tests, or a server that drives time itself).
    pinned_now: AtomicU64,
}

impl HtState {
    fn table(&self, name: &[u8]) -> Option<Arc<Table>> {
        let n = std::str::from_utf8(name).ok()?;
        self.tables.get()?.get(n).cloned()
    }

    fn now(&self) -> u64 {
        match self.pinned_now.load(Ordering::Relaxed) {
            0 => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            n => n,
        }
    }

    fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .tables
            .get()
            .map(|t| t.keys().cloned().collect())
            .unwrap_or_default();
        v.sort();
        v
    }
}

/// What the server and other modules use (Kamailio's `htable_api_t`).
#[derive(Debug, Clone)]
pub struct HtableApi {
    state: Arc<HtState>,
}

impl HtableApi {
    /// Removes expired items of every table at `now`, running `event_route[htable:expired:<t>]`
    /// for each (when the config has it); returns (table, key) of each removed item. The server's
    /// timer thread calls this every `timer_interval` seconds.
    pub fn timer(&self, now: u64) -> Vec<(String, Vec<u8>)> {
        sweep(&self.state, now)
    }

    /// `timer_interval` in seconds (how often the server should call [`HtableApi::timer`]).
    pub fn timer_interval(&self) -> u64 {
        self.state.timer_interval.load(Ordering::Relaxed)
    }

    /// Pins the clock used for expiry on reads and writes (`0` = wall clock again).
    pub fn set_now(&self, now: u64) {
        self.state.pinned_now.store(now, Ordering::Relaxed);
    }

    /// Reads an item (`$sht` semantics).
    pub fn get(&self, table: &str, key: &[u8]) -> Option<Value> {
        let t = self.state.table(table.as_bytes())?;
        Some(t.read(key, self.state.now()))
    }

    /// Sets an item; false when the table does not exist.
    pub fn set(&self, table: &str, key: &[u8], v: Value) -> bool {
        match self.state.table(table.as_bytes()) {
            Some(t) if !v.is_null() => {
                t.set(key, v, None, self.state.now());
                true
            }
            _ => false,
        }
    }

    /// Removes an item; false when the table does not exist.
    pub fn rm(&self, table: &str, key: &[u8]) -> bool {
        self.state.table(table.as_bytes()).is_some_and(|t| {
            t.remove(key);
            true
        })
    }
}

/// The expiry sweep: removes expired items table by table (names sorted) and runs the table's
/// expired route for them.
fn sweep(st: &HtState, now: u64) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for n in st.names() {
        if let Some(t) = st.table(n.as_bytes()) {
            let gone = t.expire(now);
            out.extend(gone.iter().map(|(k, _)| (n.clone(), k.clone())));
            if !gone.is_empty() && st.events.has_expired_route(&n) {
                st.events
                    .expired(&n, gone.into_iter().map(|(k, i)| (k, i.value)).collect());
            }
        }
    }
    out
}

/// A `$sht`-style name prepared at load: the table and the key (constant or with variables).
struct HtName {
    table: Arc<Table>,
    key: Format,
}

/// The `htable` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(HtState::default());
    let mut m = ModuleExports::new("htable");
    m.params = vec![
        ModParam::new(
            "htable",
            T::Str,
            "table definition: name=>size=..;autoexpire=..;initval=..;updateexpire=..",
        ),
        ModParam::new("timer_interval", T::Int, "seconds between expiry runs (20)"),
        ModParam::new(
            "enable_dmq",
            T::Int,
            "0 only: DMQ replication is not implemented",
        ),
        ModParam::new(
            "dmq_init_sync",
            T::Int,
            "0 only: DMQ replication is not implemented",
        ),
    ];
    let htcheck = |v: &ModValue| match v {
        ModValue::Str(s) => parse_def(s).map(|_| ()),
        ModValue::Int(_) => Err("htable needs a string".into()),
    };
    let zero_only = |v: &ModValue| match v {
        ModValue::Int(0) => Ok(()),
        _ => Err("DMQ replication: not implemented yet".into()),
    };
    for p in &mut m.params {
        *p = match p.name {
            "htable" => p.clone().check(htcheck),
            "enable_dmq" | "dmq_init_sync" => p.clone().check(zero_only),
            _ => p.clone(),
        };
    }
    for (name, ty, doc) in [
        ("db_url", T::Str, "database URL of the dbtable tables"),
        (
            "key_name_column",
            T::Str,
            "column of the key name (key_name)",
        ),
        (
            "key_type_column",
            T::Str,
            "column of the key type (key_type)",
        ),
        (
            "value_type_column",
            T::Str,
            "column of the value type (value_type)",
        ),
        (
            "key_value_column",
            T::Str,
            "column of the value (key_value)",
        ),
        ("expires_column", T::Str, "column of the expiry (expires)"),
        (
            "array_size_suffix",
            T::Str,
            "suffix of an array's size key (::size)",
        ),
        (
            "fetch_rows",
            T::Int,
            "rows fetched at once (no effect: the table is read at once)",
        ),
        (
            "db_expires",
            T::Int,
            "1: load and save item expiry (tables with autoexpire)",
        ),
    ] {
        m.params.push(ModParam::new(name, ty, doc));
    }
    for name in ["timer_procs", "event_callback", "event_callback_mode"] {
        let mut p = ModParam::new(
            name,
            if name == "event_callback" {
                T::Str
            } else {
                T::Int
            },
            "timer process/event parameter: not implemented yet",
        );
        p.implemented = false;
        m.params.push(p);
    }
    m.event_routes = vec![
        ferrosip_api::export::EventRouteExport {
            name: events::MOD_INIT,
            doc: "run once after the tables are loaded, before messages are served",
        },
        ferrosip_api::export::EventRouteExport {
            name: events::EXPIRED,
            doc: "event_route[htable:expired:<table>]: an item of <table> expired ($shtrecord)",
        },
    ];
    m.pvs = pvs(&st);
    m.functions = functions(&st);
    m.rpcs = rpcs(&st);
    let s = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let mut tables = HashMap::new();
        for (n, v) in ictx.modparams() {
            if let (&"htable", ModValue::Str(text)) = (n, v) {
                let d = parse_def(text).map_err(Error::Config)?;
                if tables.contains_key(&d.name) {
                    return Err(Error::Config(format!("htable `{}` defined twice", d.name)));
                }
                tables.insert(d.name.clone(), Arc::new(Table::new(d)));
            }
        }
        let ti = match ictx.modparam("timer_interval") {
            Some(ModValue::Int(i)) if *i > 0 => u64::try_from(*i).unwrap_or(20),
            Some(_) => {
                return Err(Error::Config(
                    "htable: timer_interval must be positive".into(),
                ))
            }
            None => 20,
        };
        s.timer_interval.store(ti, Ordering::Relaxed);
        let dbc = db_config(ictx.modparams());
        if dbc.url.is_empty() {
            for t in tables.values().filter(|t| t.def.dbtable.is_some()) {
                // Kamailio loads nothing either when db_url is not set.
                tracing::warn!(
                    "htable: table {} has a dbtable but no db_url is set: nothing is loaded",
                    t.def.name
                );
            }
        }
        let _ =
            s.db.set(Arc::new(HtDb::new(dbc, crate::db::DbDrivers::of(ictx))));
        s.tables
            .set(tables)
            .map_err(|_| Error::Init("htable initialised twice".into()))?;
        ictx.provide(Arc::new(HtableApi {
            state: Arc::clone(&s),
        }));
        if let Some(n) = ictx.api::<ferrosip_api::NetworkApi>() {
            s.events.set_network(n.0.clone());
        }
        Ok(())
    }));
    let s = Arc::clone(&st);
    m.child_init = Some(Arc::new(move |_rank| {
        // Kamailio loads in mod_init on a connection it closes again; here the load waits for
        // the fork (a connection must not cross it) and runs before any message is handled.
        if let Some(db) = s.db.get().filter(|d| d.enabled()) {
            for n in s.names() {
                let Some(t) = s.table(n.as_bytes()) else {
                    continue;
                };
                if t.def.dbtable.is_some() {
                    let k = db.load(&t, s.now()).map_err(Error::Init)?;
                    tracing::info!("htable: {k} items loaded into table {n}");
                }
            }
        }
        // Kamailio runs it in its child init of the main process (PROC_INIT), after the load.
        s.events.mod_init()
    }));
    let s = Arc::clone(&st);
    m.destroy = Some(Arc::new(move || {
        // Kamailio's ht_db_sync_tables: dbmode tables that were loaded and have no custom cols.
        let Some(db) = s.db.get().filter(|d| d.enabled()) else {
            return;
        };
        for n in s.names() {
            let Some(t) = s.table(n.as_bytes()) else {
                continue;
            };
            let d = &t.def;
            if d.dbtable.is_some() && d.dbmode != 0 && t.dbload() && d.cols.is_empty() {
                if let Err(e) = db.store(&t, s.now()) {
                    tracing::error!("htable: failed syncing hash table [{n}] to db: {e}");
                }
            }
        }
    }));
    m
}

/// The database modparams.
fn db_config(params: &[(&'static str, ModValue)]) -> HtDbConfig {
    let mut c = HtDbConfig::default();
    for (n, v) in params {
        match (*n, v) {
            ("db_url", ModValue::Str(x)) => c.url = x.clone(),
            ("key_name_column", ModValue::Str(x)) => c.key_name = x.clone(),
            ("key_type_column", ModValue::Str(x)) => c.key_type = x.clone(),
            ("value_type_column", ModValue::Str(x)) => c.value_type = x.clone(),
            ("key_value_column", ModValue::Str(x)) => c.key_value = x.clone(),
            ("expires_column", ModValue::Str(x)) => c.expires = x.clone(),
            ("array_size_suffix", ModValue::Str(x)) => c.array_size_suffix = x.clone(),
            ("db_expires", ModValue::Int(i)) => c.db_expires = *i != 0,
            _ => {}
        }
    }
    c
}

/// The table named by an RPC's first argument, with Kamailio's faults for the database RPCs.
fn db_rpc_table(s: &HtState, a: &[RpcValue]) -> Result<(Arc<HtDb>, Arc<Table>), RpcFault> {
    let db =
        s.db.get()
            .filter(|d| d.enabled())
            .cloned()
            .ok_or_else(|| fault(500, "No htable db_url"))?;
    let n = rpc_str(a, 0).map_err(|_| fault(500, "No htable name given"))?;
    let t = s
        .table(n.as_bytes())
        .ok_or_else(|| fault(500, "No such htable"))?;
    if t.def.dbtable.is_none() {
        return Err(fault(500, "No database htable"));
    }
    Ok((db, t))
}

fn parse_name(st: &HtState, inner: &str, reg: &ferrosip_api::Registry) -> Result<HtName, String> {
    let (t, k) = inner
        .split_once("=>")
        .ok_or_else(|| format!("invalid htable name `{inner}`: missing `=>`"))?;
    let table = st
        .table(t.trim().as_bytes())
        .ok_or_else(|| format!("htable `{}` is not defined", t.trim()))?;
    Ok(HtName {
        table,
        key: reg.parse_format(k)?,
    })
}

fn ht_name(n: &PvName) -> Result<&HtName, Error> {
    match &n.inner {
        PvInner::Custom(c) => c
            .downcast_ref::<HtName>()
            .ok_or_else(|| Error::Runtime("bad htable name".into())),
        _ => Err(Error::Runtime("bad htable name".into())),
    }
}

fn pvs(st: &Arc<HtState>) -> Vec<PvExport> {
    let parse = |st: &Arc<HtState>| {
        let s = Arc::clone(st);
        Some(Arc::new(move |inner: &str, reg: &ferrosip_api::Registry| {
            parse_name(&s, inner, reg).map(|n| PvInner::Custom(Arc::new(n)))
        }) as ferrosip_api::export::PvParse)
    };
    let pv = |name: &'static str,
              doc: &'static str,
              get: ferrosip_api::export::PvGet,
              set: Option<ferrosip_api::export::PvSet>,
              p| PvExport {
        name,
        doc,
        inner: PvNameRule::Required,
        indexed: false,
        parse: p,
        get,
        set,
    };
    let (a, b, c, d, e, f) = (
        Arc::clone(st),
        Arc::clone(st),
        Arc::clone(st),
        Arc::clone(st),
        Arc::clone(st),
        Arc::clone(st),
    );
    let mut v = vec![
        pv(
            "sht",
            "item of a hash table: $sht(table=>key); assigning $null deletes",
            Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
                let h = ht_name(n)?;
                let key = h.key.render(ctx);
                Ok(h.table.read(&key, a.now()))
            }),
            Some(Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName, v: Value| {
                let h = ht_name(n)?;
                let key = h.key.render(ctx);
                match v {
                    Value::Null => {
                        h.table.remove(&key);
                    }
                    v => h.table.set(&key, v, None, b.now()),
                }
                Ok(())
            })),
            parse(st),
        ),
        pv(
            "shtex",
            "seconds until the item expires (0 = never); assigning sets it",
            Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
                let h = ht_name(n)?;
                let key = h.key.render(ctx);
                let now = c.now();
                Ok(match h.table.get(&key, now) {
                    Some(i) if i.expire > 0 => {
                        Value::Int(i64::try_from(i.expire.saturating_sub(now)).unwrap_or(0))
                    }
                    Some(_) => Value::Int(0),
                    None => Value::Null,
                })
            }),
            Some(Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName, v: Value| {
                let h = ht_name(n)?;
                let key = h.key.render(ctx);
                let secs = u64::try_from(v.to_int()).unwrap_or(0);
                h.table.set_expire(&key, secs, d.now());
                Ok(())
            })),
            parse(st),
        ),
        pv(
            "shtinc",
            "increments an integer item and reads the new value",
            Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
                let h = ht_name(n)?;
                let key = h.key.render(ctx);
                Ok(h.table
                    .add(&key, 1, e.now())
                    .map(Value::Int)
                    .unwrap_or(Value::Null))
            }),
            None,
            parse(st),
        ),
        pv(
            "shtdec",
            "decrements an integer item and reads the new value",
            Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
                let h = ht_name(n)?;
                let key = h.key.render(ctx);
                Ok(h.table
                    .add(&key, -1, f.now())
                    .map(Value::Int)
                    .unwrap_or(Value::Null))
            }),
            None,
            parse(st),
        ),
    ];
    for (name, by_value, doc) in [
        ("shtcn", false, "count of item names matching: ~~regex, ~%suffix, %~prefix, ==name, ** all"),
        ("shtcv", true, "count of item values matching: ~~regex, ~%suffix, %~prefix, ==string, eqNUMBER, ** all"),
    ] {
        let s = Arc::clone(st);
        v.push(PvExport {
            name,
            doc,
            inner: PvNameRule::Required,
            indexed: false,
            parse: parse(st),
            get: Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
                let h = ht_name(n)?;
                let exp = h.key.render(ctx);
                Ok(Value::Int(count_matching(&h.table, &exp, by_value, s.now())))
            }),
            set: None,
        });
    }
    v.push(PvExport {
        name: "shtrecord",
        doc: "key or value of the expired item in event_route[htable:expired:<table>]",
        inner: PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(
            |inner: &str, _reg: &ferrosip_api::Registry| match inner.trim() {
                "key" => Ok(PvInner::Custom(Arc::new(false))),
                "value" => Ok(PvInner::Custom(Arc::new(true))),
                other => Err(format!(
                    "$shtrecord({other}): unknown attribute (key or value)"
                )),
            },
        )),
        get: Arc::new(|_ctx: &mut Ctx<'_>, n: &PvName| {
            let value = match &n.inner {
                PvInner::Custom(c) => c.downcast_ref::<bool>().copied().unwrap_or(false),
                _ => false,
            };
            Ok(events::record(value))
        }),
        set: None,
    });
    for (name, val, doc) in [
        ("shtitkey", false, "name of the iterator's current item"),
        ("shtitval", true, "value of the iterator's current item"),
    ] {
        let s = Arc::clone(st);
        v.push(PvExport {
            name,
            doc,
            inner: PvNameRule::Required,
            indexed: false,
            parse: None,
            get: Arc::new(move |ctx: &mut Ctx<'_>, n: &PvName| {
                let it = n.name_bytes(ctx);
                let Some((t, key)) = iter_current(ctx, &it) else {
                    return Ok(Value::Null);
                };
                if !val {
                    return Ok(Value::Str(key));
                }
                Ok(s.table(&t)
                    .map(|t| t.read(&key, s.now()))
                    .unwrap_or(Value::Null))
            }),
            set: None,
        });
    }
    v
}

/// Kamailio's `ht_count_cells_re`: the operator is the first two characters.
fn count_matching(t: &Table, exp: &[u8], by_value: bool, now: u64) -> i64 {
    let items = t.items(now);
    let (op, arg) = match exp.get(..2) {
        Some(b"**") => return i64::try_from(items.len()).unwrap_or(i64::MAX),
        Some(b"~~") => ("re", exp.get(2..).unwrap_or(b"")),
        Some(b"~%") => ("ew", exp.get(2..).unwrap_or(b"")),
        Some(b"%~") => ("sw", exp.get(2..).unwrap_or(b"")),
        Some(b"==") => ("eq", exp.get(2..).unwrap_or(b"")),
        Some(b"eq") => ("ieq", exp.get(2..).unwrap_or(b"")),
        _ => ("re", exp),
    };
    if op == "ieq" {
        if !by_value {
            return 0;
        }
        let Some(n) = ferrosip_api::value::str_to_int(arg) else {
            return 0;
        };
        return items
            .iter()
            .filter(|(_, i)| i.value == Value::Int(n))
            .count() as i64;
    }
    let re = if op == "re" {
        match ferrosip_api::posix::compile(&String::from_utf8_lossy(arg), true) {
            Ok(r) => Some(r),
            Err(_) => return 0,
        }
    } else {
        None
    };
    items
        .iter()
        .filter(|(k, i)| {
            let subject: &[u8] = if by_value {
                match &i.value {
                    Value::Str(s) => s,
                    _ => return false,
                }
            } else {
                k
            };
            match op {
                "re" => re.as_ref().is_some_and(|r| r.is_match(subject)),
                "ew" => subject.ends_with(arg),
                "sw" => subject.starts_with(arg),
                _ => subject == arg,
            }
        })
        .count() as i64
}

/// `eq`, `ne`, `re`, `sw` on a subject (sht_match_name, sht_rm_name …). `None` = unknown operator.
fn op_match(op: &[u8], subject: &[u8], val: &[u8]) -> Option<bool> {
    Some(match op {
        b"eq" => subject == val,
        b"ne" => subject != val,
        b"sw" => subject.starts_with(val),
        b"re" => ferrosip_api::posix::compile(&String::from_utf8_lossy(val), false)
            .ok()?
            .is_match(subject),
        _ => return None,
    })
}

// Iterators live in the message's XAVPs under a name no config can spell (NUL first): table,
// position, and the item names taken when the iterator started.
fn iter_name(name: &[u8]) -> Vec<u8> {
    let mut v = b"\0sht_it:".to_vec();
    v.extend_from_slice(name);
    v
}

fn iter_current(ctx: &Ctx<'_>, name: &[u8]) -> Option<(Vec<u8>, Vec<u8>)> {
    let rec = ctx.state.xavps.get(&iter_name(name))?.first()?;
    let t = rec
        .iter()
        .find(|(k, _)| k == b"t")?
        .1
        .to_bytes()
        .into_owned();
    let p = usize::try_from(rec.iter().find(|(k, _)| k == b"p")?.1.to_int()).ok()?;
    let key = rec
        .iter()
        .filter(|(k, _)| k == b"k")
        .nth(p.checked_sub(1)?)?
        .1
        .to_bytes()
        .into_owned();
    Some((t, key))
}

fn bytes(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Vec<u8> {
    a.get(i).map(|x| x.bytes(ctx)).unwrap_or_default()
}

fn split_ht(st: &HtState, spec: &[u8]) -> Option<(Arc<Table>, Vec<u8>)> {
    let pos = spec.windows(2).position(|w| w == b"=>")?;
    let t = st.table(spec.get(..pos)?)?;
    Some((t, spec.get(pos + 2..)?.to_vec()))
}

fn functions(st: &Arc<HtState>) -> Vec<FnExport> {
    let any = RouteMask::ANY;
    let f =
        |name: &'static str, params: &[K], doc: &'static str| FnExport::new(name, params, any, doc);
    let mut v = Vec::new();
    let s = Arc::clone(st);
    v.push(
        f("sht_print", &[], "log every table's items (debug)").with(move |ctx, _| {
            let now = s.now();
            for n in s.names() {
                if let Some(t) = s.table(n.as_bytes()) {
                    ctx.log(
                        L_INFO,
                        &format!("htable [{n}] {} items", t.items(now).len()),
                    );
                    for (k, i) in t.items(now) {
                        ctx.log(
                            L_INFO,
                            &format!(
                                "  [{}] => [{}]",
                                String::from_utf8_lossy(&k),
                                i.value.to_text()
                            ),
                        );
                    }
                }
            }
            Ok(RetCode(1))
        }),
    );
    let s = Arc::clone(st);
    v.push(
        f("sht_rm", &[K::Spve, K::Spve], "remove one item").with(move |ctx, a| {
            let (t, k) = (bytes(ctx, a, 0), bytes(ctx, a, 1));
            let Some(t) = s.table(&t) else {
                return Ok(RetCode(-1));
            };
            t.remove(&k);
            Ok(RetCode(1))
        }),
    );
    for (name, by_value) in [("sht_rm_name_re", false), ("sht_rm_value_re", true)] {
        let s = Arc::clone(st);
        v.push(
            f(
                name,
                &[K::Spve],
                "remove items whose name/value matches: \"table=>regex\"",
            )
            .with(move |ctx, a| {
                let spec = bytes(ctx, a, 0);
                let Some((t, re)) = split_ht(&s, &spec) else {
                    return Ok(RetCode(-1));
                };
                let Ok(re) = ferrosip_api::posix::compile(&String::from_utf8_lossy(&re), false)
                else {
                    return Ok(RetCode(-1));
                };
                t.remove_where(&|k, val| match (by_value, val) {
                    (false, _) => re.is_match(k),
                    (true, Value::Str(s)) => re.is_match(s),
                    _ => false,
                });
                Ok(RetCode(1))
            }),
        );
    }
    for (name, by_value) in [("sht_rm_name", false), ("sht_rm_value", true)] {
        let s = Arc::clone(st);
        v.push(
            f(
                name,
                &[K::Spve, K::Spve, K::Spve],
                "remove items matching: op re or sw",
            )
            .with(move |ctx, a| {
                let (t, op, val) = (bytes(ctx, a, 0), bytes(ctx, a, 1), bytes(ctx, a, 2));
                let Some(t) = s.table(&t) else {
                    return Ok(RetCode(-1));
                };
                if op != b"re" && op != b"sw" {
                    return Ok(RetCode(-1));
                }
                t.remove_where(&|k, v| match (by_value, v) {
                    (false, _) => op_match(&op, k, &val).unwrap_or(false),
                    (true, Value::Str(s)) => op_match(&op, s, &val).unwrap_or(false),
                    _ => false,
                });
                Ok(RetCode(1))
            }),
        );
    }
    for (name, by_value) in [
        ("sht_match_name", false),
        ("sht_has_name", false),
        ("sht_match_str_value", true),
        ("sht_has_str_value", true),
    ] {
        let s = Arc::clone(st);
        v.push(
            f(
                name,
                &[K::Spve, K::Spve, K::Spve],
                "true when an item name/string value matches (eq, ne, re, sw)",
            )
            .with(move |ctx, a| {
                let (t, op, val) = (bytes(ctx, a, 0), bytes(ctx, a, 1), bytes(ctx, a, 2));
                let Some(t) = s.table(&t) else {
                    return Ok(RetCode(-1));
                };
                let found = t
                    .items(s.now())
                    .iter()
                    .any(|(k, i)| match (by_value, &i.value) {
                        (false, _) => op_match(&op, k, &val).unwrap_or(false),
                        (true, Value::Str(x)) => op_match(&op, x, &val).unwrap_or(false),
                        _ => false,
                    });
                Ok(RetCode::from_bool(found))
            }),
        );
    }
    let s = Arc::clone(st);
    v.push(
        f("sht_reset", &[K::Spve], "remove every item of a table").with(move |ctx, a| {
            let t = bytes(ctx, a, 0);
            let Some(t) = s.table(&t) else {
                return Ok(RetCode(-1));
            };
            t.reset();
            Ok(RetCode(1))
        }),
    );
    for (name, lock) in [("sht_lock", true), ("sht_unlock", false)] {
        let s = Arc::clone(st);
        v.push(
            f(name, &[K::Spve], "lock/unlock the slot of \"table=>key\"").with(move |ctx, a| {
                let spec = bytes(ctx, a, 0);
                let Some((t, k)) = split_ht(&s, &spec) else {
                    return Ok(RetCode(-1));
                };
                if lock {
                    t.lock_key(&k);
                    Ok(RetCode(1))
                } else {
                    Ok(RetCode::from_bool(t.unlock_key(&k)))
                }
            }),
        );
    }
    for (name, is_int) in [("sht_setxs", false), ("sht_setxi", true)] {
        let s = Arc::clone(st);
        v.push(
            f(
                name,
                &[K::Spve, K::Spve, K::Spve, K::IntOrVar],
                "set an item with its own expiry",
            )
            .with(move |ctx, a| {
                let (t, k) = (bytes(ctx, a, 0), bytes(ctx, a, 1));
                let val = if is_int {
                    match a.get(2).map(|x| x.int(ctx)) {
                        Some(Ok(i)) => Value::Int(i),
                        _ => return Ok(RetCode(-1)),
                    }
                } else {
                    Value::Str(bytes(ctx, a, 2))
                };
                let exp = match a.get(3).map(|x| x.int(ctx)) {
                    Some(Ok(e)) => u64::try_from(e).unwrap_or(0),
                    _ => return Ok(RetCode(-1)),
                };
                let Some(t) = s.table(&t) else {
                    return Ok(RetCode(-1));
                };
                t.set(&k, val, Some(exp), s.now());
                Ok(RetCode(1))
            }),
        );
    }
    iterator_functions(st, &mut v);
    v
}

fn iterator_functions(st: &Arc<HtState>, v: &mut Vec<FnExport>) {
    let f = |name: &'static str, params: &[K], doc: &'static str| {
        FnExport::new(name, params, RouteMask::ANY, doc)
    };
    let s = Arc::clone(st);
    v.push(
        f(
            "sht_iterator_start",
            &[K::Str, K::Spve],
            "start iterating a table",
        )
        .with(move |ctx, a| {
            let (it, tn) = (bytes(ctx, a, 0), bytes(ctx, a, 1));
            let Some(t) = s.table(&tn) else {
                return Ok(RetCode(-1));
            };
            let mut rec = vec![
                (b"t".to_vec(), Value::Str(tn)),
                (b"p".to_vec(), Value::Int(0)),
            ];
            rec.extend(
                t.items(s.now())
                    .into_iter()
                    .map(|(k, _)| (b"k".to_vec(), Value::Str(k))),
            );
            ctx.state.xavps.insert(iter_name(&it), vec![rec]);
            Ok(RetCode(1))
        }),
    );
    v.push(
        f(
            "sht_iterator_next",
            &[K::Str],
            "move to the next item; false at the end",
        )
        .with(|ctx, a| {
            let it = bytes(ctx, a, 0);
            let Some(rec) = ctx
                .state
                .xavps
                .get_mut(&iter_name(&it))
                .and_then(|l| l.first_mut())
            else {
                return Ok(RetCode(-1));
            };
            let count = rec.iter().filter(|(k, _)| k == b"k").count();
            let Some(p) = rec.iter_mut().find(|(k, _)| k == b"p") else {
                return Ok(RetCode(-1));
            };
            let next = usize::try_from(p.1.to_int()).unwrap_or(0) + 1;
            if next > count {
                return Ok(RetCode(-1));
            }
            p.1 = Value::Int(i64::try_from(next).unwrap_or(0));
            Ok(RetCode(1))
        }),
    );
    v.push(
        f("sht_iterator_end", &[K::Str], "stop iterating").with(|ctx, a| {
            let it = bytes(ctx, a, 0);
            ctx.state.xavps.remove(&iter_name(&it));
            Ok(RetCode(1))
        }),
    );
    let s = Arc::clone(st);
    v.push(
        f("sht_iterator_rm", &[K::Str], "remove the current item").with(move |ctx, a| {
            let it = bytes(ctx, a, 0);
            let Some((t, k)) = iter_current(ctx, &it) else {
                return Ok(RetCode(-1));
            };
            Ok(RetCode::from_bool(
                s.table(&t).is_some_and(|t| t.remove(&k)),
            ))
        }),
    );
    for (name, kind) in [
        ("sht_iterator_sets", 0u8),
        ("sht_iterator_seti", 1),
        ("sht_iterator_setex", 2),
    ] {
        let s = Arc::clone(st);
        let p = if kind == 0 { K::Spve } else { K::IntOrVar };
        v.push(
            f(name, &[K::Str, p], "set the current item's value/expiry").with(move |ctx, a| {
                let it = bytes(ctx, a, 0);
                let Some((t, k)) = iter_current(ctx, &it) else {
                    return Ok(RetCode(-1));
                };
                let Some(t) = s.table(&t) else {
                    return Ok(RetCode(-1));
                };
                let now = s.now();
                match kind {
                    0 => t.set(&k, Value::Str(bytes(ctx, a, 1)), None, now),
                    1 => match a.get(1).map(|x| x.int(ctx)) {
                        Some(Ok(i)) => t.set(&k, Value::Int(i), None, now),
                        _ => return Ok(RetCode(-1)),
                    },
                    _ => match a.get(1).map(|x| x.int(ctx)) {
                        Some(Ok(e)) => {
                            return Ok(RetCode::from_bool(t.set_expire(
                                &k,
                                u64::try_from(e).unwrap_or(0),
                                now,
                            )))
                        }
                        _ => return Ok(RetCode(-1)),
                    },
                }
                Ok(RetCode(1))
            }),
        );
    }
}

fn fault(code: i32, message: &str) -> RpcFault {
    RpcFault {
        code,
        message: message.to_string(),
    }
}

fn rpc_str(args: &[RpcValue], i: usize) -> Result<String, RpcFault> {
    match args.get(i) {
        Some(RpcValue::Str(s)) => Ok(s.clone()),
        Some(RpcValue::Int(n)) => Ok(n.to_string()),
        _ => Err(fault(
            500,
            "Not enough parameters (htable name, key name and value)",
        )),
    }
}

fn rpc_int(args: &[RpcValue], i: usize) -> Result<i64, RpcFault> {
    match args.get(i) {
        Some(RpcValue::Int(n)) => Ok(*n),
        Some(RpcValue::Str(s)) => s
            .trim()
            .parse()
            .map_err(|_| fault(500, "Invalid integer value")),
        _ => Err(fault(500, "Not enough parameters")),
    }
}

fn item_value(v: &Value) -> (RpcValue, &'static str) {
    match v {
        Value::Int(i) => (RpcValue::Int(*i), "int"),
        other => (RpcValue::Str(other.to_text()), "str"),
    }
}

type RpcFn = fn(&HtState, &[RpcValue]) -> Result<RpcValue, RpcFault>;

fn rpcs(st: &Arc<HtState>) -> Vec<RpcExport> {
    let table = |s: &HtState, args: &[RpcValue]| -> Result<Arc<Table>, RpcFault> {
        let n = rpc_str(args, 0)?;
        s.table(n.as_bytes())
            .ok_or_else(|| fault(500, "No such htable"))
    };
    let list: Vec<(&'static str, &'static str, RpcFn)> = vec![
        ("htable.get", "item of a table: htable, key", |s, a| {
            let t = rpc_str(a, 0)?;
            let t = s
                .table(t.as_bytes())
                .ok_or_else(|| fault(500, "No such htable"))?;
            let k = rpc_str(a, 1)?;
            let item = t
                .get(k.as_bytes(), s.now())
                .ok_or_else(|| fault(500, "Key name doesn't exist in htable."))?;
            let (v, _) = item_value(&item.value);
            Ok(RpcValue::Struct(vec![(
                "item".into(),
                RpcValue::Struct(vec![("name".into(), RpcValue::Str(k)), ("value".into(), v)]),
            )]))
        }),
        ("htable.delete", "remove an item: htable, key", |s, a| {
            let t = rpc_str(a, 0)?;
            let t = s
                .table(t.as_bytes())
                .ok_or_else(|| fault(500, "No such htable"))?;
            t.remove(rpc_str(a, 1)?.as_bytes());
            Ok(RpcValue::Null)
        }),
        (
            "htable.sets",
            "set a string item: htable, key, value",
            |s, a| {
                let t = rpc_str(a, 0)?;
                let t = s
                    .table(t.as_bytes())
                    .ok_or_else(|| fault(500, "No such htable"))?;
                t.set(
                    rpc_str(a, 1)?.as_bytes(),
                    Value::Str(rpc_str(a, 2)?.into_bytes()),
                    None,
                    s.now(),
                );
                Ok(RpcValue::Null)
            },
        ),
        (
            "htable.seti",
            "set an integer item: htable, key, value",
            |s, a| {
                let t = rpc_str(a, 0)?;
                let t = s
                    .table(t.as_bytes())
                    .ok_or_else(|| fault(500, "No such htable"))?;
                t.set(
                    rpc_str(a, 1)?.as_bytes(),
                    Value::Int(rpc_int(a, 2)?),
                    None,
                    s.now(),
                );
                Ok(RpcValue::Null)
            },
        ),
        (
            "htable.setex",
            "set an item's expiry: htable, key, seconds",
            |s, a| {
                let t = rpc_str(a, 0)?;
                let t = s
                    .table(t.as_bytes())
                    .ok_or_else(|| fault(500, "No such htable"))?;
                let e = u64::try_from(rpc_int(a, 2)?).unwrap_or(0);
                if !t.set_expire(rpc_str(a, 1)?.as_bytes(), e, s.now()) {
                    return Err(fault(500, "Failed to set expire"));
                }
                Ok(RpcValue::Null)
            },
        ),
        (
            "htable.setxs",
            "set a string item with its expiry: htable, key, value, seconds",
            |s, a| {
                let t = rpc_str(a, 0)?;
                let t = s
                    .table(t.as_bytes())
                    .ok_or_else(|| fault(500, "No such htable"))?;
                let e = u64::try_from(rpc_int(a, 3)?).unwrap_or(0);
                t.set(
                    rpc_str(a, 1)?.as_bytes(),
                    Value::Str(rpc_str(a, 2)?.into_bytes()),
                    Some(e),
                    s.now(),
                );
                Ok(RpcValue::Null)
            },
        ),
        (
            "htable.setxi",
            "set an integer item with its expiry: htable, key, value, seconds",
            |s, a| {
                let t = rpc_str(a, 0)?;
                let t = s
                    .table(t.as_bytes())
                    .ok_or_else(|| fault(500, "No such htable"))?;
                let e = u64::try_from(rpc_int(a, 3)?).unwrap_or(0);
                t.set(
                    rpc_str(a, 1)?.as_bytes(),
                    Value::Int(rpc_int(a, 2)?),
                    Some(e),
                    s.now(),
                );
                Ok(RpcValue::Null)
            },
        ),
        (
            "htable.store",
            "Store hash table to database: htable",
            |s, a| {
                let (db, t) = db_rpc_table(s, a)?;
                db.store(&t, s.now()).map_err(|e| {
                    tracing::error!(
                        "htable: failed syncing hash table [{}] to db: {e}",
                        t.def.name
                    );
                    fault(500, "Storing htable failed")
                })?;
                Ok(RpcValue::Str(
                    "Ok. Htable successfully stored to DB.".into(),
                ))
            },
        ),
        (
            "htable.dmqsync",
            "DMQ sync: refused (no DMQ support yet)",
            |_, _| Err(fault(500, "DMQ replication: not implemented yet")),
        ),
        (
            "htable.dmqresync",
            "DMQ resync: refused (no DMQ support yet)",
            |_, _| Err(fault(500, "DMQ replication: not implemented yet")),
        ),
        ("htable.flush", "remove every item: htable", |s, a| {
            let t = rpc_str(a, 0)?;
            let t = s
                .table(t.as_bytes())
                .ok_or_else(|| fault(500, "No such htable"))?;
            t.reset();
            Ok(RpcValue::Null)
        }),
        (
            "htable.reload",
            "Reload hash table from database: htable",
            |s, a| {
                let (db, t) = db_rpc_table(s, a)?;
                db.reload(&t, s.now()).map_err(|e| {
                    tracing::error!("htable: reload of {}: {e}", t.def.name);
                    fault(500, "Htable reload failed")
                })?;
                Ok(RpcValue::Str("Ok. Htable reloaded.".into()))
            },
        ),
        (
            "htable.listTables",
            "every table with its settings",
            |s, _| {
                let mut out = Vec::new();
                for n in s.names() {
                    if let Some(t) = s.table(n.as_bytes()) {
                        let d = &t.def;
                        out.push(RpcValue::Struct(vec![
                            ("name".into(), RpcValue::Str(n.clone())),
                            (
                                "dbtable".into(),
                                RpcValue::Str(d.dbtable.clone().unwrap_or_default()),
                            ),
                            ("dbmode".into(), RpcValue::Int(i64::from(d.dbmode))),
                            (
                                "expire".into(),
                                RpcValue::Int(i64::try_from(d.autoexpire).unwrap_or(0)),
                            ),
                            (
                                "updateexpire".into(),
                                RpcValue::Int(i64::from(d.updateexpire)),
                            ),
                            (
                                "size".into(),
                                RpcValue::Int(i64::try_from(t.slots()).unwrap_or(0)),
                            ),
                            ("dmqreplicate".into(), RpcValue::Int(0)),
                        ]));
                    }
                }
                Ok(RpcValue::Array(out))
            },
        ),
        (
            "htable.stats",
            "per table: slots, items, min and max items per shard",
            |s, _| {
                let mut out = Vec::new();
                for n in s.names() {
                    if let Some(t) = s.table(n.as_bytes()) {
                        let sizes = t.shard_sizes();
                        let int = |v: usize| RpcValue::Int(i64::try_from(v).unwrap_or(0));
                        out.push(RpcValue::Struct(vec![
                            ("name".into(), RpcValue::Str(n.clone())),
                            (
                                "slots".into(),
                                RpcValue::Int(i64::try_from(t.slots()).unwrap_or(0)),
                            ),
                            ("all".into(), int(sizes.iter().sum())),
                            ("min".into(), int(sizes.iter().copied().min().unwrap_or(0))),
                            ("max".into(), int(sizes.iter().copied().max().unwrap_or(0))),
                        ]));
                    }
                }
                Ok(RpcValue::Array(out))
            },
        ),
    ];
    let mut v: Vec<RpcExport> = list
        .into_iter()
        .map(|(name, doc, f)| {
            let s = Arc::clone(st);
            RpcExport {
                name,
                doc,
                handler: Arc::new(move |a: &[RpcValue]| f(&s, a)),
            }
        })
        .collect();
    let s = Arc::clone(st);
    v.push(RpcExport {
        name: "htable.dump",
        doc: "every live item of a table, sorted by name",
        handler: Arc::new(move |a: &[RpcValue]| {
            let t = table(&s, a)?;
            let items = t
                .items(s.now())
                .into_iter()
                .map(|(k, i)| {
                    let (v, ty) = item_value(&i.value);
                    RpcValue::Struct(vec![
                        (
                            "name".into(),
                            RpcValue::Str(String::from_utf8_lossy(&k).into_owned()),
                        ),
                        ("value".into(), v),
                        ("type".into(), RpcValue::Str(ty.into())),
                    ])
                })
                .collect();
            Ok(RpcValue::Array(items))
        }),
    });
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators() {
        // (op, subject, value, result)
        type Case<'a> = (&'a [u8], &'a [u8], &'a [u8], Option<bool>);
        let cases: [Case; 7] = [
            (b"eq", b"abc", b"abc", Some(true)),
            (b"ne", b"abc", b"abc", Some(false)),
            (b"sw", b"abc", b"ab", Some(true)),
            (b"re", b"abc", b"^a.c$", Some(true)),
            (b"re", b"abc", b"^b", Some(false)),
            (b"xx", b"abc", b"a", None),
            (b"sw", b"a", b"ab", Some(false)),
        ];
        for (op, s, v, want) in cases {
            assert_eq!(op_match(op, s, v), want, "{op:?} {s:?} {v:?}");
        }
    }
}
