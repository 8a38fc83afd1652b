//! Jobs: the work a scheduler runs, each as one library call that the CLI
//! makes too — a crawl ([`crawl`], also of registry pages with a profile),
//! a registry scan of files or folders ([`registry`], over
//! [`crate::registry::pipeline`]) and a recheck of notified findings past
//! their deadline ([`recheck`]).
//!
//! Every job has the same shape:
//!
//! * an options struct that reads from a job's TOML table (`serde`, unknown
//!   keys refused) and holds what the CLI's flags hold, minus printing;
//! * a [`Cancel`] the caller may set at any time: the job stops at its
//!   next checkpoint (between batches of records, between requests), keeps
//!   everything it stored and says so in its report;
//! * a report that is `Serialize`, for a scheduler's run history, with an
//!   [`Outcome`].
//!
//! Nothing here prints: progress and per-record output go through
//! callbacks and sinks that the caller provides. The database is the
//! caller's too (an open handle, never a path), because sled lets one
//! process open a directory once: `finscan serve` owns it for every job.

pub mod crawl;
mod de;
pub mod recheck;
pub mod registry;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::rules::{RuleErrors, RuleSet};

/// What a job runs, as a config file names it: a table named for the
/// kind, holding that kind's options (unknown keys refused, with their
/// line). A registry page profile job is a `crawl` with `profile` set.
///
/// ```toml
/// [[job]]
/// name = "registry-weekly"
/// schedule = "0 3 * * 1"
/// [job.run.registry]
/// inputs = ["/data/registry"]
/// county = "6109"
/// ```
///
/// Externally tagged on purpose: an internally tagged enum (`kind = …`
/// beside the options) or a struct flattened into another makes serde
/// buffer the table, and the TOML reader's errors lose their line.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobSpec {
    Crawl(crawl::CrawlOptions),
    Registry(crate::registry::pipeline::RegistryScanOptions),
    Recheck(recheck::RecheckOptions),
}

/// A request to stop a job, shared between whoever may ask (a scheduler,
/// a signal handler, a test) and the job, which checks it at its
/// checkpoints. Cloning shares the flag.
///
/// A `watch` channel rather than a bare `AtomicBool`: the synchronous
/// registry pipeline reads it like a flag, and the async crawler awaits a
/// change instead of polling (see [`Cancel::subscribe`]).
#[derive(Debug, Clone)]
pub struct Cancel(Arc<watch::Sender<bool>>);

impl Default for Cancel {
    fn default() -> Self {
        Cancel::new()
    }
}

impl Cancel {
    pub fn new() -> Self {
        Cancel(Arc::new(watch::channel(false).0))
    }

    /// Asks the job to stop. Idempotent; never blocks.
    pub fn cancel(&self) {
        self.0.send_replace(true);
    }

    pub fn is_cancelled(&self) -> bool {
        *self.0.borrow()
    }

    /// A receiver whose `changed()` resolves once [`Cancel::cancel`] is
    /// called, and at once when it was called before this (the crawler
    /// waits for a change, so an earlier cancel must count as one).
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        let mut rx = self.0.subscribe();
        if *rx.borrow() {
            rx.mark_changed();
        }
        rx
    }

    /// Resolves once [`Cancel::cancel`] is called (at once if it was).
    pub async fn cancelled(&self) {
        let mut rx = self.0.subscribe();
        // the sender lives as long as `self`: `wait_for` cannot fail here
        let _ = rx.wait_for(|c| *c).await;
    }
}

/// An option with a value a job cannot run with: which option, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct OptionError {
    /// The option's key, as a job's table writes it.
    pub key: &'static str,
    pub message: String,
}

impl OptionError {
    pub(crate) fn new(key: &'static str, message: impl Into<String>) -> Self {
        OptionError {
            key,
            message: message.into(),
        }
    }
}

/// How a job finished, for a run history (the CLI maps it to its exit
/// codes: `cancelled` is "partial", 3).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Ran to the end; nothing found.
    #[default]
    Clean,
    /// Ran to the end and found something.
    Hits,
    /// Ran to the end, but some inputs could not be read (skipped files,
    /// bad rows, failed pages, hosts given up): the report says which.
    Partial,
    /// Stopped by its [`Cancel`] (or a signal) before the end; what it
    /// stored is kept, and running it again completes it.
    Cancelled,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Clean => "clean",
            Outcome::Hits => "hits",
            Outcome::Partial => "partial",
            Outcome::Cancelled => "cancelled",
        }
    }
}

