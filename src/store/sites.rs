//! Sites: the stored pages of one host taken together, and their ranking.
//!
//! A site's profile sums its pages' activity profiles (lending, payment …,
//! see `scan::activity`) and counts its hits by severity. The ranking puts
//! first what the plan asks a city to look at first (§五（一）: 从事金融活动，
//! 必须依法接受准入管理): a site with financial activity whose operator is not
//! a licensed institution ranks above one whose operator is, and above a
//! site without financial activity; then by its worst hit, its hits, its
//! activity.
//!
//! Derived on demand from the `pages` and `hits` trees (one pass over each):
//! nothing here is stored.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use super::{Result, Store};
use crate::rules::{Activity, Severity};

/// One site (host) as the crawl saw it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SiteProfile {
    pub host: String,
    /// The operator most of its pages name (主办单位 / 版权所有).
    pub operator: Option<String>,
    pub icp: Option<String>,
    pub pages: u64,
    /// Activity words over all its pages, by kind.
    pub activities: BTreeMap<Activity, u32>,
    pub hits: u64,
    /// The highest severity among its hits.
    pub worst: Option<Severity>,
    /// Its operator is a licensed institution (the licensed allow-list).
    pub licensed: bool,
}

impl SiteProfile {
    /// Financial activity by an operator that is not known to be licensed:
    /// the licence question of §五（一） is open.
    pub fn unlicensed_activity(&self) -> bool {
        !self.activities.is_empty() && !self.licensed
    }
}

impl Store {
    /// Every site's profile, ranked (see [`rank_sites`]). `licensed` tells
    /// whether an operator's name is a licensed institution's.
    pub fn site_profiles(&self, licensed: impl Fn(&str) -> bool) -> Result<Vec<SiteProfile>> {
        struct Acc {
            pages: u64,
            activities: BTreeMap<Activity, u32>,
            operators: HashMap<String, u32>,
            icp: Option<String>,
            hits: u64,
            worst: Option<Severity>,
        }
        let mut by_host: BTreeMap<String, Acc> = BTreeMap::new();
        let blank = || Acc {
            pages: 0,
            activities: BTreeMap::new(),
            operators: HashMap::new(),
            icp: None,
            hits: 0,
            worst: None,
        };
        for p in self.pages_iter() {
            let p = p?;
            let a = by_host.entry(p.host.clone()).or_insert_with(blank);
            a.pages += 1;
            for (k, n) in &p.activities {
                *a.activities.entry(*k).or_default() += n;
            }
            if let Some(op) = &p.operator {
                *a.operators.entry(op.clone()).or_default() += 1;
            }
            if a.icp.is_none() {
                a.icp = p.icp.clone();
            }
        }
        for h in self.hits_iter() {
            let h = h?;
            let a = by_host.entry(h.host.clone()).or_insert_with(blank);
            a.hits += 1;
            a.worst = a.worst.max(Some(h.severity));
        }
        let mut sites: Vec<SiteProfile> = by_host
            .into_iter()
            .map(|(host, a)| {
                let operator = a
                    .operators
                    .into_iter()
                    .max_by(|x, y| x.1.cmp(&y.1).then_with(|| y.0.cmp(&x.0)))
                    .map(|(o, _)| o);
                SiteProfile {
                    licensed: operator.as_deref().is_some_and(&licensed),
                    host,
                    operator,
                    icp: a.icp,
                    pages: a.pages,
                    activities: a.activities,
                    hits: a.hits,
                    worst: a.worst,
                }
            })
            .collect();
        rank_sites(&mut sites);
        Ok(sites)
    }
}

/// Orders sites for review: financial activity by an operator not known to
/// be licensed first; then the worst severity of their hits, their number
/// of hits, the amount of activity; the host last, for a stable order.
pub fn rank_sites(sites: &mut [SiteProfile]) {
    sites.sort_by(|a, b| {
        let activity = |s: &SiteProfile| s.activities.values().map(|&n| n as u64).sum::<u64>();
        b.unlicensed_activity()
            .cmp(&a.unlicensed_activity())
            .then_with(|| b.worst.cmp(&a.worst))
            .then_with(|| b.hits.cmp(&a.hits))
            .then_with(|| activity(b).cmp(&activity(a)))
            .then_with(|| a.host.cmp(&b.host))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(host: &str, activity: u32, licensed: bool, hits: u64) -> SiteProfile {
        let mut activities = BTreeMap::new();
        if activity > 0 {
            activities.insert(Activity::Lending, activity);
        }
        SiteProfile {
            host: host.into(),
            operator: None,
            icp: None,
            pages: 1,
            activities,
            hits,
            worst: (hits > 0).then_some(Severity::Medium),
            licensed,
        }
    }

    #[test]
    fn unlicensed_financial_activity_ranks_first() {
        let mut sites = vec![
            site("bank.example", 40, true, 3),
            site("shop.example", 0, false, 5),
            site("p2p.example", 2, false, 0),
        ];
        rank_sites(&mut sites);
        let order: Vec<&str> = sites.iter().map(|s| s.host.as_str()).collect();
        // the unlicensed platform first, though it has no hit; then by hits
        assert_eq!(order, ["p2p.example", "shop.example", "bank.example"]);
    }
}
