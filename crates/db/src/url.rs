//! `db_url` parsing: `scheme://[user[:password]@]host[:port]/database`, as Kamailio's `db_id` reads it,
//! plus SQLite file paths.

use std::fmt;
use std::path::PathBuf;

use crate::Error;

/// Which backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

impl Dialect {
    /// The scheme as Kamailio spells it in `db_url`.
    pub fn scheme(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }
}

/// Where to connect. `Display` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub enum DbUrl {
    /// `sqlite:///abs/path` (absolute) or `sqlite://rel/path` (relative to the working directory).
    Sqlite { path: PathBuf },
    /// `postgres://` (also `postgresql://`) or `mysql://`.
    Server {
        dialect: Dialect,
        user: Option<String>,
        password: Option<String>,
        host: String,
        port: Option<u16>,
        database: String,
    },
}

impl DbUrl {
    /// Parses a `db_url`.
    ///
    /// Kamailio reads `sqlite:///etc/kamailio/kamailio.db` as host "" and database
    /// `etc/kamailio/kamailio.db`, which SQLite opens relative to the working directory (`/` for a
    /// daemonised Kamailio); we open the absolute path, which is what that spelling means in practice.
    /// `sqlite://dir/file.db` is a relative path here (Kamailio would take `dir` as a host name and
    /// ignore it). URL parameters after `?` are refused: none is implemented.
    pub fn parse(url: &str) -> Result<DbUrl, Error> {
        let bad = |reason: &str| Error::BadUrl {
            url: redact(url),
            reason: reason.to_string(),
        };
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected scheme://…"))?;
        let dialect = match scheme.to_ascii_lowercase().as_str() {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" => Dialect::Mysql,
            other => return Err(Error::UnsupportedScheme(other.to_string())),
        };
        if rest.contains('?') {
            return Err(bad("URL parameters (after '?') are not supported"));
        }
        if dialect == Dialect::Sqlite {
            if rest.is_empty() || rest == "/" {
                return Err(bad("no database file"));
            }
            return Ok(DbUrl::Sqlite {
                path: PathBuf::from(rest),
            });
        }
        // The password may contain '@' and '/': the user part ends at the last '@', as in Kamailio.
        let (userinfo, hostpart) = match rest.rfind('@') {
            Some(i) => (rest.get(..i), rest.get(i + 1..).unwrap_or_default()),
            None => (None, rest),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((n, p)) => (Some(n.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
            None => (None, None),
        };
        let (hostport, database) = hostpart
            .split_once('/')
            .ok_or_else(|| bad("no database name after the host"))?;
        if database.is_empty() {
            return Err(bad("empty database name"));
        }
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, tail) = v6.split_once(']').ok_or_else(|| bad("unclosed '['"))?;
            match tail.strip_prefix(':') {
                Some(p) => (h, Some(p)),
                None if tail.is_empty() => (h, None),
                None => return Err(bad("junk after ']'")),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (hostport, None),
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        let port = match port {
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad("bad port"))?),
            None => None,
        };
        Ok(DbUrl::Server {
            dialect,
            user: user.filter(|u| !u.is_empty()),
            password,
            host: host.to_string(),
            port,
            database: database.to_string(),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            DbUrl::Sqlite { .. } => Dialect::Sqlite,
            DbUrl::Server { dialect, .. } => *dialect,
        }
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbUrl::Sqlite { path } => write!(f, "sqlite://{}", path.display()),
            DbUrl::Server {
                dialect,
                user,
                password,
                host,
                port,
                database,
            } => {
                write!(f, "{}://", dialect.scheme())?;
                if let Some(u) = user {
                    f.write_str(u)?;
                    if password.is_some() {
                        f.write_str(":***")?;
                    }
                    f.write_str("@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if let Some(p) = port {
                    write!(f, ":{p}")?;
                }
                write!(f, "/{database}")
            }
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A URL for error messages: the password between ':' and the last '@' replaced.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rfind('@') {
        Some(at) => {
            let (userinfo, host) = rest.split_at(at);
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***{host}")
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(
        d: Dialect,
        user: Option<&str>,
        pw: Option<&str>,
        host: &str,
        port: Option<u16>,
        db: &str,
    ) -> DbUrl {
        DbUrl::Server {
            dialect: d,
            user: user.map(str::to_string),
            password: pw.map(str::to_string),
            host: host.into(),
            port,
            database: db.into(),
        }
    }

    #[test]
    fn parses() {
        use Dialect::*;
        let cases = [
            (
                "sqlite:///etc/kamailio/kamailio.db",
                DbUrl::Sqlite {
                    path: "/etc/kamailio/kamailio.db".into(),
                },
            ),
            (
                "sqlite://data/k.db",
                DbUrl::Sqlite {
                    path: "data/k.db".into(),
                },
            ),
            (
                "mysql://kamailio:kamailiorw@localhost/kamailio",
                server(
                    Mysql,
                    Some("kamailio"),
                    Some("kamailiorw"),
                    "localhost",
                    None,
                    "kamailio",
                ),
            ),
            (
                "postgres://u:p@ss/w@127.0.0.1:5433/db",
                server(
                    Postgres,
                    Some("u"),
                    Some("p@ss/w"),
                    "127.0.0.1",
                    Some(5433),
                    "db",
                ),
            ),
            (
                "postgresql://[::1]:5432/k",
                server(Postgres, None, None, "::1", Some(5432), "k"),
            ),
            (
                "mysql://root@db/k",
                server(Mysql, Some("root"), None, "db", None, "k"),
            ),
        ];
        for (s, want) in cases {
            assert_eq!(DbUrl::parse(s).expect(s), want, "{s}");
        }
    }

    #[test]
    fn refuses() {
        let cases = [
            "kamailio.db",
            "oracle://u:p@h/db",
            "mysql://u:p@h",
            "mysql://u:p@h/",
            "mysql://u:p@/db",
            "mysql://h:99999/db",
            "postgres://[::1/db",
            "sqlite://",
            "sqlite:///x.db?busy_timeout=5",
        ];
        for s in cases {
            assert!(DbUrl::parse(s).is_err(), "{s}");
        }
        match DbUrl::parse("oracle://x/y") {
            Err(Error::UnsupportedScheme(s)) => assert_eq!(s, "oracle"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn display_hides_password() {
        let u = DbUrl::parse("mysql://kamailio:secret@[::1]:3306/kamailio").expect("url");
        assert_eq!(u.to_string(), "mysql://kamailio:***@[::1]:3306/kamailio");
        assert_eq!(redact("mysql://a:secret@h/db"), "mysql://a:***@h/db");
        let e = DbUrl::parse("mysql://a:secret@h:x/db").expect_err("bad port");
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
