//! The backend suite against a real PostgreSQL server. Skipped (with a message) unless
//! `FERROSIP_TEST_PG_URL` is set (e.g. `postgres://postgres@127.0.0.1:5432/ferrosip_test`; the tests drop
//! and create Kamailio's tables there); `.ci/run` starts a server and sets it.

mod common;

use ferrosip_db::{Db, Value};

const VAR: &str = "FERROSIP_TEST_PG_URL";

/// The tests of this file share one server and two of them restart it: they run one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    // A failed test poisons the lock; the next one may still run.
    SERIAL
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn db() -> Option<Db> {
    let url = common::server_url(VAR)?;
    Some(Db::connect(&url).expect("connect"))
}

/// The command that restarts the server (`FERROSIP_TEST_PG_RESTART`, set by test-servers.sh).
fn restart_cmd() -> Option<String> {
    common::server_url("FERROSIP_TEST_PG_RESTART")
}

#[test]
fn suite() {
    let _serial = serial();
    let Some(db) = db() else { return };
    type Part = fn(&Db);
    let parts: [(&str, Part); 6] = [
        ("crud", common::crud),
        ("types", common::types),
        ("versions", common::versions),
        ("replace", common::replace_and_duplicates),
        ("concurrent", common::concurrent),
        ("bad names", common::refuses_bad_names),
    ];
    for (name, part) in parts {
        eprintln!("postgres: {name}");
        common::drop_all(&db);
        part(&db);
    }
    common::drop_all(&db);
}

#[test]
fn reconnects_after_the_server_drops_the_connection() {
    let _serial = serial();
    let Some(db) = db() else { return };
    let pid = |db: &Db| {
        db.raw_query("SELECT pg_backend_pid()").expect("pid").rows[0][0]
            .as_i64()
            .expect("int")
    };
    let before = pid(&db);
    // What a server restart does to an idle pooled connection, done from another connection.
    let other = self::db().expect("connect");
    let killed = other
        .raw_query(&format!("SELECT pg_terminate_backend({before})"))
        .expect("terminate");
    assert_eq!(killed.rows[0][0], Value::Int(1));
    std::thread::sleep(std::time::Duration::from_millis(100));
    // The next request still succeeds, on a new connection.
    let after = pid(&db);
    assert_ne!(before, after);
}

#[test]
fn survives_a_server_restart() {
    let _serial = serial();
    let Some(db) = db() else { return };
    let Some(cmd) = restart_cmd() else { return };
    // Fill the pool with several connections, as busy workers would.
    std::thread::scope(|s| {
        for _ in 0..4 {
            let db = db.clone();
            s.spawn(move || db.raw_query("SELECT pg_sleep(0.05)").expect("sleep"));
        }
    });
    let st = std::process::Command::new("sh")
        .arg("-c")
        .arg(&cmd)
        .status()
        .expect("run restart command");
    assert!(st.success(), "{cmd}: {st}");
    // Every pooled connection is dead now; each request after the restart must still succeed.
    for i in 0..6 {
        let r = db
            .raw_query("SELECT 1")
            .unwrap_or_else(|e| panic!("request {i}: {e}"));
        assert_eq!(r.rows[0][0], Value::Int(1));
    }
}

#[test]
fn requests_during_a_restart_wait_with_reconnect_wait() {
    let _serial = serial();
    let Some(url) = common::server_url(VAR) else {
        return;
    };
    let Some(cmd) = restart_cmd() else { return };
    let db = Db::connect_with(
        &url,
        ferrosip_db::Options {
            reconnect_wait: std::time::Duration::from_secs(20),
            ..Default::default()
        },
    )
    .expect("connect");
    let stop = std::sync::atomic::AtomicBool::new(false);
    let (done, failures) = std::thread::scope(|s| {
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let db = db.clone();
                let stop = &stop;
                s.spawn(move || {
                    let (mut done, mut failed) = (0u32, Vec::new());
                    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                        match db.raw_query("SELECT 1") {
                            Ok(_) => done += 1,
                            Err(e) => failed.push(e.to_string()),
                        }
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    (done, failed)
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(200));
        let st = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .status()
            .expect("run restart command");
        assert!(st.success(), "{cmd}: {st}");
        std::thread::sleep(std::time::Duration::from_millis(200));
        stop.store(true, std::sync::atomic::Ordering::SeqCst);
        let mut done = 0;
        let mut failures = Vec::new();
        for w in workers {
            let (d, f) = w.join().expect("worker");
            done += d;
            failures.extend(f);
        }
        (done, failures)
    });
    eprintln!("{done} requests across the restart");
    assert!(failures.is_empty(), "{failures:?}");
    assert!(done > 0);
}

#[test]
fn timestamps_are_local_wall_clock_like_kamailio() {
    let _serial = serial();
    let Some(db) = db() else { return };
    db.raw_execute("DROP TABLE IF EXISTS typed_tz")
        .expect("drop");
    db.raw_execute("CREATE TABLE typed_tz (t TIMESTAMP WITHOUT TIME ZONE)")
        .expect("create");
    db.insert("typed_tz", &[("t", Value::DateTime(1_906_234_335))])
        .expect("insert");
    // TZ is UTC here unless the environment says otherwise; Kamailio writes strftime(localtime).
    let text = db
        .raw_query("SELECT to_char(t, 'YYYY-MM-DD HH24:MI:SS') FROM typed_tz")
        .expect("text");
    let want = if std::env::var("TZ").map_or(true, |t| t.is_empty() || t == "UTC") {
        "2030-05-28 21:32:15"
    } else {
        return;
    };
    assert_eq!(text.rows[0][0], Value::from(want));
    db.raw_execute("DROP TABLE typed_tz").expect("drop");
}

#[test]
fn usable_from_inside_a_tokio_runtime() {
    let _serial = serial();
    // RPC handlers run on the server's tokio runtime; the sync client must not panic there.
    let Some(db) = db() else { return };
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    let r = rt.block_on(async { db.raw_query("SELECT 1") });
    assert_eq!(r.expect("query").rows[0][0], Value::Int(1));
    // Connecting and dropping the last handle (which closes its connections) inside it too.
    let url = std::env::var(VAR).expect("url");
    let r = rt.block_on(async move { Db::connect(&url).map(drop) });
    assert!(r.is_ok(), "{r:?}");
}
