//! `finscan crawl` against hostile and ordinary servers on 127.0.0.1.
//! Each test asserts what was fetched (the server's log), what was stored
//! (`pages list` / `hits list`) and what was reported (the JSON summary).

mod crawl_support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crawl_support::*;

#[test]
fn robots_disallow_is_obeyed_and_recorded() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => Response::bytes("text/plain", "User-agent: *\nDisallow: /private/\n"),
        "/" => html(r#"<a href="/ok.html">ok</a> <a href="/private/secret.html">secret</a>"#),
        "/ok.html" => html("本平台承诺保本保息"),
        _ => html("private"),
    });
    let s = Scratch::new();
    let seed = url("a.test", srv.port, "/");
    let r = run(crawl_cmd(&s, srv.port, &["a.test"], &[seed], &[]));
    assert_eq!(r.code, 1, "hits found: {}", r.stderr);
    assert_eq!(srv.count("a.test", "/private/secret.html"), 0);
    assert_eq!(srv.count("a.test", "/robots.txt"), 1);
    let pages = pages(&s.db());
    assert_eq!(
        page(&pages, &url("a.test", srv.port, "/ok.html"))["state"],
        "fetched"
    );
    assert_eq!(
        page(&pages, &url("a.test", srv.port, "/private/secret.html"))["state"],
        "disallowed"
    );
    assert_eq!(r.summary["pages_fetched"], 2);
    assert!(r.summary["hits"].as_u64().unwrap() >= 1);
}

#[test]
fn robots_client_error_allows_all() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => Response::not_found(),
        "/" => html(r#"<a href="/x.html">x</a>"#),
        _ => html("x"),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(srv.count("a.test", "/x.html"), 1);
}

#[test]
fn robots_server_error_disallows_the_host_until_it_recovers() {
    let robots_calls = std::sync::Arc::new(AtomicUsize::new(0));
    let rc = robots_calls.clone();
    let srv = serve(move |r| match (r.host.as_str(), r.path()) {
        // down.test: robots.txt always fails.
        ("down.test", "/robots.txt") => Response::new(500),
        // flaky.test: robots.txt fails once, then works.
        ("flaky.test", "/robots.txt") => {
            if rc.fetch_add(1, Ordering::SeqCst) == 0 {
                Response::new(503)
            } else {
                allow_all()
            }
        }
        _ => html("page"),
    });
    let s = Scratch::new();
    let seeds = [
        url("down.test", srv.port, "/"),
        url("flaky.test", srv.port, "/"),
    ];
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &["down.test", "flaky.test"],
        &seeds,
        &["--backoff", "0.2"],
    ));
    assert_eq!(
        r.code, 3,
        "partial: a host was given up\n{}\n{}",
        r.summary, r.stderr
    );
    let down: Vec<_> = srv
        .log()
        .into_iter()
        .filter(|l| l.host == "down.test")
        .collect();
    assert!(
        down.iter().all(|l| l.target == "/robots.txt"),
        "no page of down.test fetched: {down:?}"
    );
    assert_eq!(down.len(), 3, "robots.txt retried, then the host given up");
    assert_eq!(
        srv.count("flaky.test", "/"),
        1,
        "flaky.test crawled after robots.txt recovered"
    );
    let given_up = r.summary["hosts_given_up"].as_array().unwrap();
    assert_eq!(given_up.len(), 1);
    assert!(
        given_up[0]["reason"]
            .as_str()
            .unwrap()
            .contains("robots.txt")
    );
    assert_eq!(
        r.summary["queued"], 1,
        "down.test's seed stays queued for a later run"
    );
}

#[test]
fn crawl_delay_is_a_floor_between_requests() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => Response::bytes("text/plain", "User-agent: *\nCrawl-delay: 1\n"),
        "/" => html(r#"<a href="/1">1</a><a href="/2">2</a>"#),
        _ => html("x"),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &["--rate-per-host", "50"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pages: Vec<Instant> = srv
        .log()
        .iter()
        .filter(|l| l.target != "/robots.txt")
        .map(|l| l.at)
        .collect();
    assert_eq!(pages.len(), 3);
    for w in pages.windows(2) {
        let gap = w[1] - w[0];
        assert!(
            gap >= Duration::from_millis(950),
            "requests {gap:?} apart despite Crawl-delay: 1"
        );
    }
}

#[test]
fn too_many_requests_waits_for_retry_after() {
    let calls = AtomicUsize::new(0);
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Response::new(429).header("Retry-After", "2")
            } else {
                html("资金池")
            }
        }
        _ => Response::not_found(),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &["--backoff", "0.1"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let times: Vec<Instant> = srv
        .log()
        .iter()
        .filter(|l| l.target == "/")
        .map(|l| l.at)
        .collect();
    assert_eq!(times.len(), 2);
    assert!(
        times[1] - times[0] >= Duration::from_millis(1950),
        "retried after {:?}",
        times[1] - times[0]
    );
    assert_eq!(r.summary["errors"], 1);
    assert_eq!(
        page(&pages(&s.db()), &url("a.test", srv.port, "/"))["state"],
        "fetched"
    );
}

#[test]
fn server_errors_are_retried_with_backoff_then_recover() {
    let calls = AtomicUsize::new(0);
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(r#"<a href="/flaky">f</a><a href="/broken">b</a>"#),
        "/flaky" => {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Response::new(500)
            } else {
                html("保本保息")
            }
        }
        _ => Response::new(502),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &["--backoff", "0.2"]);
    assert_eq!(r.code, 3, "one page failed for good: {}", r.stderr);
    assert_eq!(srv.count("a.test", "/flaky"), 3);
    assert_eq!(
        srv.count("a.test", "/broken"),
        3,
        "retried --retries (2) times"
    );
    let pages = pages(&s.db());
    assert_eq!(
        page(&pages, &url("a.test", srv.port, "/flaky"))["state"],
        "fetched"
    );
    let broken = page(&pages, &url("a.test", srv.port, "/broken"));
    assert_eq!(broken["state"], "failed");
    assert!(broken["error"].as_str().unwrap().contains("502"));
    assert_eq!(r.summary["pages_failed"], 1);
    assert_eq!(r.summary["errors"], 5);
    // Backoff: no two requests to the failing host closer than the base backoff.
    let log = srv.log();
    let fails: Vec<Instant> = log
        .iter()
        .filter(|l| l.target != "/robots.txt")
        .map(|l| l.at)
        .collect();
    assert!(fails.last().unwrap().duration_since(fails[0]) >= Duration::from_millis(600));
}

