//! Large documents in bounded memory: a document over [`WINDOWED_ABOVE`]
//! bytes is read in windows of about [`WINDOW_BYTES`] instead of whole, and
//! its hits are handed to a [`HitSink`] instead of collected.
//!
//! Read whole, a document costs several times its size (decoded text,
//! visible text, normalized text and their offset maps): a 200 MB
//! single-line file ran at 1.06 GB. Read in windows, it costs the raw bytes
//! plus one window's worth of derived text, and the hits held for output
//! up to [`HOLD_BYTES`] (below).
//!
//! **Cuts.** Windows meet at *cuts* chosen where a reader would break: a
//! paragraph break (after a line break in text; before a tag, in HTML),
//! else after a sentence mark (。！？, UTF-8 only), else between two
//! characters (any UTF-8 boundary; in a legacy encoding, before an ASCII
//! byte below `0`, which no GBK, GB18030 or Big5 character contains).
//! UTF-16 and ISO-2022-JP (whose characters are made of ASCII bytes) are
//! never cut: such a document is read whole ([`Scanner::scan_large`]
//! returns `None`). In HTML, no cut falls inside markup as `text::html`
//! reads it: a tag (quotes hide `>`), a comment, or the content of an
//! element that is never shown (`<script>`, `<style>`, `<template>` …),
//! however long: one forward pass over the raw bytes ([`MarkupMap`]) knows
//! where each of them ends, and the search for a cut moves past them. A
//! stretch of markup longer than a window (a 10 MB inline script, a
//! `data:` URI) is stepped over whole, and one that never ends (a script
//! with no end tag) ends the cutting: the last window runs to the end of
//! the document. Cutting inside it instead would make the window after the
//! cut read the rest of a script as text, with hits a whole read never
//! has; the price is a window (and the margin of the next) as long as that
//! markup: its decoded bytes, none of them visible text.
//!
//! **Overlap and ownership.** Each window is read with [`MARGIN_BYTES`] more
//! on each side (snapped to a cut too; a margin that ends inside markup
//! reaches on past it by the margin again, so that the text before and
//! after a long script, which a whole read joins, is read together), and
//! keeps only the candidates that
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
//! found at the end all change decisions made near the start.
//!
//! **Hits are settled at the end of the page.** A hit is the first
//! occurrence of its rule term (or, for a pattern, of its text) and carries
//! how often the term recurs after it (`repeats`); a rule that needs another
//! rule's hit keeps its hits only if that rule has one anywhere on the page.
//! Both are known only when the last window has been judged, and the hits
//! are written in document order, so no hit can be written before the end.
//! The second pass therefore keeps a [`Ledger`] (per rule term and pattern
//! text, the count; per rule, whether it has a hit: bounded by the rules'
//! terms and the distinct pattern texts, never by the number of hits) and
//! holds the hits themselves while they take less than [`HOLD_BYTES`] —
//! any ordinary page, whose hits are then written from memory. Past that
//! (a page with a hit in every sentence: a million hits of about 500 bytes),
//! it lets them go and a third pass reads the windows again and writes each
//! hit as its window yields it, settled from the ledger; with `explain`,
//! the dropped candidates follow all hits and come from the same third
//! pass while they fit in [`HOLD_BYTES`], else from a fourth. Memory stays
//! bounded by a window and the ledger; time grows by one reading of the
//! document only where the hits would not have fitted. Reading again was
//! chosen over spilling hits to a temporary file: no disk (or tmpfs, which
//! is memory again) proportional to the hits, for one more reading of a
//! page that is rare (the third pass is about a third of the 47 s of CPU
//! that a 200 MB page with 3 million hits takes).

use std::collections::HashMap;

use encoding_rs::{Encoding, ISO_2022_JP, UTF_8, UTF_16BE, UTF_16LE};

use super::activity::{ActivityFound, ActivityProfile};
use super::passage::{Reason, ReasonCode};
use super::{Found, Hit, PageFind, RuleKind, RuleMeta, Scanner, text_span};
use crate::rules::{Activity, Field};
use crate::text::decode::{choose, decode_part};
use crate::text::html::is_html_space;
use crate::text::{
    CharsetSource, DocKind, Normalized, RawSpan, TextDoc, looks_like_html, normalize,
};

/// Documents larger than this (bytes) are read in windows.
pub const WINDOWED_ABOVE: usize = 32 << 20;
/// The distance between two cuts (before snapping to a break).
pub const WINDOW_BYTES: usize = 4 << 20;
/// What each window reads beyond its cuts, on each side.
pub const MARGIN_BYTES: usize = 64 << 10;
/// How far a cut is looked for past its target, for each kind of break.
const SEARCH_BYTES: usize = 256 << 10;
/// The hits (and dropped candidates) held in memory until the end of the
/// page, in bytes as estimated by [`held_bytes`]; past it, they are read
/// again (see the module doc).
pub const HOLD_BYTES: usize = 16 << 20;
/// How often (bytes) [`MarkupMap`] notes a place to start reading from.
const RESTART_EVERY: usize = 64 << 10;

/// The sizes a large document is read with (tests make them small).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Sizes {
    pub window: usize,
    pub margin: usize,
    pub hold: usize,
}

impl Sizes {
    pub const DEFAULT: Sizes = Sizes {
        window: WINDOW_BYTES,
        margin: MARGIN_BYTES,
        hold: HOLD_BYTES,
    };
}

/// Where a large scan puts what it finds: the push model of ripgrep's
/// `Sink`, so that the scanner never holds more than it must.
///
/// The calls come in output order: [`begin`](HitSink::begin) once, then
/// every hit in document order with its final `repeats`, then (with
/// `explain`) every dropped candidate ordered by its raw offsets. An error
/// stops the scan and is returned by [`Scanner::scan_large`]; what was
/// handed over before it stays handed over.
pub trait HitSink {
    type Error;
    /// The document's encoding, before any hit.
    fn begin(
        &mut self,
        encoding: &'static Encoding,
        source: CharsetSource,
    ) -> Result<(), Self::Error>;
    fn hit(&mut self, hit: &Hit) -> Result<(), Self::Error>;
    /// A candidate that was dropped, and why (only with `explain`).
    fn dropped(&mut self, hit: &Hit) -> Result<(), Self::Error>;
}

