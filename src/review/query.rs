//! Queries over findings: filters that combine, three orders, a limit.
//!
//! A query walks the index of its narrowest filter (by the stored counts),
//! in the order asked for, checks the other filters on each entry's
//! summary, and reads a finding's record only when it passes them; it
//! stops once it has `limit` rows. Only a text search reads records that
//! it may not return (the text is not in the index).
//!
//! A listing longer than its limit goes on from a [`Cursor`]: the index key
//! of the last row returned. Each index run is then read from just after
//! it, so reading a whole listing page by page costs what reading it at
//! once does (skipping `offset` matches costs every page more).

use jiff::Timestamp;
use serde::Serialize;

use super::finding::{Finding, FindingId, SourceKind, Status, severity_rank};
use super::index::{COUNT, Dim, Summary, TIME, count_key, read_count, value_prefix};
use super::{Desk, ReviewError};
use crate::rules::{Category, RuleId, Severity};
use crate::store::fingerprint;

/// The order of a listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sort {
    /// High severity first, then newest first (the default: a site's few
    /// high hits are not buried under its many low ones).
    #[default]
    Severity,
    /// Newest first.
    Time,
    /// By site (registrable domain), then severity; registry findings last.
    Site,
}

/// Where a listing goes on: the index key of the last row a page returned.
/// Valid for the query that returned it (same filters and order); written
/// as hex digits for the API and the CLI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(Vec<u8>);

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(&self.0))
    }
}

impl std::str::FromStr for Cursor {
    type Err = ReviewError;

    fn from_str(s: &str) -> Result<Cursor, ReviewError> {
        match hex::decode(s.trim()) {
            Ok(k) if !k.is_empty() => Ok(Cursor(k)),
            _ => Err(ReviewError::BadQuery(format!(
                "after={s}: not a cursor (the `next` of an earlier page)"
            ))),
        }
    }
}

/// Filters: values of one filter are alternatives, filters combine (AND).
#[derive(Debug, Clone, Default)]
pub struct Query {
    pub statuses: Vec<Status>,
    pub categories: Vec<Category>,
    pub severities: Vec<Severity>,
    pub rules: Vec<RuleId>,
    /// A registrable domain (`a.com.cn`) or a host (`www.a.com.cn`, with or
    /// without its port).
    pub sites: Vec<String>,
    /// Division codes or their prefixes (`6109` for the city, `610902`).
    pub counties: Vec<String>,
    pub source: Option<SourceKind>,
    /// First seen at or after.
    pub since: Option<Timestamp>,
    /// First seen before.
    pub until: Option<Timestamp>,
    /// Case-insensitive text in the matched evidence or the snippet.
    pub text: Option<String>,
    pub sort: Sort,
    /// Matches passed over before the first row (a page of a long listing:
    /// the API's `offset`).
    pub offset: usize,
    /// Go on after this row of an earlier page (its `next`).
    pub after: Option<Cursor>,
    pub limit: Option<usize>,
}

/// What a query returned, and what it read to get it.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    pub findings: Vec<Finding>,
    /// More findings match than `limit` let through.
    pub more: bool,
    /// Where the next page starts, when there is one.
    pub next: Option<Cursor>,
    /// Index entries read.
    pub entries_read: u64,
    /// Finding records read.
    pub records_read: u64,
}

/// A site filter made ready: the index value, and the host when one was given.
struct SiteFilter {
    domain: String,
    host: Option<String>,
}

fn bare_host(h: &str) -> &str {
    match h.rsplit_once(':') {
        Some((b, port)) if port.bytes().all(|c| c.is_ascii_digit()) => b,
        _ => h,
    }
}

fn site_filter(v: &str) -> SiteFilter {
    let v = v.trim().to_ascii_lowercase();
    let domain = crate::crawl::urls::registrable_domain(bare_host(&v));
    let host = (domain != v).then_some(v);
    SiteFilter { domain, host }
}

/// The registrable domain a host's findings are indexed under.
pub fn site_of_host(host: &str) -> String {
    crate::crawl::urls::registrable_domain(&bare_host(host).to_ascii_lowercase())
}

/// Index entries as sled hands them out.
type Entries<'a> = Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>> + 'a>;

