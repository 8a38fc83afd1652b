//! What a job is: a name, a kind, a schedule and the kind's options, as the
//! `jobs` section of `finscan.toml` declares them.
//!
//! ```toml
//! [[jobs]]
//! name = "platforms"
//! kind = "crawl"
//! schedule = "0 30 2 * * *"        # 02:30:00 every day, in the server's zone
//! [jobs.options]
//! seeds = "seeds/platforms.txt"
//! rate-per-host = 1.0
//! recrawl = true
//! ```
//!
//! Options carry the names of the `finscan crawl` / `finscan recheck` flags
//! (kebab-case, without the dashes) and mean the same. One options table
//! serves every kind, so that an unknown key is refused where it is written
//! (toml names the line); a known key that does not apply to the job's kind
//! is refused by [`JobDef::check`], which names the job and the key.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::schedule::Schedule;

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Crawl seed URLs (`finscan crawl`).
    Crawl,
    /// Scan a registry export file or folder (`finscan registry scan`).
    Registry,
    /// Crawl registry web pages with a site profile, reading company
    /// records from them (`finscan crawl --profile`).
    RegistryProfile,
    /// Fetch again the pages of notified findings past their deadline and
    /// decide them (`finscan recheck`).
    Recheck,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        JobKind::Crawl,
        JobKind::Registry,
        JobKind::RegistryProfile,
        JobKind::Recheck,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Crawl => "crawl",
            JobKind::Registry => "registry",
            JobKind::RegistryProfile => "registry-profile",
            JobKind::Recheck => "recheck",
        }
    }

    /// Whether runs of this kind drive the crawler over the database's one
    /// frontier. The frontier and the crawl generation are the database's,
    /// not a job's: two such runs at once would crawl each other's queue
    /// and one's recrawl would restart the other's pass. The scheduler lets
    /// one of them run at a time; the others wait for it.
    pub fn uses_frontier(self) -> bool {
        matches!(
            self,
            JobKind::Crawl | JobKind::RegistryProfile | JobKind::Recheck
        )
    }

    /// The option keys a job of this kind takes.
    pub fn options(self) -> &'static [&'static str] {
        const CRAWL: &[&str] = &[
            "seeds",
            "urls",
            "max-pages",
            "max-depth",
            "rate-per-host",
            "concurrency",
            "host-concurrency",
            "contact",
            "user-agent",
            "resolve",
            "allow-private",
            "include",
            "exclude",
            "timeout",
            "connect-timeout",
            "max-body",
            "max-pages-per-host",
            "max-query-variants",
            "retries",
            "backoff",
            "host-failures",
            "recrawl",
            "rules",
        ];
        const PROFILE: &[&str] = &[
            "seeds",
            "urls",
            "max-pages",
            "max-depth",
            "rate-per-host",
            "concurrency",
            "host-concurrency",
            "contact",
            "user-agent",
            "resolve",
            "allow-private",
            "include",
            "exclude",
            "timeout",
            "connect-timeout",
            "max-body",
            "max-pages-per-host",
            "max-query-variants",
            "retries",
            "backoff",
            "host-failures",
            "recrawl",
            "rules",
            "profile",
            "allowlist",
        ];
        const REGISTRY: &[&str] = &["path", "allowlist", "rules"];
        const RECHECK: &[&str] = &[
            "rate-per-host",
            "contact",
            "user-agent",
            "resolve",
            "allow-private",
            "timeout",
            "connect-timeout",
            "rules",
        ];
        match self {
            JobKind::Crawl => CRAWL,
            JobKind::RegistryProfile => PROFILE,
            JobKind::Registry => REGISTRY,
            JobKind::Recheck => RECHECK,
        }
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobDef {
    /// Letters, digits, `-`, `_` and `.`; at most 64 (it is a path segment
    /// of the HTTP API: `/api/jobs/{name}/run`).
    pub name: String,
    pub kind: JobKind,
    /// When it fires (see [`Schedule`]). A job without one runs when asked
    /// (`run_now`), and a recheck job also when a notified finding's
    /// deadline passes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<Schedule>,
    #[serde(default)]
    pub options: JobOptions,
}

/// The options of a job, all optional: an option not given takes the
/// default of the matching `finscan` flag. Which keys a kind takes:
/// [`JobKind::options`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct JobOptions {
    /// File of seed URLs, as `finscan crawl --seeds` reads it; read again at
    /// every run, so an edit takes effect at the next one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seeds: Option<PathBuf>,
    /// Seed URLs written in the configuration itself (with or beside `seeds`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub urls: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pages: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_depth: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_per_host: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// `HOST:PORT:ADDR` entries, as `--resolve`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resolve: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_private: Option<bool>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<f64>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_timeout: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pages_per_host: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_query_variants: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_failures: Option<u32>,
    /// Start a new pass over the sites at each run (a new crawl generation,
    /// conditional requests), as `finscan crawl --recrawl`. Without it a
    /// run continues the database's current pass: after the first run has
    /// finished, later runs fetch only what new seeds add. A run resumed
    /// after a restart always continues the pass it had started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recrawl: Option<bool>,
    /// Directory of `*.toml` rule files (default: the bundled rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<PathBuf>,
    /// Registry site profile (TOML), for `registry-profile` jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<PathBuf>,
    /// Licensed institutions exempt from flagging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowlist: Option<PathBuf>,
    /// Registry export file or folder, for `registry` jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
}

