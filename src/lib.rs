//! finscan finds illegal internet-finance activity the way the 2016
//! rectification plan asks a city to: it reads platform websites and company
//! registration records, matches them against the restricted enterprise-name
//! words (plan §五（一）) and the forbidden promotion and business behaviours
//! (§二（一）–（六）, §五（四）), and reports every hit with evidence that
//! points into the raw bytes as fetched.
//!
//! The modules, in the order data flows through them:
//!
//! * [`rules`]: loads and validates `wordlists/*.toml`: each rule's id,
//!   category, fields (`name`, `scope`, `page`), terms and legal basis, plus
//!   negation cues, allow-list spans and the yield detector's settings.
//! * [`text`]: raw bytes → decoded text (BOM, HTTP/`<meta>` charset,
//!   detection; UTF-8, GBK/GB18030, Big5) → visible text of HTML →
//!   normalized text for matching (width, case, traditional→simplified,
//!   noise removal). Every step keeps an offset map back to the raw bytes.
//! * [`scan`]: one Aho-Corasick automaton per field kind over normalized
//!   text, then context rules (word boundaries, negation, allow-list) and the
//!   yield detector; produces [`scan::Hit`]s whose spans are raw byte ranges.
//!
//! * [`crawl`]: the polite, resumable crawler: frontier in sled, robots.txt,
//!   per-host rate limits and backoff, fetch limits and the SSRF guard.
//! * [`store`]: the sled database (pages, bodies, hits, frontier).
//! * [`registry`]: company registration records: import, credit codes and
//!   old registration numbers, county attribution, licensed institutions
//!   and activities, registry page profiles.
//! * [`review`]: the reviewer's desk: page hits and flagged companies as
//!   one kind of finding with one lifecycle (new → confirmed | dismissed →
//!   notified → rectified | persisting → referred), append-only review
//!   events, sled indexes, queries.
//! * [`job`]: the work a scheduler runs — a crawl, a registry scan, a
//!   recheck — each one library call with options read from TOML, a
//!   [`job::Cancel`] and a serializable report; the CLI makes the same calls.
//! * [`export`]: what leaves finscan for those who act: the takedown list
//!   and the companies list by county (XLSX / CSV / JSON), and the evidence
//!   behind hits as WARC 1.1.
//! * [`jobs`]: scheduled work for a long-running process: crawl, registry
//!   and recheck jobs on cron schedules and on passed deadlines, one run
//!   per job at a time, a run history in sled, resumption after a restart.
//! * [`report`]: the periodic summary as one self-contained HTML file with
//!   SVG charts (plan §四（三）–（四）); the review desk fills it
//!   ([`review::Desk::report_data`]).
//! * [`serve`]: `finscan serve`, the long-running process that owns the
//!   database: its config (`finscan.toml`), API tokens with roles, the HTTP
//!   API over the review desk and the exports, and the client the command
//!   line uses while a server runs. (The scheduler of jobs is still to
//!   come.)
//! * [`time`]: one convention for times: instants, read as dates or RFC 3339,
//!   shown in the reader's zone (Asia/Shanghai by default).
//!
//! The binary (`src/main.rs`) only parses arguments, calls these modules and
//! prints.

pub mod crawl;
pub mod export;
pub mod job;
pub mod jobs;
pub mod registry;
pub mod report;
pub mod review;
pub mod rules;
pub mod scan;
pub mod serve;
pub mod store;
pub mod text;
pub mod time;

pub use rules::{Category, Field, RuleId, RuleSet, Severity};
pub use scan::{Hit, Scanner};
pub use text::{DocKind, RawSpan, TextSpan};