/// One ordered run of index entries (one value of a dimension, maybe one
/// severity), with where its sort key starts.
struct Stream<'a> {
    iter: std::iter::Peekable<Entries<'a>>,
    /// Bytes of the key before the part that orders it.
    skip: usize,
}

impl Desk {
    /// Values of `dim` with findings, from the counts, with their counts;
    /// `prefix` narrows the values (a county code prefix).
    pub(crate) fn values(&self, dim: Dim, prefix: &str) -> Result<Vec<(String, u64)>, ReviewError> {
        let mut p = vec![COUNT, dim.byte()];
        p.extend_from_slice(prefix.as_bytes());
        let mut out = Vec::new();
        for kv in self.meta.scan_prefix(&p) {
            let (k, v) = kv?;
            let value = &k[2..k.len().saturating_sub(1)];
            out.push((
                String::from_utf8_lossy(value).into_owned(),
                read_count(Some(&v)),
            ));
        }
        Ok(out)
    }

    pub(crate) fn count(&self, dim: Dim, value: &str) -> Result<u64, ReviewError> {
        Ok(read_count(self.meta.get(count_key(dim, value))?.as_deref()))
    }

    /// Runs a query; see the module doc for what it reads.
    pub fn list(&self, q: &Query) -> Result<Listing, ReviewError> {
        let mut out = Listing::default();
        let w = self.walk(q, true, |_, f| {
            out.findings.extend(f);
            Ok::<_, ReviewError>(())
        })?;
        out.entries_read = w.entries_read;
        out.records_read = w.records_read;
        out.more = w.next.is_some();
        out.next = w.next;
        Ok(out)
    }

    /// Runs a query handing each finding to `each` as it is read, in the
    /// query's order, so that a listing of any length is written in the
    /// memory of one finding. Returns where the next page starts when more
    /// matched than the limit. The first error of `each` stops the walk.
    pub fn each<E: From<ReviewError>>(
        &self,
        q: &Query,
        mut each: impl FnMut(Finding) -> Result<(), E>,
    ) -> Result<Option<Cursor>, E> {
        let w = self.walk(q, true, |_, f| match f {
            Some(f) => each(f),
            None => Ok(()),
        })?;
        Ok(w.next)
    }

    /// Walks a query's matches in its order, handing each one's id to
    /// `found`, with its record when `records` is set or when reading it
    /// was needed to decide (a text search, a host).
    fn walk<E: From<ReviewError>>(
        &self,
        q: &Query,
        records: bool,
        mut found: impl FnMut(FindingId, Option<Finding>) -> Result<(), E>,
    ) -> Result<Walked, E> {
        let sites: Vec<SiteFilter> = q.sites.iter().map(|s| site_filter(s)).collect();
        let counties: Vec<(u32, u32)> = q
            .counties
            .iter()
            .filter_map(|c| {
                let c = c.trim();
                let digits = c.len().min(6) as u32;
                (!c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()))
                    .then(|| c[..digits as usize].parse().ok())
                    .flatten()
                    .map(|n: u32| (n, 10u32.pow(6 - digits)))
            })
            .collect();
        if !q.counties.is_empty() && counties.is_empty() {
            return Err(ReviewError::BadQuery(format!(
                "county {:?}: expected a division code or its first digits (6109, 610902)",
                q.counties
            ))
            .into());
        }
        // the candidate indexes and their values
        let mut candidates: Vec<(Dim, Vec<String>)> = Vec::new();
        if !q.statuses.is_empty() {
            candidates.push((
                Dim::Status,
                q.statuses.iter().map(|s| s.as_str().to_owned()).collect(),
            ));
        }
        if !q.categories.is_empty() {
            candidates.push((
                Dim::Category,
                q.categories.iter().map(|c| c.as_str().to_owned()).collect(),
            ));
        }
        if !sites.is_empty() {
            let mut v: Vec<String> = sites.iter().map(|s| s.domain.clone()).collect();
            v.sort();
            v.dedup();
            candidates.push((Dim::Site, v));
        }
        if !counties.is_empty() {
            let mut v = Vec::new();
            for c in &q.counties {
                v.extend(
                    self.values(Dim::County, c.trim())?
                        .into_iter()
                        .map(|(v, _)| v),
                );
            }
            v.sort();
            v.dedup();
            candidates.push((Dim::County, v));
        }
        if let Some(s) = q.source {
            candidates.push((Dim::Source, vec![s.as_str().to_owned()]));
        }
        if !q.rules.is_empty() {
            candidates.push((Dim::Rule, q.rules.iter().map(|r| r.0.clone()).collect()));
        }
        let mut best: Option<(u64, Dim, Vec<String>)> = None;
        for (d, values) in candidates {
            let mut n = 0;
            for v in &values {
                n += self.count(d, v)?;
            }
            if best.as_ref().is_none_or(|(b, _, _)| n < *b) {
                best = Some((n, d, values));
            }
        }
        let ranks: Vec<u8> = if q.severities.is_empty() {
            vec![0, 1, 2]
        } else {
            let mut r: Vec<u8> = q.severities.iter().map(|s| severity_rank(*s)).collect();
            r.sort();
            r.dedup();
            r
        };

