//! The `s` transformation class (`{s.len}`, `{s.substr,1,2}`, `{s.md5}` … all 68 names of
//! Kamailio 6.0). Parameters may be literals or variables (`{s.substr,$var(i),2}`); a variable
//! used where Kamailio wants a number must hold an integer, as in Kamailio.
//!
//! Where Kamailio's code reads memory it should not (`s.rbefore`/`s.rafter` scan past the end of
//! the string) ferrosip does what the documentation says; `s.byteat` gives the byte as an integer
//! (Kamailio keeps the input as the string form). `s.fmtlines` reproduces Kamailio's output
//! exactly, odd as it is. `docs/pv.md` lists these.

use std::sync::Arc;

use ferrosip_api::export::{Transform, TransformExport};
use ferrosip_api::pv::parse_pv_ref;
use ferrosip_api::{Ctx, Error, PvSpec, Registry, Value};

use super::codec;
use super::timefmt::{format, Zone};
use super::{rt, s};

/// The `s` class.
pub fn export() -> TransformExport {
    TransformExport {
        class: "s",
        doc: "string transformations",
        parse: Arc::new(parse),
    }
}

/// A transformation parameter.
#[derive(Debug, Clone)]
pub enum TParam {
    /// A literal, as written (leading blanks removed).
    Lit(Vec<u8>),
    /// A variable read per message.
    Pv(PvSpec),
}

impl TParam {
    /// As an integer: a literal must be a number (checked at load by [`TParam::check_int`]); a
    /// variable must hold an integer.
    pub fn int(&self, c: &mut Ctx<'_>) -> Result<i64, Error> {
        match self {
            TParam::Lit(l) => lit_int(l).ok_or_else(|| rt("parameter is not a number")),
            TParam::Pv(p) => match p.get(c) {
                Value::Int(i) => Ok(i),
                _ => Err(rt(format!("{} does not hold an integer", p.text()))),
            },
        }
    }

    /// As a string: a variable must hold a non-empty string.
    pub fn bytes(&self, c: &mut Ctx<'_>) -> Result<Vec<u8>, Error> {
        match self {
            TParam::Lit(l) => Ok(l.clone()),
            TParam::Pv(p) => match p.get(c) {
                Value::Str(b) if !b.is_empty() => Ok(b),
                _ => Err(rt(format!("{} does not hold a string", p.text()))),
            },
        }
    }

    /// Load-time check that a literal is a number.
    pub fn check_int(&self) -> Result<(), String> {
        match self {
            TParam::Lit(l) if lit_int(l).is_none() => {
                Err(format!("`{}` is not a number", String::from_utf8_lossy(l)))
            }
            _ => Ok(()),
        }
    }
}

/// Kamailio's number parameter: optional sign, blanks, digits (stops at the first non-digit).
fn lit_int(l: &[u8]) -> Option<i64> {
    let (neg, rest) = match l.first() {
        Some(b'-') => (true, &l[1..]),
        Some(b'+') => (false, &l[1..]),
        Some(c) if c.is_ascii_digit() => (false, l),
        _ => return None,
    };
    let rest: Vec<u8> = rest
        .iter()
        .copied()
        .skip_while(|c| matches!(c, b' ' | b'\t' | b'\n'))
        .collect();
    let digits: Vec<u8> = rest
        .iter()
        .copied()
        .take_while(u8::is_ascii_digit)
        .collect();
    if digits.len() != rest.len() {
        return None;
    }
    let mut n: i64 = 0;
    for d in digits {
        n = n.checked_mul(10)?.checked_add(i64::from(d - b'0'))?;
    }
    Some(if neg { -n } else { n })
}

