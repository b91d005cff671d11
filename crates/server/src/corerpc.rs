//! The core's RPC commands (`core.version`, `core.uptime`, `core.ps`, `core.psx`, `core.info`,
//! `core.shmmem`, `core.printi`, `core.prints`, `core.echo`, `core.tcp_info`,
//! `core.aliases_list`, `core.sockets_list`) and the core's statistics (`core:`, `tcp:`,
//! `shmem:`, and the `sl:`/`usrloc:` values those modules keep but do not register yet).
//!
//! The commands are added to the core's export table ([`install`]) like a module's, so the
//! `jsonrpcs`/`ctl` listeners serve them and `system.listMethods` lists them. They read the
//! bound sockets through the same [`NetCell`] as the network functions: before the server binds,
//! commands that need sockets fault with 500.
//!
//! Shapes are Kamailio's (compared with kamcmd against Kamailio 5.6.3; `core.sockets_list` uses
//! 6.0's fields). Differences, by design: `core.ps`/`core.psx` list threads (ferrosip's workers
//! are threads), their ids in `PID`; `core.shmmem` reports the process memory from
//! `/proc/self/statm` and `getrusage` (ferrosip has no shared-memory pool): `total` = VmSize,
//! `used` and `real_used` = VmRSS, `max_used` = peak RSS, `free` = total − used, `fragments` 0.
//!
//! Also `core.pwd`, `core.arg`, `core.flags`, `core.runinfo`, `core.modules`, `core.ppdefines`,
//! `core.ppdefines_full` ([`RunInfo`]: what the server knew when it compiled the config).
//!
//! Not exported (no equivalent yet): `core.psa`, `core.kill`, `core.tcp_options`,
//! `core.tcp_list`, `core.udp4_raw_info` (no raw sockets), `core.echo_delta`, `core.sfmalloc`.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{CfgAccess, CfgType, CfgValue, CfgVar, CfgVars, ModuleExports, Registry, Stats};
use ferrosip_transport::Proto as TProto;

use crate::log::LogControl;
use crate::netcore::{Net, NetCell};

/// What the run-information commands report, fixed when the config is compiled.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// The server's start time (`core.uptime`'s `up_since`, `core.runinfo`'s `time_started`).
    pub started: SystemTime,
    /// The command line (`core.arg`).
    pub args: Vec<String>,
    /// The loaded modules in `loadmodule` order (`core.modules` lists them newest first, as
    /// Kamailio's module list).
    pub modules: Vec<String>,
    /// The preprocessor's defines in definition order, with their values (`core.ppdefines*`).
    pub defines: Vec<(String, Option<String>)>,
}

