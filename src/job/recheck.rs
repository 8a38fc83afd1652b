//! The recheck job: fetch again the pages of notified findings past their
//! deadline and decide them from the new evidence (rectified, persisting,
//! or not fetched), as `finscan recheck` does; and the same decisions after
//! any crawl or registry scan ([`decide_after_reading`]).
//!
//! The decisions themselves are the review desk's ([`Desk::recheck`]):
//! this module fetches, opens the desk and records what it decided.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Cancel, JobError, OptionError, Outcome};
use crate::crawl::CrawlConfig;
use crate::crawl::fetch::ResolveMap;
use crate::review::{Desk, RecheckOutcome, RecheckReport};
use crate::store::Store;
use crate::time::{Timestamp, Zone};

/// What the CLI prints when opening the desk rebuilt its indexes.
pub const INDEXES_REBUILT: &str = "the review indexes disagreed with the findings and were rebuilt";

/// The options of a recheck: `finscan recheck`'s flags, and a job's table
/// in `finscan.toml` (`rate_per_host = 1.0`, `timeout = 30`, …).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecheckOptions {
    /// Requests per second to each host; 0 = unlimited (own servers only).
    #[serde(deserialize_with = "super::de::rate")]
    pub rate_per_host: f64,
    /// Who runs the recheck, for site operators: a URL or an e-mail address.
    pub contact: Option<String>,
    /// `HOST:PORT:ADDR`: connect there instead of asking DNS.
    #[serde(deserialize_with = "super::de::resolve")]
    pub resolve: Vec<String>,
    /// Allow loopback, private, link-local and multicast destinations.
    pub allow_private: bool,
    /// Total time allowed for one request, in seconds.
    #[serde(deserialize_with = "super::de::seconds")]
    pub timeout: f64,
    /// Directory of `*.toml` rule files (the rules the pages were crawled with).
    pub rules: Option<PathBuf>,
}

impl Default for RecheckOptions {
    fn default() -> Self {
        RecheckOptions {
            rate_per_host: 1.0,
            contact: None,
            resolve: Vec::new(),
            allow_private: false,
            timeout: 30.0,
            rules: None,
        }
    }
}

impl RecheckOptions {
    /// Checks the options' values without opening any file: the first bad
    /// one, named by its key.
    pub fn check(&self) -> Result<(), OptionError> {
        self.resolve_map().map(drop)
    }

    fn resolve_map(&self) -> Result<ResolveMap, OptionError> {
        if !(self.rate_per_host >= 0.0 && self.rate_per_host.is_finite()) {
            return Err(OptionError::new(
                "rate_per_host",
                "must be 0 (unlimited) or a positive number",
            ));
        }
        if !(self.timeout > 0.0 && self.timeout.is_finite()) {
            return Err(OptionError::new(
                "timeout",
                "must be a positive number of seconds",
            ));
        }
        let mut resolve = ResolveMap::default();
        for r in &self.resolve {
            resolve.add(r).map_err(|e| {
                OptionError::new("resolve", e.trim_start_matches("--resolve ").to_owned())
            })?;
        }
        Ok(resolve)
    }

    /// The crawl of `seeds` alone these options describe: depth 0, within
    /// the crawl's generation, so that a later `finscan crawl` goes on (or
    /// says it is done) as if no recheck had run.
    fn config(&self, seeds: Vec<url::Url>) -> Result<CrawlConfig, JobError> {
        let resolve = self.resolve_map()?;
        let mut cfg = CrawlConfig {
            seeds,
            max_depth: 0,
            refetch: true,
            recrawl: false,
            rate_per_host: self.rate_per_host,
            ..CrawlConfig::default()
        };
        cfg.fetch.user_agent = match &self.contact {
            Some(c) if !c.trim().is_empty() => crate::crawl::user_agent(c),
            _ => crate::crawl::DEFAULT_USER_AGENT.to_owned(),
        };
        cfg.fetch.timeout = Duration::from_secs_f64(self.timeout);
        cfg.fetch.allow_private = self.allow_private;
        cfg.fetch.resolve = resolve;
        Ok(cfg)
    }
}

/// What a recheck did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecheckJobReport {
    /// The desk's decisions and counts.
    #[serde(flatten)]
    pub decisions: RecheckReport,
    /// Pages fetched again (done in the recheck's crawl, whatever their state).
    pub pages_fetched: u64,
    /// Things the caller may want to show, in order (a stored URL that does
    /// not parse, indexes rebuilt), without a `finscan:` prefix.
    pub notices: Vec<String>,
    /// Stopped by its [`Cancel`] before or while fetching; the decisions
    /// are still made from what was fetched.
    pub cancelled: bool,
    pub outcome: Outcome,
}

/// Opens the desk on `store` (taking in new hits and companies) on the
/// blocking pool; whether its indexes were rebuilt.
async fn open_desk(store: Store) -> Result<(Desk, bool), JobError> {
    tokio::task::spawn_blocking(move || open_desk_blocking(store)).await?
}

fn open_desk_blocking(store: Store) -> Result<(Desk, bool), JobError> {
    let dir = store.dir().to_path_buf();
    let (desk, opened) =
        Desk::from_store(store).map_err(|source| JobError::Desk { dir, source })?;
    Ok((desk, opened.rebuilt))
}

