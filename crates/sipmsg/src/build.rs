//! Outgoing messages with Kamailio's byte layout: forwarded requests, forwarded replies, locally
//! generated replies, and `msg_apply_changes()`.
//!
//! Everything that depends on the server (sockets, advertised address, `Server:` text, to-tag seed,
//! process id for `Warning:`) is a parameter; nothing here reads a clock, a socket or a global.
//!
//! Behaviour follows Kamailio's `src/core/msg_translator.c` (`build_req_buf_from_sip_req`,
//! `generate_res_buf_from_sip_res`, `build_res_buf_from_sip_req`, `via_builder`, `adjust_clen`) and
//! `forward.c`; the byte layout is pinned by captures of Kamailio 5.6.3 in `tests/data/kamailio/`.
//!
//! Not supported, refused by construction (no option exists for them): UDP-MTU fallback to another
//! transport (the caller picks the socket), `received_dns` (reverse/forward DNS in the received test),
//! `xavp_via_params`/`xavp_via_fields`/`xavp_via_reply_params`, `srvid` and via-body flags in our Via,
//! SigComp `comp=` parameters, and the HTTP (`Sia:`) variant of local replies.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::branch::{self, TransactionKey};
use crate::edit::{push_u32, via_name, At, EditError, Edits, IpText, SendContext, SocketInfo};
use crate::Transport;
use crate::{Error, Header, HeaderKind, Method, Msg, Via};

/// Errors of the builders.
///
/// Kept local until the crate-wide `Error` grows the variants (see the sipbuild report).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The message could not be parsed far enough.
    #[error(transparent)]
    Parse(#[from] Error),
    /// An edit could not be recorded or applied.
    #[error(transparent)]
    Edit(#[from] EditError),
    /// A request builder was given a reply or the other way round.
    #[error("wrong message type for this builder")]
    WrongType,
    /// From, To, Call-ID or CSeq is missing (Kamailio's transaction quadruple).
    #[error("missing {0} header field")]
    Missing(HeaderKind),
    /// A reply to a forwarded reply needs a second Via to go to.
    #[error("reply has no second Via")]
    NoSecondVia,
    /// No socket (or an empty address) to put in our Via.
    #[error("no address for our Via")]
    NoViaAddress,
    /// Kamailio never replies to ACK.
    #[error("no reply to ACK")]
    ReplyToAck,
    /// The reason phrase is empty or the code is not 100..=699.
    #[error("bad reply status or reason")]
    BadStatus,
    /// `msg_apply_changes()` after conditional edits (double Record-Route) would lose the condition.
    #[error("cannot apply changes after adding Record-Route (conditional edits present)")]
    ConditionalEdits,
}

/// How a request arrived.
#[derive(Debug, Clone, Copy)]
pub struct RecvInfo<'a> {
    /// Source address of the packet (for `received=`).
    pub src_ip: IpAddr,
    /// Source port (for `rport=`).
    pub src_port: u16,
    /// The socket it arrived on.
    pub socket: &'a SocketInfo<'a>,
    /// Transport it arrived over (Ws/Wss for WebSocket).
    pub proto: Transport,
    /// Connection id for TCP/TLS/SCTP (our Via gets `;i=<reversed hex>`).
    pub conn_id: u32,
}

/// Where a request or reply goes out.
#[derive(Debug, Clone, Copy)]
pub struct SendTarget<'a> {
    /// The socket it leaves from.
    pub socket: &'a SocketInfo<'a>,
    /// The transport (Ws/Wss over a Tcp/Tls socket).
    pub proto: Transport,
}

