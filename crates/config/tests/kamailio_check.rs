//! Differential acceptance test: small configs are checked by `kamailio -c` (Debian's 5.6.3, where 5.6
//! and 6.0 agree) and by `load`; both must accept, or both must reject. Module function names and
//! their argument counts are not checked by the front end (the script compiler resolves them), so the
//! table calls module functions correctly. Fails when `CI` is set and
//! kamailio is missing; skips with a message otherwise.

mod common;
use common::{in_ci, MemHost};
use ferrosip_config::{load, LoadOptions};
use std::path::Path;
use std::process::Command;

const KAMAILIO: &str = "/usr/sbin/kamailio";
const PREAMBLE: &str = "loadmodule \"pv.so\"\nloadmodule \"xlog.so\"\nloadmodule \"sl.so\"\nloadmodule \"textops.so\"\nloadmodule \"tm.so\"\n";

/// (top-level text, request_route body).
const CASES: &[(&str, &str)] = &[
    ("debug=-3", "exit;"),
    ("tos=IPTOS_LOWDELAY", "exit;"),
    ("tos=0x10", "exit;"),
    ("user=kamailio", "exit;"),
    ("advertised_address=1.2.3.4", "exit;"),
    ("advertised_address=\"sip.example.com\"", "exit;"),
    ("tcp_source_ipv4=1.2.3.4", "exit;"),
    ("log_stderror=2", "exit;"),
    ("fork=no", "exit;"),
    ("udp_mtu_try_proto=TCP", "exit;"),
    ("alias=example.com:5060", "exit;"),
    ("alias=udp:example.com:5060", "exit;"),
    ("flags A:1, B;", "setflag(A); exit;"),
    ("pstn.gw = \"x\" desc \"d\"", "exit;"),
    ("pstn[1].gw = 2", "exit;"),
    ("port=5080", "exit;"),
    ("log_facility=LOG_LOCAL0", "exit;"),
    ("log_prefix=\"{$mt $ci} \"", "exit;"),
    ("children=4;", "exit;"),
    ("log_stderror=\"yes\"", "exit;"),
    ("children=-1", "exit;"),
    ("log_name=kamailio", "exit;"),
    ("log_facility=\"LOG_LOCAL0\"", "exit;"),
    ("udp_mtu_try_proto=foo", "exit;"),
    ("udp4_raw_ttl=-1", "exit;"),
    ("foo_param=1", "exit;"),
    ("foo_route { exit; }", "exit;"),
    ("modparam(\"tm\", \"fr_timer\", 10000)", "exit;"),
    ("modparam(\"tm\", \"fr_timer\", -1)", "exit;"),
    ("modparam(\"tm\" \"fr_timer\", 1)", "exit;"),
    ("", "drop;"),
    ("", "drop();"),
    ("", "exit();"),
    ("", "return;"),
    ("", "return(1);"),
    ("", "return -1;"),
    ("", "force_rport;"),
    ("", "force_rport();"),
    ("", "add_local_rport();"),
    ("", "if ($var(x)==1) exit;"),
    (
        "",
        "if ($var(x)==1) { exit; } else if ($var(y)) { drop; } else exit;",
    ),
    (
        "",
        "switch($rU) { case \"1\": break; case /\"^2\": exit; default: exit; }",
    ),
    (
        "",
        "switch($var(i)) { case 1: case -2: break; default: exit; }",
    ),
    (
        "",
        "$var(i) = 0; while($var(i)<3) { $var(i) = $var(i) + 1; }",
    ),
    ("", "if (uri==myself) exit;"),
    ("", "if (src_ip==10.0.0.0/8) exit;"),
    ("", "if (src_ip!=127.0.0.1 && dst_port==5060) exit;"),
    ("", "if (msg:len > 100) exit;"),
    (
        "",
        "if (method==\"INVITE\" || proto==UDP || af==INET6) exit;",
    ),
    ("", "$var(x) = $(ru{s.len});"),
    ("", "$var(x) = $(ru{s.len}{s.int});"),
    ("", "if (!is_method(\"INVITE\")) exit;"),
    ("", "xlog(\"L_INFO\", \"a\" \"b\");"),
    ("", "$var(x) = 1 + 2 * 3 - (4 mod 3);"),
    ("", "$var(x) = $var(y) | 2 & ~1 ^ 3 << 1 >> 1;"),
    (
        "",
        "if ($var(a) eq \"x\" && $var(b) ieq 3 || $var(c) ne \"\" and $var(d) ine 1) exit;",
    ),
    (
        "",
        "if (defined $var(a) && strlen($var(a)) > 1 && !strempty($var(a))) exit;",
    ),
    ("", "$var(x) = (int)\"12\" + (str)3;"),
    ("", "$du = $null;"),
    ("", "$var(x) = 0x1f + 017 + 101b;"),
    ("", "$var(s) = 'single' + \"double\\t\";"),
    ("", "t_relay;"),
    ("", "$var(x) += 1;"),
    ("", "sl_send_reply(\"404\", \"x\")\n\texit;"),
    ("", "if ($rU == ) exit;"),
    ("", "else { exit; }"),
    ("", "case 1: exit;"),
    ("", "$var(x) = ;"),
    ("", "if (1) { exit; "),
    ("", "$var(x) = \"unterminated;"),
    ("", "$var(x) = $(ru{s.len);"),
    ("", "1 + 2;"),
    ("", "!is_method(\"X\");"),
    ("", "is_method(\"X\") && is_method(\"Y\");"),
    ("", "$var(x);"),
    ("", "(is_method(\"X\"));"),
    ("", "$var(x) = 1 + \"3\";"),
    ("", "$var(x) = \"a\" + 1;"),
    ("", "$var(x) = 1 - \"3\";"),
    ("", "$var(x) = \"a\" - 1;"),
    ("", "$var(x) = $var(a) + \"x\";"),
    ("", "if (1 == \"a\") exit;"),
    ("", "$var(x) = \"a\" * 2;"),
    ("", "$var(x) = -\"a\";"),
    ("", "$var(x) = ~\"a\";"),
    ("", "if (\"a\" eq 1) exit;"),
    ("", "if (\"a\" ieq 1) exit;"),
    ("", "if (!\"a\") exit;"),
    ("", "if (\"a\" && 1) exit;"),
    ("", "$var(x) = (1 + 2) + \"a\";"),
    ("", "$var(x) = (\"a\" + \"b\") - 1;"),
    ("", "if (\"a\" =~ 1) exit;"),
    ("", "if (1 =~ \"a\") exit;"),
    ("", "if (\"a\" < 1) exit;"),
    ("", "if (1 < \"a\") exit;"),
    ("", "$var(x) = strlen(1);"),
    ("", "$var(x) = 1 + strlen(\"a\");"),
    ("", "$var(x) = \"x\" + (1 == 2);"),
    ("", "$var(x) = 2 mod \"a\";"),
    ("", "xlog(\"L_INFO\", 1 - \"a\");"),
    ("route[1] { exit; }", "route(1);"),
    ("route[\"x y\"] { exit; }", "route(\"x y\");"),
    ("event_route[tm:local-request] { exit; }", "exit;"),
    ("onreply_route { exit; }", "exit;"),
    ("onreply_route[0] { exit; }", "exit;"),
    ("onreply_route[R1] { exit; }", "t_on_reply(\"R1\");"),
    ("failure_route { exit; }", "exit;"),
    ("branch_route { exit; }", "exit;"),
    ("branch_route[B1] { drop; }", "t_on_branch(\"B1\");"),
    ("reply_route { drop; }", "exit;"),
    ("reply_route[X] { drop; }", "exit;"),
    ("onsend_route { drop; }", "exit;"),
    ("request_route[X] { exit; }", "exit;"),
    (
        "listen=udp:127.0.0.1:5070 advertise 1.2.3.4:5060 name \"s1\"",
        "exit;",
    ),
    ("listen=tcp:127.0.0.1:5070", "exit;"),
    ("listen=udp:[::1]:5070", "exit;"),
    ("alias=\"x.example.com\"", "exit;"),
    (
        "mpath=\"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"",
        "exit;",
    ),
    (
        "loadpath \"/usr/lib/x86_64-linux-gnu/kamailio/modules/\"",
        "exit;",
    ),
    ("cfgengine \"native\"", "exit;"),
    ("", "$var(x) = $null;"),
    ("", "if ($rU =~ \"^1\") { exit; }"),
    (
        "",
        "switch($rU) { case \"1\": xlog(\"a\"); case \"2\": exit; }",
    ),
    ("", "$avp(x)[1] = 1;"),
    ("", "$(avp(x)[1]) = 1;"),
    ("", "if (!(is_method(\"X\"))) exit;"),
    ("", "while (1) { break; }"),
    ("", "drop 1;"),
    ("", "exit 2;"),
    ("", "return(-1);"),
    ("", "if (is_method(\"X\")) { exit; };"),
    ("", ";"),
    ("", "{ exit; }"),
    (
        "",
        "if ($var(a) == 1) { exit; } else { if ($var(b)) { drop; } }",
    ),
    ("", "$var(x) = \"a\" \"b\";"),
    ("", "$var(x) = 08;"),
    ("", "$var(x) = 1.5;"),
    ("", "forward(\"1.2.3.4\", 5060);"),
    ("", "forward();"),
    ("", "setflag(1); resetflag(1); if (isflagset(1)) exit;"),
    ("", "prefix(\"00\"); strip(1); strip_tail(1); revert_uri();"),
    ("", "force_send_socket(udp:127.0.0.1:5060);"),
    ("", "log(1, \"x\");"),
    ("", "$ru = \"sip:\" + $rU + \"@\" + $rd;"),
    ("", "if (src_ip == myself) exit;"),
    ("", "if (myself == uri) exit;"),
    ("", "if (proto == tcp) exit;"),
    ("", "if (status == \"200\") exit;"),
    (
        "",
        "if ($var(x) =~ \"a\" && method == \"INVITE\" && uri =~ \"^sip:\") exit;",
    ),
    ("", "$var(x) = 1.2.3.4;"),
    ("", "if ($si == 1.2.3.4) exit;"),
    ("", "xlog(1.2.3.4);"),
    ("", "if (src_ip == 1.2.3.4) exit;"),
    ("", "if (dst_ip == 10.0.0.0/8) exit;"),
    ("", "if ($si == 10.0.0.0/8) exit;"),
    ("", "if (src_ip == sip.example.com) exit;"),
    ("", "if (uri == sip.example.com) exit;"),
    ("", "force_send_socket(127.0.0.1:5060);"),
    ("", "xlog(a.b);"),
    ("", "$var(x) = udp:1.2.3.4:5060;"),
    ("", "if (src_ip == [::1]) exit;"),
    ("", "if ($var(x) == [::1]) exit;"),
    ("", "xlog(L_INFO, \"x\");"),
    ("", "$var(x) = L_INFO;"),
    ("", "if (L_INFO) exit;"),
    ("", "if (proto == UDP) exit;"),
    ("", "if ($var(p) == UDP) exit;"),
    ("", "$var(x) = 1abc;"),
    ("", "$var(x) = uri;"),
    ("", "if (uri) exit;"),
    ("", "if ($ru == myself) exit;"),
    ("", "if (uri == $var(x)) exit;"),
    ("", "if (method == $var(m)) exit;"),
    ("", "if (src_ip == $var(ip)) exit;"),
    ("", "if (src_port == 5060) exit;"),
    ("", "if (myself == src_ip) exit;"),
    ("", "if (uri != myself) exit;"),
    ("", "if (method == INVITE) exit;"),
    ("", "if (af == INET) exit;"),
    ("", "if (af == ipv6) exit;"),
    ("", "if (proto == udp || proto == tls) exit;"),
    ("", "if (from_uri == myself) exit;"),
    ("", "if (to_uri == \"x\") exit;"),
    ("", "if (msg:len >= 10) exit;"),
    ("", "if (src_ip == 1.2.3.4/24) exit;"),
    ("", "if (dst_port == $var(p)) exit;"),
    ("", "if (src_ip == \"1.2.3.4\") exit;"),
    ("", "if (uri == myself && $var(x) == 1) exit;"),
    ("", "if (!(uri == myself)) exit;"),
    ("", "setflag(FOO);"),
    ("flags FOO;", "setflag(FOO);"),
    ("", "if (src_ip == udp:1.2.3.4) exit;"),
    ("", "if (src_ip == eth0) exit;"),
    ("", "if (src_ip == localhost) exit;"),
    ("", "t_on_branch(MANAGE_BRANCH);"),
    ("", "udp_mtu_try_proto(TCP);"),
    ("", "$var(x) = yes + off;"),
    ("", "if (true) exit;"),
    ("", "if $var(x) == 1 { exit; }"),
    ("", "while $var(i) < 1 { break; }"),
    ("", "switch $rU { default: exit; }"),
    ("", "return $var(x) + 1;"),
    ("", "exit (1);"),
    ("route[X] { exit; }", "if (route(X) == 1) exit;"),
    ("route[X] { exit; }", "$var(x) = route(X);"),
    ("", "$var(x) = is_method(\"X\");"),
    ("", "switch($rU) { case 1+1: exit; }"),
    ("", "switch($rU) { }"),
    ("", "switch($rU) { default: exit; default: exit; }"),
    ("", "switch($rU) { case \"a\": exit; case \"a\": exit; }"),
    ("", "switch($rU) { case $var(x): exit; }"),
    ("", "switch($rU) { case \"a\" + \"b\": exit; }"),
    ("", "switch($rU) { case (2): exit; }"),
    ("", "switch($rU) { case -(1): exit; }"),
    ("", "while($var(i) < 3) $var(i) = $var(i) + 1;"),
    ("", "if (1) exit; else if (2) exit; else drop;"),
    ("", "$var(x) = $var(y) = 1;"),
    ("", "$? = 1;"),
    ("", "$(var(x){s.len}) = 1;"),
    ("", "if (strempty($var(x))) exit;"),
    ("", "if (defined($var(x))) exit;"),
    ("", "if (selval(1, 2, 3) == 2) exit;"),
    ("", "$var(x) = -1 + -(-2);"),
    ("", "$var(x) = !1;"),
    ("", "if (not 1) exit;"),
    ("", "if (1 and 2 or 3) exit;"),
    ("listen=udp:127.0.0.1:5070 udp:127.0.0.1:5071", "exit;"),
    ("listen=(127.0.0.1, 127.0.0.2):5070", "exit;"),
    ("alias=a.com b.com", "exit;"),
    ("#!define X 1\ndebug=X", "exit;"),
    ("flags FOO:1", "exit;"),
    ("avpflags a", "exit;"),
    ("pstn.gw_ip = 1.2.3.4", "exit;"),
    ("debug = 3;", "exit;"),
    ("children=0x10", "exit;"),
    ("children=010", "exit;"),
    ("children=11b", "exit;"),
    ("log_name='single'", "exit;"),
    ("route[my-route] { exit; }", "exit;"),
    ("route[1.5] { exit; }", "exit;"),
    ("route[my_route] { route(my_route); }", "exit;"),
    ("onreply_route[\"x\"] { exit; }", "exit;"),
    ("event_route[a:b:c] { exit; }", "exit;"),
    ("event_route[xhttp:request] { exit; }", "exit;"),
    ("event_route[\"x:y\"] { exit; }", "exit;"),
    ("listen=udp:127.0.0.1", "exit;"),
    ("listen=127.0.0.1:5070 name \"a\" virtual", "exit;"),
    ("port=5060 children=4", "exit;"),
    ("flags A, B:3;", "exit;"),
    ("loadpath \"/usr/lib\"", "exit;"),
    ("mpath \"/usr/lib\"", "exit;"),
    ("cfgengine native", "exit;"),
    ("server_header=\"A\" \"B\"", "exit;"),
    ("alias=udp:127.0.0.1:5060 tcp:127.0.0.1:5060", "exit;"),
    ("pstn.gw_ip = -1", "exit;"),
    ("pstn.gw = \"x\" desc", "exit;"),
    ("#!define EMPTY\ndebug=EMPTY 3", "exit;"),
    ("#!define A 1\n#!define A 2", "exit;"),
    ("#!trydef A 1\n#!trydef A 2", "exit;"),
    ("#!redefine NEWONE 2\ndebug=NEWONE", "exit;"),
    ("#!ifdef X Y\ndebug=2\n#!endif", "exit;"),
    (
        "#!ifdef X\ndebug=1\n#!else\ndebug=2\n#!else\ndebug=3\n#!endif",
        "exit;",
    ),
    ("#!ifndef X\n#!endif", "exit;"),
    ("#!ifdef X\n#!ifdef Y\n#!endif", "exit;"),
    ("#!else\ndebug=2", "exit;"),
    ("#!define V \"a\"\nlog_name=V", "exit;"),
    ("#!define V 'a'\nlog_name=V", "exit;"),
    ("#!subst \"/XX/yy/\"\nlog_name=\"aXXb\"", "exit;"),
    ("#!substdef \"/SD/3/\"\ndebug=SD", "exit;"),
    ("#!define D 3 # comment\ndebug=D", "exit;"),
    ("#!define P1 \"a\" \\\n \"b\"\nlog_name=P1", "exit;"),
    ("#!ifdef MOD_pv\ndebug=2\n#!endif", "exit;"),
    ("#!ifndef MOD_pv\nbad\n#!endif", "exit;"),
    ("#!define X-Y 1", "exit;"),
    ("#!ifdef X-Y\n#!endif", "exit;"),
    ("!!define BANG 1\ndebug=BANG", "exit;"),
    ("#!trydefenv NO_SUCH_ENV_VAR_Q", "exit;"),
    ("#!defenv NO_SUCH_ENV_VAR_Q", "exit;"),
    ("#!define R RELAY\nroute[R] { exit; }", "route(RELAY);"),
    ("#!define CALL xlog(\"x\");", "CALL"),
    ("import_file \"/nonexistent/x.cfg\"", "exit;"),
    ("", "$var(x) = $(ru{s.len });"),
    ("", "$var(x) = $(ru{ s.len});"),
    ("", "$var(x) = $(ru{s.select,1, });"),
    ("", "$var(x) = $(ru{uri.param,transport});"),
    ("", "$var(x) = $(ru{s.substr,1,$var(y)});"),
    ("", "$var(x) = $(ru{s.len}{});"),
    ("", "$var(x) = $(hdr(Via)[-1]);"),
    ("", "$var(x) = $(hdr(Via)[*]);"),
    ("", "$var(x) = $(avp(s:x)[1]{s.len});"),
    ("", "$var(x) = $xavp(a=>b[0]);"),
    ("", "$var(x) = $ru{s.len};"),
    ("", "$var(x) = $(ru);"),
    ("", "$var(x) = $(ru{s.len}{s.int}{s.md5});"),
    ("", "$var(x) = $(ru{s.replace,a,b});"),
    ("", "$var(x) = $(ru{s.len} );"),
    ("", "if (1) { }"),
    ("", "if (1) { exit; } else { }"),
    ("", "while (0) { }"),
    ("", "switch($var(x)) { case 1: }"),
    ("", "switch($var(x)) { }"),
    ("", "if (1) { ; }"),
    ("", "if (1) ;"),
    ("", "if (1) { exit; };"),
    ("", ";;"),
    ("", "if ($var(x) = 1) exit;"),
    ("", "if (method = \"INVITE\") exit;"),
    ("", "$var(y) = ($var(x) = 1);"),
    ("", "if ($var(x) = 1 && $var(y) = 2) exit;"),
    ("", "while ($var(x) = 1) { break; }"),
    ("", "xlog(\"L_INFO\", $var(x) = 1);"),
    ("", "if (($var(x) = 1) && ($var(y) = 2)) exit;"),
    ("", "setflag();"),
    ("", "setflag(1, 2);"),
    ("", "isflagset();"),
    ("", "resetflag(1,2);"),
    ("", "strip();"),
    ("", "prefix();"),
    ("", "revert_uri(1);"),
    ("", "force_rport(1);"),
    ("", "force_tcp_alias(5060);"),
    ("", "remove_branch();"),
    ("", "remove_branch(1);"),
    ("", "log(\"x\");"),
    ("", "error(\"a\");"),
    ("log_facility=LOG_LOCAL", "exit;"),
    ("log_facility=LOG_DAEMON", "exit;"),
    ("route[E] { }", "exit;"),
    ("route[E] { ; }", "exit;"),
    ("", "exit;\n}\n/* never closed\nroute[X] {\n\texit;"),
    ("", "exit;\n/* never closed"),
    ("", "exit;\n}\nlog_name=\"never closed"),
    ("include_file \"/nonexistent/x.cfg\"", "exit;"),
    // Found by the real-world configs (dev-configs.tsv, docs/config-frontend.md).
    ("#!define IP \"127.0.0.1\"\nlisten=udp:IP:5060", "exit;"),
    ("listen=udp:\"127.0.0.1\":5060", "exit;"),
    ("", "if (!uri == myself) { exit; }"),
    ("", "if (!uri==myself && !(src_ip == 127.0.0.1)) { exit; }"),
    (
        "",
        "if ((method==OPTIONS) && (! uri=~\"sip:.*[@]+.*\")) { exit; }",
    ),
    ("", "if (!method == \"INVITE\") { exit; }"),
    ("", "if (!$rU == 1) { exit; }"),
    (
        "#!substdef \"!AB!3!g\"\n#!substdef \"!CD!2!g\"\ndebug=CD",
        "exit;",
    ),
    (
        "#!substdef \"!AB!x!g\"\n#!substdef \"!ABC!2!g\"\ndebug=ABC",
        "exit;",
    ),
    (
        "#!subst \"/AB/x/g\"\n#!substdef \"!ABC!2!g\"\ndebug=ABC",
        "exit;",
    ),
    ("#!substdef \"!a.b!x!g\"", "exit;"),
    ("#!substdef \"!R!^1$!g\"", "exit;"),
    ("#!substdef \"!R!a$!g\"", "exit;"),
    ("#!substdef \"!R!a$rU!g\"", "exit;"),
];

