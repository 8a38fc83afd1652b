//! CSV rows for registry import: a line is split at the delimiter with
//! `memchr`, quoted fields that close on the same line included; anything
//! else (a quoted field going on to the next line, text after a closing
//! quote, a quote inside an unquoted field) goes through `csv-core`'s
//! parser, with the lines that follow while a quoted field is open.
//!
//! Why not the `csv` crate's reader, which this replaced: it runs
//! `csv-core`'s byte-at-a-time state machine over every byte, which on a
//! registry export took as long as ripgrep's whole search of the same file.
//! Exports from office software quote only the cells that need it, so most
//! lines have no quote and are split at memchr speed; the quoted ones get
//! the very parser the `csv` crate uses, configured as it was (flexible
//! rows, `\n` ends a record, a `\r` before it stays in the last field and is
//! trimmed with the cell, blank lines skipped).

use std::io::{self, BufRead};

/// One record: its fields' bytes one after the other, where each ends, and
/// the lines it spans.
#[derive(Debug, Default)]
pub struct Row {
    bytes: Vec<u8>,
    ends: Vec<usize>,
    /// 1-based line where the record starts, and where it ends.
    pub line: u64,
    pub end_line: u64,
}

impl Row {
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// All fields' bytes, one after the other, without separators (so the
    /// halves of a character broken by a separator join up here: a field of
    /// valid UTF-8 as a whole may still not be valid on its own).
    pub fn as_slice(&self) -> &[u8] {
        &self.bytes
    }

    /// The byte range of field `i` in [`Row::as_slice`].
    pub fn range(&self, i: usize) -> Option<std::ops::Range<usize>> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        Some(start..end)
    }

    /// Empties the row for a record starting (so far ending) on `line`.
    fn start(&mut self, line: u64) {
        self.bytes.clear();
        self.ends.clear();
        self.line = line;
        self.end_line = line;
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.len()).map(|i| &self.bytes[self.range(i).unwrap_or(0..0)])
    }
}

/// What [`CsvRows::read`] found.
#[derive(Debug)]
pub enum Read {
    Row,
    End,
    /// One record reached `max_record` bytes (an opening quote that never
    /// closes, or a line that never ends): the rest of the input is not
    /// read. The row's `line` is where that record starts.
    TooLong,
}

pub struct CsvRows<R> {
    input: R,
    delimiter: u8,
    /// Boxed: its tables make it several hundred bytes.
    core: Box<csv_core::Reader>,
    /// Lines consumed so far.
    lines: u64,
    /// The line being read, and whether a `\n` ended it (the last line of
    /// a file may have none).
    line: Vec<u8>,
    terminated: bool,
    max_record: usize,
}

impl<R: BufRead> CsvRows<R> {
    /// The field separator.
    pub fn delimiter(&self) -> u8 {
        self.delimiter
    }

    pub fn new(input: R, delimiter: u8, max_record: usize) -> Self {
        let mut core = Box::new(
            csv_core::ReaderBuilder::new()
                .delimiter(delimiter)
                .terminator(csv_core::Terminator::Any(b'\n'))
                .build(),
        );
        // csv-core strips a UTF-8 BOM from the start of the first input it
        // is given, taking it for the file's. Here that is some line in the
        // middle of the file (the file's own BOM is the decoder's), so it
        // is given a blank line first, which it skips.
        let _ = core.read_record(b"\n", &mut [], &mut []);
        CsvRows {
            input,
            delimiter,
            core,
            lines: 0,
            line: Vec::new(),
            terminated: false,
            max_record,
        }
    }

