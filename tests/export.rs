//! `finscan export takedown`: each format read back by another
//! implementation (the XLSX by calamine cell by cell, the CSV by the csv
//! crate), the three agreeing, and only confirmed findings listed.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use calamine::{Data, Reader, Xlsx, open_workbook};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_finscan");

const HEADERS: [&str; 13] = [
    "序号",
    "网站名称",
    "域名",
    "网址",
    "ICP备案号",
    "主办单位",
    "违规类型",
    "违规内容摘录",
    "依据条款",
    "首次发现时间",
    "最近核实时间",
    "处理状态",
    "证据SHA-256",
];

fn finscan(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("FINSCAN_DB")
        .env_remove("TZ")
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

fn export(db: &Path, format: &str, out: &Path, extra: &[&str]) {
    let mut a = vec![
        "export",
        "takedown",
        "--db",
        s(db),
        "--format",
        format,
        "--out",
        s(out),
    ];
    a.extend_from_slice(extra);
    ok(finscan(&a));
}

fn xlsx_rows(path: &Path) -> Vec<Vec<String>> {
    let mut wb: Xlsx<_> = open_workbook(path).expect("an XLSX calamine opens");
    let range = wb.worksheet_range("下架清单").expect("the sheet");
    range
        .rows()
        .map(|r| {
            r.iter()
                .map(|c| match c {
                    Data::String(s) => s.clone(),
                    Data::Float(f) => format!("{f}"),
                    Data::Int(i) => i.to_string(),
                    Data::Empty => String::new(),
                    other => panic!("unexpected cell {other:?}"),
                })
                .collect()
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
        .map(|rec| {
            rec.expect("a CSV record")
                .iter()
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

#[test]
fn the_takedown_list_reads_back_the_same_in_xlsx_csv_and_json_with_confirmed_findings_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("db");
    ok(finscan(&["demo", "--db", s(&db)]));
    let reviewer = ["--reviewer", "王审核", "--yes"];
    ok(finscan(
        &[
            &[
                "review",
                "--db",
                s(&db),
                "--confirm",
                "--where",
                "site=hengxin-licai.example",
            ][..],
            &reviewer,
        ]
        .concat(),
    ));
    let anbao = list(&db, &["--host", "anbao-insurance.example"]);
    assert!(anbao.len() >= 2);
    let chosen = anbao[0]["id"].as_str().unwrap();
    ok(finscan(&[
        "review",
        "--db",
        s(&db),
        "--confirm",
        chosen,
        "--reviewer",
        "王",
    ]));
    ok(finscan(&[
        "review",
        "--db",
        s(&db),
        "--notify",
        "--deadline",
        "2027-01-31",
        chosen,
        "--reviewer",
        "王",
    ]));
    // a dismissed finding never shows
    let other = anbao[1]["id"].as_str().unwrap();
    ok(finscan(&[
        "review",
        "--db",
        s(&db),
        "--dismiss",
        other,
        "--reviewer",
        "王",
    ]));

    let (x, c, j) = (
        dir.path().join("t.xlsx"),
        dir.path().join("t.csv"),
        dir.path().join("t.json"),
    );
    export(&db, "xlsx", &x, &[]);
    export(&db, "csv", &c, &[]);
    export(&db, "json", &j, &[]);
    let xr = xlsx_rows(&x);
    let cr = csv_rows(&c);
    let json: Vec<Value> = serde_json::from_slice(&std::fs::read(&j).unwrap()).unwrap();
    assert_eq!(xr[0], HEADERS);
    assert_eq!(cr[0], HEADERS);
    assert_eq!(xr, cr, "XLSX and CSV agree cell by cell");
    assert_eq!(json.len(), xr.len() - 1);
    for (row, obj) in xr[1..].iter().zip(&json) {
        for (h, cell) in HEADERS.iter().zip(row) {
            let v = &obj[*h];
            let as_text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string());
            assert_eq!(&as_text, cell, "{h}");
        }
    }
    // two sites with confirmed findings; the shop and new findings are not listed
    assert_eq!(xr.len(), 3, "{xr:?}");
    let row = |domain: &str| {
        xr[1..]
            .iter()
            .find(|r| r[2] == domain)
            .unwrap_or_else(|| panic!("no row for {domain}: {xr:?}"))
            .clone()
    };
    let hx = row("hengxin-licai.example");
    // in Chinese for the office: the status, the kinds of violation, and
    // times as civil times in the reader's zone (Asia/Shanghai here)
    assert_eq!(hx[11], "已确认");
    for t in [&hx[9], &hx[10]] {
        assert!(
            t.len() == 19 && t.as_bytes()[10] == b' ' && t.starts_with("20"),
            "{t:?}"
        );
    }
    assert!(hx[4].contains("ICP备"), "{hx:?}");
    assert!(!hx[5].is_empty() && !hx[1].is_empty() && hx[3].starts_with("http://"));
    assert!(hx[6].contains("设立资金池"), "{hx:?}");
    assert!(hx[8].contains('§'), "{hx:?}");
    assert_eq!(hx[12].split('；').next().unwrap().len(), 64);
    let ab = row("anbao-insurance.example");
    assert_eq!(ab[11], "已通知整改");
    let matched = anbao[0]["matched"].as_str().unwrap();
    assert_eq!(
        ab[7].lines().count(),
        1,
        "only the one confirmed finding: {:?}",
        ab[7]
    );
    assert!(ab[7].contains(&format!("【{matched}】")), "{:?}", ab[7]);
    assert_eq!(xr[1][0], "1");
    assert_eq!(xr[2][0], "2");

    // filters narrow it
    let one = dir.path().join("one.csv");
    export(&db, "csv", &one, &["--host", "anbao-insurance.example"]);
    let rows = csv_rows(&one);
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][2], "anbao-insurance.example");
    // an unwritable path is a clear error naming it
    let out = finscan(&[
        "export",
        "takedown",
        "--db",
        s(&db),
        "--format",
        "csv",
        "--out",
        "/nonexistent/dir/t.csv",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/dir/t.csv"));
}
