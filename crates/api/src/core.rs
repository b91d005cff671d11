//! What the core tells modules about itself, and what modules may ask of the core besides logging
//! and sending: the listening sockets (Kamailio's `socket_info` list), the core parameters modules
//! read (`server_signature`, `server_header`, `sip_warning`, `reply_to_via`, `log_stderror`), a log
//! line with facility and prefix (xlog), and running a route block from a function
//! ([`RouteRunner`]: `msg_changed_route`, `event_route[sl:…]`).
//!
//! All of it reaches modules through [`crate::Server`] methods with default implementations (so a
//! server that does not provide something yet still compiles) and through [`crate::Ctx::routes`].

use std::net::SocketAddr;
use std::sync::OnceLock;

use crate::ctx::{Ctx, Proto};
use crate::Error;

/// One listening socket (`listen=proto:addr:port [advertise host:port] [name "x"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketInfo {
    /// Transport.
    pub proto: Proto,
    /// Bound address.
    pub addr: SocketAddr,
    /// `name "…"` of the listen line (`$Rn`, `$fsn`).
    pub name: Option<String>,
    /// `advertise host[:port]`: the host as written and the port (0 = the bound port).
    pub advertise: Option<(String, u16)>,
}

impl SocketInfo {
    /// A socket without name or advertised address.
    pub fn new(proto: Proto, addr: SocketAddr) -> SocketInfo {
        SocketInfo {
            proto,
            addr,
            name: None,
            advertise: None,
        }
    }

    /// Kamailio's socket string `proto:ip:port` (`udp:127.0.0.1:5060`, `tcp:[::1]:5060`): what
    /// `$fs`, `$Rs`-style PVs and `force_send_socket` use.
    pub fn socket_str(&self) -> String {
        format!("{}:{}", self.proto.name(), self.addr)
    }

    /// The advertised host, or the bound IP (IPv6 in brackets, as Kamailio prints it in Via).
    pub fn advertised_host(&self) -> String {
        match &self.advertise {
            Some((h, _)) => h.clone(),
            None => match self.addr {
                SocketAddr::V4(a) => a.ip().to_string(),
                SocketAddr::V6(a) => format!("[{}]", a.ip()),
            },
        }
    }

    /// The advertised port, or the bound port.
    pub fn advertised_port(&self) -> u16 {
        match &self.advertise {
            Some((_, p)) if *p != 0 => *p,
            _ => self.addr.port(),
        }
    }

    /// `proto:advertised_host:advertised_port` (`$Ras`-style).
    pub fn advertised_str(&self) -> String {
        format!(
            "{}:{}:{}",
            self.proto.name(),
            self.advertised_host(),
            self.advertised_port()
        )
    }
}

/// Core parameters modules read (their Kamailio names; the server fills them from the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreParams {
    /// `server_signature` (default on): locally generated replies carry [`CoreParams::server_header`].
    pub server_signature: bool,
    /// `server_header`: the whole header line without CRLF (default `Server: ferrosip (x.y.z)`;
    /// Kamailio's default names itself the same way).
    pub server_header: String,
    /// `sip_warning` (default off): replies carry a `Warning:` header with debugging details.
    pub sip_warning: bool,
    /// `user_agent_header`: the whole header line without CRLF that locally generated requests
    /// carry when `server_signature` is on (default `User-Agent: ferrosip (x.y.z)`).
    pub user_agent_header: String,
    /// `reply_to_via` (default off): replies go to the top Via's address, not the source.
    pub reply_to_via: bool,
    /// `log_stderror`: logs go to stderr (xlog's `$C` colours are printed only then, or with
    /// `force_color`).
    pub log_stderror: bool,
    /// `max_branches` (default 12, 1..=30): the destination set (R-URI included) and tm's branches
    /// per transaction.
    pub max_branches: u32,
}

impl Default for CoreParams {
    fn default() -> CoreParams {
        CoreParams {
            server_signature: true,
            server_header: concat!("Server: ferrosip (", env!("CARGO_PKG_VERSION"), ")").into(),
            sip_warning: false,
            user_agent_header: concat!("User-Agent: ferrosip (", env!("CARGO_PKG_VERSION"), ")")
                .into(),
            reply_to_via: false,
            log_stderror: false,
            max_branches: 12,
        }
    }
}

impl CoreParams {
    /// What [`crate::Server::core_params`] returns when a server does not override it: Kamailio's
    /// defaults except `server_signature` off, so that a server which does not pass its settings
    /// gets the replies it got before these parameters existed (no `Server:`, no `Warning:`).
    pub fn unset_ref() -> &'static CoreParams {
        static UNSET: OnceLock<CoreParams> = OnceLock::new();
        UNSET.get_or_init(|| CoreParams {
            server_signature: false,
            ..CoreParams::default()
        })
    }
}