/// Splits `a,b,c` at top-level commas (commas inside `$(…)`, `(…)` or `{…}` stay).
pub fn split_params(text: &str) -> Vec<&str> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in b.iter().enumerate() {
        match c {
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth -= 1,
            b',' if depth <= 0 => {
                out.push(text.get(start..i).unwrap_or_default());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(text.get(start..).unwrap_or_default());
    out
}

/// Parses one parameter.
pub fn param(text: &str, reg: &Registry) -> Result<TParam, String> {
    let t = text.trim_start_matches([' ', '\t', '\n']);
    if t.starts_with('$') {
        let (r, used) = parse_pv_ref(t.trim_end().as_bytes())?;
        if used != t.trim_end().len() {
            return Err(format!("unexpected text after variable in `{t}`"));
        }
        return Ok(TParam::Pv(reg.resolve_pv(&r)?));
    }
    if t.contains(['\t', '\n']) {
        return Err(format!("invalid parameter `{t}`"));
    }
    Ok(TParam::Lit(t.as_bytes().to_vec()))
}

fn params(list: &[&str], reg: &Registry) -> Result<Vec<TParam>, String> {
    list.iter().map(|p| param(p, reg)).collect()
}

/// Kamailio's transformation buffer size: results do not grow past it there, so longer results
/// are refused here too (and the size-multiplying transformations check before allocating).
pub const TR_BUFFER_SIZE: usize = 65536;

/// Builds a transformation from a closure; a string result longer than [`TR_BUFFER_SIZE`] is an
/// error, as Kamailio fails when its buffer would overflow.
pub fn tr(
    f: impl Fn(&mut Ctx<'_>, Value) -> Result<Value, Error> + Send + Sync + 'static,
) -> Transform {
    Arc::new(move |c, v| match f(c, v)? {
        Value::Str(b) if b.len() >= TR_BUFFER_SIZE => {
            Err(rt("transformation result longer than 64 KB"))
        }
        v => Ok(v),
    })
}

/// The string form of a non-null value; `Null` is an error (Kamailio's string transformations
/// fail on `$null`, and the variable then reads as `<null>`).
pub fn text(v: Value) -> Result<Vec<u8>, Error> {
    match v {
        Value::Null => Err(rt("transformation applied to $null")),
        v => Ok(v.into_bytes()),
    }
}

/// A transformation taking no parameter and mapping bytes to bytes.
fn simple(f: fn(&[u8]) -> Result<Vec<u8>, Error>) -> Transform {
    tr(move |_, v| Ok(s(f(&text(v)?)?)))
}

fn no_params(name: &str, p: &[&str]) -> Result<(), String> {
    if p.is_empty() {
        Ok(())
    } else {
        Err(format!("s.{name} takes no parameter"))
    }
}

fn want(name: &str, p: &[&str], n: usize) -> Result<(), String> {
    if p.len() == n {
        Ok(())
    } else {
        Err(format!("s.{name} takes {n} parameter(s)"))
    }
}

fn parse(text_in: &str, reg: &Registry) -> Result<Transform, String> {
    let (name, rest) = match text_in.split_once(',') {
        Some((n, r)) => (n.trim(), Some(r)),
        None => (text_in.trim(), None),
    };
    let lname = name.to_ascii_lowercase();
    // s.select keeps its separator character verbatim (it may be a comma).
    if lname == "select" {
        let rest = rest.ok_or("s.select needs an index and a separator")?;
        let (idx, sep) = rest
            .split_once(',')
            .ok_or("s.select needs an index and a separator")?;
        let idx = param(idx, reg)?;
        idx.check_int()?;
        let sep = match sep.trim_end_matches([' ', '\t', '\n']).as_bytes() {
            [c] => *c,
            [b'\\', b'\\'] => b'\\',
            [b'\\', b'n'] => b'\n',
            [b'\\', b'r'] => b'\r',
            [b'\\', b't'] => b'\t',
            _ => return Err(format!("s.select: bad separator `{sep}`")),
        };
        return Ok(tr(move |c, v| {
            let i = idx.int(c)?;
            let b = text(v)?;
            Ok(s(select(&b, i, |x| x == sep)))
        }));
    }
    // These take one string parameter that may itself be a comma (`{s.count,,}`).
    let whole = matches!(
        lname.as_str(),
        "count" | "before" | "after" | "rbefore" | "rafter" | "stripto"
    );
    let plist: Vec<&str> = match rest {
        Some(r) if whole => vec![r],
        Some(r) => split_params(r),
        None => Vec::new(),
    };
    let p = params(&plist, reg)?;
    let t: Transform = match lname.as_str() {
        "len" => {
            no_params(name, &plist)?;
            tr(|_, v| Ok(Value::Int(text(v)?.len() as i64)))
        }
        "int" | "intv" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Int(i) => Ok(Value::Int(i)),
                Value::Str(b) => str2slong(&b)
                    .map(Value::Int)
                    .ok_or_else(|| rt("not a number")),
                Value::Null => Err(rt("transformation applied to $null")),
            })
        }
        "md5" => hash(name, &plist, |b| codec::hex(&codec::md5(b)))?,
        "sha1" => hash(name, &plist, |b| codec::hex(&codec::sha1(b)))?,
        "sha256" => hash(name, &plist, |b| codec::hex(&codec::sha256(b)))?,
        "sha384" => hash(name, &plist, |b| codec::hex(&codec::sha384(b)))?,
        "sha512" => hash(name, &plist, |b| codec::hex(&codec::sha512(b)))?,
        "sha3" | "keccak" => {
            let keccak = lname == "keccak";
            let bits = match p.first() {
                None => 256,
                Some(TParam::Lit(l)) => match lit_int(l) {
                    Some(b @ (256 | 384 | 512)) => b as usize,
                    _ => return Err(format!("s.{name}: bit length must be 256, 384 or 512")),
                },
                Some(TParam::Pv(_)) => {
                    return Err(format!("s.{name}: the bit length must be a constant"))
                }
            };
            tr(move |_, v| Ok(s(codec::hex(&codec::sha3(&text(v)?, bits, keccak)))))
        }
        "rmws" => {
            no_params(name, &plist)?;
            simple(|b| {
                Ok(b.iter()
                    .copied()
                    .filter(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
                    .collect())
            })
        }
        "rmhdws" => {
            no_params(name, &plist)?;
            simple(|b| Ok(rm_header_ws(b, true)))
        }
        "rmhlws" => {
            no_params(name, &plist)?;
            simple(|b| Ok(rm_header_ws(b, false)))
        }
        "tolower" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Str(b) => Ok(s(b.to_ascii_lowercase())),
                Value::Null => Err(rt("transformation applied to $null")),
                i => Ok(i),
            })
        }
        "toupper" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Str(b) => Ok(s(b.to_ascii_uppercase())),
                Value::Null => Err(rt("transformation applied to $null")),
                i => Ok(i),
            })
        }
        "numeric" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Str(b) => Ok(s(b
                    .iter()
                    .copied()
                    .filter(u8::is_ascii_digit)
                    .collect::<Vec<u8>>())),
                _ => Err(rt("s.numeric needs a string")),
            })
        }
        "encode.hexa" => {
            no_params(name, &plist)?;
            simple(|b| Ok(codec::hex(b)))
        }
        "decode.hexa" => {
            no_params(name, &plist)?;
            simple(|b| {
                // Kamailio decodes pairs and ignores an odd last digit.
                let even = b.get(..b.len() - b.len() % 2).unwrap_or_default();
                codec::unhex(even).ok_or_else(|| rt("not hex"))
            })
        }
        "encode.7bit" => {
            no_params(name, &plist)?;
            simple(|b| Ok(codec::hex(&codec::encode_7bit(b)).to_ascii_uppercase()))
        }
        "decode.7bit" => {
            no_params(name, &plist)?;
            simple(|b| {
                let even = b.get(..b.len() - b.len() % 2).unwrap_or_default();
                Ok(codec::decode_7bit(
                    &codec::unhex(even).ok_or_else(|| rt("not hex"))?,
                ))
            })
        }
        "encode.base58" => {
            no_params(name, &plist)?;
            simple(|b| Ok(codec::base58_encode(b)))
        }
        "decode.base58" => {
            no_params(name, &plist)?;
            simple(|b| codec::base58_decode(b).ok_or_else(|| rt("not base58")))
        }
        "encode.base64" => b64enc(name, &plist, false, true)?,
        "encode.base64t" => b64enc(name, &plist, false, false)?,
        "encode.base64url" => b64enc(name, &plist, true, true)?,
        "encode.base64urlt" => b64enc(name, &plist, true, false)?,
        "decode.base64" | "decode.base64t" => b64dec(name, &plist, false)?,
        "decode.base64url" | "decode.base64urlt" => b64dec(name, &plist, true)?,
        "escape.common" => {
            no_params(name, &plist)?;
            simple(|b| Ok(escape_common(b)))
        }
        "unescape.common" => {
            no_params(name, &plist)?;
            simple(|b| Ok(unescape_common(b)))
        }
        "escape.crlf" => {
            no_params(name, &plist)?;
            simple(|b| nonempty(b).map(escape_crlf))
        }
        "unescape.crlf" => {
            no_params(name, &plist)?;
            simple(|b| nonempty(b).map(unescape_crlf))
        }
        "escape.user" => {
            no_params(name, &plist)?;
            simple(|b| percent_escape(b, b"-_.!~*'()&=+$,;?"))
        }
        "escape.param" => {
            no_params(name, &plist)?;
            simple(|b| percent_escape(b, b"-_.!~*'()[]/:&+$"))
        }
        "unescape.user" | "unescape.param" => {
            no_params(name, &plist)?;
            simple(unescape_user)
        }
        "escape.csv" => {
            no_params(name, &plist)?;
            simple(|b| {
                let mut out = vec![b'"'];
                for &c in b {
                    if c == b'"' {
                        out.push(b'"');
                    }
                    out.push(c);
                }
                out.push(b'"');
                Ok(out)
            })
        }
        "prefixes" | "prefixes.quoted" => {
            if p.len() > 1 {
                return Err(format!("s.{name} takes at most 1 parameter"));
            }
            if let Some(x) = p.first() {
                x.check_int()?;
            }
            let quoted = lname == "prefixes.quoted";
            let maxp = p.first().cloned();
            tr(move |c, v| {
                let b = text(v)?;
                let mut max = b.len();
                if let Some(m) = &maxp {
                    let m = m.int(c)?;
                    if m > 0 && (m as usize) < max {
                        max = m as usize;
                    }
                }
                // Kamailio's own bound: the list of prefixes must fit its buffer.
                let extra = if quoted { 1 } else { 3 };
                if max.saturating_mul(max / 2 + extra) > TR_BUFFER_SIZE - 1 {
                    return Err(rt("s.prefixes: result too long"));
                }
                let items: Vec<Vec<u8>> = (1..=max)
                    .map(|i| {
                        let pre = b.get(..i).unwrap_or_default();
                        if quoted {
                            [&b"'"[..], pre, b"'"].concat()
                        } else {
                            pre.to_vec()
                        }
                    })
                    .collect();
                Ok(s(items.join(&b","[..])))
            })
        }
        "substr" => {
            want(name, &plist, 2)?;
            for x in &p {
                x.check_int()?;
            }
            let (a, b) = (p[0].clone(), p[1].clone()); // want() checked the count
            tr(move |c, v| {
                let i = a.int(c)?;
                let j = b.int(c)?;
                let t = text(v)?;
                substr(&t, i, j)
                    .map(s)
                    .ok_or_else(|| rt("s.substr out of range"))
            })
        }
        "selectsw" | "selectws" => {
            want(name, &plist, 1)?;
            p[0].check_int()?;
            let a = p[0].clone();
            tr(move |c, v| {
                let i = a.int(c)?;
                Ok(s(select(&text(v)?, i, |x| {
                    matches!(x, b' ' | b'\t' | b'\n' | b'\r')
                })))
            })
        }
        "strip" | "striptail" => {
            want(name, &plist, 1)?;
            p[0].check_int()?;
            let a = p[0].clone();
            let tail = lname == "striptail";
            tr(move |c, v| {
                let n = a.int(c)?;
                if n <= 0 {
                    // Kamailio leaves the value untouched (an integer stays an integer).
                    return match v {
                        Value::Null => Err(rt("transformation applied to $null")),
                        v => Ok(v),
                    };
                }
                let b = text(v)?;
                let n = n as usize;
                if n >= b.len() {
                    return Ok(s(""));
                }
                Ok(s(if tail { &b[..b.len() - n] } else { &b[n..] }))
            })
        }
        "stripto" => {
            want(name, &plist, 1)?;
            let a = p[0].clone();
            tr(move |c, v| {
                let needle = a.bytes(c)?;
                let b = text(v)?;
                let first = needle.first().copied().unwrap_or(0);
                Ok(match b.iter().position(|x| *x == first) {
                    Some(i) => s(&b[i..]),
                    None => s(""),
                })
            })
        }
        "replace" => {
            want(name, &plist, 2)?;
            let (a, bb) = (p[0].clone(), p[1].clone());
            tr(move |c, v| {
                let from = a.bytes(c)?;
                let to = bb.bytes(c)?;
                let t = text(v)?;
                Ok(s(replace(&t, &from, Some(&to))))
            })
        }
        "rm" => {
            want(name, &plist, 1)?;
            let a = match &p[0] {
                TParam::Lit(l) => TParam::Lit(unescape_rm(l)),
                x => x.clone(),
            };
            tr(move |c, v| {
                let from = a.bytes(c)?;
                let t = text(v)?;
                Ok(s(replace(&t, &from, None)))
            })
        }
        "ftime" => {
            want(name, &plist, 1)?;
            let a = p[0].clone();
            tr(move |c, v| {
                let t = match v {
                    Value::Int(i) => i,
                    Value::Str(b) => str2slong(&b).ok_or_else(|| rt("not a number"))?,
                    Value::Null => return Err(rt("transformation applied to $null")),
                };
                let f = a.bytes(c)?;
                // Kamailio: localtime_r + strftime into its 64 KiB transformation buffer; a
                // result strftime cannot write is the empty string.
                Ok(s(format(&f, t, Zone::Local, 65_535).unwrap_or_default()))
            })
        }
        "trim" | "rtrim" | "ltrim" => {
            no_params(name, &plist)?;
            let (l, r) = match lname.as_str() {
                "trim" => (true, true),
                "ltrim" => (true, false),
                _ => (false, true),
            };
            tr(move |_, v| {
                let b = text(v)?;
                let ws = |c: &u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
                let start = if l {
                    b.iter().position(|c| !ws(c)).unwrap_or(b.len())
                } else {
                    0
                };
                let end = if r {
                    b.iter()
                        .rposition(|c| !ws(c))
                        .map(|e| e + 1)
                        .unwrap_or(start)
                } else {
                    b.len()
                };
                Ok(s(b.get(start..end.max(start)).unwrap_or_default()))
            })
        }
        "urlencode.param" => {
            no_params(name, &plist)?;
            simple(|b| {
                let mut out = Vec::with_capacity(b.len() * 3);
                for &c in b {
                    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
                        out.push(c);
                    } else {
                        out.push(b'%');
                        out.extend_from_slice(&codec::hex(&[c]));
                    }
                }
                Ok(out)
            })
        }
        "urldecode.param" => {
            no_params(name, &plist)?;
            simple(|b| Ok(urldecode(b)))
        }
        "corehash" => {
            if p.len() > 1 {
                return Err("s.corehash takes at most 1 parameter".into());
            }
            if let Some(x) = p.first() {
                x.check_int()?;
            }
            let size = p.first().cloned();
            tr(move |c, v| {
                let b = text(v)?;
                let size = match &size {
                    Some(x) => x.int(c)? as u32,
                    None => 0,
                };
                Ok(s(core_hash(&b, size).to_string()))
            })
        }
        "unquote" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Str(b)
                    if b.len() >= 2
                        && b[0] == b[b.len() - 1]
                        && (b[0] == b'"' || b[0] == b'\'') =>
                {
                    Ok(s(&b[1..b.len() - 1]))
                }
                Value::Null => Err(rt("transformation applied to $null")),
                v => Ok(v),
            })
        }
        "unbracket" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Str(b)
                    if b.len() >= 2
                        && matches!(
                            (b[0], b[b.len() - 1]),
                            (b'(', b')') | (b'[', b']') | (b'{', b'}') | (b'<', b'>')
                        ) =>
                {
                    Ok(s(&b[1..b.len() - 1]))
                }
                Value::Null => Err(rt("transformation applied to $null")),
                v => Ok(v),
            })
        }
        "count" => {
            want(name, &plist, 1)?;
            let a = p[0].clone();
            tr(move |c, v| {
                let needle = a.bytes(c)?;
                let b = match v {
                    Value::Str(b) => b,
                    _ => return Err(rt("s.count needs a string")),
                };
                let first = needle.first().copied().unwrap_or(0);
                Ok(Value::Int(b.iter().filter(|x| **x == first).count() as i64))
            })
        }
        "before" | "rbefore" | "after" | "rafter" => {
            want(name, &plist, 1)?;
            let a = p[0].clone();
            let (rev, after) = match lname.as_str() {
                "before" => (false, false),
                "rbefore" => (true, false),
                "after" => (false, true),
                _ => (true, true),
            };
            tr(move |c, v| {
                let needle = a.bytes(c)?;
                let b = match v {
                    Value::Str(b) => b,
                    _ => {
                        return Err(rt(format!(
                            "s.{} needs a string",
                            if after { "after" } else { "before" }
                        )))
                    }
                };
                let first = needle.first().copied().unwrap_or(0);
                let pos = if rev {
                    b.iter().rposition(|x| *x == first)
                } else {
                    b.iter().position(|x| *x == first)
                };
                Ok(s(match (pos, after) {
                    // Not found: Kamailio's loop ends past the string: whole value for before,
                    // empty for after.
                    (None, false) => &b[..],
                    (None, true) => &b[..0],
                    (Some(i), false) => &b[..i],
                    (Some(i), true) => &b[i + 1..],
                }))
            })
        }
        "fmtlines" | "fmtlinet" => {
            want(name, &plist, 2)?;
            for x in &p {
                x.check_int()?;
            }
            let (a, bb) = (p[0].clone(), p[1].clone());
            let fill = if lname == "fmtlines" { b' ' } else { b'\t' };
            tr(move |c, v| {
                let n = a.int(c)?;
                let m = bb.int(c)?;
                let b = match v {
                    Value::Str(b) => b,
                    _ => return Err(rt("s.fmtlines needs a string")),
                };
                if n <= 0 || m < 0 {
                    return Err(rt("s.fmtlines: bad parameters"));
                }
                Ok(s(fmtlines(&b, n as usize, m as usize, fill)?))
            })
        }
        "crc32" => {
            no_params(name, &plist)?;
            tr(|_, v| match v {
                Value::Str(b) => Ok(Value::Int(i64::from(codec::crc32(&b)))),
                _ => Err(rt("s.crc32 needs a string")),
            })
        }
        "charat" | "byteat" => {
            want(name, &plist, 1)?;
            p[0].check_int()?;
            let a = p[0].clone();
            let byte = lname == "byteat";
            tr(move |c, v| {
                let i = a.int(c)?;
                let b = match v {
                    Value::Str(b) => b,
                    _ => return Err(rt("needs a string")),
                };
                let at = usize::try_from(i).ok().and_then(|i| b.get(i).copied());
                Ok(match (at, byte) {
                    (None, false) => s(""),
                    (None, true) => Value::Int(-1),
                    (Some(ch), false) => s([ch]),
                    // C `char` is signed on the platforms Kamailio runs on.
                    (Some(ch), true) => Value::Int(i64::from(ch as i8)),
                })
            })
        }
        _ => return Err(format!("unknown string transformation `s.{name}`")),
    };
    Ok(t)
}

