//! Kamailio's `debugger` module, the part configs use in production: `cfgtrace`, one log line per
//! executed action of the routing script, with modparams `cfgtrace`, `cfgtrace_format`,
//! `log_level`, `log_facility`, `log_prefix` and `log_level_name`.
//!
//! The module only prepares the settings: its init hook hands a [`Debugger`] to the registry, and
//! the server installs it as the script's per-action hook (the script crate's `ActionHook`; modules
//! do not see the evaluator). Tracing is on from the start with `cfgtrace=1`; the RPC `dbg.trace
//! on|off [pid]` switches it at run time (workers are threads of one process: the only pid
//! accepted is the server's). A config that does not load the module runs without the hook.
//!
//! The line, as Kamailio 5.6.3 writes it (same code in 6.0):
//! `LEVEL: <log_prefix>*** cfgtrace:dbg_cfg_trace(): request_route=[DEFAULT_ROUTE] c=[file] l=12 a=63
//! n=assign` — `LEVEL` is `log_level_name` when set; `c=[…]` is left out with `cfgtrace_format=1`.
//!
//! Refused at load, with the reason: the interactive debugger (`breakpoint=1`,
//! `dbg_breakpoint()`; the other `dbg.*` RPCs are not registered), per-module log levels and facilities
//! (`mod_level_mode`, `mod_level`, `mod_facility_mode`, `mod_facility`), `log_assign`,
//! `reset_msgid`, `cfgtest` (needs the cfgt module), `dbg_pv_dump()` (Kamailio dumps its PV cache in
//! hash-table order, which has no equivalent here) and `dbg_sip_msg()`. Accepted without effect:
//! `step_usleep`, `step_loops` (breakpoint stepping), `mod_hash_size` (a table size) and
//! `cfgpkgcheck` (a check of Kamailio's private memory pool, which ferrosip does not have).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ferrosip_api::export::{
    FnExport, ModParam, ModParamType, ParamKind as K, RpcExport, RpcFault, RpcValue,
};
use ferrosip_api::{Error, ModValue, ModuleExports, RouteMask, RouteType};

/// Kamailio's default `log_prefix` of the trace lines.
pub const DEFAULT_PREFIX: &str = "*** cfgtrace:";

/// `cfgtrace_format` bit: leave the `c=[file]` part out.
pub const FORMAT_NO_CFG_FILE: i64 = 1;

/// The function name Kamailio's trace lines carry after the prefix.
const TRACE_FUNC: &str = "dbg_cfg_trace(): ";

/// One executed action, as the server reports it to [`Debugger::trace`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Site<'a> {
    /// The type the message is processed in (Kamailio's current `route_type`).
    pub route_type: RouteType,
    /// The name of the block holding the action (`DEFAULT_ROUTE` for request_route …).
    pub route_name: &'a str,
    pub file: &'a str,
    pub line: u32,
    /// Kamailio's action type number.
    pub kind: u8,
    pub name: &'a str,
}

/// The cfgtrace settings, provided to the server by the module's init.
#[derive(Debug, Clone)]
pub struct Debugger {
    /// Tracing on (`cfgtrace=1`, or `dbg.trace on`).
    pub on: Arc<AtomicBool>,
    /// Kamailio level of the trace lines (`log_level`, default `L_ERR`).
    pub level: i32,
    /// Syslog facility (`log_facility`; Kamailio's default is `LOG_DAEMON`, not the core's).
    pub facility: i32,
    /// What replaces `<script>: `: `log_prefix` followed by Kamailio's function name.
    pub prefix: String,
    /// `log_level_name`, printed instead of the level's own name.
    pub level_name: Option<String>,
    /// `cfgtrace_format & 1`.
    pub no_cfg_file: bool,
}

impl Debugger {
    /// The text of the trace line for `site` (after the prefix).
    pub fn line(&self, site: &Site<'_>) -> String {
        let rtype = route_type_name(site.route_type);
        if self.no_cfg_file {
            format!(
                "{rtype}=[{}] l={} a={} n={}",
                site.route_name, site.line, site.kind, site.name
            )
        } else {
            format!(
                "{rtype}=[{}] c=[{}] l={} a={} n={}",
                site.route_name, site.file, site.line, site.kind, site.name
            )
        }
    }

