//! Shared by the tests that run Kamailio's stock configs (`tests/stock_cfg.rs`,
//! `tests/stock_db.rs`, `tests/debugger.rs`, `tests/permissions_wire.rs`), included with `#[path]`.
#![allow(dead_code)]

/// Kamailio 6.0's stock file made loadable by Kamailio 5.6.3, which runs the comparison:
/// 5.6 has no `dlgs` module and no `send_reply_error()` (both 5.7). The dlgs lines are
/// commented out (their calls become a no-op assignment: Kamailio refuses an empty `{ }`
/// block), `send_reply_error()` becomes `sl_reply_error()` (docs/stock-config.md) — one line for
/// one line, so line numbers (tests/debugger.rs's traces) stay the same.
pub fn for_kamailio56(cfg: &str) -> String {
    cfg.lines()
        .map(|l| {
            let t = l.trim();
            if t == "loadmodule \"dlgs.so\"" || t.starts_with("modparam(\"dlgs\"") {
                format!("# (5.6: no dlgs) {l}")
            } else if t.starts_with("dlgs_update(") || t.starts_with("dlgs_init(") {
                let indent = &l[..l.len() - l.trim_start().len()];
                format!("{indent}$var(no_dlgs_in_56) = 0; # {t}")
            } else {
                l.replace("send_reply_error()", "sl_reply_error()")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Kamailio 6.0.7's stock file: `$FERROSIP_STOCK60_CFG`, else the git-ignored scratch copy that
/// scripts/fetch-stock-cfg.sh writes. `None` when absent — it comes from GitHub, which CI may not
/// reach, so the tests that need it skip with a message there too.
pub fn stock60_path() -> Option<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("FERROSIP_STOCK60_CFG") {
        return Some(std::path::PathBuf::from(p));
    }
    let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scratch/stock/kamailio-6.0.cfg");
    p.exists().then_some(p)
}
