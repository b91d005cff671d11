//! `domain`: the local domains of a multi-domain proxy, from the `domain` and `domain_attrs`
//! tables (Kamailio's domain module): `is_from_local`, `is_uri_host_local`, `is_domain_local`,
//! `lookup_domain` (the domain's attributes and `did` as AVPs), RPCs `domain.reload` and
//! `domain.dump`.
//!
//! Both tables are read into memory at startup (after the fork) and by `domain.reload`; a reload
//! builds a new table and swaps it whole. Domain names compare ASCII case-insensitively.
//!
//! `register_myself` 1 makes the core's `myself` (`uri == myself`, `is_myself`, loose routing)
//! consult the table too: the server asks [`DomainApi::check_self`] when its sockets and aliases
//! do not match, as Kamailio's `register_check_self_func`.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use ferrosip_api::export::{
    Arg, FnExport, ModParam, ModParamType as T, ParamKind as K, RpcExport, RpcFault, RpcValue,
};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, RouteType, Value};
use ferrosip_db::{Db, Value as DbValue};
use ferrosip_sipmsg::{Span, Uri};

use crate::db::{driver_module_name, DbDrivers, Driver};

/// Kamailio's default read-only `db_url`.
pub const DEFAULT_DB_URL: &str = "mysql://kamailioro:kamailioro@localhost/kamailio";
/// Versions of the `domain` and `domain_attrs` tables the module expects.
pub const DOMAIN_TABLE_VERSION: i64 = 2;
pub const DOMAIN_ATTRS_TABLE_VERSION: i64 = 1;

/// Frozen modparams.
#[derive(Debug, Clone)]
struct Config {
    url: String,
    domain_table: String,
    attrs_table: String,
    did_col: String,
    domain_col: String,
    name_col: String,
    type_col: String,
    value_col: String,
    register_myself: bool,
}

/// One attribute of a did: integer (type 0) or string (type 2).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Attr {
    name: String,
    value: Value,
}

/// One load of both tables.
#[derive(Debug, Default)]
struct Domains {
    /// Lower-cased domain → (domain as stored, did).
    by_name: HashMap<String, (String, String)>,
    /// Domains in load order (for `domain.dump`).
    order: Vec<String>,
    /// Lower-cased did → (did as stored, attributes newest first).
    attrs: HashMap<String, (String, Vec<Attr>)>,
    attrs_order: Vec<String>,
}

impl Domains {
    /// Builds the table from `domain_attrs` rows (did, name, type, value) and `domain` rows
    /// (domain, did), checked as Kamailio checks them.
    fn build(attr_rows: &[Vec<DbValue>], domain_rows: &[Vec<DbValue>]) -> Result<Domains, String> {
        let mut d = Domains::default();
        for (i, r) in attr_rows.iter().enumerate() {
            let [did, name, ty, value] = r.as_slice() else {
                return Err(format!("attribute row <{i}> has {} columns", r.len()));
            };
            let did = non_empty(did).ok_or(format!("did at row <{i}> is null or not string"))?;
            let name = non_empty(name).ok_or(format!("name at row <{i}> is null or not string"))?;
            let ty = ty
                .as_i64()
                .ok_or(format!("type at row <{i}> is null or not int"))?;
            let value = value
                .as_str()
                .ok_or(format!("value at row <{i}> is null or not string"))?;
            let value = match ty {
                0 => Value::Int(
                    str2slong(value)
                        .ok_or_else(|| format!("value at row <{i}> is invalid long int"))?,
                ),
                2 => Value::Str(value.as_bytes().to_vec()),
                other => return Err(format!("unknown type <{other}> at row <{i}>")),
            };
            let key = did.to_ascii_lowercase();
            let entry = d.attrs.entry(key.clone()).or_insert_with(|| {
                d.attrs_order.push(key);
                (did.to_string(), Vec::new())
            });
            entry.1.insert(
                0,
                Attr {
                    name: name.to_string(),
                    value,
                },
            );
        }
        for (i, r) in domain_rows.iter().enumerate() {
            let [domain, did] = r.as_slice() else {
                return Err(format!("domain row <{i}> has {} columns", r.len()));
            };
            let domain =
                non_empty(domain).ok_or(format!("domain at row <{i}> is null or not string"))?;
            let did = match did {
                DbValue::Null => domain.to_string(),
                DbValue::Str(s) if !s.is_empty() => s.clone(),
                DbValue::Str(_) => return Err(format!("did at row <{i}> is empty string")),
                _ => return Err(format!("did at row <{i}> is not null or string")),
            };
            let key = domain.to_ascii_lowercase();
            // Kamailio prepends to the hash bucket: the row loaded last wins a duplicate name.
            if d.by_name
                .insert(key.clone(), (domain.to_string(), did))
                .is_none()
            {
                d.order.push(key);
            }
        }
        Ok(d)
    }

