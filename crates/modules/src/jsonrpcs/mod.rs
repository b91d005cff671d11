//! `jsonrpcs`: JSON-RPC 2.0 control interface over a FIFO (`fifo_name`, replies to the FIFO named
//! by `reply_name` in `fifo_reply_dir`), a unix datagram or UDP socket (`dgram_socket`), TCP
//! (`tcp_socket`) and HTTP (`jsonrpc_dispatch()` in `event_route[xhttp:request]`, transport bit 1,
//! answered through the xhttp module); `jsonrpc_exec()` and `$jsonrpl(code|text|body)` for the
//! script.
//!
//! The RPC commands served are those of every loaded module, plus `system.listMethods`,
//! `system.methodHelp` and `system.methodSignature`, through the [`RpcTable`] shared with `ctl`.
//! Reply documents reproduce Kamailio 5.6.3's byte for byte (checked in tests/jsonrpcs_tests.rs).

pub mod json;
pub(crate) mod listen;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::thread::ThreadId;

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::pv::{PvInner, PvName};
use ferrosip_api::{
    Arg, Ctx, Error, FnExport, InitCtx, ModParam, ModParamType, ModValue, ModuleExports, ParamKind,
    PvExport, PvNameRule, Registry, RetCode, RouteMask, Value,
};

use json::Json;
use listen::{DgramSocket, Ownership, Runner, StreamListener};

/// Where relative socket and FIFO names live unless configured otherwise (Kamailio's
/// `runtime_dir`, ferrosip's default). The module cannot see `-Y` yet (docs/control.md).
pub const DEFAULT_RUNDIR: &str = "/run/ferrosip";

/// The RPC commands of all loaded modules, shared by the `jsonrpcs` and `ctl` listeners.
///
/// The registry does not hand its RPC list to init hooks, so the server attaches it once every
/// module is initialised ([`RpcTable::attach_registry`]); until then calls fail with a 500 fault.
#[derive(Default)]
pub struct RpcTable {
    rpcs: RwLock<Option<Vec<RpcExport>>>,
}

/// What a call came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// The command's result.
    Value(RpcValue),
    /// The command failed.
    Fault(RpcFault),
    /// No such command (each transport words this differently, as Kamailio does).
    NotFound,
}

impl RpcTable {
    /// An empty, unattached table.
    pub fn new() -> RpcTable {
        RpcTable::default()
    }

    /// Sets the commands served.
    pub fn attach(&self, rpcs: Vec<RpcExport>) {
        let mut g = match self.rpcs.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        *g = Some(rpcs);
    }

    /// Serves every RPC command of every module in `reg`.
    pub fn attach_registry(&self, reg: &Registry) {
        self.attach(
            reg.modules()
                .iter()
                .flat_map(|m| m.rpcs.iter().cloned())
                .collect(),
        );
    }

    /// Names of all commands, sorted, the `system.*` ones included.
    pub fn names(&self) -> Vec<String> {
        let g = match self.rpcs.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut v: Vec<String> = g
            .iter()
            .flatten()
            .map(|r| r.name.to_string())
            .chain(SYSTEM.iter().map(|s| s.to_string()))
            .collect();
        v.sort_unstable();
        v.dedup();
        v
    }

