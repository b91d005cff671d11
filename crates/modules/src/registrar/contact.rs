//! The Contacts of a REGISTER as registrar reads them. sipmsg's typed accessor is used when it
//! accepts the headers; it refuses some that Kamailio's parser takes (a non-numeric `expires`
//! parameter, which Kamailio replaces with the default expires; `q=2`, which Kamailio answers with
//! "Invalid q param in contact"; `*` next to other contacts, answered with its own reason), so a
//! lenient reading over the comma-split header values takes over then.
//!
//! Order: Kamailio's Contact parser prepends, so the contacts of one header are walked last to
//! first (headers themselves in order). `save` walks them in that order too, which decides which
//! of two equal contacts wins and the order of equal-q bindings (verified against 5.6.3).

use ferrosip_sipmsg::{HeaderKind, Msg};

use super::save::Rerr;

/// One contact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegContact {
    /// The URI.
    pub uri: Vec<u8>,
    /// `expires` parameter; `None` when absent or not a number (Kamailio then uses the default).
    pub expires: Option<u32>,
    /// `q` ×1000; `Err` when present but invalid.
    pub q: Result<Option<u16>, ()>,
    /// `+sip.instance` without quotes.
    pub instance: Option<Vec<u8>>,
    /// `reg-id`; `Err` when present but not a number.
    pub reg_id: Result<Option<u32>, ()>,
    /// `received` without quotes.
    pub received: Option<Vec<u8>>,
    /// `methods` without quotes.
    pub methods: Option<Vec<u8>>,
}

/// All contacts and whether a `*` was seen.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RegContacts {
    /// A `*` Contact header was present.
    pub star: bool,
    /// The contacts in order.
    pub list: Vec<RegContact>,
}

/// Reads the Contact headers.
pub fn read(msg: &Msg) -> Result<RegContacts, Rerr> {
    let buf = msg.buf();
    if let Ok(c) = msg.contacts() {
        let unq = |p: Option<ferrosip_sipmsg::Param>| {
            p.map(|p| {
                p.unquoted(buf)
                    .map(|s| s.of(buf).to_vec())
                    .unwrap_or_default()
            })
        };
        let mut groups: Vec<(usize, Vec<RegContact>)> = Vec::new();
        for x in &c.list {
            let rc = RegContact {
                uri: x.addr.uri.of(buf).to_vec(),
                expires: x.expires,
                q: Ok(x.q),
                instance: unq(x.instance),
                reg_id: Ok(x.reg_id),
                received: unq(x.received),
                methods: unq(x.methods),
            };
            match groups.last_mut() {
                Some((h, g)) if *h == x.header => g.push(rc),
                _ => groups.push((x.header, vec![rc])),
            }
        }
        let list = groups
            .into_iter()
            .flat_map(|(_, g)| g.into_iter().rev())
            .collect();
        return Ok(RegContacts { star: c.star, list });
    }
    let mut out = RegContacts::default();
    let headers = msg.headers().map_err(|_| Rerr::ParseCont)?;
    for h in headers.iter().filter(|h| h.kind == HeaderKind::Contact) {
        if h.value.of(buf).trim_ascii() == b"*" {
            out.star = true;
            continue;
        }
        let mut group = Vec::new();
        for el in msg.values(h) {
            group.push(element(el.of(buf)).ok_or(Rerr::ParseCont)?);
        }
        out.list.extend(group.into_iter().rev());
    }
    Ok(out)
}

// ---- internals ----

fn element(e: &[u8]) -> Option<RegContact> {
    let e = e.trim_ascii();
    let (uri, params) = match find_unquoted(e, b'<') {
        Some(lt) => {
            let rest = e.get(lt + 1..)?;
            let gt = rest.iter().position(|&b| b == b'>')?;
            (rest.get(..gt)?, rest.get(gt + 1..)?)
        }
        None => match e.iter().position(|&b| b == b';') {
            Some(p) => (e.get(..p)?, e.get(p..)?),
            None => (e, &b""[..]),
        },
    };
    if uri.is_empty() {
        return None;
    }
    let mut c = RegContact {
        uri: uri.trim_ascii().to_vec(),
        expires: None,
        q: Ok(None),
        instance: None,
        reg_id: Ok(None),
        received: None,
        methods: None,
    };
    for p in split_params(params) {
        let (n, v) = match p.iter().position(|&b| b == b'=') {
            Some(i) => (p.get(..i)?.trim_ascii(), Some(p.get(i + 1..)?.trim_ascii())),
            None => (p.trim_ascii(), None),
        };
        let unquoted = v.map(|v| {
            v.strip_prefix(b"\"")
                .and_then(|x| x.strip_suffix(b"\""))
                .unwrap_or(v)
                .to_vec()
        });
        match n.to_ascii_lowercase().as_slice() {
            b"expires" => c.expires = v.and_then(parse_u32),
            b"q" => c.q = v.and_then(parse_q).map(Some).ok_or(()),
            b"+sip.instance" => c.instance = unquoted,
            b"reg-id" => c.reg_id = v.and_then(parse_u32).map(Some).ok_or(()),
            b"received" => c.received = unquoted,
            b"methods" => c.methods = unquoted,
            _ => {}
        }
    }
    Some(c)
}

fn find_unquoted(s: &[u8], ch: u8) -> Option<usize> {
    let mut q = false;
    for (i, &b) in s.iter().enumerate() {
        if b == b'"' {
            q = !q;
        } else if b == ch && !q {
            return Some(i);
        }
    }
    None
}

fn split_params(s: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut q = false;
    let mut start = 0;
    for (i, &b) in s.iter().enumerate() {
        if b == b'"' {
            q = !q;
        } else if b == b';' && !q {
            if let Some(p) = s.get(start..i) {
                if !p.trim_ascii().is_empty() {
                    out.push(p);
                }
            }
            start = i + 1;
        }
    }
    if let Some(p) = s.get(start..) {
        if !p.trim_ascii().is_empty() {
            out.push(p);
        }
    }
    out
}

fn parse_u32(v: &[u8]) -> Option<u32> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Kamailio's `str2q`: `0`, `1`, `0.d{1,3}`, `1.0{1,3}`.
fn parse_q(v: &[u8]) -> Option<u16> {
    let s = std::str::from_utf8(v).ok()?;
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.len() != 1 || frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if s.ends_with('.') {
        return None;
    }
    let f: u16 = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(f),
        "1" if f == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_elements() {
        // (element, uri, expires, q)
        type Case = (
            &'static str,
            &'static str,
            Option<u32>,
            Result<Option<u16>, ()>,
        );
        let cases: &[Case] = &[
            ("<sip:a@h>;expires=abc", "sip:a@h", None, Ok(None)),
            (
                "\"x;<y\" <sip:a@h>;q=0.25;expires=5",
                "sip:a@h",
                Some(5),
                Ok(Some(250)),
            ),
            ("sip:b@h;q=2", "sip:b@h", None, Err(())),
            ("sip:b@h", "sip:b@h", None, Ok(None)),
        ];
        for (e, uri, exp, q) in cases {
            let c = element(e.as_bytes()).unwrap_or_else(|| panic!("{e}"));
            assert_eq!(
                (c.uri.as_slice(), c.expires, c.q),
                (uri.as_bytes(), *exp, *q),
                "{e}"
            );
        }
        assert_eq!(element(b"<>"), None);
    }
}
