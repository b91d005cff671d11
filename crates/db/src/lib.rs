//! `ferrosip-db`: the database API that ferrosip's DB-backed modules (auth_db, usrloc, permissions,
//! domain, alias_db, htable …) use, modelled on Kamailio's srdb1 API: query with keys, operators and
//! values, selected columns and an order; insert, update, delete, replace; raw SQL; typed values
//! (int, bigint, double, string, blob, datetime, null); the `version` table check
//! (`db_check_table_version`). It also holds Kamailio's table schema ([`schema`]) so that
//! `ferrosip-ctl db create` can create it.
//!
//! Backends, chosen by the `db_url` scheme: `sqlite://` (embedded, always built), `postgres://` and
//! `mysql://` (cargo features of the same names, on by default).
//!
//! The API is synchronous: SIP workers are plain threads and a query blocks the worker that makes
//! it, as it does in a Kamailio child process. A [`Db`] is cheap to clone and shared by all workers;
//! it keeps a small pool of idle connections. When a connection turns out to be broken (the
//! database restarted), the pool is emptied and the operation is retried once on a new connection,
//! so a request that arrives after the restart is not lost; with [`Options::reconnect_wait`] a
//! request caught by the restart waits for the server instead of failing. docs/database.md has the
//! whole story.
//!
//! What it does not do: transactions spanning calls, cursors / partial fetch (`fetch_result`),
//! `last_inserted_id`, `insert_update`, `insert_delayed`, `use_table` state (every call names its
//! table), TLS to the database server, URL parameters. It knows nothing of SIP or of ferrosip's
//! module API.

mod backend;
pub mod schema;
mod sql;
mod time;
mod url;
mod value;

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

pub use url::{DbUrl, Dialect};
pub use value::{Cond, Direction, Op, Order, Rows, Value};

use backend::Conn;

/// Errors of the database layer, split by who is at fault: the URL or the caller (configuration),
/// the database server (connection, query), or the data found (version).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("bad db_url {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("unsupported db_url scheme {0:?} (ferrosip knows sqlite, postgres, mysql)")]
    UnsupportedScheme(String),
    #[error("the {0} backend is not compiled into this build")]
    BackendNotBuilt(&'static str),
    #[error("invalid table or column name {0:?}")]
    BadIdentifier(String),
    #[error("invalid database operation: {0}")]
    Invalid(String),
    #[error("cannot connect to {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The connection broke under the operation (server restarted, network cut); retried once.
    #[error("database connection lost: {0}")]
    ConnectionLost(String),
    /// A unique or primary key constraint refused the row.
    #[error("duplicate entry: {0}")]
    Duplicate(String),
    #[error("query failed: {0}")]
    Query(String),
    #[error("unsupported column type {0} in a result")]
    UnsupportedType(String),
    #[error("cannot store a {value} value in a column of type {column}")]
    TypeMismatch { value: &'static str, column: String },
    #[error("table {table} has no row in the {version_table} table")]
    NoTableVersion {
        table: String,
        version_table: String,
    },
    #[error("table {table} has version {found} in the {version_table} table, expected {expected} (upgrade the schema)")]
    TableVersion {
        table: String,
        version_table: String,
        found: i64,
        expected: i64,
    },
}

impl Error {
    /// Whether the connection that produced this error must be thrown away.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::ConnectionLost(_))
    }
}

/// Idle connections kept per [`Db`]; more may be open while busy (one per worker using it).
const MAX_IDLE: usize = 16;
/// Pause between connection attempts while [`Options::reconnect_wait`] lasts.
const RECONNECT_STEP: Duration = Duration::from_millis(100);

/// How a [`Db`] behaves. `Options::default()` behaves as Kamailio does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Name of the version table (Kamailio's `version_table` core parameter); `version`.
    pub version_table: String,
    /// How long a connection attempt after startup (a reconnect, or a new pooled connection) keeps
    /// retrying, every 100 ms, while the server is down. Zero, the default, tries once, as Kamailio
    /// does: a request that is in the database while it restarts then fails. A non-zero wait lets it
    /// wait for the server instead, and stalls the worker that makes it for that long at most.
    pub reconnect_wait: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            version_table: "version".to_string(),
            reconnect_wait: Duration::ZERO,
        }
    }
}

/// A database handle: URL, idle connection pool and the name of the version table. Clone it freely;
/// clones share the pool.
#[derive(Clone)]
pub struct Db {
    inner: Arc<Inner>,
}

/// Opens a new connection; `backend::open` in production, a fake in the pool tests.
type Opener = Box<dyn Fn(&DbUrl) -> Result<Box<dyn Conn>, Error> + Send + Sync>;