    /// Runs `method` with `params`.
    pub fn call(&self, method: &str, params: &[RpcValue]) -> Outcome {
        match method {
            "system.listMethods" => {
                return Outcome::Value(RpcValue::Array(
                    self.names().into_iter().map(RpcValue::Str).collect(),
                ))
            }
            "system.methodSignature" => return Outcome::Fault(fault(500, "Not Implemented Yet")),
            "system.methodHelp" => {
                let name = match params.first() {
                    Some(RpcValue::Str(s)) => s.clone(),
                    _ => return Outcome::Fault(fault(400, "Method Name Expected")),
                };
                return match name.as_str() {
                    "system.listMethods" => Outcome::Value(RpcValue::Str(
                        "Lists all RPC methods supported by the server.".into(),
                    )),
                    "system.methodHelp" => Outcome::Value(RpcValue::Str(
                        "Print the help string for given method.".into(),
                    )),
                    "system.methodSignature" => {
                        Outcome::Value(RpcValue::Str("Returns signature of given method.".into()))
                    }
                    n => match self.find(n) {
                        Some(r) => Outcome::Value(RpcValue::Str(r.doc.to_string())),
                        None => Outcome::Fault(fault(400, "command not found")),
                    },
                };
            }
            _ => {}
        }
        let attached = match self.rpcs.read() {
            Ok(g) => g.is_some(),
            Err(p) => p.into_inner().is_some(),
        };
        if !attached {
            return Outcome::Fault(fault(
                500,
                "RPC commands not attached yet (server starting)",
            ));
        }
        match self.find(method) {
            Some(r) => match (r.handler)(params) {
                Ok(v) => Outcome::Value(v),
                Err(f) => Outcome::Fault(f),
            },
            None => Outcome::NotFound,
        }
    }

    fn find(&self, name: &str) -> Option<RpcExport> {
        let g = match self.rpcs.read() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        g.as_ref()?.iter().find(|r| r.name == name).cloned()
    }
}

/// The table shared by `jsonrpcs` and `ctl`: the first of them initialised creates and offers it,
/// the other takes it.
pub fn shared_table(ictx: &mut InitCtx<'_>) -> Arc<RpcTable> {
    match ictx.api::<RpcTable>() {
        Some(t) => t,
        None => {
            let t = Arc::new(RpcTable::new());
            ictx.provide(Arc::clone(&t));
            t
        }
    }
}

/// A processed JSON-RPC request: the reply document and what `$jsonrpl` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// The reply document.
    pub body: String,
    /// 200, or the fault code (codes up to 100 show as 500, as in Kamailio).
    pub code: i32,
    /// `OK` or the fault text.
    pub text: String,
    /// `reply_name` of the request (FIFO transport).
    pub reply_name: Option<String>,
}

/// Processes one request document as Kamailio's jsonrpcs does: `None` for text that is not JSON
/// (no reply at all); a request without `"jsonrpc": "2.0"`, without `method` or with `params`
/// that are neither array nor object gets an empty `result` object; an unknown method gets error
/// 500 "Method Not Found". Object `params` are passed positionally, in member order.
pub fn process(table: &RpcTable, pretty: bool, raw: &[u8]) -> Option<Reply> {
    let req = json::parse(raw).ok()?;
    let mut result: Option<Json> = None;
    let mut error: Option<RpcFault> = None;
    let reply_name = req
        .get("reply_name")
        .and_then(Json::as_str)
        .map(str::to_string);
    'run: {
        if req.get("jsonrpc").and_then(Json::as_str) != Some("2.0") {
            break 'run;
        }
        let Some(method) = req.get("method").and_then(Json::as_str) else {
            break 'run;
        };
        let params: Vec<RpcValue> = match req.get("params") {
            None => Vec::new(),
            Some(Json::Array(a)) => a.iter().map(RpcValue::from).collect(),
            Some(Json::Object(m)) => m.iter().map(|(_, v)| RpcValue::from(v)).collect(),
            Some(_) => break 'run,
        };
        match table.call(method, &params) {
            Outcome::Value(RpcValue::Null) => {}
            Outcome::Value(v) => result = Some(Json::from(&v)),
            Outcome::Fault(f) => error = Some(f),
            Outcome::NotFound => error = Some(fault(500, "Method Not Found")),
        }
    }
    let mut root = vec![("jsonrpc".to_string(), Json::Str("2.0".into()))];
    let (code, text) = match &error {
        Some(f) => {
            let code = if f.code == 0 { -32000 } else { f.code };
            let message = match ERRORS.iter().find(|(c, _)| *c == code) {
                Some((_, t)) => t.to_string(),
                None if f.message.is_empty() => "Unexpected Error".to_string(),
                None => f.message.clone(),
            };
            root.push((
                "error".into(),
                Json::Object(vec![
                    ("code".into(), Json::Int(i64::from(code))),
                    ("message".into(), Json::Str(message)),
                ]),
            ));
            (if f.code <= 100 { 500 } else { f.code }, f.message.clone())
        }
        None => {
            root.push(("result".into(), result.unwrap_or(Json::Object(Vec::new()))));
            (200, "OK".to_string())
        }
    };
    if let Some(id) = req.get("id") {
        let v = match id {
            Json::Str(s) => Json::Str(s.clone()),
            Json::Int(i) => Json::Int(*i),
            Json::Float(f) => Json::Float(*f),
            // cJSON reads other types' number as 0
            _ => Json::Int(0),
        };
        root.push(("id".into(), v));
    }
    Some(Reply {
        body: Json::Object(root).print(pretty),
        code,
        text,
        reply_name,
    })
}

