//! The registry scan as a library call (`finscan::registry::pipeline`, and
//! the job around it in `finscan::job::registry`): what a scheduler runs
//! must count what `finscan registry scan` counts, stop when cancelled
//! with what it stored kept, and complete on a rerun without storing a
//! company twice.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use finscan::job::{Cancel, Outcome};
use finscan::registry::CreditCode;
use finscan::registry::import::{Record, RowError};
use finscan::registry::pipeline::{
    NoSink, RecordSink, RegistryScan, RegistryScanError, RegistryScanOptions, ScanProgress,
    scan_registry,
};
use finscan::registry::store::RegistryStore;
use finscan::registry::{Rank, RecordScan};

const BIN: &str = env!("CARGO_BIN_EXE_finscan");

/// `body` (17 characters) with its check character.
fn valid_code(body: &str) -> String {
    "0123456789ABCDEFGHJKLMNPQRTUWXY"
        .chars()
        .map(|c| format!("{body}{c}"))
        .find(|c| CreditCode::parse(c).is_ok())
        .expect("a check character")
}

/// `n` registration records: a quarter flagged by name and scope, a
/// quarter by scope alone, half clean; credit codes of two counties, some
/// missing, some invalid.
fn registry_csv(n: usize) -> String {
    let mut s = String::from("企业名称,统一社会信用代码,经营范围\n");
    for i in 0..n {
        let (name, scope) = match i % 4 {
            0 => (format!("安康{i}号投资理财有限公司"), "投资理财；发放贷款"),
            1 => (format!("安康{i}号商贸有限公司"), "日用百货销售"),
            2 => (format!("汉阴{i}号咨询有限公司"), "网络借贷信息中介服务"),
            _ => (format!("汉阴{i}号农业科技有限公司"), "农产品种植、销售"),
        };
        let county = if i % 2 == 0 { "610902" } else { "610921" };
        let code = match i % 7 {
            5 => String::new(),
            6 => format!("91{county}MA70{i:05}X"),
            _ => valid_code(&format!("91{county}MA70{i:05}")),
        };
        s.push_str(&format!("{name},{code},{scope}\n"));
    }
    s
}

/// Opens the registry store in `dir`, waiting for a handle just dropped
/// (sled releases the directory a moment after).
fn open_store(dir: &Path) -> RegistryStore {
    for _ in 0..100 {
        if let Ok(s) = RegistryStore::open(dir) {
            return s;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    RegistryStore::open(dir).expect("open the registry store")
}

/// Every stored company key, checking none is stored twice.
fn stored_keys(dir: &Path) -> BTreeSet<String> {
    let store = open_store(dir);
    let mut keys = BTreeSet::new();
    for c in store.companies() {
        let (company, _) = c.expect("read a stored company");
        assert!(
            keys.insert(company.key.clone()),
            "{} stored twice",
            company.key
        );
    }
    keys
}

fn number_before(text: &str, what: &str) -> u64 {
    let re = regex::Regex::new(&format!(r"(\d+) {}", regex::escape(what))).unwrap();
    re.captures(text)
        .unwrap_or_else(|| panic!("{what:?} in {text}"))[1]
        .parse()
        .unwrap()
}

fn options(inputs: &[&Path]) -> RegistryScanOptions {
    RegistryScanOptions {
        inputs: inputs.iter().map(|p| p.to_path_buf()).collect(),
        ..RegistryScanOptions::default()
    }
}

#[test]
fn a_library_scan_counts_and_stores_what_the_binary_does() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.csv");
    // several batches of 1,024 records, so the threads reorder them
    std::fs::write(&file, registry_csv(5000)).unwrap();
    let (cli_db, lib_db) = (dir.path().join("cli"), dir.path().join("lib"));

    let out = Command::new(BIN)
        .args(["registry", "scan", "--json", "--db"])
        .arg(&cli_db)
        .arg(&file)
        .env_remove("FINSCAN_RULES")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let flagged_lines = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("\"flagged\":true"))
        .count() as u64;

    let mut store = open_store(&lib_db);
    let report = scan_registry(
        &options(&[&file]),
        Some(&mut store),
        &mut NoSink,
        &Cancel::new(),
    )
    .unwrap();
    drop(store);

    assert_eq!(report.files, number_before(&err, "file(s),"));
    assert_eq!(report.records, number_before(&err, "record(s):"));
    assert_eq!(report.records, 5000);
    assert_eq!(report.flagged, number_before(&err, "flagged"));
    assert_eq!(report.flagged, flagged_lines);
    assert_eq!(report.invalid_codes, number_before(&err, "invalid,"));
    assert_eq!(report.missing_codes, number_before(&err, "missing,"));
    assert_eq!(report.stored_new, number_before(&err, "new,"));
    assert_eq!(
        report.by_rank.name_and_activity,
        number_before(&err, "name+activity")
    );
    assert_eq!(report.outcome, Outcome::Hits);
    assert!(!report.cancelled);
    // the same companies in both databases
    let keys = stored_keys(&lib_db);
    assert_eq!(keys.len() as u64, report.stored_new);
    assert_eq!(keys, stored_keys(&cli_db));
}

