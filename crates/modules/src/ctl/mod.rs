//! `ctl`: the BINRPC control interface `kamcmd` talks to, over unix stream sockets
//! (`binrpc` = `unix:`/`unixs:`/a path; default `unixs:<rundir>/kamailio_ctl`), unix datagram
//! sockets (`unixd:`), TCP and UDP (`tcp:`/`udp:host[:port]`, port 2049 by default). It serves the same commands as `jsonrpcs`
//! (the shared [`crate::jsonrpcs::RpcTable`]).
//!
//! Datagram transports (`unixd:`, `udp:`) carry one packet per datagram. Not implemented (refused
//! at load): ctl's own FIFO (`fifo`), `autoconversion` and the buffer-size tuning parameters.

pub mod binrpc;

use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{Error, InitCtx, ModParam, ModParamType, ModValue, ModuleExports};

use crate::jsonrpcs::listen::{self, Conn, DgramSocket, Ownership, Runner, StreamListener};
use crate::jsonrpcs::{shared_table, Outcome, RpcTable, DEFAULT_RUNDIR};

/// Where a `binrpc` modparam value says to listen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    /// A unix stream socket path (`unix:`, `unixs:`, a path).
    Unix(PathBuf),
    /// A unix datagram socket path (`unixd:`).
    UnixDgram(PathBuf),
    /// A TCP `host:port` (`tcp:`).
    Tcp(String),
    /// A UDP `host:port` (`udp:`, or `host:port` without protocol).
    Udp(String),
}

/// Parses a `binrpc` value the way Kamailio's ctl does: `unix:`/`unixs:`/`unixd:` paths
/// (relative ones under the run dir), a bare path (unix stream), `tcp:`/`udp:` with `host:port`,
/// `host` (port 2049), `port` or `*:port` (any address), and a bare `host:port` (UDP).
pub fn parse_address(s: &str) -> Result<Address, Error> {
    parse_address_in(s, DEFAULT_RUNDIR)
}

/// [`parse_address`] with relative paths under `rundir` (the `-Y` runtime directory).
pub fn parse_address_in(s: &str, rundir: &str) -> Result<Address, Error> {
    let (proto, rest) = match s.split_once(':') {
        Some((p, r)) if matches!(p, "unix" | "unixs" | "unixd" | "udp" | "tcp") => (p, r),
        _ if s.starts_with('/') || !s.contains(':') => ("unixs", s),
        _ => ("udp", s),
    };
    let path = |rest: &str| -> Result<PathBuf, Error> {
        if rest.is_empty() {
            return Err(Error::Config(format!(
                "ctl binrpc: empty socket path in {s:?}"
            )));
        }
        let p = PathBuf::from(rest);
        Ok(if p.is_absolute() {
            p
        } else {
            PathBuf::from(rundir).join(p)
        })
    };
    match proto {
        "unix" | "unixs" => Ok(Address::Unix(path(rest)?)),
        "unixd" => Ok(Address::UnixDgram(path(rest)?)),
        "tcp" => Ok(Address::Tcp(host_port(rest, s)?)),
        _ => Ok(Address::Udp(host_port(rest, s)?)),
    }
}

fn host_port(rest: &str, whole: &str) -> Result<String, Error> {
    let any = |h: &str| {
        if h == "*" || h.is_empty() {
            "0.0.0.0".to_string()
        } else {
            h.to_string()
        }
    };
    let bad = || Error::Config(format!("ctl binrpc: bad address {whole:?}"));
    if rest.is_empty() {
        return Err(bad());
    }
    if rest.bytes().all(|b| b.is_ascii_digit()) {
        return rest
            .parse::<u16>()
            .map(|p| format!("0.0.0.0:{p}"))
            .map_err(|_| bad());
    }
    if let Some(v6) = rest.strip_prefix('[') {
        return match v6.split_once("]:") {
            Some((h, p)) => p
                .parse::<u16>()
                .map(|p| format!("[{h}]:{p}"))
                .map_err(|_| bad()),
            None => Ok(format!("[{}]:2049", v6.trim_end_matches(']'))),
        };
    }
    match rest.matches(':').count() {
        0 => Ok(format!("{}:2049", any(rest))),
        1 => {
            let (h, p) = rest.split_once(':').ok_or_else(bad)?;
            let p: u16 = p.parse().map_err(|_| bad())?;
            Ok(format!("{}:{p}", any(h)))
        }
        _ => Ok(format!("[{rest}]:2049")),
    }
}

