//! Large documents in bounded memory: a document over [`WINDOWED_ABOVE`]
//! bytes is read in windows of about [`WINDOW_BYTES`] instead of whole.
//!
//! Read whole, a document costs several times its size (decoded text,
//! visible text, normalized text and their offset maps): a 200 MB
//! single-line file ran at 1.06 GB. Read in windows, it costs the raw bytes
//! plus one window's worth of derived text.
//!
//! **Cuts.** Windows meet at *cuts* chosen where a reader would break: a
//! paragraph break (after a line break in text; before a tag, outside
//! `<script>`, `<style>`, `<textarea>` and comments, in HTML), else after a
//! sentence mark (。！？, UTF-8 only), else between two characters (any
//! UTF-8 boundary; in a legacy encoding, before an ASCII byte below `0`,
//! which no GBK, GB18030 or Big5 character contains). UTF-16 is never cut:
//! such a document is read whole ([`Scanner::scan_large`] returns `None`).
//!
//! **Overlap and ownership.** Each window is read with [`MARGIN_BYTES`] more
//! on each side (snapped to a cut too), and keeps only the candidates that
//! *start* between its two cuts: a match, a pattern's clause or sentence
//! window, a stated rate or a cue near a cut is read whole by the window
//! that owns it and by no other, so nothing is lost or counted twice. Where
//! the cuts are paragraph breaks (any document with line breaks or block
//! tags), every passage a candidate is judged in lies inside its window and
//! the result equals a whole read. In a paragraph longer than a window (a
//! single line of hundreds of MB), a candidate is judged on its paragraph as
//! far as the margin reaches: a passage voice or an opening quotation mark
//! more than 64 KiB away is not seen.
//!
//! **Page-wide facts** need the whole page, so they come from a first pass
//! over the windows before the second pass judges candidates: the page's
//! voice (its head is in the first window; page-scope cues anywhere) and its
//! activity profile (counted by ownership, summed; the first occurrence is
//! the earliest window's). The first pass reads the document a second time
//! (about twice the CPU of a whole read) rather than keeping candidates
//! whose judgement waits for facts found later: a rule's needed activity,
//! the lending profile that decides how a rate is read and a page voice
//! found at the end all change decisions made near the start. Rules that
//! need another rule's hit, and "first occurrence per rule term" (`repeats`),
//! are settled across windows as the windows are read.

use std::collections::HashMap;

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use super::activity::{ActivityFound, ActivityProfile};
use super::passage::{Reason, ReasonCode};
use super::{Found, Hit, RuleKind, Scanner, text_span};
use crate::rules::{Activity, Field};
use crate::text::decode::{choose, decode_part};
use crate::text::{CharsetSource, DocKind, Normalized, TextDoc, looks_like_html, normalize};

/// Documents larger than this (bytes) are read in windows.
pub const WINDOWED_ABOVE: usize = 32 << 20;
/// The distance between two cuts (before snapping to a break).
pub const WINDOW_BYTES: usize = 4 << 20;
/// What each window reads beyond its cuts, on each side.
pub const MARGIN_BYTES: usize = 64 << 10;
/// How far a cut is looked for past its target, for each kind of break.
const SEARCH_BYTES: usize = 256 << 10;

/// Facts about the whole page, from the first pass.
#[derive(Debug, Clone, Default)]
pub(super) struct PageFacts {
    pub voice: Option<String>,
    pub activities: Vec<Activity>,
}

/// One window as `find_page_part` sees it.
pub(super) struct Part<'a> {
    pub facts: &'a PageFacts,
    /// Whether the window owns the candidate at these normalized offsets.
    pub owns: &'a dyn Fn(&Normalized, usize, usize) -> bool,
}

/// A document read in windows: what [`super::ScannedDoc`] holds, less the
/// document's text (never held whole).
#[derive(Debug, Clone)]
pub struct LargeScan {
    pub hits: Vec<Hit>,
    /// Dropped candidates (with `explain`).
    pub dropped: Vec<Hit>,
    pub activities: ActivityProfile,
    pub encoding: &'static Encoding,
    pub charset_source: CharsetSource,
    /// How many windows it was read in.
    pub windows: usize,
}

/// A window: the raw range it reads, and the range it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    read: (usize, usize),
    own: (usize, usize),
}

impl Scanner {
    /// Scans `raw` like [`Scanner::scan_document`] (or
    /// [`Scanner::explain_document`] with `explain`), window by window, in
    /// memory bounded by the window size (see the module doc for what is
    /// exact). `None` when the document cannot be cut (UTF-16, or no break
    /// found): the caller reads it whole.
    pub fn scan_large(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
        explain: bool,
    ) -> Option<LargeScan> {
        self.scan_windows(raw, kind, header_charset, explain, WINDOW_BYTES)
    }

