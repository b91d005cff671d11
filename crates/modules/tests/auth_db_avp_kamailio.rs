//! auth_db's `load_credentials` with class-prefixed, `s:` and `i:` AVP names: `is_subscriber`
//! loads a SQLite row into the AVPs, and the script reads them with other spellings of the same
//! AVPs. Run by ferrosip (in process) and by Kamailio 5.6.3 with db_sqlite on the same database
//! file; every `xlog` line is compared. Skipped when Kamailio or its db_sqlite module is missing
//! (failing under CI).

#[path = "common/harness.rs"]
mod harness;

use std::net::UdpSocket;
use std::path::Path;
use std::time::Duration;

use ferrosip_db::{schema, Db, Value as DbValue};

const LOAD: &str =
    "$avp(t.r)=rpid;$avp(fu.e)=email_address;$avp(i:3)=username;$avp(s:d)=domain;ha1b";

const BODY: &str = r#"
    is_subscriber("sip:alice@example.com", "subscriber", "0");
    xlog("L_ERR", "S rc=$rc\n");
    xlog("L_ERR", "R t=$avp(t.r) tr=$avp(tr.r) f=$avp(r) tu=$avp(tu.r)\n");
    xlog("L_ERR", "E f=$avp(f.e) fu=$avp(fu.e) fr=$avp(fr.e) plain=$avp(e)\n");
    xlog("L_ERR", "I i3=$avp(i:3) s3=$avp(s:3) D d=$avp(d) fr=$avp(fr.d) H $(avp(s:ha1b){s.len})\n");
"#;

fn config(port: Option<u16>, url: &str) -> String {
    let head = match port {
        Some(p) => format!(
            "#!KAMAILIO\ndebug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{p}\n\
             mpath=\"{}\"\n",
            harness::MPATH
        ),
        None => String::new(),
    };
    format!(
        "{head}loadmodule \"db_sqlite.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
         loadmodule \"sl.so\"\nloadmodule \"auth.so\"\nloadmodule \"auth_db.so\"\n\
         modparam(\"auth_db\", \"db_url\", \"{url}\")\n\
         modparam(\"auth_db\", \"load_credentials\", \"{LOAD}\")\n\
         request_route {{\n\tif ($ci == \"ping\") {{ xlog(\"L_ERR\", \"@@READY@@\\n\"); exit; }}\n\
         \txlog(\"L_ERR\", \"@@B $ci@@\\n\");\n{BODY}\n\txlog(\"L_ERR\", \"@@E $ci@@\\n\");\n\texit;\n}}\n"
    )
}

fn message(callid: &str) -> String {
    format!(
        "OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{callid}\r\n\
From: <sip:alice@example.com>;tag=a\r\nTo: <sip:alice@example.com>\r\nCall-ID: {callid}\r\n\
CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Kamailio's schema plus the rpid and email_address columns sites add, with alice.
fn database(file: &Path) {
    let url = format!("sqlite://{}", file.display());
    let db = Db::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    schema::create(&db, &schema::all()).unwrap_or_else(|e| panic!("{e}"));
    for col in ["rpid", "email_address"] {
        db.raw_execute(&format!(
            "ALTER TABLE subscriber ADD COLUMN {col} VARCHAR(128) DEFAULT NULL"
        ))
        .unwrap_or_else(|e| panic!("{e}"));
    }
    let row: Vec<(&str, DbValue)> = vec![
        ("username", "alice".into()),
        ("domain", "example.com".into()),
        ("password", "secret".into()),
        ("ha1", "0123456789abcdef0123456789abcdef".into()),
        ("ha1b", "fedcba9876543210fedcba9876543210".into()),
        ("email_address", "alice@mail.test".into()),
        ("rpid", "+4930123".into()),
    ];
    db.insert("subscriber", &row)
        .unwrap_or_else(|e| panic!("{e}"));
}

fn ferrosip_lines(cfg: String, callid: &str) -> Vec<String> {
    harness::request_log_lines(
        cfg,
        vec![
            ferrosip_modules::db_sqlite::exports(),
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
            ferrosip_modules::sl::exports(),
            ferrosip_modules::auth::exports(),
            ferrosip_modules::auth_db::exports(),
        ],
        &message(callid),
    )
}

#[test]
fn load_credentials_avp_spellings_as_kamailio() {
    let dir = std::env::temp_dir().join(format!("ferrosip-authdb-avp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
    let file = dir.join("k.db");
    database(&file);
    let callid = "authdb-avp";
    let ours = ferrosip_lines(
        config(None, &format!("sqlite://{}", file.display())),
        callid,
    );
    eprintln!("ours {ours:?}");
    let want = [
        "S rc=1",
        "R t=+4930123 tr=+4930123 f=<null> tu=<null>",
        "E f=alice@mail.test fu=alice@mail.test fr=<null> plain=alice@mail.test",
        "I i3=alice s3=<null> D d=example.com fr=example.com H 32",
    ];
    assert_eq!(ours, want);
    let sqlite_module = Path::new(harness::MPATH).join("db_sqlite.so");
    if !sqlite_module.exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI: {} is missing",
            sqlite_module.display()
        );
        eprintln!("skipped the Kamailio half: db_sqlite.so missing");
        let _ = std::fs::remove_dir_all(&dir);
        return;
    }
    let port = harness::free_port();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    // Kamailio 5.6's db_sqlite drops the slash after `sqlite://`: one more keeps the path whole.
    let kam_cfg = config(Some(port), &format!("sqlite:///{}", file.display()));
    if let Some(mut kam) = harness::Kamailio::start(&kam_cfg, port, &client, "authdbavp") {
        client
            .send_to(message(callid).as_bytes(), format!("127.0.0.1:{port}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(
            kam.wait_for(&format!("@@E {callid}@@"), Duration::from_secs(5)),
            "{}",
            kam.text()
        );
        let theirs = harness::kamailio_step(&kam.text(), callid).unwrap_or_default();
        eprintln!("theirs {theirs:?}");
        assert_eq!(ours, theirs);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
