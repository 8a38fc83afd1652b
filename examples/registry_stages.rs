//! Where a registry scan spends its time, stage by stage, on one thread:
//! reading records, the prefilter, the scanner on the records the
//! prefilter lets through, and how many of those the scanner confirms.
//!
//! cargo run --release --example registry_stages -- FILE.csv
use std::time::{Duration, Instant};

use finscan::registry::import::{self, ImportOptions, Record};
use finscan::registry::prefilter::Prefilter;
use finscan::{Field, RuleSet, Scanner};

fn main() -> anyhow::Result<()> {
    let path = std::env::args()
        .nth(1)
        .expect("usage: registry_stages FILE");
    let set = RuleSet::bundled()?;
    let prefilter = Prefilter::new(&set);
    let scanner = Scanner::new(&set);
    let mut records = import::open(path.as_ref(), &ImportOptions::default())?;
    let mut rec = Record::default();
    let (mut read, mut pre, mut scan) = (Duration::ZERO, Duration::ZERO, Duration::ZERO);
    let mut n = 0u64;
    // per field: passed the prefilter, had hits
    let mut passed = [0u64; 2];
    let mut hit = [0u64; 2];
    loop {
        let t = Instant::now();
        match records.read_into(&mut rec) {
            None => break,
            Some(Err(_)) => continue,
            Some(Ok(())) => {}
        }
        read += t.elapsed();
        n += 1;
        for (i, (field, text)) in [(Field::Name, &rec.name), (Field::Scope, &rec.scope)]
            .into_iter()
            .enumerate()
        {
            let t = Instant::now();
            let may = prefilter.may_match(field, text);
            pre += t.elapsed();
            if may {
                passed[i] += 1;
                let t = Instant::now();
                let hits = scanner.scan_field_bare(field, text);
                scan += t.elapsed();
                hit[i] += u64::from(!hits.is_empty());
            }
        }
    }
    println!("records {n}");
    println!("read       {:>8.3} s", read.as_secs_f64());
    println!("prefilter  {:>8.3} s", pre.as_secs_f64());
    println!("scanner    {:>8.3} s", scan.as_secs_f64());
    for (i, f) in ["name", "scope"].iter().enumerate() {
        println!(
            "{f:<6} passed prefilter {:>8} ({:.1} %), with hits {:>8} ({:.1} % of passed)",
            passed[i],
            100.0 * passed[i] as f64 / n as f64,
            hit[i],
            100.0 * hit[i] as f64 / passed[i].max(1) as f64
        );
    }
    Ok(())
}
