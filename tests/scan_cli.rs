//! `finscan scan` and `finscan rules` through the real binary.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn finscan() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_finscan"));
    c.env_remove("FINSCAN_RULES");
    c
}

fn run(args: &[&str]) -> Output {
    finscan().args(args).output().expect("run finscan")
}

fn json_lines(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

/// What a scan of `path` with `args` reports, hit by hit, for comparing two
/// reads of the same content: each hit's start and end, those at or after
/// `from` moved back by `shift`, and its `fields` as JSON text. The scan
/// must find hits (exit 1).
fn shifted_hits(
    args: &[&str],
    path: &str,
    from: usize,
    shift: usize,
    fields: &[&str],
) -> Vec<(u64, u64, Vec<String>)> {
    let out = run(&[args, &[path]].concat());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    json_lines(&out)
        .iter()
        .map(|h| {
            let at = |k: &str| {
                let v = h[k].as_u64().unwrap();
                if v >= from as u64 {
                    v - shift as u64
                } else {
                    v
                }
            };
            let fields = fields.iter().map(|f| h[*f].to_string()).collect();
            (at("start"), at("end"), fields)
        })
        .collect()
}

#[test]
fn json_lines_carry_the_documented_keys_and_exit_code_is_1_on_hits() {
    let dir = tempfile::tempdir().unwrap();
    let page = write(
        dir.path(),
        "p.html",
        "<p>本平台承诺保本保息，设立资金池。</p><p>资金池统一调配</p>".as_bytes(),
    );
    let out = run(&["scan", "--json", &page]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hits = json_lines(&out);
    assert!(hits.len() >= 2, "{hits:?}");
    for h in &hits {
        for key in [
            "source", "rule", "category", "term", "matched", "start", "end", "snippet", "basis",
        ] {
            assert!(h.get(key).is_some(), "missing {key} in {h}");
        }
        assert_eq!(h["source"], page.as_str());
    }
    assert!(hits.iter().any(|h| h["category"] == "guaranteed-return"));
    let pool = hits
        .iter()
        .find(|h| h["term"] == "资金池")
        .expect("fund pool hit");
    assert_eq!(
        pool["repeats"], 1,
        "the second 资金池 is counted, not reported again: {pool}"
    );
}

#[test]
fn clean_input_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let page = write(
        dir.path(),
        "clean.txt",
        "今天天气很好，我们去公园散步。".as_bytes(),
    );
    let out = run(&["scan", &page]);
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
}

#[test]
fn gbk_page_offsets_slice_the_raw_gbk_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let html = "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gb2312\"><title>某某财富</title></head>\
                <body><div>本平台<b>保本</b>保息，年化收益率高达18%，资金池管理。</div></body></html>";
    let (raw, _, _) = encoding_rs::GBK.encode(html);
    let page = write(dir.path(), "gbk.html", &raw);
    let out = run(&["scan", "--json", &page]);
    let hits = json_lines(&out);
    assert!(hits.len() >= 3, "{hits:?}");
    for h in &hits {
        let (s, e) = (
            h["start"].as_u64().unwrap() as usize,
            h["end"].as_u64().unwrap() as usize,
        );
        let evidence = encoding_rs::GBK.decode_without_bom_handling(&raw[s..e]).0;
        assert_eq!(evidence, h["matched"].as_str().unwrap());
        assert_eq!(h["charset"], "GBK");
    }
    let g = hits
        .iter()
        .find(|h| h["term"] == "保本保息")
        .expect("保本保息 across <b>");
    assert_eq!(g["matched"], "保本</b>保息");
    let y = hits
        .iter()
        .find(|h| h["annual_rate"].is_number())
        .expect("yield hit");
    assert_eq!(y["annual_rate"], 18.0);
}

