//! R-URI rewriting for the core `rewrite*`/`set*` functions, `prefix`, `strip`, `strip_tail`,
//! `userphone`, and the `myself` test on URIs.

use ferrosip_api::Ctx;
use ferrosip_sipmsg::{Scheme, Span, Uri};

/// A URI split into the parts Kamailio rebuilds it from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Parts {
    pub scheme: Vec<u8>,
    pub user: Option<Vec<u8>>,
    pub pass: Option<Vec<u8>>,
    pub host: Vec<u8>,
    pub port: Option<Vec<u8>>,
    pub params: Option<Vec<u8>>,
    pub headers: Option<Vec<u8>>,
}

impl Parts {
    pub fn parse(uri: &[u8]) -> Result<Parts, String> {
        let u = Uri::parse(uri, Span::new(0, uri.len()))
            .map_err(|e| format!("bad URI \"{}\": {e}", String::from_utf8_lossy(uri)))?;
        let part = |s: Span| s.of(uri).to_vec();
        let nonempty = |s: Span| {
            let v = s.of(uri);
            (!v.is_empty()).then(|| v.to_vec())
        };
        Ok(Parts {
            scheme: part(u.scheme_span),
            user: u.user.map(part),
            pass: u.password.map(part),
            host: part(u.host),
            port: u.port_span.map(part),
            params: nonempty(u.sip_params),
            headers: u.headers.map(part),
        })
    }

    pub fn join(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.extend_from_slice(&self.scheme);
        out.push(b':');
        if let Some(u) = &self.user {
            out.extend_from_slice(u);
        }
        if let Some(p) = &self.pass {
            out.push(b':');
            out.extend_from_slice(p);
        }
        if self.user.is_some() || self.pass.is_some() {
            out.push(b'@');
        }
        out.extend_from_slice(&self.host);
        if let Some(p) = &self.port {
            out.push(b':');
            out.extend_from_slice(p);
        }
        if let Some(p) = &self.params {
            out.push(b';');
            out.extend_from_slice(p);
        }
        if let Some(h) = &self.headers {
            out.push(b'?');
            out.extend_from_slice(h);
        }
        out
    }
}

/// Which part a rewrite function replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rewrite {
    Uri,
    Host,
    HostPort,
    HostPortTrans,
    User,
    UserPass,
    Port,
    Prefix,
    Strip,
    StripTail,
    UserPhone,
}

fn some_or_none(v: &[u8]) -> Option<Vec<u8>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// Applies a rewrite to `uri`; `arg` is the function's parameter (a number for strip).
pub(crate) fn rewrite(uri: &[u8], how: Rewrite, arg: &[u8]) -> Result<Vec<u8>, String> {
    if how == Rewrite::Uri {
        return Ok(arg.to_vec());
    }
    let mut p = Parts::parse(uri)?;
    match how {
        Rewrite::Uri => {}
        Rewrite::Host => p.host = arg.to_vec(),
        Rewrite::HostPort | Rewrite::HostPortTrans => {
            let (hp, trans) = match arg.iter().position(|b| *b == b';') {
                Some(i) if how == Rewrite::HostPortTrans => (&arg[..i], Some(&arg[i + 1..])), // i < len
                _ => (arg, None),
            };
            let (host, port) = split_hostport(hp);
            p.host = host.to_vec();
            p.port = port.map(<[u8]>::to_vec);
            if let Some(t) = trans {
                // Kamailio writes the given `;transport=…` right after host:port and keeps the other
                // parameters after it.
                let mut kept: Vec<&[u8]> = vec![t];
                kept.extend(
                    p.params
                        .as_deref()
                        .unwrap_or_default()
                        .split(|b| *b == b';')
                        .filter(|x| !x.is_empty() && !starts_with_ci(x, b"transport=")),
                );
                p.params = Some(kept.join(&b';'));
            }
        }
        Rewrite::User => {
            p.user = some_or_none(arg);
            // Without a user Kamailio writes no password either.
            if p.user.is_none() {
                p.pass = None;
            }
        }
        Rewrite::UserPass => {
            p.pass = None;
            p.user = some_or_none(arg);
        }
        Rewrite::Port => p.port = some_or_none(arg),
        Rewrite::Prefix => {
            let mut u = arg.to_vec();
            u.extend_from_slice(p.user.as_deref().unwrap_or_default());
            p.user = some_or_none(&u);
        }
        Rewrite::Strip | Rewrite::StripTail => {
            let n = std::str::from_utf8(arg)
                .ok()
                .and_then(|s| s.parse::<usize>().ok())
                .ok_or_else(|| "strip needs a non-negative number".to_string())?;
            // Stripping more than the user has removes the whole user (Kamailio does the same).
            let user = p.user.clone().unwrap_or_default();
            let n = n.min(user.len());
            let rest = if how == Rewrite::Strip {
                &user[n..]
            } else {
                &user[..user.len() - n]
            }; // n <= len
            p.user = some_or_none(rest);
        }
        Rewrite::UserPhone => {
            let has = p
                .params
                .as_deref()
                .unwrap_or_default()
                .split(|b| *b == b';')
                .any(|x| x.eq_ignore_ascii_case(b"user=phone"));
            if !has {
                let mut v = p.params.clone().unwrap_or_default();
                if !v.is_empty() {
                    v.push(b';');
                }
                v.extend_from_slice(b"user=phone");
                p.params = Some(v);
            }
        }
    }
    Ok(p.join())
}

