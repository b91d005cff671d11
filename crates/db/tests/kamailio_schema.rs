//! Our schema against Kamailio's own: the same database is filled once by `schema::create` and once
//! by the `…-create.sql` scripts that Debian's Kamailio 5.6 packages install under
//! `/usr/share/kamailio/{db_sqlite,postgres,mysql}`, and the catalogs (columns with types, NULL-ness
//! and defaults, indexes, version rows) must match. Between 5.6 and 6.0 these tables differ only in
//! htable's `key_name`/`key_value` sizes (64/128 → 256/512), which are skipped.
//!
//! Needs the kamailio-sqlite-modules (and -postgres-, -mysql-) packages, which `.ci/run` does not
//! install yet: ignored by default.

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use ferrosip_db::{schema, Db, Dialect, Rows, Value};

/// The Kamailio script groups that hold our tables.
const GROUPS: &[&str] = &[
    "standard",
    "auth_db",
    "usrloc",
    "registrar",
    "alias_db",
    "domain",
    "permissions",
    "htable",
    "acc",
    "dispatcher",
    "avpops",
    "speeddial",
];

fn cell(v: &Value) -> String {
    match v {
        Value::Null => "NULL".to_string(),
        v => v.to_string(),
    }
}

fn lines(rows: &Rows) -> Vec<String> {
    let mut out: Vec<String> = rows
        .rows
        .iter()
        .map(|r| r.iter().map(cell).collect::<Vec<_>>().join(" | "))
        .collect();
    out.sort();
    out
}

/// Every table's columns and indexes, and the version rows, as comparable text.
fn catalog(db: &Db) -> BTreeMap<String, Vec<String>> {
    let mut out = BTreeMap::new();
    for t in schema::TABLES {
        let (cols, idx) = match db.dialect() {
            Dialect::Sqlite => (
                format!(
                    "SELECT name, type, \"notnull\", dflt_value, pk FROM pragma_table_info('{}')",
                    t.name
                ),
                format!(
                    "SELECT l.name, l.\"unique\", i.seqno, i.name FROM pragma_index_list('{0}') l, \
                     pragma_index_info(l.name) i",
                    t.name
                ),
            ),
            Dialect::Postgres => (
                format!(
                    "SELECT column_name::text, data_type::text, character_maximum_length, \
                     is_nullable::text, column_default::text FROM information_schema.columns \
                     WHERE table_schema = current_schema() AND table_name = '{}'",
                    t.name
                ),
                format!(
                    "SELECT indexname::text, indexdef FROM pg_indexes \
                     WHERE schemaname = current_schema() AND tablename = '{}'",
                    t.name
                ),
            ),
            Dialect::Mysql => (
                format!(
                    "SELECT COLUMN_NAME, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA \
                     FROM information_schema.COLUMNS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{}'",
                    t.name
                ),
                format!(
                    "SELECT INDEX_NAME, NON_UNIQUE, SEQ_IN_INDEX, COLUMN_NAME \
                     FROM information_schema.STATISTICS \
                     WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = '{}'",
                    t.name
                ),
            ),
        };
        let mut c = lines(&db.raw_query(&cols).expect(&cols));
        if t.name == "htable" {
            c.retain(|l| !l.starts_with("key_name |") && !l.starts_with("key_value |"));
        }
        assert!(!c.is_empty(), "table {} missing", t.name);
        out.insert(format!("{} columns", t.name), c);
        out.insert(
            format!("{} indexes", t.name),
            lines(&db.raw_query(&idx).expect(&idx)),
        );
    }
    out.insert(
        "version rows".to_string(),
        lines(
            &db.raw_query("SELECT table_name, table_version FROM version")
                .expect("version rows"),
        ),
    );
    out
}

fn drop_all(db: &Db) {
    for t in schema::TABLES {
        let q = if db.dialect() == Dialect::Mysql {
            format!("DROP TABLE IF EXISTS `{}`", t.name)
        } else {
            format!("DROP TABLE IF EXISTS {}", t.name)
        };
        db.raw_execute(&q).expect(&q);
    }
}

fn kamailio_scripts(dir: &str) -> String {
    let mut all = String::new();
    for g in GROUPS {
        let p = Path::new(dir).join(format!("{g}-create.sql"));
        let s = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        all.push_str(&s);
        all.push('\n');
    }
    all
}

fn compare(db: &Db, dir: &str) {
    drop_all(db);
    schema::create(db, &schema::all()).expect("our schema");
    let ours = catalog(db);
    drop_all(db);
    db.execute_batch(&kamailio_scripts(dir))
        .expect("Kamailio's scripts");
    let theirs = catalog(db);
    drop_all(db);
    let mut diffs = Vec::new();
    for (k, v) in &theirs {
        let o = ours.get(k).cloned().unwrap_or_default();
        if &o != v {
            diffs.push(format!("{k}:\n  kamailio {v:#?}\n  ferrosip {o:#?}"));
        }
    }
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
}

#[test]
fn sqlite_schema_is_kamailios() {
    if !have_kamailio_file("/usr/share/kamailio/db_sqlite") {
        return;
    }
    let path =
        std::env::temp_dir().join(format!("ferrosip-db-kschema-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let db = Db::connect(&format!("sqlite://{}", path.display())).expect("open");
    compare(&db, "/usr/share/kamailio/db_sqlite");
    drop(db);
    for ext in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(p);
    }
}

fn server(var: &str, dir: &str) {
    let Some(url) = common::server_url(var) else {
        return;
    };
    if !have_kamailio_file(dir) {
        return;
    }
    compare(&Db::connect(&url).expect("connect"), dir);
}

#[test]
fn postgres_schema_is_kamailios() {
    server("FERROSIP_TEST_PG_URL", "/usr/share/kamailio/postgres");
}

#[test]
fn mysql_schema_is_kamailios() {
    server("FERROSIP_TEST_MYSQL_URL", "/usr/share/kamailio/mysql");
}

/// Whether `path` (a file of one of Debian's kamailio-*-modules packages) exists; skipped with a
/// message when not, a failure in CI (`.ci/run` installs the packages).
fn have_kamailio_file(path: &str) -> bool {
    if std::path::Path::new(path).exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: {path} is required (kamailio-*-modules)"
    );
    eprintln!("{path} missing: skipped (Debian's kamailio-*-modules packages)");
    false
}
