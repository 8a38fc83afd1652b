//! The README's walk-through, through the binary, in its order: crawl the
//! demo, list, show, confirm, notify with a deadline, recheck against the
//! demo as its operator rectified it, export the takedown list and the
//! WARC. The finding ids are the README's: the demo's URLs carry no port,
//! so its ids are the same in every run.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");
const README: &str = include_str!("../README.md");

/// 资金池 on the lending products page: the operator rewrites the page.
const FUND_POOL: &str = "40bde2395f700eee";
/// 本息保障 on the front page: still there after the notice.
const GUARANTEE: &str = "db954ac408195541";
/// 邀请好友投资，返现 on the mobile site's invitation page: taken down (404).
const REFERRAL: &str = "2273c16a4001ec8c";
const NOTIFIED: [&str; 3] = [FUND_POOL, GUARANTEE, REFERRAL];
/// The walk-through's deadline: already past, so the recheck decides now.
const DEADLINE: &str = "2026-11-30";

fn finscan(db: &Path, args: &[&str]) -> Output {
    let out = Command::new(BIN)
        .args(args)
        .arg("--db")
        .arg(db)
        .env_remove("FINSCAN_DB")
        .env_remove("FINSCAN_RULES")
        .env("TZ", "Asia/Shanghai")
        .stdin(Stdio::null())
        .output()
        .expect("run finscan");
    assert_eq!(
        out.status.code(),
        Some(0),
        "finscan {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    stdout(o)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

fn status_of(db: &Path, id: &str) -> String {
    let v: Value =
        serde_json::from_slice(&finscan(db, &["hits", "show", id, "--json"]).stdout).unwrap();
    v["finding"]["status"].as_str().expect("status").to_owned()
}

fn last_event(db: &Path, id: &str) -> Value {
    json_lines(&finscan(db, &["hits", "history", id, "--json"]))
        .pop()
        .expect("an event")
}

/// The walk-through up to the notice: crawl, list, show, confirm, notify.
fn crawled_and_notified(db: &Path) {
    finscan(db, &["demo"]);
    let listed = json_lines(&finscan(db, &["hits", "list", "--json"]));
    let find = |id: &str| {
        listed
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("no finding {id} after the demo crawl"))
    };
    assert_eq!(find(FUND_POOL)["matched"], "资金池");
    assert_eq!(find(GUARANTEE)["matched"], "本息保障");
    assert_eq!(find(REFERRAL)["matched"], "邀请好友投资，返现");
    // high severity first
    assert_eq!(listed[0]["severity"], "high");
    let shown = stdout(&finscan(db, &["hits", "show", FUND_POOL]));
    for want in [
        "http://www.hengxin-licai.example/products.html",
        "陕ICP备12345678号-1",
        "西安恒信财富投资管理有限公司",
        "资金池",
    ] {
        assert!(shown.contains(want), "{want} in {shown}");
    }
    let reviewer = ["--reviewer", "王审核"];
    let mut confirm = vec!["review", "--confirm"];
    confirm.extend(NOTIFIED);
    confirm.extend(reviewer);
    finscan(db, &confirm);
    let mut notify = vec!["review", "--notify", "--deadline", DEADLINE];
    notify.extend(NOTIFIED);
    notify.extend(reviewer);
    finscan(db, &notify);
    for id in NOTIFIED {
        assert_eq!(status_of(db, id), "notified");
    }
}

/// The three notified findings decided as the rectified demo has them.
fn assert_decided(db: &Path) {
    assert_eq!(status_of(db, FUND_POOL), "rectified");
    let e = last_event(db, FUND_POOL);
    assert_eq!(e["action"], "rectify");
    assert_eq!(e["recheck"]["state"], "fetched");
    assert!(e["recheck"]["sha256"].as_str().is_some(), "{e}");
    assert_eq!(status_of(db, GUARANTEE), "persisting");
    assert_eq!(last_event(db, GUARANTEE)["action"], "persist");
    // the page taken down is not rectified: it stays notified, the failed
    // fetch recorded
    assert_eq!(status_of(db, REFERRAL), "notified");
    let e = last_event(db, REFERRAL);
    assert_eq!(e["action"], "recheck-failed");
    assert_eq!(e["recheck"]["http_status"], 404);
}

/// The takedown list and the WARC after the recheck.
fn assert_exports(db: &Path, dir: &Path) {
    let csv_path = dir.join("takedown.csv");
    finscan(
        db,
        &[
            "export",
            "takedown",
            "--format",
            "csv",
            "--out",
            csv_path.to_str().unwrap(),
        ],
    );
    let bytes = std::fs::read(&csv_path).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "a BOM for Excel");
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let headers = r.headers().unwrap().clone();
    let col = |name: &str| headers.iter().position(|h| h == name).expect(name);
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    // one site: the persisting front page and the still-notified mobile
    // page; the rectified products page is not on the list
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(&row[col("域名")], "hengxin-licai.example");
    assert_eq!(&row[col("ICP备案号")], "陕ICP备12345678号-1");
    assert_eq!(&row[col("主办单位")], "西安恒信财富投资管理有限公司");
    assert_eq!(&row[col("处理状态")], "仍未整改");
    assert!(row[col("违规类型")].contains("承诺保本保息"), "{row:?}");
    let excerpt = &row[col("违规内容摘录")];
    assert!(excerpt.contains("【本息保障】"), "{excerpt}");
    assert!(excerpt.contains("【邀请好友投资，返现】"), "{excerpt}");
    assert!(!excerpt.contains("【资金池】"), "{excerpt}");

    let warc = dir.join("evidence.warc.gz");
    finscan(db, &["export", "warc", "--out", warc.to_str().unwrap()]);
    let mut text = Vec::new();
    flate2::read::MultiGzDecoder::new(std::fs::File::open(&warc).unwrap())
        .read_to_end(&mut text)
        .unwrap();
    let text = String::from_utf8_lossy(&text);
    let count = |t: &str| text.matches(&format!("WARC-Type: {t}\r\n")).count();
    assert_eq!(count("warcinfo"), 1);
    assert!(count("response") >= 1, "{text}");
    assert_eq!(count("response"), count("request"));
    assert!(
        text.contains("WARC-Target-URI: http://www.hengxin-licai.example/\r\n"),
        "the persisting page's evidence"
    );
    // every body the takedown list names by SHA-256 is in the WARC: the
    // invitation page, now a 404, as a resource record of its earlier body
    let bodies = warc_bodies(&std::fs::read(&warc).unwrap());
    let named: Vec<&str> = row[col("证据SHA-256")]
        .split('；')
        .map(|h| h.trim().trim_end_matches('…'))
        .filter(|h| !h.is_empty())
        .collect();
    assert!(named.len() >= 2, "{named:?}");
    for h in &named {
        assert!(
            bodies.iter().any(|(_, sha)| sha.starts_with(h)),
            "the takedown list names body {h}; the WARC holds {bodies:?}"
        );
    }
    assert!(
        bodies.iter().any(|(kind, _)| kind == "resource"),
        "the gone page's body as a resource: {bodies:?}"
    );
}

