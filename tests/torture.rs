//! RFC 4475 / RFC 5118 torture messages (`/work/shared/corpus/torture/*.sip`) sent over UDP and
//! TCP to ferrosip and to Kamailio 5.6.3 running the same sl-based config: the first lines of the
//! answers (or silence) must be the same, except for the differences listed in
//! `tests/data/wire/torture-known-differences.tsv` (which must stay exact: a fixed difference
//! fails the test until it is removed from the list). After every message the server must still
//! answer an OPTIONS health check.
//!
//! The config only answers locally (`sl_send_reply`), so nothing is forwarded to the foreign hosts
//! the messages name; no network namespace is needed.

#[path = "wire_harness.rs"]
mod harness;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use harness::*;

// `shared/` sits beside the repository (in /work and in CI alike).
const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/corpus/torture");

fn messages() -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(CORPUS)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "sip"))
                .filter_map(|p| {
                    let name = p.file_name()?.to_string_lossy().into_owned();
                    Some((name, std::fs::read(&p).ok()?))
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn answers(to: SocketAddr, msgs: &[(String, Vec<u8>)]) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (i, (name, bytes)) in msgs.iter().enumerate() {
        let u = status_lines(&udp_exchange(to, bytes, Duration::from_millis(400))).join(" | ");
        let t = status_lines(&tcp_exchange(to, bytes, Duration::from_millis(600))).join(" | ");
        assert!(
            healthy(to, 1000 + i as u32),
            "no answer to a health check after {name}"
        );
        out.push((name.clone(), u, t));
    }
    out
}

#[test]
fn torture_messages_answered_like_kamailio() {
    let msgs = messages();
    if msgs.is_empty() {
        assert!(!ci(), "CI: torture corpus missing");
        eprintln!("torture corpus not found: skipped");
        return;
    }
    let port = free_port();
    let to: SocketAddr = format!("127.0.0.1:{port}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut f = start(ferrosip_bin(), "torture", &sl_cfg(port, ""), &[to]);
    let ours = answers(to, &msgs);
    assert_eq!(f.stop(), Some(0));

    let Some(kam) = kamailio_bin() else {
        assert!(!ci(), "CI: kamailio is required");
        eprintln!("kamailio not installed: comparison skipped");
        return;
    };
    let kport = free_port();
    let kto: SocketAddr = format!("127.0.0.1:{kport}")
        .parse()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut k = start(kam, "torture-kam", &sl_cfg(kport, ""), &[kto]);
    let theirs = answers(kto, &msgs);
    k.stop();

    let mut diffs = BTreeSet::new();
    for ((name, u, t), (_, ku, kt)) in ours.iter().zip(theirs.iter()) {
        if u != ku {
            diffs.insert(format!("{name}\tudp\t{u}\t{ku}"));
        }
        if t != kt {
            diffs.insert(format!("{name}\ttcp\t{t}\t{kt}"));
        }
    }
    let known_path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/wire/torture-known-differences.tsv"
    );
    let text = std::fs::read_to_string(known_path).unwrap_or_default();
    let lines = || {
        text.lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
    };
    // `~` lines are races (they may or may not differ); the others must differ every run.
    let known: BTreeSet<String> = lines()
        .map(|l| l.trim_start_matches('~').to_string())
        .collect();
    let required: BTreeSet<String> = lines()
        .filter(|l| !l.starts_with('~'))
        .map(str::to_string)
        .collect();
    let new: Vec<&String> = diffs.difference(&known).collect();
    let fixed: Vec<&String> = required.difference(&diffs).collect();
    assert!(
        new.is_empty() && fixed.is_empty(),
        "file\tproto\tferrosip\tkamailio\nnew differences:\n{}\nno longer different (remove from the list):\n{}",
        new.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n"),
        fixed.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n")
    );
}
