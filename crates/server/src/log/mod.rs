//! The logging back end: a `tracing` layer that prints Kamailio's log lines.
//!
//! Libraries emit with `tracing`; only the binary installs this layer ([`install`]). What it writes:
//! - the classic line on stderr (`log_stderror=yes` / `-E`), ` 0(<pid>) <LEVEL>: <core> [<file>:<line>]:
//!   <function>(): <text>`, coloured per level with `log_color` / `-e`;
//! - the same line without the ` 0(<pid>) ` origin to syslog otherwise (`log_facility`, `log_name`);
//! - JSON documents instead when the `json` log engine is selected (`--log-engine=json:FLAGS`,
//!   `log_engine_type`/`log_engine_data`).
//!
//! Conventions for emitters (Kamailio has more levels and fields than `tracing`):
//! - `klevel = <n>` picks the exact Kamailio level inside the band of the `tracing` level
//!   (`error!` carries `L_ALERT`..`L_ERR`, `info!` carries `L_NOTICE`/`L_INFO`), see [`LogLevel::band`];
//! - `func = "name"` sets the printed function name (default: the last segment of the module path);
//! - events of a target under `ferrosip_modules::<module>` are printed with that module's name, the
//!   target `script` is printed as `<script>: text` (xlog); everything else is `<core>`;
//! - a span field `call_id` (or `callid`) provides the JSON engine's `callid` (`c` flag);
//! - other fields are appended to the text as ` name=value`.
//!
//! `debug` is held in an atomic so that it can change at run time (RPC `cfg.set_now_int`); the other
//! settings are replaced as a whole under a lock, which only the start-up path and RPCs take for
//! writing. `log_prefix` is rendered per message by the receive path ([`set_message_prefix`]);
//! it is printed after the level, where Kamailio prints it ([`format::Record::prefix`]).

thread_local! {
    /// The evaluated `log_prefix` of the message this worker thread is processing (empty between
    /// messages): workers handle one message at a time, so the thread is the message.
    static MSG_PREFIX: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// Sets (or, with `""`, clears) the `log_prefix` text of the message this thread processes.
pub fn set_message_prefix(prefix: &str) {
    MSG_PREFIX.with(|p| {
        let mut p = p.borrow_mut();
        p.clear();
        p.push_str(prefix);
    });
}

pub mod action;
pub mod format;
pub mod level;

use std::ffi::CString;
use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

pub use format::{JsonFlags, Origin, Record};
pub use level::LogLevel;

use crate::Error;

/// The message format (`log_engine_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogEngine {
    /// Kamailio's classic text line.
    #[default]
    Classic,
    /// The `json` engine with its flags.
    Json(JsonFlags),
}

impl LogEngine {
    /// Parses `--log-engine` (`json`, `json:FLAGS`) or `log_engine_type` + `log_engine_data`
    /// joined the same way. Kamailio silently ignores an unknown engine name; ferrosip refuses it
    /// because accepted-but-ignored settings are not allowed.
    pub fn parse(spec: &str) -> Result<LogEngine, Error> {
        let (name, data) = match spec.split_once(':') {
            Some((n, d)) => (n, d),
            None => (spec, ""),
        };
        if name.eq_ignore_ascii_case("json") {
            Ok(LogEngine::Json(JsonFlags::parse(data)))
        } else {
            Err(Error::LogEngine(spec.to_string()))
        }
    }
}

/// Everything about logging except the level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `log_stderror` / `-E`: write to stderr instead of syslog.
    pub stderr: bool,
    /// `log_color` / `-e`: colour stderr lines per level.
    pub color: bool,
    pub engine: LogEngine,
    /// `log_facility` as a syslog facility value.
    pub facility: i32,
    /// `log_name`: the syslog identity (default: the program name).
    pub name: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            stderr: false,
            color: false,
            engine: LogEngine::Classic,
            facility: libc::LOG_DAEMON,
            name: format::APP_NAME.to_string(),
        }
    }
}

thread_local! {
    /// The log level of this thread when it has its own (kex's `setdebug`).
    static THREAD_DEBUG: std::cell::Cell<Option<i32>> = const { std::cell::Cell::new(None) };
}

