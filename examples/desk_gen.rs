//! Generates the page half of the review desk's benchmark database
//! (`bench/desk_bench.sh`): crawled pages with their hits, written through
//! the crawler's own commit ([`finscan::store::Store::commit_page`]: page
//! record, hits, done mark, one transaction each), with their bodies, so
//! that `hits show` decodes real evidence bytes. The registry half comes
//! from `finscan registry scan` on `bench/registry_gen.py`'s records; the
//! desk takes both in when it next opens.
//!
//! What it writes, deterministically (seed 2016):
//! * `--findings N` page hits on N / 4 pages (4 hits each, the last page
//!   fewer), over `--sites` registrable domains (`s{n}.com.cn`, hosts
//!   `www.` and `m.`), first seen over 2026-01-01 .. 2026-11-30;
//! * the bundled rules' page terms and pattern rules, all categories;
//! * reserved sets of exactly 10,000 findings each that nothing else
//!   shares, so that a batch has a filter of its own: the categories
//!   `campus-lending` (the takedown export's confirmed set) and
//!   `down-payment-loan`, then `--rule-sets` rules (default 10, each its
//!   own batch review: `--where rule=ID`); each set is the first 10,000
//!   hits whose hashed number falls in its sixty-fourth, so the sets spread
//!   over the sites like the rest (smaller below about 650,000 findings).
//!
//! usage: cargo run --release --example desk_gen -- --db DIR [--findings 800000] [--sites 5000] [--threads 2] [--rule-sets 10]
//! Prints one JSON line: pages, hits, per category, the reserved sets, seconds.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use finscan::rules::{Category, Field, Part, RuleId, RuleSet, Severity};
use finscan::store::{Admission, PageCommit, PageRecord, PageState, Store, StoredHit};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Size of each of the two reserved sets.
const RESERVED: u64 = 10_000;
const HITS_PER_PAGE: u64 = 4;
/// 2026-01-01T00:00:00Z and the span of first sightings (334 days).
const START: u64 = 1_767_225_600;
const SPAN: u64 = 334 * 86_400;

/// One rule a generated hit can come from: its id, category, severity,
/// basis and the phrases that match it.
#[derive(Clone)]
struct Source {
    rule: RuleId,
    category: Category,
    severity: Severity,
    basis: String,
    phrases: Vec<String>,
}

fn sources(rules: &RuleSet) -> Vec<Source> {
    let mut out = Vec::new();
    for r in &rules.rules {
        if !r.fields.contains(&Field::Page) || r.terms.is_empty() {
            continue;
        }
        out.push(Source {
            rule: r.id.clone(),
            category: r.category,
            severity: r.severity,
            basis: r.basis.clone(),
            phrases: r.terms.clone(),
        });
    }
    for p in &rules.patterns {
        // a phrase made of each term part's first few words, in order
        let words: Vec<&Vec<String>> = p
            .parts
            .iter()
            .filter_map(|part| match part {
                Part::Terms(t) if !t.is_empty() => Some(t),
                _ => None,
            })
            .collect();
        if words.is_empty() {
            continue;
        }
        let phrases = (0..3)
            .map(|k| {
                words
                    .iter()
                    .map(|t| t[k % t.len()].as_str())
                    .collect::<Vec<_>>()
                    .join("")
            })
            .collect();
        out.push(Source {
            rule: p.id.clone(),
            category: p.category,
            severity: p.severity,
            basis: p.basis.clone(),
            phrases,
        });
    }
    out
}

struct Args {
    db: PathBuf,
    findings: u64,
    sites: u64,
    threads: u64,
    rule_sets: usize,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        db: PathBuf::new(),
        findings: 800_000,
        sites: 5_000,
        threads: 2,
        rule_sets: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = || {
            value
                .parse::<u64>()
                .map_err(|e| format!("{flag} {value}: {e}"))
        };
        match flag.as_str() {
            "--db" => a.db = PathBuf::from(&value),
            "--findings" => a.findings = num()?,
            "--sites" => a.sites = num()?.max(1),
            "--threads" => a.threads = num()?.max(1),
            "--rule-sets" => a.rule_sets = num()?.min(62) as usize,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if a.db.as_os_str().is_empty() {
        return Err("--db DIR is required".into());
    }
    Ok(a)
}

/// splitmix64: spreads hit numbers evenly.
fn mix(g: u64) -> u64 {
    let mut z = g.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The reserved sets: set `k` is the first [`RESERVED`] hit numbers whose
/// mix falls in class `k` of 64, all from one source.
struct Reserved {
    /// Hit number → set.
    member: HashMap<u64, usize>,
    sources: Vec<Source>,
    sizes: Vec<u64>,
}

impl Reserved {
    fn new(total: u64, sources: Vec<Source>) -> Reserved {
        let mut member = HashMap::new();
        let mut sizes = vec![0u64; sources.len()];
        for g in 0..total {
            let k = (mix(g) % 64) as usize;
            if k < sizes.len() && sizes[k] < RESERVED {
                sizes[k] += 1;
                member.insert(g, k);
            }
        }
        Reserved {
            member,
            sources,
            sizes,
        }
    }
}

/// Which source the `g`-th hit comes from.
fn pick<'a>(g: u64, rng: &mut StdRng, plan: &'a Plan) -> &'a Source {
    match plan.reserved.member.get(&g) {
        Some(&k) => &plan.reserved.sources[k],
        None => &plan.common[rng.random_range(0..plan.common.len())],
    }
}

