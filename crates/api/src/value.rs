//! Script values and return codes.

use std::borrow::Cow;

/// A value as the script sees it: Kamailio has integers, strings and "undefined" (`$null`, an unset
/// variable, a header that is not there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Value {
    /// Undefined / null.
    #[default]
    Null,
    /// A signed integer (Kamailio uses `long`: 64 bits on the platforms we run on).
    Int(i64),
    /// A byte string (SIP is bytes; no UTF-8 is implied).
    Str(Vec<u8>),
}

impl Value {
    /// A string value from anything byte-like.
    pub fn str(s: impl Into<Vec<u8>>) -> Value {
        Value::Str(s.into())
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// Integer conversion by Kamailio's rules (`int(undef)=0`, `int("")=0`, `int("123")=123`,
    /// `int("abc")=0`; a string is read as an optionally signed decimal number, anything else → 0).
    pub fn to_int(&self) -> i64 {
        match self {
            Value::Null => 0,
            Value::Int(i) => *i,
            Value::Str(s) => str_to_int(s).unwrap_or(0),
        }
    }

    /// String conversion (`str(undef)=""`, `str(123)="123"`).
    pub fn to_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Value::Null => Cow::Borrowed(b""),
            Value::Int(i) => Cow::Owned(i.to_string().into_bytes()),
            Value::Str(s) => Cow::Borrowed(s),
        }
    }

    /// Consumes the value into its string form.
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Value::Null => Vec::new(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Str(s) => s,
        }
    }

    /// The string form, lossily decoded (for logs and diagnostics).
    pub fn to_text(&self) -> String {
        String::from_utf8_lossy(&self.to_bytes()).into_owned()
    }
}

impl From<i64> for Value {
    fn from(v: i64) -> Value {
        Value::Int(v)
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.as_bytes().to_vec())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Str(v)
    }
}

/// Reads an optionally signed decimal integer (Kamailio's `str2slong`): surrounding whitespace is not
/// allowed, overflow or any non-digit is `None`.
pub fn str_to_int(s: &[u8]) -> Option<i64> {
    let (neg, digits) = match s.first() {
        Some(b'-') => (true, s.get(1..)?),
        Some(b'+') => (false, s.get(1..)?),
        _ => (false, s),
    };
    if digits.is_empty() {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        let d = i64::from(b - b'0');
        v = v.checked_mul(10)?;
        v = if neg {
            v.checked_sub(d)?
        } else {
            v.checked_add(d)?
        };
    }
    Some(v)
}

/// What a function, a route block or the script returns.
///
/// Kamailio's convention, kept: `> 0` is true/success, `< 0` is false/failure, and `0` stops the
/// script (a function that yields 0 ends processing of the message, like `exit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RetCode(pub i64);

impl RetCode {
    /// Success (1).
    pub const TRUE: RetCode = RetCode(1);
    /// Failure (-1).
    pub const FALSE: RetCode = RetCode(-1);
    /// Stop the script (0).
    pub const STOP: RetCode = RetCode(0);

    /// `> 0`.
    pub fn is_true(self) -> bool {
        self.0 > 0
    }

    /// `== 0`: the script stops.
    pub fn stops(self) -> bool {
        self.0 == 0
    }

    /// From a boolean test: 1 or -1.
    pub fn from_bool(b: bool) -> RetCode {
        if b {
            RetCode::TRUE
        } else {
            RetCode::FALSE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        let cases: &[(Value, i64, &[u8])] = &[
            (Value::Null, 0, b""),
            (Value::Int(-7), -7, b"-7"),
            (Value::str("123"), 123, b"123"),
            (Value::str("-12"), -12, b"-12"),
            (Value::str("+5"), 5, b"+5"),
            (Value::str("abc"), 0, b"abc"),
            (Value::str("12abc"), 0, b"12abc"),
            (Value::str(""), 0, b""),
            (Value::str("-"), 0, b"-"),
            (
                Value::str("99999999999999999999"),
                0,
                b"99999999999999999999",
            ),
        ];
        for (v, i, s) in cases {
            assert_eq!(v.to_int(), *i, "{v:?}");
            assert_eq!(&*v.to_bytes(), *s, "{v:?}");
        }
        assert_eq!(str_to_int(b"-9223372036854775808"), Some(i64::MIN));
    }

    #[test]
    fn retcodes() {
        let cases = [(5, true, false), (0, false, true), (-3, false, false)];
        for (c, t, s) in cases {
            assert_eq!(RetCode(c).is_true(), t);
            assert_eq!(RetCode(c).stops(), s);
        }
        assert_eq!(RetCode::from_bool(false), RetCode::FALSE);
    }
}
