//! Compiles the config AST into an executable program — every function, variable, route and flag
//! resolved at load — and evaluates it with Kamailio's semantics. Core functions and keywords live here.
//!
//! Layout: [`compile`](crate::compile()) / [`compile_config`] (AST → program, diagnostics with
//! file:line:col), `ir` (the compiled form and the pure value operations), `eval` (the interpreter:
//! `run_actions` semantics, return codes, `return_mode`, `switch`, `while`), [`core`] (the core's
//! functions as an export table), `uri` (R-URI rewriting).
//!
//! What this crate does not do: no I/O, no SIP forwarding (network core functions are in the tables
//! but refused at load until the transport exists), no module functions (they come from the registry),
//! no message PVs (`$ru`, `$si` … belong to the `pv` module).
//!
//! Decisions (see docs/runtime.md): `=~` uses the `regex` crate behind a POSIX-ERE translation layer
//! (`ferrosip_api::posix`); `$env(X)` and `$def(X)` are folded at load; function calls are not allowed
//! inside function parameters (as in Kamailio); route-type masks are checked against the block that
//! textually contains the call (`route[X]` counts as request_route, as in Kamailio's parser).
//!
//! Errors: load problems are `ferrosip_config::Diagnostic`s (file:line:col, rendered like the front
//! end's), registry problems `ferrosip_api::Error`; running a script never returns an error (failures
//! are logged and become return codes, as in Kamailio), so the crate has no error enum of its own.
//!
//! Typical use (the server): [`base_registry`] (core + cfg variables) → add the modules →
//! [`apply_modparams`] → `Registry::init_all` → [`compile`] → per message
//! `Program::run(program.route(Entry::Request)?, &mut ctx)`. `$var` slots are numbered by the registry
//! that compiled the program: after a reload with a new registry, workers need a fresh `WorkerState`.
//! While a block runs, the program is in `Ctx::routes` (an `api::RouteRunner`), so module functions
//! can run route blocks (`event_route[sl:local-response]`, `msg_changed_route`).
//!
//! Per-action hook: [`Program::add_action_hook`] installs an [`ActionHook`] called before and after
//! every executed action — statements, and function calls or `route()` inside expressions, as
//! Kamailio's `run_actions` does — with the action's position and name ([`ActionSite`]). The server
//! uses it for `log_prefix_mode=1` and the debugger module's `cfgtrace`. Without hooks the cost is
//! one branch per action (docs/runtime.md has the measurement).

mod cfg_groups;
mod compile;
pub mod core;
mod eval;
mod ir;
pub mod select;
mod uri;

use std::collections::HashMap;
use std::sync::Arc;

use ferrosip_api::{Ctx, Registry, RouteResult, RouteRunner, RouteType};
use ferrosip_config::ast::Config;
use ferrosip_config::{Diagnostic, Loaded};

use crate::eval::{Run, DROP, EXIT};
use crate::ir::Route;

/// One executed action, as a per-action hook sees it: what Kamailio's debugger `cfgtrace` prints
/// (`c=[file] l=line a=kind n=name`). The route type is the context's (`Ctx::route_type`, the
/// type the message is being processed in, which may differ from the block's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActionSite<'a> {
    /// The name of the block that contains the action: `route[NAME]`'s name, or Kamailio's
    /// defaults `DEFAULT_ROUTE`, `DEFAULT_ONREPLY`, `DEFAULT_FAILURE`, `DEFAULT_BRANCH`,
    /// `DEFAULT_SEND`, and `DEFAULT_EVENT` for every event route (Kamailio's parser does not keep
    /// event route names).
    pub route_name: &'a str,
    /// The config file as it was named when loaded.
    pub file: &'a str,
    /// Kamailio's line for the action: its last token's, or the next token's for an `if`
    /// without `else` (where Kamailio's parser has to look one token further).
    pub line: u32,
    /// Column where the statement starts (1-based).
    pub column: u32,
    /// Kamailio's action type number (`enum action_type`: 63 assign, 16 if, 2 exit/return/drop,
    /// 24..31 module functions by parameter count, 32..38 the same with variable parameters …).
    pub kind: u8,
    /// The function name (Kamailio's core action name for core functions, e.g. `sethost` for
    /// `rewritehost`) or the statement kind (`assign`, `if`, `switch`, `case`, `while`, `route`,
    /// `exit`, `return`, `drop`).
    pub name: &'a str,
}

