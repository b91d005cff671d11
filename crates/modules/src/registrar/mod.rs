//! Kamailio's `registrar` module: `save` (REGISTER processing and the 200 with the contact list),
//! `lookup` (R-URI, `$du` and branches from the location table), `registered` (with match and
//! action flags), `unregister` and `reg_send_reply`, over usrloc's [`UlApi`] taken at init
//! (Kamailio's `load_ul_api`); `lookup_xavp`/`reg_from_user` in [`regxavp`], `add_sock_hdr` in
//! [`sockhdr`].
//!
//! Replies are sent statelessly the way `sl` sends them (same builder, to-tag, `Server:` and
//! `Warning:` headers), with the headers Kamailio's registrar adds (`Contact` with `expires=` per
//! binding, `Path`, `Unsupported`, `Min-Expires`, `P-Registrar-Error`, `Retry-After`) after any
//! header added by `append_to_reply`. sl's reply counters are not updated (sl's state is private
//! to sl).
//!
//! Refused at load (docs/modules-registrar.md): outbound (`outbound_mode` other than 0),
//! `event_callback`, `flow_timer`. `xavp_rcd` is in [`rcd`], `xavp_cfg`
//! in [`xcfg`], `sock_flag`/`sock_hdr_name` in [`sockhdr`].

pub mod contact;
pub mod expired;
pub mod rcd;
pub mod regxavp;
pub mod save;
pub mod sockhdr;
pub mod ulc;
pub mod xcfg;

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{FnExport, ModParam, ModParamType, ParamKind as K};
use ferrosip_api::{Arg, Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Stat, StatMode};

use crate::usrloc::UlApi;

/// registrar's frozen modparams (Kamailio's defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegConfig {
    /// `default_expires`.
    pub default_expires: i64,
    /// `default_expires_range` (percent).
    pub default_expires_range: i64,
    /// `expires_range` (percent).
    pub expires_range: i64,
    /// `min_expires`.
    pub min_expires: i64,
    /// `min_expires_mode`: 1 refuses lower values with 423 instead of raising them.
    pub min_expires_mode: bool,
    /// `max_expires` (0 = no limit).
    pub max_expires: i64,
    /// `max_contacts` (0 = no limit).
    pub max_contacts: usize,
    /// `retry_after` (0 = no header).
    pub retry_after: i64,
    /// `case_sensitive`.
    pub case_sensitive: bool,
    /// `default_q` (×1000, -1 = unspecified).
    pub default_q: i32,
    /// `append_branches`.
    pub append_branches: bool,
    /// `use_expired_contacts`.
    pub use_expired_contacts: bool,
    /// `realm_prefix`.
    pub realm_prefix: String,
    /// `received_param`.
    pub received_param: String,
    /// `received_avp`: AVP name.
    pub received_avp: Option<Vec<u8>>,
    /// `method_filtering`.
    pub method_filtering: bool,
    /// `use_path`.
    pub use_path: bool,
    /// `path_mode`: 0 off, 1 lazy, 2 strict.
    pub path_mode: i64,
    /// `path_use_received`.
    pub path_use_received: bool,
    /// `path_check_local`: `lookup()` skips a first Path hop that is ours.
    pub path_check_local: bool,
    /// `gruu_enabled`.
    pub gruu_enabled: bool,
    /// `xavp_rcd`: name of the XAVP that receives the location record details (`None` = off).
    pub xavp_rcd: Option<Vec<u8>>,
    /// `xavp_rcd_mask`: fields left out of it ([`rcd::AVP_RCD_RUID`] …).
    pub xavp_rcd_mask: i64,
    /// `xavp_cfg`: name of the XAVP with per-request settings ([`xcfg`]; `None` = off).
    pub xavp_cfg: Option<Vec<u8>>,
    /// `sock_flag`: message flag index that makes `save()` take the socket from
    /// `sock_hdr_name` or `xavp_cfg` ([`sockhdr::socket_override`]); `None` when unset or reset
    /// at init as Kamailio resets it (neither source configured).
    pub sock_flag: Option<u32>,
    /// `sock_hdr_name` (`None` when unset or reset).
    pub sock_hdr_name: Option<Vec<u8>>,
    /// `lookup_filter_mode`: bit 1 filters `lookup()`'s contacts by `xavp_cfg`'s `rlf_bflags`,
    /// bit 2 drops those whose TCP/TLS/WS connection has closed.
    pub lookup_filter_mode: i64,
    /// sl's reply API (Kamailio's `slb`): registrar's replies are sl's, counted in its statistics.
    pub sl: crate::sl::SlReply,
}

