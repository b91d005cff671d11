//! Route-set processing (Kamailio `loose.c`): `loose_route` for loose and strict routers,
//! preloaded route sets, double Route removal; the local Route parameters behind
//! `check_route_param`, `is_direction`, `$fti`/`$tti`/`$rdir`.

use ferrosip_api::{Ctx, Proto, Value, L_DBG, L_WARN};
use ferrosip_sipmsg::typed::RouteEntry;
use ferrosip_sipmsg::{Scheme, Span, Uri};

use super::record::parse_uri;
use super::{with_state, Config};

/// `RR_DRIVEN`.
pub const RR_DRIVEN: i64 = 1;
/// `RR_ERROR` (also `RR_NOT_DRIVEN`).
pub const RR_ERROR: i64 = -1;
/// `RR_PRELOADED`: the preloaded route set named only us.
pub const RR_PRELOADED: i64 = -3;

/// `loose_route_mode` bit: loose routing only.
const MODE_LOOSE_ONLY: i64 = 1;

/// Flow direction of an in-dialog request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Same direction as the initial request (From tag = `ftag`).
    Downstream,
    /// Callee to caller.
    Upstream,
}

/// `loose_route_mode(mode)`: 1 routed by the Route set, -1 no Route / error / not routed,
/// -3 preloaded Route set that named only us (Kamailio's `RR_*` codes).
pub fn loose_route_mode(ctx: &mut Ctx<'_>, c: &Config, mode: i64) -> i64 {
    let routes: Vec<RouteEntry> = match ctx.msg.routes() {
        Ok(r) => r.to_vec(),
        Err(_) => {
            ctx.log_error("failed to parse Route HF");
            return -1;
        }
    };
    if routes.is_empty() {
        ctx.log(L_DBG, "There is no Route HF");
        return -1;
    }
    let ruri = ctx.ruri();
    let Some(ruri_p) = parse_uri(&ruri) else {
        ctx.log_error("failed to parse Request URI");
        return -1;
    };
    let preloaded = match ctx.msg.to() {
        Ok(to) => to.tag.is_none_or(|t| t.is_empty()),
        Err(_) => {
            ctx.log_error("failed to parse To header field");
            return -1;
        }
    };
    let mut lr = Loose {
        routes,
        c,
        res: RR_ERROR,
    };
    let r = if preloaded {
        lr.after_loose(ctx, true)
    } else if mode & MODE_LOOSE_ONLY == 0 && is_myself(ctx, &ruri, &ruri_p) {
        let params = if ctx.state.new_uri.is_none() {
            Some(ruri_p.params.of(&ruri).to_vec()).filter(|p| !p.is_empty())
        } else {
            // Kamailio's hook then points outside the message buffer: recomputed later.
            None
        };
        lr.after_strict(ctx, params)
    } else {
        lr.after_loose(ctx, false)
    };
    match r {
        Ok(code) => code,
        Err(()) => lr.res,
    }
}

/// `check_route_param(re)`: the parameters of our Route URI (with their leading `;`) match.
pub fn check_route_param(ctx: &mut Ctx<'_>, matches: impl Fn(&[u8]) -> bool) -> bool {
    match routed_params(ctx) {
        Some(p) if !p.is_empty() => matches(&p),
        _ => false,
    }
}

/// `is_direction()`'s answer for this request: upstream when our Route's `ftag` differs from
/// the From tag; downstream when it is equal or cannot be read.
pub fn direction(ctx: &mut Ctx<'_>) -> Direction {
    let Some(params) = routed_params(ctx) else {
        return Direction::Downstream;
    };
    // Kamailio scans its hooked parameters, which start after the `;`.
    let params = params.strip_prefix(b";").unwrap_or(&params);
    let Some(ftag) = get_route_param(params, b"ftag").filter(|v| !v.is_empty()) else {
        return Direction::Downstream;
    };
    let Ok(from) = ctx.msg.from() else {
        return Direction::Downstream;
    };
    let Some(tag) = from
        .tag
        .map(|t| t.of(ctx.msg.buf()))
        .filter(|t| !t.is_empty())
    else {
        return Direction::Downstream;
    };
    if tag == ftag.as_slice() {
        Direction::Downstream
    } else {
        Direction::Upstream
    }
}

