//! Serving: modules → compile → daemonize (`-D`) → directories, pid/pgid files → signals →
//! bind → drop privileges → modules' child init → `event_route[core:worker-one-init]` → timer
//! thread ([`crate::timers`]) → receive → SIGTERM/SIGINT → transport `join` → timer thread
//! stopped and joined → modules' destroy.
//!
//! Order and reasons:
//! - the config is compiled before anything irreversible, so a broken config exits 255 on the
//!   terminal;
//! - daemonizing forks, so it happens before any thread exists (the transport's runtime and
//!   workers start at `bind`/`start`); the parent waits on a pipe until the child reports that it
//!   serves (or why it could not), then exits 0 or 255 — Kamailio's `-D`-less behaviour;
//! - SIGTERM, SIGINT and SIGHUP are blocked before the first thread starts, so every thread
//!   inherits the mask and the main thread takes them with `sigwait` (no async-signal handler);
//! - sockets are bound before `-u`/`-g` take effect (ports below 1024), as Kamailio does.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use ferrosip_api::{Ctx, Registry, RouteType, WorkerState};
use ferrosip_config::Loaded;
use ferrosip_modules::sl::SlApi;
use ferrosip_script::{Entry, Program};
use ferrosip_sipmsg::Msg;
use ferrosip_transport::Transport;

use crate::log::LogControl;
use crate::netcore::{self, Net, NetCell};
use crate::recv::{Receiver, Routes, WireServer};
use crate::settings::CoreSettings;
use crate::sockets::{self, Alias, ListenDef, Sockets};
use crate::startup::{CommandLine, ForkMode, Ids};
use crate::stats::CoreStats;
use crate::wirecfg::WireSettings;
use crate::Error;

/// Event routes whose trigger does not exist yet: refused at load rather than never run.
const UNSUPPORTED_EVENTS: &[&str] = &[];

/// A compiled config with its registry, ready to serve.
pub struct Compiled {
    pub registry: Registry,
    pub program: Arc<Program>,
    pub net: NetCell,
    /// `log_prefix`, resolved at load like any format string; rendered per message.
    pub log_prefix: Option<ferrosip_api::Format>,
}

/// Every export ferrosip has — the core table with its network functions and every implemented
/// module — for docs/compat.md (`Registry::compat_rows`). Nothing is initialised; not used to serve.
pub fn all_exports() -> Result<Registry, ferrosip_api::Error> {
    let net: NetCell = Arc::new(OnceLock::new());
    let mut core = ferrosip_script::core::core_module();
    netcore::install(&mut core, &net);
    crate::corerpc::install(
        &mut core,
        &net,
        crate::corerpc::RunInfo {
            started: std::time::SystemTime::now(),
            args: Vec::new(),
            modules: Vec::new(),
            defines: Vec::new(),
        },
    );
    let mut reg = Registry::new();
    reg.provide(Arc::new(ferrosip_api::NetworkApi(Arc::new(
        netcore::CoreNetwork { cell: net.clone() },
    ))));
    reg.add(core)?;
    for m in ferrosip_modules::all() {
        reg.add(m)?;
    }
    Ok(reg)
}