    /// Reads the next line (without its `\n`) into `self.line`; false at
    /// the end of the input. A line longer than `max_record` is cut there
    /// (the caller stops).
    ///
    /// By hand rather than `take(max).read_until(b'\n', ..)`, which reads
    /// the same but cost 1.4 % more instructions over a whole scan
    /// (callgrind, 50,000 records).
    fn next_line(&mut self) -> io::Result<bool> {
        self.line.clear();
        self.terminated = false;
        loop {
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if buf.is_empty() {
                if self.line.is_empty() {
                    return Ok(false);
                }
                self.lines += 1;
                return Ok(true);
            }
            let room = self.max_record.saturating_sub(self.line.len()).max(1);
            let look = &buf[..buf.len().min(room)];
            match memchr::memchr(b'\n', look) {
                Some(i) => {
                    self.line.extend_from_slice(&look[..i]);
                    self.input.consume(i + 1);
                    self.terminated = true;
                    self.lines += 1;
                    return Ok(true);
                }
                None => {
                    let n = look.len();
                    self.line.extend_from_slice(look);
                    self.input.consume(n);
                    if self.line.len() >= self.max_record {
                        self.lines += 1;
                        return Ok(true);
                    }
                }
            }
        }
    }

    /// Reads the next record into `row`, skipping blank lines.
    pub fn read(&mut self, row: &mut Row) -> io::Result<Read> {
        loop {
            // the usual case: the whole line is in the input's buffer and
            // splits simply, straight from there (no copy into `line`)
            let delimiter = self.delimiter;
            let buf = match self.input.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let look = &buf[..buf.len().min(self.max_record)];
            if let Some(i) = memchr::memchr(b'\n', look) {
                self.lines += 1;
                if i == 0 {
                    self.input.consume(1);
                    continue;
                }
                row.start(self.lines);
                let simple = split_line(&look[..i], delimiter, row);
                if !simple {
                    // csv-core reads it from `line`, as if `next_line` had
                    self.line.clear();
                    self.line.extend_from_slice(&look[..i]);
                    self.terminated = true;
                }
                self.input.consume(i + 1);
                return if simple {
                    Ok(Read::Row)
                } else {
                    self.quoted(row)
                };
            }
            // a line running past the buffer's end (or the cap): copied
            if !self.next_line()? {
                return Ok(Read::End);
            }
            row.start(self.lines);
            if self.line.len() >= self.max_record {
                return Ok(Read::TooLong);
            }
            if self.line.is_empty() {
                continue;
            }
            if split_line(&self.line, self.delimiter, row) {
                return Ok(Read::Row);
            }
            return self.quoted(row);
        }
    }

    /// A record whose first line has a quote, through csv-core: line after
    /// line until the record ends (what `split_line` left in `row` is
    /// dropped).
    fn quoted(&mut self, row: &mut Row) -> io::Result<Read> {
        row.bytes.clear();
        row.ends.clear();
        // csv-core writes into slices: the row's own buffers, grown as needed
        let out = &mut row.bytes;
        let ends = &mut row.ends;
        out.resize(self.line.len() + 64, 0);
        ends.resize(16, 0);
        let (mut o, mut e) = (0, 0);
        let mut at_end = false;
        loop {
            if self.terminated {
                self.line.push(b'\n');
            }
            let mut input: &[u8] = if at_end { &[] } else { &self.line };
            loop {
                let (res, nin, nout, nend) =
                    self.core.read_record(input, &mut out[o..], &mut ends[e..]);
                input = &input[nin..];
                o += nout;
                e += nend;
                match res {
                    csv_core::ReadRecordResult::OutputFull => {
                        out.resize(out.len() * 2, 0);
                    }
                    csv_core::ReadRecordResult::OutputEndsFull => {
                        ends.resize(ends.len() * 2, 0);
                    }
                    csv_core::ReadRecordResult::Record => {
                        out.truncate(o);
                        ends.truncate(e);
                        row.end_line = self.lines;
                        return Ok(Read::Row);
                    }
                    csv_core::ReadRecordResult::InputEmpty => break,
                    csv_core::ReadRecordResult::End => {
                        out.clear();
                        ends.clear();
                        return Ok(Read::End);
                    }
                }
            }
            // a quoted field goes on past this line
            if o >= self.max_record {
                out.clear();
                ends.clear();
                return Ok(Read::TooLong);
            }
            if !self.next_line()? {
                // the input ends inside the quote: what was read is the record
                at_end = true;
                continue;
            }
            if self.line.len() >= self.max_record {
                out.clear();
                ends.clear();
                return Ok(Read::TooLong);
            }
        }
    }
}

