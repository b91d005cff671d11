//! textopsx: (message, calls) → return code, message after the edits, iterator variables.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::RouteType;

const REPLY: &str = "SIP/2.0 183 Session Progress\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>;tag=b1\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Content-Length: 0\r\n\r\n";

#[test]
fn apply_changes_makes_edits_visible() {
    let reg = registry(&[]);
    // before msg_apply_changes the added header is invisible; after it, it can be removed
    let steps: &[(&str, &[&str])] = &[("append_hf", &["X-A: 1\r\n"]), ("is_present_hf", &["X-A"])];
    assert_eq!(
        call_with(&reg, INVITE, RouteType::Request, 3, steps, &|_| {}).rc,
        -1
    );
    let steps: &[(&str, &[&str])] = &[
        ("append_hf", &["X-A: 1\r\n"]),
        ("msg_apply_changes", &[]),
        ("is_present_hf", &["X-A"]),
    ];
    assert_eq!(
        call_with(&reg, INVITE, RouteType::Request, 3, steps, &|_| {}).rc,
        1
    );
    // the R-URI change is written into the message and the script sees it
    let steps: &[(&str, &[&str])] = &[
        ("subst_uri", &["/bob/carol/"]),
        ("msg_apply_changes", &[]),
        ("search", &["^INVITE sip:carol@example.com"]),
    ];
    let o = call_with(&reg, INVITE, RouteType::Request, 3, steps, &|_| {});
    assert_eq!((o.rc, o.ruri.as_str()), (1, "sip:carol@example.com"));
    assert!(o
        .out
        .starts_with("INVITE sip:carol@example.com SIP/2.0\r\n"));
    // nothing to apply: 1, message unchanged
    let o = call(&reg, INVITE, "msg_apply_changes", &[]);
    assert_eq!((o.rc, o.out.as_str()), (1, INVITE));
}

#[test]
fn set_buffer_and_bodies() {
    let reg = registry(&[]);
    let o = call(&reg, INVITE, "msg_set_buffer", &[REPLY]);
    assert_eq!((o.rc, o.out.as_str()), (1, REPLY));
    let o = call(&reg, INVITE, "msg_set_buffer", &["not sip"]);
    assert_eq!((o.rc, o.out.as_str()), (-1, INVITE));
    let o = call(&reg, INVITE, "remove_body", &[]);
    assert_eq!(o.rc, 1);
    assert!(o.out.ends_with("Content-Length: 0\r\n\r\n"), "{}", o.out);
    assert_eq!(call(&reg, REPLY, "remove_body", &[]).rc, 1);
}

#[test]
fn reply_status() {
    let reg = registry(&[]);
    // (function, args, rc, first line after)
    let cases: &[(&str, &[&str], i64, &str)] = &[
        (
            "change_reply_status",
            &["180", "Ringing"],
            1,
            "SIP/2.0 180 Ringing\r\n",
        ),
        (
            "change_reply_status",
            &["200", "OK"],
            -1,
            "SIP/2.0 183 Session Progress\r\n",
        ),
        (
            "change_reply_status",
            &["180", ""],
            -1,
            "SIP/2.0 183 Session Progress\r\n",
        ),
        (
            "change_reply_status_code",
            &["181"],
            1,
            "SIP/2.0 181 Session Progress\r\n",
        ),
        (
            "change_reply_status_code",
            &["99"],
            -1,
            "SIP/2.0 183 Session Progress\r\n",
        ),
    ];
    for (f, args, rc, first) in cases {
        let o = call_with(&reg, REPLY, RouteType::TmOnReply, 3, &[(f, args)], &|_| {});
        assert_eq!(o.rc, *rc, "{f}{args:?}");
        assert!(o.out.starts_with(first), "{f}{args:?}: {}", o.out);
    }
    let neg = REPLY.replace("183 Session Progress", "486 Busy Here");
    let o = call_with(
        &reg,
        &neg,
        RouteType::CoreOnReply,
        3,
        &[("change_reply_status", &["603", "Decline"])],
        &|_| {},
    );
    assert_eq!(o.rc, 1);
    assert!(o.out.starts_with("SIP/2.0 603 Decline\r\n"));
}