/// Builds the registry (the core with its network functions, then the loaded modules in
/// `loadmodule` order), applies modparams, initialises the modules and compiles the config.
/// Diagnostics are rendered into the error.
pub fn compile(
    loaded: &Loaded,
    cmd: &CommandLine,
    log_prefix: Option<&str>,
    rundir: Option<&str>,
) -> Result<Compiled, Error> {
    let net: NetCell = Arc::new(OnceLock::new());
    let mut core = ferrosip_script::core::core_module();
    netcore::install(&mut core, &net);
    let mut names: Vec<String> = cmd
        .loadmodules
        .iter()
        .map(|m| ferrosip_modules::registry::module_name(m).to_string())
        .collect();
    for (m, _) in loaded.config.loadmodules() {
        names.push(ferrosip_modules::registry::module_name(m).to_string());
    }
    let run = crate::corerpc::RunInfo {
        started: std::time::SystemTime::now(),
        args: std::env::args().collect(),
        modules: names.clone(),
        defines: loaded.defines.clone(),
    };
    crate::corerpc::install(&mut core, &net, run);
    let mut reg = Registry::new();
    reg.provide(Arc::new(ferrosip_api::NetworkApi(Arc::new(
        netcore::CoreNetwork { cell: net.clone() },
    ))));
    reg.add(core).map_err(|e| Error::Compile(e.to_string()))?;
    // `@cfg_get.group.var` / `$sel(cfg_get.…)` over the config's custom parameters.
    reg.add(ferrosip_script::core::cfg_module(&loaded.config))
        .map_err(|e| Error::Compile(e.to_string()))?;
    let mut all = ferrosip_modules::all();
    for n in &names {
        if let Some(i) = all.iter().position(|m| m.name == n) {
            reg.add(all.swap_remove(i))
                .map_err(|e| Error::Compile(e.to_string()))?;
        }
    }
    let render = |d: &[ferrosip_config::Diagnostic]| {
        d.iter()
            .map(|x| x.render(&loaded.sources))
            .collect::<Vec<_>>()
            .join("")
    };
    for p in &cmd.modparams {
        for m in &p.modules {
            if reg.has_module(m) {
                let v = match &p.value {
                    crate::modparam::ModparamValue::Str(s) => {
                        ferrosip_api::ModValue::Str(s.clone())
                    }
                    crate::modparam::ModparamValue::Int(i) => {
                        ferrosip_api::ModValue::Int(i64::from(*i))
                    }
                };
                reg.set_modparam(m, &p.param, v)
                    .map_err(|e| Error::Compile(e.to_string()))?;
            }
        }
    }
    // `$def()`/`$defn()` read the defines at module init and compile: every define in force at the
    // end of the config (predefined, `-A`, `#!define`, `MOD_<name>`), as Kamailio's `pp_define_get`.
    reg.set_defines(loaded.defines.clone());
    if let Some(dir) = rundir {
        reg.set_runtime_dir(dir);
    }
    // Modules resolve relative file names (permissions' rule files) next to the config file.
    if let Ok(path) = crate::startup::absolute_cfg_path(&cmd.cfg_file) {
        reg.set_cfg_file(&path);
    }
    // Checked (a plain table name) by the wire settings at load.
    if let Some(v) = loaded
        .config
        .global_params()
        .filter(|(n, _)| *n == "version_table")
        .last()
        .and_then(|(_, v)| v.as_str())
    {
        reg.set_version_table(v);
    }
    let diags = ferrosip_script::apply_modparams(&loaded.config, &mut reg);
    if !diags.is_empty() {
        // Under -c, module parameters ferrosip does not implement are warnings (as modules it
        // lacks are): the config is valid for Kamailio; serving refuses them.
        let unimplemented = diags
            .iter()
            .all(|d| d.error.to_string().contains("not implemented"));
        if unimplemented && cmd.mode == crate::startup::Mode::Check {
            return Err(Error::CheckNotImplemented(render(&diags)));
        }
        return Err(Error::Compile(render(&diags)));
    }
    if let Err(e) = reg.init_all() {
        let text = e.to_string();
        // As for modparams above: a module refusing a setting it does not implement yet.
        if text.contains("not implemented") && cmd.mode == crate::startup::Mode::Check {
            return Err(Error::CheckNotImplemented(format!("warning: {text}\n")));
        }
        return Err(Error::Compile(text));
    }
    // Statistics and cfg variables exist when a module asked for them (kex, counters, cfg_rpc).
    if let Some(stats) = reg.api::<ferrosip_api::Stats>() {
        crate::corerpc::register_stats(&stats, &net, &reg)
            .map_err(|e| Error::Compile(e.to_string()))?;
    }
    // The RPC listeners (jsonrpcs, ctl) serve every module's commands (docs/control.md).
    if let Some(t) = reg.api::<ferrosip_modules::jsonrpcs::RpcTable>() {
        t.attach_registry(&reg);
    }
    let program = ferrosip_script::compile(loaded, &reg).map_err(|d| Error::Compile(render(&d)))?;
    for ev in UNSUPPORTED_EVENTS {
        if program.route(Entry::Event(ev)).is_some() {
            return Err(Error::Compile(format!(
                "event_route[{ev}]: not implemented yet"
            )));
        }
    }
    let log_prefix = log_prefix
        .map(|text| {
            reg.parse_format(text)
                .map_err(|e| Error::Compile(format!("log_prefix \"{text}\": {e}")))
        })
        .transpose()?;
    Ok(Compiled {
        registry: reg,
        program: Arc::new(program),
        net,
        log_prefix,
    })
}

