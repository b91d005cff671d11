//! MySQL / MariaDB through the synchronous `mysql` crate (no TLS, pure-Rust compression).
//!
//! Statements go through the binary protocol (prepared once per connection by the crate's statement
//! cache). The connection sets CLIENT_FOUND_ROWS so that an UPDATE reports the rows it matched, not
//! only those it changed, like SQLite and PostgreSQL. DATETIME columns hold local wall-clock time,
//! as Kamailio writes them.

use std::time::Duration;

use mysql::consts::{CapabilityFlags, ColumnType};
use mysql::prelude::Queryable;
use mysql::{Params, Value as My};

use super::Conn;
use crate::time::{from_local, to_local, Civil};
use crate::url::DbUrl;
use crate::{Error, Rows, Value};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The character set number MySQL gives binary strings (BLOB, VARBINARY).
const BINARY_CHARSET: u16 = 63;

pub(crate) struct MyConn {
    c: mysql::Conn,
}

impl MyConn {
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
            return Err(Error::Invalid("not a MySQL URL".into()));
        };
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(host.clone()))
            .tcp_port(port.unwrap_or(3306))
            .socket(local_socket(host))
            // Do not silently reconnect through the server's socket after a TCP connect to
            // 127.0.0.1 (the crate's default): the account seen by the server would change.
            .prefer_socket(false)
            .user(user.clone())
            .pass(password.clone())
            .db_name(Some(database.clone()))
            .tcp_connect_timeout(Some(CONNECT_TIMEOUT))
            .additional_capabilities(CapabilityFlags::CLIENT_FOUND_ROWS);
        let c = mysql::Conn::new(opts).map_err(|e| Error::Connect {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        Ok(MyConn { c })
    }
}

/// libmysqlclient, which Kamailio's db_mysql uses, reaches host `localhost` through the server's
/// unix socket and ignores the port; `mysql://kamailio:kamailiorw@localhost/kamailio` (the stock
/// config) therefore works with accounts that exist only for socket logins. The socket is
/// `MYSQL_UNIX_PORT` when set (libmysqlclient's variable), else the first that exists of the usual
/// paths; without one, TCP to localhost.
fn local_socket(host: &str) -> Option<String> {
    if host != "localhost" {
        return None;
    }
    if let Some(p) = std::env::var_os("MYSQL_UNIX_PORT").filter(|p| !p.is_empty()) {
        return Some(p.to_string_lossy().into_owned());
    }
    [
        "/run/mysqld/mysqld.sock",
        "/var/run/mysqld/mysqld.sock",
        "/tmp/mysql.sock",
    ]
    .iter()
    .find(|p| std::path::Path::new(p).exists())
    .map(|p| p.to_string())
}

fn convert_err(e: mysql::Error) -> Error {
    use mysql::{DriverError, Error as E};
    match e {
        E::IoError(_) | E::CodecError(_) => Error::ConnectionLost(e.to_string()),
        E::DriverError(DriverError::ConnectTimeout | DriverError::CouldNotConnect(_)) => {
            Error::ConnectionLost(e.to_string())
        }
        // 1053 server shutdown, 1927 connection killed, 2006 server has gone away, 2013 lost
        // connection during query, 4031 disconnected for inactivity.
        E::MySqlError(ref m) if [1053, 1927, 2006, 2013, 4031].contains(&m.code) => {
            Error::ConnectionLost(e.to_string())
        }
        // 1062 duplicate entry, 1586 duplicate entry for a key name.
        E::MySqlError(ref m) if m.code == 1062 || m.code == 1586 => Error::Duplicate(e.to_string()),
        _ => Error::Query(e.to_string()),
    }
}

fn to_my(v: &Value) -> My {
    match v {
        Value::Null => My::NULL,
        Value::Int(i) => My::Int(i64::from(*i)),
        Value::BigInt(i) => My::Int(*i),
        Value::Double(d) => My::Double(*d),
        Value::Str(s) => My::Bytes(s.as_bytes().to_vec()),
        Value::Blob(b) => My::Bytes(b.clone()),
        Value::DateTime(t) => {
            let c = to_local(*t);
            My::Date(
                u16::try_from(c.year).unwrap_or(0),
                c.month as u8,
                c.day as u8,
                c.hour as u8,
                c.minute as u8,
                c.second as u8,
                0,
            )
        }
    }
}

