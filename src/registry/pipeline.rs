//! The registry scan as one library call: read record files (CSV, JSON
//! Lines, spreadsheets; folders of them; standard input), scan every
//! record, store the flagged companies, count by rank, word and county,
//! and return a [`RegistryScanReport`]. `finscan registry scan` and a
//! scheduled job make the same call ([`RegistryScan::run`]); the CLI only
//! parses flags and prints what the [`RecordSink`] is handed.
//!
//! Why threads: scanning a record costs several times reading it, and a
//! registry export is one large file, so the work is split by batch, not
//! by file. The calling thread reads records in batches of [`BATCH`],
//! workers scan them, one collector thread counts them and hands them to
//! the sink in file order, and one storing thread writes them. Channels
//! are bounded and a fixed number of batches is recycled, so memory stays
//! flat: at most `2 × threads + 4` batches exist (`2 × threads + 2` when
//! storing).
//!
//! Cancellation is checked before each batch is read: what was read is
//! still scanned, counted, handed to the sink and stored, the store is
//! flushed, and the report says `cancelled`. Storing is keyed by company
//! (see [`super::store`]), so running the same scan again completes it
//! without a company stored twice.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;
use serde::{Deserialize, Serialize};

use super::allow::AllowList;
use super::division::Divisions;
use super::import::{self, Column, ImportOptions, Record, RowError};
use super::profile::{self, Profile};
use super::store::{self, RegistryStore, Saved};
use super::{CodeStatus, Rank, RecordScan, RecordScanner};
use crate::job::{Cancel, Outcome, RulesError};
use crate::rules::RuleSet;

/// Records per batch.
pub const BATCH: usize = 1024;
/// Input errors listed in a report (all are counted).
pub const MAX_LISTED_ERRORS: usize = 1000;
/// Most urgent findings kept in a report unless the options say otherwise.
pub const DEFAULT_KEEP_FINDINGS: usize = 100;
/// File name endings a folder is read for (other files in it are left alone).
pub const RECORD_EXTENSIONS: &[&str] = &[
    "csv", "tsv", "txt", "jsonl", "ndjson", "json", "xlsx", "xlsm", "xls", "xlsb", "ods",
];

/// What a registry scan reads and how: the flags of `finscan registry scan`
/// that are not about printing, and a job's table in `finscan.toml`:
///
/// ```toml
/// inputs = ["/data/registry/2024-06"]   # files or folders; "-" is stdin
/// county = "6109"
/// allowlist = "/etc/finscan/licensed.txt"
/// columns = ["name=主体名称"]
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryScanOptions {
    /// Record files, or folders read for their record files (by name, see
    /// [`RECORD_EXTENSIONS`], in sub-folders too, in path order; hidden
    /// files and office lock files `~$…` are left alone); `-` reads
    /// standard input.
    pub inputs: Vec<PathBuf>,
    /// Only records whose division code starts with these digits.
    #[serde(deserialize_with = "de_county")]
    pub county: Option<String>,
    /// Unusual headers mapped to fields: `FIELD=HEADER`.
    #[serde(deserialize_with = "de_columns")]
    pub columns: Vec<String>,
    /// Read every file as `csv`, `jsonl` or `xlsx` instead of guessing
    /// from its name.
    #[serde(deserialize_with = "de_format")]
    pub format: Option<String>,
    /// Text encoding of CSV/JSONL files (e.g. `gbk`) instead of detecting it.
    #[serde(deserialize_with = "de_encoding")]
    pub encoding: Option<String>,
    /// Spreadsheet sheet to read (default: the first).
    pub sheet: Option<String>,
    /// Scanning threads (default: the number of cores, at most 8).
    pub threads: Option<usize>,
    /// Allow-list of licensed institutions.
    pub allowlist: Option<PathBuf>,
    /// Use the default list of licensed institutions and activities
    /// (`wordlists/licensed.toml`); false: only the allow-list exempts.
    pub licensed: bool,
    /// Directory of `*.toml` rule files (default: the bundled rules).
    pub rules: Option<PathBuf>,
    /// How many of the most urgent findings the report lists.
    pub keep_findings: usize,
}

impl Default for RegistryScanOptions {
    fn default() -> Self {
        RegistryScanOptions {
            inputs: Vec::new(),
            county: None,
            columns: Vec::new(),
            format: None,
            encoding: None,
            sheet: None,
            threads: None,
            allowlist: None,
            licensed: true,
            rules: None,
            keep_findings: DEFAULT_KEEP_FINDINGS,
        }
    }
}

