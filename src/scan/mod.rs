//! The scanner: rules compiled into one Aho-Corasick automaton per field kind,
//! run over normalized text, then context rules and the yield detector.
//!
//! Owns matching and the [`Hit`] type. Reads documents through `text` only;
//! stores nothing (`store` keeps hits, `crawl` and `registry` feed documents).
//!
//! Hits point into the raw bytes, not the decoded text, because the raw bytes
//! are the evidence: `raw[hit.raw.start..hit.raw.end]` is what the platform
//! published, and decodes to `hit.matched`.

pub mod context;
pub mod yields;

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::Serialize;

use crate::rules::{Boundary, Category, Field, RuleId, RuleSet, Severity};
use crate::text::{
    DocKind, Normalizations, Normalized, RawSpan, TextDoc, TextSpan, normalize, normalize_into,
    normalize_term,
};
use context::Cue;

/// Characters of context on each side of a match in a snippet.
const SNIPPET_CHARS: usize = 30;

/// One finding: a rule matched in a document or field, with its evidence.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub rule: RuleId,
    pub category: Category,
    pub severity: Severity,
    pub field: Field,
    /// The rule's term as listed in the rule file (canonical form).
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
    /// How many more times the same rule term occurs in this document after
    /// this, its first occurrence (see `first_occurrences`).
    #[serde(skip_serializing_if = "is_zero")]
    pub repeats: usize,
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
/// can play several roles at once (a term of two rules, a cue and a term).
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
}

/// What a pattern of the context automaton stands for.
#[derive(Debug, Clone, Default)]
struct ContextInfo {
    /// A negation cue: (max_gap, after).
    cue: Option<(usize, bool)>,
    /// An allow-list span.
    allow: bool,
}

/// One field kind's automata.
///
/// `terms` holds the rule terms and yield keywords and reads every byte of a
/// document: on Chinese text, where every character is three bytes and no
/// prefilter can skip ahead, it is the pipeline's most expensive stage, and
/// its speed falls with its size (the DFA's tables leave the cache). The
/// negation cues and allow-list spans are therefore a second automaton,
/// `context`, run only on the short windows around candidate matches.
#[derive(Debug, Clone, Default)]
struct FieldMatcher {
    terms: Option<Terms>,
    patterns: Vec<PatternInfo>,
    context: Option<Terms>,
    context_infos: Vec<ContextInfo>,
    /// How far (bytes) before a match a context pattern can start.
    reach_before: usize,
    /// How far (bytes) after a match a context pattern can end.
    reach_after: usize,
}

#[derive(Debug, Clone)]
struct RuleMeta {
    id: RuleId,
    category: Category,
    severity: Severity,
    basis: Arc<str>,
    terms: Vec<String>,
}

#[derive(Debug, Clone)]
struct YieldRule {
    keyword_terms: Vec<String>,
    threshold: f64,
    meta: RuleMeta,
}

/// Rules compiled for matching. Cheap to share across threads (`Arc` inside
/// the automata); build once per process.
#[derive(Debug, Clone)]
pub struct Scanner {
    rules: Vec<RuleMeta>,
    fields: [FieldMatcher; 3],
    yields: Option<YieldRule>,
}

/// A match that survived the context rules, in normalized offsets.
#[derive(Debug, Clone)]
struct Found {
    rule: usize,
    term: usize,
    start: usize,
    end: usize,
    annual_rate: Option<f64>,
    repeats: usize,
    /// Terms of the same rule merged into this hit (承诺保本 + 保本保息).
    absorbed: Vec<usize>,
}

/// A field's term automaton.
#[derive(Debug, Clone)]
enum Terms {
    /// The terms use at most 255 distinct characters (the `name` and
    /// `scope` fields of the bundled rules), or their matches are read as a
    /// set (context automata): each character of the text becomes one
    /// byte, its code, and the DFA takes one step per character instead of
    /// one per UTF-8 byte, over a smaller table. On the scopes of a
    /// registry scan the UTF-8 search ran at about 8 ns a byte, waiting on
    /// its 1.7 MB table's cache misses.
    Coded(Box<CodedTerms>),
    /// More distinct characters than codes, where the order of matches
    /// matters (the `page` field's terms): the DFA reads UTF-8.
    Utf8(AhoCorasick),
}

