//! permissions, domain and alias_db over real UDP, on ferrosip and on Debian's Kamailio 5.6.3
//! with the same config and the same SQLite file (Kamailio's schema, rows written here with
//! ferrosip-db):
//!
//! - a config whose routes call every implemented function (address and subnet and DNS-name
//!   matches, group lookups, `allow_trusted` in both `db_mode`s and `peer_tag_mode`s with its
//!   POSIX basic patterns, `is_from_local`/`is_uri_host_local`/`is_domain_local`/`lookup_domain`
//!   with attribute AVPs, `alias_db_lookup` with branches and `alias_db_find` reversed) and puts
//!   the results in the reply's reason phrase; then rows are added and the RPC reloads
//!   (`permissions.addressReload`, `permissions.trustedReload`, `domain.reload`, through `kamcmd`
//!   and the ctl module) must make the new rows visible, and the RPC dumps must list the same
//!   entries; the two servers' answers are compared; the same on PostgreSQL and MariaDB when
//!   their URLs are given;
//! - Debian's stock kamailio.cfg (and 6.0.7's, when fetched) with WITH_MYSQL, WITH_AUTH,
//!   WITH_IPAUTH and WITH_ALIASDB on a SQLite file: REGISTER with digest; an INVITE from an
//!   address of the `address` table, without credentials, to an alias that `alias_db_lookup`
//!   turns into the registered user (the INVITE reaches the contact); one to an unknown user
//!   (404); the same INVITE from an address not in the table (407);
//! - `address_file` instead of the table, on both servers.

#[path = "stock_support.rs"]
mod stock_support;
#[path = "wire_harness.rs"]
mod w;