fn starts_with_ci(s: &[u8], prefix: &[u8]) -> bool {
    s.get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix))
}

/// `host[:port]`, with `[v6]:port`.
fn split_hostport(s: &[u8]) -> (&[u8], Option<&[u8]>) {
    let search_from = if s.first() == Some(&b'[') {
        s.iter().position(|b| *b == b']').unwrap_or(0)
    } else {
        0
    };
    match s.iter().skip(search_from).position(|b| *b == b':') {
        Some(i) => {
            let i = i + search_from;
            (&s[..i], Some(&s[i + 1..])) // i < len: found in s
        }
        None => (s, None),
    }
}

/// `uri == myself`: host and port of `uri` against the server's addresses. As Kamailio's
/// `GET_URI_PORT`, a URI without port means 5060, or 5061 for TLS (`sips:` or `transport=tls`); the
/// protocol is not compared (Kamailio passes 0).
pub(crate) fn is_myself(uri: &[u8], ctx: &mut Ctx<'_>) -> bool {
    let Ok(u) = Uri::parse(uri, Span::new(0, uri.len())) else {
        return false;
    };
    let host = u.host.of(uri);
    let host = host
        .strip_prefix(b"[")
        .and_then(|h| h.strip_suffix(b"]"))
        .unwrap_or(host);
    let tls = matches!(u.scheme, Scheme::Sips | Scheme::Tels)
        || u.transport
            .and_then(|t| t.value.map(|v| v.of(uri).eq_ignore_ascii_case(b"tls")))
            .unwrap_or(false);
    let port = u.port.unwrap_or(if tls { 5061 } else { 5060 });
    ctx.server.is_myself(host, port, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        let base = b"sip:alice:pw@example.com:5060;transport=udp;lr?X=1";
        let cases: &[(&[u8], Rewrite, &str, &str)] = &[
            (
                base,
                Rewrite::Host,
                "10.0.0.1",
                "sip:alice:pw@10.0.0.1:5060;transport=udp;lr?X=1",
            ),
            (
                b"sip:bob@a.com",
                Rewrite::HostPort,
                "b.com:5070",
                "sip:bob@b.com:5070",
            ),
            (
                b"sip:bob@a.com:1",
                Rewrite::HostPort,
                "b.com",
                "sip:bob@b.com",
            ),
            (
                b"sip:bob@a.com;transport=udp;lr",
                Rewrite::HostPortTrans,
                "b.com:5080;transport=tcp",
                "sip:bob@b.com:5080;transport=tcp;lr",
            ),
            (b"sip:bob@a.com", Rewrite::User, "carol", "sip:carol@a.com"),
            (b"sip:bob@a.com", Rewrite::User, "", "sip:a.com"),
            (b"sip:a.com", Rewrite::User, "dave", "sip:dave@a.com"),
            (
                b"sip:bob:x@a.com",
                Rewrite::UserPass,
                "eve:pw",
                "sip:eve:pw@a.com",
            ),
            (
                b"sip:bob@a.com:5060",
                Rewrite::Port,
                "5080",
                "sip:bob@a.com:5080",
            ),
            (b"sip:bob@a.com:5060", Rewrite::Port, "", "sip:bob@a.com"),
            (b"sip:123@a.com", Rewrite::Prefix, "00", "sip:00123@a.com"),
            (b"sip:00123@a.com", Rewrite::Strip, "2", "sip:123@a.com"),
            (b"sip:12345@a.com", Rewrite::StripTail, "2", "sip:123@a.com"),
            (
                b"sip:123@a.com",
                Rewrite::UserPhone,
                "",
                "sip:123@a.com;user=phone",
            ),
            (
                b"sip:123@a.com;user=phone",
                Rewrite::UserPhone,
                "",
                "sip:123@a.com;user=phone",
            ),
            (
                b"sip:x@[::1]:5060",
                Rewrite::HostPort,
                "[::2]:5070",
                "sip:x@[::2]:5070",
            ),
            (b"sip:x@a.com", Rewrite::Uri, "sip:y@b.com", "sip:y@b.com"),
        ];
        for (uri, how, arg, want) in cases {
            let got = rewrite(uri, *how, arg.as_bytes()).unwrap();
            assert_eq!(String::from_utf8(got).unwrap(), *want, "{how:?} {arg}");
        }
        assert_eq!(
            rewrite(b"sip:12@a.com", Rewrite::Strip, b"3").unwrap(),
            b"sip:a.com"
        );
        assert!(rewrite(b"not a uri", Rewrite::Host, b"x").is_err());
    }
}
