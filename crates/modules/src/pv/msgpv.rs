//! PVs read from the message: request line and R-URI, reply status, From/To, headers, body,
//! whole-message attributes and digest credentials. Writes to `$ru`/`$rU`/`$rd`/`$rp` change the
//! R-URI the script sees (`MsgState::new_uri`); writes to `$fu`/`$fn`/`$tu`/`$tn`… are recorded in
//! the message's edit list, so the script keeps seeing the original header until
//! `msg_apply_changes()`, as in Kamailio.

use ferrosip_api::pv::{Idx, PvName};
use ferrosip_api::{Ctx, Error, PvExport, PvNameRule, Value};
use ferrosip_sipmsg::headers::auth::{parse_auth, unquote};
use ferrosip_sipmsg::{HeaderKind, Method, Msg, NameAddr, Span, Uri};

use super::uriops::{self, Part};
use super::{dyn_name, indexed, keyword, kw, named, pv, rt, s, writable};

/// Kamailio's `METHOD_*` bit values (`$rmid`).
pub fn method_id(m: Method) -> i64 {
    match m {
        Method::Invite => 1,
        Method::Cancel => 2,
        Method::Ack => 4,
        Method::Bye => 8,
        Method::Info => 16,
        Method::Register => 32,
        Method::Subscribe => 64,
        Method::Notify => 128,
        Method::Message => 256,
        Method::Options => 512,
        Method::Prack => 1024,
        Method::Update => 2048,
        Method::Refer => 4096,
        Method::Publish => 8192,
        Method::Kdmq => 16384,
        Method::Get => 32768,
        Method::Post => 65536,
        Method::Put => 131072,
        Method::Delete => 262144,
        Method::Other => 524288,
    }
}

