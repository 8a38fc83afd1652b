//! `finscan.toml`: what `finscan serve` reads at start (`finscan.example.toml`
//! in the repository is a commented example).
//!
//! Three parts:
//! * `[server]`: the database, the address to listen on (127.0.0.1 unless
//!   `allow_remote` says otherwise: tokens cross the network in clear text,
//!   so only behind a TLS-terminating proxy), the reader's zone, and the
//!   limits that keep the server up (request body size, timeouts,
//!   connections, the time a shutdown waits);
//! * `[[tokens]]`: API tokens by name and role, each stored as the SHA-256
//!   of the token, never the token (see [`super::token`]);
//! * `[[jobs]]`: scheduled runs: a name, a `kind` (`crawl`, `registry`,
//!   `registry-profile`, `recheck`), a cron `schedule` read in the server's
//!   zone, and the kind's options, named as the flags of `finscan crawl`,
//!   `finscan registry scan` and `finscan recheck`.
//!
//! Every key is known: an unknown key, a value of the wrong type, a bad
//! schedule or an option that does not apply to a job's kind is an error
//! that names the file, the line and the key (`finscan.toml:14: jobs[1].max_page:
//! unknown field …`). Relative paths are read from the config file's
//! directory.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::time::Zone;

/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "FINSCAN_CONFIG";
/// Config file when neither `--config` nor [`CONFIG_ENV`] is given.
pub const DEFAULT_CONFIG: &str = "finscan.toml";
/// Where `finscan serve` listens unless told otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8686";

/// The config file: `--config`, else `$FINSCAN_CONFIG`, else `./finscan.toml`.
pub fn config_path(flag: Option<&Path>) -> PathBuf {
    if let Some(p) = flag {
        return p.to_owned();
    }
    match std::env::var_os(CONFIG_ENV) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(DEFAULT_CONFIG),
    }
}

/// A config that could not be used, saying where.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}:{line}: {key}: {message}", path.display())]
    Invalid {
        path: PathBuf,
        /// 1-based; 0 when the error is about the whole file.
        line: usize,
        /// Dotted path of the key (`jobs[1].schedule`), or `-`.
        key: String,
        message: String,
    },
}

/// An API token's role: what its holder may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads findings, sites, exports and the report, and records review
    /// decisions.
    Reviewer,
    /// Everything: also the config, the consistency check and (with the
    /// scheduler) the jobs.
    Admin,
    /// The internet information office (网信办): only the takedown list
    /// and the report.
    Recipient,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Reviewer, Role::Admin, Role::Recipient];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
            Role::Recipient => "recipient",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerSection {
    /// Database directory [default: $FINSCAN_DB, else ./finscan-data].
    pub db: Option<PathBuf>,
    /// Address and port to listen on (port 0: any free port).
    pub listen: SocketAddr,
    /// Listen on an address other than loopback (only behind a proxy that
    /// terminates TLS: bearer tokens are sent in clear text).
    pub allow_remote: bool,
    /// The reader's zone: dates in filters, times in exports and the
    /// report, and cron schedules [default: TZ, else Asia/Shanghai].
    pub tz: Option<String>,
    /// Largest request body accepted (bytes).
    pub max_body_bytes: usize,
    /// Time allowed to a request until its response starts.
    pub request_timeout_secs: u64,
    /// Time allowed to a connection to send a request's head, and to stay
    /// idle between requests.
    pub header_timeout_secs: u64,
    /// Connections served at once; more are closed as they come.
    pub max_connections: usize,
    /// Time a shutdown waits for requests in flight.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerSection {
    fn default() -> Self {
        ServerSection {
            db: None,
            listen: DEFAULT_LISTEN.parse().unwrap_or_else(|_| unreachable!()),
            allow_remote: false,
            tz: None,
            max_body_bytes: 1024 * 1024,
            request_timeout_secs: 120,
            header_timeout_secs: 10,
            max_connections: 256,
            shutdown_grace_secs: 20,
        }
    }
}

