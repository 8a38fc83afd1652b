//! The kinds of job finscan runs, each a call into the library:
//!
//! * `crawl`: [`crate::crawl::crawl`] from the job's seeds, as `finscan
//!   crawl` sets it up. The crawl's progress lives in the database (its
//!   frontier and generation), so resuming an interrupted run is running
//!   the crawl again without starting a new pass: it continues the
//!   generation where the interrupted run stopped. The run's checkpoint
//!   says whether that run had already started its pass.
//! * `registry-profile`: the same crawl with a registry site profile, which
//!   reads company records from the pages it matches.
//! * `recheck`: fetches again the pages of notified findings past their
//!   deadline and decides them ([`crate::review::Desk::recheck`]), as
//!   `finscan recheck`.
//! * `registry`: not yet: the registry scan pipeline is still in the binary
//!   (`src/cli/registry.rs`); see [`registry`].
//!
//! After a crawl the desk takes in the new hits at once, so findings show
//! up while the server runs; after a crawl that started a new pass, notified
//! findings past their deadline are decided from what it read (as after
//! `finscan crawl --recrawl`).

use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde_json::json;

use super::def::{JobDef, JobKind, JobOptions};
use super::history::RunCounts;
use super::run::{JobError, Progress, RunContext, RunSummary, Runner};
use crate::crawl::fetch::ResolveMap;
use crate::crawl::{CrawlConfig, Summary, urls};
use crate::rules::RuleSet;
use crate::scan::Scanner;

/// The runner of finscan's own job kinds.
#[derive(Debug, Clone, Copy, Default)]
pub struct Kinds;

