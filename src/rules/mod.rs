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
    ("names.toml", include_str!("../../wordlists/names.toml")),
    (
        "promotion.toml",
        include_str!("../../wordlists/promotion.toml"),
    ),
    (
        "behaviour.toml",
        include_str!("../../wordlists/behaviour.toml"),
    ),
    (
        "activity.toml",
        include_str!("../../wordlists/activity.toml"),
    ),
    ("context.toml", include_str!("../../wordlists/context.toml")),
    ("yield.toml", include_str!("../../wordlists/yield.toml")),
    (
        "licensed.toml",
        include_str!("../../wordlists/licensed.toml"),
    ),
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
    /// Financial business without the licence it needs (§二（五）): a
    /// platform reselling banks' and brokers' products, foreign exchange,
    /// overseas insurance sold at home.
    UnlicensedBusiness,
    /// Subsidies and unreasonably high returns (§五（四）).
    SubsidyHighReturn,
    /// Misleading advertising.
    MisleadingAd,
    /// The page describes a financial business (needs a licence check).
    /// Rules no longer report it (activity words make a page's activity
    /// profile); kept so that hits stored by earlier versions still read.
    FinancialBusiness,
}

impl Category {
    /// Every category, in the order of the plan's sections.
    pub const ALL: [Category; 19] = [
        Category::RestrictedName,
        Category::FinancialActivity,
        Category::GuaranteedReturn,
        Category::FundPool,
        Category::SelfFinancing,
        Category::MaturityMismatch,
        Category::FictitiousProject,
        Category::MarginFinancing,
        Category::CampusLending,
        Category::DownPaymentLoan,
        Category::CrowdfundedHousing,
        Category::DisguisedOffering,
        Category::InsuranceMisselling,
        Category::UnlicensedPayment,
        Category::PrivateProductSplitting,
        Category::UnlicensedBusiness,
        Category::SubsidyHighReturn,
        Category::MisleadingAd,
        Category::FinancialBusiness,
    ];

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
            Category::UnlicensedBusiness => "unlicensed-business",
            Category::SubsidyHighReturn => "subsidy-high-return",
            Category::MisleadingAd => "misleading-ad",
            Category::FinancialBusiness => "financial-business",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::deserialize(serde::de::value::StrDeserializer::<serde::de::value::Error>::new(s)).ok()
    }

    /// The category's name in Chinese, as the plan words it (违规类型 in the
    /// takedown list and the report).
    pub fn label_zh(self) -> &'static str {
        match self {
            Category::RestrictedName => "名称含限制性用语",
            Category::FinancialActivity => "经营范围含金融业务",
            Category::GuaranteedReturn => "承诺保本保息",
            Category::FundPool => "设立资金池",
            Category::SelfFinancing => "自融",
            Category::MaturityMismatch => "期限错配",
            Category::FictitiousProject => "虚构借款项目",
            Category::MarginFinancing => "场外配资",
            Category::CampusLending => "校园网贷",
            Category::DownPaymentLoan => "首付贷",
            Category::CrowdfundedHousing => "众筹买房",
            Category::DisguisedOffering => "变相公开发行",
            Category::InsuranceMisselling => "保险误导销售",
            Category::UnlicensedPayment => "无证支付",
            Category::PrivateProductSplitting => "拆分销售私募产品",
            Category::UnlicensedBusiness => "无牌经营金融业务",
            Category::SubsidyHighReturn => "高额回报与补贴",
            Category::MisleadingAd => "误导性宣传",
            Category::FinancialBusiness => "金融业务",
        }
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
    pub const ALL: [Severity; 3] = [Severity::Low, Severity::Medium, Severity::High];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
        }
    }

    /// The severity in Chinese (严重程度 in the report).
    pub fn label_zh(self) -> &'static str {
        match self {
            Severity::Low => "低",
            Severity::Medium => "中",
            Severity::High => "高",
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

/// A kind of financial business a page describes: a fact about the page and
/// its site (the activity profile), not a violation. Lawful business
/// (理财产品, 网络借贷平台, 基金销售) is named with these words as much as
/// unlawful business is; whether the operator may do it is a licence
/// question the profile lets a reviewer ask, and a rule may require one
/// (`needs_activity`) before it reads a page as an offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Activity {
    /// Online lending between individuals (网络借贷, P2P).
    Lending,
    /// Wealth-management products (理财).
    WealthManagement,
    /// Investment offers of any kind: subscriptions, shares, returns (投资, 认购).
    Investment,
    /// Funds and private funds (基金销售, 私募).
    FundSales,
    /// Insurance (保险).
    Insurance,
    /// Payment services (支付, 收单, POS, 预付卡).
    Payment,
    /// Crowdfunding (众筹).
    Crowdfunding,
    /// Securities and stock trading (股票, 配资).
    Securities,
    /// Loans to consumers and students (借款, 分期).
    ConsumerCredit,
    /// Home-buying finance (首付, 按揭).
    RealEstateFinance,
}

impl Activity {
    pub const ALL: [Activity; 10] = [
        Activity::Lending,
        Activity::WealthManagement,
        Activity::Investment,
        Activity::FundSales,
        Activity::Insurance,
        Activity::Payment,
        Activity::Crowdfunding,
        Activity::Securities,
        Activity::ConsumerCredit,
        Activity::RealEstateFinance,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Activity::Lending => "lending",
            Activity::WealthManagement => "wealth-management",
            Activity::Investment => "investment",
            Activity::FundSales => "fund-sales",
            Activity::Insurance => "insurance",
            Activity::Payment => "payment",
            Activity::Crowdfunding => "crowdfunding",
            Activity::Securities => "securities",
            Activity::ConsumerCredit => "consumer-credit",
            Activity::RealEstateFinance => "real-estate-finance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

impl fmt::Display for Activity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What must hold on the same page before a rule's match counts: any one
/// of the activities, and any one of the rules (a hit of it kept). Empty
/// lists ask nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Needs {
    pub activities: Vec<Activity>,
    pub rules: Vec<RuleId>,
}

impl Needs {
    pub fn is_empty(&self) -> bool {
        self.activities.is_empty() && self.rules.is_empty()
    }
}

/// A rule of single terms: any one of them is a candidate.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: RuleId,
    pub category: Category,
    pub fields: Vec<Field>,
    pub severity: Severity,
    pub basis: String,
    pub terms: Vec<String>,
    pub boundary: Boundary,
    pub needs: Needs,
    pub origin: Origin,
}

