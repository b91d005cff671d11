//! The config's custom cfg groups (`group.var = value desc "…"`) and their instances
//! (`group[id].var = value`): the `@cfg_get.group.var` select, and Kamailio's core functions
//! `cfg_select("group", id)` / `cfg_reset("group")`, which make the rest of the message's
//! processing read instance `id` of the group (a variable the instance does not set keeps the
//! group's default), as Kamailio 5.6.3 does.
//!
//! The selection belongs to the message: it is kept in the message state (an XAVP with a
//! NUL-prefixed name, invisible to the script), so the next message starts with the defaults, as
//! Kamailio's `cfg_update()` before each message does.
//!
//! Refused at load: `cfg_select`/`cfg_reset` on a group the config does not declare — Kamailio's
//! own groups (`core`, `tm` …) have no instances here ("configuration group \"x\" not found", the
//! message Kamailio gives for an unknown group).
//!
//! The group defaults are run-time configuration variables: the `cfg` module registers them in
//! the shared [`CfgVars`] registry at init, so `cfg.set_now_int`/`cfg.set_now_string`/`cfg.set`,
//! the delayed sets and `cfg.reset` (module `cfg_rpc`) change what `@cfg_get` reads. A change is
//! seen by the next read, also in a message being processed (Kamailio updates a worker's copy when
//! the next message starts). Instance values (`group[id].var`) stay fixed, as in Kamailio, where
//! they have no RPC of their own here.

use std::sync::{Arc, RwLock};

use ferrosip_api::export::{Arg, FixupEnv, FnExport, ParamKind as K, SelectExport};
use ferrosip_api::stats::{CfgAccess, CfgType, CfgValue, CfgVar, CfgVars};
use ferrosip_api::{Ctx, Error, ModuleExports, RetCode, RouteMask, Value};
use ferrosip_config::ast::{Config, Item, ParamValue};

/// The message-state key holding the selected instances: one record, a field per group.
const SELECTED: &[u8] = b"\0cfg_select";

/// One default: its current value (changed by the cfg RPCs) and its description.
#[derive(Debug)]
struct Default_ {
    group: String,
    var: String,
    desc: String,
    value: RwLock<Value>,
}

/// Defaults and instances of the config's custom groups.
#[derive(Debug, Default)]
struct Groups {
    /// In file order (a later line overrides an earlier one).
    defaults: Vec<Arc<Default_>>,
    /// (group, instance id, var, value).
    instances: Vec<(String, i64, String, Value)>,
}

impl Groups {
    fn of(config: &Config) -> Groups {
        let mut g = Groups::default();
        for item in &config.items {
            if let Item::CustomParam(p) = item {
                let v = match &p.value {
                    ParamValue::Int(i) => Value::Int(*i),
                    ParamValue::Bool(b) => Value::Int(i64::from(*b)),
                    ParamValue::Str(s) | ParamValue::Ident(s) => Value::str(s.as_str()),
                    _ => continue,
                };
                match p.index {
                    None => g.defaults.push(Arc::new(Default_ {
                        group: p.group.clone(),
                        var: p.var.clone(),
                        desc: p.desc.clone().unwrap_or_default(),
                        value: RwLock::new(v),
                    })),
                    Some(id) => g.instances.push((p.group.clone(), id, p.var.clone(), v)),
                }
            }
        }
        g
    }

    fn has_group(&self, group: &str) -> bool {
        self.defaults.iter().any(|d| d.group == group)
    }

    /// The default of `group.var` that reads see (the last line that sets it).
    fn current(&self, group: &str, var: &str) -> Option<&Arc<Default_>> {
        self.defaults
            .iter()
            .rev()
            .find(|d| d.group == group && d.var == var)
    }

    fn has_instance(&self, group: &str, id: i64) -> bool {
        self.instances
            .iter()
            .any(|(g, i, _, _)| g == group && *i == id)
    }

    /// The value of `group.var` in instance `inst` (or the default's current value).
    fn value(&self, group: &str, var: &str, inst: Option<i64>) -> Option<Value> {
        let in_instance = inst.and_then(|id| {
            self.instances
                .iter()
                .rev()
                .find(|(g, i, v, _)| g == group && *i == id && v == var)
                .map(|(_, _, _, val)| val.clone())
        });
        in_instance.or_else(|| self.current(group, var).map(|d| d.get()))
    }