/// Gives this thread its own log level (`Some`), or makes it follow the global one again (`None`):
/// kex's `setdebug`/`resetdebug`, Kamailio's per-process level, per worker thread here.
pub fn set_thread_debug(level: Option<i32>) {
    THREAD_DEBUG.with(|d| d.set(level));
}

/// A handle on the running logger: change the level or the outputs.
#[derive(Clone, Debug)]
pub struct LogControl {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    debug: AtomicI32,
    config: RwLock<LogConfig>,
    /// The identity passed to `openlog`, kept alive for as long as syslog may use it.
    syslog_ident: Mutex<Option<CString>>,
    hostname: String,
    /// When set, output meant for stderr and syslog is collected here instead (tests).
    capture: Option<Mutex<String>>,
}

impl LogControl {
    /// A logger at level `debug` with the given outputs.
    pub fn new(debug: i32, config: LogConfig) -> LogControl {
        LogControl::build(debug, config, None)
    }

    /// A logger that keeps its output in memory instead of writing it (see [`LogControl::captured`]).
    pub fn capturing(debug: i32, config: LogConfig) -> LogControl {
        LogControl::build(debug, config, Some(Mutex::new(String::new())))
    }

    /// Takes the output collected by a [`LogControl::capturing`] logger.
    pub fn captured(&self) -> String {
        match &self.inner.capture {
            Some(m) => match m.lock() {
                Ok(mut s) => std::mem::take(&mut *s),
                Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
            },
            None => String::new(),
        }
    }

    fn build(debug: i32, config: LogConfig, capture: Option<Mutex<String>>) -> LogControl {
        let ctl = LogControl {
            inner: Arc::new(Inner {
                debug: AtomicI32::new(debug),
                config: RwLock::new(LogConfig::default()),
                syslog_ident: Mutex::new(None),
                hostname: hostname(),
                capture,
            }),
        };
        ctl.configure(config);
        ctl
    }

    /// The current `debug` level: this thread's own level when one is set ([`set_thread_debug`]),
    /// else the global one.
    pub fn debug(&self) -> i32 {
        THREAD_DEBUG
            .with(std::cell::Cell::get)
            .unwrap_or_else(|| self.inner.debug.load(Ordering::Relaxed))
    }

    /// Sets the `debug` level; takes effect for the next event.
    pub fn set_debug(&self, level: i32) {
        self.inner.debug.store(level, Ordering::Relaxed);
        // Callsites answered `sometimes`, so no interest cache needs rebuilding.
    }

    /// True when log lines carry the Call-ID of the message being processed (the JSON engine's
    /// `c` flag): only then does the receive path open a `tracing` span per message.
    pub fn wants_call_id(&self) -> bool {
        let read = |c: &LogConfig| matches!(c.engine, LogEngine::Json(f) if f.callid);
        match self.inner.config.read() {
            Ok(c) => read(&c),
            Err(poisoned) => read(&poisoned.into_inner()),
        }
    }

