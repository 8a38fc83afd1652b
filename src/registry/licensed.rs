//! Licensed institutions (持牌机构) and licensed activities, from the
//! `[[licensed]]` and `[[branch_location]]` tables of the rules
//! (`wordlists/licensed.toml`).
//!
//! Plan §五（一） restricts the words to *non-financial* companies; a bank
//! branch carrying 金融 in its name or 存款 in its scope is what the words
//! are reserved for. The registry itself guarantees the licence for names
//! that only an approved institution may register (商业银行法 §11: 银行) and
//! for scopes whose activity needs an approval before registration
//! (工商登记前置审批): such records are reported as licensed (by name) or
//! with a licensed type to verify (by scope), not flagged. The user's own
//! allow-list ([`super::AllowList`]) adds institutions the data does not
//! name; this list is the default that ships with the rules.
//!
//! Names and terms are compared in the scanner's normalized form
//! ([`crate::text::normalize`]: width, case, traditional → simplified), so
//! 中國銀行股份有限公司 is recognized as written.

use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;
use serde::Serialize;

use crate::rules::{Field, RuleSet};
use crate::text::{normalize, normalize_term};

/// One licensed kind of institution or activity, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LicensedKind {
    /// The `[[licensed]]` entry's id (`licensed.bank`, `licensed-scope.pawn`).
    pub id: String,
    /// What it is (商业银行, 典当行).
    pub institution: String,
    /// The law that requires the approval.
    pub basis: String,
}

/// The place words of one `[[branch_location]]` table.
#[derive(Debug, Clone)]
struct BranchLocations {
    places: Vec<String>,
    branch_words: Vec<String>,
    entity_words: Vec<String>,
}

/// The default list of licensed institutions and activities, compiled.
#[derive(Debug, Clone, Default)]
pub struct LicensedList {
    /// Over normalized names; pattern `i` is `name_kinds[i]`'s.
    names: Option<AhoCorasick>,
    name_kinds: Vec<Arc<LicensedKind>>,
    /// Normalized scope term → its kind.
    scope_terms: FxHashMap<String, Arc<LicensedKind>>,
    locations: Vec<BranchLocations>,
}

impl LicensedList {
    /// The list of `set`'s `[[licensed]]` and `[[branch_location]]` tables
    /// (empty when the rules have none).
    pub fn from_rules(set: &RuleSet) -> Self {
        let mut patterns = Vec::new();
        let mut name_kinds = Vec::new();
        let mut scope_terms = FxHashMap::default();
        for l in &set.licensed {
            let kind = Arc::new(LicensedKind {
                id: l.id.clone(),
                institution: l.institution.clone(),
                basis: l.basis.clone(),
            });
            for t in &l.terms {
                let n = normalize_term(t);
                match l.field {
                    Field::Name => {
                        patterns.push(n);
                        name_kinds.push(Arc::clone(&kind));
                    }
                    _ => {
                        scope_terms.entry(n).or_insert_with(|| Arc::clone(&kind));
                    }
                }
            }
        }
        let names = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        let locations = set
            .branch_locations
            .iter()
            .map(|b| BranchLocations {
                places: b.terms.iter().map(|t| normalize_term(t)).collect(),
                branch_words: b.branch_words.iter().map(|t| normalize_term(t)).collect(),
                entity_words: b.entity_words.iter().map(|t| normalize_term(t)).collect(),
            })
            .collect();
        LicensedList {
            names,
            name_kinds,
            scope_terms,
            locations,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_none() && self.scope_terms.is_empty() && self.locations.is_empty()
    }

    /// The licensed institution a registered name belongs to, if its name
    /// says so (the first institution word in it).
    pub fn institution(&self, name: &str) -> Option<&Arc<LicensedKind>> {
        let ac = self.names.as_ref()?;
        let n = normalize(name);
        let m = ac.find(n.text.as_str())?;
        self.name_kinds.get(m.pattern().as_usize())
    }

    /// The licensed activity of a scope hit's term, if its activity needs a
    /// licence before registration.
    pub fn activity(&self, term: &str) -> Option<&Arc<LicensedKind>> {
        if self.scope_terms.is_empty() {
            return None;
        }
        self.scope_terms
            .get(term)
            .or_else(|| self.scope_terms.get(&normalize_term(term)))
    }

    /// Whether the name hit at bytes `start..end` of `name` lies in a place
    /// word of the branch's part of the name: after the legal entity's
    /// name (its first entity word, 公司), in a place word (金融中心), in a
    /// name that ends with a branch word (支行). Offsets are bytes of
    /// `name` as written; the comparison is on the text as written too
    /// (place words are plain Chinese, unaffected by normalization).
    pub fn in_branch_location(&self, name: &str, start: usize, end: usize) -> bool {
        self.locations.iter().any(|b| {
            let Some(entity_end) = b
                .entity_words
                .iter()
                .filter_map(|w| name.find(w.as_str()).map(|i| i + w.len()))
                .min()
            else {
                return false;
            };
            if start < entity_end || !b.branch_words.iter().any(|w| name.ends_with(w.as_str())) {
                return false;
            }
            b.places.iter().any(|p| {
                name[entity_end..]
                    .match_indices(p.as_str())
                    .map(|(i, _)| entity_end + i)
                    .any(|s| s <= start && s + p.len() >= end && s + p.len() < name.len())
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list() -> LicensedList {
        LicensedList::from_rules(&RuleSet::bundled().expect("bundled rules"))
    }

    #[test]
    fn institution_words_with_their_corporate_form_mark_a_licensed_name() {
        let l = list();
        let id = |n: &str| l.institution(n).map(|k| k.id.as_str());
        assert_eq!(
            id("中国农业银行股份有限公司安康金融大街支行"),
            Some("licensed.bank")
        );
        assert_eq!(
            id("中國農業銀行股份有限公司安康支行"),
            Some("licensed.bank")
        );
        assert_eq!(
            id("岚皋县农村信用合作联社佐龙信用社"),
            Some("licensed.credit-cooperative")
        );
        assert_eq!(
            id("某某人寿保险股份有限公司安康中心支公司"),
            Some("licensed.insurer")
        );
        assert_eq!(id("安康银行卡服务有限公司"), None);
        assert_eq!(id("安康证券投资咨询有限公司"), None);
        assert_eq!(id("安康保险代理有限公司"), None);
    }

    #[test]
    fn a_place_word_in_a_branch_part_is_a_location() {
        let l = list();
        let at = |name: &str, word: &str| {
            let s = name.find(word).expect("word");
            l.in_branch_location(name, s, s + word.len())
        };
        assert!(at("安康某某物业管理有限公司金融中心分公司", "金融"));
        assert!(!at("安康金融中心有限公司", "金融"), "the entity's own name");
        assert!(
            !at("安康某某投资有限公司金融中心", "金融"),
            "no branch word at the end"
        );
    }

    #[test]
    fn licensed_scope_terms_are_found_by_the_hit_term() {
        let l = list();
        assert_eq!(
            l.activity("典当").map(|k| k.id.as_str()),
            Some("licensed-scope.pawn")
        );
        assert!(l.activity("民间借贷").is_none());
    }
}