/// Kamailio's `get_route_param()` scan of `params` (without the first `;`), bug for bug: the name
/// is compared case-sensitively and the scan stops once fewer than `name.len() + 2` bytes remain
/// (so a lone `ftag=a` is not found). `Some(empty)` = present without value.
pub fn get_route_param(params: &[u8], name: &[u8]) -> Option<Vec<u8>> {
    let end = params.len();
    let mut p = 0usize;
    let at = |i: usize| params.get(i).copied().unwrap_or(0);
    while end.saturating_sub(p) > name.len() + 2 {
        if p != 0 {
            let mut quoted = false;
            while p < end && (quoted || at(p) != b';') {
                if (at(p) == b'"' || at(p) == b'\'') && p > 0 && at(p - 1) != b'\\' {
                    quoted = !quoted;
                }
                p += 1;
            }
            if p == end {
                return None;
            }
            p += 1;
        }
        while p < end && (at(p) == b' ' || at(p) == b'\t') {
            p += 1;
        }
        if end - p < name.len() + 2 {
            return None;
        }
        if params.get(p..p + name.len()) != Some(name) {
            p += 1;
            continue;
        }
        p += name.len();
        while p < end && (at(p) == b' ' || at(p) == b'\t') {
            p += 1;
        }
        if p == end || at(p) == b';' {
            return Some(Vec::new());
        }
        let c = at(p);
        p += 1;
        if c != b'=' {
            continue;
        }
        while p < end && (at(p) == b' ' || at(p) == b'\t') {
            p += 1;
        }
        if p == end {
            return None;
        }
        let start;
        if at(p) == b'\'' || at(p) == b'"' {
            p += 1;
            start = p;
            while p < end {
                if (at(p) == b'"' || at(p) == b'\'') && at(p - 1) != b'\\' {
                    break;
                }
                p += 1;
            }
        } else {
            start = p;
            while p < end && !matches!(at(p), b';' | b' ' | b'\t') {
                p += 1;
            }
        }
        return Some(params.get(start..p).unwrap_or_default().to_vec());
    }
    None
}

/// True when `params` (URI parameters without the first `;`) hold a parameter named `name`
/// (case-insensitive, with or without value): Kamailio's `is_strict` (`lr`) and `is_2rr` (`r2`)
/// scanners, which skip quoted strings.
pub fn is_flag_param(params: &[u8], name: &[u8; 2]) -> bool {
    let mut state = 0u8;
    for &ch in params {
        state = match (state, ch) {
            (0, b' ' | b'\r' | b'\n' | b'\t') => 0,
            (0, c) if c.eq_ignore_ascii_case(&name[0]) => 1,
            (0, _) => 4,
            (1, c) if c.eq_ignore_ascii_case(&name[1]) => 2,
            (1, _) => 4,
            (2 | 3, b';' | b'=') => return true,
            (2 | 3, b' ' | b'\r' | b'\n' | b'\t') => 3,
            (2 | 3, _) => 4,
            (4, b'"') => 5,
            (4, b';') => 0,
            (4, _) => 4,
            (5, b'\\') => 6,
            (5, b'"') => 4,
            (5, _) => 5,
            _ => 5, // state 6: escaped character inside quotes
        };
    }
    state == 2 || state == 3
}

/// `$route_uri`: URI of the first Route header, `$null` when there is none.
pub fn route_uri(ctx: &mut Ctx<'_>) -> Value {
    match ctx.msg.routes() {
        Ok(r) => match r.first() {
            Some(e) => Value::Str(e.addr.uri.of(ctx.msg.buf()).to_vec()),
            None => Value::Null,
        },
        Err(_) => Value::Null,
    }
}

/// `$fti` (`from` = true) / `$tti`: the tag of the initial request's From (To), swapped for an
/// upstream request.
pub fn initial_tag(ctx: &mut Ctx<'_>, from: bool) -> Value {
    let upstream = direction(ctx) == Direction::Upstream;
    let na = if from != upstream {
        ctx.msg.from()
    } else {
        ctx.msg.to()
    };
    match na {
        Ok(na) => match na.tag.map(|t| t.of(ctx.msg.buf())) {
            Some(t) if !t.is_empty() => Value::Str(t.to_vec()),
            _ => Value::Null,
        },
        Err(_) => Value::Null,
    }
}

