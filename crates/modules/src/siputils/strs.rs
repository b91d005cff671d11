//! siputils' pure helpers: string classes, E.164, `tel2sip`, URI and header-name comparisons,
//! URI parameter lists, dates. No message, no context.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_sipmsg::{HeaderKind, Scheme, Span, Uri};

use crate::pv::uriops;

/// The option tags `is_supported` knows (Kamailio's `F_OPTION_TAG_*`).
pub const OPTION_TAGS: [&str; 6] = ["path", "100rel", "timer", "eventlist", "gruu", "outbound"];

/// `is_tel_number`: optional `+` followed by a non-zero digit, then digits; -2 otherwise.
pub fn is_tel_number(v: &[u8]) -> i64 {
    let digits = match v.first() {
        None => return -2,
        Some(b'+') => match v.get(1) {
            Some(b'1'..=b'9') => v.get(2..).unwrap_or_default(),
            _ => return -2,
        },
        Some(_) => v,
    };
    if digits.iter().all(u8::is_ascii_digit) {
        1
    } else {
        -2
    }
}

/// `is_numeric`: 1 for decimal digits only, -2 otherwise (empty included).
pub fn is_numeric(v: &[u8]) -> i64 {
    if !v.is_empty() && v.iter().all(u8::is_ascii_digit) {
        1
    } else {
        -2
    }
}

/// `is_alphanum`: -2 when empty, -3 when a character is not an ASCII letter or digit.
pub fn is_alphanum(v: &[u8]) -> i64 {
    is_alphanumex(v, b"")
}

/// `is_alphanumex`: like [`is_alphanum`], also accepting the characters of `extra`.
pub fn is_alphanumex(v: &[u8], extra: &[u8]) -> i64 {
    if v.is_empty() {
        return -2;
    }
    if v.iter()
        .all(|b| b.is_ascii_alphanumeric() || extra.contains(b))
    {
        1
    } else {
        -3
    }
}

/// Kamailio's `siputils_e164_check`: `+` then digits, total length 3..=`max_len`.
pub fn e164(user: &[u8], max_len: usize) -> i64 {
    let ok = user.len() > 2
        && user.len() <= max_len
        && user.first() == Some(&b'+')
        && user.iter().skip(1).all(u8::is_ascii_digit);
    if ok {
        1
    } else {
        -1
    }
}

/// `is_uri_user_e164`: the text between the first `:` and the next `@` is E.164.
pub fn uri_user_e164(uri: &[u8], max_len: usize) -> i64 {
    let Some(c) = uri.iter().position(|b| *b == b':') else {
        return -1;
    };
    let rest = uri.get(c + 1..).unwrap_or_default();
    let Some(at) = rest.iter().position(|b| *b == b'@') else {
        return -1;
    };
    e164(rest.get(..at).unwrap_or_default(), max_len)
}

/// What `tel2sip` makes of a URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tel2Sip {
    /// Not a `tel:` URI: nothing to do (return code 2).
    NotTel,
    /// The result does not parse as a URI (-1).
    Bad,
    /// The SIP URI.
    Sip(Vec<u8>),
}

/// `tel2sip(uri, host)`: lower-cases the tel URI, drops the visual separators `-.()` before the
/// first `;`, and builds `sip:<number[;params]>@<host>;user=phone`.
pub fn tel2sip(uri: &[u8], host: &[u8]) -> Tel2Sip {
    if uri.len() < 4
        || !uri
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"tel:"))
    {
        return Tel2Sip::NotTel;
    }
    let mut num = Vec::with_capacity(uri.len());
    let mut in_params = false;
    for &b in uri.get(4..).unwrap_or_default() {
        if b == b';' {
            in_params = true;
        }
        if in_params || !matches!(b, b'-' | b'.' | b'(' | b')') {
            num.push(b.to_ascii_lowercase());
        }
    }
    let mut out = b"sip:".to_vec();
    out.extend_from_slice(&num);
    out.push(b'@');
    out.extend_from_slice(host);
    out.extend_from_slice(b";user=phone");
    if uriops::parse(&out).is_none() {
        return Tel2Sip::Bad;
    }
    Tel2Sip::Sip(out)
}

