//! `save`, `lookup`, `registered`, `unregister` and `reg_send_reply`.

use ferrosip_api::ctx::Branch;
use ferrosip_api::{Arg, Ctx, Error, RetCode, RouteType, Value};
use ferrosip_sipmsg::{HeaderKind, Method, Span, Uri};

use super::{RegConfig, Registrar};
use crate::usrloc::rpc::insert_ordered;
use crate::usrloc::{MatchingMode, UContact, UlApi};

/// `save` flags.
pub const REG_SAVE_MEM_FL: i64 = 1;
/// Do not send the reply.
pub const REG_SAVE_NORPL_FL: i64 = 2;
/// Replace all contacts by the one in the REGISTER.
pub const REG_SAVE_REPL_FL: i64 = 4;
/// Do not apply `expires_range`.
pub const REG_SAVE_NOVARIATION_FL: i64 = 8;
/// Prepare the reply headers for `reg_send_reply`.
pub const REG_SAVE_PREPRPL_FL: i64 = 16;

/// usrloc flag of memory-only contacts.
const FL_MEM: u32 = 1;
/// Kamailio's `ALL_METHODS`.
const ALL_METHODS: u32 = u32::MAX;

/// Kamailio's registrar error codes (`rerrno`), with their reply and `P-Registrar-Error` text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rerr {
    /// usrloc_record_get failed (500).
    UlGetR,
    /// Invalid CSeq number (400): an out-of-order REGISTER.
    InvCseq,
    /// usrloc_contact_insert failed (500).
    UlInsC,
    /// usrloc_contact_update failed (500).
    UlUpdC,
    /// Error while parsing AOR (400).
    AorParse,
    /// Invalid q param in contact (400).
    InvQ,
    /// Message parse error (400).
    Parse,
    /// To header not found (400).
    ToMiss,
    /// Call-ID header not found (400).
    CidMiss,
    /// CSeq header not found (400).
    CsMiss,
    /// Expires parse error (400).
    ParseExp,
    /// Contact parse error (400).
    ParseCont,
    /// `*` with expires not zero (400).
    StarExp,
    /// `*` with other contacts (400).
    StarCont,
    /// Too many registered contacts (503).
    TooMany,
    /// Contact/received too long (400).
    ContactLen,
    /// Path parse error (400).
    ParsePath,
    /// Path not supported by the UA in strict mode (420).
    PathUnsup,
    /// Invalid reg-id (400).
    InvRegid,
    /// Interval too brief (423).
    LowExp,
}

impl Rerr {
    /// Reply code, reason and `P-Registrar-Error` text.
    pub fn reply(self) -> (u16, &'static str, &'static str) {
        match self {
            Rerr::UlGetR => (500, "Server Internal Error", "usrloc_record_get failed"),
            Rerr::InvCseq => (400, "Bad Request", "Invalid CSeq number"),
            Rerr::UlInsC => (500, "Server Internal Error", "usrloc_contact_insert failed"),
            Rerr::UlUpdC => (500, "Server Internal Error", "usrloc_contact_update failed"),
            Rerr::AorParse => (400, "Bad Request", "Error while parsing AOR"),
            Rerr::InvQ => (400, "Bad Request", "Invalid q param in contact"),
            Rerr::Parse => (400, "Bad Request", "Message parse error"),
            Rerr::ToMiss => (400, "Bad Request", "To header not found"),
            Rerr::CidMiss => (400, "Bad Request", "Call-ID header not found"),
            Rerr::CsMiss => (400, "Bad Request", "CSeq header not found"),
            Rerr::ParseExp => (400, "Bad Request", "Expires parse error"),
            Rerr::ParseCont => (400, "Bad Request", "Contact parse error"),
            Rerr::StarExp => (
                400,
                "Bad Request",
                "* used in contact and expires is not zero",
            ),
            Rerr::StarCont => (
                400,
                "Bad Request",
                "* used in contact and more than 1 contact",
            ),
            Rerr::TooMany => (503, "Service Unavailable", "Too many registered contacts"),
            Rerr::ContactLen => (400, "Bad Request", "Contact/received too long"),
            Rerr::ParsePath => (400, "Bad Request", "Path parse error"),
            Rerr::PathUnsup => (420, "Bad Extension", "No support for found Path indicated"),
            Rerr::InvRegid => (400, "Bad Request", "Invalid Reg-Id number"),
            Rerr::LowExp => (423, "Interval Too Brief", "Interval too brief"),
        }
    }
}

/// `save(table[, flags[, uri]])`.
pub fn w_save(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = table_name(a);
    let flags = match a.get(1) {
        Some(x) => x.int(ctx)?,
        None => 0,
    };
    let uri = a.get(2).map(|x| x.bytes(ctx)).filter(|u| !u.is_empty());
    let rc = save(cfg, ul, ctx, &table, flags, uri.as_deref());
    if let Some(st) = r.stats() {
        // Kamailio counts after the AoR is known: accepted once stored (before the reply is
        // sent), rejected when refused with an error.
        match rc.outcome {
            Outcome::Accepted => st.accepted.inc(),
            Outcome::Rejected => st.rejected.inc(),
            Outcome::NoAor => {}
        }
    }
    Ok(RetCode(rc.code))
}

/// How `save` ended, for the registrar statistics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Contacts stored, refreshed or removed.
    Accepted,
    /// Refused (error reply).
    Rejected,
    /// No usable AoR: nothing counted, no reply.
    NoAor,
}

/// `save`'s return code and outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaveRc {
    /// The script return code.
    pub code: i64,
    /// What happened.
    pub outcome: Outcome,
}

/// `lookup(table[, uri])`: 1 found, -1 no contact, -2 contacts exist but none allows the
/// method, -3 internal error (bad AoR).
pub fn w_lookup(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = table_name(a);
    let uri = match a.get(1) {
        Some(x) => x.bytes(ctx),
        None => ctx.ruri(),
    };
    Ok(RetCode(lookup(cfg, ul, ctx, &table, &uri)))
}

