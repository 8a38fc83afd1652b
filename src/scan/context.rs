//! Context rules applied to a raw term match: word boundaries, negation and
//! prohibition, allow-list spans.
//!
//! All positions are byte offsets of the normalized text.

use std::sync::LazyLock;

use jieba_rs::Jieba;

use crate::text::Normalized;

/// How far (in characters) the segmentation window reaches on each side of a
/// match. Far enough for the words that straddle a match boundary, short
/// enough to keep segmentation cheap.
const WINDOW_CHARS: usize = 10;

/// The segmenter behind word-boundary checks: `jieba-rs` with its bundled
/// dictionary (~350k words), loaded on first use only.
static JIEBA: LazyLock<Jieba> = LazyLock::new(Jieba::new);

/// Loads the segmenter now (about 0.15 s and 33 MB) rather than on the
/// first word-boundary check: a caller with threads to spare starts it on
/// one while the others read input, instead of every worker waiting on the
/// first check.
pub fn load_segmenter() {
    LazyLock::force(&JIEBA);
}

/// Whether `word` is in the segmenter's dictionary (for the registry's
/// check of names, whose trade names the segmenter does not know).
pub fn is_dictionary_word(word: &str) -> bool {
    JIEBA.has_word(word)
}

/// Whether a match `start..end` sits on word boundaries of Chinese text.
///
/// A match is rejected when a dictionary word of the segmented context
/// *straddles* one of its edges: it begins outside and ends inside (管理 in
/// 企业管理财务咨询 against 理财, 确保 in 确保本次 against 保本), or begins
/// inside and ends outside (分配|资金 against 配资). A word that contains the
/// whole match (理财产品 against 理财) does not reject it: the term is a part of
/// a longer word and still means what it says.
pub fn on_word_boundaries(norm: &Normalized, start: usize, end: usize) -> bool {
    let text = &norm.text;
    let lo = window_start(norm, start);
    let hi = window_end(norm, end);
    let window = &text[lo..hi];
    let (s, e) = (start - lo, end - lo);
    for token in JIEBA.cut(window, false) {
        let (ts, te) = (token.byte_start, token.byte_end);
        let straddles_start = ts < s && te > s && te < e;
        let straddles_end = ts > s && ts < e && te > e;
        if straddles_start || straddles_end {
            return false;
        }
    }
    true
}

fn window_start(norm: &Normalized, start: usize) -> usize {
    let text = &norm.text;
    // stop at the last break at or before `start`
    let i = norm.breaks.partition_point(|&b| (b as usize) <= start);
    let floor = if i > 0 {
        norm.breaks[i - 1] as usize
    } else {
        0
    };
    let mut lo = start;
    for (n, (idx, _)) in text[floor..start].char_indices().rev().enumerate() {
        if n >= WINDOW_CHARS {
            break;
        }
        lo = floor + idx;
    }
    lo
}

fn window_end(norm: &Normalized, end: usize) -> usize {
    let text = &norm.text;
    let i = norm.breaks.partition_point(|&b| (b as usize) < end);
    let ceil = norm.breaks.get(i).map_or(text.len(), |&b| b as usize);
    let mut hi = end;
    for (n, c) in text[end..ceil].chars().enumerate() {
        if n >= WINDOW_CHARS {
            break;
        }
        hi += c.len_utf8();
    }
    hi
}

/// Whether an ASCII-edged match (`p2p`, `homs`) stands as its own word: no
/// ASCII letter or digit glued to it, unless a separator was removed between.
pub fn on_ascii_boundaries(norm: &Normalized, start: usize, end: usize) -> bool {
    let b = norm.text.as_bytes();
    let first_alnum = b.get(start).is_some_and(u8::is_ascii_alphanumeric);
    let last_alnum = end > 0 && b.get(end - 1).is_some_and(u8::is_ascii_alphanumeric);
    if first_alnum && start > 0 && b[start - 1].is_ascii_alphanumeric() && !norm.gap_before(start) {
        return false;
    }
    if last_alnum && end < b.len() && b[end].is_ascii_alphanumeric() && !norm.gap_before(end) {
        return false;
    }
    true
}

/// A negation/prohibition cue found in the text.
#[derive(Debug, Clone, Copy)]
pub struct Cue {
    pub start: usize,
    pub end: usize,
    pub max_gap: usize,
    /// The cue follows what it negates.
    pub after: bool,
}