impl JobOptions {
    /// The keys given (as written in the configuration).
    pub fn keys(&self) -> Vec<String> {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::Object(m)) => m.into_iter().map(|(k, _)| k).collect(),
            _ => Vec::new(),
        }
    }
}

/// A job definition that cannot run as written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("job {job:?}: {}{message}", key.as_ref().map(|k| format!("option `{k}`: ")).unwrap_or_default())]
pub struct JobDefError {
    pub job: String,
    /// The option at fault, when one is.
    pub key: Option<String>,
    pub message: String,
}

/// Longest job name.
pub const MAX_NAME: usize = 64;

impl JobDef {
    /// Checks what deserializing cannot: the name, the options that apply to
    /// the kind, the ones a kind needs, and every value's range (the same
    /// checks `finscan crawl` makes of its flags). Paths are not opened here:
    /// a missing seeds file fails the run that reads it, named in its record.
    pub fn check(&self) -> Result<(), JobDefError> {
        let err = |key: Option<&str>, message: String| JobDefError {
            job: self.name.clone(),
            key: key.map(str::to_owned),
            message,
        };
        check_name(&self.name).map_err(|m| err(None, m))?;
        let allowed = self.kind.options();
        for k in self.options.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(err(
                    Some(&k),
                    format!(
                        "does not apply to a {} job (it takes: {})",
                        self.kind,
                        allowed.join(", ")
                    ),
                ));
            }
        }
        let o = &self.options;
        match self.kind {
            JobKind::Crawl | JobKind::RegistryProfile => {
                if o.seeds.is_none() && o.urls.is_empty() {
                    return Err(err(
                        Some("seeds"),
                        "a crawl needs a seeds file (`seeds`) or seed URLs (`urls`)".into(),
                    ));
                }
                if self.kind == JobKind::RegistryProfile && o.profile.is_none() {
                    return Err(err(
                        Some("profile"),
                        "a registry-profile job needs the site profile file".into(),
                    ));
                }
            }
            JobKind::Registry => {
                if o.path.is_none() {
                    return Err(err(
                        Some("path"),
                        "a registry job needs the export file or folder to scan".into(),
                    ));
                }
            }
            JobKind::Recheck => {}
        }
        for u in &o.urls {
            crate::crawl::urls::normalize(u)
                .map_err(|e| err(Some("urls"), format!("{u:?} is not a URL: {e}")))?;
        }
        if let Some(r) = o.rate_per_host
            && !(r >= 0.0 && r.is_finite())
        {
            return Err(err(
                Some("rate-per-host"),
                "must be 0 (unlimited) or a positive number".into(),
            ));
        }
        for (key, v) in [
            ("timeout", o.timeout),
            ("connect-timeout", o.connect_timeout),
        ] {
            if let Some(v) = v
                && !(v > 0.0 && v.is_finite())
            {
                return Err(err(
                    Some(key),
                    "must be a positive number of seconds".into(),
                ));
            }
        }
        if let Some(b) = o.backoff
            && !(b >= 0.0 && b.is_finite())
        {
            return Err(err(Some("backoff"), "must not be negative".into()));
        }
        for (key, v) in [
            ("concurrency", o.concurrency),
            ("host-concurrency", o.host_concurrency),
        ] {
            if v == Some(0) {
                return Err(err(Some(key), "must be at least 1".into()));
            }
        }
        let mut resolve = crate::crawl::fetch::ResolveMap::default();
        for r in &o.resolve {
            resolve.add(r).map_err(|e| err(Some("resolve"), e))?;
        }
        for (key, list) in [("include", &o.include), ("exclude", &o.exclude)] {
            for p in list {
                regex::Regex::new(p)
                    .map_err(|e| err(Some(key), format!("{p:?} is not a valid regex: {e}")))?;
            }
        }
        Ok(())
    }

    /// Makes the relative paths of the options relative to `base` (the
    /// directory of the configuration file), so that a job reads the same
    /// files whatever directory the server was started from.
    pub fn resolve_paths(&mut self, base: &Path) {
        let o = &mut self.options;
        for p in [
            &mut o.seeds,
            &mut o.rules,
            &mut o.profile,
            &mut o.allowlist,
            &mut o.path,
        ]
        .into_iter()
        .flatten()
        {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        }
    }
}

