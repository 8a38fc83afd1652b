//! `finscan registry`: the real binary against labelled records.
//!
//! The fixtures in `tests/fixtures/registry/` carry their own labels
//! (`expected`, `expected_code` columns, written by `make_fixtures.py`,
//! whose credit codes are computed independently of the Rust code); the
//! tests read the labels with the `csv` crate and compare them with what the
//! binary prints.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/registry")
}

fn finscan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_finscan"))
        .arg("registry")
        .args(args)
        .env_remove("FINSCAN_DB")
        .env_remove("FINSCAN_RULES")
        .output()
        .expect("run finscan")
}

/// `registry scan --json --all` over `file` with the test rules and allow-list.
fn scan_json(file: &Path, extra: &[&str]) -> (Vec<Value>, Output) {
    let rules = fixtures().join("rules");
    let allow = fixtures().join("allowlist.txt");
    let mut args = vec![
        "scan",
        "--rules",
        rules.to_str().expect("utf-8 path"),
        "--allowlist",
        allow.to_str().expect("utf-8 path"),
        "--no-store",
        "--json",
    ];
    args.extend_from_slice(extra);
    args.push(file.to_str().expect("utf-8 path"));
    let out = finscan(&args);
    let lines = String::from_utf8(out.stdout.clone())
        .expect("utf-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect();
    (lines, out)
}

struct Label {
    name: String,
    expected: String,
    expected_code: String,
}

/// Labels by line number (the header is line 1).
fn labels() -> BTreeMap<u64, Label> {
    let mut r = csv::Reader::from_path(fixtures().join("records.csv")).expect("fixture");
    let mut out = BTreeMap::new();
    for (i, row) in r.records().enumerate() {
        let row = row.expect("fixture row");
        out.insert(
            i as u64 + 2,
            Label {
                name: row[0].to_owned(),
                expected: row[7].to_owned(),
                expected_code: row[8].to_owned(),
            },
        );
    }
    out
}

fn verdict(v: &Value) -> String {
    if v["allowlisted"] == true {
        "allow-listed".to_owned()
    } else if v["flagged"] == true {
        v["rank"].as_str().expect("rank").to_owned()
    } else {
        "clean".to_owned()
    }
}

fn code_verdict(v: &Value) -> String {
    if v["uscc_valid"] == true {
        return "valid".to_owned();
    }
    if v["registration_number"].is_string() {
        return "regno".to_owned();
    }
    let e = v["uscc_error"].as_str().unwrap_or_default();
    if let Some(rest) = e.strip_prefix("registration number (15 digits) check digit expected ") {
        return format!(
            "regno_check:{}",
            rest.split('\'').nth(1).unwrap_or_default()
        );
    }
    if e == "missing" {
        "missing".to_owned()
    } else if let Some(rest) = e.strip_prefix("length ") {
        format!("length:{}", rest.split(',').next().unwrap_or_default())
    } else if e.starts_with("check character expected") {
        let expected = e.split('\'').nth(1).unwrap_or_default();
        format!("check:{expected}")
    } else if let Some(pos) = e.split("at position ").nth(1) {
        format!(
            "bad_char:{}",
            pos.split_whitespace().next().unwrap_or_default()
        )
    } else {
        e.to_owned()
    }
}

fn assert_matches_labels(file: &Path, extra: &[&str]) {
    let (records, out) = scan_json(
        file,
        &["--all"].iter().chain(extra).copied().collect::<Vec<_>>(),
    );
    let labels = labels();
    assert_eq!(
        records.len(),
        labels.len(),
        "{}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    for v in &records {
        let line = v["line"].as_u64().expect("line");
        let l = &labels[&line];
        assert_eq!(
            v["name"],
            l.name.as_str(),
            "{}: line {line}",
            file.display()
        );
        assert_eq!(verdict(v), l.expected, "{}: {} {v}", file.display(), l.name);
        assert_eq!(
            code_verdict(v),
            l.expected_code,
            "{}: {} {v}",
            file.display(),
            l.name
        );
    }
    assert_eq!(out.status.code(), Some(1), "hits found, no row errors");
}

#[test]
fn labelled_utf8_csv_matches_every_label() {
    assert_matches_labels(&fixtures().join("records.csv"), &[]);
}

#[test]
fn csv_with_bom_matches_every_label() {
    assert_matches_labels(&fixtures().join("records_bom.csv"), &[]);
}

#[test]
fn gbk_csv_from_office_software_matches_every_label() {
    assert_matches_labels(&fixtures().join("records_gbk.csv"), &[]);
}

#[test]
fn json_lines_give_the_same_verdicts() {
    let (records, _) = scan_json(&fixtures().join("records.jsonl"), &["--all"]);
    let labels: Vec<Label> = labels().into_values().collect();
    assert_eq!(records.len(), labels.len());
    for (v, l) in records.iter().zip(&labels) {
        assert_eq!(v["name"], l.name.as_str());
        assert_eq!(verdict(v), l.expected, "{v}");
        assert_eq!(code_verdict(v), l.expected_code, "{v}");
    }
}

#[test]
fn xlsx_with_a_title_row_gives_the_same_verdicts() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("records.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    sheet
        .write_string(0, 0, "2024年安康市新设企业名单")
        .expect("cell");
    let mut r = csv::Reader::from_path(fixtures().join("records.csv")).expect("fixture");
    let headers = r.headers().expect("headers").clone();
    for (c, h) in headers.iter().enumerate() {
        sheet.write_string(1, c as u16, h).expect("cell");
    }
    for (i, row) in r.records().enumerate() {
        let row = row.expect("row");
        for (c, cell) in row.iter().enumerate() {
            if !cell.is_empty() {
                sheet
                    .write_string(i as u32 + 2, c as u16, cell)
                    .expect("cell");
            }
        }
    }
    book.save(&path).expect("save xlsx");
    let (records, out) = scan_json(&path, &["--all"]);
    let labels: Vec<Label> = labels().into_values().collect();
    assert_eq!(
        records.len(),
        labels.len(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for (v, l) in records.iter().zip(&labels) {
        assert_eq!(v["name"], l.name.as_str());
        assert_eq!(verdict(v), l.expected, "{v}");
        assert_eq!(code_verdict(v), l.expected_code, "{v}");
    }
    // rows of the sheet as Excel numbers them: title 1, header 2, data from 3
    assert_eq!(records[0]["line"], 3);
}

/// A sheet far longer than the rows read ahead is read to its end in order,
/// with blank rows, numeric cells and sparse columns; a missing sheet is an
/// error naming the sheets there are.
#[test]
fn a_long_xlsx_sheet_is_streamed_in_order() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("long.xlsx");
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["企业名称", "统一社会信用代码", "经营范围", "注册资本"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).expect("cell");
    }
    let rows = 5_000u32;
    for i in 0..rows {
        // a blank row every 1,000 rows
        let r = 1 + i + i / 1000;
        let name = if i % 500 == 0 {
            format!("安康第{i}理财咨询有限公司")
        } else {
            format!("安康第{i}商贸有限公司")
        };
        sheet.write_string(r, 0, &name).expect("cell");
        if i % 2 == 0 {
            sheet
                .write_string(r, 1, "91110000600037341L")
                .expect("cell");
        }
        sheet.write_string(r, 2, "日用百货销售").expect("cell");
        sheet.write_number(r, 3, f64::from(i) * 10.0).expect("cell");
    }
    book.save(&path).expect("save xlsx");
    let (records, out) = scan_json(&path, &["--all"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(records.len(), rows as usize, "{stderr}");
    for (i, v) in records.iter().enumerate() {
        let i = i as u64;
        assert_eq!(v["line"], 2 + i + i / 1000, "{v}");
    }
    assert_eq!(records[4_999]["name"], "安康第4999商贸有限公司");
    assert_eq!(records.iter().filter(|v| v["flagged"] == true).count(), 10);
    assert_eq!(records[1]["uscc"], serde_json::Value::Null);
    assert!(stderr.contains("5000 record(s)"), "{stderr}");

    let out = finscan(&[
        "scan",
        "--no-store",
        "--sheet",
        "名单",
        path.to_str().expect("utf-8 path"),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no sheet \"名单\" (sheets: Sheet1)"),
        "{stderr}"
    );
}

#[test]
fn hit_offsets_are_bytes_of_the_field_text() {
    let (records, _) = scan_json(&fixtures().join("records.csv"), &["--all"]);
    let mut checked = 0;
    for v in &records {
        for h in v["hits"].as_array().expect("hits") {
            let field = if h["field"] == "name" {
                "name"
            } else {
                "scope"
            };
            let text = match field {
                "name" => v["name"].as_str().expect("name").to_owned(),
                _ => {
                    let line = v["line"].as_u64().expect("line") as usize;
                    let mut r =
                        csv::Reader::from_path(fixtures().join("records.csv")).expect("fixture");
                    r.records().nth(line - 2).expect("row").expect("row")[2].to_owned()
                }
            };
            let (s, e) = (
                h["start"].as_u64().expect("start") as usize,
                h["end"].as_u64().expect("end") as usize,
            );
            assert_eq!(&text[s..e], h["matched"].as_str().expect("matched"), "{v}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} hits checked");
    // the traditional spelling is the evidence, the simplified one the term
    let trad = records
        .iter()
        .find(|v| v["name"] == "白河縣理財通網絡科技有限公司")
        .expect("record");
    assert_eq!(trad["hits"][0]["matched"], "理財");
    assert_eq!(trad["hits"][0]["term"], "理财");
}

#[test]
fn default_json_shows_only_flagged_records_and_records_with_errors() {
    let (records, _) = scan_json(&fixtures().join("records.csv"), &[]);
    let names: Vec<&str> = records
        .iter()
        .map(|v| v["name"].as_str().expect("name"))
        .collect();
    assert!(names.contains(&"安康鑫源理财咨询有限公司"));
    assert!(
        names.contains(&"宁陕县山货店"),
        "invalid code is an error: {names:?}"
    );
    assert!(!names.contains(&"西安企业管理财务咨询有限公司"));
    assert!(
        !names.contains(&"中国工商银行股份有限公司安康分行"),
        "allow-listed"
    );
    for v in &records {
        assert!(v["flagged"] == true || v["uscc_valid"] == false, "{v}");
        for key in [
            "line",
            "name",
            "uscc",
            "uscc_valid",
            "county",
            "flagged",
            "allowlisted",
            "hits",
        ] {
            assert!(v.get(key).is_some(), "{key} missing in {v}");
        }
    }
}

#[test]
fn counties_come_from_the_credit_code_including_former_codes() {
    let (records, _) = scan_json(&fixtures().join("records.csv"), &["--all"]);
    let by_name = |n: &str| records.iter().find(|v| v["name"] == n).expect(n).clone();
    let v = by_name("安康鑫源理财咨询有限公司");
    assert_eq!(v["county"], "汉滨区");
    assert_eq!(
        v["address"], "陕西省安康市汉滨区巴山中路12号",
        "optional columns are kept"
    );
    assert_eq!(v["reg_date"], "2018-05-02");
    assert_eq!(v["status"], "存续");
    assert_eq!(v["division"]["prefecture"], "安康市");
    assert_eq!(v["division"]["province"], "陕西省");
    let v = by_name("旬阳县鑫达网贷服务部");
    assert_eq!(v["county"], "旬阳县");
    assert_eq!(v["division"]["successor"]["name"], "旬阳市");
    let v = by_name("商南县茶业有限公司");
    assert_eq!(v["uscc_valid"], true, "spaces and lower case normalized");
    assert_eq!(v["county"], "商南县");
    let v = by_name("石泉县金融服务有限公司");
    assert_eq!(v["uscc_valid"], false);
    assert_eq!(v["county"], "石泉县", "tentative county of an invalid code");
    assert_eq!(v["division_tentative"], true);
}

#[test]
fn human_output_ranks_then_summarises_per_county() {
    let rules = fixtures().join("rules");
    let allow = fixtures().join("allowlist.txt");
    let file = fixtures().join("records.csv");
    let out = finscan(&[
        "scan",
        "--rules",
        rules.to_str().expect("path"),
        "--allowlist",
        allow.to_str().expect("path"),
        "--no-store",
        file.to_str().expect("path"),
    ]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let pos = |s: &str| text.find(s).unwrap_or_else(|| panic!("{s} not in\n{text}"));
    // name+activity before name-only before activity before scope-word
    assert!(pos("安康鑫源理财咨询有限公司") < pos("汉阴县聚财投资管理有限公司"));
    assert!(pos("汉阴县聚财投资管理有限公司") < pos("岚皋县惠民商贸有限公司"));
    assert!(pos("岚皋县惠民商贸有限公司") < pos("平利县信息咨询有限公司"));
    assert!(pos("平利县信息咨询有限公司") < pos("per county"));
    let summary = &text[pos("per county")..];
    let hanbin = summary
        .lines()
        .find(|l| l.starts_with("610902"))
        .expect("汉滨区 row");
    assert!(hanbin.contains("陕西省 安康市 汉滨区"), "{hanbin}");
    // 汉滨区: 鑫源 (flagged), 代理财税, 国资, 百货 → 4 scanned, 1 flagged, 0 to verify, 0 invalid
    let cols: Vec<&str> = hanbin.split_whitespace().collect();
    assert_eq!(&cols[cols.len() - 4..], ["4", "1", "0", "0"], "{hanbin}");
    let shiquan = summary
        .lines()
        .find(|l| l.starts_with("610922"))
        .expect("石泉县 row");
    assert!(shiquan.ends_with(" 1"), "one invalid code: {shiquan}");
}

#[test]
fn rescan_updates_stored_companies_instead_of_duplicating() {
    let db = tempfile::tempdir().expect("tmp");
    let rules = fixtures().join("rules");
    let file = fixtures().join("records.csv");
    let args = [
        "scan",
        "--rules",
        rules.to_str().expect("path"),
        "--db",
        db.path().to_str().expect("path"),
        "--json",
        file.to_str().expect("path"),
    ];
    assert_eq!(finscan(&args).status.code(), Some(1));
    assert_eq!(finscan(&args).status.code(), Some(1));
    let out = finscan(&["list", "--json", "--db", db.path().to_str().expect("path")]);
    let stored: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    // every record with hits (flagged or, without an allow-list, the bank and the payment firm)
    let with_hits = labels().values().filter(|l| l.expected != "clean").count();
    assert_eq!(stored.len(), with_hits);
    for s in &stored {
        assert_eq!(s["scans"], 2, "{s}");
        assert!(!s["hits"].as_array().expect("hits").is_empty());
    }
    let keys: Vec<&str> = stored
        .iter()
        .map(|s| s["key"].as_str().expect("key"))
        .collect();
    assert!(keys.contains(&"uscc:91610902MA70B5XK71"));
    assert!(
        keys.contains(&"name:石泉县金融服务有限公司"),
        "invalid code → keyed by name: {keys:?}"
    );
    // filtered by county prefix
    let out = finscan(&[
        "list",
        "--json",
        "--county",
        "6109",
        "--db",
        db.path().to_str().expect("path"),
    ]);
    let n = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .count();
    assert!(n >= 4 && n < stored.len(), "{n}");
}

#[test]
fn bad_rows_and_files_are_reported_counted_and_never_fatal() {
    let dir = tempfile::tempdir().expect("tmp");
    let ragged = dir.path().join("ragged.csv");
    let mut bytes = "企业名称,统一社会信用代码,经营范围\n".as_bytes().to_vec();
    bytes.extend_from_slice("安康理财有限公司,91610902MA70B5XK71,发放贷款\n".as_bytes());
    bytes.extend_from_slice(",91610902MA70B5XK71,没有名称\n".as_bytes()); // line 3: no name
    bytes.extend_from_slice(b"\xb0\xb2\xbf\xb5\xff\xff,1,x\n"); // line 4: undecodable in UTF-8
    bytes.extend_from_slice("紫阳县茶叶店\n".as_bytes()); // line 5: short row
    std::fs::write(&ragged, bytes).expect("write");
    let nocol = dir.path().join("nocol.csv");
    std::fs::write(&nocol, "foo,bar\n1,2\n").expect("write");
    let missing = dir.path().join("does-not-exist.csv");
    let rules = fixtures().join("rules");
    let out = finscan(&[
        "scan",
        "--rules",
        rules.to_str().expect("path"),
        "--no-store",
        "--encoding",
        "utf-8",
        ragged.to_str().expect("path"),
        nocol.to_str().expect("path"),
        missing.to_str().expect("path"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "partial: {err}");
    assert!(err.contains("ragged.csv:3: no enterprise name"), "{err}");
    assert!(
        err.contains("ragged.csv:4: undecodable bytes in name"),
        "{err}"
    );
    assert!(err.contains("ragged.csv:5: row has 1 fields"), "{err}");
    assert!(err.contains("nocol.csv: no name column"), "{err}");
    assert!(err.contains("does-not-exist.csv"), "{err}");
    assert!(
        err.contains("1 row error(s), 2 record(s) with problems, 2 file(s) skipped"),
        "{err}"
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("安康理财有限公司"),
        "the good row is still scanned: {text}"
    );
}

/// A JSON Lines file with lines far longer than any record (a dump, a
/// binary blob): each is reported with its line and skipped without being
/// held in memory; the records around them are read.
#[test]
fn overlong_json_lines_are_reported_and_skipped() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("long.jsonl");
    let blob = format!("{{\"企业名称\":\"{}\"}}\n", "理".repeat(700_000)); // 2.1 MB
    let mut text = blob.clone(); // line 1, before any record
    text.push_str("{\"企业名称\":\"安康理财有限公司\",\"经营范围\":\"投资咨询\"}\n");
    text.push_str(&blob); // line 3
    text.push_str("{\"企业名称\":\"汉滨区百货商店\",\"经营范围\":\"日用百货\"}\n");
    std::fs::write(&path, text).expect("write");
    let (records, out) = scan_json(&path, &["--all"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("long.jsonl:1: line longer than 1 MiB"),
        "{err}"
    );
    assert!(
        err.contains("long.jsonl:3: line longer than 1 MiB"),
        "{err}"
    );
    assert!(err.contains("2 row error(s)"), "{err}");
    let read: Vec<(&str, u64)> = records
        .iter()
        .filter_map(|v| Some((v["name"].as_str()?, v["line"].as_u64()?)))
        .collect();
    assert_eq!(read, [("安康理财有限公司", 2), ("汉滨区百货商店", 4)]);
}

#[test]
fn credit_codes_check_command_matches_stdnum_edge_cases() {
    // python-stdnum's doctest corner cases (LGPL, see ../shared/realdata/uscc/SOURCE.txt)
    let out = finscan(&[
        "check",
        "91 110000 600037341L",
        "12345",
        "A1110000600037341L",
        "9111000060003IOZSV",
        "91110000600037341N",
    ]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let verdicts: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').nth(1).expect("verdict"))
        .collect();
    assert_eq!(
        verdicts,
        ["valid", "invalid", "invalid", "invalid", "invalid"],
        "{text}"
    );
    assert!(text.contains("北京市"), "{text}");
    assert!(text.contains("expected 'L', got 'N'"), "{text}");
    assert_eq!(out.status.code(), Some(1));
}

/// Serves `pages` (path → HTML) on 127.0.0.1 for `max` requests.
fn serve(
    pages: Vec<(&'static str, String)>,
    max: usize,
) -> (String, std::thread::JoinHandle<Vec<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let handle = std::thread::spawn(move || {
        let mut seen = Vec::new();
        for stream in listener.incoming().take(max) {
            let mut s = stream.expect("conn");
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let req = String::from_utf8_lossy(&req).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_owned();
            seen.push(path.clone());
            let (status, body) = match pages.iter().find(|(p, _)| *p == path) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => ("404 Not Found", String::new()),
            };
            let resp = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(resp.as_bytes());
        }
        seen
    });
    (base, handle)
}

/// A minimal fetch for the test (the crawler does this for real).
fn get(url: &url::Url) -> String {
    let addr = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().expect("port")
    );
    let mut s = std::net::TcpStream::connect(addr).expect("connect");
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        url.path()
    );
    s.write_all(req.as_bytes()).expect("send");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

#[test]
fn registry_pages_are_crawled_with_a_profile_and_scanned_like_files() {
    use finscan::registry::profile::{Profile, extract_records};
    use finscan::registry::{AllowList, Rank, RecordScanner};

    let list1 = r#"<table class="co"><tbody>
      <tr><td class="n"><a href="/company/1">安康鑫源理财咨询有限公司</a></td><td class="c">91610902MA70B5XK71</td></tr>
      <tr><td class="n"><a href="/company/2">西安企业管理财务咨询有限公司</a></td><td class="c">91610113MA6X8W9U0</td></tr>
      </tbody></table><a class="next" href="/list/2">下一页</a>"#;
    let list2 = r#"<table class="co"><tbody>
      <tr><td class="n">陕西Ｐ２Ｐ网贷信息服务有限公司</td><td class="c">91610113MA6U5R2T3</td></tr>
      </tbody></table><a class="next" href="http://elsewhere.test/list/3">外站</a>"#;
    let detail = r#"<div class="co"><h1 class="n">安康鑫源理财咨询有限公司</h1>
      <span class="c">91610902MA70B5XK71</span><ul class="s"><li>投资理财咨询</li><li>发放贷款</li></ul></div>"#;
    let (base, server) = serve(
        vec![
            ("/list/1", list1.to_owned()),
            ("/list/2", list2.to_owned()),
            ("/company/1", detail.to_owned()),
            (
                "/company/2",
                "<div class=co><h1 class=n>西安企业管理财务咨询有限公司</h1></div>".to_owned(),
            ),
        ],
        4,
    );
    let profile = Profile::parse(
        "test.toml",
        &format!(
            r#"
name = "test-registry"
url_patterns = ['^{}/(list|company)/\d+$']
record = "table.co tbody tr, div.co"
next_page = "a.next"
follow = ["td.n a"]
[fields]
name = ".n"
uscc = ".c"
scope = {{ selector = "ul.s li", all = true }}
"#,
            regex::escape(&base)
        ),
    )
    .expect("profile");
    let set = finscan::RuleSet::load_dir(&fixtures().join("rules")).expect("rules");
    let scanner = RecordScanner::new(&set, AllowList::default());
    let mut queue = vec![url::Url::parse(&format!("{base}/list/1")).expect("url")];
    let mut done = std::collections::HashSet::new();
    let mut found = Vec::new();
    while let Some(u) = queue.pop() {
        if !done.insert(u.clone()) || !profile.matches(u.as_str()) {
            continue;
        }
        let ex = extract_records(&profile, &u, &get(&u));
        for rec in &ex.records {
            let s = scanner.scan(rec);
            found.push((
                u.path().to_owned(),
                rec.name.clone(),
                s.rank,
                s.code.valid().is_some(),
            ));
        }
        queue.extend(ex.links);
    }
    let seen = server.join().expect("server");
    assert_eq!(seen.len(), 4, "list 1, list 2, two detail pages: {seen:?}");
    let get_rank = |path: &str, name: &str| {
        found
            .iter()
            .find(|(p, n, ..)| p == path && n == name)
            .unwrap_or_else(|| panic!("{path} {name} in {found:?}"))
            .2
    };
    assert_eq!(
        get_rank("/list/1", "安康鑫源理财咨询有限公司"),
        Some(Rank::Name)
    );
    assert_eq!(
        get_rank("/company/1", "安康鑫源理财咨询有限公司"),
        Some(Rank::NameAndActivity),
        "detail page has the scope"
    );
    assert_eq!(get_rank("/list/1", "西安企业管理财务咨询有限公司"), None);
    assert_eq!(
        get_rank("/list/2", "陕西Ｐ２Ｐ网贷信息服务有限公司"),
        Some(Rank::Name)
    );
    // codes on the page are validated too: the second company's code lacks a character
    assert!(
        !found
            .iter()
            .find(|f| f.1 == "西安企业管理财务咨询有限公司")
            .expect("row")
            .3
    );
}

#[test]
fn saved_gbk_registry_page_is_extracted_with_a_profile_file() {
    let rules = fixtures().join("rules");
    let profile = fixtures().join("profile.toml");
    let page = fixtures().join("page_gbk.html");
    let out = finscan(&[
        "extract",
        "--profile",
        profile.to_str().expect("path"),
        "--url",
        "http://reg.test/list/1",
        "--rules",
        rules.to_str().expect("path"),
        "--no-store",
        "--json",
        "--all",
        page.to_str().expect("path"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(records.len(), 2, "{err}");
    assert_eq!(records[0]["name"], "安康鑫源理财咨询有限公司");
    assert_eq!(records[0]["rank"], "name+activity");
    assert_eq!(records[0]["county"], "汉滨区");
    assert_eq!(records[1]["flagged"], false, "管理|财务 is not 理财");
    assert!(
        err.contains("link to follow: http://reg.test/list/2"),
        "{err}"
    );
    assert!(
        err.contains("link to follow: http://reg.test/company/1"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn many_batches_keep_file_order_across_worker_threads() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("many.csv");
    let mut text = String::from("企业名称,统一社会信用代码,经营范围\n");
    let n = 3000;
    for i in 0..n {
        let word = if i % 7 == 0 { "理财" } else { "百货" };
        text.push_str(&format!("安康第{i}号{word}有限公司,,日用百货\n"));
    }
    std::fs::write(&path, text).expect("write");
    let rules = fixtures().join("rules");
    let out = finscan(&[
        "scan",
        "--rules",
        rules.to_str().expect("path"),
        "--no-store",
        "--json",
        "--all",
        "--threads",
        "3",
        path.to_str().expect("path"),
    ]);
    let records: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(records.len(), n);
    for (i, v) in records.iter().enumerate() {
        assert_eq!(v["line"], i as u64 + 2, "file order");
        assert_eq!(v["flagged"], i % 7 == 0, "{v}");
    }
}

/// A reader of the output that goes away (`| head`) ends the scan with an
/// error, with and without storing, instead of leaving it blocked on a full
/// channel; the flagged rows are many batches' worth.
#[test]
fn a_scan_whose_output_is_closed_early_ends() {
    let dir = tempfile::tempdir().expect("tmp");
    let csv = dir.path().join("many.csv");
    let mut text = String::from("企业名称,统一社会信用代码,经营范围\n");
    for i in 0..40_000 {
        text.push_str(&format!("安康第{i}理财有限公司,,投资理财\n"));
    }
    std::fs::write(&csv, text).expect("write csv");
    let db = dir.path().join("db");
    for store in [
        vec!["--no-store"],
        vec!["--db", db.to_str().expect("utf-8 path")],
    ] {
        for threads in ["1", "2"] {
            let mut child = Command::new(env!("CARGO_BIN_EXE_finscan"))
                .args(["registry", "scan", "--json", "--threads", threads])
                .args(&store)
                .arg(&csv)
                .env_remove("FINSCAN_DB")
                .env_remove("FINSCAN_RULES")
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("run finscan");
            let mut out = child.stdout.take().expect("stdout");
            let mut first = [0u8; 100];
            out.read_exact(&mut first).expect("some output");
            drop(out);
            // seconds at most; a minute means it hangs
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
            let status = loop {
                if let Some(status) = child.try_wait().expect("wait") {
                    break status;
                }
                if std::time::Instant::now() > deadline {
                    let _ = child.kill();
                    panic!(
                        "finscan {store:?} --threads {threads} did not end after its output closed"
                    );
                }
                std::thread::sleep(std::time::Duration::from_millis(50));
            };
            assert!(!status.success(), "{store:?} --threads {threads}: {status}");
        }
    }
}

// ── registry answers (issue 13, items 1–6) ─────────────────────────────────

/// Writes `rows` (after a header) to a CSV in `dir`.
fn write_csv(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::from("企业名称,统一社会信用代码,经营范围\n");
    for r in rows {
        text.push_str(r);
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write csv");
    path
}

/// `registry scan --no-store --json --all` with the bundled rules.
fn scan_bundled(file: &Path, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["scan", "--no-store", "--json", "--all"];
    args.extend_from_slice(extra);
    args.push(file.to_str().expect("utf-8 path"));
    let out = finscan(&args);
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

fn by_name<'a>(records: &'a [Value], name: &str) -> &'a Value {
    records
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {records:?}"))
}

#[test]
fn licensed_institutions_are_recognized_by_name_not_flagged() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write_csv(
        dir.path(),
        "licensed.csv",
        &[
            "中国农业银行股份有限公司安康金融大街支行,,吸收公众存款；发放短期、中期和长期贷款；代理其他银行的金融业务",
            "岚皋县农村信用合作联社佐龙信用社,,办理存款、贷款、票据贴现",
            "某某人寿保险股份有限公司安康中心支公司,,人身保险；代理金融业务",
            "某某证券股份有限公司安康金融中心证券营业部,,证券经纪；证券投资咨询",
            "安康鑫源理财咨询有限公司,,投资理财咨询",
            "安康某某物业管理有限公司金融中心分公司,,物业管理",
            "岚皋县金融大街餐饮有限公司,,餐饮服务",
            "安康某某支付科技有限公司,,网络支付",
        ],
    );
    let records = scan_bundled(&file, &[]);
    for bank in [
        "中国农业银行股份有限公司安康金融大街支行",
        "岚皋县农村信用合作联社佐龙信用社",
        "某某人寿保险股份有限公司安康中心支公司",
        "某某证券股份有限公司安康金融中心证券营业部",
    ] {
        let v = by_name(&records, bank);
        assert_eq!(v["flagged"], false, "{v}");
        assert_eq!(v["licensed"], true, "{v}");
        assert!(
            v["licensed_as"]["basis"]
                .as_str()
                .is_some_and(|b| !b.is_empty()),
            "{v}"
        );
        assert!(
            !v["hits"].as_array().expect("hits").is_empty(),
            "hits kept as evidence: {v}"
        );
    }
    assert_eq!(
        by_name(&records, "中国农业银行股份有限公司安康金融大街支行")["licensed_as"]["id"],
        "licensed.bank"
    );
    // private companies with restricted words are still flagged
    assert_eq!(
        by_name(&records, "安康鑫源理财咨询有限公司")["flagged"],
        true
    );
    assert_eq!(
        by_name(&records, "安康某某支付科技有限公司")["flagged"],
        true
    );
    // a place or a branch's location is not a name violation
    for place in [
        "安康某某物业管理有限公司金融中心分公司",
        "岚皋县金融大街餐饮有限公司",
    ] {
        let v = by_name(&records, place);
        assert_eq!(v["flagged"], false, "{v}");
        assert!(v["hits"].as_array().expect("hits").is_empty(), "{v}");
    }
    // the table says licensed; the bank on 金融大街 is not at the top
    let out = finscan(&["scan", "--no-store", file.to_str().expect("path")]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let first = text.lines().nth(1).expect("a row");
    assert!(
        first.contains("安康鑫源理财咨询有限公司") || first.contains("安康某某支付"),
        "{text}"
    );
    assert!(
        !text.contains("中国农业银行"),
        "licensed rows only with --all: {text}"
    );
    let out = finscan(&["scan", "--no-store", "--all", file.to_str().expect("path")]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let row = text
        .lines()
        .find(|l| l.contains("中国农业银行股份有限公司安康金融大街支行"))
        .expect("bank row");
    assert!(row.starts_with("licensed"), "{row}");
    // --no-licensed turns the list off; the user's allow-list extends it
    let records = scan_bundled(&file, &["--no-licensed"]);
    let v = by_name(&records, "中国农业银行股份有限公司安康金融大街支行");
    assert_eq!(
        (v["flagged"].clone(), v["licensed"].clone()),
        (true.into(), false.into()),
        "{v}"
    );
    let allow = dir.path().join("allow.txt");
    std::fs::write(&allow, "安康某某支付科技有限公司  # 支付业务许可证\n").expect("write");
    let records = scan_bundled(&file, &["--allowlist", allow.to_str().expect("path")]);
    let v = by_name(&records, "安康某某支付科技有限公司");
    assert_eq!(
        (v["flagged"].clone(), v["allowlisted"].clone()),
        (false.into(), true.into()),
        "{v}"
    );
    assert_eq!(
        by_name(&records, "岚皋县农村信用合作联社佐龙信用社")["licensed"],
        true
    );
}

#[test]
fn licensed_activities_in_the_scope_are_reported_to_verify_not_flagged() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write_csv(
        dir.path(),
        "scopes.csv",
        &[
            "安康市鑫融典当有限责任公司,,动产质押典当业务；财产权利质押典当业务",
            "安康市鑫融理财有限公司,,动产质押典当业务",
            "安康市某某融资担保有限公司,,融资担保业务；代客理财",
        ],
    );
    let records = scan_bundled(&file, &[]);
    let pawn = by_name(&records, "安康市鑫融典当有限责任公司");
    assert_eq!(pawn["flagged"], false, "{pawn}");
    assert_eq!(
        pawn["licensed_types"][0]["id"], "licensed-scope.pawn",
        "{pawn}"
    );
    // another hit still flags, and the licensed activity does not rank it
    let named = by_name(&records, "安康市鑫融理财有限公司");
    assert_eq!(
        (named["flagged"].clone(), named["rank"].clone()),
        (true.into(), "name".into())
    );
    let mixed = by_name(&records, "安康市某某融资担保有限公司");
    assert_eq!(
        mixed["flagged"], true,
        "代客理财 is no licensed type: {mixed}"
    );
    let out = finscan(&["scan", "--no-store", file.to_str().expect("path")]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let row = text
        .lines()
        .find(|l| l.contains("安康市鑫融典当有限责任公司"))
        .expect("shown without --all");
    assert!(
        row.starts_with("verify-licence") && row.contains("典当行"),
        "{row}"
    );
}

#[test]
fn words_across_a_boundary_or_in_a_non_financial_sense_are_not_flagged() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = write_csv(
        dir.path(),
        "senses.csv",
        &[
            "汉阴县宏基金业科贸有限公司,,日用百货销售",
            "安康市某某网络科技有限公司,,P2P流媒体技术开发；P2P网络电视软件",
            "安康工程造价咨询有限公司,,工程造价咨询；工程款支付审核；工程结算",
            "安康市某某信息科技有限公司,,P2P网络借贷信息中介",
            "汉阴县某某基金管理有限公司,,投资咨询",
        ],
    );
    let records = scan_bundled(&file, &[]);
    for clean in [
        "汉阴县宏基金业科贸有限公司",
        "安康市某某网络科技有限公司",
        "安康工程造价咨询有限公司",
    ] {
        let v = by_name(&records, clean);
        assert_eq!(v["flagged"], false, "{v}");
        assert!(v["hits"].as_array().expect("hits").is_empty(), "{v}");
    }
    assert_eq!(
        by_name(&records, "安康市某某信息科技有限公司")["flagged"],
        true
    );
    assert_eq!(
        by_name(&records, "汉阴县某某基金管理有限公司")["flagged"],
        true
    );
}

#[test]
fn old_registration_numbers_are_recognized_and_attributed() {
    let dir = tempfile::tempdir().expect("tmp");
    // check digits by ISO 7064 MOD 11,10, computed in make_fixtures.py's way
    let file = write_csv(
        dir.path(),
        "regno.csv",
        &[
            "镇坪县鑫源理财咨询有限公司,610927000123457,投资理财咨询",
            "镇坪县腊肉加工厂,610927000123450,腊肉加工",
        ],
    );
    let records = scan_bundled(&file, &[]);
    let v = by_name(&records, "镇坪县鑫源理财咨询有限公司");
    assert_eq!(v["registration_number"], "610927000123457", "{v}");
    assert!(
        v.get("uscc_error").is_none(),
        "not an invalid credit code: {v}"
    );
    assert_eq!(v["county"], "镇坪县");
    assert_eq!(v["flagged"], true);
    let bad = by_name(&records, "镇坪县腊肉加工厂");
    assert!(
        bad["uscc_error"]
            .as_str()
            .expect("error")
            .contains("registration number"),
        "{bad}"
    );
    let out = finscan(&["scan", "--no-store", file.to_str().expect("path")]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(text.contains("610927000123457 (注册号)"), "{text}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 registration number(s)"));
    // `check` judges it as what it is
    let out = finscan(&["check", "--json", "610927000123457"]);
    assert_eq!(out.status.code(), Some(0), "valid: exit 0");
    let v: Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["kind"], "registration_number", "{v}");
    assert_eq!(v["division"]["county"], "镇坪县", "{v}");
    let out = finscan(&["check", "610927000123450"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("check digit expected '7'"));
}

#[test]
fn divisions_are_attributed_listed_and_filtered_everywhere() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("db");
    let file = write_csv(
        dir.path(),
        "div.csv",
        &[
            "上海某某理财咨询有限公司,91310000MA1K00012D,投资理财咨询",
            // a wrong check character: division 610921 (汉阴县) is derivable
            "汉阴县某某理财有限公司,91610921MA70A0A22R,投资理财",
            "汉滨区某某投资管理有限公司,91610902MA70A0A114,投资管理",
            "汉滨区某某理财有限公司,91610902MA70A0A33C,理财咨询",
            "西安某某百货有限公司,91610100MA70A0A55E,日用百货",
        ],
    );
    let path = file.to_str().expect("path");
    let dbs = db.to_str().expect("path");
    let out = finscan(&["scan", "--db", dbs, path]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    let row = text
        .lines()
        .find(|l| l.contains("上海某某理财咨询有限公司"))
        .expect("row");
    assert!(row.contains("上海市（省本级）"), "{row}");
    // summary: most flagged first, only counties with findings
    let summary = &text[text.find("per county").expect("summary")..];
    let codes: Vec<&str> = summary
        .lines()
        .skip(2)
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.len() == 6)
        .collect();
    assert_eq!(codes, ["610902", "310000", "610921"], "{summary}");
    let out = finscan(&["scan", "--no-store", "--all", path]);
    let text = String::from_utf8(out.stdout).expect("utf-8");
    assert!(
        text.contains("\n610100 "),
        "--all lists every county: {text}"
    );
    // a company counted for 汉阴县 is listed for it, marked tentative
    let out = finscan(&["list", "--json", "--county", "610921", "--db", dbs]);
    let listed: Vec<Value> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["name"], "汉阴县某某理财有限公司");
    assert_eq!(listed[0]["division_tentative"], true);
    let out = finscan(&["list", "--county", "610921", "--db", dbs]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("归属待核"));
    // scan --county filters
    let records = scan_bundled(&file, &["--county", "610902"]);
    let names: Vec<&str> = records.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(
        names,
        ["汉滨区某某投资管理有限公司", "汉滨区某某理财有限公司"]
    );
    let out = finscan(&["scan", "--no-store", "--county", "61x", path]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "a bad --county is a usage error"
    );
}

#[test]
fn a_broken_quote_never_merges_records() {
    let dir = tempfile::tempdir().expect("tmp");
    let db = dir.path().join("db");
    let file = dir.path().join("quote.csv");
    std::fs::write(
        &file,
        "企业名称,统一社会信用代码,经营范围\n\
         安康甲理财有限公司,,\"投资咨询\n\
         安康乙理财有限公司,,理财咨询\n\
         安康丙茶叶有限公司,,茶叶\"\n\
         安康丁商贸有限公司,,\"日用百货\n（不含食品）\"\n\
         安康戊理财有限公司,,理财咨询\n",
    )
    .expect("write");
    let out = finscan(&[
        "scan",
        "--db",
        db.to_str().expect("path"),
        "--json",
        file.to_str().expect("path"),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("quote.csv:2: unterminated quote: the quoted field opened on line 2 ran on to line 4; lines 3-4 were swallowed"),
        "{err}"
    );
    assert_eq!(out.status.code(), Some(3), "partial");
    let out = finscan(&["list", "--json", "--db", db.to_str().expect("path")]);
    let names: Vec<String> = String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).expect("json");
            v["name"].as_str().expect("name").to_owned()
        })
        .collect();
    assert_eq!(
        names,
        ["安康戊理财有限公司"],
        "the merged rows are not stored"
    );
}

#[test]
fn registry_scan_dash_reads_standard_input() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_finscan"))
        .args(["registry", "scan", "--no-store", "--json", "-"])
        .env_remove("FINSCAN_DB")
        .env_remove("FINSCAN_RULES")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(
            "企业名称,统一社会信用代码,经营范围\n安康鑫源理财咨询有限公司,,投资理财咨询\n"
                .as_bytes(),
        )
        .expect("write stdin");
    let out = child.wait_with_output().expect("wait");
    let v: Value = serde_json::from_slice(&out.stdout).expect("one record");
    assert_eq!(v["name"], "安康鑫源理财咨询有限公司");
    assert_eq!(v["source"], "-");
    assert_eq!(v["flagged"], true);
    assert_eq!(out.status.code(), Some(1));
}
