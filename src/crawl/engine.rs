//! The scheduler: one async loop owns all per-host state and decides what to
//! fetch next; fetches run as tasks; decoding, scanning and the store
//! transaction run on the blocking pool.
//!
//! Politeness is enforced in one place, [`Scheduler::dispatch`], and every
//! request (robots.txt included) passes through it: a host gets a request
//! only when its `governor` limiter has a cell, its `not_before` (Crawl-delay
//! floor, jitter, `Retry-After`, error backoff) has passed, and it has fewer
//! than `host_concurrency` requests in flight. Errors only ever push
//! `not_before` later, so a failing host is never fetched faster.
//!
//! Memory holds one small [`HostState`] per host with queued URLs and the
//! in-flight requests; the queue itself stays in sled and is read one entry
//! at a time, so memory does not grow with the frontier.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use rand::Rng;
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tracing::{debug, info, warn};
use url::Url;

use super::extract;
use super::fetch::{self, FetchConfig, FetchError, Fetched};
use super::robots::{self, Robots};
use super::urls::{self, Scope, host_key};
use crate::store::{
    Admission, FrontierEntry, NewLink, PageCommit, PageRecord, PageState, RobotsRecord, Store,
    StoreError, StoredHit,
};
use crate::{DocKind, Field, Scanner};

/// Redirects followed for one page (RFC 9110 suggests 5; browsers allow 20).
pub const MAX_REDIRECTS: u32 = 10;
/// Hits kept per page: a hostile page repeating a phrase a million times
/// must not flood the database; a reviewer needs the first few hundred.
pub const MAX_HITS_PER_PAGE: usize = 500;
/// A cached robots.txt is trusted this long.
const ROBOTS_TTL_SECS: u64 = 24 * 3600;
/// Longest wait a server can ask for with Retry-After before the host is
/// given up for this run (its URLs stay queued for the next).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(600);
/// Ceiling of the exponential error backoff.
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Failed robots.txt fetches (5xx, network) before the host is given up.
const ROBOTS_ATTEMPTS: u32 = 3;

/// Everything a crawl needs besides the database and the scanner.
#[derive(Debug, Clone)]
pub struct CrawlConfig {
    pub seeds: Vec<Url>,
    /// Stop after this many pages are done in the current generation.
    pub max_pages: Option<u64>,
    pub max_depth: u32,
    /// Requests per second per host; 0 turns the limiter off (benchmarks).
    pub rate_per_host: f64,
    /// Requests in flight per host.
    pub host_concurrency: usize,
    /// Requests in flight in total.
    pub concurrency: usize,
    pub fetch: FetchConfig,
    pub include: Vec<regex::Regex>,
    pub exclude: Vec<regex::Regex>,
    /// URLs admitted per host per generation.
    pub per_host_budget: u64,
    /// Distinct query strings admitted per path (calendar and filter traps).
    pub max_query_variants: u64,
    /// Attempts per URL before it is recorded as failed.
    pub max_attempts: u32,
    /// Consecutive failures after which a host is given up for this run.
    pub breaker_threshold: u32,
    /// First error backoff; doubles with each consecutive failure.
    pub backoff_base: Duration,
    /// Start a new generation: fetch again pages done in earlier crawls,
    /// with conditional requests.
    pub recrawl: bool,
    /// Fetch the seeds once more within the current generation, also those
    /// done in it, without changing the crawl's stored scope (`finscan
    /// recheck`): a later crawl then resumes or reruns exactly as it would
    /// have. Takes precedence over `recrawl`; links are followed only as
    /// `max_depth` allows (0: none).
    pub refetch: bool,
    /// Registry pages to read company records from (`--profile`).
    pub registry: Option<Arc<crate::registry::PageProfile>>,
}

