//! The `-l` command-line argument: `[proto:]addr_lst[:port][/advaddr[:port]][/name]`.
//!
//! Same grammar as Kamailio's `-l` (its `parse_phostport` + `parse_name_lst`):
//! - `proto` is `udp`, `tcp`, `tls` or `sctp` (case-insensitive; `ws`/`wss` are not listen protocols);
//! - `addr_lst` is one host, IP address or interface name, or a parenthesised list separated by
//!   commas, semicolons or blanks (a multi-homed SCTP socket, `(eth0, eth1, 127.0.0.1)`);
//! - IPv6 addresses are written in brackets (`[::1]`), so their colons do not count;
//! - with a single colon, a number after it is a port (`eth0:5062`), anything else a protocol
//!   (`udp:127.0.0.1`);
//! - after `/` comes the advertised address `[proto:]host[:port]`, after a second `/` the socket name.
//!
//! Unlike Kamailio (which uses `strtol`) a port must be plain decimal digits in 0..=65535: `+5060`
//! or `5060x` are refused.

use crate::Error;

/// A transport a socket listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Proto {
    Udp,
    Tcp,
    Tls,
    Sctp,
}

impl Proto {
    /// Parses a protocol name as Kamailio's `parse_proto` does (case-insensitive).
    pub fn parse(s: &str) -> Option<Proto> {
        Some(match s.to_ascii_lowercase().as_str() {
            "udp" => Proto::Udp,
            "tcp" => Proto::Tcp,
            "tls" => Proto::Tls,
            "sctp" => Proto::Sctp,
            _ => return None,
        })
    }

    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Sctp => "sctp",
        }
    }
}

/// `[proto:]host[:port]` with a single host (the advertised address, `--alias`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPort {
    pub proto: Option<Proto>,
    pub host: String,
    pub port: Option<u16>,
}

/// One `-l` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenArg {
    /// `None`: every protocol that is enabled.
    pub proto: Option<Proto>,
    /// One address, or several for a parenthesised list.
    pub addrs: Vec<String>,
    /// `true` when the addresses were given in parentheses (multi-homed, even with one address).
    pub multihomed: bool,
    /// `None`: the default port (5060, or 5061 for TLS).
    pub port: Option<u16>,
    pub advertise: Option<HostPort>,
    pub name: Option<String>,
}

/// Parses a `-l` argument.
pub fn parse_listen(arg: &str) -> Result<ListenArg, Error> {
    let bad = |why: &str| Error::Listen {
        arg: arg.to_string(),
        why: why.to_string(),
    };
    let mut fields = arg.splitn(3, '/');
    let main = fields.next().unwrap_or("");
    let adv = fields.next();
    let name = fields.next();
    let advertise = match adv {
        None => None,
        Some("") if name.is_some() => None,
        Some("") => return Err(bad("empty advertised address")),
        Some(a) => {
            let (proto, host, port) = split_phostport(a).map_err(|w| bad(&w))?;
            Some(HostPort {
                proto,
                host: host.to_string(),
                port,
            })
        }
    };
    let name = match name {
        None => None,
        Some("") => return Err(bad("empty socket name")),
        Some(n) => Some(n.to_string()),
    };
    let (proto, host, port) = split_phostport(main).map_err(|w| bad(&w))?;
    let (addrs, multihomed) = parse_name_list(host).ok_or_else(|| bad("bad address list"))?;
    Ok(ListenArg {
        proto,
        addrs,
        multihomed,
        port,
        advertise,
        name,
    })
}

/// Parses `[proto:]host[:port]` (`--alias`, the advertised part of `-l`).
pub fn parse_hostport(arg: &str) -> Result<HostPort, Error> {
    let (proto, host, port) = split_phostport(arg).map_err(|why| Error::Listen {
        arg: arg.to_string(),
        why,
    })?;
    Ok(HostPort {
        proto,
        host: host.to_string(),
        port,
    })
}

/// Splits `[proto:]host[:port]`, ignoring colons inside `[...]`.
fn split_phostport(s: &str) -> Result<(Option<Proto>, &str, Option<u16>), String> {
    let mut depth = 0u32;
    let mut colons: Vec<usize> = Vec::with_capacity(2);
    for (i, c) in s.char_indices() {
        match c {
            '[' => {
                depth += 1;
                if depth > 1 {
                    return Err("too many brackets".into());
                }
            }
            ']' => {
                if depth == 0 {
                    return Err("too many brackets".into());
                }
                depth -= 1;
            }
            ':' if depth == 0 => {
                if colons.len() == 2 {
                    return Err("too many colons".into());
                }
                colons.push(i);
            }
            _ => {}
        }
    }
    if s.is_empty() {
        return Err("empty address".into());
    }
    if s.ends_with(':') {
        return Err("too many colons".into());
    }
    let proto_of = |p: &str| Proto::parse(p).ok_or_else(|| format!("bad protocol '{p}'"));
    // The colon positions come from `char_indices` over `s`, so every cut is on a char boundary;
    // `get` keeps that an invariant rather than a panic.
    let cut = |from: usize, to: usize| s.get(from..to).unwrap_or("");
    match colons.as_slice() {
        [] => Ok((None, s, None)),
        [first, second] => {
            let proto = proto_of(cut(0, *first))?;
            let port = parse_port(cut(second + 1, s.len())).ok_or("bad port number")?;
            Ok((Some(proto), cut(first + 1, *second), Some(port)))
        }
        [first] => match parse_port(cut(first + 1, s.len())) {
            Some(port) => Ok((None, cut(0, *first), Some(port))),
            None => Ok((
                Some(proto_of(cut(0, *first))?),
                cut(first + 1, s.len()),
                None,
            )),
        },
        _ => Err("too many colons".into()),
    }
}