    /// The current outputs.
    pub fn config(&self) -> LogConfig {
        match self.inner.config.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the outputs; opens syslog when it becomes the destination.
    pub fn configure(&self, config: LogConfig) {
        if !config.stderr && self.inner.capture.is_none() {
            self.open_syslog(&config);
        }
        match self.inner.config.write() {
            Ok(mut c) => *c = config,
            Err(poisoned) => *poisoned.into_inner() = config,
        }
    }

    fn open_syslog(&self, config: &LogConfig) {
        // A name with a NUL byte cannot be passed to openlog; fall back to the program name.
        let ident = CString::new(config.name.as_str())
            .unwrap_or_else(|_| CString::new(format::APP_NAME).unwrap_or_default());
        let mut slot = match self.inner.syslog_ident.lock() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        // SAFETY: `ident` is moved into `slot` below and never dropped while syslog may use it
        // (a later call replaces it only after openlog has switched to the new pointer).
        unsafe {
            libc::openlog(
                ident.as_ptr(),
                libc::LOG_PID | libc::LOG_CONS,
                config.facility,
            )
        };
        *slot = Some(ident);
    }

    /// Writes one record to the configured output (used by the layer, and directly by callers that
    /// have no `tracing` event, e.g. script output).
    pub fn emit(&self, record: &Record<'_>) {
        if record.level.value() > self.debug() {
            return;
        }
        // Read under the lock instead of cloning: no allocation per message for the settings.
        let guard = match self.inner.config.read() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let cfg = &*guard;
        let origin = Origin {
            process_no: process_no(),
            pid: std::process::id(),
        };
        match (cfg.engine, cfg.stderr) {
            (LogEngine::Classic, true) => {
                self.write_stderr(&format::plain_line(record, origin, cfg.color));
            }
            (LogEngine::Classic, false) => {
                let mut body = String::new();
                format::plain_body(record, &mut body);
                let facility = record.facility.unwrap_or(cfg.facility);
                self.write_syslog(record.level, facility, body.trim_end_matches('\n'));
            }
            (LogEngine::Json(flags), to_stderr) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default();
                let time = format::iso8601_utc(now.as_secs(), now.subsec_nanos());
                let target = if to_stderr {
                    format::JsonTarget::Stderr
                } else {
                    format::JsonTarget::Syslog
                };
                let doc = format::json_doc(
                    record,
                    origin,
                    flags,
                    target,
                    &time,
                    &cfg.name,
                    &self.inner.hostname,
                );
                if to_stderr {
                    let mut s = String::new();
                    if cfg.color {
                        s.push_str(record.level.color_code());
                    }
                    s.push_str(&doc);
                    if cfg.color {
                        s.push_str(format::COLOR_RESET);
                    }
                    self.write_stderr(&s);
                } else {
                    let facility = record.facility.unwrap_or(cfg.facility);
                    self.write_syslog(record.level, facility, doc.trim_end_matches('\n'));
                }
            }
        }
    }

    /// The `tracing` layer writing through this handle.
    pub fn layer(&self) -> KamailioLayer {
        KamailioLayer { ctl: self.clone() }
    }
}

/// Installs the logger as the global `tracing` subscriber. Only the binary calls this.
pub fn install(ctl: &LogControl) -> Result<(), Error> {
    use tracing_subscriber::layer::SubscriberExt as _;
    let subscriber = tracing_subscriber::registry().with(ctl.layer());
    tracing::subscriber::set_global_default(subscriber).map_err(|_| Error::LoggerInstalled)
}

thread_local! {
    static PROCESS_NO: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// Sets the "process number" printed at the start of each line for the calling thread (Kamailio's
/// `process_no`; 0 is the main thread, workers number from 1).
pub fn set_process_no(n: i32) {
    PROCESS_NO.with(|p| p.set(n));
}

fn process_no() -> i32 {
    PROCESS_NO.with(|p| p.get())
}

impl LogControl {
    fn write_stderr(&self, s: &str) {
        if let Some(c) = &self.inner.capture {
            if let Ok(mut buf) = c.lock() {
                buf.push_str(s);
            }
            return;
        }
        let mut err = std::io::stderr().lock();
        // Nothing sensible can be done when stderr is gone.
        let _ = err.write_all(s.as_bytes());
    }

    fn write_syslog(&self, level: LogLevel, facility: i32, text: &str) {
        if let Some(c) = &self.inner.capture {
            if let Ok(mut buf) = c.lock() {
                let _ = writeln!(
                    buf,
                    "<syslog {}> {text}",
                    level.syslog_priority() | facility
                );
            }
            return;
        }
        write_syslog(level, facility, text);
    }
}

fn write_syslog(level: LogLevel, facility: i32, text: &str) {
    let Ok(msg) = CString::new(text.replace('\0', " ")) else {
        return;
    };
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call, and the
    // format string takes exactly one `%s` argument.
    unsafe {
        libc::syslog(
            level.syslog_priority() | facility,
            c"%s".as_ptr(),
            msg.as_ptr(),
        )
    };
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for `buf.len()` bytes; gethostname NUL-terminates on success.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return String::new();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(..end).unwrap_or_default()).into_owned()
}

/// The `tracing` layer; see the module documentation for the field conventions.
#[derive(Debug, Clone)]
pub struct KamailioLayer {
    ctl: LogControl,
}

/// The Call-ID recorded on a span.
struct CallId(String);

