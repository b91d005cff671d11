//! URI parts for `$ru`-style PVs and `{uri.*}`, and the rewrites behind `$rU = …`, `$rd = …`.

use ferrosip_api::{Error, Value};
use ferrosip_sipmsg::{Scheme, Span, Uri};

use super::s;

/// Parses a standalone URI.
pub fn parse(b: &[u8]) -> Option<Uri> {
    Uri::parse(b, Span::new(0, b.len())).ok()
}

/// The scheme name as Kamailio prints it for `$rz` / `{uri.scheme}`.
pub fn scheme_name(u: &Uri) -> &'static str {
    match u.scheme {
        Scheme::Sip => "sip",
        Scheme::Sips => "sips",
        Scheme::Tel => "tel",
        Scheme::Tels => "tels",
        Scheme::Urn => "urn",
    }
}

/// User part or `Null` when absent/empty.
pub fn user(b: &[u8], u: &Uri) -> Value {
    match u.user {
        Some(sp) if !sp.is_empty() => s(sp.of(b)),
        _ => Value::Null,
    }
}

/// Host or `Null` when empty.
pub fn host(b: &[u8], u: &Uri) -> Value {
    if u.host.is_empty() {
        Value::Null
    } else {
        s(u.host.of(b))
    }
}

/// Port as written, or the default (`5061` for TLS transport / sips, else `5060`), as `$rp` gives.
pub fn port_or_default(b: &[u8], u: &Uri) -> Value {
    match u.port_span {
        Some(p) if !p.is_empty() => s(p.of(b)),
        _ => {
            if is_tls(b, u) {
                s("5061")
            } else {
                s("5060")
            }
        }
    }
}

/// True when Kamailio's parser sets the URI protocol to TLS: only `transport=tls` does (a `sips:`
/// scheme alone does not, so `$rp` of `sips:host` is 5060 in Kamailio).
fn is_tls(b: &[u8], u: &Uri) -> bool {
    u.transport
        .and_then(|t| t.value)
        .is_some_and(|v| v.of(b).eq_ignore_ascii_case(b"tls"))
}

/// Transport parameter value as written, or `UDP` (Kamailio's default string), as `$rP` gives.
pub fn transport_or_udp(b: &[u8], u: &Uri) -> Value {
    match u.transport.and_then(|t| t.value) {
        Some(v) => s(v.of(b)),
        None => s("UDP"),
    }
}

/// Which part a rewrite replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// User (and, when removed, the `@`).
    User,
    /// Host.
    Host,
    /// Port (removed with `None`).
    Port,
}

/// Builds `uri` with one part replaced (`None` removes the user or the port), keeping every other
/// byte as it was — Kamailio's `rewrite_uri` family (`SET_USER_T`, `SET_HOST_T`, `SET_PORT_T`).
pub fn rewrite(uri: &[u8], part: Part, new: Option<&[u8]>) -> Result<Vec<u8>, Error> {
    let u = parse(uri).ok_or_else(|| {
        Error::Runtime(format!(
            "cannot parse URI `{}`",
            String::from_utf8_lossy(uri)
        ))
    })?;
    let get = |sp: Span| sp.of(uri);
    let scheme = get(u.scheme_span);
    let user = u.user.map(get);
    let pass = u.password.map(get);
    let hostb = get(u.host);
    let port = u.port_span.map(get);
    let rest_from = u.port_span.map(|p| p.end).unwrap_or(u.host.end) as usize;
    let rest = uri.get(rest_from..).unwrap_or_default();
    if matches!(u.scheme, Scheme::Tel | Scheme::Tels | Scheme::Urn) {
        // No host: only the user (number) can be replaced.
        return match (part, u.user) {
            (Part::User, Some(sp)) => {
                let mut out = uri.get(..sp.start as usize).unwrap_or_default().to_vec();
                out.extend_from_slice(new.unwrap_or_default());
                out.extend_from_slice(uri.get(sp.end as usize..).unwrap_or_default());
                Ok(out)
            }
            _ => Err(Error::Runtime(
                "cannot rewrite this part of a tel/urn URI".into(),
            )),
        };
    }
    let (user, pass, hostb, port) = match part {
        Part::User => match new {
            Some(n) if !n.is_empty() => (Some(n), pass, hostb, port),
            _ => (None, None, hostb, port),
        },
        Part::Host => (user, pass, new.unwrap_or_default(), port),
        Part::Port => (user, pass, hostb, new.filter(|n| !n.is_empty())),
    };
    let mut out = Vec::with_capacity(uri.len() + 16);
    out.extend_from_slice(scheme);
    out.push(b':');
    if let Some(us) = user {
        out.extend_from_slice(us);
        if let Some(p) = pass {
            out.push(b':');
            out.extend_from_slice(p);
        }
        out.push(b'@');
    }
    out.extend_from_slice(hostb);
    if let Some(p) = port {
        out.push(b':');
        out.extend_from_slice(p);
    }
    out.extend_from_slice(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites() {
        let cases: &[(&str, Part, Option<&str>, &str)] = &[
            ("sip:a@h;x=1", Part::User, Some("b"), "sip:b@h;x=1"),
            ("sip:h:5070", Part::User, Some("b"), "sip:b@h:5070"),
            ("sip:a:pw@h", Part::User, None, "sip:h"),
            (
                "sip:a@h:1;lr",
                Part::Host,
                Some("x.org"),
                "sip:a@x.org:1;lr",
            ),
            ("sip:a@h:1;lr", Part::Port, None, "sip:a@h;lr"),
            (
                "sips:a@h?X=y",
                Part::Port,
                Some("5071"),
                "sips:a@h:5071?X=y",
            ),
            ("tel:+123;p=1", Part::User, Some("+456"), "tel:+456;p=1"),
        ];
        for (uri, part, new, want) in cases {
            let got = rewrite(uri.as_bytes(), *part, new.map(str::as_bytes)).unwrap();
            assert_eq!(String::from_utf8_lossy(&got), *want, "{uri} {part:?}");
        }
        assert!(rewrite(b"not a uri", Part::User, None).is_err());
    }
}
