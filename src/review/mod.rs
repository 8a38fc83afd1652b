//! Review: findings, their lifecycle, review events, indexes and queries.
//!
//! This is the one module that knows both stores: page hits (the crawler's
//! [`crate::store`]) and flagged registry companies
//! ([`crate::registry::store`]) become [`Finding`]s with one id space and
//! one [`Status`]; `review`, `export` and `serve` see only findings. It
//! reads those stores through their public accessors and never writes to
//! them.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `findings` | finding id (8 bytes) | [`Finding`] (JSON) |
//! | `review_events` | finding id ‖ seq (u32 BE) | [`Event`] (JSON), append-only |
//! | `review_index` | see [`index`] | the finding's summary (40 bytes) |
//! | `review_meta` | `n ‖ dim ‖ value ‖ 0` | count of findings (u64 BE) |
//! | | `index_version` | layout of `review_index` (u32 BE) |
//! | | `page_mark` | the crawl's (generation, pages done) when hits were last taken in |
//! | | `registry_mark` | the registry log's last entry taken in (u64 BE) |
//!
//! A finding, its new event, its index entries and the counts are written
//! in one sled transaction: after a crash, every finding's status is the
//! `to` of its last event and the indexes agree with it. A batch review
//! commits in transactions of [`BATCH`] findings; a crash keeps the ones
//! committed and loses the rest whole.
//!
//! New hits and companies become findings when a desk opens
//! ([`Desk::open`]), each with a `found` event: cheaply when nothing was
//! crawled or scanned since (two marks compared), else by one pass over the
//! `hits` tree and over the registry log entries written since. A finding
//! keeps its status when its evidence is found again (same id); changed
//! evidence has another id, so it is a new finding.
//!
//! At open the indexes are checked: the layout version, the counts
//! against each other, and the first and last finding against their index
//! entries. Anything off, or a rebuild that did not finish (it removes the
//! version first and writes it last), and they are rebuilt from `findings`.
//! [`Desk::check`] compares everything, for `finscan hits check`.
//!
//! After a recrawl or a registry rescan, [`Desk::recheck`] decides notified
//! findings past their deadline from the new evidence (see [`recheck`]).

pub mod filter;
pub mod finding;
pub(crate) mod index;
pub mod query;
pub mod recheck;
pub mod report;
pub mod view;

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use jiff::Timestamp;
use serde::Serialize;
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

pub use finding::{
    Action, ActionKind, CompanyEvidence, CompanyMatch, Event, Evidence, Finding, FindingId,
    PageEvidence, Recheck, SourceKind, Status, TransitionError,
};
pub use query::{Cursor, Listing, Query, Sort};
pub use recheck::{RecheckOutcome, RecheckReport, Rechecked};

use crate::registry::store::{RegistryStore, last_log_seq};
use crate::rules::{Category, RuleId, RuleSet, Severity};
use crate::store::{PageRecord, Store, StoredHit};
use index::{Change, Dim, Summary};

/// Findings per transaction in a sync or a batch review. sled keeps every
/// node a transaction reads or replaces until the transaction ends (its
/// epoch guard is pinned throughout): about 16 nodes per finding, up to
/// 32 KiB each (vendor/sled/FINSCAN.md). A batch review of 10,000 on the
/// 1,000,000-finding desk peaked at 168-171 MB with 50 findings a
/// transaction, 88-90 MB with 10 and 82 MB with 5, in the same 15-16 s
/// (heaptrack put two thirds of the 50-finding peak on nodes read and
/// copied inside the transactions).
pub const BATCH: usize = 10;
/// A batch review flushes (fsyncs) the log after about this many findings.
const FLUSH_EVERY: usize = 1000;
/// Reviewer name of events finscan records itself (a finding found).
pub const SYSTEM_REVIEWER: &str = "finscan";

const PAGE_MARK: &[u8] = b"page_mark";
const REGISTRY_MARK: &[u8] = b"registry_mark";

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::store::StoreError),
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("database: {0}")]
    Corrupt(String),
    #[error("no finding {0}")]
    NotFound(FindingId),
    #[error("{}", refusals_text(.0))]
    Refused(Vec<(FindingId, TransitionError)>),
    #[error("{0}")]
    BadDecision(String),
    #[error("{0}")]
    BadQuery(String),
}

fn refusals_text(r: &[(FindingId, TransitionError)]) -> String {
    let mut s = format!("{} finding(s) refused, nothing changed:", r.len());
    for (id, e) in r.iter().take(20) {
        s.push_str(&format!("\n  {id}: {e}"));
    }
    if r.len() > 20 {
        s.push_str(&format!("\n  … and {} more", r.len() - 20));
    }
    s
}

fn txn<T>(r: Result<T, TransactionError<ReviewError>>) -> Result<T, ReviewError> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => ReviewError::Sled(e),
    })
}

fn corrupt(what: impl std::fmt::Display, e: impl std::fmt::Display) -> ReviewError {
    ReviewError::Corrupt(format!("{what}: {e}"))
}

/// A reviewer's decision on one or more findings.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    pub reviewer: String,
    pub note: Option<String>,
}

/// What opening a desk did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Opened {
    /// Findings made from new page hits and companies.
    pub new_findings: usize,
    /// The indexes were found inconsistent and rebuilt.
    pub rebuilt: bool,
}

/// The result of [`Desk::check`].
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct CheckReport {
    pub findings: u64,
    pub events: u64,
    pub index_entries: u64,
    /// Disagreements found (at most 50 described).
    pub problems: Vec<String>,
    pub problem_count: u64,
}

/// One site (registrable domain): what its pages say and its findings.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct SiteRow {
    pub site: String,
    pub operator: Option<String>,
    pub icp: Option<String>,
    pub pages: u64,
    pub last_fetch: Option<String>,
    pub findings: u64,
    pub by_category: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
    pub worst: Option<Severity>,
}

