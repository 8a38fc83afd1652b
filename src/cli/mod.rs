//! Command implementations of the binary: argument types, output formats.

pub mod crawl;
pub mod export;
pub mod memory;
pub mod recheck;
pub mod registry;
pub mod report;
pub mod review;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod style;
pub mod token;

use std::path::Path;
use std::process::ExitCode;

use std::sync::OnceLock;

use anyhow::Context;
use finscan::review::Desk;
use finscan::time::Zone;
use finscan::{Field, RuleSet, Scanner};

static ZONE: OnceLock<Zone> = OnceLock::new();

/// Sets the reader's time zone (from `--tz` / `TZ`), once, at start.
pub fn set_zone(zone: Zone) {
    let _ = ZONE.set(zone);
}

/// The reader's time zone: times in human output and JSON are in it.
pub fn zone() -> &'static Zone {
    ZONE.get_or_init(|| Zone::from_flag_or_env(None).unwrap_or_else(|_| Zone::utc()))
}

/// How a command finished; maps to the documented exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Clean,
    Hits,
    Fatal,
    Partial,
}

impl From<Outcome> for ExitCode {
    fn from(o: Outcome) -> Self {
        ExitCode::from(match o {
            Outcome::Clean => 0,
            Outcome::Hits => 1,
            Outcome::Fatal => 2,
            Outcome::Partial => 3,
        })
    }
}

pub fn parse_field(s: &str) -> Result<Field, String> {
    match s {
        "name" => Ok(Field::Name),
        "scope" => Ok(Field::Scope),
        "page" => Ok(Field::Page),
        _ => Err(format!(
            "unknown field {s:?} (expected name, scope or page)"
        )),
    }
}

/// Loads rules from `dir`, or the bundled ones.
pub fn load_rules(dir: Option<&Path>) -> anyhow::Result<RuleSet> {
    match dir {
        Some(d) => {
            RuleSet::load_dir(d).with_context(|| format!("rules in {} are invalid", d.display()))
        }
        None => RuleSet::bundled().context("bundled rules are invalid"),
    }
}

pub fn load_scanner(dir: Option<&Path>) -> anyhow::Result<Scanner> {
    Ok(Scanner::new(&load_rules(dir)?))
}

/// ` (18.0%/yr)` after a stated-yield hit in human output, else nothing.
pub fn rate_suffix(annual_rate: Option<f64>) -> String {
    annual_rate
        .map(|r| format!(" ({r:.1}%/yr)"))
        .unwrap_or_default()
}

/// A clap parser for a closed set of values named by `name`: `--help` lists
/// them and any other value is an error that lists them too.
pub fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl clap::builder::TypedValueParser<Value = T> {
    use clap::builder::TypedValueParser;
    clap::builder::PossibleValuesParser::new(all.iter().map(|&v| name(v))).map(move |s| {
        *all.iter()
            .find(|&&v| name(v) == s)
            .expect("a possible value names a variant")
    })
}

/// `--since` as clap parses it: an instant, a bare date being the start of
/// that day in the reader's zone.
pub fn since_arg(s: &str) -> Result<finscan::time::Timestamp, String> {
    zone().parse(s, false).map_err(|e| e.to_string())
}

/// `--until` as clap parses it: a bare date includes the whole day (the
/// bound is the start of the next day in the reader's zone).
pub fn until_arg(s: &str) -> Result<finscan::time::Timestamp, String> {
    zone().parse(s, true).map_err(|e| e.to_string())
}

/// Checks a time argument as clap parses it; the value is read again in the
/// reader's zone ([`time_arg`]) once `--tz` is known.
pub fn parse_time_arg(s: &str) -> Result<String, String> {
    Zone::utc()
        .parse(s, false)
        .map(|_| s.to_string())
        .map_err(|e| e.to_string())
}

/// A checked time argument as an instant in the reader's zone; a bare date
/// is the start of the day, or with `end_of_day` the start of the next.
pub fn time_arg(
    s: Option<&str>,
    end_of_day: bool,
) -> anyhow::Result<Option<finscan::time::Timestamp>> {
    s.map(|s| zone().parse(s, end_of_day).map_err(anyhow::Error::from))
        .transpose()
}

