//! Core parameters of the wire (sockets, receive and forward paths), typed, and the
//! [`TransportConfig`] they give. Filled like [`crate::settings::CoreSettings`]: `(name, value)`
//! pairs from the config; `listen`/`socket`/`alias` statements arrive as [`ListenDef`]s.
//!
//! Parameters the transport has no field for are refused when set to a non-default value
//! (`tcp_reuse_port`, `tcp_accept_haproxy`, `udp_accept_proxy`, `enable_tls`, `enable_sctp`), as are `received_route_mode` values other than 0 and 1, and
//! `onsend_route_reply=yes` (onsend_route runs for forwarded requests only).
//!
//! The settings of locally built messages (`server_signature`, `server_header`,
//! `user_agent_header`, `sip_warning`, `reply_to_via`) reach modules as the api's
//! [`CoreParams`] ([`WireSettings::core_params`], returned by the server's
//! `Server::core_params`): sl adds `Server:` and `Warning:` from them.

use std::time::Duration;

use ferrosip_api::CoreParams;
use ferrosip_transport::TransportConfig;

use crate::settings::{CoreSettings, ParamValue};
use crate::sockets::{Expand, ListenDef};
use crate::Error;

/// Kamailio's default `msg_recv_max_size`.
pub const DEFAULT_MSG_RECV_MAX_SIZE: usize = 32767;

/// Settings of the wire after config and command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireSettings {
    pub listens: Vec<ListenDef>,
    /// `alias=` statements (host, port, proto).
    pub aliases: Vec<ListenDef>,
    /// `socket_workers`: applies to the `listen` lines that follow it.
    pub socket_workers: Option<usize>,
    pub port: Option<u16>,
    pub advertised_address: Option<String>,
    pub advertised_port: Option<u16>,
    pub bind_ipv6_link_local: bool,
    pub msg_recv_max_size: usize,
    pub received_route_mode: i64,
    pub reply_to_via: bool,
    /// `version_table` (default `version`): the table DB-backed modules read their tables'
    /// versions from; passed to them through the registry ([`ferrosip_api::Registry::set_version_table`]).
    pub version_table: String,
    pub add_local_rport: bool,
    pub force_rport: bool,
    pub server_header: Option<String>,
    pub server_signature: bool,
    pub user_agent_header: Option<String>,
    pub sip_warning: bool,
    pub udp_mtu: usize,
    pub udp_mtu_try_proto: Option<String>,
    pub onsend_route_reply: bool,
    pub tcp_accept_aliases: bool,
    /// `max_branches` (1..=30, default 12).
    pub max_branches: u32,
    /// `auto_bind_ipv6`: bind the IPv6 addresses of expanded interfaces too (default off, IPv4
    /// only, as Kamailio); see [`Self::expand`].
    pub auto_bind_ipv6: bool,
    /// `mhomed`: a UDP send socket is the one bound to the address the kernel would send from
    /// ([`crate::sockets::Sockets::send_socket`]).
    pub mhomed: bool,
    pub transport: TransportConfig,
}

impl Default for WireSettings {
    fn default() -> Self {
        WireSettings {
            listens: Vec::new(),
            aliases: Vec::new(),
            socket_workers: None,
            port: None,
            advertised_address: None,
            advertised_port: None,
            bind_ipv6_link_local: false,
            msg_recv_max_size: DEFAULT_MSG_RECV_MAX_SIZE,
            received_route_mode: 0,
            reply_to_via: false,
            version_table: "version".into(),
            add_local_rport: false,
            force_rport: false,
            server_header: None,
            // Kamailio's default: local replies carry `Server:`.
            server_signature: true,
            user_agent_header: None,
            sip_warning: false,
            udp_mtu: 0,
            udp_mtu_try_proto: None,
            onsend_route_reply: false,
            tcp_accept_aliases: false,
            max_branches: 12,
            auto_bind_ipv6: false,
            mhomed: false,
            transport: TransportConfig::default(),
        }
    }
}