use std::net::{SocketAddr, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ferrosip_modules::db::ferrosip_db::{schema, Db, Value};

const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";
const KAMCMD: &str = "/usr/sbin/kamcmd";

/// The tables the flows use.
const TABLES: [&str; 5] = ["address", "trusted", "domain", "domain_attrs", "dbaliases"];

/// The driver module of a URL (`db_` + scheme).
fn driver(url: &str) -> String {
    format!("db_{}", url.split(':').next().unwrap_or("sqlite"))
}

fn config(port: u16, url: &str, run: &Path, kamailio: bool, db_mode: i32) -> String {
    let drv = driver(url);
    let mpath = if kamailio {
        format!("mpath=\"{MPATH}\"\n")
    } else {
        String::new()
    };
    let run = run.display();
    // peer_tag_mode follows db_mode so both modes of each are exercised.
    format!(
        r#"#!KAMAILIO
{mpath}listen=udp:127.0.0.1:{port}
children=1
log_stderror=yes
debug=2
loadmodule "{drv}.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "ctl.so"
loadmodule "permissions.so"
loadmodule "domain.so"
loadmodule "alias_db.so"
modparam("ctl", "binrpc", "unix:{run}/kamailio_ctl")
modparam("permissions", "db_url", "{url}")
modparam("permissions", "db_mode", {db_mode})
modparam("permissions", "peer_tag_mode", {db_mode})
modparam("permissions", "peer_tag_avp", "$avp(s:peer)")
modparam("permissions", "reload_delta", 0)
modparam("domain", "db_url", "{url}")
modparam("alias_db", "db_url", "{url}")
modparam("alias_db", "append_branches", 1)
request_route {{
    $var(tags) = "";
    if ($ci =~ "^addr") {{
        $var(port) = $(hdr(X-Port){{s.int}});
        $var(grp) = $(hdr(X-Grp){{s.int}});
        allow_source_address(); $var(a) = $rc;
        allow_source_address("2"); $var(b) = $rc;
        # A variable holding a string is no integer for Kamailio: -1 and an error line.
        allow_address("1", "$hdr(X-Ip)", "$hdr(X-Port)"); $var(c) = $rc;
        allow_address("1", "$hdr(X-Ip)", "$var(port)"); $var(g) = $rc;
        allow_address("$var(grp)", "$hdr(X-Ip)", "$var(port)"); $var(d) = $rc;
        allow_address_group("$hdr(X-Ip)", "$var(port)"); $var(e) = $rc;
        allow_source_address_group(); $var(f) = $rc;
        route(TAGS);
        sl_send_reply("200", "addr $var(a) $var(b) $var(c) $var(g) $var(d) $var(e) $var(f) [$var(tags)]");
        exit;
    }}
    if ($ci =~ "^trust") {{
        allow_trusted(); $var(a) = $rc;
        allow_trusted("$si", "any"); $var(b) = $rc;
        allow_trusted("$hdr(X-Ip)", "$hdr(X-Proto)", "$hdr(X-Uri)"); $var(c) = $rc;
        route(TAGS);
        sl_send_reply("200", "trust $var(a) $var(b) $var(c) [$var(tags)]");
        exit;
    }}
    if ($ci =~ "^dom") {{
        is_from_local(); $var(a) = $rc;
        is_uri_host_local(); $var(b) = $rc;
        is_domain_local("$hdr(X-Dom)"); $var(c) = $rc;
        lookup_domain("$hdr(X-Dom)", "dom_"); $var(d) = $rc;
        sl_send_reply("200", "dom $var(a) $var(b) $var(c) $var(d) did=$avp(dom_did) tz=$avp(dom_tz) max=$avp(dom_max) min=$avp(dom_min)");
        exit;
    }}
    if ($ci =~ "^alias") {{
        alias_db_find("dbaliases", "$fu", "$avp(fa)", "r"); $var(b) = $rc;
        if ($hdr(X-Flags) != $null) {{
            alias_db_lookup("dbaliases", "u");
        }} else {{
            alias_db_lookup("dbaliases");
        }}
        $var(a) = $rc;
        sl_send_reply("200", "alias $var(a) $var(b) ru=$ru br=$br fa=$avp(fa)");
        exit;
    }}
    sl_send_reply("404", "Not Here");
}}
route[TAGS] {{
    $var(i) = 0;
    while ($(avp(peer)[$var(i)]) != $null && $var(i) < 10) {{
        $var(tags) = $var(tags) + $(avp(peer)[$var(i)]) + ",";
        $var(i) = $var(i) + 1;
    }}
}}
"#
    )
}

fn insert(db: &Db, table: &str, row: &[(&str, Value)]) {
    db.insert(table, row)
        .unwrap_or_else(|e| panic!("insert into {table}: {e}"));
}

/// Kamailio's schema and the rows the flows use, in a new SQLite file.
fn database(dir: &Path) -> String {
    let url = format!("sqlite://{}", dir.join("kamailio.sqlite").display());
    let db = Db::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    schema::create(&db, &schema::all()).unwrap_or_else(|e| panic!("{e}"));
    fill(&db);
    url
}

/// The flows' tables on a database server, dropped and made again (with their version rows).
fn server_database(url: &str) -> String {
    let db = Db::connect(url).unwrap_or_else(|e| panic!("{e}"));
    for t in TABLES {
        db.raw_execute(&format!("DROP TABLE IF EXISTS {t}"))
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = db.delete(
            "version",
            &[ferrosip_modules::db::ferrosip_db::Cond::eq("table_name", t)],
        );
    }
    let tables: Vec<_> = TABLES.iter().filter_map(|t| schema::table(t)).collect();
    schema::create(&db, &tables).unwrap_or_else(|e| panic!("{e}"));
    fill(&db);
    url.to_string()
}

/// The rows of [`TABLES`].
fn fill(db: &Db) {
    let addr = |grp: i32, ip: &str, mask: i32, port: i32, tag: Option<&str>| {
        vec![
            ("grp", Value::Int(grp)),
            ("ip_addr", ip.into()),
            ("mask", mask.into()),
            ("port", port.into()),
            ("tag", tag.into()),
        ]
    };
    for row in [
        addr(1, "127.0.0.1", 32, 0, Some("lo-any")),
        addr(2, "127.0.0.1", 32, 1, Some("lo-port1")),
        addr(3, "10.0.0.0", 8, 0, Some("ten")),
        addr(3, "10.1.0.0", 16, 5060, Some("ten-one")),
        addr(2, "10.1.2.0", 24, 0, None),
        addr(1, "gw.example.com", 0, 5060, Some("gw")),
        addr(4, "192.0.2.7", 0, 0, None),
        addr(5, "2001:db8::", 32, 0, Some("v6")),
    ] {
        insert(db, "address", &row);
    }
    let trusted = |src: &str, proto: &str, from: Option<&str>, ruri: Option<&str>, tag, prio| {
        vec![
            ("src_ip", Value::from(src)),
            ("proto", proto.into()),
            ("from_pattern", from.into()),
            ("ruri_pattern", ruri.into()),
            ("tag", Value::from(Some(tag))),
            ("priority", Value::Int(prio)),
        ]
    };
    for row in [
        trusted(
            "127.0.0.1",
            "udp",
            Some("^sip:alice@"),
            None,
            "alice-udp",
            10,
        ),
        trusted("127.0.0.1", "any", None, None, "any", 5),
        trusted("127.0.0.1", "tcp", None, None, "tcp", 20),
        trusted("127.0.0.1", "UDP", None, Some("^sip:bob@"), "to-bob", 1),
        trusted("10.0.0.9", "any", Some("sip:(x)+@"), None, "bre", 0),
        trusted("10.0.0.9", "none", None, None, "none-row", 0),
    ] {
        insert(db, "trusted", &row);
    }
    for (domain, did) in [
        ("example.com", Some("d1")),
        ("Other.ORG", None),
        ("alias.example.com", Some("d1")),
    ] {
        insert(
            db,
            "domain",
            &[("domain", domain.into()), ("did", did.into())],
        );
    }
    // An integer attribute may be signed; an empty one is 0 (Kamailio's str2slong).
    for (name, ty, value) in [("tz", 2, "CET"), ("max", 0, "+42"), ("min", 0, "")] {
        insert(
            db,
            "domain_attrs",
            &[
                ("did", "d1".into()),
                ("name", name.into()),
                ("type", Value::Int(ty)),
                ("value", value.into()),
            ],
        );
    }
    for (au, ad, u, d) in [
        ("sales", "example.com", "alice", "example.com"),
        ("sales", "example.com", "bob", "example.com"),
        ("support", "other.org", "carol", "other.org"),
    ] {
        insert(
            db,
            "dbaliases",
            &[
                ("alias_username", au.into()),
                ("alias_domain", ad.into()),
                ("username", u.into()),
                ("domain", d.into()),
            ],
        );
    }
}

/// One request; the status line of the first final answer.
fn ask(
    sock: &UdpSocket,
    to: SocketAddr,
    callid: &str,
    ruri: &str,
    from: &str,
    hdrs: &[(&str, &str)],
) -> String {
    let local = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    let mut m = format!(
        "OPTIONS {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{local};rport;branch=z9hG4bK-{callid}\r\n\
Max-Forwards: 70\r\nFrom: <{from}>;tag=f1\r\nTo: <{ruri}>\r\nCall-ID: {callid}\r\nCSeq: 1 OPTIONS\r\n"
    );
    for (h, v) in hdrs {
        m.push_str(&format!("{h}: {v}\r\n"));
    }
    m.push_str("Content-Length: 0\r\n\r\n");
    let _ = sock.send_to(m.as_bytes(), to);
    w::collect_udp(sock, Duration::from_secs(3))
        .into_iter()
        .find(|r| !r.starts_with("SIP/2.0 1"))
        .and_then(|r| r.lines().next().map(str::to_string))
        .unwrap_or_default()
}

fn kamcmd(sock: &str, args: &[&str]) -> String {
    let out = Command::new("timeout")
        .arg("10")
        .arg(KAMCMD)
        .arg("-s")
        .arg(sock)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run kamcmd: {e}"));
    let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s.trim().to_string()
}

/// The flows against one server; `db` adds rows before the reload step.
fn flows(to: SocketAddr, ctl: &str, url: &str, db_mode: i32) -> Vec<(String, String)> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let me = format!("127.0.0.1:{}", to.port());
    let mut out = Vec::new();
    let mut step = |what: &str, callid: &str, ruri: &str, from: &str, hdrs: &[(&str, &str)]| {
        let st = ask(&sock, to, callid, ruri, from, hdrs);
        out.push((what.to_string(), st));
    };
    let alice = "sip:alice@example.com";
    let ruri = format!("sip:bob@{me}");
    for (i, (ip, port, grp)) in [
        ("127.0.0.1", "5060", "2"),
        ("10.1.2.3", "5060", "3"),
        ("10.1.2.3", "5061", "2"),
        ("10.200.0.1", "1", "3"),
        ("gw.example.com", "5060", "1"),
        ("gw.example.com", "5061", "1"),
        ("192.0.2.7", "9", "4"),
        ("2001:db8:0:1::5", "9", "5"),
        ("[2001:db8::1]", "9", "5"),
        ("203.0.113.1", "5060", "1"),
    ]
    .iter()
    .enumerate()
    {
        let hdrs = [("X-Ip", *ip), ("X-Port", *port), ("X-Grp", *grp)];
        step(
            &format!("address {ip}:{port} group {grp}"),
            &format!("addr-{i}"),
            &ruri,
            alice,
            &hdrs,
        );
    }
    for (i, (from, r, ip, proto, uri)) in [
        (
            alice,
            "sip:bob@example.com",
            "10.0.0.9",
            "any",
            "sip:(x)+@h",
        ),
        (
            "sip:carol@example.com",
            "sip:dave@example.com",
            "10.0.0.9",
            "udp",
            "sip:xx@h",
        ),
        (
            "sip:carol@example.com",
            "sip:bob@example.com",
            "10.0.0.9",
            "UDP",
            "sip:(x)+@h",
        ),
        (
            alice,
            "sip:bob@example.com",
            "127.0.0.1",
            "tcp",
            "sip:zed@h",
        ),
        (
            alice,
            "sip:bob@example.com",
            "127.0.0.1",
            "quic",
            "sip:zed@h",
        ),
    ]
    .iter()
    .enumerate()
    {
        let hdrs = [("X-Ip", *ip), ("X-Proto", *proto), ("X-Uri", *uri)];
        step(
            &format!("trusted {from} -> {r}; {ip} {proto} {uri}"),
            &format!("trust-{i}"),
            r,
            from,
            &hdrs,
        );
    }
    for (i, (from, r, dom)) in [
        (alice, "sip:bob@OTHER.org", "alias.example.com"),
        ("sip:x@elsewhere.net", "sip:bob@example.com", "nowhere.net"),
        (alice, "sip:bob@nowhere.net", "other.org"),
    ]
    .iter()
    .enumerate()
    {
        step(
            &format!("domain {from} {r} {dom}"),
            &format!("dom-{i}"),
            r,
            from,
            &[("X-Dom", dom)],
        );
    }
    for (i, (from, r, flags)) in [
        (alice, "sip:sales@example.com", None),
        ("sip:carol@other.org", "sip:support@example.com", None),
        ("sip:carol@other.org", "sip:support@example.com", Some("u")),
        ("sip:zed@other.org", "sip:nobody@example.com", None),
    ]
    .iter()
    .enumerate()
    {
        let hdrs: Vec<(&str, &str)> = flags.map(|f| ("X-Flags", f)).into_iter().collect();
        step(
            &format!("alias {from} {r} {flags:?}"),
            &format!("alias-{i}"),
            r,
            from,
            &hdrs,
        );
    }
    // New rows, then the RPC reloads.
    let db = Db::connect(url).unwrap_or_else(|e| panic!("{e}"));
    let stamp = format!("db_mode {db_mode}");
    for (t, cond) in [
        ("address", ("ip_addr", "198.51.100.1")),
        ("trusted", ("src_ip", "198.51.100.1")),
        ("domain", ("domain", "new.example.net")),
    ] {
        let _ = db.delete(
            t,
            &[ferrosip_modules::db::ferrosip_db::Cond::eq(cond.0, cond.1)],
        );
    }
    insert(
        &db,
        "address",
        &[
            ("grp", Value::Int(1)),
            ("ip_addr", "198.51.100.1".into()),
            ("mask", 32.into()),
            ("port", 0.into()),
            ("tag", "new".into()),
        ],
    );
    insert(
        &db,
        "trusted",
        &[
            ("src_ip", "198.51.100.1".into()),
            ("proto", "any".into()),
            ("tag", "new-trusted".into()),
            ("priority", Value::Int(0)),
        ],
    );
    insert(&db, "domain", &[("domain", "new.example.net".into())]);
    let before = [
        ("X-Ip", "198.51.100.1"),
        ("X-Port", "7"),
        ("X-Grp", "1"),
        ("X-Proto", "any"),
        ("X-Uri", "sip:a@b"),
        ("X-Dom", "new.example.net"),
    ];
    step(
        &format!("{stamp} before reload: address"),
        "addr-r0",
        &ruri,
        alice,
        &before,
    );
    step(
        &format!("{stamp} before reload: trusted"),
        "trust-r0",
        &ruri,
        alice,
        &before,
    );
    step(
        &format!("{stamp} before reload: domain"),
        "dom-r0",
        &ruri,
        alice,
        &before,
    );
    let mut rpc = Vec::new();
    for cmd in [
        "permissions.addressReload",
        "permissions.trustedReload",
        "domain.reload",
    ] {
        rpc.push((format!("kamcmd {cmd}"), kamcmd(ctl, &[cmd])));
    }
    step(
        &format!("{stamp} after reload: address"),
        "addr-r1",
        &ruri,
        alice,
        &before,
    );
    step(
        &format!("{stamp} after reload: trusted"),
        "trust-r1",
        &ruri,
        alice,
        &before,
    );
    step(
        &format!("{stamp} after reload: domain"),
        "dom-r1",
        &ruri,
        alice,
        &before,
    );
    for cmd in [
        "permissions.addressDump",
        "permissions.subnetDump",
        "permissions.domainDump",
        "permissions.trustedDump",
        "domain.dump",
    ] {
        rpc.push((
            format!("kamcmd {cmd}"),
            dump_text(cmd, &kamcmd(ctl, &[cmd])),
        ));
    }
    out.extend(rpc);
    out
}

