//! Kamailio itself on a database made by `ferrosip-ctl`: `db create` + `add`, then Kamailio 5.6
//! (auth_db + usrloc db_mode=1 over db_sqlite, or db_postgres / db_mysql) authenticates a REGISTER
//! with digest, writes the contact, and finds a contact that ferrosip-db wrote. This checks that
//! our schema, version rows, ha1 and date/time encoding are what Kamailio expects.
//!
//! Needs `/usr/sbin/kamailio` and Debian's kamailio-sqlite-modules (and -postgres- / -mysql-
//! modules for the server variants), which `.ci/run` does not install yet: ignored by default.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use ferrosip_db::{schema, Cond, Db, Dialect, Value};
use md5::{Digest, Md5};

const KAMAILIO: &str = "/usr/sbin/kamailio";
const MODULES: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules";

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn ctl(url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ferrosip-ctl"))
        .env("DBURL", url)
        .env_remove("SIP_DOMAIN")
        .args(args)
        .output()
        .expect("run ferrosip-ctl")
}

struct Kamailio {
    child: Child,
    dir: PathBuf,
}

impl Kamailio {
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("kamailio.log")).unwrap_or_default()
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // Kamailio forks its workers into the process group we gave it: SIGTERM to the main
        // process makes it stop them; the group gets SIGKILL if anything is still there after 5 s.
        let pgid = self.child.id() as libc::pid_t;
        // SAFETY: plain kill(2) on the process group we created for this child.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(5) {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // SAFETY: as above; the group is ours, and ESRCH (already gone) is fine.
        unsafe { libc::kill(-pgid, libc::SIGKILL) };
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn start(db_module: &str, url: &str, port: u16, dir: &Path) -> Kamailio {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("run")).expect("dir");
    let cfg = format!(
        r#"#!KAMAILIO
debug=2
log_stderror=yes
children=1
listen=udp:127.0.0.1:{port}
mpath="{MODULES}/"
loadmodule "{db_module}.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
modparam("auth_db", "db_url", "{url}")
modparam("usrloc", "db_url", "{url}")
modparam("usrloc", "db_mode", 1)
request_route {{
    if (method == "REGISTER") {{
        if (!www_authorize("$td", "subscriber")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (lookup("location")) {{
        sl_send_reply("200", "found $ru");
        exit;
    }}
    sl_send_reply("404", "no contact");
}}
"#
    );
    let cfg_path = dir.join("kamailio.cfg");
    std::fs::write(&cfg_path, cfg).expect("cfg");
    let log = std::fs::File::create(dir.join("kamailio.log")).expect("log");
    // -w /: Kamailio opens sqlite:///abs/path as the relative path "abs/path" (see DbUrl::parse).
    let child = Command::new(KAMAILIO)
        .process_group(0)
        .arg("-f")
        .arg(&cfg_path)
        .args(["-DD", "-E", "-m", "64", "-M", "8", "-w", "/", "-Y"])
        .arg(dir.join("run"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("spawn kamailio");
    let mut k = Kamailio {
        child,
        dir: dir.to_path_buf(),
    };
    let t0 = Instant::now();
    while UdpSocket::bind(("127.0.0.1", port)).is_ok() {
        if let Ok(Some(st)) = k.child.try_wait() {
            panic!("kamailio exited ({st}): {}", k.log());
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "{}", k.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    k
}

/// Sends `msg` and returns the first response line and the WWW-Authenticate nonce, if any.
fn exchange(sock: &UdpSocket, to: SocketAddr, msg: &str) -> (String, Option<String>) {
    sock.send_to(msg.as_bytes(), to).expect("send");
    let mut buf = [0u8; 4096];
    let n = sock.recv(&mut buf).expect("no answer from kamailio");
    let text = String::from_utf8_lossy(&buf[..n]).into_owned();
    let first = text.lines().next().unwrap_or_default().to_string();
    let nonce = text
        .lines()
        .find(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .and_then(|l| l.split("nonce=\"").nth(1))
        .and_then(|r| r.split('"').next())
        .map(str::to_string);
    (first, nonce)
}

fn register(sock: &UdpSocket, cseq: u32, auth: Option<&str>) -> String {
    let lport = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    format!(
        "REGISTER sip:example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-db-{cseq};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=dbtest\r\n\
         To: <sip:alice@example.com>\r\n\
         Call-ID: db-interop-{lport}@127.0.0.1\r\n\
         CSeq: {cseq} REGISTER\r\n\
         Contact: <sip:alice@127.0.0.1:{lport}>\r\n\
         Expires: 3600\r\n\
         {}Content-Length: 0\r\n\r\n",
        auth.map(|a| format!("Authorization: {a}\r\n"))
            .unwrap_or_default()
    )
}

fn digest(nonce: &str, password: &str) -> String {
    let ha1 = md5_hex(&format!("alice:example.com:{password}"));
    let ha2 = md5_hex("REGISTER:sip:example.com");
    let resp = md5_hex(&format!("{ha1}:{nonce}:{ha2}"));
    format!(
        "Digest username=\"alice\", realm=\"example.com\", nonce=\"{nonce}\", \
         uri=\"sip:example.com\", response=\"{resp}\", algorithm=MD5"
    )
}

fn options(sock: &UdpSocket, user: &str) -> String {
    let lport = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    format!(
        "OPTIONS sip:{user}@example.com SIP/2.0\r\n\
         Via: SIP/2.0/UDP 127.0.0.1:{lport};branch=z9hG4bK-opt-{user};rport\r\n\
         Max-Forwards: 70\r\n\
         From: <sip:alice@example.com>;tag=opt\r\n\
         To: <sip:{user}@example.com>\r\n\
         Call-ID: db-opt-{user}-{lport}@127.0.0.1\r\n\
         CSeq: 1 OPTIONS\r\n\
         Content-Length: 0\r\n\r\n"
    )
}

fn interop(db_module: &str, url: &str) {
    assert!(
        Path::new(KAMAILIO).exists() && Path::new(&format!("{MODULES}/{db_module}.so")).exists(),
        "needs {KAMAILIO} and {MODULES}/{db_module}.so"
    );
    let o = ctl(url, &["db", "create"]);
    assert!(o.status.success(), "{o:?}");
    let o = ctl(url, &["add", "alice@example.com", "secret"]);
    assert!(o.status.success(), "{o:?}");
    let db = Db::connect(url).expect("connect");
    // Contacts that ferrosip-db writes: one valid, one expired. Kamailio loads them at startup.
    let t = now();
    for (ruid, user, expires) in [("fs-1", "bob", t + 600), ("fs-2", "carol", t - 600)] {
        db.insert(
            "location",
            &[
                ("ruid", Value::from(ruid)),
                ("username", Value::from(user)),
                ("contact", Value::from(format!("sip:{user}@192.0.2.7:5060"))),
                ("expires", Value::DateTime(expires)),
                ("last_modified", Value::DateTime(t)),
                ("callid", Value::from(format!("c-{ruid}"))),
            ],
        )
        .expect("insert contact");
    }
    let port = free_udp_port();
    let dir = std::env::temp_dir().join(format!("fsctl-kam-{db_module}-{}", std::process::id()));
    let k = start(db_module, url, port, &dir);
    let to: SocketAddr = ([127, 0, 0, 1], port).into();
    let sock = UdpSocket::bind("127.0.0.1:0").expect("bind");
    sock.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");

    let (first, nonce) = exchange(&sock, to, &register(&sock, 1, None));
    assert!(first.starts_with("SIP/2.0 401"), "{first}\n{}", k.log());
    let nonce = nonce.expect("nonce");
    let (first, nonce2) = exchange(
        &sock,
        to,
        &register(&sock, 2, Some(&digest(&nonce, "wrong"))),
    );
    assert!(
        first.starts_with("SIP/2.0 401"),
        "wrong password: {first}\n{}",
        k.log()
    );
    let nonce = nonce2.unwrap_or(nonce);
    let (first, _) = exchange(
        &sock,
        to,
        &register(&sock, 3, Some(&digest(&nonce, "secret"))),
    );
    assert!(first.starts_with("SIP/2.0 200"), "{first}\n{}", k.log());

    // What Kamailio wrote, read through ferrosip-db.
    let rows = db
        .query(
            "location",
            &[Cond::eq("username", "alice")],
            &["contact", "expires", "last_modified", "cseq"],
            None,
        )
        .expect("query location");
    assert_eq!(rows.len(), 1, "{rows:?}\n{}", k.log());
    let lport = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    assert_eq!(
        rows.get(0, "contact"),
        Some(&Value::from(format!("sip:alice@127.0.0.1:{lport}")))
    );
    assert_eq!(rows.get(0, "cseq"), Some(&Value::Int(3)));
    let expires = rows
        .get(0, "expires")
        .and_then(Value::as_datetime)
        .expect("datetime");
    let t = now();
    assert!(
        (t + 3590..=t + 3610).contains(&expires),
        "expires {expires}, now {t}"
    );
    let modified = rows
        .get(0, "last_modified")
        .and_then(Value::as_datetime)
        .expect("datetime");
    assert!(
        (t - 10..=t + 1).contains(&modified),
        "last_modified {modified}, now {t}"
    );

    // What ferrosip-db wrote, read by Kamailio.
    let (first, _) = exchange(&sock, to, &options(&sock, "bob"));
    assert_eq!(
        first,
        "SIP/2.0 200 found sip:bob@192.0.2.7:5060",
        "{}",
        k.log()
    );
    let (first, _) = exchange(&sock, to, &options(&sock, "carol"));
    assert!(first.starts_with("SIP/2.0 404"), "expired contact: {first}");
    drop(k);
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

#[test]
fn kamailio_uses_our_sqlite_database() {
    if !have_kamailio_file(&format!("{MODULES}/db_sqlite.so")) {
        return;
    }
    let path = std::env::temp_dir().join(format!("fsctl-kam-{}.sqlite", std::process::id()));
    let _ = std::fs::remove_file(&path);
    interop("db_sqlite", &format!("sqlite://{}", path.display()));
    for ext in ["", "-wal", "-shm"] {
        let mut p = path.clone().into_os_string();
        p.push(ext);
        let _ = std::fs::remove_file(p);
    }
}

fn server(var: &str, module: &str) {
    let Some(url) = server_url(var) else { return };
    if !have_kamailio_file(&format!("{MODULES}/{module}.so")) {
        return;
    }
    let db = Db::connect(&url).expect("connect");
    drop_all(&db);
    interop(module, &url);
    drop_all(&db);
}

#[test]
fn kamailio_uses_our_postgres_database() {
    server("FERROSIP_TEST_PG_URL", "db_postgres");
}

#[test]
fn kamailio_uses_our_mysql_database() {
    server("FERROSIP_TEST_MYSQL_URL", "db_mysql");
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
