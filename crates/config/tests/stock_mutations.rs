//! Mutation differential test on Debian's stock config: every variant with one line deleted, and
//! every variant with the last character of one line removed, is checked by `kamailio -c` and by
//! `load`; the verdicts must agree. The only tolerated difference is a variant Kamailio rejects for a
//! reason that needs module knowledge — an unknown module function or wrong argument count ("failed to
//! find command"), a modparam for a module not loaded ("No module matching"), a pseudo-variable no
//! loaded module provides ("error searching pvar"): the script compiler resolves those, not this crate.
//! Fails when `CI` is set and kamailio or the file is missing; skips otherwise.

mod common;
use common::{in_ci, MemHost};
use ferrosip_config::{load, LoadOptions};
use std::path::Path;
use std::process::Command;

const KAMAILIO: &str = "/usr/sbin/kamailio";
const STOCK: &str = "/etc/kamailio/kamailio.cfg";

/// Defines that Debian's packages can load (no MySQL, no TLS certificates needed).
const BIG_SET: [&str; 10] = [
    "WITH_NAT",
    "WITH_ANTIFLOOD",
    "WITH_DEBUG",
    "WITH_PSTN",
    "WITH_VOICEMAIL",
    "WITH_BLOCK3XX",
    "WITH_BLOCK401407",
    "WITH_JSONRPC",
    "WITH_NATSIPPING",
    "WITH_MSGREBUILD",
];

#[test]
fn one_line_mutations_agree_with_kamailio() {
    mutations_agree(&[], 1000, 300);
}

#[test]
fn one_line_mutations_agree_with_kamailio_with_defines() {
    mutations_agree(&BIG_SET, 1000, 600);
}

fn mutations_agree(defines: &[&str], min_checked: usize, min_rejected: usize) {
    for p in [KAMAILIO, STOCK] {
        if !Path::new(p).exists() {
            assert!(!in_ci(), "CI is set and {p} is missing");
            eprintln!("skipping: {p} is missing");
            return;
        }
    }
    let text = std::fs::read_to_string(STOCK).unwrap_or_else(|e| panic!("{STOCK}: {e}"));
    let lines: Vec<&str> = text.split('\n').collect();
    let dir = std::env::temp_dir().join(format!(
        "ferrosip-config-mut-{}-{}",
        std::process::id(),
        defines.len()
    ));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let file = dir.join("m.cfg");
    let (mut checked, mut rejected, mut tolerated) = (0, 0, 0);
    let mut mismatches = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let t = line.trim();
        if t.is_empty() || (t.starts_with('#') && !t.starts_with("#!")) {
            continue;
        }
        let chopped = &line.trim_end()[..line.trim_end().len() - 1];
        for (what, replacement) in [("deleted", None), ("last char removed", Some(chopped))] {
            let mut m: Vec<&str> = lines.clone();
            match replacement {
                None => {
                    m.remove(i);
                }
                Some(r) => m[i] = r,
            }
            let variant = m.join("\n");
            std::fs::write(&file, &variant).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
            let mut cmd = Command::new(KAMAILIO);
            cmd.arg("-c").arg("-f").arg(&file);
            for d in defines {
                cmd.arg("-A").arg(d);
            }
            let out = cmd
                .output()
                .unwrap_or_else(|e| panic!("running {KAMAILIO}: {e}"));
            let theirs = out.status.success();
            let host = MemHost::with(&[("m.cfg", &variant)]);
            let opts = LoadOptions {
                defines: defines.iter().map(|d| d.to_string()).collect(),
                ..LoadOptions::default()
            };
            let ours = load("m.cfg", &opts, &host);
            checked += 1;
            if !theirs {
                rejected += 1;
            }
            if theirs == ours.is_ok() {
                continue;
            }
            let log = String::from_utf8_lossy(&out.stderr);
            const MODULE_LEVEL: [&str; 3] = [
                "failed to find command",
                "No module matching",
                "error searching pvar",
            ];
            if ours.is_ok() && MODULE_LEVEL.iter().any(|m| log.contains(m)) {
                tolerated += 1;
                continue;
            }
            let why = match &ours {
                Ok(_) => format!(
                    "ours accepts; kamailio says: {}",
                    log.lines()
                        .find(|l| l.contains("CRIT") || l.contains("ERROR"))
                        .unwrap_or("")
                ),
                Err(f) => format!("ours rejects:\n{}", f.render()),
            };
            mismatches.push(format!(
                "--- line {} {what}: {:?}\nkamailio accepts: {theirs}; {why}",
                i + 1,
                t
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    eprintln!(
        "{defines:?}: {checked} variants, {rejected} rejected by kamailio, {tolerated} only for module reasons"
    );
    assert!(
        checked > min_checked && rejected > min_rejected,
        "{checked} variants, {rejected} rejected"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
