//! Golden tests for diagnostics: every `tests/golden/NAME.cfg` must fail to load and render exactly
//! `tests/golden/NAME.err` (message, file, line, column, caret, notes). Run with `UPDATE_GOLDEN=1` to
//! rewrite the `.err` files after checking the new output by hand.

mod common;
use common::FsHost;
use ferrosip_config::{load, LoadOptions, Severity};
use std::path::Path;

#[test]
fn golden_diagnostics() {
    let dir = Path::new("tests/golden");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter_map(|n| n.strip_suffix(".cfg").map(str::to_string))
        .collect();
    names.sort();
    assert!(names.len() >= 20, "only {} golden configs", names.len());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failures = Vec::new();
    for name in &names {
        let cfg = format!("tests/golden/{name}.cfg");
        let errf = dir.join(format!("{name}.err"));
        let got = match load(&cfg, &LoadOptions::default(), &FsHost) {
            Ok(_) => "LOADED WITHOUT ERRORS\n".to_string(),
            Err(f) => {
                assert!(
                    f.diagnostics
                        .iter()
                        .any(|d| d.severity() == Severity::Error),
                    "{name}: failure without an error"
                );
                f.render()
            }
        };
        if update {
            std::fs::write(&errf, &got).unwrap_or_else(|e| panic!("{}: {e}", errf.display()));
            continue;
        }
        let want = std::fs::read_to_string(&errf).unwrap_or_default();
        if want != got {
            failures.push(format!(
                "--- {name}.err (expected)\n{want}+++ actual\n{got}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
