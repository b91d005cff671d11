//! `pike`: flood detection per source IP (Kamailio's pike module). Each request marks its source
//! address in a tree of address prefixes, one level per address byte: a prefix node counts hits,
//! and only when a prefix gets busy (a quarter of `reqs_density_per_unit` in a sampling unit) is
//! it split towards the full address, so the tree grows only where traffic is. A full-address
//! node that reaches the density in the current unit, the previous one or on average is "red":
//! `pike_check_req` then fails (-2 the first time, -1 after) until a sampling-unit swap finds
//! it cold again. Nodes unused for `remove_latency` seconds are removed.
//!
//! Time is driven by [`PikeApi::tick`], which the server's timer calls every second with `now`
//! (seconds): it swaps the sampling windows every `sampling_time_unit` and removes expired nodes.
//! Without ticks nothing is swapped or removed. The 256 first-byte branches each have their own
//! lock, as Kamailio's.

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use ferrosip_api::export::{
    FnExport, ModParam, ModParamType as T, ParamKind as K, RpcExport, RpcFault, RpcValue,
};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask};

const SAT: u16 = u16::MAX - 1;

#[derive(Debug, Clone, Copy)]
struct PikeConfig {
    unit: u64,
    max_hits: u16,
    latency: u64,
    log_level: i32,
}

#[derive(Debug, Default)]
struct Node {
    byte: u8,
    hits: [u16; 2], // [previous, current]
    leaf_hits: [u16; 2],
    ip_leaf: bool,
    red: bool,
    // Some(t): in the timer list, removed at tick t.
    expires: Option<u64>,
    kids: Vec<Node>,
}

impl Node {
    fn new(byte: u8) -> Node {
        Node {
            byte,
            ..Node::default()
        }
    }
}

/// Module state.
#[derive(Debug)]
pub struct PikeState {
    cfg: OnceLock<PikeConfig>,
    branches: Vec<Mutex<Option<Node>>>,
    ticks: AtomicU64,
    last_swap: AtomicU64,
}

impl Default for PikeState {
    fn default() -> PikeState {
        PikeState {
            cfg: OnceLock::new(),
            branches: (0..256).map(|_| Mutex::new(None)).collect(),
            ticks: AtomicU64::new(0),
            last_swap: AtomicU64::new(0),
        }
    }
}

/// What the server's timer calls, and a direct check for other modules.
#[derive(Debug, Clone)]
pub struct PikeApi {
    state: Arc<PikeState>,
}

/// Outcome of marking one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// Below the limit (1).
    Ok,
    /// Just became blocked (-2).
    NewlyBlocked,
    /// Still blocked (-1).
    Blocked,
}

impl Mark {
    /// The script return code.
    pub fn code(self) -> i64 {
        match self {
            Mark::Ok => 1,
            Mark::NewlyBlocked => -2,
            Mark::Blocked => -1,
        }
    }
}

impl PikeApi {
    /// The timer: call every second with `now` (seconds). Swaps the windows every
    /// `sampling_time_unit` seconds and removes nodes idle for `remove_latency`. Returns the
    /// addresses unblocked by this tick.
    pub fn tick(&self, now: u64) -> Vec<IpAddr> {
        self.state.tick(now)
    }

