//! Reading registration records from files: CSV (UTF-8 with or without BOM,
//! GBK/GB18030, Big5, UTF-16 — as exported by Chinese office software), JSON
//! Lines and spreadsheets (XLSX, XLS, ODS through `calamine`).
//!
//! Columns are found by their header, Chinese or English (企业名称 / name,
//! 统一社会信用代码 / uscc, 经营范围 / scope, …), in the first
//! [`HEADER_SEARCH_ROWS`] rows so that a title row above the header does not
//! matter; `--column FIELD=HEADER` maps unusual headers.
//!
//! Contract: [`open`] fails only for problems of the whole file (unreadable,
//! no name column, not a spreadsheet); after that the iterator yields one item
//! per data row, in file order: a [`Record`] (possibly carrying
//! [`Record::problems`] that did not stop it from being scanned, such as
//! undecodable bytes) or a [`RowError`] for a row that could not be read at
//! all. Nothing is skipped silently except rows whose every cell is empty.
//!
//! Memory: CSV and JSON Lines are read as a stream through a fixed-size
//! transcoding buffer, so memory does not grow with the file. An XLSX sheet
//! is read cell by cell (`calamine`'s cell reader, on a thread of its own
//! that hands over rows through a bounded channel); only its shared-strings
//! table, which the format keeps apart from the cells, is held whole. Older
//! formats (XLS, XLSB, ODS) are read whole by `calamine`.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use encoding_rs::{Decoder, Encoding, UTF_8};

use super::csv_rows::{self, CsvRows};

/// How many rows from the top are searched for the header row.
pub const HEADER_SEARCH_ROWS: usize = 10;
/// Bytes looked at to guess a file's encoding.
const SNIFF_BYTES: usize = 64 * 1024;

/// A field of a registration record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// 企业名称.
    Name,
    /// 统一社会信用代码.
    Uscc,
    /// 经营范围.
    Scope,
    /// 注册地址 / 住所.
    Address,
    /// 法定代表人.
    LegalRep,
    /// 注册日期 / 成立日期.
    RegDate,
    /// 登记状态.
    Status,
}

impl Column {
    pub const ALL: [Column; 7] = [
        Column::Name,
        Column::Uscc,
        Column::Scope,
        Column::Address,
        Column::LegalRep,
        Column::RegDate,
        Column::Status,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Column::Name => "name",
            Column::Uscc => "uscc",
            Column::Scope => "scope",
            Column::Address => "address",
            Column::LegalRep => "legal_rep",
            Column::RegDate => "reg_date",
            Column::Status => "status",
        }
    }

    pub fn parse(s: &str) -> Option<Column> {
        Column::ALL
            .into_iter()
            .find(|c| c.as_str() == s || c.aliases().contains(&s))
    }

    /// Header names recognised for this field, compared after
    /// [`normalize_header`].
    fn aliases(self) -> &'static [&'static str] {
        match self {
            Column::Name => &[
                "企业名称",
                "名称",
                "公司名称",
                "企业(机构)名称",
                "市场主体名称",
                "主体名称",
                "单位名称",
                "机构名称",
                "商事主体名称",
                "name",
                "company",
                "companyname",
                "company_name",
                "enterprise",
                "enterprisename",
                "enterprise_name",
                "entname",
                "corp_name",
            ],
            Column::Uscc => &[
                "统一社会信用代码",
                "社会信用代码",
                "信用代码",
                "统一代码",
                "统一社会信用代码/注册号",
                "注册号/统一社会信用代码",
                "uscc",
                "credit_code",
                "creditcode",
                "unified_social_credit_code",
                "social_credit_code",
                "unifiedcode",
            ],
            Column::Scope => &[
                "经营范围",
                "业务范围",
                "许可经营范围",
                "一般经营范围",
                "scope",
                "business_scope",
                "businessscope",
                "opscope",
                "op_scope",
            ],
            Column::Address => &[
                "注册地址",
                "住所",
                "地址",
                "企业地址",
                "经营场所",
                "住所(经营场所)",
                "address",
                "dom",
                "reg_address",
                "registered_address",
            ],
            Column::LegalRep => &[
                "法定代表人",
                "法人代表",
                "法定代表人(负责人)",
                "负责人",
                "经营者",
                "投资人",
                "legal_rep",
                "legal_representative",
                "legalperson",
                "legal_person",
            ],
            Column::RegDate => &[
                "注册日期",
                "成立日期",
                "登记日期",
                "设立日期",
                "reg_date",
                "registration_date",
                "established",
                "estdate",
                "founded",
            ],
            Column::Status => &[
                "登记状态",
                "经营状态",
                "企业状态",
                "状态",
                "status",
                "regstate",
            ],
        }
    }
}

/// Header text for matching: trimmed, BOM and spaces removed, full-width
/// brackets made ASCII, ASCII lower-cased, `-`/space as `_`.
pub fn normalize_header(h: &str) -> String {
    h.trim()
        .chars()
        .filter(|c| !matches!(c, '\u{FEFF}' | '\u{3000}' | '*'))
        .map(|c| match c {
            '（' => '(',
            '）' => ')',
            '／' => '/',
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// User-supplied header names (`--column name=主体名称`), tried before the aliases.
#[derive(Debug, Clone, Default)]
pub struct ColumnMap {
    pub overrides: Vec<(Column, String)>,
}

impl ColumnMap {
    /// Parses `FIELD=HEADER`.
    pub fn add(&mut self, spec: &str) -> Result<(), String> {
        let (f, h) = spec
            .split_once('=')
            .ok_or_else(|| format!("{spec:?}: expected FIELD=HEADER, e.g. name=主体名称"))?;
        let col = Column::parse(f.trim()).ok_or_else(|| {
            format!(
                "{f:?}: unknown field (expected one of {})",
                Column::ALL.map(|c| c.as_str()).join(", ")
            )
        })?;
        self.overrides.push((col, normalize_header(h)));
        Ok(())
    }

    /// Which column index holds each field, or `None` when the row has no name column.
    fn resolve(&self, headers: &[String]) -> Option<Layout> {
        let norm: Vec<String> = headers.iter().map(|h| normalize_header(h)).collect();
        let mut layout = Layout::default();
        for col in Column::ALL {
            let by_override = self
                .overrides
                .iter()
                .filter(|(c, _)| *c == col)
                .find_map(|(_, h)| norm.iter().position(|n| n == h));
            let idx = by_override.or_else(|| {
                col.aliases()
                    .iter()
                    .find_map(|a| norm.iter().position(|n| n == a))
            });
            layout.set(col, idx);
        }
        layout.name.map(|_| layout)
    }
}

/// Column index of each field in a file.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    pub name: Option<usize>,
    pub uscc: Option<usize>,
    pub scope: Option<usize>,
    pub address: Option<usize>,
    pub legal_rep: Option<usize>,
    pub reg_date: Option<usize>,
    pub status: Option<usize>,
    /// Number of header cells.
    pub width: usize,
}

impl Layout {
    fn set(&mut self, col: Column, idx: Option<usize>) {
        match col {
            Column::Name => self.name = idx,
            Column::Uscc => self.uscc = idx,
            Column::Scope => self.scope = idx,
            Column::Address => self.address = idx,
            Column::LegalRep => self.legal_rep = idx,
            Column::RegDate => self.reg_date = idx,
            Column::Status => self.status = idx,
        }
    }

    /// Fields the file has no column for (reported once per file).
    pub fn missing(&self) -> Vec<Column> {
        let mut m = Vec::new();
        if self.uscc.is_none() {
            m.push(Column::Uscc);
        }
        if self.scope.is_none() {
            m.push(Column::Scope);
        }
        m
    }
}

/// One registration record as read (text as written, not normalized).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// 1-based line of the file where the record starts (CSV, JSON Lines) or
    /// 1-based row of the sheet (spreadsheets).
    pub line: u64,
    /// Enterprise name (企业名称).
    pub name: String,
    /// Unified social credit code (统一社会信用代码) as written, if any.
    pub uscc: Option<String>,
    /// Business scope (经营范围).
    pub scope: String,
    pub address: Option<String>,
    pub legal_rep: Option<String>,
    pub reg_date: Option<String>,
    pub status: Option<String>,
    /// Problems with the row that did not stop it from being scanned.
    pub problems: Vec<String>,
}

/// A data row that could not be turned into a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct RowError {
    pub line: u64,
    pub message: String,
}