#[test]
fn redirect_chains_are_followed_and_recorded_loops_stopped() {
    let srv = serve(|r| match (r.host.as_str(), r.target.as_str()) {
        (_, "/robots.txt") => allow_all(),
        ("a.test", "/") => html(
            r#"<a href="/r1">chain</a><a href="/loop1">loop</a><a href="/long/0">long</a><a href="/away">away</a>"#,
        ),
        ("a.test", "/r1") => Response::redirect(301, "/r2"),
        ("a.test", "/r2") => Response::redirect(302, "/final"),
        ("a.test", "/final") => html("本息保障"),
        ("a.test", "/loop1") => Response::redirect(302, "/loop2"),
        ("a.test", "/loop2") => Response::redirect(302, "/loop1"),
        ("a.test", "/away") => {
            let port = r
                .header("host")
                .and_then(|h| h.rsplit_once(':'))
                .map(|(_, p)| p.to_owned())
                .unwrap();
            Response::redirect(301, &format!("http://www.a.test:{port}/landing"))
        }
        ("a.test", t) if t.starts_with("/long/") => {
            let n: u32 = t[6..].parse().unwrap_or(0);
            Response::redirect(302, &format!("/long/{}", n + 1))
        }
        ("www.a.test", "/landing") => html("landing"),
        _ => Response::not_found(),
    });
    let port = srv.port;
    let s = Scratch::new();
    let hosts = ["a.test", "www.a.test"];
    let r = run(crawl_cmd(
        &s,
        port,
        &hosts,
        &[url("a.test", port, "/")],
        &[],
    ));
    assert_eq!(r.code, 3, "{}", r.stderr);
    let pages = pages(&s.db());
    let chain = page(&pages, &url("a.test", port, "/r1"));
    assert_eq!(chain["state"], "fetched");
    assert_eq!(chain["final_url"], url("a.test", port, "/final"));
    assert_eq!(
        chain["redirects"],
        serde_json::json!([url("a.test", port, "/r1"), url("a.test", port, "/r2")])
    );
    assert_eq!(srv.count("a.test", "/final"), 1);
    let lp = page(&pages, &url("a.test", port, "/loop1"));
    assert_eq!(lp["state"], "failed");
    assert!(lp["error"].as_str().unwrap().contains("loop"), "{lp}");
    assert_eq!(srv.count("a.test", "/loop1"), 1);
    let long = page(&pages, &url("a.test", port, "/long/0"));
    assert!(
        long["error"]
            .as_str()
            .unwrap()
            .contains("more than 10 redirects"),
        "{long}"
    );
    let long_requests = srv
        .log()
        .iter()
        .filter(|l| l.target.starts_with("/long/"))
        .count();
    assert_eq!(long_requests, 11);
    // A redirect to another host of the site is queued, not followed inline.
    assert_eq!(
        page(&pages, &url("a.test", port, "/away"))["state"],
        "redirect"
    );
    assert_eq!(
        page(&pages, &url("www.a.test", port, "/landing"))["state"],
        "fetched"
    );
}

#[test]
fn cross_host_redirect_is_queued_with_its_own_robots() {
    let srv = serve(|r| match (r.host.as_str(), r.path()) {
        ("www.a.test", "/robots.txt") => {
            Response::bytes("text/plain", "User-agent: *\nDisallow: /nope\n")
        }
        (_, "/robots.txt") => allow_all(),
        ("a.test", "/") => {
            let port = r
                .header("host")
                .and_then(|h| h.rsplit_once(':'))
                .map(|(_, p)| p.to_owned())
                .unwrap();
            Response::redirect(301, &format!("http://www.a.test:{port}/"))
        }
        ("www.a.test", "/") => html(r#"<a href="/nope">n</a> 注册送体验金"#),
        _ => html("x"),
    });
    let s = Scratch::new();
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &["a.test", "www.a.test"],
        &[url("a.test", srv.port, "/")],
        &[],
    ));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let pages = pages(&s.db());
    assert_eq!(
        page(&pages, &url("a.test", srv.port, "/"))["state"],
        "redirect"
    );
    assert_eq!(
        page(&pages, &url("www.a.test", srv.port, "/"))["state"],
        "fetched"
    );
    assert_eq!(srv.count("www.a.test", "/robots.txt"), 1);
    assert_eq!(srv.count("www.a.test", "/nope"), 0);
}

#[test]
fn redirect_to_a_private_address_is_refused() {
    let srv = serve(|r| {
        let port = r
            .header("host")
            .and_then(|h| h.rsplit_once(':'))
            .map(|(_, p)| p.to_owned())
            .unwrap_or_default();
        match r.path() {
            "/robots.txt" => allow_all(),
            "/" => html(r#"<a href="/leak-ip">1</a><a href="/leak-name">2</a>"#),
            "/leak-ip" => Response::redirect(302, &format!("http://127.0.0.1:{port}/secret")),
            "/leak-name" => Response::redirect(302, &format!("http://localhost:{port}/secret")),
            _ => html("secret"),
        }
    });
    let s = Scratch::new();
    // --include brings the targets into scope, so only the SSRF guard stands in the way.
    let extra = ["--include", "127\\.0\\.0\\.1", "--include", "localhost"];
    let r = crawl_site(&s, srv.port, "a.test", &extra);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        srv.log().iter().all(|l| l.target != "/secret"),
        "the private address was never contacted"
    );
    let pages = pages(&s.db());
    let ip = page(&pages, &url("a.test", srv.port, "/leak-ip"));
    assert_eq!(ip["state"], "failed", "{ip}");
    assert!(ip["error"].as_str().unwrap().contains("loopback"), "{ip}");
    // A name is checked after DNS: localhost is another host, so the
    // redirect is queued, and the guard refuses it when it is fetched.
    let name = page(&pages, &url("a.test", srv.port, "/leak-name"));
    assert_eq!(name["state"], "redirect", "{name}");
    let target = page(&pages, &url("localhost", srv.port, "/secret"));
    assert_eq!(target["state"], "failed", "{target}");
    assert!(
        target["error"]
            .as_str()
            .unwrap()
            .contains("refused: localhost"),
        "{target}"
    );
}