/// Reads one option of a job's table and checks it as
/// [`RegistryScan::new`] would, so that a bad value is an error at its
/// line and key.
fn checked<'de, D, T>(d: D, put: fn(&mut RegistryScanOptions, T)) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de> + Clone,
{
    let v = T::deserialize(d)?;
    let mut opts = RegistryScanOptions::default();
    put(&mut opts, v.clone());
    RegistryScan::check(&opts).map_err(serde::de::Error::custom)?;
    Ok(v)
}

fn de_county<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |o, v| o.county = v)
}

fn de_columns<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    checked(d, |o, v| o.columns = v)
}

fn de_format<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |o, v| o.format = v)
}

fn de_encoding<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    checked(d, |o, v| o.encoding = v)
}

/// Why a registry scan could not run (or stopped): bad options, unreadable
/// rules or allow-list, the database, or the sink. Bad input files and rows
/// are not errors: they are counted and listed in the report.
#[derive(Debug, thiserror::Error)]
pub enum RegistryScanError {
    /// A bad `FIELD=HEADER` column mapping.
    #[error("{0}")]
    Column(String),
    #[error("unknown format {0:?} (expected csv, jsonl or xlsx)")]
    Format(String),
    #[error("unknown encoding {0:?}")]
    Encoding(String),
    #[error("county {0:?}: expected the first digits of a division code (e.g. 6109)")]
    County(String),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("cannot read allow-list {}", path.display())]
    AllowList {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// The sink failed (the CLI: stdout or a temporary file).
    #[error(transparent)]
    Sink(#[from] io::Error),
    #[error("{0} thread panicked")]
    Panicked(&'static str),
}

/// Where a scan's records and problems go as they are read, in file order,
/// from the collector thread. Every method has a default that does nothing,
/// so a scheduler that only wants the report passes [`NoSink`].
///
/// An error returned by a method stops the scan (what was stored is kept)
/// and is returned by [`RegistryScan::run`].
pub trait RecordSink: Send {
    /// A warning about the options (an allow-list line that is not used).
    fn warning(&mut self, _message: &str) {}
    /// A file (or folder) that could not be read at all: skipped.
    fn file_failed(&mut self, _source: &str, _message: &str) -> io::Result<()> {
        Ok(())
    }
    /// A file was opened; `missing` lists the columns it lacks.
    fn file_opened(&mut self, _source: &str, _missing: &[Column]) -> io::Result<()> {
        Ok(())
    }
    /// A row that could not be read (line 0: the file's, not a row's).
    fn row_failed(&mut self, _source: &str, _error: &RowError) -> io::Result<()> {
        Ok(())
    }
    /// A problem a registry page profile found on a saved page (counted as
    /// a row error at line 0; saved pages only).
    fn page_problem(&mut self, _source: &str, _message: &str) -> io::Result<()> {
        Ok(())
    }
    /// A record read and scanned (records outside the county are not).
    fn record(&mut self, _source: &str, _rec: &Record, _scan: &RecordScan) -> io::Result<()> {
        Ok(())
    }
    /// A link a registry page profile follows (saved pages only).
    fn link(&mut self, _source: &str, _url: &url::Url) {}
    /// After each batch: how far the scan is.
    fn progress(&mut self, _progress: &ScanProgress) {}
}

/// A sink that drops everything: the report is all the caller wants.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoSink;

impl RecordSink for NoSink {}

/// How far a scan is, after each batch.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct ScanProgress {
    pub files: u64,
    pub records: u64,
    pub flagged: u64,
    pub row_errors: u64,
}

/// Flagged records by [`Rank`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RankCounts {
    #[serde(rename = "name+activity")]
    pub name_and_activity: u64,
    pub name: u64,
    pub activity: u64,
    #[serde(rename = "scope-word")]
    pub scope_word: u64,
}

impl RankCounts {
    pub fn get(&self, rank: Rank) -> u64 {
        match rank {
            Rank::NameAndActivity => self.name_and_activity,
            Rank::Name => self.name,
            Rank::Activity => self.activity,
            Rank::ScopeWord => self.scope_word,
        }
    }

    fn add(&mut self, rank: Rank) {
        *match rank {
            Rank::NameAndActivity => &mut self.name_and_activity,
            Rank::Name => &mut self.name,
            Rank::Activity => &mut self.activity,
            Rank::ScopeWord => &mut self.scope_word,
        } += 1;
    }
}

/// Flagged records with a hit of one rule's term.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TermCount {
    pub rule: String,
    pub term: String,
    pub records: u64,
}

