//! When a job fires: a cron expression read in the reader's zone.
//!
//! The expression has five fields (minute hour day-of-month month
//! day-of-week, as in crontab) or six with seconds first (`0 30 2 * * *`),
//! plus croner's `L`, `#` and `W` and the `@daily`-style nicknames. It is
//! evaluated as wall-clock time in a [`Zone`] (Asia/Shanghai unless the
//! server is told otherwise), so `0 2 * * *` is 02:00 in the office, not in
//! UTC. A wall-clock time skipped by a daylight-saving change does not
//! fire; one that occurs twice fires once (croner's rules). China has no
//! daylight-saving time, so this matters only for other zones.
//!
//! croner was chosen over `cron` and `saffron`: it evaluates in a `jiff`
//! zone directly (the tool's time library, without chrono beside it), takes
//! the seconds field as optional (crontab's five fields stay valid), is
//! maintained, and handles the DST gap and fold explicitly. `cron` needs
//! chrono and always the seconds field; `saffron` has no zones and no
//! release since 2021.

use std::fmt;
use std::str::FromStr;

use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use jiff::Timestamp;
use jiff::tz::TimeZone;

use crate::time::Zone;

/// A parsed cron expression. Serialized as the text it was read from.
#[derive(Clone)]
pub struct Schedule {
    text: String,
    cron: Cron,
}

/// A cron expression that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{given:?} is not a cron schedule ({why}); expected five fields (minute hour day month weekday, e.g. \"0 2 * * *\") or six with seconds first (\"0 0 2 * * *\")"
)]
pub struct ScheduleError {
    pub given: String,
    pub why: String,
}

impl Schedule {
    /// Reads a cron expression (see the module doc).
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let err = |why: String| ScheduleError {
            given: text.to_owned(),
            why,
        };
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Err(err("it is empty".into()));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Optional)
            .year(Year::Disallowed)
            .build()
            .parse(trimmed)
            .map_err(|e| err(e.to_string()))?;
        Ok(Schedule {
            text: trimmed.to_owned(),
            cron,
        })
    }

    /// The expression as written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first instant strictly after `after` that the schedule names,
    /// reading it as wall-clock time in `zone`; `None` when it names none
    /// (`0 0 30 2 *`, the 30th of February).
    pub fn next_after(&self, after: Timestamp, zone: &Zone) -> Option<Timestamp> {
        let tz = time_zone(zone);
        let start = after.to_zoned(tz);
        self.cron
            .find_next_occurrence(&start, false)
            .ok()
            .map(|z| z.timestamp())
    }
}

/// The jiff zone of a [`Zone`] (UTC when its name does not resolve, which
/// a `Zone` made by [`Zone::named`] always does).
fn time_zone(zone: &Zone) -> TimeZone {
    TimeZone::get(zone.name()).unwrap_or(TimeZone::UTC)
}

impl FromStr for Schedule {
    type Err = ScheduleError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Schedule::parse(s)
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Schedule({:?})", self.text)
    }
}

impl PartialEq for Schedule {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl serde::Serialize for Schedule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

/// Parsed while the configuration is read, so a bad expression is an error
/// at its line of the file (toml reports where the value is).
impl<'de> serde::Deserialize<'de> for Schedule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Schedule::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn shanghai() -> Zone {
        Zone::named("Asia/Shanghai").unwrap()
    }

    #[test]
    fn five_fields_are_read_as_wall_clock_time_in_the_zone() {
        let s = Schedule::parse("0 2 * * *").unwrap();
        // 2026-03-01 08:00 in Shanghai → 02:00 the next day there
        assert_eq!(
            s.next_after(t("2026-03-01T00:00:00Z"), &shanghai()),
            Some(t("2026-03-01T18:00:00Z"))
        );
        assert_eq!(
            s.next_after(t("2026-03-01T00:00:00Z"), &Zone::utc()),
            Some(t("2026-03-01T02:00:00Z"))
        );
    }

    #[test]
    fn six_fields_have_seconds_first_and_the_next_fire_is_strictly_later() {
        let s = Schedule::parse("*/10 * * * * *").unwrap();
        let at = t("2026-03-01T00:00:10Z");
        assert_eq!(
            s.next_after(at, &Zone::utc()),
            Some(t("2026-03-01T00:00:20Z"))
        );
        let s = Schedule::parse("30 15 9 * * MON").unwrap();
        // 2026-03-02 is a Monday: 09:15:30 in Shanghai is 01:15:30 UTC
        assert_eq!(
            s.next_after(t("2026-03-01T00:00:00Z"), &shanghai()),
            Some(t("2026-03-02T01:15:30Z"))
        );
    }

    #[test]
    fn a_bad_expression_says_what_was_expected() {
        for bad in ["", "every day", "0 2 * *", "61 * * * *", "0 0 0 2 * * * *"] {
            let e = Schedule::parse(bad).unwrap_err();
            let msg = e.to_string();
            assert!(msg.contains("five fields"), "{bad:?}: {msg}");
            assert_eq!(e.given, bad);
        }
    }

    #[test]
    fn it_is_read_from_toml_where_a_bad_one_names_its_line() {
        #[derive(serde::Deserialize)]
        struct Doc {
            #[allow(dead_code)]
            a: Schedule,
            #[allow(dead_code)]
            b: Schedule,
        }
        let e = toml::from_str::<Doc>("a = \"0 2 * * *\"\nb = \"soon\"\n")
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("line 2"), "{e}");
        assert!(e.contains("\"soon\" is not a cron schedule"), "{e}");
    }
}
