//! The message: owned receive buffer, first line, lazily built header index and cached
//! typed header values.

use std::sync::OnceLock;

use crate::error::{Error, Result};
use crate::hdr::{is_hname_byte, is_hname_char, HeaderKind};
use crate::headers::nameaddr::{self, NameAddr};
use crate::headers::scalar::{self, CSeq, ContentLength};
use crate::headers::via::{self, Via};
use crate::lex::{at, is_ws, skip_lws, trim_end, CommaIter};
use crate::span::Span;
use crate::uri::Uri;

/// Kamailio's `sip_parser_mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ParserMode {
    /// Kamailio's default (`sip_parser_mode=1`): a second Call-ID, To, From, CSeq or
    /// Content-Length header makes the message invalid, and a message without any header
    /// is invalid.
    #[default]
    Strict,
    /// `sip_parser_mode=0`: duplicates are indexed and the first one is used.
    Lenient,
}

impl ParserMode {
    /// From the integer value of Kamailio's `sip_parser_mode` (bit 0 = strict).
    pub fn from_kamailio(v: i64) -> ParserMode {
        if v & 1 == 1 {
            ParserMode::Strict
        } else {
            ParserMode::Lenient
        }
    }
}

/// A set of extra ASCII characters accepted somewhere (Kamailio's `hdr_name_extra_chars`,
/// `uri_host_extra_chars`). Non-ASCII bytes are never members.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExtraChars(u128);

impl ExtraChars {
    /// No extra characters.
    pub const NONE: ExtraChars = ExtraChars(0);

    /// The set of the ASCII characters of `s` (non-ASCII characters are ignored, as they
    /// cannot be matched byte-wise; the config layer should refuse them).
    pub fn from_chars(s: &str) -> ExtraChars {
        let mut bits = 0u128;
        // Control characters are never accepted (they delimit lines and values).
        for b in s.bytes().filter(|b| b.is_ascii() && !b.is_ascii_control()) {
            bits |= 1u128 << b;
        }
        ExtraChars(bits)
    }

    /// Whether `b` is in the set.
    #[inline]
    pub fn contains(&self, b: u8) -> bool {
        b < 128 && (self.0 >> b) & 1 == 1
    }
}

/// Parser settings that Kamailio exposes as core parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseOptions {
    /// `sip_parser_mode`.
    pub mode: ParserMode,
    /// `hdr_name_extra_chars`.
    pub hdr_name_extra_chars: ExtraChars,
    /// `uri_host_extra_chars`.
    pub uri_host_extra_chars: ExtraChars,
    /// `phone2tel` (Kamailio default 1): a `sip:`/`sips:` URI with `user=phone` is treated
    /// as a tel URI, its user part being the number (see [`Uri::user_phone`]).
    pub phone2tel: bool,
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions {
            mode: ParserMode::Strict,
            hdr_name_extra_chars: ExtraChars::NONE,
            uri_host_extra_chars: ExtraChars::NONE,
            phone2tel: true,
        }
    }
}

/// Request methods Kamailio knows by name; anything else is [`Method::Other`] (the bytes
/// are in [`RequestLine::method_span`]). Recognition is ASCII case-insensitive, as in
/// Kamailio's first-line parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(missing_docs)]
pub enum Method {
    Invite,
    Cancel,
    Ack,
    Bye,
    Info,
    Register,
    Subscribe,
    Notify,
    Message,
    Options,
    Prack,
    Update,
    Refer,
    Publish,
    Kdmq,
    Get,
    Post,
    Put,
    Delete,
    /// An extension method.
    Other,
}

impl Method {
    const KNOWN: &'static [(&'static [u8], Method)] = &[
        (b"INVITE", Method::Invite),
        (b"CANCEL", Method::Cancel),
        (b"ACK", Method::Ack),
        (b"BYE", Method::Bye),
        (b"INFO", Method::Info),
        (b"REGISTER", Method::Register),
        (b"SUBSCRIBE", Method::Subscribe),
        (b"NOTIFY", Method::Notify),
        (b"MESSAGE", Method::Message),
        (b"OPTIONS", Method::Options),
        (b"PRACK", Method::Prack),
        (b"UPDATE", Method::Update),
        (b"REFER", Method::Refer),
        (b"PUBLISH", Method::Publish),
        (b"KDMQ", Method::Kdmq),
        (b"GET", Method::Get),
        (b"POST", Method::Post),
        (b"PUT", Method::Put),
        (b"DELETE", Method::Delete),
    ];

    /// Recognises a method token (ASCII case-insensitive).
    ///
    /// This runs for the request line and the CSeq of every message: the token (at most
    /// nine bytes for a known method) is folded, lowercased, into one integer and matched
    /// against the known names folded the same way. OR-ing 0x20 maps exactly the two cases
    /// of a letter onto the lowercase letter and no other byte onto a letter, and the known
    /// names are all letters, so the match is exact.
    #[inline]
    pub fn from_token(tok: &[u8]) -> Method {
        if tok.len() < 3 || tok.len() > 9 {
            return Method::Other;
        }
        let mut w: u128 = 0;
        for &b in tok {
            w = (w << 8) | u128::from(b | 0x20);
        }
        const fn key(name: &[u8]) -> u128 {
            let mut w: u128 = 0;
            let mut i = 0;
            while i < name.len() {
                w = (w << 8) | (name[i] | 0x20) as u128;
                i += 1;
            }
            w
        }
        const INVITE: u128 = key(b"INVITE");
        const CANCEL: u128 = key(b"CANCEL");
        const ACK: u128 = key(b"ACK");
        const BYE: u128 = key(b"BYE");
        const INFO: u128 = key(b"INFO");
        const REGISTER: u128 = key(b"REGISTER");
        const SUBSCRIBE: u128 = key(b"SUBSCRIBE");
        const NOTIFY: u128 = key(b"NOTIFY");
        const MESSAGE: u128 = key(b"MESSAGE");
        const OPTIONS: u128 = key(b"OPTIONS");
        const PRACK: u128 = key(b"PRACK");
        const UPDATE: u128 = key(b"UPDATE");
        const REFER: u128 = key(b"REFER");
        const PUBLISH: u128 = key(b"PUBLISH");
        const KDMQ: u128 = key(b"KDMQ");
        const GET: u128 = key(b"GET");
        const POST: u128 = key(b"POST");
        const PUT: u128 = key(b"PUT");
        const DELETE: u128 = key(b"DELETE");
        // No folded byte is zero, so the value also encodes the length.
        match w {
            INVITE => Method::Invite,
            CANCEL => Method::Cancel,
            ACK => Method::Ack,
            BYE => Method::Bye,
            INFO => Method::Info,
            REGISTER => Method::Register,
            SUBSCRIBE => Method::Subscribe,
            NOTIFY => Method::Notify,
            MESSAGE => Method::Message,
            OPTIONS => Method::Options,
            PRACK => Method::Prack,
            UPDATE => Method::Update,
            REFER => Method::Refer,
            PUBLISH => Method::Publish,
            KDMQ => Method::Kdmq,
            GET => Method::Get,
            POST => Method::Post,
            PUT => Method::Put,
            DELETE => Method::Delete,
            _ => Method::Other,
        }
    }

    /// The canonical name, `None` for [`Method::Other`].
    pub fn name(self) -> Option<&'static str> {
        Method::KNOWN
            .iter()
            .find(|&&(_, m)| m == self)
            .and_then(|(n, _)| std::str::from_utf8(n).ok())
    }
}

