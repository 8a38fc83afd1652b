//! `finscan export …`: writes what other offices receive: `takedown`,
//! `companies` and `warc`; the selection and the writing live in
//! `finscan::export`.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use finscan::export::{Format, PageSelection, export_warc};
use finscan::store::Store;

use super::Outcome;
use super::crawl::DbArg;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// The takedown list for the internet information office: one row per
    /// site with confirmed findings (confirmed, notified, persisting,
    /// referred), as XLSX, CSV (UTF-8 with BOM) or JSON.
    Takedown(super::review::TakedownArgs),
    /// The companies list for the county governments: one row per flagged
    /// company with confirmed findings (confirmed, notified, persisting,
    /// referred), as XLSX (a sheet per county), CSV (UTF-8 with BOM) or JSON.
    Companies(CompaniesArgs),
    /// Evidence as WARC 1.1: for every selected page, the response (status
    /// line, headers, raw body) and the request as fetched, after a warcinfo
    /// record naming finscan and the selection. Pages with hits unless
    /// --all-pages.
    Warc(WarcArgs),
}

#[derive(Args)]
pub struct WarcArgs {
    /// The WARC to write (gzip, one member per record: name it *.warc.gz).
    /// An existing file is replaced only when the export succeeds.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    db: DbArg,
    /// Only this host (exact, host:port, or a registrable domain such as
    /// a.com.cn; a URL is taken for its host).
    #[arg(long, value_parser = super::crawl::parse_host)]
    host: Option<String>,
    /// Only this page (repeatable): its URL as crawled.
    #[arg(long = "url", value_name = "URL")]
    urls: Vec<String>,
    /// Only pages fetched from this time on (a date is the start of that day
    /// in the reader's zone, see --tz).
    #[arg(long, value_parser = super::parse_time_arg)]
    since: Option<String>,
    /// Only pages fetched up to this time (a date includes all of that day).
    #[arg(long, value_parser = super::parse_time_arg)]
    until: Option<String>,
    /// Every page with a stored body, not only pages with hits.
    #[arg(long)]
    all_pages: bool,
}

#[derive(Args)]
pub struct CompaniesArgs {
    #[command(flatten)]
    db: DbArg,
    #[arg(long, value_parser = super::one_of(&Format::ALL, Format::name))]
    format: Format,
    /// The file to write; an existing file is replaced only when the export
    /// succeeds.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Filters as of `hits list` (--county 610902 or 6109 for a county or a
    /// city); without --status, the confirmed findings only.
    #[command(flatten)]
    filter: Box<super::review::FilterArgs>,
}

pub fn run(cmd: ExportCommand) -> anyhow::Result<Outcome> {
    match cmd {
        ExportCommand::Takedown(a) => super::review::export_takedown(a),
        ExportCommand::Companies(a) => companies(a),
        ExportCommand::Warc(a) => warc(a),
    }
}

/// The file beside `out` that is written first and renamed over it.
fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

fn warc(args: WarcArgs) -> anyhow::Result<Outcome> {
    let selection = PageSelection {
        host: args.host.clone(),
        urls: args.urls.clone(),
        since: super::time_arg(args.since.as_deref(), false)?,
        until: super::time_arg(args.until.as_deref(), true)?,
        all_pages: args.all_pages,
    };
    let out = &args.out;
    if out.file_name().is_none() || out.is_dir() {
        anyhow::bail!("--out {}: not a file name", out.display());
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        anyhow::bail!(
            "cannot write {}: directory {} does not exist",
            out.display(),
            parent.display()
        );
    }
    let dir = args.db.dir();
    if let Some(c) = super::serve::remote(&dir)? {
        let mut params: Vec<(&str, String)> = Vec::new();
        if let Some(h) = &selection.host {
            params.push(("host", h.clone()));
        }
        params.extend(selection.urls.iter().map(|u| ("url", u.clone())));
        params.extend(selection.since.map(|t| ("since", t.to_string())));
        params.extend(selection.until.map(|t| ("until", t.to_string())));
        if selection.all_pages {
            params.push(("all_pages", "true".into()));
        }
        let s = super::serve::download(&c, "/api/exports/warc", &params, out)
            .with_context(|| format!("exporting the WARC to {}", out.display()))?;
        let faults: Vec<String> = s["faults"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|f| f.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        return print_warc_summary(
            s["pages"].as_u64().unwrap_or(0) as usize,
            s["earlier"].as_u64().unwrap_or(0) as usize,
            s["records"].as_u64().unwrap_or(0),
            &faults,
            s["no_body"].as_u64().unwrap_or(0) as usize,
            &selection.describe(),
            out,
        );
    }
    super::require_db(&dir)?;
    let store = Store::open(&dir).map_err(|e| super::serve::open_error(&dir, e))?;

    let tmp = partial_path(out);
    let file =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    let filename = out.file_name().map(|n| n.to_string_lossy().into_owned());
    let result = selection
        .earlier_evidence(&store)
        .and_then(|earlier| {
            export_warc(
                &store,
                selection.pages(&store),
                &earlier,
                std::io::BufWriter::new(file),
                filename.as_deref(),
                &selection.describe(),
            )
        })
        .map_err(anyhow::Error::from)
        .and_then(|(w, summary)| {
            let file = w.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            Ok(summary)
        })
        .and_then(|summary| {
            std::fs::rename(&tmp, out)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), out.display()))?;
            Ok(summary)
        });
    let summary = match result {
        Ok(s) => s,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e.context(format!("exporting the WARC to {}", out.display())));
        }
    };

    let faults: Vec<String> = summary
        .skipped
        .iter()
        .filter(|s| s.is_error())
        .map(|s| s.to_string())
        .collect();
    let no_body = summary.skipped.len() - faults.len();
    print_warc_summary(
        summary.pages,
        summary.earlier,
        summary.records,
        &faults,
        no_body,
        &selection.describe(),
        out,
    )
}

