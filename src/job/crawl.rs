//! The crawl job: seeds, options, rules and (for registry pages) a site
//! profile turned into one run of the crawler ([`crate::crawl::crawl`]),
//! and, after a recrawl, the decisions on notified findings it read again.
//! `finscan crawl` and a scheduled crawl job make the same calls:
//! [`CrawlOptions::read_seeds`], [`CrawlOptions::prepare`], [`run_crawl`]
//! (or [`crawl`] for all three).
//!
//! A registry page profile job is a crawl with `profile` set: the pages the
//! profile matches are read for company records, which are scanned and
//! stored as a registry scan stores them (the report's
//! `registry_records` / `registry_flagged`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use url::Url;

use super::recheck::{AfterReading, decide_after_reading};
use super::{Cancel, JobError, OptionError, Outcome};
use crate::Scanner;
use crate::crawl::fetch::ResolveMap;
use crate::crawl::{CrawlConfig, Progress, Summary, urls};
use crate::store::Store;
use crate::time::Zone;

/// The options of a crawl: `finscan crawl`'s flags, and a job's table in
/// `finscan.toml`, with the same names and defaults:
///
/// ```toml
/// seeds = "/etc/finscan/seeds.txt"   # or, or also: urls = ["http://www.a.cn/"]
/// max_pages = 5000
/// rate_per_host = 1.0
/// contact = "mailto:jrb@example.gov.cn"
/// recrawl = true
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrawlOptions {
    /// File of seed URLs: one per line, `#` comments, blank lines ignored.
    pub seeds: Option<PathBuf>,
    /// Seed URLs given inline (after the file's).
    pub urls: Vec<String>,
    /// Stop after this many pages (counting pages done earlier in this crawl).
    pub max_pages: Option<u64>,
    /// Follow links at most this many hops from a seed.
    pub max_depth: u32,
    /// Requests per second to each host; 0 = unlimited (own servers only).
    #[serde(deserialize_with = "super::de::rate")]
    pub rate_per_host: f64,
    /// Requests in flight in total (at least 1).
    #[serde(deserialize_with = "super::de::at_least_one")]
    pub concurrency: u32,
    /// Requests in flight per host (at least 1).
    #[serde(deserialize_with = "super::de::at_least_one")]
    pub host_concurrency: u32,
    /// Who runs the crawl, for site operators: a URL or an e-mail address.
    pub contact: Option<String>,
    /// The whole User-Agent header instead (keep a contact in it).
    pub user_agent: Option<String>,
    /// `HOST:PORT:ADDR`: connect there instead of asking DNS.
    #[serde(deserialize_with = "super::de::resolve")]
    pub resolve: Vec<String>,
    /// Allow loopback, private, link-local and multicast destinations.
    pub allow_private: bool,
    /// Also crawl URLs matching these regexes (beyond the seeds' domains).
    #[serde(deserialize_with = "super::de::regexes")]
    pub include: Vec<String>,
    /// Never crawl URLs matching these regexes.
    #[serde(deserialize_with = "super::de::regexes")]
    pub exclude: Vec<String>,
    /// Total time allowed for one request, in seconds.
    #[serde(deserialize_with = "super::de::seconds")]
    pub timeout: f64,
    /// Time allowed to connect, in seconds.
    #[serde(deserialize_with = "super::de::seconds")]
    pub connect_timeout: f64,
    /// Largest body read (after decompression); longer pages are truncated.
    pub max_body: usize,
    /// URLs admitted per host.
    pub max_pages_per_host: u64,
    /// Distinct query strings admitted per path (calendar/filter traps).
    pub max_query_variants: u64,
    /// Retries of a URL after a network error, 5xx or 429.
    pub retries: u32,
    /// First backoff after an error, in seconds.
    #[serde(deserialize_with = "super::de::backoff")]
    pub backoff: f64,
    /// Consecutive failures after which a host is given up for this run.
    pub host_failures: u32,
    /// Fetch again pages done in earlier crawls, then decide the notified
    /// findings past their deadline from what was read.
    pub recrawl: bool,
    /// Directory of `*.toml` rule files (default: the bundled rules).
    pub rules: Option<PathBuf>,
    /// Registry site profile (TOML): read company records from the pages
    /// it matches.
    pub profile: Option<PathBuf>,
    /// With `profile`: licensed institutions exempt from flagging.
    pub allowlist: Option<PathBuf>,
}