impl Runner for Kinds {
    fn run(
        &self,
        job: Arc<JobDef>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<RunSummary, JobError>> {
        match job.kind {
            JobKind::Crawl | JobKind::RegistryProfile => crawl(job, ctx).boxed(),
            JobKind::Recheck => recheck(job, ctx).boxed(),
            JobKind::Registry => async move { registry(&job, &ctx) }.boxed(),
        }
    }
}

/// Registry file jobs. The pipeline that `finscan registry scan` runs
/// (threads, ranking, output) is still in `src/cli/registry.rs`; issue 15
/// item 2 moves it into `src/registry/`. Integration point: call that
/// library function here with `job.options.path`, `allowlist` and `rules`,
/// `ctx.cancel` and `ctx.progress`, and fill the summary from its report.
pub fn registry(job: &JobDef, _ctx: &RunContext) -> Result<RunSummary, JobError> {
    Err(JobError::Unavailable(format!(
        "registry jobs need the registry pipeline in the library (issue 15 item 2); until then scan {} with `finscan registry scan`",
        job.options
            .path
            .as_deref()
            .map_or_else(|| "the export".to_owned(), |p| p.display().to_string())
    )))
}

/// Loads the rules (the bundled ones unless `rules` names a directory).
fn rules(o: &JobOptions) -> Result<RuleSet, JobError> {
    match &o.rules {
        Some(d) => RuleSet::load_dir(d)
            .map_err(|e| JobError::Input(format!("rules in {} are invalid: {e}", d.display()))),
        None => RuleSet::bundled()
            .map_err(|e| JobError::Input(format!("bundled rules are invalid: {e}"))),
    }
}

/// The fetch settings shared by crawl and recheck jobs.
fn fetch_config(cfg: &mut CrawlConfig, o: &JobOptions) -> Result<(), JobError> {
    let mut resolve = ResolveMap::default();
    for r in &o.resolve {
        resolve.add(r).map_err(JobError::Input)?;
    }
    cfg.fetch.user_agent = match (&o.user_agent, &o.contact) {
        (Some(ua), _) => ua.clone(),
        (None, Some(c)) if !c.trim().is_empty() => crate::crawl::user_agent(c),
        _ => crate::crawl::DEFAULT_USER_AGENT.to_owned(),
    };
    if let Some(t) = o.timeout {
        cfg.fetch.timeout = Duration::from_secs_f64(t);
    }
    if let Some(t) = o.connect_timeout {
        cfg.fetch.connect_timeout = Duration::from_secs_f64(t);
    }
    if let Some(r) = o.rate_per_host {
        cfg.rate_per_host = r;
    }
    cfg.fetch.allow_private = o.allow_private.unwrap_or(false);
    cfg.fetch.resolve = resolve;
    Ok(())
}

/// The crawl settings of a crawl job (the `finscan crawl` defaults for
/// what the job does not set), without seeds and `recrawl`.
fn crawl_config(o: &JobOptions) -> Result<CrawlConfig, JobError> {
    let regexes = |v: &[String], key: &str| -> Result<Vec<regex::Regex>, JobError> {
        v.iter()
            .map(|p| {
                regex::Regex::new(p).map_err(|e| {
                    JobError::Input(format!("option `{key}`: {p:?} is not a valid regex: {e}"))
                })
            })
            .collect()
    };
    let d = CrawlConfig::default();
    let mut cfg = CrawlConfig {
        max_pages: o.max_pages,
        max_depth: o.max_depth.unwrap_or(d.max_depth),
        host_concurrency: o
            .host_concurrency
            .map_or(d.host_concurrency, |n| n.max(1) as usize),
        concurrency: o.concurrency.map_or(d.concurrency, |n| n.max(1) as usize),
        include: regexes(&o.include, "include")?,
        exclude: regexes(&o.exclude, "exclude")?,
        per_host_budget: o.max_pages_per_host.unwrap_or(d.per_host_budget),
        max_query_variants: o.max_query_variants.unwrap_or(d.max_query_variants),
        // `finscan crawl --retries` defaults to 2: three attempts
        max_attempts: o.retries.unwrap_or(2).saturating_add(1),
        backoff_base: o.backoff.map_or(d.backoff_base, Duration::from_secs_f64),
        breaker_threshold: o.host_failures.unwrap_or(d.breaker_threshold).max(1),
        ..d
    };
    fetch_config(&mut cfg, o)?;
    if let Some(b) = o.max_body {
        cfg.fetch.max_body = b.max(1);
    }
    Ok(cfg)
}

/// Seeds from the job's seeds file (read now: an edit counts at the next
/// run) and its `urls`; bad lines become messages with file and line.
fn seeds(o: &JobOptions, messages: &mut Vec<String>) -> Result<Vec<url::Url>, JobError> {
    let mut out = Vec::new();
    if let Some(path) = &o.seeds {
        let raw = std::fs::read(path)
            .map_err(|e| JobError::Input(format!("reading seeds file {}: {e}", path.display())))?;
        let (ok, bad) = urls::parse_seeds(&String::from_utf8_lossy(&raw));
        for b in bad {
            messages.push(format!(
                "{}:{}: skipped {:?}: {}",
                path.display(),
                b.line,
                b.text,
                b.message
            ));
        }
        out.extend(ok);
    }
    for u in &o.urls {
        match urls::normalize(u) {
            Ok(u) => out.push(u),
            Err(e) => messages.push(format!("option `urls`: skipped {u:?}: {e}")),
        }
    }
    Ok(out)
}

/// Runs blocking database work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, JobError> + Send + 'static,
) -> Result<T, JobError> {
    tokio::task::spawn_blocking(f).await?
}

/// A crawl's progress as the sink shows it.
fn crawl_progress(
    sink: super::run::ProgressSink,
) -> impl Fn(&crate::crawl::Progress) + Send + Sync {
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

/// The crawl summary kept in the run record: without the ranked sites (the
/// whole database's, which `/api/sites` serves).
fn crawl_detail(s: &Summary) -> serde_json::Value {
    let mut s = s.clone();
    s.sites.clear();
    serde_json::to_value(&s).unwrap_or_default()
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
            "stopped at max-pages; {} URL(s) stay queued for the next run",
            s.queued
        ));
    }
}

