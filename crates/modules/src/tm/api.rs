//! What the rest of the server and tmx see of tm ([`TmApi`]): the reply and end-of-script hooks,
//! the final-reply callbacks, and the transaction views behind tmx's `$T_*` variables.

use std::sync::Arc;

use ferrosip_api::{Ctx, RouteType};
use ferrosip_sipmsg::Msg;
use ferrosip_siptxn::StatusCode;

use super::table::{method_class, ReqKey};
use super::*;

impl TmApi {
    /// A reply arrived (after the core's `reply_route`): `true` when it belongs to one of our
    /// transactions (tm handled it; the core must not relay it statelessly).
    pub fn on_reply(&self, ctx: &mut Ctx<'_>) -> bool {
        self.tm.reap();
        on_reply(&self.tm, ctx)
    }

    /// request_route finished for the message in `ctx` (Kamailio's post-script `t_unref`).
    pub fn script_end(&self, ctx: &mut Ctx<'_>) {
        self.tm.reap();
        let (cell, pre) = CUR.with(|c| {
            let mut c = c.borrow_mut();
            let mine = c.msg_id == ctx.state.id;
            let cell = mine.then(|| c.cell.take()).flatten();
            let pre = mine.then(|| c.precheck.take()).flatten();
            *c = Cur::default();
            (cell, pre)
        });
        if let Some(k) = pre {
            self.tm
                .prechecks
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&k);
        }
        if let Some(cell) = cell {
            let now = self.tm.now();
            let mut t = cell.lock();
            if let Some(err) = t.delayed_error.take() {
                // Kamailio's t_unref: the error t_relay left becomes the transaction's reply.
                let (code, reason) = crate::sl::err2reason(err, "TM");
                let mut actions = Vec::new();
                if let Ok(st) = StatusCode::new(code) {
                    if t.p.reply_locally(now, st, &mut actions).is_ok() {
                        PENDING_REASON.with(|r| *r.borrow_mut() = Some(reason.into_bytes()));
                        let _ = apply(&self.tm, &cell, &mut t, &actions, None);
                        PENDING_REASON.with(|r| *r.borrow_mut() = None);
                    }
                }
                // The branches that could not be sent end now too.
                end_unsent_branches(&self.tm, &cell, &mut t, now);
            }
            if std::mem::take(&mut t.failed_silently) {
                // t_relay_to(…, 0x2) sent nothing: without a reply from the script the transaction
                // is released silently (what the branches' faked 503 selects is not sent), with
                // one the failed branches just end.
                if t.final_code == 0 {
                    t.replicated = true;
                }
                end_unsent_branches(&self.tm, &cell, &mut t, now);
            }
            t.p.script_done(now);
            self.tm.table.reschedule(&cell, &mut t);
            drop(t);
            flush_finals(&self.tm, ctx.server, ctx.worker);
        }
    }

    /// Registers a callback for the first final reply of every transaction (see
    /// [`FinalCallback`]).
    pub fn on_final_reply(&self, cb: FinalCallback) {
        self.tm
            .finals
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .push(cb);
    }

    /// Live transactions.
    pub fn len(&self) -> usize {
        self.tm.table.len()
    }

    /// What sl's `send_reply()` calls: `t_reply` when the message has a transaction.
    pub fn stateful_reply(&self) -> crate::sl::StatefulReply {
        let tm = self.tm.clone();
        Arc::new(move |ctx: &mut Ctx<'_>, code: i64, reason: &[u8]| {
            cur_cell(ctx)?;
            let args = [
                ferrosip_api::export::Arg::Int(code),
                ferrosip_api::export::Arg::Str(reason.to_vec()),
            ];
            Some(match funcs::t_reply(&tm, ctx, &args) {
                Ok(rc) => rc.0,
                Err(e) => {
                    ctx.log_error(&format!("send_reply: {e}"));
                    -1
                }
            })
        })
    }

    /// tmx `t_precheck_trans()`: true when another worker is processing the same request right
    /// now (a retransmission that arrived before the transaction exists) or its transaction
    /// exists; else the request is registered until its script ends.
    pub fn precheck(&self, ctx: &mut Ctx<'_>) -> bool {
        let Some(key) = ReqKey::of(ctx.msg, method_class(ctx.msg)) else {
            return false;
        };
        if self.tm.table.find(hash_of(ctx.msg), &key).is_some() {
            return true;
        }
        let mut set = self.tm.prechecks.lock().unwrap_or_else(|e| e.into_inner());
        if cur(ctx, |c| c.precheck.as_ref() == Some(&key)) {
            return false;
        }
        if !set.insert(key.clone()) {
            return true;
        }
        cur(ctx, |c| c.precheck = Some(key));
        false
    }

    /// `$T_branch_idx` as Kamailio's tmx computes it: the branch of a reply; in branch_route the
    /// branch being prepared; in request_route the number of appended branches; in failure_route
    /// the branches created so far plus those appended since; -1 elsewhere.
    pub fn branch_index(&self, ctx: &Ctx<'_>) -> i64 {
        if !ctx.msg.is_request() {
            return cur(ctx, |c| c.reply_branch.map_or(-1, i64::from));
        }
        let appended = ctx.state.branches.len() as i64;
        match ctx.route_type {
            RouteType::Branch | RouteType::BranchFailure => {
                cur(ctx, |c| c.branch_idx.map_or(-1, |i| i as i64))
            }
            // Kamailio: branches already created plus those appended since.
            RouteType::Failure => match cur_cell(ctx) {
                Some(cell) => cell.lock().branches.len() as i64 + appended,
                None => -1,
            },
            RouteType::Request => appended,
            _ => -1,
        }
    }

    /// `$T_reply_code` / `$T_reply_reason`: the reply of onreply_route, the winning reply of
    /// failure_route, else the last final reply sent; `None` without one.
    pub fn reply_status(&self, ctx: &Ctx<'_>) -> Option<(u16, Vec<u8>)> {
        if !ctx.msg.is_request() {
            let code = ctx.msg.status()?;
            let reason = ctx
                .msg
                .status_line()
                .map(|s| s.reason.of(ctx.msg.buf()).to_vec())
                .unwrap_or_default();
            return Some((code, reason));
        }
        let cell = cur_cell(ctx)?;
        let failed = cur(ctx, |c| c.failed);
        let t = cell.lock();
        match failed {
            Some((b, code, _)) => {
                let reason = t
                    .branches
                    .get(usize::from(b))
                    .and_then(|br| br.reply.as_ref())
                    .map_or_else(|| msgs::reason(code).to_vec(), |r| r.reason.clone());
                Some((code, reason))
            }
            None if t.final_code > 0 => {
                let reason = t
                    .last_reply
                    .as_ref()
                    .and_then(|r| Msg::parse(r.clone()).ok())
                    .and_then(|m| m.status_line().map(|s| s.reason.of(m.buf()).to_vec()))
                    .unwrap_or_default();
                Some((t.final_code, reason))
            }
            None => None,
        }
    }

    /// The request of the reply's transaction (`$T_req`: reply routes only, as in Kamailio), with
    /// its receive info.
    pub fn request(&self, ctx: &Ctx<'_>) -> Option<(Vec<u8>, ferrosip_api::RecvInfo)> {
        if ctx.msg.is_request()
            || !matches!(
                ctx.route_type,
                RouteType::TmOnReply | RouteType::CoreOnReply
            )
        {
            return None;
        }
        let cell = cur_cell(ctx).or_else(|| funcs::reply_cell(&self.tm, ctx))?;
        let t = cell.lock();
        Some((t.req.buf().to_vec(), t.rcv))
    }

    /// The reply that made failure_route run, as received (`$T_rpl`; `None` for a faked one).
    pub fn failed_reply(&self, ctx: &Ctx<'_>) -> Option<Vec<u8>> {
        if !matches!(
            ctx.route_type,
            RouteType::Failure | RouteType::BranchFailure
        ) {
            return None;
        }
        let (b, _, _) = cur(ctx, |c| c.failed)?;
        let cell = cur_cell(ctx)?;
        let t = cell.lock();
        t.branches
            .get(usize::from(b))
            .and_then(|br| br.reply.as_ref())
            .map(|r| r.received.clone())
            .filter(|r| !r.is_empty())
    }

    /// tmx `t_flush_flags()`: the message flags become the transaction's.
    pub fn flush_flags(&self, ctx: &Ctx<'_>) -> bool {
        let Some(cell) = cur_cell(ctx) else {
            return false;
        };
        cell.lock().state.flags = ctx.state.flags;
        true
    }

    /// No live transaction.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The module's counters.
    pub fn stats(&self) -> &TmStats {
        &self.tm.stats
    }

    /// The INVITE transaction's request for the CANCEL in `ctx` (`$T_inv`: request_route only, as
    /// in Kamailio), with its receive info.
    pub fn invite_of_cancel(&self, ctx: &Ctx<'_>) -> Option<(Vec<u8>, ferrosip_api::RecvInfo)> {
        if ctx.route_type != RouteType::Request {
            return None;
        }
        let cell = lookup_invite(&self.tm, ctx)?;
        let t = cell.lock();
        Some((t.req.buf().to_vec(), t.rcv))
    }

    /// `$T_reply_last`: in onreply_route, the last code received on the reply's branch — this
    /// reply's when it is higher (Kamailio raises the branch's code for the route's duration).
    pub fn reply_last(&self, ctx: &Ctx<'_>) -> Option<u16> {
        if ctx.route_type != RouteType::TmOnReply {
            return None;
        }
        let b = cur(ctx, |c| c.reply_branch)?;
        let cell = cur_cell(ctx)?;
        let t = cell.lock();
        let last = t.p.branch(b).map(|c| c.last_received())?;
        Some(last.max(ctx.msg.status().unwrap_or(0)))
    }

    /// The branch `$T_branch(…)` looks at: the failed one (failure routes), the reply's
    /// (onreply_route).
    fn view_branch(&self, ctx: &Ctx<'_>) -> Option<u8> {
        match ctx.route_type {
            RouteType::Failure | RouteType::BranchFailure => cur(ctx, |c| c.failed.map(|f| f.0)),
            RouteType::TmOnReply => cur(ctx, |c| c.reply_branch),
            _ => None,
        }
    }

    /// `$T_branch(flags)`: the branch flags of that branch.
    pub fn branch_flags(&self, ctx: &Ctx<'_>) -> Option<u32> {
        let b = self.view_branch(ctx)?;
        let cell = cur_cell(ctx)?;
        let t = cell.lock();
        t.branches.get(usize::from(b)).map(|x| x.bflags)
    }

    /// `$T_branch(uri)`: the R-URI of the reply's branch (onreply_route only).
    pub fn branch_uri(&self, ctx: &Ctx<'_>) -> Option<Vec<u8>> {
        if ctx.route_type != RouteType::TmOnReply {
            return None;
        }
        let b = self.view_branch(ctx)?;
        let cell = cur_cell(ctx)?;
        let t = cell.lock();
        t.branches.get(usize::from(b)).map(|x| x.uri.clone())
    }

    /// `$T(id_index)` / `$T(id_label)`: the transaction's hash index and label (`create`: make
    /// the transaction first, as `id_index_n`/`id_label_n` do in request_route).
    pub fn ids(&self, ctx: &mut Ctx<'_>, create: bool) -> Option<(u32, u32)> {
        if let Some(c) = cur_cell(ctx) {
            return Some((c.hash, c.label));
        }
        if !create || ctx.route_type != RouteType::Request || !ctx.msg.is_request() {
            return None;
        }
        match new_txn(&self.tm, ctx) {
            Ok(NewTxn::Created(c)) => Some((c.hash, c.label)),
            _ => None,
        }
    }

    /// `$T(reply_type)`: 1 when the reply that made failure_route run was faked here.
    pub fn reply_type(&self, ctx: &Ctx<'_>) -> Option<i64> {
        cur_cell(ctx)?;
        if ctx.route_type != RouteType::Failure {
            return Some(0);
        }
        Some(i64::from(cur(ctx, |c| c.failed).is_some_and(
            |(b, _, _)| {
                cur_cell(ctx).is_some_and(|cell| {
                    cell.lock()
                        .branches
                        .get(usize::from(b))
                        .and_then(|x| x.reply.as_ref())
                        .is_some_and(|r| r.received.is_empty())
                })
            },
        )))
    }

    /// tmx `t_reply_callid(callid, cseq, code, reason)`: replies on the INVITE transaction with
    /// that Call-ID and CSeq number (Kamailio's `t_lookup_callid` + `t_reply_trans`). 1 when
    /// replied, -1 when there is no such transaction or the reply cannot be sent.
    pub fn reply_callid(
        &self,
        ctx: &mut Ctx<'_>,
        callid: &[u8],
        cseq: &[u8],
        code: i64,
        reason: &[u8],
    ) -> i64 {
        let tm = &self.tm;
        tm.learn(ctx);
        let found = invite_by_callid(tm, callid, cseq);
        let Some(cell) = found else {
            return -1;
        };
        let Some(status) = u16::try_from(code)
            .ok()
            .and_then(|c| StatusCode::new(c).ok())
        else {
            return -1;
        };
        let now = tm.now();
        let mut actions = Vec::new();
        let fr = {
            let mut t = cell.lock();
            if t.p.reply_locally(now, status, &mut actions).is_err() {
                return -1;
            }
            PENDING_REASON.with(|r| *r.borrow_mut() = Some(reason.to_vec()));
            let fr = apply(tm, &cell, &mut t, &actions, None);
            PENDING_REASON.with(|r| *r.borrow_mut() = None);
            tm.table.reschedule(&cell, &mut t);
            fr
        };
        if let Some(f) = fr {
            run_failure(tm, &cell, f, ctx.server, ctx.worker);
        }
        flush_finals(tm, ctx.server, ctx.worker);
        1
    }

    /// tmx `t_cancel_callid(callid, cseq, flag[, rcode])`: cancels the branches of the INVITE
    /// transaction with that Call-ID and CSeq number as `tm.cancel` does (Kamailio's
    /// `cancel_uacs` with `F_CANCEL_LOCAL`), after setting message flag `flag` (1..31) on the
    /// transaction; `rcode` 100..699 becomes the CANCELs' `Reason` cause. -1 when there is no
    /// such transaction.
    pub fn cancel_callid(
        &self,
        ctx: &mut Ctx<'_>,
        callid: &[u8],
        cseq: &[u8],
        flag: i64,
        rcode: i64,
    ) -> i64 {
        let tm = &self.tm;
        tm.learn(ctx);
        let Some(cell) = invite_by_callid(tm, callid, cseq) else {
            return -1;
        };
        if (1..32).contains(&flag) {
            cell.lock().state.flags |= 1u32 << flag;
        }
        let reason = match rcode {
            _ if !tm.cancel_reasons().local => None,
            200 => Some(b"Reason: SIP;cause=200;text=\"Call completed elsewhere\"\r\n".to_vec()),
            100..=699 => Some(format!("Reason: SIP;cause={rcode}\r\n").into_bytes()),
            _ => None,
        };
        uac::cancel_local(tm, &cell, reason, ctx.server, ctx.worker);
        1
    }

    /// tmx `t_cancel_branches(which)` in onreply_route: cancels the pending branches of the
    /// reply's INVITE transaction — `all` (all but the reply's own when the reply is final),
    /// `others` (all but the reply's), `this` (the reply's, for a provisional reply) — as
    /// Kamailio's `cancel_uacs` with `F_CANCEL_LOCAL`: a branch with a provisional reply gets a
    /// CANCEL without Reason, one without any reply stops retransmitting and waits for its
    /// timeout; the transaction is not marked canceled. 1 when some branch was pending, else -1.
    pub fn cancel_branches(&self, ctx: &mut Ctx<'_>, which: CancelWhich) -> i64 {
        let tm = &self.tm;
        if ctx.route_type != RouteType::TmOnReply {
            return -1;
        }
        let (Some(cell), Some(idx)) = (cur_cell(ctx), cur(ctx, |c| c.reply_branch)) else {
            return -1;
        };
        let final_reply = ctx.msg.status().is_some_and(|c| c >= 200);
        let mut sent = Vec::new();
        let any = {
            let mut t = cell.lock();
            if t.req.method() != Some(Method::Invite) {
                return -1;
            }
            let chosen: Vec<u8> = (0..t.branches.len())
                .filter_map(|i| u8::try_from(i).ok())
                .filter(|&i| match which {
                    CancelWhich::All => !(final_reply && i == idx),
                    CancelWhich::Others => i != idx,
                    CancelWhich::This => !final_reply && i == idx,
                })
                .filter(|&i| {
                    // Kamailio's prepare_cancel_branch: no final reply yet, not canceled yet.
                    t.p.branch(i).is_some_and(|c| {
                        c.is_pending()
                            && matches!(c.cancel_state(), ferrosip_siptxn::CancelState::None)
                    }) && t
                        .branches
                        .get(usize::from(i))
                        .is_some_and(|b| b.cancel.is_none() && !b.retr_stopped)
                })
                .collect();
            for &i in &chosen {
                let replied = t.p.branch(i).is_some_and(|c| c.last_received() >= 100);
                let Some(b) = t.branches.get_mut(usize::from(i)) else {
                    continue;
                };
                b.retr_stopped = true;
                if replied {
                    if let Some(c) = msgs::derive(&b.sent.bytes, b"CANCEL", None, b"") {
                        sent.push((c.clone(), b.sent.dest));
                        b.cancel = Some(c);
                    }
                }
            }
            !chosen.is_empty()
        };
        uac::notify_local_cancels(tm, sent.clone(), ctx.server, ctx.worker);
        // Sent when the reply being handled is done with (see DEFERRED_CANCELS).
        DEFERRED_CANCELS.with(|d| d.borrow_mut().extend(sent));
        if any {
            1
        } else {
            -1
        }
    }

    /// tmx `t_drop([rcode])`: the transaction's status becomes `rcode` without a reply being
    /// sent, nothing it receives or generates afterwards goes upstream, and it is released; 0
    /// (the script stops). -1 without a transaction.
    pub fn drop_txn(&self, ctx: &mut Ctx<'_>, rcode: i64) -> i64 {
        let Some(cell) = cur_cell(ctx) else {
            ctx.log_error("t_drop: no transaction");
            return -1;
        };
        let now = self.tm.now();
        let mut t = cell.lock();
        // Kamailio sets the UAS status (t_get_status_code sees it) and releases the transaction.
        t.final_code = u16::try_from(rcode).unwrap_or(500);
        t.final_local = true;
        t.replicated = true;
        t.delayed_error = None;
        t.p.script_done(now);
        self.tm.table.reschedule(&cell, &mut t);
        0
    }

    /// tmx `t_flush_xflags()`: the message's extended flags (corex `setxflag`) become the
    /// transaction's.
    pub fn flush_xflags(&self, ctx: &mut Ctx<'_>) -> bool {
        let Some(cell) = cur_cell(ctx) else {
            ctx.log_error("t_flush_xflags: failed to flush flags - no transaction found");
            return false;
        };
        let x = ctx.state.xavps.get(XFLAGS).cloned();
        let mut t = cell.lock();
        match x {
            Some(v) => {
                t.state.xavps.insert(XFLAGS.to_vec(), v);
            }
            None => {
                t.state.xavps.remove(XFLAGS);
            }
        }
        true
    }

    /// tmx `t_reuse_branch()` in the branch-failure route: the failed branch's R-URI, branch
    /// flags and `+sip.instance` become the R-URI branch's (so a `t_relay()` there sends it
    /// again). -1 elsewhere, and — ferrosip's R-URI branch has no Path vector — when the failed
    /// branch was sent with a Path.
    pub fn reuse_branch(&self, ctx: &mut Ctx<'_>) -> i64 {
        if ctx.route_type != RouteType::BranchFailure {
            ctx.log_error("t_reuse_branch: unsupported route_type");
            return -1;
        }
        let Some(cell) = cur_cell(ctx) else {
            ctx.log_error("t_reuse_branch: no transaction");
            return -1;
        };
        let Some(idx) = cur(ctx, |c| c.failed.map(|f| f.0)) else {
            return -1;
        };
        let Some((uri, bflags, instance, path)) = cell
            .lock()
            .branches
            .get(usize::from(idx))
            .map(|b| (b.uri.clone(), b.bflags, b.instance.clone(), b.path.clone()))
        else {
            return -1;
        };
        if !path.is_empty() {
            ctx.log_error(
                "t_reuse_branch: the failed branch has a Path, which the R-URI branch cannot carry",
            );
            return -1;
        }
        ctx.state.new_uri = Some(uri);
        // Kamailio's rewrite_uri marks the R-URI new even when the value is the same: t_relay()
        // sends it again.
        cur(ctx, |c| c.ruri_at_start = None);
        ctx.state.bflags = bflags;
        if instance.is_empty() {
            ctx.state.xavps.remove(serial::RURI_INSTANCE);
        } else {
            ctx.state.xavps.insert(
                serial::RURI_INSTANCE.to_vec(),
                vec![vec![(
                    b"instance".to_vec(),
                    ferrosip_api::Value::Str(instance),
                )]],
            );
        }
        1
    }

    /// tmx statistics, as Kamailio's tmx computes them from tm's counters.
    pub fn counters(&self) -> TmxCounters {
        let s = &self.tm.stats;
        let g = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let cells = self.tm.table.cells();
        let waiting = cells
            .iter()
            .filter(|c| c.lock().p.server().is_on_wait())
            .count() as u64;
        TmxCounters {
            created: g(&s.created),
            local: g(&s.local_created),
            freed: g(&s.freed),
            current: cells.len() as u64,
            waiting,
            rpl_received: g(&s.rpl_received),
            rpl_relayed: g(&s.relayed_replies),
            rpl_generated: g(&s.local_replies),
            completed: [
                g(&s.replies_2xx),
                g(&s.replies_3xx),
                g(&s.replies_4xx),
                g(&s.replies_5xx),
                g(&s.replies_6xx),
            ],
        }
    }
}

