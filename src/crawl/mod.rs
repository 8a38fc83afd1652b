//! The crawler: frontier, politeness (robots.txt, per-host rate), fetching
//! (limits, SSRF guard). Feeds pages to `scan` and writes them through `store`.