/// Flags and values of a forwarded request (what the script and tm set).
#[derive(Debug, Clone, Copy, Default)]
pub struct ForwardOptions<'a> {
    /// New Request-URI (`$ru` changed), written in place of the received one.
    pub new_ruri: Option<&'a [u8]>,
    /// Branch (fork) index; 0 for stateless forwarding.
    pub branch_index: u32,
    /// `force_rport()` was called (Kamailio `FL_FORCE_RPORT`).
    pub force_rport: bool,
    /// Do not touch the received Via (`FL_VIA_NORECEIVED`).
    pub no_received: bool,
    /// `add_local_rport` / `add_local_rport()`: `;rport` on our Via.
    pub add_local_rport: bool,
    /// Path vector: added as `Route: <path>` (Kamailio `msg->path_vec`).
    pub path: Option<&'a [u8]>,
    /// `set_advertised_address()`: host shown in our Via.
    pub via_host: Option<&'a str>,
    /// `set_advertised_port()`: port shown in our Via.
    pub via_port: Option<&'a str>,
}

/// The parts of a locally generated reply that do not come from the request.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReplyOptions<'a> {
    /// To-tag to add (when the To has none) or to put in place of the existing one.
    pub to_tag: Option<&'a [u8]>,
    /// `force_rport()` was called.
    pub force_rport: bool,
    /// `FL_VIA_NORECEIVED`.
    pub no_received: bool,
    /// Extra header lines, each ending in CRLF (Kamailio's `append_to_reply`/`add_lump_rpl`).
    pub extra_headers: &'a [u8],
    /// Body; `Content-Length` follows it (0 when `None`).
    pub body: Option<&'a [u8]>,
    /// The `Server:` line without CRLF (`server_header`), when `server_signature` is on.
    pub server_header: Option<&'a [u8]>,
    /// `sip_warning`: adds Kamailio's diagnostic `Warning: 392` header.
    pub warning: Option<WarningInfo<'a>>,
}

/// What Kamailio's `Warning: 392` header reports.
#[derive(Debug, Clone, Copy)]
pub struct WarningInfo<'a> {
    /// Process id shown as `pid=`.
    pub pid: u32,
    /// The Request-URI after script changes (`out_uri=`), if changed.
    pub new_ruri: Option<&'a [u8]>,
}

/// The transaction key of a request: Kamailio's `char_msg_val()` MD5 and `hash(Call-ID, CSeq)`.
pub fn transaction_key(msg: &Msg) -> Result<([u8; 32], u32), BuildError> {
    let rl = msg.request_line().ok_or(BuildError::WrongType)?;
    let buf = msg.buf();
    let from = msg.from().map_err(missing(HeaderKind::From))?;
    let to = msg.to().map_err(missing(HeaderKind::To))?;
    let cid_hdr = first(msg, HeaderKind::CallId)?.ok_or(BuildError::Missing(HeaderKind::CallId))?;
    let cseq = msg.cseq().map_err(missing(HeaderKind::CSeq))?;
    let via = msg.via1()?;
    let call_id = kamailio_body(buf, &cid_hdr);
    let cseq_number = cseq.number_span.of(buf);
    let key = TransactionKey {
        from_tag: from.tag.map_or(&[][..], |t| t.of(buf)),
        to_tag: to.tag.map_or(&[][..], |t| t.of(buf)),
        call_id,
        ruri: rl.uri.of(buf),
        cseq_number,
        via_host: via.host.of(buf),
        via_port: via.port_span.map_or(&[][..], |p| p.of(buf)),
        via_branch: via.branch.map(|b| b.value.map_or(&[][..], |v| v.of(buf))),
        invite_ack_cancel: matches!(rl.method, Method::Invite | Method::Ack | Method::Cancel),
    };
    Ok((
        branch::char_msg_val(&key),
        branch::hash_index(call_id, cseq_number),
    ))
}

/// The branch Kamailio puts in our Via for branch `index` of this request.
pub fn kamailio_branch(msg: &Msg, index: u32) -> Result<Vec<u8>, BuildError> {
    let (md5, hidx) = transaction_key(msg)?;
    Ok(branch::branch_value(hidx, &md5, index))
}