impl Default for RegConfig {
    fn default() -> RegConfig {
        RegConfig {
            default_expires: 3600,
            default_expires_range: 0,
            expires_range: 0,
            min_expires: 60,
            min_expires_mode: false,
            max_expires: 0,
            max_contacts: 0,
            retry_after: 0,
            case_sensitive: false,
            default_q: -1,
            append_branches: true,
            use_expired_contacts: false,
            realm_prefix: String::new(),
            received_param: "received".into(),
            received_avp: None,
            method_filtering: false,
            use_path: false,
            path_mode: 2,
            path_use_received: false,
            path_check_local: false,
            gruu_enabled: true,
            xavp_rcd: None,
            xavp_rcd_mask: 0,
            xavp_cfg: None,
            sock_flag: None,
            sock_hdr_name: None,
            lookup_filter_mode: 0,
            sl: crate::sl::SlReply::default(),
        }
    }
}

/// Module state: the config and usrloc's API, set at init.
#[derive(Debug, Default)]
pub struct Registrar {
    config: OnceLock<RegConfig>,
    ul: OnceLock<Arc<UlApi>>,
    stats: OnceLock<RegStats>,
}

/// `registrar:accepted_regs` and `registrar:rejected_regs`: REGISTERs `save` stored (or
/// unregistered) and refused with an error reply.
#[derive(Debug)]
pub(crate) struct RegStats {
    pub(crate) accepted: Arc<Stat>,
    pub(crate) rejected: Arc<Stat>,
}

impl Registrar {
    /// The counters, once init has run with a statistics registry.
    pub(crate) fn stats(&self) -> Option<&RegStats> {
        self.stats.get()
    }

    /// Kamailio's `domain_fixup`: the table named by a constant is created at load.
    fn table_fixup(&self, args: &mut [Arg]) -> Result<(), String> {
        table_fixup(args)?;
        if let (Some(Arg::Str(t)), Some(ul)) = (args.first(), self.ul.get()) {
            ul.register_udomain(&String::from_utf8_lossy(t));
        }
        Ok(())
    }

    fn parts(&self) -> Result<(&RegConfig, &UlApi), Error> {
        match (self.config.get(), self.ul.get()) {
            (Some(c), Some(u)) => Ok((c, u.as_ref())),
            _ => Err(Error::Runtime("registrar not initialised".into())),
        }
    }
}