/// The reviewer's desk over one database.
pub struct Desk {
    store: Store,
    pub(crate) findings: sled::Tree,
    pub(crate) events: sled::Tree,
    pub(crate) index: sled::Tree,
    pub(crate) meta: sled::Tree,
}

impl Desk {
    /// Opens the desk over the database in `dir`: checks the indexes
    /// (rebuilding them if they disagree) and takes in new hits and
    /// companies.
    pub fn open(dir: &Path) -> Result<(Desk, Opened), ReviewError> {
        let store = Store::open(dir)?;
        Desk::from_store(store)
    }

    /// The same over a store already open.
    pub fn from_store(store: Store) -> Result<(Desk, Opened), ReviewError> {
        let db = store.db().clone();
        let desk = Desk {
            findings: db.open_tree("findings")?,
            events: db.open_tree("review_events")?,
            index: db.open_tree("review_index")?,
            meta: db.open_tree("review_meta")?,
            store,
        };
        let mut opened = Opened::default();
        if desk.findings.is_empty() && desk.index.is_empty() {
            // a new desk: nothing to rebuild, only the layout to record
            desk.meta
                .insert(index::VERSION_KEY, &index::VERSION.to_be_bytes())?;
        } else if !desk.indexes_look_consistent()? {
            desk.rebuild_indexes()?;
            opened.rebuilt = true;
        }
        opened.new_findings = desk.sync()?;
        Ok((desk, opened))
    }

    /// The crawler's store (pages, bodies) under this desk.
    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn flush(&self) -> Result<(), ReviewError> {
        self.store.flush()?;
        Ok(())
    }

    /// Whether closing the desk will write sled's snapshot: see
    /// [`Store::close`].
    pub fn wrote_much(&self) -> bool {
        self.store.wrote_much()
    }

    /// Flushes and closes the desk: see [`Store::close`].
    pub fn close(self) -> Result<bool, ReviewError> {
        let Desk {
            store,
            findings,
            events,
            index,
            meta,
        } = self;
        drop((findings, events, index, meta));
        Ok(store.close()?)
    }

    pub fn get(&self, id: FindingId) -> Result<Option<Finding>, ReviewError> {
        self.findings
            .get(id.to_bytes())?
            .map(|v| serde_json::from_slice(&v).map_err(|e| corrupt(format!("finding {id}"), e)))
            .transpose()
    }

    /// Every event of a finding, oldest first.
    pub fn history(&self, id: FindingId) -> Result<Vec<Event>, ReviewError> {
        let mut out = Vec::new();
        for kv in self.events.scan_prefix(id.to_bytes()) {
            let (_, v) = kv?;
            out.push(serde_json::from_slice(&v).map_err(|e| corrupt(format!("event of {id}"), e))?);
        }
        Ok(out)
    }

    /// Findings of every status, by status (from the counts).
    pub fn status_counts(&self) -> Result<BTreeMap<Status, u64>, ReviewError> {
        let mut out = BTreeMap::new();
        for s in Status::ALL {
            out.insert(s, self.count(Dim::Status, s.as_str())?);
        }
        Ok(out)
    }

    pub fn total(&self) -> Result<u64, ReviewError> {
        self.count(Dim::All, "")
    }

    /// The page a page finding was found on.
    pub fn page_of(&self, f: &Finding) -> Result<Option<PageRecord>, ReviewError> {
        match &f.evidence {
            Evidence::Page(p) => Ok(self.store.page(&p.url)?),
            Evidence::Registry(_) => Ok(None),
        }
    }

    /// The crawler's hit behind a page finding, as the latest crawl left
    /// it (`last_seen`, `repeats`).
    pub fn hit(&self, f: &Finding) -> Result<Option<StoredHit>, ReviewError> {
        if f.source() != SourceKind::Page {
            return Ok(None);
        }
        Ok(self
            .store
            .hits
            .get(f.id.to_bytes())?
            .and_then(|v| serde_json::from_slice::<StoredHit>(&v).ok()))
    }

    /// When the evidence was last seen by a crawl (page findings).
    pub fn last_seen(&self, f: &Finding) -> Result<Option<String>, ReviewError> {
        Ok(self.hit(f)?.map(|h| h.last_seen))
    }

    /// The raw bytes of a page finding's evidence (`start..end` of the
    /// body it was found in), if the body is stored.
    pub fn evidence_bytes(&self, f: &Finding) -> Result<Option<Vec<u8>>, ReviewError> {
        let Evidence::Page(p) = &f.evidence else {
            return Ok(None);
        };
        if p.field != "page" {
            return Ok(None);
        }
        let Some(sha) = &p.sha256 else {
            return Ok(None);
        };
        let Some(body) = self.store.body(sha)? else {
            return Ok(None);
        };
        Ok(body.get(p.start..p.end).map(<[u8]>::to_vec))
    }