/// Which branches `t_cancel_branches` cancels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CancelWhich {
    /// `all`: every pending branch (but the reply's own when the reply is final).
    All,
    /// `others`: every pending branch but the reply's.
    Others,
    /// `this`: the reply's branch (a provisional reply's only).
    This,
}

/// A snapshot of tm's counters for tmx's statistics.
#[derive(Debug, Clone, Copy, Default)]
pub struct TmxCounters {
    /// Transactions created (Kamailio's `transactions`; tmx `UAS_transactions`).
    pub created: u64,
    /// Of those, started here (t_uac_send, tm.t_uac_*).
    pub local: u64,
    /// Transactions freed.
    pub freed: u64,
    /// Live transactions.
    pub current: u64,
    /// Live transactions in the wait state.
    pub waiting: u64,
    /// Replies received for our branches.
    pub rpl_received: u64,
    /// Replies relayed upstream.
    pub rpl_relayed: u64,
    /// Replies generated here.
    pub rpl_generated: u64,
    /// Final replies sent upstream by class 2xx … 6xx.
    pub completed: [u64; 5],
}

/// Ends every branch of `t` that was not sent (Kamailio: a branch whose send failed gets its
/// faked reply) and applies what the state machine does with that.
fn end_unsent_branches(tm: &Tm, cell: &Arc<TxnCell>, t: &mut Txn, now: Time) {
    let failed: Vec<u8> = (0..t.p.branch_count())
        .filter_map(|i| u8::try_from(i).ok())
        .collect();
    let mut more = Vec::new();
    for b in failed {
        let _ = t.p.send_failed(now, b, &mut more);
    }
    let _ = apply(tm, cell, t, &more, None);
}

/// Where corex keeps a message's extended flags (`setxflag`): its private XAVP (the name must
/// stay corex's `XFLAGS`).
const XFLAGS: &[u8] = b"\0xflags";

/// The INVITE transaction with this Call-ID and CSeq number (Kamailio's `t_lookup_callid`).
fn invite_by_callid(tm: &Tm, callid: &[u8], cseq: &[u8]) -> Option<Arc<TxnCell>> {
    let hash = ferrosip_sipmsg::branch::hash_index(callid, cseq);
    tm.table.bucket(hash).into_iter().find(|c| {
        let t = c.lock();
        let buf = t.req.buf();
        t.req.call_id().is_ok_and(|s| s.of(buf) == callid)
            && t.req.cseq().is_ok_and(|q| {
                q.number_span.of(buf) == cseq
                    && q.method_span.of(buf).eq_ignore_ascii_case(b"INVITE")
            })
    })
}
