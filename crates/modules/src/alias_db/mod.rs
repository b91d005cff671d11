//! `alias_db`: aliases from a database table (Kamailio's alias_db module). `alias_db_lookup`
//! replaces an alias R-URI with the user's `sip:user@domain` (further matches become branches
//! with `append_branches`); `alias_db_find` does the same from and into variables. Flag `r`
//! looks the other way (user → alias), `d`/`u` switch the domain part of the query off/on.
//!
//! The table is queried per call (no cache), as in Kamailio; the table name may hold variables.

use std::sync::{Arc, OnceLock};

use ferrosip_api::ctx::Branch;
use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType as T, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, PvSpec, RetCode, RouteMask, Value};
use ferrosip_db::{Cond, Db, Value as DbValue};
use ferrosip_sipmsg::{Span, Uri};

use crate::db::{driver_module_name, DbDrivers, Driver};

/// Kamailio's default read-only `db_url`.
pub const DEFAULT_DB_URL: &str = "mysql://kamailioro:kamailioro@localhost/kamailio";

/// Query flags.
const FLAG_DOMAIN: u8 = 1;
const FLAG_REVERSE: u8 = 2;

/// Frozen modparams.
#[derive(Debug, Clone)]
struct Config {
    url: String,
    user_col: String,
    domain_col: String,
    alias_user_col: String,
    alias_domain_col: String,
    use_domain: bool,
    domain_prefix: Option<String>,
    append_branches: bool,
}

#[derive(Debug, Default)]
struct State {
    cfg: OnceLock<Config>,
    drivers: OnceLock<Arc<DbDrivers>>,
    db: OnceLock<Db>,
}

/// Where the results go.
enum Sink<'a> {
    /// R-URI, then branches.
    Ruri,
    /// A variable (`$avp` gets one value per result with `append_branches`).
    Var(&'a PvSpec),
}

/// The `alias_db` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(State::default());
    let mut m = ModuleExports::new("alias_db");
    m.params = params();
    let lookup_routes = RouteMask::REQUEST.or(RouteMask::FAILURE);
    for params in [&[K::Spve][..], &[K::Spve, K::Str]] {
        let a = Arc::clone(&st);
        let fx = Arc::clone(&st);
        m.functions.push(
            FnExport::new(
                "alias_db_lookup",
                params,
                lookup_routes,
                "replace an alias R-URI with the user's URI (flags d, r, u)",
            )
            .with(move |ctx, args| {
                let table = table_arg(ctx, args);
                let flags = flags_arg(args.get(1));
                let uri = ctx.ruri();
                Ok(RetCode(query(&a, ctx, &table, &uri, flags, Sink::Ruri)))
            })
            .fixup(move |args| fixup_flags(&fx, args, 1)),
        );
    }
    let find_routes = lookup_routes
        .or(RouteMask::ONREPLY)
        .or(RouteMask::BRANCH)
        .or(RouteMask::LOCAL);
    for params in [
        &[K::Spve, K::Var, K::VarW][..],
        &[K::Spve, K::Var, K::VarW, K::Str],
    ] {
        let a = Arc::clone(&st);
        let fx = Arc::clone(&st);
        m.functions.push(
            FnExport::new(
                "alias_db_find",
                params,
                find_routes,
                "look a URI from a variable up; the result goes to an $avp or $var",
            )
            .with(move |ctx, args| {
                let table = table_arg(ctx, args);
                let flags = flags_arg(args.get(3));
                let (Some(Arg::Var(input)), Some(Arg::Var(out))) = (args.get(1), args.get(2))
                else {
                    return Ok(RetCode(-1));
                };
                let uri = match input.get(ctx) {
                    Value::Str(s) => s,
                    _ => {
                        ctx.log_error("alias_db: PV vals is not string");
                        return Ok(RetCode(-1));
                    }
                };
                Ok(RetCode(query(&a, ctx, &table, &uri, flags, Sink::Var(out))))
            })
            .fixup(move |args| {
                if let Some(Arg::Var(out)) = args.get(2) {
                    if !matches!(out.name(), "avp" | "var") {
                        return Err(format!(
                            "PV type of param 3 (${}) cannot be written: an $avp or $var is needed",
                            out.name()
                        ));
                    }
                }
                fixup_flags(&fx, args, 3)
            }),
        );
    }
    let a = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let cfg = config(ictx.modparams());
        let drivers = DbDrivers::of(ictx);
        if let Err(e) = drivers.bind("alias_db", &cfg.url) {
            if Driver::from_module(&driver_module_name(&cfg.url)).is_none() {
                return Err(e);
            }
        }
        let _ = a.drivers.set(drivers);
        a.cfg
            .set(cfg)
            .map_err(|_| Error::Init("alias_db initialised twice".into()))
    }));
    let a = Arc::clone(&st);
    m.child_init = Some(Arc::new(move |_rank| {
        a.db()
            .map(drop)
            .map_err(|e| Error::Init(format!("alias_db: unable to connect to the database: {e}")))
    }));
    m
}