/// What every page is made from.
struct Plan {
    args: Args,
    reserved: Reserved,
    /// The sources of the hits in no reserved set: every rule of every
    /// category but campus-lending and down-payment-loan, less the
    /// reserved rules.
    common: Vec<Source>,
}

const FILLER: &[&str] = &[
    "平台成立于2015年，注册资本五千万元，总部位于西安高新区。",
    "我们秉承诚信、专业、稳健的经营理念，为客户提供优质服务。",
    "欢迎广大投资者莅临公司考察，咨询电话请见页面底部。",
    "本站所载信息仅供参考，具体以合同约定为准。",
    "新手注册即送体验金，邀请好友再得现金红包。",
];

/// One page: its record, body and hits.
fn page(i: u64, plan: &Plan, store: &Store, generation: u32) -> Result<PageCommit, String> {
    let a = &plan.args;
    let mut rng = StdRng::seed_from_u64(2016 ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let site = i % a.sites;
    let host = if i % 7 == 3 {
        format!("m.s{site}.com.cn")
    } else {
        format!("www.s{site}.com.cn")
    };
    let url = format!("http://{host}/p/{i}.html");
    let first = START + (i * 7919 + rng.random_range(0..86_400)) % SPAN;
    let seen = finscan::store::rfc3339(first);
    let title = format!("s{site}金融服务平台 - 产品{i}");
    let operator = format!("西安s{site}网络科技有限公司");
    let icp = format!("陕ICP备{:08}号-1", 10_000_000 + site);
    let mut body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head><body><h1>{title}</h1>"
    );
    let n = HITS_PER_PAGE.min(a.findings - i * HITS_PER_PAGE);
    let mut spans = Vec::new();
    for j in 0..n {
        let g = i * HITS_PER_PAGE + j;
        let s = pick(g, &mut rng, plan);
        let phrase = &s.phrases[rng.random_range(0..s.phrases.len())];
        body.push_str("<p>");
        body.push_str(FILLER[rng.random_range(0..FILLER.len())]);
        let lead = format!("第{j}期产品：本平台");
        body.push_str(&lead);
        let start = body.len();
        body.push_str(phrase);
        let end = body.len();
        let tail = "，年化收益稳定，欢迎咨询。";
        body.push_str(tail);
        body.push_str("</p>");
        let snippet = format!("{lead}{phrase}{tail}");
        spans.push((s, phrase.clone(), start, end, snippet));
    }
    body.push_str(&format!(
        "<footer>主办单位：{operator} {icp}</footer></body></html>"
    ));
    let sha = store.put_body(body.as_bytes()).map_err(|e| e.to_string())?;
    let mut hits = Vec::new();
    let mut ordinals: BTreeMap<(String, String), usize> = BTreeMap::new();
    for (s, phrase, start, end, snippet) in spans {
        let ordinal = ordinals
            .entry((s.rule.0.clone(), phrase.clone()))
            .or_default();
        hits.push(StoredHit {
            id: finscan::store::hit_id(&url, Field::Page, &s.rule, &phrase, *ordinal),
            url: url.clone(),
            host: host.clone(),
            status: finscan::store::HIT_STATUS_NEW.into(),
            rule: s.rule.clone(),
            category: s.category,
            severity: s.severity,
            field: Field::Page,
            term: phrase.clone(),
            matched: phrase,
            start,
            end,
            snippet,
            basis: s.basis.clone(),
            normalizations: Vec::new(),
            annual_rate: None,
            repeats: 0,
            sha256: Some(sha.clone()),
            first_seen: seen.clone(),
            last_seen: seen.clone(),
        });
        *ordinal += 1;
    }
    let mut rec = PageRecord::blank(&url, &host, PageState::Fetched, 1, generation);
    rec.status = Some(200);
    rec.content_type = Some("text/html; charset=utf-8".into());
    rec.charset = Some("UTF-8".into());
    rec.sha256 = Some(sha);
    rec.bytes = body.len() as u64;
    rec.title = Some(title);
    rec.icp = Some(icp);
    rec.operator = Some(operator);
    rec.fetched_at = seen;
    rec.hit_ids = hits.iter().map(|h| h.id.clone()).collect();
    Ok(PageCommit {
        frontier_key: finscan::store::frontier_key(&host, i),
        page: rec,
        also_done: Vec::new(),
        hits,
        links: Vec::new(),
    })
}