/// A dump as kamcmd prints it, comparable across servers: Kamailio lists exact addresses, trusted
/// rules of different sources and domains in the order of its hash buckets, which ferrosip does
/// not reproduce (it lists them in load order and numbers `table` by entry), so in those dumps
/// each run of adjacent entries is sorted and the `table` numbers are left out; subnets and
/// names are in the same order on both and compared as printed.
fn dump_text(cmd: &str, s: &str) -> String {
    let lines: Vec<&str> = s
        .lines()
        .filter(|l| !l.trim_start().starts_with("table:"))
        .collect();
    let (open, close) = match cmd {
        "permissions.addressDump" => ("{", "}"),
        "permissions.trustedDump" => ("\titem: {", "\t}"),
        "domain.dump" => ("\t\t{", "\t\t}"),
        _ => return lines.join("\n"),
    };
    let mut out: Vec<String> = Vec::new();
    let mut run: Vec<String> = Vec::new();
    let mut i = 0;
    while let Some(&l) = lines.get(i) {
        if l == open {
            let mut block = vec![l];
            i += 1;
            while let Some(&b) = lines.get(i) {
                block.push(b);
                i += 1;
                if b == close {
                    break;
                }
            }
            run.push(block.join("\n"));
            continue;
        }
        run.sort_unstable();
        out.append(&mut run);
        out.push(l.to_string());
        i += 1;
    }
    run.sort_unstable();
    out.append(&mut run);
    out.join("\n")
}