/// One county's (division's) line of the per-county summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountySummary {
    /// The six-digit division code; `None` for records without a usable one.
    pub code: Option<String>,
    /// Its name as the division table has it (`陕西省安康市汉滨区`).
    pub label: String,
    pub scanned: u64,
    pub flagged: u64,
    pub to_verify: u64,
    pub invalid_codes: u64,
}

impl CountySummary {
    /// Flagged records, licences to verify or invalid codes.
    pub fn has_findings(&self) -> bool {
        self.flagged > 0 || self.to_verify > 0 || self.invalid_codes > 0
    }
}

/// A flagged record of the report's ranked list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RankedFinding {
    pub source: String,
    pub line: u64,
    pub name: String,
    /// The valid credit code or registration number, or the code as written.
    pub code: Option<String>,
    /// The county (division code) attributed, possibly tentatively.
    pub division: Option<String>,
    #[serde(serialize_with = "rank_str")]
    pub rank: Rank,
    /// `field:term` of each hit.
    pub hits: Vec<String>,
}

fn rank_str<S: serde::Serializer>(r: &Rank, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

/// A problem with the input, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InputError {
    /// The file (`-` for stdin), folder or page.
    pub source: String,
    /// The line (row) of the file; `None` when the whole file was skipped.
    pub line: Option<u64>,
    pub message: String,
}

/// What a registry scan did: counts, per-county summary, the words that
/// flagged records, the most urgent findings and the input errors.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RegistryScanReport {
    /// Files read (opened), and files skipped as unreadable.
    pub files: u64,
    pub files_failed: u64,
    /// Records scanned (inside the county, when one is given).
    pub records: u64,
    pub flagged: u64,
    pub by_rank: RankCounts,
    pub allowlisted: u64,
    /// Exempt by the default list of licensed institutions (by name).
    pub licensed: u64,
    /// Not flagged, with licensed activities to verify.
    pub to_verify: u64,
    pub invalid_codes: u64,
    pub missing_codes: u64,
    /// Valid old registration numbers (15 digits) in the credit-code column.
    pub registration_numbers: u64,
    /// Records outside the county asked for.
    pub other_counties: u64,
    pub row_errors: u64,
    pub records_with_problems: u64,
    /// Results were stored.
    pub stored: bool,
    pub stored_new: u64,
    pub stored_updated: u64,
    /// Flagged records by rule and term, most first (then by rule and term).
    pub terms: Vec<TermCount>,
    /// Every county seen, most flagged first (then by code; records
    /// without a division last).
    pub counties: Vec<CountySummary>,
    /// The most urgent flagged records (rank, then file order), at most
    /// the options' `keep_findings`.
    pub findings: Vec<RankedFinding>,
    /// Skipped files, bad rows and records with problems, in file order:
    /// the first [`MAX_LISTED_ERRORS`].
    pub errors: Vec<InputError>,
    /// Errors beyond those listed.
    pub errors_not_listed: u64,
    /// Stopped by its [`Cancel`] before all input was read.
    pub cancelled: bool,
    pub outcome: Outcome,
}

impl RegistryScanReport {
    fn outcome(&self) -> Outcome {
        if self.cancelled {
            Outcome::Cancelled
        } else if self.files_failed > 0 || self.row_errors > 0 || self.records_with_problems > 0 {
            Outcome::Partial
        } else if self.flagged > 0 {
            Outcome::Hits
        } else {
            Outcome::Clean
        }
    }

    pub fn progress(&self) -> ScanProgress {
        ScanProgress {
            files: self.files,
            records: self.records,
            flagged: self.flagged,
            row_errors: self.row_errors,
        }
    }
}

/// The record scanner of `rules` with the allow-list at `allowlist` and,
/// unless `licensed` is false, the default list of licensed institutions.
/// Also returns the allow-list's warnings (lines that cannot match).
pub fn record_scanner(
    rules: &RuleSet,
    allowlist: Option<&Path>,
    licensed: bool,
) -> Result<(RecordScanner, Vec<String>), RegistryScanError> {
    let (allow, warnings) = match allowlist {
        Some(p) => {
            let (list, warnings) =
                AllowList::load(p).map_err(|source| RegistryScanError::AllowList {
                    path: p.to_owned(),
                    source,
                })?;
            (list, warnings.iter().map(ToString::to_string).collect())
        }
        None => (AllowList::default(), Vec::new()),
    };
    let scanner = RecordScanner::new(rules, allow);
    let scanner = if licensed {
        scanner
    } else {
        scanner.without_licensed()
    };
    Ok((scanner, warnings))
}

