//! The tables: sharded maps of name → integer or string, with per-item expiry. Every operation
//! takes `now` (seconds) so tests and the timer control time; an item whose expiry has passed is
//! invisible to reads even before the timer removes it, as in Kamailio.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::ThreadId;

use ferrosip_api::Value;

/// Settings of one table (the `htable` modparam).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableDef {
    /// Name.
    pub name: String,
    /// `size`: log2 of the slot count (Kamailio's meaning).
    pub size: u32,
    /// `autoexpire` seconds (0 = never).
    pub autoexpire: u64,
    /// `initval`: the value read for a missing item, and the base of `$shtinc`.
    pub initval: Option<i64>,
    /// `updateexpire`: setting an existing item restarts its expiry.
    pub updateexpire: bool,
    /// `dbtable`: the database table loaded at startup (with the module's `db_url`).
    pub dbtable: Option<String>,
    /// `dbmode`: non-zero writes the content back to `dbtable` at shutdown.
    pub dbmode: u32,
    /// `cols`: the columns read instead of the key/value ones (first = key); never written back.
    pub cols: Vec<String>,
    /// `coldelim`: joins the packed `cols` values (`,`).
    pub coldelim: u8,
    /// `colnull`: stands for a NULL in the packed values (`*`; `None` = nothing).
    pub colnull: Option<u8>,
}

impl TableDef {
    /// A definition with Kamailio's defaults.
    pub fn new(name: &str) -> TableDef {
        TableDef {
            name: name.to_string(),
            size: 4,
            autoexpire: 0,
            initval: None,
            updateexpire: true,
            dbtable: None,
            dbmode: 0,
            cols: Vec::new(),
            coldelim: b',',
            colnull: Some(b'*'),
        }
    }
}

/// One item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Integer or string (never `Null`).
    pub value: Value,
    /// Absolute expiry in seconds, 0 = none.
    pub expire: u64,
}

impl Item {
    fn live(&self, now: u64) -> bool {
        self.expire == 0 || self.expire >= now
    }
}

struct SlotLock {
    owner: Option<(ThreadId, u32)>,
}

