//! Option values checked while a job's table is read, so that a bad value
//! is an error at its line and key (the TOML reader adds them), not at
//! the job's first run. The jobs check the same again when they are given
//! options built in code.

use serde::de::{Deserialize, Deserializer, Error};

use crate::crawl::fetch::ResolveMap;

/// Requests per second per host: 0 (unlimited) or positive.
pub fn rate<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v >= 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(D::Error::custom(
            "rate_per_host must be 0 (unlimited) or a positive number",
        ))
    }
}

/// A time allowed, in seconds: positive.
pub fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(D::Error::custom("a time in seconds must be positive"))
    }
}

/// A backoff in seconds: not negative.
pub fn backoff<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v >= 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(D::Error::custom("backoff must not be negative"))
    }
}

/// A count that must be at least 1 (requests in flight).
pub fn at_least_one<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let v = u32::deserialize(d)?;
    if v >= 1 {
        Ok(v)
    } else {
        Err(D::Error::custom("must be at least 1"))
    }
}

/// Regular expressions (`include`, `exclude`).
pub fn regexes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    for p in &v {
        if let Err(e) = regex::Regex::new(p) {
            return Err(D::Error::custom(format!("{p:?} is not a valid regex: {e}")));
        }
    }
    Ok(v)
}

/// `HOST:PORT:ADDR` mappings.
pub fn resolve<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    let mut map = ResolveMap::default();
    for r in &v {
        map.add(r).map_err(D::Error::custom)?;
    }
    Ok(v)
}