/// `registered(table[, uri])`: 1 when the AoR has a usable contact, else -1.
pub fn w_registered(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = table_name(a);
    let uri = match a.get(1) {
        Some(x) => x.bytes(ctx),
        // On a reply Kamailio checks the To URI.
        None if !ctx.msg.is_request() => {
            let buf = ctx.msg.buf();
            ctx.msg
                .to()
                .map(|t| t.uri.of(buf).to_vec())
                .unwrap_or_default()
        }
        None => ctx.ruri(),
    };
    let Ok(aor) = extract_aor(cfg, ul, &uri) else {
        return Ok(RetCode(-1));
    };
    let now = ul.clock().now();
    // Both flags must evaluate to integers (Kamailio's `fixup_get_ivalue`), else -1.
    let mut flags = [0i64; 2];
    for (i, f) in flags.iter_mut().enumerate() {
        if let Some(x) = a.get(i + 2) {
            match x.int(ctx) {
                Ok(v) => *f = v,
                Err(_) => return Ok(RetCode(-1)),
            }
        }
    }
    // The match flags (1 Call-ID, 2 received, 4 contact) compare with the values set in the
    // `xavp_cfg` XAVP; a flag whose value is not set there narrows nothing.
    let m = super::xcfg::Match::read(ctx, cfg, flags[0]);
    let found = ul.store().get(&table, &aor).and_then(|rec| {
        rec.contacts.into_iter().find(|c| {
            (c.is_valid(now) || cfg.use_expired_contacts)
                && m.accepts(&c.callid, &c.received, &c.uri)
        })
    });
    let action = flags[1];
    match found {
        Some(c) => {
            // Kamailio fills xavp_rcd from the contact that matched, unless action bit 2 is set.
            if action & REG_ACTION_NO_RCD == 0 {
                super::rcd::add(ctx, cfg, &c, now);
            }
            // Action bit 1: the contact's stored `xavp_contact` record becomes the newest
            // record of that XAVP (Kamailio's `xavp_add` of a copy).
            if action & REG_ACTION_XAVP != 0 {
                if let (Some(name), Some(rec)) = (ul.config().xavp_contact.as_ref(), c.xavp) {
                    let list = ctx.state.xavps.entry(name.as_bytes().to_vec()).or_default();
                    list.insert(0, rec);
                }
            }
            Ok(RetCode(1))
        }
        None => Ok(RetCode(-1)),
    }
}

/// `registered()` action bit: copy the matched contact's `xavp_contact` record to the message.
const REG_ACTION_XAVP: i64 = 1;
/// `registered()` action bit: leave `xavp_rcd` alone.
const REG_ACTION_NO_RCD: i64 = 2;

/// `unregister(table, uri[, ruid])`: 1 done, -1 bad AoR, -2 contact with that ruid not found,
/// -3 no record.
pub fn w_unregister(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = table_name(a);
    let uri = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
    let ruid = a.get(2).map(|x| x.bytes(ctx)).unwrap_or_default();
    let Ok(aor) = extract_aor(cfg, ul, &uri) else {
        return Ok(RetCode(-1));
    };
    if ul.store().get(&table, &aor).is_none() {
        return Ok(RetCode(-3));
    }
    if ruid.is_empty() {
        ul.store().delete(&table, &aor);
        return Ok(RetCode(1));
    }
    let ruid = String::from_utf8_lossy(&ruid).into_owned();
    let mut found = false;
    ul.store().update(&table, &aor, &mut |list| {
        let n = list.len();
        list.retain(|c| c.ruid != ruid);
        found = n != list.len();
    });
    Ok(RetCode(if found { 1 } else { -2 }))
}

/// `reg_send_reply()`: sends the reply prepared by `save` with flags 0x02|0x10.
pub fn w_send_reply(r: &Registrar, ctx: &mut Ctx<'_>, _a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, _) = r.parts()?;
    let Some((code, reason, hdrs)) = take_prepared(ctx) else {
        return Ok(RetCode(-1));
    };
    Ok(RetCode(if send(cfg, ctx, code, &reason, &hdrs) {
        1
    } else {
        -1
    }))
}

/// Processes a REGISTER (Kamailio's `save()`); returns its return code: 1 contacts added, 2
/// updated, 3 deleted (or `*`), 4 query only; -1 error, -2 too many contacts.
pub fn save(
    cfg: &RegConfig,
    ul: &UlApi,
    ctx: &mut Ctx<'_>,
    table: &str,
    flags: i64,
    uri: Option<&[u8]>,
) -> SaveRc {
    let now = ul.clock().now();
    let mut out = SaveOut::default();
    let res = save_inner(cfg, ul, ctx, table, flags, uri, now, &mut out);
    let route_ok = matches!(ctx.route_type, RouteType::Request | RouteType::Failure);
    let done = |code, outcome| SaveRc { code, outcome };
    match res {
        Ok(rc) => {
            if flags & REG_SAVE_NORPL_FL == 0 {
                if route_ok {
                    let (code, reason, hdrs) = reply_parts(cfg, ctx, None, &out);
                    if !send(cfg, ctx, code, reason, &hdrs) {
                        return done(-1, Outcome::Accepted);
                    }
                }
            } else if flags & REG_SAVE_PREPRPL_FL != 0 {
                let (code, reason, hdrs) = reply_parts(cfg, ctx, None, &out);
                prepare(ctx, code, reason, &hdrs);
            }
            done(rc, Outcome::Accepted)
        }
        Err(None) => done(-1, Outcome::NoAor),
        Err(Some(e)) => {
            if ctx.route_type == RouteType::Request && flags & REG_SAVE_NORPL_FL == 0 {
                let (code, reason, hdrs) = reply_parts(cfg, ctx, Some(e), &out);
                send(cfg, ctx, code, reason, &hdrs);
            }
            let code = if e == Rerr::TooMany { -2 } else { -1 };
            done(code, Outcome::Rejected)
        }
    }
}

/// Kamailio's `lookup_helper` in mode 0.
pub fn lookup(cfg: &RegConfig, ul: &UlApi, ctx: &mut Ctx<'_>, table: &str, uri: &[u8]) -> i64 {
    lookup_mode(cfg, ul, ctx, table, uri, false).0
}

/// `lookup_to_dset(table[, uri])`: like `lookup`, but the R-URI is left alone and every usable
/// contact (the first one too) becomes a branch.
pub fn w_lookup_to_dset(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = table_name(a);
    let uri = match a.get(1) {
        Some(x) => x.bytes(ctx),
        None => ctx.ruri(),
    };
    Ok(RetCode(lookup_mode(cfg, ul, ctx, &table, &uri, true).0))
}

/// `lookup_branches(table)` (Kamailio's): looks up the R-URI and then every "clean" branch
/// (no `$du`, path, socket or flags) that existed before, replacing each found one by its first
/// contact (other contacts are appended as branches). 1 when anything was found.
pub fn w_lookup_branches(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = table_name(a);
    let start = ctx.state.branches.len();
    let ruri = ctx.ruri();
    let mut ret = lookup(cfg, ul, ctx, &table, &ruri);
    if start == 0 {
        return Ok(RetCode(ret));
    }
    let mut found = ret > 0;
    let backup = (
        ctx.state.new_uri.clone(),
        ctx.state.dst_uri.clone(),
        ctx.state.force_socket,
        ctx.state.bflags,
    );
    for i in 0..start {
        let Some(b) = ctx.state.branches.get(i).cloned() else {
            continue;
        };
        if b.uri.is_empty()
            || !b.dst_uri.is_empty()
            || !b.path.is_empty()
            || b.socket.is_some()
            || b.flags != 0
        {
            continue;
        }
        ctx.state.new_uri = None;
        ctx.state.dst_uri = None;
        ctx.state.force_socket = None;
        ctx.state.bflags = 0;
        let (r, chosen) = lookup_mode(cfg, ul, ctx, &table, &b.uri, false);
        ret = r;
        if let (true, Some(c)) = (r > 0, chosen) {
            found = true;
            let nb = Branch {
                uri: ctx.state.new_uri.clone().unwrap_or_default(),
                dst_uri: ctx.state.dst_uri.clone().unwrap_or_default(),
                path: if first_path_uri(&c.path).is_some() {
                    c.path.as_bytes().to_vec()
                } else {
                    Vec::new()
                },
                q: c.q,
                flags: ctx.state.bflags,
                socket: ctx.state.force_socket,
                instance: c.instance.as_bytes().to_vec(),
                ruid: c.ruid.as_bytes().to_vec(),
            };
            if let Some(slot) = ctx.state.branches.get_mut(i) {
                *slot = nb;
            }
        }
    }
    (
        ctx.state.new_uri,
        ctx.state.dst_uri,
        ctx.state.force_socket,
        ctx.state.bflags,
    ) = backup;
    Ok(RetCode(if found { 1 } else { ret }))
}

