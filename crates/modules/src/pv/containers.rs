//! Containers: `$vz`/`$vn` (script variables next to the api's `$var`/`$avp`), `$xavp`, `$xavu`,
//! `$xavi` (extended AVPs: records of named fields) and `$shv` (shared by all workers).
//!
//! XAVP layout in [`ferrosip_api::ctx::MsgState::xavps`]: per root name a list of records, newest
//! first; a record is a list of `(field, value)`, newest first. A root that holds a plain value
//! (`$xavp(x) = 1`) is a record with one field whose name is empty. `$xavu` and `$xavi` are kept
//! apart from `$xavp` under prefixed root names (`\0u:` / `\0i:`), as Kamailio keeps three lists.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ferrosip_api::avp::{self, AvpIdent};
use ferrosip_api::ctx::XavpRecord;
use ferrosip_api::pv::{parse_pv_ref, PvInner, PvName};
use ferrosip_api::{store, Ctx, Error, PvExport, PvNameRule, PvSpec, Registry, Value};

use super::{named, pv, rt, s, writable};

/// Values shared by all workers (`$shv`), created with the module's export table.
#[derive(Debug, Clone, Default)]
pub struct Shared(Arc<Mutex<HashMap<Vec<u8>, Value>>>);

impl Shared {
    /// Sets a value.
    pub fn set(&self, name: &[u8], v: Value) {
        let mut g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.insert(name.to_vec(), v);
    }

    /// `$shvinc`: adds one to an integer value (a never-set one counts as 0) and returns it; a string
    /// value is left alone and 0 returned, as Kamailio does.
    pub fn increment(&self, name: &[u8]) -> i64 {
        let mut g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let slot = g.entry(name.to_vec()).or_insert(Value::Int(0));
        match slot {
            Value::Int(i) => {
                *i = i.wrapping_add(1);
                *i
            }
            _ => 0,
        }
    }

    /// Reads a value; a never-set variable is integer 0, as Kamailio creates it at load.
    pub fn get(&self, name: &[u8]) -> Value {
        let g = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.get(name).cloned().unwrap_or(Value::Int(0))
    }
}

/// The storage key of a literal `$avp` name (`ferrosip_api::avp::AvpIdent::parse`, Kamailio's
/// `parse_avp_ident`): the list a write adds to — the bare name for `x`, `s:x`, `f.x`, `fr.x`;
/// a NUL-prefixed key for the other lists and for integer ids (`i:12`). For modules that take an
/// AVP spec as a parameter and add or read one list.
pub fn avp_key(inner: &str) -> Result<String, String> {
    let id = AvpIdent::parse(inner)?;
    String::from_utf8(id.add_key().to_vec()).map_err(|_| format!("invalid $avp name `{inner}`"))
}

/// Parses `name=i:123` / `name=s:text` (the `shvset`/`varset` modparam syntax).
pub fn parse_init(spec: &str) -> Result<(String, Value), String> {
    let (name, rest) = spec
        .split_once('=')
        .ok_or_else(|| format!("`{spec}`: expected name=i:number or name=s:text"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("`{spec}`: empty name"));
    }
    let rest = rest.trim_start();
    let v = if let Some(i) = rest.strip_prefix("i:") {
        Value::Int(
            i.trim()
                .parse::<i64>()
                .map_err(|_| format!("`{spec}`: bad integer"))?,
        )
    } else if let Some(t) = rest.strip_prefix("s:") {
        s(t)
    } else {
        return Err(format!("`{spec}`: the value must start with i: or s:"));
    };
    Ok((name.to_string(), v))
}