/// What a large scan found besides its hits, which went to the sink.
#[derive(Debug, Clone)]
pub struct LargeScan {
    /// Hits handed to the sink.
    pub hits: usize,
    /// Dropped candidates handed to the sink (with `explain`).
    pub dropped: usize,
    pub activities: ActivityProfile,
    pub encoding: &'static Encoding,
    pub charset_source: CharsetSource,
    /// How many windows it was read in.
    pub windows: usize,
    /// How many times the windows were read: 2, or 3 and 4 when the hits
    /// (and the dropped candidates) did not fit in [`HOLD_BYTES`].
    pub passes: usize,
}

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

/// A window: the raw range it reads, and the range it owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    read: (usize, usize),
    own: (usize, usize),
}

/// A window decoded, its text extracted and normalized.
struct WindowText {
    doc: TextDoc,
    norm: Normalized,
}

/// A document cut into windows, and how to read them.
struct Windowed<'a> {
    scanner: &'a Scanner,
    raw: &'a [u8],
    windows: Vec<Window>,
    encoding: &'static Encoding,
    source: CharsetSource,
    is_html: bool,
}

impl Windowed<'_> {
    fn read(&self, w: &Window) -> WindowText {
        let part = &self.raw[w.read.0..w.read.1];
        let doc =
            TextDoc::from_decoded(decode_part(part, self.encoding, self.source), self.is_html);
        let norm = normalize(&doc.visible);
        WindowText { doc, norm }
    }

    /// Whether window `w` owns the candidate at `s..e` of its text.
    fn owns(w: &Window, t: &WindowText, s: usize, e: usize) -> bool {
        let at = t.doc.raw_span(text_span(&t.norm, s, e)).start + w.read.0;
        w.own.0 <= at && at < w.own.1
    }

    /// The candidates window `w` owns, judged with the page's facts.
    fn find(&self, w: &Window, t: &WindowText, facts: &PageFacts, explain: bool) -> PageFind {
        let owns = |_: &Normalized, s: usize, e: usize| Self::owns(w, t, s, e);
        let part = Part { facts, owns: &owns };
        self.scanner
            .find_page_part(&t.norm, &t.doc.visible, explain, Some(&part))
    }

    /// The hit of candidate `f` of window `w`, its offsets in the whole
    /// document.
    fn hit(&self, w: &Window, t: &WindowText, f: &Found) -> Hit {
        let text = text_span(&t.norm, f.start, f.end);
        let span = t.doc.raw_span(text);
        let matched = t.doc.written(&self.raw[w.read.0..w.read.1], span);
        let mut h = self
            .scanner
            .make_hit(Field::Page, f, &t.norm, &t.doc.visible, text, span, matched)
            .with_snippet(&t.doc.visible);
        h.raw.start += w.read.0;
        h.raw.end += w.read.0;
        h
    }

    /// The first pass: the page's voice and activity profile.
    fn page_facts(&self) -> (PageFacts, ActivityProfile) {
        let scanner = self.scanner;
        let mut voice_cues = Vec::new();
        let mut found: Vec<Option<ActivityFound>> = vec![None; Activity::ALL.len()];
        for (i, w) in self.windows.iter().enumerate() {
            let t = self.read(w);
            let owns = |_: &Normalized, s: usize, e: usize| Self::owns(w, &t, s, e);
            let (counts, cues) = scanner.page_facts_part(&t.norm, i == 0, &owns);
            voice_cues.extend(cues);
            for c in counts {
                let slot = &mut found[c.activity.index()];
                match slot {
                    Some(a) => a.count += c.count,
                    None => {
                        let text = text_span(&t.norm, c.start, c.end);
                        let span = t.doc.raw_span(text);
                        let matched = t.doc.written(&self.raw[w.read.0..w.read.1], span);
                        *slot = Some(ActivityFound {
                            activity: c.activity,
                            count: c.count,
                            term: t.norm.text[c.start..c.end].to_owned(),
                            matched,
                            raw: RawSpan {
                                start: span.start + w.read.0,
                                end: span.end + w.read.0,
                            },
                        });
                    }
                }
            }
        }
        let voice = scanner.page_voice(&voice_cues);
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
        (facts, activities)
    }
}

/// First occurrences across the windows, as `first_occurrences` keeps them
/// on a page read whole, and the rules with a hit: what settles each hit
/// (its `repeats`, whether a rule it needs has a hit) once every window has
/// been judged. Sized by the rules' terms and the distinct texts of pattern
/// hits, not by the number of hits.
struct Ledger {
    /// (rule, term) of term rules: the first occurrence's slot. A term
    /// merged into a hit (保本保息 in 承诺保本保息) points to that hit.
    terms: HashMap<(usize, usize), u32>,
    /// Per pattern rule, its hits' normalized texts: the slot.
    texts: HashMap<usize, HashMap<String, u32>>,
    /// Per slot: how many more times its term or text occurred.
    repeats: Vec<u32>,
    /// Per rule: whether it has a hit and needs no other rule's.
    has_hit: Vec<bool>,
}

/// What a candidate kept by a window is on the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occurrence {
    /// A first occurrence: a hit, with its slot in the ledger (none for a
    /// stated yield, each of which is a hit of its own).
    First(Option<u32>),
    /// A later occurrence, counted in its first's `repeats`.
    Repeat,
}

/// What becomes of a first occurrence once the page is read.
enum Fate {
    Hit,
    /// Dropped: no hit of a rule it needs (shown with `explain`).
    Dropped,
}

impl Ledger {
    fn new(rules: usize) -> Self {
        Ledger {
            terms: HashMap::new(),
            texts: HashMap::new(),
            repeats: Vec::new(),
            has_hit: vec![false; rules],
        }
    }

