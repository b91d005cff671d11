//! Via (RFC 3261 §20.42): every via-parm of every Via header.

use crate::error::{Error, Result};
use crate::hdr::HeaderKind;
use crate::headers::param::{parse_params_each, Param, Params};
use crate::lex::{at, is_token, is_ws, skip_lws, skip_quoted};
use crate::msg::Header;
use crate::span::Span;

/// Transport named in a Via sent-protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum Transport {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
    /// Any other token (RFC 3261 allows extensions, RFC 4475 transports.sip).
    Other,
}

impl Transport {
    /// From a transport token (ASCII case-insensitive).
    pub fn from_token(t: &[u8]) -> Transport {
        // Fold the (at most four byte) token, lowercased, into one integer, as
        // `Method::from_token` does: OR 0x20 maps exactly the two cases of a letter onto
        // the lowercase letter, the names are letters, and no folded byte is zero, so the
        // value also encodes the length.
        if t.len() < 2 || t.len() > 4 {
            return Transport::Other;
        }
        let w = t.iter().fold(0u32, |w, &b| (w << 8) | u32::from(b | 0x20));
        const fn key(name: &[u8]) -> u32 {
            let mut w: u32 = 0;
            let mut i = 0;
            while i < name.len() {
                w = (w << 8) | (name[i] | 0x20) as u32;
                i += 1;
            }
            w
        }
        const UDP: u32 = key(b"UDP");
        const TCP: u32 = key(b"TCP");
        const TLS: u32 = key(b"TLS");
        const SCTP: u32 = key(b"SCTP");
        const WS: u32 = key(b"WS");
        const WSS: u32 = key(b"WSS");
        match w {
            UDP => Transport::Udp,
            TCP => Transport::Tcp,
            TLS => Transport::Tls,
            SCTP => Transport::Sctp,
            WS => Transport::Ws,
            WSS => Transport::Wss,
            _ => Transport::Other,
        }
    }
}

/// One via-parm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Via {
    /// Index of the Via header (in [`crate::Msg::headers`]) this via belongs to.
    pub header: usize,
    /// Position of this via inside its header (0 = first).
    pub pos_in_header: usize,
    /// The via-parm, from the protocol name to the end of its parameters.
    pub span: Span,
    /// What to delete to remove just this via: the whole header (with its line end) when
    /// it is the header's only via; else this via plus the comma and LWS that separate it
    /// from its neighbour.
    pub remove_span: Span,
    /// Protocol name (`SIP`).
    pub proto_name: Span,
    /// Protocol version (`2.0`).
    pub proto_version: Span,
    /// Transport token.
    pub transport_span: Span,
    /// Recognised transport.
    pub transport: Transport,
    /// sent-by host as written (IPv6 references keep their brackets).
    pub host: Span,
    /// sent-by port.
    pub port: Option<u16>,
    /// The port digits.
    pub port_span: Option<Span>,
    /// All parameters.
    pub params: Params,
    /// `branch`.
    pub branch: Option<Param>,
    /// `received`.
    pub received: Option<Param>,
    /// `rport` (value `None` when written without value, as a request asks for it).
    pub rport: Option<Param>,
    /// `maddr`.
    pub maddr: Option<Param>,
    /// `ttl`.
    pub ttl: Option<Param>,
    /// `i` (Kamailio's via id).
    pub i: Option<Param>,
    /// `alias` (RFC 5923).
    pub alias: Option<Param>,
}

impl Via {
    /// The branch value.
    pub fn branch_value(&self) -> Option<Span> {
        self.branch.and_then(|p| p.value)
    }

    /// The `rport` value as a port, when present and valid.
    pub fn rport_port(&self, buf: &[u8]) -> Option<u16> {
        let v = self.rport?.value?;
        crate::lex::parse_u32(v.of(buf)).and_then(|n| u16::try_from(n).ok())
    }

    /// The `ttl` value, when present and in 0..=255.
    pub fn ttl_value(&self, buf: &[u8]) -> Option<u8> {
        let v = self.ttl?.value?;
        crate::lex::parse_u32(v.of(buf)).and_then(|n| u8::try_from(n).ok())
    }
}