/// The export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(State::default());
    let mut m = ModuleExports::new("jsonrpcs");
    let int = |n: &'static str, d: &'static str| ModParam::new(n, ModParamType::Int, d);
    let s = |n: &'static str, d: &'static str| ModParam::new(n, ModParamType::Str, d);
    m.params = vec![
        int("pretty_format", "Pretty-print reply documents (default 1)."),
        int("transport", "Bitmask: 1 HTTP (needs xhttp), 2 FIFO, 4 datagram, 8 TCP; 0 = all configured (default 6).")
            .check(|v| match v {
                ModValue::Int(i) if (0..=15).contains(i) => Ok(()),
                _ => Err("transport must be 0..15".into()),
            }),
        s("fifo_name", "FIFO file for requests, relative to the run dir (default kamailio_rpc.fifo)."),
        int("fifo_mode", "Permissions of the FIFO (default 0660)."),
        s("fifo_group", "Group of the FIFO (name or number, as a string)."),
        s("fifo_user", "Owner of the FIFO (name or number, as a string)."),
        s("fifo_reply_dir", "Directory of reply FIFOs (default /tmp/)."),
        s("dgram_socket", "Unix datagram socket path (relative to the run dir) or udp:host:port (default kamailio_rpc.sock)."),
        int("dgram_workers", "Threads reading the datagram socket (default 1).")
            .check(|v| match v {
                ModValue::Int(i) if (1..=64).contains(i) => Ok(()),
                _ => Err("dgram_workers must be 1..64".into()),
            }),
        int("dgram_mode", "Permissions of the datagram socket (default 0660)."),
        s("dgram_group", "Group of the datagram socket (name or number, as a string)."),
        s("dgram_user", "Owner of the datagram socket (name or number, as a string)."),
        int("dgram_timeout", "Send timeout of datagram replies in ms (default 2000)."),
        s("tcp_socket", "TCP address for requests, e.g. tcp:127.0.0.1:9090 (default none)."),
    ];
    m.functions = vec![
        {
            let st = Arc::clone(&st);
            FnExport::new(
                "jsonrpc_dispatch",
                &[],
                // Kamailio: REQUEST_ROUTE, which its event routes include.
                RouteMask::REQUEST,
                "Run the JSON-RPC request in the body of an HTTP request and answer it over HTTP.",
            )
            .with(move |ctx: &mut Ctx<'_>, _args: &[Arg]| Ok(RetCode(st.dispatch(ctx))))
        },
        {
            let st = Arc::clone(&st);
            FnExport::new(
                "jsonrpc_exec",
                &[ParamKind::Spve],
                RouteMask::ANY,
                "Run a JSON-RPC request document; the reply is in $jsonrpl(code|text|body).",
            )
            .with(move |ctx: &mut Ctx<'_>, args: &[Arg]| {
                let doc = args.first().map(|a| a.bytes(ctx)).unwrap_or_default();
                st.exec(&doc)
            })
        },
    ];
    let sp = Arc::clone(&st);
    m.pvs = vec![PvExport {
        name: "jsonrpl",
        doc: "Reply of the last jsonrpc_exec() in this worker: code, text or body.",
        inner: PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(|inner: &str, _: &Registry| match inner {
            "code" | "text" | "body" => Ok(PvInner::Str(inner.as_bytes().to_vec())),
            _ => Err(format!("unknown $jsonrpl key `{inner}` (code, text, body)")),
        })),
        get: Arc::new(move |_: &mut Ctx<'_>, n: &PvName| Ok(sp.last_reply(&n.inner))),
        set: None,
    }];
    let si = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx: &mut InitCtx<'_>| si.init(ictx)));
    let sc = Arc::clone(&st);
    m.child_init = Some(Arc::new(move |_rank| {
        sc.start();
        Ok(())
    }));
    let sd = Arc::clone(&st);
    m.destroy = Some(Arc::new(move || sd.runner.stop_all()));
    m
}

