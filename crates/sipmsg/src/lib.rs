//! Sans-I/O SIP messages.
//!
//! A message is its receive buffer plus offsets: the first line and the header index are parsed on
//! demand, typed header parsers run on first access and are cached, and edits ("lumps") are recorded
//! against the original bytes and applied once, when the outgoing buffer is built. Bytes nobody edited
//! are copied verbatim.
//!
//! What this crate does not do: no sockets, no clock, no global state, no logging. Everything here is
//! deterministic and driven by the caller, which is what makes it fuzzable and replayable.

// Edits ("lumps"), Kamailio's branch computation and the outgoing-message builders.
pub mod branch;
pub mod build;
pub mod edit;