/// Kamailio's `build_req_buf_from_sip_req()`: the request as forwarded, with our Via (branch computed
/// from the request), `received=`/`rport=` on the received top Via, Content-Length fixed, the script's
/// edits applied. `edits` is not modified (tm builds several branches from one request).
pub fn forward_request(
    msg: &Msg,
    edits: &Edits,
    rcv: &RecvInfo<'_>,
    to: &SendTarget<'_>,
    opts: &ForwardOptions<'_>,
) -> Result<Vec<u8>, BuildError> {
    let branch = kamailio_branch(msg, opts.branch_index)?;
    forward_request_with_branch(msg, edits, rcv, to, opts, &branch)
}

/// [`forward_request`] with a branch value computed by the caller (tm keeps it per branch).
pub fn forward_request_with_branch(
    msg: &Msg,
    edits: &Edits,
    rcv: &RecvInfo<'_>,
    to: &SendTarget<'_>,
    opts: &ForwardOptions<'_>,
    branch: &[u8],
) -> Result<Vec<u8>, BuildError> {
    let ctx = SendContext {
        rcv_socket: Some(rcv.socket),
        rcv_proto: rcv.proto,
        snd_socket: Some(to.socket),
        snd_proto: to.proto,
        global_address: opts.via_host,
        global_port: opts.via_port,
    };
    // room for what the builder adds: Content-Length, our Via, received/rport, path, new R-URI
    let room = 256 + opts.path.map_or(0, <[u8]>::len) + opts.new_ruri.map_or(0, <[u8]>::len);
    with_fork(edits, 8, room, |e| {
        forward_request_edits(msg, e, rcv, to, opts, branch, &ctx)
    })
}

/// The edits [`forward_request_with_branch`] adds, then the output.
fn forward_request_edits(
    msg: &Msg,
    e: &mut Edits,
    rcv: &RecvInfo<'_>,
    to: &SendTarget<'_>,
    opts: &ForwardOptions<'_>,
    branch: &[u8],
    ctx: &SendContext<'_>,
) -> Result<Vec<u8>, BuildError> {
    let rl = msg.request_line().ok_or(BuildError::WrongType)?;
    let buf = msg.buf();
    let eoh = msg.headers_end()?;
    adjust_content_length(msg, e, eoh, ctx, to.proto)?;

    let via = *msg.via1()?;
    let via_hdr = header_at(msg, via.header)?;
    let via_anchor = e.anchor(via_hdr.span.start as usize)?;

    if !opts.no_received {
        update_received_via(msg, e, &via, rcv, opts.force_rport)?;
    }

    if let Some(path) = opts.path.filter(|p| !p.is_empty()) {
        let mut line = Vec::with_capacity(path.len() + 9);
        line.extend_from_slice(b"Route: ");
        line.extend_from_slice(path);
        line.extend_from_slice(b"\r\n");
        let anchor = match first(msg, HeaderKind::Route)? {
            Some(h) => e.anchor(h.span.start as usize)?,
            None => via_anchor,
        };
        e.insert(At::After(anchor), &line)?;
    }

    let via = OurVia::new(to, opts)?;
    e.insert_with(At::Before(via_anchor), |b| via.write(b, rcv, opts, branch))?;

    if let Some(uri) = opts.new_ruri {
        e.replace(rl.uri.start as usize, rl.uri.len(), uri)?;
    }

    let mut out = crate::pool::take_bytes(e.capacity_hint());
    e.write(buf, eoh, ctx, &mut out)?;
    Ok(out)
}

/// Runs `f` on a fork of `edits` with room for `anchors` more anchors and `text` more bytes: in a
/// per-thread scratch list (no allocation once warm), or a fresh fork if the scratch is in use.
fn with_fork<R>(edits: &Edits, anchors: usize, text: usize, f: impl FnOnce(&mut Edits) -> R) -> R {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Edits> = std::cell::RefCell::new(Edits::default());
    }
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut e) => {
            edits.fork_into(&mut e, anchors, text);
            let r = f(&mut e);
            e.trim_scratch();
            r
        }
        Err(_) => f(&mut edits.fork(anchors, text)),
    })
}

