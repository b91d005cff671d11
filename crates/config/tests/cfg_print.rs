//! `cfg_print` must reproduce `kamailio --cfg-print` byte for byte (for the directives Kamailio 5.6
//! has). Compared live against /usr/sbin/kamailio: the test fails when `CI` is set and kamailio is
//! missing, and skips with a message otherwise.

mod common;
use common::{in_ci, FsHost};
use ferrosip_config::{cfg_print, LoadOptions};
use std::path::{Path, PathBuf};
use std::process::Command;

const KAMAILIO: &str = "/usr/sbin/kamailio";
const STOCK: &str = "/etc/kamailio/kamailio.cfg";

fn have(path: &str) -> bool {
    if Path::new(path).exists() {
        return true;
    }
    assert!(!in_ci(), "CI is set and {path} is missing");
    eprintln!("skipping --cfg-print comparison: {path} is missing");
    false
}

fn kamailio_print(file: &Path, defines: &[&str]) -> String {
    let mut cmd = Command::new(KAMAILIO);
    cmd.arg("--cfg-print").arg("-f").arg(file);
    for d in defines {
        cmd.arg("-A").arg(d);
    }
    if let Some(dir) = file.parent() {
        cmd.current_dir(dir);
    }
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("running {KAMAILIO}: {e}"));
    assert!(
        out.status.success(),
        "kamailio failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ours(entry: &str, defines: &[&str]) -> String {
    let opts = LoadOptions {
        defines: defines.iter().map(|d| d.to_string()).collect(),
        ..LoadOptions::default()
    };
    cfg_print(entry, &opts, &FsHost).unwrap_or_else(|f| panic!("{}", f.render()))
}

fn compare(entry: &str, defines: &[&str]) {
    let abs = PathBuf::from(entry)
        .canonicalize()
        .unwrap_or_else(|e| panic!("{entry}: {e}"));
    let want = kamailio_print(&abs, defines);
    let got = ours(entry, defines);
    if want != got {
        let line = want
            .lines()
            .zip(got.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(want.lines().count().min(got.lines().count()));
        panic!(
            "{entry} {defines:?}: output differs at line {}:\n kamailio: {:?}\n ours:     {:?}",
            line + 1,
            want.lines().nth(line),
            got.lines().nth(line)
        );
    }
}

#[test]
fn stock_config_matches_kamailio() {
    if !have(KAMAILIO) || !have(STOCK) {
        return;
    }
    let sets: [&[&str]; 5] = [
        &[],
        &["WITH_MYSQL", "WITH_AUTH", "WITH_IPAUTH"],
        &["WITH_NAT", "WITH_RTPENGINE"],
        &["WITH_NAT", "WITH_ANTIFLOOD", "WITH_DEBUG"],
        &[
            "WITH_DEBUG",
            "WITH_MYSQL",
            "WITH_AUTH",
            "WITH_IPAUTH",
            "WITH_USRLOCDB",
            "WITH_PRESENCE",
            "WITH_NAT",
            "WITH_PSTN",
            "WITH_ALIASDB",
            "WITH_SPEEDDIAL",
            "WITH_MULTIDOMAIN",
            "WITH_TLS",
            "WITH_JSONRPC",
            "WITH_ANTIFLOOD",
            "WITH_BLOCK3XX",
            "WITH_VOICEMAIL",
            "WITH_ACCDB",
        ],
    ];
    for s in sets {
        compare(STOCK, s);
    }
}

#[test]
fn preprocessor_files_match_kamailio() {
    if !have(KAMAILIO) {
        return;
    }
    for (f, defs) in [
        ("tests/pp/basic.cfg", &[][..]),
        ("tests/pp/basic.cfg", &["WITH_B", "NOT_DEFINED"][..]),
        ("tests/pp/env.cfg", &[][..]),
        ("tests/pp/env.cfg", &["B=2"][..]),
        ("tests/pp/more.cfg", &[][..]),
        ("tests/pp/more.cfg", &["NEVER"][..]),
    ] {
        compare(f, defs);
    }
}

/// Our own expectations for the parts that do not need kamailio (always run).
#[test]
fn print_rules() {
    let got = ours("tests/pp/basic.cfg", &[]);
    assert!(got.starts_with("#!KAMAILIO\n"));
    assert!(!got.contains("#!ifdef WITH_A"));
    assert!(!got.contains("ALTER TABLE"));
    assert!(got.contains("children=PORT\n"), "defines are not expanded");
    assert!(got.contains("# included part\n"));
    assert!(
        got.contains("modparam(\"sl\", \"bind_tm\", 1)"),
        "MOD_sl from loadmodule"
    );
    assert!(!got.contains("enable_full_lr"));
}
