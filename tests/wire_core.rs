//! Black-box tests of the core parameters the server hands to modules, on the wire:
//!
//! - `server_signature` (default on), `server_header`, `sip_warning`: what sl puts in its local
//!   replies (`Server:`, `Warning:`), compared with Kamailio 5.6.3 after normalising the
//!   `Server:` value (skipped without Kamailio unless `CI` is set);
//! - the ACK filter: an ACK to sl's own negative reply received on the *second* listening socket
//!   is absorbed before the script (sl seeds to-tags with the first socket's address, the server
//!   passes the same address to `SlApi::filter_ack`); an ACK with another tag reaches the script;
//! - xlog lines on stderr: `LEVEL: <prefix>text` like Kamailio, no ` facility=… prefix=` tail;
//! - `-A` defines seen by `$def`/`$defn`; usrloc's expiry sweep run by the server's timer thread.

#[path = "wire_harness.rs"]
mod harness;

use std::net::SocketAddr;
use std::time::Duration;

use harness::*;

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn reply_cfg(port: u16, extra: &str) -> String {
    format!(
        "listen=udp:127.0.0.1:{port}\n{extra}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
request_route {{\n\
    if (method == \"ACK\") {{ xlog(\"L_ERR\", \"ACK reached the script tt=$tt\\n\"); exit; }}\n\
    sl_send_reply(\"404\", \"Not Here\");\n}}\n"
    )
}

fn header<'a>(reply: &'a str, name: &str) -> Option<&'a str> {
    reply.split("\r\n").find(|l| {
        l.to_ascii_lowercase()
            .starts_with(&format!("{}:", name.to_ascii_lowercase()))
    })
}

/// (extra config lines, expected Server: line (None = absent), Warning: expected)
type SigCase<'a> = (&'a str, Option<&'a str>, bool);

#[test]
fn server_signature_header_and_warning_in_sl_replies() {
    let default_server = concat!("Server: ferrosip (", env!("CARGO_PKG_VERSION"), ")");
    let cases: &[SigCase] = &[
        ("", Some(default_server), false),
        ("server_signature=no", None, false),
        (
            "server_header=\"Server: Acme SBC\"\nsip_warning=yes",
            Some("Server: Acme SBC"),
            true,
        ),
    ];
    for (i, (extra, want_server, want_warning)) in cases.iter().enumerate() {
        let port = free_port();
        let to = addr(&format!("127.0.0.1:{port}"));
        let cfg = reply_cfg(port, extra);
        let srv = start(ferrosip_bin(), &format!("sig{i}"), &cfg, &[to]);
        let got = udp_exchange(
            to,
            options(to, "UDP", 1).as_bytes(),
            Duration::from_millis(800),
        );
        let Some(r) = got.first() else {
            panic!("{extra}: no reply: {}", srv.log_text());
        };
        assert!(r.starts_with("SIP/2.0 404 Not Here"), "{r}");
        assert_eq!(header(r, "Server"), *want_server, "{extra}: {r}");
        assert_eq!(
            header(r, "Warning").is_some(),
            *want_warning,
            "{extra}: {r}"
        );
        if *want_warning {
            let w = header(r, "Warning").unwrap_or_default();
            assert!(w.starts_with("Warning: 392 127.0.0.1:"), "{w}");
        }
    }
}

/// Kamailio answers the same config with a `Server: kamailio (…)` line where we have ours; the
/// replies' header names, in order, are the same.
#[test]
fn default_signature_like_kamailio() {
    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI: kamailio is required");
        eprintln!("kamailio not installed: comparison skipped");
        return;
    };
    let names = |bin: &str, tag: &str| -> Vec<String> {
        let port = free_port();
        let to = addr(&format!("127.0.0.1:{port}"));
        let srv = start(bin, tag, &reply_cfg(port, ""), &[to]);
        let got = udp_exchange(
            to,
            options(to, "UDP", 7).as_bytes(),
            Duration::from_millis(800),
        );
        let Some(r) = got.first() else {
            panic!("{bin}: no reply: {}", srv.log_text());
        };
        let server = header(r, "Server").unwrap_or_default();
        assert!(
            server.starts_with("Server: kamailio (") || server.starts_with("Server: ferrosip ("),
            "{bin}: {r}"
        );
        r.split("\r\n")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter_map(|l| l.split(':').next().map(str::to_string))
            .collect()
    };
    assert_eq!(names(ferrosip_bin(), "sigf"), names(kam, "sigk"));
}

