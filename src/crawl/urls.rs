//! URL normalization, crawl scope and trap rules.
//!
//! Two spellings of one page must give one frontier key, or the crawl fetches
//! it twice and doubles its hits; so every URL is normalized before it is
//! looked up in `seen`.

use url::Url;

/// Longest URL the crawler admits; longer ones are almost always traps
/// (session ids, ever-growing query strings).
pub const MAX_URL_LEN: usize = 1024;

/// A path segment seen this many times in one URL marks a relative-link loop
/// (`/a/b/a/b/a/b/`).
pub const MAX_SEGMENT_REPEATS: usize = 3;

/// Why a URL was not admitted to the frontier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotHttp,
    OutOfScope,
    TooLong,
    RepeatedSegments,
    TooDeep,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::NotHttp => "not http(s)",
            Refusal::OutOfScope => "out of scope",
            Refusal::TooLong => "URL too long",
            Refusal::RepeatedSegments => "repeated path segments (link trap)",
            Refusal::TooDeep => "deeper than --max-depth",
        }
    }
}

/// Parses and normalizes an absolute URL: scheme and host lower case (done
/// by `url`), default port dropped, dot segments resolved, fragment dropped,
/// empty path made `/`, percent-escapes of unreserved characters decoded and
/// the remaining escapes upper-cased. Backslashes in http(s) URLs are read as
/// slashes, as browsers do.
pub fn normalize(raw: &str) -> Result<Url, String> {
    let u = Url::parse(raw.trim()).map_err(|e| format!("{e}"))?;
    normalize_parsed(u)
}

/// Resolves `href` against `base` and normalizes it; `None` for links that
/// are not fetchable pages (`javascript:`, `mailto:`, empty).
pub fn resolve_link(base: &Url, href: &str) -> Option<Url> {
    let href = href.trim();
    if href.is_empty() || href.starts_with('#') {
        return None;
    }
    let u = base.join(href).ok()?;
    normalize_parsed(u).ok()
}

fn normalize_parsed(mut u: Url) -> Result<Url, String> {
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("scheme {:?} is not http or https", u.scheme()));
    }
    if u.host_str().is_none_or(str::is_empty) {
        return Err("no host".into());
    }
    u.set_fragment(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    let path = normalize_escapes(u.path());
    u.set_path(if path.is_empty() { "/" } else { &path });
    if let Some(q) = u.query() {
        if q.is_empty() {
            u.set_query(None);
        } else {
            let q = normalize_escapes(q);
            u.set_query(Some(&q));
        }
    }
    Ok(u)
}

/// Decodes `%XX` of unreserved characters (RFC 3986 §2.3) and upper-cases the
/// hex digits of the escapes that stay.
fn normalize_escapes(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                let c = (h * 16 + l) as u8;
                if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') {
                    out.push(c as char);
                } else {
                    out.push('%');
                    out.push((b[i + 1] as char).to_ascii_uppercase());
                    out.push((b[i + 2] as char).to_ascii_uppercase());
                }
                i += 3;
                continue;
            }
        }
        // `s` is ASCII after `url` serialization; copy char-wise anyway.
        let ch = s[i..].chars().next().unwrap_or('\u{FFFD}');
        out.push(ch);
        i += ch.len_utf8().max(1);
    }
    out
}

/// `host[:port]` as used for per-host state: one politeness slot per origin
/// authority (the port matters: two servers on one address are two sites).
pub fn host_key(u: &Url) -> String {
    let host = u.host_str().unwrap_or("");
    match u.port() {
        Some(p) => format!("{host}:{p}"),
        None => host.to_owned(),
    }
}

/// The registrable domain of a host (`www.a.com.cn` → `a.com.cn`,
/// `x.github.io` → `x.github.io`) by Mozilla's Public Suffix List, compiled
/// in by the `psl` crate; a suffix the list does not know (`.test`) counts
/// as one label. IP addresses and bare suffixes are their own domain.
pub fn registrable_domain(host: &str) -> String {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return host;
    }
    match psl::domain_str(&host) {
        Some(d) => d.to_owned(),
        None => host,
    }
}

/// Which URLs belong to the crawl: the registrable domains of the seeds,
/// plus `--include` patterns, minus `--exclude` patterns.
#[derive(Debug, Clone, Default)]
pub struct Scope {
    pub domains: Vec<String>,
    pub include: Vec<regex::Regex>,
    pub exclude: Vec<regex::Regex>,
}

impl Scope {
    pub fn contains(&self, u: &Url) -> bool {
        let s = u.as_str();
        if self.exclude.iter().any(|r| r.is_match(s)) {
            return false;
        }
        if self.include.iter().any(|r| r.is_match(s)) {
            return true;
        }
        let d = registrable_domain(u.host_str().unwrap_or(""));
        self.domains.contains(&d)
    }

