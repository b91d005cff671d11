//! The per-message context a module function receives: the message and its edits, the script-visible
//! state, the route type, the receive info and the server's services (logging, sending, `myself`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::SystemTime;

use ferrosip_sipmsg::edit::Edits;
use ferrosip_sipmsg::Msg;

use crate::core::{CoreParams, LogLine, RouteRunner, SocketInfo};
use crate::route::RouteType;
use crate::value::Value;
use crate::Error;

/// Transport protocol with Kamailio's numeric values (`PROTO_UDP` = 1 …), which is what the script's
/// `proto == UDP` compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Proto {
    /// UDP (1).
    #[default]
    Udp,
    /// TCP (2).
    Tcp,
    /// TLS (3).
    Tls,
    /// SCTP (4).
    Sctp,
    /// WebSocket (5).
    Ws,
    /// Secure WebSocket (6).
    Wss,
}

impl Proto {
    /// Kamailio's `PROTO_*` number.
    pub fn number(self) -> i64 {
        match self {
            Proto::Udp => 1,
            Proto::Tcp => 2,
            Proto::Tls => 3,
            Proto::Sctp => 4,
            Proto::Ws => 5,
            Proto::Wss => 6,
        }
    }

    /// Lower-case name (`udp` …).
    pub fn name(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
            Proto::Tls => "tls",
            Proto::Sctp => "sctp",
            Proto::Ws => "ws",
            Proto::Wss => "wss",
        }
    }

    /// From a name, ASCII case-insensitive.
    pub fn from_name(s: &[u8]) -> Option<Proto> {
        [
            Proto::Udp,
            Proto::Tcp,
            Proto::Tls,
            Proto::Sctp,
            Proto::Ws,
            Proto::Wss,
        ]
        .into_iter()
        .find(|p| p.name().as_bytes().eq_ignore_ascii_case(s))
    }
}

/// Where and how the message arrived (Kamailio's `msg->rcv`). A plain struct: the transport crate
/// fills it, modules read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecvInfo {
    /// Peer address (`$si:$sp`).
    pub src: SocketAddr,
    /// Local address the message arrived on (`$Ri:$Rp`).
    pub dst: SocketAddr,
    /// Transport.
    pub proto: Proto,
    /// Identifies the listening socket (index in the server's socket list).
    pub socket: u32,
}

impl Default for RecvInfo {
    fn default() -> RecvInfo {
        let any = SocketAddr::from(([127, 0, 0, 1], 5060));
        RecvInfo {
            src: any,
            dst: any,
            proto: Proto::Udp,
            socket: 0,
        }
    }
}

/// Where to send bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dest {
    /// Destination address.
    pub addr: SocketAddr,
    /// Transport.
    pub proto: Proto,
    /// Sending socket (index in the server's socket list).
    pub socket: u32,
}

/// What the server provides while a message is processed. The server implements it over its sockets
/// and log back end; tests use [`Recorder`].
pub trait Server {
    /// True when a message at `level` (Kamailio levels: `L_ALERT` -5 … `L_DBG` 3) would be logged.
    fn log_enabled(&self, level: i32) -> bool;
    /// Logs one line (already formatted, without the level prefix).
    fn log(&mut self, level: i32, text: &str);
    /// Sends bytes (replies built by modules).
    fn send(&mut self, dst: &Dest, bytes: &[u8]) -> Result<(), Error>;
    /// True when `host[:port][/proto]` is one of ours (`myself`, `alias`); `port` 0 = any port
    /// (address comparisons); URI comparisons pass the URI's port or its default (5060, 5061 for TLS).
    fn is_myself(&self, host: &[u8], port: u16, proto: Option<Proto>) -> bool;

    /// Logs one line of script output (`xlog`, core `log()`): the single path for what the script
    /// prints, so the back end alone decides format, prefix, facility and destination. The default
    /// emits it with [`crate::core::emit_script_line`] (a `tracing` event, target `script`); a
    /// server with a syslog back end overrides it to honour `facility` and `prefix`.
    fn log_line(&mut self, line: &LogLine<'_>) {
        crate::core::emit_script_line(line);
    }

    /// The listening sockets, in `listen` order; [`RecvInfo::socket`] and [`Dest::socket`] index
    /// this list. The default (no list) makes socket PVs read `$null`.
    fn sockets(&self) -> &[SocketInfo] {
        &[]
    }

