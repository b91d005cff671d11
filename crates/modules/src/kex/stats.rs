//! kex's statistics RPCs over the shared [`Stats`] registry: `stats.get_statistics`,
//! `stats.fetch`, `stats.fetchn`, `stats.reset_statistics`, `stats.clear_statistics`.
//!
//! Selectors, as Kamailio's kex: `all`, a group with a trailing colon (`core:`), or a statistic
//! name looked up by name alone (`rcv_requests`); `stats.fetch*` also take `group.name` /
//! `group:name`. Unknown selectors add nothing (no fault). Replies: `group:name = value` lines
//! (several top-level values), `stats.fetch` a struct of `group.name` → decimal string,
//! `stats.fetchn` the same with numbers.

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{Stat, Stats};

/// Where the handlers find the registry once kex is initialised.
pub type Cell = Arc<OnceLock<Arc<Stats>>>;

/// The five `stats.*` commands.
pub fn rpcs(cell: &Cell) -> Vec<RpcExport> {
    let mk = |name: &'static str, doc: &'static str, f: fn(&Stats, &[RpcValue]) -> Reply| {
        let cell = Arc::clone(cell);
        RpcExport {
            name,
            doc,
            handler: Arc::new(move |p: &[RpcValue]| {
                let stats = cell.get().ok_or_else(|| RpcFault {
                    code: 400,
                    message: "stats support not enabled".into(),
                })?;
                f(stats, p)
            }),
        }
    };
    vec![
        mk(
            "stats.get_statistics",
            "get core and modules stats",
            get_statistics,
        ),
        mk("stats.fetch", "fetch core and modules stats", |s, p| {
            fetch(s, p, Format::Text)
        }),
        mk(
            "stats.fetchn",
            "fetch core and modules stats as number values",
            |s, p| fetch(s, p, Format::Number),
        ),
        mk(
            "stats.reset_statistics",
            "reset core and modules stats (silent operation)",
            |s, p| reset_or_clear(s, p, Clear::Silent),
        ),
        mk(
            "stats.clear_statistics",
            "clear core and modules stats (verbose operation)",
            |s, p| reset_or_clear(s, p, Clear::Report),
        ),
    ]
}

type Reply = Result<RpcValue, RpcFault>;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Number,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Clear {
    Silent,
    Report,
}

/// The selectors: at least one, each a string (numbers are taken as their text, as kamcmd may
/// send `123` unquoted).
fn selectors(p: &[RpcValue], missing: &str) -> Result<Vec<String>, RpcFault> {
    let v: Vec<String> = p
        .iter()
        .filter_map(|x| match x {
            RpcValue::Str(s) => Some(s.clone()),
            RpcValue::Int(i) => Some(i.to_string()),
            _ => None,
        })
        .collect();
    if v.is_empty() {
        return Err(RpcFault {
            code: 400,
            message: missing.into(),
        });
    }
    Ok(v)
}

/// The statistics one selector names (`all`, `group:`, or a name).
fn select(stats: &Stats, sel: &str) -> Vec<Arc<Stat>> {
    if sel == "all" {
        stats.all()
    } else if let Some(g) = sel.strip_suffix(':') {
        stats.group(g)
    } else {
        stats.find_name(sel).into_iter().collect()
    }
}

fn line(s: &Stat) -> String {
    format!("{}:{} = {}", s.group(), s.name(), s.value())
}

fn get_statistics(stats: &Stats, p: &[RpcValue]) -> Reply {
    let sels = selectors(p, "Please provide which stats to retrieve")?;
    let lines: Vec<RpcValue> = sels
        .iter()
        .flat_map(|sel| select(stats, sel))
        .map(|s| RpcValue::Str(line(&s)))
        .collect();
    // Kamailio declares the command RET_ARRAY: always an array, even with one line.
    Ok(RpcValue::Array(lines))
}

fn fetch(stats: &Stats, p: &[RpcValue], f: Format) -> Reply {
    let sels = selectors(p, "Please provide which stats to retrieve")?;
    let mut members: Vec<(String, RpcValue)> = Vec::new();
    for sel in &sels {
        let mut found = select(stats, sel);
        if found.is_empty() && sel != "all" && !sel.ends_with(':') {
            // `group.name` or `group:name`: the name must exist and belong to that group.
            if let Some((g, n)) = sel.split_once(['.', ':']) {
                found.extend(stats.find_name(n).filter(|s| s.group() == g));
            }
        }
        for s in found {
            let v = match f {
                Format::Text => RpcValue::Str(s.value().to_string()),
                Format::Number => RpcValue::Int(i64::try_from(s.value()).unwrap_or(i64::MAX)),
            };
            members.push((format!("{}.{}", s.group(), s.name()), v));
        }
    }
    Ok(RpcValue::Struct(members))
}

