//! One set of CLI conventions (issue 13, items 7–11), through the binary:
//! times, validation, exit codes, the JSON vocabulary, colour.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use serde_json::Value;

fn finscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finscan"));
    for v in [
        "FINSCAN_RULES",
        "FINSCAN_DB",
        "TZ",
        "NO_COLOR",
        "CLICOLOR",
        "CLICOLOR_FORCE",
        "FINSCAN_LOG",
    ] {
        c.env_remove(v);
    }
    c
}

fn run(args: &[&str]) -> Output {
    finscan().args(args).output().expect("run finscan")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json_lines(o: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// A database filled by `finscan demo` once for all tests of this file.
fn demo_db() -> &'static Path {
    static DB: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DB.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        let out = run(&["demo", "--db", db.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(0), "demo: {}", stderr(&out));
        (dir, db)
    })
    .1
}

fn db() -> &'static str {
    demo_db().to_str().unwrap()
}

/// sled lets one process open a database at a time: the tests that read the
/// shared demo database take turns.
fn turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|e| e.into_inner())
}

/// Whether `s` is RFC 3339 with an explicit numeric offset (`+08:00`).
fn has_offset(s: &str, offset: &str) -> bool {
    s.len() == 25 && s.as_bytes()[10] == b'T' && s.ends_with(offset)
}

#[test]
fn demo_exits_0_when_it_ran() {
    let _turn = turn();
    demo_db();
}

#[test]
fn json_times_carry_the_readers_offset() {
    let _turn = turn();
    for (args, offset) in [
        (vec![], "+08:00"),
        (vec!["--tz", "UTC"], "+00:00"),
        (vec!["--tz", "Europe/Berlin"], "+01:00"),
    ] {
        for cmd in [["pages", "list"], ["hits", "list"]] {
            let mut a = vec![cmd[0], cmd[1], "--db", db(), "--json"];
            a.extend(&args);
            let out = run(&a);
            assert_eq!(out.status.code(), Some(0), "{a:?}: {}", stderr(&out));
            let rows = json_lines(&out);
            assert!(!rows.is_empty(), "{a:?}");
            for r in rows {
                for key in ["fetched_at", "first_seen", "last_seen"] {
                    if let Some(t) = r.get(key) {
                        let t = t
                            .as_str()
                            .unwrap_or_else(|| panic!("{key} not a string: {r}"));
                        assert!(has_offset(t, offset), "{a:?} {key} = {t}");
                    }
                }
            }
        }
    }
}

