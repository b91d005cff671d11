//! The behaviour every backend must show, run by `sqlite.rs` on a temporary file and by
//! `postgres.rs` / `mysql.rs` on the server named by an environment variable.

#![allow(dead_code)] // each test file uses a different subset

use ferrosip_db::schema;
use ferrosip_db::{Cond, Db, Dialect, Error, Op, Order, Value};

/// Drops every table the suite creates, so a server database can be reused between runs.
pub fn drop_all(db: &Db) {
    let mut names: Vec<&str> = schema::TABLES.iter().map(|t| t.name).collect();
    names.push("typed");
    for n in names {
        let q = if db.dialect() == Dialect::Mysql {
            format!("DROP TABLE IF EXISTS `{n}`")
        } else {
            format!("DROP TABLE IF EXISTS {n}")
        };
        db.raw_execute(&q).expect(&q);
    }
}

pub fn create_standard(db: &Db) {
    let tables: Vec<_> = ["version", "subscriber", "location"]
        .iter()
        .filter_map(|n| schema::table(n))
        .collect();
    schema::create(db, &tables).expect("create schema");
}

fn row(user: &str, ruid: &str, q: f64, expires: i64) -> Vec<(&'static str, Value)> {
    vec![
        ("ruid", Value::from(ruid)),
        ("username", Value::from(user)),
        (
            "contact",
            Value::from(format!("sip:{user}@10.0.0.1:{}", 5000 + ruid.len())),
        ),
        ("q", Value::Double(q)),
        ("expires", Value::DateTime(expires)),
        ("cseq", Value::Int(1)),
    ]
}

/// Insert, query with conditions, columns and order, update and delete counts.
pub fn crud(db: &Db) {
    create_standard(db);
    for (u, r, q, e) in [
        ("alice", "r1", 0.5, 2_000_000_000),
        ("alice", "r2", 1.0, 2_000_000_100),
        ("bob", "r3", 0.8, 2_000_000_200),
    ] {
        assert_eq!(db.insert("location", &row(u, r, q, e)).expect("insert"), 1);
    }
    let conds = [Cond::eq("username", "alice")];
    let rows = db
        .query(
            "location",
            &conds,
            &["ruid", "q", "expires", "domain", "callid"],
            Some(Order::desc("q")),
        )
        .expect("query");
    assert_eq!(rows.columns, ["ruid", "q", "expires", "domain", "callid"]);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows.get(0, "ruid"), Some(&Value::from("r2")));
    assert_eq!(rows.get(1, "ruid"), Some(&Value::from("r1")));
    assert_eq!(rows.get(0, "q").and_then(Value::as_f64), Some(1.0));
    assert_eq!(
        rows.get(0, "expires").and_then(Value::as_datetime),
        Some(2_000_000_100)
    );
    // Defaults from Kamailio's schema.
    assert_eq!(rows.get(0, "domain"), Some(&Value::Null));
    assert_eq!(rows.get(0, "callid"), Some(&Value::from("Default-Call-ID")));

    let later = [Cond::new("expires", Op::Ge, Value::DateTime(2_000_000_100))];
    let rows = db
        .query("location", &later, &["ruid"], Some(Order::asc("expires")))
        .expect("query by time");
    let ruids: Vec<_> = rows.rows.iter().map(|r| r[0].clone()).collect();
    assert_eq!(ruids, [Value::from("r2"), Value::from("r3")]);

    let all = db.query("location", &[], &[], None).expect("select *");
    assert_eq!(all.len(), 3);
    assert!(all.column("partition").is_some(), "{:?}", all.columns);

    let n = db
        .update(
            "location",
            &[Cond::eq("username", "alice")],
            &[("cseq", Value::Int(7)), ("partition", Value::Int(2))],
        )
        .expect("update");
    assert_eq!(n, 2);
    // Unchanged values still count as matched rows on every backend.
    let n = db
        .update(
            "location",
            &[Cond::eq("username", "alice")],
            &[("cseq", Value::Int(7))],
        )
        .expect("update same");
    assert_eq!(n, 2);
    let rows = db
        .query(
            "location",
            &[Cond::eq("ruid", "r1")],
            &["cseq", "partition"],
            None,
        )
        .expect("query");
    assert_eq!(rows.rows, [[Value::Int(7), Value::Int(2)]]);
    let n = db
        .delete("location", &[Cond::new("username", Op::Ne, "alice")])
        .expect("delete");
    assert_eq!(n, 1);
    assert_eq!(db.delete("location", &[]).expect("delete all"), 2);
    assert!(db
        .query("location", &[], &[], None)
        .expect("empty")
        .is_empty());
}