/// The PVs of this file.
pub fn pvs() -> Vec<PvExport> {
    let mut v = vec![
        pv("rm", "request method (CSeq method in replies)", |c, _| {
            Ok(method(c, false))
        }),
        pv(
            "rmid",
            "request method as Kamailio's METHOD_* number",
            |c, _| Ok(method(c, true)),
        ),
        pv("rv", "SIP version of the first line", |c, _| {
            let sp = match c.msg.first_line() {
                ferrosip_sipmsg::FirstLine::Request(r) => r.version,
                ferrosip_sipmsg::FirstLine::Reply(r) => r.version,
            };
            Ok(s(c.msg.slice(sp)))
        }),
        pv("rs", "reply status code", |c, _| {
            Ok(c.msg
                .status()
                .map(|x| Value::Int(i64::from(x)))
                .unwrap_or_default())
        }),
        pv("rsi", "reply status code; 0 for requests", |c, _| {
            Ok(Value::Int(c.msg.status().map(i64::from).unwrap_or(0)))
        }),
        pv("rr", "reply reason phrase", |c, _| {
            Ok(match c.msg.status_line() {
                Some(sl) => s(c.msg.slice(sl.reason)),
                None => Value::Null,
            })
        }),
        pv("ou", "original R-URI", |c, _| Ok(ouri(c))),
        pv("ouri", "original R-URI", |c, _| Ok(ouri(c))),
        pv("oU", "user of the original R-URI", |c, _| {
            Ok(ouri_part(c, UriAttr::User))
        }),
        pv("od", "host of the original R-URI", |c, _| {
            Ok(ouri_part(c, UriAttr::Host))
        }),
        pv(
            "op",
            "port of the original R-URI (5060/5061 when absent)",
            |c, _| Ok(ouri_part(c, UriAttr::Port)),
        ),
        pv(
            "oP",
            "transport of the original R-URI (udp when absent)",
            |c, _| Ok(ouri_part(c, UriAttr::Proto)),
        ),
        pv("rz", "R-URI scheme", |c, _| {
            Ok(ruri_part(c, UriAttr::Scheme))
        }),
        pv("rP", "R-URI transport (udp when absent)", |c, _| {
            Ok(ruri_part(c, UriAttr::Proto))
        }),
        pv("rUl", "length of the R-URI user", |c, _| {
            Ok(ruri_part(c, UriAttr::UserLen))
        }),
        pv("fUl", "length of the From URI user", |c, _| {
            Ok(xto(c, true, XAttr::UserLen))
        }),
        pv("tUl", "length of the To URI user", |c, _| {
            Ok(xto(c, false, XAttr::UserLen))
        }),
        pv("rul", "length of the R-URI", |c, _| {
            Ok(if c.msg.is_request() {
                Value::Int(c.ruri().len() as i64)
            } else {
                Value::Null
            })
        }),
        pv("oUl", "length of the original R-URI user", |c, _| {
            Ok(ouri_part(c, UriAttr::UserLen))
        }),
        pv("ful", "length of the From URI", |c, _| {
            Ok(match c.msg.from() {
                Ok(na) => Value::Int(na.uri.len() as i64),
                Err(_) => Value::Null,
            })
        }),
        pv("tts", "1 when the To header has a tag, else 0", |c, _| {
            Ok(Value::Int(i64::from(
                c.msg
                    .to()
                    .map(|na| na.tag.is_some_and(|t| !t.is_empty()))
                    .unwrap_or(false),
            )))
        }),
        pv("ft", "From tag", |c, _| Ok(xto(c, true, XAttr::Tag))),
        pv("tt", "To tag", |c, _| Ok(xto(c, false, XAttr::Tag))),
        pv("ci", "Call-ID", |c, _| {
            Ok(first_hdr(c.msg, HeaderKind::CallId))
        }),
        pv("cs", "CSeq number", |c, _| {
            Ok(c.msg
                .cseq()
                .map(|x| s(c.msg.slice(x.number_span)))
                .unwrap_or_default())
        }),
        pv("csb", "CSeq header body", |c, _| {
            Ok(first_hdr(c.msg, HeaderKind::CSeq))
        }),
        pv("cl", "Content-Length value", |c, _| {
            Ok(match c.msg.content_length() {
                Ok(Some(cl)) => Value::Int(i64::from(cl.value)),
                _ => Value::Null,
            })
        }),
        pv("ct", "first Contact header body", |c, _| {
            Ok(first_hdr(c.msg, HeaderKind::Contact))
        }),
        pv("ctu", "URI of the first contact", |c, _| {
            Ok(match c.msg.contacts() {
                Ok(cs) if !cs.star => cs
                    .list
                    .first()
                    .map(|x| s(c.msg.slice(x.addr.uri)))
                    .unwrap_or_default(),
                _ => Value::Null,
            })
        }),
        pv("cts", "1 when Contact is `*`", |c, _| {
            Ok(Value::Int(i64::from(
                c.msg.contacts().map(|x| x.star).unwrap_or(false),
            )))
        }),
        pv("cT", "Content-Type header body", |c, _| {
            Ok(first_hdr(c.msg, HeaderKind::ContentType))
        }),
        pv("ua", "User-Agent header body", |c, _| {
            Ok(first_hdr(c.msg, HeaderKind::UserAgent))
        }),
        pv("re", "Remote-Party-ID URI", |c, _| Ok(rpid(c))),
        pv("rt", "Refer-To URI", |c, _| {
            Ok(match c.msg.refer_to() {
                Ok(Some(na)) => s(c.msg.slice(na.uri)),
                _ => Value::Null,
            })
        }),
        pv("di", "Diversion URI", |c, _| Ok(diversion(c, None))),
        pv("dir", "Diversion reason parameter", |c, _| {
            Ok(diversion(c, Some(b"reason")))
        }),
        pv("dip", "Diversion privacy parameter", |c, _| {
            Ok(diversion(c, Some(b"privacy")))
        }),
        pv("dic", "Diversion counter parameter", |c, _| {
            Ok(diversion(c, Some(b"counter")))
        }),
        pv("rb", "message body", |c, _| {
            Ok(c.msg.body().map(s).unwrap_or_default())
        }),
        pv("bs", "body size", |c, _| {
            Ok(Value::Int(
                c.msg.body().map(|b| b.len() as i64).unwrap_or(0),
            ))
        }),
        pv("mb", "whole message buffer", |c, _| Ok(s(whole_buf(c)))),
        pv("ml", "message length", |c, _| {
            Ok(Value::Int(whole_buf(c).len() as i64))
        }),
        pv("mt", "message type: 1 request, 2 reply", |c, _| {
            Ok(Value::Int(if c.msg.is_request() { 1 } else { 2 }))
        }),
        pv("mts", "message type: rq or rp", |c, _| {
            Ok(s(if c.msg.is_request() { "rq" } else { "rp" }))
        }),
    ];
    // R-URI and its parts, writable.
    for name in ["ru", "ruri"] {
        v.push(writable(
            pv(name, "request URI (as changed by the script)", |c, _| {
                Ok(ruri(c))
            }),
            |c, _, val| set_ruri(c, val),
        ));
    }
    for name in ["rU", "ruri.user"] {
        v.push(writable(
            pv(name, "user of the R-URI", |c, _| {
                Ok(ruri_part(c, UriAttr::User))
            }),
            |c, _, val| rewrite_ruri(c, Part::User, val),
        ));
    }
    for name in ["rd", "ruri.domain"] {
        v.push(writable(
            pv(name, "host of the R-URI", |c, _| {
                Ok(ruri_part(c, UriAttr::Host))
            }),
            |c, _, val| rewrite_ruri(c, Part::Host, val),
        ));
    }
    v.push(writable(
        pv("rp", "port of the R-URI (5060/5061 when absent)", |c, _| {
            Ok(ruri_part(c, UriAttr::Port))
        }),
        |c, _, val| rewrite_ruri(c, Part::Port, val),
    ));
    // Destination URI.
    for name in ["du", "duri"] {
        v.push(writable(
            pv(
                name,
                "destination URI (outbound proxy for this request)",
                |c, _| Ok(c.state.dst_uri.as_ref().map(s).unwrap_or_default()),
            ),
            // Kamailio's set_dst_uri stores any string; `$null` (or "") clears.
            |c, _, val| {
                c.state.dst_uri = match val {
                    Value::Null => None,
                    Value::Str(b) if b.is_empty() => None,
                    Value::Str(b) => Some(b),
                    Value::Int(_) => return Err(rt("a string is needed to set $du")),
                };
                Ok(())
            },
        ));
    }
    for (name, attr, doc) in [
        ("dd", UriAttr::Host, "host of $du"),
        ("dp", UriAttr::Port, "port of $du (5060/5061 when absent)"),
        ("dP", UriAttr::Proto, "transport of $du (udp when absent)"),
    ] {
        v.push(pv(name, doc, move |c, _| {
            Ok(match &c.state.dst_uri {
                Some(d) => uri_attr(d, attr),
                None => Value::Null,
            })
        }));
    }
    // From / To.
    for (names, from, attr, doc) in [
        (&["fu", "from"][..], true, XAttr::Uri, "From URI"),
        (&["fU", "from.user"], true, XAttr::User, "From URI user"),
        (&["fd", "from.domain"], true, XAttr::Host, "From URI host"),
        (&["fn"], true, XAttr::Display, "From display name"),
        (&["tu", "to"], false, XAttr::Uri, "To URI"),
        (&["tU", "to.user"], false, XAttr::User, "To URI user"),
        (&["td", "to.domain"], false, XAttr::Host, "To URI host"),
        (&["tn"], false, XAttr::Display, "To display name"),
    ] {
        for name in names {
            v.push(writable(
                pv(name, doc, move |c, _| Ok(xto(c, from, attr))),
                move |c, _, val| set_xto(c, from, attr, val),
            ));
        }
    }
    // P-Asserted-Identity / P-Preferred-Identity, with an index.
    v.push(indexed(pv(
        "ai",
        "P-Asserted-Identity URI ([n] picks the n-th identity)",
        |c, n| Ok(identity(c, n, true, XAttr::Uri)),
    )));
    for (name, attr, doc) in [
        ("pu", XAttr::Uri, "P-Preferred-Identity URI"),
        ("pU", XAttr::User, "P-Preferred-Identity URI user"),
        ("pd", XAttr::Host, "P-Preferred-Identity URI host"),
        ("pn", XAttr::Display, "P-Preferred-Identity display name"),
    ] {
        v.push(indexed(pv(name, doc, move |c, n| {
            Ok(identity(c, n, false, attr))
        })));
    }
    // Headers by name.
    v.push(indexed(named(
        pv(
            "hdr",
            "header body by name; [n], [-1], [*] (joined with `,`)",
            |c, n| {
                let name = n.name_bytes(c);
                let idx = n.idx(c);
                Ok(hdr_value(c.msg, &name, idx))
            },
        ),
        PvNameRule::Required,
        dyn_name,
    )));
    v.push(named(
        pv("hdrc", "number of headers with that name", |c, n| {
            let name = n.name_bytes(c);
            Ok(Value::Int(hdr_bodies(c.msg, &name).len() as i64))
        }),
        PvNameRule::Required,
        dyn_name,
    ));
    v.push(indexed(named(
        pv("hfl", "header field list: list headers (Via, Route, Record-Route, Contact, PAI, PPI) split per element", |c, n| {
            let name = n.name_bytes(c);
            let idx = n.idx(c);
            if idx == Idx::All {
                // `[*]` joins whole header bodies, as `$hdr` does (Kamailio uses the same helper).
                return Ok(hdr_value(c.msg, &name, idx));
            }
            let vals = hfl_values(c.msg, &name);
            Ok(pick(&vals, idx, b","))
        }),
        PvNameRule::Required,
        dyn_name,
    )));
    v.push(named(
        pv(
            "hflc",
            "number of elements of a header field list",
            |c, n| {
                let name = n.name_bytes(c);
                Ok(Value::Int(hfl_values(c.msg, &name).len() as i64))
            },
        ),
        PvNameRule::Required,
        dyn_name,
    ));
    const VIA_ATTRS: &[&str] = &[
        "host", "port", "proto", "protoid", "branch", "rport", "received", "i", "params",
    ];
    for (name, which, doc) in [
        ("via0", 0, "attribute of the first Via"),
        ("via1", 1, "attribute of the second Via"),
        ("viaZ", -1, "attribute of the last Via"),
    ] {
        v.push(named(
            pv(name, doc, move |c, n| Ok(via_attr(c, which, kw(n)))),
            PvNameRule::Required,
            keyword(VIA_ATTRS),
        ));
    }
    // `$rpl(key)`: where the reply being processed goes (its second Via, as Kamailio's
    // `pv_get_rpl_attrs`) and how many Via / Record-Route entries it carries; `$null` on a request.
    v.push(named(
        pv(
            "rpl",
            "reply attributes: duri dhost dport dproto dprotoid (second Via), cntvia, cntrr",
            |c, n| Ok(rpl_attr(c, kw(n))),
        ),
        PvNameRule::Required,
        keyword(&[
            "duri", "dhost", "dport", "dproto", "dprotoid", "cntvia", "cntrr",
        ]),
    ));
    v.push(named(
        pv(
            "expires",
            "min or max expires over the Expires header and Contact expires params",
            |c, n| Ok(expires(c, kw(n) == 1)),
        ),
        PvNameRule::Required,
        keyword(&["min", "max"]),
    ));
    v.push(named(
        pv(
            "msg",
            "message attributes: len buf body hdrs fline body_len hdrc fpart hdrs_len lpart",
            |c, n| Ok(msg_attr(c, kw(n))),
        ),
        PvNameRule::Required,
        keyword(&[
            "len", "buf", "body", "hdrs", "fline", "body_len", "hdrc", "fpart", "hdrs_len", "lpart",
        ]),
    ));
    // Digest credentials.
    for (name, attr, doc) in [
        ("aU", Auth::Whole, "whole digest username"),
        ("au", Auth::User, "user part of the digest username"),
        ("ad", Auth::Domain, "domain part of the digest username"),
        ("ar", Auth::Realm, "digest realm"),
        ("adu", Auth::Uri, "digest uri"),
        ("aa", Auth::Alg, "digest algorithm"),
        ("adn", Auth::Nonce, "digest nonce"),
        ("adc", Auth::Cnonce, "digest cnonce"),
        ("adr", Auth::Response, "digest response"),
        ("ado", Auth::Opaque, "digest opaque"),
    ] {
        v.push(pv(name, doc, move |c, _| Ok(auth_attr(c, attr))));
    }
    v.push(pv(
        "Au",
        "user@realm of the credentials auth checked, else user@host of the From URI",
        |c, _| Ok(acc_user(c, true)),
    ));
    v.push(pv(
        "AU",
        "user of the credentials auth checked, else the From URI user",
        |c, _| Ok(acc_user(c, false)),
    ));
    v
}