impl Default for CrawlConfig {
    fn default() -> Self {
        CrawlConfig {
            seeds: Vec::new(),
            max_pages: None,
            max_depth: 16,
            rate_per_host: 1.0,
            host_concurrency: 1,
            concurrency: 16,
            fetch: FetchConfig {
                user_agent: super::DEFAULT_USER_AGENT.to_owned(),
                connect_timeout: Duration::from_secs(10),
                timeout: Duration::from_secs(30),
                max_body: fetch::DEFAULT_MAX_BODY,
                allow_private: false,
                resolve: Default::default(),
            },
            include: Vec::new(),
            exclude: Vec::new(),
            per_host_budget: 100_000,
            max_query_variants: 100,
            max_attempts: 3,
            breaker_threshold: 5,
            backoff_base: Duration::from_secs(1),
            recrawl: false,
            refetch: false,
            registry: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CrawlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Registry(#[from] crate::registry::store::StoreError),
    #[error("HTTP client: {0}")]
    Client(#[from] reqwest::Error),
    #[error("worker: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A host the crawl stopped fetching, and why.
#[derive(Debug, Clone, Serialize)]
pub struct GivenUp {
    pub host: String,
    pub reason: String,
    /// The host's name could not be resolved (DNS): the CLI reports it
    /// once, with how to crawl without DNS.
    pub dns: bool,
}

/// What a crawl did. `--json` prints it as one object.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Responses read and scanned (200s and 304s).
    pub pages_fetched: u64,
    /// Pages recorded in this run, whatever their state.
    pub pages_done: u64,
    /// Pages of this crawl (generation) done by earlier runs: a rerun of a
    /// finished crawl has them all and nothing left to fetch.
    pub pages_done_before: u64,
    /// Pages that could not be fetched: network errors or 5xx after
    /// retries, SSRF refusals, redirect loops. Makes the run partial.
    pub pages_failed: u64,
    /// Pages answered with a 4xx status (dangling links): recorded in
    /// state `client-error`, normal on the web, so the run is not partial.
    pub pages_client_error: u64,
    /// Content types outside the allow-list, robots-disallowed, redirects.
    pub pages_skipped: u64,
    /// Hits written in this run (new ones plus ones seen again).
    pub hits: u64,
    pub new_hits: u64,
    /// Failed fetch attempts (network errors, 5xx, 429) including retried ones.
    pub errors: u64,
    pub robots_fetched: u64,
    pub bytes: u64,
    /// URLs still queued at the end.
    pub queued: u64,
    pub hosts_given_up: Vec<GivenUp>,
    pub interrupted: bool,
    pub stopped_at_max_pages: bool,
    pub elapsed_secs: f64,
    pub pages_per_sec: f64,
    pub generation: u32,
    /// Company records read from registry pages (`--profile`), and how many
    /// of them were flagged.
    pub registry_records: u64,
    pub registry_flagged: u64,
    /// Every site of the database, ranked for review (see `store::sites`).
    pub sites: Vec<crate::store::sites::SiteProfile>,
}

/// A snapshot for progress displays.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub summary: &'a Summary,
    pub in_flight: usize,
    pub queued: usize,
    pub last_url: &'a str,
}

#[derive(Debug)]
enum RobotsState {
    Unknown,
    Fetching,
    Ready(Arc<Robots>),
}

#[derive(Debug)]
struct HostState {
    /// Frontier key of the last URL handed out.
    cursor: Option<Vec<u8>>,
    in_flight: usize,
    not_before: Instant,
    /// No queued URL after `cursor` (until new links arrive).
    exhausted: bool,
    robots: RobotsState,
    robots_failures: u32,
    failures: u32,
    given_up: Option<String>,
    /// The last failure was DNS: reported once, in the summary.
    dns_failed: bool,
}

impl HostState {
    fn new(now: Instant) -> Self {
        HostState {
            cursor: None,
            in_flight: 0,
            not_before: now,
            exhausted: false,
            robots: RobotsState::Unknown,
            robots_failures: 0,
            failures: 0,
            given_up: None,
            dns_failed: false,
        }
    }
}

/// Shared by all tasks.
struct Shared {
    cfg: CrawlConfig,
    store: Store,
    scanner: Arc<Scanner>,
    client: reqwest::Client,
    scope: Scope,
    adm: Admission,
    agent_token: String,
    /// Company records of registry pages, in the same database.
    registry: Option<std::sync::Mutex<crate::registry::store::RegistryStore>>,
    registry_records: std::sync::atomic::AtomicU64,
    registry_flagged: std::sync::atomic::AtomicU64,
}

enum Event {
    Robots {
        host: String,
        result: Result<Robots, RobotsFailure>,
    },
    Page {
        host: String,
        outcome: Result<PageOutcome, CrawlError>,
    },
}

/// Why robots.txt is unavailable for now.
struct RobotsFailure {
    reason: String,
    /// The server's Retry-After, if any.
    retry_after: Option<Duration>,
    /// The host's name did not resolve.
    dns: bool,
}

enum PageOutcome {
    Done {
        url: String,
        /// The page that linked here.
        via: Option<String>,
        state: PageState,
        bytes: u64,
        new_hits: usize,
        hits: usize,
        queued_hosts: Vec<String>,
        error: Option<String>,
    },
    Retry {
        key: Vec<u8>,
        entry: FrontierEntry,
        after: Option<Duration>,
        reason: String,
        dns: bool,
    },
}

/// Crawls from `cfg.seeds` (and whatever the database still has queued)
/// until the frontier is empty, `max_pages` is reached, or `shutdown`
/// turns true. In-flight pages are finished or left queued; the store is
/// flushed before returning.
pub async fn crawl(
    cfg: CrawlConfig,
    store: Store,
    scanner: Arc<Scanner>,
    mut shutdown: watch::Receiver<bool>,
    on_progress: &(dyn Fn(&Progress) + Send + Sync),
) -> Result<Summary, CrawlError> {
    let started = Instant::now();
    let client = fetch::client(&cfg.fetch)?;
    let generation = if (cfg.recrawl && !cfg.refetch) || store.generation()? == 0 {
        store.start_generation()?
    } else {
        store.generation()?
    };
    let mut domains = if cfg.recrawl || cfg.refetch {
        Vec::new()
    } else {
        store.scope_domains()?
    };
    for s in &cfg.seeds {
        let d = urls::registrable_domain(s.host_str().unwrap_or(""));
        if !domains.contains(&d) {
            domains.push(d);
        }
    }
    if !cfg.refetch {
        store.set_scope_domains(&domains)?;
    }
    let scope = Scope {
        domains,
        include: cfg.include.clone(),
        exclude: cfg.exclude.clone(),
    };
    let adm = Admission {
        generation,
        per_host_budget: cfg.per_host_budget,
        max_query_variants: cfg.max_query_variants,
    };
    let seeds: Vec<NewLink> = cfg
        .seeds
        .iter()
        .map(|u| NewLink {
            host: host_key(u),
            entry: FrontierEntry {
                url: u.to_string(),
                depth: 0,
                attempts: 0,
                hops: 0,
                via: None,
            },
            query_path: None,
        })
        .collect();
    if cfg.refetch {
        store.enqueue_again(&seeds, adm)?;
    } else {
        store.enqueue(&seeds, adm)?;
    }
    let agent_token = robots::product_token(&cfg.fetch.user_agent).to_owned();
    let limiter = (cfg.rate_per_host > 0.0).then(|| {
        let period = Duration::from_secs_f64(1.0 / cfg.rate_per_host);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX))
            .allow_burst(NonZeroU32::MIN);
        RateLimiter::keyed(quota)
    });
    let done_before = store.done_count(generation)?;
    let registry = match &cfg.registry {
        Some(_) => Some(std::sync::Mutex::new(
            crate::registry::store::RegistryStore::from_db(store.db().clone(), store.dir())?,
        )),
        None => None,
    };
    let shared = Arc::new(Shared {
        cfg,
        store,
        scanner,
        client,
        scope,
        adm,
        agent_token,
        registry,
        registry_records: Default::default(),
        registry_flagged: Default::default(),
    });
    let mut sched = Scheduler {
        shared: shared.clone(),
        hosts: HashMap::new(),
        order: Vec::new(),
        next_host: 0,
        in_flight: 0,
        pages_in_flight: 0,
        limiter,
        summary: Summary {
            generation,
            pages_done_before: done_before,
            ..Summary::default()
        },
        done_before,
        last_url: String::new(),
        queued: shared.store.frontier_len()? as usize,
    };
    let now = Instant::now();
    for h in shared.store.frontier_hosts()? {
        sched.add_host(&h, now);
    }
    let (tx, mut rx) = mpsc::channel::<Event>(shared.cfg.concurrency.max(1) * 2);
    let mut stopping = *shutdown.borrow();
    // asked to stop before the first request: nothing is fetched, and the
    // summary says the crawl was interrupted (its seeds stay queued)
    sched.summary.interrupted = stopping;
    let mut last_progress = Instant::now();
    loop {
        let wake = if stopping { None } else { sched.dispatch(&tx)? };
        if sched.in_flight == 0 && (stopping || wake.is_none()) {
            break;
        }
        let sleep_until = wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            ev = rx.recv() => {
                if let Some(ev) = ev {
                    sched.handle(ev)?;
                }
            }
            _ = tokio::time::sleep_until(sleep_until.into()) => {}
            changed = shutdown.changed(), if !stopping => {
                if changed.is_err() || *shutdown.borrow() {
                    info!("stopping: finishing {} request(s) in flight", sched.in_flight);
                    stopping = true;
                    sched.summary.interrupted = true;
                }
            }
        }
        if last_progress.elapsed() >= Duration::from_millis(100) {
            last_progress = Instant::now();
            sched.report(on_progress, started);
        }
        if !stopping && sched.max_pages_reached() && sched.pages_in_flight == 0 {
            sched.summary.stopped_at_max_pages = true;
            break;
        }
    }
    sched.report(on_progress, started);
    let store = &shared.store;
    if let Some(reg) = &shared.registry {
        reg.lock().unwrap_or_else(|p| p.into_inner()).flush()?;
    }
    store.flush()?;
    let mut s = sched.summary;
    s.registry_records = shared
        .registry_records
        .load(std::sync::atomic::Ordering::Relaxed);
    s.registry_flagged = shared
        .registry_flagged
        .load(std::sync::atomic::Ordering::Relaxed);
    s.hosts_given_up = sched
        .order
        .iter()
        .filter_map(|h| {
            let reason = sched.hosts.get(h)?.given_up.clone()?;

            let st = sched.hosts.get(h)?;
            Some(GivenUp {
                host: h.clone(),
                reason,
                dns: st.dns_failed,
            })
        })
        .collect();
    s.queued = store.frontier_len()?;
    s.sites = store.site_profiles(|op| shared.scanner.is_licensed(op))?;
    s.elapsed_secs = started.elapsed().as_secs_f64();
    s.pages_per_sec = if s.elapsed_secs > 0.0 {
        s.pages_done as f64 / s.elapsed_secs
    } else {
        0.0
    };
    Ok(s)
}