/// The stretch of text inside which the parts of a pattern must all be found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Window {
    /// Between two clause marks (，；。！？, a line break).
    #[default]
    Clause,
    /// Between two sentence ends (。！？, a line break): a sentence's
    /// clauses joined by commas.
    Sentence,
}

impl Window {
    pub fn as_str(self) -> &'static str {
        match self {
            Window::Clause => "clause",
            Window::Sentence => "sentence",
        }
    }
}

/// The longest stretch, in characters of normalized text, a pattern may
/// cover from its first part's start to its last part's end; longer
/// stretches are refused by validation (a sentence rarely runs further, and
/// parts further apart seldom speak of one thing).
pub const MAX_PATTERN_CHARS: usize = 200;

/// What a numeric part of a pattern reads (see `scan::numbers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NumberKind {
    /// A rate as a simple annual percentage: `18%`, `百分之十八`, `月息两分`
    /// (24), `日万分之五` (18.25); a period written beside it (日, 每天, 月)
    /// is applied, else the rate is taken as yearly.
    Rate,
    /// A percentage as written, without a period: `首付款的70%`.
    Percent,
    /// A multiple: `10倍`, `1:10`, `1比5`, `翻倍` (2), `翻两番` (4).
    Multiple,
    /// An amount of money in yuan: `5000元`, `3.5万`, `五千块`, `5毛` (0.5).
    Money,
    /// A duration in days: `30天`, `3个月` (90), `两年` (730).
    Days,
}

impl NumberKind {
    pub fn as_str(self) -> &'static str {
        match self {
            NumberKind::Rate => "rate",
            NumberKind::Percent => "percent",
            NumberKind::Multiple => "multiple",
            NumberKind::Money => "money",
            NumberKind::Days => "days",
        }
    }
}

/// A numeric part: a number of `kind` within `min..=max`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NumberSlot {
    pub kind: NumberKind,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl NumberSlot {
    pub fn accepts(&self, value: f64) -> bool {
        self.min.is_none_or(|m| value >= m) && self.max.is_none_or(|m| value <= m)
    }
}

/// One part of a pattern: any of its terms, or a number.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Terms as written, groups (`@name`) expanded.
    Terms(Vec<String>),
    Number(NumberSlot),
}

/// A rule that describes a behaviour: groups of terms (and numbers) that
/// must occur together in one clause or sentence, optionally in order,
/// without an excluded term. All term parts are terms of the field's one
/// automaton pass; the combination is decided per window after it.
#[derive(Debug, Clone)]
pub struct PatternRule {
    pub id: RuleId,
    pub category: Category,
    pub severity: Severity,
    pub basis: String,
    pub within: Window,
    /// Parts must appear in the order listed.
    pub ordered: bool,
    /// At most this many characters from the first part's start to the last
    /// part's end (`None`: the whole window).
    pub max_chars: Option<usize>,
    pub parts: Vec<Part>,
    /// Terms whose presence in the window rules the match out.
    pub exclude: Vec<String>,
    pub needs: Needs,
    pub origin: Origin,
}

/// Words that name an activity on a page (see [`Activity`]).
#[derive(Debug, Clone)]
pub struct ActivityRule {
    pub id: String,
    pub activity: Activity,
    pub terms: Vec<String>,
    pub origin: Origin,
}

/// What a context cue says about the hit it reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CueKind {
    /// 不, 不会, 从未, 并非, 没有: the hit is denied.
    Negation,
    /// 不得, 严禁, 禁止: the hit is forbidden (a rule quoted or applied).
    Prohibition,
    /// 警惕, 谨防, 不要轻信: the reader is warned against the hit.
    Warning,
    /// 声称, 宣称, 以…为诱饵: the hit is someone else's words, reported.
    Report,
    /// 是骗局, 属于违法: the hit is condemned.
    Condemnation,
    /// 除…外, 不含: the hit is excluded (registry scopes).
    Exclusion,
    /// 凡是, 如果, 假如: the hit is a condition or a hypothesis, not an offer.
    Condition,
    /// 平均, 行业, 据统计, 上限: a stated rate is a statistic, an example
    /// or a legal cap, not the page's offer. Applies to rates only.
    Statistic,
}

impl CueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CueKind::Negation => "negation",
            CueKind::Prohibition => "prohibition",
            CueKind::Warning => "warning",
            CueKind::Report => "report",
            CueKind::Condemnation => "condemnation",
            CueKind::Exclusion => "exclusion",
            CueKind::Condition => "condition",
            CueKind::Statistic => "statistic",
        }
    }
}

/// Which side of the hit a cue stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// The cue precedes the hit (不得承诺保本).
    #[default]
    Before,
    /// The cue follows the hit (保本保息是骗局).
    After,
    /// Either (以“保本保息”为诱饵, 宣称“保本保息”).
    Either,
}

/// How far a cue reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reach {
    /// To the end of its clause: a negation's scope (本行从不向客户承诺保本).
    /// A gap of spaces between two phrases of ad copy (不承担任何风险 本息保障)
    /// also ends it.
    #[default]
    Clause,
    /// To the end of its sentence, across commas: a prohibition over an
    /// enumeration (不得设立资金池，不得自融自保 is two; 严禁以下行为：承诺保本保息；虚构标的 one).
    Sentence,
}

/// Cues that make a hit they reach a mention rather than a promotion.
#[derive(Debug, Clone)]
pub struct CueGroup {
    /// The fields whose text the cues apply to (all by default). Registry
    /// fields read only cues with a `max_gap`.
    pub fields: Vec<Field>,
    pub kind: CueKind,
    pub side: Side,
    pub reach: Reach,
    /// At most this many characters between cue and hit (`None`: the whole reach).
    pub max_gap: Option<usize>,
    /// The cue counts only for a hit inside quotation marks, standing
    /// outside them (宣称“稳赚不赔”, not the speaker's own “稳赚不赔”).
    pub quoted: bool,
    pub cues: Vec<String>,
    pub origin: Origin,
}