impl State {
    fn db(&self) -> Result<Db, String> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let (Some(cfg), Some(drivers)) = (self.cfg.get(), self.drivers.get()) else {
            return Err("alias_db is not initialised".into());
        };
        let db = drivers.open_bound("alias_db", &cfg.url)?;
        let _ = self.db.set(db.clone());
        Ok(db)
    }
}

fn table_arg(ctx: &mut Ctx<'_>, args: &[Arg]) -> String {
    let t = args.first().map(|a| a.bytes(ctx)).unwrap_or_default();
    String::from_utf8_lossy(&t).into_owned()
}

/// The flags prepared by [`fixup_flags`]; `None` means the module's `use_domain` default, which
/// [`query`] applies.
fn flags_arg(a: Option<&Arg>) -> Option<u8> {
    match a {
        Some(Arg::Int(f)) => u8::try_from(*f).ok(),
        _ => None,
    }
}

/// Kamailio's flag letters: `d` no domain, `u` domain, `r` reverse; starts from `use_domain`.
fn parse_flags(s: &[u8], use_domain: bool) -> Result<u8, String> {
    let mut f = if use_domain { FLAG_DOMAIN } else { 0 };
    for c in s {
        match c.to_ascii_lowercase() {
            b'd' => f &= !FLAG_DOMAIN,
            b'u' => f |= FLAG_DOMAIN,
            b'r' => f |= FLAG_REVERSE,
            other => return Err(format!("unsupported flag '{}'", other as char)),
        }
    }
    Ok(f)
}

/// Turns the flags string (argument `i`) into its value, as Kamailio's fixup does.
fn fixup_flags(st: &State, args: &mut [Arg], i: usize) -> Result<(), String> {
    let use_domain = st.cfg.get().is_some_and(|c| c.use_domain);
    if let Some(a) = args.get_mut(i) {
        if let Arg::Str(s) = a {
            let f = parse_flags(s, use_domain)?;
            *a = Arg::Int(i64::from(f));
        }
    }
    Ok(())
}

/// Kamailio's `alias_db_query`: 1 when at least one row was found and stored, -1 otherwise.
fn query(
    st: &State,
    ctx: &mut Ctx<'_>,
    table: &str,
    uri: &[u8],
    flags: Option<u8>,
    sink: Sink<'_>,
) -> i64 {
    let Some(cfg) = st.cfg.get() else {
        return -1;
    };
    let flags = flags.unwrap_or(if cfg.use_domain { FLAG_DOMAIN } else { 0 });
    let Ok(u) = Uri::parse(uri, Span::new(0, uri.len())) else {
        ctx.log_error(&format!(
            "alias_db: failed to parse uri {}",
            String::from_utf8_lossy(uri)
        ));
        return -1;
    };
    let user = String::from_utf8_lossy(u.user.map(|s| s.of(uri)).unwrap_or_default()).into_owned();
    let mut host = String::from_utf8_lossy(u.host.of(uri)).into_owned();
    let (key_user, key_domain, col_user, col_domain) = if flags & FLAG_REVERSE != 0 {
        (
            &cfg.user_col,
            &cfg.domain_col,
            &cfg.alias_user_col,
            &cfg.alias_domain_col,
        )
    } else {
        (
            &cfg.alias_user_col,
            &cfg.alias_domain_col,
            &cfg.user_col,
            &cfg.domain_col,
        )
    };
    let mut conds = vec![Cond::eq(key_user, user.as_str())];
    if flags & FLAG_DOMAIN != 0 {
        // The prefix is stripped (ASCII case-insensitively) when the host is longer than it.
        if let Some(p) = &cfg.domain_prefix {
            let starts = host
                .as_bytes()
                .get(..p.len())
                .is_some_and(|h| h.eq_ignore_ascii_case(p.as_bytes()));
            if starts && p.len() < host.len() {
                if let Some(rest) = host.get(p.len()..) {
                    host = rest.to_string();
                }
            }
        }
        conds.push(Cond::eq(key_domain, host.as_str()));
    }
    let rows = match st.db().and_then(|db| {
        db.query(
            table,
            &conds,
            &[col_user.as_str(), col_domain.as_str()],
            None,
        )
        .map_err(|e| e.to_string())
    }) {
        Ok(r) => r.rows,
        Err(e) => {
            ctx.log_error(&format!("alias_db: failed to query database: {e}"));
            return -1;
        }
    };
    if rows
        .first()
        .and_then(|r| r.first())
        .is_none_or(DbValue::is_null)
    {
        return -1;
    }
    for (i, r) in rows.iter().enumerate() {
        let (Some(u), Some(d)) = (r.first().and_then(text), r.get(1).and_then(text)) else {
            ctx.log_error("alias_db: unknown type of DB user column");
            return -1;
        };
        let mut out = b"sip:".to_vec();
        out.extend_from_slice(u);
        out.push(b'@');
        out.extend_from_slice(d);
        let ok = match &sink {
            Sink::Ruri if i == 0 => {
                ctx.state.new_uri = Some(out);
                true
            }
            Sink::Ruri if cfg.append_branches => {
                ctx.state.branches.push(Branch {
                    uri: out,
                    q: 0,
                    ..Branch::default()
                });
                true
            }
            Sink::Var(pv) if i == 0 || cfg.append_branches => pv.set(ctx, Value::Str(out)).is_ok(),
            _ => true,
        };
        if !ok {
            ctx.log_error("alias_db: error while setting alias");
            return -1;
        }
    }
    1
}

