//! Shared harness: a registry with the core, the `$var`/`$avp` storage PVs and a few test-only
//! exports (`$rm`, `$ru`, `rec()`, `ret()`, route-restricted functions, `reply()`), a config loader
//! and a runner that returns what the script logged, sent and returned.

#![allow(dead_code)]

use std::sync::Arc;

use ferrosip_api::export::{FnExport, ParamKind as K, PvExport, PvNameRule};
use ferrosip_api::{
    store, Ctx, Dest, ModuleExports, Recorder, RecvInfo, Registry, RetCode, RouteMask, RouteType,
    Value, WorkerState,
};
use ferrosip_config::{LoadOptions, Loaded};
use ferrosip_script::{compile_config, CompileOptions, Entry, Outcome, Program};
use ferrosip_sipmsg::Msg;

pub struct NoFiles;

impl ferrosip_config::Host for NoFiles {
    fn read_file(&self, path: &str) -> std::io::Result<Vec<u8>> {
        Err(std::io::Error::new(
            std::io::ErrorKind::NotFound,
            path.to_string(),
        ))
    }
    fn env(&self, _: &str) -> Option<String> {
        None
    }
}

/// The test-only module: message PVs `$rm`/`$ru` and helper functions.
pub fn test_module() -> ModuleExports {
    let mut m = ModuleExports::new("pv");
    m.pvs = store::var_avp_pvs();
    m.pvs.push(PvExport {
        name: "rm",
        doc: "request method (test registry)",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(|ctx: &mut Ctx<'_>, _| {
            Ok(match ctx.msg.request_line() {
                Some(rl) => Value::Str(rl.method_span.of(ctx.msg.buf()).to_vec()),
                None => Value::Null,
            })
        }),
        set: None,
    });
    m.pvs.push(PvExport {
        name: "ru",
        doc: "request URI (test registry)",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(|ctx: &mut Ctx<'_>, _| Ok(Value::Str(ctx.ruri()))),
        set: Some(Arc::new(|ctx: &mut Ctx<'_>, _, v: Value| {
            ctx.state.new_uri = if v.is_null() {
                None
            } else {
                Some(v.into_bytes())
            };
            Ok(())
        })),
    });
    m.functions = vec![
        // rec("text with $vars"): records one line at L_INFO.
        FnExport::new(
            "rec",
            &[K::Spve],
            RouteMask::ANY,
            "test: log a formatted line",
        )
        .with(|ctx, a| {
            let s = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
            ctx.log(ferrosip_api::L_INFO, &String::from_utf8_lossy(&s));
            Ok(RetCode::TRUE)
        }),
        // ret(n): returns n.
        FnExport::new(
            "ret",
            &[K::IntOrVar],
            RouteMask::ANY,
            "test: return the value",
        )
        .with(|ctx, a| {
            let n = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(1);
            Ok(RetCode(n))
        }),
        FnExport::new(
            "req_only",
            &[],
            RouteMask::REQUEST,
            "test: request routes only",
        )
        .with(|_, _| Ok(RetCode::TRUE)),
        FnExport::new(
            "fail_only",
            &[],
            RouteMask::FAILURE,
            "test: failure routes only",
        )
        .with(|_, _| Ok(RetCode::TRUE)),
        FnExport::new(
            "two",
            &[K::Str, K::Int],
            RouteMask::ANY,
            "test: two parameters",
        )
        .with(|_, _| Ok(RetCode::TRUE)),
        FnExport::new(
            "setvar",
            &[K::VarW, K::Spve],
            RouteMask::ANY,
            "test: write a variable",
        )
        .with(|ctx, a| {
            let v = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
            if let Some(ferrosip_api::Arg::Var(p)) = a.first() {
                p.set(ctx, Value::Str(v))?;
            }
            Ok(RetCode::TRUE)
        }),
        // reply(code, reason): a minimal stateless reply through the server's send.
        FnExport::new(
            "reply",
            &[K::IntOrVar, K::Spve],
            RouteMask::REQUEST,
            "test: send a reply",
        )
        .with(|ctx, a| {
            let code = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(500);
            let reason = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
            let mut out = format!("SIP/2.0 {code} ").into_bytes();
            out.extend_from_slice(&reason);
            out.extend_from_slice(b"\r\n\r\n");
            let dst = Dest {
                addr: ctx.rcv.src,
                proto: ctx.rcv.proto,
                socket: ctx.rcv.socket,
            };
            ctx.server.send(&dst, &out)?;
            Ok(RetCode::TRUE)
        }),
    ];
    m
}

