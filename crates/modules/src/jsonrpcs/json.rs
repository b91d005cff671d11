//! A small JSON value with the parser and the printer jsonrpcs needs. The printer reproduces
//! Kamailio's srjson (cJSON) output byte for byte — tabs, `", "` between array items, number
//! formats — because clients such as `kamctl` and test scripts compare replies textually.

use ferrosip_api::export::RpcValue;

/// A JSON value; objects keep their member order (replies print members in insertion order).
#[derive(Debug, Clone, PartialEq)]
pub enum Json {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number written without fraction or exponent that fits an `i64`.
    Int(i64),
    /// Any other number.
    Float(f64),
    /// A string.
    Str(String),
    /// An array.
    Array(Vec<Json>),
    /// An object, members in order.
    Object(Vec<(String, Json)>),
}

impl Json {
    /// The member `key` of an object (the first one, as cJSON's lookup).
    pub fn get(&self, key: &str) -> Option<&Json> {
        match self {
            Json::Object(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string value, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Json::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Prints like srjson: `pretty` is `srjson_Print`, otherwise `srjson_PrintUnformatted`.
    pub fn print(&self, pretty: bool) -> String {
        let mut out = String::new();
        print_value(self, 0, pretty, &mut out);
        out
    }
}

impl From<&RpcValue> for Json {
    fn from(v: &RpcValue) -> Json {
        match v {
            RpcValue::Null => Json::Null,
            RpcValue::Int(i) => Json::Int(*i),
            RpcValue::Double(d) => Json::Float(*d),
            RpcValue::Str(s) => Json::Str(s.clone()),
            RpcValue::Array(a) => Json::Array(a.iter().map(Json::from).collect()),
            RpcValue::Struct(m) => {
                Json::Object(m.iter().map(|(k, v)| (k.clone(), Json::from(v))).collect())
            }
        }
    }
}

impl From<&Json> for RpcValue {
    fn from(v: &Json) -> RpcValue {
        match v {
            Json::Null => RpcValue::Null,
            Json::Bool(b) => RpcValue::Int(i64::from(*b)),
            Json::Int(i) => RpcValue::Int(*i),
            Json::Float(f) => RpcValue::Double(*f),
            Json::Str(s) => RpcValue::Str(s.clone()),
            Json::Array(a) => RpcValue::Array(a.iter().map(RpcValue::from).collect()),
            Json::Object(m) => RpcValue::Struct(
                m.iter()
                    .map(|(k, v)| (k.clone(), RpcValue::from(v)))
                    .collect(),
            ),
        }
    }
}

/// Why a text is not JSON (byte offset of the problem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub usize);

/// Parses one JSON document; trailing whitespace is allowed, anything else after it is an error.
pub fn parse(text: &[u8]) -> Result<Json, ParseError> {
    let mut p = Parser {
        b: text,
        i: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.ws();
    if p.i != text.len() {
        return Err(ParseError(p.i));
    }
    Ok(v)
}

/// The length of the first complete top-level `{…}` object in `buf` (counting braces outside
/// strings, as Kamailio's FIFO and TCP readers do), or `None` when more bytes are needed.
pub fn object_end(buf: &[u8]) -> Option<usize> {
    let mut depth = 0usize;
    let mut found = false;
    let mut in_str = false;
    let mut esc = false;
    for (i, &c) in buf.iter().enumerate() {
        if in_str {
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' => {
                depth += 1;
                found = true;
            }
            b'}' if depth > 0 => {
                depth -= 1;
                if found && depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

// ---- internals ----

// Deep nesting is refused so hostile input cannot exhaust the stack.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn err<T>(&self) -> Result<T, ParseError> {
        Err(ParseError(self.i))
    }

    fn lit(&mut self, word: &[u8], v: Json) -> Result<Json, ParseError> {
        if self.b.get(self.i..self.i + word.len()) == Some(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err()
        }
    }

    fn value(&mut self) -> Result<Json, ParseError> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b't') => self.lit(b"true", Json::Bool(true)),
            Some(b'f') => self.lit(b"false", Json::Bool(false)),
            Some(b'n') => self.lit(b"null", Json::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => self.err(),
        }
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err();
        }
        self.i += 1;
        Ok(())
    }

    fn object(&mut self) -> Result<Json, ParseError> {
        self.enter()?;
        let mut m = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Json::Object(m));
        }
        loop {
            self.ws();
            if self.peek() != Some(b'"') {
                return self.err();
            }
            let k = self.string()?;
            self.ws();
            if self.peek() != Some(b':') {
                return self.err();
            }
            self.i += 1;
            let v = self.value()?;
            m.push((k, v));
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b'}') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Json::Object(m));
                }
                _ => return self.err(),
            }
        }
    }

    fn array(&mut self) -> Result<Json, ParseError> {
        self.enter()?;
        let mut a = Vec::new();
        self.ws();
        if self.peek() == Some(b']') {
            self.i += 1;
            self.depth -= 1;
            return Ok(Json::Array(a));
        }
        loop {
            a.push(self.value()?);
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(Json::Array(a));
                }
                _ => return self.err(),
            }
        }
    }

    fn hex4(&mut self) -> Result<u32, ParseError> {
        let h = self.b.get(self.i..self.i + 4).ok_or(ParseError(self.i))?;
        let s = std::str::from_utf8(h).map_err(|_| ParseError(self.i))?;
        let v = u32::from_str_radix(s, 16).map_err(|_| ParseError(self.i))?;
        self.i += 4;
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.i += 1; // opening quote
        let mut out: Vec<u8> = Vec::new();
        loop {
            let c = match self.peek() {
                Some(c) => c,
                None => return self.err(),
            };
            self.i += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let e = match self.peek() {
                        Some(e) => e,
                        None => return self.err(),
                    };
                    self.i += 1;
                    match e {
                        b'"' | b'\\' | b'/' => out.push(e),
                        b'b' => out.push(8),
                        b'f' => out.push(12),
                        b'n' => out.push(b'\n'),
                        b'r' => out.push(b'\r'),
                        b't' => out.push(b'\t'),
                        b'u' => {
                            let mut cp = self.hex4()?;
                            if (0xD800..0xDC00).contains(&cp)
                                && self.b.get(self.i..self.i + 2) == Some(b"\\u")
                            {
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                }
                            }
                            let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                            let mut tmp = [0u8; 4];
                            out.extend_from_slice(ch.encode_utf8(&mut tmp).as_bytes());
                        }
                        _ => return self.err(),
                    }
                }
                _ => out.push(c),
            }
        }
        Ok(String::from_utf8_lossy(&out).into_owned())
    }

    fn number(&mut self) -> Result<Json, ParseError> {
        let start = self.i;
        let mut integral = true;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => {}
                b'.' | b'e' | b'E' | b'+' | b'-' => integral = false,
                _ => break,
            }
            self.i += 1;
        }
        let s = std::str::from_utf8(self.b.get(start..self.i).unwrap_or_default())
            .map_err(|_| ParseError(start))?;
        if integral {
            if let Ok(i) = s.parse::<i64>() {
                return Ok(Json::Int(i));
            }
        }
        s.parse::<f64>()
            .map(Json::Float)
            .map_err(|_| ParseError(start))
    }
}

