//! The finding: what a reviewer decides on, whatever it was found in.
//!
//! A page hit and a flagged registry company become one [`Finding`] with
//! one [`FindingId`] space and one [`Status`]. Where it came from is its
//! [`Evidence`], the only part that differs by source.
//!
//! The lifecycle (plan §四（二）: 限期整改):
//!
//! ```text
//! new ──confirm──► confirmed ──notify(deadline)──► notified ──rectify──► rectified
//!  │ ▲                                                  ├──persist──► persisting ──refer──► referred
//!  │ │                                                  └──recheck-failed──► notified (finscan only)
//!  │ └──reopen(reason)── dismissed
//!  └──dismiss──────────►
//! ```
//!
//! [`Status::apply`] is the only place that knows it: every other module
//! asks it, and every decision it allows is stored as an append-only
//! [`Event`].

use std::fmt;

use jiff::Timestamp;
use jiff::civil::Date;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::rules::{Category, RuleId, Severity};

/// A finding's id: 64 bits of SHA-256 of its identity, shown as 16 hex
/// digits. A page finding's id is its hit's id (page URL, field, rule,
/// matched text, ordinal: see [`crate::store::StoredHit`]); a registry
/// finding's is [`FindingId::of_company`]. The same evidence found again
/// has the same id, so a decision on it sticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FindingId(pub u64);

impl FindingId {
    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(b: &[u8]) -> Option<FindingId> {
        b.try_into().ok().map(|b| FindingId(u64::from_be_bytes(b)))
    }

    /// Parses 16 hex digits.
    pub fn parse(s: &str) -> Result<FindingId, String> {
        let s = s.trim();
        if s.len() != 16 {
            return Err(format!("{s:?} is not a finding id (16 hex digits)"));
        }
        u64::from_str_radix(s, 16)
            .map(FindingId)
            .map_err(|_| format!("{s:?} is not a finding id (16 hex digits)"))
    }

    /// The id of a registry company's finding: its key (credit code or
    /// name) and every (field, rule, matched text) it was flagged for, so
    /// that a rescan of the same text finds the same finding and a changed
    /// name or scope that still breaks a rule is a new one.
    pub fn of_company<'a>(
        key: &str,
        matches: impl IntoIterator<Item = (&'a str, &'a str, &'a str)>,
    ) -> FindingId {
        let mut parts: Vec<(&str, &str, &str)> = matches.into_iter().collect();
        parts.sort_unstable();
        parts.dedup();
        let mut h = Sha256::new();
        h.update(b"registry\0");
        h.update(key.as_bytes());
        for (field, rule, matched) in parts {
            for p in [field, rule, matched] {
                h.update([0]);
                h.update(p.as_bytes());
            }
        }
        let d = h.finalize();
        FindingId(u64::from_be_bytes(d[..8].try_into().unwrap_or_default()))
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl Serialize for FindingId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for FindingId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        FindingId::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Where a finding was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    /// A crawled web page.
    Page,
    /// A company registration record (工商登记).
    Registry,
}

impl SourceKind {
    pub const ALL: [SourceKind; 2] = [SourceKind::Page, SourceKind::Registry];

    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Page => "page",
            SourceKind::Registry => "registry",
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            SourceKind::Page => 1,
            SourceKind::Registry => 2,
        }
    }
}

