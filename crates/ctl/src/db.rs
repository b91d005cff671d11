//! The database commands of `ferrosip-ctl`, like `kamdbctl create` and `kamctl add/passwd/rm`:
//! they talk to the database directly (through `ferrosip-db`), not to a running server.

use std::fmt::Write as _;

use anyhow::{anyhow, Context};
use ferrosip_db::{schema, Cond, Db, Value};
use md5::{Digest, Md5};

pub(crate) const USAGE: &str = "database commands (like kamdbctl / kamctl; they need no running server):
  ferrosip-ctl [-d URL] db create [table|group …]   create Kamailio's tables (default: all known)
  ferrosip-ctl [-d URL] db tables                   list known tables, their expected and found versions
  ferrosip-ctl [-d URL] db show <table>             print a table's rows (header line, tab-separated)
  ferrosip-ctl [-d URL] [-D domain] add <user[@domain]> <password>
  ferrosip-ctl [-d URL] [-D domain] passwd <user[@domain]> <password>
  ferrosip-ctl [-d URL] [-D domain] rm <user[@domain]>
  -d URL     sqlite:///path/file.db, postgres://user:pw@host[:port]/db, mysql://user:pw@host[:port]/db
             (default: env DBURL)
  -D domain  domain of users given without one (default: env SIP_DOMAIN)
  env STORE_PLAINTEXT_PW=0 leaves the password column empty (only ha1/ha1b are stored), as in kamctlrc";

/// Why a command failed: the command line (exit 2) or the database refused / was unreachable (exit 1).
#[derive(Debug)]
pub(crate) enum Failure {
    Usage(anyhow::Error),
    Failed(anyhow::Error),
}

impl From<ferrosip_db::Error> for Failure {
    fn from(e: ferrosip_db::Error) -> Self {
        Failure::Failed(e.into())
    }
}

/// Whether these arguments are a database command (its first word, after options, is one).
pub(crate) fn wants(args: &[String]) -> bool {
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-d" | "-D" | "-s" | "-r" | "-t" => {
                it.next();
            }
            w => return matches!(w, "db" | "add" | "passwd" | "rm"),
        }
    }
    false
}

/// Runs a database command; `env` reads an environment variable (injected for tests).
pub(crate) fn run(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, Failure> {
    let mut url = env("DBURL");
    let mut domain = env("SIP_DOMAIN").filter(|d| !d.is_empty());
    let plaintext = env("STORE_PLAINTEXT_PW").is_none_or(|v| v != "0");
    let mut words: Vec<&str> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "-d" => url = Some(it.next().ok_or_else(|| usage("-d needs a URL"))?.clone()),
            "-D" => domain = Some(it.next().ok_or_else(|| usage("-D needs a domain"))?.clone()),
            "-h" | "--help" => return Err(usage(USAGE)),
            o if o.starts_with('-') && words.is_empty() => {
                return Err(usage(&format!("{o} is not an option of database commands")))
            }
            w => words.push(w),
        }
    }
    let url = url.ok_or_else(|| usage("no database: give -d URL or set DBURL"))?;
    let (cmd, rest) = words.split_first().ok_or_else(|| usage(USAGE))?;
    let connect = || Db::connect(&url).map_err(Failure::from);
    match (*cmd, rest) {
        ("db", ["create", names @ ..]) => create(&connect()?, names),
        ("db", ["tables"]) => tables(&connect()?),
        ("db", ["show", table]) => show(&connect()?, table),
        ("add", [user, password]) => {
            let (u, d) = split_user(user, domain.as_deref())?;
            add(&connect()?, &u, &d, password, plaintext)
        }
        ("passwd", [user, password]) => {
            let (u, d) = split_user(user, domain.as_deref())?;
            passwd(&connect()?, &u, &d, password, plaintext)
        }
        ("rm", [user]) => {
            let (u, d) = split_user(user, domain.as_deref())?;
            rm(&connect()?, &u, &d)
        }
        _ => Err(usage(USAGE)),
    }
}

fn usage(msg: &str) -> Failure {
    Failure::Usage(anyhow!("{msg}"))
}

fn failed(msg: String) -> Failure {
    Failure::Failed(anyhow!(msg))
}

