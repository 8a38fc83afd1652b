//! Rules: loading and validating `wordlists/*.toml`.
//!
//! Rules live in data so that a regulator adds a phrase by editing a file, not
//! by rebuilding. Each rule has a stable id, a category, the fields it applies
//! to, its terms, its legal basis (the clause of the 2016 plan that forbids
//! it) and a severity. The files also hold the context the scanner needs:
//! negation/prohibition cues, allow-list spans and the yield detector's
//! settings. The rules bundled with the binary are the files of `wordlists/`
//! at build time; `--rules DIR` reads another directory.
//!
//! This module owns the file format and its validation only: it does not
//! match anything (`scan` compiles rules into automata).

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use toml::Spanned;

use crate::text::normalize_term;

/// The rule files built into the binary, as (file name, contents).
pub const BUNDLED: &[(&str, &str)] = &[
    ("names.toml", include_str!("../wordlists/names.toml")),
    (
        "promotion.toml",
        include_str!("../wordlists/promotion.toml"),
    ),
    ("context.toml", include_str!("../wordlists/context.toml")),
    ("yield.toml", include_str!("../wordlists/yield.toml")),
];

/// A rule's stable identifier (`name.licai`, `page.guaranteed-return`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RuleId(pub String);

impl fmt::Display for RuleId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The kind of violation, following plan §二 and §五.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    /// Restricted enterprise-name word (§五（一）).
    RestrictedName,
    /// Business scope describing financial activity.
    FinancialActivity,
    /// Guaranteed principal/interest, promised returns (保本保息).
    GuaranteedReturn,
    /// Fund pool (资金池).
    FundPool,
    /// Self-financing, self-guarantee (自融自保).
    SelfFinancing,
    /// Maturity mismatch or splitting (期限错配、期限拆分).
    MaturityMismatch,
    /// Fictitious projects (虚构标的).
    FictitiousProject,
    /// Off-exchange margin financing (场外配资, HOMS).
    MarginFinancing,
    /// Campus lending (校园贷).
    CampusLending,
    /// Down-payment loans (首付贷).
    DownPaymentLoan,
    /// Crowdfunded home buying (众筹买房).
    CrowdfundedHousing,
    /// Disguised public offerings, debt dressed as equity (明股实债).
    DisguisedOffering,
    /// Insurance mis-selling: promised returns, loss-bearing.
    InsuranceMisselling,
    /// Unlicensed payment business (无证经营支付业务).
    UnlicensedPayment,
    /// Splitting private products for the public.
    PrivateProductSplitting,
    /// Subsidies and unreasonably high returns (§五（四）).
    SubsidyHighReturn,
    /// Misleading advertising.
    MisleadingAd,
    /// The page describes a financial business (needs a licence check).
    FinancialBusiness,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::RestrictedName => "restricted-name",
            Category::FinancialActivity => "financial-activity",
            Category::GuaranteedReturn => "guaranteed-return",
            Category::FundPool => "fund-pool",
            Category::SelfFinancing => "self-financing",
            Category::MaturityMismatch => "maturity-mismatch",
            Category::FictitiousProject => "fictitious-project",
            Category::MarginFinancing => "margin-financing",
            Category::CampusLending => "campus-lending",
            Category::DownPaymentLoan => "down-payment-loan",
            Category::CrowdfundedHousing => "crowdfunded-housing",
            Category::DisguisedOffering => "disguised-offering",
            Category::InsuranceMisselling => "insurance-misselling",
            Category::UnlicensedPayment => "unlicensed-payment",
            Category::PrivateProductSplitting => "private-product-splitting",
            Category::SubsidyHighReturn => "subsidy-high-return",
            Category::MisleadingAd => "misleading-ad",
            Category::FinancialBusiness => "financial-business",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s)).ok()
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Which text a rule applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Field {
    /// Enterprise name (企业名称) or a site's operator (主办单位).
    Name,
    /// Business scope (经营范围) as registered.
    Scope,
    /// Visible text of a web page.
    Page,
}

impl Field {
    pub const ALL: [Field; 3] = [Field::Name, Field::Scope, Field::Page];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Field::Name => "name",
            Field::Scope => "scope",
            Field::Page => "page",
        }
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }
}

/// Whether a match must sit on word boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Boundary {
    /// Word boundaries for terms of at most two Chinese characters, where
    /// accidental matches across words happen (管理|财务 is not 理财).
    #[default]
    Auto,
    Word,
    None,
}