/// `{s.fmtlines,n,m}` exactly as Kamailio's code computes it: its test `i / n == 0` (meant as
/// `i % n`) breaks the line before each of the characters 1..n-1 only; when `m` is not smaller
/// than the length it reads from the buffer it writes to. Reproduced byte for byte, because a
/// config that uses it gets Kamailio's output.
fn fmtlines(b: &[u8], n: usize, m: usize, fill: u8) -> Result<Vec<u8>, Error> {
    let aliased = m >= b.len();
    let size = b
        .len()
        .min(n)
        .checked_mul(m.saturating_add(2))
        .and_then(|x| x.checked_add(b.len() + 1))
        .filter(|x| *x < TR_BUFFER_SIZE)
        .ok_or_else(|| rt("s.fmtlines: result too long"))?;
    let mut out = vec![0u8; size];
    if aliased {
        out[..b.len()].copy_from_slice(b); // out is longer than b
    }
    let mut p = 0;
    for i in 0..b.len() {
        if i != 0 && i / n == 0 {
            out[p] = b'\r'; // p < i + i * (2 + m) <= capacity
            out[p + 1] = b'\n';
            p += 2;
            for _ in 0..m {
                out[p] = fill;
                p += 1;
            }
        }
        let ch = if aliased { out[i] } else { b[i] };
        out[p] = ch;
        p += 1;
    }
    out.truncate(p);
    Ok(out)
}

