//! The checks the start-up path runs on a loaded config, and the mapping of its global parameters
//! into [`CoreSettings`]. This is the only file that reads the AST; it turns it into typed settings
//! and diagnostics that point at the offending line.

use ferrosip_config::ast::{Item, ParamValue as AstValue};
use ferrosip_config::Loaded;
use ferrosip_config::{Diagnostic, Error as DiagError};
use ferrosip_modules::registry::{self, ModuleStatus};

use crate::settings::{CoreSettings, ParamValue, NO_EFFECT_PARAMS, SCRIPT_PARAMS};
use crate::sockets::ListenDef;
use crate::startup::CommandLine;
use crate::wirecfg::WireSettings;

/// What the checks found.
#[derive(Debug, Default)]
pub struct CfgCheck {
    pub settings: CoreSettings,
    /// Sockets, receive and forward parameters.
    pub wire: WireSettings,
    pub errors: Vec<Diagnostic>,
    pub warnings: Vec<Diagnostic>,
    /// Kamailio modules the config loads that ferrosip does not implement (each also a warning).
    pub not_implemented: Vec<String>,
    /// Core parameters the config sets that ferrosip does not implement (each also a warning under
    /// `-c`; the server refuses to start with them rather than ignore them).
    pub params_not_implemented: Vec<String>,
    /// Settings accepted with no effect in ferrosip (each named once), for the start-up log.
    pub no_effect: Vec<String>,
}

/// Checks module names and maps the core parameters. `loadmodule` of a name that is not a Kamailio
/// 6.0 module is an error at its line; of a module ferrosip lacks, a warning. A `modparam` whose
/// module part matches no module loaded before it is an error, as in Kamailio.
pub fn check(loaded: &Loaded, cmd: &CommandLine) -> CfgCheck {
    let mut c = CfgCheck::default();
    let mut modules: Vec<String> = cmd
        .loadmodules
        .iter()
        .map(|m| registry::module_name(m).to_string())
        .collect();
    for item in &loaded.config.items {
        match item {
            Item::Param(p) => {
                if NO_EFFECT_PARAMS.contains(&p.name) && !c.no_effect.iter().any(|n| n == p.name) {
                    c.no_effect.push(p.name.to_string());
                }
                let value = match &p.value {
                    AstValue::Int(i) => ParamValue::Int(*i),
                    AstValue::Bool(b) => ParamValue::Int(i64::from(*b)),
                    AstValue::Str(s) | AstValue::Ident(s) => ParamValue::Str(s.clone()),
                    AstValue::Listen(l) => {
                        let d = ListenDef::from_ast(l, c.wire.socket_workers);
                        match p.name {
                            "alias" => c.wire.aliases.push(d),
                            _ => c.wire.listens.push(d),
                        }
                        continue;
                    }
                    AstValue::Socket(b) => {
                        let mut d = ListenDef::from_ast(&b.bind, c.wire.socket_workers);
                        if let Some(v) = &b.vrf {
                            d.unsupported = Some(format!("vrf {v}"));
                        }
                        c.wire.listens.push(d);
                        continue;
                    }
                };
                let applied = c
                    .settings
                    .apply_param(p.name, &value)
                    .and_then(|used| match used {
                        true => Ok(true),
                        false => c.wire.apply_param(p.name, &value),
                    });
                match applied {
                    // A value ferrosip does not implement (enable_tls=yes …): like a parameter it
                    // lacks, a warning under -c and a refusal when serving.
                    Err(crate::Error::Param { why, .. }) if why.contains("not implemented") => {
                        c.warnings.push(Diagnostic::warning(
                            DiagError::Semantic(format!("core parameter `{}`: {why}", p.name)),
                            Some(p.span),
                        ));
                        if !c.params_not_implemented.iter().any(|n| n == p.name) {
                            c.params_not_implemented.push(p.name.to_string());
                        }
                    }
                    Err(e) => c.errors.push(Diagnostic::error(
                        DiagError::Semantic(e.to_string()),
                        Some(p.span),
                    )),
                    // Used by nobody: never ignored silently.
                    Ok(false)
                        if !NO_EFFECT_PARAMS.contains(&p.name)
                            && !SCRIPT_PARAMS.contains(&p.name) =>
                    {
                        c.warnings.push(Diagnostic::warning(
                            DiagError::Semantic(format!(
                                "core parameter `{}` is not implemented by ferrosip yet",
                                p.name
                            )),
                            Some(p.span),
                        ));
                        if !c.params_not_implemented.iter().any(|n| n == p.name) {
                            c.params_not_implemented.push(p.name.to_string());
                        }
                    }
                    Ok(_) => {}
                }
            }
            Item::LoadModule(m) => {
                let name = m.name();
                // Kamailio refuses the same module twice (config or --loadmodule).
                let norm = registry::module_name(name);
                if modules.iter().any(|x| registry::module_name(x) == norm) {
                    c.errors.push(Diagnostic::error(
                        DiagError::Semantic(format!(
                            "attempting to load the same module twice (`{norm}`)"
                        )),
                        Some(m.span),
                    ));
                    continue;
                }
                match registry::status(name) {
                    ModuleStatus::Implemented => {}
                    ModuleStatus::NotImplemented => {
                        c.warnings.push(Diagnostic::warning(
                            DiagError::Semantic(format!(
                                "module `{name}` is not implemented by ferrosip yet"
                            )),
                            Some(m.span),
                        ));
                        c.not_implemented.push(name.to_string());
                    }
                    ModuleStatus::Unknown => {
                        c.errors.push(Diagnostic::error(
                            DiagError::Semantic(format!(
                                "unknown module `{name}`: not a Kamailio 6.0 module"
                            )),
                            Some(m.span),
                        ));
                    }
                }
                modules.push(name.to_string());
            }
            Item::ModParam(mp) => {
                let names: Vec<&str> = mp.module.split('|').collect();
                let plain = names.iter().all(|n| {
                    !n.is_empty() && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                });
                // A real regular expression is matched by the script compiler, which knows them all.
                if plain && !names.iter().any(|n| modules.iter().any(|m| m == n)) {
                    c.errors.push(Diagnostic::error(
                        DiagError::Semantic(format!(
                            "No module matching <{}> found (modparam needs an earlier loadmodule)",
                            mp.module
                        )),
                        Some(mp.span),
                    ));
                }
            }
            // The native interpreter is the only engine; a KEMI engine (lua, python, jsdt …) would
            // leave the routing blocks unused, so it is refused rather than ignored.
            Item::CfgEngine { name, span } if name != "native" && name != "default" => {
                c.errors.push(Diagnostic::error(
                    DiagError::Semantic(format!(
                        "cfgengine \"{name}\": KEMI scripting engines are not implemented (only \"native\")"
                    )),
                    Some(*span),
                ));
            }
            Item::LoadPath { .. } => {
                let what = "loadpath/mpath".to_string();
                if !c.no_effect.contains(&what) {
                    c.no_effect.push(what);
                }
            }
            _ => {}
        }
    }
    c
}