fn reset_or_clear(stats: &Stats, p: &[RpcValue], mode: Clear) -> Reply {
    let sels = selectors(p, "Please provide stats name")?;
    let mut lines: Vec<RpcValue> = Vec::new();
    for sel in &sels {
        for s in select(stats, sel) {
            let old = s.value();
            s.reset();
            let new = s.value();
            if mode == Clear::Report {
                let text = if old == new {
                    format!("{}:{} = {new}", s.group(), s.name())
                } else {
                    format!("{}:{} = {new} ({old})", s.group(), s.name())
                };
                lines.push(RpcValue::Str(text));
            }
        }
    }
    // Not RET_ARRAY in Kamailio: nothing added is an empty reply, one line a plain string.
    Ok(match lines.len() {
        0 => RpcValue::Null,
        1 => lines.pop().unwrap_or(RpcValue::Null),
        _ => RpcValue::Array(lines),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrosip_api::StatMode;

    fn fixture() -> (Cell, Vec<RpcExport>) {
        let s = Stats::new();
        let reg = [
            ("core", "rcv_requests", StatMode::Resettable, 3),
            ("core", "bad_URIs_rcvd", StatMode::Resettable, 0),
            ("sl", "sent_replies", StatMode::Resettable, 2),
            ("usrloc", "registered_users", StatMode::NoReset, 5),
        ];
        for (g, n, m, v) in reg {
            if let Ok(h) = s.counter(g, n, "", m) {
                h.add(v);
            }
        }
        let cell: Cell = Arc::new(OnceLock::new());
        let _ = cell.set(Arc::new(s));
        let r = rpcs(&cell);
        (cell, r)
    }

    fn call(r: &[RpcExport], name: &str, args: &[&str]) -> Reply {
        let p: Vec<RpcValue> = args.iter().map(|a| RpcValue::Str(a.to_string())).collect();
        let h = r.iter().find(|x| x.name == name).map(|x| x.handler.clone());
        match h {
            Some(h) => h(&p),
            None => panic!("no rpc {name}"),
        }
    }

    fn strs(v: &[&str]) -> RpcValue {
        RpcValue::Array(v.iter().map(|s| RpcValue::Str(s.to_string())).collect())
    }

    #[test]
    fn get_statistics_selectors() {
        let (_c, r) = fixture();
        let cases: &[(&[&str], RpcValue)] = &[
            (
                &["all"],
                strs(&[
                    "core:bad_URIs_rcvd = 0",
                    "core:rcv_requests = 3",
                    "sl:sent_replies = 2",
                    "usrloc:registered_users = 5",
                ]),
            ),
            (
                &["core:"],
                strs(&["core:bad_URIs_rcvd = 0", "core:rcv_requests = 3"]),
            ),
            (
                &["sent_replies", "rcv_requests"],
                strs(&["sl:sent_replies = 2", "core:rcv_requests = 3"]),
            ),
            (&["nosuch", "nosuch:"], strs(&[])),
            (&["rcv_requests"], strs(&["core:rcv_requests = 3"])),
        ];
        for (args, want) in cases {
            assert_eq!(
                call(&r, "stats.get_statistics", args).as_ref(),
                Ok(want),
                "{args:?}"
            );
        }
        let e = call(&r, "stats.get_statistics", &[]).err();
        assert_eq!(
            e.map(|f| (f.code, f.message)),
            Some((400, "Please provide which stats to retrieve".into()))
        );
    }

    #[test]
    fn fetch_text_and_numbers() {
        let (_c, r) = fixture();
        let got = call(
            &r,
            "stats.fetch",
            &[
                "rcv_requests",
                "usrloc:",
                "sl.sent_replies",
                "core.sent_replies",
            ],
        );
        assert_eq!(
            got,
            Ok(RpcValue::Struct(vec![
                ("core.rcv_requests".into(), RpcValue::Str("3".into())),
                ("usrloc.registered_users".into(), RpcValue::Str("5".into())),
                ("sl.sent_replies".into(), RpcValue::Str("2".into())),
            ]))
        );
        let got = call(&r, "stats.fetchn", &["sl:"]);
        assert_eq!(
            got,
            Ok(RpcValue::Struct(vec![(
                "sl.sent_replies".into(),
                RpcValue::Int(2)
            )]))
        );
    }

    #[test]
    fn clear_reports_old_values_and_reset_is_silent() {
        let (c, r) = fixture();
        // (command, args, reply)
        let cases: &[(&str, &[&str], RpcValue)] = &[
            (
                "stats.clear_statistics",
                &["rcv_requests"],
                RpcValue::Str("core:rcv_requests = 0 (3)".into()),
            ),
            (
                "stats.clear_statistics",
                &["rcv_requests"],
                RpcValue::Str("core:rcv_requests = 0".into()),
            ),
            (
                "stats.clear_statistics",
                &["usrloc:", "sl:"],
                strs(&["usrloc:registered_users = 5", "sl:sent_replies = 0 (2)"]),
            ),
            ("stats.reset_statistics", &["all"], RpcValue::Null),
        ];
        for (cmd, args, want) in cases {
            assert_eq!(call(&r, cmd, args).as_ref(), Ok(want), "{cmd} {args:?}");
        }
        let s = c.get().map(Arc::clone);
        let vals: Vec<u64> = s.iter().flat_map(|s| s.all()).map(|x| x.value()).collect();
        assert_eq!(vals, [0, 0, 0, 5], "no-reset gauge kept");
        let e = call(&r, "stats.reset_statistics", &[]).err();
        assert_eq!(
            e.map(|f| f.message),
            Some("Please provide stats name".into())
        );
    }

    #[test]
    fn uninitialised_module_faults() {
        let cell: Cell = Arc::new(OnceLock::new());
        let r = rpcs(&cell);
        let e = call(&r, "stats.get_statistics", &["all"]).err();
        assert_eq!(e.map(|f| f.code), Some(400));
    }
}