    /// True while tracing is on.
    pub fn tracing(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    /// Writes the trace line of one action, when tracing is on and the level is printable
    /// (`enabled` is the server's answer for [`Debugger::level`]).
    pub fn trace(&self, enabled: bool, site: &Site<'_>) {
        if !enabled || !self.tracing() {
            return;
        }
        let text = self.line(site);
        let k = i64::from(self.level);
        let facility = i64::from(self.facility);
        let prefix = self.prefix.as_str();
        let lname = self.level_name.as_deref().unwrap_or("");
        // The same event shape as script output (`ferrosip_api::emit_script_line`), plus the
        // level name, which the server's log layer prints instead of the level's own.
        macro_rules! ev {
            ($lvl:expr) => {
                tracing::event!(
                    target: "script",
                    $lvl,
                    klevel = k,
                    facility = facility,
                    prefix = prefix,
                    lname = lname,
                    "{}",
                    text
                )
            };
        }
        if self.level <= ferrosip_api::L_ERR {
            ev!(tracing::Level::ERROR);
        } else if self.level == ferrosip_api::L_WARN {
            ev!(tracing::Level::WARN);
        } else if self.level <= ferrosip_api::L_INFO {
            ev!(tracing::Level::INFO);
        } else {
            ev!(tracing::Level::DEBUG);
        }
    }
}

/// Kamailio's `get_current_route_type_name()`: event routes run with `EVENT_ROUTE`, which is
/// none of its cases, hence `unknown_route`.
pub fn route_type_name(t: RouteType) -> &'static str {
    match t {
        RouteType::Request => "request_route",
        RouteType::Failure => "failure_route",
        RouteType::TmOnReply | RouteType::CoreOnReply => "onreply_route",
        RouteType::Branch => "branch_route",
        RouteType::OnSend => "onsend_route",
        RouteType::Error => "error_route",
        RouteType::Local => "local_route",
        RouteType::BranchFailure => "branch_failure_route",
        RouteType::Event => "unknown_route",
    }
}

/// The `debugger` export table.
pub fn exports() -> ModuleExports {
    let mut m = ModuleExports::new("debugger");
    let any = RouteMask::ANY;
    let msg_routes = RouteMask::REQUEST.or(RouteMask::ONREPLY);
    m.functions = vec![
        FnExport::new(
            "dbg_breakpoint",
            &[K::Int],
            any,
            "not implemented: the interactive debugger (breakpoints, dbg.bp stepping)",
        ),
        FnExport::new(
            "dbg_pv_dump",
            &[],
            any,
            "not implemented: Kamailio dumps its PV cache in hash-table order",
        ),
        FnExport::new("dbg_pv_dump", &[K::Int], any, "not implemented"),
        FnExport::new("dbg_pv_dump", &[K::Int, K::Int], any, "not implemented"),
        FnExport::new("dbg_sip_msg", &[], msg_routes, "not implemented"),
        FnExport::new("dbg_sip_msg", &[K::Int], msg_routes, "not implemented"),
        FnExport::new(
            "dbg_sip_msg",
            &[K::Int, K::Int],
            msg_routes,
            "not implemented",
        ),
    ];
    let int = |name, doc| ModParam::new(name, ModParamType::Int, doc);
    let string = |name, doc| ModParam::new(name, ModParamType::Str, doc);
    let only_zero = |name: &'static str, why: &'static str| {
        int(name, why).check(move |v| match v {
            ModValue::Int(0) => Ok(()),
            _ => Err(format!(
                "{name}: not implemented yet ({why}); only 0 is accepted"
            )),
        })
    };
    let refused = |name, ty, doc| ModParam {
        name,
        ty,
        doc,
        check: None,
        implemented: false,
    };
    m.params =
        vec![
        int(
            "cfgtrace",
            "1: log every executed action (route type and name, file, line, action type and name)",
        ),
        int(
            "cfgtrace_format",
            "bit 1: leave the config file name out of the trace lines",
        ),
        int("log_level", "level of the trace lines (default -1, L_ERR)"),
        string(
            "log_facility",
            "syslog facility of the trace lines (default LOG_DAEMON)",
        )
        .check(|v| match v {
            ModValue::Str(s) if crate::xlog::facility_from_name(s).is_some() => Ok(()),
            ModValue::Str(s) => Err(format!("unknown syslog facility `{s}`")),
            ModValue::Int(_) => Err("a facility name is expected".into()),
        }),
        string(
            "log_prefix",
            "text before the trace lines (default \"*** cfgtrace:\")",
        ),
        string(
            "log_level_name",
            "level name printed in the trace lines instead of the level's own",
        ),
        only_zero("breakpoint", "the interactive debugger"),
        only_zero("log_assign", "logging assigned values"),
        only_zero("mod_level_mode", "per-module log levels"),
        only_zero("mod_facility_mode", "per-module log facilities"),
        only_zero("reset_msgid", "resetting message ids"),
        only_zero("cfgtest", "needs the cfgt module"),
        refused("mod_level", ModParamType::Str, "not implemented: per-module log levels"),
        refused(
            "mod_facility",
            ModParamType::Str,
            "not implemented: per-module log facilities",
        ),
        int("step_usleep", "no effect: breakpoint stepping is not implemented"),
        int("step_loops", "no effect: breakpoint stepping is not implemented"),
        int("mod_hash_size", "no effect: a table size of Kamailio's"),
        int(
            "cfgpkgcheck",
            "no effect: checks Kamailio's private memory pool, which ferrosip does not have",
        ),
    ];
    let on = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&on);
    m.rpcs = vec![RpcExport {
        name: "dbg.trace",
        doc: "Config trace command: on|off [pid]",
        handler: Arc::new(move |p: &[RpcValue]| trace_rpc(&flag, p)),
    }];
    m.init = Some(Arc::new(move |ictx| {
        let d = settings(|n| ictx.modparam(n).cloned(), Arc::clone(&on))?;
        ictx.provide(Arc::new(d));
        Ok(())
    }));
    m
}

