//! Visible text of an HTML page, with an offset map back to the decoded HTML.
//!
//! Written here rather than taken from `scraper`/`html5ever` because those
//! build a DOM and drop source positions, while every character of finscan's
//! text must trace back to the bytes it came from. This is a tolerant
//! tokenizer, not a validating parser: it never fails, it skips what a browser
//! would not show (`<script>`, `<style>`, comments, `<template>`), joins inline
//! elements without a space (`理<b>财</b>` reads 理财), breaks lines at block
//! elements, collapses whitespace as browsers do, decodes character
//! references, and keeps the `<title>`, `<meta name=description|keywords>`
//! content and `alt` text a reviewer would also see or a search engine index.
//! Links and other page metadata are `crawl`'s business (through `scraper`).

use super::span::OffsetMap;

/// Visible text of a page.
#[derive(Debug, Clone, Default)]
pub struct Extracted {
    /// Text with `\n` between blocks and single spaces for collapsed whitespace.
    pub text: String,
    /// Maps `text` offsets to offsets of the decoded HTML.
    pub map: OffsetMap,
    /// Content of the first `<title>`, whitespace-collapsed.
    pub title: Option<String>,
}

/// Elements whose content is never shown.
pub(crate) const HIDDEN: &[&str] = &["script", "style", "template", "noembed", "noframes", "xmp"];

/// Elements that start a new line of text (block boxes, cells, line breaks).
const BLOCK: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "body",
    "br",
    "button",
    "caption",
    "dd",
    "details",
    "dialog",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "head",
    "header",
    "hr",
    "html",
    "iframe",
    "img",
    "input",
    "legend",
    "li",
    "main",
    "meta",
    "nav",
    "ol",
    "option",
    "p",
    "pre",
    "section",
    "select",
    "summary",
    "table",
    "tbody",
    "textarea",
    "tfoot",
    "thead",
    "title",
    "tr",
    "ul",
];

/// Bytes that end a plain copy inside a text run: HTML whitespace and `&`.
const TEXT_SPECIAL: [bool; 256] = {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[0x0c] = true;
    t[b'&' as usize] = true;
    t
};

pub(crate) fn is_html_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c')
}

/// Accumulates output text and its map.
struct Out {
    text: String,
    map: OffsetMap,
}

impl Out {
    fn last_is_break(&self) -> bool {
        self.text.is_empty() || self.text.ends_with('\n')
    }

    fn last_is_space_or_break(&self) -> bool {
        self.text.is_empty() || self.text.ends_with(['\n', ' ', '\t'])
    }

    /// A line break standing for the markup at `src`.
    fn block_break(&mut self, src: std::ops::Range<usize>) {
        if self.last_is_break() {
            return;
        }
        if self.text.ends_with([' ', '\t']) {
            // a space (or an empty cell's tab) just before a break is
            // invisible: turn it into the break
            self.text.pop();
            let at = self.text.len();
            self.map.push_atomic(at, src);
            self.text.push('\n');
            return;
        }
        self.map.push_atomic(self.text.len(), src);
        self.text.push('\n');
    }

    /// A tab standing for the start of a table cell after another on its
    /// row: a row reads as one line, its cells apart (the yield detector
    /// reads a rate under its column's header; no term is matched across
    /// a cell, see `text::normalize`).
    fn cell_break(&mut self, src: std::ops::Range<usize>) {
        if self.last_is_break() || self.text.ends_with('\t') {
            return;
        }
        if self.text.ends_with(' ') {
            self.text.pop();
        }
        self.map.push_atomic(self.text.len(), src);
        self.text.push('\t');
    }

    /// Appends text from `html[start..end]`, collapsing whitespace and decoding
    /// character references.
    fn text_run(&mut self, html: &str, start: usize, end: usize) {
        let bytes = html.as_bytes();
        let mut i = start;
        let mut copy_from = start;
        loop {
            // ordinary bytes (all of CJK text) take this loop only
            while i < end && !TEXT_SPECIAL[bytes[i] as usize] {
                i += 1;
            }
            if i >= end {
                break;
            }
            if bytes[i] == b'&' {
                if let Some((decoded, len)) = decode_char_ref(&html[i..end]) {
                    self.copy(html, copy_from, i);
                    self.map.push_atomic(self.text.len(), i..i + len);
                    self.text.push(decoded);
                    i += len;
                    copy_from = i;
                } else {
                    i += 1;
                }
                continue;
            }
            let ws_start = i;
            while i < end && is_html_space(bytes[i]) {
                i += 1;
            }
            if i - ws_start == 1
                && bytes[ws_start] == b' '
                && (copy_from < ws_start || !self.last_is_space_or_break())
            {
                // a single space stays as it is: part of the copy run
                continue;
            }
            self.copy(html, copy_from, ws_start);
            if !self.last_is_space_or_break() {
                self.map.push_atomic(self.text.len(), ws_start..i);
                self.text.push(' ');
            }
            copy_from = i;
        }
        self.copy(html, copy_from, end);
    }

