//! Descriptive rules: parts that must occur together in one clause or
//! sentence.
//!
//! The scanner's one automaton pass reports where each part's terms occur;
//! this module decides, per window, whether a pattern's parts are all there
//! (in order when the pattern asks for it), its excluded terms absent and
//! its numbers within bounds. A match spans from its first part to its last.

use std::cell::OnceCell;

use super::numbers::{self, Quantity};
use crate::rules::{NumberKind, NumberSlot, Window};
use crate::text::Normalized;

/// A pattern compiled for matching.
#[derive(Debug, Clone)]
pub(crate) struct Compiled {
    /// Index of the pattern's entry in the scanner's rule table.
    pub rule: usize,
    pub within: Window,
    pub ordered: bool,
    pub max_chars: Option<usize>,
    pub parts: Vec<CompiledPart>,
    /// Index into the excluded-term lists, if the pattern excludes terms.
    pub exclude: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) enum CompiledPart {
    /// Index into the per-part match lists.
    Terms(usize),
    Number(NumberSlot),
}

/// Where the parts' terms (and excluded terms) occur in one text: `(start,
/// end)` in normalized offsets, in the order the automaton reports them (by
/// end).
#[derive(Debug, Default)]
pub(crate) struct PartMatches {
    pub parts: Vec<Vec<(usize, usize)>>,
    pub excludes: Vec<Vec<(usize, usize)>>,
    /// `parts` and `excludes` sorted by start, made when first asked for.
    sorted_parts: Vec<OnceCell<ByStart>>,
    sorted_excludes: Vec<OnceCell<ByStart>>,
}

/// Occurrences as `(start, end, index in the automaton's order)`, sorted:
/// a pattern looks for its other parts near each anchor, and a look through
/// every occurrence of the page per anchor was quadratic on a window thick
/// with them.
type ByStart = Vec<(usize, usize, usize)>;

fn by_start(list: &[(usize, usize)]) -> ByStart {
    let mut v: ByStart = list
        .iter()
        .enumerate()
        .map(|(i, &(s, e))| (s, e, i))
        .collect();
    v.sort_unstable();
    v
}

/// The occurrences of `sorted` that start in `lo..=hi`.
fn starting_in(sorted: &ByStart, lo: usize, hi: usize) -> &[(usize, usize, usize)] {
    let a = sorted.partition_point(|&(s, _, _)| s < lo);
    let b = sorted.partition_point(|&(s, _, _)| s <= hi);
    &sorted[a..b.max(a)]
}

impl PartMatches {
    pub fn new(parts: usize, excludes: usize) -> Self {
        PartMatches {
            parts: vec![Vec::new(); parts],
            excludes: vec![Vec::new(); excludes],
            sorted_parts: vec![OnceCell::new(); parts],
            sorted_excludes: vec![OnceCell::new(); excludes],
        }
    }

    fn part(&self, id: usize) -> &ByStart {
        self.sorted_parts[id].get_or_init(|| by_start(&self.parts[id]))
    }

    fn exclude(&self, id: usize) -> &ByStart {
        self.sorted_excludes[id].get_or_init(|| by_start(&self.excludes[id]))
    }
}

/// A pattern matched in a window.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PatternMatch {
    pub start: usize,
    pub end: usize,
    /// The pieces that matched, in text order (what the hit's `term` shows).
    pub pieces: Vec<(usize, usize)>,
    /// The first numeric part's quantity.
    pub number: Option<Quantity>,
}

fn window(norm: &Normalized, within: Window, start: usize, end: usize) -> (usize, usize) {
    match within {
        Window::Clause => super::passage::clause(norm, start, end),
        Window::Sentence => super::passage::sentence(norm, start, end),
    }
}

