//! Kamailio's modules, one folder each (`sl/`, `tm/`, `rr/`, `pv/`, `xlog/` …), each opening with its
//! export table; `registry` lists Kamailio's module names and [`all`] builds the export tables of the
//! modules ferrosip implements.

pub mod acc;
pub mod alias_db;
pub mod auth;
pub mod auth_db;
pub mod cfg_rpc;
pub mod corex;
pub mod counters;
pub mod ctl;
pub mod db;
pub mod db_mysql;
pub mod db_postgres;
pub mod db_sqlite;
pub mod debugger;
pub mod dlgs;
pub mod domain;
pub mod exec;
pub mod htable;
pub mod jsonrpcs;
pub mod kex;
pub mod maxfwd;
pub mod path;
pub mod permissions;
pub mod pike;
pub mod pv;
pub mod registrar;
pub mod registry;
pub mod rr;
pub mod sanity;
pub mod siputils;
pub mod sl;
pub mod textops;
pub mod textopsx;
pub mod tm;
pub mod tmx;
pub mod usrloc;
pub mod xhttp;
pub mod xlog;

/// The export table of every module ferrosip implements. A module is added here and to
/// [`registry::IMPLEMENTED_MODULES`] in the same change (a test keeps the two lists equal).
pub fn all() -> Vec<ferrosip_api::ModuleExports> {
    vec![
        acc::exports(),
        alias_db::exports(),
        auth::exports(),
        auth_db::exports(),
        cfg_rpc::exports(),
        corex::exports(),
        counters::exports(),
        ctl::exports(),
        db_mysql::exports(),
        db_postgres::exports(),
        db_sqlite::exports(),
        debugger::exports(),
        dlgs::exports(),
        domain::exports(),
        exec::exports(),
        htable::exports(),
        jsonrpcs::exports(),
        kex::exports(),
        maxfwd::exports(),
        path::exports(),
        permissions::exports(),
        pike::exports(),
        pv::exports(),
        registrar::exports(),
        rr::exports(),
        sanity::exports(),
        siputils::exports(),
        sl::exports(),
        textops::exports(),
        textopsx::exports(),
        tm::exports(),
        tmx::exports(),
        usrloc::exports(),
        xhttp::exports(),
        xlog::exports(),
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn implemented_list_matches_export_tables() {
        let mut names: Vec<&str> = super::all().iter().map(|m| m.name).collect();
        names.sort_unstable();
        assert_eq!(names, super::registry::IMPLEMENTED_MODULES);
    }
}
