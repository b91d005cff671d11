//! Kamailio's `counters` module: script counters declared with the `script_counter` modparam
//! (`[group.]name[( |:)description]`, group defaulting to `script_cnt_grp_name`, "script"),
//! changed by `cnt_inc`, `cnt_add` and `cnt_reset`, and the `cnt.*` RPCs over every statistic of
//! the shared registry ([`ferrosip_api::Stats`]: core, sl, usrloc … and the script counters).
//!
//! As in Kamailio, modparams are applied in config order, so `script_cnt_grp_name` only affects
//! the `script_counter` lines after it; a counter declared twice is logged and ignored; a function
//! naming an undeclared counter is refused at load.
//!
//! Not implemented: the KEMI functions (ferrosip has no KEMI). `cnt.get_raw` returns the same
//! value as `cnt.get` (there are no per-process counter slots to add up).

use std::sync::{Arc, OnceLock};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{
    Arg, Error, FnExport, InitCtx, ModParam, ModParamType, ModValue, ModuleExports, ParamKind as K,
    RetCode, RouteMask, Stat, StatMode, Stats,
};

/// Group of counters declared without one (`script_cnt_grp_name`'s default).
pub const DEFAULT_GROUP: &str = "script";
/// Description of counters declared without one.
pub const DEFAULT_DOC: &str = "custom script counter.";

/// Module state, set at init.
#[derive(Debug, Default)]
pub struct Counters {
    stats: OnceLock<Arc<Stats>>,
    /// `script_cnt_grp_name` as it stood after the last modparam (the group of `cnt_inc("x")`).
    group: OnceLock<String>,
}

/// The `counters` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(Counters::default());
    let mut m = ModuleExports::new("counters");
    m.params = vec![
        ModParam::new(
            "script_cnt_grp_name",
            ModParamType::Str,
            "group of script counters declared without one (default \"script\"); applies to later script_counter lines",
        )
        .check(|v| match v {
            ModValue::Str(s) if !s.is_empty() && !s.contains(':') => Ok(()),
            _ => Err("needs a non-empty group name without ':'".into()),
        }),
        ModParam::new(
            "script_counter",
            ModParamType::Str,
            "declare a script counter: [group.]name[( |:)description]",
        )
        .check(|v| match v {
            ModValue::Str(s) => parse_decl(s, DEFAULT_GROUP).map(|_| ()),
            ModValue::Int(_) => Err("needs a string".into()),
        }),
    ];
    let routes = RouteMask::REQUEST
        .or(RouteMask::ONREPLY)
        .or(RouteMask::FAILURE)
        .or(RouteMask::ONSEND);
    let f = |name, params: &[K], doc, op: Op| {
        let check = Arc::clone(&st);
        FnExport::new(name, params, routes, doc)
            .fixup(move |a| check.prepare(a))
            .with(move |c, a| {
                let h = handle(a)?;
                match op {
                    Op::Inc => h.inc(),
                    Op::Add => match a.get(1).map(|x| x.int(c)) {
                        Some(Ok(v)) => h.add(v),
                        // Kamailio logs and fails the call; the script goes on.
                        _ => {
                            tracing::error!(func = "cnt_add_f", "non integer parameter");
                            return Ok(RetCode::FALSE);
                        }
                    },
                    Op::Reset => {
                        h.reset();
                    }
                }
                Ok(RetCode::TRUE)
            })
    };
    m.functions = vec![
        f(
            "cnt_inc",
            &[K::Str],
            "increment a declared counter ([group.]name)",
            Op::Inc,
        ),
        f(
            "cnt_add",
            &[K::Str, K::IntOrVar],
            "add a number (int or variable) to a declared counter",
            Op::Add,
        ),
        f(
            "cnt_reset",
            &[K::Str],
            "reset a declared counter to 0",
            Op::Reset,
        ),
    ];
    m.rpcs = rpcs(&st);
    let init = Arc::clone(&st);
    m.init = Some(Arc::new(move |ictx| init.init(ictx)));
    m
}

#[derive(Clone, Copy)]
enum Op {
    Inc,
    Add,
    Reset,
}

/// A parsed `script_counter` declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decl {
    /// Group.
    pub group: String,
    /// Name.
    pub name: String,
    /// Description.
    pub doc: String,
}

