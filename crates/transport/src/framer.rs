//! The seam between the TCP reader and the sans-I/O stream framer.
//!
//! The connection tasks only know [`StreamFramer`]. [`Framer`] names the implementation in use:
//! an interim one written here until `ferrosip-sipmsg` publishes its framer; swapping is the one
//! `pub type Framer` line below plus a small `impl StreamFramer` adapter.

use std::fmt;

/// Limits and leniency the framer applies to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest message (headers + body) accepted.
    pub max_size: usize,
    /// `tcp_accept_no_cl`: a message without Content-Length has an empty body instead of being
    /// an error.
    pub accept_no_cl: bool,
}

/// What the framer found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// One complete SIP message.
    Message(Vec<u8>),
    /// A CRLFCRLF keepalive (RFC 5626 §3.5.1); the caller may answer CRLF.
    Ping,
}

/// Why the stream cannot be framed; the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Header section or message larger than `max_size`.
    TooLarge,
    /// No Content-Length and `tcp_accept_no_cl` is off.
    MissingContentLength,
    /// Content-Length is not a number.
    BadContentLength,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FrameError::TooLarge => "message too large",
            FrameError::MissingContentLength => "missing Content-Length",
            FrameError::BadContentLength => "bad Content-Length",
        })
    }
}

/// An incremental stream framer: feed bytes in any chunking, pull events out.
pub trait StreamFramer: Send + 'static {
    fn new(limits: FrameLimits) -> Self;
    /// Appends bytes read from the connection.
    fn feed(&mut self, data: &[u8]);
    /// The next event, `Ok(None)` when more bytes are needed. After an error the stream is dead.
    fn next_event(&mut self) -> Result<Option<FrameEvent>, FrameError>;
}

/// The framer the connection layer uses.
pub type Framer = InterimFramer;

/// Minimal framer: leading CRLF skipping with CRLFCRLF pings, end of headers, Content-Length (or
/// its compact form `l`). It does not handle chunked bodies, HEP3 or MSRP (Kamailio's extras).
#[derive(Debug)]
pub struct InterimFramer {
    limits: FrameLimits,
    buf: Vec<u8>,
    /// Start of unconsumed bytes in `buf`; compacted lazily so a read of many messages costs one
    /// memmove.
    pos: usize,
}

impl StreamFramer for InterimFramer {
    fn new(limits: FrameLimits) -> Self {
        InterimFramer {
            limits,
            buf: Vec::new(),
            pos: 0,
        }
    }

