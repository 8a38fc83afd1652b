//! Stored registry results: a company and its hits are one record (JSON),
//! always written together.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `registry_records` | `l` + sequence (u64 BE): the log | up to [`PER_LOG_KEY`] records, a JSON array |
//! | | `i` + the company key's fingerprint (64 bits of its SHA-256): the index | where its latest record is, `first_seen`, `scans` (28 bytes) |
//! | | `n` + sequence | how many of that log entry's records are still current (u32) |
//! | `registry_filter` | `filter_fp`, `keys`, `capacity`, `state` | Bloom filter of the index keys |
//!
//! One tree, so that a commit (log entries, index entries, counts) is one
//! atomic sled batch.
//!
//! Records are appended in scan order and never rewritten in place: sled
//! 0.34 keeps every leaf of a tree written at random in memory until the
//! tree has more than ~16,000 of them (its LRU accounts accesses in batches
//! of 64 per shard), so one value per company keyed by company made memory
//! follow the records stored (146 MB peak for 125,600 flagged companies);
//! appending touches only the end of the log, and the index's values are
//! small. A rescan appends the new record and points the index at it; a log
//! entry whose records are all superseded is deleted.
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

pub const RECORDS: &str = "registry_records";
pub const FILTER: &str = "registry_filter";
const LOG: u8 = b'l';
const INDEX: u8 = b'i';
const LIVE: u8 = b'n';

/// A company's place in the index: `i` and the 64-bit fingerprint of its
/// key ([`crate::store::fingerprint`]). Short keys keep the index small in
/// memory (sled holds it whole up to ~16,000 leaves: 16 MB instead of 40 MB
/// with the keys themselves); two of a million companies share a
/// fingerprint with probability 3·10^-8.
fn index_key(key: &str) -> [u8; 9] {
    let mut k = [INDEX; 9];
    k[1..].copy_from_slice(&crate::store::fingerprint(key).to_le_bytes());
    k
}

fn seq_key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}
/// The layout before the log: one JSON value per company.
const OLD_COMPANIES: &str = "registry";
/// Records per log entry: fewer sled writes than one each, and small
/// enough values (a few KB) that sled does not hold large buffers.
pub const PER_LOG_KEY: usize = 8;
/// Page cache of the database while scanning.
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Keys the Bloom filter is sized for at least (1.2 MB at 1 % false
/// positives); a database with more than half as many gets a filter for
/// twice its keys.
const FILTER_KEYS: usize = 1 << 20;
const FILTER_FP: f64 = 0.01;
const FILTER_SEED: &[u8; 32] = b"finscan registry companies bloom";
/// The saved filter (of index fingerprints; `filter`, of company keys, was
/// an earlier layout's and is not read).
const FILTER_KEY: &str = "filter_fp";

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
    #[error("database: index entry of {0} is not 28 bytes")]
    BadIndex(String),
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

/// A stored company and its hits.
pub type Company = (StoredCompany, Vec<StoredHit>);

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

/// Where a record is: its log entry and its place in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Loc {
    log: u64,
    slot: u32,
}

/// A company's entry in the index.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct IndexEntry {
    at: Loc,
    first_seen: u64,
    scans: u64,
}

impl IndexEntry {
    fn encode(&self) -> [u8; 28] {
        let mut v = [0u8; 28];
        v[..8].copy_from_slice(&self.at.log.to_be_bytes());
        v[8..12].copy_from_slice(&self.at.slot.to_be_bytes());
        v[12..20].copy_from_slice(&self.first_seen.to_be_bytes());
        v[20..28].copy_from_slice(&self.scans.to_be_bytes());
        v
    }

    fn decode(key: &[u8], v: &[u8]) -> Result<IndexEntry, StoreError> {
        let Ok(v) = <&[u8; 28]>::try_from(v) else {
            return Err(StoreError::BadIndex(
                String::from_utf8_lossy(key).into_owned(),
            ));
        };
        let u64_at = |i: usize| u64::from_be_bytes(v[i..i + 8].try_into().unwrap_or_default());
        Ok(IndexEntry {
            at: Loc {
                log: u64_at(0),
                slot: u32::from_be_bytes(v[8..12].try_into().unwrap_or_default()),
            },
            first_seen: u64_at(12),
            scans: u64_at(20),
        })
    }
}

