//! The contact attributes table of `xavp_contact` (Kamailio's `<table>_attrs`, `location_attrs`
//! for the `location` table): one row per field of a contact's stored XAVP record — `username`,
//! `ruid`, `last_modified`, `aname`, `atype` (0 text, 1 integer), `avalue` (the integer in
//! decimal), `domain` with `use_domain`.
//!
//! Written where the contact row is: after its insert, after its update (the old rows deleted
//! first), deleted with it (and, in DB-only mode, with the AoR and with expired contacts, as 6.0).
//! Read at startup after the contacts are loaded (rows of unknown contacts are deleted) and, in
//! DB-only mode, with each contact read. Fields are added in front as they are read, as Kamailio's
//! `xavp_add_value` does, so a reloaded record lists them in the reverse order of the rows.

use ferrosip_api::Value as PvValue;
use ferrosip_db::{Cond, Db, Value};

use super::DbStore;
use crate::usrloc::store::{LocationStore, UContact};

/// Kamailio's buffer for the table name (`attributes table name is too big`).
const MAX_TABLE: usize = 64;

impl DbStore {
    /// `<table>_attrs`.
    fn attrs_table(table: &str) -> Result<String, String> {
        if table.len() + 6 >= MAX_TABLE {
            return Err("attributes table name is too big".into());
        }
        Ok(format!("{table}_attrs"))
    }

