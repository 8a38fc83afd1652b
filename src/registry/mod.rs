//! Company registration records (企业登记信息): import (CSV, JSON Lines,
//! XLSX), unified social credit codes (统一社会信用代码), county attribution,
//! scanning of name and business scope, registry page profiles, storage.
//!
//! Plan §五（一） says that non-financial companies must not use the
//! restricted words (交易所, 金融, 理财, 网贷, 支付 …) in their registered name or
//! business scope, and that such registrations go to the regulators as key
//! supervision targets. This module turns a registry export into that list:
//!
//! * [`import`]: reads files into [`Record`]s, one per row, reporting bad rows;
//! * [`code`]: [`CreditCode`], only constructible from a valid code;
//! * [`division`]: the embedded division table and county attribution;
//! * [`allow`]: the user's allow-list of licensed institutions;
//! * [`licensed`]: the default list of licensed institutions (by name) and
//!   licensed activities (by scope) from `wordlists/licensed.toml`;
//! * [`prefilter`]: a sound one-pass test that lets records without
//!   candidates skip the scanner (most of a registry);
//! * [`profile`]: site profiles that extract records from registry web pages;
//! * [`store`]: the `registry` tree of the database (companies and their hits);
//! * [`pipeline`]: the whole scan of files or folders as one call (threads,
//!   counts by rank, word and county, storing, cancellation) that the CLI
//!   and a scheduled job share.
//!
//! Scanning itself is the [`Scanner`]'s (`name` and `scope` rules, word
//! boundaries, negation, allow spans); this module decides what a record's
//! hits mean: flagged or exempt, and how urgent ([`Rank`]). It does not
//! touch `scan` internals, the crawler or the page store.

pub mod allow;
pub mod code;
mod csv_rows;
pub mod division;
pub mod import;
pub mod licensed;
pub mod pipeline;
pub mod prefilter;
pub mod profile;
pub mod store;

use serde::Serialize;

pub use allow::AllowList;
pub use code::{CodeError, CreditCode, RegistrationNumber};
pub use division::{Attribution, Divisions};
pub use import::{Record, RowError};
pub use licensed::{LicensedKind, LicensedList};

use std::sync::Arc;

use crate::{Category, Field, Hit, RuleSet, Scanner, Severity};
use prefilter::Prefilter;

/// How urgent a flagged record is, most urgent first.
///
/// A company whose name carries a restricted word *and* whose scope
/// describes a financial activity (发放贷款, 代客理财, 支付结算 …) is most likely
/// doing unlicensed finance; a name word alone is often a holding company
/// (投资管理) that does nothing of the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rank {
    /// Restricted word in the name and a financial-activity phrase in the scope.
    NameAndActivity,
    /// Restricted word in the name only (the scope may repeat restricted words).
    Name,
    /// Financial-activity phrase in the scope, name clean.
    Activity,
    /// Only restricted words in the scope.
    ScopeWord,
}

impl Rank {
    pub const ALL: [Rank; 4] = [
        Rank::NameAndActivity,
        Rank::Name,
        Rank::Activity,
        Rank::ScopeWord,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Rank::NameAndActivity => "name+activity",
            Rank::Name => "name",
            Rank::Activity => "activity",
            Rank::ScopeWord => "scope-word",
        }
    }

    /// Ranks the hits of one record; `None` when there are none.
    pub fn of<'a>(hits: impl IntoIterator<Item = &'a Hit>) -> Option<Rank> {
        let (mut name, mut activity, mut scope) = (false, false, false);
        for h in hits {
            name |= h.field == Field::Name;
            scope |= h.field == Field::Scope;
            activity |= h.field == Field::Scope && h.category == Category::FinancialActivity;
        }
        match (name, activity, scope) {
            (true, true, _) => Some(Rank::NameAndActivity),
            (true, false, _) => Some(Rank::Name),
            (false, true, _) => Some(Rank::Activity),
            (false, false, true) => Some(Rank::ScopeWord),
            (false, false, false) => None,
        }
    }
}

/// The credit code of a record as judged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodeStatus {
    /// The file has no credit-code column or the cell is empty.
    Missing,
    Valid(CreditCode),
    /// A valid old registration number (15 digits) in the credit-code
    /// column: what older companies carry, not an invalid credit code.
    Registration(RegistrationNumber),
    /// As written (trimmed), and why it is invalid.
    Invalid(String, CodeError),
}

