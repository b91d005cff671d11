//! Local replies to HTTP requests (xhttp's faked-Via messages): Kamailio's core reply builder
//! renames the copied Via headers `Sia` when the request is HTTP, so every local reply path — sl's
//! functions and the modules replying through [`crate::sl::SlReply`] — does the same here.

use ferrosip_sipmsg::{HeaderKind, Msg, Proto as Version};

/// True when `req` is an HTTP request (`HTTP/1.x` or `HTTP/2` on its request line).
pub fn is_http(req: &Msg) -> bool {
    req.request_line()
        .is_some_and(|rl| matches!(rl.proto, Version::Http | Version::Http2))
}

/// Renames the Via copies of a reply to an HTTP request `Sia` (Kamailio overwrites the first
/// letter of each copied Via header): the header lines of `reply` that start with the name of one
/// of `req`'s Via headers.
pub fn rename_vias(req: &Msg, reply: &mut [u8]) {
    let names: Vec<&[u8]> = match req.headers() {
        Ok(hs) => hs
            .iter()
            .filter(|h| h.kind == HeaderKind::Via)
            .map(|h| h.name.of(req.buf()))
            .collect(),
        Err(_) => return,
    };
    let mut at = match find_crlf(reply) {
        Some(i) => i + 2,
        None => return,
    };
    while at < reply.len() {
        let rest = reply.get(at..).unwrap_or_default();
        let len = find_crlf(rest).unwrap_or(rest.len());
        if len == 0 {
            break; // end of the header section
        }
        let line = rest.get(..len).unwrap_or_default();
        let is_via = names.iter().any(|n| {
            line.len() > n.len()
                && line.get(..n.len()) == Some(*n)
                && line
                    .get(n.len()..)
                    .and_then(|r| r.iter().find(|b| !matches!(b, b' ' | b'\t')))
                    == Some(&b':')
        });
        if is_via {
            if let Some(b) = reply.get_mut(at) {
                *b = b'S';
            }
        }
        at += len + 2;
    }
}

fn find_crlf(s: &[u8]) -> Option<usize> {
    s.windows(2).position(|w| w == b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sia_only_for_via_lines() {
        let req = "GET / HTTP/1.0\r\nv: SIP/2.0/TCP 1.2.3.4:1\r\nVia : SIP/2.0/TCP 5.6.7.8:2\r\nCSeq: 1 GET\r\n\r\n";
        let msg = Msg::parse(req.as_bytes().to_vec()).expect("parses");
        assert!(is_http(&msg));
        let mut out = b"HTTP/1.0 200 OK\r\nv: SIP/2.0/TCP 1.2.3.4:1\r\nVia : SIP/2.0/TCP 5.6.7.8:2\r\nCSeq: 1 GET\r\nvia-x: y\r\n\r\nv: body".to_vec();
        rename_vias(&msg, &mut out);
        assert_eq!(
            String::from_utf8_lossy(&out),
            "HTTP/1.0 200 OK\r\nS: SIP/2.0/TCP 1.2.3.4:1\r\nSia : SIP/2.0/TCP 5.6.7.8:2\r\nCSeq: 1 GET\r\nvia-x: y\r\n\r\nv: body"
        );
    }

    #[test]
    fn sip_requests_are_not_http() {
        let msg = Msg::parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n".to_vec(),
        )
        .expect("parses");
        assert!(!is_http(&msg));
    }
}
