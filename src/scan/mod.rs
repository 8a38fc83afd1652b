//! The scanner: rules compiled into one Aho-Corasick automaton per field kind,
//! run over normalized text; then, for web pages, descriptive patterns, the
//! yield detector, the activity profile, and a judgement of every candidate
//! in its passage (mention or promotion).
//!
//! Owns matching and the [`Hit`] type. Reads documents through `text` only;
//! stores nothing (`store` keeps hits, `crawl` and `registry` feed documents).
//!
//! Hits point into the raw bytes, not the decoded text, because the raw bytes
//! are the evidence: `raw[hit.raw.start..hit.raw.end]` is what the platform
//! published, and decodes to `hit.matched`.
//!
//! A page is read in one pass of its field's automaton, which holds every
//! term the page rules need: rule terms, the parts of descriptive patterns,
//! activity words, page-wide voice cues and yield keywords. Candidates come
//! from terms, from patterns whose parts meet in one clause or sentence
//! ([`pattern`]), and from stated rates ([`yields`]); the context cues are
//! then searched only in the paragraphs that hold a candidate, and each
//! candidate is judged there ([`passage`]). Words that only describe lawful
//! business are not candidates at all: they make the page's
//! [`ActivityProfile`].
//!
//! Registry fields (names, business scopes) take the short path: terms,
//! word boundaries, allow-list spans and the gap-limited cues, nothing else.

pub mod activity;
pub mod context;
pub mod numbers;
pub mod passage;
mod pattern;
mod terms;
pub mod window;
pub mod yields;

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

pub use activity::{ActivityFound, ActivityProfile};
pub use passage::{Reason, ReasonCode};

use crate::rules::{
    Activity, Boundary, Category, CueGroup, Field, NumberKind, Part, RuleId, RuleSet, Severity,
    VoiceScope,
};
use crate::text::{
    DocKind, Normalizations, Normalized, RawSpan, TextDoc, TextSpan, normalize, normalize_into,
    normalize_term,
};
use context::Cue;
use numbers::Period;
use passage::{CueHit, Judge, PassageVoice, VoiceHit};
use terms::Terms;

/// Characters of context on each side of a match in a snippet.
const SNIPPET_CHARS: usize = 30;

/// How much of a page, in characters of normalized text, is its *head*: the
/// title and first lines, where a police notice, a court or a lawyer names
/// itself.
const HEAD_CHARS: usize = 160;

/// One finding: a rule matched in a document or field, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub rule: RuleId,
    pub category: Category,
    pub severity: Severity,
    pub field: Field,
    /// The rule's term as listed in the rule file (canonical form); for a
    /// descriptive pattern, the pieces that matched, joined by `…`.
    pub term: String,
    /// The evidence as written: `raw[start..end]` decoded.
    pub matched: String,
    /// Byte range of the raw document (or of the field text) holding the evidence.
    #[serde(flatten)]
    pub raw: RawSpan,
    /// Byte range of the visible text.
    #[serde(skip)]
    pub text: TextSpan,
    /// Visible text around the match.
    pub snippet: String,
    /// Byte range of the match inside `snippet`.
    #[serde(skip)]
    pub snippet_match: (usize, usize),
    #[serde(serialize_with = "ser_str")]
    pub basis: Arc<str>,
    /// Normalizations that were needed to see the match (evasions).
    #[serde(serialize_with = "ser_normalizations")]
    pub normalizations: Normalizations,
    /// For yield hits: the stated rate as a simple annual percentage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annual_rate: Option<f64>,
    /// For a pattern with a multiple (leverage, a price on listing): the multiple.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub multiple: Option<f64>,
    /// How many more times the same rule term occurs in this document after
    /// this, its first occurrence (see `first_occurrences`).
    #[serde(skip_serializing_if = "is_zero")]
    pub repeats: usize,
    /// Why the hit was kept (or, under `--explain`, dropped).
    pub reason: Reason,
}

impl Hit {
    /// Fills in `snippet`: the text around the match in `visible` (the
    /// text `self.text` indexes).
    fn with_snippet(mut self, visible: &str) -> Hit {
        (self.snippet, self.snippet_match) = snippet(visible, self.text);
        self
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

fn ser_str<S: serde::Serializer>(v: &Arc<str>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v)
}

fn ser_normalizations<S: serde::Serializer>(n: &Normalizations, s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(n.names())
}

/// What one pattern of a field's automaton stands for. A normalized string
/// can play several roles at once (a term of two rules, a pattern part, a
/// cue and a term).
#[derive(Debug, Clone, Default)]
struct PatternInfo {
    /// Rule terms: (rule index, term index).
    owners: Vec<(usize, usize)>,
    /// Needs a word-boundary check (short Chinese term, or `boundary = "word"`).
    word_boundary: bool,
    /// First/last character is ASCII alphanumeric: needs ASCII boundaries.
    ascii_edges: bool,
    /// Index of a yield keyword.
    yield_keyword: Option<usize>,
    /// A word that introduces money earned (收益, 到手).
    gain_word: bool,
    /// Pattern parts (their ids) the term belongs to.
    parts: Vec<u32>,
    /// Excluded-term lists (their ids) the term belongs to.
    excludes: Vec<u32>,
    activity: Option<Activity>,
    /// Head- and page-scope voice groups (their indices) the cue belongs to.
    voices: Vec<u32>,
}

/// What a pattern of the context automaton stands for.
#[derive(Debug, Clone, Default)]
struct ContextInfo {
    /// Cue groups (indices into `Scanner::cue_groups`).
    cues: Vec<usize>,
    /// An allow-list span.
    allow: bool,
    /// Passage-scope voice groups: (index into `page.voices`, cue index).
    voices: Vec<(usize, usize)>,
    /// Ends a sentence-reaching cue's scope when it opens a clause.
    scope_end: bool,
    /// … and names the page's own subject: ends a passage voice's reach too.
    subject: bool,
}

/// One field kind's automata.
///
/// `terms` holds the rule terms (and, for pages, everything else of the one
/// pass) and reads every byte of a document: on Chinese text, where every
/// character is three bytes and no prefilter can skip ahead, it is the
/// pipeline's most expensive stage, and its speed falls with its size (the
/// DFA's tables leave the cache). The cues, allow-list spans and passage
/// voices are therefore a second automaton, `context`, run only on the
/// stretches around candidate matches.
#[derive(Debug, Clone, Default)]
struct FieldMatcher {
    terms: Option<Terms>,
    /// The automaton's patterns (normalized), by index.
    texts: Vec<String>,
    patterns: Vec<PatternInfo>,
    context: Option<Terms>,
    context_infos: Vec<ContextInfo>,
    /// How far (bytes) before a match a gap-limited cue can start.
    reach_before: usize,
    /// How far (bytes) after a match a gap-limited cue can end.
    reach_after: usize,
}

#[derive(Debug, Clone)]
struct RuleMeta {
    id: RuleId,
    category: Category,
    severity: Severity,
    basis: Arc<str>,
    terms: Vec<String>,
    /// Any one of these activities must be on the page.
    needs_activities: Vec<Activity>,
    /// A hit of any one of these rules (indices) must be kept on the page.
    needs_rules: Vec<usize>,
    /// Dedup key of hits: a pattern's hits are told apart by their text.
    kind: RuleKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RuleKind {
    Term,
    Pattern,
    Yield,
}

#[derive(Debug, Clone)]
struct YieldRule {
    keyword_terms: Vec<String>,
    cost_prefixes: Vec<String>,
    boost_words: Vec<String>,
    threshold: f64,
    /// Index of the yield rule in `Scanner::rules`.
    rule: usize,
}

/// What the page field needs beyond terms: patterns, voices, activities.
#[derive(Debug, Clone, Default)]
struct PageRules {
    patterns: Vec<pattern::Compiled>,
    /// Number of pattern parts and excluded-term lists (match list sizes).
    part_count: usize,
    exclude_count: usize,
    /// Head- and page-scope voices: (name, scope, min).
    page_voices: Vec<(String, VoiceScope, usize)>,
    /// Passage-scope voices.
    passage_voices: Vec<PassageVoice>,
}

/// Rules compiled for matching. Cheap to share across threads (`Arc` inside
/// the automata); build once per process.
#[derive(Debug, Clone)]
pub struct Scanner {
    rules: Vec<RuleMeta>,
    fields: [FieldMatcher; 3],
    yields: Option<YieldRule>,
    page: PageRules,
    cue_groups: Vec<CueGroup>,
    /// Names of licensed institutions (normalized): the allow-list groups
    /// whose id names them `licensed` (see [`Scanner::is_licensed`]).
    licensed: Vec<String>,
}

/// A candidate, in normalized offsets, with the decision about it.
#[derive(Debug, Clone)]
struct Found {
    rule: usize,
    term: usize,
    start: usize,
    end: usize,
    annual_rate: Option<f64>,
    multiple: Option<f64>,
    /// For patterns: the pieces that matched.
    pieces: Vec<(usize, usize)>,
    repeats: usize,
    /// Terms of the same rule merged into this hit (承诺保本 + 保本保息).
    absorbed: Vec<usize>,
    /// The hit states its own activity (投五万，每月到手九百 is an
    /// investment whatever the page is about): needs_activity is met.
    own_activity: bool,
    reason: Reason,
}

impl Found {
    fn new(rule: usize, term: usize, start: usize, end: usize, reason: Reason) -> Self {
        Found {
            rule,
            term,
            start,
            end,
            annual_rate: None,
            multiple: None,
            pieces: Vec::new(),
            repeats: 0,
            absorbed: Vec::new(),
            own_activity: false,
            reason,
        }
    }
}

fn chinese_chars(s: &str) -> usize {
    s.chars()
        .filter(|c| ('\u{3400}'..='\u{9FFF}').contains(c))
        .count()
}

/// Whether a match of `term` (normalized) under a rule with `boundary`
/// must fall on word boundaries (by the segmenter): `auto` asks it of
/// terms of one or two Chinese characters, the ones most often found
/// inside other words (理财 in 企业管理财务咨询).
fn needs_word_boundary(boundary: Boundary, term: &str) -> bool {
    match boundary {
        Boundary::Word => true,
        Boundary::None => false,
        Boundary::Auto => {
            let cjk = chinese_chars(term);
            cjk > 0 && cjk <= 2 && term.chars().count() <= 2
        }
    }
}

/// Whether a scanner of `set` for `fields` will check word boundaries, and
/// so need the segmenter ([`context::load_segmenter`]): known from the
/// rules, before the scanner is built.
pub fn checks_word_boundaries(set: &RuleSet, fields: &[Field]) -> bool {
    set.rules.iter().any(|r| {
        r.fields.iter().any(|f| fields.contains(f))
            && r.terms
                .iter()
                .any(|t| needs_word_boundary(r.boundary, &normalize_term(t)))
    })
}

/// Collects the patterns of one field's automaton, deduplicated by their
/// normalized form.
#[derive(Default)]
struct PatternSet<I> {
    patterns: Vec<String>,
    infos: Vec<I>,
    index: HashMap<String, usize>,
}

impl<I: Default> PatternSet<I> {
    /// Adds the normalized form of `raw` once; returns its index.
    fn add(&mut self, raw: &str) -> Option<usize> {
        let n = normalize_term(raw);
        if n.is_empty() {
            return None;
        }
        Some(match self.index.get(&n) {
            Some(&i) => i,
            None => {
                self.patterns.push(n.clone());
                self.infos.push(I::default());
                self.index.insert(n, self.infos.len() - 1);
                self.infos.len() - 1
            }
        })
    }