    /// The did and attributes of a local domain.
    fn lookup(&self, host: &[u8]) -> Option<(&str, &[Attr])> {
        let key = String::from_utf8_lossy(host).to_ascii_lowercase();
        let (_, did) = self.by_name.get(&key)?;
        let attrs = self
            .attrs
            .get(&did.to_ascii_lowercase())
            .map(|a| a.1.as_slice())
            .unwrap_or(&[]);
        Some((did, attrs))
    }

    fn dump(&self) -> RpcValue {
        let domains = self
            .order
            .iter()
            .filter_map(|k| self.by_name.get(k))
            .map(|(domain, did)| {
                RpcValue::Struct(vec![
                    ("domain".into(), RpcValue::Str(domain.clone())),
                    ("did".into(), RpcValue::Str(did.clone())),
                ])
            })
            .collect();
        let attrs = self
            .attrs_order
            .iter()
            .filter_map(|k| self.attrs.get(k))
            .map(|(did, list)| {
                RpcValue::Struct(vec![
                    ("did".into(), RpcValue::Str(did.clone())),
                    (
                        "attrs".into(),
                        RpcValue::Array(
                            list.iter().map(|a| RpcValue::Str(a.name.clone())).collect(),
                        ),
                    ),
                ])
            })
            .collect();
        RpcValue::Struct(vec![
            ("domains".into(), RpcValue::Array(domains)),
            ("attributes".into(), RpcValue::Array(attrs)),
        ])
    }
}

/// Kamailio's `str2slong`: an optional sign, then only digits (none reads as 0), no overflow.
fn str2slong(s: &str) -> Option<i64> {
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    let mut v: i64 = 0;
    for c in digits.bytes() {
        let d = i64::from(c.checked_sub(b'0').filter(|d| *d <= 9)?);
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

fn non_empty(v: &DbValue) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty())
}

/// Module state.
#[derive(Debug, Default)]
struct State {
    cfg: OnceLock<Config>,
    drivers: OnceLock<Arc<DbDrivers>>,
    db: OnceLock<Db>,
    table: RwLock<Option<Arc<Domains>>>,
    /// Serialises reloads (Kamailio's reload_lock).
    reloading: std::sync::Mutex<()>,
}

/// What other modules may ask (Kamailio's `bind_domain`): is a host one of the local domains.
#[derive(Debug, Clone)]
pub struct DomainApi {
    state: Arc<State>,
}

impl DomainApi {
    /// Kamailio's `is_domain_local`: the host is in the domain table.
    pub fn is_domain_local(&self, host: &[u8]) -> bool {
        self.state.table().is_some_and(|t| t.lookup(host).is_some())
    }

    /// Kamailio's `domain_check_self`, which `register_myself` 1 adds to the core's `myself`
    /// check: true when `register_myself` is set and the host is a local domain (port and
    /// protocol do not matter). The server asks it after its sockets and aliases.
    pub fn check_self(&self, host: &[u8]) -> bool {
        self.state.cfg.get().is_some_and(|c| c.register_myself) && self.is_domain_local(host)
    }
}

