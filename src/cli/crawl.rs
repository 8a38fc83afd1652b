//! `finscan crawl`, `finscan pages`, `finscan hits`, `finscan demo`.

use clap::{Args, Subcommand};

use super::Outcome;

#[derive(Args)]
pub struct CrawlArgs {}

#[derive(Subcommand)]
pub enum PagesCommand {
    /// List stored pages.
    List {},
}

#[derive(Subcommand)]
pub enum HitsCommand {
    /// List stored hits.
    List {},
}

#[derive(Args)]
pub struct DemoArgs {}

pub fn crawl(_args: CrawlArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("crawl is not implemented yet")
}

pub fn pages(_cmd: PagesCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("pages is not implemented yet")
}

pub fn hits(_cmd: HitsCommand) -> anyhow::Result<Outcome> {
    anyhow::bail!("hits is not implemented yet")
}

pub fn demo(_args: DemoArgs) -> anyhow::Result<Outcome> {
    anyhow::bail!("demo is not implemented yet")
}
