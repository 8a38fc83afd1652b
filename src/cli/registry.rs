//! `finscan registry scan | list | check | extract`.
//!
//! `scan` reads registry exports record by record, scans them, stores the
//! companies with hits and prints either one JSON object per record
//! (`--json`, in file order) or a table ranked by urgency followed by a
//! per-county summary. The ranked table is built without holding records in
//! memory: rendered lines go to one anonymous temporary file per rank and
//! are copied to stdout at the end, so memory stays flat whatever the input size.
//! Reading, scanning and printing run as a pipeline of threads (see
//! [`pipeline`]); output order is file order all the same.

use rustc_hash::FxHashMap;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use finscan::registry::division::Divisions;
use finscan::registry::import::{self, ImportOptions, Record, RowError};
use finscan::registry::profile::{self, Profile};
use finscan::registry::store::{HitRef, RegistryStore, Saved};
use finscan::registry::{AllowList, CodeStatus, Rank, RecordScan, RecordScanner};
use finscan::rules::RuleSet;

use super::Outcome;

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Scan registration records (CSV, JSON Lines, XLSX): validate credit codes,
    /// attribute counties, flag restricted words in names and scopes.
    Scan(ScanArgs),
    /// List the companies stored by earlier scans.
    List(ListArgs),
    /// Validate unified social credit codes given as arguments (or one per line on stdin).
    Check {
        /// Codes; `-` or none reads stdin.
        codes: Vec<String>,
        /// One JSON object per code.
        #[arg(long)]
        json: bool,
    },
    /// Extract and scan records from saved registry web pages with a site profile.
    Extract(ExtractArgs),
}

#[derive(Args)]
pub struct ScanArgs {
    /// Record files: .csv/.tsv/.txt (UTF-8, UTF-8 with BOM, GBK, Big5, UTF-16), .jsonl, .xlsx/.xls/.ods;
    /// `-` reads standard input (CSV unless --format says otherwise).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Only records whose division code (from the credit code or registration
    /// number, or tentatively from an invalid code) starts with this (e.g. 6109).
    #[arg(long, value_name = "CODE")]
    county: Option<String>,
    #[command(flatten)]
    common: CommonArgs,
    /// Map an unusual header to a field: FIELD=HEADER (fields: name, uscc, scope,
    /// address, legal_rep, reg_date, status); repeatable.
    #[arg(long = "column", value_name = "FIELD=HEADER")]
    columns: Vec<String>,
    /// Read every file as this format instead of guessing from the extension.
    #[arg(long, value_parser = ["csv", "jsonl", "xlsx"])]
    format: Option<String>,
    /// Text encoding of CSV/JSONL files (e.g. gbk, utf-8) instead of detecting it.
    #[arg(long)]
    encoding: Option<String>,
    /// Spreadsheet sheet to read (default: the first).
    #[arg(long)]
    sheet: Option<String>,
    /// Scanning threads (default: the number of cores, at most 8).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
pub struct ExtractArgs {
    /// Site profile (TOML).
    #[arg(long, required = true)]
    profile: PathBuf,
    /// URL each page was fetched from (for resolving links and matching the profile).
    #[arg(long, required = true)]
    url: String,
    /// Saved HTML pages (UTF-8 or GBK).
    #[arg(required = true)]
    pages: Vec<PathBuf>,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(Args)]
struct CommonArgs {
    /// Allow-list of licensed institutions: one credit code, exact name or `NAME*` prefix per line.
    #[arg(long, value_name = "FILE")]
    allowlist: Option<PathBuf>,
    /// Database directory.
    #[arg(long, env = "FINSCAN_DB", default_value = "./finscan-data")]
    db: PathBuf,
    /// Do not store results in the database.
    #[arg(long)]
    no_store: bool,
    /// One JSON object per record, in file order.
    #[arg(long)]
    json: bool,
    /// Output every record, not only flagged ones and ones with errors, and
    /// every county in the summary, not only those with findings.
    #[arg(long)]
    all: bool,
    /// Do not use the default list of licensed institutions and activities
    /// (wordlists/licensed.toml): only --allowlist exempts.
    #[arg(long)]
    no_licensed: bool,
    /// Directory of *.toml rule files (default: the rules built into finscan).
    #[arg(long, env = "FINSCAN_RULES")]
    rules: Option<PathBuf>,
}

#[derive(Args)]
pub struct ListArgs {
    #[arg(long, env = "FINSCAN_DB", default_value = "./finscan-data")]
    db: PathBuf,
    /// One JSON object per company.
    #[arg(long)]
    json: bool,
    /// Only companies whose division code starts with this (e.g. 6109 for Ankang).
    #[arg(long)]
    county: Option<String>,
}

pub fn run(cmd: RegistryCommand) -> anyhow::Result<Outcome> {
    match cmd {
        RegistryCommand::Scan(a) => scan(a),
        RegistryCommand::List(a) => list(a),
        RegistryCommand::Check { codes, json } => check(codes, json),
        RegistryCommand::Extract(a) => extract(a),
    }
}

// ── scan ────────────────────────────────────────────────────────────────

fn scan(args: ScanArgs) -> anyhow::Result<Outcome> {
    let mut opts = ImportOptions {
        format: args.format.as_deref().and_then(import::Format::parse),
        encoding: args.encoding.clone(),
        sheet: args.sheet.clone(),
        ..ImportOptions::default()
    };
    for spec in &args.columns {
        opts.columns.add(spec).map_err(anyhow::Error::msg)?;
    }
    if let Some(label) = &args.encoding {
        anyhow::ensure!(
            encoding_rs::Encoding::for_label(label.as_bytes()).is_some(),
            "unknown encoding {label:?}"
        );
    }
    let rules = super::load_rules(args.common.rules.as_deref())?;
    if finscan::scan::checks_word_boundaries(&rules, &RecordScanner::FIELDS) {
        // loaded while the scanner is built, the database opened and the
        // first records read, rather than by the first worker to need it
        // with the others waiting; detached, so a run that never needs it
        // (a small or unreadable file) does not wait for it to end
        std::thread::spawn(finscan::scan::context::load_segmenter);
    }
    let scanner = scanner_of(rules, &args.common)?;
    let run = ScanRun::new(&args.common)?;
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)));
    if let Some(c) = &args.county {
        anyhow::ensure!(
            !c.is_empty() && c.len() <= 6 && c.bytes().all(|b| b.is_ascii_digit()),
            "--county {c:?}: expected the first digits of a division code (e.g. 6109)"
        );
    }
    let outcome = pipeline::run(
        &args.files,
        &opts,
        &scanner,
        args.county.as_deref(),
        run,
        threads.max(1),
    )?;
    if !args.common.no_store {
        super::recheck::after_reading_dir(&args.common.db)?;
    }
    Ok(outcome)
}

