//! `finscan report`: the HTML report over a demo database with decisions and
//! companies; its figures equal what `hits list --json` lists, it fetches and
//! runs nothing, `--since` narrows it, and bad arguments write nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use finscan::review::Status;
use finscan::rules::Category;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");

fn finscan(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("FINSCAN_DB")
        .env_remove("TZ")
        .env("TZ", "Asia/Shanghai")
        .stdin(Stdio::null())
        .output()
        .expect("run finscan")
}

fn ok(o: Output) -> Output {
    assert!(
        o.status.code().is_some_and(|c| c <= 1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    o
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn list(db: &Path, args: &[&str]) -> Vec<Value> {
    let mut a = vec!["hits", "list", "--json", "--db", s(db)];
    a.extend_from_slice(args);
    String::from_utf8_lossy(&ok(finscan(&a)).stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A valid unified social credit code of `division`.
fn uscc(division: &str, serial: u32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
    const WEIGHTS: [u32; 17] = [
        1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28,
    ];
    let body = format!("91{division}MA{serial:07}");
    let sum: u32 = body
        .bytes()
        .zip(WEIGHTS)
        .map(|(c, w)| ALPHABET.iter().position(|&a| a == c).unwrap() as u32 * w)
        .sum();
    format!(
        "{body}{}",
        ALPHABET[((31 - sum % 31) % 31) as usize] as char
    )
}

/// The demo's pages, reviewed (confirmed, notified, dismissed), then — a
/// second later, so that `--since` can tell them apart — three companies.
fn reviewed_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    ok(finscan(&["demo", "--db", s(&db)]));
    let by = ["--reviewer", "王审核", "--yes"];
    for action in [
        &["--confirm", "--where", "site=hengxin-licai.example"][..],
        &[
            "--notify",
            "--deadline",
            "2027-01-31",
            "--where",
            "site=hengxin-licai.example",
            "--where",
            "category=fund-pool",
        ][..],
        &["--dismiss", "--where", "site=anbao-insurance.example"][..],
    ] {
        let a = [&["review", "--db", s(&db)][..], action, &by].concat();
        ok(finscan(&a));
    }
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let csv = dir.join("records.csv");
    std::fs::write(
        &csv,
        format!(
            "企业名称,统一社会信用代码,经营范围\n\
             安康鑫源理财咨询有限公司,{},投资理财咨询；发放贷款\n\
             汉阴县金融信息服务有限公司,{},金融信息服务\n\
             汉滨区聚财理财服务有限公司,{},企业管理咨询\n",
            uscc("610902", 1),
            uscc("610921", 2),
            uscc("610902", 3)
        ),
    )
    .unwrap();
    ok(finscan(&["registry", "scan", "--db", s(&db), s(&csv)]));
    db
}

fn report(db: &Path, out: &Path, extra: &[&str]) -> String {
    let a = [&["report", "--db", s(db), "--out", s(out)][..], extra].concat();
    ok(finscan(&a));
    std::fs::read_to_string(out).unwrap()
}

/// The figures of one chart, from its folded table.
fn figures(html: &str, chart: &str) -> BTreeMap<String, u64> {
    let start = format!("data-chart=\"{chart}\"");
    let Some(at) = html.find(&start) else {
        return BTreeMap::new();
    };
    let table = &html[at..at + html[at..].find("</table>").unwrap()];
    table
        .split("<tr>")
        .skip(1)
        .map(|row| {
            let cells: Vec<&str> = row
                .split("<td")
                .skip(1)
                .map(|c| {
                    let c = &c[c.find('>').unwrap() + 1..];
                    &c[..c.find("</td>").unwrap()]
                })
                .collect();
            (cells[0].to_owned(), cells[1].parse().unwrap())
        })
        .collect()
}

fn tally(items: impl IntoIterator<Item = String>) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for i in items {
        *m.entry(i).or_default() += 1;
    }
    m
}

fn county_name(code: Option<&str>) -> String {
    match code {
        None => "未归属区县".into(),
        Some("610902") => "汉滨区".into(),
        Some("610921") => "汉阴县".into(),
        Some(other) => panic!("unexpected county {other}"),
    }
}

/// What the report should show for the findings `hits list` lists.
fn expected(findings: &[Value]) -> [BTreeMap<String, u64>; 3] {
    let by_category = tally(findings.iter().map(|f| {
        Category::parse(f["category"].as_str().unwrap())
            .unwrap()
            .label_zh()
            .to_owned()
    }));
    let by_county = tally(findings.iter().map(|f| county_name(f["county"].as_str())));
    let mut by_status: BTreeMap<String, u64> = Status::ALL
        .iter()
        .map(|s| (s.label_zh().to_owned(), 0))
        .collect();
    for f in findings {
        let s: Status = serde_json::from_value(f["status"].clone()).unwrap();
        *by_status.get_mut(s.label_zh()).unwrap() += 1;
    }
    [by_category, by_county, by_status]
}

#[test]
fn the_report_shows_what_hits_list_lists_and_fetches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let db = reviewed_db(dir.path());
    let out = dir.path().join("report.html");
    let html = report(&db, &out, &[]);
    let all = list(&db, &[]);
    assert!(all.len() > 30, "{} findings", all.len());

    // four charts, inline, and nothing to run or fetch
    assert_eq!(html.matches("<svg").count(), 4, "{html}");
    assert!(!html.contains("<script"));
    for fetching in ["src=", "href=", "url(", "<link", "@import"] {
        assert!(!html.contains(fetching), "{fetching} in the report");
    }

    let [cat, county, status] = expected(&all);
    assert_eq!(figures(&html, "category"), cat);
    assert_eq!(figures(&html, "county"), county);
    assert!(county.contains_key("汉滨区") && county.contains_key("未归属区县"));
    assert_eq!(figures(&html, "status"), status);
    assert!(status["已确认"] > 0 && status["已排除"] > 0 && status["已通知整改"] > 0);
    let over_time: u64 = figures(&html, "time").values().sum();
    assert_eq!(over_time, all.len() as u64);

    // the notified count in the headline figures
    let notified = all.iter().filter(|f| f["status"] == "notified").count();
    assert!(
        html.contains(&format!("<b>{notified}</b>已通知整改")),
        "{notified} notified"
    );
    // the top site with its findings counted, operator and worst severity
    let hengxin = all
        .iter()
        .filter(|f| f["site"] == "hengxin-licai.example")
        .count();
    assert!(
        html.contains("<td>hengxin-licai.example</td><td>西安恒信财富投资管理有限公司</td>"),
        "{html}"
    );
    assert!(html.contains(&format!("<td class=\"n\">{hengxin}</td><td>高</td>")));
}

#[test]
fn since_limits_the_report_to_findings_first_seen_from_then() {
    let dir = tempfile::tempdir().unwrap();
    let db = reviewed_db(dir.path());
    let all = list(&db, &[]);
    // the companies were scanned a second after the demo's pages
    let since = all
        .iter()
        .filter(|f| f["source"] == "registry")
        .map(|f| f["first_seen"].as_str().unwrap().to_owned())
        .min()
        .unwrap();
    let recent = list(&db, &["--since", &since]);
    assert!(!recent.is_empty() && recent.len() < all.len());

    let out = dir.path().join("since.html");
    let html = report(&db, &out, &["--since", &since]);
    let [cat, county, status] = expected(&recent);
    assert_eq!(figures(&html, "category"), cat);
    assert_eq!(figures(&html, "county"), county);
    assert!(
        !county.contains_key("未归属区县"),
        "only companies: {county:?}"
    );
    assert_eq!(figures(&html, "status"), status);
    assert_eq!(
        figures(&html, "time").values().sum::<u64>(),
        recent.len() as u64
    );
    // and the full report counts more
    let full = report(&db, &dir.path().join("full.html"), &[]);
    assert_ne!(figures(&full, "category"), figures(&html, "category"));
}

#[test]
fn a_missing_database_or_directory_is_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let missing_db = dir.path().join("nodb");
    let out = dir.path().join("r.html");
    let o = finscan(&["report", "--db", s(&missing_db), "--out", s(&out)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no database"));
    assert!(!missing_db.exists(), "a missing database is not created");
    assert!(!out.exists());

    let db = dir.path().join("db");
    ok(finscan(&["demo", "--db", s(&db)]));
    let nowhere = dir.path().join("no-such-dir").join("r.html");
    let o = finscan(&["report", "--db", s(&db), "--out", s(&nowhere)]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("does not exist"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!nowhere.parent().unwrap().exists());

    // a good run leaves the report and no partial file
    report(&db, &out, &[]);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.contains(&"r.html".to_owned()));
    assert!(!names.iter().any(|n| n.ends_with(".partial")), "{names:?}");
}
