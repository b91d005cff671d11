//! usrloc's own keepalives (`ka_mode`) and its handling of TCP connections (`handle_lost_tcp`,
//! `close_expired_tcp`).
//!
//! Every `timer_interval` the sweep ([`super::UlApi::timer`]) walks the contacts held in memory:
//! a contact whose last keepalive (its registration or refresh, or the last reply to a keepalive)
//! is older than `ka_timeout` gets 10 s left to live; the others selected by `ka_mode` are sent a
//! stateless request (`ka_method`, OPTIONS by default) laid out as Kamailio's: the From tag carries
//! the contact's record id, the AoR hash and the send time, so the reply alone says which contact
//! answered and how long it took. Replies come through the server's reply hook
//! ([`ferrosip_api::NetHooks`]), after tm declined them — as Kamailio's `response_f` of usrloc —
//! and are not relayed. Nothing here holds a shard lock while sending.
//!
//! `handle_lost_tcp`: when a connection closes (the transport's close event) its contacts expire
//! at once (Kamailio's `UL_EXPIRED_TIME`), and the sweep also expires contacts whose connection
//! is gone (a REGISTER processed after its connection closed); the next sweep removes them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::ctx::{Dest, Proto, RecvInfo};
use ferrosip_api::{Ctx, Format, NetworkApi, RouteType, Server, SocketInfo, WorkerState};
use ferrosip_sipmsg::uri::Uri;
use ferrosip_sipmsg::{Msg, Span};

use super::store::{core_hash, MemoryStore, UContact};

/// Prefix of the keepalives' Call-ID (Kamailio's).
pub const CALLID_PREFIX: &str = "ksrulka-";

/// Absolute expiry Kamailio gives a contact whose connection was lost (`UL_EXPIRED_TIME`).
pub const EXPIRED_TIME: i64 = 10;

/// Kamailio's default `ka_logmsg`.
pub const DEFAULT_LOGMSG: &str = " to-uri: [$tu] remote-addr: [$sas]";

/// `ka_mode` bits.
pub const KA_ALL: u32 = 1;
/// Only contacts with the `nat_bflag` branch flag.
pub const KA_NAT: u32 = 2;
/// Only contacts reached over UDP.
pub const KA_UDP: u32 = 4;

/// The keepalive modparams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KaConfig {
    /// `ka_mode` (0 off; bits [`KA_ALL`], [`KA_NAT`], [`KA_UDP`]).
    pub mode: u32,
    /// `ka_from`: the From URI (and what a reply's From must be).
    pub from: String,
    /// `ka_domain`: the To URI's domain when the AoR has none.
    pub domain: String,
    /// `ka_method`.
    pub method: String,
    /// `ka_timeout`: seconds without a reply before the contact is let expire (0 = never).
    pub timeout: i64,
    /// `ka_loglevel`: level of the round-trip line logged per reply (255 = none).
    pub loglevel: i32,
    /// `ka_logmsg`: what follows `keepalive roundtrip: <s>.<µs> sec - ruid [<ruid>]` in that
    /// line, its variables evaluated on the reply (`None`: Kamailio's default,
    /// [`DEFAULT_LOGMSG`]).
    pub logmsg: Option<String>,
    /// `ka_filter` bit 1: keepalives only for contacts saved with this server's `server_id`.
    pub filter_server_id: bool,
    /// `handle_lost_tcp`.
    pub handle_lost_tcp: bool,
    /// `close_expired_tcp`.
    pub close_expired_tcp: bool,
}

impl Default for KaConfig {
    fn default() -> KaConfig {
        KaConfig {
            mode: 0,
            from: "sip:server@kamailio.org".into(),
            domain: "kamailio.org".into(),
            method: "OPTIONS".into(),
            timeout: 0,
            loglevel: 255,
            logmsg: None,
            filter_server_id: false,
            handle_lost_tcp: false,
            close_expired_tcp: false,
        }
    }
}

/// What is known of a contact's keepalives, by record id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct KaState {
    /// Table and AoR of the contact (to find it when its reply comes).
    table: String,
    aor: String,
    /// Time of the last reply (seconds), 0 = none yet.
    last: i64,
    /// Round trip of that reply, microseconds.
    rtt_us: u32,
}

/// The keepalive state of one usrloc instance.
#[derive(Debug)]
pub struct Keepalive {
    cfg: KaConfig,
    /// `nat_bflag` as a mask (0 = unset: [`KA_NAT`] then selects nothing, as in Kamailio).
    nat_mask: u32,
    /// Kamailio's `_ul_ka_counter`: one more per record visited.
    counter: AtomicU32,
    /// Record id → state; kept to the contacts seen by the last sweep.
    states: Mutex<HashMap<String, KaState>>,
    /// `ka_logmsg` parsed at init (unset: the default text, written directly).
    logfmt: OnceLock<Format>,
}

