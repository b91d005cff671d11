//! The 4,527 PROTOS c07-sip cases (`/work/shared/corpus/protos-c07-sip/cases`) sent to a running
//! ferrosip with the sl config: UDP, or TCP for the cases too big for a datagram. After every
//! group of 100 cases the server must answer an OPTIONS health check, and at the end its RSS must be
//! within 10 % of where it was after a warm-up (no leak per malformed message).

#[path = "wire_harness.rs"]
mod harness;

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use harness::*;

// `shared/` sits beside the repository (in /work and in CI alike).
const CASES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../shared/corpus/protos-c07-sip/cases"
);

/// The two length-prefixed records of a case file.
fn records(raw: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = raw;
    while let Some(sp) = rest.iter().position(|b| *b == b' ') {
        let Some(n) = std::str::from_utf8(&rest[..sp])
            .ok()
            .and_then(|s| s.trim().parse::<usize>().ok())
        else {
            break;
        };
        let body = rest.get(sp + 1..sp + 1 + n).unwrap_or(&[]);
        out.push(body.to_vec());
        rest = rest.get(sp + 1 + n..).unwrap_or(&[]);
    }
    out
}

/// Fills the runner's placeholders (case number as Call-ID and branch).
fn render(t: &[u8], case: usize, port: u16, local: u16) -> Vec<u8> {
    let mut s = t.to_vec();
    let subs: Vec<(&[u8], String)> = vec![
        (b"<To>", format!("bob@127.0.0.1:{port}")),
        (b"<From>", "alice@127.0.0.1".into()),
        (b"<From-Address>", "127.0.0.1".into()),
        (b"<From-IP>", "127.0.0.1".into()),
        (b"<Local-Port>", local.to_string()),
        (b"<Branch-ID>", format!("{case}")),
        (b"<Call-ID>", format!("protos-{case}")),
        (b"<CSeq>", "1".into()),
        (b"<Teardown-Method>", "CANCEL".into()),
    ];
    for (k, v) in subs {
        s = replace_all(&s, k, v.as_bytes());
    }
    // Content-Length: the body after the first empty line.
    if let Some(p) = find(&s, b"\r\n\r\n") {
        let len = s.len() - p - 4;
        s = replace_all(&s, b"<Content-Length>", len.to_string().as_bytes());
    }
    s
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

fn replace_all(h: &[u8], k: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(h.len());
    let mut i = 0;
    while i < h.len() {
        if h[i..].starts_with(k) {
            out.extend_from_slice(v);
            i += k.len();
        } else {
            out.push(h[i]);
            i += 1;
        }
    }
    out
}

#[test]
fn protos_cases_do_not_break_the_server() {
    let Ok(dir) = std::fs::read_dir(CASES) else {
        assert!(!ci(), "CI: PROTOS corpus missing");
        eprintln!("PROTOS corpus not found: skipped");
        return;
    };
    let mut files: Vec<_> = dir.filter_map(Result::ok).map(|e| e.path()).collect();
    files.sort();
    let port = free_port();
    let to: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut srv = start(ferrosip_bin(), "protos", &sl_cfg(port, ""), &[to]);
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let local = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    let _ = sock.set_nonblocking(true);
    let mut drain = vec![0u8; 70000];
    let mut rss0 = 0;
    let mut sent_tcp = 0;
    for (i, f) in files.iter().enumerate() {
        let raw = std::fs::read(f).unwrap_or_default();
        for rec in records(&raw) {
            let m = render(&rec, i, port, local);
            if m.len() > 65000 {
                if let Ok(mut c) = TcpStream::connect_timeout(&to, Duration::from_secs(2)) {
                    let _ = c.write_all(&m);
                    sent_tcp += 1;
                }
            } else {
                let _ = sock.send_to(&m, to);
            }
        }
        // keep our receive buffer from filling: answers are not checked here
        while sock.recv_from(&mut drain).is_ok() {}
        if i % 100 == 99 || i + 1 == files.len() {
            assert!(
                healthy(to, i as u32),
                "no answer after case {i}: {}",
                srv.log_text()
            );
            if i == 499 {
                rss0 = srv.rss_kib();
            }
        }
    }
    let rss1 = srv.rss_kib();
    assert!(sent_tcp > 0, "the big cases went over TCP");
    assert!(
        rss0 > 0 && rss1 * 10 <= rss0 * 11,
        "RSS grew from {rss0} KiB to {rss1} KiB"
    );
    assert_eq!(srv.stop(), Some(0));
}
