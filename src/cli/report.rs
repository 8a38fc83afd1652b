//! `finscan report`: the periodic report as one self-contained HTML file.
//! The figures are the review desk's ([`finscan::review::Desk::report_data`]),
//! the rendering is [`finscan::report::write_html`].

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;

use super::Outcome;
use super::crawl::DbArg;

#[derive(Args)]
pub struct ReportArgs {
    /// The HTML file to write; an existing file is replaced only when the
    /// report is complete.
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    #[command(flatten)]
    db: DbArg,
    /// Only findings first seen from this time on (a date is the start of
    /// that day in the reader's zone, see --tz).
    #[arg(long, value_parser = super::since_arg)]
    since: Option<jiff::Timestamp>,
    /// The report's title [default: 互联网金融风险专项整治 监测报告].
    #[arg(long)]
    title: Option<String>,
}

/// The file beside `out` that is written first and renamed over it.
pub fn partial_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    out.with_file_name(name)
}

/// Refuses an `--out` that is not a file name or whose directory is missing,
/// before anything is opened or written.
pub fn check_out(out: &Path) -> anyhow::Result<()> {
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
    Ok(())
}

/// Writes `out` through its `.partial` sibling: `write` fills the file, which
/// is synced and renamed over `out`; on any error the partial file is removed
/// and `out` is left as it was.
pub fn write_atomically(
    out: &Path,
    write: impl FnOnce(&Path) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let tmp = partial_path(out);
    let result = write(&tmp)
        .and_then(|()| {
            std::fs::File::open(&tmp)
                .and_then(|f| f.sync_all())
                .with_context(|| format!("cannot sync {}", tmp.display()))
        })
        .and_then(|()| {
            std::fs::rename(&tmp, out)
                .with_context(|| format!("cannot rename {} to {}", tmp.display(), out.display()))
        });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

pub fn run(args: ReportArgs) -> anyhow::Result<Outcome> {
    check_out(&args.out)?;
    if let Some(c) = super::serve::remote(&args.db.dir())? {
        let mut params = vec![("tz", super::zone().name().to_owned())];
        params.extend(args.since.map(|t| ("since", t.to_string())));
        params.extend(args.title.map(|t| ("title", t)));
        let s = super::serve::download(&c, "/api/report", &params, &args.out)
            .with_context(|| format!("writing the report to {}", args.out.display()))?;
        writeln!(
            anstream::stderr(),
            "finscan: report of {} finding(s) ({} site(s) in the top list) written to {}",
            s["findings"].as_u64().unwrap_or(0),
            s["top_sites"].as_u64().unwrap_or(0),
            args.out.display()
        )?;
        return Ok(Outcome::Clean);
    }
    let desk = super::open_desk(&args.db)?;
    let zone = super::zone();
    let mut data = desk
        .report_data(args.since, finscan::time::now(), zone)
        .context("reading the findings")?;
    if let Some(t) = args.title {
        data.title = t;
    }
    write_atomically(&args.out, |tmp| {
        let file = std::fs::File::create(tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut w = std::io::BufWriter::new(file);
        finscan::report::write_html(&data, zone, &mut w)
            .and_then(|()| w.flush())
            .with_context(|| format!("cannot write {}", tmp.display()))
    })
    .with_context(|| format!("writing the report to {}", args.out.display()))?;
    let total: u64 = data.by_status.iter().map(|c| c.count).sum();
    writeln!(
        anstream::stderr(),
        "finscan: report of {total} finding(s) ({} site(s) in the top list) written to {}",
        data.top_sites.len(),
        args.out.display()
    )?;
    Ok(Outcome::Clean)
}
