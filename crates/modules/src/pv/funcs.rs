//! The pv module's script functions (Kamailio 6.0's `pv_admin.xml`, "Functions"): variable tests
//! (`pv_isset`, `pv_unset`, `typeof`, `not_empty`), the XAVP helpers (`xavp_rm`,
//! `xavp_child_seti`, `xavp_params_explode`, `xavp_copy`, `xavp_lshift`, `xavp_push_dst` …), the
//! list printers (`pv_xavp_print` …) and the `$var` ↔ XAVP copies. The list operations are in
//! [`super::xavops`].
//!
//! The static branch functions (`sbranch_*`) are in [`super::sbranch`]. `pv_evalx` parses its
//! second format at run time with the registry's [`FormatParser`]. `is_int` is the core's
//! (crates/script), as the cookbook lists it.

use std::sync::Arc;

use ferrosip_api::export::{FnExport, ParamKind as K};
use ferrosip_api::{Arg, Ctx, Error, FormatParser, RetCode, RouteMask, Value, VarNames};

use super::xavops::{self, XKind};

/// The function exports of the pv module.
pub fn functions() -> Vec<FnExport> {
    let any = RouteMask::ANY;
    let mut v = vec![
        FnExport::new(
            "pv_isset",
            &[K::Var],
            any,
            "true when the variable's value is not $null",
        )
        .with(|c, a| {
            let v = var(a, 0)?.get(c);
            Ok(RetCode::from_bool(!v.is_null()))
        }),
        FnExport::new(
            "pv_unset",
            &[K::Var],
            any,
            "assign $null to the variable (deletes an AVP/XAVP)",
        )
        .with(|c, a| match var(a, 0)?.set(c, Value::Null) {
            Ok(()) => Ok(RetCode::TRUE),
            Err(e) => {
                c.log_error(&format!("failed to unset variable: {e}"));
                Ok(RetCode::FALSE)
            }
        }),
        FnExport::new(
            "typeof",
            &[K::Var, K::Str],
            any,
            "true when the value's type is `int`, `str` or `null` (first letter decides)",
        )
        .with(|c, a| {
            let v = var(a, 0)?.get(c);
            let t = a.get(1).map(|x| x.bytes(c)).unwrap_or_default();
            Ok(RetCode::from_bool(match t.first() {
                Some(b'i' | b'I') => matches!(v, Value::Int(_)),
                Some(b'n' | b'N') => v.is_null(),
                Some(b's' | b'S') => matches!(v, Value::Str(_)),
                _ => false,
            }))
        }),
        FnExport::new(
            "not_empty",
            &[K::Var],
            any,
            "true when the value is a non-empty string",
        )
        .with(|c, a| {
            let v = var(a, 0)?.get(c);
            Ok(RetCode::from_bool(
                matches!(v, Value::Str(s) if !s.is_empty()),
            ))
        }),
    ];
    for (name, kind, doc) in [
        ("pv_xavp_print", XKind::Xavp, "log all XAVPs at L_INFO"),
        ("pv_xavu_print", XKind::Xavu, "log all XAVUs at L_INFO"),
        ("pv_xavi_print", XKind::Xavi, "log all XAVIs at L_INFO"),
    ] {
        v.push(FnExport::new(name, &[], any, doc).with(move |c, _| {
            xavops::print(c, kind);
            Ok(RetCode::TRUE)
        }));
    }
    for (name, kind, doc) in [
        ("xavp_rm", XKind::Xavp, "remove the newest $xavp(rname)"),
        ("xavi_rm", XKind::Xavi, "remove the newest $xavi(rname)"),
    ] {
        v.push(FnExport::new(name, &[K::Spve], any, doc).with(move |c, a| {
            let root = text(c, a, 0);
            xavops::rm(c, kind, &root);
            Ok(RetCode::TRUE)
        }));
    }
    for (name, kind, doc) in [
        (
            "xavp_child_rm",
            XKind::Xavp,
            "remove $xavp(rname=>cname) of the newest record",
        ),
        (
            "xavi_child_rm",
            XKind::Xavi,
            "remove $xavi(rname=>cname) of the newest record",
        ),
    ] {
        v.push(
            FnExport::new(name, &[K::Spve, K::Spve], any, doc).with(move |c, a| {
                let (root, child) = (text(c, a, 0), text(c, a, 1));
                xavops::child_rm(c, kind, &root, &child);
                Ok(RetCode::TRUE)
            }),
        );
    }
    for (name, kind, int, doc) in [
        (
            "xavp_child_seti",
            XKind::Xavp,
            true,
            "set $xavp(rname=>cname) to an integer",
        ),
        (
            "xavi_child_seti",
            XKind::Xavi,
            true,
            "set $xavi(rname=>cname) to an integer",
        ),
        (
            "xavp_child_sets",
            XKind::Xavp,
            false,
            "set $xavp(rname=>cname) to a string",
        ),
        (
            "xavi_child_sets",
            XKind::Xavi,
            false,
            "set $xavi(rname=>cname) to a string",
        ),
    ] {
        let third = if int { K::IntOrVar } else { K::Spve };
        v.push(
            FnExport::new(name, &[K::Spve, K::Spve, third], any, doc).with(move |c, a| {
                let (root, child) = (text(c, a, 0), text(c, a, 1));
                let val = if int {
                    match int_arg(c, a, 2) {
                        // Kamailio stores the value as a C `int` here.
                        Some(i) => Value::Int(i64::from(i as i32)),
                        None => return Ok(RetCode::FALSE),
                    }
                } else {
                    Value::Str(text(c, a, 2))
                };
                xavops::child_set(c, kind, &root, &child, val);
                Ok(RetCode::TRUE)
            }),
        );
    }
    v.extend(explode_implode());
    v.extend(list_ops());
    v.extend(var_copies());
    v.push(
        FnExport::new(
            "sbranch_set_ruri",
            &[],
            any,
            "R-URI, $du, q and branch flags from the static branch",
        )
        .with(|c, _| Ok(super::sbranch::set_ruri(c))),
    );
    v.push(
        FnExport::new(
            "sbranch_append",
            &[],
            any,
            "the static branch as a new branch",
        )
        .with(|c, _| Ok(super::sbranch::append(c))),
    );
    v.push(
        FnExport::new("sbranch_reset", &[], any, "clear the static branch")
            .with(|_, _| Ok(super::sbranch::reset())),
    );
    v.push(
        FnExport::new(
            "pv_evalx",
            &[K::VarW, K::Spve],
            any,
            "evaluate a format, then its result again as a format, into a variable",
        )
        // The second evaluation parses a format at run time: the fixup attaches a parser with
        // the registry's variable tables.
        .fixup_env(
            |args: &mut Vec<Arg>, env: &ferrosip_api::export::FixupEnv<'_>| {
                args.push(Arg::Custom(Arc::new(env.registry.format_parser())));
                Ok(())
            },
        )
        .with(evalx),
    );
    v
}

