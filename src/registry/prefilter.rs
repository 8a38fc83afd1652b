//! A sound, cheap test that a field cannot produce a hit, so that most
//! registry records skip the full scan.
//!
//! A registry scan is dominated by records without hits. For those, the
//! [`Scanner`](crate::Scanner) still builds normalized text with an offset
//! map and runs an overlapping automaton search; this module instead
//! normalizes into a reused buffer *without* offsets and asks one
//! Aho-Corasick automaton whether any term of the field occurs at all.
//!
//! Soundness: [`normalize_light`] produces exactly the text of
//! [`normalize`](crate::text::normalize()) (a property test checks this on
//! random input), and every scanner hit is an occurrence of a normalized
//! term in that text, later filtered by context rules that only remove
//! hits. So when [`Prefilter::may_match`] says no, the scanner would find
//! nothing; when it says yes, the caller runs the scanner.

use aho_corasick::automaton::Automaton;
use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Anchored, MatchKind};

use crate::rules::{Field, RuleSet};
use crate::text::normalize::{
    CharClass, classify, digit_joiner_form, joins_after, joins_before, splits_digits,
};
use crate::text::normalize_term;

/// Automata over the normalized terms of the `name` and `scope` rules.
#[derive(Debug, Clone)]
pub struct Prefilter {
    /// Indexed by [`Field::index`]; `None` when the field has no terms.
    fields: [Option<FieldFilter>; 3],
}

/// How one field's terms are searched.
#[derive(Debug, Clone)]
enum FieldFilter {
    /// The usual case: the field's terms use at most [`MAX_CODES`] distinct
    /// characters, so every normalized character becomes one byte (its code,
    /// or 0 for a character no term uses) through a table over the Basic
    /// Multilingual Plane, and the automaton runs over those bytes: one
    /// table lookup per character instead of `classify`, and a text a third
    /// as long as its UTF-8.
    Coded {
        table: Box<[u16]>,
        /// The term characters, sorted: code = index + 1 (for characters outside the table).
        chars: Vec<char>,
        /// Stepped one code at a time as the text is coded: no buffer, and
        /// the walk stops at the first match.
        dfa: Box<aho_corasick::dfa::DFA>,
    },
    /// More distinct characters than codes: search normalized UTF-8.
    Utf8(AhoCorasick),
}

/// Codes 1..=MAX_CODES name term characters; 0 is any other kept character.
const MAX_CODES: usize = 250;
/// Table flags above the 8-bit code.
const DROP: u16 = 0x100;
const DIGIT: u16 = 0x200;
const JOINER: u16 = 0x400;
const BREAK: u16 = 0x800;
/// A dropped character that keeps two digits apart (`splits_digits`).
const SPLIT: u16 = 0x1000;

fn build_ac(patterns: &[Vec<u8>]) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::Standard)
        .kind(Some(AhoCorasickKind::DFA))
        .build(patterns)
        .ok()
}

impl FieldFilter {
    fn new(terms: &[String]) -> Option<FieldFilter> {
        let mut chars: Vec<char> = terms.iter().flat_map(|t| t.chars()).collect();
        chars.sort_unstable();
        chars.dedup();
        if chars.len() > MAX_CODES {
            let pats: Vec<Vec<u8>> = terms.iter().map(|t| t.as_bytes().to_vec()).collect();
            return build_ac(&pats).map(FieldFilter::Utf8);
        }
        let code_of = |k: char| chars.binary_search(&k).map_or(0, |i| i as u16 + 1);
        let mut table = vec![0u16; 0x10000].into_boxed_slice();
        for (cp, slot) in table.iter_mut().enumerate() {
            let Some(c) = char::from_u32(cp as u32) else {
                *slot = DROP;
                continue;
            };
            let class = class_of(c);
            let mut v = match class {
                // DIGIT: a joiner may follow (see `text::normalize::joins_after`)
                CharClass::Keep(k) => {
                    code_of(k)
                        | if joins_after(Some(k as u8)) && k.is_ascii() {
                            DIGIT
                        } else {
                            0
                        }
                }
                CharClass::Noise => DROP,
                CharClass::Break | CharClass::Separator => DROP | BREAK,
            };
            if v & DROP != 0 && splits_digits(c) {
                v |= SPLIT;
            }
            if let Some(kept) = digit_joiner_form(c)
                && class != CharClass::Keep(c)
            {
                // the code of the form it is kept as between digits
                v = (v & !0xFF) | JOINER | code_of(kept);
            }
            *slot = v;
        }
        let pats: Vec<Vec<u8>> = terms
            .iter()
            .map(|t| t.chars().map(|k| code_of(k) as u8).collect())
            .collect();
        let dfa = aho_corasick::dfa::Builder::new()
            .match_kind(MatchKind::Standard)
            .prefilter(false)
            .build(&pats)
            .ok()?;
        Some(FieldFilter::Coded {
            table,
            chars,
            dfa: Box::new(dfa),
        })
    }
}

