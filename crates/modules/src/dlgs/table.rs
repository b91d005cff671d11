//! The dialog table: records keyed by Call-ID in `2^hash_size` slots, each slot behind its own
//! lock (workers touching different calls rarely meet), the state machine driven by requests and
//! replies, the per-state statistics, filters for counting and listing, and the expiry sweep.
//!
//! Every operation takes `now` (seconds since the epoch) from its caller: the table reads no
//! clock, so tests drive time without sleeping.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ferrosip_sipmsg::Method;

use super::fnmatch::fnmatch;

/// A dialog's state, with Kamailio's numbers (`DLGS_STATE_*`, shown by the RPCs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum State {
    /// Created by the INVITE, no reply seen yet (0).
    Init,
    /// A 1xx reply was seen (1).
    Progress,
    /// A 2xx reply was seen (2).
    Answered,
    /// The ACK of the 2xx was seen (3).
    Confirmed,
    /// BYE after the answer (4).
    Terminated,
    /// CANCEL or a final reply >= 300 before the answer (5).
    NotAnswered,
}

impl State {
    /// Kamailio's number for the state.
    pub fn code(self) -> i64 {
        match self {
            State::Init => 0,
            State::Progress => 1,
            State::Answered => 2,
            State::Confirmed => 3,
            State::Terminated => 4,
            State::NotAnswered => 5,
        }
    }

    /// Finished dialogs are kept for `finish_lifetime` but never counted.
    pub fn is_finished(self) -> bool {
        matches!(self, State::Terminated | State::NotAnswered)
    }
}

/// Number of records per state (`dlgs.stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// In [`State::Init`].
    pub init: u64,
    /// In [`State::Progress`].
    pub progress: u64,
    /// In [`State::Answered`].
    pub answered: u64,
    /// In [`State::Confirmed`].
    pub confirmed: u64,
    /// In [`State::Terminated`].
    pub terminated: u64,
    /// In [`State::NotAnswered`].
    pub notanswered: u64,
}

impl Stats {
    fn slot(&mut self, s: State) -> &mut u64 {
        match s {
            State::Init => &mut self.init,
            State::Progress => &mut self.progress,
            State::Answered => &mut self.answered,
            State::Confirmed => &mut self.confirmed,
            State::Terminated => &mut self.terminated,
            State::NotAnswered => &mut self.notanswered,
        }
    }

    fn add(&mut self, s: State) {
        *self.slot(s) += 1;
    }

    fn sub(&mut self, s: State) {
        let v = self.slot(s);
        *v = v.saturating_sub(1);
    }

    /// Records not finished yet (what `dlgs_count("any", …)` returns).
    pub fn ongoing(&self) -> u64 {
        self.init + self.progress + self.answered + self.confirmed
    }

    fn merge(&mut self, o: &Stats) {
        self.init += o.init;
        self.progress += o.progress;
        self.answered += o.answered;
        self.confirmed += o.confirmed;
        self.terminated += o.terminated;
        self.notanswered += o.notanswered;
    }
}

/// One tracked dialog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// Case-insensitive hash of the Call-ID (orders records inside a slot, as Kamailio's).
    pub hashid: u32,
    /// Call-ID (compared case-sensitively).
    pub callid: Vec<u8>,
    /// From tag of the INVITE.
    pub ftag: Vec<u8>,
    /// To tag: from the INVITE if it had one, else from the first 2xx.
    pub ttag: Vec<u8>,
    /// Record unique id.
    pub ruid: String,
    /// `src` given to `dlgs_init`.
    pub src: Vec<u8>,
    /// `dst` given to `dlgs_init`.
    pub dst: Vec<u8>,
    /// `data` given to `dlgs_init`.
    pub data: Vec<u8>,
    /// Current state.
    pub state: State,
    /// Creation time (seconds).
    pub ts_init: u64,
    /// Time of the 2xx (0 until answered).
    pub ts_answer: u64,
    /// Time of the CANCEL / BYE / negative reply (0 until finished).
    pub ts_finish: u64,
    /// Tags, newest first; the same tag may be added several times.
    pub tags: Vec<Vec<u8>>,
}