fn hash(name: &str, plist: &[&str], f: fn(&[u8]) -> Vec<u8>) -> Result<Transform, String> {
    no_params(name, plist)?;
    Ok(tr(move |_, v| Ok(s(f(&text(v)?)))))
}

fn b64enc(name: &str, plist: &[&str], url: bool, pad: bool) -> Result<Transform, String> {
    no_params(name, plist)?;
    Ok(tr(move |_, v| {
        Ok(s(codec::base64_encode(&text(v)?, url, pad)))
    }))
}

fn b64dec(name: &str, plist: &[&str], url: bool) -> Result<Transform, String> {
    no_params(name, plist)?;
    Ok(tr(move |_, v| {
        let b = text(v)?;
        let out = codec::base64_decode(&b, url).ok_or_else(|| rt("not base64"))?;
        if out.is_empty() && !b.is_empty() {
            return Err(rt("not base64"));
        }
        Ok(s(out))
    }))
}

fn nonempty(b: &[u8]) -> Result<&[u8], Error> {
    if b.is_empty() {
        // Kamailio's escape_crlf/unescape_crlf refuse an empty input.
        Err(rt("empty value"))
    } else {
        Ok(b)
    }
}

/// Kamailio's `str2slong`: optional sign then digits only; the empty string is 0.
pub fn str2slong(b: &[u8]) -> Option<i64> {
    let (neg, digits) = match b.first() {
        Some(b'-') => (true, &b[1..]),
        Some(b'+') => (false, &b[1..]),
        _ => (false, b),
    };
    let mut n: i64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = i64::from(c - b'0');
        n = n.checked_mul(10)?;
        n = if neg {
            n.checked_sub(d)?
        } else {
            n.checked_add(d)?
        };
    }
    Some(n)
}

