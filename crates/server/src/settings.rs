//! The core settings the start-up path needs, typed, filled from the config's global parameters and
//! then overridden by the command line (Kamailio gives the command line priority for `-d`, `-E`,
//! `-e`, `-n`, `-u` … and the config for nothing it also sets).
//!
//! This is deliberately independent of the config AST: the caller feeds `(name, value)` pairs with
//! [`CoreSettings::apply_param`], so the AST's shape can change without touching start-up logic.

use crate::listen::{HostPort, ListenArg};
use crate::log::{level, LogConfig, LogEngine};
use crate::Error;

/// A global parameter value as the config gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamValue {
    Int(i64),
    Str(String),
}

/// Kamailio's default `debug` (`L_WARN`).
pub const DEFAULT_DEBUG: i32 = 0;
/// Kamailio's default number of workers per socket.
pub const DEFAULT_CHILDREN: i32 = 8;

/// Core parameters that only tune Kamailio's own memory managers, caches and poll loop. ferrosip
/// accepts them (a Kamailio config must load unchanged) and logs once that they have no effect.
pub const NO_EFFECT_PARAMS: &[&str] = &[
    "dns_cache_mem",
    "dst_blocklist_mem",
    "mem_add_size",
    "mem_join",
    "mem_safety",
    "mem_status_mode",
    "mem_summary",
    "memdbg",
    "memlog",
    "pv_buffer_size",
    "pv_buffer_slots",
    "pv_cache_action",
    "pv_cache_limit",
    "shm_force_alloc",
    "shm_mem_size",
    "tcp_poll_method",
    // Kamailio's process model, start-up pacing and buffer sizing: ferrosip's threads and buffers
    // are built differently, so these change nothing observable.
    "fork_delay",
    "mlock_pages",
    "modinit_delay",
    "msg_clone_extra_size",
    "sql_buffer_size",
    "tcp_check_timer",
    "tcp_fd_cache",
    "tcp_main_threads",
    "tcp_rd_buf_size",
    "tcp_wq_blk_size",
    "verbose_startup",
    "wait_worker1_mode",
    "wait_worker1_time",
    "wait_worker1_usleep",
    "maxsndbuffer",
    // TLS connections cannot exist (no TLS transport; `enable_tls=yes` and tls listeners are
    // refused), so their limit changes nothing.
    "tls_max_connections",
    // Kamailio's async worker processes serve the async and sworker modules (not in ferrosip)
    // and sockets with `agname` (refused); acc's `db_insert_mode=2` writes the same rows either
    // way. Without them these only size idle process pools.
    "async_workers",
    "async_workers_group",
    "async_nonblock",
    "async_usleep",
];

/// Core parameters the script compiler reads itself (`ferrosip_script`'s run options).
pub const SCRIPT_PARAMS: &[&str] = &["return_mode", "max_while_loops", "max_recursive_level"];

/// Settings of the core, after config and command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreSettings {
    pub debug: i32,
    pub log_stderror: bool,
    pub log_color: bool,
    pub log_facility: i32,
    pub log_name: Option<String>,
    pub log_engine_type: Option<String>,
    pub log_engine_data: Option<String>,
    /// `log_prefix`: kept as written; compiled into a format at load and rendered per message.
    pub log_prefix: Option<String>,
    /// `log_prefix_mode`: 1 = the prefix is rendered again around every action of the script
    /// (`crate::log::action`); anything else = once per message (Kamailio acts on 1 only).
    pub log_prefix_mode: i64,
    pub children: i32,
    pub tcp_children: Option<i32>,
    pub sctp_children: Option<i32>,
    pub disable_tcp: bool,
    pub disable_sctp: bool,
    pub check_via: bool,
    pub auto_aliases: bool,
    pub max_recv_buffer: Option<i64>,
    pub max_send_buffer: Option<i64>,
    pub server_id: i32,
    pub user: Option<String>,
    pub group: Option<String>,
    pub chroot: Option<String>,
    pub workdir: Option<String>,
    pub rundir: Option<String>,
    /// Extra listen addresses from `-l` (the config's `listen` lines stay in the AST).
    pub listen: Vec<ListenArg>,
    /// Extra aliases from `--alias`.
    pub aliases: Vec<HostPort>,
    /// `dns_retr_time`: seconds the resolver waits for an answer (`None`: the system's).
    pub dns_retr_time: Option<u32>,
    /// `dns_retr_no`: times the resolver asks each name server (`None`: the system's).
    pub dns_retr_no: Option<u32>,
    /// `dns_try_ipv6` as the config sets it (default: on, which turns itself off without an
    /// IPv6 listener, see [`Self::ipv6_listener`]).
    pub dns_try_ipv6: Option<bool>,
    /// Whether the server listens on an IPv6 address (set at start-up from the listen specs):
    /// without one, `dns_try_ipv6` is off, as Kamailio turns it off.
    pub ipv6_listener: bool,
}