/// A finding's review state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Found, not reviewed yet.
    New,
    /// A reviewer judged it a violation.
    Confirmed,
    /// A reviewer judged it no violation; it stays so while the evidence is
    /// the same.
    Dismissed,
    /// A rectification notice was sent, with a deadline (限期整改).
    Notified,
    /// Checked after the deadline: the violation is gone.
    Rectified,
    /// Checked after the deadline: the violation is still there.
    Persisting,
    /// Passed on for takedown or to the police.
    Referred,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::New,
        Status::Confirmed,
        Status::Dismissed,
        Status::Notified,
        Status::Rectified,
        Status::Persisting,
        Status::Referred,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "new",
            Status::Confirmed => "confirmed",
            Status::Dismissed => "dismissed",
            Status::Notified => "notified",
            Status::Rectified => "rectified",
            Status::Persisting => "persisting",
            Status::Referred => "referred",
        }
    }

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_code(c: u8) -> Option<Status> {
        Status::ALL.get(c as usize).copied()
    }

    /// Statuses a reviewer has confirmed as violations (what the takedown
    /// list is made of).
    pub fn is_confirmed_violation(self) -> bool {
        matches!(
            self,
            Status::Confirmed | Status::Notified | Status::Persisting | Status::Referred
        )
    }

    /// The actions allowed from this state.
    pub fn allowed(self) -> &'static [ActionKind] {
        use ActionKind::*;
        match self {
            Status::New => &[Confirm, Dismiss],
            Status::Confirmed => &[Notify],
            Status::Dismissed => &[Reopen],
            Status::Notified => &[Rectify, Persist, RecheckFailed],
            Status::Persisting => &[Refer],
            Status::Rectified | Status::Referred => &[],
        }
    }

    /// The state `action` leads to, or why it is refused. The whole
    /// lifecycle is this match.
    pub fn apply(self, action: &Action) -> Result<Status, TransitionError> {
        let to = match (self, action) {
            (Status::New, Action::Confirm) => Status::Confirmed,
            (Status::New, Action::Dismiss) => Status::Dismissed,
            (Status::Confirmed, Action::Notify { .. }) => Status::Notified,
            (Status::Notified, Action::Rectify) => Status::Rectified,
            (Status::Notified, Action::Persist) => Status::Persisting,
            (Status::Notified, Action::RecheckFailed) => Status::Notified,
            (Status::Persisting, Action::Refer) => Status::Referred,
            (Status::Dismissed, Action::Reopen) => Status::New,
            _ => {
                return Err(TransitionError {
                    from: self,
                    action: action.kind(),
                });
            }
        };
        Ok(to)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A decision, or the finding's creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "lowercase")]
pub enum Action {
    /// The finding was created by a crawl or a registry scan (its first
    /// event; not a decision).
    Found,
    Confirm,
    Dismiss,
    /// A rectification notice was sent; the site or company must comply by
    /// `deadline`.
    Notify {
        deadline: Date,
    },
    /// The violation was gone when checked after the deadline.
    Rectify,
    /// The violation was still there when checked after the deadline.
    Persist,
    /// The page was fetched again after the deadline but the fetch failed
    /// (4xx, 5xx, network, redirect away): nothing could be compared, so
    /// the finding stays notified. Recorded by finscan only, never a
    /// reviewer's decision: a page that disappears is not rectified on
    /// that alone.
    #[serde(rename = "recheck-failed")]
    RecheckFailed,
    Refer,
    /// A dismissed finding is reviewed again (the note gives the reason).
    Reopen,
}

/// An action without its arguments: what error messages and `allowed` name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ActionKind {
    Found,
    Confirm,
    Dismiss,
    Notify,
    Rectify,
    Persist,
    RecheckFailed,
    Refer,
    Reopen,
}

impl ActionKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::Found => "found",
            ActionKind::Confirm => "confirm",
            ActionKind::Dismiss => "dismiss",
            ActionKind::Notify => "notify",
            ActionKind::Rectify => "rectify",
            ActionKind::Persist => "persist",
            ActionKind::RecheckFailed => "recheck-failed",
            ActionKind::Refer => "refer",
            ActionKind::Reopen => "reopen",
        }
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Action {
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Found => ActionKind::Found,
            Action::Confirm => ActionKind::Confirm,
            Action::Dismiss => ActionKind::Dismiss,
            Action::Notify { .. } => ActionKind::Notify,
            Action::Rectify => ActionKind::Rectify,
            Action::Persist => ActionKind::Persist,
            Action::RecheckFailed => ActionKind::RecheckFailed,
            Action::Refer => ActionKind::Refer,
            Action::Reopen => ActionKind::Reopen,
        }
    }

    /// The statuses this action is allowed from.
    pub fn allowed_from(&self) -> Vec<Status> {
        Status::ALL
            .into_iter()
            .filter(|s| s.apply(self).is_ok())
            .collect()
    }
}

