//! The floor of `bench/`: what a SIP server costs per message when it does nothing but the
//! system calls — one blocking `recvfrom` and one `sendto` per datagram, on one thread, with
//! just enough text handling for SIPp to accept the answers. No parser, no script, no
//! transaction, no logging.
//!
//!   floor sl PORT          answer every request with `200 OK` (Via/From/To/Call-ID/CSeq copied)
//!   floor stateless PORT   forward requests to their R-URI's host:port with one Via on top, and
//!                          replies to the sent-by of their second Via, with the first removed
//!
//! Its CPU time per call, beside Kamailio's and ferrosip's from the same run, is the bound any
//! implementation that reads and writes each datagram once must stay above (bench/RESULTS.md).
//! It trusts its input (127.0.0.1 and SIPp only) and drops what it does not understand.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(mode), Some(port)) = (args.get(1), args.get(2).and_then(|p| p.parse::<u16>().ok()))
    else {
        eprintln!("usage: floor sl|stateless PORT");
        std::process::exit(2);
    };
    let sock = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)).unwrap_or_else(|e| {
        eprintln!("bind 127.0.0.1:{port}: {e}");
        std::process::exit(1);
    });
    let me = format!("127.0.0.1:{port}");
    let mut buf = vec![0u8; 65536];
    let mut out = Vec::with_capacity(65536);
    let mut branch: u64 = 0;
    loop {
        let Ok((n, from)) = sock.recv_from(&mut buf) else {
            continue;
        };
        let msg = &buf[..n];
        out.clear();
        let to = match mode.as_str() {
            "sl" => sl_reply(msg, &mut out).then_some(from),
            _ if msg.starts_with(b"SIP/2.0 ") => forward_reply(msg, &mut out),
            _ => {
                branch += 1;
                forward_request(msg, &me, branch, &mut out)
            }
        };
        if let Some(to) = to {
            let _ = sock.send_to(&out, to);
        }
    }
}

/// The header lines of `msg` (after the first line, before the empty line).
fn lines(msg: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = find(msg, b"\r\n\r\n").unwrap_or(msg.len());
    msg[..end]
        .split(|&b| b == b'\n')
        .skip(1)
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn is_header(line: &[u8], long: &[u8], short: u8) -> bool {
    let name_end = line.iter().position(|&b| b == b':').unwrap_or(0);
    let name = line[..name_end].trim_ascii_end();
    name.eq_ignore_ascii_case(long) || (name.len() == 1 && name[0].eq_ignore_ascii_case(&short))
}

fn sl_reply(msg: &[u8], out: &mut Vec<u8>) -> bool {
    if msg.starts_with(b"SIP/2.0 ") || msg.starts_with(b"ACK ") {
        return false;
    }
    out.extend_from_slice(b"SIP/2.0 200 OK\r\n");
    for l in lines(msg) {
        let to = is_header(l, b"to", b't');
        if to
            || is_header(l, b"via", b'v')
            || is_header(l, b"from", b'f')
            || is_header(l, b"call-id", b'i')
            || is_header(l, b"cseq", b'c')
        {
            out.extend_from_slice(l);
            if to && find(l, b"tag=").is_none() {
                out.extend_from_slice(b";tag=floor");
            }
            out.extend_from_slice(b"\r\n");
        }
    }
    out.extend_from_slice(b"Content-Length: 0\r\n\r\n");
    true
}

fn forward_request(msg: &[u8], me: &str, branch: u64, out: &mut Vec<u8>) -> Option<SocketAddr> {
    let first_end = find(msg, b"\r\n")?;
    let ruri = msg[..first_end].split(|&b| b == b' ').nth(1)?;
    let to = hostport(ruri.strip_prefix(b"sip:")?)?;
    out.extend_from_slice(&msg[..first_end + 2]);
    out.extend_from_slice(
        format!("Via: SIP/2.0/UDP {me};branch=z9hG4bKfloor{branch}\r\n").as_bytes(),
    );
    out.extend_from_slice(&msg[first_end + 2..]);
    Some(to)
}

fn forward_reply(msg: &[u8], out: &mut Vec<u8>) -> Option<SocketAddr> {
    let mut vias = 0;
    let mut next = None;
    let mut pos = 0;
    for line in msg.split_inclusive(|&b| b == b'\n') {
        let bare = line.strip_suffix(b"\r\n").unwrap_or(line);
        if bare.is_empty() {
            out.extend_from_slice(&msg[pos..]);
            break;
        }
        pos += line.len();
        if is_header(bare, b"via", b'v') {
            vias += 1;
            let value = &bare[bare.iter().position(|&b| b == b':')? + 1..];
            if vias == 1 {
                // SIPp folds the Vias into one header: keep what follows the first value.
                let Some(comma) = value.iter().position(|&b| b == b',') else {
                    continue;
                };
                let rest = value[comma + 1..].trim_ascii_start();
                next = sent_by(rest);
                vias += 1;
                out.extend_from_slice(b"Via: ");
                out.extend_from_slice(rest);
                out.extend_from_slice(b"\r\n");
                continue;
            }
            if vias == 2 {
                next = sent_by(value.trim_ascii_start());
            }
        }
        out.extend_from_slice(line);
    }
    next
}

/// The sent-by of a Via value (`SIP/2.0/UDP host:port;…`).
fn sent_by(via: &[u8]) -> Option<SocketAddr> {
    let sent_by = via.splitn(2, |&b| b == b' ').nth(1)?;
    hostport(sent_by.trim_ascii_start())
}

/// `host[:port]` at the start of `s` (user part skipped), IPv4 only.
fn hostport(s: &[u8]) -> Option<SocketAddr> {
    let s = match s.iter().position(|&b| b == b'@') {
        Some(at) => &s[at + 1..],
        None => s,
    };
    let end = s
        .iter()
        .position(|&b| b == b';' || b == b'>' || b == b' ' || b == b',')
        .unwrap_or(s.len());
    let hp = std::str::from_utf8(&s[..end]).ok()?;
    let (host, port) = match hp.split_once(':') {
        Some((h, p)) => (h, p.parse().ok()?),
        None => (hp, 5060),
    };
    Some(SocketAddr::V4(SocketAddrV4::new(host.parse().ok()?, port)))
}