#[test]
fn keep_hf_and_fnmatch() {
    let reg = registry(&[]);
    let o = call(&reg, INVITE, "keep_hf", &["^subject$"]);
    assert_eq!(o.rc, -1, "Kamailio's keep_hf always returns -1");
    assert_eq!(
        o.out, INVITE,
        "nothing but Subject is optional in the test INVITE"
    );
    let with_x = INVITE.replace("Subject:", "X-Drop: 1\r\nSubject:");
    assert_eq!(call(&reg, &with_x, "keep_hf", &["^subject$"]).out, INVITE);
    assert!(
        prepare(&reg, "keep_hf", &[]).is_err(),
        "keep_hf() is refused, as by Kamailio"
    );
    let cases: &[(&[&str], i64)] = &[
        (&["sip:bob@example.com", "sip:*@example.com"], 1),
        (&["sip:bob@example.com", "SIP:*"], -1),
        (&["sip:bob@example.com", "SIP:*", "i"], 1),
        (&["abc", "a?c", "x"], 1),
    ];
    for (args, rc) in cases {
        assert_eq!(call(&reg, INVITE, "fnmatch", args).rc, *rc, "{args:?}");
    }
}

#[test]
fn iterators_and_variables() {
    let reg = registry(&[]);
    let steps: &[(&str, &[&str])] = &[
        ("hf_iterator_start", &["i"]),
        ("hf_iterator_next", &["i"]),
        ("hf_iterator_next", &["i"]),
        ("xlog", &["L_ERR", "$hfitname(i)=$hfitbody(i)"]),
        ("hf_iterator_prev", &["i"]),
        ("xlog", &["L_ERR", "$hfitname(i)"]),
        ("hf_iterator_rm", &["i"]),
        ("bl_iterator_start", &["b"]),
        ("bl_iterator_next", &["b"]),
        ("bl_iterator_next", &["b"]),
        ("xlog", &["L_ERR", "[$blitval(b)]"]),
        ("bl_iterator_insert", &["b", "x=0\r\n"]),
        ("bl_iterator_next", &["b"]),
    ];
    let o = call_with(&reg, INVITE, RouteType::Request, 3, steps, &|_| {});
    let lines: Vec<&str> = o.script.iter().map(|x| x.1.as_str()).collect();
    assert_eq!(lines, vec!["Max-Forwards=70", "Via", "[ab=1\r\n]"]);
    assert_eq!(o.rc, -1, "past the last body line");
    let want = INVITE
        .replace("Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n", "")
        .replace(
            "Content-Length: 11\r\n\r\nv=0\r\nab=1",
            "Content-Length: 16\r\n\r\nv=0\r\nx=0\r\nab=1",
        );
    assert_eq!(o.out, want);
    // unknown iterator names and ends
    for (f, rc) in [
        ("hf_iterator_next", -1),
        ("hf_iterator_end", -1),
        ("bl_iterator_next", -1),
    ] {
        assert_eq!(call(&reg, INVITE, f, &["nope"]).rc, rc, "{f}");
    }
    let steps: &[(&str, &[&str])] = &[
        ("hf_iterator_start", &["i"]),
        ("hf_iterator_end", &["i"]),
        ("xlog", &["L_ERR", "$hfitname(i)"]),
    ];
    let o = call_with(&reg, INVITE, RouteType::Request, 3, steps, &|_| {});
    assert_eq!(o.script.first().map(|x| x.1.as_str()), Some("<null>"));
}

#[test]
fn refused_at_load() {
    let reg = registry(&[]);
    for (f, args) in [
        ("msg_changed_route", &["r"][..]),
        ("append_hf_value", &["foo.bar", "x"]),
        ("append_hf_value", &["foo[*]", "x"]),
        ("assign_hf_value", &["foo[*]", "x"]),
        ("insert_hf_value", &["foo.bar", "x"]),
        ("assign_hf_value2", &["foo[*]", "x"]),
        ("hf_value_exists", &["foo[1]", "x"]),
        ("include_hf_value", &["foo.bar", "x"]),
    ] {
        let e = prepare(&reg, f, args).err().unwrap_or_default();
        assert!(
            e.contains("not implemented yet")
                || e.contains("plain name")
                || e.contains("[*]")
                || e.contains("not allowed"),
            "{f}: {e}"
        );
    }
}

