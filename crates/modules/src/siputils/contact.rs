//! siputils' Contact rewriting: `encode_contact`/`decode_contact`/`decode_contact_header`
//! (URI fields packed into the user part with a separator) and the `contact_param_*` family (the
//! whole URI carried base64url-encoded in one parameter).
//!
//! As in Kamailio, `encode_contact`, `decode_contact_header` and `contact_param_encode` rewrite the
//! contacts of the first Contact header only; `contact_param_decode`, `_rm` and `_check` walk every
//! Contact header. Rewrites are edits of the URI spans (the script keeps seeing the received
//! message).

use ferrosip_api::Ctx;
use ferrosip_sipmsg::{Span, Uri};

use crate::pv::codec::{base64_decode, base64_encode};
use crate::pv::uriops;

/// Kamailio's `DEFAULT_SEPARATOR`.
pub const DEFAULT_SEPARATOR: u8 = b'*';

/// `encode_uri`: `sip:user:pass@host:port;transport=p` → `sip:<prefix>*user*pass*host*port*p@<addr>`
/// (every other URI parameter is dropped, as documented). `Err` with Kamailio's code.
pub fn encode_uri(uri: &[u8], prefix: &[u8], addr: &[u8], sep: u8) -> Result<Vec<u8>, i64> {
    if uri.len() <= 1 {
        return Err(-1);
    }
    let colon = uri.iter().position(|b| *b == b':').ok_or(-25)?;
    // Kamailio assumes a three-letter scheme before the colon (a `sips:` URI fails to parse).
    let start = colon.checked_sub(3).ok_or(-26)?;
    let inner = uri.get(start..).unwrap_or_default();
    let u = Uri::parse(inner, Span::new(0, inner.len())).map_err(|_| -31)?;
    let part = |s: Option<Span>| s.map(|s| s.of(inner)).unwrap_or_default();
    let proto = u.transport.and_then(|t| t.value).map(|v| v.of(inner));
    let mut out = uri.get(..colon + 1).unwrap_or_default().to_vec();
    out.extend_from_slice(prefix);
    for f in [
        part(u.user),
        part(u.password),
        u.host.of(inner),
        part(u.port_span),
        proto.unwrap_or_default(),
    ] {
        out.push(sep);
        out.extend_from_slice(f);
    }
    out.push(b'@');
    out.extend_from_slice(addr);
    Ok(out)
}

/// `decode_uri`: the inverse of [`encode_uri`]; the text after the public address from its first
/// `;` or `>` is kept. `Err` with Kamailio's code.
pub fn decode_uri(uri: &[u8], sep: u8) -> Result<Vec<u8>, i64> {
    if uri.is_empty() {
        return Err(-1);
    }
    let first = uri.iter().position(|b| *b == b':').ok_or(-22)? + 1;
    let rest = uri.get(first..).unwrap_or_default();
    let at = first + rest.iter().position(|b| *b == b'@').ok_or(-23)?;
    let fields: Vec<&[u8]> = uri
        .get(first..at)
        .unwrap_or_default()
        .split(|b| *b == sep)
        .collect();
    // prefix, user, pass, ip, port, protocol: exactly five separators.
    if fields.len() != 6 {
        return Err(if fields.len() > 6 { -24 } else { -26 });
    }
    let f = |i: usize| fields.get(i).copied().unwrap_or_default();
    let (user, pass, ip, port, proto) = (f(1), f(2), f(3), f(4), f(5));
    if ip.is_empty() {
        return Err(-2);
    }
    if !pass.is_empty() && user.is_empty() {
        return Err(-3);
    }
    let second = uri
        .get(at..)
        .unwrap_or_default()
        .iter()
        .position(|b| *b == b';' || *b == b'>')
        .map_or(uri.len(), |p| at + p);
    let mut out = uri.get(..first).unwrap_or_default().to_vec();
    if !user.is_empty() {
        out.extend_from_slice(user);
        out.push(if pass.is_empty() { b'@' } else { b':' });
    }
    if !pass.is_empty() {
        out.extend_from_slice(pass);
        out.push(b'@');
    }
    out.extend_from_slice(ip);
    if !port.is_empty() {
        out.push(b':');
        out.extend_from_slice(port);
    }
    if !proto.is_empty() {
        out.extend_from_slice(b";transport=");
        out.extend_from_slice(proto);
    }
    out.extend_from_slice(uri.get(second..).unwrap_or_default());
    Ok(out)
}

/// `encode_contact(prefix, addr)`: -1 without Contact, Kamailio's negative codes on failure.
pub fn encode_contact(ctx: &mut Ctx<'_>, prefix: &[u8], addr: &[u8], sep: u8) -> i64 {
    let uris = match first_header_uris(ctx) {
        Ok(u) if !u.is_empty() => u,
        Ok(_) => {
            ctx.log_error("no Contact header present");
            return -1;
        }
        Err(rc) => return rc,
    };
    let buf = ctx.msg.buf().to_vec();
    for span in uris {
        let new = match encode_uri(span.of(&buf), prefix, addr, sep) {
            Ok(n) => n,
            Err(rc) => {
                ctx.log_error(&format!("failed encoding contact - return code {rc}"));
                return rc;
            }
        };
        if !patch(ctx, span, &new) {
            return -2;
        }
    }
    1
}

