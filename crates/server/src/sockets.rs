//! Sockets from the config: `listen=`/`socket=` statements and `-l` become transport
//! [`ListenSpec`]s (5060 default port, or the `port=` parameter; host names resolved with the system
//! resolver; interface names expanded), and the bound sockets become the [`Sockets`] table the
//! receive and forward paths use (advertised addresses, names, `myself` matching with `alias=`).
//!
//! Without any `listen`, every IPv4 address of every interface is bound (UDP and TCP), as Kamailio
//! does, and so is a `listen` naming an interface; their IPv6 addresses too with `auto_bind_ipv6=1`
//! ([`Expand`]). IPv6 link-local addresses are skipped unless `bind_ipv6_link_local` is set
//! (Kamailio's default).
//!
//! Refused (clear error, never ignored): `tls`, `sctp`, `ws`, `wss` listeners (the transport has
//! none), several addresses on one UDP/TCP listener (Kamailio allows that for SCTP only), `agname`
//! and `vrf` (no async worker groups, no VRF binding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};

use ferrosip_config::ast::Listen;
use ferrosip_sipmsg::edit::{Advertise, SocketInfo as BuildSocket};
use ferrosip_sipmsg::Transport as ViaTransport;
use ferrosip_transport::{ListenSpec, Proto as TProto, SocketInfo};

use crate::listen::{HostPort, ListenArg};
use crate::Error;

/// Kamailio's `SIP_PORT`.
pub const SIP_PORT: u16 = 5060;

/// One listen statement, whatever its source (`listen=`, `socket=`, `-l`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ListenDef {
    /// Lower-case protocol name; `None` = udp and tcp.
    pub proto: Option<String>,
    pub addrs: Vec<String>,
    pub port: Option<u16>,
    pub port_end: Option<u16>,
    pub advertise: Option<(String, Option<u16>)>,
    pub name: Option<String>,
    pub is_virtual: bool,
    pub workers: Option<usize>,
    /// `agname`/`vrf`: refused.
    pub unsupported: Option<String>,
}

impl ListenDef {
    /// From the config AST (`socket_workers` in effect at that line passed by the caller).
    pub fn from_ast(l: &Listen, socket_workers: Option<usize>) -> ListenDef {
        ListenDef {
            proto: l.proto.clone(),
            addrs: l.addrs.clone(),
            port: l.port,
            port_end: l.port_end,
            advertise: l.advertise.clone(),
            name: l.name.clone(),
            is_virtual: l.virtual_,
            workers: l
                .workers
                .and_then(|w| usize::try_from(w).ok())
                .or(socket_workers),
            unsupported: l.agname.as_ref().map(|a| format!("agname {a}")),
        }
    }

    /// From `-l`.
    pub fn from_arg(a: &ListenArg) -> ListenDef {
        ListenDef {
            proto: a.proto.map(|p| p.name().to_string()),
            addrs: a.addrs.clone(),
            port: a.port,
            advertise: a
                .advertise
                .as_ref()
                .map(|h: &HostPort| (h.host.clone(), h.port)),
            name: a.name.clone(),
            ..ListenDef::default()
        }
    }
}

/// Which addresses of an interface are bound when one is expanded (no `listen` at all, or a
/// `listen` naming an interface).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Expand {
    /// `auto_bind_ipv6`: IPv6 addresses too (Kamailio's default `0`: IPv4 only).
    pub ipv6: bool,
    /// `bind_ipv6_link_local`: IPv6 link-local addresses too.
    pub link_local: bool,
}