    fn copy(&mut self, html: &str, start: usize, end: usize) {
        if start < end {
            self.map.push_linear(self.text.len(), start, end - start);
            self.text.push_str(&html[start..end]);
        }
    }
}

/// Extracts the visible text of `html`.
pub fn extract_text(html: &str) -> Extracted {
    let bytes = html.as_bytes();
    let mut out = Out {
        text: String::with_capacity(html.len() / 2),
        map: OffsetMap::new(),
    };
    let mut title: Option<String> = None;
    let mut in_title: Option<usize> = None; // output offset where the title started
    let mut pos = 0;
    while pos < bytes.len() {
        let Some(lt) = memchr::memchr(b'<', &bytes[pos..]).map(|i| pos + i) else {
            out.text_run(html, pos, bytes.len());
            break;
        };
        let tag = parse_markup(html, lt);
        let Some(tag) = tag else {
            // a '<' that starts no markup is text ("a < b")
            out.text_run(html, pos, lt + 1);
            pos = lt + 1;
            continue;
        };
        out.text_run(html, pos, lt);
        pos = tag.end;
        let Markup::Tag {
            name,
            closing,
            attrs,
        } = tag.kind
        else {
            continue; // comment, doctype, processing instruction
        };
        let name = name.to_ascii_lowercase();
        if !closing && HIDDEN.contains(&name.as_str()) {
            pos = skip_raw_text(html, pos, &name);
            continue;
        }
        if name == "title" {
            if closing {
                if let Some(t0) = in_title.take()
                    && title.is_none()
                {
                    title = Some(out.text[t0..].trim().to_owned());
                }
            } else {
                out.block_break(lt..tag.end);
                in_title = Some(out.text.len());
                continue;
            }
        }
        if BLOCK.contains(&name.as_str()) {
            out.block_break(lt..tag.end);
        } else if !closing && (name == "td" || name == "th") {
            out.cell_break(lt..tag.end);
        }
        if !closing {
            emit_attribute_text(&mut out, html, &name, &attrs, lt..tag.end);
        }
    }
    if let Some(t0) = in_title
        && title.is_none()
    {
        title = Some(out.text[t0..].trim().to_owned());
    }
    while out.text.ends_with(['\n', ' ', '\t']) {
        out.text.pop();
    }
    let len = out.text.len();
    out.map.truncate_out(len);
    out.map.finish(len, html.len());
    Extracted {
        text: out.text,
        map: out.map,
        title,
    }
}

/// Link targets of a page, in document order: `href` of `<a>` and `<area>`,
/// `src` of `<frame>` and `<iframe>`, character references decoded; and the
/// first `<base href>`. Raw, not resolved against any URL.
///
/// One linear pass of the same tokenizer as [`extract_text`]: building a DOM
/// (`scraper`/html5ever) costs time quadratic in nesting depth, so a hostile
/// page of 500,000 nested `<div>`s kept a parser busy for minutes.
pub fn link_targets(html: &str) -> (Option<String>, Vec<String>) {
    let bytes = html.as_bytes();
    let mut base = None;
    let mut links = Vec::new();
    let mut pos = 0;
    while let Some(lt) = memchr::memchr(b'<', &bytes[pos..]).map(|i| pos + i) {
        let Some(tag) = parse_markup(html, lt) else {
            pos = lt + 1;
            continue;
        };
        pos = tag.end.max(lt + 1);
        let Markup::Tag {
            name,
            closing: false,
            attrs,
        } = tag.kind
        else {
            continue;
        };
        let name = name.to_ascii_lowercase();
        if HIDDEN.contains(&name.as_str()) {
            pos = skip_raw_text(html, pos, &name);
            continue;
        }
        let key = match name.as_str() {
            "a" | "area" | "base" => "href",
            "frame" | "iframe" => "src",
            _ => continue,
        };
        let Some(value) = find_attr(html, &attrs, key).and_then(|a| a.value.clone()) else {
            continue;
        };
        let value = decode_attribute(&html[value]);
        if name == "base" {
            base.get_or_insert(value);
        } else {
            links.push(value);
        }
    }
    (base, links)
}