        let check = Check {
            statuses: q.statuses.iter().map(|s| s.code()).collect(),
            ranks: ranks.clone(),
            categories: q
                .categories
                .iter()
                .map(|c| fingerprint(c.as_str()))
                .collect(),
            sites: sites.iter().map(|s| fingerprint(&s.domain)).collect(),
            counties,
            source: q.source.map(|s| s.code()),
            rules: q.rules.iter().map(|r| fingerprint(&r.0)).collect(),
            since: q.since.map(crate::time::to_unix),
            until: q.until.map(crate::time::to_unix),
        };

        // the index runs to read: (prefix, where its sort key starts)
        let mut runs: Vec<(Vec<u8>, usize)> = Vec::new();
        let mut time_range: Option<(Vec<u8>, Vec<u8>)> = None;
        let mut concatenate = false;
        match q.sort {
            Sort::Site => {
                // site by site in name order, then registry findings
                concatenate = true;
                let (site_values, with_registry) = match &best {
                    Some((_, Dim::Site, v)) => (v.clone(), false),
                    _ => (
                        self.values(Dim::Site, "")?
                            .into_iter()
                            .map(|(v, _)| v)
                            .collect(),
                        sites.is_empty() && q.source != Some(SourceKind::Page),
                    ),
                };
                for v in site_values {
                    runs.push((value_prefix(Dim::Site, &v), 0));
                }
                if with_registry {
                    runs.push((value_prefix(Dim::Source, SourceKind::Registry.as_str()), 0));
                }
            }
            Sort::Time if best.is_none() && (q.since.is_some() || q.until.is_some()) => {
                // the time index, newest first, only the range asked for
                let lo = [&[TIME][..], &check.since.unwrap_or(0).to_be_bytes()].concat();
                let hi = [&[TIME][..], &check.until.unwrap_or(u64::MAX).to_be_bytes()].concat();
                time_range = Some((lo, hi));
                concatenate = true;
            }
            Sort::Severity | Sort::Time => {
                let (dim, values) = match &best {
                    Some((_, d, v)) => (*d, v.clone()),
                    None => (Dim::All, vec![String::new()]),
                };
                for v in values {
                    let prefix = value_prefix(dim, &v);
                    let plen = prefix.len();
                    for &r in &ranks {
                        let mut p = prefix.clone();
                        p.push(r);
                        // severity order: the rank byte orders too
                        let skip = if q.sort == Sort::Time { plen + 1 } else { plen };
                        runs.push((p, skip));
                    }
                }
            }
        }
        let mut streams = self.streams(runs, time_range, concatenate, q.after.as_ref())?;