    /// The core parameters modules read. The default ([`CoreParams::unset_ref`]) is Kamailio's
    /// defaults with `server_signature` off (what sl did before the parameter reached modules); a
    /// server overrides it with the config's values.
    fn core_params(&self) -> &CoreParams {
        CoreParams::unset_ref()
    }

    /// Gives the calling worker its own log level (`Some`), or makes it follow the global
    /// `debug` again (`None`): kex's `setdebug`/`resetdebug` (Kamailio's per-process level).
    /// `false` when the server has no per-worker level.
    fn set_worker_log_level(&mut self, _level: Option<i32>) -> bool {
        false
    }

    /// The TCP (or TLS, WS) connection the message being processed came on (`$conid`, Kamailio's
    /// `rcv.proto_reserved1`, usrloc's `Tcpconn-Id`); `None` for UDP and outside a received
    /// message. Numbered from 1 by the transport, never reused while it runs.
    fn conn_id(&self) -> Option<u64> {
        None
    }
}

/// A [`Server`] that records everything, for tests.
#[derive(Debug, Clone, Default)]
pub struct Recorder {
    /// Log threshold (Kamailio `debug`): lines with `level <= debug` are kept.
    pub debug: i32,
    /// Logged lines with their level.
    pub logs: Vec<(i32, String)>,
    /// Sent messages.
    pub sent: Vec<(Dest, Vec<u8>)>,
    /// Our addresses: (host, port).
    pub myself: Vec<(String, u16)>,
    /// Listening sockets returned by [`Server::sockets`].
    pub sockets: Vec<SocketInfo>,
    /// Core parameters returned by [`Server::core_params`] (`None`: the trait's default).
    pub core: Option<CoreParams>,
    /// Lines logged through [`Server::log_line`]: (level, facility, prefix, text). They also go
    /// to `logs` with the prefix in front (`<script>: ` by default), and are emitted as the default
    /// implementation does (`tracing` target `script`) for tests that subscribe.
    pub lines: Vec<(i32, Option<i32>, Option<String>, String)>,
}

impl Server for Recorder {
    fn log_enabled(&self, level: i32) -> bool {
        level <= self.debug
    }
    fn log(&mut self, level: i32, text: &str) {
        self.logs.push((level, text.to_string()));
    }
    fn send(&mut self, dst: &Dest, bytes: &[u8]) -> Result<(), Error> {
        self.sent.push((*dst, bytes.to_vec()));
        Ok(())
    }
    fn is_myself(&self, host: &[u8], port: u16, _proto: Option<Proto>) -> bool {
        self.myself.iter().any(|(h, p)| {
            h.as_bytes().eq_ignore_ascii_case(host) && (port == 0 || *p == port || *p == 0)
        })
    }
    fn log_line(&mut self, line: &LogLine<'_>) {
        self.lines.push((
            line.level,
            line.facility,
            line.prefix.map(str::to_string),
            line.text.to_string(),
        ));
        let prefix = line.prefix.unwrap_or(crate::core::SCRIPT_PREFIX);
        self.logs
            .push((line.level, format!("{prefix}{}", line.text)));
        crate::core::emit_script_line(line);
    }
    fn sockets(&self) -> &[SocketInfo] {
        &self.sockets
    }
    fn core_params(&self) -> &CoreParams {
        self.core.as_ref().unwrap_or(CoreParams::unset_ref())
    }
}

/// One additional branch of the destination set (`append_branch`, `lookup`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Branch {
    /// Request-URI of the branch.
    pub uri: Vec<u8>,
    /// Destination URI (`$du` of the branch).
    pub dst_uri: Vec<u8>,
    /// Path vector.
    pub path: Vec<u8>,
    /// q value ×1000, or -1 when absent.
    pub q: i32,
    /// Branch flags.
    pub flags: u32,
    /// Forced send socket, if any.
    pub socket: Option<u32>,
    /// Contact instance (`+sip.instance`).
    pub instance: Vec<u8>,
    /// Location record id.
    pub ruid: Vec<u8>,
}

/// One AVP value with its AVP flags (`setavpflag`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AvpValue {
    /// The value (never `Null`).
    pub value: Value,
    /// AVP flags.
    pub flags: u32,
}