/// Where a rule was read from, for error messages and `rules list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    pub line: usize,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)
    }
}

#[derive(Debug, Clone)]
pub struct Rule {
    pub id: RuleId,
    pub category: Category,
    pub fields: Vec<Field>,
    pub severity: Severity,
    pub basis: String,
    pub terms: Vec<String>,
    pub boundary: Boundary,
    pub origin: Origin,
}

/// Cues that put a nearby hit under negation or prohibition.
#[derive(Debug, Clone)]
pub struct NegationGroup {
    pub cues: Vec<String>,
    /// Characters allowed between cue and hit.
    pub max_gap: usize,
    /// Cue follows the hit (保本保息是违法行为) instead of preceding it.
    pub after: bool,
    pub origin: Origin,
}

/// Phrases that cover and so excuse a hit (licensed institutions, ordinary words).
#[derive(Debug, Clone)]
pub struct AllowGroup {
    pub id: String,
    pub fields: Vec<Field>,
    pub reason: String,
    pub terms: Vec<String>,
    pub origin: Origin,
}

/// Settings of the yield detector (stated rates above a threshold).
#[derive(Debug, Clone)]
pub struct YieldConfig {
    pub threshold_percent: f64,
    pub rule_id: RuleId,
    pub category: Category,
    pub severity: Severity,
    pub basis: String,
    pub keywords: Vec<String>,
}

/// All rules and context, validated.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub negations: Vec<NegationGroup>,
    pub allows: Vec<AllowGroup>,
    pub yields: Option<YieldConfig>,
}

/// A problem in a rule file, located by file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct RuleError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// Every problem found while loading rules (loading reports all, not the first).
#[derive(Debug, Clone, thiserror::Error)]
pub struct RuleErrors(pub Vec<RuleError>);

impl fmt::Display for RuleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default)]
    rule: Vec<Spanned<RawRule>>,
    #[serde(default)]
    negation: Vec<Spanned<RawNegation>>,
    #[serde(default)]
    post_negation: Vec<Spanned<RawNegation>>,
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
    // yield detector settings (top level of yield.toml)
    threshold_percent: Option<f64>,
    rule_id: Option<String>,
    category: Option<Category>,
    severity: Option<Severity>,
    basis: Option<String>,
    keywords: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    category: Category,
    fields: Vec<Field>,
    severity: Severity,
    basis: String,
    terms: Vec<String>,
    #[serde(default)]
    boundary: Boundary,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNegation {
    cues: Vec<String>,
    max_gap: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAllow {
    id: String,
    fields: Vec<Field>,
    #[serde(default)]
    reason: String,
    terms: Vec<String>,
}

fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
}

impl RuleSet {
    /// The rules built into the binary.
    pub fn bundled() -> Result<Self, RuleErrors> {
        Self::from_sources(BUNDLED.iter().map(|(n, s)| (n.to_string(), s.to_string())))
    }