/// The protocol named in the version field of the first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// `SIP/2.0` (case-insensitive).
    Sip,
    /// `HTTP/1.x` (Kamailio passes these to xhttp).
    Http,
    /// `HTTP/2`.
    Http2,
    /// Anything else (e.g. `SIP/7.0`): the line parsed but the message is not SIP 2.0.
    /// Kamailio drops such requests; we let the caller decide (RFC 3261 wants 505).
    Other,
}

/// `Method SP Request-URI SP SIP-Version`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestLine {
    /// Recognised method.
    pub method: Method,
    /// The method token.
    pub method_span: Span,
    /// The Request-URI, unparsed (see [`Msg::ruri`]).
    pub uri: Span,
    /// The version token.
    pub version: Span,
    /// What the version token says.
    pub proto: Proto,
}

/// `SIP-Version SP Status-Code SP Reason-Phrase`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatusLine {
    /// The version token.
    pub version: Span,
    /// What it says.
    pub proto: Proto,
    /// The 3-digit status code.
    pub status: u16,
    /// The code's digits.
    pub status_span: Span,
    /// The reason phrase (may be empty).
    pub reason: Span,
}

/// The first line of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FirstLine {
    /// A request.
    Request(RequestLine),
    /// A reply.
    Reply(StatusLine),
}

/// One header field of the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Recognised kind.
    pub kind: HeaderKind,
    /// The name as written (`v`, `VIA`, `X-Foo` …).
    pub name: Span,
    /// The value: from the first non-blank after the colon to the last non-blank before
    /// the line end. Folded continuation lines stay inside (parsers treat them as LWS).
    pub value: Span,
    /// The whole header field, from the first byte of the name to after its (last) line
    /// end: deleting this span removes the header cleanly.
    pub span: Span,
}

/// A parsed SIP message. See the crate documentation for the API overview.
pub struct Msg {
    buf: Vec<u8>,
    opts: ParseOptions,
    first: FirstLine,
    first_span: Span,
    cache: Cache,
}

/// A copy of the buffer with the header index and the receive-path caches (Via list, From, To,
/// CSeq, Call-ID) when they were built: tm keeps the request of every transaction, and copying
/// the index is cheaper than parsing again.
impl Clone for Msg {
    fn clone(&self) -> Msg {
        fn copy<T: Clone>(from: &OnceLock<T>, to: &OnceLock<T>) {
            if let Some(v) = from.get() {
                let _ = to.set(v.clone());
            }
        }
        let cache = Cache::default();
        copy(&self.cache.index, &cache.index);
        copy(&self.cache.vias, &cache.vias);
        copy(&self.cache.from, &cache.from);
        copy(&self.cache.to, &cache.to);
        copy(&self.cache.cseq, &cache.cseq);
        copy(&self.cache.call_id, &cache.call_id);
        let mut buf = crate::pool::take_bytes(self.buf.len());
        buf.extend_from_slice(&self.buf);
        Msg {
            buf,
            opts: self.opts,
            first: self.first,
            first_span: self.first_span,
            cache,
        }
    }
}

/// The buffer and the header index go back to this thread's pools ([`crate::pool`]).
impl Drop for Msg {
    fn drop(&mut self) {
        crate::pool::give_bytes(std::mem::take(&mut self.buf));
        if let Some(Ok(index)) = self.cache.index.take() {
            crate::pool::give_hdrs(index.hdrs);
        }
    }
}

impl std::fmt::Debug for Msg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Msg")
            .field("len", &self.buf.len())
            .field("first", &self.first)
            .finish_non_exhaustive()
    }
}

