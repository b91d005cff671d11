//! Edits recorded against an unchanged receive buffer (Kamailio's "lumps"), applied in one pass.
//!
//! The script never changes the message in place: `append_hf`, `remove_hf`, `record_route`, the
//! forwarding code and friends record *edits* against byte offsets of the original buffer, and the
//! outgoing buffer is written once, when the message is sent (or when `msg_apply_changes()` asks for it).
//! Bytes nobody edited are copied verbatim.
//!
//! # Model (Kamailio's, kept on purpose)
//! - An **anchor** is a position in the original buffer; a **delete** is an anchor that also removes
//!   `len` bytes from there. Anchors are kept in creation order and applied in order of offset;
//!   anchors at the same offset are applied in creation order (Kamailio inserts a new lump after the
//!   existing ones with the same offset).
//! - Each anchor carries two **chains** of pieces: the *before* chain is written before the deleted
//!   bytes (or at the anchor position), the *after* chain after them; each chain is written from its
//!   head. [`At::Before`]/[`At::After`] put the new piece at the head of the chain, [`At::Next`] right
//!   behind another piece. Concretely, as in Kamailio: of two inserts after the same anchor the newer
//!   is written first (right after the anchor); of two inserts before the same anchor the newer is
//!   written first too (farther from the anchor). Code that wants "in call order" creates one anchor
//!   per insert (as `append_hf`/`insert_hf` do) or chains with [`At::Next`].
//! - A piece is literal text, a **substitution** ([`Subst`]) written from the [`SendContext`] only when
//!   the buffer is built (received / sending socket address, port, protocol), or a **condition**
//!   ([`Cond`]): when it evaluates false, the rest of its chain is skipped (Record-Route doubling uses
//!   this: condition first, then the header text chained behind it).
//!
//! # Overlapping deletes (deterministic, Kamailio's rule)
//! Walking anchors in offset order, a delete that starts inside an area already deleted is clipped to
//! start where that area ends (possibly to nothing); an anchor inside a deleted area moves to the end of
//! that area. So the deleted bytes are the union of all delete ranges, and text inserted at a position
//! that was deleted appears where the deleted area ends. Kamailio processes header and body edits in two
//! lists and silently drops a body edit overlapped by a header delete; here both are one list, which
//! gives the same bytes whenever Kamailio's output is well-formed.
//!
//! # Cost
//! Everything lives in four flat vectors of `Copy` records (anchors, their offset order, pieces, one
//! text arena), so copying an edit list for a tm branch is four `memcpy`s ([`Edits::fork`] reserves
//! room for the branch's own edits), handles ([`Anchor`], [`Piece`]) stay valid in the copy, and
//! applying allocates nothing but the output.

use std::fmt::Write as _;
use std::net::IpAddr;

pub use crate::Transport;

/// Errors from recording or applying edits.
///
/// Kept local to this module until the crate-wide `Error` grows an `Edit` variant (see the report of
/// the sipbuild helper); every variant is a caller bug or a script asking for something impossible,
/// never peer input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// An offset or range lies beyond the buffer the edits are recorded against.
    #[error("edit range {offset}+{len} outside the message (length {msg_len})")]
    OutOfRange {
        /// Start of the edit.
        offset: usize,
        /// Length of the edit.
        len: usize,
        /// Length of the message.
        msg_len: usize,
    },
    /// A handle that does not belong to this edit list.
    #[error("edit handle does not belong to this edit list")]
    BadHandle,
    /// The edit list was recorded against a buffer of another length.
    #[error("edit list recorded for a {expected}-byte message applied to {actual} bytes")]
    WrongBuffer {
        /// Length the edits were recorded against.
        expected: usize,
        /// Length of the buffer given to apply.
        actual: usize,
    },
    /// The edit list grew beyond 4 GiB of text or 2^32 records.
    #[error("edit list too large")]
    TooLarge,
}

/// Handle to an anchor (a position, possibly with a deletion) of an [`Edits`] list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Anchor(u32);

/// What a tagged anchor was made for, so everything inserted at such anchors can be withdrawn
/// later as a whole (Kamailio's lump types, which `remove_record_route()` searches the lump list
/// by). The tag travels with the edit list (clones, [`Edits::fork`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    /// rr's Record-Route headers (Kamailio's `HDR_RECORDROUTE_T` anchors).
    RecordRoute,
}

/// Handle to an inserted piece, to chain further pieces right behind it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece(u32);

/// Where a new piece goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    /// At the head of the anchor's *before* chain.
    Before(Anchor),
    /// At the head of the anchor's *after* chain.
    After(Anchor),
    /// Right behind this piece, in the same chain.
    Next(Piece),
}

/// A value known only when the outgoing buffer is built (Kamailio's `SUBST_*` lumps).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subst {
    /// Receiving socket address (IPv6 in brackets).
    RcvIp,
    /// Receiving socket port.
    RcvPort,
    /// Receiving socket protocol (`udp`, `tcp`, `tls`, `sctp`, `ws`).
    RcvProto,
    /// `address[:port][;transport=…]` of the receiving socket (port left out when 5060).
    RcvAll,
    /// [`Subst::RcvAll`] plus `;sn=<socket name>` when the socket has a name.
    RcvAllEx,
    /// `;sn=<socket name>` of the receiving socket, if it has one.
    RcvSockname,
    /// Sending socket address (advertised address first).
    SndIp,
    /// Sending socket port (left out when 5060 and nothing is advertised).
    SndPort,
    /// Sending socket protocol.
    SndProto,
    /// `address[:port][;transport=…]` of the sending socket.
    SndAll,
    /// [`Subst::SndAll`] plus `;sn=<socket name>`.
    SndAllEx,
    /// `;sn=<socket name>` of the sending socket, if it has one.
    SndSockname,
}

/// A condition on the receiving vs sending socket (Kamailio's `COND_*` lumps). Kamailio's
/// `COND_IF_RAND` is deliberately absent: this crate has no randomness; a caller wanting it draws the
/// coin when recording and uses [`Cond::True`] or [`Cond::False`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cond {
    /// Never.
    False,
    /// Always.
    True,
    /// Receiving and sending sockets differ in address, port, protocol or transport (double RR).
    IfDiffRealms,
    /// They differ in address family.
    IfDiffAf,
    /// They differ in protocol.
    IfDiffProto,
    /// They differ in port.
    IfDiffPort,
    /// They differ in IP address.
    IfDiffIp,
}