/// A problem with a whole file: nothing of it was read.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{path}: no name column (企业名称/name) in the first {HEADER_SEARCH_ROWS} rows; first row: {found}; map it with --column name=HEADER"
    )]
    MissingColumn { path: PathBuf, found: String },
    #[error("{path}: not a readable spreadsheet: {message}")]
    Spreadsheet { path: PathBuf, message: String },
    #[error("unknown encoding label {0:?}")]
    Encoding(String),
}

/// Input format, from the file extension (or forced).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Csv,
    JsonLines,
    Spreadsheet,
}

impl Format {
    pub fn from_path(path: &Path) -> Format {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(|e| e.to_ascii_lowercase())
            .as_deref()
        {
            Some("jsonl" | "ndjson" | "json") => Format::JsonLines,
            Some("xlsx" | "xlsm" | "xls" | "xlsb" | "ods") => Format::Spreadsheet,
            _ => Format::Csv,
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        match s {
            "csv" | "tsv" => Some(Format::Csv),
            "jsonl" | "json" | "ndjson" => Some(Format::JsonLines),
            "xlsx" | "xls" | "ods" | "spreadsheet" => Some(Format::Spreadsheet),
            _ => None,
        }
    }
}

/// Options of [`open`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    pub columns: ColumnMap,
    /// Force the format instead of guessing from the extension.
    pub format: Option<Format>,
    /// Force the text encoding (an encoding label such as `gbk`) instead of detecting it.
    pub encoding: Option<String>,
    /// Spreadsheet: the sheet to read (default: the first).
    pub sheet: Option<String>,
}

/// The records of one file, in order.
pub struct Records {
    /// The header found, as (row number, layout).
    pub header_line: u64,
    pub layout: Layout,
    /// Encoding the text was decoded from (`UTF-8`, `GBK`, …).
    pub encoding: &'static str,
    inner: Inner,
}

/// Bytes the CSV reader may take for one record: an opening quote that
/// never closes would otherwise make it read the rest of the file into one
/// field, in memory. No registration record comes near this.
const MAX_RECORD_BYTES: usize = 16 << 20;

/// A spreadsheet row: its 1-based number, its cells as text, and problems
/// with them; or why the sheet could not be read on.
type SheetRow = Result<(u64, Vec<String>, Vec<String>), RowError>;
type SheetRows = Box<dyn Iterator<Item = SheetRow> + Send>;

/// Rows of an XLSX sheet read cell by cell on a thread of its own: the
/// channel holds at most [`XLSX_ROWS_AHEAD`] rows, so memory does not grow
/// with the sheet (calamine's cell reader borrows the workbook, which is why
/// it runs where the workbook lives instead of inside [`Records`]).
fn stream_xlsx(mut book: calamine::Xlsx<BufReader<File>>, sheet: String) -> SheetRows {
    let (tx, rx) = std::sync::mpsc::sync_channel::<SheetRow>(XLSX_ROWS_AHEAD);
    let read = move || {
        let mut cells = match book.worksheet_cells_reader(&sheet) {
            Ok(c) => c,
            Err(e) => {
                let message = format!("sheet {sheet:?}: {e}");
                let _ = tx.send(Err(RowError { line: 0, message }));
                return;
            }
        };
        let mut row: Option<u32> = None;
        let mut texts: Vec<String> = Vec::new();
        let mut problems = Vec::new();
        loop {
            match cells.next_cell() {
                Ok(Some(cell)) => {
                    let (r, col) = cell.get_position();
                    if row != Some(r) {
                        if let Some(prev) = row {
                            let done = (
                                u64::from(prev) + 1,
                                std::mem::take(&mut texts),
                                std::mem::take(&mut problems),
                            );
                            if tx.send(Ok(done)).is_err() {
                                return; // the reader was dropped
                            }
                        }
                        row = Some(r);
                    }
                    let col = col as usize;
                    if texts.len() <= col {
                        texts.resize(col + 1, String::new());
                    }
                    let value = calamine::Data::from(cell.get_value().clone());
                    texts[col] = sheet_cell_text(&value, col, &mut problems);
                }
                Ok(None) => break,
                Err(e) => {
                    // the row read so far is whole: deliver it first
                    let line = match row {
                        Some(prev) => {
                            let done = (u64::from(prev) + 1, texts, problems);
                            if tx.send(Ok(done)).is_err() {
                                return;
                            }
                            u64::from(prev) + 2
                        }
                        None => 1,
                    };
                    let message = format!(
                        "sheet {sheet:?} unreadable from about this row on: {e}; the rest of the sheet was not read"
                    );
                    let _ = tx.send(Err(RowError { line, message }));
                    return;
                }
            }
        }
        if let Some(prev) = row {
            let _ = tx.send(Ok((u64::from(prev) + 1, texts, problems)));
        }
    };
    match std::thread::Builder::new()
        .name("xlsx-reader".into())
        .spawn(read)
    {
        Ok(handle) => Box::new(SheetStream {
            rows: rx,
            reader: Some(handle),
        }),
        Err(e) => Box::new(std::iter::once(Err(RowError {
            line: 0,
            message: format!("cannot start the sheet reader: {e}"),
        }))),
    }
}