#[test]
fn redirect_hops_wait_their_turn_like_any_request() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => Response::redirect(302, "/a"),
        "/a" => Response::redirect(302, "/b"),
        "/b" => Response::redirect(302, "/c"),
        "/c" => html("<p>到了</p><a href=\"/d\">d</a>"),
        _ => html("<p>d</p>"),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &["--rate-per-host", "5"]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let mut times: Vec<std::time::Instant> = srv.log().iter().map(|l| l.at).collect();
    times.sort();
    assert!(times.len() >= 5, "robots, 3 hops, /c, /d");
    for w in times.windows(2) {
        // 200 ms per request at 5/s; a little slack for the clock
        assert!(
            w[1] - w[0] >= Duration::from_millis(180),
            "requests {:?} apart",
            w[1] - w[0]
        );
    }
}

#[test]
fn retry_after_on_robots_txt_is_honoured() {
    let calls = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let c = calls.clone();
    let srv = serve(move |r| match r.path() {
        "/robots.txt" if c.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 => {
            Response::new(503).header("Retry-After", "3")
        }
        "/robots.txt" => allow_all(),
        _ => html("<p>ok</p>"),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    let robots: Vec<Instant> = srv
        .log()
        .iter()
        .filter(|l| l.target == "/robots.txt")
        .map(|l| l.at)
        .collect();
    assert_eq!(robots.len(), 2, "one refusal, one success");
    assert!(
        robots[1] - robots[0] >= Duration::from_millis(2900),
        "{:?}",
        robots[1] - robots[0]
    );
}

#[test]
fn resolve_names_one_port_only() {
    // a second local service on another port of the mapped address
    let other = serve(|_| html("internal admin"));
    let other_port = other.port;
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(&format!(
            r#"<a href="http://a.test:{other_port}/admin">admin</a>"#
        )),
        _ => Response::not_found(),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(
        r.code, 3,
        "the refused URL makes the run partial: {}",
        r.stderr
    );
    assert!(
        other.log().is_empty(),
        "--resolve a.test:{}:127.0.0.1 does not open a.test:{other_port}",
        srv.port
    );
    let admin = url("a.test", other_port, "/admin");
    let p = page(&pages(&s.db()), &admin).clone();
    assert!(
        p["error"]
            .as_str()
            .unwrap_or("")
            .contains("not named by --resolve"),
        "{p}"
    );
}

#[test]
fn private_seed_needs_allow_private() {
    let srv = serve(|r| {
        if r.path() == "/robots.txt" {
            allow_all()
        } else {
            html("资金池")
        }
    });
    let seed = format!("http://127.0.0.1:{}/", srv.port);
    let s = Scratch::new();
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &[],
        std::slice::from_ref(&seed),
        &[],
    ));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        srv.log().is_empty(),
        "nothing sent to a loopback address without --allow-private"
    );
    let p = pages(&s.db());
    assert!(
        page(&p, &seed)["error"]
            .as_str()
            .unwrap()
            .contains("--allow-private")
    );
    let s2 = Scratch::new();
    let r = run(crawl_cmd(&s2, srv.port, &[], &[seed], &["--allow-private"]));
    assert_eq!(r.code, 1, "{}", r.stderr);
}

#[test]
fn one_host_gets_up_to_host_concurrency_requests_at_once() {
    // Eight slow pages on one host, --host-concurrency 4: requests overlap
    // (a scheduler that starts one request per host and wake-up kept one in
    // flight), and never more than four at once.
    const SLOW: Duration = Duration::from_millis(800);
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(
            &(0..8)
                .map(|i| format!(r#"<a href="/p/{i}">{i}</a>"#))
                .collect::<String>(),
        ),
        _ => html("page").delayed(SLOW),
    });
    let s = Scratch::new();
    let r = crawl_site(
        &s,
        srv.port,
        "a.test",
        &["--rate-per-host", "0", "--host-concurrency", "4"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary["pages_fetched"], 9);
    let arrivals: Vec<Instant> = srv
        .log()
        .iter()
        .filter(|l| l.target.starts_with("/p/"))
        .map(|l| l.at)
        .collect();
    assert_eq!(arrivals.len(), 8);
    // requests that arrived while another was still being answered
    let most_at_once = arrivals
        .iter()
        .map(|&a| arrivals.iter().filter(|&&b| b >= a && b < a + SLOW).count())
        .max()
        .unwrap_or(0);
    assert!(
        (2..=4).contains(&most_at_once),
        "{most_at_once} requests within one slow response"
    );
}

#[test]
fn slow_responses_time_out_and_slow_bodies_within_limits_arrive() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(r#"<a href="/stall">s</a><a href="/trickle">t</a>"#),
        "/stall" => html("never").delayed(Duration::from_secs(20)),
        "/trickle" => Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .with_body(Body::Slow {
                chunks: vec![
                    "<p>保本".as_bytes().to_vec(),
                    "保息</p>".as_bytes().to_vec(),
                ],
                delay: Duration::from_millis(300),
            }),
        _ => Response::not_found(),
    });
    let s = Scratch::new();
    let started = Instant::now();
    let r = crawl_site(
        &s,
        srv.port,
        "a.test",
        &["--timeout", "2", "--retries", "0"],
    );
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "the stalled page did not hold the crawl"
    );
    assert_eq!(r.code, 3, "{}", r.stderr);
    let pages = pages(&s.db());
    let stall = page(&pages, &url("a.test", srv.port, "/stall"));
    assert_eq!(stall["state"], "failed");
    assert!(
        stall["error"].as_str().unwrap().contains("timed out"),
        "{stall}"
    );
    let trickle = page(&pages, &url("a.test", srv.port, "/trickle"));
    assert_eq!(trickle["state"], "fetched");
    assert_eq!(trickle["hits"], 1);
}

