//! PostgreSQL through the synchronous `postgres` crate (no TLS).
//!
//! Statements are prepared once per connection and cached; values are bound in binary form after
//! the server told us each parameter's type, so an `Int` can go into a SMALLINT column or a `Str`
//! holding digits into an INTEGER one, as Kamailio's text queries allow. TIMESTAMP (without time
//! zone) columns hold local wall-clock time, as Kamailio writes them.
//!
//! The `postgres` client drives its own small tokio runtime and panics when used (or dropped) on a
//! thread that is already running one — ferrosip's RPC and HTTP handlers are. There, every call and
//! the final drop move to a short-lived helper thread.

use std::collections::HashMap;
use std::error::Error as StdError;
use std::time::Duration;

use bytes::BytesMut;
use postgres::error::SqlState;
use postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use postgres::{Client, NoTls, Statement};

use super::Conn;
use crate::time::{from_local, parse_utc, to_local, Civil};
use crate::url::DbUrl;
use crate::{Error, Rows, Value};

type BoxErr = Box<dyn StdError + Sync + Send>;

/// Seconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00).
const PG_EPOCH: i64 = 946_684_800;
/// Prepared statements kept per connection before the cache is emptied (modules use a handful).
const STMT_CACHE: usize = 128;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

pub(crate) struct PgConn {
    /// Always `Some` until dropped (taken by `Drop` to close it off the caller's runtime).
    c: Option<Client>,
    stmts: HashMap<String, Statement>,
}

/// Runs `f` here, or on a helper thread when this thread is inside a tokio runtime.
fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    if tokio::runtime::Handle::try_current().is_err() {
        return f();
    }
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

impl Drop for PgConn {
    fn drop(&mut self) {
        if let Some(c) = self.c.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                // Closing blocks on the client's runtime: not here. Detached: nothing waits for it.
                std::thread::spawn(move || drop(c));
            }
        }
    }
}

impl PgConn {
    pub(crate) fn open(url: &DbUrl) -> Result<Self, Error> {
        let DbUrl::Server {
            user,
            password,
            host,
            port,
            database,
            ..
        } = url
        else {
            return Err(Error::Invalid("not a PostgreSQL URL".into()));
        };
        let mut cfg = postgres::Config::new();
        cfg.host(host)
            .port(port.unwrap_or(5432))
            .dbname(database)
            .connect_timeout(CONNECT_TIMEOUT)
            .application_name("ferrosip");
        if let Some(u) = user {
            cfg.user(u);
        }
        if let Some(p) = password {
            cfg.password(p);
        }
        let c = off_runtime(|| cfg.connect(NoTls)).map_err(|e| Error::Connect {
            url: url.to_string(),
            reason: describe(&e),
        })?;
        Ok(PgConn {
            c: Some(c),
            stmts: HashMap::new(),
        })
    }

    fn client(&mut self) -> Result<&mut Client, Error> {
        self.c
            .as_mut()
            .ok_or_else(|| Error::ConnectionLost("connection closed".into()))
    }

    fn prepare(&mut self, sql: &str) -> Result<Statement, Error> {
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client()?.prepare(sql).map_err(convert_err)?;
        if self.stmts.len() >= STMT_CACHE {
            self.stmts.clear();
        }
        self.stmts.insert(sql.to_string(), s.clone());
        Ok(s)
    }
}

fn convert_err(e: postgres::Error) -> Error {
    let lost = e.is_closed()
        || e.source().is_some_and(|s| s.is::<std::io::Error>())
        || e.code().is_some_and(|c| {
            // Class 08: connection exception; 57P01..03: the server is shutting down or starting.
            c.code().starts_with("08")
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
        });
    let msg = describe(&e);
    if lost {
        Error::ConnectionLost(msg)
    } else if e.code() == Some(&SqlState::UNIQUE_VIOLATION) {
        Error::Duplicate(msg)
    } else {
        Error::Query(msg)
    }
}

/// The server's SQLSTATE and message, or the client error with its cause ("db error" or "error
/// deserializing column 0" alone say nothing).
fn describe(e: &postgres::Error) -> String {
    match (e.as_db_error(), e.source()) {
        (Some(d), _) => format!("{}: {}", d.code().code(), d.message()),
        (None, Some(s)) => format!("{e}: {s}"),
        (None, None) => e.to_string(),
    }
}