// ---- internals ----

const SYSTEM: [&str; 3] = [
    "system.listMethods",
    "system.methodHelp",
    "system.methodSignature",
];

// The JSON-RPC error codes whose message Kamailio fixes, whatever the fault text.
const ERRORS: [(i32, &str); 5] = [
    (-32700, "Parse Error"),
    (-32600, "Invalid Request"),
    (-32601, "Method Not Found"),
    (-32602, "Invalid Parameters"),
    (-32603, "Internal Error"),
];

fn fault(code: i32, message: &str) -> RpcFault {
    RpcFault {
        code,
        message: message.to_string(),
    }
}

#[derive(Debug, Clone)]
struct Config {
    pretty: bool,
    /// `jsonrpc_dispatch()` answers (transport bit 1 with xhttp loaded).
    http: bool,
    /// sl's reply API, which xhttp's replies go through (counted in sl's statistics).
    sl: crate::sl::SlReply,
    fifo: Option<(PathBuf, Ownership)>,
    reply_dir: PathBuf,
    dgram: Option<(PathBuf, Ownership)>,
    udp: Option<String>,
    dgram_workers: i64,
    dgram_timeout: u64,
    tcp: Option<String>,
}

enum Bound {
    Fifo(std::fs::File),
    Dgram(DgramSocket),
    Tcp(std::net::TcpListener),
}

#[derive(Default)]
struct State {
    cfg: OnceLock<Config>,
    table: OnceLock<Arc<RpcTable>>,
    bound: Mutex<Vec<Bound>>,
    started: AtomicBool,
    runner: Runner,
    // `$jsonrpl` is per worker, like Kamailio's per-process reply buffer.
    last: Mutex<HashMap<ThreadId, Reply>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

/// `ip:port` of a `udp:` datagram socket (the port is required, as in Kamailio).
fn udp_addr(hp: &str) -> Result<String, Error> {
    match hp.rsplit_once(':') {
        Some((h, p)) if !h.is_empty() && p.parse::<u16>().is_ok() => Ok(hp.to_string()),
        _ => Err(Error::Config(format!(
            "jsonrpcs dgram_socket udp:{hp}: needs host:port"
        ))),
    }
}

fn resolve(rundir: &Path, name: &str) -> PathBuf {
    let p = Path::new(name);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        rundir.join(p)
    }
}