/// Name of a transport as written in a Via sent-protocol (`UDP`, `TCP`, `TLS`, `SCTP`, `WS`, `WSS`).
/// Sockets never carry [`Transport::Other`]; it is written as `UDP`, Kamailio's default.
pub fn via_name(t: Transport) -> &'static str {
    match t {
        Transport::Udp | Transport::Other => "UDP",
        Transport::Tcp => "TCP",
        Transport::Tls => "TLS",
        Transport::Sctp => "SCTP",
        Transport::Ws => "WS",
        Transport::Wss => "WSS",
    }
}

/// What a listening socket advertises instead of its own address (`advertise` in `listen=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Advertise<'a> {
    /// Host name or address to show.
    pub host: &'a str,
    /// Port to show; 0 = none.
    pub port: u16,
    /// Protocol to show, if different.
    pub proto: Option<Transport>,
}

/// A listening socket as the builders need to see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketInfo<'a> {
    /// Bound address.
    pub ip: IpAddr,
    /// Bound port.
    pub port: u16,
    /// Socket protocol (Ws/Wss connections live on Tcp/Tls sockets).
    pub proto: Transport,
    /// Advertised address, if configured.
    pub advertise: Option<Advertise<'a>>,
    /// Socket name (`name "…"` in `listen=`), empty if none.
    pub sockname: &'a str,
}

/// Where the message came in and where it is going, for substitutions and conditions.
#[derive(Debug, Clone, Copy)]
pub struct SendContext<'a> {
    /// Socket the message was received on (Kamailio `msg->rcv.bind_address`).
    pub rcv_socket: Option<&'a SocketInfo<'a>>,
    /// Transport the message arrived over (Ws/Wss for WebSocket).
    pub rcv_proto: Transport,
    /// Socket the message leaves from (Kamailio `send_info->send_sock`).
    pub snd_socket: Option<&'a SocketInfo<'a>>,
    /// Transport it leaves over.
    pub snd_proto: Transport,
    /// `set_advertised_address()` of the script, if any.
    pub global_address: Option<&'a str>,
    /// `set_advertised_port()` of the script, if any.
    pub global_port: Option<&'a str>,
}

impl Default for SendContext<'_> {
    /// No sockets known, UDP both ways (what `msg_apply_changes()` builds with).
    fn default() -> Self {
        SendContext {
            rcv_socket: None,
            rcv_proto: Transport::Udp,
            snd_socket: None,
            snd_proto: Transport::Udp,
            global_address: None,
            global_port: None,
        }
    }
}

/// An edit list recorded against one buffer.
#[derive(Debug, Clone, Default)]
pub struct Edits {
    msg_len: u32,
    anchors: Vec<AnchorRec>,
    /// Anchor ids sorted by offset, creation order within an offset (kept sorted on insert so
    /// applying needs no allocation).
    order: Vec<u32>,
    pieces: Vec<PieceRec>,
    text: Vec<u8>,
    /// (anchor id, tag) of the tagged anchors, in creation order (empty for most messages).
    tags: Vec<(u32, Tag)>,
}

/// What [`Edits::write`] reports besides the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteInfo {
    /// Net change of the body length caused by edits anchored after `eoh`.
    pub body_delta: i64,
}

impl Edits {
    /// An empty edit list for a message of `msg_len` bytes.
    pub fn new(msg_len: usize) -> Result<Edits, EditError> {
        Ok(Edits {
            msg_len: u32::try_from(msg_len).map_err(|_| EditError::TooLarge)?,
            ..Edits::default()
        })
    }

    /// A copy with room for `anchors` more anchors (and as many pieces) and `text` more bytes: what a
    /// builder or a tm branch adds on top of the script's edits, without reallocating.
    pub fn fork(&self, anchors: usize, text: usize) -> Edits {
        fn with_room<T: Copy>(v: &[T], extra: usize) -> Vec<T> {
            let mut out = Vec::with_capacity(v.len() + extra);
            out.extend_from_slice(v);
            out
        }
        Edits {
            msg_len: self.msg_len,
            anchors: with_room(&self.anchors, anchors),
            order: with_room(&self.order, anchors),
            pieces: with_room(&self.pieces, anchors),
            text: with_room(&self.text, text),
            tags: self.tags.clone(),
        }
    }

    /// [`Edits::fork`] into `dst`, reusing its allocations: the builders fork into a per-thread
    /// scratch list, so forwarding a message allocates no edit list.
    pub fn fork_into(&self, dst: &mut Edits, anchors: usize, text: usize) {
        fn refill<T: Copy>(dst: &mut Vec<T>, v: &[T], extra: usize) {
            dst.clear();
            dst.reserve(v.len() + extra);
            dst.extend_from_slice(v);
        }
        dst.msg_len = self.msg_len;
        refill(&mut dst.anchors, &self.anchors, anchors);
        refill(&mut dst.order, &self.order, anchors);
        refill(&mut dst.pieces, &self.pieces, anchors);
        refill(&mut dst.text, &self.text, text);
        refill(&mut dst.tags, &self.tags, 0);
    }

    /// Gives back the memory of a list that grew unusually large (a scratch list kept per thread
    /// must not pin the biggest message it ever saw).
    pub fn trim_scratch(&mut self) {
        const KEEP_TEXT: usize = 16 * 1024;
        const KEEP_RECS: usize = 256;
        if self.text.capacity() > KEEP_TEXT {
            self.text = Vec::new();
        }
        if self.anchors.capacity() > KEEP_RECS || self.pieces.capacity() > KEEP_RECS {
            self.tags = Vec::new();
            self.anchors = Vec::new();
            self.order = Vec::new();
            self.pieces = Vec::new();
        }
    }

    /// Length of the buffer these edits belong to.
    pub fn msg_len(&self) -> usize {
        self.msg_len as usize
    }

