//! The scheduler: one timer task fires jobs on their schedules and when a
//! notified finding's deadline passes; each run is a task of its own.
//!
//! * One run per job at a time: a second request, scheduled or asked for,
//!   is refused with the running run's id ([`JobsError::AlreadyRunning`]).
//!   A schedule firing while its job still runs is skipped (logged), not
//!   queued: the next fire comes from the schedule as usual.
//! * Runs that drive the crawler (crawl, registry-profile, recheck) take
//!   the database's one frontier in turn, and so do registry scans with
//!   registry-profile crawls, which write the registry (see
//!   [`JobKind::takes_turns`]);
//!   one that waits shows `waiting_for_crawler` in [`JobStatus`].
//! * A run's failure (an error, or a panic: each run is a task of its own)
//!   is recorded as `failed` with its message; the scheduler goes on.
//! * Runs started and not finished when the process stopped — a crash, a
//!   kill, or a shutdown that asked them to stop — are resumed when the
//!   scheduler starts again: the old run is marked `interrupted` and a run
//!   with trigger `resume` continues its work from its checkpoint.
//! * Deadlines: the earliest moment a notified finding becomes due for its
//!   recheck (its deadline's end in the zone, or its notice if later) fires
//!   the recheck jobs. They are looked at again after every run, when told
//!   ([`Scheduler::deadlines_changed`], after a review decision), and every
//!   [`SchedulerConfig::deadline_poll`]. A recheck that ran to its end
//!   covers every deadline that was due when it started (the history's
//!   `deadline_mark`), so one deadline fires once; after a recheck failed
//!   or was cancelled, deadlines fire again only after
//!   [`SchedulerConfig::deadline_retry`].
//!
//! Missed schedules (the server was down at 02:00) are not made up for:
//! the next fire is computed from the time the scheduler starts.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::{Notify, watch};
use tracing::{info, warn};

use super::def::{JobDef, JobDefError, JobKind, JobOptions};
use super::history::{History, HistoryError, RunId, RunOutcome, RunRecord, Trigger};
use super::kinds::Kinds;
use super::run::{Checkpoint, JobError, Progress, ProgressSink, RunContext, RunSummary, Runner};
use crate::job::Cancel;
use crate::review::Desk;
use crate::review::query::Query;
use crate::review::{ReviewError, Status};
use crate::store::Store;
use crate::time::Zone;

/// Name of the recheck job the scheduler adds when the configuration has
/// none, so that deadlines are rechecked without one being declared.
pub const IMPLICIT_RECHECK: &str = "recheck";

/// How the scheduler behaves.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// The zone schedules and deadlines are read in.
    pub zone: Zone,
    /// Deadlines are looked at again at least this often.
    pub deadline_poll: Duration,
    /// After a deadline's recheck failed, the next try waits this long.
    pub deadline_retry: Duration,
    /// A running job's counts are saved to its record this often.
    pub progress_every: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            zone: Zone::named(crate::time::DEFAULT_ZONE).unwrap_or_else(|_| Zone::utc()),
            deadline_poll: Duration::from_secs(300),
            deadline_retry: Duration::from_secs(900),
            progress_every: Duration::from_secs(5),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobsError {
    #[error(transparent)]
    Def(#[from] JobDefError),
    #[error("two jobs are named {0:?}")]
    Duplicate(String),
    #[error("no job named {0:?}")]
    UnknownJob(String),
    #[error("job {job:?} is already running (run {run})")]
    AlreadyRunning { job: String, run: RunId },
    #[error("the scheduler is shutting down")]
    ShuttingDown,
    #[error("job {0:?} is not running")]
    NotRunning(String),
    #[error("run {0} is not running")]
    RunNotRunning(RunId),
    #[error(transparent)]
    History(#[from] HistoryError),
}

/// A job as [`Scheduler::list`] shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    pub name: String,
    pub kind: JobKind,
    pub schedule: Option<String>,
    /// The schedule's next fire.
    pub next_fire: Option<Timestamp>,
    pub running: Option<RunningStatus>,
    pub last: Option<LastRun>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunningStatus {
    pub run: RunId,
    pub trigger: Trigger,
    pub started: Timestamp,
    /// Waiting for another job to finish with the crawler.
    pub waiting_for_crawler: bool,
    /// Asked to stop; finishing what is in flight.
    pub stopping: bool,
    pub progress: Progress,
}

#[derive(Debug, Clone, Serialize)]
pub struct LastRun {
    pub run: RunId,
    pub outcome: RunOutcome,
    pub started: Timestamp,
    pub ended: Option<Timestamp>,
}

/// What [`Scheduler::shutdown`] left.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ShutdownReport {
    /// Runs that stopped at a checkpoint (`interrupted`, resumed at the next start).
    pub stopped: Vec<RunId>,
    /// Runs still going when the grace period ended: left `running` in the
    /// history, they are resumed at the next start like after a crash.
    pub unfinished: Vec<RunId>,
}

/// Why a run was asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StopReason {
    Cancel,
    Shutdown,
}