/// The receiving end of [`stream_xlsx`]. When the rows end, the reader
/// thread is joined: if it panicked, that is reported as a row error rather
/// than taken for the end of the sheet.
struct SheetStream {
    rows: std::sync::mpsc::Receiver<SheetRow>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Iterator for SheetStream {
    type Item = SheetRow;

    fn next(&mut self) -> Option<SheetRow> {
        if let Ok(row) = self.rows.recv() {
            return Some(row);
        }
        match self.reader.take()?.join() {
            Ok(()) => None,
            Err(_) => Some(Err(RowError {
                line: 0,
                message: "the sheet reader failed; the rest of the sheet was not read".into(),
            })),
        }
    }
}

/// Rows read ahead of the scan from an XLSX sheet.
const XLSX_ROWS_AHEAD: usize = 1024;

/// The text of a spreadsheet cell, as the registry export meant it.
fn sheet_cell_text(d: &calamine::Data, col: usize, problems: &mut Vec<String>) -> String {
    use calamine::Data;
    match d {
        Data::String(s) | Data::DateTimeIso(s) | Data::DurationIso(s) => s.clone(),
        Data::Int(v) => v.to_string(),
        Data::Float(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Data::Float(v) => {
            if v.abs() >= 1e15 {
                problems.push(format!(
                    "column {} holds the number {v}: digits beyond 15 are lost in Excel numbers (format the column as text)",
                    col + 1
                ));
            }
            v.to_string()
        }
        Data::Bool(b) => b.to_string(),
        Data::DateTime(dt) => {
            let (y, m, d, ..) = dt.to_ymd_hms_milli();
            format!("{y:04}-{m:02}-{d:02}")
        }
        Data::Error(e) => {
            problems.push(format!("column {}: cell error {e}", col + 1));
            String::new()
        }
        Data::Empty => String::new(),
    }
}

/// The longest JSON Lines record read whole (a registration record is a few
/// KB): a longer line is skipped and reported, never held in memory.
const MAX_JSON_LINE: u64 = 1 << 20;

fn too_long_line(line: u64) -> RowError {
    RowError {
        line,
        message: format!(
            "line longer than {} MiB, not a registration record: skipped",
            MAX_JSON_LINE >> 20
        ),
    }
}

enum LineRead {
    End,
    Line,
    TooLong,
}

/// Reads one line into `buf` (cleared first), at most [`MAX_JSON_LINE`]
/// bytes of it; the rest of a longer line is read past, not kept.
fn read_line_capped(reader: &mut impl BufRead, buf: &mut String) -> std::io::Result<LineRead> {
    let mut bytes = std::mem::take(buf).into_bytes();
    bytes.clear();
    let n = reader
        .by_ref()
        .take(MAX_JSON_LINE + 1)
        .read_until(b'\n', &mut bytes)?;
    if n == 0 {
        return Ok(LineRead::End);
    }
    if n as u64 > MAX_JSON_LINE && bytes.last() != Some(&b'\n') {
        bytes.clear();
        *buf = String::from_utf8(bytes).unwrap_or_default();
        loop {
            let chunk = reader.fill_buf()?;
            if chunk.is_empty() {
                break;
            }
            match memchr::memchr(b'\n', chunk) {
                Some(i) => {
                    reader.consume(i + 1);
                    break;
                }
                None => {
                    let len = chunk.len();
                    reader.consume(len);
                }
            }
        }
        return Ok(LineRead::TooLong);
    }
    *buf = String::from_utf8(bytes)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    Ok(LineRead::Line)
}

enum Inner {
    Csv {
        reader: CsvRows<BufReader<DecodingReader<Source>>>,
        row: csv_rows::Row,
    },
    Json {
        reader: BufReader<DecodingReader<Source>>,
        line: u64,
        buf: String,
        pending: Option<(u64, String)>,
        /// Lines before `pending` that were too long to read, last first.
        skipped: Vec<u64>,
    },
    Sheet {
        rows: SheetRows,
    },
}

/// Opens a file of registration records. See the module docs for the contract.
pub fn open(path: &Path, opts: &ImportOptions) -> Result<Records, ImportError> {
    let format = opts.format.unwrap_or_else(|| Format::from_path(path));
    let forced = match &opts.encoding {
        Some(label) => Some(
            Encoding::for_label(label.as_bytes())
                .ok_or_else(|| ImportError::Encoding(label.clone()))?,
        ),
        None => None,
    };
    let io = |source| ImportError::Io {
        path: path.to_owned(),
        source,
    };
    match format {
        Format::Csv => {
            let (reader, encoding) = DecodingReader::open(path, forced).map_err(io)?;
            open_csv(path, reader, encoding, &opts.columns)
        }
        Format::JsonLines => {
            let (reader, encoding) = DecodingReader::open(path, forced).map_err(io)?;
            open_json(path, reader, encoding, &opts.columns)
        }
        Format::Spreadsheet if is_stdin(path) => Err(ImportError::Io {
            path: path.to_owned(),
            source: std::io::Error::other(
                "a spreadsheet cannot be read from standard input; save it to a file",
            ),
        }),
        Format::Spreadsheet => open_sheet(path, opts),
    }
}

fn open_csv(
    path: &Path,
    mut reader: DecodingReader<Source>,
    encoding: &'static Encoding,
    columns: &ColumnMap,
) -> Result<Records, ImportError> {
    let delimiter = reader.sniff_delimiter();
    reader.pass_utf8_through();
    let mut csv = CsvRows::new(
        BufReader::with_capacity(1 << 16, reader),
        delimiter,
        MAX_RECORD_BYTES,
    );
    let mut row = csv_rows::Row::default();
    let mut first: Option<String> = None;
    for _ in 0..HEADER_SEARCH_ROWS {
        match csv.read(&mut row) {
            Ok(csv_rows::Read::Row) => {
                let cells: Vec<String> = row.iter().map(|c| cell_text(c).into_owned()).collect();
                if first.is_none() {
                    first = Some(cells.join(","));
                }
                if let Some(mut layout) = columns.resolve(&cells) {
                    layout.width = cells.len();
                    return Ok(Records {
                        header_line: row.line,
                        layout,
                        encoding: encoding.name(),
                        inner: Inner::Csv { reader: csv, row },
                    });
                }
            }
            Ok(csv_rows::Read::End | csv_rows::Read::TooLong) => break,
            Err(source) => {
                return Err(ImportError::Io {
                    path: path.to_owned(),
                    source,
                });
            }
        }
    }
    Err(ImportError::MissingColumn {
        path: path.to_owned(),
        found: first.unwrap_or_else(|| "(empty file)".into()),
    })
}

fn open_json(
    path: &Path,
    reader: DecodingReader<Source>,
    encoding: &'static Encoding,
    columns: &ColumnMap,
) -> Result<Records, ImportError> {
    // JSON Lines have no header: the keys of each object are the headers.
    // A file whose first object has no name key is reported like a CSV
    // without a name column.
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    let mut buf = String::new();
    let mut line = 0u64;
    let mut too_long = Vec::new();
    loop {
        line += 1;
        let read = read_line_capped(&mut reader, &mut buf).map_err(|source| ImportError::Io {
            path: path.to_owned(),
            source,
        })?;
        match read {
            LineRead::End => {
                return Err(ImportError::MissingColumn {
                    path: path.to_owned(),
                    found: "(no JSON object)".into(),
                });
            }
            LineRead::TooLong => {
                too_long.push(line);
                continue;
            }
            LineRead::Line => {}
        }
        if buf.trim().is_empty() {
            continue;
        }
        if let Ok(serde_json::Value::Object(map)) =
            serde_json::from_str::<serde_json::Value>(buf.trim())
        {
            let keys: Vec<String> = map.keys().cloned().collect();
            if columns.resolve(&keys).is_none() {
                return Err(ImportError::MissingColumn {
                    path: path.to_owned(),
                    found: keys.join(","),
                });
            }
        }
        let pending = Some((line, std::mem::take(&mut buf)));
        return Ok(Records {
            header_line: 0,
            layout: Layout::default(),
            encoding: encoding.name(),
            inner: Inner::Json {
                reader,
                line,
                buf,
                pending,
                skipped: too_long.into_iter().rev().collect(),
            },
        });
    }
}

fn open_sheet(path: &Path, opts: &ImportOptions) -> Result<Records, ImportError> {
    use calamine::Reader;
    let err = |message: String| ImportError::Spreadsheet {
        path: path.to_owned(),
        message,
    };
    let book = calamine::open_workbook_auto(path).map_err(|e| err(e.to_string()))?;
    let names = book.sheet_names();
    let sheet = match &opts.sheet {
        Some(s) => s.clone(),
        None => names
            .first()
            .cloned()
            .ok_or_else(|| err("no sheet".into()))?,
    };
    if !names.contains(&sheet) {
        return Err(err(format!(
            "no sheet {sheet:?} (sheets: {})",
            names.join(", ")
        )));
    }
    let mut rows: SheetRows = match book {
        calamine::Sheets::Xlsx(x) => stream_xlsx(x, sheet),
        mut other => {
            let range = other
                .worksheet_range(&sheet)
                .map_err(|e| err(format!("sheet {sheet:?}: {e}")))?;
            let first_row = range.start().map_or(0, |(r, _)| u64::from(r));
            let rows: Vec<SheetRow> = range
                .rows()
                .enumerate()
                .map(|(i, cells)| {
                    let mut problems = Vec::new();
                    let texts = cells
                        .iter()
                        .enumerate()
                        .map(|(col, d)| sheet_cell_text(d, col, &mut problems))
                        .collect();
                    Ok((first_row + i as u64 + 1, texts, problems))
                })
                .collect();
            Box::new(rows.into_iter())
        }
    };
    let mut header: Option<(u64, Layout)> = None;
    let mut first: Option<String> = None;
    for _ in 0..HEADER_SEARCH_ROWS {
        let Some(row) = rows.next() else { break };
        let (line, texts, _) = row.map_err(|e| err(e.message))?;
        if first.is_none() {
            first = Some(texts.join(","));
        }
        if let Some(mut layout) = opts.columns.resolve(&texts) {
            layout.width = texts.len();
            header = Some((line, layout));
            break;
        }
    }
    let Some((header_line, layout)) = header else {
        return Err(ImportError::MissingColumn {
            path: path.to_owned(),
            found: first.unwrap_or_else(|| "(empty sheet)".into()),
        });
    };
    Ok(Records {
        header_line,
        layout,
        encoding: "XLSX",
        inner: Inner::Sheet { rows },
    })
}

impl Records {
    /// Ends the stream: every later read returns `None` (after a failure
    /// that leaves the rest of the input unreadable).
    fn stop(&mut self) {
        self.inner = Inner::Sheet {
            rows: Box::new(std::iter::empty()),
        };
    }

    /// Reads the next record into `rec`, reusing its allocations (the
    /// allocation-free form of [`Iterator::next`]). `None` at the end;
    /// `Some(Err)` for a row that could not be read (`rec` is then unspecified).
    pub fn read_into(&mut self, rec: &mut Record) -> Option<Result<(), RowError>> {
        /// More lines than any real multi-line field (addresses, scopes) spans.
        const MAX_RECORD_LINES: u64 = 50;
        loop {
            let item = match &mut self.inner {
                Inner::Csv { reader, row } => {
                    match reader.read(row) {
                        Ok(csv_rows::Read::End) => return None,
                        Ok(csv_rows::Read::TooLong) => {
                            // the record filled the cap: the rest of the file
                            // would have gone into it; stop here
                            let line = row.line;
                            self.stop();
                            return Some(Err(RowError {
                                line,
                                message: format!(
                                    "unterminated quote or unending line: this row ran on as one field past {} MiB; the rest of the file was not read",
                                    MAX_RECORD_BYTES >> 20
                                ),
                            }));
                        }
                        Ok(csv_rows::Read::Row) => {
                            let (line, end) = (row.line, row.end_line);
                            if end > line
                                && let Some(e) = broken_quote(
                                    row,
                                    self.layout.width,
                                    reader.delimiter(),
                                    end.saturating_sub(line) > MAX_RECORD_LINES,
                                )
                            {
                                return Some(Err(e));
                            }
                            // one validation for the whole row; a field is a
                            // slice of it unless the row is not valid UTF-8 or
                            // a character was broken across a separator (the
                            // separators removed, its halves joined): then the
                            // field is read on its own
                            let all = simdutf8::basic::from_utf8(row.as_slice()).ok();
                            // may a field hold U+FFFD? One search of the row
                            // instead of one per field (a field decoded on its
                            // own is searched anyway: `fill_from_cells`)
                            let marked =
                                all.is_none() || REPLACEMENT.find(row.as_slice()).is_some();
                            let cells = (0..row.len()).map(|i| {
                                let r = row.range(i).unwrap_or(0..0);
                                match all.and_then(|all| all.get(r.clone())) {
                                    Some(text) => Cow::Borrowed(text),
                                    None => cell_text(&row.as_slice()[r]),
                                }
                            });
                            fill_from_cells(rec, &self.layout, line, cells, row.len(), marked)
                        }
                        Err(e) => {
                            // the stream itself failed: report and stop
                            let message = format!("read error: {e}");
                            let line = row.end_line + 1;
                            self.stop();
                            return Some(Err(RowError { line, message }));
                        }
                    }
                }
                Inner::Json {
                    reader,
                    line,
                    buf,
                    pending,
                    skipped,
                } => {
                    if let Some(l) = skipped.pop() {
                        return Some(Err(too_long_line(l)));
                    }
                    let (l, text) = match pending.take() {
                        Some(p) => p,
                        None => {
                            *line += 1;
                            match read_line_capped(reader, buf) {
                                Ok(LineRead::End) => return None,
                                Ok(LineRead::Line) => (*line, std::mem::take(buf)),
                                Ok(LineRead::TooLong) => return Some(Err(too_long_line(*line))),
                                Err(e) => {
                                    let message = format!("read error: {e}");
                                    let l = *line;
                                    self.stop();
                                    return Some(Err(RowError { line: l, message }));
                                }
                            }
                        }
                    };
                    let r = record_from_json(l, text.trim()).map(|r| r.map(|new| *rec = new));
                    // give the allocation back for the next line
                    *buf = text;
                    r
                }
                Inner::Sheet { rows } => {
                    let (line, mut cells, problems) = match rows.next()? {
                        Ok(row) => row,
                        Err(e) => {
                            self.stop();
                            return Some(Err(e));
                        }
                    };
                    // A sheet stores no empty cells: a row whose last cells
                    // are empty is as wide as the header all the same.
                    if cells.len() < self.layout.width {
                        cells.resize(self.layout.width, String::new());
                    }
                    let r = fill_from_cells(
                        rec,
                        &self.layout,
                        line,
                        cells.iter().map(|c| Cow::Borrowed(c.as_str())),
                        cells.len(),
                        true,
                    );
                    if let Some(Ok(())) = r
                        && !problems.is_empty()
                    {
                        rec.problems.splice(0..0, problems);
                    }
                    r
                }
            };
            if let Some(item) = item {
                return Some(item);
            }
            // a blank row: read on
        }
    }
}

impl Iterator for Records {
    type Item = Result<Record, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut rec = Record::default();
        self.read_into(&mut rec).map(|r| r.map(|()| rec))
    }
}

/// A CSV cell as text: borrowed when it is valid UTF-8 (always, unless the
/// file was read as UTF-8 and has invalid bytes, which become U+FFFD).
///
/// Validation uses `simdutf8`: Chinese text is all multi-byte sequences,
/// where the standard library's validator is the slowest step of a scan.
fn cell_text(bytes: &[u8]) -> Cow<'_, str> {
    match simdutf8::basic::from_utf8(bytes) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

fn put(slot: &mut String, text: &str) {
    slot.clear();
    slot.push_str(text);
}

fn put_opt(slot: &mut Option<String>, text: &str) {
    match slot {
        Some(s) => put(s, text),
        None => *slot = Some(text.to_owned()),
    }
}

/// Empties a field but keeps its allocation for the next record.
fn clear_opt(slot: &mut Option<String>) {
    if let Some(s) = slot {
        s.clear();
    }
}

/// `None` for a field no cell filled.
fn none_if_empty(slot: &mut Option<String>) {
    if slot.as_ref().is_some_and(String::is_empty) {
        *slot = None;
    }
}

impl Record {
    /// The fields a row may leave empty.
    fn optional_fields_mut(&mut self) -> [&mut Option<String>; 5] {
        [
            &mut self.uscc,
            &mut self.address,
            &mut self.legal_rep,
            &mut self.reg_date,
            &mut self.status,
        ]
    }
}

/// `str::trim`, asking first whether either end is white space at all (in a
/// registry export it almost never is; `trim` was 2 % of a scan).
fn trim_cell(cell: &str) -> &str {
    let mut chars = cell.chars();
    match (chars.next(), chars.next_back()) {
        (Some(a), Some(b)) if !a.is_whitespace() && !b.is_whitespace() => cell,
        (Some(a), None) if !a.is_whitespace() => cell,
        _ => cell.trim(),
    }
}

/// Fills `rec` from the cells of a row; `None` for a row of empty cells.
/// `marked`: the row's text may hold U+FFFD (see [`check_record`]); a cell
/// the caller decoded on its own (`Cow::Owned`) may too.
fn fill_from_cells<'a>(
    rec: &mut Record,
    layout: &Layout,
    line: u64,
    cells: impl Iterator<Item = Cow<'a, str>>,
    len: usize,
    mut marked: bool,
) -> Option<Result<(), RowError>> {
    rec.line = line;
    rec.name.clear();
    rec.scope.clear();
    rec.problems.clear();
    for slot in rec.optional_fields_mut() {
        clear_opt(slot);
    }
    let mut any = false;
    let mut extra_nonempty = false;
    for (i, cell) in cells.enumerate() {
        // decoded on its own, lossily: it may hold U+FFFD
        marked |= matches!(cell, Cow::Owned(_));
        let text = trim_cell(&cell);
        if text.is_empty() {
            continue;
        }
        any = true;
        if i >= layout.width {
            extra_nonempty = true;
        } else if Some(i) == layout.name {
            put(&mut rec.name, text);
        } else if Some(i) == layout.uscc {
            put_opt(&mut rec.uscc, text);
        } else if Some(i) == layout.scope {
            put(&mut rec.scope, text);
        } else if Some(i) == layout.address {
            put_opt(&mut rec.address, text);
        } else if Some(i) == layout.legal_rep {
            put_opt(&mut rec.legal_rep, text);
        } else if Some(i) == layout.reg_date {
            put_opt(&mut rec.reg_date, text);
        } else if Some(i) == layout.status {
            put_opt(&mut rec.status, text);
        }
    }
    for slot in rec.optional_fields_mut() {
        none_if_empty(slot);
    }
    if !any {
        return None;
    }
    if len < layout.width {
        rec.problems.push(format!(
            "row has {len} fields, the header has {}",
            layout.width
        ));
    } else if extra_nonempty {
        rec.problems.push(format!(
            "row has {len} fields, the header has {} (an unquoted separator inside a field?)",
            layout.width
        ));
    }
    Some(check_record(rec, marked))
}