/// `[[tokens]]`: one API token.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenEntry {
    /// Who holds it: shown in the request log instead of the token.
    pub name: String,
    pub role: Role,
    /// SHA-256 of the token (64 hex digits).
    pub sha256: String,
    /// When it was made (RFC 3339), as `finscan token add` wrote it.
    #[serde(default)]
    pub created: Option<String>,
}

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// `finscan crawl`: crawl the seeds, scan every page.
    Crawl,
    /// `finscan registry scan`: a registry export, a file or a folder of
    /// files.
    Registry,
    /// `finscan crawl --profile`: registry web pages read with a page
    /// profile.
    RegistryProfile,
    /// `finscan recheck`: notified findings past their deadline.
    Recheck,
}

impl JobKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Crawl => "crawl",
            JobKind::Registry => "registry",
            JobKind::RegistryProfile => "registry-profile",
            JobKind::Recheck => "recheck",
        }
    }
}

/// `[[jobs]]` as written: the options of every kind, checked against the
/// job's kind by [`Config::load`]. Option names and defaults are those of
/// the command the kind runs.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobOptions {
    // crawl and registry-profile (finscan crawl)
    pub seeds: Option<PathBuf>,
    pub profile: Option<PathBuf>,
    pub max_pages: Option<u64>,
    pub max_depth: Option<u32>,
    pub concurrency: Option<u32>,
    pub host_concurrency: Option<u32>,
    pub user_agent: Option<String>,
    pub include: Option<Vec<String>>,
    pub exclude: Option<Vec<String>>,
    pub connect_timeout: Option<f64>,
    pub max_body: Option<usize>,
    pub max_pages_per_host: Option<u64>,
    pub max_query_variants: Option<u64>,
    pub retries: Option<u32>,
    pub backoff: Option<f64>,
    pub host_failures: Option<u32>,
    pub recrawl: Option<bool>,
    // crawl, registry-profile and recheck
    pub rate_per_host: Option<f64>,
    pub contact: Option<String>,
    pub resolve: Option<Vec<String>>,
    pub allow_private: Option<bool>,
    pub timeout: Option<f64>,
    // registry (finscan registry scan)
    pub path: Option<PathBuf>,
    pub county: Option<String>,
    pub columns: Option<Vec<String>>,
    pub format: Option<String>,
    pub encoding: Option<String>,
    pub sheet: Option<String>,
    pub threads: Option<usize>,
    pub no_licensed: Option<bool>,
    // registry and registry-profile
    pub allowlist: Option<PathBuf>,
    // every kind
    pub rules: Option<PathBuf>,
}

/// One scheduled job.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct JobEntry {
    pub name: String,
    pub kind: JobKind,
    /// Cron expression (5 fields, or 6 with seconds first), in the server's
    /// zone.
    pub schedule: String,
    #[serde(flatten)]
    pub options: JobOptions,
}

/// The whole file as read, before its values are checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
    #[serde(default)]
    jobs: Vec<RawJob>,
}

/// `[[jobs]]` with every key at top level: a flattened struct would hide
/// the keys' lines from the TOML reader (serde buffers flattened values),
/// so the job is read flat and split after.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: String,
    kind: JobKind,
    schedule: String,
    seeds: Option<PathBuf>,
    profile: Option<PathBuf>,
    max_pages: Option<u64>,
    max_depth: Option<u32>,
    concurrency: Option<u32>,
    host_concurrency: Option<u32>,
    user_agent: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    connect_timeout: Option<f64>,
    max_body: Option<usize>,
    max_pages_per_host: Option<u64>,
    max_query_variants: Option<u64>,
    retries: Option<u32>,
    backoff: Option<f64>,
    host_failures: Option<u32>,
    recrawl: Option<bool>,
    rate_per_host: Option<f64>,
    contact: Option<String>,
    resolve: Option<Vec<String>>,
    allow_private: Option<bool>,
    timeout: Option<f64>,
    path: Option<PathBuf>,
    county: Option<String>,
    columns: Option<Vec<String>>,
    format: Option<String>,
    encoding: Option<String>,
    sheet: Option<String>,
    threads: Option<usize>,
    no_licensed: Option<bool>,
    allowlist: Option<PathBuf>,
    rules: Option<PathBuf>,
}