/// Kamailio's `generate_res_buf_from_sip_res()`: a received reply as forwarded — top Via removed,
/// Content-Length fixed for the transport of the second Via, edits applied. Kamailio builds replies
/// without a sending socket (send-side substitutions write nothing, conditions count as true); pass a
/// `ctx` without `snd_socket` to get exactly that.
pub fn forward_reply(
    msg: &Msg,
    edits: &Edits,
    ctx: &SendContext<'_>,
) -> Result<Vec<u8>, BuildError> {
    if msg.is_request() {
        return Err(BuildError::WrongType);
    }
    let via1 = *msg.via1()?;
    let via2 = msg.via2()?.copied().ok_or(BuildError::NoSecondVia)?;
    let eoh = msg.headers_end()?;
    with_fork(edits, 4, 32, |e| {
        adjust_content_length(msg, e, eoh, ctx, via_transport(&via2))?;
        e.delete(via1.remove_span.start as usize, via1.remove_span.len())?;
        let mut out = crate::pool::take_bytes(e.capacity_hint());
        e.write(msg.buf(), eoh, ctx, &mut out)?;
        Ok(out)
    })
}

/// `msg_apply_changes()`: the message with the script's edits applied, for the caller to re-parse.
///
/// As in Kamailio: no Via of ours, no received/rport update, no path, the new R-URI written in;
/// Content-Length fixed as for UDP (for a reply: for the transport of its second Via); substitutions
/// of the sending socket write nothing (there is none).
/// Refused when conditional edits (double Record-Route) are present, as Kamailio does.
pub fn apply_changes(
    msg: &Msg,
    edits: &Edits,
    rcv_socket: Option<&SocketInfo<'_>>,
    new_ruri: Option<&[u8]>,
) -> Result<Vec<u8>, BuildError> {
    if edits.has_conditions() {
        return Err(BuildError::ConditionalEdits);
    }
    let ctx = SendContext {
        rcv_socket,
        ..SendContext::default()
    };
    let eoh = msg.headers_end()?;
    let mut e = edits.fork(4, 32);
    // Kamailio fixes Content-Length of a reply for the transport of its second Via, of a request as UDP
    let proto = match msg.is_request() {
        true => Transport::Udp,
        false => msg.via2()?.map_or(Transport::Udp, via_transport),
    };
    adjust_content_length(msg, &mut e, eoh, &ctx, proto)?;
    if let (Some(uri), Some(rl)) = (new_ruri, msg.request_line()) {
        e.replace(rl.uri.start as usize, rl.uri.len(), uri)?;
    }
    let mut out = crate::pool::take_bytes(e.capacity_hint());
    e.write(msg.buf(), eoh, &ctx, &mut out)?;
    Ok(out)
}

