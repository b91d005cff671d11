//! The script functions of tm: their export table and the handlers that are not part of the
//! forwarding engine in `mod.rs`.

use std::sync::Arc;

use ferrosip_api::export::Arg;
use ferrosip_api::{
    Ctx, Error, FnExport, ParamKind as K, Proto, RetCode, RouteKindRef, RouteMask, RouteType,
};
use ferrosip_sipmsg::Method;
use ferrosip_siptxn::{FailureReplyMode, StatusCode};

use super::table::{method_class, TxnCell};
use super::*;

const REQ: RouteMask = RouteMask::REQUEST;
const REQ_FAIL: RouteMask = RouteMask(RouteMask::REQUEST.0 | RouteMask::FAILURE.0);
const REQ_FAIL_BR: RouteMask = RouteMask(REQ_FAIL.0 | RouteMask::BRANCH.0);
const TM_ANY: RouteMask = RouteMask(
    REQ_FAIL_BR.0 | RouteMask::TM_ONREPLY.0 | RouteMask::CORE_ONREPLY.0 | RouteMask::EVENT.0,
);

fn route_arg(a: &[Arg]) -> Option<usize> {
    match a.first() {
        Some(Arg::Route { index, .. }) => Some(*index),
        _ => None,
    }
}

type H = fn(&Tm, &mut Ctx<'_>, &[Arg]) -> Result<RetCode, Error>;

pub(super) fn functions(tm: &Arc<Tm>) -> Vec<FnExport> {
    let f = |name: &'static str, params: &[K], mask: RouteMask, doc: &'static str, h: H| {
        let t = tm.clone();
        FnExport::new(name, params, mask, doc).with(move |ctx, a| h(&t, ctx, a))
    };
    let mut v = vec![
        f(
            "t_relay",
            &[],
            REQ_FAIL,
            "forward statefully to $du or the R-URI (and the branches)",
            |tm, ctx, _| t_relay(tm, ctx, &Target::default()),
        ),
        f(
            "t_relay",
            &[K::Spve, K::IntOrVar],
            REQ_FAIL,
            "forward statefully to host:port",
            |tm, ctx, a| {
                let target = host_target(ctx, a, None)?;
                t_relay(tm, ctx, &target)
            },
        ),
        f(
            "t_newtran",
            &[],
            REQ,
            "create the transaction (0 for a retransmission)",
            |tm, ctx, _| match new_txn(tm, ctx)? {
                NewTxn::Created(_) => Ok(RetCode::TRUE),
                NewTxn::Retransmission => Ok(RetCode(0)),
            },
        ),
        f(
            "t_reply",
            &[K::IntOrVar, K::Spve],
            REQ_FAIL.or(RouteMask::ONREPLY),
            "reply statefully (in a reply route: on the reply's transaction)",
            t_reply,
        ),
        f(
            "t_release",
            &[],
            REQ,
            "release the transaction (freed after the wait timer)",
            |tm, ctx, _| match cur_cell(ctx) {
                Some(c) => {
                    let now = tm.now();
                    let mut t = c.lock();
                    t.p.script_done(now);
                    tm.table.reschedule(&c, &mut t);
                    Ok(RetCode::TRUE)
                }
                None => Ok(RetCode::FALSE),
            },
        ),
        f(
            "t_check_trans",
            &[],
            REQ_FAIL_BR.or(RouteMask::ONREPLY),
            "is there a transaction for this message (retransmissions are handled here)",
            t_check_trans,
        ),
        f(
            "t_lookup_request",
            &[],
            REQ,
            "is there a transaction for this request",
            |tm, ctx, _| {
                let class = method_class(ctx.msg);
                Ok(if find_for(tm, ctx, class).is_some() {
                    RetCode::TRUE
                } else {
                    RetCode::FALSE
                })
            },
        ),
        f(
            "t_lookup_cancel",
            &[],
            REQ,
            "is there an INVITE transaction for this CANCEL",
            |tm, ctx, _| {
                Ok(if lookup_invite(tm, ctx).is_some() {
                    RetCode::TRUE
                } else {
                    RetCode::FALSE
                })
            },
        ),
        f(
            "t_lookup_cancel",
            &[K::IntOrVar],
            REQ,
            "t_lookup_cancel()",
            |tm, ctx, _| {
                Ok(if lookup_invite(tm, ctx).is_some() {
                    RetCode::TRUE
                } else {
                    RetCode::FALSE
                })
            },
        ),
        f(
            "t_relay_cancel",
            &[],
            REQ,
            "relay a CANCEL whose INVITE transaction exists (0: handled)",
            |tm, ctx, _| match lookup_invite(tm, ctx) {
                Some(inv) => relay_cancel(tm, ctx, &inv),
                None => Ok(RetCode::TRUE),
            },
        ),
        f(
            "t_on_failure",
            &[K::Route(RouteKindRef::Failure)],
            REQ_FAIL_BR,
            "arm a failure_route",
            |_, ctx, a| {
                let r = route_arg(a);
                cur(ctx, |c| c.on_failure = r);
                Ok(RetCode::TRUE)
            },
        ),
        f(
            "t_on_reply",
            &[K::Route(RouteKindRef::OnReply)],
            REQ_FAIL_BR.or(RouteMask::TM_ONREPLY),
            "arm an onreply_route",
            |_, ctx, a| {
                let r = route_arg(a);
                cur(ctx, |c| c.on_reply = r);
                if let Some(cell) = cur_cell(ctx) {
                    let mut t = cell.lock();
                    t.on_reply = r;
                }
                Ok(RetCode::TRUE)
            },
        ),
        f(
            "t_on_branch_failure",
            &[K::Str],
            REQ_FAIL_BR.or(RouteMask::TM_ONREPLY),
            "arm event_route[tm:branch-failure:name] for the branches created next",
            t_on_branch_failure,
        ),
        f(
            "t_on_branch",
            &[K::Route(RouteKindRef::Branch)],
            REQ_FAIL,
            "arm a branch_route",
            |_, ctx, a| {
                let r = route_arg(a);
                cur(ctx, |c| c.on_branch = r);
                Ok(RetCode::TRUE)
            },
        ),
        f(
            "t_is_set",
            &[K::Str],
            TM_ANY,
            "is failure_route/branch_route/onreply_route armed",
            |_, ctx, a| {
                let what = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                let (fl, br, rp) = cur(ctx, |c| (c.on_failure, c.on_branch, c.on_reply));
                let set = match what.as_slice() {
                    b"failure_route" => fl.is_some(),
                    b"branch_route" => br.is_some(),
                    b"onreply_route" => rp.is_some(),
                    _ => return Err(Error::Runtime("t_is_set: unknown route type".into())),
                };
                Ok(if set { RetCode::TRUE } else { RetCode::FALSE })
            },
        ),
        f(
            "t_is_canceled",
            &[],
            TM_ANY,
            "was the INVITE transaction canceled",
            |_, ctx, _| {
                Ok(match cur_cell(ctx) {
                    Some(c) if c.lock().is_canceled() => RetCode::TRUE,
                    _ => RetCode::FALSE,
                })
            },
        ),
        f(
            "t_is_expired",
            &[],
            TM_ANY,
            "is the transaction past its lifetime",
            |tm, ctx, _| {
                Ok(match cur_cell(ctx) {
                    Some(c) if c.lock().p.end_of_life() <= tm.now() => RetCode::TRUE,
                    Some(_) => RetCode::FALSE,
                    None => RetCode(-1),
                })
            },
        ),
        f(
            "t_check_status",
            &[K::Regex],
            REQ_FAIL.or(RouteMask::ONREPLY),
            "does the reply status match the regex",
            t_check_status,
        ),
        f(
            "t_set_fr",
            &[K::IntOrVar],
            REQ_FAIL_BR,
            "set fr_inv_timer for this transaction (ms)",
            |tm, ctx, a| {
                let inv = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                set_fr(tm, ctx, inv, 0)
            },
        ),
        f(
            "t_set_fr",
            &[K::IntOrVar, K::IntOrVar],
            REQ_FAIL_BR,
            "set fr_inv_timer and fr_timer for this transaction (ms)",
            |tm, ctx, a| {
                let inv = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                let fr = a.get(1).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                set_fr(tm, ctx, inv, fr)
            },
        ),
        f(
            "t_reset_fr",
            &[],
            REQ_FAIL_BR,
            "back to the modparam values",
            |tm, ctx, _| {
                let c = tm.cfg().clone();
                set_fr(tm, ctx, i64::from(c.fr_inv_timer), i64::from(c.fr_timer))
            },
        ),
        f(
            "t_branch_timeout",
            &[],
            RouteMask::FAILURE.or(RouteMask::EVENT),
            "did the failed branch time out",
            |_, ctx, _| {
                let fl = cur(ctx, |c| c.failed);
                Ok(match fl {
                    Some((_, 408, true)) => RetCode::TRUE,
                    _ => RetCode::FALSE,
                })
            },
        ),
        f(
            "t_branch_replied",
            &[],
            RouteMask::FAILURE.or(RouteMask::EVENT),
            "did the failed branch get a reply",
            |_, ctx, _| {
                if ctx.route_type == RouteType::BranchFailure {
                    return Ok(if cur(ctx, |c| c.failed_replied) {
                        RetCode::TRUE
                    } else {
                        RetCode::FALSE
                    });
                }
                let fl = cur(ctx, |c| c.failed);
                let Some(cell) = cur_cell(ctx) else {
                    return Ok(RetCode::FALSE);
                };
                let t = cell.lock();
                Ok(match fl.and_then(|(b, _, _)| t.p.branch(b)) {
                    Some(b) if b.was_replied() => RetCode::TRUE,
                    _ => RetCode::FALSE,
                })
            },
        ),
        f(
            "t_any_timeout",
            &[],
            TM_ANY,
            "did any branch time out",
            |_, ctx, _| {
                let Some(cell) = cur_cell(ctx) else {
                    return Ok(RetCode::FALSE);
                };
                let t = cell.lock();
                let any = t.branches.iter().any(|b| {
                    b.reply
                        .as_ref()
                        .is_some_and(|r| r.code == 408 && r.received.is_empty())
                });
                Ok(if any { RetCode::TRUE } else { RetCode::FALSE })
            },
        ),
        f(
            "t_any_replied",
            &[],
            TM_ANY,
            "did any branch get a reply",
            |_, ctx, _| {
                let Some(cell) = cur_cell(ctx) else {
                    return Ok(RetCode::FALSE);
                };
                let t = cell.lock();
                let any = (0..t.p.branch_count()).any(|i| {
                    u8::try_from(i)
                        .ok()
                        .and_then(|i| t.p.branch(i))
                        .is_some_and(|b| b.was_replied())
                });
                Ok(if any { RetCode::TRUE } else { RetCode::FALSE })
            },
        ),
        f(
            "t_grep_status",
            &[K::IntOrVar],
            TM_ANY,
            "did any branch get this status",
            |_, ctx, a| {
                let code = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                let Some(cell) = cur_cell(ctx) else {
                    return Ok(RetCode::FALSE);
                };
                let t = cell.lock();
                let any = (0..t.p.branch_count()).any(|i| {
                    u8::try_from(i)
                        .ok()
                        .and_then(|i| t.p.branch(i))
                        .is_some_and(|b| i64::from(b.last_received()) == code)
                });
                Ok(if any { RetCode::TRUE } else { RetCode::FALSE })
            },
        ),
        f(
            "t_drop_replies",
            &[],
            RouteMask::FAILURE,
            "drop the stored replies",
            |_, ctx, _| drop_replies(ctx, FailureReplyMode::DropAll),
        ),
        f(
            "t_drop_replies",
            &[K::Str],
            RouteMask::FAILURE,
            "drop stored replies: a (all), l (last leg), n (none)",
            |_, ctx, a| {
                let m = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
                let mode = match m.as_slice() {
                    b"a" => FailureReplyMode::DropAll,
                    b"l" => FailureReplyMode::DropLastLeg,
                    b"n" => FailureReplyMode::KeepAll,
                    _ => return Err(Error::Runtime("t_drop_replies: mode is a, l or n".into())),
                };
                drop_replies(ctx, mode)
            },
        ),
        f(
            "t_save_lumps",
            &[],
            REQ,
            "keep the current changes for failure_route",
            |_, ctx, _| {
                if let Some(c) = cur_cell(ctx) {
                    let mut t = c.lock();
                    t.edits = Some(ctx.edits.clone());
                    t.state = ctx.state.clone();
                }
                Ok(RetCode::TRUE)
            },
        ),
        f(
            "t_set_disable_6xx",
            &[K::IntOrVar],
            REQ_FAIL_BR,
            "6xx replies do not cancel other branches",
            |_, ctx, a| {
                let on = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0) != 0;
                if let Some(c) = cur_cell(ctx) {
                    c.lock().p.set_disable_6xx(on);
                    return Ok(RetCode::TRUE);
                }
                Ok(RetCode::FALSE)
            },
        ),
        f(
            "t_set_disable_internal_reply",
            &[K::IntOrVar],
            REQ_FAIL_BR,
            "no internal negative reply when t_relay cannot send (the transaction lives on)",
            |_, ctx, a| {
                let on = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0) != 0;
                match cur_cell(ctx) {
                    Some(c) => c.lock().no_internal_reply = on,
                    None => cur(ctx, |c| c.no_internal_reply = Some(on)),
                }
                Ok(RetCode::TRUE)
            },
        ),
    ];
    v.extend([
        f(
            "t_exists",
            &[],
            TM_ANY,
            "does the message have a transaction (no lookup)",
            |_, ctx, _| {
                Ok(if cur_cell(ctx).is_some() {
                    RetCode::TRUE
                } else {
                    RetCode::FALSE
                })
            },
        ),
        f(
            "t_get_status_code",
            &[],
            TM_ANY,
            "status of the last final reply sent, or -1",
            |_, ctx, _| {
                Ok(match cur_cell(ctx).map(|c| c.lock().final_code) {
                    Some(c) if c > 0 => RetCode(i64::from(c)),
                    _ => RetCode(-1),
                })
            },
        ),
        f(
            "t_retransmit_reply",
            &[],
            REQ_FAIL,
            "send the last reply again",
            |tm, ctx, _| match cur_cell(ctx) {
                Some(c) => {
                    let t = c.lock();
                    match (&t.last_reply, tm.net.get()) {
                        (Some(r), Some(n)) => Ok(if n.send(&t.reply_dest, r).is_ok() {
                            RetCode::TRUE
                        } else {
                            RetCode::FALSE
                        }),
                        _ => Ok(RetCode::FALSE),
                    }
                }
                None => Ok(RetCode::FALSE),
            },
        ),
        f(
            "t_set_retr",
            &[K::IntOrVar, K::IntOrVar],
            REQ_FAIL_BR,
            "T1 and T2 for this transaction (ms, 0 = unchanged)",
            |tm, ctx, a| {
                let t1 = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                let t2 = a.get(1).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                set_retr(tm, ctx, t1, t2)
            },
        ),
        f(
            "t_reset_retr",
            &[],
            REQ_FAIL_BR,
            "T1 and T2 back to the modparams",
            |tm, ctx, _| {
                let c = tm.cfg().clone();
                set_retr(tm, ctx, i64::from(c.retr_timer1), i64::from(c.retr_timer2))
            },
        ),
        f(
            "t_set_max_lifetime",
            &[K::IntOrVar, K::IntOrVar],
            REQ_FAIL_BR,
            "lifetime of this transaction (INVITE, other; ms, 0 = unchanged)",
            |tm, ctx, a| {
                let inv = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                let non = a.get(1).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                set_lifetime(tm, ctx, inv, non)
            },
        ),
        f(
            "t_reset_max_lifetime",
            &[],
            REQ_FAIL_BR,
            "lifetime back to the modparams",
            |tm, ctx, _| {
                let c = tm.cfg().clone();
                set_lifetime(
                    tm,
                    ctx,
                    i64::from(c.max_inv_lifetime),
                    i64::from(c.max_noninv_lifetime),
                )
            },
        ),
        f(
            "t_set_auto_inv_100",
            &[K::IntOrVar],
            REQ,
            "100 Trying for the INVITE transaction about to be created (0/1)",
            |_, ctx, a| {
                let on = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(1) != 0;
                if cur_cell(ctx).is_some() {
                    return Ok(RetCode::FALSE);
                }
                cur(ctx, |c| c.auto_100 = Some(on));
                Ok(RetCode::TRUE)
            },
        ),
        f(
            "t_set_disable_failover",
            &[K::IntOrVar],
            REQ_FAIL_BR,
            "DNS failover: ferrosip has none (always disabled), so this only returns 1",
            |_, _, _| Ok(RetCode::TRUE),
        ),
    ]);
    v.extend([
        f(
            "t_load_contacts",
            &[],
            REQ_FAIL,
            "move the destination set into the contacts_avp XAVP by q value",
            |tm, ctx, _| Ok(RetCode(serial::load(ctx, &tm.serial_names(), 0))),
        ),
        f(
            "t_load_contacts",
            &[K::IntOrVar],
            REQ_FAIL,
            "t_load_contacts with mode 0 (standard) or 1 (proportional)",
            |tm, ctx, a| {
                let mode = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
                Ok(RetCode(serial::load(ctx, &tm.serial_names(), mode)))
            },
        ),
        f(
            "t_next_contacts",
            &[],
            REQ_FAIL,
            "the next q class of contacts_avp into the R-URI and branches (-2: none left)",
            |tm, ctx, _| Ok(RetCode(serial::next(ctx, &tm.serial_names()))),
        ),
        f(
            "t_next_contact_flow",
            &[],
            RouteMask::REQUEST.or(RouteMask::EVENT),
            "in the branch-failure route: the next contact_flows_avp flow of the failed branch's instance as a branch",
            |tm, ctx, _| {
                let instance = if ctx.route_type == RouteType::BranchFailure {
                    let idx = cur(ctx, |c| c.failed.map(|f| f.0));
                    cur_cell(ctx)
                        .zip(idx)
                        .and_then(|(c, i)| {
                            c.lock()
                                .branches
                                .get(usize::from(i))
                                .map(|b| b.instance.clone())
                        })
                        .unwrap_or_default()
                } else {
                    ctx.log_error(
                        "t_next_contact_flow: called t_get_this_branch_instance not in a branch_failure_route",
                    );
                    Vec::new()
                };
                Ok(RetCode(serial::next_flow(ctx, &tm.serial_names(), &instance)))
            },
        ),
    ]);
    // t_relay_to_udp/tcp([host, port]): t_relay with the transport forced.
    for (name, proto, doc0, doc2) in [
        (
            "t_relay_to_udp",
            Proto::Udp,
            "t_relay() over UDP",
            "t_relay(host, port) over UDP",
        ),
        (
            "t_relay_to_tcp",
            Proto::Tcp,
            "t_relay() over TCP",
            "t_relay(host, port) over TCP",
        ),
    ] {
        let (t0, t2) = (tm.clone(), tm.clone());
        v.push(
            FnExport::new(name, &[], REQ_FAIL, doc0).with(move |ctx, _| {
                let target = Target {
                    host: None,
                    proto: Some(proto),
                };
                t_relay(&t0, ctx, &target)
            }),
        );
        v.push(
            FnExport::new(name, &[K::Spve, K::IntOrVar], REQ_FAIL, doc2).with(move |ctx, a| {
                let target = host_target(ctx, a, Some(proto))?;
                t_relay(&t2, ctx, &target)
            }),
        );
    }
    let tu = tm.clone();
    v.push(
        FnExport::new(
            "t_uac_send",
            &[K::Spve; 6],
            RouteMask::ANY,
            "send a request on a new local transaction (method, R-URI, next hop, socket, headers, body)",
        )
        .with(move |ctx, a| {
            let mut p = [(); 6].map(|_| Vec::new());
            for (slot, arg) in p.iter_mut().zip(a) {
                *slot = arg.bytes(ctx);
            }
            let [method, ruri, nexthop, socket, headers, body] = p;
            let params = super::uac::UacParams {
                method,
                ruri,
                nexthop,
                socket,
                headers,
                body,
            };
            Ok(super::uac::t_uac_send(&tu, ctx, &params))
        }),
    );
    for (name, arity) in REFUSED {
        let kinds = vec![K::Spve; *arity];
        v.push(FnExport::new(name, &kinds, TM_ANY, "not implemented yet"));
    }
    v
}

