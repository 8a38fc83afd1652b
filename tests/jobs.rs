//! Crawl, recheck and registry scan as the library calls a scheduler makes
//! (`finscan::job`), against sites served on 127.0.0.1 inside the test:
//! they count what the binary counts, stop when cancelled with what they
//! stored kept, and a rerun completes them without doubles.

mod crawl_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crawl_support::{Scratch, allow_all, crawl_cmd, html, run, serve, url};
use finscan::crawl::Progress;
use finscan::crawl::loopback::Response;
use finscan::job::crawl::{CrawlOptions, CrawlReport, crawl};
use finscan::job::recheck::{RecheckOptions, run_recheck};
use finscan::job::registry::run_registry_scan;
use finscan::job::{Cancel, JobError, Outcome};
use finscan::registry::pipeline::{NoSink, RegistryScanOptions};
use finscan::review::RecheckOutcome;
use finscan::store::Store;
use finscan::time::Zone;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");
const PAST: &str = "2026-01-31";
const VIOLATION: &str = "<p>本平台承诺保本保息，资金安全有保障。</p>";

/// Runs the binary; retried while this process's dropped database handle
/// still holds the directory (sled lets it go a moment after the drop).
fn finscan(args: &[&str]) -> Output {
    for _ in 0..100 {
        let out = Command::new(BIN)
            .args(args)
            .env_remove("FINSCAN_DB")
            .env_remove("FINSCAN_RULES")
            .env_remove("TZ")
            .stdin(Stdio::null())
            .output()
            .expect("run finscan");
        if !String::from_utf8_lossy(&out.stderr).contains("another finscan process") {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("the database stayed locked");
}

/// Opens the database, waiting for a handle just dropped.
fn open(db: &Path) -> Store {
    for _ in 0..100 {
        if let Ok(s) = Store::open(db) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Store::open(db).expect("open the database")
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Runtime::new().unwrap().block_on(f)
}

/// The crawl of `host` on `port` as a job table would give it.
fn options(host: &str, port: u16) -> CrawlOptions {
    CrawlOptions {
        urls: vec![url(host, port, "/")],
        resolve: vec![format!("{host}:{port}:127.0.0.1")],
        rate_per_host: 50.0,
        ..CrawlOptions::default()
    }
}

fn crawl_into(db: &Path, opts: &CrawlOptions, cancel: &Cancel) -> CrawlReport {
    let store = open(db);
    block_on(crawl(opts, store, cancel, &|_: &Progress| {}, &Zone::utc())).unwrap()
}

/// Page i of `n` links to the next three and carries a violation every third page.
fn chain_site(r: &crawl_support::Request, n: usize) -> Response {
    crawl_support::chain_site(r, n, VIOLATION, "<p>普通页面</p>")
}

/// Stored page URLs and hit ids, checking no hit id is stored twice.
fn stored(db: &Path) -> (BTreeSet<String>, BTreeSet<String>) {
    let store = open(db);
    let pages = store.pages_iter().map(|p| p.unwrap().url).collect();
    let mut hits = BTreeSet::new();
    for h in store.hits_iter() {
        let h = h.unwrap();
        assert!(hits.insert(h.id.to_string()), "hit {} stored twice", h.id);
    }
    (pages, hits)
}

#[test]
fn a_library_crawl_counts_what_the_binary_counts() {
    let srv = serve(|r| chain_site(r, 12));
    let sc = Scratch::new();
    let r = run(crawl_cmd(
        &sc,
        srv.port,
        &["a.test"],
        &[url("a.test", srv.port, "/")],
        &[],
    ));
    assert_eq!(r.code, 1, "{}", r.stderr);

    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let report = crawl_into(&db, &options("a.test", srv.port), &Cancel::new());
    let s = &report.summary;
    for (key, ours) in [
        ("pages_done", s.pages_done),
        ("pages_fetched", s.pages_fetched),
        ("pages_failed", s.pages_failed),
        ("hits", s.hits),
        ("new_hits", s.new_hits),
        ("robots_fetched", s.robots_fetched),
        ("queued", s.queued),
    ] {
        assert_eq!(r.summary[key], ours, "{key}: {}", r.summary);
    }
    assert_eq!(s.pages_done, 12);
    assert_eq!(report.outcome, Outcome::Hits);
    assert_eq!(report.seen_hits, 0);
    // the report a scheduler stores: the summary's keys and the outcome
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["pages_done"], 12);
    assert_eq!(json["outcome"], "hits");
    assert_eq!(stored(&db), stored(&sc.db()));
}

#[test]
fn a_cancelled_crawl_keeps_its_pages_and_a_rerun_completes_it_without_doubles() {
    let n = 40;
    let srv = serve(move |r| chain_site(r, n));
    let dir = tempfile::tempdir().unwrap();
    let opts = CrawlOptions {
        rate_per_host: 20.0,
        ..options("a.test", srv.port)
    };

    let db = dir.path().join("db");
    let cancel = Cancel::new();
    let stop = cancel.clone();
    let stop_after_five = move |p: &Progress| {
        if p.summary.pages_done >= 5 {
            stop.cancel();
        }
    };
    let store = open(&db);
    let first = block_on(crawl(&opts, store, &cancel, &stop_after_five, &Zone::utc())).unwrap();
    assert!(first.summary.interrupted);
    assert_eq!(first.outcome, Outcome::Cancelled);
    assert!(
        first.summary.pages_done >= 5 && first.summary.pages_done < n as u64,
        "stopped part way: {}",
        first.summary.pages_done
    );
    assert!(first.summary.queued > 0, "the rest stays queued");
    let (kept_pages, kept_hits) = stored(&db);
    assert_eq!(kept_pages.len() as u64, first.summary.pages_done);

    let second = crawl_into(&db, &opts, &Cancel::new());
    assert!(!second.summary.interrupted);
    assert_eq!(second.outcome, Outcome::Hits);
    assert_eq!(second.summary.queued, 0);
    assert_eq!(
        first.summary.pages_done + second.summary.pages_done,
        n as u64,
        "no page fetched twice"
    );

    let whole_db = dir.path().join("whole");
    let whole = crawl_into(&whole_db, &opts, &Cancel::new());
    assert_eq!(whole.summary.pages_done, n as u64);
    let (pages, hits) = stored(&db);
    assert!(kept_pages.is_subset(&pages) && kept_hits.is_subset(&hits));
    assert_eq!((pages, hits), stored(&whole_db));
}

#[test]
fn a_crawl_cancelled_before_it_starts_fetches_nothing() {
    let srv = serve(|r| chain_site(r, 3));
    let dir = tempfile::tempdir().unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let report = crawl_into(
        &dir.path().join("db"),
        &options("a.test", srv.port),
        &cancel,
    );
    assert_eq!(report.outcome, Outcome::Cancelled);
    assert_eq!(report.summary.pages_done, 0);
    assert!(srv.log().is_empty(), "no request: {:?}", srv.log().len());
}

#[test]
fn crawl_options_with_no_usable_seed_are_an_error_naming_them() {
    let dir = tempfile::tempdir().unwrap();
    let opts = CrawlOptions {
        urls: vec!["not a url".into()],
        ..CrawlOptions::default()
    };
    let store = open(&dir.path().join("db"));
    let e = block_on(crawl(
        &opts,
        store,
        &Cancel::new(),
        &|_: &Progress| {},
        &Zone::utc(),
    ))
    .unwrap_err();
    assert!(matches!(e, JobError::NoSeeds { .. }), "{e}");
    assert!(e.to_string().contains("no valid seed URL in urls"), "{e}");
}

fn ids(db: &Path, source: &str) -> Vec<String> {
    let out = finscan(&[
        "hits",
        "list",
        "--json",
        "--source",
        source,
        "--db",
        db.to_str().unwrap(),
    ]);
    assert!(out.status.code().is_some_and(|c| c <= 1));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["id"].as_str().unwrap().to_owned()
        })
        .collect()
}

