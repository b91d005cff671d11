//! docs/compat.md must stay true: every core parameter it lists (with its aliases) is one the config
//! front end knows under that canonical name, and the front end knows no spelling the document lacks.

use ferrosip_config::params;

fn param_rows() -> Vec<(String, Vec<String>)> {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compat.md"))
        .expect("docs/compat.md is readable");
    let start = doc
        .find("## Core parameters")
        .expect("section Core parameters");
    let end = doc[start..].find("\n## ").map_or(doc.len(), |e| start + e);
    let mut rows = Vec::new();
    for line in doc[start..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | `name` | `alias`, `alias` | note | front end | runtime |
        if cells.len() < 6 || !cells[1].starts_with('`') {
            continue;
        }
        let ticks = |s: &str| -> Vec<String> {
            s.split(',')
                .map(|a| a.trim().trim_matches('`').to_string())
                .filter(|a| !a.is_empty())
                .collect()
        };
        rows.push((cells[1].trim_matches('`').to_string(), ticks(cells[2])));
    }
    rows
}

#[test]
fn every_documented_core_parameter_is_known_to_the_front_end() {
    let rows = param_rows();
    assert!(
        rows.len() > 200,
        "only {} parameter rows parsed",
        rows.len()
    );
    let mut wrong = Vec::new();
    let mut spellings = 0;
    for (name, aliases) in &rows {
        for spelling in std::iter::once(name).chain(aliases) {
            spellings += 1;
            match params::lookup(spelling) {
                Some((canonical, _)) if canonical == name => {}
                other => wrong.push(format!("{spelling} (row {name}): {other:?}")),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/compat.md disagrees with the front end:\n{}",
        wrong.join("\n")
    );
    assert_eq!(
        spellings,
        params::spelling_count(),
        "the front end knows spellings docs/compat.md does not list"
    );
}
