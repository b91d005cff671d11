//! SQL text for the typed operations, per dialect. Values always travel as bound parameters, never
//! inside the SQL text; table and column names (which come from modparams) are checked to be plain
//! identifiers and, for MySQL, quoted with backticks as Kamailio's db_mysql does (`partition` is a
//! reserved word there and a column of `location`).

use crate::url::Dialect;
use crate::value::{Cond, Direction, Op, Order, Value};
use crate::Error;

/// A statement and the values for its placeholders, in order.
#[derive(Debug, PartialEq)]
pub(crate) struct Stmt<'v> {
    pub text: String,
    pub params: Vec<&'v Value>,
}

/// Checks a table or column name: ASCII letters, digits and '_', not starting with a digit, at most
/// 64 bytes, optionally `schema.name`.
pub(crate) fn check_ident(name: &str) -> Result<(), Error> {
    let ok_part = |p: &str| {
        !p.is_empty()
            && p.len() <= 64
            && !p.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    };
    let mut parts = name.split('.');
    let ok = match (parts.next(), parts.next(), parts.next()) {
        (Some(a), None, _) => ok_part(a),
        (Some(a), Some(b), None) => ok_part(a) && ok_part(b),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::BadIdentifier(name.to_string()))
    }
}

fn ident(d: Dialect, name: &str, out: &mut String) -> Result<(), Error> {
    check_ident(name)?;
    if d == Dialect::Mysql {
        for (i, part) in name.split('.').enumerate() {
            if i > 0 {
                out.push('.');
            }
            out.push('`');
            out.push_str(part);
            out.push('`');
        }
    } else {
        out.push_str(name);
    }
    Ok(())
}

fn placeholder(d: Dialect, n: usize, out: &mut String) {
    match d {
        Dialect::Sqlite => {
            out.push('?');
            out.push_str(&n.to_string());
        }
        Dialect::Postgres => {
            out.push('$');
            out.push_str(&n.to_string());
        }
        Dialect::Mysql => out.push('?'),
    }
}

fn where_clause<'v>(
    d: Dialect,
    conds: &'v [Cond<'_>],
    out: &mut String,
    params: &mut Vec<&'v Value>,
) -> Result<(), Error> {
    for (i, c) in conds.iter().enumerate() {
        out.push_str(if i == 0 { " WHERE " } else { " AND " });
        ident(d, c.column, out)?;
        match (&c.value, c.op) {
            (Value::Null, Op::Eq) => out.push_str(" IS NULL"),
            (Value::Null, Op::Ne) => out.push_str(" IS NOT NULL"),
            (Value::Null, op) => {
                return Err(Error::Invalid(format!(
                    "column {}: NULL cannot be compared with {}",
                    c.column,
                    op.sql()
                )))
            }
            (v, op) => {
                out.push_str(op.sql());
                params.push(v);
                placeholder(d, params.len(), out);
            }
        }
    }
    Ok(())
}

pub(crate) fn select<'v>(
    d: Dialect,
    table: &str,
    columns: &[&str],
    conds: &'v [Cond<'_>],
    order: Option<Order<'_>>,
) -> Result<Stmt<'v>, Error> {
    let mut text = String::from("SELECT ");
    if columns.is_empty() {
        text.push('*');
    }
    for (i, c) in columns.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        ident(d, c, &mut text)?;
    }
    text.push_str(" FROM ");
    ident(d, table, &mut text)?;
    let mut params = Vec::new();
    where_clause(d, conds, &mut text, &mut params)?;
    if let Some(o) = order {
        text.push_str(" ORDER BY ");
        ident(d, o.column, &mut text)?;
        if o.direction == Direction::Desc {
            text.push_str(" DESC");
        }
    }
    Ok(Stmt { text, params })
}

/// `INSERT` (or SQLite's `INSERT OR REPLACE` / MySQL's `REPLACE` when `replace`).
pub(crate) fn insert<'v>(
    d: Dialect,
    table: &str,
    row: &'v [(&str, Value)],
    replace: bool,
) -> Result<Stmt<'v>, Error> {
    if row.is_empty() {
        return Err(Error::Invalid(format!("insert into {table}: no columns")));
    }
    let mut text = String::from(match (replace, d) {
        (false, _) => "INSERT INTO ",
        (true, Dialect::Sqlite) => "INSERT OR REPLACE INTO ",
        (true, Dialect::Mysql) => "REPLACE INTO ",
        (true, Dialect::Postgres) => {
            return Err(Error::Invalid(
                "PostgreSQL has no REPLACE statement".to_string(),
            ))
        }
    });
    ident(d, table, &mut text)?;
    text.push_str(" (");
    for (i, (c, _)) in row.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        ident(d, c, &mut text)?;
    }
    text.push_str(") VALUES (");
    for i in 0..row.len() {
        if i > 0 {
            text.push(',');
        }
        placeholder(d, i + 1, &mut text);
    }
    text.push(')');
    Ok(Stmt {
        text,
        params: row.iter().map(|(_, v)| v).collect(),
    })
}

