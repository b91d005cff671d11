//! Record-Route insertion: `record_route`, `record_route_preset`,
//! `record_route_advertised_address`, `add_rr_param`, as edits with Kamailio's lump layout, and
//! `remove_record_route` (the anchors are tagged [`Tag::RecordRoute`]).

use ferrosip_api::route::RouteType;
use ferrosip_api::{Ctx, L_ERR};
use ferrosip_sipmsg::edit::{Anchor, At, Cond, EditError, Subst, Tag};
use ferrosip_sipmsg::{Scheme, Span, Uri};

use super::loose::{direction, Direction};
use super::{with_state, Config};

const RR_PREFIX_SIP: &[u8] = b"Record-Route: <sip:";
const RR_PREFIX_SIPS: &[u8] = b"Record-Route: <sips:";
const RR_LR: &[u8] = b";lr";
const RR_LR_FULL: &[u8] = b";lr=on";
const RR_FROMTAG: &[u8] = b";ftag=";
const RR_R2: &[u8] = b";r2=on";
const RR_TERM: &[u8] = b">\r\n";
const RR_TRANS: &[u8] = b";transport=";
/// Kamailio's `RR_PARAM_BUF_SIZE`.
const RR_PARAM_BUF_SIZE: usize = 512;

/// `record_route([params])` as the config calls it: 1, or -1 on failure or a second attempt.
pub fn w_record_route(ctx: &mut Ctx<'_>, c: &Config, params: Option<&[u8]>) -> i64 {
    if double_attempt(ctx) {
        return -1;
    }
    if record_route(ctx, c, params).is_err() {
        return -1;
    }
    mark_added(ctx);
    1
}

/// `record_route_preset(addr1[, addr2])`.
pub fn w_record_route_preset(
    ctx: &mut Ctx<'_>,
    c: &Config,
    addr1: &[u8],
    addr2: Option<&[u8]>,
) -> i64 {
    if double_attempt(ctx) {
        return -1;
    }
    if addr2.is_some() && c.double_rr == 0 {
        ctx.log_error("Attempt to double record-route while 'enable_double_rr' param is disabled");
        return -1;
    }
    if record_route_preset(ctx, c, addr1).is_err() {
        return -1;
    }
    if let Some(a2) = addr2 {
        if record_route_preset(ctx, c, a2).is_err() {
            return -1;
        }
    }
    mark_added(ctx);
    1
}

/// `record_route_advertised_address(addr)`.
pub fn w_record_route_advertised_address(ctx: &mut Ctx<'_>, c: &Config, addr: &[u8]) -> i64 {
    if double_attempt(ctx) {
        return -1;
    }
    if record_route_advertised(ctx, c, addr).is_err() {
        return -1;
    }
    mark_added(ctx);
    1
}

/// `add_rr_param(param)`: appended to the Record-Route header(s) already added, else kept for
/// the next one. 1 or -1.
pub fn add_rr_param(ctx: &mut Ctx<'_>, c: &Config, param: &[u8]) -> i64 {
    let tails = with_state(ctx, |s| s.param_tails.clone());
    if let Some(&first) = tails.first() {
        let Ok(p) = ctx.edits.insert(At::Next(first), param) else {
            ctx.log_error("failed to add lump");
            return -1;
        };
        let mut new_tails = vec![p];
        if c.double_rr != 0 {
            let Some(&second) = tails.get(1) else {
                ctx.log(-2, "failed to locate double RR lump");
                with_state(ctx, |s| s.param_tails[0] = p);
                return -1;
            };
            let Ok(p2) = ctx.edits.insert(At::Next(second), param) else {
                ctx.log_error("failed to add 2nd lump");
                return -1;
            };
            new_tails.push(p2);
        }
        with_state(ctx, |s| {
            for (slot, p) in s.param_tails.iter_mut().zip(new_tails) {
                *slot = p;
            }
        });
        return 1;
    }
    let ok = with_state(ctx, |s| {
        if s.param_buf.len() + param.len() > RR_PARAM_BUF_SIZE {
            return false;
        }
        s.param_buf.extend_from_slice(param);
        true
    });
    if !ok {
        ctx.log_error("maximum size of rr_param_buf exceeded");
        return -1;
    }
    1
}

