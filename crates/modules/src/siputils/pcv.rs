//! `sip_p_charging_vector(flags)` and `$pcv(name)`: the P-Charging-Vector header of RFC 7315.
//!
//! The state Kamailio keeps per process and message id (status, the parsed fields, the header
//! text) is kept per message in a NUL-named XAVP. A generated header is
//! `P-Charging-Vector: icid-value=<32 hex>;icid-generated-at=<sending IP>` — the address is
//! filled in when the outgoing buffer is built (Kamailio's `SUBST_SND_IP` lump). The icid-value
//! follows Kamailio's layout (`IVS`, 4 address bytes, 4 pid bytes, 1 time byte, 4 counter bytes);
//! the address is the local IPv4 address the message arrived on (Kamailio resolves the host
//! name, which modules cannot do).

use std::sync::atomic::{AtomicU64, Ordering};

use ferrosip_api::{Ctx, Value};
use ferrosip_sipmsg::edit::{At, Subst};

/// `$pcv(status)` values and the function's return codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// No header (0).
    None = 0,
    /// Parsed (1; also the "nothing done" return code).
    Parsed = 1,
    /// Header without icid-value (2).
    IcidMissing = 2,
    /// Generated here (3).
    Generated = 3,
    /// Deleted (4).
    Deleted = 4,
    /// Deleted and generated again (5; a return code only).
    Replaced = 5,
}

/// Which field `$pcv(name)` reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `all`: the header body.
    All,
    /// `value`: icid-value.
    Value,
    /// `genaddr`: icid-generated-at.
    GenAddr,
    /// `orig`: orig-ioi.
    Orig,
    /// `term`: term-ioi.
    Term,
    /// `status`.
    Status,
}

impl Field {
    /// From the name inside `$pcv(…)` (case-sensitive, as Kamailio).
    pub fn from_name(s: &str) -> Option<Field> {
        Some(match s {
            "all" => Field::All,
            "value" => Field::Value,
            "genaddr" => Field::GenAddr,
            "orig" => Field::Orig,
            "term" => Field::Term,
            "status" => Field::Status,
            _ => return None,
        })
    }
}

/// The parsed fields of a P-Charging-Vector body (Kamailio finds each `key=` anywhere in the
/// body; a value ends at NUL, blank, `;`, `,` or a line end).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// icid-value.
    pub value: Option<Vec<u8>>,
    /// icid-generated-at.
    pub genaddr: Option<Vec<u8>>,
    /// orig-ioi.
    pub orig: Option<Vec<u8>>,
    /// term-ioi.
    pub term: Option<Vec<u8>>,
}

/// Parses a body.
pub fn parse(body: &[u8]) -> Parsed {
    let find = |key: &[u8]| -> Option<Vec<u8>> {
        let at = body.windows(key.len()).position(|w| w == key)? + key.len();
        let rest = body.get(at..).unwrap_or_default();
        let end = rest
            .iter()
            .position(|b| matches!(b, 0 | b' ' | b';' | b',' | b'\r' | b'\n'))
            .unwrap_or(rest.len());
        Some(rest.get(..end).unwrap_or_default().to_vec())
    };
    Parsed {
        value: find(b"icid-value="),
        genaddr: find(b"icid-generated-at="),
        orig: find(b"orig-ioi="),
        term: find(b"term-ioi="),
    }
}

