//! The backends behind [`crate::Db`]: one connection type per database, all speaking the same small
//! trait. SQL text comes from `sql.rs`; a backend binds values and converts results.

mod sqlite;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;

use crate::url::DbUrl;
use crate::{Error, Rows, Value};

/// One open connection.
pub(crate) trait Conn: Send {
    /// Runs a statement that returns rows.
    fn query(&mut self, sql: &str, params: &[&Value]) -> Result<Rows, Error>;
    /// Runs a statement that returns no rows; the number of rows it matched.
    fn execute(&mut self, sql: &str, params: &[&Value]) -> Result<u64, Error>;
    /// Runs a script of `;`-separated statements.
    fn batch(&mut self, sql: &str) -> Result<(), Error>;
    /// Known to be unusable without a round trip (the client saw the socket close).
    fn is_closed(&self) -> bool {
        false
    }
}

/// Opens a connection for `url`.
pub(crate) fn open(url: &DbUrl) -> Result<Box<dyn Conn>, Error> {
    match url {
        DbUrl::Sqlite { path } => Ok(Box::new(sqlite::SqliteConn::open(path)?)),
        DbUrl::Server { dialect, .. } => match dialect {
            #[cfg(feature = "postgres")]
            crate::Dialect::Postgres => Ok(Box::new(postgres::PgConn::open(url)?)),
            #[cfg(feature = "mysql")]
            crate::Dialect::Mysql => Ok(Box::new(mysql::MyConn::open(url)?)),
            #[allow(unreachable_patterns)]
            d => Err(Error::BackendNotBuilt(d.scheme())),
        },
    }
}
