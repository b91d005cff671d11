//! The only crate that opens sockets: listeners, the connection table, send.
