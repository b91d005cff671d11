//! usrloc's database modes (`db_mode` 1 to 4): [`DbStore`], a [`LocationStore`] that keeps the
//! memory table of [`MemoryStore`] (modes 1, 2, 4) or none (mode 3) and writes the `location`
//! table with Kamailio's columns and values, so that Kamailio and ferrosip can share a database.
//!
//! - 1, write-through: every change is written while the AoR's shard lock is held (two updates of
//!   one AoR reach the database in the order they were made, as Kamailio writes under its slot
//!   lock); the timer retries failed writes and deletes expired contacts.
//! - 2, write-back: changes are queued per record id (insert, update, delete, coalesced as
//!   Kamailio's contact states NEW/DIRTY/SYNC) and written by the timer, by `ul.flush` and at
//!   shutdown.
//! - 3, DB-only: no memory table; every read loads the AoR's rows, every change is written at
//!   once, the timer deletes expired rows. Two servers on one database see each other's contacts.
//! - 4, read-only: the table is loaded at startup and never written.
//!
//! Loading (modes 1, 2 with `db_load`, and 4) happens in `child_init`, after the server forked,
//! for every table registered by then (registrar registers its tables at load).
//!
//! Registrar's `LocationStore::update` has no error channel: a failed write is logged, the change
//! stays in memory (mode 1 retries it in the timer) and the error is kept for the calling thread
//! ([`take_error`], `UlApi::take_db_error`), so that registrar can answer 500 as Kamailio does.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use ferrosip_db::{Cond, Db, Op, Order, Rows, Value};

mod attrs;

use super::store::{core_hash, LocationStore, MemoryStore, Record, UContact};
use super::MatchingMode;
use crate::db::DbDrivers;

/// The `location` table version Kamailio 6.0 expects.
pub const TABLE_VERSION: i64 = 9;
/// Kamailio's default `db_url` (read-write account on a local MySQL).
pub const DEFAULT_DB_URL: &str = "mysql://kamailio:kamailiorw@localhost/kamailio";
/// usrloc flag: the contact lives in memory only, never in the database.
const FL_MEM: u32 = 1;
/// AoR locks of DB-only mode (a read-modify-write of one AoR is serialised in this process).
const AOR_LOCKS: usize = 64;

thread_local! {
    /// The last database error met by a store call on this thread (workers run one message at a
    /// time, so it belongs to the message being handled).
    static LAST_ERROR: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// The database error of the last failed write or read made by this thread through a
/// [`DbStore`], cleared by the call. Registrar calls it right after `update`/`get`.
pub fn take_error() -> Option<String> {
    LAST_ERROR.with(|e| e.borrow_mut().take())
}

fn note_error(e: &str) {
    LAST_ERROR.with(|x| *x.borrow_mut() = Some(e.to_string()));
}

/// `db_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DbMode {
    /// 0: memory only.
    #[default]
    NoDb,
    /// 1: every change written at once.
    WriteThrough,
    /// 2: changes written by the timer.
    WriteBack,
    /// 3: no memory table.
    DbOnly,
    /// 4: loaded at startup, never written.
    ReadOnly,
}

impl DbMode {
    /// The mode of a `db_mode` value.
    pub fn from_int(i: i64) -> Option<DbMode> {
        Some(match i {
            0 => DbMode::NoDb,
            1 => DbMode::WriteThrough,
            2 => DbMode::WriteBack,
            3 => DbMode::DbOnly,
            4 => DbMode::ReadOnly,
            _ => return None,
        })
    }

    /// Whether contacts are written to the database.
    pub fn writes(self) -> bool {
        matches!(
            self,
            DbMode::WriteThrough | DbMode::WriteBack | DbMode::DbOnly
        )
    }
}

/// Column names (the `*_column` modparams; `last_modified` has no parameter in Kamailio).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    pub ruid: String,
    pub user: String,
    pub domain: String,
    pub contact: String,
    pub expires: String,
    pub q: String,
    pub callid: String,
    pub cseq: String,
    pub flags: String,
    pub cflags: String,
    pub user_agent: String,
    pub received: String,
    pub path: String,
    pub socket: String,
    pub methods: String,
    pub instance: String,
    pub reg_id: String,
    pub server_id: String,
    pub connection_id: String,
    pub keepalive: String,
    pub partition: String,
    pub last_modified: String,
}

impl Default for Columns {
    fn default() -> Columns {
        let s = |x: &str| x.to_string();
        Columns {
            ruid: s("ruid"),
            user: s("username"),
            domain: s("domain"),
            contact: s("contact"),
            expires: s("expires"),
            q: s("q"),
            callid: s("callid"),
            cseq: s("cseq"),
            flags: s("flags"),
            cflags: s("cflags"),
            user_agent: s("user_agent"),
            received: s("received"),
            path: s("path"),
            socket: s("socket"),
            methods: s("methods"),
            instance: s("instance"),
            reg_id: s("reg_id"),
            server_id: s("server_id"),
            connection_id: s("connection_id"),
            keepalive: s("keepalive"),
            partition: s("partition"),
            last_modified: s("last_modified"),
        }
    }
}

impl Columns {
    /// Sets the column of a `*_column` modparam; false when `param` is not one.
    pub fn set(&mut self, param: &str, name: &str) -> bool {
        let slot = match param {
            "ruid_column" => &mut self.ruid,
            "user_column" => &mut self.user,
            "domain_column" => &mut self.domain,
            "contact_column" => &mut self.contact,
            "expires_column" => &mut self.expires,
            "q_column" => &mut self.q,
            "callid_column" => &mut self.callid,
            "cseq_column" => &mut self.cseq,
            "flags_column" => &mut self.flags,
            "cflags_column" => &mut self.cflags,
            "user_agent_column" => &mut self.user_agent,
            "received_column" => &mut self.received,
            "path_column" => &mut self.path,
            "socket_column" => &mut self.socket,
            "methods_column" => &mut self.methods,
            "instance_column" => &mut self.instance,
            "reg_id_column" => &mut self.reg_id,
            "server_id_column" => &mut self.server_id,
            "connection_id_column" => &mut self.connection_id,
            "keepalive_column" => &mut self.keepalive,
            "partition_column" => &mut self.partition,
            _ => return false,
        };
        *slot = name.to_string();
        true
    }
}

