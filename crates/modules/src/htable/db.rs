//! htable's database tables (Kamailio's `ht_db.c` behaviour): a table defined with `dbtable=` is
//! loaded when the server starts (after the fork: child_init) and by the `htable.reload` RPC; with
//! `dbmode=1` its content is written back at shutdown and by `htable.store` (all rows deleted,
//! then one row per live item).
//!
//! Rows (Kamailio's `htable` table, version 2): `key_name`, `key_type` (0 plain, 1 array item:
//! the key becomes `name[i]` and `name::size` counts them), `value_type` (0 string, 1 integer),
//! `key_value`, and `expires` (an absolute time, read and written only with `db_expires=1` for
//! tables with `autoexpire`). A table with `cols='a,b,…'` reads those columns instead: the first
//! is the key, the others are packed into one string value joined by `coldelim` (`,`) with
//! `colnull` (`*`, or nothing) for nulls; such a table is never written back.

use std::sync::{Arc, OnceLock};

use ferrosip_api::Value;
use ferrosip_db::{Db, Order, Value as DbValue};

use super::store::Table;
use crate::db::DbDrivers;

/// The database modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HtDbConfig {
    /// `db_url` (empty: no database; `dbtable` then loads nothing, as in Kamailio).
    pub url: String,
    pub key_name: String,
    pub key_type: String,
    pub value_type: String,
    pub key_value: String,
    pub expires: String,
    /// `array_size_suffix`.
    pub array_size_suffix: String,
    /// `db_expires`.
    pub db_expires: bool,
}

impl Default for HtDbConfig {
    fn default() -> HtDbConfig {
        HtDbConfig {
            url: String::new(),
            key_name: "key_name".into(),
            key_type: "key_type".into(),
            value_type: "value_type".into(),
            key_value: "key_value".into(),
            expires: "expires".into(),
            array_size_suffix: "::size".into(),
            db_expires: false,
        }
    }
}

/// The database side of the module: settings, driver access, the pool (opened after the fork).
#[derive(Debug, Default)]
pub struct HtDb {
    pub cfg: HtDbConfig,
    drivers: OnceLock<Arc<DbDrivers>>,
    db: OnceLock<Db>,
}

impl HtDb {
    /// The database side for `cfg`.
    pub fn new(cfg: HtDbConfig, drivers: Arc<DbDrivers>) -> HtDb {
        let d = HtDb {
            cfg,
            drivers: OnceLock::new(),
            db: OnceLock::new(),
        };
        let _ = d.drivers.set(drivers);
        d
    }

    /// Whether a `db_url` was set.
    pub fn enabled(&self) -> bool {
        !self.cfg.url.is_empty()
    }

    /// The pool (bound and opened on first use).
    pub fn db(&self) -> Result<Db, String> {
        if let Some(db) = self.db.get() {
            return Ok(db.clone());
        }
        let drivers = self
            .drivers
            .get()
            .ok_or_else(|| "htable: database access not initialised".to_string())?;
        drivers
            .bind("htable", &self.cfg.url)
            .map_err(|e| e.to_string())?;
        let db = drivers
            .open(&self.cfg.url)
            .map_err(|e| format!("htable: {e}"))?;
        Ok(self.db.get_or_init(|| db).clone())
    }

