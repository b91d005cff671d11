//! textops: (message, call) → return code and the message bytes after the edits.

#[path = "common/harness.rs"]
mod harness;
use harness::*;

use ferrosip_api::{RouteType, Value};

/// (function, args, rc, replacements applied to INVITE to get the expected output)
type Case = (
    &'static str,
    &'static [&'static str],
    i64,
    &'static [(&'static str, &'static str)],
);

fn expect(reps: &[(&str, &str)]) -> String {
    let mut s = INVITE.to_string();
    for (a, b) in reps {
        assert!(s.contains(a), "test bug: {a:?} not in the message");
        s = s.replacen(a, b, 1);
    }
    s
}

fn run_table(cases: &[Case]) {
    let reg = registry(&[]);
    for (f, args, rc, reps) in cases {
        let o = call(&reg, INVITE, f, args);
        assert_eq!(o.rc, *rc, "{f}{args:?}");
        assert_eq!(o.out, expect(reps), "{f}{args:?}");
    }
}

#[test]
fn search_and_replace() {
    run_table(&[
        ("search", &["^subject: hello"], 1, &[]),
        ("search", &["^INVITE"], 1, &[]),
        ("search", &["nothing here"], -1, &[]),
        ("search_body", &["^ab=1"], 1, &[]),
        ("search_body", &["subject"], -1, &[]),
        ("search_hf", &["Subject", "there$", "a"], 1, &[]),
        ("search_hf", &["Subject", "^hello", "f"], 1, &[]),
        ("search_hf", &["Subject", "^there", "l"], -1, &[]),
        ("search_hf", &["X-None", ".", "a"], -1, &[]),
        (
            "search_append",
            &["Hello", " World"],
            1,
            &[("Hello There", "Hello World There")],
        ),
        ("search_append", &["^INVITE", "X"], -1, &[]),
        (
            "search_append_body",
            &["v=0", "\r\nx=1"],
            1,
            &[
                ("Content-Length: 11", "Content-Length: 16"),
                ("v=0\r\n", "v=0\r\nx=1\r\n"),
            ],
        ),
        (
            "replace",
            &["hello", "Bye"],
            1,
            &[("Hello There", "Bye There")],
        ),
        (
            "replace",
            &["sip:bob", "sip:carol"],
            1,
            &[("To: <sip:bob", "To: <sip:carol")],
        ),
        (
            "replace_all",
            &["example\\.com", "x.org"],
            1,
            &[
                ("To: <sip:bob@example.com>", "To: <sip:bob@x.org>"),
                ("<sip:alice@example.com>", "<sip:alice@x.org>"),
            ],
        ),
        ("replace_all", &["z*", "q"], -1, &[]),
        ("replace_body", &["ab", "cd"], 1, &[("ab=1", "cd=1")]),
        (
            "replace_body_all",
            &["[0-9]", "N"],
            1,
            &[("v=0\r\nab=1", "v=N\r\nab=N")],
        ),
        (
            "replace_body_atonce",
            &["^.", "#"],
            1,
            &[("v=0\r\nab=1", "#=0\r\nab=1")],
        ),
        (
            "replace_hdrs",
            &["there", "here"],
            1,
            &[("Hello There", "Hello here")],
        ),
        ("replace_hdrs", &["v=0", "x"], -1, &[]),
        (
            "replace_str",
            &["alice", "ann", "a"],
            1,
            &[
                ("<sip:alice@example.com>;", "<sip:ann@example.com>;"),
                ("<sip:alice@10", "<sip:ann@10"),
            ],
        ),
        (
            "replace_str",
            &["alice", "ann", "f"],
            1,
            &[("<sip:alice@example.com>;", "<sip:ann@example.com>;")],
        ),
        ("replace_str", &["nobody", "x", "a"], 1, &[]),
        (
            "replace_body_str",
            &["ab", "AB", "f"],
            1,
            &[("ab=1", "AB=1")],
        ),
        ("replace_hdrs_str", &["ab", "AB", "a"], 1, &[]),
    ]);
}