/// AVPs of a message: per name a stack, newest first (`$avp(x)[0]` is the last one added).
#[derive(Debug, Clone, Default)]
pub struct Avps {
    entries: Vec<(Vec<u8>, Vec<AvpValue>)>,
}

impl Avps {
    /// All values of `name`, newest first.
    pub fn values(&self, name: &[u8]) -> &[AvpValue] {
        self.entries
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_slice())
            .unwrap_or(&[])
    }

    /// Mutable stack of `name` (created empty).
    pub fn values_mut(&mut self, name: &[u8]) -> &mut Vec<AvpValue> {
        let pos = match self.entries.iter().position(|(n, _)| n == name) {
            Some(p) => p,
            None => {
                self.entries.push((name.to_vec(), Vec::new()));
                self.entries.len() - 1
            }
        };
        &mut self.entries[pos].1 // index just found or pushed
    }

    /// Pushes a new value on top (Kamailio `add_avp`).
    pub fn add(&mut self, name: &[u8], value: Value) {
        self.values_mut(name)
            .insert(0, AvpValue { value, flags: 0 });
    }

    /// Removes all values of `name`.
    pub fn remove_all(&mut self, name: &[u8]) {
        self.entries.retain(|(n, _)| n != name);
    }

    /// Removes everything.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// One XAVP record: named fields, each possibly repeated (newest first).
pub type XavpRecord = Vec<(Vec<u8>, Value)>;

/// `MsgState::msg_flags`: `force_rport()` / `add_rport()` was called (replies go to the source port
/// and the received Via gets `rport=`; Kamailio's `FL_FORCE_RPORT`).
pub const FL_FORCE_RPORT: u32 = 1 << 0;
/// `MsgState::msg_flags`: `add_local_rport()` was called: our own Via of forwarded requests gets
/// `rport` (Kamailio's `FL_ADD_LOCAL_RPORT`; the core refuses the function until forwarding exists).
pub const FL_ADD_LOCAL_RPORT: u32 = 1 << 1;

/// Per-message network flags (Kamailio keeps them in `sip_msg`: `fwd_send_flags`,
/// `rpl_send_flags`, `set_advertised_*`, the `udp_mtu_try_proto` and alias requests). The core
/// sets and reads them; tm saves them with the rest of [`MsgState`] at `t_relay`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetFlags {
    /// `set_forward_close()`.
    pub forward_close: bool,
    /// `set_forward_no_connect()`.
    pub forward_no_connect: bool,
    /// `set_reply_close()`.
    pub reply_close: bool,
    /// `set_reply_no_connect()`.
    pub reply_no_connect: bool,
    /// `force_rport()`/`add_rport()`.
    pub force_rport: bool,
    /// `add_local_rport()`.
    pub add_local_rport: bool,
    /// `set_advertised_address()`.
    pub adv_address: Option<String>,
    /// `set_advertised_port()`.
    pub adv_port: Option<String>,
    /// `udp_mtu_try_proto()`.
    pub udp_mtu_proto: Option<Proto>,
    /// `force_tcp_alias()` asked for (port, 0 = the Via port).
    pub tcp_alias: Option<u16>,
}

