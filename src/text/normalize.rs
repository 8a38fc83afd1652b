//! Normalization for matching: the form in which both rule terms and page text
//! are compared, with an offset map back to the text it came from.
//!
//! Steps, per character: full-width → half-width (`Ｐ２Ｐ` → `P2P`), Unicode
//! case folding, traditional → simplified Chinese (`理財` → `理财`, table from
//! the `fast2s` crate, which packages OpenCC's character table), and removal
//! of *noise* that evasive copy inserts inside a phrase: spaces (incl. U+3000),
//! zero-width characters, `* - _ · . |` and other ASCII/CJK punctuation
//! (`保 本 保 息`, `保*本`, `资\u{200B}金池`).
//!
//! Removal is bounded so that unrelated words never join: clause punctuation
//! (，。；！？ and their ASCII forms) and line breaks are dropped but recorded
//! as *clause breaks*; enumeration marks (、 and `/`, which list separate
//! items: 实业投资、管理咨询) and any run of more than [`MAX_NOISE_RUN`] noise
//! characters are recorded as *separators*. No match may span either kind;
//! negation reaches across separators (不得从事吸收存款、代客理财) but not
//! across clause breaks. Digits keep the `.` `,` `-` `~` between them
//! (`24.5%`, `8-12%`), which the yield detector reads.

use std::sync::OnceLock;

use super::span::OffsetMap;

/// The longest run of noise characters that may sit *inside* a phrase.
pub const MAX_NOISE_RUN: usize = 3;

/// Normalized text.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    pub text: String,
    /// Maps `text` offsets to offsets of the input text.
    pub map: OffsetMap,
    /// Sorted byte offsets of `text` where a clause break or a separator was
    /// removed: no match may span one.
    pub breaks: Vec<u32>,
    /// The clause breaks among `breaks`: no negation reaches across one.
    pub clauses: Vec<u32>,
    /// The sentence ends among `clauses`: 。！？ and line breaks.
    pub sentences: Vec<u32>,
    /// The line breaks among `sentences`: a paragraph of plain text, a
    /// block of HTML (see `text::html`).
    pub paragraphs: Vec<u32>,
}

impl Normalized {
    /// Whether a break lies strictly inside `start..end`.
    pub fn spans_break(&self, start: usize, end: usize) -> bool {
        let i = self.breaks.partition_point(|&b| (b as usize) <= start);
        self.breaks.get(i).is_some_and(|&b| (b as usize) < end)
    }

    /// Whether a clause break lies within `start..=end` (used for negation
    /// context, where a break touching either end also separates).
    pub fn clause_between(&self, start: usize, end: usize) -> bool {
        let i = self.clauses.partition_point(|&b| (b as usize) < start);
        self.clauses.get(i).is_some_and(|&b| (b as usize) <= end)
    }

    /// Whether a clause break lies strictly inside `start..end`.
    pub fn clause_inside(&self, start: usize, end: usize) -> bool {
        let i = self.clauses.partition_point(|&b| (b as usize) <= start);
        self.clauses.get(i).is_some_and(|&b| (b as usize) < end)
    }

    /// Whether input characters were dropped just before normalized offset `pos`
    /// (a separator the matcher no longer sees).
    pub fn gap_before(&self, pos: usize) -> bool {
        if pos == 0 || pos >= self.text.len() {
            return true;
        }
        self.map.src_end(pos) != self.map.src_start(pos)
    }
}

/// What one input character becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharClass {
    /// Kept, possibly changed.
    Keep(char),
    /// Dropped: noise inside a phrase.
    Noise,
    /// Dropped; no match may span it, and no negation reaches across it.
    Break,
    /// Dropped; no match may span it (an enumeration mark).
    Separator,
}