fn invite(to: SocketAddr, n: u32) -> String {
    format!(
        "INVITE sip:x@{ip}:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKinv{n};rport\r\n\
From: <sip:a@127.0.0.1>;tag=f{n}\r\n\
To: <sip:x@127.0.0.1>\r\n\
Call-ID: ackf-{n}@test\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n",
        ip = to.ip(),
        port = to.port()
    )
}

fn ack(to: SocketAddr, n: u32, to_tag: &str) -> String {
    format!(
        "ACK sip:x@{ip}:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKinv{n};rport\r\n\
From: <sip:a@127.0.0.1>;tag=f{n}\r\n\
To: <sip:x@127.0.0.1>;tag={to_tag}\r\n\
Call-ID: ackf-{n}@test\r\n\
CSeq: 1 ACK\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n",
        ip = to.ip(),
        port = to.port()
    )
}

#[test]
fn ack_to_own_reply_filtered_on_second_socket() {
    let p1 = free_port();
    let p2 = free_port();
    let first = addr(&format!("127.0.0.1:{p1}"));
    let second = addr(&format!("127.0.0.1:{p2}"));
    let cfg = reply_cfg(p1, &format!("listen=udp:127.0.0.1:{p2}"));
    let srv = start(ferrosip_bin(), "ackfilter", &cfg, &[first, second]);
    let w = Duration::from_millis(800);
    let got = udp_exchange(second, invite(second, 1).as_bytes(), w);
    let Some(r) = got.first() else {
        panic!("no reply: {}", srv.log_text());
    };
    let to = header(r, "To").unwrap_or_default();
    let Some((_, tag)) = to.split_once(";tag=") else {
        panic!("no to-tag: {r}");
    };
    // Our own tag: absorbed. A foreign tag: the script sees it (the control).
    let _ = udp_exchange(second, ack(second, 1, tag).as_bytes(), w);
    let _ = udp_exchange(second, ack(second, 1, "foreign42").as_bytes(), w);
    let log = srv.log_text();
    assert!(
        !log.contains(&format!("ACK reached the script tt={tag}")),
        "{log}"
    );
    assert!(log.contains("ACK reached the script tt=foreign42"), "{log}");
}