fn host_target(ctx: &mut Ctx<'_>, a: &[Arg], proto: Option<Proto>) -> Result<Target, Error> {
    let host = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let port = a.get(1).map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
    let port = u16::try_from(port).map_err(|_| Error::Runtime("t_relay: bad port".into()))?;
    Ok(Target {
        host: Some((String::from_utf8_lossy(&host).into_owned(), port)),
        proto: proto.or(Some(Proto::Udp)),
    })
}

fn set_retr(tm: &Tm, ctx: &mut Ctx<'_>, t1: i64, t2: i64) -> Result<RetCode, Error> {
    let t1 = u32::try_from(t1).map_err(|_| Error::Runtime("t_set_retr: bad value".into()))?;
    let t2 = u32::try_from(t2).map_err(|_| Error::Runtime("t_set_retr: bad value".into()))?;
    let Some(c) = cur_cell(ctx) else {
        return Ok(RetCode::FALSE);
    };
    let mut t = c.lock();
    let r = t.p.set_retr(t1, t2);
    tm.table.reschedule(&c, &mut t);
    Ok(if r.is_ok() {
        RetCode::TRUE
    } else {
        RetCode::FALSE
    })
}

fn set_lifetime(tm: &Tm, ctx: &mut Ctx<'_>, inv: i64, non: i64) -> Result<RetCode, Error> {
    let bad = || Error::Runtime("t_set_max_lifetime: bad value".into());
    let inv = u32::try_from(inv).map_err(|_| bad())?;
    let non = u32::try_from(non).map_err(|_| bad())?;
    let Some(c) = cur_cell(ctx) else {
        return Ok(RetCode::FALSE);
    };
    let now = tm.now();
    let mut t = c.lock();
    let ms = if t.req.method() == Some(Method::Invite) {
        inv
    } else {
        non
    };
    if ms > 0 {
        t.p.set_max_lifetime(now, ms);
    }
    tm.table.reschedule(&c, &mut t);
    Ok(RetCode::TRUE)
}