/// `tel2sip2(uri, host)`: like [`tel2sip`], then the tel parameters (at most 10, as Kamailio's
/// `MAX_TEL_PARAMS`) are sorted — `isdn-subaddress`, `post-dial`, then by name — and written as
/// `;name=value`; a `phone-context` that is a number loses its visual separators, one that is a
/// domain is dropped (the caller puts the domain in `host`). `NotTel` is return code 1 here.
pub fn tel2sip2(uri: &[u8], host: &[u8]) -> Tel2Sip {
    if uri.len() < 4
        || !uri
            .get(..4)
            .is_some_and(|p| p.eq_ignore_ascii_case(b"tel:"))
    {
        return Tel2Sip::NotTel;
    }
    let Tel2Sip::Sip(_) = tel2sip(uri, host) else {
        return Tel2Sip::Bad;
    };
    // The cleaned, lower-cased tel text after `tel:` (same rules as tel2sip).
    let mut clean = Vec::with_capacity(uri.len());
    let mut in_params = false;
    for &b in uri.get(4..).unwrap_or_default() {
        if b == b';' {
            in_params = true;
        }
        if in_params || !matches!(b, b'-' | b'.' | b'(' | b')') {
            clean.push(b.to_ascii_lowercase());
        }
    }
    let mut pieces = clean.splitn(11, |b| *b == b';');
    let number = pieces.next().unwrap_or_default().to_vec();
    let mut params: Vec<(Vec<u8>, Vec<u8>)> = pieces
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (
                p.get(..i).unwrap_or_default().to_vec(),
                p.get(i + 1..).unwrap_or_default().to_vec(),
            ),
            None => (p.to_vec(), Vec::new()),
        })
        .collect();
    let telnum = |v: &[u8]| {
        v.strip_prefix(b"+")
            .unwrap_or(v)
            .iter()
            .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'(' | b')'))
    };
    for (n, v) in params.iter_mut() {
        if n.eq_ignore_ascii_case(b"phone-context") && telnum(v) {
            v.retain(|b| !matches!(b, b'.' | b'-' | b'(' | b')'));
        }
    }
    let rank = |n: &[u8]| {
        if n.eq_ignore_ascii_case(b"isdn-subaddress") {
            0
        } else if n.eq_ignore_ascii_case(b"post-dial") {
            1
        } else {
            2
        }
    };
    params.sort_by(|a, b| {
        rank(&a.0)
            .cmp(&rank(&b.0))
            .then_with(|| a.0.to_ascii_lowercase().cmp(&b.0.to_ascii_lowercase()))
    });
    let mut out = b"sip:".to_vec();
    out.extend_from_slice(&number);
    for (n, v) in &params {
        if !n.eq_ignore_ascii_case(b"phone-context") || telnum(v) {
            out.push(b';');
            out.extend_from_slice(n);
            out.push(b'=');
            out.extend_from_slice(v);
        }
    }
    out.push(b'@');
    out.extend_from_slice(host);
    out.extend_from_slice(b";user=phone");
    if uriops::parse(&out).is_none() {
        return Tel2Sip::Bad;
    }
    Tel2Sip::Sip(out)
}

/// Maps a Kamailio comparison (0 equal, >0 different, <0 error) to a return code: 1, -1, -2.
pub fn cmp_result(r: i32) -> i64 {
    match r {
        0 => 1,
        r if r > 0 => -1,
        _ => -2,
    }
}

