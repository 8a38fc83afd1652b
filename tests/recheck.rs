//! Rectification decided by evidence, through the binary: a notified
//! finding past its deadline is rechecked (`finscan recheck`, the end of
//! `crawl --recrawl`, the end of `registry scan`) against a site served on
//! 127.0.0.1 that the test changes, and against a registry file rescanned.

mod crawl_support;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crawl_support::{Scratch, allow_all, crawl_site, html, serve};
use finscan::crawl::loopback::Response;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");
const PAST: &str = "2026-01-31";
const FUTURE: &str = "2099-12-31";

fn finscan(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("FINSCAN_DB")
        .env_remove("FINSCAN_RULES")
        .env_remove("TZ")
        .stdin(Stdio::null())
        .output()
        .expect("run finscan")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

fn lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn findings(db: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["hits", "list", "--json", "--db", s(db)];
    a.extend_from_slice(args);
    let out = finscan(&a);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
    lines(&out)
}

fn ids(v: &[Value]) -> Vec<String> {
    v.iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect()
}

fn status_of(db: &Path, id: &str) -> String {
    let out = finscan(&["hits", "show", id, "--json", "--db", s(db)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    v["finding"]["status"].as_str().expect("status").to_owned()
}

fn history(db: &Path, id: &str) -> Vec<Value> {
    let out = finscan(&["hits", "history", id, "--json", "--db", s(db)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    lines(&out)
}

/// Confirms `ids` and notifies them with `deadline`.
fn notify(db: &Path, ids: &[String], deadline: &str) {
    for action in [vec!["--confirm"], vec!["--notify", "--deadline", deadline]] {
        let mut a = vec!["review", "--db", s(db), "--reviewer", "王审核"];
        a.extend(action);
        a.extend(ids.iter().map(String::as_str));
        let out = finscan(&a);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
}

fn recheck(db: &Path, port: u16, host: &str) -> (Output, Value) {
    let resolve = format!("{host}:{port}:127.0.0.1");
    let out = finscan(&[
        "recheck",
        "--db",
        s(db),
        "--json",
        "--allow-private",
        "--rate-per-host",
        "50",
        "--resolve",
        &resolve,
    ]);
    assert_eq!(out.status.code(), Some(0), "recheck: {}", text(&out));
    let v = lines(&out).pop().expect("one JSON object");
    (out, v)
}

/// A site whose page `/` the test changes; counts requests for `/`.
struct Site {
    body: Arc<Mutex<Option<String>>>,
    home_requests: Arc<AtomicUsize>,
    server: crawl_support::Server,
}

fn site(body: &str) -> Site {
    let shared = Arc::new(Mutex::new(Some(body.to_owned())));
    let count = Arc::new(AtomicUsize::new(0));
    let (b, c) = (shared.clone(), count.clone());
    let server = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => {
            c.fetch_add(1, Ordering::SeqCst);
            match b.lock().unwrap().as_deref() {
                Some(body) => html(body),
                None => Response::not_found(),
            }
        }
        _ => Response::not_found(),
    });
    Site {
        body: shared,
        home_requests: count,
        server,
    }
}

const VIOLATION: &str = "<p>本平台承诺保本保息，资金安全有保障。</p>";

/// Crawls the site and notifies every finding with `deadline`.
fn crawled_and_notified(sc: &Scratch, site: &Site, deadline: &str) -> Vec<String> {
    let r = crawl_site(sc, site.server.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let ids = ids(&findings(&sc.db(), &[]));
    assert!(!ids.is_empty());
    notify(&sc.db(), &ids, deadline);
    ids
}

fn page_sha(db: &Path) -> String {
    let pages = crawl_support::pages(db);
    assert_eq!(pages.len(), 1, "{pages:?}");
    pages[0]["sha256"].as_str().expect("sha256").to_owned()
}

#[test]
fn a_removed_violation_is_rectified_with_the_new_body_hash() {
    let site = site(VIOLATION);
    let sc = Scratch::new();
    let db = sc.db();
    let ids = crawled_and_notified(&sc, &site, PAST);
    let old_sha = page_sha(&db);
    *site.body.lock().unwrap() = Some("<p>本平台已整改，仅提供信息服务。</p>".into());
    let (_, report) = recheck(&db, site.server.port, "a.test");
    assert_eq!(report["due"], ids.len());
    assert_eq!(report["pages_fetched"], 1);
    let new_sha = page_sha(&db);
    assert_ne!(new_sha, old_sha);
    for id in &ids {
        assert_eq!(status_of(&db, id), "rectified");
        let h = history(&db, id);
        let last = h.last().unwrap();
        assert_eq!(last["action"], "rectify");
        assert_eq!(last["reviewer"], "finscan");
        assert_eq!(last["recheck"]["sha256"], new_sha.as_str());
        assert_eq!(last["recheck"]["state"], "fetched");
        assert!(last["recheck"]["fetched_at"].as_str().is_some());
        assert!(
            last["note"]
                .as_str()
                .unwrap()
                .contains("no longer on the page"),
            "{last}"
        );
    }
    let decided = report["decided"].as_array().unwrap();
    assert_eq!(decided.len(), ids.len());
    assert!(decided.iter().all(|d| d["outcome"] == "rectified"));
    // decided once: a second recheck finds nothing due
    let (_, again) = recheck(&db, site.server.port, "a.test");
    assert_eq!(again["due"], 0);
    assert_eq!(again["decided"].as_array().unwrap().len(), 0);
}

#[test]
fn a_violation_still_there_persists_after_a_recrawl() {
    let site = site(VIOLATION);
    let sc = Scratch::new();
    let db = sc.db();
    let ids = crawled_and_notified(&sc, &site, PAST);
    // some text added before it: the same evidence, moved
    *site.body.lock().unwrap() = Some(format!("<h1>公告</h1>{VIOLATION}"));
    // the end of an ordinary `crawl --recrawl` decides too
    let r = crawl_site(&sc, site.server.port, "a.test", &["--recrawl"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("persisting"), "{}", r.stderr);
    let sha = page_sha(&db);
    for id in &ids {
        assert_eq!(status_of(&db, id), "persisting");
        let last = history(&db, id).pop().unwrap();
        assert_eq!(last["action"], "persist");
        assert_eq!(last["reviewer"], "finscan");
        assert_eq!(last["recheck"]["sha256"], sha.as_str());
        assert!(last["note"].as_str().unwrap().contains("still on the page"));
    }
}

#[test]
fn a_page_that_now_404s_is_recorded_as_failed_not_rectified() {
    let site = site(VIOLATION);
    let sc = Scratch::new();
    let db = sc.db();
    let ids = crawled_and_notified(&sc, &site, PAST);
    *site.body.lock().unwrap() = None;
    let (out, report) = recheck(&db, site.server.port, "a.test");
    let decided = report["decided"].as_array().unwrap();
    assert_eq!(decided.len(), ids.len(), "{}", text(&out));
    assert!(decided.iter().all(|d| d["outcome"] == "recheck-failed"));
    for id in &ids {
        assert_eq!(status_of(&db, id), "notified");
        let last = history(&db, id).pop().unwrap();
        assert_eq!(last["action"], "recheck-failed");
        assert_eq!(last["from"], "notified");
        assert_eq!(last["to"], "notified");
        assert_eq!(last["recheck"]["http_status"], 404);
        assert_eq!(last["recheck"]["state"], "client-error");
        assert!(last["recheck"].get("sha256").is_none(), "{last}");
    }
    // the page comes back without the violation: now it is rectified
    *site.body.lock().unwrap() = Some("<p>已整改</p>".into());
    let (_, report) = recheck(&db, site.server.port, "a.test");
    assert!(
        report["decided"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["outcome"] == "rectified")
    );
    for id in &ids {
        assert_eq!(status_of(&db, id), "rectified");
    }
}

#[test]
fn a_deadline_not_yet_passed_is_not_rechecked() {
    let site = site(VIOLATION);
    let sc = Scratch::new();
    let db = sc.db();
    let ids = crawled_and_notified(&sc, &site, FUTURE);
    *site.body.lock().unwrap() = Some("<p>已整改</p>".into());
    let before = site.home_requests.load(Ordering::SeqCst);
    let (_, report) = recheck(&db, site.server.port, "a.test");
    assert_eq!(report["due"], 0);
    assert_eq!(report["not_due"], ids.len());
    assert_eq!(report["pages_fetched"], 0);
    assert_eq!(site.home_requests.load(Ordering::SeqCst), before);
    // nor by a recrawl that sees the change
    let r = crawl_site(&sc, site.server.port, "a.test", &["--recrawl"]);
    assert!(r.code <= 1, "{}", r.stderr);
    for id in &ids {
        assert_eq!(status_of(&db, id), "notified");
    }
}

fn scan_registry(dir: &Path, db: &Path, rows: &[(&str, &str, &str)]) -> Output {
    let csv = dir.join("records.csv");
    let mut body = String::from("企业名称,统一社会信用代码,经营范围\n");
    for (name, code, scope) in rows {
        body.push_str(&format!("{name},{code},{scope}\n"));
    }
    std::fs::write(&csv, body).expect("write csv");
    let out = finscan(&["registry", "scan", "--db", s(db), s(&csv)]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
    out
}

#[test]
fn a_rescanned_company_is_rectified_by_a_changed_scope_and_persists_with_the_same_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    const A: &str = "91610902MA70B5XK71";
    const B: &str = "91110000600037341L";
    scan_registry(
        dir.path(),
        &db,
        &[
            ("安康鑫源商贸有限公司", A, "投资理财咨询"),
            ("汉滨区聚财理财服务有限公司", B, "企业管理咨询"),
        ],
    );
    let all = findings(&db, &["--source", "registry"]);
    assert_eq!(all.len(), 2, "{all:?}");
    let id_of = |code: &str| {
        all.iter()
            .find(|f| f["uscc"] == code)
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .unwrap()
    };
    let (a, b) = (id_of(A), id_of(B));
    notify(&db, &[a.clone(), b.clone()], PAST);
    let out = scan_registry(
        dir.path(),
        &db,
        &[
            ("安康鑫源商贸有限公司", A, "企业管理咨询；日用百货销售"),
            ("汉滨区聚财理财服务有限公司", B, "企业管理咨询"),
        ],
    );
    assert!(text(&out).contains("rectified"), "{}", text(&out));
    assert_eq!(status_of(&db, &a), "rectified");
    assert_eq!(status_of(&db, &b), "persisting");
    let last = history(&db, &a).pop().unwrap();
    assert_eq!(last["action"], "rectify");
    assert_eq!(last["reviewer"], "finscan");
    assert_eq!(last["recheck"]["state"], "scanned");
    assert!(last["note"].as_str().unwrap().contains("理财"), "{last}");
    let last = history(&db, &b).pop().unwrap();
    assert_eq!(last["action"], "persist");
    assert!(
        last["note"].as_str().unwrap().contains("still there"),
        "{last}"
    );
}

#[test]
fn recheck_refuses_to_go_on_with_an_unfinished_crawl() {
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(&format!(
            "{VIOLATION}<a href=\"/b\">b</a><a href=\"/c\">c</a>"
        )),
        _ => html("<p>其他</p>"),
    });
    let sc = Scratch::new();
    let db = sc.db();
    let r = crawl_site(&sc, srv.port, "a.test", &["--max-pages", "1"]);
    assert!(r.code <= 1, "{}", r.stderr);
    let ids = ids(&findings(&db, &[]));
    notify(&db, &ids, PAST);
    let resolve = format!("a.test:{}:127.0.0.1", srv.port);
    let out = finscan(&[
        "recheck",
        "--db",
        s(&db),
        "--allow-private",
        "--resolve",
        &resolve,
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("still queued by an unfinished crawl"),
        "{}",
        text(&out)
    );
    for id in &ids {
        assert_eq!(status_of(&db, id), "notified");
    }
}

type Shared<T> = Arc<Mutex<T>>;

/// A site of three pages: `/` with the violation (the test changes it),
/// linking to `/b` and `/c`; counts every request by path.
fn three_page_site() -> (crawl_support::Server, Shared<String>, Shared<Vec<String>>) {
    let home = Arc::new(Mutex::new(format!(
        "{VIOLATION}<a href=\"/b\">b</a><a href=\"/c\">c</a>"
    )));
    let log = Arc::new(Mutex::new(Vec::new()));
    let (h, l) = (home.clone(), log.clone());
    let srv = serve(move |r| {
        l.lock().unwrap().push(r.path().to_owned());
        match r.path() {
            "/robots.txt" => allow_all(),
            "/" => html(&h.lock().unwrap()),
            "/b" | "/c" => html("<p>茶叶</p>"),
            _ => Response::not_found(),
        }
    });
    (srv, home, log)
}

fn requests(log: &Mutex<Vec<String>>, path: &str) -> usize {
    log.lock().unwrap().iter().filter(|p| *p == path).count()
}

#[test]
fn a_recheck_leaves_the_crawls_generation_as_it_was() {
    let (srv, home, log) = three_page_site();
    let sc = Scratch::new();
    let db = sc.db();
    let r = crawl_site(&sc, srv.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(r.summary["pages_done"], 3, "{}", r.summary);
    let generation = r.summary["generation"].clone();
    let ids = ids(&findings(&db, &[]));
    notify(&db, &ids, PAST);
    *home.lock().unwrap() = "<p>已整改</p><a href=\"/b\">b</a><a href=\"/c\">c</a>".into();
    let (_, report) = recheck(&db, srv.port, "a.test");
    assert_eq!(report["pages_fetched"], 1, "{report}");
    assert_eq!(requests(&log, "/"), 2);
    assert_eq!(
        requests(&log, "/b"),
        1,
        "the recheck fetched only the due page"
    );
    for id in &ids {
        assert_eq!(status_of(&db, id), "rectified");
    }
    assert_eq!(crawl_support::pages(&db).len(), 3);
    // the same crawl run again: its pages were all done, in its generation
    let r = crawl_site(&sc, srv.port, "a.test", &[]);
    assert!(r.code <= 1, "{}", r.stderr);
    assert_eq!(r.summary["generation"], generation, "{}", r.summary);
    assert_eq!(r.summary["pages_done"], 0, "{}", r.summary);
    assert_eq!(r.summary["pages_done_before"], 3, "{}", r.summary);
    assert_eq!(requests(&log, "/b"), 1);
    assert_eq!(requests(&log, "/c"), 1);
    assert_eq!(crawl_support::pages(&db).len(), 3);
    // a recrawl starts the next generation and fetches all three again
    let r = crawl_site(&sc, srv.port, "a.test", &["--recrawl"]);
    assert!(r.code <= 1, "{}", r.stderr);
    assert_eq!(
        r.summary["generation"],
        generation.as_u64().unwrap() + 1,
        "{}",
        r.summary
    );
    assert_eq!(r.summary["pages_done"], 3, "{}", r.summary);
    assert_eq!(r.summary["pages_done_before"], 0, "{}", r.summary);
    assert_eq!(requests(&log, "/b"), 2);
    assert_eq!(requests(&log, "/c"), 2);
    let pages = crawl_support::pages(&db);
    assert_eq!(pages.len(), 3);
    assert!(pages.iter().all(|p| p["state"] == "fetched"), "{pages:?}");
}

/// Two flagged companies with old registration numbers (15 digits), as a
/// version of finscan before `regno:` keys stored them: keyed by name.
const OLD_A: (&str, &str, &str) = (
    "镇坪县鑫源理财咨询有限公司",
    "610927000123457",
    "投资理财咨询",
);
const OLD_B: (&str, &str, &str) = ("安康鑫源商贸有限公司", "610902000123451", "投资理财咨询");

/// Stores `rows` in `db` keyed by name, through the library (the binary
/// can no longer write that layout).
fn store_keyed_by_name(db: &Path, rows: &[(&str, &str, &str)]) {
    use finscan::registry::{AllowList, Record, RecordScanner};
    let scanner = RecordScanner::new(&finscan::RuleSet::bundled().unwrap(), AllowList::default());
    let mut store = finscan::registry::store::RegistryStore::open(db).expect("open");
    for (i, (name, code, scope)) in rows.iter().enumerate() {
        let rec = Record {
            line: i as u64 + 2,
            name: (*name).into(),
            uscc: Some((*code).into()),
            scope: (*scope).into(),
            ..Record::default()
        };
        let scan = scanner.scan(&rec);
        assert!(!scan.hits.is_empty(), "{name} is flagged");
        store
            .save_keyed_by_name("old.csv", &rec, &scan)
            .expect("save");
    }
    store.flush().expect("flush");
}

/// Runs finscan, again while the test's own handle on the database is
/// still letting go of its lock (sled releases it a moment after the drop).
fn finscan_when_free(args: &[&str]) -> Output {
    for _ in 0..100 {
        let out = finscan(args);
        if !text(&out).contains("another finscan process") {
            return out;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    finscan(args)
}

#[test]
fn companies_keyed_by_name_before_registration_numbers_keep_their_findings_on_rescan() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    store_keyed_by_name(&db, &[OLD_A, OLD_B]);
    let out = finscan_when_free(&[
        "hits",
        "list",
        "--json",
        "--source",
        "registry",
        "--db",
        s(&db),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let before = ids(&lines(&out));
    assert_eq!(before.len(), 2, "{}", text(&out));
    let id_of = |name: &str| {
        lines(&out)
            .iter()
            .find(|f| f["snippet"].as_str().is_some_and(|s| s.starts_with(name)))
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no finding for {name}: {}", text(&out)))
    };
    let (a, b) = (id_of(OLD_A.0), id_of(OLD_B.0));
    notify(&db, &[a.clone(), b.clone()], PAST);
    // the database is now one made before registration numbers were keys
    {
        let mut store = open_registry(&db);
        store.forget_key_version().expect("mark");
    }
    // rescanned with the same numbers: A unchanged, B's scope rectified
    let out = {
        let csv = dir.path().join("records.csv");
        std::fs::write(
            &csv,
            format!(
                "企业名称,统一社会信用代码,经营范围\n{},{},{}\n{},{},企业管理咨询；日用百货销售\n",
                OLD_A.0, OLD_A.1, OLD_A.2, OLD_B.0, OLD_B.1
            ),
        )
        .unwrap();
        finscan_when_free(&["registry", "scan", "--db", s(&db), s(&csv)])
    };
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
    // one company each, under its registration number
    let out = finscan(&["registry", "list", "--json", "--db", s(&db)]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let companies = lines(&out);
    assert_eq!(companies.len(), 2, "{companies:#?}");
    for c in &companies {
        assert!(c["key"].as_str().unwrap().starts_with("regno:"), "{c}");
    }
    // the same two findings, decided on the rescanned records, with their history
    let after = ids(&findings(&db, &["--source", "registry"]));
    assert_eq!(
        {
            let mut v = after.clone();
            v.sort();
            v
        },
        {
            let mut v = before.clone();
            v.sort();
            v
        },
        "no second finding for a moved company"
    );
    assert_eq!(status_of(&db, &a), "persisting");
    assert_eq!(status_of(&db, &b), "rectified");
    let actions: Vec<String> = history(&db, &a)
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(actions, ["found", "confirm", "notify", "persist"]);
}

fn open_registry(db: &Path) -> finscan::registry::store::RegistryStore {
    for _ in 0..100 {
        if let Ok(s) = finscan::registry::store::RegistryStore::open(db) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    finscan::registry::store::RegistryStore::open(db).expect("open the database")
}