struct Scheduler {
    shared: Arc<Shared>,
    hosts: HashMap<String, HostState>,
    /// Hosts in round-robin order.
    order: Vec<String>,
    next_host: usize,
    in_flight: usize,
    pages_in_flight: u64,
    limiter: Option<DefaultKeyedRateLimiter<String>>,
    summary: Summary,
    done_before: u64,
    last_url: String,
    /// Frontier size, kept by counting: sled's `len` walks the whole tree.
    queued: usize,
}

impl Scheduler {
    fn add_host(&mut self, host: &str, now: Instant) {
        if let Some(h) = self.hosts.get_mut(host) {
            h.exhausted = false;
            return;
        }
        let mut st = HostState::new(now);
        match self.shared.store.robots(host) {
            Ok(Some(r))
                if crate::store::unix_now().saturating_sub(r.fetched_at) < ROBOTS_TTL_SECS =>
            {
                st.robots = RobotsState::Ready(Arc::new(Robots::from_response(
                    r.status,
                    r.body.as_bytes(),
                    &self.shared.agent_token,
                )));
            }
            _ => {}
        }
        self.hosts.insert(host.to_owned(), st);
        self.order.push(host.to_owned());
    }

    fn max_pages_reached(&self) -> bool {
        self.shared
            .cfg
            .max_pages
            .is_some_and(|m| self.done_before + self.summary.pages_done + self.pages_in_flight >= m)
    }

    fn report(&self, on_progress: &(dyn Fn(&Progress) + Send + Sync), started: Instant) {
        let mut s = self.summary.clone();
        s.elapsed_secs = started.elapsed().as_secs_f64();
        s.pages_per_sec = if s.elapsed_secs > 0.0 {
            s.pages_done as f64 / s.elapsed_secs
        } else {
            0.0
        };
        on_progress(&Progress {
            summary: &s,
            in_flight: self.in_flight,
            queued: self.queued,
            last_url: &self.last_url,
        });
    }

    /// Starts every request politeness and the limits allow now. Returns
    /// when to look again, or `None` when no host has anything left to do.
    fn dispatch(&mut self, tx: &mpsc::Sender<Event>) -> Result<Option<Instant>, CrawlError> {
        loop {
            let before = self.in_flight;
            let wake = self.dispatch_round(tx)?;
            // A round starts at most one request per host: go round again
            // while hosts take more (one host and --host-concurrency 8
            // otherwise kept a single request in flight).
            if self.in_flight == before
                || self.in_flight >= self.shared.cfg.concurrency
                || self.max_pages_reached()
            {
                return Ok(wake);
            }
        }
    }