impl RawJob {
    fn split(self) -> JobEntry {
        JobEntry {
            name: self.name,
            kind: self.kind,
            schedule: self.schedule,
            options: JobOptions {
                seeds: self.seeds,
                profile: self.profile,
                max_pages: self.max_pages,
                max_depth: self.max_depth,
                concurrency: self.concurrency,
                host_concurrency: self.host_concurrency,
                user_agent: self.user_agent,
                include: self.include,
                exclude: self.exclude,
                connect_timeout: self.connect_timeout,
                max_body: self.max_body,
                max_pages_per_host: self.max_pages_per_host,
                max_query_variants: self.max_query_variants,
                retries: self.retries,
                backoff: self.backoff,
                host_failures: self.host_failures,
                recrawl: self.recrawl,
                rate_per_host: self.rate_per_host,
                contact: self.contact,
                resolve: self.resolve,
                allow_private: self.allow_private,
                timeout: self.timeout,
                path: self.path,
                county: self.county,
                columns: self.columns,
                format: self.format,
                encoding: self.encoding,
                sheet: self.sheet,
                threads: self.threads,
                no_licensed: self.no_licensed,
                allowlist: self.allowlist,
                rules: self.rules,
            },
        }
    }
}

use JobKind::{Crawl, Recheck, Registry, RegistryProfile};

/// Which kinds each option applies to.
const OPTION_KINDS: &[(&str, &[JobKind])] = &[
    ("seeds", &[Crawl, RegistryProfile]),
    ("profile", &[RegistryProfile]),
    ("max_pages", &[Crawl, RegistryProfile]),
    ("max_depth", &[Crawl, RegistryProfile]),
    ("concurrency", &[Crawl, RegistryProfile]),
    ("host_concurrency", &[Crawl, RegistryProfile]),
    ("user_agent", &[Crawl, RegistryProfile]),
    ("include", &[Crawl, RegistryProfile]),
    ("exclude", &[Crawl, RegistryProfile]),
    ("connect_timeout", &[Crawl, RegistryProfile]),
    ("max_body", &[Crawl, RegistryProfile]),
    ("max_pages_per_host", &[Crawl, RegistryProfile]),
    ("max_query_variants", &[Crawl, RegistryProfile]),
    ("retries", &[Crawl, RegistryProfile]),
    ("backoff", &[Crawl, RegistryProfile]),
    ("host_failures", &[Crawl, RegistryProfile]),
    ("recrawl", &[Crawl, RegistryProfile]),
    ("rate_per_host", &[Crawl, RegistryProfile, Recheck]),
    ("contact", &[Crawl, RegistryProfile, Recheck]),
    ("resolve", &[Crawl, RegistryProfile, Recheck]),
    ("allow_private", &[Crawl, RegistryProfile, Recheck]),
    ("timeout", &[Crawl, RegistryProfile, Recheck]),
    ("path", &[Registry]),
    ("county", &[Registry]),
    ("columns", &[Registry]),
    ("format", &[Registry]),
    ("encoding", &[Registry]),
    ("sheet", &[Registry]),
    ("threads", &[Registry]),
    ("no_licensed", &[Registry]),
    ("allowlist", &[Registry, RegistryProfile]),
    ("rules", &[Crawl, Registry, RegistryProfile, Recheck]),
];

/// The required options of each kind.
const REQUIRED: &[(JobKind, &[&str])] = &[
    (Crawl, &["seeds"]),
    (RegistryProfile, &["seeds", "profile"]),
    (Registry, &["path"]),
    (Recheck, &[]),
];

/// A checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub server: ServerSection,
    pub tokens: Vec<TokenEntry>,
    pub jobs: Vec<JobEntry>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            path: PathBuf::from(DEFAULT_CONFIG),
            server: ServerSection::default(),
            tokens: Vec::new(),
            jobs: Vec::new(),
        }
    }
}

/// 1-based line of a byte offset.
fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

type Span = std::ops::Range<usize>;

/// Where keys are in a TOML text: finds the key a byte offset belongs to,
/// or the span of a key by its path.
struct Locator<'a> {
    src: &'a str,
    doc: Option<toml::Spanned<toml::de::DeTable<'a>>>,
}

/// One step of a key path: a table key or an array index.
#[derive(Clone, Copy)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