// ---- request line and R-URI ----

fn method(c: &Ctx<'_>, id: bool) -> Value {
    if let Some(rl) = c.msg.request_line() {
        return if id {
            Value::Int(method_id(rl.method))
        } else {
            s(c.msg.slice(rl.method_span))
        };
    }
    match c.msg.cseq() {
        Ok(cs) if id => Value::Int(method_id(cs.method)),
        Ok(cs) => s(c.msg.slice(cs.method_span)),
        Err(_) => Value::Null,
    }
}

fn ruri(c: &Ctx<'_>) -> Value {
    if !c.msg.is_request() {
        return Value::Null;
    }
    s(c.ruri())
}

fn ouri(c: &Ctx<'_>) -> Value {
    if !c.msg.is_request() {
        return Value::Null;
    }
    s(c.original_ruri())
}

/// URI attributes shared by `$rU`, `$oU`, `$nh(U)` …
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UriAttr {
    /// User (`Null` when empty).
    User,
    /// Host.
    Host,
    /// Port or default.
    Port,
    /// Transport or `udp`.
    Proto,
    /// Scheme.
    Scheme,
    /// User length (0 when none).
    UserLen,
}

/// One attribute of a URI given as bytes; `Null` when it does not parse.
pub fn uri_attr(b: &[u8], a: UriAttr) -> Value {
    let Some(u) = uriops::parse(b) else {
        return Value::Null;
    };
    attr_of(b, &u, a)
}

