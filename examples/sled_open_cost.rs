//! What opening a finscan database costs in sled 0.34 itself, before
//! finscan reads anything: wall time of `sled::Config::open` (with the
//! store's 1 MB cache) and the resident memory it leaves, then, with
//! `--count`, the keys of every tree.
//!
//! sled 0.34 loads a page-table entry for every node of every tree when it
//! opens a database (its snapshot, then the log after it), so both figures
//! follow the number of keys in the whole database, whatever the command
//! goes on to read (`bench/desk_bench.sh` prints them beside the desk's).
//!
//! usage: cargo run --release --example sled_open_cost -- DIR [--count]
//! Prints one JSON line.

fn status_mb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb / 1024)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let Some(dir) = args.next() else {
        eprintln!("usage: sled_open_cost DIR [--count]");
        std::process::exit(2);
    };
    let count = args.next().as_deref() == Some("--count");
    let t = std::time::Instant::now();
    let db = match sled::Config::new()
        .path(&dir)
        .cache_capacity(1 << 20)
        .open()
    {
        Ok(db) => db,
        Err(e) => {
            eprintln!("sled_open_cost: {dir}: {e}");
            std::process::exit(1);
        }
    };
    let open_ms = t.elapsed().as_secs_f64() * 1000.0;
    let (rss, hwm) = (status_mb("VmRSS:"), status_mb("VmHWM:"));
    let mut trees = serde_json::Map::new();
    let mut total = 0u64;
    if count {
        for name in db.tree_names() {
            let n = db.open_tree(&name).map_or(0, |t| t.len() as u64);
            total += n;
            trees.insert(String::from_utf8_lossy(&name).into_owned(), n.into());
        }
    }
    println!(
        "{}",
        serde_json::json!({
            "dir": dir,
            "open_ms": (open_ms * 10.0).round() / 10.0,
            "rss_mb_after_open": rss,
            "peak_rss_mb_at_open": hwm,
            "bytes_on_disk": db.size_on_disk().unwrap_or(0),
            "keys": if count { serde_json::Value::from(total) } else { serde_json::Value::Null },
            "keys_by_tree": trees,
        })
    );
}
