//! Mention or promotion: each candidate is judged in its passage.
//!
//! A candidate (a term, a pattern, a stated rate) found on a page is a
//! violation only when the page promotes it. The same words inside a passage
//! that reports, warns, quotes, prohibits, negates or explains are a
//! *mention*: 以“保本保息”为诱饵 in a court report, 严禁承诺保本保息 in the plan,
//! 本行从不承诺保本 on a bank's page. The judge decides from:
//!
//! * **cues** ([`CueGroup`] of `context.toml`), each with a kind (negation,
//!   prohibition, warning, report, condemnation, exclusion, condition,
//!   statistic), a side, and a reach: to the end of the clause (a negation's
//!   scope: 不会, 从未, 并非 … — a run of spaces between two phrases of ad
//!   copy also ends a clause), to the end of the sentence (a prohibition over
//!   an enumeration), or a gap in characters. A `quoted` cue counts only for
//!   a hit inside quotation marks when the cue stands outside them (声称“稳赚
//!   不赔”), so that a salesperson's own quoted pitch is still a pitch;
//! * **the passage's voice**: passage-scope [`VoiceGroup`] cues anywhere in
//!   the hit's paragraph (犯罪分子, 经审理查明);
//! * **the page's voice**, decided once per page from its head and bylines
//!   (警方提示, 以案说法, 本报讯) by the scanner and passed in.
//!
//! Passages are paragraphs: the text between two line breaks (a block of
//! HTML, a line of plain text). Nothing outside the passage, save the page's
//! voice, changes a decision: a property test holds the judge to that.
//!
//! Positions are byte offsets of the normalized text unless named `visible`.

use serde::Serialize;

use crate::rules::{CueGroup, CueKind, Reach, Side};
use crate::text::Normalized;

/// Why a candidate was kept or dropped: every hit carries the reason it
/// was kept, and `finscan scan --explain` shows both.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reason {
    pub code: ReasonCode,
    /// What was seen: the cue, the voice, the parts, the rate.
    pub detail: String,
}

impl Reason {
    pub fn new(code: ReasonCode, detail: impl Into<String>) -> Self {
        Reason {
            code,
            detail: detail.into(),
        }
    }

    /// Whether a candidate with this reason is reported.
    pub fn kept(&self) -> bool {
        matches!(self.code, ReasonCode::Promotion)
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.detail.is_empty() {
            f.write_str(self.code.as_str())
        } else {
            write!(f, "{}: {}", self.code.as_str(), self.detail)
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ReasonCode {
    /// Kept: nothing in the passage or the page makes it a mention.
    Promotion,
    /// Dropped: a cue reaches it (negation, prohibition, warning, report,
    /// condemnation, exclusion, condition, statistic).
    Cue,
    /// Dropped: quoted, with a reporting or warning cue outside the quotes.
    Quoted,
    /// Dropped: its paragraph speaks in a reporting voice.
    PassageVoice,
    /// Dropped: the page speaks in a reporting voice.
    PageVoice,
    /// Dropped: an allow-list span covers it.
    Allowed,
    /// Dropped: a word of the text straddles its edge (管理|财务).
    WordBoundary,
    /// Dropped: the rule needs an activity or another rule's hit on the
    /// page, and the page has none.
    MissingContext,
    /// Dropped: a stated rate at or below the threshold.
    BelowThreshold,
    /// Dropped: inside a longer candidate that was dropped.
    Inside,
}

impl ReasonCode {
    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::Promotion => "promotion",
            ReasonCode::Cue => "cue",
            ReasonCode::Quoted => "quoted",
            ReasonCode::PassageVoice => "passage-voice",
            ReasonCode::PageVoice => "page-voice",
            ReasonCode::Allowed => "allowed",
            ReasonCode::WordBoundary => "word-boundary",
            ReasonCode::MissingContext => "missing-context",
            ReasonCode::BelowThreshold => "below-threshold",
            ReasonCode::Inside => "inside",
        }
    }
}

/// A cue found in the text: `group` indexes the rule set's cue groups.
#[derive(Debug, Clone, Copy)]
pub struct CueHit {
    pub start: usize,
    pub end: usize,
    pub group: usize,
}

/// A passage-scope voice cue found in the text.
#[derive(Debug, Clone, Copy)]
pub struct VoiceHit {
    pub start: usize,
    pub cue: usize,
    pub group: usize,
}

/// A passage-scope voice: its name, how many distinct cues it needs.
#[derive(Debug, Clone)]
pub struct PassageVoice {
    pub name: String,
    pub min: usize,
}

/// Judges candidates of one page. Built once per page from the cues and
/// voice cues found around its candidates.
pub struct Judge<'a> {
    pub norm: &'a Normalized,
    /// The text `norm` was made from (quotation marks and spaces are there).
    pub visible: &'a str,
    pub groups: &'a [CueGroup],
    pub cues: &'a [CueHit],
    /// `cues` by start: see [`CueIndex`].
    pub cue_index: &'a CueIndex,
    pub voices: &'a [PassageVoice],
    pub voice_hits: &'a [VoiceHit],
    /// Starts of words that end a sentence-reaching scope when they open a
    /// clause (a new subject, a turn: 本产品, 但是); sorted.
    pub scope_ends: &'a [usize],
    /// Starts of those that name the page's own subject (本产品, 本平台):
    /// they end a passage voice's reach as well; sorted.
    pub subjects: &'a [usize],
}