impl<S> Layer<S> for KamailioLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn register_callsite(&self, _meta: &'static Metadata<'static>) -> Interest {
        // `debug` changes at run time, so every callsite is asked each time.
        Interest::sometimes()
    }

    fn enabled(&self, meta: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        if meta.is_span() {
            return true;
        }
        LogLevel::band(meta.level()).0.value() <= self.ctl.debug()
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        ctx: Context<'_, S>,
    ) {
        let mut v = CallIdVisitor(None);
        attrs.record(&mut v);
        if let (Some(cid), Some(span)) = (v.0, ctx.span(id)) {
            span.extensions_mut().insert(CallId(cid));
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut v = EventVisitor::default();
        event.record(&mut v);
        let level = LogLevel::of_event(meta.level(), v.klevel);
        if level.value() > self.ctl.debug() {
            return;
        }
        let target = meta.target();
        let script = target == "script";
        let module = v.kmod.clone().or_else(|| {
            target
                .strip_prefix("ferrosip_modules::")
                .and_then(|rest| rest.split("::").next())
                .filter(|m| *m != "registry")
                .map(str::to_string)
        });
        let file = display_file(meta.file().unwrap_or(""));
        let module_path = meta.module_path().unwrap_or("");
        let func = v
            .func
            .clone()
            .unwrap_or_else(|| module_path.rsplit("::").next().unwrap_or("").to_string());
        let callid = ctx.event_scope(event).and_then(|scope| {
            scope.from_root().fold(None, |found, span| {
                span.extensions()
                    .get::<CallId>()
                    .map(|c| c.0.clone())
                    .or(found)
            })
        });
        let mut message = v.message;
        // `facility` and `prefix` are options of script lines (`emit_script_line`); on any other
        // event they are ordinary fields, appended like the rest.
        if !script {
            if let Some(f) = v.facility {
                let _ = write!(message, " facility={f}");
            }
            if let Some(p) = &v.script_prefix {
                let _ = write!(message, " prefix={p}");
            }
        }
        message.push_str(&v.extra);
        let msg_prefix = MSG_PREFIX.with(|p| p.borrow().clone());
        let record = Record {
            level,
            module: module.as_deref(),
            file: &file,
            line: meta.line().unwrap_or(0),
            function: &func,
            message: message.trim_end_matches('\n'),
            script,
            callid: callid.as_deref(),
            prefix: &msg_prefix,
            // `emit_script_line` sends an empty prefix for "the default" when only the facility
            // is set, so an empty xlog `prefix` modparam cannot be told apart (prints the default).
            script_prefix: v
                .script_prefix
                .as_deref()
                .filter(|p| script && !p.is_empty()),
            // The debugger's `log_level_name` (script-shaped lines only).
            level_name: v.lname.as_deref().filter(|n| script && !n.is_empty()),
            facility: v
                .facility
                .filter(|f| script && *f >= 0)
                .and_then(|f| i32::try_from(f).ok()),
        };
        self.ctl.emit(&record);
    }
}

/// The file name as printed: the path inside the crate, with the crate's folder name in front for
/// core crates (`server/startup.rs`) and the module folder for modules (`sl/funcs.rs`).
fn display_file(path: &str) -> String {
    let rest = match path.rfind("crates/") {
        Some(i) => path.get(i + "crates/".len()..).unwrap_or(path),
        None => path,
    };
    let rest = rest.replacen("/src/", "/", 1);
    let rest = rest
        .strip_prefix("src/")
        .map(str::to_string)
        .unwrap_or(rest);
    rest.strip_prefix("modules/")
        .map(str::to_string)
        .unwrap_or(rest)
}

#[derive(Default)]
struct EventVisitor {
    message: String,
    extra: String,
    klevel: Option<i64>,
    func: Option<String>,
    kmod: Option<String>,
    facility: Option<i64>,
    script_prefix: Option<String>,
    lname: Option<String>,
}