    /// True when nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.anchors.is_empty()
    }

    /// Number of anchors (positions and deletes).
    pub fn anchor_count(&self) -> usize {
        self.anchors.len()
    }

    /// A position to insert at (Kamailio `anchor_lump`).
    pub fn anchor(&mut self, offset: usize) -> Result<Anchor, EditError> {
        self.push_anchor(offset, 0)
    }

    /// A position to insert at, tagged `tag` (Kamailio's `anchor_lump` with a lump type).
    pub fn anchor_tagged(&mut self, offset: usize, tag: Tag) -> Result<Anchor, EditError> {
        let a = self.push_anchor(offset, 0)?;
        self.tags.push((a.0, tag));
        Ok(a)
    }

    /// Withdraws everything inserted at the anchors tagged `tag` (both chains; the anchors stay,
    /// empty, and further pieces chained to the withdrawn ones are not written either), as
    /// Kamailio's rr frees its Record-Route lumps. Returns how many anchors were cleared.
    pub fn withdraw(&mut self, tag: Tag) -> usize {
        let mut n = 0;
        for (id, t) in &self.tags {
            if *t == tag {
                if let Some(a) = self.anchors.get_mut(*id as usize) {
                    a.before = NIL;
                    a.after = NIL;
                    n += 1;
                }
            }
        }
        n
    }

    /// Delete `len` bytes at `offset` (Kamailio `del_lump`); the handle anchors replacements.
    pub fn delete(&mut self, offset: usize, len: usize) -> Result<Anchor, EditError> {
        self.push_anchor(offset, len)
    }

    /// Insert literal text.
    pub fn insert(&mut self, at: At, text: &[u8]) -> Result<Piece, EditError> {
        self.insert_with(at, |buf| buf.extend_from_slice(text))
    }

    /// Insert text written by `write` straight into the edit list's text store (no temporary
    /// buffer): `write` must only append.
    pub fn insert_with(
        &mut self,
        at: At,
        write: impl FnOnce(&mut Vec<u8>),
    ) -> Result<Piece, EditError> {
        let start = self.text.len();
        let start32 = u32::try_from(start).map_err(|_| EditError::TooLarge)?;
        if self.text.capacity() == 0 {
            // A script's edits usually add a few header lines: one allocation for them.
            self.text.reserve(FIRST_TEXT);
        }
        write(&mut self.text);
        let end = self.text.len();
        let len = match u32::try_from(end - start) {
            Ok(l) if start32.checked_add(l).is_some() => l,
            _ => {
                self.text.truncate(start);
                return Err(EditError::TooLarge);
            }
        };
        match self.link(
            at,
            Kind::Text {
                start: start32,
                len,
            },
        ) {
            Ok(p) => Ok(p),
            Err(e) => {
                self.text.truncate(start);
                Err(e)
            }
        }
    }

    /// Insert a value resolved when the buffer is built.
    pub fn insert_subst(&mut self, at: At, s: Subst) -> Result<Piece, EditError> {
        self.link(at, Kind::Subst(s))
    }

    /// Insert a condition: when false at build time, the pieces behind it in its chain are skipped.
    pub fn insert_cond(&mut self, at: At, c: Cond) -> Result<Piece, EditError> {
        self.link(at, Kind::Cond(c))
    }

    /// Convenience: new anchor at `offset` with `text` before it (Kamailio's `insert_hf` pattern).
    pub fn insert_at(&mut self, offset: usize, text: &[u8]) -> Result<Piece, EditError> {
        let a = self.anchor(offset)?;
        self.insert(At::Before(a), text)
    }

    /// Convenience: delete `len` bytes at `offset` and put `text` in their place.
    pub fn replace(&mut self, offset: usize, len: usize, text: &[u8]) -> Result<Piece, EditError> {
        let a = self.delete(offset, len)?;
        self.insert(At::After(a), text)
    }

    /// Net change of the body length (edits anchored after `eoh`), without writing anything: what
    /// Content-Length must be adjusted by (Kamailio's `lumps_len(body_lumps)`).
    pub fn body_delta(&self, eoh: usize, ctx: &SendContext<'_>) -> i64 {
        let mut delta = 0i64;
        for (orig, a) in self.plan() {
            if orig > eoh {
                let mut sink = LenSink(0);
                self.emit_chain(a.before, ctx, &mut sink);
                self.emit_chain(a.after, ctx, &mut sink);
                delta += sink.0 as i64 - i64::from(a.del_len);
            }
        }
        delta
    }

    /// True when every byte of `start..end` is removed by recorded deletes (an empty range counts as
    /// deleted when it lies strictly inside a deleted area).
    pub fn is_deleted(&self, start: usize, end: usize) -> bool {
        let mut covered = start;
        let mut ranges: Vec<(usize, usize)> = self
            .anchors
            .iter()
            .filter(|a| a.del_len > 0)
            .map(|a| (a.offset as usize, (a.offset + a.del_len) as usize))
            .collect();
        ranges.sort_unstable();
        for (s, e) in ranges {
            if s <= covered && e > covered {
                covered = e;
            }
            if covered >= end && covered > start {
                return true;
            }
        }
        false
    }

    /// True when a condition piece was recorded (Record-Route doubling): such edits cannot be
    /// applied before the sending socket is known.
    pub fn has_conditions(&self) -> bool {
        self.pieces.iter().any(|p| matches!(p.kind, Kind::Cond(_)))
    }

    /// An upper estimate of the output size (exact unless substitutions write long addresses), to
    /// size the output buffer without a counting pass.
    pub fn capacity_hint(&self) -> usize {
        self.msg_len as usize + self.text.len() + 64
    }

    /// Size of the output for `buf` under `ctx`, without writing it.
    pub fn output_len(&self, ctx: &SendContext<'_>) -> usize {
        let mut sink = LenSink(0);
        let mut n = self.msg_len as usize;
        for (_, a) in self.plan() {
            n = n.saturating_sub(a.del_len as usize);
            self.emit_chain(a.before, ctx, &mut sink);
            self.emit_chain(a.after, ctx, &mut sink);
        }
        n + sink.0
    }

    /// Write `buf` with all edits applied to `out` (appending). `eoh` is the offset of the empty line
    /// ending the header section; edits anchored after it count as body edits in the returned
    /// [`WriteInfo::body_delta`] (what Content-Length must be adjusted by).
    pub fn write(
        &self,
        buf: &[u8],
        eoh: usize,
        ctx: &SendContext<'_>,
        out: &mut Vec<u8>,
    ) -> Result<WriteInfo, EditError> {
        if buf.len() != self.msg_len as usize {
            return Err(EditError::WrongBuffer {
                expected: self.msg_len as usize,
                actual: buf.len(),
            });
        }
        out.reserve(self.capacity_hint());
        let mut info = WriteInfo::default();
        let mut copied = 0usize;
        for (orig_offset, a) in self.plan() {
            let at = a.offset as usize;
            // plan() clips to at >= copied and at + del_len <= buf.len()
            out.extend_from_slice(buf.get(copied..at).unwrap_or(&[]));
            let before = out.len();
            self.emit_chain(a.before, ctx, out);
            self.emit_chain(a.after, ctx, out);
            copied = at + a.del_len as usize;
            if orig_offset > eoh {
                info.body_delta += (out.len() - before) as i64 - i64::from(a.del_len);
            }
        }
        // The before chain is written before the deleted bytes would have been, the after chain after
        // them; with the deleted bytes gone both are simply consecutive.
        out.extend_from_slice(buf.get(copied..).unwrap_or(&[]));
        Ok(info)
    }

    /// [`Edits::write`] into a fresh vector.
    pub fn apply(
        &self,
        buf: &[u8],
        eoh: usize,
        ctx: &SendContext<'_>,
    ) -> Result<(Vec<u8>, WriteInfo), EditError> {
        let mut out = Vec::with_capacity(self.output_len(ctx));
        let info = self.write(buf, eoh, ctx, &mut out)?;
        Ok((out, info))
    }

    fn push_anchor(&mut self, offset: usize, len: usize) -> Result<Anchor, EditError> {
        let end = offset.checked_add(len);
        if end.is_none_or(|e| e > self.msg_len as usize) {
            return Err(EditError::OutOfRange {
                offset,
                len,
                msg_len: self.msg_len as usize,
            });
        }
        let id = u32::try_from(self.anchors.len()).map_err(|_| EditError::TooLarge)?;
        if self.anchors.capacity() == 0 {
            self.anchors.reserve(FIRST_RECS);
            self.order.reserve(FIRST_RECS);
            self.pieces.reserve(FIRST_RECS);
        }
        // offset, len <= msg_len which fits u32
        let anchors = &self.anchors;
        let pos = self
            .order
            .partition_point(|&i| anchors[i as usize].offset as usize <= offset);
        self.order.insert(pos, id);
        self.anchors.push(AnchorRec {
            offset: offset as u32,
            del_len: len as u32,
            before: NIL,
            after: NIL,
        });
        Ok(Anchor(id))
    }

    fn link(&mut self, at: At, kind: Kind) -> Result<Piece, EditError> {
        let id = u32::try_from(self.pieces.len()).map_err(|_| EditError::TooLarge)?;
        if id == NIL {
            return Err(EditError::TooLarge);
        }
        let head: &mut u32 = match at {
            At::Before(Anchor(a)) => {
                &mut self
                    .anchors
                    .get_mut(a as usize)
                    .ok_or(EditError::BadHandle)?
                    .before
            }
            At::After(Anchor(a)) => {
                &mut self
                    .anchors
                    .get_mut(a as usize)
                    .ok_or(EditError::BadHandle)?
                    .after
            }
            At::Next(Piece(p)) => {
                &mut self
                    .pieces
                    .get_mut(p as usize)
                    .ok_or(EditError::BadHandle)?
                    .next
            }
        };
        let next = *head;
        *head = id;
        self.pieces.push(PieceRec { kind, next });
        Ok(Piece(id))
    }

    /// Anchors in application order with overlaps resolved: `(original offset, clipped anchor)`.
    fn plan(&self) -> impl Iterator<Item = (usize, AnchorRec)> + '_ {
        let mut done = 0u32; // end of the area already copied or deleted
        self.order.iter().map(move |&i| {
            let mut a = self.anchors[i as usize];
            let orig = a.offset as usize;
            if a.offset < done {
                let overlap = done - a.offset;
                a.del_len = a.del_len.saturating_sub(overlap);
                a.offset = done;
            }
            done = a.offset + a.del_len;
            (orig, a)
        })
    }

    fn emit_chain(&self, mut p: u32, ctx: &SendContext<'_>, out: &mut impl Sink) {
        while let Some(rec) = self.pieces.get(p as usize) {
            match rec.kind {
                Kind::Text { start, len } => {
                    let r = start as usize..(start + len) as usize;
                    out.put(self.text.get(r).unwrap_or(&[]));
                }
                Kind::Subst(s) => write_subst(s, ctx, out),
                Kind::Cond(c) => {
                    if !eval_cond(c, ctx) {
                        return;
                    }
                }
            }
            p = rec.next;
        }
    }
}