/// Fetches again the pages of the notified findings due at `now` (their
/// deadline's day over in `zone`), then decides every due finding whose
/// evidence was read since. Refuses to start while an unfinished crawl
/// has URLs queued in `store` (the crawl would go on with them).
///
/// `cancel` stops the fetching (at the latest after the requests in
/// flight); the decisions are made all the same, from what was fetched, as
/// they are safe to make at any time.
pub async fn run_recheck(
    opts: &RecheckOptions,
    store: Store,
    now: Timestamp,
    zone: &Zone,
    cancel: &Cancel,
) -> Result<RecheckJobReport, JobError> {
    recheck_pass(opts, store, now, zone, cancel, Pass::New).await
}

/// How a recheck treats URLs already queued in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// As `finscan recheck`: refused while an unfinished crawl has URLs
    /// queued (the recheck would go on with them).
    New,
    /// Continuing a recheck stopped while fetching (a scheduler resuming
    /// its run after a restart): the queue is that recheck's own, so it is
    /// fetched, not refused.
    Continue,
}

/// [`run_recheck`] with the [`Pass`] chosen.
pub async fn recheck_pass(
    opts: &RecheckOptions,
    store: Store,
    now: Timestamp,
    zone: &Zone,
    cancel: &Cancel,
    pass: Pass,
) -> Result<RecheckJobReport, JobError> {
    let cfg = opts.config(Vec::new())?;
    let rules = super::load_rules(opts.rules.as_deref())?;
    let scanner = Arc::new(crate::Scanner::new(&rules));
    recheck_with(cfg, scanner, store, now, zone, cancel, pass).await
}

/// [`recheck_pass`] with the fetch and politeness settings of `cfg` (its
/// seeds, depth and generation mode are set here) and a scanner of the
/// caller's: `finscan demo --recheck` fetches from the demo's own server.
pub async fn recheck_with(
    mut cfg: CrawlConfig,
    scanner: Arc<crate::Scanner>,
    store: Store,
    now: Timestamp,
    zone: &Zone,
    cancel: &Cancel,
    pass: Pass,
) -> Result<RecheckJobReport, JobError> {
    let mut report = RecheckJobReport::default();
    let (desk, rebuilt) = open_desk(store.clone()).await?;
    if rebuilt {
        report.notices.push(INDEXES_REBUILT.to_owned());
    }
    let due_zone = zone.clone();
    let urls = tokio::task::spawn_blocking(move || desk.due_pages(now, &due_zone)).await??;
    let mut seeds = Vec::new();
    for u in &urls {
        match url::Url::parse(u) {
            Ok(u) => seeds.push(u),
            Err(e) => report
                .notices
                .push(format!("recheck: skipped stored URL {u:?}: {e}")),
        }
    }
    if !seeds.is_empty() {
        // the engine would go on with an unfinished crawl's queue too
        let queued = store.frontier_len()?;
        if queued > 0 && pass == Pass::New {
            return Err(JobError::Unfinished {
                queued,
                dir: store.dir().to_path_buf(),
            });
        }
        cfg.seeds = seeds;
        cfg.max_depth = 0;
        cfg.refetch = true;
        cfg.recrawl = false;
        if cancel.is_cancelled() {
            report.cancelled = true;
        } else {
            let summary =
                crate::crawl::crawl(cfg, store.clone(), scanner, cancel.subscribe(), &|_| {})
                    .await?;
            report.pages_fetched = summary.pages_done;
            report.cancelled = summary.interrupted;
        }
    }
    let zone = zone.clone();
    let (decisions, rebuilt) = tokio::task::spawn_blocking(move || {
        let (desk, rebuilt) = open_desk_blocking(store)?;
        let decisions = desk.recheck(now, &zone)?;
        desk.flush()?;
        Ok::<_, JobError>((decisions, rebuilt))
    })
    .await??;
    if rebuilt {
        report.notices.push(INDEXES_REBUILT.to_owned());
    }
    report.decisions = decisions;
    report.outcome = if report.cancelled {
        Outcome::Cancelled
    } else if report
        .decisions
        .decided
        .iter()
        .any(|d| d.outcome == RecheckOutcome::RecheckFailed)
    {
        Outcome::Partial
    } else {
        Outcome::Clean
    };
    Ok(report)
}

/// The decisions made after a crawl or a registry scan.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AfterReading {
    pub decisions: RecheckReport,
    /// Opening the desk rebuilt its indexes (see [`INDEXES_REBUILT`]).
    pub indexes_rebuilt: bool,
    /// Findings the desk made of new hits and companies when it was
    /// opened (for a caller that shows them; not in the JSON report).
    #[serde(skip)]
    pub new_findings: usize,
}

/// After `crawl --recrawl` or a registry scan into `store`: decides the
/// notified findings past their deadline (at `now`, in `zone`) from what
/// was just read. `None`, cheaply, when no finding was ever notified.
/// Blocking (sled): an async caller runs it on the blocking pool.
pub fn decide_after_reading(
    store: &Store,
    now: Timestamp,
    zone: &Zone,
) -> Result<Option<AfterReading>, JobError> {
    if !crate::review::recheck::any_notified(store.db())? {
        return Ok(None);
    }
    let dir = store.dir().to_path_buf();
    let (desk, opened) =
        Desk::from_store(store.clone()).map_err(|source| JobError::Desk { dir, source })?;
    let decisions = desk.recheck(now, zone)?;
    desk.flush()?;
    Ok(Some(AfterReading {
        decisions,
        indexes_rebuilt: opened.rebuilt,
        new_findings: opened.new_findings,
    }))
}