    fn scan_windows(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
        explain: bool,
        window_bytes: usize,
    ) -> Option<LargeScan> {
        let (encoding, source, bom) = choose(raw, header_charset);
        if encoding == UTF_16LE || encoding == UTF_16BE {
            return None;
        }
        let utf8 = encoding == UTF_8;
        let is_html = match kind {
            DocKind::Html => true,
            DocKind::Text => false,
            DocKind::Sniff => looks_like_html(&raw[bom..raw.len().min(bom + 4096)]),
        };
        let margin = MARGIN_BYTES.min(window_bytes);
        let windows = windows(raw, bom, is_html, utf8, window_bytes, margin)?;
        // a window decoded, its text extracted and normalized
        let read = |w: &Window| {
            let part = &raw[w.read.0..w.read.1];
            let doc = TextDoc::from_decoded(decode_part(part, encoding, source), is_html);
            let norm = normalize(&doc.visible);
            (doc, norm)
        };
        // whether window `w` owns the candidate at `s..e` of its text
        let owns_in = |w: &Window, doc: &TextDoc, norm: &Normalized, s: usize, e: usize| {
            let at = doc.raw_span(text_span(norm, s, e)).start + w.read.0;
            w.own.0 <= at && at < w.own.1
        };

        // first pass: the page's voice and activity profile
        let mut voice_cues = Vec::new();
        let mut found: Vec<Option<ActivityFound>> = vec![None; Activity::ALL.len()];
        for (i, w) in windows.iter().enumerate() {
            let (doc, norm) = read(w);
            let owns = |n: &Normalized, s: usize, e: usize| owns_in(w, &doc, n, s, e);
            let (counts, cues) = self.page_facts_part(&norm, i == 0, &owns);
            voice_cues.extend(cues);
            for c in counts {
                let slot = &mut found[c.activity.index()];
                match slot {
                    Some(a) => a.count += c.count,
                    None => {
                        let text = text_span(&norm, c.start, c.end);
                        let span = doc.raw_span(text);
                        let matched = doc.written(&raw[w.read.0..w.read.1], span);
                        *slot = Some(ActivityFound {
                            activity: c.activity,
                            count: c.count,
                            term: norm.text[c.start..c.end].to_owned(),
                            matched,
                            raw: crate::text::RawSpan {
                                start: span.start + w.read.0,
                                end: span.end + w.read.0,
                            },
                        });
                    }
                }
            }
        }
        let voice = self.page_voice(&voice_cues);
        let activities = ActivityProfile {
            found: if voice.is_some() {
                // a page that reports or warns is about these businesses
                Vec::new()
            } else {
                found.into_iter().flatten().collect()
            },
        };
        let facts = PageFacts {
            voice,
            activities: activities.found.iter().map(|a| a.activity).collect(),
        };

        // second pass: candidates, judged in their windows
        let mut hits: Vec<Hit> = Vec::new();
        let mut hit_rules: Vec<usize> = Vec::new();
        let mut dropped: Vec<Hit> = Vec::new();
        let mut first: HashMap<(usize, usize), usize> = HashMap::new();
        let mut first_text: HashMap<(usize, String), usize> = HashMap::new();
        for w in &windows {
            let (doc, norm) = read(w);
            let part_raw = &raw[w.read.0..w.read.1];
            let owns = |n: &Normalized, s: usize, e: usize| owns_in(w, &doc, n, s, e);
            let part = Part {
                facts: &facts,
                owns: &owns,
            };
            let page = self.find_page_part(&norm, &doc.visible, explain, Some(&part));
            let to_hit = |f: &Found| {
                let text = text_span(&norm, f.start, f.end);
                let span = doc.raw_span(text);
                let matched = doc.written(part_raw, span);
                let mut h = self
                    .make_hit(Field::Page, f, &norm, &doc.visible, text, span, matched)
                    .with_snippet(&doc.visible);
                h.raw.start += w.read.0;
                h.raw.end += w.read.0;
                h
            };
            dropped.extend(page.dropped.iter().map(to_hit));
            // first occurrences across the page, as `first_occurrences` keeps them
            for f in &page.kept {
                let seen = match self.rules[f.rule].kind {
                    RuleKind::Yield => None,
                    RuleKind::Pattern => first_text
                        .get(&(f.rule, norm.text[f.start..f.end].to_owned()))
                        .copied(),
                    RuleKind::Term => first.get(&(f.rule, f.term)).copied(),
                };
                if let Some(i) = seen {
                    hits[i].repeats += 1;
                    continue;
                }
                let i = hits.len();
                match self.rules[f.rule].kind {
                    RuleKind::Yield => {}
                    RuleKind::Pattern => {
                        first_text.insert((f.rule, norm.text[f.start..f.end].to_owned()), i);
                    }
                    RuleKind::Term => {
                        for &t in std::iter::once(&f.term).chain(&f.absorbed) {
                            first.entry((f.rule, t)).or_insert(i);
                        }
                    }
                }
                hits.push(to_hit(f));
                hit_rules.push(f.rule);
            }
        }
        // rules that need another rule's hit on the page
        let kept_rules: Vec<usize> = hit_rules
            .iter()
            .copied()
            .filter(|&r| self.rules[r].needs_rules.is_empty())
            .collect();
        let mut kept = Vec::with_capacity(hits.len());
        for (mut h, r) in hits.into_iter().zip(hit_rules) {
            let needs = &self.rules[r].needs_rules;
            if needs.is_empty() || needs.iter().any(|n| kept_rules.contains(n)) {
                kept.push(h);
            } else if explain {
                let ids: Vec<&str> = needs.iter().map(|&n| self.rules[n].id.0.as_str()).collect();
                h.reason = Reason::new(
                    ReasonCode::MissingContext,
                    format!("no hit of {} on the page", ids.join(" or ")),
                );
                dropped.push(h);
            }
        }
        dropped.sort_by_key(|h| (h.raw.start, h.raw.end));
        Some(LargeScan {
            hits: kept,
            dropped,
            activities,
            encoding,
            charset_source: source,
            windows: windows.len(),
        })
    }
}

