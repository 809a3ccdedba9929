//! `tusk-surge seed`: builds a realistic existing instance straight into PostgreSQL.

use clap::Args;

#[derive(Args, Debug)]
pub struct SeedArgs {}

pub async fn run(_args: &SeedArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