fn attr_of(b: &[u8], u: &Uri, a: UriAttr) -> Value {
    match a {
        UriAttr::User => uriops::user(b, u),
        UriAttr::Host => uriops::host(b, u),
        UriAttr::Port => uriops::port_or_default(b, u),
        UriAttr::Proto => uriops::transport_or_udp(b, u),
        UriAttr::Scheme => s(uriops::scheme_name(u)),
        UriAttr::UserLen => Value::Int(u.user.map(|x| x.len() as i64).unwrap_or(0)),
    }
}

fn ruri_part(c: &Ctx<'_>, a: UriAttr) -> Value {
    if !c.msg.is_request() {
        return Value::Null;
    }
    match &c.state.new_uri {
        Some(u) => uri_attr(u, a),
        None => ouri_part(c, a),
    }
}

/// Attribute of the received R-URI, from the message's cached parse.
fn ouri_part(c: &Ctx<'_>, a: UriAttr) -> Value {
    match c.msg.ruri() {
        Ok(Some(u)) => attr_of(c.msg.buf(), u, a),
        _ => Value::Null,
    }
}

/// `$ru = …`: any string is taken as the new R-URI (Kamailio's SET_URI_T stores it unchecked;
/// its parts then read `$null` if it does not parse); `$null` and integers are refused.
fn set_ruri(c: &mut Ctx<'_>, v: Value) -> Result<(), Error> {
    match v {
        Value::Str(b) => {
            c.state.new_uri = Some(b);
            Ok(())
        }
        Value::Null => Err(rt("cannot set the R-URI to $null")),
        Value::Int(_) => Err(rt("a string is needed to set the R-URI")),
    }
}

/// `$rU`/`$rd`/`$rp = …` with Kamailio's rules: the user needs a string (`$null` or `""`
/// removes it), the host a string (`$null` refused), the port a string or an integer (`$null`
/// removes it).
fn rewrite_ruri(c: &mut Ctx<'_>, part: Part, v: Value) -> Result<(), Error> {
    if !c.msg.is_request() {
        return Err(rt("no R-URI in a reply"));
    }
    let new = match (part, v) {
        (Part::Host, Value::Null) => return Err(rt("cannot set the R-URI host to $null")),
        (_, Value::Null) => None,
        (Part::Port, Value::Int(i)) => Some(i.to_string().into_bytes()),
        (_, Value::Int(_)) => return Err(rt("a string is needed to rewrite the R-URI")),
        (_, Value::Str(b)) => Some(b),
    };
    let out = uriops::rewrite(&c.ruri(), part, new.as_deref())?;
    c.state.new_uri = Some(out);
    Ok(())
}

// ---- From / To ----

/// Attributes of a name-addr header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XAttr {
    /// The URI.
    Uri,
    /// URI user.
    User,
    /// URI host.
    Host,
    /// Display name as written.
    Display,
    /// `tag` parameter.
    Tag,
    /// URI user length.
    UserLen,
}

/// An attribute of a parsed name-addr whose spans index `b`.
pub fn nameaddr_attr(b: &[u8], na: &NameAddr, a: XAttr) -> Value {
    match a {
        XAttr::Uri => s(na.uri.of(b)),
        XAttr::Display => match na.display {
            Some(d) if !d.is_empty() => s(d.of(b)),
            _ => Value::Null,
        },
        XAttr::Tag => match na.tag {
            Some(t) if !t.is_empty() => s(t.of(b)),
            _ => Value::Null,
        },
        XAttr::User | XAttr::Host | XAttr::UserLen => {
            let ub = na.uri.of(b);
            let attr = match a {
                XAttr::User => UriAttr::User,
                XAttr::Host => UriAttr::Host,
                _ => UriAttr::UserLen,
            };
            uri_attr(ub, attr)
        }
    }
}

