//! The storage behind usrloc: [`LocationStore`] and its memory implementation.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, RwLock};

/// One registered contact (Kamailio's `ucontact_t`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UContact {
    /// Contact URI as registered.
    pub uri: String,
    /// Absolute expiry time in seconds; 0 = permanent.
    pub expires: i64,
    /// q × 1000, -1 when unspecified.
    pub q: i32,
    /// Call-ID of the last REGISTER that touched it.
    pub callid: String,
    /// Its CSeq number.
    pub cseq: u32,
    /// Path vector (`<sip:a>,<sip:b>`), empty when none.
    pub path: String,
    /// Received address (`sip:ip:port`), empty when none.
    pub received: String,
    /// `+sip.instance` value as written (quotes removed).
    pub instance: String,
    /// `reg-id`, 0 when none.
    pub reg_id: u32,
    /// Record id.
    pub ruid: String,
    /// User-Agent (`n/a` when absent, as Kamailio stores it).
    pub user_agent: String,
    /// Local socket it registered through (`udp:127.0.0.1:5060`), empty when unknown.
    pub socket: String,
    /// Index of that socket in the server's list (forced as send socket by `lookup`).
    pub socket_id: Option<u32>,
    /// usrloc flags (FL_MEM = 1 …).
    pub flags: u32,
    /// Branch flags stored with it (cflags).
    pub cflags: u32,
    /// Bit mask of supported methods (Kamailio's METHOD_* bits; all ones = any).
    pub methods: u32,
    /// Last change, seconds.
    pub last_modified: i64,
    /// TCP connection id, -1 when none.
    pub tcpconn_id: i64,
    /// The `server_id` of the server that saved it (the core's, always 0 in ferrosip; a row
    /// another server wrote keeps its own): `ka_filter` 1 sends keepalives only to contacts of
    /// this server.
    pub server_id: i32,
    /// The `xavp_contact` record of the REGISTER that saved it (Kamailio's `ucontact->xavp`),
    /// given back by `lookup`; `None` when the REGISTER had none. In the database modes it is
    /// also kept in `<table>_attrs`.
    pub xavp: Option<ferrosip_api::ctx::XavpRecord>,
}

impl UContact {
    /// Kamailio's `VALID_CONTACT`: permanent or not yet expired at `now`.
    pub fn is_valid(&self, now: i64) -> bool {
        self.expires == 0 || self.expires > now
    }
}

/// One address of record with its contacts (Kamailio's `urecord_t`), contacts in lookup order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    /// The AoR (`user` or `user@domain`).
    pub aor: String,
    /// Contacts, best first.
    pub contacts: Vec<UContact>,
}

/// Location storage. Every method works on one table (`domain`); [`LocationStore::update`] is
/// atomic for one AoR (the read-modify-write of a REGISTER runs under that AoR's lock).
pub trait LocationStore: Send + Sync + fmt::Debug {
    /// Creates table `domain` (no-op when it exists).
    fn register_domain(&self, domain: &str);
    /// True when table `domain` exists.
    fn has_domain(&self, domain: &str) -> bool;
    /// Table names, in creation order.
    fn domains(&self) -> Vec<String>;
    /// A copy of the record of `aor`, `None` when there is none.
    fn get(&self, domain: &str, aor: &str) -> Option<Record>;
    /// Runs `f` on the contacts of `aor` (empty when there is no record) under the AoR's lock;
    /// an empty list afterwards removes the record. `false` when the table does not exist.
    fn update(&self, domain: &str, aor: &str, f: &mut dyn FnMut(&mut Vec<UContact>)) -> bool;
    /// Removes the record of `aor`; `false` when there was none.
    fn delete(&self, domain: &str, aor: &str) -> bool;
    /// Every record of `domain` in Kamailio's `ul.dump` order: by hash slot (`core_hash(aor)`
    /// masked by the table size), then oldest record first within a slot.
    fn dump(&self, domain: &str) -> Vec<Record>;
    /// (records, contacts, most records in one hash slot) of `domain`: the `<domain>_users` and
    /// `<domain>_contacts` statistics and `ul.dump`'s `Max-Slots`.
    fn counts(&self, domain: &str) -> (usize, usize, usize);
    /// Removes contacts expired at `now` and then-empty records; returns the contacts removed
    /// per table (tables with none removed are left out).
    fn expire(&self, now: i64) -> Vec<(String, usize)>;
    /// [`LocationStore::expire`], also listing each contact removed as (table, AoR, contact),
    /// for registrar's `event_route[usrloc:contact-expired]`.
    fn expire_listed(
        &self,
        now: i64,
        listed: &mut Vec<(String, String, UContact)>,
    ) -> Vec<(String, usize)> {
        let _ = listed;
        self.expire(now)
    }
    /// The contacts held in memory, when there are (not in DB-only mode): what the keepalives
    /// and `handle_lost_tcp` change without writing to the database, as Kamailio does.
    fn memory(&self) -> Option<&MemoryStore> {
        None
    }
}

