//! Recall and false positives of the bundled rules on the labelled example
//! pages of `tests/corpus/` (see `labels.toml` there for the format).
//!
//! A label is *found* when a hit of its category overlaps an occurrence of
//! its phrase in the visible text. A hit is a *false positive* when it
//! overlaps no labelled phrase at all. A *forbidden* phrase (hard negative)
//! must not overlap any hit. Run with `--nocapture` to see the report.

use std::path::Path;

use finscan::{DocKind, Scanner};
use serde::Deserialize;

#[derive(Deserialize)]
struct Labels {
    page: Vec<Page>,
}

#[derive(Deserialize)]
struct Page {
    file: String,
    #[serde(default)]
    expect: Vec<Expect>,
    #[serde(default)]
    forbid: Vec<String>,
}

#[derive(Deserialize)]
struct Expect {
    category: String,
    text: String,
}

fn occurrences(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    hay.match_indices(needle)
        .map(|(i, m)| (i, i + m.len()))
        .collect()
}

fn overlaps(a: (usize, usize), b: (usize, usize)) -> bool {
    a.0 < b.1 && b.0 < a.1
}

#[test]
fn labelled_corpus_recall_and_false_positives() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let labels: Labels =
        toml::from_str(&std::fs::read_to_string(dir.join("labels.toml")).unwrap()).unwrap();
    let scanner = Scanner::bundled().unwrap();
    let (mut expected, mut found, mut hits_total, mut false_pos) = (0, 0, 0, 0);
    let mut problems = Vec::new();
    for page in &labels.page {
        let path = dir.join(&page.file);
        let raw = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let scanned = scanner.scan_document(&raw, DocKind::from_path(&path), None);
        let visible = &scanned.doc.visible;
        let spans: Vec<((usize, usize), &str)> = scanned
            .hits
            .iter()
            .map(|h| ((h.text.start, h.text.end), h.category.as_str()))
            .collect();
        let mut labelled: Vec<(usize, usize)> = Vec::new();
        for e in &page.expect {
            let occ = occurrences(visible, &e.text);
            assert!(
                !occ.is_empty(),
                "{}: label text {:?} is not in the visible text",
                page.file,
                e.text
            );
            labelled.extend(&occ);
            expected += 1;
            if spans
                .iter()
                .any(|&(s, c)| c == e.category && occ.iter().any(|&o| overlaps(s, o)))
            {
                found += 1;
            } else {
                problems.push(format!("{}: missed {} {:?}", page.file, e.category, e.text));
            }
        }
        for f in &page.forbid {
            let occ = occurrences(visible, f);
            assert!(
                !occ.is_empty(),
                "{}: forbid text {:?} is not in the visible text",
                page.file,
                f
            );
            for h in &scanned.hits {
                if occ.iter().any(|&o| overlaps((h.text.start, h.text.end), o)) {
                    problems.push(format!(
                        "{}: FORBIDDEN {:?} flagged by {} ({:?})",
                        page.file, f, h.rule, h.matched
                    ));
                }
            }
        }
        for h in &scanned.hits {
            hits_total += 1;
            if !labelled
                .iter()
                .any(|&o| overlaps((h.text.start, h.text.end), o))
            {
                false_pos += 1;
                problems.push(format!(
                    "{}: false positive {} {:?} in {:?}",
                    page.file, h.rule, h.matched, h.snippet
                ));
            }
        }
    }
    let recall = found as f64 / expected as f64;
    println!(
        "corpus: {} pages, {expected} labels, found {found} (recall {:.1}%), {hits_total} hits, {false_pos} false positive(s)",
        labels.page.len(),
        recall * 100.0
    );
    for p in &problems {
        println!("  {p}");
    }
    let forbidden = problems.iter().filter(|p| p.contains("FORBIDDEN")).count();
    assert_eq!(
        forbidden,
        0,
        "hard negatives flagged:\n{}",
        problems.join("\n")
    );
    assert!(
        recall >= 0.95,
        "recall {recall:.3} below 95%:\n{}",
        problems.join("\n")
    );
    assert!(
        false_pos <= 3,
        "{false_pos} false positives:\n{}",
        problems.join("\n")
    );
}