/// `remove_record_route()`: withdraws what was recorded at the Record-Route anchors of this
/// message, as Kamailio frees the lumps of its `HDR_RECORDROUTE_T` anchors. Always 1.
///
/// Kamailio's quirks, kept (verified against 5.6.3): every Record-Route function puts the end of
/// each header (`;lr;ftag=…>` and the parameters, `;lr>` for `record_route_preset()`) on a second
/// anchor of another type, which stays — the forwarded request keeps a line with that end, and
/// `add_rr_param()` still extends it. A later `record_route()` still counts as a second attempt
/// (the "added" mark stays).
pub fn remove_record_route(ctx: &mut Ctx<'_>) -> i64 {
    ctx.edits.withdraw(Tag::RecordRoute);
    1
}

// ---- internals ----

/// An anchor at the first header for a Record-Route piece (tagged, so
/// [`remove_record_route`] can withdraw it — also in a failure_route, where the edits are
/// tm's copy and this module's per-message state is new).
fn rr_anchor(e: &mut ferrosip_sipmsg::edit::Edits, first: usize) -> Result<Anchor, EditError> {
    e.anchor_tagged(first, Tag::RecordRoute)
}

/// Why an insertion failed (already logged).
#[derive(Debug)]
struct Failed;

impl From<EditError> for Failed {
    fn from(_: EditError) -> Failed {
        Failed
    }
}

fn double_attempt(ctx: &mut Ctx<'_>) -> bool {
    if with_state(ctx, |s| s.rr_added) {
        ctx.log_error("Double attempt to record-route");
        return true;
    }
    false
}

/// `FL_RR_ADDED` is not set in branch_route (each branch may record-route).
fn mark_added(ctx: &mut Ctx<'_>) {
    if ctx.route_type != RouteType::Branch {
        with_state(ctx, |s| s.rr_added = true);
    }
}

fn record_route(ctx: &mut Ctx<'_>, c: &Config, params: Option<&[u8]>) -> Result<(), Failed> {
    let user = username(ctx, c)?;
    let tag = if c.append_fromtag {
        Some(dialog_tag(ctx)?)
    } else {
        None
    };
    let sips = !c.ignore_sips && ruri_is_sips(ctx);
    let first = first_header(ctx)?;
    let params = params.unwrap_or_default();
    let pbuf = with_state(ctx, |s| s.param_buf.clone());
    let cond = double_cond(c, Cond::IfDiffRealms);
    let mut tails = Vec::new();
    let (rcv, snd) = if c.sockname_mode {
        (Subst::RcvAllEx, Subst::SndAllEx)
    } else {
        (Subst::RcvAll, Subst::SndAll)
    };
    let mut suffix = Vec::new();
    suffix.extend_from_slice(if c.full_lr { RR_LR_FULL } else { RR_LR });
    if let Some(t) = tag.as_deref().filter(|t| !t.is_empty()) {
        suffix.extend_from_slice(RR_FROMTAG);
        suffix.extend_from_slice(t);
    }
    suffix.extend_from_slice(params);
    let prefix = prefix(sips, &user);
    for (inbound, subst) in [(false, snd), (true, rcv)] {
        if !inbound && c.double_rr == 0 {
            continue;
        }
        let e = &mut ctx.edits;
        let (l, l2) = (rr_anchor(e, first)?, e.anchor(first)?);
        let (at_l, at_l2) = if inbound {
            (At::After(l), At::Before(l2))
        } else {
            let c1 = e.insert_cond(At::After(l), cond)?;
            let c2 = e.insert_cond(At::Before(l2), cond)?;
            (At::Next(c1), At::Next(c2))
        };
        let p = e.insert(at_l, &prefix)?;
        let p = e.insert_subst(At::Next(p), subst)?;
        if c.double_rr != 0 {
            let p = e.insert_cond(At::Next(p), cond)?;
            e.insert(At::Next(p), RR_R2)?;
        }
        let mut s = e.insert(at_l2, &suffix)?;
        if !pbuf.is_empty() {
            s = e.insert(At::Next(s), &pbuf)?;
        }
        e.insert(At::Next(s), RR_TERM)?;
        tails.push(s);
    }
    with_state(ctx, |st| {
        st.param_buf.clear();
        st.param_tails = tails;
    });
    Ok(())
}

