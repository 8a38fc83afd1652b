//! `finscan registry scan | list | check | extract`.
//!
//! `scan` and `extract` call the library's registry pipeline
//! ([`finscan::registry::pipeline`]: reading, threads, scanning, storing,
//! counting) and print what it hands them: one JSON object per record
//! (`--json`, in file order) or a table ranked by urgency followed by a
//! per-county summary, and the counts on stderr.

use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::{Args, Subcommand};
use finscan::job::{Cancel, Outcome as JobOutcome};
use finscan::registry::CodeStatus;
use finscan::registry::division::Divisions;
use finscan::registry::import::{Column, Record, RowError};
use finscan::registry::pipeline::{
    RecordSink, RegistryScan, RegistryScanError, RegistryScanOptions, RegistryScanReport,
};
use finscan::registry::profile::Profile;
use finscan::registry::store::{HitRef, RegistryStore};
use finscan::registry::{Rank, RecordScan};

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
    let opts = RegistryScanOptions {
        inputs: args.files,
        county: args.county,
        columns: args.columns,
        format: args.format,
        encoding: args.encoding,
        sheet: args.sheet,
        threads: args.threads,
        allowlist: args.common.allowlist.clone(),
        licensed: !args.common.no_licensed,
        rules: args.common.rules.clone(),
        // the table is the ranking; the report keeps no copy of it
        keep_findings: 0,
    };
    let scan = RegistryScan::new(&opts).map_err(flag_error)?;
    let mut out = ScanOutput::new(&args.common);
    for w in scan.warnings() {
        out.warning(w);
    }
    let mut store = open_store(&args.common)?;
    let report = scan.run(store.as_mut(), &mut out, &Cancel::new())?;
    let outcome = out.finish(&report)?;
    if let Some(store) = store {
        drop(store);
        super::recheck::after_reading_dir(&args.common.db)?;
    }
    Ok(outcome)
}

/// A library error, in the words of the flag that caused it.
fn flag_error(e: RegistryScanError) -> anyhow::Error {
    match e {
        RegistryScanError::County(c) => anyhow::anyhow!(
            "--county {c:?}: expected the first digits of a division code (e.g. 6109)"
        ),
        e => e.into(),
    }
}

/// The database, unless `--no-store`.
fn open_store(common: &CommonArgs) -> anyhow::Result<Option<RegistryStore>> {
    if common.no_store {
        return Ok(None);
    }
    RegistryStore::open(&common.db)
        .map(Some)
        .with_context(|| format!("cannot open database {}", common.db.display()))
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
    let opts = RegistryScanOptions {
        allowlist: args.common.allowlist.clone(),
        licensed: !args.common.no_licensed,
        rules: args.common.rules.clone(),
        keep_findings: 0,
        ..RegistryScanOptions::default()
    };
    let scan = RegistryScan::new(&opts)?;
    let mut out = ScanOutput::new(&args.common);
    for w in scan.warnings() {
        out.warning(w);
    }
    let mut store = open_store(&args.common)?;
    let report = scan.extract_pages(
        &profile,
        &url,
        &args.pages,
        store.as_mut(),
        &mut out,
        &Cancel::new(),
    )?;
    out.finish(&report)
}

/// What `registry scan` and `registry extract` print: one JSON object per
/// record (`--json`, in file order) or the table ranked by urgency, then
/// the per-county summary on stdout and the counts on stderr.
///
/// The ranked table is built without holding records in memory: rendered
/// lines go to one anonymous temporary file per rank and are copied to
/// stdout at the end, so memory stays flat whatever the input size.
struct ScanOutput {
    json: bool,
    all: bool,
    out: BufWriter<std::io::Stdout>,
    buckets: Buckets,
}

impl ScanOutput {
    fn new(common: &CommonArgs) -> Self {
        ScanOutput {
            json: common.json,
            all: common.all,
            out: BufWriter::with_capacity(1 << 16, std::io::stdout()),
            buckets: Buckets::default(),
        }
    }

