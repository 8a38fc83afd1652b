//! Rectification decided by evidence (plan §四（二）: 限期整改).
//!
//! A notified finding is rechecked once its deadline has passed — the
//! deadline date is over in the reader's zone — and its evidence was read
//! again after both the deadline and the notice:
//!
//! * a page finding, by the page's latest fetch: fetched (or 304 and the
//!   stored body rescanned) without the finding's hit → `rectify`, with the
//!   new body's SHA-256 and fetch time in the event; with it → `persist`;
//!   a fetch that failed (4xx such as 404 or 410, 5xx, network, a redirect
//!   away, a type finscan does not read) → `recheck-failed`, which keeps the
//!   finding notified: a page that disappears may be back tomorrow, or moved,
//!   and is never rectified on that alone. A failed fetch is recorded once
//!   per fetch.
//! * a registry finding, by the company's latest scanned record: name and
//!   scope no longer containing any of the words it was flagged for (and no
//!   hit of the same rule in the same field) → `rectify`; still there →
//!   `persist`.
//!
//! "The finding's hit" is its identity (page URL, field, rule, matched text,
//! ordinal; see [`crate::store::StoredHit`]), not its byte offsets: an edit
//! elsewhere on the page does not rectify it, changed wording does (and is
//! found as a new finding if it still breaks a rule).
//!
//! Every decision is an event with reviewer [`SYSTEM_REVIEWER`], a note
//! saying what was compared, and the [`Recheck`] it was made on. Findings
//! whose evidence was not read again since the deadline are left as they
//! are (`waiting` in the report).

use jiff::Timestamp;
use serde::Serialize;
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::finding::{Action, Event, Evidence, Finding, FindingId, Recheck, SourceKind, Status};
use super::index::{self, Change};
use super::{Desk, Query, ReviewError, SYSTEM_REVIEWER, corrupt, txn};
use crate::registry::store::{Company, RegistryStore};
use crate::store::{PageRecord, PageState, StoredHit};
use crate::time::Zone;

/// What a recheck decided for one finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecheckOutcome {
    /// The evidence is gone: the finding is rectified.
    Rectified,
    /// The evidence is still there: the finding is persisting.
    Persisting,
    /// The page could not be fetched: the finding stays notified.
    RecheckFailed,
}

impl RecheckOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            RecheckOutcome::Rectified => "rectified",
            RecheckOutcome::Persisting => "persisting",
            RecheckOutcome::RecheckFailed => "recheck-failed",
        }
    }

    fn action(self) -> Action {
        match self {
            RecheckOutcome::Rectified => Action::Rectify,
            RecheckOutcome::Persisting => Action::Persist,
            RecheckOutcome::RecheckFailed => Action::RecheckFailed,
        }
    }
}

/// A decision made on the evidence read again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decided {
    pub outcome: RecheckOutcome,
    pub recheck: Recheck,
    /// What was compared, for the event's note.
    pub note: String,
}

/// One finding a recheck decided.
#[derive(Debug, Clone, Serialize)]
pub struct Rechecked {
    pub id: FindingId,
    pub source: SourceKind,
    /// The page's URL, or the company's name.
    pub target: String,
    pub outcome: RecheckOutcome,
    pub recheck: Recheck,
    pub note: String,
}

/// What [`Desk::recheck`] did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RecheckReport {
    /// Notified findings whose deadline has passed.
    pub due: usize,
    /// Notified findings whose deadline has not passed yet.
    pub not_due: usize,
    /// Due findings whose evidence was not read again since the deadline
    /// (or whose failed fetch was recorded already).
    pub waiting: usize,
    /// The decisions recorded, in finding id order.
    pub decided: Vec<Rechecked>,
}

/// A notified finding past its deadline.
#[derive(Debug, Clone)]
pub struct Due {
    pub finding: Finding,
    /// The evidence must have been read at or after this instant to count:
    /// the later of the deadline's end and the notice.
    pub since: Timestamp,
}