    /// Registers every default (once per name) as a writable cfg variable.
    fn register(&self, vars: &CfgVars) -> Result<(), Error> {
        for d in &self.defaults {
            let Some(live) = self.current(&d.group, &d.var) else {
                continue;
            };
            if !Arc::ptr_eq(live, d) || vars.find(&d.group, &d.var).is_some() {
                continue; // an earlier line for a name a later one sets, or already known
            }
            let (ty, default) = match d.get() {
                Value::Int(i) => (CfgType::Int, CfgValue::Int(i)),
                other => (
                    CfgType::Str,
                    CfgValue::Str(String::from_utf8_lossy(&other.to_bytes()).into_owned()),
                ),
            };
            let (g, s) = (Arc::clone(d), Arc::clone(d));
            vars.register(CfgVar {
                group: d.group.clone(),
                name: d.var.clone(),
                doc: d.desc.clone(),
                ty,
                default,
                get: Arc::new(move || match g.get() {
                    Value::Int(i) => CfgValue::Int(i),
                    other => CfgValue::Str(String::from_utf8_lossy(&other.to_bytes()).into_owned()),
                }),
                // CfgVar::set has converted the value to the variable's type.
                access: CfgAccess::Writable(Arc::new(move |v| {
                    s.set(match v {
                        CfgValue::Int(i) => Value::Int(i),
                        CfgValue::Str(t) => Value::str(t.as_str()),
                    });
                    Ok(())
                })),
            })?;
        }
        Ok(())
    }
}

impl Default_ {
    fn get(&self) -> Value {
        // A poisoned lock still holds a whole value (writers only assign).
        self.value
            .read()
            .map_or_else(|p| p.into_inner().clone(), |v| v.clone())
    }

    fn set(&self, v: Value) {
        match self.value.write() {
            Ok(mut w) => *w = v,
            Err(p) => *p.into_inner() = v,
        }
    }
}

/// The instance of `group` selected for the current message.
fn selected(ctx: &Ctx<'_>, group: &str) -> Option<i64> {
    let rec = ctx.state.xavps.get(SELECTED)?.first()?;
    rec.iter()
        .find(|(g, _)| g.as_slice() == group.as_bytes())
        .map(|(_, v)| v.to_int())
}

/// Records (`Some`) or clears (`None`) the selection of `group` for the current message.
fn select(ctx: &mut Ctx<'_>, group: &str, id: Option<i64>) {
    let recs = ctx.state.xavps.entry(SELECTED.to_vec()).or_default();
    if recs.is_empty() {
        recs.push(Vec::new());
    }
    if let Some(rec) = recs.first_mut() {
        rec.retain(|(g, _)| g.as_slice() != group.as_bytes());
        if let Some(id) = id {
            rec.push((group.as_bytes().to_vec(), Value::Int(id)));
        }
    }
}

/// The group name (first argument) and the groups (appended at load by [`known_group`]).
fn group_arg(a: &[Arg]) -> Result<(String, Arc<Groups>), Error> {
    let name = match a.first() {
        Some(Arg::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => return Err(Error::Runtime("cfg group name missing".into())),
    };
    let groups = a
        .iter()
        .rev()
        .find_map(|x| match x {
            Arg::Custom(c) => Arc::clone(c).downcast::<Groups>().ok(),
            _ => None,
        })
        .ok_or_else(|| Error::Runtime("cfg groups missing".into()))?;
    Ok((name, groups))
}

/// The `cfg` module: the `@cfg_get` select over the config's groups, which its init hands to the
/// core's `cfg_select`/`cfg_reset` ([`functions`]).
pub(crate) fn module(config: &Config) -> ModuleExports {
    let groups = Arc::new(Groups::of(config));
    let mut m = ModuleExports::new("cfg");
    let g = Arc::clone(&groups);
    m.selects = vec![SelectExport {
        root: "cfg_get",
        doc:
            "value of a custom cfg variable: @cfg_get.group.var (of the instance cfg_select chose)",
        resolve: Arc::new(move |path: &str| {
            let (group, var) = path
                .split_once('.')
                .ok_or_else(|| format!("unknown cfg variable `{path}`"))?;
            if g.value(group, var, None).is_none() {
                return Err(format!("unknown cfg variable `{path}`"));
            }
            let (group, var) = (group.to_string(), var.to_string());
            let g = Arc::clone(&g);
            Ok(Arc::new(move |ctx: &mut Ctx<'_>| {
                let inst = selected(ctx, &group);
                // Selects always yield strings in Kamailio, integers included.
                Ok(g.value(&group, &var, inst)
                    .map_or(Value::Null, |v| Value::Str(v.to_bytes().into_owned())))
            }) as ferrosip_api::export::SelectGet)
        }),
    }];
    // The core's cfg_select/cfg_reset find the groups through the registry (init runs before
    // the config is compiled).
    m.init = Some(Arc::new(move |ictx| {
        ictx.provide(Arc::clone(&groups));
        if !groups.defaults.is_empty() {
            groups.register(&ictx.cfg_vars())?;
        }
        Ok(())
    }));
    m
}

