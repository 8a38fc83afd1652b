//! Property tests: arbitrary bytes and arbitrary HTML through decode, extract,
//! normalize and scan never panic, every span lies inside the input, and
//! `input[start..end]` decodes to `matched`.

use std::sync::LazyLock;

use finscan::text::{decode, extract_text, normalize, normalize_term};
use finscan::{DocKind, Field, Scanner};
use proptest::prelude::*;

static SCANNER: LazyLock<Scanner> = LazyLock::new(|| Scanner::bundled().expect("bundled rules"));

/// Pieces that make scanning interesting: rule terms, evasion noise, markup,
/// entities, clause punctuation, GBK-hostile bytes.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("保本保息".to_owned()),
        Just("保 本".to_owned()),
        Just("保*本".to_owned()),
        Just("本息保障".to_owned()),
        Just("資金池".to_owned()),
        Just("Ｐ２Ｐ平台".to_owned()),
        Just("理財".to_owned()),
        Just("年化收益率高达18%".to_owned()),
        Just("月息2分".to_owned()),
        Just("不承诺".to_owned()),
        Just("严禁".to_owned()),
        Just("<b>".to_owned()),
        Just("</b>".to_owned()),
        Just("<p>".to_owned()),
        Just("<script>".to_owned()),
        Just("</script>".to_owned()),
        Just("<!--".to_owned()),
        Just("-->".to_owned()),
        Just("&amp;".to_owned()),
        Just("&#20445;".to_owned()),
        Just("&#x".to_owned()),
        Just("<img alt=\"保本\">".to_owned()),
        Just("\u{200B}".to_owned()),
        Just("。".to_owned()),
        Just("，".to_owned()),
        Just(" ".to_owned()),
        Just("\n".to_owned()),
        "[a-zA-Z0-9 <>/&;#=\"'.%-]{0,6}",
        "\\PC{0,4}",
    ]
}

fn html_like() -> impl Strategy<Value = String> {
    prop::collection::vec(piece(), 0..40).prop_map(|v| v.concat())
}

/// Checks the evidence contract of every hit of a scanned document.
fn check_document(raw: &[u8], kind: DocKind) -> Result<(), TestCaseError> {
    let scanned = SCANNER.scan_document(raw, kind, None);
    for h in &scanned.hits {
        prop_assert!(
            h.raw.start <= h.raw.end && h.raw.end <= raw.len(),
            "span {:?} outside {}",
            h.raw,
            raw.len()
        );
        let decoded = scanned
            .doc
            .decoded
            .encoding
            .decode_without_bom_handling(&raw[h.raw.range()])
            .0;
        prop_assert_eq!(decoded.as_ref(), h.matched.as_str());
        prop_assert!(h.text.end <= scanned.doc.visible.len());
        prop_assert!(!h.matched.is_empty());
        // the visible text behind the hit, normalized, holds the rule's term:
        // the span is the match, not just some bytes that decode to `matched`
        let seen = normalize(&scanned.doc.visible[h.text.range()]).text;
        prop_assert!(
            seen.contains(&normalize_term(&h.term)),
            "{:?} does not hold {:?}",
            seen,
            h.term
        );
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic_and_spans_hold(raw in prop::collection::vec(any::<u8>(), 0..2048)) {
        check_document(&raw, DocKind::Sniff)?;
        check_document(&raw, DocKind::Html)?;
        check_document(&raw, DocKind::Text)?;
    }

    #[test]
    fn arbitrary_html_spans_hold(html in html_like()) {
        check_document(html.as_bytes(), DocKind::Html)?;
    }

    #[test]
    fn arbitrary_html_in_gbk_spans_hold(html in html_like()) {
        let page = format!("<meta charset=\"gbk\">{html}");
        let (raw, _, _) = encoding_rs::GBK.encode(&page);
        check_document(&raw, DocKind::Html)?;
    }

    #[test]
    fn arbitrary_html_in_big5_spans_hold(html in html_like()) {
        let page = format!("<meta charset=\"big5\">{html}");
        let (raw, _, _) = encoding_rs::BIG5.encode(&page);
        check_document(&raw, DocKind::Html)?;
    }

    #[test]
    fn decode_and_extract_maps_stay_inside_their_inputs(raw in prop::collection::vec(any::<u8>(), 0..1024)) {
        let d = decode(&raw, None);
        let r = d.map.map_range(0..d.text.len());
        prop_assert!(r.end <= raw.len());
        let e = extract_text(&d.text);
        let r = e.map.map_range(0..e.text.len());
        prop_assert!(r.end <= d.text.len());
        prop_assert!(d.text.is_char_boundary(r.start) && d.text.is_char_boundary(r.end));
    }

    #[test]
    fn normalize_maps_every_char_to_a_char_boundary(s in "\\PC{0,64}") {
        let n = normalize(&s);
        for (i, _) in n.text.char_indices() {
            let r = n.map.map_range(i..i + n.text[i..].chars().next().map_or(0, char::len_utf8));
            prop_assert!(r.end <= s.len() && s.is_char_boundary(r.start) && s.is_char_boundary(r.end));
            prop_assert!(r.start < r.end, "a kept char maps to a non-empty source");
        }
        for w in n.breaks.windows(2) {
            prop_assert!(w[0] < w[1]);
        }
    }

    #[test]
    fn field_hits_slice_the_field_text(s in html_like()) {
        for field in Field::ALL {
            for h in SCANNER.scan_field(field, &s) {
                                prop_assert!(h.raw.end <= s.len());
                prop_assert_eq!(&s[h.raw.range()], h.matched.as_str());
                prop_assert!(normalize(&h.matched).text.contains(&normalize_term(&h.term)));
            }
        }
    }
}