    /// Records `f`, the next candidate kept in document order.
    fn record(&mut self, rules: &[RuleMeta], norm: &Normalized, f: &Found) -> Occurrence {
        if rules[f.rule].needs_rules.is_empty() {
            self.has_hit[f.rule] = true;
        }
        let next = self.repeats.len() as u32;
        let seen = match rules[f.rule].kind {
            RuleKind::Yield => return Occurrence::First(None),
            RuleKind::Pattern => {
                let texts = self.texts.entry(f.rule).or_default();
                let text = &norm.text[f.start..f.end];
                match texts.get(text) {
                    Some(&slot) => Some(slot),
                    None => {
                        texts.insert(text.to_owned(), next);
                        None
                    }
                }
            }
            RuleKind::Term => match self.terms.get(&(f.rule, f.term)) {
                Some(&slot) => Some(slot),
                None => {
                    for &t in std::iter::once(&f.term).chain(&f.absorbed) {
                        self.terms.entry((f.rule, t)).or_insert(next);
                    }
                    None
                }
            },
        };
        match seen {
            Some(slot) => {
                self.repeats[slot as usize] += 1;
                Occurrence::Repeat
            }
            None => {
                self.repeats.push(0);
                Occurrence::First(Some(next))
            }
        }
    }

    /// The slot `f` was given by [`Ledger::record`] (None for a yield).
    fn slot(&self, rules: &[RuleMeta], norm: &Normalized, f: &Found) -> Option<u32> {
        match rules[f.rule].kind {
            RuleKind::Yield => None,
            RuleKind::Pattern => self
                .texts
                .get(&f.rule)
                .and_then(|t| t.get(&norm.text[f.start..f.end]))
                .copied(),
            RuleKind::Term => self.terms.get(&(f.rule, f.term)).copied(),
        }
    }

    fn fate(&self, rules: &[RuleMeta], rule: usize) -> Fate {
        let needs = &rules[rule].needs_rules;
        if needs.is_empty() || needs.iter().any(|&n| self.has_hit[n]) {
            Fate::Hit
        } else {
            Fate::Dropped
        }
    }

    /// The first occurrence `h` of `rule`, settled: its repeats, and the
    /// reason it is dropped if a rule it needs has no hit.
    fn settle(&self, scanner: &Scanner, mut h: Hit, rule: usize, slot: Option<u32>) -> (Fate, Hit) {
        if let Some(s) = slot {
            h.repeats += self.repeats[s as usize] as usize;
        }
        let fate = self.fate(&scanner.rules, rule);
        if let Fate::Dropped = fate {
            let needs = &scanner.rules[rule].needs_rules;
            let ids: Vec<&str> = needs
                .iter()
                .map(|&n| scanner.rules[n].id.0.as_str())
                .collect();
            h.reason = Reason::new(
                ReasonCode::MissingContext,
                format!("no hit of {} on the page", ids.join(" or ")),
            );
        }
        (fate, h)
    }
}

/// The ledger's first occurrences found again, in the same order, by a
/// later pass over the same windows: a candidate is a first occurrence if
/// its slot is the next one not yet seen.
struct Replay<'a> {
    ledger: &'a Ledger,
    next: u32,
}

impl Replay<'_> {
    fn occurrence(&mut self, rules: &[RuleMeta], norm: &Normalized, f: &Found) -> Occurrence {
        if rules[f.rule].kind == RuleKind::Yield {
            return Occurrence::First(None);
        }
        match self.ledger.slot(rules, norm, f) {
            Some(slot) if slot == self.next => {
                self.next += 1;
                Occurrence::First(Some(slot))
            }
            Some(_) => Occurrence::Repeat,
            // the windows read the same twice: not reached
            None => Occurrence::Repeat,
        }
    }
}

/// Roughly what a hit costs in memory, for [`HOLD_BYTES`] (by the lengths
/// of its strings, which a copy keeps, not their capacities).
fn held_bytes(h: &Hit) -> usize {
    std::mem::size_of::<Hit>()
        + h.rule.0.len()
        + h.term.len()
        + h.matched.len()
        + h.snippet.len()
        + h.reason.detail.len()
}

/// Sorts a list of dropped candidates as a whole read orders them: by raw
/// offsets, ties in the order found (a stable sort).
fn sort_dropped(dropped: &mut [Hit]) {
    dropped.sort_by_key(|h| (h.raw.start, h.raw.end));
}

impl Scanner {
    /// Scans `raw` like [`Scanner::scan_document`] (or
    /// [`Scanner::explain_document`] with `explain`), window by window, in
    /// memory bounded by the window size, and hands the hits (and dropped
    /// candidates) to `sink` in the order a whole read lists them (see the
    /// module doc for what is exact). `Ok(None)` when the document cannot
    /// be cut (UTF-16, ISO-2022-JP, or no break found): nothing was handed
    /// to the sink, and the caller reads it whole. `Err`: the sink's error.
    pub fn scan_large<S: HitSink>(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
        explain: bool,
        sink: &mut S,
    ) -> Result<Option<LargeScan>, S::Error> {
        self.scan_windows(raw, kind, header_charset, explain, Sizes::DEFAULT, sink)
    }

