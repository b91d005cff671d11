//! The routes tm runs on its own: failure_route and `event_route[tm:branch-failure:…]`, each on a
//! faked request (the transaction's request with the script state saved at `t_relay`), with the
//! transaction unlocked.

use std::cell::RefCell;
use std::sync::Arc;

use ferrosip_api::{Ctx, RouteType, Server, WorkerState};

use super::table::{Txn, TxnCell};
use super::*;

/// Runs failure_route for `cell` (the cell unlocked), then lets the state machine go on; repeats
/// while the machine asks for another run (`failure_reply_mode` 0).
pub(super) fn run_failure(
    tm: &Tm,
    cell: &Arc<TxnCell>,
    mut f: FailureRun,
    server: &mut dyn Server,
    worker: &mut WorkerState,
) {
    // Branch-failure routes due for the same replies run first, as in Kamailio.
    run_branch_failures(tm, server, worker);
    let saved_cur = CUR.with(|c| std::mem::take(&mut *c.borrow_mut()));
    for _ in 0..64 {
        let (route, req, mut state, edits, rcv) = {
            let mut t = cell.lock();
            t.failed_branch = Some(f);
            (
                t.on_failure.take(),
                t.req.clone(),
                t.state.clone(),
                t.edits.clone(),
                t.rcv,
            )
        };
        let mut msg = req;
        if let (Some(route), Some(runner)) = (route, tm.routes.get().cloned()) {
            if let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::Failure, rcv, worker, server) {
                state.branches.clear();
                state.dst_uri = None;
                ctx.state = state;
                if let Some(e) = edits {
                    ctx.edits = e;
                }
                ctx.routes = Some(runner.clone());
                CUR.with(|c| {
                    *c.borrow_mut() = Cur {
                        msg_id: ctx.state.id,
                        cell: Some(cell.clone()),
                        failed: Some(f),
                        ruri_at_start: ctx.state.new_uri.clone(),
                        ..Cur::default()
                    }
                });
                if let Err(e) = runner.run(route, &mut ctx) {
                    ctx.log_error(&format!("failure_route: {e}"));
                }
                // Kamailio copies the flags of the faked request back to the transaction; its
                // AVPs and XAVPs are the transaction's (what t_next_contacts consumed stays
                // consumed for the next failure_route).
                {
                    let mut t = cell.lock();
                    t.state.flags = ctx.state.flags;
                    t.state.bflags = ctx.state.bflags;
                    t.state.avps = std::mem::take(&mut ctx.state.avps);
                    t.state.xavps = std::mem::take(&mut ctx.state.xavps);
                }
                // t_on_failure() called in the failure_route without a new t_relay(): keep it
                // armed for the branches added later (Kamailio re-arms on the transaction).
                let rearm = CUR.with(|c| c.borrow().on_failure);
                if rearm.is_some() {
                    let mut t = cell.lock();
                    t.on_failure = rearm;
                    t.p.set_on_failure(true);
                }
            }
        }
        let now = tm.now();
        let mut actions = Vec::new();
        let next = {
            let mut t = cell.lock();
            if t.p.failure_route_done(now, &mut actions).is_err() {
                tm.table.reschedule(cell, &mut t);
                break;
            }
            let n = apply(tm, cell, &mut t, &actions, None);
            tm.table.reschedule(cell, &mut t);
            n
        };
        match next {
            Some(n) => f = n,
            None => break,
        }
    }
    CUR.with(|c| *c.borrow_mut() = saved_cur);
}

/// A branch-failure route to run: the branch, its negative final code, the event route, and the
/// faked request's `FL_TIMEOUT` / `FL_REPLIED` (`t_branch_timeout`, `t_branch_replied`).
#[derive(Debug, Clone, Copy)]
pub(super) struct BranchFailure {
    pub branch: u8,
    pub code: u16,
    pub route: usize,
    pub timeout: bool,
    pub replied: bool,
}

thread_local! {
    /// Branch-failure routes found due while a transaction was locked (a faked 408 or 487 from
    /// the state machine), run by [`run_branch_failures`] once it is unlocked.
    static BRANCH_FAILS: RefCell<Vec<(Arc<TxnCell>, BranchFailure)>> =
        const { RefCell::new(Vec::new()) };
}