struct Running {
    id: RunId,
    trigger: Trigger,
    started: Timestamp,
    cancel: Cancel,
    reason: Option<StopReason>,
    progress: ProgressSink,
    waiting: Arc<std::sync::atomic::AtomicBool>,
}

struct JobState {
    def: Arc<JobDef>,
    next_fire: Option<Timestamp>,
    running: Option<Running>,
    last: Option<LastRun>,
}

#[derive(Default)]
struct State {
    jobs: BTreeMap<String, JobState>,
    /// When the next deadline recheck fires.
    deadline_next: Option<Timestamp>,
    /// No deadline recheck before this (after a failed one).
    deadline_hold: Option<Timestamp>,
    /// A deadline evaluation is under way / was asked for meanwhile.
    evaluating: bool,
    evaluate_again: bool,
    shutting_down: bool,
}

struct Inner {
    store: Store,
    desk: Arc<Desk>,
    history: Arc<History>,
    runner: Arc<dyn Runner>,
    cfg: SchedulerConfig,
    state: Mutex<State>,
    /// Wakes the timer task (a schedule or deadline changed, shutdown).
    wake: Notify,
    /// The crawler's frontier and the registry's writer: one run at a
    /// time takes them (see [`JobKind::takes_turns`]).
    frontier: Arc<tokio::sync::Mutex<()>>,
    /// Counts ended runs: waiters watch it.
    ended: watch::Sender<u64>,
}

/// The handle to a running scheduler: cheap to clone, shared by the HTTP
/// API and the server's shutdown path.
#[derive(Clone)]
pub struct Scheduler {
    inner: Arc<Inner>,
}

impl Scheduler {
    /// Starts the scheduler for `jobs` over the desk's database with
    /// finscan's own job kinds. Must be called inside a Tokio runtime.
    /// Resumes the runs a previous process left unfinished, then fires jobs
    /// on their schedules and deadlines.
    pub fn start(
        desk: Arc<Desk>,
        jobs: Vec<JobDef>,
        cfg: SchedulerConfig,
    ) -> Result<Scheduler, JobsError> {
        Scheduler::start_with(desk, jobs, cfg, Arc::new(Kinds))
    }

