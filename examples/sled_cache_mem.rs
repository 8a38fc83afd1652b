//! How much memory sled 0.34 holds for a tree of 65,536 keys whose values
//! are rewritten in batches of 1,000, with `cache_capacity` 1 MB (as the
//! crawl store opens it). Two things show:
//! * without help, memory grows with every write: the replaced nodes wait
//!   for crossbeam-epoch, which frees a little at a time (`FLUSHES=N` calls
//!   `crossbeam_epoch::pin().flush()` N times per batch, as
//!   `finscan::store::reclaim` does);
//! * with it, memory still follows the size of the tree: sled's LRU is 256
//!   shards that each account accesses in batches of 64, so a tree of fewer
//!   than ~16,000 leaves stays in memory whole.
//!
//! usage: [FLUSHES=N] cargo run --release --example sled_cache_mem -- VALUE_BYTES [UPDATES]
//! Prints peak RSS (VmHWM, Linux) and sled's size on disk.

fn vm_hwm_mb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let value: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let updates: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(800_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(1 << 20)
        .open()
        .expect("open sled");
    let t = db.open_tree("t").expect("tree");
    let v = vec![7u8; value];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for i in 0..updates / 1000 {
        let mut batch = sled::Batch::default();
        for _ in 0..1000 {
            // xorshift: keys in random order, as hashed keys come
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            batch.insert(&((x % 65_536) as u32).to_be_bytes(), v.as_slice());
        }
        t.apply_batch(batch).expect("write");
        let flushes: usize = std::env::var("FLUSHES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        for _ in 0..flushes {
            sled::pin().flush();
        }
        if i % 200 == 199 {
            println!(
                "{} updates: peak RSS {} MB, on disk {} MB",
                (i + 1) * 1000,
                vm_hwm_mb(),
                db.size_on_disk().unwrap_or(0) >> 20
            );
        }
    }
    println!(
        "65,536 keys × {value} B = {} MB of values; peak RSS {} MB",
        (65_536 * value) >> 20,
        vm_hwm_mb()
    );
}