/// One sweep's working set: the server's sockets, a snapshot of the keepalive states, the
/// contacts visited (record id → table, AoR) and the requests to send once no lock is held.
struct Run {
    sockets: Vec<SocketInfo>,
    states: HashMap<String, KaState>,
    seen: HashMap<String, (String, String)>,
    out: Vec<Outgoing>,
}

impl Run {
    fn new(ka: &Keepalive, net: Option<&NetworkApi>) -> Run {
        let sockets: Vec<SocketInfo> = match net.map(|n| n.0.server()) {
            Some(Ok(s)) => s.sockets().to_vec(),
            _ => Vec::new(),
        };
        Run {
            sockets,
            states: lock(&ka.states).clone(),
            seen: HashMap::new(),
            out: Vec::new(),
        }
    }
}

/// One keepalive ready to send.
struct Outgoing {
    dest: Dest,
    /// The contact's connection (TCP/TLS/WS), used while it is open.
    conn: Option<u64>,
    bytes: Vec<u8>,
}

impl Keepalive {
    /// Keepalives per `cfg`; `nat_bflag` is the branch flag index (-1 = none).
    pub fn new(cfg: KaConfig, nat_bflag: i32) -> Keepalive {
        let nat_mask = u32::try_from(nat_bflag)
            .ok()
            .and_then(|b| 1u32.checked_shl(b))
            .unwrap_or(0);
        Keepalive {
            cfg,
            nat_mask,
            counter: AtomicU32::new(0),
            states: Mutex::new(HashMap::new()),
            logfmt: OnceLock::new(),
        }
    }

    /// Sets the parsed `ka_logmsg` (once, at init).
    pub fn set_logfmt(&self, f: Format) {
        let _ = self.logfmt.set(f);
    }

    /// The modparams.
    pub fn config(&self) -> &KaConfig {
        &self.cfg
    }

    /// (last keepalive, round trip µs) of the contact `c` as `ul.dump` shows them: the last
    /// reply, or the contact's last change when that is newer (a refresh counts as a keepalive).
    pub fn shown(&self, c: &UContact) -> (i64, u32) {
        let st = lock(&self.states).get(&c.ruid).cloned().unwrap_or_default();
        (st.last.max(c.last_modified), st.rtt_us)
    }

    /// The sweep's keepalive part at `now` over the memory contacts: contacts of lost
    /// connections and contacts silent for `ka_timeout` are let expire, the others selected by
    /// `ka_mode` are sent a keepalive through `net`.
    pub fn sweep(&self, mem: &MemoryStore, net: Option<&NetworkApi>, now: i64) {
        let lost_tcp = self.cfg.handle_lost_tcp;
        if self.cfg.mode == 0 && !lost_tcp {
            return;
        }
        let mut run = Run::new(self, net);
        mem.for_each_mut(&mut |table, aor, list| {
            if lost_tcp {
                if let Some(n) = net {
                    for c in list.iter_mut().filter(|c| c.tcpconn_id > 0) {
                        let id = u64::try_from(c.tcpconn_id).unwrap_or(0);
                        if n.0.conn_alive(id) == Some(false) {
                            c.expires = EXPIRED_TIME;
                        }
                    }
                }
            }
            if self.cfg.mode != 0 {
                self.visit(&mut run, table, aor, list, now, true);
            }
        });
        self.finish(run, net);
    }

    /// DB-only keepalives (Kamailio's `ul_ka_db_records`): each row the database gave
    /// ([`super::db::DbStore::ka_rows`]) is a record of its own with one contact; `ka_timeout`
    /// plays no part (nothing is kept in memory to let expire).
    pub fn sweep_rows(
        &self,
        rows: Vec<(String, String, UContact)>,
        net: Option<&NetworkApi>,
        now: i64,
    ) {
        if self.cfg.mode == 0 {
            return;
        }
        let mut run = Run::new(self, net);
        for (table, aor, mut c) in rows {
            self.visit(
                &mut run,
                &table,
                &aor,
                std::slice::from_mut(&mut c),
                now,
                false,
            );
        }
        self.finish(run, net);
    }