/// The database modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbConfig {
    pub mode: DbMode,
    pub url: String,
    pub cols: Columns,
    /// `db_load`: load the table at startup (modes 1 and 2; mode 4 always loads).
    pub load: bool,
    /// `db_insert_update`: an insert that meets the same ruid replaces the row.
    pub insert_update: bool,
    /// `db_check_update`: an update that matched no row becomes an insert.
    pub check_update: bool,
    /// `db_update_as_insert`: updates are written as inserts.
    pub update_as_insert: bool,
    /// `db_timer_clean`: modes 1 and 2 also delete expired rows in the timer.
    pub timer_clean: bool,
    /// `db_ops_ruid`: updates and deletes find the row by ruid (else by AoR, contact, Call-ID).
    pub ops_ruid: bool,
    /// `version_table`: check the table version at startup.
    pub version_check: bool,
    /// `rm_expired_delay`: seconds an expired row is kept (DB-only timer).
    pub rm_expired_delay: i64,
    /// `expires_type` 1: expires and last_modified are BIGINT seconds, not DATETIME.
    pub expires_bigint: bool,
    /// `db_insert_null`: inserts name every column, nulls included.
    pub insert_null: bool,
    /// `db_clean_tcp`: rows of TCP/TLS/WS contacts are deleted at load.
    pub clean_tcp: bool,
    /// `skip_remote_socket`: rows whose socket is not one of ours are not loaded.
    pub skip_remote_socket: bool,
    /// `server_id_filter`: only rows of this server (`server_id` = the core's, 0 in ferrosip)
    /// are loaded at startup and deleted by the timer's expiry cleaning.
    pub server_id_filter: bool,
}

impl Default for DbConfig {
    fn default() -> DbConfig {
        DbConfig {
            mode: DbMode::NoDb,
            url: DEFAULT_DB_URL.to_string(),
            cols: Columns::default(),
            load: true,
            insert_update: false,
            check_update: false,
            update_as_insert: false,
            timer_clean: false,
            ops_ruid: true,
            version_check: true,
            rm_expired_delay: 0,
            expires_bigint: false,
            insert_null: false,
            clean_tcp: false,
            skip_remote_socket: false,
            server_id_filter: false,
        }
    }
}

/// A queued write of write-back mode, keyed by (table, ruid).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    /// Not in the database yet (Kamailio's CS_NEW).
    Insert,
    /// In the database, changed since (CS_DIRTY).
    Update,
    /// In the database, gone from memory.
    Delete,
}

/// One queued write: what to do, and the contact as last seen (its AoR too).
type Queued = (Pending, String, UContact);

/// The store of db_mode 1 to 4.
pub struct DbStore {
    cfg: DbConfig,
    use_domain: bool,
    desc_time_order: bool,
    mem: MemoryStore,
    drivers: OnceLock<Arc<DbDrivers>>,
    db: OnceLock<Db>,
    /// Socket strings (`udp:127.0.0.1:5060`) by index, to give loaded contacts their socket.
    sockets: OnceLock<Vec<String>>,
    /// Write-back queue (and failed writes of write-through mode).
    pending: Mutex<HashMap<(String, String), Queued>>,
    aor_locks: Vec<Mutex<()>>,
    /// usrloc's `matching_mode`: which columns find a row when `db_ops_ruid` is 0.
    matching: MatchingMode,
    /// `xavp_contact` is set: contact attributes go to `<table>_attrs` ([`attrs`]).
    attrs: bool,
    /// `nat_bflag` as a mask (0 = unset): a contact with it has `keepalive` 1 in its row.
    nat_mask: u32,
}

impl std::fmt::Debug for DbStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbStore({:?}, {:?})", self.cfg.mode, self.mem)
    }
}

impl DbStore {
    /// A store for `cfg` (mode 1 to 4); nothing is connected until [`DbStore::open`].
    pub fn new(cfg: DbConfig, hash_size: u32, use_domain: bool, desc_time_order: bool) -> DbStore {
        DbStore {
            cfg,
            use_domain,
            desc_time_order,
            mem: MemoryStore::new(hash_size),
            drivers: OnceLock::new(),
            db: OnceLock::new(),
            sockets: OnceLock::new(),
            pending: Mutex::new(HashMap::new()),
            aor_locks: (0..AOR_LOCKS).map(|_| Mutex::new(())).collect(),
            matching: MatchingMode::default(),
            attrs: false,
            nat_mask: 0,
        }
    }

    /// usrloc's `nat_bflag` (-1 = unset): the `keepalive` column of a contact with that branch
    /// flag is 1 (Kamailio's `new_ucontact`), which DB-only keepalives with `ka_mode` bit 2 select.
    pub fn with_nat_bflag(mut self, nat_bflag: i32) -> DbStore {
        self.nat_mask = u32::try_from(nat_bflag)
            .ok()
            .and_then(|b| 1u32.checked_shl(b))
            .unwrap_or(0);
        self
    }