/// `sip_p_charging_vector(flags)`: `r` remove, `g` generate when absent, `f` remove and generate.
/// Returns 1 (nothing done), 3 generated, 4 deleted, 5 replaced, negative on error.
pub fn handle(ctx: &mut Ctx<'_>, flags: &[u8]) -> i64 {
    let lower: Vec<u8> = flags.to_ascii_lowercase();
    let remove = lower.contains(&b'r');
    let replace = lower.contains(&b'f');
    let generate = replace || lower.contains(&b'g');
    let mut st = load(ctx);
    match st.status {
        Status::Generated => {
            ctx.log(
                ferrosip_api::L_WARN,
                "P-Charging-Vector can't be changed after generation",
            );
            return Status::Parsed as i64;
        }
        Status::Deleted if remove => return Status::Parsed as i64,
        _ => {}
    }
    let mut action = Status::Parsed;
    let mut anchor = None;
    if (st.status == Status::Parsed && (replace || remove)) || st.status == Status::IcidMissing {
        if let Some((start, len)) = st.header {
            match ctx.edits.delete(start, len) {
                Ok(a) => anchor = Some(a),
                Err(e) => {
                    ctx.log_error(&format!("cannot remove P-Charging-Vector: {e}"));
                    return -1;
                }
            }
        }
        st = State {
            status: Status::Deleted,
            ..State::default()
        };
        action = Status::Deleted;
    }
    if replace || (generate && st.status != Status::Generated && st.status != Status::Parsed) {
        let anchor = match anchor {
            Some(a) => a,
            None => {
                let eoh = match ctx.msg.headers_end() {
                    Ok(e) => e,
                    Err(_) => return -1,
                };
                match ctx.edits.anchor(eoh) {
                    Ok(a) => a,
                    Err(_) => return -1,
                }
            }
        };
        let value = icid_value(ctx);
        let body = format!("icid-value={value};icid-generated-at=");
        let text = format!("P-Charging-Vector: {body}");
        let ok = ctx
            .edits
            .insert(At::Before(anchor), text.as_bytes())
            .and_then(|p| ctx.edits.insert_subst(At::Next(p), Subst::SndIp))
            .and_then(|p| ctx.edits.insert(At::Next(p), b"\r\n"))
            .is_ok();
        if !ok {
            ctx.log_error("Failed to add P-Charging-Vector header");
            return -1;
        }
        action = if st.status == Status::Deleted {
            Status::Replaced
        } else {
            Status::Generated
        };
        st = State {
            status: Status::Generated,
            all: body.clone().into_bytes(),
            parsed: parse(body.as_bytes()),
            header: None,
        };
    }
    store(ctx, &st);
    action as i64
}

/// `$pcv(field)`.
pub fn get(ctx: &mut Ctx<'_>, f: Field) -> Value {
    let st = load(ctx);
    store(ctx, &st);
    let v = match f {
        Field::Status => return Value::Int(st.status as i64),
        Field::All => Some(st.all),
        Field::Value => st.parsed.value,
        Field::GenAddr => st.parsed.genaddr,
        Field::Orig => st.parsed.orig,
        Field::Term => st.parsed.term,
    };
    match v {
        Some(v) if !v.is_empty() => Value::Str(v),
        _ => Value::Null,
    }
}

// ---- internals ----

const KEY: &[u8] = b"\0pcv";
/// Kamailio copies the body into a 256-byte buffer.
const BUF_SIZE: usize = 256;

#[derive(Debug, Clone, PartialEq, Eq)]
struct State {
    status: Status,
    all: Vec<u8>,
    parsed: Parsed,
    /// The header to delete: (start, length).
    header: Option<(usize, usize)>,
}

impl Default for State {
    fn default() -> State {
        State {
            status: Status::None,
            all: Vec::new(),
            parsed: Parsed::default(),
            header: None,
        }
    }
}

fn status_from(i: i64) -> Status {
    match i {
        1 => Status::Parsed,
        2 => Status::IcidMissing,
        3 => Status::Generated,
        4 => Status::Deleted,
        _ => Status::None,
    }
}