    /// Reads every `*.toml` file of `dir` (sorted by name).
    pub fn load_dir(dir: &Path) -> Result<Self, RuleErrors> {
        let io_err = |p: &Path, e: std::io::Error| {
            RuleErrors(vec![RuleError {
                file: p.display().to_string(),
                line: 0,
                message: e.to_string(),
            }])
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| io_err(dir, e))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "toml"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(RuleErrors(vec![RuleError {
                file: dir.display().to_string(),
                line: 0,
                message: "no *.toml rule files in this directory".into(),
            }]));
        }
        let mut sources = Vec::new();
        for p in files {
            let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
            sources.push((p.display().to_string(), text));
        }
        Self::from_sources(sources)
    }

    /// Parses and validates rule files given as (name, contents).
    pub fn from_sources(
        sources: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Self, RuleErrors> {
        let mut errors = Vec::new();
        let mut set = RuleSet {
            rules: Vec::new(),
            negations: Vec::new(),
            allows: Vec::new(),
            yields: None,
        };
        let mut seen_ids: std::collections::HashMap<String, Origin> = Default::default();
        for (file, src) in sources {
            let doc: FileDoc = match toml::from_str(&src) {
                Ok(d) => d,
                Err(e) => {
                    let line = e.span().map_or(0, |s| line_of(&src, s.start));
                    errors.push(RuleError {
                        file: file.clone(),
                        line,
                        message: e.message().to_owned(),
                    });
                    continue;
                }
            };
            let mut err = |line: usize, message: String| {
                errors.push(RuleError {
                    file: file.clone(),
                    line,
                    message,
                })
            };
            for spanned in doc.rule {
                let line = line_of(&src, spanned.span().start);
                let origin = Origin {
                    file: file.clone(),
                    line,
                };
                let r = spanned.into_inner();
                if !valid_id(&r.id) {
                    err(
                        line,
                        format!("rule id {:?} must be lowercase [a-z0-9.-]", r.id),
                    );
                }
                if let Some(prev) = seen_ids.get(&r.id) {
                    err(
                        line,
                        format!("duplicate rule id {:?} (first at {prev})", r.id),
                    );
                } else {
                    seen_ids.insert(r.id.clone(), origin.clone());
                }
                if r.fields.is_empty() {
                    err(line, format!("rule {}: `fields` is empty", r.id));
                }
                if r.basis.trim().is_empty() {
                    err(line, format!("rule {}: `basis` is empty", r.id));
                }
                if r.terms.is_empty() {
                    err(line, format!("rule {}: `terms` is empty", r.id));
                }
                check_terms(&r.terms, &format!("rule {}", r.id), line, &mut err);
                set.rules.push(Rule {
                    id: RuleId(r.id),
                    category: r.category,
                    fields: r.fields,
                    severity: r.severity,
                    basis: r.basis,
                    terms: r.terms,
                    boundary: r.boundary,
                    origin,
                });
            }
            for (after, groups) in [(false, doc.negation), (true, doc.post_negation)] {
                for spanned in groups {
                    let line = line_of(&src, spanned.span().start);
                    let n = spanned.into_inner();
                    if n.cues.is_empty() {
                        err(line, "negation group: `cues` is empty".into());
                    }
                    check_terms(&n.cues, "negation group", line, &mut err);
                    set.negations.push(NegationGroup {
                        cues: n.cues,
                        max_gap: n.max_gap,
                        after,
                        origin: Origin {
                            file: file.clone(),
                            line,
                        },
                    });
                }
            }
            for spanned in doc.allow {
                let line = line_of(&src, spanned.span().start);
                let a = spanned.into_inner();
                if a.terms.is_empty() {
                    err(line, format!("allow group {}: `terms` is empty", a.id));
                }
                check_terms(&a.terms, &format!("allow group {}", a.id), line, &mut err);
                set.allows.push(AllowGroup {
                    id: a.id,
                    fields: a.fields,
                    reason: a.reason,
                    terms: a.terms,
                    origin: Origin {
                        file: file.clone(),
                        line,
                    },
                });
            }
            let yield_keys = [
                doc.threshold_percent.is_some(),
                doc.rule_id.is_some(),
                doc.category.is_some(),
                doc.severity.is_some(),
                doc.basis.is_some(),
                doc.keywords.is_some(),
            ];
            if yield_keys.iter().any(|&k| k) {
                match (doc.threshold_percent, doc.rule_id, doc.category, doc.severity, doc.basis, doc.keywords) {
                    (Some(t), Some(id), Some(category), Some(severity), Some(basis), Some(keywords)) => {
                        if !(0.0..=1000.0).contains(&t) {
                            err(1, format!("threshold_percent {t} is out of range 0..1000"));
                        }
                        if keywords.is_empty() {
                            err(1, "yield detector: `keywords` is empty".into());
                        }
                        check_terms(&keywords, "yield keywords", 1, &mut err);
                                                if !valid_id(&id) {
                            err(1, format!("rule id {id:?} must be lowercase [a-z0-9.-]"));
                        }
                        if let Some(prev) = seen_ids.get(&id) {
                            err(1, format!("duplicate rule id {id:?} (first at {prev})"));
                        } else {
                            seen_ids.insert(
                                id.clone(),
                                Origin {
                                    file: file.clone(),
                                    line: 1,
                                },
                            );
                        }
                        if set.yields.is_some() {
                            err(1, "yield detector configured twice".into());
                        }
                        set.yields = Some(YieldConfig {
                            threshold_percent: t,
                            rule_id: RuleId(id),
                            category,
                            severity,
                            basis,
                            keywords,
                        });
                    }
                    _ => err(
                        1,
                        "yield detector needs all of threshold_percent, rule_id, category, severity, basis, keywords"
                            .into(),
                    ),
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(RuleErrors(errors))
        }
    }

    /// Every distinct term of the rules for `field` (all fields when `None`),
    /// plus the yield keywords where `page` is included; sorted, as written in
    /// the rule files. This is what `finscan rules terms` prints for `rg -F -f`.
    pub fn terms(&self, field: Option<Field>) -> Vec<&str> {
        let mut terms: Vec<&str> = self
            .rules
            .iter()
            .filter(|r| field.is_none_or(|f| r.fields.contains(&f)))
            .flat_map(|r| r.terms.iter().map(String::as_str))
            .collect();
        if field.is_none_or(|f| f == Field::Page)
            && let Some(y) = &self.yields
        {
            terms.extend(y.keywords.iter().map(String::as_str));
        }
        terms.sort_unstable();
        terms.dedup();
        terms
    }
}

fn check_terms(terms: &[String], owner: &str, line: usize, err: &mut impl FnMut(usize, String)) {
    let mut seen = std::collections::HashSet::new();
    for t in terms {
        let n = crate::text::normalize(t);
        if n.text.is_empty() {
            err(
                line,
                format!("{owner}: term {t:?} is empty after normalization"),
            );
        } else if !n.breaks.is_empty() {
            err(
                line,
                format!("{owner}: term {t:?} contains clause punctuation and could never match"),
            );
        } else if !seen.insert(normalize_term(t)) {
            err(
                line,
                format!("{owner}: term {t:?} is listed twice (after normalization)"),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> Result<RuleSet, RuleErrors> {
        RuleSet::from_sources([("t.toml".to_string(), src.to_string())])
    }

    const GOOD: &str = r#"
[[rule]]
id = "name.licai"
category = "restricted-name"
fields = ["name", "scope"]
severity = "high"
basis = "§五（一）"
terms = ["理财"]
"#;

    #[test]
    fn bundled_rules_load_and_cover_every_restricted_name_word() {
        let set = RuleSet::bundled().unwrap_or_else(|e| panic!("{e}"));
        for w in [
            "交易所",
            "交易中心",
            "金融",
            "资产管理",
            "理财",
            "基金",
            "基金管理",
            "投资管理",
            "财富管理",
            "股权投资基金",
            "网贷",
            "网络借贷",
            "P2P",
            "股权众筹",
            "互联网保险",
            "支付",
        ] {
            assert!(
                set.rules
                    .iter()
                    .any(|r| r.category == Category::RestrictedName
                        && r.fields.contains(&Field::Name)
                        && r.fields.contains(&Field::Scope)
                        && r.terms.iter().any(|t| t == w)),
                "restricted word {w} missing"
            );
        }
        assert!(set.yields.is_some());
        assert!(!set.negations.is_empty() && !set.allows.is_empty());
    }

    #[test]
    fn good_rule_loads_with_origin() {
        let set = load(GOOD).unwrap();
        assert_eq!(set.rules[0].origin.line, 2);
        assert_eq!(set.rules[0].category, Category::RestrictedName);
    }

    #[test]
    fn duplicate_ids_are_reported_with_both_lines() {
        let e = load(&format!("{GOOD}\n{GOOD}")).unwrap_err();
        assert!(
            e.0.iter()
                .any(|e| e.line == 11 && e.message.contains("first at t.toml:2")),
            "{e}"
        );
    }

    #[test]
    fn empty_terms_and_unknown_fields_are_errors_with_lines() {
        let e = load(&GOOD.replace("[\"理财\"]", "[]")).unwrap_err();
        assert!(
            e.to_string()
                .contains("t.toml:2: rule name.licai: `terms` is empty"),
            "{e}"
        );
        let e = load(&GOOD.replace("severity", "colour = 1\nseverity")).unwrap_err();
        assert!(e.0[0].message.contains("unknown field `colour`"), "{e}");
        assert_eq!(e.0[0].line, 6);
        let e = load(&GOOD.replace("\"name\", \"scope\"", "\"nmae\"")).unwrap_err();
        assert!(e.0[0].message.contains("nmae"), "{e}");
    }

    #[test]
    fn terms_that_cannot_match_are_errors() {
        let e = load(&GOOD.replace("[\"理财\"]", "[\"理财\", \" \", \"理 财\", \"保本，保息\"]"))
            .unwrap_err();
        let s = e.to_string();
        assert!(s.contains("empty after normalization"), "{s}");
        assert!(s.contains("listed twice"), "{s}");
        assert!(s.contains("clause punctuation"), "{s}");
    }

    #[test]
    fn unknown_category_is_an_error() {
        let e = load(&GOOD.replace("restricted-name", "bad-stuff")).unwrap_err();
        assert!(e.0[0].message.contains("bad-stuff"));
    }
}