/// Script-visible state of one message (reset for each message).
#[derive(Debug, Clone, Default)]
pub struct MsgState {
    /// Message id (`$mi`): per worker, counting from 1, as Kamailio's per-process `msg->id`.
    /// [`Ctx::new`] numbers every context; an entry point that re-runs a message (tm's
    /// failure_route) restores the saved state, id included.
    pub id: u64,
    /// The message's timestamp, taken on first use and then fixed (`$Ts`, Kamailio's
    /// `msg_set_time`); see [`Ctx::msg_time`].
    pub time: Option<SystemTime>,
    /// Core message flags (`FL_*` above).
    pub msg_flags: u32,
    /// The core error code of the last failed core operation (Kamailio's `ser_error`, `E_*`
    /// numbers, negative; 0 = none): `sl_reply_error()` turns it into a status.
    pub ser_error: i32,
    /// Header lines added to locally generated replies (Kamailio's `LUMP_RPL_HDR`), each ending
    /// with CRLF, in call order.
    pub reply_hdrs: Vec<u8>,
    /// Body for locally generated replies (`LUMP_RPL_BODY`; Kamailio refuses a second one).
    pub reply_body: Option<Vec<u8>>,
    /// Message flags (`setflag`), 32 of them as in Kamailio (`flag_t` is 32 bits).
    pub flags: u32,
    /// Script flags (`setsflag`).
    pub sflags: u32,
    /// Branch flags of the main branch (`setbflag`).
    pub bflags: u32,
    /// `$du`.
    pub dst_uri: Option<Vec<u8>>,
    /// R-URI as changed by the script (`None` = unchanged).
    pub new_uri: Option<Vec<u8>>,
    /// `$fs`: forced send socket.
    pub force_socket: Option<u32>,
    /// q value ×1000 of the R-URI branch (Kamailio's `ruri_q`, set by `lookup()`); `None` when
    /// unspecified (Kamailio's `Q_UNSPECIFIED`). tm's `t_load_contacts` orders by it.
    pub ruri_q: Option<i32>,
    /// Additional branches.
    pub branches: Vec<Branch>,
    /// Network flags the script set on the message (`set_forward_close()` …). Part of the state
    /// so that tm's failure routes, run on another thread, forward with them.
    pub net: NetFlags,
    /// AVPs.
    pub avps: Avps,
    /// XAVPs: per name a list of records, newest first.
    pub xavps: HashMap<Vec<u8>, Vec<XavpRecord>>,
    /// The message being sent while `onsend_route` runs (`snd_*`/`to_*`, `$snd()`); `None`
    /// elsewhere. Boxed: most messages never have one.
    pub sending: Option<Box<crate::net::SendInfo>>,
    /// The received bytes while `event_route[core:msg-received]` or
    /// `event_route[core:receive-parse-error]` runs (`$rcv()`, `$mb` of a broken message).
    pub received: Option<Box<crate::net::RcvData>>,
}

/// State kept by a worker across messages (`$var` is per process in Kamailio, and keeps its value
/// from one message to the next).
#[derive(Debug, Clone, Default)]
pub struct WorkerState {
    /// `$var` slots, indexed by the slot numbers handed out at load.
    pub vars: Vec<Value>,
    /// Messages numbered so far (the last [`MsgState::id`] handed out).
    pub msg_seq: u64,
}

impl WorkerState {
    /// Reads slot `i` (`Null` if never set).
    pub fn var(&self, i: usize) -> &Value {
        static NULL: Value = Value::Null;
        self.vars.get(i).unwrap_or(&NULL)
    }

    /// Writes slot `i`, growing the table as needed.
    pub fn set_var(&mut self, i: usize, v: Value) {
        if self.vars.len() <= i {
            self.vars.resize(i + 1, Value::Null);
        }
        self.vars[i] = v; // resized just above
    }
}

/// Everything a function sees while processing one message.
pub struct Ctx<'a> {
    /// The message as received (the script sees the original until `msg_apply_changes()`, which
    /// replaces it through this reference). Borrowed: the worker or tm owns it.
    pub msg: &'a mut Msg,
    /// Edits recorded against it.
    pub edits: Edits,
    /// Route type being run.
    pub route_type: RouteType,
    /// Receive info.
    pub rcv: RecvInfo,
    /// Per-message script state.
    pub state: MsgState,
    /// Per-worker state.
    pub worker: &'a mut WorkerState,
    /// Server services.
    pub server: &'a mut dyn Server,
    /// Last return code (`$rc`, `$retcode`, `$?`).
    pub last_rc: i64,
    /// The program's route blocks, set by the script engine while it runs (`None` outside a run
    /// or in tests without a program): what lets a function run a route.
    pub routes: Option<Arc<dyn RouteRunner>>,
}