    pub(crate) fn scan_windows<S: HitSink>(
        &self,
        raw: &[u8],
        kind: DocKind,
        header_charset: Option<&str>,
        explain: bool,
        sizes: Sizes,
        sink: &mut S,
    ) -> Result<Option<LargeScan>, S::Error> {
        let (encoding, source, bom) = choose(raw, header_charset);
        if encoding == UTF_16LE || encoding == UTF_16BE || encoding == ISO_2022_JP {
            return Ok(None);
        }
        let utf8 = encoding == UTF_8;
        let is_html = match kind {
            DocKind::Html => true,
            DocKind::Text => false,
            DocKind::Sniff => looks_like_html(&raw[bom..raw.len().min(bom + 4096)]),
        };
        let Some(windows) = windows(raw, bom, is_html, utf8, sizes) else {
            return Ok(None);
        };
        let doc = Windowed {
            scanner: self,
            raw,
            windows,
            encoding,
            source,
            is_html,
        };
        let (facts, activities) = doc.page_facts();
        sink.begin(encoding, source)?;
        let mut out = Counted {
            sink,
            hits: 0,
            dropped: 0,
        };
        let rules = &self.rules;

        // second pass: candidates judged, first occurrences recorded; the
        // hits held while they fit
        let mut ledger = Ledger::new(rules.len());
        let mut held: Option<Held> = Some(Held::default());
        for w in &doc.windows {
            let t = doc.read(w);
            let page = doc.find(w, &t, &facts, explain && held.is_some());
            for f in &page.kept {
                let occurrence = ledger.record(rules, &t.norm, f);
                if let (Some(h), Occurrence::First(slot)) = (&mut held, occurrence) {
                    h.hold_hit(doc.hit(w, &t, f), f.rule, slot);
                }
            }
            if let Some(h) = &mut held {
                for f in &page.dropped {
                    h.hold_dropped(doc.hit(w, &t, f));
                }
                if h.bytes > sizes.hold {
                    held = None;
                }
            }
        }
        let passes = match held {
            Some(held) => {
                held.write(self, &ledger, explain, &mut out)?;
                2
            }
            None => doc.write_again(&facts, &ledger, explain, sizes.hold, &mut out)?,
        };
        Ok(Some(LargeScan {
            hits: out.hits,
            dropped: out.dropped,
            activities,
            encoding,
            charset_source: source,
            windows: doc.windows.len(),
            passes,
        }))
    }
}

/// The sink, counting what it was handed.
struct Counted<'s, S> {
    sink: &'s mut S,
    hits: usize,
    dropped: usize,
}

impl<S: HitSink> Counted<'_, S> {
    fn hit(&mut self, h: &Hit) -> Result<(), S::Error> {
        self.hits += 1;
        self.sink.hit(h)
    }

    fn dropped(&mut self, h: &Hit) -> Result<(), S::Error> {
        self.dropped += 1;
        self.sink.dropped(h)
    }
}

/// The hits of the second pass, held until the page is settled.
#[derive(Default)]
struct Held {
    /// First occurrences in document order: the hit, its rule, its slot.
    hits: Vec<(Hit, usize, Option<u32>)>,
    dropped: Vec<Hit>,
    bytes: usize,
}

impl Held {
    fn hold_hit(&mut self, h: Hit, rule: usize, slot: Option<u32>) {
        self.bytes += held_bytes(&h);
        self.hits.push((h, rule, slot));
    }

    fn hold_dropped(&mut self, h: Hit) {
        self.bytes += held_bytes(&h);
        self.dropped.push(h);
    }

    /// Settles the held hits and writes them, then the dropped candidates.
    fn write<S: HitSink>(
        self,
        scanner: &Scanner,
        ledger: &Ledger,
        explain: bool,
        out: &mut Counted<'_, S>,
    ) -> Result<(), S::Error> {
        let mut dropped = self.dropped;
        for (h, rule, slot) in self.hits {
            match ledger.settle(scanner, h, rule, slot) {
                (Fate::Hit, h) => out.hit(&h)?,
                (Fate::Dropped, h) if explain => dropped.push(h),
                (Fate::Dropped, _) => {}
            }
        }
        sort_dropped(&mut dropped);
        for h in &dropped {
            out.dropped(h)?;
        }
        Ok(())
    }
}

impl Windowed<'_> {
    /// The third pass (and with `explain` maybe a fourth): the windows read
    /// again, each hit written as its window yields it, settled from the
    /// ledger. Returns the number of passes made in all.
    ///
    /// Dropped candidates come after all hits, ordered by raw offsets. Each
    /// window's (those it owns, and its first occurrences dropped for a
    /// missing rule) lie in its own range, so sorting them window by window
    /// gives the order of the whole list; they are held from the third
    /// pass while they fit, else read in a fourth.
    fn write_again<S: HitSink>(
        &self,
        facts: &PageFacts,
        ledger: &Ledger,
        explain: bool,
        hold: usize,
        out: &mut Counted<'_, S>,
    ) -> Result<usize, S::Error> {
        let rules = &self.scanner.rules;
        let mut replay = Replay { ledger, next: 0 };
        // dropped candidates held from this pass, and their size
        let mut dropped: Option<(Vec<Hit>, usize)> = explain.then(|| (Vec::new(), 0));
        for w in &self.windows {
            let t = self.read(w);
            let page = self.find(w, &t, facts, dropped.is_some());
            let mut missing = Vec::new();
            for f in &page.kept {
                let Occurrence::First(slot) = replay.occurrence(rules, &t.norm, f) else {
                    continue;
                };
                match ledger.settle(self.scanner, self.hit(w, &t, f), f.rule, slot) {
                    (Fate::Hit, h) => out.hit(&h)?,
                    (Fate::Dropped, h) if dropped.is_some() => missing.push(h),
                    (Fate::Dropped, _) => {}
                }
            }
            if let Some((list, bytes)) = &mut dropped {
                let mut window: Vec<Hit> =
                    page.dropped.iter().map(|f| self.hit(w, &t, f)).collect();
                window.append(&mut missing);
                sort_dropped(&mut window);
                *bytes += window.iter().map(held_bytes).sum::<usize>();
                list.append(&mut window);
                if *bytes > hold {
                    dropped = None;
                }
            }
        }
        if !explain {
            return Ok(3);
        }
        if let Some((list, _)) = dropped {
            for h in &list {
                out.dropped(h)?;
            }
            return Ok(3);
        }
        // fourth pass: the dropped candidates, window by window
        let mut replay = Replay { ledger, next: 0 };
        for w in &self.windows {
            let t = self.read(w);
            let page = self.find(w, &t, facts, true);
            let mut window: Vec<Hit> = page.dropped.iter().map(|f| self.hit(w, &t, f)).collect();
            for f in &page.kept {
                if let Occurrence::First(slot) = replay.occurrence(rules, &t.norm, f)
                    && let Fate::Dropped = ledger.fate(rules, f.rule)
                {
                    let (_, h) = ledger.settle(self.scanner, self.hit(w, &t, f), f.rule, slot);
                    window.push(h);
                }
            }
            sort_dropped(&mut window);
            for h in &window {
                out.dropped(h)?;
            }
        }
        Ok(4)
    }
}