/// Starts `bin` with the config, waits for its ctl socket, runs the flows.
fn run(
    bin: &str,
    name: &str,
    url: &str,
    kamailio: bool,
    db_mode: i32,
) -> (Vec<(String, String)>, String) {
    let port = w::free_port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let dir = w::scratch(name);
    let runpath = dir.join("run");
    let _ = std::fs::create_dir_all(&runpath);
    let cfg = config(port, url, &runpath, kamailio, db_mode);
    // -w /: Kamailio 5.6 opens sqlite:///abs/path as the relative path "abs/path".
    let extra: &[&str] = if kamailio { &["-w", "/"] } else { &[] };
    let mut s = w::start_args(bin, name, &cfg, &[addr], extra);
    let ctl = format!("unix:{}/kamailio_ctl", runpath.display());
    let t0 = Instant::now();
    while !kamcmd(&ctl, &["core.uptime"]).contains("uptime")
        && t0.elapsed() < Duration::from_secs(10)
    {
        std::thread::sleep(Duration::from_millis(100));
    }
    let got = flows(addr, &ctl, url, db_mode);
    s.stop();
    (got, s.log_text())
}

fn statuses(got: &[(String, String)]) -> Vec<&str> {
    got.iter().map(|(_, s)| s.as_str()).collect()
}

/// What both servers answer, per db_mode (checked on ferrosip; the same as Kamailio 5.6.3's).
///
/// Address lines: allow_source_address(), allow_source_address("2"), allow_address with a `$hdr`
/// port (a string variable: -1 in Kamailio), with an integer port, with the given group,
/// allow_address_group, allow_source_address_group, then every peer tag added (newest first).
/// Trusted lines: allow_trusted(), allow_trusted("$si", "any"), allow_trusted(ip, proto, uri);
/// the cache orders rules by priority (highest first), the per-call query by `ORDER BY
/// priority` (lowest first); `peer_tag_mode` is 1 (all matches, their count) with the cache
/// and 0 (first match) per call. After the RPC reloads the new rows are seen; `trustedReload`
/// fails with db_mode 0 (no cache).
fn want(db_mode: i32) -> Vec<&'static str> {
    let addr = [
        "SIP/2.0 200 addr 1 -1 -1 1 -1 1 1 [lo-any,lo-any,lo-any,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 1 2 1 [lo-any,ten,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 1 2 1 [lo-any,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 1 3 1 [lo-any,ten,ten,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 1 1 1 1 [lo-any,gw,gw,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 -1 -1 1 [lo-any,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 1 4 1 [lo-any,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 1 5 1 [lo-any,v6,v6,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 1 5 1 [lo-any,v6,v6,lo-any,]",
        "SIP/2.0 200 addr 1 -1 -1 -1 -1 -1 1 [lo-any,lo-any,]",
    ];
    let trusted_cached = [
        "SIP/2.0 200 trust 3 4 1 [bre,to-bob,any,alice-udp,tcp,to-bob,any,alice-udp,]",
        "SIP/2.0 200 trust 1 2 -1 [any,tcp,any,]",
        "SIP/2.0 200 trust 2 3 1 [bre,to-bob,any,tcp,to-bob,any,]",
        "SIP/2.0 200 trust 3 4 2 [any,tcp,to-bob,any,alice-udp,tcp,to-bob,any,alice-udp,]",
        "SIP/2.0 200 trust 3 4 -1 [to-bob,any,alice-udp,tcp,to-bob,any,alice-udp,]",
    ];
    let trusted_per_call = [
        "SIP/2.0 200 trust 1 1 1 [bre,to-bob,to-bob,]",
        "SIP/2.0 200 trust 1 1 -1 [any,any,]",
        "SIP/2.0 200 trust 1 1 1 [bre,to-bob,to-bob,]",
        "SIP/2.0 200 trust 1 1 1 [any,to-bob,to-bob,]",
        "SIP/2.0 200 trust 1 1 -1 [to-bob,to-bob,]",
    ];
    let domain_alias = [
        "SIP/2.0 200 dom 1 1 1 1 did=d1 tz=CET max=42 min=0",
        "SIP/2.0 200 dom -1 1 -1 -1 did=<null> tz=<null> max=<null> min=<null>",
        "SIP/2.0 200 dom 1 -1 1 1 did=Other.ORG tz=<null> max=<null> min=<null>",
        "SIP/2.0 200 alias 1 1 ru=sip:alice@example.com br=sip:bob@example.com fa=sip:sales@example.com",
        "SIP/2.0 200 alias 1 1 ru=sip:carol@other.org br=<null> fa=sip:support@other.org",
        "SIP/2.0 200 alias -1 1 ru=sip:support@example.com br=<null> fa=sip:support@other.org",
        "SIP/2.0 200 alias -1 -1 ru=sip:nobody@example.com br=<null> fa=<null>",
        "SIP/2.0 200 addr 1 -1 -1 -1 -1 -1 1 [lo-any,lo-any,]",
    ];
    let mut v: Vec<&str> = addr.to_vec();
    if db_mode == 1 {
        v.extend(trusted_cached);
        v.extend(domain_alias);
        v.extend([
            "SIP/2.0 200 trust 3 4 -1 [to-bob,any,alice-udp,tcp,to-bob,any,alice-udp,]",
            "SIP/2.0 200 dom 1 -1 -1 -1 did=<null> tz=<null> max=<null> min=<null>",
            "SIP/2.0 200 addr 1 -1 -1 1 1 1 1 [lo-any,new,new,new,lo-any,]",
            "SIP/2.0 200 trust 3 4 1 [new-trusted,to-bob,any,alice-udp,tcp,to-bob,any,alice-udp,]",
        ]);
    } else {
        v.extend(trusted_per_call);
        v.extend(domain_alias);
        v.extend([
            // Per call: the new trusted row is seen at once, without a reload.
            "SIP/2.0 200 trust 1 1 1 [new-trusted,to-bob,to-bob,]",
            "SIP/2.0 200 dom 1 -1 -1 -1 did=<null> tz=<null> max=<null> min=<null>",
            "SIP/2.0 200 addr 1 -1 -1 1 1 1 1 [lo-any,new,new,new,lo-any,]",
            "SIP/2.0 200 trust 1 1 1 [new-trusted,to-bob,to-bob,]",
        ]);
    }
    v.extend([
        "SIP/2.0 200 dom 1 -1 1 1 did=new.example.net tz=<null> max=<null> min=<null>",
        "Reload OK",
        if db_mode == 1 {
            "Reload OK"
        } else {
            "error: 500 - Reload failed."
        },
        "",
    ]);
    v
}

