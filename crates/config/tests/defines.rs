//! The defines a loaded config reports (`Loaded::defines`, what `core.ppdefines` and `$def()` read):
//! definition order, `#!redefine` in place, `#!undef` gone, `-A` before the file's, `MOD_<name>`
//! where the `loadmodule` is.

mod common;
use common::MemHost;
use ferrosip_config::{load, LoadOptions};

#[test]
fn defines_in_definition_order() {
    let text = "#!define B 1\n#!define A \"x y\"\n#!define GONE\nloadmodule \"sl.so\"\n\
                #!redefine B 2\n#!undef GONE\n#!substdef \"/SD/val/\"\n\
                request_route { exit; }\n";
    let host = MemHost::with(&[("t.cfg", text)]);
    let opts = LoadOptions {
        defines: vec!["CLI=5".into()],
        ..LoadOptions::default()
    };
    let loaded = load("t.cfg", &opts, &host).unwrap_or_else(|f| panic!("{}", f.render()));
    let user: Vec<(&str, Option<&str>)> = loaded
        .defines
        .iter()
        .filter(|(n, _)| !n.starts_with("KAMAILIO") && n != "OS_NAME")
        .map(|(n, v)| (n.as_str(), v.as_deref()))
        .collect();
    assert_eq!(
        user,
        [
            ("CLI", Some("5")),
            ("B", Some("2")),
            ("A", Some("\"x y\"")),
            ("MOD_sl", None),
            ("SD", Some("val")),
        ]
    );
    // The predefined ones come first.
    assert!(
        loaded.defines[0].0.starts_with("KAMAILIO"),
        "{:?}",
        loaded.defines
    );
}