/// Classifies one character, ignoring the digit context rule.
pub fn classify(c: char) -> CharClass {
    if c.is_ascii() {
        return classify_ascii(c as u8);
    }
    let cp = c as u32;
    match cp {
        // full-width ASCII forms
        0xFF01..=0xFF5E => classify_ascii((cp - 0xFEE0) as u8),
        0x3400..=0x9FFF => CharClass::Keep(to_simplified(c)),
        // spaces, zero-width characters, soft hyphen, BOM
        0x00A0
        | 0x00AD
        | 0x2000..=0x200F
        | 0x2028
        | 0x2029
        | 0x202F
        | 0x205F..=0x2064
        | 0x3000
        | 0xFEFF => CharClass::Noise,
        // CJK full stop, half-width ideographic full stop
        0x3002 | 0xFF61 => CharClass::Break,
        // the enumeration mark 、 separates list items
        0x3001 => CharClass::Separator,
        // CJK punctuation: 〃 brackets 〈〉《》「」『』【】〔〕 etc, 〜 ・
        0x3003 | 0x3008..=0x3011 | 0x3014..=0x301F | 0x30FB | 0xFF5F..=0xFF60 | 0xFF62..=0xFF65 => {
            CharClass::Noise
        }
        // middle dots, bullets, quotes, dashes, ellipsis
        0x00B7 | 0x2010..=0x2027 | 0x2030..=0x205E | 0xFE30..=0xFE4F => CharClass::Noise,
        // vertical/small forms of clause punctuation
        0xFE50..=0xFE57 => CharClass::Break,
        _ => {
            if c.is_whitespace() {
                CharClass::Noise
            } else if c.is_uppercase() {
                use caseless::Caseless;
                let mut folded = std::iter::once(c).default_case_fold();
                match (folded.next(), folded.next()) {
                    (Some(f), None) => CharClass::Keep(f),
                    _ => CharClass::Keep(c.to_lowercase().next().unwrap_or(c)),
                }
            } else {
                CharClass::Keep(c)
            }
        }
    }
}

const fn classify_ascii(b: u8) -> CharClass {
    match b {
        b'A'..=b'Z' => CharClass::Keep((b + 32) as char),
        b'\n' | b',' | b';' | b'!' | b'?' => CharClass::Break,
        b'/' | b'\t' => CharClass::Separator,
        b' ' | b'\r' | b'\x0b' | b'\x0c' | b'*' | b'-' | b'_' | b'.' | b'|' | b'~' | b'+'
        | b'#' | b'\\' | b'=' | b'^' | b'`' | b'\'' | b'"' | b'(' | b')' | b'[' | b']' | b'{'
        | b'}' | b'<' | b'>' | b':' => CharClass::Noise,
        0..=0x1F | 0x7F => CharClass::Noise,
        _ => CharClass::Keep(b as char),
    }
}

/// The form a separator between numbers is kept in (decimal point,
/// thousands, ranges, ratios and sums: `24.5`, `1,000`, `8-12`, `6—36`,
/// `8%-12%`, `1:10`, `10.8%+2%`), or `None` for characters that are no such
/// separator.
pub fn digit_joiner_form(c: char) -> Option<char> {
    match c {
        '.' | ',' | '-' | '~' | ':' | '+' => Some(c),
        '．' => Some('.'),
        '，' => Some(','),
        '－' | '—' | '–' | '‐' | '‑' | '‒' => Some('-'),
        '～' | '〜' => Some('~'),
        '：' => Some(':'),
        '＋' => Some('+'),
        _ => None,
    }
}

/// Whether a dropped character keeps two digits apart (see `normalize`):
/// clause and enumeration marks, brackets, quotation marks, tabs and wide
/// spaces. An ASCII space, `*`, `_` or a zero-width character alone does not
/// (年化 2 4 . 5 % is one figure spaced out).
pub fn splits_digits(c: char) -> bool {
    match classify(c) {
        CharClass::Keep(_) => false,
        CharClass::Break | CharClass::Separator => true,
        CharClass::Noise => matches!(
            c,
            '(' | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | '<'
                | '>'
                | '"'
                | '\''
                | '\r'
                | '\u{A0}'
                | '\u{3000}'
                | '\u{FF02}'
                | '\u{FF07}'
                | '\u{FF08}'
                | '\u{FF09}'
                | '\u{FF1C}'
                | '\u{FF1E}'
                | '\u{FF3B}'
                | '\u{FF3D}'
                | '\u{FF5B}'
                | '\u{FF5D}'
                | '\u{2018}'..='\u{201F}'
                | '\u{3008}'..='\u{3011}'
                | '\u{3014}'..='\u{301B}'
        ),
    }
}

/// Whether a digit joiner after normalized byte `prev` may be kept: it must
/// follow a digit or a `%` (`8%-12%`).
pub fn joins_after(prev: Option<u8>) -> bool {
    prev.is_some_and(|p| p.is_ascii_digit() || p == b'%')
}

/// Whether `c` may follow a kept digit joiner: a digit, half- or full-width.
pub fn joins_before(c: Option<char>) -> bool {
    c.is_some_and(|n| n.is_ascii_digit() || ('\u{FF10}'..='\u{FF19}').contains(&n))
}

