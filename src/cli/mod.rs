//! Command implementations of the binary: argument types, output formats.

// `hits list` moved to `review`; the old one stays in `crawl` until merged
#[allow(dead_code)]
pub mod crawl;
pub mod memory;
pub mod registry;
pub mod review;
pub mod rules;
pub mod scan;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use finscan::{Field, RuleSet, Scanner};

/// How a command finished; maps to the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Hits,
    Fatal,
    Partial,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(match o {
            Outcome::Clean => 0,
            Outcome::Hits => 1,
            Outcome::Fatal => 2,
            Outcome::Partial => 3,
        })
    }
}

pub fn parse_field(s: &str) -> Result<Field, String> {
    match s {
        "name" => Ok(Field::Name),
        "scope" => Ok(Field::Scope),
        "page" => Ok(Field::Page),
        _ => Err(format!(
            "unknown field {s:?} (expected name, scope or page)"
        )),
    }
}

/// Loads rules from `dir`, or the bundled ones.
pub fn load_rules(dir: Option<&Path>) -> anyhow::Result<RuleSet> {
    match dir {
        Some(d) => {
            RuleSet::load_dir(d).with_context(|| format!("rules in {} are invalid", d.display()))
        }
        None => RuleSet::bundled().context("bundled rules are invalid"),
    }
}

pub fn load_scanner(dir: Option<&Path>) -> anyhow::Result<Scanner> {
    Ok(Scanner::new(&load_rules(dir)?))
}

/// Whether stdout is a terminal (colours, progress bars).
pub fn stdout_is_tty() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal()
}

/// ` (18.0%/yr)` after a stated-yield hit in human output, else nothing.
pub fn rate_suffix(annual_rate: Option<f64>) -> String {
    annual_rate
        .map(|r| format!(" ({r:.1}%/yr)"))
        .unwrap_or_default()
}