/// Whole files (no preamble).
const WHOLE: &[&str] = &[
    "",
    "# only a comment\n",
    "#!define X 1\n",
    "/* c */\n",
    "debug=2\n/* open",
    "#!define X 1\n/* open",
    "debug=2\n",
    "route[X] { exit; }\n",
    "import_file \"kamailio-local.cfg\ndebug=2\n",
    "import_file \"kamailio-local.cfg\"\ndebug=2\n",
    "debug=2\n#!ifdef X\n",
    "debug=2\n#!endif\n",
];

fn kamailio_accepts(dir: &Path, text: &str) -> bool {
    let f = dir.join("k.cfg");
    std::fs::write(&f, text).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    let out = Command::new(KAMAILIO)
        .arg("-c")
        .arg("-f")
        .arg(&f)
        .output()
        .unwrap_or_else(|e| panic!("running {KAMAILIO}: {e}"));
    out.status.success()
}

#[test]
fn same_verdict_as_kamailio() {
    if !Path::new(KAMAILIO).exists() {
        assert!(!in_ci(), "CI is set and {KAMAILIO} is missing");
        eprintln!("skipping: {KAMAILIO} is missing");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ferrosip-config-kcheck-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let mut mismatches = Vec::new();
    let mut rejected = 0;
    for (top, body) in CASES {
        let text = format!("{PREAMBLE}{top}\nrequest_route {{\n\t{body}\n}}\n");
        let theirs = kamailio_accepts(&dir, &text);
        let host = MemHost::with(&[("k.cfg", &text)]);
        let ours = load("k.cfg", &LoadOptions::default(), &host);
        if !theirs {
            rejected += 1;
        }
        if theirs != ours.is_ok() {
            let why = match &ours {
                Ok(_) => "ours accepts".to_string(),
                Err(f) => format!("ours rejects:\n{}", f.render()),
            };
            mismatches.push(format!(
                "--- top: {top:?} body: {body:?}\nkamailio accepts: {theirs}; {why}"
            ));
        }
    }
    for text in WHOLE {
        let theirs = kamailio_accepts(&dir, text);
        let host = MemHost::with(&[("k.cfg", text)]);
        let ours = load("k.cfg", &LoadOptions::default(), &host);
        if theirs != ours.is_ok() {
            let why = match &ours {
                Ok(_) => "ours accepts".to_string(),
                Err(f) => format!("ours rejects:\n{}", f.render()),
            };
            mismatches.push(format!(
                "--- whole file {text:?}\nkamailio accepts: {theirs}; {why}"
            ));
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        rejected >= 10,
        "the table should contain configs kamailio rejects"
    );
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}