#[test]
fn substitutions() {
    run_table(&[
        (
            "subst",
            &["/^Subject: (.*)$/Subject: [\\1]/"],
            1,
            &[("Subject: Hello There\r", "Subject: [Hello There\r]")],
        ),
        ("subst", &["/^subject/x/"], -1, &[]),
        (
            "subst",
            &["/^subject/X-Subject/i"],
            1,
            &[("Subject:", "X-Subject:")],
        ),
        (
            "subst",
            &["/example/ex/g"],
            1,
            &[
                ("alice@example", "alice@ex"),
                ("To: <sip:bob@example", "To: <sip:bob@ex"),
            ],
        ),
        (
            "subst_body",
            &["/=([0-9])/:\\1/g"],
            1,
            &[("v=0\r\nab=1", "v:0\r\nab:1")],
        ),
        (
            "subst_hf",
            &["Subject", "/There/Here/", "a"],
            1,
            &[("Hello There", "Hello Here")],
        ),
        (
            "subst_hf",
            &["Contact", "/10.0.0.1/192.0.2.1/", "f"],
            1,
            &[("<sip:alice@10.0.0.1:5070>", "<sip:alice@192.0.2.1:5070>")],
        ),
        ("subst_hf", &["X-None", "/a/b/", "a"], -1, &[]),
    ]);
    let reg = registry(&[]);
    // (function, expression, rc, R-URI after)
    let uris: &[(&str, &str, i64, &str)] = &[
        (
            "subst_uri",
            "/bob@example.com/carol@x.org/",
            1,
            "sip:carol@x.org",
        ),
        ("subst_uri", "/^sips:/x/", -1, "sip:bob@example.com"),
        ("subst_user", "/bob/+49123/", 1, "sip:+49123@example.com"),
        ("subst_user", "/^bob$//", 1, "sip:example.com"),
        ("subst_user", "/carol/x/", -1, "sip:bob@example.com"),
    ];
    for (f, e, rc, ruri) in uris {
        let o = call(&reg, INVITE, f, &[e]);
        assert_eq!((o.rc, o.ruri.as_str()), (*rc, *ruri), "{f}({e})");
    }
    // subst_v and {re.subst}
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[
            ("subst_v", &["abcab", "/b/X/g", "$var(out)"]),
            ("xlog", &["L_ERR", "$var(out)"]),
        ],
        &|_| {},
    );
    assert_eq!(
        (o.rc, o.script.first().map(|x| x.1.as_str())),
        (1, Some("aXcaX"))
    );
    let f = reg
        .parse_format("$(var(in){re.subst,/^0/+49/})")
        .unwrap_or_else(|e| panic!("{e}"));
    let o = call_with(&reg, INVITE, RouteType::Request, 3, &[], &|ctx| {
        set_var(&reg, ctx, "in", Value::str("0301234"));
        assert_eq!(f.render(ctx), b"+49301234");
    });
    assert_eq!(o.rc, 0);
    // load-time refusals
    for e in ["/a/$rU/", "/(/x/", "/a/b/q"] {
        assert!(prepare(&reg, "subst", &[e]).is_err(), "{e}");
    }
}