/// `decode_contact()`: decodes the R-URI (new or received) into a new R-URI.
pub fn decode_contact(ctx: &mut Ctx<'_>, sep: u8) -> i64 {
    let ruri = ctx.ruri();
    match decode_uri(&ruri, sep) {
        Ok(n) => {
            ctx.state.new_uri = Some(n);
            1
        }
        Err(rc) => {
            ctx.log_error(&format!(
                "failed decoding contact [{}] - return code {rc}",
                String::from_utf8_lossy(&ruri)
            ));
            rc
        }
    }
}

/// `decode_contact_header()`: decodes the contacts of the first Contact header.
pub fn decode_contact_header(ctx: &mut Ctx<'_>, sep: u8) -> i64 {
    let uris = match first_header_uris(ctx) {
        Ok(u) if !u.is_empty() => u,
        Ok(_) => {
            ctx.log_error("no Contact header present");
            return -1;
        }
        Err(rc) => return rc,
    };
    let buf = ctx.msg.buf().to_vec();
    for span in uris {
        let new = match decode_uri(span.of(&buf), sep) {
            Ok(n) => n,
            Err(rc) => {
                ctx.log_error(&format!("failed decoding contact - return code {rc}"));
                return rc;
            }
        };
        if !patch(ctx, span, &new) {
            return -2;
        }
    }
    1
}

/// `contact_param_encode(pname, saddr)`: each URI (longer than 4) of the first Contact header
/// becomes `saddr;pname=<base64url(uri) without padding>`, inside `<>` when it had none.
pub fn contact_param_encode(ctx: &mut Ctx<'_>, pname: &[u8], saddr: &[u8]) -> i64 {
    let uris = match first_header_uris(ctx) {
        Ok(u) => u,
        Err(rc) => return rc,
    };
    let buf = ctx.msg.buf().to_vec();
    for span in uris {
        let uri = span.of(&buf);
        if uri.len() <= 4 {
            continue;
        }
        // Kamailio's check looks at the byte before the URI only.
        let bracketed = (span.start as usize)
            .checked_sub(1)
            .and_then(|i| buf.get(i))
            == Some(&b'<');
        let mut new = Vec::new();
        if !bracketed {
            new.push(b'<');
        }
        new.extend_from_slice(saddr);
        new.push(b';');
        new.extend_from_slice(pname);
        new.push(b'=');
        new.extend_from_slice(&base64_encode(uri, true, false));
        if !bracketed {
            new.push(b'>');
        }
        if !patch(ctx, span, &new) {
            return -3;
        }
    }
    1
}

/// `contact_param_decode(pname)`: every Contact URI with a non-empty `pname` parameter is replaced
/// by the decoded value. 1 also without Contact; -1 when a URI or a value does not decode.
pub fn contact_param_decode(ctx: &mut Ctx<'_>, pname: &[u8]) -> i64 {
    let buf = ctx.msg.buf().to_vec();
    for span in all_uris(ctx) {
        let uri = span.of(&buf);
        if uri.len() < 4 {
            continue;
        }
        let Some(u) = uriops::parse(uri) else {
            ctx.log_error("failed to parse contact uri");
            return -1;
        };
        let Some(v) = param_value(uri, &u, pname) else {
            continue;
        };
        let Some(dec) = decode_b64url(v) else {
            ctx.log_error("failed to decode contact uri");
            return -1;
        };
        if !patch(ctx, span, &dec) {
            return -2;
        }
    }
    1
}

/// `contact_param_decode_ruri(pname)`: the R-URI becomes the decoded value of its `pname`
/// parameter; 1 when it has none.
pub fn contact_param_decode_ruri(ctx: &mut Ctx<'_>, pname: &[u8]) -> i64 {
    let ruri = ctx.ruri();
    let Some(u) = uriops::parse(&ruri) else {
        ctx.log_error("failed to parse r-uri");
        return -1;
    };
    let Some(v) = param_value(&ruri, &u, pname) else {
        return 1;
    };
    match decode_b64url(v) {
        Some(d) => {
            ctx.state.new_uri = Some(d);
            1
        }
        None => {
            ctx.log_error("failed to decode uri");
            -1
        }
    }
}

/// `contact_param_rm(pname)`: deletes `;pname[=value]` from every Contact URI. Always 1 except
/// when a URI does not parse (-1).
pub fn contact_param_rm(ctx: &mut Ctx<'_>, pname: &[u8]) -> i64 {
    let buf = ctx.msg.buf().to_vec();
    for span in all_uris(ctx) {
        let uri = span.of(&buf);
        if uri.len() < 4 {
            continue;
        }
        let Some(u) = uriops::parse(uri) else {
            ctx.log_error("failed to parse contact uri");
            return -1;
        };
        let ps = params_span(&u);
        let Some((s, e)) = super::strs::param_range(uri, ps, pname) else {
            continue;
        };
        let at = span.start as usize + s;
        if ctx.edits.delete(at, e - s).is_err() {
            ctx.log_error("failed to remove param from message");
        }
    }
    1
}

