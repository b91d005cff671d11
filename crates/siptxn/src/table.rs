//! A slab of transactions addressed by generation-checked handles.
//!
//! Values are stored inline in one `Vec` (no `Box` per transaction: 100k
//! transactions are one allocation plus their branch vectors). A handle
//! carries the slot index and the slot's generation; freeing a slot bumps the
//! generation, so a handle kept by a late timer or a late reply can never
//! reach the transaction that reused the slot.

use crate::Error;

/// Names a value in a [`Table`]. 8 bytes, `Copy`; cheap to keep in timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Handle {
    index: u32,
    gen: u32,
}

impl Handle {
    /// Slot index (Kamailio's `label` plays a similar role in the branch
    /// parameter; exposing it lets tm encode handles into Via branches).
    #[must_use]
    pub fn index(self) -> u32 {
        self.index
    }

    /// Generation of the slot when the value was inserted.
    #[must_use]
    pub fn generation(self) -> u32 {
        self.gen
    }

    /// Rebuilds a handle from its parts (e.g. decoded from a Via branch);
    /// a forged or stale one is simply not found.
    #[must_use]
    pub fn from_parts(index: u32, gen: u32) -> Handle {
        Handle { index, gen }
    }
}

#[derive(Debug, Clone)]
enum Slot<T> {
    Occupied { gen: u32, value: T },
    Vacant { gen: u32, next_free: u32 },
}

const NIL: u32 = u32::MAX;

/// The slab.
#[derive(Debug, Clone)]
pub struct Table<T> {
    slots: Vec<Slot<T>>,
    free: u32,
    len: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self::with_capacity(0)
    }
}

impl<T> Table<T> {
    /// An empty table with room for `cap` values.
    #[must_use]
    pub fn with_capacity(cap: usize) -> Self {
        Table {
            slots: Vec::with_capacity(cap),
            free: NIL,
            len: 0,
        }
    }

    /// Number of values.
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Empty.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Stores a value; fails only when 2^32 - 1 slots are in use.
    pub fn insert(&mut self, value: T) -> Result<Handle, Error> {
        if self.free != NIL {
            let index = self.free;
            let slot = self
                .slots
                .get_mut(index as usize)
                .ok_or(Error::StaleHandle)?;
            let (gen, next_free) = match slot {
                Slot::Vacant { gen, next_free } => (*gen, *next_free),
                // The free list only links vacant slots.
                Slot::Occupied { .. } => return Err(Error::WrongState("table free list corrupt")),
            };
            *slot = Slot::Occupied { gen, value };
            self.free = next_free;
            self.len += 1;
            return Ok(Handle { index, gen });
        }
        let index = u32::try_from(self.slots.len())
            .ok()
            .filter(|i| *i != NIL)
            .ok_or(Error::WrongState("table full"))?;
        self.slots.push(Slot::Occupied { gen: 0, value });
        self.len += 1;
        Ok(Handle { index, gen: 0 })
    }

    /// The value behind a live handle.
    #[must_use]
    pub fn get(&self, h: Handle) -> Option<&T> {
        match self.slots.get(h.index as usize) {
            Some(Slot::Occupied { gen, value }) if *gen == h.gen => Some(value),
            _ => None,
        }
    }

    /// Mutable access through a live handle.
    pub fn get_mut(&mut self, h: Handle) -> Option<&mut T> {
        match self.slots.get_mut(h.index as usize) {
            Some(Slot::Occupied { gen, value }) if *gen == h.gen => Some(value),
            _ => None,
        }
    }

    /// Removes and returns the value; the handle (and copies of it) go stale.
    pub fn remove(&mut self, h: Handle) -> Option<T> {
        let slot = self.slots.get_mut(h.index as usize)?;
        match slot {
            Slot::Occupied { gen, .. } if *gen == h.gen => {}
            _ => return None,
        }
        let vacant = Slot::Vacant {
            gen: h.gen.wrapping_add(1),
            next_free: self.free,
        };
        match std::mem::replace(slot, vacant) {
            Slot::Occupied { value, .. } => {
                self.free = h.index;
                self.len -= 1;
                Some(value)
            }
            Slot::Vacant { .. } => None,
        }
    }

    /// Live values with their handles.
    pub fn iter(&self) -> impl Iterator<Item = (Handle, &T)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied { gen, value } => Some((
                Handle {
                    index: u32::try_from(i).unwrap_or(NIL),
                    gen: *gen,
                },
                value,
            )),
            Slot::Vacant { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_protect_reused_slots() {
        let mut t = Table::with_capacity(4);
        let a = t.insert("a").unwrap();
        let b = t.insert("b").unwrap();
        assert_eq!(t.remove(a), Some("a"));
        assert_eq!(t.get(a), None);
        let c = t.insert("c").unwrap();
        assert_eq!(c.index(), a.index(), "slot reused");
        assert_ne!(c.generation(), a.generation());
        assert_eq!(t.get(a), None, "stale handle must not see the new value");
        assert_eq!(t.remove(a), None);
        assert_eq!(t.get(c), Some(&"c"));
        assert_eq!(t.get(b), Some(&"b"));
        assert_eq!(t.len(), 2);
        assert_eq!(t.get(Handle::from_parts(99, 0)), None, "out of range");
        let mut seen: Vec<&str> = t.iter().map(|(_, v)| *v).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec!["b", "c"]);
    }
}