#[test]
fn tz_from_the_environment_and_a_bad_zone() {
    let _turn = turn();
    let out = finscan()
        .env("TZ", "UTC")
        .args(["pages", "list", "--db", db(), "--json"])
        .output()
        .unwrap();
    let rows = json_lines(&out);
    assert!(has_offset(
        rows[0]["fetched_at"].as_str().unwrap(),
        "+00:00"
    ));
    let out = run(&["pages", "list", "--db", db(), "--tz", "Mars/Olympus"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("Mars/Olympus"), "{}", stderr(&out));
}

#[test]
fn since_and_until_are_instants() {
    let _turn = turn();
    let all = json_lines(&run(&["pages", "list", "--db", db(), "--json"])).len();
    assert!(all > 0);
    // the demo ran today: a past date keeps everything, a future one nothing
    for (flag, value, expect_all) in [
        ("--since", "2016-10-13", true),
        ("--since", "2016-10-13T00:00:00+08:00", true),
        ("--until", "2016-10-13", false),
        ("--since", "2999-01-01T00:00:00Z", false),
        ("--until", "2999-01-01 08:00", true),
    ] {
        for cmd in [["pages", "list"], ["hits", "list"]] {
            let out = run(&[cmd[0], cmd[1], "--db", db(), "--json", flag, value]);
            assert_eq!(
                out.status.code(),
                Some(0),
                "{cmd:?} {flag} {value}: {}",
                stderr(&out)
            );
            let n = json_lines(&out).len();
            if expect_all {
                assert!(n > 0, "{cmd:?} {flag} {value}");
            } else {
                assert_eq!(n, 0, "{cmd:?} {flag} {value}");
            }
        }
    }
}

#[test]
fn impossible_dates_are_refused_with_exit_2() {
    let _turn = turn();
    for bad in [
        "2024-02-30",
        "2023-02-29",
        "yesterday",
        "2024-01-01T25:00:00Z",
    ] {
        for cmd in [["pages", "list"], ["hits", "list"]] {
            let out = run(&[cmd[0], cmd[1], "--db", db(), "--since", bad]);
            assert_eq!(out.status.code(), Some(2), "{cmd:?} {bad}");
            assert!(stderr(&out).contains(bad), "{}", stderr(&out));
        }
    }
}

#[test]
fn enumerated_flags_list_their_values_and_refuse_others() {
    let _turn = turn();
    for (args, flag) in [
        (vec!["pages", "list"], "--state"),
        (vec!["hits", "list"], "--category"),
        (vec!["hits", "list"], "--severity"),
    ] {
        let mut a = args.clone();
        a.extend(["--db", db(), flag, "bogus"]);
        let out = run(&a);
        assert_eq!(out.status.code(), Some(2), "{a:?}");
        let err = stderr(&out);
        assert!(err.contains("possible values"), "{a:?}: {err}");
        let mut h = args.clone();
        h.push("--help");
        let help = String::from_utf8_lossy(&run(&h).stdout).into_owned();
        assert!(help.contains("possible values"), "{h:?}: {help}");
    }
}

#[test]
fn concurrency_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, "http://127.0.0.1:9/\n").unwrap();
    for flag in ["--concurrency", "--host-concurrency"] {
        let out = run(&[
            "crawl",
            "--seeds",
            seeds.to_str().unwrap(),
            "--db",
            dir.path().join("db").to_str().unwrap(),
            flag,
            "0",
        ]);
        assert_eq!(out.status.code(), Some(2), "{flag}");
        assert!(stderr(&out).contains(flag), "{}", stderr(&out));
    }
    assert!(!dir.path().join("db").exists());
}

#[test]
fn host_accepts_a_url() {
    let _turn = turn();
    let by_host: Vec<Value> = json_lines(&run(&["pages", "list", "--db", db(), "--json"]));
    let host = by_host[0]["host"].as_str().unwrap().to_string();
    let url = format!("http://{host}/some/page.html?x=1");
    let a = json_lines(&run(&[
        "pages",
        "list",
        "--db",
        db(),
        "--json",
        "--host",
        &host,
    ]));
    let b = json_lines(&run(&[
        "pages",
        "list",
        "--db",
        db(),
        "--json",
        "--host",
        &url,
    ]));
    assert!(!a.is_empty());
    assert_eq!(a.len(), b.len());
}

#[test]
fn read_commands_on_a_missing_database_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    let m = missing.to_str().unwrap();
    for args in [
        vec!["pages", "list", "--db", m],
        vec!["hits", "list", "--db", m],
        vec!["registry", "list", "--db", m],
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            stderr(&out).contains("no database"),
            "{args:?}: {}",
            stderr(&out)
        );
        assert!(!missing.exists(), "{args:?} created {m}");
    }
}

