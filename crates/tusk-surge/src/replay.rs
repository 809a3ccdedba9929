//! `tusk-surge replay`: an open-loop load generator driven by a scenario.

use clap::Args;

#[derive(Args, Debug)]
pub struct ReplayArgs {}

pub async fn run(_args: &ReplayArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
