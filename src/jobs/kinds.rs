//! The kinds of job finscan runs, each the library's job ([`crate::job`])
//! that the CLI runs too; this module adds only what a scheduler needs
//! around it:
//!
//! * `crawl` and `registry-profile`: [`job::crawl`] (a registry-profile
//!   job is a crawl with a site profile). The crawl's progress lives in
//!   the database (its frontier and generation), so resuming an
//!   interrupted run is running the crawl again without starting a new
//!   pass: it continues the generation where the interrupted run stopped.
//!   The run's checkpoint says whether that run had already started its
//!   pass.
//! * `registry`: [`job::registry::run_registry_scan`] of the export files
//!   or folders, on the blocking pool.
//! * `recheck`: [`job::recheck::recheck_pass`], continuing the crawl of a
//!   run resumed after its crawl had started ([`Pass::Continue`]).
//!
//! The library's jobs make the decisions on notified findings after a
//! recrawl or a registry scan (a recheck opens the desk, which takes in
//! new hits, itself); after a finished crawl or registry scan the
//! scheduler's desk takes in the new hits and companies at once, so
//! findings show up while the server runs.

use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::json;

use super::def::{JobDef, JobOptions};
use super::history::RunCounts;
use super::run::{JobError, Progress, ProgressSink, RunContext, RunSummary, Runner};
use crate::crawl::Summary;
use crate::job;
use crate::job::crawl::CrawlOptions;
use crate::job::recheck::{AfterReading, Pass, RecheckOptions};
use crate::registry::pipeline::{RecordSink, RegistryScanOptions, ScanProgress};
use crate::review::{RecheckOutcome, RecheckReport};

/// The runner of finscan's own job kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kinds;

impl Runner for Kinds {
    fn run(
        &self,
        job: Arc<JobDef>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<RunSummary, JobError>> {
        match &job.options {
            JobOptions::Crawl(o) | JobOptions::RegistryProfile(o) => crawl(o.clone(), ctx).boxed(),
            JobOptions::Registry(o) => registry(o.clone(), ctx).boxed(),
            JobOptions::Recheck(o) => recheck(o.clone(), ctx).boxed(),
        }
    }
}

/// Runs blocking work (sled, files) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f).await?
}

/// The desk takes in the hits and companies stored since it last looked;
/// with the findings made when a job's decisions opened a desk of their
/// own, how many findings the run made.
async fn take_in(ctx: &RunContext, after: Option<&AfterReading>) -> Result<usize, JobError> {
    let desk = ctx.desk.clone();
    let made = blocking(move || {
        let made = desk.sync()?;
        desk.flush()?;
        Ok(made)
    })
    .await?;
    Ok(made + after.map_or(0, |a| a.new_findings))
}

/// One line on the decisions about notified findings past their deadline.
fn decisions_message(r: &RecheckReport) -> String {
    let count = |o: RecheckOutcome| r.decided.iter().filter(|d| d.outcome == o).count();
    format!(
        "{} notified finding(s) past their deadline ({} not yet due): {} rectified, {} persisting, {} could not be fetched (still notified), {} not read again since the deadline",
        r.due,
        r.not_due,
        count(RecheckOutcome::Rectified),
        count(RecheckOutcome::Persisting),
        count(RecheckOutcome::RecheckFailed),
        r.waiting
    )
}

fn after_messages(after: Option<&AfterReading>, messages: &mut Vec<String>) {
    if let Some(a) = after {
        if a.indexes_rebuilt {
            messages.push(job::recheck::INDEXES_REBUILT.to_owned());
        }
        messages.push(decisions_message(&a.decisions));
    }
}

/// A crawl's progress as the sink shows it.
fn crawl_progress(sink: ProgressSink) -> impl Fn(&crate::crawl::Progress) + Send + Sync {
    move |p: &crate::crawl::Progress| {
        let s = p.summary;
        sink.set(Progress {
            counts: counts_of(s, 0),
            activity: format!(
                "{} page(s), {} queued, {} in flight; last {}",
                s.pages_done, p.queued, p.in_flight, p.last_url
            ),
        });
    }
}

fn counts_of(s: &Summary, bad_input: u64) -> RunCounts {
    RunCounts {
        pages: s.pages_done,
        findings_new: s.new_hits,
        findings_seen: s.hits.saturating_sub(s.new_hits),
        errors: s.errors + s.pages_failed + bad_input,
    }
}

fn crawl_messages(s: &Summary, messages: &mut Vec<String>) {
    for g in &s.hosts_given_up {
        messages.push(format!(
            "gave up {} for this run: {} (its URLs stay queued)",
            g.host, g.reason
        ));
    }
    if s.pages_failed > 0 {
        messages.push(format!(
            "{} page(s) could not be fetched (pages list --state failed)",
            s.pages_failed
        ));
    }
    if s.stopped_at_max_pages {
        messages.push(format!(
            "stopped at max_pages; {} URL(s) stay queued for the next run",
            s.queued
        ));
    }
}

