//! Stored registry results: the `companies` and `company_hits` trees of the
//! sled database.
//!
//! A company is keyed by its credit code (`uscc:91610902MA70B5XK71`), or by
//! its name when the code is missing or invalid (`name:安康鑫源理财有限公司`,
//! white space removed, full-width ASCII made half-width), so scanning the
//! same registry again updates the entry instead of adding a second one. A
//! company and its hits are written in one transaction: a crash never leaves
//! hits without their company or the other way round.
//!
//! Only companies with hits are stored, plus companies already stored (a
//! rescan that finds a company clean records that, with no hits), so the
//! database grows with the flagged companies, not with the registry.
//!
//! This module owns these two trees only; the crawler's trees (`store`) are
//! opened from the same directory by their own module.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sled::Transactional;

use super::allow::normalize_name;
use super::{CodeStatus, Record, RecordScan};

pub const COMPANIES: &str = "companies";
pub const COMPANY_HITS: &str = "company_hits";
/// Page cache of the database while scanning.
pub const CACHE_BYTES: u64 = 32 * 1024 * 1024;

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
    hits: sled::Tree,
    /// Writes not yet committed: (key, company JSON, hits JSON), committed
    /// together in one transaction every [`COMMIT_EVERY`] companies and by
    /// [`RegistryStore::flush`] (a transaction per company made storing
    /// 100k flagged companies take minutes).
    pending: Vec<(String, Vec<u8>, Vec<u8>)>,
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
        let hits = db.open_tree(COMPANY_HITS)?;
        Ok(RegistryStore {
            db,
            companies,
            hits,
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
        let pending_at = self.pending_index.get(&key).copied();
        let previous = match pending_at {
            Some(i) => Some(sled::IVec::from(self.pending[i].1.as_slice())),
            None => self.companies.get(key.as_bytes())?,
        };
        if previous.is_none() && scan.hits.is_empty() {
            return Ok(Saved::Skipped);
        }
        let previous: Option<StoredCompany> =
            previous.map(|v| serde_json::from_slice(&v)).transpose()?;
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
        let company_json = serde_json::to_vec(&company)?;
        let hits_json = serde_json::to_vec(&hits)?;
        match pending_at {
            Some(i) => self.pending[i] = (key, company_json, hits_json),
            None => {
                self.pending_index.insert(key.clone(), self.pending.len());
                self.pending.push((key, company_json, hits_json));
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
            let (k, v) = kv?;
            let company: StoredCompany = serde_json::from_slice(&v)?;
            let hits = match self.hits.get(&k)? {
                Some(h) => serde_json::from_slice(&h)?,
                None => Vec::new(),
            };
            Ok((company, hits))
        })
    }

    pub fn len(&self) -> usize {
        self.companies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.companies.is_empty()
    }

    /// Writes the buffered companies and their hits in one transaction.
    fn commit(&mut self) -> Result<(), StoreError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pending = &self.pending;
        (&self.companies, &self.hits)
            .transaction(|(c, h)| {
                for (key, company, hits) in pending {
                    c.insert(key.as_bytes(), company.as_slice())?;
                    h.insert(key.as_bytes(), hits.as_slice())?;
                }
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                sled::transaction::TransactionError::Storage(s) => StoreError::Sled(s),
                sled::transaction::TransactionError::Abort(()) => {
                    StoreError::Sled(sled::Error::Unsupported("transaction aborted".into()))
                }
            })?;
        self.pending.clear();
        self.pending_index.clear();
        Ok(())
    }

    /// Commits buffered writes and flushes the database to disk.
    pub fn flush(&mut self) -> Result<(), StoreError> {
        self.commit()?;
        self.db.flush()?;
        Ok(())
    }
}