/// A registry scan ready to run: options checked, rules compiled,
/// allow-list read. [`RegistryScan::run`] may be called more than once.
#[derive(Debug)]
pub struct RegistryScan {
    inputs: Vec<PathBuf>,
    import: ImportOptions,
    scanner: RecordScanner,
    county: Option<String>,
    threads: usize,
    keep_findings: usize,
    warnings: Vec<String>,
}

impl RegistryScan {
    /// Checks the options, loads the rules they name and builds the scanner.
    pub fn new(opts: &RegistryScanOptions) -> Result<Self, RegistryScanError> {
        Self::check(opts)?;
        let rules = crate::job::load_rules(opts.rules.as_deref())?;
        Self::with_rules(opts, &rules)
    }

    /// [`RegistryScan::new`] with rules loaded by the caller (`opts.rules`
    /// is not read).
    pub fn with_rules(
        opts: &RegistryScanOptions,
        rules: &RuleSet,
    ) -> Result<Self, RegistryScanError> {
        let import = Self::check(opts)?;
        if crate::scan::checks_word_boundaries(rules, &RecordScanner::FIELDS) {
            // loaded while the scanner is built, the database opened and the
            // first records read, rather than by the first worker to need it
            // with the others waiting; detached, so a run that never needs it
            // (a small or unreadable file) does not wait for it to end
            std::thread::spawn(crate::scan::context::load_segmenter);
        }
        let (scanner, warnings) = record_scanner(rules, opts.allowlist.as_deref(), opts.licensed)?;
        let threads = opts
            .threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
        Ok(RegistryScan {
            inputs: opts.inputs.clone(),
            import,
            scanner,
            county: opts.county.clone(),
            threads: threads.max(1),
            keep_findings: opts.keep_findings,
            warnings,
        })
    }

    /// The options that need no file: column mappings, format, encoding,
    /// county.
    fn check(opts: &RegistryScanOptions) -> Result<ImportOptions, RegistryScanError> {
        let mut import = ImportOptions {
            format: match &opts.format {
                Some(f) => Some(
                    import::Format::parse(f).ok_or_else(|| RegistryScanError::Format(f.clone()))?,
                ),
                None => None,
            },
            encoding: opts.encoding.clone(),
            sheet: opts.sheet.clone(),
            ..ImportOptions::default()
        };
        for spec in &opts.columns {
            import
                .columns
                .add(spec)
                .map_err(RegistryScanError::Column)?;
        }
        if let Some(label) = &opts.encoding
            && encoding_rs::Encoding::for_label(label.as_bytes()).is_none()
        {
            return Err(RegistryScanError::Encoding(label.clone()));
        }
        if let Some(c) = &opts.county
            && !(!c.is_empty() && c.len() <= 6 && c.bytes().all(|b| b.is_ascii_digit()))
        {
            return Err(RegistryScanError::County(c.clone()));
        }
        Ok(import)
    }

    /// Warnings about the options (the allow-list's), for the caller to show.
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    pub fn scanner(&self) -> &RecordScanner {
        &self.scanner
    }