// ---- internals ----

/// The parameters hooked by the last `loose_route` on this message, or those of the first Route
/// when it names us (Kamailio's `redo_route_params`). For a Route the leading `;` is included
/// (Kamailio walks back to it); for a strict-routed R-URI it is not (the walk stops at once).
pub(super) fn routed_params(ctx: &mut Ctx<'_>) -> Option<Vec<u8>> {
    if let Some(p) = with_state(ctx, |s| s.strict_params.clone()) {
        return Some(p);
    }
    let first = *ctx.msg.routes().ok()?.first()?;
    let buf = ctx.msg.buf();
    let u = Uri::parse(buf, first.addr.uri).ok()?;
    let uri = first.addr.uri.of(buf).to_vec();
    let lu = parse_uri(&uri)?;
    if !is_myself(ctx, &uri, &lu) {
        return None;
    }
    let buf = ctx.msg.buf();
    if u.params.is_empty() {
        return Some(Vec::new());
    }
    let start = (u.params.start as usize).saturating_sub(1);
    buf.get(start..u.params.end as usize).map(<[u8]>::to_vec)
}

/// Kamailio's `check_self_uri`: host and port (5060 when absent, for `sips:` too), any protocol;
/// a URI with `gr` is not us; a URI without host is not us.
fn is_myself(ctx: &mut Ctx<'_>, buf: &[u8], u: &Uri) -> bool {
    let host = u.host.of(buf);
    if host.is_empty() || u.gr.is_some() {
        return false;
    }
    let _ = Scheme::Sips; // the default port does not depend on the scheme in Kamailio
    ctx.server.is_myself(host, u.port.unwrap_or(5060), None)
}

struct Loose<'c> {
    routes: Vec<RouteEntry>,
    c: &'c Config,
    /// Code returned when a step fails.
    res: i64,
}