    /// One record (Kamailio's `ul_ka_urecord`): its contacts selected by `ka_mode` and
    /// `ka_filter` get a keepalive (queued in `run`); with `timeout`, a contact silent for
    /// `ka_timeout` gets 10 s left instead.
    fn visit(
        &self,
        run: &mut Run,
        table: &str,
        aor: &str,
        list: &mut [UContact],
        now: i64,
        timeout: bool,
    ) {
        let lost_tcp = self.cfg.handle_lost_tcp;
        let cnt = self.counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        let mut bcnt = 0u32;
        for c in list.iter_mut() {
            if c.uri.is_empty() || (lost_tcp && c.expires == EXPIRED_TIME) {
                continue;
            }
            // ka_filter 1: only this server's contacts (the core's server_id is 0 in ferrosip).
            if self.cfg.filter_server_id && c.server_id != 0 {
                continue;
            }
            if self.cfg.mode & KA_NAT != 0
                && (self.nat_mask == 0 || c.cflags & self.nat_mask != self.nat_mask)
            {
                continue;
            }
            let last = run
                .states
                .get(&c.ruid)
                .map_or(0, |s| s.last)
                .max(c.last_modified);
            if timeout
                && self.cfg.timeout > 0
                && last > 0
                && last + self.cfg.timeout < now
                && c.expires > now + 10
            {
                tracing::debug!(aor, contact = %c.uri, "no keepalive reply: expires in 10 s");
                c.expires = now + 10;
                continue;
            }
            let Some(dest) = destination(c, &run.sockets) else {
                tracing::debug!(aor, contact = %c.uri, "keepalive: no destination");
                continue;
            };
            if self.cfg.mode & KA_UDP != 0 && dest.0.proto != Proto::Udp {
                continue;
            }
            bcnt += 1;
            let bytes = self.request(c, aor, &dest.1, cnt, bcnt);
            run.seen
                .insert(c.ruid.clone(), (table.to_string(), aor.to_string()));
            let conn = u64::try_from(c.tcpconn_id)
                .ok()
                .filter(|id| *id > 0 && dest.0.proto != Proto::Udp);
            run.out.push(Outgoing {
                dest: dest.0,
                conn,
                bytes,
            });
        }
    }

    /// Keeps the state of the contacts visited and sends what `run` queued.
    fn finish(&self, run: Run, net: Option<&NetworkApi>) {
        {
            let mut st = lock(&self.states);
            st.retain(|ruid, _| run.seen.contains_key(ruid));
            for (ruid, (table, aor)) in run.seen {
                let e = st.entry(ruid).or_default();
                e.table = table;
                e.aor = aor;
            }
        }
        let Some(net) = net else { return };
        for o in run.out {
            let sent = match o.conn {
                Some(id) => net.0.send_conn(&o.dest, id, &o.bytes),
                None => net.0.send(&o.dest, &o.bytes),
            };
            if let Err(e) = sent {
                tracing::debug!("keepalive to {} not sent: {e}", o.dest.addr);
            }
        }
    }

    /// A reply to one of our keepalives (Kamailio's matching: CSeq method, a single Via, From
    /// URI `ka_from`, a From tag `<ruid>-<aorhash>-<sec>-<usec>-<counter>`): records the time
    /// and round trip for the contact and takes the reply (`true`: not relayed).
    pub fn on_reply(&self, msg: &Msg, rcv: &RecvInfo, net: Option<&NetworkApi>) -> bool {
        if self.cfg.mode == 0 {
            return false;
        }
        let buf = msg.buf();
        let Ok(cseq) = msg.cseq() else { return false };
        if cseq.method_span.of(buf) != self.cfg.method.as_bytes() {
            return false;
        }
        if matches!(msg.via2(), Ok(Some(_))) {
            return false;
        }
        let Ok(from) = msg.from() else { return false };
        if from.uri.of(buf) != self.cfg.from.as_bytes() {
            return false;
        }
        let Some(tag) = from.tag.map(|t| t.of(buf)) else {
            return false;
        };
        let Some((ruid, aorhash, sent_us)) = parse_tag(tag) else {
            return false;
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let now_us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX);
        // Kamailio keeps the difference in an unsigned int of microseconds.
        let rtt = u32::try_from(now_us.saturating_sub(sent_us)).unwrap_or(u32::MAX);
        let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        {
            let mut st = lock(&self.states);
            if let Some(s) = st
                .get_mut(ruid)
                .filter(|s| core_hash(s.aor.as_bytes()) == aorhash)
            {
                s.last = secs;
                s.rtt_us = rtt;
            }
        }
        if self.cfg.loglevel != 255 {
            if let Some(Ok(mut srv)) = net.map(|n| n.0.server()) {
                if srv.log_enabled(self.cfg.loglevel) {
                    let tail = match self.logfmt.get() {
                        Some(f) => render(f, msg, rcv, &mut *srv),
                        None => {
                            let to = msg.to().map(|t| t.uri.of(buf)).unwrap_or_default();
                            Some(format!(
                                " to-uri: [{}] remote-addr: [{}:{}:{}]",
                                String::from_utf8_lossy(to),
                                rcv.proto.name(),
                                rcv.src.ip(),
                                rcv.src.port(),
                            ))
                        }
                    };
                    if let Some(tail) = tail {
                        srv.log(
                            self.cfg.loglevel,
                            &format!(
                                "keepalive roundtrip: {}.{:06} sec - ruid [{ruid}]{tail}",
                                rtt / 1_000_000,
                                rtt % 1_000_000,
                            ),
                        );
                    }
                }
            }
        }
        true
    }

