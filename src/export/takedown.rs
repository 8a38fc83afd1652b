//! The takedown list (网信办): one row per site with confirmed findings.
//!
//! By default only what a reviewer confirmed as a violation is listed
//! (confirmed, notified, persisting, referred), never new or dismissed
//! findings, and only page findings (companies have `export companies`).
//! The columns are the office's, in Chinese ([`HEADERS`]).
//!
//! Formats: XLSX (frozen header, column widths, the excerpt wrapped) for
//! the desktop; CSV in UTF-8 with a byte-order mark, which Excel on a
//! Chinese Windows desktop needs to read UTF-8 (without it, it reads GBK);
//! JSON for systems (an array of objects keyed by the same headers).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use super::ExportError;
use crate::review::{Desk, Evidence, Query, SourceKind, Status};

/// The columns, in order.
pub const HEADERS: [&str; 13] = [
    "序号",
    "网站名称",
    "域名",
    "网址",
    "ICP备案号",
    "主办单位",
    "违规类型",
    "违规内容摘录",
    "依据条款",
    "首次发现时间",
    "最近核实时间",
    "处理状态",
    "证据SHA-256",
];

/// Excerpts quoted per site (the worst first).
const EXCERPTS: usize = 5;

/// One site's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TakedownRow {
    pub seq: usize,
    /// The title of the site's page with its worst finding.
    pub name: String,
    pub domain: String,
    pub url: String,
    pub icp: String,
    pub operator: String,
    /// Categories, worst first, joined by `；`.
    pub violations: String,
    /// Up to five matched excerpts with their context.
    pub excerpt: String,
    pub basis: String,
    pub first_seen: String,
    /// When the evidence was last seen by a crawl (or last decided on).
    pub last_verified: String,
    /// The most advanced status among its findings.
    pub status: String,
    /// SHA-256 of the bodies holding the evidence, joined by `；`.
    pub evidence_sha256: String,
}

impl TakedownRow {
    pub fn cells(&self) -> [String; 13] {
        [
            self.seq.to_string(),
            self.name.clone(),
            self.domain.clone(),
            self.url.clone(),
            self.icp.clone(),
            self.operator.clone(),
            self.violations.clone(),
            self.excerpt.clone(),
            self.basis.clone(),
            self.first_seen.clone(),
            self.last_verified.clone(),
            self.status.clone(),
            self.evidence_sha256.clone(),
        ]
    }
}

/// How far along the lifecycle a status is, for a site's one status.
fn progress(s: Status) -> u8 {
    match s {
        Status::New | Status::Dismissed => 0,
        Status::Confirmed => 1,
        Status::Notified => 2,
        Status::Rectified => 3,
        Status::Persisting => 4,
        Status::Referred => 5,
    }
}

fn join(items: impl IntoIterator<Item = String>) -> String {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect::<Vec<_>>()
        .join("；")
}

