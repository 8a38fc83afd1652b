//! Exports for those who act on findings, outside finscan:
//!
//! * [`takedown`]: the takedown list for the internet information office
//!   (网信办): one row per site, XLSX / CSV / JSON; it reads findings
//!   through [`crate::review`] only, never the stores behind them.
//! * [`companies`]: the list of flagged companies for the county
//!   governments: one row per registry finding, a sheet per county.
//! * [`warc`]: the evidence behind hits as WARC 1.1, request and response
//!   records as fetched.
//!
//! Owns: choosing the stored pages an export covers ([`PageSelection`]) and
//! writing them out. Must not touch: the store's trees (it reads pages and
//! bodies through [`crate::store::Store`] only) or the crawl.

pub mod companies;
mod table;
pub mod takedown;
pub mod warc;

use crate::crawl::urls;
use crate::store::{PageRecord, Store, StoredHit};
use crate::time::Timestamp;

pub use warc::{
    CaptureBlocks, Earlier, RecordId, Skip, WarcSummary, WarcWriter, export_warc, warc_date,
};

/// The format of a sheet-like export (the takedown list, the companies
/// list), as `--format` and the API's `format` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// One workbook: a frozen header, column widths, long text wrapped.
    Xlsx,
    /// UTF-8 with a byte-order mark, so Excel on a Chinese desktop opens it.
    Csv,
    /// An array of objects keyed by the Chinese headers, for systems.
    Json,
}

impl Format {
    pub const ALL: [Format; 3] = [Format::Xlsx, Format::Csv, Format::Json];

    /// The format's name, which is also its file extension.
    pub fn name(self) -> &'static str {
        match self {
            Format::Xlsx => "xlsx",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            Format::Csv => "text/csv; charset=utf-8",
            Format::Json => "application/json",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| format!("format={s}: expected xlsx, csv or json"))
    }
}

/// Why an export stopped, or (for [`ExportError::NoSuchPage`]) why one page
/// of a WARC export was left out.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// A file the export writes.
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Xlsx {
        path: String,
        source: rust_xlsxwriter::XlsxError,
    },
    #[error("{path}: {source}")]
    Csv { path: String, source: csv::Error },
    /// The stream a WARC is written to (a file, a response body).
    #[error("writing the WARC: {0}")]
    Write(#[from] std::io::Error),
    #[error("{url}: no page is stored under this URL")]
    NoSuchPage { url: String },
}

/// Which stored pages an export covers, until the review layer passes its
/// own list of pages (any iterator of page records will do: see
/// [`export_warc`]).
#[derive(Debug, Clone, Default)]
pub struct PageSelection {
    /// A host, `host:port`, or a registrable domain (`a.com.cn` covers
    /// `www.a.com.cn`).
    pub host: Option<String>,
    /// Only these URLs (normalized as the crawler stores them).
    pub urls: Vec<String>,
    /// Fetched at or after.
    pub since: Option<Timestamp>,
    /// Fetched before.
    pub until: Option<Timestamp>,
    /// Every page with a stored body, not only pages with hits.
    pub all_pages: bool,
}

impl PageSelection {
    /// Whether a stored page is covered (the URL list is applied by
    /// [`PageSelection::pages`], which looks those pages up by key).
    pub fn matches(&self, p: &PageRecord) -> bool {
        if !self.all_pages && p.hit_ids.is_empty() {
            return false;
        }
        self.host_and_time(&p.host, &p.fetched_at)
    }

    /// Whether the evidence of a stored hit is covered: its host, its last
    /// sighting in the time window, its URL among [`PageSelection::urls`]
    /// when there are any.
    pub fn matches_hit(&self, h: &StoredHit) -> bool {
        if !self.urls.is_empty()
            && !self
                .urls
                .iter()
                .any(|u| urls::normalize(u).map_or_else(|_| *u == h.url, |n| n.as_str() == h.url))
        {
            return false;
        }
        self.host_and_time(&h.host, &h.last_seen)
    }

