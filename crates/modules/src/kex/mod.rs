//! Kamailio's `kex` module: script flags (`setsflag` …), branch flags with an optional branch
//! index (`setbflag(flag[, idx])` …), the destination URI (`setdsturi`, `resetdsturi`,
//! `isdsturiset`), `pv_printf`/`avp_printf`, `is_myself`/`is_myhost` and `$sruid`.
//!
//! The statistics RPCs (`stats.get_statistics`, `stats.fetch`, `stats.fetchn`,
//! `stats.reset_statistics`, `stats.clear_statistics`) serve the shared statistics registry
//! ([`ferrosip_api::Stats`], taken at init): see [`stats`].
//!
//! `setdebug`/`resetdebug` set and clear the worker thread's own log level
//! ([`ferrosip_api::Server::set_worker_log_level`]; Kamailio's is per process). Not exported: `pkg.stats`, `mod.stats`, `pkg.info`, `shm.*` (ferrosip has no Kamailio memory pools
//! to report on; the core's `core.shmmem` reports the process memory instead).
//!
//! Branch index: 0 is the main branch (the R-URI, `$bf`), `n` is the `n`-th additional branch
//! (Kamailio's `get_bflags_ptr`); an index past the last branch fails (-1).

pub mod stats;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use ferrosip_api::export::{Arg, FnExport, ParamKind as K, PvExport, PvNameRule};
use ferrosip_api::{Ctx, Error, ModuleExports, Proto, RetCode, RouteMask, Value};

