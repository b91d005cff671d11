//! The core's own functions, as an ordinary export table (module name `core`), so they are resolved,
//! checked and documented like module functions. Statements (`route`, `return`, `exit`, `drop`,
//! `break`) and keywords are handled by the compiler, not here.

use ferrosip_api::export::{Arg, FnExport, ParamKind as K};
use ferrosip_api::{store, Ctx, Error, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_config::ast::Config;

use crate::uri::{rewrite, Rewrite};

/// Kamailio's level for `log("text")` without a level: `L_DBG + 1`, so it only shows with `debug=4`.
pub const LOG_DEFAULT_LEVEL: i32 = ferrosip_api::L_DBG + 1;

/// ferrosip has no TLS or SCTP listener (`enable_tls=yes` and such sockets are refused at start).
const FWD_TLS_DOC: &str = "forward over TLS: as Kamailio without a TLS listener, \"no corresponding listening socket\" and -7";
const FWD_SCTP_DOC: &str = "forward over SCTP: as Kamailio without an SCTP listener, \"no corresponding listening socket\" and -7";

/// The core export table: functions and the core PVs (`$rc`, `$retcode`, `$?`, `$null`).
pub fn core_module() -> ModuleExports {
    let mut m = ModuleExports::new("core");
    m.pvs = store::core_pvs();
    m.selects = crate::select::core_selects();
    let any = RouteMask::ANY;
    // Kamailio allows only a few core commands in onsend_route (cfg.y `fcmd`): log, the message
    // flag functions, route and the connection options; the others are refused there.
    let not_onsend = RouteMask(RouteMask::ANY.0 & !RouteMask::ONSEND.0);
    let mut f = vec![
        FnExport::new(
            "setflag",
            &[K::Flag],
            any,
            "set a message flag (number 0..31 or `flags` name)",
        )
        .with(|ctx, a| {
            ctx.state.flags |= bit(a)?;
            Ok(RetCode::TRUE)
        }),
        FnExport::new("resetflag", &[K::Flag], any, "reset a message flag").with(|ctx, a| {
            ctx.state.flags &= !bit(a)?;
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "isflagset",
            &[K::Flag],
            any,
            "true if the message flag is set",
        )
        .with(|ctx, a| Ok(RetCode::from_bool(ctx.state.flags & bit(a)? != 0))),
        FnExport::new(
            "setavpflag",
            &[K::Var, K::Flag],
            not_onsend,
            "set an AVP flag (`avpflags` name or number) on the AVPs of that name",
        )
        .with(|ctx, a| avp_flag(ctx, a, AvpOp::Set)),
        FnExport::new(
            "resetavpflag",
            &[K::Var, K::Flag],
            not_onsend,
            "reset an AVP flag",
        )
        .with(|ctx, a| avp_flag(ctx, a, AvpOp::Reset)),
        FnExport::new(
            "isavpflagset",
            &[K::Var, K::Flag],
            not_onsend,
            "true if the newest AVP of that name has the flag",
        )
        .with(|ctx, a| avp_flag(ctx, a, AvpOp::Test)),
        FnExport::new(
            "is_int",
            &[K::Var],
            not_onsend,
            "true if the variable holds an integer",
        )
        .with(|ctx, a| {
            let v = first(a)?.value(ctx);
            Ok(RetCode::from_bool(matches!(v, Value::Int(_))))
        }),
        FnExport::new(
            "log",
            &[K::Str],
            any,
            "log a constant text at level L_DBG+1 (shown with debug>=4)",
        )
        .with(|ctx, a| {
            let text = first(a)?.bytes(ctx);
            script_log(ctx, LOG_DEFAULT_LEVEL, &text);
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "log",
            &[K::Int, K::Str],
            any,
            "log a constant text at the given level",
        )
        .with(|ctx, a| {
            let level = first(a)?.int(ctx)?;
            let text = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
            script_log(ctx, i32::try_from(level).unwrap_or(i32::MAX), &text);
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "error",
            &[K::Str, K::Str],
            not_onsend,
            "Kamailio logs that it is not implemented and continues; so do we",
        )
        .with(|ctx, a| {
            let x = first(a)?.bytes(ctx);
            let y = a.get(1).map(|v| v.bytes(ctx)).unwrap_or_default();
            let line = format!(
                "error(\"{}\", \"{}\") not implemented yet",
                String::from_utf8_lossy(&x),
                String::from_utf8_lossy(&y)
            );
            ctx.log(ferrosip_api::L_NOTICE, &line);
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "revert_uri",
            &[],
            not_onsend,
            "undo all changes of the R-URI",
        )
        .with(|ctx, _| {
            ctx.state.new_uri = None;
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "userphone",
            &[],
            not_onsend,
            "add `user=phone` to the R-URI",
        )
        .with(|ctx, _| apply_rewrite(ctx, Rewrite::UserPhone, b"")),
        FnExport::new(
            "remove_branch",
            &[],
            not_onsend,
            "remove branch 0 of the destination set",
        )
        .with(|ctx, _| Ok(remove_branch(ctx, 0))),
        FnExport::new(
            "remove_branch",
            &[K::Number],
            not_onsend,
            "remove the branch at the index",
        )
        .with(|ctx, a| {
            let i = first(a)?.int(ctx)?;
            Ok(remove_branch(ctx, i))
        }),
        FnExport::new(
            "clear_branches",
            &[],
            not_onsend,
            "remove all additional branches",
        )
        .with(|ctx, _| {
            ctx.state.branches.clear();
            Ok(RetCode::TRUE)
        }),
    ];
    // Kamailio's grammar takes constant strings here (STRING), used as written: no variables.
    let rewrites: &[(&'static str, Rewrite, K, &'static str)] = &[
        ("rewriteuri", Rewrite::Uri, K::Str, "replace the R-URI"),
        ("seturi", Rewrite::Uri, K::Str, "alias of rewriteuri"),
        (
            "rewritehost",
            Rewrite::Host,
            K::Str,
            "replace the R-URI host",
        ),
        ("sethost", Rewrite::Host, K::Str, "alias of rewritehost"),
        ("seth", Rewrite::Host, K::Str, "alias of rewritehost"),
        (
            "rewritehostport",
            Rewrite::HostPort,
            K::Str,
            "replace the R-URI host and port",
        ),
        (
            "sethostport",
            Rewrite::HostPort,
            K::Str,
            "alias of rewritehostport",
        ),
        (
            "sethp",
            Rewrite::HostPort,
            K::Str,
            "alias of rewritehostport",
        ),
        (
            "rewritehostporttrans",
            Rewrite::HostPortTrans,
            K::Str,
            "replace the R-URI host, port and transport",
        ),
        (
            "sethostporttrans",
            Rewrite::HostPortTrans,
            K::Str,
            "alias of rewritehostporttrans",
        ),
        (
            "sethpt",
            Rewrite::HostPortTrans,
            K::Str,
            "alias of rewritehostporttrans",
        ),
        (
            "rewriteuser",
            Rewrite::User,
            K::Str,
            "replace the R-URI user",
        ),
        ("setuser", Rewrite::User, K::Str, "alias of rewriteuser"),
        ("setu", Rewrite::User, K::Str, "alias of rewriteuser"),
        (
            "rewriteuserpass",
            Rewrite::UserPass,
            K::Str,
            "replace the R-URI user:password",
        ),
        (
            "setuserpass",
            Rewrite::UserPass,
            K::Str,
            "alias of rewriteuserpass",
        ),
        (
            "setup",
            Rewrite::UserPass,
            K::Str,
            "alias of rewriteuserpass",
        ),
        (
            "rewriteport",
            Rewrite::Port,
            K::Str,
            "replace the R-URI port",
        ),
        ("setport", Rewrite::Port, K::Str, "alias of rewriteport"),
        ("setp", Rewrite::Port, K::Str, "alias of rewriteport"),
        (
            "prefix",
            Rewrite::Prefix,
            K::Str,
            "prepend to the R-URI user",
        ),
        (
            "strip",
            Rewrite::Strip,
            K::Number,
            "remove the first N characters of the R-URI user",
        ),
        (
            "strip_tail",
            Rewrite::StripTail,
            K::Number,
            "remove the last N characters of the R-URI user",
        ),
    ];
    for (name, how, kind, doc) in rewrites {
        let how = *how;
        f.push(
            FnExport::new(name, &[*kind], not_onsend, doc).with(move |ctx, a| {
                let arg = first(a)?.bytes(ctx);
                apply_rewrite(ctx, how, &arg)
            }),
        );
    }
    // `force_rport()` / `add_rport()` (one keyword in Kamailio's grammar) only mark the message;
    // whoever replies honours the mark (sl: reply to the source port, `rport=` in the Via).
    for (name, doc) in [
        (
            "force_rport",
            "reply to the source port and add rport to the top Via of replies",
        ),
        ("add_rport", "alias of force_rport"),
    ] {
        f.push(FnExport::new(name, &[], not_onsend, doc).with(|ctx, _| {
            ctx.state.msg_flags |= ferrosip_api::ctx::FL_FORCE_RPORT;
            Ok(RetCode(1))
        }));
    }
    // Network-dependent core functions: known and documented, refused at load until the wire issue.
    let pending: &[(&'static str, &[K], &'static str)] = &[
        ("forward", &[], "forward statelessly to the R-URI / $du"),
        ("forward", &[K::Spve], "forward statelessly to a host"),
        (
            "forward",
            &[K::Spve, K::IntOrVar],
            "forward statelessly to host and port",
        ),
        ("forward_udp", &[K::Spve], "forward over UDP"),
        ("forward_udp", &[K::Spve, K::IntOrVar], "forward over UDP"),
        ("forward_tcp", &[K::Spve], "forward over TCP"),
        ("forward_tcp", &[K::Spve, K::IntOrVar], "forward over TCP"),
        ("forward_tls", &[K::Spve], FWD_TLS_DOC),
        ("forward_tls", &[K::Spve, K::IntOrVar], FWD_TLS_DOC),
        ("forward_sctp", &[K::Spve], FWD_SCTP_DOC),
        ("forward_sctp", &[K::Spve, K::IntOrVar], FWD_SCTP_DOC),
        ("force_send_socket", &[K::Str], "choose the sending socket"),
        ("add_local_rport", &[], "add rport to our own Via"),
        ("force_tcp_alias", &[], "add a TCP alias for the connection"),
        (
            "force_tcp_alias",
            &[K::IntOrVar],
            "add a TCP alias with a port",
        ),
        ("add_tcp_alias", &[], "alias of force_tcp_alias"),
        ("add_tcp_alias", &[K::IntOrVar], "alias of force_tcp_alias"),
        (
            "udp_mtu_try_proto",
            &[K::Str],
            "protocol to use when a UDP request exceeds the MTU",
        ),
        (
            "set_advertised_address",
            &[K::Str],
            "advertised address for this message",
        ),
        (
            "set_advertised_port",
            &[K::IntOrVar],
            "advertised port for this message",
        ),
        (
            "set_forward_no_connect",
            &[],
            "forward only over an existing connection",
        ),
        (
            "set_reply_no_connect",
            &[],
            "reply only over an existing connection",
        ),
        (
            "set_forward_close",
            &[],
            "close the connection after forwarding",
        ),
        (
            "set_reply_close",
            &[],
            "close the connection after replying",
        ),
        ("exec", &[K::Str], "run a shell command"),
    ];
    for (name, params, doc) in pending {
        let allowed_in_onsend = name.starts_with("set_forward_") || name.starts_with("set_reply_");
        f.push(FnExport::new(
            name,
            params,
            if allowed_in_onsend { any } else { not_onsend },
            doc,
        ));
    }
    f.extend(crate::cfg_groups::functions());
    m.functions = f;
    m
}

/// The config's custom parameters (`group.var = value desc "…"`, instances `group[id].var = …`)
/// as the `@cfg_get.group.var` select, with the core functions `cfg_select`/`cfg_reset` that pick
/// an instance for the rest of the message (module name `cfg`; see `cfg_groups`). The defaults are
/// run-time cfg variables: `cfg.set_now_*`, `cfg.set_delayed_*`, `cfg.reset` change what
/// `@cfg_get` reads.
pub fn cfg_module(config: &Config) -> ModuleExports {
    crate::cfg_groups::module(config)
}

fn first(a: &[Arg]) -> Result<&Arg, Error> {
    a.first()
        .ok_or_else(|| Error::Runtime("missing parameter".into()))
}

fn bit(a: &[Arg]) -> Result<u32, Error> {
    match first(a)? {
        Arg::Flag(n) if *n < 32 => Ok(1u32 << n),
        other => Err(Error::Runtime(format!("bad flag {other:?}"))),
    }
}

#[derive(Clone, Copy)]
enum AvpOp {
    Set,
    Reset,
    Test,
}

fn avp_flag(ctx: &mut Ctx<'_>, a: &[Arg], op: AvpOp) -> Result<RetCode, Error> {
    // The flags go on the values Kamailio's search finds: the first class list holding one.
    let name = match first(a)? {
        Arg::Var(p) if p.name() == "avp" => {
            let id = ferrosip_api::avp::ident(ctx, p.pv_name());
            match id.found_key(&ctx.state.avps) {
                Some(k) => k,
                None => return Ok(RetCode::FALSE),
            }
        }
        other => return Err(Error::Runtime(format!("not an $avp: {other:?}"))),
    };
    let mask = match a.get(1) {
        Some(Arg::Flag(n)) if *n < 32 => 1u32 << n,
        _ => return Err(Error::Runtime("bad AVP flag".into())),
    };
    let vals = ctx.state.avps.values_mut(&name);
    Ok(match op {
        AvpOp::Test => RetCode::from_bool(vals.first().is_some_and(|v| v.flags & mask != 0)),
        AvpOp::Set | AvpOp::Reset => {
            if vals.is_empty() {
                return Ok(RetCode::FALSE);
            }
            for v in vals.iter_mut() {
                match op {
                    AvpOp::Set => v.flags |= mask,
                    _ => v.flags &= !mask,
                }
            }
            RetCode::TRUE
        }
    })
}

fn apply_rewrite(ctx: &mut Ctx<'_>, how: Rewrite, arg: &[u8]) -> Result<RetCode, Error> {
    if !ctx.msg.is_request() {
        return Err(Error::Runtime("no R-URI in a reply".into()));
    }
    let cur = ctx.ruri();
    let new = rewrite(&cur, how, arg).map_err(Error::Runtime)?;
    ctx.state.new_uri = Some(new);
    Ok(RetCode::TRUE)
}

fn remove_branch(ctx: &mut Ctx<'_>, i: i64) -> RetCode {
    match usize::try_from(i) {
        Ok(i) if i < ctx.state.branches.len() => {
            ctx.state.branches.remove(i);
            RetCode::TRUE
        }
        _ => RetCode::FALSE,
    }
}

/// `log()`: Kamailio prints `<script>: text` at the level; the trailing newline of the text ends the
/// line, so we drop one. Script output takes one path, `Server::log_line` (as xlog's does): the
/// back end writes the `<script>: ` prefix.
fn script_log(ctx: &mut Ctx<'_>, level: i32, text: &[u8]) {
    let t = text.strip_suffix(b"\n").unwrap_or(text);
    let t = String::from_utf8_lossy(t);
    ctx.log_line(&ferrosip_api::LogLine {
        level,
        facility: None,
        prefix: None,
        text: &t,
    });
}
