//! `finscan scan PATH...`: scan local files and directories.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use encoding_rs::Encoding;
use finscan::scan::ScannedDoc;
use finscan::scan::window::HitSink;
use finscan::text::CharsetSource;
use finscan::{DocKind, Hit};

use super::Outcome;

/// Files larger than this are reported and skipped.
const MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

#[derive(Args)]
pub struct ScanArgs {
    /// Files or directories (searched recursively); `-` reads stdin.
    #[arg(required = true)]
    paths: Vec<PathBuf>,
    /// One JSON object per hit per line.
    #[arg(long)]
    json: bool,
    /// Directory of *.toml rule files (default: the rules built into finscan).
    #[arg(long, env = "FINSCAN_RULES")]
    rules: Option<PathBuf>,
    /// Annual yield (%) above which a stated rate is flagged (default from the rules: 10).
    #[arg(long, value_name = "PERCENT", value_parser = parse_percent)]
    yield_threshold: Option<f64>,
    /// Treat every input as HTML or as plain text (default: by extension, then by content).
    #[arg(long, value_parser = ["html", "text"])]
    r#as: Option<String>,
    /// Also show every candidate that was dropped, and why (negation,
    /// quotation, the page's voice …): with `--json`, objects with
    /// `"kind": "dropped"`.
    #[arg(long)]
    explain: bool,
    /// Also print each document's activity profile (lending, payment …):
    /// with `--json`, objects with `"kind": "activity"`.
    #[arg(long)]
    activities: bool,
}

fn parse_percent(s: &str) -> Result<f64, String> {
    let v: f64 = s
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("not a number: {s:?}"))?;
    if !(0.0..=1000.0).contains(&v) {
        return Err(format!("{v} is outside 0..1000"));
    }
    Ok(v)
}

/// Writes one document's hits and dropped candidates as they come: from a
/// whole read, or from a large document's windows (the scanner's
/// [`HitSink`]), so that both print through one path.
struct Printer<'a, W> {
    out: &'a mut W,
    source: &'a str,
    json: bool,
    color: bool,
    /// Set by `begin`.
    charset: Option<(&'static str, CharsetSource)>,
}

impl<W> Printer<'_, W> {
    fn charset(&self) -> std::io::Result<(&'static str, CharsetSource)> {
        self.charset
            .ok_or_else(|| std::io::Error::other("a hit before the document's encoding"))
    }
}

impl<W: Write> HitSink for Printer<'_, W> {
    type Error = std::io::Error;

    fn begin(&mut self, encoding: &'static Encoding, source: CharsetSource) -> std::io::Result<()> {
        self.charset = Some((encoding.name(), source));
        Ok(())
    }

    fn hit(&mut self, h: &Hit) -> std::io::Result<()> {
        if self.json {
            write_json(self.out, self.source, self.charset()?, "hit", h)
        } else {
            write_human(self.out, self.source, h, self.color)
        }
    }

    fn dropped(&mut self, h: &Hit) -> std::io::Result<()> {
        if self.json {
            write_json(self.out, self.source, self.charset()?, "dropped", h)
        } else {
            write_dropped(self.out, self.source, h)
        }
    }
}

#[derive(Default)]
struct Summary {
    files: usize,
    bytes: u64,
    hits: usize,
    files_with_hits: usize,
    skipped: Vec<(String, String)>,
}

pub fn run(args: ScanArgs) -> anyhow::Result<Outcome> {
    let mut scanner = super::load_scanner(args.rules.as_deref())?;
    if let Some(t) = args.yield_threshold {
        scanner.set_yield_threshold(t);
    }
    let forced = match args.r#as.as_deref() {
        Some("html") => Some(DocKind::Html),
        Some("text") => Some(DocKind::Text),
        _ => None,
    };
    let color = !args.json && super::style::stdout_colored();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
    let mut summary = Summary::default();
    let mut files = Vec::new();
    for p in &args.paths {
        if p.as_os_str() == "-" {
            files.push(p.clone());
        } else {
            collect_files(p, &mut files, &mut summary.skipped, &mut Default::default());
        }
    }
    for path in files {
        let (source, raw) = if path.as_os_str() == "-" {
            let mut buf = Vec::new();
            match std::io::stdin()
                .lock()
                .take(MAX_FILE_BYTES + 1)
                .read_to_end(&mut buf)
            {
                Ok(n) if n as u64 > MAX_FILE_BYTES => {
                    let reason = format!("more than the {} MiB limit", MAX_FILE_BYTES >> 20);
                    summary.skipped.push(("-".into(), reason));
                    continue;
                }
                Ok(_) => ("-".to_owned(), buf),
                Err(e) => {
                    summary.skipped.push(("-".into(), e.to_string()));
                    continue;
                }
            }
        } else {
            let source = path.display().to_string();
            match read_file(&path) {
                Ok(raw) => (source, raw),
                Err(reason) => {
                    summary.skipped.push((source, reason));
                    continue;
                }
            }
        };
        if looks_binary(&raw) {
            summary
                .skipped
                .push((source, "binary file (NUL bytes), not a page".into()));
            continue;
        }
        summary.bytes += raw.len() as u64;
        let kind = forced.unwrap_or_else(|| DocKind::from_path(&path));
        let mut printer = Printer {
            out: &mut out,
            source: &source,
            json: args.json,
            color,
            charset: None,
        };
        // a large document is read in windows, in bounded memory, its hits
        // printed as they are settled
        let large = if raw.len() > finscan::scan::window::WINDOWED_ABOVE {
            scanner.scan_large(&raw, kind, None, args.explain, &mut printer)?
        } else {
            None
        };
        let (hits, activities) = match large {
            Some(l) => (l.hits, l.activities),
            None => {
                let d = if args.explain {
                    scanner.explain_document(&raw, kind, None)
                } else {
                    scanner.scan_document(&raw, kind, None)
                };
                let ScannedDoc {
                    doc,
                    hits,
                    dropped,
                    activities,
                } = d;
                printer.begin(doc.decoded.encoding, doc.decoded.source)?;
                drop(doc);
                for h in &hits {
                    printer.hit(h)?;
                }
                for h in &dropped {
                    printer.dropped(h)?;
                }
                (hits.len(), activities)
            }
        };
        drop(raw);
        summary.files += 1;
        if hits > 0 {
            summary.files_with_hits += 1;
        }
        summary.hits += hits;
        if args.activities && !activities.is_empty() {
            if args.json {
                for a in &activities.found {
                    write_activity(&mut out, &source, a)?;
                }
            } else {
                writeln!(
                    out,
                    "{source}: activities: {}",
                    finscan::scan::activity::describe(&activities.counts())
                )?;
            }
        }
    }
    out.flush()?;
    for (source, reason) in &summary.skipped {
        eprintln!("finscan: skipped {source}: {reason}");
    }
    eprintln!(
        "finscan: scanned {} file(s), {:.1} MB; {} hit(s) in {} file(s); {} skipped",
        summary.files,
        summary.bytes as f64 / 1e6,
        summary.hits,
        summary.files_with_hits,
        summary.skipped.len()
    );
    Ok(if !summary.skipped.is_empty() {
        Outcome::Partial
    } else if summary.hits > 0 {
        Outcome::Hits
    } else {
        Outcome::Clean
    })
}

