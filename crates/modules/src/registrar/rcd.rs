//! `xavp_rcd` / `xavp_rcd_mask`: the details of the location records `save()`, `lookup()` and
//! `registered()` worked with, left for the script in `$xavp(<xavp_rcd>[0]=>…)`, as Kamailio's
//! `xavp_rcd_helper` leaves them.
//!
//! When Kamailio calls it: for every valid contact listed in the 200 reply that `save()` builds
//! (so after a REGISTER with several contacts the record holds the fields of all of them, the last
//! contact's first), for the contact `lookup()` puts in the R-URI (not for `lookup_to_dset()`
//! and not for the branches), and for the contact that made `registered()` true. The fields go
//! into the newest `$xavp(<xavp_rcd>)` record when there is one, else into a new record; each
//! call adds `ruid`, `received` (when not empty), `contact`, `expires` (seconds left, an integer)
//! and `path` (when not empty), each in front of the earlier ones.

use ferrosip_api::{Ctx, Value};

use super::RegConfig;
use crate::usrloc::store::UContact;

/// `xavp_rcd_mask` bit: leave out `ruid`.
pub const AVP_RCD_RUID: i64 = 1;
/// `xavp_rcd_mask` bit: leave out `contact`.
pub const AVP_RCD_CNT: i64 = 2;
/// `xavp_rcd_mask` bit: leave out `expires`.
pub const AVP_RCD_EXP: i64 = 4;
/// `xavp_rcd_mask` bit: leave out `received`.
pub const AVP_RCD_RCV: i64 = 8;
/// `xavp_rcd_mask` bit: leave out `path`.
pub const AVP_RCD_PATH: i64 = 16;

/// Adds the fields of `c` to the `xavp_rcd` record (nothing when the parameter is not set).
pub fn add(ctx: &mut Ctx<'_>, cfg: &RegConfig, c: &UContact, now: i64) {
    let Some(name) = cfg.xavp_rcd.as_ref() else {
        return;
    };
    let mask = cfg.xavp_rcd_mask;
    let recs = ctx.state.xavps.entry(name.clone()).or_default();
    // A root holding a plain value (`$xavp(rcd) = 1`) has no field list to extend.
    let usable =
        matches!(recs.first(), Some(r) if !matches!(r.as_slice(), [(k, _)] if k.is_empty()));
    if !usable {
        recs.insert(0, Vec::new());
    }
    let Some(rec) = recs.first_mut() else {
        return;
    };
    let mut put = |bit: i64, field: &str, v: Value| {
        if mask & bit == 0 {
            rec.insert(0, (field.as_bytes().to_vec(), v));
        }
    };
    put(AVP_RCD_RUID, "ruid", Value::str(c.ruid.as_str()));
    if !c.received.is_empty() {
        put(AVP_RCD_RCV, "received", Value::str(c.received.as_str()));
    }
    put(AVP_RCD_CNT, "contact", Value::str(c.uri.as_str()));
    put(AVP_RCD_EXP, "expires", Value::Int(c.expires - now));
    if !c.path.is_empty() {
        put(AVP_RCD_PATH, "path", Value::str(c.path.as_str()));
    }
}

/// [`add`] for every contact of `list` that is valid at `now` (the contacts `save()`'s reply
/// lists).
pub fn add_listed(ctx: &mut Ctx<'_>, cfg: &RegConfig, list: &[UContact], now: i64) {
    if cfg.xavp_rcd.is_none() {
        return;
    }
    for c in list.iter().filter(|c| c.is_valid(now)) {
        add(ctx, cfg, c, now);
    }
}