/// Adds the core RPC commands to the core's export table.
pub fn install(core: &mut ModuleExports, net: &NetCell, run: RunInfo) {
    let started = run.started;
    let run = Arc::new(run);
    let with_run = |f: fn(&RunInfo) -> RpcValue| -> Handler {
        let run = Arc::clone(&run);
        Arc::new(move |_: &[RpcValue]| Ok(f(&run)))
    };
    let rpc = |name: &'static str, doc: &'static str, f: Handler| RpcExport {
        name,
        doc,
        handler: Arc::new(move |p: &[RpcValue]| f(p)),
    };
    let with_net = |f: fn(&Net, &[RpcValue]) -> Reply| -> Handler {
        let net = Arc::clone(net);
        Arc::new(move |p: &[RpcValue]| match net.get() {
            Some(n) => f(n, p),
            None => Err(fault(500, "sockets not bound yet")),
        })
    };
    core.rpcs.extend([
        rpc(
            "core.version",
            "Returns the version string of the server.",
            Arc::new(|_| Ok(RpcValue::Str(version()))),
        ),
        rpc(
            "core.info",
            "Verbose info, including version number, compile flags, compiler,repository hash etc.",
            Arc::new(|_| Ok(info())),
        ),
        rpc(
            "core.uptime",
            "Returns uptime of SIP server.",
            Arc::new(move |_| Ok(uptime(started, SystemTime::now()))),
        ),
        rpc(
            "core.ps",
            "Returns the description of running processes.",
            with_net(|n, _| Ok(ps(&threads(n), Shape::Pairs))),
        ),
        rpc(
            "core.psx",
            "Returns the detailed description of running processes.",
            with_net(|n, _| Ok(ps(&threads(n), Shape::Structs))),
        ),
        rpc(
            "core.shmmem",
            "Returns shared memory info. It has an optional parameter that specifies the measuring unit: b - bytes (default), k or kb, m or mb, g or gb. Note: when using something different from bytes, the value is truncated.",
            Arc::new(|p| shmmem(&read_status()?, p)),
        ),
        rpc(
            "core.printi",
            "Returns the integers given as parameters.",
            Arc::new(printi),
        ),
        rpc(
            "core.prints",
            "Returns the strings given as parameters.",
            Arc::new(|p| Ok(prints(p))),
        ),
        rpc(
            "core.echo",
            "Returns back its parameters.",
            Arc::new(|p| Ok(echo(p))),
        ),
        rpc(
            "core.tcp_info",
            "Returns tcp related info.",
            with_net(|n, _| tcp_info(n)),
        ),
        rpc(
            "core.aliases_list",
            "List local SIP server host aliases",
            with_net(|n, _| Ok(aliases_list(n))),
        ),
        rpc(
            "core.sockets_list",
            "List local SIP server listen sockets",
            with_net(|n, _| Ok(sockets_list(n))),
        ),
        rpc(
            "core.pwd",
            "Returns the working directory of server.",
            Arc::new(|_| pwd()),
        ),
        rpc(
            "core.arg",
            "Returns the list of command line arguments used on startup.",
            with_run(|r| RpcValue::Array(r.args.iter().cloned().map(RpcValue::Str).collect())),
        ),
        rpc(
            "core.flags",
            "Returns the compile flags.",
            Arc::new(|_| Ok(RpcValue::Str(FLAGS.into()))),
        ),
        rpc(
            "core.runinfo",
            "Runtime info - binary name, version, uptime, ...",
            with_run(|r| runinfo(r, SystemTime::now())),
        ),
        rpc(
            "core.modules",
            "List loaded modules",
            with_run(|r| {
                RpcValue::Array(r.modules.iter().rev().cloned().map(RpcValue::Str).collect())
            }),
        ),
        rpc(
            "core.ppdefines",
            "List preprocessor defines",
            with_run(|r| {
                RpcValue::Array(r.defines.iter().map(|(n, _)| RpcValue::Str(n.clone())).collect())
            }),
        ),
        rpc(
            "core.ppdefines_full",
            "List preprocessor defines with full details",
            with_run(ppdefines_full),
        ),
    ]);
}

/// What `core.flags` and `core.info` report: the features of Kamailio's list that ferrosip has.
const FLAGS: &str = "USE_TCP";

/// `core.pwd`: the working directory (after `-w`).
fn pwd() -> Reply {
    std::env::current_dir()
        .map(|d| RpcValue::Str(d.to_string_lossy().into_owned()))
        .map_err(|e| fault(500, &format!("getcwd failed: {e}")))
}

/// `core.runinfo`: Kamailio's fields, for ferrosip.
fn runinfo(r: &RunInfo, now: SystemTime) -> RpcValue {
    let up = now.duration_since(r.started).map_or(0, |d| d.as_secs());
    let (d, h, m, s) = (up / 86_400, up % 86_400 / 3600, up % 3600 / 60, up % 60);
    RpcValue::Struct(vec![
        ("name".into(), RpcValue::Str("ferrosip".into())),
        (
            "version".into(),
            RpcValue::Str(env!("CARGO_PKG_VERSION").into()),
        ),
        ("sourceid".into(), RpcValue::Str("unknown".into())),
        ("compiler".into(), RpcValue::Str("rustc".into())),
        ("compiled".into(), RpcValue::Str(String::new())),
        ("time_now".into(), RpcValue::Str(ctime(now))),
        ("time_started".into(), RpcValue::Str(ctime(r.started))),
        (
            "uptime_secs".into(),
            RpcValue::Int(i64::try_from(up).unwrap_or(i64::MAX)),
        ),
        (
            "utime_days".into(),
            RpcValue::Str(format!("{d}d {h}h {m}m {s}s")),
        ),
    ])
}