/// Why a job could not run, or stopped. Bad inputs (a file, a row, a page)
/// are not errors: they are counted and listed in the job's report.
#[derive(Debug, thiserror::Error)]
pub enum JobError {
    /// A bad option value, named.
    #[error("{0}")]
    Options(String),
    /// A bad option value, with its key.
    #[error(transparent)]
    Option(#[from] OptionError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Registry(#[from] crate::registry::pipeline::RegistryScanError),
    #[error(transparent)]
    RegistryStore(#[from] crate::registry::store::StoreError),
    #[error(transparent)]
    Crawl(#[from] crate::crawl::CrawlError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The review desk could not be opened on the database.
    #[error("cannot open database {} (is another finscan process using it?)", dir.display())]
    Desk {
        dir: PathBuf,
        #[source]
        source: crate::review::ReviewError,
    },
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    /// A recheck would go on with an unfinished crawl's queue.
    #[error(
        "{queued} URL(s) are still queued by an unfinished crawl in {}: finish it first (rerun that `finscan crawl`), then recheck; nothing was fetched or decided",
        dir.display()
    )]
    Unfinished { queued: u64, dir: PathBuf },
    #[error("reading seeds file {}", path.display())]
    Seeds {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("no valid seed URL in {seeds} and nothing left to resume")]
    NoSeeds { seeds: String },
    #[error("{key} {pattern:?} is not a valid regex")]
    Regex {
        key: &'static str,
        pattern: String,
        #[source]
        source: regex::Error,
    },
    #[error(transparent)]
    Profile(#[from] crate::registry::profile::ProfileError),
    #[error("a blocking task of the job failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// Rules that could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("rules in {} are invalid", dir.display())]
    Dir {
        dir: PathBuf,
        #[source]
        source: RuleErrors,
    },
    #[error("bundled rules are invalid")]
    Bundled(#[source] RuleErrors),
}

/// The rules in `dir` (`*.toml`), or the ones built into finscan.
pub fn load_rules(dir: Option<&Path>) -> Result<RuleSet, RulesError> {
    match dir {
        Some(d) => RuleSet::load_dir(d).map_err(|source| RulesError::Dir {
            dir: d.to_owned(),
            source,
        }),
        None => RuleSet::bundled().map_err(RulesError::Bundled),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancel_is_seen_by_clones_and_by_receivers_made_before_or_after() {
        let cancel = Cancel::new();
        let early = cancel.subscribe();
        let shared = cancel.clone();
        assert!(!cancel.is_cancelled());
        shared.cancel();
        assert!(cancel.is_cancelled());
        assert!(*early.borrow());
        let late = cancel.subscribe();
        assert!(*late.borrow());
        assert!(
            late.has_changed().unwrap(),
            "a cancel before subscribing is a change"
        );
    }

    #[tokio::test]
    async fn cancelled_resolves_for_a_cancel_before_or_after_the_wait() {
        let before = Cancel::new();
        before.cancel();
        before.cancelled().await;
        let after = Cancel::new();
        let waiter = tokio::spawn({
            let c = after.clone();
            async move { c.cancelled().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        after.cancel();
        tokio::time::timeout(std::time::Duration::from_secs(30), waiter)
            .await
            .expect("the wait ends")
            .unwrap();
    }

    #[test]
    fn a_job_table_names_its_kind_and_unknown_keys_are_refused_with_their_line() {
        #[derive(Debug, Deserialize)]
        struct Job {
            #[allow(dead_code)]
            name: String,
            run: JobSpec,
        }
        let job: Job =
            toml::from_str("name = \"r\"\n[run.registry]\ninputs = [\"/data\"]\n").unwrap();
        assert!(matches!(job.run, JobSpec::Registry(o) if o.inputs == [Path::new("/data")]));
        let job: Job = toml::from_str("name = \"r\"\n[run.recheck]\n").unwrap();
        assert_eq!(
            job.run,
            JobSpec::Recheck(recheck::RecheckOptions::default())
        );
        let e = toml::from_str::<Job>("name = \"c\"\n[run.crawl]\nurls = []\nmax_pgaes = 5\n")
            .unwrap_err();
        assert!(e.to_string().contains("max_pgaes"), "{e}");
        assert!(e.to_string().contains("line 4"), "{e}");
        let e = toml::from_str::<Job>("name = \"i\"\n[run.index]\n").unwrap_err();
        assert!(e.to_string().contains("index"), "{e}");
        assert!(e.to_string().contains("line 2"), "{e}");
    }

    #[test]
    fn a_bad_rules_dir_is_named_in_the_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bad.toml"), "[[rule]]\nid = 1\n").unwrap();
        let e = load_rules(Some(dir.path())).unwrap_err();
        assert!(
            e.to_string()
                .starts_with(&format!("rules in {} are invalid", dir.path().display())),
            "{e}"
        );
        assert!(std::error::Error::source(&e).is_some());
    }
}
