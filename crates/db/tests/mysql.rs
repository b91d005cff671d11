//! The backend suite against a real MySQL or MariaDB server. Skipped (with a message) unless
//! `FERROSIP_TEST_MYSQL_URL` is set (e.g. `mysql://root:pw@127.0.0.1:3306/ferrosip_test`; the tests drop
//! and create Kamailio's tables there); `.ci/run` starts a server and sets it.

mod common;

use ferrosip_db::Db;

const VAR: &str = "FERROSIP_TEST_MYSQL_URL";

fn db() -> Option<Db> {
    let url = common::server_url(VAR)?;
    Some(Db::connect(&url).expect("connect"))
}

#[test]
fn suite() {
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
        eprintln!("mysql: {name}");
        common::drop_all(&db);
        part(&db);
    }
    common::drop_all(&db);
}

#[test]
fn reconnects_after_the_server_drops_the_connection() {
    let Some(db) = db() else { return };
    let id = |db: &Db| {
        db.raw_query("SELECT CONNECTION_ID()").expect("id").rows[0][0]
            .as_i64()
            .expect("int")
    };
    let before = id(&db);
    // What a server restart does to an idle pooled connection, done from another connection.
    let other = self::db().expect("connect");
    other.raw_execute(&format!("KILL {before}")).expect("kill");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let after = id(&db);
    assert_ne!(before, after);
}