/// `core.ppdefines_full`: one struct per define; `value` is `none` for a define without one, and
/// `type` 0 as Kamailio prints for every define.
fn ppdefines_full(r: &RunInfo) -> RpcValue {
    RpcValue::Array(
        r.defines
            .iter()
            .map(|(n, v)| {
                RpcValue::Struct(vec![
                    ("name".into(), RpcValue::Str(n.clone())),
                    ("type".into(), RpcValue::Int(0)),
                    (
                        "value".into(),
                        RpcValue::Str(v.clone().unwrap_or_else(|| "none".into())),
                    ),
                ])
            })
            .collect(),
    )
}

/// Registers the core's statistics in `stats`: `core:` (the receive/forward counters of
/// [`crate::stats::CoreStats`], read and reset in place so the hot path keeps its plain
/// atomics), `tcp:` (the transport's counters, not resettable), `shmem:` (process memory, as
/// `core.shmmem`), and — until those modules register their own — `sl:` from sl's API and
/// `usrloc:registered_users` from usrloc's (both read-only here).
pub fn register_stats(
    stats: &Stats,
    net: &NetCell,
    reg: &Registry,
) -> Result<(), ferrosip_api::Error> {
    for name in crate::stats::CoreStats::names() {
        let (g, r) = (Arc::clone(net), Arc::clone(net));
        stats.computed(
            "core",
            name,
            "",
            Arc::new(move || {
                g.get()
                    .and_then(|n| n.stats.counter(name))
                    .map_or(0, |c| c.load(Ordering::Relaxed))
            }),
            Some(Arc::new(move || {
                if let Some(c) = r.get().and_then(|n| n.stats.counter(name)) {
                    c.store(0, Ordering::Relaxed);
                }
            })),
        )?;
    }
    for (name, _) in ferrosip_transport::StatsSnapshot::default().kamailio_tcp() {
        let g = Arc::clone(net);
        stats.computed(
            "tcp",
            name,
            "",
            Arc::new(move || {
                g.get()
                    .and_then(|n| {
                        n.handle
                            .stats()
                            .kamailio_tcp()
                            .into_iter()
                            .find(|(k, _)| *k == name)
                    })
                    .map_or(0, |(_, v)| v)
            }),
            None,
        )?;
    }
    for (name, field) in [
        ("total_size", MemField::Total),
        ("free_size", MemField::Free),
        ("used_size", MemField::Used),
        ("real_used_size", MemField::Used),
        ("max_used_size", MemField::MaxUsed),
        ("fragments", MemField::Fragments),
    ] {
        stats.computed(
            "shmem",
            name,
            "",
            Arc::new(move || read_status().map_or(0, |m| m.field(field))),
            None,
        )?;
    }
    if let Some(sl) = reg.api::<ferrosip_modules::sl::SlApi>() {
        let names: Vec<&'static str> = sl
            .stats()
            .replies
            .iter()
            .map(|(n, _)| *n)
            .chain([
                "sent_replies",
                "sent_err_replies",
                "failures",
                "received_ACKs",
            ])
            .collect();
        for name in names {
            let sl = sl.clone();
            if stats.find("sl", name).is_some() {
                continue; // sl registered it itself
            }
            stats.computed("sl", name, "", Arc::new(move || sl_stat(&sl, name)), None)?;
        }
    }
    if let Some(ul) = reg.api::<ferrosip_modules::usrloc::UlApi>() {
        if stats.find("usrloc", "registered_users").is_none() {
            stats.computed(
                "usrloc",
                "registered_users",
                "",
                Arc::new(move || {
                    let s = ul.store();
                    s.domains().iter().map(|d| s.dump(d).len() as u64).sum()
                }),
                None,
            )?;
        }
    }
    Ok(())
}

/// Registers the core's run-time configuration variables (group `core`, read and set by
/// `cfg_rpc`): `debug`, which changes the live log level.
pub fn register_core_cfg(vars: &CfgVars, log: &LogControl) -> Result<(), ferrosip_api::Error> {
    let (g, s) = (log.clone(), log.clone());
    vars.register(CfgVar {
        group: "core".into(),
        name: "debug".into(),
        doc: "debug level".into(),
        ty: CfgType::Int,
        default: CfgValue::Int(i64::from(log.debug())),
        get: Arc::new(move || CfgValue::Int(i64::from(g.debug()))),
        access: CfgAccess::Writable(Arc::new(move |v| match v {
            CfgValue::Int(i) => {
                let level = i32::try_from(i).map_err(|_| "integer value is out of range")?;
                s.set_debug(level);
                Ok(())
            }
            CfgValue::Str(_) => Err("integer value expected".into()),
        })),
    })
}

