//! SDP (RFC 4566) line parsing, enough for the media modules (rtpengine, nathelper's
//! `fix_nated_sdp`, sdpops): every line as `type=value` with its span, the session
//! origin and connection, and each media description with its connection and
//! attributes. Values are spans into the message buffer; nothing is copied.

use crate::error::{Error, Result};
use crate::span::Span;

/// One `x=value` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdpLine {
    /// The type letter.
    pub kind: u8,
    /// The value (after `=`, before the line end).
    pub value: Span,
    /// The whole line including its line end.
    pub span: Span,
}

/// `c=IN IP4 192.0.2.1` (network type, address type, address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Connection {
    /// Network type (`IN`).
    pub net_type: Span,
    /// Address type (`IP4`, `IP6`).
    pub addr_type: Span,
    /// The connection address (with any `/ttl/n` suffix).
    pub address: Span,
}

/// `o=username sess-id sess-version nettype addrtype unicast-address`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// username
    pub username: Span,
    /// sess-id
    pub session_id: Span,
    /// sess-version
    pub session_version: Span,
    /// nettype, addrtype, address
    pub connection: Connection,
}

/// One `m=` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// `audio`, `video` …
    pub media: Span,
    /// Transport port.
    pub port: u16,
    /// The port digits (what rtpengine rewrites).
    pub port_span: Span,
    /// `/number of ports`, if given.
    pub port_count: Option<u16>,
    /// `RTP/AVP` …
    pub proto: Span,
    /// The format list (payload types).
    pub fmts: Span,
    /// Media-level `c=`.
    pub connection: Option<Connection>,
    /// Indices into [`Sdp::lines`] of this section's lines (the `m=` line first).
    pub lines: std::ops::Range<usize>,
}

/// A parsed SDP body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sdp {
    /// Every line.
    pub lines: Vec<SdpLine>,
    /// `o=`.
    pub origin: Option<Origin>,
    /// Session-level `c=`.
    pub connection: Option<Connection>,
    /// Media sections.
    pub media: Vec<Media>,
}

impl Sdp {
    /// Attribute lines (`a=`) of a section (`None` = session level): `(name, value)`.
    pub fn attributes<'a>(
        &'a self,
        buf: &'a [u8],
        media: Option<usize>,
    ) -> impl Iterator<Item = (Span, Option<Span>)> + 'a {
        let range = match media {
            None => {
                0..self
                    .media
                    .first()
                    .map_or(self.lines.len(), |m| m.lines.start)
            }
            Some(i) => self.media.get(i).map_or(0..0, |m| m.lines.clone()),
        };
        self.lines
            .get(range)
            .unwrap_or(&[])
            .iter()
            .filter(|l| l.kind == b'a')
            .map(move |l| {
                let v = l.value.of(buf);
                match memchr::memchr(b':', v) {
                    Some(p) => (
                        Span::new(l.value.start as usize, l.value.start as usize + p),
                        Some(Span::new(
                            l.value.start as usize + p + 1,
                            l.value.end as usize,
                        )),
                    ),
                    None => (l.value, None),
                }
            })
    }
}

fn bad(at: usize, reason: &'static str) -> Error {
    Error::BadBody { at, reason }
}

/// Splits `s` at single spaces into at most `N` fields; the last takes the rest.
fn fields<const N: usize>(buf: &[u8], s: Span) -> Option<[Span; N]> {
    let mut out = [Span::default(); N];
    let mut start = s.start as usize;
    let end = s.end as usize;
    for (k, slot) in out.iter_mut().enumerate() {
        if start >= end {
            return None;
        }
        let stop = if k + 1 == N {
            end
        } else {
            memchr::memchr(b' ', buf.get(start..end)?).map(|p| start + p)?
        };
        if stop == start {
            return None;
        }
        *slot = Span::new(start, stop);
        start = stop + 1;
    }
    Some(out)
}

fn connection(buf: &[u8], s: Span) -> Result<Connection> {
    let [n, a, addr] = fields::<3>(buf, s).ok_or(bad(s.start as usize, "bad c= line"))?;
    if addr.of(buf).contains(&b' ') {
        return Err(bad(addr.start as usize, "bad connection address"));
    }
    Ok(Connection {
        net_type: n,
        addr_type: a,
        address: addr,
    })
}

fn num16(buf: &[u8], s: Span, what: &'static str) -> Result<u16> {
    crate::lex::parse_u32(s.of(buf))
        .and_then(|v| u16::try_from(v).ok())
        .ok_or(bad(s.start as usize, what))
}