/// What `ctl.listen`, `ctl.connections` and `ctl.who` report: the listening sockets and the open
/// connections, four and six strings each, in the order Kamailio prints them.
#[derive(Default)]
pub struct Live {
    listen: Mutex<Vec<Vec<String>>>,
    conns: Mutex<Vec<(u64, Vec<String>)>>,
    next: AtomicU64,
}

impl Live {
    fn answer(&self, method: &str) -> Option<Vec<RpcValue>> {
        let flat = |rows: Vec<Vec<String>>| -> Vec<RpcValue> {
            rows.into_iter().flatten().map(RpcValue::Str).collect()
        };
        match method {
            "ctl.listen" => Some(flat(lock(&self.listen).clone())),
            "ctl.connections" => Some(vec![RpcValue::Int(
                i64::try_from(lock(&self.conns).len()).unwrap_or(i64::MAX),
            )]),
            "ctl.who" => Some(flat(
                lock(&self.conns).iter().map(|(_, r)| r.clone()).collect(),
            )),
            _ => None,
        }
    }
}

/// Answers one request packet body: the reply packet kind and body. `live` answers the `ctl.*`
/// commands, which only mean something over BINRPC.
pub fn answer(table: &RpcTable, live: Option<&Live>, body: &[u8]) -> (u8, Vec<u8>) {
    let (method, params) = match binrpc::request(body) {
        Ok(x) => x,
        Err(e) => return (binrpc::FAULT, binrpc::fault_body(400, &e.to_string())),
    };
    if let Some(v) = live.and_then(|l| l.answer(&method)) {
        return (binrpc::REPL, binrpc::reply_body(&v));
    }
    match table.call(&method, &params) {
        // A top-level array is a sequence of values (successive `rpc->add` in Kamailio).
        Outcome::Value(RpcValue::Array(v)) => (binrpc::REPL, binrpc::reply_body(&v)),
        Outcome::Value(RpcValue::Null) => (binrpc::REPL, Vec::new()),
        Outcome::Value(v) => (binrpc::REPL, binrpc::reply_body(&[v])),
        Outcome::Fault(f) => (binrpc::FAULT, binrpc::fault_body(f.code, &f.message)),
        Outcome::NotFound => (
            binrpc::FAULT,
            binrpc::fault_body(500, &format!("command {method} not found")),
        ),
    }
}

/// The export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(State::default());
    let mut m = ModuleExports::new("ctl");
    let refused = |n: &'static str, t: ModParamType, d: &'static str| ModParam {
        implemented: false,
        ..ModParam::new(n, t, d)
    };
    m.params = vec![
        ModParam::new(
            "binrpc",
            ModParamType::Str,
            "Listen address: unix:/unixs:/unixd: path, tcp: or udp: host:port (repeatable).",
        )
        .check(|v| match v {
            ModValue::Str(s) => parse_address(s).map(|_| ()).map_err(|e| e.to_string()),
            ModValue::Int(_) => Err("needs a string".into()),
        }),
        ModParam::new(
            "mode",
            ModParamType::Int,
            "Permissions of unix sockets (default 0600).",
        ),
        ModParam::new(
            "user",
            ModParamType::Str,
            "Owner of unix sockets (name or number).",
        ),
        ModParam::new(
            "group",
            ModParamType::Str,
            "Group of unix sockets (name or number).",
        ),
        refused(
            "fifo",
            ModParamType::Str,
            "ctl's own FIFO (not implemented: use jsonrpcs).",
        ),
        refused(
            "autoconversion",
            ModParamType::Int,
            "Convert parameter types automatically (not implemented).",
        ),
        refused(
            "binrpc_max_body_size",
            ModParamType::Int,
            "Reply body size limit (not implemented).",
        ),
        refused(
            "binrpc_struct_max_body_size",
            ModParamType::Int,
            "Struct body size limit (not implemented).",
        ),
        refused(
            "binrpc_buffer_size",
            ModParamType::Int,
            "Reply buffer size (not implemented).",
        ),
    ];
    // Over JSON-RPC, as in Kamailio: ctl.listen adds nothing, the other two refuse.
    let only_binrpc = |name: &'static str, doc: &'static str| RpcExport {
        name,
        doc,
        handler: Arc::new(|_: &[RpcValue]| {
            Err(RpcFault {
                code: 606,
                message: "rpc available only over binrpc (ctl)".into(),
            })
        }),
    };
    m.rpcs = vec![
        RpcExport {
            name: "ctl.listen",
            doc: "Lists the ctl listening sockets (over binrpc).",
            handler: Arc::new(|_: &[RpcValue]| Ok(RpcValue::Null)),
        },
        only_binrpc(
            "ctl.connections",
            "Returns the number of open binrpc connections.",
        ),
        only_binrpc("ctl.who", "Lists the open binrpc connections."),
    ];
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