/// Serves until SIGTERM or SIGINT. Returns after every thread stopped.
pub fn serve(
    cmd: &CommandLine,
    core: &CoreSettings,
    wire: &WireSettings,
    compiled: Compiled,
    log: &LogControl,
    ids: Ids,
) -> Result<(), Error> {
    // Everything that can fail on the config is checked before forking.
    let mut defs = wire.listens.clone();
    defs.extend(core.listen.iter().map(ListenDef::from_arg));
    let specs = sockets::listen_specs(&defs, wire.port, core.disable_tcp, wire.expand())?;
    let tcfg = wire.transport_config(core);
    let mut notify = match cmd.fork {
        ForkMode::Daemonize => Some(daemonize(core.log_stderror)?),
        ForkMode::NoFork | ForkMode::NoDaemonize => None,
    };
    let result = run(
        cmd,
        core,
        wire,
        compiled,
        log,
        ids,
        specs,
        tcfg,
        &mut notify,
    );
    if let (Err(e), Some(fd)) = (&result, notify.take()) {
        report_to_parent(fd, &e.to_string());
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn run(
    cmd: &CommandLine,
    core: &CoreSettings,
    wire: &WireSettings,
    compiled: Compiled,
    log: &LogControl,
    ids: Ids,
    specs: Vec<ferrosip_transport::ListenSpec>,
    tcfg: ferrosip_transport::TransportConfig,
    notify: &mut Option<i32>,
) -> Result<(), Error> {
    crate::process::enter_directories(core.chroot.as_deref(), core.workdir.as_deref())?;
    if let Some(p) = &cmd.pid_file {
        crate::process::claim_pid_file(p, std::process::id(), ids)?;
    }
    if let Some(p) = &cmd.pgid_file {
        // SAFETY: getpgrp has no preconditions.
        let pgid = unsafe { libc::getpgrp() };
        crate::process::write_pgid_file(p, u32::try_from(pgid).unwrap_or(0), ids)?;
    }
    let signals = block_signals()?;
    let mut transport =
        Transport::bind(tcfg, &specs).map_err(|e| Error::Transport(e.to_string()))?;
    drop_privileges(ids)?;
    let mut aliases: Vec<Alias> = Vec::new();
    for a in &wire.aliases {
        for h in &a.addrs {
            aliases.push(Alias {
                host: h.clone(),
                port: a.port.unwrap_or(0),
                proto: a
                    .proto
                    .as_deref()
                    .and_then(ferrosip_transport::Proto::parse),
            });
        }
    }
    for a in &core.aliases {
        aliases.push(Alias {
            host: a.host.clone(),
            port: a.port.unwrap_or(0),
            proto: a
                .proto
                .and_then(|p| ferrosip_transport::Proto::parse(p.name())),
        });
    }
    let mut socks = Sockets::new(
        transport.sockets(),
        aliases,
        wire.advertised_address.as_deref(),
        wire.advertised_port,
    );
    socks.mhomed = wire.mhomed;
    if core.auto_aliases {
        let extra = sockets::auto_aliases(&socks.socks, Duration::from_secs(2));
        socks.aliases.extend(extra);
    }
    // The domain module's `register_myself` (its table answers "is this host ours").
    if let Some(d) = compiled
        .registry
        .api::<ferrosip_modules::domain::DomainApi>()
    {
        socks.self_check = Some(sockets::SelfCheck(Arc::new(move |h: &[u8]| {
            d.check_self(h)
        })));
    }
    for a in &socks.aliases {
        tracing::info!(func = "main", "alias {}:{}", a.host, a.port);
    }
    for s in &socks.socks {
        tracing::info!(
            func = "main",
            "listening on {}:{}:{}",
            s.proto,
            s.addr_text,
            s.local.port()
        );
    }
    let api_sockets = api_sockets(&socks);
    let net = Net {
        log: log.clone(),
        core_params: wire.core_params(core),
        api_sockets,
        sockets: socks,
        handle: transport.handle(),
        wire: wire.clone(),
        stats: CoreStats::default(),
        program: compiled.program.clone(),
        onsend: compiled.program.route(Entry::OnSend),
    };
    if compiled.net.set(net).is_err() {
        return Err(Error::Transport("sockets bound twice".into()));
    }
    if let Some(vars) = compiled.registry.api::<ferrosip_api::CfgVars>() {
        crate::corerpc::register_core_cfg(&vars, log).map_err(|e| Error::Compile(e.to_string()))?;
    }
    // Workers are threads of this process: the per-worker init runs once, after the fork and the
    // bind, with rank 0 (Kamailio's PROC_MAIN, as docs/control.md asks); modules that serve their
    // own sockets (ctl, jsonrpcs) start their threads here.
    compiled
        .registry
        .child_init_all(0)
        .map_err(|e| Error::Compile(format!("module child init: {e}")))?;
    worker_one_init(&compiled, log);
    let timers =
        crate::timers::TimerThread::start(crate::timers::module_timers(&compiled.registry))
            .map_err(|e| Error::Transport(format!("timer thread: {e}")))?;
    let receiver = Receiver {
        net: compiled.net.clone(),
        program: compiled.program.clone(),
        routes: Routes::of(&compiled.program),
        sl: compiled.registry.api::<SlApi>(),
        tm: compiled.registry.api::<ferrosip_modules::tm::TmApi>(),
        check_via: core.check_via,
        log: log.clone(),
        log_prefix: compiled.log_prefix.clone(),
        spans: log.wants_call_id(),
        xhttp: crate::recv::xhttp_hook(&compiled.registry, &compiled.program)?,
        hooks: compiled.registry.api::<ferrosip_api::NetHooks>(),
    };
    if let Some(h) = compiled.registry.api::<ferrosip_api::NetHooks>() {
        transport.on_close(move |id| h.conn_closed(id.0));
    }
    transport
        .start(move |ri, data| receiver.handle(ri, data))
        .map_err(|e| Error::Transport(e.to_string()))?;
    if let Some(fd) = notify.take() {
        report_to_parent(fd, "");
    }
    let sig = wait_for_signal(&signals);
    tracing::info!(func = "main", "signal {sig} received, shutting down");
    let joined = transport.join(Duration::from_secs(3));
    timers.stop();
    compiled.registry.destroy_all();
    if let Some(p) = &cmd.pid_file {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = &cmd.pgid_file {
        let _ = std::fs::remove_file(p);
    }
    joined.map_err(|e| Error::Transport(e.to_string()))
}

/// The sockets as the api shows them (`Server::sockets`): ordered by id, which is the `listen`
/// order and what `RecvInfo::socket` carries.
fn api_sockets(socks: &Sockets) -> Vec<ferrosip_api::SocketInfo> {
    let mut v: Vec<(u32, ferrosip_api::SocketInfo)> = socks
        .socks
        .iter()
        .map(|s| {
            let mut i = ferrosip_api::SocketInfo::new(netcore::to_api_proto(s.proto), s.local);
            i.name = Some(s.name.clone()).filter(|n| !n.is_empty());
            i.advertise = s.adv_host.clone().map(|h| (h, s.adv_port.unwrap_or(0)));
            (s.id, i)
        })
        .collect();
    v.sort_by_key(|(id, _)| *id);
    v.into_iter().map(|(_, i)| i).collect()
}

/// `event_route[core:worker-one-init]`, run once before the workers receive (Kamailio runs it in
/// the first SIP worker after its child_init), on a faked message as Kamailio does.
fn worker_one_init(c: &Compiled, log: &LogControl) {
    let Some(id) = c.program.route(Entry::Event("core:worker-one-init")) else {
        return;
    };
    let Some(n) = c.net.get() else { return };
    let fake = "OPTIONS sip:you@kamailio.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nFrom: <sip:you@kamailio.org>;tag=123\r\nTo: <sip:you@kamailio.org>\r\nCall-ID: 123\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    let Ok(mut msg) = Msg::parse(fake.as_bytes().to_vec()) else {
        return;
    };
    let Some(first) = n.sockets.socks.first() else {
        return;
    };
    let ri = ferrosip_transport::ReceiveInfo {
        src: first.local,
        dst: first.local,
        proto: first.proto,
        socket: ferrosip_transport::SocketId(first.id),
        conn: None,
    };
    let rcv = ferrosip_api::RecvInfo {
        src: ri.src,
        dst: ri.dst,
        proto: netcore::to_api_proto(ri.proto),
        socket: first.id,
    };
    let mut ws = WorkerState::default();
    let mut server = WireServer { n, ri, log };
    if let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Event, rcv, &mut ws, &mut server) {
        let _ = c.program.run(id, &mut ctx);
    }
}

/// The signals the main thread waits for, blocked in every thread.
fn block_signals() -> Result<libc::sigset_t, Error> {
    // SAFETY: the set is initialised by sigemptyset before use; pthread_sigmask only changes the
    // calling thread's mask, which later threads inherit.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
        let rc = libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        if rc != 0 {
            return Err(Error::Transport(format!("pthread_sigmask: error {rc}")));
        }
        Ok(set)
    }
}

