//! Messages tm builds itself: the hop-by-hop ACK of a negative INVITE reply and the CANCEL of a
//! branch (both derived from the INVITE as sent on the branch, as Kamailio's `build_local_reparse`
//! does with `reparse_invite=1`), and the Kamailio reason phrases of local replies.

use ferrosip_sipmsg::{HeaderKind, Msg};

/// Builds `ACK` (with the reply's To) or `CANCEL` (with `reason` lines, each ending in CRLF) from
/// the INVITE sent on a branch: request line with the branch's R-URI; in the INVITE's order, the
/// top Via, From, Call-ID, CSeq (method replaced), To, Route, Max-Forwards, Content-Length (with
/// the value 0); then the `reason` lines.
pub fn derive(
    sent: &[u8],
    method: &[u8],
    reply_to: Option<&[u8]>,
    reason: &[u8],
) -> Option<Vec<u8>> {
    let inv = Msg::parse(sent.to_vec()).ok()?;
    let rl = inv.request_line()?;
    let buf = inv.buf();
    let mut out = Vec::with_capacity(buf.len().min(1024) + 64);
    out.extend_from_slice(method);
    out.push(b' ');
    out.extend_from_slice(rl.uri.of(buf));
    out.push(b' ');
    out.extend_from_slice(rl.version.of(buf));
    out.extend_from_slice(b"\r\n");
    let mut via_done = false;
    for h in inv.headers().ok()? {
        let line = h.span.of(buf);
        match h.kind {
            HeaderKind::Via if !via_done => {
                via_done = true;
                // Only the first Via value (ours), even when the header holds several.
                let via = inv.via1().ok()?;
                out.extend_from_slice(&line[..h.value.start as usize - h.span.start as usize]);
                out.extend_from_slice(via.span.of(buf));
                out.extend_from_slice(b"\r\n");
            }
            HeaderKind::From | HeaderKind::CallId | HeaderKind::Route | HeaderKind::MaxForwards => {
                out.extend_from_slice(line)
            }
            HeaderKind::To => match reply_to {
                Some(to) => out.extend_from_slice(to),
                None => out.extend_from_slice(line),
            },
            HeaderKind::ContentLength => {
                // The header's name as the INVITE spells it (`l` or `Content-Length`), value 0.
                out.extend_from_slice(h.name.of(buf));
                out.extend_from_slice(b": 0\r\n");
            }
            HeaderKind::CSeq => {
                let c = inv.cseq().ok()?;
                out.extend_from_slice(b"CSeq: ");
                out.extend_from_slice(c.number_span.of(buf));
                out.push(b' ');
                out.extend_from_slice(method);
                out.extend_from_slice(b"\r\n");
            }
            _ => {}
        }
    }
    // Kamailio writes the Reason header after the copied headers.
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");
    Some(out)
}

/// The whole To header line (with CRLF) of a reply, for the ACK.
pub fn to_line(reply: &[u8]) -> Option<Vec<u8>> {
    let m = Msg::parse(reply.to_vec()).ok()?;
    let h = m.header(HeaderKind::To).ok()??;
    Some(h.span.of(m.buf()).to_vec())
}

/// Reason phrase of a reply tm generates on its own.
pub fn reason(code: u16) -> &'static [u8] {
    match code {
        // Kamailio's tm text for its automatic 100.
        100 => b"trying -- your call is important to us",
        200 => b"OK",
        408 => b"Request Timeout",
        480 => b"Temporarily Unavailable",
        487 => b"Request Terminated",
        500 => b"Server Internal Error",
        503 => b"Service Unavailable",
        _ => b"Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INVITE: &str = "INVITE sip:bob@127.0.0.1:5070 SIP/2.0\r\n\
Record-Route: <sip:127.0.0.1;lr>\r\n\
Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1.2.0, SIP/2.0/UDP 10.0.0.1:5080;branch=z9hG4bKa\r\n\
Via: SIP/2.0/UDP 10.0.0.2;branch=z9hG4bKb\r\n\
Max-Forwards: 69\r\n\
From: <sip:alice@a>;tag=f1\r\n\
To: <sip:bob@b>\r\n\
Route: <sip:10.0.0.9;lr>\r\n\
Call-ID: c1\r\n\
CSeq: 7 INVITE\r\n\
Contact: <sip:alice@10.0.0.1>\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 4\r\n\r\nv=0\n";

    #[test]
    fn ack_and_cancel() {
        let ack = derive(
            INVITE.as_bytes(),
            b"ACK",
            Some(b"To: <sip:bob@b>;tag=t9\r\n"),
            b"",
        )
        .map(String::from_utf8);
        let want_ack = "ACK sip:bob@127.0.0.1:5070 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK1.2.0\r\n\
Max-Forwards: 69\r\n\
From: <sip:alice@a>;tag=f1\r\n\
To: <sip:bob@b>;tag=t9\r\n\
Route: <sip:10.0.0.9;lr>\r\n\
Call-ID: c1\r\n\
CSeq: 7 ACK\r\n\
Content-Length: 0\r\n\r\n";
        assert_eq!(ack, Some(Ok(want_ack.to_string())));
        let cancel = derive(
            INVITE.as_bytes(),
            b"CANCEL",
            None,
            b"Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n",
        )
        .map(String::from_utf8);
        let want = want_ack
            .replace("ACK sip", "CANCEL sip")
            .replace(";tag=t9", "")
            .replace("7 ACK", "7 CANCEL")
            .replace(
                "Content-Length: 0\r\n",
                "Content-Length: 0\r\nReason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n",
            );
        assert_eq!(cancel, Some(Ok(want)));
        assert_eq!(derive(b"SIP/2.0 200 OK\r\n\r\n", b"ACK", None, b""), None);
        // Content-Length stays where the INVITE has it (here before a To added by the script),
        // with the INVITE's spelling of its name; none when the INVITE has none.
        let moved = "INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nl: 0\r\nTo: <sip:x@h>\r\n\r\n";
        let c = derive(
            moved.as_bytes(),
            b"CANCEL",
            None,
            b"Reason: SIP;cause=487\r\n",
        )
        .map(String::from_utf8);
        let want = "CANCEL sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@h>;tag=1\r\nCall-ID: c\r\nCSeq: 1 CANCEL\r\nl: 0\r\nTo: <sip:x@h>\r\n\
Reason: SIP;cause=487\r\n\r\n";
        assert_eq!(c, Some(Ok(want.to_string())));
        let none = moved.replace("l: 0\r\n", "");
        let c = derive(none.as_bytes(), b"ACK", None, b"").map(String::from_utf8);
        assert!(c.is_some_and(|c| c.is_ok_and(|c| !c.contains("l: 0"))));
    }
}
