//! Every descriptive rule against phrasings of our own (`phrasings.toml`):
//! each `hits` line is reported by its rule, each `misses` line is not, and
//! every pattern of the bundled rules has at least three phrasings. When the
//! development set is present (`../shared/devset`), no phrasing may be one
//! of its sentences: rules are tested on text of our own, and measured on
//! text nobody tuned them to.

use std::path::Path;

use finscan::{DocKind, RuleSet, Scanner};
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    rule: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    #[serde(default)]
    context: Option<String>,
    hits: Vec<String>,
    #[serde(default)]
    misses: Vec<String>,
}

/// A lending platform's heading: an activity for rules that need one.
const DEFAULT_CONTEXT: &str = "某某金融 · 出借人专区";

fn load() -> File {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/phrasings.toml");
    toml::from_str(&std::fs::read_to_string(&path).expect("phrasings.toml")).expect("valid TOML")
}

/// The rules that report a line on a page under `context`, counting only
/// hits inside the line.
fn rules_on(scanner: &Scanner, context: &str, line: &str) -> Vec<String> {
    let doc = format!("{context}\n{line}\n");
    let start = context.len() + 1;
    let scanned = scanner.scan_document(doc.as_bytes(), DocKind::Text, None);
    scanned
        .hits
        .iter()
        .filter(|h| h.raw.start >= start)
        .map(|h| h.rule.0.clone())
        .collect()
}

#[test]
fn every_rule_reports_its_phrasings_and_not_its_near_misses() {
    let scanner = Scanner::bundled().expect("bundled rules");
    let mut problems = Vec::new();
    let file = load();
    for e in &file.rule {
        let context = e.context.as_deref().unwrap_or(DEFAULT_CONTEXT);
        for line in &e.hits {
            let rules = rules_on(&scanner, context, line);
            if !rules.contains(&e.id) {
                problems.push(format!("{}: missed {line:?} (got {rules:?})", e.id));
            }
        }
        for line in &e.misses {
            let rules = rules_on(&scanner, context, line);
            if rules.contains(&e.id) {
                problems.push(format!("{}: flagged {line:?}", e.id));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_pattern_has_three_phrasings() {
    let set = RuleSet::bundled().expect("bundled rules");
    let file = load();
    let mut missing = Vec::new();
    let ids = set.patterns.iter().map(|p| &p.id).chain(
        set.rules
            .iter()
            .filter(|r| r.origin.file == "behaviour.toml")
            .map(|r| &r.id),
    );
    for id in ids {
        let n: usize = file
            .rule
            .iter()
            .filter(|e| e.id == id.0)
            .map(|e| e.hits.len())
            .sum();
        if n < 3 {
            missing.push(format!("{id}: {n} phrasing(s)"));
        }
    }
    for e in &file.rule {
        assert!(
            set.rule_ids().any(|id| id.0 == e.id),
            "phrasings.toml names an unknown rule {}",
            e.id
        );
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

/// Strips what the development set's authors and ours would write alike
/// (punctuation, spaces) before comparing.
fn squeeze(s: &str) -> String {
    s.chars().filter(|c| c.is_alphanumeric()).collect()
}

#[test]
fn phrasings_are_not_taken_from_the_development_set() {
    let devset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/devset/pages");
    let Ok(entries) = std::fs::read_dir(&devset) else {
        eprintln!("skip: {} is absent", devset.display());
        return;
    };
    let pages: Vec<String> = entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|t| squeeze(&t))
        .collect();
    let file = load();
    let mut copied = Vec::new();
    for e in &file.rule {
        for line in e.hits.iter().chain(&e.misses) {
            let s = squeeze(line);
            // a whole phrasing found verbatim in a page, ignoring punctuation
            if s.chars().count() >= 8 && pages.iter().any(|p| p.contains(&s)) {
                copied.push(format!("{}: {line:?}", e.id));
            }
        }
    }
    assert!(
        copied.is_empty(),
        "phrasings found in the development set:\n{}",
        copied.join("\n")
    );
}

/// The rule files quote no sentence of the development set either (their
/// comments give examples; their terms are words): a stretch of eight or
/// more Chinese characters between punctuation found verbatim in a
/// development page, and not in the plan (whose clauses pages quote too)
/// nor a name of the trade, is reported.
#[test]
fn rule_files_do_not_quote_the_development_set() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let devset = root.join("../shared/devset/pages");
    let Ok(entries) = std::fs::read_dir(&devset) else {
        eprintln!("skip: {} is absent", devset.display());
        return;
    };
    let pages: Vec<String> = entries
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|t| squeeze(&t))
        .collect();
    let plan: String = std::fs::read_dir(root.join("../shared/seed"))
        .into_iter()
        .flatten()
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .map(|t| squeeze(&t))
        .collect();
    // names of institutions and offences and terms of the trade, which any
    // page about them writes too
    const DOMAIN: &[&str] = &[
        "变相吸收公众存款",
        "非法吸收公众存款",
        "网络借贷信息中介",
        "集合资产管理计划",
        "中国银行业监督管理委员会",
        "中国证券投资基金业协会",
        "凭学生证即可借款",
        // licensed institutions' corporate forms (wordlists/licensed.toml),
        // which any page naming such an institution writes
        "保险股份有限公司",
        "证券股份有限公司",
        "消费金融有限公司",
    ];
    let mut quoted = Vec::new();
    for (name, text) in finscan::rules::BUNDLED {
        for (i, line) in text.lines().enumerate() {
            for piece in line.split(|c: char| !c.is_alphanumeric() && c != '%') {
                let s = squeeze(piece);
                let cjk = s
                    .chars()
                    .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
                    .count();
                if cjk >= 8
                    && !DOMAIN.contains(&s.as_str())
                    && !plan.contains(&s)
                    && pages.iter().any(|p| p.contains(&s))
                {
                    quoted.push(format!("{name}:{}: {piece}", i + 1));
                }
            }
        }
    }
    assert!(
        quoted.is_empty(),
        "development-set text in the rules:\n{}",
        quoted.join("\n")
    );
}
