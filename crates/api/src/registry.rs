//! The registry: every loaded module's export table, looked up by name at load; modparam values;
//! inter-module APIs; the lifecycle hooks; compat-table rendering.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex};

use crate::export::{
    FnExport, ModParamType, ModValue, ModuleExports, PvExport, PvNameRule, RpcExport, SelectGet,
    Transform, TransformExport,
};
use crate::pv::{parse_pv_ref, Format, PvIndex, PvInner, PvName, PvRef, PvSpec};
use crate::Error;

/// All modules of a server instance (the core first), frozen after init.
#[derive(Default)]
pub struct Registry {
    modules: Vec<ModuleExports>,
    functions: HashMap<&'static str, Vec<(usize, usize)>>,
    pvs: HashMap<&'static str, (usize, usize)>,
    transforms: HashMap<&'static str, (usize, usize)>,
    rpcs: HashMap<&'static str, (usize, usize)>,
    selects: HashMap<&'static str, (usize, usize)>,
    modparams: Vec<Vec<(&'static str, ModValue)>>,
    apis: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    // Interning table for `$var` names: filled at load; shared with the functions that name
    // variables at run time (`VarNames`).
    var_names: VarNames,
    refused_pvs: HashMap<&'static str, &'static str>,
    defines: Vec<(String, Option<String>)>,
    timers: Vec<Timer>,
    runtime_dir: Option<String>,
    version_table: Option<String>,
    cfg_file: Option<String>,
}

/// Parses format strings at run time against the tables of the registry it came from
/// ([`Registry::format_parser`]).
#[derive(Clone)]
pub struct FormatParser(Arc<Registry>);

impl FormatParser {
    /// Parses `text` as [`Registry::parse_format`] does at load: an unknown variable or a bad
    /// transformation is an error.
    pub fn parse(&self, text: &str) -> Result<Format, String> {
        self.0.parse_format(text)
    }
}

impl fmt::Debug for FormatParser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FormatParser")
    }
}

/// The `$var` name table: slot numbers by name, handed out at load (and at run time for a name
/// that no config line used, as Kamailio's `add_var` creates one). Cloning shares the table.
#[derive(Debug, Clone, Default)]
pub struct VarNames(Arc<Mutex<Vec<String>>>);

impl VarNames {
    /// The slot of `name`, interned when new.
    pub fn slot(&self, name: &str) -> usize {
        let mut names = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(i) = names.iter().position(|n| n == name) {
            return i;
        }
        names.push(name.to_string());
        names.len() - 1
    }

    /// The slot of `name` when it exists.
    pub fn find(&self, name: &str) -> Option<usize> {
        let names = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        names.iter().position(|n| n == name)
    }

    /// Every interned name with its slot, in interning order (names of other variable classes
    /// sharing the table start with a NUL byte).
    pub fn all(&self) -> Vec<(usize, String)> {
        let names = match self.0.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        names.iter().cloned().enumerate().collect()
    }
}

/// What a module timer runs: called with the wall clock in milliseconds since the Unix epoch.
pub type TimerFn = Arc<dyn Fn(u64) + Send + Sync>;

/// A periodic task registered at init ([`InitCtx::register_timer`]; Kamailio's
/// `register_timer`): the server runs it on its timer thread every `interval` until shutdown,
/// never concurrently with itself.
#[derive(Clone)]
pub struct Timer {
    /// The module that registered it.
    pub module: &'static str,
    /// A name for logs.
    pub name: String,
    /// Time between two runs (never zero).
    pub interval: std::time::Duration,
    /// The task.
    pub run: TimerFn,
}

impl std::fmt::Debug for Timer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Timer({}/{}, {:?})",
            self.module, self.name, self.interval
        )
    }
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.modules.iter().map(|m| m.name).collect();
        write!(f, "Registry({names:?})")
    }
}

/// What an init hook can do: read its modparams, offer an API to later modules, take the API of
/// an earlier one.
/// The runtime directory when neither `-Y` nor `rundir` sets one.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/ferrosip";