/// `pv_evalx(dst, fmt)`: `fmt` is printed, the text parsed as a format and printed again; the
/// result is stored as a string. A text that does not parse (an unknown variable) logs and
/// returns -1, as Kamailio's `pv_eval_str` failure does.
fn evalx(c: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let parser = match a.get(2) {
        Some(Arg::Custom(x)) => x
            .downcast_ref::<FormatParser>()
            .cloned()
            .ok_or_else(|| Error::Runtime("missing format parser".into()))?,
        _ => return Err(Error::Runtime("missing format parser".into())),
    };
    let Some(Arg::Var(dst)) = a.first() else {
        return Err(Error::Runtime("pv_evalx needs a variable".into()));
    };
    let first = text(c, a, 1);
    let fmt = match parser.parse(&String::from_utf8_lossy(&first)) {
        Ok(f) => f,
        Err(e) => {
            c.log_error(&format!(
                "cannot eval reparsed value of second parameter: {e}"
            ));
            return Ok(RetCode::FALSE);
        }
    };
    let out = fmt.render(c);
    if let Err(e) = dst.set(c, Value::Str(out)) {
        c.log_error(&format!("setting PV failed: {e}"));
        return Ok(RetCode::FALSE);
    }
    Ok(RetCode::TRUE)
}

fn explode_implode() -> Vec<FnExport> {
    let any = RouteMask::ANY;
    let explode = |c: &mut Ctx<'_>, kind, params: Vec<u8>, sep: &[u8], root: Vec<u8>| {
        let Some(&sep) = sep.first() else {
            return RetCode::FALSE;
        };
        RetCode::from_bool(xavops::params_explode(c, kind, &params, sep, &root))
    };
    let mut v = vec![
        FnExport::new(
            "xavp_params_explode",
            &[K::Spve, K::Spve],
            any,
            "`a=1;b=2` into the fields of a new $xavp(xname)",
        )
        .with(move |c, a| {
            let (p, x) = (text(c, a, 0), text(c, a, 1));
            Ok(explode(c, XKind::Xavp, p, b";", x))
        }),
        FnExport::new(
            "xavp_xparams_explode",
            &[K::Spve, K::Spve, K::Spve],
            any,
            "xavp_params_explode with another separator",
        )
        .with(move |c, a| {
            let (p, s, x) = (text(c, a, 0), text(c, a, 1), text(c, a, 2));
            Ok(explode(c, XKind::Xavp, p, &s, x))
        }),
        FnExport::new(
            "xavu_params_explode",
            &[K::Spve, K::Spve],
            any,
            "`a=1;b=2` into the fields of $xavu(xname)",
        )
        .with(move |c, a| {
            let (p, x) = (text(c, a, 0), text(c, a, 1));
            Ok(explode(c, XKind::Xavu, p, b";", x))
        }),
    ];
    for (name, kind, qval, doc) in [
        (
            "xavp_params_implode",
            XKind::Xavp,
            false,
            "the fields of $xavp(xname) as `a=1;b=2;` into a variable",
        ),
        (
            "xavp_params_implode_qval",
            XKind::Xavp,
            true,
            "xavp_params_implode with string values in double quotes",
        ),
        (
            "xavu_params_implode",
            XKind::Xavu,
            false,
            "the fields of $xavu(xname) as `a=1;b=2;` into a variable",
        ),
    ] {
        v.push(
            FnExport::new(name, &[K::Spve, K::VarW], any, doc).with(move |c, a| {
                let root = text(c, a, 0);
                let Some(out) = xavops::params_implode(c, kind, &root, qval) else {
                    return Ok(RetCode::FALSE);
                };
                match var(a, 1)?.set(c, Value::Str(out)) {
                    Ok(()) => Ok(RetCode::TRUE),
                    Err(e) => {
                        c.log_error(&format!("setting PV failed: {e}"));
                        Ok(RetCode::FALSE)
                    }
                }
            }),
        );
    }
    v.push(
        FnExport::new(
            "xavp_slist_explode",
            &[K::Spve, K::Spve, K::Spve, K::Spve],
            any,
            "tokens of a list into the fields `v` of a new $xavp(xname)",
        )
        .with(|c, a| {
            let (l, s, m, x) = (text(c, a, 0), text(c, a, 1), text(c, a, 2), text(c, a, 3));
            Ok(RetCode::from_bool(xavops::slist_explode(c, &l, &s, &m, &x)))
        }),
    );
    v
}

