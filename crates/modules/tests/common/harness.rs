//! Shared by the module test files (`#[path = "common/harness.rs"]`-included): a registry with sl,
//! xlog, maxfwd, textops, textopsx, siputils, sanity, kex, corex and the `$var`/`$avp` storage;
//! argument preparation the way the script compiler does it (constants, strings with variables,
//! regexes, output variables, then the function's own fixup); a runner that calls export entries on
//! a message and returns the return code, the message after the edits, the R-URI, the state the
//! script sees, the replies sent and the log lines (server and `tracing` target `script`).
//!
//! The script runtime (crates/script) is not a dependency of this crate, so functions are called
//! through their export tables directly.

#![allow(dead_code)]

use std::io::Read;
use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrosip_api::export::{Arg, ParamKind};
use ferrosip_api::{
    posix, store, Ctx, Dest, ModValue, ModuleExports, Proto, Recorder, RecvInfo, Registry,
    RouteType, Value, WorkerState,
};
use ferrosip_sipmsg::Msg;

/// A request most tests start from.
pub const INVITE: &str = "INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 10.0.0.1:5070;branch=z9hG4bK-1\r\n\
Max-Forwards: 70\r\n\
From: <sip:alice@example.com>;tag=a1\r\n\
To: <sip:bob@example.com>\r\n\
Call-ID: c1@10.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@10.0.0.1:5070>\r\n\
Subject: Hello There\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 11\r\n\
\r\n\
v=0\r\nab=1\r\n";

/// A registry with the modules under test, modparams applied and init run.
pub fn registry(modparams: &[(&str, &str, ModValue)]) -> Registry {
    let mut reg = Registry::new();
    let mut pv = ModuleExports::new("core");
    pv.pvs = store::var_avp_pvs();
    pv.pvs.extend(store::core_pvs());
    reg.add(pv).unwrap_or_else(|e| panic!("{e}"));
    for m in [
        ferrosip_modules::xlog::exports(),
        ferrosip_modules::sl::exports(),
        ferrosip_modules::maxfwd::exports(),
        ferrosip_modules::textops::exports(),
        ferrosip_modules::textopsx::exports(),
        ferrosip_modules::siputils::exports(),
        ferrosip_modules::sanity::exports(),
        ferrosip_modules::kex::exports(),
        ferrosip_modules::corex::exports(),
    ] {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    for (m, n, v) in modparams {
        reg.set_modparam(m, n, v.clone())
            .unwrap_or_else(|e| panic!("{m}.{n}: {e}"));
    }
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    reg
}

/// Prepares the arguments of `name` with this arity as the compiler would and runs its fixup.
/// `Err` = the config would be refused at load (message as shown to the user).
pub fn prepare(
    reg: &Registry,
    name: &str,
    args: &[&str],
) -> Result<(ferrosip_api::export::Handler, Vec<Arg>), String> {
    let entries = reg.functions(name);
    let (_, f) = entries
        .iter()
        .find(|(_, f)| f.accepts_arity(args.len()))
        .ok_or_else(|| format!("no `{name}` with {} parameters", args.len()))?;
    let mut out = Vec::new();
    for (i, a) in args.iter().enumerate() {
        let kind = f.kind_of(i).ok_or("arity")?;
        out.push(match kind {
            ParamKind::Str => Arg::Str(a.as_bytes().to_vec()),
            ParamKind::Int => Arg::Int(a.parse().map_err(|_| format!("{a}: not an int"))?),
            ParamKind::IntOrVar if a.parse::<i64>().is_ok() => Arg::Int(a.parse().unwrap_or(0)),
            ParamKind::Spve | ParamKind::IntOrVar | ParamKind::Expr => {
                let fmt = reg.parse_format(a)?;
                match fmt.as_constant() {
                    Some(c) => Arg::Str(c),
                    None => Arg::Fmt(fmt),
                }
            }
            ParamKind::Var | ParamKind::VarW => {
                let (r, _) = ferrosip_api::pv::parse_pv_ref(a.as_bytes())?;
                Arg::Var(reg.resolve_pv(&r)?)
            }
            ParamKind::Regex => Arg::Regex(posix::compile(a, false)?),
            other => return Err(format!("kind {other:?} not supported by the harness")),
        });
    }
    let handler = f
        .handler
        .clone()
        .ok_or_else(|| format!("function `{name}`: not implemented yet"))?;
    if let Some(fix) = &f.fixup {
        fix(&mut out).map_err(|m| format!("{name}(): {m}"))?;
    }
    Ok((handler, out))
}

/// What one call did.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Return code.
    pub rc: i64,
    /// The message with the edits applied (`msg_apply_changes` layout), or the error text.
    pub out: String,
    /// The R-URI after the call (as changed by the script, if it was).
    pub ruri: String,
    /// Replies sent.
    pub sent: Vec<(Dest, String)>,
    /// Lines logged through the server (level, text).
    pub logs: Vec<(i32, String)>,
    /// Lines emitted with target `script`: (klevel, text).
    pub script: Vec<(i64, String)>,
    /// Script-visible state after the calls (flags, $du, branches, AVPs).
    pub state: ferrosip_api::ctx::MsgState,
}

