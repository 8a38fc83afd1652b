//! Instants and dates of the review layer, in one place.
//!
//! Stored: UTC instants ([`jiff::Timestamp`], RFC 3339 with its `Z`
//! offset in JSON) and civil dates (deadlines, [`jiff::civil::Date`]).
//! Parsed: what a reviewer types (`2026-12-06`, `2026-12-06T08:00:00+08:00`).
//! The CLI-wide time convention (a default zone for human output) is meant
//! to replace the bodies of these functions, not their callers.

use jiff::Timestamp;
use jiff::civil::Date;

/// Now, as a UTC instant, to the second.
pub fn now() -> Timestamp {
    from_unix_secs(unix_secs(Timestamp::now()))
}

/// An instant from RFC 3339 (`2026-12-06T08:00:00Z`, `…+08:00`) or a bare
/// date (`2026-12-06`, its start in UTC).
pub fn parse_instant(s: &str) -> Result<Timestamp, String> {
    let s = s.trim();
    if let Ok(t) = s.parse::<Timestamp>() {
        return Ok(t);
    }
    match s.parse::<Date>() {
        Ok(d) => d
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| format!("{s:?}: {e}")),
        Err(_) => Err(format!(
            "{s:?} is not a time (YYYY-MM-DD or RFC 3339 such as 2026-12-06T08:00:00+08:00)"
        )),
    }
}

/// A civil date (`2026-12-31`), for deadlines.
pub fn parse_date(s: &str) -> Result<Date, String> {
    s.trim()
        .parse::<Date>()
        .map_err(|_| format!("{s:?} is not a date (YYYY-MM-DD)"))
}

/// An instant as RFC 3339 in UTC (`2026-12-06T08:00:00Z`).
pub fn format_instant(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// Seconds since the Unix epoch, clamped to what index keys hold.
pub fn unix_secs(t: Timestamp) -> u64 {
    t.as_second().max(0) as u64
}

/// The instant of `secs` seconds since the Unix epoch.
pub fn from_unix_secs(secs: u64) -> Timestamp {
    Timestamp::from_second(secs.min(i64::MAX as u64) as i64).unwrap_or(Timestamp::UNIX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_instants_parse_to_utc() {
        let t = parse_instant("2026-12-06").unwrap();
        assert_eq!(format_instant(t), "2026-12-06T00:00:00Z");
        let t = parse_instant("2026-12-06T08:00:00+08:00").unwrap();
        assert_eq!(format_instant(t), "2026-12-06T00:00:00Z");
        assert!(parse_instant("yesterday").is_err());
        assert!(parse_date("2026-13-01").is_err());
        assert_eq!(from_unix_secs(unix_secs(t)).as_second(), t.as_second());
    }
}