/// Whether a cue puts the match `start..end` under negation or prohibition:
/// a *before* cue ending at most `max_gap` characters before the match, or an
/// *after* cue starting at most `max_gap` characters after it, with no clause
/// break in between (the enumeration mark 、 is not a break, so
/// 不得从事吸收存款、融资担保、代客理财 stays covered).
pub fn negated(norm: &Normalized, cues: &[Cue], start: usize, end: usize) -> bool {
    let text = &norm.text;
    cues.iter().any(|c| {
        if !c.after {
            c.end <= start
                && start - c.end <= c.max_gap * 4
                && text[c.end..start].chars().count() <= c.max_gap
                && !norm.clause_between(c.end, start)
        } else {
            c.start >= end
                && c.start - end <= c.max_gap * 4
                && text[end..c.start].chars().count() <= c.max_gap
                && !norm.clause_between(end, c.start)
        }
    })
}

/// Whether an allow-list span covers the whole match.
pub fn allowed(allow_spans: &[(usize, usize)], start: usize, end: usize) -> bool {
    allow_spans.iter().any(|&(s, e)| s <= start && e >= end)
}

/// Spans of a page (allow-list spans, dropped phrases) by where they
/// start, for "which spans cover this one" asked once per candidate: a scan
/// of every span per candidate is quadratic on a window thick with both.
#[derive(Debug, Default)]
pub struct SpanIndex {
    /// (start, end, index in the spans as given), sorted.
    by_start: Vec<(usize, usize, usize)>,
    longest: usize,
}

impl SpanIndex {
    pub fn new(spans: impl Iterator<Item = (usize, usize)>) -> Self {
        let mut by_start: Vec<(usize, usize, usize)> =
            spans.enumerate().map(|(i, (s, e))| (s, e, i)).collect();
        by_start.sort_unstable();
        let longest = by_start.iter().map(|&(s, e, _)| e - s).max().unwrap_or(0);
        SpanIndex { by_start, longest }
    }

    /// The first span (in the order given) that covers `start..end` and
    /// meets `keep`.
    pub fn first_covering(
        &self,
        start: usize,
        end: usize,
        keep: impl Fn(usize, usize) -> bool,
    ) -> Option<usize> {
        // a covering span starts at most `longest` before `end`
        let from = end.saturating_sub(self.longest);
        let a = self.by_start.partition_point(|&(s, _, _)| s < from);
        self.by_start[a..]
            .iter()
            .take_while(|&&(s, _, _)| s <= start)
            .filter(|&&(s, e, _)| e >= end && keep(s, e))
            .map(|&(_, _, i)| i)
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn boundary(text: &str, term: &str) -> bool {
        let n = normalize(text);
        let s = n.text.find(term).expect("term in text");
        on_word_boundaries(&n, s, s + term.len())
    }

    #[test]
    fn words_straddling_a_match_reject_it() {
        assert!(!boundary("企业管理财务咨询", "理财"));
        assert!(!boundary("代理财税服务", "理财"));
        assert!(!boundary("物理财产保护", "理财"));
        assert!(!boundary("为确保本次活动顺利", "保本"));
        assert!(!boundary("合理分配资金", "配资"));
    }

    #[test]
    fn real_uses_pass_the_boundary_check() {
        assert!(boundary("投资理财平台", "理财"));
        assert!(boundary("理财产品", "理财"));
        assert!(boundary("股票配资", "配资"));
        assert!(boundary("承诺保本保息", "保本"));
        assert!(boundary("互联网金融", "金融"));
    }

    #[test]
    fn ascii_terms_need_ascii_boundaries() {
        let n = normalize("top 2 picks");
        let s = n.text.find("p2p").unwrap();
        assert!(!on_ascii_boundaries(&n, s, s + 3));
        let n = normalize("a P2P b");
        let s = n.text.find("p2p").unwrap();
        assert!(on_ascii_boundaries(&n, s, s + 3));
        let n = normalize("P2P网贷");
        assert!(on_ascii_boundaries(&n, 0, 3));
    }

    #[test]
    fn negation_stops_at_clause_breaks_but_not_enumerations() {
        let n = normalize("不得从事吸收存款、代客理财等业务");
        let s = n.text.find("代客理财").unwrap();
        let cue = Cue {
            start: 0,
            end: "不得".len(),
            max_gap: 40,
            after: false,
        };
        assert!(negated(&n, &[cue], s, s + 12));
        let n = normalize("不得，代客理财");
        let s = n.text.find("代客理财").unwrap();
        assert!(!negated(&n, &[cue], s, s + 12));
    }
}