/// A record waiting for the next commit.
struct Pending {
    key: String,
    /// Its key in the index ([`index_key`]).
    at: [u8; 9],
    /// The record (JSON of company and hits).
    value: Vec<u8>,
    first_seen: u64,
    scans: u64,
    /// The stored record this one replaces.
    replaces: Option<Loc>,
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
        (t.get(FILTER_KEY)?, number("keys")?, number("capacity")?)
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

/// A filter from every stored key: two passes over the index.
fn rebuild_filter(records: &sled::Tree) -> Result<Filter, StoreError> {
    let keys = records.scan_prefix([INDEX]).keys().count() as u64;
    let (mut filter, capacity) = new_filter(keys)?;
    for k in records.scan_prefix([INDEX]).keys() {
        filter.set(&k?[1..]);
    }
    Ok((filter, keys, capacity))
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
    records: sled::Tree,
    filter_tree: sled::Tree,
    /// Every key in the index is in it (false positives only cost a read).
    stored: bloomfilter::Bloom<[u8]>,
    /// Keys stored, as far as this process knows (sizes the next filter),
    /// and the number of keys the filter was sized for.
    keys: u64,
    capacity: u64,
    /// The saved filter is marked stale: writes may go ahead.
    marked_stale: bool,
    /// Records not yet committed, written together every [`COMMIT_EVERY`]
    /// companies and by [`RegistryStore::flush`].
    pending: Vec<Pending>,
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
    /// 1 GiB).
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
        let (stored, capacity) = new_filter(0)?;
        let mut s = RegistryStore {
            records: db.open_tree(RECORDS)?,
            filter_tree: db.open_tree(FILTER)?,
            db,
            stored,
            keys: 0,
            capacity,
            marked_stale: false,
            pending: Vec::new(),
            pending_index: std::collections::HashMap::new(),
        };
        s.migrate()?;
        let saved = load_filter(&s.filter_tree)?;
        // A saved filter is marked stale by the first write (a crash then
        // leaves it stale); a rebuilt one is not marked current on disk.
        s.marked_stale = saved.is_none();
        (s.stored, s.keys, s.capacity) = match saved {
            Some(f) => f,
            None => rebuild_filter(&s.records)?,
        };
        Ok(s)
    }

    /// Stores the companies of earlier versions in this layout (keeping
    /// `first_seen` and `scans`), then drops their trees: `registry` (one
    /// JSON value per company) and, before it, `companies` and
    /// `company_hits` (company and hits apart). Read one company at a time.
    fn migrate(&mut self) -> Result<(), StoreError> {
        const OLDEST: &str = "companies";
        const OLDEST_HITS: &str = "company_hits";
        let names = self.db.tree_names();
        let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
        let mut trees = Vec::new();
        if has(OLD_COMPANIES) {
            for kv in self.db.open_tree(OLD_COMPANIES)?.iter() {
                let (k, v) = kv?;
                let s: Stored = serde_json::from_slice(&v)?;
                self.migrate_one(&k, &s.company, &s.hits)?;
            }
            trees.push(OLD_COMPANIES);
        }
        if has(OLDEST) {
            let hits = self.db.open_tree(OLDEST_HITS)?;
            for kv in self.db.open_tree(OLDEST)?.iter() {
                let (k, v) = kv?;
                let company: StoredCompany = serde_json::from_slice(&v)?;
                let h: Vec<StoredHit> = match hits.get(&k)? {
                    Some(h) => serde_json::from_slice(&h)?,
                    None => Vec::new(),
                };
                self.migrate_one(&k, &company, &h)?;
            }
            // companies first: a crash between the two drops must not leave
            // companies without their hits to be moved again
            trees.extend([OLDEST, OLDEST_HITS]);
        } else if has(OLDEST_HITS) {
            trees.push(OLDEST_HITS);
        }
        if trees.is_empty() {
            return Ok(());
        }
        self.commit()?;
        // the new records are on disk before the old trees go
        self.db.flush()?;
        for t in trees {
            self.db.drop_tree(t)?;
        }
        Ok(())
    }