/// A row spanning lines `row.line..=row.end_line` whose line breaks come
/// from a quote that did not close where it should have: a quoted field
/// ran on across line breaks into what reads as further records (a line
/// inside the field with as many separators as a record has), or the row
/// came out with a different number of fields than the header, or it ran
/// on past any real multi-line field (`too_long`). The error names the
/// line where the quoted field opened and the lines it swallowed; the row
/// is not read as a record, whatever its length, so that no two companies
/// are ever stored as one. `None` for a row whose multi-line field is
/// ordinary text (an address or a scope written on two lines).
fn broken_quote(
    row: &csv_rows::Row,
    width: usize,
    delimiter: u8,
    too_long: bool,
) -> Option<RowError> {
    let (line, end) = (row.line, row.end_line);
    // the first field holding a line break: where the quote opened
    let (at, opened) = {
        let mut newlines = 0u64;
        let mut found = None;
        for (i, f) in row.iter().enumerate() {
            if f.contains(&b'\n') {
                found = Some((i, line + newlines));
                break;
            }
            newlines += f.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        found?
    };
    // lines inside multi-line fields that read as records of their own
    let as_records = row
        .iter()
        .skip(at)
        .flat_map(|f| f.split(|&b| b == b'\n').skip(1))
        .filter(|l| width > 1 && l.iter().filter(|&&b| b == delimiter).count() + 1 >= width)
        .count();
    if as_records == 0 && row.len() == width && !too_long {
        return None;
    }
    let why = if as_records > 0 {
        format!("{as_records} of them read as records")
    } else {
        format!("the row has {} fields, the header has {width}", row.len())
    };
    Some(RowError {
        line: opened,
        message: format!(
            "unterminated quote: the quoted field opened on line {opened} ran on to line {end}; \
             lines {}-{end} were swallowed ({why}) and are not stored as one company",
            opened + 1
        ),
    })
}

fn set_field(rec: &mut Record, col: Column, text: &str) {
    match col {
        Column::Name => put(&mut rec.name, text),
        Column::Uscc => put_opt(&mut rec.uscc, text),
        Column::Scope => put(&mut rec.scope, text),
        Column::Address => put_opt(&mut rec.address, text),
        Column::LegalRep => put_opt(&mut rec.legal_rep, text),
        Column::RegDate => put_opt(&mut rec.reg_date, text),
        Column::Status => put_opt(&mut rec.status, text),
    }
}

/// Finds U+FFFD, the decoder's mark for undecodable bytes (built once).
static REPLACEMENT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new("\u{FFFD}"));