/// The `domain` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(State::default());
    let mut m = ModuleExports::new("domain");
    m.params = params();
    let routes = RouteMask::REQUEST
        .or(RouteMask::BRANCH)
        .or(RouteMask::FAILURE)
        .or(RouteMask::LOCAL);
    let a = Arc::clone(&st);
    m.functions.push(
        FnExport::new(
            "is_from_local",
            &[],
            routes,
            "true when the From URI's host is a local domain",
        )
        .with(move |ctx, _| Ok(RetCode(is_from_local(&a, ctx)))),
    );
    let a = Arc::clone(&st);
    m.functions.push(
        FnExport::new(
            "is_uri_host_local",
            &[],
            routes,
            "true when the R-URI's host (first branch in failure_route) is a local domain",
        )
        .with(move |ctx, _| Ok(RetCode(is_uri_host_local(&a, ctx)))),
    );
    let a = Arc::clone(&st);
    m.functions.push(
        FnExport::new(
            "is_domain_local",
            &[K::Spve],
            routes,
            "true when the domain is a local domain",
        )
        .with(move |ctx, args| {
            let d = arg(ctx, args, 0);
            Ok(RetCode(lookup_rc(&a, &d)))
        }),
    );
    for params in [&[K::Spve][..], &[K::Spve, K::Spve]] {
        let a = Arc::clone(&st);
        m.functions.push(
            FnExport::new(
                "lookup_domain",
                params,
                routes,
                "for a local domain, add its attributes and $avp(did) (names with the prefix)",
            )
            .with(move |ctx, args| {
                let d = arg(ctx, args, 0);
                let prefix = args.get(1).map(|p| p.bytes(ctx));
                Ok(RetCode(lookup_domain(&a, ctx, &d, prefix.as_deref())))
            }),
        );
    }
    m.rpcs = rpcs(&st);
    let a = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let cfg = config(ictx.modparams());
        let drivers = DbDrivers::of(ictx);
        if let Err(e) = drivers.bind("domain", &cfg.url) {
            if Driver::from_module(&driver_module_name(&cfg.url)).is_none() {
                return Err(e);
            }
        }
        let _ = a.drivers.set(drivers);
        a.cfg
            .set(cfg)
            .map_err(|_| Error::Init("domain initialised twice".into()))?;
        ictx.provide(Arc::new(DomainApi {
            state: Arc::clone(&a),
        }));
        Ok(())
    }));
    let a = Arc::clone(&st);
    m.child_init = Some(Arc::new(move |_rank| a.start().map_err(Error::Init)));
    m
}

impl State {
    fn table(&self) -> Option<Arc<Domains>> {
        self.table
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn db(&self) -> Result<Db, String> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let (Some(cfg), Some(drivers)) = (self.cfg.get(), self.drivers.get()) else {
            return Err("domain is not initialised".into());
        };
        let db = drivers.open_bound("domain", &cfg.url)?;
        let _ = self.db.set(db.clone());
        Ok(db)
    }

    /// Kamailio's mod_init work, after the fork: versions, first load.
    fn start(&self) -> Result<(), String> {
        let Some(cfg) = self.cfg.get() else {
            return Err("domain is not initialised".into());
        };
        let db = self
            .db()
            .map_err(|e| format!("domain: unable to open database connection: {e}"))?;
        for (t, v) in [
            (&cfg.domain_table, DOMAIN_TABLE_VERSION),
            (&cfg.attrs_table, DOMAIN_ATTRS_TABLE_VERSION),
        ] {
            db.check_table_version(t, v).map_err(|e| {
                format!(
                    "domain: Error during version check for db table: {t}, check database \
                     structure. ({e})"
                )
            })?;
        }
        self.reload()
            .map_err(|e| format!("domain: domain reload failed: {e}"))
    }

    /// Reads both tables and swaps the new table in.
    fn reload(&self) -> Result<(), String> {
        let _one = self
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(cfg) = self.cfg.get() else {
            return Err("domain is not initialised".into());
        };
        let db = self.db()?;
        let attrs = db
            .query(
                &cfg.attrs_table,
                &[],
                &[&cfg.did_col, &cfg.name_col, &cfg.type_col, &cfg.value_col],
                None,
            )
            .map_err(|e| format!("error while querying database: {e}"))?;
        let domains = db
            .query(
                &cfg.domain_table,
                &[],
                &[&cfg.domain_col, &cfg.did_col],
                None,
            )
            .map_err(|e| format!("error while querying database: {e}"))?;
        let d = Domains::build(&attrs.rows, &domains.rows)?;
        *self.table.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(d));
        Ok(())
    }
}

fn arg(ctx: &mut Ctx<'_>, args: &[Arg], i: usize) -> Vec<u8> {
    args.get(i).map(|a| a.bytes(ctx)).unwrap_or_default()
}