const NIL: u32 = u32::MAX;
/// Room the first edit reserves: anchors (and as many orders and pieces), and text bytes.
const FIRST_RECS: usize = 8;
const FIRST_TEXT: usize = 256;

#[derive(Debug, Clone, Copy)]
struct AnchorRec {
    offset: u32,
    del_len: u32,
    before: u32,
    after: u32,
}

#[derive(Debug, Clone, Copy)]
struct PieceRec {
    kind: Kind,
    next: u32,
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    Text { start: u32, len: u32 },
    Subst(Subst),
    Cond(Cond),
}

/// Output of the emitters: bytes, or just a count for [`Edits::output_len`].
trait Sink {
    fn put(&mut self, b: &[u8]);
}

impl Sink for Vec<u8> {
    fn put(&mut self, b: &[u8]) {
        self.extend_from_slice(b);
    }
}

struct LenSink(usize);

impl Sink for LenSink {
    fn put(&mut self, b: &[u8]) {
        self.0 += b.len();
    }
}

/// Kamailio's `lump_check_opt`. Without a sending socket Kamailio "presumes they are different".
fn eval_cond(c: Cond, ctx: &SendContext<'_>) -> bool {
    let (rcv, snd) = match (c, ctx.rcv_socket, ctx.snd_socket) {
        (Cond::False, _, _) => return false,
        (Cond::True, _, _) => return true,
        (_, Some(r), Some(s)) => (r, s),
        _ => return true,
    };
    match c {
        Cond::False => false,
        Cond::True => true,
        Cond::IfDiffRealms => {
            !(rcv.port == snd.port
                && rcv.proto == snd.proto
                && ctx.rcv_proto == ctx.snd_proto
                && rcv.ip == snd.ip)
        }
        Cond::IfDiffAf => rcv.ip.is_ipv4() != snd.ip.is_ipv4(),
        Cond::IfDiffProto => rcv.proto != snd.proto || ctx.rcv_proto != ctx.snd_proto,
        Cond::IfDiffPort => rcv.port != snd.port,
        Cond::IfDiffIp => rcv.ip != snd.ip,
    }
}

/// The address/port/protocol a socket shows, after advertised values (Kamailio's `useinfo`).
struct Shown<'a> {
    addr: AddrText<'a>,
    v6: bool,
    /// Port text, if one is to be shown.
    port: Option<PortText<'a>>,
    /// Port number for the "is it 5060" test of the `*_ALL` substitutions.
    port_no: u16,
    proto: Transport,
}