fn xto(c: &Ctx<'_>, from: bool, a: XAttr) -> Value {
    let na = if from { c.msg.from() } else { c.msg.to() };
    match na {
        Ok(na) => nameaddr_attr(c.msg.buf(), na, a),
        Err(_) => Value::Null,
    }
}

/// `$fu = …`, `$fn = …` …: the change goes into the edit list (the script keeps reading the
/// original header, as Kamailio's lumps do). Same rules as Kamailio's `pv_set_xto_attr`: `$null`
/// deletes the user or the display name and is ignored for the URI and the host; values are
/// written as given (no quoting, no URI check); a display name set on a header whose URI is not
/// in `<>` encloses the URI.
fn set_xto(c: &mut Ctx<'_>, from: bool, a: XAttr, v: Value) -> Result<(), Error> {
    let na = *(if from { c.msg.from() } else { c.msg.to() })
        .map_err(|e| rt(format!("cannot parse the header: {e}")))?;
    let buf = c.msg.buf();
    let edit_err = |e: ferrosip_sipmsg::edit::EditError| rt(format!("cannot edit the header: {e}"));
    let start = |sp: Span| sp.start as usize;
    match a {
        XAttr::Uri => {
            let Some(new) = nullable(&v) else {
                return Ok(());
            };
            let mut text = new.clone();
            if !na.bracketed && new.contains(&b';') {
                text = [&b"<"[..], &new, b">"].concat();
            }
            c.edits
                .replace(start(na.uri), na.uri.len(), &text)
                .map_err(edit_err)?;
        }
        XAttr::User | XAttr::Host => {
            let u =
                Uri::parse(buf, na.uri).map_err(|e| rt(format!("cannot parse the URI: {e}")))?;
            match (a, nullable(&v), u.user.filter(|x| !x.is_empty())) {
                (XAttr::User, None, None) => {}
                (XAttr::User, None, Some(us)) => {
                    let at = usize::from(buf.get(us.end as usize) == Some(&b'@'));
                    c.edits.delete(start(us), us.len() + at).map_err(edit_err)?;
                }
                (XAttr::User, Some(n), Some(us)) => {
                    c.edits.replace(start(us), us.len(), &n).map_err(edit_err)?;
                }
                (XAttr::User, Some(n), None) => {
                    let mut t = n;
                    t.push(b'@');
                    c.edits.insert_at(start(u.host), &t).map_err(edit_err)?;
                }
                (_, None, _) => {}
                (_, Some(n), _) => {
                    c.edits
                        .replace(start(u.host), u.host.len(), &n)
                        .map_err(edit_err)?;
                }
            }
        }
        XAttr::Display => match (na.display, nullable(&v)) {
            (None, None) => {}
            (Some(d), None) => {
                let sp = usize::from(buf.get(d.end as usize) == Some(&b' '));
                c.edits.delete(start(d), d.len() + sp).map_err(edit_err)?;
            }
            (Some(d), Some(t)) => {
                c.edits.replace(start(d), d.len(), &t).map_err(edit_err)?;
            }
            (None, Some(mut t)) => {
                t.push(b' ');
                c.edits.insert_at(start(na.span), &t).map_err(edit_err)?;
                if !na.bracketed {
                    let enclosed = [&b"<"[..], na.uri.of(buf), b">"].concat();
                    c.edits
                        .replace(start(na.uri), na.uri.len(), &enclosed)
                        .map_err(edit_err)?;
                }
            }
        },
        XAttr::Tag | XAttr::UserLen => return Err(rt("read-only attribute")),
    }
    Ok(())
}

fn nullable(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::Null => None,
        v => Some(v.to_bytes().into_owned()).filter(|b| !b.is_empty()),
    }
}

fn identity(c: &mut Ctx<'_>, n: &PvName, pai: bool, a: XAttr) -> Value {
    let idx = match n.idx(c) {
        Idx::None => 0,
        Idx::At(i) if i >= 0 => i as usize,
        // Kamailio refuses negative and `[*]` indexes here.
        _ => return Value::Null,
    };
    let list = if pai {
        c.msg.p_asserted_identity()
    } else {
        c.msg.p_preferred_identity()
    };
    match list {
        Ok(l) => l
            .get(idx)
            .map(|na| nameaddr_attr(c.msg.buf(), na, a))
            .unwrap_or_default(),
        Err(_) => Value::Null,
    }
}

fn rpid(c: &Ctx<'_>) -> Value {
    let Ok(Some(h)) = c.msg.header(HeaderKind::RemotePartyId) else {
        return Value::Null;
    };
    match ferrosip_sipmsg::headers::nameaddr::parse_single(
        c.msg.buf(),
        h.value,
        HeaderKind::RemotePartyId,
    ) {
        Ok(na) => s(c.msg.slice(na.uri)),
        Err(_) => Value::Null,
    }
}