/// A crawl (or registry-profile) job.
async fn crawl(job: Arc<JobDef>, ctx: RunContext) -> Result<RunSummary, JobError> {
    let o = job.options.clone();
    let mut messages = Vec::new();
    let seeds = seeds(&o, &mut messages)?;
    let bad_input = messages.len() as u64;
    let mut cfg = crawl_config(&o)?;
    let profile_path = (job.kind == JobKind::RegistryProfile).then(|| o.profile.clone());
    let (scanner, registry) = blocking(move || {
        let rules = rules(&o)?;
        let registry = match profile_path {
            Some(p) => Some(page_profile(&rules, &o, p.as_deref())?),
            None => None,
        };
        Ok((Arc::new(Scanner::new(&rules)), registry))
    })
    .await?;
    cfg.registry = registry.map(|(p, warnings)| {
        messages.extend(warnings);
        Arc::new(p)
    });
    let store = ctx.store.clone();
    if seeds.is_empty() && store.frontier_len()? == 0 {
        return Err(JobError::Input(format!(
            "no valid seed URL{} and nothing left to resume",
            job.options
                .seeds
                .as_deref()
                .map_or_else(String::new, |p| format!(" in {}", p.display()))
        )));
    }
    cfg.seeds = seeds;
    // A new pass (generation) when the job asks for one — unless this run
    // resumes one whose pass had started: then it continues it.
    let generation = store.generation()?;
    let wanted = job.options.recrawl.unwrap_or(false);
    cfg.recrawl = match ctx.checkpoint.resumed() {
        Some(cp) => {
            let before = cp["generation_before"].as_u64();
            let asked = cp["recrawl"].as_bool().unwrap_or(wanted);
            asked && before.is_none_or(|b| u64::from(generation) == b)
        }
        None => wanted,
    };
    ctx.checkpoint.save(json!({
        "recrawl": cfg.recrawl,
        "generation_before": generation,
    }))?;
    let recrawl = cfg.recrawl;
    let show = crawl_progress(ctx.progress.clone());
    let s = crate::crawl::crawl(cfg, store, scanner, ctx.cancel.receiver(), &show).await?;
    crawl_messages(&s, &mut messages);
    let mut detail = crawl_detail(&s);
    if !s.interrupted {
        let desk = ctx.desk.clone();
        let zone = ctx.zone.clone();
        let db = ctx.store.db().clone();
        let decided = blocking(move || {
            let made = desk.sync()?;
            let report = if recrawl && crate::review::recheck::any_notified(&db)? {
                Some(desk.recheck(crate::time::now(), &zone)?)
            } else {
                None
            };
            desk.flush()?;
            Ok((made, report))
        })
        .await?;
        detail["findings_made"] = json!(decided.0);
        if let Some(r) = decided.1 {
            detail["recheck"] = serde_json::to_value(&r).unwrap_or_default();
        }
    }
    Ok(RunSummary {
        counts: counts_of(&s, bad_input),
        messages,
        stopped: s.interrupted,
        detail: Some(detail),
    })
}

/// The registry page profile of a registry-profile job, and the allow-list's
/// warnings.
fn page_profile(
    rules: &RuleSet,
    o: &JobOptions,
    profile: Option<&std::path::Path>,
) -> Result<(crate::registry::PageProfile, Vec<String>), JobError> {
    let Some(p) = profile else {
        return Err(JobError::Input(
            "a registry-profile job needs the site profile file (option `profile`)".into(),
        ));
    };
    let profile =
        crate::registry::profile::Profile::load(p).map_err(|e| JobError::Input(e.to_string()))?;
    let mut warnings = Vec::new();
    let allow = match &o.allowlist {
        Some(a) => {
            let (list, w) = crate::registry::AllowList::load(a).map_err(|e| {
                JobError::Input(format!("cannot read allow-list {}: {e}", a.display()))
            })?;
            warnings.extend(w.iter().map(|w| format!("warning: {w}")));
            list
        }
        None => crate::registry::AllowList::default(),
    };
    Ok((
        crate::registry::PageProfile {
            profile,
            records: crate::registry::RecordScanner::new(rules, allow),
        },
        warnings,
    ))
}