/// `lookup` (`to_dset` false) or `lookup_to_dset` (true); also returns the contact chosen for
/// the R-URI.
fn lookup_mode(
    cfg: &RegConfig,
    ul: &UlApi,
    ctx: &mut Ctx<'_>,
    table: &str,
    uri: &[u8],
    to_dset: bool,
) -> (i64, Option<UContact>) {
    let r = lookup_inner(cfg, ul, ctx, table, uri, to_dset);
    match r {
        Ok(c) => (1, c),
        Err(code) => (code, None),
    }
}

fn lookup_inner(
    cfg: &RegConfig,
    ul: &UlApi,
    ctx: &mut Ctx<'_>,
    table: &str,
    uri: &[u8],
    to_dset: bool,
) -> Result<Option<UContact>, i64> {
    let Ok(aor) = extract_aor(cfg, ul, uri) else {
        return Err(-3);
    };
    let now = ul.clock().now();
    let method = ctx.msg.method().unwrap_or(Method::Other);
    let has_totag = ctx.msg.to().ok().is_some_and(|t| t.tag.is_some());
    let allowed =
        |c: &UContact| !cfg.method_filtering || c.methods & method_bit(method) != 0 || has_totag;
    // lookup_filter_mode bit 1: only contacts with one of the branch flags of `rlf_bflags`
    // (xavp_cfg) set; 0 or unset filters nothing (verified against 5.6.3).
    let rlf = if cfg.lookup_filter_mode & 1 != 0 {
        super::xcfg::int(ctx, cfg, "rlf_bflags")
            .and_then(|v| u32::try_from(v).ok())
            .unwrap_or(0)
    } else {
        0
    };
    // bit 2: not the contacts registered over a TCP/TLS/WS connection that has closed (those
    // without a connection id are kept; verified against 5.6.3).
    let conn_gone = |c: &UContact| {
        cfg.lookup_filter_mode & 2 != 0
            && u64::try_from(c.tcpconn_id)
                .ok()
                .filter(|id| *id > 0)
                .is_some_and(|id| ul.conn_alive(id) == Some(false))
    };
    let usable = |c: &UContact| {
        (c.is_valid(now) || cfg.use_expired_contacts)
            && (rlf == 0 || c.cflags & rlf != 0)
            && !conn_gone(c)
    };
    // GRUU: `;gr=<instance>` (pub-gruu) selects the contact of that instance of the AoR;
    // `user=<ruid>-<aor hash>;gr` (temp-gruu) selects a contact by record id. Either gives no
    // branches.
    let gr = uri_param(uri, b"gr");
    let mut ret = -1;
    let (rec, first) = match gr.as_deref() {
        Some("") => {
            let Some(ruid) = temp_gruu_ruid(uri) else {
                return Err(-3);
            };
            let found = ul.store().dump(table).into_iter().find_map(|r| {
                let i = r.contacts.iter().position(|c| c.ruid == ruid)?;
                Some((r, i))
            });
            let Some((rec, i)) = found else {
                return Err(-1);
            };
            let ok = rec.contacts.get(i).map(|c| (usable(c), allowed(c)));
            match ok {
                Some((true, true)) => (rec, Some(i)),
                Some((true, false)) => return Err(-2),
                _ => return Err(-1),
            }
        }
        _ => {
            let Some(rec) = ul.store().get(table, &aor) else {
                return Err(-1);
            };
            let strip = |s: &str| -> String {
                s.strip_prefix('<')
                    .and_then(|x| x.strip_suffix('>'))
                    .unwrap_or(s)
                    .to_string()
            };
            let inst = gr.as_deref().map(|g| strip(g.trim_matches('"')));
            let mut first = None;
            for (i, c) in rec.contacts.iter().enumerate() {
                if !usable(c) {
                    continue;
                }
                if !allowed(c) {
                    ret = -2;
                    continue;
                }
                match &inst {
                    Some(want) if c.instance.is_empty() || strip(&c.instance) != *want => {}
                    _ => {
                        first = Some(i);
                        break;
                    }
                }
            }
            (rec, first)
        }
    };
    let Some(fi) = first else {
        return Err(ret);
    };
    let Some(c) = rec.contacts.get(fi) else {
        return Err(-3);
    };
    if !to_dset {
        ctx.state.new_uri = Some(c.uri.as_bytes().to_vec());
        ctx.state.dst_uri = None;
        let path_dst = match path_hop(ctx, cfg, &c.path) {
            Ok(hop) => hop.map(|(d, _)| d),
            Err(()) => return Err(-3),
        };
        if let Some(d) = path_dst {
            ctx.state.dst_uri = Some(d.into_bytes());
        } else if !c.received.is_empty() {
            ctx.state.dst_uri = Some(c.received.as_bytes().to_vec());
        }
        ctx.state.bflags |= c.cflags;
        if let Some(s) = c.socket_id {
            ctx.state.force_socket = Some(s);
        }
        // Kamailio's set_ruri_q: tm's t_load_contacts orders the R-URI by it.
        ctx.state.ruri_q = (c.q >= 0).then_some(c.q);
        super::rcd::add(ctx, cfg, c, now);
        restore_xavp(ul, ctx, c, 0);
    }
    // lookup_to_dset keeps the first contact in the branch walk (Kamailio does not advance).
    let skip = if to_dset { fi } else { fi + 1 };
    if cfg.append_branches && gr.is_none() {
        for b in rec.contacts.iter().skip(skip) {
            if !(usable(b) && allowed(b)) {
                continue;
            }
            // a Path that cannot be read skips the branch, as in Kamailio
            let Ok(hop) = path_hop(ctx, cfg, &b.path) else {
                continue;
            };
            let (dst, path) = match hop {
                Some((d, p)) => (d, p),
                None => (b.received.clone(), String::new()),
            };
            ctx.state.branches.push(Branch {
                uri: b.uri.as_bytes().to_vec(),
                dst_uri: dst.into_bytes(),
                path: path.into_bytes(),
                q: b.q,
                flags: b.cflags,
                socket: b.socket_id,
                instance: b.instance.as_bytes().to_vec(),
                ruid: b.ruid.as_bytes().to_vec(),
            });
            let at = ctx.state.branches.len();
            restore_xavp(ul, ctx, b, at);
        }
    }
    Ok(Some(c.clone()))
}