/// The `registrar` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(Registrar::default());
    let mut m = ModuleExports::new("registrar");
    let save_routes = RouteMask::REQUEST
        .or(RouteMask::FAILURE)
        .or(RouteMask::ONREPLY);
    let lookup_routes = RouteMask::REQUEST.or(RouteMask::FAILURE);
    let f = |name,
             params: &[K],
             routes,
             doc,
             h: fn(&Registrar, &mut Ctx<'_>, &[Arg]) -> Result<RetCode, Error>| {
        let s = Arc::clone(&st);
        FnExport::new(name, params, routes, doc).with(move |ctx, a| h(&s, ctx, a))
    };
    // the fixups create the table (Kamailio's domain_fixup → register_udomain)
    let fx = |save: bool| {
        let s = Arc::clone(&st);
        move |args: &mut [Arg]| {
            if save {
                save_fixup(args)?;
            }
            s.table_fixup(args)
        }
    };
    m.functions = vec![
        f(
            "save",
            &[K::Str],
            save_routes,
            "store the REGISTER's contacts and reply",
            save::w_save,
        )
        .fixup(fx(true)),
        f(
            "save",
            &[K::Str, K::IntOrVar],
            save_routes,
            "save with flags",
            save::w_save,
        )
        .fixup(fx(true)),
        f(
            "save",
            &[K::Str, K::IntOrVar, K::Spve],
            save_routes,
            "save with flags for another AoR",
            save::w_save,
        )
        .fixup(fx(true)),
        f(
            "lookup",
            &[K::Str],
            lookup_routes,
            "R-URI, $du and branches from the location table",
            save::w_lookup,
        )
        .fixup(fx(false)),
        f(
            "lookup",
            &[K::Str, K::Spve],
            lookup_routes,
            "lookup of another AoR",
            save::w_lookup,
        )
        .fixup(fx(false)),
        f(
            "registered",
            &[K::Str],
            RouteMask::ANY,
            "true when the R-URI's AoR has a valid contact",
            save::w_registered,
        )
        .fixup(fx(false)),
        f(
            "registered",
            &[K::Str, K::Spve],
            RouteMask::ANY,
            "registered for another AoR",
            save::w_registered,
        )
        .fixup(fx(false)),
        f(
            "unregister",
            &[K::Str, K::Spve],
            RouteMask::ANY,
            "remove an AoR's contacts",
            save::w_unregister,
        )
        .fixup(fx(false)),
        f(
            "unregister",
            &[K::Str, K::Spve, K::Spve],
            RouteMask::ANY,
            "remove one contact by ruid",
            save::w_unregister,
        )
        .fixup(fx(false)),
        f(
            "reg_send_reply",
            &[],
            lookup_routes,
            "send the reply prepared by save(…, 0x12)",
            save::w_send_reply,
        ),
        f(
            "registered",
            &[K::Str, K::Spve, K::IntOrVar],
            RouteMask::ANY,
            "registered with match flags (1 Call-ID, 2 received, 4 contact, values from xavp_cfg)",
            save::w_registered,
        )
        .fixup(fx(false)),
        f(
            "registered",
            &[K::Str, K::Spve, K::IntOrVar, K::IntOrVar],
            RouteMask::ANY,
            "registered with match flags and action flags (1 contact xavp, 2 no xavp_rcd)",
            save::w_registered,
        )
        .fixup(fx(false)),
        f(
            "lookup_to_dset",
            &[K::Str],
            lookup_routes,
            "contacts as branches, R-URI unchanged",
            save::w_lookup_to_dset,
        )
        .fixup(fx(false)),
        f(
            "lookup_to_dset",
            &[K::Str, K::Spve],
            lookup_routes,
            "lookup_to_dset for another AoR",
            save::w_lookup_to_dset,
        )
        .fixup(fx(false)),
        f(
            "lookup_branches",
            &[K::Str],
            lookup_routes,
            "lookup of the R-URI and of every clean branch",
            save::w_lookup_branches,
        )
        .fixup(fx(false)),
        f(
            "lookup_xavp",
            &[K::Spve, K::Spve, K::Spve, K::Spve],
            RouteMask::ANY,
            "an AoR's record and contacts into two XAVPs (6.0; not in 5.6.3)",
            regxavp::w_lookup_xavp,
        ),
        f(
            "reg_from_user",
            &[K::Spve, K::Spve, K::IntOrVar],
            RouteMask::ANY,
            "true when the source address is one the AoR registered from (6.0; not in 5.6.3)",
            regxavp::w_reg_from_user,
        ),
        f(
            "add_sock_hdr",
            &[K::Spve],
            RouteMask::REQUEST,
            "add a header naming the receiving socket (proto:ip:port)",
            sockhdr::w_add_sock_hdr,
        ),
        f(
            "reg_fetch_contacts",
            &[K::Str, K::Spve, K::Str],
            lookup_routes,
            "copy an AoR's contacts into a $ulc profile",
            ulc::w_fetch,
        )
        .fixup(fx(false)),
        f(
            "reg_free_contacts",
            &[K::Str],
            lookup_routes,
            "drop a $ulc profile",
            ulc::w_free,
        ),
    ];
    m.params = params();
    m.pvs = vec![ulc::pv()];
    m.event_routes = vec![ferrosip_api::export::EventRouteExport {
        name: expired::ROUTE,
        doc: "a contact expired (usrloc's sweep removed it): $ulc(exp=>attr)",
    }];
    let si = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let ul = ictx.api::<UlApi>().ok_or_else(|| {
            Error::Init("registrar needs the usrloc module, loaded before it".into())
        })?;
        let mut c = RegConfig {
            sl: crate::sl::SlReply::bind(ictx, "registrar")?,
            ..RegConfig::default()
        };
        let mut sock_hdr: Option<Vec<u8>> = None;
        for (name, v) in ictx.modparams() {
            let int = match v {
                ModValue::Int(i) => *i,
                ModValue::Str(_) => 0,
            };
            let text = match v {
                ModValue::Str(s) => s.clone(),
                ModValue::Int(i) => i.to_string(),
            };
            match *name {
                "default_expires" => c.default_expires = int,
                "default_expires_range" => c.default_expires_range = int,
                "expires_range" => c.expires_range = int,
                "min_expires" => c.min_expires = int,
                "min_expires_mode" => c.min_expires_mode = int != 0,
                "max_expires" => c.max_expires = int,
                "max_contacts" => c.max_contacts = usize::try_from(int).unwrap_or(0),
                "retry_after" => c.retry_after = int,
                "case_sensitive" => c.case_sensitive = int != 0,
                "default_q" => c.default_q = i32::try_from(int).unwrap_or(-1),
                "append_branches" => c.append_branches = int != 0,
                "use_expired_contacts" => c.use_expired_contacts = int != 0,
                "realm_prefix" => c.realm_prefix = text,
                "received_param" => c.received_param = text,
                "received_avp" => c.received_avp = Some(avp_name(&text)?),
                "method_filtering" => c.method_filtering = int != 0,
                "use_path" => c.use_path = int != 0,
                "path_mode" => c.path_mode = int,
                "path_use_received" => c.path_use_received = int != 0,
                "path_check_local" => c.path_check_local = int != 0,
                "gruu_enabled" => c.gruu_enabled = int != 0,
                "xavp_rcd" => c.xavp_rcd = (!text.is_empty()).then(|| text.clone().into_bytes()),
                "xavp_rcd_mask" => c.xavp_rcd_mask = int,
                "xavp_cfg" => c.xavp_cfg = (!text.is_empty()).then(|| text.clone().into_bytes()),
                "sock_flag" => c.sock_flag = u32::try_from(int).ok(),
                "lookup_filter_mode" => c.lookup_filter_mode = int,
                "sock_hdr_name" => sock_hdr = Some(text.clone().into_bytes()),
                _ => {}
            }
        }
        // Kamailio's mod_init: the flag needs a source (the header, else xavp_cfg); an empty
        // header name or a missing flag disables both.
        match sock_hdr {
            Some(h) if !h.is_empty() && c.sock_flag.is_some() => c.sock_hdr_name = Some(h),
            Some(_) => c.sock_flag = None,
            None if c.xavp_cfg.is_some() => {}
            None => c.sock_flag = None,
        }
        si.config
            .set(c)
            .map_err(|_| Error::Init("registrar initialised twice".into()))?;
        // event_route[usrloc:contact-expired]: runs when the config has it (looked up per
        // sweep, once the program is known to the network).
        if let Some(net) = ictx.api::<ferrosip_api::NetworkApi>() {
            let ev = Arc::new(expired::Expired::new(Arc::clone(&net.0)));
            let ev2 = Arc::clone(&ev);
            ul.on_expired(crate::usrloc::ExpiredHook {
                wanted: Arc::new(move || ev.wanted()),
                run: Arc::new(move |list| ev2.run(list)),
            });
        }
        si.ul
            .set(ul)
            .map_err(|_| Error::Init("registrar initialised twice".into()))?;
        let stats = ictx.stats();
        let counter = |name: &str| stats.counter("registrar", name, "", StatMode::Resettable);
        let rs = RegStats {
            accepted: counter("accepted_regs")?,
            rejected: counter("rejected_regs")?,
        };
        // Kamailio exports these settings as statistics too (no reset).
        if let Some(c) = si.config.get() {
            let max_contacts = i64::try_from(c.max_contacts).unwrap_or(i64::MAX);
            for (name, v) in [
                ("max_expires", c.max_expires),
                ("max_contacts", max_contacts),
                ("default_expire", c.default_expires),
                ("default_expires_range", c.default_expires_range),
                ("expires_range", c.expires_range),
            ] {
                stats.computed("registrar", name, "", Arc::new(move || v as u64), None)?;
            }
        }
        si.stats
            .set(rs)
            .map_err(|_| Error::Init("registrar initialised twice".into()))?;
        Ok(())
    }));
    m
}