impl<'a> Locator<'a> {
    fn new(src: &'a str) -> Self {
        Locator {
            src,
            doc: toml::de::DeTable::parse(src).ok(),
        }
    }

    /// The dotted path of the innermost key whose key or value holds `at`.
    /// (A table's span is its header only, so tables are searched, not
    /// tested.)
    fn key_at(&self, at: usize) -> String {
        use toml::de::{DeTable, DeValue};
        fn holds(s: Span, at: usize) -> bool {
            s.start <= at && at < s.end.max(s.start + 1)
        }
        fn in_table(t: &DeTable<'_>, at: usize) -> Option<String> {
            for (k, v) in t.iter() {
                if let Some(sub) = in_value(v.get_ref(), at) {
                    return Some(format!("{}{sub}", k.get_ref()));
                }
                if holds(k.span(), at) || holds(v.span(), at) {
                    return Some(k.get_ref().to_string());
                }
            }
            None
        }
        fn in_value(v: &DeValue<'_>, at: usize) -> Option<String> {
            match v {
                DeValue::Table(t) => in_table(t, at).map(|p| format!(".{p}")),
                DeValue::Array(a) => a.iter().enumerate().find_map(|(i, item)| {
                    in_value(item.get_ref(), at)
                        .map(|sub| format!("[{i}]{sub}"))
                        .or_else(|| holds(item.span(), at).then(|| format!("[{i}]")))
                }),
                _ => None,
            }
        }
        self.doc
            .as_ref()
            .and_then(|d| in_table(d.get_ref(), at))
            .unwrap_or_else(|| "-".into())
    }