/// Called around every executed action while hooks are installed ([`Program::add_action_hook`]).
/// Runs on the worker thread, inside the message's processing: it must not block.
pub trait ActionHook: Send + Sync {
    /// Before the action runs (Kamailio: `log_prefix_set` in `run_actions`, then the
    /// `SREV_CFG_RUN_ACTION` event in `do_action`).
    fn before(&self, ctx: &mut Ctx<'_>, site: &ActionSite<'_>);
    /// After the action ran (Kamailio re-evaluates `log_prefix` here with `log_prefix_mode=1`).
    fn after(&self, _ctx: &mut Ctx<'_>) {}
}

/// Limits and modes from the core parameters (`return_mode`, `max_while_loops`, `max_recursive_level`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunOptions {
    /// 0 (default): only values > 0 are true and calls in expressions yield 1/0; 1: non-zero is true
    /// and calls yield their real value.
    pub return_mode: i64,
    /// Default 100.
    pub max_while_loops: i64,
    /// Default 256.
    pub max_recursive_level: u32,
}

impl Default for RunOptions {
    fn default() -> RunOptions {
        RunOptions {
            return_mode: 0,
            max_while_loops: 100,
            max_recursive_level: 256,
        }
    }
}

/// Kamailio's config compatibility mode (`#!KAMAILIO`, `#!SER`, `#!MAXCOMPAT` lines).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compat {
    /// No mode line (Kamailio's default, `SR_COMPAT_MAX`) or `#!MAXCOMPAT`/`#!ALL`: an unknown
    /// plain `$name` is the AVP `name`.
    #[default]
    Max,
    /// `#!KAMAILIO` / `#!OPENSER`: every `$` starts a pseudo-variable; unknown names are errors.
    Kamailio,
    /// `#!SER`: the front end reads every `$name` as a core attribute (`ast::Pv::attr`), so the
    /// compiler meets no unknown plain `$name` to fall back on.
    Ser,
}

impl Compat {
    /// The mode set by the first mode line of `text` (Kamailio switches at that line; configs put
    /// it first).
    pub fn detect(text: &str) -> Compat {
        text.lines()
            .find_map(Compat::of_line)
            .unwrap_or(Compat::Max)
    }

    /// The mode set by the last mode line of `text` (what is in force at its end), if any.
    pub fn last_in(text: &str) -> Option<Compat> {
        text.lines().rev().find_map(Compat::of_line)
    }

    fn of_line(line: &str) -> Option<Compat> {
        match line.trim_end() {
            "#!KAMAILIO" | "#!OPENSER" => Some(Compat::Kamailio),
            "#!SER" => Some(Compat::Ser),
            "#!MAXCOMPAT" | "#!ALL" => Some(Compat::Max),
            _ => None,
        }
    }
}

/// Inputs of the compiler besides the AST and the registry.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Preprocessor defines visible to `$def(NAME)`: (name, value).
    pub defines: Vec<(String, Option<String>)>,
    /// Compatibility mode (see [`Compat::detect`]).
    pub compat: Compat,
    /// The config's sources, to give functions the line of their call (`xlogl`); without them
    /// fixups see line 0.
    pub sources: Option<ferrosip_config::SourceMap>,
}

