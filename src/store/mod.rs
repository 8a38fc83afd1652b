//! The sled database: one directory, trees named for what they hold.
//!
//! | tree | key | value |
//! |---|---|---|
//! | `pages` | normalized URL | [`PageRecord`] (JSON) |
//! | `bodies` | SHA-256 of the raw body (32 bytes) | the raw body, zstd-compressed |
//! | `hits` | hit id (8 bytes) | [`StoredHit`] (JSON) |
//! | `frontier` | `host \0 seq` (seq big-endian), or `host \0 seq index` once a chunk is taken apart | one [`FrontierEntry`] (JSON), or a chunk of them (JSON array, zstd) |
//! | `hosts` | `robots\0host`, `budget\0gen\0host`, `qv\0gen\0host+path` | robots cache, per-host counters |
//! | `meta` | `generation`, `scope`, `done\0gen`, `queued`, `seen_tag` | crawl-wide state |
//!
//! Beside sled's files, `seen.tbl` holds the seen set (every URL admitted,
//! with its generation): derived from `pages` and `frontier`, rebuilt from
//! them after a crash, see [`seen`].
//!
//! A page's record, its hits, the removal of its frontier entry and the
//! admission of its outlinks are one sled transaction
//! ([`Store::commit_page`]): after a crash the database holds either all of a
//! page or none of it, so a resumed crawl refetches exactly the pages that
//! were not done and never doubles a hit. Bodies are written before that
//! transaction; they are content-addressed, so a body without its page is
//! harmless and is reused when the page is fetched again.
//!
//! The frontier lives on disk, keyed by host so the scheduler can take the
//! next URL of a host with one range read. Memory must not grow with the
//! number of queued URLs, and sled 0.34 keeps a tree of fewer than ~16,000
//! leaves (16 keys each) in memory whole (see [`table`]), so:
//! * a page's new outlinks are queued as one chunk per host (one key,
//!   zstd-compressed), taken apart into single entries only when the
//!   scheduler reaches the chunk;
//! * the seen set is not in sled at all.
//!
//! This module knows nothing about HTTP or scanning; it stores what `crawl`
//! hands it.

mod exchange;
mod seen;
pub mod sites;
pub(crate) mod table;

use std::collections::hash_map::Entry;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

pub use exchange::{HeaderField, HttpExchange};
use seen::SeenTable;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError, TransactionalTree};

use crate::rules::{Activity, Category, Field, RuleId, Severity};

/// The fingerprint of a string (a URL, a company key): 64 bits of its
/// SHA-256, never 0 (which marks an empty slot of the seen table). Two
/// strings share one with probability 2^-64 per pair: a false "already
/// seen" is not expected below billions of them.
pub fn fingerprint(s: &str) -> u64 {
    let d = Sha256::digest(s.as_bytes());
    u64::from_le_bytes(d[..8].try_into().unwrap_or_default()).max(1)
}

/// Frees what sled's writes left for later, in proportion to `writes`.
///
/// sled 0.34 replaces a node on every write and hands the old one to
/// crossbeam-epoch, which frees garbage a little at a time: at most 8 bags
/// of 64 objects, every 128 pins of a thread. A thread that writes in large
/// batches and seldom reads makes garbage far faster than that, and it piles
/// up: 800,000 writes of 100-byte values over 65,536 keys peaked at 288 MB,
/// and at 22 MB with four flushes per 1,000 writes (`cargo run --release
/// --example sled_cache_mem -- 100`, `FLUSHES=4`). sled uses the default
/// collector of crossbeam-epoch 0.9, the one pinned here.
pub fn reclaim(writes: usize) {
    for _ in 0..1 + writes / 256 {
        crossbeam_epoch::pin().flush();
    }
}

/// Hands memory the process has freed back to the system: glibc keeps
/// freed fragments in its arenas until `malloc_trim`. A no-op elsewhere.
pub fn release_free_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim is thread-safe and only releases memory that no
    // allocation uses.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A writer that cleans sled's segments itself while it lives, instead of
/// sled's flusher thread ([`sled::Db::pause_background_cleaning`] says why:
/// a slow page cleaned in the background let a batch review pile up freed
/// leaves to 300-560 MB). After each write, [`SelfCleaning::after_write`]
/// spends up to half the write's time moving pages, the share of its time
/// sled's flusher allows itself.
pub struct SelfCleaning<'a> {
    db: &'a sled::Db,
}

impl<'a> SelfCleaning<'a> {
    pub fn new(db: &'a sled::Db) -> Self {
        db.pause_background_cleaning();
        SelfCleaning { db }
    }

    /// Cleans for up to half of `took`, the time the last write took;
    /// returns how many pages it moved.
    pub fn after_write(&self, took: std::time::Duration) -> Result<usize> {
        Ok(self.db.clean_segments(took / 2)?)
    }
}

impl Drop for SelfCleaning<'_> {
    fn drop(&mut self) {
        self.db.resume_background_cleaning();
    }
}

/// Environment variable naming the database directory.
pub const DB_ENV: &str = "FINSCAN_DB";
/// Database directory when neither `--db` nor [`DB_ENV`] is given.
pub const DEFAULT_DB_DIR: &str = "finscan-data";

/// sled's page cache; kept small because the crawler must run in a flat,
/// modest amount of memory (sled's default is 1 GiB).
const CACHE_BYTES: u64 = 1024 * 1024;

/// The log since sled's last snapshot from which closing the store writes a
/// new one ([`Store::close`]). Below it, the next open's
/// replay costs less than the checkpoint's own reading of every segment
/// header and of the snapshot.
pub const CHECKPOINT_BYTES: u64 = 4 << 20;

/// How long [`Store::close`] waits for sled's threads to let go of the
/// database file before it gives up on writing the snapshot (they take
/// milliseconds; a handle still held elsewhere would hold it for good).
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("database: {0}")]
    Sled(#[from] sled::Error),
    #[error("database record {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("body compression: {0}")]
    Io(#[from] std::io::Error),
}

type Result<T> = std::result::Result<T, StoreError>;

/// What became of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PageState {
    /// Fetched and scanned.
    Fetched,
    /// Recrawl: the server answered 304, the stored body was rescanned.
    NotModified,
    /// Answered with a redirect that was queued or not followed (see `error`).
    Redirect,
    /// Not a page finscan reads (content type outside the allow-list).
    Skipped,
    /// robots.txt disallows it.
    Disallowed,
    /// Could not be fetched (see `error`): a server error (5xx), network
    /// or DNS failure after retries, SSRF guard, redirect loop. The crawl
    /// summary's `pages_failed` counts these and only these.
    Failed,
    /// Answered with a 4xx status: a dangling link (404, 410) or a page
    /// closed to crawlers (401, 403). Normal on the web: the summary counts
    /// them apart (`pages_client_error`) and the run is not partial.
    ClientError,
}

impl PageState {
    pub fn as_str(self) -> &'static str {
        match self {
            PageState::Fetched => "fetched",
            PageState::NotModified => "not-modified",
            PageState::Redirect => "redirect",
            PageState::Skipped => "skipped",
            PageState::Disallowed => "disallowed",
            PageState::Failed => "failed",
            PageState::ClientError => "client-error",
        }
    }

    /// Every state, in the order `pages list --state` documents them.
    pub const ALL: [PageState; 7] = [
        PageState::Fetched,
        PageState::NotModified,
        PageState::Redirect,
        PageState::Skipped,
        PageState::Disallowed,
        PageState::Failed,
        PageState::ClientError,
    ];
}

