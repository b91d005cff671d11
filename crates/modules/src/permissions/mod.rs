//! `permissions`: IP-based access rules from the database (Kamailio's permissions module).
//!
//! - The `address` table (group, IP or subnet or DNS name, port, tag) or `address_file`, loaded
//!   into memory at startup and by `permissions.addressReload`: `allow_address`,
//!   `allow_source_address`, `allow_address_group`, `allow_source_address_group` ([`address`]).
//! - The `trusted` table (source IP, protocol, From and R-URI patterns, tag, priority), read per
//!   call (`db_mode` 0) or cached (`db_mode` 1, `permissions.trustedReload`): `allow_trusted`
//!   ([`trusted`]).
//!
//! - The allow/deny rule files, read at load: `allow_routing`, `allow_register`,
//!   `allow_register_include_port`, `allow_uri`, `permissions.allowUri` ([`files`]).
//!
//! A matching row's non-NULL tag is added to the `peer_tag_avp` AVP. Tables are swapped whole on a
//! reload (readers keep the `Arc` they took), so a reload never shows a half-loaded table.
//! Relative file names (`address_file`, the rule files) are read next to the config file, as
//! Kamailio does (docs/modules-data.md).

mod address;
mod files;
mod trusted;

use std::net::IpAddr;
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};
use std::time::{Duration, Instant};

use ferrosip_api::export::{
    Arg, FnExport, ModParam, ModParamType as T, ParamKind as K, RpcExport, RpcFault, RpcValue,
};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, Proto, RetCode, RouteMask};
use ferrosip_db::{Cond, Db, Order};

use crate::db::{driver_module_name, DbDrivers, Driver};
use address::Tables;
use trusted::{Cache, Request};

/// Version of the `address` and `trusted` tables the module expects.
pub const TABLE_VERSION: i64 = 6;

/// `load_backends` bits.
const LOAD_ADDRESS: i64 = 1;
const LOAD_TRUSTED: i64 = 2;
const LOAD_ALLOW_FILE: i64 = 4;
const LOAD_DENY_FILE: i64 = 8;

/// Frozen modparams.
#[derive(Debug, Clone)]
struct Config {
    url: Option<String>,
    address_table: String,
    grp_col: String,
    ip_addr_col: String,
    mask_col: String,
    port_col: String,
    tag_col: String,
    trusted_table: String,
    source_col: String,
    proto_col: String,
    from_col: String,
    ruri_col: String,
    priority_col: String,
    peer_tag_avp: Option<Vec<u8>>,
    peer_tag_all: bool,
    cache_trusted: bool,
    max_subnets: usize,
    backends: i64,
    reload_delta: Duration,
    /// `address_file`: the address rows come from this file instead of the database (the full
    /// path once the module is initialised).
    address_file: Option<String>,
    /// `default_allow_file`, `default_deny_file` (as given).
    default_allow: String,
    default_deny: String,
    /// `check_all_branches`.
    all_branches: bool,
    /// `allow_suffix`, `deny_suffix`.
    allow_suffix: String,
    deny_suffix: String,
}

impl Config {
    fn address_on(&self) -> bool {
        self.backends & LOAD_ADDRESS != 0 && (self.url.is_some() || self.address_file.is_some())
    }

    /// The address rows come from the database.
    fn address_db(&self) -> bool {
        self.address_on() && self.address_file.is_none()
    }

    fn trusted_on(&self) -> bool {
        self.backends & LOAD_TRUSTED != 0 && self.url.is_some()
    }
}

/// Module state: settings, the shared pool (opened in child_init), the cached tables.
#[derive(Debug, Default)]
struct State {
    cfg: OnceLock<Config>,
    drivers: OnceLock<Arc<DbDrivers>>,
    db: OnceLock<Db>,
    /// `None` until loaded (or when the address back end is off).
    addr: RwLock<Option<Arc<Tables>>>,
    /// `None` unless `db_mode` is 1 and the trusted back end is on.
    trusted: RwLock<Option<Arc<Cache>>>,
    /// When the last RPC reload started (`reload_delta`).
    last_reload: Mutex<Option<Instant>>,
    /// Compiled patterns of the per-call trusted query.
    patterns: trusted::PatternCache,
    /// The main config file (relative file names are read next to it).
    cfg_file: OnceLock<Option<String>>,
    /// The allow/deny rule files: the defaults at init, the others as calls are prepared.
    files: RwLock<files::FileTable>,
}