        let text = q.text.as_deref().map(str::to_lowercase);
        let limit = q.limit.unwrap_or(usize::MAX);
        let needs_record = text.is_some() || sites.iter().any(|s| s.host.is_some());
        let (mut entries_read, mut records_read, mut n) = (0u64, 0u64, 0usize);
        let mut to_skip = q.offset;
        let mut more = false;
        let mut last: Option<sled::IVec> = None;
        loop {
            let next = if concatenate {
                next_in_order(&mut streams, |_| 0)
            } else {
                next_in_order(&mut streams, |s| s.skip)
            };
            let Some(kv) = next else { break };
            let (k, v) = kv.map_err(ReviewError::from)?;
            entries_read += 1;
            let Some(sum) = Summary::decode(&v) else {
                return Err(ReviewError::Corrupt(format!("index entry {k:?}")).into());
            };
            if !check.passes(&sum) {
                continue;
            }
            if to_skip > 0 && !needs_record {
                to_skip -= 1;
                continue;
            }
            // one more passing entry proves there are more (the record
            // is read only when a text or host test must still pass)
            if n == limit && !needs_record {
                more = true;
                break;
            }
            let Some(id) = super::index::id_of_key(&k) else {
                continue;
            };
            if !records && !needs_record {
                n += 1;
                found(id, None)?;
                last = Some(k);
                continue;
            }
            let Some(f) = self.get(id)? else {
                return Err(ReviewError::Corrupt(format!(
                    "index entry for finding {id} which is not stored"
                ))
                .into());
            };
            records_read += 1;
            if !host_ok(&f, &sites) || !text_ok(&f, text.as_deref()) {
                continue;
            }
            if to_skip > 0 {
                to_skip -= 1;
                continue;
            }
            if n == limit {
                more = true;
                break;
            }
            n += 1;
            found(id, records.then_some(f))?;
            last = Some(k);
        }
        Ok(Walked {
            entries_read,
            records_read,
            // a limit of 0 has no row to go on after: the same query again
            next: more.then(|| Cursor(last.map_or_else(Vec::new, |k| k.to_vec()))),
        })
    }

    /// The streams of index entries a query reads, from their start or
    /// from just after `after`. Merged runs share one sort key (the key
    /// from `skip` on), so each resumes after the cursor's sort key;
    /// concatenated runs resume in the run the cursor is in, and the runs
    /// before it are done.
    fn streams(
        &self,
        runs: Vec<(Vec<u8>, usize)>,
        time_range: Option<(Vec<u8>, Vec<u8>)>,
        concatenate: bool,
        after: Option<&Cursor>,
    ) -> Result<Vec<Stream<'_>>, ReviewError> {
        let foreign = || ReviewError::BadQuery("after: the cursor is not from this query".into());
        let after = after.filter(|c| !c.0.is_empty());
        if let Some((lo, hi)) = time_range {
            // newest first: resume below the cursor
            let hi = match after {
                Some(c) if c.0 >= lo && c.0 < hi => c.0.clone(),
                Some(_) => return Err(foreign()),
                None => hi,
            };
            let iter: Entries<'_> = Box::new(self.index.range(lo..hi).rev());
            return Ok(vec![Stream {
                iter: iter.peekable(),
                skip: 0,
            }]);
        }
        let stream = |prefix: &[u8], from: Option<Vec<u8>>, skip: usize| {
            use std::ops::Bound;
            let lo = match from {
                Some(k) if k.as_slice() >= prefix => Bound::Excluded(k),
                _ => Bound::Included(prefix.to_vec()),
            };
            let hi = successor(prefix).map_or(Bound::Unbounded, Bound::Excluded);
            let iter: Entries<'_> = Box::new(self.index.range((lo, hi)));
            Stream {
                iter: iter.peekable(),
                skip,
            }
        };
        let Some(c) = after else {
            return Ok(runs.iter().map(|(p, s)| stream(p, None, *s)).collect());
        };
        let at = runs
            .iter()
            .position(|(p, _)| c.0.starts_with(p))
            .ok_or_else(foreign)?;
        Ok(if concatenate {
            runs[at..]
                .iter()
                .enumerate()
                .map(|(i, (p, s))| stream(p, (i == 0).then(|| c.0.clone()), *s))
                .collect()
        } else {
            let sort_key = &c.0[runs[at].1..];
            runs.iter()
                .map(|(p, s)| stream(p, Some([&p[..*s], sort_key].concat()), *s))
                .collect()
        })
    }

    /// Ids of the findings a query matches (no limit), in its order. The
    /// ids are the index keys' own: records are read only for a text
    /// search or a host (a batch of 10,000 reads none).
    pub fn matching_ids(&self, q: &Query) -> Result<Vec<FindingId>, ReviewError> {
        Ok(self.matching_ids_counted(q)?.0)
    }

    /// [`Desk::matching_ids`] and the records it read.
    pub(crate) fn matching_ids_counted(
        &self,
        q: &Query,
    ) -> Result<(Vec<FindingId>, u64), ReviewError> {
        let mut q = q.clone();
        q.limit = None;
        let mut ids = Vec::new();
        q.offset = 0;
        q.after = None;
        let w = self.walk(&q, false, |id, _| {
            ids.push(id);
            Ok::<_, ReviewError>(())
        })?;
        Ok((ids, w.records_read))
    }
}

