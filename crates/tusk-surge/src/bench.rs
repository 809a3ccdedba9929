//! The api benchmarks, each a ratio against a baseline taken in the same run.

use clap::Args;

#[derive(Args, Debug)]
pub struct HomeArgs {}
#[derive(Args, Debug)]
pub struct SignupArgs {}
#[derive(Args, Debug)]
pub struct FloodArgs {}
#[derive(Args, Debug)]
pub struct MemoryArgs {}

pub async fn home(_args: &HomeArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub async fn signup(_args: &SignupArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub async fn flood(_args: &FloodArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
pub async fn memory(_args: &MemoryArgs) -> anyhow::Result<()> {
    anyhow::bail!("not built yet")
}
