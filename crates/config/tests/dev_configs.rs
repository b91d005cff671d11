//! Real-world configs (`../shared/corpus/dev-configs.tsv`): every config Kamailio 5.6.3 accepts after
//! its listed deployment fix-ups must load, every one it rejects for syntax must be rejected at the
//! same line. The repositories are not in this tree (they are fetched and never committed):
//! `scripts/dev-configs.sh SOURCES` exports them into `scratch/dev-configs/`, applies the fix-ups and
//! writes `scratch/dev-configs/manifest.tsv`, one row per config:
//! `id  file  defines(space separated -A values)  expected(ok|error)  expected_line|-  note`.
//! Hence `#[ignore]`: CI cannot fetch. Run with
//! `cargo test -p ferrosip-config --test dev_configs -- --ignored --nocapture`; the table it prints is
//! recorded in docs/config-frontend.md.

mod common;
use common::FsHost;
use ferrosip_config::{load, LoadOptions};

struct Row {
    id: String,
    file: String,
    defines: Vec<String>,
    /// `(file, line)` of Kamailio's first syntax error, or `None` when Kamailio accepts the syntax.
    want_error: Option<(String, usize)>,
    note: String,
}

fn manifest() -> Result<Vec<Row>, String> {
    // Another manifest of the same shape (e.g. mutants of these configs) may be given instead.
    let path = std::env::var("DEV_CONFIGS_MANIFEST").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../scratch/dev-configs/manifest.tsv"
        )
        .to_string()
    });
    let path = path.as_str();
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!("{path}: {e} — run scripts/dev-configs.sh with the fetched repositories first")
    })?;
    let mut rows = Vec::new();
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let f: Vec<&str> = line.split('\t').collect();
        let [id, file, defines, want, want_line, rest @ ..] = f.as_slice() else {
            return Err(format!(
                "{path}:{}: needs at least 5 tab-separated fields",
                n + 1
            ));
        };
        let want_error = match *want {
            "ok" => None,
            "error" => {
                // `LINE` (in the entry file) or `FILE:LINE` (FILE relative to the entry's folder).
                let (f, l) = match want_line.rsplit_once(':') {
                    Some((f, l)) => {
                        let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
                        (format!("{dir}/{f}"), l)
                    }
                    None => (file.to_string(), *want_line),
                };
                let l = l
                    .parse()
                    .map_err(|_| format!("{path}:{}: bad expected line `{want_line}`", n + 1))?;
                Some((f, l))
            }
            other => return Err(format!("{path}:{}: bad verdict `{other}`", n + 1)),
        };
        rows.push(Row {
            id: id.to_string(),
            file: file.to_string(),
            defines: defines.split_whitespace().map(str::to_string).collect(),
            want_error,
            note: rest.first().unwrap_or(&"").to_string(),
        });
    }
    Ok(rows)
}

/// Our verdict: `Ok(())` or the first error as `file:line` and its rendered text.
fn ours(row: &Row) -> Result<(), (String, usize, String)> {
    let opts = LoadOptions {
        defines: row.defines.clone(),
        os_name: "linux".into(),
        ..LoadOptions::default()
    };
    match load(&row.file, &opts, &FsHost) {
        Ok(_) => Ok(()),
        Err(f) => {
            // Kamailio checks the `#!ifdef`/`#!endif` balance only after a successful parse, and
            // reports it without a line; we report it at the unclosed `#!ifdef`. It is not the
            // line to compare.
            let first = f.diagnostics.iter().find(|d| {
                !d.message()
                    .starts_with("different number of preprocessor directives")
            });
            let (name, line) = first
                .and_then(|d| d.span)
                .map(|s| {
                    let l = f.sources.locate(s);
                    (l.file_name.to_string(), l.line)
                })
                .unwrap_or_default();
            Err((name, line, f.render()))
        }
    }
}

#[test]
#[ignore = "needs the fetched repositories: run scripts/dev-configs.sh SOURCES (see the file's doc)"]
fn dev_configs_agree_with_kamailio() {
    let rows = match manifest() {
        Ok(r) => r,
        Err(e) => panic!("{e}"),
    };
    assert!(!rows.is_empty(), "empty manifest");
    let mut bad = Vec::new();
    println!("| id | Kamailio 5.6.3 (after fix-ups) | ours | agree | note |");
    println!("|---|---|---|---|---|");
    for row in &rows {
        let got = ours(row);
        let kam = match &row.want_error {
            None => "ok (syntax)".to_string(),
            Some((f, l)) => format!("syntax error, {}:{l}", short(f)),
        };
        let (shown, agree) = match (&got, &row.want_error) {
            (Ok(()), None) => ("ok".to_string(), true),
            (Err((file, line, _)), Some((wf, wl))) => (
                format!("error, {}:{line}", short(file)),
                line == wl && same_file(file, wf),
            ),
            (Ok(()), Some(_)) => ("ok".to_string(), false),
            (Err((file, line, _)), None) => (format!("error, {}:{line}", short(file)), false),
        };
        println!(
            "| {} | {kam} | {shown} | {} | {} |",
            row.id,
            if agree { "yes" } else { "**no**" },
            row.note
        );
        if !agree {
            let text = match &got {
                Err((_, _, t)) => t.clone(),
                Ok(()) => "loaded".into(),
            };
            bad.push(format!("{} ({}):\n{text}", row.id, row.file));
        }
    }
    assert!(
        bad.is_empty(),
        "{} of {} rows disagree:\n{}",
        bad.len(),
        rows.len(),
        bad.join("\n")
    );
}

/// Our diagnostics name an included file by the path we opened it with (possibly relative to the
/// including file's folder); compare whole paths when both are absolute, else the file names.
fn same_file(ours: &str, want: &str) -> bool {
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    if ours.starts_with('/') {
        ours == want
    } else {
        base(ours) == base(want)
    }
}

/// The path inside the row's folder (`…/scratch/dev-configs/<id>/x/y.cfg` → `x/y.cfg`).
fn short(file: &str) -> &str {
    file.split("/scratch/dev-configs/")
        .nth(1)
        .and_then(|r| r.split_once('/'))
        .map_or(file, |(_, p)| p)
}
