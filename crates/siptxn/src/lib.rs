//! Sans-I/O RFC 3261 §17 transaction state machines and timer arithmetic.
//!
//! Bytes and `now` go in, actions come out. No sockets, no clock, no global state.