/// The SIP fields that identify a dialog (Kamailio's `dlgs_sipfields_t`).
#[derive(Debug, Clone, Copy)]
pub struct Keys<'a> {
    /// Call-ID.
    pub callid: &'a [u8],
    /// From tag (never empty).
    pub ftag: &'a [u8],
    /// To tag (empty when absent).
    pub ttag: &'a [u8],
}

/// What a message tells the state machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A request with its method.
    Request(Method),
    /// A reply: the CSeq method, the status code and the To tag.
    Reply {
        /// Method of the CSeq header.
        cseq: Method,
        /// Status code.
        code: u16,
        /// To tag of the reply (empty when absent).
        ttag: &'a [u8],
    },
}

/// Which attribute a filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    /// `any`: every ongoing dialog (the RPCs match it against `src`, as Kamailio does).
    Any,
    /// `src`.
    Src,
    /// `dst`.
    Dst,
    /// `data`.
    Data,
}

/// How a filter compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `eq`: equal.
    Eq,
    /// `ne`: not equal.
    Ne,
    /// `re`: POSIX extended regex, case-insensitive, anywhere in the value.
    Re,
    /// `sw`: starts with.
    Sw,
    /// `fm`: shell wildcard (`fnmatch` without flags).
    Fm,
}

/// Why a filter was refused (the RPC fault text for each is Kamailio's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FilterError {
    /// Unknown field name.
    Field(String),
    /// Unknown operator.
    Op(String),
    /// A regex that does not compile.
    Regex(String),
}

impl std::fmt::Display for FilterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FilterError::Field(s) => write!(f, "unknown field: {s}"),
            FilterError::Op(s) => write!(f, "unknown operator: {s}"),
            FilterError::Regex(s) => write!(f, "failed to compile regex: {s}"),
        }
    }
}

/// A compiled regex, held as its match function (the `regex` crate is the api crate's).
type Matcher = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// A prepared `field op data` filter.
#[derive(Clone)]
pub struct Filter {
    /// The field.
    pub field: Field,
    op: Op,
    data: Vec<u8>,
    re: Option<Matcher>,
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Filter")
            .field("field", &self.field)
            .field("op", &self.op)
            .field("data", &String::from_utf8_lossy(&self.data))
            .finish()
    }
}

impl Filter {
    /// Parses the three words of `dlgs_count` / `dlgs.get` (field and op case-insensitive).
    pub fn new(field: &[u8], op: &[u8], data: &[u8]) -> Result<Filter, FilterError> {
        let lossy = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let field = match field.to_ascii_lowercase().as_slice() {
            b"any" => Field::Any,
            b"src" => Field::Src,
            b"dst" => Field::Dst,
            b"data" => Field::Data,
            _ => return Err(FilterError::Field(lossy(field))),
        };
        let op = match op.to_ascii_lowercase().as_slice() {
            b"eq" => Op::Eq,
            b"ne" => Op::Ne,
            b"re" => Op::Re,
            b"sw" => Op::Sw,
            b"fm" => Op::Fm,
            _ => return Err(FilterError::Op(lossy(op))),
        };
        // Kamailio compiles with REG_EXTENDED | REG_ICASE (| REG_NEWLINE, which only matters
        // for values with line breaks: here `.` also matches a newline).
        let re = if op == Op::Re {
            let r = ferrosip_api::posix::compile(&lossy(data), true)
                .map_err(|e| FilterError::Regex(format!("{}: {e}", lossy(data))))?;
            Some(Arc::new(move |v: &[u8]| r.is_match(v)) as Matcher)
        } else {
            None
        };
        Ok(Filter {
            field,
            op,
            data: data.to_vec(),
            re,
        })
    }

    /// Whether the record matches (`any` compares `src`, as Kamailio's RPCs do).
    pub fn matches(&self, it: &Item) -> bool {
        let v: &[u8] = match self.field {
            Field::Any | Field::Src => &it.src,
            Field::Dst => &it.dst,
            Field::Data => &it.data,
        };
        match self.op {
            Op::Eq => v == self.data.as_slice(),
            Op::Ne => v != self.data.as_slice(),
            Op::Re => self.re.as_ref().is_some_and(|r| r(v)),
            Op::Sw => v.starts_with(&self.data),
            Op::Fm => fnmatch(&self.data, v),
        }
    }
}

