//! `db_sqlite`: the SQLite driver. Loading it makes `sqlite://` URLs usable by the DB-backed modules
//! (through [`crate::db::DbDrivers`]); its modparams and what ferrosip does with each are in
//! [`crate::db::drivers`]. It exports no script function, as in Kamailio.

use ferrosip_api::ModuleExports;

use crate::db::{drivers, Driver};

/// The `db_sqlite` export table.
pub fn exports() -> ModuleExports {
    drivers::exports(Driver::Sqlite)
}