/// Which block to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry<'a> {
    /// `request_route`.
    Request,
    /// Core `reply_route` (or unnamed `onreply_route`).
    Reply,
    /// `onsend_route`.
    OnSend,
    /// `route[NAME]`.
    Route(&'a str),
    /// `failure_route[NAME]`.
    Failure(&'a str),
    /// `branch_route[NAME]`.
    Branch(&'a str),
    /// tm `onreply_route[NAME]`.
    OnReply(&'a str),
    /// `event_route[NAME]`.
    Event(&'a str),
}

impl Entry<'_> {
    fn key(&self) -> (u8, String) {
        match self {
            Entry::Request => (0, String::new()),
            Entry::Route(n) => (1, n.to_string()),
            Entry::Branch(n) => (2, n.to_string()),
            Entry::Failure(n) => (3, n.to_string()),
            Entry::Reply => (4, String::new()),
            Entry::OnReply(n) => (5, n.to_string()),
            Entry::OnSend => (6, String::new()),
            Entry::Event(n) => (7, n.to_string()),
        }
    }
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// The value of the block (the last executed statement's, or the `return`/`exit`/`drop` value).
    pub rc: i64,
    /// `exit`, `drop`, `return 0` or a function returning 0 stopped the script.
    pub exited: bool,
    /// `drop` was executed (the caller must not relay / must discard).
    pub dropped: bool,
}

/// Identifies a compiled block, for callers that run one repeatedly (tm's failure routes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteId(usize);

/// A compiled config.
#[derive(Debug)]
pub struct Program {
    // Shared with every context the program runs in (`Ctx::routes`), so functions can run blocks.
    inner: Arc<Blocks>,
    warnings: Vec<Diagnostic>,
}

struct Blocks {
    routes: Vec<Route>,
    keys: HashMap<(u8, String), usize>,
    /// The event routes by name, scanned in place: modules look theirs up per message (sl's
    /// `sl:local-response` on every reply), and a few names compared beat hashing a copied key.
    events: Vec<(String, usize)>,
    opts: RunOptions,
    /// The config's file names by `FileId`, for [`ActionSite::file`].
    files: Vec<String>,
    hooks: Vec<Arc<dyn ActionHook>>,
}

impl std::fmt::Debug for Blocks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blocks")
            .field("routes", &self.routes)
            .field("opts", &self.opts)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl Blocks {
    fn run(self: &Arc<Self>, index: usize, ctx: &mut Ctx<'_>) -> Outcome {
        let Some(r) = self.routes.get(index) else {
            return Outcome {
                rc: -1,
                exited: false,
                dropped: false,
            };
        };
        // A function that runs a route needs the program; keep an outer run's handle.
        let installed = ctx.routes.is_none();
        if installed {
            ctx.routes = Some(Arc::clone(self) as Arc<dyn RouteRunner>);
        }
        ctx.last_rc = 0;
        let body = Arc::clone(&r.body);
        let mut run = Run::traced(&self.routes, &self.opts, &self.hooks, &self.files);
        let rc = run.block(&body, ctx);
        if installed {
            ctx.routes = None;
        }
        Outcome {
            rc,
            exited: run.flags & EXIT != 0,
            dropped: run.flags & DROP != 0,
        }
    }
}

impl RouteRunner for Blocks {
    fn event_route(&self, name: &str) -> Option<usize> {
        self.events
            .iter()
            .find(|(n, _)| n == name)
            .map(|&(_, index)| index)
    }

    /// Reached through `ctx.routes`, which already holds this program for nested calls.
    fn run(&self, index: usize, ctx: &mut Ctx<'_>) -> Result<RouteResult, ferrosip_api::Error> {
        let Some(r) = self.routes.get(index) else {
            return Err(ferrosip_api::Error::Runtime(format!(
                "no route block #{index}"
            )));
        };
        ctx.last_rc = 0;
        let body = Arc::clone(&r.body);
        let mut run = Run::traced(&self.routes, &self.opts, &self.hooks, &self.files);
        let rc = run.block(&body, ctx);
        Ok(RouteResult {
            rc,
            dropped: run.flags & DROP != 0,
        })
    }
}

impl Program {
    fn new(
        routes: Vec<Route>,
        keys: HashMap<(u8, String), usize>,
        opts: RunOptions,
        warnings: Vec<Diagnostic>,
        files: Vec<String>,
    ) -> Program {
        Program {
            inner: Arc::new(Blocks {
                events: keys
                    .iter()
                    .filter(|((kind, _), _)| *kind == 7)
                    .map(|((_, name), &index)| (name.clone(), index))
                    .collect(),
                routes,
                keys,
                opts,
                files,
                hooks: Vec::new(),
            }),
            warnings,
        }
    }

    /// Installs a hook called around every executed action (hooks run in the order added).
    /// Only before the program is shared: `false` (and nothing installed) once [`Program::runner`]
    /// handed it out or a run holds it.
    pub fn add_action_hook(&mut self, hook: Arc<dyn ActionHook>) -> bool {
        match Arc::get_mut(&mut self.inner) {
            Some(b) => {
                b.hooks.push(hook);
                true
            }
            None => false,
        }
    }

    /// The program as a [`RouteRunner`], for code that runs blocks outside [`Program::run`] (tm's
    /// onreply_route and failure_route).
    pub fn runner(&self) -> Arc<dyn RouteRunner> {
        Arc::clone(&self.inner) as Arc<dyn RouteRunner>
    }

    /// Warnings found at load (undefined `route(X)`, unknown event routes).
    pub fn warnings(&self) -> &[Diagnostic] {
        &self.warnings
    }

    /// The options in effect.
    pub fn options(&self) -> &RunOptions {
        &self.inner.opts
    }

    /// Looks a block up.
    pub fn route(&self, e: Entry<'_>) -> Option<RouteId> {
        self.inner.keys.get(&e.key()).copied().map(RouteId)
    }

    /// The block an `Arg::Route { index, .. }` refers to: route-name parameters (`t_on_failure("X")`)
    /// are resolved at load to indexes in the same space as [`RouteId`]; the server runs them with
    /// [`Program::run`] when the module asks (modules never hold the program).
    pub fn route_by_index(&self, index: usize) -> Option<RouteId> {
        (index < self.inner.routes.len()).then_some(RouteId(index))
    }

    /// The route type a block runs as.
    pub fn route_type(&self, id: RouteId) -> Option<RouteType> {
        self.inner.routes.get(id.0).map(|r| r.kind)
    }

    /// Runs a block as the top level of a message's processing (Kamailio's `run_top_route`):
    /// `$rc` starts at 0, flags start clear.
    pub fn run(&self, id: RouteId, ctx: &mut Ctx<'_>) -> Outcome {
        self.inner.run(id.0, ctx)
    }

    /// Looks up and runs a block; `None` when the config has no such block.
    pub fn run_entry(&self, e: Entry<'_>, ctx: &mut Ctx<'_>) -> Option<Outcome> {
        let id = self.route(e)?;
        Some(self.run(id, ctx))
    }
}

/// A registry holding what every config needs before any module: the core table
/// ([`core::core_module`]) and the config's custom cfg variables ([`core::cfg_module`]). The server
/// adds the loaded modules to it, then applies modparams, runs the init hooks and compiles.
pub fn base_registry(config: &Config) -> Result<Registry, ferrosip_api::Error> {
    let mut reg = Registry::new();
    reg.add(core::core_module())?;
    reg.add(core::cfg_module(config))?;
    Ok(reg)
}

/// Applies every `modparam()` of the config to the registry, in file order (before
/// [`Registry::init_all`] and [`compile`]). Each refusal (module not loaded, unknown parameter, wrong
/// type, refused value, not implemented) is a diagnostic at the statement.
pub fn apply_modparams(config: &Config, reg: &mut Registry) -> Vec<Diagnostic> {
    use ferrosip_api::ModValue;
    use ferrosip_config::ast::ModParamValue;
    let mut out = Vec::new();
    for m in config.modparams() {
        let value = match &m.value {
            ModParamValue::Int(i) => ModValue::Int(*i),
            ModParamValue::Str(s) => ModValue::Str(s.clone()),
            ModParamValue::Pv(p) => {
                out.push(Diagnostic::error(
                    ferrosip_config::Error::Semantic(format!(
                        "modparamx with a variable (`{}`): not implemented yet",
                        p.text
                    )),
                    Some(m.span),
                ));
                continue;
            }
        };
        if let Err(e) = reg.set_modparam(&m.module, &m.param, value) {
            out.push(Diagnostic::error(
                ferrosip_config::Error::Semantic(e.to_string()),
                Some(m.span),
            ));
        }
    }
    out
}

/// Compiles a loaded config against the registry (the whole check behind `-c`).
pub fn compile(loaded: &Loaded, reg: &Registry) -> Result<Program, Vec<Diagnostic>> {
    let opts = CompileOptions {
        compat: Compat::detect(loaded.sources.text(ferrosip_config::FileId(0))),
        sources: Some(loaded.sources.clone()),
        // `Loaded` does not expose the preprocessor's defines yet (see docs/runtime.md); the
        // server passes them with `compile_config` and `Registry::set_defines`.
        defines: reg.defines().to_vec(),
    };
    compile_config(&loaded.config, reg, &opts)
}

/// Compiles an AST with explicit options.
pub fn compile_config(
    config: &Config,
    reg: &Registry,
    opts: &CompileOptions,
) -> Result<Program, Vec<Diagnostic>> {
    compile::compile(config, reg, opts)
}
