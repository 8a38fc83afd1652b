//! Registry page profiles: how to read company records out of a registry
//! website's HTML (企业信息公示 pages, local registry lists).
//!
//! A profile is a small TOML file that a regulator writes per site: the URL
//! patterns it applies to, a CSS selector for each record on a page, a CSS
//! selector for each field inside a record, and the links to follow (the next
//! page of a list, detail pages). [`extract_records`] is a pure function of
//! (profile, URL, HTML), so the crawler calls it on every fetched page whose
//! URL the profile [`matches`](Profile::matches), scans the records with
//! [`RecordScanner`](super::RecordScanner) exactly as file imports are
//! scanned, and queues the returned links.
//!
//! ```toml
//! name = "example-registry"
//! url_patterns = ['^https?://qy\.example\.gov\.cn/(list|company)/']
//! record = "table.companies tbody tr"   # default: the whole page is one record
//! next_page = "a.next"                  # pagination link(s)
//! follow = ["td.name a"]                # other links to follow (detail pages)
//!
//! [fields]
//! name = "td.name"
//! uscc = "td.code"
//! scope = { selector = "td.scope li", all = true }   # all matches, joined with ；
//! reg_date = { selector = "td.date", attr = "data-date" }
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use regex::Regex;
use scraper::{ElementRef, Html, Selector};
use serde::Deserialize;
use url::Url;

use super::import::{Column, Record};

/// A compiled site profile.
#[derive(Debug, Clone)]
pub struct Profile {
    pub name: String,
    url_patterns: Vec<Regex>,
    record: Option<Selector>,
    next_page: Option<Selector>,
    follow: Vec<Selector>,
    fields: Vec<(Column, FieldSel)>,
}

#[derive(Debug, Clone)]
struct FieldSel {
    selector: Selector,
    attr: Option<String>,
    all: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    name: String,
    url_patterns: Vec<String>,
    #[serde(default)]
    record: Option<String>,
    #[serde(default)]
    next_page: Option<String>,
    #[serde(default)]
    follow: Vec<String>,
    fields: BTreeMap<String, RawField>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum RawField {
    Selector(String),
    Full {
        selector: String,
        #[serde(default)]
        attr: Option<String>,
        #[serde(default)]
        all: bool,
    },
}

/// What is wrong with a profile file; every problem, not only the first.
#[derive(Debug, Clone, thiserror::Error)]
#[error("profile {file}: {}", problems.join("; "))]
pub struct ProfileError {
    pub file: String,
    pub problems: Vec<String>,
}

/// Records and links read from one page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Extracted {
    /// In page order; [`Record::line`] is the record's 1-based position on the page.
    pub records: Vec<Record>,
    /// Absolute links to fetch next (pagination first, then `follow`), deduplicated,
    /// limited to URLs this profile matches, fragments removed.
    pub links: Vec<Url>,
    /// Records that could not be read (no name), by position.
    pub problems: Vec<String>,
}

