//! The `ul.*` RPC commands (export-table entries; the RPC transport is the server's).

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};

use super::store::UContact;
use super::UlApi;

/// `ul.dump`, `ul.lookup`, `ul.rm`, `ul.rm_contact`, `ul.add`, `ul.flush`.
pub fn rpcs(api: Arc<OnceLock<Arc<UlApi>>>) -> Vec<RpcExport> {
    let entry = |name: &'static str,
                 doc: &'static str,
                 f: fn(&UlApi, &[RpcValue]) -> Result<RpcValue, RpcFault>| {
        let a = Arc::clone(&api);
        RpcExport {
            name,
            doc,
            handler: Arc::new(move |args: &[RpcValue]| match a.get() {
                Some(api) => f(api, args),
                None => Err(fault(500, "usrloc not initialised")),
            }),
        }
    };
    vec![
        entry("ul.dump", "Dump user location tables", dump),
        entry(
            "ul.lookup",
            "Lookup one AOR in the usrloc location table",
            lookup,
        ),
        entry(
            "ul.rm",
            "Delete a address of record including its contacts",
            rm,
        ),
        entry(
            "ul.rm_contact",
            "Delete a contact from an AOR record",
            rm_contact,
        ),
        entry("ul.add", "Add a new contact for an address of record", add),
        entry("ul.flush", "Flush the usrloc memory cache to DB", flush),
        entry(
            "ul.db_users",
            "Tell number of different unexpired users (AoRs) in database table (db_mode!=0 only)",
            |a, args| db_count(a, args, 0),
        ),
        entry(
            "ul.db_contacts",
            "Tell number of unexpired contacts in database table (db_mode!=0 only)",
            |a, args| db_count(a, args, 1),
        ),
        entry(
            "ul.db_expired_contacts",
            "Tell number of expired contacts in database table (db_mode!=0 only)",
            |a, args| db_count(a, args, 2),
        ),
    ]
}

/// One contact as Kamailio's `ul.dump`/`ul.lookup` print it, at time `now`, with its last
/// keepalive and round trip in µs ([`super::Keepalive::shown`]).
pub fn contact_struct(c: &UContact, now: i64, ka: (i64, u32)) -> RpcValue {
    let s = |v: &str| RpcValue::Str(v.to_string());
    // Kamailio prints an empty text field as "[not set]".
    let opt = |v: &str| s(if v.is_empty() { "[not set]" } else { v });
    let expires = if c.expires == 0 {
        s("permanent")
    } else if c.expires <= now {
        s("expired")
    } else {
        RpcValue::Int(c.expires - now)
    };
    let q = if c.q < 0 {
        -1.0
    } else {
        f64::from(c.q) / 1000.0
    };
    RpcValue::Struct(vec![(
        "Contact".into(),
        RpcValue::Struct(vec![
            ("Address".into(), s(&c.uri)),
            ("Expires".into(), expires),
            ("Q".into(), RpcValue::Double(q)),
            ("Call-ID".into(), s(&c.callid)),
            ("CSeq".into(), RpcValue::Int(i64::from(c.cseq))),
            ("User-Agent".into(), opt(&c.user_agent)),
            ("Received".into(), opt(&c.received)),
            ("Path".into(), opt(&c.path)),
            ("State".into(), s("CS_NEW")),
            ("Flags".into(), RpcValue::Int(i64::from(c.flags))),
            ("CFlags".into(), RpcValue::Int(i64::from(c.cflags))),
            ("Socket".into(), opt(&c.socket)),
            ("Methods".into(), RpcValue::Int(i64::from(c.methods))),
            ("Ruid".into(), opt(&c.ruid)),
            ("Instance".into(), opt(&c.instance)),
            ("Reg-Id".into(), RpcValue::Int(i64::from(c.reg_id))),
            ("Server-Id".into(), RpcValue::Int(i64::from(c.server_id))),
            ("Tcpconn-Id".into(), RpcValue::Int(c.tcpconn_id)),
            ("Keepalive".into(), RpcValue::Int(0)),
            // Kamailio sets it when the contact is created or updated and on keepalive replies.
            ("Last-Keepalive".into(), RpcValue::Int(ka.0)),
            ("KA-Roundtrip".into(), RpcValue::Int(i64::from(ka.1))),
            ("Last-Modified".into(), RpcValue::Int(c.last_modified)),
        ]),
    )])
}

// ---- internals ----

fn fault(code: i32, m: &str) -> RpcFault {
    RpcFault {
        code,
        message: m.to_string(),
    }
}

