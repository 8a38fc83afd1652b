//! `finscan crawl`, `finscan pages`, `finscan hits`, `finscan demo`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use finscan::Scanner;
use finscan::crawl::fetch::ResolveMap;
use finscan::crawl::{CrawlConfig, Progress, Summary, demo, loopback, urls};
use finscan::job::crawl::{CrawlOptions, run_crawl};
use finscan::job::{Cancel, JobError, Outcome as JobOutcome};
use finscan::store::PageState;
use finscan::store::{self, PageRecord, Store, StoredHit};
use finscan::time::Timestamp;

use super::Outcome;

/// The database directory option every command shares.
#[derive(Args, Clone)]
pub struct DbArg {
    /// Database directory [default: $FINSCAN_DB, else ./finscan-data].
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
}

impl DbArg {
    pub fn dir(&self) -> PathBuf {
        store::db_dir(self.db.as_deref())
    }
}

#[derive(Args)]
pub struct CrawlArgs {
    /// File of seed URLs: one per line, `#` comments, blank lines ignored.
    #[arg(long, value_name = "FILE")]
    seeds: PathBuf,
    #[command(flatten)]
    db: DbArg,
    /// Stop after this many pages (counting pages done earlier in this crawl).
    #[arg(long, value_name = "N")]
    max_pages: Option<u64>,
    /// Follow links at most this many hops from a seed.
    #[arg(long, value_name = "D", default_value_t = 16)]
    max_depth: u32,
    /// Requests per second to each host; 0 = unlimited (benchmarks on your own servers only).
    #[arg(long, value_name = "R", default_value_t = 1.0)]
    rate_per_host: f64,
    /// Requests in flight in total (at least 1).
    #[arg(long, value_name = "C", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    concurrency: u32,
    /// Requests in flight per host (at least 1).
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    host_concurrency: u32,
    /// Who runs this crawl, for site operators: a URL or an e-mail address,
    /// sent in the User-Agent beside finscan's own.
    #[arg(long, value_name = "URL|EMAIL", env = "FINSCAN_CONTACT")]
    contact: Option<String>,
    /// The whole User-Agent header instead (keep a contact in it).
    #[arg(long, value_name = "S")]
    user_agent: Option<String>,
    /// Map HOST:PORT to ADDR instead of asking DNS, like curl; ADDR may be private.
    #[arg(long, value_name = "HOST:PORT:ADDR")]
    resolve: Vec<String>,
    /// Allow loopback, private, link-local and multicast destinations.
    #[arg(long)]
    allow_private: bool,
    /// Also crawl URLs matching this regex (beyond the seeds' domains).
    #[arg(long, value_name = "REGEX")]
    include: Vec<String>,
    /// Never crawl URLs matching this regex.
    #[arg(long, value_name = "REGEX")]
    exclude: Vec<String>,
    /// Total time allowed for one request, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    timeout: f64,
    /// Time allowed to connect, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Largest body read (after decompression); longer pages are truncated.
    #[arg(long, value_name = "BYTES", default_value_t = finscan::crawl::fetch::DEFAULT_MAX_BODY)]
    max_body: usize,
    /// URLs admitted per host.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    max_pages_per_host: u64,
    /// Distinct query strings admitted per path (calendar/filter traps).
    #[arg(long, value_name = "N", default_value_t = 100)]
    max_query_variants: u64,
    /// Retries of a URL after a network error, 5xx or 429 before it is recorded as failed.
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// First backoff after an error, in seconds; doubles with each consecutive failure of a host.
    #[arg(long, value_name = "SECS", default_value_t = 1.0)]
    backoff: f64,
    /// Consecutive failures after which a host is given up for this run.
    #[arg(long, value_name = "N", default_value_t = 5)]
    host_failures: u32,
    /// Fetch again pages done in earlier crawls (conditional requests; hits seen again keep their id).
    #[arg(long)]
    recrawl: bool,
    /// Directory of *.toml rule files (default: the rules built into finscan).
    #[arg(long, env = "FINSCAN_RULES")]
    rules: Option<PathBuf>,
    /// Registry site profile (TOML): read company records from the pages it
    /// matches, scan and store them as `finscan registry scan` does
    /// (`finscan registry list` reads them back).
    #[arg(long, value_name = "FILE")]
    profile: Option<PathBuf>,
    /// With --profile: licensed institutions exempt from flagging (see `finscan registry scan`).
    #[arg(long, value_name = "FILE", requires = "profile")]
    allowlist: Option<PathBuf>,
    /// Print the summary as one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Also list every dangling link (HTTP 4xx, with the page linking to
    /// it), skipped page and retry as it happens.
    #[arg(short, long)]
    verbose: bool,
}