/// Puts a contact's stored `xavp_contact` record back as item `at` of that XAVP (Kamailio's
/// `xavp_insert`: 0 for the R-URI's contact, the branch count for an appended branch). Item 0
/// goes first; a later position is reached by padding with empty items (Kamailio's null
/// items), or replaces an empty item found there.
fn restore_xavp(ul: &UlApi, ctx: &mut Ctx<'_>, c: &UContact, at: usize) {
    let (Some(name), Some(rec)) = (ul.config().xavp_contact.as_ref(), c.xavp.as_ref()) else {
        return;
    };
    let list = ctx.state.xavps.entry(name.as_bytes().to_vec()).or_default();
    if at == 0 && list.first().is_none_or(|r| !r.is_empty()) {
        list.insert(0, rec.clone());
        return;
    }
    if let Some(slot) = list.get_mut(at).filter(|r| r.is_empty()) {
        *slot = rec.clone();
        return;
    }
    while list.len() < at {
        list.push(Vec::new());
    }
    list.insert(at.min(list.len()), rec.clone());
}

/// The AoR of `uri` as usrloc keys it (Kamailio's `extract_aor`): unescaped user, `@domain`
/// with `use_domain` (minus `realm_prefix`), lower-cased (the domain only with
/// `case_sensitive`).
pub fn extract_aor(cfg: &RegConfig, ul: &UlApi, uri: &[u8]) -> Result<String, Rerr> {
    let u = Uri::parse(uri, Span::new(0, uri.len())).map_err(|_| Rerr::AorParse)?;
    let user = u.user.map(|s| s.of(uri)).unwrap_or_default();
    let host = u.host.of(uri);
    let mut aor = unescape(user).ok_or(Rerr::AorParse)?;
    let user_len = aor.len();
    if ul.config().use_domain {
        if user_len > 0 {
            aor.push(b'@');
        }
        let p = cfg.realm_prefix.as_bytes();
        match host.strip_prefix(p) {
            Some(rest) if !p.is_empty() && !rest.is_empty() => aor.extend_from_slice(rest),
            _ => aor.extend_from_slice(host),
        }
    }
    if cfg.case_sensitive {
        if let Some(dom) = aor.get_mut(user_len..) {
            dom.make_ascii_lowercase();
        }
    } else {
        aor.make_ascii_lowercase();
    }
    Ok(String::from_utf8_lossy(&aor).into_owned())
}

/// Kamailio's METHOD_* bit of a method.
pub fn method_bit(m: Method) -> u32 {
    match m {
        Method::Invite => 1,
        Method::Cancel => 1 << 1,
        Method::Ack => 1 << 2,
        Method::Bye => 1 << 3,
        Method::Info => 1 << 4,
        Method::Register => 1 << 5,
        Method::Subscribe => 1 << 6,
        Method::Notify => 1 << 7,
        Method::Message => 1 << 8,
        Method::Options => 1 << 9,
        Method::Prack => 1 << 10,
        Method::Update => 1 << 11,
        Method::Refer => 1 << 12,
        Method::Publish => 1 << 13,
        Method::Kdmq => 1 << 14,
        Method::Get => 1 << 15,
        Method::Post => 1 << 16,
        Method::Put => 1 << 17,
        Method::Delete => 1 << 18,
        Method::Other => 1 << 19,
    }
}

// ---- internals ----

/// What `save` built for the reply.
#[derive(Debug, Default)]
struct SaveOut {
    /// The `Contact:` header (with CRLF), when there is a contact to list.
    contact: Option<Vec<u8>>,
    /// The Path vector stored, for the reply's `Path`.
    path: String,
}

