//! Serial forking by q value: `t_load_contacts([mode])`, `t_next_contacts()` and
//! `t_next_contact_flow()` — Kamailio's `t_serial.c` behaviour.
//!
//! `t_load_contacts` moves the destination set (the R-URI when it was changed, and the branches)
//! into the XAVP named by the `contacts_avp` modparam, one record per contact (`uri`, `dst_uri`,
//! `path`, `sock`, `flags`, `q_flag`, `instance`, `ruid`), highest q first; a record whose
//! `q_flag` is set is the last of its q class. `t_next_contacts` takes the next class back into
//! the R-URI and branches (one branch per `+sip.instance`; the other flows of an instance go to
//! the `contact_flows_avp` XAVP). `t_next_contact_flow`, in the branch-failure route, appends the
//! first of those flows whose instance is the failed branch's. The R-URI's instance (Kamailio's
//! `msg->instance`, set by `t_next_contacts`) travels in an XAVP no script can name
//! ([`RURI_INSTANCE`]) until `t_relay` gives it to the branch.

use ferrosip_api::ctx::{Branch, XavpRecord};
use ferrosip_api::{Ctx, Value};

/// The XAVP holding the R-URI's `+sip.instance` (a NUL-prefixed name: not reachable from a
/// script); one record with an `instance` field.
pub(super) const RURI_INSTANCE: &[u8] = b"\0tm:ruri-instance";

/// The R-URI's instance, as `t_next_contacts` left it (empty when none).
pub(super) fn ruri_instance(ctx: &Ctx<'_>) -> Vec<u8> {
    ctx.state
        .xavps
        .get(RURI_INSTANCE)
        .and_then(|l| l.first())
        .map(|r| field_bytes(r, b"instance"))
        .unwrap_or_default()
}

/// `q_flag` value of a contact that closes its q class (Kamailio's `Q_FLAG`).
const Q_FLAG: i64 = 1 << 2;

/// The two XAVP names (`contacts_avp`, `contact_flows_avp`); empty = the feature is off.
#[derive(Debug, Clone, Default)]
pub struct SerialNames {
    pub contacts: Vec<u8>,
    pub flows: Vec<u8>,
}

/// One contact of the destination set.
#[derive(Debug, Clone, Default, PartialEq)]
struct Contact {
    uri: Vec<u8>,
    dst_uri: Vec<u8>,
    path: Vec<u8>,
    sock: Option<u32>,
    flags: u32,
    q: i32,
    instance: Vec<u8>,
    ruid: Vec<u8>,
}

impl Contact {
    fn of_branch(b: &Branch) -> Contact {
        Contact {
            uri: b.uri.clone(),
            dst_uri: b.dst_uri.clone(),
            path: b.path.clone(),
            sock: b.socket,
            flags: b.flags,
            q: b.q,
            instance: b.instance.clone(),
            ruid: b.ruid.clone(),
        }
    }
}

/// `t_load_contacts(mode)`: 1 when done (or nothing to do), -1 on error.
pub(super) fn load(ctx: &mut Ctx<'_>, names: &SerialNames, mode: i64) -> i64 {
    if names.contacts.is_empty() {
        ctx.log_error(
            "t_load_contacts: feature has been disabled - to enable define contacts_avp module parameter",
        );
        return -1;
    }
    if mode != 0 && mode != 1 {
        ctx.log_error(&format!(
            "t_load_contacts: invalid load_contact mode: {mode}, please use 0 (standard) or 1 (proportional)"
        ));
        return -1;
    }
    let ruri_is_new = ctx.state.new_uri.is_some();
    let n = ctx.state.branches.len();
    if n == 0 || (n == 1 && !ruri_is_new) {
        return 1;
    }
    let mut all: Vec<Contact> = Vec::with_capacity(n + 1);
    if ruri_is_new {
        all.push(Contact {
            uri: ctx.ruri(),
            dst_uri: ctx.state.dst_uri.clone().unwrap_or_default(),
            path: Vec::new(),
            sock: ctx.state.force_socket,
            flags: ctx.state.bflags,
            q: ctx.state.ruri_q.unwrap_or(-1),
            instance: Vec::new(),
            ruid: Vec::new(),
        });
    }
    all.extend(ctx.state.branches.iter().map(Contact::of_branch));
    let proportional = mode == 1;
    let ordered = order(all, proportional);
    let records: Vec<XavpRecord> = if proportional {
        proportional_records(ctx, ordered)
    } else {
        standard_records(ctx, ordered)
    };
    let list = ctx.state.xavps.entry(names.contacts.clone()).or_default();
    for r in records {
        // Kamailio adds each record at the head: the last added (highest q) is taken first.
        list.insert(0, r);
    }
    ctx.state.branches.clear();
    1
}