/// Parses the SDP in `body` (a span of `buf`). Lines may end in CRLF or LF; the first line
/// must be `v=0`; every line must be `<lowercase letter>=`.
pub fn parse(buf: &[u8], body: Span) -> Result<Sdp> {
    let (mut i, end) = (body.start as usize, body.end as usize);
    let mut sdp = Sdp {
        lines: Vec::with_capacity(16),
        origin: None,
        connection: None,
        media: Vec::new(),
    };
    while i < end {
        let lf = memchr::memchr(b'\n', buf.get(i..end).unwrap_or(&[])).map_or(end, |p| i + p);
        let next = (lf + 1).min(end);
        let mut ve = lf;
        if ve > i && buf.get(ve - 1) == Some(&b'\r') {
            ve -= 1;
        }
        if ve == i {
            // Blank line: tolerated only at the end (a trailing CRLF).
            if buf
                .get(next..end)
                .unwrap_or(&[])
                .iter()
                .all(|b| matches!(b, b'\r' | b'\n'))
            {
                break;
            }
            return Err(bad(i, "empty line"));
        }
        let kind = buf.get(i).copied().unwrap_or(0);
        if !kind.is_ascii_lowercase() || buf.get(i + 1) != Some(&b'=') {
            return Err(bad(i, "line is not <letter>="));
        }
        let line = SdpLine {
            kind,
            value: Span::new(i + 2, ve),
            span: Span::new(i, next),
        };
        if sdp.lines.is_empty() && (kind != b'v' || line.value.of(buf) != b"0") {
            return Err(bad(i, "first line is not v=0"));
        }
        let idx = sdp.lines.len();
        sdp.lines.push(line);
        match kind {
            b'o' if sdp.media.is_empty() => {
                let [u, id, ver, rest] =
                    fields::<4>(buf, line.value).ok_or(bad(i, "bad o= line"))?;
                sdp.origin = Some(Origin {
                    username: u,
                    session_id: id,
                    session_version: ver,
                    connection: connection(buf, rest)?,
                });
            }
            b'c' => {
                let c = connection(buf, line.value)?;
                match sdp.media.last_mut() {
                    Some(m) => m.connection = Some(c),
                    None => sdp.connection = Some(c),
                }
            }
            b'm' => {
                let [media, port, proto, fmts] =
                    fields::<4>(buf, line.value).ok_or(bad(i, "bad m= line"))?;
                let pb = port.of(buf);
                let (port_span, port_count) = match memchr::memchr(b'/', pb) {
                    Some(p) => {
                        let ps = port.start as usize;
                        let cnt = Span::new(ps + p + 1, port.end as usize);
                        (
                            Span::new(ps, ps + p),
                            Some(num16(buf, cnt, "bad port count")?),
                        )
                    }
                    None => (port, None),
                };
                if let Some(prev) = sdp.media.last_mut() {
                    prev.lines.end = idx;
                }
                sdp.media.push(Media {
                    media,
                    port: num16(buf, port_span, "bad media port")?,
                    port_span,
                    port_count,
                    proto,
                    fmts,
                    connection: None,
                    lines: idx..idx + 1,
                });
            }
            _ => {}
        }
        i = next;
    }
    if sdp.lines.is_empty() {
        return Err(bad(body.start as usize, "empty SDP"));
    }
    let n = sdp.lines.len();
    if let Some(last) = sdp.media.last_mut() {
        last.lines.end = n;
    }
    Ok(sdp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SDP: &str = "v=0\r\no=alice 2890844526 2890844526 IN IP4 host.example.com\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 49170 RTP/AVP 0 8\r\na=rtpmap:0 PCMU/8000\r\nm=video 51372/2 RTP/AVP 31\r\nc=IN IP6 2001:db8::20\r\na=sendonly\r\n";

    #[test]
    fn parses_sections() {
        let b = SDP.as_bytes();
        let s = parse(b, Span::new(0, b.len())).unwrap();
        assert_eq!(s.lines.len(), 10);
        assert_eq!(s.media.len(), 2);
        assert_eq!(s.media[0].port, 49170);
        assert_eq!(s.media[1].port_count, Some(2));
        assert_eq!(
            s.media[1].connection.unwrap().address.of(b),
            b"2001:db8::20"
        );
        assert_eq!(s.connection.unwrap().address.of(b), b"192.0.2.1");
        assert_eq!(s.origin.unwrap().username.of(b), b"alice");
        let attrs: Vec<_> = s
            .attributes(b, Some(0))
            .map(|(n, v)| (n.of(b).to_vec(), v.map(|v| v.of(b).to_vec())))
            .collect();
        assert_eq!(
            attrs,
            vec![(b"rtpmap".to_vec(), Some(b"0 PCMU/8000".to_vec()))]
        );
        assert_eq!(s.attributes(b, Some(1)).count(), 1);
        assert_eq!(s.attributes(b, None).count(), 0);
    }

    #[test]
    fn rejects() {
        let table: &[&str] = &[
            "",
            "v=1\r\n",
            "o=x\r\n",
            "v=0\r\nm=audio port RTP/AVP 0\r\n",
            "v=0\r\nm=audio 99999 RTP/AVP 0\r\n",
            "v=0\r\nc=IN\r\n",
            "v=0\r\nX=y\r\n",
            "v=0\r\n\r\ns=x\r\n",
            "v=0\r\no=a b c IN IP4\r\n",
        ];
        for t in table {
            let b = t.as_bytes();
            assert!(parse(b, Span::new(0, b.len())).is_err(), "{t:?}");
        }
        let b = b"v=0\ns=x\n\n";
        assert!(parse(b, Span::new(0, b.len())).is_ok());
    }
}