    /// `server_id = 0` (this server's rows) with `server_id_filter`, else nothing.
    fn server_filter(&self) -> Vec<Cond<'_>> {
        if self.cfg.server_id_filter {
            vec![Cond::new(&self.cfg.cols.server_id, Op::Eq, Value::Int(0))]
        } else {
            Vec::new()
        }
    }

    /// The `keepalive` column of `c`.
    fn keepalive(&self, c: &UContact) -> i32 {
        i32::from(c.cflags & self.nat_mask != 0)
    }

    /// Keeps contact attributes in `<table>_attrs` (usrloc's `xavp_contact` is set).
    pub fn with_attrs(mut self, on: bool) -> DbStore {
        self.attrs = on;
        self
    }

    /// Sets usrloc's `matching_mode` (the row keys of `db_ops_ruid=0`).
    pub fn with_matching(mut self, m: MatchingMode) -> DbStore {
        self.matching = m;
        self
    }

    /// The settings.
    pub fn config(&self) -> &DbConfig {
        &self.cfg
    }

    /// Remembers the server's database access (init).
    pub fn set_drivers(&self, d: Arc<DbDrivers>) {
        let _ = self.drivers.set(d);
    }

    /// child_init: binds the driver, opens the pool, checks the version of every registered
    /// table and loads them (modes 1 and 2 with `db_load`, mode 4). `sockets` are the server's
    /// socket strings by index. Returns the number of contacts loaded.
    pub fn open(&self, sockets: Vec<String>) -> Result<usize, String> {
        let _ = self.sockets.set(sockets);
        let drivers = self
            .drivers
            .get()
            .ok_or_else(|| "usrloc: database access not initialised".to_string())?;
        drivers
            .bind("usrloc", &self.cfg.url)
            .map_err(|e| e.to_string())?;
        let db = self.db()?;
        let mut loaded = 0;
        for table in self.mem.domains() {
            if self.cfg.version_check {
                db.check_table_version(&table, TABLE_VERSION).map_err(|e| {
                    format!(
                        "usrloc: error during version check for db table: {table}, \
                         check database structure: {e}"
                    )
                })?;
            }
            let load = match self.cfg.mode {
                DbMode::ReadOnly => true,
                DbMode::WriteThrough | DbMode::WriteBack => self.cfg.load,
                _ => false,
            };
            if load {
                loaded += self.preload(&db, &table)?;
            }
        }
        Ok(loaded)
    }

    /// Writes every queued change (write-back; write-through retries); returns how many writes
    /// were done. Failed writes stay queued.
    pub fn flush(&self) -> Result<usize, String> {
        let work: Vec<((String, String), Queued)> = lock(&self.pending).drain().collect();
        if work.is_empty() {
            return Ok(0);
        }
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => {
                self.requeue(work);
                return Err(e);
            }
        };
        let mut done = 0;
        let mut failed = Vec::new();
        let mut first_err = None;
        for (key, (op, aor, c)) in work {
            let r = match op {
                Pending::Insert => self.insert_row(&db, &key.0, &aor, &c),
                Pending::Update => self.update_row(&db, &key.0, &aor, &c),
                Pending::Delete => self.delete_row(&db, &key.0, &aor, &c),
            };
            match r {
                Ok(()) => done += 1,
                Err(e) => {
                    first_err.get_or_insert(e);
                    failed.push((key, (op, aor, c)));
                }
            }
        }
        self.requeue(failed);
        match first_err {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// (AoRs with a valid contact, valid contacts, expired contacts) in `table` at `now`, read
    /// from the database (`ul.db_users`, `ul.db_contacts`, `ul.db_expired_contacts`).
    pub fn db_counts(&self, table: &str, now: i64) -> Result<(usize, usize, usize), String> {
        let db = self.db()?;
        let c = &self.cfg.cols;
        let rows = db
            .query(
                table,
                &[],
                &[c.user.as_str(), c.domain.as_str(), c.expires.as_str()],
                None,
            )
            .map_err(|e| e.to_string())?;
        let mut users = std::collections::HashSet::new();
        let (mut valid, mut expired) = (0, 0);
        for r in &rows.rows {
            let exp = r.get(2).and_then(time_of).unwrap_or(0);
            if exp == 0 || exp > now {
                valid += 1;
                let part = |i: usize| r.get(i).map(|v| v.to_string()).unwrap_or_default();
                users.insert((part(0), part(1)));
            } else {
                expired += 1;
            }
        }
        Ok((users.len(), valid, expired))
    }

    // ---- internals ----

    fn db(&self) -> Result<Db, String> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let drivers = self
            .drivers
            .get()
            .ok_or_else(|| "usrloc: database access not initialised".to_string())?;
        let db = drivers
            .open(&self.cfg.url)
            .map_err(|e| format!("usrloc: {e}"))?;
        Ok(self.db.get_or_init(|| db).clone())
    }

    /// Puts back writes that failed; a change queued meanwhile is newer and is merged after it
    /// (a failed insert followed by an update stays an insert).
    fn requeue(&self, items: Vec<((String, String), Queued)>) {
        let mut p = lock(&self.pending);
        for (k, failed) in items {
            match p.remove(&k) {
                None => {
                    p.insert(k, failed);
                }
                Some((newer, aor, c)) => {
                    if let Some(op) = merge(Some(failed.0), newer) {
                        p.insert(k, (op, aor, c));
                    }
                }
            }
        }
    }

    /// Queues a change for the timer (write-back), coalesced with what is queued.
    fn queue(&self, table: &str, aor: &str, op: Pending, c: &UContact) {
        let key = (table.to_string(), c.ruid.clone());
        let mut p = lock(&self.pending);
        match merge(p.get(&key).map(|q| q.0), op) {
            Some(op) => {
                p.insert(key, (op, aor.to_string(), c.clone()));
            }
            None => {
                p.remove(&key);
            }
        }
    }

    /// Applies the difference between `old` and `new` (one AoR's contacts) to the database now
    /// (modes 1 and 3) or to the queue (mode 2).
    fn write_changes(&self, table: &str, aor: &str, old: &[UContact], new: &[UContact]) {
        let changes = diff(old, new);
        if changes.is_empty() {
            return;
        }
        if self.cfg.mode == DbMode::WriteBack {
            for (op, c) in changes {
                self.queue(table, aor, op, c);
            }
            return;
        }
        let db = match self.db() {
            Ok(db) => db,
            Err(e) => {
                tracing::error!("usrloc: {e}");
                note_error(&e);
                return;
            }
        };
        for (op, c) in changes {
            let r = match op {
                Pending::Insert => self.insert_row(&db, table, aor, c),
                Pending::Update => self.update_row(&db, table, aor, c),
                Pending::Delete => self.delete_row(&db, table, aor, c),
            };
            if let Err(e) = r {
                tracing::error!("usrloc: writing contact of {aor} to {table} failed: {e}");
                note_error(&e);
                if self.cfg.mode == DbMode::WriteThrough {
                    // Kamailio's write-through timer runs the write-back flush for failures.
                    self.queue(table, aor, op, c);
                }
            }
        }
    }

    /// The (username, domain) columns of an AoR: the whole AoR and no domain column without
    /// `use_domain`; with it the parts around the first `@` (no `@`: empty user, AoR as domain).
    fn user_domain<'a>(&self, aor: &'a str) -> (&'a str, Option<&'a str>) {
        if !self.use_domain {
            return (aor, None);
        }
        match aor.split_once('@') {
            Some((u, d)) => (u, Some(d)),
            None => ("", Some(aor)),
        }
    }

    fn time(&self, t: i64) -> Value {
        if self.cfg.expires_bigint {
            Value::BigInt(t)
        } else {
            Value::DateTime(t)
        }
    }

    /// Kamailio's `db_insert_ucontact`: the columns in its order, optional ones only when set
    /// (or as nulls with `db_insert_null`).
    fn insert_row(&self, db: &Db, table: &str, aor: &str, c: &UContact) -> Result<(), String> {
        if c.flags & FL_MEM != 0 {
            return Ok(());
        }
        let k = &self.cfg.cols;
        let (user, domain) = self.user_domain(aor);
        let mut row: Vec<(&str, Value)> = Vec::with_capacity(22);
        if self.cfg.insert_update {
            // replace() needs the unique key (ruid) first.
            row.push((&k.ruid, c.ruid.as_str().into()));
        }
        row.extend([
            (k.user.as_str(), Value::from(user)),
            (&k.contact, c.uri.as_str().into()),
            (&k.expires, self.time(c.expires)),
            (&k.q, Value::Double(q_to_double(c.q))),
            (&k.callid, c.callid.as_str().into()),
            (&k.cseq, Value::Int(bits(c.cseq))),
            (&k.flags, Value::Int(bits(c.flags))),
            (&k.cflags, Value::Int(bits(c.cflags))),
            (&k.user_agent, c.user_agent.as_str().into()),
        ]);
        let null = self.cfg.insert_null;
        let mut opt = |col: &'static str, v: Option<Value>| {
            let name = self.col(col);
            match v {
                Some(v) => row.push((name, v)),
                None if null => row.push((name, Value::Null)),
                None => {}
            }
        };
        opt("received", nonempty(&c.received));
        opt("path", nonempty(&c.path));
        opt("socket", nonempty(&c.socket));
        opt(
            "methods",
            (c.methods != u32::MAX).then(|| Value::Int(bits(c.methods))),
        );
        row.push((&k.last_modified, self.time(c.last_modified)));
        if !self.cfg.insert_update {
            row.push((&k.ruid, c.ruid.as_str().into()));
        }
        let null = self.cfg.insert_null;
        match nonempty(&c.instance) {
            Some(v) => row.push((&k.instance, v)),
            None if null => row.push((&k.instance, Value::Null)),
            None => {}
        }
        row.extend([
            (k.reg_id.as_str(), Value::Int(bits(c.reg_id))),
            (&k.server_id, Value::Int(c.server_id)),
            (&k.connection_id, Value::Int(conn_id(c.tcpconn_id))),
            (&k.keepalive, Value::Int(self.keepalive(c))),
            (&k.partition, Value::Int(0)),
        ]);
        if let Some(d) = domain {
            row.push((&k.domain, d.into()));
        }
        let r = if self.cfg.insert_update {
            db.replace(table, &row, 1)
        } else {
            db.insert(table, &row).map(drop)
        };
        r.map_err(|e| e.to_string())?;
        // Kamailio logs a failed attribute write and keeps the contact row.
        if let Err(e) = self.insert_attrs(db, table, aor, c) {
            tracing::error!("usrloc: writing the attributes of {aor}: {e}");
        }
        Ok(())
    }

    /// A column name by its key in [`DbStore::insert_row`]'s optional list.
    fn col(&self, key: &str) -> &str {
        let k = &self.cfg.cols;
        match key {
            "received" => &k.received,
            "path" => &k.path,
            "socket" => &k.socket,
            _ => &k.methods,
        }
    }

    /// The row of `c` as Kamailio's update or delete finds it: by ruid, or (`db_ops_ruid=0`) by
    /// AoR and contact plus the Call-ID (`matching_mode` 1) or the path (2; NULL when none), and
    /// for an update of a contact with an instance by AoR, instance and reg-id. Kamailio has no
    /// such key for `matching_mode` 3: the write fails.
    fn where_of<'a>(
        &'a self,
        aor: &'a str,
        c: &'a UContact,
        for_update: bool,
    ) -> Result<Vec<Cond<'a>>, String> {
        let k = &self.cfg.cols;
        if self.cfg.ops_ruid {
            return Ok(vec![Cond::eq(&k.ruid, c.ruid.as_str())]);
        }
        let (user, domain) = self.user_domain(aor);
        let mut w = vec![Cond::eq(&k.user, user)];
        if for_update && !c.instance.is_empty() {
            w.push(Cond::eq(&k.instance, c.instance.as_str()));
            w.push(Cond::eq(&k.reg_id, Value::Int(bits(c.reg_id))));
        } else {
            w.push(Cond::eq(&k.contact, c.uri.as_str()));
            match self.matching {
                MatchingMode::ContactOnly => {}
                MatchingMode::ContactCallid => w.push(Cond::eq(&k.callid, c.callid.as_str())),
                MatchingMode::ContactPath => {
                    w.push(Cond::eq(&k.path, nonempty(&c.path).unwrap_or(Value::Null)))
                }
                MatchingMode::CallidOnly => {
                    return Err(
                        "db_ops_ruid=0 has no row key for matching_mode 3 (as in Kamailio)".into(),
                    )
                }
            }
        }
        if let Some(d) = domain {
            w.push(Cond::eq(&k.domain, d));
        }
        Ok(w)
    }

    /// Kamailio's `db_update_ucontact_ruid`: every changeable column, nulls included.
    fn update_row(&self, db: &Db, table: &str, aor: &str, c: &UContact) -> Result<(), String> {
        if c.flags & FL_MEM != 0 {
            return Ok(());
        }
        if self.cfg.update_as_insert {
            return self.insert_row(db, table, aor, c);
        }
        let k = &self.cfg.cols;
        let opt = |s: &str| nonempty(s).unwrap_or(Value::Null);
        let set: Vec<(&str, Value)> = vec![
            (&k.expires, self.time(c.expires)),
            (&k.q, Value::Double(q_to_double(c.q))),
            (&k.cseq, Value::Int(bits(c.cseq))),
            (&k.flags, Value::Int(bits(c.flags))),
            (&k.cflags, Value::Int(bits(c.cflags))),
            (&k.user_agent, c.user_agent.as_str().into()),
            (&k.received, opt(&c.received)),
            (&k.path, opt(&c.path)),
            (&k.socket, opt(&c.socket)),
            (
                &k.methods,
                if c.methods == u32::MAX {
                    Value::Null
                } else {
                    Value::Int(bits(c.methods))
                },
            ),
            (&k.last_modified, self.time(c.last_modified)),
            (&k.callid, c.callid.as_str().into()),
            (&k.instance, opt(&c.instance)),
            (&k.reg_id, Value::Int(bits(c.reg_id))),
            (&k.server_id, Value::Int(c.server_id)),
            (&k.connection_id, Value::Int(conn_id(c.tcpconn_id))),
            (&k.keepalive, Value::Int(self.keepalive(c))),
            (&k.contact, c.uri.as_str().into()),
        ];
        let n = db
            .update(table, &self.where_of(aor, c, true)?, &set)
            .map_err(|e| e.to_string())?;
        if n == 0 && self.cfg.check_update {
            return self.insert_row(db, table, aor, c);
        }
        let attrs = self
            .delete_attrs(db, table, aor, &c.ruid)
            .and_then(|()| self.insert_attrs(db, table, aor, c));
        if let Err(e) = attrs {
            tracing::error!("usrloc: writing the attributes of {aor}: {e}");
        }
        Ok(())
    }

    fn delete_row(&self, db: &Db, table: &str, aor: &str, c: &UContact) -> Result<(), String> {
        if c.flags & FL_MEM != 0 {
            return Ok(());
        }
        db.delete(table, &self.where_of(aor, c, false)?)
            .map_err(|e| e.to_string())?;
        if let Err(e) = self.delete_attrs(db, table, aor, &c.ruid) {
            tracing::error!("usrloc: deleting the attributes of {aor}: {e}");
        }
        Ok(())
    }

    /// Kamailio's `preload_udomain`: every row of `table` into memory.
    fn preload(&self, db: &Db, table: &str) -> Result<usize, String> {
        let k = &self.cfg.cols;
        if self.cfg.clean_tcp {
            // Kamailio's uldb_delete_tcp_records: rows with a TCP connection id.
            db.delete(table, &[Cond::new(&k.connection_id, Op::Gt, Value::Int(0))])
                .map_err(|e| format!("usrloc: cleaning TCP contacts of {table}: {e}"))?;
        }
        let w = self.server_filter();
        let rows = db
            .query(table, &w, &self.columns(), None)
            .map_err(|e| format!("usrloc: loading {table}: {e}"))?;
        let mut n = 0;
        for i in 0..rows.len() {
            let Some((aor, c)) = self.row_contact(&rows, i, false) else {
                continue;
            };
            let desc = self.desc_time_order;
            self.mem.update(table, &aor, &mut |list| {
                super::rpc::insert_ordered(list, c.clone(), desc)
            });
            n += 1;
        }
        tracing::info!("usrloc: {n} contacts loaded from table {table}");
        self.preload_attrs(db, table)?;
        Ok(n)
    }

    fn columns(&self) -> Vec<&str> {
        let k = &self.cfg.cols;
        let mut v = vec![
            k.user.as_str(),
            &k.contact,
            &k.expires,
            &k.q,
            &k.callid,
            &k.cseq,
            &k.flags,
            &k.cflags,
            &k.user_agent,
            &k.received,
            &k.path,
            &k.socket,
            &k.methods,
            &k.last_modified,
            &k.ruid,
            &k.instance,
            &k.reg_id,
            &k.connection_id,
            &k.server_id,
        ];
        if self.use_domain {
            v.push(&k.domain);
        }
        v
    }

    /// Kamailio's `dbrow2info`: a row as (AoR, contact); `None` (logged) for a row it would skip.
    /// `conn` keeps the TCP connection id (DB-only reads; a load at startup has no connections).
    fn row_contact(&self, rows: &Rows, i: usize, conn: bool) -> Option<(String, UContact)> {
        let k = &self.cfg.cols;
        let get = |col: &str| rows.get(i, col).filter(|v| !v.is_null());
        let text = |col: &str| get(col).map(|v| v.to_string()).unwrap_or_default();
        let int = |col: &str| get(col).and_then(Value::as_i64);
        let user = text(&k.user);
        let aor = if self.use_domain {
            let d = text(&k.domain);
            if d.is_empty() {
                tracing::error!("usrloc: empty domain for user {user}, row skipped");
                return None;
            }
            format!("{user}@{d}")
        } else {
            user
        };
        let uri = text(&k.contact);
        let callid = text(&k.callid);
        let expires = get(&k.expires).and_then(time_of);
        let q = get(&k.q).and_then(Value::as_f64);
        let (cseq, flags, cflags) = (int(&k.cseq), int(&k.flags), int(&k.cflags));
        let (Some(expires), Some(q), Some(cseq), Some(flags), Some(cflags)) =
            (expires, q, cseq, flags, cflags)
        else {
            tracing::error!("usrloc: incomplete row for {aor} in a location table, skipped");
            return None;
        };
        if aor.is_empty() || uri.is_empty() || callid.is_empty() {
            tracing::error!("usrloc: row without user, contact or call-id skipped");
            return None;
        }
        let socket = text(&k.socket);
        let socket_id = self.socket_index(&socket);
        if !socket.is_empty() && socket_id.is_none() && self.cfg.skip_remote_socket {
            return None;
        }
        let c = UContact {
            uri,
            expires,
            q: double_to_q(q),
            callid,
            cseq: unbits(cseq),
            path: text(&k.path),
            received: text(&k.received),
            instance: text(&k.instance),
            reg_id: int(&k.reg_id).map(unbits).unwrap_or(0),
            ruid: text(&k.ruid),
            user_agent: text(&k.user_agent),
            socket,
            socket_id,
            flags: unbits(flags),
            cflags: unbits(cflags),
            methods: int(&k.methods).map(unbits).unwrap_or(u32::MAX),
            last_modified: get(&k.last_modified).and_then(time_of).unwrap_or(0),
            tcpconn_id: if conn {
                int(&k.connection_id).unwrap_or(-1)
            } else {
                -1
            },
            server_id: int(&k.server_id)
                .and_then(|v| i32::try_from(v).ok())
                .unwrap_or(0),
            // Read from `<table>_attrs` afterwards ([`attrs`]).
            xavp: None,
        };
        Some((aor, c))
    }

    fn socket_index(&self, s: &str) -> Option<u32> {
        let list = self.sockets.get()?;
        let i = list.iter().position(|x| x.eq_ignore_ascii_case(s))?;
        u32::try_from(i).ok()
    }

    /// DB-only: the AoR's contacts as Kamailio's `db_load_urecord` orders them (query by q or
    /// last_modified, each row inserted as in memory).
    fn load_aor(&self, table: &str, aor: &str) -> Result<Vec<UContact>, String> {
        let db = self.db()?;
        let k = &self.cfg.cols;
        let (user, domain) = self.user_domain(aor);
        let mut w = vec![Cond::eq(&k.user, user)];
        if let Some(d) = domain {
            w.push(Cond::eq(&k.domain, d));
        }
        let order = if self.desc_time_order {
            Order::asc(&k.last_modified)
        } else {
            Order::asc(&k.q)
        };
        let rows = db
            .query(table, &w, &self.columns(), Some(order))
            .map_err(|e| e.to_string())?;
        let mut list = Vec::new();
        for i in 0..rows.len() {
            if let Some((_, mut c)) = self.row_contact(&rows, i, true) {
                self.load_attrs(&db, table, &mut c);
                super::rpc::insert_ordered(&mut list, c, self.desc_time_order);
            }
        }
        Ok(list)
    }

    fn aor_lock(&self, aor: &str) -> Option<std::sync::MutexGuard<'_, ()>> {
        let i = (core_hash(aor.as_bytes()) as usize) % AOR_LOCKS;
        self.aor_locks.get(i).map(lock)
    }
}