    /// One round over the hosts, starting at most one request per host.
    fn dispatch_round(&mut self, tx: &mpsc::Sender<Event>) -> Result<Option<Instant>, CrawlError> {
        let cfg = &self.shared.cfg;
        let mut wake: Option<Instant> = None;
        let mut pending = false;
        let n = self.order.len();
        for i in 0..n {
            if self.in_flight >= cfg.concurrency {
                // Full: an event will wake the loop.
                return Ok(Some(Instant::now() + Duration::from_secs(3600)));
            }
            if self.max_pages_reached() {
                return Ok((self.in_flight > 0).then(|| Instant::now() + Duration::from_secs(3600)));
            }
            let idx = (self.next_host + i) % n;
            let host = self.order[idx].clone();
            let now = Instant::now();
            let Some(st) = self.hosts.get_mut(&host) else {
                continue;
            };
            if st.given_up.is_some() || (st.exhausted && st.in_flight == 0) {
                continue;
            }
            pending = true;
            if st.exhausted
                || st.in_flight >= cfg.host_concurrency
                || matches!(st.robots, RobotsState::Fetching)
            {
                continue;
            }
            if now < st.not_before {
                wake = Some(wake.map_or(st.not_before, |w| w.min(st.not_before)));
                continue;
            }
            let next = self
                .shared
                .store
                .next_in_frontier(&host, st.cursor.as_deref())?;
            let Some((key, entry)) = next else {
                st.exhausted = true;
                continue;
            };
            if let Some(lim) = &self.limiter
                && let Err(nu) = lim.check_key(&host)
            {
                let at = now + nu.wait_time_from(DefaultClock::default().now());
                st.not_before = at;
                wake = Some(wake.map_or(at, |w| w.min(at)));
                continue;
            }
            // Floor between requests: Crawl-delay, plus jitter so that
            // several crawlers (or hosts) do not fall into lockstep.
            let period = rate_period(cfg);
            let crawl_delay = match &st.robots {
                RobotsState::Ready(r) => r.crawl_delay().unwrap_or(0.0),
                _ => 0.0,
            };
            let jitter = if period > 0.0 {
                rand::rng().random_range(0.0..0.1) * period
            } else {
                0.0
            };
            st.not_before = now + Duration::from_secs_f64(crawl_delay.max(0.0) + jitter);
            st.in_flight += 1;
            self.in_flight += 1;
            self.next_host = (idx + 1) % n;
            let shared = self.shared.clone();
            let tx = tx.clone();
            if matches!(st.robots, RobotsState::Unknown) {
                st.robots = RobotsState::Fetching;
                tokio::spawn(async move {
                    let result = fetch_robots(&shared, &host).await;
                    let _ = tx.send(Event::Robots { host, result }).await;
                });
                continue;
            }
            let RobotsState::Ready(robots) = &st.robots else {
                continue;
            };
            let robots = robots.clone();
            st.cursor = Some(key.clone());
            self.pages_in_flight += 1;
            tokio::spawn(async move {
                let outcome = page_task(shared, host.clone(), key, entry, robots).await;
                let _ = tx.send(Event::Page { host, outcome }).await;
            });
        }
        if self.in_flight > 0 {
            return Ok(Some(
                wake.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)),
            ));
        }
        Ok(if pending {
            Some(wake.unwrap_or_else(Instant::now))
        } else {
            None
        })
    }

    /// Backs a host off after a failure: exponential, never shorter than a
    /// server's Retry-After; opens the breaker after repeated failures.
    fn fail_host(&mut self, host: &str, after: Option<Duration>, reason: &str) {
        let cfg = &self.shared.cfg;
        let Some(st) = self.hosts.get_mut(host) else {
            return;
        };
        st.failures += 1;
        let exp = cfg
            .backoff_base
            .saturating_mul(1 << st.failures.saturating_sub(1).min(16))
            .min(MAX_BACKOFF);
        let wait = after.map_or(exp, |a| a.max(exp.min(cfg.backoff_base)));
        if after.is_some_and(|a| a > MAX_RETRY_AFTER) {
            st.given_up = Some(format!(
                "asked to wait {}s (Retry-After)",
                after.unwrap_or_default().as_secs()
            ));
        } else if st.failures >= cfg.breaker_threshold {
            st.given_up = Some(format!(
                "{} consecutive failures, last: {reason}",
                st.failures
            ));
        }
        if let Some(why) = &st.given_up {
            if st.dns_failed {
                // the summary names the host once, with what to do
                debug!(host, "giving up host for this run: {why}");
            } else {
                warn!(host, "giving up host for this run: {why}");
            }
        }
        let until = Instant::now() + wait;
        if until > st.not_before {
            st.not_before = until;
        }
    }

    fn handle(&mut self, ev: Event) -> Result<(), CrawlError> {
        self.in_flight -= 1;
        match ev {
            Event::Robots { host, result } => {
                self.summary.robots_fetched += 1;
                let Some(st) = self.hosts.get_mut(&host) else {
                    return Ok(());
                };
                st.in_flight -= 1;
                match result {
                    Ok(r) => {
                        st.robots = RobotsState::Ready(Arc::new(r));
                        st.robots_failures = 0;
                        st.dns_failed = false;
                    }
                    Err(RobotsFailure {
                        reason,
                        retry_after,
                        dns,
                    }) => {
                        // RFC 9309 §2.3.1.4: unreachable → disallow all, retry later.
                        st.robots = RobotsState::Unknown;
                        st.robots_failures += 1;
                        st.dns_failed = dns;
                        self.summary.errors += 1;
                        if dns {
                            // one line per host in the summary, not one per attempt
                            debug!(host, "cannot resolve the host name ({reason}); will retry");
                        } else {
                            warn!(
                                host,
                                "robots.txt unavailable ({reason}); not crawling the host until it is"
                            );
                        }
                        if st.robots_failures >= ROBOTS_ATTEMPTS {
                            st.given_up = Some(format!("robots.txt unavailable: {reason}"));
                        }
                        self.fail_host(&host, retry_after, &reason);
                    }
                }
            }
            Event::Page { host, outcome } => {
                self.pages_in_flight -= 1;
                let cfg = &self.shared.cfg;
                if let Some(st) = self.hosts.get_mut(&host) {
                    st.in_flight -= 1;
                    // the next request waits a full gap after this page's last
                    // one (a redirect chain may have ended just now)
                    let robots = match &st.robots {
                        RobotsState::Ready(r) => Some(&**r),
                        _ => None,
                    };
                    let after = Instant::now() + request_gap(cfg, robots);
                    if after > st.not_before {
                        st.not_before = after;
                    }
                }
                match outcome? {
                    PageOutcome::Done {
                        url,
                        via,
                        state,
                        bytes,
                        new_hits,
                        hits,
                        queued_hosts,
                        error,
                    } => {
                        let s = &mut self.summary;
                        s.pages_done += 1;
                        s.bytes += bytes;
                        s.hits += hits as u64;
                        s.new_hits += new_hits as u64;
                        match state {
                            PageState::Fetched | PageState::NotModified => s.pages_fetched += 1,
                            PageState::ClientError => s.pages_client_error += 1,
                            PageState::Failed => s.pages_failed += 1,
                            PageState::Redirect | PageState::Skipped | PageState::Disallowed => {
                                s.pages_skipped += 1
                            }
                        }
                        let e = error.as_deref().unwrap_or("");
                        match state {
                            PageState::Failed => warn!(url, "failed: {e}"),
                            // counted in the summary; `-v` (debug) lists them
                            PageState::ClientError => debug!(
                                url,
                                via = via.as_deref().unwrap_or("-"),
                                "dangling link: {e}"
                            ),
                            _ if error.is_some() => info!(url, state = state.as_str(), "{e}"),
                            _ => tracing::trace!(url, state = state.as_str(), hits, "done"),
                        }
                        if let Some(st) = self.hosts.get_mut(&host)
                            && state != PageState::Failed
                        {
                            st.failures = 0;
                            st.dns_failed = false;
                        }
                        let now = Instant::now();
                        self.queued = (self.queued + queued_hosts.len()).saturating_sub(1);
                        for h in queued_hosts {
                            self.add_host(&h, now);
                        }
                        self.last_url = url;
                    }
                    PageOutcome::Retry {
                        key,
                        entry,
                        after,
                        reason,
                        dns,
                    } => {
                        self.summary.errors += 1;
                        if let Some(st) = self.hosts.get_mut(&host) {
                            st.dns_failed = dns;
                        }
                        let mut entry = entry;
                        entry.attempts += 1;
                        if entry.attempts >= self.shared.cfg.max_attempts {
                            // Record the failure; the host state still backs off.
                            let url = entry.url.clone();
                            let out = record_failure(&self.shared, &host, key, &entry, &reason)?;
                            self.summary.pages_done += 1;
                            self.summary.pages_failed += 1;
                            self.queued = (self.queued + out.len()).saturating_sub(1);
                            for h in out {
                                self.add_host(&h, Instant::now());
                            }
                            if dns {
                                debug!(url, attempts = entry.attempts, "failed: {reason}");
                            } else {
                                warn!(url, attempts = entry.attempts, "failed: {reason}");
                            }
                        } else {
                            info!(
                                url = entry.url,
                                attempt = entry.attempts,
                                "will retry: {reason}"
                            );
                            self.shared.store.requeue(&key, &entry)?;
                            if let Some(st) = self.hosts.get_mut(&host) {
                                st.exhausted = false;
                            }
                        }
                        self.fail_host(&host, after, &reason);
                    }
                }
            }
        }
        Ok(())
    }
}