/// An attribute value with its character references decoded.
fn decode_attribute(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut i = 0;
    while let Some(off) = v[i..].find('&') {
        out.push_str(&v[i..i + off]);
        let at = i + off;
        match decode_char_ref(&v[at..]) {
            Some((c, len)) => {
                out.push(c);
                i = at + len;
            }
            None => {
                out.push('&');
                i = at + 1;
            }
        }
    }
    out.push_str(&v[i..]);
    out
}

/// Text a reader sees that lives in attributes: `alt` of images and image
/// inputs, `content` of `<meta name=description|keywords>`.
fn emit_attribute_text(
    out: &mut Out,
    html: &str,
    name: &str,
    attrs: &[Attr],
    tag: std::ops::Range<usize>,
) {
    let attr = |key: &str| find_attr(html, attrs, key);
    let value = match name {
        "img" | "area" | "input" => attr("alt"),
        "meta" => match attr("name") {
            Some(n)
                if n.value.as_ref().is_some_and(|v| {
                    let v = html[v.clone()].trim();
                    v.eq_ignore_ascii_case("description") || v.eq_ignore_ascii_case("keywords")
                }) =>
            {
                attr("content")
            }
            _ => None,
        },
        _ => None,
    };
    if let Some(range) = value.and_then(|a| a.value.clone())
        && !html[range.clone()].trim().is_empty()
    {
        out.block_break(tag.clone());
        out.text_run(html, range.start, range.end);
        out.block_break(tag);
    }
}

/// The attribute named `key` (ASCII case-insensitive), if the tag has it.
fn find_attr<'a>(html: &str, attrs: &'a [Attr], key: &str) -> Option<&'a Attr> {
    attrs
        .iter()
        .find(|a| html[a.name.clone()].eq_ignore_ascii_case(key))
}

#[derive(Debug)]
struct Attr {
    name: std::ops::Range<usize>,
    value: Option<std::ops::Range<usize>>,
}

#[derive(Debug)]
enum Markup<'a> {
    Tag {
        name: &'a str,
        closing: bool,
        attrs: Vec<Attr>,
    },
    Other,
}

struct Parsed<'a> {
    kind: Markup<'a>,
    end: usize,
}

/// Parses the markup starting at `html[lt] == '<'`; `None` when the `<` is text.
fn parse_markup(html: &str, lt: usize) -> Option<Parsed<'_>> {
    let bytes = html.as_bytes();
    let next = *bytes.get(lt + 1)?;
    if bytes[lt + 1..].starts_with(b"!--") {
        return Some(Parsed {
            kind: Markup::Other,
            end: comment_end(bytes, lt + 4),
        });
    }
    if next == b'!' || next == b'?' {
        let end = memchr::memchr(b'>', &bytes[lt..]).map_or(bytes.len(), |i| lt + i + 1);
        return Some(Parsed {
            kind: Markup::Other,
            end,
        });
    }
    let (closing, name_start) = if next == b'/' {
        (true, lt + 2)
    } else {
        (false, lt + 1)
    };
    if !bytes.get(name_start)?.is_ascii_alphabetic() {
        return None;
    }
    let mut i = name_start;
    while i < bytes.len()
        && !matches!(
            bytes[i],
            b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>'
        )
    {
        i += 1;
    }
    let name = &html[name_start..i];
    let mut attrs = Vec::new();
    // attributes: name[=value], value quoted or not; quotes may hide '>'
    loop {
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/') {
            i += 1;
        }
        if i >= bytes.len() {
            break;
        }
        if bytes[i] == b'>' {
            i += 1;
            break;
        }
        let an_start = i;
        while i < bytes.len()
            && !matches!(
                bytes[i],
                b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'/' | b'>' | b'='
            )
        {
            i += 1;
        }
        let an = an_start..i;
        if an.is_empty() {
            // a stray '=' : skip it
            i += 1;
            continue;
        }
        while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
            i += 1;
        }
        let mut value = None;
        if i < bytes.len() && bytes[i] == b'=' {
            i += 1;
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c') {
                i += 1;
            }
            if i < bytes.len() && (bytes[i] == b'"' || bytes[i] == b'\'') {
                let q = bytes[i];
                let vs = i + 1;
                let ve = memchr::memchr(q, &bytes[vs..]).map_or(bytes.len(), |e| vs + e);
                value = Some(vs..ve);
                i = (ve + 1).min(bytes.len());
            } else {
                let vs = i;
                while i < bytes.len()
                    && !matches!(bytes[i], b' ' | b'\t' | b'\n' | b'\r' | b'\x0c' | b'>')
                {
                    i += 1;
                }
                value = Some(vs..i);
            }
        }
        if !closing {
            attrs.push(Attr { name: an, value });
        }
    }
    Some(Parsed {
        kind: Markup::Tag {
            name,
            closing,
            attrs,
        },
        end: i.min(bytes.len()),
    })
}