#[test]
fn endless_calendar_is_cut_by_the_trap_rules() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/calendar" => {
            let m: i64 = r
                .target
                .split("m=")
                .nth(1)
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            html(&format!(
                r#"<a href="/calendar?m={}">next</a><a href="/calendar?m={}">prev</a><a href="sub/">deeper</a>"#,
                m + 1,
                m - 1
            ))
        }
        p if p.starts_with("/calendar") || p.starts_with("/sub") => {
            html(r#"<a href="sub/">deeper</a>"#)
        }
        _ => html(r#"<a href="/calendar?m=0">calendar</a>"#),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &["--max-query-variants", "10"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let cal = srv
        .log()
        .iter()
        .filter(|l| l.target.starts_with("/calendar?"))
        .count();
    assert_eq!(cal, 10, "query variants of /calendar capped");
    // Relative "sub/" links nest forever: repeated segments stop them.
    let deepest = srv
        .log()
        .iter()
        .map(|l| l.target.matches("sub/").count())
        .max()
        .unwrap();
    assert_eq!(deepest, 2);
}

#[test]
fn huge_body_is_truncated_at_the_cap() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => Response::new(200)
            .header("Content-Type", "text/html; charset=utf-8")
            .with_body(Body::Repeat {
                // One violation per 64 KiB of filler: 80 occurrences in the
                // first 5 MiB, reported as one hit with 79 repeats.
                chunk: {
                    let mut c = format!(
                        "<p>平台设立资金池。</p>{}",
                        "<p>普通的页面文字内容</p>\n".repeat(1800)
                    );
                    c.push_str(&" ".repeat(65536 - c.len()));
                    c.into_bytes()
                },
                total: 50 * 1024 * 1024,
            }),
        _ => Response::not_found(),
    });
    let s = Scratch::new();
    let started = Instant::now();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert!(started.elapsed() < Duration::from_secs(60));
    let p = &pages(&s.db())[0];
    assert_eq!(r.code, 1, "{p}\n{}", r.stderr);
    let p = &pages(&s.db())[0];
    assert_eq!(p["truncated"], true, "{p}");
    assert_eq!(p["bytes"], 5 * 1024 * 1024);
    assert_eq!(p["hits"], 1);
    let h = &hits(&s.db())[0];
    assert_eq!(
        (h["term"].as_str(), h["repeats"].as_u64()),
        (Some("资金池"), Some(79)),
        "{h}"
    );
    assert!(p["error"].as_str().unwrap().contains("truncated"));
}

#[test]
fn non_html_content_is_skipped_without_reading_it() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(
            r#"<a href="/doc.pdf">pdf</a><a href="/logo.png">png</a><a href="/notes.txt">txt</a>"#,
        ),
        "/doc.pdf" => Response::bytes("application/pdf", "%PDF 保本保息"),
        "/logo.png" => Response::bytes("image/png", vec![0x89, b'P', b'N', b'G']),
        "/notes.txt" => Response::bytes("text/plain; charset=utf-8", "年化收益率高达18%"),
        _ => Response::not_found(),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let pages = pages(&s.db());
    for p in ["/doc.pdf", "/logo.png"] {
        let rec = page(&pages, &url("a.test", srv.port, p));
        assert_eq!(rec["state"], "skipped");
        assert_eq!(rec["sha256"], serde_json::Value::Null, "body not stored");
    }
    assert_eq!(
        page(&pages, &url("a.test", srv.port, "/notes.txt"))["hits"],
        1
    );
    assert_eq!(r.summary["pages_skipped"], 2);
    assert!(
        hits(&s.db())
            .iter()
            .all(|h| !h["url"].as_str().unwrap().ends_with(".pdf"))
    );
}

#[test]
fn gbk_page_is_decoded_and_hit_offsets_point_into_the_raw_body() {
    let (gbk, _, _) = encoding_rs::GBK.encode(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=gbk\"><title>安保人寿</title></head>\
         <body><p>到期保本保息，年化收益率高达18%</p><p>主办单位：安保财富投资管理有限公司 京ICP备87654321号-2 京公网安备11010502000001号</p></body></html>",
    );
    let body = gbk.into_owned();
    let served = body.clone();
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        // No charset in the header: the <meta> decides.
        _ => Response::bytes("text/html", served.clone()),
    });
    let s = Scratch::new();
    let seed = url("gbk.test", srv.port, "/");
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &["gbk.test"],
        std::slice::from_ref(&seed),
        &[],
    ));
    assert_eq!(r.code, 1, "{}", r.stderr);
    let pages = pages(&s.db());
    let p = page(&pages, &seed);
    assert_eq!(p["charset"], "GBK");
    assert_eq!(p["title"], "安保人寿");
    assert_eq!(p["icp"], "京ICP备87654321号-2");
    assert_eq!(p["psb"], "京公网安备11010502000001号");
    assert_eq!(p["operator"], "安保财富投资管理有限公司");
    let hits = hits(&s.db());
    let h = hits
        .iter()
        .find(|h| h["matched"] == "保本保息")
        .expect("保本保息 hit");
    let (start, end) = (
        h["start"].as_u64().unwrap() as usize,
        h["end"].as_u64().unwrap() as usize,
    );
    assert_eq!(encoding_rs::GBK.decode(&body[start..end]).0, "保本保息");
    assert!(
        hits.iter().any(|h| h["field"] == "name"),
        "operator scanned with the name rules"
    );
    // The stored body is the raw GBK bytes.
    let store = finscan::store::Store::open(&s.db()).unwrap();
    assert_eq!(
        store.body(p["sha256"].as_str().unwrap()).unwrap().unwrap(),
        body
    );
}

#[test]
fn malformed_html_still_yields_links_and_hits() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => Response::html(
            "<html><body><div><p>资金<b>池</p></div></b><table><tr><td><a href=next.html>next<td><a href='/other.html' <p>本息保障<<<>>>",
        ),
        _ => html("ok"),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert_eq!(srv.count("a.test", "/next.html"), 1);
    let matched: Vec<String> = hits(&s.db())
        .iter()
        .map(|h| h["matched"].as_str().unwrap().to_owned())
        .collect();
    assert!(matched.iter().any(|m| m.contains("资金")), "{matched:?}");
}