fn lookup_rc(st: &State, host: &[u8]) -> i64 {
    match st.table() {
        Some(t) if t.lookup(host).is_some() => 1,
        _ => -1,
    }
}

fn is_from_local(st: &State, ctx: &mut Ctx<'_>) -> i64 {
    let host = ctx.msg.from().ok().and_then(|na| {
        let u = Uri::parse(ctx.msg.buf(), na.uri).ok()?;
        Some(ctx.msg.slice(u.host).to_vec())
    });
    match host {
        Some(h) => lookup_rc(st, &h),
        None => {
            ctx.log_error("domain: Error while parsing From header");
            -2
        }
    }
}

fn is_uri_host_local(st: &State, ctx: &mut Ctx<'_>) -> i64 {
    let uri = match ctx.route_type {
        RouteType::Request | RouteType::Branch | RouteType::Local => ctx.ruri(),
        RouteType::Failure => match ctx.state.branches.first() {
            Some(b) => b.uri.clone(),
            None => {
                ctx.log_error("domain: branch is missing, error in script");
                return -1;
            }
        },
        _ => {
            ctx.log_error("domain: unsupported route type");
            return -1;
        }
    };
    match Uri::parse(&uri, Span::new(0, uri.len())) {
        Ok(u) => lookup_rc(st, u.host.of(&uri)),
        Err(_) => {
            ctx.log_error("domain: error while parsing R-URI");
            -1
        }
    }
}

fn lookup_domain(st: &State, ctx: &mut Ctx<'_>, domain: &[u8], prefix: Option<&[u8]>) -> i64 {
    let Some(t) = st.table() else {
        return -1;
    };
    let Some((did, attrs)) = t.lookup(domain) else {
        return -1;
    };
    let name = |n: &str| {
        let mut v = prefix.unwrap_or_default().to_vec();
        v.extend_from_slice(n.as_bytes());
        v
    };
    for a in attrs {
        ctx.state.avps.add(&name(&a.name), a.value.clone());
    }
    ctx.state
        .avps
        .add(&name("did"), Value::Str(did.as_bytes().to_vec()));
    1
}

fn rpcs(st: &Arc<State>) -> Vec<RpcExport> {
    let fault = |code: i32, m: &str| RpcFault {
        code,
        message: m.into(),
    };
    let a = Arc::clone(st);
    let reload = RpcExport {
        name: "domain.reload",
        doc: "reload the domain and domain_attrs tables",
        handler: Arc::new(move |_| {
            a.reload()
                .map(|_| RpcValue::Null)
                .map_err(|_| fault(400, "Reload of domain tables failed"))
        }),
    };
    let a = Arc::clone(st);
    let dump = RpcExport {
        name: "domain.dump",
        doc: "the cached domains and the attribute names of each did",
        handler: Arc::new(move |_| {
            a.table()
                .map(|t| t.dump())
                .ok_or_else(|| fault(404, "Server Domain Cache Empty"))
        }),
    };
    vec![reload, dump]
}

fn params() -> Vec<ModParam> {
    let p = ModParam::new;
    let ident = |v: &ModValue| match v {
        ModValue::Str(s) if is_ident(s) => Ok(()),
        _ => Err("expects a table or column name ([A-Za-z_][A-Za-z0-9_]*)".to_string()),
    };
    vec![
        p("db_url", T::Str, "database of the domain tables"),
        p("domain_table", T::Str, "table of local domains (domain)").check(ident),
        p(
            "domain_attrs_table",
            T::Str,
            "table of did attributes (domain_attrs)",
        )
        .check(ident),
        p("did_col", T::Str, "domain id column of both tables (did)").check(ident),
        p("domain_col", T::Str, "domain column (domain)").check(ident),
        p("name_col", T::Str, "attribute name column (name)").check(ident),
        p(
            "type_col",
            T::Str,
            "attribute type column: 0 integer, 2 string (type)",
        )
        .check(ident),
        p("value_col", T::Str, "attribute value column (value)").check(ident),
        p(
            "register_myself",
            T::Int,
            "1: the core's myself check consults the domain table too (0)",
        ),
    ]
}