/// Kamailio's `build_res_buf_from_sip_req()`: a reply generated here (sl, tm) for `req`.
///
/// Layout: status line (request's version), then in request order every Via (the first with
/// `rport=`/`received=` as needed), From, To (with `opts.to_tag`), Call-ID, CSeq and — for 180..=299 —
/// Record-Route; then the extra headers, `Server:`, `Content-Length:`, `Warning:`, empty line, body.
pub fn local_reply(
    req: &Msg,
    rcv: &RecvInfo<'_>,
    code: u16,
    reason: &[u8],
    opts: &ReplyOptions<'_>,
) -> Result<Vec<u8>, BuildError> {
    let rl = req.request_line().ok_or(BuildError::WrongType)?;
    if reason.is_empty() || !(100..=699).contains(&code) {
        return Err(BuildError::BadStatus);
    }
    let buf = req.buf();
    let hdrs = req.headers()?;
    let via1 = *req.via1()?;
    let received = !opts.no_received && received_test(buf, &via1, rcv.src_ip);
    let rport = !opts.no_received && (opts.force_rport || via1.rport.is_some());
    let to = match req.header(HeaderKind::To)? {
        Some(_) => Some(*req.to()?),
        None => None,
    };

    let mut out = crate::pool::take_bytes(buf.len() + opts.body.map_or(0, <[u8]>::len) + 128);
    out.extend_from_slice(rl.version.of(buf));
    out.push(b' ');
    push_u32(&mut out, u32::from(code)); // 100..=699: always three digits
    out.push(b' ');
    out.extend_from_slice(reason);
    out.extend_from_slice(b"\r\n");

    let mut via_count = 0u32;
    for (idx, h) in hdrs.iter().enumerate() {
        match h.kind {
            HeaderKind::Via => {
                via_count += 1;
                let start = h.span.start as usize;
                let body_end = start + kamailio_line(buf, h).len();
                if idx == via1.header && (received || rport) {
                    // where our parameters go: in place of an old rport, after the branch, or at the end
                    let (cut, resume) = match (rport, via1.rport, via1.branch) {
                        (true, Some(p), _) => (p.span.start as usize, p.span.end as usize),
                        (_, _, Some(b)) => (b.span.end as usize, b.span.end as usize),
                        _ => (body_end, body_end),
                    };
                    out.extend_from_slice(slice(buf, start, cut));
                    // Digits and addresses written directly: this runs for every local reply.
                    if rport {
                        out.extend_from_slice(b";rport=");
                        push_u32(&mut out, u32::from(rcv.src_port));
                    }
                    if received {
                        out.extend_from_slice(b";received=");
                        let mut ip = IpText::default();
                        ip.set(rcv.src_ip);
                        out.extend_from_slice(ip.as_bytes());
                    }
                    out.extend_from_slice(slice(buf, resume, body_end));
                } else {
                    out.extend_from_slice(slice(buf, start, body_end));
                }
                out.extend_from_slice(b"\r\n");
            }
            HeaderKind::RecordRoute if (180..300).contains(&code) => {
                out.extend_from_slice(h.span.of(buf));
            }
            HeaderKind::To => {
                let whole = h.span.of(buf);
                match (opts.to_tag.filter(|t| !t.is_empty()), to) {
                    (Some(tag), Some(na)) => match na.tag.filter(|t| !t.is_empty()) {
                        Some(old) => {
                            out.extend_from_slice(slice(
                                buf,
                                h.span.start as usize,
                                old.start as usize,
                            ));
                            out.extend_from_slice(tag);
                            out.extend_from_slice(slice(
                                buf,
                                old.end as usize,
                                h.span.end as usize,
                            ));
                        }
                        None => {
                            let line = kamailio_line(buf, h);
                            out.extend_from_slice(line);
                            out.extend_from_slice(b";tag=");
                            out.extend_from_slice(tag);
                            out.extend_from_slice(whole.get(line.len()..).unwrap_or(&[]));
                        }
                    },
                    _ => out.extend_from_slice(whole),
                }
            }
            HeaderKind::From | HeaderKind::CallId | HeaderKind::CSeq => {
                out.extend_from_slice(h.span.of(buf));
            }
            _ => {}
        }
    }
    out.extend_from_slice(opts.extra_headers);
    if let Some(server) = opts.server_header.filter(|s| !s.is_empty()) {
        out.extend_from_slice(server);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_u32(
        &mut out,
        u32::try_from(opts.body.map_or(0, <[u8]>::len)).unwrap_or(u32::MAX),
    );
    out.extend_from_slice(b"\r\n");
    if let Some(w) = &opts.warning {
        let uri = rl.uri.of(buf);
        let sock = rcv.socket;
        let _ = match sock.ip {
            IpAddr::V4(ip) => write!(Fmt(&mut out), "Warning: 392 {ip}:{}", sock.port),
            IpAddr::V6(ip) => write!(Fmt(&mut out), "Warning: 392 [{ip}]:{}", sock.port),
        };
        let _ = write!(
            Fmt(&mut out),
            " \"Noisy feedback tells:  pid={} req_src_ip={} req_src_port={} in_uri=",
            w.pid,
            rcv.src_ip,
            rcv.src_port
        );
        out.extend_from_slice(uri);
        out.extend_from_slice(b" out_uri=");
        out.extend_from_slice(w.new_ruri.unwrap_or(uri));
        let _ = write!(Fmt(&mut out), " via_cnt=={via_count}\"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = opts.body {
        out.extend_from_slice(body);
    }
    Ok(out)
}

/// `sl_send_reply()`: [`local_reply`] with sl's to-tag added when the code is 180 or more and the
/// request's To has no tag. Refuses ACK, as sl does.
pub fn sl_reply(
    req: &Msg,
    rcv: &RecvInfo<'_>,
    code: u16,
    reason: &[u8],
    tags: &branch::ToTagGenerator,
    opts: &ReplyOptions<'_>,
) -> Result<Vec<u8>, BuildError> {
    if req.method() == Some(Method::Ack) {
        return Err(BuildError::ReplyToAck);
    }
    let mut o = *opts;
    let tag;
    if code >= 180 && o.to_tag.is_none() && req.header(HeaderKind::To)?.is_some() {
        let to = req.to()?;
        if to.tag.is_none_or(|t| t.is_empty()) {
            tag = reply_to_tag(req, tags)?;
            o.to_tag = Some(&tag);
        }
    }
    local_reply(req, rcv, code, reason, &o)
}

/// The to-tag sl/tm generate for a reply to `req` (Kamailio's `calc_crc_suffix`).
pub fn reply_to_tag(
    req: &Msg,
    tags: &branch::ToTagGenerator,
) -> Result<[u8; branch::TOTAG_LEN], BuildError> {
    let buf = req.buf();
    let via = req.via1()?;
    let call_id = first(req, HeaderKind::CallId)?.map(|h| kamailio_body(buf, &h));
    Ok(tags.tag(
        via.host.of(buf),
        via.port_span.map(|p| p.of(buf)),
        via.branch.map(|b| b.value.map_or(&[][..], |v| v.of(buf))),
        call_id,
    ))
}

/// The body of a header as Kamailio stores it (`hdr->body`): from the first non-blank after the colon
/// to the end of the header without its line terminator — trailing blanks stay.
pub fn kamailio_body<'a>(buf: &'a [u8], h: &Header) -> &'a [u8] {
    let line = kamailio_line(buf, h);
    let off = (h.value.start.saturating_sub(h.span.start)) as usize;
    line.get(off..).unwrap_or(&[])
}