/// Kamailio's `cmp_uri_str`: -1 when either does not parse, 0 when they match, 1 when not. Same
/// scheme; user, password and port byte-equal; host case-insensitive; when only one has
/// parameters it must not have `user`, `ttl`, `method` or `maddr`; parameters present on both
/// sides must have equal values (case-insensitive).
pub fn cmp_uri(a: &[u8], b: &[u8]) -> i32 {
    let (Some(x), Some(y)) = (uriops::parse(a), uriops::parse(b)) else {
        return -1;
    };
    let part = |buf: &[u8], s: Option<Span>| s.map(|s| s.of(buf).to_vec()).unwrap_or_default();
    if scheme_kind(&x) != scheme_kind(&y)
        || part(a, x.user) != part(b, y.user)
        || part(a, x.password) != part(b, y.password)
        || part(a, x.port_span) != part(b, y.port_span)
        || !x.host.of(a).eq_ignore_ascii_case(y.host.of(b))
    {
        return 1;
    }
    let (px, py) = (x.params.of(a), y.params.of(b));
    if px.is_empty() && py.is_empty() {
        return 0;
    }
    let special = |u: &Uri| {
        u.user_param.is_some() || u.ttl.is_some() || u.method.is_some() || u.maddr.is_some()
    };
    if (px.is_empty() && special(&y)) || (py.is_empty() && special(&x)) {
        return 1;
    }
    let lx = split_params(a, x.params);
    let ly = split_params(b, y.params);
    for (n, v) in &lx {
        if let Some((_, w)) = ly.iter().find(|(m, _)| m.eq_ignore_ascii_case(n)) {
            let (v, w) = (v.unwrap_or_default(), w.unwrap_or_default());
            if !v.eq_ignore_ascii_case(w) {
                return 1;
            }
        }
    }
    0
}

/// Kamailio's `cmp_aor_str`: user byte-equal, host case-insensitive, ports equal (an absent port
/// equals 5060).
pub fn cmp_aor(a: &[u8], b: &[u8]) -> i32 {
    let (Some(x), Some(y)) = (uriops::parse(a), uriops::parse(b)) else {
        return -1;
    };
    let user = |u: &Uri, buf: &[u8]| u.user.map(|s| s.of(buf).to_vec()).unwrap_or_default();
    if user(&x, a) != user(&y, b) || !x.host.of(a).eq_ignore_ascii_case(y.host.of(b)) {
        return 1;
    }
    let port = |u: &Uri, buf: &[u8]| u.port_span.map(|s| s.of(buf).to_vec()).unwrap_or_default();
    if port(&x, a) != port(&y, b) {
        if x.port_span.is_none() && y.port.unwrap_or(0) != 5060 {
            return 1;
        }
        if y.port_span.is_none() && x.port.unwrap_or(0) != 5060 {
            return 1;
        }
    }
    0
}

/// Kamailio's `cmp_hdrname_str`: known headers compare by kind (so `f` equals `From`), other
/// names case-insensitively; 0 equal, 2 (or another non-zero) different.
pub fn cmp_hdr_name(a: &[u8], b: &[u8]) -> i32 {
    let (a, b) = (a.trim_ascii_end(), b.trim_ascii_end());
    let (ka, kb) = (HeaderKind::from_name(a), HeaderKind::from_name(b));
    if ka != HeaderKind::Other || kb != HeaderKind::Other {
        return if ka == kb { 0 } else { 2 };
    }
    if a.eq_ignore_ascii_case(b) {
        0
    } else {
        1
    }
}

/// `is_gruu`: 1 when the URI has `gr=value`, 2 for a bare `gr`, -1 otherwise (or unparsable).
pub fn is_gruu(uri: &[u8]) -> i64 {
    match uriops::parse(uri).and_then(|u| u.gr) {
        Some(p) if p.value.is_some_and(|v| !v.is_empty()) => 1,
        Some(_) => 2,
        None => -1,
    }
}

/// The parameters in `span` of `buf` as (name, value) pairs, in order.
pub fn split_params(buf: &[u8], span: Span) -> Vec<(&[u8], Option<&[u8]>)> {
    span.of(buf)
        .split(|b| *b == b';')
        .filter(|p| !p.is_empty())
        .map(|p| match p.iter().position(|b| *b == b'=') {
            Some(i) => (
                p.get(..i).unwrap_or_default().trim_ascii(),
                Some(p.get(i + 1..).unwrap_or_default().trim_ascii()),
            ),
            None => (p.trim_ascii(), None),
        })
        .collect()
}

