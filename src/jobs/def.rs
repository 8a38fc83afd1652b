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
//! rate_per_host = 1.0
//! recrawl = true
//! ```
//!
//! The options table is the options struct of the kind's library job, with
//! its keys and defaults: [`CrawlOptions`] for `crawl` and
//! `registry-profile` (`finscan crawl`, with `--profile`),
//! [`RegistryScanOptions`] for `registry` (`finscan registry scan`),
//! [`RecheckOptions`] for `recheck` (`finscan recheck`). It is read
//! according to `kind`, so an unknown key — or one of another kind — is
//! refused where it is written (toml names the key and its line). What
//! reading cannot check, [`JobDef::check`] does, naming the job and the key.

use std::path::{Path, PathBuf};

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::schedule::Schedule;
use crate::job::crawl::CrawlOptions;
use crate::job::recheck::RecheckOptions;
use crate::registry::pipeline::RegistryScanOptions;

/// What a job runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JobKind {
    /// Crawl seed URLs (`finscan crawl`).
    Crawl,
    /// Scan registry export files or folders (`finscan registry scan`).
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
    /// and one's recrawl would restart the other's pass.
    pub fn uses_frontier(self) -> bool {
        matches!(
            self,
            JobKind::Crawl | JobKind::RegistryProfile | JobKind::Recheck
        )
    }

    /// Whether runs of this kind store companies in the registry, whose
    /// index file has one writer at a time.
    pub fn writes_registry(self) -> bool {
        matches!(self, JobKind::Registry | JobKind::RegistryProfile)
    }

    /// Whether runs of this kind take turns: the scheduler lets one run
    /// that uses the frontier or writes the registry go at a time; the
    /// others wait for it.
    pub fn takes_turns(self) -> bool {
        self.uses_frontier() || self.writes_registry()
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One job of the configuration. Its kind is its options' kind
/// ([`JobDef::kind`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JobDef {
    /// Letters, digits, `-`, `_` and `.`; at most 64 (it is a path segment
    /// of the HTTP API: `/api/jobs/{name}/run`).
    pub name: String,
    /// When it fires (see [`Schedule`]). A job without one runs when asked
    /// (`run_now`), and a recheck job also when a notified finding's
    /// deadline passes.
    pub schedule: Option<Schedule>,
    pub options: JobOptions,
}

/// The options of a job: its kind's library options. Seeds files, rule
/// directories and registry inputs are read at every run, so an edit
/// takes effect at the next one.
#[derive(Debug, Clone, PartialEq)]
pub enum JobOptions {
    Crawl(CrawlOptions),
    Registry(RegistryScanOptions),
    /// A crawl with `profile` set.
    RegistryProfile(CrawlOptions),
    Recheck(RecheckOptions),
}

impl JobOptions {
    pub fn kind(&self) -> JobKind {
        match self {
            JobOptions::Crawl(_) => JobKind::Crawl,
            JobOptions::Registry(_) => JobKind::Registry,
            JobOptions::RegistryProfile(_) => JobKind::RegistryProfile,
            JobOptions::Recheck(_) => JobKind::Recheck,
        }
    }

    /// The options of `kind` when its table is left out: every default.
    pub fn default_for(kind: JobKind) -> Self {
        match kind {
            JobKind::Crawl => JobOptions::Crawl(CrawlOptions::default()),
            JobKind::Registry => JobOptions::Registry(RegistryScanOptions::default()),
            JobKind::RegistryProfile => JobOptions::RegistryProfile(CrawlOptions::default()),
            JobKind::Recheck => JobOptions::Recheck(RecheckOptions::default()),
        }
    }

    /// Reads the options table of a `kind` job.
    pub fn deserialize_for<'de, D: Deserializer<'de>>(
        kind: JobKind,
        d: D,
    ) -> Result<Self, D::Error> {
        Ok(match kind {
            JobKind::Crawl => JobOptions::Crawl(CrawlOptions::deserialize(d)?),
            JobKind::Registry => JobOptions::Registry(RegistryScanOptions::deserialize(d)?),
            JobKind::RegistryProfile => JobOptions::RegistryProfile(CrawlOptions::deserialize(d)?),
            JobKind::Recheck => JobOptions::Recheck(RecheckOptions::deserialize(d)?),
        })
    }
}

