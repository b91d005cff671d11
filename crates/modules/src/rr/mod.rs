//! Kamailio's `rr` module: record-routing (`record_route`, `record_route_preset`,
//! `record_route_advertised_address`, `add_rr_param`) and route-set processing (`loose_route`,
//! `loose_route_preloaded`, `loose_route_mode`, `check_route_param`, `is_direction`,
//! `rr_next_hop_route`), `remove_record_route`, variables `$route_uri`, `$fti`, `$tti`, `$rdir(id|name)`.
//!
//! Record-Route headers are edits with Kamailio's lump structure: per header two anchors at the
//! first header, the address written by a receive/send-socket substitution and `;r2=on` plus the
//! whole outbound header guarded by "sockets differ" conditions, so the bytes depend on the sending
//! socket chosen later by the forwarding code (see `docs/modules-rr.md`).
//!
//! `loose_route` only changes message state: the new R-URI (`ctx.state.new_uri`), `$du`
//! (`ctx.state.dst_uri`) and deletions of Route headers; forwarding uses that state.
//!
//! `remove_record_route()` withdraws the pieces recorded at the Record-Route anchors (tagged
//! `edit::Tag::RecordRoute`, Kamailio's `HDR_RECORDROUTE_T` lumps).
//!
//! What this module does not do: the `outbound` module integration (flow tokens, return code 2)
//! does not exist because ferrosip has no `outbound` module. Send sockets forced by
//! `loose_route` (double Route, `force_send_socket`, `sockname_mode`) are looked up in
//! `Server::sockets()` and set in `ctx.state.force_socket`.

mod loose;
mod record;

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{
    Arg, FnExport, ModParam, ModParamType, ParamKind as K, PvExport, PvNameRule,
};
use ferrosip_api::pv::PvInner;
use ferrosip_api::{posix, Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_sipmsg::edit::Piece;

pub(crate) use loose::find_socket;
pub use loose::{direction, get_route_param, is_flag_param, Direction};

/// Reserved XAVP (not spellable in a config) holding the per-message token of this module.
const TOKEN_XAVP: &[u8] = b"\0rr";

/// The module parameters, frozen at init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `enable_full_lr`: `;lr=on` instead of `;lr`.
    pub full_lr: bool,
    /// `append_fromtag`: `;ftag=` in Record-Route.
    pub append_fromtag: bool,
    /// `enable_double_rr`: 0, 1 (when the sockets differ) or 2 (always).
    pub double_rr: i64,
    /// `add_username`: the R-URI user (or `custom_user_avp`) in the Record-Route URI.
    pub add_username: bool,
    /// `enable_socket_mismatch_warning`.
    pub mismatch_warning: bool,
    /// `force_send_socket`: force the socket of our Route for a single Record-Route too.
    pub force_send_socket: bool,
    /// `custom_user_avp`: AVP name (`$avp(name)` → `name`).
    pub custom_user_avp: Option<Vec<u8>>,
    /// `ignore_sips`: always `sip:` in Record-Route.
    pub ignore_sips: bool,
    /// `sockname_mode`: `;sn=` in Record-Route.
    pub sockname_mode: bool,
    /// `loose_route_mode`: mode of `loose_route()`.
    pub loose_route_mode: i64,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            full_lr: false,
            append_fromtag: true,
            double_rr: 1,
            add_username: false,
            mismatch_warning: true,
            force_send_socket: false,
            custom_user_avp: None,
            ignore_sips: false,
            sockname_mode: false,
            loose_route_mode: 0,
        }
    }
}

impl Config {
    /// Builds the config from the modparams as set in the config file (last value wins).
    pub fn from_params(get: impl Fn(&str) -> Option<ModValue>) -> Result<Config, String> {
        let d = Config::default();
        let int = |name: &str, def: i64| match get(name) {
            Some(ModValue::Int(i)) => i,
            _ => def,
        };
        let custom_user_avp = match get("custom_user_avp") {
            Some(ModValue::Str(s)) if !s.is_empty() => Some(avp_name(&s)?),
            _ => None,
        };
        Ok(Config {
            full_lr: int("enable_full_lr", 0) != 0,
            append_fromtag: int("append_fromtag", 1) != 0,
            double_rr: int("enable_double_rr", d.double_rr),
            add_username: int("add_username", 0) != 0,
            mismatch_warning: int("enable_socket_mismatch_warning", 1) != 0,
            force_send_socket: int("force_send_socket", 0) != 0,
            custom_user_avp,
            ignore_sips: int("ignore_sips", 0) != 0,
            sockname_mode: int("sockname_mode", 0) != 0,
            loose_route_mode: int("loose_route_mode", 0),
        })
    }
}