/// The windows of `raw[start..]`: cuts about `window_bytes` apart, each
/// window reading `margin` more on each side. `None` when no cut is found.
fn windows(
    raw: &[u8],
    start: usize,
    is_html: bool,
    utf8: bool,
    window_bytes: usize,
    margin: usize,
) -> Option<Vec<Window>> {
    let len = raw.len();
    let mut cuts = vec![start];
    let mut at = start;
    while len - at > window_bytes + window_bytes / 4 {
        let next = snap(raw, at + window_bytes, is_html, utf8, true, SEARCH_BYTES)?;
        if next <= at || next >= len {
            break;
        }
        cuts.push(next);
        at = next;
    }
    cuts.push(len);
    let n = cuts.len() - 1;
    Some(
        (0..n)
            .map(|i| {
                let own = (cuts[i], cuts[i + 1]);
                let lo = if i == 0 {
                    start
                } else {
                    snap(
                        raw,
                        own.0.saturating_sub(margin).max(start),
                        is_html,
                        utf8,
                        false,
                        margin,
                    )
                    .filter(|&p| p >= start && p <= own.0)
                    .unwrap_or(own.0)
                };
                let hi = if i + 1 == n {
                    len
                } else {
                    snap(raw, (own.1 + margin).min(len), is_html, utf8, true, margin)
                        .filter(|&p| p >= own.1)
                        .unwrap_or(own.1)
                };
                Window {
                    read: (lo, hi),
                    own,
                }
            })
            .collect(),
    )
}

/// A cut near `pos`, looked for forward (or backward) within `limit` bytes:
/// a paragraph break first, then a sentence mark, then a character
/// boundary. Returns the offset the next window starts at.
fn snap(
    raw: &[u8],
    pos: usize,
    is_html: bool,
    utf8: bool,
    forward: bool,
    limit: usize,
) -> Option<usize> {
    let len = raw.len();
    if pos >= len {
        return Some(len);
    }
    let range: Box<dyn Iterator<Item = usize>> = if forward {
        Box::new(pos..len.min(pos + limit))
    } else {
        Box::new((pos.saturating_sub(limit)..=pos).rev())
    };
    let candidates: Vec<usize> = range.collect();
    let paragraph = |p: usize| {
        if is_html {
            raw[p] == b'<'
                && raw
                    .get(p + 1)
                    .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'/')
                && !inside_raw_text(raw, p)
        } else {
            p > 0 && raw[p - 1] == b'\n'
        }
    };
    let sentence = |p: usize| {
        utf8 && p >= 3
            && {
                let t = &raw[p - 3..p];
                t == "。".as_bytes() || t == "！".as_bytes() || t == "？".as_bytes()
            }
            && (!is_html || !inside_raw_text(raw, p))
    };
    let boundary = |p: usize| {
        (if utf8 {
            raw[p] & 0xC0 != 0x80
        } else {
            raw[p] < b'0'
        }) && (!is_html || !inside_raw_text(raw, p))
    };
    candidates
        .iter()
        .copied()
        .find(|&p| paragraph(p))
        .or_else(|| candidates.iter().copied().find(|&p| sentence(p)))
        .or_else(|| candidates.iter().copied().find(|&p| boundary(p)))
}

