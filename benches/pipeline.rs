//! The scan pipeline against bare Aho-Corasick on the same text.
//!
//! Input: pages from `bench/gen_scan_corpus.py` when `FINSCAN_BENCH_CORPUS`
//! names its output directory (the first 8 MB), otherwise pages generated
//! here from a fixed vocabulary. Run: `cargo bench --bench pipeline`.

use std::hint::black_box;

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use finscan::text::{TextDoc, normalize};
use finscan::{DocKind, Field, RuleSet, Scanner};

fn load_pages() -> Vec<Vec<u8>> {
    if let Ok(dir) = std::env::var("FINSCAN_BENCH_CORPUS") {
        let mut pages = Vec::new();
        let mut total = 0;
        let mut stack = vec![std::path::PathBuf::from(dir)];
        let mut files = Vec::new();
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).expect("corpus dir").flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    files.push(p);
                }
            }
        }
        files.sort();
        for f in files {
            let b = std::fs::read(f).expect("read page");
            total += b.len();
            pages.push(b);
            if total > 8_000_000 {
                break;
            }
        }
        return pages;
    }
    let words = "我们 公司 平台 用户 服务 发展 经济 市场 企业 产品 技术 管理 信息 工作 社会 国家 政府 政策 城市 地区 \
                 建设 项目 投资 资金 银行 客户 合作 提供 推动 实现 提高 加强 完善 促进 支持 安全 质量 标准 规范 创新"
        .split(' ')
        .collect::<Vec<_>>();
    let mut seed = 2016u64;
    let mut next = move || {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (seed >> 33) as usize
    };
    (0..200)
        .map(|i| {
            let mut p = String::from("<html><head><title>页面</title></head><body>");
            for j in 0..200 {
                p.push_str("<p>");
                for _ in 0..12 {
                    p.push_str(words[next() % words.len()]);
                }
                if (i * 200 + j) % 997 == 0 {
                    p.push_str("承诺保本保息，年化收益率高达18%");
                }
                p.push_str("。</p>\n");
            }
            p.push_str("</body></html>");
            p.into_bytes()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let pages = load_pages();
    let bytes: usize = pages.iter().map(Vec::len).sum();
    let rules = RuleSet::bundled().expect("bundled rules");
    let scanner = Scanner::new(&rules);
    let terms: Vec<String> = rules
        .terms(Some(Field::Page))
        .into_iter()
        .map(str::to_owned)
        .collect();
    let dfa = |kind| {
        AhoCorasick::builder()
            .match_kind(kind)
            .kind(Some(AhoCorasickKind::DFA))
            .build(&terms)
            .expect("automaton")
    };
    let leftmost = dfa(MatchKind::LeftmostLongest);
    let standard = dfa(MatchKind::Standard);
    let texts: Vec<String> = pages
        .iter()
        .map(|p| TextDoc::new(p, DocKind::Html, None).visible)
        .collect();
    let norms: Vec<String> = texts.iter().map(|t| normalize(t).text).collect();

    let mut g = c.benchmark_group("scan");
    g.throughput(Throughput::Bytes(bytes as u64));
    g.sample_size(10);
    g.bench_function("pipeline/scan_document", |b| {
        b.iter(|| {
            pages
                .iter()
                .map(|p| {
                    scanner
                        .scan_document(black_box(p), DocKind::Html, None)
                        .hits
                        .len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("bare/aho_corasick_find_iter_raw_bytes", |b| {
        b.iter(|| {
            pages
                .iter()
                .map(|p| leftmost.find_iter(black_box(p.as_slice())).count())
                .sum::<usize>()
        })
    });
    g.bench_function("bare/aho_corasick_overlapping_raw_bytes", |b| {
        b.iter(|| {
            pages
                .iter()
                .map(|p| {
                    standard
                        .find_overlapping_iter(black_box(p.as_slice()))
                        .count()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("stage/decode_extract", |b| {
        b.iter(|| {
            pages
                .iter()
                .map(|p| {
                    TextDoc::new(black_box(p), DocKind::Html, None)
                        .visible
                        .len()
                })
                .sum::<usize>()
        })
    });
    g.bench_function("stage/normalize", |b| {
        b.iter(|| {
            texts
                .iter()
                .map(|t| normalize(black_box(t)).text.len())
                .sum::<usize>()
        })
    });
    g.bench_function("stage/find_iter_normalized", |b| {
        b.iter(|| {
            norms
                .iter()
                .map(|t| leftmost.find_iter(black_box(t.as_str())).count())
                .sum::<usize>()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
