//! `ferrosip-ctl db create`, `add`, `passwd`, `rm` run as a user would run them, checked by reading
//! the database back through `ferrosip-db`. SQLite always; PostgreSQL and MySQL when
//! `FERROSIP_TEST_PG_URL` / `FERROSIP_TEST_MYSQL_URL` are set and `--ignored` is passed.

use std::process::{Command, Output};

use ferrosip_db::{schema, Cond, Db, Dialect, Value};

fn ctl(url: &str, extra_env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ferrosip-ctl"));
    c.env_remove("DBURL")
        .env_remove("SIP_DOMAIN")
        .env_remove("STORE_PLAINTEXT_PW")
        .env("DBURL", url);
    for (k, v) in extra_env {
        c.env(k, v);
    }
    c.args(args).output().expect("run ferrosip-ctl")
}

fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout {}\nstderr {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn subscriber(db: &Db, user: &str, domain: &str) -> Option<Vec<Value>> {
    let rows = db
        .query(
            "subscriber",
            &[Cond::eq("username", user), Cond::eq("domain", domain)],
            &["password", "ha1", "ha1b"],
            None,
        )
        .expect("query subscriber");
    rows.rows.into_iter().next()
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

/// The whole provisioning flow against one database URL.
fn flow(url: &str) {
    let o = ctl(url, &[], &["db", "create"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("created table subscriber (version 7)"),
        "{out}"
    );
    assert!(out.contains("created table location (version 9)"), "{out}");
    let db = Db::connect(url).expect("connect");
    for t in schema::TABLES {
        db.check_table_version(t.name, t.version)
            .unwrap_or_else(|e| panic!("{}: {e}", t.name));
    }
    // Again: the tables exist, so it fails (exit 1) as kamdbctl does.
    let o = ctl(url, &[], &["db", "create", "auth_db"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = ctl(url, &[], &["add", "alice@example.com", "secret"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "new user 'alice@example.com' added\n"
    );
    // Known answers: MD5("alice:example.com:secret"), MD5("alice@example.com:example.com:secret").
    assert_eq!(
        subscriber(&db, "alice", "example.com"),
        Some(vec![
            Value::from("secret"),
            Value::from("b1726872c344b6dc8365b774f8fd6412"),
            Value::from("c79656e4f06dbae9fdf6727654273c65"),
        ])
    );
    // `db show` lists the row (kamctl db show): header, then username and domain among the values.
    let o = ctl(url, &[], &["db", "show", "subscriber"]);
    assert!(o.status.success(), "{}", text(&o));
    let shown = String::from_utf8_lossy(&o.stdout);
    let mut lines = shown.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    assert!(
        header.contains(&"username") && header.contains(&"ha1"),
        "{shown}"
    );
    let row: Vec<&str> = lines.next().unwrap_or("").split('\t').collect();
    assert_eq!(row.len(), header.len(), "{shown}");
    assert!(row.contains(&"alice") && row.contains(&"b1726872c344b6dc8365b774f8fd6412"));
    assert_eq!(lines.next(), None, "{shown}");
    let o = ctl(url, &[], &["db", "show", "no table"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = ctl(url, &[], &["add", "alice@example.com", "other"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists"));

    // Default domain from SIP_DOMAIN or -D; no plaintext password with STORE_PLAINTEXT_PW=0.
    let o = ctl(
        url,
        &[("SIP_DOMAIN", "example.com"), ("STORE_PLAINTEXT_PW", "0")],
        &["passwd", "alice", "n3w"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        subscriber(&db, "alice", "example.com"),
        Some(vec![
            Value::from(""),
            Value::from("632d20938c01a720b83d285a13f21fc7"),
            Value::from("a485aec13f09584870bda84c549dcfb8"),
        ])
    );
    let o = ctl(url, &[], &["-D", "example.org", "add", "bob", "pw"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(subscriber(&db, "bob", "example.org").is_some());
    let o = ctl(url, &[], &["add", "carol", "pw"]);
    assert_eq!(o.status.code(), Some(2), "no domain: {}", text(&o));

    let o = ctl(url, &[], &["rm", "alice@example.com"]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(subscriber(&db, "alice", "example.com"), None);
    let o = ctl(url, &[], &["rm", "alice@example.com"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let o = ctl(url, &[], &["passwd", "alice@example.com", "x"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));

    let o = ctl(url, &[], &["db", "tables"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("subscriber\t7\t7\n"));
}

#[test]
fn sqlite_flow() {
    let path = std::env::temp_dir().join(format!("fsctl-db-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}", path.display());
    flow(&url);
    for ext in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(p);
    }
}

#[test]
fn groups_and_missing_url() {
    let path = std::env::temp_dir().join(format!("fsctl-grp-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let url = format!("sqlite://{}", path.display());
    let o = ctl(&url, &[], &["db", "create", "permissions", "htable"]);
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    // The version table comes along, created before the others.
    let db = Db::connect(&url).expect("connect");
    for (t, v) in [("trusted", 6), ("address", 6), ("htable", 2)] {
        assert!(
            out.contains(&format!("created table {t} (version {v})")),
            "{out}"
        );
        db.check_table_version(t, v).expect(t);
    }
    assert_eq!(db.table_version("subscriber").expect("query"), None);
    let o = ctl(&url, &[], &["db", "create", "nosuch"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = Command::new(env!("CARGO_BIN_EXE_ferrosip-ctl"))
        .env_remove("DBURL")
        .args(["add", "a@b", "c"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("DBURL"));
    for ext in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(p);
    }
}

fn server_flow(var: &str) {
    let Some(url) = server_url(var) else { return };
    let db = Db::connect(&url).expect("connect");
    drop_all(&db);
    flow(&url);
    drop_all(&db);
}

#[test]
fn postgres_flow() {
    server_flow("FERROSIP_TEST_PG_URL");
}

#[test]
fn mysql_flow() {
    server_flow("FERROSIP_TEST_MYSQL_URL");
}

#[test]
fn mysql_localhost_goes_through_the_unix_socket() {
    // As libmysqlclient does for Kamailio: host "localhost" means the socket, whatever the port.
    let Some(sock) = server_url("MYSQL_UNIX_PORT") else {
        return;
    };
    let o = Command::new(env!("CARGO_BIN_EXE_ferrosip-ctl"))
        .env("MYSQL_UNIX_PORT", &sock)
        .args([
            "-d",
            "mysql://root@localhost:1/ferrosip_test",
            "db",
            "tables",
        ])
        .output()
        .expect("run");
    assert!(o.status.success(), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).starts_with("table\texpected\tfound\n"));
    let o = Command::new(env!("CARGO_BIN_EXE_ferrosip-ctl"))
        .env("MYSQL_UNIX_PORT", "/nonexistent/mysqld.sock")
        .args(["-d", "mysql://root@localhost/ferrosip_test", "db", "tables"])
        .output()
        .expect("run");
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
}

/// The server URL in `var`, or `None` — the test is then skipped with a message — when it is unset.
/// `.ci/run` starts PostgreSQL and MariaDB (crates/db/scripts/test-servers.sh) and sets the URLs, so
/// in CI (`CI` set) a missing URL is a failure, not a skip.
fn server_url(var: &str) -> Option<String> {
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