// ---- internals ----

/// The header from its name to the end of its body, without the final CR/LF (Kamailio `trim_r`).
fn kamailio_line<'a>(buf: &'a [u8], h: &Header) -> &'a [u8] {
    let mut s = h.span.of(buf);
    while let [rest @ .., b'\r' | b'\n' | 0] = s {
        s = rest;
    }
    s
}

fn slice(buf: &[u8], a: usize, b: usize) -> &[u8] {
    buf.get(a..b).unwrap_or(&[])
}

fn first(msg: &Msg, kind: HeaderKind) -> Result<Option<Header>, BuildError> {
    Ok(msg.header(kind)?.copied())
}

fn header_at(msg: &Msg, idx: usize) -> Result<Header, BuildError> {
    msg.headers()?
        .get(idx)
        .copied()
        .ok_or(BuildError::Missing(HeaderKind::Via))
}

fn missing(kind: HeaderKind) -> impl Fn(Error) -> BuildError {
    move |e| match e {
        Error::Missing(_) => BuildError::Missing(kind),
        other => BuildError::Parse(other),
    }
}

fn via_transport(v: &Via) -> Transport {
    match v.transport {
        Transport::Other => Transport::Udp,
        t => t,
    }
}

/// Kamailio's `received_test()` without DNS: the top Via already has `received`/`rport`, or its host
/// is not the textual source address.
fn received_test(buf: &[u8], via: &Via, src: IpAddr) -> bool {
    if via.received.is_some() || via.rport.is_some() {
        return true;
    }
    let host = via.host.of(buf);
    let mut text = IpText::default();
    text.set(src);
    let s = text.as_bytes();
    match src {
        IpAddr::V6(_) => {
            let inner = host
                .strip_prefix(b"[")
                .and_then(|h| h.strip_suffix(b"]"))
                .unwrap_or(host);
            !inner.eq_ignore_ascii_case(s)
        }
        IpAddr::V4(_) => host != s,
    }
}