    /// [`Scheduler::start`] with another [`Runner`].
    pub fn start_with(
        desk: Arc<Desk>,
        mut jobs: Vec<JobDef>,
        cfg: SchedulerConfig,
        runner: Arc<dyn Runner>,
    ) -> Result<Scheduler, JobsError> {
        for j in &jobs {
            j.check()?;
        }
        if !jobs.iter().any(|j| j.kind() == JobKind::Recheck) {
            if jobs.iter().any(|j| j.name == IMPLICIT_RECHECK) {
                warn!(
                    "no recheck job, and the name {IMPLICIT_RECHECK:?} is taken: deadlines will not be rechecked by the scheduler"
                );
            } else {
                jobs.push(JobDef::new(
                    IMPLICIT_RECHECK,
                    JobOptions::default_for(JobKind::Recheck),
                ));
            }
        }
        let store = desk.store().clone();
        let history = Arc::new(History::open(store.db())?);
        let now = crate::time::now();
        let mut state = State::default();
        for j in jobs {
            if state.jobs.contains_key(&j.name) {
                return Err(JobsError::Duplicate(j.name));
            }
            let last = history.last(&j.name)?.map(|r| LastRun {
                run: r.id,
                outcome: r.outcome,
                started: r.started,
                ended: r.ended,
            });
            let next_fire = j
                .schedule
                .as_ref()
                .and_then(|s| s.next_after(now, &cfg.zone));
            state.jobs.insert(
                j.name.clone(),
                JobState {
                    def: Arc::new(j),
                    next_fire,
                    running: None,
                    last,
                },
            );
        }
        let (ended, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            store,
            desk,
            history,
            runner,
            cfg,
            state: Mutex::new(state),
            wake: Notify::new(),
            frontier: Arc::new(tokio::sync::Mutex::new(())),
            ended,
        });
        let s = Scheduler { inner };
        s.resume_unfinished()?;
        tokio::spawn(timer(s.inner.clone()));
        s.deadlines_changed();
        Ok(s)
    }

    /// Marks every run the last process left unfinished `interrupted` and
    /// starts its job again to continue it (the latest run of each job; an
    /// older one, or one whose job is gone, is only marked).
    fn resume_unfinished(&self) -> Result<(), JobsError> {
        let inner = &self.inner;
        let unfinished = inner.history.unfinished()?;
        let mut latest: BTreeMap<String, RunId> = BTreeMap::new();
        for r in &unfinished {
            latest.insert(r.job.clone(), r.id);
        }
        for r in unfinished {
            let known = inner.lock().jobs.contains_key(&r.job);
            if !known {
                inner.history.abandon(
                    r.id,
                    &format!("not resumed: job {:?} is no longer configured", r.job),
                )?;
                continue;
            }
            if latest.get(&r.job) != Some(&r.id) {
                inner
                    .history
                    .abandon(r.id, "not resumed: a later run of the job is")?;
                continue;
            }
            info!(
                job = r.job,
                run = r.id.0,
                "resuming the run a previous process left unfinished"
            );
            match start_run(inner, &r.job, Trigger::Resume { from: r.id }) {
                Ok(_) => {}
                Err(e) => warn!(job = r.job, "cannot resume run {}: {e}", r.id),
            }
        }
        Ok(())
    }

    /// Every job, by name.
    pub fn list(&self) -> Vec<JobStatus> {
        let st = self.inner.lock();
        st.jobs
            .values()
            .map(|j| JobStatus {
                name: j.def.name.clone(),
                kind: j.def.kind(),
                schedule: j.def.schedule.as_ref().map(|s| s.as_str().to_owned()),
                next_fire: j.next_fire,
                running: j.running.as_ref().map(|r| RunningStatus {
                    run: r.id,
                    trigger: r.trigger,
                    started: r.started,
                    waiting_for_crawler: r.waiting.load(std::sync::atomic::Ordering::Relaxed),
                    stopping: r.reason.is_some(),
                    progress: r.progress.get(),
                }),
                last: j.last.clone(),
            })
            .collect()
    }

    /// Starts a run of `name` now; refused while one runs, with its id.
    pub fn run_now(&self, name: &str) -> Result<RunId, JobsError> {
        start_run(&self.inner, name, Trigger::Manual)
    }

    /// Asks the running run of job `name` to stop; it is recorded
    /// `cancelled` and not resumed. Returns its id.
    pub fn cancel_job(&self, name: &str) -> Result<RunId, JobsError> {
        let mut st = self.inner.lock();
        let j = st
            .jobs
            .get_mut(name)
            .ok_or_else(|| JobsError::UnknownJob(name.to_owned()))?;
        let r = j
            .running
            .as_mut()
            .ok_or_else(|| JobsError::NotRunning(name.to_owned()))?;
        r.reason = Some(StopReason::Cancel);
        r.cancel.cancel();
        info!(job = name, run = r.id.0, "cancel asked");
        Ok(r.id)
    }

    /// [`Scheduler::cancel_job`] by run id.
    pub fn cancel_run(&self, run: RunId) -> Result<(), JobsError> {
        let name = {
            let st = self.inner.lock();
            st.jobs
                .values()
                .find(|j| j.running.as_ref().is_some_and(|r| r.id == run))
                .map(|j| j.def.name.clone())
        };
        match name {
            Some(n) => self.cancel_job(&n).map(|_| ()),
            None => Err(JobsError::RunNotRunning(run)),
        }
    }

    /// The latest `limit` runs of job `name`, newest first (a job no longer
    /// configured keeps its history).
    pub fn runs(&self, name: &str, limit: usize) -> Result<Vec<RunRecord>, JobsError> {
        let runs = self.inner.history.runs(name, limit)?;
        if runs.is_empty() && !self.inner.lock().jobs.contains_key(name) {
            return Err(JobsError::UnknownJob(name.to_owned()));
        }
        Ok(runs)
    }

    /// One run's record.
    pub fn run(&self, id: RunId) -> Result<Option<RunRecord>, JobsError> {
        Ok(self.inner.history.get(id)?)
    }

    /// Waits until run `id` has ended and returns its record (at once for
    /// a run that ended, or that no process is running any more).
    pub async fn wait(&self, id: RunId) -> Result<RunRecord, JobsError> {
        let mut ended = self.inner.ended.subscribe();
        loop {
            ended.borrow_and_update();
            let rec = self
                .inner
                .history
                .get(id)?
                .ok_or(JobsError::History(HistoryError::NoRun(id)))?;
            let live = self
                .inner
                .lock()
                .jobs
                .values()
                .any(|j| j.running.as_ref().is_some_and(|r| r.id == id));
            if !live {
                return Ok(rec);
            }
            if ended.changed().await.is_err() {
                return Ok(rec);
            }
        }
    }

    /// When the next deadline recheck fires, as last computed.
    pub fn next_deadline(&self) -> Option<Timestamp> {
        let st = self.inner.lock();
        effective_deadline(&st)
    }

    /// Tells the scheduler that deadlines may have changed (a finding was
    /// notified, or its review reopened): they are looked at again now.
    pub fn deadlines_changed(&self) {
        evaluate_deadlines(self.inner.clone());
    }

    /// Stops the scheduler: no run starts any more, running ones are asked
    /// to stop at a checkpoint (recorded `interrupted`, resumed at the next
    /// start), and this waits up to `grace` for them. The database is
    /// flushed before it returns.
    pub async fn shutdown(&self, grace: Duration) -> ShutdownReport {
        let inner = &self.inner;
        let mut ended = inner.ended.subscribe();
        let asked: Vec<RunId> = {
            let mut st = inner.lock();
            st.shutting_down = true;
            st.jobs
                .values_mut()
                .filter_map(|j| j.running.as_mut())
                .map(|r| {
                    r.reason = Some(StopReason::Shutdown);
                    r.cancel.cancel();
                    r.id
                })
                .collect()
        };
        inner.wake.notify_one();
        let until = tokio::time::Instant::now() + grace;
        loop {
            ended.borrow_and_update();
            let running: Vec<RunId> = inner
                .lock()
                .jobs
                .values()
                .filter_map(|j| j.running.as_ref().map(|r| r.id))
                .collect();
            if running.is_empty() {
                break;
            }
            match tokio::time::timeout_at(until, ended.changed()).await {
                Ok(Ok(())) => continue,
                _ => break,
            }
        }
        let unfinished: Vec<RunId> = inner
            .lock()
            .jobs
            .values()
            .filter_map(|j| j.running.as_ref().map(|r| r.id))
            .collect();
        let store = inner.store.clone();
        let flushed = tokio::task::spawn_blocking(move || store.flush()).await;
        if !matches!(flushed, Ok(Ok(()))) {
            warn!("flushing the database at shutdown failed: {flushed:?}");
        }
        ShutdownReport {
            stopped: asked
                .into_iter()
                .filter(|id| !unfinished.contains(id))
                .collect(),
            unfinished,
        }
    }
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn effective_deadline(st: &State) -> Option<Timestamp> {
    let next = st.deadline_next?;
    Some(match st.deadline_hold {
        Some(h) if h > next => h,
        _ => next,
    })
}

