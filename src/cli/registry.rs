//! `finscan registry ...`.

use clap::Subcommand;

use super::Outcome;

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Scan registration records (CSV, JSON Lines, XLSX).
    Scan {},
}

pub fn run(_cmd: RegistryCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("registry is not implemented yet")
}
