//! A hierarchical timing wheel, sans-I/O: `now` is an argument.
//!
//! Six levels of 64 slots with a 1 ms tick cover 2^36 ms; deadlines farther
//! than [`MAX_DELAY_MS`] (about 783 days) are clamped to it. Level `L` slots span
//! 64^L ms. An entry sits at the lowest level whose slot span separates its
//! deadline from the wheel's current time; when that slot comes due its
//! entries either fire (deadline reached) or drop to a lower level. Insert and
//! cancel are O(1) (intrusive doubly-linked slot lists in a slab, so 100k
//! timers cost one allocation); `advance` costs O(levels) per due slot plus
//! O(1) per entry moved or fired, and skips empty slots with a bit scan.
//!
//! Expired entries are handed back; the caller runs the handlers after
//! releasing whatever lock protects the wheel, so handlers must tolerate late
//! firing (the transaction state machines check their own deadlines).

use crate::types::Time;

const LEVELS: usize = 6;
const SLOT_BITS: u32 = 6;
const SLOTS: usize = 1 << SLOT_BITS;
/// Mask of the bits the levels cover: 2^36 - 1.
const HORIZON: u64 = (1 << (SLOT_BITS as u64 * LEVELS as u64)) - 1;
/// Farthest deadline accepted, relative to the current time: 63 top-level
/// slots (about 783 days). One slot short of a full turn, so that a top-level
/// slot never holds entries of the turn after the one its position suggests
/// (they would hide earlier entries from the rotation scan).
pub const MAX_DELAY_MS: u64 = 63 << (SLOT_BITS as u64 * (LEVELS as u64 - 1));
const NIL: u32 = u32::MAX;

/// Identifies an inserted timer, for [`TimerWheel::cancel`]. Stale ids (the
/// timer fired or was canceled, and its slot reused) are detected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId {
    index: u32,
    gen: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Free,
    Pending,
    Slot { level: u8, slot: u8 },
}

#[derive(Debug, Clone)]
struct Entry<T> {
    deadline: u64,
    gen: u32,
    prev: u32,
    next: u32,
    at: Where,
    value: Option<T>,
}

#[derive(Debug, Clone)]
struct Level {
    heads: [u32; SLOTS],
    occupied: u64,
}

/// The wheel. `T` is the payload handed back on expiry (a transaction
/// handle, typically).
#[derive(Debug, Clone)]
pub struct TimerWheel<T> {
    entries: Vec<Entry<T>>,
    free: u32,
    levels: [Level; LEVELS],
    pending: u32,
    elapsed: u64,
    len: usize,
}

impl<T> Default for TimerWheel<T> {
    fn default() -> Self {
        Self::new(Time(0))
    }
}

impl<T> TimerWheel<T> {
    /// An empty wheel whose current time is `start`.
    #[must_use]
    pub fn new(start: Time) -> Self {
        Self::with_capacity(start, 0)
    }

    /// An empty wheel with room for `cap` timers before reallocating.
    #[must_use]
    pub fn with_capacity(start: Time, cap: usize) -> Self {
        TimerWheel {
            entries: Vec::with_capacity(cap),
            free: NIL,
            levels: std::array::from_fn(|_| Level {
                heads: [NIL; SLOTS],
                occupied: 0,
            }),
            pending: NIL,
            elapsed: start.0,
            len: 0,
        }
    }

    /// Number of armed timers.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// No armed timer.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The wheel's current time (the last `advance`).
    #[must_use]
    pub fn now(&self) -> Time {
        Time(self.elapsed)
    }

    /// Arms a timer. A deadline not after the wheel's current time fires on
    /// the next [`TimerWheel::advance`].
    pub fn insert(&mut self, deadline: Time, value: T) -> TimerId {
        let deadline = deadline.0.min(self.elapsed.saturating_add(MAX_DELAY_MS));
        let index = if self.free == NIL {
            let i = u32::try_from(self.entries.len()).unwrap_or(NIL);
            self.entries.push(Entry {
                deadline,
                gen: 0,
                prev: NIL,
                next: NIL,
                at: Where::Free,
                value: Some(value),
            });
            i
        } else {
            let i = self.free;
            let e = &mut self.entries[i as usize];
            self.free = e.next;
            e.deadline = deadline;
            e.value = Some(value);
            i
        };
        self.len += 1;
        self.place(index);
        TimerId {
            index,
            gen: self.entries[index as usize].gen,
        }
    }