/// Starts a run of `name` (the one path for every trigger).
fn start_run(inner: &Arc<Inner>, name: &str, trigger: Trigger) -> Result<RunId, JobsError> {
    let mut st = inner.lock();
    if st.shutting_down {
        return Err(JobsError::ShuttingDown);
    }
    let j = st
        .jobs
        .get_mut(name)
        .ok_or_else(|| JobsError::UnknownJob(name.to_owned()))?;
    if let Some(r) = &j.running {
        return Err(JobsError::AlreadyRunning {
            job: name.to_owned(),
            run: r.id,
        });
    }
    let rec = inner
        .history
        .start(name, j.def.kind(), trigger, crate::time::now())?;
    let cancel = Cancel::new();
    let token = cancel.clone();
    let progress = ProgressSink::default();
    // a run of the crawler waits for it from the start (until its task
    // takes the frontier)
    let waiting = Arc::new(std::sync::atomic::AtomicBool::new(
        j.def.kind().takes_turns(),
    ));
    j.running = Some(Running {
        id: rec.id,
        trigger,
        started: rec.started,
        cancel,
        reason: None,
        progress: progress.clone(),
        waiting: waiting.clone(),
    });
    let def = j.def.clone();
    drop(st);
    info!(
        job = name,
        run = rec.id.0,
        trigger = ?trigger,
        "run started"
    );
    let id = rec.id;
    tokio::spawn(run_task(inner.clone(), def, rec, token, progress, waiting));
    Ok(id)
}

