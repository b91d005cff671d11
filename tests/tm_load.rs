//! tm under load: SIPp calls through a stateful proxy complete with 20 % packet loss on the
//! loopback of a network namespace this test creates (an nftables rule drops 20 % of the UDP
//! packets at random: the kernel of the CI machines has no netem qdisc), and transactions are
//! freed after a run (the table returns to empty, RSS stays near its level before the run).

#[path = "wire_harness.rs"]
mod harness;

use std::io::{Read as _, Write as _};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use harness::*;

const CFG: &str = r#"#!KAMAILIO
listen=udp:127.0.0.1:PORT
children=2
disable_tcp=yes
log_stderror=yes
debug=1
loadmodule "tm.so"
loadmodule "rr.so"
loadmodule "sl.so"
loadmodule "siputils.so"
loadmodule "textops.so"
loadmodule "jsonrpcs.so"
modparam("jsonrpcs", "transport", 8)
modparam("jsonrpcs", "tcp_socket", "tcp:127.0.0.1:RPC")
modparam("tm", "wt_timer", 1000)
request_route {
    if (has_totag()) {
        loose_route();
        t_relay();
        exit;
    }
    if (is_method("INVITE")) { record_route(); }
    if (!t_relay()) { sl_reply_error(); }
}
"#;

/// The two tests load the machine: one at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn uas_scenario() -> &'static str {
    concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/tm/uas_retrans.xml")
}

/// `(successful, failed)` from SIPp's summary.
fn sipp_counts(out: &str) -> (Option<u32>, Option<u32>) {
    let field = |name: &str| {
        out.lines()
            .find(|l| l.contains(name))
            .and_then(|l| l.split('|').nth(2))
            .and_then(|v| v.trim().parse::<u32>().ok())
    };
    (field("Successful call"), field("Failed call"))
}