/// Where a voice cue is looked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VoiceScope {
    /// The head of the page: its title and first lines (警方提示, 以案说法).
    Head,
    /// Anywhere on the page (a byline: 记者, 本报讯, 责任编辑).
    Page,
    /// The passage (paragraph) of the hit (犯罪分子, 经审理查明).
    Passage,
}

/// Words that show who speaks: a police notice, a court, news, a lawyer.
/// Hits on a page (or in a passage) in such a voice are mentions.
#[derive(Debug, Clone)]
pub struct VoiceGroup {
    /// A name for the voice (`police`, `court`, `news`), shown in reasons.
    pub voice: String,
    pub scope: VoiceScope,
    /// How many distinct cues of the group must be found (default 1).
    pub min: usize,
    pub cues: Vec<String>,
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
    /// A stated rate counts only on a page with one of these activities.
    pub needs_activity: Vec<Activity>,
    /// Words that, right before a keyword, make it a borrower's cost rather
    /// than a return (借款 in 借款年化利率).
    pub cost_prefixes: Vec<String>,
    /// Words that introduce money earned on a principal (收益, 到手, 利息):
    /// 每万元每月收益160元 is a rate of 19.2 % a year.
    pub gain_words: Vec<String>,
    /// Words that add a boost to a stated rate (加息 in 年化10%+加息2.5%).
    pub boost_words: Vec<String>,
}

/// All rules and context, validated.
#[derive(Debug, Clone)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    pub patterns: Vec<PatternRule>,
    pub activities: Vec<ActivityRule>,
    pub cues: Vec<CueGroup>,
    pub voices: Vec<VoiceGroup>,
    /// Words that, opening a clause, end the scope of a cue that reaches
    /// its sentence: a new subject or a turn (私募基金不得超过200人，
    /// 本产品…不受该人数限制: the rule is quoted, then the page's own claim).
    pub scope_ends: Vec<String>,
    /// The scope ends that name the page's own subject (本产品, 本平台): a
    /// clause they open also leaves a reporting passage's voice behind.
    pub subjects: Vec<String>,
    pub allows: Vec<AllowGroup>,
    /// Licensed institutions by name and licensed activities by scope
    /// (`[[licensed]]`, registry only: see [`Licensed`]).
    pub licensed: Vec<Licensed>,
    /// Place words that are a branch's location, not its business
    /// (`[[branch_location]]`, registry names only).
    pub branch_locations: Vec<BranchLocation>,
    pub yields: Option<YieldConfig>,
}

/// A kind of licensed institution (持牌机构) recognized in registration
/// records, with the legal basis that makes its words or its activity
/// need the regulator's approval before registration.
///
/// `field = "name"`: a name containing one of `terms` (after the width and
/// white-space normalization of names) is that institution's, since the
/// registry accepts such a name only with the approval. `field = "scope"`:
/// `terms` are terms of `scope` rules whose activity needs a licence
/// before registration (工商登记前置审批); a hit on one alone does not flag,
/// it is reported as a licensed type to verify.
#[derive(Debug, Clone, PartialEq)]
pub struct Licensed {
    pub id: String,
    pub field: Field,
    /// What the institution or activity is (商业银行, 典当行).
    pub institution: String,
    pub basis: String,
    pub terms: Vec<String>,
    pub origin: Origin,
}