fn diversion(c: &Ctx<'_>, param: Option<&[u8]>) -> Value {
    let Ok(list) = c.msg.diversion() else {
        return Value::Null;
    };
    let Some(na) = list.first() else {
        return Value::Null;
    };
    let buf = c.msg.buf();
    match param {
        None => s(na.uri.of(buf)),
        Some(p) => match na.params.get(buf, p).and_then(|x| x.value) {
            Some(v) => s(v.of(buf)),
            None => Value::Null,
        },
    }
}

// ---- headers ----

fn first_hdr(m: &Msg, kind: HeaderKind) -> Value {
    match m.header(kind) {
        Ok(Some(h)) => s(m.slice(h.value)),
        _ => Value::Null,
    }
}

/// Bodies of the headers named `name` (`*` = every header), in order.
pub fn hdr_bodies<'m>(m: &'m Msg, name: &[u8]) -> Vec<&'m [u8]> {
    let Ok(all) = m.headers() else {
        return Vec::new();
    };
    if name == b"*" {
        return all.iter().map(|h| m.slice(h.value)).collect();
    }
    match m.headers_named(name) {
        Ok(it) => it.map(|h| m.slice(h.value)).collect(),
        Err(_) => Vec::new(),
    }
}

fn hdr_value(m: &Msg, name: &[u8], idx: Idx) -> Value {
    let vals = hdr_bodies(m, name);
    pick(&vals, idx, b",")
}

/// Picks by index: none = first, negative from the end, `[*]` = all joined with `sep`.
pub fn pick(vals: &[&[u8]], idx: Idx, sep: &[u8]) -> Value {
    match idx {
        Idx::None => vals.first().map(s).unwrap_or_default(),
        Idx::At(i) => {
            let p = if i < 0 { vals.len() as i64 + i } else { i };
            usize::try_from(p)
                .ok()
                .and_then(|p| vals.get(p))
                .map(s)
                .unwrap_or_default()
        }
        Idx::All => {
            if vals.is_empty() {
                return Value::Null;
            }
            s(vals.join(sep))
        }
    }
}

fn hfl_values<'m>(m: &'m Msg, name: &[u8]) -> Vec<&'m [u8]> {
    let kind = HeaderKind::from_name(name);
    let buf = m.buf();
    let spans: Option<Vec<Span>> = match kind {
        HeaderKind::Via => m.vias().ok().map(|v| v.iter().map(|x| x.span).collect()),
        HeaderKind::Route => m
            .routes()
            .ok()
            .map(|v| v.iter().map(|x| x.addr.span).collect()),
        HeaderKind::RecordRoute => m
            .record_routes()
            .ok()
            .map(|v| v.iter().map(|x| x.addr.span).collect()),
        HeaderKind::Contact => m
            .contacts()
            .ok()
            .map(|v| v.list.iter().map(|x| x.addr.span).collect()),
        HeaderKind::PAssertedIdentity => m
            .p_asserted_identity()
            .ok()
            .map(|v| v.iter().map(|x| x.span).collect()),
        HeaderKind::PPreferredIdentity => m
            .p_preferred_identity()
            .ok()
            .map(|v| v.iter().map(|x| x.span).collect()),
        _ => return hdr_bodies(m, name),
    };
    spans
        .unwrap_or_default()
        .into_iter()
        .map(|sp| sp.of(buf))
        .collect()
}

fn via_attr(c: &Ctx<'_>, which: i64, attr: i64) -> Value {
    let Ok(vias) = c.msg.vias() else {
        return Value::Null;
    };
    let via = match which {
        -1 => vias.last(),
        i => vias.get(i as usize),
    };
    let Some(v) = via else {
        return Value::Null;
    };
    let buf = c.msg.buf();
    let pval = |p: Option<ferrosip_sipmsg::Param>| match p.and_then(|p| p.value) {
        Some(x) if !x.is_empty() => s(x.of(buf)),
        _ => Value::Null,
    };
    match attr {
        0 => uriops_host(buf, v.host),
        1 => Value::Int(i64::from(v.port.unwrap_or(5060))),
        2 => s(v.transport_span.of(buf)),
        3 => Value::Int(match v.transport {
            ferrosip_sipmsg::Transport::Udp => 1,
            ferrosip_sipmsg::Transport::Tcp => 2,
            ferrosip_sipmsg::Transport::Tls => 3,
            ferrosip_sipmsg::Transport::Sctp => 4,
            ferrosip_sipmsg::Transport::Ws => 5,
            ferrosip_sipmsg::Transport::Wss => 6,
            _ => 0,
        }),
        4 => pval(v.branch),
        5 => pval(v.rport),
        6 => pval(v.received),
        7 => pval(v.i),
        8 => {
            let p = v.params.span;
            // Kamailio's via params start after the first `;`.
            let b = p.of(buf);
            match b.strip_prefix(b";") {
                Some(x) if !x.is_empty() => s(x),
                _ if !b.is_empty() => s(b),
                _ => Value::Null,
            }
        }
        _ => Value::Null,
    }
}

/// Kamailio's protocol number of a Via transport (`enum sip_protos`).
fn proto_id(t: ferrosip_sipmsg::Transport) -> i64 {
    use ferrosip_sipmsg::Transport as T;
    match t {
        T::Udp => 1,
        T::Tcp => 2,
        T::Tls => 3,
        T::Sctp => 4,
        T::Ws => 5,
        T::Wss => 6,
        T::Other => 7,
    }
}