fn rm_header_ws(b: &[u8], keep_one: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut state = 0u8; // 0 normal, 1 after line end, 2 folded blank seen
    for &c in b {
        if c == b'\r' || c == b'\n' {
            state = 1;
        } else if state != 0 && (c == b' ' || c == b'\t') {
            if state == 1 && keep_one {
                out.push(b' ');
            }
            state = 2;
        } else {
            out.push(c);
            state = 0;
        }
    }
    out
}

fn escape_common(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() * 2);
    for &c in b {
        match c {
            b'\'' | b'"' | b'\\' => {
                out.push(b'\\');
                out.push(c);
            }
            0 => out.extend_from_slice(b"\\0"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_common(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'\\' {
            match b.get(i + 1) {
                Some(&n @ (b'\'' | b'"' | b'\\')) => {
                    out.push(n);
                    i += 1;
                }
                Some(b'0') => {
                    out.push(0);
                    i += 1;
                }
                _ => out.push(c),
            }
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

fn escape_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len() * 2);
    for &c in b {
        match c {
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            c => out.push(c),
        }
    }
    out
}

fn unescape_crlf(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match (c, b.get(i + 1)) {
            (b'\\', Some(b'n')) => {
                out.push(b'\n');
                i += 1;
            }
            (b'\\', Some(b'r')) => {
                out.push(b'\r');
                i += 1;
            }
            (c, _) => out.push(c),
        }
        i += 1;
    }
    out
}

/// `%XX` escaping of everything but alphanumerics and `keep`; control and non-ASCII bytes are an
/// error, as in Kamailio's `escape_user`/`escape_param`.
fn percent_escape(b: &[u8], keep: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(b.len() * 3);
    for &c in b {
        if !(32..=126).contains(&c) {
            return Err(rt("cannot escape a control or non-ASCII character"));
        }
        if c.is_ascii_alphanumeric() || keep.contains(&c) {
            out.push(c);
        } else {
            // Lower-case hex digits, as Kamailio's escape_user/escape_param write them.
            out.push(b'%');
            out.extend_from_slice(&codec::hex(&[c]));
        }
    }
    Ok(out)
}

fn unescape_user(b: &[u8]) -> Result<Vec<u8>, Error> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            let h = b.get(i + 1).and_then(|x| codec::hexval(*x));
            let l = b.get(i + 2).and_then(|x| codec::hexval(*x));
            match (h, l) {
                (Some(h), Some(l)) if i + 3 <= b.len() => {
                    let v = (h << 4) | l;
                    if !(32..=126).contains(&v) {
                        return Err(rt("escaped character out of range"));
                    }
                    out.push(v);
                    i += 3;
                    continue;
                }
                _ => return Err(rt("bad % escape")),
            }
        }
        out.push(c);
        i += 1;
    }
    Ok(out)
}