/// Every match of `p` in `norm`, given where its parts' terms occur.
pub(crate) fn matches(p: &Compiled, m: &PartMatches, norm: &Normalized) -> Vec<PatternMatch> {
    let mut out = Vec::new();
    let term_parts: Vec<usize> = p
        .parts
        .iter()
        .filter_map(|part| match part {
            CompiledPart::Terms(id) => Some(*id),
            CompiledPart::Number(_) => None,
        })
        .collect();
    if term_parts.iter().any(|&id| m.parts[id].is_empty()) {
        return out;
    }
    let anchor_part = p
        .parts
        .iter()
        .position(|part| matches!(part, CompiledPart::Terms(_)))
        .unwrap_or(0);
    let CompiledPart::Terms(anchor_id) = p.parts[anchor_part] else {
        return out;
    };
    let mut anchors = m.parts[anchor_id].clone();
    anchors.sort_unstable();
    let mut consumed_to = 0usize;
    for &(a_start, a_end) in &anchors {
        if a_start < consumed_to {
            continue;
        }
        let (ws, we) = window(norm, p.within, a_start, a_end);
        if let Some(found) = match_in_window(p, m, norm, (a_start, a_end), anchor_part, ws, we) {
            consumed_to = found.end;
            out.push(found);
        }
    }
    out
}

/// Tries to complete a match around one anchor occurrence.
fn match_in_window(
    p: &Compiled,
    m: &PartMatches,
    norm: &Normalized,
    anchor: (usize, usize),
    anchor_part: usize,
    ws: usize,
    we: usize,
) -> Option<PatternMatch> {
    let text = norm.text.as_str();
    if let Some(x) = p.exclude
        && starting_in(m.exclude(x), ws, we)
            .iter()
            .any(|&(_, e, _)| e <= we)
    {
        return None;
    }
    // term parts: a position for each
    let mut placed: Vec<Option<(usize, usize)>> = vec![None; p.parts.len()];
    placed[anchor_part] = Some(anchor);
    if p.ordered {
        let mut pos = anchor.1;
        for (k, part) in p.parts.iter().enumerate().skip(anchor_part + 1) {
            if let CompiledPart::Terms(id) = part {
                let &(s, e, _) = starting_in(m.part(*id), pos, we)
                    .iter()
                    .filter(|&&(_, e, _)| e <= we)
                    .min_by_key(|&&(s, e, _)| (s, std::cmp::Reverse(e)))?;
                placed[k] = Some((s, e));
                pos = e;
            }
        }
    } else {
        for (k, part) in p.parts.iter().enumerate() {
            if k == anchor_part {
                continue;
            }
            if let CompiledPart::Terms(id) = part {
                // the occurrence nearest the anchor, not overlapping it
                // (of two as near, the one the automaton reported first)
                let &(s, e, _) = starting_in(m.part(*id), ws, we)
                    .iter()
                    .filter(|&&(s, e, _)| e <= we && (e <= anchor.0 || s >= anchor.1))
                    .min_by_key(|&&(s, e, i)| {
                        let gap = if e <= anchor.0 {
                            anchor.0 - e
                        } else {
                            s - anchor.1
                        };
                        (gap, i)
                    })?;
                placed[k] = Some((s, e));
            }
        }
    }
    // numbers: between their neighbours (ordered) or anywhere in the window
    let mut number = None;
    for (k, part) in p.parts.iter().enumerate() {
        let CompiledPart::Number(slot) = part else {
            continue;
        };
        let (from, to) = if p.ordered {
            let prev = placed[..k]
                .iter()
                .rev()
                .flatten()
                .next()
                .map_or(ws, |r| r.1);
            let next = placed[k + 1..].iter().flatten().next().map_or(we, |r| r.0);
            (prev, next)
        } else {
            (ws, we)
        };
        if from > to {
            return None;
        }
        let q = numbers::quantities_in_clauses(text, &norm.clauses, from, to, slot.kind)
            .into_iter()
            .find(|q| accepts(slot, q))?;
        placed[k] = Some((q.start, q.end));
        number.get_or_insert(q);
    }
    let mut pieces: Vec<(usize, usize)> = placed.into_iter().flatten().collect();
    pieces.sort_unstable();
    let start = pieces.first()?.0;
    let end = pieces.iter().map(|r| r.1).max()?;
    if let Some(max) = p.max_chars
        && text[start..end].chars().count() > max
    {
        return None;
    }
    Some(PatternMatch {
        start,
        end,
        pieces,
        number,
    })
}