    /// Buffers one company of an earlier layout.
    fn migrate_one(
        &mut self,
        key: &[u8],
        company: &StoredCompany,
        hits: &[StoredHit],
    ) -> Result<(), StoreError> {
        let key = String::from_utf8_lossy(key).into_owned();
        let at = index_key(&key);
        // A key met again (in both old layouts, or moved by a migration
        // that was cut short before dropping the old trees) keeps what was
        // moved first: `registry` is read before the older trees.
        if self.pending_index.contains_key(&key) || self.indexed(&at, &key)?.is_some() {
            return Ok(());
        }
        let value = serde_json::to_vec(&StoredRef { company, hits })?;
        self.push(Pending {
            at,
            key,
            value,
            first_seen: company.first_seen,
            scans: company.scans,
            replaces: None,
        })
    }

    /// The index entry at `at` (the index key of company `key`), if any.
    fn indexed(&self, at: &[u8; 9], key: &str) -> Result<Option<IndexEntry>, StoreError> {
        self.records
            .get(at)?
            .map(|v| IndexEntry::decode(key.as_bytes(), &v))
            .transpose()
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
        let at = index_key(&key);
        let maybe_stored = self.stored.check(&at[1..]);
        if scan.hits.is_empty() && !maybe_stored {
            return Ok(Saved::Skipped);
        }
        let pending_at = self.pending_index.get(&key).copied();
        // (first_seen, scans, the stored record this replaces)
        let previous = match pending_at {
            Some(i) => {
                let p = &self.pending[i];
                Some((p.first_seen, p.scans, p.replaces))
            }
            None if maybe_stored => self
                .indexed(&at, &key)?
                .map(|e| (e.first_seen, e.scans, Some(e.at))),
            None => None,
        };
        if previous.is_none() && scan.hits.is_empty() {
            return Ok(Saved::Skipped);
        }
        let t = now();
        let first_seen = previous.map_or(t, |p| p.0);
        let scans = previous.map_or(0, |p| p.1) + 1;
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
            first_seen,
            last_scanned: t,
            scans,
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
        let p = Pending {
            key,
            at,
            value,
            first_seen,
            scans,
            replaces: previous.and_then(|p| p.2),
        };
        match pending_at {
            Some(i) => self.pending[i] = p,
            None => {
                if previous.is_none() {
                    self.stored.set(&at[1..]);
                    self.keys += 1;
                }
                self.push(p)?;
            }
        }
        Ok(if previous.is_some() {
            Saved::Updated
        } else {
            Saved::New
        })
    }

    /// Buffers a record (of a key not buffered yet); commits when the
    /// buffer is full.
    fn push(&mut self, p: Pending) -> Result<(), StoreError> {
        self.pending_index.insert(p.key.clone(), self.pending.len());
        self.pending.push(p);
        if self.pending.len() >= COMMIT_EVERY {
            self.commit()?;
        }
        Ok(())
    }

