//! The crate's single error type.

use crate::hdr::HeaderKind;

/// Everything that can go wrong while framing or parsing a SIP message.
///
/// All variants are the peer's fault (malformed input) except [`Error::TooLarge`], which
/// means the input exceeds a limit the caller configured. Offsets are byte positions in
/// the message buffer, for logs. The type is `Copy` so cached parse results can hand out
/// the same error again cheaply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Fewer than 16 bytes, or nothing but whitespace (Kamailio drops these too).
    #[error("message too short")]
    TooShort,
    /// The message (or the datagram) exceeds the configured maximum size.
    #[error("message larger than {max} bytes")]
    TooLarge {
        /// The configured limit.
        max: usize,
    },
    /// The request or status line is malformed.
    #[error("bad first line at offset {at}: {reason}")]
    FirstLine {
        /// Offset of the problem.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A header line is malformed (bad name, no colon, no line end).
    #[error("bad header field at offset {at}: {reason}")]
    HeaderLine {
        /// Offset of the header line.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A header that may appear only once appears again (strict mode, or always for
    /// Max-Forwards, as in Kamailio).
    #[error("duplicate {kind} header field at offset {at}")]
    Duplicate {
        /// Which header.
        kind: HeaderKind,
        /// Offset of the second instance.
        at: usize,
    },
    /// A required header is absent.
    #[error("missing {0} header field")]
    Missing(HeaderKind),
    /// The value of a header cannot be parsed.
    #[error("bad {kind} header at offset {at}: {reason}")]
    BadHeader {
        /// Which header.
        kind: HeaderKind,
        /// Offset of the problem.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A URI cannot be parsed.
    #[error("bad URI at offset {at}: {reason}")]
    BadUri {
        /// Offset of the problem.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// Framing: Content-Length is missing where it is required, not a number, negative or
    /// too large.
    #[error("bad Content-Length: {reason}")]
    BadContentLength {
        /// What is wrong.
        reason: &'static str,
    },
    /// Framing (UDP): Content-Length does not match the bytes present
    /// (Kamailio: "400 Content-Length mis-match").
    #[error("Content-Length mis-match: header says {declared}, body has {actual}")]
    ContentLengthMismatch {
        /// Value of the header.
        declared: usize,
        /// Bytes actually after the header section.
        actual: usize,
    },
    /// Framing: the header section never ends.
    #[error("end of header section not found")]
    NoEndOfHeaders,
    /// The body (SDP, multipart) cannot be parsed.
    #[error("bad body at offset {at}: {reason}")]
    BadBody {
        /// Offset of the problem.
        at: usize,
        /// What is wrong.
        reason: &'static str,
    },
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, Error>;
