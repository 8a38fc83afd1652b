//! Stored registry results: the `registry` tree of the sled database, one
//! value per company holding the company and its hits (JSON), so a company
//! and its hits are always written together.
//!
//! A company is keyed by its credit code (`uscc:91610902MA70B5XK71`), or by
//! its name when the code is missing or invalid (`name:安康鑫源理财有限公司`,
//! white space removed, full-width ASCII made half-width), so scanning the
//! same registry again updates the entry instead of adding a second one.
//!
//! Only companies with hits are stored, plus companies already stored (a
//! rescan that finds a company clean records that, with no hits), so the
//! database grows with the flagged companies, not with the registry.
//!
//! sled costs tens of microseconds per read or write, so reads are avoided:
//! a Bloom filter of the stored keys answers "was this company stored?" for
//! every record, and only a "maybe" costs a read. The filter is saved in the
//! `registry_filter` tree when a scan finishes and marked stale while a scan
//! runs; after a crash it is rebuilt from the keys.
//!
//! This module owns these two trees only; the crawler's trees (`store`) are
//! opened from the same directory by their own module.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::allow::normalize_name;
use super::{CodeStatus, Record, RecordScan};

pub const COMPANIES: &str = "registry";
pub const FILTER: &str = "registry_filter";
/// Page cache of the database while scanning.
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Keys the Bloom filter is sized for at least (1.2 MB at 1 % false
/// positives); a database with more than half as many gets a filter for
/// twice its keys.
const FILTER_KEYS: usize = 1 << 20;
const FILTER_FP: f64 = 0.01;
const FILTER_SEED: &[u8; 32] = b"finscan registry companies bloom";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {dir}: {source}")]
    Open {
        dir: String,
        #[source]
        source: sled::Error,
    },
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("database: stored value is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// A company as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredCompany {
    pub key: String,
    pub name: String,
    pub uscc: Option<String>,
    pub uscc_valid: bool,
    pub division: Option<String>,
    pub county: Option<String>,
    pub rank: Option<String>,
    pub flagged: bool,
    pub allowlisted: Option<String>,
    pub scope: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_rep: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reg_date: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Where it was last read: file (or URL) and line.
    pub source: String,
    pub line: u64,
    /// Unix seconds of the first and the latest scan.
    pub first_seen: u64,
    pub last_scanned: u64,
    /// How many scans have seen it.
    pub scans: u64,
}

/// A hit as stored; offsets are bytes of that field's text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredHit {
    pub field: String,
    pub rule: String,
    pub category: String,
    pub severity: String,
    pub term: String,
    pub matched: String,
    pub start: usize,
    pub end: usize,
}

/// The stored value: a company and its hits.
#[derive(Deserialize)]
struct Stored {
    company: StoredCompany,
    hits: Vec<StoredHit>,
}

#[derive(Serialize)]
struct StoredRef<'a> {
    company: &'a StoredCompany,
    hits: &'a [StoredHit],
}

/// What [`RegistryStore::save`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Saved {
    /// Clean and never stored: nothing written.
    Skipped,
    New,
    Updated,
}

impl Drop for RegistryStore {
    /// Commits what is still buffered, so an early return loses nothing.
    fn drop(&mut self) {
        let _ = self.commit();
    }
}

/// A Bloom filter of stored keys, the number of keys stored and the number
/// it was sized for.
type Filter = (bloomfilter::Bloom<[u8]>, u64, u64);

/// Keys set in every filter and checked when one is loaded. The filter
/// hashes with `Hash for [u8]`, which Rust does not promise to keep across
/// versions and platforms: a saved filter that no longer finds all of these
/// was hashed differently and is rebuilt (eight probes pass by chance with
/// probability 10^-16).
const FILTER_PROBES: [&[u8]; 8] = [
    b"probe:0", b"probe:1", b"probe:2", b"probe:3", b"probe:4", b"probe:5", b"probe:6", b"probe:7",
];