/// A user or domain column as bytes (NULL reads as empty, as Kamailio copies an empty string).
fn text(v: &DbValue) -> Option<&[u8]> {
    match v {
        DbValue::Null => Some(b""),
        other => other.as_bytes(),
    }
}

fn params() -> Vec<ModParam> {
    let p = ModParam::new;
    let ident = |v: &ModValue| match v {
        ModValue::Str(s) if is_ident(s) => Ok(()),
        _ => Err("expects a column name ([A-Za-z_][A-Za-z0-9_]*)".to_string()),
    };
    vec![
        p("db_url", T::Str, "database of the alias tables"),
        p("user_column", T::Str, "user name column (username)").check(ident),
        p("domain_column", T::Str, "user domain column (domain)").check(ident),
        p(
            "alias_user_column",
            T::Str,
            "alias user column (alias_username)",
        )
        .check(ident),
        p(
            "alias_domain_column",
            T::Str,
            "alias domain column (alias_domain)",
        )
        .check(ident),
        p("use_domain", T::Int, "match the domain too (0)"),
        p(
            "domain_prefix",
            T::Str,
            "prefix stripped from the domain before the query",
        ),
        p(
            "append_branches",
            T::Int,
            "further matches become branches (0)",
        ),
    ]
}

fn config(mp: &[(&'static str, ModValue)]) -> Config {
    let last = |n: &str| mp.iter().rev().find(|(k, _)| *k == n).map(|(_, v)| v);
    let text = |n: &str, d: &str| match last(n) {
        Some(ModValue::Str(s)) => s.clone(),
        _ => d.to_string(),
    };
    let flag = |n: &str| matches!(last(n), Some(ModValue::Int(i)) if *i != 0);
    Config {
        url: text("db_url", DEFAULT_DB_URL),
        user_col: text("user_column", "username"),
        domain_col: text("domain_column", "domain"),
        alias_user_col: text("alias_user_column", "alias_username"),
        alias_domain_col: text("alias_domain_column", "alias_domain"),
        use_domain: flag("use_domain"),
        domain_prefix: match last("domain_prefix") {
            Some(ModValue::Str(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        },
        append_branches: flag("append_branches"),
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

    #[test]
    fn flags() {
        let cases: [(&str, bool, Option<u8>); 7] = [
            ("", false, Some(0)),
            ("", true, Some(FLAG_DOMAIN)),
            ("d", true, Some(0)),
            ("rd", true, Some(FLAG_REVERSE)),
            ("U", false, Some(FLAG_DOMAIN)),
            ("ur", false, Some(FLAG_DOMAIN | FLAG_REVERSE)),
            ("x", false, None),
        ];
        for (s, ud, want) in cases {
            assert_eq!(parse_flags(s.as_bytes(), ud).ok(), want, "{s} {ud}");
        }
    }

    #[test]
    fn defaults() {
        let c = config(&[]);
        assert_eq!(c.url, DEFAULT_DB_URL);
        assert_eq!(
            (
                &*c.user_col,
                &*c.domain_col,
                &*c.alias_user_col,
                &*c.alias_domain_col
            ),
            ("username", "domain", "alias_username", "alias_domain")
        );
        assert!(!c.use_domain && !c.append_branches && c.domain_prefix.is_none());
    }
}