fn urldecode(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                if i + 2 < b.len() {
                    let h = b.get(i + 1).and_then(|x| codec::hexval(*x)).unwrap_or(0);
                    let l = b.get(i + 2).and_then(|x| codec::hexval(*x)).unwrap_or(0);
                    out.push((h << 4) | l);
                    i += 2;
                }
            }
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn unescape_rm(l: &[u8]) -> Vec<u8> {
    if !l.contains(&b'\\') {
        return l.to_vec();
    }
    let mut out = Vec::with_capacity(l.len());
    let mut i = 0;
    while let Some(&c) = l.get(i) {
        if c == b'\\' {
            if let Some(&n) = l.get(i + 1) {
                out.push(match n {
                    b'n' => b'\n',
                    b'r' => b'\r',
                    b't' => b'\t',
                    other => other,
                });
                i += 2;
                continue;
            }
        }
        out.push(c);
        i += 1;
    }
    out
}

fn replace(t: &[u8], from: &[u8], to: Option<&[u8]>) -> Vec<u8> {
    if from.is_empty() {
        return t.to_vec();
    }
    let mut out = Vec::with_capacity(t.len());
    let mut i = 0;
    while i < t.len() {
        if t.get(i..i + from.len()) == Some(from) {
            if let Some(to) = to {
                out.extend_from_slice(to);
            }
            i += from.len();
        } else {
            out.push(t[i]); // i < t.len()
            i += 1;
        }
    }
    out
}