    /// Disarms a timer; returns its payload, or `None` if it already fired
    /// or was canceled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let e = self.entries.get(id.index as usize)?;
        if e.gen != id.gen || e.at == Where::Free {
            return None;
        }
        self.unlink(id.index);
        Some(self.release(id.index))
    }

    /// Lower bound of the next instant at which `advance` has something to
    /// do (the start of the earliest occupied slot), or `None` when empty.
    #[must_use]
    pub fn next_expiration(&self) -> Option<Time> {
        if self.pending != NIL {
            return Some(Time(self.elapsed));
        }
        self.next_slot().map(|(_, _, d)| Time(d))
    }

    /// Moves the wheel to `now` and appends every timer whose deadline is
    /// `<= now` to `out`, earliest slot first.
    pub fn advance(&mut self, now: Time, out: &mut Vec<(TimerId, T)>) {
        let now = now.0;
        let mut i = std::mem::replace(&mut self.pending, NIL);
        while i != NIL {
            let next = self.entries[i as usize].next;
            self.fire(i, out);
            i = next;
        }
        while let Some((level, slot, deadline)) = self.next_slot() {
            if deadline > now {
                break;
            }
            self.elapsed = self.elapsed.max(deadline);
            let lvl = &mut self.levels[level];
            let mut i = std::mem::replace(&mut lvl.heads[slot], NIL);
            lvl.occupied &= !(1u64 << slot);
            while i != NIL {
                let next = self.entries[i as usize].next;
                if self.entries[i as usize].deadline <= self.elapsed {
                    self.fire(i, out);
                } else {
                    self.place(i);
                }
                i = next;
            }
        }
        self.elapsed = self.elapsed.max(now);
    }

    /// Earliest occupied slot over all levels: (level, slot, slot start).
    fn next_slot(&self) -> Option<(usize, usize, u64)> {
        let mut best: Option<(usize, usize, u64)> = None;
        for (level, lvl) in self.levels.iter().enumerate() {
            if lvl.occupied == 0 {
                continue;
            }
            let shift = SLOT_BITS * level as u32;
            let slot_span = 1u64 << shift;
            let level_span = slot_span << SLOT_BITS;
            let now_slot = ((self.elapsed >> shift) & (SLOTS as u64 - 1)) as u32;
            let dist = lvl.occupied.rotate_right(now_slot).trailing_zeros();
            let slot = ((now_slot + dist) as usize) & (SLOTS - 1);
            let mut start = (self.elapsed & !(level_span - 1)) + slot as u64 * slot_span;
            if start <= self.elapsed {
                // Below the top level an occupied slot is always ahead of the
                // current time (level 0 entries due now sit in the pending
                // list). Only the top level wraps: such a slot, even the
                // current one, belongs to its next turn.
                start += level_span;
            }
            if best.is_none_or(|(_, _, d)| start < d) {
                best = Some((level, slot, start));
            }
        }
        best
    }

    fn place(&mut self, i: u32) {
        let deadline = self.entries[i as usize].deadline;
        if deadline <= self.elapsed {
            self.push(i, Where::Pending);
            return;
        }
        let diff = ((self.elapsed ^ deadline) | (SLOTS as u64 - 1)).min(HORIZON);
        let level = ((63 - diff.leading_zeros()) / SLOT_BITS) as usize;
        let slot = ((deadline >> (SLOT_BITS * level as u32)) & (SLOTS as u64 - 1)) as u8;
        self.push(
            i,
            Where::Slot {
                level: level as u8,
                slot,
            },
        );
    }

    fn head_mut(&mut self, at: Where) -> Option<&mut u32> {
        match at {
            Where::Free => None,
            Where::Pending => Some(&mut self.pending),
            Where::Slot { level, slot } => {
                Some(&mut self.levels[level as usize].heads[slot as usize])
            }
        }
    }

    fn push(&mut self, i: u32, at: Where) {
        if let Where::Slot { level, slot } = at {
            self.levels[level as usize].occupied |= 1u64 << slot;
        }
        let old = self.head_mut(at).map_or(NIL, |h| std::mem::replace(h, i));
        if old != NIL {
            self.entries[old as usize].prev = i;
        }
        let e = &mut self.entries[i as usize];
        e.prev = NIL;
        e.next = old;
        e.at = at;
    }

    fn unlink(&mut self, i: u32) {
        let (prev, next, at) = {
            let e = &self.entries[i as usize];
            (e.prev, e.next, e.at)
        };
        if prev == NIL {
            if let Some(h) = self.head_mut(at) {
                *h = next;
            }
            if let (Where::Slot { level, slot }, true) = (at, next == NIL) {
                self.levels[level as usize].occupied &= !(1u64 << slot);
            }
        } else {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
    }

    fn fire(&mut self, i: u32, out: &mut Vec<(TimerId, T)>) {
        let id = TimerId {
            index: i,
            gen: self.entries[i as usize].gen,
        };
        let v = self.release(i);
        out.push((id, v));
    }

    /// Returns the entry to the free list (already unlinked) and its payload.
    fn release(&mut self, i: u32) -> T {
        let free = self.free;
        let e = &mut self.entries[i as usize];
        e.gen = e.gen.wrapping_add(1);
        e.at = Where::Free;
        e.next = free;
        e.prev = NIL;
        self.free = i;
        self.len -= 1;
        match e.value.take() {
            Some(v) => v,
            // Every linked entry holds a value; reaching this is a bug in
            // this module, not something input can cause.
            None => unreachable!("timer entry without payload"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fired(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = vec![];
        w.advance(Time(now), &mut out);
        out.into_iter().map(|(_, v)| v).collect()
    }

    #[test]
    fn fires_exactly_at_deadline_across_levels() {
        // (deadline, payload); each must fire at its deadline, not one ms before.
        let table: [u64; 9] = [1, 63, 64, 65, 500, 4095, 4096, 262_145, 180_000];
        for d in table {
            let mut w = TimerWheel::new(Time(0));
            w.insert(Time(d), 7);
            assert!(fired(&mut w, d - 1).is_empty(), "{d} fired early");
            assert_eq!(fired(&mut w, d), vec![7], "{d} not fired on time");
            assert!(w.is_empty());
        }
    }

    #[test]
    fn fires_in_order_with_big_jumps() {
        let mut w = TimerWheel::new(Time(1000));
        let ds = [1500u64, 1001, 70_000, 5_000_000, 33_000, 1_000_000_000];
        for (i, d) in ds.iter().enumerate() {
            w.insert(Time(*d), i as u32);
        }
        let mut out = vec![];
        w.advance(Time(2_000_000_000), &mut out);
        let got: Vec<u32> = out.iter().map(|(_, v)| *v).collect();
        assert_eq!(got, vec![1, 0, 4, 2, 3, 5]);
    }

    #[test]
    fn past_deadline_fires_on_next_advance() {
        let mut w = TimerWheel::new(Time(100));
        w.insert(Time(50), 1);
        assert_eq!(w.next_expiration(), Some(Time(100)));
        assert_eq!(fired(&mut w, 100), vec![1]);
    }

    #[test]
    fn cancel_and_stale_ids() {
        let mut w = TimerWheel::new(Time(0));
        let a = w.insert(Time(10), 1);
        let b = w.insert(Time(10), 2);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None, "double cancel");
        let c = w.insert(Time(20), 3); // reuses a's slot
        assert_eq!(w.cancel(a), None, "stale id must not cancel the new timer");
        assert_eq!(fired(&mut w, 30), vec![2, 3]);
        assert_eq!(w.cancel(b), None, "fired");
        assert_eq!(w.cancel(c), None, "fired");
        assert!(w.is_empty());
    }

    #[test]
    fn horizon_clamp_and_top_level_wrap() {
        let mut w = TimerWheel::new(Time(HORIZON - 10));
        w.insert(Time(HORIZON + 100), 1);
        assert!(fired(&mut w, HORIZON + 99).is_empty());
        assert_eq!(fired(&mut w, HORIZON + 100), vec![1]);
        let mut w = TimerWheel::new(Time(0));
        w.insert(Time(u64::MAX), 2);
        assert!(fired(&mut w, MAX_DELAY_MS - 1).is_empty());
        assert_eq!(fired(&mut w, MAX_DELAY_MS), vec![2]);
        // A clamped far entry must not hide an earlier one in the top level
        // (found by the model-based property test).
        let mut w = TimerWheel::new(Time(0));
        w.insert(Time(11 << 30), 3);
        w.advance(Time(1), &mut vec![]);
        w.insert(Time(u64::MAX), 4);
        assert_eq!(fired(&mut w, 11 << 30), vec![3]);
    }
}