/// `tm.stats` over jsonrpcs' TCP socket: the `current` and `waiting` transaction counts.
fn tm_stats(rpc: SocketAddr) -> Option<(i64, i64)> {
    let mut s = std::net::TcpStream::connect_timeout(&rpc, Duration::from_secs(2)).ok()?;
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    s.write_all(br#"{"jsonrpc":"2.0","method":"tm.stats","id":1}"#)
        .ok()?;
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let field = |name: &str| -> Option<i64> {
        let key = format!("\"{name}\"");
        let i = out.find(&key)?;
        out[i + key.len()..]
            .chars()
            .skip_while(|c| !c.is_ascii_digit())
            .take_while(|c| c.is_ascii_digit())
            .collect::<String>()
            .parse()
            .ok()
    };
    Some((field("current")?, field("waiting")?))
}

#[test]
fn transactions_are_freed_after_a_run() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have("sipp") {
        assert!(!ci(), "CI: sipp is required");
        eprintln!("sipp not installed: skipped");
        return;
    }
    let port = free_port();
    let rpc_port = free_port();
    let proxy: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let rpc: SocketAddr = format!("127.0.0.1:{rpc_port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = CFG
        .replace("PORT", &port.to_string())
        .replace("RPC", &rpc_port.to_string());
    let mut srv = start(ferrosip_bin(), "tm-load", &cfg, &[proxy]);
    let uas_port = free_port();
    let uac_port = free_port();
    let run = |calls: u32, rate: u32| {
        let mut uas = Command::new("sipp")
            .args([
                "-sf",
                uas_scenario(),
                "-i",
                "127.0.0.1",
                "-p",
                &uas_port.to_string(),
            ])
            .args(["-nostdin", "-m", &calls.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("sipp uas: {e}"));
        std::thread::sleep(Duration::from_millis(300));
        let out = Command::new("sipp")
            .args([
                "-sn",
                "uac",
                &format!("127.0.0.1:{uas_port}"),
                "-i",
                "127.0.0.1",
            ])
            .args(["-p", &uac_port.to_string(), "-rsa", &proxy.to_string()])
            .args(["-m", &calls.to_string(), "-r", &rate.to_string()])
            .args(["-nostdin", "-timeout", "60", "-timeout_error"])
            .output()
            .unwrap_or_else(|e| panic!("sipp uac: {e}"));
        let _ = uas.kill();
        let _ = uas.wait();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // Warm-up: allocator pools and tables reach their working size.
    let text = run(200, 100);
    assert_eq!(sipp_counts(&text), (Some(200), Some(0)), "warm-up: {text}");
    std::thread::sleep(Duration::from_secs(3));
    let rss_before = srv.rss_kib();
    let text = run(2000, 200);
    assert_eq!(
        sipp_counts(&text),
        (Some(2000), Some(0)),
        "{text}\n{}",
        srv.log_text()
    );
    // Every transaction ends within wt_timer (1 s) after its final reply; those still there
    // right after the run are waiting or about to.
    let first = tm_stats(rpc);
    assert!(
        first.is_some_and(|(cur, wait)| (0..=cur).contains(&wait)),
        "tm.stats right after the run: {first:?}"
    );
    let t0 = Instant::now();
    let mut now = first;
    while now != Some((0, 0)) && t0.elapsed() < Duration::from_secs(15) {
        std::thread::sleep(Duration::from_millis(200));
        now = tm_stats(rpc);
    }
    assert_eq!(now, Some((0, 0)), "tm.stats current/waiting after the run");
    let rss_after = srv.rss_kib();
    assert!(
        rss_after < rss_before + rss_before / 4 + 2048,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    assert_eq!(srv.stop(), Some(0));
}

/// The namespace's loopback up, and `percent` % of the UDP packets it delivers dropped at random.
fn lossy_lo(percent: u32) -> String {
    format!(
        "ip link set lo up && nft add table inet loss && \
nft add chain inet loss input '{{ type filter hook input priority 0; }}' && \
nft add rule inet loss input meta l4proto udp numgen random mod 100 lt {percent} drop"
    )
}

/// Runs `script` in a new network namespace (root only); `None` when namespaces or nftables are
/// not available here.
fn in_netns(script: &str) -> Option<std::process::Output> {
    let probe = Command::new("unshare")
        .args(["-n", "sh", "-c", &lossy_lo(1)])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()?;
    if !probe.success() {
        return None;
    }
    Command::new("unshare")
        .args(["-n", "sh", "-c", script])
        .output()
        .ok()
}

#[test]
fn calls_complete_with_20_percent_packet_loss() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !have("sipp") || !have("nft") || !have("unshare") {
        assert!(!ci(), "CI: sipp, nft and unshare are required");
        eprintln!("sipp/nft/unshare missing: skipped");
        return;
    }
    let dir = scratch("tm-loss");
    let cfg_path = dir.join("loss.cfg");
    // The default wt_timer (5 s): with 20 % loss the UAC may still retransmit its INVITE more
    // than 1 s after the proxy relayed the first 200; a transaction freed by then would take the
    // retransmission for a new request (Kamailio does the same with a short wt_timer).
    let cfg = CFG
        .replace("PORT", "5060")
        .replace("RPC", "5099")
        .replace("modparam(\"tm\", \"wt_timer\", 1000)\n", "");
    std::fs::write(&cfg_path, cfg).unwrap_or_else(|e| panic!("{e}"));
    let log = dir.join("server.log");
    let calls = 60;
    // Everything inside the namespace: the proxy, the UAS, the UAC; 20 % of all packets on its
    // loopback are lost. SIPp may retransmit up to 20 times so that only the proxy's behaviour decides.
    let script = format!(
        "{lossy} || exit 90\n\
{bin} -f {cfg} -DD -E -Y {dir} -w {dir} 2> {log} &\n\
P=$!\n\
sleep 1\n\
sipp -sf {uas} -i 127.0.0.1 -p 5090 -nostdin -max_recv_loops 1000 -max_invite_retrans 20 -max_non_invite_retrans 20 > /dev/null 2>&1 &\n\
U=$!\n\
sleep 0.3\n\
timeout 150 sipp -sn uac 127.0.0.1:5090 -i 127.0.0.1 -p 5080 -rsa 127.0.0.1:5060 -m {calls} -r 5 \
 -nostdin -timeout 140 -timeout_error -max_invite_retrans 20 -max_non_invite_retrans 20\n\
kill $U 2>/dev/null; kill $P; wait $P\n",
        bin = ferrosip_bin(),
        cfg = cfg_path.display(),
        dir = dir.display(),
        log = log.display(),
        uas = uas_scenario(),
        lossy = lossy_lo(20),
    );
    let Some(out) = in_netns(&script) else {
        assert!(!ci(), "CI: network namespaces with nftables are required");
        eprintln!("no netns/nftables here: skipped");
        return;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    assert_ne!(out.status.code(), Some(90), "packet loss setup failed");
    assert_eq!(
        sipp_counts(&text),
        (Some(calls), Some(0)),
        "{text}\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let retrans = text
        .lines()
        .filter(|l| l.contains("INVITE") || l.contains("BYE"))
        .count();
    assert!(retrans > 0, "SIPp summary printed: {text}");
}
