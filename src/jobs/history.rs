//! The run history: every run of every job, in sled.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `job_runs` | run id (u64 BE) | [`RunRecord`] (JSON) |
//! | `job_runs_by_job` | job name ‖ 0 ‖ run id (u64 BE) | empty: a job's runs, oldest first |
//! | `job_active` | run id (u64 BE) | job name: runs started and not finished (running, or stopped by a shutdown or a crash and not yet resumed) |
//! | `job_meta` | `next_run` | the next run id (u64 BE) |
//! | | `deadline_mark` | start of the last recheck that ran to its end (RFC 3339) |
//!
//! A run's record, its index entry and its `job_active` entry are written
//! in one transaction when it starts, and its end (record and `job_active`)
//! in another: after a crash the history says which runs were under way
//! (`job_active`), and [`History::resume`] marks each `interrupted` and
//! starts its successor in one transaction, so a run is resumed once.

use std::sync::Mutex;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use super::def::JobKind;

/// A run's id: increasing over the database's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub u64);

impl RunId {
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(b: &[u8]) -> Option<RunId> {
        Some(RunId(u64::from_be_bytes(b.try_into().ok()?)))
    }
}

impl std::fmt::Display for RunId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for RunId {
    type Err = std::num::ParseIntError;
    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        s.trim().parse().map(RunId)
    }
}

/// How a run ended, or that it has not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RunOutcome {
    Running,
    /// Ran to its end (a crawl with failed pages is still ok: they are
    /// counted in `errors`).
    Ok,
    /// Stopped by an error or a panic (see `messages`).
    Failed,
    /// Stopped on request ([`super::JobsHandle::cancel`]); not resumed.
    Cancelled,
    /// Stopped by a shutdown or a crash; resumed at the next start.
    Interrupted,
}

impl RunOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Running => "running",
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
            RunOutcome::Cancelled => "cancelled",
            RunOutcome::Interrupted => "interrupted",
        }
    }
}

/// Why a run started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "by")]
pub enum Trigger {
    /// The job's cron schedule.
    Schedule,
    /// Asked for ([`super::JobsHandle::run_now`]).
    Manual,
    /// A notified finding's deadline passed.
    Deadline,
    /// Resumes the run `from`, which a shutdown or a crash stopped.
    Resume { from: RunId },
}

/// Counts a run reports while it goes and at its end.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunCounts {
    /// Pages fetched or records read.
    pub pages: u64,
    /// Hits or flagged companies never seen before (new findings).
    pub findings_new: u64,
    /// Hits or flagged companies seen again (findings that existed).
    pub findings_seen: u64,
    /// Errors met (failed fetch attempts, bad lines, …); the run went on.
    pub errors: u64,
}

/// At most this many messages are kept per run.
pub const MAX_MESSAGES: usize = 50;

/// One run of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: RunId,
    pub job: String,
    pub kind: JobKind,
    pub trigger: Trigger,
    pub started: Timestamp,
    /// When it ended; `None` while running, and for a run a crash stopped
    /// (when it stopped is not known).
    pub ended: Option<Timestamp>,
    pub outcome: RunOutcome,
    #[serde(flatten)]
    pub counts: RunCounts,
    /// Errors and warnings worth reading (a failed run's error first).
    #[serde(default)]
    pub messages: Vec<String>,
    /// The run that resumed this one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resumed_by: Option<RunId>,
    /// Where the job got to, for its resumption (the job's own JSON).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<serde_json::Value>,
    /// The job's own report at its end (a crawl summary, a recheck report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<serde_json::Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("run history: record {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("run history: no run {0}")]
    NoRun(RunId),
}

type Result<T> = std::result::Result<T, HistoryError>;

fn txn<T>(r: std::result::Result<T, TransactionError<HistoryError>>) -> Result<T> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => HistoryError::Sled(e),
    })
}

