//! Compatibility-mode lines and how they change the reading of `$` (Kamailio's `sr_cfg_compat`):
//! the default mode and `#!MAXCOMPAT`/`#!ALL` read `$f.x` and `$x[1]` as core attributes, `#!KAMAILIO`
//! never does, `#!SER` reads every `$name` as an attribute (only `$?`, `$rc`, `$retcode` stay
//! pseudo-variables) and refuses `$(…)`; `%name` is an attribute in every mode. The verdicts of
//! the accept/refuse rows were checked with `kamailio -c` (5.6.3).

use ferrosip_config::ast::{AttrClass, AttrIndex, Expr, Item, Stmt};
use ferrosip_config::{load_text, Host, LoadOptions};

struct NoFiles;

impl Host for NoFiles {
    fn read_file(&self, _path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::from(std::io::ErrorKind::NotFound))
    }
    fn env(&self, _name: &str) -> Option<String> {
        None
    }
}

/// What the target of the first statement of `request_route` became: `attr:<class>.<name><index>`
/// or `pv:<name>`; `Err` with the first error message when the config is refused.
fn first_target(mode: &str, stmt: &str) -> Result<String, String> {
    let head = if mode.is_empty() {
        String::new()
    } else {
        format!("#!{mode}\n")
    };
    let text = format!("{head}request_route {{\n  {stmt}\n}}\n");
    let loaded = load_text("m.cfg", text, &LoadOptions::default(), &NoFiles)
        .map_err(|f| f.diagnostics[0].message())?;
    let body = loaded
        .config
        .items
        .iter()
        .find_map(|i| match i {
            Item::Route(r) => Some(r.body.clone()),
            _ => None,
        })
        .ok_or("no route")?;
    let pv = match body.first() {
        Some(Stmt::Assign {
            target: Expr::Pv(p),
            ..
        }) => p.clone(),
        other => return Err(format!("not an assignment: {other:?}")),
    };
    Ok(match pv.attr {
        Some(a) => {
            let idx = match a.index {
                AttrIndex::None => String::new(),
                AttrIndex::All => "[]".into(),
                AttrIndex::At(n) => format!("[{n}]"),
            };
            let class = if a.class == AttrClass::None {
                "-"
            } else {
                a.class.prefix()
            };
            format!("attr:{class}.{}{idx}", a.name)
        }
        None => format!("pv:{}", pv.name),
    })
}

#[test]
fn compat_mode_lines() {
    for mode in ["KAMAILIO", "OPENSER", "MAXCOMPAT", "ALL", "SER"] {
        let text = format!("#!{mode}\nrequest_route {{\n  exit;\n}}\n");
        assert!(
            load_text("m.cfg", text, &LoadOptions::default(), &NoFiles).is_ok(),
            "#!{mode}"
        );
    }
}

#[test]
fn dollar_per_mode() {
    // (mode line, statement, expected target or the start of the error message)
    let rows: &[(&str, &str, Result<&str, &str>)] = &[
        ("", "$x = 1;", Ok("pv:x")),
        ("", "$f.x = 1;", Ok("attr:f.x")),
        ("", "$fu.x = 1;", Ok("attr:fu.x")),
        ("", "$x[] = 1;", Ok("attr:-.x[]")),
        ("", "$ru = 1;", Ok("pv:ru")),
        ("", "$var(x) = 1;", Ok("pv:var")),
        ("", "%x = 1;", Ok("attr:-.x")),
        ("", "%t.x = 1;", Ok("attr:t.x")),
        ("MAXCOMPAT", "$tr.x = 1;", Ok("attr:tr.x")),
        ("KAMAILIO", "$f.x = 1;", Ok("pv:f.x")),
        ("KAMAILIO", "%x = 1;", Ok("attr:-.x")),
        ("SER", "$x = 1;", Ok("attr:-.x")),
        ("SER", "$ru = 1;", Ok("attr:-.ru")),
        ("SER", "$null = 1;", Ok("attr:-.null")),
        ("SER", "$var = 1;", Ok("attr:-.var")),
        ("SER", "$t.k = 1;", Ok("attr:t.k")),
        ("SER", "$fd.k = 1;", Ok("attr:fd.k")),
        ("SER", "$x [ ] = 1;", Ok("attr:-.x[]")),
        ("SER", "$x[1] = 1;", Err("an attribute with a position")),
        ("SER", "$rc = 1;", Err("`$rc` is read-only")),
        ("SER", "$var(x) = 1;", Err("expected a statement")),
        ("SER", "$(x) = 1;", Err("`$(` under #!SER")),
        ("SER", "$fu = 1;", Err("`$fu` is an attribute class")),
        ("SER", "$g.g = 1;", Err("bad attribute `$g.g`")),
        ("SER", "$f. = 1;", Err("bad attribute `$f.`")),
        ("SER", "$ x = 1;", Ok("attr:-.x")),
        ("SER", "$ = 1;", Err("expected an attribute name after `$`")),
        (
            "SER",
            "$1 = 1;",
            Err("expected an attribute name after `$`"),
        ),
    ];
    for (mode, stmt, want) in rows {
        let got = first_target(mode, stmt);
        match (want, &got) {
            (Ok(w), Ok(g)) => assert_eq!(g, w, "#!{mode} {stmt}"),
            (Err(w), Err(g)) => assert!(g.contains(w), "#!{mode} {stmt}: {g}"),
            _ => panic!("#!{mode} {stmt}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn attribute_indexes_in_expressions() {
    for (mode, expr, ok) in [
        ("SER", "$x[1]", true),
        ("SER", "$x[-2]", true),
        ("SER", "$x []", true),
        ("SER", "$x[*]", false),
        ("SER", "$x[$y]", false),
        ("SER", "$rc", true),
        ("SER", "$?", true),
        ("SER", "$retcode", true),
        ("", "$x[1]", true),
        ("", "%x[-1]", true),
        ("KAMAILIO", "%x[1]", true),
    ] {
        let got = first_target(mode, &format!("$y = {expr};"));
        // The target is `$y`: an attribute under #!SER, an unknown PV otherwise.
        assert_eq!(got.is_ok(), ok, "#!{mode} {expr}: {got:?}");
    }
}

#[test]
fn mode_switches_at_the_line() {
    // Kamailio switches at the mode line: `$x` before `#!SER` is a PV, after it an attribute,
    // and `#!KAMAILIO` switches back.
    let text = "request_route {\n  $a = 1;\n#!SER\n  $b = 1;\n#!KAMAILIO\n  $c = 1;\n}\n";
    let loaded = load_text("m.cfg", text.into(), &LoadOptions::default(), &NoFiles)
        .unwrap_or_else(|f| panic!("{:?}", f.diagnostics));
    let Some(Item::Route(r)) = loaded.config.items.first() else {
        panic!("no route");
    };
    let kinds: Vec<bool> = r
        .body
        .iter()
        .map(|s| matches!(s, Stmt::Assign { target: Expr::Pv(p), .. } if p.attr.is_some()))
        .collect();
    assert_eq!(kinds, [false, true, false]);
}