/// Whether `p` lies inside an HTML element whose content is not markup
/// (`<script>`, `<style>`, `<textarea>`) or a comment, or inside a tag:
/// judged from the 64 KiB before it.
fn inside_raw_text(raw: &[u8], p: usize) -> bool {
    const LOOK_BACK: usize = 64 << 10;
    let from = p.saturating_sub(LOOK_BACK);
    let before: Vec<u8> = raw[from..p].iter().map(u8::to_ascii_lowercase).collect();
    let last = |needle: &[u8]| memchr::memmem::rfind(&before, needle);
    for (open, close) in [
        (&b"<script"[..], &b"</script"[..]),
        (b"<style", b"</style"),
        (b"<textarea", b"</textarea"),
        (b"<!--", b"-->"),
    ] {
        if let Some(o) = last(open)
            && last(close).is_none_or(|c| c < o)
        {
            return true;
        }
    }
    // inside a tag: a `<` after the last `>`
    match (
        memchr::memrchr(b'<', &before),
        memchr::memrchr(b'>', &before),
    ) {
        (Some(lt), gt) => gt.is_none_or(|g| g < lt),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static SCANNER: LazyLock<Scanner> =
        LazyLock::new(|| Scanner::bundled().expect("bundled rules"));

    /// Hits as (rule, start, end, matched, repeats, annual rate).
    fn keys(hits: &[Hit]) -> Vec<(String, usize, usize, String, usize, Option<f64>)> {
        let mut v: Vec<_> = hits
            .iter()
            .map(|h| {
                (
                    h.rule.0.clone(),
                    h.raw.start,
                    h.raw.end,
                    h.matched.clone(),
                    h.repeats,
                    h.annual_rate,
                )
            })
            .collect();
        v.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
        v
    }

    /// A page of many paragraphs: promotions, negated and quoted mentions,
    /// rates, patterns and activity words, so that many fall near cuts.
    fn page(paragraphs: usize, sep: &str) -> String {
        let items = [
            "本平台承诺保本保息，安全无忧",
            "预期年化收益率高达18%，远超银行",
            "监管部门明确要求网贷机构不得设立资金池，严禁承诺保本保息",
            "平台设立资金池统一调配",
            "借款逾期由平台先行垫付",
            "本产品不保本，理财有风险，投资需谨慎",
            "新用户注册送888元体验金",
            "月息2分，按月付息",
            "各单位要合理分配资金，提高使用效率",
            "网络借贷平台的理财产品",
        ];
        let mut s = String::new();
        for i in 0..paragraphs {
            s.push_str(&format!("第{i}段，今天天气很好，"));
            s.push_str(items[(i * 7) % items.len()]);
            s.push('。');
            s.push_str(sep);
        }
        s
    }

    fn compare(raw: &[u8], kind: DocKind, window: usize) -> usize {
        let whole = SCANNER.explain_document(raw, kind, None);
        let large = SCANNER
            .scan_windows(raw, kind, None, true, window)
            .expect("cut into windows");
        assert!(large.windows > 3, "{} windows", large.windows);
        assert_eq!(keys(&large.hits), keys(&whole.hits));
        assert_eq!(large.activities, whole.activities);
        assert_eq!(keys(&large.dropped), keys(&whole.dropped));
        large.windows
    }

    #[test]
    fn windows_cut_at_line_breaks_equal_a_whole_read() {
        let text = page(400, "\n");
        compare(text.as_bytes(), DocKind::Text, 2048);
    }

    #[test]
    fn windows_cut_between_html_blocks_equal_a_whole_read() {
        let body = page(400, "</p><p>").replace("第0段", "<p>第0段");
        let html = format!(
            "<html><head><title>t</title><script>var a = '<p>'; if (a<b) {{}}</script></head><body>{body}</p><p>主办单位：甲投资管理有限公司</p></body></html>"
        );
        compare(html.as_bytes(), DocKind::Html, 2048);
    }

    #[test]
    fn one_long_line_is_cut_at_sentences_with_the_same_hits() {
        let text = page(400, "");
        assert!(!text.contains('\n'));
        compare(text.as_bytes(), DocKind::Text, 2048);
    }

    #[test]
    fn a_page_voice_late_in_the_page_reaches_the_first_window() {
        // a page-scope voice (bylines) is a page fact: read in the first pass
        let mut text = page(300, "\n");
        text.push_str("本报讯 记者 责任编辑：张三\n");
        compare(text.as_bytes(), DocKind::Text, 2048);
    }

    #[test]
    fn gbk_text_is_cut_only_between_characters() {
        let text = page(300, "\n");
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        let windows = compare(&gbk, DocKind::Text, 2048);
        assert!(windows > 3);
    }
}
