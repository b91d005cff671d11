//! Framing: where a message starts and ends on the wire. Sans-I/O: the caller reads
//! sockets and feeds bytes in; complete messages and events come out.
//!
//! * UDP ([`datagram`]): one datagram is one message, as in Kamailio. Datagrams shorter
//!   than 32 bytes are keepalives (Kamailio's `MIN_UDP_PACKET`) and datagrams above
//!   `msg_recv_max_size` are refused. The datagram is *not* cut at Content-Length: like
//!   Kamailio, the body is everything after the header section, and the
//!   Content-Length/body comparison is a separate check ([`check_content_length`], the
//!   `sanity` module's "400 Content-Length mis-match").
//! * TCP/TLS ([`StreamFramer`]): messages are delimited by the end of the header section
//!   plus Content-Length (`Content-Length` or `l`, any case). Leading CR/LF bytes between
//!   messages are skipped; a `CRLFCRLF` seen where a message would start is reported as
//!   [`StreamEvent::CrlfPing`] so the caller answers with a CRLF pong (RFC 5626 §4.4.1;
//!   Kamailio's `tcp_crlf_ping`). A message without Content-Length is an error unless
//!   `tcp_accept_no_cl` is set, in which case its body is empty. Errors are final: the
//!   caller must close the connection (Kamailio does).

use crate::error::{Error, Result};
use crate::msg::Msg;

/// Kamailio drops UDP packets shorter than this (`MIN_UDP_PACKET`): keepalives.
pub const MIN_UDP_PACKET: usize = 32;

/// What a datagram is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram {
    /// Too short to be SIP (CRLF keepalive and the like): drop silently.
    Keepalive,
    /// A candidate SIP message: parse all of it with [`Msg::parse`].
    Message,
}

/// Classifies one UDP datagram.
pub fn datagram(data: &[u8], msg_recv_max_size: usize) -> Result<Datagram> {
    if data.len() > msg_recv_max_size {
        return Err(Error::TooLarge {
            max: msg_recv_max_size,
        });
    }
    if data.len() < MIN_UDP_PACKET {
        return Ok(Datagram::Keepalive);
    }
    Ok(Datagram::Message)
}

/// Result of comparing Content-Length with the body actually present.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContentLengthCheck {
    /// They agree.
    Match,
    /// No Content-Length header (allowed over UDP and SCTP).
    Missing,
}

/// Kamailio's `sanity` check 64 (`check_cl`): the Content-Length value must equal the
/// number of bytes after the header section. Errors: `BadContentLength` (unparsable
/// header, "400 Content-Length Failure"), `NoEndOfHeaders` (no body separator,
/// "400 Content-Length Body Failure"), `ContentLengthMismatch` ("400 Content-Length
/// mis-match").
pub fn check_content_length(msg: &Msg) -> Result<ContentLengthCheck> {
    let cl = match msg.content_length() {
        Ok(Some(cl)) => cl,
        Ok(None) => return Ok(ContentLengthCheck::Missing),
        Err(Error::BadHeader { .. }) => {
            return Err(Error::BadContentLength {
                reason: "unparsable Content-Length",
            })
        }
        Err(e) => return Err(e),
    };
    if !msg.has_end_of_headers()? {
        return Err(Error::NoEndOfHeaders);
    }
    let actual = msg.body_span()?.len();
    if actual != cl.value as usize {
        return Err(Error::ContentLengthMismatch {
            declared: cl.value as usize,
            actual,
        });
    }
    Ok(ContentLengthCheck::Match)
}

/// Something the stream framer found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// One complete message (header section and Content-Length bytes of body).
    Message(Vec<u8>),
    /// A `CRLFCRLF` keepalive ping: answer with `CRLF`.
    CrlfPing,
}

/// Settings of a [`StreamFramer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Largest message accepted (header section + body); Kamailio's `tcp buffer` limit /
    /// `msg_recv_max_size`.
    pub max_msg_size: usize,
    /// Kamailio's `tcp_accept_no_cl`.
    pub accept_no_cl: bool,
    /// Kamailio's `tcp_crlf_ping` (default on): report `CRLFCRLF` pings. When off they
    /// are skipped silently.
    pub crlf_ping: bool,
}

impl Default for StreamConfig {
    fn default() -> Self {
        StreamConfig {
            max_msg_size: 65535,
            accept_no_cl: false,
            crlf_ping: true,
        }
    }
}

/// Incremental framer for one stream connection.
#[derive(Debug)]
pub struct StreamFramer {
    cfg: StreamConfig,
    buf: Vec<u8>,
    /// Where to resume the end-of-headers search (avoids rescanning on every feed).
    scan: usize,
    failed: Option<Error>,
}

