//! The jobs of `finscan serve`, through the binary: the server runs as a
//! child process on 127.0.0.1 with `[[jobs]]` in its config, crawling test
//! sites served on 127.0.0.1 inside the test (host names mapped there with
//! the jobs' `resolve`). A review through the command line while a crawl
//! job runs, a job firing on its cron schedule, an overlapping run refused
//! with the running run's id, a cancel, a passed deadline rechecked
//! without anyone asking, a server killed mid-crawl that resumes the run
//! with the result of an uninterrupted one, and the commands that write
//! the database refused, naming the server, while it owns it.

mod crawl_support;
mod serve_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crawl_support::{Request, Response, allow_all, html, serve};
use serde_json::{Value, json};
use serve_support::{PATIENCE, Serve, Setup, finscan, s, text, until};

/// A `[[jobs]]` table crawling `http://{host}:{port}/`.
fn crawl_job(name: &str, host: &str, port: u16, schedule: Option<&str>, rate: f64) -> String {
    let schedule = schedule
        .map(|s| format!("schedule = \"{s}\"\n"))
        .unwrap_or_default();
    format!(
        "[[jobs]]\nname = \"{name}\"\nkind = \"crawl\"\n{schedule}[jobs.options]\n\
         urls = [\"http://{host}:{port}/\"]\nresolve = [\"{host}:{port}:127.0.0.1\"]\n\
         allow_private = true\nrate_per_host = {rate:?}\ntimeout = 20.0\n\n"
    )
}

/// The config's `[server]` keys after its first ones, and the jobs.
fn config_tail(jobs: &str) -> String {
    format!("tz = \"Asia/Shanghai\"\nshutdown_grace_secs = 30\n\n{jobs}")
}

/// What these tests ask of a running server besides requests.
impl Serve {
    /// The run `id` of `job` once it has ended.
    fn ended_run(&mut self, admin: &str, job: &str, id: u64) -> Value {
        until(&format!("run {id} of {job} to end"), || {
            let (st, v) = self.get(&format!("/api/jobs/{job}/runs?limit=100"), Some(admin));
            assert_eq!(st, 200, "{v}");
            v["runs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id && r["outcome"] != "running")
                .cloned()
        })
    }

    /// `GET /api/jobs`, the job named `name`.
    fn job(&mut self, admin: &str, name: &str) -> Value {
        let (st, v) = self.get("/api/jobs", Some(admin));
        assert_eq!(st, 200, "{v}");
        v["jobs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no job {name}: {v}"))
    }

    fn findings(&mut self, token: &str, query: &str) -> Vec<Value> {
        let (st, v) = self.get(&format!("/api/findings?{query}"), Some(token));
        assert_eq!(st, 200, "{v}");
        v["findings"].as_array().unwrap().clone()
    }
}

const VIOLATION: &str = "<p>本平台承诺保本保息，资金安全有保障。</p>";

/// A site of `n` pages: page i links to i+1..i+3; every third page carries
/// a violation.
fn pages_site(r: &Request, n: usize) -> Response {
    crawl_support::chain_site(r, n, VIOLATION, "普通页面")
}

/// Holds every request of its host for a page past the home page until
/// opened (at most [`PATIENCE`]): while it is shut, that host's crawl runs
/// and cannot end.
#[derive(Clone, Default)]
struct Gate(Arc<AtomicBool>);