/// A refused transition: names the current state and what it allows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {action} a finding that is {from}: {}", allowed_text(*from))]
pub struct TransitionError {
    pub from: Status,
    pub action: ActionKind,
}

fn allowed_text(from: Status) -> String {
    match from.allowed() {
        [] => format!("{from} is final, no action is allowed"),
        a => format!(
            "allowed: {}",
            a.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// One review event, append-only: who did what to which finding, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub finding: FindingId,
    /// 0 for the finding's first event, then 1, 2 …
    pub seq: u32,
    #[serde(flatten)]
    pub action: Action,
    pub from: Option<Status>,
    pub to: Status,
    pub reviewer: String,
    pub at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// What an automatic recheck compared (rectify, persist and
    /// recheck-failed events recorded by finscan).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recheck: Option<Recheck>,
}

/// The fetch or scan a rectification decision was made on: the evidence
/// of the decision, kept with its event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Recheck {
    /// The page fetched again (page findings).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// When the page was fetched, or the company record scanned.
    pub fetched_at: Timestamp,
    /// SHA-256 of the body fetched (absent when the fetch failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// HTTP status of the fetch, if a response came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The page's state after the fetch (`fetched`, `not-modified`,
    /// `client-error`, `failed` …), or `scanned` for a company record.
    pub state: String,
    /// Why the fetch failed, as the crawler recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Where a company record was read again: file (or URL) and line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_source: Option<String>,
}

/// Evidence of a page hit: where the bytes are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PageEvidence {
    pub url: String,
    pub host: String,
    /// `page`, or `name` for the site's operator text.
    pub field: String,
    pub term: String,
    /// Byte range in the raw body (`field = page`) or in the operator text.
    pub start: usize,
    pub end: usize,
    /// SHA-256 of the raw body the evidence is in.
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub normalizations: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annual_rate: Option<f64>,
}

/// One rule a company matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyMatch {
    pub field: String,
    pub rule: String,
    pub matched: String,
    pub term: String,
}

/// Evidence of a flagged company: the record as it was scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompanyEvidence {
    /// The registry store's key (`uscc:…` or `name:…`).
    pub key: String,
    pub name: String,
    pub uscc: Option<String>,
    /// Business scope (经营范围) as registered.
    pub scope: String,
    pub division: Option<String>,
    pub county_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub legal_rep: Option<String>,
    /// Where it was read: file (or URL) and line.
    pub record_source: String,
    pub line: u64,
    pub matches: Vec<CompanyMatch>,
}

/// What a finding was found in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "source", rename_all = "lowercase")]
pub enum Evidence {
    Page(PageEvidence),
    Registry(CompanyEvidence),
}

impl Evidence {
    pub fn kind(&self) -> SourceKind {
        match self {
            Evidence::Page(_) => SourceKind::Page,
            Evidence::Registry(_) => SourceKind::Registry,
        }
    }
}

/// One finding, as the review layer stores it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub id: FindingId,
    pub status: Status,
    pub rule: RuleId,
    pub category: Category,
    pub severity: Severity,
    /// The evidence as written (the company's restricted word, for a company).
    pub matched: String,
    /// Text around the match (the name and scope, for a company).
    pub snippet: String,
    /// The clause that forbids it.
    pub basis: String,
    /// Registrable domain of the page's host (pages only).
    pub site: Option<String>,
    /// Six-digit division code of the county (companies with a valid code).
    pub county: Option<String>,
    pub first_seen: Timestamp,
    /// Time of the latest event.
    pub updated: Timestamp,
    /// The deadline of the latest rectification notice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<Date>,
    /// Events recorded for it (the next event's `seq`).
    pub events: u32,
    #[serde(flatten)]
    pub evidence: Evidence,
}

impl Finding {
    pub fn source(&self) -> SourceKind {
        self.evidence.kind()
    }
}

