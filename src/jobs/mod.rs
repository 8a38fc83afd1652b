//! Scheduled jobs: crawls, registry scans and rechecks that a long-running
//! process (`finscan serve`) runs on cron schedules and when deadlines
//! pass, with a run history in the database.
//!
//! * [`def`]: [`JobDef`] — name, [`JobKind`], [`Schedule`], options — as
//!   the configuration's `jobs` section declares it.
//! * [`schedule`]: cron expressions read in the reader's zone (croner).
//! * [`run`]: what a run is given ([`RunContext`]: the store, the desk, a
//!   cancellation token, a progress sink, a checkpoint) and returns.
//! * [`kinds`]: the kinds as calls into the library's jobs
//!   ([`crate::job`]: crawl, registry scan, registry profile, recheck).
//! * [`history`]: the run history and its sled trees.
//! * [`scheduler`]: [`Scheduler`], the handle the HTTP API and the
//!   server's shutdown use: list, run now, cancel, runs, shutdown.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `job_runs` | run id (u64 BE) | [`RunRecord`] (JSON) |
//! | `job_runs_by_job` | job name ‖ 0 ‖ run id (u64 BE) | empty |
//! | `job_active` | run id (u64 BE) | job name, while the run is unfinished |
//! | `job_meta` | `next_run`, `deadline_mark` | counters (see [`history`]) |
//!
//! This module decides when work runs and keeps what became of it; the
//! work itself is the crawler's, the registry's and the review desk's.
//! It does not parse the configuration file (the server does, embedding
//! [`JobDef`]) nor serve HTTP.

pub mod def;
pub mod history;
pub mod kinds;
pub mod run;
pub mod schedule;
pub mod scheduler;

pub use crate::job::Cancel;
pub use def::{JobDef, JobDefError, JobKind, JobOptions};
pub use history::{RunCounts, RunId, RunOutcome, RunRecord, Trigger};
pub use kinds::Kinds;
pub use run::{Checkpoint, JobError, Progress, ProgressSink, RunContext, RunSummary, Runner};
pub use schedule::{Schedule, ScheduleError};
pub use scheduler::{
    JobStatus, JobsError, LastRun, RunningStatus, Scheduler, SchedulerConfig, ShutdownReport,
};