/// Final checks shared by all formats: a record needs a name; undecodable
/// bytes (shown as U+FFFD by the decoder) are reported. `marked`: the
/// record's text may hold a U+FFFD (false when the caller knows it does not).
fn check_record(rec: &mut Record, marked: bool) -> Result<(), RowError> {
    for (label, text) in [
        ("name", Some(&rec.name)),
        ("uscc", rec.uscc.as_ref()),
        ("scope", Some(&rec.scope)),
    ] {
        if marked && text.is_some_and(|t| REPLACEMENT.find(t.as_bytes()).is_some()) {
            rec.problems
                .push(format!("undecodable bytes in {label} (shown as \u{FFFD})"));
        }
    }
    if rec.name.is_empty() {
        let mut message = "no enterprise name in this row".to_owned();
        if let Some(p) = rec.problems.first() {
            message.push_str("; ");
            message.push_str(p);
        }
        return Err(RowError {
            line: rec.line,
            message,
        });
    }
    Ok(())
}

fn record_from_json(line: u64, text: &str) -> Option<Result<Record, RowError>> {
    if text.is_empty() {
        return None;
    }
    let map = match serde_json::from_str::<serde_json::Value>(text) {
        Ok(serde_json::Value::Object(m)) => m,
        Ok(other) => {
            return Some(Err(RowError {
                line,
                message: format!("expected a JSON object, found {}", json_kind(&other)),
            }));
        }
        Err(e) => {
            return Some(Err(RowError {
                line,
                message: format!("malformed JSON: {e}"),
            }));
        }
    };
    let mut rec = Record {
        line,
        ..Record::default()
    };
    let mut problems = Vec::new();
    for (key, value) in &map {
        let Some(col) = Column::ALL
            .into_iter()
            .find(|c| c.as_str() == key || c.aliases().contains(&normalize_header(key).as_str()))
        else {
            continue;
        };
        let text = match value {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Null => continue,
            serde_json::Value::Number(n) => {
                if col == Column::Uscc {
                    problems.push("uscc is a JSON number, not a string".to_owned());
                }
                n.to_string()
            }
            other => other.to_string(),
        };
        set_field(&mut rec, col, text.trim());
    }
    rec.problems = problems;
    Some(check_record(&mut rec, true).map(|()| rec))
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

/// Transcodes a byte stream to UTF-8 on the fly with a fixed-size buffer.
///
/// Undecodable bytes become U+FFFD, which `check_record` reports per record, so a
/// bad byte costs one record a warning instead of stopping the file.
pub struct DecodingReader<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    in_start: usize,
    in_end: usize,
    output: Vec<u8>,
    out_start: usize,
    out_end: usize,
    eof: bool,
    finished: bool,
    /// UTF-8 input handed on unchanged (validity is checked per field).
    passthrough: bool,
}