fn tabs(n: usize, out: &mut String) {
    for _ in 0..n {
        out.push('\t');
    }
}

fn print_value(v: &Json, depth: usize, pretty: bool, out: &mut String) {
    match v {
        Json::Null => out.push_str("null"),
        Json::Bool(true) => out.push_str("true"),
        Json::Bool(false) => out.push_str("false"),
        Json::Int(i) => out.push_str(&i.to_string()),
        Json::Float(f) => out.push_str(&format_double(*f)),
        Json::Str(s) => print_string(s, out),
        Json::Array(a) => {
            out.push('[');
            for (n, x) in a.iter().enumerate() {
                if n > 0 {
                    out.push_str(if pretty { ", " } else { "," });
                }
                print_value(x, depth + 1, pretty, out);
            }
            out.push(']');
        }
        Json::Object(m) => {
            out.push('{');
            if pretty {
                out.push('\n');
            }
            for (n, (k, x)) in m.iter().enumerate() {
                if pretty {
                    tabs(depth + 1, out);
                }
                print_string(k, out);
                out.push(':');
                if pretty {
                    out.push('\t');
                }
                print_value(x, depth + 1, pretty, out);
                if n + 1 < m.len() {
                    out.push(',');
                }
                if pretty {
                    out.push('\n');
                }
            }
            if pretty {
                tabs(depth, out);
            }
            out.push('}');
        }
    }
}

