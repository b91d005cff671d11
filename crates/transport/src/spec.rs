//! Listener specifications and the identifiers that travel with every message.

use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// A transport protocol as spelled in Kamailio's `listen=` (`udp`, `tcp`, `tls`, `sctp`, `ws`, `wss`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Udp,
    Tcp,
    Tls,
    Sctp,
    Ws,
    Wss,
}

impl Proto {
    /// Kamailio's lower-case spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Sctp => "sctp",
            Proto::Ws => "ws",
            Proto::Wss => "wss",
        }
    }

    /// Parses a protocol token, case-insensitively as Kamailio's lexer does.
    pub fn parse(s: &str) -> Option<Proto> {
        const ALL: [Proto; 6] = [
            Proto::Udp,
            Proto::Tcp,
            Proto::Tls,
            Proto::Sctp,
            Proto::Ws,
            Proto::Wss,
        ];
        ALL.into_iter().find(|p| p.as_str().eq_ignore_ascii_case(s))
    }

    /// Stream protocols go through the connection layer.
    pub fn is_stream(self) -> bool {
        !matches!(self, Proto::Udp | Proto::Sctp)
    }

    /// Whether this build can bind it.
    pub fn is_implemented(self) -> bool {
        matches!(self, Proto::Udp | Proto::Tcp)
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `listen=`/`socket=` statement, already resolved to an IP address by the caller.
///
/// `port` is taken literally: the caller applies Kamailio's default (5060/5061) when the config
/// omits it; port 0 asks the kernel for a free port (tests use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    pub proto: Proto,
    /// Bind address; `0.0.0.0` / `::` bind the wildcard.
    pub addr: IpAddr,
    pub port: u16,
    /// `advertise host[:port]`: what goes into Via/Record-Route instead of the bound address.
    pub advertised_host: Option<String>,
    pub advertised_port: Option<u16>,
    /// `name "..."`: lets the script pick the socket by name (`$fsn`, `force_send_socket`).
    pub name: Option<String>,
    /// `virtual`: the address is a floating IP; kept for `myself` checks, binding is unchanged.
    pub is_virtual: bool,
    /// `socket_workers` override for this socket (UDP: receiver threads; default `children`).
    pub workers: Option<usize>,
}

impl ListenSpec {
    /// A plain spec: no advertised address, no name, not virtual, default workers.
    pub fn new(proto: Proto, addr: IpAddr, port: u16) -> Self {
        ListenSpec {
            proto,
            addr,
            port,
            advertised_host: None,
            advertised_port: None,
            name: None,
            is_virtual: false,
            workers: None,
        }
    }

    /// The address to bind.
    pub fn bind_addr(&self) -> SocketAddr {
        SocketAddr::new(self.addr, self.port)
    }
}

/// A Kamailio socket string, `[proto:]host[:port]` (`listen=`, `force_send_socket()`, `$fs`),
/// split but not resolved: `host` may be a name, which the caller resolves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketStr {
    pub proto: Option<Proto>,
    /// Without the brackets of an IPv6 reference.
    pub host: String,
    pub port: Option<u16>,
}

impl SocketStr {
    /// Splits `s`. IPv6 addresses take brackets when a port follows (`udp:[::1]:5060`); a bare
    /// IPv6 address is accepted without port.
    pub fn parse(s: &str) -> Result<SocketStr, crate::Error> {
        let bad = |why: &str| crate::Error::InvalidSocket(format!("'{s}': {why}"));
        let mut rest = s.trim();
        let mut proto = None;
        if let Some((head, tail)) = rest.split_once(':') {
            if let Some(p) = Proto::parse(head) {
                proto = Some(p);
                rest = tail;
            }
        }
        let (host, port) = if let Some(inner) = rest.strip_prefix('[') {
            let (h, after) = inner.split_once(']').ok_or_else(|| bad("missing ']'"))?;
            match after {
                "" => (h, None),
                p => (
                    h,
                    Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
                ),
            }
        } else {
            match rest.matches(':').count() {
                0 => (rest, None),
                1 => rest
                    .split_once(':')
                    .map(|(h, p)| (h, Some(p)))
                    .unwrap_or((rest, None)),
                _ => (rest, None), // bare IPv6
            }
        };
        if host.is_empty() {
            return Err(bad("empty host"));
        }
        if host.contains(':') && host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(bad("not an IPv6 address"));
        }
        let port = match port {
            None => None,
            Some(p) => Some(p.parse::<u16>().map_err(|_| bad("bad port"))?),
        };
        Ok(SocketStr {
            proto,
            host: host.to_string(),
            port,
        })
    }
}

/// Index of a bound socket in [`crate::Transport::sockets`] (Kamailio's `struct socket_info *`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SocketId(pub u32);

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// A TCP connection id, the script's `$conid`. Never reused while the transport runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A bound socket: its spec plus the address the kernel gave it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    pub id: SocketId,
    pub spec: ListenSpec,
    /// The bound address (the real port when the spec asked for 0).
    pub local: SocketAddr,
}