/// The prefix the log back end writes before script output (`xlog`, `log()`) by default.
pub const SCRIPT_PREFIX: &str = "<script>: ";

/// Emits one line of script output as a `tracing` event: target `script`, field `klevel`
/// (Kamailio level), and — only when the line sets them — `facility` (-1 = the core's) and
/// `prefix` (empty = [`SCRIPT_PREFIX`]). This is
/// what [`crate::Server::log_line`] does unless a server overrides it; the server's subscriber
/// formats these events as Kamailio's `LEVEL: <script>: text` lines.
pub fn emit_script_line(line: &LogLine<'_>) {
    let k = i64::from(line.level);
    let text = line.text;
    // The fields `facility` and `prefix` are present only when set, so default lines are the
    // same events the server's subscriber has always formatted (it appends unknown fields).
    macro_rules! ev {
        ($lvl:expr) => {
            match (line.facility, line.prefix) {
                (None, None) => tracing::event!(target: "script", $lvl, klevel = k, "{}", text),
                (f, p) => tracing::event!(
                    target: "script",
                    $lvl,
                    klevel = k,
                    facility = i64::from(f.unwrap_or(-1)),
                    prefix = p.unwrap_or(""),
                    "{}",
                    text
                ),
            }
        };
    }
    if line.level <= crate::L_ERR {
        ev!(tracing::Level::ERROR);
    } else if line.level == crate::L_WARN {
        ev!(tracing::Level::WARN);
    } else if line.level <= crate::L_INFO {
        ev!(tracing::Level::INFO);
    } else {
        ev!(tracing::Level::DEBUG);
    }
}

/// One line of script output (`xlog`, core `log()`), with the options xlog can give per call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// Kamailio level (`L_ALERT` -5 … `L_DBG` 3).
    pub level: i32,
    /// Syslog facility for this line (`LOG_LOCAL0` … as a number, e.g. 16<<3), `None` = the
    /// core's `log_facility`.
    pub facility: Option<i32>,
    /// Prefix replacing the back end's default [`SCRIPT_PREFIX`] (xlog's `prefix` modparam);
    /// `None` = default.
    pub prefix: Option<&'a str>,
    /// Text, without level prefix.
    pub text: &'a str,
}

/// How a route run from a function ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteResult {
    /// The block's value.
    pub rc: i64,
    /// `drop` was executed.
    pub dropped: bool,
}

/// Runs route blocks of the loaded program on behalf of a function. The script crate implements it
/// and puts it in [`Ctx::routes`] while it runs a route; modules never hold the program.
pub trait RouteRunner: Send + Sync {
    /// The index of `event_route[name]`, if the config has that block.
    fn event_route(&self, name: &str) -> Option<usize>;
    /// Runs block `index` (an event route index or an [`crate::Arg::Route`] index) as a top-level
    /// run (Kamailio's `run_top_route`: `$rc` starts at 0) in `ctx`.
    fn run(&self, index: usize, ctx: &mut Ctx<'_>) -> Result<RouteResult, Error>;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (proto, bound address, advertise, socket string, advertised string)
    type Case<'a> = (Proto, &'a str, Option<(&'a str, u16)>, &'a str, &'a str);

    #[test]
    fn socket_strings() {
        let cases: &[Case] = &[
            (
                Proto::Udp,
                "127.0.0.1:5060",
                None,
                "udp:127.0.0.1:5060",
                "udp:127.0.0.1:5060",
            ),
            (
                Proto::Tcp,
                "[::1]:5070",
                None,
                "tcp:[::1]:5070",
                "tcp:[::1]:5070",
            ),
            (
                Proto::Udp,
                "10.0.0.1:5060",
                Some(("pub.example.com", 0)),
                "udp:10.0.0.1:5060",
                "udp:pub.example.com:5060",
            ),
            (
                Proto::Tls,
                "10.0.0.1:5061",
                Some(("1.2.3.4", 443)),
                "tls:10.0.0.1:5061",
                "tls:1.2.3.4:443",
            ),
        ];
        for (proto, addr, adv, s, a) in cases {
            let mut si = SocketInfo::new(*proto, addr.parse().expect("addr"));
            si.advertise = adv.map(|(h, p)| (h.to_string(), p));
            assert_eq!(si.socket_str(), *s);
            assert_eq!(si.advertised_str(), *a);
        }
        assert!(CoreParams::default().server_signature);
        assert!(!CoreParams::unset_ref().server_signature);
        assert!(CoreParams::default()
            .server_header
            .starts_with("Server: ferrosip ("));
    }
}