impl Loose<'_> {
    fn entry(&self, i: usize) -> Result<RouteEntry, ()> {
        self.routes.get(i).copied().ok_or(())
    }

    /// Index of the next entry in the same header.
    fn next_in_header(&self, i: usize) -> Option<usize> {
        let h = self.routes.get(i)?.header;
        self.routes
            .get(i + 1)
            .filter(|e| e.header == h)
            .map(|_| i + 1)
    }

    /// Index of the first entry of the next Route header.
    fn next_header(&self, i: usize) -> Option<usize> {
        let h = self.routes.get(i)?.header;
        self.routes.iter().position(|e| e.header > h)
    }

    fn is_first_in_header(&self, i: usize) -> bool {
        i == 0 || self.routes.get(i - 1).map(|e| e.header) != self.routes.get(i).map(|e| e.header)
    }

    fn uri(&self, ctx: &Ctx<'_>, i: usize) -> Result<(Vec<u8>, Uri), ()> {
        let e = self.entry(i)?;
        let b = e.addr.uri.of(ctx.msg.buf()).to_vec();
        let u = parse_uri(&b).ok_or(())?;
        Ok((b, u))
    }

    fn delete(&self, ctx: &mut Ctx<'_>, start: usize, end: usize) -> Result<(), ()> {
        if end < start || ctx.edits.delete(start, end - start).is_err() {
            ctx.log_error("failed to remove Route HF");
            return Err(());
        }
        Ok(())
    }

    fn header_span(&self, ctx: &Ctx<'_>, i: usize) -> Result<(Span, Span), ()> {
        let e = self.entry(i)?;
        let h = ctx.msg.headers().map_err(|_| ())?.get(e.header).ok_or(())?;
        Ok((h.span, h.value))
    }

    /// Deletes the whole Route header holding entry `i`.
    fn delete_header(&self, ctx: &mut Ctx<'_>, i: usize) -> Result<(), ()> {
        let (span, _) = self.header_span(ctx, i)?;
        self.delete(ctx, span.start as usize, span.end as usize)
    }

    /// Deletes the header's body up to entry `i` (the entries of ours before it).
    fn delete_before(&self, ctx: &mut Ctx<'_>, i: usize) -> Result<(), ()> {
        let (_, body) = self.header_span(ctx, i)?;
        let e = self.entry(i)?;
        self.delete(ctx, body.start as usize, e.addr.span.start as usize)
    }

    /// Deletes entry `i`: up to the next entry of its header, or the whole header.
    fn delete_entry(&self, ctx: &mut Ctx<'_>, i: usize) -> Result<(), ()> {
        match self.next_in_header(i) {
            Some(n) => {
                let (_, body) = self.header_span(ctx, i)?;
                let next = self.entry(n)?;
                self.delete(ctx, body.start as usize, next.addr.span.start as usize)
            }
            None => self.delete_header(ctx, i),
        }
    }

    /// Kamailio's `after_loose`.
    fn after_loose(&mut self, ctx: &mut Ctx<'_>, preloaded: bool) -> Result<i64, ()> {
        with_state(ctx, |s| s.strict_params = None);
        let mut i = 0usize;
        let (mut uri, mut puri) = self.uri(ctx, i).inspect_err(|_| {
            ctx.log_error("failed to parse the first route URI");
        })?;
        let done = if preloaded { RR_PRELOADED } else { RR_DRIVEN };
        if is_myself(ctx, &uri, &puri) {
            ctx.log(L_DBG, "Topmost route URI is me");
            let r2 = self.c.double_rr != 0 && is_flag_param(puri.params.of(&uri), b"r2");
            if self.c.force_send_socket && !r2 {
                force_socket_for(ctx, self.c, &uri, &puri, false);
            }
            match self.next_in_header(i) {
                Some(n) => i = n,
                None => {
                    self.delete_header(ctx, i)?;
                    match self.next_header(i) {
                        Some(n) => i = n,
                        None => return Ok(done),
                    }
                }
            }
            if r2 {
                let (u2, p2) = self.uri(ctx, i).inspect_err(|_| {
                    ctx.log_error("failed to parse the double route URI");
                })?;
                force_socket_for(ctx, self.c, &u2, &p2, true);
                match self.next_in_header(i) {
                    Some(n) => i = n,
                    None => {
                        self.delete_header(ctx, i)?;
                        match self.next_header(i) {
                            Some(n) => i = n,
                            None => return Ok(done),
                        }
                    }
                }
            }
            (uri, puri) = self.uri(ctx, i).inspect_err(|_| {
                ctx.log_error("failed to parse the next route URI");
            })?;
            with_state(ctx, |s| s.route_addr = true);
        }
        if !is_flag_param(puri.params.of(&uri), b"lr") {
            self.handle_sr(ctx, i, &uri, &puri)?;
        } else {
            ctx.state.dst_uri = Some(maddr_uri(ctx, &uri, &puri)?);
            if !self.is_first_in_header(i) {
                self.delete_before(ctx, i)?;
            }
        }
        Ok(RR_DRIVEN)
    }

    /// Kamailio's `after_strict`: the R-URI is ours, the previous hop was a strict router.
    fn after_strict(&mut self, ctx: &mut Ctx<'_>, ruri_params: Option<Vec<u8>>) -> Result<i64, ()> {
        with_state(ctx, |s| s.strict_params = None);
        let mut i = 0usize;
        let (mut uri, mut puri) = self.uri(ctx, i).inspect_err(|_| {
            ctx.log_error("failed to parse the first route URI");
        })?;
        if self.c.double_rr != 0
            && is_flag_param(puri.params.of(&uri), b"r2")
            && is_myself(ctx, &uri, &puri)
        {
            // The send interface is the one this Route names (port as written, none = any).
            match find_socket(
                ctx,
                puri.host.of(&uri),
                puri.port.unwrap_or(0),
                uri_proto(&uri, &puri),
            ) {
                Some(i) => ctx.state.force_socket = Some(i),
                None if self.c.mismatch_warning => {
                    ctx.log(L_WARN, "no socket found for match second RR");
                }
                None => {}
            }
            match self.next_in_header(i) {
                Some(n) => i = n,
                None => {
                    self.delete_header(ctx, i)?;
                    match self.next_header(i) {
                        Some(n) => i = n,
                        None => return Ok(-1), // RR_NOT_DRIVEN
                    }
                }
            }
            (uri, puri) = self.uri(ctx, i).inspect_err(|_| {
                ctx.log_error("failed to parse URI");
            })?;
        }
        with_state(ctx, |s| s.strict_params = ruri_params);
        if !is_flag_param(puri.params.of(&uri), b"lr") {
            // Next hop strict too: behave as a strict router.
            ctx.state.new_uri = Some(maddr_uri(ctx, &uri, &puri)?);
            self.delete_entry(ctx, i)?;
        } else {
            ctx.state.dst_uri = Some(maddr_uri(ctx, &uri, &puri)?);
            if !self.is_first_in_header(i) {
                self.delete_before(ctx, i)?;
            }
            // The last Route URI is the remote target: back into the R-URI.
            let last = self.routes.len().checked_sub(1).ok_or(())?;
            let (luri, lpuri) = self.uri(ctx, last)?;
            ctx.state.new_uri = Some(maddr_uri(ctx, &luri, &lpuri)?);
            if self.is_first_in_header(last) {
                self.delete_header(ctx, last)?;
            } else {
                let prev = self.entry(last - 1)?;
                let l = self.entry(last)?;
                self.delete(ctx, prev.addr.span.end as usize, l.addr.span.end as usize)?;
            }
        }
        Ok(RR_DRIVEN)
    }

    /// Kamailio's `handle_sr`: the next hop is a strict router — the R-URI goes to a new last
    /// Route, the Route URI becomes the R-URI.
    fn handle_sr(&self, ctx: &mut Ctx<'_>, i: usize, uri: &[u8], puri: &Uri) -> Result<(), ()> {
        let eoh = ctx.msg.headers_end().map_err(|_| ())?;
        let mut line = b"Route: <".to_vec();
        line.extend_from_slice(ctx.original_ruri());
        line.extend_from_slice(b">\r\n");
        if ctx.edits.insert_at(eoh, &line).is_err() {
            ctx.log_error("failed to insert lump");
            return Err(());
        }
        ctx.state.new_uri = Some(maddr_uri(ctx, uri, puri)?);
        self.delete_entry(ctx, i)
    }
}