/// (function, header, value, rc, replacement giving the expected message)
type HfvCase = (
    &'static str,
    &'static str,
    &'static str,
    i64,
    (&'static str, &'static str),
);

#[test]
fn hf_value_lists() {
    let reg = registry(&[]);
    let msg = INVITE.replace(
        "Subject: Hello There\r\n",
        "Subject: Hello There\r\nSupported: path, 100rel , timer\r\nRequire: x\r\n",
    );
    let cases: &[HfvCase] = &[
        ("include_hf_value", "Supported", "PATH", 1, ("", "")),
        (
            "include_hf_value",
            "Supported",
            "gruu",
            1,
            ("timer\r\n", "timer,gruu\r\n"),
        ),
        (
            "include_hf_value",
            "Allow",
            "INVITE",
            1,
            (
                "Content-Length: 11\r\n",
                "Content-Length: 11\r\nAllow: INVITE\r\n",
            ),
        ),
        (
            "exclude_hf_value",
            "Supported",
            "path",
            1,
            ("path, 100rel", " 100rel"),
        ),
        (
            "exclude_hf_value",
            "Supported",
            "100rel",
            1,
            ("path, 100rel , timer", "path, timer"),
        ),
        (
            "exclude_hf_value",
            "Supported",
            "timer",
            1,
            ("100rel , timer", "100rel "),
        ),
        (
            "exclude_hf_value",
            "Require",
            "X",
            1,
            ("Require: x\r\n", ""),
        ),
        ("exclude_hf_value", "Supported", "nope", 1, ("", "")),
        ("hf_value_exists", "k", "Timer", 1, ("", "")),
        ("hf_value_exists", "Supported", "nope", -1, ("", "")),
        ("hf_value_exists", "Supported", "", -1, ("", "")),
    ];
    for (f, h, v, rc, (a, b)) in cases {
        let o = call(&reg, &msg, f, &[h, v]);
        assert_eq!(o.rc, *rc, "{f}({h}, {v})");
        assert_eq!(o.out, msg.replacen(a, b, 1), "{f}({h}, {v})");
    }
}

#[test]
fn hf_value_editors() {
    let reg = registry(&[]);
    let msg = INVITE.replace(
        "Subject: Hello There\r\n",
        "Subject: Hello There\r\nSupported: path, 100rel\r\nSupported: c\r\n",
    );
    // (function, args, rc, replacement giving the expected message)
    let cases: &[HfvEdit] = &[
        (
            "append_hf_value",
            &["Supported", "v"],
            1,
            ("Supported: c\r\n", "Supported: c\r\n"),
        ),
        (
            "append_hf_value",
            &["Supported[1]", "v"],
            1,
            ("path, 100rel", "path,v, 100rel"),
        ),
        (
            "append_hf_value",
            &["Supported[-1]", "v"],
            1,
            ("Supported: c\r\n", "Supported: c,v\r\n"),
        ),
        (
            "insert_hf_value",
            &["Supported", "v"],
            1,
            ("Supported: path", "Supported: v\r\nSupported: path"),
        ),
        (
            "insert_hf_value",
            &["Supported[2]", "v"],
            1,
            ("path, 100rel", "path,v, 100rel"),
        ),
        ("insert_hf_value", &["X-None[2]", "v"], -1, ("", "")),
        (
            "remove_hf_value",
            &["Supported"],
            1,
            ("path, 100rel", " 100rel"),
        ),
        (
            "remove_hf_value",
            &["Supported[2]"],
            1,
            ("path, 100rel", "path"),
        ),
        (
            "remove_hf_value",
            &["Supported[3]"],
            1,
            ("Supported: c\r\n", ""),
        ),
        ("remove_hf_value", &["Supported[4]"], -1, ("", "")),
        (
            "remove_hf_value",
            &["Supported[*]"],
            1,
            ("Supported: path, 100rel\r\nSupported: c\r\n", ""),
        ),
        (
            "assign_hf_value",
            &["Supported[-1]", "x"],
            1,
            ("Supported: c\r\n", "Supported: x\r\n"),
        ),
        (
            "remove_hf_value2",
            &["Supported[1]"],
            1,
            ("Supported: path, 100rel\r\n", ""),
        ),
        (
            "assign_hf_value2",
            &["k[2]", "all"],
            1,
            ("Supported: c\r\n", "Supported: all\r\n"),
        ),
    ];
    for (f, args, rc, (a, b)) in cases {
        let o = call(&reg, &msg, f, args);
        assert_eq!(o.rc, *rc, "{f}{args:?}");
        let want = if a.is_empty() {
            msg.clone()
        } else if *f == "append_hf_value" && args == &["Supported", "v"] {
            msg.replace(
                "Content-Length: 11\r\n",
                "Content-Length: 11\r\nSupported: v\r\n",
            )
        } else {
            msg.replacen(a, b, 1)
        };
        assert_eq!(o.out, want, "{f}{args:?}");
    }
}