impl State {
    fn init(&self, ictx: &mut InitCtx<'_>) -> Result<(), Error> {
        let table = shared_table(ictx);
        let sl = crate::sl::SlReply::of(ictx);
        let str_of = |n: &str, d: &str| match ictx.modparam(n) {
            Some(ModValue::Str(s)) => s.clone(),
            _ => d.to_string(),
        };
        let int_of = |n: &str, d: i64| match ictx.modparam(n) {
            Some(ModValue::Int(i)) => *i,
            _ => d,
        };
        let id = |n: &str, f: fn(&str) -> Result<u32, String>| -> Result<Option<u32>, Error> {
            match ictx.modparam(n) {
                Some(ModValue::Str(s)) if !s.is_empty() => f(s)
                    .map(Some)
                    .map_err(|e| Error::Config(format!("jsonrpcs {n}: {e}"))),
                _ => Ok(None),
            }
        };
        let rundir = PathBuf::from(ictx.runtime_dir());
        let mut transport = int_of("transport", 6);
        let fifo_name = str_of("fifo_name", "kamailio_rpc.fifo");
        let dgram_name = str_of("dgram_socket", "kamailio_rpc.sock");
        let tcp = str_of("tcp_socket", "");
        // Kamailio binds xhttp's API by name, whatever the load order; xhttp's reply path needs
        // only sl's reply API (xhttp itself refuses to load without sl).
        let xhttp = ictx.has_module("xhttp");
        if transport == 0 {
            // "all that can be enabled".
            if xhttp {
                transport |= 1;
            }
            if !fifo_name.is_empty() {
                transport |= 2;
            }
            if !dgram_name.is_empty() {
                transport |= 4;
            }
            if !tcp.is_empty() {
                transport |= 8;
            }
        }
        if transport & 1 != 0 && !xhttp {
            return Err(Error::Config(
                "jsonrpcs: cannot bind to XHTTP API (transport bit 1 needs the xhttp module)"
                    .into(),
            ));
        }
        let mode = |n: &str| u32::try_from(int_of(n, 0o660)).unwrap_or(0o660) & 0o7777;
        let cfg = Config {
            pretty: int_of("pretty_format", 1) != 0,
            http: transport & 1 != 0,
            sl: sl.clone(),
            fifo: if transport & 2 != 0 && !fifo_name.is_empty() {
                Some((
                    resolve(&rundir, &fifo_name),
                    Ownership {
                        mode: mode("fifo_mode"),
                        uid: id("fifo_user", listen::user_id)?,
                        gid: id("fifo_group", listen::group_id)?,
                    },
                ))
            } else {
                None
            },
            reply_dir: PathBuf::from(str_of("fifo_reply_dir", "/tmp/")),
            udp: if transport & 4 != 0 {
                match dgram_name.strip_prefix("udp:") {
                    Some(hp) => Some(udp_addr(hp)?),
                    None => None,
                }
            } else {
                None
            },
            dgram: if transport & 4 != 0
                && !dgram_name.is_empty()
                && !dgram_name.starts_with("udp:")
            {
                Some((
                    resolve(&rundir, &dgram_name),
                    Ownership {
                        mode: mode("dgram_mode"),
                        uid: id("dgram_user", listen::user_id)?,
                        gid: id("dgram_group", listen::group_id)?,
                    },
                ))
            } else {
                None
            },
            dgram_workers: int_of("dgram_workers", 1),
            dgram_timeout: u64::try_from(int_of("dgram_timeout", 2000)).unwrap_or(2000),
            tcp: if transport & 8 != 0 && !tcp.is_empty() {
                Some(tcp)
            } else {
                None
            },
        };
        if cfg.fifo.is_some() && !cfg.reply_dir.is_dir() {
            return Err(Error::Config(format!(
                "jsonrpcs fifo_reply_dir {} is not a directory",
                cfg.reply_dir.display()
            )));
        }
        let mut bound = Vec::new();
        if let Some((p, own)) = &cfg.fifo {
            bound.push(Bound::Fifo(listen::open_fifo(p, own)?));
            self.runner.owns_file(p.clone());
        }
        if let Some((p, own)) = &cfg.dgram {
            bound.push(Bound::Dgram(DgramSocket::Unix(listen::bind_unix_dgram(
                p, own,
            )?)));
            self.runner.owns_file(p.clone());
        }
        if let Some(a) = &cfg.udp {
            bound.push(Bound::Dgram(DgramSocket::Udp(listen::bind_udp(a)?)));
        }
        if let Some(t) = &cfg.tcp {
            bound.push(Bound::Tcp(listen::bind_tcp(t)?));
        }
        *lock(&self.bound) = bound;
        let _ = self.table.set(table);
        let _ = self.cfg.set(cfg);
        Ok(())
    }