/// Traditional → simplified for one CJK character.
///
/// `fast2s` converts whole strings; this builds a dense table over the CJK
/// blocks once (U+3400–U+9FFF, ~27k entries) so that the hot loop is an array
/// index instead of a hash lookup, plus a bitmap of the ~2,700 characters that
/// change, which fits in L1 cache (most text is already simplified). `fast2s`
/// maps 3-byte characters to 3-byte characters, so conversion keeps offsets.
pub fn to_simplified(c: char) -> char {
    let cp = c as u32;
    if !(CJK_FIRST..=CJK_LAST).contains(&cp) {
        return c;
    }
    let t = t2s_table();
    let i = (cp - CJK_FIRST) as usize;
    if t.changes[i / 64] & (1 << (i % 64)) == 0 {
        c
    } else {
        t.to[i]
    }
}

const CJK_FIRST: u32 = 0x3400;
const CJK_LAST: u32 = 0x9FFF;

struct T2s {
    changes: Vec<u64>,
    to: Vec<char>,
}

fn t2s_table() -> &'static T2s {
    static TABLE: OnceLock<T2s> = OnceLock::new();
    TABLE.get_or_init(|| {
        let chars: Vec<char> = (CJK_FIRST..=CJK_LAST).filter_map(char::from_u32).collect();
        let mut joined = String::with_capacity(chars.len() * 4);
        for &c in &chars {
            joined.push(c);
            joined.push('\n');
        }
        let converted = fast2s::convert(&joined);
        let mut to: Vec<char> = chars.clone();
        let mut changes = vec![0u64; chars.len().div_ceil(64)];
        for (i, line) in converted.split('\n').take(chars.len()).enumerate() {
            let mut it = line.chars();
            if let (Some(s), None) = (it.next(), it.next())
                && s != chars[i]
                && s.len_utf8() == chars[i].len_utf8()
            {
                to[i] = s;
                changes[i / 64] |= 1 << (i % 64);
            }
        }
        T2s { changes, to }
    })
}

/// What the normalizer does with an ASCII byte.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Ascii {
    Copy,
    Lower,
    Noise,
    Break,
    Separator,
}

const ASCII_ACTIONS: [Ascii; 128] = {
    let mut t = [Ascii::Copy; 128];
    let mut b = 0;
    while b < 128 {
        t[b] = match classify_ascii(b as u8) {
            CharClass::Keep(k) if k as u32 == b as u32 => Ascii::Copy,
            CharClass::Keep(_) => Ascii::Lower,
            CharClass::Noise => Ascii::Noise,
            CharClass::Break => Ascii::Break,
            CharClass::Separator => Ascii::Separator,
        };
        b += 1;
    }
    t
};

/// Normalizes `input` for matching.
///
/// The hot loop works on bytes: ASCII and CJK characters that stay as they
/// are extend a pending copy run, which is written (and mapped) as one slice
/// when something changes. Everything else takes the per-character path.
pub fn normalize(input: &str) -> Normalized {
    let mut norm = Normalized::default();
    normalize_into(input, &mut norm);
    norm
}