/// Whether the database has notified findings, from the desk's counts
/// (without opening a desk, which would take in new hits): lets a crawl or
/// a registry scan skip the recheck when no notice was ever sent.
pub fn any_notified(db: &sled::Db) -> Result<bool, ReviewError> {
    let meta = db.open_tree("review_meta")?;
    let key = index::count_key(index::Dim::Status, Status::Notified.as_str());
    Ok(index::read_count(meta.get(key)?.as_deref()) > 0)
}

/// The instant a deadline date is over in `zone`: the start of the next day.
pub fn deadline_end(deadline: jiff::civil::Date, zone: &Zone) -> Option<Timestamp> {
    zone.parse(&deadline.to_string(), true).ok()
}

/// Decides a page finding from the page's latest fetch (`page`) and the
/// crawler's hit behind it (`hit`, its `last_seen` moved by every fetch
/// that found it). `None` when nothing can be decided: no fetch since
/// `since`, or a failed fetch no newer than the last one recorded
/// (`last_failed`).
pub fn decide_page(
    f: &Finding,
    since: Timestamp,
    page: Option<&PageRecord>,
    hit: Option<&StoredHit>,
    last_failed: Option<Timestamp>,
) -> Option<Decided> {
    if f.source() != SourceKind::Page {
        return None;
    }
    let page = page?;
    let fetched_at = crate::time::from_stored(&page.fetched_at)?;
    if fetched_at < since {
        return None;
    }
    let mut recheck = Recheck {
        url: Some(page.url.clone()),
        fetched_at,
        sha256: page.sha256.clone(),
        http_status: page.status,
        state: page.state.as_str().to_owned(),
        error: page.error.clone(),
        record_source: None,
    };
    let id = f.id.to_string();
    let what = format!("hit {id} ({} “{}”)", f.rule, f.matched);
    match page.state {
        PageState::Fetched | PageState::NotModified => {
            let on_page = page.hit_ids.contains(&id);
            // a site-wide hit (the operator) may be read on another page
            // now: the crawler moved it there. Its `last_seen` on this page
            // says nothing (times are to the second: the crawl before the
            // notice may share the notice's second).
            let elsewhere = hit.is_some_and(|h| {
                h.url != page.url
                    && crate::time::from_stored(&h.last_seen).is_some_and(|t| t >= since)
            });
            let sha = page.sha256.as_deref().unwrap_or("?");
            if on_page || elsewhere {
                let place = if on_page {
                    "still on the page".to_owned()
                } else {
                    format!(
                        "not on this page but seen again at {}",
                        hit.map_or("?", |h| h.url.as_str())
                    )
                };
                Some(Decided {
                    outcome: RecheckOutcome::Persisting,
                    note: format!(
                        "recheck after the deadline {}: {what} {place} (body sha256 {sha})",
                        deadline_text(f)
                    ),
                    recheck,
                })
            } else {
                Some(Decided {
                    outcome: RecheckOutcome::Rectified,
                    note: format!(
                        "recheck after the deadline {}: {what} no longer on the page (body sha256 {sha})",
                        deadline_text(f)
                    ),
                    recheck,
                })
            }
        }
        state => {
            if last_failed.is_some_and(|t| t >= fetched_at) {
                return None;
            }
            recheck.sha256 = None;
            let why = match (page.status, &page.error) {
                (_, Some(e)) => e.clone(),
                (Some(s), None) => format!("HTTP {s}"),
                (None, None) => state.as_str().to_owned(),
            };
            Some(Decided {
                outcome: RecheckOutcome::RecheckFailed,
                note: format!(
                    "recheck after the deadline {}: the page could not be read ({}: {why}); {what} not compared, still notified",
                    deadline_text(f),
                    state.as_str()
                ),
                recheck,
            })
        }
    }
}