/// Kamailio's insertion into a list kept in increasing q order: a contact goes before the first
/// one with a higher q, or with the same q when it has a Path (Path contacts first in a class).
/// In proportional mode the key is the running q total instead of q.
fn order(all: Vec<Contact>, proportional: bool) -> Vec<(Contact, i64)> {
    let mut total: i64 = 0;
    let mut out: Vec<(Contact, i64)> = Vec::with_capacity(all.len());
    for (i, c) in all.into_iter().enumerate() {
        let key = if proportional {
            if c.q > 0 {
                total += i64::from(c.q);
            }
            total
        } else {
            i64::from(c.q)
        };
        if i == 0 {
            out.push((c, key));
            continue;
        }
        let pos = out
            .iter()
            .position(|(_, k)| !(*k < key || (*k == key && c.path.is_empty())))
            .unwrap_or(out.len());
        out.insert(pos, (c, key));
    }
    out
}

/// Standard mode: records in increasing q order; `q_flag` set on a contact whose predecessor has
/// a lower q (so, read from the highest, it closes its class).
fn standard_records(ctx: &Ctx<'_>, ordered: Vec<(Contact, i64)>) -> Vec<XavpRecord> {
    let mut out = Vec::with_capacity(ordered.len());
    let mut prev_q: Option<i32> = None;
    for (c, _) in ordered {
        let flag = match prev_q {
            Some(p) if p < c.q => Q_FLAG,
            _ => 0,
        };
        prev_q = Some(c.q);
        out.push(record(ctx, &c, Some(flag)));
    }
    out
}

/// Proportional mode: contacts with q > 0 drawn at random weighted by q (each its own class),
/// then those with q <= 0 as backups; every record closes its class.
fn proportional_records(ctx: &Ctx<'_>, ordered: Vec<(Contact, i64)>) -> Vec<XavpRecord> {
    let mut pool: Vec<Contact> = Vec::new();
    let mut backups: Vec<Contact> = Vec::new();
    for (c, _) in ordered {
        if c.q > 0 {
            pool.push(c);
        } else {
            backups.push(c);
        }
    }
    let mut picked: Vec<Contact> = Vec::with_capacity(pool.len() + backups.len());
    let mut rng = Rng::seeded();
    // Bounded by the pool size: one contact leaves the pool per round.
    while !pool.is_empty() {
        let total: u64 = pool.iter().map(|c| c.q.max(0) as u64).sum();
        let mut r = rng.next() % total.max(1);
        let mut at = 0;
        for (i, c) in pool.iter().enumerate() {
            let w = c.q.max(0) as u64;
            if r < w {
                at = i;
                break;
            }
            r -= w;
        }
        picked.push(pool.remove(at));
    }
    // Kamailio appends each pick behind the previous one, then the backups: the head of the
    // XAVP list is the first pick. Records are returned in insertion-at-head order, so reverse.
    picked.extend(backups);
    picked
        .iter()
        .rev()
        .map(|c| record(ctx, c, Some(Q_FLAG)))
        .collect()
}

/// A contacts record (fields newest first, as Kamailio's `xavp_add_value` leaves them);
/// `q_flag` is absent in a flows record.
fn record(ctx: &Ctx<'_>, c: &Contact, q_flag: Option<i64>) -> XavpRecord {
    let mut fields: Vec<(Vec<u8>, Value)> = vec![(b"uri".to_vec(), Value::Str(c.uri.clone()))];
    if !c.dst_uri.is_empty() {
        fields.push((b"dst_uri".to_vec(), Value::Str(c.dst_uri.clone())));
    }
    if !c.path.is_empty() {
        fields.push((b"path".to_vec(), Value::Str(c.path.clone())));
    }
    if let Some(s) = c
        .sock
        .and_then(|i| ctx.server.sockets().get(usize::try_from(i).ok()?))
    {
        fields.push((b"sock".to_vec(), Value::Str(s.socket_str().into_bytes())));
    }
    fields.push((b"flags".to_vec(), Value::Int(i64::from(c.flags))));
    if let Some(f) = q_flag {
        fields.push((b"q_flag".to_vec(), Value::Int(f)));
    }
    if !c.instance.is_empty() {
        fields.push((b"instance".to_vec(), Value::Str(c.instance.clone())));
    }
    if !c.ruid.is_empty() {
        fields.push((b"ruid".to_vec(), Value::Str(c.ruid.clone())));
    }
    fields.reverse();
    fields
}