    fn entry(&mut self, raw: &str) -> Option<&mut I> {
        let i = self.add(raw)?;
        Some(&mut self.infos[i])
    }
}

impl Scanner {
    /// Compiles a validated rule set.
    pub fn new(set: &RuleSet) -> Self {
        Self::for_fields(set, &Field::ALL)
    }

    /// Compiles `set` for `fields` only: a field left out finds nothing.
    /// A registry scan reads names and scopes, and the page field's
    /// automata alone take several MB.
    pub fn for_fields(set: &RuleSet, fields: &[Field]) -> Self {
        let mut index_of: HashMap<&RuleId, usize> = HashMap::new();
        let mut rules: Vec<RuleMeta> = Vec::new();
        for r in &set.rules {
            index_of.insert(&r.id, rules.len());
            rules.push(RuleMeta {
                id: r.id.clone(),
                category: r.category,
                severity: r.severity,
                basis: Arc::from(r.basis.as_str()),
                terms: r.terms.clone(),
                needs_activities: r.needs.activities.clone(),
                needs_rules: Vec::new(),
                kind: RuleKind::Term,
            });
        }
        let pattern_base = rules.len();
        for p in &set.patterns {
            index_of.insert(&p.id, rules.len());
            rules.push(RuleMeta {
                id: p.id.clone(),
                category: p.category,
                severity: p.severity,
                basis: Arc::from(p.basis.as_str()),
                terms: Vec::new(),
                needs_activities: p.needs.activities.clone(),
                needs_rules: Vec::new(),
                kind: RuleKind::Pattern,
            });
        }
        let yields = set.yields.as_ref().map(|y| {
            index_of.insert(&y.rule_id, rules.len());
            rules.push(RuleMeta {
                id: y.rule_id.clone(),
                category: y.category,
                severity: y.severity,
                basis: Arc::from(y.basis.as_str()),
                terms: y.keywords.clone(),
                needs_activities: y.needs_activity.clone(),
                needs_rules: Vec::new(),
                kind: RuleKind::Yield,
            });
            YieldRule {
                keyword_terms: y.keywords.iter().map(|k| normalize_term(k)).collect(),
                cost_prefixes: y.cost_prefixes.iter().map(|k| normalize_term(k)).collect(),
                boost_words: y.boost_words.iter().map(|k| normalize_term(k)).collect(),
                threshold: y.threshold_percent,
                rule: rules.len() - 1,
            }
        });
        // needs_rule ids to indices (validation made sure they exist)
        let needs_of = |ids: &[RuleId]| -> Vec<usize> {
            ids.iter()
                .filter_map(|id| index_of.get(id).copied())
                .collect()
        };
        for (i, r) in set.rules.iter().enumerate() {
            rules[i].needs_rules = needs_of(&r.needs.rules);
        }
        for (i, p) in set.patterns.iter().enumerate() {
            rules[pattern_base + i].needs_rules = needs_of(&p.needs.rules);
        }
        let mut page = PageRules::default();
        let fields_built = Field::ALL.map(|field| {
            if !fields.contains(&field) {
                return FieldMatcher::default();
            }
            let mut ps: PatternSet<PatternInfo> = PatternSet::default();
            for (ri, r) in set.rules.iter().enumerate() {
                if !r.fields.contains(&field) {
                    continue;
                }
                for (ti, t) in r.terms.iter().enumerate() {
                    let n = normalize_term(t);
                    let word = needs_word_boundary(r.boundary, &n);
                    let ascii_edges = n.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
                        || n.chars().last().is_some_and(|c| c.is_ascii_alphanumeric());
                    if let Some(info) = ps.entry(t) {
                        info.owners.push((ri, ti));
                        info.word_boundary |= word;
                        info.ascii_edges = ascii_edges;
                    }
                }
            }
            if field == Field::Page {
                if let Some(y) = &set.yields {
                    for (ki, k) in y.keywords.iter().enumerate() {
                        if let Some(info) = ps.entry(k) {
                            info.yield_keyword = Some(ki);
                        }
                    }
                    for g in &y.gain_words {
                        if let Some(info) = ps.entry(g) {
                            info.gain_word = true;
                        }
                    }
                }
                page = compile_page(set, pattern_base, &mut ps);
            }
            let mut cs: PatternSet<ContextInfo> = PatternSet::default();
            let (mut reach_before, mut reach_after, mut longest) = (0usize, 0usize, 0usize);
            for (gi, g) in set.cues.iter().enumerate() {
                if !g.fields.contains(&field) {
                    continue;
                }
                for c in &g.cues {
                    if let Some(i) = cs.add(c) {
                        cs.infos[i].cues.push(gi);
                        longest = longest.max(cs.patterns[i].len());
                        if let Some(gap) = g.max_gap {
                            // a character is at most 4 bytes
                            if g.side != crate::rules::Side::Before {
                                reach_after = reach_after.max(gap * 4);
                            }
                            if g.side != crate::rules::Side::After {
                                reach_before = reach_before.max(gap * 4);
                            }
                        }
                    }
                }
            }
            for a in set.allows.iter().filter(|a| a.fields.contains(&field)) {
                for t in &a.terms {
                    if let Some(i) = cs.add(t) {
                        cs.infos[i].allow = true;
                        longest = longest.max(cs.patterns[i].len());
                    }
                }
            }
            if field == Field::Page {
                for c in &set.scope_ends {
                    if let Some(i) = cs.add(c) {
                        cs.infos[i].scope_end = true;
                        cs.infos[i].subject |= set.subjects.contains(c);
                    }
                }
                let passage: Vec<_> = set
                    .voices
                    .iter()
                    .filter(|v| v.scope == VoiceScope::Passage)
                    .collect();
                for (vi, v) in passage.iter().enumerate() {
                    for (ci, c) in v.cues.iter().enumerate() {
                        if let Some(i) = cs.add(c) {
                            cs.infos[i].voices.push((vi, ci));
                        }
                    }
                }
            }
            FieldMatcher {
                terms: Terms::new(&ps.patterns, false),
                texts: ps.patterns,
                patterns: ps.infos,
                context: Terms::new(&cs.patterns, true),
                context_infos: cs.infos,
                reach_before: reach_before + longest,
                reach_after: reach_after + longest,
            }
        });
        let licensed = set
            .allows
            .iter()
            .filter(|a| a.id.contains("licensed"))
            .flat_map(|a| a.terms.iter().map(|t| normalize_term(t)))
            .collect();
        Scanner {
            rules,
            fields: fields_built,
            yields,
            page,
            cue_groups: set.cues.clone(),
            licensed,
        }
    }

