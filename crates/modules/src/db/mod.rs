//! Database access shared by the DB-backed modules (auth_db today; usrloc, permissions, domain …
//! later): which driver modules (`db_sqlite`, `db_postgres`, `db_mysql`) the config loaded, and one
//! [`ferrosip_db::Db`] pool per `db_url`, shared by every module that names the same URL.
//!
//! Kamailio binds a module to a driver by the URL's scheme: `mysql://…` needs the module
//! `db_mysql`, `sqlite://…` `db_sqlite` (the name is `db_` + the text before the first `:`), and
//! a module whose `db_url` names a driver that is not loaded fails at startup with "Module db_x not
//! found. Missing loadmodule?". [`DbDrivers::bind`] does the same check.
//!
//! Not here: SQL (ferrosip-db builds it), a driver other than the three ferrosip-db implements
//! (`db_text`, `db_redis` … are Kamailio modules ferrosip does not implement, refused at
//! `loadmodule`).
//!
//! Why pools are opened late: the server compiles the config, then forks when daemonising (`-D`
//! absent), then starts its threads. A connection opened before the fork would be shared by two
//! processes (SQLite forbids it, the PostgreSQL client owns a runtime). Modules therefore open the
//! shared pool in `child_init` or on first use ([`DbDrivers::open`]) and use short-lived handles
//! ([`DbDrivers::connect_once`]) for load-time checks, as Kamailio's fixups connect and close.

pub mod drivers;

/// The database API itself, for code that reaches the DB modules through this crate (the server,
/// black-box tests that prepare a database).
pub use ferrosip_db;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use ferrosip_api::{Error, InitCtx};
use ferrosip_db::{Db, Options};

/// A database driver module ferrosip implements.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Driver {
    /// `db_sqlite`, scheme `sqlite`.
    Sqlite,
    /// `db_postgres`, scheme `postgres`.
    Postgres,
    /// `db_mysql`, scheme `mysql`.
    Mysql,
}

impl Driver {
    /// The Kamailio module name.
    pub fn module(self) -> &'static str {
        match self {
            Driver::Sqlite => "db_sqlite",
            Driver::Postgres => "db_postgres",
            Driver::Mysql => "db_mysql",
        }
    }

    /// The driver a module name stands for.
    pub fn from_module(name: &str) -> Option<Driver> {
        [Driver::Sqlite, Driver::Postgres, Driver::Mysql]
            .into_iter()
            .find(|d| d.module() == name)
    }
}

/// The driver module a `db_url` needs, as Kamailio's `db_bind_mod` names it: `db_` followed by
/// the URL up to its first `:` (the whole URL when it has none). `postgresql://` therefore needs
/// `db_postgresql`, which does not exist, as in Kamailio.
pub fn driver_module_name(url: &str) -> String {
    let scheme = url.split(':').next().unwrap_or(url);
    format!("db_{scheme}")
}

/// The shared "DB access" object: loaded drivers and one pool per URL. Get it with
/// [`DbDrivers::of`] in an init hook (the first caller creates it, as `InitCtx::stats`).
#[derive(Debug, Default)]
pub struct DbDrivers {
    loaded: Mutex<Vec<Driver>>,
    pools: Mutex<HashMap<String, Db>>,
    /// The core's `version_table`, read by the first caller of [`DbDrivers::of`].
    version_table: String,
}

impl DbDrivers {
    /// The instance of this server (created and offered to later modules by the first caller).
    pub fn of(ictx: &mut InitCtx<'_>) -> Arc<DbDrivers> {
        match ictx.api::<DbDrivers>() {
            Some(d) => d,
            None => {
                let d = Arc::new(DbDrivers {
                    version_table: ictx.version_table().to_string(),
                    ..DbDrivers::default()
                });
                ictx.provide(Arc::clone(&d));
                d
            }
        }
    }

    /// Called by a driver module's init: its scheme becomes usable.
    pub fn register(&self, d: Driver) {
        let mut l = self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if !l.contains(&d) {
            l.push(d);
        }
    }

