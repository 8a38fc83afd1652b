//! The text pipeline: raw bytes → decoded text → visible text → normalized
//! text, each step with an offset map to the one before.
//!
//! Owns charset decisions, HTML-to-text and normalization. Knows nothing of
//! rules or hits: `scan` asks it for text and for the [`RawSpan`] behind a
//! [`TextSpan`].

pub mod decode;
pub mod html;
pub mod normalize;
pub mod span;

pub use decode::{CharsetSource, Decoded, decode};
pub use html::{Extracted, extract_text, looks_like_html};
pub use normalize::{Normalizations, Normalized, normalize, normalize_into, normalize_term};
pub use span::{OffsetMap, RawSpan, TextSpan};

/// What kind of document the raw bytes hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DocKind {
    Html,
    Text,
    /// Decide from the bytes.
    #[default]
    Sniff,
}

impl DocKind {
    /// From an HTTP `Content-Type` value.
    pub fn from_content_type(ct: &str) -> Self {
        match mime_type(ct).as_str() {
            "text/html" | "application/xhtml+xml" => DocKind::Html,
            "text/plain" => DocKind::Text,
            _ => DocKind::Sniff,
        }
    }

    /// From a file name's extension.
    pub fn from_path(path: &std::path::Path) -> Self {
        let ext = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("html" | "htm" | "xhtml" | "shtml" | "jsp" | "asp" | "aspx" | "php") => {
                DocKind::Html
            }
            Some("txt" | "text") => DocKind::Text,
            _ => DocKind::Sniff,
        }
    }
}

/// The media type of a `Content-Type` value, lower case, without parameters.
pub fn mime_type(ct: &str) -> String {
    ct.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// The charset parameter of a `Content-Type` value, if any.
pub fn content_type_charset(ct: &str) -> Option<&str> {
    ct.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| v.trim().trim_matches(['"', '\'']))
    })
}

/// A document taken through decode and text extraction.
#[derive(Debug, Clone)]
pub struct TextDoc {
    pub decoded: Decoded,
    /// Visible text; for plain text, the decoded text itself.
    pub visible: String,
    /// Maps `visible` to `decoded.text`; `None` when they are the same.
    visible_map: Option<OffsetMap>,
    pub title: Option<String>,
    pub is_html: bool,
}

/// Largest document the pipeline takes. Offsets are kept as `u32`, and
/// decoding can triple the size (a legacy byte becomes U+FFFD or a 3-byte
/// character), so raw input is cut at 1 GiB.
pub const MAX_DOCUMENT_BYTES: usize = 1 << 30;

impl TextDoc {
    /// Decodes `raw` and extracts its visible text.
    ///
    /// `header_charset` is the charset of an HTTP `Content-Type`, if one was
    /// received. Inputs over [`MAX_DOCUMENT_BYTES`] are truncated to it.
    pub fn new(raw: &[u8], kind: DocKind, header_charset: Option<&str>) -> Self {
        let raw = &raw[..raw.len().min(MAX_DOCUMENT_BYTES)];
        let decoded = decode(raw, header_charset);
        let is_html = match kind {
            DocKind::Html => true,
            DocKind::Text => false,
            DocKind::Sniff => looks_like_html(decoded.text.as_bytes()),
        };
        Self::from_decoded(decoded, is_html)
    }

    /// Extracts the visible text of decoded text (HTML when `is_html`).
    pub fn from_decoded(decoded: Decoded, is_html: bool) -> Self {
        if is_html {
            let e = extract_text(&decoded.text);
            TextDoc {
                decoded,
                visible: e.text,
                visible_map: Some(e.map),
                title: e.title,
                is_html,
            }
        } else {
            TextDoc {
                visible: decoded.text.clone(),
                decoded,
                visible_map: None,
                title: None,
                is_html,
            }
        }
    }

    /// The raw bytes behind a span of the visible text.
    pub fn raw_span(&self, span: TextSpan) -> RawSpan {
        let decoded = match &self.visible_map {
            Some(m) => m.map_range(span.range()),
            None => span.range(),
        };
        let raw = self.decoded.map.map_range(decoded);
        RawSpan {
            start: raw.start,
            end: raw.end,
        }
    }

    /// The raw bytes `raw[span]` decoded as the document was: the evidence as written.
    pub fn written(&self, raw: &[u8], span: RawSpan) -> String {
        let bytes = &raw[span.start.min(raw.len())..span.end.min(raw.len())];
        self.decoded
            .encoding
            .decode_without_bom_handling(bytes)
            .0
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_charset_parameter() {
        assert_eq!(content_type_charset("text/html; charset=GBK"), Some("GBK"));
        assert_eq!(
            content_type_charset("text/html;charset=\"utf-8\""),
            Some("utf-8")
        );
        assert_eq!(content_type_charset("text/html"), None);
    }

    #[test]
    fn html_span_maps_through_markup_to_raw() {
        let raw = "<p>平台理<b>财</b></p>".as_bytes();
        let doc = TextDoc::new(raw, DocKind::Sniff, None);
        assert!(doc.is_html);
        let s = doc.visible.find("理财").unwrap();
        let span = doc.raw_span(TextSpan {
            start: s,
            end: s + 6,
        });
        assert_eq!(doc.written(raw, span), "理<b>财");
    }
}