/// The windows of `raw[start..]`: cuts about `sizes.window` apart, each
/// window reading `sizes.margin` more on each side. `None` when no cut is
/// found.
fn windows(
    raw: &[u8],
    start: usize,
    is_html: bool,
    utf8: bool,
    sizes: Sizes,
) -> Option<Vec<Window>> {
    let len = raw.len();
    let window_bytes = sizes.window;
    let margin = sizes.margin.min(window_bytes);
    let cutter = Cutter {
        raw,
        utf8,
        markup: is_html.then(|| MarkupMap::new(raw, start)),
    };
    let mut cuts = vec![start];
    let mut at = start;
    while len - at > window_bytes + window_bytes / 4 {
        let target = at + window_bytes;
        let next = match cutter.snap(target, true, SEARCH_BYTES) {
            Some(cut) => cut,
            // markup longer than the search: after it, however far (the
            // end of the document for markup that never ends)
            None => match cutter.markup_end(target) {
                Some(end) => end,
                None => cutter.between_characters(target, SEARCH_BYTES)?,
            },
        };
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
                    let from = cutter.past_markup(own.0.saturating_sub(margin), false, margin);
                    cutter
                        .snap(from.max(start), false, margin)
                        .filter(|&p| p >= start && p <= own.0)
                        .unwrap_or(own.0)
                };
                let hi = if i + 1 == n {
                    len
                } else {
                    let to = cutter.past_markup((own.1 + margin).min(len), true, margin);
                    cutter
                        .snap(to, true, margin)
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

/// Finds cuts in one document.
struct Cutter<'a> {
    raw: &'a [u8],
    utf8: bool,
    /// For HTML: where markup lies.
    markup: Option<MarkupMap<'a>>,
}

impl Cutter<'_> {
    /// Whether each offset of `lo..hi` lies outside markup.
    fn outside_markup(&self, lo: usize, hi: usize) -> Vec<bool> {
        match &self.markup {
            Some(m) => m.outside(lo, hi),
            None => vec![true; hi - lo],
        }
    }

    /// Whether a character starts at `p` (see the module doc for legacy
    /// encodings).
    fn char_starts(&self, p: usize) -> bool {
        if self.utf8 {
            self.raw[p] & 0xC0 != 0x80
        } else {
            self.raw[p] < b'0'
        }
    }

    /// A cut near `pos`, looked for forward (or backward) within `limit`
    /// bytes, outside markup: a paragraph break first, then a sentence
    /// mark, then a character boundary. Returns the offset the next window
    /// starts at.
    fn snap(&self, pos: usize, forward: bool, limit: usize) -> Option<usize> {
        let raw = self.raw;
        let len = raw.len();
        if pos >= len {
            return Some(len);
        }
        let (lo, hi) = if forward {
            (pos, len.min(pos + limit))
        } else {
            (pos.saturating_sub(limit), pos + 1)
        };
        let outside = self.outside_markup(lo, hi);
        let candidates = || -> Box<dyn Iterator<Item = usize>> {
            if forward {
                Box::new(lo..hi)
            } else {
                Box::new((lo..hi).rev())
            }
        };
        let ok = |p: usize| outside[p - lo];
        let paragraph = |p: usize| match self.markup {
            Some(_) => {
                raw[p] == b'<'
                    && raw
                        .get(p + 1)
                        .is_some_and(|&b| b.is_ascii_alphabetic() || b == b'/')
            }
            None => p > 0 && raw[p - 1] == b'\n',
        };
        let sentence = |p: usize| {
            self.utf8 && p >= 3 && {
                let t = &raw[p - 3..p];
                t == "。".as_bytes() || t == "！".as_bytes() || t == "？".as_bytes()
            }
        };
        candidates()
            .find(|&p| ok(p) && paragraph(p))
            .or_else(|| candidates().find(|&p| ok(p) && sentence(p)))
            .or_else(|| candidates().find(|&p| ok(p) && self.char_starts(p)))
    }

    /// The end of the markup `pos` lies inside, if it does.
    fn markup_end(&self, pos: usize) -> Option<usize> {
        Some(self.markup.as_ref()?.enclosing(pos)?.1)
    }

    /// Where a window's margin reaching to `pos` ends: if `pos` lies inside
    /// markup, `margin` bytes past it (after it when `forward`, before it
    /// if not), so that the text on both sides of a long script is read
    /// together, as a whole read joins it.
    fn past_markup(&self, pos: usize, forward: bool, margin: usize) -> usize {
        match self.markup.as_ref().and_then(|m| m.enclosing(pos)) {
            Some((_, end)) if forward => (end + margin).min(self.raw.len()),
            Some((lt, _)) => lt.saturating_sub(margin),
            None => pos,
        }
    }

    /// The first character boundary from `pos` within `limit`: the last
    /// resort, in a document with no markup at `pos` (see the module doc).
    fn between_characters(&self, pos: usize, limit: usize) -> Option<usize> {
        (pos..self.raw.len().min(pos + limit)).find(|&p| self.char_starts(p))
    }
}

