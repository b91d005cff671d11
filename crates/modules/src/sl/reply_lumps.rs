//! Headers and body kept on a request for the replies generated to it (Kamailio's `add_lump_rpl`
//! with `LUMP_RPL_HDR` / `LUMP_RPL_BODY`): `append_to_reply`, `set_reply_body` and sl's 3xx Contact
//! add them; every local reply to the message includes them.
//!
//! The module API has no slot for them yet, so they live in a per-message XAVP whose name starts
//! with a NUL byte — no config can spell it (see the sl report: a `MsgState` field would be cleaner).

use ferrosip_api::{Ctx, Value};

const NAME: &[u8] = b"\0reply_lumps";
const HDR: &[u8] = b"hdr";
const BODY: &[u8] = b"body";

/// Adds a header block (must end with CRLF) to every later local reply.
pub fn add_header(ctx: &mut Ctx<'_>, text: &[u8]) {
    record(ctx).push((HDR.to_vec(), Value::Str(text.to_vec())));
}

/// Sets the body of later local replies; Kamailio refuses a second body (returns false).
pub fn set_body(ctx: &mut Ctx<'_>, body: &[u8]) -> bool {
    let r = record(ctx);
    if r.iter().any(|(n, _)| n == BODY) {
        return false;
    }
    r.push((BODY.to_vec(), Value::Str(body.to_vec())));
    true
}

/// The header blocks (concatenated, in call order) and the body, if any.
pub fn get(ctx: &Ctx<'_>) -> (Vec<u8>, Option<Vec<u8>>) {
    let mut hdrs = Vec::new();
    let mut body = None;
    if let Some(rec) = ctx.state.xavps.get(NAME).and_then(|v| v.first()) {
        for (n, v) in rec {
            if n == HDR {
                hdrs.extend_from_slice(&v.to_bytes());
            } else if n == BODY {
                body = Some(v.to_bytes().into_owned());
            }
        }
    }
    (hdrs, body)
}

fn record<'c>(ctx: &'c mut Ctx<'_>) -> &'c mut Vec<(Vec<u8>, Value)> {
    let list = ctx.state.xavps.entry(NAME.to_vec()).or_default();
    if list.is_empty() {
        list.push(Vec::new());
    }
    // Non-empty: pushed just above when it was empty.
    &mut list[0]
}