fn record_failure(
    shared: &Shared,
    host: &str,
    key: Vec<u8>,
    entry: &FrontierEntry,
    reason: &str,
) -> Result<Vec<String>, CrawlError> {
    let mut page = blank_page(shared, host, entry, PageState::Failed);
    page.error = Some(reason.to_owned());
    let c = PageCommit {
        frontier_key: key,
        page,
        also_done: Vec::new(),
        hits: Vec::new(),
        links: Vec::new(),
    };
    Ok(shared.store.commit_page(&c, shared.adm)?.queued_hosts)
}

fn blank_page(shared: &Shared, host: &str, entry: &FrontierEntry, state: PageState) -> PageRecord {
    PageRecord::blank(&entry.url, host, state, entry.depth, shared.adm.generation)
}

/// Fetches `/robots.txt` of a host, following up to 5 redirects (RFC 9309
/// §2.3.1.2). `Err` means unavailable (5xx, network): the caller disallows
/// the host for now.
async fn fetch_robots(shared: &Shared, host: &str) -> Result<Robots, RobotsFailure> {
    let failure = |reason: String, retry_after, dns| RobotsFailure {
        reason,
        retry_after,
        dns,
    };
    let scheme_host = shared
        .store
        .peek_frontier(host)
        .ok()
        .flatten()
        .and_then(|e| Url::parse(&e.url).ok())
        .map(|u| format!("{}://{}", u.scheme(), host))
        .unwrap_or_else(|| format!("http://{host}"));
    let mut url = Url::parse(&format!("{scheme_host}/robots.txt"))
        .map_err(|e| failure(e.to_string(), None, false))?;
    for hop in 0..=5 {
        if hop > 0 {
            // a redirect hop waits like any request to the host
            tokio::time::sleep(request_gap(&shared.cfg, None)).await;
        }
        let r = match fetch::fetch(&shared.client, &shared.cfg.fetch, &url, None, true, false).await
        {
            Ok(r) => r,
            // The SSRF guard will refuse the pages too, each with its reason
            // recorded; nothing is sent to the host either way.
            Err(FetchError::Refused(_)) => return Ok(Robots::AllowAll),
            Err(e) => {
                let dns = matches!(e, FetchError::Dns(_));
                return Err(failure(e.to_string(), None, dns));
            }
        };
        if (300..400).contains(&r.status)
            && let Some(next) = r.location.as_deref().and_then(|l| url.join(l).ok())
        {
            url = next;
            continue;
        }
        if r.status >= 500 || r.status == 429 {
            return Err(failure(format!("HTTP {}", r.status), r.retry_after, false));
        }
        let robots = Robots::from_response(r.status, &r.body, &shared.agent_token);
        let _ = shared.store.set_robots(
            host,
            &RobotsRecord {
                status: r.status,
                body: String::from_utf8_lossy(&r.body).into_owned(),
                fetched_at: crate::store::unix_now(),
            },
        );
        if let Some(d) = robots.crawl_delay() {
            info!(host, "robots.txt Crawl-delay: {d}s");
        }
        return Ok(robots);
    }
    // Too many redirects: treated as unavailable-but-not-an-error, i.e. allow.
    Ok(Robots::AllowAll)
}

