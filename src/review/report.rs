//! The periodic report's figures ([`crate::report::ReportData`]) from the
//! review desk.
//!
//! Everything is read from the index, never from the findings' records: one
//! walk over the time index from `since` (each entry carries the finding's
//! 40-byte summary: status, severity, county, first seen and fingerprints
//! of category and site), plus a handful of records for the top sites'
//! operator and ICP number. Categories and sites are named back from their
//! fingerprints through the category list and the site counts.
//!
//! Choices the report states:
//! * `since` limits by first seen, like `hits list --since`.
//! * By county: registry findings by their county's name; page findings
//!   (a website has no registering authority) and companies whose code has
//!   no county are one bar, [`UNATTRIBUTED`], last.
//! * Over time: per day in the reader's zone when the period spans at most
//!   [`DAILY_MAX_DAYS`] days, else per ISO week (`2026-W49`); periods
//!   without findings are shown as 0.
//! * Notified counts every finding that was ever notified (notified,
//!   rectified, persisting, referred); rectified is `rectified`; persisting
//!   is `persisting` and `referred` (a referral follows a persisting
//!   recheck).

use std::collections::{BTreeMap, HashMap};

use jiff::Timestamp;
use jiff::civil::Date;

use super::finding::{SourceKind, Status, severity_of_rank};
use super::index::{Dim, Summary, TIME};
use super::{Desk, Query, ReviewError};
use crate::registry::division::Divisions;
use crate::report::{Count, ReportData, SiteRow};
use crate::rules::{Category, Severity};
use crate::store::fingerprint;
use crate::time::Zone;

/// The bar of findings without a county (page findings, companies whose
/// credit code names none).
pub const UNATTRIBUTED: &str = "未归属区县";
/// The longest period shown per day; longer ones are shown per ISO week.
pub const DAILY_MAX_DAYS: i64 = 62;
/// Rows of the top-sites table.
pub const TOP_SITES: usize = 10;

impl Status {
    /// The status as the report and the office's lists name it.
    pub fn label_zh(self) -> &'static str {
        match self {
            Status::New => "待审核",
            Status::Confirmed => "已确认",
            Status::Dismissed => "已排除",
            Status::Notified => "已通知整改",
            Status::Rectified => "已整改",
            Status::Persisting => "仍未整改",
            Status::Referred => "已移交",
        }
    }
}

#[derive(Default)]
struct SiteTally {
    findings: u64,
    /// Best (lowest) severity rank seen: 0 is high.
    worst_rank: u8,
}

