//! Charset detection and decoding with an offset map back to the raw bytes.
//!
//! Order of evidence, as browsers use it: byte-order mark, then the charset of
//! the HTTP `Content-Type` header, then a `<meta>` declaration in the first
//! 4 KiB, then valid UTF-8, then `chardetng`'s guess (tuned on the same web
//! content this tool reads: GBK, Big5 and UTF-8 Chinese pages).
//!
//! Decoding never fails: undecodable bytes become U+FFFD, each mapped to the
//! bytes that caused it, so evidence offsets stay exact even on broken pages.

use encoding_rs::{Encoding, UTF_8, UTF_16BE, UTF_16LE};

use super::span::OffsetMap;

/// Where the charset decision came from; `finscan scan --json` reports it
/// (`charset_source`) so a reviewer can judge a garbled snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CharsetSource {
    Bom,
    Header,
    Meta,
    Utf8Valid,
    Detected,
}

/// Decoded text of a raw document.
#[derive(Debug, Clone)]
pub struct Decoded {
    pub text: String,
    /// Maps `text` byte offsets to raw byte offsets.
    pub map: OffsetMap,
    pub encoding: &'static Encoding,
    pub source: CharsetSource,
    /// Whether any byte sequence was invalid in the chosen encoding.
    pub had_errors: bool,
}

/// Non-ASCII bytes of valid UTF-8 that outweigh a legacy charset declaration.
const UTF8_EVIDENCE: usize = 8;

/// How many leading bytes are searched for a `<meta>` charset.
const META_PRESCAN: usize = 4096;

/// Decodes `raw`, choosing the charset from (in order) its BOM,
/// `header_charset` (the HTTP `Content-Type` charset parameter), a `<meta>`
/// declaration, UTF-8 validity, or detection.
pub fn decode(raw: &[u8], header_charset: Option<&str>) -> Decoded {
    let (encoding, source, bom_len, valid) = choose_encoding(raw, header_charset);
    let body = &raw[bom_len..];
    if encoding == UTF_8 {
        match valid {
            Some(text) => Decoded {
                text: text.to_owned(),
                map: OffsetMap::identity(0, text.len(), raw.len()),
                encoding: UTF_8,
                source,
                had_errors: false,
            },
            None => decode_utf8(raw, bom_len, source),
        }
    } else {
        let (text, map, had_errors) = decode_legacy(body, bom_len, raw.len(), encoding);
        Decoded {
            text,
            map,
            encoding,
            source,
            had_errors,
        }
    }
}

/// The charset decision of [`decode`] alone: the encoding, where the
/// decision came from, and the length of the byte-order mark. A document
/// too large to decode whole is decoded with it part by part
/// ([`decode_part`]), so that every part is read as the whole would be.
pub fn choose(
    raw: &[u8],
    header_charset: Option<&str>,
) -> (&'static Encoding, CharsetSource, usize) {
    let (encoding, source, bom_len, _) = choose_encoding(raw, header_charset);
    (encoding, source, bom_len)
}

/// Decodes `part`, a stretch of a document cut where no character is split,
/// with the document's `encoding`; the map's raw offsets are relative to
/// `part`.
pub fn decode_part(part: &[u8], encoding: &'static Encoding, source: CharsetSource) -> Decoded {
    if encoding == UTF_8 {
        decode_utf8(part, 0, source)
    } else {
        let (text, map, had_errors) = decode_legacy(part, 0, part.len(), encoding);
        Decoded {
            text,
            map,
            encoding,
            source,
            had_errors,
        }
    }
}

/// Chooses the encoding; for BOM-less valid UTF-8 also returns the validated
/// text, so that the common case is validated once.
fn choose_encoding<'a>(
    raw: &'a [u8],
    header_charset: Option<&str>,
) -> (&'static Encoding, CharsetSource, usize, Option<&'a str>) {
    if let Some((enc, bom_len)) = Encoding::for_bom(raw) {
        return (enc, CharsetSource::Bom, bom_len, None);
    }
    // validated once, with SIMD: most pages are UTF-8 and this is a full
    // pass over them (std's validator is several times slower on CJK text)
    let valid = simdutf8::basic::from_utf8(raw).ok();
    let valid_utf8 = valid.is_some();
    let declared = header_charset
        .and_then(|l| Encoding::for_label_no_replacement(l.trim().as_bytes()))
        .map(|e| (e, CharsetSource::Header))
        .or_else(|| sniff_meta_charset(raw).map(|e| (e, CharsetSource::Meta)));
    if let Some((enc, src)) = declared {
        // A UTF-16 label without a BOM is almost always a mislabelled page;
        // WHATWG treats it as UTF-8 too.
        let enc = if enc == UTF_16LE || enc == UTF_16BE {
            UTF_8
        } else {
            enc
        };
        // Pages often declare UTF-8 while serving GBK, or GBK while serving
        // UTF-8 (old templates copied forward). Trust the declaration only
        // when the bytes agree with it: legacy Chinese text of any length is
        // almost never valid UTF-8 by accident.
        if enc == UTF_8 && valid_utf8 {
            return (enc, src, 0, valid);
        }
        // (counted only here, and only up to the evidence needed: this is a
        // pass over the page)
        let utf8_evident = valid.is_some_and(|t| {
            t.bytes()
                .filter(|b| !b.is_ascii())
                .take(UTF8_EVIDENCE)
                .count()
                == UTF8_EVIDENCE
        });
        if enc != UTF_8 && !utf8_evident {
            return (enc, src, 0, None);
        }
    }
    if valid_utf8 {
        return (UTF_8, CharsetSource::Utf8Valid, 0, valid);
    }
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(raw, true);
    (
        detector.guess(None, chardetng::Utf8Detection::Deny),
        CharsetSource::Detected,
        0,
        None,
    )
}