/// Whether a quantity's range meets a slot's bounds.
fn accepts(slot: &NumberSlot, q: &Quantity) -> bool {
    debug_assert_eq!(slot.kind, q.kind);
    let lo_ok = slot.min.is_none_or(|m| q.value >= m);
    let hi_ok = slot.max.is_none_or(|m| q.low <= m);
    lo_ok && hi_ok && (q.kind != NumberKind::Rate || q.value > 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::text::normalize;

    fn find_all(text: &str, terms: &[&str]) -> Vec<(usize, usize)> {
        terms
            .iter()
            .flat_map(|t| text.match_indices(t).map(|(i, m)| (i, i + m.len())))
            .collect()
    }

    fn run(p: &Compiled, parts: &[&[&str]], exclude: &[&str], text: &str) -> Vec<String> {
        let n = normalize(text);
        let mut m = PartMatches::new(parts.len(), 1);
        for (i, terms) in parts.iter().enumerate() {
            m.parts[i] = find_all(&n.text, terms);
        }
        m.excludes[0] = find_all(&n.text, exclude);
        matches(p, &m, &n)
            .into_iter()
            .map(|f| n.text[f.start..f.end].to_owned())
            .collect()
    }

    fn pattern(parts: Vec<CompiledPart>, ordered: bool, within: Window) -> Compiled {
        Compiled {
            rule: 0,
            within,
            ordered,
            max_chars: None,
            parts,
            exclude: Some(0),
        }
    }

    #[test]
    fn parts_in_order_within_a_clause() {
        let p = pattern(
            vec![CompiledPart::Terms(0), CompiledPart::Terms(1)],
            true,
            Window::Clause,
        );
        let parts: &[&[&str]] = &[&["逾期"], &["垫付", "代偿"]];
        assert_eq!(
            run(&p, parts, &[], "借款逾期由平台先行垫付本息"),
            ["逾期由平台先行垫付"]
        );
        assert!(run(&p, parts, &[], "垫付规则：逾期后处理").is_empty());
        assert!(run(&p, parts, &[], "借款逾期，平台垫付").is_empty());
        // a sentence window reaches across the comma
        let s = pattern(
            vec![CompiledPart::Terms(0), CompiledPart::Terms(1)],
            true,
            Window::Sentence,
        );
        assert_eq!(
            run(&s, parts, &[], "借款逾期，平台垫付。"),
            ["逾期平台垫付"]
        );
        // unordered: either way round
        let u = pattern(
            vec![CompiledPart::Terms(0), CompiledPart::Terms(1)],
            false,
            Window::Clause,
        );
        assert_eq!(run(&u, parts, &[], "垫付规则逾期后处理"), ["垫付规则逾期"]);
    }

    #[test]
    fn excluded_terms_rule_a_window_out() {
        let p = pattern(
            vec![CompiledPart::Terms(0), CompiledPart::Terms(1)],
            true,
            Window::Clause,
        );
        let parts: &[&[&str]] = &[&["平台"], &["垫付"]];
        assert!(run(&p, parts, &["不"], "平台不垫付").is_empty());
        assert_eq!(run(&p, parts, &["不"], "平台垫付"), ["平台垫付"]);
    }

    #[test]
    fn numeric_parts_have_bounds() {
        let p = pattern(
            vec![
                CompiledPart::Terms(0),
                CompiledPart::Number(NumberSlot {
                    kind: NumberKind::Multiple,
                    min: Some(3.0),
                    max: None,
                }),
            ],
            true,
            Window::Clause,
        );
        let parts: &[&[&str]] = &[&["杠杆"]];
        assert_eq!(run(&p, parts, &[], "杠杆最高10倍"), ["杠杆最高10倍"]);
        assert_eq!(run(&p, parts, &[], "杠杆1:5"), ["杠杆1:5"]);
        assert!(run(&p, parts, &[], "杠杆2倍").is_empty());
    }
}