/// Decides a registry finding from the company's latest scanned record
/// (`current`). `None` when the company was not scanned since `since`.
pub fn decide_company(f: &Finding, since: Timestamp, current: Option<&Company>) -> Option<Decided> {
    let Evidence::Registry(ev) = &f.evidence else {
        return None;
    };
    let (company, hits) = current?;
    let scanned = crate::time::from_unix(company.last_scanned);
    if scanned < since {
        return None;
    }
    let text_of = |field: &str| match field {
        "name" => company.name.as_str(),
        _ => company.scope.as_str(),
    };
    let mut still = Vec::new();
    for m in &ev.matches {
        let in_text = text_of(&m.field).contains(m.matched.as_str());
        let same_rule = hits.iter().any(|h| h.field == m.field && h.rule == m.rule);
        if in_text || same_rule {
            still.push(format!("{} “{}”", field_name(&m.field), m.matched));
        }
    }
    let words: Vec<String> = ev
        .matches
        .iter()
        .map(|m| format!("{} “{}”", field_name(&m.field), m.matched))
        .collect();
    let recheck = Recheck {
        url: None,
        fetched_at: scanned,
        sha256: None,
        http_status: None,
        state: "scanned".into(),
        error: None,
        record_source: Some(format!("{}:{}", company.source, company.line)),
    };
    let (outcome, found) = if still.is_empty() {
        (
            RecheckOutcome::Rectified,
            format!("none of {} in the record", words.join(", ")),
        )
    } else {
        (
            RecheckOutcome::Persisting,
            format!("still there: {}", still.join(", ")),
        )
    };
    Some(Decided {
        outcome,
        note: format!(
            "rescan after the deadline {}: name “{}” and scope compared with the flagged words: {found}",
            deadline_text(f),
            company.name
        ),
        recheck,
    })
}

fn field_name(f: &str) -> &str {
    match f {
        "name" => "name",
        "scope" => "scope",
        other => other,
    }
}

fn deadline_text(f: &Finding) -> String {
    f.deadline.map_or_else(|| "?".into(), |d| d.to_string())
}

impl Desk {
    /// Notified findings whose deadline is over at `now` in `zone`, and how
    /// many are not due yet.
    pub fn due(&self, now: Timestamp, zone: &Zone) -> Result<(Vec<Due>, usize), ReviewError> {
        let listing = self.list(&Query {
            statuses: vec![Status::Notified],
            ..Query::default()
        })?;
        let mut due = Vec::new();
        let mut not_due = 0;
        for f in listing.findings {
            let end = f.deadline.and_then(|d| deadline_end(d, zone));
            let Some(end) = end.filter(|e| *e <= now) else {
                not_due += 1;
                continue;
            };
            let notified_at = self
                .history(f.id)?
                .iter()
                .rev()
                .find(|e| matches!(e.action, Action::Notify { .. }))
                .map(|e| e.at)
                .unwrap_or(f.updated);
            due.push(Due {
                since: end.max(notified_at),
                finding: f,
            });
        }
        Ok((due, not_due))
    }

    /// The pages to fetch again to recheck the due page findings (each
    /// once, in order).
    pub fn due_pages(&self, now: Timestamp, zone: &Zone) -> Result<Vec<String>, ReviewError> {
        let mut urls: Vec<String> = self
            .due(now, zone)?
            .0
            .into_iter()
            .filter_map(|d| match d.finding.evidence {
                Evidence::Page(p) => Some(p.url),
                Evidence::Registry(_) => None,
            })
            .collect();
        urls.sort();
        urls.dedup();
        Ok(urls)
    }