#[test]
fn recrawl_sends_validators_and_updates_hits_instead_of_duplicating() {
    let conditional = std::sync::Arc::new(Mutex::new(Vec::new()));
    let seen = conditional.clone();
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        _ => {
            let inm = r.header("if-none-match").map(str::to_owned);
            seen.lock().unwrap().push(inm.clone());
            if inm.as_deref() == Some("\"v1\"") {
                Response::new(304).header("ETag", "\"v1\"")
            } else {
                html("<p>保本保息</p><p>欢迎</p><p>保本保息</p>").header("ETag", "\"v1\"")
            }
        }
    });
    let s = Scratch::new();
    let seed = url("a.test", srv.port, "/");
    let first = run(crawl_cmd(
        &s,
        srv.port,
        &["a.test"],
        std::slice::from_ref(&seed),
        &[],
    ));
    assert_eq!(first.code, 1, "{}", first.stderr);
    let before = hits(&s.db());
    assert_eq!(before.len(), 1, "two occurrences, one hit: {before:#?}");
    assert_eq!(before[0]["repeats"], 1);
    std::thread::sleep(Duration::from_millis(1100));
    let again = run(crawl_cmd(
        &s,
        srv.port,
        &["a.test"],
        std::slice::from_ref(&seed),
        &[],
    ));
    assert_eq!(
        again.summary["pages_done"], 0,
        "a finished crawl is not refetched without --recrawl"
    );
    let second = run(crawl_cmd(
        &s,
        srv.port,
        &["a.test"],
        std::slice::from_ref(&seed),
        &["--recrawl"],
    ));
    assert_eq!(second.code, 1, "{}", second.stderr);
    assert_eq!(
        conditional.lock().unwrap().as_slice(),
        [None, Some("\"v1\"".to_owned())]
    );
    assert_eq!(page(&pages(&s.db()), &seed)["state"], "not-modified");
    let after = hits(&s.db());
    assert_eq!(after.len(), 1);
    assert_eq!(second.summary["new_hits"], 0);
    for (a, b) in before.iter().zip(&after) {
        assert_eq!(a["id"], b["id"]);
        assert_eq!(a["first_seen"], b["first_seen"]);
        assert!(
            b["last_seen"].as_str() > a["last_seen"].as_str(),
            "last_seen moves on"
        );
    }
}

#[test]
fn bad_seed_lines_are_reported_with_line_numbers_and_skipped() {
    let srv = serve(|r| {
        if r.path() == "/robots.txt" {
            allow_all()
        } else {
            html("clean page")
        }
    });
    let s = Scratch::new();
    let seeds = [
        "# platforms to check".to_owned(),
        url("a.test", srv.port, "/"),
        "".to_owned(),
        "not a url".to_owned(),
        "ftp://a.test/file".to_owned(),
    ];
    let r = run(crawl_cmd(&s, srv.port, &["a.test"], &seeds, &[]));
    assert_eq!(r.code, 3, "partial because of bad input: {}", r.stderr);
    assert!(r.stderr.contains("seeds.txt:4:"), "{}", r.stderr);
    assert!(r.stderr.contains("seeds.txt:5:"), "{}", r.stderr);
    assert_eq!(r.summary["pages_fetched"], 1);
}

#[test]
fn listings_filter_and_carry_the_documented_fields() {
    let srv = serve(|r| match (r.host.as_str(), r.path()) {
        (_, "/robots.txt") => allow_all(),
        ("a.test", _) => html("资金池 <p>主办单位：甲财富有限公司 陕ICP备12345678号-1</p>"),
        _ => html("保本保息"),
    });
    let s = Scratch::new();
    let seeds = [url("a.test", srv.port, "/"), url("b.test", srv.port, "/")];
    let r = run(crawl_cmd(&s, srv.port, &["a.test", "b.test"], &seeds, &[]));
    assert_eq!(r.code, 1, "{}", r.stderr);
    for key in ["pages_fetched", "hits", "errors"] {
        assert!(r.summary.get(key).is_some(), "summary has {key}");
    }
    let pages = pages(&s.db());
    for key in [
        "url",
        "status",
        "charset",
        "sha256",
        "title",
        "icp",
        "operator",
        "fetched_at",
    ] {
        assert!(pages[0].get(key).is_some(), "page has {key}: {}", pages[0]);
    }
    let all = hits(&s.db());
    for key in [
        "id", "url", "status", "rule", "category", "severity", "term", "matched", "start", "end",
        "snippet", "basis",
    ] {
        assert!(all[0].get(key).is_some(), "hit has {key}: {}", all[0]);
    }
    assert_eq!(all[0]["status"], "new");
    let a = list("hits", &s.db(), &["--host", "a.test"]);
    assert!(
        !a.is_empty()
            && a.iter()
                .all(|h| h["host"].as_str().unwrap().starts_with("a.test"))
    );
    let pool = list("hits", &s.db(), &["--category", "fund-pool"]);
    assert!(!pool.is_empty() && pool.iter().all(|h| h["category"] == "fund-pool"));
    assert!(list("hits", &s.db(), &["--since", "2999-01-01"]).is_empty());
    assert_eq!(list("pages", &s.db(), &["--host", "b.test"]).len(), 1);
}

