//! Spans and offset maps: how a byte of derived text is traced back to the
//! bytes it came from.
//!
//! Every stage of the text pipeline (decode, HTML extraction, normalization)
//! produces a new string plus an [`OffsetMap`] back to its input. Composing the
//! maps turns a match in normalized text into a [`RawSpan`] of the document as
//! fetched, because the raw bytes, not any decoded form, are the evidence.

use std::ops::Range;

/// A byte range of the raw document exactly as fetched or read (end exclusive).
///
/// `raw[start..end]` is the evidence of a hit; it may contain markup
/// (`理<b>财</b>`) or bytes of a legacy encoding (GBK, Big5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct RawSpan {
    pub start: usize,
    pub end: usize,
}

/// A byte range of decoded text (UTF-8): the visible text of a page or the
/// text of a registry field (end exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct TextSpan {
    pub start: usize,
    pub end: usize,
}

impl RawSpan {
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
    pub fn len(self) -> usize {
        self.end - self.start
    }
    pub fn is_empty(self) -> bool {
        self.start == self.end
    }
}

impl TextSpan {
    pub fn range(self) -> Range<usize> {
        self.start..self.end
    }
}

/// One run of output bytes and the source bytes it was made from.
///
/// A *linear* segment copies its source byte for byte (same length), so any
/// position inside it maps by arithmetic. An *atomic* segment replaces its
/// source as a whole (an entity `&amp;` → `&`, a GBK character → UTF-8, `Ｐ` →
/// `p`): a position inside it maps to the whole source range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Segment {
    out_start: u32,
    src_start: u32,
    src_end: u32,
    linear: bool,
}

/// Maps byte positions of a derived string to byte positions of its source.
///
/// Built left to right while the derived string is written; the output must be
/// covered without gaps (every output byte belongs to a segment), while the
/// source may have gaps (dropped markup, noise characters). Storage is one
/// segment per *change* of alignment, not one per byte, so a mostly-copied
/// document costs a few hundred entries instead of a table as long as the page.
///
/// Offsets are `u32`: `TextDoc` cuts documents at `MAX_DOCUMENT_BYTES` so
/// that every derived text stays under 4 GiB.
#[derive(Debug, Clone, Default)]
pub struct OffsetMap {
    segments: Vec<Segment>,
    out_len: u32,
    src_len: u32,
}