/// Parses every via-parm of header `h` (index `hidx`) and appends them to `out`.
pub(crate) fn parse_into(buf: &[u8], hidx: usize, h: &Header, out: &mut Vec<Via>) -> Result<()> {
    let end = h.value.end as usize;
    let mut i = h.value.start as usize;
    let first_out = out.len();
    let mut n = 0;
    loop {
        let (mut via, next) = parse_one(buf, i, end)?;
        via.header = hidx;
        via.pos_in_header = n;
        n += 1;
        out.push(via);
        let j = skip_lws(buf, next, end);
        if j >= end {
            break;
        }
        if at(buf, j) != b',' {
            return Err(bad(j, "junk after via"));
        }
        // Kamailio skips empty elements between vias (`a,,b`) but not a trailing comma.
        i = j;
        while i < end
            && (at(buf, i) == b',' || is_ws(at(buf, i)) || matches!(at(buf, i), b'\r' | b'\n'))
        {
            i = skip_lws(buf, i + 1, end);
        }
        if i >= end {
            return Err(bad(i, "empty via after comma"));
        }
    }
    // Removal spans need the neighbours.
    let vias = out.get_mut(first_out..).unwrap_or_default();
    let count = vias.len();
    if count == 1 {
        if let Some(v) = vias.first_mut() {
            v.remove_span = h.span;
        }
    } else {
        let starts: Vec<Span> = vias.iter().map(|v| v.span).collect();
        for (k, v) in vias.iter_mut().enumerate() {
            v.remove_span = if k + 1 < count {
                Span {
                    start: v.span.start,
                    end: starts[k + 1].start,
                }
            } else {
                Span {
                    start: starts[k - 1].end,
                    end: v.span.end,
                }
            };
        }
    }
    Ok(())
}

/// The Via parameters with a field of their own, picked out while parsing.
#[derive(Default)]
struct KnownParams {
    branch: Option<Param>,
    received: Option<Param>,
    rport: Option<Param>,
    maddr: Option<Param>,
    ttl: Option<Param>,
    i: Option<Param>,
    alias: Option<Param>,
}

impl KnownParams {
    fn take(&mut self, buf: &[u8], p: Param) {
        // This runs for every parameter of every Via: the name (at most eight bytes for a
        // known one) folded, lowercased, into one integer and matched, as in
        // `Transport::from_token` (OR 0x20 is exact for the letters these names are made of,
        // and no folded byte is zero, so the value also encodes the length).
        let name = p.name.of(buf);
        if name.is_empty() || name.len() > 8 {
            return;
        }
        let w = name
            .iter()
            .fold(0u64, |w, &b| (w << 8) | u64::from(b | 0x20));
        const fn key(name: &[u8]) -> u64 {
            let mut w: u64 = 0;
            let mut i = 0;
            while i < name.len() {
                w = (w << 8) | (name[i] | 0x20) as u64;
                i += 1;
            }
            w
        }
        const BRANCH: u64 = key(b"branch");
        const RECEIVED: u64 = key(b"received");
        const RPORT: u64 = key(b"rport");
        const MADDR: u64 = key(b"maddr");
        const TTL: u64 = key(b"ttl");
        const I: u64 = key(b"i");
        const ALIAS: u64 = key(b"alias");
        let slot = match w {
            BRANCH => &mut self.branch,
            RECEIVED => &mut self.received,
            RPORT => &mut self.rport,
            MADDR => &mut self.maddr,
            TTL => &mut self.ttl,
            I => &mut self.i,
            ALIAS => &mut self.alias,
            _ => return,
        };
        if slot.is_none() {
            *slot = Some(p);
        }
    }
}

fn is_via_host_delim(b: u8) -> bool {
    HOST_DELIM[usize::from(b)]
}

/// Lookup table for [`is_via_host_delim`].
static HOST_DELIM: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = matches!(
            b,
            0..=b' ' | 0x7f | b';' | b',' | b':' | b'(' | b')' | b'"' | b'<' | b'>' | b'[' | b']'
        );
        i += 1;
    }
    t
};

fn bad(at: usize, reason: &'static str) -> Error {
    Error::BadHeader {
        kind: HeaderKind::Via,
        at,
        reason,
    }
}