/// The scan as a pipeline: this thread reads records in batches, `threads`
/// workers scan them, and one collector thread counts, stores and prints
/// them in file order.
///
/// Why threads: scanning a record costs several times reading it, and a
/// registry export is one large file, so the work is split by batch, not by
/// file. Channels are bounded and a fixed number of batches is recycled, so
/// memory stays flat:
/// at most `2 × threads + 4` batches of [`pipeline::BATCH`] records exist
/// (`2 × threads + 2` when storing).
mod pipeline {
    use std::collections::BTreeMap;
    use std::path::PathBuf;
    use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
    use std::sync::{Arc, Mutex};

    use finscan::registry::import::{self, ImportOptions, Record, RowError};
    use finscan::registry::store::{self, RegistryStore, Saved};
    use finscan::registry::{RecordScan, RecordScanner};

    use super::{Outcome, ScanRun};

    /// Records per batch.
    pub const BATCH: usize = 1024;

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
        FileOpened,
    }

    pub fn run(
        files: &[PathBuf],
        opts: &ImportOptions,
        scanner: &RecordScanner,
        county: Option<&str>,
        mut run: ScanRun,
        threads: usize,
    ) -> anyhow::Result<Outcome> {
        let (work_tx, work_rx) = sync_channel::<(u64, Msg)>(threads * 2);
        let work_rx = Arc::new(Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<(u64, Msg)>(threads * 2);
        // storing holds the index (or its fingerprints) in memory: two
        // batches fewer in flight keep the peak where it was without
        let max_batches = threads * 2 + if run.store.is_some() { 2 } else { 4 };
        let (recycle_tx, recycle_rx) = sync_channel::<Vec<Slot>>(max_batches);
        let (store_tx, store_rx) = sync_channel::<Batch>(2);
        let store = run.store.take();
        let storing = store.is_some();
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
                scope.spawn(move || self::store(store, &store_rx, &recycle))
            });
            let store_tx = storer.is_some().then_some(store_tx);
            let collector = scope.spawn(move || -> anyhow::Result<ScanRun> {
                // the storing thread ends when this sender is dropped
                collect(&mut run, &done_rx, &recycle_tx, store_tx.as_ref())?;
                Ok(run)
            });
            read(files, opts, &work_tx, &recycle_rx, max_batches);
            drop(work_tx);
            let mut run = collector
                .join()
                .map_err(|_| anyhow::anyhow!("collector thread panicked"))??;
            if let Some(storer) = storer {
                let (new, updated) = storer
                    .join()
                    .map_err(|_| anyhow::anyhow!("storing thread panicked"))??;
                run.summary.stored_new += new;
                run.summary.stored_updated += updated;
            }
            run.finish()
        })
    }

    /// Reads every file into batches; never fails (problems travel as messages).
    fn read(
        files: &[PathBuf],
        opts: &ImportOptions,
        tx: &SyncSender<(u64, Msg)>,
        recycle: &Receiver<Vec<Slot>>,
        max_batches: usize,
    ) {
        let mut seq = 0u64;
        let mut allocated = 0usize;
        let mut send = |msg: Msg| {
            let ok = tx.send((seq, msg)).is_ok();
            seq += 1;
            ok
        };
        for path in files {
            let source: Arc<str> = Arc::from(path.display().to_string());
            let mut records = match import::open(path, opts) {
                Ok(r) => r,
                Err(e) => {
                    if !send(Msg::FileFailed(source.to_string(), e.to_string())) {
                        return;
                    }
                    continue;
                }
            };
            super::warn_missing_columns(&source, &records.layout);
            if !send(Msg::FileOpened) {
                return;
            }
            loop {
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
                        Err(_) => return,
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
                    return;
                }
                if len < BATCH {
                    break;
                }
            }
        }
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
                // a record outside `--county` is no scan: not counted,
                // stored or printed (the collector counts it apart)
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

    /// Stores the scanned records of each batch, then hands the batch back
    /// to the reader; flushes the database at the end. Returns the
    /// companies stored new and updated.
    fn store(
        mut store: RegistryStore,
        rx: &Receiver<Batch>,
        recycle: &SyncSender<Vec<Slot>>,
    ) -> anyhow::Result<(u64, u64)> {
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
        run: &mut ScanRun,
        rx: &Receiver<(u64, Msg)>,
        recycle: &SyncSender<Vec<Slot>>,
        store: Option<&SyncSender<Batch>>,
    ) -> anyhow::Result<()> {
        let mut pending: BTreeMap<u64, Msg> = BTreeMap::new();
        let mut next = 0u64;
        for (seq, msg) in rx {
            pending.insert(seq, msg);
            while let Some(msg) = pending.remove(&next) {
                next += 1;
                match msg {
                    Msg::FileFailed(source, message) => run.file_failed(&source, &message),
                    Msg::FileOpened => run.summary.files += 1,
                    Msg::Records {
                        source,
                        slots,
                        len,
                        scans,
                        fps,
                    } => {
                        for (slot, scan) in slots[..len].iter().zip(&scans) {
                            match (&slot.err, scan) {
                                (Some(e), _) => run.process(&source, Err(e))?,
                                (None, Some(scan)) => {
                                    run.process(&source, Ok((&slot.rec, scan)))?
                                }
                                (None, None) => run.summary.other_counties += 1,
                            }
                        }
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
}

fn warn_missing_columns(source: &str, layout: &import::Layout) {
    let missing = layout.missing();
    if !missing.is_empty() {
        let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
        eprintln!(
            "finscan: {source}: no {} column; {}",
            names.join(", "),
            if missing.contains(&import::Column::Uscc) {
                "credit codes are not validated and counties not attributed"
            } else {
                "only names are scanned"
            }
        );
    }
}

fn extract(args: ExtractArgs) -> anyhow::Result<Outcome> {
    let profile = Profile::load(&args.profile)?;
    let url = url::Url::parse(&args.url).with_context(|| format!("bad --url {:?}", args.url))?;
    if !profile.matches(url.as_str()) {
        eprintln!(
            "finscan: warning: profile {} does not match {url}",
            profile.name
        );
    }
    let scanner = record_scanner(&args.common)?;
    let mut run = ScanRun::new(&args.common)?;
    for path in &args.pages {
        let source = path.display().to_string();
        let raw = match std::fs::read(path) {
            Ok(r) => r,
            Err(e) => {
                run.file_failed(&source, &e.to_string());
                continue;
            }
        };
        let doc = finscan::text::decode::decode(&raw, None);
        let ex = profile::extract_records(&profile, &url, &doc.text);
        run.summary.files += 1;
        for p in &ex.problems {
            run.row_failed(
                &source,
                &RowError {
                    line: 0,
                    message: p.clone(),
                },
            );
        }
        for rec in &ex.records {
            run.process(&source, Ok((rec, &scanner.scan(rec))))?;
        }
        for l in &ex.links {
            eprintln!("finscan: {source}: link to follow: {l}");
        }
    }
    run.finish()
}

/// Sorts after every six-digit division code.
const NO_DIVISION: u32 = u32::MAX;

#[derive(Default)]
struct CountyStats {
    scanned: u64,
    flagged: u64,
    to_verify: u64,
    invalid_codes: u64,
}

#[derive(Default)]
struct Summary {
    files: u64,
    files_failed: u64,
    records: u64,
    flagged: u64,
    by_rank: [u64; 4],
    allowlisted: u64,
    /// Exempt by the default list of licensed institutions (by name).
    licensed: u64,
    /// Not flagged, with licensed activities to verify.
    to_verify: u64,
    invalid_codes: u64,
    missing_codes: u64,
    /// Valid old registration numbers (15 digits) in the credit-code column.
    registration_numbers: u64,
    /// Records outside `--county`.
    other_counties: u64,
    row_errors: u64,
    records_with_problems: u64,
    stored_new: u64,
    stored_updated: u64,
    /// rule id → term → flagged records with that hit
    by_term: FxHashMap<String, FxHashMap<String, u64>>,
    /// division code → stats; `NO_DIVISION` for records without a usable division code
    by_county: BTreeMap<u32, CountyStats>,
}

/// One scan over several inputs: store, output and counts (the scanning
/// itself happens on worker threads, see [`scan`]).
struct ScanRun {
    /// The database, while this thread stores (the pipeline moves it to a
    /// thread of its own).
    store: Option<RegistryStore>,
    /// Results are stored (by whichever thread holds the store).
    storing: bool,
    json: bool,
    all: bool,
    out: BufWriter<std::io::Stdout>,
    buckets: Buckets,
    summary: Summary,
}

/// Compiles the rules and reads the allow-list.
fn record_scanner(common: &CommonArgs) -> anyhow::Result<RecordScanner> {
    scanner_of(super::load_rules(common.rules.as_deref())?, common)
}

/// The scanner of `rules`, with the allow-list `common` names.
fn scanner_of(rules: RuleSet, common: &CommonArgs) -> anyhow::Result<RecordScanner> {
    let allow = match &common.allowlist {
        Some(p) => {
            let (list, warnings) = AllowList::load(p)
                .with_context(|| format!("cannot read allow-list {}", p.display()))?;
            for w in warnings {
                eprintln!("finscan: warning: {w}");
            }
            list
        }
        None => AllowList::default(),
    };
    let scanner = RecordScanner::new(&rules, allow);
    Ok(if common.no_licensed {
        scanner.without_licensed()
    } else {
        scanner
    })
}

impl ScanRun {
    fn new(common: &CommonArgs) -> anyhow::Result<Self> {
        let store = if common.no_store {
            None
        } else {
            Some(
                RegistryStore::open(&common.db)
                    .with_context(|| format!("cannot open database {}", common.db.display()))?,
            )
        };
        Ok(ScanRun {
            storing: store.is_some(),
            store,
            json: common.json,
            all: common.all,
            out: BufWriter::with_capacity(1 << 16, std::io::stdout()),
            buckets: Buckets::default(),
            summary: Summary::default(),
        })
    }

    fn file_failed(&mut self, source: &str, message: &str) {
        eprintln!("finscan: skipped {source}: {message}");
        self.summary.files_failed += 1;
    }

    fn row_failed(&mut self, source: &str, e: &RowError) {
        eprintln!("finscan: {source}:{}: {}", e.line, e.message);
        self.summary.row_errors += 1;
    }

    /// Counts, stores and prints one record (scanned) or one unreadable row.
    fn process(
        &mut self,
        source: &str,
        item: Result<(&Record, &RecordScan), &RowError>,
    ) -> anyhow::Result<()> {
        let (rec, scan) = match item {
            Ok(r) => r,
            Err(e) => {
                self.row_failed(source, e);
                if self.json {
                    serde_json::to_writer(
                        &mut self.out,
                        &serde_json::json!({"source": source, "line": e.line, "error": e.message, "flagged": false}),
                    )?;
                    self.out.write_all(b"\n")?;
                } else {
                    let line = format!("{:<14} {source}:{}  {}\n", "error", e.line, e.message);
                    self.buckets.write(5, line.as_bytes())?;
                }
                return Ok(());
            }
        };
        self.count(rec, scan);
        for p in &rec.problems {
            eprintln!("finscan: {source}:{}: {p}", rec.line);
        }
        if let Some(store) = &mut self.store {
            match store.save(source, rec, scan)? {
                Saved::New => self.summary.stored_new += 1,
                Saved::Updated => self.summary.stored_updated += 1,
                Saved::Skipped => {}
            }
        }
        let has_error = matches!(scan.code, CodeStatus::Invalid(..)) || !rec.problems.is_empty();
        if !(self.all || scan.flagged() || scan.to_verify() || has_error) {
            return Ok(());
        }
        if self.json {
            write_json(&mut self.out, source, rec, scan)?;
        } else {
            let bucket = match scan.rank {
                Some(r) if scan.flagged() => r as usize,
                _ if scan.to_verify() => 4,
                _ if has_error => 5,
                _ => 6,
            };
            let line = render_row(source, rec, scan);
            self.buckets.write(bucket, line.as_bytes())?;
        }
        Ok(())
    }

    fn count(&mut self, rec: &Record, scan: &RecordScan) {
        let s = &mut self.summary;
        s.records += 1;
        if !rec.problems.is_empty() {
            s.records_with_problems += 1;
        }
        let county_key = scan
            .division
            .as_ref()
            .and_then(|d| d.code.parse().ok())
            .unwrap_or(NO_DIVISION);
        let c = s.by_county.entry(county_key).or_default();
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
        if scan.flagged() {
            s.flagged += 1;
            c.flagged += 1;
            if let Some(r) = scan.rank {
                s.by_rank[r as usize] += 1;
            }
            let mut seen: Vec<(&str, &str)> = Vec::new();
            for h in &scan.hits {
                let k = (h.rule.0.as_str(), h.term.as_str());
                if !seen.contains(&k) {
                    seen.push(k);
                    // looked up by reference: an allocation only for a new word
                    let terms = match s.by_term.get_mut(k.0) {
                        Some(t) => t,
                        None => s.by_term.entry(k.0.to_owned()).or_default(),
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
    }

    fn finish(mut self) -> anyhow::Result<Outcome> {
        if !self.json {
            writeln!(
                self.out,
                "{:<14} {:<24} {:<36} {:<22} {:<20} hits",
                "rank", "file:line", "name", "credit code", "county"
            )?;
            self.buckets.copy_to(&mut self.out)?;
            write_county_summary(&mut self.out, &self.summary, self.all)?;
        }
        self.out.flush()?;
        if let Some(store) = &mut self.store {
            store.flush()?;
        }
        let s = &self.summary;
        let mut terms: Vec<((&String, &String), &u64)> = s
            .by_term
            .iter()
            .flat_map(|(rule, terms)| terms.iter().map(move |(t, n)| ((rule, t), n)))
            .collect();
        terms.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(&b.0)));
        let shown: Vec<String> = terms
            .iter()
            .take(12)
            .map(|((_, t), n)| format!("{t} {n}"))
            .collect();
        eprintln!(
            "finscan: {} file(s), {} record(s): {} flagged ({} name+activity, {} name, {} activity, {} scope-word), {} allow-listed, {} licensed, {} with a licensed activity to verify; credit codes: {} invalid, {} missing, {} registration number(s); {} row error(s), {} record(s) with problems, {} file(s) skipped{}{}",
            s.files,
            s.records,
            s.flagged,
            s.by_rank[0],
            s.by_rank[1],
            s.by_rank[2],
            s.by_rank[3],
            s.allowlisted,
            s.licensed,
            s.to_verify,
            s.invalid_codes,
            s.missing_codes,
            s.registration_numbers,
            s.row_errors,
            s.records_with_problems,
            s.files_failed,
            if s.other_counties > 0 {
                format!("; {} record(s) outside --county", s.other_counties)
            } else {
                String::new()
            },
            if self.storing {
                format!(
                    "; stored {} new, {} updated",
                    s.stored_new, s.stored_updated
                )
            } else {
                String::new()
            }
        );
        if !shown.is_empty() {
            eprintln!("finscan: flagged records by word: {}", shown.join(", "));
        }
        Ok(
            if s.files_failed > 0 || s.row_errors > 0 || s.records_with_problems > 0 {
                Outcome::Partial
            } else if s.flagged > 0 {
                Outcome::Hits
            } else {
                Outcome::Clean
            },
        )
    }
}

/// `--json` writes the record's own fields by hand rather than through a
/// derived `Serialize`: serde_json escapes strings a byte at a time, which
/// took a third of the collecting thread on a scan with 125,000 flagged
/// records; here a string with nothing to escape (nearly all of them) is
/// checked a word at a time and copied whole. The division and the hits,
/// short and few, keep their derived forms (writing them by hand saved 1 %
/// of the instructions). The output is the same, byte for byte
/// (`json_lines_are_what_serde_json_writes` checks).
struct JsonLine<'w, W: Write> {
    out: &'w mut W,
    first: bool,
}

impl<'w, W: Write> JsonLine<'w, W> {
    fn object(out: &'w mut W) -> io::Result<Self> {
        out.write_all(b"{")?;
        Ok(JsonLine { out, first: true })
    }

    fn key(&mut self, key: &str) -> io::Result<&mut W> {
        if !self.first {
            self.out.write_all(b",")?;
        }
        self.first = false;
        self.out.write_all(b"\"")?;
        self.out.write_all(key.as_bytes())?;
        self.out.write_all(b"\":")?;
        Ok(self.out)
    }

    fn str(&mut self, key: &str, value: &str) -> io::Result<()> {
        let out = self.key(key)?;
        json_str(out, value)
    }

    /// `null` for `None`.
    fn opt_str(&mut self, key: &str, value: Option<&str>) -> io::Result<()> {
        match value {
            Some(v) => self.str(key, v),
            None => self.key(key)?.write_all(b"null"),
        }
    }

    fn bool(&mut self, key: &str, value: bool) -> io::Result<()> {
        let v: &[u8] = if value { b"true" } else { b"false" };
        self.key(key)?.write_all(v)
    }

    fn num(&mut self, key: &str, value: u64) -> io::Result<()> {
        let out = self.key(key)?;
        write!(out, "{value}")
    }

    fn end(self) -> io::Result<()> {
        self.out.write_all(b"}")
    }
}

/// A JSON string, as serde_json writes it.
fn json_str(out: &mut impl Write, s: &str) -> io::Result<()> {
    // no early exit: the compiler checks many bytes at once
    let plain = !s.bytes().fold(false, |any, b| {
        any | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.write_all(b"\"")?;
        out.write_all(s.as_bytes())?;
        out.write_all(b"\"")
    } else {
        serde_json::to_writer(out, s).map_err(io::Error::other)
    }
}

fn write_json(
    out: &mut impl Write,
    source: &str,
    rec: &Record,
    scan: &RecordScan,
) -> anyhow::Result<()> {
    let division = scan.division.as_ref();
    let mut o = JsonLine::object(out)?;
    o.str("source", source)?;
    o.num("line", rec.line)?;
    o.str("name", &rec.name)?;
    match &scan.code {
        CodeStatus::Missing => {
            o.opt_str("uscc", None)?;
            o.bool("uscc_valid", false)?;
            o.str("uscc_error", "missing")?;
        }
        CodeStatus::Valid(c) => {
            o.str("uscc", c.as_str())?;
            o.bool("uscc_valid", true)?;
        }
        CodeStatus::Registration(n) => {
            o.opt_str("uscc", None)?;
            o.bool("uscc_valid", false)?;
            o.str("registration_number", n.as_str())?;
        }
        CodeStatus::Invalid(w, e) => {
            o.str("uscc", w)?;
            o.bool("uscc_valid", false)?;
            o.str("uscc_error", &e.to_string())?;
        }
    }
    o.opt_str("county", division.and_then(|d| d.county))?;
    // short and few: their derived forms, through serde_json
    serde_json::to_writer(o.key("division")?, &division)?;
    o.bool("division_tentative", scan.division_tentative)?;
    o.bool("flagged", scan.flagged())?;
    o.bool("allowlisted", scan.allowlisted.is_some())?;
    if let Some(reason) = &scan.allowlisted {
        o.str("allow_reason", reason)?;
    }
    o.bool("licensed", scan.licensed.is_some())?;
    if let Some(kind) = &scan.licensed {
        serde_json::to_writer(o.key("licensed_as")?, &**kind)?;
    }
    if !scan.licensed_types.is_empty() {
        let kinds: Vec<&finscan::registry::LicensedKind> =
            scan.licensed_types.iter().map(|k| &**k).collect();
        serde_json::to_writer(o.key("licensed_types")?, &kinds)?;
    }
    o.opt_str("rank", scan.rank.map(Rank::as_str))?;
    let hits = o.key("hits")?;
    hits.write_all(b"[")?;
    for (i, h) in scan.hits.iter().enumerate() {
        if i > 0 {
            hits.write_all(b",")?;
        }
        serde_json::to_writer(&mut *hits, &HitRef::from(h))?;
    }
    hits.write_all(b"]")?;
    if !rec.problems.is_empty() {
        serde_json::to_writer(o.key("problems")?, &rec.problems)?;
    }
    for (key, value) in [
        ("address", &rec.address),
        ("legal_rep", &rec.legal_rep),
        ("reg_date", &rec.reg_date),
        ("status", &rec.status),
    ] {
        if let Some(v) = value {
            o.str(key, v)?;
        }
    }
    o.end()?;
    out.write_all(b"\n")?;
    Ok(())
}

fn render_row(source: &str, rec: &Record, scan: &RecordScan) -> String {
    let rank = if scan.allowlisted.is_some() {
        "allow-listed"
    } else if scan.licensed.is_some() {
        "licensed"
    } else if scan.flagged() {
        scan.rank.map_or("-", Rank::as_str)
    } else if scan.to_verify() {
        "verify-licence"
    } else if matches!(scan.code, CodeStatus::Invalid(..)) || !rec.problems.is_empty() {
        "error"
    } else {
        "-"
    };
    let code = match &scan.code {
        CodeStatus::Missing => "(none)".to_owned(),
        CodeStatus::Valid(c) => c.to_string(),
        CodeStatus::Registration(n) => format!("{n} (注册号)"),
        CodeStatus::Invalid(w, e) => format!("{w} ✗ {e}"),
    };
    let county = match &scan.division {
        Some(d) if scan.division_tentative => format!("{}?", d.short_label()),
        Some(d) => d.short_label(),
        None => "-".to_owned(),
    };
    let hits: Vec<String> = scan
        .hits
        .iter()
        .map(|h| {
            if h.matched == h.term {
                format!("{}:{}", h.field, h.term)
            } else {
                format!("{}:{}({})", h.field, h.term, h.matched)
            }
        })
        .collect();
    let mut line = format!(
        "{rank:<14} {} {} {} {} {}",
        pad(&format!("{source}:{}", rec.line), 24),
        pad(&rec.name, 36),
        pad(&code, 22),
        pad(&county, 20),
        hits.join(" ")
    );
    if let Some(reason) = &scan.allowlisted {
        line.push_str(&format!("  [allow-list: {reason}]"));
    }
    if let Some(kind) = &scan.licensed {
        line.push_str(&format!("  [licensed: {} ({})]", kind.institution, kind.id));
    }
    if !scan.licensed_types.is_empty() {
        let kinds: Vec<&str> = scan
            .licensed_types
            .iter()
            .map(|k| k.institution.as_str())
            .collect();
        line.push_str(&format!("  [licence to verify: {}]", kinds.join("、")));
    }
    for p in &rec.problems {
        line.push_str(&format!("  [{p}]"));
    }
    line.push('\n');
    line
}

/// The per-county table, most flagged first (then by code); without
/// `all`, only counties with findings (flagged, to verify or invalid codes).
fn write_county_summary(out: &mut impl Write, s: &Summary, all: bool) -> std::io::Result<()> {
    writeln!(out)?;
    writeln!(
        out,
        "per county (by the division code in the credit code or registration number; \
         most flagged first{}):",
        if all {
            ""
        } else {
            "; counties with findings, --all for every county"
        }
    )?;
    writeln!(
        out,
        "{:<8} {:<28} {:>9} {:>8} {:>9} {:>14}",
        "code", "county", "scanned", "flagged", "verify", "invalid codes"
    )?;
    let t = Divisions::bundled();
    let mut rows: Vec<(&u32, &CountyStats)> = s
        .by_county
        .iter()
        .filter(|(_, c)| all || c.flagged > 0 || c.to_verify > 0 || c.invalid_codes > 0)
        .collect();
    rows.sort_by(|a, b| b.1.flagged.cmp(&a.1.flagged).then(a.0.cmp(b.0)));
    for (&code, c) in rows {
        let (code, label) = if code == NO_DIVISION {
            ("-".to_owned(), "（无有效代码，无法归属）".to_owned())
        } else {
            let code = format!("{code:06}");
            let label = t.attribute(&code).label();
            (code, label)
        };
        writeln!(
            out,
            "{:<8} {} {:>9} {:>8} {:>9} {:>14}",
            code,
            pad(&label, 28),
            c.scanned,
            c.flagged,
            c.to_verify,
            c.invalid_codes
        )?;
    }
    writeln!(
        out,
        "{:<8} {:<28} {:>9} {:>8} {:>9} {:>14}",
        "", "total", s.records, s.flagged, s.to_verify, s.invalid_codes
    )
}

/// Columns a string takes in a terminal: CJK and full-width characters take two.
fn display_width(s: &str) -> usize {
    s.chars()
        .map(|c| match c as u32 {
            0x1100..=0x115F
            | 0x2E80..=0x303E
            | 0x3041..=0x33FF
            | 0x3400..=0x4DBF
            | 0x4E00..=0x9FFF
            | 0xA000..=0xA4CF
            | 0xAC00..=0xD7A3
            | 0xF900..=0xFAFF
            | 0xFE30..=0xFE4F
            | 0xFF00..=0xFF60
            | 0xFFE0..=0xFFE6
            | 0x20000..=0x3FFFD => 2,
            _ => 1,
        })
        .sum()
}

/// `s` padded with spaces to `width` terminal columns (never cut).
fn pad(s: &str, width: usize) -> String {
    let w = display_width(s);
    let mut out = String::with_capacity(s.len() + width.saturating_sub(w));
    out.push_str(s);
    out.extend(std::iter::repeat_n(' ', width.saturating_sub(w)));
    out
}

/// Rendered table lines, one anonymous temporary file per group (four ranks,
/// licences to verify, errors, the rest), so that the table is ranked
/// without keeping it in memory.
#[derive(Default)]
struct Buckets {
    files: [Option<BufWriter<File>>; 7],
}

impl Buckets {
    fn write(&mut self, i: usize, line: &[u8]) -> std::io::Result<()> {
        if self.files[i].is_none() {
            self.files[i] = Some(BufWriter::new(anonymous_tempfile()?));
        }
        if let Some(f) = &mut self.files[i] {
            f.write_all(line)?;
        }
        Ok(())
    }

    fn copy_to(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        for slot in &mut self.files {
            if let Some(w) = slot.take() {
                let mut f = w.into_inner().map_err(|e| e.into_error())?;
                f.rewind()?;
                let mut buf = [0u8; 1 << 16];
                loop {
                    let n = f.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    out.write_all(&buf[..n])?;
                }
            }
        }
        Ok(())
    }
}

/// A temporary file that no one else can see and that disappears when closed
/// (created, then unlinked while open).
fn anonymous_tempfile() -> std::io::Result<File> {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let dir = std::env::temp_dir();
    for _ in 0..100 {
        let name = format!(
            "finscan-registry-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos())
        );
        let path = dir.join(name);
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(f) => {
                // on Unix the open handle keeps the data; elsewhere the file
                // stays in the temp dir
                let _ = std::fs::remove_file(&path);
                return Ok(f);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file"))
}

// ── list, check ───────────────────────────────────────────────────────────

fn list(args: ListArgs) -> anyhow::Result<Outcome> {
    super::require_db(&args.db)?;
    let store = RegistryStore::open(&args.db)
        .with_context(|| format!("cannot open database {}", args.db.display()))?;
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut n = 0usize;
    for item in store.companies() {
        let (c, hits) = item?;
        if let Some(prefix) = &args.county
            && !c
                .division
                .as_deref()
                .is_some_and(|d| d.starts_with(prefix.as_str()))
        {
            continue;
        }
        n += 1;
        let tentative = c.division_tentative();
        if args.json {
            // the keys and shapes of `registry scan --json` (README, JSON
            // vocabulary), with what only the store knows beside them
            let division = c
                .division
                .as_deref()
                .map(|d| finscan::registry::division::Divisions::bundled().attribute(d));
            let line = serde_json::json!({
                "source": c.source,
                "line": c.line,
                "key": c.key,
                "name": c.name,
                "uscc": if c.key.starts_with("regno:") { None } else { c.uscc.clone() },
                "uscc_valid": c.uscc_valid,
                "registration_number": c.key.strip_prefix("regno:"),
                "county": division.as_ref().and_then(|d| d.county),
                "division": division,
                "division_tentative": tentative,
                "flagged": c.flagged,
                "allowlisted": c.allowlisted.is_some() && !c.licensed(),
                "licensed": c.licensed(),
                "allow_reason": c.allowlisted,
                "rank": c.rank,
                "scope": c.scope,
                "hits": hits,
                "first_seen": c.first_seen,
                "last_scanned": c.last_scanned,
                "scans": c.scans,
            });
            super::write_json_line(&mut out, &line)?;
        } else {
            let terms: Vec<String> = hits
                .iter()
                .map(|h| format!("{}:{}", h.field, h.term))
                .collect();
            writeln!(
                out,
                "{:<14} {:<36} {}  {}  scans={}  {}",
                if c.licensed() {
                    "licensed"
                } else if c.allowlisted.is_some() {
                    "allow-listed"
                } else {
                    c.rank.as_deref().unwrap_or("clean")
                },
                c.key,
                c.name,
                match (c.county.as_deref(), tentative) {
                    (Some(county), true) => format!("{county}?（代码无效，归属待核）"),
                    (Some(county), false) => county.to_owned(),
                    (None, _) => "-".to_owned(),
                },
                c.scans,
                terms.join(" ")
            )?;
        }
    }
    out.flush()?;
    eprintln!(
        "finscan: {n} stored compan{}",
        if n == 1 { "y" } else { "ies" }
    );
    Ok(Outcome::Clean)
}

fn check(codes: Vec<String>, json: bool) -> anyhow::Result<Outcome> {
    let codes = if codes.is_empty() || codes == ["-"] {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        s.lines()
            .map(str::to_owned)
            .filter(|l| !l.trim().is_empty())
            .collect()
    } else {
        codes
    };
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut invalid = 0usize;
    for c in &codes {
        // an old 15-digit registration number is judged as one, not as a
        // credit code of the wrong length
        let status = CodeStatus::of(Some(c));
        if matches!(status, CodeStatus::Invalid(..) | CodeStatus::Missing) {
            invalid += 1;
        }
        if json {
            let v = match &status {
                CodeStatus::Valid(code) => {
                    let d = Divisions::bundled().attribute(code.division_code());
                    serde_json::json!({"input": c, "valid": true, "kind": "credit_code", "uscc": code, "department": code.department_name(), "division": d})
                }
                CodeStatus::Registration(n) => {
                    let d = Divisions::bundled().attribute(n.division_code());
                    serde_json::json!({"input": c, "valid": true, "kind": "registration_number", "registration_number": n, "division": d})
                }
                CodeStatus::Invalid(_, e) => {
                    serde_json::json!({"input": c, "valid": false, "error": e.to_string(), "reason": e})
                }
                CodeStatus::Missing => {
                    let e = finscan::registry::CodeError::Empty;
                    serde_json::json!({"input": c, "valid": false, "error": e.to_string(), "reason": e})
                }
            };
            serde_json::to_writer(&mut out, &v)?;
            writeln!(out)?;
        } else {
            match &status {
                CodeStatus::Valid(code) => writeln!(
                    out,
                    "{c}\tvalid\t{code}\t{}",
                    Divisions::bundled().attribute(code.division_code()).label()
                )?,
                CodeStatus::Registration(n) => writeln!(
                    out,
                    "{c}\tregistration number (注册号, valid)\t{n}\t{}",
                    Divisions::bundled().attribute(n.division_code()).label()
                )?,
                CodeStatus::Invalid(_, e) => writeln!(out, "{c}\tinvalid\t{e}")?,
                CodeStatus::Missing => writeln!(out, "{c}\tinvalid\tempty")?,
            }
        }
    }
    out.flush()?;
    Ok(if invalid > 0 {
        Outcome::Hits
    } else {
        Outcome::Clean
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use finscan::RuleSet;
    use finscan::registry::allow::AllowList;
    use finscan::registry::division::Attribution;
    use serde::Serialize;

    /// The derived form `write_json` replaced: the same keys, in order.
    #[derive(Serialize)]
    struct JsonRecord<'a> {
        source: &'a str,
        line: u64,
        name: &'a str,
        uscc: Option<String>,
        uscc_valid: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        uscc_error: Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        registration_number: Option<String>,
        county: Option<&'static str>,
        division: Option<&'a Attribution>,
        division_tentative: bool,
        flagged: bool,
        allowlisted: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        allow_reason: Option<&'a str>,
        licensed: bool,
        #[serde(skip_serializing_if = "Option::is_none")]
        licensed_as: Option<&'a finscan::registry::LicensedKind>,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        licensed_types: Vec<&'a finscan::registry::LicensedKind>,
        rank: Option<&'static str>,
        hits: Vec<HitRef<'a>>,
        #[serde(skip_serializing_if = "<[String]>::is_empty")]
        problems: &'a [String],
        #[serde(skip_serializing_if = "Option::is_none")]
        address: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        legal_rep: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        reg_date: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        status: Option<&'a str>,
    }

    fn derived(source: &str, rec: &Record, scan: &RecordScan) -> String {
        let (uscc, uscc_error) = match &scan.code {
            CodeStatus::Missing => (None, Some("missing".to_owned())),
            CodeStatus::Valid(c) => (Some(c.to_string()), None),
            CodeStatus::Registration(_) => (None, None),
            CodeStatus::Invalid(w, e) => (Some(w.clone()), Some(e.to_string())),
        };
        let registration_number = match &scan.code {
            CodeStatus::Registration(n) => Some(n.to_string()),
            _ => None,
        };
        let division = scan.division.as_ref();
        let r = JsonRecord {
            source,
            line: rec.line,
            name: &rec.name,
            uscc,
            uscc_valid: scan.code.valid().is_some(),
            uscc_error,
            registration_number,
            county: division.and_then(|d| d.county),
            division,
            division_tentative: scan.division_tentative,
            flagged: scan.flagged(),
            allowlisted: scan.allowlisted.is_some(),
            allow_reason: scan.allowlisted.as_deref(),
            licensed: scan.licensed.is_some(),
            licensed_as: scan.licensed.as_deref(),
            licensed_types: scan.licensed_types.iter().map(|k| &**k).collect(),
            rank: scan.rank.map(Rank::as_str),
            hits: scan.hits.iter().map(HitRef::from).collect(),
            problems: &rec.problems,
            address: rec.address.as_deref(),
            legal_rep: rec.legal_rep.as_deref(),
            reg_date: rec.reg_date.as_deref(),
            status: rec.status.as_deref(),
        };
        serde_json::to_string(&r).unwrap() + "\n"
    }

    /// `body` (17 characters) with its check character.
    fn valid_code(body: &str) -> String {
        "0123456789ABCDEFGHJKLMNPQRTUWXY"
            .chars()
            .map(|c| format!("{body}{c}"))
            .find(|c| finscan::registry::code::CreditCode::parse(c).is_ok())
            .unwrap()
    }

    #[test]
    fn json_lines_are_what_serde_json_writes() {
        let allow = "# licensed\n中国工商银行股份有限公司安康分行\n";
        let scanner = RecordScanner::new(
            &RuleSet::bundled().unwrap(),
            AllowList::parse("allow.txt", allow).0,
        );
        let rec = |name: &str, uscc: Option<String>, scope: &str| Record {
            line: 7,
            name: name.into(),
            uscc,
            scope: scope.into(),
            ..Record::default()
        };
        let mut full = rec(
            "安康\"鑫源\"理财\\投资\t管理有限公司",
            Some(valid_code("91610902MA70XXXX0")),
            "投资理财；发放贷款；企业管理咨询",
        );
        full.address = Some("陕西省安康市汉滨区\u{1}巴山路1号".into());
        full.legal_rep = Some("张三".into());
        full.reg_date = Some("2019-10-23".into());
        full.status = Some("存续".into());
        let mut broken = rec(
            "旬阳县众筹金融服务部",
            Some("91 610928 MA70XXXX0X".into()),
            "互联网金融信息中介",
        );
        broken.problems = vec!["column 企业名称: \"lossy\" text".into()];
        let cases = [
            full,
            broken,
            rec("无代码P2P理财中心", None, "P2P网络借贷"),
            rec(
                "中国工商银行股份有限公司安康分行",
                Some(valid_code("91610900MA70XXXX0")),
                "吸收公众存款；发放贷款",
            ),
            rec(
                "中国农业银行股份有限公司安康金融大街支行",
                Some("610902000123451".into()),
                "典当；吸收公众存款",
            ),
            rec(
                "安康某某典当有限责任公司",
                Some(valid_code("91610902MA70XXXX1")),
                "动产质押典当业务",
            ),
            rec(
                "旬阳县某某理财工作室",
                Some(valid_code("92610928MA70XXXX0")),
                "理财咨询",
            ),
            rec(
                "某某投资理财有限公司",
                Some(valid_code("91999999MA70XXXX0")),
                "",
            ),
            // DEL, U+2028 and an astral character pass unescaped; an error
            // message quoting a '"' and a control character is escaped
            rec(
                "\u{7f}理财\u{2028}𠀀中心",
                Some("91610902MA70\"X\u{1}XX0".into()),
                "网络借贷",
            ),
        ];
        let mut all = String::new();
        for (i, r) in cases.iter().enumerate() {
            let scan = scanner.scan(r);
            let mut out = Vec::new();
            write_json(&mut out, "in \"dir\"/a.csv", r, &scan).unwrap();
            let line = String::from_utf8(out).unwrap();
            assert_eq!(line, derived("in \"dir\"/a.csv", r, &scan), "case {i}");
            all += &line;
        }
        // every optional part was written at least once
        for part in [
            "\"allow_reason\":",
            "\"successor\":",
            "\"division_tentative\":true",
            "\"registration_number\":",
            "\"licensed_as\":",
            "\"licensed_types\":",
            "\"problems\":",
            "\"uscc_error\":\"missing\"",
            "\"known\":\"unknown\"",
            "\\u0001",
            "\\t",
            "\"start\":",
        ] {
            assert!(all.contains(part), "{part} in {all}");
        }
    }
}
