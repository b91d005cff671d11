//! The `ferrosip` binary: the command line only. Everything else is in `ferrosip-server`.

fn main() -> anyhow::Result<()> {
    Ok(())
}