/// Cancels the scan once `after` records went by.
struct CancelAfter {
    cancel: Cancel,
    after: u64,
    seen: u64,
}

impl RecordSink for CancelAfter {
    fn record(&mut self, _: &str, _: &Record, _: &RecordScan) -> std::io::Result<()> {
        self.seen += 1;
        Ok(())
    }

    fn progress(&mut self, p: &ScanProgress) {
        if p.records >= self.after {
            self.cancel.cancel();
        }
    }
}

#[test]
fn a_cancelled_scan_keeps_what_it_stored_and_a_rerun_completes_it_without_doubles() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.csv");
    let total = 30_000;
    std::fs::write(&file, registry_csv(total)).unwrap();
    let opts = RegistryScanOptions {
        // one worker: at most four batches in flight when the cancel comes
        threads: Some(1),
        ..options(&[&file])
    };
    let db = dir.path().join("db");

    let cancel = Cancel::new();
    let mut sink = CancelAfter {
        cancel: cancel.clone(),
        after: 2048,
        seen: 0,
    };
    let mut store = open_store(&db);
    let first = scan_registry(&opts, Some(&mut store), &mut sink, &cancel).unwrap();
    drop(store);
    assert!(first.cancelled);
    assert_eq!(first.outcome, Outcome::Cancelled);
    assert!(
        first.records >= 2048 && first.records < total as u64 / 2,
        "stopped part way: {} of {total}",
        first.records
    );
    assert_eq!(
        sink.seen, first.records,
        "every record counted reached the sink"
    );
    // what was counted as stored is in the database, flushed
    let kept = stored_keys(&db);
    assert!(first.stored_new > 0);
    assert_eq!(kept.len() as u64, first.stored_new);

    let mut store = open_store(&db);
    let second = scan_registry(&opts, Some(&mut store), &mut NoSink, &Cancel::new()).unwrap();
    drop(store);
    assert!(!second.cancelled);
    assert_eq!(second.records, total as u64);
    assert_eq!(second.stored_updated, first.stored_new, "{second:?}");

    // the same companies as one uninterrupted scan
    let whole_db = dir.path().join("whole");
    let mut store = open_store(&whole_db);
    let whole = scan_registry(&opts, Some(&mut store), &mut NoSink, &Cancel::new()).unwrap();
    drop(store);
    assert_eq!(first.stored_new + second.stored_new, whole.stored_new);
    let completed = stored_keys(&db);
    assert!(kept.is_subset(&completed));
    assert_eq!(completed, stored_keys(&whole_db));
}

#[test]
fn a_scan_cancelled_before_it_starts_reads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.csv");
    std::fs::write(&file, registry_csv(10)).unwrap();
    let cancel = Cancel::new();
    cancel.cancel();
    let report = scan_registry(&options(&[&file]), None, &mut NoSink, &cancel).unwrap();
    assert_eq!((report.files, report.records), (0, 0));
    assert_eq!(report.outcome, Outcome::Cancelled);
}

#[test]
fn the_report_ranks_findings_sums_counties_and_locates_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("records.csv");
    std::fs::write(&csv, registry_csv(40)).unwrap();
    let jsonl = dir.path().join("more.jsonl");
    std::fs::write(
        &jsonl,
        format!(
            "{{\"企业名称\":\"平利县理财中心\",\"经营范围\":\"理财咨询\"}}\n{}\n",
            format_args!("{{\"企业名称\":\"{}\"}}", "理".repeat(700_000))
        ),
    )
    .unwrap();
    let missing = dir.path().join("missing.csv");
    let opts = RegistryScanOptions {
        keep_findings: 5,
        ..options(&[&csv, &missing, &jsonl])
    };
    let report = scan_registry(&opts, None, &mut NoSink, &Cancel::new()).unwrap();
    assert_eq!(report.outcome, Outcome::Partial);
    assert_eq!((report.files, report.files_failed), (2, 1));
    assert_eq!(report.row_errors, 1);
    // the skipped file, then the bad row, in input order, each located
    let where_: Vec<(String, Option<u64>)> = report
        .errors
        .iter()
        .map(|e| (e.source.clone(), e.line))
        .collect();
    assert_eq!(
        where_,
        [
            (missing.display().to_string(), None),
            (jsonl.display().to_string(), Some(2)),
        ]
    );
    // the most urgent first, at most keep_findings
    assert_eq!(report.findings.len(), 5);
    assert!(
        report
            .findings
            .iter()
            .all(|f| f.rank == Rank::NameAndActivity)
    );
    assert_eq!(report.findings[0].line, 2, "file order within a rank");
    // counties: most flagged first, every record counted once
    let scanned: u64 = report.counties.iter().map(|c| c.scanned).sum();
    assert_eq!(scanned, report.records);
    assert!(
        report
            .counties
            .windows(2)
            .all(|w| w[0].flagged >= w[1].flagged)
    );
    assert!(
        report
            .counties
            .iter()
            .any(|c| c.code.as_deref() == Some("610902") && c.label.contains("汉滨"))
    );
    assert!(report.terms[0].records >= report.terms.last().unwrap().records);
    // and it is what a scheduler stores
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outcome"], "partial");
    assert_eq!(
        json["by_rank"]["name+activity"],
        report.by_rank.name_and_activity
    );
    assert_eq!(json["findings"][0]["rank"], "name+activity");
}

