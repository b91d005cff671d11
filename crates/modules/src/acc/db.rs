//! acc's database back end (Kamailio's `acc_db_request` and the `db_flag`/`db_missed_flag`
//! reports): one row per accounted event in `db_table_acc` (`acc`) or `db_table_missed_calls`
//! (`missed_calls`), with Kamailio's columns — `method`, `from_tag`, `to_tag`, `callid`,
//! `sip_code`, `sip_reason`, `time` (names from the `acc_*_column` modparams) — then the
//! `time_mode` columns and the `db_extra` columns, each extra written as text.
//!
//! Values Kamailio holds as a string without storage (a missing From/To tag, a comment without a
//! code, an extra variable without value) are bound by its drivers differently: db_sqlite binds
//! them as NULL (so an `acc` row of a request without To tag fails the table's NOT NULL
//! constraint, and no row is written), db_mysql and db_postgres write an empty string. [`Field`]
//! keeps that distinction and [`DbSettings::row`] applies the driver's rule.

use ferrosip_api::pv::Format;
use ferrosip_api::{Ctx, PvSpec, Value};
use ferrosip_db::{Db, Dialect, Value as DbValue};

use super::line::{Core, Stamp};

/// Kamailio's buffer for a table name computed per message (`acc db table name too big`).
pub const MAX_TABLE: usize = 64;

/// One value as Kamailio holds it before the driver binds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// A string without storage (see the module docs).
    Absent,
    /// Text, possibly empty.
    Text(Vec<u8>),
}

/// The time columns after `time`, per `time_mode`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbTime {
    /// 0 (and unknown modes): `time` only.
    None,
    /// 1: `<time_attr>` seconds and `<time_exten>` microseconds, as integers.
    SecsMicros { attr: String, exten: String },
    /// 2: `<time_attr>` seconds with fraction, as a double.
    Fraction { attr: String },
    /// 3 / 4: `<time_attr>` as `strftime(time_format)` text in local time / UTC
    /// ([`super::line::time_text`]).
    Formatted {
        attr: String,
        format: String,
        zone: crate::pv::timefmt::Zone,
    },
}

/// The frozen database settings (present when `db_url` is set).
#[derive(Debug, Clone)]
pub struct DbSettings {
    /// `db_url`.
    pub url: String,
    /// `db_flag`.
    pub flag: Option<u32>,
    /// `db_missed_flag`.
    pub missed_flag: Option<u32>,
    /// `db_table_acc` (may hold variables).
    pub table_acc: Format,
    /// `db_table_missed_calls` (may hold variables).
    pub table_missed: Format,
    /// `db_extra`: column names and their variables.
    pub extras: Vec<(String, PvSpec)>,
    /// Column names: method, from_tag, to_tag, callid, sip_code, sip_reason, time.
    pub columns: [String; 7],
    /// `acc_extra_nullable`: an extra without value is NULL on every driver.
    pub nullable: bool,
    /// The `time_mode` columns.
    pub time: DbTime,
}

/// The default column names (`acc_method_column` …).
pub const COLUMN_PARAMS: [(&str, &str); 7] = [
    ("acc_method_column", "method"),
    ("acc_from_tag_column", "from_tag"),
    ("acc_to_tag_column", "to_tag"),
    ("acc_callid_column", "callid"),
    ("acc_sip_code_column", "sip_code"),
    ("acc_sip_reason_column", "sip_reason"),
    ("acc_time_column", "time"),
];

impl DbSettings {
    /// The row for `core` at `at`, the extras read from `ctx`, bound as `dialect`'s driver binds
    /// Kamailio's values.
    pub fn row(
        &self,
        ctx: &mut Ctx<'_>,
        dialect: Dialect,
        core: &Core,
        at: Stamp,
    ) -> Vec<(String, DbValue)> {
        let absent_is_null = dialect == Dialect::Sqlite;
        let bind = |f: Field, nullable: bool| match f {
            Field::Absent if absent_is_null || nullable => DbValue::Null,
            Field::Absent => DbValue::Str(String::new()),
            Field::Text(t) => text(t),
        };
        // Kamailio: a missing tag, Call-ID or code is a string without storage; the method and
        // the reason always point somewhere.
        let maybe = |v: &[u8]| {
            if v.is_empty() {
                Field::Absent
            } else {
                Field::Text(v.to_vec())
            }
        };
        let core_fields = [
            Field::Text(core.method.clone()),
            maybe(&core.from_tag),
            maybe(&core.to_tag),
            maybe(&core.call_id),
            maybe(&core.code),
            Field::Text(core.reason.clone()),
        ];
        let mut row: Vec<(String, DbValue)> = Vec::with_capacity(9 + self.extras.len());
        for (col, f) in self.columns.iter().zip(core_fields) {
            row.push((col.clone(), bind(f, false)));
        }
        let secs = i64::try_from(at.secs).unwrap_or(i64::MAX);
        row.push((self.columns[6].clone(), DbValue::DateTime(secs)));
        match &self.time {
            DbTime::None => {}
            DbTime::SecsMicros { attr, exten } => {
                // Kamailio casts both to a C int.
                row.push((attr.clone(), DbValue::Int(secs as i32)));
                row.push((
                    exten.clone(),
                    DbValue::Int(i32::try_from(at.micros).unwrap_or(0)),
                ));
            }
            DbTime::Fraction { attr } => {
                let t = at.secs as f64 + f64::from(at.micros) / 1_000_000.0;
                row.push((attr.clone(), DbValue::Double(t)));
            }
            DbTime::Formatted { attr, format, zone } => {
                let s = super::line::time_text(format, secs, *zone);
                row.push((attr.clone(), text(s)));
            }
        }
        for (name, spec) in &self.extras {
            let f = match spec.try_get(ctx) {
                Ok(Value::Null) => Field::Absent,
                Ok(v) => Field::Text(v.into_bytes()),
                Err(e) => {
                    ctx.log_error(&format!("acc: failed to get '{name}': {e}"));
                    Field::Absent
                }
            };
            row.push((name.clone(), bind(f, self.nullable)));
        }
        row
    }

