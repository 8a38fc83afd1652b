//! `finscan token add | list | revoke`: API tokens in the config file
//! (see `finscan::serve::token` for how they are stored and why there).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use finscan::serve::config::{self, Config};
use finscan::serve::{Role, token};

use super::Outcome;

#[derive(Args, Clone)]
pub struct ConfigArg {
    /// The config file [default: $FINSCAN_CONFIG, else ./finscan.toml].
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

impl ConfigArg {
    pub fn path(&self) -> PathBuf {
        config::config_path(self.config.as_deref())
    }
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Make a token for NAME: print it once (on stdout) and store only its
    /// SHA-256 in the config file (created if missing); a running server
    /// takes it at the next request.
    Add {
        /// Who holds it (letters, digits, . _ - @): the request log names
        /// it instead of the token.
        name: String,
        /// reviewer: read and review; recipient: the takedown list and the
        /// report only; admin: everything.
        #[arg(long, value_parser = super::one_of(&Role::ALL, Role::as_str))]
        role: Role,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// List the tokens' names, roles and creation times (never a token).
    List {
        #[command(flatten)]
        config: ConfigArg,
        /// One JSON object per token per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a token: a running server refuses it from the next request.
    Revoke {
        name: String,
        #[command(flatten)]
        config: ConfigArg,
    },
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<Outcome> {
    match cmd {
        TokenCommand::Add { name, role, config } => {
            let path = config.path();
            let t = token::add(&path, &name, role)?;
            println!("{t}");
            eprintln!(
                "finscan: token {name:?} ({role}) made; only its SHA-256 is stored, in {}: keep the token now, it is not shown again",
                path.display()
            );
            Ok(Outcome::Clean)
        }
        TokenCommand::List { config, json } => {
            let path = config.path();
            let c = Config::load(&path)?;
            let mut out = std::io::stdout().lock();
            if !json && !c.tokens.is_empty() {
                writeln!(out, "{:<24}  {:<10}  CREATED", "NAME", "ROLE")?;
            }
            for t in &c.tokens {
                if json {
                    super::write_json_line(
                        &mut out,
                        &serde_json::json!({
                            "name": t.name,
                            "role": t.role,
                            "created": t.created.as_deref().map(|c| finscan::time::from_stored(c)
                                .map_or_else(|| c.to_string(), |t| super::zone().rfc3339(t))),
                        }),
                    )?;
                } else {
                    writeln!(
                        out,
                        "{:<24}  {:<10}  {}",
                        t.name,
                        t.role.as_str(),
                        t.created
                            .as_deref()
                            .and_then(finscan::time::from_stored)
                            .map_or_else(|| "-".to_string(), |t| super::zone().human(t))
                    )?;
                }
            }
            if !json {
                eprintln!("finscan: {} token(s) in {}", c.tokens.len(), path.display());
            }
            Ok(Outcome::Clean)
        }
        TokenCommand::Revoke { name, config } => {
            let path = config.path();
            token::revoke(&path, &name)?;
            eprintln!("finscan: token {name:?} revoked in {}", path.display());
            Ok(Outcome::Clean)
        }
    }
}