/// What a CSV or JSON Lines input is read from: a file, or standard input
/// for the path `-`.
type Source = BufReader<Box<dyn Read + Send>>;

/// Whether `path` names standard input (`-`).
pub fn is_stdin(path: &Path) -> bool {
    path.as_os_str() == "-"
}

impl DecodingReader<Source> {
    /// Opens `path`, decides its encoding (BOM, then `forced`, then
    /// valid UTF-8, then `chardetng`'s guess over the first 64 KiB).
    pub fn open(
        path: &Path,
        forced: Option<&'static Encoding>,
    ) -> std::io::Result<(Self, &'static Encoding)> {
        let inner: Box<dyn Read + Send> = if is_stdin(path) {
            Box::new(std::io::stdin())
        } else {
            Box::new(File::open(path)?)
        };
        let mut file = BufReader::with_capacity(1 << 16, inner);
        let mut head = Vec::with_capacity(SNIFF_BYTES);
        (&mut file)
            .take(SNIFF_BYTES as u64)
            .read_to_end(&mut head)?;
        let at_eof = head.len() < SNIFF_BYTES;
        let (encoding, bom_len) = match Encoding::for_bom(&head) {
            Some((e, n)) => (e, n),
            None => (forced.unwrap_or_else(|| guess_encoding(&head, at_eof)), 0),
        };
        let reader = DecodingReader {
            inner: file,
            decoder: encoding.new_decoder_without_bom_handling(),
            in_start: bom_len,
            in_end: head.len(),
            input: {
                let mut v = head;
                v.resize(SNIFF_BYTES.max(v.len()), 0);
                v
            },
            output: vec![0; SNIFF_BYTES * 3 + 16],
            out_start: 0,
            out_end: 0,
            eof: at_eof,
            finished: false,
            passthrough: false,
        };
        Ok((reader, encoding))
    }
}

/// UTF-8 when the bytes are valid UTF-8 (a character cut at the end of the
/// sample is fine), otherwise the detector's guess (GBK for mainland exports).
fn guess_encoding(head: &[u8], complete: bool) -> &'static Encoding {
    match std::str::from_utf8(head) {
        Ok(_) => return UTF_8,
        Err(e) if e.error_len().is_none() && !complete => return UTF_8,
        Err(_) => {}
    }
    let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    det.feed(head, complete);
    det.guess(Some(b"cn"), chardetng::Utf8Detection::Deny)
}

impl<R: Read> DecodingReader<R> {
    /// For UTF-8 input, skips transcoding: the bytes are handed on as they
    /// are (after the BOM) and the reader validates them, which for CSV
    /// happens per field, so an invalid byte still costs only its record a
    /// warning. Saves one pass over the data.
    pub fn pass_utf8_through(&mut self) {
        if self.decoder.encoding() == UTF_8 {
            self.passthrough = true;
        }
    }

    /// Tab when the first line has more tabs than commas, `;` likewise.
    fn sniff_delimiter(&mut self) -> u8 {
        let head = &self.input[self.in_start..self.in_end];
        let line = head.split(|&b| b == b'\n').next().unwrap_or(head);
        let count = |c: u8| line.iter().filter(|&&b| b == c).count();
        let (commas, tabs, semis) = (count(b','), count(b'\t'), count(b';'));
        if tabs > commas && tabs >= semis {
            b'\t'
        } else if semis > commas {
            b';'
        } else {
            b','
        }
    }

