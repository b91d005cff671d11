//! Allocation counting for the "one heap allocation for the header index" target.
//!
//! The global allocator of the unit-test binary counts allocations made by the current
//! thread while counting is switched on, so tests running in parallel do not disturb each
//! other.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

thread_local! {
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

struct Counting;

// SAFETY: forwards every call to `System` unchanged; only a thread-local counter is
// touched on the side.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = COUNT.try_with(|c| {
            if let Some(n) = c.get() {
                c.set(Some(n + 1));
            }
        });
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = COUNT.try_with(|c| {
            if let Some(n) = c.get() {
                c.set(Some(n + 1));
            }
        });
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Number of allocations (and reallocations) `f` makes on this thread.
fn allocations<T>(f: impl FnOnce() -> T) -> (T, usize) {
    COUNT.with(|c| c.set(Some(0)));
    let r = f();
    let n = COUNT.with(|c| c.replace(None)).unwrap_or(0);
    (r, n)
}

mod tests {
    use super::allocations;
    use crate::Msg;

    fn message(n_headers: usize) -> Vec<u8> {
        let mut s = String::from("INVITE sip:bob@biloxi.example.com SIP/2.0\r\n");
        let fixed = [
            "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds",
            "Max-Forwards: 70",
            "To: Bob <sip:bob@biloxi.example.com>",
            "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
            "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
            "CSeq: 314159 INVITE",
        ];
        for i in 0..n_headers {
            match fixed.get(i) {
                Some(h) => s.push_str(h),
                None => s.push_str(&format!(
                    "X-Filler-{i}: some value to make the message realistic"
                )),
            }
            s.push_str("\r\n");
        }
        s.push_str("\r\n");
        s.into_bytes()
    }

    #[test]
    fn header_index_is_one_allocation_up_to_32_headers() {
        // (number of headers, allocations for the index)
        let table = [(7, 1), (16, 1), (32, 1), (33, 2)];
        for (n, want) in table {
            crate::pool::clear();
            let m = Msg::parse(message(n)).expect("parse");
            let (count, allocs) = allocations(|| m.headers().map(<[_]>::len));
            assert_eq!(count, Ok(n));
            assert_eq!(allocs, want, "{n} headers");
        }
        // Once a message was dropped on this thread, the next index reuses its vector.
        let m = Msg::parse(message(16)).expect("parse");
        let _ = m.headers();
        drop(m);
        let m = Msg::parse(message(16)).expect("parse");
        let (count, allocs) = allocations(|| m.headers().map(<[_]>::len));
        assert_eq!((count, allocs), (Ok(16), 0), "warm pool");
    }

    #[test]
    fn receive_path_allocations() {
        let buf = message(20);
        assert!(buf.len() > 1000);
        crate::pool::clear();
        let (ok, allocs) = allocations(|| {
            let m = Msg::parse(buf).expect("parse");
            m.via1().is_ok()
                && m.from().is_ok()
                && m.to().is_ok()
                && m.cseq().is_ok()
                && m.call_id().is_ok()
        });
        assert!(ok);
        // The index and the Via list; the buffer was moved in, nothing else allocates.
        assert_eq!(allocs, 2);
    }
}
