//! The export tables of the driver modules `db_sqlite`, `db_postgres` and `db_mysql`: no script
//! functions, their Kamailio 6.0 modparams, and an init hook that makes the scheme usable
//! ([`DbDrivers::register`]).
//!
//! Every parameter is declared (so a config that sets one is never told "unknown modparam"), but
//! ferrosip-db has its own fixed connection handling (docs/database.md), so a parameter is:
//! - accepted when the value set is what ferrosip-db does anyway (e.g. db_mysql `auto_reconnect` 1,
//!   db_postgres `retries` 1: one retry on a new connection after a lost one);
//! - accepted with no effect when it only tunes the C driver's internals (db_mysql `ping_interval`:
//!   a stale connection is found on use and the operation retried; db_postgres `lockset`,
//!   `bytea_output_escape`), logged once at init;
//! - refused at load otherwise (a timeout, TLS, read-only files, libpq parameters …).

use std::sync::Arc;

use ferrosip_api::export::{ModParam, ModParamType as T};
use ferrosip_api::{ModValue, ModuleExports};

use super::{DbDrivers, Driver};

/// What a parameter of a driver module does in ferrosip.
#[derive(Clone, Copy)]
enum Rule {
    /// Only these integer values are accepted (what ferrosip-db always does); why, for the refusal.
    Only(&'static [i64], &'static str),
    /// Accepted, no effect (internal tuning); logged at init.
    NoEffect(&'static str),
    /// Refused whatever the value, with the reason.
    Refused(&'static str),
    /// db_sqlite's `"<file>=<mode>[;]"`: only WAL (ferrosip-db always uses it).
    JournalMode,
}

type ParamRow = (&'static str, T, Rule);

const SQLITE: &[ParamRow] = &[
    (
        "db_set_readonly",
        T::Str,
        Rule::Refused("ferrosip-db opens SQLite files read-write"),
    ),
    ("db_set_journal_mode", T::Str, Rule::JournalMode),
    (
        "db_set_busy_timeout",
        T::Str,
        Rule::Refused("ferrosip-db waits up to 5 s for locks on every SQLite connection; the wait cannot be set"),
    ),
];

const MYSQL: &[ParamRow] = &[
    (
        "ping_interval",
        T::Int,
        Rule::NoEffect(
            "a broken connection is detected when used and the operation retried on a new one",
        ),
    ),
    (
        "connect_timeout",
        T::Int,
        Rule::Refused("ferrosip-db's connect timeout is fixed at 5 s"),
    ),
    (
        "send_timeout",
        T::Int,
        Rule::Refused("ferrosip-db has no write timeout"),
    ),
    (
        "receive_timeout",
        T::Int,
        Rule::Refused("ferrosip-db has no read timeout"),
    ),
    (
        "retries",
        T::Int,
        Rule::Only(
            &[1],
            "ferrosip-db retries a failed operation once, on a new connection",
        ),
    ),
    (
        "server_timezone",
        T::Int,
        Rule::Only(
            &[0],
            "ferrosip-db converts date/times in local time, as the default 0",
        ),
    ),
    (
        "timeout_interval",
        T::Int,
        Rule::Refused(
            "ferrosip-db's connect timeout is fixed at 5 s and it has no read/write timeout",
        ),
    ),
    (
        "auto_reconnect",
        T::Int,
        Rule::Only(
            &[1],
            "ferrosip-db always reconnects after a lost connection",
        ),
    ),
    (
        "insert_delayed",
        T::Int,
        Rule::Only(&[0], "ferrosip-db never sends INSERT DELAYED"),
    ),
    (
        "update_affected_found",
        T::Int,
        Rule::Only(
            &[1],
            "ferrosip-db always counts the rows an UPDATE matched (CLIENT_FOUND_ROWS)",
        ),
    ),
    (
        "unsigned_type",
        T::Int,
        Rule::Only(
            &[0],
            "ferrosip-db returns integers by column size, not as unsigned",
        ),
    ),
    (
        "opt_ssl_mode",
        T::Int,
        Rule::Only(&[0, 1], "ferrosip-db connects without TLS"),
    ),
    (
        "opt_ssl_ca",
        T::Str,
        Rule::Refused("ferrosip-db connects without TLS"),
    ),
];

const POSTGRES: &[ParamRow] = &[
    (
        "retries",
        T::Int,
        Rule::Only(
            &[1],
            "ferrosip-db retries a failed operation once, on a new connection",
        ),
    ),
    (
        "lockset",
        T::Int,
        Rule::NoEffect("replace() resolves concurrent inserts by updating again, without locks"),
    ),
    (
        "timeout",
        T::Int,
        Rule::Only(
            &[0],
            "ferrosip-db has no query timeout (its connect timeout is fixed at 5 s)",
        ),
    ),
    (
        "tcp_keepalive",
        T::Int,
        Rule::Only(&[0], "ferrosip-db does not set TCP keepalive"),
    ),
    (
        "bytea_output_escape",
        T::Int,
        Rule::NoEffect("ferrosip-db reads bytea in binary form"),
    ),
    (
        "con_param",
        T::Str,
        Rule::Refused("ferrosip-db does not pass libpq connection parameters"),
    ),
];

/// The export table of a driver module.
pub fn exports(d: Driver) -> ModuleExports {
    let rows = rows(d);
    let mut m = ModuleExports::new(d.module());
    m.params = rows.iter().map(|r| param(d, r)).collect();
    m.init = Some(Arc::new(move |ictx| {
        for (name, _) in ictx.modparams() {
            if let Some((_, _, Rule::NoEffect(why))) = rows.iter().find(|r| r.0 == *name) {
                tracing::info!("{}: modparam {name} accepted, no effect: {why}", d.module());
            }
        }
        if !built(d) {
            return Err(ferrosip_api::Error::Init(format!(
                "{}: this ferrosip was built without its backend (cargo feature db-{})",
                d.module(),
                d.module().trim_start_matches("db_")
            )));
        }
        DbDrivers::of(ictx).register(d);
        Ok(())
    }));
    m
}

/// Whether ferrosip-db's backend for `d` is compiled in (crates/modules' features).
fn built(d: Driver) -> bool {
    match d {
        Driver::Sqlite => true,
        Driver::Postgres => cfg!(feature = "db-postgres"),
        Driver::Mysql => cfg!(feature = "db-mysql"),
    }
}

fn rows(d: Driver) -> &'static [ParamRow] {
    match d {
        Driver::Sqlite => SQLITE,
        Driver::Postgres => POSTGRES,
        Driver::Mysql => MYSQL,
    }
}

fn param(d: Driver, &(name, ty, rule): &ParamRow) -> ModParam {
    let module = d.module();
    match rule {
        // Not `implemented: false`: the registry's refusal would not say why.
        Rule::Refused(why) => {
            ModParam::new(name, ty, why).check(move |_| Err(format!("not implemented: {why}")))
        }
        Rule::NoEffect(why) => ModParam::new(name, ty, why),
        Rule::Only(values, why) => ModParam::new(name, ty, why).check(move |v| match v {
            ModValue::Int(i) if values.contains(i) => Ok(()),
            _ => Err(format!(
                "only {} accepted by ferrosip: {why}",
                values
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            )),
        }),
        Rule::JournalMode => ModParam::new(
            name,
            ty,
            "\"<file>=WAL\" accepted (ferrosip-db always uses WAL); other modes refused",
        )
        .check(move |v| journal_mode(module, v)),
    }
}

/// `"<file>=<mode>[;]"`, Kamailio's db_sqlite syntax.
fn journal_mode(module: &str, v: &ModValue) -> Result<(), String> {
    let ModValue::Str(s) = v else {
        return Err("expects \"<file>=<mode>\"".into());
    };
    let Some((file, mode)) = s.split_once('=') else {
        return Err(format!("{module}: expects \"<file>=<mode>\", got \"{s}\""));
    };
    let mode = mode.trim().trim_end_matches(';').trim();
    if file.trim().is_empty() {
        return Err(format!("{module}: no file in \"{s}\""));
    }
    if mode.eq_ignore_ascii_case("WAL") {
        Ok(())
    } else {
        Err(format!(
            "journal mode {mode}: ferrosip-db always uses WAL on SQLite files; other modes are refused"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrosip_api::Registry;

    fn set(d: Driver, name: &str, v: ModValue) -> Result<(), String> {
        let mut reg = Registry::new();
        reg.add(exports(d)).map_err(|e| e.to_string())?;
        reg.set_modparam(d.module(), name, v)
            .map_err(|e| e.to_string())?;
        reg.init_all().map_err(|e| e.to_string())?;
        let loaded = reg.api::<DbDrivers>().is_some_and(|x| x.is_loaded(d));
        assert!(loaded, "{} registered", d.module());
        Ok(())
    }

    #[test]
    fn modparams_accepted_or_refused() {
        use ModValue::{Int, Str};
        let s = |x: &str| Str(x.to_string());
        let cases: Vec<(Driver, &str, ModValue, bool)> = vec![
            (
                Driver::Sqlite,
                "db_set_journal_mode",
                s("var/my.db=WAL;"),
                true,
            ),
            (Driver::Sqlite, "db_set_journal_mode", s("/x.db=wal"), true),
            (
                Driver::Sqlite,
                "db_set_journal_mode",
                s("/x.db=DELETE;"),
                false,
            ),
            (Driver::Sqlite, "db_set_journal_mode", s("WAL"), false),
            (Driver::Sqlite, "db_set_readonly", s("/x.db"), false),
            (
                Driver::Sqlite,
                "db_set_busy_timeout",
                s("/x.db=300;"),
                false,
            ),
            (Driver::Mysql, "ping_interval", Int(600), true),
            (Driver::Mysql, "auto_reconnect", Int(1), true),
            (Driver::Mysql, "auto_reconnect", Int(0), false),
            (Driver::Mysql, "insert_delayed", Int(0), true),
            (Driver::Mysql, "insert_delayed", Int(1), false),
            (Driver::Mysql, "update_affected_found", Int(1), true),
            (Driver::Mysql, "update_affected_found", Int(0), false),
            (Driver::Mysql, "timeout_interval", Int(2), false),
            (Driver::Mysql, "opt_ssl_mode", Int(1), true),
            (Driver::Mysql, "opt_ssl_mode", Int(2), false),
            (Driver::Mysql, "opt_ssl_ca", s("/etc/ca.pem"), false),
            (Driver::Mysql, "retries", Int(1), true),
            (Driver::Mysql, "retries", s("1"), true),
            (Driver::Mysql, "opt_rpl", Int(1), false),
            (Driver::Postgres, "retries", Int(1), true),
            (Driver::Postgres, "retries", Int(3), false),
            (Driver::Postgres, "timeout", Int(0), true),
            (Driver::Postgres, "timeout", Int(10), false),
            (Driver::Postgres, "lockset", Int(6), true),
            (Driver::Postgres, "bytea_output_escape", Int(0), true),
            (Driver::Postgres, "tcp_keepalive", Int(600), false),
            (
                Driver::Postgres,
                "con_param",
                s("connect_timeout=15"),
                false,
            ),
        ];
        for (d, name, v, ok) in cases {
            let r = set(d, name, v.clone());
            assert_eq!(r.is_ok(), ok, "{} {name} {v:?}: {r:?}", d.module());
        }
    }

    #[test]
    fn refusals_say_why() {
        let e = set(Driver::Mysql, "insert_delayed", ModValue::Int(1)).err();
        assert!(
            e.as_deref().is_some_and(|e| e.contains("INSERT DELAYED")),
            "{e:?}"
        );
        let e = set(
            Driver::Sqlite,
            "db_set_readonly",
            ModValue::Str("/x".into()),
        )
        .err();
        assert!(
            e.as_deref().is_some_and(|e| e.contains("not implemented")),
            "{e:?}"
        );
    }
}