impl Default for CrawlOptions {
    fn default() -> Self {
        CrawlOptions {
            seeds: None,
            urls: Vec::new(),
            max_pages: None,
            max_depth: 16,
            rate_per_host: 1.0,
            concurrency: 16,
            host_concurrency: 1,
            contact: None,
            user_agent: None,
            resolve: Vec::new(),
            allow_private: false,
            include: Vec::new(),
            exclude: Vec::new(),
            timeout: 30.0,
            connect_timeout: 10.0,
            max_body: crate::crawl::fetch::DEFAULT_MAX_BODY,
            max_pages_per_host: 100_000,
            max_query_variants: 100,
            retries: 2,
            backoff: 1.0,
            host_failures: 5,
            recrawl: false,
            rules: None,
            profile: None,
            allowlist: None,
        }
    }
}

/// A seed that is not a URL, where it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SeedError {
    /// The seeds file, or `urls` for the options' inline list.
    pub source: String,
    /// 1-based line of the file, or position in the list.
    pub line: usize,
    pub text: String,
    pub message: String,
}

/// The seeds of a crawl: the URLs, and the lines that are not URLs.
#[derive(Debug, Clone, Default)]
pub struct Seeds {
    pub urls: Vec<Url>,
    pub bad: Vec<SeedError>,
}

/// Reads seed URLs from the text of a seeds file named `source`: one per
/// line, `#` starts a comment line, ` #` a comment after a URL, blank
/// lines are skipped. A bare host (`www.a.cn`) means `http://www.a.cn/`.
/// Bad lines are returned with their line numbers, not fatal.
pub fn parse_seeds(source: &str, text: &str) -> Seeds {
    let mut seeds = Seeds::default();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim().trim_start_matches('\u{feff}');
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let t = t.split(" #").next().unwrap_or(t).trim();
        let candidate = if t.contains("://") {
            t.to_owned()
        } else {
            format!("http://{t}")
        };
        let err = |message: String| SeedError {
            source: source.to_owned(),
            line: i + 1,
            text: t.to_owned(),
            message,
        };
        if t.contains(char::is_whitespace) {
            seeds.bad.push(err("contains spaces".into()));
            continue;
        }
        match urls::normalize(&candidate) {
            Ok(u) => seeds.urls.push(u),
            Err(e) => seeds.bad.push(err(e)),
        }
    }
    seeds
}

/// The values [`CrawlOptions::check`] parsed on the way.
struct Checked {
    resolve: ResolveMap,
    include: Vec<regex::Regex>,
    exclude: Vec<regex::Regex>,
}

/// A crawl ready to run: configuration checked, rules compiled, profile
/// and allow-list read.
#[derive(Debug)]
pub struct PreparedCrawl {
    pub config: CrawlConfig,
    pub scanner: Arc<Scanner>,
    pub bad_seeds: Vec<SeedError>,
    /// Where the seeds came from, for the error when none is usable.
    seeds_source: String,
}

impl CrawlOptions {
    /// The seeds of the file (when given), then the inline ones.
    pub fn read_seeds(&self) -> Result<Seeds, JobError> {
        let mut seeds = Seeds::default();
        if let Some(path) = &self.seeds {
            let text = std::fs::read(path).map_err(|source| JobError::Seeds {
                path: path.clone(),
                source,
            })?;
            seeds = parse_seeds(&path.display().to_string(), &String::from_utf8_lossy(&text));
        }
        for (i, u) in self.urls.iter().enumerate() {
            let mut one = parse_seeds("urls", u);
            seeds.urls.append(&mut one.urls);
            seeds
                .bad
                .extend(one.bad.into_iter().map(|e| SeedError { line: i + 1, ..e }));
        }
        Ok(seeds)
    }