/// ferrosip, then Kamailio (when it, kamcmd and the modules are installed) on the rows that
/// `fresh` makes, with `db_mode`; replies compared with each other and with [`want`].
fn compare(db_mode: i32, tag: &str, fresh: &dyn Fn(&str) -> String) {
    let url = fresh(&format!("perm_{tag}{db_mode}"));
    let drv = driver(&url);
    let (ours, log) = run(
        w::ferrosip_bin(),
        &format!("perm_{tag}{db_mode}_fs"),
        &url,
        false,
        db_mode,
    );
    let kam = w::kamailio_bin().filter(|_| {
        [drv.as_str(), "permissions", "domain", "alias_db", "ctl"]
            .iter()
            .all(|m| Path::new(&format!("{MPATH}{m}.so")).exists())
            && Path::new(KAMCMD).exists()
    });
    if let Some(kam) = kam {
        // A fresh copy of the same rows.
        let url = fresh(&format!("perm_{tag}{db_mode}_k"));
        let (theirs, klog) = run(
            kam,
            &format!("perm_{tag}{db_mode}_kam"),
            &url,
            true,
            db_mode,
        );
        assert_eq!(
            statuses(&ours),
            statuses(&theirs),
            "ferrosip vs Kamailio: {ours:#?}\n{theirs:#?}\nferrosip log:\n{log}\nKamailio log:\n{klog}"
        );
    } else {
        assert!(
            !w::ci(),
            "CI: kamailio, kamcmd and the modules are required"
        );
        eprintln!("skipped the Kamailio half: kamailio, kamcmd or a module is missing");
    }
    let want = want(db_mode);
    let got = statuses(&ours);
    let (head, dumps) = got.split_at(got.len().saturating_sub(5));
    assert_eq!(head, want, "ferrosip: {ours:#?}\n{log}");
    // The dumps after the reloads (compared with Kamailio's above): the new rows are there.
    let [addr, subnets, names, trusted, domains] = dumps else {
        panic!("five dumps: {dumps:?}");
    };
    assert_eq!(addr.matches("\titem: {").count(), 4, "{addr}");
    assert!(
        addr.contains("ip: 198.51.100.1\n\t\tport: 0\n\t\ttag: new"),
        "{addr}"
    );
    assert_eq!(subnets.matches("\tid: ").count(), 4, "{subnets}");
    assert!(
        subnets.contains("ip: 2001:db8::\n\t\tmask: 32"),
        "{subnets}"
    );
    assert!(
        names.contains("domain_name: gw.example.com\n\t\tport: 5060\n\t\ttag: gw"),
        "{names}"
    );
    if db_mode == 1 {
        assert_eq!(trusted.matches("\titem: {").count(), 6, "{trusted}");
        assert!(trusted.contains("pattern: sip:(x)+@"), "{trusted}");
    } else {
        assert_eq!(*trusted, "error: 500 - No trusted table");
    }
    assert!(
        domains.contains("domain: new.example.net\n\t\t\tdid: new.example.net"),
        "{domains}"
    );
    assert!(
        domains.contains("attrs: {\n\t\t\t\tmin\n\t\t\t\tmax\n\t\t\t\ttz"),
        "{domains}"
    );
}

fn sqlite(name: &str) -> String {
    database(&w::scratch(name))
}

#[test]
fn permissions_domain_alias_db_cached_match_kamailio() {
    compare(1, "sqlite", &sqlite);
}

#[test]
fn permissions_domain_alias_db_per_call_match_kamailio() {
    compare(0, "sqlite", &sqlite);
}

/// The same flows on PostgreSQL and MySQL/MariaDB (`crates/db/scripts/test-servers.sh start`
/// prints FERROSIP_TEST_PG_URL and FERROSIP_TEST_MYSQL_URL); the flows' tables of that database
/// are dropped and made again.
#[test]
fn permissions_domain_alias_db_on_servers_match_kamailio() {
    let mut ran = 0;
    for var in ["FERROSIP_TEST_PG_URL", "FERROSIP_TEST_MYSQL_URL"] {
        let Ok(url) = std::env::var(var) else {
            assert!(
                !w::ci(),
                "CI: {var} must be set (.ci/run starts the servers)"
            );
            eprintln!("skipped: {var} not set (crates/db/scripts/test-servers.sh)");
            continue;
        };
        let fresh = |_: &str| server_database(&url);
        for db_mode in [0, 1] {
            compare(db_mode, &driver(&url), &fresh);
        }
        ran += 1;
    }
    if ran == 0 {
        eprintln!("skipped: neither FERROSIP_TEST_PG_URL nor FERROSIP_TEST_MYSQL_URL is set");
    }
}

/// The tables Debian's stock config reads with WITH_AUTH, WITH_IPAUTH and WITH_ALIASDB: alice with
/// password "secret" in `domain`, 127.0.0.1 in address group 1, the alias `sales` of `domain` for
/// alice on `me`, and `domain` in the domain table (WITH_MULTIDOMAIN).
fn stock_database(dir: &Path, me: &str, domain: &str) -> String {
    let url = format!("sqlite://{}", dir.join("stock.sqlite").display());
    let db = Db::connect(&url).unwrap_or_else(|e| panic!("{e}"));
    schema::create(&db, &schema::all()).unwrap_or_else(|e| panic!("{e}"));
    let ha1 = ferrosip_modules::auth::digest::ha1(
        ferrosip_modules::auth::digest::Alg::Md5,
        b"alice",
        b"example.com",
        b"secret",
        b"",
        b"",
    );
    insert(
        &db,
        "subscriber",
        &[
            ("username", "alice".into()),
            ("domain", domain.into()),
            ("password", "secret".into()),
            ("ha1", ha1.as_str().into()),
            ("ha1b", "".into()),
        ],
    );
    insert(
        &db,
        "address",
        &[
            ("grp", Value::Int(1)),
            ("ip_addr", "127.0.0.1".into()),
            ("mask", 32.into()),
            ("port", 0.into()),
        ],
    );
    insert(
        &db,
        "dbaliases",
        &[
            ("alias_username", "sales".into()),
            ("alias_domain", domain.into()),
            ("username", "alice".into()),
            ("domain", me.into()),
        ],
    );
    insert(&db, "domain", &[("domain", domain.into())]);
    url
}