/// Lifetimes in seconds (modparams `init_lifetime`, `active_lifetime`, `finish_lifetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// For INIT, PROGRESS and ANSWERED records, from creation.
    pub init: u64,
    /// For CONFIRMED records, from the answer.
    pub active: u64,
    /// For TERMINATED and NOTANSWERED records, from the end.
    pub finish: u64,
}

impl Default for Lifetimes {
    fn default() -> Lifetimes {
        Lifetimes {
            init: 180,
            active: 10800,
            finish: 10,
        }
    }
}

/// What [`Table::add`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Added {
    /// A new record.
    New,
    /// The Call-ID is tracked already: nothing changed.
    Exists,
}

#[derive(Debug, Default)]
struct Slot {
    // Sorted by hashid; a new record goes after the records with the same hashid.
    items: Vec<Item>,
    active: Stats,
}

/// The shared table of dialogs.
#[derive(Debug)]
pub struct Table {
    slots: Vec<Mutex<Slot>>,
    life: Lifetimes,
    removed: Mutex<Stats>,
    ruid_base: String,
    ruid_counter: AtomicU64,
}

impl Table {
    /// A table with `size` slots (rounded up to a power of two) and these lifetimes; record ids
    /// start with `dlgs-<started hex>-<pid hex>-`.
    pub fn new(size: usize, life: Lifetimes, started: u64) -> Table {
        let size = size.max(1).next_power_of_two();
        Table {
            slots: (0..size).map(|_| Mutex::new(Slot::default())).collect(),
            life,
            removed: Mutex::new(Stats::default()),
            ruid_base: format!("dlgs-{started:x}-{:x}-", std::process::id()),
            ruid_counter: AtomicU64::new(0),
        }
    }

    /// Number of slots.
    pub fn size(&self) -> usize {
        self.slots.len()
    }

    /// The lifetimes in force.
    pub fn lifetimes(&self) -> Lifetimes {
        self.life
    }

    fn slot_of(&self, hashid: u32) -> &Mutex<Slot> {
        // len is a power of two >= 1, so the mask keeps the index in range.
        let i = (hashid as usize) & (self.slots.len() - 1);
        &self.slots[i]
    }

    fn next_ruid(&self, hashid: u32) -> String {
        let n = self.ruid_counter.fetch_add(1, Ordering::Relaxed) + 1;
        // Kamailio's sruid prints its counter nibble by nibble, lowest first.
        let mut s = self.ruid_base.clone();
        let mut v = n;
        while v != 0 {
            let d = (v & 0xf) as u8;
            s.push(char::from(if d < 10 { b'0' + d } else { b'a' + d - 10 }));
            v >>= 4;
        }
        s.push_str(&format!("-{hashid:x}"));
        s
    }

    /// Starts tracking the dialog of an INVITE (nothing changes when the Call-ID is known).
    pub fn add(&self, k: &Keys<'_>, src: &[u8], dst: &[u8], data: &[u8], now: u64) -> Added {
        let hashid = case_hash(k.callid);
        let mut slot = lock(self.slot_of(hashid));
        let at = slot.items.partition_point(|it| it.hashid <= hashid);
        if slot.items[..at]
            .iter()
            .rev()
            .take_while(|it| it.hashid == hashid)
            .any(|it| it.callid == k.callid)
        {
            return Added::Exists;
        }
        let item = Item {
            hashid,
            callid: k.callid.to_vec(),
            ftag: k.ftag.to_vec(),
            ttag: k.ttag.to_vec(),
            ruid: self.next_ruid(hashid),
            src: src.to_vec(),
            dst: dst.to_vec(),
            data: data.to_vec(),
            state: State::Init,
            ts_init: now,
            ts_answer: 0,
            ts_finish: 0,
            tags: Vec::new(),
        };
        slot.active.add(State::Init);
        slot.items.insert(at, item);
        Added::New
    }

    /// Whether the Call-ID is tracked.
    pub fn contains(&self, callid: &[u8]) -> bool {
        self.with_item(callid, |_| ()).is_some()
    }

    /// Runs `f` on the record of `callid` under its slot's lock.
    fn with_item<R>(&self, callid: &[u8], f: impl FnOnce(&mut Item) -> R) -> Option<R> {
        let hashid = case_hash(callid);
        let mut slot = lock(self.slot_of(hashid));
        let it = slot
            .items
            .iter_mut()
            .find(|it| it.hashid == hashid && it.callid == callid)?;
        Some(f(it))
    }