    /// Records `d` on every finding of `ids`, all or nothing as to
    /// validity: if any is missing or the action is not allowed from its
    /// state, nothing is written and every refusal is returned. Commits in
    /// transactions of [`BATCH`] and flushes about every 1,000 findings and
    /// at the end; `progress(done, total)` after each flush, so the `done`
    /// findings it reports are durable.
    pub fn review(
        &self,
        ids: &[FindingId],
        d: &Decision,
        mut progress: impl FnMut(usize, usize),
    ) -> Result<usize, ReviewError> {
        validate(d)?;
        // in the order given: a batch comes in its query's order (severity,
        // then time), the order of most index trees, so that a transaction's
        // index entries share leaves (id order, tried, was 10% slower)
        let mut seen = HashSet::new();
        let ids: Vec<FindingId> = ids.iter().copied().filter(|i| seen.insert(*i)).collect();
        let mut refused = Vec::new();
        for &id in &ids {
            let f = self.get(id)?.ok_or(ReviewError::NotFound(id))?;
            if let Err(e) = f.status.apply(&d.action) {
                refused.push((id, e));
            }
        }
        if !refused.is_empty() {
            return Err(ReviewError::Refused(refused));
        }
        let at = crate::time::now_in_seconds();
        let mut done = 0;
        let cleaning = crate::store::SelfCleaning::new(self.store.db());
        for chunk in ids.chunks(BATCH) {
            let started = std::time::Instant::now();
            let r = (&self.findings, &self.events, &self.index, &self.meta).transaction(
                |(findings, events, index, meta)| {
                    let mut changes = Vec::with_capacity(chunk.len());
                    for &id in chunk {
                        // read again inside the transaction: the state
                        // decided on is the state written over
                        let old: Finding = match findings.get(id.to_bytes())? {
                            Some(v) => serde_json::from_slice(&v).map_err(|e| {
                                ConflictableTransactionError::Abort(corrupt(
                                    format!("finding {id}"),
                                    e,
                                ))
                            })?,
                            None => {
                                return Err(ConflictableTransactionError::Abort(
                                    ReviewError::NotFound(id),
                                ));
                            }
                        };
                        let to = old.status.apply(&d.action).map_err(|e| {
                            ConflictableTransactionError::Abort(ReviewError::Refused(vec![(id, e)]))
                        })?;
                        let event = Event {
                            finding: id,
                            seq: old.events,
                            action: d.action.clone(),
                            from: Some(old.status),
                            to,
                            reviewer: d.reviewer.clone(),
                            at,
                            note: d.note.clone(),
                            recheck: None,
                        };
                        let mut new = old.clone();
                        new.status = to;
                        new.events += 1;
                        new.updated = at;
                        if let Action::Notify { deadline } = d.action {
                            new.deadline = Some(deadline);
                        }
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
            // each page moved is one more leaf copied and left behind
            let moved = cleaning.after_write(started.elapsed())?;
            crate::store::reclaim(chunk.len() * 16 + moved * 64);
            done += chunk.len();
            // each transaction is atomic whether or not it is flushed; a
            // flush makes the decisions so far durable
            if done % FLUSH_EVERY < BATCH || done == ids.len() {
                self.store.db().flush()?;
                progress(done, ids.len());
            }
        }
        Ok(done)
    }

    /// The findings `d` would apply to among those `q` matches: `q` with
    /// its status filter narrowed to the states the action is allowed from.
    pub fn batch_targets(&self, q: &Query, d: &Decision) -> Result<Vec<FindingId>, ReviewError> {
        let allowed = d.action.allowed_from();
        let mut q = q.clone();
        q.statuses = if q.statuses.is_empty() {
            allowed
        } else {
            q.statuses
                .iter()
                .copied()
                .filter(|s| allowed.contains(s))
                .collect()
        };
        if q.statuses.is_empty() {
            return Ok(Vec::new());
        }
        self.matching_ids(&q)
    }

    /// Takes in page hits and registry companies stored since the last
    /// time; returns how many new findings were made.
    pub fn sync(&self) -> Result<usize, ReviewError> {
        let mut made = 0;
        let generation = self.store.generation()?;
        let mark = format!("{generation}:{}", self.store.done_count(generation)?);
        if self.meta.get(PAGE_MARK)?.as_deref() != Some(mark.as_bytes()) {
            let mut pending = Vec::new();
            for h in self.hits_without_findings() {
                let (id, h) = h?;
                pending.push(page_finding(id, &h));
                if pending.len() == BATCH {
                    made += self.insert_new(std::mem::take(&mut pending))?;
                }
            }
            made += self.insert_new(pending)?;
            self.meta.insert(PAGE_MARK, mark.as_bytes())?;
        }
        let last = last_log_seq(self.store.db())?;
        let taken = self
            .meta
            .get(REGISTRY_MARK)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
            .unwrap_or(0);
        if last > taken {
            let registry = RegistryStore::from_db(self.store.db().clone(), self.store.dir())?;
            let rules = RuleSet::bundled().ok();
            let mut pending = Vec::new();
            for c in registry.companies_since(taken) {
                let (_, (company, hits)) = c?;
                if !company.flagged || hits.is_empty() {
                    continue;
                }
                let Some(f) = company_finding(&company, &hits, rules.as_ref()) else {
                    continue;
                };
                if self.findings.contains_key(f.id.to_bytes())?
                    || pending.iter().any(|p: &Finding| p.id == f.id)
                    || self.found_under_name_key(&company, &hits)?
                {
                    continue;
                }
                pending.push(f);
                if pending.len() == BATCH {
                    made += self.insert_new(std::mem::take(&mut pending))?;
                }
            }
            made += self.insert_new(pending)?;
            self.meta.insert(REGISTRY_MARK, &last.to_be_bytes())?;
        }
        if made > 0 {
            self.store.db().flush()?;
        }
        Ok(made)
    }

    /// Whether a company keyed by its code has its finding already under
    /// the name key it was stored with before the code was recognized (the
    /// registry store moved it, see [`crate::registry::store`]): the same
    /// company and text, so the same finding, which keeps its id, status
    /// and history (its evidence's key is the former one; the registry
    /// store answers for it).
    fn found_under_name_key(
        &self,
        company: &crate::registry::store::StoredCompany,
        hits: &[crate::registry::store::StoredHit],
    ) -> Result<bool, ReviewError> {
        if company.key.starts_with("name:") {
            return Ok(false);
        }
        let former = FindingId::of_company(
            &crate::registry::store::name_key(&company.name),
            hits.iter()
                .map(|h| (h.field.as_str(), h.rule.as_str(), h.matched.as_str())),
        );
        Ok(self.findings.contains_key(former.to_bytes())?)
    }

    /// The page hits that are no finding yet, in id order.
    ///
    /// The `hits` tree and `findings` are keyed alike (the id's 8 bytes),
    /// so they are walked side by side: after a crawl that added a few
    /// hits to a database of a million, taking them in costs two passes
    /// over keys in order, not a lookup per hit in random order (which
    /// reads a leaf of `findings` from disk per hit), and only the new
    /// hits are decoded.
    fn hits_without_findings(
        &self,
    ) -> impl Iterator<Item = Result<(FindingId, StoredHit), ReviewError>> + '_ {
        let mut findings = self.findings.iter().keys().peekable();
        self.store.hits.iter().filter_map(move |kv| {
            let (k, v) = match kv {
                Ok(kv) => kv,
                Err(e) => return Some(Err(e.into())),
            };
            let id = FindingId::from_bytes(&k)?;
            loop {
                match findings.peek() {
                    Some(Ok(f)) if f.as_ref() < k.as_ref() => {
                        findings.next();
                    }
                    Some(Ok(f)) if f.as_ref() == k.as_ref() => return None,
                    Some(Err(_)) => return findings.next()?.err().map(|e| Err(e.into())),
                    _ => break,
                }
            }
            Some(
                serde_json::from_slice::<StoredHit>(&v)
                    .map(|h| (id, h))
                    .map_err(|e| corrupt(format!("hit {id}"), e)),
            )
        })
    }

    /// Writes new findings, each with its `found` event.
    fn insert_new(&self, new: Vec<Finding>) -> Result<usize, ReviewError> {
        if new.is_empty() {
            return Ok(0);
        }
        let changes: Vec<Change> = new
            .into_iter()
            .map(|f| Change {
                event: Event {
                    finding: f.id,
                    seq: 0,
                    action: Action::Found,
                    from: None,
                    to: Status::New,
                    reviewer: SYSTEM_REVIEWER.into(),
                    at: f.first_seen,
                    note: None,
                    recheck: None,
                },
                old: None,
                new: Finding { events: 1, ..f },
            })
            .collect();
        let r = (&self.findings, &self.events, &self.index, &self.meta).transaction(
            |(findings, events, index, meta)| {
                // a finding stored meanwhile is not made twice
                let mut fresh = Vec::new();
                for c in &changes {
                    if findings.get(c.new.id.to_bytes())?.is_none() {
                        fresh.push(Change {
                            old: None,
                            new: c.new.clone(),
                            event: c.event.clone(),
                        });
                    }
                }
                index::write_changes(findings, events, index, meta, &fresh)?;
                Ok(fresh.len())
            },
        );
        let n = txn(r)?;
        crate::store::reclaim(n * 12);
        Ok(n)
    }

    /// The cheap check made at open (see the module doc).
    fn indexes_look_consistent(&self) -> Result<bool, ReviewError> {
        let version = self
            .meta
            .get(index::VERSION_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes));
        if version != Some(index::VERSION) {
            return Ok(false);
        }
        let total = self.total()?;
        let by_status: u64 = self.status_counts()?.values().sum();
        if by_status != total {
            return Ok(false);
        }
        let ends = [self.findings.first()?, self.findings.last()?];
        if total == 0 {
            return Ok(ends.iter().all(Option::is_none) && self.index.first()?.is_none());
        }
        for (_, v) in ends.into_iter().flatten() {
            let Ok(f) = serde_json::from_slice::<Finding>(&v) else {
                return Ok(false);
            };
            for (k, want) in index::entries(&f) {
                if self.index.get(&k)?.as_deref() != Some(&want[..]) {
                    return Ok(false);
                }
            }
        }
        // the first and last entry of the whole index point at findings
        for (k, _) in [self.index.first()?, self.index.last()?]
            .into_iter()
            .flatten()
        {
            match index::id_of_key(&k) {
                Some(id) if self.findings.contains_key(id.to_bytes())? => {}
                _ => return Ok(false),
            }
        }
        Ok(true)
    }

    /// Rebuilds the indexes and counts from `findings`.
    pub fn rebuild_indexes(&self) -> Result<(), ReviewError> {
        self.meta.remove(index::VERSION_KEY)?;
        self.store.db().flush()?;
        self.index.clear()?;
        for kv in self.meta.scan_prefix([index::COUNT]) {
            let (k, _) = kv?;
            self.meta.remove(k)?;
        }
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        let mut batch = sled::Batch::default();
        let mut in_batch = 0;
        for kv in self.findings.iter() {
            let (k, v) = kv?;
            let f: Finding =
                serde_json::from_slice(&v).map_err(|e| corrupt(format!("finding {k:?}"), e))?;
            for (key, sum) in index::entries(&f) {
                batch.insert(key, &sum[..]);
            }
            for (d, val) in index::dims(&f) {
                *counts.entry(index::count_key(d, &val)).or_default() += 1;
            }
            in_batch += 1;
            if in_batch == BATCH {
                self.index.apply_batch(std::mem::take(&mut batch))?;
                crate::store::reclaim(in_batch * 8);
                in_batch = 0;
            }
        }
        self.index.apply_batch(batch)?;
        let mut batch = sled::Batch::default();
        for (k, n) in counts {
            batch.insert(k, &n.to_be_bytes());
        }
        self.meta.apply_batch(batch)?;
        self.meta
            .insert(index::VERSION_KEY, &index::VERSION.to_be_bytes())?;
        self.store.db().flush()?;
        Ok(())
    }

    /// Compares everything: each finding with its events (its status is
    /// the last event's `to`, its event count the events stored), with its
    /// index entries, the index with the findings, and the counts.
    pub fn check(&self) -> Result<CheckReport, ReviewError> {
        let mut r = CheckReport::default();
        let problem = |r: &mut CheckReport, s: String| {
            r.problem_count += 1;
            if r.problems.len() < 50 {
                r.problems.push(s);
            }
        };
        let mut counts: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for kv in self.findings.iter() {
            let (k, v) = kv?;
            r.findings += 1;
            let f: Finding = match serde_json::from_slice(&v) {
                Ok(f) => f,
                Err(e) => {
                    problem(&mut r, format!("finding {k:?} does not decode: {e}"));
                    continue;
                }
            };
            let events = self.history(f.id)?;
            r.events += events.len() as u64;
            match events.last() {
                Some(e) if e.to == f.status && events.len() as u32 == f.events => {}
                Some(e) => problem(
                    &mut r,
                    format!(
                        "finding {} is {} with {} event(s); its last event says {} ({} stored)",
                        f.id,
                        f.status,
                        f.events,
                        e.to,
                        events.len()
                    ),
                ),
                None => problem(&mut r, format!("finding {} has no events", f.id)),
            }
            for (i, e) in events.iter().enumerate() {
                if e.seq as usize != i {
                    problem(
                        &mut r,
                        format!("finding {}: event {i} has seq {}", f.id, e.seq),
                    );
                }
            }
            for (key, want) in index::entries(&f) {
                if self.index.get(&key)?.as_deref() != Some(&want[..]) {
                    problem(
                        &mut r,
                        format!("finding {}: index entry {key:?} missing or stale", f.id),
                    );
                }
            }
            for (d, val) in index::dims(&f) {
                *counts.entry(index::count_key(d, &val)).or_default() += 1;
            }
        }
        for kv in self.index.iter() {
            let (k, v) = kv?;
            r.index_entries += 1;
            let ok = index::id_of_key(&k)
                .map(|id| self.get(id))
                .transpose()?
                .flatten()
                .is_some_and(|f| {
                    Summary::decode(&v) == Some(Summary::of(&f))
                        && index::entries(&f).iter().any(|(fk, _)| fk[..] == k[..])
                });
            if !ok {
                problem(
                    &mut r,
                    format!("index entry {k:?} points at no such finding"),
                );
            }
        }
        let mut stored: BTreeMap<Vec<u8>, u64> = BTreeMap::new();
        for kv in self.meta.scan_prefix([index::COUNT]) {
            let (k, v) = kv?;
            stored.insert(k.to_vec(), index::read_count(Some(&v)));
        }
        if stored != counts {
            problem(&mut r, "the counts disagree with the findings".into());
        }
        Ok(r)
    }

    /// Every site with pages or findings, by registrable domain.
    pub fn sites(&self) -> Result<Vec<SiteRow>, ReviewError> {
        let mut rows: BTreeMap<String, SiteRow> = BTreeMap::new();
        let mut operators: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
        for p in self.store.pages_iter() {
            let p = p?;
            let site = query::site_of_host(&p.host);
            let row = rows.entry(site.clone()).or_insert_with(|| SiteRow {
                site: site.clone(),
                ..SiteRow::default()
            });
            row.pages += 1;
            if row.icp.is_none() {
                row.icp = p.icp.clone();
            }
            if row
                .last_fetch
                .as_deref()
                .is_none_or(|t| p.fetched_at.as_str() > t)
            {
                row.last_fetch = Some(p.fetched_at.clone());
            }
            if let Some(op) = p.operator {
                *operators.entry(site).or_default().entry(op).or_default() += 1;
            }
        }
        for (site, ops) in operators {
            if let Some(row) = rows.get_mut(&site) {
                row.operator = ops.into_iter().max_by_key(|(_, n)| *n).map(|(o, _)| o);
            }
        }
        // categories by fingerprint, from the counts
        let categories: BTreeMap<u64, String> = self
            .values(Dim::Category, "")?
            .into_iter()
            .map(|(c, _)| (crate::store::fingerprint(&c), c))
            .collect();
        for (site, _) in self.values(Dim::Site, "")? {
            let row = rows.entry(site.clone()).or_insert_with(|| SiteRow {
                site: site.clone(),
                ..SiteRow::default()
            });
            for kv in self
                .index
                .scan_prefix(index::value_prefix(Dim::Site, &site))
            {
                let (_, v) = kv?;
                let Some(s) = Summary::decode(&v) else {
                    continue;
                };
                row.findings += 1;
                if let Some(c) = categories.get(&s.category_fp) {
                    *row.by_category.entry(c.clone()).or_default() += 1;
                }
                if let Some(st) = Status::from_code(s.status) {
                    *row.by_status.entry(st.as_str().to_owned()).or_default() += 1;
                }
                let sev = finding::severity_of_rank(s.severity_rank);
                if sev > row.worst {
                    row.worst = sev;
                }
            }
        }
        let mut out: Vec<SiteRow> = rows.into_values().collect();
        out.sort_by(|a, b| {
            b.worst
                .cmp(&a.worst)
                .then(b.findings.cmp(&a.findings))
                .then(a.site.cmp(&b.site))
        });
        Ok(out)
    }
}

fn validate(d: &Decision) -> Result<(), ReviewError> {
    if d.reviewer.trim().is_empty() {
        return Err(ReviewError::BadDecision(
            "a decision needs the reviewer's name (--reviewer NAME)".into(),
        ));
    }
    if d.action == Action::Found {
        return Err(ReviewError::BadDecision("found is not a decision".into()));
    }
    if d.action == Action::RecheckFailed {
        return Err(ReviewError::BadDecision(
            "recheck-failed is recorded by finscan when a recheck's fetch fails, not decided"
                .into(),
        ));
    }
    if d.action == Action::Reopen && d.note.as_deref().is_none_or(|n| n.trim().is_empty()) {
        return Err(ReviewError::BadDecision(
            "reopening a dismissed finding needs a reason (--note TEXT)".into(),
        ));
    }
    Ok(())
}

fn parse_time(s: &str) -> Timestamp {
    crate::time::from_stored(s).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// A page hit as a finding.
fn page_finding(id: FindingId, h: &StoredHit) -> Finding {
    let first_seen = parse_time(&h.first_seen);
    Finding {
        id,
        status: Status::New,
        rule: h.rule.clone(),
        category: h.category,
        severity: h.severity,
        matched: h.matched.clone(),
        snippet: h.snippet.clone(),
        basis: h.basis.clone(),
        site: Some(query::site_of_host(&h.host)),
        county: None,
        first_seen,
        updated: first_seen,
        deadline: None,
        events: 0,
        evidence: Evidence::Page(PageEvidence {
            url: h.url.clone(),
            host: h.host.clone(),
            field: h.field.as_str().to_owned(),
            term: h.term.clone(),
            start: h.start,
            end: h.end,
            sha256: h.sha256.clone(),
            normalizations: h.normalizations.clone(),
            annual_rate: h.annual_rate,
        }),
    }
}

fn parse_severity(s: &str) -> Severity {
    match s {
        "high" => Severity::High,
        "medium" => Severity::Medium,
        _ => Severity::Low,
    }
}

/// A flagged company as a finding: its worst hit (the name's first, on a
/// tie) gives rule, category and severity.
fn company_finding(
    c: &crate::registry::store::StoredCompany,
    hits: &[crate::registry::store::StoredHit],
    rules: Option<&RuleSet>,
) -> Option<Finding> {
    let primary = hits
        .iter()
        .enumerate()
        .max_by_key(|(i, h)| (parse_severity(&h.severity), std::cmp::Reverse(*i)))
        .map(|(_, h)| h)?;
    let category = Category::parse(&primary.category)?;
    let id = FindingId::of_company(
        &c.key,
        hits.iter()
            .map(|h| (h.field.as_str(), h.rule.as_str(), h.matched.as_str())),
    );
    let basis = rules
        .and_then(|r| r.rules.iter().find(|x| x.id.0 == primary.rule))
        .map(|r| r.basis.clone())
        .unwrap_or_default();
    let scope: String = c.scope.chars().take(120).collect();
    let first_seen = crate::time::from_unix(c.first_seen);
    Some(Finding {
        id,
        status: Status::New,
        rule: RuleId(primary.rule.clone()),
        category,
        severity: parse_severity(&primary.severity),
        matched: primary.matched.clone(),
        snippet: format!("{}｜{scope}", c.name),
        basis,
        site: None,
        county: c.division.clone().filter(|d| d.len() == 6),
        first_seen,
        updated: first_seen,
        deadline: None,
        events: 0,
        evidence: Evidence::Registry(CompanyEvidence {
            key: c.key.clone(),
            name: c.name.clone(),
            uscc: c.uscc.clone(),
            scope: c.scope.clone(),
            division: c.division.clone(),
            county_name: c.county.clone(),
            address: c.address.clone(),
            legal_rep: c.legal_rep.clone(),
            record_source: c.source.clone(),
            line: c.line,
            matches: hits
                .iter()
                .map(|h| CompanyMatch {
                    field: h.field.clone(),
                    rule: h.rule.clone(),
                    matched: h.matched.clone(),
                    term: h.term.clone(),
                })
                .collect(),
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desk(dir: &Path) -> Desk {
        let store = crate::store::open_again(|| Store::open(dir));
        Desk::from_store(store).unwrap().0
    }

    /// The `i`-th page hit: on site `s{i % sites}`, of category fund-pool
    /// every `pool`-th (the rest guaranteed-return), severities cycling.
    fn stored_hit(i: u64, sites: u64, pool: u64) -> StoredHit {
        let sev = [Severity::High, Severity::Medium, Severity::Low];
        let host = format!("www.s{}.com.cn", i % sites);
        StoredHit {
            id: format!("{:016x}", i + 1),
            url: format!("http://{host}/{i}"),
            host,
            status: "new".into(),
            rule: RuleId("page.x".into()),
            category: if i % pool == 0 {
                Category::FundPool
            } else {
                Category::GuaranteedReturn
            },
            severity: sev[(i % 3) as usize],
            field: crate::Field::Page,
            term: "资金池".into(),
            matched: "资金池".into(),
            start: 0,
            end: 9,
            snippet: format!("第{i}条 资金池"),
            basis: "§二".into(),
            normalizations: vec![],
            annual_rate: None,
            repeats: 0,
            sha256: None,
            first_seen: crate::store::rfc3339(1_800_000_000 + i),
            last_seen: crate::store::rfc3339(1_800_000_000 + i),
        }
    }

    /// `n` page findings made of [`stored_hit`]s.
    fn fill(d: &Desk, n: u64, sites: u64, pool: u64) {
        let findings: Vec<Finding> = (0..n)
            .map(|i| page_finding(FindingId(i + 1), &stored_hit(i, sites, pool)))
            .collect();
        for chunk in findings.chunks(BATCH) {
            d.insert_new(chunk.to_vec()).unwrap();
        }
    }

    #[test]
    fn a_sync_takes_in_exactly_the_hits_without_a_finding() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        // two hits in three are findings already, and the findings tree
        // also holds ids no hit has (registry findings) before, between
        // and after the hits' ids
        let existing: Vec<Finding> = (0..2000u64)
            .filter(|i| i % 3 != 0)
            .map(|i| page_finding(FindingId(i + 1), &stored_hit(i, 5, 10)))
            .chain(
                [0, 1 << 32, u64::MAX]
                    .into_iter()
                    .map(|id| page_finding(FindingId(id), &stored_hit(7, 5, 10))),
            )
            .collect();
        for chunk in existing.chunks(BATCH) {
            d.insert_new(chunk.to_vec()).unwrap();
        }
        for i in 0..2000 {
            let h = stored_hit(i, 5, 10);
            let key = hex::decode(&h.id).unwrap();
            d.store
                .hits
                .insert(key, serde_json::to_vec(&h).unwrap())
                .unwrap();
        }
        // a key that is no id is passed over, as before
        d.store.hits.insert(b"bad", b"{}".to_vec()).unwrap();
        d.store.start_generation().unwrap();
        assert_eq!(d.sync().unwrap(), 667);
        assert_eq!(d.total().unwrap(), 2003);
        for i in [0u64, 3, 1998] {
            let f = d.get(FindingId(i + 1)).unwrap().unwrap();
            assert_eq!((f.status, f.events), (Status::New, 1));
            assert_eq!(f.snippet, format!("第{i}条 资金池"));
        }
        // nothing new: nothing made, even with the mark changed
        d.store.start_generation().unwrap();
        assert_eq!(d.sync().unwrap(), 0);
        let r = d.check().unwrap();
        assert_eq!(r.problem_count, 0, "{:?}", r.problems);
    }

    fn decide(action: Action) -> Decision {
        Decision {
            action,
            reviewer: "t".into(),
            note: None,
        }
    }

    #[test]
    fn the_whole_lifecycle_is_recorded_event_by_event() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        fill(&d, 3, 1, 1);
        let (a, b) = (FindingId(1), FindingId(2));
        let deadline = Action::Notify {
            deadline: "2027-01-31".parse().unwrap(),
        };
        for action in [
            Action::Confirm,
            deadline.clone(),
            Action::Persist,
            Action::Refer,
        ] {
            d.review(&[a], &decide(action), |_, _| {}).unwrap();
        }
        for action in [Action::Confirm, deadline, Action::Rectify] {
            d.review(&[b], &decide(action), |_, _| {}).unwrap();
        }
        let fa = d.get(a).unwrap().unwrap();
        assert_eq!((fa.status, fa.events), (Status::Referred, 5));
        assert_eq!(fa.deadline, Some("2027-01-31".parse().unwrap()));
        let trail: Vec<Status> = d.history(a).unwrap().iter().map(|e| e.to).collect();
        use Status::*;
        assert_eq!(trail, [New, Confirmed, Notified, Persisting, Referred]);
        assert_eq!(d.get(b).unwrap().unwrap().status, Rectified);
        let e = d
            .review(&[a], &decide(Action::Refer), |_, _| {})
            .unwrap_err();
        assert!(e.to_string().contains("referred is final"), "{e}");
        let counts = d.status_counts().unwrap();
        assert_eq!(
            (counts[&Referred], counts[&Rectified], counts[&New]),
            (1, 1, 1)
        );
        let report = d.check().unwrap();
        assert_eq!(report.problem_count, 0, "{:?}", report.problems);
        assert_eq!(report.events, 3 + 4 + 3);
    }

    #[test]
    fn a_batch_finds_its_findings_in_the_index_without_reading_records() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        fill(&d, 3000, 7, 100);
        let q = Query {
            categories: vec![Category::FundPool],
            sites: vec!["s3.com.cn".into()],
            ..Query::default()
        };
        let listed: Vec<FindingId> = d.list(&q).unwrap().findings.iter().map(|f| f.id).collect();
        let (ids, records) = d.matching_ids_counted(&q).unwrap();
        assert_eq!(ids, listed);
        assert!(!ids.is_empty());
        assert_eq!(records, 0);
        // the batch's targets: the same, less those the action may not leave
        d.review(&ids[..1], &decide(Action::Confirm), |_, _| {})
            .unwrap();
        let targets = d.batch_targets(&q, &decide(Action::Confirm)).unwrap();
        assert_eq!(targets, listed[1..]);
        // a text search must read the records it tests
        let q = Query {
            text: Some("第1200条".into()),
            ..q
        };
        let (ids, records) = d.matching_ids_counted(&q).unwrap();
        assert_eq!(ids, [FindingId(1201)]);
        assert!(records >= 1);
    }

    #[test]
    fn a_batch_is_decided_once_per_finding_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        fill(&d, 1200, 3, 2);
        let mut ids: Vec<FindingId> = (1..=1200).rev().map(FindingId).collect();
        ids.push(FindingId(5));
        let mut seen = Vec::new();
        let n = d
            .review(&ids, &decide(Action::Dismiss), |done, total| {
                seen.push((done, total))
            })
            .unwrap();
        assert_eq!(n, 1200);
        // progress after each flush: every FLUSH_EVERY findings, and the end
        assert_eq!(seen, [(FLUSH_EVERY, 1200), (1200, 1200)]);
        assert_eq!(d.status_counts().unwrap()[&Status::Dismissed], 1200);
        // one refused id: nothing written, every refusal named
        let e = d
            .review(
                &[FindingId(9), FindingId(1300), FindingId(2)],
                &decide(Action::Confirm),
                |_, _| {},
            )
            .unwrap_err();
        assert!(matches!(e, ReviewError::NotFound(FindingId(1300))), "{e}");
        let e = d
            .review(
                &[FindingId(9), FindingId(2)],
                &decide(Action::Confirm),
                |_, _| {},
            )
            .unwrap_err();
        let ReviewError::Refused(r) = e else {
            panic!("{e}")
        };
        assert_eq!(
            r.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            [FindingId(9), FindingId(2)]
        );
        assert_eq!(d.history(FindingId(9)).unwrap().len(), 2);
        let report = d.check().unwrap();
        assert_eq!(report.problem_count, 0, "{:?}", report.problems);
    }

    /// Reads `q` in pages of 7, going on with `offset` or with the
    /// cursor of the page before.
    fn paged(d: &Desk, q: &Query, by_cursor: bool) -> Vec<FindingId> {
        let mut ids = Vec::new();
        let mut after = None;
        loop {
            let page = Query {
                offset: if by_cursor { 0 } else { ids.len() },
                after: after.take(),
                limit: Some(7),
                ..q.clone()
            };
            let mut got = Vec::new();
            let next = d
                .each(&page, |f| {
                    got.push(f.id);
                    Ok::<_, ReviewError>(())
                })
                .unwrap();
            assert!(got.len() <= 7);
            ids.extend(got);
            match next {
                Some(c) => after = by_cursor.then_some(c),
                None => return ids,
            }
        }
    }

    #[test]
    fn pages_of_a_listing_read_with_offsets_or_cursors_make_the_whole_listing() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        fill(&d, 300, 7, 10);
        let mid = d.list(&Query::default()).unwrap().findings[150].first_seen;
        for q in [
            Query::default(),
            Query {
                categories: vec![Category::FundPool],
                ..Query::default()
            },
            // several values of one filter: their runs are merged
            Query {
                categories: vec![Category::FundPool, Category::GuaranteedReturn],
                statuses: vec![Status::New, Status::Confirmed],
                ..Query::default()
            },
            Query {
                sort: Sort::Time,
                ..Query::default()
            },
            // the time index, newest first
            Query {
                sort: Sort::Time,
                since: Some(mid),
                ..Query::default()
            },
            // site by site: runs read one after another
            Query {
                sort: Sort::Site,
                ..Query::default()
            },
            // a text search reads records to decide: skipped rows too
            Query {
                text: Some("第1".into()),
                sort: Sort::Site,
                ..Query::default()
            },
        ] {
            let whole: Vec<FindingId> = d.list(&q).unwrap().findings.iter().map(|f| f.id).collect();
            assert!(whole.len() > 7, "{q:?}: {}", whole.len());
            assert_eq!(paged(&d, &q, false), whole, "offset {q:?}");
            assert_eq!(paged(&d, &q, true), whole, "cursor {q:?}");
        }
    }

    #[test]
    fn a_cursor_of_another_query_or_no_cursor_at_all_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        fill(&d, 40, 3, 10);
        let first = d
            .list(&Query {
                sort: Sort::Site,
                limit: Some(3),
                ..Query::default()
            })
            .unwrap();
        let c = first.next.expect("more than 3");
        // a site run's key is no run of the severity order
        let e = d
            .list(&Query {
                after: Some(c.clone()),
                ..Query::default()
            })
            .unwrap_err();
        assert!(
            matches!(&e, ReviewError::BadQuery(m) if m.contains("not from this query")),
            "{e}"
        );
        // the cursor's text round-trips; other text is refused
        assert_eq!(c.to_string().parse::<query::Cursor>().unwrap(), c);
        for bad in ["", "xyz", "abc"] {
            let e = bad.parse::<query::Cursor>().unwrap_err();
            assert!(e.to_string().contains("not a cursor"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_filtered_listing_reads_records_only_for_the_rows_it_returns() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        // 3,000 findings; 30 of fund-pool
        fill(&d, 3000, 7, 100);
        let q = Query {
            statuses: vec![Status::New],
            categories: vec![Category::FundPool],
            limit: Some(5),
            ..Query::default()
        };
        let l = d.list(&q).unwrap();
        assert_eq!(l.findings.len(), 5);
        assert!(l.more);
        assert_eq!(l.records_read, 5);
        assert!(
            l.entries_read <= 6,
            "walked the category index: {}",
            l.entries_read
        );
        assert!(l.findings.iter().all(|f| f.category == Category::FundPool));
        // high first, then newest first
        let keys: Vec<_> = l
            .findings
            .iter()
            .map(|f| {
                (
                    finding::severity_rank(f.severity),
                    std::cmp::Reverse(f.first_seen),
                )
            })
            .collect();
        assert!(keys.is_sorted());
        // a site and a severity: the site's index, checked on summaries
        let q = Query {
            sites: vec!["s3.com.cn".into()],
            severities: vec![Severity::Low],
            ..Query::default()
        };
        let l = d.list(&q).unwrap();
        let want = (0..3000u64).filter(|i| i % 7 == 3 && i % 3 == 2).count();
        assert_eq!(l.findings.len(), want);
        assert_eq!(l.records_read as usize, want);
        assert!(
            l.entries_read as usize <= want,
            "one stream per wanted severity"
        );
        // a time range, newest first
        let q = Query {
            since: Some(crate::time::from_unix(1_800_000_000 + 2990)),
            sort: Sort::Time,
            ..Query::default()
        };
        let l = d.list(&q).unwrap();
        assert_eq!(l.findings.len(), 10);
        assert_eq!(l.entries_read, 10);
        assert_eq!(l.findings[0].id, FindingId(3000));
    }

    #[test]
    fn damaged_indexes_are_rebuilt_when_the_desk_opens() {
        let dir = tempfile::tempdir().unwrap();
        {
            let d = desk(dir.path());
            fill(&d, 600, 3, 2);
            d.review(&[FindingId(600)], &decide(Action::Confirm), |_, _| {})
                .unwrap();
            // behind the desk's back: the last finding's status entry goes
            let f = d.get(FindingId(600)).unwrap().unwrap();
            let (k, _) = index::entries(&f)
                .into_iter()
                .find(|(k, _)| k[0] == Dim::Status.byte())
                .unwrap();
            d.index.remove(k).unwrap();
            assert!(d.check().unwrap().problem_count > 0);
            d.flush().unwrap();
        }
        let store = crate::store::open_again(|| Store::open(dir.path()));
        let (d, opened) = Desk::from_store(store).unwrap();
        assert!(opened.rebuilt);
        let r = d.check().unwrap();
        assert_eq!(r.problem_count, 0, "{:?}", r.problems);
        let confirmed = d
            .list(&Query {
                statuses: vec![Status::Confirmed],
                ..Query::default()
            })
            .unwrap();
        assert_eq!(confirmed.findings.len(), 1);
        drop(d);
        // and an intact one is believed
        let store = crate::store::open_again(|| Store::open(dir.path()));
        let (_, opened) = Desk::from_store(store).unwrap();
        assert!(!opened.rebuilt);
    }

    #[test]
    fn check_finds_a_status_that_is_not_its_last_event() {
        let dir = tempfile::tempdir().unwrap();
        let d = desk(dir.path());
        fill(&d, 2, 1, 1);
        let mut f = d.get(FindingId(1)).unwrap().unwrap();
        f.status = Status::Confirmed;
        d.findings
            .insert(f.id.to_bytes(), serde_json::to_vec(&f).unwrap())
            .unwrap();
        let r = d.check().unwrap();
        assert!(
            r.problems
                .iter()
                .any(|p| p.contains("its last event says new")),
            "{:?}",
            r.problems
        );
    }
}