/// `contact_param_check(pname)`: 1 when a Contact URI has the parameter, also 1 without Contact
/// (Kamailio's early return), -1 otherwise or when a URI does not parse.
pub fn contact_param_check(ctx: &mut Ctx<'_>, pname: &[u8]) -> i64 {
    let buf = ctx.msg.buf().to_vec();
    let uris = all_uris(ctx);
    if uris.is_empty() {
        return 1;
    }
    for span in uris {
        let uri = span.of(&buf);
        if uri.len() < 4 {
            continue;
        }
        let Some(u) = uriops::parse(uri) else {
            ctx.log_error("failed to parse contact uri");
            return -1;
        };
        let found = super::strs::split_params(uri, params_span(&u))
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(pname));
        if found {
            return 1;
        }
    }
    -1
}

// ---- internals ----

/// URI spans of the contacts of the first Contact header; `Err(-4)` when Contact does not parse.
fn first_header_uris(ctx: &mut Ctx<'_>) -> Result<Vec<Span>, i64> {
    match ctx.msg.contacts() {
        Ok(c) => {
            let first = c.list.iter().map(|x| x.header).min();
            Ok(c.list
                .iter()
                .filter(|x| Some(x.header) == first)
                .map(|x| x.addr.uri)
                .collect())
        }
        Err(_) => {
            ctx.log_error("contact parsing failed");
            Err(-4)
        }
    }
}

/// URI spans of every contact of every Contact header (none when Contact does not parse).
fn all_uris(ctx: &Ctx<'_>) -> Vec<Span> {
    ctx.msg
        .contacts()
        .map(|c| c.list.iter().map(|x| x.addr.uri).collect())
        .unwrap_or_default()
}

fn params_span(u: &Uri) -> Span {
    if !u.sip_params.is_empty() {
        u.sip_params
    } else {
        u.params
    }
}

/// The non-empty value of the first parameter `name` (case-insensitive).
fn param_value<'a>(uri: &'a [u8], u: &Uri, name: &[u8]) -> Option<&'a [u8]> {
    super::strs::split_params(uri, params_span(u))
        .into_iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

/// base64url with the padding Kamailio adds back before decoding.
fn decode_b64url(v: &[u8]) -> Option<Vec<u8>> {
    let mut s = v.to_vec();
    while !s.len().is_multiple_of(4) {
        s.push(b'=');
    }
    base64_decode(&s, true).filter(|d| !d.is_empty())
}

fn patch(ctx: &mut Ctx<'_>, span: Span, new: &[u8]) -> bool {
    match ctx.edits.replace(span.start as usize, span.len(), new) {
        Ok(_) => true,
        Err(e) => {
            ctx.log_error(&format!("failed to update contact uri: {e}"));
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode_uri() {
        let cases: &[(&str, &str)] = &[
            (
                "sip:alice@10.0.0.1:5070",
                "sip:nat*alice**10.0.0.1*5070*@1.2.3.4",
            ),
            (
                "sip:alice:pw@10.0.0.1;transport=tcp;x=1",
                "sip:nat*alice*pw*10.0.0.1**tcp@1.2.3.4",
            ),
            ("sip:10.0.0.1", "sip:nat***10.0.0.1**@1.2.3.4"),
        ];
        for (plain, enc) in cases {
            let got = encode_uri(plain.as_bytes(), b"nat", b"1.2.3.4", b'*');
            assert_eq!(got.as_deref(), Ok(enc.as_bytes()), "{plain}");
        }
        let dec: &[(&str, Result<&str, i64>)] = &[
            (
                "sip:nat*alice**10.0.0.1*5070*@1.2.3.4",
                Ok("sip:alice@10.0.0.1:5070"),
            ),
            (
                "sip:nat*alice*pw*10.0.0.1**tcp@1.2.3.4;lr",
                Ok("sip:alice:pw@10.0.0.1;transport=tcp;lr"),
            ),
            ("sip:nat*a*b@1.2.3.4", Err(-26)),
            ("sip:nat*a****@1.2.3.4", Err(-2)),
            ("sip:nat**pw*h**@x", Err(-3)),
            ("sip:nohost", Err(-23)),
        ];
        for (enc, want) in dec {
            let got = decode_uri(enc.as_bytes(), b'*');
            assert_eq!(got, want.map(|s| s.as_bytes().to_vec()), "{enc}");
        }
    }

    #[test]
    fn base64url_padding() {
        let enc = base64_encode(b"sip:a@b", true, false);
        assert!(!enc.contains(&b'='));
        assert_eq!(decode_b64url(&enc).as_deref(), Some(&b"sip:a@b"[..]));
        assert_eq!(decode_b64url(b""), None);
    }
}
