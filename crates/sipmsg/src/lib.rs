//! Sans-I/O SIP messages.
//!
//! A message is its receive buffer plus offsets: the first line and the header index are parsed on
//! demand, typed header parsers run on first access and are cached, and edits ("lumps") are recorded
//! against the original bytes and applied once, when the outgoing buffer is built. Bytes nobody edited
//! are copied verbatim.
//!
//! What this crate does not do: no sockets, no clock, no global state, no logging. Everything here is
//! deterministic and driven by the caller, which is what makes it fuzzable and replayable.
//!
//! # Parsing API (module owner: sipparse)
//!
//! Everything points into the message buffer with [`Span`] (`start..end`, `u32`, `Copy`;
//! `span.of(buf)`, `span.range()`).
//!
//! * [`Msg::parse`]`(impl Into<Vec<u8>>) -> Result<Msg, Error>` owns the bytes (tm keeps
//!   messages after the worker is done; `Msg` is `Send + Sync`). [`Msg::parse_with`] takes
//!   [`ParseOptions`] (Kamailio's `sip_parser_mode`, `hdr_name_extra_chars`,
//!   `uri_host_extra_chars`, `phone2tel`). Only the first line is parsed here.
//!   [`Msg::buf`], [`Msg::slice`].
//! * First line: [`Msg::first_line`] ([`FirstLine::Request`] with [`RequestLine`]: [`Method`]
//!   incl. `Other` for extension methods, method span, R-URI span, version span, [`Proto`];
//!   or [`FirstLine::Reply`] with [`StatusLine`]: version, status, status span, reason).
//!   [`Msg::first_line_span`] includes the line end.
//! * Header index (built once, on first use, in one pass to the end of the header
//!   section): [`Msg::headers`] → `&[`[`Header`]`]` with [`HeaderKind`] (known headers and
//!   compact forms, `Other`), `name`, `value` (trimmed) and `span` (whole header incl. line
//!   end). [`Msg::header`] (first of a kind), [`Msg::headers_of`] (all of a kind),
//!   [`Msg::headers_named`] (by name), [`Msg::values`] (comma-split elements),
//!   [`Msg::headers_end`] (offset of the empty line), [`Msg::body_span`], [`Msg::body`].
//! * Typed, cached: [`Msg::vias`] / [`Msg::via1`] / [`Msg::via2`] ([`Via`]: protocol,
//!   transport, host, port, params and `branch`/`received`/`rport`/`maddr`/`ttl`/`i`/`alias`
//!   as [`Param`] with spans, `remove_span` to drop one via), [`Msg::content_length`]
//!   ([`ContentLength`] value + digit span), [`Msg::cseq`] ([`CSeq`]), [`Msg::call_id`],
//!   [`Msg::from`] / [`Msg::to`] ([`NameAddr`]: display, uri, params, tag),
//!   [`Msg::from_uri`] / [`Msg::to_uri`] / [`Msg::ruri`] ([`Uri`]), [`Msg::max_forwards`], and
//!   the accessors of [`typed`] (Contact, Route, Record-Route, Path, Expires, Content-Type,
//!   digest credentials and challenges, Event, option-tag lists, Allow, P-Asserted/Preferred-
//!   Identity, Diversion, Refer-To, Privacy, Date, multipart and SDP bodies).
//! * Kamailio's verdict: [`Msg::parse_all_headers`] (what `parse_headers(.., HDR_EOH_F)`
//!   checks: header lines, duplicates, Via, CSeq syntax, From, To, Content-Length,
//!   Retry-After) and [`Msg::check_required`] (Via/From/To/Call-ID/CSeq present, SIP/2.0).
//!   A message failing either is dropped silently, as Kamailio does; the typed accessors
//!   are stricter and their failures map to Kamailio's 400 replies.
//!   [`Msg::typed_failures`] runs every typed parser (tests, fuzzing, diagnostics).
//! * Framing: [`framing`] (UDP datagrams, [`framing::check_content_length`], incremental
//!   TCP stream framer with CRLF ping detection and `tcp_accept_no_cl`).
//!
//! Errors: one [`Error`] enum (`Copy`); a cached failure is returned again on every access.
//! Parser behaviour follows Kamailio's where it and the RFC differ; the cases are listed in
//! `docs/sipmsg.md`.

// Edits ("lumps"), Kamailio's branch computation and the outgoing-message builders.
pub mod branch;
pub mod build;
pub mod edit;

#[cfg(test)]
mod alloc_count;
mod error;
pub mod framing;
mod hdr;
pub mod headers;
mod lex;
mod msg;
pub mod multipart;
pub mod pool;
#[cfg(test)]
mod proptests;
pub mod sdp;
mod span;
pub mod typed;
pub mod uri;

pub use error::{Error, Result};
pub use hdr::HeaderKind;
pub use headers::nameaddr::NameAddr;
pub use headers::param::{Param, Params};
pub use headers::scalar::{CSeq, ContentLength};
pub use headers::via::{Transport, Via};
pub use msg::{
    ExtraChars, FirstLine, Header, Method, Msg, ParseOptions, ParserMode, Proto, RequestLine,
    StatusLine,
};
pub use span::Span;
pub use uri::{HostKind, Scheme, Uri};
