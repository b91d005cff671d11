//! The storage-backed variables every config uses: `$var(name)` (per worker), `$avp(name)` (per
//! message, with `[n]`, `[*]` and `$null` deletion), and the core PVs `$rc`, `$retcode`, `$?`,
//! `$null`. They are ordinary [`PvExport`]s: the core registers the return-code ones, and the `pv`
//! module registers [`var_avp_pvs`] so `$var`/`$avp` use this same storage.

use std::sync::Arc;

use crate::avp::{self, AvpIdent};
use crate::ctx::{AvpValue, Ctx};
use crate::export::{PvExport, PvNameRule};
use crate::pv::{Idx, PvInner, PvName};
use crate::registry::Registry;
use crate::value::Value;
use crate::Error;

/// `$var` and `$avp`, backed by [`crate::ctx::WorkerState::vars`] and [`crate::ctx::MsgState::avps`].
pub fn var_avp_pvs() -> Vec<PvExport> {
    vec![
        PvExport {
            name: "var",
            doc: "script variable, private to the worker, kept across messages",
            inner: PvNameRule::Required,
            indexed: false,
            parse: Some(Arc::new(|inner: &str, reg: &Registry| {
                if inner.is_empty() || inner.contains('$') {
                    return Err(format!("invalid $var name `{inner}`"));
                }
                // Slots are numbered at load so a read is an index, not a hash lookup.
                Ok(PvInner::Int(reg.var_slot(inner) as i64))
            })),
            // A $var never set is integer 0 (Kamailio creates it with 0 at load).
            get: Arc::new(|ctx: &mut Ctx<'_>, n: &PvName| {
                Ok(match ctx.worker.var(slot(n)?) {
                    Value::Null => Value::Int(0),
                    v => v.clone(),
                })
            }),
            set: Some(Arc::new(|ctx: &mut Ctx<'_>, n: &PvName, v: Value| {
                // Assigning $null to a $var resets it to integer 0, as Kamailio does.
                let v = if v.is_null() { Value::Int(0) } else { v };
                ctx.worker.set_var(slot(n)?, v);
                Ok(())
            })),
        },
        PvExport {
            name: "avp",
            doc: "attribute-value pair attached to the message/transaction (a stack per name)",
            inner: PvNameRule::Required,
            indexed: true,
            parse: Some(Arc::new(|inner: &str, reg: &Registry| {
                // A name built at run time (`$avp($var(n))`) is a plain string name, as in
                // Kamailio; a literal one follows `parse_avp_ident` (classes, `s:`, `i:`).
                let dynamic = inner.strip_prefix("s:").unwrap_or(inner);
                if dynamic.contains('$') {
                    return Ok(PvInner::Fmt(reg.parse_format(dynamic)?));
                }
                Ok(avp::inner(AvpIdent::parse(inner)?))
            })),
            get: Arc::new(|ctx: &mut Ctx<'_>, n: &PvName| {
                let idx = n.idx(ctx);
                let id = avp::ident(ctx, n);
                let Some((_, vals)) = id.found(&ctx.state.avps) else {
                    return Ok(Value::Null);
                };
                Ok(match idx {
                    Idx::None => vals.first().map(|a| a.value.clone()).unwrap_or_default(),
                    Idx::At(i) => pick(vals, i).map(|a| a.value.clone()).unwrap_or_default(),
                    // `[*]` read gives the first value, as Kamailio does outside of xlog.
                    Idx::All => vals.first().map(|a| a.value.clone()).unwrap_or_default(),
                })
            }),
            set: Some(Arc::new(|ctx: &mut Ctx<'_>, n: &PvName, v: Value| {
                let idx = n.idx(ctx);
                let id = avp::ident(ctx, n);
                set_avp(ctx, &id, idx, v);
                Ok(())
            })),
        },
    ]
}

/// `$rc`, `$retcode`, `$?` (last return code) and `$null`.
pub fn core_pvs() -> Vec<PvExport> {
    let rc = |name: &'static str| PvExport {
        name,
        doc: "return code of the last function or route executed",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(|ctx: &mut Ctx<'_>, _: &PvName| Ok(Value::Int(ctx.last_rc))),
        set: None,
    };
    vec![
        rc("rc"),
        rc("retcode"),
        rc("?"),
        PvExport {
            name: "null",
            doc: "undefined value; assigning it deletes",
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(|_: &mut Ctx<'_>, _: &PvName| Ok(Value::Null)),
            set: None,
        },
    ]
}

/// An `$avp` write, as Kamailio's `pv_set_avp`: `$null` deletes the newest value of the list the
/// search finds (`[*]`: all its values; another index is not used); a value is added on top of
/// the name's write list (`[*]` first deletes all values of the list found; another index is
/// not used either: `$(avp(x)[1]) = v` adds, checked against Kamailio 5.6.3).
pub fn set_avp(ctx: &mut Ctx<'_>, id: &AvpIdent, idx: Idx, v: Value) {
    let all = idx == Idx::All;
    if v.is_null() || all {
        if let Some(k) = id.found_key(&ctx.state.avps) {
            let vals = ctx.state.avps.values_mut(&k);
            if all {
                vals.clear();
            } else if !vals.is_empty() {
                vals.remove(0);
            }
            if vals.is_empty() {
                ctx.state.avps.remove_all(&k);
            }
        }
    }
    if !v.is_null() {
        ctx.state.avps.add(id.add_key(), v);
    }
}

fn slot(n: &PvName) -> Result<usize, Error> {
    match n.inner {
        PvInner::Int(i) => usize::try_from(i).map_err(|_| Error::Runtime("bad $var slot".into())),
        _ => Err(Error::Runtime("bad $var name".into())),
    }
}

fn position(len: usize, i: i64) -> Option<usize> {
    let p = if i < 0 {
        i64::try_from(len).ok()?.checked_add(i)?
    } else {
        i
    };
    usize::try_from(p).ok().filter(|p| *p < len)
}

fn pick(vals: &[AvpValue], i: i64) -> Option<&AvpValue> {
    position(vals.len(), i).and_then(|p| vals.get(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions() {
        let cases = [
            (3, 0, Some(0)),
            (3, 2, Some(2)),
            (3, 3, None),
            (3, -1, Some(2)),
            (3, -4, None),
            (0, 0, None),
        ];
        for (len, i, want) in cases {
            assert_eq!(position(len, i), want, "{len} {i}");
        }
    }
}