impl<'a> Ctx<'a> {
    /// A context for `msg` in `route_type`.
    pub fn new(
        msg: &'a mut Msg,
        route_type: RouteType,
        rcv: RecvInfo,
        worker: &'a mut WorkerState,
        server: &'a mut dyn Server,
    ) -> Result<Ctx<'a>, Error> {
        let edits = Edits::new(msg.buf().len()).map_err(|e| Error::Runtime(e.to_string()))?;
        worker.msg_seq += 1;
        let state = MsgState {
            id: worker.msg_seq,
            ..MsgState::default()
        };
        Ok(Ctx {
            msg,
            edits,
            route_type,
            rcv,
            state,
            worker,
            server,
            last_rc: 1,
            routes: None,
        })
    }

    /// The message's timestamp: the clock is read on first use and the value kept for the rest of
    /// the message (Kamailio's `msg_set_time`, behind `$Ts`/`$TV`).
    pub fn msg_time(&mut self) -> SystemTime {
        *self.state.time.get_or_insert_with(SystemTime::now)
    }

    /// The socket the message arrived on, when the server lists its sockets.
    pub fn rcv_socket(&self) -> Option<&SocketInfo> {
        self.server.sockets().get(self.rcv.socket as usize)
    }

    /// Runs route block `index` (see [`RouteRunner::run`]) in this context.
    pub fn run_route(&mut self, index: usize) -> Result<crate::core::RouteResult, Error> {
        let Some(r) = self.routes.clone() else {
            return Err(Error::Runtime("no program to run a route from".into()));
        };
        r.run(index, self)
    }
    /// The current R-URI: as set by the script, or as received. Empty for replies or when the
    /// first line cannot be read.
    pub fn ruri(&self) -> Vec<u8> {
        self.ruri_ref().to_vec()
    }

    /// [`Ctx::ruri`] borrowed.
    pub fn ruri_ref(&self) -> &[u8] {
        match &self.state.new_uri {
            Some(u) => u,
            None => self.original_ruri(),
        }
    }

    /// The R-URI as received.
    pub fn original_ruri(&self) -> &[u8] {
        match self.msg.request_line() {
            Some(rl) => rl.uri.of(self.msg.buf()),
            None => b"",
        }
    }

    /// Logs at `level` if enabled.
    pub fn log(&mut self, level: i32, text: &str) {
        if self.server.log_enabled(level) {
            self.server.log(level, text);
        }
    }

    /// Logs one line of script output if its level is enabled (see [`Server::log_line`]).
    pub fn log_line(&mut self, line: &LogLine<'_>) {
        if self.server.log_enabled(line.level) {
            self.server.log_line(line);
        }
    }

    /// Logs at `L_ERR` (-1).
    pub fn log_error(&mut self, text: &str) {
        self.log(crate::L_ERR, text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avp_stack_is_newest_first() {
        let mut a = Avps::default();
        a.add(b"x", Value::Int(1));
        a.add(b"x", Value::str("two"));
        let vals: Vec<Value> = a.values(b"x").iter().map(|v| v.value.clone()).collect();
        assert_eq!(vals, vec![Value::str("two"), Value::Int(1)]);
        a.remove_all(b"x");
        assert!(a.values(b"x").is_empty());
    }

    #[test]
    fn message_ids_and_time() {
        let mut m = Msg::parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n".to_vec(),
        )
        .expect("parses");
        let mut w = WorkerState::default();
        let mut rec = Recorder::default();
        let mut ids = Vec::new();
        for _ in 0..3 {
            let mut ctx = Ctx::new(
                &mut m,
                RouteType::Request,
                RecvInfo::default(),
                &mut w,
                &mut rec,
            )
            .expect("ctx");
            let t1 = ctx.msg_time();
            std::thread::sleep(std::time::Duration::from_millis(2));
            assert_eq!(ctx.msg_time(), t1, "cached per message");
            ids.push(ctx.state.id);
            assert!(ctx.run_route(0).is_err(), "no program");
            assert!(ctx.rcv_socket().is_none());
        }
        assert_eq!(ids, vec![1, 2, 3]);
        rec.sockets = vec![SocketInfo::new(
            Proto::Udp,
            "127.0.0.1:5060".parse().expect("a"),
        )];
        let ctx = Ctx::new(
            &mut m,
            RouteType::Request,
            RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .expect("ctx");
        assert_eq!(
            ctx.rcv_socket().map(SocketInfo::socket_str).as_deref(),
            Some("udp:127.0.0.1:5060")
        );
    }

    #[test]
    fn protos() {
        let cases = [
            ("udp", 1),
            ("TCP", 2),
            ("tls", 3),
            ("sctp", 4),
            ("WS", 5),
            ("wss", 6),
        ];
        for (n, num) in cases {
            assert_eq!(Proto::from_name(n.as_bytes()).map(Proto::number), Some(num));
        }
        assert_eq!(Proto::from_name(b"quic"), None);
    }
}