enum AddrText<'a> {
    Str(&'a str),
    Ip(IpAddr),
}

enum PortText<'a> {
    Str(&'a str),
    Num(u16),
}

impl AddrText<'_> {
    fn put(&self, out: &mut impl Sink) {
        match self {
            AddrText::Str(s) => out.put(s.as_bytes()),
            AddrText::Ip(ip) => put_ip(*ip, out),
        }
    }
    fn starts_with_bracket(&self) -> bool {
        matches!(self, AddrText::Str(s) if s.starts_with('['))
    }
    fn has_colon(&self) -> bool {
        match self {
            AddrText::Str(s) => s.contains(':'),
            AddrText::Ip(ip) => ip.is_ipv6(),
        }
    }
}

impl PortText<'_> {
    fn put(&self, out: &mut impl Sink) {
        match self {
            PortText::Str(s) => out.put(s.as_bytes()),
            PortText::Num(n) => put_u16(*n, out),
        }
    }
}

/// The textual address of an advertised host: IPv6 when it parses as one.
fn advertised_is_v6(host: &str, sock: &SocketInfo<'_>) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    match h.parse::<IpAddr>() {
        Ok(ip) => ip.is_ipv6(),
        Err(_) => sock.ip.is_ipv6(),
    }
}

fn shown_rcv<'a>(s: &'a SocketInfo<'a>) -> Shown<'a> {
    match s.advertise {
        Some(adv) => Shown {
            addr: AddrText::Str(adv.host),
            v6: advertised_is_v6(adv.host, s),
            port: (adv.port > 0).then_some(PortText::Num(adv.port)),
            port_no: adv.port,
            proto: adv.proto.unwrap_or(s.proto),
        },
        None => Shown {
            addr: AddrText::Ip(s.ip),
            v6: s.ip.is_ipv6(),
            port: Some(PortText::Num(s.port)),
            port_no: s.port,
            proto: s.proto,
        },
    }
}

fn shown_snd<'a>(s: &'a SocketInfo<'a>, ctx: &SendContext<'a>) -> Shown<'a> {
    let (addr, v6) = match (s.advertise, ctx.global_address) {
        (Some(adv), _) => (AddrText::Str(adv.host), advertised_is_v6(adv.host, s)),
        (None, Some(g)) => (AddrText::Str(g), s.ip.is_ipv6()),
        (None, None) => (AddrText::Ip(s.ip), s.ip.is_ipv6()),
    };
    let (port, port_no) = match (s.advertise, ctx.global_port) {
        (Some(adv), _) => ((adv.port > 0).then_some(PortText::Num(adv.port)), adv.port),
        (None, Some(g)) => (Some(PortText::Str(g)), g.parse().unwrap_or(0)),
        (None, None) => ((s.port != 5060).then_some(PortText::Num(s.port)), s.port),
    };
    Shown {
        addr,
        v6,
        port,
        port_no,
        proto: s.advertise.and_then(|a| a.proto).unwrap_or(s.proto),
    }
}

/// `;transport=…` as Kamailio writes it for a socket protocol and the actual connection protocol.
fn put_transport(proto: Transport, conn: Transport, out: &mut impl Sink) {
    let name: &[u8] = match proto {
        Transport::Udp | Transport::Other => return,
        Transport::Tcp if conn == Transport::Ws => b"ws",
        Transport::Tcp => b"tcp",
        Transport::Tls if matches!(conn, Transport::Ws | Transport::Wss) => b"ws",
        Transport::Tls => b"tls",
        Transport::Ws | Transport::Wss => b"ws",
        Transport::Sctp => b"sctp",
    };
    out.put(b";transport=");
    out.put(name);
}

fn proto_name(proto: Transport, conn: Transport) -> &'static [u8] {
    match proto {
        Transport::Udp | Transport::Other => b"udp",
        Transport::Tcp if conn == Transport::Ws => b"ws",
        Transport::Tcp => b"tcp",
        Transport::Tls if matches!(conn, Transport::Ws | Transport::Wss) => b"ws",
        Transport::Tls => b"tls",
        Transport::Sctp => b"sctp",
        Transport::Ws | Transport::Wss => b"ws",
    }
}

fn put_sockname(name: &str, out: &mut impl Sink) {
    if !name.is_empty() {
        out.put(b";sn=");
        out.put(name.as_bytes());
    }
}

/// Kamailio's `SUBST_LUMP`: a missing socket writes nothing (Kamailio logs and writes nothing too).
fn write_subst(s: Subst, ctx: &SendContext<'_>, out: &mut impl Sink) {
    match s {
        Subst::RcvIp
        | Subst::RcvPort
        | Subst::RcvProto
        | Subst::RcvAll
        | Subst::RcvAllEx
        | Subst::RcvSockname => {
            let Some(sock) = ctx.rcv_socket else { return };
            let sh = shown_rcv(sock);
            match s {
                Subst::RcvIp => {
                    // Kamailio brackets any IPv6 receive address here, without looking at the text.
                    if sh.v6 {
                        out.put(b"[");
                    }
                    sh.addr.put(out);
                    if sh.v6 {
                        out.put(b"]");
                    }
                }
                Subst::RcvPort => {
                    if let Some(p) = &sh.port {
                        p.put(out);
                    }
                }
                Subst::RcvProto => out.put(proto_name(sock.proto, ctx.rcv_proto)),
                Subst::RcvSockname => put_sockname(sock.sockname, out),
                _ => {
                    put_all(&sh, sh.port_no != 5060, ctx.rcv_proto, out);
                    if s == Subst::RcvAllEx {
                        put_sockname(sock.sockname, out);
                    }
                }
            }
        }
        _ => {
            let Some(sock) = ctx.snd_socket else { return };
            let sh = shown_snd(sock, ctx);
            match s {
                Subst::SndIp => {
                    let br = sh.v6 && !sh.addr.starts_with_bracket();
                    if br {
                        out.put(b"[");
                    }
                    sh.addr.put(out);
                    if br {
                        out.put(b"]");
                    }
                }
                Subst::SndPort => {
                    if let Some(p) = &sh.port {
                        p.put(out);
                    }
                }
                Subst::SndProto => out.put(proto_name(sock.proto, ctx.snd_proto)),
                Subst::SndSockname => put_sockname(sock.sockname, out),
                _ => {
                    put_all(&sh, true, ctx.snd_proto, out);
                    if s == Subst::SndAllEx {
                        put_sockname(sock.sockname, out);
                    }
                }
            }
        }
    }
}