/// What a walk read, and where the next page starts when more matched.
struct Walked {
    entries_read: u64,
    records_read: u64,
    next: Option<Cursor>,
}

/// The least key greater than every key that starts with `prefix` (`None`:
/// there is none, the prefix is all 0xff).
fn successor(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut k = prefix.to_vec();
    while let Some(last) = k.pop() {
        if last < u8::MAX {
            k.push(last + 1);
            return Some(k);
        }
    }
    None
}

/// Takes the entry with the least sort key among the streams' heads (with
/// `skip` of 0 for every stream, the first stream that has one: streams
/// are then concatenated).
fn next_in_order(
    streams: &mut [Stream<'_>],
    skip: impl Fn(&Stream<'_>) -> usize,
) -> Option<sled::Result<(sled::IVec, sled::IVec)>> {
    let mut best: Option<usize> = None;
    for i in 0..streams.len() {
        let s = skip(&streams[i]);
        let Some(head) = streams[i].iter.peek() else {
            continue;
        };
        let Ok((k, _)) = head else {
            best = Some(i);
            break;
        };
        let key = k.get(s..).unwrap_or_default().to_vec();
        match best {
            None => best = Some(i),
            Some(b) => {
                let bs = skip(&streams[b]);
                let better = match streams[b].iter.peek() {
                    Some(Ok((bk, _))) => key.as_slice() < bk.get(bs..).unwrap_or_default(),
                    _ => false,
                };
                if better {
                    best = Some(i);
                }
            }
        }
        if s == 0 && best.is_some() {
            // concatenation: the first non-empty stream wins
            break;
        }
    }
    streams[best?].iter.next()
}

/// Filters checked on an index entry's summary.
struct Check {
    statuses: Vec<u8>,
    ranks: Vec<u8>,
    categories: Vec<u64>,
    sites: Vec<u64>,
    /// (prefix as a number, divisor): 6109 → (6109, 100).
    counties: Vec<(u32, u32)>,
    source: Option<u8>,
    rules: Vec<u64>,
    since: Option<u64>,
    until: Option<u64>,
}

impl Check {
    fn passes(&self, s: &Summary) -> bool {
        (self.statuses.is_empty() || self.statuses.contains(&s.status))
            && self.ranks.contains(&s.severity_rank)
            && (self.categories.is_empty() || self.categories.contains(&s.category_fp))
            && (self.sites.is_empty() || self.sites.contains(&s.site_fp))
            && (self.counties.is_empty()
                || (s.county != 0 && self.counties.iter().any(|(p, d)| s.county / d == *p)))
            && self.source.is_none_or(|x| x == s.source)
            && (self.rules.is_empty() || self.rules.contains(&s.rule_fp))
            && self.since.is_none_or(|t| s.first_seen >= t)
            && self.until.is_none_or(|t| s.first_seen < t)
    }
}

fn host_ok(f: &Finding, sites: &[SiteFilter]) -> bool {
    if sites.is_empty() {
        return true;
    }
    let host = match &f.evidence {
        super::finding::Evidence::Page(p) => bare_host(&p.host).to_ascii_lowercase(),
        super::finding::Evidence::Registry(_) => return false,
    };
    sites.iter().any(|s| {
        f.site.as_deref() == Some(s.domain.as_str())
            && s.host.as_deref().is_none_or(|h| bare_host(h) == host)
    })
}

fn text_ok(f: &Finding, text: Option<&str>) -> bool {
    let Some(t) = text else { return true };
    f.matched.to_lowercase().contains(t) || f.snippet.to_lowercase().contains(t)
}
