//! tmx's `$T_inv`, `$T_reply_last`, `$T_branch(name)`, `$T(name)`, its statistics, and the
//! functions `t_drop()`, `t_flush_xflags()`, `t_cancel_callid()`, `t_reuse_branch()`,
//! `t_cancel_branches()`.

use std::sync::Arc;

use ferrosip_api::export::Arg;
use ferrosip_api::pv::PvInner;
use ferrosip_api::stats::Stats;
use ferrosip_api::{
    Error, FnExport, ParamKind as K, PvExport, PvNameRule, RetCode, RouteMask, RouteType, Value,
};

use super::{api, eval_on, Api};
use crate::tm::{CancelWhich, TmApi, TmxCounters};

/// The names `$T(name)` takes (Kamailio's `pv_parse_t_name`).
const T_NAMES: &[&str] = &[
    "id_label",
    "id_index",
    "reply_code",
    "reply_type",
    "branch_index",
    "reply_reason",
    "id_label_n",
    "id_index_n",
];

/// The names `$T_branch(name)` takes; `ruid` is refused (no ruid kept per branch).
const T_BRANCH_NAMES: &[&str] = &["flags", "uri"];

fn name_index(text: &str, names: &[&str], what: &str) -> Result<PvInner, String> {
    names
        .iter()
        .position(|n| *n == text)
        .map(|i| PvInner::Int(i as i64))
        .ok_or_else(|| format!("unknown {what} name `{text}`"))
}

pub(super) fn more_pvs(tm: &Api) -> Vec<PvExport> {
    let (a, b, c, d) = (tm.clone(), tm.clone(), tm.clone(), tm.clone());
    let inner_format = Arc::new(|text: &str, reg: &ferrosip_api::Registry| {
        reg.parse_format(text)
            .map(|f| PvInner::Custom(Arc::new(f)))
            .map_err(|e| format!("bad inner variable: {e}"))
    });
    vec![
        PvExport {
            name: "T_inv",
            doc: "a variable evaluated on the INVITE a CANCEL refers to (request_route)",
            inner: PvNameRule::Required,
            indexed: false,
            parse: Some(inner_format),
            get: Arc::new(move |ctx, name| {
                let Some((bytes, rcv)) = api(&a)?.invite_of_cancel(ctx) else {
                    return Ok(Value::Null);
                };
                eval_on(ctx, &name.inner, bytes, rcv, RouteType::Request)
            }),
            set: None,
        },
        PvExport {
            name: "T_reply_last",
            doc: "last code received on the reply's branch before this reply (onreply_route)",
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(move |ctx, _| {
                Ok(api(&b)?
                    .reply_last(ctx)
                    .map_or(Value::Null, |c| Value::Int(i64::from(c))))
            }),
            set: None,
        },
        PvExport {
            name: "T_branch",
            doc: "flags (failure routes, onreply_route) or uri (onreply_route) of the branch",
            inner: PvNameRule::Required,
            indexed: false,
            parse: Some(Arc::new(|text: &str, _: &ferrosip_api::Registry| {
                if text == "ruid" {
                    return Err("$T_branch(ruid) is not implemented yet".into());
                }
                name_index(text, T_BRANCH_NAMES, "$T_branch")
            })),
            get: Arc::new(move |ctx, name| {
                let t = api(&c)?;
                Ok(match name.inner {
                    PvInner::Int(0) => t
                        .branch_flags(ctx)
                        .map_or(Value::Null, |f| Value::Int(i64::from(f))),
                    PvInner::Int(1) => t.branch_uri(ctx).map_or(Value::Null, Value::Str),
                    _ => Value::Null,
                })
            }),
            set: None,
        },
        PvExport {
            name: "T",
            doc: "transaction attributes: id_label, id_index, reply_code, reply_type, branch_index, reply_reason, id_label_n, id_index_n",
            inner: PvNameRule::Required,
            indexed: false,
            parse: Some(Arc::new(|text: &str, _: &ferrosip_api::Registry| {
                name_index(text, T_NAMES, "$T")
            })),
            get: Arc::new(move |ctx, name| {
                let t = api(&d)?;
                let PvInner::Int(i) = name.inner else {
                    return Ok(Value::Null);
                };
                Ok(match i {
                    2 => Value::Int(t.reply_status(ctx).map_or(0, |(c, _)| i64::from(c))),
                    4 => Value::Int(t.branch_index(ctx)),
                    5 => t
                        .reply_status(ctx)
                        .map_or(Value::Null, |(_, r)| Value::Str(r)),
                    3 => t.reply_type(ctx).map_or(Value::Null, Value::Int),
                    0 | 1 | 6 | 7 => match t.ids(ctx, i >= 6) {
                        Some((hash, label)) => {
                            Value::Int(i64::from(if i == 1 || i == 7 { hash } else { label }))
                        }
                        None => Value::Null,
                    },
                    _ => Value::Null,
                })
            }),
            set: None,
        },
    ]
}