/// Turns listen statements into transport specs. `default_port` is the `port=` parameter.
pub fn listen_specs(
    defs: &[ListenDef],
    default_port: Option<u16>,
    disable_tcp: bool,
    expand: Expand,
) -> Result<Vec<ListenSpec>, Error> {
    let bad = |what: &str, why: String| Error::Socket {
        what: what.to_string(),
        why,
    };
    let port0 = default_port.unwrap_or(SIP_PORT);
    let mut out: Vec<ListenSpec> = Vec::new();
    let all_if;
    let defs = if defs.is_empty() {
        all_if = vec![ListenDef {
            addrs: interface_addrs(expand)?
                .iter()
                .map(IpAddr::to_string)
                .collect(),
            ..ListenDef::default()
        }];
        &all_if
    } else {
        defs
    };
    for d in defs {
        let label = format!(
            "{}{}",
            d.proto
                .as_deref()
                .map(|p| format!("{p}:"))
                .unwrap_or_default(),
            d.addrs.join(",")
        );
        if let Some(u) = &d.unsupported {
            return Err(bad(&label, format!("{u}: not implemented yet")));
        }
        let protos: Vec<TProto> = match d.proto.as_deref() {
            None => {
                if disable_tcp {
                    vec![TProto::Udp]
                } else {
                    vec![TProto::Udp, TProto::Tcp]
                }
            }
            Some(p) => match TProto::parse(p) {
                Some(TProto::Tcp) if disable_tcp => vec![],
                Some(p) if p.is_implemented() => vec![p],
                Some(p) => {
                    return Err(bad(
                        &label,
                        format!("{p} listeners are not implemented yet"),
                    ))
                }
                None => return Err(bad(&label, format!("unknown protocol {p}"))),
            },
        };
        // Every address of the list form (only SCTP multi-homing uses several for one socket);
        // an empty list form of interfaces expanded from "no listen" gives one socket each.
        let mut ips: Vec<IpAddr> = Vec::new();
        for a in &d.addrs {
            ips.extend(resolve_listen_host(a, expand).map_err(|w| bad(&label, w))?);
        }
        if ips.is_empty() {
            return Err(bad(&label, "no address".into()));
        }
        let first = d.port.unwrap_or(port0);
        let last = d.port_end.unwrap_or(first);
        if last < first {
            return Err(bad(&label, "port range ends before it starts".into()));
        }
        for port in first..=last {
            for ip in &ips {
                for p in &protos {
                    let mut s = ListenSpec::new(*p, *ip, port);
                    if let Some((h, ap)) = &d.advertise {
                        s.advertised_host = Some(h.clone());
                        s.advertised_port = *ap;
                    }
                    s.name = d.name.clone();
                    s.is_virtual = d.is_virtual;
                    s.workers = d.workers;
                    if !out
                        .iter()
                        .any(|o| o.proto == s.proto && o.bind_addr() == s.bind_addr())
                    {
                        out.push(s);
                    }
                }
            }
        }
    }
    Ok(out)
}

/// A listen host: an IP address (IPv6 with or without brackets), an interface name (its addresses
/// as [`Expand`] selects them), or a host name (its addresses from the system resolver).
pub fn resolve_listen_host(host: &str, expand: Expand) -> Result<Vec<IpAddr>, String> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<IpAddr>() {
        return Ok(vec![ip]);
    }
    let on_if: Vec<IpAddr> = interfaces(expand.link_local)
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|(name, _)| name == h)
        .map(|(_, ip)| ip)
        .collect();
    if !on_if.is_empty() {
        let by_if: Vec<IpAddr> = on_if.into_iter().filter(|ip| expand.takes(ip)).collect();
        if by_if.is_empty() {
            return Err(format!(
                "interface {h} has no IPv4 address (its IPv6 ones need auto_bind_ipv6=1)"
            ));
        }
        return Ok(by_if);
    }
    let addrs: Vec<IpAddr> = (h, 0u16)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {h}: {e}"))?
        .map(|a| a.ip())
        .collect();
    // A host name binds its first address, as Kamailio binds the first one the resolver returns.
    addrs
        .first()
        .map(|ip| vec![*ip])
        .ok_or_else(|| format!("cannot resolve {h}"))
}

impl Expand {
    /// True when an expanded interface address is bound.
    fn takes(&self, ip: &IpAddr) -> bool {
        self.ipv6 || ip.is_ipv4()
    }
}

/// Every address of every interface that is up, as [`Expand`] selects them.
pub fn interface_addrs(expand: Expand) -> Result<Vec<IpAddr>, Error> {
    let mut v: Vec<IpAddr> = interfaces(expand.link_local)?
        .into_iter()
        .map(|(_, ip)| ip)
        .filter(|ip| expand.takes(ip))
        .collect();
    v.dedup();
    Ok(v)
}

