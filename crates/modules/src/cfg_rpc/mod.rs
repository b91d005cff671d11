//! Kamailio's `cfg_rpc` module: the `cfg.*` RPCs that read and change run-time configuration
//! variables (`group.var`) of the shared registry ([`ferrosip_api::CfgVars`]): the core's
//! (`core.debug`, which changes the live log level) and the config's custom parameters
//! (`pstn.gw_ip = "…" desc "…"`, readable; read-only in ferrosip because `@cfg_get` is resolved
//! when the config is compiled).
//!
//! Kamailio commits "now" changes at once and keeps "delayed" changes per cfg context until
//! `cfg.commit`; here the delayed changes are one pending list shared by every RPC client (one
//! context, as Kamailio's single ctl process has), checked and converted when they are made.
//! Reply shapes follow Kamailio 6.0 (`cfg.help` is a `{desc, type}` structure).
//!
//! Not implemented (refused with a fault): group instances (`group[id]`, `cfg.add_group_inst`,
//! `cfg.del_group_inst`, `cfg.del`, `cfg.del_delayed`).

use std::sync::{Arc, Mutex, OnceLock};

use ferrosip_api::export::{RpcExport, RpcFault, RpcValue};
use ferrosip_api::{CfgType, CfgValue, CfgVar, CfgVars, ModuleExports};

/// Module state: the registry (set at init) and the pending delayed changes.
#[derive(Debug, Default)]
pub struct CfgRpc {
    vars: OnceLock<Arc<CfgVars>>,
    pending: Mutex<Vec<(CfgVar, CfgValue)>>,
}

/// The `cfg_rpc` export table.
pub fn exports() -> ModuleExports {
    let st = Arc::new(CfgRpc::default());
    let mut m = ModuleExports::new("cfg_rpc");
    m.rpcs = rpcs(&st);
    m.init = Some(Arc::new(move |ictx| {
        let _ = st.vars.set(ictx.cfg_vars());
        Ok(())
    }));
    m
}

type Reply = Result<RpcValue, RpcFault>;

const SET_NOW_DOC: &str =
    "Set the value of a configuration variable and commit the change immediately";
const SET_DELAYED_DOC: &str =
    "Prepare the change of a configuration variable, but does not commit the new value yet";
const NO_INSTANCES: &str = "group instances are not supported by ferrosip";

fn fault(code: i32, message: impl Into<String>) -> RpcFault {
    RpcFault {
        code,
        message: message.into(),
    }
}

/// Which type a parameter must have (Kamailio's `rpc->scan` letters; kamcmd prints the fault).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    Str,
    Int,
    Any,
}

fn param(p: &[RpcValue], i: usize, want: Want) -> Result<CfgValue, RpcFault> {
    let tname = if want == Want::Int {
        "integer"
    } else {
        "string"
    };
    match (p.get(i), want) {
        (None, _) => Err(fault(
            400,
            format!("error at parameter {i}: expected {tname} type but end of packet encountered"),
        )),
        (Some(RpcValue::Str(s)), Want::Str | Want::Any) => Ok(CfgValue::Str(s.clone())),
        (Some(RpcValue::Int(n)), Want::Int | Want::Any) => Ok(CfgValue::Int(*n)),
        // The group and variable names may come as numbers from kamcmd; take their text.
        (Some(RpcValue::Int(n)), Want::Str) if i < 2 => Ok(CfgValue::Str(n.to_string())),
        _ => Err(fault(
            400,
            format!("error at parameter {i}: expected {tname} type but record doesn't match type"),
        )),
    }
}

fn name(p: &[RpcValue], i: usize) -> Result<String, RpcFault> {
    match param(p, i, Want::Str)? {
        CfgValue::Str(s) => Ok(s),
        CfgValue::Int(n) => Ok(n.to_string()),
    }
}

/// The group name, refusing Kamailio's `group[id]` instance syntax.
fn group(p: &[RpcValue]) -> Result<String, RpcFault> {
    let g = name(p, 0)?;
    if g.contains('[') {
        return Err(fault(400, NO_INSTANCES));
    }
    Ok(g)
}

fn value(v: &CfgValue) -> RpcValue {
    match v {
        // Kamailio adds cfg integers with `(int)` casts.
        CfgValue::Int(i) => RpcValue::Int(i64::from(*i as i32)),
        CfgValue::Str(s) => RpcValue::Str(s.clone()),
    }
}