    /// Prints the table and the per-county summary (without `--json`) and
    /// the counts; the exit status of the scan.
    fn finish(mut self, s: &RegistryScanReport) -> anyhow::Result<Outcome> {
        if !self.json {
            writeln!(
                self.out,
                "{:<14} {:<24} {:<36} {:<22} {:<20} hits",
                "rank", "file:line", "name", "credit code", "county"
            )?;
            self.buckets.copy_to(&mut self.out)?;
            write_county_summary(&mut self.out, s, self.all)?;
        }
        self.out.flush()?;
        let shown: Vec<String> = s
            .terms
            .iter()
            .take(12)
            .map(|t| format!("{} {}", t.term, t.records))
            .collect();
        eprintln!(
            "finscan: {} file(s), {} record(s): {} flagged ({} name+activity, {} name, {} activity, {} scope-word), {} allow-listed, {} licensed, {} with a licensed activity to verify; credit codes: {} invalid, {} missing, {} registration number(s); {} row error(s), {} record(s) with problems, {} file(s) skipped{}{}",
            s.files,
            s.records,
            s.flagged,
            s.by_rank.name_and_activity,
            s.by_rank.name,
            s.by_rank.activity,
            s.by_rank.scope_word,
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
            if s.stored {
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
        Ok(match s.outcome {
            JobOutcome::Clean => Outcome::Clean,
            JobOutcome::Hits => Outcome::Hits,
            JobOutcome::Partial | JobOutcome::Cancelled => Outcome::Partial,
        })
    }
}

impl RecordSink for ScanOutput {
    fn warning(&mut self, message: &str) {
        eprintln!("finscan: warning: {message}");
    }

    fn file_failed(&mut self, source: &str, message: &str) -> io::Result<()> {
        eprintln!("finscan: skipped {source}: {message}");
        Ok(())
    }

    fn file_opened(&mut self, source: &str, missing: &[Column]) -> io::Result<()> {
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|c| c.as_str()).collect();
            eprintln!(
                "finscan: {source}: no {} column; {}",
                names.join(", "),
                if missing.contains(&Column::Uscc) {
                    "credit codes are not validated and counties not attributed"
                } else {
                    "only names are scanned"
                }
            );
        }
        Ok(())
    }

    fn row_failed(&mut self, source: &str, e: &RowError) -> io::Result<()> {
        eprintln!("finscan: {source}:{}: {}", e.line, e.message);
        if self.json {
            serde_json::to_writer(
                &mut self.out,
                &serde_json::json!({"source": source, "line": e.line, "error": e.message, "flagged": false}),
            )?;
            self.out.write_all(b"\n")
        } else {
            let line = format!("{:<14} {source}:{}  {}\n", "error", e.line, e.message);
            self.buckets.write(5, line.as_bytes())
        }
    }

    fn page_problem(&mut self, source: &str, message: &str) -> io::Result<()> {
        eprintln!("finscan: {source}:0: {message}");
        Ok(())
    }

    fn record(&mut self, source: &str, rec: &Record, scan: &RecordScan) -> io::Result<()> {
        for p in &rec.problems {
            eprintln!("finscan: {source}:{}: {p}", rec.line);
        }
        let has_error = matches!(scan.code, CodeStatus::Invalid(..)) || !rec.problems.is_empty();
        if !(self.all || scan.flagged() || scan.to_verify() || has_error) {
            return Ok(());
        }
        if self.json {
            write_json(&mut self.out, source, rec, scan)
        } else {
            let bucket = match scan.rank {
                Some(r) if scan.flagged() => r as usize,
                _ if scan.to_verify() => 4,
                _ if has_error => 5,
                _ => 6,
            };
            let line = render_row(source, rec, scan);
            self.buckets.write(bucket, line.as_bytes())
        }
    }

    fn link(&mut self, source: &str, url: &url::Url) {
        eprintln!("finscan: {source}: link to follow: {url}");
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
) -> io::Result<()> {
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
fn write_county_summary(
    out: &mut impl Write,
    s: &RegistryScanReport,
    all: bool,
) -> std::io::Result<()> {
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
    // the report lists them most flagged first, then by code
    for c in s.counties.iter().filter(|c| all || c.has_findings()) {
        writeln!(
            out,
            "{:<8} {} {:>9} {:>8} {:>9} {:>14}",
            c.code.as_deref().unwrap_or("-"),
            pad(&c.label, 28),
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
    use finscan::registry::RecordScanner;
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