/// A table.
pub struct Table {
    /// Its settings.
    pub def: TableDef,
    shards: Vec<Mutex<HashMap<Vec<u8>, Item>>>,
    // Script-level locks (sht_lock/sht_unlock): recursive per worker thread, as Kamailio's slot
    // locks are recursive per process.
    locks: Vec<(Mutex<SlotLock>, Condvar)>,
    hasher: std::collections::hash_map::RandomState,
    /// Loaded from its database table (Kamailio's `dbload`): only then is it written back.
    dbload: AtomicBool,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Table({})", self.def.name)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A worker that panicked while holding a shard leaves consistent data (single map ops).
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Table {
    /// An empty table; the shard count follows `size` up to 256 shards.
    pub fn new(def: TableDef) -> Table {
        let n = 1usize << def.size.clamp(1, 8);
        Table {
            shards: (0..n).map(|_| Mutex::new(HashMap::new())).collect(),
            locks: (0..n)
                .map(|_| (Mutex::new(SlotLock { owner: None }), Condvar::new()))
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
            dbload: AtomicBool::new(false),
            def,
        }
    }

    /// Whether the table was loaded from its database table.
    pub fn dbload(&self) -> bool {
        self.dbload.load(Ordering::Relaxed)
    }

    /// Records a (re)load from the database.
    pub fn set_dbload(&self, v: bool) {
        self.dbload.store(v, Ordering::Relaxed);
    }

    /// Number of slots Kamailio would report (`2^size`).
    pub fn slots(&self) -> u64 {
        1u64 << self.def.size.min(31)
    }

    fn shard_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) as usize) & (self.shards.len() - 1)
    }

    fn shard(&self, key: &[u8]) -> MutexGuard<'_, HashMap<Vec<u8>, Item>> {
        // shard_of masks with len-1, so the index is in range.
        lock(&self.shards[self.shard_of(key)])
    }

    /// The live item, if any.
    pub fn get(&self, key: &[u8], now: u64) -> Option<Item> {
        self.shard(key).get(key).filter(|i| i.live(now)).cloned()
    }

    /// The value read by `$sht`: the item, else `initval`, else null.
    pub fn read(&self, key: &[u8], now: u64) -> Value {
        match self.get(key, now) {
            Some(i) => i.value,
            None => self.def.initval.map(Value::Int).unwrap_or(Value::Null),
        }
    }

    /// Sets a value; `expire` `Some(secs)` sets that expiry (0 = none), `None` applies the table's
    /// autoexpire rules.
    pub fn set(&self, key: &[u8], value: Value, expire: Option<u64>, now: u64) {
        let auto = if self.def.autoexpire > 0 {
            now + self.def.autoexpire
        } else {
            0
        };
        let mut s = self.shard(key);
        let exp = match (expire, s.get(key)) {
            (Some(0), _) => 0,
            (Some(e), _) => now + e,
            (None, Some(old)) if old.live(now) && !self.def.updateexpire => old.expire,
            (None, _) => auto,
        };
        s.insert(key.to_vec(), Item { value, expire: exp });
    }

    /// Removes an item; true when it existed.
    pub fn remove(&self, key: &[u8]) -> bool {
        self.shard(key).remove(key).is_some()
    }

    /// Adds `delta` to an integer item (created from `initval` or 0 when missing or expired);
    /// `None` when the item holds a string.
    pub fn add(&self, key: &[u8], delta: i64, now: u64) -> Option<i64> {
        let auto = if self.def.autoexpire > 0 {
            now + self.def.autoexpire
        } else {
            0
        };
        let mut s = self.shard(key);
        match s.get_mut(key) {
            Some(it) if it.live(now) => {
                let Value::Int(n) = it.value else {
                    return None;
                };
                let v = n.wrapping_add(delta);
                it.value = Value::Int(v);
                if self.def.updateexpire {
                    it.expire = auto;
                }
                Some(v)
            }
            _ => {
                let v = self.def.initval.unwrap_or(0).wrapping_add(delta);
                s.insert(
                    key.to_vec(),
                    Item {
                        value: Value::Int(v),
                        expire: auto,
                    },
                );
                Some(v)
            }
        }
    }

    /// Sets the expiry of an existing item to `now + secs`; false when missing or the table has
    /// no autoexpire (Kamailio refuses it then).
    pub fn set_expire(&self, key: &[u8], secs: u64, now: u64) -> bool {
        if self.def.autoexpire == 0 {
            return false;
        }
        match self.shard(key).get_mut(key) {
            Some(it) => {
                it.expire = if secs == 0 { 0 } else { now + secs };
                true
            }
            None => false,
        }
    }

    /// Every live item, sorted by name (a stable order for dumps and iterators).
    pub fn items(&self, now: u64) -> Vec<(Vec<u8>, Item)> {
        let mut v: Vec<(Vec<u8>, Item)> = Vec::new();
        for s in &self.shards {
            v.extend(
                lock(s)
                    .iter()
                    .filter(|(_, i)| i.live(now))
                    .map(|(k, i)| (k.clone(), i.clone())),
            );
        }
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Items per shard (for `htable.stats`).
    pub fn shard_sizes(&self) -> Vec<usize> {
        self.shards.iter().map(|s| lock(s).len()).collect()
    }

    /// Removes the items for which `f(name, value)` is true; returns how many.
    pub fn remove_where(&self, f: &dyn Fn(&[u8], &Value) -> bool) -> usize {
        let mut n = 0;
        for s in &self.shards {
            let mut g = lock(s);
            let before = g.len();
            g.retain(|k, i| !f(k, &i.value));
            n += before - g.len();
        }
        n
    }

    /// Replaces the whole content with `items` (later duplicates win), shard by shard under each
    /// shard's lock: a reader sees a shard's old or new content, never an empty table (Kamailio's
    /// `htable.reload` swaps slot by slot the same way).
    pub fn replace_all(&self, items: Vec<(Vec<u8>, Item)>) {
        let mut fresh: Vec<HashMap<Vec<u8>, Item>> =
            (0..self.shards.len()).map(|_| HashMap::new()).collect();
        for (k, it) in items {
            if let Some(m) = fresh.get_mut(self.shard_of(&k)) {
                m.insert(k, it);
            }
        }
        for (s, m) in self.shards.iter().zip(fresh) {
            *lock(s) = m;
        }
    }

    /// Removes everything.
    pub fn reset(&self) {
        for s in &self.shards {
            lock(s).clear();
        }
    }

    /// Removes expired items (the timer); returns them.
    pub fn expire(&self, now: u64) -> Vec<(Vec<u8>, Item)> {
        let mut out = Vec::new();
        for s in &self.shards {
            let mut g = lock(s);
            let dead: Vec<Vec<u8>> = g
                .iter()
                .filter(|(_, i)| !i.live(now))
                .map(|(k, _)| k.clone())
                .collect();
            for k in dead {
                if let Some(i) = g.remove(&k) {
                    out.push((k, i));
                }
            }
        }
        out
    }

    /// Takes the script lock of `key`'s slot (recursive for the same thread).
    pub fn lock_key(&self, key: &[u8]) {
        let me = std::thread::current().id();
        // Same index space as the shards.
        let (m, cv) = &self.locks[self.shard_of(key)];
        let mut g = lock(m);
        loop {
            match g.owner {
                None => {
                    g.owner = Some((me, 1));
                    return;
                }
                Some((t, n)) if t == me => {
                    g.owner = Some((t, n + 1));
                    return;
                }
                Some(_) => g = cv.wait(g).unwrap_or_else(|p| p.into_inner()),
            }
        }
    }

    /// Releases the script lock of `key`'s slot; false when this thread does not hold it.
    pub fn unlock_key(&self, key: &[u8]) -> bool {
        let me = std::thread::current().id();
        let (m, cv) = &self.locks[self.shard_of(key)];
        let mut g = lock(m);
        match g.owner {
            Some((t, n)) if t == me => {
                g.owner = if n > 1 { Some((t, n - 1)) } else { None };
                cv.notify_one();
                true
            }
            _ => false,
        }
    }
}