#[test]
fn headers() {
    run_table(&[
        (
            "append_hf",
            &["X-A: 1\r\n"],
            1,
            &[(
                "Content-Length: 11\r\n\r\n",
                "Content-Length: 11\r\nX-A: 1\r\n\r\n",
            )],
        ),
        (
            "append_hf",
            &["X-A: 1\r\n", "From"],
            1,
            &[("tag=a1\r\n", "tag=a1\r\nX-A: 1\r\n")],
        ),
        (
            "insert_hf",
            &["X-A: 1\r\n"],
            1,
            &[("Via:", "X-A: 1\r\nVia:")],
        ),
        (
            "insert_hf",
            &["X-A: 1\r\n", "Call-ID"],
            1,
            &[("Call-ID:", "X-A: 1\r\nCall-ID:")],
        ),
        (
            "append_hf",
            &["X-A: 1\r\n", "X-None"],
            1,
            &[(
                "Content-Length: 11\r\n\r\n",
                "Content-Length: 11\r\nX-A: 1\r\n\r\n",
            )],
        ),
        (
            "append_urihf",
            &["X-U: <", ">\r\n"],
            1,
            &[(
                "Content-Length: 11\r\n\r\n",
                "Content-Length: 11\r\nX-U: <sip:bob@example.com>\r\n\r\n",
            )],
        ),
        ("is_present_hf", &["subject"], 1, &[]),
        ("is_present_hf", &["s"], 1, &[]),
        ("is_present_hf", &["X-None"], -1, &[]),
        ("is_present_hf_pv", &["Contact"], 1, &[]),
        ("is_present_hf_re", &["^sub"], 1, &[]),
        ("is_present_hf_re", &["^x-"], -1, &[]),
        ("is_present_hf_re_pv", &["^call"], 1, &[]),
        (
            "remove_hf",
            &["Subject"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        ("remove_hf", &["X-None"], -1, &[]),
        (
            "remove_hf_pv",
            &["Contact"],
            1,
            &[("Contact: <sip:alice@10.0.0.1:5070>\r\n", "")],
        ),
        (
            "remove_hf_re",
            &["^(subject|contact)$"],
            1,
            &[
                ("Contact: <sip:alice@10.0.0.1:5070>\r\n", ""),
                ("Subject: Hello There\r\n", ""),
            ],
        ),
        (
            "remove_hf_re_pv",
            &["^max-"],
            1,
            &[("Max-Forwards: 70\r\n", "")],
        ),
        (
            "remove_hf_exp",
            &["^c", "^c(all|seq|ontent)"],
            1,
            &[("Contact: <sip:alice@10.0.0.1:5070>\r\n", "")],
        ),
        (
            "remove_hf_exp_pv",
            &["^s", "^x"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        (
            "remove_hf_idx",
            &["Subject", "0"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        (
            "remove_hf_idx",
            &["Subject", "-1"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        ("remove_hf_idx", &["Subject", "1"], 2, &[]),
        (
            "remove_hf_match",
            &["Subject", "eq", "Hello There"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        (
            "remove_hf_match",
            &["Subject", "ne", "Hello There"],
            -2,
            &[],
        ),
        (
            "remove_hf_match",
            &["Subject", "in", "lo Th"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        (
            "remove_hf_match",
            &["Subject", "re", "^hello"],
            1,
            &[("Subject: Hello There\r\n", "")],
        ),
        ("remove_hf_match", &["Subject", "xx", "a"], -1, &[]),
        (
            "via_param_rm",
            &["branch", "0"],
            1,
            &[(";branch=z9hG4bK-1", "")],
        ),
        ("via_param_rm", &["rport", "0"], -1, &[]),
    ]);
}

#[test]
fn bodies_and_tests() {
    run_table(&[
        ("has_body", &[], 1, &[]),
        ("has_body", &["application/sdp"], 1, &[]),
        ("has_body", &["text/plain"], -1, &[]),
        (
            "set_body",
            &["hello", "text/plain"],
            1,
            &[
                ("Content-Type: application/sdp\r\n", ""),
                (
                    "Content-Length: 11\r\n\r\nv=0\r\nab=1\r\n",
                    "Content-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
                ),
            ],
        ),
        (
            "set_body",
            &["hello", "application/sdp"],
            1,
            &[(
                "Content-Length: 11\r\n\r\nv=0\r\nab=1\r\n",
                "Content-Length: 5\r\n\r\nhello",
            )],
        ),
        (
            "set_body_hex",
            &["4142", "text/plain"],
            1,
            &[
                ("Content-Type: application/sdp\r\n", ""),
                (
                    "Content-Length: 11\r\n\r\nv=0\r\nab=1\r\n",
                    "Content-Length: 2\r\nContent-Type: text/plain\r\n\r\nAB",
                ),
            ],
        ),
        ("set_body", &["", "text/plain"], -1, &[]),
        ("is_method", &["INVITE"], 1, &[]),
        ("is_method", &["BYE|invite"], 1, &[]),
        ("is_method", &["BYE|ACK"], -1, &[]),
        ("is_method", &["FOO"], -1, &[]),
        ("is_audio_on_hold", &[], -1, &[]),
        ("is_privacy", &["id"], -1, &[]),
        ("in_list", &["b", "a, b, c", ","], 1, &[]),
        ("cmp_str", &["a", "b"], -2, &[]),
        ("cmp_istr", &["A", "a"], 1, &[]),
        ("starts_with", &["sip:bob", "sip:"], 1, &[]),
        ("ends_with", &["sip:bob", "bob"], 1, &[]),
        ("str_find", &["abcabc", "ca"], 3, &[]),
        ("str_ifind", &["abcABC", "cA"], 3, &[]),
        ("str_any_in", &["abc", "xyc"], 1, &[]),
        ("str_any_in", &["abc", "xyz"], -1, &[]),
        ("search_str", &["Hello", "^h.l"], 1, &[]),
        ("search_str", &["Hello", "^e"], -1, &[]),
    ]);
}

#[test]
fn date_privacy_hold_and_regex_substring() {
    let reg = registry(&[]);
    let o = call(&reg, INVITE, "append_time_to_request", &[]);
    // Date right after the first header
    let after_via = o
        .out
        .split("branch=z9hG4bK-1\r\n")
        .nth(1)
        .unwrap_or_default();
    assert!(
        after_via.starts_with("Date: ") && after_via.contains(" GMT\r\nMax-Forwards"),
        "{}",
        o.out
    );
    let priv_msg = INVITE.replace("Subject:", "Privacy: id; header\r\nSubject:");
    for (v, rc) in [("id", 1), ("header", 1), ("user", -1)] {
        assert_eq!(call(&reg, &priv_msg, "is_privacy", &[v]).rc, rc, "{v}");
    }
    let sdp = "v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\na=sendonly\r\n";
    let held = INVITE.replace(
        "Content-Length: 11\r\n\r\nv=0\r\nab=1\r\n",
        &format!("Content-Length: {}\r\n\r\n{sdp}", sdp.len()),
    );
    assert_eq!(call(&reg, &held, "is_audio_on_hold", &[]).rc, 2);
    let zero = held
        .replace("a=sendonly\r\n", "")
        .replace("c=IN IP4 1.2.3.4", "c=IN IP4 0.0.0.0");
    let zero = zero.replace(
        &format!("Content-Length: {}", sdp.len()),
        &format!("Content-Length: {}", sdp.len() - 12),
    );
    assert_eq!(call(&reg, &zero, "is_audio_on_hold", &[]).rc, 1);
    let o = call_with(
        &reg,
        INVITE,
        RouteType::Request,
        3,
        &[
            (
                "regex_substring",
                &["sip:bob@example.com", "sip:([a-z]+)@", "1", "2", "$var(u)"],
            ),
            ("xlog", &["L_ERR", "$var(u)"]),
        ],
        &|_| {},
    );
    assert_eq!(o.script.first().map(|x| x.1.as_str()), Some("bob"));
    assert_eq!(
        call(
            &reg,
            INVITE,
            "regex_substring",
            &["abc", "x(y)", "1", "2", "$var(u)"]
        )
        .rc,
        -2
    );
    // refused at load
    for (f, a) in [
        ("subst", &["/a/$var(x)/"][..]),
        ("has_body", &["sdp"]),
        ("is_method", &["FOO|BAR"]),
        ("in_list", &["a", "b", ",,"]),
    ] {
        assert!(prepare(&reg, f, a).is_err(), "{f}");
    }
}

const MP_BODY: &str = "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n";

fn multipart() -> String {
    INVITE.replace(
        "Content-Type: application/sdp\r\nContent-Length: 11\r\n\r\nv=0\r\nab=1\r\n",
        &format!(
            "Content-Type: multipart/mixed;boundary=\"b1\"\r\nContent-Length: {}\r\n\r\n{MP_BODY}",
            MP_BODY.len()
        ),
    )
}

/// (steps, rc, body after)
type MpCase = (
    &'static [(&'static str, &'static [&'static str])],
    i64,
    &'static str,
);

#[test]
fn multipart_parts() {
    let reg = registry(&[]);
    let msg = multipart();
    let body_of = |out: &str| {
        out.split_once("\r\n\r\n")
            .map(|x| x.1)
            .unwrap_or_default()
            .to_string()
    };
    // (steps, rc, body after)
    let cases: &[MpCase] = &[
        (&[("filter_body", &["text/plain"])], 1, "hello"),
        (&[("filter_body", &["application/sdp"])], 1, "v=0"),
        (&[("filter_body", &["image/png"])], -1, MP_BODY),
        (
            &[("remove_body_part", &["application/sdp"])],
            1,
            "--b1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n",
        ),
        (
            &[("remove_body_part", &["text/plain"])],
            1,
            "--b1\r\nContent-Type: application/sdp\r\n\r\nv=0\r\n--b1--\r\n",
        ),
        (
            &[
                ("get_body_part", &["text/plain", "$var(p)"]),
                ("set_body", &["[$var(p)]", "text/x"]),
            ],
            1,
            "[\r\nhello\r\n]",
        ),
        (
            &[
                ("get_body_part_raw", &["text/plain", "$var(p)"]),
                ("set_body", &["[$var(p)]", "text/x"]),
            ],
            1,
            "[Content-Type: text/plain\r\n\r\nhello\r\n--b1--\r\n]",
        ),
        (&[("get_body_part", &["image/png", "$var(p)"])], -1, MP_BODY),
    ];
    for (steps, rc, body) in cases {
        let o = call_with(&reg, &msg, RouteType::Request, 3, steps, &|_| {});
        assert_eq!(o.rc, *rc, "{steps:?}");
        assert_eq!(body_of(&o.out), *body, "{steps:?}");
    }
    // filter_body needs multipart/mixed; get_body_part without boundary gives the whole body
    assert_eq!(
        call(&reg, INVITE, "filter_body", &["application/sdp"]).rc,
        -1
    );
}

#[test]
fn multipart_builders() {
    let reg = registry(&[]);
    let o = call(&reg, INVITE, "set_body_multipart", &["hello", "text/plain"]);
    assert_eq!(o.rc, 1);
    assert!(o.out.contains("Subject: Hello There\r\nContent-Length: 77\r\nContent-Type: multipart/mixed;boundary=\"unique-boundary-1\"\r\nMime-Version: 1.0\r\n\r\n--unique-boundary-1\r\nContent-Type: text/plain\r\n\r\nhello\r\n--unique-boundary-1\r\n"), "{}", o.out);
    // one parameter is the boundary; the old body becomes the part
    let o = call(&reg, INVITE, "set_body_multipart", &["b9"]);
    assert!(
        o.out.ends_with(
            "\r\n\r\n--b9\r\nContent-Type: application/sdp\r\n\r\nv=0\r\nab=1\r\n\r\n--b9\r\n"
        ),
        "{}",
        o.out
    );
    // appending closes the new last part and reopens the old closing delimiter
    let o = call(
        &reg,
        &multipart(),
        "append_body_part",
        &["hi", "text/x", "render"],
    );
    assert_eq!(o.rc, 1);
    assert!(o.out.ends_with("hello\r\n--b1\r\nContent-Type: text/x\r\nContent-Disposition: render\r\n\r\nhi\r\n--b1--\r\n"), "{}", o.out);
    assert_eq!(
        call(&reg, INVITE, "append_body_part", &["hi", "text/x"]).rc,
        -1
    );
    assert_eq!(
        call(
            &reg,
            &multipart(),
            "append_body_part_hex",
            &["4x", "text/x"]
        )
        .rc,
        -1
    );
}