impl Desk {
    /// The report's figures over the findings first seen at or after
    /// `since` (all when `None`), made at `now`; days and weeks are the
    /// reader's (`zone`). See the module doc for what each figure counts.
    pub fn report_data(
        &self,
        since: Option<Timestamp>,
        now: Timestamp,
        zone: &Zone,
    ) -> Result<ReportData, ReviewError> {
        let categories: HashMap<u64, Category> = Category::ALL
            .into_iter()
            .map(|c| (fingerprint(c.as_str()), c))
            .collect();
        let sites: HashMap<u64, String> = self
            .values(Dim::Site, "")?
            .into_iter()
            .map(|(s, _)| (fingerprint(&s), s))
            .collect();

        let mut by_category: HashMap<Category, u64> = HashMap::new();
        let mut by_county: HashMap<u32, u64> = HashMap::new();
        let mut by_status: HashMap<Status, u64> = HashMap::new();
        let mut by_day: BTreeMap<Date, u64> = BTreeMap::new();
        let mut by_site: HashMap<u64, SiteTally> = HashMap::new();
        let mut unknown_category = 0u64;

        let from = since.map_or(0, crate::time::to_unix);
        let lo = [&[TIME][..], &from.to_be_bytes()].concat();
        // days are counted by their civil date in the reader's zone; one
        // conversion per distinct second would be wasteful, so per finding
        // the date is looked up in a small cache of the last second seen
        let mut last: Option<(u64, Date)> = None;
        for kv in self.index.range(lo..[TIME + 1].to_vec()) {
            let (k, v) = kv?;
            let s = Summary::decode(&v)
                .ok_or_else(|| ReviewError::Corrupt(format!("index entry {k:?}")))?;
            match categories.get(&s.category_fp) {
                Some(c) => *by_category.entry(*c).or_default() += 1,
                None => unknown_category += 1,
            }
            *by_county.entry(s.county).or_default() += 1;
            if let Some(st) = Status::from_code(s.status) {
                *by_status.entry(st).or_default() += 1;
            }
            let day = match last {
                Some((secs, d)) if secs == s.first_seen => d,
                _ => {
                    let d = civil_date(zone, crate::time::from_unix(s.first_seen));
                    last = Some((s.first_seen, d));
                    d
                }
            };
            *by_day.entry(day).or_default() += 1;
            if s.site_fp != 0 && s.source == SourceKind::Page.code() {
                let t = by_site.entry(s.site_fp).or_insert(SiteTally {
                    findings: 0,
                    worst_rank: u8::MAX,
                });
                t.findings += 1;
                t.worst_rank = t.worst_rank.min(s.severity_rank);
            }
        }

        let mut data = ReportData {
            since,
            generated_at: Some(now),
            ..ReportData::default()
        };

        let mut cats: Vec<Count> = by_category
            .into_iter()
            .map(|(c, n)| Count::new(c.label_zh(), n))
            .collect();
        if unknown_category > 0 {
            cats.push(Count::new("其他", unknown_category));
        }
        sort_counts(&mut cats);
        data.by_category = cats;

        let divisions = Divisions::bundled();
        let unattributed = by_county.remove(&0);
        let mut counties: Vec<Count> = by_county
            .into_iter()
            .map(|(code, n)| {
                Count::new(divisions.attribute(&format!("{code:06}")).short_label(), n)
            })
            .collect();
        sort_counts(&mut counties);
        counties.extend(unattributed.map(|n| Count::new(UNATTRIBUTED, n)));
        data.by_county = counties;

        data.by_status = Status::ALL
            .into_iter()
            .map(|s| Count::new(s.label_zh(), by_status.get(&s).copied().unwrap_or(0)))
            .collect();
        let n = |s: Status| by_status.get(&s).copied().unwrap_or(0);
        data.rectified = n(Status::Rectified);
        data.persisting = n(Status::Persisting) + n(Status::Referred);
        data.notified = n(Status::Notified) + data.rectified + data.persisting;

        let start = since
            .map(|t| civil_date(zone, t))
            .or_else(|| by_day.keys().next().copied());
        if let Some(start) = start {
            let end = civil_date(zone, now).max(by_day.keys().last().copied().unwrap_or(start));
            data.over_time = over_time(&by_day, start, end);
        }

        let mut top: Vec<(String, SiteTally)> = by_site
            .into_iter()
            .map(|(fp, t)| {
                let name = sites.get(&fp).cloned().unwrap_or_else(|| "?".into());
                (name, t)
            })
            .collect();
        top.sort_by(|(a, x), (b, y)| {
            y.findings
                .cmp(&x.findings)
                .then(x.worst_rank.cmp(&y.worst_rank))
                .then(a.cmp(b))
        });
        top.truncate(TOP_SITES);
        for (site, t) in top {
            let (operator, icp) = self.site_identity(&site)?;
            data.top_sites.push(SiteRow {
                site,
                operator,
                icp,
                findings: t.findings,
                worst: severity_of_rank(t.worst_rank).unwrap_or(Severity::Low),
            });
        }
        Ok(data)
    }

