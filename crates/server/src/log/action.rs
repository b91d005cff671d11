//! The script's per-action hooks that belong to logging: `log_prefix_mode=1` (the prefix is
//! rendered again around every action, as Kamailio's `run_actions` does) and the debugger module's
//! `cfgtrace` (one line per action, switched by `cfgtrace` and the `dbg.trace` RPC). Installed once
//! after compiling ([`install`]); a config that uses neither runs without hooks.

use std::sync::Arc;

use ferrosip_api::Ctx;
use ferrosip_modules::debugger::{Debugger, Site};
use ferrosip_script::{ActionHook, ActionSite};

use crate::serve::Compiled;
use crate::Error;

/// Installs the hooks the settings ask for: the prefix hook first, then the trace (Kamailio sets
/// the prefix in `run_actions` before `do_action` raises the debugger's event).
pub fn install(compiled: &mut Compiled, log_prefix_mode: i64) -> Result<(), Error> {
    let mut hooks: Vec<Arc<dyn ActionHook>> = Vec::new();
    // Kamailio acts on exactly 1; other values keep the once-per-message rendering.
    if log_prefix_mode == 1 {
        if let Some(f) = &compiled.log_prefix {
            hooks.push(Arc::new(PrefixHook(f.clone())));
        }
    }
    if let Some(d) = compiled.registry.api::<Debugger>() {
        hooks.push(Arc::new(TraceHook(d)));
    }
    if hooks.is_empty() {
        return Ok(());
    }
    let Some(program) = Arc::get_mut(&mut compiled.program) else {
        return Err(Error::Compile(
            "internal: the program is shared before its action hooks are installed".into(),
        ));
    };
    for h in hooks {
        if !program.add_action_hook(h) {
            return Err(Error::Compile(
                "internal: the program is shared before its action hooks are installed".into(),
            ));
        }
    }
    Ok(())
}

/// `log_prefix_mode=1`: the prefix is rendered before and after each action.
struct PrefixHook(ferrosip_api::Format);

impl PrefixHook {
    fn render(&self, ctx: &mut Ctx<'_>) {
        let text = self.0.render(ctx);
        super::set_message_prefix(&String::from_utf8_lossy(&text));
    }
}

impl ActionHook for PrefixHook {
    fn before(&self, ctx: &mut Ctx<'_>, _site: &ActionSite<'_>) {
        self.render(ctx);
    }

    fn after(&self, ctx: &mut Ctx<'_>) {
        self.render(ctx);
    }
}

/// The debugger's `cfgtrace`.
struct TraceHook(Arc<Debugger>);

impl ActionHook for TraceHook {
    fn before(&self, ctx: &mut Ctx<'_>, site: &ActionSite<'_>) {
        // Off (cfgtrace=0 until `dbg.trace on`): one atomic load per action.
        if !self.0.tracing() {
            return;
        }
        let enabled = ctx.server.log_enabled(self.0.level);
        self.0.trace(
            enabled,
            &Site {
                route_type: ctx.route_type,
                route_name: site.route_name,
                file: site.file,
                line: site.line,
                kind: site.kind,
                name: site.name,
            },
        );
    }
}
