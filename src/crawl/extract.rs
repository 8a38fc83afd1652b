//! What the crawler reads off a page besides its text: links, the ICP filing
//! number (ICP备案号), the public-security filing number (公网安备) and the
//! operator (主办单位 / 版权所有) named in the footer.
//!
//! Links come from the text pipeline's tokenizer ([`crate::text::html::link_targets`]):
//! one linear pass, where a DOM parser's time grows with the square of the
//! nesting depth on hostile pages; filings and the operator are read from the
//! visible text the scanner already produced, so they need no second parse.

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use url::Url;

use super::urls::resolve_link;

/// Most outlinks taken from one page (link farms, calendars, tag clouds).
pub const MAX_OUTLINKS: usize = 1000;

/// Absolute, normalized links of an HTML page, in document order without
/// duplicates, at most [`MAX_OUTLINKS`]. `<base href>` is honoured.
pub fn links(html: &str, page: &Url) -> Vec<Url> {
    let (base, targets) = crate::text::html::link_targets(html);
    let base = base
        .and_then(|h| page.join(h.trim()).ok())
        .unwrap_or_else(|| page.clone());
    let mut out: Vec<Url> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for href in &targets {
        if let Some(u) = resolve_link(&base, href)
            && seen.insert(u.as_str().to_owned())
        {
            out.push(u);
            if out.len() >= MAX_OUTLINKS {
                break;
            }
        }
    }
    out
}

const PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

/// ICP filing or licence number: `陕ICP备12345678号-1`, `京ICP证000001号`.
pub fn icp_number(text: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(
            r"(?i)[{PROVINCES}]\s*ICP\s*[备证]\s*[0-9]{{4,}}\s*号?(?:\s*[-－]\s*[0-9]{{1,3}})?"
        ))
        .expect("valid regex")
    });
    RE.find(text).map(|m| squeeze(m.as_str()))
}

/// Public-security filing number: `京公网安备 11010502030143号`.
pub fn psb_number(text: &str) -> Option<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(&format!(r"[{PROVINCES}]\s*公网安备\s*[0-9]{{6,}}\s*号?")).expect("valid regex")
    });
    RE.find(text).map(|m| squeeze(m.as_str()))
}

/// The site's operator: the name after 主办单位/运营主体/版权所有, or the
/// company name written before 版权所有. `None` when the footer names none.
pub fn operator(text: &str) -> Option<String> {
    operator_span(text).map(|r| text[r].to_owned())
}

/// Where [`operator`] reads the operator's name: a byte range of `text`
/// (the page's visible text), so that a hit on the name can point at the
/// raw bytes it was read from like any other hit.
pub fn operator_span(text: &str) -> Option<Range<usize>> {
    static LABELLED: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?i)(?:主办单位|网站主办|主办|运营单位|运营主体|运营方|网站所有者|版权所有)\s*[：:]?\s*(?:(?:©|\(c\)|copyright)\s*)?(?:[0-9]{4}(?:\s*[-–—]\s*[0-9]{4})?\s*)?([^\s|｜,，;；:：©。]{2,60})",
        )
        .expect("valid regex")
    });
    static BEFORE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"([\p{Han}A-Za-z0-9（）()·]{2,60}?(?:有限责任公司|股份有限公司|有限公司|公司|集团|中心))\s*[©]?\s*版权所有")
            .expect("valid regex")
    });
    // the name inside a captured stretch, as a range of `text`
    let clean = |m: regex::Match<'_>| -> Option<Range<usize>> {
        let s = m.as_str();
        let mut end = s.len();
        for stop in ["ICP", "icp", "公网安备", "版权所有", "地址", "电话"] {
            if let Some(i) = s[..end].find(stop) {
                end = i;
            }
        }
        let edge = |c: char| c.is_whitespace() || "：:©,，。".contains(c);
        let head = &s[..end];
        let trimmed_start = head.len() - head.trim_start_matches(edge).len();
        let name = head.trim_matches(edge);
        (name
            .chars()
            .filter(|c| ('\u{4e00}'..='\u{9fff}').contains(c))
            .count()
            >= 2)
            .then(|| {
                let start = m.start() + trimmed_start;
                start..start + name.len()
            })
    };
    // Prefer an explicit 主办单位-style label over a bare 版权所有.
    let mut labelled: Vec<(bool, Range<usize>)> = LABELLED
        .captures_iter(text)
        .filter_map(|c| {
            let label_is_copyright = c.get(0)?.as_str().starts_with("版权所有");
            Some((label_is_copyright, clean(c.get(1)?)?))
        })
        .collect();
    labelled.sort_by_key(|(copyright, _)| *copyright);
    if let Some((false, name)) = labelled.first() {
        return Some(name.clone());
    }
    if let Some(c) = BEFORE.captures(text)
        && let Some(name) = c.get(1).and_then(clean)
    {
        return Some(name);
    }
    labelled.into_iter().next().map(|(_, n)| n)
}

fn squeeze(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if c == '－' { '-' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filing_numbers_are_found_in_footers() {
        let t = "关于我们 | 陕ICP备12345678号-1 | 陕公网安备 61010302000123号";
        assert_eq!(icp_number(t).as_deref(), Some("陕ICP备12345678号-1"));
        assert_eq!(psb_number(t).as_deref(), Some("陕公网安备61010302000123号"));
        assert_eq!(
            icp_number("京ICP证 000001号").as_deref(),
            Some("京ICP证000001号")
        );
        assert_eq!(icp_number("no filing here"), None);
    }

    #[test]
    fn operator_from_label_or_copyright() {
        assert_eq!(
            operator("主办单位：西安恒信财富投资管理有限公司 陕ICP备12345678号-1").as_deref(),
            Some("西安恒信财富投资管理有限公司")
        );
        assert_eq!(
            operator("© 2016 安保人寿保险股份有限公司 版权所有").as_deref(),
            Some("安保人寿保险股份有限公司")
        );
        assert_eq!(
            operator("版权所有：青山商贸有限公司").as_deref(),
            Some("青山商贸有限公司")
        );
        assert_eq!(
            operator("版权所有 © 2014-2016 某某网络科技有限公司").as_deref(),
            Some("某某网络科技有限公司")
        );
        assert_eq!(operator("欢迎光临"), None);
    }

    #[test]
    fn links_resolve_against_base_and_skip_scripts() {
        let page = Url::parse("http://a.cn/dir/page.html").unwrap();
        let html = r#"<a href="x.html">x</a><a href="javascript:1">j</a><a href="..\up.htm">u</a><a href="x.html#f">dup</a><p><a href=/abs>a"#;
        let got: Vec<String> = links(html, &page).into_iter().map(String::from).collect();
        assert_eq!(
            got,
            [
                "http://a.cn/dir/x.html",
                "http://a.cn/up.htm",
                "http://a.cn/abs"
            ]
        );
        let based = links(
            r#"<base href="http://a.cn/other/"><a href="y">y</a>"#,
            &page,
        );
        assert_eq!(based[0].as_str(), "http://a.cn/other/y");
    }
}