fn token_end(buf: &[u8], i: usize, end: usize) -> usize {
    crate::lex::scan_while(buf, i, end, is_token)
}

/// One via-parm at `i`. Like Kamailio's parser: LWS (folds included) is accepted around
/// the `/` of the sent-protocol (RFC 4475 wsinv) and around `:`, `;` and `=`; the
/// protocol must be `SIP/2.0` (any case; RFC 4475 badvers has `SIP/7.0`, which Kamailio
/// refuses in Via).
fn parse_one(buf: &[u8], start: usize, end: usize) -> Result<(Via, usize)> {
    let pn_end = token_end(buf, start, end);
    let slash1 = skip_lws(buf, pn_end, end);
    if pn_end == start
        || at(buf, slash1) != b'/'
        || !buf
            .get(start..pn_end)
            .unwrap_or(&[])
            .eq_ignore_ascii_case(b"SIP")
    {
        return Err(bad(pn_end, "bad protocol name"));
    }
    let pv_start = skip_lws(buf, slash1 + 1, end);
    let pv_end = token_end(buf, pv_start, end);
    let slash2 = skip_lws(buf, pv_end, end);
    if buf.get(pv_start..pv_end) != Some(b"2.0".as_slice()) || at(buf, slash2) != b'/' {
        return Err(bad(pv_end, "bad protocol version"));
    }
    let t_start = skip_lws(buf, slash2 + 1, end);
    let t_end = token_end(buf, t_start, end);
    if t_end == t_start {
        return Err(bad(t_end, "bad transport"));
    }
    if !is_ws(at(buf, t_end)) && !matches!(at(buf, t_end), b'\r' | b'\n') {
        return Err(bad(t_end, "no LWS after sent-protocol"));
    }
    let h_start = skip_lws(buf, t_end, end);
    let h_end = if at(buf, h_start) == b'[' {
        let close = memchr::memchr(b']', buf.get(h_start..end).unwrap_or(&[]))
            .map(|p| h_start + p + 1)
            .ok_or(bad(h_start, "unterminated IPv6 reference"))?;
        let inner = buf.get(h_start + 1..close - 1).unwrap_or(&[]);
        if inner.is_empty()
            || !inner
                .iter()
                .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
        {
            return Err(bad(h_start, "bad IPv6 reference"));
        }
        close
    } else {
        // Kamailio's Via parser takes any byte up to a delimiter as the host (PROTOS
        // sends `%s%x%n` and Latin-1 there); the host is validated where it is used.
        crate::lex::scan_while(buf, h_start, end, |b| !is_via_host_delim(b))
    };
    if h_end == h_start {
        return Err(bad(h_start, "missing sent-by host"));
    }
    let mut i = skip_lws(buf, h_end, end);
    let mut port = None;
    let mut port_span = None;
    if at(buf, i) == b':' && i < end {
        let ps = skip_lws(buf, i + 1, end);
        let mut pe = ps;
        while pe < end && at(buf, pe).is_ascii_digit() {
            pe += 1;
        }
        let digits = buf.get(ps..pe).unwrap_or(&[]);
        if digits.is_empty() || digits.len() > 5 {
            return Err(bad(ps, "bad port"));
        }
        let v = crate::lex::parse_u32(digits).ok_or(bad(ps, "bad port"))?;
        port = Some(u16::try_from(v).map_err(|_| bad(ps, "port out of range"))?);
        port_span = Some(Span::new(ps, pe));
        i = pe;
    }
    let mut known = KnownParams::default();
    let (params, mut pend) = parse_params_each(buf, i, end, false, |p| known.take(buf, p))
        .map_err(|(r, a)| bad(a, r))?;
    let span_end = if params.is_empty() {
        port_span.map_or(h_end, |p| p.end as usize)
    } else {
        pend
    };
    // An optional comment: `( ... )`.
    let c = skip_lws(buf, pend, end);
    if at(buf, c) == b'(' && c < end {
        let mut depth = 0usize;
        let mut j = c;
        while j < end {
            match at(buf, j) {
                b'(' => depth += 1,
                b')' => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                b'"' => {
                    j = skip_quoted(buf, j, end).ok_or(bad(j, "bad comment"))?;
                    continue;
                }
                _ => {}
            }
            j += 1;
        }
        if j >= end {
            return Err(bad(c, "unterminated comment"));
        }
        pend = j + 1;
    }
    let via = Via {
        header: 0,
        pos_in_header: 0,
        span: Span::new(start, span_end),
        remove_span: Span::default(),
        proto_name: Span::new(start, pn_end),
        proto_version: Span::new(pv_start, pv_end),
        transport_span: Span::new(t_start, t_end),
        transport: Transport::from_token(buf.get(t_start..t_end).unwrap_or(&[])),
        host: Span::new(h_start, h_end),
        port,
        port_span,
        params,
        branch: known.branch,
        received: known.received,
        rport: known.rport,
        maddr: known.maddr,
        ttl: known.ttl,
        i: known.i,
        alias: known.alias,
    };

    // Values that must be present / numeric when given.
    for (p, what) in [
        (via.branch, "branch"),
        (via.received, "received"),
        (via.maddr, "maddr"),
    ] {
        if let Some(p) = p {
            if p.value.is_none() {
                return Err(bad(p.span.start as usize, what));
            }
        }
    }
    // rport and ttl values are not checked here, as in Kamailio: see `rport_port` / `ttl_value`.
    Ok((via, pend))
}

