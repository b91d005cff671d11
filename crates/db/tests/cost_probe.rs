//! Cost probe, not a timed test: prints the time per keyed SELECT, INSERT and UPDATE through `Db`
//! on each backend that is available. Run with
//! `cargo test -p ferrosip-db --test cost_probe -- --ignored --nocapture` (plus the server URLs).

use std::time::Instant;

use ferrosip_db::{schema, Cond, Db, Value};

fn probe(name: &str, db: &Db) {
    for t in ["subscriber", "version"] {
        let _ = db.raw_execute(&format!("DROP TABLE IF EXISTS {t}"));
    }
    let tables: Vec<_> = ["version", "subscriber"]
        .iter()
        .filter_map(|t| schema::table(t))
        .collect();
    schema::create(db, &tables).expect("schema");
    const N: usize = 1000;
    let t0 = Instant::now();
    for i in 0..N {
        db.insert(
            "subscriber",
            &[
                ("username", Value::from(format!("u{i}"))),
                ("domain", Value::from("example.com")),
                ("ha1", Value::from("0123456789abcdef0123456789abcdef")),
            ],
        )
        .expect("insert");
    }
    let ins = t0.elapsed() / N as u32;
    let t0 = Instant::now();
    for i in 0..N {
        let user = format!("u{}", (i * 7) % N);
        let r = db
            .query(
                "subscriber",
                &[
                    Cond::eq("username", user.as_str()),
                    Cond::eq("domain", "example.com"),
                ],
                &["ha1"],
                None,
            )
            .expect("select");
        assert_eq!(r.len(), 1);
    }
    let sel = t0.elapsed() / N as u32;
    let t0 = Instant::now();
    for i in 0..N {
        let user = format!("u{i}");
        db.update(
            "subscriber",
            &[Cond::eq("username", user.as_str())],
            &[("password", Value::from("x"))],
        )
        .expect("update");
    }
    let upd = t0.elapsed() / N as u32;
    eprintln!(
        "{name}: insert {ins:?}, keyed select {sel:?}, update {upd:?} per operation ({N} each)"
    );
    let _ = db.raw_execute("DROP TABLE subscriber");
    let _ = db.raw_execute("DROP TABLE version");
}

#[test]
#[ignore = "cost probe: prints numbers, asserts nothing about time"]
fn cost_per_operation() {
    let path =
        std::env::temp_dir().join(format!("ferrosip-db-probe-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    probe(
        "sqlite",
        &Db::connect(&format!("sqlite://{}", path.display())).expect("sqlite"),
    );
    for ext in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(p);
    }
    for (name, var) in [
        ("postgres", "FERROSIP_TEST_PG_URL"),
        ("mysql", "FERROSIP_TEST_MYSQL_URL"),
    ] {
        if let Ok(url) = std::env::var(var) {
            probe(name, &Db::connect(&url).expect(name));
        }
    }
}