/// `classify` with the ASCII fast path of `text::normalize`.
fn class_of(c: char) -> CharClass {
    if c.is_ascii_lowercase() || c.is_ascii_digit() || c == '%' {
        CharClass::Keep(c)
    } else {
        classify(c)
    }
}

impl Prefilter {
    pub fn new(set: &RuleSet) -> Self {
        let build = |field: Field| {
            let mut terms: Vec<String> = set
                .rules
                .iter()
                .filter(|r| r.fields.contains(&field))
                .flat_map(|r| r.terms.iter().map(|t| normalize_term(t)))
                .filter(|t| !t.is_empty())
                .collect();
            terms.sort_unstable();
            terms.dedup();
            if terms.is_empty() {
                return None;
            }
            FieldFilter::new(&terms)
        };
        Prefilter {
            fields: [build(Field::Name), build(Field::Scope), None],
        }
    }

    /// Whether `text` may give a hit for `field`; `false` is certain.
    pub fn may_match(&self, field: Field, text: &str) -> bool {
        match &self.fields[field.index()] {
            None => false,
            Some(FieldFilter::Coded { table, chars, dfa }) => {
                let Ok(mut sid) = dfa.start_state(Anchored::No) else {
                    return true;
                };
                for_each_code(table, chars, text, |code| {
                    sid = dfa.next_state(Anchored::No, sid, code);
                    dfa.is_special(sid) && dfa.is_match(sid)
                })
            }
            Some(FieldFilter::Utf8(ac)) => {
                let mut s = String::with_capacity(text.len());
                normalize_light(text, &mut s);
                ac.is_match(s.as_str())
            }
        }
    }
}

/// The normalized text of `input`, one code byte per kept character (see
/// [`FieldFilter::Coded`]), written into `out`.
#[cfg(test)]
fn encode(table: &[u16], chars: &[char], input: &str, out: &mut Vec<u8>) {
    out.clear();
    for_each_code(table, chars, input, |code| {
        out.push(code);
        false
    });
}

/// Hands `emit` the normalized text of `input`, one code byte per kept
/// character (see [`FieldFilter::Coded`]), until `emit` returns true
/// (then returns true); mirrors [`normalize_light`] step by step.
fn for_each_code(
    table: &[u16],
    chars: &[char],
    input: &str,
    mut emit: impl FnMut(u8) -> bool,
) -> bool {
    let bytes = input.as_bytes();
    let mut noise_run = 0usize;
    let mut last_digit = false;
    // a splitting mark was dropped since the last digit
    let mut split_pending = false;
    let mut i = 0;
    while i < bytes.len() {
        // decode one character by hand: `input` is valid UTF-8, and this
        // loop is the hot path of a registry scan
        let b0 = bytes[i];
        // three-byte characters (all of CJK) first: most of a Chinese text
        let (cp, len) = if (0xE0..0xF0).contains(&b0)
            && let [_, b1, b2, ..] = bytes[i..]
        {
            (
                ((b0 as u32 & 0x0F) << 12) | ((b1 as u32 & 0x3F) << 6) | (b2 as u32 & 0x3F),
                3,
            )
        } else if b0 < 0x80 {
            (b0 as u32, 1)
        } else if b0 < 0xE0 {
            (((b0 as u32 & 0x1F) << 6) | (bytes[i + 1] as u32 & 0x3F), 2)
        } else {
            (u32::MAX, 4)
        };
        let v = match table.get(cp as usize) {
            Some(&v) => v,
            // outside the BMP: the slow path
            None => {
                let c = input[i..].chars().next().unwrap_or('\u{FFFD}');
                match class_of(c) {
                    CharClass::Keep(k) => chars.binary_search(&k).map_or(0, |i| i as u16 + 1),
                    CharClass::Noise => DROP,
                    CharClass::Break | CharClass::Separator => DROP | BREAK,
                }
            }
        };
        i += len;
        if v & DROP == 0 {
            noise_run = 0;
            last_digit = v & DIGIT != 0;
            split_pending = false;
            if emit(v as u8) {
                return true;
            }
        } else if v & JOINER != 0
            && last_digit
            && noise_run == 0
            && joins_before(input[i..].chars().next())
        {
            noise_run = 0;
            last_digit = false;
            split_pending = false;
            if emit(v as u8) {
                return true;
            }
        } else {
            if last_digit && (v & SPLIT != 0 || split_pending) {
                if joins_before(input[i..].chars().next()) {
                    // the space `normalize` keeps: a character no term uses
                    last_digit = false;
                    split_pending = false;
                    if emit(0) {
                        return true;
                    }
                } else {
                    split_pending = true;
                }
            }
            if v & BREAK != 0 {
                noise_run = 0;
            } else {
                noise_run += 1;
            }
        }
    }
    false
}