/// Every value type goes in and comes back the same, NULL included.
pub fn types(db: &Db) {
    let ddl = match db.dialect() {
        Dialect::Sqlite => "CREATE TABLE typed (i INTEGER, b BIGINT, d DOUBLE, s VARCHAR(64), bl BLOB, t TIMESTAMP WITHOUT TIME ZONE)",
        Dialect::Postgres => "CREATE TABLE typed (i INTEGER, b BIGINT, d DOUBLE PRECISION, s VARCHAR(64), bl BYTEA, t TIMESTAMP WITHOUT TIME ZONE)",
        Dialect::Mysql => "CREATE TABLE typed (i INT, b BIGINT, d DOUBLE, s VARCHAR(64), bl BLOB, t DATETIME)",
    };
    db.raw_execute(ddl).expect(ddl);
    let full = [
        ("i", Value::Int(-42)),
        ("b", Value::BigInt(1 << 40)),
        ("d", Value::Double(2.25)),
        ("s", Value::from("ünïcode 'quoted' \"x\"; --")),
        ("bl", Value::Blob(vec![0, 1, 0xff, b'\'', 0])),
        ("t", Value::DateTime(1_700_000_000)),
    ];
    db.insert("typed", &full).expect("insert full");
    let nulls: Vec<(&str, Value)> = full.iter().map(|(c, _)| (*c, Value::Null)).collect();
    db.insert("typed", &nulls).expect("insert nulls");
    let cols: Vec<&str> = full.iter().map(|(c, _)| *c).collect();
    let got = db
        .query("typed", &[Cond::eq("i", -42)], &cols, None)
        .expect("query full");
    let want: Vec<Value> = full.iter().map(|(_, v)| v.clone()).collect();
    assert_eq!(got.rows, [want]);
    let got = db
        .query("typed", &[Cond::eq("i", Value::Null)], &cols, None)
        .expect("query nulls");
    assert_eq!(got.rows, [vec![Value::Null; 6]]);
    let got = db
        .query(
            "typed",
            &[Cond::new("s", Op::Ne, Value::Null)],
            &["s"],
            None,
        )
        .expect("query not null");
    assert_eq!(got.len(), 1);
    // Values are bound, never spliced into the SQL text.
    let got = db
        .query("typed", &[Cond::eq("s", "x' OR '1'='1")], &["s"], None)
        .expect("injection attempt");
    assert!(got.is_empty());
    let n = db.raw_query("SELECT COUNT(*) FROM typed").expect("raw");
    assert_eq!(n.rows.len(), 1);
    assert_eq!(n.rows[0][0].as_i64(), Some(2));
}

/// `db_check_table_version`.
pub fn versions(db: &Db) {
    create_standard(db);
    assert_eq!(db.table_version("subscriber").expect("version"), Some(7));
    db.check_table_version("location", 9).expect("location 9");
    match db.check_table_version("location", 8) {
        Err(Error::TableVersion {
            found: 9,
            expected: 8,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    match db.check_table_version("acc", 5) {
        Err(Error::NoTableVersion { table, .. }) => assert_eq!(table, "acc"),
        other => panic!("{other:?}"),
    }
    assert_eq!(db.table_version("acc").expect("no row"), None);
    // Creating an existing table fails, as kamdbctl does.
    let sub = schema::table("subscriber").expect("subscriber");
    assert!(schema::create(db, &[sub]).is_err());
}

/// Replace by unique key, duplicates refused on insert.
pub fn replace_and_duplicates(db: &Db) {
    create_standard(db);
    db.replace("location", &row("alice", "r1", 0.5, 2_000_000_000), 1)
        .expect("replace new");
    let mut again = row("alice", "r1", 0.9, 2_000_000_000);
    for (c, v) in again.iter_mut() {
        if *c == "cseq" {
            *v = Value::Int(5);
        }
    }
    db.replace("location", &again, 1).expect("replace existing");
    let rows = db
        .query("location", &[], &["ruid", "q", "cseq"], None)
        .expect("query");
    assert_eq!(
        rows.rows,
        [[Value::from("r1"), Value::Double(0.9), Value::Int(5)]]
    );
    assert!(db.replace("location", &again, 0).is_err());
    match db.insert("location", &again) {
        Err(Error::Duplicate(_)) => {}
        other => panic!("{other:?}"),
    }
    // Subscriber's unique key is (username, domain).
    let sub = |pw: &str| {
        vec![
            ("username", Value::from("alice")),
            ("domain", Value::from("example.com")),
            ("password", Value::from(pw)),
        ]
    };
    db.replace("subscriber", &sub("one"), 2).expect("replace 1");
    db.replace("subscriber", &sub("two"), 2).expect("replace 2");
    let rows = db
        .query("subscriber", &[], &["password"], None)
        .expect("query");
    assert_eq!(rows.rows, [[Value::from("two")]]);
}

/// Many threads insert and read through one shared `Db`.
pub fn concurrent(db: &Db) {
    create_standard(db);
    const THREADS: usize = 8;
    const EACH: usize = 40;
    std::thread::scope(|s| {
        for t in 0..THREADS {
            let db = db.clone();
            s.spawn(move || {
                for i in 0..EACH {
                    let ruid = format!("t{t}-{i}");
                    let user = format!("u{t}");
                    db.insert("location", &row(&user, &ruid, 1.0, 2_000_000_000))
                        .expect("insert");
                    let r = db
                        .query(
                            "location",
                            &[Cond::eq("ruid", ruid.as_str())],
                            &["username"],
                            None,
                        )
                        .expect("read back");
                    assert_eq!(r.rows, [[Value::from(user.as_str())]]);
                }
            });
        }
    });
    let n = db
        .raw_query("SELECT COUNT(*) FROM location")
        .expect("count");
    assert_eq!(n.rows[0][0].as_i64(), Some((THREADS * EACH) as i64));
}

/// Bad names are refused before anything reaches the database.
pub fn refuses_bad_names(db: &Db) {
    assert!(matches!(
        db.query("location; DROP TABLE x", &[], &[], None),
        Err(Error::BadIdentifier(_))
    ));
    assert!(matches!(
        db.insert("location", &[("a b", Value::Int(1))]),
        Err(Error::BadIdentifier(_))
    ));
}

/// The server URL in `var`, or `None` — the test is then skipped with a message — when it is unset.
/// `.ci/run` starts PostgreSQL and MariaDB (crates/db/scripts/test-servers.sh) and sets the URLs, so
/// in CI (`CI` set) a missing URL is a failure, not a skip.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: {var} must be set (.ci/run starts the servers)"
            );
            eprintln!("{var} not set: skipped (crates/db/scripts/test-servers.sh starts a server)");
            None
        }
    }
}