/// A filter for twice `keys` (at least [`FILTER_KEYS`]), and that capacity.
fn new_filter(keys: u64) -> Result<(bloomfilter::Bloom<[u8]>, u64), StoreError> {
    let capacity = (FILTER_KEYS as u64).max(keys.saturating_mul(2));
    let mut f =
        bloomfilter::Bloom::new_for_fp_rate_with_seed(capacity as usize, FILTER_FP, FILTER_SEED)
            .map_err(|e| StoreError::Sled(sled::Error::Unsupported(e.into())))?;
    for p in FILTER_PROBES {
        f.set(p);
    }
    Ok((f, capacity))
}

/// The saved filter, if it is current and not too full.
fn load_filter(t: &sled::Tree) -> Result<Option<Filter>, StoreError> {
    if t.get("state")?.as_deref() != Some(b"current".as_slice()) {
        return Ok(None);
    }
    let number = |k: &str| -> Result<Option<u64>, StoreError> {
        Ok(t.get(k)?
            .and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes)))
    };
    let (Some(bytes), Some(keys), Some(capacity)) =
        (t.get("filter")?, number("keys")?, number("capacity")?)
    else {
        return Ok(None);
    };
    // Past half the keys it was sized for, a larger one is built.
    if keys.saturating_mul(2) > capacity {
        return Ok(None);
    }
    let filter: Option<bloomfilter::Bloom<[u8]>> = bloomfilter::Bloom::from_slice(&bytes).ok();
    Ok(filter
        .filter(|f| FILTER_PROBES.iter().all(|p| f.check(*p)))
        .map(|f| (f, keys, capacity)))
}

/// A filter from every stored key: one pass over the tree.
fn rebuild_filter(companies: &sled::Tree) -> Result<Filter, StoreError> {
    let keys = companies.len() as u64;
    let (mut filter, capacity) = new_filter(keys)?;
    for k in companies.iter().keys() {
        filter.set(&k?[..]);
    }
    Ok((filter, keys, capacity))
}

/// Moves companies stored by earlier versions (trees `companies` and
/// `company_hits`, company and hits apart) into [`COMPANIES`], then drops
/// the old trees. Returns whether anything was moved.
fn migrate_old_layout(db: &sled::Db, companies: &sled::Tree) -> Result<bool, StoreError> {
    const OLD: &str = "companies";
    const OLD_HITS: &str = "company_hits";
    if !db.tree_names().iter().any(|n| n.as_ref() == OLD.as_bytes()) {
        return Ok(false);
    }
    let old = db.open_tree(OLD)?;
    let old_hits = db.open_tree(OLD_HITS)?;
    let mut moved = false;
    for kv in old.iter() {
        let (k, v) = kv?;
        let company: StoredCompany = serde_json::from_slice(&v)?;
        let hits: Vec<StoredHit> = match old_hits.get(&k)? {
            Some(h) => serde_json::from_slice(&h)?,
            None => Vec::new(),
        };
        let value = serde_json::to_vec(&StoredRef {
            company: &company,
            hits: &hits,
        })?;
        companies.insert(k, value)?;
        moved = true;
    }
    // the new tree is on disk before the old ones go
    db.flush()?;
    db.drop_tree(OLD_HITS)?;
    db.drop_tree(OLD)?;
    Ok(moved)
}