    /// Kamailio's `uldb_insert_attrs`: one row per text or integer field of the contact's record.
    pub(super) fn insert_attrs(
        &self,
        db: &Db,
        table: &str,
        aor: &str,
        c: &UContact,
    ) -> Result<(), String> {
        let Some(rec) = c.xavp.as_ref().filter(|r| self.attrs && !r.is_empty()) else {
            return Ok(());
        };
        let t = Self::attrs_table(table)?;
        let (user, domain) = self.user_domain(aor);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        for (name, v) in rec {
            let (atype, avalue) = match v {
                PvValue::Str(s) => (0, String::from_utf8_lossy(s).into_owned()),
                PvValue::Int(i) => (1, i.to_string()),
                _ => continue,
            };
            let mut row: Vec<(&str, Value)> = vec![
                ("username", user.into()),
                ("ruid", c.ruid.as_str().into()),
                ("last_modified", self.time(now)),
                ("aname", String::from_utf8_lossy(name).into_owned().into()),
                ("atype", Value::Int(atype)),
                ("avalue", avalue.into()),
            ];
            if let Some(d) = domain {
                row.push(("domain", d.into()));
            }
            db.insert(&t, &row).map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// Kamailio's `uldb_delete_attrs`: by ruid (`db_ops_ruid`), else by user, ruid and domain.
    pub(super) fn delete_attrs(
        &self,
        db: &Db,
        table: &str,
        aor: &str,
        ruid: &str,
    ) -> Result<(), String> {
        if !self.attrs {
            return Ok(());
        }
        let t = Self::attrs_table(table)?;
        let mut w = vec![Cond::eq("ruid", ruid)];
        if !self.cfg.ops_ruid {
            let (user, domain) = self.user_domain(aor);
            w.insert(0, Cond::eq("username", user));
            if let Some(d) = domain {
                w.push(Cond::eq("domain", d));
            }
        }
        db.delete(&t, &w).map(drop).map_err(|e| e.to_string())
    }

    /// Every attribute row of an AoR (DB-only: the AoR's record is deleted).
    pub(super) fn delete_aor_attrs(&self, db: &Db, table: &str, aor: &str) -> Result<(), String> {
        if !self.attrs {
            return Ok(());
        }
        let t = Self::attrs_table(table)?;
        let (user, domain) = self.user_domain(aor);
        let mut w = vec![Cond::eq("username", user)];
        if let Some(d) = domain {
            w.push(Cond::eq("domain", d));
        }
        db.delete(&t, &w).map(drop).map_err(|e| e.to_string())
    }

    /// Kamailio's `uldb_preload_attrs`: every row to the loaded contact with its ruid; rows of
    /// contacts that were not loaded are deleted.
    pub(super) fn preload_attrs(&self, db: &Db, table: &str) -> Result<(), String> {
        if !self.attrs {
            return Ok(());
        }
        let t = Self::attrs_table(table)?;
        let mut cols = vec!["username", "ruid", "aname", "atype", "avalue"];
        if self.use_domain {
            cols.push("domain");
        }
        let rows = db
            .query(&t, &[], &cols, None)
            .map_err(|e| format!("usrloc: loading {t}: {e}"))?;
        for i in 0..rows.len() {
            let text = |c: &str| {
                rows.get(i, c)
                    .filter(|v| !v.is_null())
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let user = text("username");
            if user.is_empty() {
                tracing::error!("usrloc: empty username record in table {t}, skipped");
                continue;
            }
            let aor = if self.use_domain {
                let d = text("domain");
                if d.is_empty() {
                    tracing::error!("usrloc: empty domain record for user {user}, skipped");
                    continue;
                }
                format!("{user}@{d}")
            } else {
                user
            };
            let ruid = text("ruid");
            let Some(field) = field_of(
                &text("aname"),
                rows.get(i, "atype").and_then(Value::as_i64),
                &text("avalue"),
            ) else {
                continue;
            };
            let mut found = false;
            self.mem.update(table, &aor, &mut |list| {
                if let Some(c) = list.iter_mut().find(|c| c.ruid == ruid) {
                    c.xavp.get_or_insert_with(Vec::new).insert(0, field.clone());
                    found = true;
                }
            });
            if !found {
                tracing::info!("usrloc: no contact record for ruid {ruid} of {t}");
                self.delete_attrs(db, table, &aor, &ruid)?;
            }
        }
        Ok(())
    }

    /// DB-only: the attribute rows of `c` (Kamailio's `db_load_urecord`).
    pub(super) fn load_attrs(&self, db: &Db, table: &str, c: &mut UContact) {
        if !self.attrs {
            return;
        }
        let Ok(t) = Self::attrs_table(table) else {
            return;
        };
        let rows = match db.query(
            &t,
            &[Cond::eq("ruid", c.ruid.as_str())],
            &["aname", "atype", "avalue"],
            None,
        ) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("usrloc: reading {t}: {e}");
                return;
            }
        };
        for i in 0..rows.len() {
            let text = |col: &str| {
                rows.get(i, col)
                    .filter(|v| !v.is_null())
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            };
            let atype = rows.get(i, "atype").and_then(Value::as_i64);
            if let Some(f) = field_of(&text("aname"), atype, &text("avalue")) {
                c.xavp.get_or_insert_with(Vec::new).insert(0, f);
            }
        }
    }
}

/// One field from a row: type 0 text, 1 integer (read as Kamailio's `str2slong`: digits up to
/// the first other character); other types are skipped.
fn field_of(name: &str, atype: Option<i64>, value: &str) -> Option<(Vec<u8>, PvValue)> {
    let v = match atype? {
        0 => PvValue::Str(value.as_bytes().to_vec()),
        1 => PvValue::Int(str2slong(value)),
        _ => return None,
    };
    Some((name.as_bytes().to_vec(), v))
}

fn str2slong(s: &str) -> i64 {
    let b = s.as_bytes();
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut n: i64 = 0;
    for d in digits.iter().take_while(|d| d.is_ascii_digit()) {
        n = n.wrapping_mul(10).wrapping_add(i64::from(d - b'0'));
    }
    if neg {
        -n
    } else {
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_from_rows() {
        let cases = [
            ("a", Some(0), "x1", Some(PvValue::Str(b"x1".to_vec()))),
            ("n", Some(1), "42", Some(PvValue::Int(42))),
            ("n", Some(1), "-7z", Some(PvValue::Int(-7))),
            ("n", Some(2), "1", None),
            ("n", None, "1", None),
        ];
        for (name, t, v, want) in cases {
            assert_eq!(
                field_of(name, t, v).map(|(_, v)| v),
                want,
                "{name} {t:?} {v}"
            );
        }
        assert_eq!(
            DbStore::attrs_table("location").as_deref(),
            Ok("location_attrs")
        );
        assert!(DbStore::attrs_table(&"x".repeat(58)).is_err());
    }
}