fn field<'r>(r: &'r XavpRecord, name: &[u8]) -> Option<&'r Value> {
    r.iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn field_bytes(r: &XavpRecord, name: &[u8]) -> Vec<u8> {
    match field(r, name) {
        Some(Value::Str(s)) => s.clone(),
        Some(Value::Int(i)) => i.to_string().into_bytes(),
        _ => Vec::new(),
    }
}

fn field_int(r: &XavpRecord, name: &[u8]) -> i64 {
    match field(r, name) {
        Some(Value::Int(i)) => *i,
        Some(Value::Str(s)) => std::str::from_utf8(s)
            .ok()
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0),
        _ => 0,
    }
}

/// A record back into a contact; `Err` when its `sock` names no socket of ours.
fn contact_of(ctx: &Ctx<'_>, r: &XavpRecord) -> Result<Contact, ()> {
    let sock = match field(r, b"sock") {
        Some(Value::Str(s)) => {
            let text = String::from_utf8_lossy(s);
            let text = text.trim_end_matches('\0');
            let idx = ctx
                .server
                .sockets()
                .iter()
                .position(|x| x.socket_str().eq_ignore_ascii_case(text))
                .ok_or(())?;
            Some(u32::try_from(idx).map_err(|_| ())?)
        }
        _ => None,
    };
    Ok(Contact {
        uri: field_bytes(r, b"uri"),
        dst_uri: field_bytes(r, b"dst_uri"),
        path: field_bytes(r, b"path"),
        sock,
        flags: u32::try_from(field_int(r, b"flags")).unwrap_or(0),
        q: -1,
        instance: field_bytes(r, b"instance"),
        ruid: field_bytes(r, b"ruid"),
    })
}

fn as_branch(c: Contact) -> Branch {
    Branch {
        uri: c.uri,
        dst_uri: c.dst_uri,
        path: c.path,
        q: -1,
        flags: c.flags,
        socket: c.sock,
        instance: c.instance,
        ruid: c.ruid,
    }
}

/// `t_next_contacts()`: 1 when a destination set was loaded, -2 when the contacts XAVP is empty,
/// -1 on error.
pub(super) fn next(ctx: &mut Ctx<'_>, names: &SerialNames) -> i64 {
    if names.contacts.is_empty() {
        ctx.log_error(
            "t_next_contacts: feature has been disabled - to enable define contacts_avp module parameter",
        );
        return -1;
    }
    let mut list = ctx.state.xavps.remove(&names.contacts).unwrap_or_default();
    if list.is_empty() {
        return -2;
    }
    let head = list.remove(0);
    let Ok(first) = contact_of(ctx, &head) else {
        // Kamailio drops the whole list when a socket cannot be found.
        return -1;
    };
    let first_closes = field_int(&head, b"q_flag") != 0;
    // The instances already in this destination set (only the first's when it opens a class).
    let mut instances: Vec<Vec<u8>> = Vec::new();
    if !first.instance.is_empty() && !first_closes {
        instances.push(first.instance.clone());
        // Kamailio's set_instance(): the R-URI branch carries it.
        ctx.state.xavps.insert(
            RURI_INSTANCE.to_vec(),
            vec![vec![(
                b"instance".to_vec(),
                Value::Str(first.instance.clone()),
            )]],
        );
    }
    ctx.state.new_uri = Some(first.uri.clone());
    ctx.state.dst_uri = (!first.dst_uri.is_empty()).then(|| first.dst_uri.clone());
    ctx.state.force_socket = first.sock;
    ctx.state.bflags = first.flags;
    if first_closes {
        if !list.is_empty() {
            ctx.state.xavps.insert(names.contacts.clone(), list);
        }
        return 1;
    }
    if !names.flows.is_empty() {
        ctx.state.xavps.remove(&names.flows);
    }
    // Bounded by the list: one record consumed per round.
    while !list.is_empty() {
        let rec = list.remove(0);
        let closes = field_int(&rec, b"q_flag") != 0;
        let Ok(c) = contact_of(ctx, &rec) else {
            return -1;
        };
        if !c.instance.is_empty() && instances.contains(&c.instance) {
            if !names.flows.is_empty() {
                let mut flow = c.clone();
                flow.q = -1;
                let r = record(ctx, &flow, None);
                ctx.state
                    .xavps
                    .entry(names.flows.clone())
                    .or_default()
                    .insert(0, r);
            }
        } else {
            if !c.instance.is_empty() && !closes {
                instances.push(c.instance.clone());
            }
            ctx.state.branches.push(as_branch(c));
        }
        if closes {
            break;
        }
    }
    if !list.is_empty() {
        ctx.state.xavps.insert(names.contacts.clone(), list);
    }
    1
}