/// Where markup lies in the raw bytes of an HTML document, as
/// `text::html`'s tokenizer reads it: from a `<` that starts a tag, a
/// comment or a declaration to its end, and for an element that is never
/// shown (`text::html::HIDDEN`) on to the end of its end tag. A cut may
/// fall at the start or the end of such a stretch, never inside.
///
/// Made in one forward pass, because whether an offset lies inside a
/// `<script>` depends on everything before it; the pass notes, about every
/// [`RESTART_EVERY`] bytes, an offset between two stretches where reading
/// can start again, so that a later question about any offset reads only
/// from the nearest such place. The legacy encodings that are cut (not
/// ISO-2022-JP) keep every byte below `0x40` for ASCII, which is all the
/// tokenizer looks at.
struct MarkupMap<'a> {
    raw: &'a [u8],
    /// Offsets outside markup, ascending, the first the document's start.
    restarts: Vec<usize>,
}

impl<'a> MarkupMap<'a> {
    fn new(raw: &'a [u8], start: usize) -> Self {
        let mut restarts = vec![start];
        let mut pos = start;
        while let Some((_, end)) = next_markup(raw, pos, raw.len()) {
            pos = end;
            if pos >= restarts[restarts.len() - 1] + RESTART_EVERY {
                restarts.push(pos);
            }
        }
        MarkupMap { raw, restarts }
    }

    /// The stretches of markup that start before `hi`, read from the
    /// restart at or before `lo`.
    fn stretches(&self, lo: usize, hi: usize) -> impl Iterator<Item = (usize, usize)> + '_ {
        let i = self.restarts.partition_point(|&r| r <= lo);
        let mut pos = self.restarts[i.max(1) - 1];
        std::iter::from_fn(move || {
            let (lt, end) = next_markup(self.raw, pos, hi)?;
            pos = end;
            Some((lt, end))
        })
    }

    /// Whether each offset of `lo..hi` lies outside markup.
    fn outside(&self, lo: usize, hi: usize) -> Vec<bool> {
        let mut map = vec![true; hi - lo];
        for (lt, end) in self.stretches(lo, hi) {
            let (a, b) = ((lt + 1).max(lo), end.min(hi));
            if a < b {
                map[a - lo..b - lo].fill(false);
            }
        }
        map
    }

    /// The stretch of markup `pos` lies inside, if any.
    fn enclosing(&self, pos: usize) -> Option<(usize, usize)> {
        self.stretches(pos, (pos + 1).min(self.raw.len()))
            .find(|&(lt, end)| lt < pos && pos < end)
    }
}

/// The next stretch of markup starting at a `<` in `pos..hi`: its start and
/// end.
fn next_markup(raw: &[u8], mut pos: usize, hi: usize) -> Option<(usize, usize)> {
    while pos < hi {
        let lt = pos + memchr::memchr(b'<', &raw[pos..hi])?;
        match markup_end(raw, lt) {
            Some(end) => return Some((lt, end)),
            // a '<' that starts no markup is text ("a < b")
            None => pos = lt + 1,
        }
    }
    None
}

