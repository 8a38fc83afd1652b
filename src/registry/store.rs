//! Stored registry results: a company and its hits are one record,
//! always written together.
//!
//! | where | key | value |
//! |---|---|---|
//! | tree `registry_log` | `l` + sequence (u64 BE): the log | `F` + the entry file's length (u64 LE); or, written before entries were files (commit `8a3ea05`), the entry itself |
//! | | `n` + sequence | how many of that log entry's records are still current (u32 BE) |
//! | | `mtag` | the random tag of the index file |
//! | | `a` + former key | a company moved to another key: the entry holding the moved record (u64 BE) and the new key |
//! | | `kver` | the key derivation the stored keys follow ([`KEY_VERSION`], u32 BE) |
//! | directory `registry-log` | file `<sequence, 16 hex digits>.zst` | one commit's records (postcard), zstd with its checksum |
//! | file `registry.idx` | 64 bits of SHA-256 of the company key | where its latest record is, `scans`, `first_seen` |
//!
//! Records are appended to the log in scan order, one entry per commit of
//! [`COMMIT_EVERY`] companies, and never rewritten in place. A rescan
//! appends the new record and points the index at it; a log entry whose
//! records are all superseded is deleted.
//!
//! Why entries are files and not sled values: sled 0.34 kept every value
//! it was given in memory for the life of the process (a tree of few
//! leaves is never evicted, see below), so a scan storing 262,000
//! companies peaked at 109 MB, growing with the companies stored, and
//! each insert copied the leaf holding the earlier entries. An entry file
//! is written and synced before the sled batch that refers to it, and the
//! file of an entry removed from sled is deleted only once that removal
//! is flushed; files sled does not refer to (left by a crash) are deleted
//! when the store opens.
//!
//! Why so few sled writes: sled 0.34 costs tens of microseconds per write
//! (a copy of the leaf, a log record, the page cache's bookkeeping), and
//! keeps a tree of fewer than ~16,000 leaves in memory whole whatever its
//! `cache_capacity`. One value per company, or an index entry per company
//! in sled, made storing the flagged companies of a registry cost more
//! than scanning it (≈35 µs of CPU per company) and made memory follow the
//! companies stored. The log is therefore a few large, compressed files
//! with a few small sled values each, and the index a [`FpTable`] file
//! beside sled's: derived data, rebuilt
//! from the log when it is not marked clean (after a crash) or belongs to
//! another database.
//!
//! A company is keyed by its credit code (`uscc:91610902MA70B5XK71`), or by
//! its name when the code is missing or invalid (`name:安康鑫源理财有限公司`,
//! white space removed, full-width ASCII made half-width), so scanning the
//! same registry again updates the entry instead of adding a second one.
//! An old registration number (15 digits) keys it as `regno:…`.
//!
//! When the key a company derives changes — databases made before
//! registration numbers were recognized keyed those companies by name; a
//! code invalid to an earlier check may be valid now; a later export may
//! carry the code an earlier one lacked — the company is **moved**: its
//! record is written under the new key with its `first_seen` and `scans`,
//! the former key leaves the index, and an alias (`a` + former key) says
//! where it went, so that [`RegistryStore::company`] still answers for the
//! former key (a finding made under it is rechecked against the moved
//! company) and a rebuilt index does not bring the former record back.
//! Stored keys are moved once when the store opens ([`KEY_VERSION`]), and a
//! flagged record met under a new key whose name is stored under `name:`
//! is moved when it is saved.
//!
//! Only companies with hits are stored, plus companies already stored (a
//! rescan that finds a company clean records that, with no hits), so the
//! database grows with the flagged companies, not with the registry. A
//! Bloom filter of the index, built when the store opens, answers "was this
//! company stored?" for every record without touching the file.
//!
//! This module owns this tree, directory and file only; the crawler's trees (`store`)
//! are opened from the same directory by their own module.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::allow::normalize_name;
use super::{CodeStatus, Record, RecordScan};
use crate::store::fingerprint;
use crate::store::table::FpTable;

pub const LOG_TREE: &str = "registry_log";
/// The directory of log entry files, in the database directory.
pub const LOG_DIR: &str = "registry-log";
/// First byte of a log value that refers to an entry file (an entry held
/// in sled starts with zstd's magic number, 0x28).
const IN_FILE: u8 = b'F';
const LOG: u8 = b'l';
const LIVE: u8 = b'n';
const TAG_KEY: &[u8] = b"mtag";
/// Prefix of an alias: a company's former key, moved to another.
const ALIAS: u8 = b'a';
const KEY_VERSION_KEY: &[u8] = b"kver";
/// The key derivation stored keys follow: 1, keys of databases made
/// before this mark (no `regno:`: a registration number was an invalid
/// code, keyed by name); 2, [`company_key`] as it is.
pub const KEY_VERSION: u32 = 2;
/// Aliases followed by [`RegistryStore::company`] (a company moved twice:
/// name, registration number, credit code).
const MAX_ALIAS_HOPS: usize = 4;
/// The index file, in the database directory.
pub const INDEX_FILE: &str = "registry.idx";
const INDEX_MAGIC: &[u8; 16] = b"finscan regidx1\0";
/// The layout before this one: log and index in one tree, records as plain JSON.
const OLD_RECORDS: &str = "registry_records";
/// Its Bloom filter (this layout builds the filter at open).
const OLD_FILTER: &str = "registry_filter";
/// The layout before that: one JSON value per company.
const OLD_COMPANIES: &str = "registry";
/// Records per commit, and so per log entry (a company buffered twice
/// before a commit has two, the earlier not live): a few hundred KB,
/// compressed to about a hundred.
pub const COMMIT_EVERY: usize = 1024;
/// zstd level of log entries: the fastest; registry text compresses ~5× at it.
const ZSTD_LEVEL: i32 = 1;
/// The first byte of a log entry (after decompression): records in
/// postcard, one after the other.
const LOG_FORMAT: u8 = 1;
/// The index is held in memory up to this size (262,144 slots: up to
/// ~157,000 companies, a city's flagged registrations), saving two system
/// calls per company stored. A larger one is written in place, with only
/// its fingerprints in memory while they fit in this size (1,048,576
/// slots, ~629,000 companies): a new company costs one write, no read.
/// Past that it is read and written in place, and memory stays flat.
/// Holding 8 MB rather than 4 saved 0.38 s of CPU on a scan storing
/// 125,600 companies; it took the peak past 100 MB while sled held the log
/// in memory, and keeps it at 89 MB now that the log is in files (a scan
/// of 3,000,000 records storing 262,519 companies, growing the table past
/// this size on the way).
const INDEX_MEM_BYTES: u64 = 8 << 20;
/// Page cache of the database while scanning.
pub const CACHE_BYTES: u64 = 8 * 1024 * 1024;
/// Keys the Bloom filter is sized for at least (1.2 MB at 1 % false
/// positives); a database with more than half as many gets a filter for
/// twice its keys.
const FILTER_KEYS: usize = 1 << 20;
const FILTER_FP: f64 = 0.01;

fn seq_key(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [prefix; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn seq_of(key: &[u8]) -> Option<u64> {
    key.get(1..)?.try_into().ok().map(u64::from_be_bytes)
}

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
    #[error("database: {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("database: bad log key {0:?}")]
    BadKey(Vec<u8>),
    #[error("database: log entry of an unknown format")]
    BadEntry,
    #[error("database: stored record does not decode: {0}")]
    Record(#[from] postcard::Error),
}

fn io_error(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
    let what = what.into();
    move |source| StoreError::Io { what, source }
}

/// How a stored company's `allowlisted` starts when the default list of
/// licensed institutions, not the user's allow-list, exempts it (ids of
/// `[[licensed]]` entries start so).
pub const LICENSED_PREFIX: &str = "licensed.";

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
    /// Why it is exempt: the allow-list's reason, or, starting with
    /// [`LICENSED_PREFIX`], the licensed institution its name marks.
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

impl StoredCompany {
    /// Its division was read from an invalid credit code (see
    /// [`super::RecordScan::division_tentative`]): a company with a
    /// division but neither a valid code nor a registration number.
    pub fn division_tentative(&self) -> bool {
        self.division.is_some() && !self.uscc_valid && !self.key.starts_with("regno:")
    }

    /// Exempt by the default list of licensed institutions.
    pub fn licensed(&self) -> bool {
        self.allowlisted
            .as_deref()
            .is_some_and(|a| a.starts_with(LICENSED_PREFIX))
    }
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

#[cfg(test)]
#[derive(Serialize)]
struct StoredRef<'a> {
    company: &'a StoredCompany,
    hits: &'a [StoredHit],
}

/// [`StoredCompany`] borrowed (from a record and its scan, or a company of
/// an earlier layout): the same fields in the same order, so that its
/// binary form reads back as a `StoredCompany` (a test checks this).
#[derive(Serialize)]
struct CompanyRef<'a> {
    key: &'a str,
    name: &'a str,
    uscc: Option<&'a str>,
    uscc_valid: bool,
    division: Option<&'a str>,
    county: Option<String>,
    rank: Option<&'a str>,
    flagged: bool,
    allowlisted: Option<&'a str>,
    scope: &'a str,
    address: Option<&'a str>,
    legal_rep: Option<&'a str>,
    reg_date: Option<&'a str>,
    status: Option<&'a str>,
    source: &'a str,
    line: u64,
    first_seen: u64,
    last_scanned: u64,
    scans: u64,
}

/// A record's hit as stored and as `finscan registry scan --json` prints
/// it: [`StoredHit`] borrowed from a scanner hit. Offsets are bytes of the
/// field's text.
#[derive(Serialize)]
pub struct HitRef<'a> {
    field: &'a str,
    rule: &'a str,
    category: &'a str,
    severity: &'a str,
    term: &'a str,
    matched: &'a str,
    start: usize,
    end: usize,
}