fn str_arg(args: &[RpcValue], i: usize) -> Option<String> {
    match args.get(i)? {
        RpcValue::Str(s) => Some(s.clone()),
        RpcValue::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int_arg(args: &[RpcValue], i: usize) -> Option<i64> {
    match args.get(i)? {
        RpcValue::Int(n) => Some(*n),
        RpcValue::Str(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The table and the AoR as usrloc keys it (lower-cased domain part check as Kamailio's
/// `ul_rpc` does: with `use_domain` the AoR must contain `@`).
fn table_aor(api: &UlApi, args: &[RpcValue], usage: &str) -> Result<(String, String), RpcFault> {
    let (Some(t), Some(aor)) = (str_arg(args, 0), str_arg(args, 1)) else {
        return Err(fault(500, usage));
    };
    if !api.store().has_domain(&t) {
        return Err(fault(500, "Domain table not found"));
    }
    if api.config().use_domain && !aor.contains('@') {
        return Err(fault(500, "Domain missing in AOR"));
    }
    Ok((t, aor))
}

fn dump(api: &UlApi, args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let brief = str_arg(args, 0).is_some_and(|b| b == "brief");
    let now = api.clock().now();
    let mut domains = Vec::new();
    for d in api.store().domains() {
        let recs = api.store().dump(&d);
        let (n, _, max_slot) = api.store().counts(&d);
        let aors: Vec<RpcValue> = recs
            .iter()
            .map(|r| {
                if brief {
                    return RpcValue::Struct(vec![("AoR".into(), RpcValue::Str(r.aor.clone()))]);
                }
                let contacts = r
                    .contacts
                    .iter()
                    .map(|c| contact_struct(c, now, api.keepalive().shown(c)))
                    .collect();
                RpcValue::Struct(vec![(
                    "Info".into(),
                    RpcValue::Struct(vec![
                        ("AoR".into(), RpcValue::Str(r.aor.clone())),
                        (
                            "HashID".into(),
                            RpcValue::Int(i64::from(super::store::core_hash(r.aor.as_bytes()))),
                        ),
                        ("Contacts".into(), RpcValue::Array(contacts)),
                    ]),
                )])
            })
            .collect();
        domains.push(RpcValue::Struct(vec![(
            "Domain".into(),
            RpcValue::Struct(vec![
                ("Domain".into(), RpcValue::Str(d.clone())),
                ("Size".into(), RpcValue::Int(1 << api.config().hash_size)),
                ("AoRs".into(), RpcValue::Array(aors)),
                (
                    "Stats".into(),
                    RpcValue::Struct(vec![
                        (
                            "Records".into(),
                            RpcValue::Int(i64::try_from(n).unwrap_or(i64::MAX)),
                        ),
                        (
                            "Max-Slots".into(),
                            RpcValue::Int(i64::try_from(max_slot).unwrap_or(i64::MAX)),
                        ),
                    ]),
                ),
            ]),
        )]));
    }
    Ok(RpcValue::Struct(vec![(
        "Domains".into(),
        RpcValue::Array(domains),
    )]))
}

fn lookup(api: &UlApi, args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let (t, aor) = table_aor(api, args, "Not enough parameters (table and AOR to lookup)")?;
    let now = api.clock().now();
    let rec = api
        .store()
        .get(&t, &aor)
        .ok_or_else(|| fault(404, "AOR not found in location table"))?;
    let contacts: Vec<RpcValue> = rec
        .contacts
        .iter()
        .filter(|c| c.is_valid(now))
        .map(|c| contact_struct(c, now, api.keepalive().shown(c)))
        .collect();
    if contacts.is_empty() {
        return Err(fault(404, "AOR has no contacts"));
    }
    Ok(RpcValue::Struct(vec![
        ("AoR".into(), RpcValue::Str(aor)),
        ("Contacts".into(), RpcValue::Array(contacts)),
    ]))
}

fn rm(api: &UlApi, args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let (t, aor) = table_aor(api, args, "Not enough parameters (table and AOR to lookup)")?;
    // Removing an AoR that is not there is not an error in Kamailio either.
    api.store().delete(&t, &aor);
    Ok(RpcValue::Struct(Vec::new()))
}

fn rm_contact(api: &UlApi, args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let (t, aor) = table_aor(api, args, "Not enough parameters (table, AOR and contact)")?;
    let contact = str_arg(args, 2)
        .ok_or_else(|| fault(500, "Not enough parameters (table, AOR and contact)"))?;
    if api.store().get(&t, &aor).is_none() {
        return Err(fault(404, "AOR not found"));
    }
    let mut found = false;
    api.store().update(&t, &aor, &mut |list| {
        let before = list.len();
        list.retain(|c| c.uri != contact);
        found = list.len() != before;
    });
    if !found {
        return Err(fault(404, "Contact not found"));
    }
    Ok(RpcValue::Struct(Vec::new()))
}

/// `ul.add table aor contact expires q path flags cflags methods [received [socket]]`.
fn add(api: &UlApi, args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let usage = "Not enough parameters or wrong format";
    let (t, aor) = table_aor(api, args, usage)?;
    let uri = str_arg(args, 2).ok_or_else(|| fault(500, usage))?;
    let expires = int_arg(args, 3).ok_or_else(|| fault(500, usage))?;
    let q = match args.get(4) {
        Some(RpcValue::Double(d)) => *d,
        Some(RpcValue::Int(i)) => *i as f64,
        Some(RpcValue::Str(s)) => s.trim().parse().map_err(|_| fault(500, usage))?,
        _ => return Err(fault(500, usage)),
    };
    let path = str_arg(args, 5).ok_or_else(|| fault(500, usage))?;
    let flags = int_arg(args, 6).ok_or_else(|| fault(500, usage))?;
    let cflags = int_arg(args, 7).ok_or_else(|| fault(500, usage))?;
    let methods = int_arg(args, 8).ok_or_else(|| fault(500, usage))?;
    let received = str_arg(args, 9).unwrap_or_default();
    let socket = str_arg(args, 10).unwrap_or_default();
    let now = api.clock().now();
    let c = UContact {
        uri: uri.clone(),
        // Kamailio adds the current time to a non-zero expires given over RPC.
        expires: if expires == 0 { 0 } else { now + expires },
        q: if q < 0.0 {
            -1
        } else {
            (q * 1000.0).round().min(1000.0) as i32
        },
        callid: "dfjrewr12386fd6-343@kamailio.mi".into(),
        cseq: 1,
        path: if path == "0" { String::new() } else { path },
        received: if received == "0" {
            String::new()
        } else {
            received
        },
        ruid: api.next_ruid(),
        user_agent: "SIP Router MI Server".into(),
        socket,
        flags: u32::try_from(flags).unwrap_or(0),
        cflags: u32::try_from(cflags).unwrap_or(0),
        methods: u32::try_from(methods).unwrap_or(u32::MAX),
        last_modified: now,
        tcpconn_id: -1,
        ..UContact::default()
    };
    let desc = api.config().desc_time_order;
    api.store().update(
        &t,
        &aor,
        &mut |list| match list.iter_mut().find(|x| x.uri == uri) {
            Some(x) => {
                let keep = std::mem::take(&mut x.ruid);
                *x = UContact {
                    ruid: keep,
                    ..c.clone()
                };
            }
            None => insert_ordered(list, c.clone(), desc),
        },
    );
    Ok(RpcValue::Struct(Vec::new()))
}

/// `ul.db_users` (0), `ul.db_contacts` (1), `ul.db_expired_contacts` (2). Kamailio runs a
/// MySQL-only raw query; the rows are counted here, so every backend answers.
fn db_count(api: &UlApi, args: &[RpcValue], what: usize) -> Result<RpcValue, RpcFault> {
    let Some(d) = api.db_store() else {
        return Err(fault(500, "Command is not supported in db_mode=0"));
    };
    let Some(table) = str_arg(args, 0) else {
        return Err(fault(500, "Not enough parameters (table to lookup)"));
    };
    let (users, valid, expired) = d
        .db_counts(&table, api.clock().now())
        .map_err(|_| fault(500, "Failed to query contact count"))?;
    let n = [users, valid, expired].get(what).copied().unwrap_or(0);
    Ok(RpcValue::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn flush(api: &UlApi, _args: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    api.flush()
        .map(|_| RpcValue::Struct(Vec::new()))
        .map_err(|_| fault(500, "Operation failed"))
}

/// Inserts as Kamailio's `mem_insert_ucontact`: newest first with `desc_time_order`, else
/// before the first contact with a lower q (after those with an equal one).
pub fn insert_ordered(list: &mut Vec<UContact>, c: UContact, desc_time_order: bool) {
    let pos = if desc_time_order {
        0
    } else {
        list.iter().position(|x| x.q < c.q).unwrap_or(list.len())
    };
    list.insert(pos, c);
}