#[test]
fn options_come_from_a_job_table_and_bad_values_are_refused() {
    let opts: RegistryScanOptions =
        toml::from_str("inputs = [\"/data/registry\"]\ncounty = \"6109\"\n").unwrap();
    assert_eq!(opts.inputs, [Path::new("/data/registry")]);
    assert!(
        opts.licensed,
        "the default list of licensed institutions is on"
    );
    let e = toml::from_str::<RegistryScanOptions>("input = [\"/data\"]\n").unwrap_err();
    assert!(e.to_string().contains("input"), "{e}");
    // bad values are refused where they are written
    for (table, says) in [
        ("inputs = []\ncounty = \"61x\"\n", "county \"61x\""),
        ("inputs = []\nformat = \"pdf\"\n", "unknown format \"pdf\""),
        ("inputs = []\nencoding = \"klingon\"\n", "unknown encoding"),
        (
            "inputs = []\ncolumns = [\"name\"]\n",
            "expected FIELD=HEADER",
        ),
    ] {
        let e = toml::from_str::<RegistryScanOptions>(table)
            .unwrap_err()
            .to_string();
        assert!(e.contains("line 2") && e.contains(says), "{table}: {e}");
    }

    let bad = |opts: RegistryScanOptions| RegistryScan::new(&opts).unwrap_err();
    assert!(matches!(
        bad(RegistryScanOptions {
            county: Some("61x".into()),
            ..RegistryScanOptions::default()
        }),
        RegistryScanError::County(_)
    ));
    assert!(matches!(
        bad(RegistryScanOptions {
            format: Some("pdf".into()),
            ..RegistryScanOptions::default()
        }),
        RegistryScanError::Format(_)
    ));
    let e = bad(RegistryScanOptions {
        allowlist: Some("/nonexistent/allow.txt".into()),
        ..RegistryScanOptions::default()
    });
    assert!(
        e.to_string().contains("/nonexistent/allow.txt"),
        "names the file: {e}"
    );
}

#[test]
fn a_folder_is_scanned_for_its_record_files_in_path_order() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("exports");
    std::fs::create_dir_all(folder.join("2024")).unwrap();
    std::fs::write(
        folder.join("b.csv"),
        "企业名称,经营范围\n安康鑫源理财有限公司,投资理财\n",
    )
    .unwrap();
    std::fs::write(
        folder.join("2024").join("a.jsonl"),
        "{\"企业名称\":\"汉阴县网贷服务部\",\"经营范围\":\"网络借贷\"}\n",
    )
    .unwrap();
    // not records: left alone
    std::fs::write(folder.join("README.md"), "# exports\n").unwrap();
    std::fs::write(folder.join("~$b.xlsx"), "lock").unwrap();
    std::fs::write(folder.join(".b.csv.swp"), "swap").unwrap();

    let out = Command::new(BIN)
        .args(["registry", "scan", "--no-store", "--json"])
        .arg(&folder)
        .env_remove("FINSCAN_RULES")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("2 file(s), 2 record(s): 2 flagged"), "{err}");
    assert!(err.contains("0 file(s) skipped"), "{err}");
    let sources: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["source"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        sources,
        [
            folder.join("2024").join("a.jsonl").display().to_string(),
            folder.join("b.csv").display().to_string(),
        ]
    );
}

/// Records every call, in order.
#[derive(Default)]
struct Log(Vec<String>);

impl RecordSink for Log {
    fn file_opened(
        &mut self,
        source: &str,
        _: &[finscan::registry::import::Column],
    ) -> std::io::Result<()> {
        self.0.push(format!("open {source}"));
        Ok(())
    }

    fn row_failed(&mut self, source: &str, e: &RowError) -> std::io::Result<()> {
        self.0.push(format!("row {source}:{}", e.line));
        Ok(())
    }

    fn record(&mut self, source: &str, rec: &Record, _: &RecordScan) -> std::io::Result<()> {
        self.0.push(format!("record {source}:{}", rec.line));
        Ok(())
    }
}

#[test]
fn the_sink_sees_files_and_records_in_file_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.csv");
    std::fs::write(&a, registry_csv(3000)).unwrap();
    let b = dir.path().join("b.csv");
    std::fs::write(&b, registry_csv(2)).unwrap();
    let mut log = Log::default();
    let opts = RegistryScanOptions {
        threads: Some(4),
        ..options(&[&a, &b])
    };
    scan_registry(&opts, None, &mut log, &Cancel::new()).unwrap();
    let mut expected = vec![format!("open {}", a.display())];
    expected.extend((2..3002).map(|l| format!("record {}:{l}", a.display())));
    expected.push(format!("open {}", b.display()));
    expected.extend((2..4).map(|l| format!("record {}:{l}", b.display())));
    assert_eq!(log.0, expected);
}