    /// Reads, scans and (with `store`) stores every input; hands each
    /// record and problem to `sink` in file order. Stops early when
    /// `cancel` is set (see the module doc). The store is flushed before
    /// this returns, also after an error of the sink.
    pub fn run(
        &self,
        store: Option<&mut RegistryStore>,
        sink: &mut dyn RecordSink,
        cancel: &Cancel,
    ) -> Result<RegistryScanReport, RegistryScanError> {
        let mut tally = Tally::new(store.is_some(), self.keep_findings);
        let threads = self.threads;
        let (work_tx, work_rx) = sync_channel::<(u64, Msg)>(threads * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<(u64, Msg)>(threads * 2);
        // storing holds the index (or its fingerprints) in memory: two
        // batches fewer in flight keep the peak where it was without
        let max_batches = threads * 2 + if store.is_some() { 2 } else { 4 };
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<Slot>>(max_batches);
        let (store_tx, store_rx) = sync_channel::<Batch>(2);
        let storing = store.is_some();
        let scanner = &self.scanner;
        let county = self.county.as_deref();
        std::thread::scope(|scope| {
            for _ in 0..threads {
                let rx = Arc::clone(&work_rx);
                let tx = done_tx.clone();
                scope.spawn(move || worker(scanner, county, &rx, &tx, storing));
            }
            // only the workers hold the work channel's receiving end: when
            // they stop (the collector failed), the reader's sends fail
            // instead of blocking on a full channel
            drop(work_rx);
            drop(done_tx);
            let storer = store.map(|store| {
                let recycle = recycle_tx.clone();
                scope.spawn(move || store_batches(store, &store_rx, &recycle))
            });
            let store_tx = storer.is_some().then_some(store_tx);
            let collector = scope.spawn(move || -> Result<Tally, RegistryScanError> {
                // the storing thread ends when this sender is dropped
                collect(&mut tally, sink, &done_rx, &recycle_tx, store_tx.as_ref())?;
                Ok(tally)
            });
            let cancelled = read(
                &self.inputs,
                &self.import,
                &work_tx,
                &recycle_rx,
                max_batches,
                cancel,
            );
            drop(work_tx);
            let collected = collector
                .join()
                .map_err(|_| RegistryScanError::Panicked("collector"));
            // the storing thread is joined whatever the collector did, so
            // that what reached it is flushed
            let stored =
                storer.map(|s| s.join().map_err(|_| RegistryScanError::Panicked("storing")));
            let mut tally = collected??;
            if let Some(stored) = stored {
                let (new, updated) = stored??;
                tally.report.stored_new += new;
                tally.report.stored_updated += updated;
            }
            tally.report.cancelled = cancelled;
            Ok(tally.finish())
        })
    }

    /// Reads the records of registry pages saved to files, with the site
    /// `profile` (pages fetched from `url`), and scans and stores them as
    /// [`RegistryScan::run`] does records of a file. This scan's inputs are
    /// not read. Cancellation is checked between pages.
    pub fn extract_pages(
        &self,
        profile: &Profile,
        url: &url::Url,
        pages: &[PathBuf],
        mut store: Option<&mut RegistryStore>,
        sink: &mut dyn RecordSink,
        cancel: &Cancel,
    ) -> Result<RegistryScanReport, RegistryScanError> {
        let mut tally = Tally::new(store.is_some(), self.keep_findings);
        for path in pages {
            if cancel.is_cancelled() {
                tally.report.cancelled = true;
                break;
            }
            let source = path.display().to_string();
            let raw = match std::fs::read(path) {
                Ok(r) => r,
                Err(e) => {
                    tally.file_failed(&source, &e.to_string());
                    sink.file_failed(&source, &e.to_string())?;
                    continue;
                }
            };
            let doc = crate::text::decode::decode(&raw, None);
            let ex = profile::extract_records(profile, url, &doc.text);
            tally.report.files += 1;
            for p in &ex.problems {
                let e = RowError {
                    line: 0,
                    message: p.clone(),
                };
                tally.row_failed(&source, &e);
                sink.page_problem(&source, p)?;
            }
            for rec in &ex.records {
                let scan = self.scanner.scan(rec);
                tally.record(&source, rec, &scan);
                if let Some(store) = store.as_deref_mut() {
                    match store.save(&source, rec, &scan)? {
                        Saved::New => tally.report.stored_new += 1,
                        Saved::Updated => tally.report.stored_updated += 1,
                        Saved::Skipped => {}
                    }
                }
                sink.record(&source, rec, &scan)?;
            }
            for l in &ex.links {
                sink.link(&source, l);
            }
            sink.progress(&tally.report.progress());
        }
        if let Some(store) = store {
            store.flush()?;
        }
        Ok(tally.finish())
    }
}

/// [`RegistryScan::new`], its warnings to `sink`, then [`RegistryScan::run`]:
/// the whole scan in one call.
pub fn scan_registry(
    opts: &RegistryScanOptions,
    store: Option<&mut RegistryStore>,
    sink: &mut dyn RecordSink,
    cancel: &Cancel,
) -> Result<RegistryScanReport, RegistryScanError> {
    let scan = RegistryScan::new(opts)?;
    for w in scan.warnings() {
        sink.warning(w);
    }
    scan.run(store, sink, cancel)
}

// ── the pipeline's threads ───────────────────────────────────────────────

/// A record slot: the record read, or why its row could not be read.
#[derive(Default)]
struct Slot {
    rec: Record,
    err: Option<RowError>,
}

/// What flows from the reader to the collector, in order.
enum Msg {
    Records {
        source: Arc<str>,
        slots: Vec<Slot>,
        len: usize,
        scans: Vec<Option<RecordScan>>,
        /// Each record's key fingerprint, when results are stored.
        fps: Vec<u64>,
    },
    FileFailed(String, String),
    FileOpened {
        source: Arc<str>,
        missing: Vec<Column>,
    },
}

/// The files an input names: itself, or a folder's record files.
fn expand(input: &Path) -> Result<Vec<PathBuf>, io::Error> {
    if import::is_stdin(input) || !input.is_dir() {
        return Ok(vec![input.to_owned()]);
    }
    let mut files = Vec::new();
    let mut stack = vec![input.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name.starts_with("~$") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path
                .extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| RECORD_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
            {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Reads every input into batches; never fails (problems travel as
/// messages). Returns whether it stopped because `cancel` was set.
fn read(
    inputs: &[PathBuf],
    opts: &ImportOptions,
    tx: &SyncSender<(u64, Msg)>,
    recycle: &Receiver<Vec<Slot>>,
    max_batches: usize,
    cancel: &Cancel,
) -> bool {
    let mut seq = 0u64;
    let mut allocated = 0usize;
    let mut send = |msg: Msg| {
        let ok = tx.send((seq, msg)).is_ok();
        seq += 1;
        ok
    };
    for input in inputs {
        let files = match expand(input) {
            Ok(f) => f,
            Err(e) => {
                let source = input.display().to_string();
                if !send(Msg::FileFailed(source.clone(), format!("{source}: {e}"))) {
                    return false;
                }
                continue;
            }
        };
        for path in files {
            if cancel.is_cancelled() {
                return true;
            }
            let source: Arc<str> = Arc::from(path.display().to_string());
            let mut records = match import::open(&path, opts) {
                Ok(r) => r,
                Err(e) => {
                    if !send(Msg::FileFailed(source.to_string(), e.to_string())) {
                        return false;
                    }
                    continue;
                }
            };
            let missing = records.layout.missing();
            if !send(Msg::FileOpened {
                source: Arc::clone(&source),
                missing,
            }) {
                return false;
            }
            loop {
                if cancel.is_cancelled() {
                    return true;
                }
                // at most `max_batches` batches exist: when all are in
                // flight, wait for the collector to hand one back
                let mut slots = match recycle.try_recv() {
                    Ok(s) => s,
                    Err(_) if allocated < max_batches => {
                        allocated += 1;
                        Vec::new()
                    }
                    Err(_) => match recycle.recv() {
                        Ok(s) => s,
                        Err(_) => return false,
                    },
                };
                slots.resize_with(BATCH, Slot::default);
                let mut len = 0;
                while len < BATCH {
                    let slot = &mut slots[len];
                    match records.read_into(&mut slot.rec) {
                        None => break,
                        Some(Ok(())) => slot.err = None,
                        Some(Err(e)) => slot.err = Some(e),
                    }
                    len += 1;
                }
                if len > 0
                    && !send(Msg::Records {
                        source: Arc::clone(&source),
                        slots,
                        len,
                        scans: Vec::new(),
                        fps: Vec::new(),
                    })
                {
                    return false;
                }
                if len < BATCH {
                    break;
                }
            }
        }
    }
    false
}

/// Scans batches; when results are stored, also fingerprints each
/// record's key (here, in parallel, rather than on the storing thread).
fn worker(
    scanner: &RecordScanner,
    county: Option<&str>,
    rx: &Mutex<Receiver<(u64, Msg)>>,
    tx: &SyncSender<(u64, Msg)>,
    storing: bool,
) {
    loop {
        let next = match rx.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        let Ok((seq, mut msg)) = next else { return };
        if let Msg::Records {
            slots,
            len,
            scans,
            fps,
            ..
        } = &mut msg
        {
            scans.clear();
            // a record outside the county is no scan: not counted, stored
            // or handed to the sink (the collector counts it apart)
            scans.extend(slots[..*len].iter().map(|s| {
                s.err
                    .is_none()
                    .then(|| scanner.scan(&s.rec))
                    .filter(|scan| {
                        county.is_none_or(|c| {
                            scan.division
                                .as_ref()
                                .is_some_and(|d| d.code.starts_with(c))
                        })
                    })
            }));
            fps.clear();
            if storing {
                fps.extend(slots[..*len].iter().zip(scans.iter()).map(|(s, scan)| {
                    scan.as_ref()
                        .map_or(0, |scan| store::key_fingerprint(&s.rec, &scan.code))
                }));
            }
        }
        if tx.send((seq, msg)).is_err() {
            return;
        }
    }
}

/// A scanned batch on its way to the storing thread.
type Batch = (
    Arc<str>,
    Vec<Slot>,
    usize,
    Vec<Option<RecordScan>>,
    Vec<u64>,
);

/// Stores the scanned records of each batch, then hands the batch back to
/// the reader; flushes the database at the end. Returns the companies
/// stored new and updated.
fn store_batches(
    store: &mut RegistryStore,
    rx: &Receiver<Batch>,
    recycle: &SyncSender<Vec<Slot>>,
) -> Result<(u64, u64), store::StoreError> {
    let (mut new, mut updated) = (0, 0);
    for (source, slots, len, scans, fps) in rx {
        for ((slot, scan), &fp) in slots[..len].iter().zip(&scans).zip(&fps) {
            if let (None, Some(scan)) = (&slot.err, scan) {
                match store.save_fingerprinted(&source, &slot.rec, scan, fp)? {
                    Saved::New => new += 1,
                    Saved::Updated => updated += 1,
                    Saved::Skipped => {}
                }
            }
        }
        // never blocks: the channel holds every batch there is
        let _ = recycle.send(slots);
    }
    store.flush()?;
    Ok((new, updated))
}

/// Handles messages in sequence order (workers finish out of order).
fn collect(
    tally: &mut Tally,
    sink: &mut dyn RecordSink,
    rx: &Receiver<(u64, Msg)>,
    recycle: &SyncSender<Vec<Slot>>,
    store: Option<&SyncSender<Batch>>,
) -> Result<(), RegistryScanError> {
    let mut pending: BTreeMap<u64, Msg> = BTreeMap::new();
    let mut next = 0u64;
    for (seq, msg) in rx {
        pending.insert(seq, msg);
        while let Some(msg) = pending.remove(&next) {
            next += 1;
            match msg {
                Msg::FileFailed(source, message) => {
                    tally.file_failed(&source, &message);
                    sink.file_failed(&source, &message)?;
                }
                Msg::FileOpened { source, missing } => {
                    tally.report.files += 1;
                    sink.file_opened(&source, &missing)?;
                }
                Msg::Records {
                    source,
                    slots,
                    len,
                    scans,
                    fps,
                } => {
                    for (slot, scan) in slots[..len].iter().zip(&scans) {
                        match (&slot.err, scan) {
                            (Some(e), _) => {
                                tally.row_failed(&source, e);
                                sink.row_failed(&source, e)?;
                            }
                            (None, Some(scan)) => {
                                tally.record(&source, &slot.rec, scan);
                                sink.record(&source, &slot.rec, scan)?;
                            }
                            (None, None) => tally.report.other_counties += 1,
                        }
                    }
                    sink.progress(&tally.report.progress());
                    match store {
                        Some(tx) => {
                            if tx.send((source, slots, len, scans, fps)).is_err() {
                                // the storing thread failed: its error is reported
                                return Ok(());
                            }
                        }
                        // never blocks: the channel holds every batch there is
                        None => {
                            let _ = recycle.send(slots);
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

// ── counting ─────────────────────────────────────────────────────────────

/// Sorts after every six-digit division code.
const NO_DIVISION: u32 = u32::MAX;

#[derive(Default)]
struct CountyStats {
    scanned: u64,
    flagged: u64,
    to_verify: u64,
    invalid_codes: u64,
}

/// The counts of a scan as it runs; [`Tally::finish`] makes the report.
struct Tally {
    report: RegistryScanReport,
    /// rule id → term → flagged records with that hit
    by_term: FxHashMap<String, FxHashMap<String, u64>>,
    /// division code → stats; `NO_DIVISION` for records without a usable division code
    by_county: BTreeMap<u32, CountyStats>,
    /// The first flagged records of each rank, at most `keep` each.
    ranked: [Vec<RankedFinding>; 4],
    keep: usize,
}

impl Tally {
    fn new(stored: bool, keep: usize) -> Self {
        Tally {
            report: RegistryScanReport {
                stored,
                ..RegistryScanReport::default()
            },
            by_term: FxHashMap::default(),
            by_county: BTreeMap::new(),
            ranked: Default::default(),
            keep,
        }
    }

    fn error(&mut self, source: &str, line: Option<u64>, message: &str) {
        if self.report.errors.len() < MAX_LISTED_ERRORS {
            self.report.errors.push(InputError {
                source: source.to_owned(),
                line,
                message: message.to_owned(),
            });
        } else {
            self.report.errors_not_listed += 1;
        }
    }

    fn file_failed(&mut self, source: &str, message: &str) {
        self.report.files_failed += 1;
        self.error(source, None, message);
    }

    fn row_failed(&mut self, source: &str, e: &RowError) {
        self.report.row_errors += 1;
        self.error(source, Some(e.line), &e.message);
    }

    fn record(&mut self, source: &str, rec: &Record, scan: &RecordScan) {
        let s = &mut self.report;
        s.records += 1;
        if !rec.problems.is_empty() {
            s.records_with_problems += 1;
            for p in &rec.problems {
                self.error(source, Some(rec.line), p);
            }
        }
        let s = &mut self.report;
        let county_key = scan
            .division
            .as_ref()
            .and_then(|d| d.code.parse().ok())
            .unwrap_or(NO_DIVISION);
        let c = self.by_county.entry(county_key).or_default();
        c.scanned += 1;
        match &scan.code {
            CodeStatus::Invalid(..) => {
                s.invalid_codes += 1;
                c.invalid_codes += 1;
            }
            CodeStatus::Missing => s.missing_codes += 1,
            CodeStatus::Registration(_) => s.registration_numbers += 1,
            CodeStatus::Valid(_) => {}
        }
        if scan.allowlisted.is_some() {
            s.allowlisted += 1;
        }
        if scan.licensed.is_some() {
            s.licensed += 1;
        }
        if scan.to_verify() {
            s.to_verify += 1;
            c.to_verify += 1;
        }
        if !scan.flagged() {
            return;
        }
        s.flagged += 1;
        c.flagged += 1;
        if let Some(r) = scan.rank {
            s.by_rank.add(r);
            let kept = &mut self.ranked[r as usize];
            if kept.len() < self.keep {
                kept.push(ranked_finding(source, rec, scan, r));
            }
        }
        let mut seen: Vec<(&str, &str)> = Vec::new();
        for h in &scan.hits {
            let k = (h.rule.0.as_str(), h.term.as_str());
            if !seen.contains(&k) {
                seen.push(k);
                // looked up by reference: an allocation only for a new word
                let terms = match self.by_term.get_mut(k.0) {
                    Some(t) => t,
                    None => self.by_term.entry(k.0.to_owned()).or_default(),
                };
                match terms.get_mut(k.1) {
                    Some(n) => *n += 1,
                    None => {
                        terms.insert(k.1.to_owned(), 1);
                    }
                }
            }
        }
    }

    fn finish(self) -> RegistryScanReport {
        let mut report = self.report;
        let mut terms: Vec<TermCount> = self
            .by_term
            .into_iter()
            .flat_map(|(rule, terms)| {
                terms.into_iter().map(move |(term, records)| TermCount {
                    rule: rule.clone(),
                    term,
                    records,
                })
            })
            .collect();
        terms.sort_by(|a, b| {
            b.records
                .cmp(&a.records)
                .then_with(|| (&a.rule, &a.term).cmp(&(&b.rule, &b.term)))
        });
        report.terms = terms;
        let table = Divisions::bundled();
        let mut counties: Vec<CountySummary> = self
            .by_county
            .into_iter()
            .map(|(code, c)| {
                let (code, label) = if code == NO_DIVISION {
                    (None, "（无有效代码，无法归属）".to_owned())
                } else {
                    let code = format!("{code:06}");
                    let label = table.attribute(&code).label();
                    (Some(code), label)
                };
                CountySummary {
                    code,
                    label,
                    scanned: c.scanned,
                    flagged: c.flagged,
                    to_verify: c.to_verify,
                    invalid_codes: c.invalid_codes,
                }
            })
            .collect();
        // stable: equal counts stay in code order, no division last
        counties.sort_by_key(|c| std::cmp::Reverse(c.flagged));
        report.counties = counties;
        let keep = self.keep;
        report.findings = self.ranked.into_iter().flatten().take(keep).collect();
        report.outcome = report.outcome();
        report
    }
}

fn ranked_finding(source: &str, rec: &Record, scan: &RecordScan, rank: Rank) -> RankedFinding {
    RankedFinding {
        source: source.to_owned(),
        line: rec.line,
        name: rec.name.clone(),
        code: match &scan.code {
            CodeStatus::Missing => None,
            CodeStatus::Valid(c) => Some(c.to_string()),
            CodeStatus::Registration(n) => Some(n.to_string()),
            CodeStatus::Invalid(w, _) => Some(w.clone()),
        },
        division: scan.division.as_ref().map(|d| d.code.to_string()),
        rank,
        hits: scan
            .hits
            .iter()
            .map(|h| format!("{}:{}", h.field, h.term))
            .collect(),
    }
}