#[derive(Subcommand)]
pub enum PagesCommand {
    /// List stored pages.
    List {
        #[command(flatten)]
        db: DbArg,
        #[command(flatten)]
        filter: Filter,
        /// Only pages in this state: `failed` and `client-error` are what
        /// the crawl summary counts as failed and as dangling links.
        #[arg(long, value_parser = super::one_of(&PageState::ALL, PageState::as_str))]
        state: Option<PageState>,
        /// One JSON object per page per line.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args, Clone)]
pub struct Filter {
    /// Only this host (exact, or a registrable domain such as a.com.cn; a URL
    /// is taken for its host).
    #[arg(long, value_parser = parse_host)]
    host: Option<String>,
    /// Only records from this time on: a date (the start of that day in the
    /// reader's zone, see --tz), a time (2024-03-01 08:30) or RFC 3339 with
    /// an offset.
    #[arg(long, value_parser = super::parse_time_arg)]
    since: Option<String>,
    /// Only records up to this time: a date includes all of that day.
    #[arg(long, value_parser = super::parse_time_arg)]
    until: Option<String>,
}

/// The time window of a [`Filter`], read in the reader's zone.
struct Window {
    since: Option<Timestamp>,
    until: Option<Timestamp>,
}

impl Window {
    /// Whether a stored time (RFC 3339) is inside; an unreadable one is not
    /// when a bound is set.
    fn contains(&self, stored: &str) -> bool {
        if self.since.is_none() && self.until.is_none() {
            return true;
        }
        let Some(t) = finscan::time::from_stored(stored) else {
            return false;
        };
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

impl Filter {
    fn host_ok(&self, host: &str) -> bool {
        let Some(want) = &self.host else { return true };
        let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
        want.eq_ignore_ascii_case(host)
            || want.eq_ignore_ascii_case(bare)
            || urls::registrable_domain(bare) == *want
    }

    fn window(&self) -> anyhow::Result<Window> {
        Ok(Window {
            since: super::time_arg(self.since.as_deref(), false)?,
            until: super::time_arg(self.until.as_deref(), true)?,
        })
    }
}

/// `--host`: a host, `host:port`, a registrable domain, or a URL (its host
/// and port).
pub fn parse_host(s: &str) -> Result<String, String> {
    let s = s.trim();
    if s.contains("://") {
        let u = url::Url::parse(s).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        let host = u.host_str().ok_or_else(|| format!("{s:?} has no host"))?;
        return Ok(match u.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        });
    }
    if s.is_empty() || s.contains(['/', ' ']) {
        return Err(format!(
            "{s:?} is not a host (expected www.example.cn or a URL)"
        ));
    }
    Ok(s.to_string())
}

#[derive(Args)]
pub struct DemoArgs {
    /// Keep the demo's database here (default: a temporary directory, removed afterwards).
    #[arg(long, value_name = "DIR")]
    db: Option<PathBuf>,
    /// Print hits as JSON lines instead of a table (with --recheck: the
    /// recheck's report as one JSON object, as `finscan recheck --json`).
    #[arg(long)]
    json: bool,
    /// Serve the sites as their operator left them after rectification
    /// notices: the fund-pool products page rewritten, the front page's
    /// bonus banner gone but its guarantees kept, the invitation page taken
    /// down (404). Notified findings in --db past their deadline are
    /// decided at the end, as after `finscan crawl --recrawl`.
    #[arg(long)]
    rectified: bool,
    /// Instead of crawling the sites, do what `finscan recheck` does
    /// against them: fetch again only the pages of notified findings in
    /// --db past their deadline, and decide those findings.
    #[arg(long, requires = "db")]
    recheck: bool,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Opens an existing database for reading; never creates one.
fn open_existing(dir: &Path) -> anyhow::Result<Store> {
    super::require_db(dir)?;
    open_store(dir)
}

fn open_store(dir: &Path) -> anyhow::Result<Store> {
    Store::open(dir).with_context(|| {
        format!(
            "cannot open database {} (is another finscan process using it?)",
            dir.display()
        )
    })
}

fn init_logging(progress_bar: bool, verbose: bool) {
    let default = if verbose {
        "finscan=debug"
    } else if progress_bar {
        "finscan=warn"
    } else {
        "finscan=info"
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("FINSCAN_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(super::style::stderr_colored())
        .with_target(false)
        .try_init();
}

/// Turns Ctrl-C (and SIGTERM) into a request to stop, through `cancel`; a
/// second Ctrl-C exits at once.
fn shutdown_signal(cancel: &Cancel) {
    let cancel = cancel.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
        loop {
            #[cfg(unix)]
            let term_fut = async {
                match term.as_mut() {
                    Some(t) => {
                        t.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let term_fut = std::future::pending::<()>();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term_fut => {}
            }
            if cancel.is_cancelled() {
                eprintln!("finscan: interrupted again, exiting now");
                std::process::exit(130);
            }
            eprintln!(
                "finscan: stopping after the requests in flight (Ctrl-C again to quit at once)"
            );
            cancel.cancel();
        }
    });
}

/// The library's crawl options of these flags.
fn crawl_options(args: &CrawlArgs) -> CrawlOptions {
    CrawlOptions {
        seeds: Some(args.seeds.clone()),
        urls: Vec::new(),
        max_pages: args.max_pages,
        max_depth: args.max_depth,
        rate_per_host: args.rate_per_host,
        concurrency: args.concurrency,
        host_concurrency: args.host_concurrency,
        contact: args.contact.clone(),
        user_agent: args.user_agent.clone(),
        resolve: args.resolve.clone(),
        allow_private: args.allow_private,
        include: args.include.clone(),
        exclude: args.exclude.clone(),
        timeout: args.timeout,
        connect_timeout: args.connect_timeout,
        max_body: args.max_body,
        max_pages_per_host: args.max_pages_per_host,
        max_query_variants: args.max_query_variants,
        retries: args.retries,
        backoff: args.backoff,
        host_failures: args.host_failures,
        recrawl: args.recrawl,
        rules: args.rules.clone(),
        profile: args.profile.clone(),
        allowlist: args.allowlist.clone(),
    }
}

pub fn crawl(args: CrawlArgs) -> anyhow::Result<Outcome> {
    let opts = crawl_options(&args);
    let seeds = opts.read_seeds()?;
    for b in &seeds.bad {
        eprintln!(
            "finscan: {}:{}: skipped {:?}: {}",
            b.source, b.line, b.text, b.message
        );
    }
    // the flags checked in their own words (the library names the keys
    // of a job's table)
    let mut resolve = ResolveMap::default();
    for r in &args.resolve {
        resolve.add(r).map_err(anyhow::Error::msg)?;
    }
    if !(args.rate_per_host >= 0.0 && args.rate_per_host.is_finite()) {
        anyhow::bail!("--rate-per-host must be 0 (unlimited) or a positive number");
    }
    if !(args.timeout > 0.0
        && args.connect_timeout > 0.0
        && args.backoff >= 0.0
        && args.backoff.is_finite())
    {
        anyhow::bail!("--timeout and --connect-timeout must be positive, --backoff not negative");
    }
    let prepared = opts
        .prepare(seeds, &mut |w| eprintln!("finscan: warning: {w}"))
        .map_err(|e| match e {
            JobError::Regex {
                key,
                pattern,
                source,
            } => anyhow::Error::new(source)
                .context(format!("--{key} {pattern:?} is not a valid regex")),
            e => e.into(),
        })?;
    let dir = args.db.dir();
    let store = open_store(&dir)?;
    let tty = !args.json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    init_logging(tty, args.verbose);
    let bar = tty.then(progress_bar);
    let show = |p: &Progress| {
        if let Some(b) = &bar {
            let s = p.summary;
            b.set_position(s.pages_done);
            b.set_message(format!(
                "{:.1} pages/s · queue {} · in flight {} · errors {} · hits {} · {}",
                s.pages_per_sec,
                p.queued,
                p.in_flight,
                s.errors,
                s.hits,
                shorten(p.last_url, 60)
            ));
        }
    };
    let report = runtime()?.block_on(async {
        let cancel = Cancel::new();
        shutdown_signal(&cancel);
        run_crawl(prepared, store, &cancel, &show, super::zone()).await
    })?;
    if let Some(b) = &bar {
        b.finish_and_clear();
    }
    report_summary(&report.summary, args.json, &dir)?;
    super::recheck::print_after_reading(report.recheck.as_ref())?;
    Ok(match report.outcome {
        JobOutcome::Clean => Outcome::Clean,
        JobOutcome::Hits => Outcome::Hits,
        JobOutcome::Partial | JobOutcome::Cancelled => Outcome::Partial,
    })
}

fn progress_bar() -> indicatif::ProgressBar {
    let b = indicatif::ProgressBar::new_spinner();
    b.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {pos} pages · {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    b.enable_steady_tick(Duration::from_millis(120));
    b
}

fn shorten(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_owned()
    } else {
        let tail: String = s
            .chars()
            .rev()
            .take(n - 1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        format!("…{tail}")
    }
}

fn report_summary(s: &Summary, json: bool, dir: &Path) -> anyhow::Result<()> {
    if json {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, s)?;
        writeln!(out)?;
        return Ok(());
    }
    let mut unresolved = 0;
    for g in &s.hosts_given_up {
        if g.dns {
            unresolved += 1;
            eprintln!(
                "finscan: cannot resolve {} ({}); its URLs stay queued",
                g.host,
                g.reason.trim_start_matches("robots.txt unavailable: ")
            );
        } else {
            eprintln!(
                "finscan: gave up {} for this run: {} (its URLs stay queued)",
                g.host, g.reason
            );
        }
    }
    if unresolved > 0 {
        eprintln!(
            "finscan: hint: DNS gave no address for {unresolved} host(s). Without network access, name each host's address with --resolve HOST:PORT:ADDR, or run `finscan demo` to see a whole crawl offline."
        );
    }
    if s.pages_done == 0
        && s.pages_done_before > 0
        && s.queued == 0
        && !s.interrupted
        && s.hosts_given_up.is_empty()
    {
        eprintln!(
            "finscan: nothing left to fetch: the {} page(s) of this crawl were done by earlier runs (database {}); pass --recrawl to fetch them again (conditional requests: unchanged pages are cheap)",
            s.pages_done_before,
            dir.display()
        );
    }
    if s.interrupted {
        eprintln!("finscan: interrupted; run the same command again to resume");
    }
    if s.stopped_at_max_pages {
        eprintln!("finscan: stopped at --max-pages");
    }
    if s.registry_records > 0 {
        eprintln!(
            "finscan: {} company record(s) read from registry pages, {} flagged (finscan registry list --db {})",
            s.registry_records,
            s.registry_flagged,
            dir.display()
        );
    }
    write_sites(&s.sites)?;
    eprintln!(
        "finscan: {} page(s) in {:.1}s ({:.1} pages/s): {} fetched, {} skipped, {} failed, {} dangling link(s) (client-error, HTTP 4xx{}); {} hit(s), {} new; {} error(s); {} robots.txt; {} URL(s) still queued; database {}",
        s.pages_done,
        s.elapsed_secs,
        s.pages_per_sec,
        s.pages_fetched,
        s.pages_skipped,
        s.pages_failed,
        s.pages_client_error,
        if s.pages_client_error > 0 {
            "; -v or `pages list --state client-error` lists them"
        } else {
            ""
        },
        s.hits,
        s.new_hits,
        s.errors,
        s.robots_fetched,
        s.queued,
        dir.display()
    );
    Ok(())
}

/// How many ranked sites the crawl summary shows.
const SITES_SHOWN: usize = 10;

/// The crawl summary's sites, ranked for review: financial activity by an
/// operator that is not a licensed institution first (`store::sites`).
fn write_sites(sites: &[finscan::store::sites::SiteProfile]) -> std::io::Result<()> {
    if sites.is_empty() {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "sites, ranked for review:")?;
    for s in sites.iter().take(SITES_SHOWN) {
        let activities = if s.activities.is_empty() {
            "no financial activity".to_owned()
        } else {
            finscan::scan::activity::describe(&s.activities)
        };
        writeln!(
            out,
            "  {:<28} {:>4} hit(s){:<9} {}{}  {}",
            s.host,
            s.hits,
            s.worst
                .map_or(String::new(), |w| format!(" (worst {})", w.as_str())),
            s.operator.as_deref().unwrap_or("operator unknown"),
            if s.licensed { " [licensed]" } else { "" },
            activities
        )?;
    }
    if sites.len() > SITES_SHOWN {
        writeln!(
            out,
            "  … {} more (--json lists all)",
            sites.len() - SITES_SHOWN
        )?;
    }
    Ok(())
}

/// A page as `pages list --json` prints it.
#[derive(serde::Serialize)]
struct PageLine<'a> {
    #[serde(flatten)]
    page: &'a PageRecord,
    hits: usize,
}

pub fn pages(cmd: PagesCommand) -> anyhow::Result<Outcome> {
    let PagesCommand::List {
        db,
        filter,
        state,
        json,
    } = cmd;
    let window = filter.window()?;
    let store = open_existing(&db.dir())?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut n = 0usize;
    for p in store.pages_iter() {
        let p = p?;
        if !filter.host_ok(&p.host) || !window.contains(&p.fetched_at) {
            continue;
        }
        if state.is_some_and(|s| s != p.state) {
            continue;
        }
        n += 1;
        if json {
            super::write_json_line(
                &mut out,
                &PageLine {
                    page: &p,
                    hits: p.hit_ids.len(),
                },
            )?;
        } else {
            write_page_line(&mut out, &p)?;
        }
    }
    out.flush()?;
    if !json {
        eprintln!("finscan: {n} page(s)");
    }
    Ok(Outcome::Clean)
}

fn write_page_line(out: &mut impl Write, p: &PageRecord) -> std::io::Result<()> {
    let dash = |o: &Option<String>| o.clone().unwrap_or_else(|| "-".into());
    let activities = if p.activities.is_empty() {
        "-".to_owned()
    } else {
        finscan::scan::activity::describe(&p.activities)
    };
    let fetched = finscan::time::from_stored(&p.fetched_at)
        .map_or_else(|| p.fetched_at.clone(), |t| super::zone().human(t));
    writeln!(
        out,
        "{fetched}  {:<3} {:<12} {:<7} {:>3} hits  {}  {}  {}  {}  [{}]{}",
        p.status.map_or("-".to_string(), |s| s.to_string()),
        p.state.as_str(),
        dash(&p.charset),
        p.hit_ids.len(),
        p.url,
        dash(&p.title),
        dash(&p.icp),
        dash(&p.operator),
        activities,
        p.error
            .as_deref()
            .map(|e| format!("  ({e})"))
            .unwrap_or_default()
    )
}

fn print_hits(out: &mut impl Write, hits: &[StoredHit], json: bool) -> std::io::Result<()> {
    for h in hits {
        if json {
            super::write_json_line(&mut *out, h)?;
        } else {
            let rate = super::rate_suffix(h.annual_rate);
            writeln!(
                out,
                "{:<6} {:<20} {:<12} {}  {}{}  [{}]",
                h.severity.as_str(),
                h.category.as_str(),
                h.matched,
                h.url,
                h.snippet.replace('\n', " "),
                rate,
                h.id
            )?;
        }
    }
    Ok(())
}

pub fn demo(args: DemoArgs) -> anyhow::Result<Outcome> {
    let variant = if args.rectified {
        demo::Variant::Rectified
    } else {
        demo::Variant::Original
    };
    let server = loopback::Server::start(demo::handler(variant))
        .context("starting the demo server on 127.0.0.1")?;
    let port = server.port;
    let version = match variant {
        demo::Variant::Original => "",
        demo::Variant::Rectified => " (as rectified by their operator)",
    };
    let (dir, temporary) = match &args.db {
        Some(d) => (d.clone(), false),
        None => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0);
            (
                std::env::temp_dir().join(format!("finscan-demo-{}-{nanos}", std::process::id())),
                true,
            )
        }
    };
    // The sites' URLs keep the default port (the server's port changes
    // from run to run; the pages stored under their URLs must not), and
    // each run fetches them all again: a rerun on the same --db updates
    // its pages and hits instead of adding a second set.
    let mut cfg = CrawlConfig {
        seeds: demo::SEED_HOSTS
            .iter()
            .filter_map(|h| urls::normalize(&format!("http://{h}/")).ok())
            .collect(),
        rate_per_host: 20.0,
        concurrency: 8,
        recrawl: true,
        ..CrawlConfig::default()
    };
    let server_addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    for h in demo::hosts() {
        cfg.fetch.resolve.connect_to(h, 80, server_addr);
    }
    cfg.fetch.timeout = Duration::from_secs(10);
    let scanner = Arc::new(
        Scanner::bundled().map_err(|e| anyhow::anyhow!("bundled rules are invalid: {e}"))?,
    );
    if args.recheck {
        super::require_db(&dir)?;
        eprintln!(
            "finscan demo: serving {} sample platform sites{version} on 127.0.0.1:{port}; rechecking the notified findings of {} against them…",
            demo::hosts().len(),
            dir.display()
        );
        let store = open_store(&dir)?;
        let result = super::recheck::fetch_and_decide(store, cfg, scanner)
            .and_then(|done| super::recheck::print_run(&done, args.json));
        drop(server);
        return result.map(|()| Outcome::Clean);
    }
    eprintln!(
        "finscan demo: serving {} sample platform sites{version} on 127.0.0.1:{port}; crawling them with the real crawler (robots.txt, rate limits, GBK decoding, sled store)…",
        demo::hosts().len()
    );
    let result = (|| -> anyhow::Result<Outcome> {
        let store = open_store(&dir)?;
        let summary = runtime()?.block_on(async {
            let cancel = Cancel::new();
            shutdown_signal(&cancel);
            let stop = cancel.subscribe();
            finscan::crawl::crawl(cfg, store.clone(), scanner, stop, &|_: &Progress| {}).await
        })?;
        let mut out = std::io::BufWriter::new(std::io::stdout().lock());
        let pages: Vec<PageRecord> = store.pages_iter().collect::<Result<_, _>>()?;
        // the hits on the pages as they are now (a hit no longer on its
        // page stays stored, as evidence of what was there)
        let current: std::collections::HashSet<&str> = pages
            .iter()
            .flat_map(|p| p.hit_ids.iter().map(String::as_str))
            .collect();
        let mut hits: Vec<StoredHit> = store
            .hits_iter()
            .filter(|h| h.as_ref().map_or(true, |h| current.contains(h.id.as_str())))
            .collect::<Result<_, _>>()?;
        hits.sort_by(|a, b| (&a.url, a.field, a.start).cmp(&(&b.url, b.field, b.start)));
        if args.json {
            print_hits(&mut out, &hits, true)?;
        } else {
            writeln!(out, "\nPages ({}):", pages.len())?;
            for p in &pages {
                write_page_line(&mut out, p)?;
            }
            writeln!(out, "\nHits ({}):", hits.len())?;
            let mut last_url = "";
            for h in &hits {
                if h.url != last_url {
                    let p = pages.iter().find(|p| p.url == h.url);
                    writeln!(
                        out,
                        "\n  {}  [{}; {}; {}]",
                        h.url,
                        p.and_then(|p| p.charset.as_deref()).unwrap_or("-"),
                        p.and_then(|p| p.icp.as_deref()).unwrap_or("no ICP number"),
                        p.and_then(|p| p.operator.as_deref())
                            .unwrap_or("no operator")
                    )?;
                    last_url = &h.url;
                }
                let rate = super::rate_suffix(h.annual_rate);
                writeln!(
                    out,
                    "    {:<6} {:<20} {}{}  …{}…",
                    h.severity.as_str(),
                    h.category.as_str(),
                    h.matched,
                    rate,
                    h.snippet.replace('\n', " ")
                )?;
            }
            writeln!(out)?;
        }
        out.flush()?;
        drop(out);
        report_summary(&summary, false, &dir)?;
        // a rerun (of either version) is a recrawl: notified findings past
        // their deadline are decided from what was just read
        super::recheck::after_reading(store)?;
        if temporary {
            eprintln!(
                "finscan demo: run `finscan demo --db DIR` to keep the database, then `finscan hits list --db DIR`."
            );
        } else {
            eprintln!(
                "finscan demo: read it back with `finscan hits list --db {}`",
                dir.display()
            );
        }
        // a demonstration, not a scan: it ran, so 0 (the summary above says
        // what it found and what failed)
        Ok(Outcome::Clean)
    })();
    drop(server);
    if temporary {
        let _ = std::fs::remove_dir_all(&dir);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_defaults_are_the_library_defaults() {
        #[derive(clap::Parser)]
        struct Cmd {
            #[command(flatten)]
            crawl: CrawlArgs,
        }
        let cmd = <Cmd as clap::Parser>::try_parse_from(["crawl", "--seeds", "s.txt"]).unwrap();
        let mut opts = crawl_options(&cmd.crawl);
        // from the environment when set
        opts.contact = None;
        opts.rules = None;
        assert_eq!(
            opts,
            CrawlOptions {
                seeds: Some("s.txt".into()),
                ..CrawlOptions::default()
            }
        );
    }

    #[test]
    fn host_takes_a_url_for_its_host() {
        assert_eq!(parse_host("www.a.cn").unwrap(), "www.a.cn");
        assert_eq!(
            parse_host("http://www.a.cn:8080/x?y").unwrap(),
            "www.a.cn:8080"
        );
        assert_eq!(parse_host("https://www.a.cn/").unwrap(), "www.a.cn");
        assert!(parse_host("a b").is_err());
        assert!(parse_host("http://").is_err());
    }
}