    /// Whether the driver module was loaded (and initialised).
    pub fn is_loaded(&self, d: Driver) -> bool {
        self.loaded
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&d)
    }

    /// Kamailio's `db_bind_mod` for `module`'s `db_url`: the URL's driver module must be loaded
    /// and the URL must parse. The error text is Kamailio's. Drivers register in their init, so a
    /// module initialised before its driver gets an error here: call again once every module is
    /// initialised (fixups, child_init) before refusing, as auth_db does.
    pub fn bind(&self, module: &str, url: &str) -> Result<Driver, Error> {
        let name = driver_module_name(url);
        let Some(d) = Driver::from_module(&name).filter(|d| self.is_loaded(*d)) else {
            return Err(Error::Init(format!(
                "{module}: Module {name} not found. Missing loadmodule? \
                 unable to bind to a database driver"
            )));
        };
        ferrosip_db::DbUrl::parse(url).map_err(|e| Error::Init(format!("{module}: {e}")))?;
        Ok(d)
    }

    /// The shared pool of `url` (opened by the first caller; one connection is made then, so a
    /// wrong URL or password shows up at startup).
    pub fn open(&self, url: &str) -> Result<Db, ferrosip_db::Error> {
        let mut pools = self.pools.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(db) = pools.get(url) {
            return Ok(db.clone());
        }
        // Connecting under the lock: only the first caller of a URL waits, and only at startup.
        let db = Db::connect_with(url, self.options())?;
        pools.insert(url.to_string(), db.clone());
        Ok(db)
    }

    /// [`DbDrivers::bind`] then [`DbDrivers::open`] for `module`: the shared pool of `url`, or the
    /// text to log (a missing driver module or a failed connection).
    pub fn open_bound(&self, module: &str, url: &str) -> Result<Db, String> {
        self.bind(module, url).map_err(|e| match e {
            Error::Init(m) => m,
            other => other.to_string(),
        })?;
        self.open(url).map_err(|e| e.to_string())
    }

    /// A handle of its own (not shared, closed when dropped) for load-time checks.
    pub fn connect_once(&self, url: &str) -> Result<Db, ferrosip_db::Error> {
        Db::connect_with(url, self.options())
    }

    /// Connection options: the core's `version_table`.
    fn options(&self) -> Options {
        Options {
            version_table: if self.version_table.is_empty() {
                "version".into()
            } else {
                self.version_table.clone()
            },
            ..Options::default()
        }
    }

    /// Drops every pool (module destroy).
    pub fn close_all(&self) {
        self.pools
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn driver_names_follow_the_scheme() {
        let cases = [
            ("sqlite:///var/lib/k.db", "db_sqlite", Some(Driver::Sqlite)),
            (
                "mysql://u:p@localhost/kamailio",
                "db_mysql",
                Some(Driver::Mysql),
            ),
            ("postgres://u@h/db", "db_postgres", Some(Driver::Postgres)),
            ("postgresql://u@h/db", "db_postgresql", None),
            ("text:///etc/kamailio/db", "db_text", None),
            ("nonsense", "db_nonsense", None),
        ];
        for (url, name, d) in cases {
            assert_eq!(driver_module_name(url), name, "{url}");
            assert_eq!(Driver::from_module(name), d, "{url}");
        }
    }

    #[test]
    fn bind_needs_the_loaded_driver() {
        let d = DbDrivers::default();
        let url = "sqlite:///tmp/x.db";
        let e = d.bind("auth_db", url).err().map(|e| e.to_string());
        assert!(
            e.as_deref()
                .is_some_and(|e| e.contains("Module db_sqlite not found. Missing loadmodule?")),
            "{e:?}"
        );
        d.register(Driver::Sqlite);
        assert_eq!(d.bind("auth_db", url).ok(), Some(Driver::Sqlite));
        // Loaded driver, but a URL ferrosip-db refuses.
        assert!(d.bind("auth_db", "sqlite://").is_err());
        assert!(d.bind("auth_db", "mysql://u@h/db").is_err());
    }

    #[test]
    fn pools_are_shared_per_url() {
        let dir = std::env::temp_dir().join(format!("ferrosip-dbdrivers-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.join("p.db").display());
        let d = DbDrivers::default();
        let a = d.open(&url).unwrap_or_else(|e| panic!("{e}"));
        a.execute_batch("CREATE TABLE t (x INTEGER)")
            .unwrap_or_else(|e| panic!("{e}"));
        let b = d.open(&url).unwrap_or_else(|e| panic!("{e}"));
        b.insert("t", &[("x", ferrosip_db::Value::Int(7))])
            .unwrap_or_else(|e| panic!("{e}"));
        let n = d.pools.lock().map(|p| p.len()).unwrap_or(0);
        assert_eq!(n, 1);
        let rows = a
            .query("t", &[], &["x"], None)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(rows.len(), 1);
        d.close_all();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