type Reply = Result<RpcValue, RpcFault>;
type Handler = Arc<dyn Fn(&[RpcValue]) -> Reply + Send + Sync>;

fn fault(code: i32, message: &str) -> RpcFault {
    RpcFault {
        code,
        message: message.to_string(),
    }
}

fn sl_stat(sl: &ferrosip_modules::sl::SlApi, name: &str) -> u64 {
    let s = sl.stats();
    match name {
        "sent_replies" => s.sent,
        "sent_err_replies" => s.sent_err,
        "failures" => s.failures,
        "received_ACKs" => s.received_acks,
        other => s
            .replies
            .iter()
            .find(|(k, _)| *k == other)
            .map_or(0, |(_, v)| *v),
    }
}

/// `ferrosip X.Y.Z (arch/os)`: Kamailio's `core.version` shape, without pretending to be it.
pub fn version() -> String {
    format!(
        "ferrosip {} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH,
        std::env::consts::OS
    )
}

fn info() -> RpcValue {
    RpcValue::Struct(vec![
        (
            "version".into(),
            RpcValue::Str(format!("ferrosip {}", env!("CARGO_PKG_VERSION"))),
        ),
        ("id".into(), RpcValue::Str("unknown".into())),
        ("compiler".into(), RpcValue::Str("rustc".into())),
        ("compiled".into(), RpcValue::Str(String::new())),
        ("flags".into(), RpcValue::Str(FLAGS.into())),
    ])
}

/// `ctime` text without its newline, in local time (Kamailio's `now`/`up_since`).
fn ctime(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as libc::time_t);
    let mut buf = [0u8; 64];
    // SAFETY: ctime_r writes at most 26 bytes into a buffer of 64; `secs` is a valid time_t.
    let p = unsafe { libc::ctime_r(&secs, buf.as_mut_ptr().cast()) };
    if p.is_null() {
        return String::new();
    }
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(buf.get(..end).unwrap_or_default())
        .trim_end_matches('\n')
        .to_string()
}

fn uptime(started: SystemTime, now: SystemTime) -> RpcValue {
    let up = now.duration_since(started).map_or(0, |d| d.as_secs());
    RpcValue::Struct(vec![
        ("now".into(), RpcValue::Str(ctime(now))),
        ("up_since".into(), RpcValue::Str(ctime(started))),
        (
            "uptime".into(),
            RpcValue::Int(i64::try_from(up).unwrap_or(i64::MAX)),
        ),
    ])
}

/// One thread of the process: its id and Kamailio-style description.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Thread {
    id: i64,
    desc: String,
}

#[derive(Clone, Copy)]
enum Shape {
    /// `core.ps`: pid, description, pid, description … as separate values.
    Pairs,
    /// `core.psx`: one struct per thread.
    Structs,
}

fn ps(threads: &[Thread], shape: Shape) -> RpcValue {
    RpcValue::Array(match shape {
        Shape::Pairs => threads
            .iter()
            .flat_map(|t| [RpcValue::Int(t.id), RpcValue::Str(t.desc.clone())])
            .collect(),
        Shape::Structs => threads
            .iter()
            .enumerate()
            .map(|(i, t)| {
                RpcValue::Struct(vec![
                    ("IDX".into(), RpcValue::Int(i as i64)),
                    ("PID".into(), RpcValue::Int(t.id)),
                    ("DSC".into(), RpcValue::Str(t.desc.clone())),
                ])
            })
            .collect(),
    })
}

/// The process's threads from `/proc/self/task`, sorted by id (creation order).
fn threads(n: &Net) -> Vec<Thread> {
    let pid = i64::from(std::process::id());
    let mut v: Vec<Thread> = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return v;
    };
    for e in dir.flatten() {
        let Some(id) = e.file_name().to_str().and_then(|s| s.parse::<i64>().ok()) else {
            continue;
        };
        let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
        let desc = describe(comm.trim_end(), id == pid, |sid| {
            n.sockets
                .socks
                .iter()
                .find(|s| s.id == sid)
                .map(|s| format!("{}:{}", s.addr_text, s.local.port()))
        });
        v.push(Thread { id, desc });
    }
    v.sort_by_key(|t| t.id);
    v
}