#[cfg(test)]
mod tests {
    use crate::Msg;

    fn msg(via_lines: &str) -> Msg {
        let s = format!("OPTIONS sip:a@b SIP/2.0\r\n{via_lines}To: <sip:a@b>\r\n\r\n");
        Msg::parse(s.into_bytes()).unwrap()
    }

    #[test]
    fn via_table() {
        // via lines, number of vias or None for error, (host, port, branch) of the first
        type Want = Option<(usize, &'static str, Option<u16>, Option<&'static str>)>;
        let table: &[(&str, Want)] = &[
            ("Via: SIP/2.0/UDP h.example.com:5060;branch=z9hG4bK1\r\n", Some((1, "h.example.com", Some(5060), Some("z9hG4bK1")))),
            ("v: SIP/2.0/TCP 1.2.3.4 ; branch = z9hG4bKx , SIP/2.0/UDP x.y\r\n", Some((2, "1.2.3.4", None, Some("z9hG4bKx")))),
            ("Via: SIP/2.0/UDP [2001:db8::9:1]:5070;received=[2001:db8::9:255];branch=z9hG4bKa\r\nVia: SIP/2.0/UNKNOWN h\r\n", Some((2, "[2001:db8::9:1]", Some(5070), Some("z9hG4bKa")))),
            ("Via: SIP/2.0/UDP h;rport;branch=z9hG4bKb (comment)\r\n", Some((1, "h", None, Some("z9hG4bKb")))),
            ("Via: SIP  /  2.0\r\n / UDP h\r\n", Some((1, "h", None, None))),
            ("Via: SIP/7.0/UDP h\r\n", None),
            ("Via: FOO/2.0/UDP h\r\n", None),
            ("Via: SIP/2.0/UDP a,,SIP/2.0/UDP b\r\n", Some((2, "a", None, None))),
            ("Via: SIP/2.0/UDP h;;,;,,\r\n", None),
            ("Via: SIP/2.0/UDP h:99999\r\n", None),
            ("Via: SIP/2.0/UDP\r\n", None),
            ("Via: SIP/2.0/UDP h,\r\n", None),
            ("Via: SIP/2.0/UDP h;branch\r\n", None),
            ("Via: SIP/2.0/UDP h;received=\r\n", None),
            ("Via: SIP/2.0/UDP h;branch=z9hG4bK1 junk\r\n", None),
        ];
        for (lines, want) in table {
            let m = msg(lines);
            let got = m.vias().ok().map(|v| {
                let b = m.buf();
                (
                    v.len(),
                    std::str::from_utf8(v[0].host.of(b))
                        .unwrap_or("?")
                        .to_string(),
                    v[0].port,
                    v[0].branch_value()
                        .map(|s| std::str::from_utf8(s.of(b)).unwrap_or("?").to_string()),
                )
            });
            let want = want.map(|(n, h, p, br)| (n, h.to_string(), p, br.map(str::to_string)));
            assert_eq!(got, want, "{lines:?}");
        }
    }