    fn seeds_source(&self) -> String {
        match &self.seeds {
            Some(p) => p.display().to_string(),
            None => "urls".to_owned(),
        }
    }

    /// Checks the options' values (ranges, `resolve` entries, `include` and
    /// `exclude` regexes) without opening any file: the first bad one,
    /// named by its key.
    pub fn check(&self) -> Result<(), OptionError> {
        match self.checked() {
            Ok(_) => Ok(()),
            Err(JobError::Option(e)) => Err(e),
            Err(JobError::Regex {
                key,
                pattern,
                source,
            }) => Err(OptionError::new(
                key,
                format!("{pattern:?} is not a valid regex: {source}"),
            )),
            Err(e) => Err(OptionError::new("options", e.to_string())),
        }
    }

    /// The checks of [`CrawlOptions::check`], keeping what they parsed; a
    /// bad regex is a [`JobError::Regex`] (the CLI names its flag).
    fn checked(&self) -> Result<Checked, JobError> {
        let mut resolve = ResolveMap::default();
        for r in &self.resolve {
            resolve.add(r).map_err(|e| {
                OptionError::new("resolve", e.trim_start_matches("--resolve ").to_owned())
            })?;
        }
        if !(self.rate_per_host >= 0.0 && self.rate_per_host.is_finite()) {
            return Err(JobError::Option(OptionError::new(
                "rate_per_host",
                "must be 0 (unlimited) or a positive number",
            )));
        }
        for (key, v) in [
            ("timeout", self.timeout),
            ("connect_timeout", self.connect_timeout),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return Err(JobError::Option(OptionError::new(
                    key,
                    "must be a positive number of seconds",
                )));
            }
        }
        if !(self.backoff >= 0.0 && self.backoff.is_finite()) {
            return Err(JobError::Option(OptionError::new(
                "backoff",
                "must not be negative",
            )));
        }
        for (key, v) in [
            ("concurrency", self.concurrency),
            ("host_concurrency", self.host_concurrency),
        ] {
            if v == 0 {
                return Err(JobError::Option(OptionError::new(
                    key,
                    "must be at least 1",
                )));
            }
        }
        let regexes = |v: &[String], key: &'static str| -> Result<Vec<regex::Regex>, JobError> {
            v.iter()
                .map(|p| {
                    regex::Regex::new(p).map_err(|source| JobError::Regex {
                        key,
                        pattern: p.clone(),
                        source,
                    })
                })
                .collect()
        };
        Ok(Checked {
            resolve,
            include: regexes(&self.include, "include")?,
            exclude: regexes(&self.exclude, "exclude")?,
        })
    }

    /// Checks the options and builds the crawl of `seeds`: compiles the
    /// rules, reads the profile and its allow-list (whose warnings go to
    /// `warn`).
    pub fn prepare(
        &self,
        seeds: Seeds,
        warn: &mut dyn FnMut(&str),
    ) -> Result<PreparedCrawl, JobError> {
        let Checked {
            resolve,
            include,
            exclude,
        } = self.checked()?;
        let rules = super::load_rules(self.rules.as_deref())?;
        let scanner = Arc::new(Scanner::new(&rules));
        let registry = match &self.profile {
            Some(p) => {
                let profile = crate::registry::profile::Profile::load(p)?;
                let (records, warnings) = crate::registry::pipeline::record_scanner(
                    &rules,
                    self.allowlist.as_deref(),
                    true,
                )?;
                for w in &warnings {
                    warn(w);
                }
                Some(Arc::new(crate::registry::PageProfile { profile, records }))
            }
            None => None,
        };
        let mut cfg = CrawlConfig {
            seeds: seeds.urls,
            max_pages: self.max_pages,
            max_depth: self.max_depth,
            rate_per_host: self.rate_per_host,
            host_concurrency: self.host_concurrency as usize,
            concurrency: self.concurrency as usize,
            include,
            exclude,
            per_host_budget: self.max_pages_per_host,
            max_query_variants: self.max_query_variants,
            recrawl: self.recrawl,
            max_attempts: self.retries.saturating_add(1),
            backoff_base: Duration::from_secs_f64(self.backoff),
            breaker_threshold: self.host_failures.max(1),
            registry,
            ..CrawlConfig::default()
        };
        cfg.fetch.user_agent = match (&self.user_agent, &self.contact) {
            (Some(ua), _) => ua.clone(),
            (None, Some(c)) if !c.trim().is_empty() => crate::crawl::user_agent(c),
            _ => crate::crawl::DEFAULT_USER_AGENT.to_owned(),
        };
        cfg.fetch.timeout = Duration::from_secs_f64(self.timeout);
        cfg.fetch.connect_timeout = Duration::from_secs_f64(self.connect_timeout);
        cfg.fetch.max_body = self.max_body.max(1);
        cfg.fetch.allow_private = self.allow_private;
        cfg.fetch.resolve = resolve;
        Ok(PreparedCrawl {
            config: cfg,
            scanner,
            bad_seeds: seeds.bad,
            seeds_source: self.seeds_source(),
        })
    }
}

