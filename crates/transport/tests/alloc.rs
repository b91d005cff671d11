//! The UDP receive path allocates nothing per datagram: a counting global allocator (per thread)
//! shows the receiver thread's allocation count unchanged between the first and the last of a
//! run of datagrams. Own binary, because it installs a global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use common::*;
use ferrosip_transport::{Proto, Transport};

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

fn bump() {
    let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every call is forwarded to the system allocator unchanged; counting touches only a
// const-initialised thread-local without destructor.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        bump();
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn alloc_zeroed(&self, l: Layout) -> *mut u8 {
        bump();
        System.alloc_zeroed(l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        bump();
        System.realloc(p, l, n)
    }
}

#[global_allocator]
static A: Counting = Counting;

#[test]
fn udp_receive_path_does_not_allocate_per_datagram() {
    const N: u64 = 200;
    let mut c = cfg();
    c.children = 1;
    let mut t = Transport::bind(c, &[spec(Proto::Udp, "127.0.0.1")]).unwrap();
    // seen, allocation count at the first datagram, at the last one.
    let probe = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let p = probe.clone();
    t.start(move |_, _| {
        let allocs = ALLOCS.with(|c| c.get());
        let n = p[0].fetch_add(1, Ordering::SeqCst) + 1;
        if n == 1 {
            p[1].store(allocs, Ordering::SeqCst);
        }
        if n == N {
            p[2].store(allocs, Ordering::SeqCst);
        }
    })
    .unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").unwrap();
    for i in 0..N {
        client
            .send_to(sip(&format!("a{i}"), "").as_bytes(), local(&t, 0))
            .unwrap();
        if i % 32 == 31 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
    eventually("all datagrams", || probe[0].load(Ordering::SeqCst) == N);
    let (first, last) = (
        probe[1].load(Ordering::SeqCst),
        probe[2].load(Ordering::SeqCst),
    );
    assert!(
        first > 0,
        "the counter works (thread start and buffers allocate)"
    );
    assert_eq!(
        last, first,
        "allocations on the receiver thread during {N} datagrams"
    );
    t.join(WAIT).unwrap();
}
