//! tm's timer thread: advances the wheel every tick, runs retransmissions, timeouts and the
//! routes they trigger, and gives freed heap back to the system after a burst.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use ferrosip_api::WorkerState;
use ferrosip_siptxn::{Time, TimerId};

use super::*;

/// Gives the memory of finished transactions back to the system once the table has stayed empty
/// for a while after a burst (glibc keeps freed heap in its arenas otherwise: after 60,000 calls at
/// 1,000/s the RSS stayed 40 MB above its start with an empty table). At most every 10 s.
#[derive(Default)]
struct Trim {
    /// The table held transactions since the last trim.
    busy: bool,
    /// When it was last seen non-empty.
    last_busy: u64,
    last_trim: u64,
    /// Trims done (tests).
    trims: u32,
}

impl Trim {
    fn tick(&mut self, now: Time, empty: bool) {
        if !empty {
            self.busy = true;
            self.last_busy = now.ms();
            return;
        }
        let idle = now.ms().saturating_sub(self.last_busy);
        if self.busy && idle >= 1000 && now.ms().saturating_sub(self.last_trim) >= 10_000 {
            self.busy = false;
            self.last_trim = now.ms();
            self.trims += 1;
            release_free_memory();
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn release_free_memory() {
    // SAFETY: malloc_trim only walks glibc's own arenas; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// The timer thread: advances the wheel every `tick` and runs what is due.
pub(super) fn timer_loop(tm: Arc<Tm>, tick: Duration) {
    let mut fired = Vec::new();
    let mut worker = WorkerState::default();
    let mut trim = Trim::default();
    let mut reaps = 0;
    while !tm.stop.load(Ordering::Relaxed) {
        std::thread::sleep(tick);
        let now = tm.now();
        trim.tick(now, tm.table.is_empty());
        fired.clear();
        tm.table.due(now, &mut fired);
        for (id, weak) in fired.drain(..) {
            let Some(cell) = weak.upgrade() else { continue };
            fire(&tm, id, &cell, &mut worker, now);
            tm.bury(cell);
        }
        reaps = tm.reap_idle(reaps);
    }
}

/// One due timer of `cell`: branch-failure routes, the state machine's timer step, failure_route.
fn fire(tm: &Arc<Tm>, id: TimerId, cell: &Arc<TxnCell>, worker: &mut WorkerState, now: Time) {
    {
        let early = {
            let mut t = cell.lock();
            if t.timer.map(|(i, _)| i) != Some(id) {
                return;
            }
            early_branch_failures(&mut t, now)
        };
        if !early.is_empty() {
            if let Some(net) = tm.net.get().cloned() {
                if let Ok(mut server) = net.server() {
                    for run in &early {
                        routes::run_branch_failure(tm, cell, run, server.as_mut(), worker);
                    }
                }
            }
        }
        let mut actions = Vec::new();
        let fr = {
            let mut t = cell.lock();
            if t.timer.map(|(i, _)| i) != Some(id) {
                return;
            }
            t.timer = None;
            t.p.on_timer(now, &mut actions);
            let fr = apply(tm, cell, &mut t, &actions, None);
            tm.table.reschedule(cell, &mut t);
            fr
        };
        if let Some(f) = fr {
            let Some(net) = tm.net.get().cloned() else {
                return;
            };
            let Ok(mut server) = net.server() else {
                return;
            };
            run_failure(tm, cell, f, server.as_mut(), worker);
            flush_finals(tm, server.as_mut(), worker);
        } else if FINALS.with(|q| !q.borrow().is_empty()) || routes::branch_failures_queued() {
            if let Some(net) = tm.net.get().cloned() {
                if let Ok(mut server) = net.server() {
                    flush_finals(tm, server.as_mut(), worker);
                }
            }
        }
    }
}

/// The branch-failure routes this timer event will make due (a branch timing out while one is
/// armed on it), taken from the branches so they run once. Kamailio runs the route for a faked
/// 408 before the reply selection, so a branch it adds (`append_branch()` + `t_relay()`) keeps
/// the transaction going; the state machine selects in the same step as it fakes the reply, so
/// the step is tried on a copy first and the routes run before the real one.
fn early_branch_failures(t: &mut Txn, now: Time) -> Vec<routes::BranchFailure> {
    if t.final_code != 0 || t.branches.iter().all(|b| b.on_branch_failure.is_none()) {
        return Vec::new();
    }
    let mut probe = t.p.clone();
    let mut actions = Vec::new();
    probe.on_timer(now, &mut actions);
    let mut runs = Vec::new();
    for a in &actions {
        if let Action::FakedReply { branch, status } = *a {
            if let Some(route) = routes::branch_failure_due(t, branch, status.code(), false) {
                runs.push(routes::BranchFailure {
                    branch,
                    code: status.code(),
                    route,
                    timeout: status.code() == 408,
                    replied: t.p.branch(branch).is_some_and(|b| b.was_replied()),
                });
            }
        }
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_released_after_bursts_at_most_every_10_s() {
        let mut t = Trim::default();
        // (now ms, table empty, trims so far)
        let steps: &[(u64, bool, u32)] = &[
            (0, true, 0), // idle from the start: nothing to give back
            (5_000, true, 0),
            (10_000, false, 0), // a burst
            (10_500, true, 0),  // empty for 0.5 s only
            (11_100, true, 1),  // 1.1 s: trimmed
            (11_200, true, 1),  // once per burst
            (12_000, false, 1),
            (13_500, true, 1), // idle, but the last trim was 2.4 s ago
            (21_200, true, 2),
        ];
        for (now, empty, want) in steps {
            t.tick(Time(*now), *empty);
            assert_eq!(t.trims, *want, "at {now} ms");
        }
    }
}
