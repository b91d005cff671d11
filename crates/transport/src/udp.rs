//! UDP: binding, `SO_RCVBUF` probing and the receiver loop (`recvmmsg` batches).
//!
//! Every receiver thread of a socket blocks in `recvmmsg(MSG_WAITFORONE)`: it sleeps until one
//! datagram arrives, then takes whatever else is already queued, up to `udp_batch`, in the same
//! system call. Buffers are allocated once per thread. `SO_RCVTIMEO` wakes idle receivers every
//! `udp_poll_interval` so they notice shutdown.

use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6, UdpSocket};
use std::os::fd::AsRawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use socket2::{Domain, Protocol, Socket, Type};

use crate::config::{BUF_SIZE, MIN_UDP_PACKET};
use crate::error::Error;
use crate::spec::{Proto, ReceiveInfo, SocketId};
use crate::stats::Stats;

/// Room for one `in_pktinfo`/`in6_pktinfo` control message (both need < 64 bytes).
const CMSG_SPACE: usize = 64;

/// Binds a UDP socket. Wildcard sockets ask for the destination address of each datagram.
pub(crate) fn bind(
    addr: SocketAddr,
    maxbuffer: usize,
    poll: Duration,
    tos: u8,
) -> Result<UdpSocket, Error> {
    let bind_err = |source| Error::Bind {
        proto: Proto::Udp,
        addr,
        source,
    };
    let domain = Domain::for_address(addr);
    let sock = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP)).map_err(bind_err)?;
    if addr.is_ipv6() {
        // One socket per family, like Kamailio: `::` must not swallow IPv4 (mapped addresses would
        // make `0.0.0.0` and `::` listeners collide).
        sock.set_only_v6(true).map_err(bind_err)?;
    }
    sock.set_reuse_address(true).map_err(bind_err)?;
    // Not critical, as in Kamailio: warn and go on.
    let tos_set = if addr.is_ipv6() {
        sock.set_tclass_v6(u32::from(tos))
    } else {
        sock.set_tos(u32::from(tos))
    };
    if let Err(e) = tos_set {
        tracing::warn!(%addr, error = %e, "setting tos");
    }
    sock.bind(&addr.into()).map_err(bind_err)?;
    if addr.ip().is_unspecified() {
        enable_pktinfo(&sock, addr.is_ipv6()).map_err(bind_err)?;
    }
    sock.set_read_timeout(Some(poll)).map_err(bind_err)?;
    if maxbuffer > 0 {
        let got = probe_rcvbuf(&sock, maxbuffer);
        tracing::debug!(%addr, rcvbuf = got, maxbuffer, "SO_RCVBUF probed");
    }
    Ok(sock.into())
}

/// Kamailio's probing: double `SO_RCVBUF` from its current value, then grow linearly in 2 KB steps,
/// never asking more than `maxbuffer`, stopping when the kernel stops honouring the request (Linux
/// caps it at `net.core.rmem_max` without an error, so the read-back is what tells). Returns the
/// final read-back value.
pub(crate) fn probe_rcvbuf(sock: &Socket, maxbuffer: usize) -> usize {
    const INCREMENT: usize = 2048;
    let start = match sock.recv_buffer_size() {
        Ok(0) | Err(_) => INCREMENT,
        Ok(v) => v,
    };
    let mut doubling = true;
    let mut want = start;
    loop {
        let next = if doubling { want * 2 } else { want + INCREMENT };
        if next > maxbuffer {
            if doubling {
                doubling = false;
                continue;
            }
            break;
        }
        let ok = sock.set_recv_buffer_size(next).is_ok()
            && sock.recv_buffer_size().map(|v| v >= next).unwrap_or(false);
        if ok {
            want = next;
        } else if doubling {
            doubling = false;
        } else {
            break;
        }
    }
    sock.recv_buffer_size().unwrap_or(0)
}

fn enable_pktinfo(sock: &Socket, v6: bool) -> std::io::Result<()> {
    let one: libc::c_int = 1;
    let (level, opt) = if v6 {
        (libc::IPPROTO_IPV6, libc::IPV6_RECVPKTINFO)
    } else {
        (libc::IPPROTO_IP, libc::IP_PKTINFO)
    };
    // SAFETY: valid fd, option value is a c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            opt,
            (&one as *const libc::c_int).cast(),
            mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Everything a receiver thread needs; owned by that thread.
pub(crate) struct Receiver<'a> {
    pub sock: &'a UdpSocket,
    pub id: SocketId,
    pub local: SocketAddr,
    pub stats: &'a Stats,
    pub stop: &'a AtomicBool,
}