/// Kamailio's process description for one of our threads, from its name (thread names are at
/// most 15 bytes in `comm`, so prefixes are matched). `sock` resolves a socket id to `addr:port`.
fn describe(comm: &str, main: bool, sock: impl Fn(u32) -> Option<String>) -> String {
    if main {
        return "main process - attendant".into();
    }
    if let Some(rest) = comm.strip_prefix("fs-udp") {
        if let Some((sid, child)) = rest.split_once('-') {
            if let Some(addr) = sid.parse::<u32>().ok().and_then(&sock) {
                return format!("udp receiver child={child} sock={addr}");
            }
        }
    }
    if let Some(child) = comm.strip_prefix("fs-tcpw-") {
        return format!("tcp receiver (generic) child={child}");
    }
    let fixed = [
        ("fs-tcp-io", "tcp main process"),
        ("timer", "timer"),
        ("jsonrpcs-fifo", "JSONRPCS FIFO"),
        ("jsonrpcs-dgram", "JSONRPCS DATAGRAM"),
        ("jsonrpcs-tcp", "JSONRPCS TCP"),
        ("ctl-binrpc", "ctl handler"),
    ];
    for (prefix, d) in fixed {
        if comm.starts_with(prefix) {
            return d.into();
        }
    }
    comm.to_string()
}

/// The process memory, in bytes: VmSize and VmRSS (from `/proc/self/statm`), VmHWM (peak RSS,
/// from `getrusage`). `/proc/self/status` has all three but costs ~0.1 ms to generate; these two
/// sources are cheap enough to read once per statistic.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct MemStatus {
    vm_size: u64,
    vm_rss: u64,
    vm_hwm: u64,
}

#[derive(Clone, Copy)]
enum MemField {
    Total,
    Free,
    Used,
    MaxUsed,
    Fragments,
}

impl MemStatus {
    /// From the text of `/proc/self/statm` (sizes in pages) and the peak RSS in KiB.
    fn parse(statm: &str, page: u64, max_rss_kib: u64) -> Option<MemStatus> {
        let mut it = statm.split_whitespace().map(|n| n.parse::<u64>().ok());
        let size = it.next()??;
        let resident = it.next()??;
        Some(MemStatus {
            vm_size: size * page,
            vm_rss: resident * page,
            // The peak is never below the current value (the two are read at different times).
            vm_hwm: (max_rss_kib * 1024).max(resident * page),
        })
    }

    fn field(&self, f: MemField) -> u64 {
        match f {
            MemField::Total => self.vm_size,
            MemField::Free => self.vm_size.saturating_sub(self.vm_rss),
            MemField::Used => self.vm_rss,
            MemField::MaxUsed => self.vm_hwm,
            MemField::Fragments => 0,
        }
    }
}

fn read_status() -> Result<MemStatus, RpcFault> {
    let statm = std::fs::read_to_string("/proc/self/statm")
        .map_err(|e| fault(500, &format!("cannot read /proc/self/statm: {e}")))?;
    // SAFETY: sysconf has no preconditions; getrusage writes into the zeroed struct we own.
    let (page, max_rss) = unsafe {
        let page = libc::sysconf(libc::_SC_PAGESIZE);
        let mut ru: libc::rusage = std::mem::zeroed();
        let max = if libc::getrusage(libc::RUSAGE_SELF, &mut ru) == 0 {
            ru.ru_maxrss
        } else {
            0
        };
        (page, max)
    };
    MemStatus::parse(
        &statm,
        u64::try_from(page).unwrap_or(4096),
        u64::try_from(max_rss).unwrap_or(0),
    )
    .ok_or_else(|| fault(500, "cannot parse /proc/self/statm"))
}