/// The key of a record: its valid credit code, else its name.
pub fn company_key(rec: &Record, code: &CodeStatus) -> String {
    match code.valid() {
        Some(c) => format!("uscc:{c}"),
        None => format!("name:{}", normalize_name(&rec.name)),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub struct RegistryStore {
    db: sled::Db,
    companies: sled::Tree,
    filter_tree: sled::Tree,
    /// Every stored key is in it (false positives only cost a read).
    stored: bloomfilter::Bloom<[u8]>,
    /// Keys stored, as far as this process knows (sizes the next filter),
    /// and the number of keys the filter was sized for.
    keys: u64,
    capacity: u64,
    /// The saved filter is marked stale: writes may go ahead.
    marked_stale: bool,
    /// Writes not yet committed: (key, value), applied together in one
    /// batch every [`COMMIT_EVERY`] companies and by
    /// [`RegistryStore::flush`] (a write per company made storing 100k
    /// flagged companies take minutes).
    pending: Vec<(String, Vec<u8>)>,
    /// Index of `pending` by key, so a company seen twice before a commit
    /// is still updated, not duplicated.
    pending_index: std::collections::HashMap<String, usize>,
}

/// Companies per transaction.
pub const COMMIT_EVERY: usize = 512;

impl RegistryStore {
    /// Opens (or creates) the database in `dir`.
    ///
    /// sled's page cache is capped at [`CACHE_BYTES`] (sled's default is
    /// 1 GiB) so that a registry scan's memory stays flat however many
    /// companies it stores.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| StoreError::Open {
                dir: dir.display().to_string(),
                source,
            })?;
        Self::from_db(db)
    }

    /// Uses a database another module already opened (sled allows one
    /// `Db` per directory and process: the crawler passes its own).
    pub fn from_db(db: sled::Db) -> Result<Self, StoreError> {
        let companies = db.open_tree(COMPANIES)?;
        let filter_tree = db.open_tree(FILTER)?;
        if migrate_old_layout(&db, &companies)? {
            filter_tree.insert("state", "stale")?;
        }
        let saved = load_filter(&filter_tree)?;
        // A saved filter is marked stale by the first write (a crash then
        // leaves it stale); a rebuilt one is not marked current on disk.
        let marked_stale = saved.is_none();
        let (stored, keys, capacity) = match saved {
            Some(f) => f,
            None => rebuild_filter(&companies)?,
        };
        Ok(RegistryStore {
            db,
            companies,
            filter_tree,
            stored,
            keys,
            capacity,
            marked_stale,
            pending: Vec::new(),
            pending_index: std::collections::HashMap::new(),
        })
    }

    /// Stores a scanned record if it has hits or is already stored.
    ///
    /// The write is buffered: it is visible to [`RegistryStore::companies`]
    /// after the next commit, at the latest after [`RegistryStore::flush`].
    pub fn save(
        &mut self,
        source: &str,
        rec: &Record,
        scan: &RecordScan,
    ) -> Result<Saved, StoreError> {
        let key = company_key(rec, &scan.code);
        let maybe_stored = self.stored.check(key.as_bytes());
        if scan.hits.is_empty() && !maybe_stored {
            return Ok(Saved::Skipped);
        }
        let pending_at = self.pending_index.get(&key).copied();
        let previous = match pending_at {
            Some(i) => Some(sled::IVec::from(self.pending[i].1.as_slice())),
            None if maybe_stored => self.companies.get(key.as_bytes())?,
            None => None,
        };
        if previous.is_none() && scan.hits.is_empty() {
            return Ok(Saved::Skipped);
        }
        let previous: Option<StoredCompany> = previous
            .map(|v| serde_json::from_slice::<Stored>(&v).map(|s| s.company))
            .transpose()?;
        let t = now();
        let company = StoredCompany {
            key: key.clone(),
            name: rec.name.clone(),
            uscc: match &scan.code {
                CodeStatus::Missing => None,
                CodeStatus::Valid(c) => Some(c.to_string()),
                CodeStatus::Invalid(s, _) => Some(s.clone()),
            },
            uscc_valid: scan.code.valid().is_some(),
            division: scan.division.as_ref().map(|d| d.code.clone()),
            county: scan.division.as_ref().map(|d| d.label()),
            rank: scan.rank.map(|r| r.as_str().to_owned()),
            flagged: scan.flagged(),
            allowlisted: scan.allowlisted.clone(),
            scope: rec.scope.clone(),
            address: rec.address.clone(),
            legal_rep: rec.legal_rep.clone(),
            reg_date: rec.reg_date.clone(),
            status: rec.status.clone(),
            source: source.to_owned(),
            line: rec.line,
            first_seen: previous.as_ref().map_or(t, |p| p.first_seen),
            last_scanned: t,
            scans: previous.as_ref().map_or(0, |p| p.scans) + 1,
        };
        let hits: Vec<StoredHit> = scan
            .hits
            .iter()
            .map(|h| StoredHit {
                field: h.field.as_str().to_owned(),
                rule: h.rule.0.clone(),
                category: h.category.as_str().to_owned(),
                severity: h.severity.as_str().to_owned(),
                term: h.term.clone(),
                matched: h.matched.clone(),
                start: h.raw.start,
                end: h.raw.end,
            })
            .collect();
        let value = serde_json::to_vec(&StoredRef {
            company: &company,
            hits: &hits,
        })?;
        if previous.is_none() {
            self.stored.set(key.as_bytes());
            self.keys += 1;
        }
        match pending_at {
            Some(i) => self.pending[i] = (key, value),
            None => {
                self.pending_index.insert(key.clone(), self.pending.len());
                self.pending.push((key, value));
            }
        }
        if self.pending.len() >= COMMIT_EVERY {
            self.commit()?;
        }
        Ok(if previous.is_some() {
            Saved::Updated
        } else {
            Saved::New
        })
    }

    /// Every stored company with its hits, in key order.
    pub fn companies(
        &self,
    ) -> impl Iterator<Item = Result<(StoredCompany, Vec<StoredHit>), StoreError>> + '_ {
        self.companies.iter().map(move |kv| {
            let (_, v) = kv?;
            let s: Stored = serde_json::from_slice(&v)?;
            Ok((s.company, s.hits))
        })
    }

    pub fn len(&self) -> usize {
        self.companies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.companies.is_empty()
    }

    /// Writes the buffered companies in one atomic batch, in key order.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if !self.marked_stale {
            self.filter_tree.insert("state", "stale")?;
            self.marked_stale = true;
        }
        self.pending.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut batch = sled::Batch::default();
        for (key, value) in &self.pending {
            batch.insert(key.as_bytes(), value.as_slice());
        }
        // kept until written: a failed write loses nothing buffered
        self.companies.apply_batch(batch)?;
        crate::store::reclaim(self.pending.len());
        self.pending.clear();
        self.pending_index.clear();
        Ok(())
    }

    /// Commits buffered writes and flushes the database to disk.
    /// The filter is saved after the companies are on disk; the next
    /// commit marks it stale again before writing, so a filter marked
    /// current on disk never misses a stored key.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.db.flush()?;
        let mut b = sled::Batch::default();
        b.insert("filter", self.stored.as_slice());
        b.insert("keys", &self.keys.to_be_bytes());
        b.insert("capacity", &self.capacity.to_be_bytes());
        b.insert("state", "current");
        self.filter_tree.apply_batch(b)?;
        self.db.flush()?;
        self.marked_stale = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{AllowList, RecordScanner};
    use crate::rules::RuleSet;

    fn record(line: u64, name: &str, uscc: &str) -> Record {
        Record {
            line,
            name: name.into(),
            uscc: Some(uscc.into()),
            scope: "企业管理咨询".into(),
            ..Record::default()
        }
    }

    /// Scans and saves `(name, uscc)` records; returns what each save did.
    fn save_all(store: &mut RegistryStore, records: &[(&str, &str)]) -> Vec<Saved> {
        let scanner = RecordScanner::new(&RuleSet::bundled().unwrap(), AllowList::default());
        records
            .iter()
            .enumerate()
            .map(|(i, (name, uscc))| {
                let rec = record(i as u64 + 1, name, uscc);
                store.save("t.csv", &rec, &scanner.scan(&rec)).unwrap()
            })
            .collect()
    }

    fn open_again(dir: &Path) -> RegistryStore {
        crate::store::open_again(|| RegistryStore::open(dir))
    }

    const FLAGGED: (&str, &str) = ("安康鑫源理财有限公司", "91610902MA70B5XK71");
    const CLEAN: (&str, &str) = ("安康鑫源商贸有限公司", "91610902MA70B5XK71");
    const OTHER: (&str, &str) = ("汉滨区百货商店", "91110000600037341L");

    fn stored(dir: &Path) -> Vec<StoredCompany> {
        let s = open_again(dir);
        s.companies().map(|c| c.unwrap().0).collect()
    }

    #[test]
    fn a_company_found_clean_on_rescan_is_updated_through_the_saved_filter() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            assert_eq!(
                save_all(&mut s, &[FLAGGED, OTHER]),
                [Saved::New, Saved::Skipped]
            );
            s.flush().unwrap();
        }
        {
            let mut s = open_again(dir.path());
            assert!(!s.marked_stale, "the saved filter was loaded");
            // same code, renamed and clean: the stored entry is updated
            assert_eq!(
                save_all(&mut s, &[CLEAN, OTHER]),
                [Saved::Updated, Saved::Skipped]
            );
            s.flush().unwrap();
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].scans, c[0].flagged), (2, false));
        assert_eq!(c[0].name, CLEAN.0);
    }

    #[test]
    fn a_crash_after_writes_leaves_the_filter_stale_and_it_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &[OTHER]);
            s.flush().unwrap(); // an empty filter marked current
            save_all(&mut s, &[FLAGGED]);
            // Dropping commits the companies but does not save the filter:
            // what a crash after the last commit leaves.
        }
        let mut s = open_again(dir.path());
        assert!(s.marked_stale, "the filter was rebuilt, not loaded");
        assert_eq!(save_all(&mut s, &[CLEAN]), [Saved::Updated]);
    }

    #[test]
    fn a_saved_filter_hashed_differently_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &[FLAGGED]);
            s.flush().unwrap();
            // what a filter saved by a build that hashed keys differently
            // looks like: current, right size, none of our bits
            let other: bloomfilter::Bloom<[u8]> =
                bloomfilter::Bloom::new_for_fp_rate_with_seed(FILTER_KEYS, FILTER_FP, &[7; 32])
                    .unwrap();
            s.filter_tree.insert("filter", other.as_slice()).unwrap();
            s.db.flush().unwrap();
        }
        let mut s = open_again(dir.path());
        assert!(s.marked_stale, "rebuilt from the keys");
        assert_eq!(save_all(&mut s, &[CLEAN]), [Saved::Updated]);
    }

    #[test]
    fn companies_stored_by_the_old_layout_are_moved_and_updated() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        {
            let db = sled::open(dir.path()).unwrap();
            let old = StoredCompany {
                key: key.clone(),
                name: FLAGGED.0.into(),
                uscc: Some(FLAGGED.1.into()),
                uscc_valid: true,
                division: None,
                county: None,
                rank: Some("name".into()),
                flagged: true,
                allowlisted: None,
                scope: String::new(),
                address: None,
                legal_rep: None,
                reg_date: None,
                status: None,
                source: "old.csv".into(),
                line: 2,
                first_seen: 1_600_000_000,
                last_scanned: 1_600_000_000,
                scans: 3,
            };
            let hits = db.open_tree("company_hits").unwrap();
            hits.insert(&key, b"[]".as_slice()).unwrap();
            let companies = db.open_tree("companies").unwrap();
            companies
                .insert(&key, serde_json::to_vec(&old).unwrap())
                .unwrap();
            db.flush().unwrap();
        }
        {
            let mut s = open_again(dir.path());
            assert_eq!(save_all(&mut s, &[CLEAN]), [Saved::Updated]);
            s.flush().unwrap();
            let names = s.db.tree_names();
            assert!(!names.iter().any(|n| n.as_ref() == b"company_hits"));
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].scans, c[0].first_seen), (4, 1_600_000_000));
    }

    #[test]
    fn reading_the_database_leaves_a_saved_filter_current() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &[FLAGGED]);
            s.flush().unwrap();
        }
        assert_eq!(stored(dir.path()).len(), 1);
        let s = open_again(dir.path());
        assert!(!s.marked_stale);
    }
}
