//! Digest arithmetic (RFC 2617 / RFC 7616): the hash algorithms, H(A1), the response, base64.
//! Pure functions: no message, no clock.

use md5::{Digest, Md5};
use sha2::Sha256;

/// A digest algorithm ferrosip computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// `MD5` (also when the credentials carry no algorithm).
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256`.
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Alg {
    /// From the `algorithm` token (case-insensitive); absent means MD5. `None` = unsupported.
    pub fn from_token(t: Option<&[u8]>) -> Option<Alg> {
        let Some(t) = t else {
            return Some(Alg::Md5);
        };
        [
            (&b"MD5"[..], Alg::Md5),
            (b"MD5-sess", Alg::Md5Sess),
            (b"SHA-256", Alg::Sha256),
            (b"SHA-256-sess", Alg::Sha256Sess),
        ]
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(t))
        .map(|(_, a)| a)
    }

    /// Length of the hex digest.
    pub fn hex_len(self) -> usize {
        match self {
            Alg::Md5 | Alg::Md5Sess => 32,
            Alg::Sha256 | Alg::Sha256Sess => 64,
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Alg::Md5Sess | Alg::Sha256Sess)
    }

    /// Lower-case hex of the hash of the parts joined with `:`.
    pub fn hash(self, parts: &[&[u8]]) -> String {
        match self {
            Alg::Md5 | Alg::Md5Sess => hex(&joined::<Md5>(parts)),
            Alg::Sha256 | Alg::Sha256Sess => hex(&joined::<Sha256>(parts)),
        }
    }
}

fn joined<D: Digest>(parts: &[&[u8]]) -> Vec<u8> {
    let mut d = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            d.update(b":");
        }
        d.update(p);
    }
    d.finalize().to_vec()
}

/// Plain MD5 of `data` (nonce integrity checks).
pub fn md5(data: &[&[u8]]) -> [u8; 16] {
    let mut d = Md5::new();
    for p in data {
        d.update(p);
    }
    d.finalize().into()
}

/// Lower-case hex.
pub fn hex(b: &[u8]) -> String {
    const H: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(b.len() * 2);
    for x in b {
        s.push(char::from(H[usize::from(x >> 4)]));
        s.push(char::from(H[usize::from(x & 15)]));
    }
    s
}

/// H(A1) from a plain password; for `-sess` algorithms the nonce and cnonce are folded in.
pub fn ha1(
    alg: Alg,
    user: &[u8],
    realm: &[u8],
    pass: &[u8],
    nonce: &[u8],
    cnonce: &[u8],
) -> String {
    let h = alg.hash(&[user, realm, pass]);
    if alg.is_sess() {
        alg.hash(&[h.as_bytes(), nonce, cnonce])
    } else {
        h
    }
}

/// The quality of protection used by credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Qop {
    /// No qop (RFC 2069 compatibility).
    None,
    /// `auth`.
    Auth,
    /// `auth-int`: the body hash enters H(A2).
    AuthInt,
}

/// What the response is computed over.
#[derive(Debug, Clone, Copy)]
pub struct ResponseInput<'a> {
    /// H(A1) in hex.
    pub ha1: &'a str,
    /// Server nonce.
    pub nonce: &'a [u8],
    /// Nonce count (8 hex digits) when qop is used.
    pub nc: &'a [u8],
    /// Client nonce when qop is used.
    pub cnonce: &'a [u8],
    /// qop.
    pub qop: Qop,
    /// The request method.
    pub method: &'a [u8],
    /// The digest URI.
    pub uri: &'a [u8],
    /// The message body (auth-int only).
    pub body: &'a [u8],
}

/// The expected `response` value.
pub fn response(alg: Alg, i: &ResponseInput<'_>) -> String {
    let ha2 = match i.qop {
        Qop::AuthInt => {
            let hb = alg.hash(&[i.body]);
            alg.hash(&[i.method, i.uri, hb.as_bytes()])
        }
        _ => alg.hash(&[i.method, i.uri]),
    };
    match i.qop {
        Qop::None => alg.hash(&[i.ha1.as_bytes(), i.nonce, ha2.as_bytes()]),
        Qop::Auth | Qop::AuthInt => {
            let q: &[u8] = if i.qop == Qop::Auth {
                b"auth"
            } else {
                b"auth-int"
            };
            alg.hash(&[i.ha1.as_bytes(), i.nonce, i.nc, i.cnonce, q, ha2.as_bytes()])
        }
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding.
pub fn b64_encode(data: &[u8]) -> String {
    let mut s = String::with_capacity(data.len().div_ceil(3) * 4);
    for ch in data.chunks(3) {
        let b = [
            ch.first().copied().unwrap_or(0),
            ch.get(1).copied().unwrap_or(0),
            ch.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= ch.len() {
                s.push(char::from(B64[((n >> (18 - 6 * k)) & 63) as usize]));
            } else {
                s.push('=');
            }
        }
    }
    s
}

/// Decodes standard base64; `None` on any invalid character or length.
pub fn b64_decode(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(4) {
        return None;
    }
    let val = |c: u8| B64.iter().position(|x| *x == c).map(|p| p as u32);
    let mut out = Vec::with_capacity(s.len() / 4 * 3);
    for (ci, ch) in s.chunks(4).enumerate() {
        let last = ci + 1 == s.len() / 4;
        let pad = ch.iter().rev().take_while(|c| **c == b'=').count();
        if pad > 2 || (pad > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (k, c) in ch.iter().enumerate() {
            let v = if k >= 4 - pad { 0 } else { val(*c)? };
            n = (n << 6) | v;
        }
        let bytes = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(bytes.get(..3 - pad)?);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_example() {
        // RFC 2617 §3.5 (Mufasa).
        let h = ha1(
            Alg::Md5,
            b"Mufasa",
            b"testrealm@host.com",
            b"Circle Of Life",
            b"",
            b"",
        );
        let r = response(
            Alg::Md5,
            &ResponseInput {
                ha1: &h,
                nonce: b"dcd98b7102dd2f0e8b11d0f600bfb0c093",
                nc: b"00000001",
                cnonce: b"0a4f113b",
                qop: Qop::Auth,
                method: b"GET",
                uri: b"/dir/index.html",
                body: b"",
            },
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc7616_sha256_example() {
        let h = ha1(
            Alg::Sha256,
            b"Mufasa",
            b"http-auth@example.org",
            b"Circle of Life",
            b"",
            b"",
        );
        let r = response(
            Alg::Sha256,
            &ResponseInput {
                ha1: &h,
                nonce: b"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
                nc: b"00000001",
                cnonce: b"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
                qop: Qop::Auth,
                method: b"GET",
                uri: b"/dir/index.html",
                body: b"",
            },
        );
        assert_eq!(
            r,
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn base64_round_trip() {
        let cases: [&[u8]; 5] = [b"", b"f", b"fo", b"foo", b"foobar\x00\xff"];
        for c in cases {
            let e = b64_encode(c);
            assert_eq!(b64_decode(e.as_bytes()).as_deref(), Some(c), "{e}");
        }
        assert_eq!(b64_encode(b"foob"), "Zm9vYg==");
        for bad in [&b"Zm9"[..], b"Zm9v!A==", b"Z===", b"Zg==Zm9v"] {
            assert_eq!(b64_decode(bad), None);
        }
    }
}