/// `user@domain` or `user` with the default domain, as kamctl's `set_user` splits it.
fn split_user(s: &str, default_domain: Option<&str>) -> Result<(String, String), Failure> {
    let (user, domain) = match s.split_once('@') {
        Some((u, d)) => (u, Some(d)),
        None => (s, default_domain),
    };
    let domain = domain.filter(|d| !d.is_empty()).ok_or_else(|| {
        usage("domain unknown: use usernames with domain or set default domain in SIP_DOMAIN (-D)")
    })?;
    if user.is_empty() || domain.contains('@') {
        return Err(usage(&format!("invalid user {s:?}")));
    }
    Ok((user.to_string(), domain.to_string()))
}

fn md5_hex(s: &str) -> String {
    let mut out = String::with_capacity(32);
    for b in Md5::digest(s.as_bytes()) {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// kamctl's `ha1` = MD5(user:realm:password) and `ha1b` = MD5(user@domain:realm:password), with
/// realm = domain.
pub(crate) fn ha1_pair(user: &str, domain: &str, password: &str) -> (String, String) {
    (
        md5_hex(&format!("{user}:{domain}:{password}")),
        md5_hex(&format!("{user}@{domain}:{domain}:{password}")),
    )
}

fn account<'a>(user: &'a str, domain: &'a str) -> [Cond<'a>; 2] {
    [Cond::eq("username", user), Cond::eq("domain", domain)]
}

fn exists(db: &Db, user: &str, domain: &str) -> Result<bool, Failure> {
    Ok(!db
        .query("subscriber", &account(user, domain), &["id"], None)?
        .is_empty())
}

fn add(db: &Db, user: &str, domain: &str, pw: &str, plaintext: bool) -> Result<String, Failure> {
    if exists(db, user, domain)? {
        return Err(failed(format!("user '{user}@{domain}' already exists")));
    }
    let (ha1, ha1b) = ha1_pair(user, domain, pw);
    db.insert(
        "subscriber",
        &[
            ("username", Value::from(user)),
            ("domain", Value::from(domain)),
            ("ha1", Value::from(ha1)),
            ("ha1b", Value::from(ha1b)),
            ("password", Value::from(if plaintext { pw } else { "" })),
        ],
    )
    .map_err(|e| match e {
        // Lost a race with another `add` of the same user.
        ferrosip_db::Error::Duplicate(_) => {
            failed(format!("user '{user}@{domain}' already exists"))
        }
        e => e.into(),
    })?;
    Ok(format!("new user '{user}@{domain}' added\n"))
}

fn passwd(db: &Db, user: &str, domain: &str, pw: &str, plaintext: bool) -> Result<String, Failure> {
    let (ha1, ha1b) = ha1_pair(user, domain, pw);
    let n = db.update(
        "subscriber",
        &account(user, domain),
        &[
            ("ha1", Value::from(ha1)),
            ("ha1b", Value::from(ha1b)),
            ("password", Value::from(if plaintext { pw } else { "" })),
        ],
    )?;
    if n == 0 {
        return Err(failed(format!("non-existent user '{user}@{domain}'")));
    }
    Ok("password change succeeded\n".to_string())
}

fn rm(db: &Db, user: &str, domain: &str) -> Result<String, Failure> {
    if !exists(db, user, domain)? {
        return Err(failed(format!("non-existent user '{user}@{domain}'")));
    }
    // kamctl also removes the user's aliases; the table is optional (alias_db may not be in use).
    if db.table_version("dbaliases").ok().flatten().is_some() {
        db.delete("dbaliases", &account(user, domain))?;
    }
    db.delete("subscriber", &account(user, domain))?;
    Ok(format!("user '{user}@{domain}' removed\n"))
}

/// The tables named (by table or by Kamailio module group), all when none is named.
fn select_tables(names: &[&str]) -> Result<Vec<&'static schema::Table>, Failure> {
    if names.is_empty() {
        return Ok(schema::all());
    }
    let mut out: Vec<&'static schema::Table> = Vec::new();
    for n in names {
        let found: Vec<_> = schema::TABLES
            .iter()
            .filter(|t| t.name == *n || t.group == *n)
            .collect();
        if found.is_empty() {
            return Err(usage(&format!(
                "unknown table or group {n:?}; known: {}",
                schema::TABLES
                    .iter()
                    .map(|t| t.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        for t in found {
            if !out.iter().any(|o| o.name == t.name) {
                out.push(t);
            }
        }
    }
    Ok(out)
}

fn create(db: &Db, names: &[&str]) -> Result<String, Failure> {
    let tables = select_tables(names)?;
    schema::create(db, &tables)
        .with_context(|| format!("creating tables in {}", db.url()))
        .map_err(Failure::Failed)?;
    let mut out = String::new();
    for t in &tables {
        let _ = writeln!(out, "created table {} (version {})", t.name, t.version);
    }
    Ok(out)
}

fn tables(db: &Db) -> Result<String, Failure> {
    let mut out = String::from("table\texpected\tfound\n");
    for t in schema::TABLES {
        let found = match db.table_version(t.name) {
            Ok(Some(v)) => v.to_string(),
            Ok(None) => "-".to_string(),
            // No version table at all.
            Err(_) => "-".to_string(),
        };
        let _ = writeln!(out, "{}\t{}\t{found}", t.name, t.version);
    }
    Ok(out)
}

/// `db show TABLE` (kamctl's `db show`): every row, a header line of column names first, values
/// tab-separated, NULL as `NULL`. The table name is checked by ferrosip-db like any identifier.
fn show(db: &Db, table: &str) -> Result<String, Failure> {
    let rows = db.query(table, &[], &[], None)?;
    let mut out = rows.columns.join("\t");
    out.push('\n');
    for row in &rows.rows {
        let cells: Vec<String> = row.iter().map(Value::to_string).collect();
        out.push_str(&cells.join("\t"));
        out.push('\n');
    }
    Ok(out)
}

/// Maps a failure to the message and exit code `main` uses.
pub(crate) fn report(f: Failure) -> (String, i32) {
    match f {
        Failure::Usage(e) => (format!("{e:#}"), 2),
        Failure::Failed(e) => (format!("{e:#}"), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn recognises_database_commands() {
        let cases: [(&[&str], bool); 7] = [
            (&["db", "create"], true),
            (&["-d", "sqlite:///x", "add", "a", "b"], true),
            (&["-D", "example.com", "rm", "a"], true),
            (&["passwd", "a", "b"], true),
            (&["core.echo", "db"], false),
            (&["-s", "unix:/x", "core.version"], false),
            (&[], false),
        ];
        for (a, want) in cases {
            assert_eq!(wants(&args(a)), want, "{a:?}");
        }
    }

    #[test]
    fn ha1_like_kamctl() {
        // Known answers: `echo -n 'alice:example.com:secret' | md5sum` and the ha1b string.
        let (ha1, ha1b) = ha1_pair("alice", "example.com", "secret");
        assert_eq!(ha1, "b1726872c344b6dc8365b774f8fd6412");
        assert_eq!(ha1b, "c79656e4f06dbae9fdf6727654273c65");
    }

    #[test]
    fn users_and_domains() {
        let cases = [
            ("alice@example.com", None, Some(("alice", "example.com"))),
            ("alice", Some("d.org"), Some(("alice", "d.org"))),
            (
                "alice@example.com",
                Some("d.org"),
                Some(("alice", "example.com")),
            ),
            ("alice", None, None),
            ("@example.com", None, None),
            ("a@b@c", None, None),
        ];
        for (s, def, want) in cases {
            let got = split_user(s, def).ok();
            assert_eq!(
                got,
                want.map(|(u, d)| (u.to_string(), d.to_string())),
                "{s}"
            );
        }
    }

    #[test]
    fn command_line_errors_are_usage() {
        let env = |_: &str| None;
        for a in [
            &["add", "a@b", "pw"][..],
            &["-d", "sqlite:///tmp/x.db", "add", "a@b"],
            &["-d", "sqlite:///tmp/x.db", "db", "drop"],
            &["-d", "sqlite:///tmp/x.db", "-x", "add"],
            &["-d", "sqlite:///tmp/x.db", "add", "a", "pw"],
        ] {
            match run(&args(a), &env) {
                Err(Failure::Usage(_)) => {}
                other => panic!("{a:?}: {other:?}"),
            }
        }
    }
}
