//! Kamailio's per-message AVP lists over the context's flat AVP table ([`crate::ctx::Avps`]).
//!
//! Kamailio keeps one list per track (from, to) and class (URI, user, domain) plus a global list.
//! ferrosip keeps one flat table and names each list's entry by a key: the from/URI list — where
//! an AVP without class is added, and what modules and modparam AVP specs read — under the bare
//! name, the others under a NUL-prefixed class prefix (`\0t.x`, `\0fu.x`, `\0tu.x`, `\0fd.x`,
//! `\0td.x`, `\0g.x`), integer ids under `\0i:N`. A name built at run time can hold no NUL, so it
//! never meets another list. The `$avp(…)` pseudo-variable ([`crate::store`]) and the core
//! attributes (`$x`, `%x`, `$t.x`, the script crate) both go through [`AvpIdent`], so they see the
//! same values.

use std::borrow::Cow;
use std::sync::Arc;

use crate::ctx::{AvpValue, Avps, Ctx};
use crate::pv::{PvInner, PvName};

/// The track of a list: the From or the To side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Track {
    /// `f`
    From,
    /// `t`
    To,
}

/// The class of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// `r` (the default for writes)
    Uri,
    /// `u`
    User,
    /// `d`
    Domain,
    /// `g` (shared by both tracks)
    Global,
}

/// The table key of one list's entry for `name`.
pub fn list_key(track: Track, class: Class, name: &[u8]) -> Vec<u8> {
    let prefix: &[u8] = match (track, class) {
        (Track::From, Class::Uri) => return name.to_vec(),
        (Track::To, Class::Uri) => b"t",
        (Track::From, Class::User) => b"fu",
        (Track::To, Class::User) => b"tu",
        (Track::From, Class::Domain) => b"fd",
        (Track::To, Class::Domain) => b"td",
        (_, Class::Global) => b"g",
    };
    let mut k = Vec::with_capacity(name.len() + 4);
    k.push(0);
    k.extend_from_slice(prefix);
    k.push(b'.');
    k.extend_from_slice(name);
    k
}

/// An AVP identity: the lists a lookup searches, in Kamailio's order (`search_first_avp`: URI,
/// user, domain, global of the track when no class is given). The first list is where a write
/// adds (`add_avp`: the URI list when no class is given).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvpIdent {
    keys: Vec<Vec<u8>>,
}

impl AvpIdent {
    /// The lists of `name` in `track`: one class, or all four in search order.
    pub fn new(track: Track, class: Option<Class>, name: &[u8]) -> AvpIdent {
        let keys = match class {
            Some(c) => vec![list_key(track, c, name)],
            None => [Class::Uri, Class::User, Class::Domain, Class::Global]
                .iter()
                .map(|c| list_key(track, *c, name))
                .collect(),
        };
        AvpIdent { keys }
    }

    /// A string name without class (from track, every class): `$avp(x)`, `$avp(s:x)` and names
    /// built at run time.
    pub fn plain(name: &[u8]) -> AvpIdent {
        AvpIdent::new(Track::From, None, name)
    }

    /// The integer id `n` (`$avp(i:5)`). Only the from/URI list can hold one (a class prefix
    /// makes the rest a string name), so it is the only list searched.
    pub fn id(n: u32) -> AvpIdent {
        AvpIdent {
            keys: vec![format!("\0i:{n}").into_bytes()],
        }
    }

    /// Parses a literal `$avp` name as Kamailio's `parse_avp_ident`: `s:x` and `x` (string name,
    /// no class), `i:5` (integer id), `f.x`/`t.x` (a track, every class), `fr.x`/`tr.x`,
    /// `fu.x`/`tu.x`, `fd.x`/`td.x` (one list). Refused: `g.x` (global AVPs outlive the message:
    /// not supported), unknown classes or types, an empty name, indexes and regular expressions
    /// written inside the name.
    pub fn parse(inner: &str) -> Result<AvpIdent, String> {
        let bad = |why: &str| Err(format!("invalid $avp name `{inner}`: {why}"));
        let b = inner.as_bytes();
        if b.len() >= 2 && b[1] == b':' {
            let rest = &inner[2..];
            if rest.is_empty() {
                return bad("empty name");
            }
            return match b[0] {
                b's' | b'S' => Ok(AvpIdent::plain(rest.as_bytes())),
                b'i' | b'I' => match rest.parse::<u32>() {
                    Ok(n) => Ok(AvpIdent::id(n)),
                    Err(_) => bad("not a number after i:"),
                },
                _ => bad("unsupported type (only s: and i:)"),
            };
        }
        let Some((class, name)) = inner.split_once('.') else {
            if inner.is_empty() {
                return bad("empty name");
            }
            return Ok(AvpIdent::plain(b));
        };
        if name.is_empty() {
            return bad("no name after the class prefix");
        }
        if name.contains(['.', '[', ']', '/']) {
            return bad("indexes and regular expressions in the name are not supported");
        }
        let (track, class) = match class {
            "f" => (Track::From, None),
            "t" => (Track::To, None),
            "fr" => (Track::From, Some(Class::Uri)),
            "tr" => (Track::To, Some(Class::Uri)),
            "fu" => (Track::From, Some(Class::User)),
            "tu" => (Track::To, Some(Class::User)),
            "fd" => (Track::From, Some(Class::Domain)),
            "td" => (Track::To, Some(Class::Domain)),
            "g" => return bad("global AVPs (g.) are not supported"),
            _ => return bad("unknown class prefix"),
        };
        Ok(AvpIdent::new(track, class, name.as_bytes()))
    }

