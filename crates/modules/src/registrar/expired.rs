//! `event_route[usrloc:contact-expired]`: run for every contact usrloc's expiry sweep removes
//! (Kamailio's registrar registers a `UL_CONTACT_EXPIRE` callback), with `$ulc(exp=>…)` holding
//! that contact (`count` 1, `aor`, `domain` = the table, `addr`, `callid` …).
//!
//! As in Kamailio, each run is on a faked request (`OPTIONS sip:you@kamailio.org`, message ids
//! counting up on the timer thread as in its timer process) and the timer thread keeps its `$var`
//! values from one run to the next; the routes run after the sweep, with no table lock held, so
//! they may look the AoR up. The faked request is the one htable's event routes use (written
//! again here: modules reach each other only through their APIs).

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use ferrosip_api::{Ctx, Network, RecvInfo, RouteType, WorkerState};
use ferrosip_sipmsg::Msg;

use crate::usrloc::store::UContact;

/// The event route's name.
pub const ROUTE: &str = "usrloc:contact-expired";

/// Kamailio's faked request (core `faked_msg.c`).
const FAKED: &str = "OPTIONS sip:you@kamailio.org SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1\r\nFrom: <sip:you@kamailio.org>;tag=123\r\nTo: <sip:you@kamailio.org>\r\nCall-ID: 123\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";

/// What the runs need: the core's network (program and server) and the timer thread's state.
pub struct Expired {
    net: Arc<dyn Network>,
    worker: Mutex<WorkerState>,
}

impl Expired {
    /// Runs on `net`'s program.
    pub fn new(net: Arc<dyn Network>) -> Expired {
        Expired {
            net,
            worker: Mutex::new(WorkerState::default()),
        }
    }

    /// True when the config has the event route.
    pub fn wanted(&self) -> bool {
        self.net
            .routes()
            .is_some_and(|r| r.event_route(ROUTE).is_some())
    }

    /// Runs the event route once per removed contact, in the sweep's order (nothing when the
    /// config has no such route).
    pub fn run(&self, list: Vec<(String, String, UContact)>) {
        let Some(routes) = self.net.routes() else {
            return;
        };
        let Some(index) = routes.event_route(ROUTE) else {
            return;
        };
        let mut server = match self.net.server() {
            Ok(s) => s,
            Err(e) => {
                tracing::error!("registrar: event_route[{ROUTE}] not run: {e}");
                return;
            }
        };
        let mut worker = match self.worker.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let src = SocketAddr::from(([127, 0, 0, 1], 5060));
        let rcv = RecvInfo {
            src,
            dst: server.sockets().first().map_or(src, |s| s.addr),
            ..RecvInfo::default()
        };
        for (table, aor, c) in list {
            let Ok(mut msg) = Msg::parse(FAKED.as_bytes().to_vec()) else {
                return;
            };
            let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Event, rcv, &mut worker, &mut *server)
            else {
                return;
            };
            ctx.routes = Some(routes.clone());
            ctx.state.xavps.insert(
                super::ulc::key(b"exp"),
                super::ulc::records(&aor, &table, std::slice::from_ref(&c)),
            );
            if let Err(e) = routes.run(index, &mut ctx) {
                ctx.log_error(&format!("event_route[{ROUTE}]: {e}"));
            }
        }
    }
}