/// The `permissions` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(State::default());
    let mut m = ModuleExports::new("permissions");
    m.params = params();
    m.functions = functions(&st);
    m.rpcs = rpcs(&st);
    let a = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let mut cfg = config(ictx.modparams())?;
        let cfg_file = ictx.cfg_file().map(str::to_string);
        cfg.address_file = cfg
            .address_file
            .map(|f| files::pathname(cfg_file.as_deref(), &f));
        let default = |bit: i64, name: &str| {
            (cfg.backends & bit != 0).then(|| files::pathname(cfg_file.as_deref(), name))
        };
        *a.files.write().unwrap_or_else(PoisonError::into_inner) = files::FileTable::with_defaults(
            default(LOAD_ALLOW_FILE, &cfg.default_allow),
            default(LOAD_DENY_FILE, &cfg.default_deny),
        );
        let _ = a.cfg_file.set(cfg_file);
        let drivers = DbDrivers::of(ictx);
        if let Some(url) = cfg
            .url
            .as_deref()
            .filter(|_| cfg.address_db() || cfg.trusted_on())
        {
            if let Err(e) = drivers.bind("permissions", url) {
                // A driver module loaded after this one registers later: checked again at
                // child_init, as auth_db does.
                if Driver::from_module(&driver_module_name(url)).is_none() {
                    return Err(e);
                }
            }
        }
        let _ = a.drivers.set(drivers);
        a.cfg
            .set(cfg)
            .map_err(|_| Error::Init("permissions initialised twice".into()))
    }));
    let a = Arc::clone(&st);
    m.child_init = Some(Arc::new(move |_rank| a.start().map_err(Error::Init)));
    m
}

impl State {
    fn cfg(&self) -> Result<&Config, String> {
        self.cfg
            .get()
            .ok_or_else(|| "permissions is not initialised".to_string())
    }