fn shmmem(m: &MemStatus, p: &[RpcValue]) -> Reply {
    let bad = || fault(500, "bad param, (use b|k|m|g)");
    let shift = match p.first() {
        None => 0,
        Some(RpcValue::Str(s)) => {
            let b = s.as_bytes();
            let shift = match b.first().map(u8::to_ascii_lowercase) {
                Some(b'b') => 0,
                Some(b'k') => 10,
                Some(b'm') => 20,
                Some(b'g') => 30,
                _ => return Err(bad()),
            };
            match b.get(1..) {
                None | Some([]) | Some([b'b' | b'B']) => shift,
                _ => return Err(bad()),
            }
        }
        Some(_) => return Err(bad()),
    };
    let v = |f| RpcValue::Int(i64::try_from(m.field(f) >> shift).unwrap_or(i64::MAX));
    Ok(RpcValue::Struct(vec![
        ("total".into(), v(MemField::Total)),
        ("free".into(), v(MemField::Free)),
        ("used".into(), v(MemField::Used)),
        ("real_used".into(), v(MemField::Used)),
        ("max_used".into(), v(MemField::MaxUsed)),
        ("fragments".into(), RpcValue::Int(0)),
    ]))
}

/// `core.printi`: every parameter must be an integer (Kamailio's `*d` scan faults otherwise).
fn printi(p: &[RpcValue]) -> Reply {
    p.iter()
        .enumerate()
        .map(|(i, v)| match v {
            RpcValue::Int(n) => Ok(RpcValue::Int(*n)),
            _ => Err(fault(
                400,
                &format!("error at parameter {i}: expected integer type"),
            )),
        })
        .collect::<Result<Vec<_>, _>>()
        .map(RpcValue::Array)
}

/// `core.echo`: the parameters back as strings, read as Kamailio's `"*.s"` scan reads them —
/// numbers become their text (through C's `unsigned long`: -3 is 18446744073709551613, 1.5 is
/// 1), and the first parameter that is neither a string nor a number (a struct, an array, null)
/// ends the list, itself not echoed. Kamailio 5.6.3 answers `["a"]` to `["a", {"x": 1}, "b"]`.
fn echo(p: &[RpcValue]) -> RpcValue {
    RpcValue::Array(
        p.iter()
            .map_while(|v| match v {
                RpcValue::Str(s) => Some(RpcValue::Str(s.clone())),
                RpcValue::Int(i) => Some(RpcValue::Str((*i as u64).to_string())),
                // Truncated toward zero, as the C conversion does.
                RpcValue::Double(d) => Some(RpcValue::Str((*d as i64 as u64).to_string())),
                RpcValue::Null | RpcValue::Array(_) | RpcValue::Struct(_) => None,
            })
            .collect(),
    )
}

/// `core.prints`: the leading string parameters (Kamailio's `"*s"` scan, without conversion: a
/// number ends the list as a struct does).
fn prints(p: &[RpcValue]) -> RpcValue {
    RpcValue::Array(
        p.iter()
            .map_while(|v| match v {
                RpcValue::Str(s) => Some(RpcValue::Str(s.clone())),
                _ => None,
            })
            .collect(),
    )
}

fn tcp_info(n: &Net) -> Reply {
    if !n.sockets.socks.iter().any(|s| s.proto == TProto::Tcp) {
        return Err(fault(500, "tcp support disabled"));
    }
    // The TCP workers that run (`tcp_children`, defaulting to `children`), counted by name.
    let readers = threads(n)
        .iter()
        .filter(|t| t.desc.starts_with("tcp receiver"))
        .count();
    let open = n
        .handle
        .connections()
        .iter()
        .filter(|c| c.proto == TProto::Tcp)
        .count();
    let int = |v: usize| RpcValue::Int(i64::try_from(v).unwrap_or(i64::MAX));
    Ok(RpcValue::Struct(vec![
        ("readers".into(), int(readers)),
        (
            "max_connections".into(),
            int(n.wire.transport.tcp_max_connections),
        ),
        ("max_tls_connections".into(), int(0)),
        ("opened_connections".into(), int(open)),
        ("opened_tls_connections".into(), int(0)),
    ]))
}

fn proto_text(p: Option<TProto>) -> String {
    p.map_or("*".to_string(), |p| p.as_str().to_string())
}