impl Msg {
    /// Parses the first line of `buf` with the default (Kamailio default) options. The
    /// header index and typed values are built on first use.
    pub fn parse(buf: impl Into<Vec<u8>>) -> Result<Msg> {
        Msg::parse_with(buf, ParseOptions::default())
    }

    /// Like [`Msg::parse`] with explicit options.
    pub fn parse_with(buf: impl Into<Vec<u8>>, opts: ParseOptions) -> Result<Msg> {
        let buf = buf.into();
        if buf.len() > u32::MAX as usize / 2 {
            return Err(Error::TooLarge {
                max: u32::MAX as usize / 2,
            });
        }
        let (first, first_span) = parse_first_line(&buf)?;
        Ok(Msg {
            buf,
            opts,
            first,
            first_span,
            cache: Cache::default(),
        })
    }

    /// The whole receive buffer (spans index into it).
    #[inline]
    pub fn buf(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes under `s` (empty if out of range).
    #[inline]
    pub fn slice(&self, s: Span) -> &[u8] {
        s.of(&self.buf)
    }

    /// The options the message was parsed with.
    pub fn options(&self) -> &ParseOptions {
        &self.opts
    }

    /// Consumes the message, returning its buffer.
    pub fn into_buf(mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// The first line.
    #[inline]
    pub fn first_line(&self) -> &FirstLine {
        &self.first
    }

    /// The first line including its line end (leading CR/LF/blank bytes that Kamailio
    /// skips are before it).
    #[inline]
    pub fn first_line_span(&self) -> Span {
        self.first_span
    }

    /// The request line, if this is a request.
    pub fn request_line(&self) -> Option<&RequestLine> {
        match &self.first {
            FirstLine::Request(r) => Some(r),
            FirstLine::Reply(_) => None,
        }
    }

    /// The status line, if this is a reply.
    pub fn status_line(&self) -> Option<&StatusLine> {
        match &self.first {
            FirstLine::Reply(s) => Some(s),
            FirstLine::Request(_) => None,
        }
    }

    /// True for requests.
    pub fn is_request(&self) -> bool {
        matches!(self.first, FirstLine::Request(_))
    }

    /// The method of a request; for a reply, `None` (use the CSeq method).
    pub fn method(&self) -> Option<Method> {
        self.request_line().map(|r| r.method)
    }

    /// The status code of a reply.
    pub fn status(&self) -> Option<u16> {
        self.status_line().map(|s| s.status)
    }

    /// The protocol of the first line.
    pub fn proto(&self) -> Proto {
        match &self.first {
            FirstLine::Request(r) => r.proto,
            FirstLine::Reply(s) => s.proto,
        }
    }

    /// The header index (built on first call, in one pass to the end of the header
    /// section). Fails like Kamailio's `parse_headers(.., HDR_EOH_F)`: on a malformed header
    /// line, a duplicate single-instance header (strict mode; Max-Forwards always), or, in
    /// strict mode, a message with no header at all.
    pub fn headers(&self) -> Result<&[Header]> {
        self.index().map(|i| i.hdrs.as_slice())
    }

    /// The first header of `kind`.
    pub fn header(&self, kind: HeaderKind) -> Result<Option<&Header>> {
        Ok(self.headers()?.iter().find(|h| h.kind == kind))
    }

    /// Every header of `kind`, in message order.
    pub fn headers_of(&self, kind: HeaderKind) -> Result<impl Iterator<Item = &Header>> {
        Ok(self.headers()?.iter().filter(move |h| h.kind == kind))
    }

    /// Every header whose name equals `name` (ASCII case-insensitive; known headers also
    /// match their compact form and vice versa).
    pub fn headers_named<'a>(
        &'a self,
        name: &'a [u8],
    ) -> Result<impl Iterator<Item = &'a Header> + 'a> {
        let kind = HeaderKind::from_name(name);
        let buf = &self.buf;
        Ok(self.headers()?.iter().filter(move |h| {
            if kind == HeaderKind::Other {
                h.kind == HeaderKind::Other && h.name.eq_ignore_case(buf, name)
            } else {
                h.kind == kind
            }
        }))
    }

    /// The comma-separated elements of a header value, trimmed (quotes and `<...>` are
    /// respected). Only meaningful for headers whose grammar is a list.
    pub fn values<'a>(&'a self, h: &Header) -> impl Iterator<Item = Span> + 'a {
        CommaIter::new(&self.buf, h.value).filter(|s| !s.is_empty())
    }

    /// Offset of the empty line that ends the header section (where new headers are
    /// appended), or the buffer end if the section is not terminated.
    pub fn headers_end(&self) -> Result<usize> {
        self.index().map(|i| i.eoh)
    }

    /// Whether the header section ends with an empty line (it may not in a truncated
    /// datagram).
    pub fn has_end_of_headers(&self) -> Result<bool> {
        self.index().map(|i| i.has_eoh)
    }

    /// The body: everything after the empty line to the end of the buffer. Framing (see
    /// [`crate::framing`]) has already cut the buffer to Content-Length.
    pub fn body_span(&self) -> Result<Span> {
        self.index()
            .map(|i| Span::new(i.body_start.min(self.buf.len()), self.buf.len()))
    }

    /// The body bytes.
    pub fn body(&self) -> Result<&[u8]> {
        Ok(self.slice(self.body_span()?))
    }

    // ---- typed access (each parsed once, cached) ----

    /// The parsed Request-URI (`None` for replies).
    pub fn ruri(&self) -> Result<Option<&Uri>> {
        let Some(r) = self.request_line() else {
            return Ok(None);
        };
        let uri = r.uri;
        cached(&self.cache.rare().ruri, || {
            Uri::parse_with(&self.buf, uri, &self.opts)
        })
        .map(Some)
    }

    /// Every Via of the message, across all Via headers, top first.
    pub fn vias(&self) -> Result<&[Via]> {
        cached(&self.cache.vias, || {
            let hdrs = self.headers()?;
            // Usually one via per Via header: size the list once.
            let n = hdrs.iter().filter(|h| h.kind == HeaderKind::Via).count();
            let mut out = Vec::with_capacity(n.max(1));
            for (i, h) in hdrs.iter().enumerate() {
                if h.kind == HeaderKind::Via {
                    via::parse_into(&self.buf, i, h, &mut out)?;
                }
            }
            Ok(out)
        })
        .map(Vec::as_slice)
    }

    /// The topmost Via.
    pub fn via1(&self) -> Result<&Via> {
        self.vias()?.first().ok_or(Error::Missing(HeaderKind::Via))
    }

    /// The second Via, if any.
    pub fn via2(&self) -> Result<Option<&Via>> {
        Ok(self.vias()?.get(1))
    }

    /// The From header.
    pub fn from(&self) -> Result<&NameAddr> {
        cached(&self.cache.from, || {
            self.first_value(HeaderKind::From)
                .and_then(|h| nameaddr::parse_single(&self.buf, h.value, HeaderKind::From))
        })
    }

    /// The To header.
    pub fn to(&self) -> Result<&NameAddr> {
        cached(&self.cache.to, || {
            self.first_value(HeaderKind::To)
                .and_then(|h| nameaddr::parse_single(&self.buf, h.value, HeaderKind::To))
        })
    }

    /// The parsed URI of the From header.
    pub fn from_uri(&self) -> Result<&Uri> {
        cached(&self.cache.rare().from_uri, || {
            Uri::parse_with(&self.buf, self.from()?.uri, &self.opts)
        })
    }

    /// The parsed URI of the To header.
    pub fn to_uri(&self) -> Result<&Uri> {
        cached(&self.cache.rare().to_uri, || {
            Uri::parse_with(&self.buf, self.to()?.uri, &self.opts)
        })
    }

    /// The CSeq header.
    pub fn cseq(&self) -> Result<&CSeq> {
        cached(&self.cache.cseq, || {
            self.first_value(HeaderKind::CSeq)
                .and_then(|h| scalar::parse_cseq(&self.buf, h.value))
        })
    }

    /// The Call-ID value.
    pub fn call_id(&self) -> Result<Span> {
        cached(&self.cache.call_id, || {
            self.first_value(HeaderKind::CallId)
                .and_then(|h| scalar::parse_call_id(&self.buf, h.value))
        })
        .copied()
    }

    /// Max-Forwards, if present.
    pub fn max_forwards(&self) -> Result<Option<u32>> {
        cached(&self.cache.max_forwards, || {
            match self.header(HeaderKind::MaxForwards)? {
                None => Ok(None),
                Some(h) => scalar::parse_max_forwards(&self.buf, h.value).map(Some),
            }
        })
        .copied()
    }

    /// Content-Length, if present.
    pub fn content_length(&self) -> Result<Option<ContentLength>> {
        cached(&self.cache.content_length, || {
            match self.header(HeaderKind::ContentLength)? {
                None => Ok(None),
                Some(h) => scalar::parse_content_length(&self.buf, h.value).map(Some),
            }
        })
        .copied()
    }

    /// Builds (once) and returns the index.
    fn index(&self) -> Result<&Index> {
        cached(&self.cache.index, || {
            build_index(
                &self.buf,
                self.first_span.end as usize,
                &self.opts,
                self.proto() == Proto::Sip,
            )
        })
    }

    /// The first header of `kind`, or `Missing`.
    pub(crate) fn first_value(&self, kind: HeaderKind) -> Result<&Header> {
        self.header(kind)?.ok_or(Error::Missing(kind))
    }

    pub(crate) fn cache(&self) -> &Cache {
        &self.cache
    }
}

