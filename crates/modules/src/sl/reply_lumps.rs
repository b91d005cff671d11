//! Headers and body kept on a request for the replies generated to it (Kamailio's `add_lump_rpl`
//! with `LUMP_RPL_HDR` / `LUMP_RPL_BODY`): `append_to_reply`, `set_reply_body`, auth challenges and
//! sl's 3xx Contact add them; every local reply to the message includes them.
//!
//! They live in the message state (`MsgState::reply_hdrs` / `MsgState::reply_body`); these helpers
//! are the interface the modules already use.

use ferrosip_api::Ctx;

/// Adds a header block (must end with CRLF) to every later local reply.
pub fn add_header(ctx: &mut Ctx<'_>, text: &[u8]) {
    ctx.state.reply_hdrs.extend_from_slice(text);
}

/// Sets the body of later local replies; Kamailio refuses a second body (returns false).
pub fn set_body(ctx: &mut Ctx<'_>, body: &[u8]) -> bool {
    if ctx.state.reply_body.is_some() {
        return false;
    }
    ctx.state.reply_body = Some(body.to_vec());
    true
}

/// The header blocks (concatenated, in call order) and the body, if any.
pub fn get(ctx: &Ctx<'_>) -> (Vec<u8>, Option<Vec<u8>>) {
    (ctx.state.reply_hdrs.clone(), ctx.state.reply_body.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrosip_api::{Recorder, RecvInfo, RouteType, WorkerState};

    #[test]
    fn headers_accumulate_and_one_body() {
        let mut m = ferrosip_sipmsg::Msg::parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n".to_vec(),
        )
        .expect("parses");
        let mut w = WorkerState::default();
        let mut rec = Recorder::default();
        let mut ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .expect("ctx");
        add_header(&mut ctx, b"A: 1\r\n");
        add_header(&mut ctx, b"B: 2\r\n");
        assert!(set_body(&mut ctx, b"x"));
        assert!(!set_body(&mut ctx, b"y"));
        assert_eq!(
            get(&ctx),
            (b"A: 1\r\nB: 2\r\n".to_vec(), Some(b"x".to_vec()))
        );
        assert!(ctx.state.xavps.is_empty(), "no hidden XAVP any more");
    }
}