    /// Applies a request or reply to the record of `callid`; returns (old, new) state, `None`
    /// when the Call-ID is not tracked.
    pub fn update(&self, callid: &[u8], ev: Event<'_>, now: u64) -> Option<(State, State)> {
        let hashid = case_hash(callid);
        let mut slot = lock(self.slot_of(hashid));
        let slot = &mut *slot;
        let it = slot
            .items
            .iter_mut()
            .find(|it| it.hashid == hashid && it.callid == callid)?;
        let old = it.state;
        let new = next_state(old, ev);
        if new != old {
            slot.active.sub(old);
            slot.active.add(new);
            it.state = new;
            match new {
                State::Answered => {
                    it.ts_answer = now;
                    if let Event::Reply { ttag, .. } = ev {
                        // Kamailio keeps room for a 127-byte To tag when the INVITE had none.
                        if it.ttag.is_empty() && !ttag.is_empty() && ttag.len() < 127 {
                            it.ttag = ttag.to_vec();
                        }
                    }
                }
                State::Terminated | State::NotAnswered => it.ts_finish = now,
                _ => {}
            }
        }
        Some((old, new))
    }

    /// Adds a tag to the record of `callid`; false when the Call-ID is not tracked.
    pub fn tags_add(&self, callid: &[u8], tag: &[u8]) -> bool {
        self.with_item(callid, |it| it.tags.insert(0, tag.to_vec()))
            .is_some()
    }

    /// Removes the newest occurrence of a tag; false when the Call-ID is not tracked.
    pub fn tags_rm(&self, callid: &[u8], tag: &[u8]) -> bool {
        self.with_item(callid, |it| {
            if let Some(i) = it.tags.iter().position(|t| t == tag) {
                it.tags.remove(i);
            }
        })
        .is_some()
    }

    /// Occurrences of a tag over the ongoing dialogs.
    pub fn tags_count(&self, tag: &[u8]) -> u64 {
        let mut n = 0u64;
        for s in &self.slots {
            let s = lock(s);
            for it in s.items.iter().filter(|it| !it.state.is_finished()) {
                n += it.tags.iter().filter(|t| t.as_slice() == tag).count() as u64;
            }
        }
        n
    }

    /// Ongoing dialogs matching the filter (`dlgs_count`).
    pub fn count(&self, f: &Filter) -> u64 {
        let mut n = 0u64;
        for s in &self.slots {
            let s = lock(s);
            if f.field == Field::Any {
                n += s.active.ongoing();
            } else {
                n += s
                    .items
                    .iter()
                    .filter(|it| !it.state.is_finished() && f.matches(it))
                    .count() as u64;
            }
        }
        n
    }

    /// Visits every record in table order (slot by slot, each under its lock) until `f` returns
    /// false. Finished records are included.
    pub fn visit(&self, mut f: impl FnMut(&Item) -> bool) {
        for s in &self.slots {
            let s = lock(s);
            for it in &s.items {
                if !f(it) {
                    return;
                }
            }
        }
    }

    /// Removes the records whose lifetime ended before `now`; returns how many.
    pub fn expire(&self, now: u64) -> usize {
        let life = self.life;
        let mut gone = Stats::default();
        let mut n = 0;
        for s in &self.slots {
            let mut s = lock(s);
            let s = &mut *s;
            let active = &mut s.active;
            s.items.retain(|it| {
                let (from, span) = match it.state {
                    State::Init | State::Progress | State::Answered => (it.ts_init, life.init),
                    State::Confirmed => (it.ts_answer, life.active),
                    State::Terminated | State::NotAnswered => (it.ts_finish, life.finish),
                };
                let keep = from.saturating_add(span) >= now;
                if !keep {
                    active.sub(it.state);
                    gone.add(it.state);
                    n += 1;
                }
                keep
            });
        }
        lock(&self.removed).merge(&gone);
        n
    }

    /// (removed records by their last state, records in memory by state).
    pub fn stats(&self) -> (Stats, Stats) {
        let mut active = Stats::default();
        for s in &self.slots {
            active.merge(&lock(s).active);
        }
        (*lock(&self.removed), active)
    }
}