fn set_fr(tm: &Tm, ctx: &mut Ctx<'_>, inv: i64, fr: i64) -> Result<RetCode, Error> {
    let inv = u32::try_from(inv).map_err(|_| Error::Runtime("t_set_fr: bad value".into()))?;
    let fr = u32::try_from(fr).map_err(|_| Error::Runtime("t_set_fr: bad value".into()))?;
    match cur_cell(ctx) {
        Some(c) => {
            let now = tm.now();
            let mut t = c.lock();
            t.p.set_fr(now, inv, fr);
            tm.table.reschedule(&c, &mut t);
        }
        None => cur(ctx, |c| c.fr = Some((inv, fr))),
    }
    Ok(RetCode::TRUE)
}

fn drop_replies(ctx: &mut Ctx<'_>, mode: FailureReplyMode) -> Result<RetCode, Error> {
    let Some(c) = cur_cell(ctx) else {
        return Ok(RetCode::FALSE);
    };
    let r = c.lock().p.drop_replies(mode);
    Ok(if r.is_ok() {
        RetCode::TRUE
    } else {
        RetCode::FALSE
    })
}

pub(super) fn t_reply(tm: &Tm, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let code = a.first().map(|x| x.int(ctx)).transpose()?.unwrap_or(0);
    let reason = a.get(1).map(|x| x.bytes(ctx)).unwrap_or_default();
    // In a reply route the reply goes upstream on the reply's transaction, as Kamailio's
    // t_reply there answers the transaction's request.
    let in_reply = !ctx.msg.is_request();
    let cell = match cur_cell(ctx) {
        Some(c) => Some(c),
        None if in_reply => reply_cell(tm, ctx),
        None => None,
    };
    let Some(cell) = cell else {
        ctx.log_error(
            "t_reply: cannot send a t_reply to a message for which no T-state has been established",
        );
        return Ok(RetCode::FALSE);
    };
    let status = u16::try_from(code)
        .ok()
        .and_then(|c| StatusCode::new(c).ok())
        .ok_or_else(|| Error::Runtime(format!("t_reply: invalid code {code}")))?;
    let now = tm.now();
    let mut actions = Vec::new();
    let mut t = cell.lock();
    // append_to_reply()'s headers and body go into the local reply (in a reply route, those of
    // the request, kept with the transaction).
    let lumps = match in_reply {
        true => (t.state.reply_hdrs.clone(), t.state.reply_body.clone()),
        false => (ctx.state.reply_hdrs.clone(), ctx.state.reply_body.clone()),
    };
    if let Err(e) = t.p.reply_locally(now, status, &mut actions) {
        drop(t);
        ctx.log_error(&format!("t_reply: {e}"));
        return Ok(RetCode::FALSE);
    }
    // A final reply being processed in a reply route ends its own branch: Kamailio does not
    // cancel that one (its last code is already the final one).
    if in_reply && ctx.msg.status().is_some_and(|c| c >= 200) {
        if let Some((_, b)) = reply_target(tm, ctx.msg) {
            actions.retain(|a| !matches!(a, Action::SendCancel { branch, .. } if *branch == b));
        }
    }
    PENDING_REASON.with(|r| *r.borrow_mut() = Some(reason));
    PENDING_LUMPS.with(|r| *r.borrow_mut() = Some(lumps));
    if code >= 180 && !in_reply {
        t.state.msg_flags |= ctx.state.msg_flags;
    }
    let fr = apply(tm, &cell, &mut t, &actions, None);
    PENDING_REASON.with(|r| *r.borrow_mut() = None);
    PENDING_LUMPS.with(|r| *r.borrow_mut() = None);
    tm.table.reschedule(&cell, &mut t);
    drop(t);
    if let Some(f) = fr {
        if ctx.route_type != RouteType::Failure {
            run_failure(tm, &cell, f, ctx.server, ctx.worker);
        }
    }
    if ctx.route_type != RouteType::Failure {
        flush_finals(tm, ctx.server, ctx.worker);
    }
    Ok(RetCode::TRUE)
}