/// What a crawl did: the crawler's summary (pages, hits new and seen
/// again, errors, hosts given up, the ranked sites), the seeds that were
/// not URLs, and after a recrawl the decisions on notified findings.
#[derive(Debug, Clone, Serialize)]
pub struct CrawlReport {
    #[serde(flatten)]
    pub summary: Summary,
    /// Hits seen again (written before, found again in this run).
    pub seen_hits: u64,
    pub bad_seeds: Vec<SeedError>,
    /// After a recrawl, when findings were notified: the decisions.
    pub recheck: Option<AfterReading>,
    pub outcome: Outcome,
}

/// Runs a prepared crawl on `store` until the frontier is empty,
/// `max_pages` is reached or `cancel` is set (the requests in flight are
/// finished, the rest stays queued: running it again resumes). After a
/// recrawl, decides the notified findings past their deadline (the end of
/// the deadline's day in `zone`) from what was read.
///
/// Fails before fetching anything when no seed is usable and nothing is
/// left queued to resume.
pub async fn run_crawl(
    prepared: PreparedCrawl,
    store: Store,
    cancel: &Cancel,
    on_progress: &(dyn Fn(&Progress) + Send + Sync),
    zone: &Zone,
) -> Result<CrawlReport, JobError> {
    let PreparedCrawl {
        config,
        scanner,
        bad_seeds,
        seeds_source,
    } = prepared;
    if config.seeds.is_empty() && store.frontier_len()? == 0 && !bad_seeds.is_empty() {
        return Err(JobError::NoSeeds {
            seeds: seeds_source,
        });
    }
    let recrawl = config.recrawl;
    let summary = crate::crawl::crawl(
        config,
        store.clone(),
        scanner,
        cancel.subscribe(),
        on_progress,
    )
    .await?;
    let recheck = if recrawl {
        let zone = zone.clone();
        tokio::task::spawn_blocking(move || decide_after_reading(&store, crate::time::now(), &zone))
            .await??
    } else {
        None
    };
    let outcome = if summary.interrupted {
        Outcome::Cancelled
    } else if !bad_seeds.is_empty()
        || !summary.hosts_given_up.is_empty()
        || summary.pages_failed > 0
    {
        Outcome::Partial
    } else if summary.hits > 0 {
        Outcome::Hits
    } else {
        Outcome::Clean
    };
    Ok(CrawlReport {
        seen_hits: summary.hits.saturating_sub(summary.new_hits),
        summary,
        bad_seeds,
        recheck,
        outcome,
    })
}

