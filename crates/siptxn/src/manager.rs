//! A single-threaded driver joining the [`Table`], the [`TimerWheel`] and
//! [`ProxyTxn`]: it keeps exactly one wheel entry per transaction, at its
//! next deadline, and removes transactions once they are freed.
//!
//! The tm module may shard several of these behind locks, or keep the wheel
//! on its timer thread and use the pieces directly; this type shows the
//! contract and is what the property tests drive.

use crate::proxy::ProxyTxn;
use crate::table::{Handle, Table};
use crate::types::{Action, Time, TmConfig, Transport, TxnKind};
use crate::wheel::{TimerId, TimerWheel};
use crate::Error;

#[derive(Debug, Clone)]
struct Cell {
    txn: ProxyTxn,
    timer: Option<(TimerId, Time)>,
}

/// Transactions plus their timers.
#[derive(Debug, Clone)]
pub struct TxnManager {
    cfg: TmConfig,
    table: Table<Cell>,
    wheel: TimerWheel<Handle>,
    fired: Vec<(TimerId, Handle)>,
    actions: Vec<Action>,
}

impl TxnManager {
    /// A manager whose clock starts at `now`; the config is validated.
    pub fn new(cfg: TmConfig, now: Time, capacity: usize) -> Result<TxnManager, Error> {
        cfg.validate()?;
        Ok(TxnManager {
            cfg,
            table: Table::with_capacity(capacity),
            wheel: TimerWheel::with_capacity(now, capacity),
            fired: Vec::new(),
            actions: Vec::new(),
        })
    }

    /// Number of live transactions.
    #[must_use]
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// No live transaction.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Number of armed timers (one per transaction that has a deadline).
    #[must_use]
    pub fn timers_armed(&self) -> usize {
        self.wheel.len()
    }

    /// Creates a transaction for a request received at `now`.
    pub fn create(
        &mut self,
        kind: TxnKind,
        transport: Transport,
        now: Time,
        out: &mut Vec<Action>,
    ) -> Result<Handle, Error> {
        let txn = ProxyTxn::new(kind, transport, now, &self.cfg, out);
        let h = self.table.insert(Cell { txn, timer: None })?;
        self.reschedule(h);
        Ok(h)
    }

    /// Read access.
    #[must_use]
    pub fn get(&self, h: Handle) -> Option<&ProxyTxn> {
        self.table.get(h).map(|c| &c.txn)
    }

    /// Runs `f` on the transaction, then re-arms its timer (or removes it if
    /// it was freed).
    pub fn with<R>(&mut self, h: Handle, f: impl FnOnce(&mut ProxyTxn) -> R) -> Result<R, Error> {
        let cell = self.table.get_mut(h).ok_or(Error::StaleHandle)?;
        let r = f(&mut cell.txn);
        self.reschedule(h);
        Ok(r)
    }

    /// Advances time to `now`, running the timers of every transaction due,
    /// and appends the resulting actions with their transaction.
    pub fn advance(&mut self, now: Time, out: &mut Vec<(Handle, Action)>) {
        let mut fired = std::mem::take(&mut self.fired);
        fired.clear();
        self.wheel.advance(now, &mut fired);
        for (id, h) in fired.drain(..) {
            let Some(cell) = self.table.get_mut(h) else {
                continue;
            };
            // A handle whose timer was re-armed meanwhile is stale.
            if cell.timer.map(|(t, _)| t) != Some(id) {
                continue;
            }
            cell.timer = None;
            self.actions.clear();
            cell.txn.on_timer(now, &mut self.actions);
            out.extend(self.actions.iter().map(|a| (h, *a)));
            self.reschedule(h);
        }
        self.fired = fired;
    }

    fn reschedule(&mut self, h: Handle) {
        let Some(cell) = self.table.get_mut(h) else {
            return;
        };
        if cell.txn.is_freed() {
            if let Some((id, _)) = cell.timer.take() {
                self.wheel.cancel(id);
            }
            self.table.remove(h);
            return;
        }
        let want = cell.txn.next_deadline();
        if cell.timer.map(|(_, d)| d) == want {
            return;
        }
        if let Some((id, _)) = cell.timer.take() {
            self.wheel.cancel(id);
        }
        if let Some(d) = want {
            cell.timer = Some((self.wheel.insert(d, h), d));
        }
    }
}
