//! The activity profile: which kinds of financial business a page
//! describes ([`Activity`]), how often, and where first.
//!
//! Words that name lawful business (理财产品, 网络借贷平台, 基金销售) are not
//! violations: a bank's product page and a P2P platform's use the same ones.
//! They are a fact about the page and its site, kept with the page, shown
//! beside its hits, and used to rank sites: financial activity by an operator
//! that is not a licensed institution is what the plan asks a city to look
//! at first (§五（一）: 从事金融活动，必须依法接受准入管理).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::rules::Activity;
use crate::text::RawSpan;

/// One activity on a page: how many of its words, and the first one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActivityFound {
    pub activity: Activity,
    pub count: u32,
    /// The activity word as the rules list it (normalized).
    pub term: String,
    /// The first occurrence as written.
    pub matched: String,
    #[serde(flatten)]
    pub raw: RawSpan,
}

/// A page's activities, by kind.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ActivityProfile {
    pub found: Vec<ActivityFound>,
}

impl ActivityProfile {
    /// Counts by activity, as stored with a page.
    pub fn counts(&self) -> BTreeMap<Activity, u32> {
        self.found.iter().map(|a| (a.activity, a.count)).collect()
    }

    pub fn is_empty(&self) -> bool {
        self.found.is_empty()
    }
}

/// `lending ×12, payment ×1`: counts as a reviewer reads them.
pub fn describe(counts: &BTreeMap<Activity, u32>) -> String {
    let mut v: Vec<(&Activity, &u32)> = counts.iter().collect();
    v.sort_by_key(|(a, n)| (std::cmp::Reverse(**n), **a));
    v.iter()
        .map(|(a, n)| format!("{a} ×{n}"))
        .collect::<Vec<_>>()
        .join(", ")
}