impl Profile {
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
            file: file.clone(),
            problems: vec![e.to_string()],
        })?;
        Profile::parse(&file, &text)
    }

    pub fn parse(file: &str, text: &str) -> Result<Profile, ProfileError> {
        let err = |problems: Vec<String>| ProfileError {
            file: file.to_owned(),
            problems,
        };
        let raw: RawProfile = toml::from_str(text).map_err(|e| err(vec![e.to_string()]))?;
        let mut problems = Vec::new();
        let selector = |problems: &mut Vec<String>, what: &str, s: &str| match Selector::parse(s) {
            Ok(sel) => Some(sel),
            Err(e) => {
                problems.push(format!("{what}: bad CSS selector {s:?}: {e}"));
                None
            }
        };
        let record = raw
            .record
            .as_deref()
            .and_then(|s| selector(&mut problems, "record", s));
        let next_page = raw
            .next_page
            .as_deref()
            .and_then(|s| selector(&mut problems, "next_page", s));
        let follow: Vec<Selector> = raw
            .follow
            .iter()
            .filter_map(|s| selector(&mut problems, "follow", s))
            .collect();
        let mut fields = Vec::new();
        for (key, f) in &raw.fields {
            let (sel, attr, all) = match f {
                RawField::Selector(s) => (s.as_str(), None, false),
                RawField::Full {
                    selector,
                    attr,
                    all,
                } => (selector.as_str(), attr.clone(), *all),
            };
            let Some(col) = Column::parse(key) else {
                problems.push(format!(
                    "fields.{key}: unknown field (expected one of {})",
                    Column::ALL.map(|c| c.as_str()).join(", ")
                ));
                continue;
            };
            if let Some(selector) = selector(&mut problems, &format!("fields.{key}"), sel) {
                fields.push((
                    col,
                    FieldSel {
                        selector,
                        attr,
                        all,
                    },
                ));
            }
        }
        if !fields.iter().any(|(c, _)| *c == Column::Name) {
            problems.push("fields.name is required".to_owned());
        }
        let mut url_patterns = Vec::new();
        for p in &raw.url_patterns {
            match Regex::new(p) {
                Ok(r) => url_patterns.push(r),
                Err(e) => problems.push(format!("url_patterns: {p:?}: {e}")),
            }
        }
        if raw.url_patterns.is_empty() {
            problems.push("url_patterns is empty".to_owned());
        }
        if !problems.is_empty() {
            return Err(err(problems));
        }
        Ok(Profile {
            name: raw.name,
            url_patterns,
            record,
            next_page,
            follow,
            fields,
        })
    }

    /// Whether this profile applies to `url`.
    pub fn matches(&self, url: &str) -> bool {
        self.url_patterns.iter().any(|r| r.is_match(url))
    }
}

/// Visible text of an element: text nodes joined, white space collapsed.
fn element_text(e: &ElementRef<'_>) -> String {
    let mut out = String::new();
    for t in e.text() {
        for w in t.split_whitespace() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(w);
        }
    }
    out
}

fn field_value(scope: &ElementRef<'_>, f: &FieldSel) -> Option<String> {
    let mut values = scope.select(&f.selector).filter_map(|e| match &f.attr {
        Some(a) => e.value().attr(a).map(|v| v.trim().to_owned()),
        None => Some(element_text(&e)),
    });
    let v = if f.all {
        let all: Vec<String> = values.filter(|v| !v.is_empty()).collect();
        all.join("；")
    } else {
        values.next()?
    };
    (!v.is_empty()).then_some(v)
}