/// `{s.substr,i,j}` with Kamailio's rules (negative `i` counts from the end; `j == 0` or past the
/// end means "to the end"; `j < 0` or `i` outside the string fails).
pub fn substr(t: &[u8], i: i64, j: i64) -> Option<Vec<u8>> {
    if j < 0 {
        return None;
    }
    let len = t.len() as i64;
    let (start, mut j) = if i >= 0 {
        if i >= len {
            return None;
        }
        let j = if i.saturating_add(j) >= len { 0 } else { j };
        (i, j)
    } else {
        let i = i.checked_neg()?;
        if i > len {
            return None;
        }
        let j = if i < j { 0 } else { j };
        (len - i, j)
    };
    if j == 0 {
        j = len - start;
    }
    t.get(start as usize..(start + j) as usize)
        .map(<[u8]>::to_vec)
}

/// `{s.select,i,c}`: the i-th field (negative from the end) separated by `sep`; empty when there
/// is no such field.
fn select(t: &[u8], i: i64, sep: impl Fn(u8) -> bool) -> Vec<u8> {
    let fields: Vec<&[u8]> = t.split(|c| sep(*c)).collect();
    let idx = if i < 0 { fields.len() as i64 + i } else { i };
    usize::try_from(idx)
        .ok()
        .and_then(|k| fields.get(k))
        .map(|f| f.to_vec())
        .unwrap_or_default()
}