/// cJSON's number rules: an integral value in `int` range prints as `%d`, another integral value
/// as `%.0f`, a very small or very large one as `%e`, the rest as `%f`.
pub fn format_double(d: f64) -> String {
    if !d.is_finite() {
        return "0".into();
    }
    if d.fract() == 0.0 && d <= f64::from(i32::MAX) && d >= f64::from(i32::MIN) {
        return format!("{}", d as i64);
    }
    if d.fract() == 0.0 && d.abs() < 1.0e60 {
        return format!("{d:.0}");
    }
    if d.abs() < 1.0e-6 || d.abs() > 1.0e9 {
        // C's %e: six decimals, exponent with sign and at least two digits.
        let s = format!("{d:.6e}");
        return match s.split_once('e') {
            Some((m, e)) => {
                let (sign, digits) = match e.strip_prefix('-') {
                    Some(x) => ('-', x),
                    None => ('+', e),
                };
                format!("{m}e{sign}{digits:0>2}")
            }
            None => s,
        };
    }
    format!("{d:.6}")
}

fn print_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 32 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_prints_like_srjson() {
        // (input, compact, pretty)
        let cases = [
            (r#"{"a":1}"#, r#"{"a":1}"#, "{\n\t\"a\":\t1\n}"),
            (r#"{}"#, "{}", "{\n}"),
            (
                r#"[1, "x", 2.5]"#,
                r#"[1,"x",2.500000]"#,
                r#"[1, "x", 2.500000]"#,
            ),
            (
                r#"{"r":[{"s":{"p":"u"}}]}"#,
                r#"{"r":[{"s":{"p":"u"}}]}"#,
                "{\n\t\"r\":\t[{\n\t\t\t\"s\":\t{\n\t\t\t\t\"p\":\t\"u\"\n\t\t\t}\n\t\t}]\n}",
            ),
            (
                r#""a\"\n\u0001\u00e9""#,
                r#""a\"\n\u0001é""#,
                r#""a\"\n\u0001é""#,
            ),
            (
                "[true,false,null]",
                "[true,false,null]",
                "[true, false, null]",
            ),
        ];
        for (input, compact, pretty) in cases {
            let v = parse(input.as_bytes()).expect(input);
            assert_eq!(v.print(false), compact, "{input}");
            assert_eq!(v.print(true), pretty, "{input}");
        }
    }

    #[test]
    fn refuses_bad_input() {
        for bad in [
            "",
            "{",
            "{\"a\"}",
            "[1,]",
            "tru",
            "\"abc",
            "{} x",
            "01x",
            "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]",
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }

    #[test]
    fn numbers_and_framing() {
        let cases = [
            (0.5, "0.500000"),
            (3.0, "3"),
            (1e10, "10000000000"),
            (1.5e10, "15000000000"),
            (1e-7, "1.000000e-07"),
            (2.5e12 + 0.5, "2.500000e+12"),
        ];
        for (d, want) in cases {
            assert_eq!(format_double(d), want, "{d}");
        }
        let frames: [(&str, Option<usize>); 4] = [
            ("{\"a\":\"}\"} tail", Some(9)),
            ("{\"a\":{", None),
            ("  {}", Some(4)),
            ("{\"a\":\"\\\"}\"}", Some(11)),
        ];
        for (buf, want) in frames {
            assert_eq!(object_end(buf.as_bytes()), want, "{buf}");
        }
    }

    #[test]
    fn hostile_text_never_panics() {
        // pseudo-random documents over JSON's own alphabet (fixed-seed LCG)
        let alphabet = br#"{}[]",:\/u0123456789abcdeftrnl-+.eE "#;
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) as usize
        };
        let mut parsed = 0;
        for _ in 0..50_000 {
            let len = next() % 40;
            let doc: Vec<u8> = (0..len)
                .map(|_| alphabet[next() % alphabet.len()])
                .collect();
            if parse(&doc).is_ok() {
                parsed += 1;
            }
            let _ = object_end(&doc);
        }
        // the generator does produce some valid documents, so both paths are exercised
        assert!(parsed > 0);
    }
}