impl WireSettings {
    /// Takes one global parameter; `Ok(false)` when it is not a wire parameter.
    pub fn apply_param(&mut self, name: &str, value: &ParamValue) -> Result<bool, Error> {
        let bad = |want: &str| Error::Param {
            name: name.to_string(),
            why: format!("expected {want}"),
        };
        let int = || match value {
            ParamValue::Int(i) => Ok(*i),
            ParamValue::Str(s) => s.trim().parse::<i64>().map_err(|_| bad("a number")),
        };
        let uint = || int().and_then(|i| usize::try_from(i).map_err(|_| bad("a positive number")));
        let secs = || {
            int().and_then(|i| {
                u64::try_from(i)
                    .map(Duration::from_secs)
                    .map_err(|_| bad("seconds"))
            })
        };
        let port = || int().and_then(|i| u16::try_from(i).map_err(|_| bad("a port number")));
        let boolean = || match value {
            ParamValue::Int(i) => Ok(*i != 0),
            ParamValue::Str(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" | "1" => Ok(true),
                "no" | "off" | "false" | "0" => Ok(false),
                _ => Err(bad("yes or no")),
            },
        };
        let string = || match value {
            ParamValue::Str(s) => s.clone(),
            ParamValue::Int(i) => i.to_string(),
        };
        let refuse_if = |set: bool| -> Result<bool, Error> {
            if set {
                Err(Error::Param {
                    name: name.to_string(),
                    why: "not implemented yet (only the default value is accepted)".into(),
                })
            } else {
                Ok(true)
            }
        };
        // A parameter whose only implemented value is Kamailio's default (`ok` says whether the
        // config gave it).
        let only_value = |ok: bool, want: &str, why: &str| -> Result<bool, Error> {
            if ok {
                Ok(true)
            } else {
                Err(Error::Param {
                    name: name.to_string(),
                    why: format!(
                        "not implemented (only the default value `{want}` is accepted): {why}"
                    ),
                })
            }
        };
        let t = &mut self.transport;
        match name {
            "port" => self.port = Some(port()?),
            "advertised_address" => self.advertised_address = Some(string()),
            "advertised_port" => self.advertised_port = Some(port()?),
            "socket_workers" => self.socket_workers = Some(uint()?).filter(|w| *w > 0),
            "bind_ipv6_link_local" => self.bind_ipv6_link_local = boolean()?,
            "msg_recv_max_size" => self.msg_recv_max_size = uint()?,
            "received_route_mode" => {
                self.received_route_mode = int()?;
                if !(0..=1).contains(&self.received_route_mode) {
                    return Err(bad("0 or 1"));
                }
            }
            "reply_to_via" => self.reply_to_via = boolean()?,
            "version_table" => {
                let s = string();
                if s.is_empty() || !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    return Err(bad("a table name (letters, digits, _)"));
                }
                self.version_table = s;
            }
            "max_branches" => {
                self.max_branches = int()
                    .ok()
                    .and_then(|i| u32::try_from(i).ok())
                    .filter(|n| (1..=30).contains(n))
                    .ok_or_else(|| bad("a number from 1 to 30"))?;
            }
            "add_local_rport" | "local_rport" => self.add_local_rport = boolean()?,
            "force_rport" | "add_rport" => self.force_rport = boolean()?,
            // Kamailio takes the whole header line as written (`Server: name`); an empty value
            // would put a bare CRLF in every reply.
            "server_header" | "user_agent_header" => {
                let v = string();
                if v.trim().is_empty() || v.contains(['\r', '\n']) {
                    return Err(bad("a whole header line (`Name: value`)"));
                }
                if name == "server_header" {
                    self.server_header = Some(v);
                } else {
                    self.user_agent_header = Some(v);
                }
            }
            "server_signature" => self.server_signature = boolean()?,
            "sip_warning" => self.sip_warning = boolean()?,
            "udp_mtu" => self.udp_mtu = uint()?,
            "udp_mtu_try_proto" => self.udp_mtu_try_proto = Some(string()),
            "onsend_route_reply" => {
                self.onsend_route_reply = boolean()?;
                return refuse_if(self.onsend_route_reply);
            }
            "tcp_accept_aliases" => self.tcp_accept_aliases = boolean()?,
            "tcp_connection_lifetime" => t.tcp_connection_lifetime = secs()?,
            "tcp_max_connections" => t.tcp_max_connections = uint()?,
            "tcp_accept_iplimit" => t.tcp_accept_iplimit = uint()?,
            "tcp_crlf_ping" => t.tcp_crlf_ping = boolean()?,
            "tcp_accept_no_cl" => t.tcp_accept_no_cl = boolean()?,
            "tcp_connect_timeout" => t.tcp_connect_timeout = secs()?,
            "tcp_send_timeout" => t.tcp_send_timeout = secs()?,
            "tcp_no_connect" => t.tcp_no_connect = boolean()?,
            "tcp_conn_wq_max" => t.tcp_conn_wq_max = uint()?.max(1),
            "tos" => t.tos = u8::try_from(int()?).map_err(|_| bad("0..255"))?,
            "auto_bind_ipv6" => self.auto_bind_ipv6 = int()? != 0,
            // Kamailio takes any level (LOG clamps it to L_ALERT..L_DBG when printing).
            "corelog" => t.corelog = i32::try_from(int()?).map_err(|_| bad("a log level"))?,
            "tcp_keepalive" => t.tcp_keepalive.enabled = boolean()?,
            // Kamailio's ranges (its cfg checks refuse more); 0 leaves the system's value.
            "tcp_keepidle" | "tcp_keepintvl" | "tcp_keepcnt" => {
                let max = if name == "tcp_keepcnt" {
                    1 << 10
                } else {
                    24 * 3600
                };
                let v = int()
                    .ok()
                    .and_then(|i| u32::try_from(i).ok())
                    .filter(|v| *v <= max)
                    .ok_or_else(|| bad(&format!("a number from 0 to {max}")))?;
                let ka = &mut t.tcp_keepalive;
                match name {
                    "tcp_keepidle" => ka.idle = v,
                    "tcp_keepintvl" => ka.interval = v,
                    _ => ka.count = v,
                }
            }
            "mhomed" => self.mhomed = int()? != 0,
            "tcp_reuse_port" | "tcp_accept_haproxy" | "udp_accept_proxy" | "enable_tls"
            | "enable_sctp" => return refuse_if(boolean()?),
            // ferrosip has no TLS: `disable_tls=yes` (Kamailio's default) describes it.
            "disable_tls" | "tls_disable" => {
                return only_value(boolean()?, "yes", "ferrosip has no TLS transport")
            }
            // TCP writes are always queued and done by the connection's writer task, never by
            // the worker (docs/transport.md): Kamailio's `tcp_async=yes`, its default.
            "tcp_async" | "tcp_buf_write" => {
                return only_value(
                    boolean()?,
                    "yes",
                    "TCP writes are always queued to the connection's writer task",
                )
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// Which addresses of an expanded interface are bound (`auto_bind_ipv6`,
    /// `bind_ipv6_link_local`).
    pub fn expand(&self) -> Expand {
        Expand {
            ipv6: self.auto_bind_ipv6,
            link_local: self.bind_ipv6_link_local,
        }
    }

    /// The core parameters modules read ([`ferrosip_api::Server::core_params`]): the config's
    /// values over Kamailio's defaults; `log_stderror` comes from the core settings.
    pub fn core_params(&self, core: &CoreSettings) -> CoreParams {
        let d = CoreParams::default();
        CoreParams {
            server_signature: self.server_signature,
            server_header: self.server_header.clone().unwrap_or(d.server_header),
            sip_warning: self.sip_warning,
            user_agent_header: self
                .user_agent_header
                .clone()
                .unwrap_or(d.user_agent_header),
            reply_to_via: self.reply_to_via,
            log_stderror: core.log_stderror,
            max_branches: self.max_branches,
        }
    }

    /// The transport settings, completed from the core settings (`children`, `tcp_children`
    /// defaulting to `children`, `disable_tcp`, `maxbuffer`).
    pub fn transport_config(&self, core: &CoreSettings) -> TransportConfig {
        let mut t = self.transport.clone();
        let children = usize::try_from(core.children).unwrap_or(1).max(1);
        t.children = children;
        t.tcp_children = core
            .tcp_children
            .and_then(|c| usize::try_from(c).ok())
            .filter(|c| *c > 0)
            .unwrap_or(children);
        t.disable_tcp = core.disable_tcp;
        if let Some(b) = core.max_recv_buffer.and_then(|b| usize::try_from(b).ok()) {
            t.maxbuffer = b;
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParamValue::*;

    #[test]
    fn params_table() {
        let mut w = WireSettings::default();
        let ok: Vec<(&str, ParamValue)> = vec![
            ("port", Int(5070)),
            ("advertised_address", Str("sip.example.com".into())),
            ("tcp_connection_lifetime", Int(30)),
            ("tcp_accept_no_cl", Str("yes".into())),
            ("msg_recv_max_size", Int(4096)),
            ("mhomed", Int(0)),
            ("mhomed", Int(1)),
            ("received_route_mode", Int(1)),
            ("max_branches", Str("16".into())),
        ];
        for (n, v) in ok {
            assert_eq!(w.apply_param(n, &v).ok(), Some(true), "{n}");
        }
        assert_eq!(w.apply_param("children", &Int(3)).ok(), Some(false));
        assert_eq!(w.port, Some(5070));
        assert_eq!(w.transport.tcp_connection_lifetime, Duration::from_secs(30));
        assert!(w.transport.tcp_accept_no_cl);
        assert_eq!(w.msg_recv_max_size, 4096);
        assert_eq!(w.core_params(&CoreSettings::default()).max_branches, 16);
        assert!(w.mhomed);
        let refused: Vec<(&str, ParamValue)> = vec![
            ("tcp_reuse_port", Str("yes".into())),
            ("udp_accept_proxy", Int(1)),
            ("port", Int(70000)),
            ("received_route_mode", Int(2)),
            ("server_header", Str("".into())),
            ("user_agent_header", Str("X: a\r\nY: b".into())),
            ("server_signature", Str("maybe".into())),
            ("onsend_route_reply", Int(1)),
            ("tcp_send_timeout", Int(-1)),
            ("max_branches", Int(0)),
            ("max_branches", Int(31)),
        ];
        for (n, v) in refused {
            assert!(w.apply_param(n, &v).is_err(), "{n}");
        }
        let core = CoreSettings {
            children: 3,
            disable_tcp: true,
            ..CoreSettings::default()
        };
        let t = w.transport_config(&core);
        assert_eq!((t.children, t.tcp_children, t.disable_tcp), (3, 3, true));
        let core4 = CoreSettings {
            tcp_children: Some(4),
            ..core
        };
        assert_eq!(w.transport_config(&core4).tcp_children, 4);
    }

    #[test]
    fn tcp_keepalive_and_one_value_params() {
        let d = WireSettings::default().transport.tcp_keepalive;
        // Kamailio's defaults: SO_KEEPALIVE on, the numbers left to the system.
        assert_eq!((d.enabled, d.idle, d.interval, d.count), (true, 0, 0, 0));
        let mut w = WireSettings::default();
        for (n, v) in [
            ("tcp_keepalive", Str("no".into())),
            ("tcp_keepidle", Int(30)),
            ("tcp_keepintvl", Str("10".into())),
            ("tcp_keepcnt", Int(3)),
            ("tcp_async", Str("yes".into())),
            ("disable_tls", Int(1)),
        ] {
            assert_eq!(w.apply_param(n, &v).ok(), Some(true), "{n}");
        }
        let k = w.transport.tcp_keepalive;
        assert_eq!((k.enabled, k.idle, k.interval, k.count), (false, 30, 10, 3));
        for (n, v, not_implemented) in [
            ("tcp_keepidle", Int(-1), false),
            ("tcp_keepidle", Int(86401), false),
            ("tcp_keepcnt", Int(1025), false),
            ("tcp_async", Int(0), true),
            ("disable_tls", Str("no".into()), true),
        ] {
            match w.apply_param(n, &v) {
                Err(e) => assert_eq!(
                    e.to_string().contains("not implemented"),
                    not_implemented,
                    "{n}: {e}"
                ),
                Ok(u) => panic!("{n}={v:?} accepted ({u})"),
            }
        }
    }

    #[test]
    fn auto_bind_ipv6_selects_expanded_addresses() {
        // Kamailio's default 0: IPv4 addresses of expanded interfaces only.
        assert_eq!(WireSettings::default().expand(), Expand::default());
        for (v, ipv6) in [(1, true), (0, false), (2, true)] {
            let mut w = WireSettings::default();
            assert_eq!(w.apply_param("auto_bind_ipv6", &Int(v)).ok(), Some(true));
            assert_eq!(w.expand().ipv6, ipv6);
        }
        let mut w = WireSettings::default();
        assert_eq!(
            w.apply_param("bind_ipv6_link_local", &Int(1)).ok(),
            Some(true)
        );
        assert!(w.expand().link_local && !w.expand().ipv6);
    }

    /// (params set, expected signature, server header, user agent, sip_warning)
    type CoreCase<'a> = (Vec<(&'a str, ParamValue)>, bool, &'a str, &'a str, bool);

    #[test]
    fn core_params_from_config() {
        let server_default = CoreParams::default().server_header;
        let ua_default = CoreParams::default().user_agent_header;
        let cases: Vec<CoreCase> = vec![
            (vec![], true, &server_default, &ua_default, false),
            (
                vec![
                    ("server_signature", Str("no".into())),
                    ("sip_warning", Int(1)),
                ],
                false,
                &server_default,
                &ua_default,
                true,
            ),
            (
                vec![
                    ("server_header", Str("Server: Acme SBC".into())),
                    ("user_agent_header", Str("User-Agent: Acme UA".into())),
                ],
                true,
                "Server: Acme SBC",
                "User-Agent: Acme UA",
                false,
            ),
        ];
        for (params, sig, server, ua, warn) in cases {
            let mut w = WireSettings::default();
            for (n, v) in &params {
                assert_eq!(w.apply_param(n, v).ok(), Some(true), "{n}");
            }
            let core = CoreSettings {
                log_stderror: true,
                ..CoreSettings::default()
            };
            let c = w.core_params(&core);
            assert_eq!(
                (
                    c.server_signature,
                    c.server_header.as_str(),
                    c.user_agent_header.as_str(),
                    c.sip_warning,
                    c.log_stderror
                ),
                (sig, server, ua, warn, true),
                "{params:?}"
            );
        }
    }
}