/// The byte range to delete to remove the first parameter `name` (case-insensitive) of `span`:
/// from its `;` to the end of its value.
pub fn param_range(buf: &[u8], span: Span, name: &[u8]) -> Option<(usize, usize)> {
    let start = span.start as usize;
    let mut pos = start;
    for p in span.of(buf).split(|b| *b == b';') {
        let n = match p.iter().position(|b| *b == b'=') {
            Some(i) => p.get(..i).unwrap_or_default(),
            None => p,
        };
        if !p.is_empty() && n.trim_ascii().eq_ignore_ascii_case(name) {
            // The `;` before the parameter goes with it (the span starts after the first `;`).
            return Some((pos.saturating_sub(1), pos + p.len()));
        }
        pos += p.len() + 1;
    }
    None
}

/// The URI of a name-addr (`"x" <sip:a@b>;p=1` → `sip:a@b`), or the text itself.
pub fn nameaddr_uri(v: &[u8]) -> &[u8] {
    let Some(lt) = v.iter().position(|b| *b == b'<') else {
        return v;
    };
    let rest = v.get(lt + 1..).unwrap_or_default();
    match rest.iter().position(|b| *b == b'>') {
        Some(gt) => rest.get(..gt).unwrap_or_default(),
        None => v,
    }
}

/// The host as an IP address (IPv6 with or without brackets).
pub fn host_ip(host: &[u8]) -> Option<IpAddr> {
    let s = std::str::from_utf8(host).ok()?;
    let s = s
        .strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .unwrap_or(s);
    s.parse().ok()
}

/// Seconds since the epoch.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// UTC calendar time to seconds since the epoch (proleptic Gregorian; month 1..=12).
pub fn timegm(year: i64, month: i64, day: i64, hour: i64, min: i64, sec: i64) -> i64 {
    // Days from civil (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hour * 3600 + min * 60 + sec
}