/// The stored state, or the message's header parsed now (Kamailio re-reads while the status is
/// NONE).
fn load(ctx: &Ctx<'_>) -> State {
    if let Some(rec) = ctx.state.xavps.get(KEY).and_then(|l| l.first()) {
        let get = |n: &[u8]| rec.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        let status = status_from(get(b"status").map(|v| v.to_int()).unwrap_or(0));
        if status != Status::None {
            let all = get(b"all").map(|v| v.into_bytes()).unwrap_or_default();
            let header = match (get(b"hs"), get(b"hl")) {
                (Some(s), Some(l)) => usize::try_from(s.to_int())
                    .ok()
                    .zip(usize::try_from(l.to_int()).ok()),
                _ => None,
            };
            let parsed = if status == Status::IcidMissing {
                Parsed::default()
            } else {
                parse(&all)
            };
            return State {
                status,
                all,
                parsed,
                header,
            };
        }
    }
    read_header(ctx)
}

fn read_header(ctx: &Ctx<'_>) -> State {
    let Ok(hdrs) = ctx.msg.headers() else {
        return State::default();
    };
    let buf = ctx.msg.buf();
    let Some(h) = hdrs
        .iter()
        .find(|h| h.name.of(buf).eq_ignore_ascii_case(b"P-Charging-Vector"))
    else {
        return State::default();
    };
    let header = Some((h.span.start as usize, h.span.len()));
    let body = h.value.of(buf);
    if body.is_empty() {
        return State {
            status: Status::IcidMissing,
            header,
            ..State::default()
        };
    }
    let all = body
        .get(..body.len().min(BUF_SIZE))
        .unwrap_or_default()
        .to_vec();
    let parsed = parse(&all);
    if parsed.value.is_none() {
        return State {
            status: Status::IcidMissing,
            all,
            parsed: Parsed::default(),
            header,
        };
    }
    State {
        status: Status::Parsed,
        all,
        parsed,
        header,
    }
}

fn store(ctx: &mut Ctx<'_>, st: &State) {
    let mut rec = vec![
        (b"status".to_vec(), Value::Int(st.status as i64)),
        (b"all".to_vec(), Value::Str(st.all.clone())),
    ];
    if let Some((s, l)) = st.header {
        rec.push((b"hs".to_vec(), Value::Int(s as i64)));
        rec.push((b"hl".to_vec(), Value::Int(l as i64)));
    }
    ctx.state.xavps.insert(KEY.to_vec(), vec![rec]);
}

/// 16 bytes as 32 upper-case hex digits: `IVS`, IPv4 (network order bytes as stored), pid, the
/// low byte of the time, a counter.
fn icid_value(ctx: &Ctx<'_>) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let ct = COUNTER.fetch_add(1, Ordering::Relaxed) & 0xFFFF_FFFF;
    let ip = match ctx.rcv.dst.ip() {
        std::net::IpAddr::V4(v4) => v4.octets(),
        std::net::IpAddr::V6(_) => [0; 4],
    };
    let pid = std::process::id().to_le_bytes();
    let t = crate::siputils::strs::now() as u8;
    let mut id = [0u8; 16];
    id[..3].copy_from_slice(b"IVS");
    id[3..7].copy_from_slice(&ip);
    id[7..11].copy_from_slice(&pid);
    id[11] = t;
    id[12..16].copy_from_slice(&(ct as u32).to_le_bytes());
    id.iter().map(|b| format!("{b:02X}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_fields() {
        let p = parse(b"icid-value=AyretyU0dm+6O2IrT5tAFrbHLso=;icid-generated-at=192.0.6.8;orig-ioi=home1.net");
        assert_eq!(
            p.value.as_deref(),
            Some(&b"AyretyU0dm+6O2IrT5tAFrbHLso="[..])
        );
        assert_eq!(p.genaddr.as_deref(), Some(&b"192.0.6.8"[..]));
        assert_eq!(p.orig.as_deref(), Some(&b"home1.net"[..]));
        assert_eq!(p.term, None);
        assert_eq!(parse(b"foo=1").value, None);
        assert_eq!(Field::from_name("genaddr"), Some(Field::GenAddr));
        assert_eq!(Field::from_name("Value"), None);
    }
}
