//! Evidence as WARC 1.1 (ISO 28500:2017): for every exported page, the
//! `response` record (status line, headers and the raw body as stored) and
//! the `request` record of the fetch that delivered it, after one
//! `warcinfo` record naming finscan and the export's selection.
//!
//! Each record is its own gzip member (what `.warc.gz` readers and the
//! record-at-a-time tools such as `warcio index` expect). Records carry
//! `WARC-Block-Digest` and `WARC-Payload-Digest` as `sha1:` + base32, the
//! form WARC tools compute and check. Pages are read and written one at a
//! time: an export holds one page's body in memory, never the whole WARC.
//!
//! What "as fetched" means here, and the one place it bends:
//! * pages fetched since finscan keeps the HTTP exchange
//!   ([`crate::store::HttpExchange`]) get their request and response headers
//!   exactly as sent and received (names in lower case, as the client read
//!   them), their remote address as `WARC-IP-Address`;
//! * the stored body is the payload after the transfer coding (chunking)
//!   and, when finscan decoded it, the content coding (gzip, deflate, br)
//!   were removed: hits point into those bytes. So that the headers do not
//!   claim a coding the payload no longer has, `Transfer-Encoding` — and,
//!   for a decoded body, `Content-Encoding` and `Content-Length` — are
//!   written as `X-Original-…` with their values unchanged, and the record
//!   says so in a `Finscan-Note` field. No header is added or dropped;
//! * pages stored before finscan kept the exchange get what the page record
//!   knows (status, `Content-Type`, `ETag`, `Last-Modified`; `Host` from the
//!   URL), and a `Finscan-Note` saying that the rest was not stored. No
//!   header is invented;
//! * a body cut at the crawler's size cap is marked `WARC-Truncated: length`.

use std::io::{self, Write};

use data_encoding::BASE32;
use flate2::Compression;
use flate2::write::GzEncoder;
use sha1::{Digest, Sha1};

use super::ExportError;
use crate::store::{HttpExchange, PageRecord, Store};
use crate::time::Timestamp;

/// A page the export left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Skip {
    /// The page has no stored body (a failed fetch, a redirect, a page
    /// robots.txt disallows): there is no response to write. Not an error.
    NoBody { url: String, state: &'static str },
    /// The page names a body the database does not hold.
    BodyMissing { url: String, sha256: String },
    /// A URL asked for by name is not in the database.
    NoSuchPage { url: String },
}

impl Skip {
    /// Whether the skip is a fault (evidence asked for but not exported).
    pub fn is_error(&self) -> bool {
        !matches!(self, Skip::NoBody { .. })
    }

    pub fn url(&self) -> &str {
        match self {
            Skip::NoBody { url, .. } | Skip::BodyMissing { url, .. } | Skip::NoSuchPage { url } => {
                url
            }
        }
    }
}

impl std::fmt::Display for Skip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skip::NoBody { url, state } => write!(f, "{url}: no stored body (page {state})"),
            Skip::BodyMissing { url, sha256 } => {
                write!(f, "{url}: body {sha256} is missing from the database")
            }
            Skip::NoSuchPage { url } => write!(f, "{url}: no page is stored under this URL"),
        }
    }
}

/// A body a hit was read in that its page no longer holds (see
/// [`super::PageSelection::earlier_evidence`]): written as a `resource`
/// record, since its HTTP exchange was replaced by the later fetch's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Earlier {
    pub url: String,
    /// SHA-256 of the body (hex): its key in `bodies`.
    pub sha256: String,
    /// The latest sighting of a hit in it (RFC 3339, as stored).
    pub last_seen: String,
    /// The hits read in it.
    pub hits: Vec<String>,
    /// What the page is now (`HTTP 404`), when it is stored.
    pub now: Option<String>,
}

/// What an export wrote.
#[derive(Debug, Clone, Default)]
pub struct WarcSummary {
    /// Pages written (each a response and a request record).
    pub pages: usize,
    /// Earlier evidence bodies written (each a `resource` record).
    pub earlier: usize,
    /// Records written, the `warcinfo` included.
    pub records: u64,
    pub skipped: Vec<Skip>,
}