/// One run, from waiting for the crawler to its record's end.
async fn run_task(
    inner: Arc<Inner>,
    def: Arc<JobDef>,
    rec: RunRecord,
    token: Cancel,
    progress: ProgressSink,
    waiting: Arc<std::sync::atomic::AtomicBool>,
) {
    let id = rec.id;
    let guard = if def.kind().takes_turns() {
        let got = tokio::select! {
            g = inner.frontier.clone().lock_owned() => Some(g),
            _ = token.cancelled() => None,
        };
        waiting.store(false, std::sync::atomic::Ordering::Relaxed);
        got.map(Some)
    } else {
        Some(None)
    };
    let result: Result<Result<RunSummary, JobError>, String> = match guard {
        None => Ok(Ok(RunSummary {
            stopped: true,
            messages: vec![
                "stopped while waiting for another job to finish with the crawler".into(),
            ],
            ..RunSummary::default()
        })),
        Some(guard) => {
            let ctx = RunContext {
                run: id,
                trigger: rec.trigger,
                store: inner.store.clone(),
                desk: inner.desk.clone(),
                zone: inner.cfg.zone.clone(),
                cancel: token,
                progress: progress.clone(),
                checkpoint: Checkpoint::new(id, inner.history.clone(), rec.checkpoint.clone()),
            };
            // a runner that panics before handing out its future fails
            // the run like one that panics in it
            let runner = inner.runner.clone();
            let job = def.clone();
            let fut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                runner.run(job, ctx)
            }));
            let mut task = match fut {
                Ok(fut) => tokio::spawn(fut),
                Err(p) => tokio::spawn(async move { std::panic::resume_unwind(p) }),
            };
            let mut tick = tokio::time::interval(inner.cfg.progress_every);
            tick.tick().await;
            let r = loop {
                tokio::select! {
                    r = &mut task => break r,
                    _ = tick.tick() => {
                        let counts = progress.get().counts;
                        if let Err(e) = inner.history.update(id, |r| r.counts = counts.clone()) {
                            warn!(job = def.name, run = id.0, "saving progress: {e}");
                        }
                    }
                }
            };
            drop(guard);
            r.map_err(panic_text)
        }
    };
    let reason = inner
        .lock()
        .jobs
        .get(&def.name)
        .and_then(|j| j.running.as_ref())
        .and_then(|r| r.reason);
    let stopped_as = match reason {
        Some(StopReason::Shutdown) => RunOutcome::Interrupted,
        _ => RunOutcome::Cancelled,
    };
    let now = crate::time::now();
    let (outcome, summary, error) = match result {
        Ok(Ok(s)) => (
            if s.stopped {
                stopped_as
            } else {
                RunOutcome::Ok
            },
            s,
            None,
        ),
        Ok(Err(e)) => (
            RunOutcome::Failed,
            RunSummary::default(),
            Some(error_text(&e)),
        ),
        Err(panic) => (
            RunOutcome::Failed,
            RunSummary::default(),
            Some(format!("the job panicked: {panic}")),
        ),
    };
    let last_progress = progress.get().counts;
    let finished = inner.history.finish(id, |r| {
        r.ended = Some(now);
        r.outcome = outcome;
        // a failed run reports no summary: its counts are its last progress
        r.counts = if error.is_some() {
            last_progress.clone()
        } else {
            summary.counts.clone()
        };
        let mut messages = Vec::new();
        if let Some(e) = &error {
            messages.push(e.clone());
        }
        messages.extend(summary.messages.iter().cloned());
        r.messages.extend(messages);
        r.detail = summary.detail.clone();
        // a finished run needs no checkpoint; a stopped one keeps it
        if outcome != RunOutcome::Interrupted {
            r.checkpoint = None;
        }
    });
    match &error {
        Some(e) => warn!(job = def.name, run = id.0, "run failed: {e}"),
        None => info!(
            job = def.name,
            run = id.0,
            outcome = outcome.as_str(),
            "run ended"
        ),
    }
    if let Err(e) = &finished {
        warn!(job = def.name, run = id.0, "recording the run's end: {e}");
    }
    if def.kind() == JobKind::Recheck {
        match outcome {
            RunOutcome::Ok => {
                if let Err(e) = inner.history.set_deadline_mark(rec.started) {
                    warn!("recording the deadline mark: {e}");
                }
            }
            // not again at once: a failed recheck waits (a busy crawler),
            // a cancelled one was not wanted now
            RunOutcome::Failed | RunOutcome::Cancelled => {
                let retry = jiff::SignedDuration::try_from(inner.cfg.deadline_retry)
                    .unwrap_or(jiff::SignedDuration::from_secs(900));
                inner.lock().deadline_hold = now.checked_add(retry).ok();
            }
            _ => {}
        }
    }
    {
        let mut st = inner.lock();
        if let Some(j) = st.jobs.get_mut(&def.name) {
            j.running = None;
            j.last = Some(LastRun {
                run: id,
                outcome,
                started: rec.started,
                ended: Some(now),
            });
        }
    }
    inner.ended.send_modify(|n| *n += 1);
    evaluate_deadlines(inner.clone());
    inner.wake.notify_one();
}