/// The end of a comment whose `<!--` ends at `from`, as the HTML standard's
/// tokenizer finds it: `<!-->` and `<!--->` are empty comments, and `-->` or
/// `--!>` close one; an unclosed comment runs to the end.
pub(crate) fn comment_end(bytes: &[u8], from: usize) -> usize {
    let rest = &bytes[from.min(bytes.len())..];
    if rest.starts_with(b">") {
        return from + 1;
    }
    if rest.starts_with(b"->") {
        return from + 2;
    }
    let close = memchr::memmem::find(rest, b"-->").map(|i| i + 3);
    let bang = memchr::memmem::find(rest, b"--!>").map(|i| i + 4);
    match (close, bang) {
        (Some(a), Some(b)) => from + a.min(b),
        (Some(a), None) | (None, Some(a)) => from + a,
        (None, None) => bytes.len(),
    }
}

/// Skips the content of a raw-text element up to and including `</name>`:
/// the end tag's name must end there (whitespace, `/` or `>` follows), so
/// `</scripts>` inside a script does not end it.
fn skip_raw_text(html: &str, from: usize, name: &str) -> usize {
    raw_text_end(html.as_bytes(), from, name.as_bytes())
}

/// [`skip_raw_text`] over bytes in any ASCII-compatible encoding (the
/// scanner's windows cut raw pages with it).
pub(crate) fn raw_text_end(raw: &[u8], from: usize, name: &[u8]) -> usize {
    let mut i = from;
    while let Some(off) = memchr::memmem::find(&raw[i..], b"</") {
        let at = i + off;
        let n = at + 2;
        let m = n + name.len();
        if raw.len() >= m
            && raw[n..m].eq_ignore_ascii_case(name)
            && raw
                .get(m)
                .is_none_or(|&b| is_html_space(b) || b == b'/' || b == b'>')
        {
            return memchr::memchr(b'>', &raw[m..]).map_or(raw.len(), |e| m + e + 1);
        }
        i = at + 2;
    }
    raw.len()
}

