//! Kamailio's `maxfwd` module: `Max-Forwards` processing (`mf_process_maxfwd_header` and its
//! aliases) and checks (`is_maxfwd_lt` and its aliases), modparam `max_limit`.
//!
//! As in Kamailio, a missing header is added (`Max-Forwards: N` before the first header) and a
//! present one is decremented in place: the new digits are right-aligned in the old digits' span,
//! padded with spaces on the left (`10` becomes ` 9`). Here that is an edit of the same length;
//! the script keeps seeing the received value (Kamailio writes into the buffer, so its script sees
//! the new one — the only difference, noted in docs/modules-1.md).

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{Arg, FnExport, ModParam, ModParamType, ParamKind as K};
use ferrosip_api::{Ctx, Error, ModValue, ModuleExports, RetCode, RouteMask};
use ferrosip_sipmsg::HeaderKind;

/// Default of `max_limit`.
pub const DEFAULT_MAX_LIMIT: i64 = 70;

/// The `maxfwd` export table.
pub fn exports() -> ModuleExports {
    let limit: Arc<OnceLock<i64>> = Arc::new(OnceLock::new());
    let mut m = ModuleExports::new("maxfwd");
    let lt_routes = RouteMask::REQUEST
        .or(RouteMask::FAILURE)
        .or(RouteMask::BRANCH);
    let process = |name: &'static str, doc: &'static str| {
        let l = Arc::clone(&limit);
        FnExport::new(name, &[K::IntOrVar], RouteMask::REQUEST, doc).with(move |ctx, a| {
            let v = int_arg(ctx, a)?;
            Ok(RetCode(process_maxfwd(
                ctx,
                v,
                *l.get().unwrap_or(&DEFAULT_MAX_LIMIT),
            )))
        })
    };
    let lt = |name: &'static str, doc: &'static str| {
        FnExport::new(name, &[K::IntOrVar], lt_routes, doc).with(|ctx, a| {
            let v = int_arg(ctx, a)?;
            Ok(RetCode(is_maxfwd_lt(ctx, v)))
        })
    };
    m.functions = vec![
        process(
            "mf_process_maxfwd_header",
            "add Max-Forwards (value N) when absent, else decrement; -1 when it is 0, 2 when added",
        ),
        process("maxfwd_process", "alias of mf_process_maxfwd_header"),
        process("process_maxfwd", "alias of mf_process_maxfwd_header"),
        lt(
            "is_maxfwd_lt",
            "true when Max-Forwards is below N; -2 when absent, -3 when unparsable",
        ),
        lt(
            "maxfwd_at_least",
            "alias of is_maxfwd_lt (same code, same result)",
        ),
        lt("mf_lowlimit", "alias of is_maxfwd_lt"),
    ];
    m.params = vec![ModParam::new(
        "max_limit",
        ModParamType::Int,
        "highest value kept when decrementing (0..255, default 70)",
    )
    .check(|v| match v {
        ModValue::Int(i) if (0..=255).contains(i) => Ok(()),
        _ => Err("must be 0..255".into()),
    })];
    let l = Arc::clone(&limit);
    m.init = Some(Arc::new(move |ictx| {
        let v = match ictx.modparam("max_limit") {
            Some(ModValue::Int(i)) => *i,
            _ => DEFAULT_MAX_LIMIT,
        };
        l.set(v)
            .map_err(|_| Error::Init("maxfwd initialised twice".into()))
    }));
    m
}

/// `mf_process_maxfwd_header(limit)` with `max_limit`: 2 = header added, 1 = decremented,
/// -1 = value 0 (or limit outside 0..255), -2 = error (unparsable value).
pub fn process_maxfwd(ctx: &mut Ctx<'_>, limit: i64, max_limit: i64) -> i64 {
    if !(0..=255).contains(&limit) {
        ctx.log_error(&format!("invalid param value: {limit}"));
        return -1;
    }
    match present(ctx) {
        Present::Absent => {
            let first = match ctx.msg.headers() {
                Ok(h) => h.first().map(|h| h.span.start as usize),
                Err(_) => None,
            };
            let Some(at) = first else {
                ctx.log_error("message has no header anchor");
                return -2;
            };
            let text = format!("Max-Forwards: {limit}\r\n");
            if ctx.edits.insert_at(at, text.as_bytes()).is_err() {
                return -2;
            }
            2
        }
        Present::Bad => -2,
        Present::Value(0, _) => -1,
        Present::Value(v, span) => {
            // A value above max_limit is lowered to max_limit (written as max_limit+1 minus one).
            let new = if v > max_limit { max_limit } else { v - 1 };
            let width = span.1 - span.0;
            let digits = new.to_string();
            if digits.len() > width {
                return -2; // cannot happen: new < v
            }
            let text = format!("{digits:>width$}");
            if ctx.edits.replace(span.0, width, text.as_bytes()).is_err() {
                return -2;
            }
            1
        }
    }
}

/// `is_maxfwd_lt(limit)`: 1 when the value is below `limit`, -1 when not (or limit outside
/// 0..255), -2 when there is no header, -3 when its value cannot be parsed.
pub fn is_maxfwd_lt(ctx: &mut Ctx<'_>, limit: i64) -> i64 {
    if !(0..=255).contains(&limit) {
        ctx.log_error(&format!("invalid param value: {limit}"));
        return -1;
    }
    match present(ctx) {
        Present::Absent => -2,
        Present::Bad => -3,
        Present::Value(v, _) if v >= limit => -1,
        Present::Value(..) => 1,
    }
}

// ---- internals ----

enum Present {
    Absent,
    Bad,
    /// Value and the byte range of its digits.
    Value(i64, (usize, usize)),
}

fn present(ctx: &mut Ctx<'_>) -> Present {
    let h = match ctx.msg.header(HeaderKind::MaxForwards) {
        Ok(Some(h)) => *h,
        Ok(None) => return Present::Absent,
        Err(_) => {
            ctx.log_error("parsing MAX_FORWARD header failed!");
            return Present::Bad;
        }
    };
    let digits = ctx.msg.slice(h.value);
    // Kamailio's str2s: 1..5 decimal digits, at most 65535.
    let ok = !digits.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit);
    let v = if ok {
        std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse::<i64>().ok())
            .filter(|v| *v <= 65535)
    } else {
        None
    };
    match v {
        Some(v) => Present::Value(v, (h.value.start as usize, h.value.end as usize)),
        None => {
            ctx.log_error("unable to parse the max forwards number");
            Present::Bad
        }
    }
}

fn int_arg(ctx: &mut Ctx<'_>, a: &[Arg]) -> Result<i64, Error> {
    a.first()
        .ok_or_else(|| Error::Runtime("missing parameter".into()))?
        .int(ctx)
}
