//! The crawler: frontier, politeness (robots.txt, per-host rate), fetching
//! (limits, SSRF guard). Feeds pages to `scan` and writes them through `store`.
//!
//! * [`urls`]: normalization, scope, URL trap rules.
//! * [`robots`]: robots.txt rules and Crawl-delay.
//! * [`fetch`]: one HTTP exchange with timeouts, body cap, content-type
//!   allow-list and the SSRF guard in the resolver.
//! * [`extract`]: links, ICP and public-security filing numbers, operator.
//! * [`engine`]: the scheduler that ties them together ([`crawl`]).
//! * [`loopback`]: a tiny HTTP/1.1 server on 127.0.0.1 for `finscan demo`
//!   and the tests; [`demo`]: the bundled sample sites it serves.
//!
//! Owns HTTP and politeness; does not decide what a violation is (that is
//! `scan`) nor how records are laid out on disk (that is `store`).

pub mod demo;
pub mod engine;
pub mod extract;
pub mod fetch;
pub mod loopback;
pub mod robots;
pub mod urls;

pub use engine::{CrawlConfig, CrawlError, Progress, Summary, crawl};

/// The User-Agent finscan sends: names the tool and where to read about it,
/// so a site operator can find out who is crawling and why. An office that
/// runs finscan names itself with `--contact` (see [`user_agent`]).
pub const DEFAULT_USER_AGENT: &str = concat!(
    "finscan/",
    env!("CARGO_PKG_VERSION"),
    " (+https://github.com/finscan/finscan#crawler)"
);

/// The User-Agent naming `contact` (a URL or an e-mail address of the
/// office running the crawl) beside the tool.
pub fn user_agent(contact: &str) -> String {
    format!(
        "finscan/{} (+{}; +https://github.com/finscan/finscan#crawler)",
        env!("CARGO_PKG_VERSION"),
        contact.trim()
    )
}