pub fn registry() -> Registry {
    let mut r = Registry::new();
    r.add(ferrosip_script::core::core_module())
        .expect("core registers");
    r.add(test_module()).expect("test module registers");
    r
}

pub const OPTIONS: &str = "OPTIONS sip:alice@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-1\r\n\
From: <sip:bob@example.org>;tag=1\r\n\
To: <sip:alice@example.com>\r\n\
Call-ID: c1\r\n\
CSeq: 1 OPTIONS\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

pub const INVITE: &str = "INVITE sip:+4912345@example.com;user=phone SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.2:5060;branch=z9hG4bK-2\r\n\
From: <sip:bob@example.org>;tag=1\r\n\
To: <sip:+4912345@example.com>\r\n\
Call-ID: c2\r\n\
CSeq: 1 INVITE\r\n\
Max-Forwards: 70\r\n\
Content-Length: 0\r\n\r\n";

pub fn load(cfg: &str) -> Result<Loaded, String> {
    ferrosip_config::load_text("t.cfg", cfg.to_string(), &LoadOptions::default(), &NoFiles)
        .map_err(|f| f.render())
}

/// Loads and compiles; `Err` is the rendered diagnostics.
pub fn program(cfg: &str) -> Result<(Program, Loaded), String> {
    let loaded = load(cfg)?;
    let mut reg = registry();
    reg.add(ferrosip_script::core::cfg_module(&loaded.config))
        .map_err(|e| e.to_string())?;
    // The cfg module's init hands the config's groups to cfg_select/cfg_reset.
    reg.init_all().map_err(|e| e.to_string())?;
    let opts = CompileOptions {
        defines: vec![
            ("WITH_X".into(), Some("xval".into())),
            ("EMPTY".into(), None),
        ],
        compat: ferrosip_script::Compat::detect(cfg),
        sources: Some(loaded.sources.clone()),
    };
    match compile_config(&loaded.config, &reg, &opts) {
        Ok(p) => Ok((p, loaded)),
        Err(d) => Err(d
            .iter()
            .map(|d| d.render(&loaded.sources))
            .collect::<Vec<_>>()
            .join("\n")),
    }
}

pub struct Ran {
    pub out: Outcome,
    pub logs: Vec<String>,
    /// Only the lines of `rec()` (level L_INFO).
    pub rec_logs: Vec<String>,
    pub sent: Vec<String>,
    pub rc: i64,
    pub flags: u32,
    pub ruri: String,
    pub worker: WorkerState,
}

pub fn myself_recorder() -> Recorder {
    Recorder {
        debug: 4,
        myself: vec![
            ("127.0.0.1".into(), 5060),
            ("example.com".into(), 0),
            ("other.org".into(), 5060),
        ],
        ..Recorder::default()
    }
}