/// A reply to `req` with `status`, echoing Via, From, To (with a tag), Call-ID and CSeq.
fn reply_to(req: &str, status: &str) -> String {
    let mut out = format!("SIP/2.0 {status}\r\n");
    for l in req.lines() {
        let lower = l.to_ascii_lowercase();
        if lower.starts_with("via:")
            || lower.starts_with("from:")
            || lower.starts_with("call-id:")
            || lower.starts_with("cseq:")
        {
            out.push_str(l);
            out.push_str("\r\n");
        } else if lower.starts_with("to:") {
            out.push_str(l);
            out.push_str(";tag=callee1\r\n");
        }
    }
    out.push_str("Content-Length: 0\r\n\r\n");
    out
}

/// Digest credentials for a challenge in `reply`.
fn authorization(reply: &str, user: &str, pass: &str, method: &str, uri: &str) -> String {
    let (nonce, realm) = w::digest_challenge(reply);
    assert!(!nonce.is_empty(), "no challenge in {reply}");
    w::digest_credentials(user, &realm, pass, &nonce, method, uri)
}

/// Sends one request from `sock`; the status lines answered within 3 s.
fn send_request(sock: &UdpSocket, to: SocketAddr, m: &str) -> Vec<String> {
    let _ = sock.send_to(m.as_bytes(), to);
    w::collect_udp(sock, Duration::from_secs(3))
}

/// What arrives on `sock` until a final response (or `wait` is over): the 100 Trying and the
/// relayed final answer come separately, the latter maybe later on a loaded machine.
fn until_final(sock: &UdpSocket, wait: Duration) -> Vec<String> {
    let t0 = Instant::now();
    let mut out = Vec::new();
    while t0.elapsed() < wait {
        let got = w::collect_udp(sock, wait.saturating_sub(t0.elapsed()));
        if got.is_empty() {
            break;
        }
        out.extend(got);
        if out
            .iter()
            .any(|r| r.starts_with("SIP/2.0 ") && !r.starts_with("SIP/2.0 1"))
        {
            break;
        }
    }
    out
}

/// The stock-config flows against one server listening on `to`.
fn stock_flows(to: SocketAddr) -> Vec<(String, String)> {
    let me = format!("127.0.0.1:{}", to.port());
    let mut out = Vec::new();
    // alice's phone: registers, then receives the INVITE sent to her alias.
    let phone = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
    let pport = phone.local_addr().map(|a| a.port()).unwrap_or(0);
    let register = |callid: &str, auth: Option<String>| {
        let mut m = format!(
            "REGISTER sip:{me} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{pport};rport;branch=z9hG4bK-{callid}\r\n\
Max-Forwards: 70\r\nFrom: <sip:alice@{me}>;tag=r1\r\nTo: <sip:alice@{me}>\r\nCall-ID: {callid}\r\n\
CSeq: 1 REGISTER\r\nContact: <sip:alice@127.0.0.1:{pport}>\r\nExpires: 600\r\n"
        );
        if let Some(a) = auth {
            m.push_str(&format!("Authorization: {a}\r\n"));
        }
        m.push_str("Content-Length: 0\r\n\r\n");
        send_request(&phone, to, &m)
    };
    let first = register("st-reg-1", None);
    let challenge = first.first().cloned().unwrap_or_default();
    out.push(("REGISTER".to_string(), w::status_lines(&first).join(" | ")));
    let auth = authorization(
        &challenge,
        "alice",
        "secret",
        "REGISTER",
        &format!("sip:{me}"),
    );
    let second = register("st-reg-2", Some(auth));
    out.push((
        "REGISTER with credentials".to_string(),
        w::status_lines(&second).join(" | "),
    ));
    // INVITEs from a trusted address (127.0.0.1) and from an unknown one (127.0.0.2).
    for (what, src, ruri) in [
        (
            "INVITE sales from 127.0.0.1",
            "127.0.0.1",
            format!("sip:sales@{me}"),
        ),
        (
            "INVITE nobody from 127.0.0.1",
            "127.0.0.1",
            format!("sip:nobody@{me}"),
        ),
        (
            "INVITE sales from 127.0.0.2",
            "127.0.0.2",
            format!("sip:sales@{me}"),
        ),
    ] {
        let caller = UdpSocket::bind((src, 0)).unwrap_or_else(|e| panic!("{src}: {e}"));
        let cport = caller.local_addr().map(|a| a.port()).unwrap_or(0);
        let callid = format!("st-inv-{}", out.len());
        let m = format!(
            "INVITE {ruri} SIP/2.0\r\nVia: SIP/2.0/UDP {src}:{cport};rport;branch=z9hG4bK-{callid}\r\n\
Max-Forwards: 70\r\nFrom: <sip:bob@{me}>;tag=i1\r\nTo: <{ruri}>\r\nCall-ID: {callid}\r\n\
CSeq: 1 INVITE\r\nContact: <sip:bob@{src}:{cport}>\r\nContent-Length: 0\r\n\r\n"
        );
        let _ = caller.send_to(m.as_bytes(), to);
        // The phone answers 486 to what reaches it; its R-URI is what alias_db and lookup made.
        let reached = w::collect_udp(&phone, Duration::from_millis(2500));
        let mut phone_saw = "nothing".to_string();
        if let Some(inv) = reached.iter().find(|r| r.starts_with("INVITE ")) {
            phone_saw = inv
                .lines()
                .next()
                .unwrap_or("")
                .replace(&pport.to_string(), "PHONE");
            let _ = phone.send_to(reply_to(inv, "486 Busy Here").as_bytes(), to);
        }
        let answers = until_final(&caller, Duration::from_secs(3));
        out.push((
            what.to_string(),
            format!(
                "{} ; phone: {phone_saw}",
                w::status_lines(&answers).join(" | ")
            ),
        ));
    }
    out
}

/// Debian's stock kamailio.cfg (5.6) with WITH_MYSQL, WITH_AUTH, WITH_IPAUTH and WITH_ALIASDB, its
/// DBURL pointed at a SQLite file and `--loadmodule=db_sqlite.so`, on ferrosip and on Kamailio.
#[test]
fn debian_stock_cfg_with_ipauth_and_aliasdb() {
    let stock = "/etc/kamailio/kamailio.cfg";
    let Ok(cfg) = std::fs::read_to_string(stock) else {
        assert!(!w::ci(), "CI: Debian's kamailio package is required");
        eprintln!("skipped: {stock} missing (Debian's kamailio package)");
        return;
    };
    stock_ipauth_aliasdb("56", &cfg, &cfg, false);
}