#[derive(Default)]
struct State {
    live: Arc<Live>,
    table: Mutex<Option<Arc<RpcTable>>>,
    bound: Mutex<Vec<StreamListener>>,
    dgrams: Mutex<Vec<DgramSocket>>,
    runner: Runner,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

impl State {
    fn init(&self, ictx: &mut InitCtx<'_>) -> Result<(), Error> {
        let table = shared_table(ictx);
        let mut addrs = Vec::new();
        for (n, v) in ictx.modparams() {
            if let (&"binrpc", ModValue::Str(s)) = (n, v) {
                addrs.push(parse_address_in(s, ictx.runtime_dir())?);
            }
        }
        if addrs.is_empty() {
            addrs.push(Address::Unix(
                PathBuf::from(ictx.runtime_dir()).join("kamailio_ctl"),
            ));
        }
        let id = |n: &str, f: fn(&str) -> Result<u32, String>| -> Result<Option<u32>, Error> {
            match ictx.modparam(n) {
                Some(ModValue::Str(s)) if !s.is_empty() => f(s)
                    .map(Some)
                    .map_err(|e| Error::Config(format!("ctl {n}: {e}"))),
                _ => Ok(None),
            }
        };
        let own = Ownership {
            mode: match ictx.modparam("mode") {
                Some(ModValue::Int(i)) => u32::try_from(*i).unwrap_or(0o600) & 0o7777,
                _ => 0o600,
            },
            uid: id("user", listen::user_id)?,
            gid: id("group", listen::group_id)?,
        };
        let mut bound = Vec::new();
        let mut dgrams = Vec::new();
        for a in addrs {
            match a {
                Address::Unix(p) => {
                    bound.push(StreamListener::Unix(listen::bind_unix_stream(&p, &own)?));
                    lock(&self.live.listen).push(vec![
                        "binrpc".into(),
                        "unix_stream".into(),
                        p.to_string_lossy().into_owned(),
                        String::new(),
                    ]);
                    self.runner.owns_file(p);
                }
                Address::UnixDgram(p) => {
                    dgrams.push(DgramSocket::Unix(listen::bind_unix_dgram(&p, &own)?));
                    lock(&self.live.listen).push(vec![
                        "binrpc".into(),
                        "unix_dgram".into(),
                        p.to_string_lossy().into_owned(),
                        String::new(),
                    ]);
                    self.runner.owns_file(p);
                }
                Address::Udp(hp) => {
                    let u = listen::bind_udp(&hp)?;
                    if let Ok(a) = u.local_addr() {
                        lock(&self.live.listen).push(vec![
                            "binrpc".into(),
                            "udp".into(),
                            a.ip().to_string(),
                            a.port().to_string(),
                        ]);
                    }
                    dgrams.push(DgramSocket::Udp(u));
                }
                Address::Tcp(hp) => {
                    let l = listen::bind_tcp(&hp)?;
                    if let Ok(a) = l.local_addr() {
                        lock(&self.live.listen).push(vec![
                            "binrpc".into(),
                            "tcp".into(),
                            a.ip().to_string(),
                            a.port().to_string(),
                        ]);
                    }
                    bound.push(StreamListener::Tcp(l));
                }
            }
        }
        *lock(&self.bound) = bound;
        *lock(&self.dgrams) = dgrams;
        *lock(&self.table) = Some(table);
        Ok(())
    }