/// Place words (金融中心, 金融大街) that, in the part of a registered name
/// after the legal entity's name (`…有限公司` + location + a branch word
/// such as 支行, 分公司), name where the branch is, not what it does.
#[derive(Debug, Clone, PartialEq)]
pub struct BranchLocation {
    pub id: String,
    pub reason: String,
    /// The place words.
    pub terms: Vec<String>,
    /// Words that end a branch's name (支行, 营业部, 分公司 …).
    pub branch_words: Vec<String>,
    /// Words that end the legal entity's name (公司, 联社): the branch's
    /// part of a name starts after the first of them.
    pub entity_words: Vec<String>,
    pub origin: Origin,
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
    pattern: Vec<Spanned<RawPattern>>,
    #[serde(default)]
    group: Vec<Spanned<RawGroup>>,
    #[serde(default)]
    activity: Vec<Spanned<RawActivity>>,
    #[serde(default)]
    cue: Vec<Spanned<RawCue>>,
    #[serde(default)]
    negation: Vec<Spanned<RawNegation>>,
    #[serde(default)]
    post_negation: Vec<Spanned<RawNegation>>,
    #[serde(default)]
    voice: Vec<Spanned<RawVoice>>,
    #[serde(default)]
    scope_end: Vec<Spanned<RawScopeEnd>>,
    #[serde(default)]
    allow: Vec<Spanned<RawAllow>>,
    #[serde(default)]
    licensed: Vec<Spanned<RawLicensed>>,
    #[serde(default)]
    branch_location: Vec<Spanned<RawBranchLocation>>,
    // yield detector settings (top level of yield.toml)
    threshold_percent: Option<f64>,
    rule_id: Option<String>,
    category: Option<Category>,
    severity: Option<Severity>,
    basis: Option<String>,
    keywords: Option<Vec<String>>,
    #[serde(default)]
    needs_activity: Vec<Activity>,
    #[serde(default)]
    cost_prefixes: Vec<String>,
    #[serde(default)]
    gain_words: Vec<String>,
    #[serde(default)]
    boost_words: Vec<String>,
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
    #[serde(default)]
    needs_activity: Vec<Activity>,
    #[serde(default)]
    needs_rule: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPattern {
    id: String,
    category: Category,
    severity: Severity,
    basis: String,
    #[serde(default)]
    within: Window,
    #[serde(default = "yes")]
    ordered: bool,
    max_chars: Option<usize>,
    parts: Vec<Spanned<toml::Value>>,
    #[serde(default)]
    exclude: Vec<String>,
    #[serde(default)]
    needs_activity: Vec<Activity>,
    #[serde(default)]
    needs_rule: Vec<String>,
}

fn yes() -> bool {
    true
}

/// A pattern part as read: terms, or a number.
enum RawPart {
    Terms(Vec<String>),
    Number(RawNumber),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNumber {
    number: NumberKind,
    min: Option<f64>,
    max: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGroup {
    name: String,
    terms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawActivity {
    id: String,
    activity: Activity,
    terms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCue {
    #[serde(default = "all_fields")]
    fields: Vec<Field>,
    kind: CueKind,
    #[serde(default)]
    side: Side,
    #[serde(default)]
    reach: Reach,
    max_gap: Option<usize>,
    #[serde(default)]
    quoted: bool,
    cues: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNegation {
    cues: Vec<String>,
    max_gap: usize,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawScopeEnd {
    cues: Vec<String>,
    /// The words name the page's own subject (本产品, 本平台): they also
    /// cut a passage's voice off from what follows them.
    #[serde(default)]
    subject: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawVoice {
    voice: String,
    scope: VoiceScope,
    #[serde(default = "one")]
    min: usize,
    cues: Vec<String>,
}

fn one() -> usize {
    1
}

fn all_fields() -> Vec<Field> {
    Field::ALL.to_vec()
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLicensed {
    id: String,
    field: Field,
    institution: String,
    basis: String,
    terms: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBranchLocation {
    id: String,
    #[serde(default)]
    reason: String,
    terms: Vec<String>,
    branch_words: Vec<String>,
    entity_words: Vec<String>,
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

/// A pattern as read, before its groups are resolved (groups may be
/// defined in any file, so resolution waits until all files are read).
struct PendingPattern {
    raw: RawPattern,
    part_lines: Vec<usize>,
    needs_rule: Vec<String>,
    origin: Origin,
}

/// A group as read: its terms may name other groups.
struct PendingGroup {
    terms: Vec<String>,
    origin: Origin,
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
            patterns: Vec::new(),
            activities: Vec::new(),
            cues: Vec::new(),
            voices: Vec::new(),
            scope_ends: Vec::new(),
            subjects: Vec::new(),
            allows: Vec::new(),
            licensed: Vec::new(),
            branch_locations: Vec::new(),
            yields: None,
        };
        let mut seen_ids: std::collections::HashMap<String, Origin> = Default::default();
        let mut groups: std::collections::HashMap<String, PendingGroup> = Default::default();
        let mut pending: Vec<PendingPattern> = Vec::new();
        // (rule index, its needs_rule ids) checked once every id is known
        let mut rule_needs: Vec<(usize, Vec<String>)> = Vec::new();
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
            let origin_at = |line: usize| Origin {
                file: file.clone(),
                line,
            };
            let mut err = |line: usize, message: String| {
                errors.push(RuleError {
                    file: file.clone(),
                    line,
                    message,
                })
            };
            let mut claim_id = |id: &str, origin: &Origin, err: &mut dyn FnMut(usize, String)| {
                if !valid_id(id) {
                    err(
                        origin.line,
                        format!("rule id {id:?} must be lowercase [a-z0-9.-]"),
                    );
                }
                if let Some(prev) = seen_ids.get(id) {
                    err(
                        origin.line,
                        format!("duplicate rule id {id:?} (first at {prev})"),
                    );
                } else {
                    seen_ids.insert(id.to_owned(), origin.clone());
                }
            };
            for spanned in doc.rule {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let line = origin.line;
                let r = spanned.into_inner();
                claim_id(&r.id, &origin, &mut err);
                if r.fields.is_empty() {
                    err(line, format!("rule {}: `fields` is empty", r.id));
                }
                if r.basis.trim().is_empty() {
                    err(line, format!("rule {}: `basis` is empty", r.id));
                }
                if r.terms.is_empty() {
                    err(line, format!("rule {}: `terms` is empty", r.id));
                }
                if (!r.needs_activity.is_empty() || !r.needs_rule.is_empty())
                    && r.fields != [Field::Page]
                {
                    err(
                        line,
                        format!(
                            "rule {}: `needs_activity` and `needs_rule` only apply to page rules",
                            r.id
                        ),
                    );
                }
                check_terms(&r.terms, &format!("rule {}", r.id), line, &mut err);
                if !r.needs_rule.is_empty() {
                    rule_needs.push((set.rules.len(), r.needs_rule.clone()));
                }
                set.rules.push(Rule {
                    id: RuleId(r.id),
                    category: r.category,
                    fields: r.fields,
                    severity: r.severity,
                    basis: r.basis,
                    terms: r.terms,
                    boundary: r.boundary,
                    needs: Needs {
                        activities: r.needs_activity,
                        rules: Vec::new(),
                    },
                    origin,
                });
            }
            for spanned in doc.pattern {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let part_lines = spanned
                    .get_ref()
                    .parts
                    .iter()
                    .map(|p| line_of(&src, p.span().start))
                    .collect();
                let raw = spanned.into_inner();
                claim_id(&raw.id, &origin, &mut err);
                pending.push(PendingPattern {
                    needs_rule: raw.needs_rule.clone(),
                    raw,
                    part_lines,
                    origin,
                });
            }
            for spanned in doc.group {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let g = spanned.into_inner();
                if !valid_group_name(&g.name) {
                    err(
                        origin.line,
                        format!("group name {:?} must be lowercase [a-z0-9-]", g.name),
                    );
                }
                if g.terms.is_empty() {
                    err(origin.line, format!("group {}: `terms` is empty", g.name));
                }
                match groups.entry(g.name.clone()) {
                    std::collections::hash_map::Entry::Occupied(prev) => err(
                        origin.line,
                        format!(
                            "group {:?} is defined twice (first at {})",
                            g.name,
                            prev.get().origin
                        ),
                    ),
                    std::collections::hash_map::Entry::Vacant(slot) => {
                        slot.insert(PendingGroup {
                            terms: g.terms,
                            origin,
                        });
                    }
                }
            }
            for spanned in doc.activity {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let a = spanned.into_inner();
                claim_id(&a.id, &origin, &mut err);
                if a.terms.is_empty() {
                    err(origin.line, format!("activity {}: `terms` is empty", a.id));
                }
                check_terms(
                    &a.terms,
                    &format!("activity {}", a.id),
                    origin.line,
                    &mut err,
                );
                set.activities.push(ActivityRule {
                    id: a.id,
                    activity: a.activity,
                    terms: a.terms,
                    origin,
                });
            }
            for spanned in doc.cue {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let c = spanned.into_inner();
                if c.cues.is_empty() {
                    err(origin.line, "cue group: `cues` is empty".into());
                }
                if c.max_gap.is_some_and(|g| g > MAX_PATTERN_CHARS) {
                    err(
                        origin.line,
                        format!("cue group: max_gap must be at most {MAX_PATTERN_CHARS}"),
                    );
                }
                if c.max_gap.is_none() && c.fields.iter().any(|f| *f != Field::Page) {
                    err(
                        origin.line,
                        "cue group: a group for name or scope fields needs max_gap (fields = [\"page\"] reaches a whole clause)"
                            .into(),
                    );
                }
                if c.quoted && !matches!(c.fields.as_slice(), [Field::Page]) {
                    err(
                        origin.line,
                        "cue group: quoted cues apply to pages only (fields = [\"page\"])".into(),
                    );
                }
                check_terms(&c.cues, "cue group", origin.line, &mut err);
                set.cues.push(CueGroup {
                    fields: c.fields,
                    kind: c.kind,
                    side: c.side,
                    reach: c.reach,
                    max_gap: c.max_gap,
                    quoted: c.quoted,
                    cues: c.cues,
                    origin,
                });
            }
            // the older form: negation cues with a gap, before or after
            for (side, groups) in [
                (Side::Before, doc.negation),
                (Side::After, doc.post_negation),
            ] {
                for spanned in groups {
                    let origin = origin_at(line_of(&src, spanned.span().start));
                    let n = spanned.into_inner();
                    if n.cues.is_empty() {
                        err(origin.line, "negation group: `cues` is empty".into());
                    }
                    check_terms(&n.cues, "negation group", origin.line, &mut err);
                    set.cues.push(CueGroup {
                        fields: Field::ALL.to_vec(),
                        kind: CueKind::Negation,
                        side,
                        reach: Reach::Clause,
                        max_gap: Some(n.max_gap),
                        quoted: false,
                        cues: n.cues,
                        origin,
                    });
                }
            }
            for spanned in doc.voice {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let v = spanned.into_inner();
                if !valid_group_name(&v.voice) {
                    err(
                        origin.line,
                        format!("voice name {:?} must be lowercase [a-z0-9-]", v.voice),
                    );
                }
                if v.cues.is_empty() {
                    err(origin.line, format!("voice {}: `cues` is empty", v.voice));
                }
                if v.min == 0 || v.min > v.cues.len().max(1) {
                    err(
                        origin.line,
                        format!(
                            "voice {}: min = {} must be between 1 and the number of cues",
                            v.voice, v.min
                        ),
                    );
                }
                check_terms(
                    &v.cues,
                    &format!("voice {}", v.voice),
                    origin.line,
                    &mut err,
                );
                set.voices.push(VoiceGroup {
                    voice: v.voice,
                    scope: v.scope,
                    min: v.min,
                    cues: v.cues,
                    origin,
                });
            }
            for spanned in doc.scope_end {
                let line = line_of(&src, spanned.span().start);
                let e = spanned.into_inner();
                if e.cues.is_empty() {
                    err(line, "scope_end: `cues` is empty".into());
                }
                check_terms(&e.cues, "scope_end", line, &mut err);
                if e.subject {
                    set.subjects.extend(e.cues.iter().cloned());
                }
                set.scope_ends.extend(e.cues);
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
                    origin: origin_at(line),
                });
            }
            for spanned in doc.licensed {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let line = origin.line;
                let l = spanned.into_inner();
                claim_id(&l.id, &origin, &mut err);
                if l.field == Field::Page {
                    err(line, format!("licensed {}: `field` is name or scope", l.id));
                }
                if l.basis.trim().is_empty() {
                    err(line, format!("licensed {}: `basis` is empty", l.id));
                }
                if l.terms.is_empty() {
                    err(line, format!("licensed {}: `terms` is empty", l.id));
                }
                check_terms(&l.terms, &format!("licensed {}", l.id), line, &mut err);
                set.licensed.push(Licensed {
                    id: l.id,
                    field: l.field,
                    institution: l.institution,
                    basis: l.basis,
                    terms: l.terms,
                    origin,
                });
            }
            for spanned in doc.branch_location {
                let origin = origin_at(line_of(&src, spanned.span().start));
                let line = origin.line;
                let b = spanned.into_inner();
                claim_id(&b.id, &origin, &mut err);
                if b.terms.is_empty() || b.branch_words.is_empty() || b.entity_words.is_empty() {
                    err(
                        line,
                        format!(
                            "branch_location {}: `terms`, `branch_words` and `entity_words` must not be empty",
                            b.id
                        ),
                    );
                }
                check_terms(
                    &b.terms,
                    &format!("branch_location {}", b.id),
                    line,
                    &mut err,
                );
                set.branch_locations.push(BranchLocation {
                    id: b.id,
                    reason: b.reason,
                    terms: b.terms,
                    branch_words: b.branch_words,
                    entity_words: b.entity_words,
                    origin,
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
                match (
                    doc.threshold_percent,
                    doc.rule_id,
                    doc.category,
                    doc.severity,
                    doc.basis,
                    doc.keywords,
                ) {
                    (
                        Some(t),
                        Some(id),
                        Some(category),
                        Some(severity),
                        Some(basis),
                        Some(keywords),
                    ) => {
                        if !(0.0..=1000.0).contains(&t) {
                            err(1, format!("threshold_percent {t} is out of range 0..1000"));
                        }
                        if keywords.is_empty() {
                            err(1, "yield detector: `keywords` is empty".into());
                        }
                        check_terms(&keywords, "yield keywords", 1, &mut err);
                        check_terms(&doc.cost_prefixes, "yield cost_prefixes", 1, &mut err);
                        check_terms(&doc.gain_words, "yield gain_words", 1, &mut err);
                        check_terms(&doc.boost_words, "yield boost_words", 1, &mut err);
                        claim_id(&id, &origin_at(1), &mut err);
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
                            needs_activity: doc.needs_activity,
                            cost_prefixes: doc.cost_prefixes,
                            gain_words: doc.gain_words,
                            boost_words: doc.boost_words,
                        });
                    }
                    _ => err(
                        1,
                        "yield detector needs all of threshold_percent, rule_id, category, severity, basis, keywords"
                            .into(),
                    ),
                }
            } else if !doc.cost_prefixes.is_empty()
                || !doc.needs_activity.is_empty()
                || !doc.gain_words.is_empty()
                || !doc.boost_words.is_empty()
            {
                err(
                    1,
                    "cost_prefixes, gain_words and boost_words belong with the yield detector's settings"
                        .into(),
                );
            }
        }
        let resolved = resolve_groups(&groups, &mut errors);
        for p in pending {
            if let Some(rule) = build_pattern(p, &resolved, &seen_ids, &mut errors) {
                set.patterns.push(rule);
            }
        }
        for (i, ids) in rule_needs {
            let origin = set.rules[i].origin.clone();
            set.rules[i].needs.rules = known_rule_ids(&ids, &seen_ids, &origin, &mut errors);
        }
        // a licensed activity names the scope terms it exempts: a term no
        // scope rule has would silently exempt nothing
        let scope_terms: std::collections::HashSet<String> = set
            .rules
            .iter()
            .filter(|r| r.fields.contains(&Field::Scope))
            .flat_map(|r| r.terms.iter().map(|t| normalize_term(t)))
            .collect();
        for l in set.licensed.iter().filter(|l| l.field == Field::Scope) {
            for t in &l.terms {
                if !scope_terms.contains(&normalize_term(t)) {
                    errors.push(RuleError {
                        file: l.origin.file.clone(),
                        line: l.origin.line,
                        message: format!(
                            "licensed {}: {t:?} is not a term of any scope rule",
                            l.id
                        ),
                    });
                }
            }
        }
        if errors.is_empty() {
            Ok(set)
        } else {
            errors.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
            Err(RuleErrors(errors))
        }
    }

    /// Every distinct term of the rules for `field` (all fields when `None`),
    /// plus, where `page` is included, the terms of patterns and activities,
    /// the page-wide voice cues and the yield keywords: what the field's one
    /// automaton pass looks for. Sorted, as written in the rule files. This is
    /// what `finscan rules terms` prints for `rg -F -f`.
    pub fn terms(&self, field: Option<Field>) -> Vec<&str> {
        let mut terms: Vec<&str> = self
            .rules
            .iter()
            .filter(|r| field.is_none_or(|f| r.fields.contains(&f)))
            .flat_map(|r| r.terms.iter().map(String::as_str))
            .collect();
        if field.is_none_or(|f| f == Field::Page) {
            for p in &self.patterns {
                terms.extend(p.term_parts().flatten().map(String::as_str));
                terms.extend(p.exclude.iter().map(String::as_str));
            }
            terms.extend(
                self.activities
                    .iter()
                    .flat_map(|a| a.terms.iter().map(String::as_str)),
            );
            terms.extend(
                self.voices
                    .iter()
                    .filter(|v| v.scope != VoiceScope::Passage)
                    .flat_map(|v| v.cues.iter().map(String::as_str)),
            );
            if let Some(y) = &self.yields {
                terms.extend(y.keywords.iter().map(String::as_str));
            }
        }
        terms.sort_unstable();
        terms.dedup();
        terms
    }

    /// The id, category and severity of any page rule (term, pattern or the
    /// yield detector) by id.
    pub fn rule_ids(&self) -> impl Iterator<Item = &RuleId> {
        self.rules
            .iter()
            .map(|r| &r.id)
            .chain(self.patterns.iter().map(|p| &p.id))
            .chain(self.yields.iter().map(|y| &y.rule_id))
    }
}

impl PatternRule {
    /// The term lists of the parts, numbers left out.
    pub fn term_parts(&self) -> impl Iterator<Item = &Vec<String>> {
        self.parts.iter().filter_map(|p| match p {
            Part::Terms(t) => Some(t),
            Part::Number(_) => None,
        })
    }
}

fn valid_group_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

/// Expands every group's `@name` references (groups may name groups, in
/// any file); a reference to an unknown group or a cycle is an error at the
/// group's line.
fn resolve_groups(
    groups: &std::collections::HashMap<String, PendingGroup>,
    errors: &mut Vec<RuleError>,
) -> std::collections::HashMap<String, Vec<String>> {
    fn expand(
        name: &str,
        groups: &std::collections::HashMap<String, PendingGroup>,
        stack: &mut Vec<String>,
        out: &mut Vec<String>,
        errors: &mut Vec<RuleError>,
    ) {
        let g = &groups[name];
        for t in &g.terms {
            match t.strip_prefix('@') {
                Some(inner) if groups.contains_key(inner) => {
                    if stack.iter().any(|s| s == inner) {
                        errors.push(RuleError {
                            file: g.origin.file.clone(),
                            line: g.origin.line,
                            message: format!(
                                "group {name}: @{inner} names a group that contains it"
                            ),
                        });
                        continue;
                    }
                    stack.push(inner.to_owned());
                    expand(inner, groups, stack, out, errors);
                    stack.pop();
                }
                Some(inner) => errors.push(RuleError {
                    file: g.origin.file.clone(),
                    line: g.origin.line,
                    message: format!("group {name}: unknown group @{inner}"),
                }),
                None => out.push(t.clone()),
            }
        }
    }
    let mut resolved = std::collections::HashMap::new();
    for name in groups.keys() {
        let mut out = Vec::new();
        expand(name, groups, &mut vec![name.clone()], &mut out, errors);
        dedup_terms(&mut out);
        resolved.insert(name.clone(), out);
    }
    resolved
}

/// Removes terms whose normalized form came earlier (groups overlap).
fn dedup_terms(terms: &mut Vec<String>) {
    let mut seen = std::collections::HashSet::new();
    terms.retain(|t| seen.insert(normalize_term(t)));
}

/// Expands `@group` references of a term list.
fn expand_terms(
    terms: &[String],
    groups: &std::collections::HashMap<String, Vec<String>>,
    mut unknown: impl FnMut(&str),
) -> Vec<String> {
    let mut out = Vec::new();
    for t in terms {
        match t.strip_prefix('@') {
            Some(name) => match groups.get(name) {
                Some(g) => out.extend(g.iter().cloned()),
                None => unknown(name),
            },
            None => out.push(t.clone()),
        }
    }
    dedup_terms(&mut out);
    out
}

fn known_rule_ids(
    ids: &[String],
    seen: &std::collections::HashMap<String, Origin>,
    origin: &Origin,
    errors: &mut Vec<RuleError>,
) -> Vec<RuleId> {
    ids.iter()
        .filter_map(|id| {
            if seen.contains_key(id) {
                Some(RuleId(id.clone()))
            } else {
                errors.push(RuleError {
                    file: origin.file.clone(),
                    line: origin.line,
                    message: format!("needs_rule: unknown rule id {id:?}"),
                });
                None
            }
        })
        .collect()
}

/// Validates a pattern and resolves its groups.
fn build_pattern(
    p: PendingPattern,
    groups: &std::collections::HashMap<String, Vec<String>>,
    seen_ids: &std::collections::HashMap<String, Origin>,
    errors: &mut Vec<RuleError>,
) -> Option<PatternRule> {
    let PendingPattern {
        raw,
        part_lines,
        needs_rule,
        origin,
    } = p;
    let before = errors.len();
    let file = origin.file.clone();
    let mut err = |line: usize, message: String| {
        errors.push(RuleError {
            file: file.clone(),
            line,
            message,
        })
    };
    let id = raw.id.clone();
    if raw.basis.trim().is_empty() {
        err(origin.line, format!("pattern {id}: `basis` is empty"));
    }
    if raw.parts.is_empty() {
        err(origin.line, format!("pattern {id}: `parts` is empty"));
    }
    if let Some(m) = raw.max_chars
        && !(1..=MAX_PATTERN_CHARS).contains(&m)
    {
        err(
            origin.line,
            format!("pattern {id}: max_chars = {m} is out of range 1..={MAX_PATTERN_CHARS}"),
        );
    }
    let mut parts = Vec::new();
    for (k, (part, &line)) in raw.parts.into_iter().zip(&part_lines).enumerate() {
        let what = format!("pattern {id}, part {}", k + 1);
        let part = match part.into_inner() {
            toml::Value::Array(items) => {
                let terms: Option<Vec<String>> = items
                    .into_iter()
                    .map(|v| v.as_str().map(str::to_owned))
                    .collect();
                match terms {
                    Some(t) => RawPart::Terms(t),
                    None => {
                        err(
                            line,
                            format!("{what}: a list of terms holds something other than strings"),
                        );
                        continue;
                    }
                }
            }
            toml::Value::Table(t) => match toml::Value::Table(t).try_into::<RawNumber>() {
                Ok(n) => RawPart::Number(n),
                Err(e) => {
                    err(line, format!("{what}: {}", e.message()));
                    continue;
                }
            },
            _ => {
                err(
                    line,
                    format!(
                        "{what}: a part is a list of terms or a number such as {{ number = \"rate\", min = 10 }}"
                    ),
                );
                continue;
            }
        };
        match part {
            RawPart::Terms(terms) => {
                if terms.is_empty() {
                    err(line, format!("{what}: no terms"));
                }
                let expanded = expand_terms(&terms, groups, |name| {
                    err(line, format!("{what}: unknown group @{name}"))
                });
                check_part_terms(&expanded, &what, line, &mut err);
                parts.push(Part::Terms(expanded));
            }
            RawPart::Number(n) => {
                if let (Some(lo), Some(hi)) = (n.min, n.max)
                    && lo > hi
                {
                    err(line, format!("{what}: min {lo} is above max {hi}"));
                }
                if n.min.is_some_and(|v| !v.is_finite() || v < 0.0)
                    || n.max.is_some_and(|v| !v.is_finite() || v < 0.0)
                {
                    err(
                        line,
                        format!("{what}: bounds must be finite and not negative"),
                    );
                }
                parts.push(Part::Number(NumberSlot {
                    kind: n.number,
                    min: n.min,
                    max: n.max,
                }));
            }
        }
    }
    if !parts.is_empty() && !parts.iter().any(|p| matches!(p, Part::Terms(_))) {
        err(
            origin.line,
            format!(
                "pattern {id}: needs at least one part of terms (numbers alone cannot be found)"
            ),
        );
    }
    let exclude = expand_terms(&raw.exclude, groups, |name| {
        err(
            origin.line,
            format!("pattern {id}: exclude: unknown group @{name}"),
        )
    });
    check_part_terms(
        &exclude,
        &format!("pattern {id}, exclude"),
        origin.line,
        &mut err,
    );
    let rules = known_rule_ids(&needs_rule, seen_ids, &origin, errors);
    if needs_rule.contains(&id) {
        errors.push(RuleError {
            file: origin.file.clone(),
            line: origin.line,
            message: format!("pattern {id}: needs_rule names the pattern itself"),
        });
    }
    if errors.len() > before {
        return None;
    }
    Some(PatternRule {
        id: RuleId(raw.id),
        category: raw.category,
        severity: raw.severity,
        basis: raw.basis,
        within: raw.within,
        ordered: raw.ordered,
        max_chars: raw.max_chars,
        parts,
        exclude,
        needs: Needs {
            activities: raw.needs_activity,
            rules,
        },
        origin,
    })
}

/// Terms of a pattern part: like [`check_terms`], but a term listed twice
/// (through two groups) is harmless and was already removed.
fn check_part_terms(
    terms: &[String],
    owner: &str,
    line: usize,
    err: &mut impl FnMut(usize, String),
) {
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
        }
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
        assert!(!set.cues.is_empty() && !set.allows.is_empty());
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

    /// A pattern file with one error of each kind the new form can have;
    /// `{}` is replaced by the line under test.
    const PATTERN: &str = r#"[[group]]
name = "payer"
terms = ["平台", "集团"]

[[pattern]]
id = "page.test.covered"
category = "guaranteed-return"
severity = "high"
basis = "§二（一）"
within = "sentence"
max_chars = 40
parts = [
  ["逾期"],
  ["@payer"],
  ["垫付"],
]
"#;

    fn pattern_error(old: &str, new: &str) -> RuleErrors {
        assert!(PATTERN.contains(old), "{old}");
        load(&PATTERN.replace(old, new)).unwrap_err()
    }

    #[test]
    fn patterns_load_with_groups_expanded() {
        let set = load(PATTERN).unwrap_or_else(|e| panic!("{e}"));
        let p = &set.patterns[0];
        assert_eq!(p.origin.line, 5);
        assert_eq!(p.within, Window::Sentence);
        assert!(p.ordered);
        assert_eq!(p.parts[1], Part::Terms(vec!["平台".into(), "集团".into()]));
    }

    #[test]
    fn an_unknown_group_is_an_error_at_its_part() {
        let e = pattern_error(r#"["@payer"]"#, r#"["@payor"]"#);
        assert_eq!(e.0.len(), 1, "{e}");
        assert_eq!((e.0[0].file.as_str(), e.0[0].line), ("t.toml", 14), "{e}");
        assert!(
            e.0[0].message.contains("part 2: unknown group @payor"),
            "{e}"
        );
        // and in a group's own terms, at the group
        let e = pattern_error(
            r#"terms = ["平台", "集团"]"#,
            r#"terms = ["平台", "@nobody"]"#,
        );
        assert!(
            e.0.iter()
                .any(|e| e.line == 1 && e.message.contains("unknown group @nobody")),
            "{e}"
        );
    }

    #[test]
    fn groups_that_contain_themselves_are_errors() {
        let e = pattern_error(
            r#"terms = ["平台", "集团"]"#,
            r#"terms = ["平台", "@payer"]"#,
        );
        assert!(
            e.0.iter()
                .any(|e| e.message.contains("names a group that contains it")),
            "{e}"
        );
    }

    #[test]
    fn unmatchable_parts_are_errors_at_their_line() {
        let e = pattern_error(r#"["垫付"],"#, r#"["垫付，兜底"],"#);
        assert_eq!(e.0[0].line, 15, "{e}");
        assert!(e.0[0].message.contains("could never match"), "{e}");
        let e = pattern_error(r#"["垫付"],"#, r#"["  "],"#);
        assert!(e.0[0].message.contains("empty after normalization"), "{e}");
        let e = pattern_error(r#"["垫付"],"#, r#"[],"#);
        assert!(e.0[0].message.contains("no terms"), "{e}");
        let e = pattern_error(r#"["垫付"],"#, r#"["垫付", 3],"#);
        assert!(e.0[0].message.contains("other than strings"), "{e}");
        let e = pattern_error(r#"["垫付"],"#, r#""垫付","#);
        assert!(
            e.0[0]
                .message
                .contains("a part is a list of terms or a number"),
            "{e}"
        );
    }

    #[test]
    fn windows_out_of_range_are_errors() {
        for bad in ["max_chars = 0", "max_chars = 201"] {
            let e = pattern_error("max_chars = 40", bad);
            assert_eq!(e.0[0].line, 5, "{e}");
            assert!(e.0[0].message.contains("out of range 1..=200"), "{e}");
        }
        let e = pattern_error(r#"within = "sentence""#, r#"within = "page""#);
        assert!(e.0[0].message.contains("page"), "{e}");
    }

    #[test]
    fn numeric_parts_are_checked() {
        let e = pattern_error(r#"["垫付"],"#, r#"{ number = "days", min = 30, max = 7 },"#);
        assert!(e.0[0].message.contains("min 30 is above max 7"), "{e}");
        let e = pattern_error(r#"["垫付"],"#, r#"{ number = "years" },"#);
        assert!(e.0[0].message.contains("years"), "{e}");
        let e = pattern_error(r#"["垫付"],"#, r#"{ number = "rate", min = -1 },"#);
        assert!(e.0[0].message.contains("not negative"), "{e}");
        // numbers alone cannot be found
        let only_numbers = PATTERN
            .replace(r#"["逾期"],"#, r#"{ number = "rate", min = 10 },"#)
            .replace(r#"["@payer"],"#, "")
            .replace(r#"["垫付"],"#, "");
        let e = load(&only_numbers).unwrap_err();
        assert!(e.0[0].message.contains("at least one part of terms"), "{e}");
        let set = load(&PATTERN.replace(r#"["垫付"],"#, r#"{ number = "money", min = 100 },"#))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(
            set.patterns[0].parts[2],
            Part::Number(NumberSlot {
                kind: NumberKind::Money,
                min: Some(_),
                max: None
            })
        ));
    }

    #[test]
    fn needs_name_known_rules_and_activities() {
        let e = pattern_error(
            "max_chars = 40",
            "max_chars = 40\nneeds_rule = [\"page.nothing\"]",
        );
        assert!(
            e.0[0].message.contains("unknown rule id \"page.nothing\""),
            "{e}"
        );
        let e = pattern_error(
            "max_chars = 40",
            "max_chars = 40\nneeds_activity = [\"gambling\"]",
        );
        assert!(e.0[0].message.contains("gambling"), "{e}");
        let e = pattern_error(
            "max_chars = 40",
            "max_chars = 40\nneeds_rule = [\"page.test.covered\"]",
        );
        assert!(e.0[0].message.contains("names the pattern itself"), "{e}");
    }

    #[test]
    fn cue_and_voice_groups_are_checked() {
        let e = load("[[cue]]\nkind = \"negation\"\ncues = [\"不会\"]\n").unwrap_err();
        assert!(e.0[0].message.contains("needs max_gap"), "{e}");
        assert!(
            load("[[cue]]\nfields = [\"page\"]\nkind = \"negation\"\ncues = [\"不会\"]\n").is_ok()
        );
        let e = load("[[cue]]\nfields = [\"page\"]\nkind = \"denial\"\ncues = [\"不会\"]\n")
            .unwrap_err();
        assert!(e.0[0].message.contains("denial"), "{e}");
        let e =
            load("[[voice]]\nvoice = \"police\"\nscope = \"head\"\nmin = 3\ncues = [\"警方\"]\n")
                .unwrap_err();
        assert!(e.0[0].message.contains("min = 3"), "{e}");
    }
}
