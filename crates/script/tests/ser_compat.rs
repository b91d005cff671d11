//! Core attributes (`$x` in the default mode, `%x`, `$f.x`, `$x[n]`, every `$x` under `#!SER`):
//! the core's own rules, which differ from `$avp(x)`. Every expected line comes from a run of
//! Kamailio 5.6.3 with the same statements (xlog in place of the test-only `rec()`); the configs
//! and outputs are quoted in docs/runtime.md "SER compatibility mode".

mod common;
use common::*;

/// (mode line, request_route body, expected log lines)
#[rustfmt::skip]
const CASES: &[(&str, &str, &[&str])] = &[
    // ---- default mode (Kamailio run "max1"/"max2") ----
    ("", r#"$x = 1; $x = 2; rec("[$avp(x)] [$(avp(x)[1])]");"#, &["[2] [<null>]"]),
    ("", r#"$avp(z) = 5; $avp(z) = 6; $y = $z; rec("[$avp(y)]"); if ($z == $null) rec("undef");"#, &["[<null>]", "undef"]),
    ("", r#"$f.w = 7; rec("[$avp(w)] [$avp(f.w)] [$avp(fr.w)] [$avp(s:w)]");"#, &["[7] [7] [7] [7]"]),
    // `$avp(cls.x)` names the attribute's list; an unclassed `$x` finds values in the user and
    // domain lists, and its assignment deletes the list it found.
    ("", r#"$avp(t.q) = 1; $avp(tu.q) = 2; if ($t.q == 1) rec("t.q"); if ($tu.q == 2) rec("tu.q");"#, &["t.q", "tu.q"]),
    ("", r#"$avp(fd.d) = 4; if ($d == 4) rec("d sees fd.d"); $avp(d) = $null; rec("[$avp(d)] [$avp(fd.d)]");"#, &["d sees fd.d", "[<null>] [<null>]"]),
    ("", r#"$avp(q) = 1; $avp(q) = 2; $avp(q) = 3; $a = $q[1]; $b = $q[-1]; rec("[$avp(a)] [$avp(b)]");"#, &["[1] [3]"]),
    ("", r#"$avp(m) = 1; $avp(m) = 2; $avp(m) = 3; $m1 = $m[2]; $m2 = $m[-2]; $m0 = $m[0]; $m9 = $m[9]; rec("$avp(m1) $avp(m2) $avp(m0) $avp(m9)");"#, &["2 2 <null> <null>"]),
    ("", r#"$avp(m) = 1; $avp(m) = 2; if (defined $m) rec("defined"); else rec("undefined");"#, &["undefined"]),
    ("", r#"%p = "pp"; rec("[$avp(p)]");"#, &["[pp]"]),
    ("", r#"$e = 1; $e = $nosuch; rec("[$avp(e)]");"#, &["[<null>]"]),
    ("", r#"%k = 1; $k[] = 2; rec("[$avp(k)] [$(avp(k)[1])]");"#, &["[2] [<null>]"]),
    // ---- #!SER (Kamailio runs "ser1"/"ser2") ----
    ("#!SER", r#"$x = 1; $x = 2; rec("[$avp(x)] [$(avp(x)[1])]");"#, &["[2] [<null>]"]),
    ("#!SER", r#"$ru = "sip:foo@bar"; rec("[$ru] [$avp(ru)]");"#, &["[sip:alice@example.com] [sip:foo@bar]"]),
    ("#!SER", r#"$t.k = "tk"; rec("[$avp(t.k)] [$avp(k)] [$avp(tr.k)]");"#, &["[tk] [<null>] [tk]"]),
    ("#!SER", r#"$null = 3; rec("[$avp(null)]");"#, &["[3]"]),
    ("#!SER", r#"rec("a"); if ($rc == 1) rec("rc is the return code");"#, &["a", "rc is the return code"]),
    ("#!SER", r#"$fu.u = 1; if ($u == 1) rec("found via from track"); rec("u=$avp(u) f.u=$avp(f.u) fr.u=$avp(fr.u) fu.u=$avp(fu.u)"); $u = 2; rec("u=$avp(u) fuu=$avp(fu.u)");"#, &["found via from track", "u=1 f.u=1 fr.u=<null> fu.u=1", "u=2 fuu=<null>"]),
    ("#!SER", r#"$tu.v = "tv"; rec("[$avp(v)] [$avp(t.v)] [$avp(tr.v)] [$avp(tu.v)]");"#, &["[<null>] [tv] [<null>] [tv]"]),
    ("#!SER", r#"$a = 1; $b = $a + 1; $s = "a" + $b; rec("b=$avp(b) s=$avp(s)");"#, &["b=2 s=a2"]),
    ("#!SER", r#"$tu.v = "tv"; if ($t.v == "tv") rec("to track"); if ($v == $nosuch) rec("from track does not see tu");"#, &["to track", "from track does not see tu"]),
    ("#!SER", r#"%p = 5; $p[] = 6; rec("p=$avp(p)");"#, &["p=6"]),
    ("#!SER", r#"$ x = 1; rec("x=$avp(x)");"#, &["x=1"]),
    // `$x = $y[]`: every value of the list found for `$y`, on top of `$x`'s, in `$y`'s order.
    ("", r#"$avp(y) = 1; $avp(y) = 2; $avp(y) = 3; %x = 9; %x = $y[]; rec("[$avp(x)] [$(avp(x)[1])] [$(avp(x)[2])] [$(avp(x)[3])] [$(avp(x)[4])]"); if (%x == $null) rec("several");"#, &["[3] [2] [1] [9] [<null>]", "several"]),
    ("", r#"$avp(fu.q) = "a"; $avp(fu.q) = "b"; %w = $q[]; rec("[$avp(w)] [$(avp(w)[1])] [$(avp(w)[2])] [$avp(fu.w)]");"#, &["[b] [a] [<null>] [<null>]"]),
    ("", r#"%e = 1; %e = $nosuch[]; rec("[$avp(e)] [$(avp(e)[1])]");"#, &["[1] [<null>]"]),
    ("", r#"$avp(y) = 1; $avp(y) = 2; $avp(y) = 3; %t.k = $y[]; rec("[$avp(t.k)] [$(avp(t.k)[2])] [$avp(k)]"); %y = $y[]; rec("[$avp(y)] [$(avp(y)[3])] [$(avp(y)[5])] [$(avp(y)[6])]");"#, &["[3] [1] [<null>]", "[3] [3] [1] [<null>]"]),
    ("#!SER", r#"$y = 1; $y[] = 2; $z = 5; $z = $y[]; $z[] = $y[]; rec("[$avp(z)] [$(avp(z)[1])] [$(avp(z)[2])]");"#, &["[2] [2] [5]"]),
    // A pseudo-variable target takes what `$y[]` reads: undefined, as `= $null` would give
    // (`$xavp`, `$du`, `$vz`, `$vn` targets: tests/wire_core.rs).
    ("", r#"$avp(y) = 1; $avp(y) = "two"; $var(x) = "s"; $var(x) = $y[]; rec("[$var(x)]"); if ($var(x) == 0) rec("int0"); $var(z) = $q[] + 1; rec("[$var(z)] [$(avp(y)[1])]");"#, &["[0]", "int0", "[1] [1]"]),
];

#[test]
fn attribute_semantics() {
    let mut failures = Vec::new();
    for (mode, body, want) in CASES {
        let cfg = format!("{mode}\nrequest_route {{\n{body}\n}}\n");
        let r = run(&cfg, OPTIONS);
        if r.logs != *want {
            failures.push(format!("{mode} {body}: got {:?}, want {want:?}", r.logs));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The same statements under Kamailio 5.6.3 (`rec()` becomes `xlog`), one run per case.
#[test]
fn attribute_semantics_against_kamailio() {
    if !have_kamailio() {
        return;
    }
    let mut bad = Vec::new();
    for (mode, body, want) in CASES {
        let cfg = format!("{mode}\nrequest_route {{\n{body}\n}}\n");
        let theirs = kamailio_out(&to_xlog(&cfg));
        if theirs != *want {
            bad.push(format!("{mode} {body}: kamailio {theirs:?}, ours {want:?}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn refused_at_load() {
    // (mode line, body, part of the error)
    let rows: &[(&str, &str, &str)] = &[
        // Kamailio 5.6.3: "You cannot change global attributes from the script, they are read-only".
        ("#!SER", "$g.x = 1;", "global attributes are read-only"),
        ("", "%g.x = 1;", "global attributes are read-only"),
        // Pseudo-variables do not exist under #!SER (Kamailio: syntax error).
        ("#!SER", "$x = $(ru);", "`$(` under #!SER"),
        ("#!SER", "$x = $ru(1);", "expected"),
        // #!KAMAILIO has no attribute fallback for `$name`.
        ("#!KAMAILIO", "$x = 1;", "unknown pseudo-variable `$x`"),
        // The mode in force at the statement counts, not the first mode line (Kamailio 5.6.3: "Can't
        // get from cache: $x").
        (
            "#!SER\n#!KAMAILIO",
            "$x = 1;",
            "unknown pseudo-variable `$x`",
        ),
        (
            "#!MAXCOMPAT\n#!KAMAILIO",
            "$x = 1;",
            "unknown pseudo-variable `$x`",
        ),
    ];
    for (mode, body, want) in rows {
        let cfg = format!("{mode}\nrequest_route {{\n{body}\n}}\n");
        match program(&cfg) {
            Ok(_) => panic!("{mode} {body}: accepted"),
            Err(e) => assert!(e.contains(want), "{mode} {body}: {e}"),
        }
    }
}

#[test]
fn mode_switch_back_to_the_default() {
    // `#!KAMAILIO` then `#!MAXCOMPAT`: the unknown `$x` after the second line is an attribute again
    // (Kamailio 5.6.3 accepts it).
    let r = run(
        "#!KAMAILIO\n#!MAXCOMPAT\nrequest_route {\n$x = 1; $x = 2; rec(\"[$avp(x)] [$(avp(x)[1])]\");\n}\n",
        OPTIONS,
    );
    assert_eq!(r.logs, ["[2] [<null>]"]);
}

#[test]
fn global_attributes_are_readable() {
    // Nothing in the script can set one; reading is allowed and undefined.
    let r = run(
        "#!SER\nrequest_route {\nif ($g.x == $nosuch) rec(\"undef\");\n}\n",
        OPTIONS,
    );
    assert_eq!(r.logs, ["undef"]);
}