    fn start(&self) {
        let Some(table) = lock(&self.table).clone() else {
            return;
        };
        for l in lock(&self.bound).drain(..) {
            let t = Arc::clone(&table);
            let live = Arc::clone(&self.live);
            listen::serve_stream(
                &self.runner,
                "ctl-binrpc",
                l,
                Arc::new(move |c: &mut Conn, stop: &AtomicBool| {
                    let id = live.next.fetch_add(1, Ordering::SeqCst);
                    lock(&live.conns).push((id, who_row(c)));
                    serve_conn(c, &t, &live, stop);
                    lock(&live.conns).retain(|(i, _)| *i != id);
                }),
            );
        }
        for d in lock(&self.dgrams).drain(..) {
            let t = Arc::clone(&table);
            let live = Arc::clone(&self.live);
            listen::serve_dgram(
                &self.runner,
                "ctl-binrpc-dgram",
                d,
                1,
                std::time::Duration::from_secs(2),
                Arc::new(move |pkt: &[u8]| {
                    // one packet per datagram; anything else is dropped
                    let h = binrpc::header(pkt).ok().flatten()?;
                    if h.kind != binrpc::REQ || pkt.len() < h.header_len + h.body_len {
                        return None;
                    }
                    let body = pkt.get(h.header_len..h.header_len + h.body_len)?;
                    let (kind, out) = answer(&t, Some(&live), body);
                    Some(binrpc::packet(kind, h.cookie, &out))
                }),
            );
        }
    }
}

/// One `ctl.who` row: transport, peer address and port, local address and port.
fn who_row(c: &Conn) -> Vec<String> {
    match c {
        Conn::Unix(s) => vec![
            "binrpc".into(),
            "unix_stream".into(),
            "<anonymous unix socket>".into(),
            String::new(),
            s.local_addr()
                .ok()
                .and_then(|a| a.as_pathname().map(|p| p.to_string_lossy().into_owned()))
                .unwrap_or_default(),
            String::new(),
        ],
        Conn::Tcp(s) => {
            let (pa, pp) = s
                .peer_addr()
                .map(|a| (a.ip().to_string(), a.port().to_string()))
                .unwrap_or_default();
            let (la, lp) = s
                .local_addr()
                .map(|a| (a.ip().to_string(), a.port().to_string()))
                .unwrap_or_default();
            vec!["binrpc".into(), "tcp".into(), pa, pp, la, lp]
        }
    }
}

// Requests larger than this close the connection (kamcmd's own limit is far below).
const MAX_PACKET: usize = 1 << 20;

/// Serves packets on one connection until the peer closes (kamcmd's interactive mode sends
/// several commands on one connection).
fn serve_conn(c: &mut Conn, table: &RpcTable, live: &Live, stop: &AtomicBool) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        loop {
            let h = match binrpc::header(&buf) {
                Ok(Some(h)) => h,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("ctl: {e}, closing connection");
                    return;
                }
            };
            let total = h.header_len + h.body_len;
            if total > MAX_PACKET {
                return;
            }
            if buf.len() < total {
                break;
            }
            let pkt: Vec<u8> = buf.drain(..total).collect();
            if h.kind != binrpc::REQ {
                continue;
            }
            let (kind, body) = answer(
                table,
                Some(live),
                pkt.get(h.header_len..).unwrap_or_default(),
            );
            if c.write_all(&binrpc::packet(kind, h.cookie, &body)).is_err() {
                return;
            }
        }
        match listen::read_some(c, &mut chunk, stop) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let cases = [
            ("unix:/tmp/x", Some(Address::Unix("/tmp/x".into()))),
            ("unixs:/tmp/x", Some(Address::Unix("/tmp/x".into()))),
            ("/tmp/y", Some(Address::Unix("/tmp/y".into()))),
            (
                "kamailio_ctl",
                Some(Address::Unix("/run/ferrosip/kamailio_ctl".into())),
            ),
            (
                "tcp:127.0.0.1:2050",
                Some(Address::Tcp("127.0.0.1:2050".into())),
            ),
            ("tcp:127.0.0.1", Some(Address::Tcp("127.0.0.1:2049".into()))),
            ("tcp:3012", Some(Address::Tcp("0.0.0.0:3012".into()))),
            ("udp:*:3012", Some(Address::Udp("0.0.0.0:3012".into()))),
            (
                "udp:127.0.0.1:2046",
                Some(Address::Udp("127.0.0.1:2046".into())),
            ),
            (
                "localhost:3000",
                Some(Address::Udp("localhost:3000".into())),
            ),
            ("tcp:[::1]:5000", Some(Address::Tcp("[::1]:5000".into()))),
            ("unixd:/tmp/x", Some(Address::UnixDgram("/tmp/x".into()))),
            ("unix:", None),
            ("tcp:", None),
            ("udp:h:99999", None),
        ];
        for (s, want) in cases {
            assert_eq!(parse_address(s).ok(), want, "{s}");
        }
    }
}