pub(crate) fn update<'v>(
    d: Dialect,
    table: &str,
    conds: &'v [Cond<'_>],
    set: &'v [(&str, Value)],
) -> Result<Stmt<'v>, Error> {
    if set.is_empty() {
        return Err(Error::Invalid(format!("update {table}: nothing to set")));
    }
    let mut text = String::from("UPDATE ");
    ident(d, table, &mut text)?;
    text.push_str(" SET ");
    let mut params = Vec::new();
    for (i, (c, v)) in set.iter().enumerate() {
        if i > 0 {
            text.push(',');
        }
        ident(d, c, &mut text)?;
        text.push('=');
        params.push(v);
        placeholder(d, params.len(), &mut text);
    }
    where_clause(d, conds, &mut text, &mut params)?;
    Ok(Stmt { text, params })
}

pub(crate) fn delete<'v>(
    d: Dialect,
    table: &str,
    conds: &'v [Cond<'_>],
) -> Result<Stmt<'v>, Error> {
    let mut text = String::from("DELETE FROM ");
    ident(d, table, &mut text)?;
    let mut params = Vec::new();
    where_clause(d, conds, &mut text, &mut params)?;
    Ok(Stmt { text, params })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::*;

    #[test]
    fn identifiers() {
        for ok in ["location", "ruid", "a_b9", "kamailio.location", "_x"] {
            assert!(check_ident(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "9a",
            "a b",
            "a;drop",
            "a.b.c",
            "a.",
            "x\"",
            "`x`",
            &"a".repeat(65),
        ] {
            assert!(check_ident(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn statements_per_dialect() {
        let conds = [
            Cond::eq("username", "alice"),
            Cond::eq("domain", Value::Null),
            Cond::new("expires", Op::Gt, Value::DateTime(5)),
        ];
        let cases = [
            (Sqlite, "SELECT contact,q FROM location WHERE username=?1 AND domain IS NULL AND expires>?2 ORDER BY q DESC"),
            (Postgres, "SELECT contact,q FROM location WHERE username=$1 AND domain IS NULL AND expires>$2 ORDER BY q DESC"),
            (Mysql, "SELECT `contact`,`q` FROM `location` WHERE `username`=? AND `domain` IS NULL AND `expires`>? ORDER BY `q` DESC"),
        ];
        for (d, want) in cases {
            let s = select(
                d,
                "location",
                &["contact", "q"],
                &conds,
                Some(Order::desc("q")),
            )
            .expect("select");
            assert_eq!(s.text, want);
            assert_eq!(s.params, vec![&Value::from("alice"), &Value::DateTime(5)]);
        }
        let s = select(Sqlite, "version", &[], &[], None).expect("select");
        assert_eq!(s.text, "SELECT * FROM version");

        let row = [("username", Value::from("a")), ("cseq", Value::Int(1))];
        let cases = [
            (
                Sqlite,
                false,
                "INSERT INTO location (username,cseq) VALUES (?1,?2)",
            ),
            (
                Sqlite,
                true,
                "INSERT OR REPLACE INTO location (username,cseq) VALUES (?1,?2)",
            ),
            (
                Postgres,
                false,
                "INSERT INTO location (username,cseq) VALUES ($1,$2)",
            ),
            (
                Mysql,
                true,
                "REPLACE INTO `location` (`username`,`cseq`) VALUES (?,?)",
            ),
        ];
        for (d, rep, want) in cases {
            assert_eq!(insert(d, "location", &row, rep).expect("insert").text, want);
        }
        assert!(insert(Postgres, "location", &row, true).is_err());
        assert!(insert(Sqlite, "location", &[], false).is_err());

        let set = [("cseq", Value::Int(2))];
        let w = [Cond::eq("ruid", "r1")];
        let u = update(Postgres, "location", &w, &set).expect("update");
        assert_eq!(u.text, "UPDATE location SET cseq=$1 WHERE ruid=$2");
        assert_eq!(u.params, vec![&Value::Int(2), &Value::from("r1")]);
        assert!(update(Sqlite, "location", &w, &[]).is_err());
        assert_eq!(
            delete(Mysql, "location", &w).expect("delete").text,
            "DELETE FROM `location` WHERE `ruid`=?"
        );
        assert_eq!(
            delete(Sqlite, "location", &[]).expect("delete").text,
            "DELETE FROM location"
        );
    }

    #[test]
    fn refuses_bad_names_and_null_ordering() {
        assert!(select(Sqlite, "loc;x", &[], &[], None).is_err());
        assert!(select(Sqlite, "location", &["a b"], &[], None).is_err());
        let c = [Cond::new("expires", Op::Lt, Value::Null)];
        assert!(select(Sqlite, "location", &[], &c, None).is_err());
        let c = [Cond::eq("x y", 1)];
        assert!(delete(Sqlite, "location", &c).is_err());
    }
}