impl Visit for EventVisitor {
    fn record_i64(&mut self, field: &Field, value: i64) {
        if field.name() == "klevel" {
            self.klevel = Some(value);
        } else if field.name() == "facility" {
            self.facility = Some(value);
        } else {
            let _ = write!(self.extra, " {}={}", field.name(), value);
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "message" => self.message.push_str(value),
            "func" => self.func = Some(value.to_string()),
            "kmod" => self.kmod = Some(value.to_string()),
            "prefix" => self.script_prefix = Some(value.to_string()),
            "lname" => self.lname = Some(value.to_string()),
            name => {
                let _ = write!(self.extra, " {name}={value}");
            }
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            "func" => self.func = Some(format!("{value:?}")),
            "kmod" => self.kmod = Some(format!("{value:?}")),
            "klevel" => self.klevel = format!("{value:?}").parse().ok(),
            "facility" => self.facility = format!("{value:?}").parse().ok(),
            name => {
                let _ = write!(self.extra, " {name}={value:?}");
            }
        }
    }
}

struct CallIdVisitor(Option<String>);

impl Visit for CallIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if matches!(field.name(), "call_id" | "callid") {
            self.0 = Some(value.to_string());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if matches!(field.name(), "call_id" | "callid") {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engines() {
        let table = [
            ("json", Some(LogEngine::Json(JsonFlags::default()))),
            (
                "JSON:M",
                Some(LogEngine::Json(JsonFlags {
                    strip_msg_nl: true,
                    ..Default::default()
                })),
            ),
            (
                "json:cU",
                Some(LogEngine::Json(JsonFlags {
                    callid: true,
                    cee: true,
                    ..Default::default()
                })),
            ),
            ("xml", None),
            ("", None),
        ];
        for (spec, want) in table {
            assert_eq!(LogEngine::parse(spec).ok(), want, "{spec}");
        }
    }

    #[test]
    fn file_names() {
        let table = [
            ("crates/server/src/startup.rs", "server/startup.rs"),
            ("/work/main/crates/modules/src/sl/funcs.rs", "sl/funcs.rs"),
            ("src/main.rs", "main.rs"),
            ("", ""),
        ];
        for (path, want) in table {
            assert_eq!(display_file(path), want);
        }
    }

    #[test]
    fn layer_writes_kamailio_lines() {
        use tracing::Level;
        let ctl = LogControl::capturing(
            0,
            LogConfig {
                stderr: true,
                ..Default::default()
            },
        );
        let subscriber = {
            use tracing_subscriber::layer::SubscriberExt as _;
            tracing_subscriber::registry().with(ctl.layer())
        };
        let pid = std::process::id();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(func = "main", "not shown at debug 0");
            tracing::warn!(func = "main", "shown");
            ctl.set_debug(1);
            tracing::info!(klevel = 1, func = "main", "notice shown");
            tracing::info!("info hidden");
            tracing::event!(target: "ferrosip_modules::sl::funcs", Level::ERROR, func = "send", "x");
            tracing::event!(target: "script", Level::INFO, klevel = 1, "from xlog");
            let span = tracing::info_span!("msg", call_id = "abc@h");
            let _g = span.enter();
            ctl.configure(LogConfig {
                stderr: true,
                engine: LogEngine::Json(JsonFlags::parse("cMN")),
                ..Default::default()
            });
            tracing::warn!(func = "f", n = 3, "json");
        });
        let out = ctl.captured();
        let lines: Vec<&str> = out.split_inclusive('\n').collect();
        let me = line!();
        assert_eq!(lines.len(), 5, "{out}");
        assert!(lines[0].starts_with(&format!(" 0({pid}) WARNING: <core> [server/log/mod.rs:")));
        assert!(lines[0].ends_with("]: main(): shown\n"), "{}", lines[0]);
        assert!(
            lines[1].starts_with(&format!(" 0({pid}) NOTICE: <core> [")),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with(&format!(" 0({pid}) ERROR: sl [server/log/mod.rs:")));
        assert!(lines[2].ends_with("]: send(): x\n"));
        assert_eq!(lines[3], format!(" 0({pid}) NOTICE: <script>: from xlog\n"));
        let json = lines[4];
        assert!(json.starts_with("{ \"time\": \""), "{json}");
        let tail = format!(
            "\"idx\": 0, \"pid\": {pid}, \"level\": \"WARNING\", \"module\": \"core\", \
             \"file\": \"server/log/mod.rs\", \"line\": {}, \"function\": \"f\", \"callid\": \"abc@h\", \
             \"logprefix\": \"\", \"message\": \"json n=3\" }}",
            me - 4
        );
        assert!(json.ends_with(&tail), "{json}\n{tail}");
    }

    #[test]
    fn syslog_and_json_to_syslog() {
        let cfg = LogConfig {
            stderr: false,
            facility: libc::LOG_LOCAL0,
            ..Default::default()
        };
        let ctl = LogControl::capturing(2, cfg.clone());
        let r = Record {
            level: LogLevel::Err,
            module: Some("tm"),
            file: "tm/t_lookup.rs",
            line: 9,
            function: "lookup",
            message: "no transaction",
            script: false,
            callid: None,
            prefix: "",
            script_prefix: None,
            facility: None,
            level_name: None,
        };
        ctl.emit(&r);
        ctl.emit(&Record {
            level: LogLevel::Dbg,
            ..r.clone()
        }); // above debug=2: dropped
        let prio = libc::LOG_ERR | libc::LOG_LOCAL0;
        assert_eq!(
            ctl.captured(),
            format!("<syslog {prio}> ERROR: tm [tm/t_lookup.rs:9]: lookup(): no transaction\n")
        );
        ctl.configure(LogConfig {
            engine: LogEngine::Json(JsonFlags::parse("M")),
            ..cfg
        });
        ctl.emit(&r);
        assert_eq!(
            ctl.captured(),
            format!(
                "<syslog {prio}> {{ \"level\": \"ERROR\", \"module\": \"tm\", \"file\": \"tm/t_lookup.rs\", \
                 \"line\": 9, \"function\": \"lookup\", \"logprefix\": \"\", \"message\": \"no transaction\" }}\n"
            )
        );
    }

    #[test]
    fn level_filter_is_dynamic() {
        let ctl = LogControl::new(
            0,
            LogConfig {
                stderr: true,
                ..Default::default()
            },
        );
        assert_eq!(ctl.debug(), 0);
        ctl.set_debug(3);
        assert_eq!(ctl.debug(), 3);
        assert!(ctl.config().stderr);
    }

    /// Script lines with xlog's options: the prefix replaces `<script>: `, the facility picks the
    /// syslog facility, and neither is printed as a field; other events keep such fields.
    #[test]
    fn script_prefix_and_facility() {
        use tracing::Level;
        let local0 = i64::from(libc::LOG_LOCAL0);
        let run = |stderr: bool| {
            let ctl = LogControl::capturing(
                3,
                LogConfig {
                    stderr,
                    facility: libc::LOG_DAEMON,
                    ..Default::default()
                },
            );
            let subscriber = {
                use tracing_subscriber::layer::SubscriberExt as _;
                tracing_subscriber::registry().with(ctl.layer())
            };
            tracing::subscriber::with_default(subscriber, || {
                tracing::event!(target: "script", Level::INFO, klevel = 2, "plain\n");
                tracing::event!(target: "script", Level::INFO, klevel = 2, facility = -1i64, prefix = "PFX: ", "pfx\n");
                tracing::event!(target: "script", Level::ERROR, klevel = -1, facility = local0, prefix = "", "local0\n");
                tracing::event!(target: "ferrosip_modules::sl::funcs", Level::ERROR, func = "f", facility = 3i64, prefix = "p", "core");
            });
            ctl.captured()
        };
        let pid = std::process::id();
        let out = run(true);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.len(), 4, "{out}");
        let want = [
            format!(" 0({pid}) INFO: <script>: plain"),
            format!(" 0({pid}) INFO: PFX: pfx"),
            format!(" 0({pid}) ERROR: <script>: local0"),
        ];
        assert_eq!(&lines[..3], &want, "{out}");
        assert!(lines[3].ends_with("f(): core facility=3 prefix=p"), "{out}");
        let out = run(false);
        let daemon = libc::LOG_INFO | libc::LOG_DAEMON;
        let l0 = libc::LOG_ERR | libc::LOG_LOCAL0;
        assert!(
            out.contains(&format!("<syslog {daemon}> INFO: PFX: pfx\n")),
            "{out}"
        );
        assert!(
            out.contains(&format!("<syslog {l0}> ERROR: <script>: local0\n")),
            "{out}"
        );
    }
}