/// The PVs of this file.
pub fn pvs(shared: &Shared) -> Vec<PvExport> {
    let mut v = Vec::new();
    // `$avp` keeps the api's storage, parser and setter; its `[*]` read joins all values with
    // ", " (newest first), as Kamailio's pv_get_avp does, instead of the api's first value.
    if let Some(avp) = store::var_avp_pvs().into_iter().find(|p| p.name == "avp") {
        let inner_get = avp.get.clone();
        v.push(PvExport {
            get: Arc::new(move |c: &mut Ctx<'_>, n: &PvName| {
                if !matches!(n.idx(c), ferrosip_api::pv::Idx::All) {
                    return inner_get(c, n);
                }
                let id = avp::ident(c, n);
                let vals: Vec<Value> = id
                    .found(&c.state.avps)
                    .map(|(_, vals)| vals.iter().map(|a| a.value.clone()).collect())
                    .unwrap_or_default();
                Ok(join(vals))
            }),
            ..avp
        });
    }
    // `$vz` shares `$var`'s storage (Kamailio parses both names into the same variable list).
    if let Some(var) = store::var_avp_pvs().into_iter().find(|p| p.name == "var") {
        v.push(PvExport {
            name: "vz",
            doc: "same variable as $var; assigning $null sets 0",
            ..var
        });
    }
    v.push(writable(
        named(
            pv("vn", "script variable that can hold $null", |c, n| {
                Ok(c.worker.var(slot(n)?).clone())
            }),
            PvNameRule::Required,
            |inner: &str, reg: &Registry| {
                if inner.is_empty() || inner.contains('$') {
                    return Err(format!("invalid $vn name `{inner}`"));
                }
                // A separate namespace from $var: Kamailio keeps null-capable variables apart.
                Ok(PvInner::Int(reg.var_slot(&format!("\0vn:{inner}")) as i64))
            },
        ),
        |c, n, v| {
            c.worker.set_var(slot(n)?, v);
            Ok(())
        },
    ));
    for (name, kind, doc) in [
        ("xavp", Kind::Xavp, "extended AVP: $xavp(root[i]=>field[j])"),
        (
            "xavu",
            Kind::Xavu,
            "extended AVP with one value per name: $xavu(root=>field)",
        ),
        (
            "xavi",
            Kind::Xavi,
            "extended AVP with case-insensitive names: $xavi(root[i]=>field[j])",
        ),
    ] {
        v.push(writable(
            named(
                pv(name, doc, move |c, n| xget(c, n, kind)),
                PvNameRule::Required,
                move |inner: &str, reg: &Registry| parse_xname(inner, reg, kind),
            ),
            move |c, n, v| xset(c, n, kind, v),
        ));
    }
    let inc = shared.clone();
    v.push(named(
        pv(
            "shvinc",
            "increments an integer $shv and returns the new value (0 for a string)",
            move |c, n| Ok(Value::Int(inc.increment(&n.name_bytes(c)))),
        ),
        PvNameRule::Required,
        |inner: &str, _: &Registry| {
            if inner.is_empty() {
                return Err("empty $shvinc name".into());
            }
            Ok(PvInner::Str(inner.as_bytes().to_vec()))
        },
    ));
    v.push(named(
        pv(
            "cnt",
            "number of values of an $avp, or of $xavp records/fields",
            count,
        ),
        PvNameRule::Required,
        |inner: &str, reg: &Registry| {
            let (r, used) = parse_pv_ref(inner.trim().as_bytes())?;
            if used != inner.trim().len() {
                return Err(format!("$cnt takes one variable, not `{inner}`"));
            }
            let spec = reg.resolve_pv(&r)?;
            if spec.name() != "avp" && spec.name() != "xavp" {
                return Err(format!("$cnt counts $avp or $xavp values, not `{inner}`"));
            }
            Ok(PvInner::Custom(Arc::new(spec)))
        },
    ));
    let g = shared.clone();
    let st = shared.clone();
    v.push(writable(
        named(
            pv(
                "shv",
                "shared variable, visible to all workers",
                move |c, n| Ok(g.get(&n.name_bytes(c))),
            ),
            PvNameRule::Required,
            |inner: &str, _: &Registry| {
                if inner.is_empty() {
                    return Err("empty $shv name".into());
                }
                Ok(PvInner::Str(inner.as_bytes().to_vec()))
            },
        ),
        move |c, n, v| {
            let v = if v.is_null() { Value::Int(0) } else { v };
            st.set(&n.name_bytes(c), v);
            Ok(())
        },
    ));
    v
}