/// Parses `[group.]name[( |:)description]` as Kamailio does: the description starts after the
/// first `:` (or, without one, the first space), leading blanks skipped; the group is what
/// precedes the first `.` of the rest.
pub fn parse_decl(text: &str, default_group: &str) -> Result<Decl, String> {
    let (head, doc) = match text.find(':').or_else(|| text.find(' ')) {
        Some(i) => {
            let d = text
                .get(i + 1..)
                .unwrap_or("")
                .trim_start_matches([' ', '\t']);
            (text.get(..i).unwrap_or(""), d)
        }
        None => (text, ""),
    };
    let doc = if doc.is_empty() { DEFAULT_DOC } else { doc };
    let (group, name) = match head.split_once('.') {
        Some((g, n)) => (g, n),
        None => (default_group, head),
    };
    if group.is_empty() || name.is_empty() {
        return Err(format!("bad counter declaration \"{text}\""));
    }
    Ok(Decl {
        group: group.to_string(),
        name: name.to_string(),
        doc: doc.to_string(),
    })
}

impl Counters {
    fn init(&self, ictx: &mut InitCtx<'_>) -> Result<(), Error> {
        let stats = ictx.stats();
        let mut group = DEFAULT_GROUP.to_string();
        for (name, v) in ictx.modparams() {
            let ModValue::Str(s) = v else { continue };
            match *name {
                "script_cnt_grp_name" => group = s.clone(),
                "script_counter" => {
                    let d = parse_decl(s, &group).map_err(Error::Config)?;
                    if stats
                        .counter(&d.group, &d.name, &d.doc, StatMode::Resettable)
                        .is_err()
                    {
                        // Kamailio logs a second declaration and goes on.
                        tracing::error!(
                            func = "add_script_counter",
                            "counter {}.{} already registered",
                            d.group,
                            d.name
                        );
                    }
                }
                _ => {}
            }
        }
        let _ = self.group.set(group);
        let _ = self.stats.set(stats);
        Ok(())
    }

    /// Load-time check of `cnt_*`'s first parameter: the counter must be declared; the name is
    /// replaced by the counter's handle.
    fn prepare(&self, a: &mut [Arg]) -> Result<(), String> {
        let Some(first) = a.first_mut() else {
            return Err("missing counter name".into());
        };
        let Arg::Str(raw) = first else {
            return Err("the counter name must be a constant string".into());
        };
        let text = String::from_utf8_lossy(raw).into_owned();
        let group = self.group.get().map_or(DEFAULT_GROUP, String::as_str);
        let (g, n) = text.split_once('.').unwrap_or((group, text.as_str()));
        let h = self
            .stats
            .get()
            .and_then(|s| s.find(g, n))
            .ok_or_else(|| format!("counter {g}.{n} does not exist (forgot to define it?)"))?;
        *first = Arg::Custom(h);
        Ok(())
    }
}

fn handle(a: &[Arg]) -> Result<&Stat, Error> {
    match a.first() {
        Some(Arg::Custom(c)) => c
            .downcast_ref::<Stat>()
            .ok_or_else(|| Error::Runtime("counter handle expected".into())),
        _ => Err(Error::Runtime("counter handle expected".into())),
    }
}

type Reply = Result<RpcValue, RpcFault>;

fn fault(code: i32, message: String) -> RpcFault {
    RpcFault { code, message }
}

/// The i-th parameter as a string; missing or not a string is the fault Kamailio's RPC layer
/// gives (kamcmd prints it).
fn str_param(p: &[RpcValue], i: usize) -> Result<String, RpcFault> {
    match p.get(i) {
        Some(RpcValue::Str(s)) => Ok(s.clone()),
        Some(RpcValue::Int(n)) => Ok(n.to_string()),
        Some(_) => Err(fault(
            400,
            format!("error at parameter {i}: expected string type but record doesn't match type"),
        )),
        None => Err(fault(
            400,
            format!("error at parameter {i}: expected string type but end of packet encountered"),
        )),
    }
}

/// Kamailio prints counters with `(int)` casts.
fn as_int(s: &Stat) -> RpcValue {
    RpcValue::Int(i64::from(s.value() as i32))
}

