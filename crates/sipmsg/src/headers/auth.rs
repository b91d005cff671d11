//! Digest credentials and challenges (being written).
