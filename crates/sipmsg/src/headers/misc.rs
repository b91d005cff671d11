//! Other typed headers (being written).