/// The record type and the SHA-256 of the payload of each `response`
/// (the body after the HTTP head) and `resource` (the block) record.
fn warc_bodies(gz: &[u8]) -> Vec<(String, String)> {
    use sha2::Digest;
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(gz)
        .read_to_end(&mut raw)
        .unwrap();
    let find = |hay: &[u8], needle: &[u8], from: usize| {
        hay[from..]
            .windows(needle.len())
            .position(|w| w == needle)
            .map(|i| from + i)
    };
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(head_end) = find(&raw, b"\r\n\r\n", at) {
        let head = String::from_utf8_lossy(&raw[at..head_end]).into_owned();
        let field = |k: &str| {
            head.lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_owned()))
                .unwrap_or_else(|| panic!("no {k} in {head}"))
        };
        let len: usize = field("Content-Length:").parse().unwrap();
        let block = &raw[head_end + 4..head_end + 4 + len];
        let kind = field("WARC-Type:");
        let payload = match kind.as_str() {
            "response" => {
                let body_at = find(block, b"\r\n\r\n", 0).expect("an HTTP head") + 4;
                Some(&block[body_at..])
            }
            "resource" => Some(block),
            _ => None,
        };
        if let Some(p) = payload {
            out.push((kind, hex::encode(sha2::Sha256::digest(p))));
        }
        at = head_end + 4 + len + 4;
    }
    out
}

#[test]
fn the_readme_walk_through_rechecks_against_the_rectified_demo() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk");
    crawled_and_notified(&db);
    let out = finscan(&db, &["demo", "--rectified", "--recheck", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    assert_eq!(report["due"], 3, "{report}");
    assert_eq!(
        report["pages_fetched"], 3,
        "only the notified pages: {report}"
    );
    let outcome = |id: &str| {
        report["decided"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["id"] == id)
            .map(|d| d["outcome"].as_str().unwrap().to_owned())
    };
    assert_eq!(outcome(FUND_POOL).as_deref(), Some("rectified"));
    assert_eq!(outcome(GUARANTEE).as_deref(), Some("persisting"));
    assert_eq!(outcome(REFERRAL).as_deref(), Some("recheck-failed"));
    assert_decided(&db);
    // the recheck fetched within the demo crawl's generation: its pages
    // are all still there
    assert_eq!(
        json_lines(&finscan(&db, &["pages", "list", "--json"])).len(),
        16
    );
    assert_exports(&db, dir.path());
}

#[test]
fn a_recrawl_of_the_rectified_demo_decides_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("desk");
    crawled_and_notified(&db);
    let out = finscan(&db, &["demo", "--rectified"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 rectified, 1 persisting, 1 could not be fetched"),
        "{err}"
    );
    // the demo lists the hits on the pages as they are now
    assert!(!stdout(&out).contains("平台设立资金池"), "{}", stdout(&out));
    assert_decided(&db);
    let pages = json_lines(&finscan(&db, &["pages", "list", "--json"]));
    let invite = pages
        .iter()
        .find(|p| p["url"] == "http://m.hengxin-licai.example/invite.html")
        .expect("the page taken down");
    assert_eq!(invite["status"], 404);
    assert_exports(&db, dir.path());
}

#[test]
fn the_readme_names_the_walk_throughs_findings_and_deadline() {
    for id in NOTIFIED {
        assert!(README.contains(id), "README walk-through uses {id}");
    }
    assert!(README.contains(&format!("--deadline {DEADLINE}")));
    assert!(README.contains("finscan demo --db desk --rectified --recheck"));
}

#[test]
fn the_demo_recheck_needs_an_existing_database() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .args(args)
            .current_dir(dir.path())
            .env_remove("FINSCAN_DB")
            .stdin(Stdio::null())
            .output()
            .expect("run finscan")
    };
    let out = run(&["demo", "--recheck"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--db"));
    let out = run(&["demo", "--rectified", "--recheck", "--db", "nothere"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no database at nothere"), "{err}");
    assert!(!err.contains("serving"), "nothing served: {err}");
    assert!(!dir.path().join("nothere").exists(), "nothing created");
}