fn fail(e: impl std::fmt::Display) -> ! {
    eprintln!("desk_gen: {e}");
    std::process::exit(1);
}

fn main() {
    let args = args().unwrap_or_else(|e| {
        eprintln!("desk_gen: {e}");
        std::process::exit(2);
    });
    let rules = RuleSet::bundled().unwrap_or_else(|e| fail(format!("bundled rules: {e}")));
    let all = sources(&rules);
    let find = |c: Category| {
        all.iter()
            .find(|s| s.category == c && s.rule.0.starts_with("page."))
            .cloned()
            .unwrap_or_else(|| fail(format!("the bundled rules have no page rule of {c}")))
    };
    // reserved: campus-lending and down-payment-loan (whole categories),
    // then --rule-sets rules of other categories than guaranteed-return
    // (which `hits list` is measured on)
    let reserved_category =
        |c: Category| matches!(c, Category::CampusLending | Category::DownPaymentLoan);
    // one rule of each category in turn, in id order
    let mut by_category: BTreeMap<&str, Vec<&Source>> = BTreeMap::new();
    for s in &all {
        if !reserved_category(s.category) && s.category != Category::GuaranteedReturn {
            by_category.entry(s.category.as_str()).or_default().push(s);
        }
    }
    for rules in by_category.values_mut() {
        rules.sort_by(|a, b| a.rule.0.cmp(&b.rule.0));
    }
    let mut rule_sets: Vec<Source> = Vec::new();
    for round in 0.. {
        let before = rule_sets.len();
        for rules in by_category.values() {
            if rule_sets.len() < args.rule_sets
                && let Some(s) = rules.get(round)
            {
                rule_sets.push((*s).clone());
            }
        }
        if rule_sets.len() == before {
            break;
        }
    }
    let common: Vec<Source> = all
        .iter()
        .filter(|s| !reserved_category(s.category) && !rule_sets.iter().any(|r| r.rule == s.rule))
        .cloned()
        .collect();
    let mut sources = vec![
        find(Category::CampusLending),
        find(Category::DownPaymentLoan),
    ];
    sources.extend(rule_sets);
    let reserved = Reserved::new(args.findings, sources);
    if reserved.sizes.iter().any(|n| *n < RESERVED) {
        eprintln!(
            "desk_gen: --findings {} leaves reserved sets below {RESERVED}: {:?}",
            args.findings, reserved.sizes
        );
    }
    let plan = Arc::new(Plan {
        common,
        reserved,
        args,
    });
    let store = Store::open(&plan.args.db).unwrap_or_else(|e| fail(e));
    let generation = store.start_generation().unwrap_or_else(|e| fail(e));
    let adm = Admission {
        generation,
        per_host_budget: u64::MAX,
        max_query_variants: u64::MAX,
    };
    let pages = plan.args.findings.div_ceil(HITS_PER_PAGE);
    let t0 = std::time::Instant::now();
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..plan.args.threads)
        .map(|_| {
            let (plan, next, store) = (plan.clone(), next.clone(), store.clone());
            std::thread::spawn(move || -> Result<BTreeMap<String, u64>, String> {
                let mut by_category = BTreeMap::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= pages {
                        return Ok(by_category);
                    }
                    let c = page(i, &plan, &store, generation)?;
                    for h in &c.hits {
                        *by_category
                            .entry(h.category.as_str().to_owned())
                            .or_default() += 1;
                    }
                    store.commit_page(&c, adm).map_err(|e| e.to_string())?;
                    if i % 20_000 == 0 {
                        eprintln!(
                            "desk_gen: page {i} of {pages}, {:.0} s",
                            t0.elapsed().as_secs_f64()
                        );
                    }
                }
            })
        })
        .collect();
    let mut by_category: BTreeMap<String, u64> = BTreeMap::new();
    for w in workers {
        let m = match w.join() {
            Ok(r) => r.unwrap_or_else(|e| fail(e)),
            Err(_) => fail("a worker panicked"),
        };
        for (k, v) in m {
            *by_category.entry(k).or_default() += v;
        }
    }
    store.flush().unwrap_or_else(|e| fail(e));
    let hits: u64 = by_category.values().sum();
    println!(
        "{}",
        serde_json::json!({
            "pages": pages,
            "hits": hits,
            "sites": plan.args.sites,
            "reserved": plan.reserved.sources.iter().zip(&plan.reserved.sizes).map(|(s, n)| {
                serde_json::json!({"rule": s.rule.0, "category": s.category.as_str(), "findings": n})
            }).collect::<Vec<_>>(),
            "by_category": by_category,
            "seconds": (t0.elapsed().as_secs_f64() * 10.0).round() / 10.0,
        })
    );
}
