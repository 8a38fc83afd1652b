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
//! * `[[jobs]]`: scheduled runs, read as the scheduler's own definition
//!   ([`crate::jobs::JobDef`]): a `name`, a `kind` (`crawl`, `registry`,
//!   `registry-profile`, `recheck`), an optional cron `schedule` read in
//!   the server's zone, and an `[jobs.options]` table holding the options
//!   of the kind's library job, with the snake_case names of the flags of
//!   `finscan crawl`, `finscan registry scan` and `finscan recheck`.
//!
//! Every key is known: an unknown key, a value of the wrong type, a bad
//! schedule or an option that does not apply to a job's kind is an error
//! that names the file, the line and the key (`finscan.toml:14:
//! jobs[1].options.max_page: unknown field …`). Relative paths are read
//! from the config file's directory.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::jobs::JobDef;
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
    /// The most findings one `GET /api/findings` returns; a longer listing
    /// is read in pages (`offset`), as the CLI does.
    pub list_page: usize,
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
            list_page: 10_000,
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

/// The whole file as read, before its values are checked.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerSection,
    #[serde(default)]
    tokens: Vec<TokenEntry>,
    #[serde(default)]
    jobs: Vec<JobDef>,
}

/// A checked config.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    pub server: ServerSection,
    pub tokens: Vec<TokenEntry>,
    /// The scheduled jobs ([`crate::jobs`] reads them: see [`JobDef`]),
    /// checked, their relative paths made relative to the config's directory.
    pub jobs: Vec<JobDef>,
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
            ("list_page", server.list_page as u64),
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

        let mut jobs = raw.jobs;
        let mut job_names = BTreeSet::new();
        for (i, job) in jobs.iter_mut().enumerate() {
            let k = |key| [Step::Key("jobs"), Step::Index(i), Step::Key(key)];
            if !job_names.insert(job.name.clone()) {
                return Err(invalid(
                    &k("name"),
                    format!("a second job named {:?}", job.name),
                ));
            }
            job.check().map_err(|e| match &e.key {
                Some(key) => invalid(
                    &[
                        Step::Key("jobs"),
                        Step::Index(i),
                        Step::Key("options"),
                        Step::Key(key),
                    ],
                    e.message.clone(),
                ),
                None => invalid(&k("name"), e.message.clone()),
            })?;
            job.resolve_paths(base);
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

        let src = "[[jobs]]\nname = \"a\"\nkind = \"recheck\"\nschedule = \"0 * * * *\"\n\n[[jobs]]\nname = \"b\"\nkind = \"crawl\"\nschedule = \"0 * * * *\"\n[jobs.options]\nseeds = \"s.txt\"\nmax_page = 3\n";
        let (line, key, message) = err(src);
        assert_eq!((line, key.as_str()), (12, "jobs[1].options.max_page"));
        assert!(message.contains("unknown field `max_page`"), "{message}");

        // an option written beside the job's keys instead of in its options
        let (line, key, message) = err(
            "[server]\nlisten = \"127.0.0.1:0\"\n\n[[jobs]]\nname = \"n\"\nkind = \"crawl\"\nschedule = \"0 2 * * *\"\nseeds = \"s\"\n",
        );
        assert_eq!((line, key.as_str()), (8, "jobs[0].seeds"));
        assert!(message.contains("unknown field `seeds`"), "{message}");
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
        let job = |options: &str| {
            format!(
                "[[jobs]]\nname = \"j\"\nkind = \"recheck\"\nschedule = \"0 0 8 * * *\"\n[jobs.options]\n{options}"
            )
        };
        let c = parse(&job("")).unwrap();
        assert_eq!(c.jobs[0].kind(), crate::jobs::JobKind::Recheck);
        assert_eq!(c.jobs[0].schedule.as_ref().unwrap().as_str(), "0 0 8 * * *");
        // an option of another kind is an unknown key of this kind's options
        let (line, key, m) = err(&job("seeds = \"s.txt\"\n"));
        assert_eq!((line, key.as_str()), (6, "jobs[0].options.seeds"));
        assert!(m.contains("unknown field `seeds`"), "{m}");
        let (line, key, m) = err(&job("rate_per_host = -1.0\n"));
        assert_eq!(
            (line, key.as_str()),
            (6, "jobs[0].options.rate_per_host"),
            "{m}"
        );
        let (line, key, m) = err(&job("timeout = \"soon\"\n"));
        assert_eq!((line, key.as_str()), (6, "jobs[0].options.timeout"), "{m}");
        let (line, key, m) = err(
            "[[jobs]]\nname = \"j\"\nkind = \"crawl\"\nschedule = \"61 * * * *\"\n[jobs.options]\nseeds = \"s\"\n",
        );
        assert_eq!((line, key.as_str()), (4, "jobs[0].schedule"));
        assert!(m.contains("not a cron schedule"), "{m}");
        let (line, key, m) = err("[[jobs]]\nname = \"j\"\nkind = \"harvest\"\n");
        assert_eq!((line, key.as_str()), (3, "jobs[0].kind"));
        assert!(m.contains("harvest"), "{m}");
        // what reading cannot check: a crawl without seeds, a bad regex
        let (line, key, m) =
            err("[[jobs]]\nname = \"j\"\nkind = \"crawl\"\nschedule = \"* * * * *\"\n");
        assert_eq!((line, key.as_str()), (1, "jobs[0].options.seeds"));
        assert!(m.contains("needs a seeds file"), "{m}");
        let (line, key, _) = err(
            "[[jobs]]\nname = \"j\"\nkind = \"crawl\"\n[jobs.options]\nurls = [\"http://a.test/\"]\ninclude = [\"(\"]\n",
        );
        assert_eq!((line, key.as_str()), (6, "jobs[0].options.include"));
        let (line, key, m) = err(
            "[[jobs]]\nname = \"j\"\nkind = \"registry-profile\"\n[jobs.options]\nurls = [\"http://a.test/\"]\n",
        );
        assert_eq!((line, key.as_str()), (4, "jobs[0].options.profile"), "{m}");
        assert!(m.contains("site profile"), "{m}");
        let (line, key, m) = err("[[jobs]]\nname = \"a/b\"\nkind = \"recheck\"\n");
        assert_eq!((line, key.as_str()), (2, "jobs[0].name"), "{m}");
        let (line, key, _) = err(&format!("{}\n{}", job(""), job("")));
        assert_eq!((line, key.as_str()), (8, "jobs[1].name"));
    }

    #[test]
    fn relative_paths_are_read_from_the_config_directory() {
        let c = parse(
            "[server]\ndb = \"data\"\n[[jobs]]\nname = \"r\"\nkind = \"registry\"\nschedule = \"0 6 * * 1\"\n[jobs.options]\ninputs = [\"exports\", \"/srv/x.csv\"]\n",
        )
        .unwrap();
        assert_eq!(c.db_dir(), Path::new("/etc/finscan/data"));
        let crate::jobs::JobOptions::Registry(o) = &c.jobs[0].options else {
            panic!("{:?}", c.jobs[0].options)
        };
        assert_eq!(
            o.inputs,
            [
                PathBuf::from("/etc/finscan/exports"),
                PathBuf::from("/srv/x.csv")
            ]
        );
    }
}