/// Kamailio's `get_valid_proto_string` (lowercase): in a URI (`for_uri`) WSS is written `ws`;
/// an unknown transport is `udp`.
fn proto_name(t: ferrosip_sipmsg::Transport, for_uri: bool) -> &'static str {
    use ferrosip_sipmsg::Transport as T;
    match t {
        T::Udp | T::Other => "udp",
        T::Tcp => "tcp",
        T::Tls => "tls",
        T::Sctp => "sctp",
        T::Ws => "ws",
        T::Wss if for_uri => "ws",
        T::Wss => "wss",
    }
}

/// `$rpl(key)` (keys in the order of the keyword list).
fn rpl_attr(c: &Ctx<'_>, key: i64) -> Value {
    let m = &c.msg;
    if m.is_request() {
        return Value::Null;
    }
    let buf = m.buf();
    let Ok(vias) = m.vias() else {
        return Value::Null;
    };
    match key {
        5 => return Value::Int(vias.len() as i64),
        6 => {
            return match m.record_routes() {
                Ok(r) => Value::Int(r.len() as i64),
                Err(_) => Value::Null,
            }
        }
        _ => {}
    }
    let Some(v) = vias.get(1) else {
        return Value::Null;
    };
    // rport with a value wins for the port, received for the host.
    let mut port: u32 = 0;
    if let Some(x) = v.rport.and_then(|p| p.value).filter(|x| !x.is_empty()) {
        match std::str::from_utf8(x.of(buf))
            .ok()
            .and_then(|t| t.parse::<u32>().ok())
        {
            Some(p) => port = p,
            None => return Value::Null,
        }
    }
    let host = match v.received.and_then(|p| p.value) {
        Some(x) => x.of(buf),
        None => v.host.of(buf),
    };
    if port == 0 {
        port = u32::from(v.port.unwrap_or(5060));
    }
    match key {
        0 => {
            let mut u = b"sip:".to_vec();
            u.extend_from_slice(host);
            u.extend_from_slice(
                format!(":{port};transport={}", proto_name(v.transport, true)).as_bytes(),
            );
            s(u)
        }
        1 => s(host),
        2 => Value::Int(i64::from(port)),
        3 => s(proto_name(v.transport, false)),
        4 => Value::Int(proto_id(v.transport)),
        _ => Value::Null,
    }
}

fn uriops_host(buf: &[u8], sp: Span) -> Value {
    if sp.is_empty() {
        Value::Null
    } else {
        s(sp.of(buf))
    }
}

fn expires(c: &Ctx<'_>, max: bool) -> Value {
    let hdr = c.msg.expires().ok().flatten();
    let mut found: Vec<u32> = Vec::new();
    if let Ok(cs) = c.msg.contacts() {
        for ct in &cs.list {
            match (ct.expires, hdr) {
                (Some(e), _) => found.push(e),
                (None, Some(h)) => found.push(h),
                (None, None) => {}
            }
        }
    }
    if found.is_empty() {
        if let Some(h) = hdr {
            found.push(h);
        }
    }
    let v = if max {
        found.iter().max()
    } else {
        found.iter().min()
    };
    v.map(|x| Value::Int(i64::from(*x))).unwrap_or_default()
}

fn trim(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map(|e| e + 1)
        .unwrap_or(start);
    b.get(start..end).unwrap_or_default()
}

fn msg_attr(c: &Ctx<'_>, attr: i64) -> Value {
    let m = &c.msg;
    let buf = m.buf();
    let fl_end = m.first_line_span().end as usize;
    let body_start = m.body_span().map(|b| b.start as usize).unwrap_or(buf.len());
    // Kamailio's `unparsed` points at the empty line that ends the headers.
    let eoh = m.headers_end().unwrap_or(buf.len());
    match attr {
        0 => Value::Int(buf.len() as i64),
        1 => s(buf),
        2 => m.body().map(s).unwrap_or_default(),
        3 => s(trim(buf.get(fl_end..eoh).unwrap_or_default())),
        4 => s(trim(buf.get(..fl_end).unwrap_or_default())),
        5 => Value::Int(buf.len().saturating_sub(body_start) as i64),
        6 => Value::Int(m.headers().map(|h| h.len() as i64).unwrap_or(0)),
        7 => s(trim(buf.get(..eoh).unwrap_or_default())),
        8 => Value::Int(trim(buf.get(fl_end..eoh).unwrap_or_default()).len() as i64),
        9 => match m.headers().ok().and_then(|h| h.first()) {
            Some(h) => s(buf.get(h.span.start as usize..).unwrap_or_default()),
            None => Value::Null,
        },
        _ => Value::Null,
    }
}

// ---- credentials ----

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Whole,
    User,
    Domain,
    Realm,
    Uri,
    Alg,
    Nonce,
    Cnonce,
    Response,
    Opaque,
}