    /// The lists searched, in order.
    pub fn keys(&self) -> &[Vec<u8>] {
        &self.keys
    }

    /// The list a write adds to.
    pub fn add_key(&self) -> &[u8] {
        self.keys.first().map(Vec::as_slice).unwrap_or_default()
    }

    /// The first list that holds a value, and its values (newest first). Kamailio's search stays
    /// in the class where it found the first value: indexes, `[*]`, counts and deletions act on
    /// this list only.
    pub fn found<'a>(&'a self, avps: &'a Avps) -> Option<(&'a [u8], &'a [AvpValue])> {
        self.keys.iter().find_map(|k| {
            let v = avps.values(k);
            (!v.is_empty()).then_some((k.as_slice(), v))
        })
    }

    /// The key of the first list that holds a value.
    pub fn found_key(&self, avps: &Avps) -> Option<Vec<u8>> {
        self.found(avps).map(|(k, _)| k.to_vec())
    }
}

/// The identity behind an `$avp` name as its parser prepared it: a literal name (an
/// [`AvpIdent`] in [`PvInner::Custom`]), a name built per message (used as a plain string name,
/// as Kamailio does), or a bare [`PvInner::Str`] key (one list, as written).
pub fn ident<'n>(ctx: &mut Ctx<'_>, n: &'n PvName) -> Cow<'n, AvpIdent> {
    match &n.inner {
        PvInner::Custom(a) => match a.downcast_ref::<AvpIdent>() {
            Some(id) => Cow::Borrowed(id),
            None => Cow::Owned(AvpIdent { keys: Vec::new() }),
        },
        PvInner::Str(s) => Cow::Owned(AvpIdent {
            keys: vec![s.clone()],
        }),
        PvInner::Int(i) => Cow::Owned(match u32::try_from(*i) {
            Ok(n) => AvpIdent::id(n),
            Err(_) => AvpIdent::plain(i.to_string().as_bytes()),
        }),
        PvInner::Fmt(_) | PvInner::None => Cow::Owned(AvpIdent::plain(&n.name_bytes(ctx))),
    }
}

/// An [`AvpIdent`] as a PV's prepared inner name.
pub fn inner(id: AvpIdent) -> PvInner {
    PvInner::Custom(Arc::new(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;

    fn show(id: &AvpIdent) -> String {
        id.keys()
            .iter()
            .map(|k| String::from_utf8_lossy(k).replace('\0', "~"))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn names_to_lists() {
        for (name, want) in [
            ("x", Some("x ~fu.x ~fd.x ~g.x")),
            ("s:x", Some("x ~fu.x ~fd.x ~g.x")),
            ("S:x", Some("x ~fu.x ~fd.x ~g.x")),
            ("f.x", Some("x ~fu.x ~fd.x ~g.x")),
            ("fr.x", Some("x")),
            ("t.x", Some("~t.x ~tu.x ~td.x ~g.x")),
            ("tr.x", Some("~t.x")),
            ("fu.x", Some("~fu.x")),
            ("tu.x", Some("~tu.x")),
            ("fd.x", Some("~fd.x")),
            ("td.x", Some("~td.x")),
            ("i:12", Some("~i:12")),
            ("12", Some("12 ~fu.12 ~fd.12 ~g.12")),
            ("fu.i:5", Some("~fu.i:5")),
            ("i:x", None),
            ("q:x", None),
            ("s:", None),
            ("g.x", None),
            ("zz.x", None),
            ("abc.x", None),
            ("f.", None),
            ("f.a[1]", None),
            ("f./re/", None),
            ("", None),
        ] {
            assert_eq!(
                AvpIdent::parse(name).ok().as_ref().map(show).as_deref(),
                want,
                "{name}"
            );
        }
    }

    #[test]
    fn search_stays_in_the_first_class_found() {
        let mut avps = Avps::default();
        let id = AvpIdent::plain(b"u");
        assert!(id.found(&avps).is_none());
        avps.add(&list_key(Track::From, Class::Domain, b"u"), Value::Int(3));
        avps.add(&list_key(Track::From, Class::User, b"u"), Value::Int(2));
        let (k, v) = id.found(&avps).unwrap();
        assert_eq!((k, v.len()), (&b"\0fu.u"[..], 1));
        avps.add(b"u", Value::Int(1));
        assert_eq!(id.found_key(&avps).as_deref(), Some(&b"u"[..]));
        assert!(AvpIdent::parse("t.u").unwrap().found(&avps).is_none());
        assert_eq!(AvpIdent::parse("fr.u").unwrap().add_key(), b"u");
    }
}