/// `$cnt($avp(x))`: number of values; `$cnt($xavp(k))`: number of records (an index given on
/// the root counts 1 or 0); `$cnt($xavp(k=>f))`: number of `f` fields over the selected records.
fn count(c: &mut Ctx<'_>, n: &PvName) -> Result<Value, Error> {
    let spec = match &n.inner {
        PvInner::Custom(a) => a
            .downcast_ref::<PvSpec>()
            .cloned()
            .ok_or_else(|| rt("bad $cnt name"))?,
        _ => return Err(rt("bad $cnt name")),
    };
    if spec.name() == "avp" {
        // Kamailio counts what its search finds: the values of the first class list holding one.
        let id = avp::ident(c, spec.pv_name());
        let n = id.found(&c.state.avps).map_or(0, |(_, v)| v.len());
        return Ok(Value::Int(n as i64));
    }
    let x = xname(spec.pv_name())?;
    let ridx = eval(&x.ridx, c);
    let Some(recs) = c.state.xavps.get(&x.root) else {
        return Ok(Value::Int(0));
    };
    let selected: Vec<&XavpRecord> = match ridx {
        Ix::None | Ix::All => recs.iter().collect(),
        Ix::At(i) => position(recs.len(), i)
            .and_then(|p| recs.get(p))
            .into_iter()
            .collect(),
    };
    Ok(Value::Int(match &x.field {
        None => selected.len() as i64,
        Some((f, _)) => selected
            .iter()
            .map(|r| r.iter().filter(|(k, _)| k == f).count() as i64)
            .sum(),
    }))
}