/// `dbg.trace on|off [pid]`, with Kamailio's faults.
fn trace_rpc(on: &AtomicBool, p: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let fault = |message: &str| RpcFault {
        code: 500,
        message: message.to_string(),
    };
    let cmd = match p.first() {
        Some(RpcValue::Str(s)) => s.as_str(),
        _ => return Err(fault("Config trace command missing")),
    };
    match p.get(1) {
        None | Some(RpcValue::Null) => {}
        Some(RpcValue::Int(pid)) if u32::try_from(*pid).ok() == Some(std::process::id()) => {}
        Some(RpcValue::Str(pid)) if pid.parse::<u32>().ok() == Some(std::process::id()) => {}
        Some(_) => return Err(fault("No such pid")),
    }
    match cmd {
        "on" => on.store(true, Ordering::Relaxed),
        "off" => on.store(false, Ordering::Relaxed),
        _ => return Err(fault("Unknown trace command")),
    }
    Ok(RpcValue::Str("200 ok".into()))
}

/// The trace settings from the modparams; tracing starts on when `cfgtrace` is 1 (Kamailio
/// turns it on only for exactly 1).
fn settings(
    param: impl Fn(&str) -> Option<ModValue>,
    on: Arc<AtomicBool>,
) -> Result<Debugger, Error> {
    let int = |n: &str, default: i64| match param(n) {
        Some(ModValue::Int(i)) => i,
        _ => default,
    };
    let string = |n: &str| match param(n) {
        Some(ModValue::Str(s)) => Some(s),
        _ => None,
    };
    on.store(int("cfgtrace", 0) == 1, Ordering::Relaxed);
    let level = i32::try_from(int("log_level", i64::from(ferrosip_api::L_ERR)))
        .map_err(|_| Error::Init("debugger: log_level out of range".into()))?;
    let facility = match string("log_facility") {
        Some(name) => crate::xlog::facility_from_name(&name)
            .ok_or_else(|| Error::Init(format!("debugger: unknown facility `{name}`")))?,
        None => libc::LOG_DAEMON,
    };
    let mut prefix = string("log_prefix").unwrap_or_else(|| DEFAULT_PREFIX.to_string());
    prefix.push_str(TRACE_FUNC);
    Ok(Debugger {
        on,
        level,
        facility,
        prefix,
        level_name: string("log_level_name"),
        no_cfg_file: int("cfgtrace_format", 0) & FORMAT_NO_CFG_FILE != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(params: &[(&str, ModValue)]) -> Option<Debugger> {
        let params: Vec<(String, ModValue)> = params
            .iter()
            .map(|(n, v)| (n.to_string(), v.clone()))
            .collect();
        let d = settings(
            |n| params.iter().find(|(p, _)| p == n).map(|(_, v)| v.clone()),
            Arc::new(AtomicBool::new(false)),
        )
        .unwrap_or_else(|e| panic!("{e}"));
        d.tracing().then_some(d)
    }

    /// Modparams, then the expected (prefix, line, level name) or `None` when tracing is off.
    type Case<'a> = (
        Vec<(&'a str, ModValue)>,
        Option<(&'a str, &'a str, Option<&'a str>)>,
    );

    #[test]
    fn settings_and_lines() {
        let site = Site {
            route_type: RouteType::Failure,
            route_name: "MANAGE_FAILURE",
            file: "/etc/k.cfg",
            line: 12,
            kind: 26,
            name: "t_relay",
        };
        let i = ModValue::Int;
        let s = |x: &str| ModValue::Str(x.to_string());
        let cases: Vec<Case<'_>> = vec![
            (vec![], None),
            (vec![("cfgtrace", i(2))], None),
            (
                vec![("cfgtrace", i(1))],
                Some((
                    "*** cfgtrace:dbg_cfg_trace(): ",
                    "failure_route=[MANAGE_FAILURE] c=[/etc/k.cfg] l=12 a=26 n=t_relay",
                    None,
                )),
            ),
            (
                vec![
                    ("cfgtrace", i(1)),
                    ("cfgtrace_format", i(1)),
                    ("log_prefix", s("T:")),
                    ("log_level_name", s("exec")),
                ],
                Some((
                    "T:dbg_cfg_trace(): ",
                    "failure_route=[MANAGE_FAILURE] l=12 a=26 n=t_relay",
                    Some("exec"),
                )),
            ),
        ];
        for (params, want) in cases {
            let got = with(&params);
            match (got, want) {
                (None, None) => {}
                (Some(d), Some((prefix, line, lname))) => {
                    assert_eq!(d.prefix, prefix);
                    assert_eq!(d.line(&site), line);
                    assert_eq!(d.level_name.as_deref(), lname);
                    assert_eq!(d.level, ferrosip_api::L_ERR);
                    assert_eq!(d.facility, libc::LOG_DAEMON);
                }
                (got, want) => panic!("{params:?}: {got:?} vs {want:?}"),
            }
        }
    }

    #[test]
    fn trace_rpc_switches_and_refuses_like_kamailio() {
        let on = AtomicBool::new(false);
        let s = |x: &str| RpcValue::Str(x.to_string());
        let me = i64::from(std::process::id());
        let cases: Vec<(Vec<RpcValue>, Result<bool, &str>)> = vec![
            (vec![s("on")], Ok(true)),
            (vec![s("off")], Ok(false)),
            (vec![s("on"), RpcValue::Int(me)], Ok(true)),
            (vec![], Err("Config trace command missing")),
            (vec![s("maybe")], Err("Unknown trace command")),
            (vec![s("off"), RpcValue::Int(1)], Err("No such pid")),
        ];
        for (params, want) in cases {
            let got = trace_rpc(&on, &params).map(|_| on.load(Ordering::Relaxed));
            assert_eq!(
                got.map_err(|f| f.message),
                want.map_err(str::to_string),
                "{params:?}"
            );
        }
    }

    #[test]
    fn route_type_names() {
        let cases = [
            (RouteType::Request, "request_route"),
            (RouteType::CoreOnReply, "onreply_route"),
            (RouteType::TmOnReply, "onreply_route"),
            (RouteType::Event, "unknown_route"),
            (RouteType::BranchFailure, "branch_failure_route"),
        ];
        for (t, want) in cases {
            assert_eq!(route_type_name(t), want);
        }
    }

    #[test]
    fn refused_params_are_refused() {
        let mut reg = ferrosip_api::Registry::new();
        reg.add(exports()).unwrap_or_else(|e| panic!("{e}"));
        let cases = [
            ("cfgtrace", ModValue::Int(1), true),
            ("breakpoint", ModValue::Int(0), true),
            ("breakpoint", ModValue::Int(1), false),
            ("mod_level", ModValue::Str("core=3".into()), false),
            ("log_facility", ModValue::Str("LOG_LOCAL0".into()), true),
            ("log_facility", ModValue::Str("LOG_NOPE".into()), false),
            ("cfgtest", ModValue::Int(1), false),
            ("cfgpkgcheck", ModValue::Int(1), true),
        ];
        for (name, v, ok) in cases {
            assert_eq!(
                reg.set_modparam("debugger", name, v.clone()).is_ok(),
                ok,
                "{name} = {v:?}"
            );
        }
    }
}
