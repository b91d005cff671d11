//! Core attributes (Kamailio's `avp_spec` in the cfg grammar): `%name`, `$f.name`, `$name[1]`, an
//! unknown `$name` in the default mode and every `$name` under `#!SER`. The core reads and writes
//! them with rules of its own, unlike the `$avp(name)` pseudo-variable (checked against Kamailio
//! 5.6, see docs/runtime.md "SER compatibility mode"):
//!
//! - an assignment replaces: the values of the first class list holding the name are deleted, then
//!   the new value is added (`$null`/undefined only deletes);
//! - a read without index is defined only when exactly one value exists;
//! - `[n]` counts from the oldest value (1 = first added), `[-n]` from the newest; `[]` reads as
//!   undefined;
//! - a read without class searches the track's lists in Kamailio's order: URI, user, domain, then
//!   global; writes without class go to the URI list; global attributes are read-only.
//!
//! Storage: the api's flat per-message AVP table, one name per (track, class) list. The from/URI
//! list (what `$x`, `$f.x` and `$fr.x` write) uses the bare name, so `$avp(x)`, modules and
//! modparam AVP specs see the same values; the other lists use the class prefix written out
//! (`t.x`, `fu.x`, `g.x` …), which is also what `$avp(t.x)` names in the api's table.

use std::sync::Arc;

use ferrosip_api::avp::{self, AvpIdent, Class, Track};
use ferrosip_api::ctx::AvpValue;
use ferrosip_api::export::{PvGet, PvSet};
use ferrosip_api::pv::{PvIndex, PvName, PvSpec};
use ferrosip_api::{Ctx, Value};
use ferrosip_config::ast::{Attr, AttrClass, AttrIndex};

/// The lists an attribute reference searches, in search order; the first one is where an
/// assignment adds. The same [`AvpIdent`] lists `$avp(…)` uses (`$x` is `$avp(x)`, `$t.x` is
/// `$avp(t.x)`, `$fu.x` is `$avp(fu.x)`), plus the global list, which `$avp` refuses.
pub(crate) fn ident(a: &Attr) -> AvpIdent {
    let name = a.name.as_bytes();
    match a.class {
        AttrClass::None | AttrClass::From => AvpIdent::new(Track::From, None, name),
        AttrClass::To => AvpIdent::new(Track::To, None, name),
        AttrClass::FromUri => AvpIdent::new(Track::From, Some(Class::Uri), name),
        AttrClass::ToUri => AvpIdent::new(Track::To, Some(Class::Uri), name),
        AttrClass::FromUser => AvpIdent::new(Track::From, Some(Class::User), name),
        AttrClass::ToUser => AvpIdent::new(Track::To, Some(Class::User), name),
        AttrClass::FromDomain => AvpIdent::new(Track::From, Some(Class::Domain), name),
        AttrClass::ToDomain => AvpIdent::new(Track::To, Some(Class::Domain), name),
        AttrClass::Global => AvpIdent::new(Track::From, Some(Class::Global), name),
    }
}

/// Builds the run-time accessor of an attribute. Global attributes get no setter (Kamailio:
/// "You cannot change global attributes from the script, they are read-only").
pub(crate) fn spec(text: &str, a: &Attr) -> PvSpec {
    let id = Arc::new(ident(a));
    let index = a.index;
    let k = id.clone();
    let get: PvGet = Arc::new(move |ctx: &mut Ctx<'_>, _: &PvName| Ok(read(ctx, &k, index)));
    let set: Option<PvSet> = if a.class == AttrClass::Global {
        None
    } else {
        let k = id.clone();
        Some(Arc::new(move |ctx: &mut Ctx<'_>, _: &PvName, v: Value| {
            write(ctx, &k, v);
            Ok(())
        }))
    };
    // Named like `$avp(x)` so functions taking an AVP (`setavpflag`) find the same lists.
    let name = PvName {
        inner: avp::inner((*id).clone()),
        index: PvIndex::None,
    };
    PvSpec::new(text.to_string(), "avp".into(), name, get, set, Vec::new())
}

