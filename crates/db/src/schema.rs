//! Kamailio 6.0's table schema (the tables its `utils/kamctl/*/…-create.sql` scripts create), described
//! once as data and printed as DDL for each dialect: table and column names, types, defaults,
//! NOT NULL, unique constraints, indexes and the `version` rows are Kamailio's, so Kamailio and
//! ferrosip can use the same database. Index names follow Kamailio's per-dialect habit: prefixed
//! with the table name on SQLite and PostgreSQL (where index names are global), bare on MySQL.
//!
//! Covered: version; subscriber (auth_db); location, location_attrs (usrloc); aliases (registrar);
//! dbaliases (alias_db); domain, domain_attrs (domain); trusted, address (permissions); htable;
//! acc, acc_cdrs, missed_calls (acc); dispatcher; usr_preferences (avpops); speed_dial. Not
//! covered: dialog, presence, and the other modules' tables.

use crate::url::Dialect;
use crate::{Db, Error};

/// Column types used by these tables, named after Kamailio's schema XML types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColType {
    /// The auto-increment primary key `id`.
    Id,
    Int,
    /// `unsigned int` (MySQL only; INTEGER elsewhere).
    UInt,
    /// `unsigned int` that Kamailio's MySQL script spells INT(11) UNSIGNED (`address.grp`); the
    /// display width shows in MySQL's catalog, so it is kept.
    UInt11,
    /// `unsigned short`: MySQL SMALLINT(5) UNSIGNED, SMALLINT elsewhere.
    SmallUInt,
    /// `float` with this many decimals on MySQL (FLOAT(10,d)); REAL elsewhere.
    Float(u8),
    VarChar(u16),
    /// DATETIME on MySQL, TIMESTAMP WITHOUT TIME ZONE elsewhere.
    DateTime,
}