    /// Marks one hit from `ip` (what `pike_check_req` does for the source address).
    pub fn check(&self, ip: IpAddr) -> Mark {
        self.state.mark(ip)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn octets(ip: IpAddr) -> Vec<u8> {
    match ip {
        IpAddr::V4(a) => a.octets().to_vec(),
        IpAddr::V6(a) => a.octets().to_vec(),
    }
}

impl PikeState {
    fn cfg(&self) -> PikeConfig {
        self.cfg.get().copied().unwrap_or(PikeConfig {
            unit: 2,
            max_hits: 30,
            latency: 120,
            log_level: 0,
        })
    }

    fn mark(&self, ip: IpAddr) -> Mark {
        let c = self.cfg();
        let addr = octets(ip);
        let Some(first) = addr.first().copied() else {
            return Mark::Ok;
        };
        let now = self.ticks.load(Ordering::Relaxed);
        let expires = now + c.latency;
        let hot_prefix = |n: &Node| {
            let q = c.max_hits >> 2;
            n.hits[0] >= q
                || n.hits[1] >= q
                || ((u32::from(n.hits[0]) + u32::from(n.hits[1])) >> 1) >= u32::from(q)
        };
        let Some(branch) = self.branches.get(usize::from(first)) else {
            return Mark::Ok;
        };
        let mut root = lock(branch);
        let Some(mut node) = root.as_mut() else {
            // An empty branch: a node for the first byte, one hit.
            let mut n = Node::new(first);
            n.hits[1] = 1;
            n.expires = Some(expires);
            *root = Some(n);
            return Mark::Ok;
        };
        // Longest known prefix.
        let mut depth = 1;
        while depth < addr.len() {
            let Some(b) = addr.get(depth) else { break };
            let Some(pos) = node.kids.iter().position(|k| k.byte == *b) else {
                break;
            };
            // pos was just found in this vector.
            node = &mut node.kids[pos];
            depth += 1;
        }
        if depth == addr.len() {
            node.ip_leaf = true;
            if node.leaf_hits[1] < SAT {
                node.leaf_hits[1] += 1;
            }
            let hot = hot_leaf(node, c.max_hits);
            let res = if node.red {
                Mark::Blocked
            } else if hot {
                node.red = true;
                Mark::NewlyBlocked
            } else {
                Mark::Ok
            };
            if node.expires.is_some() {
                node.expires = Some(expires);
            }
            return res;
        }
        if node.hits[1] < SAT {
            node.hits[1] += 1;
        }
        if hot_prefix(node) {
            // Split towards the full address: the new kid inherits the parent's hits minus one.
            let mut kid = Node::new(addr.get(depth).copied().unwrap_or(0));
            kid.hits[1] = node.hits[1].saturating_sub(1);
            kid.expires = Some(expires);
            // A prefix with its first kid and no address of its own leaves the timer.
            if !node.ip_leaf && node.kids.is_empty() {
                node.expires = None;
            }
            node.kids.push(kid);
        } else if node.expires.is_some() && node.hits[1] >= c.max_hits >> 2 {
            node.expires = Some(expires);
        }
        Mark::Ok
    }

    fn tick(&self, now: u64) -> Vec<IpAddr> {
        let c = self.cfg();
        self.ticks.store(now, Ordering::Relaxed);
        let mut unblocked = Vec::new();
        let swap = now >= self.last_swap.load(Ordering::Relaxed) + c.unit;
        if swap {
            self.last_swap.store(now, Ordering::Relaxed);
        }
        for (i, b) in self.branches.iter().enumerate() {
            let mut g = lock(b);
            let Some(root) = g.as_mut() else { continue };
            let mut path = vec![u8::try_from(i).unwrap_or(0)];
            if swap {
                refresh(root, c.max_hits, &mut path, &mut unblocked);
            }
            // Expired nodes go; a parent left without kids re-enters the timer.
            if clean(root, now, c.latency) {
                *g = None;
            }
        }
        for ip in &unblocked {
            if c.log_level <= 0 {
                // Logged by the server through tracing; the script-visible log needs a context.
                tracing::warn!("PIKE - UNBLOCKing ip {ip}");
            }
        }
        unblocked
    }

    fn top(&self, filter: &str) -> Vec<RpcValue> {
        let c = self.cfg();
        let mut out = Vec::new();
        for (i, b) in self.branches.iter().enumerate() {
            let g = lock(b);
            if let Some(root) = g.as_ref() {
                let mut path = vec![u8::try_from(i).unwrap_or(0)];
                collect(root, c.max_hits, &mut path, filter, &mut out);
            }
        }
        out
    }
}

fn hot_leaf(n: &Node, max: u16) -> bool {
    n.leaf_hits[0] >= max
        || n.leaf_hits[1] >= max
        || ((u32::from(n.leaf_hits[0]) + u32::from(n.leaf_hits[1])) >> 1) >= u32::from(max)
}

fn addr_of(path: &[u8]) -> Option<IpAddr> {
    match path.len() {
        4 => <[u8; 4]>::try_from(path).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(path).ok().map(IpAddr::from),
        _ => None,
    }
}

fn refresh(n: &mut Node, max: u16, path: &mut Vec<u8>, unblocked: &mut Vec<IpAddr>) {
    n.hits = [n.hits[1], 0];
    n.leaf_hits = [n.leaf_hits[1], 0];
    if n.red && !hot_leaf(n, max) {
        n.red = false;
        unblocked.extend(addr_of(path));
    }
    for k in &mut n.kids {
        path.push(k.byte);
        refresh(k, max, path, unblocked);
        path.pop();
    }
}

/// Removes expired descendants; true when `n` itself must go.
fn clean(n: &mut Node, now: u64, latency: u64) -> bool {
    let had_kids = !n.kids.is_empty();
    n.kids.retain_mut(|k| !clean(k, now, latency));
    if had_kids && n.kids.is_empty() && n.expires.is_none() {
        n.expires = Some(now + latency);
    }
    match n.expires {
        Some(t) if t <= now => {
            if n.kids.is_empty() {
                return true;
            }
            // An address that is also a prefix of longer ones stays while they do.
            n.ip_leaf = false;
            n.leaf_hits[1] = 0;
            n.expires = None;
            false
        }
        _ => false,
    }
}

fn collect(n: &Node, max: u16, path: &mut Vec<u8>, filter: &str, out: &mut Vec<RpcValue>) {
    if n.ip_leaf {
        let status = if n.red || hot_leaf(n, max) {
            "HOT"
        } else if n.hits[1] >= max >> 2 || n.leaf_hits[1] >= max >> 2 {
            "WARM"
        } else {
            "ALL"
        };
        let keep = match filter {
            "HOT" => status == "HOT",
            "WARM" => status != "ALL",
            _ => true,
        };
        if keep {
            if let Some(ip) = addr_of(path) {
                out.push(RpcValue::Struct(vec![
                    ("ip_addr".into(), RpcValue::Str(ip.to_string())),
                    (
                        "leaf_hits_prev".into(),
                        RpcValue::Int(i64::from(n.leaf_hits[0])),
                    ),
                    (
                        "leaf_hits_curr".into(),
                        RpcValue::Int(i64::from(n.leaf_hits[1])),
                    ),
                    (
                        "expires".into(),
                        RpcValue::Int(n.expires.and_then(|e| i64::try_from(e).ok()).unwrap_or(0)),
                    ),
                    ("status".into(), RpcValue::Str(status.into())),
                ]));
            }
        }
    }
    for k in &n.kids {
        path.push(k.byte);
        collect(k, max, path, filter, out);
        path.pop();
    }
}

/// The `pike` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(PikeState::default());
    let mut m = ModuleExports::new("pike");
    m.params = vec![
        ModParam::new(
            "sampling_time_unit",
            T::Int,
            "seconds of one sampling window (2)",
        ),
        ModParam::new(
            "reqs_density_per_unit",
            T::Int,
            "requests per window that block an address (30)",
        ),
        ModParam::new(
            "remove_latency",
            T::Int,
            "seconds an idle address stays in the tree (120)",
        ),
        ModParam::new(
            "pike_log_level",
            T::Int,
            "log level of the BLOCKing/UNBLOCKing lines (L_WARN)",
        ),
    ];
    let s = Arc::clone(&st);
    m.functions.push(
        FnExport::new(
            "pike_check_req",
            &[],
            RouteMask::REQUEST,
            "mark the source address; false when it floods",
        )
        .with(move |ctx, _| {
            let ip = ctx.rcv.src.ip();
            Ok(RetCode(check_logged(&s, ctx, ip)))
        }),
    );
    let s = Arc::clone(&st);
    m.functions.push(
        FnExport::new(
            "pike_check_ip",
            &[K::Spve],
            RouteMask::ANY,
            "mark a given address; false when it floods",
        )
        .with(move |ctx, a| {
            let text = a.first().map(|x| x.bytes(ctx)).unwrap_or_default();
            let Some(ip) = std::str::from_utf8(&text)
                .ok()
                .and_then(|t| t.trim_matches(['[', ']']).parse::<IpAddr>().ok())
            else {
                ctx.log_error(&format!(
                    "failed to parse ip address: {}",
                    String::from_utf8_lossy(&text)
                ));
                return Ok(RetCode(-1));
            };
            Ok(RetCode(check_logged(&s, ctx, ip)))
        }),
    );
    let s = Arc::clone(&st);
    m.rpcs.push(RpcExport {
        name: "pike.top",
        doc: "addresses in the tree: optional filter ALL, HOT or WARM",
        handler: Arc::new(move |a: &[RpcValue]| {
            let f = match a.first() {
                Some(RpcValue::Str(x)) => x.to_ascii_uppercase(),
                None => "HOT".into(),
                _ => {
                    return Err(RpcFault {
                        code: 400,
                        message: "Invalid filter".into(),
                    })
                }
            };
            if !matches!(f.as_str(), "ALL" | "HOT" | "WARM") {
                return Err(RpcFault {
                    code: 400,
                    message: format!("Invalid filter `{f}`: ALL, HOT or WARM"),
                });
            }
            Ok(RpcValue::Array(s.top(&f)))
        }),
    });
    let s = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| {
        let int = |n: &str, d: i64| match ictx.modparam(n) {
            Some(ModValue::Int(i)) => *i,
            _ => d,
        };
        let pos = |n: &str, d: i64| -> Result<u64, Error> {
            u64::try_from(int(n, d))
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| Error::Config(format!("pike: {n} must be positive")))
        };
        let c = PikeConfig {
            unit: pos("sampling_time_unit", 2)?,
            max_hits: u16::try_from(pos("reqs_density_per_unit", 30)?)
                .map_err(|_| Error::Config("pike: reqs_density_per_unit too big".into()))?,
            latency: pos("remove_latency", 120)?,
            log_level: i32::try_from(int("pike_log_level", 0)).unwrap_or(0),
        };
        s.cfg
            .set(c)
            .map_err(|_| Error::Init("pike initialised twice".into()))?;
        ictx.provide(Arc::new(PikeApi {
            state: Arc::clone(&s),
        }));
        Ok(())
    }));
    m
}