fn lookup(stats: &Stats, g: &str, n: &str) -> Result<Arc<Stat>, RpcFault> {
    stats
        .find(g, n)
        .ok_or_else(|| fault(400, format!("non-existent counter {g}.{n}\n")))
}

fn group_values(stats: &Stats, g: &str) -> RpcValue {
    RpcValue::Struct(
        stats
            .group(g)
            .iter()
            .map(|s| (s.name().to_string(), as_int(s)))
            .collect(),
    )
}

fn rpcs(st: &Arc<Counters>) -> Vec<RpcExport> {
    let mk = |name: &'static str, doc: &'static str, f: fn(&Stats, &[RpcValue]) -> Reply| {
        let st = Arc::clone(st);
        RpcExport {
            name,
            doc,
            handler: Arc::new(move |p: &[RpcValue]| match st.stats.get() {
                Some(s) => f(s, p),
                None => Err(fault(500, "counters not initialised".into())),
            }),
        }
    };
    let get: fn(&Stats, &[RpcValue]) -> Reply = |s, p| {
        let g = str_param(p, 0)?;
        match p.get(1) {
            None => Ok(group_values(s, &g)),
            Some(_) => {
                let n = str_param(p, 1)?;
                let c = lookup(s, &g, &n)?;
                Ok(as_int(&c))
            }
        }
    };
    let grps: fn(&Stats, &[RpcValue]) -> Reply = |s, _| {
        Ok(RpcValue::Array(
            s.groups().into_iter().map(RpcValue::Str).collect(),
        ))
    };
    let vars: fn(&Stats, &[RpcValue]) -> Reply = |s, p| {
        let g = str_param(p, 0)?;
        Ok(RpcValue::Array(
            s.group(&g)
                .iter()
                .map(|x| RpcValue::Str(x.name().to_string()))
                .collect(),
        ))
    };
    let get_all: fn(&Stats, &[RpcValue]) -> Reply = |s, p| Ok(group_values(s, &str_param(p, 0)?));
    vec![
        mk(
            "cnt.get",
            "get counter value (takes group and counter name as parameters)",
            get,
        ),
        mk(
            "cnt.reset",
            "reset counter (takes group and counter name as parameters)",
            |s, p| {
                let (g, n) = (str_param(p, 0)?, str_param(p, 1)?);
                lookup(s, &g, &n)?.reset();
                Ok(RpcValue::Null)
            },
        ),
        mk(
            "cnt.get_raw",
            "get raw counter value (debugging version)",
            |s, p| {
                let (g, n) = (str_param(p, 0)?, str_param(p, 1)?);
                let c = lookup(s, &g, &n)?;
                Ok(as_int(&c))
            },
        ),
        mk("cnt.list_groups", "list all the counter group names", grps),
        mk("cnt.grps_list", "list all the counter group names", grps),
        mk(
            "cnt.list_vars",
            "list all the counters names in a specified group",
            vars,
        ),
        mk(
            "cnt.var_list",
            "list all the counters names in a specified group",
            vars,
        ),
        mk(
            "cnt.get_vars",
            "list all counter names and values in a specified group",
            get_all,
        ),
        mk(
            "cnt.grp_get_all",
            "list all counter names and values in a specified group",
            get_all,
        ),
        mk(
            "cnt.help",
            "print the description of a counter (group and counter name required).",
            |s, p| {
                let (g, n) = (str_param(p, 0)?, str_param(p, 1)?);
                let c = lookup(s, &g, &n)?;
                if c.doc().is_empty() {
                    return Err(fault(400, format!("no description for counter {g}.{n}\n")));
                }
                Ok(RpcValue::Str(c.doc().to_string()))
            },
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declarations() {
        // (text, default group, group, name, doc)
        let cases = [
            ("foo", "script", "script", "foo", DEFAULT_DOC),
            ("test.bar", "script", "test", "bar", DEFAULT_DOC),
            ("baz example counter", "g", "g", "baz", "example counter"),
            (
                "test.x:another example",
                "script",
                "test",
                "x",
                "another example",
            ),
            (
                "out.reqs  forwarded requests",
                "s",
                "out",
                "reqs",
                "forwarded requests",
            ),
            ("a.b.c", "s", "a", "b.c", DEFAULT_DOC),
            ("n:", "s", "s", "n", DEFAULT_DOC),
        ];
        for (text, dg, g, n, d) in cases {
            assert_eq!(
                parse_decl(text, dg),
                Ok(Decl {
                    group: g.into(),
                    name: n.into(),
                    doc: d.into()
                }),
                "{text}"
            );
        }
        for bad in ["", ".x", "g.", " desc"] {
            assert!(parse_decl(bad, "s").is_err(), "{bad:?}");
        }
    }

    fn fixture() -> (Arc<Stats>, Vec<RpcExport>) {
        let s = Arc::new(Stats::new());
        for (g, n, d, v) in [
            ("script", "foo", DEFAULT_DOC, 2),
            ("mygrp", "bar", "bar counter", 10),
            ("core", "rcv_requests", "", 1),
        ] {
            if let Ok(h) = s.counter(g, n, d, StatMode::Resettable) {
                h.add(v);
            }
        }
        let st = Arc::new(Counters::default());
        let _ = st.stats.set(Arc::clone(&s));
        let r = rpcs(&st);
        (s, r)
    }

    fn call(r: &[RpcExport], name: &str, args: &[&str]) -> Reply {
        let p: Vec<RpcValue> = args.iter().map(|a| RpcValue::Str(a.to_string())).collect();
        match r.iter().find(|x| x.name == name) {
            Some(x) => (x.handler)(&p),
            None => panic!("no rpc {name}"),
        }
    }

    #[test]
    fn rpc_outputs() {
        let (s, r) = fixture();
        let str_arr =
            |v: &[&str]| RpcValue::Array(v.iter().map(|x| RpcValue::Str(x.to_string())).collect());
        let cases: Vec<(&str, Vec<&str>, Reply)> = vec![
            ("cnt.get", vec!["script", "foo"], Ok(RpcValue::Int(2))),
            ("cnt.get_raw", vec!["mygrp", "bar"], Ok(RpcValue::Int(10))),
            (
                "cnt.get",
                vec!["mygrp"],
                Ok(RpcValue::Struct(vec![("bar".into(), RpcValue::Int(10))])),
            ),
            (
                "cnt.get",
                vec!["nosuch", "x"],
                Err(fault(400, "non-existent counter nosuch.x\n".into())),
            ),
            (
                "cnt.grps_list",
                vec![],
                Ok(str_arr(&["core", "mygrp", "script"])),
            ),
            (
                "cnt.list_groups",
                vec![],
                Ok(str_arr(&["core", "mygrp", "script"])),
            ),
            ("cnt.var_list", vec!["mygrp"], Ok(str_arr(&["bar"]))),
            ("cnt.list_vars", vec!["nosuch"], Ok(str_arr(&[]))),
            (
                "cnt.grp_get_all",
                vec!["core"],
                Ok(RpcValue::Struct(vec![(
                    "rcv_requests".into(),
                    RpcValue::Int(1),
                )])),
            ),
            (
                "cnt.help",
                vec!["mygrp", "bar"],
                Ok(RpcValue::Str("bar counter".into())),
            ),
            (
                "cnt.help",
                vec!["core", "rcv_requests"],
                Err(fault(
                    400,
                    "no description for counter core.rcv_requests\n".into(),
                )),
            ),
            (
                "cnt.get",
                vec![],
                Err(fault(
                    400,
                    "error at parameter 0: expected string type but end of packet encountered"
                        .into(),
                )),
            ),
            (
                "cnt.reset",
                vec!["mygrp"],
                Err(fault(
                    400,
                    "error at parameter 1: expected string type but end of packet encountered"
                        .into(),
                )),
            ),
            ("cnt.reset", vec!["mygrp", "bar"], Ok(RpcValue::Null)),
            ("cnt.get", vec!["mygrp", "bar"], Ok(RpcValue::Int(0))),
        ];
        for (cmd, args, want) in cases {
            assert_eq!(call(&r, cmd, &args), want, "{cmd} {args:?}");
        }
        // Negative values print as Kamailio's (int) cast.
        if let Some(h) = s.find("script", "foo") {
            h.add(-5);
        }
        assert_eq!(
            call(&r, "cnt.get", &["script", "foo"]),
            Ok(RpcValue::Int(-3))
        );
    }
}