impl CodeStatus {
    pub fn of(written: Option<&str>) -> CodeStatus {
        match written.map(str::trim).filter(|s| !s.is_empty()) {
            None => CodeStatus::Missing,
            Some(s) => match CreditCode::parse(s) {
                Ok(c) => CodeStatus::Valid(c),
                Err(e) => match RegistrationNumber::parse(s) {
                    Some(Ok(n)) => CodeStatus::Registration(n),
                    Some(Err(e)) => CodeStatus::Invalid(s.to_owned(), e),
                    None => CodeStatus::Invalid(s.to_owned(), e),
                },
            },
        }
    }

    /// The division code the registering authority's number carries: of a
    /// valid credit code or registration number.
    pub fn division_code(&self) -> Option<&str> {
        match self {
            CodeStatus::Valid(c) => Some(c.division_code()),
            CodeStatus::Registration(n) => Some(n.division_code()),
            _ => None,
        }
    }

    pub fn valid(&self) -> Option<&CreditCode> {
        match self {
            CodeStatus::Valid(c) => Some(c),
            _ => None,
        }
    }
}

/// What scanning one record found.
#[derive(Debug, Clone)]
pub struct RecordScan {
    pub code: CodeStatus,
    /// County attribution: from a valid credit code or registration
    /// number, or tentatively (see `division_tentative`) from the division
    /// digits of an invalid credit code.
    pub division: Option<Attribution>,
    /// The division was read from an invalid code (characters 3–8 of 18,
    /// digits, known to the table): likely, not certain.
    pub division_tentative: bool,
    /// Name hits first, then scope hits; spans are byte offsets into that field's text.
    pub hits: Vec<Hit>,
    /// The allow-list's reason when the record is exempt.
    pub allowlisted: Option<String>,
    /// The licensed institution its name marks (default list), when it
    /// has hits: exempt like an allow-listed record.
    pub licensed: Option<Arc<LicensedKind>>,
    /// Licensed activities of its scope hits (each once): they need a
    /// licence before registration, so they do not rank the record; they
    /// are reported for the reviewer to verify.
    pub licensed_types: Vec<Arc<LicensedKind>>,
    /// Ranked by the hits other than licensed activities.
    pub rank: Option<Rank>,
}

impl RecordScan {
    /// Has hits (other than licensed activities) and is not exempt.
    pub fn flagged(&self) -> bool {
        self.rank.is_some() && self.allowlisted.is_none() && self.licensed.is_none()
    }

    /// Not flagged, not exempt, but with licensed activities to verify.
    pub fn to_verify(&self) -> bool {
        !self.flagged()
            && self.allowlisted.is_none()
            && self.licensed.is_none()
            && !self.licensed_types.is_empty()
    }

    pub fn max_severity(&self) -> Option<Severity> {
        self.hits.iter().map(|h| h.severity).max()
    }
}

/// Scans registration records: a [`Scanner`] for the rules, the user's
/// allow-list and the division table. Cheap to share across threads.
#[derive(Debug, Clone)]
pub struct RecordScanner {
    scanner: Scanner,
    prefilter: Prefilter,
    allow: AllowList,
    licensed: LicensedList,
    divisions: &'static Divisions,
}

impl RecordScanner {
    /// Compiles `set` for scanning records (the scanner and the
    /// [`Prefilter`] that lets most records skip it).
    /// The fields of a record that are scanned.
    pub const FIELDS: [Field; 2] = [Field::Name, Field::Scope];

    pub fn new(set: &RuleSet, allow: AllowList) -> Self {
        RecordScanner {
            scanner: Scanner::for_fields(set, &Self::FIELDS),
            prefilter: Prefilter::new(set),
            allow,
            licensed: LicensedList::from_rules(set),
            divisions: Divisions::bundled(),
        }
    }

    /// Without the default list of licensed institutions and activities
    /// (`--no-licensed`): only the user's allow-list exempts.
    pub fn without_licensed(mut self) -> Self {
        self.licensed = LicensedList::default();
        self
    }

    pub fn scanner(&self) -> &Scanner {
        &self.scanner
    }