fn check_logged(st: &PikeState, ctx: &mut Ctx<'_>, ip: IpAddr) -> i64 {
    let r = st.mark(ip);
    if r == Mark::NewlyBlocked {
        let lvl = st.cfg().log_level;
        ctx.log(lvl, &format!("PIKE - BLOCKing ip {ip}"));
    }
    r.code()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(max: u16) -> PikeState {
        let s = PikeState::default();
        let _ = s.cfg.set(PikeConfig {
            unit: 2,
            max_hits: max,
            latency: 10,
            log_level: 0,
        });
        s
    }

    #[test]
    fn blocking_needs_the_tree_to_grow_first() {
        // density 30: the first-byte node splits at 7 hits, then one hit per level, then the
        // full address counts leaf hits from 1 to 30.
        let s = state(30);
        let ip: IpAddr = "10.1.2.3".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let codes: Vec<i64> = (0..45).map(|_| s.mark(ip).code()).collect();
        let first_block = codes.iter().position(|c| *c == -2);
        assert_eq!(first_block, Some(9 + 29), "{codes:?}");
        assert!(codes.iter().skip(39).all(|c| *c == -1));
        // Another address of the same /8 is not blocked.
        assert_eq!(s.mark("10.9.9.9".parse().unwrap_or(ip)), Mark::Ok);
    }
}