#[test]
fn exit_codes_follow_the_table() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let clean = dir.path().join("clean.txt");
    std::fs::write(&clean, "今天天气很好。").unwrap();
    let hit = dir.path().join("hit.txt");
    std::fs::write(&hit, "本平台承诺保本保息，年化收益18%。").unwrap();
    let c = clean.to_str().unwrap();
    let h = hit.to_str().unwrap();
    let missing = dir.path().join("missing.txt");
    for (args, code) in [
        (vec!["scan", c], 0),
        (vec!["scan", h], 1),
        (vec!["scan", c, missing.to_str().unwrap()], 3),
        (vec!["scan", "--yield-threshold", "abc", c], 2),
        (vec!["registry", "check", "91350100M000100Y43"], 0),
        (vec!["registry", "check", "91350100M000100Y44"], 1),
        (vec!["rules", "check"], 0),
        (vec!["pages", "list", "--db", db()], 0),
    ] {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn no_escape_sequences_off_a_terminal_colour_when_forced() {
    let _turn = turn();
    let dir = tempfile::tempdir().unwrap();
    let hit = dir.path().join("hit.txt");
    std::fs::write(&hit, "本平台承诺保本保息。").unwrap();
    let h = hit.to_str().unwrap();
    // piped: neither stdout nor stderr carries escapes, logs included
    let out = finscan()
        .env("FINSCAN_LOG", "finscan=debug")
        .args(["scan", h])
        .output()
        .unwrap();
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));
    assert!(String::from_utf8_lossy(&out.stdout).contains("【"));
    let out = finscan()
        .env("FINSCAN_LOG", "finscan=debug")
        .args(["pages", "list", "--db", db()])
        .output()
        .unwrap();
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));
    // a crawl's log lines on stderr (a refused connection logs warnings)
    let seeds = dir.path().join("seeds.txt");
    std::fs::write(&seeds, "http://127.0.0.1:9/\n").unwrap();
    let out = finscan()
        .env("FINSCAN_LOG", "finscan=debug")
        .args([
            "crawl",
            "--allow-private",
            "--retries",
            "0",
            "--backoff",
            "0.01",
        ])
        .args(["--seeds", seeds.to_str().unwrap()])
        .args(["--db", dir.path().join("db").to_str().unwrap()])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("WARN"));
    assert!(!out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b));
    // forced: the evidence is highlighted; NO_COLOR turns it off again
    let forced = finscan()
        .env("CLICOLOR_FORCE", "1")
        .args(["scan", h])
        .output()
        .unwrap();
    assert!(
        forced.stdout.contains(&0x1b),
        "CLICOLOR_FORCE=1 gave no colour"
    );
    let no = finscan()
        .env("NO_COLOR", "1")
        .args(["scan", h])
        .output()
        .unwrap();
    assert!(!no.stdout.contains(&0x1b));
}

#[test]
fn one_json_vocabulary_for_registry_scan_list_and_check() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("rows.csv");
    std::fs::write(
        &csv,
        "企业名称,统一社会信用代码,经营范围\n\
         安康某某投资管理有限公司,91350100M000100Y43,投资管理；理财咨询\n",
    )
    .unwrap();
    let db = dir.path().join("db");
    let (c, d) = (csv.to_str().unwrap(), db.to_str().unwrap());
    let scanned = json_lines(&run(&["registry", "scan", "--json", "--db", d, c]));
    let listed = json_lines(&run(&["registry", "list", "--json", "--db", d]));
    let checked = json_lines(&run(&["registry", "check", "--json", "91350100M000100Y43"]));
    assert_eq!((scanned.len(), listed.len(), checked.len()), (1, 1, 1));
    let (s, l) = (&scanned[0], &listed[0]);
    for key in [
        "source",
        "line",
        "name",
        "uscc",
        "uscc_valid",
        "county",
        "division",
        "division_tentative",
        "flagged",
        "allowlisted",
        "licensed",
        "rank",
    ] {
        assert_eq!(s.get(key), l.get(key), "{key}: scan {s} list {l}");
    }
    assert_eq!(s["source"], c);
    assert!(s["division"].is_object() && s["division"]["code"] == "350100");
    assert_eq!(checked[0]["division"], s["division"]);
    // hits: the same keys in both
    let keys = |v: &Value| {
        let mut k: Vec<String> = v["hits"][0].as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(s), keys(l));
    for t in ["first_seen", "last_scanned"] {
        assert!(has_offset(l[t].as_str().unwrap(), "+08:00"), "{t}: {l}");
    }
}