/// A page's activity profile is stored with it, and the crawl summary
/// ranks the sites: financial activity by an operator that is not a
/// licensed institution first, though it has no hit and a licensed bank's
/// site has more activity; a shop without financial activity last.
#[test]
fn activity_profiles_are_stored_and_sites_ranked() {
    let srv = serve(|r| match (r.host.as_str(), r.path()) {
        (_, "/robots.txt") => allow_all(),
        ("p2p.test", _) => {
            html("<p>网络借贷信息中介，出借人专区，散标出借</p><p>主办单位：甲信息科技有限公司</p>")
        }
        ("bank.test", _) => html(
            "<p>理财产品 理财计划 基金销售 网络借贷 保险代理</p><p>版权所有：中国建设银行股份有限公司</p>",
        ),
        _ => html("<p>新品上市，欢迎选购</p><p>主办单位：乙商贸有限公司</p>"),
    });
    let s = Scratch::new();
    let hosts = ["p2p.test", "bank.test", "shop.test"];
    let seeds: Vec<String> = hosts.iter().map(|h| url(h, srv.port, "/")).collect();
    let r = run(crawl_cmd(&s, srv.port, &hosts, &seeds, &[]));
    assert_eq!(r.code, 0, "activity is no hit: {}", r.stderr);
    let pages = pages(&s.db());
    let p2p = page(&pages, &url("p2p.test", srv.port, "/"));
    // 网络借贷 信息中介 出借(人) 散标 出借: overlapping words count once
    assert_eq!(p2p["activities"]["lending"], 5, "{p2p}");
    let shop = page(&pages, &url("shop.test", srv.port, "/"));
    assert!(shop.get("activities").is_none(), "{shop}");
    let order: Vec<&str> = r.summary["sites"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["host"].as_str().unwrap().split(':').next().unwrap())
        .collect();
    assert_eq!(order, ["p2p.test", "bank.test", "shop.test"]);
    let bank = &r.summary["sites"][1];
    assert_eq!(bank["licensed"], true, "{bank}");
    assert_eq!(bank["operator"], "中国建设银行股份有限公司");
    // the human listing shows the profile beside each page
    let listing = std::process::Command::new(BIN)
        .args(["pages", "list", "--db", s.db().to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&listing.stdout);
    assert!(text.contains("[lending ×5]"), "{text}");
}

#[test]
fn demo_runs_offline_and_prints_hits() {
    let out = std::process::Command::new(BIN)
        .arg("demo")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // a demonstration exits 0 when it ran, whatever it found
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains("保本保息") && stdout.contains("资金池"),
        "{stdout}"
    );
    assert!(
        stdout.contains("GBK") && stdout.contains("陕ICP备12345678号-1"),
        "{stdout}"
    );
    assert!(
        stdout.contains("disallowed"),
        "robots.txt of the demo is obeyed: {stdout}"
    );
}

/// Dangling links (4xx) are counted in the summary, not warned about one
/// by one; `-v` lists them with the page that links to them. The summary's
/// `failed` and `client-error` counts are what `pages list --state` lists.
#[test]
fn dangling_links_are_counted_and_failed_means_one_thing() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(
            r#"<a href="/gone-1">1</a><a href="/gone-2">2</a><a href="/gone-3">3</a><a href="/broken">b</a>"#,
        ),
        "/broken" => Response::new(500),
        _ => Response::not_found(),
    });
    let extra = ["--retries", "0", "--backoff", "0.05"];
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &extra);
    assert_eq!(r.code, 3, "/broken failed: {}", r.stderr);
    let count = |state: &str| list("pages", &s.db(), &["--state", state]).len() as u64;
    assert_eq!(r.summary["pages_failed"], 1, "{}", r.summary);
    assert_eq!(count("failed"), 1, "pages list --state failed");
    assert_eq!(r.summary["pages_client_error"], 3);
    assert_eq!(count("client-error"), 3);

    let human = |verbose: bool| {
        let s = Scratch::new();
        let mut args = extra.to_vec();
        if verbose {
            args.push("-v");
        }
        let seed = url("a.test", srv.port, "/");
        run(human_crawl_cmd(&s, srv.port, &["a.test"], &[seed], &args))
    };
    let quiet = human(false);
    assert!(
        !quiet.stderr.contains("/gone-"),
        "no line per dangling link: {}",
        quiet.stderr
    );
    assert!(
        quiet.stderr.contains("1 failed, 3 dangling link(s)"),
        "{}",
        quiet.stderr
    );
    let verbose = human(true);
    for n in 1..=3 {
        let line = verbose
            .stderr
            .lines()
            .find(|l| l.contains(&format!("/gone-{n}")))
            .unwrap_or_else(|| panic!("-v lists /gone-{n}: {}", verbose.stderr));
        assert!(
            line.contains("dangling link") && line.contains("404"),
            "{line}"
        );
    }
}

/// A host whose name does not resolve is reported once, with what to do
/// about it; not once per attempt.
#[test]
fn a_dns_failure_is_reported_once_per_host_with_a_hint() {
    let s = Scratch::new();
    let seeds = [
        "http://a.invalid/".to_owned(),
        "http://b.invalid/".to_owned(),
    ];
    let r = run(human_crawl_cmd(&s, 1, &[], &seeds, &["--backoff", "0.05"]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    for host in ["a.invalid", "b.invalid"] {
        let lines: Vec<&str> = r.stderr.lines().filter(|l| l.contains(host)).collect();
        assert_eq!(lines.len(), 1, "{host} reported once: {}", r.stderr);
        assert!(lines[0].contains("cannot resolve"), "{}", lines[0]);
    }
    let hints: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("--resolve") && l.contains("finscan demo"))
        .collect();
    assert_eq!(hints.len(), 1, "one hint: {}", r.stderr);
}

/// Running a finished crawl again fetches nothing and says so, pointing to
/// `--recrawl`.
#[test]
fn rerunning_a_finished_crawl_says_there_is_nothing_left_to_fetch() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(r#"<a href="/x.html">x</a>"#),
        _ => html("x"),
    });
    let s = Scratch::new();
    let seed = url("a.test", srv.port, "/");
    let first = run(human_crawl_cmd(
        &s,
        srv.port,
        &["a.test"],
        std::slice::from_ref(&seed),
        &[],
    ));
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(!first.stderr.contains("nothing left"), "{}", first.stderr);
    let fetched = srv.log().len();
    let again = run(human_crawl_cmd(&s, srv.port, &["a.test"], &[seed], &[]));
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert_eq!(srv.log().len(), fetched, "nothing fetched again");
    let line = again
        .stderr
        .lines()
        .find(|l| l.contains("nothing left to fetch"))
        .unwrap_or_else(|| panic!("says so: {}", again.stderr));
    assert!(
        line.contains("--recrawl") && line.contains("2 page(s)"),
        "{line}"
    );
}