impl Gate {
    fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn wait(&self) {
        let start = Instant::now();
        while !self.0.load(Ordering::SeqCst) && start.elapsed() < PATIENCE {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn page_requests(site: &crawl_support::Server, host: &str) -> usize {
    site.log()
        .iter()
        .filter(|l| l.host == host && l.target != "/robots.txt")
        .count()
}

#[test]
fn a_review_through_the_command_line_succeeds_while_a_crawl_job_runs() {
    let gates: Vec<(String, Gate)> = ["slow.test", "slow2.test"]
        .map(|h| (h.to_owned(), Gate::default()))
        .to_vec();
    let held = gates.clone();
    let site = serve(move |r| {
        if let Some((_, g)) = held.iter().find(|(h, _)| *h == r.host)
            && r.path().starts_with("/p/")
        {
            g.wait();
        }
        pages_site(r, 5)
    });
    let setup = Setup::new(
        true,
        &config_tail(&format!(
            "{}{}",
            crawl_job("slow", "slow.test", site.port, None, 50.0),
            crawl_job("slow2", "slow2.test", site.port, None, 50.0)
        )),
    );
    let mut serve = Serve::start(&setup);
    let admin = setup.admin.clone();
    let reviewer = setup.reviewer.clone();

    let (st, v) = serve.call("POST", "/api/jobs/slow/run", Some(&admin), None);
    assert_eq!(st, 202, "{v}");
    assert_eq!(v["job"], "slow");
    let run = v["run"].as_u64().expect("a run id");
    // the same job again while it runs: refused with the running run's id
    let (st, v) = serve.call("POST", "/api/jobs/slow/run", Some(&admin), None);
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["run"], run, "{v}");
    assert!(
        v["error"].as_str().unwrap().contains("already running"),
        "{v}"
    );
    // the crawl is under way: held by the site past its home page
    until("the crawl to reach /p/", || {
        (page_requests(&site, "slow.test") >= 2).then_some(())
    });
    let job = serve.job(&admin, "slow");
    assert_eq!(job["kind"], "crawl");
    assert_eq!(job["running"]["run"], run, "{job}");
    assert_eq!(job["running"]["trigger"]["by"], "manual", "{job}");

    // a reviewer decides through the command line, which finds the server
    // in the database directory
    let finding = serve.findings(&reviewer, "status=new&limit=1")[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = finscan(
        &[
            "review",
            &finding,
            "--confirm",
            "--reviewer",
            "王审核",
            "--db",
            s(&setup.db()),
        ],
        &[("FINSCAN_TOKEN", &reviewer)],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 of 1 finding(s): confirm recorded by 王审核"),
        "{}",
        text(&out)
    );
    // and the crawl was running all along (the site still holds it)
    assert_eq!(serve.job(&admin, "slow")["running"]["run"], run);
    let (st, v) = serve.get(&format!("/api/findings/{finding}"), Some(&reviewer));
    assert_eq!(st, 200);
    assert_eq!(v["finding"]["status"], "confirmed", "{v}");

    gates[0].1.open();
    let rec = serve.ended_run(&admin, "slow", run);
    assert_eq!(rec["outcome"], "ok", "{rec}");
    assert_eq!(rec["pages"], 5, "{rec}");
    assert!(
        rec["ended"].is_string() && rec["started"].is_string(),
        "{rec}"
    );
    let made = rec["detail"]["findings_made"].as_u64().unwrap();
    assert!(made > 0, "pages 0 and 3 carry a violation: {rec}");
    // the crawl's findings are on the server's desk at once
    let crawled = serve.findings(&reviewer, "site=slow.test");
    assert_eq!(crawled.len() as u64, made, "{crawled:?}");
    assert_eq!(rec["findings_new"].as_u64().unwrap(), made, "{rec}");
    let job = serve.job(&admin, "slow");
    assert!(job["running"].is_null(), "{job}");
    assert_eq!(job["last"]["run"], run);
    assert_eq!(job["last"]["outcome"], "ok");
    // the decision made during the crawl is intact
    let (_, v) = serve.get(&format!("/api/findings/{finding}"), Some(&reviewer));
    assert_eq!(v["finding"]["status"], "confirmed", "{v}");

    // a cancel: refused when nothing runs, else the run stops and is kept
    let (st, v) = serve.call("POST", "/api/jobs/slow/cancel", Some(&admin), None);
    assert_eq!(st, 409, "{v}");
    assert!(v["error"].as_str().unwrap().contains("not running"), "{v}");
    let (st, v) = serve.call("POST", "/api/jobs/slow2/run", Some(&admin), None);
    assert_eq!(st, 202, "{v}");
    let run2 = v["run"].as_u64().unwrap();
    until("the second crawl to reach /p/", || {
        (page_requests(&site, "slow2.test") >= 2).then_some(())
    });
    let (st, v) = serve.call("POST", "/api/jobs/slow2/cancel", Some(&admin), None);
    assert_eq!((st, v["run"].as_u64()), (202, Some(run2)), "{v}");
    gates[1].1.open();
    let rec = serve.ended_run(&admin, "slow2", run2);
    assert_eq!(rec["outcome"], "cancelled", "{rec}");
    assert!(rec["pages"].as_u64().unwrap() < 5, "{rec}");

    // unknown jobs, bad limits
    for (method, path) in [
        ("POST", "/api/jobs/nothing/run"),
        ("POST", "/api/jobs/nothing/cancel"),
        ("GET", "/api/jobs/nothing/runs"),
    ] {
        let (st, v) = serve.call(method, path, Some(&admin), None);
        assert_eq!(st, 404, "{method} {path}: {v}");
        assert_eq!(v["job"], "nothing", "{v}");
    }
    for bad in ["0", "x", "1001"] {
        let (st, v) = serve.get(&format!("/api/jobs/slow/runs?limit={bad}"), Some(&admin));
        assert_eq!(st, 400, "{bad}: {v}");
    }
    let (st, v) = serve.get("/api/jobs/slow/runs?limit=1", Some(&admin));
    assert_eq!(st, 200);
    assert_eq!(v["runs"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["runs"][0]["id"], run, "{v}");

    // the jobs are the admin's: no token, a wrong one, other roles refused
    for (method, path) in [
        ("GET", "/api/jobs"),
        ("POST", "/api/jobs/slow/run"),
        ("POST", "/api/jobs/slow/cancel"),
        ("GET", "/api/jobs/slow/runs"),
    ] {
        for token in [None, Some("fst_0000")] {
            let (st, v) = serve.call(method, path, token, None);
            assert_eq!(st, 401, "{method} {path} {token:?}: {v}");
        }
        for token in [&reviewer, &setup.recipient] {
            let (st, v) = serve.call(method, path, Some(token), None);
            assert_eq!(st, 403, "{method} {path}: {v}");
            assert!(v["error"].as_str().unwrap().contains("admin"), "{v}");
        }
    }
    assert_eq!(
        serve.get("/api/jobs/slow/runs", Some(&admin)).1["runs"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "the refused requests started nothing"
    );
    let status = serve.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_scheduled_job_fires_and_writers_are_refused_while_the_server_owns_the_database() {
    let site = serve(|r| pages_site(r, 3));
    let setup = Setup::new(
        false,
        &config_tail(&crawl_job(
            "tick",
            "tick.test",
            site.port,
            Some("*/2 * * * * *"),
            50.0,
        )),
    );
    let mut serve = Serve::start(&setup);
    let admin = setup.admin.clone();
    let job = serve.job(&admin, "tick");
    assert_eq!(job["schedule"], "*/2 * * * * *", "{job}");
    assert!(job["next_fire"].is_string(), "{job}");
    // nobody asks: the schedule starts it
    let rec = until("a scheduled run", || {
        let (st, v) = serve.get("/api/jobs/tick/runs", Some(&admin));
        assert_eq!(st, 200, "{v}");
        v["runs"]
            .as_array()
            .unwrap()
            .iter()
            .rev()
            .find(|r| r["outcome"] != "running")
            .cloned()
    });
    assert_eq!(rec["trigger"]["by"], "schedule", "{rec}");
    assert_eq!(rec["outcome"], "ok", "{rec}");
    assert_eq!(rec["pages"], 3, "{rec}");
    let made = rec["detail"]["findings_made"].as_u64().unwrap();
    assert!(made > 0, "{rec}");
    let found = serve.findings(&setup.reviewer.clone(), "site=tick.test");
    assert_eq!(found.len() as u64, made);

    // the commands that write the database say who owns it, never sled's
    // lock error
    let db = setup.db();
    let csv = setup.dir.path().join("export.csv");
    std::fs::write(&csv, "企业名称,统一社会信用代码\n某某理财有限公司,\n").unwrap();
    let seeds = setup.dir.path().join("seeds.txt");
    std::fs::write(&seeds, format!("http://tick.test:{}/\n", site.port)).unwrap();
    for args in [
        vec!["crawl", "--seeds", s(&seeds), "--db", s(&db)],
        vec!["registry", "scan", "--db", s(&db), s(&csv)],
        vec!["recheck", "--db", s(&db)],
    ] {
        let out = finscan(&args, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out));
        let said = text(&out);
        assert!(
            said.contains(&format!("in use by finscan serve (pid {}", serve.pid())),
            "{args:?}: {said}"
        );
        assert!(said.contains("POST /api/jobs/NAME/run"), "{said}");
        assert!(!said.contains("could not acquire lock"), "{said}");
    }
    let status = serve.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
}

#[test]
fn a_passed_deadline_is_rechecked_by_the_server_without_anyone_asking() {
    let pages = Arc::new(Mutex::new(std::collections::BTreeMap::from([
        ("/".to_owned(), format!("{VIOLATION}<a href=\"/b\">b</a>")),
        ("/b".to_owned(), VIOLATION.to_owned()),
    ])));
    let shown = pages.clone();
    let site = serve(move |r| {
        if r.path() == "/robots.txt" {
            return allow_all();
        }
        match shown.lock().unwrap().get(r.path()) {
            Some(body) => html(body),
            None => Response::not_found(),
        }
    });
    let port = site.port;
    let setup = Setup::new(
        false,
        &config_tail(&format!(
            "{}[[jobs]]\nname = \"deadlines\"\nkind = \"recheck\"\n[jobs.options]\n\
             resolve = [\"a.test:{port}:127.0.0.1\"]\nallow_private = true\nrate_per_host = 50.0\n",
            crawl_job("site", "a.test", port, None, 50.0)
        )),
    );
    let mut serve = Serve::start(&setup);
    let admin = setup.admin.clone();
    let t = setup.reviewer.clone();
    let (st, v) = serve.call("POST", "/api/jobs/site/run", Some(&admin), None);
    assert_eq!(st, 202, "{v}");
    let rec = serve.ended_run(&admin, "site", v["run"].as_u64().unwrap());
    assert_eq!(rec["outcome"], "ok", "{rec}");
    let all = serve.findings(&t, "site=a.test");
    let on = |path: &str| -> Vec<String> {
        all.iter()
            .filter(|f| f["url"].as_str().unwrap().ends_with(path))
            .map(|f| f["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (home, b) = (on(&format!(":{port}/")), on("/b"));
    assert!(!home.is_empty() && !b.is_empty(), "{all:?}");
    let ids: Vec<&String> = home.iter().chain(&b).collect();
    let (st, v) = serve.call(
        "POST",
        "/api/review",
        Some(&t),
        Some(&json!({"action": "confirm", "reviewer": "王审核", "ids": ids})),
    );
    assert_eq!(st, 200, "{v}");
    // the home page's operator acts; /b's does not
    pages.lock().unwrap().insert(
        "/".into(),
        "<p>本平台已整改，仅提供信息服务。</p><a href=\"/b\">b</a>".into(),
    );
    let yesterday = jiff::Zoned::now()
        .with_time_zone(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap())
        .date()
        .yesterday()
        .unwrap()
        .to_string();
    let (st, v) = serve.call(
        "POST",
        "/api/review",
        Some(&t),
        Some(&json!({"action": "notify", "reviewer": "王审核", "deadline": yesterday, "ids": ids})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["reviewed"], ids.len(), "{v}");
    // the deadline has passed: the server rechecks both pages by itself
    let status = |serve: &mut Serve, id: &str| {
        let (st, v) = serve.get(&format!("/api/findings/{id}"), Some(&t));
        assert_eq!(st, 200, "{v}");
        v["finding"]["status"].as_str().unwrap().to_owned()
    };
    for id in &home {
        let s = until("the home page's recheck", || {
            Some(status(&mut serve, id)).filter(|s| s != "notified")
        });
        assert_eq!(s, "rectified", "{id}");
        let (_, events) = serve.get(&format!("/api/findings/{id}/history"), Some(&t));
        let last = events.as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["reviewer"], "finscan", "{last}");
    }
    for id in &b {
        let s = until("/b's recheck", || {
            Some(status(&mut serve, id)).filter(|s| s != "notified")
        });
        assert_eq!(s, "persisting", "{id}");
    }
    let (st, v) = serve.get("/api/jobs/deadlines/runs", Some(&admin));
    assert_eq!(st, 200);
    let run = &v["runs"][0];
    assert_eq!(run["trigger"]["by"], "deadline", "{v}");
    assert_eq!(run["outcome"], "ok", "{v}");
    assert_eq!(run["kind"], "recheck");
    let status = serve.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
}

/// Pages (URL and state) and finding ids of a stopped server's database.
fn contents(db: &Path) -> (BTreeSet<(String, String)>, BTreeSet<String>) {
    let pages = crawl_support::pages(db)
        .iter()
        .map(|p| {
            (
                p["url"].as_str().unwrap().to_owned(),
                p["state"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let findings = crawl_support::hits(db)
        .iter()
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect();
    (pages, findings)
}

#[test]
fn a_server_killed_mid_crawl_resumes_the_run_with_the_result_of_an_uninterrupted_one() {
    let site = serve(|r| pages_site(r, 40));
    let jobs = crawl_job("site", "a.test", site.port, None, 10.0);

    // uninterrupted
    let clean = Setup::new(false, &config_tail(&jobs));
    let mut serve = Serve::start(&clean);
    let admin = clean.admin.clone();
    let (st, v) = serve.call("POST", "/api/jobs/site/run", Some(&admin), None);
    assert_eq!(st, 202, "{v}");
    let rec = serve.ended_run(&admin, "site", v["run"].as_u64().unwrap());
    assert_eq!(
        (rec["outcome"].as_str(), rec["pages"].as_u64()),
        (Some("ok"), Some(40)),
        "{rec}"
    );
    let want_findings = serve.findings(&clean.reviewer.clone(), "").len();
    assert!(serve.signal_and_wait(libc::SIGTERM).success());
    let (want_pages, want_ids) = contents(&clean.db());
    assert_eq!(want_pages.len(), 40);
    assert_eq!(want_ids.len(), want_findings);
    let before = page_requests(&site, "a.test");

    // killed once it has fetched a few pages, whatever the machine's speed
    let setup = Setup::new(false, &config_tail(&jobs));
    let mut serve = Serve::start(&setup);
    let admin = setup.admin.clone();
    let (st, v) = serve.call("POST", "/api/jobs/site/run", Some(&admin), None);
    assert_eq!(st, 202, "{v}");
    let killed = v["run"].as_u64().unwrap();
    until("a few pages", || {
        (page_requests(&site, "a.test") >= before + 8).then_some(())
    });
    serve.signal_and_wait(libc::SIGKILL);
    let fetched = page_requests(&site, "a.test") - before;
    assert!(fetched < 40, "killed mid-crawl: {fetched} pages");

    // started again: the run is resumed, not restarted
    let mut serve = Serve::start(&setup);
    let (st, v) = serve.get("/api/jobs/site/runs", Some(&admin));
    assert_eq!(st, 200, "{v}");
    let runs = v["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2, "{v}");
    assert_eq!(runs[1]["id"], killed);
    assert_eq!(runs[1]["outcome"], "interrupted", "{v}");
    assert_eq!(runs[0]["trigger"], json!({"by": "resume", "from": killed}));
    assert_eq!(runs[1]["resumed_by"], runs[0]["id"]);
    let resumed = serve.ended_run(&admin, "site", runs[0]["id"].as_u64().unwrap());
    assert_eq!(resumed["outcome"], "ok", "{resumed}");
    assert!(
        resumed["pages"].as_u64().unwrap() < 40,
        "continued, not restarted: {resumed}"
    );
    assert_eq!(
        serve.findings(&setup.reviewer.clone(), "").len(),
        want_findings,
        "findings on the server's desk"
    );
    assert!(serve.signal_and_wait(libc::SIGTERM).success());
    let (pages, ids) = contents(&setup.db());
    assert_eq!(pages, want_pages, "same pages, same states");
    assert_eq!(ids, want_ids, "no finding lost, none doubled");
    // pages done before the kill were not fetched again (one request may
    // have been in flight at the kill)
    let after = page_requests(&site, "a.test") - before;
    assert!(after <= 41, "{after} page requests for 40 pages");
}

#[test]
fn sigterm_stops_a_running_job_at_a_checkpoint_and_the_next_start_resumes_it() {
    let site = serve(|r| pages_site(r, 40));
    let setup = Setup::new(
        false,
        &config_tail(&crawl_job("site", "a.test", site.port, None, 10.0)),
    );
    let mut serve = Serve::start(&setup);
    let admin = setup.admin.clone();
    let (st, v) = serve.call("POST", "/api/jobs/site/run", Some(&admin), None);
    assert_eq!(st, 202, "{v}");
    let stopped = v["run"].as_u64().unwrap();
    until("a few pages", || {
        (page_requests(&site, "a.test") >= 8).then_some(())
    });
    let status = serve.signal_and_wait(libc::SIGTERM);
    assert!(status.success(), "{status:?}");
    let log = std::fs::read_to_string(setup.log()).unwrap();
    let last = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["message"] == "stopped; the database is flushed")
        .unwrap_or_else(|| panic!("no last line: {log}"));
    assert_eq!(last["jobs_stopped"], 1, "{last}");
    assert_eq!(last["jobs_unfinished"], 0, "{last}");
    assert!(!setup.db().join("serve.json").exists());

    let mut serve = Serve::start(&setup);
    let (_, v) = serve.get("/api/jobs/site/runs", Some(&admin));
    let runs = v["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 2, "{v}");
    let first = &runs[1];
    assert_eq!(first["id"], stopped);
    assert_eq!(first["outcome"], "interrupted", "{first}");
    assert!(first["ended"].is_string(), "a shutdown knows when: {first}");
    let first_pages = first["pages"].as_u64().unwrap();
    assert!(first_pages > 0 && first_pages < 40, "{first}");
    assert_eq!(runs[0]["trigger"], json!({"by": "resume", "from": stopped}));
    let resumed = serve.ended_run(&admin, "site", runs[0]["id"].as_u64().unwrap());
    assert_eq!(resumed["outcome"], "ok", "{resumed}");
    assert_eq!(
        first_pages + resumed["pages"].as_u64().unwrap(),
        40,
        "the resumed run did what the stopped one left: {first} {resumed}"
    );
    assert_eq!(page_requests(&site, "a.test"), 40, "no page fetched twice");
    assert!(serve.signal_and_wait(libc::SIGTERM).success());
}