    /// Decides every due notified finding whose evidence was read again
    /// since its deadline (see the module doc) and records the decisions.
    /// Safe to run at any time and again: a finding decided is no longer
    /// notified, and a failed fetch is recorded once.
    pub fn recheck(&self, now: Timestamp, zone: &Zone) -> Result<RecheckReport, ReviewError> {
        let (due, not_due) = self.due(now, zone)?;
        let mut report = RecheckReport {
            due: due.len(),
            not_due,
            ..RecheckReport::default()
        };
        let registry = if due
            .iter()
            .any(|d| d.finding.source() == SourceKind::Registry)
        {
            Some(RegistryStore::from_db(
                self.store.db().clone(),
                self.store.dir(),
            )?)
        } else {
            None
        };
        for d in due {
            let f = &d.finding;
            let (decided, target) = match &f.evidence {
                Evidence::Page(p) => {
                    let page = self.store.page(&p.url)?;
                    let hit = self.hit(f)?;
                    let last_failed = self
                        .history(f.id)?
                        .iter()
                        .rev()
                        .find(|e| e.action == Action::RecheckFailed)
                        .and_then(|e| e.recheck.as_ref().map(|r| r.fetched_at));
                    (
                        decide_page(f, d.since, page.as_ref(), hit.as_ref(), last_failed),
                        p.url.clone(),
                    )
                }
                Evidence::Registry(c) => {
                    let current = match &registry {
                        Some(r) => r.company(&c.key)?,
                        None => None,
                    };
                    (decide_company(f, d.since, current.as_ref()), c.name.clone())
                }
            };
            match decided {
                Some(x) => report.decided.push(Rechecked {
                    id: f.id,
                    source: f.source(),
                    target,
                    outcome: x.outcome,
                    recheck: x.recheck,
                    note: x.note,
                }),
                None => report.waiting += 1,
            }
        }
        drop(registry);
        self.record(&report.decided)?;
        Ok(report)
    }