/// Decodes a character reference at the start of `s` (`&amp;`, `&#20445;`,
/// `&#x4FDD;`); returns the character and the reference's length in bytes.
///
/// Named references cover what Chinese finance pages use; an unknown name is
/// left as text, as browsers do for unknown names.
fn decode_char_ref(s: &str) -> Option<(char, usize)> {
    let b = s.as_bytes();
    if b.get(1) == Some(&b'#') {
        let (radix, digits_start) = match b.get(2) {
            Some(b'x' | b'X') => (16, 3),
            _ => (10, 2),
        };
        let n = b[digits_start..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit() && (radix == 16 || c.is_ascii_digit()))
            .count();
        if n == 0 {
            return None;
        }
        // leading zeros are allowed without limit; a value past U+10FFFF is
        // U+FFFD, as in browsers
        let digits = s[digits_start..digits_start + n].trim_start_matches('0');
        let v = if digits.len() > 8 {
            0x11_0000
        } else if digits.is_empty() {
            0
        } else {
            u32::from_str_radix(digits, radix).ok()?
        };
        let mut len = digits_start + n;
        if b.get(len) == Some(&b';') {
            len += 1;
        }
        let c = match v {
            0 => '\u{FFFD}',
            0x80..=0x9F => windows_1252_c1(v),
            _ => char::from_u32(v).unwrap_or('\u{FFFD}'),
        };
        return Some((c, len));
    }
    let n = b[1..]
        .iter()
        .take(10)
        .take_while(|c| c.is_ascii_alphanumeric())
        .count();
    if n == 0 {
        return None;
    }
    if b.get(1 + n) != Some(&b';') {
        // browsers still decode the legacy references without `;` (`&nbsp`,
        // `&amp`): the longest legacy name the letters start with
        return LEGACY_NO_SEMICOLON
            .iter()
            .find(|(name, _)| s[1..1 + n].starts_with(name))
            .map(|&(name, c)| (c, name.len() + 1));
    }
    let c = match &s[1..1 + n] {
        "amp" | "AMP" => '&',
        "lt" | "LT" => '<',
        "gt" | "GT" => '>',
        "quot" | "QUOT" => '"',
        "apos" => '\'',
        "nbsp" => '\u{A0}',
        "ensp" => '\u{2002}',
        "emsp" => '\u{2003}',
        "thinsp" => '\u{2009}',
        "zwsp" => '\u{200B}',
        "zwnj" => '\u{200C}',
        "zwj" => '\u{200D}',
        "shy" => '\u{AD}',
        "copy" => '©',
        "reg" => '®',
        "trade" => '™',
        "middot" => '·',
        "bull" => '•',
        "hellip" => '…',
        "mdash" => '—',
        "ndash" => '–',
        "lsquo" => '‘',
        "rsquo" => '’',
        "ldquo" => '“',
        "rdquo" => '”',
        "laquo" => '«',
        "raquo" => '»',
        "times" => '×',
        "divide" => '÷',
        "yen" => '¥',
        "deg" => '°',
        "permil" => '‰',
        "plusmn" => '±',
        "sect" => '§',
        "para" => '¶',
        "euro" => '€',
        "pound" => '£',
        "cent" => '¢',
        "percnt" => '%',
        "ast" => '*',
        "lowbar" => '_',
        "verbar" | "vert" => '|',
        "period" => '.',
        "hyphen" | "dash" => '-',
        _ => return None,
    };
    Some((c, n + 2))
}

/// Named references that the HTML standard decodes without a `;` (the
/// common part of its legacy list); no name here is a prefix of a later one.
const LEGACY_NO_SEMICOLON: &[(&str, char)] = &[
    ("nbsp", '\u{A0}'),
    ("amp", '&'),
    ("AMP", '&'),
    ("lt", '<'),
    ("LT", '<'),
    ("gt", '>'),
    ("GT", '>'),
    ("quot", '"'),
    ("QUOT", '"'),
    ("copy", '©'),
    ("reg", '®'),
    ("middot", '·'),
    ("times", '×'),
    ("divide", '÷'),
    ("yen", '¥'),
    ("deg", '°'),
    ("plusmn", '±'),
    ("sect", '§'),
    ("para", '¶'),
    ("shy", '\u{AD}'),
    ("pound", '£'),
    ("cent", '¢'),
    ("laquo", '«'),
    ("raquo", '»'),
];

/// Numeric references in 0x80..0x9F mean Windows-1252 characters (HTML standard).
fn windows_1252_c1(v: u32) -> char {
    const TABLE: [char; 32] = [
        '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8D}', 'Ž',
        '\u{8F}', '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9D}',
        'ž', 'Ÿ',
    ];
    TABLE[(v - 0x80) as usize]
}