    /// Every stored company with its hits, in the order they were stored.
    pub fn companies(&self) -> impl Iterator<Item = Result<Company, StoreError>> + '_ {
        self.records
            .scan_prefix([LOG])
            .flat_map(move |kv| match self.current_records(kv) {
                Ok(v) => v.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            })
    }

    /// The records of one log entry that the index still points at.
    fn current_records(
        &self,
        kv: sled::Result<(sled::IVec, sled::IVec)>,
    ) -> Result<Vec<Company>, StoreError> {
        let (k, v) = kv?;
        let log = k
            .get(1..)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_be_bytes)
            .ok_or_else(|| StoreError::BadIndex(format!("log key {k:?}")))?;
        let records: Vec<Stored> = serde_json::from_slice(&v)?;
        let mut out = Vec::new();
        for (slot, s) in records.into_iter().enumerate() {
            let here = Loc {
                log,
                slot: slot as u32,
            };
            let at = index_key(&s.company.key);
            if self
                .indexed(&at, &s.company.key)?
                .is_some_and(|e| e.at == here)
            {
                out.push((s.company, s.hits));
            }
        }
        Ok(out)
    }

    /// Writes the buffered records in one atomic batch: appended to the log
    /// [`PER_LOG_KEY`] at a time, the index pointed at them, and log entries
    /// whose records are all replaced deleted.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        if !self.marked_stale {
            self.filter_tree.insert("state", "stale")?;
            self.marked_stale = true;
        }
        let mut batch = sled::Batch::default();
        for part in self.pending.chunks(PER_LOG_KEY) {
            let log = self.db.generate_id()?;
            let size = part.iter().map(|p| p.value.len() + 1).sum::<usize>() + 1;
            let mut array = Vec::with_capacity(size);
            array.push(b'[');
            for (slot, p) in part.iter().enumerate() {
                if slot > 0 {
                    array.push(b',');
                }
                array.extend_from_slice(&p.value);
                let e = IndexEntry {
                    at: Loc {
                        log,
                        slot: slot as u32,
                    },
                    first_seen: p.first_seen,
                    scans: p.scans,
                };
                batch.insert(&p.at, &e.encode()[..]);
            }
            array.push(b']');
            batch.insert(&seq_key(LOG, log), array);
            batch.insert(&seq_key(LIVE, log), &(part.len() as u32).to_be_bytes());
        }
        // records replaced, per log entry (always entries of earlier
        // commits: this batch's own are new)
        let mut replaced: std::collections::HashMap<u64, u32> = Default::default();
        for p in &self.pending {
            if let Some(at) = p.replaces {
                *replaced.entry(at.log).or_default() += 1;
            }
        }
        for (log, gone) in replaced {
            let live = self
                .records
                .get(seq_key(LIVE, log))?
                .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
                .unwrap_or(0);
            if live <= gone {
                batch.remove(&seq_key(LIVE, log));
                batch.remove(&seq_key(LOG, log));
            } else {
                batch.insert(&seq_key(LIVE, log), &(live - gone).to_be_bytes());
            }
        }
        // kept until written: a failed write loses nothing buffered
        self.records.apply_batch(batch)?;
        let log_entries = self.pending.len().div_ceil(PER_LOG_KEY);
        crate::store::reclaim(self.pending.len() + log_entries);
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
        b.insert(FILTER_KEY, self.stored.as_slice());
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
    fn save_all(
        store: &mut RegistryStore,
        records: &[(impl AsRef<str>, impl AsRef<str>)],
    ) -> Vec<Saved> {
        let scanner = RecordScanner::new(&RuleSet::bundled().unwrap(), AllowList::default());
        records
            .iter()
            .enumerate()
            .map(|(i, (name, uscc))| {
                let rec = record(i as u64 + 1, name.as_ref(), uscc.as_ref());
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
            s.filter_tree.insert(FILTER_KEY, other.as_slice()).unwrap();
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

    /// Log entries in the database.
    fn log_entries(s: &RegistryStore) -> usize {
        s.records.scan_prefix([LOG]).count()
    }

    /// `n` flagged companies with distinct valid codes.
    fn flagged_companies(n: usize) -> Vec<(String, String)> {
        let mut codes = Vec::new();
        let mut i = 0u64;
        while codes.len() < n {
            // 17 characters, then the check character that makes it valid
            let body = format!("91610902MA{:07}", i);
            i += 1;
            if let Some(c) = (0..31)
                .map(|d| {
                    format!(
                        "{body}{}",
                        "0123456789ABCDEFGHJKLMNPQRTUWXY".as_bytes()[d] as char
                    )
                })
                .find(|c| crate::registry::code::CreditCode::parse(c).is_ok())
            {
                codes.push((format!("安康第{}理财有限公司", codes.len()), c));
            }
        }
        codes
    }

    #[test]
    fn a_rescan_replaces_records_and_deletes_log_entries_no_longer_current() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(20);
        let mut s = open_again(dir.path());
        assert!(save_all(&mut s, &records).iter().all(|r| *r == Saved::New));
        s.flush().unwrap();
        assert_eq!(log_entries(&s), 20usize.div_ceil(PER_LOG_KEY));
        // the same company twice before a commit is one record
        assert_eq!(
            save_all(&mut s, &[records[0].clone(), records[0].clone()]),
            [Saved::Updated, Saved::Updated]
        );
        for _ in 0..3 {
            assert!(
                save_all(&mut s, &records)
                    .iter()
                    .all(|r| *r == Saved::Updated)
            );
            s.flush().unwrap();
        }
        // every earlier entry was replaced whole and deleted
        assert_eq!(log_entries(&s), 20usize.div_ceil(PER_LOG_KEY));
        drop(s);
        let c = stored(dir.path());
        assert_eq!(c.len(), 20);
        // the first company: 1, then 2 (two rows of one scan), then 3
        assert_eq!(c[0].scans, 6);
        assert!(c[1..].iter().all(|c| c.scans == 4));
        assert!(c.iter().all(|c| c.first_seen <= c.last_scanned));
    }

    #[test]
    fn a_partly_replaced_log_entry_keeps_its_current_records() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(PER_LOG_KEY);
        let mut s = open_again(dir.path());
        save_all(&mut s, &records);
        s.flush().unwrap();
        // one company found clean now: its new record goes to a new entry
        let (clean_name, code) = ("安康第0商贸有限公司", records[0].1.as_str());
        assert_eq!(save_all(&mut s, &[(clean_name, code)]), [Saved::Updated]);
        s.flush().unwrap();
        assert_eq!(log_entries(&s), 2);
        drop(s);
        let c = stored(dir.path());
        assert_eq!(c.len(), PER_LOG_KEY);
        let renamed = c.iter().find(|c| c.key == format!("uscc:{code}")).unwrap();
        assert_eq!(
            (renamed.name.as_str(), renamed.flagged),
            (clean_name, false)
        );
    }

    #[test]
    fn companies_stored_one_value_each_are_moved_into_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        {
            // the layout of 2026-11-29: tree `registry`, key → {company, hits}
            let mut s = open_again(dir.path());
            save_all(&mut s, &[FLAGGED]);
            s.flush().unwrap();
            let (company, hits) = s.companies().next().unwrap().unwrap();
            let old = s.db.open_tree(OLD_COMPANIES).unwrap();
            let value = serde_json::to_vec(&StoredRef {
                company: &StoredCompany {
                    first_seen: 1_600_000_000,
                    scans: 7,
                    ..company
                },
                hits: &hits,
            })
            .unwrap();
            old.insert(key.as_bytes(), value).unwrap();
            s.records.clear().unwrap();
            s.filter_tree.clear().unwrap();
            s.db.flush().unwrap();
        }
        let mut s = open_again(dir.path());
        assert!(
            !s.db
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == OLD_COMPANIES.as_bytes())
        );
        assert_eq!(save_all(&mut s, &[CLEAN]), [Saved::Updated]);
        s.flush().unwrap();
        drop(s);
        let c = stored(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].scans, c[0].first_seen), (8, 1_600_000_000));
    }

    #[test]
    fn a_migration_cut_short_and_run_again_moves_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        let old_value = {
            let mut s = open_again(dir.path());
            save_all(&mut s, &[FLAGGED]);
            s.flush().unwrap();
            let (company, hits) = s.companies().next().unwrap().unwrap();
            serde_json::to_vec(&StoredRef {
                company: &company,
                hits: &hits,
            })
            .unwrap()
        };
        for _ in 0..2 {
            // the old tree is still there beside the moved records: the
            // process died before dropping it
            let db = crate::store::open_again(|| sled::open(dir.path()));
            db.open_tree(OLD_COMPANIES)
                .unwrap()
                .insert(key.as_bytes(), old_value.as_slice())
                .unwrap();
            db.flush().unwrap();
            drop(db);
            let s = open_again(dir.path());
            assert_eq!(log_entries(&s), 1, "nothing moved again");
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scans, 1);
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
