//! Times as every command reads and writes them.
//!
//! One convention for the whole tool (README, "Times"):
//! * stored and compared as instants ([`Timestamp`], UTC underneath);
//! * read from the command line as a date (`2024-03-01`, the start of that
//!   day in the reader's zone), a civil time (`2024-03-01 08:30`, in the
//!   reader's zone) or an RFC 3339 time with its offset
//!   (`2024-03-01T08:30:00+08:00`, `…Z`); impossible dates are errors;
//! * shown to people in the reader's zone — `Asia/Shanghai` unless `--tz` or
//!   the `TZ` environment variable names another — and written to JSON as
//!   RFC 3339 with the offset of that zone (`2024-03-01T08:30:00+08:00`).
//!
//! The zone database is bundled with the binary (jiff's `tzdb-bundle-always`),
//! so `Asia/Shanghai` resolves on a machine without system zone files.

use std::fmt;

pub use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

/// The zone of the tool's users (the plan is a Chinese city's).
pub const DEFAULT_ZONE: &str = "Asia/Shanghai";

/// A time argument that could not be read, with the text as given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error(
        "{given:?} is not a date or time (expected 2024-03-01, 2024-03-01 08:30 or 2024-03-01T08:30:00+08:00): {why}"
    )]
    Unreadable { given: String, why: String },
    #[error("unknown time zone {given:?} (expected an IANA name such as Asia/Shanghai or UTC)")]
    UnknownZone { given: String },
}

/// The reader's time zone.
#[derive(Debug, Clone)]
pub struct Zone(TimeZone);

impl Zone {
    /// `--tz` if given, else `TZ` from the environment, else Asia/Shanghai.
    /// A `TZ` that names no zone (a POSIX rule string, `:/etc/localtime`) is
    /// ignored rather than refused: it was set for other programs.
    pub fn from_flag_or_env(flag: Option<&str>) -> Result<Zone, TimeError> {
        if let Some(name) = flag {
            return Zone::named(name);
        }
        if let Ok(name) = std::env::var("TZ")
            && !name.is_empty()
            && let Ok(z) = Zone::named(&name)
        {
            return Ok(z);
        }
        Zone::named(DEFAULT_ZONE)
    }

    /// The zone called `name` (an IANA name, or `UTC`).
    pub fn named(name: &str) -> Result<Zone, TimeError> {
        TimeZone::get(name.trim())
            .map(Zone)
            .map_err(|_| TimeError::UnknownZone {
                given: name.to_string(),
            })
    }

    /// UTC (tests, machine output that wants no zone).
    pub fn utc() -> Zone {
        Zone(TimeZone::UTC)
    }

    /// `2024-03-01 16:30:00` in this zone: for people.
    pub fn human(&self, t: Timestamp) -> String {
        t.to_zoned(self.0.clone())
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    }

    /// `2024-03-01T16:30:00+08:00`: RFC 3339 with this zone's offset, for JSON.
    pub fn rfc3339(&self, t: Timestamp) -> String {
        t.to_zoned(self.0.clone())
            .strftime("%Y-%m-%dT%H:%M:%S%:z")
            .to_string()
    }

    /// Reads a time argument (see the module documentation). A bare date is
    /// the start of that day in this zone; with `end_of_day`, the start of
    /// the next day, so that `--until 2024-03-01` includes all of that day.
    pub fn parse(&self, given: &str, end_of_day: bool) -> Result<Timestamp, TimeError> {
        let s = given.trim();
        let unreadable = |why: String| TimeError::Unreadable {
            given: given.to_string(),
            why,
        };
        // with an offset or Z: an instant
        if let Ok(t) = s.parse::<Timestamp>() {
            return Ok(t);
        }
        // a civil date
        if s.len() <= 10 && !s.contains([':', 'T', ' ']) {
            let date: Date = s
                .parse()
                .map_err(|e: jiff::Error| unreadable(e.to_string()))?;
            let date = if end_of_day {
                date.tomorrow().map_err(|e| unreadable(e.to_string()))?
            } else {
                date
            };
            return self.at_civil(date.to_datetime(jiff::civil::Time::midnight()), given);
        }
        // a civil time, in this zone
        let dt: DateTime = s
            .parse()
            .map_err(|e: jiff::Error| unreadable(e.to_string()))?;
        self.at_civil(dt, given)
    }