    /// Starts serving the sockets bound at init (once, on the first `child_init`).
    fn start(&self) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let (Some(cfg), Some(table)) = (self.cfg.get(), self.table.get()) else {
            return;
        };
        for b in lock(&self.bound).drain(..) {
            let table = Arc::clone(table);
            let cfg = cfg.clone();
            match b {
                Bound::Fifo(f) => self.runner.spawn("jsonrpcs-fifo", move |stop| {
                    serve_fifo(f, &table, &cfg, &stop)
                }),
                Bound::Dgram(s) => {
                    let pretty = cfg.pretty;
                    listen::serve_dgram(
                        &self.runner,
                        "jsonrpcs-dgram",
                        s,
                        usize::try_from(cfg.dgram_workers).unwrap_or(1),
                        std::time::Duration::from_millis(cfg.dgram_timeout),
                        Arc::new(move |req: &[u8]| match process(&table, pretty, req) {
                            Some(r) => Some(r.body.into_bytes()),
                            None => {
                                tracing::error!("jsonrpcs dgram: invalid json document");
                                None
                            }
                        }),
                    )
                }
                Bound::Tcp(l) => {
                    let pretty = cfg.pretty;
                    listen::serve_stream(
                        &self.runner,
                        "jsonrpcs-tcp",
                        StreamListener::Tcp(l),
                        Arc::new(move |c, stop| serve_tcp_conn(c, &table, pretty, stop)),
                    )
                }
            }
        }
    }

    fn exec(&self, doc: &[u8]) -> Result<RetCode, Error> {
        let table = self
            .table
            .get()
            .ok_or_else(|| Error::Runtime("jsonrpc_exec: module not initialised".into()))?;
        let pretty = self.cfg.get().is_some_and(|c| c.pretty);
        match process(table, pretty, doc) {
            Some(r) => {
                lock(&self.last).insert(std::thread::current().id(), r);
                Ok(RetCode::TRUE)
            }
            None => Err(Error::Runtime("jsonrpc_exec: invalid JSON document".into())),
        }
    }

    /// `jsonrpc_dispatch()`: 1 when answered (or when the message is not HTTP, which Kamailio
    /// passes on), -1 when HTTP is not enabled or the body is not JSON (no reply then).
    fn dispatch(&self, ctx: &mut Ctx<'_>) -> i64 {
        let http = ctx.msg.request_line().is_some_and(|rl| {
            matches!(
                rl.proto,
                ferrosip_sipmsg::Proto::Http | ferrosip_sipmsg::Proto::Http2
            )
        });
        if !http {
            return 1;
        }
        let (Some(cfg), Some(table)) = (self.cfg.get(), self.table.get()) else {
            return -1;
        };
        if !cfg.http {
            ctx.log_error("jsonrpc over http not initialized - check transport param");
            return -1;
        }
        // Kamailio reads the body as a C string.
        let body = ctx.msg.body().unwrap_or_default();
        let body = body.split(|b| *b == 0).next().unwrap_or_default();
        let Some(r) = process(table, cfg.pretty, body) else {
            let text = format!("invalid json doc [[{}]]", String::from_utf8_lossy(body));
            ctx.log_error(&text);
            return -1;
        };
        let code = u16::try_from(r.code).unwrap_or(500);
        match crate::xhttp::reply_with(
            &cfg.sl,
            ctx,
            code,
            r.text.as_bytes(),
            b"application/json",
            r.body.as_bytes(),
        ) {
            Ok(()) => 1,
            Err(e) => {
                ctx.log_error(&format!("jsonrpc over http: {e}"));
                -1
            }
        }
    }

    fn last_reply(&self, key: &PvInner) -> Value {
        let g = lock(&self.last);
        let Some(r) = g.get(&std::thread::current().id()) else {
            return Value::Null;
        };
        match key {
            PvInner::Str(k) if k.as_slice() == b"code" => Value::Int(i64::from(r.code)),
            PvInner::Str(k) if k.as_slice() == b"text" => Value::str(r.text.as_str()),
            PvInner::Str(k) if k.as_slice() == b"body" => Value::str(r.body.as_str()),
            _ => Value::Null,
        }
    }
}