    /// The line of the key at `path` (of its value when `value`), or of the
    /// nearest enclosing key that is written.
    fn line(&self, path: &[Step<'_>]) -> usize {
        let Some(doc) = &self.doc else { return 0 };
        let mut best = 0usize;
        let mut table = Some(doc.get_ref());
        let mut value: Option<&toml::de::DeValue<'_>> = None;
        for step in path {
            match (*step, table, value) {
                (Step::Key(k), Some(t), _) => {
                    let Some((key, v)) = t.iter().find(|(key, _)| key.get_ref() == k) else {
                        break;
                    };
                    best = key.span().start;
                    table = None;
                    value = Some(v.get_ref());
                    if let toml::de::DeValue::Table(t) = v.get_ref() {
                        table = Some(t);
                    }
                }
                (Step::Index(i), _, Some(toml::de::DeValue::Array(a))) => {
                    let Some(item) = a.get(i) else { break };
                    best = item.span().start;
                    table = None;
                    value = Some(item.get_ref());
                    if let toml::de::DeValue::Table(t) = item.get_ref() {
                        table = Some(t);
                    }
                }
                _ => break,
            }
        }
        line_of(self.src, best)
    }
}

fn dotted(path: &[Step<'_>]) -> String {
    let mut s = String::new();
    for step in path {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

impl Config {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let src = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::parse(&src, path)
    }

    /// Checks the config text `src`, read from `path` (relative paths in
    /// it are read from the directory of `path`).
    pub fn parse(src: &str, path: &Path) -> Result<Config, ConfigError> {
        let at = Locator::new(src);
        let raw: RawConfig = toml::from_str(src).map_err(|e| {
            let (line, key) = match e.span() {
                Some(s) => (line_of(src, s.start), at.key_at(s.start)),
                None => (0, "-".to_string()),
            };
            ConfigError::Invalid {
                path: path.to_owned(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let invalid = |steps: &[Step<'_>], message: String| ConfigError::Invalid {
            path: path.to_owned(),
            line: at.line(steps),
            key: dotted(steps),
            message,
        };

        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let mut server = raw.server;
        let s = |k| [Step::Key("server"), Step::Key(k)];
        if let Some(db) = &server.db {
            server.db = Some(base.join(db));
        }
        if !server.allow_remote && !server.listen.ip().is_loopback() {
            return Err(invalid(
                &s("listen"),
                format!(
                    "{} is not a loopback address: bearer tokens would cross the network in clear text; \
                     set allow_remote = true only behind a proxy that terminates TLS",
                    server.listen
                ),
            ));
        }
        if let Some(tz) = &server.tz {
            Zone::named(tz).map_err(|e| invalid(&s("tz"), e.to_string()))?;
        }
        for (key, v) in [
            ("max_body_bytes", server.max_body_bytes as u64),
            ("request_timeout_secs", server.request_timeout_secs),
            ("header_timeout_secs", server.header_timeout_secs),
            ("max_connections", server.max_connections as u64),
        ] {
            if v == 0 {
                return Err(invalid(&s(key), "must be at least 1".into()));
            }
        }

        let mut names = BTreeSet::new();
        for (i, t) in raw.tokens.iter().enumerate() {
            let k = |key| [Step::Key("tokens"), Step::Index(i), Step::Key(key)];
            super::token::check_name(&t.name).map_err(|m| invalid(&k("name"), m))?;
            if !names.insert(t.name.as_str()) {
                return Err(invalid(
                    &k("name"),
                    format!("a second token named {:?}", t.name),
                ));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(
                    &k("sha256"),
                    "expected the token's SHA-256 as 64 hex digits (finscan token add writes it)"
                        .into(),
                ));
            }
        }

        let zone = match &server.tz {
            Some(tz) => Zone::named(tz).map_err(|e| invalid(&s("tz"), e.to_string()))?,
            None => Zone::from_flag_or_env(None).unwrap_or_else(|_| Zone::utc()),
        };
        let mut jobs = Vec::with_capacity(raw.jobs.len());
        let mut job_names = BTreeSet::new();
        for (i, job) in raw.jobs.into_iter().enumerate() {
            let mut job = job.split();
            let k = |key| [Step::Key("jobs"), Step::Index(i), Step::Key(key)];
            super::token::check_name(&job.name).map_err(|m| invalid(&k("name"), m))?;
            if !job_names.insert(job.name.clone()) {
                return Err(invalid(
                    &k("name"),
                    format!("a second job named {:?}", job.name),
                ));
            }
            parse_schedule(&job.schedule, &zone).map_err(|m| invalid(&k("schedule"), m))?;
            let given = given_options(&job.options);
            for key in &given {
                let kinds = OPTION_KINDS
                    .iter()
                    .find(|(o, _)| o == key)
                    .map_or(&[][..], |(_, k)| *k);
                if !kinds.contains(&job.kind) {
                    return Err(invalid(
                        &k(key),
                        format!(
                            "does not apply to a {} job (it applies to: {})",
                            job.kind.as_str(),
                            kinds
                                .iter()
                                .map(|k| k.as_str())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ));
                }
            }
            let required = REQUIRED
                .iter()
                .find(|(kind, _)| *kind == job.kind)
                .map_or(&[][..], |(_, r)| *r);
            for key in required {
                if !given.contains(key) {
                    return Err(invalid(
                        &[Step::Key("jobs"), Step::Index(i)],
                        format!(
                            "job {:?}: a {} job needs `{key}`",
                            job.name,
                            job.kind.as_str()
                        ),
                    ));
                }
            }
            check_values(&job.options).map_err(|(key, m)| invalid(&k(key), m))?;
            let o = &mut job.options;
            for p in [
                &mut o.seeds,
                &mut o.profile,
                &mut o.path,
                &mut o.allowlist,
                &mut o.rules,
            ]
            .into_iter()
            .flatten()
            {
                *p = base.join(&*p);
            }
            jobs.push(job);
        }
        Ok(Config {
            path: path.to_owned(),
            server,
            tokens: raw.tokens,
            jobs,
        })
    }

    /// The reader's zone of this server: `tz`, else `TZ`, else
    /// Asia/Shanghai (checked by [`Config::load`]).
    pub fn zone(&self) -> Zone {
        self.server
            .tz
            .as_deref()
            .and_then(|tz| Zone::named(tz).ok())
            .or_else(|| Zone::from_flag_or_env(None).ok())
            .unwrap_or_else(Zone::utc)
    }

    /// The database directory: `[server] db`, else `$FINSCAN_DB`, else
    /// `./finscan-data`.
    pub fn db_dir(&self) -> PathBuf {
        crate::store::db_dir(self.server.db.as_deref())
    }
}

/// Reads a cron expression: 5 fields (minute first) or 6 (seconds first);
/// the error says why, with its next time when it has none.
pub fn parse_schedule(expr: &str, zone: &Zone) -> Result<croner::Cron, String> {
    use croner::parser::{CronParser, Seconds};
    let cron = CronParser::builder()
        .seconds(Seconds::Optional)
        .build()
        .parse(expr.trim())
        .map_err(|e| format!("{expr:?} is not a cron expression: {e}"))?;
    let now = crate::time::now()
        .in_tz(zone.name())
        .map_err(|e| format!("zone {}: {e}", zone.name()))?;
    cron.find_next_occurrence(&now, false)
        .map_err(|e| format!("{expr:?} never fires: {e}"))?;
    Ok(cron)
}

/// The option keys a job gives.
fn given_options(o: &JobOptions) -> Vec<&'static str> {
    let v = serde_json::to_value(o).unwrap_or_default();
    let Some(map) = v.as_object() else {
        return Vec::new();
    };
    OPTION_KINDS
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| map.get(*k).is_some_and(|v| !v.is_null()))
        .collect()
}

/// Checks values as the commands' flags check them.
fn check_values(o: &JobOptions) -> Result<(), (&'static str, String)> {
    let positive = |key, v: Option<f64>| match v {
        Some(x) if !(x > 0.0 && x.is_finite()) => Err((key, "must be a positive number".into())),
        _ => Ok(()),
    };
    if let Some(r) = o.rate_per_host {
        if !(r >= 0.0 && r.is_finite()) {
            return Err((
                "rate_per_host",
                "must be 0 (unlimited) or a positive number".into(),
            ));
        }
    }
    positive("timeout", o.timeout)?;
    positive("connect_timeout", o.connect_timeout)?;
    positive("backoff", o.backoff)?;
    for (key, v) in [
        ("concurrency", o.concurrency),
        ("host_concurrency", o.host_concurrency),
    ] {
        if v == Some(0) {
            return Err((key, "must be at least 1".into()));
        }
    }
    if o.threads == Some(0) {
        return Err(("threads", "must be at least 1".into()));
    }
    for (key, list) in [("include", &o.include), ("exclude", &o.exclude)] {
        for re in list.iter().flatten() {
            regex::Regex::new(re).map_err(|e| (key, format!("{re:?}: {e}")))?;
        }
    }
    let mut resolve = crate::crawl::fetch::ResolveMap::default();
    for r in o.resolve.iter().flatten() {
        resolve.add(r).map_err(|e| ("resolve", e))?;
    }
    if let Some(f) = &o.format {
        if !["csv", "jsonl", "xlsx"].contains(&f.as_str()) {
            return Err(("format", format!("{f:?}: expected csv, jsonl or xlsx")));
        }
    }
    if let Some(e) = &o.encoding {
        if encoding_rs::Encoding::for_label(e.as_bytes()).is_none() {
            return Err(("encoding", format!("{e:?} is not a known encoding")));
        }
    }
    if let Some(c) = &o.county {
        if c.is_empty() || c.len() > 6 || !c.bytes().all(|b| b.is_ascii_digit()) {
            return Err((
                "county",
                format!("{c:?}: expected a division code or its first digits (6109)"),
            ));
        }
    }
    for c in o.columns.iter().flatten() {
        if !c.contains('=') {
            return Err(("columns", format!("{c:?}: expected FIELD=HEADER")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Config, ConfigError> {
        Config::parse(src, Path::new("/etc/finscan/finscan.toml"))
    }

    fn err(src: &str) -> (usize, String, String) {
        match parse(src) {
            Err(ConfigError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        let c = parse("").unwrap();
        assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
        assert!(c.tokens.is_empty() && c.jobs.is_empty());
    }

    #[test]
    fn unknown_keys_name_their_line_and_path() {
        let (line, key, message) = err("[server]\nlisten = \"127.0.0.1:1\"\nlisen = 3\n");
        assert_eq!((line, key.as_str()), (3, "server.lisen"));
        assert!(message.contains("unknown field `lisen`"), "{message}");

        let src = "[[jobs]]\nname = \"a\"\nkind = \"recheck\"\nschedule = \"0 * * * *\"\n\n[[jobs]]\nname = \"b\"\nkind = \"crawl\"\nschedule = \"0 * * * *\"\nseeds = \"s.txt\"\nmax_page = 3\n";
        let (line, key, message) = err(src);
        assert_eq!((line, key.as_str()), (11, "jobs[1].max_page"));
        assert!(message.contains("max_page"), "{message}");

        // a table's span is its header: the key is found inside it
        let (line, key, _) = err(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[[jobs]]\nname = \"n\"\nkind = \"crawl\"\nschedule = \"0 2 * * *\"\nseeds = \"s\"\nmax_page = 10\n",
        );
        assert_eq!((line, key.as_str()), (9, "jobs[0].max_page"));
        let (line, key, _) = err("[server]\nmax_connections = -3\n");
        assert_eq!((line, key.as_str()), (2, "server.max_connections"));
    }

    #[test]
    fn bad_values_name_their_line_and_key() {
        let (line, key, m) = err("\n[server]\nlisten = \"nowhere\"\n");
        assert_eq!((line, key.as_str()), (3, "server.listen"), "{m}");
        let (line, key, m) = err("[[tokens]]\nname = \"a\"\nrole = \"boss\"\nsha256 = \"00\"\n");
        assert_eq!((line, key.as_str()), (3, "tokens[0].role"), "{m}");
        assert!(m.contains("reviewer"), "{m}");
        let (line, key, m) = err(&format!(
            "[[tokens]]\nname = \"a\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
            "z".repeat(64)
        ));
        assert_eq!((line, key.as_str()), (4, "tokens[0].sha256"), "{m}");
        let (line, key, m) = err("[server]\nlisten = \"0.0.0.0:8686\"\n");
        assert_eq!((line, key.as_str()), (2, "server.listen"));
        assert!(m.contains("allow_remote"), "{m}");
        let (line, key, _) = err("[server]\ntz = \"Mars/Olympus\"\n");
        assert_eq!((line, key.as_str()), (2, "server.tz"));
    }

    #[test]
    fn jobs_are_checked_against_their_kind() {
        let job = |extra: &str| {
            format!(
                "[[jobs]]\nname = \"j\"\nkind = \"recheck\"\nschedule = \"0 0 8 * * *\"\n{extra}"
            )
        };
        assert!(parse(&job("")).is_ok());
        let (line, key, m) = err(&job("seeds = \"s.txt\"\n"));
        assert_eq!((line, key.as_str()), (5, "jobs[0].seeds"));
        assert!(m.contains("does not apply to a recheck job"), "{m}");
        let (line, key, m) = err(&job("rate_per_host = -1.0\n"));
        assert_eq!((line, key.as_str()), (5, "jobs[0].rate_per_host"), "{m}");
        let (line, key, m) = err(
            "[[jobs]]\nname = \"j\"\nkind = \"crawl\"\nschedule = \"61 * * * *\"\nseeds = \"s\"\n",
        );
        assert_eq!((line, key.as_str()), (4, "jobs[0].schedule"));
        assert!(m.contains("not a cron expression"), "{m}");
        let (line, _, m) =
            err("[[jobs]]\nname = \"j\"\nkind = \"crawl\"\nschedule = \"* * * * *\"\n");
        assert_eq!(line, 1);
        assert!(m.contains("needs `seeds`"), "{m}");
        let (line, key, _) = err(
            "[[jobs]]\nname = \"j\"\nkind = \"crawl\"\nschedule = \"* * * * *\"\nseeds = \"s\"\ninclude = [\"(\"]\n",
        );
        assert_eq!((line, key.as_str()), (6, "jobs[0].include"));
        let (line, key, _) = err(&format!("{}\n{}", job(""), job("")));
        assert_eq!((line, key.as_str()), (7, "jobs[1].name"));
    }

    #[test]
    fn relative_paths_are_read_from_the_config_directory() {
        let c = parse(
            "[server]\ndb = \"data\"\n[[jobs]]\nname = \"r\"\nkind = \"registry\"\nschedule = \"0 6 * * 1\"\npath = \"exports\"\n",
        )
        .unwrap();
        assert_eq!(c.db_dir(), Path::new("/etc/finscan/data"));
        assert_eq!(
            c.jobs[0].options.path.as_deref(),
            Some(Path::new("/etc/finscan/exports"))
        );
    }
}