/// The same with WITH_MULTIDOMAIN too (use_domain 1 in auth_db, usrloc and alias_db; the domain
/// module with register_myself): subscriber, alias and domain rows are in domain 127.0.0.1, so
/// every request stays on this machine whatever happens.
#[test]
fn debian_stock_cfg_with_ipauth_aliasdb_multidomain() {
    let stock = "/etc/kamailio/kamailio.cfg";
    let Ok(cfg) = std::fs::read_to_string(stock) else {
        assert!(!w::ci(), "CI: Debian's kamailio package is required");
        eprintln!("skipped: {stock} missing (Debian's kamailio package)");
        return;
    };
    stock_ipauth_aliasdb("56md", &cfg, &cfg, true);
}

/// Kamailio 6.0.7's kamailio.cfg (scripts/fetch-stock-cfg.sh puts it into scratch/stock, or
/// `FERROSIP_STOCK60_CFG` names it) with the same defines and flows; Kamailio 5.6.3 runs it
/// without what 5.6 lacks (the dlgs module, `send_reply_error`), which these flows do not reach.
#[test]
fn stock60_cfg_with_ipauth_and_aliasdb() {
    if let Some((cfg, for56)) = stock60() {
        stock_ipauth_aliasdb("60", &cfg, &for56, false);
    }
}

/// The 6.0 file with WITH_MULTIDOMAIN too.
#[test]
fn stock60_cfg_with_ipauth_aliasdb_multidomain() {
    if let Some((cfg, for56)) = stock60() {
        stock_ipauth_aliasdb("60md", &cfg, &for56, true);
    }
}

/// Kamailio 6.0.7's kamailio.cfg and Kamailio 5.6.3's copy of it; `None` (skipped) when absent.
fn stock60() -> Option<(String, String)> {
    let Some(cfg) = stock_support::stock60_path().and_then(|p| std::fs::read_to_string(p).ok())
    else {
        eprintln!("skipped: scratch/stock/kamailio-6.0.cfg absent (scripts/fetch-stock-cfg.sh)");
        return None;
    };
    let for56 = stock_support::for_kamailio56(&cfg);
    Some((cfg, for56))
}

/// The stock flows with `cfg` on ferrosip and `kcfg` on Kamailio (when installed).
fn stock_ipauth_aliasdb(tag: &str, cfg: &str, kcfg: &str, multidomain: bool) {
    let mut servers = vec![("ferrosip", w::ferrosip_bin())];
    match w::kamailio_bin() {
        Some(k) if Path::new(&format!("{MPATH}db_sqlite.so")).exists() => {
            servers.push(("kamailio", k))
        }
        _ => {
            assert!(
                !w::ci(),
                "CI: kamailio and its db_sqlite module are required"
            );
            eprintln!("skipped the Kamailio half: kamailio or its db_sqlite.so missing");
        }
    }
    let mut answers = Vec::new();
    for (name, bin) in servers {
        let port = w::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let me = format!("127.0.0.1:{port}");
        let dir = w::scratch(&format!("perm_stock{tag}_{name}"));
        let domain = if multidomain {
            "127.0.0.1"
        } else {
            "example.com"
        };
        let url = stock_database(&dir, &me, domain);
        let dburl = format!("DBURL=\"{url}\"");
        let listen = format!("udp:127.0.0.1:{port}");
        let mut args = vec![
            "-A",
            "WITH_MYSQL",
            "-A",
            "WITH_AUTH",
            "-A",
            "WITH_IPAUTH",
            "-A",
            "WITH_ALIASDB",
            "-A",
            &dburl,
            "-l",
            &listen,
            "--loadmodule=db_sqlite.so",
        ];
        if name == "kamailio" {
            args.extend(["-w", "/"]);
        }
        if multidomain {
            args.extend(["-A", "WITH_MULTIDOMAIN"]);
        }
        let text = if name == "kamailio" { kcfg } else { cfg };
        let mut s = w::start_args(
            bin,
            &format!("perm_stock{tag}_{name}"),
            text,
            &[addr],
            &args,
        );
        let got = stock_flows(addr);
        s.stop();
        let got: Vec<(String, String)> = got
            .into_iter()
            .map(|(k, v)| (k, v.replace(&port.to_string(), "PORT")))
            .collect();
        answers.push((name, got, s.log_text()));
    }
    let want = [
        "SIP/2.0 401 Unauthorized",
        "SIP/2.0 200 OK",
        // Trusted source: no challenge; the alias becomes alice@PORT, whose contact gets the INVITE.
        "SIP/2.0 100 trying -- your call is important to us | SIP/2.0 486 Busy Here ; phone: INVITE sip:alice@127.0.0.1:PHONE SIP/2.0",
        // An unknown user: route[LOCATION]'s t_newtran + send_reply, no 100 first.
        "SIP/2.0 404 Not Found ; phone: nothing",
        "SIP/2.0 407 Proxy Authentication Required ; phone: nothing",
    ];
    if let [(_, ours, log), (_, theirs, klog)] = answers.as_slice() {
        assert_eq!(
            ours, theirs,
            "ferrosip vs Kamailio\nferrosip log:\n{log}\nKamailio log:\n{klog}"
        );
    }
    for (name, got, log) in &answers {
        let st: Vec<&str> = got.iter().map(|(_, s)| s.as_str()).collect();
        assert_eq!(st, want, "{name}: {got:#?}\n{log}");
    }
}

