//! `finscan export companies`: the flagged companies for the county
//! governments, each format read back by another implementation (the XLSX
//! by calamine cell by cell, a sheet per county; the CSV by the csv crate,
//! with its BOM and quoting; the JSON by serde_json), confirmed findings
//! only by default.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");

const HEADERS: [&str; 9] = [
    "序号",
    "统一社会信用代码",
    "企业名称",
    "所属区县",
    "限制性用语",
    "经营范围摘录",
    "依据条款",
    "首次发现时间",
    "处理状态",
];

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

/// A scope with what CSV must quote: a comma, quotes, a line break.
const AWKWARD_SCOPE: &str = "投资理财咨询, \"发放贷款\"\n（依法须经批准的项目）";

/// The csv crate writes the registry file, quoting the awkward scope.
fn companies() -> Vec<(String, String, String)> {
    vec![
        (
            "安康鑫源理财咨询有限公司".into(),
            uscc("610902", 1),
            AWKWARD_SCOPE.into(),
        ),
        (
            "汉滨区聚财理财服务有限公司".into(),
            uscc("610902", 2),
            "企业管理咨询".into(),
        ),
        (
            "汉阴县金融信息服务有限公司".into(),
            uscc("610921", 3),
            "金融信息服务".into(),
        ),
        (
            "平利县理财顾问有限公司".into(),
            uscc("610926", 4),
            "理财咨询".into(),
        ),
        (
            "石泉县财富理财有限公司".into(),
            uscc("610922", 5),
            "理财咨询".into(),
        ),
    ]
}

