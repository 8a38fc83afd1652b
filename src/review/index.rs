//! Secondary indexes of findings: one sled tree, a key per finding and
//! dimension, written in the transaction that writes the finding.
//!
//! An index key is `dim ‖ value ‖ 0 ‖ severity rank ‖ !first_seen ‖ id`:
//! within one value, findings come out high severity first, then newest
//! first, which is `hits list`'s default order, so a query with a limit
//! stops reading when it has its rows. The time dimension is `t ‖
//! first_seen ‖ id`, for ranges of time.
//!
//! Every index value is the finding's [`Summary`] (40 bytes): status,
//! severity, source, county, first seen, and fingerprints of category, site
//! and rule. A query walks the narrowest index it has a filter for and
//! checks the other filters on the summaries, so it reads a finding's
//! record only for the rows it returns (and for a text search).
//!
//! Counts per (dimension, value) live in the meta tree under `n ‖ dim ‖
//! value`, written in the same transaction; they choose the narrowest index
//! and are what the consistency check at open compares.

use std::collections::HashMap;

use sled::transaction::{ConflictableTransactionError, TransactionalTree};

use super::finding::{Event, Finding, FindingId, severity_rank};
use crate::store::fingerprint;
use crate::time::to_unix as unix_secs;

/// The dimensions findings are indexed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dim {
    /// Every finding (empty value).
    All,
    Status,
    Category,
    Site,
    County,
    Source,
    Rule,
}

impl Dim {
    pub(crate) fn byte(self) -> u8 {
        match self {
            Dim::All => b'a',
            Dim::Status => b's',
            Dim::Category => b'c',
            Dim::Site => b'w',
            Dim::County => b'k',
            Dim::Source => b'o',
            Dim::Rule => b'r',
        }
    }
}

/// First byte of time-index keys.
pub(crate) const TIME: u8 = b't';
/// First byte of count keys in the meta tree.
pub(crate) const COUNT: u8 = b'n';
/// Index layout version, in the meta tree: a database without it (or with
/// another) has its indexes rebuilt at open.
pub(crate) const VERSION_KEY: &[u8] = b"index_version";
pub(crate) const VERSION: u32 = 1;
pub(crate) const SUMMARY_LEN: usize = 40;

/// The (dimension, value) pairs of a finding.
pub(crate) fn dims(f: &Finding) -> Vec<(Dim, String)> {
    let mut v = vec![
        (Dim::All, String::new()),
        (Dim::Status, f.status.as_str().to_owned()),
        (Dim::Category, f.category.as_str().to_owned()),
        (Dim::Source, f.source().as_str().to_owned()),
        (Dim::Rule, f.rule.0.clone()),
    ];
    if let Some(s) = &f.site {
        v.push((Dim::Site, s.clone()));
    }
    if let Some(c) = &f.county {
        v.push((Dim::County, c.clone()));
    }
    v
}

/// `dim ‖ value ‖ 0`: the prefix of every key of one value.
pub(crate) fn value_prefix(dim: Dim, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(value.len() + 2);
    k.push(dim.byte());
    k.extend_from_slice(value.as_bytes());
    k.push(0);
    k
}

pub(crate) fn count_key(dim: Dim, value: &str) -> Vec<u8> {
    let mut k = vec![COUNT];
    k.extend(value_prefix(dim, value));
    k
}

/// The sort suffix: severity rank, then newest first, then id.
pub(crate) fn order_suffix(f: &Finding) -> [u8; 17] {
    let mut s = [0u8; 17];
    s[0] = severity_rank(f.severity);
    s[1..9].copy_from_slice(&(u64::MAX - unix_secs(f.first_seen)).to_be_bytes());
    s[9..].copy_from_slice(&f.id.to_bytes());
    s
}

pub(crate) fn time_key(f: &Finding) -> [u8; 17] {
    let mut k = [TIME; 17];
    k[1..9].copy_from_slice(&unix_secs(f.first_seen).to_be_bytes());
    k[9..].copy_from_slice(&f.id.to_bytes());
    k
}

/// A finding's index entries: (key, summary).
pub(crate) fn entries(f: &Finding) -> Vec<(Vec<u8>, [u8; SUMMARY_LEN])> {
    let summary = Summary::of(f).encode();
    let suffix = order_suffix(f);
    let mut out: Vec<(Vec<u8>, [u8; SUMMARY_LEN])> = dims(f)
        .into_iter()
        .map(|(d, v)| {
            let mut k = value_prefix(d, &v);
            k.extend_from_slice(&suffix);
            (k, summary)
        })
        .collect();
    out.push((time_key(f).to_vec(), summary));
    out
}

/// The id at the end of an index key.
pub(crate) fn id_of_key(key: &[u8]) -> Option<FindingId> {
    FindingId::from_bytes(key.get(key.len().checked_sub(8)?..)?)
}