/// The route to run when branch `b` gets the negative final `code` — Kamailio's condition in
/// `t_should_relay_response`: no final reply sent upstream yet, the branch not finished before
/// (`check_received`: for a received reply; a faked one was decided by the state machine), a
/// route armed on the branch. Taken, so a retransmitted reply does not run it again.
pub(super) fn branch_failure_due(
    t: &mut Txn,
    b: u8,
    code: u16,
    check_received: bool,
) -> Option<usize> {
    if code < 300 || t.final_code != 0 {
        return None;
    }
    if check_received && t.p.branch(b).is_some_and(|c| c.last_received() >= 200) {
        return None;
    }
    let route = t
        .branches
        .get_mut(usize::from(b))?
        .on_branch_failure
        .take()?;
    // Kamailio clears the transaction's too: branches added later need a new t_on_branch_failure.
    t.on_branch_failure = None;
    Some(route)
}

/// Queues a branch-failure run found inside [`apply`] (the transaction is locked there).
pub(super) fn queue_branch_failure(cell: &Arc<TxnCell>, run: BranchFailure) {
    BRANCH_FAILS.with(|q| q.borrow_mut().push((cell.clone(), run)));
}

/// Whether branch-failure runs are queued on this thread.
pub(super) fn branch_failures_queued() -> bool {
    BRANCH_FAILS.with(|q| !q.borrow().is_empty())
}

/// Runs the queued branch-failure routes (no transaction locked).
pub(super) fn run_branch_failures(tm: &Tm, server: &mut dyn Server, worker: &mut WorkerState) {
    // Bounded: a route cannot queue more than the branches of its transaction.
    for _ in 0..64 {
        let queued = BRANCH_FAILS.with(|q| std::mem::take(&mut *q.borrow_mut()));
        if queued.is_empty() {
            return;
        }
        for (cell, run) in queued {
            run_branch_failure(tm, &cell, &run, server, worker);
        }
    }
}

/// Runs `event_route[tm:branch-failure:…]` for one failed branch on the faked request (the
/// request with the state saved at `t_relay`, `$du` and the branch set cleared, the branch's
/// flags), with the route type Kamailio sets (`BRANCH_FAILURE_ROUTE`); message flags changed
/// there become the transaction's.
pub(super) fn run_branch_failure(
    tm: &Tm,
    cell: &Arc<TxnCell>,
    run: &BranchFailure,
    server: &mut dyn Server,
    worker: &mut WorkerState,
) {
    let Some(runner) = tm.routes.get().cloned() else {
        return;
    };
    let (mut msg, mut state, edits, rcv) = {
        let t = cell.lock();
        let mut state = t.state.clone();
        if let Some(b) = t.branches.get(usize::from(run.branch)) {
            state.bflags = b.bflags;
        }
        (t.req.clone(), state, t.edits.clone(), t.rcv)
    };
    let saved_cur = CUR.with(|c| std::mem::take(&mut *c.borrow_mut()));
    if let Ok(mut ctx) = Ctx::new(&mut msg, RouteType::BranchFailure, rcv, worker, server) {
        state.branches.clear();
        state.dst_uri = None;
        ctx.state = state;
        if let Some(e) = edits {
            ctx.edits = e;
        }
        ctx.routes = Some(runner.clone());
        CUR.with(|c| {
            *c.borrow_mut() = Cur {
                msg_id: ctx.state.id,
                cell: Some(cell.clone()),
                failed: Some((run.branch, run.code, run.timeout)),
                failed_replied: run.replied,
                branch_idx: Some(usize::from(run.branch)),
                ruri_at_start: ctx.state.new_uri.clone(),
                ..Cur::default()
            }
        });
        if let Err(e) = runner.run(run.route, &mut ctx) {
            ctx.log_error(&format!("branch-failure route: {e}"));
        }
        // Flags, AVPs and XAVPs are the transaction's (a flow taken by t_next_contact_flow
        // stays taken for the next run).
        let mut t = cell.lock();
        t.state.flags = ctx.state.flags;
        t.state.avps = std::mem::take(&mut ctx.state.avps);
        t.state.xavps = std::mem::take(&mut ctx.state.xavps);
    }
    CUR.with(|c| *c.borrow_mut() = saved_cur);
}