/// `t_drop([rcode])`, `t_flush_xflags()`, `t_cancel_callid(callid, cseq, flag[, rcode])`.
pub(super) fn functions(tm: &Api) -> Vec<FnExport> {
    let (a0, a1, a2, a3, a4) = (tm.clone(), tm.clone(), tm.clone(), tm.clone(), tm.clone());
    let (a5, a6) = (tm.clone(), tm.clone());
    vec![
        FnExport::new(
            "t_cancel_branches",
            &[K::Str],
            RouteMask::ONREPLY,
            "in onreply_route: cancel all, the others' or this reply's pending branches",
        )
        .fixup(|a: &mut [Arg]| {
            // Kamailio's fixup: all, others or this (any case), else the config does not load.
            let Some(Arg::Str(s)) = a.first() else {
                return Err("t_cancel_branches: a constant parameter is needed".into());
            };
            let which = match s.to_ascii_lowercase().as_slice() {
                b"all" => 0,
                b"others" => 1,
                b"this" => 2,
                _ => {
                    return Err(format!(
                        "t_cancel_branches: invalid param \"{}\"",
                        String::from_utf8_lossy(s)
                    ))
                }
            };
            a[0] = Arg::Int(which);
            Ok(())
        })
        .with(move |ctx, a: &[Arg]| {
            let which = match a.first() {
                Some(Arg::Int(1)) => CancelWhich::Others,
                Some(Arg::Int(2)) => CancelWhich::This,
                _ => CancelWhich::All,
            };
            Ok(RetCode(api(&a6)?.cancel_branches(ctx, which)))
        }),
        // Kamailio's EVENT_ROUTE mask is its REQUEST_ROUTE's: request_route accepts the call
        // (which then fails at run time).
        FnExport::new(
            "t_reuse_branch",
            &[],
            RouteMask::REQUEST.or(RouteMask::EVENT),
            "in the branch-failure route: the failed branch's R-URI, branch flags and instance become the R-URI branch's",
        )
        .with(move |ctx, _: &[Arg]| Ok(RetCode(api(&a5)?.reuse_branch(ctx)))),
        FnExport::new(
            "t_drop",
            &[],
            RouteMask::ANY,
            "drop the transaction: status 500, no reply upstream, released (0: the script stops)",
        )
        .with(move |ctx, _: &[Arg]| Ok(RetCode(api(&a0)?.drop_txn(ctx, 500)))),
        FnExport::new(
            "t_drop",
            &[K::IntOrVar],
            RouteMask::ANY,
            "t_drop with this status code",
        )
        .with(move |ctx, a: &[Arg]| {
            // Kamailio: a value that cannot be read as a number is 500.
            let code = a.first().and_then(|x| x.int(ctx).ok()).unwrap_or(500);
            Ok(RetCode(api(&a1)?.drop_txn(ctx, code)))
        }),
        FnExport::new(
            "t_flush_xflags",
            &[],
            RouteMask::ANY,
            "copy the message's extended flags into the transaction",
        )
        .with(move |ctx, _: &[Arg]| Ok(RetCode::from_bool(api(&a2)?.flush_xflags(ctx)))),
        FnExport::new(
            "t_cancel_callid",
            &[K::Spve, K::Spve, K::IntOrVar],
            RouteMask::ANY,
            "cancel the branches of the INVITE transaction with this Call-ID and CSeq number, setting a flag on it",
        )
        .with(move |ctx, a: &[Arg]| cancel_callid(&a3, ctx, a)),
        FnExport::new(
            "t_cancel_callid",
            &[K::Spve, K::Spve, K::IntOrVar, K::IntOrVar],
            RouteMask::ANY,
            "t_cancel_callid with a Reason cause for the CANCELs",
        )
        .with(move |ctx, a: &[Arg]| cancel_callid(&a4, ctx, a)),
    ]
}

fn cancel_callid(tm: &Api, ctx: &mut ferrosip_api::Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let callid = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let cseq = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
    let flag = a.get(2).map(|x| x.int(ctx)).transpose()?.unwrap_or(-1);
    let rcode = a.get(3).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
    Ok(RetCode(
        api(tm)?.cancel_callid(ctx, &callid, &cseq, flag, rcode),
    ))
}

/// Registers tmx's statistics (Kamailio's names and order), computed from tm's counters.
pub(super) fn register_stats(stats: &Arc<Stats>, tm: &Arc<TmApi>) -> Result<(), Error> {
    type Pick = fn(&TmxCounters) -> u64;
    let list: &[(&str, &str, Pick)] = &[
        // Kamailio's tmx counts every transaction here, local ones included.
        ("UAS_transactions", "transactions created", |c| c.created),
        ("UAC_transactions", "transactions started here", |c| c.local),
        ("2xx_transactions", "2xx final replies sent", |c| {
            c.completed[0]
        }),
        ("3xx_transactions", "3xx final replies sent", |c| {
            c.completed[1]
        }),
        ("4xx_transactions", "4xx final replies sent", |c| {
            c.completed[2]
        }),
        ("5xx_transactions", "5xx final replies sent", |c| {
            c.completed[3]
        }),
        ("6xx_transactions", "6xx final replies sent", |c| {
            c.completed[4]
        }),
        ("inuse_transactions", "transactions in memory", |c| {
            c.created.saturating_sub(c.freed)
        }),
        (
            "active_transactions",
            "transactions not in the wait state",
            |c| c.current.saturating_sub(c.waiting),
        ),
        ("rpl_received", "replies received", |c| c.rpl_received),
        ("rpl_absorbed", "replies received and not relayed", |c| {
            c.rpl_received.saturating_sub(c.rpl_relayed)
        }),
        ("rpl_generated", "replies generated here", |c| {
            c.rpl_generated
        }),
        ("rpl_relayed", "replies relayed", |c| c.rpl_relayed),
        ("rpl_sent", "replies sent (relayed and generated)", |c| {
            c.rpl_relayed + c.rpl_generated
        }),
    ];
    for (name, doc, pick) in list {
        let t = tm.clone();
        let pick = *pick;
        stats.computed(
            "tmx",
            name,
            doc,
            Arc::new(move || pick(&t.counters())),
            None,
        )?;
    }
    Ok(())
}
