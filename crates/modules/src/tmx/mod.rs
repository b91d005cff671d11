//! `tmx`: tm extensions — the `$T_*` variables, route-type tests, `t_precheck_trans`,
//! `t_flush_flags`. Built on [`crate::tm::TmApi`] (tm must be loaded first, as in Kamailio).
//!
//! The statistics (`UAS_transactions` … `rpl_sent`) are computed from tm's counters on read.
//!
//! Refused at load (not implemented yet): `t_suspend`, `t_continue`,
//! `$T_branch(ruid)`, `$T_reply_ruid`, the `tm.*` RPCs of tmx.

mod more;

use more::{more_pvs, register_stats};

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::Arg;
use ferrosip_api::pv::PvInner;
use ferrosip_api::{
    Ctx, Error, FnExport, Format, ModuleExports, ParamKind as K, PvExport, PvNameRule, RetCode,
    RouteMask, RouteType, Value,
};
use ferrosip_sipmsg::Msg;

use crate::tm::TmApi;

type Api = Arc<OnceLock<Arc<TmApi>>>;

fn api(a: &Api) -> Result<&Arc<TmApi>, Error> {
    a.get()
        .ok_or_else(|| Error::Runtime("tmx: tm is not loaded".into()))
}

/// The module's export table.
pub fn exports() -> ModuleExports {
    let tm: Api = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("tmx");
    let route_is = |name: &'static str, rt: &'static [RouteType], doc: &'static str| {
        FnExport::new(name, &[], RouteMask::ANY, doc).with(move |ctx, _| {
            Ok(if rt.contains(&ctx.route_type) {
                RetCode::TRUE
            } else {
                RetCode::FALSE
            })
        })
    };
    let (a1, a2) = (tm.clone(), tm.clone());
    m.functions = vec![
        route_is(
            "t_is_failure_route",
            &[RouteType::Failure],
            "running in failure_route",
        ),
        route_is(
            "t_is_branch_route",
            &[RouteType::Branch],
            "running in branch_route",
        ),
        route_is(
            "t_is_reply_route",
            &[RouteType::TmOnReply, RouteType::CoreOnReply],
            "running in a reply route",
        ),
        route_is(
            "t_is_request_route",
            &[RouteType::Request],
            "running in request_route",
        ),
        FnExport::new(
            "t_precheck_trans",
            &[],
            RouteMask::REQUEST,
            "another worker is processing this request (a retransmission before the transaction exists)",
        )
        .with(move |ctx, _: &[Arg]| {
            Ok(if api(&a1)?.precheck(ctx) {
                RetCode::TRUE
            } else {
                RetCode::FALSE
            })
        }),
        FnExport::new(
            "t_flush_flags",
            &[],
            RouteMask::ANY,
            "copy the message flags into the transaction",
        )
        .with(move |ctx, _: &[Arg]| {
            Ok(if api(&a2)?.flush_flags(ctx) {
                RetCode::TRUE
            } else {
                RetCode::FALSE
            })
        }),
    ];
    m.functions.extend(more::functions(&tm));
    for (name, kinds) in [
        ("t_suspend", &[][..]),
        ("t_continue", &[K::Spve, K::Spve, K::Spve][..]),
    ] {
        m.functions.push(FnExport::new(
            name,
            kinds,
            RouteMask::ANY,
            "not implemented yet",
        ));
    }
    let a3 = tm.clone();
    m.functions.push(
        FnExport::new(
            "t_reply_callid",
            &[K::Spve, K::Spve, K::IntOrVar, K::Spve],
            RouteMask::ANY,
            "reply on the INVITE transaction with this Call-ID and CSeq number",
        )
        .with(move |ctx, a: &[Arg]| {
            let callid = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
            let cseq = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
            let code = a.get(2).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
            let reason = a.get(3).map(|x| x.bytes(ctx)).unwrap_or_default();
            Ok(RetCode(
                api(&a3)?.reply_callid(ctx, &callid, &cseq, code, &reason),
            ))
        }),
    );
    m.pvs = pvs(&tm);
    m.pvs.extend(more_pvs(&tm));
    m.refused_pvs = vec![(
        "T_reply_ruid",
        "not implemented yet (tm keeps no location ruid per branch)",
    )];
    m.init = Some(Arc::new(move |ictx| {
        let t = ictx
            .api::<TmApi>()
            .ok_or_else(|| Error::Init("tmx: needs the tm module, loaded before tmx".into()))?;
        let _ = tm.set(t.clone());
        register_stats(&ictx.stats(), &t)
    }));
    m
}