// Requests larger than this are dropped (Kamailio's FIFO reader has a similar bound).
const MAX_REQUEST: usize = 1 << 20;

fn serve_fifo(mut f: std::fs::File, table: &RpcTable, cfg: &Config, stop: &AtomicBool) {
    use std::io::Read;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    while !stop.load(Ordering::SeqCst) {
        if !listen::wait_readable(&f) {
            continue;
        }
        match f.read(&mut chunk) {
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
            Err(_) => continue,
        }
        while let Some(end) = json::object_end(&buf) {
            let req: Vec<u8> = buf.drain(..end).collect();
            let Some(reply) = process(table, cfg.pretty, &req) else {
                tracing::error!("jsonrpcs fifo: invalid json document");
                continue;
            };
            match &reply.reply_name {
                Some(name) => write_reply_fifo(&cfg.reply_dir, name, reply.body.as_bytes()),
                None => tracing::error!("jsonrpcs fifo: missing reply_name field in request"),
            }
        }
        if buf.len() > MAX_REQUEST {
            tracing::warn!("jsonrpcs fifo: input data too large, dropped");
            buf.clear();
        }
    }
}

/// Writes a reply to `<reply_dir>/<name>`: the name may not contain `.`, `/` or `\`; the file must
/// be a FIFO that is neither a symlink nor hard-linked; a client that is not reading yet gets four
/// more chances 80 ms apart (all as Kamailio does).
fn write_reply_fifo(dir: &Path, name: &str, body: &[u8]) {
    use std::io::Write;
    use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
    if name.contains(['.', '/', '\\']) || name.is_empty() {
        tracing::error!("jsonrpcs: forbidden reply fifo filename: {name}");
        return;
    }
    let path = dir.join(name);
    let mut tries = 0;
    let mut f = loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)
        {
            Ok(f) => break f,
            Err(e) if e.raw_os_error() == Some(libc::ENXIO) && tries < 4 => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(80));
            }
            Err(e) => {
                tracing::error!("jsonrpcs: cannot open reply fifo {}: {e}", path.display());
                return;
            }
        }
    };
    let safe = match (f.metadata(), std::fs::symlink_metadata(&path)) {
        (Ok(m), Ok(l)) => {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_fifo()
                && m.nlink() == 1
                && !l.file_type().is_symlink()
                && m.ino() == l.ino()
                && m.dev() == l.dev()
        }
        _ => false,
    };
    if !safe {
        tracing::error!("jsonrpcs: security: {} is not a plain fifo", path.display());
        return;
    }
    // Blocking writes from here on: a big reply must not be cut by a slow reader.
    // SAFETY: fcntl on an fd we own.
    unsafe {
        use std::os::unix::io::AsRawFd;
        let fd = f.as_raw_fd();
        let fl = libc::fcntl(fd, libc::F_GETFL);
        if fl >= 0 {
            libc::fcntl(fd, libc::F_SETFL, fl & !libc::O_NONBLOCK);
        }
    }
    if let Err(e) = f.write_all(body) {
        tracing::error!("jsonrpcs: reply fifo write: {e}");
    }
}