/// `address_file` instead of the table, no database at all: the same lines (comments, tags with
/// punctuation, a missing mask, Kamailio's number reading) give the same answers.
#[test]
fn address_file_matches_kamailio() {
    let lines = "# group address mask port tag\n\
1 127.0.0.1\n\
2 10.0.0.0 8 0 ten;x=1 # comment\n\
3 10.1.0.0 16 5060\n\
4 gw.example.com 0 5060 gw\n\
x 10.9.9.9 24\n";
    let cfg = |port: u16, file: &str, kamailio: bool| {
        let mpath = if kamailio {
            format!("mpath=\"{MPATH}\"\n")
        } else {
            String::new()
        };
        format!(
            r#"#!KAMAILIO
{mpath}listen=udp:127.0.0.1:{port}
children=1
log_stderror=yes
debug=2
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "permissions.so"
modparam("permissions", "address_file", "{file}")
modparam("permissions", "peer_tag_avp", "$avp(s:peer)")
request_route {{
    $var(port) = $(hdr(X-Port){{s.int}});
    $var(grp) = $(hdr(X-Grp){{s.int}});
    allow_address("$var(grp)", "$hdr(X-Ip)", "$var(port)"); $var(a) = $rc;
    allow_address_group("$hdr(X-Ip)", "$var(port)"); $var(b) = $rc;
    allow_source_address(); $var(c) = $rc;
    sl_send_reply("200", "file $var(a) $var(b) $var(c) $avp(peer)");
}}
"#
        )
    };
    let asks = [
        ("10.2.3.4", "1", "2"),
        ("10.1.3.4", "5060", "3"),
        ("10.1.3.4", "5061", "3"),
        ("gw.example.com", "5060", "4"),
        ("x", "0", "0"),
        ("127.0.0.1", "9", "1"),
    ];
    let mut servers = vec![("ferrosip", w::ferrosip_bin())];
    match w::kamailio_bin() {
        Some(k) if Path::new(&format!("{MPATH}permissions.so")).exists() => {
            servers.push(("kamailio", k))
        }
        _ => {
            assert!(
                !w::ci(),
                "CI: kamailio and its permissions module are required"
            );
            eprintln!("skipped the Kamailio half");
        }
    }
    let mut answers = Vec::new();
    for (name, bin) in servers {
        let dir = w::scratch(&format!("perm_file_{name}"));
        let file = dir.join("address.list");
        std::fs::write(&file, lines).unwrap_or_else(|e| panic!("{e}"));
        let port = w::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let text = cfg(port, &file.display().to_string(), name == "kamailio");
        let mut s = w::start(bin, &format!("perm_file_{name}"), &text, &[addr]);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<String> = asks
            .iter()
            .enumerate()
            .map(|(i, (ip, p, g))| {
                let hdrs = [("X-Ip", *ip), ("X-Port", *p), ("X-Grp", *g)];
                ask(
                    &sock,
                    addr,
                    &format!("file-{i}"),
                    "sip:a@example.com",
                    "sip:b@example.com",
                    &hdrs,
                )
            })
            .collect();
        s.stop();
        answers.push((name, got, s.log_text()));
    }
    if let [(_, ours, log), (_, theirs, klog)] = answers.as_slice() {
        assert_eq!(ours, theirs, "ferrosip log:\n{log}\nKamailio log:\n{klog}");
    }
    let want = [
        "SIP/2.0 200 file 1 2 1 ten;x=1",
        "SIP/2.0 200 file 1 2 1 ten;x=1",
        "SIP/2.0 200 file -1 2 1 ten;x=1",
        "SIP/2.0 200 file 1 4 1 gw",
        // The line "x 10.9.9.9 24" is group 0, name "x", mask 10, tag ".9.9.9":
        // allow_address_group returns 0, which ends the script: no reply at all.
        "",
        "SIP/2.0 200 file 1 1 1 <null>",
    ];
    for (name, got, log) in &answers {
        assert_eq!(got, &want, "{name}\n{log}");
    }
}

/// `register_myself` 1: `uri==myself` and `from_uri==myself` are true for the domain table's
/// hosts (whatever the port), on both servers; nothing is forwarded, so a failure cannot send a
/// request off this machine.
#[test]
fn register_myself_matches_kamailio() {
    let cfg = |port: u16, url: &str, kamailio: bool| {
        let mpath = if kamailio {
            format!("mpath=\"{MPATH}\"\n")
        } else {
            String::new()
        };
        format!(
            r#"#!KAMAILIO
{mpath}listen=udp:127.0.0.1:{port}
children=1
log_stderror=yes
debug=2
loadmodule "db_sqlite.so"
loadmodule "sl.so"
loadmodule "pv.so"
loadmodule "domain.so"
modparam("domain", "db_url", "{url}")
modparam("domain", "register_myself", 1)
request_route {{
    $var(r) = "no"; $var(f) = "no";
    if (uri == myself) {{ $var(r) = "yes"; }}
    if (from_uri == myself) {{ $var(f) = "yes"; }}
    sl_send_reply("200", "myself ruri=$var(r) from=$var(f)");
}}
"#
        )
    };
    let cases = [
        ("sip:bob@example.com", "sip:alice@Other.ORG"),
        (
            "sip:bob@EXAMPLE.com:5099;transport=tcp",
            "sip:alice@nowhere.net",
        ),
        ("sip:bob@nowhere.net", "sip:alice@127.0.0.1"),
        ("sip:bob@sub.example.com", "sip:alice@alias.example.com"),
    ];
    let mut servers = vec![("ferrosip", w::ferrosip_bin())];
    match w::kamailio_bin() {
        Some(k)
            if ["db_sqlite", "domain"]
                .iter()
                .all(|m| Path::new(&format!("{MPATH}{m}.so")).exists()) =>
        {
            servers.push(("kamailio", k))
        }
        _ => {
            assert!(!w::ci(), "CI: kamailio and its domain module are required");
            eprintln!("skipped the Kamailio half");
        }
    }
    let mut answers = Vec::new();
    for (name, bin) in servers {
        let url = database(&w::scratch(&format!("perm_myself_{name}")));
        let port = w::free_port();
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let extra: &[&str] = if name == "kamailio" {
            &["-w", "/"]
        } else {
            &[]
        };
        let text = cfg(port, &url, name == "kamailio");
        let mut s = w::start_args(bin, &format!("perm_myself_{name}"), &text, &[addr], extra);
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap_or_else(|e| panic!("{e}"));
        let got: Vec<String> = cases
            .iter()
            .enumerate()
            .map(|(i, (ruri, from))| ask(&sock, addr, &format!("self-{i}"), ruri, from, &[]))
            .collect();
        s.stop();
        answers.push((name, got, s.log_text()));
    }
    if let [(_, ours, log), (_, theirs, klog)] = answers.as_slice() {
        assert_eq!(ours, theirs, "ferrosip log:\n{log}\nKamailio log:\n{klog}");
    }
    let want = [
        "SIP/2.0 200 myself ruri=yes from=yes",
        "SIP/2.0 200 myself ruri=yes from=no",
        // 127.0.0.1 without a port is 127.0.0.1:5060: not the listening socket, not a domain.
        "SIP/2.0 200 myself ruri=no from=no",
        "SIP/2.0 200 myself ruri=no from=yes",
    ];
    for (name, got, log) in &answers {
        assert_eq!(got, &want, "{name}\n{log}");
    }
}