/// (function, args, rc, replacement giving the expected message)
type HfvEdit = (
    &'static str,
    &'static [&'static str],
    i64,
    (&'static str, &'static str),
);

#[test]
fn hf_value_params() {
    let reg = registry(&[]);
    let msg = INVITE.replace(
        "Subject: Hello There\r\n",
        "Subject: Hello There\r\nX-P: <sip:a@b;lr>;foo=1;bar, v;foo=\"q v\"\r\n",
    );
    let cases: &[HfvEdit] = &[
        ("remove_hf_value", &["X-P.foo"], 1, (";foo=1", "")),
        ("remove_hf_value", &["X-P[2].foo"], 1, (";foo=\"q v\"", "")),
        ("remove_hf_value", &["X-P.lr"], -1, ("", "")),
        (
            "assign_hf_value",
            &["X-P.foo", "2"],
            1,
            (";foo=1", ";foo=2"),
        ),
        ("assign_hf_value", &["X-P.foo", ""], 1, (";foo=1", ";foo")),
        (
            "assign_hf_value",
            &["X-P.new", "n"],
            1,
            (";bar,", ";bar;new=n,"),
        ),
        (
            "assign_hf_value",
            &["X-P[-1].bar", ""],
            1,
            ("\"q v\"\r\n", "\"q v\";bar\r\n"),
        ),
    ];
    for (f, args, rc, (a, b)) in cases {
        let o = call(&reg, &msg, f, args);
        assert_eq!(o.rc, *rc, "{f}{args:?}");
        assert_eq!(
            o.out,
            if a.is_empty() {
                msg.clone()
            } else {
                msg.replacen(a, b, 1)
            },
            "{f}{args:?}"
        );
    }
    let o = call(&reg, &msg, "remove_hf_value", &["X-P[*].foo"]);
    assert_eq!(o.rc, 1);
    assert!(o.out.contains("X-P: <sip:a@b;lr>;bar, v\r\n"), "{}", o.out);
}

#[test]
fn hf_value2_params() {
    let reg = registry(&[]);
    let msg = INVITE.replace(
        "Subject: Hello There\r\n",
        "Subject: Hello There\r\nX-Auth: Digest a=\"1\", b=2\r\n",
    );
    let cases: &[HfvEdit] = &[
        ("remove_hf_value2", &["X-Auth.a"], 1, ("a=\"1\",", "")),
        ("remove_hf_value2", &["X-Auth.b"], 1, (", b=2", "")),
        ("assign_hf_value2", &["X-Auth.b", "3"], 1, ("b=2", "b=3")),
        (
            "assign_hf_value2",
            &["X-Auth.c", "4"],
            1,
            ("b=2\r\n", "b=2,c=4\r\n"),
        ),
        ("remove_hf_value2", &["X-Auth.z"], -1, ("", "")),
    ];
    for (f, args, rc, (a, b)) in cases {
        let o = call(&reg, &msg, f, args);
        assert_eq!(o.rc, *rc, "{f}{args:?}");
        assert_eq!(
            o.out,
            if a.is_empty() {
                msg.clone()
            } else {
                msg.replacen(a, b, 1)
            },
            "{f}{args:?}"
        );
    }
}