impl CfgRpc {
    fn vars(&self) -> Result<&CfgVars, RpcFault> {
        self.vars
            .get()
            .map(Arc::as_ref)
            .ok_or_else(|| fault(500, "cfg_rpc not initialised"))
    }

    fn find(&self, g: &str, n: &str, what: &str) -> Result<CfgVar, RpcFault> {
        self.vars()?
            .find(g, n)
            .ok_or_else(|| fault(400, what.to_string()))
    }

    fn set_now(&self, p: &[RpcValue], want: Want) -> Reply {
        let g = group(p)?;
        let n = name(p, 1)?;
        let v = param(p, 2, want)?;
        let var = self.find(&g, &n, "Failed to set the variable")?;
        if let CfgAccess::ReadOnly(why) = &var.access {
            return Err(read_only(&g, &n, why));
        }
        // Kamailio's fault says no more; the reason goes to the log, as its LM_ERR lines do.
        var.set(v).map_err(|e| {
            tracing::error!(
                func = "cfg_set_now",
                "failed to set the variable: {g}.{n}: {e}"
            );
            fault(400, "Failed to set the variable")
        })?;
        Ok(RpcValue::Null)
    }

    fn set_delayed(&self, p: &[RpcValue], want: Want) -> Reply {
        let g = group(p)?;
        let n = name(p, 1)?;
        let v = param(p, 2, want)?;
        let var = self.find(&g, &n, "Failed to set the variable")?;
        let v = convert(&var, v).map_err(|e| {
            tracing::error!(
                func = "cfg_set_delayed",
                "failed to set the variable: {g}.{n}: {e}"
            );
            fault(400, "Failed to set the variable")
        })?;
        if let CfgAccess::ReadOnly(why) = &var.access {
            return Err(read_only(&g, &n, why));
        }
        let mut pending = self.lock();
        pending.retain(|(x, _)| !(x.group == g && x.name == n));
        pending.push((var, v));
        Ok(RpcValue::Null)
    }

    fn commit(&self) -> Reply {
        let changes: Vec<(CfgVar, CfgValue)> = std::mem::take(&mut *self.lock());
        for (var, v) in changes {
            var.set(v).map_err(|e| {
                tracing::error!(func = "cfg_commit", "{}.{}: {e}", var.group, var.name);
                fault(400, "Failed to commit the changes")
            })?;
        }
        Ok(RpcValue::Null)
    }

    fn diff(&self) -> Reply {
        let items: Vec<RpcValue> = self
            .lock()
            .iter()
            .map(|(var, new)| {
                RpcValue::Struct(vec![
                    ("group name".into(), RpcValue::Str(var.group.clone())),
                    ("variable name".into(), RpcValue::Str(var.name.clone())),
                    ("old value".into(), value(&(var.get)())),
                    ("new value".into(), value(new)),
                ])
            })
            .collect();
        Ok(match items.len() {
            0 => RpcValue::Null,
            1 => items.into_iter().next().unwrap_or(RpcValue::Null),
            _ => RpcValue::Array(items),
        })
    }

    fn get(&self, p: &[RpcValue]) -> Reply {
        if p.is_empty() {
            return Err(fault(500, "Failed to get the parameters"));
        }
        let g = group(p)?;
        if p.len() < 2 {
            let members = self
                .vars()?
                .list()
                .into_iter()
                .filter(|v| v.group == g)
                .map(|v| (v.name.clone(), value(&(v.get)())))
                .collect();
            return Ok(RpcValue::Struct(members));
        }
        let n = name(p, 1)?;
        let var = self.find(&g, &n, "Failed to get the variable")?;
        Ok(value(&(var.get)()))
    }

    fn reset(&self, p: &[RpcValue]) -> Reply {
        let g = group(p)?;
        for var in self.vars()?.list().into_iter().filter(|v| v.group == g) {
            if matches!(var.access, CfgAccess::ReadOnly(_)) {
                continue; // never changed, nothing to restore
            }
            var.set(var.default.clone()).map_err(|e| {
                tracing::error!(func = "cfg_set_now", "{}.{}: {e}", var.group, var.name);
                fault(500, "Reset failed")
            })?;
        }
        Ok(RpcValue::Null)
    }