fn parse_port(s: &str) -> Option<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `host` or `(h1, h2 h3; h4)`; returns the names and whether the list form was used.
fn parse_name_list(s: &str) -> Option<(Vec<String>, bool)> {
    let s = s.trim_matches([' ', '\t']);
    if s.is_empty() {
        return None;
    }
    let Some(inner) = s.strip_prefix('(') else {
        return Some((vec![s.to_string()], false));
    };
    let inner = inner.strip_suffix(')')?;
    let names: Vec<String> = inner
        .split([',', ';', ' ', '\t'])
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    if names.is_empty() {
        return None;
    }
    Some((names, true))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hp(proto: Option<Proto>, host: &str, port: Option<u16>) -> HostPort {
        HostPort {
            proto,
            host: host.into(),
            port,
        }
    }

    fn la(proto: Option<Proto>, addrs: &[&str], mh: bool, port: Option<u16>) -> ListenArg {
        ListenArg {
            proto,
            addrs: addrs.iter().map(|s| s.to_string()).collect(),
            multihomed: mh,
            port,
            advertise: None,
            name: None,
        }
    }

    #[test]
    fn kamailio_help_examples_and_more() {
        use Proto::*;
        let table = [
            ("localhost", la(None, &["localhost"], false, None)),
            (
                "udp:127.0.0.1:5080",
                la(Some(Udp), &["127.0.0.1"], false, Some(5080)),
            ),
            ("eth0:5062", la(None, &["eth0"], false, Some(5062))),
            (
                "udp:127.0.0.1:5080/1.2.3.4:5060",
                ListenArg {
                    advertise: Some(hp(None, "1.2.3.4", Some(5060))),
                    ..la(Some(Udp), &["127.0.0.1"], false, Some(5080))
                },
            ),
            ("sctp:(eth0)", la(Some(Sctp), &["eth0"], true, None)),
            (
                "(eth0, eth1, 127.0.0.1):5065",
                la(None, &["eth0", "eth1", "127.0.0.1"], true, Some(5065)),
            ),
            ("[::1]", la(None, &["[::1]"], false, None)),
            ("[::1]:5060", la(None, &["[::1]"], false, Some(5060))),
            (
                "tcp:[2001:db8::1]:5070",
                la(Some(Tcp), &["[2001:db8::1]"], false, Some(5070)),
            ),
            (
                "TLS:example.com",
                la(Some(Tls), &["example.com"], false, None),
            ),
            ("udp:127.0.0.1", la(Some(Udp), &["127.0.0.1"], false, None)),
            ("(a;b c)", la(None, &["a", "b", "c"], true, None)),
            (
                "udp:127.0.0.1:5060//main",
                ListenArg {
                    name: Some("main".into()),
                    ..la(Some(Udp), &["127.0.0.1"], false, Some(5060))
                },
            ),
            (
                "127.0.0.1/tcp:pub.example.com/ext",
                ListenArg {
                    advertise: Some(hp(Some(Tcp), "pub.example.com", None)),
                    name: Some("ext".into()),
                    ..la(None, &["127.0.0.1"], false, None)
                },
            ),
        ];
        for (arg, want) in table {
            assert_eq!(parse_listen(arg).ok(), Some(want), "{arg}");
        }
    }

    #[test]
    fn refused() {
        let table = [
            "",
            "udp:",
            "ws:127.0.0.1",
            "udp:127.0.0.1:50x",
            "udp:127.0.0.1:70000",
            "a:b:c:d",
            "[[::1]]",
            "::1",
            "127.0.0.1/",
            "127.0.0.1/1.2.3.4/",
            "()",
            "(eth0",
            "bogus:host",
        ];
        for arg in table {
            assert!(parse_listen(arg).is_err(), "{arg} should be refused");
        }
    }

    #[test]
    fn arbitrary_input_never_panics() {
        // A deterministic xorshift walk over the characters that matter to the grammar, plus
        // multi-byte ones; every result must be Ok or Err, never a panic.
        let alphabet: Vec<char> = "udp:tcp[]()/,; 0123456789.:é€a".chars().collect();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for _ in 0..20_000 {
            let mut s = String::new();
            for _ in 0..(x % 24) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                s.push(alphabet[(x % alphabet.len() as u64) as usize]);
            }
            let _ = parse_listen(&s);
            let _ = parse_hostport(&s);
            let _ = crate::modparam::parse_modparam(&s);
            x = x.wrapping_add(1);
        }
    }

    #[test]
    fn aliases() {
        let table = [
            ("example.com", Some(hp(None, "example.com", None))),
            (
                "tcp:example.com:5080",
                Some(hp(Some(Proto::Tcp), "example.com", Some(5080))),
            ),
            (
                "example.com:5080",
                Some(hp(None, "example.com", Some(5080))),
            ),
            ("foo:bar", None),
        ];
        for (arg, want) in table {
            assert_eq!(parse_hostport(arg).ok(), want, "{arg}");
        }
    }
}