/// Companies scanned into a database; the first three confirmed, 平利
/// dismissed and 石泉 left new.
fn reviewed_db(dir: &Path) -> PathBuf {
    let db = dir.join("db");
    let csv_path = dir.join("records.csv");
    let mut w = csv::Writer::from_path(&csv_path).unwrap();
    w.write_record(["企业名称", "统一社会信用代码", "经营范围"])
        .unwrap();
    for (n, c, sc) in companies() {
        w.write_record([n, c, sc]).unwrap();
    }
    w.flush().unwrap();
    ok(finscan(&["registry", "scan", "--db", s(&db), s(&csv_path)]));
    let all = list(&db, &["--source", "registry"]);
    assert_eq!(all.len(), 5, "{all:?}");
    let id_of = |name: &str| {
        all.iter().find(|f| f["name"] == name).unwrap()["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let by = ["--reviewer", "李审核", "--yes"];
    let confirm: Vec<String> = [
        "安康鑫源理财咨询有限公司",
        "汉滨区聚财理财服务有限公司",
        "汉阴县金融信息服务有限公司",
    ]
    .iter()
    .map(|n| id_of(n))
    .collect();
    let mut a = vec!["review", "--db", s(&db), "--confirm"];
    a.extend(confirm.iter().map(String::as_str));
    a.extend(by);
    ok(finscan(&a));
    let dismiss = id_of("平利县理财顾问有限公司");
    ok(finscan(
        &[&["review", "--db", s(&db), "--dismiss", &dismiss][..], &by].concat(),
    ));
    db
}

fn export(db: &Path, format: &str, out: &Path, extra: &[&str]) -> Output {
    let a = [
        &[
            "export",
            "companies",
            "--db",
            s(db),
            "--format",
            format,
            "--out",
            s(out),
        ][..],
        extra,
    ]
    .concat();
    finscan(&a)
}

fn cell(c: &Data) -> String {
    match c {
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::Empty => String::new(),
        other => panic!("unexpected cell {other:?}"),
    }
}

/// Every sheet of a workbook: (name, rows of cells).
fn xlsx_sheets(path: &Path) -> Vec<(String, Vec<Vec<String>>)> {
    let mut wb: Xlsx<_> = open_workbook(path).expect("an XLSX calamine opens");
    let names = wb.sheet_names().to_vec();
    names
        .into_iter()
        .map(|n| {
            let range = wb.worksheet_range(&n).expect("the sheet");
            let rows = range.rows().map(|r| r.iter().map(cell).collect()).collect();
            (n, rows)
        })
        .collect()
}

fn csv_rows(path: &Path) -> Vec<Vec<String>> {
    let bytes = std::fs::read(path).unwrap();
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 with a BOM");
    let mut r = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&bytes[3..]);
    r.records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn the_companies_list_reads_back_the_same_in_xlsx_csv_and_json_with_confirmed_findings_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = reviewed_db(dir.path());
    let findings: BTreeMap<String, Value> = list(&db, &["--source", "registry"])
        .into_iter()
        .map(|f| (f["name"].as_str().unwrap().to_owned(), f))
        .collect();

    let csv_path = dir.path().join("companies.csv");
    ok(export(&db, "csv", &csv_path, &[]));
    let rows = csv_rows(&csv_path);
    assert_eq!(rows[0], HEADERS);
    let rows = &rows[1..];
    // confirmed only: neither the dismissed nor the new company
    let names: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(!names.contains(&"平利县理财顾问有限公司"));
    assert!(!names.contains(&"石泉县财富理财有限公司"));
    // county by county: 610902 before 610921
    assert_eq!(
        rows.iter().map(|r| r[3].as_str()).collect::<Vec<_>>(),
        [
            "陕西省 安康市 汉滨区",
            "陕西省 安康市 汉滨区",
            "陕西省 安康市 汉阴县"
        ]
    );
    for (i, r) in rows.iter().enumerate() {
        let f = &findings[&r[2]];
        assert_eq!(r[0], (i + 1).to_string());
        assert_eq!(r[1], f["uscc"].as_str().unwrap());
        assert_eq!(r[5], f["scope"].as_str().unwrap(), "short scopes whole");
        assert_eq!(r[6], f["basis"].as_str().unwrap());
        assert!(!r[4].is_empty() && r[1].len() == 18);
        // the reader's zone, as people read it
        let t = f["first_seen"].as_str().unwrap(); // 2026-12-06T16:10:30+08:00
        assert!(t.ends_with("+08:00"));
        assert_eq!(r[7], t[..19].replace('T', " "));
        assert_eq!(r[8], "已确认");
    }
    // the comma, quotes and line break of a scope survive the quoting
    let awkward = rows
        .iter()
        .find(|r| r[2] == "安康鑫源理财咨询有限公司")
        .unwrap();
    assert_eq!(awkward[5], AWKWARD_SCOPE);
    assert!(awkward[4].contains("发放贷款") && awkward[4].contains("理财"));

    // XLSX: one sheet per county, each numbered from 1, cells as in the CSV
    let xlsx = dir.path().join("companies.xlsx");
    ok(export(&db, "xlsx", &xlsx, &[]));
    let sheets = xlsx_sheets(&xlsx);
    let names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["汉滨区", "汉阴县"]);
    let mut from_sheets = Vec::new();
    for (_, sheet) in &sheets {
        assert_eq!(sheet[0], HEADERS);
        for (i, r) in sheet[1..].iter().enumerate() {
            assert_eq!(r[0], (i + 1).to_string(), "numbered within the sheet");
            from_sheets.push(r[1..].to_vec());
        }
    }
    let from_csv: Vec<Vec<String>> = rows.iter().map(|r| r[1..].to_vec()).collect();
    assert_eq!(from_sheets, from_csv, "cell by cell");

    // JSON: objects keyed by the headers, the same rows
    let json_path = dir.path().join("companies.json");
    ok(export(&db, "json", &json_path, &[]));
    let json: Vec<Value> = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    assert_eq!(json.len(), rows.len());
    for (o, r) in json.iter().zip(rows) {
        assert_eq!(o["序号"], r[0].parse::<u64>().unwrap());
        for (h, c) in HEADERS.iter().zip(r).skip(1) {
            assert_eq!(o[*h], c.as_str(), "{h}");
        }
    }

    // a county filter: only its sheet
    let one = dir.path().join("hanyin.xlsx");
    ok(export(&db, "xlsx", &one, &["--county", "610921"]));
    let sheets = xlsx_sheets(&one);
    assert_eq!(sheets.len(), 1);
    assert_eq!(sheets[0].0, "汉阴县");
    assert_eq!(sheets[0].1.len(), 2);
    assert_eq!(sheets[0].1[1][2], "汉阴县金融信息服务有限公司");

    // asked for: new and dismissed ones too
    let all = dir.path().join("all.csv");
    ok(export(
        &db,
        "csv",
        &all,
        &["--status", "new", "--status", "dismissed"],
    ));
    let rows = csv_rows(&all);
    let mut statuses: Vec<&str> = rows[1..].iter().map(|r| r[8].as_str()).collect();
    statuses.sort();
    assert_eq!(statuses, ["已排除", "待审核"]);
}

#[test]
fn bad_arguments_and_a_missing_database_write_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("c.xlsx");
    let nodb = dir.path().join("nodb");
    let o = export(&nodb, "xlsx", &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!nodb.exists() && !out.exists());

    let db = reviewed_db(dir.path());
    let nowhere = dir.path().join("missing").join("c.xlsx");
    let o = export(&db, "xlsx", &nowhere, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("does not exist"));
    let o = export(&db, "csv", &out, &["--source", "page"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("registry findings"));
    assert!(!out.exists());
    let o = export(&db, "pdf", &out, &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(!out.exists());

    // an export that succeeds replaces the file and leaves no partial one
    std::fs::write(&out, b"old").unwrap();
    ok(export(&db, "xlsx", &out, &[]));
    assert_ne!(std::fs::read(&out).unwrap(), b"old");
    assert!(!dir.path().join("c.xlsx.partial").exists());
}