/// Waits for SIGTERM or SIGINT; SIGHUP is ignored (Kamailio logs it and goes on).
fn wait_for_signal(set: &libc::sigset_t) -> i32 {
    loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is a valid, initialised signal set; `sig` is written by sigwait.
        let rc = unsafe { libc::sigwait(set, &mut sig) };
        if rc != 0 {
            continue;
        }
        if sig == libc::SIGHUP {
            tracing::info!(func = "main", "SIGHUP received, ignored");
            continue;
        }
        return sig;
    }
}

fn drop_privileges(ids: Ids) -> Result<(), Error> {
    // SAFETY: setgid/setuid have no memory preconditions; the group is set first, while we may.
    unsafe {
        if let Some(g) = ids.gid {
            // Supplementary groups of root must not survive the switch (only root may set them).
            if libc::geteuid() == 0 && libc::setgroups(1, &g) != 0 {
                return Err(Error::Transport(format!(
                    "cannot set supplementary groups to {g}: {}",
                    std::io::Error::last_os_error()
                )));
            }
            if libc::setgid(g) != 0 {
                return Err(Error::Transport(format!(
                    "cannot change gid to {g}: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
        if let Some(u) = ids.uid {
            if libc::setuid(u) != 0 {
                return Err(Error::Transport(format!(
                    "cannot change uid to {u}: {}",
                    std::io::Error::last_os_error()
                )));
            }
        }
    }
    Ok(())
}

/// Forks into the background: the parent waits until the child reports (an empty message: it
/// serves; otherwise the reason it could not) and exits accordingly. Returns the child's end of
/// the report pipe.
fn daemonize(keep_stderr: bool) -> Result<i32, Error> {
    let mut fds = [0i32; 2];
    // SAFETY: plain POSIX calls on descriptors we own; no thread exists yet (see the module docs),
    // so fork is safe; the parent only reads the pipe and exits.
    unsafe {
        if libc::pipe(fds.as_mut_ptr()) != 0 {
            return Err(Error::Transport("pipe failed".into()));
        }
        let pid = libc::fork();
        if pid < 0 {
            return Err(Error::Transport("fork failed".into()));
        }
        if pid > 0 {
            libc::close(fds[1]);
            let mut buf = [0u8; 512];
            let mut got = Vec::new();
            loop {
                let n = libc::read(fds[0], buf.as_mut_ptr().cast(), buf.len());
                if n <= 0 {
                    break;
                }
                got.extend_from_slice(buf.get(..n as usize).unwrap_or(&[]));
                if got.contains(&b'\n') {
                    break;
                }
            }
            let text = String::from_utf8_lossy(&got);
            let code = match text.strip_suffix('\n') {
                Some("") => 0,
                Some(why) => {
                    eprintln!("ERROR: {why}");
                    255
                }
                None => 255,
            };
            libc::_exit(code);
        }
        libc::close(fds[0]);
        libc::setsid();
        // Detach stdio from the terminal.
        let null = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if null >= 0 {
            libc::dup2(null, 0);
            libc::dup2(null, 1);
            // stderr stays when the log goes there (-E / log_stderror), as with Kamailio.
            if !keep_stderr {
                libc::dup2(null, 2);
            }
        }
    }
    Ok(fds[1])
}

fn report_to_parent(fd: i32, why: &str) {
    let line = format!("{}\n", why.replace('\n', " "));
    // SAFETY: writing a buffer we own to a descriptor we own, then closing it once.
    unsafe {
        let _ = libc::write(fd, line.as_ptr().cast(), line.len());
        libc::close(fd);
    }
}