fn slot(n: &PvName) -> Result<usize, Error> {
    match n.inner {
        PvInner::Int(i) => usize::try_from(i).map_err(|_| rt("bad variable slot")),
        _ => Err(rt("bad variable name")),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Xavp,
    Xavu,
    Xavi,
}

#[derive(Debug, Clone)]
enum XIdx {
    None,
    At(i64),
    All,
    Var(PvSpec),
}

#[derive(Debug, Clone)]
struct XName {
    root: Vec<u8>,
    /// The root name as written (`$xavi` keys are lowercased; the printer shows this).
    shown: Vec<u8>,
    ridx: XIdx,
    field: Option<(Vec<u8>, XIdx)>,
}

fn parse_part(text: &str, reg: &Registry) -> Result<(Vec<u8>, XIdx), String> {
    let text = text.trim();
    let Some(open) = text.find('[') else {
        if text.is_empty() {
            return Err("empty xavp name".into());
        }
        return Ok((text.as_bytes().to_vec(), XIdx::None));
    };
    let name = text.get(..open).unwrap_or_default();
    let idx = text
        .get(open + 1..)
        .and_then(|r| r.strip_suffix(']'))
        .ok_or_else(|| format!("bad index in `{text}`"))?
        .trim();
    if name.is_empty() {
        return Err("empty xavp name".into());
    }
    let idx = if idx == "*" {
        XIdx::All
    } else if let Ok(i) = idx.parse::<i64>() {
        XIdx::At(i)
    } else if idx.starts_with('$') {
        let (r, used) = parse_pv_ref(idx.as_bytes())?;
        if used != idx.len() {
            return Err(format!("bad index in `{text}`"));
        }
        XIdx::Var(reg.resolve_pv(&r)?)
    } else {
        return Err(format!("bad index in `{text}`"));
    };
    Ok((name.as_bytes().to_vec(), idx))
}

fn parse_xname(inner: &str, reg: &Registry, kind: Kind) -> Result<PvInner, String> {
    let (root, field) = match inner.split_once("=>") {
        Some((r, f)) => (r, Some(f)),
        None => (inner, None),
    };
    let (mut root, ridx) = parse_part(root, reg)?;
    let shown = root.clone();
    let field = match field {
        Some(f) => Some(parse_part(f, reg)?),
        None => None,
    };
    if kind == Kind::Xavu
        && (!matches!(ridx, XIdx::None)
            || field.as_ref().is_some_and(|f| !matches!(f.1, XIdx::None)))
    {
        return Err("$xavu takes no index".into());
    }
    // `$xavi` roots are keyed lowercased; field names keep their spelling and are compared
    // without case (`same`).
    if kind == Kind::Xavi {
        root.make_ascii_lowercase();
    }
    let prefix: &[u8] = match kind {
        Kind::Xavp => b"",
        Kind::Xavu => b"\0u:",
        Kind::Xavi => b"\0i:",
    };
    let mut full = prefix.to_vec();
    full.extend_from_slice(&root);
    Ok(PvInner::Custom(Arc::new(XName {
        root: full,
        shown,
        ridx,
        field,
    })))
}

fn xname(n: &PvName) -> Result<XName, Error> {
    match &n.inner {
        PvInner::Custom(a) => a
            .downcast_ref::<XName>()
            .cloned()
            .ok_or_else(|| rt("bad xavp name")),
        _ => Err(rt("bad xavp name")),
    }
}

#[derive(Debug, Clone, Copy)]
enum Ix {
    None,
    At(i64),
    All,
}

fn eval(ix: &XIdx, c: &mut Ctx<'_>) -> Ix {
    match ix {
        XIdx::None => Ix::None,
        XIdx::At(i) => Ix::At(*i),
        XIdx::All => Ix::All,
        XIdx::Var(p) => Ix::At(p.get(c).to_int()),
    }
}

fn position(len: usize, i: i64) -> Option<usize> {
    let p = if i < 0 { len as i64 + i } else { i };
    usize::try_from(p).ok().filter(|p| *p < len)
}

fn record_value(r: &XavpRecord) -> Value {
    match r.as_slice() {
        [(k, v)] if k.is_empty() => v.clone(),
        // Kamailio prints a record as a pointer string; it is non-null, which is what scripts test.
        _ => s("<<xavp>>"),
    }
}

fn join(vals: Vec<Value>) -> Value {
    if vals.is_empty() {
        return Value::Null;
    }
    let parts: Vec<Vec<u8>> = vals.into_iter().map(Value::into_bytes).collect();
    s(parts.join(&b", "[..]))
}

fn xget(c: &mut Ctx<'_>, n: &PvName, kind: Kind) -> Result<Value, Error> {
    let x = xname(n)?;
    let ridx = eval(&x.ridx, c);
    let fidx = x.field.as_ref().map(|(_, i)| eval(i, c));
    let Some(recs) = c.state.xavps.get(&x.root) else {
        return Ok(Value::Null);
    };
    let pick_rec = |i: Ix| -> Option<&XavpRecord> {
        match i {
            Ix::None => recs.first(),
            Ix::At(i) => position(recs.len(), i).and_then(|p| recs.get(p)),
            Ix::All => None,
        }
    };
    let Some((fname, _)) = &x.field else {
        return Ok(match ridx {
            Ix::All => join(recs.iter().map(record_value).collect()),
            i => pick_rec(i).map(record_value).unwrap_or_default(),
        });
    };
    let Some(rec) = pick_rec(if matches!(ridx, Ix::All) {
        Ix::None
    } else {
        ridx
    }) else {
        return Ok(Value::Null);
    };
    let vals: Vec<&Value> = rec
        .iter()
        .filter(|(k, _)| same(kind, k, fname))
        .map(|(_, v)| v)
        .collect();
    Ok(match fidx.unwrap_or(Ix::None) {
        Ix::None => vals.first().map(|v| (*v).clone()).unwrap_or_default(),
        Ix::At(i) => position(vals.len(), i)
            .and_then(|p| vals.get(p))
            .map(|v| (*v).clone())
            .unwrap_or_default(),
        Ix::All => join(vals.into_iter().cloned().collect()),
    })
}

fn xset(c: &mut Ctx<'_>, n: &PvName, kind: Kind, v: Value) -> Result<(), Error> {
    let x = xname(n)?;
    let ridx = eval(&x.ridx, c);
    let fidx = x.field.as_ref().map(|(_, i)| eval(i, c));
    let recs = c.state.xavps.entry(x.root.clone()).or_default();
    let before = recs.len();
    match (&x.field, v) {
        (None, Value::Null) => match ridx {
            Ix::All => recs.clear(),
            Ix::None => {
                if !recs.is_empty() {
                    recs.remove(0);
                }
            }
            Ix::At(i) => {
                if let Some(p) = position(recs.len(), i) {
                    recs.remove(p);
                }
            }
        },
        (None, v) => {
            let rec = vec![(Vec::new(), v)];
            match (kind, ridx) {
                (Kind::Xavu, _) => {
                    recs.clear();
                    recs.push(rec);
                }
                (_, Ix::At(i)) => match position(recs.len(), i) {
                    Some(p) => recs[p] = rec, // position() checked the bound
                    None => return Err(rt(format!("no xavp record at index {i}"))),
                },
                _ => recs.insert(0, rec),
            }
        }
        (Some((f, _)), v) => {
            let target = match (kind, ridx) {
                (Kind::Xavu, _) => {
                    if recs.is_empty() {
                        recs.push(Vec::new());
                    }
                    0
                }
                // No root index: a new record (Kamailio's xavp_add_xavp_value) unless deleting.
                (_, Ix::None) if !v.is_null() => {
                    recs.insert(0, Vec::new());
                    0
                }
                (_, Ix::None) => 0,
                (_, Ix::At(i)) => position(recs.len(), i)
                    .ok_or_else(|| rt(format!("no xavp record at index {i}")))?,
                (_, Ix::All) => return Err(rt("cannot assign to all xavp records")),
            };
            let Some(rec) = recs.get_mut(target) else {
                return Ok(());
            };
            let positions: Vec<usize> = rec
                .iter()
                .enumerate()
                .filter(|(_, (k, _))| same(kind, k, f))
                .map(|(i, _)| i)
                .collect();
            match (v, fidx.unwrap_or(Ix::None)) {
                (Value::Null, Ix::All) => rec.retain(|(k, _)| !same(kind, k, f)),
                (Value::Null, Ix::None) if kind == Kind::Xavu => {
                    rec.retain(|(k, _)| !same(kind, k, f))
                }
                (Value::Null, Ix::None) => {
                    if let Some(p) = positions.first() {
                        rec.remove(*p);
                    }
                }
                (Value::Null, Ix::At(i)) => {
                    if let Some(p) = position(positions.len(), i).and_then(|p| positions.get(p)) {
                        rec.remove(*p);
                    }
                }
                (v, _) if kind == Kind::Xavu => {
                    rec.retain(|(k, _)| !same(kind, k, f));
                    rec.insert(0, (f.clone(), v));
                }
                (v, Ix::At(i)) => match position(positions.len(), i).and_then(|p| positions.get(p))
                {
                    Some(p) => rec[*p].1 = v, // index taken from rec itself
                    None => return Err(rt(format!("no xavp field value at index {i}"))),
                },
                (v, Ix::All) => {
                    rec.retain(|(k, _)| !same(kind, k, f));
                    rec.insert(0, (f.clone(), v));
                }
                (v, Ix::None) => rec.insert(0, (f.clone(), v)),
            }
        }
    }
    let created = recs.len() > before;
    if recs.is_empty() {
        c.state.xavps.remove(&x.root);
    }
    if created && kind == Kind::Xavi {
        super::xavops::remember_xavi_name(c, &x.shown);
    }
    Ok(())
}

/// Field names match exactly, or without case for `$xavi`.
fn same(kind: Kind, a: &[u8], b: &[u8]) -> bool {
    if kind == Kind::Xavi {
        a.eq_ignore_ascii_case(b)
    } else {
        a == b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn init_values_and_names() {
        let cases: &[(&str, Option<(&str, Value)>)] = &[
            ("a=i:5", Some(("a", Value::Int(5)))),
            ("b = s:x y", Some(("b", Value::str("x y")))),
            ("c=5", None),
            ("=i:1", None),
            ("d=i:x", None),
            ("nothing", None),
        ];
        for (spec, want) in cases {
            let got = parse_init(spec).ok();
            assert_eq!(
                got.as_ref().map(|(n, v)| (n.as_str(), v.clone())),
                want.clone(),
                "{spec}"
            );
        }
        let reg = Registry::new();
        for (text, name, idx) in [
            ("r", "r", "None"),
            ("r[2]", "r", "At(2)"),
            ("r[*]", "r", "All"),
            ("r[-1]", "r", "At(-1)"),
        ] {
            let (n, i) = parse_part(text, &reg).unwrap();
            assert_eq!(n, name.as_bytes(), "{text}");
            assert_eq!(format!("{i:?}"), idx, "{text}");
        }
        for bad in ["", "[1]", "r[x]", "r[1"] {
            assert!(parse_part(bad, &reg).is_err(), "{bad}");
        }
        for (name, want) in [
            ("x", Some("x")),
            ("s:x", Some("x")),
            ("S:x", Some("x")),
            ("f.x", Some("x")),
            ("fr.x", Some("x")),
            ("i:12", Some("\0i:12")),
            ("12", Some("12")),
            ("t.x", Some("\0t.x")),
            ("tr.x", Some("\0t.x")),
            ("fu.x", Some("\0fu.x")),
            ("td.x", Some("\0td.x")),
            ("i:x", None),
            ("q:x", None),
            ("s:", None),
            ("g.x", None),
            ("zz.x", None),
            ("f.", None),
            ("f.a[1]", None),
        ] {
            assert_eq!(avp_key(name).ok().as_deref(), want, "{name}");
        }
        let sh = Shared::default();
        assert_eq!(sh.get(b"n"), Value::Int(0));
        assert_eq!(sh.increment(b"n"), 1);
        sh.set(b"s", Value::str("x"));
        assert_eq!(sh.increment(b"s"), 0);
    }
}