fn interfaces(link_local: bool) -> Result<Vec<(String, IpAddr)>, Error> {
    let mut out = Vec::new();
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `head` with a list we free below with freeifaddrs; every pointer
    // read is checked for null and only read while the list is alive.
    unsafe {
        if libc::getifaddrs(&mut head) != 0 {
            return Err(Error::Socket {
                what: "interfaces".into(),
                why: std::io::Error::last_os_error().to_string(),
            });
        }
        let mut p = head;
        while !p.is_null() {
            let ifa = &*p;
            p = ifa.ifa_next;
            if ifa.ifa_addr.is_null() || ifa.ifa_flags & (libc::IFF_UP as u32) == 0 {
                continue;
            }
            let name = std::ffi::CStr::from_ptr(ifa.ifa_name)
                .to_string_lossy()
                .into_owned();
            let ip = match i32::from((*ifa.ifa_addr).sa_family) {
                libc::AF_INET => {
                    let sin = &*(ifa.ifa_addr as *const libc::sockaddr_in);
                    IpAddr::V4(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)))
                }
                libc::AF_INET6 => {
                    let sin6 = &*(ifa.ifa_addr as *const libc::sockaddr_in6);
                    let ip = Ipv6Addr::from(sin6.sin6_addr.s6_addr);
                    if !link_local && (ip.segments()[0] & 0xffc0) == 0xfe80 {
                        continue;
                    }
                    IpAddr::V6(ip)
                }
                _ => continue,
            };
            out.push((name, ip));
        }
        libc::freeifaddrs(head);
    }
    Ok(out)
}

/// One bound socket as the receive and forward paths see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sock {
    pub id: u32,
    pub proto: TProto,
    pub local: SocketAddr,
    /// Address text as Kamailio prints it in Via (IPv6 in brackets).
    pub addr_text: String,
    pub adv_host: Option<String>,
    pub adv_port: Option<u16>,
    pub name: String,
}

impl Sock {
    /// The view the message builders need.
    pub fn build_info(&self) -> BuildSocket<'_> {
        BuildSocket {
            ip: self.local.ip(),
            port: self.local.port(),
            proto: via_transport(self.proto),
            advertise: self.adv_host.as_deref().map(|h| Advertise {
                host: h,
                port: self.adv_port.unwrap_or(0),
                proto: None,
            }),
            sockname: &self.name,
        }
    }
}

/// The transport protocol as the builders name it.
pub fn via_transport(p: TProto) -> ViaTransport {
    match p {
        TProto::Udp => ViaTransport::Udp,
        TProto::Tcp => ViaTransport::Tcp,
        TProto::Tls => ViaTransport::Tls,
        TProto::Sctp => ViaTransport::Sctp,
        TProto::Ws => ViaTransport::Ws,
        TProto::Wss => ViaTransport::Wss,
    }
}

/// A `myself` alias: host, port (0 = any), protocol (`None` = any).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alias {
    pub host: String,
    pub port: u16,
    pub proto: Option<TProto>,
}

/// The bound sockets and the aliases, frozen after binding.
#[derive(Debug, Clone, Default)]
pub struct Sockets {
    pub socks: Vec<Sock>,
    pub aliases: Vec<Alias>,
    /// A module's addition to `myself` (Kamailio's `register_check_self_func`: the domain
    /// module's `register_myself`), asked with the host when sockets and aliases do not match;
    /// port and protocol do not matter to it.
    pub self_check: Option<SelfCheck>,
    /// `mhomed`: see [`Sockets::send_socket`].
    pub mhomed: bool,
}

/// See [`Sockets::self_check`].
#[derive(Clone)]
pub struct SelfCheck(pub std::sync::Arc<SelfCheckFn>);

/// The function inside a [`SelfCheck`]: the host, true when it is ours.
pub type SelfCheckFn = dyn Fn(&[u8]) -> bool + Send + Sync;

impl std::fmt::Debug for SelfCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SelfCheck")
    }
}

