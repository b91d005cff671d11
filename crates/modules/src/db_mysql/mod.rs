//! `db_mysql`: the MySQL/MariaDB driver. Loading it makes `mysql://` URLs usable by the DB-backed modules
//! (through [`crate::db::DbDrivers`]); its modparams and what ferrosip does with each are in
//! [`crate::db::drivers`]. It exports no script function, as in Kamailio.

use ferrosip_api::ModuleExports;

use crate::db::{drivers, Driver};

/// The `db_mysql` export table.
pub fn exports() -> ModuleExports {
    drivers::exports(Driver::Mysql)
}