/// Runs `f` once per cell and hands out the cached value or (copied) error.
#[inline]
pub(crate) fn cached<T>(cell: &OnceLock<Result<T>>, f: impl FnOnce() -> Result<T>) -> Result<&T> {
    match cell.get_or_init(f) {
        Ok(v) => Ok(v),
        Err(e) => Err(*e),
    }
}

#[derive(Clone)]
struct Index {
    hdrs: Vec<Header>,
    eoh: usize,
    body_start: usize,
    has_eoh: bool,
}

/// Per-message caches of typed values. `OnceLock` keeps `Msg` `Send + Sync` (tm keeps
/// messages and reads them from other threads) at the cost of one atomic load per access.
/// The values of the receive path live inline; everything else is in [`Rare`], allocated on
/// first use, so that a `Msg` stays small (it is moved on every parse).
#[derive(Default)]
pub(crate) struct Cache {
    index: OnceLock<Result<Index>>,
    vias: OnceLock<Result<Vec<Via>>>,
    from: OnceLock<Result<NameAddr>>,
    to: OnceLock<Result<NameAddr>>,
    cseq: OnceLock<Result<CSeq>>,
    call_id: OnceLock<Result<Span>>,
    max_forwards: OnceLock<Result<Option<u32>>>,
    content_length: OnceLock<Result<Option<ContentLength>>>,
    rare: OnceLock<Box<Rare>>,
}

