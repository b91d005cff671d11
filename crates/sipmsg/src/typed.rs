//! Cached typed accessors for the headers beyond the core set of [`Msg`]: Contact, Route,
//! Record-Route, Path, Expires and the rest. Each accessor parses on first use and caches
//! the value (or the error).

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::headers::nameaddr::{self, NameAddr};
use crate::headers::param::Param;
use crate::headers::scalar;
use crate::msg::{cached, Msg};
use crate::span::Span;

/// One Contact of a Contact header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Contact {
    /// Index of the Contact header in [`Msg::headers`].
    pub header: usize,
    /// The name-addr.
    pub addr: NameAddr,
    /// `expires` parameter value (`None` when absent).
    pub expires: Option<u32>,
    /// `q` in thousandths (`q=0.5` → 500), `None` when absent.
    pub q: Option<u16>,
    /// `+sip.instance` parameter.
    pub instance: Option<Param>,
    /// `reg-id` value.
    pub reg_id: Option<u32>,
    /// `received` parameter.
    pub received: Option<Param>,
    /// `methods` parameter.
    pub methods: Option<Param>,
}

/// All Contact headers of a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Contacts {
    /// True when a Contact is `*` (REGISTER removal). RFC 3261 allows it only alone.
    pub star: bool,
    /// The contacts, in order (empty when `star`).
    pub list: Vec<Contact>,
}

/// One element of a Route-like list (Route, Record-Route, Path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteEntry {
    /// Index of the header in [`Msg::headers`].
    pub header: usize,
    /// The name-addr.
    pub addr: NameAddr,
}

/// Caches for the accessors of this module.
#[derive(Default)]
pub(crate) struct MoreCache {
    contacts: OnceLock<Result<Contacts>>,
    routes: OnceLock<Result<Vec<RouteEntry>>>,
    record_routes: OnceLock<Result<Vec<RouteEntry>>>,
    paths: OnceLock<Result<Vec<RouteEntry>>>,
    expires: OnceLock<Result<Option<u32>>>,
    min_expires: OnceLock<Result<Option<u32>>>,
}

fn bad(kind: HeaderKind, at: usize, reason: &'static str) -> Error {
    Error::BadHeader { kind, at, reason }
}

/// `q` value `0[.ddd]` / `1[.000]` in thousandths.
fn parse_q(b: &[u8]) -> Option<u16> {
    let (int, frac) = match b.iter().position(|&c| c == b'.') {
        Some(p) => (&b[..p], &b[p + 1..]),
        None => (b, &b[b.len()..]),
    };
    if int.len() != 1 || frac.len() > 3 || !frac.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut v: u16 = match int[0] {
        b'0' => 0,
        b'1' => 1000,
        _ => return None,
    };
    let mut scale = 100;
    for d in frac {
        v += u16::from(d - b'0') * scale;
        scale /= 10;
    }
    (v <= 1000).then_some(v)
}

impl Msg {
    /// Every Contact of every Contact header (`*` reported in [`Contacts::star`]).
    pub fn contacts(&self) -> Result<&Contacts> {
        cached(&self.cache().more.contacts, || {
            let buf = self.buf();
            let mut out = Contacts::default();
            let mut addrs = Vec::new();
            for (hi, h) in self.headers()?.iter().enumerate() {
                if h.kind != HeaderKind::Contact {
                    continue;
                }
                if h.value.of(buf) == b"*" {
                    out.star = true;
                    continue;
                }
                addrs.clear();
                nameaddr::parse_list(buf, h.value, HeaderKind::Contact, &mut addrs)?;
                for a in &addrs {
                    let mut c = Contact {
                        header: hi,
                        addr: *a,
                        expires: None,
                        q: None,
                        instance: None,
                        reg_id: None,
                        received: None,
                        methods: None,
                    };
                    for p in a.params.iter(buf) {
                        let n = p.name.of(buf);
                        let v = p.value.map(|v| v.of(buf));
                        let at = p.span.start as usize;
                        if n.eq_ignore_ascii_case(b"expires") {
                            c.expires = Some(v.and_then(crate::lex::parse_u32).ok_or(bad(
                                HeaderKind::Contact,
                                at,
                                "bad expires",
                            ))?);
                        } else if n.eq_ignore_ascii_case(b"q") {
                            c.q = Some(v.and_then(parse_q).ok_or(bad(
                                HeaderKind::Contact,
                                at,
                                "bad q",
                            ))?);
                        } else if n.eq_ignore_ascii_case(b"+sip.instance") {
                            c.instance = Some(p);
                        } else if n.eq_ignore_ascii_case(b"reg-id") {
                            c.reg_id = Some(v.and_then(crate::lex::parse_u32).ok_or(bad(
                                HeaderKind::Contact,
                                at,
                                "bad reg-id",
                            ))?);
                        } else if n.eq_ignore_ascii_case(b"received") {
                            c.received = Some(p);
                        } else if n.eq_ignore_ascii_case(b"methods") {
                            c.methods = Some(p);
                        }
                    }
                    out.list.push(c);
                }
            }
            if out.star && !out.list.is_empty() {
                return Err(bad(HeaderKind::Contact, 0, "* mixed with other contacts"));
            }
            Ok(out)
        })
    }