/// An error with its causes, as one line: `reading seeds file s.txt: No
/// such file or directory (os error 2)`.
fn error_text(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        // transparent layers repeat their source's text
        if !text.ends_with(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn panic_text(e: tokio::task::JoinError) -> String {
    if !e.is_panic() {
        return e.to_string();
    }
    let p = e.into_panic();
    if let Some(s) = p.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = p.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

/// The instant from which a recheck run reads a finding's evidence late
/// enough: pages keep their fetch time to the second, so a fetch in the
/// second of `since` might be stored as earlier than it.
fn fire_at(since: Timestamp) -> Timestamp {
    Timestamp::from_second(since.as_second().saturating_add(1)).unwrap_or(since)
}

/// When the recheck should fire next for the notified findings: the
/// earliest [`fire_at`] of a due finding not covered by the last recheck
/// (`mark`), else the earliest deadline end still ahead.
pub fn next_deadline(
    desk: &Desk,
    zone: &Zone,
    now: Timestamp,
    mark: Option<Timestamp>,
) -> Result<Option<Timestamp>, ReviewError> {
    if !crate::review::recheck::any_notified(desk.store().db())? {
        return Ok(None);
    }
    let listing = desk.list(&Query {
        statuses: vec![Status::Notified],
        ..Query::default()
    })?;
    let mut next: Option<Timestamp> = None;
    let mut keep = |t: Timestamp| next = Some(next.map_or(t, |n: Timestamp| n.min(t)));
    let mut any_due = false;
    for f in &listing.findings {
        let Some(end) = f
            .deadline
            .and_then(|d| crate::review::recheck::deadline_end(d, zone))
        else {
            continue;
        };
        if end > now {
            keep(fire_at(end));
        } else {
            any_due = true;
        }
    }
    if any_due {
        for d in desk.due(now, zone)?.0 {
            let at = fire_at(d.since);
            if mark.is_none_or(|m| at > m) {
                keep(at);
            }
        }
    }
    Ok(next)
}

/// Computes the next deadline fire off the async threads and wakes the
/// timer; asked again while running, it runs once more after.
fn evaluate_deadlines(inner: Arc<Inner>) {
    {
        let mut st = inner.lock();
        if st.evaluating {
            st.evaluate_again = true;
            return;
        }
        st.evaluating = true;
    }
    tokio::spawn(async move {
        loop {
            let i = inner.clone();
            let r = tokio::task::spawn_blocking(move || {
                let mark = i.history.deadline_mark().map_err(|e| e.to_string())?;
                next_deadline(&i.desk, &i.cfg.zone, crate::time::now(), mark)
                    .map_err(|e| e.to_string())
            })
            .await;
            let mut st = inner.lock();
            match r {
                Ok(Ok(next)) => st.deadline_next = next,
                Ok(Err(e)) => warn!("looking at the deadlines: {e}"),
                Err(e) => warn!("looking at the deadlines: {e}"),
            }
            if st.evaluate_again {
                st.evaluate_again = false;
                continue;
            }
            st.evaluating = false;
            break;
        }
        inner.wake.notify_one();
    });
}

/// Longest sleep of the timer: the wall clock is read again at least this
/// often (it may be set while the server runs).
const MAX_SLEEP: Duration = Duration::from_secs(30);

/// The timer task: fires schedules and deadlines, polls deadlines.
async fn timer(inner: Arc<Inner>) {
    let mut next_poll = tokio::time::Instant::now() + inner.cfg.deadline_poll;
    loop {
        let now = crate::time::now();
        let mut fire = Vec::new();
        let mut deadline_jobs = Vec::new();
        let wake_at = {
            let mut st = inner.lock();
            if st.shutting_down {
                return;
            }
            let zone = inner.cfg.zone.clone();
            for j in st.jobs.values_mut() {
                if j.next_fire.is_some_and(|t| t <= now) {
                    fire.push(j.def.name.clone());
                    j.next_fire = j
                        .def
                        .schedule
                        .as_ref()
                        .and_then(|s| s.next_after(now, &zone));
                }
            }
            if effective_deadline(&st).is_some_and(|t| t <= now) {
                st.deadline_next = None;
                st.deadline_hold = None;
                deadline_jobs = st
                    .jobs
                    .values()
                    .filter(|j| j.def.kind() == JobKind::Recheck)
                    .map(|j| j.def.name.clone())
                    .collect();
            }
            st.jobs
                .values()
                .filter_map(|j| j.next_fire)
                .chain(effective_deadline(&st))
                .min()
        };
        for name in fire {
            match start_run(&inner, &name, Trigger::Schedule) {
                Ok(_) => {}
                Err(JobsError::AlreadyRunning { run, .. }) => {
                    info!(
                        job = name,
                        run = run.0,
                        "schedule fired while the job still runs: skipped"
                    )
                }
                Err(e) => warn!(job = name, "scheduled run not started: {e}"),
            }
        }
        for name in deadline_jobs {
            match start_run(&inner, &name, Trigger::Deadline) {
                Ok(_) => {}
                // it will look at the deadlines again when it ends
                Err(JobsError::AlreadyRunning { .. }) => {}
                Err(e) => warn!(job = name, "deadline recheck not started: {e}"),
            }
        }
        if tokio::time::Instant::now() >= next_poll {
            next_poll = tokio::time::Instant::now() + inner.cfg.deadline_poll;
            evaluate_deadlines(inner.clone());
        }
        let mut sleep =
            MAX_SLEEP.min(next_poll.saturating_duration_since(tokio::time::Instant::now()));
        if let Some(at) = wake_at {
            let ms = at.duration_since(crate::time::now()).as_millis().max(0) as u64;
            sleep = sleep.min(Duration::from_millis(ms));
        }
        tokio::select! {
            _ = tokio::time::sleep(sleep) => {}
            _ = inner.wake.notified() => {}
        }
    }
}