impl LocationStore for DbStore {
    fn register_domain(&self, domain: &str) {
        self.mem.register_domain(domain);
    }

    fn has_domain(&self, domain: &str) -> bool {
        self.mem.has_domain(domain)
    }

    fn domains(&self) -> Vec<String> {
        self.mem.domains()
    }

    fn get(&self, domain: &str, aor: &str) -> Option<Record> {
        if self.cfg.mode != DbMode::DbOnly {
            return self.mem.get(domain, aor);
        }
        if !self.mem.has_domain(domain) {
            return None;
        }
        match self.load_aor(domain, aor) {
            Ok(contacts) if !contacts.is_empty() => Some(Record {
                aor: aor.to_string(),
                contacts,
            }),
            Ok(_) => None,
            Err(e) => {
                tracing::error!("usrloc: loading {aor} from {domain}: {e}");
                note_error(&e);
                None
            }
        }
    }

    fn update(&self, domain: &str, aor: &str, f: &mut dyn FnMut(&mut Vec<UContact>)) -> bool {
        match self.cfg.mode {
            DbMode::DbOnly => {
                if !self.mem.has_domain(domain) {
                    return false;
                }
                let _g = self.aor_lock(aor);
                let old = match self.load_aor(domain, aor) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("usrloc: loading {aor} from {domain}: {e}");
                        note_error(&e);
                        return true;
                    }
                };
                let mut new = old.clone();
                f(&mut new);
                self.write_changes(domain, aor, &old, &new);
                true
            }
            DbMode::WriteThrough | DbMode::WriteBack => {
                self.mem.update(domain, aor, &mut |list| {
                    let old = list.clone();
                    f(list);
                    // Under the AoR's shard lock: writes of one AoR keep their order.
                    self.write_changes(domain, aor, &old, list);
                })
            }
            DbMode::ReadOnly | DbMode::NoDb => self.mem.update(domain, aor, f),
        }
    }

    fn delete(&self, domain: &str, aor: &str) -> bool {
        match self.cfg.mode {
            DbMode::DbOnly => {
                let _g = self.aor_lock(aor);
                let db = match self.db() {
                    Ok(db) => db,
                    Err(e) => {
                        note_error(&e);
                        return false;
                    }
                };
                let k = &self.cfg.cols;
                let (user, d) = self.user_domain(aor);
                let mut w = vec![Cond::eq(&k.user, user)];
                if let Some(d) = d {
                    w.push(Cond::eq(&k.domain, d));
                }
                // As 6.0 (not 5.6.3): the AoR's attribute rows go with it.
                if let Err(e) = self.delete_aor_attrs(&db, domain, aor) {
                    tracing::error!("usrloc: deleting the attributes of {aor}: {e}");
                }
                match db.delete(domain, &w) {
                    Ok(n) => n > 0,
                    Err(e) => {
                        tracing::error!("usrloc: deleting {aor} from {domain}: {e}");
                        note_error(&e.to_string());
                        false
                    }
                }
            }
            DbMode::WriteThrough | DbMode::WriteBack => {
                let mut had = false;
                self.update(domain, aor, &mut |list| {
                    had = !list.is_empty();
                    list.clear();
                });
                had
            }
            DbMode::ReadOnly | DbMode::NoDb => self.mem.delete(domain, aor),
        }
    }

    fn dump(&self, domain: &str) -> Vec<Record> {
        if self.cfg.mode != DbMode::DbOnly {
            return self.mem.dump(domain);
        }
        // DB-only: the table's rows grouped by AoR (Kamailio's memory dump is empty here; the
        // registrar's temp-GRUU lookup needs the rows).
        let Ok(db) = self.db() else {
            return Vec::new();
        };
        let rows = match db.query(domain, &[], &self.columns(), None) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("usrloc: reading {domain}: {e}");
                return Vec::new();
            }
        };
        // Records in the order their first row came; an index keeps the grouping linear.
        let mut out: Vec<Record> = Vec::new();
        let mut at: HashMap<String, usize> = HashMap::new();
        for i in 0..rows.len() {
            let Some((aor, c)) = self.row_contact(&rows, i, true) else {
                continue;
            };
            match at.get(&aor).and_then(|&j| out.get_mut(j)) {
                Some(r) => super::rpc::insert_ordered(&mut r.contacts, c, self.desc_time_order),
                None => {
                    at.insert(aor.clone(), out.len());
                    out.push(Record {
                        aor,
                        contacts: vec![c],
                    });
                }
            }
        }
        out
    }

    fn counts(&self, domain: &str) -> (usize, usize, usize) {
        // DB-only keeps no memory table and, as Kamailio, exports no counts.
        self.mem.counts(domain)
    }

    fn expire(&self, now: i64) -> Vec<(String, usize)> {
        self.expire_inner(now, None)
    }

    fn expire_listed(
        &self,
        now: i64,
        listed: &mut Vec<(String, String, UContact)>,
    ) -> Vec<(String, usize)> {
        self.expire_inner(now, Some(listed))
    }

    fn memory(&self) -> Option<&MemoryStore> {
        (self.cfg.mode != DbMode::DbOnly).then_some(&self.mem)
    }
}