fn abort(e: HistoryError) -> ConflictableTransactionError<HistoryError> {
    ConflictableTransactionError::Abort(e)
}

fn decode(key: &[u8], v: &[u8]) -> Result<RunRecord> {
    serde_json::from_slice(v).map_err(|e| HistoryError::Corrupt {
        key: RunId::from_bytes(key).map_or_else(|| format!("{key:?}"), |id| id.to_string()),
        message: e.to_string(),
    })
}

fn encode(r: &RunRecord) -> Vec<u8> {
    serde_json::to_vec(r).unwrap_or_default()
}

fn by_job_key(job: &str, id: RunId) -> Vec<u8> {
    let mut k = Vec::with_capacity(job.len() + 9);
    k.extend_from_slice(job.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_bytes());
    k
}

const NEXT_RUN: &[u8] = b"next_run";
const DEADLINE_MARK: &[u8] = b"deadline_mark";

/// The run history of one database.
pub struct History {
    runs: sled::Tree,
    by_job: sled::Tree,
    active: sled::Tree,
    meta: sled::Tree,
    /// Serializes read-modify-writes of one record (progress, checkpoint,
    /// end) made by different tasks.
    update: Mutex<()>,
}

impl History {
    pub fn open(db: &sled::Db) -> Result<History> {
        Ok(History {
            runs: db.open_tree("job_runs")?,
            by_job: db.open_tree("job_runs_by_job")?,
            active: db.open_tree("job_active")?,
            meta: db.open_tree("job_meta")?,
            update: Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ()> {
        self.update.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records a new run as started (`running`), with its index entries,
    /// and returns it. With `resumes`, the run it resumes is marked
    /// `interrupted`, leaves `job_active` and hands over its checkpoint in
    /// the same transaction.
    pub fn start(
        &self,
        job: &str,
        kind: JobKind,
        trigger: Trigger,
        at: Timestamp,
    ) -> Result<RunRecord> {
        let _g = self.lock();
        let resumes = match trigger {
            Trigger::Resume { from } => Some(from),
            _ => None,
        };
        let r = (&self.runs, &self.by_job, &self.active, &self.meta).transaction(
            |(runs, by_job, active, meta)| {
                let next = meta
                    .get(NEXT_RUN)?
                    .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
                    .unwrap_or(1);
                let id = RunId(next);
                meta.insert(NEXT_RUN, &(next + 1).to_be_bytes())?;
                let mut checkpoint = None;
                if let Some(old_id) = resumes {
                    let Some(v) = runs.get(old_id.to_bytes())? else {
                        return Err(abort(HistoryError::NoRun(old_id)));
                    };
                    let mut old = decode(&old_id.to_bytes(), &v).map_err(abort)?;
                    if old.outcome == RunOutcome::Running {
                        old.outcome = RunOutcome::Interrupted;
                        old.messages.push(
                            "the server stopped while this run was under way (found at the next start)"
                                .into(),
                        );
                    }
                    old.resumed_by = Some(id);
                    checkpoint = old.checkpoint.clone();
                    runs.insert(&old_id.to_bytes(), encode(&old))?;
                    active.remove(&old_id.to_bytes())?;
                }
                let rec = RunRecord {
                    id,
                    job: job.to_owned(),
                    kind,
                    trigger,
                    started: at,
                    ended: None,
                    outcome: RunOutcome::Running,
                    counts: RunCounts::default(),
                    messages: Vec::new(),
                    resumed_by: None,
                    checkpoint,
                    detail: None,
                };
                runs.insert(&id.to_bytes(), encode(&rec))?;
                by_job.insert(by_job_key(job, id), &[])?;
                active.insert(&id.to_bytes(), job.as_bytes())?;
                Ok(rec)
            },
        );
        txn(r)
    }

    /// Changes a run's record with `f` (progress, checkpoint).
    pub fn update(&self, id: RunId, f: impl Fn(&mut RunRecord)) -> Result<RunRecord> {
        let _g = self.lock();
        let r = self.runs.transaction(|runs| {
            let Some(v) = runs.get(id.to_bytes())? else {
                return Err(abort(HistoryError::NoRun(id)));
            };
            let mut rec = decode(&id.to_bytes(), &v).map_err(abort)?;
            f(&mut rec);
            runs.insert(&id.to_bytes(), encode(&rec))?;
            Ok(rec)
        });
        txn(r)
    }

    /// Records a run's end. An `interrupted` run stays in `job_active`, to
    /// be resumed at the next start; any other outcome leaves it.
    pub fn finish(&self, id: RunId, f: impl Fn(&mut RunRecord)) -> Result<RunRecord> {
        let _g = self.lock();
        let r = (&self.runs, &self.active).transaction(|(runs, active)| {
            let Some(v) = runs.get(id.to_bytes())? else {
                return Err(abort(HistoryError::NoRun(id)));
            };
            let mut rec = decode(&id.to_bytes(), &v).map_err(abort)?;
            f(&mut rec);
            rec.messages.truncate(MAX_MESSAGES);
            runs.insert(&id.to_bytes(), encode(&rec))?;
            if rec.outcome != RunOutcome::Interrupted {
                active.remove(&id.to_bytes())?;
            }
            Ok(rec)
        });
        txn(r)
    }

    pub fn get(&self, id: RunId) -> Result<Option<RunRecord>> {
        self.runs
            .get(id.to_bytes())?
            .map(|v| decode(&id.to_bytes(), &v))
            .transpose()
    }

    /// The latest `limit` runs of `job`, newest first: reads only that
    /// job's index entries and records.
    pub fn runs(&self, job: &str, limit: usize) -> Result<Vec<RunRecord>> {
        let mut prefix = job.as_bytes().to_vec();
        prefix.push(0);
        let mut out = Vec::new();
        for kv in self.by_job.scan_prefix(&prefix).rev() {
            if out.len() >= limit {
                break;
            }
            let (k, _) = kv?;
            let Some(id) = RunId::from_bytes(&k[prefix.len()..]) else {
                continue;
            };
            if let Some(r) = self.get(id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// The latest run of `job`.
    pub fn last(&self, job: &str) -> Result<Option<RunRecord>> {
        Ok(self.runs(job, 1)?.pop())
    }

    /// Runs started and not finished, oldest first: the ones a crash left
    /// `running` and the ones a shutdown left `interrupted`.
    pub fn unfinished(&self) -> Result<Vec<RunRecord>> {
        let mut out = Vec::new();
        for kv in self.active.iter() {
            let (k, _) = kv?;
            let Some(id) = RunId::from_bytes(&k) else {
                continue;
            };
            if let Some(r) = self.get(id)? {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Marks an unfinished run `interrupted` for good (its job is gone from
    /// the configuration, or a later run of it is resumed instead).
    pub fn abandon(&self, id: RunId, why: &str) -> Result<()> {
        self.finish(id, |r| {
            if r.outcome == RunOutcome::Running || r.outcome == RunOutcome::Interrupted {
                r.outcome = RunOutcome::Interrupted;
            }
            r.messages.push(why.to_owned());
        })?;
        self.active.remove(id.to_bytes())?;
        Ok(())
    }

    /// When the last recheck that ran to its end started.
    pub fn deadline_mark(&self) -> Result<Option<Timestamp>> {
        Ok(self
            .meta
            .get(DEADLINE_MARK)?
            .and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok()))
    }

    /// Moves the deadline mark forward to `at` (never back).
    pub fn set_deadline_mark(&self, at: Timestamp) -> Result<()> {
        if self.deadline_mark()?.is_some_and(|m| m >= at) {
            return Ok(());
        }
        self.meta.insert(DEADLINE_MARK, at.to_string().as_bytes())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> (tempfile::TempDir, sled::Db, History) {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().path(dir.path()).open().unwrap();
        let h = History::open(&db).unwrap();
        (dir, db, h)
    }

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_jobs_runs_are_read_through_its_index_newest_first() {
        let (_d, _db, h) = history();
        let at = t("2026-03-01T00:00:00Z");
        let a1 = h.start("a", JobKind::Crawl, Trigger::Manual, at).unwrap();
        let b1 = h
            .start("b", JobKind::Recheck, Trigger::Deadline, at)
            .unwrap();
        let a2 = h.start("a", JobKind::Crawl, Trigger::Schedule, at).unwrap();
        // a name that is a prefix of another reads only its own runs
        let ab = h.start("a-b", JobKind::Crawl, Trigger::Manual, at).unwrap();
        assert!(a1.id < b1.id && b1.id < a2.id);
        let ids = |v: Vec<RunRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(ids(h.runs("a", 10).unwrap()), [a2.id, a1.id]);
        assert_eq!(ids(h.runs("a", 1).unwrap()), [a2.id]);
        assert_eq!(ids(h.runs("a-b", 10).unwrap()), [ab.id]);
        assert_eq!(ids(h.runs("b", 10).unwrap()), [b1.id]);
        assert!(h.runs("c", 10).unwrap().is_empty());
    }

    #[test]
    fn a_finished_run_leaves_the_active_tree_and_an_interrupted_one_stays() {
        let (_d, _db, h) = history();
        let at = t("2026-03-01T00:00:00Z");
        let a = h.start("a", JobKind::Crawl, Trigger::Manual, at).unwrap();
        let b = h.start("b", JobKind::Crawl, Trigger::Manual, at).unwrap();
        let c = h.start("c", JobKind::Crawl, Trigger::Manual, at).unwrap();
        assert_eq!(h.unfinished().unwrap().len(), 3);
        h.finish(a.id, |r| {
            r.outcome = RunOutcome::Ok;
            r.ended = Some(at);
            r.counts.pages = 7;
        })
        .unwrap();
        h.finish(b.id, |r| r.outcome = RunOutcome::Interrupted)
            .unwrap();
        let left: Vec<RunId> = h.unfinished().unwrap().iter().map(|r| r.id).collect();
        assert_eq!(left, [b.id, c.id]);
        let a = h.get(a.id).unwrap().unwrap();
        assert_eq!((a.outcome, a.counts.pages), (RunOutcome::Ok, 7));
    }

    #[test]
    fn resuming_marks_the_old_run_and_hands_over_its_checkpoint_once() {
        let (_d, _db, h) = history();
        let at = t("2026-03-01T00:00:00Z");
        let old = h.start("a", JobKind::Crawl, Trigger::Manual, at).unwrap();
        h.update(old.id, |r| {
            r.checkpoint = Some(serde_json::json!({"generation": 3}))
        })
        .unwrap();
        // the process dies here: `old` is still running
        let new = h
            .start("a", JobKind::Crawl, Trigger::Resume { from: old.id }, at)
            .unwrap();
        assert_eq!(new.checkpoint, Some(serde_json::json!({"generation": 3})));
        let old = h.get(old.id).unwrap().unwrap();
        assert_eq!(old.outcome, RunOutcome::Interrupted);
        assert_eq!(old.resumed_by, Some(new.id));
        let left: Vec<RunId> = h.unfinished().unwrap().iter().map(|r| r.id).collect();
        assert_eq!(left, [new.id]);
    }

    #[test]
    fn the_deadline_mark_only_moves_forward() {
        let (_d, _db, h) = history();
        assert_eq!(h.deadline_mark().unwrap(), None);
        h.set_deadline_mark(t("2026-03-02T00:00:00Z")).unwrap();
        h.set_deadline_mark(t("2026-03-01T00:00:00Z")).unwrap();
        assert_eq!(h.deadline_mark().unwrap(), Some(t("2026-03-02T00:00:00Z")));
    }
}