fn record_route_preset(ctx: &mut Ctx<'_>, c: &Config, data: &[u8]) -> Result<(), Failed> {
    let sips = !c.ignore_sips && ruri_is_sips(ctx);
    let user = username(ctx, c)?;
    // Unlike record_route(), always the From tag (Kamailio does not look at the direction here).
    let ftag = if c.append_fromtag {
        match ctx.msg.from() {
            Ok(f) => Some(
                f.tag
                    .map(|t| t.of(ctx.msg.buf()).to_vec())
                    .unwrap_or_default(),
            ),
            Err(_) => {
                ctx.log_error("From parsing failed");
                return Err(Failed);
            }
        }
    } else {
        None
    };
    let pbuf = with_state(ctx, |s| s.param_buf.clone());
    let first = first_header(ctx)?;
    let mut hdr = prefix(sips, &user);
    hdr.extend_from_slice(data);
    if let Some(t) = ftag.filter(|t| !t.is_empty()) {
        hdr.extend_from_slice(RR_FROMTAG);
        hdr.extend_from_slice(&t);
    }
    hdr.extend_from_slice(&pbuf);
    let e = &mut ctx.edits;
    let (l, l2) = (rr_anchor(e, first)?, e.anchor(first)?);
    e.insert(At::After(l), &hdr)?;
    let s = e.insert(At::Before(l2), if c.full_lr { RR_LR_FULL } else { RR_LR })?;
    e.insert(At::Next(s), RR_TERM)?;
    with_state(ctx, |st| st.param_tails.push(s));
    Ok(())
}

fn record_route_advertised(ctx: &mut Ctx<'_>, c: &Config, data: &[u8]) -> Result<(), Failed> {
    let user = username(ctx, c)?;
    let tag = if c.append_fromtag {
        Some(dialog_tag(ctx)?)
    } else {
        None
    };
    let sips = !c.ignore_sips && ruri_is_sips(ctx);
    let pbuf = with_state(ctx, |s| s.param_buf.clone());
    let first = first_header(ctx)?;
    let mut hdr = prefix(sips, &user);
    hdr.extend_from_slice(data);
    let mut suffix = Vec::new();
    if let Some(t) = tag.as_deref().filter(|t| !t.is_empty()) {
        suffix.extend_from_slice(RR_FROMTAG);
        suffix.extend_from_slice(t);
    }
    suffix.extend_from_slice(if c.full_lr { RR_LR_FULL } else { RR_LR });
    let outer = double_cond(c, Cond::IfDiffProto);
    let trans = double_cond(c, Cond::IfDiffProto);
    let r2 = double_cond(c, Cond::IfDiffRealms);
    let mut tails = with_state(ctx, |s| s.param_tails.clone());
    for (inbound, proto) in [(false, Subst::SndProto), (true, Subst::RcvProto)] {
        if !inbound && c.double_rr == 0 {
            continue;
        }
        let e = &mut ctx.edits;
        let (l, l2) = (rr_anchor(e, first)?, e.anchor(first)?);
        let (at_l, at_l2) = if inbound {
            (At::After(l), At::Before(l2))
        } else {
            let c1 = e.insert_cond(At::After(l), outer)?;
            let c2 = e.insert_cond(At::Before(l2), outer)?;
            (At::Next(c1), At::Next(c2))
        };
        let p = e.insert(at_l, &hdr)?;
        let p = e.insert_cond(At::Next(p), trans)?;
        let p = e.insert(At::Next(p), RR_TRANS)?;
        let p = e.insert_subst(At::Next(p), proto)?;
        if c.double_rr != 0 {
            let p = e.insert_cond(At::Next(p), r2)?;
            e.insert(At::Next(p), RR_R2)?;
        }
        let mut s = e.insert(at_l2, &suffix)?;
        if !pbuf.is_empty() {
            s = e.insert(At::Next(s), &pbuf)?;
        }
        e.insert(At::Next(s), RR_TERM)?;
        tails.push(s);
    }
    with_state(ctx, |st| st.param_tails = tails);
    Ok(())
}