/// The whole crawl job in one call: [`CrawlOptions::read_seeds`],
/// [`CrawlOptions::prepare`] (warnings dropped; they are about the
/// allow-list, which [`CrawlOptions::prepare`] reports), [`run_crawl`].
pub async fn crawl(
    opts: &CrawlOptions,
    store: Store,
    cancel: &Cancel,
    on_progress: &(dyn Fn(&Progress) + Send + Sync),
    zone: &Zone,
) -> Result<CrawlReport, JobError> {
    let seeds = opts.read_seeds()?;
    let prepared = opts.prepare(seeds, &mut |_| {})?;
    run_crawl(prepared, store, cancel, on_progress, zone).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_file_reports_bad_lines_with_numbers() {
        let text = "# platforms\nhttp://www.a.cn/\n\nwww.b.com.cn\nnot a url\nftp://c.cn/\nhttp://d.cn/x # note\n";
        let seeds = parse_seeds("seeds.txt", text);
        let ok: Vec<&str> = seeds.urls.iter().map(|u| u.as_str()).collect();
        assert_eq!(
            ok,
            ["http://www.a.cn/", "http://www.b.com.cn/", "http://d.cn/x"]
        );
        let lines: Vec<usize> = seeds.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [5, 6]);
        assert!(seeds.bad.iter().all(|b| b.source == "seeds.txt"));
    }

    #[test]
    fn inline_urls_follow_the_file_and_bad_ones_are_numbered_in_the_list() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("seeds.txt");
        std::fs::write(&file, "http://www.a.cn/\n").unwrap();
        let opts = CrawlOptions {
            seeds: Some(file),
            urls: vec!["www.b.cn".into(), "not a url".into()],
            ..CrawlOptions::default()
        };
        let seeds = opts.read_seeds().unwrap();
        let ok: Vec<&str> = seeds.urls.iter().map(|u| u.as_str()).collect();
        assert_eq!(ok, ["http://www.a.cn/", "http://www.b.cn/"]);
        assert_eq!(seeds.bad.len(), 1);
        assert_eq!(
            (seeds.bad[0].source.as_str(), seeds.bad[0].line),
            ("urls", 2)
        );
    }

    #[test]
    fn options_read_from_toml_with_defaults_and_refuse_unknown_keys() {
        let opts: CrawlOptions =
            toml::from_str("urls = [\"http://www.a.cn/\"]\nmax_pages = 50\ntimeout = 5\n").unwrap();
        assert_eq!(opts.max_pages, Some(50));
        assert_eq!(opts.timeout, 5.0);
        assert_eq!(opts.max_depth, CrawlOptions::default().max_depth);
        let e = toml::from_str::<CrawlOptions>("max_page = 50\n").unwrap_err();
        assert!(e.to_string().contains("max_page"), "{e}");
        // bad values are refused where they are written
        for (table, says) in [
            ("urls = []\nrate_per_host = -1\n", "rate_per_host must be"),
            ("urls = []\ntimeout = 0\n", "must be positive"),
            ("urls = []\nconcurrency = 0\n", "at least 1"),
            ("urls = []\ninclude = [\"(\"]\n", "not a valid regex"),
            ("urls = []\nresolve = [\"a.cn:80\"]\n", "HOST:PORT:ADDR"),
        ] {
            let e = toml::from_str::<CrawlOptions>(table)
                .unwrap_err()
                .to_string();
            assert!(e.contains("line 2") && e.contains(says), "{table}: {e}");
        }
    }

    #[test]
    fn bad_option_values_are_errors_naming_the_option() {
        let bad = |opts: CrawlOptions| {
            opts.prepare(Seeds::default(), &mut |_| {})
                .unwrap_err()
                .to_string()
        };
        let e = bad(CrawlOptions {
            rate_per_host: -1.0,
            ..CrawlOptions::default()
        });
        assert!(e.contains("rate_per_host"), "{e}");
        let e = bad(CrawlOptions {
            include: vec!["(".into()],
            ..CrawlOptions::default()
        });
        assert!(e.starts_with("include \"(\" is not a valid regex"), "{e}");
        let e = bad(CrawlOptions {
            resolve: vec!["a.cn:80".into()],
            ..CrawlOptions::default()
        });
        assert!(e.contains("HOST:PORT:ADDR"), "{e}");
    }
}
