//! `reg_fetch_contacts`, `reg_free_contacts` and `$ulc(profile=>attr)`.
//!
//! Kamailio keeps a fetched profile in the worker's private memory until it is freed or fetched
//! again, so it can outlive the message. Here it lives with the message (a per-message XAVP whose
//! name no config can spell): a profile fetched while handling one message is not visible while
//! handling the next. Within a message the behaviour is Kamailio's.

use std::sync::Arc;

use ferrosip_api::export::{PvExport, PvNameRule};
use ferrosip_api::pv::{Idx, PvInner, PvName};
use ferrosip_api::{Arg, Ctx, Error, Registry, RetCode, Value};

use super::save::extract_aor;
use super::Registrar;
use crate::usrloc::store::core_hash;

/// Attributes of `$ulc(profile=>attr)`.
pub const ATTRS: &[&str] = &[
    "aor",
    "domain",
    "aorhash",
    "addr",
    "path",
    "received",
    "expires",
    "callid",
    "q",
    "cseq",
    "flags",
    "cflags",
    "user_agent",
    "socket",
    "modified",
    "methods",
    "count",
    "ruid",
    "regid",
    "instance",
    "conid",
    "server_id",
];

/// `reg_fetch_contacts(table, uri, profile)`: 1 when the AoR has a record, else -1.
pub fn w_fetch(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = match a.first() {
        Some(Arg::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => String::new(),
    };
    let uri = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
    let profile = a.get(2).map(|x| x.bytes(ctx)).unwrap_or_default();
    let key = key(&profile);
    // A profile fetched again is replaced, even when the new fetch fails (Kamailio frees first).
    ctx.state.xavps.remove(&key);
    let Ok(aor) = extract_aor(cfg, ul, &uri) else {
        return Ok(RetCode(-1));
    };
    let Some(rec) = ul.store().get(&table, &aor) else {
        return Ok(RetCode(-1));
    };
    let records = records(&aor, &table, &rec.contacts);
    ctx.state.xavps.insert(key, records);
    Ok(RetCode(1))
}

/// The profile records of `aor` in `table` with `contacts` (the record first, then one per
/// contact), as `reg_fetch_contacts` stores them and `$ulc` reads them.
pub(crate) fn records(
    aor: &str,
    table: &str,
    contacts: &[crate::usrloc::store::UContact],
) -> Vec<ferrosip_api::ctx::XavpRecord> {
    let mut records = vec![vec![
        (b"aor".to_vec(), Value::str(aor.as_bytes())),
        (b"domain".to_vec(), Value::str(table.as_bytes())),
        (
            b"aorhash".to_vec(),
            Value::Int(i64::from(core_hash(aor.as_bytes()))),
        ),
        (b"count".to_vec(), Value::Int(contacts.len() as i64)),
    ]];
    for c in contacts {
        let s = |v: &str| Value::str(v.as_bytes());
        let mut r = vec![
            (b"addr".to_vec(), s(&c.uri)),
            (b"path".to_vec(), s(&c.path)),
            (b"received".to_vec(), s(&c.received)),
            (b"expires".to_vec(), Value::Int(c.expires)),
            (b"callid".to_vec(), s(&c.callid)),
            (b"q".to_vec(), Value::Int(i64::from(c.q))),
            (b"cseq".to_vec(), Value::Int(i64::from(c.cseq))),
            (b"flags".to_vec(), Value::Int(i64::from(c.flags))),
            (b"cflags".to_vec(), Value::Int(i64::from(c.cflags))),
            (b"user_agent".to_vec(), s(&c.user_agent)),
            (b"modified".to_vec(), Value::Int(c.last_modified)),
            (b"methods".to_vec(), Value::Int(i64::from(c.methods))),
            (b"ruid".to_vec(), s(&c.ruid)),
            (b"regid".to_vec(), Value::Int(i64::from(c.reg_id))),
            (b"server_id".to_vec(), Value::Int(i64::from(c.server_id))),
        ];
        if !c.socket.is_empty() {
            r.push((b"socket".to_vec(), s(&c.socket)));
        }
        if !c.instance.is_empty() {
            r.push((b"instance".to_vec(), s(&c.instance)));
        }
        if c.tcpconn_id > 0 {
            r.push((b"conid".to_vec(), Value::Int(c.tcpconn_id)));
        }
        records.push(r);
    }
    records
}

/// `reg_free_contacts(profile)`.
pub fn w_free(_r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let profile = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    ctx.state.xavps.remove(&key(&profile));
    Ok(RetCode(1))
}

/// The `$ulc` export.
pub fn pv() -> PvExport {
    PvExport {
        name: "ulc",
        doc: "contacts fetched by reg_fetch_contacts: $(ulc(profile=>attr)[index])",
        inner: PvNameRule::Required,
        indexed: true,
        parse: Some(Arc::new(|inner: &str, _reg: &Registry| {
            let (p, attr) = inner
                .split_once("=>")
                .ok_or_else(|| format!("invalid $ulc name `{inner}` (profile=>attr)"))?;
            let (p, attr) = (p.trim(), attr.trim());
            if p.is_empty() || !ATTRS.contains(&attr) {
                return Err(format!("unknown $ulc attribute `{attr}`"));
            }
            Ok(PvInner::Str(format!("{p}\0{attr}").into_bytes()))
        })),
        get: Arc::new(|ctx: &mut Ctx<'_>, n: &PvName| {
            let PvInner::Str(name) = &n.inner else {
                return Ok(Value::Null);
            };
            let mut parts = name.splitn(2, |b| *b == 0);
            let (Some(p), Some(attr)) = (parts.next(), parts.next()) else {
                return Ok(Value::Null);
            };
            let idx = match n.idx(ctx) {
                Idx::At(i) if i > 0 => usize::try_from(i).unwrap_or(usize::MAX),
                _ => 0,
            };
            let Some(recs) = ctx.state.xavps.get(&key(p)) else {
                return Ok(Value::Null);
            };
            let field = |r: &Vec<(Vec<u8>, Value)>| {
                r.iter()
                    .find(|(k, _)| k.as_slice() == attr)
                    .map(|(_, v)| v.clone())
            };
            let meta = recs.first();
            // Kamailio answers null when the index is past the contacts, even for aor/count.
            let Some(contact) = recs.get(idx + 1) else {
                return Ok(Value::Null);
            };
            Ok(match attr {
                b"aor" | b"domain" | b"aorhash" | b"count" => meta.and_then(field),
                _ => field(contact),
            }
            .unwrap_or(Value::Null))
        }),
        set: None,
    }
}

pub(crate) fn key(profile: &[u8]) -> Vec<u8> {
    let mut k = b"\0ulc:".to_vec();
    k.extend_from_slice(profile);
    k
}