/// A recheck job: as `finscan recheck`, fetching the due pages with the
/// crawler (depth 0, a new pass so that done pages are fetched again) and
/// deciding every due finding from the evidence read since its deadline.
async fn recheck(job: Arc<JobDef>, ctx: RunContext) -> Result<RunSummary, JobError> {
    let now = crate::time::now();
    let o = job.options.clone();
    let mut messages = Vec::new();
    let desk = ctx.desk.clone();
    let zone = ctx.zone.clone();
    let due = blocking(move || {
        desk.sync()?;
        Ok(desk.due_pages(now, &zone)?)
    })
    .await?;
    let mut seeds = Vec::new();
    for u in &due {
        match url::Url::parse(u) {
            Ok(u) => seeds.push(u),
            Err(e) => messages.push(format!("skipped stored URL {u:?}: {e}")),
        }
    }
    let store = ctx.store.clone();
    let generation = store.generation()?;
    // a resumed recheck whose pass had started continues it (its queue is
    // the unfinished crawl the check below would refuse)
    let continues = ctx.checkpoint.resumed().is_some_and(|cp| {
        cp["generation_before"]
            .as_u64()
            .is_some_and(|b| u64::from(generation) > b)
    });
    let mut summary = None;
    if !seeds.is_empty() {
        let queued = store.frontier_len()?;
        if queued > 0 && !continues {
            return Err(JobError::Busy(format!(
                "{queued} URL(s) are still queued by an unfinished crawl in {}: finish it first (run its crawl job), then recheck; nothing was fetched or decided",
                store.dir().display()
            )));
        }
        let mut cfg = CrawlConfig {
            seeds,
            max_depth: 0,
            recrawl: !continues,
            ..CrawlConfig::default()
        };
        fetch_config(&mut cfg, &o)?;
        let rules = blocking(move || rules(&o)).await?;
        let scanner = Arc::new(Scanner::new(&rules));
        ctx.checkpoint
            .save(json!({ "generation_before": generation }))?;
        let show = crawl_progress(ctx.progress.clone());
        let s = crate::crawl::crawl(cfg, store, scanner, ctx.cancel.receiver(), &show).await?;
        crawl_messages(&s, &mut messages);
        summary = Some(s);
    }
    let desk = ctx.desk.clone();
    let zone = ctx.zone.clone();
    let report = blocking(move || {
        // the new hits first: evidence with changed wording is a new finding
        desk.sync()?;
        let r = desk.recheck(now, &zone)?;
        desk.flush()?;
        Ok(r)
    })
    .await?;
    let count =
        |o: crate::review::RecheckOutcome| report.decided.iter().filter(|d| d.outcome == o).count();
    use crate::review::RecheckOutcome::*;
    messages.push(format!(
        "{} notified finding(s) past their deadline ({} not yet due): {} rectified, {} persisting, {} could not be fetched (still notified), {} not read again since the deadline",
        report.due,
        report.not_due,
        count(Rectified),
        count(Persisting),
        count(RecheckFailed),
        report.waiting
    ));
    let pages = summary.as_ref().map_or(0, |s| s.pages_done);
    Ok(RunSummary {
        counts: summary
            .as_ref()
            .map_or_else(RunCounts::default, |s| counts_of(s, 0)),
        messages,
        stopped: summary.as_ref().is_some_and(|s| s.interrupted),
        detail: Some(json!({
            "pages_fetched": pages,
            "recheck": report,
            "crawl": summary.as_ref().map(crawl_detail),
        })),
    })
}