    /// Whether some term needs a word-boundary check: what the scanner
    /// built, against which the tests hold [`checks_word_boundaries`] (the
    /// answer from the rules, which callers use).
    #[cfg(test)]
    fn checks_word_boundaries(&self) -> bool {
        self.fields
            .iter()
            .any(|f| f.patterns.iter().any(|p| p.word_boundary))
    }

    /// The scanner of the rules built into the binary.
    pub fn bundled() -> Result<Self, crate::rules::RuleErrors> {
        Ok(Self::new(&RuleSet::bundled()?))
    }

    /// Whether `name` (a site's operator, a company) names a licensed
    /// institution of the licensed allow-list (中国工商银行股份有限公司某支行).
    pub fn is_licensed(&self, name: &str) -> bool {
        let n = normalize(name).text;
        self.licensed.iter().any(|l| n.contains(l.as_str()))
    }

    /// Overrides the yield threshold (annual %, exclusive).
    pub fn set_yield_threshold(&mut self, percent: f64) {
        if let Some(y) = &mut self.yields {
            y.threshold = percent;
        }
    }

    pub fn yield_threshold(&self) -> Option<f64> {
        self.yields.as_ref().map(|y| y.threshold)
    }

    /// Scans a raw document (web page or text file) with the `page` rules.
    ///
    /// `header_charset` is the HTTP `Content-Type` charset when the document
    /// was fetched. Every returned span lies inside `raw` and
    /// `raw[span]` decodes to the hit's `matched`.
    pub fn scan_document(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
    ) -> ScannedDoc {
        self.scan_document_with(raw, kind, header_charset, false)
    }

    /// [`Scanner::scan_document`] that also returns the candidates it
    /// dropped, each with the reason (`ScannedDoc::dropped`): what `finscan
    /// scan --explain` prints, for a reviewer or a rule writer.
    pub fn explain_document(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
    ) -> ScannedDoc {
        self.scan_document_with(raw, kind, header_charset, true)
    }

    fn scan_document_with(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
        explain: bool,
    ) -> ScannedDoc {
        let doc = TextDoc::new(raw, kind, header_charset);
        let (hits, dropped, activities) = self.scan_page(raw, &doc, explain);
        ScannedDoc {
            doc,
            hits,
            dropped,
            activities,
        }
    }

    /// Scans an already decoded document; returns its hits.
    pub fn scan_prepared(&self, raw: &[u8], doc: &TextDoc) -> Vec<Hit> {
        self.scan_page(raw, doc, false).0
    }

    fn scan_page(
        &self,
        raw: &[u8],
        doc: &TextDoc,
        explain: bool,
    ) -> (Vec<Hit>, Vec<Hit>, ActivityProfile) {
        let norm = normalize(&doc.visible);
        let found = self.find_page(&norm, &doc.visible, explain);
        let to_hit = |f: &Found| {
            let text = text_span(&norm, f.start, f.end);
            let raw_span = doc.raw_span(text);
            let matched = doc.written(raw, raw_span);
            self.make_hit(Field::Page, f, &norm, &doc.visible, text, raw_span, matched)
                .with_snippet(&doc.visible)
        };
        let hits = found.kept.iter().map(to_hit).collect();
        let dropped = found.dropped.iter().map(to_hit).collect();
        let activities = ActivityProfile {
            found: found
                .activities
                .iter()
                .map(|a| {
                    let text = text_span(&norm, a.start, a.end);
                    let raw_span = doc.raw_span(text);
                    ActivityFound {
                        activity: a.activity,
                        count: a.count,
                        term: norm.text[a.start..a.end].to_owned(),
                        matched: doc.written(raw, raw_span),
                        raw: raw_span,
                    }
                })
                .collect(),
        };
        (hits, dropped, activities)
    }

    /// Scans the text of one field (enterprise name, business scope, operator).
    /// Hit spans are byte offsets into `text`.
    pub fn scan_field(&self, field: Field, text: &str) -> Vec<Hit> {
        self.field_hits(field, text, true)
    }

    /// Scans a field read off a page (the operator named in its footer):
    /// `span` is where the field's text lies in `doc.visible`. The hits
    /// point into the raw document like page hits (`raw[hit.raw]` decodes
    /// to `matched`), because the page as fetched is the evidence that the
    /// site names that operator; their snippets show the page around them.
    pub fn scan_field_on_page(
        &self,
        field: Field,
        raw: &[u8],
        doc: &TextDoc,
        span: TextSpan,
    ) -> Vec<Hit> {
        let Some(text) = doc.visible.get(span.range()) else {
            return Vec::new();
        };
        self.field_hits(field, text, false)
            .into_iter()
            .map(|mut h| {
                h.text = TextSpan {
                    start: span.start + h.text.start,
                    end: span.start + h.text.end,
                };
                h.raw = doc.raw_span(h.text);
                h.matched = doc.written(raw, h.raw);
                h.with_snippet(&doc.visible)
            })
            .collect()
    }

    /// [`Scanner::scan_field`] without snippets (`snippet` is empty): for
    /// registry records, whose output names the field and the span, and
    /// where a snippet would cost four allocations per hit for nothing.
    pub fn scan_field_bare(&self, field: Field, text: &str) -> Vec<Hit> {
        self.field_hits(field, text, false)
    }

    fn field_hits(&self, field: Field, text: &str, snippets: bool) -> Vec<Hit> {
        thread_local! {
            /// Reused from field to field (see `normalize_into`).
            static NORM: std::cell::RefCell<Normalized> = Default::default();
        }
        /// A scratch grown past this by a large text is not kept.
        const KEEP_BYTES: usize = 64 << 10;
        NORM.with_borrow_mut(|norm| {
            normalize_into(text, norm);
            let hits = self.field_hits_of(field, text, norm, snippets);
            if norm.text.capacity() > KEEP_BYTES {
                *norm = Normalized::default();
            }
            hits
        })
    }