#[derive(Debug, Clone)]
struct CodedTerms {
    /// Code of each Basic Multilingual Plane character: 0 for a character
    /// no pattern uses.
    table: Box<[u8]>,
    /// The patterns' characters outside the table, sorted, with their codes.
    astral: Vec<(char, u8)>,
    dfa: aho_corasick::dfa::DFA,
    /// Each pattern's length in bytes.
    lens: Vec<usize>,
    /// With more than 255 distinct characters, those used by the fewest
    /// patterns share [`SHARED_CODE`]: a match is then checked against the
    /// pattern itself.
    shared: Option<Vec<String>>,
}

const SHARED_CODE: u8 = 255;

impl Terms {
    /// `any_order`: the caller reads the matches as a set (the context
    /// automaton), so patterns of more than 255 distinct characters may
    /// share codes, which changes the order of matches ending at one place.
    fn new(patterns: &[String], any_order: bool) -> Option<Terms> {
        if patterns.is_empty() {
            return None;
        }
        // characters by the number of patterns using them, most first
        let mut uses: HashMap<char, usize> = HashMap::new();
        for p in patterns {
            let mut cs: Vec<char> = p.chars().collect();
            cs.sort_unstable();
            cs.dedup();
            for c in cs {
                *uses.entry(c).or_default() += 1;
            }
        }
        let mut chars: Vec<(char, usize)> = uses.into_iter().collect();
        chars.sort_unstable_by_key(|&(c, n)| (std::cmp::Reverse(n), c));
        let shared = chars.len() > 255;
        if shared && !any_order {
            return build_ac(patterns).map(Terms::Utf8);
        }
        let code_of: HashMap<char, u8> = chars
            .iter()
            .enumerate()
            .map(|(i, &(c, _))| (c, if i >= 254 { SHARED_CODE } else { i as u8 + 1 }))
            .collect();
        let mut table = vec![0u8; 0x10000].into_boxed_slice();
        let mut astral = Vec::new();
        for (&c, &code) in &code_of {
            match table.get_mut(c as usize) {
                Some(slot) => *slot = code,
                None => astral.push((c, code)),
            }
        }
        astral.sort_unstable();
        let coded: Vec<Vec<u8>> = patterns
            .iter()
            .map(|p| p.chars().map(|c| code_of[&c]).collect())
            .collect();
        // without shared codes: the same patterns in the same order as a
        // UTF-8 automaton, so the same matches in the same order
        let dfa = aho_corasick::dfa::Builder::new()
            .match_kind(MatchKind::Standard)
            .start_kind(aho_corasick::StartKind::Unanchored)
            .prefilter(false)
            .build(&coded)
            .ok()?;
        Some(Terms::Coded(Box::new(CodedTerms {
            table,
            astral,
            dfa,
            lens: patterns.iter().map(String::len).collect(),
            shared: shared.then(|| patterns.to_vec()),
        })))
    }

    /// Hands `found` every occurrence of every pattern in `text`,
    /// overlapping ones included, as (pattern, start, end), by end.
    fn for_each_match(&self, text: &str, mut found: impl FnMut(usize, usize, usize)) {
        match self {
            Terms::Utf8(ac) => {
                for m in ac.find_overlapping_iter(text) {
                    found(m.pattern().as_usize(), m.start(), m.end());
                }
            }
            Terms::Coded(t) => {
                use aho_corasick::Anchored;
                use aho_corasick::automaton::Automaton;
                let dfa = &t.dfa;
                let Ok(mut sid) = dfa.start_state(Anchored::No) else {
                    return;
                };
                for (i, c) in text.char_indices() {
                    let code = match t.table.get(c as usize) {
                        Some(&code) => code,
                        None => t
                            .astral
                            .binary_search_by_key(&c, |&(a, _)| a)
                            .map_or(0, |k| t.astral[k].1),
                    };
                    sid = dfa.next_state(Anchored::No, sid, code);
                    if dfa.is_special(sid) && dfa.is_match(sid) {
                        let end = i + c.len_utf8();
                        for k in 0..dfa.match_len(sid) {
                            let p = dfa.match_pattern(sid, k).as_usize();
                            let start = end.wrapping_sub(t.lens[p]);
                            if let Some(patterns) = &t.shared
                                && text.as_bytes().get(start..end) != Some(patterns[p].as_bytes())
                            {
                                continue;
                            }
                            found(p, start, end);
                        }
                    }
                }
            }
        }
    }
}