    fn feed(&mut self, data: &[u8]) {
        if self.pos > 0 && self.pos == self.buf.len() {
            self.buf.clear();
            self.pos = 0;
        } else if self.pos > 4096 && self.pos * 2 > self.buf.len() {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        self.buf.extend_from_slice(data);
    }

    fn next_event(&mut self) -> Result<Option<FrameEvent>, FrameError> {
        // Leading whitespace between messages: CRLFCRLF is a ping, a lone CRLF/LF/SP/HT is skipped.
        loop {
            let rest = self.buf.get(self.pos..).unwrap_or_default();
            match rest {
                [b'\r', b'\n', b'\r', b'\n', ..] => {
                    self.pos += 4;
                    return Ok(Some(FrameEvent::Ping));
                }
                [b'\r'] | [b'\r', b'\n'] | [b'\r', b'\n', b'\r'] => return Ok(None),
                [b'\r', b'\n', ..] => self.pos += 2,
                [b'\n' | b' ' | b'\t' | b'\r', ..] => self.pos += 1,
                _ => break,
            }
        }
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        if rest.is_empty() {
            return Ok(None);
        }
        let Some(hdr_end) = header_end(rest) else {
            return if rest.len() > self.limits.max_size {
                Err(FrameError::TooLarge)
            } else {
                Ok(None)
            };
        };
        let body_len = match content_length(&rest[..hdr_end])? {
            Some(n) => n,
            None if self.limits.accept_no_cl => 0,
            None => return Err(FrameError::MissingContentLength),
        };
        let total = hdr_end.checked_add(body_len).ok_or(FrameError::TooLarge)?;
        if total > self.limits.max_size {
            return Err(FrameError::TooLarge);
        }
        if rest.len() < total {
            return Ok(None);
        }
        let msg = rest[..total].to_vec();
        self.pos += total;
        Ok(Some(FrameEvent::Message(msg)))
    }
}

/// Offset just past the empty line that ends the header section (CRLFCRLF or LFLF).
fn header_end(b: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(off) = b.get(i..).and_then(|s| s.iter().position(|&c| c == b'\n')) {
        let nl = i + off;
        match b.get(nl + 1..) {
            Some([b'\n', ..]) => return Some(nl + 2),
            Some([b'\r', b'\n', ..]) => return Some(nl + 3),
            _ => i = nl + 1,
        }
    }
    None
}

/// The first Content-Length (or `l`) header value of a header section.
fn content_length(hdrs: &[u8]) -> Result<Option<usize>, FrameError> {
    // Skip the first line, then look at each header line; continuation lines start with SP/HT.
    for line in hdrs.split(|&c| c == b'\n').skip(1) {
        let Some(colon) = line.iter().position(|&c| c == b':') else {
            continue;
        };
        let name = line[..colon].trim_ascii();
        if name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l") {
            let value = line[colon + 1..].trim_ascii();
            if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
                return Err(FrameError::BadContentLength);
            }
            let n = value
                .iter()
                .fold(0usize, |acc, d| acc * 10 + usize::from(d - b'0'));
            return Ok(Some(n));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: FrameLimits = FrameLimits {
        max_size: 2000,
        accept_no_cl: false,
    };

    fn run(chunks: &[&[u8]], limits: FrameLimits) -> (Vec<FrameEvent>, Option<FrameError>) {
        let mut f = InterimFramer::new(limits);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c);
            loop {
                match f.next_event() {
                    Ok(Some(e)) => out.push(e),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    fn msg(s: &str) -> FrameEvent {
        FrameEvent::Message(s.as_bytes().to_vec())
    }

    const A: &str = "OPTIONS sip:a SIP/2.0\r\nContent-Length: 3\r\n\r\nabc";
    const B: &str = "OPTIONS sip:b SIP/2.0\r\nl: 0\r\n\r\n";

    /// (what, chunks fed, limits, events expected, error expected)
    type Case<'a> = (
        &'a str,
        Vec<&'a [u8]>,
        FrameLimits,
        Vec<FrameEvent>,
        Option<FrameError>,
    );

    #[test]
    fn framing_table() {
        let no_cl = FrameLimits {
            accept_no_cl: true,
            ..LIMITS
        };
        let big = "X".repeat(3000);
        let cases: Vec<Case> = vec![
            ("whole", vec![A.as_bytes()], LIMITS, vec![msg(A)], None),
            (
                "split everywhere",
                A.as_bytes().chunks(1).collect(),
                LIMITS,
                vec![msg(A)],
                None,
            ),
            (
                "pipelined",
                vec![format!("{A}{B}").leak().as_bytes()],
                LIMITS,
                vec![msg(A), msg(B)],
                None,
            ),
            (
                "ping then message",
                vec![b"\r\n\r\n", A.as_bytes()],
                LIMITS,
                vec![FrameEvent::Ping, msg(A)],
                None,
            ),
            (
                "ping split",
                vec![b"\r\n", b"\r\n"],
                LIMITS,
                vec![FrameEvent::Ping],
                None,
            ),
            (
                "single crlf skipped",
                vec![b"\r\n", B.as_bytes()],
                LIMITS,
                vec![msg(B)],
                None,
            ),
            (
                "no content-length",
                vec![b"OPTIONS sip:a SIP/2.0\r\nVia: x\r\n\r\n"],
                LIMITS,
                vec![],
                Some(FrameError::MissingContentLength),
            ),
            (
                "no content-length accepted",
                vec![b"OPTIONS sip:a SIP/2.0\r\n\r\n"],
                no_cl,
                vec![msg("OPTIONS sip:a SIP/2.0\r\n\r\n")],
                None,
            ),
            (
                "bad content-length",
                vec![b"OPTIONS sip:a SIP/2.0\r\nContent-Length: x1\r\n\r\n"],
                LIMITS,
                vec![],
                Some(FrameError::BadContentLength),
            ),
            (
                "too large body",
                vec![b"OPTIONS sip:a SIP/2.0\r\nContent-Length: 99999\r\n\r\n"],
                LIMITS,
                vec![],
                Some(FrameError::TooLarge),
            ),
            (
                "endless headers",
                vec![big.as_bytes()],
                LIMITS,
                vec![],
                Some(FrameError::TooLarge),
            ),
            (
                "lf only",
                vec![b"OPTIONS sip:a SIP/2.0\nContent-Length: 1\n\nZ"],
                LIMITS,
                vec![msg("OPTIONS sip:a SIP/2.0\nContent-Length: 1\n\nZ")],
                None,
            ),
        ];
        for (what, chunks, limits, want, want_err) in cases {
            let (got, err) = run(&chunks, limits);
            assert_eq!(got, want, "{what}");
            assert_eq!(err, want_err, "{what}");
        }
    }

    #[test]
    fn many_messages_compact_buffer() {
        let mut f = InterimFramer::new(LIMITS);
        let mut n = 0;
        for _ in 0..500 {
            f.feed(A.as_bytes());
            while let Ok(Some(FrameEvent::Message(m))) = f.next_event() {
                assert_eq!(m, A.as_bytes());
                n += 1;
            }
        }
        assert_eq!(n, 500);
        assert!(f.buf.len() < 8192, "buffer grew to {}", f.buf.len());
    }
}