fn list_ops() -> Vec<FnExport> {
    let any = RouteMask::ANY;
    let copy = |c: &mut Ctx<'_>, a: &[Arg], with_dst: bool| -> Result<RetCode, Error> {
        let src = text(c, a, 0);
        let Some(sidx) = int_arg(c, a, 1) else {
            return Ok(RetCode::FALSE);
        };
        let dst = text(c, a, 2);
        let didx = if with_dst {
            match int_arg(c, a, 3) {
                Some(i) => Some(i),
                None => return Ok(RetCode::FALSE),
            }
        } else {
            None
        };
        match xavops::copy(c, &src, sidx, &dst, didx) {
            Ok(()) => Ok(RetCode::TRUE),
            Err(e) => {
                let what = match e {
                    xavops::CopyError::NoSource => {
                        format!("missing can not find source xavp [{}]", lossy(&src))
                    }
                    xavops::CopyError::Empty => "error cloning xavp".to_string(),
                    xavops::CopyError::NoDestination => format!(
                        "xavp_copy: missing can not find destination xavp [{}]",
                        lossy(&dst)
                    ),
                };
                c.log_error(&what);
                Ok(RetCode::FALSE)
            }
        }
    };
    vec![
        FnExport::new(
            "xavp_copy",
            &[K::Spve, K::IntOrVar, K::Spve],
            any,
            "append a copy of $xavp(src[idx]) to $xavp(dst)",
        )
        .with(move |c, a| copy(c, a, false)),
        FnExport::new(
            "xavp_copy",
            &[K::Spve, K::IntOrVar, K::Spve, K::IntOrVar],
            any,
            "replace $xavp(dst[didx]) with a copy of $xavp(src[idx])",
        )
        .with(move |c, a| copy(c, a, true)),
        FnExport::new(
            "xavp_lshift",
            &[K::Spve, K::IntOrVar],
            any,
            "rotate the $xavp(xname) records so that index idx comes first",
        )
        .with(|c, a| {
            let root = text(c, a, 0);
            let Some(idx) = int_arg(c, a, 1) else {
                return Ok(RetCode::FALSE);
            };
            Ok(if xavops::lshift(c, &root, idx) {
                RetCode::TRUE
            } else {
                RetCode(-2)
            })
        }),
        FnExport::new(
            "xavp_push_dst",
            &[K::Spve],
            RouteMask::REQUEST
                .or(RouteMask::BRANCH)
                .or(RouteMask::FAILURE),
            "R-URI, $du and send socket from the fields uri, dsturi, socket of $xavp(xname)",
        )
        .with(push_dst),
    ]
}