/// What a WARC export wrote and skipped, on stderr; partial (3) when
/// evidence asked for could not be exported.
fn print_warc_summary(
    pages: usize,
    earlier: usize,
    records: u64,
    faults: &[String],
    no_body: usize,
    selection: &str,
    out: &Path,
) -> anyhow::Result<Outcome> {
    let mut err = anstream::stderr().lock();
    for f in faults {
        writeln!(err, "finscan: skipped {f}")?;
    }
    if pages == 0 && earlier == 0 {
        writeln!(
            err,
            "finscan: no page matched ({selection}): {} holds only its warcinfo record",
            out.display()
        )?;
    } else if earlier == 0 {
        writeln!(
            err,
            "finscan: wrote {pages} page(s) as {records} WARC records to {}",
            out.display()
        )?;
    } else {
        // evidence of pages fetched again since (gone or changed)
        writeln!(
            err,
            "finscan: wrote {pages} page(s) and {earlier} earlier evidence body(ies) of pages fetched again since as {records} WARC records to {}",
            out.display()
        )?;
    }
    if no_body > 0 {
        writeln!(
            err,
            "finscan: {no_body} selected page(s) have no stored body (failed, redirected or disallowed) and have no response to export"
        )?;
    }
    Ok(if !faults.is_empty() {
        Outcome::Partial
    } else {
        Outcome::Clean
    })
}

fn companies(args: CompaniesArgs) -> anyhow::Result<Outcome> {
    use finscan::export::companies;
    use finscan::review::SourceKind;
    let q = args.filter.query();
    if q.source == Some(SourceKind::Page) {
        anyhow::bail!("the companies list is of registry findings: --source page has no rows here");
    }
    if !q.sites.is_empty() {
        anyhow::bail!("the companies list is of registry findings: --host has no rows here");
    }
    super::report::check_out(&args.out)?;
    let (rows, counties) = if let Some(c) = super::serve::remote(&args.db.dir())? {
        let mut params = super::serve::filter_params(&q);
        params.push(("format", args.format.name().to_owned()));
        params.push(("tz", super::zone().name().to_owned()));
        let s = super::serve::download(&c, "/api/exports/companies", &params, &args.out)
            .with_context(|| format!("exporting the companies list to {}", args.out.display()))?;
        (
            s["rows"].as_u64().unwrap_or(0) as usize,
            s["counties"].as_u64().unwrap_or(0) as usize,
        )
    } else {
        let desk = super::open_desk(&args.db)?;
        let rows = companies::company_rows(&desk, &q, super::zone())?;
        super::report::write_atomically(&args.out, |tmp| {
            Ok(companies::write(&rows, args.format, tmp)?)
        })
        .with_context(|| format!("exporting the companies list to {}", args.out.display()))?;
        (rows.len(), companies::sheets(&rows).len())
    };
    writeln!(
        anstream::stderr(),
        "finscan: companies list of {rows} compan(ies) in {counties} county(ies) written to {}",
        args.out.display()
    )?;
    Ok(Outcome::Clean)
}