/// Per-thread `recvmmsg` state. The `mmsghdr`s point into the other vectors, which are never
/// resized after `new`, so the pointers stay valid when the struct moves.
struct Batch {
    bufs: Vec<u8>,
    addrs: Vec<libc::sockaddr_storage>,
    ctrl: Vec<[u8; CMSG_SPACE]>,
    iovs: Vec<libc::iovec>,
    hdrs: Vec<libc::mmsghdr>,
}

// SAFETY: the raw pointers in `iovs`/`hdrs` only point into this struct's own heap buffers.
unsafe impl Send for Batch {}

impl Batch {
    fn new(n: usize) -> Batch {
        let mut b = Batch {
            bufs: vec![0u8; n * BUF_SIZE],
            // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
            addrs: vec![unsafe { mem::zeroed() }; n],
            ctrl: vec![[0u8; CMSG_SPACE]; n],
            iovs: Vec::with_capacity(n),
            hdrs: Vec::with_capacity(n),
        };
        for i in 0..n {
            b.iovs.push(libc::iovec {
                iov_base: b.bufs[i * BUF_SIZE..].as_mut_ptr().cast(),
                iov_len: BUF_SIZE,
            });
        }
        for i in 0..n {
            // SAFETY: msghdr/mmsghdr are plain old data; all-zero is valid before we fill them.
            let mut h: libc::mmsghdr = unsafe { mem::zeroed() };
            h.msg_hdr.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_control = b.ctrl[i].as_mut_ptr().cast();
            b.hdrs.push(h);
        }
        b.reset(n);
        b
    }

    /// Restores the in/out fields of the first `used` headers (the ones the last `recvmmsg`
    /// filled; the others are untouched since).
    fn reset(&mut self, used: usize) {
        for h in self.hdrs.iter_mut().take(used) {
            h.msg_hdr.msg_namelen = mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_hdr.msg_controllen = CMSG_SPACE as _;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
    }
}

impl Receiver<'_> {
    /// Runs until `stop` is set. `handler` is called on this thread for every accepted datagram.
    pub(crate) fn run(&self, batch: usize, handler: &(dyn Fn(&ReceiveInfo, &[u8]) + Send + Sync)) {
        let mut b = Batch::new(batch);
        let fd = self.sock.as_raw_fd();
        let wildcard = self.local.ip().is_unspecified();
        let mut used = 0;
        while !self.stop.load(Ordering::Relaxed) {
            b.reset(used);
            // SAFETY: `hdrs` holds `batch` initialised headers whose buffers live in `b`.
            let n = unsafe {
                libc::recvmmsg(
                    fd,
                    b.hdrs.as_mut_ptr(),
                    batch as libc::c_uint,
                    libc::MSG_WAITFORONE,
                    std::ptr::null_mut(),
                )
            };
            if n < 0 {
                used = batch; // restore every header before retrying, whatever the kernel touched
                let err = std::io::Error::last_os_error();
                match err.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR) => {}
                    _ => {
                        Stats::inc(&self.stats.udp_recv_errors);
                        tracing::warn!(socket = %self.id, error = %err, "recvmmsg failed");
                        // Do not spin on a persistent error.
                        std::thread::sleep(Duration::from_millis(10));
                    }
                }
                continue;
            }
            let n = n as usize;
            used = n.min(batch);
            Stats::inc(&self.stats.udp_recv_calls);
            Stats::max(&self.stats.udp_max_batch, n as u64);
            let mut delivered = 0u64;
            for i in 0..n.min(batch) {
                let h = &b.hdrs[i];
                let len = h.msg_len as usize;
                let truncated = h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0;
                let Some(src) = sockaddr_to_std(&b.addrs[i]) else {
                    continue;
                };
                match verdict(len, truncated, src.port()) {
                    Verdict::Deliver => {}
                    Verdict::Truncated => {
                        Stats::inc(&self.stats.udp_dropped_truncated);
                        continue;
                    }
                    Verdict::Short => {
                        Stats::inc(&self.stats.udp_dropped_short);
                        continue;
                    }
                    Verdict::PortZero => {
                        Stats::inc(&self.stats.udp_dropped_port0);
                        continue;
                    }
                }
                let dst = if wildcard {
                    // SAFETY: the header's control fields were filled by the kernel for this slot.
                    let ip = unsafe { pktinfo_dst(&h.msg_hdr) };
                    SocketAddr::new(ip.unwrap_or(self.local.ip()), self.local.port())
                } else {
                    self.local
                };
                let ri = ReceiveInfo {
                    src,
                    dst,
                    proto: Proto::Udp,
                    socket: self.id,
                    conn: None,
                };
                let data = &b.bufs[i * BUF_SIZE..i * BUF_SIZE + len];
                if catch_unwind(AssertUnwindSafe(|| handler(&ri, data))).is_err() {
                    Stats::inc(&self.stats.handler_panics);
                }
                delivered += 1;
            }
            Stats::add(&self.stats.udp_received, delivered);
        }
    }
}