/// The cues of a page by where they start, so that a candidate looks only
/// at the cues of its own sentence instead of every cue of its paragraph
/// (a paragraph can be a whole window of a one-line document: judging each
/// candidate against every cue made the judge quadratic).
#[derive(Debug, Default)]
pub struct CueIndex {
    /// (start, index into the cues), sorted.
    by_start: Vec<(usize, usize)>,
    /// The longest cue, in bytes.
    longest: usize,
}

impl CueIndex {
    pub fn new(cues: &[CueHit]) -> Self {
        let mut by_start: Vec<(usize, usize)> =
            cues.iter().enumerate().map(|(i, c)| (c.start, i)).collect();
        by_start.sort_unstable();
        CueIndex {
            by_start,
            longest: cues.iter().map(|c| c.end - c.start).max().unwrap_or(0),
        }
    }

    /// Indices, in ascending order, of the cues starting in `lo..=hi`.
    fn starting_in(&self, lo: usize, hi: usize) -> Vec<usize> {
        let a = self.by_start.partition_point(|&(s, _)| s < lo);
        let b = self.by_start.partition_point(|&(s, _)| s <= hi);
        let mut v: Vec<usize> = self.by_start[a..b].iter().map(|&(_, i)| i).collect();
        v.sort_unstable();
        v
    }
}

/// Whether a position of `sorted` lies in `lo + 1..=hi` and opens a clause.
fn opens_clause_in(sorted: &[usize], clauses: &[u32], lo: usize, hi: usize) -> bool {
    let a = sorted.partition_point(|&s| s <= lo);
    sorted[a..]
        .iter()
        .take_while(|&&s| s <= hi)
        .any(|&s| clauses.binary_search(&(s as u32)).is_ok())
}

/// Bounds `(start, end)` of the stretch of `breaks`-delimited text holding
/// `pos..end_pos`.
fn enclosing(breaks: &[u32], start: usize, end: usize, len: usize) -> (usize, usize) {
    let i = breaks.partition_point(|&b| (b as usize) <= start);
    let lo = if i > 0 { breaks[i - 1] as usize } else { 0 };
    let j = breaks.partition_point(|&b| (b as usize) < end);
    let hi = breaks.get(j).map_or(len, |&b| b as usize);
    (lo, hi.max(end))
}

/// The paragraph (between line breaks) holding `start..end`.
pub fn paragraph(norm: &Normalized, start: usize, end: usize) -> (usize, usize) {
    enclosing(&norm.paragraphs, start, end, norm.text.len())
}

/// The sentence holding `start..end`.
pub fn sentence(norm: &Normalized, start: usize, end: usize) -> (usize, usize) {
    enclosing(&norm.sentences, start, end, norm.text.len())
}

/// The clause holding `start..end`.
pub fn clause(norm: &Normalized, start: usize, end: usize) -> (usize, usize) {
    enclosing(&norm.clauses, start, end, norm.text.len())
}

/// Whether a break of `breaks` lies within `start..=end`.
fn break_between(breaks: &[u32], start: usize, end: usize) -> bool {
    let i = breaks.partition_point(|&b| (b as usize) < start);
    breaks.get(i).is_some_and(|&b| (b as usize) <= end)
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{3000}' | '\u{A0}')
}