/// `t_check_trans()`: for a CANCEL, whether its INVITE transaction exists; for an ACK, absorbs an
/// ACK to a negative reply (0) or says whether the INVITE transaction exists; for other requests,
/// a retransmission re-sends the last reply and stops the script (0); replies: whether they match.
fn t_check_trans(tm: &Tm, ctx: &mut Ctx<'_>, _a: &[Arg]) -> Result<RetCode, Error> {
    if !ctx.msg.is_request() {
        return Ok(if reply_cell(tm, ctx).is_some() {
            RetCode::TRUE
        } else {
            RetCode::FALSE
        });
    }
    if ctx.route_type == RouteType::Failure {
        return Ok(RetCode::TRUE);
    }
    match ctx.msg.method() {
        Some(Method::Cancel) => Ok(if lookup_invite(tm, ctx).is_some() {
            RetCode::TRUE
        } else {
            RetCode::FALSE
        }),
        Some(Method::Ack) => {
            let Some(cell) = find_for(tm, ctx, b"INVITE") else {
                return Ok(RetCode::FALSE);
            };
            let mut t = cell.lock();
            match t.p.on_ack() {
                Ok(ferrosip_siptxn::AckVerdict::Absorbed) => {
                    tm.table.reschedule(&cell, &mut t);
                    Ok(RetCode(0))
                }
                _ => Ok(RetCode::TRUE),
            }
        }
        _ => {
            if cur_cell(ctx).is_some() {
                return Ok(RetCode::TRUE);
            }
            let class = method_class(ctx.msg);
            match find_for(tm, ctx, class) {
                Some(cell) => {
                    retransmission(tm, &cell);
                    Ok(RetCode(0))
                }
                None => Ok(RetCode::FALSE),
            }
        }
    }
}