/// Running the demo again on the same database fetches the sites again
/// and updates what it stored: the demo's URLs do not carry the port its
/// server happened to get, so the pages and hits are not doubled. Every hit,
/// the operator's included, points into a stored page's raw bytes.
#[test]
fn demo_rerun_on_one_database_keeps_one_set_of_pages_and_hits() {
    let s = Scratch::new();
    let demo = || {
        let out = std::process::Command::new(BIN)
            .arg("demo")
            .arg("--db")
            .arg(s.db())
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (pages(&s.db()), hits(&s.db()))
    };
    let (pages1, hits1) = demo();
    let (pages2, hits2) = demo();
    let urls = |p: &[serde_json::Value]| -> BTreeSet<String> {
        p.iter()
            .map(|p| p["url"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(urls(&pages1), urls(&pages2));
    assert_eq!(pages1.len(), pages2.len());
    assert_eq!(hits1.len(), hits2.len());
    assert!(
        urls(&pages2).iter().all(|u| !u.contains(".example:")),
        "no port in the demo's URLs: {:?}",
        urls(&pages2)
    );
    assert!(
        hits2
            .iter()
            .any(|h| h["field"] == "name" && h["matched"] == "投资管理"),
        "the operator's name is a hit"
    );
    assert_hits_point_into_stored_bodies(&s.db());
}

/// The operator named in a site's footer is one hit per site; it points
/// into the page it was last read from, and only that page lists it.
#[test]
fn operator_hit_points_into_the_page_it_was_read_from() {
    let footer = "<p>主办单位：甲地投资管理有限公司 陕ICP备12345678号-1</p>";
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(&format!(
            "<p>欢迎</p><a href=\"/a.html\">a</a><a href=\"/b.html\">b</a>{footer}"
        )),
        _ => html(&format!("<p>本平台承诺保本保息</p>{footer}")),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let all = hits(&s.db());
    let op: Vec<_> = all.iter().filter(|h| h["field"] == "name").collect();
    assert_eq!(op.len(), 1, "one operator hit for the site: {op:?}");
    assert_eq!(op[0]["matched"], "投资管理");
    assert!(
        op[0]["snippet"].as_str().unwrap().contains("主办单位"),
        "the snippet shows the page around the name: {}",
        op[0]
    );
    assert_hits_point_into_stored_bodies(&s.db());
}

#[test]
fn decompression_is_capped_like_the_body() {
    // 20 MB of HTML that gzips to a few KB: the cap counts decoded bytes.
    let mut plain = "<p>平台设立资金池</p>".as_bytes().to_vec();
    plain.resize(20 * 1024 * 1024, b' ');
    let mut gz = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    let mut stdin = gz.stdin.take().unwrap();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &plain));
    let bomb = gz.wait_with_output().unwrap().stdout;
    writer.join().unwrap().unwrap();
    assert!(bomb.len() < 200_000);
    let srv = serve(move |r| match r.path() {
        "/robots.txt" => allow_all(),
        _ => Response::bytes("text/html; charset=utf-8", bomb.clone())
            .header("Content-Encoding", "gzip"),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &["--max-body", "1000000"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let p = &pages(&s.db())[0];
    assert_eq!(p["truncated"], true, "{p}");
    assert_eq!(p["bytes"], 1_000_000);
    assert_eq!(p["hits"], 1);
}

#[test]
fn reading_a_missing_database_is_a_clear_error_and_creates_nothing() {
    let s = Scratch::new();
    let out = std::process::Command::new(BIN)
        .args(["hits", "list", "--db"])
        .arg(s.db())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database at"));
    assert!(!s.db().exists());
}

#[test]
fn a_host_failing_again_and_again_is_given_up_and_its_urls_stay_queued() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(
            &(1..=8)
                .map(|i| format!(r#"<a href="/{i}">{i}</a>"#))
                .collect::<String>(),
        ),
        _ => Response::new(503),
    });
    let s = Scratch::new();
    let extra = [
        "--backoff",
        "0.05",
        "--host-failures",
        "3",
        "--retries",
        "5",
    ];
    let r = crawl_site(&s, srv.port, "a.test", &extra);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let failing = srv
        .log()
        .iter()
        .filter(|l| l.target != "/" && l.target != "/robots.txt")
        .count();
    assert_eq!(
        failing, 3,
        "the breaker opened after 3 consecutive failures"
    );
    let given_up = &r.summary["hosts_given_up"][0];
    assert!(
        given_up["reason"]
            .as_str()
            .unwrap()
            .contains("3 consecutive failures"),
        "{given_up}"
    );
    assert_eq!(
        r.summary["queued"], 8,
        "nothing was dropped: a later run retries"
    );
}

#[test]
fn scope_exclude_max_pages_and_user_agent() {
    let srv = serve(site_with_exclusions);
    fn site_with_exclusions(r: &Request) -> Response {
        match r.path() {
            "/robots.txt" => allow_all(),
            "/" => html(
                r#"<a href="/a">a</a><a href="/b">b</a><a href="/logout?x=1">out</a><a href="/c">c</a><a href="http://other.test/">other</a>"#,
            ),
            _ => html("x"),
        }
    }
    let s = Scratch::new();
    let extra = ["--exclude", "logout", "--max-pages", "3"];
    let r = run(crawl_cmd(
        &s,
        srv.port,
        &["a.test", "other.test"],
        &[url("a.test", srv.port, "/")],
        &extra,
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.summary["pages_done"], 3);
    assert_eq!(r.summary["stopped_at_max_pages"], true);
    let log = srv.log();
    assert!(
        log.iter()
            .all(|l| !l.target.contains("logout") && l.host != "other.test")
    );
    assert_eq!(log.iter().filter(|l| l.target != "/robots.txt").count(), 3);
    let agents: BTreeSet<String> = log.into_iter().map(|l| l.user_agent).collect();
    assert_eq!(agents.len(), 1);
    let ua = agents.iter().next().unwrap();
    assert!(
        ua.starts_with("finscan/") && ua.contains("+http"),
        "names finscan and a contact URL: {ua}"
    );
}

/// `--contact` (or `FINSCAN_CONTACT`) puts the office running the crawl in
/// the User-Agent, robots.txt included; `--user-agent` replaces it whole.
#[test]
fn the_contact_of_the_office_is_sent_in_the_user_agent() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        _ => html("x"),
    });
    let seeds = [url("a.test", srv.port, "/")];
    let s = Scratch::new();
    let mut c = crawl_cmd(
        &s,
        srv.port,
        &["a.test"],
        &seeds,
        &["--contact", "https://jrb.example.gov.cn/finscan"],
    );
    assert_eq!(run(c).code, 0);
    let s = Scratch::new();
    c = crawl_cmd(&s, srv.port, &["a.test"], &seeds, &[]);
    c.env("FINSCAN_CONTACT", "finscan@jrb.example.gov.cn");
    assert_eq!(run(c).code, 0);
    let s = Scratch::new();
    let extra = [
        "--contact",
        "x@example.cn",
        "--user-agent",
        "custom/1.0 (+mailto:ops@example.cn)",
    ];
    assert_eq!(
        run(crawl_cmd(&s, srv.port, &["a.test"], &seeds, &extra)).code,
        0
    );
    let agents: Vec<String> = srv.log().into_iter().map(|l| l.user_agent).collect();
    assert_eq!(agents.len(), 6, "robots.txt and / for each run: {agents:?}");
    for ua in &agents[..2] {
        assert!(
            ua.starts_with("finscan/")
                && ua.contains("(+https://jrb.example.gov.cn/finscan; +https://"),
            "{ua}"
        );
    }
    for ua in &agents[2..4] {
        assert!(ua.contains("+finscan@jrb.example.gov.cn;"), "{ua}");
    }
    for ua in &agents[4..] {
        assert_eq!(ua, "custom/1.0 (+mailto:ops@example.cn)");
    }
}

/// In a terminal the crawl draws a progress line (pages/s, queue, errors,
/// hits) and ends with the human summary. `script` (util-linux) gives the
/// crawler a pseudo-terminal as stderr.
#[test]
fn a_terminal_gets_a_progress_line_and_a_summary() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to make a pseudo-terminal");
        return;
    }
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        "/" => html(
            &(1..=6)
                .map(|i| format!(r#"<a href="/{i}.html">{i}</a>"#))
                .collect::<String>(),
        ),
        _ => html("本平台承诺保本保息"),
    });
    let s = Scratch::new();
    let seeds = s.seeds(&[url("a.test", srv.port, "/")]);
    let quote = |a: &str| format!("'{}'", a.replace('\'', r"'\''"));
    // 4 requests/s over 8 requests: the run lasts about two seconds, many
    // times the bar's 120 ms tick.
    let cmd = [
        BIN,
        "crawl",
        "--seeds",
        seeds.to_str().unwrap(),
        "--db",
        s.db().to_str().unwrap(),
        "--rate-per-host",
        "4",
        "--resolve",
        &format!("a.test:{}:127.0.0.1", srv.port),
    ]
    .map(quote)
    .join(" ");
    let out = Command::new("script")
        .args(["-qefc", &cmd, "/dev/null"])
        .env_remove("FINSCAN_DB")
        .env("COLUMNS", "160")
        .output()
        .unwrap();
    let tty = String::from_utf8_lossy(&out.stdout);
    assert!(
        tty.contains("pages/s · queue"),
        "no progress line in:\n{tty}"
    );
    assert!(tty.contains("errors 0 · hits"), "{tty}");
    assert!(tty.contains("page(s) in"), "no summary in:\n{tty}");
    assert_eq!(out.status.code(), Some(1), "{tty}");
    assert_eq!(srv.count("a.test", "/6.html"), 1);
}