    fn help(&self, p: &[RpcValue]) -> Reply {
        let g = name(p, 0)?;
        let n = name(p, 1)?;
        let var = self.find(&g, &n, "Failed to get the variable description")?;
        let desc = if var.doc.is_empty() { "none" } else { &var.doc };
        let ty = match var.ty {
            CfgType::Int => "integer",
            CfgType::Str => "string",
        };
        Ok(RpcValue::Struct(vec![
            ("desc".into(), RpcValue::Str(desc.to_string())),
            ("type".into(), RpcValue::Str(ty.into())),
        ]))
    }

    fn list(&self, p: &[RpcValue]) -> Reply {
        let only = match p.first() {
            Some(_) => Some(name(p, 0)?),
            None => None,
        };
        Ok(RpcValue::Array(
            self.vars()?
                .list()
                .into_iter()
                .filter(|v| only.as_ref().is_none_or(|g| *g == v.group))
                .map(|v| RpcValue::Str(format!("{}: {}", v.group, v.name)))
                .collect(),
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(CfgVar, CfgValue)>> {
        match self.pending.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

use ferrosip_api::CfgAccess;

/// The conversion [`CfgVar::set`] applies, done up front for delayed changes.
/// A variable ferrosip cannot change (Kamailio has none such): its fault names the reason.
fn read_only(g: &str, n: &str, why: &str) -> RpcFault {
    fault(
        400,
        format!("Failed to set the variable: {g}.{n} cannot be changed at run time: {why}"),
    )
}

fn convert(var: &CfgVar, v: CfgValue) -> Result<CfgValue, String> {
    match (var.ty, v) {
        (CfgType::Int, CfgValue::Str(s)) => s
            .trim()
            .parse::<i64>()
            .map(CfgValue::Int)
            .map_err(|_| format!("not an integer: \"{s}\"")),
        (CfgType::Str, CfgValue::Int(i)) => Ok(CfgValue::Str(i.to_string())),
        (_, v) => Ok(v),
    }
}

fn rpcs(st: &Arc<CfgRpc>) -> Vec<RpcExport> {
    let mk = |name: &'static str, doc: &'static str, f: fn(&CfgRpc, &[RpcValue]) -> Reply| {
        let st = Arc::clone(st);
        RpcExport {
            name,
            doc,
            handler: Arc::new(move |p: &[RpcValue]| f(&st, p)),
        }
    };
    let refused: fn(&CfgRpc, &[RpcValue]) -> Reply = |_, _| Err(fault(400, NO_INSTANCES));
    vec![
        mk("cfg.set", SET_NOW_DOC, |s, p| s.set_now(p, Want::Any)),
        mk("cfg.set_now_int", SET_NOW_DOC, |s, p| s.set_now(p, Want::Int)),
        mk("cfg.seti", SET_NOW_DOC, |s, p| s.set_now(p, Want::Int)),
        mk("cfg.set_now_string", SET_NOW_DOC, |s, p| s.set_now(p, Want::Str)),
        mk("cfg.sets", SET_NOW_DOC, |s, p| s.set_now(p, Want::Str)),
        mk("cfg.set_delayed", SET_DELAYED_DOC, |s, p| s.set_delayed(p, Want::Any)),
        mk("cfg.set_delayed_int", SET_DELAYED_DOC, |s, p| {
            s.set_delayed(p, Want::Int)
        }),
        mk("cfg.set_delayed_string", SET_DELAYED_DOC, |s, p| {
            s.set_delayed(p, Want::Str)
        }),
        mk("cfg.commit", "Commit the previously prepared configuration changes", |s, _| s.commit()),
        mk("cfg.rollback", "Drop the prepared configuration changes", |s, _| {
            s.lock().clear();
            Ok(RpcValue::Null)
        }),
        mk("cfg.get", "Get the value of a configuration variable", |s, p| s.get(p)),
        mk(
            "cfg.reset",
            "Reset all the values of a configuration group and commit the change immediately",
            |s, p| s.reset(p),
        ),
        mk("cfg.help", "Print the description of a configuration variable", |s, p| s.help(p)),
        mk("cfg.list", "List the configuration variables", |s, p| s.list(p)),
        mk(
            "cfg.diff",
            "List the pending configuration changes that have not been committed yet",
            |s, _| s.diff(),
        ),
        mk("cfg.del", "Delete the value of a configuration variable from a group instance and commit the change immediately: not supported (no group instances)", refused),
        mk("cfg.del_delayed", "Prepare the deletion of the value of a configuration variable from a group instance: not supported (no group instances)", refused),
        mk("cfg.add_group_inst", "Add a new instance to an existing configuration group: not supported", refused),
        mk("cfg.del_group_inst", "Delete an instance of a configuration group: not supported", refused),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicI64, Ordering};

    fn fixture() -> (Arc<AtomicI64>, Vec<RpcExport>) {
        let debug = Arc::new(AtomicI64::new(1));
        let vars = Arc::new(CfgVars::new());
        let (g, s) = (Arc::clone(&debug), Arc::clone(&debug));
        let reg = [
            CfgVar {
                group: "core".into(),
                name: "debug".into(),
                doc: "debug level".into(),
                ty: CfgType::Int,
                default: CfgValue::Int(1),
                get: Arc::new(move || CfgValue::Int(g.load(Ordering::Relaxed))),
                access: CfgAccess::Writable(Arc::new(move |v| match v {
                    CfgValue::Int(i) => {
                        s.store(i, Ordering::Relaxed);
                        Ok(())
                    }
                    CfgValue::Str(_) => Err("int".into()),
                })),
            },
            CfgVar {
                group: "pstn".into(),
                name: "gw_ip".into(),
                doc: "My PSTN GW Address".into(),
                ty: CfgType::Str,
                default: CfgValue::Str("1.2.3.4".into()),
                get: Arc::new(|| CfgValue::Str("1.2.3.4".into())),
                access: CfgAccess::ReadOnly("fixed at load"),
            },
            CfgVar {
                group: "pstn".into(),
                name: "gwport".into(),
                doc: String::new(),
                ty: CfgType::Int,
                default: CfgValue::Int(5060),
                get: Arc::new(|| CfgValue::Int(5060)),
                access: CfgAccess::ReadOnly("fixed at load"),
            },
        ];
        for v in reg {
            assert!(vars.register(v).is_ok());
        }
        let st = Arc::new(CfgRpc::default());
        let _ = st.vars.set(vars);
        (debug, rpcs(&st))
    }

    fn s(x: &str) -> RpcValue {
        RpcValue::Str(x.into())
    }

    fn call(r: &[RpcExport], name: &str, p: &[RpcValue]) -> Reply {
        match r.iter().find(|x| x.name == name) {
            Some(x) => (x.handler)(p),
            None => panic!("no rpc {name}"),
        }
    }

    fn code(r: Reply) -> Option<i32> {
        r.err().map(|f| f.code)
    }

    #[test]
    fn get_set_help_list() {
        let (debug, r) = fixture();
        let i = RpcValue::Int;
        // (command, params, reply) — in order: later rows see earlier changes.
        let cases: Vec<(&str, Vec<RpcValue>, Reply)> = vec![
            ("cfg.get", vec![s("core"), s("debug")], Ok(i(1))),
            ("cfg.get", vec![s("pstn"), s("gw_ip")], Ok(s("1.2.3.4"))),
            (
                "cfg.get",
                vec![s("pstn")],
                Ok(RpcValue::Struct(vec![
                    ("gw_ip".into(), s("1.2.3.4")),
                    ("gwport".into(), i(5060)),
                ])),
            ),
            (
                "cfg.get",
                vec![s("nosuch"), s("x")],
                Err(fault(400, "Failed to get the variable")),
            ),
            (
                "cfg.get",
                vec![],
                Err(fault(500, "Failed to get the parameters")),
            ),
            (
                "cfg.set_now_int",
                vec![s("core"), s("debug"), i(3)],
                Ok(RpcValue::Null),
            ),
            ("cfg.get", vec![s("core"), s("debug")], Ok(i(3))),
            (
                "cfg.seti",
                vec![s("core"), s("debug"), s("4")],
                Err(fault(
                    400,
                    "error at parameter 2: expected integer type but record doesn't match type",
                )),
            ),
            (
                "cfg.sets",
                vec![s("core"), s("debug"), s("4")],
                Ok(RpcValue::Null),
            ),
            (
                "cfg.set",
                vec![s("core"), s("debug"), i(2)],
                Ok(RpcValue::Null),
            ),
            (
                "cfg.set_now_string",
                vec![s("core"), s("debug"), s("abc")],
                Err(fault(400, "Failed to set the variable")),
            ),
            (
                "cfg.set_now_int",
                vec![s("core"), s("nosuch"), i(1)],
                Err(fault(400, "Failed to set the variable")),
            ),
            (
                "cfg.set_now_int",
                vec![s("core[1]"), s("debug"), i(1)],
                Err(fault(400, NO_INSTANCES)),
            ),
            (
                "cfg.set_now_int",
                vec![s("core"), s("debug")],
                Err(fault(
                    400,
                    "error at parameter 2: expected integer type but end of packet encountered",
                )),
            ),
            (
                "cfg.help",
                vec![s("core"), s("debug")],
                Ok(RpcValue::Struct(vec![
                    ("desc".into(), s("debug level")),
                    ("type".into(), s("integer")),
                ])),
            ),
            (
                "cfg.help",
                vec![s("pstn"), s("gwport")],
                Ok(RpcValue::Struct(vec![
                    ("desc".into(), s("none")),
                    ("type".into(), s("integer")),
                ])),
            ),
            (
                "cfg.help",
                vec![s("x"), s("y")],
                Err(fault(400, "Failed to get the variable description")),
            ),
            (
                "cfg.list",
                vec![],
                Ok(RpcValue::Array(vec![
                    s("core: debug"),
                    s("pstn: gw_ip"),
                    s("pstn: gwport"),
                ])),
            ),
            (
                "cfg.list",
                vec![s("pstn")],
                Ok(RpcValue::Array(vec![s("pstn: gw_ip"), s("pstn: gwport")])),
            ),
            (
                "cfg.del",
                vec![s("core"), s("debug")],
                Err(fault(400, NO_INSTANCES)),
            ),
        ];
        for (cmd, p, want) in cases {
            assert_eq!(call(&r, cmd, &p), want, "{cmd} {p:?}");
        }
        assert_eq!(debug.load(Ordering::Relaxed), 2);
        // Custom parameters are read-only, with the reason in the fault.
        let e = call(
            &r,
            "cfg.set_now_string",
            &[s("pstn"), s("gw_ip"), s("5.6.7.8")],
        );
        assert!(
            e.as_ref().err().is_some_and(
                |f| f.code == 400 && f.message.contains("cannot be changed at run time")
            ),
            "{e:?}"
        );
    }

    #[test]
    fn delayed_commit_rollback_diff_reset() {
        let (debug, r) = fixture();
        let i = RpcValue::Int;
        assert_eq!(call(&r, "cfg.diff", &[]), Ok(RpcValue::Null));
        assert_eq!(
            call(&r, "cfg.set_delayed_int", &[s("core"), s("debug"), i(4)]),
            Ok(RpcValue::Null)
        );
        assert_eq!(
            debug.load(Ordering::Relaxed),
            1,
            "not applied before commit"
        );
        let diff = RpcValue::Struct(vec![
            ("group name".into(), s("core")),
            ("variable name".into(), s("debug")),
            ("old value".into(), i(1)),
            ("new value".into(), i(4)),
        ]);
        assert_eq!(call(&r, "cfg.diff", &[]), Ok(diff));
        assert_eq!(call(&r, "cfg.commit", &[]), Ok(RpcValue::Null));
        assert_eq!(debug.load(Ordering::Relaxed), 4);
        assert_eq!(call(&r, "cfg.diff", &[]), Ok(RpcValue::Null));
        assert_eq!(
            call(&r, "cfg.set_delayed", &[s("core"), s("debug"), s("7")]),
            Ok(RpcValue::Null)
        );
        assert_eq!(call(&r, "cfg.rollback", &[]), Ok(RpcValue::Null));
        assert_eq!(call(&r, "cfg.commit", &[]), Ok(RpcValue::Null));
        assert_eq!(debug.load(Ordering::Relaxed), 4, "rolled back");
        assert_eq!(
            code(call(
                &r,
                "cfg.set_delayed_string",
                &[s("pstn"), s("gw_ip"), s("x")]
            )),
            Some(400)
        );
        assert_eq!(
            code(call(
                &r,
                "cfg.set_delayed_int",
                &[s("core"), s("debug"), s("x")]
            )),
            Some(400)
        );
        assert_eq!(call(&r, "cfg.reset", &[s("core")]), Ok(RpcValue::Null));
        assert_eq!(
            debug.load(Ordering::Relaxed),
            1,
            "back to the config's value"
        );
    }
}