/// A WARC record id, `<urn:uuid:…>` (a random UUID, RFC 9562 version 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordId(String);

impl RecordId {
    fn random() -> RecordId {
        RecordId(format!("<urn:uuid:{}>", uuid::Uuid::new_v4()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `WARC-Date`: UTC to the second, `YYYY-MM-DDThh:mm:ssZ`.
pub fn warc_date(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `sha1:` and the base32 SHA-1 of the concatenated parts.
fn sha1_base32(parts: &[&[u8]]) -> String {
    let mut h = Sha1::new();
    for p in parts {
        h.update(p);
    }
    format!("sha1:{}", BASE32.encode(&h.finalize()))
}

/// A WARC field value on one line: CR and LF would end the field.
fn one_line(v: &str) -> String {
    v.replace(['\r', '\n'], " ")
}

/// The HTTP side of one capture, ready to be written around its body.
#[derive(Debug, Clone)]
pub struct CaptureBlocks {
    /// `WARC-Target-URI`: the URL that answered.
    pub target_uri: String,
    /// When the response arrived.
    pub date: Timestamp,
    /// `WARC-IP-Address`, when the connection reported it.
    pub ip: Option<String>,
    /// Request line and headers, ending with the empty line.
    pub request: Vec<u8>,
    pub request_notes: Vec<String>,
    /// Status line and headers, ending with the empty line.
    pub response_head: Vec<u8>,
    pub response_notes: Vec<String>,
    /// `WARC-Truncated` reason (`length` when the body was cut at the cap).
    pub truncated: Option<&'static str>,
}

fn push_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// `/path?query` of a URL (what an HTTP/1.1 request line names).
fn request_target(url: &url::Url) -> String {
    match url.query() {
        Some(q) => format!("{}?{q}", url.path()),
        None => url.path().to_owned(),
    }
}

impl CaptureBlocks {
    /// The blocks of a stored page (see the module documentation for what
    /// is written as received and what is marked).
    pub fn from_page(page: &PageRecord) -> CaptureBlocks {
        let mut notes = Vec::new();
        let fetched = page
            .http
            .as_ref()
            .map_or(page.fetched_at.as_str(), |x| x.fetched_at.as_str());
        let date = crate::time::from_stored(fetched).unwrap_or_else(|| {
            notes.push(format!(
                "the stored fetch time {fetched:?} is unreadable; WARC-Date is the time of export"
            ));
            crate::time::now()
        });
        let mut blocks = match &page.http {
            Some(x) => Self::recorded(x),
            None => Self::rebuilt(page),
        };
        blocks.date = date;
        blocks.response_notes.extend(notes);
        blocks.truncated = page.truncated.then_some("length");
        blocks
    }

    /// From the exchange as recorded.
    fn recorded(x: &HttpExchange) -> CaptureBlocks {
        let mut request = Vec::new();
        request.extend_from_slice(x.request_line.as_bytes());
        request.extend_from_slice(b"\r\n");
        for h in &x.request_headers {
            push_header(&mut request, &h.name, h.bytes());
        }
        request.extend_from_slice(b"\r\n");

        let mut head = format!("{} {} {}\r\n", x.version, x.status, x.reason).into_bytes();
        let mut renamed = Vec::new();
        for h in &x.response_headers {
            let name = h.name.to_ascii_lowercase();
            let rename = name == "transfer-encoding"
                || (x.decoded.is_some()
                    && (name == "content-encoding" || name == "content-length"));
            if rename {
                let new = format!("x-original-{name}");
                push_header(&mut head, &new, h.bytes());
                if !renamed.contains(&name) {
                    renamed.push(name);
                }
            } else {
                push_header(&mut head, &h.name, h.bytes());
            }
        }
        head.extend_from_slice(b"\r\n");
        let mut response_notes = Vec::new();
        if !renamed.is_empty() {
            let why = match &x.decoded {
                Some(c) => format!(
                    "the payload is the body as stored: transfer coding and content coding ({c}) removed"
                ),
                None => "the payload is the body as stored: transfer coding removed".to_string(),
            };
            response_notes.push(format!(
                "{why}; received headers {} are written as x-original-* with their values",
                renamed.join(", ")
            ));
        }
        CaptureBlocks {
            target_uri: x.url.clone(),
            date: Timestamp::UNIX_EPOCH,
            ip: x.remote_ip.clone(),
            request,
            request_notes: Vec::new(),
            response_head: head,
            response_notes,
            truncated: None,
        }
    }

    /// From a page stored before finscan kept the exchange: only what the
    /// page record knows, and notes that say so.
    fn rebuilt(page: &PageRecord) -> CaptureBlocks {
        let target_uri = if page.final_url.is_empty() {
            page.url.clone()
        } else {
            page.final_url.clone()
        };
        let parsed = url::Url::parse(&target_uri).ok();
        let mut request = Vec::new();
        let target = parsed.as_ref().map_or("/".to_string(), request_target);
        request.extend_from_slice(format!("GET {target} HTTP/1.1\r\n").as_bytes());
        if let Some(u) = &parsed
            && let Some(h) = u.host_str()
        {
            let host = match u.port() {
                Some(p) => format!("{h}:{p}"),
                None => h.to_owned(),
            };
            push_header(&mut request, "host", host.as_bytes());
        }
        request.extend_from_slice(b"\r\n");
        let request_notes = vec![
            "stored before finscan kept HTTP exchanges: the request headers were not stored; \
             the request line and host come from the URL"
                .to_string(),
        ];

        let mut response_notes = Vec::new();
        let status = match page.status {
            Some(s) if (200..300).contains(&s) => s,
            other => {
                let last = other.map_or("no status".to_string(), |s| format!("status {s}"));
                response_notes.push(format!(
                    "the last fetch got {last}; the stored body came from an earlier 2xx response whose status was not stored: 200 is written"
                ));
                200
            }
        };
        let reason = reqwest::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .unwrap_or("");
        let mut head = format!("HTTP/1.1 {status} {reason}\r\n").into_bytes();
        let mut kept = Vec::new();
        for (name, value) in [
            ("content-type", &page.content_type),
            ("etag", &page.etag),
            ("last-modified", &page.last_modified),
        ] {
            if let Some(v) = value {
                push_header(&mut head, name, one_line(v).as_bytes());
                kept.push(name);
            }
        }
        head.extend_from_slice(b"\r\n");
        response_notes.insert(
            0,
            format!(
                "stored before finscan kept HTTP exchanges: the status line and headers are rebuilt \
                 from the page record (status{}{}); the HTTP version is not known (HTTP/1.1 is written) \
                 and no other header was stored",
                if kept.is_empty() { "" } else { ", " },
                kept.join(", ")
            ),
        );
        CaptureBlocks {
            target_uri,
            date: Timestamp::UNIX_EPOCH,
            ip: None,
            request,
            request_notes,
            response_head: head,
            response_notes,
            truncated: None,
        }
    }
}

/// Writes WARC 1.1 records to any [`Write`], one gzip member each.
pub struct WarcWriter<W: Write> {
    out: W,
    warcinfo: Option<RecordId>,
    records: u64,
}

impl<W: Write> WarcWriter<W> {
    pub fn new(out: W) -> Self {
        WarcWriter {
            out,
            warcinfo: None,
            records: 0,
        }
    }

    /// Writes the `warcinfo` record (`application/warc-fields`); later
    /// records name it in `WARC-Warcinfo-ID`.
    pub fn write_warcinfo(
        &mut self,
        filename: Option<&str>,
        fields: &[(&str, String)],
    ) -> io::Result<RecordId> {
        let mut block = Vec::new();
        for (k, v) in fields {
            push_header(&mut block, k, one_line(v).as_bytes());
        }
        let id = RecordId::random();
        let mut head = vec![
            ("WARC-Type", "warcinfo".to_string()),
            ("WARC-Record-ID", id.0.clone()),
            ("WARC-Date", warc_date(crate::time::now())),
        ];
        if let Some(f) = filename {
            head.push(("WARC-Filename", one_line(f)));
        }
        head.push(("Content-Type", "application/warc-fields".to_string()));
        self.write_record(head, &[&block])?;
        self.warcinfo = Some(id.clone());
        Ok(id)
    }

    /// Writes one capture: the `response` record, then the `request` record
    /// that names it in `WARC-Concurrent-To`. Returns their ids.
    pub fn write_capture(
        &mut self,
        c: &CaptureBlocks,
        body: &[u8],
    ) -> io::Result<(RecordId, RecordId)> {
        let date = warc_date(c.date);
        let response_id = RecordId::random();
        let request_id = RecordId::random();
        let common = |kind: &str, id: &RecordId| {
            let mut f = vec![
                ("WARC-Type", kind.to_string()),
                ("WARC-Record-ID", id.0.clone()),
                ("WARC-Date", date.clone()),
                ("WARC-Target-URI", one_line(&c.target_uri)),
            ];
            if let Some(ip) = &c.ip {
                f.push(("WARC-IP-Address", one_line(ip)));
            }
            if let Some(w) = &self.warcinfo {
                f.push(("WARC-Warcinfo-ID", w.0.clone()));
            }
            f
        };

        let mut resp = common("response", &response_id);
        resp.push((
            "Content-Type",
            "application/http; msgtype=response".to_string(),
        ));
        resp.push(("WARC-Payload-Digest", sha1_base32(&[body])));
        if let Some(t) = c.truncated {
            resp.push(("WARC-Truncated", t.to_string()));
        }
        for n in &c.response_notes {
            resp.push(("Finscan-Note", one_line(n)));
        }

        let mut req = common("request", &request_id);
        req.push(("WARC-Concurrent-To", response_id.0.clone()));
        req.push((
            "Content-Type",
            "application/http; msgtype=request".to_string(),
        ));
        req.push(("WARC-Payload-Digest", sha1_base32(&[])));
        for n in &c.request_notes {
            req.push(("Finscan-Note", one_line(n)));
        }

        self.write_record(resp, &[&c.response_head, body])?;
        self.write_record(req, &[&c.request])?;
        Ok((response_id, request_id))
    }

    /// Writes a body kept as evidence whose HTTP exchange is no longer
    /// stored, as a `resource` record of `e.url` dated at its last
    /// sighting, with a note of what the page is now.
    pub fn write_resource(&mut self, e: &Earlier, body: &[u8]) -> io::Result<RecordId> {
        let id = RecordId::random();
        let date = crate::time::from_stored(&e.last_seen).unwrap_or_else(crate::time::now);
        let mut f = vec![
            ("WARC-Type", "resource".to_string()),
            ("WARC-Record-ID", id.0.clone()),
            ("WARC-Date", warc_date(date)),
            ("WARC-Target-URI", one_line(&e.url)),
        ];
        if let Some(w) = &self.warcinfo {
            f.push(("WARC-Warcinfo-ID", w.0.clone()));
        }
        f.push(("Content-Type", "application/octet-stream".to_string()));
        f.push(("WARC-Payload-Digest", sha1_base32(&[body])));
        f.push((
            "Finscan-Note",
            one_line(&format!(
                "the body hit(s) {} were read in (SHA-256 {}), as fetched; the page was fetched again since{}, so its HTTP exchange is not stored",
                e.hits.join(", "),
                e.sha256,
                e.now.as_deref().map(|n| format!(" ({n})")).unwrap_or_default()
            )),
        ));
        self.write_record(f, &[body])?;
        Ok(id)
    }

    /// One record as one gzip member: the version line, the named fields,
    /// `WARC-Block-Digest` and `Content-Length` over the block, the block,
    /// and the two CRLFs that end a record.
    fn write_record(&mut self, mut fields: Vec<(&str, String)>, block: &[&[u8]]) -> io::Result<()> {
        let len: usize = block.iter().map(|b| b.len()).sum();
        fields.push(("WARC-Block-Digest", sha1_base32(block)));
        fields.push(("Content-Length", len.to_string()));
        let mut gz = GzEncoder::new(&mut self.out, Compression::default());
        gz.write_all(b"WARC/1.1\r\n")?;
        for (k, v) in &fields {
            write!(gz, "{k}: {v}\r\n")?;
        }
        gz.write_all(b"\r\n")?;
        for b in block {
            gz.write_all(b)?;
        }
        gz.write_all(b"\r\n\r\n")?;
        gz.finish()?;
        self.records += 1;
        Ok(())
    }

    /// Records written so far.
    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and returns the writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Writes a WARC of `pages` to `out`: the `warcinfo` record (finscan, its
/// version, the `selection` in words), then each page's response and
/// request, then each `earlier` evidence body as a `resource` record,
/// reading one body at a time from `store`.
///
/// A page without a stored body, a body missing from the database and a
/// URL with no page ([`ExportError::NoSuchPage`] from the iterator) are
/// skipped and listed in the summary; any other error stops the export
/// (what was written is then an incomplete file the caller should discard).
/// An empty selection gives a valid WARC holding only the `warcinfo`.
pub fn export_warc<W: Write>(
    store: &Store,
    pages: impl Iterator<Item = Result<PageRecord, ExportError>>,
    earlier: &[Earlier],
    out: W,
    filename: Option<&str>,
    selection: &str,
) -> Result<(W, WarcSummary), ExportError> {
    let mut w = WarcWriter::new(out);
    let mut summary = WarcSummary::default();
    w.write_warcinfo(
        filename,
        &[
            (
                "software",
                format!("finscan/{}", env!("CARGO_PKG_VERSION")),
            ),
            ("format", "WARC File Format 1.1".to_string()),
            (
                "conformsTo",
                "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.1/"
                    .to_string(),
            ),
            (
                "description",
                "evidence of internet-finance activity found by finscan: the HTTP exchanges behind the selected pages".to_string(),
            ),
            ("finscan-selection", selection.to_string()),
            ("robots", "obey".to_string()),
        ],
    )?;
    for p in pages {
        let page = match p {
            Ok(p) => p,
            Err(ExportError::NoSuchPage { url }) => {
                summary.skipped.push(Skip::NoSuchPage { url });
                continue;
            }
            Err(e) => return Err(e),
        };
        let Some(sha) = page.sha256.as_deref() else {
            summary.skipped.push(Skip::NoBody {
                url: page.url.clone(),
                state: page.state.as_str(),
            });
            continue;
        };
        let Some(body) = store.body(sha)? else {
            summary.skipped.push(Skip::BodyMissing {
                url: page.url.clone(),
                sha256: sha.to_string(),
            });
            continue;
        };
        w.write_capture(&CaptureBlocks::from_page(&page), &body)?;
        summary.pages += 1;
    }
    for e in earlier {
        let Some(body) = store.body(&e.sha256)? else {
            summary.skipped.push(Skip::BodyMissing {
                url: e.url.clone(),
                sha256: e.sha256.clone(),
            });
            continue;
        };
        w.write_resource(e, &body)?;
        summary.earlier += 1;
    }
    summary.records = w.records();
    Ok((w.finish()?, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{HeaderField, PageState};

    fn exchange() -> HttpExchange {
        HttpExchange {
            fetched_at: "2026-12-06T01:02:03Z".into(),
            url: "http://a.test:8080/p?x=1".into(),
            request_line: "GET /p?x=1 HTTP/1.1".into(),
            request_headers: vec![
                HeaderField::new("user-agent", b"finscan"),
                HeaderField::new("host", b"a.test:8080"),
            ],
            version: "HTTP/1.1".into(),
            status: 200,
            reason: "Fine".into(),
            response_headers: vec![
                HeaderField::new("content-type", b"text/html"),
                HeaderField::new("content-encoding", b"gzip"),
                HeaderField::new("content-length", b"31"),
                HeaderField::new("x-raw", b"caf\xe9"),
            ],
            remote_ip: Some("127.0.0.1".into()),
            decoded: Some("gzip".into()),
        }
    }

    #[test]
    fn sha1_digests_are_base32_as_warc_tools_write_them() {
        // the SHA-1 of nothing, as warcio and Heritrix write it
        assert_eq!(sha1_base32(&[]), "sha1:3I42H3S6NNFQ2MSVX7XZKYAYSCX5QBYJ");
        assert_eq!(sha1_base32(&[b"ab", b"c"]), sha1_base32(&[b"abc"]));
    }

    #[test]
    fn warc_dates_are_utc_seconds() {
        let t: Timestamp = "2026-12-06T09:02:03.75+08:00".parse().unwrap();
        assert_eq!(warc_date(t), "2026-12-06T01:02:03Z");
    }

    #[test]
    fn a_decoded_body_renames_the_coding_headers_and_says_so() {
        let mut p = PageRecord::blank(
            "http://a.test:8080/p?x=1",
            "a.test:8080",
            PageState::Fetched,
            0,
            1,
        );
        p.http = Some(exchange());
        let b = CaptureBlocks::from_page(&p);
        let head = String::from_utf8_lossy(&b.response_head);
        assert!(head.starts_with("HTTP/1.1 200 Fine\r\n"), "{head}");
        assert!(
            head.contains("\r\nx-original-content-encoding: gzip\r\n"),
            "{head}"
        );
        assert!(
            head.contains("\r\nx-original-content-length: 31\r\n"),
            "{head}"
        );
        assert!(!head.contains("\r\ncontent-encoding"), "{head}");
        assert!(b.response_head.windows(11).any(|w| w == b"x-raw: caf\xe9"));
        assert!(head.ends_with("\r\n\r\n"));
        assert_eq!(b.response_notes.len(), 1, "{:?}", b.response_notes);
        assert_eq!(
            String::from_utf8_lossy(&b.request),
            "GET /p?x=1 HTTP/1.1\r\nuser-agent: finscan\r\nhost: a.test:8080\r\n\r\n"
        );
        assert_eq!(b.ip.as_deref(), Some("127.0.0.1"));
        assert_eq!(warc_date(b.date), "2026-12-06T01:02:03Z");
        assert_eq!(b.truncated, None);
    }

    #[test]
    fn an_old_page_gets_only_what_was_stored_and_a_note() {
        let mut p = PageRecord::blank("http://a.test/x", "a.test", PageState::Fetched, 0, 1);
        p.status = Some(200);
        p.content_type = Some("text/html; charset=gbk".into());
        p.truncated = true;
        let b = CaptureBlocks::from_page(&p);
        assert_eq!(
            String::from_utf8_lossy(&b.response_head),
            "HTTP/1.1 200 OK\r\ncontent-type: text/html; charset=gbk\r\n\r\n"
        );
        assert_eq!(
            String::from_utf8_lossy(&b.request),
            "GET /x HTTP/1.1\r\nhost: a.test\r\n\r\n"
        );
        assert!(
            b.response_notes[0].contains("rebuilt"),
            "{:?}",
            b.response_notes
        );
        assert!(!b.request_notes.is_empty());
        assert_eq!(b.ip, None);
        assert_eq!(b.truncated, Some("length"));
    }

    #[test]
    fn each_record_is_one_gzip_member() {
        let mut w = WarcWriter::new(Vec::new());
        w.write_warcinfo(None, &[("software", "t".into())]).unwrap();
        let mut p = PageRecord::blank("http://a.test/", "a.test", PageState::Fetched, 0, 1);
        p.http = Some(exchange());
        w.write_capture(&CaptureBlocks::from_page(&p), b"<p>body</p>")
            .unwrap();
        assert_eq!(w.records(), 3);
        let bytes = w.finish().unwrap();
        let mut rest: &[u8] = &bytes;
        let mut texts = Vec::new();
        while !rest.is_empty() {
            let mut d = flate2::bufread::GzDecoder::new(rest);
            let mut s = Vec::new();
            io::Read::read_to_end(&mut d, &mut s).unwrap();
            rest = d.into_inner();
            texts.push(s);
        }
        assert_eq!(texts.len(), 3);
        for t in &texts {
            assert!(t.starts_with(b"WARC/1.1\r\n") && t.ends_with(b"\r\n\r\n"));
        }
        assert!(texts[1].windows(11).any(|w| w == b"<p>body</p>"));
    }
}