// ---- internals ----

/// Table names are constants (Kamailio's `domain_fixup`); [`Registrar::table_fixup`] also
/// creates the table.
fn table_fixup(args: &mut [Arg]) -> Result<(), String> {
    match args.first() {
        Some(Arg::Str(s)) if !s.is_empty() => Ok(()),
        _ => Err("the location table must be a non-empty constant".into()),
    }
}

fn save_fixup(args: &mut [Arg]) -> Result<(), String> {
    table_fixup(args)?;
    // Kamailio's save_fixup reads the flags with strno2int: decimal or `0x` hexadecimal
    // (`save("location", "0x02")`).
    if let Some(slot) = args.get_mut(1) {
        if let Arg::Str(s) = slot {
            let text = String::from_utf8_lossy(s).into_owned();
            let t = text.trim();
            let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
                Some(h) => i64::from_str_radix(h, 16).ok(),
                None => t.parse::<i64>().ok(),
            };
            *slot = Arg::Int(v.ok_or_else(|| format!("bad flags <{text}>"))?);
        }
    }
    if let Some(Arg::Int(f)) = args.get(1) {
        if *f < 0 || *f >= 32 {
            return Err(format!("invalid save flags {f} (0..31)"));
        }
    }
    Ok(())
}

/// `$avp(name)` / `$avp(s:name)` / `$avp(i:5)` / `$avp(f.name)` → the key the pv module stores
/// that AVP under (`pv::containers::avp_key`), so the script and the parameter name the same AVP.
fn avp_name(spec: &str) -> Result<Vec<u8>, Error> {
    let inner = spec
        .trim()
        .strip_prefix("$avp(")
        .and_then(|s| s.strip_suffix(')'))
        .ok_or_else(|| Error::Config(format!("registrar received_avp: `{spec}` is not an $avp")))?;
    crate::pv::containers::avp_key(inner)
        .map(String::into_bytes)
        .map_err(|e| Error::Config(format!("registrar received_avp: {e}")))
}