/// Whether the visible text between two normalized positions holds a
/// *soft break*: a run of spaces with at least two other characters on
/// each side before the next space (不承担任何风险 本息保障), as ad copy sets
/// slogans apart. Spaces between single characters (保 本 保 息) are an
/// evasion, not a break.
fn soft_break_between(norm: &Normalized, visible: &str, start: usize, end: usize) -> bool {
    if start >= end {
        return false;
    }
    // from the end of what precedes the gap to the start of what follows it
    let vs = norm.map.src_end(start);
    let ve = norm.map.src_start(end).max(vs);
    let Some(between) = visible.get(vs..ve) else {
        return false;
    };
    if !between.contains(is_space) {
        return false;
    }
    // look a little beyond both ends for the runs' lengths
    let lo = floor_boundary(visible, vs.saturating_sub(12));
    let hi = ceil_boundary(visible, (ve + 12).min(visible.len()));
    let window = &visible[lo..hi];
    let runs: Vec<(usize, usize, usize)> = {
        // (start, end, chars) of the runs of non-space characters
        let mut v = Vec::new();
        let mut cur: Option<(usize, usize)> = None;
        for (i, c) in window.char_indices() {
            if is_space(c) {
                if let Some((s, n)) = cur.take() {
                    v.push((lo + s, lo + i, n));
                }
            } else {
                cur = Some(cur.map_or((i, 1), |(s, n)| (s, n + 1)));
            }
        }
        if let Some((s, n)) = cur {
            v.push((lo + s, hi, n));
        }
        v
    };
    runs.windows(2).any(|w| {
        let (a, b) = (w[0], w[1]);
        // the gap between the runs lies between the two positions
        a.1 >= vs && b.0 <= ve && a.2 >= 2 && b.2 >= 2
    })
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil_boundary(s: &str, mut i: usize) -> usize {
    while i < s.len() && !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// Quotation-mark pairs of the visible text in `vs..ve`, as visible ranges
/// of their content.
pub fn quote_spans(visible: &str, vs: usize, ve: usize) -> Vec<(usize, usize)> {
    let text = &visible[vs..ve];
    let mut spans = Vec::new();
    let mut open: Vec<(char, usize)> = Vec::new();
    for (i, c) in text.char_indices() {
        let at = vs + i;
        match c {
            '“' | '「' | '『' | '‘' | '《' | '〈' => open.push((c, at + c.len_utf8())),
            '”' | '」' | '』' | '’' | '》' | '〉' => {
                let want = match c {
                    '”' => '“',
                    '」' => '「',
                    '』' => '『',
                    '’' => '‘',
                    '》' => '《',
                    _ => '〈',
                };
                if let Some(k) = open.iter().rposition(|&(o, _)| o == want) {
                    let (_, s) = open.remove(k);
                    open.truncate(k);
                    // 《…》 names a work (a law, a plan): quoted text too
                    spans.push((s, at));
                }
            }
            '"' | '＂' => match open.iter().rposition(|&(o, _)| o == '"') {
                Some(k) => {
                    let (_, s) = open.remove(k);
                    open.truncate(k);
                    spans.push((s, at));
                }
                None => open.push(('"', at + c.len_utf8())),
            },
            _ => {}
        }
    }
    spans
}

impl Judge<'_> {
    /// Whether the candidate at `start..end` (normalized) is a mention, and
    /// why; `None`: a promotion. `pieces`: a pattern's parts (empty for a
    /// term or a rate): a cue standing between two of them reaches the
    /// later ones (平台不为出借人提供担保). `rate`: the candidate states a rate
    /// (statistic cues apply to rates only).
    pub fn mention(
        &self,
        start: usize,
        end: usize,
        pieces: &[(usize, usize)],
        rate: bool,
    ) -> Option<Reason> {
        let norm = self.norm;
        let (ps, pe) = paragraph(norm, start, end);
        let mut quotes: Option<Vec<(usize, usize)>> = None;
        let para_visible = || {
            let a = norm.map.src_start(ps);
            let b = norm.map.src_end(pe).max(a);
            (
                floor_boundary(self.visible, a),
                ceil_boundary(self.visible, b.min(self.visible.len())),
            )
        };
        // what is quoted: the span, or any of a pattern's pieces
        let spans: Vec<(usize, usize)> = if pieces.is_empty() {
            vec![(start, end)]
        } else {
            pieces.to_vec()
        };
        // A cue that reaches the candidate lies in its sentence: a
        // clause-reaching one in its clause, and sentence ends are clause
        // breaks. So only the cues starting from the longest cue's length
        // before the sentence to the sentence's end are looked at, in the
        // order of `cues` (the first that reaches decides).
        let (ss, se) = sentence(norm, start, end);
        let near = self.cue_index.starting_in(
            ss.saturating_sub(self.cue_index.longest).max(ps),
            se.max(end).min(pe),
        );
        for c in near
            .iter()
            .map(|&i| &self.cues[i])
            .filter(|c| c.start >= ps && c.end <= pe)
        {
            let g = &self.groups[c.group];
            if g.kind == CueKind::Statistic && !rate {
                continue;
            }
            // a cue between a pattern's pieces reaches the pieces after it
            let inside = c.start >= start
                && c.end <= end
                && !pieces.is_empty()
                && !pieces.iter().any(|&(s, e)| c.start < e && s < c.end);
            let before = c.end <= start;
            let after = c.start >= end;
            let side_ok = match g.side {
                Side::Before => before || inside,
                Side::After => after,
                Side::Either => before || after || inside,
            };
            if !side_ok {
                continue;
            }
            let (gap_from, gap_to) = if inside {
                let next = pieces
                    .iter()
                    .find(|&&(s, _)| s >= c.end)
                    .map_or(end, |&(s, _)| s);
                (c.end, next)
            } else if before {
                (c.end, start)
            } else {
                (end, c.start)
            };
            if let Some(max) = g.max_gap
                && (gap_to - gap_from > max * 4
                    || norm.text[gap_from..gap_to].chars().count() > max)
            {
                continue;
            }
            let separated = match g.reach {
                Reach::Clause => {
                    break_between(&norm.clauses, gap_from, gap_to)
                        || soft_break_between(norm, self.visible, gap_from, gap_to)
                }
                Reach::Sentence => {
                    break_between(&norm.sentences, gap_from, gap_to)
                        || opens_clause_in(self.scope_ends, &norm.clauses, gap_from, gap_to)
                }
            };
            if separated {
                continue;
            }
            if g.quoted {
                let q = quotes.get_or_insert_with(|| {
                    let (a, b) = para_visible();
                    quote_spans(self.visible, a, b)
                });
                let vcue = norm.map.src_start(c.start);
                let quoted = spans.iter().find_map(|&(s, e)| {
                    let (vs, ve) = (norm.map.src_start(s), norm.map.src_end(e));
                    q.iter().find(|&&(qs, qe)| qs <= vs && ve <= qe)
                });
                match quoted {
                    Some(&(qs, qe)) if !(qs <= vcue && vcue < qe) => {}
                    _ => continue,
                }
                return Some(Reason::new(
                    ReasonCode::Quoted,
                    format!("{} “{}”", g.kind.as_str(), &norm.text[c.start..c.end]),
                ));
            }
            return Some(Reason::new(
                ReasonCode::Cue,
                format!("{} “{}”", g.kind.as_str(), &norm.text[c.start..c.end]),
            ));
        }
        // the passage's voice: enough distinct cues of one voice in the
        // paragraph, not cut off from the candidate by a clause that opens
        // with the page's own subject (法律规定…不得…，本产品…)
        let cut_off = |at: usize| {
            let (a, b) = if at < start { (at, start) } else { (end, at) };
            a < b && opens_clause_in(self.subjects, &norm.clauses, a, b)
        };
        for (gi, v) in self.voices.iter().enumerate() {
            let reaching = || {
                self.voice_hits
                    .iter()
                    .filter(move |h| h.group == gi && h.start >= ps && h.start < pe)
                    .filter(|h| !cut_off(h.start))
            };
            let mut seen: Vec<usize> = reaching().map(|h| h.cue).collect();
            seen.sort_unstable();
            seen.dedup();
            if seen.len() >= v.min {
                let first = reaching().map(|h| h.start).next().unwrap_or(ps);
                let word: String = norm.text[first..].chars().take(4).collect();
                return Some(Reason::new(
                    ReasonCode::PassageVoice,
                    format!("{} (“{}…”)", v.name, word),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    #[test]
    fn passages_clauses_and_sentences() {
        let n = normalize("甲乙，丙丁。戊己\n庚辛");
        let at = n.text.find("丙").unwrap();
        assert_eq!(
            &n.text[clause(&n, at, at + 3).0..clause(&n, at, at + 3).1],
            "丙丁"
        );
        let (s, e) = sentence(&n, at, at + 3);
        assert_eq!(&n.text[s..e], "甲乙丙丁");
        let (s, e) = paragraph(&n, at, at + 3);
        assert_eq!(&n.text[s..e], "甲乙丙丁戊己");
    }

    #[test]
    fn quotes_pair_up() {
        let v = "称“保本保息”和「稳赚」";
        let q = quote_spans(v, 0, v.len());
        let texts: Vec<&str> = q.iter().map(|&(s, e)| &v[s..e]).collect();
        assert_eq!(texts, ["保本保息", "稳赚"]);
        let v = "他说\"零风险\"";
        let q = quote_spans(v, 0, v.len());
        assert_eq!(&v[q[0].0..q[0].1], "零风险");
    }

    #[test]
    fn spaces_between_phrases_break_but_spaces_between_characters_do_not() {
        let v = "投资人不承担任何风险 本息保障";
        let n = normalize(v);
        let s = n.text.find("不承担").unwrap() + "不承担".len();
        let h = n.text.find("本息").unwrap();
        assert!(soft_break_between(&n, v, s, h));
        let v = "不 保 本 保 息";
        let n = normalize(v);
        assert!(!soft_break_between(&n, v, 3, 6));
    }
}