    fn host_and_time(&self, host: &str, at: &str) -> bool {
        if let Some(want) = &self.host {
            let bare = host.rsplit_once(':').map_or(host, |(h, _)| h);
            if !(want.eq_ignore_ascii_case(host)
                || want.eq_ignore_ascii_case(bare)
                || urls::registrable_domain(bare).eq_ignore_ascii_case(want))
            {
                return false;
            }
        }
        if self.since.is_some() || self.until.is_some() {
            let Some(t) = crate::time::from_stored(at) else {
                return false;
            };
            if self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t >= u) {
                return false;
            }
        }
        true
    }

    /// The bodies hits were read in that the covered pages no longer hold:
    /// the page was fetched again since (taken down, 404, or changed), so
    /// its stored exchange is the later one, but the evidence a finding
    /// and the takedown list name by SHA-256 is still in the database.
    /// One per URL and body, in URL order. Reads every stored hit and, for
    /// a covered one, its page's record.
    pub fn earlier_evidence(&self, store: &Store) -> Result<Vec<Earlier>, ExportError> {
        let mut found: std::collections::BTreeMap<(String, String), Earlier> = Default::default();
        for h in store.hits_iter() {
            let h = h?;
            let Some(sha) = h.sha256.as_deref() else {
                continue;
            };
            if !self.matches_hit(&h) {
                continue;
            }
            let key = (h.url.clone(), sha.to_owned());
            if let Some(e) = found.get_mut(&key) {
                e.hits.push(h.id.clone());
                e.last_seen = e.last_seen.clone().max(h.last_seen.clone());
                continue;
            }
            let current = store.page(&h.url)?;
            if current.as_ref().and_then(|p| p.sha256.as_deref()) == Some(sha) {
                continue;
            }
            found.insert(
                key,
                Earlier {
                    url: h.url.clone(),
                    sha256: sha.to_owned(),
                    last_seen: h.last_seen.clone(),
                    hits: vec![h.id.clone()],
                    now: current.map(|p| match p.status {
                        Some(st) => format!("HTTP {st}"),
                        None => format!("page {}", p.state.as_str()),
                    }),
                },
            );
        }
        Ok(found.into_values().collect())
    }

    /// The selection in words, for the WARC's `warcinfo` record.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(h) = &self.host {
            parts.push(format!("host={h}"));
        }
        for u in &self.urls {
            parts.push(format!("url={u}"));
        }
        if let Some(s) = self.since {
            parts.push(format!("since={s}"));
        }
        if let Some(u) = self.until {
            parts.push(format!("until={u}"));
        }
        parts.push(
            if self.all_pages {
                "pages=all"
            } else {
                "pages=with-hits"
            }
            .to_string(),
        );
        parts.join("; ")
    }

    /// The covered pages, one at a time, in URL order (or in the order of
    /// [`PageSelection::urls`]). A listed URL with no stored page yields
    /// [`ExportError::NoSuchPage`], which an export reports and skips.
    pub fn pages<'a>(
        &'a self,
        store: &'a Store,
    ) -> Box<dyn Iterator<Item = Result<PageRecord, ExportError>> + 'a> {
        if self.urls.is_empty() {
            return Box::new(store.pages_iter().filter_map(move |p| match p {
                Ok(p) if self.matches(&p) => Some(Ok(p)),
                Ok(_) => None,
                Err(e) => Some(Err(ExportError::Store(e))),
            }));
        }
        Box::new(self.urls.iter().filter_map(move |u| {
            let key = urls::normalize(u)
                .map(|n| n.to_string())
                .unwrap_or_else(|_| u.clone());
            match store.page(&key) {
                Ok(Some(p)) if self.matches(&p) => Some(Ok(p)),
                Ok(Some(_)) => None,
                Ok(None) => Some(Err(ExportError::NoSuchPage { url: u.clone() })),
                Err(e) => Some(Err(ExportError::Store(e))),
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PageState;

    fn page(url: &str, host: &str, hits: usize, at: &str) -> PageRecord {
        let mut p = PageRecord::blank(url, host, PageState::Fetched, 0, 1);
        p.hit_ids = (0..hits).map(|i| i.to_string()).collect();
        p.fetched_at = at.to_string();
        p
    }

    #[test]
    fn selection_takes_hosts_domains_and_time_windows() {
        let p = page(
            "http://www.a.com.cn:8080/x",
            "www.a.com.cn:8080",
            1,
            "2026-12-01T00:00:00Z",
        );
        let mut s = PageSelection::default();
        assert!(s.matches(&p));
        for host in [
            "www.a.com.cn",
            "www.a.com.cn:8080",
            "a.com.cn",
            "WWW.A.COM.CN",
        ] {
            s.host = Some(host.into());
            assert!(s.matches(&p), "{host}");
        }
        s.host = Some("b.com.cn".into());
        assert!(!s.matches(&p));
        s.host = None;
        s.since = Some("2026-12-01T00:00:00Z".parse().unwrap());
        assert!(s.matches(&p));
        s.until = Some("2026-12-01T00:00:00Z".parse().unwrap());
        assert!(!s.matches(&p), "until is exclusive");
    }

    #[test]
    fn pages_without_hits_only_with_all_pages() {
        let p = page("http://a.cn/", "a.cn", 0, "2026-12-01T00:00:00Z");
        let mut s = PageSelection::default();
        assert!(!s.matches(&p));
        s.all_pages = true;
        assert!(s.matches(&p));
        assert_eq!(s.describe(), "pages=all");
    }
}