/// Caches of the accessors used less often (URIs are large).
#[derive(Default)]
pub(crate) struct Rare {
    ruri: OnceLock<Result<Uri>>,
    from_uri: OnceLock<Result<Uri>>,
    to_uri: OnceLock<Result<Uri>>,
    pub(crate) more: crate::typed::MoreCache,
}

impl Cache {
    pub(crate) fn rare(&self) -> &Rare {
        self.rare.get_or_init(Box::default)
    }
}

/// The bytes that end a token of the first line (method, R-URI, version, status code).
static TOKEN_END: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'\n' as usize] = true;
    t
};

/// Parses the first line (after the CR/LF/NUL/SP/HT bytes Kamailio skips).
fn parse_first_line(buf: &[u8]) -> Result<(FirstLine, Span)> {
    let mut start = 0;
    while start < buf.len() && matches!(buf[start], b'\r' | b'\n' | 0 | b' ' | b'\t') {
        start += 1;
    }
    // Kamailio drops anything of 16 bytes or less: it cannot be a SIP message.
    if buf.len() - start <= 16 {
        return Err(Error::TooShort);
    }
    let err = |at: usize, reason: &'static str| Error::FirstLine { at, reason };
    let tok_end = |from: usize| {
        let rest = buf.get(from..).unwrap_or(&[]);
        from + rest
            .iter()
            .position(|&b| TOKEN_END[usize::from(b)])
            .unwrap_or(rest.len())
    };
    let line_end = |from: usize| -> Result<usize> {
        // Index after the LF that ends the line starting the search at `from`; like
        // Kamailio's `eat_line`, a CR right after the LF belongs to the line end too.
        let lf = memchr::memchr(b'\n', buf.get(from..).unwrap_or(&[]))
            .map(|p| from + p + 1)
            .ok_or(err(from, "no line end"))?;
        Ok(if lf + 1 < buf.len() && buf[lf] == b'\r' {
            lf + 1
        } else {
            lf
        })
    };
    let version_proto = |v: &[u8]| -> Proto {
        if v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"SIP/2.0") && v.len() == 7 {
            Proto::Sip
        } else if v.len() >= 7 && v[..7].eq_ignore_ascii_case(b"HTTP/1.") {
            // Kamailio's parse_first_line compares only these prefixes of a request's version:
            // `HTTP/1.1`, `HTTP/1.0` and `HTTP/1.x` all go to xhttp.
            Proto::Http
        } else if v.len() >= 6 && v[..6].eq_ignore_ascii_case(b"HTTP/2") {
            Proto::Http2
        } else {
            Proto::Other
        }
    };

    let rest = &buf[start..];
    if rest.len() > 8 && rest[..7].eq_ignore_ascii_case(b"SIP/2.0") && rest[7] == b' ' {
        // Status line: exactly three digits, then at least one SP, then anything to CR/LF.
        let code_start = start + 8;
        let code_end = tok_end(code_start);
        let code = &buf[code_start..code_end];
        if code.len() != 3 || !code.iter().all(u8::is_ascii_digit) {
            return Err(err(code_start, "status code is not 3 digits"));
        }
        let status = code
            .iter()
            .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
        let mut reason_start = code_end;
        while reason_start < buf.len() && matches!(buf[reason_start], b' ' | b'\t') {
            reason_start += 1;
        }
        if reason_start == code_end {
            return Err(err(code_end, "no SP after status code"));
        }
        let mut reason_end = reason_start;
        while reason_end < buf.len() && !matches!(buf[reason_end], b'\r' | b'\n') {
            reason_end += 1;
        }
        let end = line_end(reason_end)?;
        if end >= buf.len() {
            return Err(err(end, "message has only a first line"));
        }
        let reason_end = trim_end(buf, reason_start, reason_end);
        return Ok((
            FirstLine::Reply(StatusLine {
                version: Span::new(start, start + 7),
                proto: Proto::Sip,
                status,
                status_span: Span::new(code_start, code_end),
                reason: Span::new(reason_start, reason_end),
            }),
            Span::new(start, end),
        ));
    }

    // Request line: method SP uri SP+ version, then only blanks to the line end.
    let m_end = tok_end(start);
    if m_end == start || m_end >= buf.len() || buf[m_end] != b' ' {
        return Err(err(m_end, "method not followed by SP"));
    }
    let uri_start = m_end + 1;
    let uri_end = tok_end(uri_start);
    let mut v_start = uri_end;
    while v_start < buf.len() && matches!(buf[v_start], b' ' | b'\t') {
        v_start += 1;
    }
    if v_start == uri_end || uri_end >= buf.len() {
        return Err(err(uri_end, "no SP after Request-URI"));
    }
    let v_end = tok_end(v_start);
    if v_end == v_start || v_end >= buf.len() {
        return Err(err(v_start, "no version"));
    }
    let mut i = v_end;
    while i < buf.len() && matches!(buf[i], b' ' | b'\t') {
        i += 1;
    }
    if !matches!(at(buf, i), b'\r' | b'\n') {
        return Err(err(i, "junk after version"));
    }
    let end = line_end(i)?;
    if end >= buf.len() {
        return Err(err(end, "message has only a first line"));
    }
    let method_span = Span::new(start, m_end);
    Ok((
        FirstLine::Request(RequestLine {
            method: Method::from_token(method_span.of(buf)),
            method_span,
            uri: Span::new(uri_start, uri_end),
            version: Span::new(v_start, v_end),
            proto: version_proto(&buf[v_start..v_end]),
        }),
        Span::new(start, end),
    ))
}