pub(super) fn reply_cell(tm: &Tm, ctx: &Ctx<'_>) -> Option<Arc<TxnCell>> {
    reply_target(tm, ctx.msg).map(|(cell, _)| cell)
}

fn t_check_status(_tm: &Tm, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let Some(Arg::Regex(re)) = a.first() else {
        return Err(Error::Runtime("t_check_status: bad regex".into()));
    };
    let code = match ctx.route_type {
        RouteType::Failure | RouteType::BranchFailure => cur(ctx, |c| c.failed.map(|f| f.1)),
        _ if !ctx.msg.is_request() => ctx.msg.status(),
        _ => cur_cell(ctx)
            .map(|c| c.lock().final_code)
            .filter(|c| *c > 0),
    };
    let Some(code) = code else {
        return Ok(RetCode::FALSE);
    };
    Ok(if re.is_match(code.to_string().as_bytes()) {
        RetCode::TRUE
    } else {
        RetCode::FALSE
    })
}

/// `t_on_branch_failure("name")`: arms `event_route[tm:branch-failure:name]` on the transaction
/// (or for the one about to be created); `"0"` or `""` disarms. A missing route arms nothing, as
/// Kamailio's empty route runs nothing.
fn t_on_branch_failure(_tm: &Tm, ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<RetCode, Error> {
    let name = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
    let route = if name.is_empty() || name == b"0" {
        None
    } else {
        let full = format!("tm:branch-failure:{}", String::from_utf8_lossy(&name));
        ctx.routes.as_ref().and_then(|r| r.event_route(&full))
    };
    match cur_cell(ctx) {
        Some(cell) => cell.lock().on_branch_failure = route,
        None => cur(ctx, |c| c.on_branch_failure = route),
    }
    Ok(RetCode::TRUE)
}