    /// The shared pool (the URL's driver must be loaded by now).
    fn db(&self) -> Result<Db, String> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let cfg = self.cfg()?;
        let (Some(url), Some(drivers)) = (cfg.url.as_deref(), self.drivers.get()) else {
            return Err("db_url not set".into());
        };
        let db = drivers.open_bound("permissions", url)?;
        let _ = self.db.set(db.clone());
        Ok(db)
    }

    /// Kamailio's mod_init + child_init work: check the table versions, load the address table
    /// and (db_mode 1) the trusted table. Runs once, after the fork.
    fn start(&self) -> Result<(), String> {
        let cfg = self.cfg()?.clone();
        if !cfg.address_on() && !cfg.trusted_on() {
            if cfg.url.is_none() {
                tracing::info!(
                    "permissions: db_url parameter of permissions module not set, disabling \
                     allow_address and allow_trusted"
                );
            }
            return Ok(());
        }
        if cfg.address_file.is_some() && cfg.address_on() {
            self.reload_address()
                .map_err(|e| format!("permissions: reload of address table failed: {e}"))?;
        }
        if !cfg.address_db() && !cfg.trusted_on() {
            return Ok(());
        }
        let db = self
            .db()
            .map_err(|e| format!("permissions: unable to connect database: {e}"))?;
        let version = |table: &str| {
            db.check_table_version(table, TABLE_VERSION).map_err(|e| {
                format!(
                    "permissions: Error during version check for db table: {table}, check \
                     database structure. ({e})"
                )
            })
        };
        if cfg.address_db() {
            version(&cfg.address_table)?;
            self.reload_address()
                .map_err(|e| format!("permissions: reload of address table failed: {e}"))?;
        }
        if cfg.trusted_on() {
            version(&cfg.trusted_table)?;
            if cfg.cache_trusted {
                self.reload_trusted()
                    .map_err(|e| format!("permissions: reload of trusted table failed: {e}"))?;
            }
        }
        Ok(())
    }

    /// Reads the address table (or `address_file`) and swaps it in.
    fn reload_address(&self) -> Result<(), String> {
        let cfg = self.cfg()?;
        if let Some(path) = &cfg.address_file {
            let text =
                std::fs::read(path).map_err(|e| format!("can't open list file [{path}]: {e}"))?;
            let rows = address::parse_file(&text);
            let (t, warnings) = Tables::build(&rows, cfg.max_subnets)?;
            for w in warnings {
                tracing::error!("permissions: {w}");
            }
            *self.addr.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(t));
            return Ok(());
        }
        let db = self.db()?;
        let cols = [
            cfg.grp_col.as_str(),
            &cfg.ip_addr_col,
            &cfg.mask_col,
            &cfg.port_col,
            &cfg.tag_col,
        ];
        let res = db
            .query(&cfg.address_table, &[], &cols, None)
            .map_err(|e| format!("failed to query database: {e}"))?;
        let rows = res
            .rows
            .iter()
            .map(|r| address::row_of(r))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("database problem - invalid record: {e}"))?;
        let (t, warnings) = Tables::build(&rows, cfg.max_subnets)
            .map_err(|e| format!("database problem - invalid record: {e}"))?;
        for w in warnings {
            tracing::error!("permissions: {w}");
        }
        *self.addr.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(t));
        Ok(())
    }

    /// Reads the trusted table into a new cache and swaps it in.
    fn reload_trusted(&self) -> Result<(), String> {
        let cfg = self.cfg()?;
        let db = self.db()?;
        let cols = [
            cfg.source_col.as_str(),
            &cfg.proto_col,
            &cfg.from_col,
            &cfg.ruri_col,
            &cfg.tag_col,
            &cfg.priority_col,
        ];
        let res = db
            .query(&cfg.trusted_table, &[], &cols, None)
            .map_err(|e| format!("failed to query database: {e}"))?;
        let c = Cache::build(&res.rows).map_err(|e| format!("database problem: {e}"))?;
        *self.trusted.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(c));
        Ok(())
    }

    fn addr_tables(&self) -> Option<Arc<Tables>> {
        self.addr
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn trusted_cache(&self) -> Option<Arc<Cache>> {
        self.trusted
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Reads the files a rule-file call names and puts the file-table entry it checks first in
    /// its arguments (no file name: entry 0, the default files).
    fn prepare_files(&self, args: &mut [Arg], check: FileCheck) -> Result<(), String> {
        let cfg = self.cfg()?;
        let cfg_file = self.cfg_file.get().and_then(|f| f.as_deref());
        let name = |a: &Arg| match a {
            Arg::Str(s) => Ok(String::from_utf8_lossy(s).into_owned()),
            _ => Err("expects a file name".to_string()),
        };
        let mut table = self.files.write().unwrap_or_else(PoisonError::into_inner);
        let mut load = |n: &str, deny: bool| table.load(files::pathname(cfg_file, n), deny);
        let basename_form = args.len() == 1 || matches!(check, FileCheck::Uri);
        let idx = match args.first() {
            None => return Ok(()),
            Some(first) if basename_form => {
                let base = name(first)?;
                load(&format!("{base}{}", cfg.allow_suffix), false)?;
                // The call keeps the deny file's entry, as Kamailio's single_fixup does.
                load(&format!("{base}{}", cfg.deny_suffix), true)?
            }
            Some(first) => {
                let idx = load(&name(first)?, false)?;
                if let Some(second) = args.get(1) {
                    load(&name(second)?, true)?;
                }
                idx
            }
        };
        if let Some(a) = args.first_mut() {
            *a = Arg::Int(i64::try_from(idx).unwrap_or(0));
        }
        Ok(())
    }

    /// Adds a tag to `peer_tag_avp` when it is set.
    fn add_tag(&self, ctx: &mut Ctx<'_>, tag: Option<&str>) {
        if let (Some(t), Some(Some(avp))) = (tag, self.cfg.get().map(|c| &c.peer_tag_avp)) {
            ctx.state.avps.add(avp, address::tag_value(t));
        }
    }

    /// Kamailio's `rpc_check_reload`: at most one reload per `reload_delta`.
    fn check_reload(&self) -> Result<(), RpcFault> {
        let delta = self
            .cfg
            .get()
            .map_or(Duration::from_secs(5), |c| c.reload_delta);
        let mut last = self
            .last_reload
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if last.is_some_and(|t| t.elapsed() < delta) {
            return Err(fault(500, "ongoing reload"));
        }
        *last = Some(Instant::now());
        Ok(())
    }
}

fn fault(code: i32, message: &str) -> RpcFault {
    RpcFault {
        code,
        message: message.into(),
    }
}

fn functions(st: &Arc<State>) -> Vec<FnExport> {
    let mut v = Vec::new();
    let any = RouteMask::ANY;
    let a = Arc::clone(st);
    v.push(
        FnExport::new(
            "allow_address",
            &[K::IntOrVar, K::Spve, K::IntOrVar],
            any,
            "true when address and port are in the group (exact, subnet or DNS name)",
        )
        .with(move |ctx, args| Ok(RetCode(allow_address(&a, ctx, args))))
        .fixup(no_empty_constants),
    );
    for arity in [0usize, 1] {
        let a = Arc::clone(st);
        let params: &[K] = if arity == 0 { &[] } else { &[K::IntOrVar] };
        v.push(
            FnExport::new(
                "allow_source_address",
                params,
                any,
                "true when the source address and port are in the group (default 1)",
            )
            .with(move |ctx, args| {
                let grp = match args.first() {
                    None => 1,
                    Some(g) => match int_arg(ctx, g) {
                        Some(g) => g,
                        None => {
                            ctx.log_error("permissions: cannot get group value");
                            return Ok(RetCode(-1));
                        }
                    },
                };
                let (ip, port) = (ctx.rcv.src.ip(), u32::from(ctx.rcv.src.port()));
                Ok(RetCode(match_group(&a, ctx, grp, Target::Ip(ip), port)))
            }),
        );
    }
    let a = Arc::clone(st);
    v.push(
        FnExport::new(
            "allow_source_address_group",
            &[],
            any,
            "the group of the source address and port, or -1",
        )
        .with(move |ctx, _| {
            let (ip, port) = (ctx.rcv.src.ip(), u32::from(ctx.rcv.src.port()));
            Ok(RetCode(find_group(&a, ctx, Target::Ip(ip), port)))
        }),
    );
    let a = Arc::clone(st);
    v.push(
        FnExport::new(
            "allow_address_group",
            &[K::Spve, K::IntOrVar],
            any,
            "the group of the address and port, or -1",
        )
        .with(move |ctx, args| {
            let Some((addr, port)) = addr_port(ctx, args.first(), args.get(1)) else {
                return Ok(RetCode(-1));
            };
            let target = target_of(&addr);
            Ok(RetCode(find_group(&a, ctx, target, port)))
        })
        .fixup(no_empty_constants),
    );
    for params in [&[][..], &[K::Spve, K::Spve], &[K::Spve, K::Spve, K::Spve]] {
        let a = Arc::clone(st);
        v.push(
            FnExport::new(
                "allow_trusted",
                params,
                any,
                "true when a trusted-table rule matches source, protocol, From and R-URI",
            )
            .with(move |ctx, args| Ok(RetCode(allow_trusted(&a, ctx, args))))
            .fixup(no_empty_constants),
        );
    }
    file_functions(st, &mut v);
    v
}

/// What a rule-file function checks.
#[derive(Clone, Copy)]
enum FileCheck {
    Routing,
    Register { port: bool },
    Uri,
}

/// `allow_routing`, `allow_register`, `allow_register_include_port`, `allow_uri`: the file names
/// are read when the call is prepared and become the entry of the file table the call checks
/// (Kamailio's `single_fixup` / `load_fixup` / `double_fixup`).
fn file_functions(st: &Arc<State>, v: &mut Vec<FnExport>) {
    let (routing, uri) = (FileCheck::Routing, FileCheck::Uri);
    let (register, with_port) = (
        FileCheck::Register { port: false },
        FileCheck::Register { port: true },
    );
    let cases: [(&'static str, &'static [K], FileCheck); 8] = [
        ("allow_routing", &[], routing),
        ("allow_routing", &[K::Str], routing),
        ("allow_routing", &[K::Str, K::Str], routing),
        ("allow_register", &[K::Str], register),
        ("allow_register", &[K::Str, K::Str], register),
        ("allow_register_include_port", &[K::Str], with_port),
        ("allow_register_include_port", &[K::Str, K::Str], with_port),
        ("allow_uri", &[K::Str, K::Var], uri),
    ];
    for (name, params, check) in cases {
        let (routes, doc) = match check {
            FileCheck::Routing => (
                RouteMask::ANY,
                "true unless the allow/deny files deny From → R-URI (and branches)",
            ),
            FileCheck::Register { port: false } => (
                RouteMask::REQUEST.or(RouteMask::FAILURE),
                "true unless the allow/deny files deny To → a Contact",
            ),
            FileCheck::Register { port: true } => (
                RouteMask::REQUEST.or(RouteMask::FAILURE),
                "true unless the allow/deny files deny To → a Contact with its port",
            ),
            FileCheck::Uri => (
                RouteMask::REQUEST.or(RouteMask::FAILURE),
                "true unless the allow/deny files deny From → the variable's URI",
            ),
        };
        let a = Arc::clone(st);
        let f = Arc::clone(st);
        v.push(
            FnExport::new(name, params, routes, doc)
                .with(move |ctx, args| {
                    let idx = match args.first() {
                        Some(Arg::Int(i)) => usize::try_from(*i).unwrap_or(0),
                        _ => 0,
                    };
                    let (allow, deny) = a
                        .files
                        .read()
                        .unwrap_or_else(PoisonError::into_inner)
                        .pair(idx);
                    let all = a.cfg.get().is_none_or(|c| c.all_branches);
                    Ok(RetCode(match check {
                        FileCheck::Routing => files::check_routing(ctx, &allow, &deny, all),
                        FileCheck::Register { port } => {
                            files::check_register(ctx, &allow, &deny, all, port)
                        }
                        FileCheck::Uri => match args.get(1) {
                            Some(var) => files::check_uri(ctx, &allow, &deny, var),
                            None => -1,
                        },
                    }))
                })
                .fixup(move |args| f.prepare_files(args, check)),
        );
    }
}

fn no_empty_constants(args: &mut [Arg]) -> Result<(), String> {
    for (i, a) in args.iter().enumerate() {
        if matches!(a, Arg::Str(s) if s.is_empty()) {
            return Err(format!("empty parameter {} not allowed", i + 1));
        }
    }
    Ok(())
}

/// An integer parameter as Kamailio's `get_int_fparam` reads it: a constant (a numeric string
/// constant too), or a variable whose value is an integer. A variable holding a string — even
/// "5060" from `$hdr(...)` — is an error there ("Could not convert PV to int"), and here.
fn int_arg(ctx: &mut Ctx<'_>, a: &Arg) -> Option<i64> {
    match a {
        Arg::Int(i) => Some(*i),
        Arg::Str(s) => ferrosip_api::value::str_to_int(s),
        // A format with text around variables: its rendering, as a number.
        Arg::Fmt(f) => ferrosip_api::value::str_to_int(&f.render(ctx)),
        other => match other.value(ctx) {
            ferrosip_api::Value::Int(i) => Some(i),
            _ => None,
        },
    }
}

/// What an address argument is: an IP or a name.
enum Target {
    Ip(IpAddr),
    Name(String),
}

fn target_of(addr: &str) -> Target {
    match address::parse_ip(addr) {
        Some(ip) => Target::Ip(ip),
        None => Target::Name(addr.to_string()),
    }
}

/// The address (text) and port arguments; logs and gives `None` when one cannot be read.
fn addr_port(ctx: &mut Ctx<'_>, addr: Option<&Arg>, port: Option<&Arg>) -> Option<(String, u32)> {
    let Some(addr) = addr else {
        ctx.log_error("permissions: cannot get value of address pvar");
        return None;
    };
    let addr = String::from_utf8_lossy(&addr.bytes(ctx)).into_owned();
    let port = match port.and_then(|p| int_arg(ctx, p)) {
        Some(p) => p,
        None => {
            ctx.log_error("permissions: cannot get value of port pvar");
            return None;
        }
    };
    // Kamailio keeps the port as an unsigned int: a negative one matches no row but port-0 rows.
    Some((addr, u32::try_from(port).unwrap_or(u32::MAX)))
}

fn allow_address(st: &State, ctx: &mut Ctx<'_>, args: &[Arg]) -> i64 {
    let grp = match args.first().and_then(|g| int_arg(ctx, g)) {
        Some(g) => g,
        None => {
            ctx.log_error("permissions: cannot get group value");
            return -1;
        }
    };
    let Some((addr, port)) = addr_port(ctx, args.get(1), args.get(2)) else {
        return -1;
    };
    match_group(st, ctx, grp, target_of(&addr), port)
}

fn match_group(st: &State, ctx: &mut Ctx<'_>, grp: i64, target: Target, port: u32) -> i64 {
    let Some(t) = st.addr_tables() else {
        return -1;
    };
    let Ok(grp) = u32::try_from(grp) else {
        return -1;
    };
    let found = match &target {
        Target::Ip(ip) => t.match_ip(grp, *ip, port),
        Target::Name(n) => t.match_name(grp, n, port),
    };
    match found {
        Some(tag) => {
            st.add_tag(ctx, tag);
            1
        }
        None => -1,
    }
}

fn find_group(st: &State, ctx: &mut Ctx<'_>, target: Target, port: u32) -> i64 {
    let Some(t) = st.addr_tables() else {
        return -1;
    };
    match &target {
        Target::Ip(ip) => match t.group_of_ip(*ip, port) {
            Some((g, tag)) => {
                st.add_tag(ctx, tag);
                i64::from(g)
            }
            None => -1,
        },
        Target::Name(n) => t.group_of_name(n, port).map_or(-1, i64::from),
    }
}

/// Kamailio's protocol argument of `allow_trusted`: `Ok(None)` is "any".
fn proto_arg(s: &[u8]) -> Result<Option<Proto>, ()> {
    if s.eq_ignore_ascii_case(b"any") {
        return Ok(None);
    }
    Proto::from_name(s).map(Some).ok_or(())
}

fn allow_trusted(st: &State, ctx: &mut Ctx<'_>, args: &[Arg]) -> i64 {
    let from_hdr = ctx.msg.from().ok().map(|na| ctx.msg.slice(na.uri).to_vec());
    let (src, proto, from) = match args {
        [] => {
            let Some(f) = from_hdr else {
                return -1;
            };
            (ctx.rcv.src.ip().to_string(), Some(ctx.rcv.proto), f)
        }
        [ip, proto, rest @ ..] => {
            let ip = String::from_utf8_lossy(&ip.bytes(ctx)).into_owned();
            let p = proto.bytes(ctx);
            let Ok(proto) = proto_arg(&p) else {
                ctx.log_error(&format!(
                    "permissions: unknown protocol {}",
                    String::from_utf8_lossy(&p)
                ));
                return -1;
            };
            let from = match rest.first() {
                Some(u) => u.bytes(ctx),
                None => match from_hdr {
                    Some(f) => f,
                    None => return -1,
                },
            };
            (ip, proto, from)
        }
        _ => return -1,
    };
    let ruri = ctx.original_ruri().to_vec();
    let req = Request {
        proto,
        from_uri: &from,
        ruri: &ruri,
    };
    let Ok(cfg) = st.cfg() else {
        return -1;
    };
    let all = cfg.peer_tag_all;
    let m = if cfg.cache_trusted {
        match st.trusted_cache() {
            Some(c) => c.matches(&src, req, all),
            None => return -1,
        }
    } else {
        if !cfg.trusted_on() {
            ctx.log_error("permissions: no connection to database");
            return -1;
        }
        let cols = [
            cfg.proto_col.as_str(),
            &cfg.from_col,
            &cfg.ruri_col,
            &cfg.tag_col,
        ];
        let res = st.db().and_then(|db| {
            db.query(
                &cfg.trusted_table,
                &[Cond::eq(&cfg.source_col, src.as_str())],
                &cols,
                Some(Order::asc(&cfg.priority_col)),
            )
            .map_err(|e| e.to_string())
        });
        let rows = match res {
            Ok(r) => r.rows,
            Err(e) => {
                ctx.log_error(&format!("permissions: failed to query database: {e}"));
                return -1;
            }
        };
        let rules = trusted::rules_of_query(&src, &rows, &mut |t| st.patterns.get(t));
        trusted::match_rules(rules.iter(), req, all)
    };
    for e in &m.errors {
        ctx.log_error(&format!("permissions: {e}"));
    }
    for t in &m.tags {
        st.add_tag(ctx, Some(t));
    }
    m.rc
}

fn rpcs(st: &Arc<State>) -> Vec<RpcExport> {
    let mut v = Vec::new();
    let a = Arc::clone(st);
    v.push(RpcExport {
        name: "permissions.addressReload",
        doc: "reload the address table from the database",
        handler: Arc::new(move |_| {
            a.check_reload()?;
            let on = a.cfg().map(Config::address_on).unwrap_or(false);
            if !on || a.reload_address().is_err() {
                return Err(fault(500, "Reload failed."));
            }
            Ok(RpcValue::Str("Reload OK".into()))
        }),
    });
    let a = Arc::clone(st);
    v.push(RpcExport {
        name: "permissions.trustedReload",
        doc: "reload the cached trusted table (db_mode 1)",
        handler: Arc::new(move |_| {
            a.check_reload()?;
            let on = a
                .cfg()
                .map(|c| c.trusted_on() && c.cache_trusted)
                .unwrap_or(false);
            if !on || a.reload_trusted().is_err() {
                return Err(fault(500, "Reload failed."));
            }
            Ok(RpcValue::Str("Reload OK".into()))
        }),
    });
    let dumps: [(&'static str, &'static str, &'static str, DumpFn); 3] = [
        (
            "permissions.addressDump",
            "the cached exact addresses",
            "No address table",
            |t| many(t.dump_exact()),
        ),
        (
            "permissions.subnetDump",
            "the cached subnets",
            "No subnet table",
            |t| many(t.dump_subnets()),
        ),
        (
            "permissions.domainDump",
            "the cached DNS names",
            "No domain name table",
            Tables::dump_names,
        ),
    ];
    for (name, doc, missing, f) in dumps {
        let a = Arc::clone(st);
        v.push(RpcExport {
            name,
            doc,
            handler: Arc::new(move |_| {
                let t = a.addr_tables().ok_or_else(|| fault(500, missing))?;
                Ok(f(&t))
            }),
        });
    }
    for name in ["permissions.allowUri", "permissions.testUri"] {
        let a = Arc::clone(st);
        v.push(RpcExport {
            name,
            doc: "Allowed or Denied: (basename, URI, contact) by the basename's allow/deny files",
            handler: Arc::new(move |args| {
                let suffix = a.cfg.get().map_or(".allow", |c| c.allow_suffix.as_str());
                let cfg_file = a.cfg_file.get().and_then(|f| f.as_deref());
                let table = a.files.read().unwrap_or_else(PoisonError::into_inner);
                files::rpc_allow_uri(args, &table, cfg_file, suffix)
            }),
        });
    }
    let a = Arc::clone(st);
    v.push(RpcExport {
        name: "permissions.trustedDump",
        doc: "the cached trusted table (db_mode 1)",
        handler: Arc::new(move |_| {
            let c = a
                .trusted_cache()
                .ok_or_else(|| fault(500, "No trusted table"))?;
            Ok(c.dump())
        }),
    });
    v
}

type DumpFn = fn(&Tables) -> RpcValue;

/// Several values added to a reply one by one: an array (one value alone is the value itself, as
/// Kamailio's JSON-RPC reply has it).
fn many(mut v: Vec<RpcValue>) -> RpcValue {
    match v.len() {
        0 => RpcValue::Array(Vec::new()),
        1 => v.pop().unwrap_or(RpcValue::Null),
        _ => RpcValue::Array(v),
    }
}

fn params() -> Vec<ModParam> {
    let p = ModParam::new;
    let ident = |v: &ModValue| match v {
        ModValue::Str(s) if is_ident(s) => Ok(()),
        _ => Err("expects a table or column name ([A-Za-z_][A-Za-z0-9_]*)".to_string()),
    };
    let v = vec![
        p(
            "db_url",
            T::Str,
            "database of the address and trusted tables (none: both off)",
        ),
        p("address_table", T::Str, "table of allow_address (address)").check(ident),
        p("grp_col", T::Str, "group column (grp)").check(ident),
        p(
            "ip_addr_col",
            T::Str,
            "IP address or DNS name column (ip_addr)",
        )
        .check(ident),
        p("mask_col", T::Str, "network mask column (mask)").check(ident),
        p("port_col", T::Str, "port column (port)").check(ident),
        p("trusted_table", T::Str, "table of allow_trusted (trusted)").check(ident),
        p("source_col", T::Str, "source IP column (src_ip)").check(ident),
        p("proto_col", T::Str, "protocol column (proto)").check(ident),
        p("from_col", T::Str, "From URI pattern column (from_pattern)").check(ident),
        p("ruri_col", T::Str, "R-URI pattern column (ruri_pattern)").check(ident),
        p("tag_col", T::Str, "tag column of both tables (tag)").check(ident),
        p("priority_col", T::Str, "priority column (priority)").check(ident),
        p(
            "peer_tag_avp",
            T::Str,
            "AVP that receives a matching row's tag",
        )
        .check(|v| match v {
            ModValue::Str(s) => avp_name(s).map(drop),
            ModValue::Int(_) => Err("expects an AVP".into()),
        }),
        p(
            "peer_tag_mode",
            T::Int,
            "allow_trusted: 0 first match, 1 all matches (count returned)",
        ),
        p(
            "db_mode",
            T::Int,
            "allow_trusted: 0 query per call, 1 cached table",
        )
        .check(|v| match v {
            ModValue::Int(0 | 1) => Ok(()),
            _ => Err("invalid db_mode value (0 or 1)".into()),
        }),
        p(
            "max_subnets",
            T::Int,
            "most subnets loaded from the address table (512)",
        ),
        p(
            "load_backends",
            T::Int,
            "1 address table, 2 trusted table, 4 default allow file, 8 default deny file",
        ),
        p(
            "reload_delta",
            T::Int,
            "seconds between two RPC reloads (5)",
        ),
        p(
            "address_file",
            T::Str,
            "address rows from this file instead of the database (a name without `/`: next to the config file)",
        ),
        p(
            "trusted_cleanup_interval",
            T::Int,
            "no effect: a replaced table is freed when its last reader is done",
        ),
        p(
            "default_allow_file",
            T::Str,
            "allow file of allow_routing() (permissions.allow)",
        ),
        p(
            "default_deny_file",
            T::Str,
            "deny file of allow_routing() (permissions.deny)",
        ),
        p(
            "check_all_branches",
            T::Int,
            "allow_routing also checks the branches (1)",
        ),
        p("allow_suffix", T::Str, "allow file of a basename (.allow)"),
        p("deny_suffix", T::Str, "deny file of a basename (.deny)"),
    ];
    v
}

fn config(mp: &[(&'static str, ModValue)]) -> Result<Config, Error> {
    let last = |n: &str| mp.iter().rev().find(|(k, _)| *k == n).map(|(_, v)| v);
    let text = |n: &str, d: &str| match last(n) {
        Some(ModValue::Str(s)) => s.clone(),
        _ => d.to_string(),
    };
    let int = |n: &str, d: i64| match last(n) {
        Some(ModValue::Int(i)) => *i,
        _ => d,
    };
    let backends = int("load_backends", 0xffff);
    if backends == 0 {
        return Err(Error::Config(
            "permissions: failure - no backend to be loaded".into(),
        ));
    }
    let peer_tag_avp = match last("peer_tag_avp") {
        Some(ModValue::Str(s)) if !s.is_empty() => {
            Some(avp_name(s).map_err(|e| Error::Config(format!("permissions: {e}")))?)
        }
        _ => None,
    };
    let delta = int("reload_delta", 5);
    let delta = if delta < 0 { 5 } else { delta };
    Ok(Config {
        url: match last("db_url") {
            Some(ModValue::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        address_table: text("address_table", "address"),
        grp_col: text("grp_col", "grp"),
        ip_addr_col: text("ip_addr_col", "ip_addr"),
        mask_col: text("mask_col", "mask"),
        port_col: text("port_col", "port"),
        tag_col: text("tag_col", "tag"),
        trusted_table: text("trusted_table", "trusted"),
        source_col: text("source_col", "src_ip"),
        proto_col: text("proto_col", "proto"),
        from_col: text("from_col", "from_pattern"),
        ruri_col: text("ruri_col", "ruri_pattern"),
        priority_col: text("priority_col", "priority"),
        peer_tag_avp,
        peer_tag_all: int("peer_tag_mode", 0) != 0,
        cache_trusted: int("db_mode", 0) == 1,
        max_subnets: usize::try_from(int("max_subnets", 512)).unwrap_or(0),
        backends,
        reload_delta: Duration::from_secs(delta.unsigned_abs()),
        address_file: match last("address_file") {
            Some(ModValue::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        default_allow: text("default_allow_file", "permissions.allow"),
        default_deny: text("default_deny_file", "permissions.deny"),
        all_branches: int("check_all_branches", 1) != 0,
        allow_suffix: text("allow_suffix", ".allow"),
        deny_suffix: text("deny_suffix", ".deny"),
    })
}

/// `$avp(name)`, `$avp(s:name)`, `$avp(i:5)`, `$avp(t.name)`, `$avp(fu.name)` … → the key of the
/// list the tag is added to (`pv::containers::avp_key`), so the script's `$avp(…)` of any
/// spelling of the same AVP reads it. Kamailio accepts only an AVP here; a name built at run
/// time (`$avp($var(n))`) is refused too.
fn avp_name(spec: &str) -> Result<Vec<u8>, String> {
    let bad = || format!("malformed or non AVP {spec} peer_tag_avp definition");
    let inner = spec
        .trim()
        .strip_prefix("$avp(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(bad)?;
    if inner.contains(['$', '(', ')']) {
        return Err(format!(
            "{spec}: peer_tag_avp needs a constant AVP name (names built at run time are not supported)"
        ));
    }
    crate::pv::containers::avp_key(inner)
        .map(String::into_bytes)
        .map_err(|e| format!("{spec}: invalid peer_tag_avp AVP definition: {e}"))
}

fn is_ident(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap_or_else(|e| panic!("{e}"));
        assert!(c.url.is_none() && !c.address_on() && !c.trusted_on());
        assert_eq!(
            (
                &*c.address_table,
                &*c.trusted_table,
                &*c.source_col,
                &*c.from_col
            ),
            ("address", "trusted", "src_ip", "from_pattern")
        );
        assert_eq!(
            (c.max_subnets, c.reload_delta),
            (512, Duration::from_secs(5))
        );
        assert!(!c.cache_trusted && !c.peer_tag_all && c.peer_tag_avp.is_none());
        let c = config(&[
            ("db_url", ModValue::Str("sqlite:///x.db".into())),
            ("load_backends", ModValue::Int(1)),
            ("peer_tag_avp", ModValue::Str("$avp(s:peer)".into())),
            ("reload_delta", ModValue::Int(-3)),
        ])
        .unwrap_or_else(|e| panic!("{e}"));
        assert!(c.address_on() && !c.trusted_on());
        assert_eq!(c.peer_tag_avp.as_deref(), Some(&b"peer"[..]));
        assert_eq!(c.reload_delta, Duration::from_secs(5));
        assert!(config(&[("load_backends", ModValue::Int(0))]).is_err());
    }

    #[test]
    fn avp_names() {
        let cases = [
            ("$avp(peer)", Some("peer")),
            ("$avp(i:707)", Some("\0i:707")),
            ("$avp(s:x)", Some("x")),
            ("$avp(f.x)", Some("x")),
            ("$avp(t.x)", Some("\0t.x")),
            ("$avp(fu.x)", Some("\0fu.x")),
            ("$avp(g.x)", None),
            ("$avp($var(n))", None),
            ("$var(x)", None),
            ("$avp()", None),
            ("peer", None),
        ];
        for (s, want) in cases {
            let got = avp_name(s).ok();
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{s}");
        }
    }

    #[test]
    fn proto_args() {
        type Want = Result<Option<Proto>, ()>;
        let cases: [(&[u8], Want); 5] = [
            (b"any", Ok(None)),
            (b"UDP", Ok(Some(Proto::Udp))),
            (b"wss", Ok(Some(Proto::Wss))),
            (b"none", Err(())),
            (b"", Err(())),
        ];
        for (s, want) in cases {
            assert_eq!(proto_arg(s), want, "{}", String::from_utf8_lossy(s));
        }
    }
}