impl Sockets {
    /// From the transport's bound sockets (global `advertised_address`/`advertised_port` apply to
    /// sockets without their own).
    pub fn new(
        bound: &[SocketInfo],
        aliases: Vec<Alias>,
        adv_addr: Option<&str>,
        adv_port: Option<u16>,
    ) -> Sockets {
        let socks = bound
            .iter()
            .map(|s| {
                let ip = s.local.ip();
                let addr_text = match ip {
                    IpAddr::V6(v6) => format!("[{v6}]"),
                    IpAddr::V4(v4) => v4.to_string(),
                };
                let adv_host = s
                    .spec
                    .advertised_host
                    .clone()
                    .or_else(|| adv_addr.map(str::to_string));
                let adv_port =
                    s.spec
                        .advertised_port
                        .or(if adv_host.is_some() { adv_port } else { None });
                Sock {
                    id: s.id.0,
                    proto: s.spec.proto,
                    local: s.local,
                    addr_text,
                    adv_host,
                    adv_port,
                    name: s.spec.name.clone().unwrap_or_default(),
                }
            })
            .collect();
        Sockets {
            socks,
            aliases,
            self_check: None,
            mhomed: false,
        }
    }

    pub fn get(&self, id: u32) -> Option<&Sock> {
        self.socks.get(usize::try_from(id).ok()?)
    }

    /// Kamailio's `get_send_socket`: the receiving socket when protocol and address family
    /// match, else the first socket of that protocol and family. With `mhomed`, a UDP send goes
    /// from the first UDP socket bound to the address the kernel picks toward `to` (a UDP
    /// socket connected to it says which), and fails when there is none — as Kamailio's does.
    pub fn send_socket(&self, proto: TProto, to: &SocketAddr, rcv: Option<u32>) -> Option<&Sock> {
        if self.mhomed && proto == TProto::Udp {
            let found = kernel_source(to).and_then(|ip| {
                self.socks
                    .iter()
                    .find(|s| s.proto == TProto::Udp && s.local.ip() == ip)
            });
            if found.is_none() {
                tracing::error!(
                    func = "get_out_socket",
                    "no corresponding socket found for(udp:{to})"
                );
            }
            return found;
        }
        let fits = |s: &&Sock| s.proto == proto && s.local.is_ipv4() == to.is_ipv4();
        rcv.and_then(|r| self.get(r))
            .filter(fits)
            .or_else(|| self.socks.iter().find(fits))
    }

    /// `myself`: a socket address, an advertised address or an alias; `port` 0 matches any port
    /// (the `Server` contract), `proto` `None` any protocol.
    pub fn is_myself(&self, host: &[u8], port: u16, proto: Option<TProto>) -> bool {
        let h = trim_brackets(host);
        let same_host = |text: &str| {
            let t = trim_brackets(text.as_bytes());
            if t.eq_ignore_ascii_case(h) {
                return true;
            }
            // IPv6 written differently (zeros, case) still names the same address.
            match (
                std::str::from_utf8(t)
                    .ok()
                    .and_then(|x| x.parse::<IpAddr>().ok()),
                std::str::from_utf8(h)
                    .ok()
                    .and_then(|x| x.parse::<IpAddr>().ok()),
            ) {
                (Some(a), Some(b)) => a == b,
                _ => false,
            }
        };
        let port_ok = |p: u16| port == 0 || p == 0 || p == port;
        let proto_ok = |p: TProto| proto.is_none_or(|x| x == p);
        let by_socket = self.socks.iter().any(|s| {
            proto_ok(s.proto)
                && ((same_host(&s.addr_text) && port_ok(s.local.port()))
                    || s.adv_host.as_deref().is_some_and(|a| {
                        same_host(a) && port_ok(s.adv_port.unwrap_or(s.local.port()))
                    }))
        });
        by_socket
            || self
                .aliases
                .iter()
                .any(|a| same_host(&a.host) && port_ok(a.port) && a.proto.is_none_or(&proto_ok))
            || self.self_check.as_ref().is_some_and(|f| (f.0)(h))
    }
}