/// Headers Kamailio allows only once (in strict mode), checked while indexing.
fn single_instance(kind: HeaderKind, strict: bool) -> bool {
    match kind {
        // Kamailio rejects a second Max-Forwards whatever the parser mode.
        HeaderKind::MaxForwards => true,
        HeaderKind::CallId
        | HeaderKind::To
        | HeaderKind::From
        | HeaderKind::CSeq
        | HeaderKind::ContentLength => strict,
        _ => false,
    }
}

fn build_index(buf: &[u8], mut pos: usize, opts: &ParseOptions, is_sip: bool) -> Result<Index> {
    let strict = opts.mode == ParserMode::Strict;
    // One allocation covers messages of up to 32 headers (the common case); larger ones
    // grow the vector geometrically.
    let mut hdrs: Vec<Header> = crate::pool::take_hdrs(32);
    let mut seen: u8 = 0; // bit per single-instance kind, see `single_bit`
    let len = buf.len();
    let extra = opts.hdr_name_extra_chars;
    loop {
        if pos >= len {
            if strict && hdrs.is_empty() {
                return Err(Error::HeaderLine {
                    at: pos,
                    reason: "no header fields",
                });
            }
            return Ok(Index {
                hdrs,
                eoh: len,
                body_start: len,
                has_eoh: false,
            });
        }
        match buf[pos] {
            b'\n' | b'\r' => {
                // Empty line (CRLF, LF, or a lone CR as Kamailio accepts): end of headers.
                let body_start = if buf[pos] == b'\r' && at(buf, pos + 1) == b'\n' {
                    pos + 2
                } else {
                    pos + 1
                };
                if strict && hdrs.is_empty() {
                    return Err(Error::HeaderLine {
                        at: pos,
                        reason: "no header fields",
                    });
                }
                return Ok(Index {
                    hdrs,
                    eoh: pos,
                    body_start,
                    has_eoh: true,
                });
            }
            _ => {}
        }
        let name_start = pos;
        let i = if extra == ExtraChars::NONE {
            crate::lex::scan_while(buf, pos, len, is_hname_byte)
        } else {
            crate::lex::scan_while(buf, pos, len, |b| is_hname_char(b, &extra))
        };
        if i == name_start {
            return Err(Error::HeaderLine {
                at: pos,
                reason: "invalid start of header name",
            });
        }
        let name = Span::new(name_start, i);
        // Usually the colon follows the name directly.
        let mut i = i;
        if at(buf, i) != b':' {
            while i < len && is_ws(buf[i]) {
                i += 1;
            }
            if at(buf, i) != b':' {
                return Err(Error::HeaderLine {
                    at: pos,
                    reason: "invalid header name",
                });
            }
        }
        i += 1;
        // Find the line end, following folded continuation lines.
        let mut eol = i;
        let line_end = loop {
            match find_lf(buf, eol) {
                None => {
                    return Err(Error::HeaderLine {
                        at: pos,
                        reason: "no line end",
                    })
                }
                Some(p) => {
                    let after = p + 1;
                    if after < len && is_ws(buf[after]) {
                        eol = after;
                        continue;
                    }
                    break after;
                }
            }
        };
        // Usually `: value\r\n` with one blank and no trailing LWS: found without the loops.
        let lws = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
        let v_start = if at(buf, i) == b' ' && !lws(at(buf, i + 1)) {
            i + 1
        } else {
            skip_lws(buf, i, line_end)
        };
        let v_end = if line_end >= v_start + 2
            && buf[line_end - 2..line_end] == *b"\r\n"
            && (line_end == v_start + 2 || !lws(buf[line_end - 3]))
        {
            line_end - 2
        } else {
            trim_end(buf, v_start, line_end)
        };
        let kind = HeaderKind::from_name(name.of(buf));
        if is_sip {
            let bit = single_bit(kind);
            if bit != 0 {
                if seen & bit != 0 && single_instance(kind, strict) {
                    return Err(Error::Duplicate { kind, at: pos });
                }
                seen |= bit;
            }
        }
        hdrs.push(Header {
            kind,
            name,
            value: Span::new(v_start, v_end),
            span: Span::new(name_start, line_end),
        });
        pos = line_end;
    }
}

