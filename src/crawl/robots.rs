//! robots.txt (RFC 9309) as the crawler applies it: what a fetch result
//! means, whether a URL is allowed, and the Crawl-delay for our agent.

use robotstxt::{DefaultMatcher, RobotsParseHandler, parse_robotstxt};

/// Largest robots.txt read; RFC 9309 asks crawlers to parse at least 500 KiB.
pub const MAX_ROBOTS_BYTES: usize = 512 * 1024;

/// Longest Crawl-delay honoured; longer values are capped (and logged) so
/// one site cannot park a worker for hours.
pub const MAX_CRAWL_DELAY_SECS: f64 = 60.0;

/// The rules of one host.
#[derive(Debug, Clone, PartialEq)]
pub enum Robots {
    /// 2xx: the file's rules apply.
    Rules {
        body: String,
        crawl_delay: Option<f64>,
    },
    /// 4xx (or none): everything is allowed (RFC 9309 §2.3.1.3).
    AllowAll,
}

impl Robots {
    /// Interprets a successful or 4xx fetch; 5xx and network errors are the
    /// caller's business (disallow all for now, retry later).
    pub fn from_response(status: u16, body: &[u8], agent: &str) -> Robots {
        if (400..500).contains(&status) {
            return Robots::AllowAll;
        }
        let body = String::from_utf8_lossy(&body[..body.len().min(MAX_ROBOTS_BYTES)]).into_owned();
        let crawl_delay = crawl_delay(&body, agent);
        Robots::Rules { body, crawl_delay }
    }

    /// Whether `url` may be fetched by `agent` (a full User-Agent or its
    /// product token: groups name the token, `finscan`, not the whole header).
    pub fn allows(&self, agent: &str, url: &str) -> bool {
        match self {
            Robots::AllowAll => true,
            Robots::Rules { body, .. } => DefaultMatcher::default().one_agent_allowed_by_robots(
                body,
                product_token(agent),
                url,
            ),
        }
    }

    pub fn crawl_delay(&self) -> Option<f64> {
        match self {
            Robots::AllowAll => None,
            Robots::Rules { crawl_delay, .. } => *crawl_delay,
        }
    }
}

/// The product token of a User-Agent (`finscan/0.1 (+https://…)` → `finscan`),
/// which is what robots.txt groups name.
pub fn product_token(user_agent: &str) -> &str {
    user_agent
        .split(|c: char| c == '/' || c.is_whitespace())
        .next()
        .unwrap_or(user_agent)
}

/// Crawl-delay of the group that applies to `agent`: the group naming the
/// agent if there is one, else the `*` group. `robotstxt` does not know the
/// directive and hands it to `handle_unknown_action`, which is where it is
/// captured.
pub fn crawl_delay(body: &str, agent: &str) -> Option<f64> {
    #[derive(Default)]
    struct Delay<'a> {
        agent: &'a str,
        in_specific: bool,
        in_global: bool,
        /// A group's user-agent lines end at its first rule line.
        seen_rule: bool,
        specific: Option<f64>,
        global: Option<f64>,
    }
    impl RobotsParseHandler for Delay<'_> {
        fn handle_robots_start(&mut self) {}
        fn handle_robots_end(&mut self) {}
        fn handle_user_agent(&mut self, _: u32, ua: &str) {
            if self.seen_rule {
                self.in_specific = false;
                self.in_global = false;
                self.seen_rule = false;
            }
            let ua = ua.trim();
            if ua.starts_with('*') {
                self.in_global = true;
            } else if product_token(ua).eq_ignore_ascii_case(self.agent) {
                self.in_specific = true;
            }
        }
        fn handle_allow(&mut self, _: u32, _: &str) {
            self.seen_rule = true;
        }
        fn handle_disallow(&mut self, _: u32, _: &str) {
            self.seen_rule = true;
        }
        fn handle_sitemap(&mut self, _: u32, _: &str) {}
        fn handle_unknown_action(&mut self, _: u32, action: &str, value: &str) {
            self.seen_rule = true;
            if !action.eq_ignore_ascii_case("crawl-delay") {
                return;
            }
            let Ok(v) = value.trim().parse::<f64>() else {
                return;
            };
            if !v.is_finite() || v < 0.0 {
                return;
            }
            if self.in_specific {
                self.specific = Some(v);
            } else if self.in_global {
                self.global = Some(v);
            }
        }
    }
    let mut d = Delay {
        agent: product_token(agent),
        ..Delay::default()
    };
    parse_robotstxt(body, &mut d);
    d.specific.or(d.global).map(|v| v.min(MAX_CRAWL_DELAY_SECS))
}

#[cfg(test)]
mod tests {
    use super::*;

    const UA: &str = "finscan/0.1 (+https://example.org/finscan)";

    #[test]
    fn disallow_applies_to_our_agent() {
        let r = Robots::from_response(200, b"User-agent: *\nDisallow: /private/\n", UA);
        assert!(r.allows(UA, "http://a.cn/index.html"));
        assert!(!r.allows(UA, "http://a.cn/private/x.html"));
    }

    #[test]
    fn a_group_naming_finscan_applies_to_the_full_user_agent() {
        let body = b"User-agent: *\nDisallow:\n\nUser-agent: finscan\nDisallow: /\n";
        let r = Robots::from_response(200, body, UA);
        assert!(!r.allows(UA, "http://a.cn/x"));
        assert!(r.allows("OtherBot/1.0", "http://a.cn/x"));
    }

    #[test]
    fn client_error_allows_everything() {
        let r = Robots::from_response(404, b"Disallow: /", UA);
        assert_eq!(r, Robots::AllowAll);
        assert!(r.allows(UA, "http://a.cn/x"));
    }

    #[test]
    fn crawl_delay_prefers_the_group_naming_us() {
        let body = "User-agent: *\nCrawl-delay: 5\n\nUser-agent: finscan\nCrawl-delay: 1.5\nDisallow: /x\n";
        assert_eq!(crawl_delay(body, UA), Some(1.5));
        assert_eq!(
            crawl_delay("User-agent: *\nCrawl-delay: 2\n", UA),
            Some(2.0)
        );
        assert_eq!(crawl_delay("User-agent: other\nCrawl-delay: 2\n", UA), None);
        assert_eq!(
            crawl_delay("User-agent: *\nCrawl-delay: 99999\n", UA),
            Some(MAX_CRAWL_DELAY_SECS)
        );
    }
}
