//! `ferrosip-ctl`: a kamcmd-like JSON-RPC client for ferrosip's control interface.

fn main() -> anyhow::Result<()> {
    anyhow::bail!("ferrosip-ctl: no control interface exists yet")
}