/// What the redirect loop ended with.
enum Reached {
    Response(Fetched),
    /// Stopped before a response worth reading; the page is recorded with
    /// this state and reason, and `queue` (a cross-host target) is admitted.
    Stop {
        state: PageState,
        status: Option<u16>,
        reason: String,
        queue: Option<Url>,
    },
}

/// Seconds between requests to one host that `--rate-per-host` allows
/// (0 when the limiter is off).
fn rate_period(cfg: &CrawlConfig) -> f64 {
    if cfg.rate_per_host > 0.0 {
        1.0 / cfg.rate_per_host
    } else {
        0.0
    }
}

/// The least time between two requests to one host: the rate limit's
/// period and the robots.txt Crawl-delay, whichever is longer.
fn request_gap(cfg: &CrawlConfig, robots: Option<&Robots>) -> Duration {
    let delay = robots.and_then(|r| r.crawl_delay()).unwrap_or(0.0);
    Duration::from_secs_f64(rate_period(cfg).max(delay).max(0.0))
}

/// Fetches one frontier entry, following same-host redirects, then hands the
/// body to the blocking pool for scanning and the store transaction.
async fn page_task(
    shared: Arc<Shared>,
    host: String,
    key: Vec<u8>,
    entry: FrontierEntry,
    robots: Arc<Robots>,
) -> Result<PageOutcome, CrawlError> {
    let cfg = &shared.cfg;
    let Ok(start) = Url::parse(&entry.url) else {
        let out = record_failure(&shared, &host, key, &entry, "unparsable URL in frontier")?;
        return Ok(done_outcome(
            &entry.url,
            PageState::Failed,
            0,
            0,
            0,
            out,
            Some("bad URL".into()),
        ));
    };
    if !robots.allows(&cfg.fetch.user_agent, start.as_str()) {
        return finish_stop(
            &shared,
            &host,
            key,
            &entry,
            PageState::Disallowed,
            None,
            "disallowed by robots.txt",
            None,
            &[],
        );
    }
    // Conditional request when the page was fetched in an earlier generation.
    let previous = shared.store.page(start.as_str())?;
    let validators = previous
        .as_ref()
        .filter(|p| p.sha256.is_some() && p.generation != shared.adm.generation)
        .map(|p| (p.etag.clone(), p.last_modified.clone()));
    let mut chain: Vec<String> = Vec::new();
    let mut current = start.clone();
    let reached = loop {
        let v = if chain.is_empty() {
            validators.as_ref().map(|(e, l)| (e, l))
        } else {
            // a same-host redirect hop is a request like any other: it waits
            // its turn (the scheduler dispatched only the first)
            tokio::time::sleep(request_gap(cfg, Some(&robots))).await;
            None
        };
        let r = match fetch::fetch(&shared.client, &cfg.fetch, &current, v, true, true).await {
            Ok(r) => r,
            Err(FetchError::Refused(reason)) => {
                break Reached::Stop {
                    state: PageState::Failed,
                    status: None,
                    reason,
                    queue: None,
                };
            }
            Err(e @ (FetchError::Network(_) | FetchError::Dns(_))) => {
                return Ok(PageOutcome::Retry {
                    key,
                    entry,
                    after: None,
                    dns: matches!(e, FetchError::Dns(_)),
                    reason: e.to_string(),
                });
            }
        };
        if r.status == 429 || r.status >= 500 {
            return Ok(PageOutcome::Retry {
                key,
                entry,
                after: r.retry_after,
                reason: format!("HTTP {}", r.status),
                dns: false,
            });
        }
        if !(300..400).contains(&r.status) || r.status == 304 {
            break Reached::Response(r);
        }
        let Some(next) = r
            .location
            .as_deref()
            .and_then(|l| urls::resolve_link(&current, l))
        else {
            break Reached::Stop {
                state: PageState::Failed,
                status: Some(r.status),
                reason: "redirect without a usable Location".into(),
                queue: None,
            };
        };
        chain.push(current.to_string());
        let stop = |state, reason: String, queue| Reached::Stop {
            state,
            status: Some(r.status),
            reason,
            queue,
        };
        if chain.len() as u32 + entry.hops > MAX_REDIRECTS {
            break stop(
                PageState::Failed,
                format!("more than {MAX_REDIRECTS} redirects"),
                None,
            );
        }
        if chain.iter().any(|c| c == next.as_str()) {
            break stop(
                PageState::Failed,
                format!("redirect loop back to {next}"),
                None,
            );
        }
        if let Err(why) = shared.scope.admit(&next, entry.depth, cfg.max_depth) {
            break stop(
                PageState::Redirect,
                format!("redirect to {next} not followed: {}", why.as_str()),
                None,
            );
        }
        if let Err(e) = fetch::check_literal(&next, cfg.fetch.allow_private) {
            break stop(PageState::Failed, format!("redirect to {next} {e}"), None);
        }
        if host_key(&next) != host {
            break stop(
                PageState::Redirect,
                format!("redirect to {next} (queued)"),
                Some(next),
            );
        }
        if !robots.allows(&cfg.fetch.user_agent, next.as_str()) {
            break stop(
                PageState::Disallowed,
                format!("redirect to {next}, disallowed by robots.txt"),
                None,
            );
        }
        // a refetch follows a page's redirects within its host as they are
        // now, whatever this generation did before
        if !cfg.refetch
            && shared
                .store
                .seen_state(next.as_str(), shared.adm.generation)?
                .is_some()
        {
            break stop(
                PageState::Redirect,
                format!("redirect to {next}, already queued or done"),
                None,
            );
        }
        current = next;
    };
    let r = match reached {
        Reached::Stop {
            state,
            status,
            reason,
            queue,
        } => {
            return finish_stop(
                &shared, &host, key, &entry, state, status, &reason, queue, &chain,
            );
        }
        Reached::Response(r) => r,
    };
    let shared2 = shared.clone();
    tokio::task::spawn_blocking(move || {
        process(&shared2, &host, key, entry, chain, current, r, previous)
    })
    .await?
}