fn params() -> Vec<ModParam> {
    let int = |n: &'static str, doc: &'static str| ModParam::new(n, ModParamType::Int, doc);
    let s = |n: &'static str, doc: &'static str| ModParam::new(n, ModParamType::Str, doc);
    let refused = |n: &'static str, ty, doc: &'static str| ModParam {
        implemented: false,
        ..ModParam::new(n, ty, doc)
    };
    vec![
        int(
            "default_expires",
            "expires when the REGISTER gives none (3600)",
        ),
        int(
            "default_expires_range",
            "percent of random reduction of default_expires",
        ),
        int(
            "expires_range",
            "percent of random reduction of given expires",
        ),
        int("default_q", "q of contacts without one (-1 unspecified)"),
        int(
            "append_branches",
            "lookup appends the other contacts as branches (1)",
        ),
        int("case_sensitive", "user part of AoRs is case sensitive"),
        s("realm_prefix", "prefix stripped from the AoR domain"),
        int("min_expires", "lowest expires (60)"),
        int(
            "min_expires_mode",
            "1: reply 423 below min_expires instead of raising it",
        ),
        int("max_expires", "highest expires (0 = none)"),
        s(
            "received_param",
            "name of the Contact parameter for the received address",
        ),
        s("received_avp", "AVP holding the received address to store"),
        int("max_contacts", "contacts per AoR (0 = no limit)"),
        int("retry_after", "Retry-After seconds in 5xx replies"),
        int(
            "method_filtering",
            "lookup skips contacts that do not allow the method",
        ),
        int("use_path", "store Path headers"),
        int(
            "path_mode",
            "0 off, 1 lazy, 2 strict (420 without Supported: path)",
        )
        .check(|v| match v {
            ModValue::Int(0..=2) => Ok(()),
            _ => Err("must be 0, 1 or 2".into()),
        }),
        int(
            "path_use_received",
            "received of the first Path URI is stored as received",
        ),
int(
            "path_check_local",
            "1: lookup skips the first Path hop when it is ours (myself)",
        ),
        int(
            "gruu_enabled",
            "pub-gruu/temp-gruu in the reply when the UA supports gruu",
        ),
        int(
            "outbound_mode",
            "0 only: outbound (RFC 5626) is not supported yet",
        )
        .check(|v| match v {
            ModValue::Int(0) => Ok(()),
            _ => Err("outbound is not supported yet (only 0)".into()),
        }),
        int("regid_mode", "no effect with outbound_mode 0"),
        int("use_expired_contacts", "lookup also uses expired contacts"),
        int("contact_max_size", "longest contact URI (512)"),
        int("sock_mode", "0 only").check(|v| match v {
            ModValue::Int(0) => Ok(()),
            _ => Err("only 0 is supported".into()),
        }),
        int(
            "sock_flag",
            "message flag: save() takes the socket from sock_hdr_name or xavp_cfg's socket",
        )
        .check(|v| match v {
            ModValue::Int(-1..=31) => Ok(()),
            _ => Err("must be a message flag (0..31) or -1".into()),
        }),
        s(
            "sock_hdr_name",
            "header naming the socket (proto:ip:port) save() stores when sock_flag is set",
        ),
        s(
            "xavp_cfg",
            "XAVP with per-request settings: max_contacts, q, expires (save), match_callid, match_received, match_contact (registered)",
        ),
        s(
            "xavp_rcd",
            "XAVP that receives ruid, contact, expires, received, path after save/lookup/registered",
        ),
        int(
            "xavp_rcd_mask",
            "fields left out of xavp_rcd: 1 ruid, 2 contact, 4 expires, 8 received, 16 path",
        ),
        refused(
            "flow_timer",
            ModParamType::Int,
            "outbound flow timer: not yet",
        ),
        refused(
            "event_callback",
            ModParamType::Str,
            "KEMI callback: no KEMI",
        ),
        int(
            "lookup_filter_mode",
            "lookup() keeps: 1 contacts with a branch flag of xavp_cfg's rlf_bflags, 2 contacts whose TCP connection is open",
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn received_avp_names_are_the_pv_modules_keys() {
        let cases: &[(&str, Option<&str>)] = &[
            ("$avp(RECEIVED)", Some("RECEIVED")),
            (" $avp(s:rcv) ", Some("rcv")),
            ("$avp(f.rcv)", Some("rcv")),
            ("$avp(i:5)", Some("\0i:5")),
            ("$avp(t.r)", Some("\0t.r")),
            ("avp(x)", None),
            ("$avp()", None),
            ("$avp(g.x)", None),
            ("$avp(i:x)", None),
        ];
        for (spec, want) in cases {
            let got = avp_name(spec).ok();
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{spec}");
        }
    }
}
