//! What a run is handed and what it hands back: [`RunContext`] in,
//! [`RunSummary`] or [`JobError`] out, through a [`Runner`].

use std::sync::{Arc, Mutex};

use futures_util::future::BoxFuture;

use super::def::JobDef;
use super::history::{History, RunCounts, RunId, Trigger};
use crate::job::Cancel;
use crate::review::Desk;
use crate::store::Store;
use crate::time::Zone;

/// Runs jobs. The scheduler calls [`Runner::run`] once per run, on a task
/// of its own (a panic fails that run and nothing else). [`super::Kinds`]
/// runs the kinds finscan has; a server could wrap it to add its own.
pub trait Runner: Send + Sync + 'static {
    fn run(
        &self,
        job: Arc<JobDef>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<RunSummary, JobError>>;
}

/// Everything a run may use.
#[derive(Clone)]
pub struct RunContext {
    pub run: RunId,
    pub trigger: Trigger,
    /// The database (pages, frontier, registry trees).
    pub store: Store,
    /// The review desk over the same database: one per process, shared
    /// with whoever else reviews (the HTTP API).
    pub desk: Arc<Desk>,
    /// The zone deadlines and schedules are read in.
    pub zone: Zone,
    /// Asked to stop: a run checks it at its own safe points (a crawl
    /// finishes the requests in flight, commits them and returns) and then
    /// reports `stopped` in its summary. The library jobs' own [`Cancel`].
    pub cancel: Cancel,
    pub progress: ProgressSink,
    pub checkpoint: Checkpoint,
}

/// Where a run reports how far it got: shown by [`super::JobsHandle::list`]
/// while it runs, and saved in its record every few seconds so that a
/// crash keeps the counts up to then.
#[derive(Clone, Default)]
pub struct ProgressSink(Arc<Mutex<Progress>>);

/// A running job's counts and latest activity.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct Progress {
    #[serde(flatten)]
    pub counts: RunCounts,
    /// What it is doing (the last URL fetched, …).
    pub activity: String,
}

impl ProgressSink {
    pub fn set(&self, p: Progress) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = p;
    }

    pub fn get(&self) -> Progress {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Where a run keeps what it needs to be resumed: written into its record
/// at once (a crash right after keeps it) and handed to the run that
/// resumes it.
#[derive(Clone)]
pub struct Checkpoint {
    run: RunId,
    history: Arc<History>,
    resumed: Option<serde_json::Value>,
}

impl Checkpoint {
    pub(crate) fn new(
        run: RunId,
        history: Arc<History>,
        resumed: Option<serde_json::Value>,
    ) -> Self {
        Checkpoint {
            run,
            history,
            resumed,
        }
    }

    /// The checkpoint the interrupted run left, when this run resumes one.
    pub fn resumed(&self) -> Option<&serde_json::Value> {
        self.resumed.as_ref()
    }

    /// Saves `value` as this run's checkpoint (synchronously: a sled write).
    pub fn save(&self, value: serde_json::Value) -> Result<(), JobError> {
        self.history
            .update(self.run, |r| r.checkpoint = Some(value.clone()))
            .map_err(|e| JobError::History(e.to_string()))?;
        Ok(())
    }
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RunSummary {
    pub counts: RunCounts,
    /// Errors and warnings worth reading in the history.
    pub messages: Vec<String>,
    /// It stopped early because it was asked to, leaving its work resumable.
    pub stopped: bool,
    /// The job's own report (a crawl summary, a recheck report).
    pub detail: Option<serde_json::Value>,
}

/// Why a run failed.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// The job's options cannot run (a file missing or unreadable, no seed).
    #[error("{0}")]
    Input(String),
    #[error("crawl: {0}")]
    Crawl(#[from] crate::crawl::CrawlError),
    #[error("review: {0}")]
    Review(#[from] crate::review::ReviewError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("run history: {0}")]
    History(String),
    /// The library job could not run, or stopped (bad options, rules,
    /// seeds, an unfinished crawl before a recheck, …).
    #[error(transparent)]
    Job(#[from] crate::job::JobError),
    #[error("worker: {0}")]
    Join(#[from] tokio::task::JoinError),
}
