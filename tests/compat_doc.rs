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

const BEGIN: &str = "<!-- generated: functions begin -->\n";
const END: &str = "<!-- generated: functions end -->\n";

/// The function rows of docs/compat.md are generated from the export tables (core and every module).
/// `UPDATE_COMPAT=1 cargo test --test compat_doc` rewrites them.
#[test]
fn function_rows_match_the_export_tables() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compat.md");
    let doc = std::fs::read_to_string(path).expect("docs/compat.md is readable");
    let reg = ferrosip_server::serve::all_exports().expect("the export tables combine");
    let rows = reg.compat_rows();
    let (Some(b), Some(e)) = (doc.find(BEGIN), doc.find(END)) else {
        panic!("docs/compat.md lacks the generated-section markers");
    };
    let current = &doc[b + BEGIN.len()..e];
    if current != rows {
        if std::env::var_os("UPDATE_COMPAT").is_some() {
            let new = format!("{}{rows}{}", &doc[..b + BEGIN.len()], &doc[e..]);
            std::fs::write(path, new).expect("docs/compat.md is writable");
        } else {
            panic!("docs/compat.md function rows are stale: run UPDATE_COMPAT=1 cargo test --test compat_doc");
        }
    }
}

/// What the server does with a core parameter, as the runtime column of docs/compat.md says it.
fn runtime_state(name: &str) -> &'static str {
    use ferrosip_server::settings::{CoreSettings, ParamValue, NO_EFFECT_PARAMS, SCRIPT_PARAMS};
    use ferrosip_server::wirecfg::WireSettings;
    // Parsed as socket statements and turned into listeners by the server.
    if ["listen", "alias", "domain", "socket"].contains(&name) {
        return "implemented";
    }
    if NO_EFFECT_PARAMS.contains(&name) {
        return "no effect (logged once)";
    }
    if SCRIPT_PARAMS.contains(&name) {
        return "implemented";
    }
    let mut used = false;
    let mut default_only = false;
    let mut one_value = false;
    // 0 and 1 reach both values of a boolean: `fork=no` is refused where `enable_tls=yes` is.
    for v in [
        ParamValue::Int(0),
        ParamValue::Int(1),
        ParamValue::Str("x".into()),
    ] {
        let mut s = CoreSettings::default();
        let mut w = WireSettings::default();
        match s
            .apply_param(name, &v)
            .and_then(|u| if u { Ok(true) } else { w.apply_param(name, &v) })
        {
            Ok(true) => used = true,
            Ok(false) => {}
            Err(e) if e.to_string().contains("not Kamailio's default") => one_value = true,
            Err(e) if e.to_string().contains("not implemented") => default_only = true,
            Err(_) => used = true,
        }
    }
    match (used, default_only, one_value) {
        (_, _, true) => "one value only, not Kamailio's default (see note; others refused at load)",
        (_, true, false) => "default value only (others refused at load)",
        (true, false, false) => "implemented",
        (false, false, false) => "missing (warning under -c, refused when serving)",
    }
}

#[test]
fn parameter_runtime_column_is_true() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/compat.md"))
        .expect("docs/compat.md is readable");
    let mut wrong = Vec::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() == 7
            && cells[1].starts_with('`')
            && params::lookup(cells[1].trim_matches('`')).is_some()
        {
            let name = cells[1].trim_matches('`');
            let want = runtime_state(name);
            if cells[5] != want {
                wrong.push(format!("{name}\t{want}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "docs/compat.md runtime column is wrong for (name, what the server does):\n{}",
        wrong.join("\n")
    );
}
