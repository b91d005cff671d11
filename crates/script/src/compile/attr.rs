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

use ferrosip_api::ctx::AvpValue;
use ferrosip_api::export::{PvGet, PvSet};
use ferrosip_api::pv::{PvIndex, PvInner, PvName, PvSpec};
use ferrosip_api::{Ctx, Value};
use ferrosip_config::ast::{Attr, AttrClass, AttrIndex};

/// The per-message names of the lists an attribute reference searches, in search order; the
/// first one is where an assignment adds.
pub(crate) fn lists(a: &Attr) -> Vec<Vec<u8>> {
    let key = |prefix: &str| -> Vec<u8> {
        if prefix.is_empty() {
            a.name.as_bytes().to_vec()
        } else {
            format!("{prefix}.{}", a.name).into_bytes()
        }
    };
    match a.class {
        AttrClass::None | AttrClass::From => vec![key(""), key("fu"), key("fd"), key("g")],
        AttrClass::To => vec![key("t"), key("tu"), key("td"), key("g")],
        AttrClass::FromUri => vec![key("")],
        AttrClass::ToUri => vec![key("t")],
        c => vec![key(c.prefix())],
    }
}

/// Builds the run-time accessor of an attribute. Global attributes get no setter (Kamailio:
/// "You cannot change global attributes from the script, they are read-only").
pub(crate) fn spec(text: &str, a: &Attr) -> PvSpec {
    let keys = Arc::new(lists(a));
    let index = a.index;
    let k = keys.clone();
    let get: PvGet = Arc::new(move |ctx: &mut Ctx<'_>, _: &PvName| Ok(read(ctx, &k, index)));
    let set: Option<PvSet> = if a.class == AttrClass::Global {
        None
    } else {
        let k = keys.clone();
        Some(Arc::new(move |ctx: &mut Ctx<'_>, _: &PvName, v: Value| {
            write(ctx, &k, v);
            Ok(())
        }))
    };
    // Named like `$avp(x)` so functions taking an AVP (`setavpflag`) find the URI-list name.
    let name = PvName {
        inner: PvInner::Str(keys[0].clone()),
        index: PvIndex::None,
    };
    PvSpec::new(text.to_string(), "avp".into(), name, get, set, Vec::new())
}

/// The values of the first list that holds the name (Kamailio's search stays in that class).
fn found<'c>(ctx: &'c Ctx<'_>, keys: &[Vec<u8>]) -> Option<(usize, &'c [AvpValue])> {
    keys.iter().enumerate().find_map(|(i, k)| {
        let v = ctx.state.avps.values(k);
        (!v.is_empty()).then_some((i, v))
    })
}

fn read(ctx: &Ctx<'_>, keys: &[Vec<u8>], index: AttrIndex) -> Value {
    let Some((_, vals)) = found(ctx, keys) else {
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

fn write(ctx: &mut Ctx<'_>, keys: &[Vec<u8>], v: Value) {
    if let Some((i, _)) = found(ctx, keys) {
        if let Some(k) = keys.get(i) {
            ctx.state.avps.remove_all(k);
        }
    }
    if !v.is_null() {
        if let Some(k) = keys.first() {
            ctx.state.avps.add(k, v);
        }
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
        let s = |v: Vec<Vec<u8>>| {
            v.into_iter()
                .map(|k| String::from_utf8_lossy(&k).into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        for (class, want) in [
            ("", "x fu.x fd.x g.x"),
            ("f", "x fu.x fd.x g.x"),
            ("fr", "x"),
            ("t", "t.x tu.x td.x g.x"),
            ("tr", "t.x"),
            ("fu", "fu.x"),
            ("td", "td.x"),
            ("g", "g.x"),
        ] {
            assert_eq!(
                s(lists(&attr(class, "x", AttrIndex::None))),
                want,
                "{class}"
            );
        }
    }
}