/// What a query checks without reading the finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Summary {
    pub status: u8,
    pub severity_rank: u8,
    pub source: u8,
    /// Division code as a number (0: none).
    pub county: u32,
    pub first_seen: u64,
    pub category_fp: u64,
    pub site_fp: u64,
    pub rule_fp: u64,
}

impl Summary {
    pub(crate) fn of(f: &Finding) -> Summary {
        Summary {
            status: f.status.code(),
            severity_rank: severity_rank(f.severity),
            source: f.source().code(),
            county: f
                .county
                .as_deref()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0),
            first_seen: unix_secs(f.first_seen),
            category_fp: fingerprint(f.category.as_str()),
            site_fp: f.site.as_deref().map_or(0, fingerprint),
            rule_fp: fingerprint(&f.rule.0),
        }
    }

    pub(crate) fn encode(&self) -> [u8; SUMMARY_LEN] {
        let mut b = [0u8; SUMMARY_LEN];
        b[0] = self.status;
        b[1] = self.severity_rank;
        b[2] = self.source;
        b[4..8].copy_from_slice(&self.county.to_be_bytes());
        b[8..16].copy_from_slice(&self.first_seen.to_be_bytes());
        b[16..24].copy_from_slice(&self.category_fp.to_be_bytes());
        b[24..32].copy_from_slice(&self.site_fp.to_be_bytes());
        b[32..40].copy_from_slice(&self.rule_fp.to_be_bytes());
        b
    }

    pub(crate) fn decode(b: &[u8]) -> Option<Summary> {
        let b: &[u8; SUMMARY_LEN] = b.try_into().ok()?;
        let u64_at = |i: usize| u64::from_be_bytes(b[i..i + 8].try_into().unwrap_or_default());
        Some(Summary {
            status: b[0],
            severity_rank: b[1],
            source: b[2],
            county: u32::from_be_bytes(b[4..8].try_into().unwrap_or_default()),
            first_seen: u64_at(8),
            category_fp: u64_at(16),
            site_fp: u64_at(24),
            rule_fp: u64_at(32),
        })
    }
}

pub(crate) fn event_key(id: FindingId, seq: u32) -> [u8; 12] {
    let mut k = [0u8; 12];
    k[..8].copy_from_slice(&id.to_bytes());
    k[8..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub(crate) fn read_count(v: Option<&[u8]>) -> u64 {
    v.and_then(|v| v.try_into().ok().map(u64::from_be_bytes))
        .unwrap_or(0)
}

pub(crate) type TxResult<T> = Result<T, ConflictableTransactionError<super::ReviewError>>;

/// One change of a finding: what it was (None: new) and what it becomes,
/// with the event that records it.
pub(crate) struct Change {
    pub old: Option<Finding>,
    pub new: Finding,
    pub event: Event,
}

/// Writes changes inside a transaction over (findings, events, index,
/// meta): each finding, its event, its index entries and the counts.
pub(crate) fn write_changes(
    findings: &TransactionalTree,
    events: &TransactionalTree,
    index: &TransactionalTree,
    meta: &TransactionalTree,
    changes: &[Change],
) -> TxResult<()> {
    let mut deltas: HashMap<Vec<u8>, i64> = HashMap::new();
    for c in changes {
        let id = c.new.id.to_bytes();
        let json = serde_json::to_vec(&c.new).unwrap_or_default();
        findings.insert(&id, json)?;
        let ev = serde_json::to_vec(&c.event).unwrap_or_default();
        events.insert(&event_key(c.new.id, c.event.seq), ev)?;
        if let Some(old) = &c.old {
            for (k, _) in entries(old) {
                index.remove(k)?;
            }
            for (d, v) in dims(old) {
                *deltas.entry(count_key(d, &v)).or_default() -= 1;
            }
        }
        for (k, v) in entries(&c.new) {
            index.insert(k, &v[..])?;
        }
        for (d, v) in dims(&c.new) {
            *deltas.entry(count_key(d, &v)).or_default() += 1;
        }
    }
    for (k, d) in deltas {
        if d == 0 {
            continue;
        }
        let n = read_count(meta.get(&k)?.as_deref()) as i64 + d;
        if n <= 0 {
            meta.remove(k)?;
        } else {
            meta.insert(k, &(n as u64).to_be_bytes())?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_round_trip() {
        let s = Summary {
            status: 3,
            severity_rank: 1,
            source: 2,
            county: 610902,
            first_seen: 1_800_000_000,
            category_fp: 7,
            site_fp: 8,
            rule_fp: 9,
        };
        assert_eq!(Summary::decode(&s.encode()), Some(s));
        assert_eq!(Summary::decode(&[0u8; 3]), None);
    }
}
