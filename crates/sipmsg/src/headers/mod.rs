//! Typed parsers for header values. Each takes the message buffer and the span of one
//! header value (or one comma-separated element) and returns spans into that buffer plus
//! converted numbers; nothing is copied.

pub mod auth;
pub mod misc;
pub mod nameaddr;
pub mod param;
pub mod scalar;
pub mod via;