#[allow(clippy::too_many_arguments)]
fn finish_stop(
    shared: &Shared,
    host: &str,
    key: Vec<u8>,
    entry: &FrontierEntry,
    state: PageState,
    status: Option<u16>,
    reason: &str,
    queue: Option<Url>,
    chain: &[String],
) -> Result<PageOutcome, CrawlError> {
    let mut page = blank_page(shared, host, entry, state);
    page.status = status;
    page.error = Some(reason.to_owned());
    page.redirects = chain.to_vec();
    if let Some(q) = &queue {
        page.final_url = q.to_string();
    }
    let links: Vec<NewLink> = queue
        .iter()
        .map(|q| NewLink {
            host: host_key(q),
            entry: FrontierEntry {
                url: q.to_string(),
                depth: entry.depth,
                attempts: 0,
                hops: entry.hops + chain.len() as u32,
                via: Some(entry.url.clone()),
            },
            query_path: None,
        })
        .collect();
    let also_done = chain.iter().filter(|c| **c != entry.url).cloned().collect();
    let c = PageCommit {
        frontier_key: key,
        page,
        also_done,
        hits: Vec::new(),
        links,
    };
    let out = shared.store.commit_page(&c, shared.adm)?;
    Ok(done_outcome(
        &entry.url,
        state,
        0,
        0,
        0,
        out.queued_hosts,
        Some(reason.to_owned()),
    ))
}

fn done_outcome(
    url: &str,
    state: PageState,
    bytes: u64,
    new_hits: usize,
    hits: usize,
    queued_hosts: Vec<String>,
    error: Option<String>,
) -> PageOutcome {
    PageOutcome::Done {
        url: url.to_owned(),
        via: None,
        state,
        bytes,
        new_hits,
        hits,
        queued_hosts,
        error,
    }
}

/// Reads company records from a registry page (`--profile`) into the
/// registry trees, flushed before the page counts as done so that a crash
/// re-reads the page rather than losing its records (a record is keyed by its
/// credit code or name, so reading it twice updates it); returns the links
/// the profile follows.
fn read_registry_page(shared: &Shared, url: &Url, html: &str) -> Result<Vec<Url>, CrawlError> {
    let (Some(profile), Some(reg)) = (&shared.cfg.registry, &shared.registry) else {
        return Ok(Vec::new());
    };
    let mut store = reg.lock().unwrap_or_else(|p| p.into_inner());
    let Some(read) = profile.read_page(&mut store, url, html)? else {
        return Ok(Vec::new());
    };
    store.flush()?;
    use std::sync::atomic::Ordering::Relaxed;
    shared
        .registry_records
        .fetch_add(read.records as u64, Relaxed);
    shared
        .registry_flagged
        .fetch_add(read.flagged as u64, Relaxed);
    for p in &read.problems {
        warn!(url = %url, "registry page: {p}");
    }
    Ok(read.links)
}