impl DbStore {
    /// The expiry sweep; with `listed`, every contact removed is listed (in DB-only mode the
    /// rows the cleaning deletes, read first).
    fn expire_inner(
        &self,
        now: i64,
        mut listed: Option<&mut Vec<(String, String, UContact)>>,
    ) -> Vec<(String, usize)> {
        let mode = self.cfg.mode;
        let mut gone: Vec<(String, String, UContact)> = Vec::new();
        let want = mode.writes() || listed.is_some();
        let out = self.mem.expire_with(now, &mut |t, aor, c| {
            if want {
                gone.push((t.to_string(), aor.to_string(), c.clone()));
            }
        });
        if matches!(mode, DbMode::WriteThrough | DbMode::WriteBack) {
            for (t, aor, c) in &gone {
                self.queue(t, aor, Pending::Delete, c);
            }
            if let Err(e) = self.flush() {
                tracing::error!("usrloc: flushing to the database: {e}");
            }
        }
        if let Some(l) = listed.as_deref_mut() {
            l.extend(gone);
        }
        let clean = mode == DbMode::DbOnly
            || (self.cfg.timer_clean && matches!(mode, DbMode::WriteThrough | DbMode::WriteBack));
        if clean {
            let rows = listed.filter(|_| mode == DbMode::DbOnly);
            if let Err(e) = self.delete_expired(now, rows) {
                tracing::error!("usrloc: deleting expired contacts: {e}");
            }
        }
        out
    }