/// The memory store (`db_mode=0`): per table, `2^hash_size` shards of AoR → contacts, each
/// behind its own mutex.
pub struct MemoryStore {
    shards: usize,
    tables: RwLock<Vec<Table>>,
    /// Creation sequence of records: Kamailio appends a new record to its hash slot's list, and
    /// `ul.dump` walks that list, so the dump lists a slot's records oldest first.
    seq: AtomicU64,
}

/// One record in a shard: its creation sequence number and its contacts.
type Entry = (u64, Vec<UContact>);
/// One shard: AoR → record.
type Shard = Mutex<HashMap<String, Entry>>;
/// A table: its name and shards.
type Table = (String, Vec<Shard>);

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MemoryStore({} shards)", self.shards)
    }
}

impl MemoryStore {
    /// A store with `2^hash_size` shards per table (`hash_size` clamped to 1..=16).
    pub fn new(hash_size: u32) -> MemoryStore {
        MemoryStore {
            shards: 1usize << hash_size.clamp(1, 16),
            tables: RwLock::new(Vec::new()),
            seq: AtomicU64::new(0),
        }
    }

    fn with_shard<R>(
        &self,
        domain: &str,
        aor: &str,
        f: impl FnOnce(&mut HashMap<String, Entry>) -> R,
    ) -> Option<R> {
        let tables = read(&self.tables);
        let (_, shards) = tables.iter().find(|(n, _)| n == domain)?;
        let i = (core_hash(aor.as_bytes()) as usize) & (self.shards - 1);
        let mut g = lock(shards.get(i)?);
        Some(f(&mut g))
    }
}

impl LocationStore for MemoryStore {
    fn register_domain(&self, domain: &str) {
        let mut t = match self.tables.write() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if !t.iter().any(|(n, _)| n == domain) {
            let shards = (0..self.shards)
                .map(|_| Mutex::new(HashMap::new()))
                .collect();
            t.push((domain.to_string(), shards));
        }
    }

    fn has_domain(&self, domain: &str) -> bool {
        read(&self.tables).iter().any(|(n, _)| n == domain)
    }

    fn domains(&self) -> Vec<String> {
        read(&self.tables).iter().map(|(n, _)| n.clone()).collect()
    }

    fn get(&self, domain: &str, aor: &str) -> Option<Record> {
        self.with_shard(domain, aor, |m| {
            m.get(aor).map(|(_, c)| Record {
                aor: aor.to_string(),
                contacts: c.clone(),
            })
        })
        .flatten()
    }

    fn update(&self, domain: &str, aor: &str, f: &mut dyn FnMut(&mut Vec<UContact>)) -> bool {
        self.with_shard(domain, aor, |m| {
            let (seq, mut list) = m
                .remove(aor)
                .unwrap_or_else(|| (self.seq.fetch_add(1, Ordering::Relaxed), Vec::new()));
            f(&mut list);
            if !list.is_empty() {
                m.insert(aor.to_string(), (seq, list));
            }
        })
        .is_some()
    }