/// The state after `ev` (Kamailio's `dlgs_update_item`).
pub fn next_state(s: State, ev: Event<'_>) -> State {
    match ev {
        Event::Request(Method::Ack) if s == State::Answered => State::Confirmed,
        Event::Request(Method::Cancel) if s < State::Answered => State::NotAnswered,
        Event::Request(Method::Bye) if matches!(s, State::Answered | State::Confirmed) => {
            State::Terminated
        }
        Event::Reply {
            cseq: Method::Invite,
            code,
            ..
        } => match code {
            100..=199 if s == State::Init => State::Progress,
            200..=299 if s < State::Answered => State::Answered,
            300.. if s < State::Answered => State::NotAnswered,
            _ => s,
        },
        _ => s,
    }
}

/// Kamailio's `core_case_hash` of one string: ASCII letters folded to lower case, other bytes
/// sign-extended as C's `char` is.
pub fn case_hash(s: &[u8]) -> u32 {
    let ch = |b: u8| -> u32 {
        let b = if b.is_ascii_uppercase() { b | 0x20 } else { b };
        // Sign extension of a C `char`, on purpose.
        i32::from(b as i8) as u32
    };
    let mut h: u32 = 0;
    let mut chunks = s.chunks_exact(4);
    for c in &mut chunks {
        let v = (ch(c[0]) << 24)
            .wrapping_add(ch(c[1]) << 16)
            .wrapping_add(ch(c[2]) << 8)
            .wrapping_add(ch(c[3]));
        h = h.wrapping_add(v ^ (v >> 3));
    }
    let mut v: u32 = 0;
    for &b in chunks.remainder() {
        v = (v << 8).wrapping_add(ch(b));
    }
    h = h.wrapping_add(v ^ (v >> 3));
    h.wrapping_add(h >> 11)
        .wrapping_add(h >> 13)
        .wrapping_add(h >> 23)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(callid: &str) -> Keys<'_> {
        Keys {
            callid: callid.as_bytes(),
            ftag: b"f1",
            ttag: b"",
        }
    }

    fn reply(code: u16) -> Event<'static> {
        Event::Reply {
            cseq: Method::Invite,
            code,
            ttag: b"t9",
        }
    }

    #[test]
    fn transitions() {
        use State::*;
        let cases: &[(State, Event<'_>, State)] = &[
            (Init, reply(100), Progress),
            (Init, reply(180), Progress),
            (Progress, reply(183), Progress),
            (Init, reply(200), Answered),
            (Progress, reply(200), Answered),
            (Answered, reply(200), Answered),
            (Init, reply(486), NotAnswered),
            (Progress, reply(302), NotAnswered),
            (Answered, reply(500), Answered),
            (Init, reply(99), Init),
            (Answered, Event::Request(Method::Ack), Confirmed),
            (Init, Event::Request(Method::Ack), Init),
            (Init, Event::Request(Method::Cancel), NotAnswered),
            (Progress, Event::Request(Method::Cancel), NotAnswered),
            (Answered, Event::Request(Method::Cancel), Answered),
            (Answered, Event::Request(Method::Bye), Terminated),
            (Confirmed, Event::Request(Method::Bye), Terminated),
            (Progress, Event::Request(Method::Bye), Progress),
            (Confirmed, Event::Request(Method::Invite), Confirmed),
            (Terminated, reply(200), Terminated),
            (
                Progress,
                Event::Reply {
                    cseq: Method::Bye,
                    code: 200,
                    ttag: b"",
                },
                Progress,
            ),
        ];
        for (from, ev, want) in cases {
            assert_eq!(next_state(*from, *ev), *want, "{from:?} {ev:?}");
        }
    }

    #[test]
    fn case_hash_matches_kamailio_core_case_hash() {
        // Reference values computed by hand from Kamailio's core_case_hash definition.
        assert_eq!(case_hash(b""), 0);
        assert_eq!(case_hash(b"a"), case_hash(b"A"));
        assert_eq!(case_hash(b"Call-ID@host"), case_hash(b"call-id@HOST"));
        assert_ne!(case_hash(b"abcd"), case_hash(b"abce"));
        // "a": v = 0x61, h = 0x61 ^ 0x0c = 0x6d, no high bits to fold.
        assert_eq!(case_hash(b"a"), 0x6d);
    }

    #[test]
    fn add_update_expire_and_stats() {
        let t = Table::new(4, Lifetimes::default(), 0x1234);
        assert_eq!(t.add(&keys("c1"), b"s", b"d", b"x", 100), Added::New);
        assert_eq!(t.add(&keys("c1"), b"s2", b"d2", b"", 101), Added::Exists);
        assert_eq!(t.add(&keys("C1"), b"s", b"d", b"x", 100), Added::New);
        assert_eq!(t.update(b"nope", reply(180), 100), None);
        assert_eq!(
            t.update(b"c1", reply(200), 105),
            Some((State::Init, State::Answered))
        );
        let mut seen = Vec::new();
        t.visit(|it| {
            seen.push((it.callid.clone(), it.ttag.clone(), it.ts_answer));
            true
        });
        assert!(seen.contains(&(b"c1".to_vec(), b"t9".to_vec(), 105)));
        let (gone, active) = t.stats();
        assert_eq!(gone, Stats::default());
        assert_eq!((active.init, active.answered), (1, 1));
        // init_lifetime 180 from creation: still there at 280, gone at 281 (strictly after).
        assert_eq!(t.expire(280), 0);
        assert_eq!(t.expire(281), 2);
        let (gone, active) = t.stats();
        assert_eq!((gone.init, gone.answered), (1, 1));
        assert_eq!(active, Stats::default());
    }

    #[test]
    fn ruid_shape() {
        let t = Table::new(1, Lifetimes::default(), 0xab);
        t.add(&keys("c1"), b"", b"", b"", 1);
        let mut r = String::new();
        t.visit(|it| {
            r = it.ruid.clone();
            true
        });
        let want = format!("dlgs-ab-{:x}-1-{:x}", std::process::id(), case_hash(b"c1"));
        assert_eq!(r, want);
        // Counter 0x1f prints low nibble first: "f1".
        t.ruid_counter.store(0x1e, Ordering::Relaxed);
        assert!(t.next_ruid(0).contains("-f1-0"));
    }

    #[test]
    fn filters() {
        let it = Item {
            hashid: 0,
            callid: b"c".to_vec(),
            ftag: b"f".to_vec(),
            ttag: Vec::new(),
            ruid: String::new(),
            src: b"sip:alice@example.com".to_vec(),
            dst: b"sip:bob@example.com".to_vec(),
            data: b"gw1".to_vec(),
            state: State::Init,
            ts_init: 0,
            ts_answer: 0,
            ts_finish: 0,
            tags: Vec::new(),
        };
        let cases: &[(&str, &str, &str, bool)] = &[
            ("src", "eq", "sip:alice@example.com", true),
            ("SRC", "EQ", "sip:alice@example.com", true),
            ("src", "eq", "sip:alice@example.co", false),
            ("src", "ne", "sip:carol@example.com", true),
            ("src", "ne", "sip:alice@example.com", false),
            ("dst", "sw", "sip:bob@", true),
            ("dst", "sw", "sip:bob@example.com.", false),
            ("data", "re", "^GW[0-9]$", true),
            ("data", "re", "gw[2-9]", false),
            ("dst", "fm", "sip:*@example.*", true),
            ("dst", "fm", "sip:?ob@*", true),
            ("dst", "fm", "sip:b*", true),
            ("dst", "fm", "bob", false),
            ("any", "eq", "sip:alice@example.com", true),
            ("any", "eq", "*", false),
        ];
        for (f, o, d, want) in cases {
            let flt = Filter::new(f.as_bytes(), o.as_bytes(), d.as_bytes())
                .unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(flt.matches(&it), *want, "{f} {o} {d}");
        }
        for (f, o, d, err) in [
            ("from", "eq", "x", FilterError::Field("from".into())),
            ("src", "lt", "x", FilterError::Op("lt".into())),
        ] {
            assert_eq!(
                Filter::new(f.as_bytes(), o.as_bytes(), d.as_bytes()).err(),
                Some(err)
            );
        }
        assert!(matches!(
            Filter::new(b"src", b"re", b"(").err(),
            Some(FilterError::Regex(_))
        ));
        // The regex is compiled for `any` too (Kamailio refuses it the same way).
        assert!(Filter::new(b"any", b"re", b"(").is_err());
        assert!(Filter::new(b"any", b"fm", b"[").is_ok());
    }
}