/// Kamailio's `get_maddr_uri`: `sip:<maddr>[:port]` when the URI has `maddr`, else the URI.
fn maddr_uri(ctx: &mut Ctx<'_>, uri: &[u8], puri: &Uri) -> Result<Vec<u8>, ()> {
    let Some(m) = puri.maddr else {
        return Ok(uri.to_vec());
    };
    let val = m.value.map(|v| v.of(uri)).unwrap_or_default();
    if val.len() > 127 - 10 {
        ctx.log_error("Too long maddr parameter");
        return Err(());
    }
    let mut out = b"sip:".to_vec();
    out.extend_from_slice(val);
    if let Some(p) = puri.port_span {
        out.push(b':');
        out.extend_from_slice(p.of(uri));
    }
    Ok(out)
}

/// Kamailio's `rr_do_force_send_socket`: with `sockname_mode`, the socket named by `;sn=`; else
/// the socket of the Route URI's host, port (or the default port of its transport) and transport;
/// else the same with the port as written (none = any). `second` = the URI is the second of a
/// double Route (a miss is then worth a warning).
fn force_socket_for(ctx: &mut Ctx<'_>, c: &Config, uri: &[u8], puri: &Uri, second: bool) {
    if c.sockname_mode {
        if let Some(sn) = puri.param(uri, b"sn").and_then(|p| p.value) {
            let name = sn.of(uri);
            let found = ctx
                .server
                .sockets()
                .iter()
                .position(|s| s.name.as_deref().is_some_and(|n| n.as_bytes() == name));
            if let Some(i) = found {
                ctx.state.force_socket = u32::try_from(i).ok();
                return;
            }
        }
    }
    let proto = uri_proto(uri, puri);
    let host = puri.host.of(uri);
    let default_port = match proto {
        Some(Proto::Tls) => 5061,
        _ => 5060,
    };
    let found = find_socket(ctx, host, puri.port.unwrap_or(default_port), proto)
        .or_else(|| find_socket(ctx, host, puri.port.unwrap_or(0), proto));
    match found {
        Some(i) => ctx.state.force_socket = Some(i),
        None if c.mismatch_warning && second => {
            let u = String::from_utf8_lossy(uri).into_owned();
            ctx.log(L_WARN, &format!("no socket found to match second RR ({u})"));
            if !is_myself(ctx, uri, puri) {
                ctx.log(L_WARN, &format!("second RR uri is not myself ({u})"));
            }
        }
        None => ctx.log(L_DBG, "no socket found to match second RR"),
    }
}