fn text(b: Vec<u8>) -> Value {
    match String::from_utf8(b) {
        Ok(s) => Value::Str(s),
        Err(e) => Value::Blob(e.into_bytes()),
    }
}

fn from_my(v: My, ty: ColumnType, charset: u16) -> Result<Value, Error> {
    use ColumnType::*;
    Ok(match v {
        My::NULL => Value::Null,
        My::Int(i) if ty == MYSQL_TYPE_LONGLONG => Value::BigInt(i),
        My::Int(i) => i32::try_from(i).map_or(Value::BigInt(i), Value::Int),
        My::UInt(u) => {
            let i = i64::try_from(u)
                .map_err(|_| Error::Query(format!("unsigned value {u} out of range")))?;
            if ty == MYSQL_TYPE_LONGLONG {
                Value::BigInt(i)
            } else {
                i32::try_from(i).map_or(Value::BigInt(i), Value::Int)
            }
        }
        My::Float(f) => Value::Double(crate::value::widen_f32(f)),
        My::Double(d) => Value::Double(d),
        My::Bytes(b) => match ty {
            MYSQL_TYPE_DECIMAL | MYSQL_TYPE_NEWDECIMAL => {
                let s = String::from_utf8_lossy(&b);
                s.trim()
                    .parse::<f64>()
                    .map_or_else(|_| text(b), Value::Double)
            }
            MYSQL_TYPE_TINY_BLOB
            | MYSQL_TYPE_MEDIUM_BLOB
            | MYSQL_TYPE_LONG_BLOB
            | MYSQL_TYPE_BLOB
            | MYSQL_TYPE_VAR_STRING
            | MYSQL_TYPE_STRING
            | MYSQL_TYPE_VARCHAR
                if charset == BINARY_CHARSET =>
            {
                Value::Blob(b)
            }
            _ => text(b),
        },
        My::Date(y, mo, d, h, mi, s, _) => Value::DateTime(from_local(Civil {
            year: i64::from(y),
            month: u32::from(mo).max(1),
            day: u32::from(d).max(1),
            hour: u32::from(h),
            minute: u32::from(mi),
            second: u32::from(s),
        })),
        My::Time(neg, days, h, m, s, _) => Value::Str(format!(
            "{}{:02}:{:02}:{:02}",
            if neg { "-" } else { "" },
            u64::from(days) * 24 + u64::from(h),
            m,
            s
        )),
    })
}

fn params(values: &[&Value]) -> Params {
    if values.is_empty() {
        Params::Empty
    } else {
        Params::Positional(values.iter().map(|v| to_my(v)).collect())
    }
}

impl Conn for MyConn {
    fn query(&mut self, sql: &str, values: &[&Value]) -> Result<Rows, Error> {
        let mut res = self.c.exec_iter(sql, params(values)).map_err(convert_err)?;
        let cols: Vec<(String, ColumnType, u16)> = res
            .columns()
            .as_ref()
            .iter()
            .map(|c| {
                (
                    c.name_str().into_owned(),
                    c.column_type(),
                    c.character_set(),
                )
            })
            .collect();
        let mut out = Vec::new();
        for r in res.by_ref() {
            let r = r.map_err(convert_err)?;
            let mut row = Vec::with_capacity(cols.len());
            for (v, (_, ty, cs)) in r.unwrap_raw().into_iter().zip(&cols) {
                row.push(from_my(v.unwrap_or(My::NULL), *ty, *cs)?);
            }
            out.push(row);
        }
        Ok(Rows {
            columns: cols.into_iter().map(|(n, _, _)| n).collect(),
            rows: out,
        })
    }

    fn execute(&mut self, sql: &str, values: &[&Value]) -> Result<u64, Error> {
        self.c.exec_drop(sql, params(values)).map_err(convert_err)?;
        Ok(self.c.affected_rows())
    }

    fn batch(&mut self, sql: &str) -> Result<(), Error> {
        // The text protocol with CLIENT_MULTI_STATEMENTS (which the crate sets) runs a whole script.
        self.c.query_drop(sql).map_err(|e| {
            // Do not hand a connection inside a failed script's transaction back to the pool.
            let _ = self.c.query_drop("ROLLBACK");
            convert_err(e)
        })
    }
}
