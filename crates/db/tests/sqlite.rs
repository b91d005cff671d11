//! The backend suite on SQLite files, plus what only SQLite has: reopening a file, sharing the file
//! format with Kamailio's db_sqlite.

mod common;

use std::path::PathBuf;

use ferrosip_db::{Cond, Db, Value};

/// A fresh database file, removed when dropped.
struct TempDb {
    path: PathBuf,
}

impl TempDb {
    fn new(name: &str) -> TempDb {
        let path =
            std::env::temp_dir().join(format!("ferrosip-db-{}-{name}.sqlite", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempDb { path }
    }
    fn url(&self) -> String {
        format!("sqlite://{}", self.path.display())
    }
    fn open(&self) -> Db {
        Db::connect(&self.url()).expect("open sqlite")
    }
}

impl Drop for TempDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        // WAL mode's side files.
        for ext in ["-wal", "-shm"] {
            let mut p = self.path.clone().into_os_string();
            p.push(ext);
            let _ = std::fs::remove_file(p);
        }
    }
}

#[test]
fn crud() {
    let t = TempDb::new("crud");
    common::crud(&t.open());
}

#[test]
fn types_and_nulls() {
    let t = TempDb::new("types");
    common::types(&t.open());
}

#[test]
fn version_table() {
    let t = TempDb::new("versions");
    common::versions(&t.open());
}

#[test]
fn replace_and_duplicates() {
    let t = TempDb::new("replace");
    common::replace_and_duplicates(&t.open());
}

#[test]
fn concurrent_threads() {
    let t = TempDb::new("threads");
    common::concurrent(&t.open());
}

#[test]
fn bad_names() {
    let t = TempDb::new("names");
    common::refuses_bad_names(&t.open());
}

#[test]
fn reopen_keeps_rows_and_absolute_url_form() {
    let t = TempDb::new("reopen");
    // sqlite:///abs/path is Kamailio's spelling; the temp dir is absolute so this is sqlite:///tmp/…
    assert!(t.url().starts_with("sqlite:///"), "{}", t.url());
    {
        let db = t.open();
        common::create_standard(&db);
        db.insert(
            "subscriber",
            &[
                ("username", "alice".into()),
                ("domain", "example.com".into()),
            ],
        )
        .expect("insert");
    }
    let db = t.open();
    let rows = db
        .query(
            "subscriber",
            &[Cond::eq("username", "alice")],
            &["domain"],
            None,
        )
        .expect("query after reopen");
    assert_eq!(rows.rows, [[Value::from("example.com")]]);
    db.check_table_version("subscriber", 7).expect("version");
}

#[test]
fn reads_kamailio_datetimes() {
    let t = TempDb::new("kamtime");
    let db = t.open();
    common::create_standard(&db);
    // Kamailio's db_sqlite binds a time_t t as the Julian day ((t - 0.5) / 86400) + 2440587.5; a row
    // written without expires gets the schema's text default.
    let t0: i64 = 1_700_000_000;
    let jd = ((t0 as f64) - 0.5) / 86_400.0 + 2_440_587.5;
    db.raw_execute(&format!(
        "INSERT INTO location (ruid, username, contact, expires) VALUES ('k1', 'a', 'sip:a@h', {jd})"
    ))
    .expect("kamailio-style row");
    db.raw_execute("INSERT INTO location (ruid, username, contact) VALUES ('k2', 'a', 'sip:a@h')")
        .expect("default row");
    let rows = db
        .query(
            "location",
            &[],
            &["ruid", "expires", "last_modified"],
            Some(ferrosip_db::Order::asc("ruid")),
        )
        .expect("query");
    assert_eq!(rows.rows[0][1], Value::DateTime(t0));
    assert_eq!(rows.rows[1][1], Value::DateTime(1_906_234_335)); // 2030-05-28 21:32:15
    assert_eq!(rows.rows[1][2], Value::DateTime(946_684_801)); // 2000-01-01 00:00:01
                                                               // And what we write is what Kamailio reads back: a REAL Julian day.
    db.update(
        "location",
        &[Cond::eq("ruid", "k2")],
        &[("expires", Value::DateTime(t0))],
    )
    .expect("update");
    let raw = db
        .raw_query("SELECT typeof(expires), expires + 0.0 FROM location WHERE ruid = 'k2'")
        .expect("raw");
    assert_eq!(raw.rows[0][0], Value::from("real"));
    let stored = raw.rows[0][1].as_f64().expect("real");
    assert_eq!((86_400.0 * (stored - 2_440_587.5) + 0.5) as i64, t0);
}

#[test]
fn bad_urls_and_missing_directory() {
    for url in ["sqlite://", "oracle://x/y", "sqlite:///tmp/x.db?mode=ro"] {
        assert!(Db::connect(url).is_err(), "{url}");
    }
    match Db::connect("sqlite:///nonexistent-dir-ferrosip/x.db") {
        Err(ferrosip_db::Error::Connect { .. }) => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn failed_schema_script_leaves_a_usable_connection() {
    let t = TempDb::new("failed-script");
    let db = t.open();
    common::create_standard(&db);
    let sub = ferrosip_db::schema::table("subscriber").expect("subscriber");
    let acc = ferrosip_db::schema::table("acc").expect("acc");
    // acc is new, subscriber exists: the whole script fails and acc is not left behind.
    assert!(ferrosip_db::schema::create(&db, &[acc, sub]).is_err());
    assert_eq!(db.table_version("acc").expect("version query"), None);
    assert!(db.raw_query("SELECT * FROM acc").is_err());
    db.insert("subscriber", &[("username", "bob".into())])
        .expect("the pooled connection still works");
}

#[test]
fn custom_version_table() {
    let t = TempDb::new("kversion");
    let kversion = |name: &str| ferrosip_db::Options {
        version_table: name.to_string(),
        ..Default::default()
    };
    let db = Db::connect_with(&t.url(), kversion("kversion")).expect("open");
    assert_eq!(db.version_table(), "kversion");
    let sub = ferrosip_db::schema::table("subscriber").expect("subscriber");
    ferrosip_db::schema::create(&db, &[sub]).expect("create");
    db.check_table_version("subscriber", 7)
        .expect("via kversion");
    assert!(
        db.raw_query("SELECT * FROM version").is_err(),
        "no table called version"
    );
    assert!(Db::connect_with(&t.url(), kversion("bad name")).is_err());
}