fn read_file(path: &Path) -> Result<Vec<u8>, String> {
    let meta = std::fs::metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "{} bytes is over the {} MiB limit",
            meta.len(),
            MAX_FILE_BYTES >> 20
        ));
    }
    std::fs::read(path).map_err(|e| e.to_string())
}

/// Expands directories recursively (sorted, hidden entries skipped). Each
/// directory is entered once, by its canonical path, so symbolic-link loops
/// (`up -> ..`) end instead of multiplying the work.
fn collect_files(
    path: &Path,
    files: &mut Vec<PathBuf>,
    skipped: &mut Vec<(String, String)>,
    visited: &mut std::collections::HashSet<PathBuf>,
) {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) => {
            skipped.push((path.display().to_string(), e.to_string()));
            return;
        }
    };
    if !meta.is_dir() {
        files.push(path.to_owned());
        return;
    }
    match std::fs::canonicalize(path) {
        Ok(real) => {
            if !visited.insert(real) {
                return;
            }
        }
        Err(e) => {
            skipped.push((path.display().to_string(), e.to_string()));
            return;
        }
    }
    let entries = match std::fs::read_dir(path) {
        Ok(rd) => rd,
        Err(e) => {
            skipped.push((path.display().to_string(), e.to_string()));
            return;
        }
    };
    let mut children: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            !p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'))
        })
        .collect();
    children.sort();
    for c in children {
        collect_files(&c, files, skipped, visited);
    }
}

/// NUL bytes in the first 8 KiB mean a binary file, unless a UTF-16 BOM says
/// the NULs are half of UTF-16 code units.
fn looks_binary(raw: &[u8]) -> bool {
    if raw.starts_with(&[0xFF, 0xFE]) || raw.starts_with(&[0xFE, 0xFF]) {
        return false;
    }
    memchr::memchr(0, &raw[..raw.len().min(8192)]).is_some()
}

fn write_json(
    out: &mut impl Write,
    source: &str,
    (charset, charset_source): (&str, CharsetSource),
    kind: &str,
    h: &Hit,
) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        kind: &'a str,
        source: &'a str,
        charset: &'a str,
        charset_source: CharsetSource,
        #[serde(flatten)]
        hit: &'a Hit,
    }
    let line = Line {
        kind,
        source,
        charset,
        charset_source,
        hit: h,
    };
    serde_json::to_writer(&mut *out, &line)?;
    out.write_all(b"\n")
}

fn write_activity(
    out: &mut impl Write,
    source: &str,
    a: &finscan::scan::ActivityFound,
) -> std::io::Result<()> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        kind: &'a str,
        source: &'a str,
        #[serde(flatten)]
        activity: &'a finscan::scan::ActivityFound,
    }
    serde_json::to_writer(
        &mut *out,
        &Line {
            kind: "activity",
            source,
            activity: a,
        },
    )?;
    out.write_all(b"\n")
}

/// A dropped candidate, for `--explain`: where, which rule, the evidence
/// and why it is not a hit.
fn write_dropped(out: &mut impl Write, source: &str, h: &Hit) -> std::io::Result<()> {
    writeln!(
        out,
        "{source}:{}-{}  dropped {:<28} {:?}  ({})",
        h.raw.start, h.raw.end, h.rule.0, h.matched, h.reason
    )
}

fn write_human(out: &mut impl Write, source: &str, h: &Hit, color: bool) -> std::io::Result<()> {
    let (a, b) = h.snippet_match;
    let style = super::style::MATCH;
    let (on, off) = if color {
        (style.render().to_string(), style.render_reset().to_string())
    } else {
        ("【".to_string(), "】".to_string())
    };
    let rate = super::rate_suffix(h.annual_rate);
    writeln!(
        out,
        "{source}:{}-{}  {:<6} {:<24} {:<28} {}{on}{}{off}{}{rate}  [{}]",
        h.raw.start,
        h.raw.end,
        h.severity.as_str(),
        h.category.as_str(),
        h.rule.0,
        &h.snippet[..a],
        &h.snippet[a..b],
        &h.snippet[b..],
        h.reason,
    )
}
