//! The companies list (plan §五（一）): registry findings, one row per flagged
//! company, for the county governments that answer for their area.
//!
//! Like the takedown list, by default only what a reviewer confirmed
//! (confirmed, notified, persisting, referred), never new or dismissed
//! findings; only registry findings. The columns are Chinese
//! ([`HEADERS`]); times are the reader's (a [`Zone`]), statuses their
//! Chinese names ([`Status::label_zh`]).
//!
//! Rows come county by county (by division code; companies whose code
//! names no county last, as [`UNATTRIBUTED`]), worst finding first within
//! a county. XLSX has one sheet per county, named for it, each numbered
//! from 1 so that a county's sheet stands alone; CSV (UTF-8 with a BOM) and
//! JSON are one list numbered through, with the county in a column.

use std::path::Path;

use serde::Serialize;

use super::ExportError;
use crate::registry::division::Divisions;
use crate::review::report::UNATTRIBUTED;
use crate::review::{Desk, Evidence, Finding, Query, SourceKind, Status};
use crate::time::Zone;

/// The columns, in order.
pub const HEADERS: [&str; 9] = [
    "序号",
    "统一社会信用代码",
    "企业名称",
    "所属区县",
    "限制性用语",
    "经营范围摘录",
    "依据条款",
    "首次发现时间",
    "处理状态",
];

/// Characters of the business scope quoted; a longer scope is cut around
/// its first restricted word.
pub const SCOPE_EXCERPT: usize = 160;

/// One company's row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CompanyRow {
    pub seq: usize,
    /// The division code the company is attributed to (the sheet), if any.
    pub county_code: Option<String>,
    /// Unified social credit code (统一社会信用代码); empty when the record
    /// had none (the company is then known by its name).
    pub uscc: String,
    pub name: String,
    /// The county's full name (province, prefecture, county), or
    /// [`UNATTRIBUTED`].
    pub county: String,
    /// Restricted words found, joined by `；`.
    pub words: String,
    /// Business scope (经营范围), or its part around the first word found in it.
    pub scope: String,
    pub basis: String,
    pub first_seen: String,
    pub status: String,
}

impl CompanyRow {
    pub fn cells(&self) -> [String; 9] {
        [
            self.seq.to_string(),
            self.uscc.clone(),
            self.name.clone(),
            self.county.clone(),
            self.words.clone(),
            self.scope.clone(),
            self.basis.clone(),
            self.first_seen.clone(),
            self.status.clone(),
        ]
    }
}

/// The rows for the registry findings `q` selects (its status filter
/// defaulting to the confirmed violations), county by county.
pub fn company_rows(desk: &Desk, q: &Query, zone: &Zone) -> Result<Vec<CompanyRow>, ExportError> {
    let mut q = q.clone();
    if q.statuses.is_empty() {
        q.statuses = Status::ALL
            .into_iter()
            .filter(|s| s.is_confirmed_violation())
            .collect();
    }
    q.source = Some(SourceKind::Registry);
    q.limit = None;
    let mut findings = desk.list(&q)?.findings;
    // stable: the query's order (worst first) stays within a county
    findings.sort_by(|a, b| match (&a.county, &b.county) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
    Ok(findings
        .iter()
        .filter_map(|f| match &f.evidence {
            Evidence::Registry(c) => Some((f, c)),
            Evidence::Page(_) => None,
        })
        .enumerate()
        .map(|(i, (f, c))| CompanyRow {
            seq: i + 1,
            county_code: f.county.clone(),
            uscc: c.uscc.clone().unwrap_or_default(),
            name: c.name.clone(),
            county: county_label(f),
            words: join(c.matches.iter().map(|m| m.matched.clone())),
            scope: scope_excerpt(
                &c.scope,
                c.matches
                    .iter()
                    .filter(|m| m.field == "scope")
                    .map(|m| m.matched.as_str()),
            ),
            basis: f.basis.clone(),
            first_seen: zone.human(f.first_seen),
            status: f.status.label_zh().to_owned(),
        })
        .collect())
}

fn county_label(f: &Finding) -> String {
    let from_record = match &f.evidence {
        Evidence::Registry(c) => c.county_name.clone(),
        Evidence::Page(_) => None,
    };
    match &f.county {
        Some(code) => from_record.unwrap_or_else(|| Divisions::bundled().attribute(code).label()),
        None => UNATTRIBUTED.to_owned(),
    }
}

fn join(items: impl IntoIterator<Item = String>) -> String {
    let mut seen = std::collections::BTreeSet::new();
    items
        .into_iter()
        .filter(|s| !s.is_empty() && seen.insert(s.clone()))
        .collect::<Vec<_>>()
        .join("；")
}

/// The scope, or when longer than [`SCOPE_EXCERPT`] characters, that many
/// around the first of `words` found in it (from its start when none is),
/// with `…` where it was cut.
fn scope_excerpt<'a>(scope: &str, words: impl IntoIterator<Item = &'a str>) -> String {
    let chars: Vec<char> = scope.chars().collect();
    if chars.len() <= SCOPE_EXCERPT {
        return scope.to_owned();
    }
    let at = words
        .into_iter()
        .filter_map(|w| scope.find(w).map(|b| scope[..b].chars().count()))
        .min()
        .unwrap_or(0);
    let start = at
        .saturating_sub(SCOPE_EXCERPT / 4)
        .min(chars.len() - SCOPE_EXCERPT);
    let end = start + SCOPE_EXCERPT;
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    out
}