fn config(mp: &[(&'static str, ModValue)]) -> Config {
    let last = |n: &str| mp.iter().rev().find(|(k, _)| *k == n).map(|(_, v)| v);
    let text = |n: &str, d: &str| match last(n) {
        Some(ModValue::Str(s)) => s.clone(),
        _ => d.to_string(),
    };
    Config {
        url: text("db_url", DEFAULT_DB_URL),
        domain_table: text("domain_table", "domain"),
        attrs_table: text("domain_attrs_table", "domain_attrs"),
        did_col: text("did_col", "did"),
        domain_col: text("domain_col", "domain"),
        name_col: text("name_col", "name"),
        type_col: text("type_col", "type"),
        value_col: text("value_col", "value"),
        register_myself: matches!(last("register_myself"), Some(ModValue::Int(i)) if *i != 0),
    }
}

fn is_ident(s: &str) -> bool {
    let mut b = s.bytes();
    matches!(b.next(), Some(c) if c.is_ascii_alphabetic() || c == b'_')
        && b.all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(did: &str, name: &str, ty: i32, value: &str) -> Vec<DbValue> {
        vec![did.into(), name.into(), ty.into(), value.into()]
    }

    fn dom(domain: &str, did: Option<&str>) -> Vec<DbValue> {
        vec![domain.into(), did.into()]
    }

    #[test]
    fn build_and_lookup() {
        let attrs = [
            attr("d1", "tz", 2, "CET"),
            attr("D1", "max", 0, "+42"),
            attr("d2", "x", 2, ""),
        ];
        let doms = [
            dom("Example.COM", Some("d1")),
            dom("other.org", None),
            dom("alias.example.com", Some("d1")),
        ];
        let d = Domains::build(&attrs, &doms).unwrap_or_else(|e| panic!("{e}"));
        let (did, a) = d.lookup(b"example.com").unwrap_or_else(|| panic!("local"));
        assert_eq!(did, "d1");
        // Newest first; the did matches case-insensitively.
        assert_eq!(
            a,
            [
                Attr {
                    name: "max".into(),
                    value: Value::Int(42)
                },
                Attr {
                    name: "tz".into(),
                    value: Value::str("CET")
                }
            ]
        );
        assert_eq!(d.lookup(b"OTHER.org").map(|x| x.0), Some("other.org"));
        assert!(d.lookup(b"other.org").is_some_and(|x| x.1.is_empty()));
        assert!(d.lookup(b"nowhere.net").is_none());
        assert!(d.lookup(b"").is_none());
    }

    #[test]
    fn long_ints() {
        let cases = [
            ("42", Some(42)),
            ("+42", Some(42)),
            ("-7", Some(-7)),
            ("", Some(0)),
            ("-", Some(0)),
            (" 42", None),
            ("4x", None),
            ("-9223372036854775808", Some(i64::MIN)),
            ("9223372036854775808", None),
        ];
        for (s, want) in cases {
            assert_eq!(str2slong(s), want, "{s:?}");
        }
    }

    #[test]
    fn bad_rows() {
        type Rows<'a> = &'a [Vec<DbValue>];
        let cases: [(Rows<'_>, Rows<'_>); 6] = [
            (&[attr("d", "n", 1, "v")], &[]),
            (&[attr("d", "n", 0, "4x")], &[]),
            (&[attr("", "n", 2, "v")], &[]),
            (
                &[vec![DbValue::Null, "n".into(), 2.into(), "v".into()]],
                &[],
            ),
            (&[], &[dom("", None)]),
            (&[], &[dom("a.b", Some(""))]),
        ];
        for (a, d) in cases {
            assert!(Domains::build(a, d).is_err(), "{a:?} {d:?}");
        }
    }

    #[test]
    fn check_self_needs_register_myself() {
        for (flag, want) in [(0, false), (1, true)] {
            let st = Arc::new(State::default());
            let cfg = config(&[("register_myself", ModValue::Int(flag))]);
            let _ = st.cfg.set(cfg);
            let d =
                Domains::build(&[], &[dom("example.com", None)]).unwrap_or_else(|e| panic!("{e}"));
            *st.table.write().unwrap_or_else(PoisonError::into_inner) = Some(Arc::new(d));
            let api = DomainApi { state: st };
            assert!(api.is_domain_local(b"EXAMPLE.com"));
            assert_eq!(
                api.check_self(b"example.com"),
                want,
                "register_myself {flag}"
            );
            assert!(!api.check_self(b"other.net"));
        }
    }
}
