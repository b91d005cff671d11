//! Cached typed accessors for the headers beyond the core set of [`Msg`]: Contact, Route,
//! Record-Route, Path, Expires and the rest. Each accessor parses on first use and caches
//! the value (or the error).

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::headers::auth::{self, Auth};
use crate::headers::misc::{self, Allow, ContentType, Date, Event};
use crate::headers::nameaddr::{self, NameAddr};
use crate::headers::param::Param;
use crate::headers::scalar;
use crate::msg::{cached, Msg, Proto};
use crate::multipart::{self, Part};
use crate::sdp::{self, Sdp};
use crate::span::Span;
use crate::uri::Uri;

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
    content_type: OnceLock<Result<Option<ContentType>>>,
    authorization: OnceLock<Result<Vec<Auth>>>,
    proxy_authorization: OnceLock<Result<Vec<Auth>>>,
    www_authenticate: OnceLock<Result<Vec<Auth>>>,
    proxy_authenticate: OnceLock<Result<Vec<Auth>>>,
    event: OnceLock<Result<Option<Event>>>,
    supported: OnceLock<Result<Vec<Span>>>,
    require: OnceLock<Result<Vec<Span>>>,
    proxy_require: OnceLock<Result<Vec<Span>>>,
    unsupported: OnceLock<Result<Vec<Span>>>,
    allow: OnceLock<Result<Option<Allow>>>,
    pai: OnceLock<Result<Vec<NameAddr>>>,
    ppi: OnceLock<Result<Vec<NameAddr>>>,
    diversion: OnceLock<Result<Vec<NameAddr>>>,
    refer_to: OnceLock<Result<Option<NameAddr>>>,
    privacy: OnceLock<Result<Option<u8>>>,
    date: OnceLock<Result<Option<Date>>>,
    retry_after: OnceLock<Result<Option<u32>>>,
    parts: OnceLock<Result<Option<Vec<Part>>>>,
    sdp: OnceLock<Result<Option<Sdp>>>,
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
        cached(&self.cache().rare().more.contacts, || {
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
        cached(&self.cache().rare().more.routes, || {
            self.route_list(HeaderKind::Route)
        })
        .map(Vec::as_slice)
    }

    /// Every Record-Route entry, top first.
    pub fn record_routes(&self) -> Result<&[RouteEntry]> {
        cached(&self.cache().rare().more.record_routes, || {
            self.route_list(HeaderKind::RecordRoute)
        })
        .map(Vec::as_slice)
    }

    /// Every Path entry, top first.
    pub fn paths(&self) -> Result<&[RouteEntry]> {
        cached(&self.cache().rare().more.paths, || {
            self.route_list(HeaderKind::Path)
        })
        .map(Vec::as_slice)
    }

    /// Expires, if present.
    pub fn expires(&self) -> Result<Option<u32>> {
        cached(&self.cache().rare().more.expires, || {
            self.delta(HeaderKind::Expires)
        })
        .copied()
    }

    /// Min-Expires, if present.
    pub fn min_expires(&self) -> Result<Option<u32>> {
        cached(&self.cache().rare().more.min_expires, || {
            self.delta(HeaderKind::MinExpires)
        })
        .copied()
    }

    /// Content-Type, if present.
    pub fn content_type(&self) -> Result<Option<&ContentType>> {
        cached(&self.cache().rare().more.content_type, || {
            match self.header(HeaderKind::ContentType)? {
                None => Ok(None),
                Some(h) => misc::parse_content_type(self.buf(), h.value).map(Some),
            }
        })
        .map(Option::as_ref)
    }

    /// Every Authorization header (one per realm).
    pub fn authorizations(&self) -> Result<&[Auth]> {
        cached(&self.cache().rare().more.authorization, || {
            self.auth_list(HeaderKind::Authorization)
        })
        .map(Vec::as_slice)
    }

    /// Every Proxy-Authorization header.
    pub fn proxy_authorizations(&self) -> Result<&[Auth]> {
        cached(&self.cache().rare().more.proxy_authorization, || {
            self.auth_list(HeaderKind::ProxyAuthorization)
        })
        .map(Vec::as_slice)
    }

    /// Every WWW-Authenticate challenge.
    pub fn www_authenticates(&self) -> Result<&[Auth]> {
        cached(&self.cache().rare().more.www_authenticate, || {
            self.auth_list(HeaderKind::WwwAuthenticate)
        })
        .map(Vec::as_slice)
    }

    /// Every Proxy-Authenticate challenge.
    pub fn proxy_authenticates(&self) -> Result<&[Auth]> {
        cached(&self.cache().rare().more.proxy_authenticate, || {
            self.auth_list(HeaderKind::ProxyAuthenticate)
        })
        .map(Vec::as_slice)
    }

    /// Event, if present.
    pub fn event(&self) -> Result<Option<&Event>> {
        cached(&self.cache().rare().more.event, || {
            match self.header(HeaderKind::Event)? {
                None => Ok(None),
                Some(h) => misc::parse_event(self.buf(), h.value).map(Some),
            }
        })
        .map(Option::as_ref)
    }

    /// Option tags of every Supported header.
    pub fn supported(&self) -> Result<&[Span]> {
        cached(&self.cache().rare().more.supported, || {
            self.token_list(HeaderKind::Supported)
        })
        .map(Vec::as_slice)
    }

    /// Option tags of every Require header.
    pub fn require(&self) -> Result<&[Span]> {
        cached(&self.cache().rare().more.require, || {
            self.token_list(HeaderKind::Require)
        })
        .map(Vec::as_slice)
    }

    /// Option tags of every Proxy-Require header.
    pub fn proxy_require(&self) -> Result<&[Span]> {
        cached(&self.cache().rare().more.proxy_require, || {
            self.token_list(HeaderKind::ProxyRequire)
        })
        .map(Vec::as_slice)
    }

    /// Option tags of every Unsupported header.
    pub fn unsupported(&self) -> Result<&[Span]> {
        cached(&self.cache().rare().more.unsupported, || {
            self.token_list(HeaderKind::Unsupported)
        })
        .map(Vec::as_slice)
    }

    /// The methods of every Allow header (`None` when there is no Allow header).
    pub fn allow(&self) -> Result<Option<&Allow>> {
        cached(&self.cache().rare().more.allow, || {
            let mut out: Option<Allow> = None;
            for h in self.headers_of(HeaderKind::Allow)? {
                misc::parse_allow(self.buf(), h.value, out.get_or_insert_with(Allow::default))?;
            }
            Ok(out)
        })
        .map(Option::as_ref)
    }

    /// Every P-Asserted-Identity.
    pub fn p_asserted_identity(&self) -> Result<&[NameAddr]> {
        cached(&self.cache().rare().more.pai, || {
            self.addr_list(HeaderKind::PAssertedIdentity)
        })
        .map(Vec::as_slice)
    }

    /// Every P-Preferred-Identity.
    pub fn p_preferred_identity(&self) -> Result<&[NameAddr]> {
        cached(&self.cache().rare().more.ppi, || {
            self.addr_list(HeaderKind::PPreferredIdentity)
        })
        .map(Vec::as_slice)
    }

    /// Every Diversion entry (RFC 5806), top first.
    pub fn diversion(&self) -> Result<&[NameAddr]> {
        cached(&self.cache().rare().more.diversion, || {
            self.addr_list(HeaderKind::Diversion)
        })
        .map(Vec::as_slice)
    }

    /// Refer-To, if present.
    pub fn refer_to(&self) -> Result<Option<&NameAddr>> {
        cached(&self.cache().rare().more.refer_to, || {
            match self.header(HeaderKind::ReferTo)? {
                None => Ok(None),
                Some(h) => {
                    nameaddr::parse_single(self.buf(), h.value, HeaderKind::ReferTo).map(Some)
                }
            }
        })
        .map(Option::as_ref)
    }

    /// Privacy values as the bits of [`misc::privacy`].
    pub fn privacy(&self) -> Result<Option<u8>> {
        cached(&self.cache().rare().more.privacy, || {
            match self.header(HeaderKind::Privacy)? {
                None => Ok(None),
                Some(h) => misc::parse_privacy(self.buf(), h.value).map(Some),
            }
        })
        .copied()
    }

    /// Date, if present.
    pub fn date(&self) -> Result<Option<Date>> {
        cached(&self.cache().rare().more.date, || {
            match self.header(HeaderKind::Date)? {
                None => Ok(None),
                Some(h) => misc::parse_date(self.buf(), h.value).map(Some),
            }
        })
        .copied()
    }

    /// Retry-After delta-seconds, if present.
    pub fn retry_after(&self) -> Result<Option<u32>> {
        cached(&self.cache().rare().more.retry_after, || {
            match self.header(HeaderKind::RetryAfter)? {
                None => Ok(None),
                Some(h) => scalar::parse_retry_after(self.buf(), h.value).map(Some),
            }
        })
        .copied()
    }

    /// The parts of a `multipart/*` body (`None` for other bodies).
    pub fn body_parts(&self) -> Result<Option<&[Part]>> {
        cached(&self.cache().rare().more.parts, || {
            let Some(ct) = self.content_type()? else {
                return Ok(None);
            };
            let buf = self.buf();
            if !ct.mtype.eq_ignore_case(buf, b"multipart") {
                return Ok(None);
            }
            let boundary = ct
                .params
                .get(buf, b"boundary")
                .and_then(|p| p.unquoted(buf))
                .ok_or(Error::BadHeader {
                    kind: HeaderKind::ContentType,
                    at: ct.params.span.start as usize,
                    reason: "multipart without boundary",
                })?;
            multipart::parse(buf, self.body_span()?, boundary.of(buf)).map(Some)
        })
        .map(|o| o.as_deref())
    }

    /// The SDP of the body: the body itself for `application/sdp`, or the first
    /// `application/sdp` part of a multipart body (`None` when there is none).
    pub fn sdp(&self) -> Result<Option<&Sdp>> {
        cached(&self.cache().rare().more.sdp, || {
            let Some(ct) = self.content_type()? else {
                return Ok(None);
            };
            let buf = self.buf();
            if ct.is(buf, b"application", b"sdp") {
                return sdp::parse(buf, self.body_span()?).map(Some);
            }
            let Some(parts) = self.body_parts()? else {
                return Ok(None);
            };
            for p in parts {
                let Some(pct) = p.content_type else { continue };
                let Ok(pct) = misc::parse_content_type(buf, pct) else {
                    continue;
                };
                if pct.is(buf, b"application", b"sdp") {
                    return sdp::parse(buf, p.body).map(Some);
                }
            }
            Ok(None)
        })
        .map(Option::as_ref)
    }

    /// What Kamailio's `parse_headers(msg, HDR_EOH_F, 0)` checks: the header index (names,
    /// line ends, duplicates) and the values Kamailio parses while indexing: every Via,
    /// CSeq (syntax only), From, To, Content-Length and Retry-After. A message failing
    /// this is dropped by Kamailio without a reply.
    pub fn parse_all_headers(&self) -> Result<()> {
        let buf = self.buf();
        let hdrs = self.headers()?;
        self.vias()?;
        for h in hdrs {
            match h.kind {
                HeaderKind::CSeq => scalar::parse_cseq_syntax(buf, h.value).map(|_| ())?,
                HeaderKind::From | HeaderKind::To => {
                    nameaddr::parse_single(buf, h.value, h.kind).map(|_| ())?
                }
                HeaderKind::ContentLength => {
                    scalar::parse_content_length(buf, h.value).map(|_| ())?
                }
                HeaderKind::RetryAfter => scalar::parse_retry_after(buf, h.value).map(|_| ())?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Kamailio's `receive_msg` requirement for SIP messages: a top Via, From, To, Call-ID
    /// and CSeq must be present (otherwise the message is dropped silently).
    ///
    /// A request whose version is neither SIP/2.0 nor HTTP ([`Proto::Other`]) fails here:
    /// Kamailio does not route it as SIP. HTTP messages pass (they go to xhttp, not to the
    /// SIP routing).
    pub fn check_required(&self) -> Result<()> {
        match self.proto() {
            Proto::Sip => {}
            Proto::Http | Proto::Http2 => return Ok(()),
            Proto::Other => {
                return Err(Error::FirstLine {
                    at: self.first_line_span().start as usize,
                    reason: "not a SIP/2.0 message",
                })
            }
        }
        self.via1()?;
        for k in [
            HeaderKind::From,
            HeaderKind::To,
            HeaderKind::CallId,
            HeaderKind::CSeq,
        ] {
            self.first_value(k)?;
        }
        Ok(())
    }

    /// Runs every typed parser of this crate on the message (first instance of each
    /// header, every Contact/Route/… URI) and returns the failures, named by what failed
    /// (`"ruri"`, `"From"`, `"contact-uri"` …). Used by the corpus tests and fuzz targets;
    /// also handy for diagnostics.
    pub fn typed_failures(&self) -> Vec<(&'static str, Error)> {
        let mut out = Vec::new();
        let mut note = |what: &'static str, r: Result<()>| {
            if let Err(e) = r {
                out.push((what, e));
            }
        };
        let buf = self.buf();
        note("headers", self.headers().map(|_| ()));
        note("ruri", self.ruri().map(|_| ()));
        note("Via", self.vias().map(|_| ()));
        note("From", self.from().map(|_| ()));
        note("To", self.to().map(|_| ()));
        note("from-uri", self.from_uri().map(|_| ()));
        note("to-uri", self.to_uri().map(|_| ()));
        note("CSeq", self.cseq().map(|_| ()));
        note("Call-ID", self.call_id().map(|_| ()));
        note("Max-Forwards", self.max_forwards().map(|_| ()));
        note("Content-Length", self.content_length().map(|_| ()));
        note("Content-Type", self.content_type().map(|_| ()));
        note("Contact", self.contacts().map(|_| ()));
        note(
            "contact-uri",
            self.contacts().and_then(|c| {
                c.list
                    .iter()
                    .try_for_each(|c| Uri::parse_with(buf, c.addr.uri, self.options()).map(|_| ()))
            }),
        );
        note("Route", self.routes().map(|_| ()));
        note(
            "route-uri",
            self.routes().and_then(|r| {
                r.iter()
                    .try_for_each(|r| Uri::parse_with(buf, r.addr.uri, self.options()).map(|_| ()))
            }),
        );
        note("Record-Route", self.record_routes().map(|_| ()));
        note("Path", self.paths().map(|_| ()));
        note("Expires", self.expires().map(|_| ()));
        note("Min-Expires", self.min_expires().map(|_| ()));
        note("Authorization", self.authorizations().map(|_| ()));
        note(
            "Proxy-Authorization",
            self.proxy_authorizations().map(|_| ()),
        );
        note("WWW-Authenticate", self.www_authenticates().map(|_| ()));
        note("Proxy-Authenticate", self.proxy_authenticates().map(|_| ()));
        note("Event", self.event().map(|_| ()));
        note("Supported", self.supported().map(|_| ()));
        note("Require", self.require().map(|_| ()));
        note("Proxy-Require", self.proxy_require().map(|_| ()));
        note("Unsupported", self.unsupported().map(|_| ()));
        note("Allow", self.allow().map(|_| ()));
        note(
            "P-Asserted-Identity",
            self.p_asserted_identity().map(|_| ()),
        );
        note(
            "P-Preferred-Identity",
            self.p_preferred_identity().map(|_| ()),
        );
        note("Diversion", self.diversion().map(|_| ()));
        note("Refer-To", self.refer_to().map(|_| ()));
        note("Privacy", self.privacy().map(|_| ()));
        note("Date", self.date().map(|_| ()));
        note("Retry-After", self.retry_after().map(|_| ()));
        note("multipart", self.body_parts().map(|_| ()));
        note("sdp", self.sdp().map(|_| ()));
        out
    }

    fn auth_list(&self, kind: HeaderKind) -> Result<Vec<Auth>> {
        self.headers_of(kind)?
            .map(|h| auth::parse_auth(self.buf(), h.value, kind))
            .collect()
    }

    fn token_list(&self, kind: HeaderKind) -> Result<Vec<Span>> {
        let mut out = Vec::new();
        for h in self.headers_of(kind)? {
            misc::parse_token_list(self.buf(), h.value, kind, &mut out)?;
        }
        Ok(out)
    }

    fn addr_list(&self, kind: HeaderKind) -> Result<Vec<NameAddr>> {
        let mut out = Vec::new();
        for h in self.headers_of(kind)? {
            nameaddr::parse_list(self.buf(), h.value, kind, &mut out)?;
        }
        Ok(out)
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

    #[test]
    fn required_headers_and_version() {
        let base = "Via: SIP/2.0/UDP h\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: x\r\nCSeq: 1 OPTIONS\r\n\r\n";
        let table: &[(&str, bool)] = &[
            ("OPTIONS sip:a@b SIP/2.0\r\n", true),
            ("OPTIONS sip:a@b SIP/3.0\r\n", false),
            ("OPTIONS sip:a@b /2.0\r\n", false),
            ("GET /RPC HTTP/1.1\r\n", true),
        ];
        for (first, ok) in table {
            let m = Msg::parse(format!("{first}{base}").into_bytes()).unwrap();
            assert_eq!(m.check_required().is_ok(), *ok, "{first:?}");
        }
        let m = Msg::parse(
            &b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h\r\nTo: <sip:c@d>\r\n\r\n"[..],
        )
        .unwrap();
        assert_eq!(m.check_required(), Err(Error::Missing(HeaderKind::From)));
    }
}
