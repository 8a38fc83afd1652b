//! The reviewer's desk through the binary: `hits list` filters and orders,
//! `hits show`/`history`, `sites list`, `review` by id and by filter, the
//! lifecycle's allowed and refused transitions, decisions that stick across
//! a recrawl or a rescan, and a kill -9 in the middle of a batch review.

mod crawl_support;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};

use crawl_support::{Scratch, allow_all, crawl_site, html, serve};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");

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

/// `hits list --json` with `args`.
fn list(db: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["hits", "list", "--json", "--db", s(db)];
    a.extend_from_slice(args);
    let out = finscan(&a);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "hits list {args:?}: {}",
        text(&out)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn ids(v: &[Value]) -> BTreeSet<String> {
    v.iter()
        .map(|f| f["id"].as_str().expect("id").to_owned())
        .collect()
}

fn review(db: &Path, args: &[&str]) -> Output {
    let mut a = vec!["review", "--db", s(db), "--reviewer", "王审核"];
    a.extend_from_slice(args);
    finscan(&a)
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
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

/// A valid unified social credit code (GB 32100-2015) of `division`,
/// computed here independently of finscan's own check.
fn uscc(division: &str, serial: u32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let body = format!("91{division}MA{serial:07}");
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(c, w)| ALPHABET.iter().position(|&a| a == c).expect("in alphabet") as u32 * w)
        .sum();
    let check = (31 - sum % 31) % 31;
    format!("{body}{}", ALPHABET[check as usize] as char)
}

/// Scans registry rows (name, code, scope) into `db`.
fn scan_registry(dir: &Path, db: &Path, rows: &[(String, String, &str)]) {
    let csv: PathBuf = dir.join("records.csv");
    let mut body = String::from("企业名称,统一社会信用代码,经营范围\n");
    for (name, code, scope) in rows {
        body.push_str(&format!("{name},{code},{scope}\n"));
    }
    std::fs::write(&csv, body).expect("write csv");
    let out = finscan(&["registry", "scan", "--db", s(db), s(&csv)]);
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "registry scan: {}",
        text(&out)
    );
}

fn companies() -> Vec<(String, String, &'static str)> {
    vec![
        (
            "安康鑫源理财咨询有限公司".into(),
            uscc("610902", 1),
            "投资理财咨询；发放贷款",
        ),
        (
            "汉滨区聚财理财服务有限公司".into(),
            uscc("610902", 2),
            "企业管理咨询",
        ),
        (
            "汉阴县金融信息服务有限公司".into(),
            uscc("610921", 3),
            "金融信息服务",
        ),
        (
            "西安市理财顾问有限公司".into(),
            uscc("610102", 4),
            "理财咨询",
        ),
    ]
}

/// A database with the demo's page findings and a few companies.
fn mixed_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let out = finscan(&["demo", "--db", s(&db)]);
    assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
    scan_registry(dir, &db, &companies());
    db
}

fn rank(sev: &Value) -> u8 {
    match sev.as_str() {
        Some("high") => 0,
        Some("medium") => 1,
        _ => 2,
    }
}