fn pvs(tm: &Api) -> Vec<PvExport> {
    let (a, b, c, d, e) = (tm.clone(), tm.clone(), tm.clone(), tm.clone(), tm.clone());
    let inner_format = Arc::new(|text: &str, reg: &ferrosip_api::Registry| {
        reg.parse_format(text)
            .map(|f| PvInner::Custom(Arc::new(f)))
            .map_err(|e| format!("bad inner variable: {e}"))
    });
    vec![
        PvExport {
            name: "T_branch_idx",
            doc: "index of the branch (branch_route, onreply_route) or of the failed branch (failure_route)",
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(move |ctx, _| Ok(Value::Int(api(&a)?.branch_index(ctx)))),
            set: None,
        },
        PvExport {
            name: "T_reply_code",
            doc: "code of the reply (onreply_route), of the winning reply (failure_route), of the last final reply sent",
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(move |ctx, _| {
                Ok(api(&b)?
                    .reply_status(ctx)
                    .map_or(Value::Int(0), |(c, _)| Value::Int(i64::from(c))))
            }),
            set: None,
        },
        PvExport {
            name: "T_reply_reason",
            doc: "reason phrase of that reply",
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(move |ctx, _| {
                Ok(api(&c)?
                    .reply_status(ctx)
                    .map_or(Value::Null, |(_, r)| Value::Str(r)))
            }),
            set: None,
        },
        PvExport {
            name: "T_req",
            doc: "a variable evaluated on the transaction's request",
            inner: PvNameRule::Required,
            indexed: false,
            parse: Some(inner_format.clone()),
            get: Arc::new(move |ctx, name| {
                let Some((bytes, rcv)) = api(&d)?.request(ctx) else {
                    return Ok(Value::Null);
                };
                eval_on(ctx, &name.inner, bytes, rcv, RouteType::Request)
            }),
            set: None,
        },
        PvExport {
            name: "T_rpl",
            doc: "a variable evaluated on the reply that made failure_route run",
            inner: PvNameRule::Required,
            indexed: false,
            parse: Some(inner_format),
            get: Arc::new(move |ctx, name| {
                let Some(bytes) = api(&e)?.failed_reply(ctx) else {
                    return Ok(Value::Null);
                };
                let rcv = ctx.rcv;
                eval_on(ctx, &name.inner, bytes, rcv, RouteType::TmOnReply)
            }),
            set: None,
        },
    ]
}

/// Renders the prepared inner format on another message.
fn eval_on(
    ctx: &mut Ctx<'_>,
    inner: &PvInner,
    bytes: Vec<u8>,
    rcv: ferrosip_api::RecvInfo,
    rt: RouteType,
) -> Result<Value, Error> {
    let PvInner::Custom(any) = inner else {
        return Ok(Value::Null);
    };
    let Some(f) = any.downcast_ref::<Format>() else {
        return Ok(Value::Null);
    };
    let Ok(mut msg) = Msg::parse(bytes) else {
        return Ok(Value::Null);
    };
    let worker: &mut ferrosip_api::WorkerState = ctx.worker;
    let server: &mut dyn ferrosip_api::Server = ctx.server;
    let mut sub = Ctx::new(&mut msg, rt, rcv, worker, server)?;
    Ok(Value::Str(f.render(&mut sub)))
}
