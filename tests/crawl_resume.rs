//! Politeness under load, crash safety (SIGKILL mid-crawl, then resume) and
//! a clean stop on Ctrl-C, through the real binary.

mod crawl_support;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::time::{Duration, Instant};

use crawl_support::*;

/// [`chain_site`] whose pages also link back to the front page (a link
/// seen on every page, which the frontier must admit once).
fn site(r: &Request, n: usize) -> Response {
    chain_site(
        r,
        n,
        "<p>平台承诺保本保息，设立资金池</p><a href=\"/\">首页</a>",
        "<p>普通页面</p><a href=\"/\">首页</a>",
    )
}

#[test]
fn rate_per_host_is_never_exceeded_across_three_hosts() {
    let srv = serve(|r| site(r, 5));
    let hosts = ["a.test", "b.test", "c.test"];
    let seeds: Vec<String> = hosts.iter().map(|h| url(h, srv.port, "/")).collect();
    let s = Scratch::new();
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &hosts,
        &seeds,
        &["--rate-per-host", "2", "--concurrency", "8"],
    ));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let log = srv.log();
    for h in hosts {
        let times: Vec<Instant> = log.iter().filter(|l| l.host == h).map(|l| l.at).collect();
        assert_eq!(times.len(), 6, "robots.txt and 5 pages of {h}");
        for w in times.windows(2) {
            let gap = w[1] - w[0];
            assert!(
                gap >= Duration::from_millis(480),
                "{h}: two requests {gap:?} apart at 2/s"
            );
        }
        for (i, t) in times.iter().enumerate() {
            let in_window = times[i..]
                .iter()
                .take_while(|u| **u - *t < Duration::from_millis(980))
                .count();
            assert!(
                in_window <= 2,
                "{h}: {in_window} requests within one second"
            );
        }
    }
    // The hosts were crawled side by side, not one after another.
    let first = log.iter().map(|l| l.at).min().unwrap();
    let last = log.iter().map(|l| l.at).max().unwrap();
    assert!(
        last - first < Duration::from_secs(8),
        "three hosts in parallel took {:?}",
        last - first
    );
}

fn summary_of(db: &std::path::Path) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let pages = pages(db).into_iter().map(|p| {
        (
            p["url"].as_str().unwrap().to_owned(),
            p["state"].as_str().unwrap().to_owned(),
        )
    });
    let hits = hits(db)
        .into_iter()
        .map(|h| h["id"].as_str().unwrap().to_owned());
    (pages.collect(), hits.collect())
}

#[test]
fn sigkill_mid_crawl_then_resume_equals_an_uninterrupted_crawl() {
    let srv = serve(|r| site(r, 40));
    let hosts = ["a.test", "b.test"];
    let seeds: Vec<String> = hosts.iter().map(|h| url(h, srv.port, "/")).collect();
    let extra = ["--rate-per-host", "25", "--concurrency", "4"];

    let clean = Scratch::new();
    let r = run(crawl_cmd(&clean, srv.port, &hosts, &seeds, &extra));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let (want_pages, want_hits) = summary_of(&clean.db());
    assert_eq!(want_pages.len(), 80, "/ and /p/1../p/39 on each host");
    assert!(!want_hits.is_empty());

    let s = Scratch::new();
    let mut killed = 0;
    for _ in 0..4 {
        let mut child = crawl_cmd(&s, srv.port, &hosts, &seeds, &extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill once this run has fetched a few pages: mid-crawl, whatever the machine's speed.
        let before = srv.log().len();
        let deadline = Instant::now() + Duration::from_secs(30);
        while srv.log().len() < before + 8
            && Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(20));
        }
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            killed += 1;
        }
        child.wait().unwrap();
    }
    assert!(killed >= 2, "the crawl was killed mid-way at least twice");
    let r = run(crawl_cmd(&s, srv.port, &hosts, &seeds, &extra));
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    assert_eq!(r.summary["queued"], 0);
    let (got_pages, got_hits) = summary_of(&s.db());
    assert_eq!(got_pages, want_pages, "same pages, same states");
    assert_eq!(got_hits, want_hits, "no hit lost, none doubled");
    // Pages are durable once done: only pages in flight at a kill (at most
    // --concurrency of them) are fetched again by the next run.
    let mut per_page: BTreeMap<(String, String), usize> = BTreeMap::new();
    let baseline = 80 + 2; // the clean crawl's requests, robots.txt included
    for l in srv
        .log()
        .into_iter()
        .skip(baseline)
        .filter(|l| l.target != "/robots.txt")
    {
        *per_page.entry((l.host, l.target)).or_default() += 1;
    }
    assert_eq!(per_page.len(), 80);
    let refetched: usize = per_page.values().map(|n| n - 1).sum();
    assert!(
        refetched <= killed * 4,
        "{refetched} refetches after {killed} kills: {per_page:?}"
    );
}

#[test]
fn ctrl_c_stops_cleanly_and_the_rerun_fetches_no_page_twice() {
    let srv = serve(|r| site(r, 40));
    let seeds = [url("a.test", srv.port, "/")];
    let extra = ["--rate-per-host", "10"];
    let s = Scratch::new();
    let child = crawl_cmd(&s, srv.port, &["a.test"], &seeds, &extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while srv.log().len() < 6 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let interrupted_at = Instant::now();
    let status = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert!(
        interrupted_at.elapsed() < Duration::from_secs(10),
        "stopped promptly"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "partial: {stderr}");
    let summary: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("summary printed on Ctrl-C");
    assert_eq!(summary["interrupted"], true);
    let done_first = summary["pages_done"].as_u64().unwrap();
    assert!(done_first > 0 && done_first < 40, "{summary}");
    assert_eq!(
        pages(&s.db()).len() as u64,
        done_first,
        "every finished page was flushed"
    );

    let r = run(crawl_cmd(&s, srv.port, &["a.test"], &seeds, &extra));
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(done_first + r.summary["pages_done"].as_u64().unwrap(), 40);
    let mut per_page: BTreeMap<String, usize> = BTreeMap::new();
    for l in srv.log().iter().filter(|l| l.target != "/robots.txt") {
        *per_page.entry(l.target.clone()).or_default() += 1;
    }
    assert_eq!(per_page.len(), 40);
    assert!(
        per_page.values().all(|&n| n == 1),
        "a page done before Ctrl-C was fetched again: {per_page:?}"
    );
}