/// `received=`/`rport=` on the received top Via, as `build_req_buf_from_sip_req` records them.
fn update_received_via(
    msg: &Msg,
    e: &mut Edits,
    via: &Via,
    rcv: &RecvInfo<'_>,
    force_rport: bool,
) -> Result<(), BuildError> {
    let buf = msg.buf();
    let received = received_test(buf, via, rcv.src_ip);
    let rport = force_rport || via.rport.is_some();
    if !received && !rport {
        return Ok(());
    }
    // first parameter position: the ';' of the first parameter, else after host[:port]
    let insert_at = if !via.params.is_empty() {
        via.params.span.start as usize
    } else {
        via.port_span.map_or(via.host.end, |p| p.end) as usize
    };
    let mut anchor = None;
    if received {
        let a = match via.received {
            Some(p) => e.delete(p.span.start as usize, p.span.len())?,
            None => e.anchor(insert_at)?,
        };
        let mut ip = IpText::default();
        ip.set(rcv.src_ip);
        e.insert_with(At::After(a), |b| {
            b.extend_from_slice(b";received=");
            b.extend_from_slice(ip.as_bytes());
        })?;
        anchor = Some(a);
    }
    if rport {
        let a = match (via.rport, anchor) {
            (Some(p), _) => e.delete(p.span.start as usize, p.span.len())?,
            (None, Some(a)) => a,
            (None, None) => e.anchor(insert_at)?,
        };
        e.insert_with(At::After(a), |b| {
            b.extend_from_slice(b";rport=");
            push_u32(b, u32::from(rcv.src_port));
        })?;
    }
    Ok(())
}

/// Kamailio's `adjust_clen()`: rewrite or add Content-Length for body edits (and always check it on
/// TCP/TLS, where Kamailio also adds a missing one).
fn adjust_content_length(
    msg: &Msg,
    e: &mut Edits,
    eoh: usize,
    ctx: &SendContext<'_>,
    proto: Transport,
) -> Result<(), BuildError> {
    let delta = e.body_delta(eoh, ctx);
    let stream = matches!(proto, Transport::Tcp | Transport::Tls);
    if delta == 0 && !stream {
        // Kamailio does not even parse Content-Length here: a broken one passes through untouched
        return Ok(());
    }
    let body_len = msg.body_span()?.len() as i64;
    let value = (body_len + delta).max(0);
    // A Content-Length header the script removed counts as absent: rewriting the value of a deleted
    // header would leave a stray number in the output (Kamailio writes it; we do not).
    let cl = match msg.header(HeaderKind::ContentLength)? {
        Some(h) if e.is_deleted(h.span.start as usize, h.span.end as usize) => None,
        Some(_) => msg.content_length()?,
        None => None,
    };
    match cl {
        None if stream || (delta != 0 && proto != Transport::Udp) => {
            let a = e.anchor(eoh)?;
            e.insert_with(At::After(a), |b| {
                let _ = write!(Fmt(b), "Content-Length: {value}\r\n");
            })?;
        }
        Some(cl) if (stream && i64::from(cl.value) != value) || (!stream && delta != 0) => {
            let a = e.delete(cl.span.start as usize, cl.span.len())?;
            e.insert_with(At::After(a), |b| {
                let _ = write!(Fmt(b), "{value}");
            })?;
        }
        _ => {}
    }
    Ok(())
}