impl StreamFramer {
    /// A framer with the given settings.
    pub fn new(cfg: StreamConfig) -> StreamFramer {
        StreamFramer {
            cfg,
            buf: Vec::new(),
            scan: 0,
            failed: None,
        }
    }

    /// Appends received bytes.
    pub fn feed(&mut self, data: &[u8]) {
        if self.failed.is_none() {
            self.buf.extend_from_slice(data);
        }
    }

    /// Bytes buffered but not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next event, `Ok(None)` when more bytes are needed. After an error every call
    /// returns the same error: close the connection.
    pub fn next_event(&mut self) -> Result<Option<StreamEvent>> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let r = self.step();
        if let Err(e) = r {
            self.failed = Some(e);
            self.buf = Vec::new();
        }
        r
    }

    fn step(&mut self) -> Result<Option<StreamEvent>> {
        // Skip blank bytes between messages; detect CRLFCRLF pings.
        loop {
            match self.buf.first() {
                None => return Ok(None),
                Some(b'\r') => {
                    if self.buf.starts_with(b"\r\n\r\n") {
                        self.consume(4);
                        if self.cfg.crlf_ping {
                            return Ok(Some(StreamEvent::CrlfPing));
                        }
                        continue;
                    }
                    if b"\r\n\r\n".starts_with(&self.buf) {
                        return Ok(None); // could still become a ping
                    }
                    self.consume(1);
                }
                Some(b'\n' | b' ' | b'\t') => self.consume(1),
                Some(_) => break,
            }
        }
        let Some(body_start) = self.find_eoh() else {
            if self.buf.len() > self.cfg.max_msg_size {
                return Err(Error::TooLarge {
                    max: self.cfg.max_msg_size,
                });
            }
            return Ok(None);
        };
        let cl = match content_length_of(&self.buf[..body_start])? {
            Some(n) => n,
            None if self.cfg.accept_no_cl => 0,
            None => {
                return Err(Error::BadContentLength {
                    reason: "missing Content-Length on a stream",
                })
            }
        };
        let total = body_start
            .checked_add(cl)
            .filter(|&t| t <= self.cfg.max_msg_size)
            .ok_or(Error::TooLarge {
                max: self.cfg.max_msg_size,
            })?;
        if self.buf.len() < total {
            return Ok(None);
        }
        let rest = self.buf.split_off(total);
        let msg = std::mem::replace(&mut self.buf, rest);
        self.scan = 0;
        Ok(Some(StreamEvent::Message(msg)))
    }

    fn consume(&mut self, n: usize) {
        self.buf.drain(..n.min(self.buf.len()));
        self.scan = 0;
    }

    /// Offset of the first body byte if the header section is complete (`\n\n`,
    /// `\n\r\n`).
    fn find_eoh(&mut self) -> Option<usize> {
        let mut i = self.scan;
        while let Some(p) = memchr::memchr(b'\n', self.buf.get(i..).unwrap_or(&[])) {
            let lf = i + p;
            match self.buf.get(lf + 1) {
                Some(b'\n') => return Some(lf + 2),
                Some(b'\r') => match self.buf.get(lf + 2) {
                    Some(b'\n') => return Some(lf + 3),
                    Some(_) => {}
                    None => {
                        self.scan = lf;
                        return None;
                    }
                },
                Some(_) => {}
                None => {
                    self.scan = lf;
                    return None;
                }
            }
            i = lf + 1;
        }
        self.scan = self.buf.len().saturating_sub(1);
        None
    }
}