    fn delete(&self, domain: &str, aor: &str) -> bool {
        self.with_shard(domain, aor, |m| m.remove(aor).is_some())
            .unwrap_or(false)
    }

    fn dump(&self, domain: &str) -> Vec<Record> {
        let tables = read(&self.tables);
        let mut out = Vec::new();
        if let Some((_, shards)) = tables.iter().find(|(n, _)| n == domain) {
            for s in shards {
                let g = lock(s);
                let mut slot: Vec<(&u64, &String, &Vec<UContact>)> =
                    g.iter().map(|(a, (seq, c))| (seq, a, c)).collect();
                slot.sort_by_key(|(seq, _, _)| **seq);
                out.extend(slot.into_iter().map(|(_, a, c)| Record {
                    aor: a.clone(),
                    contacts: c.clone(),
                }));
            }
        }
        out
    }

    fn counts(&self, domain: &str) -> (usize, usize, usize) {
        let tables = read(&self.tables);
        let (mut users, mut contacts, mut max) = (0, 0, 0);
        if let Some((_, shards)) = tables.iter().find(|(n, _)| n == domain) {
            for s in shards {
                let g = lock(s);
                users += g.len();
                max = max.max(g.len());
                contacts += g.values().map(|(_, c)| c.len()).sum::<usize>();
            }
        }
        (users, contacts, max)
    }

    fn expire(&self, now: i64) -> Vec<(String, usize)> {
        self.expire_with(now, &mut |_, _, _| {})
    }

    fn expire_listed(
        &self,
        now: i64,
        listed: &mut Vec<(String, String, UContact)>,
    ) -> Vec<(String, usize)> {
        self.expire_with(now, &mut |t, aor, c| {
            listed.push((t.to_string(), aor.to_string(), c.clone()))
        })
    }

    fn memory(&self) -> Option<&MemoryStore> {
        Some(self)
    }
}

impl MemoryStore {
    /// Runs `f(table, aor, contacts)` on every record, one shard lock at a time; the records are
    /// changed in place (an emptied record stays until the next expiry sweep).
    pub fn for_each_mut(&self, f: &mut dyn FnMut(&str, &str, &mut Vec<UContact>)) {
        let tables = read(&self.tables);
        for (name, shards) in tables.iter() {
            for s in shards {
                let mut g = lock(s);
                for (aor, (_, list)) in g.iter_mut() {
                    f(name, aor, list);
                }
            }
        }
    }

    /// [`LocationStore::expire`], calling `gone(table, aor, contact)` for each contact removed
    /// (the database modes delete their rows).
    pub fn expire_with(
        &self,
        now: i64,
        gone: &mut dyn FnMut(&str, &str, &UContact),
    ) -> Vec<(String, usize)> {
        let tables = read(&self.tables);
        let mut out = Vec::new();
        for (name, shards) in tables.iter() {
            let mut n = 0;
            for s in shards {
                let mut g = lock(s);
                g.retain(|aor, (_, list)| {
                    let before = list.len();
                    list.retain(|c| {
                        let keep = c.is_valid(now);
                        if !keep {
                            gone(name, aor, c);
                        }
                        keep
                    });
                    n += before - list.len();
                    !list.is_empty()
                });
            }
            if n > 0 {
                out.push((name.clone(), n));
            }
        }
        out
    }
}

/// Kamailio's `core_hash` over one string (used for shards and the temp-GRUU AoR hash).
pub fn core_hash(s: &[u8]) -> u32 {
    let mut v: u32;
    let mut h: u32 = 0;
    let mut chunks = s.chunks_exact(4);
    for c in &mut chunks {
        v = (u32::from(c[0]) << 24)
            + (u32::from(c[1]) << 16)
            + (u32::from(c[2]) << 8)
            + u32::from(c[3]); // chunks_exact(4) yields 4 bytes
        h = h.wrapping_add(v ^ (v >> 3));
    }
    v = 0;
    for &b in chunks.remainder() {
        v = (v << 8).wrapping_add(u32::from(b));
    }
    h = h.wrapping_add(v ^ (v >> 3));
    h.wrapping_add(h >> 11)
        .wrapping_add(h >> 13)
        .wrapping_add(h >> 23)
}