/// Decodes, scans and stores one response (blocking pool).
#[allow(clippy::too_many_arguments)]
fn process(
    shared: &Shared,
    host: &str,
    key: Vec<u8>,
    entry: FrontierEntry,
    chain: Vec<String>,
    final_url: Url,
    r: Fetched,
    previous: Option<PageRecord>,
) -> Result<PageOutcome, CrawlError> {
    let cfg = &shared.cfg;
    let mut page = blank_page(shared, host, &entry, PageState::Fetched);
    page.status = Some(r.status);
    page.final_url = final_url.to_string();
    page.redirects = chain.clone();
    page.content_type = r.content_type.clone();
    page.etag = r.etag.clone();
    page.last_modified = r.last_modified.clone();
    page.http = Some(r.exchange.as_ref().clone());
    let also_done: Vec<String> = chain
        .iter()
        .skip(1)
        .cloned()
        .chain((final_url.as_str() != entry.url).then(|| final_url.to_string()))
        .collect();
    let commit = |page: PageRecord,
                  hits: Vec<StoredHit>,
                  links: Vec<NewLink>|
     -> Result<PageOutcome, CrawlError> {
        let state = page.state;
        let bytes = page.bytes;
        let error = page.error.clone();
        let n = hits.len();
        let c = PageCommit {
            frontier_key: key.clone(),
            page,
            also_done: also_done.clone(),
            hits,
            links,
        };
        let out = shared.store.commit_page(&c, shared.adm)?;
        let mut done = done_outcome(
            &entry.url,
            state,
            bytes,
            out.new_hits,
            n,
            out.queued_hosts,
            error,
        );
        if let PageOutcome::Done { via, .. } = &mut done {
            via.clone_from(&entry.via);
        }
        Ok(done)
    };
    // The body to scan: the response's, or on 304 the stored one.
    let raw: Vec<u8> = if r.status == 304 {
        let Some(prev) = previous.as_ref() else {
            page.state = PageState::Failed;
            page.error = Some("304 Not Modified to an unconditional request".into());
            return commit(page, Vec::new(), Vec::new());
        };
        page.state = PageState::NotModified;
        page.content_type = prev.content_type.clone();
        page.etag = page.etag.clone().or(prev.etag.clone());
        page.last_modified = page.last_modified.clone().or(prev.last_modified.clone());
        // the evidence of the stored body is the exchange that delivered it
        page.http = prev.http.clone();
        match prev
            .sha256
            .as_deref()
            .map(|s| shared.store.body(s))
            .transpose()?
            .flatten()
        {
            Some(b) => b,
            None => {
                page.state = PageState::Failed;
                page.error = Some("304 Not Modified but the stored body is missing".into());
                return commit(page, Vec::new(), Vec::new());
            }
        }
    } else if !(200..300).contains(&r.status) {
        page.state = if (400..500).contains(&r.status) {
            PageState::ClientError
        } else {
            PageState::Failed
        };
        page.error = Some(format!("HTTP {}", r.status));
        return commit(page, Vec::new(), Vec::new());
    } else if r.skipped_type {
        page.state = PageState::Skipped;
        page.error = Some(format!(
            "content type {} is not HTML or text; not read",
            r.content_type.as_deref().unwrap_or("?")
        ));
        return commit(page, Vec::new(), Vec::new());
    } else {
        r.body
    };
    // on 304 the body is the stored one: so is whether it was cut at the cap
    page.truncated = match (r.status, previous.as_ref()) {
        (304, Some(prev)) => prev.truncated,
        _ => r.truncated,
    };
    page.bytes = raw.len() as u64;
    let sha = shared.store.put_body(&raw)?;
    page.sha256 = Some(sha.clone());
    let ct = page.content_type.as_deref();
    let kind = ct.map(DocKind::from_content_type).unwrap_or_default();
    let header_charset = ct.and_then(crate::text::content_type_charset);
    let scanned = shared.scanner.scan_document(&raw, kind, header_charset);
    let doc = &scanned.doc;
    page.charset = Some(doc.decoded.encoding.name().to_owned());
    page.title = doc.title.clone();
    page.icp = extract::icp_number(&doc.visible);
    page.psb = extract::psb_number(&doc.visible);
    let operator_span = extract::operator_span(&doc.visible);
    page.operator = operator_span.clone().map(|r| doc.visible[r].to_owned());
    page.activities = scanned.activities.counts();
    if r.truncated {
        page.error = Some(format!("body truncated at {} bytes", cfg.fetch.max_body));
    }
    let now = page.fetched_at.clone();
    let url = entry.url.as_str();
    let mut ordinals: HashMap<(Field, String, String), usize> = HashMap::new();
    let mut stored = Vec::new();
    let op_hits = operator_span
        .map(|r| {
            let span = crate::text::TextSpan {
                start: r.start,
                end: r.end,
            };
            shared
                .scanner
                .scan_field_on_page(Field::Name, &raw, doc, span)
        })
        .unwrap_or_default();
    if scanned.hits.len() > MAX_HITS_PER_PAGE {
        page.error = Some(format!(
            "{} hits on the page; the first {MAX_HITS_PER_PAGE} kept",
            scanned.hits.len()
        ));
    }
    for h in scanned.hits.iter().take(MAX_HITS_PER_PAGE) {
        let n = ordinals
            .entry((h.field, h.rule.0.clone(), h.matched.clone()))
            .or_insert(0);
        stored.push(StoredHit::from_hit(h, url, host, *n, Some(&sha), &now));
        *n += 1;
    }
    // The operator belongs to the site, not the page: one hit per host, its
    // `url`, `sha256` and span the page it was last read from (the store
    // moves it off the page that had it before, see `Store::commit_page`).
    let site = format!("{}://{host}/", final_url.scheme());
    for (n, h) in op_hits.iter().enumerate() {
        let mut s = StoredHit::from_hit(h, url, host, n, Some(&sha), &now);
        s.id = crate::store::hit_id(&site, h.field, &h.rule, &h.matched, n);
        stored.push(s);
    }
    page.hit_ids = stored.iter().map(|h| h.id.clone()).collect();
    let mut links = Vec::new();
    if doc.is_html {
        let mut found = extract::links(&doc.decoded.text, &final_url);
        page.links = found.len() as u32;
        found.extend(read_registry_page(shared, &final_url, &doc.decoded.text)?);
        for l in found {
            if shared
                .scope
                .admit(&l, entry.depth + 1, cfg.max_depth)
                .is_err()
            {
                continue;
            }
            let h = host_key(&l);
            let query_path = l.query().map(|_| format!("{h}{}", l.path()));
            links.push(NewLink {
                host: h,
                entry: FrontierEntry {
                    url: l.to_string(),
                    depth: entry.depth + 1,
                    attempts: 0,
                    hops: 0,
                    via: Some(entry.url.clone()),
                },
                query_path,
            });
        }
    }
    commit(page, stored, links)
}