    fn at_civil(&self, dt: DateTime, given: &str) -> Result<Timestamp, TimeError> {
        dt.to_zoned(self.0.clone())
            .map(|z| z.timestamp())
            .map_err(|e| TimeError::Unreadable {
                given: given.to_string(),
                why: e.to_string(),
            })
    }

    /// The zone's name as `--tz` would take it.
    pub fn name(&self) -> &str {
        self.0.iana_name().unwrap_or("UTC")
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A Unix time in seconds as an instant (stores keep seconds).
pub fn from_unix(secs: u64) -> Timestamp {
    Timestamp::from_second(secs.min(i64::MAX as u64) as i64).unwrap_or(Timestamp::MAX)
}

/// A stored RFC 3339 text (`…Z` or with an offset) as an instant.
pub fn from_stored(text: &str) -> Option<Timestamp> {
    text.parse().ok()
}

/// An instant as the Unix time in seconds that stores and index keys
/// keep (instants before 1970 as 0).
pub fn to_unix(t: Timestamp) -> u64 {
    t.as_second().max(0) as u64
}

/// Now, as an instant.
pub fn now() -> Timestamp {
    Timestamp::now()
}

/// Now to the second, as review events record their time.
pub fn now_in_seconds() -> Timestamp {
    from_unix(to_unix(Timestamp::now()))
}

/// A civil date (`2026-12-31`) as typed, for deadlines: a day, in no zone.
pub fn parse_date(s: &str) -> Result<jiff::civil::Date, String> {
    s.trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shanghai() -> Zone {
        Zone::named("Asia/Shanghai").unwrap()
    }

    #[test]
    fn unix_seconds_and_dates_round_trip() {
        let t = shanghai()
            .parse("2026-12-06T08:00:00+08:00", false)
            .unwrap();
        assert_eq!(from_unix(to_unix(t)), t);
        assert_eq!(to_unix(Timestamp::MIN), 0);
        assert_eq!(now_in_seconds().subsec_nanosecond(), 0);
        assert_eq!(
            parse_date(" 2026-12-31 ").unwrap().to_string(),
            "2026-12-31"
        );
        assert!(parse_date("2026-13-01").unwrap_err().contains("not a date"));
    }

    #[test]
    fn dates_are_days_in_the_readers_zone() {
        let z = shanghai();
        let since = z.parse("2024-03-01", false).unwrap();
        assert_eq!(since.to_string(), "2024-02-29T16:00:00Z");
        let until = z.parse("2024-03-01", true).unwrap();
        assert_eq!(until.to_string(), "2024-03-01T16:00:00Z");
        let utc = Zone::utc().parse("2024-03-01", false).unwrap();
        assert_eq!(utc.to_string(), "2024-03-01T00:00:00Z");
    }

    #[test]
    fn offsets_are_instants_not_strings() {
        let z = shanghai();
        let a = z.parse("2024-03-01T08:00:00+08:00", false).unwrap();
        let b = z.parse("2024-03-01T00:00:00Z", false).unwrap();
        assert_eq!(a, b);
        let c = z.parse("2024-03-01 08:00", false).unwrap();
        assert_eq!(a, c);
    }

    #[test]
    fn impossible_dates_are_refused() {
        let z = shanghai();
        for bad in [
            "2024-02-30",
            "2023-02-29",
            "2024-13-01",
            "yesterday",
            "2024-03-01T25:00:00Z",
            "",
        ] {
            let e = z.parse(bad, false).unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{bad}: {e}");
        }
        assert!(Zone::named("Mars/Olympus").is_err());
    }

    #[test]
    fn output_carries_the_zones_offset() {
        let t: Timestamp = "2024-03-01T00:00:00Z".parse().unwrap();
        assert_eq!(shanghai().rfc3339(t), "2024-03-01T08:00:00+08:00");
        assert_eq!(shanghai().human(t), "2024-03-01 08:00:00");
        assert_eq!(Zone::utc().rfc3339(t), "2024-03-01T00:00:00+00:00");
        assert_eq!(from_unix(1_709_251_200), t);
    }
}