    /// Renders a table name; `None` (and an error logged) when it is too long, as Kamailio.
    pub fn table_name(ctx: &mut Ctx<'_>, table: &Format) -> Option<String> {
        let t = table.render(ctx);
        if t.len() >= MAX_TABLE {
            ctx.log_error(&format!(
                "acc: acc db table name too big [{}] max {MAX_TABLE}",
                String::from_utf8_lossy(&t)
            ));
            return None;
        }
        Some(String::from_utf8_lossy(&t).into_owned())
    }
}

/// Inserts one row; the error text is logged by the caller.
pub fn insert(db: &Db, table: &str, row: &[(String, DbValue)]) -> Result<(), String> {
    let cols: Vec<(&str, DbValue)> = row.iter().map(|(c, v)| (c.as_str(), v.clone())).collect();
    db.insert(table, &cols)
        .map(|_| ())
        .map_err(|e| format!("failed to insert into database: {e}"))
}

/// Text as the driver receives it: a string when it is UTF-8, else bytes.
fn text(t: Vec<u8>) -> DbValue {
    match String::from_utf8(t) {
        Ok(s) => DbValue::Str(s),
        Err(e) => DbValue::Blob(e.into_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(time: DbTime, nullable: bool) -> DbSettings {
        DbSettings {
            url: String::new(),
            flag: Some(1),
            missed_flag: None,
            table_acc: Format::default(),
            table_missed: Format::default(),
            extras: Vec::new(),
            columns: COLUMN_PARAMS.map(|(_, c)| c.to_string()),
            nullable,
            time,
        }
    }

    fn rows(s: &DbSettings, dialect: Dialect, core: &Core) -> Vec<(String, DbValue)> {
        let mut msg = ferrosip_sipmsg::Msg::parse(
            b"MESSAGE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 MESSAGE\r\nContent-Length: 0\r\n\r\n".to_vec(),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut worker = ferrosip_api::WorkerState::default();
        let mut rec = ferrosip_api::Recorder::default();
        let mut ctx = Ctx::new(
            &mut msg,
            ferrosip_api::RouteType::Request,
            ferrosip_api::RecvInfo::default(),
            &mut worker,
            &mut rec,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.row(
            &mut ctx,
            dialect,
            core,
            Stamp {
                secs: 1_700_000_000,
                micros: 250_000,
            },
        )
    }

    #[test]
    fn absent_values_per_driver_and_time_columns() {
        let core = Core {
            method: b"MESSAGE".to_vec(),
            from_tag: b"1".to_vec(),
            to_tag: Vec::new(),
            call_id: b"c".to_vec(),
            code: Vec::new(),
            reason: Vec::new(),
        };
        let s = settings(DbTime::None, false);
        let get = |r: &[(String, DbValue)], c: &str| {
            r.iter()
                .find(|(n, _)| n == c)
                .map(|(_, v)| v.clone())
                .unwrap_or(DbValue::Str("missing".into()))
        };
        let lite = rows(&s, Dialect::Sqlite, &core);
        let my = rows(&s, Dialect::Mysql, &core);
        for (col, l, m) in [
            ("to_tag", DbValue::Null, DbValue::Str(String::new())),
            ("sip_code", DbValue::Null, DbValue::Str(String::new())),
            (
                "sip_reason",
                DbValue::Str(String::new()),
                DbValue::Str(String::new()),
            ),
            (
                "from_tag",
                DbValue::Str("1".into()),
                DbValue::Str("1".into()),
            ),
            (
                "time",
                DbValue::DateTime(1_700_000_000),
                DbValue::DateTime(1_700_000_000),
            ),
        ] {
            assert_eq!(get(&lite, col), l, "sqlite {col}");
            assert_eq!(get(&my, col), m, "mysql {col}");
        }
        assert_eq!(lite.len(), 7);
        let cases = [
            (
                DbTime::SecsMicros {
                    attr: "ta".into(),
                    exten: "te".into(),
                },
                vec![
                    ("ta", DbValue::Int(1_700_000_000)),
                    ("te", DbValue::Int(250_000)),
                ],
            ),
            (
                DbTime::Fraction { attr: "ta".into() },
                vec![("ta", DbValue::Double(1_700_000_000.25))],
            ),
            (
                DbTime::Formatted {
                    attr: "ta".into(),
                    format: "%Y-%m-%d".into(),
                    zone: crate::pv::timefmt::Zone::Utc,
                },
                vec![("ta", DbValue::Str("2023-11-14".into()))],
            ),
        ];
        for (time, want) in cases {
            let r = rows(&settings(time.clone(), false), Dialect::Postgres, &core);
            let tail: Vec<(&str, DbValue)> = r[7..]
                .iter()
                .map(|(n, v)| (n.as_str(), v.clone()))
                .collect();
            assert_eq!(tail, want, "{time:?}");
        }
    }
}