    fn field_hits_of(
        &self,
        field: Field,
        text: &str,
        norm: &Normalized,
        snippets: bool,
    ) -> Vec<Hit> {
        let found = if field == Field::Page {
            self.find_page(norm, text, false).kept
        } else {
            self.find_field(field, norm)
        };
        found
            .iter()
            .map(|f| {
                let span = text_span(norm, f.start, f.end);
                let raw = RawSpan {
                    start: span.start,
                    end: span.end,
                };
                let matched = text[span.range()].to_owned();
                let hit = self.make_hit(field, f, norm, text, span, raw, matched);
                if snippets {
                    hit.with_snippet(text)
                } else {
                    hit
                }
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn make_hit(
        &self,
        field: Field,
        f: &Found,
        norm: &Normalized,
        visible: &str,
        text: TextSpan,
        raw: RawSpan,
        matched: String,
    ) -> Hit {
        let meta = &self.rules[f.rule];
        let term = match meta.kind {
            RuleKind::Pattern => f
                .pieces
                .iter()
                .map(|&(s, e)| &norm.text[s..e])
                .collect::<Vec<_>>()
                .join("…"),
            _ => match meta.terms.get(f.term) {
                Some(t) => t.clone(),
                // a rate read without a keyword (a principal, a table cell)
                None => f
                    .pieces
                    .iter()
                    .map(|&(s, e)| &norm.text[s..e])
                    .collect::<Vec<_>>()
                    .join("…"),
            },
        };
        Hit {
            rule: meta.id.clone(),
            category: meta.category,
            severity: meta.severity,
            field,
            term,
            normalizations: Normalizations::of(&visible[text.range()]),
            matched,
            raw,
            text,
            // filled in by `with_snippet` where it is wanted
            snippet: String::new(),
            snippet_match: (0, 0),
            basis: meta.basis.clone(),
            annual_rate: f.annual_rate,
            multiple: f.multiple,
            repeats: f.repeats,
            reason: f.reason.clone(),
        }
    }

    /// A registry field: terms, ASCII and word boundaries, allow-list spans
    /// and gap-limited cues (the path a registry scan takes a million times).
    fn find_field(&self, field: Field, norm: &Normalized) -> Vec<Found> {
        let fm = &self.fields[field.index()];
        let Some(terms) = &fm.terms else {
            return Vec::new();
        };
        let text = norm.text.as_str();
        // (pattern, start, end); sized so that a registry scope seldom grows it
        let mut candidates: Vec<(usize, usize, usize)> = Vec::with_capacity(16);
        terms.for_each_match(text, |pi, start, end| {
            if !fm.patterns[pi].owners.is_empty() {
                candidates.push((pi, start, end));
            }
        });
        if candidates.is_empty() {
            return Vec::new();
        }
        let spans = candidates.iter().map(|&(_, s, e)| (s, e));
        let Context {
            cues: cue_hits,
            allow,
            ..
        } = fm.context_around(norm, spans, None);
        let cues: Vec<Cue> = cue_hits
            .iter()
            .filter_map(|c| {
                let g = &self.cue_groups[c.group];
                Some(Cue {
                    start: c.start,
                    end: c.end,
                    max_gap: g.max_gap?,
                    after: g.side == crate::rules::Side::After,
                })
            })
            .collect();
        // A phrase under negation or allowed as a whole excuses the terms
        // inside it too: in 保本保息是骗局 the cue reaches 保本保息 but not
        // the 保本 within it, which is still the same phrase.
        let excused: Vec<(usize, usize)> = candidates
            .iter()
            .filter(|&&(_, s, e)| {
                context::allowed(&allow, s, e) || context::negated(norm, &cues, s, e)
            })
            .map(|&(_, s, e)| (s, e))
            .collect();
        let mut found = Vec::with_capacity(candidates.len());
        for (pi, start, end) in candidates {
            let info = &fm.patterns[pi];
            if norm.spans_break(start, end)
                || (info.ascii_edges && !context::on_ascii_boundaries(norm, start, end))
                || context::allowed(&excused, start, end)
                || (info.word_boundary && !context::on_word_boundaries(norm, start, end))
            {
                continue;
            }
            for &(rule, term) in &info.owners {
                found.push(Found::new(rule, term, start, end, kept_term()));
            }
        }
        first_occurrences(&self.rules, norm, merge_overlapping(found))
    }
}

fn kept_term() -> Reason {
    Reason::new(ReasonCode::Promotion, "")
}

/// The page field's patterns, voices and activities added to its pattern
/// set: returns what the page scan needs to read their matches.
fn compile_page(set: &RuleSet, pattern_base: usize, ps: &mut PatternSet<PatternInfo>) -> PageRules {
    let mut page = PageRules::default();
    for (pi, p) in set.patterns.iter().enumerate() {
        let mut parts = Vec::new();
        for part in &p.parts {
            match part {
                Part::Terms(terms) => {
                    let id = page.part_count;
                    page.part_count += 1;
                    for t in terms {
                        if let Some(info) = ps.entry(t)
                            && !info.parts.contains(&(id as u32))
                        {
                            info.parts.push(id as u32);
                        }
                    }
                    parts.push(pattern::CompiledPart::Terms(id));
                }
                Part::Number(slot) => parts.push(pattern::CompiledPart::Number(*slot)),
            }
        }
        let exclude = (!p.exclude.is_empty()).then(|| {
            let id = page.exclude_count;
            page.exclude_count += 1;
            for t in &p.exclude {
                if let Some(info) = ps.entry(t)
                    && !info.excludes.contains(&(id as u32))
                {
                    info.excludes.push(id as u32);
                }
            }
            id
        });
        page.patterns.push(pattern::Compiled {
            rule: pattern_base + pi,
            within: p.within,
            ordered: p.ordered,
            max_chars: p.max_chars,
            parts,
            exclude,
        });
    }
    for a in &set.activities {
        for t in &a.terms {
            if let Some(info) = ps.entry(t) {
                info.activity.get_or_insert(a.activity);
            }
        }
    }
    for v in &set.voices {
        if v.scope == VoiceScope::Passage {
            page.passage_voices.push(PassageVoice {
                name: v.voice.clone(),
                min: v.min,
            });
            continue;
        }
        let vi = page.page_voices.len() as u32;
        page.page_voices.push((v.voice.clone(), v.scope, v.min));
        for c in &v.cues {
            if let Some(info) = ps.entry(c)
                && !info.voices.contains(&vi)
            {
                info.voices.push(vi);
            }
        }
    }
    page
}

/// What a page's one pass and its judgement produced.
#[derive(Debug, Default)]
struct PageFind {
    kept: Vec<Found>,
    dropped: Vec<Found>,
    activities: Vec<ActivityCount>,
}

/// An activity's count on a page and its first occurrence (normalized).
#[derive(Debug, Clone)]
struct ActivityCount {
    activity: Activity,
    /// Occurrences that do not overlap an earlier one (出借人 is one, not
    /// 出借 and 出借人).
    count: u32,
    start: usize,
    end: usize,
    /// End of the last occurrence counted.
    last_end: usize,
}

impl Scanner {
    /// Reads a page: the one pass, candidates from terms, patterns and
    /// rates, the activity profile and the page's voice, then the judgement
    /// of each candidate in its passage.
    fn find_page(&self, norm: &Normalized, visible: &str, explain: bool) -> PageFind {
        self.find_page_part(norm, visible, explain, None)
    }

    /// [`Scanner::find_page`] of one window of a large document
    /// (`part` set): the page-wide facts come from the first pass, only the
    /// candidates the window owns are returned, every occurrence of them
    /// (the caller keeps first occurrences and checks `needs_rule` across
    /// windows).
    fn find_page_part(
        &self,
        norm: &Normalized,
        visible: &str,
        explain: bool,
        part: Option<&window::Part<'_>>,
    ) -> PageFind {
        let fm = &self.fields[Field::Page.index()];
        let Some(terms) = &fm.terms else {
            return PageFind::default();
        };
        let text = norm.text.as_str();
        let pr = &self.page;
        let mut candidates: Vec<(usize, usize, usize)> = Vec::new();
        let mut keywords: Vec<(usize, usize, usize)> = Vec::new();
        let mut gains: Vec<(usize, usize)> = Vec::new();
        let mut parts = pattern::PartMatches::new(pr.part_count, pr.exclude_count);
        let mut activity: Vec<Option<ActivityCount>> = vec![None; Activity::ALL.len()];
        // (voice, pattern) of head/page voice cues, and whether in the head
        let mut voice_cues: Vec<(u32, usize, bool)> = Vec::new();
        let head_end = text
            .char_indices()
            .nth(HEAD_CHARS)
            .map_or(text.len(), |(i, _)| i);
        terms.for_each_match(text, |pi, start, end| {
            let info = &fm.patterns[pi];
            if !info.owners.is_empty() {
                candidates.push((pi, start, end));
            }
            // a word across a clause break or a separator is no word (成交】
            // 款项 holds no 交款); rule terms are checked later, with the
            // reason kept for --explain
            if norm.spans_break(start, end) {
                return;
            }
            if let Some(k) = info.yield_keyword {
                keywords.push((k, start, end));
            }
            if info.gain_word {
                gains.push((start, end));
            }
            for &p in &info.parts {
                parts.parts[p as usize].push((start, end));
            }
            for &x in &info.excludes {
                parts.excludes[x as usize].push((start, end));
            }
            if let Some(a) = info.activity {
                let slot = &mut activity[a.index()];
                match slot {
                    Some(c) => {
                        if start >= c.last_end {
                            c.count += 1;
                        }
                        c.last_end = c.last_end.max(end);
                    }
                    None => {
                        *slot = Some(ActivityCount {
                            activity: a,
                            count: 1,
                            start,
                            end,
                            last_end: end,
                        })
                    }
                }
            }
            for &v in &info.voices {
                voice_cues.push((v, pi, start < head_end));
            }
        });
        let page_voice = match part {
            Some(p) => p.facts.voice.clone(),
            None => self.page_voice(&voice_cues),
        };
        let activities: Vec<ActivityCount> = if page_voice.is_some() {
            // a page that reports or warns is about these businesses, not in them
            Vec::new()
        } else {
            activity.into_iter().flatten().collect()
        };
        let kinds: Vec<Activity> = match part {
            Some(p) => p.facts.activities.clone(),
            None => activities.iter().map(|c| c.activity).collect(),
        };
        let has_activity =
            |needs: &[Activity]| needs.is_empty() || needs.iter().any(|a| kinds.contains(a));
        // candidates, each with its decision so far (None: to be judged)
        let mut found: Vec<Found> = Vec::with_capacity(candidates.len());
        let mut rates: Vec<usize> = Vec::new(); // indices of rate candidates
        for &(pi, start, end) in &candidates {
            let info = &fm.patterns[pi];
            if norm.spans_break(start, end)
                || (info.ascii_edges && !context::on_ascii_boundaries(norm, start, end))
            {
                continue;
            }
            for &(rule, term) in &info.owners {
                let mut f = Found::new(rule, term, start, end, kept_term());
                if info.word_boundary && !context::on_word_boundaries(norm, start, end) {
                    f.reason = Reason::new(ReasonCode::WordBoundary, "");
                }
                found.push(f);
            }
        }
        for p in &pr.patterns {
            for m in pattern::matches(p, &parts, norm) {
                let mut f = Found::new(p.rule, 0, m.start, m.end, kept_term());
                if let Some(q) = m.number {
                    match q.kind {
                        NumberKind::Rate => f.annual_rate = Some(q.value),
                        NumberKind::Multiple => f.multiple = Some(q.value),
                        _ => {}
                    }
                    if matches!(q.kind, NumberKind::Rate | NumberKind::Percent) {
                        rates.push(found.len());
                    }
                }
                f.pieces = m.pieces;
                found.push(f);
            }
        }
        if let Some(y) = &self.yields {
            // on a lending platform the borrower's rate is the lender's return
            let lending = kinds.contains(&Activity::Lending);
            for r in stated_rates(y, norm, visible, &keywords, &gains, lending) {
                let rate = r.annual_percent;
                let mut f = Found::new(y.rule, r.keyword, r.start, r.end, kept_term());
                f.own_activity = r.invested;
                if let Some([a, b]) = r.pieces {
                    f.pieces.push(a);
                    if b != a {
                        f.pieces.push(b);
                    }
                }
                f.annual_rate = Some(rate);
                if rate <= y.threshold {
                    f.reason = Reason::new(
                        ReasonCode::BelowThreshold,
                        format!("{rate:.1}% a year, threshold {}%", y.threshold),
                    );
                } else {
                    rates.push(found.len());
                }
                found.push(f);
            }
        }
        if found.is_empty() {
            return PageFind {
                activities,
                ..Default::default()
            };
        }
        // context: cues, allow-list spans and passage voices, searched once
        // in the paragraphs that hold a candidate
        let paragraphs = found
            .iter()
            .map(|f| passage::paragraph(norm, f.start, f.end));
        let Context {
            cues: cue_hits,
            allow,
            voices: voice_hits,
            mut scope_ends,
            mut subjects,
        } = fm.context_around(norm, paragraphs, Some(()));
        scope_ends.sort_unstable();
        subjects.sort_unstable();
        let cue_index = passage::CueIndex::new(&cue_hits);
        let judge = Judge {
            norm,
            visible,
            groups: &self.cue_groups,
            cues: &cue_hits,
            cue_index: &cue_index,
            voices: &pr.passage_voices,
            voice_hits: &voice_hits,
            scope_ends: &scope_ends,
            subjects: &subjects,
        };
        let allow = context::SpanIndex::new(allow.into_iter());
        for (i, f) in found.iter_mut().enumerate() {
            if !f.reason.kept() {
                continue;
            }
            // an allow-list span over the whole candidate, or over any piece
            // of a pattern (保费 | 零风险保险费 is no 保费 + 零风险)
            if allow.first_covering(f.start, f.end, |_, _| true).is_some()
                || f.pieces.iter().any(|&(s, e)| {
                    // a span longer than the piece: a phrase the piece is a
                    // part of (零风险 in 零风险保险费), not a name the
                    // pattern uses (央行 in 首批接入央行征信)
                    allow.first_covering(s, e, |a, b| b - a > e - s).is_some()
                })
            {
                f.reason = Reason::new(ReasonCode::Allowed, "");
            } else if let Some(v) = &page_voice {
                f.reason = Reason::new(ReasonCode::PageVoice, v.clone());
            } else if let Some(r) =
                // `rates` holds indices in ascending order
                judge.mention(
                    f.start,
                    f.end,
                    &f.pieces,
                    rates.binary_search(&i).is_ok(),
                )
            {
                f.reason = r;
            } else if !f.own_activity && !has_activity(&self.rules[f.rule].needs_activities) {
                let needs: Vec<&str> = self.rules[f.rule]
                    .needs_activities
                    .iter()
                    .map(|a| a.as_str())
                    .collect();
                f.reason = Reason::new(
                    ReasonCode::MissingContext,
                    format!("no {} activity on the page", needs.join("/")),
                );
            } else {
                f.reason = self.kept_reason(f, norm);
            }
        }
        // A phrase dropped as a whole drops the terms inside it: in
        // 保本保息是骗局 the cue reaches 保本保息, not the 保本 within it.
        let dropped_spans: Vec<(usize, usize, Reason)> = found
            .iter()
            .filter(|f| {
                !f.reason.kept()
                    && !matches!(
                        f.reason.code,
                        ReasonCode::WordBoundary
                            | ReasonCode::BelowThreshold
                            | ReasonCode::MissingContext
                    )
            })
            .map(|f| (f.start, f.end, f.reason.clone()))
            .collect();
        let dropped_index = context::SpanIndex::new(dropped_spans.iter().map(|&(s, e, _)| (s, e)));
        for f in found.iter_mut().filter(|f| f.reason.kept()) {
            let (fs, fe) = (f.start, f.end);
            if let Some(k) = dropped_index.first_covering(fs, fe, |s, e| (s, e) != (fs, fe)) {
                f.reason = Reason::new(ReasonCode::Inside, dropped_spans[k].2.to_string());
            }
        }
        if let Some(p) = part {
            // owned by this window; first occurrences and `needs_rule` are
            // page-wide, decided by the caller
            let (kept, mut dropped) = split_kept(found, explain);
            let owned = |f: &Found| (p.owns)(norm, f.start, f.end);
            let mut kept = merge_overlapping(kept);
            kept.retain(owned);
            dropped.retain(owned);
            return PageFind {
                kept,
                dropped,
                activities,
            };
        }
        // rules that need another rule's hit on the page
        let kept_rules: Vec<usize> = found
            .iter()
            .filter(|f| f.reason.kept() && self.rules[f.rule].needs_rules.is_empty())
            .map(|f| f.rule)
            .collect();
        for f in found.iter_mut().filter(|f| f.reason.kept()) {
            let needs = &self.rules[f.rule].needs_rules;
            if !needs.is_empty() && !needs.iter().any(|r| kept_rules.contains(r)) {
                let ids: Vec<&str> = needs.iter().map(|&r| self.rules[r].id.0.as_str()).collect();
                f.reason = Reason::new(
                    ReasonCode::MissingContext,
                    format!("no hit of {} on the page", ids.join(" or ")),
                );
            }
        }
        let (kept, dropped) = split_kept(found, explain);
        PageFind {
            kept: first_occurrences(&self.rules, norm, merge_overlapping(kept)),
            dropped,
            activities,
        }
    }

    /// The first pass over one window of a large document: its activity
    /// words and its head- and page-scope voice cues, those the window owns
    /// (`owns`), with `in_head` for the window that starts the page.
    fn page_facts_part(
        &self,
        norm: &Normalized,
        starts_page: bool,
        owns: &dyn Fn(&Normalized, usize, usize) -> bool,
    ) -> (Vec<ActivityCount>, Vec<(u32, usize, bool)>) {
        let fm = &self.fields[Field::Page.index()];
        let Some(terms) = &fm.terms else {
            return Default::default();
        };
        let text = norm.text.as_str();
        let head_end = if starts_page {
            text.char_indices()
                .nth(HEAD_CHARS)
                .map_or(text.len(), |(i, _)| i)
        } else {
            0
        };
        let mut activity: Vec<Option<ActivityCount>> = vec![None; Activity::ALL.len()];
        let mut voice_cues = Vec::new();
        terms.for_each_match(text, |pi, start, end| {
            let info = &fm.patterns[pi];
            if (info.activity.is_none() && info.voices.is_empty())
                || norm.spans_break(start, end)
                || !owns(norm, start, end)
            {
                return;
            }
            if let Some(a) = info.activity {
                let slot = &mut activity[a.index()];
                match slot {
                    Some(c) => {
                        if start >= c.last_end {
                            c.count += 1;
                        }
                        c.last_end = c.last_end.max(end);
                    }
                    None => {
                        *slot = Some(ActivityCount {
                            activity: a,
                            count: 1,
                            start,
                            end,
                            last_end: end,
                        })
                    }
                }
            }
            for &v in &info.voices {
                voice_cues.push((v, pi, start < head_end));
            }
        });
        (activity.into_iter().flatten().collect(), voice_cues)
    }

    /// The page's voice, if it reports or warns: the first head- or
    /// page-scope voice with enough distinct cues (those of `head` scope
    /// counted only in the page's head).
    fn page_voice(&self, cues: &[(u32, usize, bool)]) -> Option<String> {
        let pr = &self.page;
        for (vi, (name, scope, min)) in pr.page_voices.iter().enumerate() {
            let mut seen: Vec<usize> = cues
                .iter()
                .filter(|&&(v, _, in_head)| {
                    v as usize == vi && (in_head || *scope == VoiceScope::Page)
                })
                .map(|&(_, p, _)| p)
                .collect();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() >= *min {
                let fm = &self.fields[Field::Page.index()];
                let words: Vec<&str> = seen.iter().take(3).map(|&p| fm.texts[p].as_str()).collect();
                return Some(format!("{name} (“{}”)", words.join("”, “")));
            }
        }
        None
    }

    /// The reason a kept candidate was kept: what matched, and that nothing
    /// in its passage made it a mention.
    fn kept_reason(&self, f: &Found, norm: &Normalized) -> Reason {
        let meta = &self.rules[f.rule];
        let detail = match meta.kind {
            RuleKind::Term => format!("term “{}”", meta.terms.get(f.term).map_or("", |t| t)),
            RuleKind::Pattern => {
                let pieces: Vec<&str> = f.pieces.iter().map(|&(s, e)| &norm.text[s..e]).collect();
                format!("parts “{}” together", pieces.join("”+“"))
            }
            RuleKind::Yield => format!(
                "{:.1}% a year, above the {}% threshold",
                f.annual_rate.unwrap_or(0.0),
                self.yield_threshold().unwrap_or(0.0)
            ),
        };
        Reason::new(ReasonCode::Promotion, detail)
    }
}

/// What the context automaton found around the candidates.
#[derive(Debug, Default)]
struct Context {
    cues: Vec<CueHit>,
    allow: Vec<(usize, usize)>,
    voices: Vec<VoiceHit>,
    /// Starts of words that end a sentence-reaching scope.
    scope_ends: Vec<usize>,
    /// Starts of those that name the page's own subject.
    subjects: Vec<usize>,
}

impl FieldMatcher {
    /// Cues, allow-list spans and (for pages) passage-voice cues within
    /// reach of `spans`: for a registry field, the gap-limited reach
    /// around each match; for a page (`paragraphs` set), the spans are
    /// whole paragraphs and are searched as they are. The stretches are
    /// merged and searched once.
    fn context_around(
        &self,
        norm: &Normalized,
        spans: impl Iterator<Item = (usize, usize)>,
        paragraphs: Option<()>,
    ) -> Context {
        let text = norm.text.as_str();
        let mut cx = Context::default();
        let Some(ac) = &self.context else {
            return cx;
        };
        let mut windows: Vec<(usize, usize)> = spans
            .map(|(s, e)| match paragraphs {
                Some(()) => (s, e),
                None => (
                    floor_char_boundary(text, s.saturating_sub(self.reach_before)),
                    ceil_char_boundary(text, (e + self.reach_after).min(text.len())),
                ),
            })
            .collect();
        windows.sort_unstable();
        let mut merged: Vec<(usize, usize)> = Vec::with_capacity(windows.len());
        for w in windows {
            match merged.last_mut() {
                Some(last) if w.0 <= last.1 => last.1 = last.1.max(w.1),
                _ => merged.push(w),
            }
        }
        for (ws, we) in merged {
            ac.for_each_match(&text[ws..we], |pi, start, end| {
                let (start, end) = (ws + start, ws + end);
                let info = &self.context_infos[pi];
                // a word across a comma is no word (企业的，风险可控 holds
                // no 的风险)
                if norm.clause_inside(start, end) {
                    return;
                }
                for &group in &info.cues {
                    cx.cues.push(CueHit { start, end, group });
                }
                if info.allow {
                    cx.allow.push((start, end));
                }
                for &(group, cue) in &info.voices {
                    cx.voices.push(VoiceHit { start, cue, group });
                }
                if info.scope_end {
                    cx.scope_ends.push(start);
                }
                if info.subject {
                    cx.subjects.push(start);
                }
            });
        }
        cx
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_char_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// A rate stated on a page.
struct StatedRate {
    /// The yield keyword, or `usize::MAX` for money earned on a principal.
    keyword: usize,
    start: usize,
    end: usize,
    annual_percent: f64,
    /// The keyword and the number, or the gain word that names a rate read
    /// without a keyword.
    pieces: Option<[(usize, usize); 2]>,
    /// The rate states an investment by itself (投五万，每月到手九百).
    invested: bool,
}

/// The rates stated on a page: after (or
/// just before) a yield keyword, money earned on a principal around a gain
/// word, and rates under a yield column's header. One per stated rate: the
/// earliest keyword before it wins. A keyword right after a cost prefix
/// (借款 in 借款年化利率) states a borrower's cost and is not read, unless the
/// page is a lending platform's (`lending`), where what the borrower pays
/// is what the lender is promised. Rates at
/// or below the threshold are returned too (the caller records them as
/// dropped).
fn stated_rates(
    y: &YieldRule,
    norm: &Normalized,
    visible: &str,
    keywords: &[(usize, usize, usize)],
    gains: &[(usize, usize)],
    lending: bool,
) -> Vec<StatedRate> {
    let text = norm.text.as_str();
    let mut rates: Vec<StatedRate> = Vec::new();
    // the spans of `rates`, to ask whether a figure was read already
    let mut read = ReadSpans::default();
    let mut tables_read: std::collections::HashSet<usize> = Default::default();
    // keywords that state a cost (a prefix across a break is another
    // clause's: 借款，年化24.5%), and the keywords inside them (利率 in
    // 借款年化利率) with them
    let cost: Vec<(usize, usize)> = if lending {
        Vec::new()
    } else {
        keywords
            .iter()
            .filter(|&&(_, ks, _)| {
                y.cost_prefixes
                    .iter()
                    .any(|p| text[..ks].ends_with(p.as_str()))
                    && norm.breaks.binary_search(&(ks as u32)).is_err()
            })
            .map(|&(_, ks, ke)| (ks, ke))
            .collect()
    };
    let cost = context::SpanIndex::new(cost.into_iter());
    for &(k, ks, ke) in keywords {
        if cost.first_covering(ks, ke, |_, _| true).is_some() {
            continue;
        }
        let mut period = Period::of_keyword(&y.keyword_terms[k]);
        // 月收益率2%, 日赚千分之三: a period character right before the
        // keyword (but not the 月 of 6个月收益率, a cumulative figure)
        let mut back = text[..ks].chars().rev();
        if let (Some(c), prev) = (back.next(), back.next())
            && let Some(p) = Period::of_char(c)
            && !prev.is_some_and(|p| p.is_ascii_digit() || p == '个' || numbers::starts_number(p))
        {
            period = p;
        }
        // a rate is read within its clause: 月息3分，一万块 is 3分, not 3分1
        let clause_end = {
            let i = norm.clauses.partition_point(|&b| (b as usize) <= ke);
            norm.clauses.get(i).map_or(text.len(), |&b| b as usize)
        };
        // (start, end, rate, the keyword and the number as pieces: a cue
        // between them reaches the rate, 年化收益范围均保持在8%-15%)
        let idiom = yields::idiom_before(text, ks, &y.keyword_terms[k]);
        let stated = match idiom {
            Some((s, r)) => Some((s, ke, r, None)),
            None => yields::read_rate(&text[..clause_end], ke, period, &y.boost_words)
                .map(|r| (ks, r.end, r.annual_percent, Some((r.number, r.end)))),
        };
        let stated = match stated {
            Some(r) => Some(r),
            // a figure before its caption, unless an earlier keyword read
            // it already (年化4.5%（日利率按365天折算）: 日利率 explains the 4.5 %)
            None => yields::read_rate_before(text, ks, period)
                .filter(|&(s, _)| !read.covers(s))
                .map(|(s, r)| (s, ke, r, None)),
        };
        if let Some((start, end, rate, number)) = stated
            && !norm.clause_inside(start, end)
        {
            read.insert(start, end);
            rates.push(StatedRate {
                keyword: k,
                start,
                end,
                annual_percent: rate,
                pieces: number.map(|n| [(ks, ke), n]),
                invested: false,
            });
            continue;
        }
        // a header of a table: the rates below it
        let (ps, _) = passage::paragraph(norm, ks, ke);
        if tables_read.insert(ps) {
            for t in yields::table_rates(norm, visible, (ks, ke), period) {
                read.insert(t.start, t.end);
                rates.push(StatedRate {
                    keyword: k,
                    start: t.start,
                    end: t.end,
                    annual_percent: t.annual_percent,
                    pieces: None,
                    invested: false,
                });
            }
        }
    }
    for &(gs, ge) in gains {
        let (ss, se) = passage::sentence(norm, gs, ge);
        if let Some(p) = yields::principal_rate(text, &norm.clauses, ss, se, (gs, ge)) {
            rates.push(StatedRate {
                keyword: usize::MAX,
                start: p.start,
                end: p.end,
                annual_percent: p.annual_percent,
                pieces: Some([(gs, ge), (gs, ge)]),
                invested: p.invested,
            });
        }
    }
    // per stated rate, the earliest and then the longest keyword names it
    rates.sort_by_key(|r| {
        let len = y.keyword_terms.get(r.keyword).map_or(0, String::len);
        (r.end, r.start, std::cmp::Reverse(len))
    });
    rates.dedup_by_key(|r| r.end);
    rates
}

/// The spans of the rates read so far on a page, sorted: whether a figure
/// lies in one is asked for each keyword, and a look through every rate
/// read was quadratic on a window thick with them.
#[derive(Default)]
struct ReadSpans {
    spans: Vec<(usize, usize)>,
    longest: usize,
}

impl ReadSpans {
    fn insert(&mut self, start: usize, end: usize) {
        // rates come mostly in text order: an insertion at the end
        let i = self.spans.partition_point(|&r| r <= (start, end));
        self.spans.insert(i, (start, end));
        self.longest = self.longest.max(end.saturating_sub(start));
    }

    /// Whether `at` lies in a span read.
    fn covers(&self, at: usize) -> bool {
        let from = at.saturating_sub(self.longest);
        let i = self.spans.partition_point(|&(s, _)| s < from);
        self.spans[i..]
            .iter()
            .take_while(|&&(s, _)| s <= at)
            .any(|&(_, e)| at < e)
    }
}

/// The kept candidates, and (with `explain`) the dropped ones, in the order
/// found; without `explain` the dropped are let go in place.
fn split_kept(mut found: Vec<Found>, explain: bool) -> (Vec<Found>, Vec<Found>) {
    if explain {
        found.into_iter().partition(|f| f.reason.kept())
    } else {
        found.retain(|f| f.reason.kept());
        (found, Vec::new())
    }
}

/// Merges overlapping matches of the same rule into one hit: `本息保障` inside
/// `100%本息保障` is one finding, and so is `承诺保本` + `保本保息` in
/// 承诺保本保息 (the hit keeps the term that starts first, longest first).
/// Then orders hits by position.
fn merge_overlapping(mut found: Vec<Found>) -> Vec<Found> {
    found.sort_by(|a, b| {
        (a.rule, a.start, std::cmp::Reverse(a.end)).cmp(&(
            b.rule,
            b.start,
            std::cmp::Reverse(b.end),
        ))
    });
    // in place: a window of a large document holds hundreds of thousands
    // of candidates
    found.dedup_by(|f, k| {
        if k.rule != f.rule || f.start >= k.end {
            return false;
        }
        k.end = k.end.max(f.end);
        if f.term != k.term && !k.absorbed.contains(&f.term) {
            k.absorbed.push(f.term);
        }
        k.pieces.append(&mut f.pieces);
        k.pieces.sort_unstable();
        k.pieces.dedup();
        true
    });
    found.sort_by_key(|f| (f.start, f.end, f.rule));
    found
}

/// Keeps the first occurrence of each rule term in a document and counts
/// the rest in `repeats`. A platform repeats its slogans on every page and
/// in every list item (加息券 ×20 on one help page): one piece of evidence
/// per claim and page, with how often it recurs, is what a reviewer and a
/// takedown list need. A pattern's hits are told apart by their text (two
/// different sentences are two pieces of evidence); each stated yield stays
/// a hit of its own (the rates differ). A term merged into an earlier hit
/// (保本保息 inside 承诺保本保息) counts as seen there. Expects hits in
/// position order.
fn first_occurrences(rules: &[RuleMeta], norm: &Normalized, found: Vec<Found>) -> Vec<Found> {
    let mut first: HashMap<(usize, usize), usize> = Default::default();
    let mut first_text: HashMap<(usize, &str), usize> = Default::default();
    let mut kept: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        match rules[f.rule].kind {
            RuleKind::Yield => kept.push(f),
            RuleKind::Pattern => {
                let key = (f.rule, &norm.text[f.start..f.end]);
                match first_text.get(&key) {
                    Some(&i) => kept[i].repeats += 1,
                    None => {
                        first_text.insert(key, kept.len());
                        kept.push(f);
                    }
                }
            }
            RuleKind::Term => match first.get(&(f.rule, f.term)) {
                Some(&i) => kept[i].repeats += 1,
                None => {
                    let i = kept.len();
                    for &t in std::iter::once(&f.term).chain(&f.absorbed) {
                        first.entry((f.rule, t)).or_insert(i);
                    }
                    kept.push(f);
                }
            },
        }
    }
    kept
}

/// Visible-text span of a normalized span.
fn text_span(norm: &Normalized, start: usize, end: usize) -> TextSpan {
    let r = norm.map.map_range(start..end);
    TextSpan {
        start: r.start,
        end: r.end,
    }
}

/// Up to [`SNIPPET_CHARS`] characters of visible text each side of `span`,
/// line breaks shown as spaces; returns the snippet and the match's range in it.
fn snippet(visible: &str, span: TextSpan) -> (String, (usize, usize)) {
    let before_start = visible[..span.start]
        .char_indices()
        .rev()
        .nth(SNIPPET_CHARS - 1)
        .map_or(0, |(i, _)| i);
    let after_end = visible[span.end..]
        .char_indices()
        .nth(SNIPPET_CHARS)
        .map_or(visible.len(), |(i, _)| span.end + i);
    let clean = |s: &str| s.replace(['\n', '\r', '\t'], " ");
    let before = clean(&visible[before_start..span.start]);
    let matched = clean(&visible[span.range()]);
    let after = clean(&visible[span.end..after_end]);
    let m = (before.len(), before.len() + matched.len());
    (before + &matched + &after, m)
}

/// A scanned document: its text, its hits and its activity profile.
#[derive(Debug, Clone)]
pub struct ScannedDoc {
    pub doc: TextDoc,
    pub hits: Vec<Hit>,
    /// The candidates that were dropped, with their reasons: filled only by
    /// [`Scanner::explain_document`].
    pub dropped: Vec<Hit>,
    pub activities: ActivityProfile,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static SCANNER: LazyLock<Scanner> =
        LazyLock::new(|| Scanner::bundled().expect("bundled rules"));

    fn page(text: &str) -> Vec<Hit> {
        SCANNER
            .scan_document(text.as_bytes(), DocKind::Sniff, None)
            .hits
    }

    fn terms(hits: &[Hit]) -> Vec<String> {
        hits.iter().map(|h| h.term.clone()).collect()
    }

    #[test]
    fn evasions_are_seen_through() {
        for (text, written) in [
            ("本平台保 本 保 息", "保 本 保 息"),
            ("承诺保*本*保*息", "保*本*保*息"),
            ("承诺１００％本息保障", "１００％本息保障"),
            ("資\u{200B}金池", "資\u{200B}金池"),
        ] {
            let hits = page(text);
            assert!(
                hits.iter().any(|h| h.matched.contains(written)),
                "{text}: {:?}",
                terms(&hits)
            );
        }
    }

    #[test]
    fn negation_and_prohibition_suppress() {
        for text in [
            "本产品不保本。",
            "本平台不承诺收益",
            "监管严禁承诺保本保息",
            "平台不得设立资金池",
        ] {
            let hits = page(text);
            assert!(
                !hits.iter().any(|h| h.category == Category::GuaranteedReturn
                    || h.category == Category::FundPool),
                "{text}: {:?}",
                terms(&hits)
            );
        }
    }

    #[test]
    fn name_words_need_word_boundaries() {
        for name in [
            "西安企业管理财务咨询有限公司",
            "安康代理财税服务部",
            "物理财产保护中心",
        ] {
            let hits = SCANNER.scan_field(Field::Name, name);
            assert!(
                !hits.iter().any(|h| h.term == "理财"),
                "{name}: {:?}",
                terms(&hits)
            );
        }
        let hits = SCANNER.scan_field(Field::Name, "安康市鑫源投资理财有限公司");
        assert!(hits.iter().any(|h| h.term == "理财"));
    }

    #[test]
    fn the_rules_tell_whether_a_scanner_will_check_word_boundaries() {
        let rule = |fields: &str, boundary: &str, terms: &str| {
            format!(
                "[[rule]]\nid = \"t.{}\"\ncategory = \"restricted-name\"\nfields = [{fields}]\n\
                 severity = \"high\"\nbasis = \"§五（一）\"\nboundary = \"{boundary}\"\nterms = [{terms}]\n",
                boundary
            )
        };
        let cases = [
            (rule("\"name\"", "auto", "\"理财\""), true),
            (rule("\"name\"", "auto", "\"投资管理\", \"p2p\""), false),
            (rule("\"name\"", "none", "\"理财\""), false),
            (rule("\"name\"", "word", "\"投资管理\""), true),
            // a field the scanner is not built for
            (rule("\"page\"", "auto", "\"理财\""), false),
        ];
        let fields = [Field::Name, Field::Scope];
        for (text, want) in cases {
            let set = RuleSet::from_sources([("t.toml".to_owned(), text.clone())]).expect("rules");
            assert_eq!(checks_word_boundaries(&set, &fields), want, "{text}");
            assert_eq!(
                Scanner::for_fields(&set, &fields).checks_word_boundaries(),
                want,
                "{text}"
            );
        }
        let bundled = RuleSet::bundled().expect("rules");
        for fields in [&[Field::Name, Field::Scope][..], &[Field::Page]] {
            assert_eq!(
                checks_word_boundaries(&bundled, fields),
                Scanner::for_fields(&bundled, fields).checks_word_boundaries()
            );
        }
    }

    #[test]
    fn allow_list_spans_suppress_only_what_they_cover() {
        let covered = SCANNER.scan_field(Field::Name, "西安市某某慈善基金会");
        assert!(
            !covered.iter().any(|h| h.term == "基金"),
            "{:?}",
            terms(&covered)
        );
        let text = "本公司是中国证券投资基金业协会会员，从事基金管理";
        let hits = SCANNER.scan_field(Field::Scope, text);
        let fund: Vec<_> = hits
            .iter()
            .filter(|h| h.category == Category::RestrictedName)
            .collect();
        assert!(!fund.is_empty(), "{:?}", terms(&hits));
        let member_end = text.find("会员").unwrap();
        assert!(
            fund.iter().all(|h| h.raw.start > member_end),
            "{:?}",
            terms(&hits)
        );
    }

    #[test]
    fn field_hits_point_into_the_field_text() {
        let name = "陕西理財咨询有限公司";
        let hits = SCANNER.scan_field(Field::Name, name);
        let h = hits.iter().find(|h| h.term == "理财").expect("理财 found");
        assert_eq!(&name[h.raw.range()], "理財");
        assert!(h.normalizations.traditional);
    }

    #[test]
    fn yield_detector_flags_above_threshold_only() {
        let hits = page("年化收益率高达18%");
        let y: Vec<_> = hits.iter().filter(|h| h.annual_rate.is_some()).collect();
        assert_eq!(y.len(), 1, "{:?}", terms(&hits));
        assert_eq!(y[0].annual_rate, Some(18.0));
        assert_eq!(y[0].matched, "年化收益率高达18%");
        assert!(
            page("预期年化收益率4.5%")
                .iter()
                .all(|h| h.annual_rate.is_none())
        );
        assert!(page("月息2分").iter().any(|h| h.annual_rate == Some(24.0)));
        assert!(
            page("日息0.1%")
                .iter()
                .any(|h| h.annual_rate.is_some_and(|r| r > 36.0))
        );
        assert!(page("年化 10%").iter().all(|h| h.annual_rate.is_none()));
    }

    #[test]
    fn a_rate_is_read_once_and_not_across_dropped_marks() {
        // 日利率 after the rate explains how it accrues; it is no daily rate
        for text in [
            "理财计划年化6.5%（日利率按360天计算）",
            "理财计划年化收益6.5%(日利率=年化÷365)",
            // a date's closing bracket does not join 29 and 3.87 into 293.87
            "理财计划（2018-06-29）：3.87%收益",
            "理财 期限　　12　　8.5%收益",
        ] {
            let hits = page(text);
            assert!(
                hits.iter().all(|h| h.annual_rate.is_none()),
                "{text}: {:?}",
                hits.iter()
                    .map(|h| (&h.matched, h.annual_rate))
                    .collect::<Vec<_>>()
            );
        }
        // the caption after a figure still names it
        assert!(
            page("理财 15.00%年化收益")
                .iter()
                .any(|h| h.annual_rate == Some(15.0))
        );
    }

    #[test]
    fn yield_threshold_is_configurable() {
        let mut s = SCANNER.clone();
        s.set_yield_threshold(20.0);
        let hits = s
            .scan_document("年化收益率高达18%".as_bytes(), DocKind::Text, None)
            .hits;
        assert!(hits.iter().all(|h| h.annual_rate.is_none()));
        s.set_yield_threshold(5.0);
        let hits = s
            .scan_document("年化8%".as_bytes(), DocKind::Text, None)
            .hits;
        assert!(hits.iter().any(|h| h.annual_rate == Some(8.0)));
    }

    #[test]
    fn html_hits_point_into_raw_bytes_through_markup() {
        let raw = "<p>平台保<b>本</b>保息</p>";
        let hits = page(raw);
        let h = hits
            .iter()
            .find(|h| h.category == Category::GuaranteedReturn)
            .expect("found across tags");
        assert_eq!(&raw[h.raw.range()], h.matched);
        assert_eq!(h.matched, "保<b>本</b>保息");
    }

    #[test]
    fn overlapping_matches_of_one_rule_are_one_hit() {
        let hits = page("平台承诺保本保息");
        let g: Vec<_> = hits
            .iter()
            .filter(|h| h.category == Category::GuaranteedReturn)
            .collect();
        assert_eq!(g.len(), 1, "{:?}", terms(&hits));
        assert!(g[0].matched.contains("保本保息"));
    }

    #[test]
    fn repeated_terms_are_one_hit_with_a_count() {
        let text = "本息保障。本息保障。本息保障。年化18%，年化20%";
        let hits = page(text);
        let g: Vec<_> = hits.iter().filter(|h| h.term == "本息保障").collect();
        assert_eq!(g.len(), 1, "{:?}", terms(&hits));
        assert_eq!((g[0].raw.start, g[0].repeats), (0, 2));
        assert_eq!(hits.iter().filter(|h| h.annual_rate.is_some()).count(), 2);
    }

    #[test]
    fn repeats_count_terms_merged_into_an_earlier_hit() {
        let hits = page("承诺保本保息。保本保息。保本保息");
        let g: Vec<_> = hits
            .iter()
            .filter(|h| h.category == Category::GuaranteedReturn)
            .collect();
        assert_eq!(g.len(), 1, "{:?}", terms(&hits));
        assert_eq!(g[0].repeats, 2);
    }

    #[test]
    fn enumerated_scope_items_do_not_join_into_a_restricted_word() {
        for scope in [
            "实业投资、管理咨询",
            "固定资产、管理软件销售",
            "项目投资/管理咨询",
        ] {
            let hits = SCANNER.scan_field(Field::Scope, scope);
            assert!(
                !hits.iter().any(|h| h.category == Category::RestrictedName),
                "{scope}: {:?}",
                terms(&hits)
            );
        }
    }

    #[test]
    fn terms_inside_a_negated_phrase_are_excused_with_it() {
        let hits = page("保本保息是骗局");
        assert!(hits.is_empty(), "{:?}", terms(&hits));
        let hits = page("投资人不承担任何风险 本息保障");
        assert!(
            hits.iter().any(|h| h.term == "本息保障"),
            "{:?}",
            terms(&hits)
        );
    }

    /// Pseudo-random (start, length) pairs, overlapping and in no order.
    fn spans(n: usize) -> Vec<(usize, usize)> {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let r = (x >> 33) as usize;
                (r % 40, r / 40 % 10)
            })
            .collect()
    }

    #[test]
    fn read_spans_cover_what_a_search_of_all_of_them_covers() {
        let mut read = ReadSpans::default();
        let mut all = Vec::new();
        for (start, len) in spans(300) {
            read.insert(start, start + len);
            all.push((start, start + len));
            for at in 0..60 {
                let want = all.iter().any(|&(s, e)| s <= at && at < e);
                assert_eq!(read.covers(at), want, "{at} in {all:?}");
            }
        }
    }

    #[test]
    fn snippet_shows_context() {
        let (s, m) = snippet("前文承诺保本保息后文", TextSpan { start: 12, end: 24 });
        assert_eq!(&s[m.0..m.1], "保本保息");
        assert_eq!(s, "前文承诺保本保息后文");
    }
}