/// The `kex` export table.
pub fn exports() -> ModuleExports {
    let any = RouteMask::ANY;
    let mut m = ModuleExports::new("kex");
    let mut f = vec![
        FnExport::new("setsflag", &[K::IntOrVar], any, "set a script flag (0..31)")
            .with(|c, a| sflag(c, a, Op::Set)),
        FnExport::new(
            "resetsflag",
            &[K::IntOrVar],
            any,
            "reset a script flag (0..31)",
        )
        .with(|c, a| sflag(c, a, Op::Reset)),
        FnExport::new(
            "issflagset",
            &[K::IntOrVar],
            any,
            "true when the script flag is set",
        )
        .with(|c, a| sflag(c, a, Op::Test)),
    ];
    for (name, op, doc1, doc2) in [
        (
            "setbflag",
            Op::Set,
            "set a branch flag of the main branch",
            "set a branch flag of branch idx (0 = main)",
        ),
        (
            "resetbflag",
            Op::Reset,
            "reset a branch flag of the main branch",
            "reset a branch flag of branch idx (0 = main)",
        ),
        (
            "isbflagset",
            Op::Test,
            "true when the branch flag of the main branch is set",
            "true when the branch flag of branch idx (0 = main) is set",
        ),
    ] {
        f.push(FnExport::new(name, &[K::IntOrVar], any, doc1).with(move |c, a| bflag(c, a, op)));
        f.push(
            FnExport::new(name, &[K::IntOrVar, K::IntOrVar], any, doc2)
                .with(move |c, a| bflag(c, a, op)),
        );
    }
    f.extend([
        FnExport::new(
            "setdsturi",
            &[K::Spve],
            any,
            "set the destination URI ($du)",
        )
        .with(|c, a| {
            // An empty value resets $du (Kamailio's set_dst_uri), still true.
            let u = arg_bytes(c, a, 0)?;
            c.state.dst_uri = if u.is_empty() { None } else { Some(u) };
            Ok(RetCode::TRUE)
        }),
        FnExport::new("resetdsturi", &[], any, "clear the destination URI ($du)").with(|c, _| {
            c.state.dst_uri = None;
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "isdsturiset",
            &[],
            any,
            "true when the destination URI is set",
        )
        .with(|c, _| {
            Ok(RetCode::from_bool(
                c.state.dst_uri.as_ref().is_some_and(|d| !d.is_empty()),
            ))
        }),
        printf("pv_printf"),
        printf("avp_printf"),
        FnExport::new(
            "is_myself",
            &[K::Spve],
            any,
            "true when the URI (host, port, transport) or host is a local address",
        )
        .with(|c, a| {
            let v = arg_bytes(c, a, 0)?;
            Ok(RetCode(is_myself(c, &v, true)))
        }),
        FnExport::new(
            "is_myhost",
            &[K::Spve],
            any,
            "true when the host of the URI (port ignored) is a local address",
        )
        .with(|c, a| {
            let v = arg_bytes(c, a, 0)?;
            Ok(RetCode(is_myself(c, &v, false)))
        }),
        FnExport::new(
            "setdebug",
            &[K::IntOrVar],
            any,
            "give this worker its own log level, kept for its next messages",
        )
        .with(|c, a| {
            let level = a
                .first()
                .ok_or_else(|| Error::Runtime("missing parameter".into()))?
                .int(c)?;
            let level = i32::try_from(level.clamp(-5, 3)).unwrap_or(3);
            Ok(RetCode::from_bool(
                c.server.set_worker_log_level(Some(level)),
            ))
        }),
        FnExport::new(
            "resetdebug",
            &[],
            any,
            "make this worker follow the global log level (debug) again",
        )
        .with(|c, _| Ok(RetCode::from_bool(c.server.set_worker_log_level(None)))),
    ]);
    m.functions = f;
    let gen = Arc::new(Sruid::new());
    m.pvs = vec![PvExport {
        name: "sruid",
        doc: "a new unique id at each read (srid-<time>-<pid>-<counter>, hex; counter digits reversed as Kamailio)",
        inner: PvNameRule::None,
        indexed: false,
        parse: None,
        get: Arc::new(move |_, _| Ok(Value::Str(gen.next()))),
        set: None,
    }];
    let cell: stats::Cell = Arc::new(OnceLock::new());
    m.rpcs = stats::rpcs(&cell);
    m.init = Some(Arc::new(move |ictx| {
        let _ = cell.set(ictx.stats());
        Ok(())
    }));
    m
}

/// Kamailio's `sruid` in `SRUID_INC` mode: a root made of the time and the process id at start,
/// then a counter, all hex (`srid-65a1b2c3-1f2e-1`).
#[derive(Debug)]
pub struct Sruid {
    root: String,
    counter: AtomicU32,
}

impl Default for Sruid {
    fn default() -> Sruid {
        Sruid::new()
    }
}

impl Sruid {
    /// A generator rooted at the current time and process id.
    pub fn new() -> Sruid {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        Sruid {
            root: format!("srid-{:x}-{:x}-", t as u32, std::process::id()),
            counter: AtomicU32::new(0),
        }
    }

    /// The next id. As Kamailio's `sruid_nextx`, the counter is written as lower-case hex digits
    /// least significant first (16 → `01`, 26 → `a1`).
    pub fn next(&self) -> Vec<u8> {
        let mut n = self.counter.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        if n == 0 {
            n = 1;
        }
        let mut out = self.root.clone().into_bytes();
        while n != 0 {
            out.extend_from_slice(format!("{:x}", n & 0xf).as_bytes());
            n >>= 4;
        }
        out
    }
}

/// `is_myself`/`is_myhost`: a `sip:`/`sips:` URI is parsed and its host (with port and transport
/// when `with_port`) checked; anything else is checked as a host name. 1 or -1.
pub fn is_myself(ctx: &mut Ctx<'_>, v: &[u8], with_port: bool) -> i64 {
    let is_uri = v.len() > 4 && (v.starts_with(b"sip:") || v.starts_with(b"sips:"));
    if !is_uri {
        return if ctx.server.is_myself(v, 0, None) {
            1
        } else {
            -1
        };
    }
    let Some(u) = crate::pv::uriops::parse(v) else {
        ctx.log_error(&format!(
            "failed to parse uri [{}]",
            String::from_utf8_lossy(v)
        ));
        return -1;
    };
    let host = u.host.of(v);
    let (port, proto) = if with_port {
        (
            u.port.unwrap_or(0),
            u.transport
                .and_then(|t| t.value)
                .and_then(|t| Proto::from_name(t.of(v))),
        )
    } else {
        (0, None)
    };
    if ctx.server.is_myself(host, port, proto) {
        1
    } else {
        -1
    }
}

// ---- internals ----

#[derive(Debug, Clone, Copy)]
enum Op {
    Set,
    Reset,
    Test,
}

fn apply(flags: &mut u32, bit: u32, op: Op) -> RetCode {
    let mask = 1u32 << bit;
    match op {
        Op::Set => *flags |= mask,
        Op::Reset => *flags &= !mask,
        Op::Test => return RetCode::from_bool(*flags & mask != 0),
    }
    RetCode::TRUE
}

fn flag_arg(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Result<Option<u32>, Error> {
    let v = a
        .get(i)
        .ok_or_else(|| Error::Runtime("missing parameter".into()))?
        .int(ctx)?;
    Ok(u32::try_from(v).ok().filter(|f| *f <= 31))
}

fn sflag(ctx: &mut Ctx<'_>, a: &[Arg], op: Op) -> Result<RetCode, Error> {
    let Some(bit) = flag_arg(ctx, a, 0)? else {
        return Ok(RetCode::FALSE);
    };
    Ok(apply(&mut ctx.state.sflags, bit, op))
}

fn bflag(ctx: &mut Ctx<'_>, a: &[Arg], op: Op) -> Result<RetCode, Error> {
    let Some(bit) = flag_arg(ctx, a, 0)? else {
        return Ok(RetCode::FALSE);
    };
    let idx = match a.get(1) {
        Some(x) => x.int(ctx)?,
        None => 0,
    };
    let flags = match usize::try_from(idx) {
        Ok(0) => &mut ctx.state.bflags,
        Ok(n) => match ctx.state.branches.get_mut(n - 1) {
            Some(b) => &mut b.flags,
            None => return Ok(RetCode::FALSE),
        },
        Err(_) => return Ok(RetCode::FALSE),
    };
    Ok(apply(flags, bit, op))
}

fn arg_bytes(ctx: &mut Ctx<'_>, a: &[Arg], i: usize) -> Result<Vec<u8>, Error> {
    Ok(a.get(i)
        .ok_or_else(|| Error::Runtime("missing parameter".into()))?
        .bytes(ctx))
}

fn printf(name: &'static str) -> FnExport {
    FnExport::new(
        name,
        &[K::VarW, K::Spve],
        RouteMask::ANY,
        "evaluate the format and assign the string to the variable",
    )
    .fixup(|a| match a.first() {
        Some(Arg::Var(p)) if p.is_writable() => Ok(()),
        _ => Err("read-only script variable in first parameter".into()),
    })
    .with(|c, a| {
        let Some(Arg::Var(p)) = a.first() else {
            return Err(Error::Runtime("missing variable".into()));
        };
        let p = p.clone();
        let v = arg_bytes(c, a, 1)?;
        p.set(c, Value::Str(v))?;
        Ok(RetCode::TRUE)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sruid_is_unique_and_shaped() {
        let g = Sruid::new();
        let a = String::from_utf8(g.next()).unwrap_or_default();
        let b = String::from_utf8(g.next()).unwrap_or_default();
        assert_ne!(a, b);
        for s in [&a, &b] {
            let parts: Vec<&str> = s.split('-').collect();
            assert_eq!(parts.len(), 4, "{s}");
            assert_eq!(parts[0], "srid");
            assert!(parts[1..]
                .iter()
                .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_hexdigit())));
        }
        assert!(a.ends_with("-1") && b.ends_with("-2"));
        for _ in 2..26 {
            g.next();
        }
        let c = String::from_utf8(g.next()).unwrap_or_default();
        assert!(
            c.ends_with("-b1"),
            "27 is 0x1b, least significant digit first: {c}"
        );
    }

    #[test]
    fn flag_ops() {
        let mut f = 0u32;
        let cases = [
            (3, Op::Set, 1, 8),
            (3, Op::Test, 1, 8),
            (4, Op::Test, -1, 8),
            (31, Op::Set, 1, 0x8000_0008),
            (3, Op::Reset, 1, 0x8000_0000),
        ];
        for (bit, op, rc, after) in cases {
            assert_eq!(apply(&mut f, bit, op).0, rc, "{bit} {op:?}");
            assert_eq!(f, after);
        }
    }
}