/// [`normalize()`] into `norm`, whose buffers are reused: a registry scan
/// normalizes hundreds of thousands of short fields, and four allocations
/// for each were a tenth of the work.
pub fn normalize_into(input: &str, norm: &mut Normalized) {
    let bytes = input.as_bytes();
    let Normalized {
        text: out,
        map,
        breaks,
        clauses,
        sentences,
        paragraphs,
    } = norm;
    // sized for a registry scope (a separator every few characters), so
    // they seldom grow
    out.clear();
    out.reserve(input.len());
    map.clear();
    map.reserve(input.len() / 8 + 4);
    breaks.clear();
    breaks.reserve(input.len() / 8 + 4);
    clauses.clear();
    clauses.reserve(input.len() / 16 + 2);
    sentences.clear();
    paragraphs.clear();
    let mut noise_run = 0usize;
    let mut run_start = 0usize; // start of the pending verbatim copy
    let t2s = t2s_table();
    // local slices: the loop keeps them in registers instead of reloading the static
    let (changes, simplified): (&[u64], &[char]) = (&t2s.changes, &t2s.to);
    let mut i = 0usize;
    // where a mark that splits digits was dropped (see `digit_gap`)
    let mut split_at: Option<usize> = None;

    // runs start and end on character boundaries, so slicing cannot fail
    fn flush(out: &mut String, map: &mut OffsetMap, input: &str, run_start: usize, i: usize) {
        if run_start < i {
            map.push_linear(out.len(), run_start, i - run_start);
            out.push_str(&input[run_start..i]);
        }
    }
    // A mark dropped between two digits would join them into one number
    // (2018-06-29）：3.87% read as 293.87%, a table's 12　8.5% as 128.5%):
    // the last dropped character before the second digit is kept as one
    // space, which no term holds and no number reads across. Spaces and
    // zero-width characters alone still join (2 4 . 5 % is spaced out).
    fn digit_gap(
        out: &mut String,
        map: &mut OffsetMap,
        input: &str,
        (i, len): (usize, usize),
        split_at: &mut Option<usize>,
    ) {
        if !joins_after(out.as_bytes().last().copied()) {
            return;
        }
        let c = input[i..].chars().next().unwrap_or(' ');
        let split = splits_digits(c) || *split_at == Some(out.len());
        if !split {
            return;
        }
        if joins_before(input[i + len..].chars().next()) {
            map.push_atomic(out.len(), i..i + len);
            out.push(' ');
        } else {
            *split_at = Some(out.len());
        }
    }
    fn add_break(breaks: &mut Vec<u32>, at: usize) {
        if breaks.last() != Some(&(at as u32)) {
            breaks.push(at as u32);
        }
    }

    while i < bytes.len() {
        let b = bytes[i];
        if b < 0x80 {
            let action = ASCII_ACTIONS[b as usize];
            if action == Ascii::Copy {
                noise_run = 0;
                i += 1;
                continue;
            }
            flush(out, map, input, run_start, i);
            let joiner = digit_joiner_form(b as char).is_some()
                && noise_run == 0
                && joins_after(out.as_bytes().last().copied())
                && joins_before(input[i + 1..].chars().next());
            if !joiner && action != Ascii::Lower {
                digit_gap(out, map, input, (i, 1), &mut split_at);
            }
            match action {
                _ if joiner => {
                    noise_run = 0;
                    map.push_linear(out.len(), i, 1);
                    out.push(b as char);
                }
                Ascii::Lower => {
                    noise_run = 0;
                    map.push_linear(out.len(), i, 1);
                    out.push(b.to_ascii_lowercase() as char);
                }
                Ascii::Noise => {
                    noise_run += 1;
                    if noise_run == MAX_NOISE_RUN + 1 {
                        add_break(breaks, out.len());
                    }
                }
                Ascii::Separator if letter_spaced(input, i, 1) => noise_run += 1,
                Ascii::Separator => {
                    noise_run = 0;
                    add_break(breaks, out.len());
                }
                Ascii::Break | Ascii::Copy => {
                    noise_run = 0;
                    add_break(breaks, out.len());
                    add_break(clauses, out.len());
                    match b {
                        b'\n' => {
                            add_break(sentences, out.len());
                            add_break(paragraphs, out.len());
                        }
                        b'!' | b'?' => add_break(sentences, out.len()),
                        _ => {}
                    }
                }
            }
            i += 1;
            run_start = i;
            continue;
        }
        // three-byte characters of the CJK blocks: the bulk of Chinese text
        if (0xE3..=0xE9).contains(&b) && i + 2 < bytes.len() {
            let cp = ((b as u32 & 0x0F) << 12)
                | ((bytes[i + 1] as u32 & 0x3F) << 6)
                | (bytes[i + 2] as u32 & 0x3F);
            if (CJK_FIRST..=CJK_LAST).contains(&cp) {
                noise_run = 0;
                let k = (cp - CJK_FIRST) as usize;
                if changes[k / 64] & (1 << (k % 64)) != 0 {
                    flush(out, map, input, run_start, i);
                    map.push_linear(out.len(), i, 3);
                    out.push(simplified[k]);
                    run_start = i + 3;
                }
                i += 3;
                continue;
            }
        }
        // everything else, one character at a time
        let c = input[i..].chars().next().unwrap_or('\u{FFFD}');
        let len = c.len_utf8();
        let mut class = classify(c);
        if class == CharClass::Keep(c) {
            noise_run = 0;
            i += len;
            continue;
        }
        flush(out, map, input, run_start, i);
        if let Some(kept) = digit_joiner_form(c)
            && noise_run == 0
            && joins_after(out.as_bytes().last().copied())
            && joins_before(input[i + len..].chars().next())
        {
            class = CharClass::Keep(kept);
        }
        if !matches!(class, CharClass::Keep(_)) {
            digit_gap(out, map, input, (i, len), &mut split_at);
        }
        match class {
            CharClass::Keep(k) => {
                noise_run = 0;
                if k.len_utf8() == len {
                    map.push_linear(out.len(), i, len);
                } else {
                    map.push_atomic(out.len(), i..i + len);
                }
                out.push(k);
            }
            CharClass::Noise => {
                noise_run += 1;
                if noise_run == MAX_NOISE_RUN + 1 {
                    add_break(breaks, out.len());
                }
            }
            CharClass::Separator if letter_spaced(input, i, len) => noise_run += 1,
            CharClass::Separator => {
                noise_run = 0;
                add_break(breaks, out.len());
            }
            CharClass::Break => {
                noise_run = 0;
                add_break(breaks, out.len());
                add_break(clauses, out.len());
                if matches!(
                    c,
                    '。' | '｡' | '！' | '？' | '\u{FE52}' | '\u{FE56}' | '\u{FE57}'
                ) {
                    add_break(sentences, out.len());
                }
            }
        }
        i += len;
        run_start = i;
    }
    flush(out, map, input, run_start, i);
    map.finish(out.len(), input.len());
}