/// Reads a job's table: `name`, `kind`, `schedule`, `options`, the
/// options as the kind's struct. When `kind` comes first (as it does
/// before a `[jobs.options]` table) the options are read in place, so an
/// error in them names its line; otherwise they are read once `kind` is
/// known, and an error names the key.
impl<'de> Deserialize<'de> for JobDef {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(field_identifier, rename_all = "lowercase")]
        enum Field {
            Name,
            Kind,
            Schedule,
            Options,
        }

        struct OptionsOf(JobKind);

        impl<'de> DeserializeSeed<'de> for OptionsOf {
            type Value = JobOptions;
            fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<JobOptions, D::Error> {
                JobOptions::deserialize_for(self.0, d)
            }
        }

        struct Def;

        impl<'de> Visitor<'de> for Def {
            type Value = JobDef;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a job table (name, kind, schedule, options)")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JobDef, A::Error> {
                let mut name: Option<String> = None;
                let mut kind: Option<JobKind> = None;
                let mut schedule: Option<Option<Schedule>> = None;
                let mut options: Option<JobOptions> = None;
                let mut early: Option<toml::Value> = None;
                while let Some(field) = map.next_key::<Field>()? {
                    let twice = |key: &'static str, seen: bool| {
                        if seen {
                            Err(de::Error::duplicate_field(key))
                        } else {
                            Ok(())
                        }
                    };
                    match field {
                        Field::Name => {
                            twice("name", name.is_some())?;
                            name = Some(map.next_value()?);
                        }
                        Field::Kind => {
                            twice("kind", kind.is_some())?;
                            kind = Some(map.next_value()?);
                        }
                        Field::Schedule => {
                            twice("schedule", schedule.is_some())?;
                            schedule = Some(map.next_value()?);
                        }
                        Field::Options => {
                            twice("options", options.is_some() || early.is_some())?;
                            match kind {
                                Some(k) => options = Some(map.next_value_seed(OptionsOf(k))?),
                                None => early = Some(map.next_value()?),
                            }
                        }
                    }
                }
                let name = name.ok_or_else(|| de::Error::missing_field("name"))?;
                let kind = kind.ok_or_else(|| de::Error::missing_field("kind"))?;
                let options = match (options, early) {
                    (Some(o), _) => o,
                    (None, Some(v)) => JobOptions::deserialize_for(kind, v)
                        .map_err(|e| de::Error::custom(format!("options: {}", e.message())))?,
                    (None, None) => JobOptions::default_for(kind),
                };
                Ok(JobDef {
                    name,
                    schedule: schedule.flatten(),
                    options,
                })
            }
        }

        d.deserialize_struct("JobDef", &["name", "kind", "schedule", "options"], Def)
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
    /// A job of `options`' kind, run when asked.
    pub fn new(name: impl Into<String>, options: JobOptions) -> Self {
        JobDef {
            name: name.into(),
            schedule: None,
            options,
        }
    }

    pub fn kind(&self) -> JobKind {
        self.options.kind()
    }

    /// Checks what reading cannot: the name, the options a kind needs, and
    /// every value's range (the library's own checks, as the job would
    /// make them when it runs). Paths are not opened here: a missing seeds
    /// file fails the run that reads it, named in its record.
    pub fn check(&self) -> Result<(), JobDefError> {
        let err = |key: Option<&str>, message: String| JobDefError {
            job: self.name.clone(),
            key: key.map(str::to_owned),
            message,
        };
        let bad = |e: crate::job::OptionError| err(Some(e.key), e.message);
        check_name(&self.name).map_err(|m| err(None, m))?;
        match &self.options {
            JobOptions::Crawl(o) | JobOptions::RegistryProfile(o) => {
                if o.seeds.is_none() && o.urls.is_empty() {
                    return Err(err(
                        Some("seeds"),
                        "a crawl needs a seeds file (`seeds`) or seed URLs (`urls`)".into(),
                    ));
                }
                let profile = self.kind() == JobKind::RegistryProfile;
                if profile && o.profile.is_none() {
                    return Err(err(
                        Some("profile"),
                        "a registry-profile job needs the site profile file".into(),
                    ));
                }
                if !profile {
                    for (key, given) in [
                        ("profile", o.profile.is_some()),
                        ("allowlist", o.allowlist.is_some()),
                    ] {
                        if given {
                            return Err(err(
                                Some(key),
                                "is for crawls of registry pages: make it a `registry-profile` job"
                                    .into(),
                            ));
                        }
                    }
                }
                for u in &o.urls {
                    if let Some(b) = crate::job::crawl::parse_seeds("urls", u).bad.first() {
                        return Err(err(
                            Some("urls"),
                            format!("{:?} is not a URL: {}", b.text, b.message),
                        ));
                    }
                }
                o.check().map_err(bad)?;
            }
            JobOptions::Registry(o) => {
                if o.inputs.is_empty() {
                    return Err(err(
                        Some("inputs"),
                        "a registry job needs the export files or folders to scan".into(),
                    ));
                }
                if o.inputs.iter().any(|p| p.as_os_str() == "-") {
                    return Err(err(
                        Some("inputs"),
                        "a scheduled job has no standard input to read (`-`)".into(),
                    ));
                }
            }
            JobOptions::Recheck(o) => o.check().map_err(bad)?,
        }
        Ok(())
    }

    /// Makes the relative paths of the options relative to `base` (the
    /// directory of the configuration file).
    pub fn resolve_paths(&mut self, base: &Path) {
        let paths: Vec<&mut PathBuf> = match &mut self.options {
            JobOptions::Crawl(o) | JobOptions::RegistryProfile(o) => {
                [&mut o.seeds, &mut o.rules, &mut o.profile, &mut o.allowlist]
                    .into_iter()
                    .flatten()
                    .collect()
            }
            JobOptions::Registry(o) => o
                .inputs
                .iter_mut()
                .chain(&mut o.allowlist)
                .chain(&mut o.rules)
                .collect(),
            JobOptions::Recheck(o) => o.rules.iter_mut().collect(),
        };
        for p in paths {
            if p.is_relative() && p.as_os_str() != "-" {
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
rate_per_host = 0.5
recrawl = true
resolve = ["a.test:80:127.0.0.1"]

[[jobs]]
name = "recheck"
kind = "recheck"

[[jobs]]
name = "registry"
kind = "registry"
options = { inputs = ["exports/2024-06"], county = "6109" }
"#;

    #[test]
    fn a_jobs_section_reads_into_job_defs_of_their_kind() {
        let jobs = read(GOOD).unwrap();
        assert_eq!(jobs.len(), 3);
        let j = &jobs[0];
        assert_eq!(j.kind(), JobKind::Crawl);
        assert_eq!(j.schedule.as_ref().unwrap().as_str(), "0 30 2 * * *");
        let JobOptions::Crawl(o) = &j.options else {
            panic!("{:?}", j.options)
        };
        assert_eq!(o.rate_per_host, 0.5);
        assert!(o.recrawl);
        assert_eq!(o.max_depth, CrawlOptions::default().max_depth);
        j.check().unwrap();
        assert_eq!(jobs[1].kind(), JobKind::Recheck);
        assert_eq!(jobs[1].schedule, None);
        assert_eq!(
            jobs[1].options,
            JobOptions::Recheck(RecheckOptions::default())
        );
        jobs[1].check().unwrap();
        let JobOptions::Registry(o) = &jobs[2].options else {
            panic!("{:?}", jobs[2].options)
        };
        assert_eq!(o.county.as_deref(), Some("6109"));
        jobs[2].check().unwrap();
    }

    #[test]
    fn unknown_keys_and_bad_values_name_their_line() {
        let e = read("[[jobs]]\nname = \"a\"\nkind = \"crawl\"\nevery = \"day\"\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("every"), "{e}");
        let e = read("[[jobs]]\nname = \"a\"\nkind = \"crawl\"\n[jobs.options]\nseeds = \"s\"\nmax_pagez = 3\n")
            .unwrap_err();
        assert!(e.contains("line 6") && e.contains("max_pagez"), "{e}");
        let e = read(
            "[[jobs]]\nname = \"a\"\nkind = \"crawl\"\n[jobs.options]\nmax_pages = \"many\"\n",
        )
        .unwrap_err();
        assert!(e.contains("line 5") && e.contains("max_pages"), "{e}");
        let e = read("[[jobs]]\nname = \"a\"\nkind = \"harvest\"\n").unwrap_err();
        assert!(e.contains("line 3") && e.contains("harvest"), "{e}");
        let e =
            read("[[jobs]]\nname = \"a\"\nkind = \"crawl\"\nschedule = \"at noon\"\n").unwrap_err();
        assert!(e.contains("line 4") && e.contains("cron"), "{e}");
        let e = read("[[jobs]]\nname = \"a\"\n").unwrap_err();
        assert!(e.contains("kind"), "{e}");
    }

    #[test]
    fn an_option_of_another_kind_is_refused_with_its_key() {
        // read in place, after `kind`: the line is named
        let e =
            read("[[jobs]]\nname = \"r\"\nkind = \"recheck\"\n[jobs.options]\nseeds = \"s.txt\"\n")
                .unwrap_err();
        assert!(e.contains("line 5") && e.contains("seeds"), "{e}");
        let e = read("[[jobs]]\nname = \"r\"\nkind = \"registry\"\n[jobs.options]\ninputs = [\"x\"]\nrecrawl = true\n")
            .unwrap_err();
        assert!(e.contains("line 6") && e.contains("recrawl"), "{e}");
        // written before `kind`: read after it, the key is named
        let e =
            read("[[jobs]]\nname = \"r\"\noptions = { seeds = \"s.txt\" }\nkind = \"recheck\"\n")
                .unwrap_err();
        assert!(e.contains("options") && e.contains("seeds"), "{e}");
        let ok = read(
            "[[jobs]]\nname = \"c\"\noptions = { urls = [\"http://a.test/\"] }\nkind = \"crawl\"\n",
        )
        .unwrap();
        assert_eq!(ok[0].kind(), JobKind::Crawl);
        ok[0].check().unwrap();
        // a profile makes a registry-profile job, not a crawl
        let d = JobDef::new(
            "j",
            JobOptions::Crawl(CrawlOptions {
                urls: vec!["http://a.test/".into()],
                profile: Some("p.toml".into()),
                ..CrawlOptions::default()
            }),
        );
        let e = d.check().unwrap_err();
        assert_eq!(e.key.as_deref(), Some("profile"));
        assert!(
            e.to_string()
                .starts_with("job \"j\": option `profile`: is for crawls of registry pages"),
            "{e}"
        );
    }

    #[test]
    fn a_crawl_without_seeds_and_a_registry_job_without_inputs_are_refused() {
        let key = |o: JobOptions| JobDef::new("j", o).check().unwrap_err().key;
        assert_eq!(
            key(JobOptions::default_for(JobKind::Crawl)).as_deref(),
            Some("seeds")
        );
        assert_eq!(
            key(JobOptions::default_for(JobKind::Registry)).as_deref(),
            Some("inputs")
        );
        assert_eq!(
            key(JobOptions::Registry(RegistryScanOptions {
                inputs: vec!["-".into()],
                ..RegistryScanOptions::default()
            }))
            .as_deref(),
            Some("inputs")
        );
        assert_eq!(
            key(JobOptions::RegistryProfile(CrawlOptions {
                urls: vec!["http://a.test/".into()],
                ..CrawlOptions::default()
            }))
            .as_deref(),
            Some("profile")
        );
    }

    #[test]
    fn values_are_checked_as_the_library_checks_them() {
        let cases: Vec<(CrawlOptions, &str)> = vec![
            (
                CrawlOptions {
                    rate_per_host: -1.0,
                    ..Default::default()
                },
                "rate_per_host",
            ),
            (
                CrawlOptions {
                    timeout: 0.0,
                    ..Default::default()
                },
                "timeout",
            ),
            (
                CrawlOptions {
                    concurrency: 0,
                    ..Default::default()
                },
                "concurrency",
            ),
            (
                CrawlOptions {
                    resolve: vec!["a.test:80".into()],
                    ..Default::default()
                },
                "resolve",
            ),
            (
                CrawlOptions {
                    include: vec!["(".into()],
                    ..Default::default()
                },
                "include",
            ),
            (
                CrawlOptions {
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
            let e = JobDef::new("j", JobOptions::Crawl(o)).check().unwrap_err();
            assert_eq!(e.key.as_deref(), Some(key), "{e}");
        }
        let e = JobDef::new(
            "j",
            JobOptions::Recheck(RecheckOptions {
                timeout: f64::NAN,
                ..RecheckOptions::default()
            }),
        )
        .check()
        .unwrap_err();
        assert_eq!(e.key.as_deref(), Some("timeout"), "{e}");
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
        let mut d = JobDef::new(
            "j",
            JobOptions::Crawl(CrawlOptions {
                seeds: Some("seeds.txt".into()),
                rules: Some("/etc/finscan/rules".into()),
                ..CrawlOptions::default()
            }),
        );
        d.resolve_paths(Path::new("/srv/finscan"));
        let JobOptions::Crawl(o) = &d.options else {
            unreachable!()
        };
        assert_eq!(
            o.seeds.as_deref(),
            Some(Path::new("/srv/finscan/seeds.txt"))
        );
        assert_eq!(o.rules.as_deref(), Some(Path::new("/etc/finscan/rules")));
        let mut d = JobDef::new(
            "r",
            JobOptions::Registry(RegistryScanOptions {
                inputs: vec!["exports".into(), "/data/x.csv".into()],
                allowlist: Some("licensed.txt".into()),
                ..RegistryScanOptions::default()
            }),
        );
        d.resolve_paths(Path::new("/srv/finscan"));
        let JobOptions::Registry(o) = &d.options else {
            unreachable!()
        };
        assert_eq!(
            o.inputs,
            [
                PathBuf::from("/srv/finscan/exports"),
                PathBuf::from("/data/x.csv")
            ]
        );
        assert_eq!(
            o.allowlist.as_deref(),
            Some(Path::new("/srv/finscan/licensed.txt"))
        );
    }
}