impl<'a> CompanyRef<'a> {
    fn of(c: &'a StoredCompany, key: &'a str) -> CompanyRef<'a> {
        CompanyRef {
            key,
            name: &c.name,
            uscc: c.uscc.as_deref(),
            uscc_valid: c.uscc_valid,
            division: c.division.as_deref(),
            county: c.county.clone(),
            rank: c.rank.as_deref(),
            flagged: c.flagged,
            allowlisted: c.allowlisted.as_deref(),
            scope: &c.scope,
            address: c.address.as_deref(),
            legal_rep: c.legal_rep.as_deref(),
            reg_date: c.reg_date.as_deref(),
            status: c.status.as_deref(),
            source: &c.source,
            line: c.line,
            first_seen: c.first_seen,
            last_scanned: c.last_scanned,
            scans: c.scans,
        }
    }
}

impl<'a> From<&'a crate::Hit> for HitRef<'a> {
    fn from(h: &'a crate::Hit) -> HitRef<'a> {
        HitRef {
            field: h.field.as_str(),
            rule: &h.rule.0,
            category: h.category.as_str(),
            severity: h.severity.as_str(),
            term: &h.term,
            matched: &h.matched,
            start: h.raw.start,
            end: h.raw.end,
        }
    }
}

impl<'a> HitRef<'a> {
    fn of(h: &'a StoredHit) -> HitRef<'a> {
        HitRef {
            field: &h.field,
            rule: &h.rule,
            category: &h.category,
            severity: &h.severity,
            term: &h.term,
            matched: &h.matched,
            start: h.start,
            end: h.end,
        }
    }
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
    scans: u32,
    first_seen: u64,
}

impl IndexEntry {
    fn encode(&self) -> [u8; 24] {
        let mut v = [0u8; 24];
        v[..8].copy_from_slice(&self.at.log.to_le_bytes());
        v[8..12].copy_from_slice(&self.at.slot.to_le_bytes());
        v[12..16].copy_from_slice(&self.scans.to_le_bytes());
        v[16..24].copy_from_slice(&self.first_seen.to_le_bytes());
        v
    }

    fn decode(v: &[u8; 24]) -> IndexEntry {
        let u64_at = |i: usize| u64::from_le_bytes(v[i..i + 8].try_into().unwrap_or_default());
        let u32_at = |i: usize| u32::from_le_bytes(v[i..i + 4].try_into().unwrap_or_default());
        IndexEntry {
            at: Loc {
                log: u64_at(0),
                slot: u32_at(8),
            },
            scans: u32_at(12),
            first_seen: u64_at(16),
        }
    }
}

/// A record waiting for the next commit.
struct Pending {
    /// Its key's fingerprint: its key in the index.
    fp: u64,
    /// Still the company's latest record: false once a later record of the
    /// same company was buffered (this one stays in the entry, but the
    /// index never points at it).
    live: bool,
    first_seen: u64,
    scans: u32,
    /// The stored record this one replaces.
    replaces: Option<Loc>,
    /// The record of the same company under its former key, which this
    /// one replaces too (see the module doc on moving).
    moved_from: Option<Moved>,
}

/// A company's record under its former key, being moved.
#[derive(Debug, Clone)]
struct Moved {
    /// The former key and its fingerprint.
    key: String,
    fp: u64,
    /// Where its record is.
    at: Loc,
    /// The key it moves to.
    to: String,
}

fn alias_key(former: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + former.len());
    k.push(ALIAS);
    k.extend_from_slice(former.as_bytes());
    k
}

/// An alias's value: the log entry holding the moved record, and the new key.
fn alias_value(log: u64, to: &str) -> Vec<u8> {
    let mut v = log.to_be_bytes().to_vec();
    v.extend_from_slice(to.as_bytes());
    v
}