/// Whether `bytes` look like HTML rather than plain text: a tag among the
/// first non-blank bytes.
pub fn looks_like_html(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(2048)];
    let lower: Vec<u8> = head.iter().map(u8::to_ascii_lowercase).collect();
    [
        &b"<!doctype html"[..],
        b"<html",
        b"<head",
        b"<body",
        b"<meta",
        b"<title",
        b"<div",
        b"<p>",
        b"<table",
        b"<script",
        b"<!--",
    ]
    .iter()
    .any(|needle| memchr::memmem::find(&lower, needle).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(html: &str) -> String {
        extract_text(html).text
    }

    #[test]
    fn inline_elements_join_without_space() {
        assert_eq!(text("<p>理<b>财</b>产品</p>"), "理财产品");
    }

    #[test]
    fn blocks_break_lines_and_whitespace_collapses() {
        assert_eq!(
            text("<div>保本\n   保息</div><div>第二块</div>"),
            "保本 保息\n第二块"
        );
    }

    #[test]
    fn script_style_and_comments_are_invisible() {
        let t = text(
            "<p>a</p><script>var s='保本保息</p>';</script><style>.x{}</style><!-- 资金池 -->b",
        );
        assert!(!t.contains("保本") && !t.contains("资金池"), "{t:?}");
        assert!(t.contains('a') && t.contains('b'));
    }

    #[test]
    fn title_meta_description_and_alt_are_kept() {
        let e = extract_text(
            r#"<html><head><title> 稳赚平台 </title><meta name="description" content="保本保息"></head><body><img alt="年化18%" src=x></body></html>"#,
        );
        assert_eq!(e.title.as_deref(), Some("稳赚平台"));
        assert!(
            e.text.contains("保本保息") && e.text.contains("年化18%"),
            "{:?}",
            e.text
        );
    }

    #[test]
    fn character_references_decode_and_map_to_their_markup() {
        let html = "保&#26412;&amp;&#x606F;&unknown;";
        let e = extract_text(html);
        assert_eq!(e.text, "保本&息&unknown;");
        let ben = e.text.find('本').unwrap();
        assert_eq!(&html[e.map.map_range(ben..ben + 3)], "&#26412;");
    }

    #[test]
    fn offsets_of_text_split_by_tags_cover_the_tags() {
        let html = "<p>理<b>财</b></p>";
        let e = extract_text(html);
        let r = e.map.map_range(0..e.text.len());
        assert_eq!(&html[r], "理<b>财");
    }

    #[test]
    fn short_and_bang_comments_end_where_browsers_end_them() {
        assert_eq!(text("<p>x</p><!-->承诺保本<p>y</p>"), "x\n承诺保本\ny");
        assert_eq!(text("a<!--->b"), "ab");
        assert_eq!(text("a<!-- x --!>b<!-- y -->c"), "abc");
    }

    #[test]
    fn end_tag_names_must_end_to_close_raw_text() {
        let t = text("<script>var a=\"</scripts>保本保息\";</script>可见");
        assert_eq!(t, "可见");
    }

    #[test]
    fn references_with_leading_zeros_and_legacy_names_without_semicolon() {
        assert_eq!(text("保&#0000000000026412;保息"), "保本保息");
        assert_eq!(text("保&nbsp本&amp息&notaname"), "保\u{A0}本&息&notaname");
        assert_eq!(text("&#99999999999;"), "\u{FFFD}");
    }

    #[test]
    fn link_targets_are_read_in_one_pass_with_references_decoded() {
        let (base, links) = link_targets(
            r#"<base href="/b/"><a href="x.html?a=1&amp;b=2">x</a><script>var s='<a href="no">';</script>
               <AREA HREF='y'><iframe src=z></iframe><a name=top></a><!-- <a href="c"> -->"#,
        );
        assert_eq!(base.as_deref(), Some("/b/"));
        assert_eq!(links, ["x.html?a=1&b=2", "y", "z"]);
    }

    #[test]
    fn deeply_nested_pages_are_read_in_linear_time() {
        let page = "<div>".repeat(500_000) + "<a href=\"deep\">x</a>";
        let started = std::time::Instant::now();
        let (_, links) = link_targets(&page);
        assert_eq!(links, ["deep"]);
        // generous: a linear pass takes milliseconds, a tree build minutes
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
    }

    #[test]
    fn lone_less_than_is_text() {
        assert_eq!(text("a < b 3<5"), "a < b 3<5");
    }

    #[test]
    fn unterminated_markup_does_not_panic() {
        for s in [
            "<",
            "<a",
            "<a href='x",
            "<!--",
            "<script>",
            "&#",
            "&#x;",
            "<p>&am",
        ] {
            let _ = extract_text(s);
        }
    }

    #[test]
    fn quoted_gt_inside_attribute_does_not_end_the_tag() {
        assert_eq!(text(r#"<a title="a>b">链接</a>"#), "链接");
    }

    #[test]
    fn detects_html_and_plain_text() {
        assert!(looks_like_html(b"  <!DOCTYPE html><html>"));
        assert!(looks_like_html(b"<div>x</div>"));
        assert!(!looks_like_html("平台承诺保本保息".as_bytes()));
    }
}