    /// Validates the code, attributes the county and scans name and scope.
    /// Never fails: an invalid code is reported in [`RecordScan::code`] and
    /// the record is scanned all the same.
    pub fn scan(&self, rec: &Record) -> RecordScan {
        let code = CodeStatus::of(rec.uscc.as_deref());
        let (division, division_tentative) = match &code {
            CodeStatus::Invalid(written, _) => {
                let d = tentative_division(self.divisions, written);
                let tentative = d.is_some();
                (d, tentative)
            }
            other => (
                other.division_code().map(|d| self.divisions.attribute(d)),
                false,
            ),
        };
        let mut hits = if self.prefilter.may_match(Field::Name, &rec.name) {
            self.scanner.scan_field_bare(Field::Name, &rec.name)
        } else {
            Vec::new()
        };
        hits.retain(|h| h.field != Field::Name || self.is_name_word(&rec.name, h));
        if self.prefilter.may_match(Field::Scope, &rec.scope) {
            hits.extend(self.scanner.scan_field_bare(Field::Scope, &rec.scope));
        }
        let mut licensed_types: Vec<Arc<LicensedKind>> = Vec::new();
        let rank = Rank::of(hits.iter().filter(|h| {
            if h.field != Field::Scope {
                return true;
            }
            match self.licensed.activity(&h.term) {
                Some(kind) => {
                    if !licensed_types.iter().any(|k| k.id == kind.id) {
                        licensed_types.push(Arc::clone(kind));
                    }
                    false
                }
                None => true,
            }
        }));
        let (allowlisted, licensed) = if hits.is_empty() {
            (None, None)
        } else {
            let allowlisted = self
                .allow
                .lookup(code.valid(), &rec.name)
                .map(str::to_owned);
            let licensed = match allowlisted {
                None => self.licensed.institution(&rec.name).cloned(),
                Some(_) => None,
            };
            (allowlisted, licensed)
        };
        RecordScan {
            code,
            division,
            division_tentative,
            hits,
            allowlisted,
            licensed,
            licensed_types,
            rank,
        }
    }

    /// Whether a name hit is a word of the name: not a place word of a
    /// branch's location (…有限公司金融中心支行), and not a two-character word
    /// formed only across a word boundary, each half a word with its
    /// neighbour (宏基|金业 against 基金). Trade names (字号) are names the
    /// segmenter's statistics do not know, so its own boundary check lets
    /// these through.
    fn is_name_word(&self, name: &str, h: &Hit) -> bool {
        let (start, end) = (h.raw.start, h.raw.end);
        if self.licensed.in_branch_location(name, start, end) {
            return false;
        }
        let Some(word) = name.get(start..end) else {
            return true;
        };
        let mut chars = word.chars();
        let (Some(first), Some(second), None) = (chars.next(), chars.next(), chars.next()) else {
            return true;
        };
        if !is_cjk(first) || !is_cjk(second) {
            return true;
        }
        let before = name[..start].chars().next_back().filter(|&c| is_cjk(c));
        let after = name[end..].chars().next().filter(|&c| is_cjk(c));
        let (Some(before), Some(after)) = (before, after) else {
            return true;
        };
        let left: String = [before, first].iter().collect();
        let right: String = [second, after].iter().collect();
        !(crate::scan::context::is_dictionary_word(&left)
            && crate::scan::context::is_dictionary_word(&right))
    }
}

/// The division of an invalid credit code whose characters 3–8 are
/// digits the table knows (a wrong check character, a typo elsewhere).
pub fn tentative_division(divisions: &Divisions, written: &str) -> Option<Attribution> {
    let n = code::normalize_code(written);
    if n.len() != 18 || !n.is_ascii() || !n.as_bytes()[2..8].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let a = divisions.attribute(&n[2..8]);
    (a.known != division::Known::Unknown).then_some(a)
}