/// Index of the first LF at or after `from`. Header lines are short (30–80 bytes): eight
/// bytes at a time in a register, without the call and setup of a vector search, which
/// takes over for long lines.
#[inline]
fn find_lf(buf: &[u8], from: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    const LF: u64 = LO * b'\n' as u64;
    let mut i = from;
    let stop = from.saturating_add(64);
    while i < stop {
        let Some(w) = buf.get(i..i + 8) else {
            break;
        };
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        // Bytes equal to LF become zero; the lowest flagged byte is the first zero byte
        // (a borrow can only flag bytes above a real zero).
        let x = u64::from_le_bytes(a) ^ LF;
        let z = x.wrapping_sub(LO) & !x & HI;
        if z != 0 {
            return Some(i + (z.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    memchr::memchr(b'\n', buf.get(i..)?).map(|p| i + p)
}

/// The bit of a single-instance kind in the index's `seen` mask (0 for other kinds).
#[inline]
fn single_bit(kind: HeaderKind) -> u8 {
    match kind {
        HeaderKind::MaxForwards => 1,
        HeaderKind::CallId => 2,
        HeaderKind::To => 4,
        HeaderKind::From => 8,
        HeaderKind::CSeq => 16,
        HeaderKind::ContentLength => 32,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone_keeps_buffer_and_parsed_headers() {
        let text = b"INVITE sip:b@h SIP/2.0\r\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 2 INVITE\r\nContent-Length: 0\r\n\r\n";
        let m = Msg::parse(text.to_vec()).expect("parses");
        // Clone before and after the index and the typed headers exist.
        let early = m.clone();
        let _ = (m.via1(), m.from(), m.to(), m.cseq(), m.call_id());
        let late = m.clone();
        for c in [&early, &late] {
            assert_eq!(c.buf(), m.buf());
            assert_eq!(c.method(), Some(Method::Invite));
            assert_eq!(c.cseq().map(|x| x.number).ok(), Some(2));
            assert_eq!(
                c.from()
                    .ok()
                    .and_then(|f| f.tag)
                    .map(|t| t.of(c.buf()).to_vec()),
                Some(b"1".to_vec())
            );
            assert_eq!(c.headers().map(<[Header]>::len).ok(), Some(6));
        }
    }

    const INV: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP host.example.com:5060;branch=z9hG4bK1\r\n\
f: <sip:alice@example.com>;tag=1\r\n\
To: Bob <sip:bob@example.com>\r\n\
Call-ID: abc@host\r\n\
CSeq: 1 INVITE\r\n\
Subject: folded\r\n\tline\r\n\
l: 4\r\n\
\r\n\
body";

    #[test]
    fn first_lines() {
        type Want = std::result::Result<(Option<Method>, Option<u16>, Proto), ()>;
        let table: &[(&str, Want)] = &[
            (
                "INVITE sip:a@b SIP/2.0\r\nVia: x\r\n\r\n",
                Ok((Some(Method::Invite), None, Proto::Sip)),
            ),
            (
                "invite sip:a@b SIP/2.0\r\nVia: x\r\n\r\n",
                Ok((Some(Method::Invite), None, Proto::Sip)),
            ),
            (
                "NEWMETH sip:a@b SIP/2.0\r\nVia: x\r\n\r\n",
                Ok((Some(Method::Other), None, Proto::Sip)),
            ),
            (
                "INVITE sip:a@b SIP/7.0\r\nVia: x\r\n\r\n",
                Ok((Some(Method::Invite), None, Proto::Other)),
            ),
            (
                "INVITE sip:a@b SIP/2.0   \r\nVia: x\r\n\r\n",
                Ok((Some(Method::Invite), None, Proto::Sip)),
            ),
            (
                "\r\n\r\nOPTIONS sip:a@b SIP/2.0\nVia: x\n\n",
                Ok((Some(Method::Options), None, Proto::Sip)),
            ),
            (
                "GET /RPC HTTP/1.1\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Get), None, Proto::Http)),
            ),
            (
                "post /RPC http/1.0\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Post), None, Proto::Http)),
            ),
            (
                "GET /x HTTP/1.\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Get), None, Proto::Http)),
            ),
            (
                "GET /x HTTP/2\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Get), None, Proto::Http2)),
            ),
            (
                "GET /x HTTP/2.0\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Get), None, Proto::Http2)),
            ),
            (
                "GET /x HTTP/3\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Get), None, Proto::Other)),
            ),
            (
                "GET /x HTTP/1\r\nHost: x\r\n\r\n",
                Ok((Some(Method::Get), None, Proto::Other)),
            ),
            (
                "SIP/2.0 200 OK\r\nVia: x\r\n\r\n",
                Ok((None, Some(200), Proto::Sip)),
            ),
            (
                "SIP/2.0 100 \r\nVia: x\r\n\r\n",
                Ok((None, Some(100), Proto::Sip)),
            ),
            ("SIP/2.0 100\r\nVia: x\r\n\r\n", Err(())),
            ("SIP/2.0 4294967301 Big\r\nVia: x\r\n\r\n", Err(())),
            ("INVITE  sip:a@b  SIP/2.0\r\nVia: x\r\n\r\n", Err(())),
            ("INVITE sip:a@b; lr SIP/2.0\r\nVia: x\r\n\r\n", Err(())),
            ("INVITE sip:a@b SIP/2.0", Err(())),
            ("short", Err(())),
        ];
        for (input, want) in table {
            let got = Msg::parse(input.as_bytes())
                .map(|m| (m.method(), m.status(), m.proto()))
                .map_err(|_| ());
            assert_eq!(&got, want, "{input:?}");
        }
    }

    #[test]
    fn method_lookup_agrees_with_the_table() {
        for &(name, m) in Method::KNOWN {
            assert_eq!(Method::from_token(name), m);
            assert_eq!(Method::from_token(&name.to_ascii_lowercase()), m);
            assert_eq!(Method::name(m).map(str::as_bytes), Some(name));
        }
        for other in [&b"INVITES"[..], b"PRACX", b"", b"P", b"RE%47IST%45R"] {
            assert_eq!(Method::from_token(other), Method::Other);
        }
        // Every known name with one byte replaced, against a linear search.
        let reference = |t: &[u8]| {
            Method::KNOWN
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(t))
                .map_or(Method::Other, |&(_, m)| m)
        };
        for &(name, _) in Method::KNOWN {
            for i in 0..name.len() {
                for c in [
                    0u8, b'@', b'`', b'[', b'{', b'1', b'a', b'Z', 0xc5, 0xe5, b'-',
                ] {
                    let mut t = name.to_vec();
                    t[i] = c;
                    assert_eq!(Method::from_token(&t), reference(&t), "{t:?}");
                }
            }
            let longer = [name, b"S"].concat();
            assert_eq!(Method::from_token(&longer), reference(&longer));
        }
    }

    #[test]
    fn find_lf_agrees_with_a_byte_search() {
        // LFs at every position of buffers up to 150 bytes (past the word loop's 64 bytes),
        // searches from every start, with bytes around LF (0x0a ^ 0x01, 0x8a) as filler.
        let fill = [b'a', 0x0b, 0x8a, b'\r', 0x09, 0xff];
        for len in 0..150usize {
            for lf in (0..=len).step_by(7) {
                let mut buf: Vec<u8> = (0..len).map(|k| fill[k % fill.len()]).collect();
                if lf < len {
                    buf[lf] = b'\n';
                    if lf + 9 < len {
                        buf[lf + 9] = b'\n';
                    }
                }
                for from in 0..=len + 1 {
                    let want = buf
                        .get(from..)
                        .and_then(|r| r.iter().position(|&b| b == b'\n'))
                        .map(|p| from + p);
                    assert_eq!(find_lf(&buf, from), want, "len {len} lf {lf} from {from}");
                }
            }
        }
    }

    #[test]
    fn msg_is_send_and_sync() {
        // tm keeps messages and reads them from the timer thread.
        fn check<T: Send + Sync>() {}
        check::<Msg>();
    }

    /// Header values without their surrounding LWS, whichever path (one blank and CRLF, or any
    /// other spacing, folding, bare LF) finds them.
    #[test]
    fn header_value_spans() {
        let cases: &[(&str, &str)] = &[
            ("X: a\r\n", "a"),
            ("X:a\r\n", "a"),
            ("X:   a b  \r\n", "a b"),
            ("X: \r\n", ""),
            ("X:\r\n", ""),
            ("X: a\t\r\n", "a"),
            ("X: a\n", "a"),
            ("X:\ta\r\n", "a"),
            ("X: \r\n b\r\n", "b"),
            ("X: a\r\n\tb\r\n", "a\r\n\tb"),
            ("X : ab\r\n", "ab"),
            ("X: \r\r\n", ""),
        ];
        for (hdr, want) in cases {
            let text = format!("OPTIONS sip:a@h SIP/2.0\r\n{hdr}\r\n");
            let m = Msg::parse(text.clone().into_bytes()).expect("parses");
            let hs = m.headers().expect("headers");
            assert_eq!(hs.len(), 1, "{hdr:?}");
            let v = std::str::from_utf8(hs[0].value.of(m.buf())).expect("utf8");
            assert_eq!(v, *want, "{hdr:?}");
            assert_eq!(hs[0].span.end as usize, text.len() - 2, "{hdr:?}");
        }
    }

    #[test]
    fn index_and_body() {
        let m = Msg::parse(INV.as_bytes()).unwrap();
        let hs = m.headers().unwrap();
        let kinds: Vec<HeaderKind> = hs.iter().map(|h| h.kind).collect();
        assert_eq!(
            kinds,
            [
                HeaderKind::Via,
                HeaderKind::From,
                HeaderKind::To,
                HeaderKind::CallId,
                HeaderKind::CSeq,
                HeaderKind::Subject,
                HeaderKind::ContentLength
            ]
        );
        assert_eq!(m.slice(hs[1].name), b"f");
        assert_eq!(m.slice(hs[5].value), b"folded\r\n\tline");
        assert_eq!(m.slice(hs[5].span), b"Subject: folded\r\n\tline\r\n");
        assert_eq!(m.body().unwrap(), b"body");
        assert_eq!(
            m.slice(m.first_line_span()),
            b"INVITE sip:bob@example.com SIP/2.0\r\n"
        );
        assert_eq!(m.headers_named(b"l").unwrap().count(), 1);
        assert_eq!(m.headers_named(b"content-length").unwrap().count(), 1);
    }

    #[test]
    fn index_errors_and_modes() {
        let dup_to = "INVITE sip:a@b SIP/2.0\r\nTo: <sip:a@b>\r\nt: <sip:c@d>\r\n\r\n";
        let dup_mf = "INVITE sip:a@b SIP/2.0\r\nMax-Forwards: 1\r\nMax-Forwards: 2\r\n\r\n";
        let bad_name = "INVITE sip:a@b SIP/2.0\r\nC%6Fntact: x\r\n\r\n";
        let no_colon = "INVITE sip:a@b SIP/2.0\r\nVia x\r\n\r\n";
        let no_hdrs = "INVITE sip:a@b SIP/2.0\r\n\r\n";
        let lenient = ParseOptions {
            mode: ParserMode::Lenient,
            ..ParseOptions::default()
        };
        let table: &[(&str, ParseOptions, bool)] = &[
            (dup_to, ParseOptions::default(), false),
            (dup_to, lenient, true),
            (dup_mf, ParseOptions::default(), false),
            (dup_mf, lenient, false),
            (bad_name, ParseOptions::default(), false),
            (no_colon, ParseOptions::default(), false),
            (no_hdrs, ParseOptions::default(), false),
            (no_hdrs, lenient, true),
        ];
        for (input, opts, ok) in table {
            let m = Msg::parse_with(input.as_bytes(), *opts).unwrap();
            assert_eq!(m.headers().is_ok(), *ok, "{input:?} {opts:?}");
        }
        // LF CR ends the first line (Kamailio's eat_line): the header section follows.
        let lfcr =
            Msg::parse(&b"OPTIONS sip:a@b SIP/2.0\n\rVia: SIP/2.0/UDP h\r\n\r\n"[..]).unwrap();
        assert_eq!(lfcr.headers().unwrap().len(), 1);
        let extra = ParseOptions {
            hdr_name_extra_chars: ExtraChars::from_chars("%"),
            ..ParseOptions::default()
        };
        assert!(Msg::parse_with(bad_name.as_bytes(), extra)
            .unwrap()
            .headers()
            .is_ok());
    }
}