/// Source of test requests.
pub fn src() -> SocketAddr {
    SocketAddr::from(([10, 0, 0, 1], 5070))
}

/// Local socket of test requests.
pub fn local() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 5060))
}

/// Calls the steps on `msg` in `route`, with `setup` run on the context first (e.g. to set
/// variables) and `debug` as the log threshold.
pub fn call_with(
    reg: &Registry,
    msg: &str,
    route: RouteType,
    debug: i32,
    steps: &[(&str, &[&str])],
    setup: &dyn Fn(&mut Ctx<'_>),
) -> Outcome {
    let rcv = RecvInfo {
        src: src(),
        dst: local(),
        proto: Proto::Udp,
        socket: 0,
    };
    call_full(reg, msg.as_bytes(), route, debug, steps, setup, rcv)
}

/// [`call_with`] with explicit receive information.
pub fn call_full(
    reg: &Registry,
    msg: &[u8],
    route: RouteType,
    debug: i32,
    steps: &[(&str, &[&str])],
    setup: &dyn Fn(&mut Ctx<'_>),
    rcv: RecvInfo,
) -> Outcome {
    let mut m = Msg::parse(msg.to_vec()).unwrap_or_else(|e| panic!("parse: {e}"));
    let mut worker = WorkerState::default();
    let mut rec = Recorder {
        debug,
        myself: if MYSELF.with(|m| *m.borrow()) {
            vec![("127.0.0.1".to_string(), 5060)]
        } else {
            Vec::new()
        },
        ..Recorder::default()
    };
    let captured = Arc::new(Mutex::new(Vec::new()));
    let sub = Capture(Arc::clone(&captured));
    let mut o = Outcome::default();
    tracing::subscriber::with_default(sub, || {
        let mut ctx =
            Ctx::new(&mut m, route, rcv, &mut worker, &mut rec).unwrap_or_else(|e| panic!("{e}"));
        setup(&mut ctx);
        for (name, args) in steps {
            let (h, a) = prepare(reg, name, args).unwrap_or_else(|e| panic!("{e}"));
            o.rc = match h(&mut ctx, &a) {
                Ok(rc) => rc.0,
                Err(e) => {
                    ctx.log_error(&e.to_string());
                    -1
                }
            };
        }
        o.ruri = String::from_utf8_lossy(&ctx.ruri()).into_owned();
        let new_ruri = ctx.state.new_uri.clone();
        o.out = match ferrosip_sipmsg::build::apply_changes(
            ctx.msg,
            &ctx.edits,
            None,
            new_ruri.as_deref(),
        ) {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(e) => format!("ERROR {e}"),
        };
        o.state = ctx.state.clone();
    });
    o.sent = rec
        .sent
        .iter()
        .map(|(d, b)| (*d, String::from_utf8_lossy(b).into_owned()))
        .collect();
    o.logs = rec.logs.clone();
    o.script = captured.lock().map(|v| v.clone()).unwrap_or_default();
    o
}

/// One call in request_route with debug 3.
pub fn call(reg: &Registry, msg: &str, name: &str, args: &[&str]) -> Outcome {
    call_with(reg, msg, RouteType::Request, 3, &[(name, args)], &|_| {})
}

/// A `tracing` subscriber that keeps events of target `script`.
struct Capture(Arc<Mutex<Vec<(i64, String)>>>);

#[derive(Default)]
struct Fields {
    klevel: i64,
    message: String,
}

impl tracing::field::Visit for Fields {
    fn record_i64(&mut self, f: &tracing::field::Field, v: i64) {
        if f.name() == "klevel" {
            self.klevel = v;
        }
    }
    fn record_str(&mut self, f: &tracing::field::Field, v: &str) {
        if f.name() == "message" {
            self.message = v.to_string();
        }
    }
    fn record_debug(&mut self, f: &tracing::field::Field, v: &dyn std::fmt::Debug) {
        if f.name() == "message" {
            self.message = format!("{v:?}");
        }
    }
}

impl tracing::Subscriber for Capture {
    fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, e: &tracing::Event<'_>) {
        if e.metadata().target() != "script" {
            return;
        }
        let mut f = Fields::default();
        e.record(&mut f);
        if let Ok(mut v) = self.0.lock() {
            v.push((f.klevel, f.message));
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}

/// Sets `$var(name)` to a value in the context (through the registry's PV).
pub fn set_var(reg: &Registry, ctx: &mut Ctx<'_>, name: &str, v: Value) {
    let (r, _) = ferrosip_api::pv::parse_pv_ref(format!("$var({name})").as_bytes())
        .unwrap_or_else(|e| panic!("{e}"));
    let spec = reg.resolve_pv(&r).unwrap_or_else(|e| panic!("{e}"));
    spec.set(ctx, v).unwrap_or_else(|e| panic!("{e}"));
}

/// Kamailio 5.6.3 for differential tests.
pub const KAMAILIO: &str = "/usr/sbin/kamailio";
/// Its module directory.
pub const MPATH: &str = "/usr/lib/x86_64-linux-gnu/kamailio/modules/";

/// Escapes text for a double-quoted Kamailio config string.
pub fn cfg_str(s: &str) -> String {
    let mut out = String::new();
    for ch in s.chars() {
        match ch {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out
}

/// A free UDP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .and_then(|p| p.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// A running Kamailio with one UDP worker; its stderr is collected. Stopped (by PID) on drop.
pub struct Kamailio {
    child: Child,
    err: Arc<Mutex<Vec<u8>>>,
    dir: std::path::PathBuf,
}

impl Kamailio {
    /// Starts Kamailio with `cfg` (which must answer a request with Call-ID `ping` by logging
    /// `@@READY@@`) listening on `port`, and waits until it is ready. `None` when Kamailio is not
    /// installed (the test is skipped), except under `CI`, where that fails.
    pub fn start(cfg: &str, port: u16, client: &UdpSocket, tag: &str) -> Option<Kamailio> {
        if !std::path::Path::new(KAMAILIO).exists() {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set and {KAMAILIO} is missing"
            );
            eprintln!("skipped: {KAMAILIO} not installed");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("ferrosip-mods-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("kamailio.cfg");
        std::fs::write(&path, cfg).unwrap_or_else(|e| panic!("{e}"));
        let mut child = Command::new(KAMAILIO)
            .arg("-f")
            .arg(&path)
            .args(["-DD", "-E", "-n", "1", "-Y"])
            .arg(&dir)
            .arg("-w")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: the drop stops every Kamailio process of it.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("start kamailio: {e}"));
        let err = Arc::new(Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().unwrap_or_else(|| panic!("stderr"));
        let sink = Arc::clone(&err);
        std::thread::spawn(move || {
            let mut buf = [0u8; 8192];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                if let Ok(mut g) = sink.lock() {
                    g.extend_from_slice(buf.get(..n).unwrap_or_default());
                }
            }
        });
        let mut kam = Kamailio { child, err, dir };
        let dst = format!("127.0.0.1:{port}");
        let ping = "OPTIONS sip:p@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK-p\r\n\
From: <sip:t@x>;tag=1\r\nTo: <sip:t@x>\r\nCall-ID: ping\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
        for _ in 0..100 {
            let _ = client.send_to(ping.as_bytes(), &dst);
            if kam.wait_for("@@READY@@", Duration::from_millis(100)) {
                return Some(kam);
            }
        }
        panic!("kamailio did not start:\n{}", kam.text());
    }

    /// Everything it wrote to stderr so far.
    pub fn text(&self) -> String {
        let g = match self.err.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        String::from_utf8_lossy(&g).into_owned()
    }

    /// Waits until `needle` appears in stderr.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.text().contains(needle) {
                return true;
            }
            if let Ok(Some(_)) = self.child.try_wait() {
                return self.text().contains(needle);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        false
    }
}

impl Kamailio {
    /// SIGTERM to the main process and up to `wait` for it to exit, so that the modules' destroy
    /// hooks (htable's write-back, usrloc's flush …) run to the end. True when it exited.
    pub fn terminate(&mut self, wait: Duration) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stderr(Stdio::null())
            .status();
        let start = Instant::now();
        while start.elapsed() < wait {
            if let Ok(Some(_)) = self.child.try_wait() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }
}

impl Drop for Kamailio {
    fn drop(&mut self) {
        // SIGTERM to the main process stops its children; SIGKILL to the whole process group if
        // the main process lingers, and to the children it may leave behind (Kamailio 5.6.3's
        // shutdown can hang on a lock).
        let group = format!("-{}", self.child.id());
        self.terminate(Duration::from_secs(5));
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// [`call_full`] with 127.0.0.1:5060 registered as ours (for `is_myself`).
pub fn call_full_myself(
    reg: &Registry,
    msg: &[u8],
    steps: &[(&str, &[&str])],
    rcv: RecvInfo,
) -> Outcome {
    MYSELF.with(|m| *m.borrow_mut() = true);
    let o = call_full(reg, msg, RouteType::Request, 3, steps, &|_| {}, rcv);
    MYSELF.with(|m| *m.borrow_mut() = false);
    o
}

thread_local! {
    static MYSELF: std::cell::RefCell<bool> = const { std::cell::RefCell::new(false) };
}

/// Runs the steps, then reads `$var(name)` for each name.
pub fn read_vars(
    reg: &Registry,
    msg: &str,
    steps: &[(&str, &[&str])],
    names: &[&str],
) -> Vec<Value> {
    let mut m = Msg::parse(msg.as_bytes().to_vec()).unwrap_or_else(|e| panic!("parse: {e}"));
    let mut worker = WorkerState::default();
    let mut rec = Recorder::default();
    let mut ctx = Ctx::new(
        &mut m,
        RouteType::Request,
        RecvInfo::default(),
        &mut worker,
        &mut rec,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    for (name, args) in steps {
        let (h, a) = prepare(reg, name, args).unwrap_or_else(|e| panic!("{e}"));
        let _ = h(&mut ctx, &a);
    }
    names
        .iter()
        .map(|n| {
            let (r, _) = ferrosip_api::pv::parse_pv_ref(format!("$var({n})").as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            reg.resolve_pv(&r)
                .unwrap_or_else(|e| panic!("{e}"))
                .get(&mut ctx)
        })
        .collect()
}

/// Where the corpus lives, from this crate.
const CORPUS: &str = "../../../shared/corpus";

/// The shared test corpus: every RFC 4475/5118 torture message (`*.sip`, sorted) and every
/// `every`-th PROTOS c07-sip case (its first record, placeholders filled); `None` when the corpus
/// is not next to the repository.
pub fn corpus(every: usize) -> Option<Vec<Vec<u8>>> {
    let base = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(CORPUS);
    let torture = base.join("torture");
    let protos = base.join("protos-c07-sip/cases");
    if !torture.is_dir() || !protos.is_dir() {
        return None;
    }
    let mut names: Vec<_> = std::fs::read_dir(&torture)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sip"))
        .collect();
    names.sort();
    let mut out: Vec<Vec<u8>> = names.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    for n in (0..4527).step_by(every) {
        let Ok(raw) = std::fs::read(protos.join(format!("{n:07}"))) else {
            continue;
        };
        let Some(sp) = raw.iter().position(|b| *b == b' ') else {
            continue;
        };
        let len: usize = String::from_utf8_lossy(raw.get(..sp).unwrap_or_default())
            .parse()
            .unwrap_or(0);
        let Some(rec) = raw.get(sp + 1..sp + 1 + len) else {
            continue;
        };
        let mut text = String::from_utf8_lossy(rec).into_owned();
        for (ph, v) in [
            ("<To>", "bob@127.0.0.1"),
            ("<From>", "alice@127.0.0.1"),
            ("<From-Address>", "127.0.0.1"),
            ("<From-IP>", "127.0.0.1"),
            ("<Local-Port>", "5061"),
            ("<Branch-ID>", "z9hG4bK1"),
            ("<Call-ID>", "protos"),
            ("<CSeq>", "1"),
            ("<Content-Length>", "0"),
        ] {
            text = text.replace(ph, v);
        }
        out.push(text.into_bytes());
    }
    Some(out)
}

/// The server URL in `var`, or `None` — the test is then skipped with a message — when it is unset.
/// `.ci/run` starts PostgreSQL and MariaDB (crates/db/scripts/test-servers.sh) and sets the URLs, so
/// in CI (`CI` set) a missing URL is a failure, not a skip.
pub fn server_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(u) => Some(u),
        Err(_) => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI: {var} must be set (.ci/run starts the servers)"
            );
            eprintln!("{var} not set: skipped (crates/db/scripts/test-servers.sh starts a server)");
            None
        }
    }
}

/// The `<script>: ` lines Kamailio logged between the `@@B <callid>@@` and `@@E <callid>@@` markers
/// a test config's route prints around one message (None when the markers are not both there).
pub fn kamailio_step(text: &str, callid: &str) -> Option<Vec<String>> {
    let begin = format!("@@B {callid}@@");
    let end = format!("@@E {callid}@@");
    let start = text.find(&begin)?;
    let stop = start + text[start..].find(&end)?;
    // The end marker's own line starts before it: stop at the line break before it.
    let stop = text[..stop].rfind('\n').unwrap_or(stop).max(start);
    Some(
        text[start..stop]
            .lines()
            .skip(1)
            .filter_map(|l| {
                l.find("<script>: ")
                    .map(|p| l[p + "<script>: ".len()..].to_string())
            })
            .collect(),
    )
}

/// [`compile_request`] of a registrar test: sl, pv, xlog, usrloc and registrar loaded, then
/// `rest` (modparams and routes).
pub fn compile_registrar(rest: &str) -> (ferrosip_script::Program, ferrosip_script::RouteId) {
    compile_request(
        format!(
            "loadmodule \"sl.so\"\nloadmodule \"pv.so\"\nloadmodule \"xlog.so\"\n\
             loadmodule \"usrloc.so\"\nloadmodule \"registrar.so\"\n{rest}"
        ),
        vec![
            ferrosip_modules::sl::exports(),
            ferrosip_modules::pv::exports(),
            ferrosip_modules::xlog::exports(),
            ferrosip_modules::usrloc::exports(),
            ferrosip_modules::registrar::exports(),
        ],
    )
}

/// A config text loaded, its modparams applied to a registry of the script's base and `modules`
/// (initialised), and compiled: the program and its `request_route`. Panics on any error.
pub fn compile_request(
    cfg: String,
    modules: Vec<ferrosip_api::ModuleExports>,
) -> (ferrosip_script::Program, ferrosip_script::RouteId) {
    let loaded = ferrosip_config::load_text(
        "t.cfg",
        cfg,
        &ferrosip_config::LoadOptions::default(),
        &NoFiles,
    )
    .unwrap_or_else(|f| panic!("{}", f.render()));
    let mut reg = ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    for m in modules {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    assert!(diags.is_empty(), "{diags:?}");
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
    let request = p
        .route(ferrosip_script::Entry::Request)
        .unwrap_or_else(|| panic!("request_route"));
    (p, request)
}

/// Parses `msg` and runs the route `route` of `p` on it as a received request, with `rec` as the
/// server (it keeps the log lines and what was sent) and `w` as the worker state.
pub fn run_request(
    p: &ferrosip_script::Program,
    route: ferrosip_script::RouteId,
    w: &mut ferrosip_api::WorkerState,
    rec: &mut ferrosip_api::Recorder,
    msg: &str,
) {
    let mut m = Msg::parse(msg.as_bytes().to_vec()).unwrap_or_else(|e| panic!("{e}"));
    let mut ctx = ferrosip_api::Ctx::new(
        &mut m,
        ferrosip_api::RouteType::Request,
        ferrosip_api::RecvInfo::default(),
        w,
        rec,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    p.run(route, &mut ctx);
}

/// The script's log lines a recorder holds: line ends trimmed, the recorder's `@@` lines left out.
pub fn script_lines(rec: &ferrosip_api::Recorder) -> Vec<String> {
    rec.lines
        .iter()
        .map(|l| l.3.trim_end_matches('\n').to_string())
        .filter(|l| !l.starts_with("@@"))
        .collect()
}

/// Runs `request_route` of `cfg` (with `modules`, initialised and child-initialised as worker 1)
/// on the request `msg`, in process, and returns the script's log lines (xlog at any level, their
/// line ends trimmed; the `@@` lines of the recorder left out).
pub fn request_log_lines(
    cfg: String,
    modules: Vec<ferrosip_api::ModuleExports>,
    msg: &str,
) -> Vec<String> {
    let loaded = ferrosip_config::load_text(
        "t.cfg",
        cfg,
        &ferrosip_config::LoadOptions::default(),
        &NoFiles,
    )
    .unwrap_or_else(|f| panic!("{}", f.render()));
    let mut reg = ferrosip_script::base_registry(&loaded.config).unwrap_or_else(|e| panic!("{e}"));
    for m in modules {
        reg.add(m).unwrap_or_else(|e| panic!("{e}"));
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    assert!(diags.is_empty(), "{diags:?}");
    reg.init_all().unwrap_or_else(|e| panic!("{e}"));
    reg.child_init_all(1).unwrap_or_else(|e| panic!("{e}"));
    let p = ferrosip_script::compile(&loaded, &reg).unwrap_or_else(|d| panic!("{d:?}"));
    let request = p
        .route(ferrosip_script::Entry::Request)
        .unwrap_or_else(|| panic!("request_route"));
    let mut w = ferrosip_api::WorkerState::default();
    let mut rec = ferrosip_api::Recorder {
        debug: 3,
        ..ferrosip_api::Recorder::default()
    };
    run_request(&p, request, &mut w, &mut rec, msg);
    script_lines(&rec)
}

/// A config host with no include files and no environment.
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