/// Whether the separator at `input[i..i + len]` spaces out single
/// characters (保/本/保/息, 稳｜赚): a CJK character on each side, neither of
/// them part of a longer run of CJK characters (微信/支付宝 lists two items
/// and stays separated). Such a separator is noise, like the spaces of
/// 保 本 保 息.
fn letter_spaced(input: &str, i: usize, len: usize) -> bool {
    let cjk = |c: Option<char>| c.is_some_and(|c| (0x3400..=0x9FFF).contains(&(c as u32)));
    let mut before = input[..i].chars().rev();
    let mut after = input[i + len..].chars();
    cjk(before.next()) && !cjk(before.next()) && cjk(after.next()) && !cjk(after.next())
}

/// Normalizes a rule term; the same function as for text, so that both sides
/// meet in one form.
pub fn normalize_term(term: &str) -> String {
    normalize(term).text
}

/// Which normalizations were needed to see a match in `written` (the input
/// text of the match): reported with each hit so a reviewer knows an evasion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Normalizations {
    pub width: bool,
    pub traditional: bool,
    pub noise: bool,
    pub case: bool,
}

impl Normalizations {
    pub fn of(written: &str) -> Self {
        let mut n = Self::default();
        for c in written.chars() {
            let cp = c as u32;
            if (0xFF01..=0xFF5E).contains(&cp) || cp == 0x3000 {
                n.width = true;
            }
            let class = classify(c);
            match class {
                CharClass::Noise | CharClass::Break | CharClass::Separator => n.noise = true,
                CharClass::Keep(k) => {
                    if (0x3400..=0x9FFF).contains(&cp) && k != c {
                        n.traditional = true;
                    }
                    let base = if (0xFF01..=0xFF5E).contains(&cp) {
                        char::from_u32(cp - 0xFEE0).unwrap_or(c)
                    } else {
                        c
                    };
                    if base.is_uppercase() {
                        n.case = true;
                    }
                }
            }
        }
        n
    }