/// Confirms and notifies `ids` with a deadline past, through the binary.
fn notify(db: &Path, ids: &[String]) {
    for action in [vec!["--confirm"], vec!["--notify", "--deadline", PAST]] {
        let mut a = vec![
            "review",
            "--db",
            db.to_str().unwrap(),
            "--reviewer",
            "王审核",
        ];
        a.extend(action);
        a.extend(ids.iter().map(String::as_str));
        let out = finscan(&a);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn status_of(db: &Path, id: &str) -> String {
    let out = finscan(&["hits", "show", id, "--json", "--db", db.to_str().unwrap()]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    v["finding"]["status"].as_str().unwrap().to_owned()
}

#[test]
fn a_library_recheck_decides_a_removed_violation_and_a_cancelled_one_waits() {
    let body = Arc::new(Mutex::new(VIOLATION.to_owned()));
    let shared = body.clone();
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(&shared.lock().unwrap()),
        _ => Response::not_found(),
    });
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    crawl_into(&db, &options("a.test", srv.port), &Cancel::new());
    let ids = ids(&db, "page");
    assert!(!ids.is_empty());
    // page times are to the second: a crawl in the notice's second would
    // count as read after it
    std::thread::sleep(std::time::Duration::from_millis(1100));
    notify(&db, &ids);
    *body.lock().unwrap() = "<p>本平台已整改，仅提供信息服务。</p>".into();
    let opts = RecheckOptions {
        resolve: vec![format!("a.test:{}:127.0.0.1", srv.port)],
        rate_per_host: 50.0,
        ..RecheckOptions::default()
    };

    // cancelled before it starts: nothing fetched, nothing decided
    let cancel = Cancel::new();
    cancel.cancel();
    let requests = srv.log().len();
    let waited = block_on(run_recheck(
        &opts,
        open(&db),
        finscan::time::now(),
        &Zone::utc(),
        &cancel,
    ))
    .unwrap();
    assert_eq!(waited.outcome, Outcome::Cancelled);
    assert_eq!(waited.pages_fetched, 0);
    assert_eq!(waited.decisions.due, ids.len());
    assert!(
        waited.decisions.decided.is_empty(),
        "{:?}",
        waited.decisions
    );
    assert_eq!(srv.log().len(), requests, "no request");

    let done = block_on(run_recheck(
        &opts,
        open(&db),
        finscan::time::now(),
        &Zone::utc(),
        &Cancel::new(),
    ))
    .unwrap();
    assert_eq!(done.outcome, Outcome::Clean);
    assert_eq!(done.pages_fetched, 1);
    assert_eq!(done.decisions.decided.len(), ids.len());
    assert!(
        done.decisions
            .decided
            .iter()
            .all(|d| d.outcome == RecheckOutcome::Rectified)
    );
    let json = serde_json::to_value(&done).unwrap();
    assert_eq!(json["pages_fetched"], 1);
    assert_eq!(json["decided"][0]["outcome"], "rectified");
    for id in &ids {
        assert_eq!(status_of(&db, id), "rectified");
    }
}

#[test]
fn a_registry_job_scans_into_an_open_database_and_decides_notified_companies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let csv = dir.path().join("records.csv");
    let write = |scope: &str| {
        std::fs::write(
            &csv,
            format!("企业名称,统一社会信用代码,经营范围\n安康鑫源商贸有限公司,91610902MA70B5XK71,{scope}\n"),
        )
        .unwrap();
    };
    let opts = RegistryScanOptions {
        inputs: vec![csv.clone()],
        ..RegistryScanOptions::default()
    };
    let scan = |db: &Path| {
        let store = open(db);
        run_registry_scan(&opts, &store, &mut NoSink, &Cancel::new(), &Zone::utc()).unwrap()
    };
    write("投资理财咨询");
    let first = scan(&db);
    assert_eq!((first.scan.flagged, first.scan.stored_new), (1, 1));
    assert!(first.recheck.is_none(), "nothing notified yet");
    let ids = ids(&db, "registry");
    assert_eq!(ids.len(), 1);
    notify(&db, &ids);

    write("企业管理咨询；日用百货销售");
    let second = scan(&db);
    assert_eq!(second.scan.flagged, 0);
    assert_eq!(second.scan.stored_updated, 1);
    let decided = &second
        .recheck
        .as_ref()
        .expect("decisions")
        .decisions
        .decided;
    assert_eq!(decided.len(), 1);
    assert_eq!(decided[0].outcome, RecheckOutcome::Rectified);
    assert_eq!(status_of(&db, &ids[0]), "rectified");
    let json = serde_json::to_value(&second).unwrap();
    assert_eq!(json["records"], 1);
    assert_eq!(
        json["recheck"]["decisions"]["decided"][0]["outcome"],
        "rectified"
    );
}

#[test]
fn recheck_options_come_from_a_job_table() {
    let opts: RecheckOptions = toml::from_str("rate_per_host = 2\ntimeout = 10\n").unwrap();
    assert_eq!(opts.rate_per_host, 2.0);
    assert_eq!(opts.timeout, 10.0);
    assert!(!opts.allow_private);
    let e = toml::from_str::<RecheckOptions>("rate = 2\n").unwrap_err();
    assert!(e.to_string().contains("rate"), "{e}");
    let e = toml::from_str::<RecheckOptions>("rate_per_host = 1\ntimeout = -5\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2") && e.contains("positive"), "{e}");
}