/// Finds `charset=...` in a `<meta>` tag within the first bytes of `raw`.
///
/// A byte-level prescan (as the HTML standard's) rather than a parse: it must
/// run before the text can be decoded at all.
pub fn sniff_meta_charset(raw: &[u8]) -> Option<&'static Encoding> {
    let head = &raw[..raw.len().min(META_PRESCAN)];
    let mut pos = 0;
    while let Some(i) = find_ascii_ci(&head[pos..], b"<meta") {
        let tag_start = pos + i;
        let tag_end = head[tag_start..]
            .iter()
            .position(|&b| b == b'>')
            .map_or(head.len(), |e| tag_start + e);
        let tag = &head[tag_start..tag_end];
        if let Some(c) = find_ascii_ci(tag, b"charset") {
            let mut rest = &tag[c + 7..];
            rest = trim_ascii_start(rest);
            if let Some(r) = rest.strip_prefix(b"=") {
                let r = trim_ascii_start(r);
                let r = r.strip_prefix(b"\"").or(r.strip_prefix(b"'")).unwrap_or(r);
                let end = r
                    .iter()
                    .position(|&b| matches!(b, b'"' | b'\'' | b';' | b' ' | b'/' | b'>'))
                    .unwrap_or(r.len());
                // obsolete labels (hz-gb-2312, iso-2022-kr) map to the
                // "replacement" encoding, which would blank the page: ignore them
                if let Some(enc) = Encoding::for_label_no_replacement(&r[..end]) {
                    return Some(enc);
                }
            }
        }
        pos = tag_end.max(tag_start + 1);
        if pos >= head.len() {
            break;
        }
    }
    None
}

fn trim_ascii_start(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|c| c.is_ascii_whitespace()).count();
    &b[n..]
}

fn find_ascii_ci(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle))
}

fn decode_utf8(raw: &[u8], bom_len: usize, source: CharsetSource) -> Decoded {
    let body = &raw[bom_len..];
    if let Ok(s) = std::str::from_utf8(body) {
        return Decoded {
            text: s.to_owned(),
            map: OffsetMap::identity(bom_len, s.len(), raw.len()),
            encoding: UTF_8,
            source,
            had_errors: false,
        };
    }
    let mut text = String::with_capacity(body.len() + 16);
    let mut map = OffsetMap::new();
    let mut pos = bom_len;
    for chunk in body.utf8_chunks() {
        let valid = chunk.valid();
        map.push_linear(text.len(), pos, valid.len());
        text.push_str(valid);
        pos += valid.len();
        let invalid = chunk.invalid();
        if !invalid.is_empty() {
            map.push_atomic(text.len(), pos..pos + invalid.len());
            text.push(char::REPLACEMENT_CHARACTER);
            pos += invalid.len();
        }
    }
    map.finish(text.len(), raw.len());
    Decoded {
        text,
        map,
        encoding: UTF_8,
        source,
        had_errors: true,
    }
}

