//! Typed values, conditions and result rows: the vocabulary of Kamailio's `db_val_t`, `db_op_t` and
//! `db1_res_t`, with Rust types instead of unions.

use std::fmt;

/// One column value, as Kamailio's `db_type_t` knows them (`DB1_INT`, `DB1_BIGINT`, `DB1_DOUBLE`,
/// `DB1_STR`/`DB1_STRING`, `DB1_BLOB`, `DB1_DATETIME`; a null is a value of its own here instead of
/// a flag on each of them). `DB1_BITMAP` is written as an [`Value::Int`].
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Int(i32),
    BigInt(i64),
    Double(f64),
    Str(String),
    Blob(Vec<u8>),
    /// Seconds since the Unix epoch (Kamailio's `time_t`).
    DateTime(i64),
}

impl Value {
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Any integer column as `i64` (`Int` and `BigInt`); `None` for other types and null.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(i64::from(*i)),
            Value::BigInt(i) => Some(*i),
            _ => None,
        }
    }

    /// An integer column that fits in `i32` (Kamailio's `VAL_INT`).
    pub fn as_i32(&self) -> Option<i32> {
        self.as_i64().and_then(|i| i32::try_from(i).ok())
    }

    /// A floating point column; integers convert too, as SQL would.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Double(d) => Some(*d),
            Value::Int(i) => Some(f64::from(*i)),
            // Precision loss above 2^53 is what SQL does as well.
            Value::BigInt(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// A text column. Text that was not valid UTF-8 in the database is returned as `Blob`.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Bytes of a blob or of a text column.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Blob(b) => Some(b),
            Value::Str(s) => Some(s.as_bytes()),
            _ => None,
        }
    }

    /// A date/time column as seconds since the epoch.
    pub fn as_datetime(&self) -> Option<i64> {
        match self {
            Value::DateTime(t) => Some(*t),
            _ => None,
        }
    }

    /// The type name used in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Int(_) => "int",
            Value::BigInt(_) => "bigint",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Blob(_) => "blob",
            Value::DateTime(_) => "datetime",
        }
    }
}

impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::Int(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::BigInt(v)
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Double(v)
    }
}
impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Self {
        Value::Blob(v)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// Comparison operator of a condition (Kamailio's `OP_EQ` … `OP_GEQ`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Op {
    pub fn sql(self) -> &'static str {
        match self {
            Op::Eq => "=",
            Op::Ne => "<>",
            Op::Lt => "<",
            Op::Gt => ">",
            Op::Le => "<=",
            Op::Ge => ">=",
        }
    }
}

/// One `column op value` term of a WHERE clause; the terms of a query are joined with AND, as
/// Kamailio's `db_query` joins its key/op/value arrays.
///
/// A [`Value::Null`] with `Eq` becomes `IS NULL` and with `Ne` `IS NOT NULL` (Kamailio would write
/// `= NULL`, which matches nothing); other operators refuse a null.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond<'a> {
    pub column: &'a str,
    pub op: Op,
    pub value: Value,
}

impl<'a> Cond<'a> {
    pub fn new(column: &'a str, op: Op, value: impl Into<Value>) -> Self {
        Cond {
            column,
            op,
            value: value.into(),
        }
    }

    /// `column = value`, the common case.
    pub fn eq(column: &'a str, value: impl Into<Value>) -> Self {
        Self::new(column, Op::Eq, value)
    }
}

/// Sort direction of [`Order`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Asc,
    Desc,
}

/// ORDER BY one column (Kamailio's `_o` argument of `db_query`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order<'a> {
    pub column: &'a str,
    pub direction: Direction,
}

impl<'a> Order<'a> {
    pub fn asc(column: &'a str) -> Self {
        Order {
            column,
            direction: Direction::Asc,
        }
    }
    pub fn desc(column: &'a str) -> Self {
        Order {
            column,
            direction: Direction::Desc,
        }
    }
}

/// The result of a query: column names and rows of values, all fetched (Kamailio's `db1_res_t`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Value>>,
}

impl Rows {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Index of a column by name (ASCII case-insensitive, as SQL names are).
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
    }

    /// Value at (row, column name); `None` when either does not exist.
    pub fn get(&self, row: usize, column: &str) -> Option<&Value> {
        let c = self.column(column)?;
        self.rows.get(row)?.get(c)
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => f.write_str("NULL"),
            Value::Int(i) => write!(f, "{i}"),
            Value::BigInt(i) => write!(f, "{i}"),
            Value::Double(d) => write!(f, "{d}"),
            Value::Str(s) => f.write_str(s),
            Value::Blob(b) => write!(f, "<{} bytes>", b.len()),
            Value::DateTime(t) => f.write_str(&crate::time::format_utc(*t)),
        }
    }
}

/// A single-precision column value as the double Kamailio gets: it reads the server's text form
/// ("0.9") with strtod, so 0.9 stays 0.9 instead of becoming 0.8999999761581421.
#[cfg_attr(not(any(feature = "postgres", feature = "mysql")), allow(dead_code))]
pub(crate) fn widen_f32(f: f32) -> f64 {
    // The shortest decimal that round-trips the f32, read as f64; always parses.
    f.to_string().parse().unwrap_or(f64::from(f))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accessors() {
        type Case = (Value, Option<i64>, Option<f64>, Option<&'static str>);
        let cases: [Case; 6] = [
            (Value::Int(-3), Some(-3), Some(-3.0), None),
            (
                Value::BigInt(1 << 40),
                Some(1 << 40),
                Some((1u64 << 40) as f64),
                None,
            ),
            (Value::Double(0.5), None, Some(0.5), None),
            (Value::from("x"), None, None, Some("x")),
            (Value::Null, None, None, None),
            (Value::DateTime(5), None, None, None),
        ];
        for (v, i, d, s) in cases {
            assert_eq!(v.as_i64(), i, "{v:?}");
            assert_eq!(v.as_f64(), d, "{v:?}");
            assert_eq!(v.as_str(), s, "{v:?}");
        }
        assert_eq!(Value::BigInt(1 << 40).as_i32(), None);
        assert_eq!(Value::BigInt(7).as_i32(), Some(7));
        assert_eq!(Value::from(None::<i32>), Value::Null);
        assert_eq!(Value::DateTime(0).to_string(), "1970-01-01 00:00:00");
    }

    #[test]
    fn single_precision_widens_like_strtod() {
        for (f, want) in [(0.9f32, 0.9f64), (1.0, 1.0), (0.125, 0.125), (-3.3, -3.3)] {
            assert_eq!(widen_f32(f), want);
        }
    }

    #[test]
    fn rows_lookup_by_name() {
        let r = Rows {
            columns: vec!["username".into(), "HA1".into()],
            rows: vec![vec![Value::from("alice"), Value::from("abc")]],
        };
        assert_eq!(r.get(0, "ha1"), Some(&Value::from("abc")));
        assert_eq!(r.get(0, "nope"), None);
        assert_eq!(r.get(1, "username"), None);
    }
}