/// `enable_double_rr=2` turns every condition into "always".
fn double_cond(c: &Config, otherwise: Cond) -> Cond {
    if c.double_rr == 2 {
        Cond::True
    } else {
        otherwise
    }
}

fn prefix(sips: bool, user: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(24 + user.len());
    p.extend_from_slice(if sips { RR_PREFIX_SIPS } else { RR_PREFIX_SIP });
    if !user.is_empty() {
        p.extend_from_slice(user);
        p.push(b'@');
    }
    p
}

/// Offset of the first header's name: where Kamailio anchors Record-Route.
fn first_header(ctx: &mut Ctx<'_>) -> Result<usize, Failed> {
    match ctx
        .msg
        .headers()
        .map(|h| h.first().map(|h| h.span.start as usize))
    {
        Ok(Some(o)) => Ok(o),
        _ => {
            ctx.log_error("failed to create an anchor");
            Err(Failed)
        }
    }
}

/// The tag Kamailio puts in `;ftag=`: the From tag, or the To tag for an upstream in-dialog
/// request (so the parameter keeps naming the dialog's caller).
fn dialog_tag(ctx: &mut Ctx<'_>) -> Result<Vec<u8>, Failed> {
    let upstream = direction(ctx) == Direction::Upstream;
    let na = if upstream {
        ctx.msg.to()
    } else {
        ctx.msg.from()
    };
    match na {
        Ok(na) => Ok(na
            .tag
            .map(|t| t.of(ctx.msg.buf()).to_vec())
            .unwrap_or_default()),
        Err(_) => {
            let which = if upstream { "To" } else { "From" };
            ctx.log(L_ERR, &format!("{which} parsing failed"));
            Err(Failed)
        }
    }
}

/// `add_username`: the custom AVP when it holds a non-empty string, else the user of the received
/// R-URI, else the user of the new R-URI.
fn username(ctx: &mut Ctx<'_>, c: &Config) -> Result<Vec<u8>, Failed> {
    if !c.add_username {
        return Ok(Vec::new());
    }
    if let Some(name) = &c.custom_user_avp {
        if let Some(v) = ctx.state.avps.values(name).first() {
            if let ferrosip_api::Value::Str(s) = &v.value {
                if !s.is_empty() {
                    return Ok(s.clone());
                }
            }
        }
    }
    let orig = ctx.original_ruri().to_vec();
    let Some(u) = parse_uri(&orig) else {
        ctx.log_error("failed to parse R-URI");
        return Err(Failed);
    };
    let user = u.user.map(|s| s.of(&orig).to_vec()).unwrap_or_default();
    if !user.is_empty() {
        return Ok(user);
    }
    match ctx.state.new_uri.clone() {
        Some(n) => match parse_uri(&n) {
            Some(u) => Ok(u.user.map(|s| s.of(&n).to_vec()).unwrap_or_default()),
            None => {
                ctx.log_error("failed to parse new_uri");
                Err(Failed)
            }
        },
        None => Ok(user),
    }
}

/// True when the current R-URI (new one if set) is a `sips:` URI.
fn ruri_is_sips(ctx: &Ctx<'_>) -> bool {
    parse_uri(ctx.ruri_ref()).is_some_and(|u| u.scheme == Scheme::Sips)
}

/// Parses a standalone URI.
pub(crate) fn parse_uri(b: &[u8]) -> Option<Uri> {
    Uri::parse(b, Span::new(0, b.len())).ok()
}