/// `address[:port][;transport=…]`; `port_ok` is the extra "not 5060" test of the receive side.
fn put_all(sh: &Shown<'_>, port_ok: bool, conn: Transport, out: &mut impl Sink) {
    let br = sh.v6 && !sh.addr.starts_with_bracket() && sh.addr.has_colon();
    if br {
        out.put(b"[");
    }
    sh.addr.put(out);
    if br {
        out.put(b"]");
    }
    if let (true, Some(p)) = (port_ok, &sh.port) {
        out.put(b":");
        p.put(out);
    }
    put_transport(sh.proto, conn, out);
}

fn put_ip(ip: IpAddr, out: &mut impl Sink) {
    let mut t = IpText::default();
    t.set(ip);
    out.put(t.as_bytes());
}

fn put_u16(n: u16, out: &mut impl Sink) {
    let mut b = [0u8; 10];
    out.put(u32_digits(u32::from(n), &mut b));
}

/// The decimal digits of `n`, written at the end of `b`: two digits per step from a table
/// (ports, IPv4 octets, status codes and lengths are 1–5 digits).
#[inline]
pub(crate) fn u32_digits(mut n: u32, b: &mut [u8; 10]) -> &[u8] {
    /// "00" "01" … "99".
    static PAIRS: [u8; 200] = {
        let mut t = [0u8; 200];
        let mut i = 0;
        while i < 100 {
            t[2 * i] = b'0' + (i / 10) as u8;
            t[2 * i + 1] = b'0' + (i % 10) as u8;
            i += 1;
        }
        t
    };
    let mut i = b.len();
    while n >= 100 {
        let d = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        b[i] = PAIRS[d];
        b[i + 1] = PAIRS[d + 1];
    }
    if n >= 10 {
        let d = n as usize * 2;
        i -= 2;
        b[i] = PAIRS[d];
        b[i + 1] = PAIRS[d + 1];
    } else {
        i -= 1;
        b[i] = b'0' + n as u8;
    }
    &b[i..]
}

/// Append the decimal digits of `n`.
pub(crate) fn push_u32(out: &mut Vec<u8>, n: u32) {
    let mut b = [0u8; 10];
    out.extend_from_slice(u32_digits(n, &mut b));
}