/// The severity's place in index keys: high first.
pub(crate) fn severity_rank(s: Severity) -> u8 {
    match s {
        Severity::High => 0,
        Severity::Medium => 1,
        Severity::Low => 2,
    }
}

pub(crate) fn severity_of_rank(r: u8) -> Option<Severity> {
    match r {
        0 => Some(Severity::High),
        1 => Some(Severity::Medium),
        2 => Some(Severity::Low),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notify() -> Action {
        Action::Notify {
            deadline: "2027-01-31".parse().unwrap(),
        }
    }

    fn all_actions() -> Vec<Action> {
        vec![
            Action::Found,
            Action::Confirm,
            Action::Dismiss,
            notify(),
            Action::Rectify,
            Action::Persist,
            Action::RecheckFailed,
            Action::Refer,
            Action::Reopen,
        ]
    }

    #[test]
    fn every_allowed_transition_leads_where_the_lifecycle_says() {
        use Status::*;
        let allowed = [
            (New, Action::Confirm, Confirmed),
            (New, Action::Dismiss, Dismissed),
            (Confirmed, notify(), Notified),
            (Notified, Action::Rectify, Rectified),
            (Notified, Action::Persist, Persisting),
            (Notified, Action::RecheckFailed, Notified),
            (Persisting, Action::Refer, Referred),
            (Dismissed, Action::Reopen, New),
        ];
        for (from, action, to) in &allowed {
            assert_eq!(from.apply(action), Ok(*to), "{from} {:?}", action);
        }
        // and nothing else: every other (state, action) pair is refused
        let mut refused = 0;
        for from in Status::ALL {
            for action in all_actions() {
                if allowed.iter().any(|(f, a, _)| *f == from && *a == action) {
                    continue;
                }
                let e = from.apply(&action).unwrap_err();
                assert_eq!((e.from, e.action), (from, action.kind()));
                refused += 1;
            }
        }
        assert_eq!(refused, 7 * 9 - allowed.len());
    }

    #[test]
    fn a_refusal_names_the_state_and_the_allowed_actions() {
        let e = Status::New.apply(&Action::Refer).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cannot refer a finding that is new: allowed: confirm, dismiss"
        );
        let e = Status::Referred.apply(&Action::Confirm).unwrap_err();
        assert!(e.to_string().contains("referred is final"), "{e}");
    }

    #[test]
    fn allowed_lists_agree_with_apply() {
        for s in Status::ALL {
            for a in all_actions() {
                assert_eq!(
                    s.apply(&a).is_ok(),
                    s.allowed().contains(&a.kind()),
                    "{s} {:?}",
                    a
                );
            }
        }
        assert_eq!(notify().allowed_from(), [Status::Confirmed]);
    }

    #[test]
    fn status_codes_round_trip() {
        for s in Status::ALL {
            assert_eq!(Status::from_code(s.code()), Some(s));
        }
    }

    #[test]
    fn company_identity_is_its_key_and_matches_in_any_order() {
        let a = FindingId::of_company(
            "uscc:1",
            [("name", "name.licai", "理财"), ("scope", "s", "贷款")],
        );
        let b = FindingId::of_company(
            "uscc:1",
            [("scope", "s", "贷款"), ("name", "name.licai", "理财")],
        );
        assert_eq!(a, b);
        let c = FindingId::of_company("uscc:1", [("name", "name.licai", "理财")]);
        assert_ne!(a, c, "changed evidence is another finding");
        assert_eq!(FindingId::parse(&a.to_string()), Ok(a));
    }

    #[test]
    fn events_serialize_with_their_action() {
        let e = Event {
            finding: FindingId(1),
            seq: 2,
            action: notify(),
            from: Some(Status::Confirmed),
            to: Status::Notified,
            reviewer: "王".into(),
            at: Timestamp::from_second(0).unwrap(),
            note: None,
            recheck: None,
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["action"], "notify");
        assert_eq!(v["deadline"], "2027-01-31");
        assert_eq!(v["finding"], "0000000000000001");
        let back: Event = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