    /// `handle_lost_tcp`: connection `id` closed, its contacts expire now.
    pub fn conn_closed(&self, mem: &MemoryStore, id: u64) {
        let Ok(id) = i64::try_from(id) else { return };
        mem.for_each_mut(&mut |_, _, list| {
            for c in list.iter_mut().filter(|c| c.tcpconn_id == id) {
                c.expires = EXPIRED_TIME;
            }
        });
    }

    /// The request for contact `c` of `aor`, Kamailio's layout (`via` is `PROTO host:port`).
    fn request(&self, c: &UContact, aor: &str, via: &str, cnt: u32, bcnt: u32) -> Vec<u8> {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let m = &self.cfg.method;
        let route = if c.path.is_empty() {
            String::new()
        } else {
            format!("Route: {}\r\n", c.path)
        };
        let to = if aor.contains('@') {
            aor.to_string()
        } else {
            format!("{aor}@{}", self.cfg.domain)
        };
        format!(
            "{m} {uri} SIP/2.0\r\n\
             Via: SIP/2.0/{via};branch=z9hG4bKx.{cnt}.{bcnt}.0\r\n\
             {route}\
             From: <{from}>;tag={ruid}-{hash:x}-{sec:x}-{usec:x}-{cnt:x}.{bcnt:x}\r\n\
             To: <sip:{to}>\r\n\
             Call-ID: {CALLID_PREFIX}{rnd:x}-{pid:x}-{cnt}.{bcnt}\r\n\
             CSeq: 80 {m}\r\n\
             Content-Length: 0\r\n\r\n",
            uri = c.uri,
            from = self.cfg.from,
            ruid = c.ruid,
            hash = core_hash(aor.as_bytes()),
            sec = t.as_secs(),
            usec = t.subsec_micros(),
            rnd = random32(cnt, bcnt, t.subsec_nanos()),
            pid = std::process::id(),
        )
        .into_bytes()
    }
}

// ---- internals ----

/// Where a keepalive for `c` goes, and our Via's `PROTO host:port`: its `received` address,
/// else its Path's first hop, else its Contact (Kamailio's order); the contact's socket, else the
/// first of that protocol and address family.
fn destination(c: &UContact, sockets: &[SocketInfo]) -> Option<(Dest, String)> {
    let target = if !c.received.is_empty() {
        c.received.clone()
    } else if !c.path.is_empty() {
        let s = c.path.find('<')? + 1;
        let e = s + c.path.get(s..)?.find('>')?;
        c.path.get(s..e)?.to_string()
    } else {
        c.uri.clone()
    };
    let buf = target.as_bytes();
    let uri = Uri::parse(buf, Span::new(0, buf.len())).ok()?;
    let proto = match uri.transport.and_then(|p| p.value) {
        Some(v) => Proto::from_name(v.of(buf))?,
        None => Proto::Udp,
    };
    let host = std::str::from_utf8(uri.host.of(buf)).ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port.filter(|p| *p != 0).unwrap_or(5060);
    let addr = match host.parse::<std::net::IpAddr>() {
        Ok(ip) => std::net::SocketAddr::new(ip, port),
        Err(_) => {
            use std::net::ToSocketAddrs as _;
            (host, port).to_socket_addrs().ok()?.next()?
        }
    };
    let by_id = c
        .socket_id
        .and_then(|i| sockets.get(usize::try_from(i).ok()?).map(|s| (i, s)))
        .filter(|(_, s)| s.proto == proto || (proto == Proto::Ws && s.proto == Proto::Tcp));
    let (idx, sock) = by_id.or_else(|| {
        sockets
            .iter()
            .enumerate()
            .find(|(_, s)| s.proto == proto && s.addr.is_ipv4() == addr.is_ipv4())
            .and_then(|(i, s)| Some((u32::try_from(i).ok()?, s)))
    })?;
    let (vhost, vport) = match &sock.advertise {
        Some((h, p)) => (h.clone(), if *p == 0 { sock.addr.port() } else { *p }),
        None => (sock.addr.ip().to_string(), sock.addr.port()),
    };
    let vhost = if vhost.contains(':') && !vhost.starts_with('[') {
        format!("[{vhost}]")
    } else {
        vhost
    };
    let via = format!("{} {vhost}:{vport}", proto.name().to_ascii_uppercase());
    Some((
        Dest {
            addr,
            proto,
            socket: idx,
        },
        via,
    ))
}

