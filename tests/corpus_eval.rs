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
    /// Activities the page's profile must show.
    #[serde(default)]
    activities: Vec<String>,
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

/// What the labelled pages of one directory show.
struct Report {
    pages: usize,
    expected: usize,
    found: usize,
    hits_total: usize,
    false_pos: usize,
    problems: Vec<String>,
}

impl Report {
    fn print(&self, name: &str) {
        println!(
            "{name}: {} pages, {} labels, found {} (recall {:.1}%), {} hits, {} false positive(s)",
            self.pages,
            self.expected,
            self.found,
            self.found as f64 * 100.0 / self.expected.max(1) as f64,
            self.hits_total,
            self.false_pos
        );
        for p in &self.problems {
            println!("  {p}");
        }
    }
}

fn evaluate(dir: &Path) -> Report {
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
        for a in &page.activities {
            expected += 1;
            if scanned
                .activities
                .found
                .iter()
                .any(|f| f.activity.as_str() == a)
            {
                found += 1;
            } else {
                problems.push(format!("{}: activity {a} not in the profile", page.file));
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
    Report {
        pages: labels.page.len(),
        expected,
        found,
        hits_total,
        false_pos,
        problems,
    }
}

/// Every labelled violation of `tests/corpus/` found, no hit outside a
/// label, no hard negative flagged.
#[test]
fn labelled_corpus_recall_and_false_positives() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let Report {
        expected,
        found,
        false_pos,
        problems,
        ..
    } = {
        let r = evaluate(&dir);
        r.print("corpus");
        r
    };
    let recall = found as f64 / expected as f64;
    let forbidden = problems.iter().filter(|p| p.contains("FORBIDDEN")).count();
    assert_eq!(
        forbidden,
        0,
        "hard negatives flagged:\n{}",
        problems.join("\n")
    );
    assert!(
        found == expected,
        "recall {recall:.3} below 100%:\n{}",
        problems.join("\n")
    );
    assert!(
        false_pos == 0,
        "{false_pos} false positives:\n{}",
        problems.join("\n")
    );
}

/// The same report for another directory of labelled pages
/// (`FINSCAN_CORPUS=DIR cargo test --test corpus_eval -- --ignored
/// --nocapture`): pages written apart from the rules, before they join
/// the corpus, measure how the rules generalize.
#[test]
#[ignore = "reads the directory named by FINSCAN_CORPUS"]
fn another_labelled_directory() {
    let Some(dir) = std::env::var_os("FINSCAN_CORPUS") else {
        println!("FINSCAN_CORPUS is not set");
        return;
    };
    evaluate(Path::new(&dir)).print(&Path::new(&dir).display().to_string());
}