    pub fn names(self) -> Vec<&'static str> {
        let mut v = Vec::new();
        if self.width {
            v.push("width");
        }
        if self.traditional {
            v.push("traditional");
        }
        if self.noise {
            v.push("noise");
        }
        if self.case {
            v.push("case");
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> String {
        normalize(s).text
    }

    #[test]
    fn normalizing_into_a_used_buffer_leaves_nothing_of_the_last_text() {
        let texts = [
            "理財產品，保 本 保 息；年化 2 4 . 5 %。Ｐ２Ｐ平台\n第二段",
            "",
            "企业管理咨询",
            "A。B",
        ];
        let mut norm = Normalized::default();
        for (i, a) in texts.iter().enumerate() {
            for b in &texts[i..] {
                normalize_into(a, &mut norm);
                normalize_into(b, &mut norm);
                let fresh = normalize(b);
                assert_eq!(norm.text, fresh.text, "{a:?} then {b:?}");
                assert_eq!(norm.breaks, fresh.breaks, "{a:?} then {b:?}");
                assert_eq!(norm.clauses, fresh.clauses, "{a:?} then {b:?}");
                assert_eq!(norm.map.segment_count(), fresh.map.segment_count());
                for at in 0..=norm.text.len() {
                    let (got, want) = (norm.map.src_start(at), fresh.map.src_start(at));
                    assert_eq!(got, want, "{a:?} then {b:?} at {at}");
                    let (got, want) = (norm.map.src_end(at), fresh.map.src_end(at));
                    assert_eq!(got, want, "{a:?} then {b:?} at {at}");
                }
            }
        }
    }

    #[test]
    fn full_width_and_case_fold() {
        assert_eq!(n("Ｐ２Ｐ平台"), "p2p平台");
        assert_eq!(n("HOMS"), "homs");
    }

    #[test]
    fn traditional_becomes_simplified_same_length() {
        assert_eq!(n("理財產品保本保息穩賺不賠"), "理财产品保本保息稳赚不赔");
        assert_eq!("理財".len(), n("理財").len());
    }

    #[test]
    fn noise_inside_a_phrase_is_removed() {
        assert_eq!(n("保 本 保 息"), "保本保息");
        assert_eq!(n("保*本"), "保本");
        assert_eq!(n("资\u{200B}金\u{3000}池"), "资金池");
        assert_eq!(n("保·本|保_息"), "保本保息");
    }

    #[test]
    fn long_noise_runs_and_clause_punctuation_are_breaks() {
        let x = normalize("确保。本次");
        assert_eq!(x.text, "确保本次");
        assert!(x.spans_break(3, 9));
        let y = normalize("保     本");
        assert_eq!(y.text, "保本");
        assert!(y.spans_break(0, 6));
        let z = normalize("保 本");
        assert!(!z.spans_break(0, 6));
    }

    #[test]
    fn enumeration_marks_separate_words_but_not_clauses() {
        let x = normalize("实业投资、管理咨询");
        assert_eq!(x.text, "实业投资管理咨询");
        let s = x.text.find("投资管理").unwrap();
        assert!(x.spans_break(s, s + "投资管理".len()));
        assert!(!x.clause_between(0, x.text.len()));
        let y = normalize("项目投资/管理咨询");
        assert!(y.spans_break(y.text.find("投资").unwrap(), y.text.find("咨询").unwrap()));
        let z = normalize("不得从事，代客理财");
        assert!(z.clause_between(0, z.text.len()));
        // two-character items stay apart
        let w = normalize("微信/支付宝/银联");
        let s = w.text.find("信支").unwrap();
        assert!(w.spans_break(s, s + "信支".len()));
    }

    #[test]
    fn slashes_between_single_characters_are_noise() {
        for spaced in [
            "保/本/保/息",
            "保／本／保／息",
            "稳|赚|不|赔",
            "保、本、保、息",
        ] {
            let x = normalize(spaced);
            let t = &x.text;
            assert!(!x.spans_break(0, t.len()), "{spaced} → {t}");
            assert_eq!(&spaced[x.map.map_range(0..t.len())], spaced);
        }
        assert_eq!(normalize("保／本／保／息，放心").text, "保本保息放心");
    }

    #[test]
    fn digits_keep_decimal_point_and_ranges() {
        assert_eq!(n("年化 24.5%"), "年化24.5%");
        assert_eq!(n("年化８％-１２％"), "年化8%-12%");
        // dropped marks between digits keep the numbers apart
        assert_eq!(n("（2018-06-29）：3.87%"), "2018-06-29 3.87%");
        assert_eq!(n("12　　8.5%"), "12 8.5%");
        assert_eq!(n("12\t8.5%"), "12 8.5%");
        assert_eq!(n("期限12\n8.5%"), "期限12 8.5%");
        assert_eq!(n("8-12%"), "8-12%");
        assert_eq!(n("１,０００元"), "1,000元");
    }

    #[test]
    fn offsets_map_back_through_evasions() {
        let input = "平台保 本 保 息啊";
        let x = normalize(input);
        let s = x.text.find("保本保息").unwrap();
        let r = x.map.map_range(s..s + "保本保息".len());
        assert_eq!(&input[r], "保 本 保 息");
        let input = "Ｐ２Ｐ";
        let x = normalize(input);
        assert_eq!(&input[x.map.map_range(0..3)], "Ｐ２Ｐ");
    }

    #[test]
    fn gap_before_sees_dropped_separators() {
        let x = normalize("a P2P");
        let p = x.text.find("p2p").unwrap();
        assert!(x.gap_before(p));
        let y = normalize("top2p");
        assert!(!y.gap_before(y.text.find("p2p").unwrap()));
    }

    #[test]
    fn normalizations_report_what_was_needed() {
        let k = Normalizations::of("Ｐ２Ｐ");
        assert!(k.width && k.case && !k.noise && !k.traditional);
        let k = Normalizations::of("理財");
        assert!(k.traditional && !k.width);
        let k = Normalizations::of("保 本");
        assert!(k.noise);
    }
}