/// The normalized text of `input` (as [`crate::text::normalize()`] makes it),
/// without offset map or breaks, written into `out`.
pub fn normalize_light(input: &str, out: &mut String) {
    out.clear();
    let mut noise_run = 0usize;
    let mut split_at: Option<usize> = None;
    let mut iter = input.chars().peekable();
    while let Some(c) = iter.next() {
        let mut class =
            if c.is_ascii() && (c.is_ascii_lowercase() || c.is_ascii_digit() || c == '%') {
                CharClass::Keep(c)
            } else {
                classify(c)
            };
        if class != CharClass::Keep(c)
            && let Some(kept) = digit_joiner_form(c)
            && noise_run == 0
            && joins_after(out.as_bytes().last().copied())
            && joins_before(iter.peek().copied())
        {
            class = CharClass::Keep(kept);
        }
        if !matches!(class, CharClass::Keep(_))
            && joins_after(out.as_bytes().last().copied())
            && (splits_digits(c) || split_at == Some(out.len()))
        {
            if joins_before(iter.peek().copied()) {
                out.push(' ');
            } else {
                split_at = Some(out.len());
            }
        }
        match class {
            CharClass::Keep(k) => {
                noise_run = 0;
                out.push(k);
            }
            CharClass::Noise => noise_run += 1,
            CharClass::Break | CharClass::Separator => noise_run = 0,
        }
    }
    // a noise run longer than MAX_NOISE_RUN only adds a break, which does
    // not change the text
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn light_normalization_equals_the_scanners() {
        let mut buf = String::new();
        for s in [
            "投资理财、发放贷款；企业管理咨询（不含金融）",
            "年化 2 4 . 5 % 收益 24.5%，８－１２％",
            "理財 Ｐ２Ｐ 資\u{200B}金池 保*本*保*息",
            "ABC.DEF 1,000,000 3 . 4",
        ] {
            normalize_light(s, &mut buf);
            assert_eq!(buf, crate::text::normalize(s).text, "{s}");
        }
    }

    /// The coded form of normalized text, computed from `text::normalize`.
    fn coded_reference(chars: &[char], text: &str) -> Vec<u8> {
        crate::text::normalize(text)
            .text
            .chars()
            .map(|k| chars.binary_search(&k).map_or(0, |i| i as u8 + 1))
            .collect()
    }

    fn coded_filter() -> (Box<[u16]>, Vec<char>) {
        let terms: Vec<String> = ["理财", "金融", "p2p", "24.5%", "8-12%", "资金池"]
            .iter()
            .map(|t| normalize_term(t))
            .collect();
        match FieldFilter::new(&terms) {
            Some(FieldFilter::Coded { table, chars, .. }) => (table, chars),
            _ => panic!("coded filter expected"),
        }
    }

    #[test]
    fn coded_text_equals_the_scanners_text() {
        let (table, chars) = coded_filter();
        let mut buf = Vec::new();
        for s in [
            "理財 Ｐ２Ｐ 年化24.5%，8－12％ 資\u{200B}金池",
            "2 . 5",
            "2.,5",
            "2,,5",
            "a2.5",
        ] {
            encode(&table, &chars, s, &mut buf);
            assert_eq!(buf, coded_reference(&chars, s), "{s}");
        }
    }

    proptest! {
        #[test]
        fn coded_text_equals_the_scanners_text_on_random_text(
            s in proptest::collection::vec(
                prop_oneof![
                    Just('理'), Just('財'), Just('财'), Just('金'), Just('融'), Just('、'), Just('；'),
                    Just('，'), Just('。'), Just(' '), Just('\u{3000}'), Just('.'), Just(','), Just('-'),
                    Just('~'), Just('．'), Just('－'), Just('*'), Just('P'), Just('p'), Just('Ｐ'),
                    Just('2'), Just('２'), Just('4'), Just('5'), Just('%'), Just('８'), Just('\n'),
                    Just('池'), Just('資'), any::<char>(),
                ],
                0..40,
            )
        ) {
            let s: String = s.into_iter().collect();
            let (table, chars) = coded_filter();
            let mut buf = Vec::new();
            encode(&table, &chars, &s, &mut buf);
            prop_assert_eq!(buf, coded_reference(&chars, &s));
        }

        #[test]
        fn light_normalization_equals_the_scanners_on_random_text(
            s in proptest::collection::vec(
                prop_oneof![
                    Just('理'), Just('財'), Just('财'), Just('金'), Just('融'), Just('、'), Just('；'),
                    Just('，'), Just('。'), Just(' '), Just('\u{3000}'), Just('\u{200B}'), Just('.'),
                    Just(','), Just('-'), Just('~'), Just('．'), Just('－'), Just('*'), Just('（'),
                    Just('）'), Just('P'), Just('p'), Just('Ｐ'), Just('2'), Just('２'), Just('%'),
                    Just('A'), Just('\n'), Just('Ä'), Just('ǅ'), any::<char>(),
                ],
                0..40,
            )
        ) {
            let s: String = s.into_iter().collect();
            let mut buf = String::new();
            normalize_light(&s, &mut buf);
            prop_assert_eq!(buf, crate::text::normalize(&s).text);
        }
    }
}