/// Sentinel rule index for the yield detector.
const YIELD_RULE: usize = usize::MAX;

fn build_ac(patterns: &[String]) -> Option<AhoCorasick> {
    if patterns.is_empty() {
        return None;
    }
    // A full DFA: one table lookup per byte. It costs a few MB for the
    // ~1,000 patterns and is the fastest kind on CJK text.
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(patterns)
        .ok()
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
struct PatternSet {
    patterns: Vec<String>,
    infos: Vec<PatternInfo>,
    index: HashMap<String, usize>,
}

impl PatternSet {
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
                self.infos.push(PatternInfo::default());
                self.index.insert(n, self.infos.len() - 1);
                self.infos.len() - 1
            }
        })
    }

    fn entry(&mut self, raw: &str) -> Option<&mut PatternInfo> {
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
    /// automata alone take about 4.5 MB.
    pub fn for_fields(set: &RuleSet, fields: &[Field]) -> Self {
        let rules: Vec<RuleMeta> = set
            .rules
            .iter()
            .map(|r| RuleMeta {
                id: r.id.clone(),
                category: r.category,
                severity: r.severity,
                basis: Arc::from(r.basis.as_str()),
                terms: r.terms.clone(),
            })
            .collect();
        let fields = Field::ALL.map(|field| {
            if !fields.contains(&field) {
                return FieldMatcher::default();
            }
            let mut ps = PatternSet::default();
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
            if field == Field::Page
                && let Some(y) = &set.yields
            {
                for (ki, k) in y.keywords.iter().enumerate() {
                    if let Some(info) = ps.entry(k) {
                        info.yield_keyword = Some(ki);
                    }
                }
            }
            let mut cs = PatternSet::default();
            let mut contexts: Vec<ContextInfo> = Vec::new();
            let (mut reach_before, mut reach_after, mut longest) = (0usize, 0usize, 0usize);
            for g in &set.negations {
                for c in &g.cues {
                    if let Some(i) = cs.add(c) {
                        contexts.resize(cs.patterns.len(), ContextInfo::default());
                        contexts[i].cue = Some((g.max_gap, g.after));
                        longest = longest.max(cs.patterns[i].len());
                        // a character is at most 4 bytes
                        if g.after {
                            reach_after = reach_after.max(g.max_gap * 4);
                        } else {
                            reach_before = reach_before.max(g.max_gap * 4);
                        }
                    }
                }
            }
            for a in set.allows.iter().filter(|a| a.fields.contains(&field)) {
                for t in &a.terms {
                    if let Some(i) = cs.add(t) {
                        contexts.resize(cs.patterns.len(), ContextInfo::default());
                        contexts[i].allow = true;
                        longest = longest.max(cs.patterns[i].len());
                    }
                }
            }
            FieldMatcher {
                terms: Terms::new(&ps.patterns, false),
                patterns: ps.infos,
                context: Terms::new(&cs.patterns, true),
                context_infos: contexts,
                reach_before: reach_before + longest,
                reach_after: reach_after + longest,
            }
        });
        let yields = set.yields.as_ref().map(|y| YieldRule {
            keyword_terms: y.keywords.clone(),
            threshold: y.threshold_percent,
            meta: RuleMeta {
                id: y.rule_id.clone(),
                category: y.category,
                severity: y.severity,
                basis: Arc::from(y.basis.as_str()),
                terms: y.keywords.clone(),
            },
        });
        Scanner {
            rules,
            fields,
            yields,
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
        let doc = TextDoc::new(raw, kind, header_charset);
        let hits = self.scan_prepared(raw, &doc);
        ScannedDoc { doc, hits }
    }

    /// Scans an already decoded document.
    pub fn scan_prepared(&self, raw: &[u8], doc: &TextDoc) -> Vec<Hit> {
        let norm = normalize(&doc.visible);
        let found = self.find(Field::Page, &norm);
        found
            .into_iter()
            .map(|f| {
                let text = text_span(&norm, f.start, f.end);
                let raw_span = doc.raw_span(text);
                let matched = doc.written(raw, raw_span);
                self.make_hit(Field::Page, &f, &doc.visible, text, raw_span, matched)
                    .with_snippet(&doc.visible)
            })
            .collect()
    }

    /// Scans the text of one field (enterprise name, business scope, operator).
    /// Hit spans are byte offsets into `text`.
    pub fn scan_field(&self, field: Field, text: &str) -> Vec<Hit> {
        self.field_hits(field, text, true)
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
        self.find(field, norm)
            .into_iter()
            .map(|f| {
                let span = text_span(norm, f.start, f.end);
                let raw = RawSpan {
                    start: span.start,
                    end: span.end,
                };
                let matched = text[span.range()].to_owned();
                let hit = self.make_hit(field, &f, text, span, raw, matched);
                if snippets {
                    hit.with_snippet(text)
                } else {
                    hit
                }
            })
            .collect()
    }

    fn make_hit(
        &self,
        field: Field,
        f: &Found,
        visible: &str,
        text: TextSpan,
        raw: RawSpan,
        matched: String,
    ) -> Hit {
        let meta = if f.rule == YIELD_RULE {
            &self
                .yields
                .as_ref()
                .expect("yield hit without yield rules")
                .meta
        } else {
            &self.rules[f.rule]
        };
        Hit {
            rule: meta.id.clone(),
            category: meta.category,
            severity: meta.severity,
            field,
            term: meta.terms.get(f.term).cloned().unwrap_or_default(),
            normalizations: Normalizations::of(&visible[text.range()]),
            matched,
            raw,
            text,
            // filled in by `with_snippet` where it is wanted
            snippet: String::new(),
            snippet_match: (0, 0),
            basis: meta.basis.clone(),
            annual_rate: f.annual_rate,
            repeats: f.repeats,
        }
    }

    /// Runs the field's automata and the context rules over normalized text.
    fn find(&self, field: Field, norm: &Normalized) -> Vec<Found> {
        let fm = &self.fields[field.index()];
        let Some(terms) = &fm.terms else {
            return Vec::new();
        };
        let text = norm.text.as_str();
        // (pattern, start, end); sized so that a registry scope seldom grows it
        let mut candidates: Vec<(usize, usize, usize)> = Vec::with_capacity(16);
        let mut keywords: Vec<(usize, usize, usize)> = Vec::new(); // (keyword, start, end)
        terms.for_each_match(text, |pi, start, end| {
            let info = &fm.patterns[pi];
            if !info.owners.is_empty() {
                candidates.push((pi, start, end));
            }
            if let Some(k) = info.yield_keyword {
                keywords.push((k, start, end));
            }
        });
        let rates = match &self.yields {
            Some(y) if !keywords.is_empty() => stated_rates(y, norm, &keywords),
            _ => Vec::new(),
        };
        if candidates.is_empty() && rates.is_empty() {
            return Vec::new();
        }
        let spans = candidates
            .iter()
            .map(|&(_, s, e)| (s, e))
            .chain(rates.iter().map(|&(_, s, e, _)| (s, e)));
        let (cues, allow) = fm.context_around(text, spans);
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
                found.push(Found {
                    rule,
                    term,
                    start,
                    end,
                    annual_rate: None,
                    repeats: 0,
                    absorbed: Vec::new(),
                });
            }
        }
        for (kw, start, end, rate) in rates {
            if !context::negated(norm, &cues, start, end) {
                found.push(Found {
                    rule: YIELD_RULE,
                    term: kw,
                    start,
                    end,
                    annual_rate: Some(rate),
                    repeats: 0,
                    absorbed: Vec::new(),
                });
            }
        }
        first_occurrences(merge_overlapping(found))
    }
}