fn push_dst(c: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let root = text(c, a, 0);
    let Some([uri, dsturi, socket]) = xavops::dst_fields(c, &root) else {
        return Ok(RetCode::FALSE);
    };
    if let Some(u) = uri {
        c.state.new_uri = Some(u);
    }
    if let Some(d) = dsturi {
        c.state.dst_uri = Some(d);
    }
    if let Some(s) = socket {
        // An unknown socket is ignored, as Kamailio does.
        let want = String::from_utf8_lossy(&s).to_ascii_lowercase();
        if let Some(i) = c
            .server
            .sockets()
            .iter()
            .position(|x| x.socket_str().to_ascii_lowercase() == want)
        {
            c.state.force_socket = Some(i as u32);
        }
    }
    Ok(RetCode::TRUE)
}

/// `pv_var_to_xavp` / `pv_xavp_to_var`: they name `$var`s at run time, so their fixup appends the
/// registry's variable table to the arguments.
fn var_copies() -> Vec<FnExport> {
    let any = RouteMask::ANY;
    let attach = |args: &mut Vec<Arg>, env: &ferrosip_api::export::FixupEnv<'_>| {
        args.push(Arg::Custom(Arc::new(env.registry.var_names())));
        Ok(())
    };
    vec![
        FnExport::new(
            "pv_var_to_xavp",
            &[K::Spve, K::Spve],
            any,
            "copy $var(name) (or every $var with `*`) into the fields of $xavp(xname)",
        )
        .fixup_env(attach)
        .with(|c, a| {
            let names = table(a, 2)?;
            let (vname, xname) = (text(c, a, 0), text(c, a, 1));
            Ok(RetCode::from_bool(var_to_xavp(c, &names, &vname, &xname)))
        }),
        FnExport::new(
            "pv_xavp_to_var",
            &[K::Spve],
            any,
            "set a $var for every field of every $xavp(xname) record",
        )
        .fixup_env(attach)
        .with(|c, a| {
            let names = table(a, 1)?;
            let xname = text(c, a, 0);
            Ok(RetCode::from_bool(xavp_to_var(c, &names, &xname)))
        }),
    ]
}