    /// A site's operator and ICP number as its pages state them: from the
    /// pages of its first few findings (worst first), the first of each
    /// that is known.
    fn site_identity(&self, site: &str) -> Result<(Option<String>, Option<String>), ReviewError> {
        let q = Query {
            sites: vec![site.to_owned()],
            source: Some(SourceKind::Page),
            limit: Some(5),
            ..Query::default()
        };
        let (mut operator, mut icp) = (None, None);
        for f in self.list(&q)?.findings {
            if operator.is_some() && icp.is_some() {
                break;
            }
            if let Some(p) = self.page_of(&f)? {
                operator = operator.or(p.operator);
                icp = icp.or(p.icp);
            }
        }
        Ok((operator, icp))
    }
}

/// Largest first, then by label.
fn sort_counts(v: &mut [Count]) {
    v.sort_by(|a, b| b.count.cmp(&a.count).then(a.label.cmp(&b.label)));
}

/// The civil date of `t` in the reader's zone.
fn civil_date(zone: &Zone, t: Timestamp) -> Date {
    // `Zone` shows instants; its date is the first ten characters
    zone.human(t)
        .get(..10)
        .and_then(|d| d.parse().ok())
        .unwrap_or_else(|| t.to_zoned(jiff::tz::TimeZone::UTC).date())
}

/// Counts per day from `start` to `end` (both included), or per ISO week
/// when that spans more than [`DAILY_MAX_DAYS`] days; every period shown.
fn over_time(by_day: &BTreeMap<Date, u64>, start: Date, end: Date) -> Vec<Count> {
    let days = (end - start).get_days() as i64;
    let daily = days <= DAILY_MAX_DAYS;
    let label = |d: Date| {
        if daily {
            d.strftime("%m-%d").to_string()
        } else {
            let w = d.iso_week_date();
            format!("{}-W{:02}", w.year(), w.week())
        }
    };
    let mut out: Vec<Count> = Vec::new();
    let mut d = start;
    while d <= end {
        let l = label(d);
        let n = by_day.get(&d).copied().unwrap_or(0);
        match out.last_mut() {
            Some(c) if c.label == l => c.count += n,
            _ => out.push(Count::new(l, n)),
        }
        match d.tomorrow() {
            Ok(t) => d = t,
            Err(_) => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Date {
        s.parse().unwrap()
    }

    #[test]
    fn a_short_period_is_shown_per_day_with_empty_days() {
        let mut m = BTreeMap::new();
        m.insert(date("2026-12-01"), 3);
        m.insert(date("2026-12-03"), 2);
        let v = over_time(&m, date("2026-12-01"), date("2026-12-04"));
        let got: Vec<(&str, u64)> = v.iter().map(|c| (c.label.as_str(), c.count)).collect();
        assert_eq!(
            got,
            [("12-01", 3), ("12-02", 0), ("12-03", 2), ("12-04", 0)]
        );
    }

    #[test]
    fn a_long_period_is_shown_per_iso_week() {
        let mut m = BTreeMap::new();
        // Monday 2026-11-30 starts 2026-W49; 2026-12-06 is its Sunday
        m.insert(date("2026-11-30"), 1);
        m.insert(date("2026-12-06"), 2);
        m.insert(date("2026-12-07"), 5);
        let v = over_time(&m, date("2026-09-01"), date("2026-12-07"));
        let w49 = v.iter().find(|c| c.label == "2026-W49").unwrap();
        assert_eq!(w49.count, 3);
        assert_eq!(v.last().unwrap(), &Count::new("2026-W50", 5));
        assert_eq!(v.iter().map(|c| c.count).sum::<u64>(), 8);
        assert_eq!(v.first().unwrap().label, "2026-W36");
    }

    #[test]
    fn every_status_has_a_chinese_label() {
        let labels: std::collections::HashSet<&str> =
            Status::ALL.iter().map(|s| s.label_zh()).collect();
        assert_eq!(labels.len(), Status::ALL.len());
        assert_eq!(Status::Persisting.label_zh(), "仍未整改");
    }
}