/// The local address the kernel sends from toward `to`: a UDP socket connected to it (nothing is
/// sent) and asked for its own address.
fn kernel_source(to: &SocketAddr) -> Option<IpAddr> {
    let any: SocketAddr = if to.is_ipv4() {
        (Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let probe = std::net::UdpSocket::bind(any).ok()?;
    match probe.connect(to).and_then(|()| probe.local_addr()) {
        Ok(a) => Some(a.ip()),
        Err(e) => {
            tracing::error!(func = "get_out_socket", "connect failed: {e}");
            None
        }
    }
}

/// `auto_aliases`: the name the resolver gives for each socket address (reverse lookup, usually
/// `/etc/hosts`: 127.0.0.1 → `localhost`), as an alias with the socket's port and protocol.
/// Lookups run on a helper thread and everything not answered within `budget` is left out, so an
/// unreachable DNS server cannot hold the start-up for long.
pub fn auto_aliases(socks: &[Sock], budget: std::time::Duration) -> Vec<Alias> {
    let mut ips: Vec<IpAddr> = socks.iter().map(|s| s.local.ip()).collect();
    ips.sort();
    ips.dedup();
    let (tx, rx) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("fs-auto-alias".into())
        .spawn(move || {
            for ip in ips {
                if tx.send((ip, reverse_name(ip))).is_err() {
                    return;
                }
            }
        });
    if spawned.is_err() {
        return Vec::new();
    }
    let deadline = std::time::Instant::now() + budget;
    let mut names: Vec<(IpAddr, String)> = Vec::new();
    while let Ok((ip, name)) =
        rx.recv_timeout(deadline.saturating_duration_since(std::time::Instant::now()))
    {
        if let Some(n) = name {
            names.push((ip, n));
        }
    }
    let mut out: Vec<Alias> = Vec::new();
    for s in socks {
        for (ip, n) in &names {
            let a = Alias {
                host: n.clone(),
                port: s.local.port(),
                proto: Some(s.proto),
            };
            if *ip == s.local.ip() && !out.contains(&a) {
                out.push(a);
            }
        }
    }
    out
}

fn reverse_name(ip: IpAddr) -> Option<String> {
    let mut host = [0 as libc::c_char; 1025];
    let lookup = |sa: *const libc::sockaddr, len: usize, host: &mut [libc::c_char]| {
        // SAFETY: `sa` points to a live, initialised sockaddr of `len` bytes (built below on the
        // caller's stack); `host` is a writable buffer of the given length.
        unsafe {
            libc::getnameinfo(
                sa,
                len as libc::socklen_t,
                host.as_mut_ptr(),
                host.len() as libc::socklen_t,
                std::ptr::null_mut(),
                0,
                libc::NI_NAMEREQD,
            )
        }
    };
    let rc = match ip {
        IpAddr::V4(v4) => {
            // SAFETY: sockaddr_in is plain data; all-zero is a valid value.
            let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_addr.s_addr = u32::from_ne_bytes(v4.octets());
            let p: *const libc::sockaddr_in = &sin;
            lookup(
                p.cast(),
                std::mem::size_of::<libc::sockaddr_in>(),
                &mut host,
            )
        }
        IpAddr::V6(v6) => {
            // SAFETY: as above, for sockaddr_in6.
            let mut sin6: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_addr.s6_addr = v6.octets();
            let p: *const libc::sockaddr_in6 = &sin6;
            lookup(
                p.cast(),
                std::mem::size_of::<libc::sockaddr_in6>(),
                &mut host,
            )
        }
    };
    if rc != 0 {
        return None;
    }
    // SAFETY: getnameinfo succeeded, so `host` holds a NUL-terminated string.
    let name = unsafe { std::ffi::CStr::from_ptr(host.as_ptr()) };
    let n = name.to_string_lossy().into_owned();
    // A numeric answer is no name.
    (!n.is_empty() && n.parse::<IpAddr>().is_err()).then_some(n)
}

fn trim_brackets(h: &[u8]) -> &[u8] {
    match h {
        [b'[', inner @ .., b']'] => inner,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(proto: Option<&str>, addr: &str, port: Option<u16>) -> ListenDef {
        ListenDef {
            proto: proto.map(str::to_string),
            addrs: vec![addr.to_string()],
            port,
            ..ListenDef::default()
        }
    }

    #[test]
    fn specs_from_listen_statements() {
        type Case = (
            Vec<ListenDef>,
            Option<u16>,
            bool,
            Result<Vec<&'static str>, &'static str>,
        );
        let cases: Vec<Case> = vec![
            (
                vec![def(Some("udp"), "127.0.0.1", None)],
                None,
                false,
                Ok(vec!["udp 127.0.0.1:5060"]),
            ),
            (
                vec![def(None, "127.0.0.1", Some(5070))],
                None,
                false,
                Ok(vec!["udp 127.0.0.1:5070", "tcp 127.0.0.1:5070"]),
            ),
            (
                vec![def(None, "127.0.0.1", None)],
                Some(5080),
                true,
                Ok(vec!["udp 127.0.0.1:5080"]),
            ),
            (
                vec![def(Some("tcp"), "::1", None)],
                None,
                false,
                Ok(vec!["tcp [::1]:5060"]),
            ),
            (
                vec![def(Some("udp"), "[::1]", Some(7))],
                None,
                false,
                Ok(vec!["udp [::1]:7"]),
            ),
            (
                vec![def(Some("tls"), "127.0.0.1", None)],
                None,
                false,
                Err("tls listeners are not implemented"),
            ),
            (
                vec![def(Some("udp"), "no-such-host.invalid", None)],
                None,
                false,
                Err("cannot resolve"),
            ),
            (
                vec![ListenDef {
                    port_end: Some(5062),
                    ..def(Some("udp"), "127.0.0.1", Some(5061))
                }],
                None,
                false,
                Ok(vec!["udp 127.0.0.1:5061", "udp 127.0.0.1:5062"]),
            ),
            (
                vec![def(Some("udp"), "lo", Some(5090))],
                None,
                false,
                Ok(vec!["udp 127.0.0.1:5090"]),
            ),
        ];
        for (defs, port, no_tcp, want) in cases {
            let got = listen_specs(&defs, port, no_tcp, Expand::default())
                .map(|v| {
                    v.iter()
                        .filter(|s| {
                            // an interface name may also carry IPv6 addresses: compare IPv4 only
                            s.addr.is_ipv4()
                                || defs.iter().any(|d| d.addrs.iter().any(|a| a.contains(':')))
                        })
                        .map(|s| format!("{} {}", s.proto, s.bind_addr()))
                        .collect::<Vec<_>>()
                })
                .map_err(|e| e.to_string());
            match want {
                Ok(w) => assert_eq!(
                    got,
                    Ok(w.iter().map(|s| s.to_string()).collect()),
                    "{defs:?}"
                ),
                Err(m) => assert!(
                    got.as_ref().is_err_and(|e| e.contains(m)),
                    "{defs:?}: {got:?}"
                ),
            }
        }
        let all = listen_specs(&[], None, false, Expand::default()).unwrap_or_default();
        // auto_bind_ipv6=0 (Kamailio's default): IPv4 only; 1 adds IPv6 (::1 of lo, when up).
        assert!(!all.is_empty() && all.iter().all(|s| s.addr.is_ipv4()));
        let six = Expand {
            ipv6: true,
            ..Expand::default()
        };
        let lo = |e| resolve_listen_host("lo", e).unwrap_or_default();
        assert_eq!(lo(Expand::default()), vec![IpAddr::from([127, 0, 0, 1])]);
        assert!(lo(six).contains(&IpAddr::from([127, 0, 0, 1])));
        assert!(lo(six).iter().all(|ip| ip.is_ipv4() || ip.is_loopback()));
        assert!(all
            .iter()
            .any(|s| s.bind_addr() == "127.0.0.1:5060".parse().unwrap_or(all[0].bind_addr())));
    }

    #[test]
    fn myself_matching() {
        let sock = |id, proto, addr: &str, adv: Option<&str>| Sock {
            id,
            proto,
            local: addr.parse().unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
            addr_text: match addr.parse::<SocketAddr>() {
                Ok(SocketAddr::V6(a)) => format!("[{}]", a.ip()),
                Ok(a) => a.ip().to_string(),
                Err(_) => String::new(),
            },
            adv_host: adv.map(str::to_string),
            adv_port: None,
            name: String::new(),
        };
        let s = Sockets {
            socks: vec![
                sock(0, TProto::Udp, "127.0.0.1:5060", None),
                sock(1, TProto::Tcp, "[::1]:5070", Some("sip.example.com")),
            ],
            aliases: vec![Alias {
                host: "alias.example.org".into(),
                port: 0,
                proto: None,
            }],
            self_check: None,
            mhomed: false,
        };
        // mhomed: UDP goes from the socket bound to the kernel's source address, or nowhere.
        let to: SocketAddr = ([127, 0, 0, 1], 9).into();
        let mut m = Sockets {
            socks: vec![
                sock(0, TProto::Udp, "127.0.0.2:5060", None),
                sock(1, TProto::Udp, "127.0.0.1:5060", None),
            ],
            aliases: Vec::new(),
            self_check: None,
            mhomed: false,
        };
        assert_eq!(
            m.send_socket(TProto::Udp, &to, Some(0)).map(|s| s.id),
            Some(0)
        );
        m.mhomed = true;
        assert_eq!(
            m.send_socket(TProto::Udp, &to, Some(0)).map(|s| s.id),
            Some(1)
        );
        m.socks.truncate(1);
        assert_eq!(m.send_socket(TProto::Udp, &to, Some(0)).map(|s| s.id), None);
        let cases: &[(&str, u16, Option<TProto>, bool)] = &[
            ("127.0.0.1", 5060, None, true),
            ("127.0.0.1", 0, None, true),
            ("127.0.0.1", 5061, None, false),
            ("127.0.0.1", 5060, Some(TProto::Tcp), false),
            ("[::1]", 5070, None, true),
            ("[0:0::1]", 5070, Some(TProto::Tcp), true),
            ("::1", 5060, None, false),
            ("SIP.example.com", 5070, None, true),
            ("alias.example.org", 9999, None, true),
            ("example.org", 0, None, false),
        ];
        for (h, p, proto, want) in cases {
            assert_eq!(
                s.is_myself(h.as_bytes(), *p, *proto),
                *want,
                "{h}:{p} {proto:?}"
            );
        }
        let lo = auto_aliases(&s.socks[..1], std::time::Duration::from_secs(3));
        // /etc/hosts names 127.0.0.1 on any usual system; the alias keeps the socket's port.
        let hosts = std::fs::read_to_string("/etc/hosts").unwrap_or_default();
        if hosts
            .lines()
            .any(|l| l.starts_with("127.0.0.1") && l.contains("localhost"))
        {
            assert!(lo.iter().any(|a| a.host.starts_with("localhost")), "{lo:?}");
        }
        assert!(
            lo.iter()
                .all(|a| a.port == 5060 && a.proto == Some(TProto::Udp)),
            "{lo:?}"
        );
        let with = Sockets {
            aliases: lo.clone(),
            ..s.clone()
        };
        for a in &lo {
            assert!(with.is_myself(a.host.as_bytes(), 5060, None), "{a:?}");
        }
        // A module's addition (the domain module's register_myself): any port, any protocol.
        let domains = Sockets {
            self_check: Some(SelfCheck(std::sync::Arc::new(|h: &[u8]| {
                h.eq_ignore_ascii_case(b"example.org")
            }))),
            ..s.clone()
        };
        assert!(domains.is_myself(b"EXAMPLE.org", 7777, Some(TProto::Tcp)));
        assert!(!domains.is_myself(b"example.net", 0, None));
        assert!(!s.is_myself(b"example.org", 0, None));
        let to4: SocketAddr = "10.0.0.1:5060".parse().unwrap_or(s.socks[0].local);
        let to6: SocketAddr = "[2001:db8::1]:5060".parse().unwrap_or(s.socks[0].local);
        assert_eq!(
            s.send_socket(TProto::Udp, &to4, Some(1)).map(|x| x.id),
            Some(0)
        );
        assert_eq!(
            s.send_socket(TProto::Tcp, &to6, None).map(|x| x.id),
            Some(1)
        );
        assert_eq!(s.send_socket(TProto::Udp, &to6, None).map(|x| x.id), None);
    }
}