/// Runs `entry` of `p` on `msg` with a fresh or given worker state.
pub fn run_with(p: &Program, entry: Entry<'_>, msg: &str, worker: &mut WorkerState) -> Ran {
    let mut rec = myself_recorder();
    let mut m = Msg::parse(msg.as_bytes().to_vec()).expect("test message parses");
    let rcv = RecvInfo {
        src: "10.0.0.2:5060".parse().expect("addr"),
        dst: "127.0.0.1:5060".parse().expect("addr"),
        ..RecvInfo::default()
    };
    let rt = p
        .route(entry)
        .and_then(|id| p.route_type(id))
        .unwrap_or(RouteType::Request);
    let mut ctx = Ctx::new(&mut m, rt, rcv, worker, &mut rec).expect("context");
    let out = p.run_entry(entry, &mut ctx).expect("route exists");
    let rc = ctx.last_rc;
    let flags = ctx.state.flags;
    let ruri = String::from_utf8_lossy(&ctx.ruri()).into_owned();
    drop(ctx);
    Ran {
        out,
        logs: rec.logs.iter().map(|(_, l)| l.clone()).collect(),
        rec_logs: rec
            .logs
            .iter()
            .filter(|(lvl, _)| *lvl == ferrosip_api::L_INFO)
            .map(|(_, l)| l.clone())
            .collect(),
        sent: rec
            .sent
            .iter()
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect(),
        rc,
        flags,
        ruri,
        worker: worker.clone(),
    }
}

/// Compiles `cfg` and runs request_route on `msg`.
pub fn run(cfg: &str, msg: &str) -> Ran {
    let (p, _) = program(cfg).unwrap_or_else(|e| panic!("config refused:\n{e}\n---\n{cfg}"));
    let mut w = WorkerState::default();
    run_with(&p, Entry::Request, msg, &mut w)
}

/// `rec("x")` → `xlog("L_INFO", "OUT: x\n")`.
pub fn to_xlog(cfg: &str) -> String {
    let mut out = String::new();
    let mut rest = cfg;
    while let Some(i) = rest.find("rec(\"") {
        out.push_str(&rest[..i]);
        let after = &rest[i + 5..];
        let mut end = 0;
        let b = after.as_bytes();
        while end < b.len() && b[end] != b'"' {
            end += if b[end] == b'\\' { 2 } else { 1 };
        }
        out.push_str("xlog(\"L_INFO\", \"OUT: ");
        out.push_str(&after[..end.min(after.len())]);
        out.push_str("\\n\"");
        rest = &after[(end + 1).min(after.len())..];
    }
    out.push_str(rest);
    out
}

pub fn kamailio_out(body: &str) -> Vec<String> {
    use std::io::Read;
    let dir = std::env::temp_dir().join(format!("ferrosip-sem-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let cfg = format!(
        "debug=2\nlog_stderror=yes\nchildren=1\nlisten=udp:127.0.0.1:{port}\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n{body}"
    );
    let path = dir.join("k.cfg");
    std::fs::write(&path, cfg).expect("cfg");
    let mut child = std::process::Command::new("/usr/sbin/kamailio")
        .args([
            "-DD",
            "-E",
            "-n",
            "1",
            "-L",
            "/usr/lib/x86_64-linux-gnu/kamailio/modules",
            "-f",
        ])
        .arg(&path)
        .arg("-Y")
        .arg(&dir)
        .arg("-w")
        .arg(&dir)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("kamailio starts");
    // Wait until Kamailio has bound its port (our own bind then fails), instead of a fixed sleep:
    // on a loaded machine a datagram sent earlier is lost and the case reads as empty output.
    // Once bound, the kernel queues the request until the worker reads it.
    let ready = std::time::Instant::now();
    while ready.elapsed() < std::time::Duration::from_secs(15)
        && std::net::UdpSocket::bind(("127.0.0.1", port)).is_ok()
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("client");
    sock.send_to(OPTIONS.as_bytes(), ("127.0.0.1", port))
        .expect("send");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    // Stop it by PID with SIGTERM so it stops its children too.
    let _ = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut err);
    }
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    err.lines()
        .filter_map(|l| l.split_once("OUT: ").map(|(_, t)| t.to_string()))
        .collect()
}

/// Kamailio 5.6.3 (Debian's package) is needed; without it the test is skipped with a message,
/// except in CI (`CI` set), where `.ci/run` installs it.
pub fn have_kamailio() -> bool {
    if std::path::Path::new("/usr/sbin/kamailio").exists() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI: /usr/sbin/kamailio is required"
    );
    eprintln!("/usr/sbin/kamailio missing: skipped");
    false
}