#[test]
fn an_empty_body_in_a_content_coding_is_an_empty_page() {
    // a server that labels an empty answer gzip/deflate/br (some CDNs do):
    // there is nothing to decode, so the page is fetched, empty, not failed
    let srv = serve(|req| match req.path() {
        "/robots.txt" => allow_all(),
        "/" => html("<a href='/gz'>a</a> <a href='/br'>b</a> <a href='/zz'>c</a>"),
        "/gz" => Response::bytes("text/html", Vec::new()).header("Content-Encoding", "gzip"),
        "/br" => Response::bytes("text/html", Vec::new()).header("Content-Encoding", "br"),
        "/zz" => Response::bytes("text/html", Vec::new()).header("Content-Encoding", "deflate"),
        _ => Response::not_found(),
    });
    let s = Scratch::new();
    let r = crawl_site(&s, srv.port, "a.test", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let pages = pages(&s.db());
    for path in ["/gz", "/br", "/zz"] {
        let p = page(&pages, &url("a.test", srv.port, path));
        assert_eq!(p["state"], "fetched", "{path}: {p}");
        assert_eq!(p["bytes"], 0, "{path}");
    }
}

#[test]
fn a_body_cut_at_the_cap_stays_marked_when_a_recrawl_gets_304() {
    let srv = serve(|r| match r.path() {
        "/robots.txt" => allow_all(),
        _ if r.header("if-none-match") == Some("\"v1\"") => {
            Response::new(304).header("ETag", "\"v1\"")
        }
        _ => html(&format!("<p>保本保息</p>{}", "<p>公司简介</p>".repeat(400)))
            .header("ETag", "\"v1\""),
    });
    let s = Scratch::new();
    let seed = url("a.test", srv.port, "/");
    let crawl = |extra: &[&str]| {
        let mut args = vec!["--max-body", "2000"];
        args.extend(extra);
        run(crawl_cmd(
            &s,
            srv.port,
            &["a.test"],
            std::slice::from_ref(&seed),
            &args,
        ))
    };
    let first = crawl(&[]);
    assert_eq!(first.code, 1, "{}", first.stderr);
    assert_eq!(page(&pages(&s.db()), &seed)["truncated"], true);
    let again = crawl(&["--recrawl"]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    let p = pages(&s.db());
    let p = page(&p, &seed);
    assert_eq!(p["state"], "not-modified", "{p}");
    assert_eq!(
        p["truncated"], true,
        "the stored body is still the cut one: {p}"
    );
}
