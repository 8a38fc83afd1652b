//! The automaton behind every field: all of a field's terms (rule terms,
//! pattern parts, activity words, voice cues, yield keywords) in one
//! Aho-Corasick pass, and the context cues in a second, run only around
//! candidates.

use std::collections::HashMap;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

/// A field's term automaton.
#[derive(Debug, Clone)]
pub(crate) enum Terms {
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
pub(crate) struct CodedTerms {
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
    pub(crate) fn new(patterns: &[String], any_order: bool) -> Option<Terms> {
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
    pub(crate) fn for_each_match(&self, text: &str, mut found: impl FnMut(usize, usize, usize)) {
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

pub(crate) fn build_ac(patterns: &[String]) -> Option<AhoCorasick> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