/// Kamailio's `create_via_hf()` + `via_builder()`: what our Via shows, decided before writing.
struct OurVia<'a> {
    host: ViaHost<'a>,
    port: Option<ViaPort<'a>>,
    proto: Transport,
    bracket: bool,
}

enum ViaHost<'a> {
    Text(&'a str),
    Ip(IpAddr),
}

enum ViaPort<'a> {
    Text(&'a str),
    Num(u16),
}

impl<'a> OurVia<'a> {
    fn new(to: &SendTarget<'a>, opts: &ForwardOptions<'a>) -> Result<OurVia<'a>, BuildError> {
        let sock = to.socket;
        let adv = sock.advertise.filter(|a| !a.host.is_empty());
        let host = match (opts.via_host.filter(|h| !h.is_empty()), adv) {
            (Some(h), _) => ViaHost::Text(h),
            (None, Some(a)) => ViaHost::Text(a.host),
            (None, None) => ViaHost::Ip(sock.ip),
        };
        let port = match (opts.via_port.filter(|p| !p.is_empty()), adv) {
            (Some(p), _) => Some(ViaPort::Text(p)),
            (None, Some(a)) => (a.port > 0).then_some(ViaPort::Num(a.port)),
            (None, None) => (sock.port != 5060).then_some(ViaPort::Num(sock.port)),
        };
        // brackets only for a v6 socket whose shown address is a bare IPv6 literal
        let bracket = sock.ip.is_ipv6()
            && match host {
                ViaHost::Text(h) => !h.starts_with('[') && h.contains(':'),
                ViaHost::Ip(ip) => ip.is_ipv6(),
            };
        if matches!(host, ViaHost::Text("")) {
            return Err(BuildError::NoViaAddress);
        }
        Ok(OurVia {
            host,
            port,
            proto: adv.and_then(|a| a.proto).unwrap_or(to.proto),
            bracket,
        })
    }

    fn write(&self, v: &mut Vec<u8>, rcv: &RecvInfo<'_>, opts: &ForwardOptions<'_>, branch: &[u8]) {
        v.extend_from_slice(b"Via: SIP/2.0/");
        v.extend_from_slice(via_name(self.proto).as_bytes());
        v.push(b' ');
        if self.bracket {
            v.push(b'[');
        }
        match self.host {
            ViaHost::Text(h) => v.extend_from_slice(h.as_bytes()),
            ViaHost::Ip(ip) => {
                let mut t = IpText::default();
                t.set(ip);
                v.extend_from_slice(t.as_bytes());
            }
        }
        if self.bracket {
            v.push(b']');
        }
        match self.port {
            Some(ViaPort::Text(p)) => {
                v.push(b':');
                v.extend_from_slice(p.as_bytes());
            }
            Some(ViaPort::Num(n)) => {
                v.push(b':');
                push_u32(v, u32::from(n));
            }
            None => {}
        }
        v.extend_from_slice(b";branch=");
        v.extend_from_slice(branch);
        if matches!(rcv.proto, Transport::Tcp | Transport::Tls | Transport::Sctp) {
            v.extend_from_slice(b";i=");
            branch::push_reverse_hex(v, rcv.conn_id);
        }
        if opts.add_local_rport {
            v.extend_from_slice(b";rport");
        }
        v.extend_from_slice(b"\r\n");
    }
}

/// `fmt::Write` over a byte vector, for numbers and addresses without temporary strings.
struct Fmt<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for Fmt<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