    /// Every Route entry, top first.
    pub fn routes(&self) -> Result<&[RouteEntry]> {
        cached(&self.cache().more.routes, || {
            self.route_list(HeaderKind::Route)
        })
        .map(Vec::as_slice)
    }

    /// Every Record-Route entry, top first.
    pub fn record_routes(&self) -> Result<&[RouteEntry]> {
        cached(&self.cache().more.record_routes, || {
            self.route_list(HeaderKind::RecordRoute)
        })
        .map(Vec::as_slice)
    }

    /// Every Path entry, top first.
    pub fn paths(&self) -> Result<&[RouteEntry]> {
        cached(&self.cache().more.paths, || {
            self.route_list(HeaderKind::Path)
        })
        .map(Vec::as_slice)
    }

    /// Expires, if present.
    pub fn expires(&self) -> Result<Option<u32>> {
        cached(&self.cache().more.expires, || {
            self.delta(HeaderKind::Expires)
        })
        .copied()
    }

    /// Min-Expires, if present.
    pub fn min_expires(&self) -> Result<Option<u32>> {
        cached(&self.cache().more.min_expires, || {
            self.delta(HeaderKind::MinExpires)
        })
        .copied()
    }

    fn delta(&self, kind: HeaderKind) -> Result<Option<u32>> {
        match self.header(kind)? {
            None => Ok(None),
            Some(h) => scalar::parse_delta(self.buf(), h.value, kind).map(Some),
        }
    }

    fn route_list(&self, kind: HeaderKind) -> Result<Vec<RouteEntry>> {
        let buf = self.buf();
        let mut out = Vec::new();
        let mut addrs = Vec::new();
        for (hi, h) in self.headers()?.iter().enumerate() {
            if h.kind != kind {
                continue;
            }
            addrs.clear();
            nameaddr::parse_list(buf, h.value, kind, &mut addrs)?;
            if let Some(a) = addrs.iter().find(|a| !a.bracketed) {
                // Route/Record-Route/Path are name-addr only (RFC 3261 §20.30, 20.34).
                return Err(bad(kind, a.span.start as usize, "URI not in <>"));
            }
            out.extend(addrs.iter().map(|&addr| RouteEntry { header: hi, addr }));
        }
        Ok(out)
    }
}

/// Span helper for tests and callers: the bytes of a contact's URI.
pub fn uri_bytes<'a>(buf: &'a [u8], c: &Contact) -> &'a [u8] {
    Span::of(&c.addr.uri, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(hdrs: &str) -> Msg {
        Msg::parse(format!("REGISTER sip:r SIP/2.0\r\n{hdrs}\r\n").into_bytes()).unwrap()
    }

    #[test]
    fn contact_table() {
        type Want = Option<(bool, Vec<(&'static str, Option<u32>, Option<u16>)>)>;
        let table: Vec<(&str, Want)> = vec![
            (
                "Contact: <sip:a@b>;expires=60;q=0.5\r\nm: sip:c@d\r\n",
                Some((
                    false,
                    vec![("sip:a@b", Some(60), Some(500)), ("sip:c@d", None, None)],
                )),
            ),
            ("Contact: *\r\n", Some((true, vec![]))),
            ("Contact: *\r\nContact: <sip:a@b>\r\n", None),
            ("Contact: <sip:a@b>;expires=280297596632815\r\n", None),
            ("Contact: <sip:a@b>;q=2\r\n", None),
            ("Contact: <sip:a@b>;;;;\r\n", None),
            (
                "Contact: <sip:a@b>;+sip.instance=\"<urn:uuid:1>\";reg-id=1\r\n",
                Some((false, vec![("sip:a@b", None, None)])),
            ),
        ];
        for (h, want) in table {
            let m = msg(h);
            let got = m.contacts().ok().map(|c| {
                (
                    c.star,
                    c.list
                        .iter()
                        .map(|x| {
                            (
                                String::from_utf8_lossy(uri_bytes(m.buf(), x)).into_owned(),
                                x.expires,
                                x.q,
                            )
                        })
                        .collect::<Vec<_>>(),
                )
            });
            let want = want.map(|(s, l)| {
                (
                    s,
                    l.into_iter()
                        .map(|(u, e, q)| (u.to_string(), e, q))
                        .collect::<Vec<_>>(),
                )
            });
            assert_eq!(got, want, "{h:?}");
        }
        let m = msg("Contact: <sip:a@b>;+sip.instance=\"<urn:uuid:1>\";reg-id=7\r\n");
        let c = &m.contacts().unwrap().list[0];
        assert_eq!(c.reg_id, Some(7));
        assert_eq!(
            c.instance.unwrap().unquoted(m.buf()).unwrap().of(m.buf()),
            b"<urn:uuid:1>"
        );
    }

    #[test]
    fn routes_and_expires() {
        let m = msg("Route: <sip:p1;lr>, <sip:p2;lr>\r\nRoute: <sip:p3>\r\nRecord-Route: sip:bad\r\nExpires: 300\r\n");
        let r = m.routes().unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(r[2].header, 1);
        assert!(m.record_routes().is_err());
        assert_eq!(m.expires().unwrap(), Some(300));
        assert_eq!(m.min_expires().unwrap(), None);
        assert!(m.paths().unwrap().is_empty());
    }
}