#[test]
fn big5_traditional_page_is_decoded_and_converted() {
    let dir = tempfile::tempdir().unwrap();
    let html = "<meta charset=\"big5\"><p>穩健理財，承諾保本保息，設立資金池</p>";
    let (raw, _, _) = encoding_rs::BIG5.encode(html);
    let page = write(dir.path(), "big5.html", &raw);
    let hits = json_lines(&run(&["scan", "--json", &page]));
    let h = hits
        .iter()
        .find(|h| h["term"] == "资金池")
        .expect("資金池 found as 资金池");
    assert_eq!(h["matched"], "資金池");
    assert!(
        h["normalizations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "traditional")
    );
}

/// `--explain` shows every candidate with the reason it was kept or
/// dropped: a negation, a quoted pitch with a reporting word, a page in a
/// police notice's voice.
#[test]
fn explain_shows_why_each_candidate_was_kept_or_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let offer = write(
        dir.path(),
        "offer.txt",
        "某某贷 出借人专区\n本平台不承诺保本保息。\n客服总说“公司兜底，亏了算我们的”，大家别信。\n逾期由平台先行垫付本息。\n"
            .as_bytes(),
    );
    let police = write(
        dir.path(),
        "police.txt",
        "【警方提示】警惕以高息为诱饵的非法集资\n“逾期由平台先行垫付本息”是常见说辞。\n".as_bytes(),
    );
    let out = run(&["scan", "--json", "--explain", &offer, &police]);
    assert_eq!(out.status.code(), Some(1));
    let lines = json_lines(&out);
    let of = |file: &str, kind: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["source"].as_str().unwrap().ends_with(file) && l["kind"] == kind)
            .collect()
    };
    // the offer: the description is kept, with what matched
    let kept = of("offer.txt", "hit");
    assert!(
        kept.iter()
            .any(|h| h["rule"] == "page.guarantee.default-covered"
                && h["reason"]["code"] == "promotion"
                && h["reason"]["detail"].as_str().unwrap().contains("先行垫付")),
        "{kept:?}"
    );
    let dropped = of("offer.txt", "dropped");
    let reason_of = |text: &str| -> Vec<String> {
        dropped
            .iter()
            .filter(|d| d["matched"].as_str().unwrap().contains(text))
            .map(|d| d["reason"]["code"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(
        reason_of("保本保息").contains(&"cue".to_owned()),
        "{dropped:?}"
    );
    assert!(
        reason_of("兜底").contains(&"quoted".to_owned()),
        "{dropped:?}"
    );
    // the police notice: nothing kept, every candidate dropped for its voice
    assert!(of("police.txt", "hit").is_empty());
    let notice = of("police.txt", "dropped");
    assert!(!notice.is_empty());
    assert!(
        notice.iter().all(|d| d["reason"]["code"] == "page-voice"),
        "{notice:?}"
    );
    // the human form names the reason too
    let human = run(&["scan", "--explain", &offer]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains("dropped") && text.contains("(quoted: report"),
        "{text}"
    );
}

/// Words that only name a financial business are not hits but the page's
/// activity profile, printed by `--activities` with the evidence as
/// written (evasions seen through as for hits).
#[test]
fn activities_are_a_profile_not_hits() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "p.html",
        "<p>全新Ｐ２Ｐ平台上线，穩健理財產品，网络借贷信息中介</p>".as_bytes(),
    );
    let out = run(&[
        "scan",
        "--json",
        "--activities",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "no hits: activity is not a violation"
    );
    let lines = json_lines(&out);
    assert!(lines.iter().all(|l| l["kind"] == "activity"), "{lines:?}");
    let lending = lines
        .iter()
        .find(|l| l["activity"] == "lending")
        .expect("lending activity");
    assert_eq!(lending["matched"], "Ｐ２Ｐ");
    assert_eq!(lending["count"], 3);
    let wealth = lines
        .iter()
        .find(|l| l["activity"] == "wealth-management")
        .expect("wealth activity");
    assert_eq!(wealth["matched"], "理財");
    // the human form: one line per document
    let human = run(&["scan", "--activities", dir.path().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("activities: lending ×3"), "{text}");
}

#[test]
fn evasions_are_found_and_reported_as_such() {
    // one evasion per page: on one page, later spellings of a rule term would
    // be counted as repeats of the first hit
    let dir = tempfile::tempdir().unwrap();
    let pages = [
        "<p>承诺保 本 保 息</p>",
        "<p>保*本*保*息</p>",
        "<p>资&#8203;金池</p>",
        "<p>設立資金池</p>",
        "<p>采用ＨＯＭＳ系统分仓</p>",
        "<p>穩賺不賠</p>",
    ];
    for (i, p) in pages.iter().enumerate() {
        write(dir.path(), &format!("evasive{i}.html"), p.as_bytes());
    }
    let hits = json_lines(&run(&["scan", "--json", dir.path().to_str().unwrap()]));
    let matched: Vec<&str> = hits
        .iter()
        .map(|h| h["matched"].as_str().unwrap())
        .collect();
    assert!(
        matched.iter().any(|m| m.contains("保 本 保 息")),
        "{matched:?}"
    );
    assert!(
        matched.iter().any(|m| m.contains("保*本*保*息")),
        "{matched:?}"
    );
    assert!(
        matched.iter().any(|m| m.contains("资&#8203;金池")),
        "{matched:?}"
    );
    assert!(matched.iter().any(|m| m.contains("資金池")), "{matched:?}");
    assert!(
        matched.iter().any(|m| m.contains("ＨＯＭＳ")),
        "{matched:?}"
    );
    assert!(
        matched.iter().any(|m| m.contains("穩賺不賠")),
        "{matched:?}"
    );
    let wide = hits
        .iter()
        .find(|h| h["matched"].as_str().unwrap().contains("ＨＯＭＳ"))
        .unwrap();
    let norms: Vec<&str> = wide["normalizations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        norms.contains(&"width") && norms.contains(&"case"),
        "{norms:?}"
    );
    let noisy = hits
        .iter()
        .find(|h| h["matched"].as_str().unwrap().contains("保 本 保 息"))
        .unwrap();
    assert!(
        noisy["normalizations"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == "noise")
    );
}

#[test]
fn negations_and_boundaries_produce_no_hits() {
    let dir = tempfile::tempdir().unwrap();
    let page = write(
        dir.path(),
        "negatives.html",
        "<p>本产品不保本。</p><p>监管部门严禁承诺保本保息。</p><p>平台不得设立资金池。</p>\
         <p>为确保本次活动顺利进行。</p><p>合理分配资金。</p>"
            .as_bytes(),
    );
    let out = run(&["scan", "--json", &page]);
    let hits = json_lines(&out);
    assert!(hits.is_empty(), "{hits:#?}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn yield_threshold_flag_changes_what_is_flagged() {
    let dir = tempfile::tempdir().unwrap();
    let page = write(
        dir.path(),
        "y.txt",
        "产品A年化收益率8.5%，产品B月息2分，产品C日息0.1%".as_bytes(),
    );
    let default = json_lines(&run(&["scan", "--json", &page]));
    let rates: Vec<f64> = default
        .iter()
        .filter_map(|h| h["annual_rate"].as_f64())
        .collect();
    assert_eq!(rates.len(), 2, "{default:?}");
    let low = json_lines(&run(&["scan", "--json", "--yield-threshold", "5", &page]));
    assert_eq!(
        low.iter().filter(|h| h["annual_rate"].is_number()).count(),
        3
    );
    let bad = run(&["scan", "--yield-threshold", "abc", &page]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn directories_recurse_and_unreadable_or_binary_files_are_skipped_with_exit_3() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(dir.path(), "sub/a.html", "<p>承诺保本保息</p>".as_bytes());
    write(dir.path(), "b.bin", b"\x00\x01\x02PNG\x00");
    let missing = dir.path().join("missing.html").display().to_string();
    let out = run(&["scan", "--json", dir.path().to_str().unwrap(), &missing]);
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("b.bin") && stderr.contains("binary"),
        "{stderr}"
    );
    assert!(stderr.contains("missing.html"), "{stderr}");
    let hits = json_lines(&out);
    assert!(
        hits.iter()
            .any(|h| h["source"].as_str().unwrap().ends_with("a.html"))
    );
}

#[test]
fn symlink_loops_are_entered_once() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    write(dir.path(), "sub/a.html", "<p>承诺保本保息</p>".as_bytes());
    std::os::unix::fs::symlink("..", dir.path().join("sub/up")).unwrap();
    std::os::unix::fs::symlink(".", dir.path().join("sub/here")).unwrap();
    let out = run(&["scan", "--json", dir.path().to_str().unwrap()]);
    assert_eq!(
        json_lines(&out).len(),
        1,
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn stdin_is_scanned_with_dash() {
    let mut child = finscan()
        .args(["scan", "--json", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all("承诺保本保息".as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let hits = json_lines(&out);
    assert_eq!(hits.len(), 1, "{hits:?}");
    assert_eq!(hits[0]["source"], "-");
    let input = "承诺保本保息";
    let (s, e) = (
        hits[0]["start"].as_u64().unwrap() as usize,
        hits[0]["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(&input[s..e], hits[0]["matched"].as_str().unwrap());
    assert!(hits[0]["matched"].as_str().unwrap().contains("保本保息"));
}

#[test]
fn human_output_highlights_the_match_in_its_snippet() {
    let dir = tempfile::tempdir().unwrap();
    let page = write(
        dir.path(),
        "h.txt",
        "欢迎来到本平台，承诺保本保息，安全可靠".as_bytes(),
    );
    let out = run(&["scan", &page]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("保本保息】"), "{text}");
    assert!(text.contains("guaranteed-return"));
}

#[test]
fn rules_check_reports_file_and_line_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "bad.toml",
        "[[rule]]\nid = \"x.a\"\ncategory = \"fund-pool\"\nfields = [\"page\"]\nseverity = \"high\"\nbasis = \"b\"\nterms = []\n\n\
         [[rule]]\nid = \"x.a\"\ncategory = \"fund-pool\"\nfields = [\"page\"]\nseverity = \"high\"\nbasis = \"b\"\nterms = [\"资金池\"]\n"
            .as_bytes(),
    );
    let out = run(&["rules", "check", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml:1: rule x.a: `terms` is empty"),
        "{err}"
    );
    assert!(
        err.contains("bad.toml:9: duplicate rule id \"x.a\""),
        "{err}"
    );
    // the same bad directory makes scan fail before scanning
    let page = write(dir.path(), "p.txt", b"x");
    assert_eq!(
        run(&["scan", "--rules", dir.path().to_str().unwrap(), &page])
            .status
            .code(),
        Some(2)
    );
}

/// The descriptive form's mistakes, each at its file and line, all in one
/// run: an unknown group, an unmatchable part, a window out of range.
#[test]
fn rules_check_reports_pattern_errors_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "groups.toml",
        "[[group]]\nname = \"payer\"\nterms = [\"平台\"]\n".as_bytes(),
    );
    write(
        dir.path(),
        "patterns.toml",
        "[[pattern]]\nid = \"page.t.a\"\ncategory = \"fund-pool\"\nseverity = \"high\"\nbasis = \"b\"\n\
         max_chars = 500\nparts = [\n  [\"@payer\"],\n  [\"@payee\"],\n  [\"资金，池\"],\n]\n"
            .as_bytes(),
    );
    let out = run(&["rules", "check", "--rules", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    for want in [
        "patterns.toml:1: pattern page.t.a: max_chars = 500 is out of range 1..=200",
        "patterns.toml:9: pattern page.t.a, part 2: unknown group @payee",
        "patterns.toml:10: pattern page.t.a, part 3: term \"资金，池\" contains clause punctuation",
    ] {
        assert!(err.contains(want), "{want} not in {err}");
    }
    // a group from another file of the directory is known
    assert!(!err.contains("@payer"), "{err}");
}

#[test]
fn bundled_rules_check_list_and_terms() {
    let out = run(&["rules", "check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let list = run(&["rules", "list", "--json"]);
    let rules = json_lines(&list);
    assert!(rules.iter().any(|r| r["id"] == "page.high-yield"));
    // every rule that reports anything says which clause forbids it;
    // activity words report nothing
    assert!(
        rules
            .iter()
            .filter(|r| r["kind"] != "activity")
            .all(|r| r["basis"].as_str().is_some_and(|b| !b.is_empty()))
    );
    for kind in ["term", "pattern", "activity", "yield"] {
        assert!(
            rules.iter().any(|r| r["kind"] == kind),
            "no {kind} in the listing"
        );
    }
    let pattern = rules
        .iter()
        .find(|r| r["id"] == "page.guarantee.default-covered")
        .unwrap();
    assert_eq!(pattern["within"], "sentence");
    assert!(
        pattern["parts"][0]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "逾期")
    );
    let terms = String::from_utf8(run(&["rules", "terms", "--field", "page"]).stdout).unwrap();
    assert!(terms.lines().any(|t| t == "保本保息"));
    assert!(
        !terms.lines().any(|t| t == "支付"),
        "name words are not page terms"
    );
}

/// A file over the windowing threshold (one line of 33 MB, no paragraph
/// break) is read in windows; its hits and byte offsets are those of the
/// same content read whole (a small file with the filler left out, its
/// offsets shifted by the filler's length).
#[test]
fn a_large_single_line_file_has_the_hits_and_offsets_of_a_whole_read() {
    let dir = tempfile::tempdir().unwrap();
    let head = "本平台承诺保本保息，预期年化收益率高达18%，平台设立资金池统一调配。网络借贷平台的理财产品。";
    let tail = "借款逾期由平台先行垫付。新用户注册送888元体验金。监管部门明确要求不得设立资金池。";
    let sentence = "今天天气很好，我们一起去公园散步，看看湖边的风景。";
    let n = finscan::scan::window::WINDOWED_ABOVE / sentence.len() + 1000;
    let filler = sentence.repeat(n);
    let big = write(
        dir.path(),
        "big.txt",
        format!("{head}{filler}{tail}").as_bytes(),
    );
    let small = write(dir.path(), "small.txt", format!("{head}{tail}").as_bytes());
    // the rule's kind, the match and how often it repeats (`count` for
    // activities)
    let fields = ["kind", "rule", "matched", "repeats", "count"];
    let keys = |path: &str, shift: usize| {
        shifted_hits(
            &["scan", "--json", "--activities"],
            path,
            head.len(),
            shift,
            &fields,
        )
    };
    let whole = keys(&small, 0);
    assert!(whole.len() >= 6, "{whole:?}");
    assert_eq!(keys(&big, filler.len()), whole);
}

/// A `<script>` longer than a window (33 MB, over the windowing threshold)
/// is never cut inside: a cut there made the window after it read the
/// script's `<p>` strings as paragraphs, with hits a whole read does not
/// have (main before this fix: three hits inside the script). Its hits,
/// offsets and snippets are those of the same page with a short script,
/// read whole, the offsets after the script shifted by the difference.
#[test]
fn a_script_longer_than_a_window_is_never_read_as_text() {
    let dir = tempfile::tempdir().unwrap();
    let paragraphs = |from: usize, to: usize| -> String {
        (from..to)
            .map(|i| {
                format!(
                    "<p>第{i}段，今天天气很好，本平台承诺保本保息，预期年化收益率高达18%。</p>\n"
                )
            })
            .collect()
    };
    let (before, after) = (paragraphs(0, 300), paragraphs(300, 600));
    // read as text, each line of the script is a promotion
    let line = "document.write('<p>本平台设立资金池统一调配，稳赚不赔</p>');\n";
    let long = line.repeat(finscan::scan::window::WINDOWED_ABOVE / line.len() + 1000);
    let short = line.repeat(10);
    let page = |script: &str| {
        format!("<html><body>{before}<script>{script}</script>{after}</body></html>")
    };
    let big = write(dir.path(), "big.html", page(&long).as_bytes());
    let small = write(dir.path(), "small.html", page(&short).as_bytes());
    let script_at = "<html><body>".len() + before.len() + "<script>".len();
    let fields = ["rule", "matched", "snippet", "repeats"];
    let keys = |path: &str, shift: usize| {
        shifted_hits(&["scan", "--json"], path, script_at, shift, &fields)
    };
    let whole = keys(&small, 0);
    // the repeated promise, and a stated yield in each paragraph
    assert!(whole.len() > 600, "{}", whole.len());
    assert!(
        whole
            .iter()
            .all(|k| k.0 < script_at as u64 || k.0 >= (script_at + short.len()) as u64)
    );
    assert_eq!(keys(&big, long.len() - short.len()), whole);
}
