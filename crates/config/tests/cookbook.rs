//! Every config example of the Kamailio 6.0 core cookbook (tests/cookbook/examples.txt, extracted and
//! repaired by hand) must load without errors.

mod common;
use common::in_ci;
use ferrosip_config::ast::{Expr, Item, Stmt};
use ferrosip_config::{load_text, Host, LoadOptions};

/// Files from disk (for include examples), a fixed environment (for `#!defenv`).
struct CookbookHost;

impl Host for CookbookHost {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        std::fs::read(path)
    }
    fn env(&self, name: &str) -> Option<String> {
        match name {
            "SHELL" => Some("/bin/bash".into()),
            "DBURL" => Some("mysql://u:p@localhost/k".into()),
            _ => None,
        }
    }
}

fn examples() -> Vec<(String, String)> {
    let text = std::fs::read_to_string("tests/cookbook/examples.txt")
        .unwrap_or_else(|e| panic!("tests/cookbook/examples.txt: {e}"));
    let mut out: Vec<(String, String)> = Vec::new();
    let mut cur: Option<(String, bool, String)> = None;
    let flush = |c: Option<(String, bool, String)>, out: &mut Vec<(String, String)>| {
        if let Some((name, route, body)) = c {
            let body = if route {
                format!("request_route {{\n{body}}}\n")
            } else {
                body
            };
            out.push((name, body));
        }
    };
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("### ") {
            flush(cur.take(), &mut out);
            let (name, route) = match h.strip_suffix(" [route]") {
                Some(n) => (n.to_string(), true),
                None => (h.to_string(), false),
            };
            cur = Some((name, route, String::new()));
        } else if let Some((_, _, body)) = &mut cur {
            body.push_str(line);
            body.push('\n');
        }
    }
    flush(cur.take(), &mut out);
    out
}

#[test]
fn every_cookbook_example_loads() {
    let ex = examples();
    assert!(ex.len() >= 120, "only {} examples", ex.len());
    let mut failures = Vec::new();
    for (name, body) in &ex {
        let file = format!("tests/cookbook/{name}.cfg");
        if let Err(f) = load_text(&file, body.clone(), &LoadOptions::default(), &CookbookHost) {
            failures.push(format!("== {name}\n{}", f.render()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let _ = in_ci();
}

fn example(name: &str) -> ferrosip_config::Loaded {
    let (_, body) = examples()
        .into_iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| panic!("no example {name}"));
    load_text("x.cfg", body, &LoadOptions::default(), &CookbookHost)
        .unwrap_or_else(|f| panic!("{}", f.render()))
}

fn request_body(l: &ferrosip_config::Loaded) -> Vec<Stmt> {
    l.config
        .routes()
        .find(|r| r.keyword == "request_route")
        .map(|r| r.body.clone())
        .unwrap_or_default()
}

#[test]
fn defines_expand_to_values() {
    let l = example("define-values");
    let body = request_body(&l);
    let Some(Stmt::Assign { value, .. }) = body.first() else {
        panic!("{body:?}")
    };
    let Expr::Binary { right, .. } = value else {
        panic!("{value:?}")
    };
    assert!(matches!(**right, Expr::Int(123, _)), "{right:?}");
    // The multi-line define expands to an assignment and a while loop.
    let l = example("define-multiline");
    let body = request_body(&l);
    assert!(
        matches!(body.as_slice(), [Stmt::Assign { .. }, Stmt::While { .. }]),
        "{body:?}"
    );
}

#[test]
fn defexp_and_substdef_values() {
    let l = example("defexp");
    let body = request_body(&l);
    let vals: Vec<String> = body
        .iter()
        .map(|s| match s {
            Stmt::Assign { value, .. } => format!("{value:?}"),
            _ => String::new(),
        })
        .collect();
    assert!(vals[0].starts_with("Int(16,"), "{vals:?}");
    assert!(vals[1].starts_with("Str(\"16\","), "{vals:?}");
    let l = example("substdef");
    let body = request_body(&l);
    let vals: Vec<String> = body
        .iter()
        .map(|s| match s {
            Stmt::Assign { value, .. } => format!("{value:?}"),
            _ => String::new(),
        })
        .collect();
    // `#!substdef` substitutes inside strings; `#!substdefs` defines a quoted value.
    assert!(vals[0].starts_with("Str(\"myvalue\","), "{vals:?}");
    assert!(vals[1].starts_with("Str(\"my string\","), "{vals:?}");
    let l = example("subst");
    let Some(Item::ModParam(m)) = l.config.items.first() else {
        panic!()
    };
    assert_eq!(
        format!("{:?}", m.value),
        "Str(\"mysql://user:xyz@localhost/db\")"
    );
}

#[test]
fn switch_cases_and_listen_forms() {
    let l = example("stmt-switch");
    let body = request_body(&l);
    let Some(Stmt::Switch { cases, .. }) = body.get(2) else {
        panic!("{body:?}")
    };
    let labels: Vec<String> = cases.iter().map(|c| format!("{:?}", c.label)).collect();
    assert_eq!(
        labels,
        [
            "Str(\"101\")",
            "Str(\"102\")",
            "Str(\"103\")",
            "Str(\"104\")",
            "Regex(\"\\\\+49.*\")",
            "Regex(\"\\\\+33.*\")",
            "Default"
        ]
    );
    let l = example("param-listen");
    let listens: Vec<String> = l
        .config
        .global_params()
        .filter_map(|(n, v)| match v {
            ferrosip_config::ast::ParamValue::Listen(x) if n == "listen" => Some(format!(
                "{:?} {:?} {:?} {:?}",
                x.proto, x.addrs, x.port, x.advertise
            )),
            _ => None,
        })
        .collect();
    assert_eq!(
        listens,
        [
            "None [\"10.10.10.10\"] None None",
            "None [\"eth1\"] Some(5062) None",
            "Some(\"udp\") [\"10.10.10.10\"] Some(5064) None",
            "Some(\"udp\") [\"2a02:1850:1:1::18\"] Some(5060) None",
            "Some(\"udp\") [\"10.10.10.10\"] Some(5060) Some((\"11.11.11.11\", Some(5060)))",
        ]
    );
}