/// `ka_logmsg` evaluated on the reply `msg` (a copy, in a context of its own, as Kamailio's
/// `pv_printf_s` on the reply); `None` when the copy does not parse.
fn render(f: &Format, msg: &Msg, rcv: &RecvInfo, srv: &mut dyn Server) -> Option<String> {
    let mut m = Msg::parse(msg.buf().to_vec()).ok()?;
    let mut w = WorkerState::default();
    let mut ctx = Ctx::new(&mut m, RouteType::CoreOnReply, *rcv, &mut w, srv).ok()?;
    Some(String::from_utf8_lossy(&f.render(&mut ctx)).into_owned())
}

/// The From tag of a keepalive: (ruid, AoR hash, send time in µs); `None` when it is not one.
fn parse_tag(tag: &[u8]) -> Option<(&str, u32, u64)> {
    if tag.len() <= 8 {
        return None;
    }
    let tag = std::str::from_utf8(tag).ok()?;
    let mut it = tag.rsplitn(5, '-');
    let _counter = it.next()?;
    let usec = u64::from_str_radix(it.next()?, 16).ok()?;
    let sec = u64::from_str_radix(it.next()?, 16).ok()?;
    let hash = u32::from_str_radix(it.next()?, 16).ok()?;
    let ruid = it.next().filter(|r| !r.is_empty())?;
    Some((
        ruid,
        hash,
        sec.saturating_mul(1_000_000).saturating_add(usec),
    ))
}

