//! Digest credentials (Authorization, Proxy-Authorization) and challenges
//! (WWW-Authenticate, Proxy-Authenticate), RFC 3261 §25.1 / RFC 2617 / RFC 8760.

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::lex::{at, is_token, skip_lws, skip_quoted};
use crate::span::Span;

/// The auth-params the digest code uses; every value span is as written (quoted strings
/// keep their quotes; see [`unquote`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DigestParams {
    /// `username`
    pub username: Option<Span>,
    /// `realm`
    pub realm: Option<Span>,
    /// `nonce`
    pub nonce: Option<Span>,
    /// `uri`
    pub uri: Option<Span>,
    /// `response`
    pub response: Option<Span>,
    /// `algorithm`
    pub algorithm: Option<Span>,
    /// `cnonce`
    pub cnonce: Option<Span>,
    /// `opaque`
    pub opaque: Option<Span>,
    /// `qop`
    pub qop: Option<Span>,
    /// `nc`
    pub nc: Option<Span>,
    /// `stale` (challenges)
    pub stale: Option<Span>,
    /// `domain` (challenges)
    pub domain: Option<Span>,
}

/// Credentials or a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Auth {
    /// The scheme token (`Digest`, or anything else).
    pub scheme: Span,
    /// True for the Digest scheme (ASCII case-insensitive).
    pub is_digest: bool,
    /// Everything after the scheme.
    pub params_span: Span,
    /// The known params (filled for every scheme whose params are `name=value` pairs).
    pub params: DigestParams,
}

/// The inside of a quoted value.
pub fn unquote(buf: &[u8], s: Span) -> Span {
    let b = s.of(buf);
    if b.len() >= 2 && b[0] == b'"' && b[b.len() - 1] == b'"' {
        Span::new(s.start as usize + 1, s.end as usize - 1)
    } else {
        s
    }
}

/// Parses credentials or a challenge. A Digest value must be a well-formed list of
/// `name=value` auth-params and carry the params RFC 2617 requires (credentials:
/// username, realm, nonce, uri, response; challenges: realm, nonce). Other schemes are
/// kept as an opaque parameter string (RFC 4475 regaut01: a proxy must not fail on them).
pub fn parse_auth(buf: &[u8], value: Span, kind: HeaderKind) -> Result<Auth> {
    let bad = |at: usize, reason: &'static str| Error::BadHeader { kind, at, reason };
    let (s, e) = (value.start as usize, value.end as usize);
    let i = skip_lws(buf, s, e);
    let mut se = i;
    while se < e && is_token(at(buf, se)) {
        se += 1;
    }
    if se == i {
        return Err(bad(i, "no auth scheme"));
    }
    let scheme = Span::new(i, se);
    let is_digest = scheme.eq_ignore_case(buf, b"digest");
    let ps = skip_lws(buf, se, e);
    let mut auth = Auth {
        scheme,
        is_digest,
        params_span: Span::new(ps, e),
        params: DigestParams::default(),
    };
    if !is_digest {
        return Ok(auth);
    }
    if ps == se && ps < e {
        return Err(bad(ps, "no LWS after scheme"));
    }
    let mut j = ps;
    while j < e {
        let ns = skip_lws(buf, j, e);
        let mut ne = ns;
        while ne < e && is_token(at(buf, ne)) {
            ne += 1;
        }
        if ne == ns {
            return Err(bad(ns, "empty auth-param name"));
        }
        let eq = skip_lws(buf, ne, e);
        if at(buf, eq) != b'=' || eq >= e {
            return Err(bad(eq, "auth-param without ="));
        }
        let vs = skip_lws(buf, eq + 1, e);
        let ve = if at(buf, vs) == b'"' && vs < e {
            skip_quoted(buf, vs, e).ok_or(bad(vs, "unterminated quoted string"))?
        } else {
            let mut k = vs;
            while k < e && (is_token(at(buf, k)) || matches!(at(buf, k), b'/' | b':' | b'@' | b'='))
            {
                k += 1;
            }
            k
        };
        if ve == vs {
            return Err(bad(vs, "empty auth-param value"));
        }
        let v = Some(Span::new(vs, ve));
        let name = buf.get(ns..ne).unwrap_or(&[]);
        let p = &mut auth.params;
        let slot = match name.to_ascii_lowercase().as_slice() {
            b"username" => &mut p.username,
            b"realm" => &mut p.realm,
            b"nonce" => &mut p.nonce,
            b"uri" => &mut p.uri,
            b"response" => &mut p.response,
            b"algorithm" => &mut p.algorithm,
            b"cnonce" => &mut p.cnonce,
            b"opaque" => &mut p.opaque,
            b"qop" => &mut p.qop,
            b"nc" => &mut p.nc,
            b"stale" => &mut p.stale,
            b"domain" => &mut p.domain,
            _ => &mut None,
        };
        if slot.is_none() {
            *slot = v;
        }
        let c = skip_lws(buf, ve, e);
        if c >= e {
            break;
        }
        if at(buf, c) != b',' {
            return Err(bad(c, "expected , between auth-params"));
        }
        j = c + 1;
    }
    let p = &auth.params;
    let complete = match kind {
        HeaderKind::Authorization | HeaderKind::ProxyAuthorization => {
            p.username.is_some()
                && p.realm.is_some()
                && p.nonce.is_some()
                && p.uri.is_some()
                && p.response.is_some()
        }
        _ => p.realm.is_some() && p.nonce.is_some(),
    };
    if !complete {
        return Err(bad(ps, "missing required digest parameter"));
    }
    Ok(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_table() {
        type Want = Option<(bool, Option<&'static str>)>;
        let table: &[(&str, HeaderKind, Want)] = &[
            (
                "Digest username=\"alice\", realm=\"atlanta.com\", nonce=\"84a4cc6f\", uri=\"sip:bob@b\", response=\"7587245234b3434cc3412213e5f113a5432\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"",
                HeaderKind::Authorization,
                Some((true, Some("\"alice\""))),
            ),
            ("NoOneKnowsThisScheme opaque-data=here", HeaderKind::Authorization, Some((false, None))),
            ("Digest realm=\"r\", nonce=\"n\", stale=FALSE", HeaderKind::WwwAuthenticate, Some((true, None))),
            ("Digest realm=\"r\"", HeaderKind::WwwAuthenticate, None),
            ("Digest username=\"a\" realm=\"r\"", HeaderKind::Authorization, None),
            ("Digest username=\"a, realm=\"r\"", HeaderKind::Authorization, None),
            ("Digest ,,", HeaderKind::Authorization, None),
            ("", HeaderKind::Authorization, None),
        ];
        for (v, kind, want) in table {
            let b = v.as_bytes();
            let got = parse_auth(b, Span::new(0, b.len()), *kind).ok().map(|a| {
                (
                    a.is_digest,
                    a.params
                        .username
                        .map(|u| String::from_utf8_lossy(u.of(b)).into_owned()),
                )
            });
            assert_eq!(got, want.map(|(d, u)| (d, u.map(str::to_string))), "{v}");
        }
        let b = b"\"x\"";
        assert_eq!(unquote(b, Span::new(0, 3)).of(b), b"x");
    }
}