/// `cfg_select` and `cfg_reset`, for the core's table: at load they take the config's groups from
/// the registry (provided by [`module`]'s init) and refuse a group the config does not declare.
pub(crate) fn functions() -> Vec<FnExport> {
    // Kamailio allows both everywhere but in onsend_route (core actions outside cfg.y's `fcmd`).
    let not_onsend = RouteMask(RouteMask::ANY.0 & !RouteMask::ONSEND.0);
    vec![
        FnExport::new(
            "cfg_select",
            &[K::Str, K::IntOrVar],
            not_onsend,
            "read instance id of a custom cfg group for the rest of the message",
        )
        .fixup_env(known_group)
        .with(|ctx, a| {
            let (group, groups) = group_arg(a)?;
            let id = a
                .get(1)
                .ok_or_else(|| Error::Runtime("cfg_select: instance id missing".into()))?
                .int(ctx)?;
            if !groups.has_instance(&group, id) {
                ctx.log_error(&format!("group instance '{group}[{id}]' does not exist"));
                return Ok(RetCode(-1));
            }
            select(ctx, &group, Some(id));
            Ok(RetCode::TRUE)
        }),
        FnExport::new(
            "cfg_reset",
            &[K::Str],
            not_onsend,
            "read the defaults of a custom cfg group again",
        )
        .fixup_env(known_group)
        .with(|ctx, a| {
            let (group, _) = group_arg(a)?;
            select(ctx, &group, None);
            Ok(RetCode::TRUE)
        }),
    ]
}

/// Load-time check of the group name; appends the groups to the arguments.
fn known_group(a: &mut Vec<Arg>, env: &FixupEnv<'_>) -> Result<(), String> {
    let name = match a.first() {
        Some(Arg::Str(s)) => String::from_utf8_lossy(s).into_owned(),
        _ => return Err("the group name must be a constant string".into()),
    };
    match env.registry.api::<Groups>() {
        Some(g) if g.has_group(&name) => {
            a.push(Arg::Custom(g));
            Ok(())
        }
        _ => Err(format!(
            "configuration group \"{name}\" not found (only the config's own groups have \
             instances here; Kamailio's core and module groups: not implemented)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_by_instance() {
        let d = |var: &str, v: Value| {
            Arc::new(Default_ {
                group: "foo".into(),
                var: var.into(),
                desc: String::new(),
                value: RwLock::new(v),
            })
        };
        let mut g = Groups::default();
        g.defaults.push(d("bar", Value::Int(1)));
        g.defaults.push(d("baz", Value::str("s")));
        g.instances
            .push(("foo".into(), 2, "bar".into(), Value::Int(5)));
        g.instances
            .push(("foo".into(), 3, "baz".into(), Value::str("t")));
        let cases = [
            ("bar", None, Some(Value::Int(1))),
            ("bar", Some(2), Some(Value::Int(5))),
            ("baz", Some(2), Some(Value::str("s"))),
            ("baz", Some(3), Some(Value::str("t"))),
            ("bar", Some(3), Some(Value::Int(1))),
            ("nope", None, None),
        ];
        for (var, inst, want) in cases {
            assert_eq!(g.value("foo", var, inst), want, "{var} {inst:?}");
        }
        assert!(g.has_group("foo") && !g.has_group("core"));
        assert!(g.has_instance("foo", 2) && !g.has_instance("foo", 7));
        // Set through the cfg registry: the default changes, instance values do not.
        let vars = CfgVars::new();
        g.register(&vars).expect("register");
        let bar = vars.find("foo", "bar").expect("foo.bar registered");
        bar.set(CfgValue::Str("9".into())).expect("set");
        assert_eq!(g.value("foo", "bar", None), Some(Value::Int(9)));
        assert_eq!(g.value("foo", "bar", Some(3)), Some(Value::Int(9)));
        assert_eq!(g.value("foo", "bar", Some(2)), Some(Value::Int(5)));
        let baz = vars.find("foo", "baz").expect("foo.baz registered");
        baz.set(CfgValue::Int(7)).expect("set");
        assert_eq!(g.value("foo", "baz", None), Some(Value::str("7")));
    }
}