fn is_cjk(c: char) -> bool {
    ('\u{3400}'..='\u{9FFF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RuleSet;

    fn scanner(allow: &str) -> RecordScanner {
        let set = RuleSet::from_sources([(
            "t.toml".to_owned(),
            r#"
[[rule]]
id = "name.licai"
category = "restricted-name"
fields = ["name", "scope"]
severity = "high"
basis = "§五（一）"
terms = ["理财"]

[[rule]]
id = "scope.lending"
category = "financial-activity"
fields = ["scope"]
severity = "medium"
basis = "§五（一）"
terms = ["发放贷款"]
"#
            .to_owned(),
        )])
        .expect("rules");
        RecordScanner::new(&set, AllowList::parse("allow", allow).0)
    }

    fn rec(name: &str, uscc: &str, scope: &str) -> Record {
        Record {
            line: 2,
            name: name.into(),
            uscc: Some(uscc.into()),
            scope: scope.into(),
            ..Record::default()
        }
    }

    #[test]
    fn name_word_with_financial_scope_ranks_above_name_word_alone() {
        let s = scanner("");
        let both = s.scan(&rec("安康鑫源理财有限公司", "", "发放贷款"));
        let name_only = s.scan(&rec("安康鑫源理财有限公司", "", "日用百货"));
        assert_eq!(both.rank, Some(Rank::NameAndActivity));
        assert_eq!(name_only.rank, Some(Rank::Name));
        assert!(both.rank < name_only.rank);
        assert_eq!(
            s.scan(&rec("安康百货公司", "", "发放贷款")).rank,
            Some(Rank::Activity)
        );
        assert_eq!(
            s.scan(&rec("安康百货公司", "", "理财")).rank,
            Some(Rank::ScopeWord)
        );
        assert_eq!(s.scan(&rec("安康百货公司", "", "日用百货")).rank, None);
    }

    #[test]
    fn invalid_code_is_reported_and_the_record_still_scanned() {
        let r = scanner("").scan(&rec("安康理财有限公司", "91610902MA70B5XK70", ""));
        assert!(matches!(
            r.code,
            CodeStatus::Invalid(_, CodeError::Check { .. })
        ));
        assert!(
            r.division_tentative,
            "a wrong check character keeps its division"
        );
        assert_eq!(r.division.as_ref().and_then(|d| d.county), Some("汉滨区"));
        assert!(r.flagged());
    }

    #[test]
    fn valid_code_is_attributed_to_its_county() {
        let r = scanner("").scan(&rec("安康理财有限公司", "91610902MA70B5XK71", ""));
        let d = r.division.expect("division");
        assert_eq!((d.county, d.prefecture), (Some("汉滨区"), Some("安康市")));
    }

    #[test]
    fn allowlisted_record_keeps_its_hits_but_is_not_flagged() {
        let s = scanner("91610902MA70B5XK71 # 金融许可证\n");
        let r = s.scan(&rec("安康理财有限公司", "91610902MA70B5XK71", ""));
        assert_eq!(r.allowlisted.as_deref(), Some("金融许可证"));
        assert!(!r.flagged());
        assert_eq!(r.hits.len(), 1);
    }
}

/// What the crawler needs to read registry pages (`finscan crawl --profile`):
/// the site profile and the scanner for the records it finds.
#[derive(Debug, Clone)]
pub struct PageProfile {
    pub profile: profile::Profile,
    pub records: RecordScanner,
}

/// Records read from one registry page.
#[derive(Debug, Default)]
pub struct PageRecords {
    pub records: usize,
    pub flagged: usize,
    /// Links the profile follows (pagination, detail pages).
    pub links: Vec<url::Url>,
    pub problems: Vec<String>,
}

impl PageProfile {
    /// Reads, scans and stores the records of a fetched page whose URL the
    /// profile matches, exactly as records of an imported file are (their
    /// source is the page URL; hit offsets point into each field's text).
    /// `None` for pages the profile does not match.
    pub fn read_page(
        &self,
        store: &mut store::RegistryStore,
        url: &url::Url,
        html: &str,
    ) -> Result<Option<PageRecords>, store::StoreError> {
        if !self.profile.matches(url.as_str()) {
            return Ok(None);
        }
        let extracted = profile::extract_records(&self.profile, url, html);
        let mut out = PageRecords {
            links: extracted.links,
            problems: extracted.problems,
            ..PageRecords::default()
        };
        for rec in &extracted.records {
            let scan = self.records.scan(rec);
            out.records += 1;
            out.flagged += usize::from(scan.flagged());
            store.save(url.as_str(), rec, &scan)?;
        }
        Ok(Some(out))
    }
}