impl Default for CoreSettings {
    fn default() -> Self {
        CoreSettings {
            debug: DEFAULT_DEBUG,
            log_stderror: false,
            log_color: false,
            log_facility: libc::LOG_DAEMON,
            log_name: None,
            log_engine_type: None,
            log_engine_data: None,
            log_prefix: None,
            log_prefix_mode: 0,
            children: DEFAULT_CHILDREN,
            tcp_children: None,
            sctp_children: None,
            disable_tcp: false,
            disable_sctp: false,
            check_via: false,
            auto_aliases: true,
            max_recv_buffer: None,
            max_send_buffer: None,
            server_id: 0,
            user: None,
            group: None,
            chroot: None,
            workdir: None,
            rundir: None,
            listen: Vec::new(),
            aliases: Vec::new(),
            dns_retr_time: None,
            dns_retr_no: None,
            dns_try_ipv6: None,
            ipv6_listener: true,
        }
    }
}

impl CoreSettings {
    /// Takes one global parameter from the config. Parameters the start-up path does not use are
    /// left to the modules that own them (`Ok(false)`); a used parameter with a value of the wrong
    /// kind is an error.
    pub fn apply_param(&mut self, name: &str, value: &ParamValue) -> Result<bool, Error> {
        let bad = |want: &str| Error::Param {
            name: name.to_string(),
            why: format!("expected {want}"),
        };
        let int = || match value {
            ParamValue::Int(i) => Ok(*i),
            ParamValue::Str(s) => s.trim().parse::<i64>().map_err(|_| bad("a number")),
        };
        let int32 = || int().and_then(|i| i32::try_from(i).map_err(|_| bad("a 32-bit number")));
        let boolean = || match value {
            ParamValue::Int(i) => Ok(*i != 0),
            ParamValue::Str(s) => match s.to_ascii_lowercase().as_str() {
                "yes" | "on" | "true" | "1" => Ok(true),
                "no" | "off" | "false" | "0" => Ok(false),
                _ => Err(bad("yes or no")),
            },
        };
        let string = || match value {
            ParamValue::Str(s) => Ok(s.clone()),
            ParamValue::Int(i) => Ok(i.to_string()),
        };
        // A parameter of which ferrosip implements one value: `ok` says whether the config gave
        // it. `kamailio_default` says whether that value is also Kamailio's default; when it is
        // not, a config that leaves the parameter out behaves differently in Kamailio (see the
        // row's note in docs/compat.md).
        let only = |ok: bool, want: &str, kamailio_default: bool, why: &str| {
            if ok {
                return Ok(true);
            }
            let which = if kamailio_default {
                format!("only the default value `{want}` is accepted")
            } else {
                format!("only `{want}` is accepted, not Kamailio's default")
            };
            Err(Error::Param {
                name: name.to_string(),
                why: format!("not implemented ({which}): {why}"),
            })
        };
        const NO_NAPTR: &str = "ferrosip never looks up NAPTR or SRV records";
        match name {
            "debug" => self.debug = int32()?,
            // ferrosip always runs its workers as threads of one daemon; Kamailio's `fork=no`
            // (the `-D` mode: one process serving only the first UDP socket) does not exist.
            "fork" => {
                return only(
                    boolean()?,
                    "yes",
                    true,
                    "ferrosip has no single-process mode (Kamailio's fork=no serves only the \
                     first UDP socket from its main process)",
                )
            }
            // The resolver is the system's (getaddrinfo): A then AAAA records, no NAPTR, no SRV,
            // no cache of its own, no failover to the next address (`netcore::resolve`).
            "dns_try_naptr" => return only(!boolean()?, "no", true, NO_NAPTR),
            "dns_srv_lb" | "dns_srv_loadbalancing" => {
                return only(!boolean()?, "no", true, NO_NAPTR)
            }
            "dns_naptr_ignore_rfc" => return only(boolean()?, "yes", true, NO_NAPTR),
            "dns_udp_pref" | "dns_udp_preference" => {
                return only(int()? == 30, "30", true, NO_NAPTR)
            }
            "dns_tcp_pref" | "dns_tcp_preference" => {
                return only(int()? == 20, "20", true, NO_NAPTR)
            }
            "dns_tls_pref" | "dns_tls_preference" => {
                return only(int()? == 10, "10", true, NO_NAPTR)
            }
            "dns_sctp_pref" | "dns_sctp_preference" => {
                return only(int()? == 20, "20", true, NO_NAPTR)
            }
            "use_dns_cache" | "dns_use_cache" => {
                return only(
                    !boolean()?,
                    "off",
                    false,
                    "ferrosip has no DNS cache of its own (the system resolver answers)",
                )
            }
            "dns_cache_init" => {
                return only(
                    !boolean()?,
                    "off",
                    false,
                    "ferrosip has no DNS cache of its own (the system resolver answers)",
                )
            }
            "dns_cache_flags" => {
                return only(
                    int()? == 0,
                    "0",
                    true,
                    "ferrosip has no DNS cache and no IPv4/IPv6-only resolution modes",
                )
            }
            "use_dns_failover" | "dns_use_failover" => {
                return only(
                    !boolean()?,
                    "off",
                    true,
                    "ferrosip sends to the first address a name resolves to, without failover",
                )
            }
            // `no`, or no IPv6 listener: the resolver asks for A records only (glibc's `no-aaaa`,
            // see `apply_resolver_options`); `yes` (Kamailio's default) with an IPv6 listener:
            // AAAA records when a name has no A record, which is what getaddrinfo does.
            "dns_try_ipv6" => self.dns_try_ipv6 = Some(boolean()?),
            // Kamailio copies these into the C library resolver's `_res.retrans`/`_res.retry`;
            // ferrosip gives glibc the same two numbers (see `apply_resolver_options`), within
            // the limits glibc takes them (RES_MAXRETRANS 30, RES_MAXRETRY 5). Negative: the
            // system's value, Kamailio's default -1.
            "dns_retr_time" | "dns_retr_no" => {
                let v = int()?;
                let max = if name == "dns_retr_time" { 30 } else { 5 };
                let v = match u32::try_from(v) {
                    Err(_) => None,
                    Ok(v) if v <= max => Some(v),
                    Ok(v) => {
                        return Err(Error::Param {
                            name: name.to_string(),
                            why: format!(
                                "not implemented above {max} (glibc's limit; the config asks {v})"
                            ),
                        })
                    }
                };
                if name == "dns_retr_time" {
                    self.dns_retr_time = v;
                } else {
                    self.dns_retr_no = v;
                }
            }
            // Kamailio's per-Call-ID locks around request_route: ferrosip has none, which is
            // Kamailio's default (0).
            "route_locks_size" => {
                return only(
                    int()? <= 0,
                    "0",
                    true,
                    "ferrosip does not serialise the routing of messages of one Call-ID",
                )
            }
            "log_stderror" => self.log_stderror = boolean()?,
            "log_color" => self.log_color = boolean()?,
            "log_facility" => {
                let s = string()?;
                self.log_facility = level::facility_from_name(&s).ok_or_else(|| Error::Param {
                    name: name.into(),
                    why: format!("unknown facility '{s}'"),
                })?;
            }
            "log_name" => self.log_name = Some(string()?),
            "log_engine_type" => self.log_engine_type = Some(string()?),
            "log_engine_data" => self.log_engine_data = Some(string()?),
            "log_prefix" => self.log_prefix = Some(string()?),
            "log_prefix_mode" => self.log_prefix_mode = int()?,
            "children" => self.children = int32()?,
            "tcp_children" => self.tcp_children = Some(int32()?),
            "sctp_children" => self.sctp_children = Some(int32()?),
            "disable_tcp" => self.disable_tcp = boolean()?,
            "disable_sctp" => self.disable_sctp = boolean()?,
            "check_via" => self.check_via = boolean()?,
            // DNS checks before adding `received=` are not implemented: only the default (no).
            "dns" | "rev_dns" => {
                if boolean()? {
                    return Err(Error::Param {
                        name: name.to_string(),
                        why: "not implemented yet (only the default value is accepted)".into(),
                    });
                }
            }
            "auto_aliases" => self.auto_aliases = boolean()?,
            "maxbuffer" => self.max_recv_buffer = Some(int()?),
            "maxsndbuffer" => self.max_send_buffer = Some(int()?),
            // Nothing uses the server id yet ($sid, ruids, dmq): only the default (0).
            "server_id" => {
                self.server_id = int32()?;
                if self.server_id != 0 {
                    return Err(Error::Param {
                        name: name.to_string(),
                        why: "not implemented yet (only the default value is accepted)".into(),
                    });
                }
            }
            "user" | "uid" => self.user = Some(string()?),
            "group" | "gid" => self.group = Some(string()?),
            "chroot" => self.chroot = Some(string()?),
            "workdir" | "wdir" => self.workdir = Some(string()?),
            "rundir" | "run_dir" => self.rundir = Some(string()?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// True when AAAA records are not asked for: `dns_try_ipv6=no`, or no IPv6 listener (Kamailio
    /// then turns its default `yes` off).
    fn no_aaaa(&self) -> bool {
        self.dns_try_ipv6 == Some(false) || !self.ipv6_listener
    }

    /// glibc's resolver options for `dns_retr_time`/`dns_retr_no` (`timeout:N attempts:N`) and
    /// `dns_try_ipv6` off (`no-aaaa`), if any applies.
    pub fn resolver_options(&self) -> Option<String> {
        let mut opts = Vec::new();
        if self.no_aaaa() {
            opts.push("no-aaaa".to_string());
        }
        if let Some(t) = self.dns_retr_time {
            opts.push(format!("timeout:{t}"));
        }
        if let Some(n) = self.dns_retr_no {
            opts.push(format!("attempts:{n}"));
        }
        (!opts.is_empty()).then(|| opts.join(" "))
    }

    /// Gives the system resolver `dns_retr_time`/`dns_retr_no`, as Kamailio sets `_res.retrans`
    /// and `_res.retry` once at start-up. glibc reads `RES_OPTIONS` when it loads its resolver
    /// configuration, which `res_init` forces here; every thread's resolver then starts from that
    /// configuration. The variable is put back afterwards so that programs the server runs (exec)
    /// do not inherit it. Must run while the process has a single thread (it sets the environment).
    /// `no-aaaa` needs glibc 2.36; an older one would ignore it, so the start is refused there.
    pub fn apply_resolver_options(&self) -> Result<(), Error> {
        let Some(ours) = self.resolver_options() else {
            return Ok(());
        };
        if self.no_aaaa() && !glibc_at_least(2, 36) {
            return Err(Error::Param {
                name: "dns_try_ipv6".into(),
                why: "not implemented with this C library (off, which `no` or listening on no \
                      IPv6 address means, needs glibc 2.36's no-aaaa)"
                    .into(),
            });
        }
        let before = std::env::var_os("RES_OPTIONS");
        // Later options win in glibc's parser: the environment's own first, then ours.
        let value = match &before {
            Some(b) => format!("{} {ours}", b.to_string_lossy()),
            None => ours.clone(),
        };
        std::env::set_var("RES_OPTIONS", value);
        // SAFETY: res_init takes no arguments and only (re)initialises the resolver state.
        let rc = unsafe { libc::res_init() };
        match before {
            Some(b) => std::env::set_var("RES_OPTIONS", b),
            None => std::env::remove_var("RES_OPTIONS"),
        }
        if rc != 0 {
            tracing::warn!(
                func = "main",
                "res_init failed: resolver options {ours} not applied"
            );
        } else {
            tracing::debug!(func = "main", "resolver options: {ours}");
        }
        Ok(())
    }

    /// The log engine selected by `log_engine_type`/`log_engine_data`, if any.
    pub fn log_engine(&self) -> Result<Option<LogEngine>, Error> {
        match &self.log_engine_type {
            None => Ok(None),
            Some(t) => {
                let spec = match &self.log_engine_data {
                    Some(d) => format!("{t}:{d}"),
                    None => t.clone(),
                };
                LogEngine::parse(&spec).map(Some)
            }
        }
    }

    /// The logger outputs these settings ask for.
    pub fn log_config(&self) -> Result<LogConfig, Error> {
        Ok(LogConfig {
            stderr: self.log_stderror,
            color: self.log_color,
            engine: self.log_engine()?.unwrap_or_default(),
            facility: self.log_facility,
            name: self
                .log_name
                .clone()
                .unwrap_or_else(|| crate::log::format::APP_NAME.to_string()),
        })
    }
}

/// True when the running glibc is at least `major.minor`.
fn glibc_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: gnu_get_libc_version returns a pointer to a static NUL-terminated string.
    let v = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    let v = v.to_string_lossy();
    let mut parts = v.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ParamValue::*;

    #[test]
    fn params() {
        let mut s = CoreSettings::default();
        let table: Vec<(&str, ParamValue, bool)> = vec![
            ("debug", Int(3), true),
            ("log_stderror", Str("yes".into()), true),
            ("log_color", Int(1), true),
            ("log_facility", Str("LOG_LOCAL0".into()), true),
            ("log_name", Str("kam1".into()), true),
            ("log_engine_type", Str("json".into()), true),
            ("log_engine_data", Str("M".into()), true),
            ("children", Int(4), true),
            ("wdir", Str("/tmp".into()), true),
            ("tcp_max_connections", Int(4096), false),
        ];
        for (name, v, used) in table {
            assert_eq!(s.apply_param(name, &v).ok(), Some(used), "{name}");
        }
        assert_eq!(s.debug, 3);
        assert!(s.log_stderror && s.log_color);
        assert_eq!(s.children, 4);
        assert_eq!(s.workdir.as_deref(), Some("/tmp"));
        let lc = s.log_config().ok();
        assert_eq!(
            lc,
            Some(LogConfig {
                stderr: true,
                color: true,
                engine: LogEngine::parse("json:M").unwrap_or_default(),
                facility: libc::LOG_LOCAL0,
                name: "kam1".into(),
            })
        );
        for (name, v) in [
            ("debug", Str("x".into())),
            ("log_stderror", Str("maybe".into())),
            ("log_facility", Str("LOCAL0".into())),
            ("children", Int(1 << 40)),
        ] {
            assert!(s.apply_param(name, &v).is_err(), "{name}");
        }
        s.log_engine_type = Some("xml".into());
        assert!(s.log_config().is_err());
    }

    /// Parameters of which one value is what ferrosip does: that value is used (changes
    /// nothing), the others are "not implemented" (a warning under -c, refused when serving).
    #[test]
    fn one_value_params() {
        let table: Vec<(&str, ParamValue, Option<&str>)> = vec![
            ("fork", Str("yes".into()), None),
            ("fork", Int(0), Some("only the default value `yes`")),
            ("dns_try_naptr", Str("no".into()), None),
            (
                "dns_try_naptr",
                Str("on".into()),
                Some("only the default value `no`"),
            ),
            ("dns_srv_lb", Int(0), None),
            ("dns_srv_lb", Int(1), Some("NAPTR or SRV")),
            ("dns_naptr_ignore_rfc", Str("yes".into()), None),
            ("dns_naptr_ignore_rfc", Int(0), Some("`yes`")),
            ("dns_udp_pref", Int(30), None),
            ("dns_udp_pref", Int(10), Some("`30`")),
            ("dns_tcp_pref", Int(20), None),
            ("dns_tls_pref", Int(10), None),
            ("dns_tls_pref", Int(50), Some("`10`")),
            ("dns_sctp_pref", Int(-1), Some("`20`")),
            ("use_dns_cache", Str("off".into()), None),
            (
                "use_dns_cache",
                Str("on".into()),
                Some("not Kamailio's default"),
            ),
            ("dns_cache_init", Int(0), None),
            ("dns_cache_init", Int(1), Some("not Kamailio's default")),
            ("dns_cache_flags", Int(0), None),
            ("dns_cache_flags", Int(1), Some("`0`")),
            ("use_dns_failover", Str("off".into()), None),
            (
                "use_dns_failover",
                Str("on".into()),
                Some("without failover"),
            ),
            ("route_locks_size", Int(0), None),
            ("route_locks_size", Int(128), Some("Call-ID")),
            ("dns_retr_time", Int(31), Some("above 30")),
            ("dns_retr_no", Int(6), Some("above 5")),
            ("dns_try_ipv6", Str("no".into()), None),
            ("dns_try_ipv6", Str("yes".into()), None),
        ];
        for (name, v, refused) in table {
            let got = CoreSettings::default().apply_param(name, &v);
            match (refused, got) {
                (None, Ok(true)) => {}
                (Some(want), Err(e))
                    if e.to_string().contains("not implemented")
                        && e.to_string().contains(want) => {}
                (want, got) => panic!("{name}={v:?}: want refusal {want:?}, got {got:?}"),
            }
        }
        let mut c = CoreSettings::default();
        assert_eq!(c.resolver_options(), None);
        assert_eq!(c.apply_param("dns_retr_time", &Int(2)).ok(), Some(true));
        assert_eq!(c.resolver_options().as_deref(), Some("timeout:2"));
        assert_eq!(
            c.apply_param("dns_retr_no", &Str("1".into())).ok(),
            Some(true)
        );
        assert_eq!(
            c.resolver_options().as_deref(),
            Some("timeout:2 attempts:1")
        );
        // -1, Kamailio's default: the system's value.
        assert_eq!(c.apply_param("dns_retr_time", &Int(-1)).ok(), Some(true));
        assert_eq!(c.resolver_options().as_deref(), Some("attempts:1"));
        assert_eq!(c.apply_param("dns_try_ipv6", &Int(0)).ok(), Some(true));
        assert_eq!(c.resolver_options().as_deref(), Some("no-aaaa attempts:1"));
        // yes: off all the same without an IPv6 listener.
        let mut c = CoreSettings::default();
        assert_eq!(c.apply_param("dns_try_ipv6", &Int(1)).ok(), Some(true));
        assert_eq!(c.resolver_options(), None);
        c.ipv6_listener = false;
        assert_eq!(c.resolver_options().as_deref(), Some("no-aaaa"));
        assert!(glibc_at_least(2, 0) && !glibc_at_least(99, 0));
        // A value of the wrong kind stays a plain error, not "not implemented".
        let e = CoreSettings::default().apply_param("fork", &Str("maybe".into()));
        assert!(matches!(e, Err(ref e) if !e.to_string().contains("not implemented")));
    }
}
