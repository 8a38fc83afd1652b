//! The filter vocabulary of findings, written as `KEY=VALUE` pairs: what
//! `review --where KEY=VALUE` takes, what the HTTP API reads from a query
//! string (`GET /api/findings?status=new&site=a.com.cn`) and from a batch
//! review's `where`, and what the command line sends to a server. One
//! parser, so a filter means the same wherever it is written.
//!
//! Values of one key are alternatives and keys combine, as in [`Query`].
//! Times are read in the zone given (a bare date is the start of that day,
//! or for `until` the start of the next); [`to_pairs`] writes them back as
//! RFC 3339 in UTC, so that a query crosses from one zone to another
//! unchanged.

use jiff::Timestamp;

use super::finding::{SourceKind, Status};
use super::query::{Query, Sort};
use crate::rules::{Category, RuleId, Severity};
use crate::time::Zone;

/// The filter keys (`host` is also read, as `site`).
pub const KEYS: [&str; 10] = [
    "status", "category", "severity", "rule", "site", "county", "source", "since", "until",
    "search",
];

/// A filter that could not be read: the key and value as given, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown key {key:?} ({})", KEYS.join(", "))]
    UnknownKey { key: String },
    #[error("{key}={value}: {message}")]
    BadValue {
        key: String,
        value: String,
        message: String,
    },
}

fn bad(key: &str, value: &str, message: impl Into<String>) -> FilterError {
    FilterError::BadValue {
        key: key.to_owned(),
        value: value.to_owned(),
        message: message.into(),
    }
}

fn one_of<T: Copy>(
    key: &str,
    value: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> Result<T, FilterError> {
    all.iter()
        .copied()
        .find(|&v| name(v).eq_ignore_ascii_case(value))
        .ok_or_else(|| {
            bad(
                key,
                value,
                format!(
                    "expected one of {}",
                    all.iter().map(|&v| name(v)).collect::<Vec<_>>().join(", ")
                ),
            )
        })
}

/// Adds one `key=value` to `q`; a time is read in `zone`.
pub fn add_filter(q: &mut Query, key: &str, value: &str, zone: &Zone) -> Result<(), FilterError> {
    let (key, value) = (key.trim(), value.trim());
    let time = |end_of_day: bool| -> Result<Timestamp, FilterError> {
        zone.parse(value, end_of_day)
            .map_err(|e| bad(key, value, e.to_string()))
    };
    match key {
        "status" => q
            .statuses
            .push(one_of(key, value, &Status::ALL, Status::as_str)?),
        "category" => q
            .categories
            .push(one_of(key, value, &Category::ALL, Category::as_str)?),
        "severity" => q
            .severities
            .push(one_of(key, value, &Severity::ALL, Severity::as_str)?),
        "source" => {
            q.source = Some(one_of(
                key,
                value,
                &[SourceKind::Page, SourceKind::Registry],
                SourceKind::as_str,
            )?)
        }
        "rule" if !value.is_empty() => q.rules.push(RuleId(value.to_owned())),
        "site" | "host" if !value.is_empty() => q.sites.push(value.to_owned()),
        "county" => {
            if value.is_empty() || value.len() > 6 || !value.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad(
                    key,
                    value,
                    "expected a division code or its first digits (6109, 610902)",
                ));
            }
            q.counties.push(value.to_owned())
        }
        "since" => q.since = Some(time(false)?),
        "until" => q.until = Some(time(true)?),
        "search" => q.text = Some(value.to_owned()),
        "rule" | "site" | "host" => return Err(bad(key, value, "empty")),
        _ => {
            return Err(FilterError::UnknownKey {
                key: key.to_owned(),
            });
        }
    }
    Ok(())
}

/// The filters of `q` as `key=value` pairs that [`add_filter`] reads back
/// into the same filters (times as RFC 3339 in UTC). Order and limit are
/// not filters: see [`sort_name`].
pub fn to_pairs(q: &Query) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    out.extend(q.statuses.iter().map(|s| ("status", s.as_str().to_owned())));
    out.extend(
        q.categories
            .iter()
            .map(|c| ("category", c.as_str().to_owned())),
    );
    out.extend(
        q.severities
            .iter()
            .map(|s| ("severity", s.as_str().to_owned())),
    );
    out.extend(q.rules.iter().map(|r| ("rule", r.0.clone())));
    out.extend(q.sites.iter().map(|s| ("site", s.clone())));
    out.extend(q.counties.iter().map(|c| ("county", c.clone())));
    if let Some(s) = q.source {
        out.push(("source", s.as_str().to_owned()));
    }
    if let Some(t) = q.since {
        out.push(("since", t.to_string()));
    }
    if let Some(t) = q.until {
        out.push(("until", t.to_string()));
    }
    if let Some(t) = &q.text {
        out.push(("search", t.clone()));
    }
    out
}

/// The name of an order, as `--sort` and the API's `sort` take it.
pub fn sort_name(s: Sort) -> &'static str {
    match s {
        Sort::Severity => "severity",
        Sort::Time => "time",
        Sort::Site => "site",
    }
}

/// Reads an order's name.
pub fn parse_sort(s: &str) -> Result<Sort, FilterError> {
    one_of(
        "sort",
        s.trim(),
        &[Sort::Severity, Sort::Time, Sort::Site],
        sort_name,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone() -> Zone {
        Zone::named("Asia/Shanghai").unwrap()
    }

    #[test]
    fn pairs_read_back_into_the_same_query() {
        let z = zone();
        let mut q = Query::default();
        for (k, v) in [
            ("status", "new"),
            ("status", "confirmed"),
            ("category", "fund-pool"),
            ("severity", "high"),
            ("rule", "page.guarantee.principal-interest"),
            ("site", "a.com.cn"),
            ("county", "6109"),
            ("source", "page"),
            ("since", "2024-03-01"),
            ("until", "2024-03-31"),
            ("search", "保本"),
        ] {
            add_filter(&mut q, k, v, &z).unwrap();
        }
        let mut back = Query::default();
        for (k, v) in to_pairs(&q) {
            // read back in another zone: times travel as UTC instants
            add_filter(&mut back, k, &v, &Zone::utc()).unwrap();
        }
        assert_eq!(format!("{q:?}"), format!("{back:?}"));
        assert_eq!(
            q.since.unwrap().to_string(),
            "2024-02-29T16:00:00Z",
            "a date is the start of the day in the zone given"
        );
        assert_eq!(q.until.unwrap().to_string(), "2024-03-31T16:00:00Z");
    }

    #[test]
    fn unknown_keys_and_bad_values_name_what_was_given() {
        let z = zone();
        let mut q = Query::default();
        let e = add_filter(&mut q, "colour", "red", &z).unwrap_err();
        assert!(e.to_string().contains("unknown key \"colour\""), "{e}");
        let e = add_filter(&mut q, "category", "loans", &z).unwrap_err();
        assert!(e.to_string().starts_with("category=loans: "), "{e}");
        assert!(e.to_string().contains("fund-pool"), "{e}");
        assert!(add_filter(&mut q, "county", "61x", &z).is_err());
        assert!(add_filter(&mut q, "since", "2024-02-30", &z).is_err());
        assert!(add_filter(&mut q, "site", "", &z).is_err());
        assert_eq!(format!("{q:?}"), format!("{:?}", Query::default()));
    }

    #[test]
    fn sorts_are_named_both_ways() {
        for s in [Sort::Severity, Sort::Time, Sort::Site] {
            assert_eq!(parse_sort(sort_name(s)).unwrap(), s);
        }
        assert!(parse_sort("random").is_err());
    }
}