/// An IP address as text, without allocating: IPv4 dotted quad (Kamailio's `ip_addr2a`), IPv6 in
/// the compressed RFC 5952 form (Kamailio's default `ipv6_hex_style = "c"`, `inet_ntop`).
pub(crate) struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        IpText {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    /// Format `ip` (replacing what was there).
    pub(crate) fn set(&mut self, ip: IpAddr) {
        self.len = 0;
        match ip {
            IpAddr::V4(v4) => {
                for (k, o) in v4.octets().iter().enumerate() {
                    if k > 0 {
                        self.push(b".");
                    }
                    let mut b = [0u8; 10];
                    let d = u32_digits(u32::from(*o), &mut b);
                    let (start, end) = (self.len, self.len + d.len());
                    if let Some(dst) = self.buf.get_mut(start..end) {
                        dst.copy_from_slice(d);
                        self.len = end;
                    }
                }
            }
            IpAddr::V6(v6) => {
                let _ = write!(self, "{v6}");
            }
        }
    }

    /// The text.
    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }

    fn push(&mut self, s: &[u8]) {
        let end = self.len + s.len();
        if let Some(dst) = self.buf.get_mut(self.len..end) {
            dst.copy_from_slice(s);
            self.len = end;
        }
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MSG: &[u8] = b"0123456789abcdefghij";

    fn run(e: &Edits, ctx: &SendContext<'_>) -> String {
        let (out, _) = e.apply(MSG, MSG.len(), ctx).unwrap();
        assert_eq!(out.len(), e.output_len(ctx), "output_len agrees");
        String::from_utf8(out).unwrap()
    }

    type Step = fn(&mut Edits) -> Result<(), EditError>;

    #[test]
    fn withdraw_clears_the_tagged_anchors_only() {
        let mut e = Edits::new(MSG.len()).unwrap();
        let a = e.anchor_tagged(5, Tag::RecordRoute).unwrap();
        let p = e.insert(At::After(a), b"<rr1>").unwrap();
        e.insert(At::Next(p), b"<p>").unwrap();
        e.insert_at(5, b"<other>").unwrap();
        let b = e.anchor_tagged(10, Tag::RecordRoute).unwrap();
        e.insert(At::Before(b), b"<rr2>").unwrap();
        e.delete(0, 1).unwrap();
        let forked = e.fork(1, 1);
        let mut scratch = Edits::default();
        e.fork_into(&mut scratch, 0, 0);
        assert_eq!(
            run(&e, &SendContext::default()),
            "1234<rr1><p><other>56789<rr2>abcdefghij"
        );
        assert_eq!(e.withdraw(Tag::RecordRoute), 2);
        assert_eq!(
            run(&e, &SendContext::default()),
            "1234<other>56789abcdefghij"
        );
        // a piece chained after the withdrawal is written again; the fork kept its tags
        e.insert(At::After(a), b"<new>").unwrap();
        assert_eq!(
            run(&e, &SendContext::default()),
            "1234<new><other>56789abcdefghij"
        );
        assert_eq!(scratch.withdraw(Tag::RecordRoute), 2);
        assert_eq!(
            run(&scratch, &SendContext::default()),
            "1234<other>56789abcdefghij"
        );
        let mut f = forked;
        assert_eq!(f.withdraw(Tag::RecordRoute), 2);
        assert_eq!(
            run(&f, &SendContext::default()),
            "1234<other>56789abcdefghij"
        );
    }

    #[test]
    fn edit_table() {
        let cases: &[(&str, Step, &str)] = &[
            ("no edit", |_| Ok(()), "0123456789abcdefghij"),
            (
                "insert at start",
                |e| e.insert_at(0, b"<").map(drop),
                "<0123456789abcdefghij",
            ),
            (
                "insert at end",
                |e| e.insert_at(20, b">").map(drop),
                "0123456789abcdefghij>",
            ),
            ("delete", |e| e.delete(2, 3).map(drop), "0156789abcdefghij"),
            (
                "replace",
                |e| e.replace(10, 10, b"XY").map(drop),
                "0123456789XY",
            ),
            (
                "two anchors same offset keep creation order",
                |e| {
                    e.insert_at(5, b"A")?;
                    e.insert_at(5, b"B")?;
                    Ok(())
                },
                "01234AB56789abcdefghij",
            ),
            (
                "chain on one anchor: newest first (Kamailio)",
                |e| {
                    let a = e.anchor(5)?;
                    e.insert(At::After(a), b"1")?;
                    e.insert(At::After(a), b"2")?;
                    e.insert(At::Before(a), b"3")?;
                    e.insert(At::Before(a), b"4")?;
                    Ok(())
                },
                "01234432156789abcdefghij",
            ),
            (
                "next keeps order behind a piece",
                |e| {
                    let a = e.anchor(5)?;
                    let p = e.insert(At::After(a), b"1")?;
                    let q = e.insert(At::Next(p), b"2")?;
                    e.insert(At::Next(q), b"3")?;
                    Ok(())
                },
                "0123412356789abcdefghij",
            ),
            (
                "delete with before and after",
                |e| {
                    let a = e.delete(2, 2)?;
                    e.insert(At::Before(a), b"[")?;
                    e.insert(At::After(a), b"]")?;
                    Ok(())
                },
                "01[]456789abcdefghij",
            ),
            (
                "overlapping deletes form a union",
                |e| {
                    e.delete(2, 5)?;
                    e.delete(4, 6)?;
                    e.delete(5, 1)?;
                    Ok(())
                },
                "01abcdefghij",
            ),
            (
                "insert inside a deleted area moves to its end",
                |e| {
                    e.delete(2, 5)?;
                    e.insert_at(3, b"X")?;
                    e.insert_at(7, b"Y")?;
                    Ok(())
                },
                "01XY789abcdefghij",
            ),
            (
                "false condition skips the rest of its chain only",
                |e| {
                    let a = e.anchor(1)?;
                    let c = e.insert_cond(At::After(a), Cond::False)?;
                    e.insert(At::Next(c), b"no")?;
                    e.insert(At::Before(a), b"yes")?;
                    Ok(())
                },
                "0yes123456789abcdefghij",
            ),
            (
                "true condition keeps its chain",
                |e| {
                    let a = e.anchor(1)?;
                    let c = e.insert_cond(At::After(a), Cond::True)?;
                    e.insert(At::Next(c), b"ok")?;
                    Ok(())
                },
                "0ok123456789abcdefghij",
            ),
        ];
        for (name, step, want) in cases {
            let mut e = Edits::new(MSG.len()).unwrap();
            step(&mut e).unwrap();
            let got = run(&e, &SendContext::default());
            assert_eq!(got, *want, "{name}");
        }
    }

    #[test]
    fn out_of_range_and_bad_handles() {
        let mut e = Edits::new(10).unwrap();
        assert!(matches!(e.delete(5, 6), Err(EditError::OutOfRange { .. })));
        assert!(matches!(e.anchor(11), Err(EditError::OutOfRange { .. })));
        assert!(matches!(
            e.delete(usize::MAX, 2),
            Err(EditError::OutOfRange { .. })
        ));
        assert_eq!(
            e.insert(At::After(Anchor(3)), b"x"),
            Err(EditError::BadHandle)
        );
        assert_eq!(
            e.insert(At::Next(Piece(0)), b"x"),
            Err(EditError::BadHandle)
        );
        assert!(matches!(
            e.apply(b"short", 5, &SendContext::default()),
            Err(EditError::WrongBuffer { .. })
        ));
    }

    #[test]
    fn clone_is_independent_branch_copy() {
        let mut base = Edits::new(MSG.len()).unwrap();
        let a = base.anchor(10).unwrap();
        base.insert(At::Before(a), b"|").unwrap();
        let mut br = base.clone();
        br.insert(At::After(a), b"b1").unwrap();
        assert_eq!(run(&base, &SendContext::default()), "0123456789|abcdefghij");
        assert_eq!(run(&br, &SendContext::default()), "0123456789|b1abcdefghij");
    }

    #[test]
    fn body_delta_counts_only_after_eoh() {
        let mut e = Edits::new(MSG.len()).unwrap();
        e.insert_at(2, b"hh").unwrap();
        e.replace(12, 3, b"B").unwrap();
        e.insert_at(20, b"tail").unwrap();
        let (_, info) = e.apply(MSG, 10, &SendContext::default()).unwrap();
        assert_eq!(info.body_delta, -2 + 4);
    }

    fn sock(ip: IpAddr, port: u16, proto: Transport) -> SocketInfo<'static> {
        SocketInfo {
            ip,
            port,
            proto,
            advertise: None,
            sockname: "",
        }
    }

    #[test]
    fn substitutions_and_conditions() {
        let v4 = sock(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5060, Transport::Udp);
        let v4tcp = sock(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 5070, Transport::Tcp);
        let v6 = SocketInfo {
            sockname: "s6",
            ..sock(IpAddr::V6(Ipv6Addr::LOCALHOST), 5062, Transport::Tls)
        };
        let adv = SocketInfo {
            advertise: Some(Advertise {
                host: "pub.example.com",
                port: 5080,
                proto: None,
            }),
            ..v4
        };
        let table: &[(Subst, &SocketInfo<'_>, &SocketInfo<'_>, Transport, &str)] = &[
            (Subst::RcvIp, &v4, &v4, Transport::Udp, "10.0.0.1"),
            (Subst::RcvIp, &v6, &v4, Transport::Udp, "[::1]"),
            (Subst::RcvPort, &v4, &v4, Transport::Udp, "5060"),
            (Subst::RcvAll, &v4, &v4, Transport::Udp, "10.0.0.1"),
            (
                Subst::RcvAll,
                &v4tcp,
                &v4,
                Transport::Tcp,
                "10.0.0.1:5070;transport=tcp",
            ),
            (
                Subst::RcvAll,
                &v4tcp,
                &v4,
                Transport::Ws,
                "10.0.0.1:5070;transport=ws",
            ),
            (
                Subst::RcvAllEx,
                &v6,
                &v4,
                Transport::Tls,
                "[::1]:5062;transport=tls;sn=s6",
            ),
            (Subst::RcvProto, &v6, &v4, Transport::Tls, "tls"),
            (Subst::SndIp, &v4, &v6, Transport::Udp, "[::1]"),
            (Subst::SndPort, &v4, &v4, Transport::Udp, ""),
            (Subst::SndPort, &v4, &v4tcp, Transport::Udp, "5070"),
            (Subst::SndAll, &v4, &v4, Transport::Udp, "10.0.0.1"),
            (
                Subst::SndAll,
                &v4,
                &adv,
                Transport::Udp,
                "pub.example.com:5080",
            ),
            (
                Subst::SndAllEx,
                &v4,
                &v6,
                Transport::Udp,
                "[::1]:5062;transport=tls;sn=s6",
            ),
            (Subst::SndSockname, &v4, &v6, Transport::Udp, ";sn=s6"),
            (Subst::SndProto, &v4, &v4tcp, Transport::Udp, "tcp"),
        ];
        for (s, r, snd, rproto, want) in table {
            let ctx = SendContext {
                rcv_socket: Some(r),
                rcv_proto: *rproto,
                snd_socket: Some(snd),
                snd_proto: snd.proto,
                ..SendContext::default()
            };
            let mut e = Edits::new(0).unwrap();
            let a = e.anchor(0).unwrap();
            e.insert_subst(At::After(a), *s).unwrap();
            let (out, _) = e.apply(b"", 0, &ctx).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), *want, "{s:?}");
            assert_eq!(e.output_len(&ctx), want.len());
        }
        let conds: &[(Cond, &SocketInfo<'_>, &SocketInfo<'_>, bool)] = &[
            (Cond::IfDiffRealms, &v4, &v4, false),
            (Cond::IfDiffRealms, &v4, &v4tcp, true),
            (Cond::IfDiffAf, &v4, &v6, true),
            (Cond::IfDiffAf, &v4, &v4tcp, false),
            (Cond::IfDiffPort, &v4, &v4tcp, true),
            (Cond::IfDiffIp, &v4, &v4tcp, false),
            (Cond::IfDiffProto, &v4, &v4tcp, true),
        ];
        for (c, r, s, want) in conds {
            let ctx = SendContext {
                rcv_socket: Some(r),
                rcv_proto: r.proto,
                snd_socket: Some(s),
                snd_proto: s.proto,
                ..SendContext::default()
            };
            assert_eq!(eval_cond(*c, &ctx), *want, "{c:?}");
        }
        // no sockets: Kamailio presumes "different"
        assert!(eval_cond(Cond::IfDiffIp, &SendContext::default()));
    }

    #[test]
    fn is_deleted_table() {
        let mut e = Edits::new(MSG.len()).unwrap();
        e.delete(2, 3).unwrap();
        e.delete(5, 2).unwrap();
        e.delete(12, 2).unwrap();
        for (s, end, want) in [
            (2, 7, true),
            (3, 6, true),
            (2, 8, false),
            (1, 4, false),
            (12, 14, true),
            (7, 12, false),
            (10, 10, false),
            (3, 3, true),
        ] {
            assert_eq!(e.is_deleted(s, end), want, "{s}..{end}");
        }
    }

    #[test]
    fn ip_text_and_digits() {
        for (ip, want) in [
            (IpAddr::V4(Ipv4Addr::new(0, 0, 0, 0)), "0.0.0.0"),
            (
                IpAddr::V4(Ipv4Addr::new(192, 168, 10, 255)),
                "192.168.10.255",
            ),
            (IpAddr::V6(Ipv6Addr::LOCALHOST), "::1"),
            (
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 1, 0, 0, 0xabcd)),
                "2001:db8::1:0:0:abcd",
            ),
            (
                IpAddr::V6(Ipv6Addr::new(
                    0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff,
                )),
                "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            ),
        ] {
            let mut t = IpText::default();
            t.set(ip);
            assert_eq!(t.as_bytes(), want.as_bytes());
        }
        for (n, want) in [
            (0u32, "0"),
            (7, "7"),
            (5060, "5060"),
            (u32::MAX, "4294967295"),
        ] {
            let mut v = b"x".to_vec();
            push_u32(&mut v, n);
            assert_eq!(v, format!("x{want}").into_bytes());
        }
        // Every number of up to five digits, and each power of ten and its neighbours.
        let edges = (0..10u32).flat_map(|e| {
            let p = 10u32.pow(e);
            [p - 1, p, p + 1]
        });
        let mut b = [0u8; 10];
        for n in (0..100_000u32).chain(edges).chain([u32::MAX - 1, u32::MAX]) {
            assert_eq!(u32_digits(n, &mut b), n.to_string().as_bytes(), "{n}");
        }
    }

    #[test]
    fn fork_equals_clone() {
        let mut base = Edits::new(MSG.len()).unwrap();
        let a = base.delete(3, 2).unwrap();
        base.insert(At::After(a), b"Z").unwrap();
        let mut f = base.fork(4, 16);
        let mut c = base.clone();
        for e in [&mut f, &mut c] {
            e.insert_at(0, b"<").unwrap();
        }
        assert_eq!(
            run(&f, &SendContext::default()),
            run(&c, &SendContext::default())
        );
        assert_eq!(run(&f, &SendContext::default()), "<012Z56789abcdefghij");
    }

    /// A reused scratch list forgets what its previous fork held, and gives back memory that
    /// grew too large.
    #[test]
    fn fork_into_reuses_a_scratch_list() {
        let mut base = Edits::new(MSG.len()).unwrap();
        let a = base.delete(3, 2).unwrap();
        base.insert(At::After(a), b"Z").unwrap();
        let mut other = Edits::new(MSG.len()).unwrap();
        other.insert_at(1, b"first use").unwrap();
        other.insert_at(9, b"more").unwrap();
        let mut scratch = Edits::default();
        other.fork_into(&mut scratch, 4, 16);
        assert_eq!(
            run(&scratch, &SendContext::default()),
            run(&other, &SendContext::default())
        );
        base.fork_into(&mut scratch, 4, 16);
        scratch.insert_at(0, b"<").unwrap();
        assert_eq!(
            run(&scratch, &SendContext::default()),
            "<012Z56789abcdefghij"
        );
        assert_eq!(scratch.msg_len(), MSG.len());

        let mut big = Edits::new(MSG.len()).unwrap();
        big.insert_at(0, &vec![b'x'; 64 * 1024]).unwrap();
        big.fork_into(&mut scratch, 0, 0);
        assert!(scratch.text.capacity() >= 64 * 1024);
        scratch.trim_scratch();
        assert_eq!(scratch.text.capacity(), 0);
        base.fork_into(&mut scratch, 0, 0);
        assert_eq!(
            run(&scratch, &SendContext::default()),
            "012Z56789abcdefghij"
        );
    }
}