fn auth_attr(c: &Ctx<'_>, a: Auth) -> Value {
    let m = &c.msg;
    if matches!(m.method(), Some(Method::Ack) | Some(Method::Cancel)) {
        return Value::Null;
    }
    // Proxy-Authorization wins over Authorization, as in Kamailio.
    let cred = match m.proxy_authorizations() {
        Ok(l) if !l.is_empty() => l.first(),
        _ => match m.authorizations() {
            Ok(l) => l.first(),
            Err(_) => None,
        },
    };
    let Some(cred) = cred else {
        return Value::Null;
    };
    let buf = m.buf();
    let field = |sp: Option<Span>| -> Vec<u8> {
        sp.map(|x| unquote(buf, x).of(buf).to_vec())
            .unwrap_or_default()
    };
    let p = &cred.params;
    let whole = field(p.username);
    let (user, domain) = match whole.iter().position(|b| *b == b'@') {
        Some(i) => (whole[..i].to_vec(), whole[i + 1..].to_vec()), // i < len
        None => (whole.clone(), Vec::new()),
    };
    match a {
        Auth::Whole => s(whole),
        Auth::User => s(user),
        Auth::Domain => s(domain),
        Auth::Realm => s(field(p.realm)),
        Auth::Uri => match p.uri {
            Some(_) => s(field(p.uri)),
            None => Value::Null,
        },
        Auth::Alg => s(field(p.algorithm)),
        Auth::Nonce => s(field(p.nonce)),
        Auth::Cnonce => s(field(p.cnonce)),
        Auth::Response => s(field(p.response)),
        Auth::Opaque => s(field(p.opaque)),
    }
}

/// The mark the auth module leaves on the credentials header its last `*_authenticate`/
/// `auth_check` found (Kamailio's `mark_authorized_cred`, set before the password is checked):
/// an XAVP under this NUL-prefixed name (auth/mod.rs `MARK`) with the header's byte span in
/// fields `s` and `e`. `pv_acc_user_follows_the_auth_mark` (tests/pv_functions.rs) runs both
/// modules, so a change of either side fails there.
const AUTH_MARK: &[u8] = b"\0auth_cred";

/// User and realm of the marked credentials (Kamailio's `cred_user`/`cred_realm`: the realm
/// is the username's domain when it has one, else the `realm` parameter); `None` when auth
/// marked nothing or the username's user part is empty.
fn authorized(c: &Ctx<'_>) -> Option<(Vec<u8>, Vec<u8>)> {
    let rec = c.state.xavps.get(AUTH_MARK)?.first()?;
    let field = |n: &[u8]| rec.iter().find(|(k, _)| k == n).map(|(_, v)| v.to_int());
    let start = u32::try_from(field(b"s")?).ok()?;
    let m = &c.msg;
    let buf = m.buf();
    for kind in [HeaderKind::ProxyAuthorization, HeaderKind::Authorization] {
        let Ok(hdrs) = m.headers_of(kind) else {
            continue;
        };
        for h in hdrs {
            if h.span.start != start {
                continue;
            }
            let a = parse_auth(buf, h.value, kind).ok()?;
            let f = |sp: Option<Span>| -> Vec<u8> {
                sp.map(|x| unquote(buf, x).of(buf).to_vec())
                    .unwrap_or_default()
            };
            let whole = f(a.params.username);
            let (user, domain) = match whole.iter().position(|b| *b == b'@') {
                Some(i) => (
                    whole.get(..i).unwrap_or_default().to_vec(),
                    whole.get(i + 1..).unwrap_or_default().to_vec(),
                ),
                None => (whole.clone(), Vec::new()),
            };
            if user.is_empty() {
                return None;
            }
            let realm = if domain.is_empty() {
                f(a.params.realm)
            } else {
                domain
            };
            return Some((user, realm));
        }
    }
    None
}

/// `$Au` (`with_realm`) and `$AU`, as Kamailio's `pv_get_acc_username`/`pv_get_acc_user`: from
/// the credentials auth marked, else from the From URI (`user@host`, or the user).
fn acc_user(c: &Ctx<'_>, with_realm: bool) -> Value {
    if let Some((user, realm)) = authorized(c) {
        if !with_realm || realm.is_empty() {
            return s(user);
        }
        let mut v = user;
        v.push(b'@');
        v.extend_from_slice(&realm);
        return s(v);
    }
    let Ok(from) = c.msg.from() else {
        return Value::Null;
    };
    let buf = c.msg.buf();
    let Ok(uri) = Uri::parse(buf, from.uri) else {
        return Value::Null;
    };
    let user = uri.user.map(|u| u.of(buf).to_vec()).unwrap_or_default();
    if !with_realm {
        return s(user);
    }
    let mut v = user;
    v.push(b'@');
    v.extend_from_slice(uri.host.of(buf));
    s(v)
}

/// The message's bytes; in event_route[core:receive-parse-error] the broken bytes as received
/// (Kamailio's `msg->buf` of the message that failed to parse).
fn whole_buf<'c>(c: &'c Ctx<'_>) -> &'c [u8] {
    match &c.state.received {
        Some(r) if r.event == ferrosip_api::RcvEvent::ParseError => &r.buf,
        _ => c.msg.buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picking_and_method_ids() {
        let vals: Vec<&[u8]> = vec![b"a", b"b", b"c"];
        let cases: &[(Idx, Value)] = &[
            (Idx::None, s("a")),
            (Idx::At(1), s("b")),
            (Idx::At(-1), s("c")),
            (Idx::At(-4), Value::Null),
            (Idx::At(3), Value::Null),
            (Idx::All, s("a,b,c")),
        ];
        for (idx, want) in cases {
            assert_eq!(pick(&vals, *idx, b","), *want, "{idx:?}");
        }
        assert_eq!(pick(&[], Idx::All, b","), Value::Null);
        let ids = [
            (Method::Invite, 1),
            (Method::Register, 32),
            (Method::Kdmq, 16384),
            (Method::Other, 524288),
        ];
        for (m, id) in ids {
            assert_eq!(method_id(m), id, "{m:?}");
        }
        assert_eq!(trim(b" \r\n a b \r\n"), b"a b");
    }
}