/// The sheets of an XLSX: (sheet name, rows), one per county in row order.
/// Names are the county's short name (Excel allows 31 characters and none
/// of `[]:*?/\`), with the division code added when two counties share one.
pub fn sheets(rows: &[CompanyRow]) -> Vec<(String, Vec<&CompanyRow>)> {
    let mut out: Vec<(Option<String>, Vec<&CompanyRow>)> = Vec::new();
    for r in rows {
        match out.last_mut() {
            Some((code, v)) if *code == r.county_code => v.push(r),
            _ => out.push((r.county_code.clone(), vec![r])),
        }
    }
    let short = |code: &Option<String>| match code {
        Some(c) => Divisions::bundled().attribute(c).short_label(),
        None => UNATTRIBUTED.to_owned(),
    };
    let names: Vec<String> = out.iter().map(|(c, _)| short(c)).collect();
    out.iter()
        .zip(&names)
        .map(|((code, rows), name)| {
            let shared = names.iter().filter(|n| *n == name).count() > 1;
            let name = match code {
                Some(c) if shared => format!("{name} {c}"),
                _ => name.clone(),
            };
            let clean: String = name
                .chars()
                .map(|ch| if "[]:*?/\\".contains(ch) { '_' } else { ch })
                .take(31)
                .collect();
            (clean, rows.clone())
        })
        .collect()
}

/// Writes the rows in `format` to `path`.
pub fn write(rows: &[CompanyRow], format: super::Format, path: &Path) -> Result<(), ExportError> {
    match format {
        super::Format::Xlsx => write_xlsx(rows, path),
        super::Format::Csv => write_csv(rows, path),
        super::Format::Json => write_json(rows, path),
    }
}

/// Writes the rows as XLSX: a sheet per county (an empty list: one sheet
/// with the header only), the header frozen, widths set, the scope wrapped;
/// each sheet in constant-memory mode, as the takedown list's.
pub fn write_xlsx(rows: &[CompanyRow], path: &Path) -> Result<(), ExportError> {
    use rust_xlsxwriter::Format;
    let err = |source| ExportError::Xlsx {
        path: path.display().to_string(),
        source,
    };
    let mut wb = super::table::workbook(path)?;
    let bold = Format::new().set_bold();
    let wrap = Format::new().set_text_wrap();
    const WIDTHS: [f64; 9] = [6.0, 22.0, 34.0, 26.0, 18.0, 60.0, 40.0, 21.0, 12.0];
    let mut sheets = sheets(rows);
    if sheets.is_empty() {
        sheets.push(("企业清单".to_owned(), Vec::new()));
    }
    for (name, rows) in sheets {
        let ws = wb.add_worksheet_with_constant_memory();
        ws.set_name(&name).map_err(err)?;
        for (c, (h, w)) in HEADERS.iter().zip(WIDTHS).enumerate() {
            ws.write_string_with_format(0, c as u16, *h, &bold)
                .map_err(err)?;
            ws.set_column_width(c as u16, w).map_err(err)?;
        }
        ws.set_freeze_panes(1, 0).map_err(err)?;
        for (i, row) in rows.iter().enumerate() {
            let r = i as u32 + 1;
            for (c, cell) in row.cells().iter().enumerate() {
                match c {
                    // numbered within the county's sheet
                    0 => ws.write_number(r, 0, (i + 1) as f64).map(|_| ()),
                    5 => ws
                        .write_string_with_format(r, c as u16, cell, &wrap)
                        .map(|_| ()),
                    _ => ws.write_string(r, c as u16, cell).map(|_| ()),
                }
                .map_err(err)?;
            }
        }
    }
    wb.save(path).map_err(err)
}

/// Writes the rows as CSV in UTF-8 with a byte-order mark.
pub fn write_csv(rows: &[CompanyRow], path: &Path) -> Result<(), ExportError> {
    super::table::write_csv(&HEADERS, rows.iter().map(CompanyRow::cells), path)
}

/// Writes the rows as a JSON array of objects keyed by [`HEADERS`] (序号 a
/// number, the rest text).
pub fn write_json(rows: &[CompanyRow], path: &Path) -> Result<(), ExportError> {
    super::table::write_json(&HEADERS, rows.iter().map(|r| (r.seq, r.cells())), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(code: Option<&str>, seq: usize) -> CompanyRow {
        CompanyRow {
            seq,
            county_code: code.map(str::to_owned),
            uscc: String::new(),
            name: format!("公司{seq}"),
            county: String::new(),
            words: String::new(),
            scope: String::new(),
            basis: String::new(),
            first_seen: String::new(),
            status: String::new(),
        }
    }

    #[test]
    fn a_long_scope_is_cut_around_its_first_word() {
        let scope = format!("{}发放贷款{}", "甲".repeat(300), "乙".repeat(300));
        let e = scope_excerpt(&scope, ["发放贷款"]);
        assert!(e.contains("发放贷款"), "{e}");
        assert!(e.starts_with('…') && e.ends_with('…'));
        assert_eq!(e.chars().count(), SCOPE_EXCERPT + 2);
        assert_eq!(scope_excerpt("理财咨询", ["理财"]), "理财咨询");
        let no_word = scope_excerpt(&"丙".repeat(400), []);
        assert!(!no_word.starts_with('…') && no_word.ends_with('…'));
    }

    #[test]
    fn sheets_are_per_county_named_for_it_with_the_unattributed_last() {
        let rows = [
            row(Some("610902"), 1),
            row(Some("610902"), 2),
            row(Some("610921"), 3),
            row(None, 4),
        ];
        let s = sheets(&rows);
        let names: Vec<&str> = s.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["汉滨区", "汉阴县", UNATTRIBUTED]);
        assert_eq!(s[0].1.len(), 2);
        // two counties of one name (新城区 of Xi'an and of Hohhot) get codes
        let rows = [row(Some("610102"), 1), row(Some("150102"), 2)];
        let twins = sheets(&rows);
        assert_eq!(twins[0].0, "新城区 610102");
        assert_eq!(twins[1].0, "新城区 150102");
    }
}
