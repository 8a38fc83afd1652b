//! `finscan crawl --profile`: registry pages on the web are crawled by the
//! real crawler, their records scanned like imported files and stored with
//! the companies of `finscan registry scan` (issue 4, item 5).

mod crawl_support;

use std::process::Command;

use crawl_support::*;

const PROFILE: &str = r#"
name = "test-registry"
url_patterns = ['^http://reg\.test:\d+/(list|company)/\d+$']
record = "table.co tbody tr, div.co"
next_page = "a.next"
follow = ["td.n a"]
[fields]
name = ".n"
uscc = ".c"
scope = { selector = "ul.s li", all = true }
"#;

fn registry_site(r: &Request) -> Response {
    match r.path() {
        "/robots.txt" => allow_all(),
        "/list/1" => html(
            r#"<table class="co"><tbody>
            <tr><td class="n"><a href="/company/1">安康鑫源理财咨询有限公司</a></td><td class="c">91610902MA70B5XK71</td></tr>
            <tr><td class="n">西安企业管理财务咨询有限公司</td><td class="c">91610113MA6X8W9U0</td></tr>
            </tbody></table><a class="next" href="/list/2">下一页</a>"#,
        ),
        "/list/2" => html(
            r#"<table class="co"><tbody>
            <tr><td class="n">陕西Ｐ２Ｐ网贷信息服务有限公司</td><td class="c">91610113MA6U5R2T3</td></tr>
            </tbody></table>"#,
        ),
        "/company/1" => html(
            r#"<div class="co"><h1 class="n">安康鑫源理财咨询有限公司</h1><span class="c">91610902MA70B5XK71</span>
            <ul class="s"><li>投资理财咨询</li><li>发放贷款</li></ul></div>"#,
        ),
        _ => Response::not_found(),
    }
}

fn companies(db: &std::path::Path) -> Vec<serde_json::Value> {
    let out = Command::new(BIN)
        .args(["registry", "list", "--json", "--db"])
        .arg(db)
        .env_remove("FINSCAN_DB")
        .output()
        .expect("run finscan registry list");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("JSON line");
            v
        })
        .collect()
}

#[test]
fn registry_pages_are_crawled_with_a_profile_and_their_companies_stored() {
    let srv = serve(registry_site);
    let s = Scratch::new();
    let profile = s.dir.path().join("profile.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let seed = url("reg.test", srv.port, "/list/1");
    let profile_arg = profile.to_str().unwrap();
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &["reg.test"],
        std::slice::from_ref(&seed),
        &["--profile", profile_arg],
    ));
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    // list 1 (2 records), list 2 (1), company 1 (1 record with its scope)
    assert_eq!(r.summary["registry_records"], 4, "{}", r.summary);
    let stored = companies(&s.db());
    let names: Vec<&str> = stored.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"安康鑫源理财咨询有限公司"), "{names:?}");
    assert!(
        names.contains(&"陕西Ｐ２Ｐ网贷信息服务有限公司"),
        "{names:?}"
    );
    assert!(
        !names.contains(&"西安企业管理财务咨询有限公司"),
        "管理|财务 is not 理财: a clean record is not stored: {names:?}"
    );
    // the list row and the detail page are one company (keyed by credit
    // code), attributed to its county; the detail page added its scope
    let xinyuan = stored
        .iter()
        .find(|c| c["name"] == "安康鑫源理财咨询有限公司")
        .unwrap();
    assert_eq!(
        stored
            .iter()
            .filter(|c| c["name"] == "安康鑫源理财咨询有限公司")
            .count(),
        1
    );
    assert_eq!(
        xinyuan["county"].as_str().map(|c| c.contains("汉滨")),
        Some(true),
        "{xinyuan}"
    );
    assert!(
        xinyuan["scope"].as_str().unwrap().contains("发放贷款"),
        "{xinyuan}"
    );
    assert_eq!(
        xinyuan["source"]
            .as_str()
            .map(|u| u.ends_with("/company/1")),
        Some(true),
        "{xinyuan}"
    );
    assert_eq!(
        r.summary["registry_flagged"].as_u64().map(|n| n >= 2),
        Some(true),
        "{}",
        r.summary
    );

    // a second crawl reads the pages again and updates, never duplicates
    let again = run(crawl_cmd(
        &s,
        srv.port,
        &["reg.test"],
        std::slice::from_ref(&seed),
        &["--profile", profile_arg, "--recrawl"],
    ));
    assert!(again.code == 0 || again.code == 1, "{}", again.stderr);
    assert_eq!(companies(&s.db()).len(), stored.len());
}

#[test]
fn a_bad_profile_is_a_clear_error_before_crawling() {
    let s = Scratch::new();
    let profile = s.dir.path().join("bad.toml");
    std::fs::write(&profile, "name = 1\n").unwrap();
    let r = run(crawl_cmd(
        &s,
        1,
        &["reg.test"],
        &[url("reg.test", 1, "/list/1")],
        &["--profile", profile.to_str().unwrap()],
    ));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("bad.toml"), "{}", r.stderr);
}
