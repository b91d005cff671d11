//! BINRPC, Kamailio's binary RPC encoding (the protocol `kamcmd` speaks), written from its
//! description in Kamailio's `ctl/binrpc.h`: a packet header (magic 0xA, version 1, type, length
//! and cookie sizes, body length, cookie), then records of one type/size byte and a value.
//!
//! As in Kamailio's ctl, arrays in replies are sent as structs whose members have no names, and a
//! double travels as a fixed-point integer with three decimals.

use ferrosip_api::export::RpcValue;

/// Packet types.
pub const REQ: u8 = 0;
/// A reply.
pub const REPL: u8 = 1;
/// A fault reply.
pub const FAULT: u8 = 3;

const T_INT: u8 = 0;
const T_STR: u8 = 1;
const T_DOUBLE: u8 = 2;
const T_STRUCT: u8 = 3;
const T_ARRAY: u8 = 4;
const T_AVP: u8 = 5;
const T_BYTES: u8 = 6;

const MAGIC_VERS: u8 = 0xA1;
// Nested structs deeper than this are refused (stack safety on hostile input).
const MAX_DEPTH: usize = 32;

/// What is wrong with a packet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinrpcError {
    /// Not a BINRPC v1 packet.
    #[error("bad BINRPC packet header")]
    BadHeader,
    /// A record is malformed or truncated.
    #[error("bad BINRPC record at offset {0}")]
    BadRecord(usize),
}

/// A parsed packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// [`REQ`], [`REPL`] or [`FAULT`].
    pub kind: u8,
    /// Size of the header in bytes.
    pub header_len: usize,
    /// Size of the body in bytes.
    pub body_len: usize,
    /// The cookie (echoed in the reply).
    pub cookie: u32,
}

/// Reads a header from the start of `buf`: `Ok(None)` when more bytes are needed.
pub fn header(buf: &[u8]) -> Result<Option<Header>, BinrpcError> {
    let (Some(&b0), Some(&b1)) = (buf.first(), buf.get(1)) else {
        return Ok(None);
    };
    if b0 != MAGIC_VERS {
        return Err(BinrpcError::BadHeader);
    }
    let kind = b1 >> 4;
    if !matches!(kind, REQ | REPL | FAULT) {
        return Err(BinrpcError::BadHeader);
    }
    let ll = usize::from((b1 >> 2) & 3) + 1;
    let cl = usize::from(b1 & 3) + 1;
    let Some(rest) = buf.get(2..2 + ll + cl) else {
        return Ok(None);
    };
    let (lb, cb) = rest.split_at(ll);
    let body_len = lb.iter().fold(0usize, |a, &b| (a << 8) | usize::from(b));
    let cookie = cb.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
    Ok(Some(Header {
        kind,
        header_len: 2 + ll + cl,
        body_len,
        cookie,
    }))
}