    /// Writes the decisions as events, each finding with its event and
    /// index entries in one transaction (a finding no longer notified
    /// meanwhile is left alone).
    fn record(&self, decided: &[Rechecked]) -> Result<(), ReviewError> {
        let at = crate::time::now_in_seconds();
        for chunk in decided.chunks(super::BATCH) {
            let r = (&self.findings, &self.events, &self.index, &self.meta).transaction(
                |(findings, events, index, meta)| {
                    let mut changes = Vec::with_capacity(chunk.len());
                    for r in chunk {
                        let Some(v) = findings.get(r.id.to_bytes())? else {
                            continue;
                        };
                        let old: Finding = serde_json::from_slice(&v).map_err(|e| {
                            ConflictableTransactionError::Abort(corrupt(
                                format!("finding {}", r.id),
                                e,
                            ))
                        })?;
                        let action = r.outcome.action();
                        let Ok(to) = old.status.apply(&action) else {
                            continue;
                        };
                        let event = Event {
                            finding: r.id,
                            seq: old.events,
                            action,
                            from: Some(old.status),
                            to,
                            reviewer: SYSTEM_REVIEWER.into(),
                            at,
                            note: Some(r.note.clone()),
                            recheck: Some(r.recheck.clone()),
                        };
                        let mut new = old.clone();
                        new.status = to;
                        new.events += 1;
                        new.updated = at;
                        changes.push(Change {
                            old: Some(old),
                            new,
                            event,
                        });
                    }
                    index::write_changes(findings, events, index, meta, &changes)
                },
            );
            txn(r)?;
            crate::store::reclaim(chunk.len() * 12);
        }
        if !decided.is_empty() {
            self.store.db().flush()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::store::{StoredCompany, StoredHit as CompanyHit};
    use crate::rules::{Category, RuleId, Severity};

    const ID: u64 = 0xabc;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn hit(url: &str, last_seen: &str) -> StoredHit {
        StoredHit {
            id: FindingId(ID).to_string(),
            url: url.into(),
            host: "a.test".into(),
            status: "new".into(),
            rule: RuleId("page.guaranteed".into()),
            category: Category::GuaranteedReturn,
            severity: Severity::High,
            field: crate::Field::Page,
            term: "保本保息".into(),
            matched: "保本保息".into(),
            start: 10,
            end: 22,
            snippet: "承诺保本保息".into(),
            basis: "§二".into(),
            normalizations: vec![],
            annual_rate: None,
            repeats: 0,
            sha256: Some("old".into()),
            first_seen: "2026-11-01T00:00:00Z".into(),
            last_seen: last_seen.into(),
        }
    }

    fn page_finding() -> Finding {
        let mut f = super::super::page_finding(FindingId(ID), &hit("http://a.test/", "x"));
        f.status = Status::Notified;
        f.deadline = Some("2026-12-01".parse().unwrap());
        f
    }

    fn page(state: PageState, fetched_at: &str, hits: &[u64]) -> PageRecord {
        let mut p = PageRecord::blank("http://a.test/", "a.test", state, 0, 2);
        p.fetched_at = fetched_at.into();
        p.hit_ids = hits.iter().map(|h| FindingId(*h).to_string()).collect();
        match state {
            PageState::Fetched | PageState::NotModified => {
                p.status = Some(200);
                p.sha256 = Some("new".into());
            }
            PageState::ClientError => {
                p.status = Some(404);
                p.error = Some("HTTP 404".into());
            }
            _ => p.error = Some("connection refused".into()),
        }
        p
    }

    const SINCE: &str = "2026-12-01T16:00:00Z";
    const AFTER: &str = "2026-12-06T08:00:00Z";

    #[test]
    fn a_page_fetched_without_the_hit_is_rectified_with_its_new_hash() {
        let f = page_finding();
        let p = page(PageState::Fetched, AFTER, &[ID + 1]);
        let h = hit("http://a.test/", "2026-11-20T00:00:00Z");
        let d = decide_page(&f, t(SINCE), Some(&p), Some(&h), None).unwrap();
        assert_eq!(d.outcome, RecheckOutcome::Rectified);
        assert_eq!(d.recheck.sha256.as_deref(), Some("new"));
        assert_eq!(d.recheck.fetched_at, t(AFTER));
        assert!(d.note.contains("no longer on the page"), "{}", d.note);
    }

    #[test]
    fn a_page_that_still_has_the_hit_persists_also_when_answered_304() {
        let f = page_finding();
        for state in [PageState::Fetched, PageState::NotModified] {
            let p = page(state, AFTER, &[ID]);
            let d = decide_page(&f, t(SINCE), Some(&p), None, None).unwrap();
            assert_eq!(d.outcome, RecheckOutcome::Persisting);
            assert_eq!(d.recheck.state, state.as_str());
        }
    }

    #[test]
    fn the_hits_last_sighting_on_this_page_does_not_keep_it_alive() {
        // the crawl before the notice, in the notice's second
        let f = page_finding();
        let p = page(PageState::Fetched, AFTER, &[]);
        let h = hit("http://a.test/", SINCE);
        let d = decide_page(&f, t(SINCE), Some(&p), Some(&h), None).unwrap();
        assert_eq!(d.outcome, RecheckOutcome::Rectified);
    }

    #[test]
    fn a_hit_seen_on_another_page_since_the_deadline_persists() {
        let f = page_finding();
        let p = page(PageState::Fetched, AFTER, &[]);
        let h = hit("http://a.test/about", AFTER);
        let d = decide_page(&f, t(SINCE), Some(&p), Some(&h), None).unwrap();
        assert_eq!(d.outcome, RecheckOutcome::Persisting);
        assert!(d.note.contains("/about"), "{}", d.note);
    }

    #[test]
    fn a_fetch_before_the_deadline_or_no_fetch_decides_nothing() {
        let f = page_finding();
        let p = page(PageState::Fetched, "2026-12-01T15:59:59Z", &[]);
        assert_eq!(decide_page(&f, t(SINCE), Some(&p), None, None), None);
        assert_eq!(decide_page(&f, t(SINCE), None, None, None), None);
    }

    #[test]
    fn a_failed_fetch_is_recorded_once_and_never_rectifies() {
        let f = page_finding();
        for state in [
            PageState::ClientError,
            PageState::Failed,
            PageState::Redirect,
        ] {
            let p = page(state, AFTER, &[]);
            let d = decide_page(&f, t(SINCE), Some(&p), None, None).unwrap();
            assert_eq!(d.outcome, RecheckOutcome::RecheckFailed, "{state:?}");
            assert_eq!(d.recheck.sha256, None);
            assert!(d.note.contains("could not be read"), "{}", d.note);
            // the same fetch again: already recorded
            assert_eq!(
                decide_page(&f, t(SINCE), Some(&p), None, Some(t(AFTER))),
                None
            );
        }
        let p = page(PageState::ClientError, AFTER, &[]);
        let d = decide_page(&f, t(SINCE), Some(&p), None, None).unwrap();
        assert_eq!(d.recheck.http_status, Some(404));
        assert_eq!(
            RecheckOutcome::RecheckFailed.action(),
            Action::RecheckFailed
        );
        assert_eq!(
            Status::Notified.apply(&d.outcome.action()),
            Ok(Status::Notified)
        );
    }

    fn company(name: &str, scope: &str, scanned: u64, hits: &[(&str, &str, &str)]) -> Company {
        let c = StoredCompany {
            key: "uscc:91610902MA70B5XK71".into(),
            name: name.into(),
            uscc: Some("91610902MA70B5XK71".into()),
            uscc_valid: true,
            division: Some("610902".into()),
            county: None,
            rank: None,
            flagged: !hits.is_empty(),
            allowlisted: None,
            scope: scope.into(),
            address: None,
            legal_rep: None,
            reg_date: None,
            status: None,
            source: "r.csv".into(),
            line: 2,
            first_seen: 1_790_000_000,
            last_scanned: scanned,
            scans: 1,
        };
        let hits = hits
            .iter()
            .map(|(field, rule, matched)| CompanyHit {
                field: (*field).into(),
                rule: (*rule).into(),
                category: "restricted-name".into(),
                severity: "high".into(),
                term: (*matched).into(),
                matched: (*matched).into(),
                start: 0,
                end: matched.len(),
            })
            .collect();
        (c, hits)
    }

    fn company_finding() -> Finding {
        let (c, h) = company(
            "安康鑫源商贸有限公司",
            "投资理财咨询",
            1_790_000_000,
            &[("scope", "scope.licai", "理财")],
        );
        let mut f = super::super::company_finding(&c, &h, None).unwrap();
        f.status = Status::Notified;
        f.deadline = Some("2026-12-01".parse().unwrap());
        f
    }

    #[test]
    fn a_company_rescanned_without_the_word_is_rectified_and_with_it_persists() {
        let f = company_finding();
        let after = t(AFTER).as_second() as u64;
        let clean = company("安康鑫源商贸有限公司", "企业管理咨询", after, &[]);
        let d = decide_company(&f, t(SINCE), Some(&clean)).unwrap();
        assert_eq!(d.outcome, RecheckOutcome::Rectified);
        assert_eq!(d.recheck.record_source.as_deref(), Some("r.csv:2"));
        assert!(d.note.contains("none of scope “理财”"), "{}", d.note);
        let same = company(
            "安康鑫源商贸有限公司",
            "投资理财咨询",
            after,
            &[("scope", "scope.licai", "理财")],
        );
        let d = decide_company(&f, t(SINCE), Some(&same)).unwrap();
        assert_eq!(d.outcome, RecheckOutcome::Persisting);
        // the word moved within the scope: still there
        let moved = company("安康鑫源商贸有限公司", "理财产品咨询", after, &[]);
        let d = decide_company(&f, t(SINCE), Some(&moved)).unwrap();
        assert_eq!(d.outcome, RecheckOutcome::Persisting);
    }

    #[test]
    fn a_company_not_rescanned_since_the_deadline_decides_nothing() {
        let f = company_finding();
        let before = company("安康鑫源商贸有限公司", "企业管理咨询", 1_790_000_000, &[]);
        assert_eq!(decide_company(&f, t(SINCE), Some(&before)), None);
        assert_eq!(decide_company(&f, t(SINCE), None), None);
    }

    #[test]
    fn a_deadline_ends_at_the_next_midnight_in_the_readers_zone() {
        let d = "2026-12-05".parse().unwrap();
        let shanghai = Zone::named("Asia/Shanghai").unwrap();
        assert_eq!(deadline_end(d, &shanghai), Some(t("2026-12-05T16:00:00Z")));
        assert_eq!(
            deadline_end(d, &Zone::utc()),
            Some(t("2026-12-06T00:00:00Z"))
        );
    }
}