/// `$x = $y[]`: an accessor whose setter (whatever value it is given) adds every value of the
/// first list holding `$y` on top of `$x`'s write list, in `$y`'s order, keeping `$x`'s values
/// and the AVP flags (Kamailio's `lval_avp_assign` with an `AVP_INDEX_ALL` source: nothing is
/// deleted; checked against Kamailio 5.6.3, `ser_compat.rs`). A source without values adds
/// nothing; `$y = $y[]` doubles `$y`.
pub(crate) fn copy_all_spec(text: &str, dst: &Attr, src: &Attr) -> PvSpec {
    let to = Arc::new(ident(dst));
    let from = ident(src);
    let get_id = to.clone();
    let get: PvGet =
        Arc::new(move |ctx: &mut Ctx<'_>, _: &PvName| Ok(read(ctx, &get_id, AttrIndex::None)));
    let set_to = to.clone();
    let set: PvSet = Arc::new(move |ctx: &mut Ctx<'_>, _: &PvName, _: Value| {
        let vals: Vec<AvpValue> = from
            .found(&ctx.state.avps)
            .map(|(_, v)| v.to_vec())
            .unwrap_or_default();
        // Newest first in `vals`: adding the oldest first leaves them in the same order on top.
        let list = ctx.state.avps.values_mut(set_to.add_key());
        for v in vals.into_iter().rev() {
            list.insert(0, v);
        }
        Ok(())
    });
    let name = PvName {
        inner: avp::inner((*to).clone()),
        index: PvIndex::None,
    };
    PvSpec::new(
        text.to_string(),
        "avp".into(),
        name,
        get,
        Some(set),
        Vec::new(),
    )
}

fn read(ctx: &Ctx<'_>, id: &AvpIdent, index: AttrIndex) -> Value {
    let Some((_, vals)) = id.found(&ctx.state.avps) else {
        return Value::Null;
    };
    // `vals` is newest first, as Kamailio's lists are.
    let v = match index {
        AttrIndex::None if vals.len() == 1 => vals.first(),
        AttrIndex::None | AttrIndex::All => None,
        AttrIndex::At(n) if n > 0 => usize::try_from(n)
            .ok()
            .and_then(|n| vals.len().checked_sub(n))
            .and_then(|p| vals.get(p)),
        AttrIndex::At(n) if n < 0 => usize::try_from(n.unsigned_abs())
            .ok()
            .and_then(|n| vals.get(n - 1)),
        AttrIndex::At(_) => None,
    };
    v.map(|a| a.value.clone()).unwrap_or(Value::Null)
}

/// Kamailio's `lval_avp_assign`: the values of the first list holding the name go, then the
/// new value is added to the write list.
fn write(ctx: &mut Ctx<'_>, id: &AvpIdent, v: Value) {
    if let Some(k) = id.found_key(&ctx.state.avps) {
        ctx.state.avps.remove_all(&k);
    }
    if !v.is_null() {
        ctx.state.avps.add(id.add_key(), v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attr(class: &str, name: &str, index: AttrIndex) -> Attr {
        Attr {
            class: AttrClass::from_prefix(class).unwrap_or(AttrClass::None),
            name: name.into(),
            index,
        }
    }

    #[test]
    fn list_names() {
        let s = |id: AvpIdent| {
            id.keys()
                .iter()
                .map(|k| String::from_utf8_lossy(k).replace('\0', "~"))
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (class, want) in [
            ("", "x ~fu.x ~fd.x ~g.x"),
            ("f", "x ~fu.x ~fd.x ~g.x"),
            ("fr", "x"),
            ("t", "~t.x ~tu.x ~td.x ~g.x"),
            ("tr", "~t.x"),
            ("fu", "~fu.x"),
            ("td", "~td.x"),
            ("g", "~g.x"),
        ] {
            assert_eq!(
                s(ident(&attr(class, "x", AttrIndex::None))),
                want,
                "{class}"
            );
        }
    }
}