/// Decodes a legacy (or UTF-16) encoding byte by byte so that every output
/// character is attributed to the exact raw bytes that produced it.
///
/// `encoding_rs` reports no per-character offsets, so the decoder is fed one
/// byte at a time; ASCII bytes between characters bypass it (they decode to
/// themselves in every ASCII-compatible encoding). GBK and Big5 pages are a
/// minority of the web, so this slower path is acceptable.
fn decode_legacy(
    body: &[u8],
    offset: usize,
    raw_len: usize,
    encoding: &'static Encoding,
) -> (String, OffsetMap, bool) {
    let mut decoder = encoding.new_decoder_without_bom_handling();
    let mut text = String::with_capacity(body.len() * 3 / 2 + 16);
    let mut map = OffsetMap::new();
    let mut had_errors = false;
    let ascii_compatible = encoding.is_ascii_compatible();
    let mut pending_start: Option<usize> = None;
    let mut buf = [0u8; 32];
    let mut i = 0;
    while i < body.len() {
        let b = body[i];
        if ascii_compatible && pending_start.is_none() && b < 0x80 {
            let run = body[i..].iter().take_while(|&&c| c < 0x80).count();
            // ASCII bytes are valid UTF-8, so this never falls back.
            let s = std::str::from_utf8(&body[i..i + run]).unwrap_or_default();
            map.push_linear(text.len(), offset + i, run);
            text.push_str(s);
            i += run;
            continue;
        }
        let start = pending_start.unwrap_or(i);
        let (_, _, written, errors) = decoder.decode_to_utf8(&body[i..i + 1], &mut buf, false);
        had_errors |= errors;
        if written > 0 {
            let out = std::str::from_utf8(&buf[..written]).unwrap_or("\u{FFFD}");
            map.push_atomic(text.len(), offset + start..offset + i + 1);
            text.push_str(out);
            pending_start = None;
        } else {
            pending_start = Some(start);
        }
        i += 1;
    }
    let (_, _, written, errors) = decoder.decode_to_utf8(&[], &mut buf, true);
    had_errors |= errors;
    if written > 0 {
        let start = pending_start.unwrap_or(body.len());
        map.push_atomic(text.len(), offset + start..offset + body.len());
        text.push_str(std::str::from_utf8(&buf[..written]).unwrap_or("\u{FFFD}"));
    }
    map.finish(text.len(), raw_len);
    (text, map, had_errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{BIG5, GBK};

    #[test]
    fn utf8_bom_is_skipped_and_offsets_shift() {
        let raw = "\u{FEFF}理财".as_bytes();
        let d = decode(raw, None);
        assert_eq!(d.text, "理财");
        assert_eq!(d.source, CharsetSource::Bom);
        assert_eq!(d.map.map_range(0..6), 3..9);
    }

    #[test]
    fn gbk_meta_charset_is_used_and_offsets_point_into_raw_bytes() {
        let html = "<meta charset=\"gb2312\">a保本保息b";
        let (raw, _, _) = GBK.encode(html);
        let d = decode(&raw, None);
        assert_eq!(d.encoding, GBK);
        assert_eq!(d.source, CharsetSource::Meta);
        assert_eq!(d.text, html);
        let start = d.text.find("保本").unwrap();
        let r = d.map.map_range(start..start + "保本".len());
        assert_eq!(GBK.decode_without_bom_handling(&raw[r]).0, "保本");
    }

    #[test]
    fn header_charset_beats_meta() {
        let (raw, _, _) = BIG5.encode("<meta charset=utf-8>理財");
        let d = decode(&raw, Some("big5"));
        assert_eq!(d.encoding, BIG5);
        assert_eq!(d.source, CharsetSource::Header);
        assert!(d.text.ends_with("理財"));
    }

    #[test]
    fn mislabelled_utf8_page_falls_back_to_detection() {
        let body = "<meta charset=utf-8><p>".to_owned()
            + &"本平台承诺保本保息，年化收益率高达百分之十八，欢迎投资理财。".repeat(4);
        let (raw, _, _) = GBK.encode(&body);
        let d = decode(&raw, None);
        assert_eq!(d.encoding, GBK);
        assert_eq!(d.source, CharsetSource::Detected);
        assert!(d.text.contains("保本保息"));
    }

    #[test]
    fn invalid_utf8_bytes_become_replacement_mapped_to_their_bytes() {
        let raw = b"ab\xffcd";
        let d = decode_utf8(raw, 0, CharsetSource::Header);
        assert_eq!(d.text, "ab\u{FFFD}cd");
        assert!(d.had_errors);
        assert_eq!(d.map.map_range(2..5), 2..3);
        assert_eq!(d.map.map_range(5..7), 3..5);
    }

    #[test]
    fn truncated_gbk_character_at_end_is_replaced_not_lost() {
        let mut raw = GBK.encode("理财").0.into_owned();
        raw.push(0xB1); // lead byte without trail
        let d = decode_legacy(&raw, 0, raw.len(), GBK);
        assert!(d.0.ends_with('\u{FFFD}'));
        assert!(d.2);
        let n = d.0.len();
        assert_eq!(d.1.map_range(n - 3..n), 4..5);
    }

    #[test]
    fn obsolete_labels_are_ignored_rather_than_blanking_the_page() {
        let raw = "<meta charset=\"iso-2022-kr\"><p>承诺保本保息</p>".as_bytes();
        let d = decode(raw, Some("hz-gb-2312"));
        assert!(d.text.contains("承诺保本保息"));
    }

    #[test]
    fn valid_utf8_outweighs_a_legacy_declaration() {
        let raw = "<meta charset=\"gbk\"><p>承诺保本保息</p>".as_bytes();
        let d = decode(raw, None);
        assert_eq!((d.encoding, d.source), (UTF_8, CharsetSource::Utf8Valid));
        // but a declaration stands when the bytes carry no evidence
        let d = decode(b"<meta charset=\"gbk\"><p>ok</p>", None);
        assert_eq!(d.encoding, GBK);
    }

    #[test]
    fn meta_prescan_reads_http_equiv_form() {
        let raw = br#"<META http-equiv="Content-Type" content="text/html; charset=GBK">"#;
        assert_eq!(sniff_meta_charset(raw), Some(GBK));
    }
}