/// Builds a packet of `kind` around `body`.
pub fn packet(kind: u8, cookie: u32, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    let lb = min_be(u64::from(len)).max(1);
    let mut out = vec![MAGIC_VERS, (kind << 4) | (((lb - 1) as u8) << 2) | 3];
    out.extend_from_slice(&len.to_be_bytes()[4 - lb..]);
    out.extend_from_slice(&cookie.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// The body of a request: the method name, then the parameters.
pub fn request_body(method: &str, params: &[RpcValue]) -> Vec<u8> {
    let mut b = Vec::new();
    put_str(&mut b, T_STR, method.as_bytes());
    for p in params {
        put_value(&mut b, p, false);
    }
    b
}

/// The body of a reply: each value is one top-level record (Kamailio's successive `rpc->add`).
pub fn reply_body(values: &[RpcValue]) -> Vec<u8> {
    let mut b = Vec::new();
    for v in values {
        put_value(&mut b, v, false);
    }
    b
}

/// The body of a fault reply: code and message.
pub fn fault_body(code: i32, message: &str) -> Vec<u8> {
    let mut b = Vec::new();
    put_value(&mut b, &RpcValue::Int(i64::from(code)), false);
    put_str(&mut b, T_STR, message.as_bytes());
    b
}

/// Reads all top-level records of a body. A struct whose members carry names becomes
/// [`RpcValue::Struct`]; one whose members are plain values (an array sent by Kamailio's ctl)
/// becomes [`RpcValue::Array`].
pub fn values(body: &[u8]) -> Result<Vec<RpcValue>, BinrpcError> {
    let mut r = Reader { b: body, i: 0 };
    let mut out = Vec::new();
    while r.i < body.len() {
        match r.item(0)? {
            Item::Value(v) => out.push(v),
            _ => return Err(BinrpcError::BadRecord(r.i)),
        }
    }
    Ok(out)
}

/// Splits a request body into method name and parameters.
pub fn request(body: &[u8]) -> Result<(String, Vec<RpcValue>), BinrpcError> {
    let mut v = values(body)?.into_iter();
    match v.next() {
        Some(RpcValue::Str(m)) => Ok((m, v.collect())),
        _ => Err(BinrpcError::BadRecord(0)),
    }
}

// ---- internals ----

fn min_be(u: u64) -> usize {
    (8 - (u.leading_zeros() / 8) as usize).min(8)
}

fn put_type_len(out: &mut Vec<u8>, t: u8, len: usize) {
    if len <= 7 {
        out.push(((len as u8) << 4) | t);
    } else {
        let n = min_be(len as u64).max(1);
        out.push(0x80 | ((n as u8) << 4) | t);
        out.extend_from_slice(&(len as u64).to_be_bytes()[8 - n..]);
    }
}

fn put_str(out: &mut Vec<u8>, t: u8, s: &[u8]) {
    put_type_len(out, t, s.len() + 1);
    out.extend_from_slice(s);
    out.push(0);
}

fn put_int(out: &mut Vec<u8>, t: u8, i: i64) {
    // Kamailio writes `int`s as their 32-bit two's complement, minimal big-endian.
    let bytes: Vec<u8> = match i32::try_from(i) {
        Ok(x) => {
            let u = x as u32;
            u.to_be_bytes()[4 - min_be(u64::from(u)).min(4)..].to_vec()
        }
        Err(_) => (i as u64).to_be_bytes().to_vec(),
    };
    if t == T_DOUBLE || bytes.len() <= 7 {
        out.push(((bytes.len() as u8) << 4) | t);
    } else {
        put_type_len(out, t, bytes.len());
    }
    out.extend_from_slice(&bytes);
}

fn put_value(out: &mut Vec<u8>, v: &RpcValue, _in_struct: bool) {
    match v {
        RpcValue::Null => put_str(out, T_STR, b"<null string>"),
        RpcValue::Int(i) => put_int(out, T_INT, *i),
        RpcValue::Double(d) => {
            let fixed = (*d * 1000.0) as i64;
            let u = fixed as u64;
            let n = min_be(u);
            out.push(((n as u8) << 4) | T_DOUBLE);
            out.extend_from_slice(&u.to_be_bytes()[8 - n..]);
        }
        RpcValue::Str(s) => put_str(out, T_STR, s.as_bytes()),
        RpcValue::Struct(m) => {
            out.push(T_STRUCT);
            for (k, x) in m {
                put_str(out, T_AVP, k.as_bytes());
                put_value(out, x, true);
            }
            out.push(0x80 | T_STRUCT);
        }
        RpcValue::Array(a) => {
            out.push(T_STRUCT);
            for x in a {
                match x {
                    // Kamailio's `struct_add` on an array handle (usrloc's `AoRs`, `Domains` …)
                    // appends the member itself, name and value, to the array; the JSON side
                    // shows it as a one-member object, which is how handlers build it here.
                    RpcValue::Struct(m) if m.len() == 1 => {
                        for (k, v) in m {
                            put_str(out, T_AVP, k.as_bytes());
                            put_value(out, v, true);
                        }
                    }
                    _ => put_value(out, x, true),
                }
            }
            out.push(0x80 | T_STRUCT);
        }
    }
}

enum Item {
    Value(RpcValue),
    End,
    Avp(String, RpcValue),
}

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

impl Reader<'_> {
    fn bad<T>(&self) -> Result<T, BinrpcError> {
        Err(BinrpcError::BadRecord(self.i))
    }

    fn take(&mut self, n: usize) -> Result<&[u8], BinrpcError> {
        let s = self
            .b
            .get(self.i..self.i.saturating_add(n))
            .ok_or(BinrpcError::BadRecord(self.i))?;
        self.i += n;
        Ok(s)
    }

    fn item(&mut self, depth: usize) -> Result<Item, BinrpcError> {
        if depth > MAX_DEPTH {
            return self.bad();
        }
        let at = self.i;
        let b = *self.take(1)?.first().ok_or(BinrpcError::BadRecord(at))?;
        let t = b & 0xf;
        let mut len = usize::from(b >> 4);
        let mut flagged = false;
        if t != T_DOUBLE && len & 8 != 0 {
            flagged = true;
            let n = len & 7;
            if n > 4 {
                return self.bad();
            }
            len = self
                .take(n)?
                .iter()
                .fold(0usize, |a, &x| (a << 8) | usize::from(x));
        }
        match t {
            T_INT => {
                let d = self.take(len)?;
                let v = match d.len() {
                    0..=4 => i64::from(d.iter().fold(0u32, |a, &x| (a << 8) | u32::from(x)) as i32),
                    5..=8 => d.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)) as i64,
                    _ => return self.bad(),
                };
                Ok(Item::Value(RpcValue::Int(v)))
            }
            T_DOUBLE => {
                let d = self.take(len)?;
                if d.len() > 8 {
                    return self.bad();
                }
                let mut v = d.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x));
                // sign-extend a short two's complement value
                if let Some(&first) = d.first() {
                    if first & 0x80 != 0 && d.len() < 8 {
                        v |= u64::MAX << (8 * d.len());
                    }
                }
                Ok(Item::Value(RpcValue::Double(v as i64 as f64 / 1000.0)))
            }
            T_STR | T_BYTES | T_AVP => {
                let d = self.take(len)?;
                let s = if t == T_BYTES {
                    d
                } else {
                    d.strip_suffix(&[0]).unwrap_or(d)
                };
                let s = String::from_utf8_lossy(s).into_owned();
                if t == T_AVP {
                    match self.item(depth + 1)? {
                        Item::Value(v) => Ok(Item::Avp(s, v)),
                        _ => self.bad(),
                    }
                } else {
                    Ok(Item::Value(RpcValue::Str(s)))
                }
            }
            T_STRUCT | T_ARRAY => {
                if flagged {
                    return Ok(Item::End);
                }
                self.take(len)?;
                // Members in the order sent; unnamed ones (array elements) get an empty name
                // when the container also has named ones.
                let mut members: Vec<(Option<String>, RpcValue)> = Vec::new();
                loop {
                    match self.item(depth + 1)? {
                        Item::End => break,
                        Item::Avp(k, v) => members.push((Some(k), v)),
                        Item::Value(v) => members.push((None, v)),
                    }
                }
                let all_plain = members.iter().all(|(k, _)| k.is_none());
                Ok(Item::Value(
                    if t == T_ARRAY || all_plain && !members.is_empty() {
                        RpcValue::Array(members.into_iter().map(|(_, v)| v).collect())
                    } else {
                        RpcValue::Struct(
                            members
                                .into_iter()
                                .map(|(k, v)| (k.unwrap_or_default(), v))
                                .collect(),
                        )
                    },
                ))
            }
            _ => self.bad(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_from_the_protocol_description() {
        // (value, bytes) — examples of Kamailio's binrpc.h
        let cases: Vec<(RpcValue, Vec<u8>)> = vec![
            (RpcValue::Int(0x1234), vec![0x20, 0x12, 0x34]),
            (RpcValue::Int(7), vec![0x10, 0x07]),
            (RpcValue::Int(0), vec![0x00]),
            (RpcValue::Int(-1), vec![0x40, 0xff, 0xff, 0xff, 0xff]),
            (
                RpcValue::Str("abcdef".into()),
                [&[0x71u8][..], b"abcdef", &[0]].concat(),
            ),
            (
                RpcValue::Str("abcdefhij".into()),
                [&[0x91u8, 0x0a][..], b"abcdefhij", &[0]].concat(),
            ),
            (RpcValue::Str(String::new()), vec![0x11, 0x00]),
            (
                RpcValue::Struct(vec![("test".into(), RpcValue::Int(0x0b))]),
                [&[0x03u8, 0x55][..], b"test", &[0, 0x10, 0x0b, 0x83]].concat(),
            ),
            (
                RpcValue::Array(vec![RpcValue::Int(1), RpcValue::Int(2)]),
                vec![0x03, 0x10, 0x01, 0x10, 0x02, 0x83],
            ),
            (RpcValue::Double(1.5), vec![0x22, 0x05, 0xdc]),
        ];
        for (v, bytes) in cases {
            assert_eq!(reply_body(std::slice::from_ref(&v)), bytes, "{v:?}");
            assert_eq!(values(&bytes).expect("decodes"), vec![v.clone()], "{v:?}");
        }
    }

    #[test]
    fn packets_and_garbage() {
        let body = request_body("core.echo", &[RpcValue::Int(-5), RpcValue::Str("x".into())]);
        let p = packet(REQ, 0xdeadbeef, &body);
        let h = header(&p).expect("ok").expect("complete");
        assert_eq!(
            (h.kind, h.cookie, h.body_len),
            (REQ, 0xdeadbeef, body.len())
        );
        let (m, params) = request(p.get(h.header_len..).expect("body")).expect("request");
        assert_eq!(m, "core.echo");
        assert_eq!(params, vec![RpcValue::Int(-5), RpcValue::Str("x".into())]);
        assert_eq!(header(&p[..3]), Ok(None));
        assert_eq!(header(b"GET /"), Err(BinrpcError::BadHeader));
        // truncated, bad type, unterminated struct, endless nesting: errors, no panic
        let bad: [&[u8]; 5] = [&[0x71, b'a'], &[0x0f], &[0x03, 0x10], &[0x83], &[0x03; 100]];
        for b in bad {
            assert!(values(b).is_err(), "{b:?}");
        }
    }

    #[test]
    fn hostile_bytes_never_panic() {
        // every 1- and 2-byte body, then pseudo-random bodies (fixed-seed LCG) up to 64 bytes
        for a in 0..=255u8 {
            let _ = values(&[a]);
            for b in 0..=255u8 {
                let _ = values(&[a, b]);
                let _ = header(&[a, b, 0, 0]);
            }
        }
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (x >> 33) as u8
        };
        for _ in 0..50_000 {
            let len = usize::from(next() % 64);
            let buf: Vec<u8> = (0..len).map(|_| next()).collect();
            let _ = values(&buf);
            let _ = request(&buf);
            let _ = header(&buf);
        }
    }
}