impl FieldMatcher {
    /// Negation cues and allow-list spans within reach of `spans` (sorted by
    /// start or not): the windows around them are merged and searched once.
    fn context_around(
        &self,
        text: &str,
        spans: impl Iterator<Item = (usize, usize)>,
    ) -> (Vec<Cue>, Vec<(usize, usize)>) {
        let (mut cues, mut allow) = (Vec::new(), Vec::new());
        let Some(ac) = &self.context else {
            return (cues, allow);
        };
        let mut windows: Vec<(usize, usize)> = spans
            .map(|(s, e)| {
                (
                    floor_char_boundary(text, s.saturating_sub(self.reach_before)),
                    ceil_char_boundary(text, (e + self.reach_after).min(text.len())),
                )
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
                if let Some((max_gap, after)) = info.cue {
                    cues.push(Cue {
                        start,
                        end,
                        max_gap,
                        after,
                    });
                }
                if info.allow {
                    allow.push((start, end));
                }
            });
        }
        (cues, allow)
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

/// Stated rates above the threshold after (or just before) a yield keyword,
/// as (keyword, start, end, annual %). One per stated rate: the earliest
/// keyword before it wins. Negation is applied by the caller.
fn stated_rates(
    y: &YieldRule,
    norm: &Normalized,
    keywords: &[(usize, usize, usize)],
) -> Vec<(usize, usize, usize, f64)> {
    let text = norm.text.as_str();
    let mut rates: Vec<(usize, usize, usize, f64)> = Vec::new();
    for &(k, ks, ke) in keywords {
        let period = yields::Period::of_keyword(&y.keyword_terms[k]);
        let stated = match yields::read_rate(text, ke, period) {
            Some(r) => Some((ks, r.end, r.annual_percent)),
            None => yields::read_rate_before(text, ks, period).map(|(s, r)| (s, ke, r)),
        };
        if let Some((start, end, rate)) = stated
            && rate > y.threshold
            && !norm.spans_break(start, end)
        {
            rates.push((k, start, end, rate));
        }
    }
    // per stated rate, the earliest and then the longest keyword names it
    rates.sort_by_key(|&(k, s, e, _)| (e, s, std::cmp::Reverse(y.keyword_terms[k].len())));
    rates.dedup_by_key(|r| r.2);
    rates
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
    let mut kept: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        if let Some(k) = kept.last_mut()
            && k.rule == f.rule
            && f.start < k.end
        {
            k.end = k.end.max(f.end);
            if f.term != k.term && !k.absorbed.contains(&f.term) {
                k.absorbed.push(f.term);
            }
            continue;
        }
        kept.push(f);
    }
    kept.sort_by_key(|f| (f.start, f.end, f.rule));
    kept
}

