//! Differential acceptance of the compatibility modes: configs with `#!SER` (and mode switches)
//! checked by `kamailio -c` (Debian's 5.6.3) and by `load`; both accept or both reject. Fails when
//! `CI` is set and kamailio is missing; skips with a message otherwise. Verdicts that need module
//! or pseudo-variable knowledge (an unknown `$x` after `#!KAMAILIO`, a non-constant module function
//! parameter) belong to the script compiler and are tested there (crates/script/tests/ser_compat.rs).

mod common;
use common::{in_ci, MemHost};
use ferrosip_config::{load, LoadOptions};
use std::path::Path;
use std::process::Command;

const KAMAILIO: &str = "/usr/sbin/kamailio";
const PREAMBLE: &str = "loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\n";

/// (text before request_route, request_route body); `#!SER` comes first unless the text has its
/// own mode lines (`{MODE}` marks where the default `#!SER` would go).
#[rustfmt::skip]
const CASES: &[(&str, &str)] = &[
    ("", "$x = 1;"),
    ("", "$x = \"s\"; $y = $x + 1;"),
    ("", "$ru = \"sip:a@b\";"),
    ("", "$null = 1;"),
    ("", "$var = 1;"),
    ("", "$avp = 1;"),
    ("", "$f.x = 1; $t.x = 2; $fr.x = 3; $tr.x = 4;"),
    ("", "$fu.x = 1; $tu.x = 2; $fd.x = 3; $td.x = 4;"),
    ("", "if ($g.x == 1) exit;"),
    ("", "$x[] = 1;"),
    ("", "$x [ ] = 1;"),
    ("", "$x[1] = 1;"),
    ("", "$y = $x[1];"),
    ("", "$y = $x[-1];"),
    ("", "$y = $x [ 2 ];"),
    ("", "$y = $x[];"),
    ("", "$y = $x[*];"),
    ("", "$y = $x[$z];"),
    ("", "$ x = 1;"),
    ("", "$ = 1;"),
    ("", "$1 = 1;"),
    ("", "$f = 1;"),
    ("", "$fu = 1;"),
    ("", "$g.g = 1;"),
    ("", "$f.t = 1;"),
    ("", "$f. = 1;"),
    ("", "$f.x.y = 1;"),
    ("", "$(x) = 1;"),
    ("", "$y = $(x);"),
    ("", "$var(x) = 1;"),
    ("", "$y = $ru(x);"),
    ("", "$y = $rc;"),
    ("", "$y = $retcode;"),
    ("", "$y = $?;"),
    ("", "$rc = 1;"),
    ("", "%x = 1; $y = %x;"),
    ("", "if ($x == 1 && defined $y) { xlog(\"L_INFO\", \"$ru $avp(x)\\n\"); }"),
    ("", "if (strempty($x)) exit;"),
    ("", "switch ($x) { case 1: exit; default: drop; }"),
    ("", "while ($i < 3) { $i = $i + 1; }"),
    ("", "$y = ($x = 2);"),
    ("", "$y = @from.uri;"),
    ("#!define ATTR $u\n", "ATTR = 1;"),
    ("#!define PV $var(u)\n", "PV = 1;"),
    ("{MODE}#!KAMAILIO\n", "$var(x) = 1;"),
    ("{MODE}#!MAXCOMPAT\n", "$var(x) = 1; $x = 1; $f.x = 1;"),
    ("#!KAMAILIO\n{MODE}", "$x = 1; %y = 2;"),
    ("#!KAMAILIO\n", "%x[1] = 1;"),
    ("#!KAMAILIO\n", "$var(y) = %x[1];"),
    ("#!MAXCOMPAT\n", "$x[1] = 1;"),
    ("#!MAXCOMPAT\n", "$y = $fu.x + $x[-1];"),
];

fn kamailio_accepts(dir: &Path, text: &str) -> bool {
    let f = dir.join("k.cfg");
    std::fs::write(&f, text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    let out = Command::new(KAMAILIO)
        .arg("-c")
        .arg("-f")
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("running {KAMAILIO}: {e}"));
    out.status.success()
}

#[test]
fn same_verdict_as_kamailio() {
    if !Path::new(KAMAILIO).exists() {
        assert!(!in_ci(), "CI is set and {KAMAILIO} is missing");
        eprintln!("skipping: {KAMAILIO} is missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ferrosip-config-sercheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut mismatches = Vec::new();
    let (mut accepted, mut rejected) = (0, 0);
    for (top, body) in CASES {
        let top = if top.contains("{MODE}") || top.starts_with("#!") {
            top.replace("{MODE}", "#!SER\n")
        } else {
            format!("#!SER\n{top}")
        };
        let text = format!("{top}{PREAMBLE}request_route {{\n\t{body}\n}}\n");
        let theirs = kamailio_accepts(&dir, &text);
        let host = MemHost::with(&[("k.cfg", &text)]);
        let ours = load("k.cfg", &LoadOptions::default(), &host);
        if theirs {
            accepted += 1;
        } else {
            rejected += 1;
        }
        if theirs != ours.is_ok() {
            let why = match &ours {
                Ok(_) => "ours accepts".to_string(),
                Err(f) => format!("ours rejects:\n{}", f.render()),
            };
            mismatches.push(format!("--- {text:?}\nkamailio accepts: {theirs}; {why}"));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        accepted >= 10 && rejected >= 10,
        "the table should hold both verdicts ({accepted} accepted, {rejected} rejected)"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