/// One request per connection: read a complete JSON object, answer, close.
fn serve_tcp_conn(c: &mut listen::Conn, table: &RpcTable, pretty: bool, stop: &AtomicBool) {
    use std::io::Write;
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = json::object_end(&buf) {
            if let Some(reply) = process(table, pretty, buf.get(..end).unwrap_or_default()) {
                let _ = c.write_all(reply.body.as_bytes());
            }
            return;
        }
        match listen::read_some(c, &mut chunk, stop) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        if buf.len() > MAX_REQUEST {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RpcTable {
        let t = RpcTable::new();
        t.attach(vec![
            RpcExport {
                name: "t.ok",
                doc: "ok doc",
                handler: Arc::new(|p: &[RpcValue]| Ok(RpcValue::Array(p.to_vec()))),
            },
            RpcExport {
                name: "t.fail",
                doc: "",
                handler: Arc::new(|_: &[RpcValue]| Err(fault(404, "nope"))),
            },
            RpcExport {
                name: "t.none",
                doc: "",
                handler: Arc::new(|_: &[RpcValue]| Ok(RpcValue::Null)),
            },
            RpcExport {
                name: "t.zero",
                doc: "",
                handler: Arc::new(|_: &[RpcValue]| Err(fault(0, ""))),
            },
        ]);
        t
    }

    #[test]
    fn request_shapes() {
        let t = table();
        // (request, compact reply or None for no reply)
        let cases: [(&str, Option<&str>); 12] = [
            (
                r#"{"jsonrpc":"2.0","method":"t.ok","params":[1,"a"],"id":1}"#,
                Some(r#"{"jsonrpc":"2.0","result":[1,"a"],"id":1}"#),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"t.ok","params":{"x":1,"y":"b"},"id":"s"}"#,
                Some(r#"{"jsonrpc":"2.0","result":[1,"b"],"id":"s"}"#),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"t.fail","id":2}"#,
                Some(r#"{"jsonrpc":"2.0","error":{"code":404,"message":"nope"},"id":2}"#),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"t.zero","id":2}"#,
                Some(
                    r#"{"jsonrpc":"2.0","error":{"code":-32000,"message":"Unexpected Error"},"id":2}"#,
                ),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"x.y","id":3}"#,
                Some(
                    r#"{"jsonrpc":"2.0","error":{"code":500,"message":"Method Not Found"},"id":3}"#,
                ),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"t.none"}"#,
                Some(r#"{"jsonrpc":"2.0","result":{}}"#),
            ),
            (
                r#"{"jsonrpc":"1.0","method":"t.ok","id":1}"#,
                Some(r#"{"jsonrpc":"2.0","result":{},"id":1}"#),
            ),
            (
                r#"{"jsonrpc":"2.0","id":1}"#,
                Some(r#"{"jsonrpc":"2.0","result":{},"id":1}"#),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"t.ok","params":5,"id":1}"#,
                Some(r#"{"jsonrpc":"2.0","result":{},"id":1}"#),
            ),
            (
                r#"{"jsonrpc":"2.0","method":"t.ok","id":null}"#,
                Some(r#"{"jsonrpc":"2.0","result":[],"id":0}"#),
            ),
            ("garbage", None),
            (
                r#"{"jsonrpc":"2.0","method":"system.methodSignature","id":1}"#,
                Some(
                    r#"{"jsonrpc":"2.0","error":{"code":500,"message":"Not Implemented Yet"},"id":1}"#,
                ),
            ),
        ];
        for (req, want) in cases {
            let got = process(&t, false, req.as_bytes()).map(|r| r.body);
            assert_eq!(got.as_deref(), want, "{req}");
        }
    }

    #[test]
    fn system_methods() {
        let t = table();
        let names = t.names();
        assert!(names.contains(&"t.fail".to_string()));
        assert!(names.contains(&"system.listMethods".to_string()));
        assert!(names.windows(2).all(|w| w[0] < w[1]));
        let cases = [
            ("t.ok", Outcome::Value(RpcValue::Str("ok doc".into()))),
            ("zz", Outcome::Fault(fault(400, "command not found"))),
        ];
        for (n, want) in cases {
            assert_eq!(
                t.call("system.methodHelp", &[RpcValue::Str(n.into())]),
                want
            );
        }
        let unattached = RpcTable::new();
        assert!(matches!(unattached.call("t.ok", &[]), Outcome::Fault(f) if f.code == 500));
        let r = process(&t, true, br#"{"jsonrpc":"2.0","method":"t.fail","id":1}"#).expect("reply");
        assert_eq!((r.code, r.text.as_str()), (404, "nope"));
    }
}
