//! Hostile input must end with diagnostics, never with a stack overflow, a hang or a panic. These run
//! on the test harness's threads (2 MiB stacks), smaller than a worker's.

mod common;
use common::MemHost;
use ferrosip_config::{cfg_print, load, LoadOptions};

/// Ok(rendered warnings) or Err(rendered errors).
fn run(text: &str) -> Result<String, String> {
    let host = MemHost::with(&[("t.cfg", text)]);
    let opts = LoadOptions::default();
    let _ = cfg_print("t.cfg", &opts, &host);
    match load("t.cfg", &opts, &host) {
        Ok(l) => Ok(l.warnings.iter().map(|w| w.render(&l.sources)).collect()),
        Err(f) => Err(f.render()),
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 20_000;
    let cases = [
        (
            "parentheses",
            format!(
                "request_route {{\n$var(x) = {}1{};\n}}\n",
                "(".repeat(n),
                ")".repeat(n)
            ),
            "nesting deeper than 64 levels",
        ),
        (
            "unary operators",
            format!("request_route {{\nif ({}1) exit;\n}}\n", "!".repeat(n)),
            "nesting deeper than 64 levels",
        ),
        (
            "blocks",
            format!(
                "request_route {{\n{}exit;{}\n}}\n",
                "if (1) {".repeat(n),
                "}".repeat(n)
            ),
            "nesting deeper than 64 levels",
        ),
        (
            "ifexp parentheses",
            format!(
                "#!ifexp {}1{}\ndebug=2\n#!endif\ndebug=3\n",
                "(".repeat(n),
                ")".repeat(n)
            ),
            "expression nested too deeply; taken as false",
        ),
        (
            "subst groups",
            format!("#!subst \"/{}a{}/b/\"\n", "(".repeat(n), ")".repeat(n)),
            "regular expression nested too deeply",
        ),
    ];
    for (what, text, want) in cases {
        // A bad `#!ifexp` is a warning in Kamailio (the region is skipped); the rest are errors.
        let (Ok(r) | Err(r)) = run(&text);
        assert!(r.contains(want), "{what}: {r}");
        assert_eq!(run(&text).is_ok(), what == "ifexp parentheses", "{what}");
    }
}

#[test]
fn long_subst_matches_end() {
    // A greedy repetition over a long string: bounded recursion, the substitution still applies
    // to a short string.
    let long = "a".repeat(50_000);
    let text = format!(
        "#!subst \"/a*b/X/\"\nlog_name=\"{long}\"\nlog_prefix=\"aab\"\nrequest_route {{\nexit;\n}}\n"
    );
    let host = MemHost::with(&[("t.cfg", &text)]);
    let l =
        load("t.cfg", &LoadOptions::default(), &host).unwrap_or_else(|f| panic!("{}", f.render()));
    let prefix = l
        .config
        .global_params()
        .find(|(n, _)| *n == "log_prefix")
        .and_then(|(_, v)| v.as_str().map(str::to_string));
    assert_eq!(prefix.as_deref(), Some("X"));
}

#[test]
fn self_including_file_stops_at_depth_limit() {
    let host = MemHost::with(&[("t.cfg", "include_file \"t.cfg\"\ninclude_file \"t.cfg\"\n")]);
    let f = match load("t.cfg", &LoadOptions::default(), &host) {
        Ok(_) => panic!("accepted"),
        Err(f) => f.render(),
    };
    assert!(f.contains("too many nested includes (limit 10)"), "{f}");
}

#[test]
fn error_count_is_capped_with_a_final_note() {
    let text = "no_such_param=1\n".repeat(200);
    let Err(r) = run(&text) else {
        panic!("accepted")
    };
    assert_eq!(r.matches("unknown core parameter").count(), 50, "{r}");
    assert!(
        r.ends_with("error: too many errors: stopped after 50\n"),
        "{r}"
    );
}