#[test]
fn every_filter_and_their_combinations_return_exactly_what_matches() {
    let dir = tempfile::tempdir().unwrap();
    let db = mixed_db(dir.path());
    let all = list(&db, &[]);
    let pages = all.iter().filter(|f| f["source"] == "page").count();
    let registry = all.iter().filter(|f| f["source"] == "registry").count();
    assert!(
        pages >= 10 && registry == 4,
        "{pages} page, {registry} registry"
    );
    // some variety of status
    let first_two: Vec<&str> = all
        .iter()
        .filter(|f| f["site"] == "hengxin-licai.example")
        .take(2)
        .map(|f| f["id"].as_str().unwrap())
        .collect();
    let out = review(&db, &[&["--confirm"][..], &first_two].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let a_company = all.iter().find(|f| f["source"] == "registry").unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        review(&db, &["--dismiss", &a_company]).status.code(),
        Some(0)
    );
    let all = list(&db, &[]);

    type Pred = Box<dyn Fn(&Value) -> bool>;
    let has = |k: &'static str, v: &'static str| -> Pred { Box::new(move |f: &Value| f[k] == v) };
    let host = |f: &Value| {
        f["host"]
            .as_str()
            .map(|h| h.split(':').next().unwrap().to_owned())
            .unwrap_or_default()
    };
    let cases: Vec<(Vec<&str>, Pred)> = vec![
        (vec!["--status", "new"], has("status", "new")),
        (vec!["--status", "confirmed"], has("status", "confirmed")),
        (
            vec!["--status", "confirmed", "--status", "dismissed"],
            Box::new(|f| f["status"] == "confirmed" || f["status"] == "dismissed"),
        ),
        (
            vec!["--category", "fund-pool"],
            has("category", "fund-pool"),
        ),
        (
            vec!["--category", "fund-pool", "--category", "restricted-name"],
            Box::new(|f| f["category"] == "fund-pool" || f["category"] == "restricted-name"),
        ),
        (vec!["--severity", "high"], has("severity", "high")),
        (vec!["--severity", "low"], has("severity", "low")),
        (
            vec!["--rule", "page.fundpool"],
            has("rule", "page.fundpool"),
        ),
        (
            vec!["--host", "hengxin-licai.example"],
            has("site", "hengxin-licai.example"),
        ),
        (
            vec!["--site", "www.hengxin-licai.example"],
            Box::new(move |f| host(f) == "www.hengxin-licai.example"),
        ),
        (
            vec!["--county", "6109"],
            Box::new(|f| f["county"].as_str().is_some_and(|c| c.starts_with("6109"))),
        ),
        (vec!["--county", "610902"], has("county", "610902")),
        (vec!["--source", "registry"], has("source", "registry")),
        (vec!["--source", "page"], has("source", "page")),
        (vec!["--since", "2999-01-01"], Box::new(|_| false)),
        (vec!["--until", "2000-01-01"], Box::new(|_| false)),
        (
            vec!["--since", "2000-01-01", "--until", "2999-01-01"],
            Box::new(|_| true),
        ),
        (
            vec!["--search", "资金池"],
            Box::new(|f| {
                f["matched"].as_str().unwrap().contains("资金池")
                    || f["snippet"].as_str().unwrap().contains("资金池")
            }),
        ),
        (
            vec![
                "--status",
                "new",
                "--category",
                "guaranteed-return",
                "--severity",
                "high",
            ],
            Box::new(|f| {
                f["status"] == "new"
                    && f["category"] == "guaranteed-return"
                    && f["severity"] == "high"
            }),
        ),
        (
            vec![
                "--source",
                "page",
                "--host",
                "anbao-insurance.example",
                "--search",
                "保",
            ],
            Box::new(|f| {
                f["source"] == "page"
                    && f["site"] == "anbao-insurance.example"
                    && (f["matched"].as_str().unwrap().contains('保')
                        || f["snippet"].as_str().unwrap().contains('保'))
            }),
        ),
        (
            vec![
                "--source", "registry", "--county", "6109", "--status", "new",
            ],
            Box::new(|f| {
                f["source"] == "registry"
                    && f["county"].as_str().is_some_and(|c| c.starts_with("6109"))
                    && f["status"] == "new"
            }),
        ),
        (
            vec!["--status", "confirmed", "--category", "restricted-name"],
            Box::new(|f| f["status"] == "confirmed" && f["category"] == "restricted-name"),
        ),
    ];
    for (args, pred) in &cases {
        let want: BTreeSet<String> = all
            .iter()
            .filter(|f| pred(f))
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect();
        let got = list(&db, args);
        assert_eq!(ids(&got), want, "hits list {args:?}");
        // every listing is in severity order
        let ranks: Vec<u8> = got.iter().map(|f| rank(&f["severity"])).collect();
        assert!(ranks.is_sorted(), "{args:?} not high first: {ranks:?}");
    }
    // the cases are not vacuous
    assert!(list(&db, &["--status", "confirmed"]).len() == 2);
    assert_eq!(list(&db, &["--county", "6109"]).len(), 3);
    assert_eq!(list(&db, &["--county", "610902"]).len(), 2);
    assert!(!list(&db, &["--search", "资金池"]).is_empty());

    // orders and the limit
    let ranks: Vec<u8> = all.iter().map(|f| rank(&f["severity"])).collect();
    assert!(ranks.is_sorted() && ranks[0] == 0 && *ranks.last().unwrap() > 0);
    let by_time = list(&db, &["--sort", "time"]);
    assert_eq!(ids(&by_time), ids(&all));
    let times: Vec<&str> = by_time
        .iter()
        .map(|f| f["first_seen"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let by_site = list(&db, &["--sort", "site"]);
    assert_eq!(ids(&by_site), ids(&all));
    let sites: Vec<String> = by_site
        .iter()
        .map(|f| f["site"].as_str().unwrap_or("~registry").to_owned())
        .collect();
    assert!(sites.is_sorted(), "{sites:?}");
    let three = list(&db, &["--limit", "3"]);
    assert_eq!(three, all[..3].to_vec());
    let out = finscan(&["hits", "list", "--db", s(&db), "--limit", "2"]);
    assert!(text(&out).contains("more match"), "{}", text(&out));
    // a bad value is a clear error
    let out = finscan(&["hits", "list", "--db", s(&db), "--status", "open"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("confirmed"), "{}", text(&out));
    let out = finscan(&["hits", "list", "--db", s(&db), "--since", "last week"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("is not a date or time"),
        "{}",
        text(&out)
    );

    // the human table marks the match; sites list counts by status
    let out = finscan(&["hits", "list", "--db", s(&db), "--category", "fund-pool"]);
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(table.starts_with("ID "), "{table}");
    assert!(table.contains("【资金池】"), "{table}");
    let out = finscan(&["sites", "list", "--json", "--db", s(&db)]);
    let rows: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hx = rows
        .iter()
        .find(|r| r["site"] == "hengxin-licai.example")
        .expect("site row");
    assert_eq!(hx["by_status"]["confirmed"], 2, "{hx}");
    assert_eq!(
        hx["findings"].as_u64().unwrap() as usize,
        all.iter()
            .filter(|f| f["site"] == "hengxin-licai.example")
            .count()
    );
    assert!(hx["icp"].as_str().unwrap().contains("ICP"));
    assert!(hx["operator"].is_string());
}

#[test]
fn the_lifecycle_allows_its_transitions_and_refuses_the_rest_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    scan_registry(dir.path(), &db, &companies());
    let all = list(&db, &[]);
    assert_eq!(all.len(), 4);
    let id = |i: usize| all[i]["id"].as_str().unwrap().to_owned();
    let (a, b) = (id(0), id(1));

    let refused = |args: &[&str], id: &str, state: &str, allowed: &str| {
        let out = review(&db, &[args, &[id]].concat());
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let t = text(&out);
        assert!(
            t.contains(&format!("a finding that is {state}")) && t.contains(allowed),
            "{args:?} from {state}: {t}"
        );
        assert_eq!(status_of(&db, id), state, "a refusal changes nothing");
    };
    // from new: notify, refer and reopen are refused
    refused(
        &["--notify", "--deadline", "2027-01-31"],
        &a,
        "new",
        "allowed: confirm, dismiss",
    );
    refused(&["--refer"], &a, "new", "allowed: confirm, dismiss");
    refused(
        &["--reopen", "--note", "x"],
        &a,
        "new",
        "allowed: confirm, dismiss",
    );
    // new → confirmed
    assert_eq!(review(&db, &["--confirm", &a]).status.code(), Some(0));
    assert_eq!(status_of(&db, &a), "confirmed");
    refused(&["--confirm"], &a, "confirmed", "allowed: notify");
    refused(&["--dismiss"], &a, "confirmed", "allowed: notify");
    refused(&["--refer"], &a, "confirmed", "allowed: notify");
    // --notify needs its deadline, and a date
    let out = review(&db, &["--notify", &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("--deadline"), "{}", text(&out));
    let out = review(&db, &["--notify", "--deadline", "2027-02-30", &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("is not a date"), "{}", text(&out));
    // confirmed → notified, with the deadline
    let out = review(
        &db,
        &[
            "--notify",
            "--deadline",
            "2027-01-31",
            "--note",
            "限期整改通知书 2026-17号",
            &a,
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(status_of(&db, &a), "notified");
    refused(
        &["--notify", "--deadline", "2027-03-01"],
        &a,
        "notified",
        "allowed: rectify, persist",
    );
    refused(&["--refer"], &a, "notified", "allowed: rectify, persist");
    refused(&["--confirm"], &a, "notified", "allowed: rectify, persist");

    // new → dismissed → new (reopen needs a reason)
    assert_eq!(review(&db, &["--dismiss", &b]).status.code(), Some(0));
    refused(&["--confirm"], &b, "dismissed", "allowed: reopen");
    refused(&["--dismiss"], &b, "dismissed", "allowed: reopen");
    let out = review(&db, &["--reopen", &b]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("needs a reason"), "{}", text(&out));
    assert_eq!(status_of(&db, &b), "dismissed");
    let out = review(&db, &["--reopen", "--note", "经营范围含发放贷款", &b]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(status_of(&db, &b), "new");

    // several ids: one refusal refuses them all
    let out = review(&db, &["--confirm", &id(2), &a]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains(&a), "{}", text(&out));
    assert_eq!(status_of(&db, &id(2)), "new");
    // an unknown id
    let out = review(&db, &["--confirm", "00000000000000ff"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("no finding 00000000000000ff"),
        "{}",
        text(&out)
    );

    // the trail: every decision, who, when, the deadline and the notes
    let h = history(&db, &a);
    let actions: Vec<&str> = h.iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["found", "confirm", "notify"]);
    assert_eq!(h[2]["from"], "confirmed");
    assert_eq!(h[2]["to"], "notified");
    assert_eq!(h[2]["deadline"], "2027-01-31");
    assert_eq!(h[2]["reviewer"], "王审核");
    assert_eq!(h[2]["note"], "限期整改通知书 2026-17号");
    // RFC 3339 with the reader's offset (Asia/Shanghai unless --tz / TZ)
    assert!(
        h[2]["at"].as_str().unwrap().ends_with("+08:00"),
        "{}",
        h[2]["at"]
    );
    let h = history(&db, &b);
    let trail: Vec<(&str, &str)> = h
        .iter()
        .map(|e| (e["action"].as_str().unwrap(), e["to"].as_str().unwrap()))
        .collect();
    assert_eq!(
        trail,
        [
            ("found", "new"),
            ("dismiss", "dismissed"),
            ("reopen", "new")
        ]
    );
    assert_eq!(h[2]["note"], "经营范围含发放贷款");
    let out = finscan(&["hits", "history", &a, "--db", s(&db)]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("confirmed → notified") && t.contains("deadline 2027-01-31"),
        "{t}"
    );

    // show: the company's record
    let out = finscan(&["hits", "show", &a, "--db", s(&db)]);
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("credit code") && t.contains("deadline      2027-01-31"),
        "{t}"
    );
    let check = finscan(&["hits", "check", "--db", s(&db)]);
    assert_eq!(check.status.code(), Some(0), "{}", text(&check));
}

#[test]
fn a_dismissed_company_stays_dismissed_on_a_rescan_and_changed_evidence_is_new() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let rows = companies();
    scan_registry(dir.path(), &db, &rows);
    let before = list(&db, &[]);
    let target = before
        .iter()
        .find(|f| f["name"] == "汉滨区聚财理财服务有限公司")
        .expect("company finding");
    let id = target["id"].as_str().unwrap().to_owned();
    assert_eq!(review(&db, &["--dismiss", &id]).status.code(), Some(0));

    scan_registry(dir.path(), &db, &rows);
    let again = list(&db, &[]);
    assert_eq!(
        ids(&again),
        ids(&before),
        "the same evidence is the same finding"
    );
    assert_eq!(status_of(&db, &id), "dismissed");
    assert_eq!(history(&db, &id).len(), 2);

    // the company renamed, still with a restricted word: a new finding
    let mut changed = rows.clone();
    changed[1].0 = "汉滨区聚财金融服务有限公司".into();
    scan_registry(dir.path(), &db, &changed);
    let after = list(&db, &[]);
    assert_eq!(after.len(), before.len() + 1);
    let new: Vec<&Value> = after
        .iter()
        .filter(|f| !ids(&before).contains(f["id"].as_str().unwrap()))
        .collect();
    assert_eq!(new.len(), 1);
    assert_eq!(new[0]["status"], "new");
    assert_eq!(new[0]["name"], "汉滨区聚财金融服务有限公司");
    assert_eq!(status_of(&db, &id), "dismissed");
}

#[test]
fn a_dismissed_page_hit_stays_dismissed_on_a_recrawl_and_changed_evidence_is_new() {
    let body = Arc::new(Mutex::new(
        "<p>本平台承诺保本保息，资金安全有保障。</p>".to_owned(),
    ));
    let served = body.clone();
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        _ => html(&served.lock().unwrap()),
    });
    let sc = Scratch::new();
    let r = crawl_site(&sc, srv.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let db = sc.db();
    let before = list(&db, &[]);
    assert!(!before.is_empty());
    let dismissed = before[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        review(&db, &["--dismiss", "--note", "示例", &dismissed])
            .status
            .code(),
        Some(0)
    );

    let r = crawl_site(&sc, srv.port, "a.test", &["--recrawl"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(ids(&list(&db, &[])), ids(&before));
    assert_eq!(status_of(&db, &dismissed), "dismissed");

    // text added before the evidence shifts its offsets: still the same finding
    *body.lock().unwrap() = "<h1>公告</h1><p>本平台承诺保本保息，资金安全有保障。</p>".into();
    let r = crawl_site(&sc, srv.port, "a.test", &["--recrawl"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(ids(&list(&db, &[])), ids(&before));
    assert_eq!(status_of(&db, &dismissed), "dismissed");

    // other evidence: a new finding, new
    *body.lock().unwrap() = "<p>平台设立资金池统一调配。</p>".into();
    let r = crawl_site(&sc, srv.port, "a.test", &["--recrawl"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let after = list(&db, &[]);
    let new: Vec<&Value> = after
        .iter()
        .filter(|f| !ids(&before).contains(f["id"].as_str().unwrap()))
        .collect();
    assert!(!new.is_empty());
    assert!(new.iter().all(|f| f["status"] == "new"));
    assert_eq!(status_of(&db, &dismissed), "dismissed");
}

#[test]
fn a_batch_review_asks_for_yes_when_not_on_a_terminal() {
    let dir = tempfile::tempdir().unwrap();
    let db = mixed_db(dir.path());
    let pool = list(
        &db,
        &["--host", "hengxin-licai.example", "--category", "fund-pool"],
    );
    assert!(pool.len() >= 2);
    let filters = [
        "--confirm",
        "--where",
        "site=hengxin-licai.example",
        "--where",
        "category=fund-pool",
    ];
    let out = review(&db, &filters);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains(&format!("{} finding(s) match", pool.len())),
        "{t}"
    );
    assert!(
        t.contains("without --yes") && t.contains("not a terminal"),
        "{t}"
    );
    assert!(
        list(&db, &["--status", "confirmed"]).is_empty(),
        "nothing changed"
    );

    let out = review(&db, &[&filters[..], &["--yes", "--note", "批量"]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(ids(&list(&db, &["--status", "confirmed"])), ids(&pool));
    for f in &pool {
        let h = history(&db, f["id"].as_str().unwrap());
        assert_eq!(h.last().unwrap()["note"], "批量");
    }
    // the confirmed ones notified as a batch, said in words
    let notify = [
        "--notify",
        "--deadline",
        "2027-01-31",
        "--where",
        "site=hengxin-licai.example",
        "--where",
        "status=confirmed",
        "--yes",
    ];
    let out = review(&db, &notify);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{} finding(s) match", pool.len()))
            && text(&out).contains("can be notified"),
        "{}",
        text(&out)
    );
    // again: none is new any more
    let out = review(&db, &[&filters[..], &["--yes"]].concat());
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out).contains("0 finding(s) match"), "{}", text(&out));
    // a bad --where is a clear error
    let out = review(&db, &["--confirm", "--where", "colour=red", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("unknown key \"colour\""),
        "{}",
        text(&out)
    );
    let out = review(&db, &["--confirm", "--where", "category=loans", "--yes"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("category=loans"), "{}", text(&out));
}

#[test]
fn kill_9_during_a_batch_review_of_10000_findings_leaves_every_status_at_its_last_event() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    let divisions = ["610902", "610921", "610925", "610928"];
    let rows: Vec<(String, String, &str)> = (0..10_000u32)
        .map(|i| {
            (
                format!("安康{i}号理财咨询有限公司"),
                uscc(divisions[i as usize % 4], i),
                "投资理财咨询",
            )
        })
        .collect();
    scan_registry(dir.path(), &db, &rows);
    assert_eq!(list(&db, &["--limit", "1"]).len(), 1);
    let out = finscan(&[
        "hits",
        "list",
        "--db",
        s(&db),
        "--status",
        "new",
        "--source",
        "registry",
        "--limit",
        "0",
    ]);
    assert!(text(&out).contains("more match"), "{}", text(&out));

    let mut child = Command::new(BIN)
        .args([
            "review",
            "--db",
            s(&db),
            "--reviewer",
            "批量",
            "--confirm",
            "--where",
            "source=registry",
            "--yes",
        ])
        .env_remove("FINSCAN_DB")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn review");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut progress = false;
    while stderr.read_line(&mut line).unwrap() > 0 {
        if line.contains("confirm: ") {
            progress = true;
            break;
        }
        line.clear();
    }
    assert!(progress, "the batch reports progress: {line}");
    child.kill().expect("kill -9");
    child.wait().unwrap();

    let check = finscan(&["hits", "check", "--db", s(&db), "--json"]);
    let report: Value = serde_json::from_slice(&check.stdout).expect("check JSON");
    assert_eq!(check.status.code(), Some(0), "{report}");
    assert_eq!(report["findings"], 10_000);
    assert_eq!(report["problem_count"], 0);
    let confirmed = list(&db, &["--status", "confirmed"]);
    let new = list(&db, &["--status", "new"]);
    assert_eq!(confirmed.len() + new.len(), 10_000);
    assert!(
        !confirmed.is_empty() && !new.is_empty(),
        "killed part way: {} confirmed",
        confirmed.len()
    );
    for f in confirmed.iter().take(5).chain(new.iter().take(5)) {
        let h = history(&db, f["id"].as_str().unwrap());
        assert_eq!(h.last().unwrap()["to"], f["status"]);
        assert_eq!(h.len() as u64, f["events"].as_u64().unwrap());
    }
    // the indexes agree with the findings: the county index's counts add up
    let by_county: usize = divisions
        .iter()
        .map(|d| list(&db, &["--county", d, "--status", "confirmed"]).len())
        .sum();
    assert_eq!(by_county, confirmed.len());

    // the same command finishes the rest
    let out = finscan(&[
        "review",
        "--db",
        s(&db),
        "--reviewer",
        "批量",
        "--confirm",
        "--where",
        "source=registry",
        "--yes",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains(&format!("{} finding(s) match", new.len())));
    assert_eq!(list(&db, &["--status", "confirmed"]).len(), 10_000);
}

/// `hits show` writes every time in the reader's zone, the page's fetch
/// and the hit's last sighting as well as the finding's first (they were
/// printed as stored, in UTC).
#[test]
fn hits_show_writes_every_time_in_the_readers_zone() {
    let dir = tempfile::tempdir().unwrap();
    let db = mixed_db(dir.path());
    let page = list(&db, &["--source", "page", "--limit", "1"]);
    let id = page[0]["id"].as_str().unwrap();
    let times = |tz: &str| -> Vec<(String, jiff::civil::DateTime)> {
        let out = finscan(&["hits", "show", id, "--db", s(&db), "--tz", tz]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let t = String::from_utf8_lossy(&out.stdout).into_owned();
        ["first seen", "last seen", "fetched at"]
            .iter()
            .map(|label| {
                let v = t
                    .lines()
                    .find_map(|l| l.strip_prefix(label))
                    .unwrap_or_else(|| panic!("no {label}: {t}"))
                    .trim();
                let at = v
                    .parse()
                    .unwrap_or_else(|e| panic!("{label} {v:?} is not a local time: {e}"));
                (label.to_string(), at)
            })
            .collect()
    };
    let (shanghai, utc) = (times("Asia/Shanghai"), times("UTC"));
    for ((label, local), (_, u)) in shanghai.iter().zip(&utc) {
        assert_eq!(
            *local,
            u.checked_add(jiff::Span::new().hours(8)).unwrap(),
            "{label}"
        );
    }
}
