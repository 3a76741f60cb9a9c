//! Placeholder until the model cache lands; see the open issues.
use std::process::ExitCode;

#[derive(clap::Args)]
pub struct PullArgs {}
#[derive(clap::Args)]
pub struct ListArgs {}
#[derive(clap::Args)]
pub struct RmArgs {}

pub fn pull(_args: PullArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this subcommand is not implemented yet")
}
pub fn list(_args: ListArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this subcommand is not implemented yet")
}
pub fn rm(_args: RmArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("this subcommand is not implemented yet")
}
