//! `finscan recheck`: fetch again the pages of notified findings past their
//! deadline and decide them from the new evidence; and the same decisions
//! at the end of `crawl --recrawl` and `registry scan`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use finscan::crawl::CrawlConfig;
use finscan::crawl::fetch::ResolveMap;
use finscan::job::Cancel;
use finscan::job::recheck::{
    AfterReading, INDEXES_REBUILT, Pass, RecheckJobReport, RecheckOptions, decide_after_reading,
    recheck_with, run_recheck,
};
use finscan::review::RecheckReport;
use finscan::store::Store;

use super::Outcome;
use super::crawl::DbArg;

#[derive(Args)]
pub struct RecheckArgs {
    #[command(flatten)]
    db: DbArg,
    /// Print the result as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Requests per second to each host; 0 = unlimited (your own servers only).
    #[arg(long, value_name = "R", default_value_t = 1.0)]
    rate_per_host: f64,
    /// Who runs this recheck, for site operators: a URL or an e-mail address.
    #[arg(long, value_name = "URL|EMAIL", env = "FINSCAN_CONTACT")]
    contact: Option<String>,
    /// Map HOST:PORT to ADDR instead of asking DNS, like curl; ADDR may be private.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
    /// Allow loopback, private, link-local and multicast destinations.
    #[arg(long)]
    allow_private: bool,
    /// Total time allowed for one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
    /// Directory of *.toml rule files (the rules the pages were crawled with).
    #[arg(long, env = "FINSCAN_RULES")]
    rules: Option<PathBuf>,
}

pub fn recheck(a: RecheckArgs) -> anyhow::Result<Outcome> {
    if !(a.rate_per_host >= 0.0 && a.rate_per_host.is_finite()) {
        anyhow::bail!("--rate-per-host must be 0 (unlimited) or a positive number");
    }
    if !(a.timeout > 0.0 && a.timeout.is_finite()) {
        anyhow::bail!("--timeout must be positive");
    }
    let mut resolve = ResolveMap::default();
    for r in &a.resolve {
        resolve.add(r).map_err(anyhow::Error::msg)?;
    }
    let opts = RecheckOptions {
        rate_per_host: a.rate_per_host,
        contact: a.contact,
        resolve: a.resolve,
        allow_private: a.allow_private,
        timeout: a.timeout,
        rules: a.rules,
    };
    let dir = a.db.dir();
    super::require_db(&dir)?;
    // one handle for the whole run: sled's lock outlives a dropped handle
    // for a moment, so the database is not opened twice
    let store = Store::open(&dir).map_err(|e| super::serve::open_error(&dir, e))?;
    let now = finscan::time::now();
    let done = runtime()?
        // no signal handling: a recheck is a handful of pages
        .block_on(run_recheck(
            &opts,
            store,
            now,
            super::zone(),
            &Cancel::new(),
        ))?;
    print_run(&done, a.json)?;
    Ok(Outcome::Clean)
}

/// What `finscan recheck` does, for `finscan demo --recheck`: fetches
/// again, within the crawl's generation, the pages of notified findings
/// past their deadline with the fetch settings of `cfg`, then decides
/// every due finding.
pub(super) fn fetch_and_decide(
    store: Store,
    cfg: CrawlConfig,
    scanner: Arc<finscan::Scanner>,
) -> anyhow::Result<RecheckJobReport> {
    let now = finscan::time::now();
    Ok(runtime()?.block_on(recheck_with(
        cfg,
        scanner,
        store,
        now,
        super::zone(),
        &Cancel::new(),
        Pass::New,
    ))?)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Prints a recheck's notices and summary (stderr) and its decisions
/// (stdout), or the decisions as one JSON object with `pages_fetched`.
pub(super) fn print_run(done: &RecheckJobReport, json: bool) -> anyhow::Result<()> {
    for n in &done.notices {
        eprintln!("finscan: {n}");
    }
    let (report, fetched) = (&done.decisions, done.pages_fetched);
    if json {
        let mut v = serde_json::to_value(report)?;
        v["pages_fetched"] = serde_json::json!(fetched);
        super::write_json_line(&mut std::io::stdout().lock(), &v)?;
    } else {
        print_decisions(&mut std::io::stdout().lock(), report)?;
        eprintln!(
            "finscan: recheck: {fetched} page(s) fetched again; {}",
            summary_text(report)
        );
    }
    Ok(())
}

/// After `crawl --recrawl` or `registry scan` into `store`: decides
/// notified findings past their deadline from what was just read, printing
/// the decisions on stderr (stdout carries the command's own output). Does
/// nothing, cheaply, when no finding was ever notified.
pub fn after_reading(store: Store) -> anyhow::Result<()> {
    let done = decide_after_reading(&store, finscan::time::now(), super::zone())?;
    print_after_reading(done.as_ref())
}

/// Prints the decisions [`after_reading`] describes, made by a library
/// job (`crawl --recrawl`).
pub fn print_after_reading(done: Option<&AfterReading>) -> anyhow::Result<()> {
    let Some(done) = done else { return Ok(()) };
    if done.indexes_rebuilt {
        eprintln!("finscan: {INDEXES_REBUILT}");
    }
    let report = &done.decisions;
    if !report.decided.is_empty() {
        print_decisions(&mut anstream::stderr().lock(), report)?;
        eprintln!("finscan: recheck: {}", summary_text(report));
    }
    Ok(())
}

/// [`after_reading`] for a command whose own handle on `dir` was just
/// dropped (the registry scan's): sled releases the directory's lock a
/// moment after the last handle goes, so the open is retried for a while.
pub fn after_reading_dir(dir: &Path) -> anyhow::Result<()> {
    let mut tries = 0;
    let store = loop {
        match Store::open(dir) {
            Ok(s) => break s,
            Err(_) if tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => return Err(super::serve::open_error(dir, e)),
        }
    };
    after_reading(store)
}

fn print_decisions(out: &mut impl Write, r: &RecheckReport) -> std::io::Result<()> {
    for d in &r.decided {
        let mut line = format!(
            "{}  {:<14} {}  {}  read {}",
            d.id,
            d.outcome.as_str(),
            d.source.as_str(),
            d.target,
            super::zone().human(d.recheck.fetched_at)
        );
        if let Some(sha) = &d.recheck.sha256 {
            line.push_str(&format!("  sha256 {sha}"));
        }
        if let Some(e) = &d.recheck.error {
            line.push_str(&format!("  ({e})"));
        }
        writeln!(out, "{line}")?;
    }
    Ok(())
}

fn summary_text(r: &RecheckReport) -> String {
    let count =
        |o: finscan::review::RecheckOutcome| r.decided.iter().filter(|d| d.outcome == o).count();
    use finscan::review::RecheckOutcome::*;
    format!(
        "{} notified finding(s) past their deadline ({} not yet due): {} rectified, {} persisting, {} could not be fetched (still notified), {} not read again since the deadline",
        r.due,
        r.not_due,
        count(Rectified),
        count(Persisting),
        count(RecheckFailed),
        r.waiting
    )
}