/// A column default, written as Kamailio writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColDefault {
    None,
    Null,
    /// A literal written as is (numbers).
    Num(&'static str),
    /// A quoted string literal.
    Str(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Column {
    pub name: &'static str,
    pub ty: ColType,
    pub default: ColDefault,
    pub not_null: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Index {
    /// Name without the table prefix, e.g. `account_idx`.
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub unique: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Table {
    pub name: &'static str,
    /// The Kamailio module whose `…-create.sql` holds it (`standard` for `version`).
    pub group: &'static str,
    /// The row written into the version table.
    pub version: i64,
    pub columns: &'static [Column],
    pub indexes: &'static [Index],
}

const fn col(name: &'static str, ty: ColType, default: ColDefault, not_null: bool) -> Column {
    Column {
        name,
        ty,
        default,
        not_null,
    }
}
const fn idx(name: &'static str, columns: &'static [&'static str]) -> Index {
    Index {
        name,
        columns,
        unique: false,
    }
}
const fn uniq(name: &'static str, columns: &'static [&'static str]) -> Index {
    Index {
        name,
        columns,
        unique: true,
    }
}

use ColDefault::{None as NoDef, Null, Num, Str};
use ColType::*;

const ID: Column = col("id", Id, NoDef, true);
const LAST_MODIFIED: Column = col("last_modified", DateTime, Str("2000-01-01 00:00:01"), true);

/// Columns shared by `location` and `aliases` (they differ in `contact` and `received` sizes).
macro_rules! contact_table {
    ($contact:expr, $received:expr) => {
        &[
            ID,
            col("ruid", VarChar(64), Str(""), true),
            col("username", VarChar(64), Str(""), true),
            col("domain", VarChar(64), Null, false),
            col("contact", VarChar($contact), Str(""), true),
            col("received", VarChar($received), Null, false),
            col("path", VarChar(512), Null, false),
            col("expires", DateTime, Str("2030-05-28 21:32:15"), true),
            col("q", Float(2), Num("1.0"), true),
            col("callid", VarChar(255), Str("Default-Call-ID"), true),
            col("cseq", Int, Num("1"), true),
            LAST_MODIFIED,
            col("flags", Int, Num("0"), true),
            col("cflags", Int, Num("0"), true),
            col("user_agent", VarChar(255), Str(""), true),
            col("socket", VarChar(64), Null, false),
            col("methods", Int, Null, false),
            col("instance", VarChar(255), Null, false),
            col("reg_id", Int, Num("0"), true),
            col("server_id", Int, Num("0"), true),
            col("connection_id", Int, Num("0"), true),
            col("keepalive", Int, Num("0"), true),
            col("partition", Int, Num("0"), true),
        ]
    };
}

const ACC_COLUMNS: &[Column] = &[
    ID,
    col("method", VarChar(16), Str(""), true),
    col("from_tag", VarChar(128), Str(""), true),
    col("to_tag", VarChar(128), Str(""), true),
    col("callid", VarChar(255), Str(""), true),
    col("sip_code", VarChar(3), Str(""), true),
    col("sip_reason", VarChar(128), Str(""), true),
    col("time", DateTime, NoDef, true),
];

/// Every table ferrosip can create, in creation order (`version` first).
pub const TABLES: &[Table] = &[
    Table {
        name: "version",
        group: "standard",
        version: 1,
        columns: &[
            ID,
            col("table_name", VarChar(32), NoDef, true),
            col("table_version", UInt, Num("0"), true),
        ],
        indexes: &[uniq("table_name_idx", &["table_name"])],
    },
    Table {
        name: "subscriber",
        group: "auth_db",
        version: 7,
        columns: &[
            ID,
            col("username", VarChar(64), Str(""), true),
            col("domain", VarChar(64), Str(""), true),
            col("password", VarChar(64), Str(""), true),
            col("ha1", VarChar(128), Str(""), true),
            col("ha1b", VarChar(128), Str(""), true),
        ],
        indexes: &[
            uniq("account_idx", &["username", "domain"]),
            idx("username_idx", &["username"]),
        ],
    },
    Table {
        name: "location",
        group: "usrloc",
        version: 9,
        columns: contact_table!(512, 128),
        indexes: &[
            uniq("ruid_idx", &["ruid"]),
            idx("account_contact_idx", &["username", "domain", "contact"]),
            idx("expires_idx", &["expires"]),
            idx("tcpcon_idx", &["connection_id"]),
            idx("connection_idx", &["server_id", "connection_id"]),
        ],
    },
    Table {
        name: "location_attrs",
        group: "usrloc",
        version: 1,
        columns: &[
            ID,
            col("ruid", VarChar(64), Str(""), true),
            col("username", VarChar(64), Str(""), true),
            col("domain", VarChar(64), Null, false),
            col("aname", VarChar(64), Str(""), true),
            col("atype", Int, Num("0"), true),
            col("avalue", VarChar(512), Str(""), true),
            LAST_MODIFIED,
        ],
        indexes: &[
            idx("account_record_idx", &["username", "domain", "ruid"]),
            idx("last_modified_idx", &["last_modified"]),
        ],
    },
    Table {
        name: "aliases",
        group: "registrar",
        version: 8,
        columns: contact_table!(255, 255),
        indexes: &[
            uniq("ruid_idx", &["ruid"]),
            idx("account_contact_idx", &["username", "domain", "contact"]),
            idx("expires_idx", &["expires"]),
        ],
    },
    Table {
        name: "dbaliases",
        group: "alias_db",
        version: 1,
        columns: &[
            ID,
            col("alias_username", VarChar(64), Str(""), true),
            col("alias_domain", VarChar(64), Str(""), true),
            col("username", VarChar(64), Str(""), true),
            col("domain", VarChar(64), Str(""), true),
        ],
        indexes: &[
            idx("alias_user_idx", &["alias_username"]),
            idx("alias_idx", &["alias_username", "alias_domain"]),
            idx("target_idx", &["username", "domain"]),
        ],
    },
    Table {
        name: "domain",
        group: "domain",
        version: 2,
        columns: &[
            ID,
            col("domain", VarChar(64), NoDef, true),
            col("did", VarChar(64), Null, false),
            LAST_MODIFIED,
        ],
        indexes: &[uniq("domain_idx", &["domain"])],
    },
    Table {
        name: "domain_attrs",
        group: "domain",
        version: 1,
        columns: &[
            ID,
            col("did", VarChar(64), NoDef, true),
            col("name", VarChar(32), NoDef, true),
            col("type", UInt, NoDef, true),
            col("value", VarChar(255), NoDef, true),
            LAST_MODIFIED,
        ],
        indexes: &[idx("domain_attrs_idx", &["did", "name"])],
    },
    Table {
        name: "trusted",
        group: "permissions",
        version: 6,
        columns: &[
            ID,
            col("src_ip", VarChar(50), NoDef, true),
            col("proto", VarChar(4), NoDef, true),
            col("from_pattern", VarChar(64), Null, false),
            col("ruri_pattern", VarChar(64), Null, false),
            col("tag", VarChar(64), NoDef, false),
            col("priority", Int, Num("0"), true),
        ],
        indexes: &[idx("peer_idx", &["src_ip"])],
    },
    Table {
        name: "address",
        group: "permissions",
        version: 6,
        columns: &[
            ID,
            col("grp", UInt11, Num("1"), true),
            col("ip_addr", VarChar(50), NoDef, true),
            col("mask", Int, Num("32"), true),
            col("port", SmallUInt, Num("0"), true),
            col("tag", VarChar(64), NoDef, false),
        ],
        indexes: &[],
    },
    Table {
        name: "htable",
        group: "htable",
        version: 2,
        columns: &[
            ID,
            col("key_name", VarChar(256), Str(""), true),
            col("key_type", Int, Num("0"), true),
            col("value_type", Int, Num("0"), true),
            col("key_value", VarChar(512), Str(""), true),
            col("expires", Int, Num("0"), true),
        ],
        indexes: &[],
    },
    Table {
        name: "acc",
        group: "acc",
        version: 5,
        columns: ACC_COLUMNS,
        indexes: &[idx("callid_idx", &["callid"])],
    },
    Table {
        name: "acc_cdrs",
        group: "acc",
        version: 2,
        columns: &[
            ID,
            col("start_time", DateTime, Str("2000-01-01 00:00:00"), true),
            col("end_time", DateTime, Str("2000-01-01 00:00:00"), true),
            col("duration", Float(3), Num("0"), true),
        ],
        indexes: &[idx("start_time_idx", &["start_time"])],
    },
    Table {
        name: "missed_calls",
        group: "acc",
        version: 4,
        columns: ACC_COLUMNS,
        indexes: &[idx("callid_idx", &["callid"])],
    },
    Table {
        name: "dispatcher",
        group: "dispatcher",
        version: 4,
        columns: &[
            ID,
            col("setid", Int, Num("0"), true),
            col("destination", VarChar(192), Str(""), true),
            col("flags", Int, Num("0"), true),
            col("priority", Int, Num("0"), true),
            col("attrs", VarChar(128), Str(""), true),
            col("description", VarChar(64), Str(""), true),
        ],
        indexes: &[],
    },
    Table {
        name: "usr_preferences",
        group: "avpops",
        version: 2,
        columns: &[
            ID,
            col("uuid", VarChar(64), Str(""), true),
            // Kamailio's schema really says DEFAULT 0 for this string column.
            col("username", VarChar(255), Num("0"), true),
            col("domain", VarChar(64), Str(""), true),
            col("attribute", VarChar(32), Str(""), true),
            col("type", Int, Num("0"), true),
            col("value", VarChar(128), Str(""), true),
            LAST_MODIFIED,
        ],
        indexes: &[
            idx("ua_idx", &["uuid", "attribute"]),
            idx("uda_idx", &["username", "domain", "attribute"]),
        ],
    },
    Table {
        name: "speed_dial",
        group: "speeddial",
        version: 2,
        columns: &[
            ID,
            col("username", VarChar(64), Str(""), true),
            col("domain", VarChar(64), Str(""), true),
            col("sd_username", VarChar(64), Str(""), true),
            col("sd_domain", VarChar(64), Str(""), true),
            col("new_uri", VarChar(255), Str(""), true),
            col("fname", VarChar(64), Str(""), true),
            col("lname", VarChar(64), Str(""), true),
            col("description", VarChar(64), Str(""), true),
        ],
        indexes: &[uniq(
            "speed_dial_idx",
            &["username", "domain", "sd_domain", "sd_username"],
        )],
    },
];

/// The table called `name`, if ferrosip knows its schema.
pub fn table(name: &str) -> Option<&'static Table> {
    TABLES.iter().find(|t| t.name == name)
}

/// The version Kamailio 6.0 expects for `name` (what a module passes to
/// [`Db::check_table_version`]).
pub fn version_of(name: &str) -> Option<i64> {
    table(name).map(|t| t.version)
}

fn col_type(d: Dialect, t: ColType) -> String {
    match (d, t) {
        (Dialect::Mysql, Id) => "INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY".into(),
        (Dialect::Postgres, Id) => "SERIAL PRIMARY KEY".into(),
        // INTEGER PRIMARY KEY is SQLite's rowid alias: automatically numbered.
        (Dialect::Sqlite, Id) => "INTEGER PRIMARY KEY".into(),
        (Dialect::Mysql, Int) => "INT".into(),
        (_, Int) => "INTEGER".into(),
        (Dialect::Mysql, UInt) => "INT UNSIGNED".into(),
        (Dialect::Mysql, UInt11) => "INT(11) UNSIGNED".into(),
        (_, UInt | UInt11) => "INTEGER".into(),
        (Dialect::Mysql, SmallUInt) => "SMALLINT(5) UNSIGNED".into(),
        (_, SmallUInt) => "SMALLINT".into(),
        (Dialect::Mysql, Float(d)) => format!("FLOAT(10,{d})"),
        (_, Float(_)) => "REAL".into(),
        (_, VarChar(n)) => format!("VARCHAR({n})"),
        (Dialect::Mysql, DateTime) => "DATETIME".into(),
        (_, DateTime) => "TIMESTAMP WITHOUT TIME ZONE".into(),
    }
}

fn quote(d: Dialect, name: &str) -> String {
    if d == Dialect::Mysql {
        format!("`{name}`")
    } else {
        name.to_string()
    }
}

fn index_name(d: Dialect, table: &str, i: &Index) -> String {
    if d == Dialect::Mysql {
        i.name.to_string()
    } else {
        format!("{table}_{}", i.name)
    }
}

/// `CREATE TABLE`, its indexes and its version row, as one script. The `version` table itself is
/// created under the name `version_table` (Kamailio's `version_table` parameter); its own row still
/// says `version`, as Kamailio's scripts write it.
pub fn create_sql(d: Dialect, t: &Table, version_table: &str) -> String {
    let name = if t.name == "version" {
        version_table
    } else {
        t.name
    };
    let mut s = format!("CREATE TABLE {} (\n", quote(d, name));
    let mut lines: Vec<String> = t
        .columns
        .iter()
        .map(|c| {
            let mut l = format!("    {} {}", quote(d, c.name), col_type(d, c.ty));
            match c.default {
                ColDefault::None => {}
                ColDefault::Null => l.push_str(" DEFAULT NULL"),
                ColDefault::Num(n) => {
                    l.push_str(" DEFAULT ");
                    l.push_str(n);
                }
                ColDefault::Str(v) => {
                    l.push_str(" DEFAULT '");
                    l.push_str(&v.replace('\'', "''"));
                    l.push('\'');
                }
            }
            if c.not_null {
                l.push_str(" NOT NULL");
            }
            l
        })
        .collect();
    for i in t.indexes.iter().filter(|i| i.unique) {
        let cols: Vec<String> = i.columns.iter().map(|c| quote(d, c)).collect();
        lines.push(format!(
            "    CONSTRAINT {} UNIQUE ({})",
            index_name(d, name, i),
            cols.join(", ")
        ));
    }
    s.push_str(&lines.join(",\n"));
    s.push_str("\n);\n\n");
    for i in t.indexes.iter().filter(|i| !i.unique) {
        let cols: Vec<String> = i.columns.iter().map(|c| quote(d, c)).collect();
        s.push_str(&format!(
            "CREATE INDEX {} ON {} ({});\n",
            index_name(d, name, i),
            name,
            cols.join(", ")
        ));
    }
    if t.indexes.iter().any(|i| !i.unique) {
        s.push('\n');
    }
    s.push_str(&format!(
        "INSERT INTO {version_table} (table_name, table_version) values ('{}','{}');\n",
        t.name, t.version
    ));
    s
}

/// Creates `tables` (and the version table first, when it is not among them and does not exist)
/// in one transaction where the database allows transactional DDL (SQLite, PostgreSQL); MySQL
/// commits each CREATE TABLE by itself, so a failure there leaves the tables created before it.
/// Fails when a table exists already, as `kamdbctl create` does.
pub fn create(db: &Db, tables: &[&Table]) -> Result<(), Error> {
    let d = db.dialect();
    let version_table = db.version_table();
    let mut script = String::new();
    let wants_version = tables.iter().any(|t| t.name == "version");
    if !wants_version && db.table_version(version_table).is_err() {
        if let Some(v) = table("version") {
            script.push_str(&create_sql(d, v, version_table));
        }
    }
    for t in tables {
        script.push_str(&create_sql(d, t, version_table));
    }
    if d == Dialect::Mysql {
        db.execute_batch(&script)
    } else {
        db.execute_batch(&format!("BEGIN;\n{script}COMMIT;\n"))
    }
}

/// Every table of [`TABLES`].
pub fn all() -> Vec<&'static Table> {
    TABLES.iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ddl_per_dialect() {
        let sub = table("subscriber").expect("subscriber");
        let pg = create_sql(Dialect::Postgres, sub, "version");
        let want_pg = "CREATE TABLE subscriber (
    id SERIAL PRIMARY KEY NOT NULL,
    username VARCHAR(64) DEFAULT '' NOT NULL,
    domain VARCHAR(64) DEFAULT '' NOT NULL,
    password VARCHAR(64) DEFAULT '' NOT NULL,
    ha1 VARCHAR(128) DEFAULT '' NOT NULL,
    ha1b VARCHAR(128) DEFAULT '' NOT NULL,
    CONSTRAINT subscriber_account_idx UNIQUE (username, domain)
);

CREATE INDEX subscriber_username_idx ON subscriber (username);

INSERT INTO version (table_name, table_version) values ('subscriber','7');
";
        assert_eq!(pg, want_pg);
        let my = create_sql(
            Dialect::Mysql,
            table("address").expect("address"),
            "version",
        );
        let want_my = "CREATE TABLE `address` (
    `id` INT(10) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
    `grp` INT(11) UNSIGNED DEFAULT 1 NOT NULL,
    `ip_addr` VARCHAR(50) NOT NULL,
    `mask` INT DEFAULT 32 NOT NULL,
    `port` SMALLINT(5) UNSIGNED DEFAULT 0 NOT NULL,
    `tag` VARCHAR(64)
);

INSERT INTO version (table_name, table_version) values ('address','6');
";
        assert_eq!(my, want_my);
        let lite = create_sql(Dialect::Sqlite, table("location").expect("loc"), "version");
        for part in [
            "    expires TIMESTAMP WITHOUT TIME ZONE DEFAULT '2030-05-28 21:32:15' NOT NULL,\n",
            "    q REAL DEFAULT 1.0 NOT NULL,\n",
            "    CONSTRAINT location_ruid_idx UNIQUE (ruid)\n",
            "CREATE INDEX location_connection_idx ON location (server_id, connection_id);\n",
            "values ('location','9');",
        ] {
            assert!(lite.contains(part), "{part}\n---\n{lite}");
        }
    }

    #[test]
    fn versions_and_coverage() {
        let want = [
            ("version", 1),
            ("subscriber", 7),
            ("location", 9),
            ("location_attrs", 1),
            ("aliases", 8),
            ("dbaliases", 1),
            ("domain", 2),
            ("domain_attrs", 1),
            ("trusted", 6),
            ("address", 6),
            ("htable", 2),
            ("acc", 5),
            ("acc_cdrs", 2),
            ("missed_calls", 4),
            ("dispatcher", 4),
            ("usr_preferences", 2),
            ("speed_dial", 2),
        ];
        assert_eq!(TABLES.len(), want.len());
        for (name, v) in want {
            assert_eq!(version_of(name), Some(v), "{name}");
        }
        assert_eq!(version_of("dialog"), None);
        let v = create_sql(
            Dialect::Sqlite,
            table("version").expect("version"),
            "kversion",
        );
        assert!(v.starts_with("CREATE TABLE kversion (\n"), "{v}");
        assert!(
            v.contains("CONSTRAINT kversion_table_name_idx UNIQUE"),
            "{v}"
        );
        assert!(
            v.ends_with(
                "INSERT INTO kversion (table_name, table_version) values ('version','1');\n"
            ),
            "{v}"
        );
        for t in TABLES {
            assert_eq!(t.columns.first().map(|c| c.name), Some("id"), "{}", t.name);
            for i in t.indexes {
                for c in i.columns {
                    assert!(
                        t.columns.iter().any(|x| x.name == *c),
                        "{}.{}: {c}",
                        t.name,
                        i.name
                    );
                }
            }
        }
    }
}