    /// Kamailio's `ht_db_load_table`: the items of `t`'s database table, as (name, value,
    /// absolute expiry or 0), in load order. Nothing is changed in `t`.
    pub fn read(&self, t: &Table, now: u64) -> Result<Vec<(Vec<u8>, Value, u64)>, String> {
        let Some(dbtable) = t.def.dbtable.as_deref() else {
            return Ok(Vec::new());
        };
        let db = self.db()?;
        if !t.def.cols.is_empty() {
            return self.read_cols(&db, t, dbtable);
        }
        let c = &self.cfg;
        let with_exp = t.def.autoexpire > 0 && c.db_expires;
        let mut cols = vec![
            c.key_name.as_str(),
            &c.key_type,
            &c.value_type,
            &c.key_value,
        ];
        if with_exp {
            cols.push(&c.expires);
        }
        let rows = db
            .query(dbtable, &[], &cols, Some(Order::asc(&c.key_name)))
            .map_err(|e| format!("htable: loading {dbtable}: {e}"))?;
        let mut out = Vec::new();
        // The running array: its key name and how many items it has so far.
        let mut array: Option<(Vec<u8>, i64)> = None;
        for (i, row) in rows.rows.iter().enumerate() {
            let name = match row.first().and_then(DbValue::as_bytes) {
                Some(n) => n.to_vec(),
                None => return Err(format!("htable: {dbtable} row {i} has a NULL key")),
            };
            let expires = if with_exp {
                let e = row.get(4).and_then(DbValue::as_i64).unwrap_or(0);
                if e > 0 && e < i64::try_from(now).unwrap_or(i64::MAX) {
                    continue;
                }
                u64::try_from(e).unwrap_or(0)
            } else {
                0
            };
            let ktype = row
                .get(1)
                .and_then(DbValue::as_i64)
                .ok_or_else(|| format!("htable: {dbtable} row {i}: key_type is not an integer"))?;
            // An array ends when a different key name follows it.
            if let Some((pname, n)) = array.take() {
                if pname != name {
                    out.push((self.size_key(&pname), Value::Int(n), 0));
                } else {
                    array = Some((pname, n));
                }
            }
            let hname = if ktype == 1 {
                let n = array.as_ref().map_or(0, |a| a.1);
                array = Some((name.clone(), n + 1));
                let mut k = name.clone();
                k.extend_from_slice(format!("[{n}]").as_bytes());
                k
            } else {
                name
            };
            let vtype = row.get(2).and_then(DbValue::as_i64).ok_or_else(|| {
                format!("htable: {dbtable} row {i}: value_type is not an integer")
            })?;
            let raw = match row.get(3) {
                Some(DbValue::Null) | None => {
                    return Err(format!("htable: {dbtable}: null value in row {i}"))
                }
                Some(v) => v,
            };
            let value = if vtype == 1 {
                Value::Int(match raw.as_i64() {
                    Some(n) => n,
                    None => leading_int(raw.as_bytes().unwrap_or(b"")),
                })
            } else {
                match raw.as_bytes() {
                    Some(b) => Value::str(b.to_vec()),
                    None => Value::str(raw.to_string()),
                }
            };
            out.push((hname, value, expires));
        }
        if let Some((pname, n)) = array {
            out.push((self.size_key(&pname), Value::Int(n), 0));
        }
        Ok(out)
    }

    /// Loads `t` from its table (startup): the items are added to what `t` holds.
    pub fn load(&self, t: &Table, now: u64) -> Result<usize, String> {
        let items = self.read(t, now)?;
        let n = items.len();
        apply(t, items, now);
        t.set_dbload(true);
        Ok(n)
    }

    /// `htable.reload`: reads the table, then replaces `t`'s content with it shard by shard (a
    /// failed read leaves `t` as it was; readers never see it empty).
    pub fn reload(&self, t: &Table, now: u64) -> Result<usize, String> {
        let rows = self.read(t, now)?;
        let n = rows.len();
        // The items as `apply` would leave them in an empty table.
        let scratch = Table::new(t.def.clone());
        apply(&scratch, rows, now);
        t.replace_all(scratch.items(now));
        t.set_dbload(true);
        Ok(n)
    }

