//! `finscan serve`, and the switch every desk command makes: through the
//! server that owns the database, or the database itself.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use finscan::serve::client::{self, Client};
use finscan::serve::config::{self, Config};
use finscan::serve::owner::{self, ServeFile};
use finscan::serve::{Server, shutdown_signal};

use super::Outcome;

#[derive(Args)]
pub struct ServeArgs {
    /// The config file [default: $FINSCAN_CONFIG, else ./finscan.toml];
    /// finscan.example.toml is a commented example.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Listen here instead of the config's address (port 0: any free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Log lines as text, or as one JSON object per line.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn init_log(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("FINSCAN_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => b.try_init(),
        LogFormat::Json => b
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
    };
}

pub fn serve(a: ServeArgs) -> anyhow::Result<Outcome> {
    let path = config::config_path(a.config.as_deref());
    if !path.is_file() {
        bail!(
            "no config file at {}: write one (finscan.example.toml is a commented example) and make a token (finscan token add NAME --role admin --config FILE)",
            path.display()
        );
    }
    let config = Config::load(&path)?;
    init_log(a.log_format);
    if config.tokens.is_empty() {
        tracing::warn!(
            "no tokens in the config: every endpoint but /health refuses; make one with `finscan token add NAME --role ROLE`"
        );
    }
    if !config.jobs.is_empty() {
        tracing::warn!(
            jobs = config.jobs.len(),
            "jobs are configured and checked, but this version has no scheduler: they do not run"
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(16)
        .build()
        .context("starting the runtime")?;
    let _guard = rt.enter();
    let server = Server::bind(config, a.listen)?;
    let addr = server.local_addr()?;
    if server.new_findings > 0 {
        tracing::info!(
            new_findings = server.new_findings,
            "new findings taken in from crawls and registry scans"
        );
    }
    tracing::info!(
        url = %format!("http://{addr}"),
        db = %server.db().display(),
        config = %server.config().path.display(),
        tokens = server.config().tokens.len(),
        "serving"
    );
    let summary = rt.block_on(server.run(shutdown_signal()))?;
    tracing::info!(
        refused_connections = summary.refused_connections,
        cut_connections = summary.cut_connections,
        "stopped; the database is flushed"
    );
    Ok(Outcome::Clean)
}

static SERVER: OnceLock<Option<String>> = OnceLock::new();
static TOKEN: OnceLock<Option<String>> = OnceLock::new();

/// Sets `--server` and `--token` (or their variables), once, at start.
pub fn set_remote(server: Option<String>, token: Option<String>) {
    let _ = SERVER.set(server.filter(|s| !s.trim().is_empty()));
    let _ = TOKEN.set(token.filter(|t| !t.trim().is_empty()));
}

/// The server to go through for the database in `db`: `--server`, else
/// the server whose serve file is in `db` when it answers. `None`: open
/// the database here.
pub fn remote(db: &Path) -> anyhow::Result<Option<Client>> {
    let (url, who) = match SERVER.get().cloned().flatten() {
        Some(url) => (url.clone(), format!("the finscan server at {url}")),
        None => match ServeFile::read(db) {
            Some(f) if f.alive() && client::answers(&f.url, Duration::from_secs(3)) => (
                f.url.clone(),
                format!(
                    "finscan serve (pid {}, {}) owns database {}",
                    f.pid,
                    f.url,
                    db.display()
                ),
            ),
            _ => return Ok(None),
        },
    };
    let Some(token) = TOKEN.get().cloned().flatten() else {
        bail!(
            "{who}: pass a token with --token or set FINSCAN_TOKEN (an admin makes one with `finscan token add NAME --role reviewer`)"
        );
    };
    Ok(Some(Client::new(&url, &token)?))
}

/// The error of a database that would not open: the process holding it
/// and what to do when it is locked, else `e` with the directory.
pub fn open_error(db: &Path, e: impl std::error::Error + Send + Sync + 'static) -> anyhow::Error {
    if owner::is_lock_error(&e) {
        anyhow::anyhow!(owner::locked_message(db))
    } else {
        anyhow::Error::new(e).context(format!("cannot open database {}", db.display()))
    }
}

/// Downloads `path?query` into `out` through its `.partial` sibling (see
/// [`super::report::write_atomically`]); returns the export's summary.
pub fn download(
    c: &Client,
    path: &str,
    query: &[(&str, String)],
    out: &Path,
) -> anyhow::Result<serde_json::Value> {
    let mut summary = serde_json::Value::Null;
    super::report::write_atomically(out, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        summary = c.download(path, query, &mut w)?;
        std::io::Write::flush(&mut w).with_context(|| format!("cannot write {}", tmp.display()))?;
        Ok(())
    })?;
    Ok(summary)
}

/// The filters of `q` as query parameters.
pub fn filter_params(q: &finscan::review::Query) -> Vec<(&'static str, String)> {
    finscan::review::filter::to_pairs(q)
}