/// Extracts the records and the links to follow from one page.
///
/// Pure: no fetching, no scanning, no storage. Field text is the element's
/// visible text with white space collapsed (or the attribute named by
/// `attr`), so scan offsets are offsets into that text, not into the HTML.
pub fn extract_records(profile: &Profile, page_url: &Url, html: &str) -> Extracted {
    let doc = Html::parse_document(html);
    let mut out = Extracted::default();
    let root = doc.root_element();
    let containers: Vec<ElementRef<'_>> = match &profile.record {
        Some(sel) => doc.select(sel).collect(),
        None => vec![root],
    };
    for (i, el) in containers.iter().enumerate() {
        let mut rec = Record {
            line: i as u64 + 1,
            ..Record::default()
        };
        for (col, f) in &profile.fields {
            let Some(v) = field_value(el, f) else {
                continue;
            };
            match col {
                Column::Name => rec.name = v,
                Column::Uscc => rec.uscc = Some(v),
                Column::Scope => rec.scope = v,
                Column::Address => rec.address = Some(v),
                Column::LegalRep => rec.legal_rep = Some(v),
                Column::RegDate => rec.reg_date = Some(v),
                Column::Status => rec.status = Some(v),
            }
        }
        if rec.name.is_empty() {
            out.problems
                .push(format!("{page_url} record {}: no name", i + 1));
            continue;
        }
        out.records.push(rec);
    }
    let mut seen = std::collections::HashSet::new();
    for sel in profile.next_page.iter().chain(&profile.follow) {
        for a in doc.select(sel) {
            let Some(href) = a.value().attr("href") else {
                continue;
            };
            let Ok(mut u) = page_url.join(href.trim()) else {
                continue;
            };
            u.set_fragment(None);
            if profile.matches(u.as_str()) && u != *page_url && seen.insert(u.clone()) {
                out.links.push(u);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROFILE: &str = r#"
name = "test"
url_patterns = ['^http://reg\.test/(list|company)/']
record = "table.companies tbody tr"
next_page = "a.next"
follow = ["td.name a"]
[fields]
name = "td.name"
uscc = "td.code"
scope = { selector = "td.scope li", all = true }
reg_date = { selector = "td.date", attr = "data-date" }
"#;

    const PAGE: &str = r#"<html><body>
<table class="companies"><thead><tr><th>名称</th></tr></thead><tbody>
<tr><td class="name"><a href="/company/1#top">安康鑫源理财
  有限公司</a></td><td class="code">91610902MA70B5XK71</td>
  <td class="scope"><ul><li>投资理财</li><li>发放贷款</li></ul></td><td class="date" data-date="2018-03-01">2018年</td></tr>
<tr><td class="name">汉阴县百货商店</td><td class="code"></td><td class="scope"><ul><li>日用百货</li></ul></td></tr>
<tr><td class="name"></td></tr>
</tbody></table>
<a class="next" href="/list/2">下一页</a> <a class="next" href="http://other.test/list/3">x</a>
</body></html>"#;

    #[test]
    fn extracts_fields_links_and_problems() {
        let p = Profile::parse("t.toml", PROFILE).expect("profile");
        let url = Url::parse("http://reg.test/list/1").expect("url");
        let ex = extract_records(&p, &url, PAGE);
        assert_eq!(ex.records.len(), 2);
        let r = &ex.records[0];
        assert_eq!(r.name, "安康鑫源理财 有限公司");
        assert_eq!(r.uscc.as_deref(), Some("91610902MA70B5XK71"));
        assert_eq!(r.scope, "投资理财；发放贷款");
        assert_eq!(r.reg_date.as_deref(), Some("2018-03-01"));
        assert_eq!(ex.records[1].uscc, None, "empty cell is no code");
        let links: Vec<&str> = ex.links.iter().map(Url::as_str).collect();
        assert_eq!(
            links,
            ["http://reg.test/list/2", "http://reg.test/company/1"]
        );
        assert_eq!(ex.problems.len(), 1, "{:?}", ex.problems);
    }

    #[test]
    fn bad_profiles_report_every_problem() {
        let e = Profile::parse(
            "bad.toml",
            "name = \"x\"\nurl_patterns = ['(']\nrecord = \"td[\"\n[fields]\nfoo = \"td\"\n",
        )
        .expect_err("invalid");
        let all = e.problems.join("\n");
        assert!(all.contains("record: bad CSS selector"), "{all}");
        assert!(all.contains("fields.foo: unknown field"), "{all}");
        assert!(all.contains("fields.name is required"), "{all}");
        assert!(all.contains("url_patterns"), "{all}");
    }

    #[test]
    fn without_record_selector_the_page_is_one_record() {
        let p = Profile::parse(
            "d.toml",
            "name = \"d\"\nurl_patterns = ['.']\n[fields]\nname = \"h1\"\nscope = \"#scope\"\n",
        )
        .expect("profile");
        let url = Url::parse("http://reg.test/company/1").expect("url");
        let ex = extract_records(
            &p,
            &url,
            "<h1>西安财富管理有限公司</h1><p id=scope>财富管理</p>",
        );
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.records[0].scope, "财富管理");
    }
}