/// What to do with one received datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    Deliver,
    /// Larger than the buffer: the kernel cut it.
    Truncated,
    /// Shorter than `MIN_UDP_PACKET` (keepalives, probes): Kamailio drops these silently.
    Short,
    /// Source port 0 cannot be answered: Kamailio drops it.
    PortZero,
}

pub(crate) fn verdict(len: usize, truncated: bool, src_port: u16) -> Verdict {
    if truncated || len > BUF_SIZE {
        Verdict::Truncated
    } else if len < MIN_UDP_PACKET {
        Verdict::Short
    } else if src_port == 0 {
        Verdict::PortZero
    } else {
        Verdict::Deliver
    }
}

/// Converts a kernel-filled address.
pub(crate) fn sockaddr_to_std(ss: &libc::sockaddr_storage) -> Option<SocketAddr> {
    match ss.ss_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says this storage holds a sockaddr_in.
            let a: &libc::sockaddr_in = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says this storage holds a sockaddr_in6.
            let a: &libc::sockaddr_in6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

/// The destination IP from an `IP_PKTINFO`/`IPV6_PKTINFO` control message.
///
/// # Safety
/// `h` must be a header the kernel filled (its control pointer and length describe valid memory).
unsafe fn pktinfo_dst(h: &libc::msghdr) -> Option<IpAddr> {
    let mut c = libc::CMSG_FIRSTHDR(h);
    while !c.is_null() {
        let cm = &*c;
        if cm.cmsg_level == libc::IPPROTO_IP && cm.cmsg_type == libc::IP_PKTINFO {
            let info = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in_pktinfo);
            return Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                info.ipi_addr.s_addr,
            ))));
        }
        if cm.cmsg_level == libc::IPPROTO_IPV6 && cm.cmsg_type == libc::IPV6_PKTINFO {
            let info = std::ptr::read_unaligned(libc::CMSG_DATA(c) as *const libc::in6_pktinfo);
            return Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
        }
        c = libc::CMSG_NXTHDR(h, c);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_is_bounded_by_maxbuffer() {
        // Linux reports twice the requested value, so the read-back may exceed what we asked by
        // that factor, never more.
        for maxbuffer in [4096usize, 65536, 262144] {
            let s = Socket::new(Domain::IPV4, Type::DGRAM, None).unwrap();
            s.set_recv_buffer_size(2048).unwrap();
            let got = probe_rcvbuf(&s, maxbuffer);
            assert!(got <= 2 * maxbuffer, "maxbuffer {maxbuffer}: got {got}");
        }
    }

    #[test]
    fn datagram_verdicts() {
        let cases = [
            (32, false, 5060, Verdict::Deliver),
            (BUF_SIZE, false, 1, Verdict::Deliver),
            (31, false, 5060, Verdict::Short),
            (0, false, 5060, Verdict::Short),
            (500, false, 0, Verdict::PortZero),
            (4, false, 0, Verdict::Short),
            (500, true, 5060, Verdict::Truncated),
            (BUF_SIZE + 1, false, 5060, Verdict::Truncated),
        ];
        for (len, truncated, port, want) in cases {
            assert_eq!(
                verdict(len, truncated, port),
                want,
                "{len} {truncated} {port}"
            );
        }
    }

    #[test]
    fn bind_sets_tos_per_family() {
        let cases = [
            ("127.0.0.1:0", 0x10u32),
            ("[::1]:0", 0x10),
            ("127.0.0.1:0", 0xb8),
        ];
        for (addr, tos) in cases {
            let s = bind(
                addr.parse().unwrap(),
                0,
                Duration::from_millis(10),
                tos as u8,
            )
            .unwrap();
            let r = socket2::SockRef::from(&s);
            let got = if s.local_addr().unwrap().is_ipv6() {
                r.tclass_v6().unwrap()
            } else {
                r.tos().unwrap()
            };
            assert_eq!(got, tos, "{addr}");
        }
    }

    #[test]
    fn sockaddr_conversion() {
        let cases: [SocketAddr; 2] = [
            "127.0.0.1:5060".parse().unwrap(),
            "[::1]:5070".parse().unwrap(),
        ];
        for want in cases {
            let s2: socket2::SockAddr = want.into();
            // SAFETY: copying the bytes of a valid sockaddr into zeroed storage.
            let mut ss: libc::sockaddr_storage = unsafe { mem::zeroed() };
            unsafe {
                std::ptr::copy_nonoverlapping(
                    s2.as_ptr().cast::<u8>(),
                    (&mut ss as *mut libc::sockaddr_storage).cast::<u8>(),
                    s2.len() as usize,
                )
            };
            assert_eq!(sockaddr_to_std(&ss), Some(want));
        }
    }
}