/// One crawled URL.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageRecord {
    pub url: String,
    pub host: String,
    pub state: PageState,
    /// HTTP status of the last response (after redirects), if one came.
    pub status: Option<u16>,
    /// URL that answered, after same-host redirects.
    pub final_url: String,
    /// Redirect chain: every URL that answered with a redirect, in order.
    #[serde(default)]
    pub redirects: Vec<String>,
    pub content_type: Option<String>,
    /// Encoding the body was decoded with (`GBK`, `UTF-8`).
    pub charset: Option<String>,
    /// SHA-256 of the raw body (hex): its key in `bodies`.
    pub sha256: Option<String>,
    pub bytes: u64,
    /// The body was cut at the size cap.
    pub truncated: bool,
    pub title: Option<String>,
    /// ICP filing number (ICP备案号).
    pub icp: Option<String>,
    /// Public-security filing number (公网安备).
    pub psb: Option<String>,
    /// Operator named in the footer (主办单位 / 版权所有).
    pub operator: Option<String>,
    pub fetched_at: String,
    pub depth: u32,
    pub etag: Option<String>,
    pub last_modified: Option<String>,
    pub error: Option<String>,
    /// Ids of the hits currently on this page.
    #[serde(default)]
    pub hit_ids: Vec<String>,
    /// The page's activity profile: how many words of each kind of
    /// financial business it has (see `scan::activity`). Not hits: facts
    /// about the site, used to rank sites.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub activities: BTreeMap<Activity, u32>,
    pub links: u32,
    pub generation: u32,
    /// The HTTP exchange that delivered the stored body (request and
    /// response headers, remote address); `None` for pages stored before
    /// finscan kept it, and for pages that never got a response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpExchange>,
}

impl PageRecord {
    /// A record as read back: databases written before the `client-error`
    /// state recorded 4xx answers as `failed`; they are read as what they
    /// are, so that `pages list --state` and the summary count alike.
    fn upgraded(mut self) -> PageRecord {
        if self.state == PageState::Failed && self.status.is_some_and(|s| (400..500).contains(&s)) {
            self.state = PageState::ClientError;
        }
        self
    }

    /// A record of `url` with nothing learnt about it yet, stamped now.
    pub fn blank(
        url: &str,
        host: &str,
        state: PageState,
        depth: u32,
        generation: u32,
    ) -> PageRecord {
        PageRecord {
            url: url.to_owned(),
            host: host.to_owned(),
            state,
            status: None,
            final_url: url.to_owned(),
            redirects: Vec::new(),
            content_type: None,
            charset: None,
            sha256: None,
            bytes: 0,
            truncated: false,
            title: None,
            icp: None,
            psb: None,
            operator: None,
            fetched_at: now_rfc3339(),
            depth,
            etag: None,
            last_modified: None,
            error: None,
            hit_ids: Vec::new(),
            activities: BTreeMap::new(),
            links: 0,
            generation,
            http: None,
        }
    }
}

/// Review status of a hit; the lifecycle beyond `new` belongs to `review`.
pub const HIT_STATUS_NEW: &str = "new";

/// A hit as stored: the scan keys of [`crate::Hit`] plus identity and time.
///
/// Identity ("the same hit seen again") is (page URL, field, rule, matched
/// text, ordinal of that (rule, matched) pair on the page). Byte offsets are
/// deliberately not part of it: an edit elsewhere on the page shifts them,
/// and the reviewer would see a rectified hit and a new one where nothing
/// changed; the ordinal keeps two occurrences of one phrase apart.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoredHit {
    pub id: String,
    pub url: String,
    pub host: String,
    pub status: String,
    pub rule: RuleId,
    pub category: Category,
    pub severity: Severity,
    pub field: Field,
    pub term: String,
    pub matched: String,
    /// Byte range in the raw body `sha256` (for `field = name`, where the
    /// page names its operator).
    pub start: usize,
    pub end: usize,
    pub snippet: String,
    pub basis: String,
    pub normalizations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annual_rate: Option<f64>,
    /// How many more times the same rule term occurs on the page (the
    /// scanner reports the first occurrence of each rule term per document).
    #[serde(default)]
    pub repeats: usize,
    /// Body the evidence is in (key of `bodies`).
    pub sha256: Option<String>,
    pub first_seen: String,
    pub last_seen: String,
}

impl StoredHit {
    /// Converts a scanner hit found on `url`; `ordinal` counts earlier hits
    /// of the same (field, rule, matched) on the page.
    pub fn from_hit(
        h: &crate::Hit,
        url: &str,
        host: &str,
        ordinal: usize,
        sha256: Option<&str>,
        now: &str,
    ) -> Self {
        StoredHit {
            id: hit_id(url, h.field, &h.rule, &h.matched, ordinal),
            url: url.to_owned(),
            host: host.to_owned(),
            status: HIT_STATUS_NEW.to_owned(),
            rule: h.rule.clone(),
            category: h.category,
            severity: h.severity,
            field: h.field,
            term: h.term.clone(),
            matched: h.matched.clone(),
            start: h.raw.start,
            end: h.raw.end,
            snippet: h.snippet.clone(),
            basis: h.basis.to_string(),
            normalizations: h
                .normalizations
                .names()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            annual_rate: h.annual_rate,
            repeats: h.repeats,
            sha256: sha256.map(str::to_owned),
            first_seen: now.to_owned(),
            last_seen: now.to_owned(),
        }
    }
}

/// The stable id of a hit (16 hex digits); see [`StoredHit`] for identity.
pub fn hit_id(url: &str, field: Field, rule: &RuleId, matched: &str, ordinal: usize) -> String {
    let mut h = Sha256::new();
    for part in [url, field.as_str(), &rule.0, matched, &ordinal.to_string()] {
        h.update(part.as_bytes());
        h.update([0]);
    }
    hex::encode(&h.finalize()[..8])
}

/// A URL waiting to be fetched.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FrontierEntry {
    pub url: String,
    pub depth: u32,
    /// Failed attempts so far (network errors, 5xx, 429).
    #[serde(default)]
    pub attempts: u32,
    /// Redirect hops that led here (cross-host redirects are queued).
    #[serde(default)]
    pub hops: u32,
    /// Page that linked here.
    #[serde(default)]
    pub via: Option<String>,
}

/// State of a URL in `seen`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeenState {
    Queued,
    Done,
}

/// Cached robots.txt of a host.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RobotsRecord {
    pub status: u16,
    pub body: String,
    /// Unix seconds.
    pub fetched_at: u64,
}

/// A URL to admit to the frontier (scope and URL-only traps already checked).
#[derive(Debug, Clone)]
pub struct NewLink {
    pub host: String,
    pub entry: FrontierEntry,
    /// `host + path` for the query-variant cap, when the URL has a query.
    pub query_path: Option<String>,
}

/// Limits applied when admitting links, inside the transaction.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub generation: u32,
    pub per_host_budget: u64,
    pub max_query_variants: u64,
}

/// Everything written when a page is done.
#[derive(Debug, Clone)]
pub struct PageCommit {
    pub frontier_key: Vec<u8>,
    pub page: PageRecord,
    /// Other URLs this fetch settled (same-host redirect hops).
    pub also_done: Vec<String>,
    pub hits: Vec<StoredHit>,
    pub links: Vec<NewLink>,
}

/// What a commit changed.
#[derive(Debug, Default, Clone)]
pub struct CommitOutcome {
    /// Hosts that received newly queued URLs (may repeat).
    pub queued_hosts: Vec<String>,
    pub new_hits: usize,
    pub seen_again: usize,
    /// Links refused by the per-host budget or the query-variant cap.
    pub refused: usize,
}

#[derive(Clone)]
pub struct Store {
    db: sled::Db,
    pub pages: sled::Tree,
    pub bodies: sled::Tree,
    pub hits: sled::Tree,
    pub frontier: sled::Tree,
    /// Every commit that reads or changes the seen set holds this lock
    /// from its first read until the table has the commit's changes.
    seen: Arc<Mutex<SeenTable>>,
    pub hosts: sled::Tree,
    pub meta: sled::Tree,
    /// The database directory (other modules keep files beside sled's).
    dir: PathBuf,
}

/// The database directory: `--db`, else `$FINSCAN_DB`, else `./finscan-data`.
pub fn db_dir(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_owned();
    }
    match std::env::var_os(DB_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_DB_DIR),
    }
}

fn corrupt(key: &[u8], e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: e.to_string(),
    }
}

fn de<T: for<'a> Deserialize<'a>>(key: &[u8], v: &[u8]) -> Result<T> {
    serde_json::from_slice(v).map_err(|e| corrupt(key, e))
}

fn ser<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