    /// Kamailio's `ht_db_delete_records` + `ht_db_save_table`: every row of the database table
    /// deleted, then one row per live item. Returns the rows written.
    pub fn store(&self, t: &Table, now: u64) -> Result<usize, String> {
        let Some(dbtable) = t.def.dbtable.as_deref() else {
            return Ok(0);
        };
        if !t.def.cols.is_empty() {
            // Kamailio deletes the rows and then declines to save: we keep the rows.
            return Err(format!(
                "htable {}: a table with custom db columns cannot be saved",
                t.def.name
            ));
        }
        let db = self.db()?;
        db.delete(dbtable, &[])
            .map_err(|e| format!("htable: emptying {dbtable}: {e}"))?;
        let c = &self.cfg;
        let with_exp = t.def.autoexpire > 0 && c.db_expires;
        let mut n = 0;
        let mut first_err = None;
        for (k, item) in t.items(now) {
            if t.def.autoexpire > 0 && item.expire <= now {
                continue;
            }
            let (vtype, text) = match &item.value {
                Value::Int(i) => (1, i.to_string()),
                Value::Str(s) => (0, String::from_utf8_lossy(s).into_owned()),
                Value::Null => continue,
            };
            let mut row: Vec<(&str, DbValue)> = vec![
                (
                    &c.key_name,
                    DbValue::Str(String::from_utf8_lossy(&k).into_owned()),
                ),
                (&c.key_type, DbValue::Int(0)),
                (&c.value_type, DbValue::Int(vtype)),
                (&c.key_value, DbValue::Str(text)),
            ];
            if with_exp {
                // Kamailio writes the absolute expiry as a C int.
                row.push((
                    &c.expires,
                    DbValue::Int(i32::try_from(item.expire).unwrap_or(0)),
                ));
            }
            match db.insert(dbtable, &row) {
                Ok(_) => n += 1,
                Err(e) => {
                    tracing::error!(
                        "htable: failed to store key [{}] in table [{dbtable}]: {e}",
                        String::from_utf8_lossy(&k)
                    );
                    first_err.get_or_insert(e.to_string());
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(n),
        }
    }

    fn size_key(&self, name: &[u8]) -> Vec<u8> {
        let mut k = name.to_vec();
        k.extend_from_slice(self.cfg.array_size_suffix.as_bytes());
        k
    }

    /// `cols=` tables: the first column is the key, the others packed into a string.
    fn read_cols(
        &self,
        db: &Db,
        t: &Table,
        dbtable: &str,
    ) -> Result<Vec<(Vec<u8>, Value, u64)>, String> {
        let cols: Vec<&str> = t.def.cols.iter().map(String::as_str).collect();
        let order = cols.first().map(|c| Order::asc(c));
        let rows = db
            .query(dbtable, &[], &cols, order)
            .map_err(|e| format!("htable: loading {dbtable}: {e}"))?;
        let mut out = Vec::new();
        for (i, row) in rows.rows.iter().enumerate() {
            let Some(key) = row.first().and_then(DbValue::as_bytes) else {
                return Err(format!("htable: {dbtable} row {i} has a NULL key"));
            };
            let mut v: Vec<u8> = Vec::new();
            for (j, c) in row.iter().enumerate().skip(1) {
                match c {
                    DbValue::Null => {
                        if let Some(n) = t.def.colnull {
                            v.push(n);
                        }
                    }
                    DbValue::Str(s) => v.extend_from_slice(s.as_bytes()),
                    DbValue::Blob(b) => v.extend_from_slice(b),
                    DbValue::Int(n) => v.extend_from_slice(n.to_string().as_bytes()),
                    DbValue::BigInt(n) => v.extend_from_slice(n.to_string().as_bytes()),
                    other => {
                        return Err(format!(
                            "htable: {dbtable} row {i}: unsupported data type {} for column {j}",
                            other.type_name()
                        ))
                    }
                }
                if j + 1 < row.len() {
                    v.push(t.def.coldelim);
                }
            }
            out.push((key.to_vec(), Value::str(v), 0));
        }
        Ok(out)
    }
}

/// Adds loaded items to `t`: each set with the table's autoexpire, then its own expiry when
/// the row had one (tables with autoexpire only).
fn apply(t: &Table, items: Vec<(Vec<u8>, Value, u64)>, now: u64) {
    for (k, v, exp) in items {
        t.set(&k, v, None, now);
        if t.def.autoexpire > 0 && exp > 0 {
            t.set_expire(&k, exp.saturating_sub(now), now);
        }
    }
}

/// Kamailio's `str2slong` as the loader uses it: an optional sign and the digits up to the first
/// other character (it stops there and keeps what it has); 0 when there are none.
fn leading_int(b: &[u8]) -> i64 {
    let s = String::from_utf8_lossy(b);
    let s = s.as_ref();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let end = digits
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(digits.len());
    let n: i64 = digits.get(..end).and_then(|d| d.parse().ok()).unwrap_or(0);
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
    fn leading_integers() {
        let cases = [
            ("42", 42),
            ("-7", -7),
            ("+3", 3),
            (" 12", 0),
            ("12x", 12),
            ("x", 0),
            ("", 0),
        ];
        for (s, want) in cases {
            assert_eq!(leading_int(s.as_bytes()), want, "{s:?}");
        }
    }
}