    /// Checks scope and the trap rules that need only the URL.
    pub fn admit(&self, u: &Url, depth: u32, max_depth: u32) -> Result<(), Refusal> {
        if !matches!(u.scheme(), "http" | "https") {
            return Err(Refusal::NotHttp);
        }
        if depth > max_depth {
            return Err(Refusal::TooDeep);
        }
        if u.as_str().len() > MAX_URL_LEN {
            return Err(Refusal::TooLong);
        }
        if has_repeated_segments(u.path()) {
            return Err(Refusal::RepeatedSegments);
        }
        if !self.contains(u) {
            return Err(Refusal::OutOfScope);
        }
        Ok(())
    }
}

fn has_repeated_segments(path: &str) -> bool {
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segs.len() < MAX_SEGMENT_REPEATS {
        return false;
    }
    let mut sorted = segs.clone();
    sorted.sort_unstable();
    sorted
        .windows(MAX_SEGMENT_REPEATS)
        .any(|w| w.iter().all(|s| *s == w[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_of_one_page_normalize_to_one_url() {
        let want = "http://www.example.cn/a/b.html?x=%E4%BD%A0";
        for s in [
            "HTTP://WWW.Example.CN:80/a/./c/../b.html?x=%e4%bd%a0#frag",
            "http://www.example.cn/a/b.html?x=%E4%BD%A0",
            "http://www.example.cn/a/%62.html?x=%E4%BD%A0",
        ] {
            assert_eq!(normalize(s).unwrap().as_str(), want, "{s}");
        }
        assert_eq!(normalize("https://a.cn").unwrap().as_str(), "https://a.cn/");
        assert_eq!(
            normalize("https://a.cn:443/?").unwrap().as_str(),
            "https://a.cn/"
        );
    }

    #[test]
    fn backslash_relative_links_read_as_slashes() {
        let base = normalize("http://a.cn/about/team.htm").unwrap();
        assert_eq!(
            resolve_link(&base, "..\\about.htm").unwrap().as_str(),
            "http://a.cn/about.htm"
        );
        assert_eq!(
            resolve_link(&base, "sub\\x.htm").unwrap().as_str(),
            "http://a.cn/about/sub/x.htm"
        );
    }

    #[test]
    fn non_page_links_are_dropped() {
        let base = normalize("http://a.cn/").unwrap();
        for h in [
            "javascript:void(0)",
            "mailto:a@b.cn",
            "#top",
            "",
            "ftp://a.cn/x",
        ] {
            assert!(resolve_link(&base, h).is_none(), "{h}");
        }
    }

    #[test]
    fn registrable_domains() {
        assert_eq!(registrable_domain("www.a.com.cn"), "a.com.cn");
        assert_eq!(registrable_domain("bbs.a.cn"), "a.cn");
        assert_eq!(registrable_domain("x.y.example"), "y.example");
        assert_eq!(registrable_domain("127.0.0.1"), "127.0.0.1");
        // from the full list, not a built-in handful
        assert_eq!(registrable_domain("www.a.gov.cn"), "a.gov.cn");
        assert_eq!(registrable_domain("p2p.xa.sn.cn"), "xa.sn.cn");
        assert_eq!(registrable_domain("shop.example.co.uk"), "example.co.uk");
        assert_eq!(registrable_domain("a.github.io"), "a.github.io");
        assert_eq!(registrable_domain("WWW.A.COM.CN."), "a.com.cn");
        assert_eq!(registrable_domain("com.cn"), "com.cn");
    }

    #[test]
    fn traps_are_refused() {
        let scope = Scope {
            domains: vec!["a.cn".into()],
            ..Scope::default()
        };
        let ok = normalize("http://www.a.cn/x/y").unwrap();
        assert_eq!(scope.admit(&ok, 1, 5), Ok(()));
        assert_eq!(scope.admit(&ok, 6, 5), Err(Refusal::TooDeep));
        let rep = normalize("http://a.cn/a/b/a/b/a/b/").unwrap();
        assert_eq!(scope.admit(&rep, 1, 5), Err(Refusal::RepeatedSegments));
        let long = normalize(&format!("http://a.cn/{}", "x".repeat(2000))).unwrap();
        assert_eq!(scope.admit(&long, 1, 5), Err(Refusal::TooLong));
        let other = normalize("http://b.cn/").unwrap();
        assert_eq!(scope.admit(&other, 1, 5), Err(Refusal::OutOfScope));
    }
}