/// Where a message came from and on what (Kamailio's `struct receive_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReceiveInfo {
    pub src: SocketAddr,
    /// The local address the message was sent to; for a wildcard UDP socket the real destination IP
    /// (from `IP_PKTINFO`/`IPV6_PKTINFO`).
    pub dst: SocketAddr,
    pub proto: Proto,
    pub socket: SocketId,
    /// The TCP connection, `None` for UDP.
    pub conn: Option<ConnId>,
}

/// Where to send: protocol and address, optionally the local socket and the connection to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Destination {
    pub proto: Proto,
    pub addr: SocketAddr,
    /// Send from this socket (`force_send_socket`); `None` picks the first of the right family.
    pub socket: Option<SocketId>,
    /// Reuse this connection (a reply goes back on the request's connection); when it is gone the
    /// connection to `addr` (or an alias of it) is used.
    pub conn: Option<ConnId>,
}

impl Destination {
    /// Destination without socket or connection preference.
    pub fn new(proto: Proto, addr: SocketAddr) -> Self {
        Destination {
            proto,
            addr,
            socket: None,
            conn: None,
        }
    }

    /// The destination of a reply to a message received with `ri`: same protocol, source address,
    /// socket and connection.
    pub fn reply_to(ri: &ReceiveInfo) -> Self {
        Destination {
            proto: ri.proto,
            addr: ri.src,
            socket: Some(ri.socket),
            conn: ri.conn,
        }
    }
}

/// Per-send flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SendOptions {
    /// Fail instead of opening a connection (`set_forward_no_connect`, `set_reply_no_connect`,
    /// `tcp_no_connect`).
    pub no_connect: bool,
    /// Close the connection once this buffer is written (`set_forward_close`, `set_reply_close`).
    pub close_after: bool,
}

/// What a successful send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The datagram was handed to the kernel.
    Udp { from: SocketId },
    /// The buffer was queued on this connection (connecting first if it is new).
    Tcp { conn: ConnId, new_connection: bool },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proto_tokens_round_trip() {
        let cases = [
            ("udp", Some(Proto::Udp), true, false),
            ("TCP", Some(Proto::Tcp), true, true),
            ("tls", Some(Proto::Tls), false, true),
            ("sctp", Some(Proto::Sctp), false, false),
            ("ws", Some(Proto::Ws), false, true),
            ("WSS", Some(Proto::Wss), false, true),
            ("http", None, false, false),
            ("", None, false, false),
        ];
        for (tok, want, implemented, stream) in cases {
            let got = Proto::parse(tok);
            assert_eq!(got, want, "{tok}");
            if let Some(p) = got {
                assert_eq!(p.as_str(), tok.to_ascii_lowercase());
                assert_eq!(p.is_implemented(), implemented, "{tok}");
                assert_eq!(p.is_stream(), stream, "{tok}");
            }
        }
    }

    #[test]
    fn socket_strings() {
        let ok = |proto, host: &str, port| {
            Ok::<_, ()>(SocketStr {
                proto,
                host: host.to_string(),
                port,
            })
        };
        let cases: [(&str, Result<SocketStr, ()>); 12] = [
            (
                "udp:127.0.0.1:5060",
                ok(Some(Proto::Udp), "127.0.0.1", Some(5060)),
            ),
            ("TCP:10.0.0.1", ok(Some(Proto::Tcp), "10.0.0.1", None)),
            ("127.0.0.1:5070", ok(None, "127.0.0.1", Some(5070))),
            ("tls:[::1]:5061", ok(Some(Proto::Tls), "::1", Some(5061))),
            ("[2001:db8::1]", ok(None, "2001:db8::1", None)),
            ("udp:2001:db8::1", ok(Some(Proto::Udp), "2001:db8::1", None)),
            (
                "sip.example.com:5060",
                ok(None, "sip.example.com", Some(5060)),
            ),
            (
                "udp:0.0.0.0:5060",
                ok(Some(Proto::Udp), "0.0.0.0", Some(5060)),
            ),
            ("udp:127.0.0.1:99999", Err(())),
            ("udp:[::1", Err(())),
            ("udp:[::1]x", Err(())),
            ("udp::5060", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(SocketStr::parse(input).map_err(|_| ()), want, "{input}");
        }
    }

    #[test]
    fn reply_destination_mirrors_receive_info() {
        let ri = ReceiveInfo {
            src: "127.0.0.1:5070".parse().unwrap(),
            dst: "127.0.0.1:5060".parse().unwrap(),
            proto: Proto::Tcp,
            socket: SocketId(3),
            conn: Some(ConnId(9)),
        };
        let d = Destination::reply_to(&ri);
        assert_eq!(d.addr, ri.src);
        assert_eq!(d.socket, Some(SocketId(3)));
        assert_eq!(d.conn, Some(ConnId(9)));
        assert_eq!(d.proto, Proto::Tcp);
    }
}
