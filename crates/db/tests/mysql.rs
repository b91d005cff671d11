//! The backend suite against a real MySQL or MariaDB server. Ignored unless asked for: set
//! `FERROSIP_TEST_MYSQL_URL` (e.g. `mysql://root:pw@127.0.0.1:3306/ferrosip_test`; the tests drop
//! and create Kamailio's tables there) and run `cargo test -p ferrosip-db --test mysql -- --ignored`.

mod common;

use ferrosip_db::Db;

const VAR: &str = "FERROSIP_TEST_MYSQL_URL";

fn db() -> Db {
    let url = std::env::var(VAR).unwrap_or_else(|_| panic!("set {VAR} to run this test"));
    Db::connect(&url).expect("connect")
}

#[test]
#[ignore = "needs a MySQL or MariaDB server: set FERROSIP_TEST_MYSQL_URL and pass --ignored"]
fn suite() {
    let db = db();
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
#[ignore = "needs a MySQL or MariaDB server: set FERROSIP_TEST_MYSQL_URL and pass --ignored"]
fn reconnects_after_the_server_drops_the_connection() {
    let db = db();
    let id = |db: &Db| {
        db.raw_query("SELECT CONNECTION_ID()").expect("id").rows[0][0]
            .as_i64()
            .expect("int")
    };
    let before = id(&db);
    // What a server restart does to an idle pooled connection, done from another connection.
    let other = self::db();
    other.raw_execute(&format!("KILL {before}")).expect("kill");
    std::thread::sleep(std::time::Duration::from_millis(100));
    let after = id(&db);
    assert_ne!(before, after);
}