fn table_name(a: &[Arg]) -> String {
    match a.first() {
        Some(Arg::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => String::new(),
    }
}

/// Per-REGISTER data shared by its contacts (Kamailio's `pack_ci` with the message).
struct Common {
    callid: String,
    cseq: u32,
    user_agent: String,
    path: String,
    path_received: String,
    received_avp: String,
    methods: u32,
    socket: String,
    socket_id: u32,
    cflags: u32,
    flags: u32,
    /// The connection the REGISTER came on (stream transports), else -1, as Kamailio stores it.
    tcpconn_id: i64,
    /// The newest record of usrloc's `xavp_contact` XAVP (Kamailio's `ucontact_xavp_store`).
    xavp: Option<ferrosip_api::ctx::XavpRecord>,
}

#[allow(clippy::too_many_arguments)]
fn save_inner(
    cfg: &RegConfig,
    ul: &UlApi,
    ctx: &mut Ctx<'_>,
    table: &str,
    flags: i64,
    uri: Option<&[u8]>,
    now: i64,
    out: &mut SaveOut,
) -> Result<i64, Option<Rerr>> {
    let aor_uri = match uri {
        Some(u) => u.to_vec(),
        None => {
            let msg = &*ctx.msg;
            let to = msg.to().map_err(|_| None)?;
            to.uri.of(msg.buf()).to_vec()
        }
    };
    // A bad AoR fails without a reply, as in Kamailio (rerrno is not set yet there).
    let aor = extract_aor(cfg, ul, &aor_uri).map_err(|_| None)?;
    let msg = &*ctx.msg;
    msg.parse_all_headers().map_err(|_| Some(Rerr::Parse))?;
    if msg.header(HeaderKind::To).ok().flatten().is_none() {
        return Err(Some(Rerr::ToMiss));
    }
    let callid = msg.call_id().map_err(|_| Some(Rerr::CidMiss))?;
    let cseq = msg.cseq().map_err(|_| Some(Rerr::CsMiss))?.number;
    // Kamailio's Expires parser marks a non-numeric value invalid instead of failing: the
    // header then counts as absent (verified against 5.6.3).
    let expires_hf = msg.expires().ok().flatten();
    let contacts = super::contact::read(msg).map_err(Some)?;
    if contacts.star {
        if expires_hf != Some(0) {
            return Err(Some(Rerr::StarExp));
        }
        if !contacts.list.is_empty() {
            return Err(Some(Rerr::StarCont));
        }
    }
    let buf = msg.buf();
    for c in &contacts.list {
        if c.uri.len() > 512 {
            return Err(Some(Rerr::ContactLen));
        }
    }
    let mut path = String::new();
    let mut path_received = String::new();
    if cfg.use_path {
        let entries = msg.paths().map_err(|_| Some(Rerr::ParsePath))?;
        let mut hdr_seen = usize::MAX;
        for e in entries {
            // One element per Path header value as written, joined by ',' (build_path_vector).
            if e.header != hdr_seen {
                hdr_seen = e.header;
                if let Some(h) = msg.headers().ok().and_then(|h| h.get(e.header)) {
                    if !path.is_empty() {
                        path.push(',');
                    }
                    path.push_str(&String::from_utf8_lossy(h.value.of(buf)));
                }
            }
        }
        if cfg.path_use_received {
            if let Some(first) = entries.first() {
                let u = first.addr.uri.of(buf);
                path_received = uri_param(u, b"received").unwrap_or_default();
            }
        }
    }
    let allow_methods = match msg.allow() {
        Ok(Some(a)) => a.methods.iter().fold(0, |acc, (m, _)| acc | method_bit(*m)),
        _ => ALL_METHODS,
    };
    let user_agent = match msg.header(HeaderKind::UserAgent) {
        Ok(Some(h)) if !h.value.is_empty() && h.value.len() < 256 => {
            String::from_utf8_lossy(h.value.of(buf)).into_owned()
        }
        _ => "n/a".to_string(),
    };
    let received_avp = match &cfg.received_avp {
        Some(n) => ctx
            .state
            .avps
            .values(n)
            .first()
            .map(|v| v.value.to_text())
            .unwrap_or_default(),
        None => String::new(),
    };
    let sock_over = super::sockhdr::socket_override(ctx, cfg);
    let msg = &*ctx.msg;
    let buf = msg.buf();
    let mut cflags = ctx.state.bflags;
    if !path_received.is_empty() && ul.config().nat_bflag >= 0 {
        cflags |= 1u32 << (ul.config().nat_bflag & 31);
    }
    let common = Common {
        callid: String::from_utf8_lossy(callid.of(buf))
            .trim_end()
            .to_string(),
        cseq,
        user_agent,
        path: path.clone(),
        path_received,
        received_avp,
        methods: allow_methods,
        socket: sock_over
            .as_ref()
            .map(|(_, s)| s.clone())
            .unwrap_or_else(|| format!("{}:{}", ctx.rcv.proto.name(), ctx.rcv.dst)),
        socket_id: sock_over.as_ref().map_or(ctx.rcv.socket, |(i, _)| *i),
        cflags,
        tcpconn_id: ctx
            .server
            .conn_id()
            .and_then(|c| i64::try_from(c).ok())
            .unwrap_or(-1),
        flags: if flags & REG_SAVE_MEM_FL != 0 {
            FL_MEM
        } else {
            0
        },
        xavp: ul
            .config()
            .xavp_contact
            .as_ref()
            .and_then(|n| ctx.state.xavps.get(n.as_bytes()))
            .and_then(|v| v.first())
            .cloned(),
    };
    if cfg.use_path && cfg.path_mode != 0 {
        out.path = path;
    }
    let supported_gruu = msg
        .supported()
        .map(|l| l.iter().any(|s| s.of(buf).eq_ignore_ascii_case(b"gruu")))
        .unwrap_or(false);
    let to_host = msg
        .to_uri()
        .map(|u| String::from_utf8_lossy(u.host.of(buf)).into_owned())
        .unwrap_or_default();
    let novariation = flags & REG_SAVE_NOVARIATION_FL != 0;
    let store = ul.store();
    if !store.has_domain(table) {
        ul.register_udomain(table);
    }
    let gruu = if cfg.gruu_enabled && supported_gruu {
        Some((aor.clone(), to_host))
    } else {
        None
    };
    if contacts.list.is_empty() {
        if contacts.star {
            store.delete(table, &aor);
            return Ok(3);
        }
        let rec = store.get(table, &aor).unwrap_or_default();
        out.contact = build_contact(cfg, &rec.contacts, now, gruu.as_ref());
        super::rcd::add_listed(ctx, cfg, &rec.contacts, now);
        return Ok(4);
    }
    // Per-contact data, computed before the record is locked.
    let mut items = Vec::new();
    let mut reg_id = 0u32;
    // `xavp_cfg` overrides (Kamailio's calc_contact_expires / calc_contact_q /
    // reg_get_crt_max_contacts): an expires of 0 or more replaces the contact's and the
    // header's, without range variation; a q replaces the contact's (0..=1000, else an error).
    let x_expires = super::xcfg::int(ctx, cfg, "expires").filter(|e| *e >= 0);
    let x_q = super::xcfg::int(ctx, cfg, "q");
    for c in &contacts.list {
        let (e, range) = match (x_expires, c.expires.or(expires_hf)) {
            (Some(x), _) => (x, 0),
            (None, Some(v)) => (i64::from(v), cfg.expires_range),
            (None, None) => (cfg.default_expires, cfg.default_expires_range),
        };
        // Errors are kept per contact: Kamailio meets them while walking the contacts, after
        // the earlier ones were applied, and lists the record in the error reply.
        let e = calc_expires(cfg, e, range, novariation, now, &common.callid);
        let ev = *e.as_ref().unwrap_or(&0);
        let mut err = None;
        let q = match (x_q, c.q) {
            (Some(x @ 0..=1000), _) => x as i32,
            (Some(_), _) => {
                err = Some(Rerr::InvQ);
                -1
            }
            (None, Ok(Some(q))) => i32::from(q),
            (None, Ok(None)) => cfg.default_q,
            (None, Err(())) => {
                err = Some(Rerr::InvQ);
                -1
            }
        };
        let instance = c
            .instance
            .as_deref()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .unwrap_or_default();
        // reg-id is kept from an earlier contact when this one has none (Kamailio's pack_ci
        // keeps it in a static between contacts; verified against 5.6.3).
        if !instance.is_empty() {
            match c.reg_id {
                Ok(Some(0)) | Err(()) => err = err.or(Some(Rerr::InvRegid)),
                Ok(Some(r)) => reg_id = r,
                Ok(None) => {}
            }
        }
        let received = if !common.path_received.is_empty() {
            common.path_received.clone()
        } else if let Some(r) = &c.received {
            String::from_utf8_lossy(r).into_owned()
        } else {
            common.received_avp.clone()
        };
        let methods = match &c.methods {
            Some(s) => parse_methods(s).unwrap_or_else(|| {
                err = err.or(Some(Rerr::Parse));
                0
            }),
            None => common.methods,
        };
        let uc = UContact {
            uri: String::from_utf8_lossy(&c.uri).into_owned(),
            expires: ev,
            q,
            callid: common.callid.clone(),
            cseq: common.cseq,
            path: common.path.clone(),
            received,
            instance,
            reg_id: 0,
            ruid: String::new(),
            user_agent: common.user_agent.clone(),
            socket: common.socket.clone(),
            socket_id: Some(common.socket_id),
            flags: common.flags,
            cflags: common.cflags,
            methods,
            last_modified: now,
            tcpconn_id: common.tcpconn_id,
            server_id: 0,
            xavp: common.xavp.clone(),
        };
        let uc = UContact { reg_id, ..uc };
        items.push((e, err.map_or(Ok(uc), Err)));
    }
    let mode_repl = flags & REG_SAVE_REPL_FL != 0;
    let maxc = match super::xcfg::int(ctx, cfg, "max_contacts") {
        Some(n) => usize::try_from(n).unwrap_or(0),
        None => cfg.max_contacts,
    };
    let ucfg = ul.config().clone();
    let mut result: Result<i64, Rerr> = Ok(0);
    let mut listed = Vec::new();
    let mut existed = false;
    store.update(table, &aor, &mut |list| {
        existed = !list.is_empty();
        let mut work = list.clone();
        result = if existed {
            update_contacts(&ucfg, &mut work, &items, mode_repl, maxc, now, ul)
        } else {
            insert_contacts(&ucfg, &mut work, &items, maxc, now, ul).map(|_| 1)
        };
        match &result {
            // A new record that failed is removed; an update keeps what was done before the
            // failing contact (Kamailio does not roll back either).
            Err(_) if !existed => list.clear(),
            _ => *list = work,
        }
        listed = list.clone();
    });
    // A write-through or DB-only database write that failed: the change stays in memory, the
    // REGISTER gets a 500, as Kamailio's insert/update_ucontact failing does.
    if let Some(e) = ul.take_db_error() {
        ctx.log_error(&format!(
            "failed to store the contacts in the database: {e}"
        ));
        if result.is_ok() {
            result = Err(if existed { Rerr::UlUpdC } else { Rerr::UlInsC });
        }
    }
    out.contact = build_contact(cfg, &listed, now, gruu.as_ref());
    super::rcd::add_listed(ctx, cfg, &listed, now);
    match result {
        Ok(0) => Ok(1),
        Ok(rc) => Ok(rc),
        Err(e) => {
            if !existed {
                out.contact = None;
            }
            Err(Some(e))
        }
    }
}

type Item = (Result<i64, Rerr>, Result<UContact, Rerr>);

fn insert_contacts(
    ucfg: &crate::usrloc::UlConfig,
    list: &mut Vec<UContact>,
    items: &[Item],
    maxc: usize,
    now: i64,
    ul: &UlApi,
) -> Result<(), Rerr> {
    let mut num = 0;
    for (e, c) in items {
        let e = e.as_ref().map_err(|x| *x)?;
        if *e == 0 {
            continue;
        }
        if maxc > 0 && num >= maxc {
            return Err(Rerr::TooMany);
        }
        num += 1;
        let c = c.as_ref().map_err(|x| *x)?;
        // Kamailio matches with CSeq+1 so a contact listed twice in one REGISTER updates the
        // first copy instead of failing as out of order.
        let mut probe = c.clone();
        probe.cseq = probe.cseq.wrapping_add(1);
        match find(ucfg, list, &probe, now) {
            Found::At(i) => {
                if let Some(x) = list.get_mut(i) {
                    let ruid = std::mem::take(&mut x.ruid);
                    // Kamailio replaces the stored attributes only when the REGISTER has some.
                    let xavp = c.xavp.clone().or_else(|| x.xavp.take());
                    *x = UContact {
                        ruid,
                        xavp,
                        ..c.clone()
                    };
                }
            }
            _ => {
                let mut n = c.clone();
                n.ruid = ul.next_ruid();
                insert_ordered(list, n, ucfg.desc_time_order);
            }
        }
    }
    Ok(())
}

fn update_contacts(
    ucfg: &crate::usrloc::UlConfig,
    list: &mut Vec<UContact>,
    items: &[Item],
    mode_repl: bool,
    maxc: usize,
    now: i64,
    ul: &UlApi,
) -> Result<i64, Rerr> {
    // Kamailio's first pack_ci (before the max_contacts test) already reads the first contact's
    // q, methods and reg-id: their errors come first (verified against 5.6.3).
    if let Some((_, Err(e))) = items.first() {
        return Err(*e);
    }
    if !mode_repl && maxc > 0 {
        let mut num = list.iter().filter(|c| c.is_valid(now)).count() as i64;
        for (e, c) in items {
            let (Ok(e), Ok(c)) = (e, c) else {
                continue;
            };
            match find(ucfg, list, c, now) {
                Found::Invalid => return Err(Rerr::InvCseq),
                Found::Skip => continue,
                Found::No if *e != 0 => num += 1,
                Found::At(_) if *e == 0 => num -= 1,
                _ => {}
            }
        }
        if num > maxc as i64 {
            return Err(Rerr::TooMany);
        }
    }
    let mut rc = 0;
    for (e, c) in items {
        let e = e.as_ref().map_err(|x| *x)?;
        let c = c.as_ref().map_err(|x| *x)?;
        match find(ucfg, list, c, now) {
            Found::Invalid => return Err(Rerr::InvCseq),
            Found::Skip => {
                if *e != 0 && mode_repl {
                    break;
                }
                continue;
            }
            Found::No => {
                if *e == 0 {
                    continue;
                }
                let mut n = c.clone();
                n.ruid = ul.next_ruid();
                if mode_repl {
                    list.clear();
                }
                insert_ordered(list, n, ucfg.desc_time_order);
                rc = 1;
                if mode_repl {
                    break;
                }
            }
            Found::At(i) => {
                if *e == 0 {
                    list.remove(i);
                    rc = 3;
                    continue;
                }
                let Some(old) = list.get(i).cloned() else {
                    continue;
                };
                let mut updated = mode_repl;
                if mode_repl {
                    list.retain(|x| x.ruid == old.ruid);
                }
                if !c.instance.is_empty() && c.callid != old.callid {
                    list.retain(|x| x.ruid == old.ruid || x.instance != old.instance);
                    updated = true;
                }
                if let Some(pos) = list.iter().position(|x| x.ruid == old.ruid) {
                    let n = UContact {
                        ruid: old.ruid.clone(),
                        xavp: c.xavp.clone().or_else(|| old.xavp.clone()),
                        ..c.clone()
                    };
                    if let Some(x) = list.get_mut(pos) {
                        *x = n;
                    }
                    if ucfg.db.mode != crate::usrloc::db::DbMode::DbOnly {
                        update_pos(list, pos, ucfg.desc_time_order);
                    }
                }
                rc = 2;
                if updated {
                    break;
                }
            }
        }
    }
    Ok(rc)
}

/// Kamailio's `update_contact_pos` after an update (not in DB-only mode): with
/// `desc_time_order` the contact moves to the head; else it stays when its q still fits
/// between its neighbours, otherwise it goes before the first contact whose q is not lower
/// than its own (which for a lowered q is usually the head: Kamailio's walk, kept as is;
/// verified against 5.6.3).
fn update_pos(list: &mut Vec<UContact>, pos: usize, desc_time_order: bool) {
    let Some(q) = list.get(pos).map(|c| c.q) else {
        return;
    };
    if desc_time_order {
        let c = list.remove(pos);
        list.insert(0, c);
        return;
    }
    let prev_ok = pos == 0 || list.get(pos - 1).is_some_and(|p| q <= p.q);
    let next_ok = list.get(pos + 1).is_none_or(|n| q >= n.q);
    if prev_ok && next_ok {
        return;
    }
    let c = list.remove(pos);
    let at = list.iter().position(|x| x.q >= q).unwrap_or(list.len());
    list.insert(at, c);
}

enum Found {
    /// Not found.
    No,
    /// Found at this index.
    At(usize),
    /// Same Call-ID with an older CSeq, or the same one after `cseq_delay`: out of order.
    Invalid,
    /// Same Call-ID and CSeq within `cseq_delay`: a retransmission, skipped.
    Skip,
}

/// Kamailio's `get_ucontact_by_instance` / `get_ucontact`.
fn find(ucfg: &crate::usrloc::UlConfig, list: &[UContact], c: &UContact, now: i64) -> Found {
    if !c.instance.is_empty() {
        let strip = |s: &str| -> String {
            s.strip_prefix('<')
                .and_then(|x| x.strip_suffix('>'))
                .unwrap_or(s)
                .to_string()
        };
        let want = strip(&c.instance);
        return match list.iter().position(|x| {
            !x.instance.is_empty() && x.reg_id == c.reg_id && strip(&x.instance) == want
        }) {
            Some(i) => Found::At(i),
            None => Found::No,
        };
    }
    let pos = list.iter().position(|x| match ucfg.matching_mode {
        MatchingMode::ContactOnly => x.uri == c.uri,
        MatchingMode::ContactCallid => x.uri == c.uri && x.callid == c.callid,
        MatchingMode::ContactPath => x.uri == c.uri && (c.path.is_empty() || x.path == c.path),
        MatchingMode::CallidOnly => x.callid == c.callid,
    });
    let Some(i) = pos else {
        return Found::No;
    };
    let Some(x) = list.get(i) else {
        return Found::No;
    };
    if ucfg.matching_mode == MatchingMode::ContactCallid || x.callid == c.callid {
        if c.cseq < x.cseq {
            return Found::Invalid;
        }
        if c.cseq == x.cseq {
            return if x.last_modified + ucfg.cseq_delay > now {
                Found::Skip
            } else {
                Found::Invalid
            };
        }
    }
    Found::At(i)
}

/// Kamailio's `calc_contact_expires` (absolute time, 0 = remove).
fn calc_expires(
    cfg: &RegConfig,
    e: i64,
    range: i64,
    novariation: bool,
    now: i64,
    seed: &str,
) -> Result<i64, Rerr> {
    if e == 0 {
        return Ok(0);
    }
    let mut e = e;
    if e < cfg.min_expires {
        if cfg.min_expires_mode {
            return Err(Rerr::LowExp);
        }
        e = cfg.min_expires;
    }
    if !novariation && range > 0 {
        // Kamailio: a value between (100-range)% of e and e, from its random generator; here
        // from a hash of the Call-ID and the time (deterministic for tests).
        let r = i64::from(crate::usrloc::store::core_hash(format!("{seed}{now}").as_bytes()) % 100);
        let min = e as f64 * (1.0 - range as f64 / 100.0);
        e = (min + (r as f64 / 100.0) * (e as f64 - min)) as i64;
        if e < cfg.min_expires {
            e = cfg.min_expires;
        }
    }
    if cfg.max_expires > 0 && e > cfg.max_expires {
        e = cfg.max_expires;
    }
    Ok(e + now)
}

/// Kamailio's `q2str`.
fn q_text(q: i32) -> String {
    crate::sl::q_text(q)
}

/// The `Contact:` header of a 200 to REGISTER (Kamailio's `build_contact`), `None` when no
/// contact is valid.
fn build_contact(
    cfg: &RegConfig,
    list: &[UContact],
    now: i64,
    gruu: Option<&(String, String)>,
) -> Option<Vec<u8>> {
    let mut out = b"Contact: ".to_vec();
    let mut n = 0;
    for c in list.iter().filter(|c| c.is_valid(now)) {
        if n > 0 {
            out.extend_from_slice(b", ");
        }
        n += 1;
        out.push(b'<');
        out.extend_from_slice(c.uri.as_bytes());
        out.push(b'>');
        if c.q >= 0 {
            out.extend_from_slice(format!(";q={}", q_text(c.q)).as_bytes());
        }
        // A permanent contact (expires 0) prints the difference Kamailio prints: -now.
        out.extend_from_slice(format!(";expires={}", c.expires - now).as_bytes());
        if !cfg.received_param.is_empty() && !c.received.is_empty() {
            out.extend_from_slice(format!(";{}=\"{}\"", cfg.received_param, c.received).as_bytes());
        }
        if let Some((aor, host)) = gruu {
            if !c.instance.is_empty() {
                let inst = c
                    .instance
                    .strip_prefix('<')
                    .and_then(|x| x.strip_suffix('>'))
                    .unwrap_or(&c.instance);
                let pub_aor = if aor.contains('@') {
                    aor.clone()
                } else {
                    format!("{aor}@{host}")
                };
                let mut hash = crate::usrloc::store::core_hash(aor.as_bytes());
                let mut hex = String::new();
                while hash != 0 {
                    let d = hash & 0x0f;
                    hex.push(char::from_digit(d, 16).unwrap_or('0'));
                    hash >>= 4;
                }
                out.extend_from_slice(
                    format!(
                        ";pub-gruu=\"sip:{pub_aor};gr={inst}\";temp-gruu=\"sip:{}-{hex}@{host};gr\"",
                        c.ruid
                    )
                    .as_bytes(),
                );
            }
        }
        if !c.instance.is_empty() {
            out.extend_from_slice(format!(";+sip.instance=\"{}\"", c.instance).as_bytes());
        }
        if c.reg_id > 0 {
            out.extend_from_slice(format!(";reg-id={}", c.reg_id).as_bytes());
        }
    }
    if n == 0 {
        return None;
    }
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// Kamailio's `reg_reply_helper`: code, reason and the headers to add.
fn reply_parts(
    cfg: &RegConfig,
    ctx: &Ctx<'_>,
    err: Option<Rerr>,
    out: &SaveOut,
) -> (u16, &'static str, Vec<u8>) {
    let mut hdrs = Vec::new();
    if let Some(c) = &out.contact {
        hdrs.extend_from_slice(c);
    }
    let mut err = err;
    if err.is_none() && cfg.use_path && !out.path.is_empty() && cfg.path_mode != 0 {
        let buf = ctx.msg.buf();
        let supported = ctx.msg.supported();
        let has_path = supported
            .as_ref()
            .map(|l| l.iter().any(|s| s.of(buf).eq_ignore_ascii_case(b"path")))
            .unwrap_or(false);
        let path_hdr = format!("Path: {}\r\n", out.path);
        if has_path {
            hdrs.extend_from_slice(path_hdr.as_bytes());
        } else if cfg.path_mode == 2 {
            err = Some(Rerr::PathUnsup);
            hdrs.extend_from_slice(b"Unsupported: path\r\n");
            hdrs.extend_from_slice(path_hdr.as_bytes());
        }
    }
    if err == Some(Rerr::LowExp) {
        hdrs.extend_from_slice(format!("Min-Expires: {}\r\n", cfg.min_expires).as_bytes());
    }
    let Some(e) = err else {
        return (200, "OK", hdrs);
    };
    let (code, reason, info) = e.reply();
    hdrs.extend_from_slice(format!("P-Registrar-Error: {info}\r\n").as_bytes());
    if (500..600).contains(&code) && cfg.retry_after > 0 {
        hdrs.extend_from_slice(format!("Retry-After: {}\r\n", cfg.retry_after).as_bytes());
    }
    (code, reason, hdrs)
}

const PREPARED: &[u8] = b"\0reg_reply";

/// Keeps a prepared reply on the message for `reg_send_reply` (a per-message XAVP whose name
/// no config can spell, like sl's reply lumps).
fn prepare(ctx: &mut Ctx<'_>, code: u16, reason: &str, hdrs: &[u8]) {
    ctx.state.xavps.insert(
        PREPARED.to_vec(),
        vec![vec![
            (b"code".to_vec(), Value::Int(i64::from(code))),
            (b"reason".to_vec(), Value::str(reason)),
            (b"hdrs".to_vec(), Value::Str(hdrs.to_vec())),
        ]],
    );
}

fn take_prepared(ctx: &mut Ctx<'_>) -> Option<(u16, String, Vec<u8>)> {
    let rec = ctx.state.xavps.remove(PREPARED)?.into_iter().next()?;
    let get = |n: &[u8]| rec.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let code = u16::try_from(get(b"code")?.to_int()).ok()?;
    Some((code, get(b"reason")?.to_text(), get(b"hdrs")?.into_bytes()))
}

/// Sends a stateless reply as sl does, with `hdrs` after the headers of `append_to_reply`.
/// Kamailio's registrar replies through sl (`slb.freply`): statefully when the REGISTER has a
/// transaction, counted in sl's statistics either way.
fn send(cfg: &RegConfig, ctx: &mut Ctx<'_>, code: u16, reason: &str, hdrs: &[u8]) -> bool {
    if cfg.sl.send_reply(ctx, code, reason.as_bytes(), hdrs) < 0 {
        ctx.log_error(&format!("failed to send {code} {reason}"));
        return false;
    }
    true
}

/// The record id of a temp-GRUU R-URI (`sip:<ruid>-<hex aor hash>@host;gr`).
fn temp_gruu_ruid(uri: &[u8]) -> Option<String> {
    let u = Uri::parse(uri, Span::new(0, uri.len())).ok()?;
    let user = String::from_utf8_lossy(u.user?.of(uri)).into_owned();
    let (ruid, hash) = user.rsplit_once('-')?;
    if hash.is_empty() || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(ruid.to_string())
}

/// The first URI of a path vector (`<sip:a;lr>,<sip:b>` → `sip:a;lr`).
/// The next hop of a stored Path and the path vector from it: the first Path URI — with
/// `path_check_local`, the second one when the first names us (Kamailio's `check_self`, any port
/// and protocol), none when there is no second one (the caller then uses `received`). `Err`
/// when a second hop is there but cannot be read (Kamailio: "failed to get second dst_uri for
/// Path"). Kamailio finds the rest of the vector `len(first URI) + 3` bytes in (`<`, `>`, `,`).
fn path_hop(
    ctx: &mut Ctx<'_>,
    cfg: &RegConfig,
    path: &str,
) -> Result<Option<(String, String)>, ()> {
    let Some(d) = first_path_uri(path) else {
        return Ok(None);
    };
    if !cfg.path_check_local || !uri_is_myself(ctx, &d) {
        return Ok(Some((d, path.to_string())));
    }
    if path.len() <= d.len() + 3 {
        return Ok(None);
    }
    let rest = path.get(d.len() + 3..).unwrap_or_default();
    match first_path_uri(rest) {
        Some(d2) => Ok(Some((d2, rest.to_string()))),
        None => {
            ctx.log_error("failed to get second dst_uri for Path");
            Err(())
        }
    }
}

/// True when the host of `uri` is ours (any port, any protocol).
fn uri_is_myself(ctx: &Ctx<'_>, uri: &str) -> bool {
    let b = uri.as_bytes();
    match ferrosip_sipmsg::Uri::parse(b, ferrosip_sipmsg::Span::new(0, b.len())) {
        Ok(u) => ctx.server.is_myself(u.host.of(b), 0, None),
        Err(_) => false,
    }
}

fn first_path_uri(path: &str) -> Option<String> {
    let p = path.trim_start();
    if p.is_empty() {
        return None;
    }
    let start = p.find('<')? + 1;
    let end = p.get(start..)?.find('>')? + start;
    p.get(start..end).map(str::to_string)
}

/// The value of URI parameter `name`.
fn uri_param(uri: &[u8], name: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(uri);
    let params = text.split_once(';')?.1;
    let params = params.split('?').next().unwrap_or(params);
    params.split(';').find_map(|p| {
        let (n, v) = p.split_once('=').unwrap_or((p, ""));
        n.trim()
            .as_bytes()
            .eq_ignore_ascii_case(name)
            .then(|| v.trim().to_string())
    })
}

/// A comma-separated method list (`methods="INVITE,BYE"`) as a bit mask.
fn parse_methods(s: &[u8]) -> Option<u32> {
    let mut m = 0;
    for tok in s.split(|&b| b == b',') {
        let t: Vec<u8> = tok
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if t.is_empty() {
            return None;
        }
        m |= method_bit(Method::from_token(&t));
    }
    Some(m)
}

fn unescape(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let h = s.get(i + 1..i + 3)?;
            let v = u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()?;
            out.push(v);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(
            first_path_uri("<sip:p1;lr>,<sip:p2>").as_deref(),
            Some("sip:p1;lr")
        );
        assert_eq!(first_path_uri(""), None);
        assert_eq!(
            uri_param(b"sip:p1;lr;received=sip:1.2.3.4:5", b"received").as_deref(),
            Some("sip:1.2.3.4:5")
        );
        assert_eq!(unescape(b"a%41b"), Some(b"aAb".to_vec()));
        assert_eq!(unescape(b"a%4"), None);
        assert_eq!(parse_methods(b"INVITE, BYE"), Some(1 | 8));
        let cases = [
            (Rerr::TooMany, 503),
            (Rerr::LowExp, 423),
            (Rerr::PathUnsup, 420),
            (Rerr::InvCseq, 400),
        ];
        for (e, code) in cases {
            assert_eq!(e.reply().0, code);
        }
    }
}