/// Parses one `htable` modparam value: `name=>size=..;autoexpire=..;initval=..;updateexpire=..;
/// dbtable=..;dbmode=..;cols='a,b';coldelim=..;colnull=..;dmqreplicate=..`. Values may be quoted
/// (`cols='a,b'`, `coldelim=';'`). DMQ replication is refused with the reason.
pub fn parse_def(s: &str) -> Result<TableDef, String> {
    let (name, attrs) = s
        .split_once("=>")
        .ok_or_else(|| format!("htable `{s}`: missing `=>`"))?;
    let name = name.trim();
    if name.is_empty() {
        return Err(format!("htable `{s}`: empty name"));
    }
    let mut d = TableDef::new(name);
    for a in split_attrs(attrs) {
        let (k, v) = a
            .split_once('=')
            .ok_or_else(|| format!("htable `{name}`: bad attribute `{a}`"))?;
        let (k, v) = (k.trim(), unquote(v.trim()));
        let num = || {
            v.parse::<i64>()
                .map_err(|_| format!("htable `{name}`: {k} needs a number, not `{v}`"))
        };
        match k {
            "size" => d.size = u32::try_from(num()?.clamp(2, 31)).unwrap_or(4),
            "autoexpire" => {
                d.autoexpire = u64::try_from(num()?)
                    .map_err(|_| format!("htable `{name}`: negative autoexpire"))?
            }
            "initval" => d.initval = Some(num()?),
            "updateexpire" => d.updateexpire = num()? != 0,
            "dmqreplicate" if num()? == 0 => {}
            "dmqreplicate" => {
                return Err(format!(
                    "htable `{name}`: dmqreplicate needs the dmq module: not implemented yet"
                ))
            }
            "dbtable" => d.dbtable = (!v.is_empty()).then(|| v.to_string()),
            "dbmode" => {
                d.dbmode = u32::try_from(num()?)
                    .map_err(|_| format!("htable `{name}`: negative dbmode"))?
            }
            "cols" => {
                d.cols = v.split(',').map(|c| c.trim().to_string()).collect();
                if d.cols.len() < 2 || d.cols.iter().any(String::is_empty) {
                    return Err(format!(
                        "htable `{name}`: cols needs at least two column names, got `{v}`"
                    ));
                }
            }
            "coldelim" => match v.as_bytes() {
                [c] => d.coldelim = *c,
                _ => return Err(format!("htable `{name}`: coldelim must be one character")),
            },
            "colnull" => match v.as_bytes() {
                [] => d.colnull = None,
                [c] => d.colnull = Some(*c),
                _ => {
                    return Err(format!(
                        "htable `{name}`: colnull must be one character or empty"
                    ))
                }
            },
            _ => return Err(format!("htable `{name}`: unknown attribute `{k}`")),
        }
    }
    Ok(d)
}