fn read<T>(l: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    match l.read() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(uri: &str, expires: i64) -> UContact {
        UContact {
            uri: uri.into(),
            expires,
            ..UContact::default()
        }
    }

    #[test]
    fn update_expire_delete() {
        let s = MemoryStore::new(2);
        assert!(!s.update("location", "a", &mut |_| {}), "unknown table");
        s.register_domain("location");
        s.register_domain("location");
        assert_eq!(s.domains(), vec!["location".to_string()]);
        // (aor, contacts (uri, expires))
        let table: &[(&str, &[(&str, i64)])] = &[
            ("alice", &[("sip:a1", 100), ("sip:a2", 200)]),
            ("bob", &[("sip:b1", 0)]),
            ("carol", &[("sip:c1", 150)]),
        ];
        for (aor, cs) in table {
            assert!(s.update("location", aor, &mut |l| {
                l.extend(cs.iter().map(|(u, e)| c(u, *e)))
            }));
        }
        assert_eq!(s.dump("location").len(), 3);
        assert_eq!(
            s.counts("location"),
            (3, 4, 1),
            "(records, contacts, fullest slot)"
        );
        assert!(s.expire(99).is_empty());
        assert_eq!(
            s.expire(150),
            vec![("location".to_string(), 2)],
            "a1 and c1 expire, b1 is permanent"
        );
        let alice = s.get("location", "alice").map(|r| r.contacts.len());
        assert_eq!(alice, Some(1));
        assert_eq!(s.get("location", "carol"), None, "empty record removed");
        assert!(s.delete("location", "bob"));
        assert!(!s.delete("location", "bob"));
        assert_eq!(s.expire(10_000), vec![("location".to_string(), 1)]);
        assert!(s.dump("location").is_empty());
    }

    /// Kamailio's `ul.dump` order: slot by slot (`core_hash & (size - 1)`), oldest record first
    /// in a slot; an updated record keeps its place, a re-created one goes last.
    #[test]
    fn dump_order_is_kamailio_slot_order() {
        // With 4 slots: alice → 1, carol → 2, bob, dave and erin → 3 (core_hash values
        // 1834153949, 1864284022, 7222211, 1761459855, 1777119099, as Kamailio's HashID shows).
        let s = MemoryStore::new(2);
        s.register_domain("location");
        let add = |aor: &str| {
            s.update("location", aor, &mut |l| {
                l.push(c(&format!("sip:{aor}"), 0))
            });
        };
        // (action, aor, dump order afterwards)
        let steps: &[(&str, &str, &[&str])] = &[
            ("add", "erin", &["erin"]),
            ("add", "bob", &["erin", "bob"]),
            ("add", "carol", &["carol", "erin", "bob"]),
            ("add", "dave", &["carol", "erin", "bob", "dave"]),
            ("add", "alice", &["alice", "carol", "erin", "bob", "dave"]),
            ("add", "erin", &["alice", "carol", "erin", "bob", "dave"]),
            ("del", "erin", &["alice", "carol", "bob", "dave"]),
            ("add", "erin", &["alice", "carol", "bob", "dave", "erin"]),
        ];
        for (action, aor, want) in steps {
            if *action == "add" {
                add(aor);
            } else {
                assert!(s.delete("location", aor));
            }
            let got: Vec<String> = s.dump("location").into_iter().map(|r| r.aor).collect();
            assert_eq!(got, *want, "after {action} {aor}");
        }
        assert_eq!(s.counts("location"), (5, 5, 3));
    }

    #[test]
    fn hash_is_stable() {
        assert_eq!(core_hash(b""), 0);
        assert_ne!(core_hash(b"alice"), core_hash(b"alicf"));
    }
}
