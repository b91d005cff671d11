//! Debian's stock /etc/kamailio/kamailio.cfg must load with no define, each single `WITH_*` define
//! it mentions, all of them at once, and every pair of them ("every combination" is 2^22 sets for the 22 names; single,
//! all and every pair cover each define alone and each interaction between two, which is where the
//! file's nested `#!ifdef`s are). The DB features need `WITH_MYSQL` (it defines `DBURL`); a set that
//! has one without `WITH_MYSQL` must be *rejected* at the bare `DBURL`, as Kamailio does, so those sets
//! are checked for that error instead.

mod common;
use common::{in_ci, FsHost};
use ferrosip_config::{load, LoadOptions};
use std::time::Instant;

const STOCK: &str = "/etc/kamailio/kamailio.cfg";

fn stock_text() -> Option<String> {
    match std::fs::read_to_string(STOCK) {
        Ok(t) => Some(t),
        Err(e) => {
            assert!(!in_ci(), "CI is set and {STOCK} cannot be read: {e}");
            eprintln!("skipping: {STOCK} not readable ({e}); install the kamailio package");
            None
        }
    }
}

/// Every `WITH_*` name the file mentions, sorted.
fn with_defines(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| w.starts_with("WITH_"))
        .map(str::to_string)
        .collect();
    v.sort();
    v.dedup();
    v
}

fn needs_db(set: &[String]) -> bool {
    const DB: [&str; 7] = [
        "WITH_AUTH",
        "WITH_USRLOCDB",
        "WITH_ACCDB",
        "WITH_ALIASDB",
        "WITH_SPEEDDIAL",
        "WITH_MULTIDOMAIN",
        "WITH_PRESENCE",
    ];
    set.iter().any(|d| DB.contains(&d.as_str())) && !set.iter().any(|d| d == "WITH_MYSQL")
}

fn check(set: &[String]) {
    let opts = LoadOptions {
        defines: set.to_vec(),
        ..LoadOptions::default()
    };
    match load(STOCK, &opts, &FsHost) {
        Ok(l) => {
            assert!(
                !needs_db(set),
                "{set:?}: loaded but DBURL is undefined without WITH_MYSQL"
            );
            assert!(l.config.loadmodules().len() >= 20, "{set:?}");
            assert!(l.config.routes().count() >= 14, "{set:?}");
        }
        Err(f) => {
            let text = f.render();
            assert!(
                needs_db(set) && text.contains("DBURL"),
                "{set:?} failed:\n{text}"
            );
        }
    }
}

#[test]
fn stock_config_define_sets() {
    let Some(text) = stock_text() else { return };
    let defs = with_defines(&text);
    assert!(
        defs.len() >= 15,
        "expected the WITH_* switches, found {defs:?}"
    );
    check(&[]);
    for d in &defs {
        check(std::slice::from_ref(d));
    }
    check(&defs);
    for (i, a) in defs.iter().enumerate() {
        for b in &defs[i + 1..] {
            check(&[a.clone(), b.clone()]);
        }
    }
}

#[test]
fn stock_config_content() {
    let Some(_) = stock_text() else { return };
    let l = match load(STOCK, &LoadOptions::default(), &FsHost) {
        Ok(l) => l,
        Err(f) => panic!("{}", f.render()),
    };
    let params: Vec<(&str, String)> = l
        .config
        .global_params()
        .map(|(n, v)| (n, format!("{v:?}")))
        .collect();
    assert!(params.contains(&("debug", "Int(2)".into())), "{params:?}");
    assert!(params.contains(&("log_stderror", "Bool(false)".into())));
    assert!(params.contains(&("log_facility", "Ident(\"LOG_LOCAL0\")".into())));
    assert!(params.contains(&("children", "Int(8)".into())));
    let mods: Vec<&str> = l.config.loadmodules().iter().map(|m| m.0).collect();
    assert_eq!(&mods[..4], ["jsonrpcs", "kex", "corex", "tm"]);
    let with_all = LoadOptions {
        defines: vec![
            "WITH_MYSQL".into(),
            "WITH_AUTH".into(),
            "WITH_IPAUTH".into(),
        ],
        ..LoadOptions::default()
    };
    let l = load(STOCK, &with_all, &FsHost).unwrap_or_else(|f| panic!("{}", f.render()));
    let mods: Vec<&str> = l.config.loadmodules().iter().map(|m| m.0).collect();
    assert!(
        mods.contains(&"permissions") && mods.contains(&"db_mysql"),
        "{mods:?}"
    );
    // The ACC log_extra value is two adjacent literals joined by the lexer.
    let extra = l
        .config
        .modparams()
        .find(|m| m.param == "log_extra")
        .map(|m| format!("{:?}", m.value));
    assert_eq!(
        extra.as_deref(),
        Some("Str(\"src_user=$fU;src_domain=$fd;src_ip=$si;dst_ouser=$tU;dst_user=$rU;dst_domain=$rd\")")
    );
}

/// Parse-time measurement (target < 20 ms); run with `--nocapture` to see the number.
#[test]
fn stock_config_parse_time() {
    let Some(_) = stock_text() else { return };
    let opts = LoadOptions::default();
    let mut best = u128::MAX;
    for _ in 0..20 {
        let t = Instant::now();
        let r = load(STOCK, &opts, &FsHost);
        let us = t.elapsed().as_micros();
        assert!(r.is_ok());
        best = best.min(us);
    }
    println!("stock kamailio.cfg load (read+preprocess+parse): best of 20 = {best} µs");
}