/// Splits `a=1;b='x;y'` at the semicolons outside quotes.
fn split_attrs(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, ch) in s.char_indices() {
        match (quote, ch) {
            (None, '\'' | '"') => quote = Some(ch),
            (Some(q), c) if c == q => quote = None,
            (None, ';') => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter()
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .collect()
}

/// A value without its surrounding quotes (`'a,b'` → `a,b`).
fn unquote(v: &str) -> &str {
    for q in ['\'', '"'] {
        if let Some(inner) = v.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defs() {
        let ok = TableDef {
            size: 8,
            autoexpire: 60,
            initval: Some(0),
            updateexpire: false,
            ..TableDef::new("a")
        };
        let db = TableDef {
            dbtable: Some("customer".into()),
            dbmode: 1,
            cols: vec!["dids".into(), "description".into()],
            coldelim: b';',
            colnull: None,
            ..TableDef::new("c")
        };
        let cases: Vec<(&str, Result<TableDef, &str>)> = vec![
            ("a=>size=8;autoexpire=60;initval=0;updateexpire=0", Ok(ok)),
            ("b=>", Ok(TableDef::new("b"))),
            ("c=>size=x", Err("htable `c`: size needs a number, not `x`")),
            (
                "c=>dbtable=customer;dbmode=1;cols='dids,description';coldelim=';';colnull=''",
                Ok(db),
            ),
            (
                "d=>dbtable=h;cols='one'",
                Err("htable `d`: cols needs at least two column names, got `one`"),
            ),
            (
                "d=>coldelim=ab",
                Err("htable `d`: coldelim must be one character"),
            ),
            (
                "e=>dmqreplicate=1",
                Err("htable `e`: dmqreplicate needs the dmq module: not implemented yet"),
            ),
            (
                "f=>colour=red",
                Err("htable `f`: unknown attribute `colour`"),
            ),
            ("nothing", Err("htable `nothing`: missing `=>`")),
        ];
        for (s, want) in cases {
            assert_eq!(parse_def(s), want.map_err(str::to_string), "{s}");
        }
    }

    #[test]
    fn replace_all_swaps_the_content() {
        let t = Table::new(TableDef::new("r"));
        t.set(b"old", Value::Int(1), None, 100);
        t.set(b"kept", Value::Int(1), None, 100);
        let item = |v: i64| Item {
            value: Value::Int(v),
            expire: 0,
        };
        t.replace_all(vec![
            (b"kept".to_vec(), item(2)),
            (b"new".to_vec(), item(3)),
            (b"new".to_vec(), item(4)),
        ]);
        let got: Vec<(Vec<u8>, Value)> = t
            .items(100)
            .into_iter()
            .map(|(k, i)| (k, i.value))
            .collect();
        assert_eq!(
            got,
            vec![
                (b"kept".to_vec(), Value::Int(2)),
                (b"new".to_vec(), Value::Int(4))
            ]
        );
    }

    #[test]
    fn expiry_rules() {
        let t = Table::new(TableDef {
            autoexpire: 10,
            updateexpire: false,
            ..TableDef::new("t")
        });
        t.set(b"k", Value::Int(1), None, 100);
        t.set(b"k", Value::Int(2), None, 105); // updateexpire=0 keeps 110
        assert_eq!(t.get(b"k", 110).map(|i| i.expire), Some(110));
        assert_eq!(t.read(b"k", 111), Value::Null);
        assert_eq!(t.expire(111).len(), 1);
        assert_eq!(t.add(b"n", 5, 100), Some(5));
        t.set(b"s", Value::str("x"), None, 100);
        assert_eq!(t.add(b"s", 1, 100), None);
    }
}