/// What a module's init hook sees.
pub struct InitCtx<'r> {
    registry: &'r mut Registry,
    module: usize,
}

impl InitCtx<'_> {
    /// The core's `version_table` parameter, default `version`.
    pub fn version_table(&self) -> &str {
        self.registry.version_table.as_deref().unwrap_or("version")
    }

    /// The runtime directory (`-Y` / `rundir`; Kamailio's `runtime_dir`), default `/run/ferrosip`:
    /// relative socket and FIFO names of control modules live there.
    pub fn runtime_dir(&self) -> &str {
        self.registry
            .runtime_dir
            .as_deref()
            .unwrap_or(DEFAULT_RUNTIME_DIR)
    }

    /// The main config file's path (absolute, or `-` for standard input), when the server set it:
    /// modules read relative file names next to it, as Kamailio's do.
    pub fn cfg_file(&self) -> Option<&str> {
        self.registry.cfg_file.as_deref()
    }

    /// The values set for this module's parameters, in config order (a parameter set twice appears
    /// twice; Kamailio modules read the last or accumulate, as their docs say).
    pub fn modparams(&self) -> &[(&'static str, ModValue)] {
        self.registry
            .modparams
            .get(self.module)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
    }

    /// The last value of one parameter.
    pub fn modparam(&self, name: &str) -> Option<&ModValue> {
        self.modparams()
            .iter()
            .rev()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
    }

    /// True when module `name` is loaded, initialised before this one or not yet (Kamailio finds
    /// another module's exports by name, whatever the load order).
    pub fn has_module(&self, name: &str) -> bool {
        self.registry.has_module(name)
    }

    /// Offers a typed API to modules initialised later (Kamailio's `load_tm_api` pattern).
    pub fn provide<T: Any + Send + Sync>(&mut self, api: Arc<T>) {
        self.registry.apis.insert(TypeId::of::<T>(), api);
    }

    /// The API of another module, if that module was loaded (and initialised) before this one.
    pub fn api<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.registry.api::<T>()
    }

    /// Registers a periodic task (expiry sweeps and the like) that the server runs every
    /// `interval` on its timer thread, first one `interval` after start. A zero interval is
    /// refused (it would spin).
    pub fn register_timer(
        &mut self,
        name: &str,
        interval: std::time::Duration,
        run: TimerFn,
    ) -> Result<(), Error> {
        let module = self
            .registry
            .modules
            .get(self.module)
            .map_or("?", |m| m.name);
        if interval.is_zero() {
            return Err(Error::Init(format!(
                "{module}: timer `{name}` needs a non-zero interval"
            )));
        }
        self.registry.timers.push(Timer {
            module,
            name: name.to_string(),
            interval,
            run,
        });
        Ok(())
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Registry {
        Registry::default()
    }

    /// Offers a typed API to every module, before module init (the server provides the core's
    /// [`crate::NetworkApi`] this way).
    pub fn provide<T: Any + Send + Sync>(&mut self, api: Arc<T>) {
        self.apis.insert(TypeId::of::<T>(), api);
    }

    /// Adds a module. Two modules exporting the same PV, transformation class or RPC is an error;
    /// functions may share a name across modules (the first registered wins, as in Kamailio).
    pub fn add(&mut self, m: ModuleExports) -> Result<(), Error> {
        // Check everything first so a refused module leaves the registry unchanged.
        if self.modules.iter().any(|x| x.name == m.name) {
            return Err(Error::Duplicate(format!("module `{}`", m.name)));
        }
        let mut seen: Vec<&str> = Vec::new();
        for p in &m.pvs {
            if self.pvs.contains_key(p.name) || seen.contains(&p.name) {
                return Err(Error::Duplicate(format!("pseudo-variable `${}`", p.name)));
            }
            seen.push(p.name);
        }
        seen.clear();
        for t in &m.transforms {
            if self.transforms.contains_key(t.class) || seen.contains(&t.class) {
                return Err(Error::Duplicate(format!(
                    "transformation class `{}`",
                    t.class
                )));
            }
            seen.push(t.class);
        }
        seen.clear();
        for x in &m.selects {
            if self.selects.contains_key(x.root) || seen.contains(&x.root) {
                return Err(Error::Duplicate(format!("select `@{}`", x.root)));
            }
            seen.push(x.root);
        }
        seen.clear();
        for r in &m.rpcs {
            if self.rpcs.contains_key(r.name) || seen.contains(&r.name) {
                return Err(Error::Duplicate(format!("RPC command `{}`", r.name)));
            }
            seen.push(r.name);
        }
        let mi = self.modules.len();
        for (fi, f) in m.functions.iter().enumerate() {
            self.functions.entry(f.name).or_default().push((mi, fi));
        }
        for (i, p) in m.pvs.iter().enumerate() {
            self.pvs.insert(p.name, (mi, i));
        }
        for (i, t) in m.transforms.iter().enumerate() {
            self.transforms.insert(t.class, (mi, i));
        }
        for (i, r) in m.rpcs.iter().enumerate() {
            self.rpcs.insert(r.name, (mi, i));
        }
        for (i, x) in m.selects.iter().enumerate() {
            self.selects.insert(x.root, (mi, i));
        }
        for (name, why) in &m.refused_pvs {
            self.refused_pvs.entry(name).or_insert(why);
        }
        self.modules.push(m);
        self.modparams.push(Vec::new());
        Ok(())
    }

    /// Loaded modules, in order.
    pub fn modules(&self) -> &[ModuleExports] {
        &self.modules
    }

    /// True when module `name` is loaded.
    pub fn has_module(&self, name: &str) -> bool {
        self.modules.iter().any(|m| m.name == name)
    }

    /// Every entry (all arities, all modules) for function `name`, with the module name.
    pub fn functions(&self, name: &str) -> Vec<(&'static str, &FnExport)> {
        self.functions
            .get(name)
            .map(|v| {
                v.iter()
                    .filter_map(|(mi, fi)| {
                        let m = self.modules.get(*mi)?;
                        Some((m.name, m.functions.get(*fi)?))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The PV class `name`.
    pub fn pv(&self, name: &str) -> Option<&PvExport> {
        let (mi, i) = self.pvs.get(name)?;
        self.modules.get(*mi)?.pvs.get(*i)
    }

    /// The transformation class `class`.
    pub fn transform(&self, class: &str) -> Option<&TransformExport> {
        let (mi, i) = self.transforms.get(class)?;
        self.modules.get(*mi)?.transforms.get(*i)
    }

    /// The RPC command `name`.
    pub fn rpc(&self, name: &str) -> Option<&RpcExport> {
        let (mi, i) = self.rpcs.get(name)?;
        self.modules.get(*mi)?.rpcs.get(*i)
    }

    /// All RPC commands, sorted by name.
    pub fn rpc_names(&self) -> Vec<&'static str> {
        let mut v: Vec<&'static str> = self.rpcs.keys().copied().collect();
        v.sort_unstable();
        v
    }

    /// Prepares a select from its path without `@` (`cfg_get.pstn.gw_ip`).
    pub fn resolve_select(&self, path: &str) -> Result<SelectGet, String> {
        let end = path.find(['.', '[']).unwrap_or(path.len());
        let (root, rest) = path.split_at(end);
        let (mi, i) = self
            .selects
            .get(root)
            .ok_or_else(|| format!("unknown select `@{path}`"))?;
        let x = self
            .modules
            .get(*mi)
            .and_then(|m| m.selects.get(*i))
            .ok_or_else(|| format!("unknown select `@{path}`"))?;
        (x.resolve)(rest.strip_prefix('.').unwrap_or(rest))
            .map_err(|e| format!("select `@{path}`: {e}"))
    }

    /// True when some module declares `event_route[name]` — by its full name, or by a family
    /// prefix ending with `:` (`tm:branch-failure:` covers `tm:branch-failure:myroute`).
    pub fn has_event_route(&self, name: &str) -> bool {
        self.modules.iter().any(|m| {
            m.event_routes.iter().any(|e| {
                e.name == name
                    || (e.name.ends_with(':')
                        && name.len() > e.name.len()
                        && name.starts_with(e.name))
            })
        })
    }

    /// Sets the preprocessor defines (`#!define`, `-D`), in definition order: name and value
    /// (`None` = defined without value). The server calls it before module init and compile, so
    /// `$def(NAME)`/`$defn(NAME)` parsers can read them ([`Registry::define`]).
    pub fn set_defines(&mut self, defines: Vec<(String, Option<String>)>) {
        self.defines = defines;
    }

    /// Sets the runtime directory (`-Y`, `rundir`): where modules put their sockets and FIFOs by
    /// default. The server calls it before module init.
    pub fn set_runtime_dir(&mut self, dir: &str) {
        self.runtime_dir = Some(dir.to_string());
    }

    /// Sets the main config file's path (absolute, or `-`): modules resolve relative file names
    /// next to it ([`InitCtx::cfg_file`]). The server calls it before module init.
    pub fn set_cfg_file(&mut self, path: &str) {
        self.cfg_file = Some(path.to_string());
    }

    /// Sets the core's `version_table` (the table DB-backed modules check their tables' versions
    /// in). The server calls it before module init.
    pub fn set_version_table(&mut self, name: &str) {
        self.version_table = Some(name.to_string());
    }

    /// The timers modules registered at init, in registration order.
    pub fn timers(&self) -> &[Timer] {
        &self.timers
    }

    /// All preprocessor defines given with [`Registry::set_defines`].
    pub fn defines(&self) -> &[(String, Option<String>)] {
        &self.defines
    }

    /// The define `name`: `None` when not defined, `Some(None)` when defined without value (the
    /// last definition wins, as `#!redefine`).
    pub fn define(&self, name: &str) -> Option<Option<&str>> {
        self.defines
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref())
    }

    /// The reason a PV name is refused, if a module declared it so.
    pub fn refused_pv(&self, name: &str) -> Option<&'static str> {
        self.refused_pvs.get(name).copied()
    }

    /// The slot number of `$var(name)` (interned at load).
    pub fn var_slot(&self, name: &str) -> usize {
        self.var_names.slot(name)
    }

    /// The `$var` name table, for functions that address script variables by a name computed at
    /// run time (pv's `pv_var_to_xavp`, `pv_xavp_to_var`).
    pub fn var_names(&self) -> VarNames {
        self.var_names.clone()
    }

    /// Sets a modparam (`modparam("a|b", "name", value)` or `--modparam`): `module` may be an
    /// alternation of module names. Unknown module/parameter, wrong type, a not-implemented parameter
    /// or a refused value is an error whose text is meant for the user.
    pub fn set_modparam(&mut self, module: &str, name: &str, value: ModValue) -> Result<(), Error> {
        let targets: Vec<usize> = module
            .split('|')
            .filter_map(|m| self.modules.iter().position(|x| x.name == m))
            .collect();
        if targets.is_empty() {
            return Err(Error::Config(format!(
                "modparam for module `{module}`, which is not loaded"
            )));
        }
        let mut found = false;
        for mi in targets {
            let Some(m) = self.modules.get(mi) else {
                continue;
            };
            let Some(p) = m.params.iter().find(|p| p.name == name) else {
                continue;
            };
            found = true;
            if !p.implemented {
                return Err(Error::NotImplemented(format!(
                    "modparam `{}` of module `{}`",
                    name, m.name
                )));
            }
            let v = match (p.ty, &value) {
                (ModParamType::Int, ModValue::Int(_)) | (ModParamType::Str, ModValue::Str(_)) => {
                    value.clone()
                }
                (ModParamType::Int, ModValue::Str(s)) => match s.trim().parse::<i64>() {
                    Ok(i) => ModValue::Int(i),
                    Err(_) => {
                        return Err(Error::Config(format!(
                            "modparam `{}` of module `{}` needs an integer, got \"{s}\"",
                            name, m.name
                        )))
                    }
                },
                (ModParamType::Str, ModValue::Int(_)) => {
                    return Err(Error::Config(format!(
                        "modparam `{}` of module `{}` needs a string",
                        name, m.name
                    )))
                }
            };
            if let Some(check) = &p.check {
                check(&v).map_err(|e| {
                    Error::Config(format!("modparam `{}` of module `{}`: {e}", name, m.name))
                })?;
            }
            let pname = p.name;
            if let Some(list) = self.modparams.get_mut(mi) {
                list.push((pname, v));
            }
        }
        if !found {
            return Err(Error::Config(format!(
                "unknown modparam `{name}` for module `{module}`"
            )));
        }
        Ok(())
    }

    /// Runs every module's init hook, in load order.
    pub fn init_all(&mut self) -> Result<(), Error> {
        for mi in 0..self.modules.len() {
            let Some(hook) = self.modules.get(mi).and_then(|m| m.init.clone()) else {
                continue;
            };
            let mut ctx = InitCtx {
                registry: self,
                module: mi,
            };
            hook(&mut ctx)?;
        }
        Ok(())
    }

    /// Runs every module's per-worker init with `rank`.
    pub fn child_init_all(&self, rank: i32) -> Result<(), Error> {
        for m in &self.modules {
            if let Some(h) = &m.child_init {
                h(rank)?;
            }
        }
        Ok(())
    }

    /// Runs the destroy hooks in reverse load order.
    pub fn destroy_all(&self) {
        for m in self.modules.iter().rev() {
            if let Some(h) = &m.destroy {
                h();
            }
        }
    }

    /// An API registered with [`InitCtx::provide`].
    pub fn api<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.apis
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|a| a.downcast::<T>().ok())
    }

    /// Resolves a PV reference (from the AST or found in a string) into a [`PvSpec`].
    pub fn resolve_pv(&self, r: &PvRef) -> Result<PvSpec, String> {
        let class = match self.pv(&r.name) {
            Some(c) => c,
            None => {
                return Err(match self.refused_pv(&r.name) {
                    Some(why) => {
                        format!("pseudo-variable `{}`: not implemented yet ({why})", r.text)
                    }
                    None => format!("unknown pseudo-variable `{}`", r.text),
                })
            }
        };
        let inner = match (&r.inner, class.inner) {
            (None, PvNameRule::Required) => {
                return Err(format!(
                    "pseudo-variable `{}` needs a name: `${}(…)`",
                    r.text, r.name
                ))
            }
            (Some(_), PvNameRule::None) => {
                return Err(format!(
                    "pseudo-variable `${}` takes no name (`{}`)",
                    r.name, r.text
                ))
            }
            (None, _) => PvInner::None,
            (Some(i), _) => match &class.parse {
                Some(p) => p(i, self).map_err(|e| format!("in `{}`: {e}", r.text))?,
                None => PvInner::Str(i.as_bytes().to_vec()),
            },
        };
        let index = match &r.index {
            None => PvIndex::None,
            Some(_) if !class.indexed => {
                return Err(format!(
                    "pseudo-variable `${}` takes no index (`{}`)",
                    r.name, r.text
                ))
            }
            Some(i) if i.trim() == "*" => PvIndex::All,
            Some(i) => match i.trim().parse::<i64>() {
                Ok(n) => PvIndex::At(n),
                Err(_) if i.trim_start().starts_with('$') => {
                    let (pr, used) = parse_pv_ref(i.trim().as_bytes())?;
                    if used != i.trim().len() {
                        return Err(format!("bad index in `{}`", r.text));
                    }
                    PvIndex::Var(Box::new(self.resolve_pv(&pr)?))
                }
                Err(_) => return Err(format!("bad index in `{}`", r.text)),
            },
        };
        let mut transforms: Vec<Transform> = Vec::new();
        for t in &r.transforms {
            transforms.push(self.resolve_transform(t)?);
        }
        Ok(PvSpec::new(
            r.text.clone(),
            r.name.clone(),
            PvName { inner, index },
            class.get.clone(),
            class.set.clone(),
            transforms,
        ))
    }

    /// Prepares one transformation from the text inside its braces (`s.substr,1,2`).
    pub fn resolve_transform(&self, text: &str) -> Result<Transform, String> {
        let (class, rest) = text
            .split_once('.')
            .ok_or_else(|| format!("bad transformation `{{{text}}}`"))?;
        let t = self
            .transform(class)
            .ok_or_else(|| format!("unknown transformation class `{class}` in `{{{text}}}`"))?;
        (t.parse)(rest, self)
    }

    /// Parses a string with embedded variables. `$$` is a literal `$` (checked against Kamailio
    /// 5.6.3: `"a$$b"` prints `a$b`); any other `$` that does not start a valid variable is an
    /// error (Kamailio refuses such strings at load too).
    pub fn parse_format(&self, text: &str) -> Result<Format, String> {
        let b = text.as_bytes();
        let mut f = Format::new();
        let mut i = 0;
        let mut lit_start = 0;
        while i < b.len() {
            if b.get(i) == Some(&b'$') && b.get(i + 1) == Some(&b'$') {
                // keep the first `$` of the pair as text, drop the second
                f.push_lit(b.get(lit_start..=i).unwrap_or_default());
                i += 2;
                lit_start = i;
            } else if b.get(i) == Some(&b'$') {
                f.push_lit(b.get(lit_start..i).unwrap_or_default());
                let rest = b.get(i..).unwrap_or_default();
                let (r, used) = parse_pv_ref(rest)?;
                f.push_pv(self.resolve_pv(&r)?);
                i += used;
                lit_start = i;
            } else {
                i += 1;
            }
        }
        f.push_lit(b.get(lit_start..).unwrap_or_default());
        Ok(f)
    }

    /// A parser of format strings for run time (`pv_evalx`, which evaluates a format and then
    /// the result again as a format): a copy of the variable, transformation and select tables,
    /// the `$var` names (shared: a name first seen at run time gets a new slot), the defines and
    /// the inter-module APIs. Built at load (in a fixup), cheap to clone.
    pub fn format_parser(&self) -> FormatParser {
        let mut reg = Registry {
            apis: self.apis.clone(),
            var_names: self.var_names.clone(),
            refused_pvs: self.refused_pvs.clone(),
            defines: self.defines.clone(),
            ..Registry::default()
        };
        for m in &self.modules {
            if m.pvs.is_empty() && m.transforms.is_empty() && m.selects.is_empty() {
                continue;
            }
            let part = ModuleExports {
                name: m.name,
                pvs: m.pvs.clone(),
                transforms: m.transforms.clone(),
                selects: m.selects.clone(),
                ..ModuleExports::default()
            };
            // The names were unique in `self`, so adding them again cannot clash.
            if reg.add(part).is_err() {
                continue;
            }
        }
        FormatParser(Arc::new(reg))
    }

    /// Markdown rows for docs/compat.md, one per function entry:
    /// `| module | function | params | routes | status | doc |`, sorted by module then name.
    pub fn compat_rows(&self) -> String {
        let mut rows: Vec<(String, String)> = Vec::new();
        for m in &self.modules {
            for f in &m.functions {
                let mut params: Vec<&str> = f.params.iter().map(|k| k.label()).collect();
                if f.variadic {
                    params.push("…");
                }
                let status = if f.handler.is_some() {
                    "yes"
                } else {
                    "not yet"
                };
                rows.push((
                    format!("{}\u{0}{}\u{0}{}", m.name, f.name, params.len()),
                    format!(
                        "| {} | `{}({})` | {} | {} | {} |",
                        m.name,
                        f.name,
                        params.join(", ").replace('|', "\\|"),
                        f.routes.describe(),
                        status,
                        f.doc.replace('|', "\\|")
                    ),
                ));
            }
        }
        rows.sort();
        let mut out = String::from("| module | function | routes | implemented | description |\n");
        out.push_str("|---|---|---|---|---|\n");
        for (_, r) in rows {
            out.push_str(&r);
            out.push('\n');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{FnExport, ParamKind, PvExport, PvNameRule};
    use crate::route::RouteMask;
    use crate::store;
    use crate::value::Value;

    fn reg() -> Registry {
        let mut r = Registry::new();
        let mut m = ModuleExports::new("pv");
        m.pvs = store::var_avp_pvs();
        m.pvs.push(PvExport {
            name: "rm",
            doc: "",
            inner: PvNameRule::None,
            indexed: false,
            parse: None,
            get: Arc::new(|_, _| Ok(Value::str("INVITE"))),
            set: None,
        });
        m.transforms.push(TransformExport {
            class: "s",
            doc: "",
            parse: Arc::new(|t: &str, _: &Registry| match t {
                "len" => Ok(Arc::new(|_: &mut crate::Ctx<'_>, v: Value| {
                    Ok(Value::Int(v.to_bytes().len() as i64))
                }) as Transform),
                other => Err(format!("unknown transformation `s.{other}`")),
            }),
        });
        m.functions
            .push(FnExport::new("f", &[ParamKind::Str], RouteMask::ANY, ""));
        m.refused_pvs.push(("snd", "no onsend_route yet"));
        m.transforms.push(TransformExport {
            class: "t",
            doc: "",
            parse: Arc::new(|_: &str, _: &Registry| {
                Ok(Arc::new(|_: &mut crate::Ctx<'_>, _: Value| {
                    Err(Error::Runtime("always fails".into()))
                }) as Transform)
            }),
        });
        r.add(m).expect("pv registers");
        r
    }

    #[test]
    fn pv_resolution() {
        let r = reg();
        // (text, Ok(writable) or Err(fragment))
        let cases: &[(&str, Result<bool, &str>)] = &[
            ("$var(x)", Ok(true)),
            ("$avp(x)", Ok(true)),
            ("$(avp(x)[2])", Ok(true)),
            ("$(avp(x)[*])", Ok(true)),
            ("$(avp(x)[$var(i)])", Ok(true)),
            ("$rm", Ok(false)),
            ("$(rm{s.len})", Ok(false)),
            ("$(var(x){s.len})", Ok(false)),
            ("$var", Err("needs a name")),
            ("$rm(x)", Err("takes no name")),
            ("$(var(x)[1])", Err("takes no index")),
            ("$(avp(x)[a])", Err("bad index")),
            ("$nope", Err("unknown pseudo-variable")),
            ("$(rm{s.nope})", Err("unknown transformation `s.nope`")),
            ("$(rm{q.len})", Err("unknown transformation class `q`")),
            ("$var($x)", Err("invalid $var name")),
            (
                "$snd",
                Err("$snd`: not implemented yet (no onsend_route yet)"),
            ),
            ("$snd(ip)", Err("not implemented yet (no onsend_route yet)")),
            (
                "$(snd(ip){s.len})",
                Err("not implemented yet (no onsend_route yet)"),
            ),
        ];
        for (text, want) in cases {
            let (pr, used) = parse_pv_ref(text.as_bytes()).expect("syntax");
            assert_eq!(used, text.len(), "{text}");
            match (r.resolve_pv(&pr), want) {
                (Ok(s), Ok(w)) => assert_eq!(s.is_writable(), *w, "{text}"),
                (Err(e), Err(frag)) => assert!(e.contains(frag), "{text}: {e}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
        assert_eq!(r.var_slot("x"), r.var_slot("x"));
        assert_ne!(r.var_slot("x"), r.var_slot("y"));
    }

    #[test]
    fn render_null_and_failed_reads() {
        let r = reg();
        let mut m = ferrosip_sipmsg::Msg::parse(
            b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\r\n".to_vec(),
        )
        .expect("parses");
        let mut w = crate::WorkerState::default();
        let mut rec = crate::Recorder {
            debug: 3,
            ..Default::default()
        };
        let mut ctx = crate::Ctx::new(
            &mut m,
            crate::RouteType::Request,
            crate::RecvInfo::default(),
            &mut w,
            &mut rec,
        )
        .expect("ctx");
        // (format, rendered): undefined prints <null>, a failed transformation prints nothing
        let cases = [
            ("[$avp(none)]", "[<null>]"),
            ("[$(rm{t.x})]", "[]"),
            ("[$(rm{s.len})]", "[6]"),
            ("a$$b $rm", "a$b INVITE"),
        ];
        for (text, want) in cases {
            let f = r.parse_format(text).expect("format");
            assert_eq!(f.render(&mut ctx), want.as_bytes(), "{text}");
        }
        let spec = r
            .resolve_pv(&parse_pv_ref(b"$(rm{t.x})").expect("ref").0)
            .expect("spec");
        assert!(spec.try_get(&mut ctx).is_err());
        assert_eq!(spec.get(&mut ctx), Value::Null);
    }

    #[test]
    fn formats_and_duplicates() {
        let r = reg();
        assert_eq!(
            r.parse_format("plain").expect("ok").as_constant(),
            Some(b"plain".to_vec())
        );
        assert_eq!(r.parse_format("a $rm b").expect("ok").as_constant(), None);
        assert!(r.parse_format("bad $").is_err());
        for (text, want) in [
            ("a$$b", "a$b"),
            ("$$", "$"),
            ("$$$$x", "$$x"),
            ("x$$", "x$"),
        ] {
            let f = r.parse_format(text).expect("$$ is a literal $");
            assert_eq!(f.as_constant().as_deref(), Some(want.as_bytes()), "{text}");
        }
        assert!(r.parse_format("$$$").is_err(), "a lone `$` after `$$`");
        let mut r2 = reg();
        assert_eq!(r2.define("X"), None);
        r2.set_defines(vec![("X".into(), None), ("Y".into(), Some("1".into()))]);
        assert_eq!(r2.define("X"), Some(None));
        assert_eq!(r2.define("Y"), Some(Some("1")));
        assert_eq!(r2.defines().len(), 2);
        assert!(r.parse_format("$nope").is_err());
        let mut r = reg();
        assert!(matches!(
            r.add(ModuleExports::new("pv")),
            Err(Error::Duplicate(_))
        ));
        let mut other = ModuleExports::new("other");
        other.pvs = store::core_pvs();
        other.pvs.extend(store::var_avp_pvs());
        assert!(matches!(r.add(other), Err(Error::Duplicate(_))));
        assert!(!r.has_module("other"), "a refused module leaves no trace");
        assert!(r.pv("rc").is_none());
        // Same function name in two modules is allowed; both entries are listed.
        let mut two = ModuleExports::new("two");
        two.functions.push(FnExport::new(
            "f",
            &[ParamKind::Str, ParamKind::Str],
            RouteMask::ANY,
            "",
        ));
        r.add(two).expect("second module");
        assert_eq!(r.functions("f").len(), 2);
        assert!(r.functions("g").is_empty());
    }

    #[test]
    fn timers_registered_at_init() {
        use std::sync::atomic::{AtomicU64, Ordering};
        use std::time::Duration;
        let seen = Arc::new(AtomicU64::new(0));
        let mut r = Registry::new();
        // (module, interval ms): a zero interval must fail init.
        for (name, ms) in [("tm1", 50u64), ("tm0", 0)] {
            let mut m = ModuleExports::new(name);
            let s2 = seen.clone();
            m.init = Some(Arc::new(move |ictx: &mut InitCtx<'_>| {
                let s3 = s2.clone();
                ictx.register_timer(
                    "sweep",
                    Duration::from_millis(ms),
                    Arc::new(move |now| s3.store(now, Ordering::Relaxed)),
                )
            }));
            r.add(m).unwrap_or_else(|e| panic!("{e}"));
        }
        let err = r.init_all().err().map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("module init failed: tm0: timer `sweep` needs a non-zero interval")
        );
        let t = r.timers();
        assert_eq!(t.len(), 1);
        assert_eq!(
            (t[0].module, t[0].name.as_str(), t[0].interval),
            ("tm1", "sweep", Duration::from_millis(50))
        );
        (t[0].run)(1234);
        assert_eq!(seen.load(Ordering::Relaxed), 1234);
    }
}