/// Finds the Content-Length (long or compact form) in a header section. Several headers
/// with different values are an error (RFC 4475 mcl01: the framing is ambiguous).
fn content_length_of(hdrs: &[u8]) -> Result<Option<usize>> {
    let mut found: Option<usize> = None;
    let mut line_start = 0;
    while line_start < hdrs.len() {
        let line_end =
            memchr::memchr(b'\n', &hdrs[line_start..]).map_or(hdrs.len(), |p| line_start + p + 1);
        let line = &hdrs[line_start..line_end];
        line_start = line_end;
        let name_end = line
            .iter()
            .position(|&b| b == b':' || b == b' ' || b == b'\t')
            .unwrap_or(line.len());
        let name = &line[..name_end];
        if !(name.eq_ignore_ascii_case(b"content-length") || name.eq_ignore_ascii_case(b"l")) {
            continue;
        }
        let mut i = name_end;
        while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
            i += 1;
        }
        if line.get(i) != Some(&b':') {
            continue;
        }
        let value = line[i + 1..].trim_ascii();
        if value.is_empty() || value.len() > 9 || !value.iter().all(u8::is_ascii_digit) {
            return Err(Error::BadContentLength {
                reason: "not a number",
            });
        }
        let n = value
            .iter()
            .fold(0usize, |a, d| a * 10 + usize::from(d - b'0'));
        if found.is_some_and(|f| f != n) {
            return Err(Error::BadContentLength {
                reason: "conflicting Content-Length headers",
            });
        }
        found = Some(n);
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    const M1: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/TCP h\r\nl: 4\r\n\r\nbody";
    const M2: &[u8] = b"OPTIONS sip:a@b SIP/2.0\nContent-Length: 0\n\n";

    fn run(cfg: StreamConfig, chunks: &[&[u8]]) -> (Vec<StreamEvent>, Option<Error>) {
        let mut f = StreamFramer::new(cfg);
        let mut out = Vec::new();
        for c in chunks {
            f.feed(c);
            loop {
                match f.next_event() {
                    Ok(Some(ev)) => out.push(ev),
                    Ok(None) => break,
                    Err(e) => return (out, Some(e)),
                }
            }
        }
        (out, None)
    }

    #[test]
    fn stream_table() {
        let both = [M1, M2].concat();
        let msg = |m: &[u8]| StreamEvent::Message(m.to_vec());
        let no_cl: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\n";
        let neg: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: -999\r\n\r\n";
        let mcl: &[u8] = b"OPTIONS sip:a@b SIP/2.0\r\nContent-Length: 13\r\nl: 5\r\n\r\n";
        let dflt = StreamConfig::default();
        let no_cl_ok = StreamConfig {
            accept_no_cl: true,
            ..dflt
        };
        let tiny = StreamConfig {
            max_msg_size: 20,
            ..dflt
        };
        type Case<'a> = (StreamConfig, Vec<&'a [u8]>, Vec<StreamEvent>, bool);
        let table: Vec<Case> = vec![
            (dflt, vec![M1], vec![msg(M1)], false),
            (dflt, vec![&both], vec![msg(M1), msg(M2)], false),
            (dflt, M1.chunks(1).collect(), vec![msg(M1)], false),
            (
                dflt,
                vec![b"\r\n\r\n", M1],
                vec![StreamEvent::CrlfPing, msg(M1)],
                false,
            ),
            (
                dflt,
                vec![b"\r\n", b"\r", b"\n"],
                vec![StreamEvent::CrlfPing],
                false,
            ),
            (dflt, vec![b"\r\n", M2], vec![msg(M2)], false),
            (
                StreamConfig {
                    crlf_ping: false,
                    ..dflt
                },
                vec![b"\r\n\r\n", M2],
                vec![msg(M2)],
                false,
            ),
            (dflt, vec![no_cl], vec![], true),
            (no_cl_ok, vec![no_cl], vec![msg(no_cl)], false),
            (dflt, vec![neg], vec![], true),
            (dflt, vec![mcl], vec![], true),
            (tiny, vec![M1], vec![], true),
            (dflt, vec![&M1[..M1.len() - 1]], vec![], false),
        ];
        for (i, (cfg, chunks, want, err)) in table.into_iter().enumerate() {
            let (got, e) = run(cfg, &chunks);
            assert_eq!(got, want, "case {i}");
            assert_eq!(e.is_some(), err, "case {i}: {e:?}");
        }
    }

    #[test]
    fn datagrams_and_cl_check() {
        assert_eq!(datagram(b"\r\n\r\n", 65535), Ok(Datagram::Keepalive));
        assert_eq!(datagram(M1, 65535), Ok(Datagram::Message));
        assert!(datagram(M1, 10).is_err());
        let table: &[(&[u8], std::result::Result<ContentLengthCheck, ()>)] = &[
            (M1, Ok(ContentLengthCheck::Match)),
            (b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nbody", Err(())),
            (b"OPTIONS sip:a@b SIP/2.0\r\nl: 9\r\n\r\nbody", Err(())),
            (
                b"OPTIONS sip:a@b SIP/2.0\r\nVia: x\r\n\r\nbody",
                Ok(ContentLengthCheck::Missing),
            ),
            (b"OPTIONS sip:a@b SIP/2.0\r\nl: 0\r\n", Err(())),
            (b"OPTIONS sip:a@b SIP/2.0\r\nl: five\r\n\r\n", Err(())),
        ];
        for (m, want) in table {
            let msg = Msg::parse(*m).unwrap();
            assert_eq!(
                check_content_length(&msg).map_err(|_| ()),
                *want,
                "{:?}",
                String::from_utf8_lossy(m)
            );
        }
    }
}