/// A crawl (or registry-profile) job.
async fn crawl(o: CrawlOptions, ctx: RunContext) -> Result<RunSummary, JobError> {
    let wanted = o.recrawl;
    // seeds read now (an edit counts at the next run), rules and profile
    // loaded: files, off the async threads
    let (mut prepared, mut messages) = blocking(move || {
        let seeds = o.read_seeds()?;
        let mut warnings = Vec::new();
        let prepared = o.prepare(seeds, &mut |w| warnings.push(format!("warning: {w}")))?;
        Ok((prepared, warnings))
    })
    .await?;
    for b in &prepared.bad_seeds {
        messages.push(format!(
            "{}:{}: skipped {:?}: {}",
            b.source, b.line, b.text, b.message
        ));
    }
    let bad_input = prepared.bad_seeds.len() as u64;
    // A new pass (generation) when the job asks for one — unless this run
    // resumes one whose pass had started: then it continues it.
    let store = ctx.store.clone();
    let generation = store.generation()?;
    let recrawl = match ctx.checkpoint.resumed() {
        Some(cp) => {
            let before = cp["generation_before"].as_u64();
            let asked = cp["recrawl"].as_bool().unwrap_or(wanted);
            asked && before.is_none_or(|b| u64::from(generation) == b)
        }
        None => wanted,
    };
    prepared.config.recrawl = recrawl;
    ctx.checkpoint.save(json!({
        "recrawl": recrawl,
        "generation_before": generation,
    }))?;
    let show = crawl_progress(ctx.progress.clone());
    let report = job::crawl::run_crawl(prepared, store, &ctx.cancel, &show, &ctx.zone).await?;
    let s = &report.summary;
    crawl_messages(s, &mut messages);
    after_messages(report.recheck.as_ref(), &mut messages);
    let mut detail = serde_json::to_value(&report).unwrap_or_default();
    // the whole database's ranking, which `/api/sites` serves
    if let Some(d) = detail.as_object_mut() {
        d.remove("sites");
    }
    if !s.interrupted {
        detail["findings_made"] = json!(take_in(&ctx, report.recheck.as_ref()).await?);
    }
    Ok(RunSummary {
        counts: counts_of(s, bad_input),
        messages,
        stopped: s.interrupted,
        detail: Some(detail),
    })
}

/// Shows a registry scan's progress and keeps its warnings.
struct ScanSink {
    progress: ProgressSink,
    warnings: Vec<String>,
}

impl RecordSink for ScanSink {
    fn warning(&mut self, message: &str) {
        self.warnings.push(format!("warning: {message}"));
    }

    fn progress(&mut self, p: &ScanProgress) {
        self.progress.set(Progress {
            counts: RunCounts {
                pages: p.records,
                findings_new: 0,
                findings_seen: 0,
                errors: p.row_errors,
            },
            activity: format!(
                "{} file(s), {} record(s), {} flagged",
                p.files, p.records, p.flagged
            ),
        });
    }
}

/// A registry job: the export files and folders scanned into the
/// database, then the flagged companies taken in as findings.
async fn registry(o: RegistryScanOptions, ctx: RunContext) -> Result<RunSummary, JobError> {
    let store = ctx.store.clone();
    let cancel = ctx.cancel.clone();
    let zone = ctx.zone.clone();
    let mut sink = ScanSink {
        progress: ctx.progress.clone(),
        warnings: Vec::new(),
    };
    let (report, mut messages) = blocking(move || {
        let r = job::registry::run_registry_scan(&o, &store, &mut sink, &cancel, &zone)?;
        Ok((r, sink.warnings))
    })
    .await?;
    let scan = &report.scan;
    for e in &scan.errors {
        messages.push(match e.line {
            Some(l) => format!("{}:{l}: {}", e.source, e.message),
            None => format!("{}: skipped: {}", e.source, e.message),
        });
    }
    if scan.errors_not_listed > 0 {
        messages.push(format!("{} more input error(s)", scan.errors_not_listed));
    }
    after_messages(report.recheck.as_ref(), &mut messages);
    let mut detail = serde_json::to_value(&report).unwrap_or_default();
    // per county and per company, the database has them (`/api/findings`)
    if let Some(d) = detail.as_object_mut() {
        d.remove("counties");
        d.remove("findings");
    }
    let made = take_in(&ctx, report.recheck.as_ref()).await? as u64;
    detail["findings_made"] = json!(made);
    Ok(RunSummary {
        counts: RunCounts {
            pages: scan.records,
            findings_new: made,
            findings_seen: scan.flagged.saturating_sub(made),
            errors: scan.files_failed + scan.row_errors + scan.records_with_problems,
        },
        messages,
        stopped: scan.cancelled,
        detail: Some(detail),
    })
}

/// A recheck job: as `finscan recheck`. A run resumed after its crawl had
/// started (the database is a generation past its checkpoint) continues
/// that crawl instead of refusing its queue.
async fn recheck(o: RecheckOptions, ctx: RunContext) -> Result<RunSummary, JobError> {
    let now = crate::time::now();
    let store = ctx.store.clone();
    let generation = u64::from(store.generation()?);
    let before = ctx
        .checkpoint
        .resumed()
        .and_then(|cp| cp["generation_before"].as_u64())
        .filter(|&b| generation > b);
    ctx.checkpoint
        .save(json!({ "generation_before": before.unwrap_or(generation) }))?;
    let pass = match before {
        Some(_) => Pass::Continue,
        None => Pass::New,
    };
    let report = job::recheck::recheck_pass(&o, store, now, &ctx.zone, &ctx.cancel, pass).await?;
    let mut messages = report.notices.clone();
    messages.push(decisions_message(&report.decisions));
    let failed = report
        .decisions
        .decided
        .iter()
        .filter(|d| d.outcome == RecheckOutcome::RecheckFailed)
        .count() as u64;
    Ok(RunSummary {
        counts: RunCounts {
            pages: report.pages_fetched,
            errors: failed,
            ..RunCounts::default()
        },
        messages,
        stopped: report.cancelled,
        detail: Some(json!({
            "pages_fetched": report.pages_fetched,
            "recheck": report.decisions,
            "outcome": report.outcome,
        })),
    })
}
