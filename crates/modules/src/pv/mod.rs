//! The `pv` module: Kamailio's pseudo-variables (`$ru`, `$fu`, `$hdr(name)`, `$xavp(a=>b)` …) and the
//! transformation classes `s`, `uri`, `param`, `nameaddr`, `tobody`, `line`, `urialias`, `val` and
//! `num`.
//!
//! Layout: [`msgpv`] (request line, reply status, From/To, headers, body, auth), [`netpv`]
//! (network, flags, branches, time, escapes, misc), [`containers`] (`$var` family, `$xavp` family,
//! `$shv`), [`trans_s`] (`{s.*}`), [`trans_misc`] (the other classes), [`uriops`] (URI parts and
//! rewrites shared by PVs and transformations), [`codec`] (digests, base64, base58 …),
//! [`timefmt`] (libc local time and `strftime`), [`funcs`] (the script functions:
//! `pv_isset`, `xavp_*` …) over [`xavops`] (XAVP list operations and printers).
//!
//! `$snd()`/`$sndto()`/`$sndfrom()` read `MsgState::sending` (set by the server while
//! onsend_route runs), `$rcv()`/`$recv()` read `MsgState::received` (event_route[core:msg-received]);
//! both are `$null` elsewhere, as in Kamailio.
//!
//! `$stat(name)` reads the statistics registry (`InitCtx::stats`), `$Au`/`$AU` the credentials
//! the auth module marked. Names that need data the context does not carry (`$mbu`, `$ruid` …) are
//! declared refused (`ModuleExports::refused_pvs`), so a config using them, with or without a
//! name, is refused with the reason. Socket PVs (`$fs $fsn $Rn $RAi $RAp $Ras`) read the server's
//! socket list (`Server::sockets`) and fail when the server gives none. Local time
//! (`$time()`, `$timef()`, `$Tf`, `{s.ftime}`) follows the host's zone through libc, as Kamailio's.
//! Behaviour notes and the 5.6/6.0 differences are in `docs/pv.md`.

pub mod codec;
pub mod containers;
pub mod funcs;
pub mod msgpv;
pub mod netpv;
pub mod sbranch;
pub mod timefmt;
pub mod trans_misc;
pub mod trans_s;
pub mod uriops;
pub mod xavops;

use std::sync::Arc;

use ferrosip_api::export::{PvParse, PvSet};
use ferrosip_api::pv::{PvInner, PvName};
use ferrosip_api::{
    store, Ctx, Error, ModParam, ModParamType, ModuleExports, PvExport, PvNameRule, Value,
};

/// The export table of the `pv` module.
pub fn exports() -> ModuleExports {
    let mut m = ModuleExports::new("pv");
    let shared = containers::Shared::default();
    // `$var` comes from the api's storage as is; `$avp` is wrapped in containers.rs.
    let mut pvs: Vec<PvExport> = store::var_avp_pvs()
        .into_iter()
        .filter(|p| p.name == "var")
        .collect();
    pvs.extend(msgpv::pvs());
    pvs.extend(netpv::pvs());
    pvs.extend(containers::pvs(&shared));
    // `$stat(name)` reads the shared statistics registry, reached at init.
    let stats: ferrosip_api::stats::StatsCell = Arc::default();
    pvs.push(ferrosip_api::stats::stat_pv(stats.clone()));
    m.pvs = pvs;
    m.refused_pvs = netpv::refused_names();
    m.functions = funcs::functions();
    m.transforms = vec![trans_s::export()];
    m.transforms.extend(trans_misc::exports());
    let init_shared = shared.clone();
    m.params = vec![
        ModParam::new(
            "shvset",
            ModParamType::Str,
            "initial value of a shared variable: `name=i:1` or `name=s:text`",
        )
        .check(|v| match v {
            ferrosip_api::ModValue::Str(s) => containers::parse_init(s).map(|_| ()),
            ferrosip_api::ModValue::Int(_) => Err("needs a string".into()),
        }),
        ModParam {
            implemented: false,
            ..ModParam::new(
                "varset",
                ModParamType::Str,
                "initial value of a $var in every worker (not implemented yet)",
            )
        },
        ModParam {
            implemented: false,
            ..ModParam::new(
                "avp_aliases",
                ModParamType::Str,
                "AVP name aliases (removed from Kamailio; refused)",
            )
        },
    ];
    m.init = Some(Arc::new(move |ictx| {
        let _ = stats.set(ictx.stats());
        for (name, v) in ictx.modparams() {
            if *name == "shvset" {
                if let ferrosip_api::ModValue::Str(s) = v {
                    let (n, val) = containers::parse_init(s).map_err(Error::Config)?;
                    init_shared.set(n.as_bytes(), val);
                }
            }
        }
        Ok(())
    }));
    m
}

/// A read-only PV without inner name.
pub(crate) fn pv(
    name: &'static str,
    doc: &'static str,
    get: impl Fn(&mut Ctx<'_>, &PvName) -> Result<Value, Error> + Send + Sync + 'static,
) -> PvExport {
    PvExport {
        name,
        doc,
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(get),
        set: None,
    }
}

/// Adds a setter.
pub(crate) fn writable(
    mut p: PvExport,
    set: impl Fn(&mut Ctx<'_>, &PvName, Value) -> Result<(), Error> + Send + Sync + 'static,
) -> PvExport {
    let s: PvSet = Arc::new(set);
    p.set = Some(s);
    p
}

/// Requires an inner name, parsed by `parse`.
pub(crate) fn named(
    mut p: PvExport,
    rule: PvNameRule,
    parse: impl Fn(&str, &ferrosip_api::Registry) -> Result<PvInner, String> + Send + Sync + 'static,
) -> PvExport {
    let f: PvParse = Arc::new(parse);
    p.inner = rule;
    p.parse = Some(f);
    p
}

/// Marks the PV as taking `[n]`/`[*]`.
pub(crate) fn indexed(mut p: PvExport) -> PvExport {
    p.indexed = true;
    p
}

/// A string value.
pub(crate) fn s(b: impl AsRef<[u8]>) -> Value {
    Value::Str(b.as_ref().to_vec())
}

/// An inner name chosen from a fixed list; stored as its position.
pub(crate) fn keyword(
    list: &'static [&'static str],
) -> impl Fn(&str, &ferrosip_api::Registry) -> Result<PvInner, String> {
    move |inner: &str, _| {
        list.iter()
            .position(|k| *k == inner.trim())
            .map(|i| PvInner::Int(i as i64))
            .ok_or_else(|| {
                format!(
                    "unknown name `{inner}`; expected one of {}",
                    list.join(", ")
                )
            })
    }
}

/// The keyword position stored by [`keyword`].
pub(crate) fn kw(n: &PvName) -> i64 {
    match n.inner {
        PvInner::Int(i) => i,
        _ => -1,
    }
}

/// Inner name that may hold variables: literal, or a format rendered per message.
pub(crate) fn dyn_name(inner: &str, reg: &ferrosip_api::Registry) -> Result<PvInner, String> {
    if inner.is_empty() {
        return Err("empty name".into());
    }
    if inner.contains('$') {
        return Ok(PvInner::Fmt(reg.parse_format(inner)?));
    }
    Ok(PvInner::Str(inner.as_bytes().to_vec()))
}

/// An error while reading a PV (logged by the caller; the value reads as `<null>`).
pub(crate) fn rt(msg: impl std::fmt::Display) -> Error {
    Error::Runtime(msg.to_string())
}