/// Splits one whole line into `row` the way csv-core would, when that is
/// simple: fields either unquoted without a quote inside, or quoted with
/// the closing quote (doubled quotes inside) followed by the delimiter or
/// the end of the line (a `\r` before it joins the field, as in csv-core).
/// False for anything else (a quoted field going on to the next line, text
/// after a closing quote, a quote inside an unquoted field): the caller
/// then hands the line to csv-core.
fn split_line(line: &[u8], delimiter: u8, row: &mut Row) -> bool {
    let mut i = 0;
    loop {
        if line.get(i) == Some(&b'"') {
            // quoted: up to the closing quote, `""` standing for `"`
            i += 1;
            loop {
                let Some(q) = memchr::memchr(b'"', &line[i..]) else {
                    return false; // goes on past this line
                };
                row.bytes.extend_from_slice(&line[i..i + q]);
                i += q + 1;
                match line.get(i) {
                    Some(b'"') => {
                        row.bytes.push(b'"');
                        i += 1;
                    }
                    Some(&b) if b == delimiter => {
                        row.ends.push(row.bytes.len());
                        i += 1;
                        break;
                    }
                    None => {
                        row.ends.push(row.bytes.len());
                        return true;
                    }
                    Some(b'\r') if i + 1 == line.len() => {
                        row.bytes.push(b'\r');
                        row.ends.push(row.bytes.len());
                        return true;
                    }
                    Some(_) => return false,
                }
            }
        } else {
            // one search for the delimiter or a quote, which an unquoted
            // field must not hold
            let rest = &line[i..];
            let end = match memchr::memchr2(delimiter, b'"', rest) {
                Some(end) if rest[end] == b'"' => return false,
                Some(end) => end,
                None => rest.len(),
            };
            row.bytes.extend_from_slice(&rest[..end]);
            row.ends.push(row.bytes.len());
            if end == rest.len() {
                return true;
            }
            i += end + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as (start line, end line, fields).
    type Lines = (u64, u64, Vec<String>);

    /// Every record of `text` by this reader, and by the `csv` crate
    /// configured as import was (start line, fields).
    fn both(text: &str) -> (Vec<Lines>, Vec<(u64, Vec<String>)>) {
        let ours = ours(text.as_bytes());
        // lines that straddle the end of the input's buffer read the same
        let small = std::io::BufReader::with_capacity(5, text.as_bytes());
        assert_eq!(self::ours(small), ours, "{text:?}");
        let mut csv = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .terminator(csv::Terminator::Any(b'\n'))
            .from_reader(text.as_bytes());
        let mut theirs = Vec::new();
        let mut r = csv::ByteRecord::new();
        while csv.read_byte_record(&mut r).unwrap() {
            let line = r.position().map_or(0, |p| p.line());
            theirs.push((
                line,
                r.iter()
                    .map(|f| String::from_utf8_lossy(f).into_owned())
                    .collect(),
            ));
        }
        (ours, theirs)
    }

    fn ours(input: impl BufRead) -> Vec<Lines> {
        ours_capped(input, 1 << 20).0
    }

    /// The records read with a cap of `max` bytes, and whether the reader
    /// stopped at one too long.
    fn ours_capped(input: impl BufRead, max: usize) -> (Vec<Lines>, bool) {
        let mut rows = CsvRows::new(input, b',', max);
        let mut row = Row::default();
        let mut ours = Vec::new();
        loop {
            match rows.read(&mut row).unwrap() {
                Read::Row => {
                    let fields = row
                        .iter()
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    ours.push((row.line, row.end_line, fields));
                }
                Read::End => return (ours, false),
                Read::TooLong => return (ours, true),
            }
        }
    }

    #[test]
    fn the_cap_holds_on_both_paths_with_and_without_a_last_newline() {
        const MAX: usize = 64;
        for len in [MAX - 1, MAX, MAX + 1] {
            for newline in [true, false] {
                let text = format!("h\n{}{}", "x".repeat(len), if newline { "\n" } else { "" });
                let whole = ours_capped(text.as_bytes(), MAX);
                let small = ours_capped(std::io::BufReader::with_capacity(5, text.as_bytes()), MAX);
                assert_eq!(whole, small, "{len} {newline}");
                // a line shorter than the cap is a record; one of the cap or
                // more stops the reader
                let (rows, too_long) = whole;
                assert_eq!(too_long, len >= MAX, "{len} {newline}");
                assert_eq!(rows.len(), if len < MAX { 2 } else { 1 }, "{len} {newline}");
            }
        }
    }

    /// The same fields as the `csv` crate. (Not always the same lines: it
    /// does not count the blank lines it skips, so a record after one was
    /// reported a line early; see the next test.)
    fn same_as_the_csv_crate(text: &str) {
        let (ours, theirs) = both(text);
        let ours: Vec<Vec<String>> = ours.into_iter().map(|(_, _, f)| f).collect();
        let theirs: Vec<Vec<String>> = theirs.into_iter().map(|(_, f)| f).collect();
        assert_eq!(ours, theirs, "{text:?}");
    }

    #[test]
    fn a_record_after_blank_lines_has_its_own_line() {
        let (ours, _) = both("a,b\n\n\r\n1,2\n\n3\n");
        let lines: Vec<u64> = ours.iter().map(|r| r.0).collect();
        // line 3 is `\r` alone: a record of one (white space) field
        assert_eq!(lines, [1, 3, 4, 6]);
    }

    #[test]
    fn rows_are_split_as_the_csv_crate_splits_them() {
        for text in [
            "a,b,c\n1,2,3\n",
            "a,b\n\n\n1,2\n",
            "a,b\r\n1,2\r\n",
            "a,\"b,c\",d\n1,\"2\n3\",4\n5,6,7",
            "a,\"he said \"\"hi\"\"\",c\n",
            "名称,范围\n安康理财,\"投资，理财\n发放贷款\"\n西安百货,日用百货\n",
            "ab\"c,d\n",
            ",,\n,\n",
            "only one field\nno newline at the end",
            "\"unterminated,quote\nruns on\nto the end",
            "x\n\"\"\n\"a\"\"\",b\n",
            // a BOM inside the file is text, even in the first record
            // that goes through csv-core
            "h\n\u{feff}\"a\nb\",c\n",
            "h\n\"\u{feff}a\nb\",c\n",
        ] {
            same_as_the_csv_crate(text);
        }
    }

    #[test]
    fn a_quoted_record_knows_the_lines_it_spans() {
        let (ours, _) = both("h\n\"a\nb\nc\",d\ne\n");
        assert_eq!(ours[1].0, 2);
        assert_eq!(ours[1].1, 4);
        assert_eq!(ours[2].0, 5);
    }

    #[test]
    fn a_record_past_the_cap_stops_the_reader() {
        let text = format!("h\n\"{}", "x\n".repeat(100));
        let mut rows = CsvRows::new(text.as_bytes(), b',', 64);
        let mut row = Row::default();
        assert!(matches!(rows.read(&mut row).unwrap(), Read::Row));
        assert!(matches!(rows.read(&mut row).unwrap(), Read::TooLong));
        // a line that never ends
        let text = "y".repeat(1000);
        let mut rows = CsvRows::new(text.as_bytes(), b',', 64);
        assert!(matches!(rows.read(&mut row).unwrap(), Read::TooLong));
    }

    proptest::proptest! {
        #[test]
        fn random_text_is_split_as_the_csv_crate_splits_it(
            s in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just('"'), proptest::strategy::Just(','),
                    proptest::strategy::Just('\n'), proptest::strategy::Just('\r'),
                    proptest::strategy::Just('a'), proptest::strategy::Just('理'),
                    proptest::strategy::Just(' '), proptest::strategy::Just('\u{feff}'),
                ],
                0..60,
            )
        ) {
            // a BOM at the very start is the decoder's to remove, not ours
            let text: String = std::iter::once('h').chain(s).collect();
            same_as_the_csv_crate(&text);
        }
    }
}