fn decode_alias(v: &[u8]) -> Option<(u64, String)> {
    let (log, to) = v.split_at_checked(8)?;
    Some((
        u64::from_be_bytes(log.try_into().ok()?),
        String::from_utf8(to.to_vec()).ok()?,
    ))
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

/// The key of a record: its valid credit code, else its name.
pub fn company_key(rec: &Record, code: &CodeStatus) -> String {
    match code {
        CodeStatus::Valid(c) => format!("uscc:{c}"),
        CodeStatus::Registration(n) => format!("regno:{n}"),
        _ => name_key(&rec.name),
    }
}

/// The key of a company known by its name alone (`name:` and the name as
/// compared): what a company with a code was keyed by before its code was
/// recognized (see the module doc on moving).
pub fn name_key(name: &str) -> String {
    format!("name:{}", normalize_name(name))
}

/// The key a stored company derives now from its stored code (`uscc`:
/// the code as read, or as normalized when valid): `None` when it has no
/// valid credit code or registration number.
fn derived_key(c: &StoredCompany) -> Option<(String, CodeStatus)> {
    let code = CodeStatus::of(c.uscc.as_deref());
    let key = match &code {
        CodeStatus::Valid(v) => format!("uscc:{v}"),
        CodeStatus::Registration(n) => format!("regno:{n}"),
        _ => return None,
    };
    Some((key, code))
}

/// The fingerprint of [`company_key`] ([`crate::store::fingerprint`] of
/// it), without building the key for a valid code: asked for every record
/// of a registry, most of which are not stored.
pub fn key_fingerprint(rec: &Record, code: &CodeStatus) -> u64 {
    use sha2::{Digest, Sha256};
    match code.valid() {
        Some(c) => {
            let d = Sha256::new()
                .chain_update(b"uscc:")
                .chain_update(c.as_str().as_bytes())
                .finalize();
            u64::from_le_bytes(d[..8].try_into().unwrap_or_default()).max(1)
        }
        None => fingerprint(&company_key(rec, code)),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The records of a log entry (its zstd bytes).
fn decode_entry(v: &[u8]) -> Result<Vec<Stored>, StoreError> {
    let raw = zstd::decode_all(v).map_err(io_error("log entry is not zstd"))?;
    match raw.split_first() {
        Some((&LOG_FORMAT, mut rest)) => {
            let mut out = Vec::new();
            while !rest.is_empty() {
                let ((company, hits), tail) = postcard::take_from_bytes(rest)?;
                out.push(Stored { company, hits });
                rest = tail;
            }
            Ok(out)
        }
        // the first entries of this layout were a JSON array
        Some((b'[', _)) => Ok(serde_json::from_slice(&raw)?),
        _ => Err(StoreError::BadEntry),
    }
}

/// Appends a record (company and hits) to `out` in the log's binary form
/// (postcard: the fields in order, strings length-prefixed). JSON spent
/// more time escaping the scope text than the rest of storing took. On
/// an error `out` is as it was.
fn encode_record(
    out: &mut Vec<u8>,
    company: &CompanyRef<'_>,
    hits: &[HitRef<'_>],
) -> Result<(), StoreError> {
    /// Appends to a borrowed buffer (postcard takes its writer by value).
    struct Append<'a>(&'a mut Vec<u8>);
    impl Extend<u8> for Append<'_> {
        fn extend<I: IntoIterator<Item = u8>>(&mut self, bytes: I) {
            self.0.extend(bytes);
        }
    }
    let start = out.len();
    let written = postcard::to_extend(&(company, hits), Append(out)).map(drop);
    if written.is_err() {
        out.truncate(start);
    }
    Ok(written?)
}

/// The sequence of the latest log entry in `db` (0: none), read without
/// opening the store: whether [`RegistryStore::companies_since`] has
/// anything new.
pub fn last_log_seq(db: &sled::Db) -> Result<u64, StoreError> {
    let log = db.open_tree(LOG_TREE)?;
    Ok(log
        .scan_prefix([LOG])
        .next_back()
        .transpose()?
        .and_then(|(k, _)| seq_of(&k))
        .unwrap_or(0))
}

pub struct RegistryStore {
    db: sled::Db,
    log: sled::Tree,
    index: FpTable<24>,
    /// Every key in the index is in it (false positives only cost a read).
    stored: fastbloom::BloomFilter,
    /// Records not yet committed (their bytes are in `entry`), written
    /// together every `commit_every` records and by [`RegistryStore::flush`].
    pending: Vec<Pending>,
    /// The latest of `pending` by fingerprint, so that a company seen twice
    /// before a commit supersedes its buffered record instead of counting
    /// as a second company.
    pending_index: std::collections::HashMap<u64, usize>,
    commit_every: usize,
    /// Kept from commit to commit: a new context per entry costs its
    /// tables' allocation and clearing each time.
    zstd: zstd::bulk::Compressor<'static>,
    /// The uncompressed log entry being built.
    entry: Vec<u8>,
    /// The directory of entry files.
    log_dir: PathBuf,
    /// Entries removed from sled whose files go once that is flushed.
    doomed: Vec<u64>,
    /// A commit wrote its log entry but failed to update the index: the
    /// index must not be marked clean.
    index_behind: bool,
    /// The index was rebuilt from the log when the store opened.
    #[cfg(test)]
    rebuilt: bool,
}

/// A Bloom filter for twice `keys` keys (at least [`FILTER_KEYS`]). It is
/// given the fingerprints themselves as hashes (they are SHA-256 bits).
fn new_filter(keys: u64) -> fastbloom::BloomFilter {
    let capacity = (FILTER_KEYS as u64).max(keys.saturating_mul(2));
    fastbloom::BloomFilter::with_false_pos(FILTER_FP).expected_items(capacity as usize)
}

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
        Self::from_db(db, dir)
    }

    /// Uses a database another module already opened in `dir` (sled allows
    /// one `Db` per directory and process: the crawler passes its own).
    pub fn from_db(db: sled::Db, dir: &Path) -> Result<Self, StoreError> {
        let log = db.open_tree(LOG_TREE)?;
        let log_dir = dir.join(LOG_DIR);
        if !log_dir.is_dir() {
            // its own entry on disk before any file in it is referred to
            std::fs::create_dir_all(&log_dir)
                .and_then(|()| sync_dir(dir))
                .map_err(io_error(log_dir.display().to_string()))?;
        }
        let tag = crate::store::table_tag(&db, &log, TAG_KEY)?;
        let path = dir.join(INDEX_FILE);
        let opened =
            FpTable::open(&path, INDEX_MAGIC, tag).map_err(io_error(path.display().to_string()))?;
        let rebuild = opened.is_none();
        let mut index = match opened {
            Some(t) => t,
            None => FpTable::create(&path, INDEX_MAGIC, tag, Self::live_records(&log)?)
                .map_err(io_error(path.display().to_string()))?,
        };
        // what sled refers to on disk, not only in memory: a store dropped
        // unflushed on this `Db` may have removed entries sled would bring
        // back after a crash
        db.flush()?;
        delete_orphans(&log, &log_dir)?;
        let mut zstd = zstd::bulk::Compressor::new(ZSTD_LEVEL).map_err(io_error("zstd"))?;
        // an entry file damaged on disk fails to decode instead of reading wrong
        zstd.set_parameter(zstd::zstd_safe::CParameter::ChecksumFlag(true))
            .map_err(io_error("zstd"))?;
        index
            .hold_in_memory(INDEX_MEM_BYTES)
            .map_err(io_error(path.display().to_string()))?;
        let mut s = RegistryStore {
            db,
            log,
            index,
            stored: new_filter(0),
            pending: Vec::new(),
            pending_index: std::collections::HashMap::new(),
            zstd,
            entry: vec![LOG_FORMAT],
            log_dir,
            doomed: Vec::new(),
            index_behind: false,
            commit_every: COMMIT_EVERY,
            #[cfg(test)]
            rebuilt: rebuild,
        };
        if rebuild {
            s.rebuild_index()?;
            tracing::debug!("registry index rebuilt from the log");
        }
        s.stored = new_filter(s.index.len());
        let stored = &mut s.stored;
        s.index
            .for_each(|fp, _| {
                stored.insert_hash(fp);
            })
            .map_err(io_error(INDEX_FILE))?;
        s.migrate()?;
        s.migrate_keys()?;
        Ok(s)
    }

    /// Records still current, by the log's counts (sizes a rebuilt index).
    fn live_records(log: &sled::Tree) -> Result<u64, StoreError> {
        let mut n = 0u64;
        for v in log.scan_prefix([LIVE]).values() {
            n += v?.as_ref().try_into().map_or(0, u32::from_be_bytes) as u64;
        }
        Ok(n)
    }

    /// Points the index at every current record: the log in order, later
    /// records of a company replacing earlier ones. Then marks it clean.
    fn rebuild_index(&mut self) -> Result<(), StoreError> {
        for kv in self.log.scan_prefix([LOG]) {
            let (k, v) = kv?;
            let log = seq_of(&k).ok_or_else(|| StoreError::BadKey(k.to_vec()))?;
            for (slot, r) in self.read_entry(log, &v)?.into_iter().enumerate() {
                let e = IndexEntry {
                    at: Loc {
                        log,
                        slot: slot as u32,
                    },
                    scans: r.company.scans.min(u32::MAX as u64) as u32,
                    first_seen: r.company.first_seen,
                };
                self.index
                    .set(fingerprint(&r.company.key), &e.encode())
                    .map_err(io_error(INDEX_FILE))?;
            }
        }
        // a moved company's former record stays in its entry while that
        // entry holds current records: the alias says it is gone (unless a
        // record under the former key was stored after the move)
        for kv in self.log.scan_prefix([ALIAS]) {
            let (k, v) = kv?;
            let Some((moved_at, _)) = decode_alias(&v) else {
                continue;
            };
            let fp = fingerprint(&String::from_utf8_lossy(&k[1..]));
            if self.indexed(fp)?.is_some_and(|e| e.at.log < moved_at) {
                self.index.remove(fp).map_err(io_error(INDEX_FILE))?;
            }
        }
        self.db.flush()?;
        self.index.mark_clean().map_err(io_error(INDEX_FILE))
    }

    /// Stores the companies of earlier layouts in this one (keeping
    /// `first_seen` and `scans`), then drops their trees:
    /// `registry_records` (log and index in one tree), `registry` (one
    /// JSON value per company) and, before it, `companies` and
    /// `company_hits` (company and hits apart). Read one company at a time.
    fn migrate(&mut self) -> Result<(), StoreError> {
        const OLDEST: &str = "companies";
        const OLDEST_HITS: &str = "company_hits";
        let names = self.db.tree_names();
        let has = |name: &str| names.iter().any(|n| n.as_ref() == name.as_bytes());
        let mut trees = Vec::new();
        if has(OLD_RECORDS) {
            // its log in order: a later record of a company is newer
            for kv in self.db.open_tree(OLD_RECORDS)?.scan_prefix([LOG]) {
                let (_, v) = kv?;
                let records: Vec<Stored> = serde_json::from_slice(&v)?;
                for r in records {
                    self.migrate_one(&r.company.key.clone(), &r.company, &r.hits, true)?;
                }
            }
            trees.push(OLD_RECORDS);
        }
        if has(OLD_COMPANIES) {
            for kv in self.db.open_tree(OLD_COMPANIES)?.iter() {
                let (k, v) = kv?;
                let s: Stored = serde_json::from_slice(&v)?;
                self.migrate_one(&String::from_utf8_lossy(&k), &s.company, &s.hits, false)?;
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
                self.migrate_one(&String::from_utf8_lossy(&k), &company, &h, false)?;
            }
            // companies first: a crash between the two drops must not leave
            // companies without their hits to be moved again
            trees.extend([OLDEST, OLDEST_HITS]);
        } else if has(OLDEST_HITS) {
            trees.push(OLDEST_HITS);
        }
        if has(OLD_FILTER) {
            trees.push(OLD_FILTER);
        }
        if trees.is_empty() {
            return Ok(());
        }
        // the moved records are on disk before the old trees go
        self.flush()?;
        for t in trees {
            self.db.drop_tree(t)?;
        }
        Ok(())
    }

    /// Buffers one company of an earlier layout. A key met again keeps the
    /// record moved first (`registry` is read before the older trees; a
    /// migration cut short before dropping the old trees moves nothing
    /// twice), unless `newer` says this record is the later one.
    fn migrate_one(
        &mut self,
        key: &str,
        company: &StoredCompany,
        hits: &[StoredHit],
        newer: bool,
    ) -> Result<(), StoreError> {
        let fp = fingerprint(key);
        let pending_at = self.pending_index.get(&fp).copied();
        let stored = match pending_at {
            Some(_) => None,
            None if self.stored.contains_hash(fp) => self.indexed(fp)?,
            None => None,
        };
        if !newer && (pending_at.is_some() || stored.is_some()) {
            return Ok(());
        }
        let hits: Vec<HitRef> = hits.iter().map(HitRef::of).collect();
        encode_record(&mut self.entry, &CompanyRef::of(company, key), &hits)?;
        let p = Pending {
            fp,
            live: true,
            first_seen: company.first_seen,
            scans: company.scans.min(u32::MAX as u64) as u32,
            // a record replacing a buffered one replaces what that one did
            replaces: match pending_at {
                Some(i) => self.pending[i].replaces,
                None => stored.map(|e| e.at),
            },
            moved_from: None,
        };
        self.buffer(p, pending_at, stored.is_none())
    }

    /// The index entry of fingerprint `fp`, if any.
    fn indexed(&self, fp: u64) -> Result<Option<IndexEntry>, StoreError> {
        Ok(self
            .index
            .get(fp)
            .map_err(io_error(INDEX_FILE))?
            .as_ref()
            .map(IndexEntry::decode))
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
        self.save_fingerprinted(source, rec, scan, key_fingerprint(rec, &scan.code))
    }

    /// [`RegistryStore::save`] given the record's [`key_fingerprint`]
    /// (computed by the caller, e.g. on another thread).
    pub fn save_fingerprinted(
        &mut self,
        source: &str,
        rec: &Record,
        scan: &RecordScan,
        fp: u64,
    ) -> Result<Saved, StoreError> {
        self.save_keyed(source, rec, scan, fp, None)
    }

    /// [`RegistryStore::save_fingerprinted`] under `key` (its fingerprint
    /// `fp`) instead of the record's [`company_key`] when given.
    fn save_keyed(
        &mut self,
        source: &str,
        rec: &Record,
        scan: &RecordScan,
        fp: u64,
        key: Option<String>,
    ) -> Result<Saved, StoreError> {
        if scan.hits.is_empty() && self.index.is_empty() && self.pending.is_empty() {
            // nothing stored that this could update
            return Ok(Saved::Skipped);
        }
        let maybe_stored = self.stored.contains_hash(fp);
        if scan.hits.is_empty() && !maybe_stored {
            return Ok(Saved::Skipped);
        }
        let pending_at = self.pending_index.get(&fp).copied();
        // (first_seen, scans, the stored record this replaces)
        let previous = match pending_at {
            Some(i) => {
                let p = &self.pending[i];
                Some((p.first_seen, p.scans, p.replaces))
            }
            None if maybe_stored => self
                .indexed(fp)?
                .map(|e| (e.first_seen, e.scans, Some(e.at))),
            None => None,
        };
        if previous.is_none() && scan.hits.is_empty() {
            return Ok(Saved::Skipped);
        }
        let given = key.is_some();
        let key = key.unwrap_or_else(|| company_key(rec, &scan.code));
        // a flagged company new under its code but stored under its name
        // (an earlier export without the code): moved, not doubled. Asked
        // only of flagged records new to the store, a few of a registry.
        let moved_from = match (&previous, &scan.code) {
            (None, CodeStatus::Valid(_) | CodeStatus::Registration(_)) if !given => {
                self.stored_by_name(&rec.name, &key)?
            }
            _ => None,
        };
        let previous = previous.or(moved_from
            .as_ref()
            .map(|(_, e)| (e.first_seen, e.scans, None)));
        let moved_from = moved_from.map(|(m, _)| m);
        let t = now();
        let first_seen = previous.map_or(t, |p| p.0);
        let scans = previous.map_or(0, |p| p.1).saturating_add(1);
        // the exemption: the allow-list's reason, or the licensed list's
        // entry (`licensed.bank: 银行业金融机构…`, see `LICENSED_PREFIX`)
        let exemption: Option<std::borrow::Cow<str>> = match (&scan.allowlisted, &scan.licensed) {
            (Some(r), _) => Some(r.as_str().into()),
            (None, Some(k)) => Some(format!("{}: {}", k.id, k.institution).into()),
            (None, None) => None,
        };
        // serialized from the record and scan as they are: the binary form
        // of a `Stored` (company and hits), without copying them into one
        let company = CompanyRef {
            key: &key,
            name: &rec.name,
            uscc: match &scan.code {
                CodeStatus::Missing => None,
                CodeStatus::Valid(c) => Some(c.as_str()),
                CodeStatus::Registration(n) => Some(n.as_str()),
                CodeStatus::Invalid(s, _) => Some(s),
            },
            uscc_valid: scan.code.valid().is_some(),
            division: scan.division.as_ref().map(|d| d.code.as_str()),
            county: scan.division.as_ref().map(|d| d.label()),
            rank: scan.rank.map(|r| r.as_str()),
            flagged: scan.flagged(),
            allowlisted: exemption.as_deref(),
            scope: &rec.scope,
            address: rec.address.as_deref(),
            legal_rep: rec.legal_rep.as_deref(),
            reg_date: rec.reg_date.as_deref(),
            status: rec.status.as_deref(),
            source,
            line: rec.line,
            first_seen,
            last_scanned: t,
            scans: scans as u64,
        };
        let hits: Vec<HitRef> = scan.hits.iter().map(HitRef::from).collect();
        // straight into the entry being built: no buffer of its own
        encode_record(&mut self.entry, &company, &hits)?;
        let new = previous.is_none() || moved_from.is_some();
        let p = Pending {
            fp,
            live: true,
            first_seen,
            scans,
            replaces: previous.and_then(|p| p.2),
            moved_from,
        };
        self.buffer(p, pending_at, new)?;
        Ok(if previous.is_some() {
            Saved::Updated
        } else {
            Saved::New
        })
    }

    /// Buffers a record, already appended to the entry: it supersedes the
    /// buffered one of the same company (`pending_at`), or is added to the
    /// filter too when `new`; commits when the buffer is full.
    fn buffer(
        &mut self,
        mut p: Pending,
        pending_at: Option<usize>,
        new: bool,
    ) -> Result<(), StoreError> {
        if let Some(i) = pending_at {
            self.pending[i].live = false;
            // it moves the company from where the superseded one did
            if p.moved_from.is_none() {
                p.moved_from = self.pending[i].moved_from.take();
            }
        }
        if new {
            self.stored.insert_hash(p.fp);
        }
        self.pending_index.insert(p.fp, self.pending.len());
        self.pending.push(p);
        if self.pending.len() >= self.commit_every {
            self.commit()?;
        }
        Ok(())
    }

    /// Every stored company with its hits, in the order they were stored.
    pub fn companies(&self) -> impl Iterator<Item = Result<Company, StoreError>> + '_ {
        self.log
            .scan_prefix([LOG])
            .flat_map(move |kv| match self.current_records(kv) {
                Ok(v) => v.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            })
    }

    /// Companies stored by log entries after entry `after` (0: all), each
    /// with its entry's sequence: a reader that keeps the greatest
    /// sequence it saw reads only what was stored since (the review layer
    /// does, to turn new flagged companies into findings).
    pub fn companies_since(
        &self,
        after: u64,
    ) -> impl Iterator<Item = Result<(u64, Company), StoreError>> + '_ {
        self.log
            .range(seq_key(LOG, after.saturating_add(1))..=seq_key(LOG, u64::MAX))
            .flat_map(move |kv| {
                let seq = kv.as_ref().ok().and_then(|(k, _)| seq_of(k)).unwrap_or(0);
                match self.current_records(kv) {
                    Ok(v) => v.into_iter().map(|c| Ok((seq, c))).collect(),
                    Err(e) => vec![Err(e)],
                }
            })
    }

    /// The latest committed record of the company keyed `key` (see
    /// [`company_key`]), with its hits: what the review layer compares a
    /// notified finding with after a rescan.
    ///
    /// A company moved to another key since (see the module doc) is found
    /// by its former key too: the record returned then carries the new key.
    pub fn company(&self, key: &str) -> Result<Option<Company>, StoreError> {
        let mut key = std::borrow::Cow::Borrowed(key);
        for _ in 0..=MAX_ALIAS_HOPS {
            if let Some(c) = self.company_here(&key)? {
                return Ok(Some(c));
            }
            match self
                .log
                .get(alias_key(&key))?
                .as_deref()
                .and_then(decode_alias)
            {
                Some((_, to)) => key = to.into(),
                None => return Ok(None),
            }
        }
        Ok(None)
    }

    /// The latest committed record stored under `key` itself.
    fn company_here(&self, key: &str) -> Result<Option<Company>, StoreError> {
        let fp = fingerprint(key);
        if !self.stored.contains_hash(fp) {
            return Ok(None);
        }
        let Some(e) = self.indexed(fp)? else {
            return Ok(None);
        };
        let Some(v) = self.log.get(seq_key(LOG, e.at.log))? else {
            return Ok(None);
        };
        Ok(self
            .read_entry(e.at.log, &v)?
            .into_iter()
            .nth(e.at.slot as usize)
            .filter(|s| s.company.key == key)
            .map(|s| (s.company, s.hits)))
    }

    /// The company stored (committed) under the name key of `name`, to be
    /// moved to `to`: its move and its index entry.
    fn stored_by_name(
        &self,
        name: &str,
        to: &str,
    ) -> Result<Option<(Moved, IndexEntry)>, StoreError> {
        let key = name_key(name);
        let fp = fingerprint(&key);
        if !self.stored.contains_hash(fp) || self.pending_index.contains_key(&fp) {
            return Ok(None);
        }
        Ok(self.indexed(fp)?.map(|e| {
            (
                Moved {
                    key,
                    fp,
                    at: e.at,
                    to: to.to_owned(),
                },
                e,
            )
        }))
    }

    /// Moves every company stored under `name:` whose stored code now
    /// derives a credit-code or registration-number key (see the module
    /// doc), once per database: the `kver` mark is written when all are
    /// moved, so a run cut short moves the rest at the next open. A company
    /// also stored under its new key already (a rescan by a version that
    /// recognized the code stored it twice) keeps that newer record, with
    /// the earlier `first_seen` and both records' scans.
    fn migrate_keys(&mut self) -> Result<usize, StoreError> {
        let version = self
            .log
            .get(KEY_VERSION_KEY)?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(1);
        if version >= KEY_VERSION {
            return Ok(0);
        }
        let mut moves = Vec::new();
        if !self.index.is_empty() {
            for c in self.companies() {
                let (company, hits) = c?;
                if !company.key.starts_with("name:") {
                    continue;
                }
                if let Some((to, code)) = derived_key(&company) {
                    moves.push((company, hits, to, code));
                }
            }
        }
        let moved = moves.len();
        for (mut company, mut hits, to, code) in moves {
            let fp = fingerprint(&to);
            let former = company.key.clone();
            let Some(from) = self.indexed(fingerprint(&former))? else {
                continue;
            };
            if self.pending_index.contains_key(&fp) {
                // two names with one code: the first moves, the other
                // keeps its name key
                continue;
            }
            let stored = self.indexed(fp)?;
            let mut replaces = None;
            if let Some(e) = stored
                && let Some((newer, newer_hits)) = self.company_here(&to)?
            {
                company = StoredCompany {
                    first_seen: company.first_seen.min(newer.first_seen),
                    scans: company.scans.saturating_add(newer.scans),
                    ..newer
                };
                hits = newer_hits;
                replaces = Some(e.at);
            } else {
                company.uscc = match &code {
                    CodeStatus::Valid(c) => Some(c.as_str().to_owned()),
                    CodeStatus::Registration(n) => Some(n.as_str().to_owned()),
                    _ => company.uscc,
                };
                company.uscc_valid = code.valid().is_some();
            }
            let refs: Vec<HitRef> = hits.iter().map(HitRef::of).collect();
            encode_record(&mut self.entry, &CompanyRef::of(&company, &to), &refs)?;
            let p = Pending {
                fp,
                live: true,
                first_seen: company.first_seen,
                scans: company.scans.min(u32::MAX as u64) as u32,
                replaces,
                moved_from: Some(Moved {
                    fp: fingerprint(&former),
                    key: former,
                    at: from.at,
                    to,
                }),
            };
            self.buffer(p, None, stored.is_none())?;
        }
        self.flush()?;
        self.log
            .insert(KEY_VERSION_KEY, &KEY_VERSION.to_be_bytes())?;
        self.db.flush()?;
        if moved > 0 {
            tracing::info!(
                "registry: {moved} company record(s) moved to the key their code gives now"
            );
        }
        Ok(moved)
    }

    /// Saves a scanned record keyed by its name whatever its code, as
    /// finscan did before registration numbers were recognized (a 15-digit
    /// number was then an invalid code). For tests of the move (with
    /// [`RegistryStore::forget_key_version`]); not for use outside tests.
    #[doc(hidden)]
    pub fn save_keyed_by_name(
        &mut self,
        source: &str,
        rec: &Record,
        scan: &RecordScan,
    ) -> Result<Saved, StoreError> {
        let key = name_key(&rec.name);
        self.save_keyed(source, rec, scan, fingerprint(&key), Some(key))
    }

    /// Marks the database as made before [`KEY_VERSION`]: its stored keys
    /// are moved when it is next opened. For tests; not for use outside
    /// tests.
    #[doc(hidden)]
    pub fn forget_key_version(&mut self) -> Result<(), StoreError> {
        self.flush()?;
        self.log.remove(KEY_VERSION_KEY)?;
        self.db.flush()?;
        Ok(())
    }

    /// The records of one log entry that the index still points at.
    fn current_records(
        &self,
        kv: sled::Result<(sled::IVec, sled::IVec)>,
    ) -> Result<Vec<Company>, StoreError> {
        let (k, v) = kv?;
        let log = seq_of(&k).ok_or_else(|| StoreError::BadKey(k.to_vec()))?;
        let mut out = Vec::new();
        for (slot, s) in self.read_entry(log, &v)?.into_iter().enumerate() {
            let here = Loc {
                log,
                slot: slot as u32,
            };
            if self
                .indexed(fingerprint(&s.company.key))?
                .is_some_and(|e| e.at == here)
            {
                out.push((s.company, s.hits));
            }
        }
        Ok(out)
    }

    /// Writes the buffered records as one log entry: its file (synced),
    /// then in one atomic sled batch its length and live count and the
    /// counts of the entries whose records it replaces (removing entries
    /// left with none, whose files go at the next flush); then points the
    /// index at them.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        // the index changes after the batch: a crash in between leaves it
        // unclean, and it is rebuilt from the log
        self.index.mark_unclean().map_err(io_error(INDEX_FILE))?;
        let log = self.db.generate_id()?;
        let value = self.zstd.compress(&self.entry).map_err(io_error("zstd"))?;
        // on disk before sled refers to it
        let path = self.entry_path(log);
        write_synced(&path, &value).map_err(io_error(path.display().to_string()))?;
        let mut batch = sled::Batch::default();
        batch.insert(&seq_key(LOG, log), &file_marker(value.len() as u64));
        let live = self.pending.iter().filter(|p| p.live).count();
        batch.insert(&seq_key(LIVE, log), &(live as u32).to_be_bytes());
        // records replaced, per log entry (always entries of earlier
        // commits: this one's own are new; a superseded buffered record
        // handed what it replaced on to its successor)
        let mut replaced: std::collections::HashMap<u64, u32> = Default::default();
        let mut removed = Vec::new();
        for p in self.pending.iter().filter(|p| p.live) {
            if let Some(at) = p.replaces {
                *replaced.entry(at.log).or_default() += 1;
            }
            if let Some(m) = &p.moved_from {
                *replaced.entry(m.at.log).or_default() += 1;
                batch.insert(alias_key(&m.key), alias_value(log, &m.to));
            }
        }
        for (old, gone) in replaced {
            let live = self
                .log
                .get(seq_key(LIVE, old))?
                .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
                .unwrap_or(0);
            if live <= gone {
                batch.remove(&seq_key(LIVE, old));
                batch.remove(&seq_key(LOG, old));
                removed.push(old);
            } else {
                batch.insert(&seq_key(LIVE, old), &(live - gone).to_be_bytes());
            }
        }
        // kept until written: a failed write loses nothing buffered
        self.log.apply_batch(batch)?;
        crate::store::reclaim(2);
        // their files go once this is flushed
        self.doomed.extend(removed);
        // written: never again (a retry, by `Drop` after an error below,
        // would append the records twice and count their replacements
        // twice, deleting entries that still hold current records)
        let pending = std::mem::take(&mut self.pending);
        self.pending_index.clear();
        self.entry.truncate(1);
        // the index was marked unclean above: if this fails half way, it
        // stays so (`flush` will not mark it clean) and is rebuilt from the
        // log at the next open
        let mut updated = Ok(());
        for (slot, p) in pending.iter().enumerate().filter(|(_, p)| p.live) {
            let e = IndexEntry {
                at: Loc {
                    log,
                    slot: slot as u32,
                },
                scans: p.scans,
                first_seen: p.first_seen,
            };
            updated = self.index.set(p.fp, &e.encode());
            if let (Ok(()), Some(m)) = (&updated, &p.moved_from) {
                updated = self.index.remove(m.fp).map(drop);
            }
            if updated.is_err() {
                self.index_behind = true;
                break;
            }
        }
        // the buffer's allocation is kept for the next commit
        self.pending = pending;
        self.pending.clear();
        updated.map_err(io_error(INDEX_FILE))
    }

    /// Commits buffered writes, flushes the database to disk, marks the
    /// index clean (unless a commit failed to update it), and deletes the
    /// files of the log entries removed.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.db.flush()?;
        if self.index_behind {
            return Err(StoreError::Io {
                what: INDEX_FILE.into(),
                source: std::io::Error::other(
                    "a commit did not update the index; it is rebuilt at the next open",
                ),
            });
        }
        self.index.mark_clean().map_err(io_error(INDEX_FILE))?;
        // sled no longer refers to them, durably; a file left behind is
        // deleted when the store next opens, so this is no reason to fail
        for log in std::mem::take(&mut self.doomed) {
            if let Err(e) = remove_entry_file(&self.entry_path(log)) {
                tracing::warn!("{e}");
            }
        }
        Ok(())
    }

    fn entry_path(&self, log: u64) -> PathBuf {
        entry_path(&self.log_dir, log)
    }

    /// The records of log entry `log`, whose sled value is `v`: a
    /// reference to its file, or (an entry written before entries were
    /// files) the entry itself.
    fn read_entry(&self, log: u64, v: &[u8]) -> Result<Vec<Stored>, StoreError> {
        let Some(len) = file_len(v) else {
            return decode_entry(v);
        };
        let path = self.entry_path(log);
        let what = || path.display().to_string();
        let bytes = std::fs::read(&path).map_err(io_error(what()))?;
        if bytes.len() as u64 != len {
            return Err(StoreError::Io {
                what: what(),
                source: std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("{} bytes, the log says {len}", bytes.len()),
                ),
            });
        }
        decode_entry(&bytes).map_err(|e| StoreError::Io {
            what: what(),
            source: match e {
                StoreError::Io { source, .. } => source,
                e => std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
            },
        })
    }
}