fn var_to_xavp(c: &mut Ctx<'_>, names: &VarNames, vname: &[u8], xname: &[u8]) -> bool {
    let key = xavops::root_key(XKind::Xavp, xname);
    c.state.xavps.remove(&key);
    let field = |c: &Ctx<'_>, slot: usize| match c.worker.var(slot) {
        // A $var never set is Kamailio's variable without value: an empty string.
        Value::Null => Value::Str(Vec::new()),
        v => v.clone(),
    };
    if vname == b"*" {
        // Kamailio walks its variables newest first and adds each field in front: the record
        // ends up in declaration order. Unset and empty-string variables are skipped.
        let rec: Vec<(Vec<u8>, Value)> = names
            .all()
            .into_iter()
            .filter(|(_, n)| !n.starts_with('\0'))
            .filter_map(|(slot, n)| match field(c, slot) {
                Value::Str(s) if s.is_empty() => None,
                v => Some((n.into_bytes(), v)),
            })
            .collect();
        if !rec.is_empty() {
            c.state.xavps.entry(key).or_default().insert(0, rec);
        }
        return true;
    }
    let name = String::from_utf8_lossy(vname).into_owned();
    let Some(slot) = names.find(&name) else {
        c.log_error(&format!("script var [{name}] not found"));
        return false;
    };
    let v = field(c, slot);
    c.state
        .xavps
        .entry(key)
        .or_default()
        .insert(0, vec![(vname.to_vec(), v)]);
    true
}

fn xavp_to_var(c: &mut Ctx<'_>, names: &VarNames, xname: &[u8]) -> bool {
    let Some(recs) = c
        .state
        .xavps
        .get(&xavops::root_key(XKind::Xavp, xname))
        .cloned()
    else {
        c.log_error(&format!("xavp [{}] not found", lossy(xname)));
        return false;
    };
    for rec in recs {
        if matches!(rec.as_slice(), [(k, _)] if k.is_empty()) {
            c.log_error(&format!("{} not xavp type?", lossy(xname)));
            return false;
        }
        for (k, v) in rec {
            if v.is_null() {
                c.log_error("avp type not STR nor INT");
                return false;
            }
            let slot = names.slot(&String::from_utf8_lossy(&k));
            c.worker.set_var(slot, v);
        }
    }
    true
}

// ---- argument helpers ----

fn var(a: &[Arg], i: usize) -> Result<&ferrosip_api::PvSpec, Error> {
    match a.get(i) {
        Some(Arg::Var(p)) => Ok(p),
        _ => Err(Error::Runtime(format!(
            "parameter {} is not a variable",
            i + 1
        ))),
    }
}

fn text(c: &mut Ctx<'_>, a: &[Arg], i: usize) -> Vec<u8> {
    a.get(i).map(|x| x.bytes(c)).unwrap_or_default()
}

/// An integer parameter; a value that is not a number is logged and yields `None` (the
/// function then returns -1, as Kamailio's `fixup_get_ivalue` failures do).
fn int_arg(c: &mut Ctx<'_>, a: &[Arg], i: usize) -> Option<i64> {
    match a.get(i).map(|x| x.int(c)) {
        Some(Ok(v)) => Some(v),
        Some(Err(e)) => {
            c.log_error(&format!("failed to get the value: {e}"));
            None
        }
        None => None,
    }
}

fn table(a: &[Arg], i: usize) -> Result<VarNames, Error> {
    match a.get(i) {
        Some(Arg::Custom(x)) => x
            .downcast_ref::<VarNames>()
            .cloned()
            .ok_or_else(|| Error::Runtime("missing variable table".into())),
        _ => Err(Error::Runtime("missing variable table".into())),
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
