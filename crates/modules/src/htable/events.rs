//! htable's event routes: `event_route[htable:mod-init]`, run once after the tables are loaded
//! and before any message is served, and `event_route[htable:expired:<table>]`, run on the timer
//! thread for every item of `<table>` that the expiry sweep removes, with `$shtrecord(key)` and
//! `$shtrecord(value)` naming that item.
//!
//! Both run on Kamailio's faked message (`OPTIONS sip:you@kamailio.org`), outside any received
//! message: the program and a [`Server`] come from the core's [`Network`], which exists once the
//! sockets are bound (child init and later). Kamailio runs `mod-init` as a request route and fails
//! the start when it executes `drop`; `expired` runs as an event route, and the timer process keeps
//! its `$var` values from one run to the next, starting from those mod-init left (so does the timer
//! thread here).

use std::cell::RefCell;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};

use ferrosip_api::{Ctx, Error, Network, RecvInfo, RouteType, Server, Value, WorkerState};
use ferrosip_sipmsg::Msg;

/// Name of the start-up route.
pub const MOD_INIT: &str = "htable:mod-init";
/// Prefix of the per-table expiry routes.
pub const EXPIRED: &str = "htable:expired:";

/// Kamailio's faked request (core `faked_msg.c`), on which these routes run.
const FAKED: &str = "OPTIONS sip:you@kamailio.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nFrom: <sip:you@kamailio.org>;tag=123\r\nTo: <sip:you@kamailio.org>\r\nCall-ID: 123\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

thread_local! {
    // The expired item while its route runs on this thread (`$shtrecord`); the route runs
    // synchronously, so a thread-local is enough and nothing else ever sees it.
    static RECORD: RefCell<Option<(Vec<u8>, Value)>> = const { RefCell::new(None) };
}

/// What the event routes need, filled at init and kept for the timer.
#[derive(Default)]
pub struct Events {
    net: OnceLock<Arc<dyn Network>>,
    // `$var` of the timer thread: Kamailio's timer process keeps them across runs.
    timer_vars: Mutex<WorkerState>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Events")
    }
}

impl Events {
    /// Keeps the core's network (given at init).
    pub fn set_network(&self, net: Arc<dyn Network>) {
        let _ = self.net.set(net);
    }

    /// Runs `event_route[htable:mod-init]` if the config has it. `Err` when it executed `drop`
    /// (Kamailio refuses to start then) or the route could not run.
    pub fn mod_init(&self) -> Result<(), Error> {
        let Some(net) = self.net.get() else {
            return Ok(());
        };
        let Some(routes) = net.routes() else {
            return Ok(());
        };
        let Some(index) = routes.event_route(MOD_INIT) else {
            return Ok(());
        };
        let mut server = net.server()?;
        // Kamailio's timer process is forked after mod-init ran, so it starts with the `$var`
        // values mod-init left: the timer thread's state begins as mod-init's.
        let mut worker = match self.timer_vars.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let mut msg = faked()?;
        let rcv = faked_rcv(&*server);
        let mut ctx = Ctx::new(&mut msg, RouteType::Request, rcv, &mut worker, &mut *server)?;
        ctx.routes = Some(routes.clone());
        let r = routes.run(index, &mut ctx)?;
        if r.dropped {
            return Err(Error::Init(
                "htable: exit due to 'drop' in event_route[htable:mod-init]".into(),
            ));
        }
        Ok(())
    }

    /// True when the config has `event_route[htable:expired:<table>]`.
    pub fn has_expired_route(&self, table: &str) -> bool {
        self.net
            .get()
            .and_then(|n| n.routes())
            .is_some_and(|r| r.event_route(&format!("{EXPIRED}{table}")).is_some())
    }

    /// Runs `event_route[htable:expired:<table>]` once per removed item, in order.
    pub fn expired(&self, table: &str, items: Vec<(Vec<u8>, Value)>) {
        if items.is_empty() {
            return;
        }
        let Some(net) = self.net.get() else { return };
        let Some(routes) = net.routes() else { return };
        let name = format!("{EXPIRED}{table}");
        let Some(index) = routes.event_route(&name) else {
            return;
        };
        let mut server = match net.server() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("htable: event_route[{name}] not run: {e}");
                return;
            }
        };
        let mut worker = match self.timer_vars.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        for (key, value) in items {
            let Ok(mut msg) = faked() else { return };
            let rcv = faked_rcv(&*server);
            let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Event, rcv, &mut worker, &mut *server)
            else {
                return;
            };
            ctx.routes = Some(routes.clone());
            RECORD.with(|r| *r.borrow_mut() = Some((key, value)));
            if let Err(e) = routes.run(index, &mut ctx) {
                ctx.log_error(&format!("event_route[{name}]: {e}"));
            }
            RECORD.with(|r| *r.borrow_mut() = None);
        }
    }
}

/// `$shtrecord(key)` (`value == false`) or `$shtrecord(value)`: the expired item while its route
/// runs; an empty string elsewhere, as Kamailio prints it.
pub fn record(value: bool) -> Value {
    RECORD.with(|r| match &*r.borrow() {
        Some((k, _)) if !value => Value::Str(k.clone()),
        Some((_, v)) if value => v.clone(),
        _ => Value::Str(Vec::new()),
    })
}

fn faked() -> Result<Msg, Error> {
    Msg::parse(FAKED.as_bytes().to_vec()).map_err(|e| Error::Runtime(e.to_string()))
}

/// Kamailio's faked message comes from 127.0.0.1:5060 (it prints that address byte-swapped,
/// `1.0.0.127`, on little-endian hosts; see docs); it arrived on the first socket.
fn faked_rcv(server: &dyn Server) -> RecvInfo {
    let src = SocketAddr::from(([127, 0, 0, 1], 5060));
    let dst = server.sockets().first().map_or(src, |s| s.addr);
    RecvInfo {
        src,
        dst,
        ..RecvInfo::default()
    }
}