fn aliases_list(n: &Net) -> RpcValue {
    // Kamailio prepends to its alias list: the newest alias is printed first.
    let aliases = n
        .sockets
        .aliases
        .iter()
        .rev()
        .map(|a| {
            let port = if a.port == 0 {
                RpcValue::Str("*".into())
            } else {
                RpcValue::Int(i64::from(a.port))
            };
            (
                "alias".to_string(),
                RpcValue::Struct(vec![
                    ("proto".into(), RpcValue::Str(proto_text(a.proto))),
                    ("address".into(), RpcValue::Str(a.host.clone())),
                    ("port".into(), port),
                ]),
            )
        })
        .collect();
    RpcValue::Struct(vec![
        ("myself_callbacks".into(), RpcValue::Str("no".into())),
        ("aliases".into(), RpcValue::Struct(aliases)),
    ])
}

fn sockets_list(n: &Net) -> RpcValue {
    let order = [TProto::Udp, TProto::Tcp, TProto::Tls, TProto::Sctp];
    let mut v = Vec::new();
    for p in order {
        for s in n.sockets.socks.iter().filter(|s| s.proto == p) {
            let af = if s.local.is_ipv4() { "ipv4" } else { "ipv6" };
            v.push((
                "socket".to_string(),
                RpcValue::Struct(vec![
                    ("af".into(), RpcValue::Str(af.into())),
                    ("proto".into(), RpcValue::Str(p.as_str().into())),
                    ("address".into(), RpcValue::Str(s.local.ip().to_string())),
                    ("port".into(), RpcValue::Str(s.local.port().to_string())),
                    ("agname".into(), RpcValue::Str("none".into())),
                    ("mcast".into(), RpcValue::Str("no".into())),
                    ("mhomed".into(), RpcValue::Str("no".into())),
                    ("virtual".into(), RpcValue::Str("no".into())),
                ]),
            ));
        }
    }
    RpcValue::Struct(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_descriptions() {
        let sock = |id: u32| (id == 0).then(|| "127.0.0.1:5060".to_string());
        let cases = [
            ("ferrosip", true, "main process - attendant"),
            (
                "fs-udp0-1",
                false,
                "udp receiver child=1 sock=127.0.0.1:5060",
            ),
            ("fs-udp7-1", false, "fs-udp7-1"),
            ("fs-tcpw-0", false, "tcp receiver (generic) child=0"),
            ("fs-tcp-io", false, "tcp main process"),
            ("timer", false, "timer"),
            ("jsonrpcs-dgram", false, "JSONRPCS DATAGRAM"),
            ("ctl-binrpc-dgra", false, "ctl handler"),
            ("other", false, "other"),
        ];
        for (comm, main, want) in cases {
            assert_eq!(describe(comm, main, sock), want, "{comm}");
        }
    }

    #[test]
    fn ps_shapes() {
        let t = vec![
            Thread {
                id: 10,
                desc: "main process - attendant".into(),
            },
            Thread {
                id: 12,
                desc: "timer".into(),
            },
        ];
        assert_eq!(
            ps(&t, Shape::Pairs),
            RpcValue::Array(vec![
                RpcValue::Int(10),
                RpcValue::Str("main process - attendant".into()),
                RpcValue::Int(12),
                RpcValue::Str("timer".into()),
            ])
        );
        let RpcValue::Array(x) = ps(&t, Shape::Structs) else {
            panic!("array expected");
        };
        assert_eq!(
            x.get(1),
            Some(&RpcValue::Struct(vec![
                ("IDX".into(), RpcValue::Int(1)),
                ("PID".into(), RpcValue::Int(12)),
                ("DSC".into(), RpcValue::Str("timer".into())),
            ]))
        );
    }

    #[test]
    fn shmmem_units_and_proc_status() {
        // statm: size resident shared text lib data dt (pages of 4 KiB here); peak 3072 KiB.
        let m = MemStatus::parse("2048 512 100 10 0 300 0\n", 4096, 3072).expect("parses");
        assert_eq!(
            m,
            MemStatus {
                vm_size: 8192 * 1024,
                vm_rss: 2048 * 1024,
                vm_hwm: 3072 * 1024
            }
        );
        assert_eq!(
            MemStatus::parse("2048 512", 4096, 1).map(|m| m.vm_hwm),
            Some(2048 * 1024),
            "peak never below current"
        );
        assert!(MemStatus::parse("x", 4096, 0).is_none());
        // (unit argument, total, free, used, max_used) or a fault
        let cases: &[(Option<&str>, Option<[i64; 4]>)] = &[
            (
                None,
                Some([8192 * 1024, 6144 * 1024, 2048 * 1024, 3072 * 1024]),
            ),
            (Some("k"), Some([8192, 6144, 2048, 3072])),
            (Some("MB"), Some([8, 6, 2, 3])),
            (Some("g"), Some([0, 0, 0, 0])),
            (Some("x"), None),
            (Some("kk"), None),
        ];
        for (unit, want) in cases {
            let p: Vec<RpcValue> = unit.iter().map(|u| RpcValue::Str(u.to_string())).collect();
            let got = shmmem(&m, &p);
            match want {
                None => assert_eq!(got.err().map(|f| f.code), Some(500), "{unit:?}"),
                Some([t, f, u, mx]) => assert_eq!(
                    got,
                    Ok(RpcValue::Struct(vec![
                        ("total".into(), RpcValue::Int(*t)),
                        ("free".into(), RpcValue::Int(*f)),
                        ("used".into(), RpcValue::Int(*u)),
                        ("real_used".into(), RpcValue::Int(*u)),
                        ("max_used".into(), RpcValue::Int(*mx)),
                        ("fragments".into(), RpcValue::Int(0)),
                    ])),
                    "{unit:?}"
                ),
            }
        }
    }

    #[test]
    fn echo_printi_uptime() {
        let p = vec![RpcValue::Str("a".into()), RpcValue::Int(1)];
        assert_eq!(
            echo(&p),
            RpcValue::Array(vec![RpcValue::Str("a".into()), RpcValue::Str("1".into())])
        );
        // (parameters, echo, prints) — Kamailio 5.6.3's answers over JSON-RPC.
        let st = |k: &str| RpcValue::Struct(vec![(k.into(), RpcValue::Int(1))]);
        let s = |x: &str| RpcValue::Str(x.into());
        let cases: [(Vec<RpcValue>, Vec<&str>, Vec<&str>); 5] = [
            (vec![s("a"), st("x"), s("b")], vec!["a"], vec!["a"]),
            (vec![st("x"), s("b")], vec![], vec![]),
            (
                vec![
                    RpcValue::Int(-3),
                    RpcValue::Double(1.5),
                    s("x"),
                    RpcValue::Null,
                    s("y"),
                ],
                vec!["18446744073709551613", "1", "x"],
                vec![],
            ),
            (
                vec![
                    RpcValue::Double(2.9),
                    RpcValue::Double(1e3),
                    s("y"),
                    RpcValue::Array(vec![]),
                ],
                vec!["2", "1000", "y"],
                vec![],
            ),
            (
                vec![s("q"), RpcValue::Int(5), s("z")],
                vec!["q", "5", "z"],
                vec!["q"],
            ),
        ];
        for (params, want_echo, want_prints) in cases {
            let arr = |w: &[&str]| RpcValue::Array(w.iter().map(|x| s(x)).collect());
            assert_eq!(echo(&params), arr(&want_echo), "echo {params:?}");
            assert_eq!(prints(&params), arr(&want_prints), "prints {params:?}");
        }
        assert_eq!(
            printi(&[RpcValue::Int(1), RpcValue::Int(2)]),
            Ok(RpcValue::Array(vec![RpcValue::Int(1), RpcValue::Int(2)]))
        );
        assert_eq!(printi(&p).err().map(|f| f.code), Some(400));
        let t0 = UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
        let RpcValue::Struct(u) = uptime(t0, t0 + std::time::Duration::from_secs(75)) else {
            panic!("struct expected");
        };
        let names: Vec<&str> = u.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["now", "up_since", "uptime"]);
        assert_eq!(u.get(2).map(|x| &x.1), Some(&RpcValue::Int(75)));
        // ctime shape: "Tue Nov 14 22:13:20 2023" (24 characters, local time zone).
        let RpcValue::Str(s) = &u[1].1 else {
            panic!("string expected")
        };
        assert_eq!(s.len(), 24, "{s}");
        assert!(s.ends_with("2023"), "{s}");
    }
}