impl OffsetMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Empties the map, keeping its allocation.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.out_len = 0;
        self.src_len = 0;
    }

    /// Room for `segments` more segments.
    pub fn reserve(&mut self, segments: usize) {
        self.segments.reserve(segments);
    }

    /// The identity map over a source of `len` bytes shifted by `offset`
    /// (e.g. a UTF-8 body after its BOM).
    pub fn identity(offset: usize, len: usize, src_len: usize) -> Self {
        let mut map = Self::new();
        if len > 0 {
            map.push_linear(0, offset, len);
        }
        map.finish(len, src_len);
        map
    }

    /// Records that output `out_start..out_start+len` is a copy of source
    /// `src_start..src_start+len`. Merges with the previous segment when both
    /// are contiguous copies.
    pub fn push_linear(&mut self, out_start: usize, src_start: usize, len: usize) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.segments.last_mut()
            && last.linear
            && last.src_end as usize == src_start
            && last.out_start as usize + (last.src_end - last.src_start) as usize == out_start
        {
            last.src_end = (src_start + len) as u32;
            return;
        }
        self.segments.push(Segment {
            out_start: out_start as u32,
            src_start: src_start as u32,
            src_end: (src_start + len) as u32,
            linear: true,
        });
    }

    /// Records that the output starting at `out_start` (up to the next
    /// segment) was made from source `src`, as a whole.
    pub fn push_atomic(&mut self, out_start: usize, src: Range<usize>) {
        self.segments.push(Segment {
            out_start: out_start as u32,
            src_start: src.start as u32,
            src_end: src.end as u32,
            linear: false,
        });
    }

    /// Forgets segments that start at or after output offset `len` (the
    /// output was truncated there).
    pub fn truncate_out(&mut self, len: usize) {
        while self
            .segments
            .last()
            .is_some_and(|s| s.out_start as usize >= len)
        {
            self.segments.pop();
        }
    }

    /// Closes the map once the output is complete.
    pub fn finish(&mut self, out_len: usize, src_len: usize) {
        self.out_len = out_len as u32;
        self.src_len = src_len as u32;
    }

    fn segment_at(&self, out_pos: usize) -> Option<&Segment> {
        let idx = self
            .segments
            .partition_point(|s| s.out_start as usize <= out_pos);
        idx.checked_sub(1).map(|i| &self.segments[i])
    }

    /// Source position where output position `out_pos` starts.
    pub fn src_start(&self, out_pos: usize) -> usize {
        if out_pos >= self.out_len as usize {
            return self.src_len as usize;
        }
        match self.segment_at(out_pos) {
            Some(s) if s.linear => s.src_start as usize + (out_pos - s.out_start as usize),
            Some(s) => s.src_start as usize,
            None => 0,
        }
    }

    /// Source position where the output ending at `out_end` (exclusive) ends.
    pub fn src_end(&self, out_end: usize) -> usize {
        if out_end == 0 {
            return self.src_start(0);
        }
        match self.segment_at(out_end - 1) {
            Some(s) if s.linear => s.src_start as usize + (out_end - s.out_start as usize),
            Some(s) => s.src_end as usize,
            None => 0,
        }
    }

    /// Maps an output range to the smallest source range that produced it.
    pub fn map_range(&self, out: Range<usize>) -> Range<usize> {
        if out.start >= out.end {
            let p = self.src_start(out.start);
            return p..p;
        }
        let start = self.src_start(out.start);
        let end = self.src_end(out.end).max(start);
        start..end
    }

    /// The output position where source position `src` lands: inside a
    /// copied run, its copy; inside a replaced or dropped stretch, the
    /// output that follows it. For maps built left to right (all of
    /// finscan's), the inverse of [`OffsetMap::src_start`] on copied text.
    pub fn out_at_src(&self, src: usize) -> usize {
        let idx = self
            .segments
            .partition_point(|s| (s.src_end as usize) <= src);
        match self.segments.get(idx) {
            Some(s) if s.linear && src >= s.src_start as usize => {
                s.out_start as usize + (src - s.src_start as usize)
            }
            Some(s) => s.out_start as usize,
            None => self.out_len as usize,
        }
    }

    /// Number of segments: a measure of how far the output strays from a copy.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_map_shifts_by_offset() {
        let m = OffsetMap::identity(3, 10, 13);
        assert_eq!(m.map_range(0..4), 3..7);
        assert_eq!(m.map_range(9..10), 12..13);
        assert_eq!(m.src_start(10), 13);
    }

    #[test]
    fn atomic_segment_maps_to_whole_source() {
        // "a&amp;b" -> "a&b"
        let mut m = OffsetMap::new();
        m.push_linear(0, 0, 1);
        m.push_atomic(1, 1..6);
        m.push_linear(2, 6, 1);
        m.finish(3, 7);
        assert_eq!(m.map_range(1..2), 1..6);
        assert_eq!(m.map_range(0..3), 0..7);
        assert_eq!(m.map_range(2..3), 6..7);
    }

    #[test]
    fn dropped_source_is_skipped_not_included_at_edges() {
        // "ab  cd" -> "abcd": spans ending at b stop at b, spans starting at c start at c
        let mut m = OffsetMap::new();
        m.push_linear(0, 0, 2);
        m.push_linear(2, 4, 2);
        m.finish(4, 6);
        assert_eq!(m.segment_count(), 2);
        assert_eq!(m.map_range(0..2), 0..2);
        assert_eq!(m.map_range(2..4), 4..6);
        assert_eq!(m.map_range(1..3), 1..5);
    }

    #[test]
    fn contiguous_copies_merge() {
        let mut m = OffsetMap::new();
        m.push_linear(0, 0, 2);
        m.push_linear(2, 2, 5);
        m.finish(7, 7);
        assert_eq!(m.segment_count(), 1);
    }
}