/// The rows for the findings `q` selects (its status filter defaulting to
/// the confirmed violations, its source to pages), sites in order of their
/// worst finding. The office reads Chinese: categories and statuses are
/// their Chinese names, times are civil times in `zone`.
pub fn takedown_rows(
    desk: &Desk,
    q: &Query,
    zone: &crate::time::Zone,
) -> Result<Vec<TakedownRow>, ExportError> {
    let mut q = q.clone();
    if q.statuses.is_empty() {
        q.statuses = Status::ALL
            .into_iter()
            .filter(|s| s.is_confirmed_violation())
            .collect();
    }
    q.source = Some(SourceKind::Page);
    q.limit = None;
    let findings = desk.list(&q)?.findings;
    // sites in the order their first (worst) finding comes
    let mut order: Vec<String> = Vec::new();
    let mut by_site: BTreeMap<String, Vec<crate::review::Finding>> = BTreeMap::new();
    for f in findings {
        let site = f.site.clone().unwrap_or_default();
        if !by_site.contains_key(&site) {
            order.push(site.clone());
        }
        by_site.entry(site).or_default().push(f);
    }
    let mut rows = Vec::new();
    for (i, site) in order.into_iter().enumerate() {
        let fs = &by_site[&site];
        let first = &fs[0];
        let page = desk.page_of(first)?;
        let mut icp = page.as_ref().and_then(|p| p.icp.clone());
        let mut operator = page.as_ref().and_then(|p| p.operator.clone());
        let mut last = first.updated;
        let mut last_seen: Option<String> = None;
        let mut shas = Vec::new();
        for f in fs {
            if icp.is_none() || operator.is_none() {
                let p = desk.page_of(f)?;
                icp = icp.or_else(|| p.as_ref().and_then(|p| p.icp.clone()));
                operator = operator.or_else(|| p.and_then(|p| p.operator));
            }
            last = last.max(f.updated);
            if let Some(t) = desk.last_seen(f)?
                && last_seen.as_ref().is_none_or(|l| t > *l)
            {
                last_seen = Some(t);
            }
            if let Evidence::Page(p) = &f.evidence {
                shas.extend(p.sha256.clone());
            }
        }
        let last_verified = match last_seen.as_deref().and_then(crate::time::from_stored) {
            Some(t) if t > last => t,
            _ => last,
        };
        let url = match &first.evidence {
            Evidence::Page(p) => p.url.clone(),
            Evidence::Registry(_) => String::new(),
        };
        let status = fs
            .iter()
            .map(|f| f.status)
            .max_by_key(|s| progress(*s))
            .unwrap_or(Status::Confirmed);
        rows.push(TakedownRow {
            seq: i + 1,
            name: page.and_then(|p| p.title).unwrap_or_default(),
            domain: site,
            url,
            icp: icp.unwrap_or_default(),
            operator: operator.unwrap_or_default(),
            violations: join(fs.iter().map(|f| f.category.label_zh().to_owned())),
            excerpt: fs
                .iter()
                .take(EXCERPTS)
                .map(|f| format!("【{}】{}", f.matched, f.snippet.replace('\n', " ").trim()))
                .collect::<Vec<_>>()
                .join("\n"),
            basis: join(fs.iter().map(|f| f.basis.clone())),
            first_seen: zone.human(
                fs.iter()
                    .map(|f| f.first_seen)
                    .min()
                    .unwrap_or(first.first_seen),
            ),
            last_verified: zone.human(last_verified),
            status: status.label_zh().to_owned(),
            evidence_sha256: join(shas),
        });
    }
    Ok(rows)
}

/// Writes the rows in `format` to `path`.
pub fn write(rows: &[TakedownRow], format: super::Format, path: &Path) -> Result<(), ExportError> {
    match format {
        super::Format::Xlsx => write_xlsx(rows, path),
        super::Format::Csv => write_csv(rows, path),
        super::Format::Json => write_json(rows, path),
    }
}

/// Writes the rows as XLSX: one sheet, the header frozen, widths set, the
/// excerpt wrapped. The sheet is in rust_xlsxwriter's constant-memory mode
/// (rows written in order, strings inline): the export of 10,000 findings
/// on the 1,000,000-finding desk peaked at 89-91 MiB instead of 92-95 MiB
/// (bench/desk_paths.sh).
pub fn write_xlsx(rows: &[TakedownRow], path: &Path) -> Result<(), ExportError> {
    use rust_xlsxwriter::Format;
    let err = |source| ExportError::Xlsx {
        path: path.display().to_string(),
        source,
    };
    let mut wb = super::table::workbook(path)?;
    let ws = wb.add_worksheet_with_constant_memory();
    ws.set_name("下架清单").map_err(err)?;
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    const WIDTHS: [f64; 13] = [
        6.0, 24.0, 22.0, 40.0, 22.0, 28.0, 24.0, 60.0, 40.0, 21.0, 21.0, 10.0, 66.0,
    ];
    for (c, (h, w)) in HEADERS.iter().zip(WIDTHS).enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold)
            .map_err(err)?;
        ws.set_column_width(c as u16, w).map_err(err)?;
    }
    ws.set_freeze_panes(1, 0).map_err(err)?;
    for (r, row) in rows.iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.cells().iter().enumerate() {
            if c == 0 {
                ws.write_number(r, 0, row.seq as f64).map_err(err)?;
            } else if c == 7 {
                ws.write_string_with_format(r, c as u16, cell, &wrap)
                    .map_err(err)?;
            } else {
                ws.write_string(r, c as u16, cell).map_err(err)?;
            }
        }
    }
    wb.save(path).map_err(err)
}

/// Writes the rows as CSV in UTF-8 with a byte-order mark.
pub fn write_csv(rows: &[TakedownRow], path: &Path) -> Result<(), ExportError> {
    super::table::write_csv(&HEADERS, rows.iter().map(TakedownRow::cells), path)
}

/// Writes the rows as a JSON array of objects keyed by [`HEADERS`] (序号 a
/// number, the rest text).
pub fn write_json(rows: &[TakedownRow], path: &Path) -> Result<(), ExportError> {
    super::table::write_json(&HEADERS, rows.iter().map(|r| (r.seq, r.cells())), path)
}