fn scheme_kind(u: &Uri) -> u8 {
    match u.scheme {
        Scheme::Sip => 1,
        Scheme::Sips => 2,
        Scheme::Tel => 3,
        Scheme::Tels => 4,
        Scheme::Urn => 5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_classes() {
        let cases: &[(&str, i64, i64, i64)] = &[
            // (value, tel, numeric, alphanum)
            ("+4912345", 1, -2, -3),
            ("12345", 1, 1, 1),
            ("+0123", -2, -2, -3),
            ("+", -2, -2, -3),
            ("", -2, -2, -2),
            ("abc12", -2, -2, 1),
            ("12 3", -2, -2, -3),
        ];
        for (v, t, n, a) in cases {
            assert_eq!(is_tel_number(v.as_bytes()), *t, "tel {v}");
            assert_eq!(is_numeric(v.as_bytes()), *n, "num {v}");
            assert_eq!(is_alphanum(v.as_bytes()), *a, "alnum {v}");
        }
        assert_eq!(is_alphanumex(b"a.b-c", b".-"), 1);
        assert_eq!(is_alphanumex(b"a.b-c", b"."), -3);
    }

    #[test]
    fn e164_rules() {
        let cases = [
            ("+49", 1),
            ("+4", -1),
            ("+123456789012345", 1),
            ("+1234567890123456", -1),
            ("4912", -1),
            ("+49a", -1),
        ];
        for (v, want) in cases {
            assert_eq!(e164(v.as_bytes(), 16), want, "{v}");
        }
        assert_eq!(uri_user_e164(b"sip:+4930@x", 16), 1);
        assert_eq!(uri_user_e164(b"sip:x", 16), -1);
    }

    #[test]
    fn tel2sip_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            (
                "tel:+(34)-999-888-777",
                "foo.com",
                Some("sip:+34999888777@foo.com;user=phone"),
            ),
            (
                "tel:+12-(34)-56-78;Ext=200;ISUB=+123-456",
                "foo.com",
                Some("sip:+12345678;ext=200;isub=+123-456@foo.com;user=phone"),
            ),
            ("sip:a@b", "foo.com", None),
        ];
        for (u, h, want) in cases {
            let got = tel2sip(u.as_bytes(), h.as_bytes());
            match want {
                Some(w) => assert_eq!(got, Tel2Sip::Sip(w.as_bytes().to_vec()), "{u}"),
                None => assert_eq!(got, Tel2Sip::NotTel, "{u}"),
            }
        }
    }

    #[test]
    fn tel2sip2_table() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("tel:+(34)-999-888-777", "foo.com", Some("sip:+34999888777@foo.com;user=phone")),
            (
                "tel:+12-(34)-56-78;Ext=200;ISUB=+123-456",
                "foo.com",
                Some("sip:+12345678;ext=200;isub=+123-456@foo.com;user=phone"),
            ),
            (
                "tel:7042;phone-context=example.com",
                "example.com",
                Some("sip:7042@example.com;user=phone"),
            ),
            (
                "tel:863-1234;phone-context=+1-914-555;post-dial=p1;isdn-subaddress=12",
                "x.org",
                Some("sip:8631234;isdn-subaddress=12;post-dial=p1;phone-context=+1914555@x.org;user=phone"),
            ),
            ("sip:a@b", "foo.com", None),
        ];
        for (u, h, want) in cases {
            let got = tel2sip2(u.as_bytes(), h.as_bytes());
            match want {
                Some(w) => assert_eq!(got, Tel2Sip::Sip(w.as_bytes().to_vec()), "{u}"),
                None => assert_eq!(got, Tel2Sip::NotTel, "{u}"),
            }
        }
    }

    #[test]
    fn comparisons() {
        let uris: &[(&str, &str, i32, i32)] = &[
            // (a, b, cmp_uri, cmp_aor)
            ("sip:a@X.com", "sip:a@x.com", 0, 0),
            ("sip:a@x.com", "sip:A@x.com", 1, 1),
            ("sip:a@x.com", "sip:a@x.com:5060", 1, 0),
            ("sip:a@x.com;transport=tcp", "sip:a@x.com", 0, 0),
            ("sip:a@x.com;user=phone", "sip:a@x.com", 1, 0),
            ("sip:a@x.com;lr;p=1", "sip:a@x.com;p=2", 1, 0),
            ("sip:a@x.com", "nonsense", -1, -1),
        ];
        for (a, b, u, r) in uris {
            assert_eq!(cmp_uri(a.as_bytes(), b.as_bytes()), *u, "uri {a} {b}");
            assert_eq!(cmp_aor(a.as_bytes(), b.as_bytes()), *r, "aor {a} {b}");
        }
        assert_eq!(cmp_hdr_name(b"f", b"From"), 0);
        assert_eq!(cmp_hdr_name(b"X-A", b"x-a"), 0);
        assert_eq!(cmp_hdr_name(b"To", b"From"), 2);
        assert_eq!(cmp_result(-1), -2);
    }

    #[test]
    fn params_and_dates() {
        let u = b"a;x=1;lr;y=2";
        let sp = Span::new(2, u.len());
        assert_eq!(param_range(u, sp, b"lr"), Some((5, 8)));
        assert_eq!(param_range(u, sp, b"x"), Some((1, 5)));
        assert_eq!(param_range(u, sp, b"z"), None);
        assert_eq!(timegm(1970, 1, 1, 0, 0, 0), 0);
        assert_eq!(timegm(2024, 2, 29, 12, 0, 0), 1_709_208_000);
        assert_eq!(is_gruu(b"sip:a@b;gr=urn:x"), 1);
        assert_eq!(is_gruu(b"sip:a@b;gr"), 2);
        assert_eq!(is_gruu(b"sip:a@b"), -1);
        assert_eq!(nameaddr_uri(b"\"A\" <sip:+1@x>;p"), b"sip:+1@x");
    }
}