struct Inner {
    url: DbUrl,
    options: Options,
    idle: Mutex<Vec<Box<dyn Conn>>>,
    open: Opener,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db").field("url", &self.inner.url).finish()
    }
}

impl Db {
    /// Parses `url`, opens one connection (so that a wrong URL or password is reported at startup,
    /// as Kamailio reports it in `child_init`) and keeps it in the pool.
    pub fn connect(url: &str) -> Result<Db, Error> {
        Self::connect_with(url, Options::default())
    }

    /// Like [`Db::connect`] with [`Options`] (version table name, reconnect wait).
    pub fn connect_with(url: &str, options: Options) -> Result<Db, Error> {
        sql::check_ident(&options.version_table)?;
        Self::with_opener(DbUrl::parse(url)?, options, Box::new(backend::open))
    }

    fn with_opener(url: DbUrl, options: Options, open: Opener) -> Result<Db, Error> {
        let db = Db {
            inner: Arc::new(Inner {
                url,
                options,
                idle: Mutex::new(Vec::new()),
                open,
            }),
        };
        let c = (db.inner.open)(&db.inner.url)?;
        db.checkin(c);
        Ok(db)
    }

    /// The name of the version table this handle checks.
    pub fn version_table(&self) -> &str {
        &self.inner.options.version_table
    }

    pub fn url(&self) -> &DbUrl {
        &self.inner.url
    }

    pub fn dialect(&self) -> Dialect {
        self.inner.url.dialect()
    }