/// A 32-bit value for the Call-ID that differs per request (Kamailio uses its fast random
/// generator; only uniqueness matters).
fn random32(cnt: u32, bcnt: u32, nanos: u32) -> u32 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(cnt);
    h.write_u32(bcnt);
    h.write_u32(nanos);
    (h.finish() & 0xffff_ffff) as u32
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usrloc::store::LocationStore as _;

    /// A parsed tag: (ruid, AoR hash, µs).
    type Parsed<'a> = Option<(&'a str, u32, u64)>;

    #[test]
    fn tag_round_trip() {
        // (tag, expected)
        let table: &[(&str, Parsed<'_>)] = &[
            (
                "uloc-6b08730f-19b2-1-6d52f7dd-6b087313-d891d-1.1",
                Some((
                    "uloc-6b08730f-19b2-1",
                    0x6d52_f7dd,
                    0x6b08_7313 * 1_000_000 + 0xd891d,
                )),
            ),
            ("short", None),
            ("a-b-c-d", None),
            ("-6d52f7dd-6b087313-d891d-1.1", None),
            ("uloc-1-zz-6b087313-d891d-1.1", None),
        ];
        for (tag, want) in table {
            assert_eq!(parse_tag(tag.as_bytes()), *want, "{tag}");
        }
    }

    #[test]
    fn request_layout() {
        let ka = Keepalive::new(KaConfig::default(), -1);
        let c = UContact {
            uri: "sip:alice@127.0.0.1:5070".into(),
            ruid: "uloc-1-2-3".into(),
            ..UContact::default()
        };
        let s = String::from_utf8(ka.request(&c, "alice", "UDP 127.0.0.1:5060", 7, 2))
            .unwrap_or_default();
        let lines: Vec<&str> = s.split("\r\n").collect();
        assert_eq!(lines[0], "OPTIONS sip:alice@127.0.0.1:5070 SIP/2.0");
        assert_eq!(
            lines[1],
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx.7.2.0"
        );
        assert!(lines[2].starts_with("From: <sip:server@kamailio.org>;tag=uloc-1-2-3-"));
        assert!(lines[2].ends_with("-7.2"));
        assert_eq!(lines[3], "To: <sip:alice@kamailio.org>");
        assert!(lines[4].starts_with("Call-ID: ksrulka-") && lines[4].ends_with("-7.2"));
        assert_eq!(lines[5], "CSeq: 80 OPTIONS");
        let tag = lines[2].split("tag=").nth(1).unwrap_or_default();
        let (ruid, hash, _) = parse_tag(tag.as_bytes()).unwrap_or(("", 0, 0));
        assert_eq!((ruid, hash), ("uloc-1-2-3", core_hash(b"alice")));
    }

    /// A network that records what is sent; connections in `alive` are open.
    #[derive(Default)]
    struct FakeNet {
        sent: Mutex<Vec<(Dest, Option<u64>, String)>>,
        alive: Vec<u64>,
    }

    impl ferrosip_api::Network for FakeNet {
        fn forward(
            &self,
            _: &mut ferrosip_api::Ctx<'_>,
            _: &ferrosip_api::net::ForwardRequest<'_>,
        ) -> Result<ferrosip_api::net::Sent, ferrosip_api::Error> {
            Err(ferrosip_api::Error::Runtime("no forward".into()))
        }
        fn send(&self, dest: &Dest, bytes: &[u8]) -> Result<(), ferrosip_api::Error> {
            let m = String::from_utf8_lossy(bytes).into_owned();
            lock(&self.sent).push((*dest, None, m));
            Ok(())
        }
        fn send_conn(&self, dest: &Dest, conn: u64, b: &[u8]) -> Result<(), ferrosip_api::Error> {
            let m = String::from_utf8_lossy(b).into_owned();
            lock(&self.sent).push((*dest, Some(conn), m));
            Ok(())
        }
        fn server(&self) -> Result<Box<dyn ferrosip_api::Server + '_>, ferrosip_api::Error> {
            let sock = |p, port| SocketInfo::new(p, ([127, 0, 0, 1], port).into());
            Ok(Box::new(ferrosip_api::ctx::Recorder {
                sockets: vec![sock(Proto::Udp, 5060), sock(Proto::Tcp, 5060)],
                ..Default::default()
            }))
        }
        fn conn_alive(&self, id: u64) -> Option<bool> {
            Some(self.alive.contains(&id))
        }
    }

    /// A contact: (uri, cflags, tcp connection, last change, expires, received, path).
    type Spec = (&'static str, u32, i64, i64, i64, &'static str, &'static str);

    fn contact(i: usize, s: &Spec) -> UContact {
        UContact {
            uri: s.0.into(),
            cflags: s.1,
            tcpconn_id: s.2,
            last_modified: s.3,
            expires: s.4,
            received: s.5.into(),
            path: s.6.into(),
            ruid: format!("r{i}"),
            ..UContact::default()
        }
    }

    /// A keepalive sent: (protocol and address, connection, request line, Via).
    type SentKa = (String, Option<u64>, String, String);

    /// One sweep at t=1000 over one AoR; returns (sent: (dest, conn, first line, Via), expires
    /// of each contact afterwards).
    fn sweep_once(
        mode: u32,
        timeout: i64,
        nat_bflag: i32,
        lost_tcp: bool,
        specs: &[Spec],
    ) -> (Vec<SentKa>, Vec<i64>) {
        let cfg = KaConfig {
            mode,
            timeout,
            handle_lost_tcp: lost_tcp,
            ..KaConfig::default()
        };
        let ka = Keepalive::new(cfg, nat_bflag);
        let mem = MemoryStore::new(2);
        mem.register_domain("location");
        mem.update("location", "alice", &mut |l| {
            l.extend(specs.iter().enumerate().map(|(i, s)| contact(i, s)))
        });
        let fake = std::sync::Arc::new(FakeNet {
            alive: vec![5],
            ..FakeNet::default()
        });
        let net = NetworkApi(fake.clone());
        ka.sweep(&mem, Some(&net), 1000);
        let sent = lock(&fake.sent)
            .iter()
            .map(|(d, c, m)| {
                let mut l = m.split("\r\n");
                let first = l.next().unwrap_or("").to_string();
                let via = l.next().unwrap_or("").to_string();
                (format!("{:?} {}", d.proto, d.addr), *c, first, via)
            })
            .collect();
        let left = mem
            .get("location", "alice")
            .map(|r| r.contacts.iter().map(|c| c.expires).collect())
            .unwrap_or_default();
        (sent, left)
    }

    const UDP: Spec = ("sip:a@127.0.0.1:5070", 0, -1, 990, 2000, "", "");
    const TCP: Spec = ("sip:a@127.0.0.1:9;transport=tcp", 0, 5, 990, 2000, "", "");
    const NAT: Spec = ("sip:a@127.0.0.1:5071", 1 << 3, -1, 990, 2000, "", "");

    #[test]
    fn sweep_selects_and_expires_as_kamailio() {
        let udp = |port: u16| format!("Udp 127.0.0.1:{port}");
        // ka_mode 1: every contact; the TCP one on its connection, our TCP socket in the Via.
        let (sent, _) = sweep_once(KA_ALL, 0, -1, false, &[UDP, TCP]);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert_eq!(sent[0].0, udp(5070));
        assert_eq!(sent[0].1, None);
        assert_eq!(sent[0].2, "OPTIONS sip:a@127.0.0.1:5070 SIP/2.0");
        assert_eq!(
            sent[0].3,
            "Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKx.1.1.0"
        );
        assert_eq!(sent[1].0, "Tcp 127.0.0.1:9");
        assert_eq!(sent[1].1, Some(5));
        assert_eq!(
            sent[1].3,
            "Via: SIP/2.0/TCP 127.0.0.1:5060;branch=z9hG4bKx.1.2.0"
        );
        // ka_mode 4: UDP only.
        let (sent, _) = sweep_once(KA_ALL | KA_UDP, 0, -1, false, &[UDP, TCP]);
        assert_eq!(
            sent.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
            [udp(5070)]
        );
        // ka_mode 2: contacts with the nat_bflag branch flag; none when nat_bflag is unset.
        let (sent, _) = sweep_once(KA_NAT, 0, 3, false, &[UDP, NAT]);
        assert_eq!(
            sent.iter().map(|s| s.0.clone()).collect::<Vec<_>>(),
            [udp(5071)]
        );
        let (sent, _) = sweep_once(KA_NAT, 0, -1, false, &[UDP, NAT]);
        assert!(sent.is_empty());
        // received, then the Path's first hop, then the Contact.
        let rcv: Spec = ("sip:a@10.0.0.1", 0, -1, 990, 2000, "sip:127.0.0.1:6000", "");
        let path: Spec = (
            "sip:a@10.0.0.1",
            0,
            -1,
            990,
            2000,
            "",
            "<sip:127.0.0.1:6001;lr>",
        );
        let (sent, _) = sweep_once(KA_ALL, 0, -1, false, &[rcv, path]);
        assert_eq!(sent[0].0, udp(6000));
        assert_eq!(sent[1].0, udp(6001));
        // ka_timeout 10 at t=1000: silent since 980 → 10 s left and no request; since 995 →
        // a request; already expiring within 10 s → a request, expiry kept; permanent → a request.
        let old: Spec = ("sip:a@127.0.0.1:5070", 0, -1, 980, 2000, "", "");
        let fresh: Spec = ("sip:a@127.0.0.1:5071", 0, -1, 995, 2000, "", "");
        let ending: Spec = ("sip:a@127.0.0.1:5072", 0, -1, 980, 1005, "", "");
        let permanent: Spec = ("sip:a@127.0.0.1:5073", 0, -1, 980, 0, "", "");
        let (sent, left) = sweep_once(KA_ALL, 10, -1, false, &[old, fresh, ending, permanent]);
        assert_eq!(left, [1010, 2000, 1005, 0]);
        let to: Vec<String> = sent.iter().map(|s| s.0.clone()).collect();
        assert_eq!(to, [udp(5071), udp(5072), udp(5073)]);
        // handle_lost_tcp: a contact whose connection is gone expires (10) and is not pinged.
        let lost: Spec = ("sip:a@127.0.0.1:9;transport=tcp", 0, 7, 990, 2000, "", "");
        let (sent, left) = sweep_once(KA_ALL, 0, -1, true, &[TCP, lost]);
        assert_eq!(left, [2000, EXPIRED_TIME]);
        assert_eq!(sent.len(), 1);
        let (_, left) = sweep_once(0, 0, -1, false, &[lost]);
        assert_eq!(left, [2000], "without handle_lost_tcp");
    }

    /// (dest, Via) of what `fake` sent.
    fn sent_of(fake: &FakeNet) -> Vec<(String, String)> {
        lock(&fake.sent)
            .iter()
            .map(|(d, _, m)| {
                let via = m.split("\r\n").nth(1).unwrap_or("").to_string();
                (format!("{}", d.addr), via)
            })
            .collect()
    }

    #[test]
    fn ka_filter_keeps_to_this_servers_contacts() {
        let other = UContact {
            server_id: 5,
            ..contact(1, &("sip:a@127.0.0.1:5071", 0, -1, 990, 2000, "", ""))
        };
        for (filter, want) in [(false, 2), (true, 1)] {
            let ka = Keepalive::new(
                KaConfig {
                    mode: KA_ALL,
                    filter_server_id: filter,
                    ..KaConfig::default()
                },
                -1,
            );
            let mem = MemoryStore::new(2);
            mem.register_domain("location");
            mem.update("location", "alice", &mut |l| {
                l.push(contact(0, &UDP));
                l.push(other.clone());
            });
            let fake = std::sync::Arc::new(FakeNet::default());
            ka.sweep(&mem, Some(&NetworkApi(fake.clone())), 1000);
            let sent = sent_of(&fake);
            assert_eq!(sent.len(), want, "filter {filter}: {sent:?}");
            assert_eq!(sent[0].0, "127.0.0.1:5070");
        }
    }

    #[test]
    fn db_rows_are_one_record_each_and_never_time_out() {
        let ka = Keepalive::new(
            KaConfig {
                mode: KA_ALL,
                timeout: 5,
                ..KaConfig::default()
            },
            -1,
        );
        // silent since 900 with ka_timeout 5: still pinged (no ka_timeout in DB-only mode)
        let old: Spec = ("sip:a@127.0.0.1:5070", 0, -1, 900, 2000, "", "");
        let rows = vec![
            (
                "location".to_string(),
                "alice".to_string(),
                contact(0, &old),
            ),
            (
                "location".to_string(),
                "alice".to_string(),
                contact(1, &NAT),
            ),
            ("location".to_string(), "bob".to_string(), contact(2, &UDP)),
        ];
        let fake = std::sync::Arc::new(FakeNet::default());
        ka.sweep_rows(rows, Some(&NetworkApi(fake.clone())), 1000);
        let vias: Vec<String> = sent_of(&fake)
            .into_iter()
            .map(|(_, v)| v.rsplit(";branch=").next().unwrap_or("").to_string())
            .collect();
        assert_eq!(vias, ["z9hG4bKx.1.1.0", "z9hG4bKx.2.1.0", "z9hG4bKx.3.1.0"]);
        // ka_mode 0: nothing
        let off = Keepalive::new(KaConfig::default(), -1);
        let fake = std::sync::Arc::new(FakeNet::default());
        let row = ("location".to_string(), "bob".to_string(), contact(2, &UDP));
        off.sweep_rows(vec![row], Some(&NetworkApi(fake.clone())), 1000);
        assert!(sent_of(&fake).is_empty());
    }

    #[test]
    fn replies_are_matched_by_the_from_tag() {
        let ka = Keepalive::new(
            KaConfig {
                mode: KA_ALL,
                ..KaConfig::default()
            },
            -1,
        );
        let mem = MemoryStore::new(2);
        mem.register_domain("location");
        mem.update("location", "alice", &mut |l| l.push(contact(0, &UDP)));
        let fake = std::sync::Arc::new(FakeNet::default());
        let net = NetworkApi(fake.clone());
        ka.sweep(&mem, Some(&net), 1000);
        let req = lock(&fake.sent)
            .first()
            .map(|s| s.2.clone())
            .unwrap_or_default();
        let reply = |first: &str, extra: &str, from: Option<&str>| {
            let mut lines: Vec<String> = req.split("\r\n").map(str::to_string).collect();
            lines[0] = first.into();
            if let Some(f) = from {
                lines[3] = f.into();
            }
            let body = lines
                .join("\r\n")
                .replacen("\r\nFrom:", &format!("{extra}\r\nFrom:"), 1);
            Msg::parse(body.into_bytes()).unwrap_or_else(|e| panic!("{e}"))
        };
        let rcv = RecvInfo::default();
        let c = contact(0, &UDP);
        assert_eq!(ka.shown(&c), (990, 0));
        // (reply, taken)
        let cases = [
            (reply("SIP/2.0 200 OK", "", None), true),
            (reply("SIP/2.0 404 Nope", "", None), true),
            (
                reply("SIP/2.0 200 OK", "\r\nVia: SIP/2.0/UDP 10.0.0.1", None),
                false,
            ),
            (
                reply(
                    "SIP/2.0 200 OK",
                    "",
                    Some("From: <sip:x@y>;tag=r0-1-2-3-4.1"),
                ),
                false,
            ),
            (
                reply(
                    "SIP/2.0 200 OK",
                    "",
                    Some("From: <sip:server@kamailio.org>;tag=shorttag"),
                ),
                false,
            ),
        ];
        for (i, (m, taken)) in cases.iter().enumerate() {
            assert_eq!(ka.on_reply(m, &rcv, None), *taken, "case {i}");
        }
        let (last, rtt) = ka.shown(&c);
        assert!(
            last > 1_600_000_000,
            "last keepalive is the reply's time: {last}"
        );
        assert!(rtt < 60_000_000, "round trip {rtt} µs");
    }
}