/// The log value that refers to an entry file of `len` bytes.
fn file_marker(len: u64) -> [u8; 9] {
    let mut v = [IN_FILE; 9];
    v[1..].copy_from_slice(&len.to_le_bytes());
    v
}

/// The length of the entry file a log value refers to ([`file_marker`]);
/// `None` for an entry held in the value itself.
fn file_len(v: &[u8]) -> Option<u64> {
    match v {
        [IN_FILE, len @ ..] => Some(u64::from_le_bytes(len.try_into().ok()?)),
        _ => None,
    }
}

fn entry_path(dir: &Path, log: u64) -> PathBuf {
    dir.join(format!("{log:016x}.zst"))
}

/// Writes a new file and syncs it and its directory entry.
fn write_synced(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut f = std::fs::File::create(path)?;
    f.write_all(bytes)?;
    f.sync_data()?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Windows cannot open a directory as a file; NTFS journals its entries.
#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

fn remove_entry_file(path: &Path) -> Result<(), StoreError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(io_error(path.display().to_string())(e))
        }
        _ => Ok(()),
    }
}

/// Deletes the entry files in `dir` that the log does not refer to: an
/// entry whose sled batch a crash lost, or one removed from sled whose
/// file was not deleted yet. Files of other names are left alone.
fn delete_orphans(log: &sled::Tree, dir: &Path) -> Result<(), StoreError> {
    let list = std::fs::read_dir(dir).map_err(io_error(dir.display().to_string()))?;
    for entry in list {
        let entry = entry.map_err(io_error(dir.display().to_string()))?;
        let name = entry.file_name();
        let Some(seq) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".zst"))
            .and_then(|n| u64::from_str_radix(n, 16).ok())
            .filter(|&seq| entry_path(dir, seq).file_name() == Some(name.as_os_str()))
        else {
            continue;
        };
        let referred = log
            .get(seq_key(LOG, seq))?
            .is_some_and(|v| file_len(&v).is_some());
        if !referred {
            remove_entry_file(&entry.path())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{AllowList, RecordScanner};
    use crate::rules::RuleSet;

    /// Records per log entry in these tests (commits every 8 companies).
    const PER_LOG_KEY: usize = 8;

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
        let mut s = crate::store::open_again(|| RegistryStore::open(dir));
        s.commit_every = PER_LOG_KEY;
        s
    }

    const FLAGGED: (&str, &str) = ("安康鑫源理财有限公司", "91610902MA70B5XK71");
    const CLEAN: (&str, &str) = ("安康鑫源商贸有限公司", "91610902MA70B5XK71");
    const OTHER: (&str, &str) = ("汉滨区百货商店", "91110000600037341L");

    fn stored(dir: &Path) -> Vec<StoredCompany> {
        let s = open_again(dir);
        s.companies().map(|c| c.unwrap().0).collect()
    }

    /// Log entries in the database.
    fn log_entries(s: &RegistryStore) -> usize {
        s.log.scan_prefix([LOG]).count()
    }

    /// The entry files in the database's log directory, sorted.
    fn entry_files(dir: &Path) -> Vec<String> {
        crate::store::file_names(&dir.join(LOG_DIR), |n| n.ends_with(".zst"))
    }

    /// A company as an earlier version stored it.
    fn old_company(key: &str, first_seen: u64, scans: u64) -> StoredCompany {
        StoredCompany {
            key: key.into(),
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
            first_seen,
            last_scanned: first_seen,
            scans,
        }
    }

    fn old_value(company: &StoredCompany) -> Vec<u8> {
        serde_json::to_vec(&StoredRef { company, hits: &[] }).unwrap()
    }

    /// A flagged company with an old registration number (15 digits), as a
    /// version before `regno:` keys stored it: keyed by its name, the
    /// number kept as an invalid code.
    const REGNO: &str = "610927000123457";

    fn keyed_by_name(first_seen: u64, scans: u64) -> (StoredCompany, Vec<StoredHit>) {
        let c = StoredCompany {
            key: name_key(FLAGGED.0),
            uscc: Some(REGNO.into()),
            uscc_valid: false,
            division: Some("610927".into()),
            ..old_company("", first_seen, scans)
        };
        let hits = vec![StoredHit {
            field: "name".into(),
            rule: "name.licai".into(),
            category: "restricted-name".into(),
            severity: "medium".into(),
            term: "理财".into(),
            matched: "理财".into(),
            start: 12,
            end: 18,
        }];
        (c, hits)
    }

    #[test]
    fn a_company_keyed_by_name_before_registration_numbers_moves_at_open() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            let (c, h) = keyed_by_name(1_700_000_000, 3);
            s.migrate_one(&c.key.clone(), &c, &h, true).unwrap();
            s.forget_key_version().unwrap();
        }
        let regno = format!("regno:{REGNO}");
        {
            let mut s = open_again(dir.path());
            let all: Vec<Company> = s.companies().map(Result::unwrap).collect();
            assert_eq!(all.len(), 1);
            let (c, h) = &all[0];
            assert_eq!(c.key, regno);
            assert_eq!((c.first_seen, c.scans, c.line), (1_700_000_000, 3, 2));
            assert_eq!(c.uscc.as_deref(), Some(REGNO));
            assert!(!c.division_tentative());
            assert_eq!(h.len(), 1);
            // the former key still finds it
            let by_name = s.company(&name_key(FLAGGED.0)).unwrap().unwrap();
            assert_eq!(by_name.0.key, regno);
            assert_eq!(s.company(&regno).unwrap().unwrap().0.key, regno);
            // a rescan updates it: no second company
            let saved = save_all(&mut s, &[(FLAGGED.0, REGNO)]);
            assert_eq!(saved, [Saved::Updated]);
            s.flush().unwrap();
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].key.as_str(), c[0].scans), (regno.as_str(), 4));
        assert_eq!(c[0].first_seen, 1_700_000_000);
        // moved once: the next open moves nothing
        assert_eq!(open_again(dir.path()).migrate_keys().unwrap(), 0);
        // an index rebuilt from the log does not bring the former record back
        std::fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
        let s = open_again(dir.path());
        assert!(s.rebuilt);
        let all: Vec<StoredCompany> = s.companies().map(|c| c.unwrap().0).collect();
        assert_eq!(all.len(), 1, "{all:?}");
        assert_eq!(all[0].key, regno);
        assert_eq!(
            s.company(&name_key(FLAGGED.0)).unwrap().unwrap().0.key,
            regno
        );
    }

    #[test]
    fn a_company_stored_twice_under_both_keys_is_merged_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let regno = format!("regno:{REGNO}");
        {
            let mut s = open_again(dir.path());
            let (c, h) = keyed_by_name(1_700_000_000, 2);
            s.migrate_one(&c.key.clone(), &c, &h, true).unwrap();
            s.flush().unwrap();
            // rescanned by a version that knew registration numbers but did
            // not move: the same company under its number too
            let newer = StoredCompany {
                key: regno.clone(),
                scope: "投资理财咨询".into(),
                first_seen: 1_750_000_000,
                last_scanned: 1_750_000_000,
                scans: 1,
                ..c
            };
            s.migrate_one(&regno, &newer, &h, true).unwrap();
            s.forget_key_version().unwrap();
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(c[0].key, regno);
        assert_eq!(c[0].scope, "投资理财咨询", "the newer record");
        assert_eq!((c[0].first_seen, c[0].scans), (1_700_000_000, 3));
        assert_eq!(c[0].last_scanned, 1_750_000_000);
    }

    #[test]
    fn a_flagged_company_stored_by_name_moves_when_met_with_its_code() {
        let dir = tempfile::tempdir().unwrap();
        let scanner = RecordScanner::new(&RuleSet::bundled().unwrap(), AllowList::default());
        {
            let mut s = open_again(dir.path());
            let mut rec = record(1, FLAGGED.0, "");
            rec.uscc = None;
            assert_eq!(
                s.save("a.csv", &rec, &scanner.scan(&rec)).unwrap(),
                Saved::New
            );
            s.flush().unwrap();
        }
        {
            let mut s = open_again(dir.path());
            assert_eq!(save_all(&mut s, &[FLAGGED]), [Saved::Updated]);
            s.flush().unwrap();
            let uscc = format!("uscc:{}", FLAGGED.1);
            let by_name = s.company(&name_key(FLAGGED.0)).unwrap().unwrap();
            assert_eq!(by_name.0.key, uscc);
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!((c[0].key.starts_with("uscc:"), c[0].scans), (true, 2));
    }

    #[test]
    fn a_company_found_clean_on_rescan_is_updated_through_the_index() {
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
            assert!(!s.rebuilt, "the clean index was opened");
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
    fn a_stored_record_reads_back_whole() {
        let dir = tempfile::tempdir().unwrap();
        let scanner = RecordScanner::new(&RuleSet::bundled().unwrap(), AllowList::default());
        let rec = Record {
            line: 7,
            name: FLAGGED.0.into(),
            uscc: Some(FLAGGED.1.into()),
            scope: "投资理财；发放贷款".into(),
            address: Some("安康市汉滨区".into()),
            legal_rep: Some("张三".into()),
            reg_date: Some("2016-04-12".into()),
            status: Some("存续".into()),
            problems: Vec::new(),
        };
        let scan = scanner.scan(&rec);
        {
            let mut s = open_again(dir.path());
            assert_eq!(s.save("a.csv", &rec, &scan).unwrap(), Saved::New);
            s.flush().unwrap();
        }
        let s = open_again(dir.path());
        let (c, hits) = s.companies().next().unwrap().unwrap();
        let d = scan.division.as_ref().unwrap();
        assert_eq!(c.key, format!("uscc:{}", FLAGGED.1));
        assert_eq!(
            (c.name.as_str(), c.uscc.as_deref(), c.uscc_valid),
            (FLAGGED.0, Some(FLAGGED.1), true)
        );
        assert_eq!(c.division.as_deref(), Some(d.code.as_str()));
        assert_eq!(c.county, Some(d.label()));
        assert_eq!(c.rank.as_deref(), scan.rank.map(|r| r.as_str()));
        assert_eq!((c.flagged, c.allowlisted.as_deref()), (true, None));
        assert_eq!(c.scope, rec.scope);
        assert_eq!(
            (c.address, c.legal_rep, c.reg_date, c.status),
            (rec.address, rec.legal_rep, rec.reg_date, rec.status)
        );
        assert_eq!((c.source.as_str(), c.line, c.scans), ("a.csv", 7, 1));
        assert_eq!(c.first_seen, c.last_scanned);
        assert_eq!(hits.len(), scan.hits.len());
        for (stored, h) in hits.iter().zip(&scan.hits) {
            assert_eq!(stored.field, h.field.as_str());
            assert_eq!(stored.rule, h.rule.0);
            assert_eq!(stored.category, h.category.as_str());
            assert_eq!(stored.severity, h.severity.as_str());
            assert_eq!(
                (stored.term.as_str(), stored.matched.as_str()),
                (h.term.as_str(), h.matched.as_str())
            );
            assert_eq!((stored.start, stored.end), (h.raw.start, h.raw.end));
        }
    }

    #[test]
    fn a_log_entry_written_as_json_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = open_again(dir.path());
        save_all(&mut s, &[FLAGGED]);
        s.flush().unwrap();
        let (company, hits) = s.companies().next().unwrap().unwrap();
        // the form of the first entries of this layout: a JSON array, zstd
        let (k, _) = s.log.scan_prefix([LOG]).next().unwrap().unwrap();
        let json = format!(
            "[{}]",
            String::from_utf8(
                serde_json::to_vec(&StoredRef {
                    company: &company,
                    hits: &hits
                })
                .unwrap()
            )
            .unwrap()
        );
        s.log
            .insert(k, zstd::bulk::compress(json.as_bytes(), 1).unwrap())
            .unwrap();
        let again: Vec<Company> = s.companies().map(Result::unwrap).collect();
        assert_eq!(again, vec![(company, hits)]);
        // and garbage is an error, not a panic
        let (k, _) = s.log.scan_prefix([LOG]).next().unwrap().unwrap();
        s.log
            .insert(k, zstd::bulk::compress(b"?", 1).unwrap())
            .unwrap();
        assert!(matches!(
            s.companies().next(),
            Some(Err(StoreError::BadEntry))
        ));
    }

    #[test]
    fn log_entries_are_files_and_sled_holds_only_their_lengths() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(3 * PER_LOG_KEY);
        let mut s = open_again(dir.path());
        save_all(&mut s, &records);
        s.flush().unwrap();
        let mut seqs = Vec::new();
        for kv in s.log.scan_prefix([LOG]) {
            let (k, v) = kv.unwrap();
            assert_eq!((v.len(), v[0]), (9, IN_FILE));
            let log = seq_of(&k).unwrap();
            let len = std::fs::metadata(entry_path(&dir.path().join(LOG_DIR), log))
                .unwrap()
                .len();
            assert_eq!(file_len(&v), Some(len));
            seqs.push(format!("{log:016x}.zst"));
        }
        assert_eq!(seqs.len(), 3);
        assert_eq!(entry_files(dir.path()), seqs);
        drop(s);
        assert_eq!(stored(dir.path()).len(), records.len());
    }

    #[test]
    fn an_entry_held_in_sled_by_an_earlier_version_reads_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(PER_LOG_KEY);
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &records);
            s.flush().unwrap();
            // what the version before entry files wrote: the entry itself
            let (k, _) = s.log.scan_prefix([LOG]).next().unwrap().unwrap();
            let path = s.entry_path(seq_of(&k).unwrap());
            s.log.insert(k, std::fs::read(&path).unwrap()).unwrap();
            std::fs::remove_file(path).unwrap();
            s.db.flush().unwrap();
        }
        assert_eq!(stored(dir.path()).len(), PER_LOG_KEY);
        let mut s = open_again(dir.path());
        assert!(
            save_all(&mut s, &records)
                .iter()
                .all(|r| *r == Saved::Updated)
        );
        s.flush().unwrap();
        // the old entry is gone; the new one is a file
        assert_eq!(log_entries(&s), 1);
        assert_eq!(entry_files(dir.path()).len(), 1);
        drop(s);
        assert!(stored(dir.path()).iter().all(|c| c.scans == 2));
    }

    #[test]
    fn entry_files_the_log_does_not_refer_to_are_deleted_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let log_dir = dir.path().join(LOG_DIR);
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &flagged_companies(PER_LOG_KEY));
            s.flush().unwrap();
        }
        let kept = entry_files(dir.path());
        assert_eq!(kept.len(), 1);
        // what a crash leaves: an entry written whose sled batch was lost,
        // and an entry removed from sled whose file was not deleted yet
        let first = log_dir.join(&kept[0]);
        std::fs::copy(&first, log_dir.join("00000000000fffff.zst")).unwrap();
        std::fs::copy(&first, log_dir.join("0000000000000000.zst")).unwrap();
        std::fs::write(log_dir.join("notes.txt"), "mine").unwrap();
        let s = open_again(dir.path());
        assert_eq!(entry_files(dir.path()), kept);
        assert!(
            log_dir.join("notes.txt").exists(),
            "other files are left alone"
        );
        assert_eq!(s.companies().count(), PER_LOG_KEY);
    }

    #[test]
    fn a_missing_or_damaged_entry_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &flagged_companies(PER_LOG_KEY));
            s.flush().unwrap();
        }
        let name = entry_files(dir.path()).remove(0);
        let path = dir.path().join(LOG_DIR).join(&name);
        let good = std::fs::read(&path).unwrap();
        let first_error = || {
            let s = open_again(dir.path());
            let e = s.companies().find_map(Result::err).expect("an error");
            e.to_string()
        };
        // a byte changed in the middle: zstd's checksum fails
        let mut bad = good.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x55;
        std::fs::write(&path, &bad).unwrap();
        assert!(first_error().contains(&name), "{}", first_error());
        // cut short
        std::fs::write(&path, &good[..good.len() - 3]).unwrap();
        let e = first_error();
        assert!(e.contains(&name) && e.contains("the log says"), "{e}");
        // gone (not deleted at open: sled still refers to it)
        std::fs::remove_file(&path).unwrap();
        assert!(first_error().contains(&name));
        std::fs::write(&path, &good).unwrap();
        assert_eq!(stored(dir.path()).len(), PER_LOG_KEY);
    }

    #[test]
    fn a_crash_after_a_commit_leaves_the_index_unclean_and_it_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(PER_LOG_KEY + 3);
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &records[..3]);
            s.flush().unwrap();
            save_all(&mut s, &records);
            // Dropping commits the companies but does not mark the index
            // clean: what a crash after the last commit leaves.
        }
        let mut s = open_again(dir.path());
        assert!(s.rebuilt, "the index was rebuilt from the log");
        assert!(
            save_all(&mut s, &records)
                .iter()
                .all(|r| *r == Saved::Updated)
        );
        s.flush().unwrap();
        drop(s);
        let c = stored(dir.path());
        assert_eq!(c.len(), records.len());
        let scans: Vec<u64> = c.iter().map(|c| c.scans).collect();
        assert_eq!(scans.iter().filter(|&&n| n == 3).count(), 3, "{scans:?}");
        assert_eq!(scans.iter().filter(|&&n| n == 2).count(), PER_LOG_KEY);
    }

    #[test]
    fn a_lost_garbled_or_foreign_index_file_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        for d in [dir.path(), other.path()] {
            let mut s = open_again(d);
            save_all(&mut s, &[FLAGGED]);
            s.flush().unwrap();
        }
        let index = dir.path().join(INDEX_FILE);
        let damage: [&dyn Fn(); 3] = [
            &|| std::fs::remove_file(&index).unwrap(),
            &|| std::fs::write(&index, b"finscan regidx1\0 cut short").unwrap(),
            // a clean index, but another database's
            &|| {
                std::fs::copy(other.path().join(INDEX_FILE), &index)
                    .map(drop)
                    .unwrap()
            },
        ];
        for (i, damage) in damage.iter().enumerate() {
            damage();
            let mut s = open_again(dir.path());
            assert!(s.rebuilt, "case {i}");
            assert_eq!(save_all(&mut s, &[CLEAN]), [Saved::Updated], "case {i}");
            s.flush().unwrap();
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scans, 4);
    }

    #[test]
    fn companies_stored_by_the_old_layout_are_moved_and_updated() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        {
            let db = sled::open(dir.path()).unwrap();
            let old = old_company(&key, 1_600_000_000, 3);
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
        // the same company twice before a commit: two records, one current
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
        // every earlier entry was replaced whole and deleted, file and all
        assert_eq!(log_entries(&s), 20usize.div_ceil(PER_LOG_KEY));
        assert_eq!(entry_files(dir.path()).len(), log_entries(&s));
        drop(s);
        let c = stored(dir.path());
        assert_eq!(c.len(), 20);
        // the first company: 1, then 2 (two rows of one scan), then 3
        assert_eq!(c[0].scans, 6);
        assert!(c[1..].iter().all(|c| c.scans == 4));
        assert!(c.iter().all(|c| c.first_seen <= c.last_scanned));
    }

    #[test]
    fn a_company_buffered_twice_reads_back_as_its_latest_record_even_after_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        let (renamed, code) = ("安康鑫源财富管理有限公司", FLAGGED.1);
        {
            let mut s = open_again(dir.path());
            assert_eq!(
                save_all(&mut s, &[FLAGGED, OTHER, (renamed, code)]),
                [Saved::New, Saved::Skipped, Saved::Updated]
            );
            s.flush().unwrap();
            // both records are in the entry; one of them is current
            let (k, _) = s.log.scan_prefix([LOG]).next().unwrap().unwrap();
            let log = seq_of(&k).unwrap();
            let v = s.log.get(&k).unwrap().unwrap();
            assert_eq!(s.read_entry(log, &v).unwrap().len(), 2);
            let live = s.log.get(seq_key(LIVE, log)).unwrap().unwrap();
            assert_eq!(live.as_ref(), &1u32.to_be_bytes());
        }
        for lose_the_index in [false, true] {
            if lose_the_index {
                std::fs::remove_file(dir.path().join(INDEX_FILE)).unwrap();
            }
            let c = stored(dir.path());
            assert_eq!(c.len(), 1);
            assert_eq!((c[0].name.as_str(), c[0].scans), (renamed, 2));
        }
    }

    #[test]
    fn a_company_buffered_twice_counts_once_against_the_entry_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(2);
        let (a, b) = (&records[0], &records[1]);
        let mut s = open_again(dir.path());
        save_all(&mut s, &[a.clone(), b.clone()]);
        s.flush().unwrap();
        let (first, _) = s.log.scan_prefix([LOG]).next().unwrap().unwrap();
        let first = seq_of(&first).unwrap();
        // A twice in one commit: one of the entry's two records replaced
        assert_eq!(
            save_all(&mut s, &[a.clone(), a.clone()]),
            [Saved::Updated, Saved::Updated]
        );
        s.flush().unwrap();
        let live = s
            .log
            .get(seq_key(LIVE, first))
            .unwrap()
            .expect("entry kept");
        assert_eq!(live.as_ref(), &1u32.to_be_bytes());
        drop(s);
        let c = stored(dir.path());
        let scans = |code: &str| {
            c.iter()
                .find(|x| x.key == format!("uscc:{code}"))
                .map(|x| x.scans)
        };
        assert_eq!((scans(&a.1), scans(&b.1)), (Some(3), Some(1)));
    }

    #[test]
    fn a_commit_that_cannot_write_its_file_changes_nothing_stored() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(2 * PER_LOG_KEY);
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &records[..PER_LOG_KEY]);
            s.flush().unwrap();
            let log_dir = dir.path().join(LOG_DIR);
            let kept = std::fs::read_dir(&log_dir).unwrap().count();
            assert_eq!(kept, 1);
            std::fs::rename(&log_dir, dir.path().join("moved")).unwrap();
            std::fs::write(&log_dir, "in the way").unwrap();
            let scanner = RecordScanner::new(&RuleSet::bundled().unwrap(), AllowList::default());
            let failed = records[PER_LOG_KEY..]
                .iter()
                .enumerate()
                .map(|(i, (name, uscc))| {
                    let rec = record(i as u64 + 1, name, uscc);
                    s.save("t.csv", &rec, &scanner.scan(&rec))
                })
                .any(|r| r.is_err());
            assert!(failed || s.flush().is_err());
            // dropped: its commit fails again, and nothing is half written
        }
        std::fs::remove_file(dir.path().join(LOG_DIR)).unwrap();
        std::fs::rename(dir.path().join("moved"), dir.path().join(LOG_DIR)).unwrap();
        let c = stored(dir.path());
        assert_eq!(c.len(), PER_LOG_KEY);
        assert!(c.iter().all(|c| c.scans == 1));
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
            let db = sled::open(dir.path()).unwrap();
            db.open_tree(OLD_COMPANIES)
                .unwrap()
                .insert(
                    key.as_bytes(),
                    old_value(&old_company(&key, 1_600_000_000, 7)),
                )
                .unwrap();
            db.flush().unwrap();
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
    fn the_log_and_index_in_one_tree_are_moved_newest_record_last() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        let other = format!("uscc:{}", OTHER.1);
        {
            // the layout of 2026-11-30: tree `registry_records` with the log
            // (`l` + seq: JSON array), index (`i`) and counts (`n`), and the
            // saved Bloom filter in `registry_filter`
            let db = sled::open(dir.path()).unwrap();
            let t = db.open_tree(OLD_RECORDS).unwrap();
            let entry = |records: &[StoredCompany]| {
                let values: Vec<String> = records
                    .iter()
                    .map(|c| String::from_utf8(old_value(c)).unwrap())
                    .collect();
                format!("[{}]", values.join(","))
            };
            let first = entry(&[
                old_company(&key, 1_600_000_000, 1),
                old_company(&other, 5, 1),
            ]);
            t.insert(seq_key(LOG, 1), first.as_bytes()).unwrap();
            let second = entry(&[old_company(&key, 1_600_000_000, 2)]);
            t.insert(seq_key(LOG, 2), second.as_bytes()).unwrap();
            t.insert(seq_key(b'i', 1), &[0u8; 28][..]).unwrap();
            db.open_tree(OLD_FILTER)
                .unwrap()
                .insert("state", "current")
                .unwrap();
            db.flush().unwrap();
        }
        let mut s = open_again(dir.path());
        let names = s.db.tree_names();
        for old in [OLD_RECORDS, OLD_FILTER] {
            assert!(!names.iter().any(|n| n.as_ref() == old.as_bytes()), "{old}");
        }
        assert_eq!(save_all(&mut s, &[CLEAN]), [Saved::Updated]);
        s.flush().unwrap();
        drop(s);
        let c = stored(dir.path());
        assert_eq!(c.len(), 2);
        let moved = c.iter().find(|c| c.key == key).unwrap();
        assert_eq!((moved.scans, moved.first_seen), (3, 1_600_000_000));
        assert!(c.iter().any(|c| c.key == other && c.first_seen == 5));
    }

    #[test]
    fn a_migration_cut_short_and_run_again_moves_nothing_twice() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        let old = old_value(&old_company(&key, 1_600_000_000, 1));
        for _ in 0..3 {
            // the old tree is still there beside the moved records: the
            // process died before dropping it
            let db = crate::store::open_again(|| sled::open(dir.path()));
            db.open_tree(OLD_COMPANIES)
                .unwrap()
                .insert(key.as_bytes(), old.as_slice())
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
    fn a_commit_whose_index_update_fails_loses_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let records = flagged_companies(3);
        let (a, b, c) = (&records[0], &records[1], &records[2]);
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &[a.clone(), b.clone()]);
            s.flush().unwrap();
            // the index just below its growth point (60 % of 65,536 slots),
            // and growing made to fail: the next commit's index update fails
            // after its log entry was written
            let mut i = 0;
            while (s.index.len() + 1) * 5 <= 65_536 * 3 {
                s.index
                    .set(fingerprint(&format!("filler {i}")), &[0; 24])
                    .unwrap();
                i += 1;
            }
            std::fs::create_dir(dir.path().join("registry.grow")).unwrap();
            save_all(&mut s, &[a.clone(), c.clone()]);
            assert!(s.flush().is_err());
            // nor is a partly updated index marked clean by a later flush
            assert!(s.flush().is_err());
            // dropped here: its commit must not write the records again
        }
        std::fs::remove_dir(dir.path().join("registry.grow")).unwrap();
        {
            let s = open_again(dir.path());
            assert!(s.rebuilt);
            assert_eq!(log_entries(&s), 2);
        }
        let c_ = stored(dir.path());
        let scans = |code: &str| {
            c_.iter()
                .find(|x| x.key == format!("uscc:{code}"))
                .map(|x| x.scans)
        };
        assert_eq!(
            (scans(&a.1), scans(&b.1), scans(&c.1)),
            (Some(2), Some(1), Some(1))
        );
    }

    #[test]
    fn a_migration_run_again_leaves_no_superseded_log_entry() {
        let dir = tempfile::tempdir().unwrap();
        let key = format!("uscc:{}", FLAGGED.1);
        let old_tree = |db: &sled::Db| {
            // the same company in two entries of the one-tree layout
            let t = db.open_tree(OLD_RECORDS).unwrap();
            for (seq, scans) in [(1, 1), (2, 2)] {
                let value = format!(
                    "[{}]",
                    String::from_utf8(old_value(&old_company(&key, 5, scans))).unwrap()
                );
                t.insert(seq_key(LOG, seq), value.as_bytes()).unwrap();
            }
            db.flush().unwrap();
        };
        for _ in 0..2 {
            // the second time: cut short after moving, before dropping
            let db = crate::store::open_again(|| sled::open(dir.path()));
            old_tree(&db);
            drop(db);
            let s = open_again(dir.path());
            assert_eq!(log_entries(&s), 1);
        }
        let c = stored(dir.path());
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scans, 2);
    }

    #[test]
    fn the_key_fingerprint_is_the_fingerprint_of_the_key() {
        for (name, uscc) in [
            FLAGGED,
            OTHER,
            ("安康 鑫源 理财", ""),
            ("ＡＢＣ公司", "91610902MA70B5XK70"),
        ] {
            let rec = record(1, name, uscc);
            let code = CodeStatus::of(rec.uscc.as_deref());
            assert_eq!(
                key_fingerprint(&rec, &code),
                fingerprint(&company_key(&rec, &code)),
                "{name} {uscc}"
            );
        }
    }

    #[test]
    fn reading_the_database_leaves_the_index_clean() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut s = open_again(dir.path());
            save_all(&mut s, &[FLAGGED]);
            s.flush().unwrap();
        }
        assert_eq!(stored(dir.path()).len(), 1);
        let s = open_again(dir.path());
        assert!(!s.rebuilt);
    }
}