/// Frontier key: `host \0 seq`.
pub fn frontier_key(host: &str, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(host.len() + 9);
    k.extend_from_slice(host.as_bytes());
    k.push(0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

/// The host part of a frontier key.
pub fn frontier_host(key: &[u8]) -> &str {
    let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
    std::str::from_utf8(&key[..end]).unwrap_or("")
}

fn counter(v: Option<sled::IVec>) -> u64 {
    v.and_then(|v| v.as_ref().try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the database in `dir`. Fails if another
    /// finscan process holds it.
    pub fn open(dir: &Path) -> Result<Store> {
        let db = sled::Config::new()
            .path(dir)
            .cache_capacity(CACHE_BYTES)
            .open()
            .map_err(|source| StoreError::Open {
                path: dir.to_owned(),
                source,
            })?;
        let t = |n: &str| db.open_tree(n);
        let meta = t("meta")?;
        let tag = table_tag(&db, &meta, SEEN_TAG_KEY)?;
        let path = dir.join(SEEN_FILE);
        let (table, rebuild) = match SeenTable::open(&path, tag)? {
            Some(table) => (table, false),
            None => (SeenTable::create(&path, tag, 0)?, true),
        };
        let store = Store {
            pages: t("pages")?,
            bodies: t("bodies")?,
            hits: t("hits")?,
            frontier: t("frontier")?,
            seen: Arc::new(Mutex::new(table)),
            hosts: t("hosts")?,
            meta,
            db,
            dir: dir.to_owned(),
        };
        // the queued count must exist before commits change it (a database
        // of an earlier version has none: it is counted once, here)
        let queued = store.frontier_len()?;
        if rebuild {
            store.rebuild_seen(&path, tag, queued)?;
        }
        Ok(store)
    }

    fn seen(&self) -> MutexGuard<'_, SeenTable> {
        // a panic elsewhere while holding the lock leaves the table as it
        // was after its last complete write: still usable
        self.seen.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Builds the seen set from what sled holds: every page record (done in
    /// its generation, with its redirect chain and final URL) and every
    /// frontier entry (queued in the current generation). Then drops the
    /// seen trees of earlier versions, which this replaces.
    fn rebuild_seen(&self, path: &Path, tag: [u8; 16], queued: u64) -> Result<()> {
        /// The fields of a page record the seen set needs.
        #[derive(Deserialize)]
        struct Settled {
            url: String,
            state: PageState,
            #[serde(default)]
            final_url: String,
            #[serde(default)]
            redirects: Vec<String>,
            #[serde(default)]
            generation: u32,
        }
        let mut table = SeenTable::create(path, tag, self.pages.len() as u64 + queued)?;
        for kv in self.pages.iter() {
            let (k, v) = kv?;
            let p: Settled = match de(&k, &v) {
                Ok(p) => p,
                Err(e) => {
                    // one bad record must not stop the crawl: at worst
                    // its URL is fetched again
                    tracing::warn!("seen set rebuild: {e}");
                    continue;
                }
            };
            // a redirect's target was admitted like a link, or refused (a
            // queued one is in the frontier); a fetched page's final URL
            // was settled with it
            let settled = (p.state != PageState::Redirect).then_some(&p.final_url);
            for u in std::iter::once(&p.url)
                .chain(&p.redirects)
                .chain(settled.filter(|u| !u.is_empty()))
            {
                table.merge(fingerprint(u), p.generation, SeenState::Done)?;
            }
        }
        let generation = self.generation()?;
        for kv in self.frontier.iter() {
            let (k, v) = kv?;
            let entries = match decode_frontier(&k, &v)? {
                Queued::One(e) => vec![e],
                Queued::Chunk(entries) => entries,
            };
            for e in entries {
                table.merge(fingerprint(&e.url), generation, SeenState::Queued)?;
            }
        }
        for old in [&b"seen"[..], b"seen_fp"] {
            if self.db.tree_names().iter().any(|n| n.as_ref() == old) {
                self.db.drop_tree(old)?;
            }
        }
        // it matches the database as it is: commands that only read leave
        // it so, and the next open need not rebuild it again
        self.db.flush()?;
        table.mark_clean()?;
        *self.seen() = table;
        Ok(())
    }

    /// Writes everything to disk; the seen set is then marked as matching
    /// the database (no rebuild at the next open).
    pub fn flush(&self) -> Result<()> {
        let mut seen = self.seen();
        self.db.flush()?;
        seen.mark_clean()?;
        Ok(())
    }

    /// Whether the log written since sled's last snapshot has reached
    /// [`CHECKPOINT_BYTES`]: closing the store then writes a new snapshot.
    pub fn wrote_much(&self) -> bool {
        self.db.log_since_snapshot() >= CHECKPOINT_BYTES
    }

    /// Flushes and closes the store, and when it [wrote much](Store::wrote_much)
    /// writes sled's snapshot, which the next process to open the database
    /// would otherwise write after replaying that log: after a batch review
    /// of 10,000 findings on the 1,000,000-finding desk, that replay took the
    /// next `hits list` 0.2–0.4 s. The snapshot is written after sled has let
    /// go of its pages ([`sled::Checkpoint`]), so it adds nothing to the
    /// process's peak memory. Returns whether it wrote one.
    pub fn close(self) -> Result<bool> {
        self.flush()?;
        if !self.wrote_much() {
            return Ok(false);
        }
        let checkpoint = self.db.checkpoint_on_close();
        drop(self);
        // what the pages took goes back to the system before the snapshot
        // is read and written, rather than sitting beside it
        release_free_memory();
        Ok(checkpoint.write(CLOSE_WAIT)?)
    }

    /// The database itself, for modules that keep trees of their own in it
    /// (`registry`): sled opens a directory once per process.
    pub fn db(&self) -> &sled::Db {
        &self.db
    }

    /// The database directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Current crawl generation (0 for a new database). A recrawl starts a
    /// new generation: URLs done in an older one may be fetched again.
    pub fn generation(&self) -> Result<u32> {
        Ok(self
            .meta
            .get("generation")?
            .and_then(|v| v.as_ref().try_into().ok().map(u32::from_be_bytes))
            .unwrap_or(0))
    }

    pub fn start_generation(&self) -> Result<u32> {
        let g = self.generation()? + 1;
        self.meta.insert("generation", &g.to_be_bytes())?;
        Ok(g)
    }

    /// Registrable domains in scope, kept so that a resumed crawl keeps the
    /// scope of the run that queued its frontier.
    pub fn scope_domains(&self) -> Result<Vec<String>> {
        match self.meta.get("scope")? {
            Some(v) => de(b"scope", &v),
            None => Ok(Vec::new()),
        }
    }

    pub fn set_scope_domains(&self, domains: &[String]) -> Result<()> {
        self.meta.insert("scope", ser(&domains))?;
        Ok(())
    }

    /// Pages done in `generation`.
    pub fn done_count(&self, generation: u32) -> Result<u64> {
        Ok(counter(self.meta.get(format!("done\0{generation}"))?))
    }

    pub fn seen_state(&self, url: &str, generation: u32) -> Result<Option<SeenState>> {
        let found = self.seen().get(fingerprint(url))?;
        Ok(found.and_then(|(g, s)| (g == generation).then_some(s)))
    }

    pub fn page(&self, url: &str) -> Result<Option<PageRecord>> {
        self.pages
            .get(url)?
            .map(|v| de(url.as_bytes(), &v).map(PageRecord::upgraded))
            .transpose()
    }

    /// Stores a raw body (idempotent) and returns its SHA-256 in hex.
    pub fn put_body(&self, raw: &[u8]) -> Result<String> {
        let digest = Sha256::digest(raw);
        if !self.bodies.contains_key(digest.as_slice())? {
            let z = zstd::encode_all(raw, 3)?;
            self.bodies.insert(digest.as_slice(), z)?;
        }
        Ok(hex::encode(digest))
    }

    pub fn body(&self, sha256_hex: &str) -> Result<Option<Vec<u8>>> {
        let Ok(key) = hex::decode(sha256_hex) else {
            return Ok(None);
        };
        match self.bodies.get(key)? {
            Some(z) => Ok(Some(zstd::decode_all(z.as_ref())?)),
            None => Ok(None),
        }
    }

    pub fn robots(&self, host: &str) -> Result<Option<RobotsRecord>> {
        let k = format!("robots\0{host}");
        self.hosts
            .get(&k)?
            .map(|v| de(k.as_bytes(), &v))
            .transpose()
    }

    pub fn set_robots(&self, host: &str, r: &RobotsRecord) -> Result<()> {
        self.hosts.insert(format!("robots\0{host}"), ser(r))?;
        Ok(())
    }

    /// Hosts with queued URLs, found by skipping from host prefix to host
    /// prefix: one read per host, not per URL.
    pub fn frontier_hosts(&self) -> Result<Vec<String>> {
        let mut hosts = Vec::new();
        let mut from: Vec<u8> = Vec::new();
        while let Some((k, _)) = self.frontier.range(from.clone()..).next().transpose()? {
            let h = frontier_host(&k).to_owned();
            from = h.as_bytes().to_vec();
            from.push(1);
            hosts.push(h);
        }
        Ok(hosts)
    }

    /// The first frontier record of `host` after `after`, raw.
    fn frontier_first(
        &self,
        host: &str,
        after: Option<&[u8]>,
    ) -> Result<Option<(sled::IVec, sled::IVec)>> {
        let mut end = host.as_bytes().to_vec();
        end.push(1);
        let start = match after {
            Some(a) => std::ops::Bound::Excluded(a.to_vec()),
            None => {
                let mut s = host.as_bytes().to_vec();
                s.push(0);
                std::ops::Bound::Included(s)
            }
        };
        Ok(self
            .frontier
            .range((start, std::ops::Bound::Excluded(end)))
            .next()
            .transpose()?)
    }

    /// The first queued URL of `host` whose key is after `after`. A chunk
    /// reached here is taken apart into single entries (keys `chunk key ‖
    /// index`, which sort where the chunk was) so that each can be
    /// dispatched, finished and removed on its own.
    pub fn next_in_frontier(
        &self,
        host: &str,
        after: Option<&[u8]>,
    ) -> Result<Option<(Vec<u8>, FrontierEntry)>> {
        loop {
            let Some((k, v)) = self.frontier_first(host, after)? else {
                return Ok(None);
            };
            let entries = match decode_frontier(&k, &v)? {
                Queued::One(e) => return Ok(Some((k.to_vec(), e))),
                Queued::Chunk(entries) => entries,
            };
            let r = self.frontier.transaction(|f| {
                if f.remove(&k)?.is_some() {
                    for (i, e) in entries.iter().enumerate() {
                        let mut ki = k.to_vec();
                        ki.extend_from_slice(&(i as u32).to_be_bytes());
                        f.insert(ki, ser(e))?;
                    }
                }
                Ok(())
            });
            txn_result(r)?;
            reclaim(entries.len());
        }
    }

    /// The first queued URL of `host`, read without changing anything.
    pub fn peek_frontier(&self, host: &str) -> Result<Option<FrontierEntry>> {
        let Some((k, v)) = self.frontier_first(host, None)? else {
            return Ok(None);
        };
        Ok(match decode_frontier(&k, &v)? {
            Queued::One(e) => Some(e),
            Queued::Chunk(entries) => entries.into_iter().next(),
        })
    }

    /// URLs queued (counted as they are admitted and finished; a database
    /// without the count is counted once).
    pub fn frontier_len(&self) -> Result<u64> {
        if let Some(v) = self.meta.get(QUEUED_KEY)? {
            return Ok(counter(Some(v)));
        }
        let mut n = 0u64;
        for kv in self.frontier.iter() {
            let (k, v) = kv?;
            n += match decode_frontier(&k, &v)? {
                Queued::One(_) => 1,
                Queued::Chunk(entries) => entries.len() as u64,
            };
        }
        self.meta.insert(QUEUED_KEY, &n.to_be_bytes())?;
        Ok(n)
    }

    /// Admits seed URLs (and cross-host redirect targets) to the frontier;
    /// returns the hosts that received URLs.
    pub fn enqueue(&self, links: &[NewLink], adm: Admission) -> Result<CommitOutcome> {
        self.admit_links(links, adm, false)
    }

    /// Admits `links` to be fetched once more within the current generation
    /// (`adm.generation`), also those already done in it: a recheck's few
    /// pages, which must not start a generation of their own (a later
    /// `crawl` would then fetch the whole site again instead of saying its
    /// pages are done). A URL still queued stays queued once; the links are
    /// not counted against the host's budget or query-variant cap, and a
    /// page done in this generation is not counted done twice (see
    /// [`Store::commit_page`]).
    pub fn enqueue_again(&self, links: &[NewLink], adm: Admission) -> Result<CommitOutcome> {
        self.admit_links(links, adm, true)
    }

    /// [`Store::enqueue`], or with `again` [`Store::enqueue_again`].
    fn admit_links(&self, links: &[NewLink], adm: Admission, again: bool) -> Result<CommitOutcome> {
        let mut seen = self.seen();
        // before sled may make the commit durable: a crash must not leave a
        // table marked clean that lacks it
        seen.mark_unclean()?;
        let r = (&self.frontier, &self.hosts, &self.meta).transaction(|(frontier, hosts, meta)| {
            let mut out = CommitOutcome::default();
            let mut adm_run = Admitter::new(adm, &seen);
            adm_run.again = again;
            for l in links {
                adm_run.admit(hosts, l, &mut out)?;
            }
            let marks = adm_run.finish(frontier, hosts, meta, 0)?;
            Ok((out, marks))
        });
        let (out, marks) = txn_result(r)?;
        apply_marks(&mut seen, marks)?;
        reclaim(out.queued_hosts.len());
        Ok(out)
    }

    /// Puts a frontier entry back at the end of its host's queue (retry later).
    pub fn requeue(&self, key: &[u8], entry: &FrontierEntry) -> Result<Vec<u8>> {
        let host = frontier_host(key).to_owned();
        let r = self.frontier.transaction(|f| {
            f.remove(key)?;
            let k = frontier_key(&host, f.generate_id()?);
            f.insert(k.as_slice(), ser(entry))?;
            Ok(k)
        });
        txn_result(r)
    }

    /// Writes a finished page, its hits, its done mark and its outlinks in
    /// one transaction. A hit already stored (same id) keeps its id, status
    /// and `first_seen` and gets the new `last_seen`; one read on another
    /// page than before (a site's operator) is taken off the earlier page's
    /// `hit_ids`, so that each hit is listed on exactly one page.
    pub fn commit_page(&self, c: &PageCommit, adm: Admission) -> Result<CommitOutcome> {
        let page_key = c.page.url.as_bytes();
        let done_key = format!("done\0{}", adm.generation);
        let mut seen = self.seen();
        seen.mark_unclean()?;
        let r = (
            &self.pages,
            &self.hits,
            &self.frontier,
            &self.hosts,
            &self.meta,
        )
            .transaction(|(pages, hits, frontier, hosts, meta)| {
                let mut out = CommitOutcome::default();
                for h in &c.hits {
                    let key = hex::decode(&h.id).unwrap_or_default();
                    let mut h = h.clone();
                    if let Some(old) = hits.get(&key)? {
                        if let Ok(old) = serde_json::from_slice::<StoredHit>(&old) {
                            h.first_seen = old.first_seen;
                            h.status = old.status;
                            // a site-wide hit (the operator) read on another
                            // page now: it leaves the page that had it, so
                            // that every hit is on exactly one page
                            if old.url != c.page.url
                                && let Some(v) = pages.get(old.url.as_bytes())?
                                && let Ok(mut p) = serde_json::from_slice::<PageRecord>(&v)
                                && p.hit_ids.contains(&h.id)
                            {
                                p.hit_ids.retain(|id| *id != h.id);
                                pages.insert(old.url.as_bytes(), ser(&p))?;
                            }
                        }
                        out.seen_again += 1;
                    } else {
                        out.new_hits += 1;
                    }
                    hits.insert(key, ser(&h))?;
                }
                let previous_generation = match pages.get(page_key)? {
                    Some(v) => serde_json::from_slice::<Generation>(&v)
                        .ok()
                        .map(|g| g.generation),
                    None => None,
                };
                pages.insert(page_key, ser(&c.page))?;
                let mut adm_run = Admitter::new(adm, &seen);
                adm_run.mark_done(&c.page.url);
                for u in &c.also_done {
                    adm_run.mark_done(u);
                }
                let removed = frontier.remove(c.frontier_key.as_slice())?.is_some();
                // a page fetched again within its generation (`enqueue_again`)
                // was counted done the first time
                if previous_generation != Some(adm.generation) {
                    let n = counter(meta.get(&done_key)?) + 1;
                    meta.insert(done_key.as_bytes(), &n.to_be_bytes())?;
                }
                for l in &c.links {
                    adm_run.admit(hosts, l, &mut out)?;
                }
                let marks = adm_run.finish(frontier, hosts, meta, removed as u64)?;
                Ok((out, marks))
            });
        let (out, marks) = txn_result(r)?;
        apply_marks(&mut seen, marks)?;
        // concurrent commits share the flush below
        drop(seen);
        reclaim(c.hits.len() + out.queued_hosts.len() + 4);
        // Durable before the page counts as done: a crash after this point
        // never makes the crawler fetch the page again. Concurrent commits
        // share one sled flush, so the cost is per batch, not per page.
        self.db.flush()?;
        Ok(out)
    }

    /// Every stored page, in URL order.
    pub fn pages_iter(&self) -> impl Iterator<Item = Result<PageRecord>> + '_ {
        self.pages.iter().map(|kv| {
            let (k, v) = kv?;
            de(&k, &v).map(PageRecord::upgraded)
        })
    }

    /// Every stored hit, in id order.
    pub fn hits_iter(&self) -> impl Iterator<Item = Result<StoredHit>> + '_ {
        self.hits.iter().map(|kv| {
            let (k, v) = kv?;
            de(&k, &v)
        })
    }
}

fn txn_result<T>(r: std::result::Result<T, TransactionError<StoreError>>) -> Result<T> {
    r.map_err(|e| match e {
        TransactionError::Abort(e) => e,
        TransactionError::Storage(e) => StoreError::Sled(e),
    })
}

const QUEUED_KEY: &[u8] = b"queued";
/// The seen set's file, in the database directory.
const SEEN_FILE: &str = "seen.tbl";
const SEEN_TAG_KEY: &[u8] = b"seen_tag";

/// A random tag kept under `key` in `tree`, made (and flushed) on first
/// use: a table file ([`table::FpTable`]) is believed only by the database
/// carrying its tag.
pub(crate) fn table_tag(db: &sled::Db, tree: &sled::Tree, key: &[u8]) -> sled::Result<[u8; 16]> {
    if let Some(v) = tree.get(key)?
        && let Ok(tag) = <[u8; 16]>::try_from(v.as_ref())
    {
        return Ok(tag);
    }
    let mut h = Sha256::new();
    h.update(db.generate_id()?.to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(t.as_nanos().to_le_bytes());
    let mut tag = [0u8; 16];
    tag.copy_from_slice(&h.finalize()[..16]);
    tree.insert(key, &tag)?;
    db.flush()?;
    Ok(tag)
}

/// A frontier value: one entry (JSON object), or a chunk of a page's links
/// to one host (a JSON array, zstd-compressed: the URLs of one page share
/// most of their bytes, and fewer bytes make every sled write cheaper).
enum Queued {
    One(FrontierEntry),
    Chunk(Vec<FrontierEntry>),
}

const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

fn encode_chunk(entries: &[FrontierEntry]) -> Vec<u8> {
    let json = ser(&entries);
    zstd::encode_all(json.as_slice(), 1).unwrap_or(json)
}

fn decode_frontier(key: &[u8], v: &[u8]) -> Result<Queued> {
    if v.starts_with(&ZSTD_MAGIC) {
        let json = zstd::decode_all(v).map_err(|e| corrupt(key, e))?;
        return de(key, &json).map(Queued::Chunk);
    }
    match v.first() {
        Some(b'[') => de(key, v).map(Queued::Chunk),
        _ => de(key, v).map(Queued::One),
    }
}

type TxResult<T> = std::result::Result<T, ConflictableTransactionError<StoreError>>;

/// Seen-set changes of one commit: fingerprint → (generation, state).
type Marks = HashMap<u64, (u32, SeenState)>;

/// Writes a commit's seen-set changes once sled has taken the commit (a
/// transaction can run its closure more than once; the table is written
/// only with what was committed).
fn apply_marks(seen: &mut SeenTable, marks: Marks) -> Result<()> {
    for (fp, (generation, state)) in marks {
        seen.set(fp, generation, state)?;
    }
    Ok(())
}

/// The generation of a stored page record, read without the rest.
#[derive(Deserialize)]
struct Generation {
    #[serde(default)]
    generation: u32,
}

/// Link admission inside one transaction. Reads and writes are gathered so
/// that each counter and host chunk is read and written once per
/// transaction, not once per link; seen-set changes are returned to be
/// written after the commit.
struct Admitter<'a> {
    adm: Admission,
    seen: &'a SeenTable,
    marks: Marks,
    /// `budget` and `qv` counters: key → (count, changed).
    counters: HashMap<Vec<u8>, (u64, bool)>,
    /// New entries per host, in order of arrival.
    chunks: Vec<(String, Vec<FrontierEntry>)>,
    admitted: u64,
    /// Admit URLs done in this generation again, outside the budgets
    /// ([`Store::enqueue_again`]).
    again: bool,
}

impl<'a> Admitter<'a> {
    fn new(adm: Admission, seen: &'a SeenTable) -> Admitter<'a> {
        Admitter {
            adm,
            seen,
            marks: Default::default(),
            counters: Default::default(),
            chunks: Vec::new(),
            admitted: 0,
            again: false,
        }
    }

    /// The seen-set entry of `fp`, with this commit's changes.
    fn seen(&self, fp: u64) -> TxResult<Option<(u32, SeenState)>> {
        match self.marks.get(&fp) {
            Some(m) => Ok(Some(*m)),
            None => self
                .seen
                .get(fp)
                .map_err(|e| ConflictableTransactionError::Abort(e.into())),
        }
    }

    fn counter(&mut self, hosts: &TransactionalTree, key: Vec<u8>) -> TxResult<&mut (u64, bool)> {
        Ok(match self.counters.entry(key) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => {
                let n = counter(hosts.get(e.key())?);
                e.insert((n, false))
            }
        })
    }

    fn mark_done(&mut self, url: &str) {
        self.marks
            .insert(fingerprint(url), (self.adm.generation, SeenState::Done));
    }

    /// Admits one link: skipped if seen in this generation, refused over
    /// the per-host budget or the query-variant cap.
    fn admit(
        &mut self,
        hosts: &TransactionalTree,
        l: &NewLink,
        out: &mut CommitOutcome,
    ) -> TxResult<()> {
        let adm = self.adm;
        let fp = fingerprint(&l.entry.url);
        if let Some((g, state)) = self.seen(fp)?
            && g == adm.generation
            && !(self.again && state == SeenState::Done)
        {
            return Ok(());
        }
        if self.again {
            self.marks.insert(fp, (adm.generation, SeenState::Queued));
            self.push(l, out);
            return Ok(());
        }
        let budget_key = format!("budget\0{}\0{}", adm.generation, l.host).into_bytes();
        if self.counter(hosts, budget_key.clone())?.0 >= adm.per_host_budget {
            out.refused += 1;
            return Ok(());
        }
        if let Some(qp) = &l.query_path {
            let qv = self.counter(hosts, format!("qv\0{}\0{qp}", adm.generation).into_bytes())?;
            if qv.0 >= adm.max_query_variants {
                out.refused += 1;
                return Ok(());
            }
            *qv = (qv.0 + 1, true);
        }
        let budget = self.counter(hosts, budget_key)?;
        *budget = (budget.0 + 1, true);
        self.marks.insert(fp, (adm.generation, SeenState::Queued));
        self.push(l, out);
        Ok(())
    }

    /// Queues an admitted link in its host's chunk.
    fn push(&mut self, l: &NewLink, out: &mut CommitOutcome) {
        match self.chunks.iter_mut().find(|(h, _)| *h == l.host) {
            Some((_, c)) => c.push(l.entry.clone()),
            None => self.chunks.push((l.host.clone(), vec![l.entry.clone()])),
        }
        self.admitted += 1;
        out.queued_hosts.push(l.host.clone());
    }

    /// Writes what was gathered into sled and returns the seen-set changes;
    /// `removed` frontier entries were taken out by the caller.
    fn finish(
        self,
        frontier: &TransactionalTree,
        hosts: &TransactionalTree,
        meta: &TransactionalTree,
        removed: u64,
    ) -> TxResult<Marks> {
        for (k, (n, changed)) in self.counters {
            if changed {
                hosts.insert(k, &n.to_be_bytes())?;
            }
        }
        for (host, entries) in &self.chunks {
            let key = frontier_key(host, frontier.generate_id()?);
            match entries.as_slice() {
                [one] => frontier.insert(key, ser(one))?,
                many => frontier.insert(key, encode_chunk(many))?,
            };
        }
        if self.admitted != removed {
            let n = (counter(meta.get(QUEUED_KEY)?) + self.admitted).saturating_sub(removed);
            meta.insert(QUEUED_KEY, &n.to_be_bytes())?;
        }
        Ok(self.marks)
    }
}

/// Opens a database again in a test, waiting while a handle of this
/// process that was just dropped still holds the directory's lock: sled lets
/// its background threads go a moment after the last handle (one process per
/// database never meets this outside tests).
#[cfg(test)]
pub(crate) fn open_again<T, E: std::fmt::Debug>(open: impl Fn() -> std::result::Result<T, E>) -> T {
    for _ in 0..200 {
        if let Ok(t) = open() {
            return t;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    open().expect("database opens again")
}

/// The names of the files in `dir` that `keep` accepts, sorted (tests look
/// at what a store left on disk).
#[cfg(test)]
pub(crate) fn file_names(dir: &Path, keep: impl Fn(&str) -> bool) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| keep(n))
        .collect();
    names.sort();
    names
}

/// `YYYY-MM-DDTHH:MM:SSZ` (UTC) for a Unix time; sorts as text in time order.
/// (Stored form; commands show times in the reader's zone, see `crate::time`.)
pub fn rfc3339(unix_secs: u64) -> String {
    crate::time::from_unix(unix_secs)
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    rfc3339(unix_now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        (dir, s)
    }

    fn link(host: &str, url: &str) -> NewLink {
        NewLink {
            host: host.into(),
            entry: FrontierEntry {
                url: url.into(),
                depth: 0,
                attempts: 0,
                hops: 0,
                via: None,
            },
            query_path: None,
        }
    }

    fn bare_commit(frontier_key: Vec<u8>, url: &str) -> PageCommit {
        PageCommit {
            frontier_key,
            page: PageRecord {
                status: Some(200),
                ..PageRecord::blank(url, "a", PageState::Fetched, 0, 1)
            },
            also_done: vec![],
            hits: vec![],
            links: vec![],
        }
    }

    const ADM: Admission = Admission {
        generation: 1,
        per_host_budget: 100,
        max_query_variants: 100,
    };

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
    }

    #[test]
    fn enqueue_dedups_and_frontier_is_per_host() {
        let (_d, s) = store();
        let out = s
            .enqueue(
                &[
                    link("a", "http://a/1"),
                    link("b", "http://b/1"),
                    link("a", "http://a/1"),
                ],
                ADM,
            )
            .unwrap();
        assert_eq!(out.queued_hosts, ["a", "b"]);
        assert_eq!(s.frontier_hosts().unwrap(), ["a", "b"]);
        let (k, e) = s.next_in_frontier("a", None).unwrap().unwrap();
        assert_eq!(e.url, "http://a/1");
        assert!(s.next_in_frontier("a", Some(&k)).unwrap().is_none());
        assert_eq!(
            s.seen_state("http://a/1", 1).unwrap(),
            Some(SeenState::Queued)
        );
    }

    #[test]
    fn per_host_budget_refuses_extra_links() {
        let (_d, s) = store();
        let adm = Admission {
            per_host_budget: 2,
            ..ADM
        };
        let out = s
            .enqueue(
                &[
                    link("a", "http://a/1"),
                    link("a", "http://a/2"),
                    link("a", "http://a/3"),
                ],
                adm,
            )
            .unwrap();
        assert_eq!(out.queued_hosts.len(), 2);
        assert_eq!(out.refused, 1);
    }

    #[test]
    fn a_page_enqueued_again_is_fetched_once_more_and_counted_done_once() {
        let (_d, s) = store();
        let adm = Admission {
            per_host_budget: 1,
            ..ADM
        };
        s.enqueue(&[link("a", "http://a/1")], adm).unwrap();
        let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
        s.commit_page(&bare_commit(key, "http://a/1"), adm).unwrap();
        assert_eq!(s.done_count(1).unwrap(), 1);
        // an ordinary admission skips it: done in this generation
        assert!(
            s.enqueue(&[link("a", "http://a/1")], adm)
                .unwrap()
                .queued_hosts
                .is_empty()
        );
        // again: queued once (the host's budget of 1 is spent, and not
        // counted), in the same generation
        let out = s
            .enqueue_again(&[link("a", "http://a/1"), link("a", "http://a/1")], adm)
            .unwrap();
        assert_eq!(out.queued_hosts, ["a"]);
        assert_eq!(s.frontier_len().unwrap(), 1);
        assert_eq!(
            s.seen_state("http://a/1", 1).unwrap(),
            Some(SeenState::Queued)
        );
        let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
        s.commit_page(&bare_commit(key, "http://a/1"), adm).unwrap();
        assert_eq!(s.done_count(1).unwrap(), 1, "done once in generation 1");
        assert_eq!(s.frontier_len().unwrap(), 0);
        assert_eq!(s.generation().unwrap(), 0, "no generation started");
        // a page of an earlier generation fetched again counts in this one
        let adm2 = Admission {
            generation: 2,
            ..adm
        };
        s.enqueue_again(&[link("a", "http://a/1")], adm2).unwrap();
        let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
        let mut c = bare_commit(key, "http://a/1");
        c.page.generation = 2;
        s.commit_page(&c, adm2).unwrap();
        assert_eq!(s.done_count(2).unwrap(), 1);
    }

    #[test]
    fn commit_is_idempotent_for_hits_and_marks_done() {
        let (_d, s) = store();
        s.enqueue(&[link("a", "http://a/1")], ADM).unwrap();
        let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
        let hit = StoredHit {
            id: "00112233aabbccdd".into(),
            url: "http://a/1".into(),
            host: "a".into(),
            status: HIT_STATUS_NEW.into(),
            rule: RuleId("page.x".into()),
            category: Category::FundPool,
            severity: Severity::High,
            field: Field::Page,
            term: "资金池".into(),
            matched: "资金池".into(),
            start: 1,
            end: 10,
            snippet: "资金池".into(),
            basis: "b".into(),
            normalizations: vec![],
            annual_rate: None,
            repeats: 0,
            sha256: None,
            first_seen: "2020-01-01T00:00:00Z".into(),
            last_seen: "2020-01-01T00:00:00Z".into(),
        };
        let mut c = bare_commit(key, "http://a/1");
        c.page.hit_ids = vec![hit.id.clone()];
        c.hits = vec![hit.clone()];
        c.links = vec![link("a", "http://a/1"), link("a", "http://a/2")];
        let out = s.commit_page(&c, ADM).unwrap();
        assert_eq!(
            (out.new_hits, out.seen_again, out.queued_hosts.len()),
            (1, 0, 1)
        );
        c.hits[0].first_seen = "2021-01-01T00:00:00Z".into();
        c.hits[0].last_seen = "2021-01-01T00:00:00Z".into();
        let out = s.commit_page(&c, ADM).unwrap();
        assert_eq!((out.new_hits, out.seen_again), (0, 1));
        let hits: Vec<StoredHit> = s.hits_iter().map(|h| h.unwrap()).collect();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].first_seen, "2020-01-01T00:00:00Z");
        assert_eq!(hits[0].last_seen, "2021-01-01T00:00:00Z");
        assert_eq!(
            s.seen_state("http://a/1", 1).unwrap(),
            Some(SeenState::Done)
        );
        // the page was done once in this generation
        assert_eq!(s.done_count(1).unwrap(), 1);
    }

    #[test]
    fn outlinks_are_one_chunk_per_host_taken_apart_in_order() {
        let (_d, s) = store();
        s.enqueue(&[link("a", "http://a/")], ADM).unwrap();
        let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
        let mut c = bare_commit(key, "http://a/");
        c.links = (1..=5)
            .map(|i| link("a", &format!("http://a/{i}")))
            .chain([link("b", "http://b/1"), link("a", "http://a/1")])
            .collect();
        let out = s.commit_page(&c, ADM).unwrap();
        assert_eq!(
            out.queued_hosts.len(),
            6,
            "the repeated link is not queued twice"
        );
        // one key for a's five links, one for b's
        assert_eq!(s.frontier.len(), 2);
        assert_eq!(s.frontier_len().unwrap(), 6);
        assert_eq!(s.peek_frontier("a").unwrap().unwrap().url, "http://a/1");
        let mut cursor: Option<Vec<u8>> = None;
        let mut urls = Vec::new();
        while let Some((k, e)) = s.next_in_frontier("a", cursor.as_deref()).unwrap() {
            urls.push(e.url);
            cursor = Some(k);
        }
        assert_eq!(
            urls,
            [
                "http://a/1",
                "http://a/2",
                "http://a/3",
                "http://a/4",
                "http://a/5"
            ]
        );
        // taking the chunk apart neither loses nor adds queued URLs
        assert_eq!(s.frontier.len(), 6);
        assert_eq!(s.frontier_len().unwrap(), 6);
        let done = bare_commit(cursor.unwrap(), "http://a/5");
        s.commit_page(&done, ADM).unwrap();
        assert_eq!(s.frontier_len().unwrap(), 5);
        assert_eq!(
            s.seen_state("http://a/5", 1).unwrap(),
            Some(SeenState::Done)
        );
        assert_eq!(
            s.seen_state("http://a/4", 1).unwrap(),
            Some(SeenState::Queued)
        );
        assert_eq!(s.seen_state("http://a/4", 2).unwrap(), None);
        assert_eq!(s.seen_state("http://a/9", 1).unwrap(), None);
    }

    #[test]
    fn queued_count_is_rebuilt_when_missing() {
        let (_d, s) = store();
        s.enqueue(&[link("a", "http://a/")], ADM).unwrap();
        let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
        let mut c = bare_commit(key, "http://a/");
        c.links = vec![link("a", "http://a/1"), link("a", "http://a/2")];
        s.commit_page(&c, ADM).unwrap();
        s.meta.remove(QUEUED_KEY).unwrap();
        assert_eq!(s.frontier_len().unwrap(), 2);
    }

    #[test]
    fn the_seen_set_dedups_many_urls() {
        let (_d, s) = store();
        let links: Vec<NewLink> = (0..100_000)
            .map(|i| link("a", &format!("http://a/{i}")))
            .collect();
        let adm = Admission {
            per_host_budget: u64::MAX,
            ..ADM
        };
        assert_eq!(s.enqueue(&links, adm).unwrap().queued_hosts.len(), 100_000);
        assert_eq!(s.enqueue(&links, adm).unwrap().queued_hosts.len(), 0);
        assert_eq!(s.seen().len(), 100_000);
        assert_eq!(s.frontier_len().unwrap(), 100_000);
    }

    /// Which of these URLs the store has seen in generation 1.
    fn seen_in_1(s: &Store, urls: &[&str]) -> Vec<Option<SeenState>> {
        urls.iter().map(|u| s.seen_state(u, 1).unwrap()).collect()
    }

    #[test]
    fn after_a_crash_the_seen_set_is_rebuilt_from_pages_and_frontier() {
        let dir = tempfile::tempdir().unwrap();
        let urls = [
            "http://a/",
            "http://a/old",
            "http://a/new",
            "http://a/2",
            "http://a/3",
        ];
        let before = {
            let s = Store::open(dir.path()).unwrap();
            s.meta.insert("generation", &1u32.to_be_bytes()).unwrap();
            s.enqueue(&[link("a", "http://a/")], ADM).unwrap();
            let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
            // the page redirected old → new, and links to 2 and 3
            let mut c = bare_commit(key, "http://a/");
            c.page.redirects = vec!["http://a/".into(), "http://a/old".into()];
            c.page.final_url = "http://a/new".into();
            c.also_done = vec!["http://a/old".into(), "http://a/new".into()];
            c.links = vec![link("a", "http://a/2"), link("a", "http://a/3")];
            s.commit_page(&c, ADM).unwrap();
            seen_in_1(&s, &urls)
            // dropped without Store::flush: as after SIGKILL
        };
        assert_eq!(
            before,
            [
                Some(SeenState::Done),
                Some(SeenState::Done),
                Some(SeenState::Done),
                Some(SeenState::Queued),
                Some(SeenState::Queued)
            ]
        );
        let s = open_again(|| Store::open(dir.path()));
        assert_eq!(seen_in_1(&s, &urls), before);
        assert_eq!(s.seen_state("http://a/4", 1).unwrap(), None);
        let out = s
            .enqueue(&[link("a", "http://a/2"), link("a", "http://a/4")], ADM)
            .unwrap();
        assert_eq!(out.queued_hosts.len(), 1, "only the new link is queued");
        drop(s);

        // a lost file is rebuilt too
        std::fs::remove_file(dir.path().join(SEEN_FILE)).unwrap();
        let s = open_again(|| Store::open(dir.path()));
        assert_eq!(seen_in_1(&s, &urls), before);
        assert_eq!(
            s.seen_state("http://a/4", 1).unwrap(),
            Some(SeenState::Queued)
        );
    }

    #[test]
    fn a_rebuild_does_not_take_a_redirects_target_for_done() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.enqueue(&[link("a", "http://a/r")], ADM).unwrap();
            let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
            // a cross-host redirect the per-host budget refused to queue
            let mut c = bare_commit(key, "http://a/r");
            c.page.state = PageState::Redirect;
            c.page.final_url = "http://b/x".into();
            s.commit_page(&c, ADM).unwrap();
            assert_eq!(s.seen_state("http://b/x", 1).unwrap(), None);
        }
        let s = open_again(|| Store::open(dir.path()));
        assert_eq!(
            s.seen_state("http://a/r", 1).unwrap(),
            Some(SeenState::Done)
        );
        assert_eq!(s.seen_state("http://b/x", 1).unwrap(), None);
    }

    #[test]
    fn a_clean_seen_set_is_believed_without_a_rebuild() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.enqueue(&[link("a", "http://a/1")], ADM).unwrap();
            s.flush().unwrap();
            // behind the seen set's back: a rebuild would forget a/1
            s.frontier.clear().unwrap();
            s.db.flush().unwrap();
        }
        let s = open_again(|| Store::open(dir.path()));
        assert_eq!(
            s.seen_state("http://a/1", 1).unwrap(),
            Some(SeenState::Queued)
        );
    }

    #[test]
    fn seen_trees_of_earlier_versions_are_replaced() {
        let dir = tempfile::tempdir().unwrap();
        {
            let s = Store::open(dir.path()).unwrap();
            s.meta.insert("generation", &1u32.to_be_bytes()).unwrap();
            s.enqueue(&[link("a", "http://a/1")], ADM).unwrap();
            let (key, _) = s.next_in_frontier("a", None).unwrap().unwrap();
            s.commit_page(&bare_commit(key, "http://a/1"), ADM).unwrap();
            s.enqueue(&[link("a", "http://a/2")], ADM).unwrap();
            s.db.open_tree("seen")
                .unwrap()
                .insert("http://a/1", &[0, 0, 0, 1, 1])
                .unwrap();
            s.db.open_tree("seen_fp")
                .unwrap()
                .insert([0u8, 1], &[0u8; 13])
                .unwrap();
            s.db.flush().unwrap();
        }
        std::fs::remove_file(dir.path().join(SEEN_FILE)).unwrap();
        let s = open_again(|| Store::open(dir.path()));
        assert_eq!(
            seen_in_1(&s, &["http://a/1", "http://a/2"]),
            [Some(SeenState::Done), Some(SeenState::Queued)]
        );
        let names = s.db.tree_names();
        assert!(
            !names
                .iter()
                .any(|n| n.as_ref() == b"seen" || n.as_ref() == b"seen_fp")
        );
    }

    #[test]
    fn bodies_are_content_addressed() {
        let (_d, s) = store();
        let a = s.put_body("保本保息".as_bytes()).unwrap();
        assert_eq!(a, s.put_body("保本保息".as_bytes()).unwrap());
        assert_eq!(s.body(&a).unwrap().unwrap(), "保本保息".as_bytes());
        assert_eq!(s.bodies.len(), 1);
    }

    fn snapshot_files(dir: &Path) -> Vec<String> {
        file_names(dir, |n| n.starts_with("snap."))
    }

    fn value(i: u32) -> Vec<u8> {
        format!("{i:06}:{}", "保本保息".repeat(40)).into_bytes()
    }

    /// A store whose tree `checkpoint_test` holds `value(i)` for 20,000
    /// keys: megabytes of log since its first snapshot.
    fn written_store() -> (tempfile::TempDir, Store, sled::Tree) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let t = s.db().open_tree("checkpoint_test").unwrap();
        for i in 0..20_000u32 {
            t.insert(i.to_be_bytes(), value(i)).unwrap();
        }
        (dir, s, t)
    }

    #[test]
    fn a_checkpoint_leaves_the_next_open_nothing_to_replay() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let t = s.db().open_tree("checkpoint_test").unwrap();
        // a little is left for the next open to replay
        t.insert(b"small", b"x").unwrap();
        assert!(!s.wrote_much());
        drop(t);
        assert!(!s.close().unwrap());
        let before = snapshot_files(dir.path());
        // enough that the next open would replay megabytes of log
        let s = open_again(|| Store::open(dir.path()));
        let t = s.db().open_tree("checkpoint_test").unwrap();
        for i in 0..20_000u32 {
            t.insert(i.to_be_bytes(), value(i)).unwrap();
        }
        assert!(s.wrote_much());
        drop(t);
        assert!(s.close().unwrap());
        let snapshot = snapshot_files(dir.path());
        assert_eq!(snapshot.len(), 1, "{snapshot:?}");
        assert_ne!(snapshot, before);

        // the next open starts from that snapshot and writes none of its own
        let s = open_again(|| Store::open(dir.path()));
        assert_eq!(snapshot_files(dir.path()), snapshot);
        assert!(s.db().log_since_snapshot() < 64 * 1024);
        let t = s.db().open_tree("checkpoint_test").unwrap();
        assert_eq!(t.len(), 20_001);
        assert_eq!(&*t.get(b"small").unwrap().unwrap(), b"x");
        for i in (0..20_000u32).step_by(997) {
            assert_eq!(t.get(i.to_be_bytes()).unwrap().unwrap(), value(i));
        }
    }

    #[test]
    fn writes_after_a_checkpoint_are_recovered_with_those_before() {
        let (dir, s, t) = written_store();
        drop(t);
        assert!(s.close().unwrap());
        // the next process goes on writing: changes, removals and new keys,
        // and a transaction as the desk writes; its close checkpoints again
        let s = open_again(|| Store::open(dir.path()));
        let t = s.db().open_tree("checkpoint_test").unwrap();
        for i in (0..20_000u32).step_by(3) {
            t.insert(i.to_be_bytes(), value(i + 1)).unwrap();
        }
        for i in (1..20_000u32).step_by(3) {
            t.remove(i.to_be_bytes()).unwrap();
        }
        t.transaction(|tx| {
            tx.insert(&b"tx"[..], &b"committed"[..])?;
            Ok::<_, sled::transaction::ConflictableTransactionError<()>>(())
        })
        .unwrap();
        drop(t);
        assert!(s.close().unwrap());
        // and the one after that writes a little and stops without one
        let s = open_again(|| Store::open(dir.path()));
        let t = s.db().open_tree("checkpoint_test").unwrap();
        for i in 20_000..20_100u32 {
            t.insert(i.to_be_bytes(), value(i)).unwrap();
        }
        drop(t);
        assert!(!s.close().unwrap());

        let s = open_again(|| Store::open(dir.path()));
        let t = s.db().open_tree("checkpoint_test").unwrap();
        for i in 0..20_100u32 {
            let got = t.get(i.to_be_bytes()).unwrap();
            let want = match i {
                20_000.. => Some(value(i)),
                _ if i % 3 == 0 => Some(value(i + 1)),
                _ if i % 3 == 1 => None,
                _ => Some(value(i)),
            };
            assert_eq!(got.as_deref(), want.as_deref(), "key {i}");
        }
        assert_eq!(&*t.get(b"tx").unwrap().unwrap(), b"committed");
    }

    #[test]
    fn a_tree_still_held_keeps_the_checkpoint_from_running() {
        let (dir, s, t) = written_store();
        let checkpoint = s.db().checkpoint_on_close();
        let before = snapshot_files(dir.path());
        drop(s);
        // `t` still holds the database: the checkpoint gives up, and writes
        // nothing while sled may still write
        let wait = std::time::Duration::from_millis(50);
        assert!(!checkpoint.write(wait).unwrap());
        assert_eq!(snapshot_files(dir.path()), before);
        assert_eq!(t.get(7u32.to_be_bytes()).unwrap().unwrap(), value(7));
    }

    /// A store whose tree `cleaning_test` had its 20,000 keys rewritten six
    /// times by a self-cleaning writer, to `value(i + 5)`: the segments
    /// written first became garbage. Returns how many pages were moved.
    fn rewritten_store() -> (tempfile::TempDir, Store, sled::Tree, usize) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let t = s.db().open_tree("cleaning_test").unwrap();
        let cleaning = SelfCleaning::new(s.db());
        let mut moved = 0;
        for round in 0..6u32 {
            for i in 0..20_000u32 {
                t.insert(i.to_be_bytes(), value(i + round)).unwrap();
            }
            s.flush().unwrap();
            moved += cleaning
                .after_write(std::time::Duration::from_secs(2))
                .unwrap();
        }
        drop(cleaning);
        (dir, s, t, moved)
    }

    #[test]
    fn a_self_cleaning_writer_moves_pages_and_loses_none() {
        let (dir, s, t, moved) = rewritten_store();
        assert!(moved > 0, "no page moved");
        drop(t);
        s.close().unwrap();
        let s = open_again(|| Store::open(dir.path()));
        let t = s.db().open_tree("cleaning_test").unwrap();
        assert_eq!(t.len(), 20_000);
        for i in 0..20_000u32 {
            assert_eq!(
                t.get(i.to_be_bytes()).unwrap().unwrap(),
                value(i + 5),
                "key {i}"
            );
        }
    }

    /// The segments of sled's file whose first 4 KiB hold its fill (0),
    /// by index. sled's segments are 512 KiB.
    fn filled_segments(dir: &Path) -> std::collections::BTreeSet<u64> {
        use std::io::{Read, Seek, SeekFrom};
        const SEGMENT: u64 = 512 * 1024;
        let mut f = std::fs::File::open(dir.join("db")).unwrap();
        let len = f.metadata().unwrap().len();
        let mut head = [0u8; 4096];
        (0..len / SEGMENT)
            .filter(|i| {
                f.seek(SeekFrom::Start(i * SEGMENT)).unwrap();
                f.read_exact(&mut head).unwrap();
                head.iter().all(|b| *b == 0)
            })
            .collect()
    }

    #[test]
    fn the_checkpoint_fills_the_segments_the_next_open_would() {
        let (dir, s, t, _) = rewritten_store();
        drop(t);
        let before = filled_segments(dir.path());
        assert!(s.close().unwrap());
        let closed = filled_segments(dir.path());
        assert!(
            closed.is_superset(&before) && closed.len() > before.len(),
            "the cleaning freed segments and the checkpoint filled them: {} then {}",
            before.len(),
            closed.len()
        );
        // the next open finds nothing more to fill
        let s = open_again(|| Store::open(dir.path()));
        assert!(filled_segments(dir.path()).is_subset(&closed));
        let t = s.db().open_tree("cleaning_test").unwrap();
        assert_eq!(t.get(7u32.to_be_bytes()).unwrap().unwrap(), value(12));
    }
}