/// Kamailio's `core_hash(s, NULL, size)`.
pub fn core_hash(b: &[u8], size: u32) -> u32 {
    let mut h: u32 = 0;
    let mut chunks = b.chunks_exact(4);
    for c in &mut chunks {
        let v = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
        h = h.wrapping_add(v ^ (v >> 3));
    }
    let mut v: u32 = 0;
    for &c in chunks.remainder() {
        v = (v << 8).wrapping_add(u32::from(c));
    }
    h = h.wrapping_add(v ^ (v >> 3));
    h = h
        .wrapping_add(h >> 11)
        .wrapping_add((h >> 13).wrapping_add(h >> 23));
    if size != 0 {
        h & (size - 1)
    } else {
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        let cases: &[(&str, i64, i64, Option<&str>)] = &[
            ("abcdef", 1, 2, Some("bc")),
            ("abcdef", 1, 0, Some("bcdef")),
            ("abcdef", 2, 100, Some("cdef")),
            ("abcdef", -2, 0, Some("ef")),
            ("abcdef", -3, 1, Some("d")),
            ("abcdef", 6, 1, None),
            ("abcdef", -7, 1, None),
            ("abcdef", 0, -1, None),
            ("abcdef", 1, i64::MAX, Some("bcdef")),
            ("abcdef", i64::MIN, 1, None),
        ];
        for (t, i, j, want) in cases {
            assert_eq!(
                substr(t.as_bytes(), *i, *j).as_deref(),
                want.map(str::as_bytes),
                "{t} {i} {j}"
            );
        }
        assert_eq!(select(b"a,b,c", 1, |c| c == b','), b"b");
        assert_eq!(select(b"a,b,c", -1, |c| c == b','), b"c");
        assert_eq!(select(b"a,b,c", 5, |c| c == b','), b"");
        assert_eq!(str2slong(b""), Some(0));
        assert_eq!(str2slong(b"-12"), Some(-12));
        assert_eq!(str2slong(b"12a"), None);
        assert_eq!(lit_int(b"- 5"), Some(-5));
        assert_eq!(
            split_params("1,$(var(x){s.substr,1,2}),x"),
            vec!["1", "$(var(x){s.substr,1,2})", "x"]
        );
        assert_eq!(replace(b"aXbXc", b"X", Some(b"--")), b"a--b--c");
        assert_eq!(rm_header_ws(b"a\r\n  b", true), b"a b");
    }
}
