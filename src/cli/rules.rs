//! `finscan rules check | list | terms`.

use std::io::Write;
use std::path::Path;

use finscan::rules::Part;
use finscan::{Field, RuleSet};

use super::Outcome;

pub fn check(dir: Option<&Path>) -> anyhow::Result<Outcome> {
    let loaded = match dir {
        Some(d) => RuleSet::load_dir(d),
        None => RuleSet::bundled(),
    };
    match loaded {
        Ok(set) => {
            let terms: usize = set.rules.iter().map(|r| r.terms.len()).sum();
            let cues: usize = set.cues.iter().map(|n| n.cues.len()).sum();
            let voices: usize = set.voices.iter().map(|n| n.cues.len()).sum();
            let activities: usize = set.activities.iter().map(|a| a.terms.len()).sum();
            let allows: usize = set.allows.iter().map(|a| a.terms.len()).sum();
            println!(
                "ok: {} term rules ({} terms), {} patterns, {} activity words, {} context cues, {} voice cues, {} allow-list terms, yield detector {}",
                set.rules.len(),
                terms,
                set.patterns.len(),
                activities,
                cues,
                voices,
                allows,
                match &set.yields {
                    Some(y) => format!("above {}% a year", y.threshold_percent),
                    None => "off".to_owned(),
                }
            );
            Ok(Outcome::Clean)
        }
        Err(errors) => {
            for e in &errors.0 {
                eprintln!("{e}");
            }
            eprintln!("finscan: {} error(s) in rules", errors.0.len());
            Ok(Outcome::Fatal)
        }
    }
}

pub fn list(dir: Option<&Path>, json: bool) -> anyhow::Result<Outcome> {
    let set = super::load_rules(dir)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for r in &set.rules {
        let fields: Vec<&str> = r.fields.iter().map(|f| f.as_str()).collect();
        if json {
            let v = serde_json::json!({
                "kind": "term", "id": r.id, "category": r.category, "severity": r.severity, "fields": fields,
                "terms": r.terms, "basis": r.basis, "boundary": r.boundary, "origin": r.origin.to_string(),
                "needs_activity": r.needs.activities, "needs_rule": r.needs.rules,
            });
            writeln!(out, "{v}")?;
        } else {
            let mut shown: Vec<&str> = r.terms.iter().take(6).map(String::as_str).collect();
            if r.terms.len() > 6 {
                shown.push("…");
            }
            writeln!(
                out,
                "{:<34} {:<26} {:<6} {:<11} {:>3} terms  {}\n{:>36}basis: {}",
                r.id.0,
                r.category.as_str(),
                r.severity.as_str(),
                fields.join(","),
                r.terms.len(),
                shown.join(" "),
                "",
                r.basis
            )?;
        }
    }
    for p in &set.patterns {
        let parts: Vec<serde_json::Value> = p
            .parts
            .iter()
            .map(|part| match part {
                Part::Terms(t) => serde_json::json!(t),
                Part::Number(n) => serde_json::json!({
                    "number": n.kind.as_str(), "min": n.min, "max": n.max,
                }),
            })
            .collect();
        if json {
            let v = serde_json::json!({
                "kind": "pattern", "id": p.id, "category": p.category, "severity": p.severity,
                "fields": ["page"], "within": p.within.as_str(), "ordered": p.ordered,
                "max_chars": p.max_chars, "parts": parts, "exclude": p.exclude,
                "needs_activity": p.needs.activities, "needs_rule": p.needs.rules,
                "basis": p.basis, "origin": p.origin.to_string(),
            });
            writeln!(out, "{v}")?;
        } else {
            let shown: Vec<String> = p
                .parts
                .iter()
                .map(|part| match part {
                    Part::Terms(t) => {
                        let mut s: Vec<&str> = t.iter().take(3).map(String::as_str).collect();
                        if t.len() > 3 {
                            s.push("…");
                        }
                        s.join("|")
                    }
                    Part::Number(n) => format!(
                        "{{{}{}{}}}",
                        n.kind.as_str(),
                        n.min.map_or(String::new(), |m| format!(" ≥{m}")),
                        n.max.map_or(String::new(), |m| format!(" ≤{m}"))
                    ),
                })
                .collect();
            writeln!(
                out,
                "{:<34} {:<26} {:<6} {:<11} {} in a {}{}\n{:>36}basis: {}",
                p.id.0,
                p.category.as_str(),
                p.severity.as_str(),
                "page",
                shown.join(if p.ordered { " → " } else { " + " }),
                p.within.as_str(),
                p.max_chars
                    .map_or(String::new(), |m| format!(" (≤{m} chars)")),
                "",
                p.basis
            )?;
        }
    }
    for a in &set.activities {
        if json {
            let v = serde_json::json!({
                "kind": "activity", "id": a.id, "activity": a.activity, "terms": a.terms,
                "origin": a.origin.to_string(),
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{:<34} activity: {:<19} {:>3} terms (not hits: the page's activity profile)",
                a.id,
                a.activity.as_str(),
                a.terms.len()
            )?;
        }
    }
    if let Some(y) = &set.yields {
        if json {
            let v = serde_json::json!({
                "kind": "yield", "id": y.rule_id, "category": y.category, "severity": y.severity, "fields": ["page"],
                "terms": y.keywords, "basis": y.basis, "threshold_percent": y.threshold_percent,
            });
            writeln!(out, "{v}")?;
        } else {
            writeln!(
                out,
                "{:<34} {:<26} {:<6} {:<11} {:>3} keywords, annual rate above {}%\n{:>36}basis: {}",
                y.rule_id.0,
                y.category.as_str(),
                y.severity.as_str(),
                "page",
                y.keywords.len(),
                y.threshold_percent,
                "",
                y.basis
            )?;
        }
    }
    out.flush()?;
    Ok(Outcome::Clean)
}

pub fn terms(dir: Option<&Path>, field: Option<Field>) -> anyhow::Result<Outcome> {
    let set = super::load_rules(dir)?;
    let terms = set.terms(field);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for t in terms {
        writeln!(out, "{t}")?;
    }
    out.flush()?;
    Ok(Outcome::Clean)
}
