//! Per-thread free lists for the two buffers every message owns: its bytes and its header index.
//!
//! A worker parses and drops a message for every datagram; taking the buffers from a short
//! per-thread list instead of malloc/free saves the allocator's work twice per message. A buffer
//! goes back to the list of the thread that drops the message (tm drops its copies on the timer
//! thread: they serve that thread's next messages, or are freed when its list is full). The lists
//! are bounded in length and in the capacity of what they keep, so they never hold more than a
//! few hundred KiB per thread.

use std::cell::RefCell;

use crate::msg::Header;

/// Buffers kept per thread and kind.
const KEEP: usize = 8;
/// Largest byte buffer kept (a datagram fits; a huge TCP message's buffer is freed).
const MAX_BYTES: usize = 16 * 1024;
/// Largest header index kept, in headers.
const MAX_HDRS: usize = 128;
/// Smallest byte buffer made: room for most datagrams, so that a pooled buffer rarely has to be
/// replaced for the next message, yet small enough for glibc's per-thread cache (chunks up to
/// 1,032 bytes), since buffers kept by tm never come back.
const MIN_BYTES: usize = 1000;

struct Pools {
    bytes: Vec<Vec<u8>>,
    hdrs: Vec<Vec<Header>>,
}

thread_local! {
    static POOLS: RefCell<Pools> = const {
        RefCell::new(Pools {
            bytes: Vec::new(),
            hdrs: Vec::new(),
        })
    };
}

/// A copy of `data` in a pooled buffer (what a receive path hands to [`crate::Msg::parse`]).
pub fn copy(data: &[u8]) -> Vec<u8> {
    let mut v = take_bytes(data.len());
    v.extend_from_slice(data);
    v
}

/// An empty byte buffer with room for at least `cap` bytes.
pub fn take_bytes(cap: usize) -> Vec<u8> {
    let pooled = POOLS
        .try_with(|p| p.try_borrow_mut().ok()?.bytes.pop())
        .ok()
        .flatten();
    match pooled {
        // Growing would copy nothing useful: a fresh buffer costs the same and is never smaller.
        Some(v) if v.capacity() >= cap => v,
        _ => Vec::with_capacity(cap.max(MIN_BYTES)),
    }
}

/// Gives a byte buffer back (freed instead when the list is full or the buffer is too large).
pub fn give_bytes(mut v: Vec<u8>) {
    if v.capacity() == 0 || v.capacity() > MAX_BYTES {
        return;
    }
    v.clear();
    let _ = POOLS.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.bytes.len() < KEEP {
                p.bytes.push(v);
            }
        }
    });
}

/// An empty header index with room for at least `cap` headers.
pub(crate) fn take_hdrs(cap: usize) -> Vec<Header> {
    let pooled = POOLS
        .try_with(|p| p.try_borrow_mut().ok()?.hdrs.pop())
        .ok()
        .flatten();
    match pooled {
        Some(mut v) => {
            v.reserve(cap);
            v
        }
        None => Vec::with_capacity(cap),
    }
}

/// Gives a header index back.
pub(crate) fn give_hdrs(mut v: Vec<Header>) {
    if v.capacity() == 0 || v.capacity() > MAX_HDRS {
        return;
    }
    v.clear();
    let _ = POOLS.try_with(|p| {
        if let Ok(mut p) = p.try_borrow_mut() {
            if p.hdrs.len() < KEEP {
                p.hdrs.push(v);
            }
        }
    });
}

/// Empties this thread's lists, keeping room for [`KEEP`] entries in each (tests that count
/// allocations start from a cold pool whose own lists allocate nothing more).
#[cfg(test)]
pub(crate) fn clear() {
    POOLS.with(|p| {
        let mut p = p.borrow_mut();
        p.bytes.clear();
        p.hdrs.clear();
        p.bytes.reserve(KEEP);
        p.hdrs.reserve(KEEP);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_and_bounded() {
        clear();
        let a = copy(b"hello");
        let ptr = a.as_ptr();
        give_bytes(a);
        let b = copy(b"world!");
        assert_eq!(b, b"world!");
        assert_eq!(b.as_ptr(), ptr, "the pooled buffer is taken again");
        give_bytes(b);
        // Too large: not kept.
        give_bytes(Vec::with_capacity(MAX_BYTES + 1));
        let c = take_bytes(10);
        assert!(c.capacity() <= MAX_BYTES && c.is_empty());
        // At most KEEP per thread.
        for _ in 0..KEEP * 3 {
            give_bytes(Vec::with_capacity(100));
        }
        let kept = POOLS.with(|p| p.borrow().bytes.len());
        assert_eq!(kept, KEEP);
        let h = take_hdrs(32);
        assert!(h.capacity() >= 32 && h.is_empty());
        give_hdrs(h);
    }
}