/// The `rr` export table.
pub fn exports() -> ModuleExports {
    let cfg: Arc<OnceLock<Config>> = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("rr");
    let rr_routes = RouteMask::REQUEST
        .or(RouteMask::BRANCH)
        .or(RouteMask::FAILURE);
    let f = |name: &'static str,
             params: &[K],
             routes: RouteMask,
             doc: &'static str,
             h: fn(&mut Ctx<'_>, &[Arg], &Config) -> Result<RetCode, Error>| {
        let c = Arc::clone(&cfg);
        FnExport::new(name, params, routes, doc).with(move |ctx, a| {
            let default = Config::default();
            h(ctx, a, c.get().unwrap_or(&default))
        })
    };
    // The loose_route family runs the callbacks other modules registered (Kamailio's
    // `register_rrcb`: path's `use_received`) with the parameters of the Route that named us.
    let hooks: Arc<RrApi> = Arc::new(RrApi::default());
    let lr = |name: &'static str,
              params: &[K],
              doc: &'static str,
              h: fn(&mut Ctx<'_>, &[Arg], &Config) -> Result<i64, Error>,
              ret: fn(i64) -> RetCode| {
        let c = Arc::clone(&cfg);
        let hooks = Arc::clone(&hooks);
        FnExport::new(name, params, RouteMask::REQUEST, doc).with(move |ctx, a| {
            let default = Config::default();
            let code = h(ctx, a, c.get().unwrap_or(&default))?;
            if code != loose::RR_ERROR {
                hooks.run(ctx);
            }
            Ok(ret(code))
        })
    };
    m.functions = vec![
        lr(
            "loose_route",
            &[],
            "route by the Route set (RFC 3261 16.12, strict routers too): 1 routed, -1 not, -3 preloaded route to us only",
            |ctx, _, c| Ok(loose::loose_route_mode(ctx, c, c.loose_route_mode)),
            RetCode,
        ),
        lr(
            "loose_route_preloaded",
            &[],
            "loose_route(); true only when the preloaded Route set named just us",
            |ctx, _, c| Ok(loose::loose_route_mode(ctx, c, 0)),
            |code| RetCode::from_bool(code == loose::RR_PRELOADED),
        ),
        lr(
            "loose_route_mode",
            &[K::IntOrVar],
            "loose_route() with mode bits: 1 = loose routing only (no R-URI==myself strict check), 2 = skip flow tokens",
            |ctx, a, c| {
                let mode = match a.first() {
                    Some(x) => x.int(ctx)?,
                    None => 0,
                };
                Ok(loose::loose_route_mode(ctx, c, mode))
            },
            RetCode,
        ),
        f(
            "record_route",
            &[],
            rr_routes,
            "add Record-Route (two when the sockets differ and enable_double_rr is set)",
            |ctx, _, c| Ok(RetCode(record::w_record_route(ctx, c, None))),
        ),
        f(
            "record_route",
            &[K::Spve],
            rr_routes,
            "add Record-Route with URI parameters (`;name=value`)",
            |ctx, a, c| {
                let p = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                Ok(RetCode(record::w_record_route(ctx, c, Some(&p))))
            },
        ),
        f(
            "record_route_preset",
            &[K::Spve],
            rr_routes,
            "add Record-Route with the given address (`host[:port][;params]`)",
            |ctx, a, c| {
                let p = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                Ok(RetCode(record::w_record_route_preset(ctx, c, &p, None)))
            },
        ),
        f(
            "record_route_preset",
            &[K::Spve, K::Spve],
            rr_routes,
            "add two Record-Route headers: outbound address, then inbound address (enable_double_rr required)",
            |ctx, a, c| {
                let p1 = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                let p2 = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
                Ok(RetCode(record::w_record_route_preset(ctx, c, &p1, Some(&p2))))
            },
        ),
        f(
            "record_route_advertised_address",
            &[K::Spve],
            rr_routes,
            "add Record-Route with the given address; ;transport= and a second header when the protocol differs",
            |ctx, a, c| {
                let p = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                Ok(RetCode(record::w_record_route_advertised_address(ctx, c, &p)))
            },
        ),
        f(
            "add_rr_param",
            &[K::Spve],
            rr_routes,
            "add a URI parameter to the Record-Route (before or after record_route)",
            |ctx, a, c| {
                let p = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                Ok(RetCode(record::add_rr_param(ctx, c, &p)))
            },
        ),
        f(
            "check_route_param",
            &[K::Str],
            RouteMask::REQUEST,
            "true when the parameters of our Route URI match the regex (case-insensitive)",
            |ctx, a, _| {
                let Some(Arg::Regex(re)) = a.first() else {
                    return Err(Error::Runtime("check_route_param: regex not prepared".into()));
                };
                Ok(RetCode::from_bool(loose::check_route_param(ctx, |p| re.is_match(p))))
            },
        )
        .fixup(|args| {
            let Some(Arg::Str(s)) = args.first() else {
                return Err("the regular expression must be a constant string".into());
            };
            let re = posix::compile(&String::from_utf8_lossy(s), true)?;
            if let Some(slot) = args.first_mut() {
                *slot = Arg::Regex(re);
            }
            Ok(())
        }),
        is_direction_export(&cfg),
        f(
            "remove_record_route",
            &[],
            RouteMask::REQUEST.or(RouteMask::FAILURE),
            "withdraw the Record-Route headers added to this message (a later record_route() is still a second attempt)",
            |ctx, _, _| Ok(RetCode(record::remove_record_route(ctx))),
        ),
        f(
            "rr_next_hop_route",
            &[],
            RouteMask::ANY,
            "true when loose_route() took the next hop from a Route header after ours",
            |ctx, _, _| Ok(RetCode::from_bool(with_state(ctx, |s| s.route_addr))),
        ),
    ];
    m.params = params();
    m.pvs = pvs();
    let c = Arc::clone(&cfg);
    m.init = Some(Arc::new(move |ictx| {
        let conf = Config::from_params(|n| ictx.modparam(n).cloned()).map_err(Error::Init)?;
        ictx.provide(Arc::clone(&hooks));
        c.set(conf)
            .map_err(|_| Error::Init("rr initialised twice".into()))
    }));
    m
}

/// A callback run after `loose_route()` routed a request (not on error), with the parameters of
/// the Route URI that named this server (leading `;` included; empty when none did).
pub type RrHook = Arc<dyn Fn(&mut Ctx<'_>, &[u8]) + Send + Sync>;

/// What rr offers modules loaded after it (Kamailio's rr API `register_rrcb`).
#[derive(Default)]
pub struct RrApi {
    /// Set once a callback exists: `loose_route` without callbacks takes no lock.
    any: std::sync::atomic::AtomicBool,
    hooks: std::sync::RwLock<Vec<RrHook>>,
}

impl RrApi {
    /// Registers a callback; modules do it in their init hook.
    pub fn register(&self, hook: RrHook) {
        if let Ok(mut h) = self.hooks.write() {
            h.push(hook);
            self.any.store(true, Ordering::Release);
        }
    }

    fn run(&self, ctx: &mut Ctx<'_>) {
        if !self.any.load(Ordering::Acquire) {
            return;
        }
        let hooks: Vec<RrHook> = match self.hooks.read() {
            Ok(h) if !h.is_empty() => h.clone(),
            _ => return,
        };
        let params = loose::routed_params(ctx).unwrap_or_default();
        for h in hooks {
            h(ctx, &params);
        }
    }
}

// ---- per-message state ----

/// What Kamailio keeps in message flags and module statics between calls on one message.
#[derive(Debug, Default)]
pub(crate) struct MsgState {
    token: u64,
    /// `FL_RR_ADDED`: a Record-Route was added (outside branch_route).
    pub rr_added: bool,
    /// `rr_param_buf`: `add_rr_param()` text given before the Record-Route exists.
    pub param_buf: Vec<u8>,
    /// The last parameter-carrying piece of each Record-Route header, in Kamailio's lump-list
    /// order (outbound first): `add_rr_param()` after `record_route()` inserts behind them.
    pub param_tails: Vec<Piece>,
    /// After a strict-router `loose_route`: the R-URI parameters it hooked (`routed_params`).
    pub strict_params: Option<Vec<u8>>,
    /// `FL_ROUTE_ADDR`: the next hop came from a Route header after ours.
    pub route_addr: bool,
}

thread_local! {
    static STATE: RefCell<MsgState> = RefCell::new(MsgState::default());
}

/// Runs `f` on this message's state. Workers run one message at a time per thread (as Kamailio's
/// processes do); the message is recognised by a token stored in its reserved XAVP, so state from a
/// previous message on this thread is never reused (Kamailio compares message id and pid).
pub(crate) fn with_state<R>(ctx: &mut Ctx<'_>, f: impl FnOnce(&mut MsgState) -> R) -> R {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    let token = ctx
        .state
        .xavps
        .get(TOKEN_XAVP)
        .and_then(|recs| recs.first())
        .and_then(|rec| rec.first())
        .map(|(_, v)| v.to_int());
    let token = match token {
        Some(t) => t as u64,
        None => {
            let t = NEXT.fetch_add(1, Ordering::Relaxed);
            ctx.state.xavps.insert(
                TOKEN_XAVP.to_vec(),
                vec![vec![(b"id".to_vec(), Value::Int(t as i64))]],
            );
            t
        }
    };
    STATE.with(|cell| {
        let mut st = cell.borrow_mut();
        if st.token != token {
            *st = MsgState {
                token,
                ..MsgState::default()
            };
        }
        f(&mut st)
    })
}

// ---- exports helpers ----

fn is_direction_export(cfg: &Arc<OnceLock<Config>>) -> FnExport {
    let c2 = Arc::clone(cfg);
    FnExport::new(
        "is_direction",
        &[K::Str],
        RouteMask::REQUEST,
        "true when the request goes `downstream` (caller to callee, From tag = ftag) or `upstream`",
    )
    .with(|ctx, a| {
        let want = match a.first() {
            Some(Arg::Int(1)) => Direction::Downstream,
            Some(Arg::Int(_)) => Direction::Upstream,
            _ => return Err(Error::Runtime("is_direction: direction not prepared".into())),
        };
        Ok(RetCode::from_bool(direction(ctx) == want))
    })
    .fixup(move |args| {
        if let Some(conf) = c2.get() {
            if !conf.append_fromtag {
                return Err(
                    "usage of \"is_direction\" function requires parameter \"append_fromtag\" enabled"
                        .into(),
                );
            }
        }
        let n = match args.first() {
            Some(Arg::Str(s)) if s.eq_ignore_ascii_case(b"downstream") => 1,
            Some(Arg::Str(s)) if s.eq_ignore_ascii_case(b"upstream") => 2,
            Some(Arg::Str(s)) => {
                return Err(format!("unknown direction '{}'", String::from_utf8_lossy(s)))
            }
            _ => return Err("the direction must be a constant string".into()),
        };
        if let Some(slot) = args.first_mut() {
            *slot = Arg::Int(n);
        }
        Ok(())
    })
}

fn params() -> Vec<ModParam> {
    let int = |name: &'static str, doc: &'static str| ModParam::new(name, ModParamType::Int, doc);
    vec![
        int("enable_full_lr", "`;lr=on` instead of `;lr` (default 0)"),
        int(
            "append_fromtag",
            "add `;ftag=<From tag>` to Record-Route (default 1)",
        ),
        int(
            "enable_double_rr",
            "0 = one Record-Route, 1 = two when the sockets differ (default), 2 = always two",
        )
        .check(|v| match v {
            ModValue::Int(0..=2) => Ok(()),
            _ => Err("must be 0, 1 or 2".into()),
        }),
        int(
            "add_username",
            "R-URI user (or custom_user_avp) in the Record-Route URI (default 0)",
        ),
        int(
            "enable_socket_mismatch_warning",
            "warn when a double Route names no local socket (default 1)",
        ),
        ModParam::new(
            "custom_user_avp",
            ModParamType::Str,
            "AVP (`$avp(name)`) holding the user for add_username",
        )
        .check(|v| match v {
            ModValue::Str(s) => avp_name(s).map(|_| ()),
            ModValue::Int(_) => Err("must be an AVP name".into()),
        }),
        int(
            "force_send_socket",
            "loose_route forces the socket of our Route for a single Record-Route too (default 0)",
        ),
        int("ignore_sips", "always `sip:` in Record-Route (default 0)"),
        int(
            "sockname_mode",
            "`;sn=<socket name>` in Record-Route (default 0)",
        ),
        int(
            "loose_route_mode",
            "mode of loose_route() (see loose_route_mode(); default 0)",
        ),
    ]
}

fn pvs() -> Vec<PvExport> {
    let pv = |name: &'static str, doc: &'static str, get: fn(&mut Ctx<'_>) -> Value| -> PvExport {
        PvExport {
            name,
            doc,
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(move |ctx, _| Ok(get(ctx))),
            set: None,
        }
    };
    let rdir = PvExport {
        name: "rdir",
        doc: "direction of an in-dialog request: `$rdir(id)` 1 downstream / 2 upstream, `$rdir(name)`",
        inner: PvNameRule::Required,
        indexed: false,
        parse: Some(Arc::new(|s, _| match s {
            "id" => Ok(PvInner::Int(0)),
            "name" => Ok(PvInner::Int(1)),
            _ => Err(format!("unknown PV af key: {s}")),
        })),
        get: Arc::new(|ctx, name| {
            let dir = direction(ctx);
            Ok(match (&name.inner, dir) {
                (PvInner::Int(1), Direction::Upstream) => Value::str("upstream"),
                (PvInner::Int(1), Direction::Downstream) => Value::str("downstream"),
                (_, Direction::Upstream) => Value::Int(2),
                (_, Direction::Downstream) => Value::Int(1),
            })
        }),
        set: None,
    };
    vec![
        pv(
            "route_uri",
            "URI of the first Route header",
            loose::route_uri,
        ),
        pv(
            "fti",
            "From tag as in the initial request (To tag for upstream requests)",
            |ctx| loose::initial_tag(ctx, true),
        ),
        pv(
            "tti",
            "To tag as in the reply to the initial request (From tag for upstream requests)",
            |ctx| loose::initial_tag(ctx, false),
        ),
        rdir,
    ]
}

/// `$avp(name)` / `$avp(s:name)` → `name`; anything else is refused as Kamailio refuses a
/// non-AVP `custom_user_avp`.
fn avp_name(s: &str) -> Result<Vec<u8>, String> {
    let inner = s
        .trim()
        .strip_prefix("$avp(")
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(|| format!("malformed or non AVP custom_user AVP definition in '{s}'"))?;
    let inner = inner.strip_prefix("s:").unwrap_or(inner);
    if inner.is_empty() || inner.starts_with('$') || inner.starts_with("i:") {
        return Err(format!(
            "custom_user_avp '{s}': only a literal string AVP name is supported"
        ));
    }
    Ok(inner.as_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_params() {
        type Params<'a> = &'a [(&'a str, ModValue)];
        let cases: &[(Params<'_>, Result<Config, ()>)] = &[
            (&[], Ok(Config::default())),
            (
                &[
                    ("enable_double_rr", ModValue::Int(2)),
                    ("append_fromtag", ModValue::Int(0)),
                    ("custom_user_avp", ModValue::Str("$avp(s:rru)".into())),
                ],
                Ok(Config {
                    double_rr: 2,
                    append_fromtag: false,
                    custom_user_avp: Some(b"rru".to_vec()),
                    ..Config::default()
                }),
            ),
            (
                &[("custom_user_avp", ModValue::Str("$var(x)".into()))],
                Err(()),
            ),
        ];
        for (params, want) in cases {
            let got = Config::from_params(|n| {
                params
                    .iter()
                    .rev()
                    .find(|(k, _)| *k == n)
                    .map(|(_, v)| v.clone())
            });
            assert_eq!(got.map_err(|_| ()), *want, "{params:?}");
        }
    }
}