/// The keys that hold a time in any command's JSON: each is written as
/// RFC 3339 with the reader's offset, whatever the store keeps (an RFC 3339
/// text in UTC or Unix seconds).
pub const TIME_KEYS: &[&str] = &[
    "fetched_at",
    "first_seen",
    "last_seen",
    "scanned_at",
    "imported_at",
    "started_at",
    "finished_at",
    "time",
    "at",
    "updated",
    "last_scanned",
    "last_fetch",
];

/// Rewrites the time keys of one JSON object (see [`TIME_KEYS`]) into the
/// reader's zone, in place, also in the objects and arrays it holds.
/// Dates (a deadline) are not instants and stay as they are.
pub fn zone_json(v: &mut serde_json::Value) {
    if let Some(items) = v.as_array_mut() {
        items.iter_mut().for_each(zone_json);
        return;
    }
    let Some(obj) = v.as_object_mut() else { return };
    for (key, val) in obj.iter_mut() {
        if !TIME_KEYS.contains(&key.as_str()) && (val.is_object() || val.is_array()) {
            zone_json(val);
        }
    }
    for key in TIME_KEYS {
        let Some(val) = obj.get_mut(*key) else {
            continue;
        };
        let t = match &*val {
            serde_json::Value::String(s) => finscan::time::from_stored(s),
            serde_json::Value::Number(n) => n.as_u64().map(finscan::time::from_unix),
            _ => None,
        };
        if let Some(t) = t {
            *val = serde_json::Value::String(zone().rfc3339(t));
        }
    }
}

/// Writes `value` as one JSON line with its times in the reader's zone.
pub fn write_json_line(
    out: &mut impl std::io::Write,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let mut v = serde_json::to_value(value).map_err(std::io::Error::other)?;
    zone_json(&mut v);
    serde_json::to_writer(&mut *out, &v)?;
    out.write_all(b"\n")
}

/// The desk a command opened itself, for the rest of the process.
///
/// Going out of scope, it flushes sled's log and leaves the rest to the
/// exiting process. sled's own drop frees every tree node one by one and
/// syncs the whole file once more: `hits list` on the 1,000,000-finding
/// desk took 80 ms instead of 97 ms (medians of 15, interleaved). Every
/// decision is durable at the flush, as it is at sled's. The database stays
/// locked until the process exits, so a command opens it once.
///
/// A command that wrote much (a batch review, taking in new findings)
/// closes the desk instead, so that sled's snapshot is written for the next
/// command ([`finscan::store::Store::close`]).
pub struct OpenedDesk(Option<Desk>);

impl std::ops::Deref for OpenedDesk {
    type Target = Desk;
    fn deref(&self) -> &Desk {
        self.0.as_ref().expect("the desk is open until the end")
    }
}

impl Drop for OpenedDesk {
    fn drop(&mut self) {
        let Some(desk) = self.0.take() else { return };
        let closed = if desk.wrote_much() {
            desk.close().map(drop)
        } else {
            let flushed = desk.flush();
            std::mem::forget(desk);
            flushed
        };
        if let Err(e) = closed {
            eprintln!("finscan: flushing the database: {e}");
        }
    }
}

/// Opens the desk over an existing database (a missing one is refused and
/// not created), saying on stderr what opening did.
pub fn open_desk(db: &crawl::DbArg) -> anyhow::Result<OpenedDesk> {
    let dir = db.dir();
    require_db(&dir)?;
    let (desk, opened) = Desk::open(&dir).map_err(|e| serve::open_error(&dir, e))?;
    if opened.rebuilt {
        eprintln!("finscan: the review indexes disagreed with the findings and were rebuilt");
    }
    if opened.new_findings > 0 {
        eprintln!(
            "finscan: {} new finding(s) taken in from crawls and registry scans",
            opened.new_findings
        );
    }
    Ok(OpenedDesk(Some(desk)))
}

/// Refuses a read command on a database that does not exist, so that it
/// creates nothing (sled would make an empty one).
pub fn require_db(dir: &Path) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!(
            "no database at {} (crawl or scan first, or pass --db DIR / set {})",
            dir.display(),
            finscan::store::DB_ENV
        );
    }
    Ok(())
}
