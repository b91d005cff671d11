//! The `dlgs.*` RPC commands, with the member names, order and fault texts of Kamailio's.

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};

use super::table::{Filter, FilterError, Item, Stats};
use super::DlgsApi;

/// `dlgs.stats`, `dlgs.list`, `dlgs.briefing`, `dlgs.get`, `dlgs.getall`.
pub fn rpcs(api: Arc<OnceLock<Arc<DlgsApi>>>) -> Vec<RpcExport> {
    let entry = |name: &'static str,
                 doc: &'static str,
                 f: fn(&DlgsApi, &[RpcValue]) -> Result<RpcValue, RpcFault>| {
        let a = Arc::clone(&api);
        RpcExport {
            name,
            doc,
            handler: Arc::new(move |args: &[RpcValue]| match a.get() {
                Some(api) => f(api, args),
                None => Err(fault("dlgs not initialised")),
            }),
        }
    };
    vec![
        entry("dlgs.stats", "Stats of the dlgs records", stats),
        entry("dlgs.list", "List the dlgs records", list),
        entry("dlgs.briefing", "Briefing the dlgs records", briefing),
        entry(
            "dlgs.get",
            "Get the first dlgs record by filter",
            |a, args| get(a, args, 1),
        ),
        entry(
            "dlgs.getall",
            "Get all the dlgs records by filter",
            |a, args| get(a, args, 0),
        ),
    ]
}

/// One record as `dlgs.list` / `dlgs.get` print it; `count` is its position in the answer.
pub fn item_struct(it: &Item, count: i64) -> RpcValue {
    RpcValue::Struct(vec![
        ("count".into(), RpcValue::Int(count)),
        ("src".into(), text(&it.src)),
        ("dst".into(), text(&it.dst)),
        ("data".into(), text(&it.data)),
        ("ruid".into(), RpcValue::Str(it.ruid.clone())),
        ("callid".into(), text(&it.callid)),
        ("ftag".into(), text(&it.ftag)),
        ("ttag".into(), text(&it.ttag)),
        ("ts_init".into(), secs(it.ts_init)),
        ("ts_answer".into(), secs(it.ts_answer)),
        ("state".into(), RpcValue::Int(it.state.code())),
    ])
}

fn stats(api: &DlgsApi, _: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let (removed, active) = api.table().stats();
    let one = |s: &Stats| {
        RpcValue::Struct(
            [
                ("init", s.init),
                ("progress", s.progress),
                ("answered", s.answered),
                ("confirmed", s.confirmed),
                ("terminated", s.terminated),
                ("notanswered", s.notanswered),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), secs(v)))
            .collect(),
        )
    };
    Ok(RpcValue::Struct(vec![
        ("final".into(), one(&removed)),
        ("active".into(), one(&active)),
    ]))
}

fn list(api: &DlgsApi, _: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let mut out = Vec::new();
    api.table().visit(|it| {
        let n = out.len() as i64 + 1;
        out.push(item_struct(it, n));
        true
    });
    Ok(RpcValue::Array(out))
}

fn briefing(api: &DlgsApi, _: &[RpcValue]) -> Result<RpcValue, RpcFault> {
    let mut out = Vec::new();
    api.table().visit(|it| {
        let n = out.len() as i64 + 1;
        out.push(RpcValue::Struct(vec![
            ("count".into(), RpcValue::Int(n)),
            ("src".into(), text(&it.src)),
            ("dst".into(), text(&it.dst)),
            ("callid".into(), text(&it.callid)),
            ("state".into(), RpcValue::Int(it.state.code())),
        ]));
        true
    });
    Ok(RpcValue::Array(out))
}

/// `dlgs.get` (limit 1) and `dlgs.getall` (limit 0 = all): records of any state matching
/// `field op data`.
fn get(api: &DlgsApi, args: &[RpcValue], limit: usize) -> Result<RpcValue, RpcFault> {
    let word = |i: usize| match args.get(i) {
        Some(RpcValue::Str(s)) => Some(s.clone()),
        Some(RpcValue::Int(n)) => Some(n.to_string()),
        _ => None,
    };
    let (Some(field), Some(op), Some(data)) = (word(0), word(1), word(2)) else {
        return Err(fault("Invalid Parameters"));
    };
    let filter = Filter::new(field.as_bytes(), op.as_bytes(), data.as_bytes()).map_err(|e| {
        fault(match e {
            FilterError::Field(_) => "Invalid Field",
            FilterError::Op(_) => "Invalid Operator",
            FilterError::Regex(_) => "Invalid Matching Value",
        })
    })?;
    let mut out = Vec::new();
    api.table().visit(|it| {
        if filter.matches(it) {
            let n = out.len() as i64 + 1;
            out.push(item_struct(it, n));
        }
        limit == 0 || out.len() < limit
    });
    Ok(RpcValue::Array(out))
}

fn text(b: &[u8]) -> RpcValue {
    RpcValue::Str(String::from_utf8_lossy(b).into_owned())
}

fn secs(v: u64) -> RpcValue {
    RpcValue::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

fn fault(message: &str) -> RpcFault {
    RpcFault {
        code: 500,
        message: message.to_string(),
    }
}