    #[test]
    fn transport_tokens() {
        use super::Transport;
        let names: &[(&[u8], Transport)] = &[
            (b"UDP", Transport::Udp),
            (b"TCP", Transport::Tcp),
            (b"TLS", Transport::Tls),
            (b"SCTP", Transport::Sctp),
            (b"WS", Transport::Ws),
            (b"WSS", Transport::Wss),
        ];
        let reference = |t: &[u8]| {
            names
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(t))
                .map_or(Transport::Other, |&(_, k)| k)
        };
        for &(name, k) in names {
            assert_eq!(Transport::from_token(name), k);
            assert_eq!(Transport::from_token(&name.to_ascii_lowercase()), k);
            for i in 0..name.len() {
                for c in [0u8, b'@', b'`', b'{', b'3', b's', 0xd3, 0xf3] {
                    let mut t = name.to_vec();
                    t[i] = c;
                    assert_eq!(Transport::from_token(&t), reference(&t), "{t:?}");
                }
            }
            for t in [[name, b"S"].concat(), name[1..].to_vec(), Vec::new()] {
                assert_eq!(Transport::from_token(&t), reference(&t), "{t:?}");
            }
        }
    }

    #[test]
    fn known_params_by_name() {
        use super::{KnownParams, Param};
        use crate::span::Span;
        let names: [&[u8]; 7] = [
            b"branch",
            b"received",
            b"rport",
            b"maddr",
            b"ttl",
            b"i",
            b"alias",
        ];
        // Which slot (index into `names`) a name fills, by the obvious comparison.
        let reference = |t: &[u8]| names.iter().position(|n| n.eq_ignore_ascii_case(t));
        let filled = |k: &KnownParams| {
            [k.branch, k.received, k.rport, k.maddr, k.ttl, k.i, k.alias]
                .iter()
                .position(Option::is_some)
        };
        for name in names {
            let mut cands = vec![
                name.to_ascii_uppercase(),
                [name, b"x"].concat(),
                name[1..].to_vec(),
            ];
            for i in 0..name.len() {
                for c in [0u8, b'@', b'`', b'{', b'1', b'!', b'%', b'I', 0xc9, 0xe9] {
                    let mut t = name.to_vec();
                    t[i] = c;
                    cands.push(t);
                }
            }
            for t in cands {
                let p = Param {
                    span: Span::new(0, t.len()),
                    name: Span::new(0, t.len()),
                    value: None,
                };
                let mut k = KnownParams::default();
                k.take(&t, p);
                assert_eq!(filled(&k), reference(&t), "{t:?}");
            }
        }
        // The first of two equal names is kept.
        let buf = b"branch;BRANCH";
        let mut k = KnownParams::default();
        for s in [Span::new(0, 6), Span::new(7, 13)] {
            k.take(
                buf,
                Param {
                    span: s,
                    name: s,
                    value: None,
                },
            );
        }
        assert_eq!(k.branch.map(|p| p.name), Some(Span::new(0, 6)));
    }

    #[test]
    fn rport_and_remove_spans() {
        let m = msg("Via: SIP/2.0/UDP a;rport, SIP/2.0/UDP b;rport=5061\r\nVia: SIP/2.0/TCP c\r\n");
        let v = m.vias().unwrap();
        let b = m.buf();
        assert_eq!(v.len(), 3);
        assert!(v[0].rport.is_some() && v[0].rport.unwrap().value.is_none());
        assert_eq!(v[1].rport.unwrap().value.unwrap().of(b), b"5061");
        assert_eq!(v[0].remove_span.of(b), b"SIP/2.0/UDP a;rport, ");
        assert_eq!(v[1].remove_span.of(b), b", SIP/2.0/UDP b;rport=5061");
        assert_eq!(v[2].remove_span.of(b), b"Via: SIP/2.0/TCP c\r\n");
        assert_eq!((v[2].header, v[1].pos_in_header), (1, 1));
    }
}
