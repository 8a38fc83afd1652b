//! The HTTP exchange behind a stored page: the request as sent and the
//! response's status line and headers as received.
//!
//! Kept with the page (not in a tree of its own) because it is part of the
//! evidence: the WARC export (`export::warc`) writes it back beside the raw
//! body. Pages stored before finscan kept it have none (`PageRecord::http`
//! is `None`); nothing here is ever filled in afterwards.

use serde::{Deserialize, Serialize};

/// One header line: a name and its value as it went over the wire.
///
/// Names are lower case: the HTTP/1 client reads them case-folded (header
/// names are case-insensitive, RFC 9110 §5.1), so the case the server used is
/// not known. Values are exact: `value` holds them when they are UTF-8 (all
/// but a few legacy servers), otherwise `raw` holds the bytes and `value` a
/// lossy rendering for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderField {
    pub name: String,
    pub value: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<Vec<u8>>,
}

impl HeaderField {
    pub fn new(name: &str, value: &[u8]) -> HeaderField {
        match std::str::from_utf8(value) {
            Ok(v) => HeaderField {
                name: name.to_owned(),
                value: v.to_owned(),
                raw: None,
            },
            Err(_) => HeaderField {
                name: name.to_owned(),
                value: String::from_utf8_lossy(value).into_owned(),
                raw: Some(value.to_vec()),
            },
        }
    }

    /// The value's bytes as sent or received.
    pub fn bytes(&self) -> &[u8] {
        self.raw.as_deref().unwrap_or(self.value.as_bytes())
    }
}

/// The request and response of the fetch that produced a page's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// When the response arrived (RFC 3339, UTC). For a page answered 304
    /// on a recrawl this stays the time of the exchange that delivered the
    /// stored body.
    pub fetched_at: String,
    /// The URL requested (the last hop of same-host redirects).
    pub url: String,
    /// `GET /path?query HTTP/1.1`, as sent.
    pub request_line: String,
    /// Request headers as sent, in the order sent, `host` included.
    pub request_headers: Vec<HeaderField>,
    /// Response protocol version as received (`HTTP/1.1`, `HTTP/1.0`).
    pub version: String,
    pub status: u16,
    /// Reason phrase as received.
    pub reason: String,
    /// Response headers as received, in order (repeated names kept).
    pub response_headers: Vec<HeaderField>,
    /// Address the response came from, when the connection reported it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_ip: Option<String>,
    /// The content coding (`gzip`, `deflate`, `br`) finscan removed before
    /// storing the body: the stored body is the decoded payload, and the
    /// headers above still say what the server sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoded: Option<String>,
}

impl HttpExchange {
    /// The first response header called `name` (lower case).
    pub fn response_header(&self, name: &str) -> Option<&HeaderField> {
        self.response_headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_utf8_header_values_keep_their_bytes() {
        let h = HeaderField::new("x-name", b"caf\xe9");
        assert_eq!(h.bytes(), b"caf\xe9");
        assert_eq!(h.value, "caf\u{fffd}");
        let json = serde_json::to_string(&h).unwrap();
        let back: HeaderField = serde_json::from_str(&json).unwrap();
        assert_eq!(back.bytes(), b"caf\xe9");
        let plain = HeaderField::new("server", "nginx 网".as_bytes());
        assert_eq!(plain.raw, None);
        assert_eq!(plain.bytes(), "nginx 网".as_bytes());
    }
}