/// A job name: the characters of a URL path segment that need no escaping.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err(format!(
            "a job name has 1 to {MAX_NAME} characters, not {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
    {
        return Err(format!(
            "{name:?}: a job name has letters, digits, '-', '_' and '.' only, not {c:?}"
        ));
    }
    if name.starts_with('.') {
        return Err(format!("{name:?}: a job name does not start with '.'"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Config {
        jobs: Vec<JobDef>,
    }

    fn read(text: &str) -> Result<Vec<JobDef>, String> {
        toml::from_str::<Config>(text)
            .map(|c| c.jobs)
            .map_err(|e| e.to_string())
    }

    const GOOD: &str = r#"
[[jobs]]
name = "platforms"
kind = "crawl"
schedule = "0 30 2 * * *"
[jobs.options]
seeds = "seeds/platforms.txt"
rate-per-host = 0.5
recrawl = true
resolve = ["a.test:80:127.0.0.1"]

[[jobs]]
name = "recheck"
kind = "recheck"
"#;

    #[test]
    fn a_jobs_section_reads_into_job_defs() {
        let jobs = read(GOOD).unwrap();
        assert_eq!(jobs.len(), 2);
        let j = &jobs[0];
        assert_eq!(j.kind, JobKind::Crawl);
        assert_eq!(j.schedule.as_ref().unwrap().as_str(), "0 30 2 * * *");
        assert_eq!(j.options.rate_per_host, Some(0.5));
        assert_eq!(j.options.recrawl, Some(true));
        j.check().unwrap();
        assert_eq!(jobs[1].kind, JobKind::Recheck);
        assert_eq!(jobs[1].schedule, None);
        jobs[1].check().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_line() {
        let e = read("[[jobs]]\nname = \"a\"\nkind = \"crawl\"\nevery = \"day\"\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("every"), "{e}");
        let e = read("[[jobs]]\nname = \"a\"\nkind = \"crawl\"\n[jobs.options]\nseeds = \"s\"\nmax-pagez = 3\n")
            .unwrap_err();
        assert!(e.contains("line 6") && e.contains("max-pagez"), "{e}");
        let e = read("[[jobs]]\nname = \"a\"\nkind = \"harvest\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("harvest"), "{e}");
        let e =
            read("[[jobs]]\nname = \"a\"\nkind = \"crawl\"\nschedule = \"at noon\"\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("cron"), "{e}");
    }

    fn def(kind: JobKind, options: JobOptions) -> JobDef {
        JobDef {
            name: "j".into(),
            kind,
            schedule: None,
            options,
        }
    }

    #[test]
    fn an_option_of_another_kind_is_refused_with_its_key() {
        let d = def(
            JobKind::Recheck,
            JobOptions {
                seeds: Some("s.txt".into()),
                ..JobOptions::default()
            },
        );
        let e = d.check().unwrap_err();
        assert_eq!(e.key.as_deref(), Some("seeds"));
        assert!(
            e.to_string()
                .starts_with("job \"j\": option `seeds`: does not apply to a recheck job"),
            "{e}"
        );
    }

    #[test]
    fn a_crawl_without_seeds_and_a_registry_job_without_a_path_are_refused() {
        let e = def(JobKind::Crawl, JobOptions::default())
            .check()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("seeds"));
        let e = def(JobKind::Registry, JobOptions::default())
            .check()
            .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("path"));
        let e = def(
            JobKind::RegistryProfile,
            JobOptions {
                urls: vec!["http://a.test/".into()],
                ..JobOptions::default()
            },
        )
        .check()
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("profile"));
    }

    #[test]
    fn values_are_checked_as_the_crawl_flags_are() {
        let cases: Vec<(JobOptions, &str)> = vec![
            (
                JobOptions {
                    rate_per_host: Some(-1.0),
                    ..Default::default()
                },
                "rate-per-host",
            ),
            (
                JobOptions {
                    timeout: Some(0.0),
                    ..Default::default()
                },
                "timeout",
            ),
            (
                JobOptions {
                    concurrency: Some(0),
                    ..Default::default()
                },
                "concurrency",
            ),
            (
                JobOptions {
                    resolve: vec!["a.test:80".into()],
                    ..Default::default()
                },
                "resolve",
            ),
            (
                JobOptions {
                    include: vec!["(".into()],
                    ..Default::default()
                },
                "include",
            ),
            (
                JobOptions {
                    urls: vec!["ftp://a.test/".into()],
                    ..Default::default()
                },
                "urls",
            ),
        ];
        for (mut o, key) in cases {
            if o.urls.is_empty() {
                o.urls = vec!["http://a.test/".into()];
            }
            let e = def(JobKind::Crawl, o).check().unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
    }

    #[test]
    fn names_are_url_path_segments() {
        for good in ["platforms", "registry-2024", "a.b_c"] {
            check_name(good).unwrap();
        }
        for bad in ["", "a/b", "..", "名单", "a b", &"x".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn relative_paths_follow_the_config_file() {
        let mut d = def(
            JobKind::Crawl,
            JobOptions {
                seeds: Some("seeds.txt".into()),
                rules: Some("/etc/finscan/rules".into()),
                ..JobOptions::default()
            },
        );
        d.resolve_paths(Path::new("/srv/finscan"));
        assert_eq!(
            d.options.seeds.as_deref(),
            Some(Path::new("/srv/finscan/seeds.txt"))
        );
        assert_eq!(
            d.options.rules.as_deref(),
            Some(Path::new("/etc/finscan/rules"))
        );
    }
}