    /// `SELECT columns FROM table WHERE conds (AND-ed) [ORDER BY order]`; empty `columns` = all.
    pub fn query(
        &self,
        table: &str,
        conds: &[Cond<'_>],
        columns: &[&str],
        order: Option<Order<'_>>,
    ) -> Result<Rows, Error> {
        let st = sql::select(self.dialect(), table, columns, conds, order)?;
        self.with_conn(|c| c.query(&st.text, &st.params))
    }

    /// Inserts one row; returns the number of rows inserted (1).
    pub fn insert(&self, table: &str, row: &[(&str, Value)]) -> Result<u64, Error> {
        let st = sql::insert(self.dialect(), table, row, false)?;
        self.with_conn(|c| c.execute(&st.text, &st.params))
    }

    /// Sets `set` on the rows matching `conds`; returns how many rows matched.
    pub fn update(
        &self,
        table: &str,
        conds: &[Cond<'_>],
        set: &[(&str, Value)],
    ) -> Result<u64, Error> {
        let st = sql::update(self.dialect(), table, conds, set)?;
        self.with_conn(|c| c.execute(&st.text, &st.params))
    }

    /// Deletes the rows matching `conds` (all rows when empty); returns how many.
    pub fn delete(&self, table: &str, conds: &[Cond<'_>]) -> Result<u64, Error> {
        let st = sql::delete(self.dialect(), table, conds)?;
        self.with_conn(|c| c.execute(&st.text, &st.params))
    }

    /// Kamailio's `replace`: writes `row`, replacing the row that has the same unique key. The first
    /// `unique` columns of `row` must form a unique key of the table. SQLite uses
    /// `INSERT OR REPLACE` and MySQL `REPLACE` (both rely on the table's unique indexes); PostgreSQL
    /// has neither, so, as Kamailio's db_postgres does, the row is updated by that key and inserted
    /// when nothing matched (a concurrent insert of the same key is resolved by updating again).
    pub fn replace(&self, table: &str, row: &[(&str, Value)], unique: usize) -> Result<(), Error> {
        if unique == 0 || unique > row.len() {
            return Err(Error::Invalid(format!(
                "replace into {table}: the unique key must be 1..={} leading columns, not {unique}",
                row.len()
            )));
        }
        let d = self.dialect();
        if d != Dialect::Postgres {
            let st = sql::insert(d, table, row, true)?;
            return self.with_conn(|c| c.execute(&st.text, &st.params).map(drop));
        }
        let (key, rest) = row.split_at(unique);
        let conds: Vec<Cond<'_>> = key.iter().map(|(c, v)| Cond::eq(c, v.clone())).collect();
        let upd = if rest.is_empty() {
            // Every column is part of the key: "update" the key to itself to learn whether it exists.
            sql::update(d, table, &conds, key)?
        } else {
            sql::update(d, table, &conds, rest)?
        };
        let ins = sql::insert(d, table, row, false)?;
        self.with_conn(|c| {
            if c.execute(&upd.text, &upd.params)? > 0 {
                return Ok(());
            }
            match c.execute(&ins.text, &ins.params) {
                Err(Error::Duplicate(_)) => c.execute(&upd.text, &upd.params).map(drop),
                r => r.map(drop),
            }
        })
    }

    /// Runs one SQL statement that returns rows, as written (Kamailio's `raw_query`). Never build
    /// it from untrusted text: values are not escaped here.
    pub fn raw_query(&self, sql: &str) -> Result<Rows, Error> {
        self.with_conn(|c| c.query(sql, &[]))
    }

    /// Runs one SQL statement that returns no rows; returns the affected row count.
    pub fn raw_execute(&self, sql: &str) -> Result<u64, Error> {
        self.with_conn(|c| c.execute(sql, &[]))
    }

    /// Runs several `;`-separated statements (schema scripts), without results.
    pub fn execute_batch(&self, sql: &str) -> Result<(), Error> {
        self.with_conn(|c| c.batch(sql))
    }

    /// The version of `table` recorded in the version table, `None` when it has no row.
    pub fn table_version(&self, table: &str) -> Result<Option<i64>, Error> {
        let conds = [Cond::eq("table_name", table)];
        let rows = self.query(
            &self.inner.options.version_table,
            &conds,
            &["table_version"],
            None,
        )?;
        match rows.rows.first().and_then(|r| r.first()) {
            None => Ok(None),
            Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                Error::Query(format!(
                    "{}.table_version of {table} is a {}, not an integer",
                    self.inner.options.version_table,
                    v.type_name()
                ))
            }),
        }
    }

    /// Kamailio's `db_check_table_version`: the version table must say `expected` for `table`.
    pub fn check_table_version(&self, table: &str, expected: i64) -> Result<(), Error> {
        match self.table_version(table)? {
            Some(v) if v == expected => Ok(()),
            Some(found) => Err(Error::TableVersion {
                table: table.to_string(),
                version_table: self.inner.options.version_table.clone(),
                found,
                expected,
            }),
            None => Err(Error::NoTableVersion {
                table: table.to_string(),
                version_table: self.inner.options.version_table.clone(),
            }),
        }
    }

    /// Runs `f` on a pooled connection; on a lost connection empties the pool and runs it once more
    /// on a fresh one.
    fn with_conn<T>(&self, f: impl Fn(&mut dyn Conn) -> Result<T, Error>) -> Result<T, Error> {
        let mut c = self.checkout()?;
        match f(c.as_mut()) {
            Err(e) if e.is_connection_lost() => {
                // The other idle connections went to the same server: they are most likely dead too,
                // and each would cost one failed attempt.
                drop(c);
                self.lock_idle().clear();
                tracing::warn!(url = %self.inner.url, error = %e, "database connection lost, reconnecting");
                let mut c = self.open_waiting()?;
                let r = f(c.as_mut());
                if !matches!(&r, Err(e) if e.is_connection_lost()) {
                    self.checkin(c);
                }
                r
            }
            r => {
                self.checkin(c);
                r
            }
        }
    }

    fn lock_idle(&self) -> std::sync::MutexGuard<'_, Vec<Box<dyn Conn>>> {
        // A panic while holding this lock cannot leave the Vec half-updated (push/pop/clear).
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn checkout(&self) -> Result<Box<dyn Conn>, Error> {
        loop {
            let c = self.lock_idle().pop();
            match c {
                Some(c) if c.is_closed() => continue,
                Some(c) => return Ok(c),
                None => return self.open_waiting(),
            }
        }
    }

    /// Opens a connection, retrying for up to `reconnect_wait`.
    fn open_waiting(&self) -> Result<Box<dyn Conn>, Error> {
        let deadline = Instant::now() + self.inner.options.reconnect_wait;
        loop {
            match (self.inner.open)(&self.inner.url) {
                Ok(c) => return Ok(c),
                Err(e) if Instant::now() + RECONNECT_STEP > deadline => return Err(e),
                Err(_) => std::thread::sleep(RECONNECT_STEP),
            }
        }
    }

    fn checkin(&self, c: Box<dyn Conn>) {
        let mut idle = self.lock_idle();
        if idle.len() < MAX_IDLE {
            idle.push(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fake server: connections opened in one "life" die when it restarts.
    #[derive(Default)]
    struct Server {
        life: AtomicUsize,
        opened: AtomicUsize,
        /// Restarts again right after each connect (a server that keeps dying), when set.
        flapping: std::sync::atomic::AtomicBool,
        /// Refuses this many more connection attempts (a server still starting).
        down_for: AtomicUsize,
    }

    struct Fake {
        server: Arc<Server>,
        life: usize,
    }

    impl Conn for Fake {
        fn query(&mut self, sql: &str, _: &[&Value]) -> Result<Rows, Error> {
            if self.server.life.load(Ordering::SeqCst) != self.life {
                return Err(Error::ConnectionLost("server restarted".into()));
            }
            if sql.starts_with("SELEC ") {
                return Err(Error::Query("syntax error".into()));
            }
            Ok(Rows {
                columns: vec!["x".into()],
                rows: vec![vec![Value::Int(1)]],
            })
        }
        fn execute(&mut self, s: &str, p: &[&Value]) -> Result<u64, Error> {
            self.query(s, p).map(|r| r.len() as u64)
        }
        fn batch(&mut self, s: &str) -> Result<(), Error> {
            self.query(s, &[]).map(drop)
        }
    }

    fn fake() -> (Db, Arc<Server>) {
        fake_with(Options::default())
    }

    fn fake_with(options: Options) -> (Db, Arc<Server>) {
        let server = Arc::new(Server::default());
        let s = server.clone();
        let open: Opener = Box::new(move |_| {
            let refused = s
                .down_for
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if refused {
                return Err(Error::Connect {
                    url: "fake".into(),
                    reason: "connection refused".into(),
                });
            }
            s.opened.fetch_add(1, Ordering::SeqCst);
            let life = s.life.load(Ordering::SeqCst);
            if s.flapping.load(Ordering::SeqCst) {
                s.life.fetch_add(1, Ordering::SeqCst);
            }
            Ok(Box::new(Fake {
                server: s.clone(),
                life,
            }))
        });
        let url = DbUrl::parse("sqlite:///fake").expect("url");
        (Db::with_opener(url, options, open).expect("db"), server)
    }

    fn opened(s: &Server) -> usize {
        s.opened.load(Ordering::SeqCst)
    }

    #[test]
    fn lost_connection_empties_the_pool_and_retries_once() {
        let (db, server) = fake();
        // Four connections checked out at once, as busy workers hold them, then pooled.
        let conns: Vec<_> = (0..4).map(|_| db.checkout().expect("checkout")).collect();
        for c in conns {
            db.checkin(c);
        }
        assert_eq!(opened(&server), 4);
        server.life.fetch_add(1, Ordering::SeqCst); // restart: every pooled connection is dead
        let r = db
            .raw_query("SELECT 1")
            .expect("retried on a fresh connection");
        assert_eq!(r.rows, [[Value::Int(1)]]);
        assert_eq!(opened(&server), 5, "one reconnect");
        assert_eq!(
            db.lock_idle().len(),
            1,
            "dead connections dropped, the fresh one kept"
        );
        db.raw_query("SELECT 1").expect("the next request");
        assert_eq!(opened(&server), 5, "and it reuses the fresh one");
    }

    #[test]
    fn a_second_loss_is_reported_and_not_pooled() {
        let (db, server) = fake();
        server.flapping.store(true, Ordering::SeqCst);
        server.life.fetch_add(1, Ordering::SeqCst);
        match db.raw_query("SELECT 1") {
            Err(Error::ConnectionLost(_)) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(opened(&server), 2, "exactly one retry");
        assert!(db.lock_idle().is_empty());
        server.flapping.store(false, Ordering::SeqCst);
        db.raw_query("SELECT 1")
            .expect("after the server came back");
    }

    #[test]
    fn query_errors_keep_the_connection_and_do_not_retry() {
        let (db, server) = fake();
        match db.raw_query("SELEC 1") {
            Err(Error::Query(_)) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(opened(&server), 1);
        assert_eq!(db.lock_idle().len(), 1);
    }

    #[test]
    fn reconnect_waits_for_a_restarting_server_when_asked() {
        // Default: one attempt, the request fails while the server is still down.
        let (db, server) = fake();
        server.life.fetch_add(1, Ordering::SeqCst);
        server.down_for.store(3, Ordering::SeqCst);
        match db.raw_query("SELECT 1") {
            Err(Error::Connect { .. }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(server.down_for.load(Ordering::SeqCst), 2, "one attempt");
        // With a wait, the same request rides out three refused attempts.
        let (db, server) = fake_with(Options {
            reconnect_wait: Duration::from_secs(10),
            ..Options::default()
        });
        server.life.fetch_add(1, Ordering::SeqCst);
        server.down_for.store(3, Ordering::SeqCst);
        db.raw_query("SELECT 1").expect("waited for the server");
        assert_eq!(server.down_for.load(Ordering::SeqCst), 0);
        assert_eq!(
            opened(&server),
            2,
            "the first connection and the one after the restart"
        );
    }

    #[test]
    fn handle_is_shareable_between_workers() {
        fn shareable<T: Send + Sync + Clone + 'static>() {}
        shareable::<Db>();
    }
}