fn is_text(ty: &Type) -> bool {
    [
        Type::TEXT,
        Type::VARCHAR,
        Type::BPCHAR,
        Type::NAME,
        Type::UNKNOWN,
    ]
    .contains(ty)
}

/// A value bound to a placeholder whose type the server chose.
#[derive(Debug)]
struct Param<'a>(&'a Value);

fn mismatch(v: &Value, ty: &Type) -> BoxErr {
    Box::new(Error::TypeMismatch {
        value: v.type_name(),
        column: ty.name().to_string(),
    })
}

fn int_to_sql(i: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxErr> {
    if *ty == Type::INT2 {
        i16::try_from(i)?.to_sql(ty, out)
    } else if *ty == Type::INT4 {
        i32::try_from(i)?.to_sql(ty, out)
    } else if *ty == Type::INT8 {
        i.to_sql(ty, out)
    } else if *ty == Type::OID {
        u32::try_from(i)?.to_sql(ty, out)
    } else if *ty == Type::FLOAT4 {
        (i as f32).to_sql(ty, out)
    } else if *ty == Type::FLOAT8 {
        (i as f64).to_sql(ty, out)
    } else if *ty == Type::BOOL {
        (i != 0).to_sql(ty, out)
    } else if is_text(ty) {
        i.to_string().as_str().to_sql(ty, out)
    } else {
        Err(mismatch(&Value::BigInt(i), ty))
    }
}

fn datetime_to_sql(t: i64, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxErr> {
    if *ty == Type::TIMESTAMP {
        let wall = to_local(t).as_utc();
        (wall - PG_EPOCH)
            .checked_mul(1_000_000)
            .ok_or("timestamp out of range")?
            .to_sql(&Type::INT8, out)
    } else if *ty == Type::TIMESTAMPTZ {
        (t - PG_EPOCH)
            .checked_mul(1_000_000)
            .ok_or("timestamp out of range")?
            .to_sql(&Type::INT8, out)
    } else if *ty == Type::DATE {
        let days = (to_local(t).as_utc() - PG_EPOCH).div_euclid(86_400);
        i32::try_from(days)?.to_sql(&Type::INT4, out)
    } else if *ty == Type::INT4 || *ty == Type::INT8 {
        int_to_sql(t, ty, out)
    } else if is_text(ty) {
        let c = to_local(t);
        let s = format!(
            "{:04}-{:02}-{:02} {:02}:{:02}:{:02}",
            c.year, c.month, c.day, c.hour, c.minute, c.second
        );
        s.as_str().to_sql(ty, out)
    } else {
        Err(mismatch(&Value::DateTime(t), ty))
    }
}

impl ToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxErr> {
        match self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => int_to_sql(i64::from(*i), ty, out),
            Value::BigInt(i) => int_to_sql(*i, ty, out),
            Value::Double(d) => {
                if *ty == Type::FLOAT8 {
                    d.to_sql(ty, out)
                } else if *ty == Type::FLOAT4 {
                    (*d as f32).to_sql(ty, out)
                } else if is_text(ty) {
                    d.to_string().as_str().to_sql(ty, out)
                } else {
                    Err(mismatch(self.0, ty))
                }
            }
            Value::Str(s) => {
                if is_text(ty) {
                    s.as_str().to_sql(ty, out)
                } else if *ty == Type::BYTEA {
                    s.as_bytes().to_sql(ty, out)
                } else if *ty == Type::FLOAT4 || *ty == Type::FLOAT8 {
                    let d: f64 = s.trim().parse()?;
                    Param(&Value::Double(d)).to_sql(ty, out)
                } else if *ty == Type::TIMESTAMP || *ty == Type::TIMESTAMPTZ || *ty == Type::DATE {
                    // A date/time string is local time, as in Kamailio's text queries.
                    let wall = parse_utc(s).ok_or("not a date/time")?;
                    datetime_to_sql(from_local(Civil::from_utc(wall)), ty, out)
                } else {
                    int_to_sql(s.trim().parse()?, ty, out)
                }
            }
            Value::Blob(b) => {
                if *ty == Type::BYTEA {
                    b.as_slice().to_sql(ty, out)
                } else if is_text(ty) {
                    std::str::from_utf8(b)?.to_sql(ty, out)
                } else {
                    Err(mismatch(self.0, ty))
                }
            }
            Value::DateTime(t) => datetime_to_sql(*t, ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Every conversion is decided in to_sql, per value and type.
        true
    }

    to_sql_checked!();
}

/// One result column converted to a [`Value`].
struct Out(Value);

impl<'a> FromSql<'a> for Out {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Out, BoxErr> {
        let v = if *ty == Type::INT2 {
            Value::Int(i32::from(i16::from_sql(ty, raw)?))
        } else if *ty == Type::INT4 {
            Value::Int(i32::from_sql(ty, raw)?)
        } else if *ty == Type::INT8 {
            Value::BigInt(i64::from_sql(ty, raw)?)
        } else if *ty == Type::OID {
            Value::BigInt(i64::from(u32::from_sql(ty, raw)?))
        } else if *ty == Type::FLOAT4 {
            Value::Double(crate::value::widen_f32(f32::from_sql(ty, raw)?))
        } else if *ty == Type::FLOAT8 {
            Value::Double(f64::from_sql(ty, raw)?)
        } else if *ty == Type::BOOL {
            Value::Int(i32::from(bool::from_sql(ty, raw)?))
        } else if is_text(ty) {
            Value::Str(<&str>::from_sql(ty, raw)?.to_string())
        } else if *ty == Type::BYTEA {
            Value::Blob(<&[u8]>::from_sql(ty, raw)?.to_vec())
        } else if *ty == Type::TIMESTAMP {
            let micros = i64::from_sql(&Type::INT8, raw)?;
            let wall = PG_EPOCH + micros.div_euclid(1_000_000);
            Value::DateTime(from_local(Civil::from_utc(wall)))
        } else if *ty == Type::TIMESTAMPTZ {
            let micros = i64::from_sql(&Type::INT8, raw)?;
            Value::DateTime(PG_EPOCH + micros.div_euclid(1_000_000))
        } else if *ty == Type::VOID {
            Value::Null
        } else if *ty == Type::DATE {
            let days = i64::from(i32::from_sql(&Type::INT4, raw)?);
            Value::DateTime(from_local(Civil::from_utc(PG_EPOCH + days * 86_400)))
        } else {
            return Err(Box::new(Error::UnsupportedType(ty.name().to_string())));
        };
        Ok(Out(v))
    }

    fn from_sql_null(_: &Type) -> Result<Out, BoxErr> {
        Ok(Out(Value::Null))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

impl Conn for PgConn {
    fn query(&mut self, sql: &str, params: &[&Value]) -> Result<Rows, Error> {
        off_runtime(|| self.query_here(sql, params))
    }

    fn execute(&mut self, sql: &str, params: &[&Value]) -> Result<u64, Error> {
        off_runtime(|| self.execute_here(sql, params))
    }

    fn batch(&mut self, sql: &str) -> Result<(), Error> {
        off_runtime(|| self.batch_here(sql))
    }

    fn is_closed(&self) -> bool {
        self.c.as_ref().is_none_or(Client::is_closed)
    }
}

impl PgConn {
    fn query_here(&mut self, sql: &str, params: &[&Value]) -> Result<Rows, Error> {
        let st = self.prepare(sql)?;
        let ps: Vec<Param<'_>> = params.iter().map(|v| Param(v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let rows = match self.client()?.query(&st, &refs) {
            Ok(r) => r,
            Err(e) => {
                // A statement can go stale after DDL ("cached plan must not change result type"):
                // prepare it again next time.
                self.stmts.remove(sql);
                return Err(convert_err(e));
            }
        };
        let columns: Vec<String> = st.columns().iter().map(|c| c.name().to_string()).collect();
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            let mut row = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                let Out(v) = r.try_get::<_, Out>(i).map_err(convert_err)?;
                row.push(v);
            }
            out.push(row);
        }
        Ok(Rows { columns, rows: out })
    }

    fn execute_here(&mut self, sql: &str, params: &[&Value]) -> Result<u64, Error> {
        let st = self.prepare(sql)?;
        let ps: Vec<Param<'_>> = params.iter().map(|v| Param(v)).collect();
        let refs: Vec<&(dyn ToSql + Sync)> = ps.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
        let r = self.client()?.execute(&st, &refs);
        r.map_err(|e| {
            self.stmts.remove(sql);
            convert_err(e)
        })
    }

    fn batch_here(&mut self, sql: &str) -> Result<(), Error> {
        let c = self.client()?;
        c.batch_execute(sql).map_err(|e| {
            // A script that opened a transaction and failed inside it would leave this pooled
            // connection refusing every later statement ("current transaction is aborted").
            let _ = c.batch_execute("ROLLBACK");
            convert_err(e)
        })
    }
}
