//! Kamailio 6.0's `lookup_xavp(table, uri, rxname, cxname)` and
//! `reg_from_user(table, uri, mode)`: the location record of an AoR copied into XAVPs, and
//! whether the message comes from where one of the AoR's contacts registered from.
//!
//! Neither looks at expiry: every contact the table holds for the AoR counts, as in Kamailio.

use std::net::IpAddr;

use ferrosip_api::ctx::XavpRecord;
use ferrosip_api::{Arg, Ctx, Error, Proto, RetCode, Value};
use ferrosip_sipmsg::{HostKind, Span, Uri};

use super::save::extract_aor;
use super::Registrar;

/// `lookup_xavp(table, uri, rxname, cxname)`: a new first `$xavp(rxname)` record with `aor` and
/// `count`, and one `$xavp(cxname)` record per contact (in lookup order, ahead of any earlier
/// ones) with `uri`, `socket` (when known) and `dsturi` (the received address, when set). -1
/// for a bad URI, an unknown table or an AoR with no record.
pub fn w_lookup_xavp(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let [table, uri, rxname, cxname] =
        [0, 1, 2, 3].map(|i| a.get(i).map(|x| x.bytes(ctx)).unwrap_or_default());
    let Ok(aor) = extract_aor(cfg, ul, &uri) else {
        return Ok(RetCode(-1));
    };
    let table = String::from_utf8_lossy(&table).into_owned();
    if !ul.store().has_domain(&table) {
        ctx.log_error(&format!("usrloc domain [{table}] not found"));
        return Ok(RetCode(-1));
    }
    let Some(rec) = ul.store().get(&table, &aor) else {
        return Ok(RetCode(-1));
    };
    let mut contacts = Vec::with_capacity(rec.contacts.len());
    for c in &rec.contacts {
        // newest field first, as Kamailio's xavp_add_value
        let mut fields: XavpRecord = Vec::new();
        if !c.received.is_empty() {
            fields.push((b"dsturi".to_vec(), Value::str(c.received.as_str())));
        }
        if !c.socket.is_empty() {
            fields.push((b"socket".to_vec(), Value::str(c.socket.as_str())));
        }
        fields.push((b"uri".to_vec(), Value::str(c.uri.as_str())));
        contacts.push(fields);
    }
    let n = contacts.len() as i64;
    let list = ctx.state.xavps.entry(cxname).or_default();
    list.splice(0..0, contacts);
    let record: XavpRecord = vec![
        (b"count".to_vec(), Value::Int(n)),
        (b"aor".to_vec(), Value::str(aor.as_str())),
    ];
    ctx.state.xavps.entry(rxname).or_default().insert(0, record);
    Ok(RetCode(1))
}

/// `reg_from_user` mode bit: the source port must match too.
const MATCH_PORT: i64 = 1;
/// `reg_from_user` mode bit: the transport must match too.
const MATCH_PROTO: i64 = 2;

/// `reg_from_user(table, uri, mode)`: 1 when the source IP (and, by `mode`, port and transport)
/// is the host of one of the AoR's contacts — its received address when set, else its URI. A
/// URI without a port has port 0 and one without `transport=` no transport, so those match only
/// with the bits off, as in Kamailio. Hosts that are not IP addresses are skipped.
pub fn w_reg_from_user(r: &Registrar, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let (cfg, ul) = r.parts()?;
    let table = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let uri = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
    let mode = match a.get(2).map(|x| x.int(ctx)) {
        Some(Ok(m)) => m,
        Some(Err(_)) => return Ok(RetCode(-1)),
        None => 0,
    };
    let Ok(aor) = extract_aor(cfg, ul, &uri) else {
        return Ok(RetCode(-1));
    };
    let table = String::from_utf8_lossy(&table).into_owned();
    if !ul.store().has_domain(&table) {
        ctx.log_error(&format!("usrloc domain [{table}] not found"));
        return Ok(RetCode(-1));
    }
    let Some(rec) = ul.store().get(&table, &aor) else {
        return Ok(RetCode(-1));
    };
    let src = ctx.rcv.src;
    for c in &rec.contacts {
        let text = if c.received.is_empty() {
            c.uri.as_bytes()
        } else {
            c.received.as_bytes()
        };
        // Kamailio gives up on the whole record at an unparsable URI.
        let Ok(u) = Uri::parse(text, Span::new(0, text.len())) else {
            return Ok(RetCode(-1));
        };
        let host = u.host.of(text);
        let host = match u.host_kind {
            HostKind::Ipv6 => host
                .strip_prefix(b"[")
                .and_then(|h| h.strip_suffix(b"]"))
                .unwrap_or(host),
            _ => host,
        };
        let Some(ip) = std::str::from_utf8(host)
            .ok()
            .and_then(|h| h.parse::<IpAddr>().ok())
        else {
            continue;
        };
        if ip != src.ip() {
            continue;
        }
        if mode & MATCH_PORT != 0 && u.port.unwrap_or(0) != src.port() {
            continue;
        }
        if mode & MATCH_PROTO != 0 {
            let proto = u
                .transport
                .and_then(|p| p.value)
                .and_then(|v| Proto::from_name(v.of(text)));
            if proto != Some(ctx.rcv.proto) {
                continue;
            }
        }
        return Ok(RetCode(1));
    }
    Ok(RetCode(-1))
}