/// Keeps the first occurrence of each rule term in a document and counts
/// the rest in `repeats`. A platform repeats its slogans on every page and
/// in every list item (加息券 ×20 on one help page, P2P平台 on every line):
/// one piece of evidence per claim and page, with how often it recurs, is
/// what a reviewer and a takedown list need; each stated yield stays a hit
/// of its own (the rates differ). A term merged into an earlier hit
/// (保本保息 inside 承诺保本保息) counts as seen there. Expects hits in
/// position order.
fn first_occurrences(found: Vec<Found>) -> Vec<Found> {
    let mut first: std::collections::HashMap<(usize, usize), usize> = Default::default();
    let mut kept: Vec<Found> = Vec::with_capacity(found.len());
    for f in found {
        if f.rule == YIELD_RULE {
            kept.push(f);
            continue;
        }
        match first.get(&(f.rule, f.term)) {
            Some(&i) => kept[i].repeats += 1,
            None => {
                let i = kept.len();
                for &t in std::iter::once(&f.term).chain(&f.absorbed) {
                    first.entry((f.rule, t)).or_insert(i);
                }
                kept.push(f);
            }
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

/// A scanned document: its text and its hits.
#[derive(Debug, Clone)]
pub struct ScannedDoc {
    pub doc: TextDoc,
    pub hits: Vec<Hit>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static SCANNER: LazyLock<Scanner> =
        LazyLock::new(|| Scanner::bundled().expect("bundled rules"));

    fn all_matches(terms: &Terms, text: &str) -> Vec<(usize, usize, usize)> {
        let mut v = Vec::new();
        terms.for_each_match(text, |p, s, e| v.push((p, s, e)));
        v
    }

    /// The coded automaton finds what the UTF-8 one finds, in the same order.
    #[test]
    fn coded_terms_match_as_utf8_terms_do() {
        use proptest::prelude::*;
        let patterns: Vec<String> = [
            "理财",
            "投资理财",
            "财富",
            "p2p",
            "保本",
            "本保",
            "𠀀金融",
            "金融",
        ]
        .map(str::to_owned)
        .to_vec();
        let coded = Terms::new(&patterns, false).unwrap();
        assert!(matches!(coded, Terms::Coded(_)));
        let utf8 = Terms::Utf8(build_ac(&patterns).unwrap());
        let pieces = [
            "理", "财", "投资", "富", "p", "2", "保", "本", "𠀀", "金", "融", "，", "a", "é",
        ];
        proptest!(|(idx in proptest::collection::vec(0..pieces.len(), 0..40))| {
            let text: String = idx.iter().map(|&i| pieces[i]).collect();
            prop_assert_eq!(all_matches(&coded, &text), all_matches(&utf8, &text));
        });
        // more distinct characters than codes: UTF-8 when order matters;
        // shared codes, and the same set of matches, when it does not
        let wide: Vec<String> = (0..300u32)
            .map(|i| char::from_u32(0x4E00 + i).unwrap().to_string() + "财")
            .chain(["理财".to_owned(), "财理财".to_owned(), "𠀀财".to_owned()])
            .collect();
        assert!(matches!(Terms::new(&wide, false), Some(Terms::Utf8(_))));
        let shared = Terms::new(&wide, true).unwrap();
        assert!(matches!(&shared, Terms::Coded(t) if t.shared.is_some()));
        let utf8 = Terms::Utf8(build_ac(&wide).unwrap());
        proptest!(|(cps in proptest::collection::vec(0x4DF0u32..0x4F40, 0..30), tail in 0..3usize)| {
            let mut text: String = cps.iter().filter_map(|&c| char::from_u32(c)).collect();
            text.push_str(["财", "理财", "𠀀财"][tail]);
            let (mut a, mut b) = (all_matches(&shared, &text), all_matches(&utf8, &text));
            a.sort_unstable();
            b.sort_unstable();
            prop_assert_eq!(a, b);
        });
    }

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
            ("全新Ｐ２Ｐ平台上线", "Ｐ２Ｐ平台"),
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
        let text = "P2P平台一。P2P平台二。P2P平台三。本息保障。本息保障。年化18%，年化20%";
        let hits = page(text);
        let low: Vec<_> = hits.iter().filter(|h| h.term == "P2P平台").collect();
        assert_eq!(low.len(), 1, "{:?}", terms(&hits));
        assert_eq!((low[0].raw.start, low[0].repeats), (0, 2));
        let g: Vec<_> = hits.iter().filter(|h| h.term == "本息保障").collect();
        assert_eq!((g.len(), g[0].repeats), (1, 1));
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

    #[test]
    fn snippet_shows_context() {
        let (s, m) = snippet("前文承诺保本保息后文", TextSpan { start: 12, end: 24 });
        assert_eq!(&s[m.0..m.1], "保本保息");
        assert_eq!(s, "前文承诺保本保息后文");
    }
}