/// `t_next_contact_flow()` with the failed branch's instance: appends the first record of
/// `contact_flows_avp` with that instance (and a URI) as a branch and removes it — 1; -2 when
/// the branch has no instance or the XAVP is empty; -1 when no record matches or on error.
pub(super) fn next_flow(ctx: &mut Ctx<'_>, names: &SerialNames, this_instance: &[u8]) -> i64 {
    if names.flows.is_empty() {
        ctx.log_error(
            "t_next_contact_flow: feature has been disabled - to enable define contact_flows_avp module parameter",
        );
        return -1;
    }
    if this_instance.is_empty() {
        return -2;
    }
    let Some(mut list) = ctx
        .state
        .xavps
        .remove(&names.flows)
        .filter(|l| !l.is_empty())
    else {
        return -2;
    };
    // -1 unless a flow of this instance is appended (Kamailio's result when none matches).
    let mut rc = -1;
    // Bounded by the list.
    for i in 0..list.len() {
        let Some(rec) = list.get(i) else { break };
        if field_bytes(rec, b"instance") != this_instance || field(rec, b"uri").is_none() {
            continue;
        }
        match contact_of(ctx, rec) {
            Ok(c) => {
                ctx.state.branches.push(as_branch(c));
                rc = 1;
            }
            Err(()) => rc = -1,
        }
        list.remove(i);
        break;
    }
    if !list.is_empty() {
        ctx.state.xavps.insert(names.flows.clone(), list);
    }
    rc
}

/// A small xorshift generator for the proportional draw (no cryptographic need), seeded from the
/// standard library's per-process random hasher keys.
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        Rng(h.finish() | 1)
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(uri: &str, q: i32, path: &str) -> Contact {
        Contact {
            uri: uri.as_bytes().to_vec(),
            q,
            path: path.as_bytes().to_vec(),
            ..Contact::default()
        }
    }

    #[test]
    fn standard_order_is_increasing_q_with_path_contacts_first_in_a_class() {
        // (contacts in destination-set order, expected order of URIs)
        /// (uri, q, path) of each contact in destination-set order.
        type Set<'a> = &'a [(&'a str, i32, &'a str)];
        let cases: &[(Set, &[&str])] = &[
            (&[("a", 1000, ""), ("b", 500, "")], &["b", "a"]),
            (
                &[("a", -1, ""), ("b", 500, ""), ("c", 1000, "")],
                &["a", "b", "c"],
            ),
            // Same q: insertion order kept for Path-less contacts ...
            (
                &[("a", 500, ""), ("b", 500, ""), ("c", 500, "")],
                &["a", "b", "c"],
            ),
            // ... a contact with a Path goes before its equals.
            (&[("a", 500, ""), ("b", 500, "<sip:p>")], &["b", "a"]),
            (
                &[("a", 1000, ""), ("b", 0, ""), ("c", 1000, "")],
                &["b", "a", "c"],
            ),
        ];
        for (input, want) in cases {
            let all: Vec<Contact> = input.iter().map(|(u, q, p)| c(u, *q, p)).collect();
            let got: Vec<String> = order(all, false)
                .into_iter()
                .map(|(x, _)| String::from_utf8_lossy(&x.uri).into_owned())
                .collect();
            assert_eq!(got, *want, "{input:?}");
        }
    }

    #[test]
    fn records_round_trip_through_contact_of_fields() {
        let r: XavpRecord = vec![
            (b"ruid".to_vec(), Value::Str(b"r1".to_vec())),
            (b"q_flag".to_vec(), Value::Int(Q_FLAG)),
            (b"flags".to_vec(), Value::Int(64)),
            (b"uri".to_vec(), Value::Str(b"sip:a@h".to_vec())),
        ];
        assert_eq!(field_bytes(&r, b"uri"), b"sip:a@h");
        assert_eq!(field_int(&r, b"flags"), 64);
        assert_eq!(field_int(&r, b"q_flag"), Q_FLAG);
        assert_eq!(field_bytes(&r, b"dst_uri"), b"");
    }
}