    fn fill(&mut self) -> std::io::Result<()> {
        while self.out_start == self.out_end && !self.finished {
            if self.in_start == self.in_end && !self.eof {
                self.in_start = 0;
                self.in_end = 0;
                let n = self.inner.read(&mut self.input)?;
                self.in_end = n;
                if n == 0 {
                    self.eof = true;
                }
            }
            let (result, read, written, _) = self.decoder.decode_to_utf8(
                &self.input[self.in_start..self.in_end],
                &mut self.output,
                self.eof,
            );
            self.in_start += read;
            self.out_start = 0;
            self.out_end = written;
            // after the last call returns InputEmpty the decoder must not be used again
            if self.eof && result == encoding_rs::CoderResult::InputEmpty {
                self.finished = true;
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for DecodingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.passthrough {
            if self.in_start < self.in_end {
                let n = (self.in_end - self.in_start).min(buf.len());
                buf[..n].copy_from_slice(&self.input[self.in_start..self.in_start + n]);
                self.in_start += n;
                return Ok(n);
            }
            return if self.eof {
                Ok(0)
            } else {
                self.inner.read(buf)
            };
        }
        self.fill()?;
        let n = (self.out_end - self.out_start).min(buf.len());
        buf[..n].copy_from_slice(&self.output[self.out_start..self.out_start + n]);
        self.out_start += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write_tmp(name: &str, bytes: &[u8]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("finscan-import-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("tmp dir");
        let p = dir.join(name);
        std::fs::File::create(&p)
            .and_then(|mut f| f.write_all(bytes))
            .expect("write tmp file");
        p
    }

    fn read_all(path: &Path) -> Vec<Result<Record, RowError>> {
        open(path, &ImportOptions::default())
            .expect("open")
            .collect()
    }

    #[test]
    fn headers_are_found_in_chinese_or_english() {
        let p = write_tmp(
            "en.csv",
            b"Name,Credit_Code,Business Scope\nA,91110000600037341L,x\n",
        );
        let r = open(&p, &ImportOptions::default()).expect("open");
        assert_eq!(
            (r.layout.name, r.layout.uscc, r.layout.scope),
            (Some(0), Some(1), Some(2))
        );
        let p = write_tmp(
            "zh.csv",
            "经营范围,企业名称,统一社会信用代码\nx,甲公司,1\n".as_bytes(),
        );
        let r = open(&p, &ImportOptions::default()).expect("open");
        assert_eq!(
            (r.layout.name, r.layout.uscc, r.layout.scope),
            (Some(1), Some(2), Some(0))
        );
    }

    #[test]
    fn a_title_row_above_the_header_is_skipped() {
        let p = write_tmp(
            "title.csv",
            "2024年新设企业名单,,\n企业名称,统一社会信用代码,经营范围\n甲公司,1,x\n".as_bytes(),
        );
        let recs = read_all(&p);
        assert_eq!(recs.len(), 1);
        let r = recs[0].as_ref().expect("record");
        assert_eq!((r.line, r.name.as_str()), (3, "甲公司"));
    }

    #[test]
    fn missing_name_column_fails_the_file_with_its_headers() {
        let p = write_tmp("noname.csv", b"foo,bar\n1,2\n");
        match open(&p, &ImportOptions::default()) {
            Err(ImportError::MissingColumn { found, .. }) => assert_eq!(found, "foo,bar"),
            other => panic!("expected MissingColumn, got {:?}", other.map(|r| r.layout)),
        }
    }

    #[test]
    fn column_override_maps_an_unusual_header() {
        let p = write_tmp(
            "odd.csv",
            "主体全称,代码\n甲公司,91110000600037341L\n".as_bytes(),
        );
        let mut opts = ImportOptions::default();
        opts.columns.add("name=主体全称").expect("spec");
        opts.columns.add("uscc=代码").expect("spec");
        let recs: Vec<_> = open(&p, &opts).expect("open").collect();
        let r = recs[0].as_ref().expect("record");
        assert_eq!(r.uscc.as_deref(), Some("91110000600037341L"));
        assert!(ColumnMap::default().add("nonsense").is_err());
    }

    #[test]
    fn gbk_bytes_are_decoded() {
        let (gbk, _, _) =
            encoding_rs::GBK.encode("企业名称,经营范围\n西安理财咨询有限公司,投资理财\n");
        let p = write_tmp("gbk.csv", &gbk);
        let r = open(&p, &ImportOptions::default()).expect("open");
        assert_eq!(r.encoding, "GBK");
        let recs: Vec<_> = r.collect();
        assert_eq!(
            recs[0].as_ref().expect("record").name,
            "西安理财咨询有限公司"
        );
    }

    #[test]
    fn utf16_tab_separated_export_is_read() {
        // Excel's "Unicode text" export: UTF-16LE with BOM, tab separated
        let text = "企业名称\t经营范围\r\n西安理财咨询有限公司\t投资理财\r\n";
        let mut bytes = vec![0xFF, 0xFE];
        for u in text.encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        let p = write_tmp("utf16.txt", &bytes);
        let r = open(&p, &ImportOptions::default()).expect("open");
        assert_eq!(r.encoding, "UTF-16LE");
        let recs: Vec<_> = r.collect();
        let rec = recs[0].as_ref().expect("record");
        assert_eq!(
            (rec.line, rec.name.as_str(), rec.scope.as_str()),
            (2, "西安理财咨询有限公司", "投资理财")
        );
    }

    #[test]
    fn undecodable_bytes_are_a_record_problem_not_a_drop() {
        let mut bytes = "企业名称,经营范围\n甲公司,投资\n".as_bytes().to_vec();
        bytes.extend_from_slice(b"\xff\xfe\xfd,x\n");
        bytes.extend_from_slice("乙公司,咨询\n".as_bytes());
        let p = write_tmp("bad-utf8.csv", &bytes);
        let recs = open(
            &p,
            &ImportOptions {
                encoding: Some("utf-8".into()),
                ..ImportOptions::default()
            },
        )
        .expect("open")
        .collect::<Vec<_>>();
        assert_eq!(recs.len(), 3);
        let bad = recs[1].as_ref().expect("still a record");
        assert_eq!(bad.line, 3);
        assert!(
            bad.problems[0].contains("undecodable"),
            "{:?}",
            bad.problems
        );
        assert_eq!(recs[2].as_ref().expect("record").name, "乙公司");
    }

    #[test]
    fn short_and_long_rows_are_reported() {
        let p = write_tmp(
            "ragged.csv",
            "企业名称,统一社会信用代码,经营范围\n甲公司\n乙公司,1,投资,理财,多余\n,,\n".as_bytes(),
        );
        let recs = read_all(&p);
        assert_eq!(recs.len(), 2, "the all-empty row is not a record");
        assert!(recs[0].as_ref().expect("record").problems[0].contains("1 fields"));
        assert!(recs[1].as_ref().expect("record").problems[0].contains("unquoted"));
    }

    #[test]
    fn row_without_name_is_an_error_with_its_line() {
        let p = write_tmp(
            "noname-row.csv",
            "企业名称,经营范围\n,投资理财\n".as_bytes(),
        );
        let recs = read_all(&p);
        let e = recs[0].as_ref().expect_err("error");
        assert_eq!(e.line, 2);
    }

    #[test]
    fn json_lines_report_bad_lines_and_read_on() {
        let p = write_tmp(
            "r.jsonl",
            "{\"name\":\"甲公司\",\"uscc\":\"91110000600037341L\"}\n\n{broken\n[1]\n{\"企业名称\":\"乙公司\",\"经营范围\":\"理财\"}\n"
                .as_bytes(),
        );
        let recs = read_all(&p);
        assert_eq!(recs.len(), 4);
        assert_eq!(recs[0].as_ref().expect("record").name, "甲公司");
        assert_eq!(recs[1].as_ref().expect_err("broken").line, 3);
        assert!(
            recs[2]
                .as_ref()
                .expect_err("array")
                .message
                .contains("an array")
        );
        let r = recs[3].as_ref().expect("record");
        assert_eq!((r.line, r.scope.as_str()), (5, "理财"));
    }

    #[test]
    fn decoding_reader_streams_in_small_pieces() {
        // a multi-byte character cut at every possible buffer boundary
        let text = "企业名称\n".repeat(50_000);
        let (gbk, _, _) = encoding_rs::GBK.encode(&text);
        let p = write_tmp("big-gbk.csv", &gbk);
        let (mut r, enc) = DecodingReader::open(&p, None).expect("open");
        assert_eq!(enc.name(), "GBK");
        let mut out = String::new();
        r.read_to_string(&mut out).expect("valid utf-8 out");
        assert_eq!(out, text);
    }

    /// An unterminated quote in a large file: the CSV reader is stopped at
    /// [`MAX_RECORD_BYTES`] for that record instead of reading the rest of
    /// the file into one field; the record before it is read.
    /// An XLSX of a header and `rows` (cells as text; "" left unwritten).
    fn xlsx(name: &str, rows: &[&[&str]]) -> PathBuf {
        let path = write_tmp(name, b"");
        let mut book = rust_xlsxwriter::Workbook::new();
        let sheet = book.add_worksheet();
        for (r, row) in rows.iter().enumerate() {
            for (c, cell) in row.iter().enumerate() {
                if !cell.is_empty() {
                    sheet.write_string(r as u32, c as u16, *cell).expect("cell");
                }
            }
        }
        book.save(&path).expect("save");
        path
    }

    #[test]
    fn xlsx_rows_with_empty_last_cells_are_not_short() {
        let p = xlsx(
            "trailing.xlsx",
            &[
                &["企业名称", "统一社会信用代码", "经营范围", "住所"],
                &["安康商贸有限公司", "91110000600037341L", "日用百货", ""],
                &["汉滨区百货商店", "", "", ""],
            ],
        );
        let rows = read_all(&p);
        assert_eq!(rows.len(), 2);
        for r in rows {
            let r = r.expect("record");
            assert!(r.problems.is_empty(), "line {}: {:?}", r.line, r.problems);
        }
    }

    /// A cell calamine cannot read: the whole row before it is delivered,
    /// then one error, and the sheet ends there.
    #[test]
    fn xlsx_error_mid_sheet_keeps_the_rows_before_it() {
        let p = xlsx(
            "broken.xlsx",
            &[
                &["企业名称", "经营范围"],
                &["安康商贸有限公司", "日用百货"],
                &["BROKEN", "日用百货"],
                &["汉滨区百货商店", "日用百货"],
            ],
        );
        // rewrite row 3's first cell into an element calamine rejects
        let mut zip = zip::ZipArchive::new(File::open(&p).expect("xlsx")).expect("zip");
        let mut files = Vec::new();
        for i in 0..zip.len() {
            let mut f = zip.by_index(i).expect("entry");
            let mut data = Vec::new();
            f.read_to_end(&mut data).expect("read entry");
            files.push((f.name().to_owned(), data));
        }
        let mut out = zip::ZipWriter::new(File::create(&p).expect("rewrite"));
        for (name, data) in files {
            let data = if name == "xl/worksheets/sheet1.xml" {
                let xml = String::from_utf8(data).expect("xml");
                let at = xml.find(r#"<c r="A3""#).expect("cell A3");
                let end = at + xml[at..].find("</c>").expect("cell end") + 4;
                format!("{}<c r=\"A3\"><x>1</x></c>{}", &xml[..at], &xml[end..]).into_bytes()
            } else {
                data
            };
            out.start_file(name, zip::write::SimpleFileOptions::default())
                .expect("entry");
            out.write_all(&data).expect("write entry");
        }
        out.finish().expect("zip");
        let rows = read_all(&p);
        assert_eq!(rows.len(), 2, "{rows:?}");
        assert_eq!(rows[0].as_ref().expect("row 2").name, "安康商贸有限公司");
        let err = rows[1].as_ref().expect_err("error");
        assert_eq!(err.line, 3);
        assert!(
            err.message.contains("the rest of the sheet was not read"),
            "{err:?}"
        );
    }

    #[test]
    fn cells_are_trimmed_as_str_trim_trims() {
        for c in [
            "",
            " ",
            "a",
            " a",
            "a ",
            "\u{3000}安康\u{3000}",
            "安康",
            "安\u{a0}",
            "\r",
            "x\r",
            "\u{2028}y",
        ] {
            assert_eq!(trim_cell(c), c.trim(), "{c:?}");
        }
    }

    #[test]
    fn a_character_broken_by_a_separator_is_not_read_as_an_empty_field() {
        // 理 is E7 90 86: its bytes split by a comma. Without the comma the
        // row is valid UTF-8, with it neither field is.
        let mut bytes = "企业名称,经营范围\n安康".as_bytes().to_vec();
        bytes.extend_from_slice(&[0xE7, 0x90, b',', 0x86]);
        bytes.extend_from_slice("咨询\n".as_bytes());
        let path = write_tmp("broken-char.csv", &bytes);
        let opts = ImportOptions {
            encoding: Some("utf-8".into()),
            ..ImportOptions::default()
        };
        let rows: Vec<_> = open(&path, &opts).expect("open").collect();
        let rec = rows[0].as_ref().expect("record");
        assert!(
            rec.name.starts_with("安康") && rec.name.contains('\u{FFFD}'),
            "{rec:?}"
        );
        assert!(
            rec.scope.ends_with("咨询") && rec.scope.contains('\u{FFFD}'),
            "{rec:?}"
        );
        for field in ["name", "scope"] {
            let problem = format!("undecodable bytes in {field}");
            assert!(
                rec.problems.iter().any(|p| p.starts_with(&problem)),
                "{problem}: {rec:?}"
            );
        }
    }

    #[test]
    fn unterminated_quote_in_a_large_file_stops_at_the_record_cap() {
        let mut csv = String::from(
            "企业名称,统一社会信用代码,经营范围\n安康好公司,91110000600037341L,咨询\n\"坏引号公司,91110000600037341L,理财咨询\n",
        );
        let line = "公司,91110000600037341L,日用百货销售、五金交电、办公用品\n";
        while csv.len() < MAX_RECORD_BYTES + (4 << 20) {
            csv.push_str(line);
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad-large.csv");
        std::fs::write(&path, csv).unwrap();
        let mut records = open(&path, &ImportOptions::default()).unwrap();
        let mut rec = Record::default();
        let mut names = Vec::new();
        let mut errors = Vec::new();
        while let Some(r) = records.read_into(&mut rec) {
            match r {
                Ok(()) => names.push(rec.name.clone()),
                Err(e) => errors.push(e),
            }
        }
        assert_eq!(names, ["安康好公司"]);
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 3);
        assert!(
            errors[0]
                .message
                .contains("the rest of the file was not read"),
            "{}",
            errors[0].message
        );
        // and reading stopped there
        let Inner::Sheet { .. } = records.inner else {
            panic!("reading stopped")
        };
    }

    #[test]
    fn unterminated_quote_is_reported_with_the_lines_it_swallowed() {
        let mut csv = String::from(
            "企业名称,统一社会信用代码,经营范围\n\"坏引号公司,91110000600037341L,理财咨询\n",
        );
        for i in 0..60 {
            csv.push_str(&format!("公司{i},91110000600037341L,咨询\n"));
        }
        let path = write_tmp("bad-quote.csv", csv.as_bytes());
        let errors: Vec<RowError> = read_all(&path)
            .into_iter()
            .filter_map(Result::err)
            .collect();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].line, 2);
        assert!(
            errors[0].message.contains("unterminated quote"),
            "{}",
            errors[0].message
        );
    }
}