/// `run(bin, tag)` with ferrosip gives `want`, and with Kamailio (when installed; CI requires it)
/// the same lines.
fn like_kamailio(tag: &str, want: &[&str], run: impl Fn(&str, &str) -> Vec<String>) {
    let ours = run(ferrosip_bin(), &format!("{tag}f"));
    assert_eq!(ours, want, "{tag}");
    match kamailio_bin() {
        Some(kam) => assert_eq!(run(kam, &format!("{tag}k")), ours, "{tag}"),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
}

/// Starts `bin` on `cfg` (command-line `args`) listening on `to`, runs `talk`, waits until `want`
/// log lines hold `marker` (10 s at most), stops the server and returns those lines from the log
/// level on (the ` N(pid) ` origin cut, so Kamailio's lines compare with ours).
#[allow(clippy::too_many_arguments)]
fn marked_lines(
    bin: &str,
    tag: &str,
    cfg: &str,
    to: SocketAddr,
    args: &[&str],
    marker: &str,
    want: usize,
    talk: impl FnOnce(),
) -> Vec<String> {
    let mut srv = start_args(bin, tag, cfg, &[to], args);
    talk();
    let t0 = std::time::Instant::now();
    while srv.log_text().matches(marker).count() < want && t0.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = srv.stop();
    srv.log_text()
        .lines()
        .filter(|l| l.contains(marker))
        .map(|l| l.split_once(") ").map_or(l, |(_, r)| r).to_string())
        .collect()
}

/// Script output on stderr (`-E`): `LEVEL: <prefix>text`, no trailing ` facility=… prefix=…`
/// fields, with and without xlog's `prefix` modparam and a per-call facility — the same text as
/// Kamailio prints (compared after the ` N(pid) ` origin when Kamailio is installed).
#[test]
fn xlog_lines_like_kamailio() {
    let cfg = |port: u16, modparam: &str| {
        format!(
            "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"xlog.so\"\n{modparam}\n\
event_route[core:worker-one-init] {{\n\
    xlog(\"L_INFO\", \"x-line\\n\");\n\
    xlog(\"LOG_LOCAL0\", \"L_ERR\", \"e-line\\n\");\n}}\n\
request_route {{ exit; }}\n"
        )
    };
    let cases: &[(&str, [&str; 2])] = &[
        ("", ["INFO: <script>: x-line", "ERROR: <script>: e-line"]),
        (
            "modparam(\"xlog\", \"prefix\", \"PFX: \")",
            ["INFO: PFX: x-line", "ERROR: PFX: e-line"],
        ),
    ];
    for (i, (modparam, want)) in cases.iter().enumerate() {
        like_kamailio(&format!("xlog{i}"), want, |bin, tag| {
            let port = free_port();
            let to = addr(&format!("127.0.0.1:{port}"));
            // worker-one-init runs before the first message; an answered-or-not request makes
            // sure the workers are up before stopping.
            marked_lines(bin, tag, &cfg(port, modparam), to, &[], "-line", 2, || {
                let _ = udp_exchange(
                    to,
                    options(to, "UDP", 1).as_bytes(),
                    Duration::from_millis(300),
                );
            })
        });
    }
}

/// `$pv = $y[]` (every value of a core attribute) for a pseudo-variable target assigns what `$y[]`
/// reads — undefined — as Kamailio 5.6.3 does: `$var`/`$vz` become 0, `$xavp`, `$du` and `$vn` are
/// deleted; the attribute keeps its values.
#[test]
fn every_value_source_into_pseudo_variables_like_kamailio() {
    let cfg = |port: u16| {
        format!(
            "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\n\
request_route {{\n\
    $avp(y) = 1; $avp(y) = 3;\n\
    $var(x) = \"s\"; $var(x) = $y[];\n\
    $xavp(r=>a) = 7; $xavp(r[0]=>a) = $y[];\n\
    $du = \"sip:h.example:5\"; $du = $y[];\n\
    $vz(k) = \"a\"; $vz(k) = $y[]; $vn(k) = \"a\"; $vn(k) = $y[];\n\
    xlog(\"L_INFO\", \"all-line [$var(x)] [$xavp(r=>a)] $cnt($xavp(r=>a)) [$du] [$vz(k)] [$vn(k)] $cnt($avp(y))\\n\");\n\
    sl_send_reply(\"200\", \"OK\");\n}}\n"
        )
    };
    like_kamailio(
        "all",
        &["INFO: <script>: all-line [0] [<null>] 0 [<null>] [0] [<null>] 2"],
        |bin, tag| {
            let port = free_port();
            let to = addr(&format!("127.0.0.1:{port}"));
            marked_lines(bin, tag, &cfg(port), to, &[], "all-line", 1, || {
                let answers = udp_exchange(
                    to,
                    options(to, "UDP", 1).as_bytes(),
                    Duration::from_millis(500),
                );
                assert_eq!(status_lines(&answers), vec!["SIP/2.0 200 OK"], "{tag}");
            })
        },
    );
}

/// siputils `is_user`: the user part of the credentials auth marked as authorized — marked for any
/// digest credentials of the realm, before the nonce, the response or the qop fields are checked
/// — as Kamailio 5.6.3 answers.
#[test]
fn is_user_reads_the_authorized_credentials_like_kamailio() {
    let cfg = |port: u16| {
        format!(
            "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\n\
loadmodule \"auth.so\"\nloadmodule \"siputils.so\"\n\
request_route {{\n\
    if ($ci =~ \"^c\") pv_www_authenticate(\"example.com\", \"secret\", \"0\");\n\
    $var(r) = \"\";\n\
    if (is_user(\"alice\")) $var(r) = $var(r) + \"a\";\n\
    if (is_user(\"bob\")) $var(r) = $var(r) + \"b\";\n\
    if (is_user(\"alice@example.com\")) $var(r) = $var(r) + \"d\";\n\
    if (is_user(\"Alice\")) $var(r) = $var(r) + \"A\";\n\
    xlog(\"L_INFO\", \"user-line $ci [$var(r)]\\n\");\n\
    exit;\n}}\n"
        )
    };
    // (Call-ID, credentials header)
    let cred = |hdr: &str, user: &str, realm: &str, extra: &str| {
        format!(
            "{hdr}: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"bm9uY2U\", \
uri=\"sip:example.com\", response=\"0123456789abcdef0123456789abcdef\"{extra}\r\n"
        )
    };
    let cases = [
        ("none", String::new()),
        ("c-alice", cred("Authorization", "alice", "example.com", "")),
        (
            "c-domain",
            cred("Authorization", "alice@example.com", "example.com", ""),
        ),
        ("c-bob", cred("Authorization", "bob", "example.com", "")),
        ("c-realm", cred("Authorization", "alice", "other.org", "")),
        (
            "c-proxy",
            cred("Proxy-Authorization", "alice", "example.com", ""),
        ),
        (
            "c-noqop",
            cred("Authorization", "alice", "example.com", ", qop=auth"),
        ),
        ("n-alice", cred("Authorization", "alice", "example.com", "")),
    ];
    let want: Vec<String> = [
        "none []",
        "c-alice [a]",
        "c-domain [a]",
        "c-bob [b]",
        "c-realm []",
        "c-proxy []",
        "c-noqop [a]",
        "n-alice []",
    ]
    .iter()
    .map(|l| format!("INFO: <script>: user-line {l}"))
    .collect();
    let want: Vec<&str> = want.iter().map(String::as_str).collect();
    like_kamailio("isuser", &want, |bin, tag| {
        let port = free_port();
        let to = addr(&format!("127.0.0.1:{port}"));
        let talk = || {
            let u = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
            for (callid, extra) in &cases {
                let req = format!(
                    "REGISTER sip:example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-{callid};rport\r\n\
From: <sip:alice@example.com>;tag=1\r\nTo: <sip:alice@example.com>\r\n\
Call-ID: {callid}\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\n{extra}\
Content-Length: 0\r\n\r\n"
                );
                u.send_to(req.as_bytes(), to).expect("send");
            }
        };
        marked_lines(
            bin,
            tag,
            &cfg(port),
            to,
            &[],
            "user-line",
            cases.len(),
            talk,
        )
    });
}

/// `-A` defines reach the registry before compile: `$def()` (folded at load) and `$defn()` (read
/// through the registry by the pv module) see them, as in Kamailio.
#[test]
fn command_line_defines_reach_def_pvs() {
    let cfg = |port: u16| {
        format!(
            "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
event_route[core:worker-one-init] {{\n\
    xlog(\"L_INFO\", \"def-line [$def(WITH_X)] [$defn(PORTNO)] [$def(NOPE)]\\n\");\n}}\n\
request_route {{ exit; }}\n"
        )
    };
    like_kamailio(
        "def",
        &["INFO: <script>: def-line [] [5070] [<null>]"],
        |bin, tag| {
            let port = free_port();
            let to = addr(&format!("127.0.0.1:{port}"));
            let args = ["-A", "WITH_X", "-A", "PORTNO=5070"];
            marked_lines(bin, tag, &cfg(port), to, &args, "def-line", 1, || {
                let _ = udp_exchange(
                    to,
                    options(to, "UDP", 1).as_bytes(),
                    Duration::from_millis(300),
                );
            })
        },
    );
}

/// The timer thread runs usrloc's sweep at `timer_interval`: a contact registered for 1 s is
/// removed by the sweep (its debug line) while the server idles.
#[test]
fn usrloc_sweep_runs_on_the_timer_thread() {
    let port = free_port();
    let to = addr(&format!("127.0.0.1:{port}"));
    let cfg = format!(
        "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=3\n\
loadmodule \"sl.so\"\nloadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n\
modparam(\"usrloc\", \"timer_interval\", 1)\n\
modparam(\"registrar\", \"min_expires\", 1)\n\
request_route {{\n    if (method == \"REGISTER\") {{ save(\"location\"); exit; }}\n    exit;\n}}\n"
    );
    let mut srv = start(ferrosip_bin(), "ulsweep", &cfg, &[to]);
    let reg = format!(
        "REGISTER sip:127.0.0.1:{port} SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKreg1;rport\r\n\
From: <sip:alice@127.0.0.1>;tag=r1\r\n\
To: <sip:alice@127.0.0.1>\r\n\
Call-ID: ulsweep-1@test\r\n\
CSeq: 1 REGISTER\r\n\
Contact: <sip:alice@127.0.0.1:9>;expires=1\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n"
    );
    let got = udp_exchange(to, reg.as_bytes(), Duration::from_millis(800));
    assert_eq!(
        status_lines(&got),
        vec!["SIP/2.0 200 OK"],
        "{}",
        srv.log_text()
    );
    let t0 = std::time::Instant::now();
    while !srv
        .log_text()
        .contains("usrloc: 1 expired contacts removed")
        && t0.elapsed() < Duration::from_secs(6)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = srv.log_text();
    assert!(log.contains("usrloc: 1 expired contacts removed"), "{log}");
    assert_eq!(srv.stop(), Some(0), "{log}");
}

/// `forward_tls`/`forward_sctp` on a server without TLS/SCTP listeners (ferrosip never has them):
/// Kamailio's "no corresponding listening socket" error, -7 as a value, and the script goes on.
#[test]
fn forward_tls_and_sctp_without_listeners_like_kamailio() {
    let cfg = |port: u16| {
        format!(
            "listen=udp:127.0.0.1:{port}\nchildren=1\nlog_stderror=yes\ndebug=2\n\
loadmodule \"xlog.so\"\nloadmodule \"pv.so\"\n\
request_route {{\n\
    if ($rU == \"tls\") {{ forward_tls(\"127.0.0.1\", 5999); xlog(\"L_NOTICE\", \"fwd-line after tls\\n\"); }}\n\
    if ($rU == \"sctp\") {{ $var(r) = forward_sctp(\"127.0.0.1\", 5999); xlog(\"L_NOTICE\", \"fwd-line sctp $var(r)\\n\"); }}\n\
    if ($rU == \"tls1\") {{ $var(r) = forward_tls(\"127.0.0.1\"); xlog(\"L_NOTICE\", \"fwd-line tls1 $var(r)\\n\"); }}\n\
    drop;\n}}\n"
        )
    };
    let lines = |bin: &str, tag: &str| -> Vec<String> {
        let port = free_port();
        let to = addr(&format!("127.0.0.1:{port}"));
        let mut srv = start(bin, tag, &cfg(port), &[to]);
        for (i, user) in ["tls", "sctp", "tls1"].iter().enumerate() {
            let req = options(to, "UDP", i as u32 + 1).replacen(
                &format!("OPTIONS sip:{}", "ping"),
                &format!("OPTIONS sip:{user}"),
                1,
            );
            let _ = udp_exchange(to, req.as_bytes(), Duration::from_millis(300));
        }
        let _ = srv.stop();
        srv.log_text()
            .lines()
            .filter_map(|l| {
                if let Some(i) = l.find("cannot forward") {
                    Some(l[i..].to_string())
                } else {
                    l.find("fwd-line").map(|i| l[i..].to_string())
                }
            })
            .collect()
    };
    let ours = lines(ferrosip_bin(), "fwdtls-f");
    let want = [
        "cannot forward to af 2, proto 3 no corresponding listening socket",
        "fwd-line after tls",
        "cannot forward to af 2, proto 4 no corresponding listening socket",
        "fwd-line sctp -7",
        "cannot forward to af 2, proto 3 no corresponding listening socket",
        "fwd-line tls1 -7",
    ];
    assert_eq!(ours, want);
    match kamailio_bin() {
        Some(kam) => assert_eq!(lines(kam, "fwdtls-k"), ours),
        None => assert!(!ci(), "CI: kamailio is required"),
    }
}