/// Where the markup at `raw[lt] == b'<'` ends, as `text::html`'s
/// `parse_markup` (and, for a hidden element, `skip_raw_text`) reads it;
/// `None` if the `<` starts none.
fn markup_end(raw: &[u8], lt: usize) -> Option<usize> {
    let len = raw.len();
    let next = *raw.get(lt + 1)?;
    if raw[lt + 1..].starts_with(b"!--") {
        return Some(crate::text::html::comment_end(raw, lt + 4));
    }
    if next == b'!' || next == b'?' {
        return Some(memchr::memchr(b'>', &raw[lt..]).map_or(len, |i| lt + i + 1));
    }
    let (closing, name_start) = if next == b'/' {
        (true, lt + 2)
    } else {
        (false, lt + 1)
    };
    if !raw.get(name_start)?.is_ascii_alphabetic() {
        return None;
    }
    let mut i = name_start;
    while i < len && !(is_html_space(raw[i]) || raw[i] == b'/' || raw[i] == b'>') {
        i += 1;
    }
    let name = &raw[name_start..i];
    // attributes: name[=value], value quoted or not; quotes may hide '>'
    loop {
        while i < len && (is_html_space(raw[i]) || raw[i] == b'/') {
            i += 1;
        }
        if i >= len {
            break;
        }
        if raw[i] == b'>' {
            i += 1;
            break;
        }
        let an_start = i;
        while i < len && !(is_html_space(raw[i]) || matches!(raw[i], b'/' | b'>' | b'=')) {
            i += 1;
        }
        if i == an_start {
            // a stray '='
            i += 1;
            continue;
        }
        while i < len && is_html_space(raw[i]) {
            i += 1;
        }
        if i < len && raw[i] == b'=' {
            i += 1;
            while i < len && is_html_space(raw[i]) {
                i += 1;
            }
            if i < len && (raw[i] == b'"' || raw[i] == b'\'') {
                let q = raw[i];
                let vs = i + 1;
                let ve = memchr::memchr(q, &raw[vs..]).map_or(len, |e| vs + e);
                i = (ve + 1).min(len);
            } else {
                while i < len && !(is_html_space(raw[i]) || raw[i] == b'>') {
                    i += 1;
                }
            }
        }
    }
    let end = i.min(len);
    let hidden = crate::text::html::HIDDEN
        .iter()
        .any(|h| name.eq_ignore_ascii_case(h.as_bytes()));
    Some(if !closing && hidden {
        crate::text::html::raw_text_end(raw, end, name)
    } else {
        end
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::LazyLock;

    static SCANNER: LazyLock<Scanner> =
        LazyLock::new(|| Scanner::bundled().expect("bundled rules"));

    /// A sink that keeps what it is handed.
    #[derive(Default)]
    struct Collect {
        hits: Vec<Hit>,
        dropped: Vec<Hit>,
    }

    impl HitSink for Collect {
        type Error = std::convert::Infallible;
        fn begin(&mut self, _: &'static Encoding, _: CharsetSource) -> Result<(), Self::Error> {
            Ok(())
        }
        fn hit(&mut self, hit: &Hit) -> Result<(), Self::Error> {
            self.hits.push(hit.clone());
            Ok(())
        }
        fn dropped(&mut self, hit: &Hit) -> Result<(), Self::Error> {
            self.dropped.push(hit.clone());
            Ok(())
        }
    }

    fn scan(raw: &[u8], kind: DocKind, window: usize, hold: usize) -> (LargeScan, Collect) {
        let sizes = Sizes {
            window,
            margin: MARGIN_BYTES,
            hold,
        };
        let mut sink = Collect::default();
        let Ok(large) = SCANNER.scan_windows(raw, kind, None, true, sizes, &mut sink);
        (large.expect("cut into windows"), sink)
    }

    /// A hit as (rule, start, end, matched, repeats, annual rate, snippet).
    type Key = (String, usize, usize, String, usize, Option<f64>, String);

    fn keys(hits: &[Hit]) -> Vec<Key> {
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
                    h.snippet.clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| (a.1, a.2, &a.0).cmp(&(b.1, b.2, &b.0)));
        v
    }

    /// Hits as the JSON output writes them, in the order handed over.
    fn json(hits: &[Hit]) -> Vec<String> {
        hits.iter()
            .map(|h| serde_json::to_string(h).expect("a hit serializes"))
            .collect()
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

    /// Reads `raw` in windows of `window` bytes and compares with a whole
    /// read; then reads it again holding nothing (a third and fourth pass)
    /// and holding only the dropped candidates (a third), and compares the
    /// output, field by field and in order. Returns the number of windows.
    fn compare(raw: &[u8], kind: DocKind, window: usize) -> usize {
        let whole = SCANNER.explain_document(raw, kind, None);
        let (large, held) = scan(raw, kind, window, usize::MAX);
        assert!(large.windows > 3, "{} windows", large.windows);
        assert_eq!(large.passes, 2);
        assert_eq!(
            (large.hits, large.dropped),
            (held.hits.len(), held.dropped.len())
        );
        assert_eq!(keys(&held.hits), keys(&whole.hits));
        assert_eq!(large.activities, whole.activities);
        assert_eq!(keys(&held.dropped), keys(&whole.dropped));

        let (again, nothing_held) = scan(raw, kind, window, 0);
        assert_eq!(again.passes, 4);
        assert_eq!(json(&nothing_held.hits), json(&held.hits));
        assert_eq!(json(&nothing_held.dropped), json(&held.dropped));
        assert_eq!(again.activities, large.activities);

        let dropped_bytes = held.dropped.iter().map(held_bytes).sum();
        let (third, dropped_held) = scan(raw, kind, window, dropped_bytes);
        // (a page whose every candidate is dropped holds no more than that)
        assert_eq!(third.passes, if held.hits.is_empty() { 2 } else { 3 });
        assert_eq!(json(&dropped_held.hits), json(&held.hits));
        assert_eq!(json(&dropped_held.dropped), json(&held.dropped));
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

    /// A pattern that needs another rule's hit (long-underlying needs an
    /// exit pattern) keeps its hits only when that hit is somewhere on the
    /// page: here in the last window, long after them.
    #[test]
    fn a_rule_needing_another_rules_hit_is_settled_across_windows() {
        let needing = "网络借贷平台，底层资产为24个月的经营贷款。\n";
        let exit = "锁定期仅7天，之后可随时赎回。\n";
        let rule = "page.mismatch.long-underlying";
        for (text, kept) in [
            (format!("{needing}{}{exit}", page(300, "\n")), true),
            (format!("{needing}{}", page(300, "\n")), false),
        ] {
            compare(text.as_bytes(), DocKind::Text, 2048);
            let (_, out) = scan(text.as_bytes(), DocKind::Text, 2048, 0);
            let (in_hits, in_dropped) = (
                out.hits.iter().any(|h| h.rule.0 == rule),
                out.dropped
                    .iter()
                    .any(|h| h.rule.0 == rule && h.reason.code == ReasonCode::MissingContext),
            );
            let head: String = text.chars().take(20).collect();
            assert_eq!((in_hits, in_dropped), (kept, !kept), "{head}");
        }
    }

    /// A term repeated in every window is one hit, its repeats counted
    /// across all windows, whether the hits are held or read again.
    #[test]
    fn repeats_are_counted_across_windows() {
        let text = "本平台承诺保本保息，今天天气很好。".repeat(2000);
        let (_, held) = scan(text.as_bytes(), DocKind::Text, 2048, usize::MAX);
        let (_, again) = scan(text.as_bytes(), DocKind::Text, 2048, 0);
        for out in [held, again] {
            let h: Vec<_> = out
                .hits
                .iter()
                .filter(|h| h.matched.contains("保本保息"))
                .collect();
            assert_eq!(h.len(), 1);
            assert_eq!(h[0].repeats, 1999);
        }
    }

    /// A script of 200 KiB whose text looks like paragraphs and hits: no
    /// cut falls inside it (the 64 KiB look-back used before did not know
    /// it was inside a script 64 KiB after `<script>`), so nothing of it is
    /// read as text.
    #[test]
    fn a_long_script_is_never_cut_inside() {
        // read as text, each line shows a promotion (`a<b && c > d` keeps
        // `<b` from swallowing the line as a tag)
        let line = "document.write('<p>本平台承诺保本保息，年化收益20%，资金池统一调配</p>'); if (a<b && c > d) { n++; }\n";
        let script = line.repeat((200 << 10) / line.len() + 1);
        let html = format!(
            "<html><head><title>t</title></head><body><p>{}</p><script>{script}</script><p>{}</p><!-- {script} --><p>{}</p></body></html>",
            page(60, "</p><p>"),
            page(60, "</p><p>"),
            page(60, "</p><p>"),
        );
        let raw = html.as_bytes();
        let cuts: Vec<usize> = windows(raw, 0, true, true, sizes(4096))
            .expect("cut")
            .iter()
            .map(|w| w.own.0)
            .collect();
        let (s0, s1) = (
            html.find("<script>").unwrap(),
            html.find("</script>").unwrap(),
        );
        let (c0, c1) = (html.find("<!--").unwrap(), html.find("-->").unwrap());
        assert!(
            cuts.iter()
                .all(|&c| !(s0 < c && c <= s1 || c0 < c && c <= c1)),
            "{cuts:?} {s0}..{s1} {c0}..{c1}"
        );
        compare(raw, DocKind::Html, 4096);
        let (_, out) = scan(raw, DocKind::Html, 4096, usize::MAX);
        assert!(
            out.hits
                .iter()
                .all(|h| !(s0 < h.raw.start && h.raw.start < s1))
        );
    }

    /// A tag longer than the search for a cut (an image inlined as a
    /// `data:` URI) is stepped over: the cut falls after it.
    #[test]
    fn a_tag_longer_than_the_search_is_stepped_over() {
        let uri = "A".repeat(SEARCH_BYTES + (64 << 10));
        let html = format!(
            "<html><body><p>{}</p><img alt=\"年化收益20%\" src=\"data:image/png;base64,{uri}\"><p>{}</p></body></html>",
            page(100, "</p><p>"),
            page(100, "</p><p>"),
        );
        let raw = html.as_bytes();
        let img = html.find("<img").unwrap();
        let img_end = img + html[img..].find('>').unwrap();
        let cuts: Vec<usize> = windows(raw, 0, true, true, sizes(4096))
            .expect("cut")
            .iter()
            .map(|w| w.own.0)
            .collect();
        assert!(cuts.iter().all(|&c| !(img < c && c <= img_end)), "{cuts:?}");
        compare(raw, DocKind::Html, 4096);
    }

    /// Whether any cut of `raw` read in windows of `window` bytes falls
    /// strictly inside `from..to` (a cut at `from` is before the markup).
    fn cut_inside(raw: &[u8], window: usize, from: usize, to: usize) -> bool {
        windows(raw, 0, true, true, sizes(window))
            .expect("cut")
            .iter()
            .any(|w| from < w.own.0 && w.own.0 < to)
    }

    /// A `<script>` and a `<style>` many windows long, longer than the
    /// search for a cut, whose content reads as paragraphs of promotions
    /// if taken for text: no cut falls inside either, nothing inside them
    /// is a hit, and the hits before, between and after them are those of
    /// a whole read.
    #[test]
    fn a_script_or_style_longer_than_the_search_is_stepped_over_whole() {
        let line = "document.write('<p>本平台承诺保本保息，年化收益20%</p>'); if (a<b && c > d) { n++; }\n";
        let script = line.repeat(SEARCH_BYTES * 2 / line.len());
        let style = "<p>.x{content:'本平台承诺保本保息，资金池统一调配。'}</p>\n"
            .repeat(SEARCH_BYTES * 2 / 80);
        let html = format!(
            "<html><body><p>{}</p><script>{script}</script><p>{}</p><style>{style}</style><p>{}</p></body></html>",
            page(60, "</p><p>"),
            page(60, "</p><p>"),
            page(60, "</p><p>"),
        );
        let raw = html.as_bytes();
        let script_at = (
            html.find("<script>").unwrap(),
            html.find("</script>").unwrap(),
        );
        let style_at = (
            html.find("<style>").unwrap(),
            html.find("</style>").unwrap(),
        );
        for (from, to) in [script_at, style_at] {
            assert!(to - from > SEARCH_BYTES + (64 << 10));
            assert!(!cut_inside(raw, 4096, from, to), "cut in {from}..{to}");
        }
        compare(raw, DocKind::Html, 4096);
        let (_, out) = scan(raw, DocKind::Html, 4096, usize::MAX);
        assert!(out.hits.iter().all(|h| {
            let inside = |(from, to): (usize, usize)| from < h.raw.start && h.raw.start < to;
            !inside(script_at) && !inside(style_at)
        }));
        assert!(out.hits.iter().any(|h| h.raw.start > style_at.1));
    }

    /// A script with no end tag hides the rest of the document, as in a
    /// whole read: no window starts inside it, and nothing after it is a
    /// hit.
    #[test]
    fn a_script_that_never_ends_ends_the_cutting() {
        let line = "document.write('<p>本平台承诺保本保息</p>');\n";
        let html = format!(
            "<html><body><p>{}</p><script>{}",
            page(200, "</p><p>"),
            line.repeat(SEARCH_BYTES * 2 / line.len()),
        );
        let raw = html.as_bytes();
        let s0 = html.find("<script>").unwrap();
        assert!(!cut_inside(raw, 4096, s0, raw.len()));
        compare(raw, DocKind::Html, 4096);
        let (_, out) = scan(raw, DocKind::Html, 4096, usize::MAX);
        assert!(!out.hits.is_empty());
        assert!(out.hits.iter().all(|h| h.raw.start < s0));
    }

    fn sizes(window: usize) -> Sizes {
        Sizes {
            window,
            margin: MARGIN_BYTES,
            hold: HOLD_BYTES,
        }
    }

    /// The markup map reads as `text::html` does: quotes hide `>`, a
    /// comment ends at `-->` or `--!>`, a script only at its own end tag,
    /// and `a < b` is text.
    #[test]
    fn markup_map_follows_the_tokenizer() {
        let html = r#"a < b<a title="x>y">t</a><!-- <p> --!>u<script>"</scripts><p>"</script>v<!-->w<?x >y"#;
        let map = MarkupMap::new(html.as_bytes(), 0);
        let outside = map.outside(0, html.len());
        let at = |s: &str| html.find(s).unwrap();
        for (text, want) in [
            ("a <", true),
            ("< b", true),
            ("y\">", false),
            ("t</a>", true),
            (" <p>", false),
            ("u<script>", true),
            ("</scripts>", false),
            ("<p>\"", false),
            ("v<!--", true),
            ("w<?", true),
            ("x >", false),
            ("y", true),
        ] {
            let p = if text == "y" {
                html.len() - 1
            } else {
                at(text)
            };
            assert_eq!(outside[p], want, "{text:?} at {p}");
        }
        assert_eq!(
            map.enclosing(at("</scripts>")),
            Some((at("<script>"), at("v<!--")))
        );
    }
}