    /// DB-only keepalives (Kamailio's `ul_ka_db_records`): every table's rows with
    /// `expires > now` and `partition = 0`, with `keepalive = 1` when `nat_only` (`ka_mode` bit
    /// 2) and `server_id = <id>` when `server_id` is given (`ka_filter` 1); each as (table, AoR,
    /// contact).
    pub fn ka_rows(
        &self,
        now: i64,
        nat_only: bool,
        server_id: Option<i32>,
    ) -> Vec<(String, String, UContact)> {
        let db = match self.db() {
            Ok(d) => d,
            Err(e) => {
                tracing::error!("usrloc: keepalive query: {e}");
                return Vec::new();
            }
        };
        let k = &self.cfg.cols;
        let mut w = vec![
            Cond::new(&k.expires, Op::Gt, self.time(now)),
            Cond::new(&k.partition, Op::Eq, Value::Int(0)),
        ];
        if nat_only {
            w.push(Cond::new(&k.keepalive, Op::Eq, Value::Int(1)));
        }
        if let Some(id) = server_id {
            w.push(Cond::new(&k.server_id, Op::Eq, Value::Int(id)));
        }
        let mut out = Vec::new();
        for table in self.mem.domains() {
            let rows = match db.query(&table, &w, &self.columns(), None) {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!("usrloc: keepalive query on {table}: {e}");
                    continue;
                }
            };
            for i in 0..rows.len() {
                if let Some((aor, c)) = self.row_contact(&rows, i, true) {
                    out.push((table.clone(), aor, c));
                }
            }
        }
        out
    }

    /// Kamailio's `db_timer_udomain`: rows with `expires < now + 1 - rm_expired_delay` and not
    /// permanent.
    fn delete_expired(
        &self,
        now: i64,
        mut listed: Option<&mut Vec<(String, String, UContact)>>,
    ) -> Result<(), String> {
        let db = self.db()?;
        let k = &self.cfg.cols;
        for table in self.mem.domains() {
            let mut w = vec![
                Cond::new(
                    &k.expires,
                    Op::Lt,
                    self.time(now + 1 - self.cfg.rm_expired_delay),
                ),
                Cond::new(&k.expires, Op::Ne, self.time(0)),
            ];
            w.extend(self.server_filter());
            if let Some(l) = listed.as_deref_mut() {
                // the rows about to go, for the contact-expired event
                let rows = db
                    .query(&table, &w, &self.columns(), None)
                    .map_err(|e| e.to_string())?;
                for i in 0..rows.len() {
                    if let Some((aor, c)) = self.row_contact(&rows, i, true) {
                        l.push((table.clone(), aor, c));
                    }
                }
            }
            if self.attrs && self.cfg.mode == DbMode::DbOnly {
                // 6.0's expiry callback (not 5.6.3's): the attributes of each expired contact.
                let rows = db
                    .query(&table, &w, &[k.ruid.as_str()], None)
                    .map_err(|e| e.to_string())?;
                for i in 0..rows.len() {
                    let ruid = rows
                        .get(i, &k.ruid)
                        .map(|v| v.to_string())
                        .unwrap_or_default();
                    if !ruid.is_empty() {
                        if let Err(e) = self.delete_attrs(&db, &table, "", &ruid) {
                            tracing::error!("usrloc: deleting attributes of {ruid}: {e}");
                        }
                    }
                }
            }
            db.delete(&table, &w).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// What is left to write after `queued` (if any) and then `next`, as Kamailio's contact states
/// would have it: a row never written stays an insert or is forgotten when deleted; a row deleted
/// and then inserted again (same ruid) is updated.
fn merge(queued: Option<Pending>, next: Pending) -> Option<Pending> {
    match (queued, next) {
        (None, op) => Some(op),
        (Some(Pending::Insert), Pending::Delete) => None,
        (Some(Pending::Insert), _) => Some(Pending::Insert),
        (Some(Pending::Delete), Pending::Insert) => Some(Pending::Update),
        (Some(_), op) => Some(op),
    }
}

/// Changes from `old` to `new`, matched by ruid: inserts, updates (any field differs), deletes.
fn diff<'a>(old: &'a [UContact], new: &'a [UContact]) -> Vec<(Pending, &'a UContact)> {
    let mut v = Vec::new();
    for n in new {
        match old.iter().find(|o| o.ruid == n.ruid) {
            None => v.push((Pending::Insert, n)),
            Some(o) if o != n => v.push((Pending::Update, n)),
            Some(_) => {}
        }
    }
    for o in old {
        if !new.iter().any(|n| n.ruid == o.ruid) {
            v.push((Pending::Delete, o));
        }
    }
    v
}

/// Kamailio's `q2double`: q × 1000 to a double, unspecified (-1) stays -1.
fn q_to_double(q: i32) -> f64 {
    if q == -1 {
        -1.0
    } else {
        f64::from(q) / 1000.0
    }
}

/// Kamailio's `double2q`.
fn double_to_q(q: f64) -> i32 {
    if q == -1.0 {
        return -1;
    }
    let v = (q * 1000.0).round();
    if v.is_finite() && v >= f64::from(i32::MIN) && v <= f64::from(i32::MAX) {
        v as i32
    } else {
        -1
    }
}

/// A flags word as the INT column stores it (bit pattern kept, as Kamailio's bitmap values).
fn bits(v: u32) -> i32 {
    i32::from_ne_bytes(v.to_ne_bytes())
}

/// An INT column back to a flags word (bit pattern kept; wider values are cut to 32 bits).
fn unbits(v: i64) -> u32 {
    let [b0, b1, b2, b3, ..] = v.to_le_bytes();
    u32::from_le_bytes([b0, b1, b2, b3])
}

fn conn_id(id: i64) -> i32 {
    i32::try_from(id).unwrap_or(-1)
}

fn nonempty(s: &str) -> Option<Value> {
    (!s.is_empty()).then(|| Value::from(s))
}

/// A DATETIME or BIGINT time column in seconds.
fn time_of(v: &Value) -> Option<i64> {
    v.as_datetime().or_else(|| v.as_i64())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(ruid: &str, cseq: u32) -> UContact {
        UContact {
            ruid: ruid.into(),
            uri: format!("sip:{ruid}@h"),
            cseq,
            ..UContact::default()
        }
    }

    #[test]
    fn diff_by_ruid() {
        let old = [c("a", 1), c("b", 1), c("c", 1)];
        let new = [c("a", 1), c("b", 2), c("d", 1)];
        let got: Vec<(Pending, &str)> = diff(&old, &new)
            .into_iter()
            .map(|(p, c)| (p, c.ruid.as_str()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Pending::Update, "b"),
                (Pending::Insert, "d"),
                (Pending::Delete, "c")
            ]
        );
    }

    #[test]
    fn queue_coalesces_like_contact_states() {
        // (ops in order, what is queued afterwards)
        let cases: &[(&[Pending], Option<Pending>)] = &[
            (&[Pending::Insert], Some(Pending::Insert)),
            (&[Pending::Insert, Pending::Update], Some(Pending::Insert)),
            (&[Pending::Insert, Pending::Delete], None),
            (&[Pending::Update, Pending::Delete], Some(Pending::Delete)),
            (&[Pending::Delete, Pending::Insert], Some(Pending::Update)),
            (&[Pending::Update, Pending::Update], Some(Pending::Update)),
        ];
        for (ops, want) in cases {
            let s = DbStore::new(
                DbConfig {
                    mode: DbMode::WriteBack,
                    ..DbConfig::default()
                },
                2,
                false,
                false,
            );
            for op in *ops {
                s.queue("location", "alice", *op, &c("r1", 1));
            }
            let got = lock(&s.pending)
                .get(&("location".to_string(), "r1".to_string()))
                .map(|q| q.0);
            assert_eq!(got, *want, "{ops:?}");
        }
    }

    #[test]
    fn failed_writes_merge_with_newer_changes() {
        // (failed write, change queued meanwhile, what is queued afterwards)
        let cases = [
            (
                Pending::Insert,
                Some(Pending::Update),
                Some(Pending::Insert),
            ),
            (Pending::Insert, Some(Pending::Delete), None),
            (
                Pending::Update,
                Some(Pending::Delete),
                Some(Pending::Delete),
            ),
            (Pending::Update, None, Some(Pending::Update)),
            (
                Pending::Delete,
                Some(Pending::Insert),
                Some(Pending::Update),
            ),
        ];
        let key = ("location".to_string(), "r1".to_string());
        for (failed, newer, want) in cases {
            let s = DbStore::new(DbConfig::default(), 2, false, false);
            if let Some(op) = newer {
                s.queue("location", "alice", op, &c("r1", 2));
            }
            s.requeue(vec![(key.clone(), (failed, "alice".into(), c("r1", 1)))]);
            let got = lock(&s.pending).get(&key).map(|q| (q.0, q.2.cseq));
            let cseq = if newer.is_some() { 2 } else { 1 };
            assert_eq!(got, want.map(|w| (w, cseq)), "{failed:?} then {newer:?}");
        }
    }

    #[test]
    fn value_conversions() {
        let q = [(-1, -1.0), (1000, 1.0), (500, 0.5), (0, 0.0), (123, 0.123)];
        for (qi, qd) in q {
            assert_eq!(q_to_double(qi), qd);
            assert_eq!(double_to_q(qd), qi);
        }
        assert_eq!(double_to_q(f64::NAN), -1);
        for v in [0u32, 1, 0x8000_0000, u32::MAX] {
            assert_eq!(unbits(i64::from(bits(v))), v);
        }
        assert_eq!(DbMode::from_int(3), Some(DbMode::DbOnly));
        assert_eq!(DbMode::from_int(5), None);
        let mut cols = Columns::default();
        assert!(cols.set("ruid_column", "myruid"));
        assert!(!cols.set("last_mod_column", "x"));
        assert_eq!(cols.ruid, "myruid");
    }

    #[test]
    fn user_domain_split() {
        let s = DbStore::new(DbConfig::default(), 2, true, false);
        assert_eq!(s.user_domain("a@b.c"), ("a", Some("b.c")));
        assert_eq!(s.user_domain("b.c"), ("", Some("b.c")));
        let s = DbStore::new(DbConfig::default(), 2, false, false);
        assert_eq!(s.user_domain("a@b.c"), ("a@b.c", None));
    }
}
