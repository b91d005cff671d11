//! The storage-backed variables every config uses: `$var(name)` (per worker), `$avp(name)` (per
//! message, with `[n]`, `[*]` and `$null` deletion), and the core PVs `$rc`, `$retcode`, `$?`,
//! `$null`. They are ordinary [`PvExport`]s: the core registers the return-code ones, and the `pv`
//! module registers [`var_avp_pvs`] so `$var`/`$avp` use this same storage.

use std::sync::Arc;

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
                let name = inner.strip_prefix("s:").unwrap_or(inner);
                if name.is_empty() {
                    return Err("empty $avp name".into());
                }
                if name.contains('$') {
                    return Ok(PvInner::Fmt(reg.parse_format(name)?));
                }
                Ok(PvInner::Str(name.as_bytes().to_vec()))
            })),
            get: Arc::new(|ctx: &mut Ctx<'_>, n: &PvName| {
                let name = n.name_bytes(ctx);
                let idx = n.idx(ctx);
                let vals = ctx.state.avps.values(&name);
                Ok(match idx {
                    Idx::None => vals.first().map(|a| a.value.clone()).unwrap_or_default(),
                    Idx::At(i) => pick(vals, i).map(|a| a.value.clone()).unwrap_or_default(),
                    // `[*]` read gives the first value, as Kamailio does outside of xlog.
                    Idx::All => vals.first().map(|a| a.value.clone()).unwrap_or_default(),
                })
            }),
            set: Some(Arc::new(|ctx: &mut Ctx<'_>, n: &PvName, v: Value| {
                let name = n.name_bytes(ctx);
                let idx = n.idx(ctx);
                let vals = ctx.state.avps.values_mut(&name);
                match (idx, v) {
                    (Idx::All, Value::Null) => vals.clear(),
                    (Idx::At(i), Value::Null) => {
                        if let Some(p) = position(vals.len(), i) {
                            vals.remove(p);
                        }
                    }
                    // `$avp(x) = $null` removes the newest value only.
                    (Idx::None, Value::Null) => {
                        if !vals.is_empty() {
                            vals.remove(0);
                        }
                    }
                    (Idx::All, v) => {
                        vals.clear();
                        vals.insert(0, AvpValue { value: v, flags: 0 });
                    }
                    (Idx::At(i), v) => match position(vals.len(), i) {
                        Some(p) => vals[p].value = v, // position() checked the bound
                        None => return Err(Error::Runtime(format!("no $avp value at index {i}"))),
                    },
                    // A plain assignment adds on top: `$avp(x)` keeps older values below.
                    (Idx::None, v) => vals.insert(0, AvpValue { value: v, flags: 0 }),
                }
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
