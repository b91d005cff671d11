//! `xavp_cfg`: per-request registrar settings the script leaves in `$xavp(<xavp_cfg>=>…)`, read
//! as Kamailio's `xavp_get_child_with_ival`/`_sval` read them: only the newest record of that
//! XAVP counts, and in it the newest field of the name, and only when the field holds the kind
//! of value asked for (an integer for `max_contacts`, `q`, `expires`, `rlf_bflags`; a string for
//! `match_callid`, `match_received`, `match_contact`, `socket`). Anything else counts as absent.
//!
//! Who reads what:
//! - `save()`: `max_contacts` (instead of the modparam; 0 or less means no limit), `q` (0–1000,
//!   instead of the contact's `q` and `default_q`; another value fails every contact with
//!   "Invalid q param in contact"), `expires` (0 or more, instead of the contact's and the
//!   header's; no `expires_range` variation, still bounded by `min_expires`/`max_expires`),
//!   `socket` (only with `sock_flag` set and no `sock_hdr_name`, see `sockhdr.rs`);
//! - `registered()` with match flags: 1 `match_callid`, 2 `match_received`, 4 `match_contact`,
//!   compared byte for byte with the stored Call-ID, received address and contact URI;
//! - `lookup()` with `lookup_filter_mode` bit 1: `rlf_bflags`.

use ferrosip_api::{Ctx, Value};

use super::RegConfig;

/// The newest field `name` of the newest `$xavp(<xavp_cfg>)` record, when the parameter is set.
fn child<'a>(ctx: &'a Ctx<'_>, cfg: &RegConfig, name: &str) -> Option<&'a Value> {
    let root = cfg.xavp_cfg.as_ref()?;
    let rec = ctx.state.xavps.get(root)?.first()?;
    // A root holding a plain value (`$xavp(reg) = 1`) has no fields (Kamailio: not an XAVP list).
    if matches!(rec.as_slice(), [(k, _)] if k.is_empty()) {
        return None;
    }
    rec.iter()
        .find(|(k, _)| k.as_slice() == name.as_bytes())
        .map(|(_, v)| v)
}

/// An integer field (Kamailio's `xavp_get_child_with_ival`).
pub fn int(ctx: &Ctx<'_>, cfg: &RegConfig, name: &str) -> Option<i64> {
    match child(ctx, cfg, name)? {
        Value::Int(i) => Some(*i),
        _ => None,
    }
}

/// A non-empty string field (Kamailio's `xavp_get_child_with_sval` with the length check its
/// callers make).
pub fn text(ctx: &Ctx<'_>, cfg: &RegConfig, name: &str) -> Option<Vec<u8>> {
    match child(ctx, cfg, name)? {
        Value::Str(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// `registered()` match flag: compare the Call-ID with `match_callid`.
pub const MATCH_CALLID: i64 = 1;
/// `registered()` match flag: compare the received address with `match_received`.
pub const MATCH_RECEIVED: i64 = 2;
/// `registered()` match flag: compare the contact URI with `match_contact`.
pub const MATCH_CONTACT: i64 = 4;

/// The values `registered()` compares with, per its match flags.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Match {
    /// `match_callid`.
    pub callid: Option<Vec<u8>>,
    /// `match_received`.
    pub received: Option<Vec<u8>>,
    /// `match_contact`.
    pub contact: Option<Vec<u8>>,
}

impl Match {
    /// Reads the values the flags ask for.
    pub fn read(ctx: &Ctx<'_>, cfg: &RegConfig, flags: i64) -> Match {
        let get = |bit: i64, name: &str| {
            if flags & bit != 0 {
                text(ctx, cfg, name)
            } else {
                None
            }
        };
        Match {
            callid: get(MATCH_CALLID, "match_callid"),
            received: get(MATCH_RECEIVED, "match_received"),
            contact: get(MATCH_CONTACT, "match_contact"),
        }
    }

    /// True when the contact's Call-ID, received address and URI equal the values set.
    pub fn accepts(&self, callid: &str, received: &str, uri: &str) -> bool {
        let ok = |want: &Option<Vec<u8>>, have: &str| {
            want.as_ref()
                .is_none_or(|w| w.as_slice() == have.as_bytes())
        };
        ok(&self.callid, callid) && ok(&self.received, received) && ok(&self.contact, uri)
    }
}
