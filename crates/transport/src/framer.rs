//! The seam between the TCP reader and the sans-I/O stream framer.
//!
//! Connection tasks only know [`StreamFramer`]; [`Framer`] names the implementation in use,
//! `ferrosip_sipmsg::framing::StreamFramer` (leading CRLF skipping with CRLFCRLF pings, end of
//! headers, Content-Length or `l`, `tcp_accept_no_cl`, a size limit). A WebSocket framer will be
//! a second implementation of the same trait.

use ferrosip_sipmsg::framing::{self, StreamConfig, StreamEvent};

/// Limits and leniency the framer applies to one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLimits {
    /// Largest message (headers + body) accepted.
    pub max_size: usize,
    /// `tcp_accept_no_cl`: a message without Content-Length has an empty body instead of being
    /// an error.
    pub accept_no_cl: bool,
    /// `tcp_crlf_ping`: report CRLFCRLF keepalives (when off they are skipped silently).
    pub crlf_ping: bool,
}

/// What the framer found in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameEvent {
    /// One complete SIP message.
    Message(Vec<u8>),
    /// A CRLFCRLF keepalive (RFC 5626 §4.4.1); the caller answers CRLF.
    Ping,
}

/// Why the stream cannot be framed; the connection is closed.
pub type FrameError = ferrosip_sipmsg::Error;

/// An incremental stream framer: feed bytes in any chunking, pull events out.
pub trait StreamFramer: Send + 'static {
    fn new(limits: FrameLimits) -> Self;
    /// Appends bytes read from the connection.
    fn feed(&mut self, data: &[u8]);
    /// The next event, `Ok(None)` when more bytes are needed. After an error the stream is dead.
    fn next_event(&mut self) -> Result<Option<FrameEvent>, FrameError>;
}

/// The framer the connection layer uses.
pub type Framer = framing::StreamFramer;

impl StreamFramer for framing::StreamFramer {
    fn new(limits: FrameLimits) -> Self {
        framing::StreamFramer::new(StreamConfig {
            max_msg_size: limits.max_size,
            accept_no_cl: limits.accept_no_cl,
            crlf_ping: limits.crlf_ping,
        })
    }

    fn feed(&mut self, data: &[u8]) {
        framing::StreamFramer::feed(self, data)
    }

    fn next_event(&mut self) -> Result<Option<FrameEvent>, FrameError> {
        Ok(framing::StreamFramer::next_event(self)?.map(|ev| match ev {
            StreamEvent::Message(m) => FrameEvent::Message(m),
            StreamEvent::CrlfPing => FrameEvent::Ping,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (what, limits, input, events or failure)
    type Case = (
        &'static str,
        FrameLimits,
        Vec<u8>,
        Result<Vec<FrameEvent>, ()>,
    );

    /// The adapter passes limits through and maps events; the framing itself is tested in sipmsg.
    #[test]
    fn adapter_maps_limits_and_events() {
        let msg = b"OPTIONS sip:a SIP/2.0\r\nl: 2\r\n\r\nab".to_vec();
        let no_cl = b"OPTIONS sip:a SIP/2.0\r\n\r\n".to_vec();
        let cases: [Case; 5] = [
            (
                "ping and message",
                FrameLimits {
                    max_size: 1000,
                    accept_no_cl: false,
                    crlf_ping: true,
                },
                [b"\r\n\r\n".as_slice(), &msg].concat(),
                Ok(vec![FrameEvent::Ping, FrameEvent::Message(msg.clone())]),
            ),
            (
                "ping off",
                FrameLimits {
                    max_size: 1000,
                    accept_no_cl: false,
                    crlf_ping: false,
                },
                [b"\r\n\r\n".as_slice(), &msg].concat(),
                Ok(vec![FrameEvent::Message(msg.clone())]),
            ),
            (
                "too large",
                FrameLimits {
                    max_size: 10,
                    accept_no_cl: false,
                    crlf_ping: true,
                },
                msg.clone(),
                Err(()),
            ),
            (
                "no content-length refused",
                FrameLimits {
                    max_size: 1000,
                    accept_no_cl: false,
                    crlf_ping: true,
                },
                no_cl.clone(),
                Err(()),
            ),
            (
                "no content-length accepted",
                FrameLimits {
                    max_size: 1000,
                    accept_no_cl: true,
                    crlf_ping: true,
                },
                no_cl.clone(),
                Ok(vec![FrameEvent::Message(no_cl.clone())]),
            ),
        ];
        for (what, limits, input, want) in cases {
            let mut f = <Framer as StreamFramer>::new(limits);
            StreamFramer::feed(&mut f, &input);
            let mut got = Vec::new();
            let res = loop {
                match StreamFramer::next_event(&mut f) {
                    Ok(Some(e)) => got.push(e),
                    Ok(None) => break Ok(got),
                    Err(_) => break Err(()),
                }
            };
            assert_eq!(res, want, "{what}");
        }
    }
}