/// The `transport=` of a URI as a protocol (`None` = not given or unknown: any).
fn uri_proto(uri: &[u8], puri: &Uri) -> Option<Proto> {
    puri.transport
        .and_then(|t| t.value)
        .and_then(|v| Proto::from_name(v.of(uri)))
}

/// Kamailio's `grep_sock_info`: the index of our socket whose address (or advertised address) is
/// `host` (IPv6 with or without brackets), on `port` (bound or advertised; 0 = any), of `proto`
/// (`None` = UDP, then TCP, TLS, SCTP).
pub(crate) fn find_socket(
    ctx: &Ctx<'_>,
    host: &[u8],
    port: u16,
    proto: Option<Proto>,
) -> Option<u32> {
    let host = match host {
        [b'[', inner @ .., b']'] if !inner.is_empty() => inner,
        h => h,
    };
    let host = std::str::from_utf8(host).ok()?;
    let ip: Option<std::net::IpAddr> = host.parse().ok();
    let protos: &[Proto] = match &proto {
        Some(p) => std::slice::from_ref(p),
        None => &[Proto::Udp, Proto::Tcp, Proto::Tls, Proto::Sctp],
    };
    let socks = ctx.server.sockets();
    for p in protos {
        for (i, s) in socks.iter().enumerate() {
            if s.proto != *p {
                continue;
            }
            let adv_port = s.advertise.as_ref().map_or(0, |(_, ap)| *ap);
            if port != 0 && s.addr.port() != port && adv_port != port {
                continue;
            }
            let addr_match = match ip {
                Some(ip) => s.addr.ip() == ip,
                None => false,
            };
            let adv_match = s.advertise.as_ref().is_some_and(|(h, _)| {
                let h = h.trim_start_matches('[').trim_end_matches(']');
                h.eq_ignore_ascii_case(host)
                    || ip.is_some_and(|ip| h.parse::<std::net::IpAddr>().ok() == Some(ip))
            });
            if addr_match || adv_match {
                return u32::try_from(i).ok();
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_params() {
        let cases: &[(&str, &[u8; 2], bool)] = &[
            ("lr", b"lr", true),
            ("LR", b"lr", true),
            ("lr=on", b"lr", true),
            ("transport=udp;lr", b"lr", true),
            ("lrx", b"lr", false),
            ("", b"lr", false),
            ("x=\"a;lr\"", b"lr", false),
            ("ftag=1;r2=on;lr", b"r2", true),
            ("lr ;x", b"lr", true),
            ("r2", b"r2", true),
            ("xr2", b"r2", false),
        ];
        for (p, n, want) in cases {
            assert_eq!(is_flag_param(p.as_bytes(), n), *want, "{p} {n:?}");
        }
    }

    #[test]
    fn route_params() {
        let cases: &[(&str, &str, Option<&str>)] = &[
            ("lr;ftag=abc", "ftag", Some("abc")),
            ("lr;ftag=a", "ftag", Some("a")),
            ("ftag=a", "ftag", None), // Kamailio's length check: too short to hold `ftag=` + value
            ("lr;ftag=ab;nat=yes", "ftag", Some("ab")),
            ("lr;nat", "nat", None),
            ("lr;nat;x=1", "nat", Some("")),
            ("lr;FTAG=abc", "ftag", None),
            ("lr;x=\"q;ftag=zz\";ftag=abc", "ftag", Some("abc")),
            ("ftag=\"abc\";lr", "ftag", Some("abc")),
        ];
        for (p, n, want) in cases {
            let got = get_route_param(p.as_bytes(), n.as_bytes());
            assert_eq!(got.as_deref(), want.map(str::as_bytes), "{p} {n}");
        }
    }
}
