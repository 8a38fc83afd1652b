//! Findings as they are shown: in a listing ([`FindingRow`]) and one by one
//! with their evidence ([`FindingDetail`]). `hits list --json`, `hits show
//! --json` and the HTTP API write these, and a command that reads them from
//! a server deserializes them back, so the same data prints the same way
//! whether the database was opened here or the server answered.

use serde::{Deserialize, Serialize};

use super::finding::{Event, Finding, FindingId};
use super::query::Query;
use super::{Desk, ReviewError};
use crate::store::PageRecord;

/// A finding in a listing: the stored finding and, for a page finding, what
/// the latest crawl recorded of its hit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingRow {
    #[serde(flatten)]
    pub finding: Finding,
    /// When a crawl last saw the evidence (page findings; RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<String>,
    /// How many more times the same rule term occurs on the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repeats: Option<usize>,
}

/// One finding with its evidence: the page it was found on, the evidence's
/// text (its raw bytes decoded with the page's charset) and every event.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FindingDetail {
    pub finding: FindingRow,
    pub evidence_text: Option<String>,
    pub page: Option<PageRecord>,
    pub events: Vec<Event>,
}

impl Desk {
    /// `f` as a listing shows it.
    pub fn row(&self, f: Finding) -> Result<FindingRow, ReviewError> {
        let hit = self.hit(&f)?;
        Ok(FindingRow {
            last_seen: hit.as_ref().map(|h| h.last_seen.clone()),
            repeats: hit.map(|h| h.repeats),
            finding: f,
        })
    }

    /// [`Desk::each`], each finding made its row as it is read.
    pub fn each_row<E: From<ReviewError>>(
        &self,
        q: &Query,
        mut each: impl FnMut(FindingRow) -> Result<(), E>,
    ) -> Result<Option<super::query::Cursor>, E> {
        self.each(q, |f| each(self.row(f)?))
    }

    /// Finding `id` with its evidence, or `None` when there is no such
    /// finding.
    pub fn detail(&self, id: FindingId) -> Result<Option<FindingDetail>, ReviewError> {
        let Some(f) = self.get(id)? else {
            return Ok(None);
        };
        let page = self.page_of(&f)?;
        let evidence_text = self.evidence_bytes(&f)?.map(|b| {
            let enc = page
                .as_ref()
                .and_then(|p| p.charset.as_deref())
                .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
                .unwrap_or(encoding_rs::UTF_8);
            enc.decode_without_bom_handling(&b).0.into_owned()
        });
        let events = self.history(id)?;
        Ok(Some(FindingDetail {
            finding: self.row(f)?,
            evidence_text,
            page,
            events,
        }))
    }
}
