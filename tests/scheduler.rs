//! The scheduler through its library API, against sites served on 127.0.0.1
//! inside the test: a schedule fires, an overlapping run is refused, a
//! failing job does not stop the others, an interrupted run (SIGKILL of the
//! process, or a shutdown) is resumed at the next start and ends with the
//! findings of an uninterrupted run, and a passed deadline fires the
//! recheck that rectifies a finding.

mod crawl_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crawl_support::{Request, Response, Scratch, allow_all, html, serve};
use finscan::job::crawl::CrawlOptions;
use finscan::job::recheck::RecheckOptions;
use finscan::jobs::{
    JobDef, JobError, JobKind, JobOptions, JobsError, Kinds, RunContext, RunOutcome, RunRecord,
    RunSummary, Runner, Schedule, Scheduler, SchedulerConfig, Trigger,
};
use finscan::registry::pipeline::RegistryScanOptions;
use finscan::review::{Action, Decision, Desk, Evidence, Query, Status};
use finscan::store::Store;
use finscan::time::Zone;
use futures_util::FutureExt;
use futures_util::future::BoxFuture;

/// Long enough for a slow, busy 2-core machine; the tests never wait it
/// unless something is broken.
const PATIENCE: Duration = Duration::from_secs(90);

fn config() -> SchedulerConfig {
    SchedulerConfig {
        zone: Zone::named("Asia/Shanghai").unwrap(),
        progress_every: Duration::from_millis(200),
        ..SchedulerConfig::default()
    }
}

/// Opens the database, retrying while a process that just ended (or
/// handles just dropped) still hold its lock.
fn open_store(db: &Path) -> Store {
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        match Store::open(db) {
            Ok(s) => return s,
            Err(e) if Instant::now() > until => panic!("open {}: {e}", db.display()),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

fn desk(db: &Path) -> Arc<Desk> {
    Arc::new(Desk::from_store(open_store(db)).unwrap().0)
}

/// A crawl job of `host` served on `port` (mapped to 127.0.0.1).
fn crawl_job(name: &str, host: &str, port: u16, rate: f64) -> JobDef {
    JobDef::new(
        name,
        JobOptions::Crawl(CrawlOptions {
            urls: vec![format!("http://{host}:{port}/")],
            resolve: vec![format!("{host}:{port}:127.0.0.1")],
            allow_private: true,
            rate_per_host: rate,
            timeout: 20.0,
            ..CrawlOptions::default()
        }),
    )
}

/// The options of a crawl (or registry-profile) job.
fn crawl_options(job: &mut JobDef) -> &mut CrawlOptions {
    match &mut job.options {
        JobOptions::Crawl(o) | JobOptions::RegistryProfile(o) => o,
        o => panic!("not a crawl: {o:?}"),
    }
}

fn recheck_job(hosts: &[&str], port: u16) -> JobDef {
    JobDef::new(
        "recheck",
        JobOptions::Recheck(RecheckOptions {
            resolve: hosts
                .iter()
                .map(|h| format!("{h}:{port}:127.0.0.1"))
                .collect(),
            allow_private: true,
            rate_per_host: 50.0,
            ..RecheckOptions::default()
        }),
    )
}

fn registry_job(name: &str, inputs: Vec<std::path::PathBuf>) -> JobDef {
    JobDef::new(
        name,
        JobOptions::Registry(RegistryScanOptions {
            inputs,
            ..RegistryScanOptions::default()
        }),
    )
}

/// Polls `f` until it gives a value.
async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait(s: &Scheduler, id: finscan::jobs::RunId) -> RunRecord {
    tokio::time::timeout(PATIENCE, s.wait(id))
        .await
        .expect("the run ends")
        .unwrap()
}

/// A site of `n` pages: page i links to i+1..i+3; every third page carries
/// a violation.
fn pages_site(r: &Request, n: usize) -> Response {
    crawl_support::chain_site(
        r,
        n,
        "<p>平台承诺保本保息，设立资金池</p>",
        "<p>普通页面</p>",
    )
}

const VIOLATION: &str = "<p>本平台承诺保本保息，资金安全有保障。</p>";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_schedule_a_few_seconds_out_fires() {
    let srv = serve(|r| pages_site(r, 4));
    let sc = Scratch::new();
    let zone = config().zone;
    // the wall-clock second 5 s from now, in the office's zone
    let at = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(5))
        .unwrap()
        .to_zoned(jiff::tz::TimeZone::get("Asia/Shanghai").unwrap());
    let cron = format!("{} {} {} * * *", at.second(), at.minute(), at.hour());
    let mut job = crawl_job("site", "a.test", srv.port, 50.0);
    job.schedule = Some(Schedule::parse(&cron).unwrap());
    let d = desk(&sc.db());
    let s = Scheduler::start(d.clone(), vec![job], config()).unwrap();
    let listed = s.list();
    let site = listed.iter().find(|j| j.name == "site").unwrap();
    let fire = site.next_fire.expect("a next fire");
    assert_eq!(
        fire.as_second(),
        at.timestamp().as_second(),
        "{cron} in {zone}"
    );
    assert!(site.running.is_none());
    let run = until("the scheduled run", || {
        s.runs("site", 5)
            .unwrap()
            .into_iter()
            .find(|r| r.outcome != RunOutcome::Running)
    })
    .await;
    assert_eq!(run.trigger, Trigger::Schedule);
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.messages);
    assert!(run.started >= fire, "fired at {} for {fire}", run.started);
    assert_eq!(run.counts.pages, 4);
    assert!(run.counts.findings_new > 0, "pages 0 and 3 have violations");
    assert!(run.ended.is_some_and(|e| e >= run.started));
    // the next fire is the same time tomorrow
    let next = s
        .list()
        .into_iter()
        .find(|j| j.name == "site")
        .and_then(|j| j.next_fire)
        .unwrap();
    assert_eq!(next.as_second() - fire.as_second(), 24 * 3600);
    // the findings are on the desk without anyone opening it
    assert_eq!(d.total().unwrap(), run.counts.findings_new);
    s.shutdown(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overlapping_run_is_refused_with_the_running_id() {
    // every page answers after a second: the run lasts a few seconds
    let srv = serve(|r| pages_site(r, 3).delayed(Duration::from_millis(1000)));
    let sc = Scratch::new();
    let jobs = vec![
        crawl_job("a", "a.test", srv.port, 50.0),
        crawl_job("b", "b.test", srv.port, 50.0),
    ];
    let s = Scheduler::start(desk(&sc.db()), jobs, config()).unwrap();
    let first = s.run_now("a").unwrap();
    match s.run_now("a") {
        Err(JobsError::AlreadyRunning { job, run }) => {
            assert_eq!((job.as_str(), run), ("a", first));
        }
        other => panic!("a second run of a running job: {other:?}"),
    }
    let listed = s.list();
    let a = listed.iter().find(|j| j.name == "a").unwrap();
    assert_eq!(a.running.as_ref().map(|r| r.run), Some(first));
    // another crawl job is not refused: it waits for the crawler
    let other = s.run_now("b").unwrap();
    assert_ne!(other, first);
    let b = s.list().into_iter().find(|j| j.name == "b").unwrap();
    assert!(b.running.as_ref().unwrap().waiting_for_crawler, "{b:?}");
    let done = wait(&s, first).await;
    assert_eq!(done.outcome, RunOutcome::Ok, "{:?}", done.messages);
    assert_eq!(done.counts.pages, 3);
    // once it has ended, the job runs again
    let again = s.run_now("a").unwrap();
    assert!(again > first);
    assert_eq!(wait(&s, again).await.outcome, RunOutcome::Ok);
    let b = wait(&s, other).await;
    assert_eq!((b.outcome, b.counts.pages), (RunOutcome::Ok, 3));
    // the two crawls never fetched at the same time: b's pages came after a's
    let log = srv.log();
    let last_a = log
        .iter()
        .filter(|l| l.host == "a.test")
        .map(|l| l.at)
        .max()
        .unwrap();
    let first_b = log
        .iter()
        .filter(|l| l.host == "b.test")
        .map(|l| l.at)
        .min()
        .unwrap();
    assert!(first_b >= last_a, "one crawler at a time");
    let ids: Vec<_> = s.runs("a", 10).unwrap().iter().map(|r| r.id).collect();
    assert_eq!(ids, [again, first]);
    s.shutdown(Duration::from_secs(30)).await;
}

/// Runs finscan's kinds, except that job `panics` panics, and
/// `panics-early` panics before it has a future to run.
struct Panicky;

impl Runner for Panicky {
    fn run(
        &self,
        job: Arc<JobDef>,
        ctx: RunContext,
    ) -> BoxFuture<'static, Result<RunSummary, JobError>> {
        if job.name == "panics" {
            return async { panic!("boom in the job") }.boxed();
        }
        if job.name == "panics-early" {
            panic!("boom before the job");
        }
        Kinds.run(job, ctx)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_recorded_failed_and_the_scheduler_goes_on() {
    let srv = serve(|r| pages_site(r, 2));
    let sc = Scratch::new();
    let missing = sc.dir.path().join("no-such-seeds.txt");
    let mut broken = crawl_job("broken", "a.test", srv.port, 50.0);
    crawl_options(&mut broken).urls.clear();
    crawl_options(&mut broken).seeds = Some(missing.clone());
    let panics = crawl_job("panics", "a.test", srv.port, 50.0);
    let panics_early = crawl_job("panics-early", "a.test", srv.port, 50.0);
    // an option only the scan can refuse: the run fails, naming it
    let registry = JobDef::new(
        "registry",
        JobOptions::Registry(RegistryScanOptions {
            inputs: vec![sc.dir.path().join("export.csv")],
            format: Some("pdf".into()),
            ..RegistryScanOptions::default()
        }),
    );
    let good = crawl_job("good", "a.test", srv.port, 50.0);
    let s = Scheduler::start_with(
        desk(&sc.db()),
        vec![broken, panics, panics_early, registry, good],
        config(),
        Arc::new(Panicky),
    )
    .unwrap();

    let r = wait(&s, s.run_now("broken").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert!(
        r.messages[0].contains("reading seeds file") && r.messages[0].contains("no-such-seeds.txt"),
        "{:?}",
        r.messages
    );
    assert!(r.ended.is_some());

    let r = wait(&s, s.run_now("panics").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert!(
        r.messages[0].contains("the job panicked: boom in the job"),
        "{:?}",
        r.messages
    );

    let r = wait(&s, s.run_now("panics-early").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert!(
        r.messages[0].contains("the job panicked: boom before the job"),
        "{:?}",
        r.messages
    );

    let r = wait(&s, s.run_now("registry").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Failed);
    assert!(
        r.messages[0].contains("unknown format \"pdf\""),
        "{:?}",
        r.messages
    );

    // the others still run, and so do the failed ones when asked again
    let r = wait(&s, s.run_now("good").unwrap()).await;
    assert_eq!(
        (r.outcome, r.counts.pages),
        (RunOutcome::Ok, 2),
        "{:?}",
        r.messages
    );
    std::fs::write(&missing, format!("http://a.test:{}/\n", srv.port)).unwrap();
    let r = wait(&s, s.run_now("broken").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.messages);
    let listed = s.list();
    let status = |n: &str| {
        listed
            .iter()
            .find(|j| j.name == n)
            .unwrap()
            .last
            .as_ref()
            .unwrap()
            .outcome
    };
    assert_eq!(status("panics"), RunOutcome::Failed);
    assert_eq!(status("good"), RunOutcome::Ok);
    assert_eq!(status("broken"), RunOutcome::Ok);
    assert_eq!(s.runs("broken", 10).unwrap().len(), 2);
    assert!(matches!(
        s.run_now("nothing"),
        Err(JobsError::UnknownJob(_))
    ));
    s.shutdown(Duration::from_secs(30)).await;
}

/// Pages (URL → state) and hit ids of a database.
fn contents(store: &Store) -> (BTreeMap<String, String>, BTreeSet<String>) {
    let pages = store
        .pages_iter()
        .map(|p| {
            let p = p.unwrap();
            (p.url, p.state.as_str().to_owned())
        })
        .collect();
    let hits = store.hits_iter().map(|h| h.unwrap().id).collect();
    (pages, hits)
}

/// The uninterrupted run the interrupted ones are compared with.
async fn clean_run(port: u16) -> (BTreeMap<String, String>, BTreeSet<String>, u64) {
    let sc = Scratch::new();
    let d = desk(&sc.db());
    let s = Scheduler::start(
        d.clone(),
        vec![crawl_job("site", "a.test", port, 20.0)],
        config(),
    )
    .unwrap();
    let r = wait(&s, s.run_now("site").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.messages);
    s.shutdown(Duration::from_secs(30)).await;
    let (pages, hits) = contents(d.store());
    (pages, hits, d.total().unwrap())
}

const CHILD_DB: &str = "FINSCAN_JOBS_TEST_DB";
const CHILD_PORT: &str = "FINSCAN_JOBS_TEST_PORT";

/// The process `an_interrupted_run_is_resumed_after_a_kill` kills: starts
/// the crawl job and waits to be killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by an_interrupted_run_is_resumed_after_a_kill as its child process"]
async fn child_runs_a_crawl_job_until_killed() {
    let (Ok(db), Ok(port)) = (std::env::var(CHILD_DB), std::env::var(CHILD_PORT)) else {
        return;
    };
    let port: u16 = port.parse().unwrap();
    let s = Scheduler::start(
        desk(Path::new(&db)),
        vec![crawl_job("site", "a.test", port, 20.0)],
        config(),
    )
    .unwrap();
    let id = s.run_now("site").unwrap();
    println!("started run {id}");
    tokio::time::sleep(PATIENCE).await;
}

fn page_requests(srv: &crawl_support::Server) -> usize {
    srv.log()
        .iter()
        .filter(|l| l.target != "/robots.txt")
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_resumed_after_a_kill() {
    let srv = serve(|r| pages_site(r, 40));
    let (want_pages, want_hits, want_findings) = clean_run(srv.port).await;
    assert_eq!(want_pages.len(), 40);
    let before = page_requests(&srv);

    let sc = Scratch::new();
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_runs_a_crawl_job_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DB, sc.db())
        .env(CHILD_PORT, srv.port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // kill it once it has fetched a few pages: mid-crawl, whatever the speed
    until("the child to fetch pages", || {
        (page_requests(&srv) >= before + 8).then_some(())
    })
    .await;
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let fetched_by_child = page_requests(&srv) - before;
    assert!(
        fetched_by_child < 40,
        "killed mid-crawl: {fetched_by_child} pages"
    );

    let d = desk(&sc.db());
    let s = Scheduler::start(
        d.clone(),
        vec![crawl_job("site", "a.test", srv.port, 20.0)],
        config(),
    )
    .unwrap();
    let runs = s.runs("site", 10).unwrap();
    assert_eq!(runs.len(), 2, "{runs:?}");
    let (resumed, killed) = (&runs[0], &runs[1]);
    assert_eq!(resumed.trigger, Trigger::Resume { from: killed.id });
    assert_eq!(killed.outcome, RunOutcome::Interrupted);
    assert_eq!(killed.resumed_by, Some(resumed.id));
    assert_eq!(killed.ended, None, "when a killed run stopped is not known");
    let resumed = wait(&s, resumed.id).await;
    assert_eq!(resumed.outcome, RunOutcome::Ok, "{:?}", resumed.messages);
    assert!(
        resumed.counts.pages < 40,
        "continued, not restarted: {:?}",
        resumed.counts
    );
    s.shutdown(Duration::from_secs(30)).await;

    let (pages, hits) = contents(d.store());
    assert_eq!(pages, want_pages, "same pages, same states");
    assert_eq!(hits, want_hits, "no finding lost, none doubled");
    assert_eq!(d.total().unwrap(), want_findings);
    // pages done before the kill were not fetched again (one request per
    // host may have been in flight at the kill)
    let after = page_requests(&srv) - before;
    assert!(after <= 41, "{after} page requests for 40 pages");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_stopped_by_shutdown_is_resumed_at_the_next_start() {
    let srv = serve(|r| pages_site(r, 40));
    let (want_pages, want_hits, _) = clean_run(srv.port).await;
    let before = page_requests(&srv);
    let sc = Scratch::new();
    let job = || crawl_job("site", "a.test", srv.port, 20.0);
    let stopped = {
        let s = Scheduler::start(desk(&sc.db()), vec![job()], config()).unwrap();
        let id = s.run_now("site").unwrap();
        until("a few pages", || {
            (page_requests(&srv) >= before + 8).then_some(())
        })
        .await;
        let report = s.shutdown(Duration::from_secs(60)).await;
        assert_eq!(report.stopped, [id]);
        assert!(report.unfinished.is_empty());
        assert!(matches!(s.run_now("site"), Err(JobsError::ShuttingDown)));
        let r = s.run(id).unwrap().unwrap();
        assert_eq!(r.outcome, RunOutcome::Interrupted);
        assert!(r.ended.is_some());
        assert!(r.counts.pages > 0 && r.counts.pages < 40, "{:?}", r.counts);
        assert!(r.checkpoint.is_some(), "kept for the resumption");
        r
    };
    // everything of the first scheduler is dropped: the database reopens
    let d = desk(&sc.db());
    let s = Scheduler::start(d.clone(), vec![job()], config()).unwrap();
    let resumed = s.runs("site", 1).unwrap().remove(0);
    assert_eq!(resumed.trigger, Trigger::Resume { from: stopped.id });
    let resumed = wait(&s, resumed.id).await;
    assert_eq!(resumed.outcome, RunOutcome::Ok, "{:?}", resumed.messages);
    assert_eq!(stopped.counts.pages + resumed.counts.pages, 40);
    assert_eq!(
        stopped.counts.findings_new + resumed.counts.findings_new,
        want_hits.len() as u64
    );
    s.shutdown(Duration::from_secs(30)).await;
    let (pages, hits) = contents(d.store());
    assert_eq!(pages, want_pages);
    assert_eq!(hits, want_hits);
    assert_eq!(page_requests(&srv) - before, 40, "no page fetched twice");
}

/// A site whose pages the test changes.
fn changing_site(pages: Arc<Mutex<BTreeMap<String, String>>>) -> crawl_support::Server {
    serve(move |r| {
        if r.path() == "/robots.txt" {
            return allow_all();
        }
        match pages.lock().unwrap().get(r.path()) {
            Some(body) => html(body),
            None => Response::not_found(),
        }
    })
}

fn decide(d: &Desk, ids: &[finscan::review::FindingId], action: Action) {
    d.review(
        ids,
        &Decision {
            action,
            reviewer: "王审核".into(),
            note: None,
        },
        |_, _| {},
    )
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_passed_deadline_fires_a_recheck_that_rectifies_the_finding() {
    let pages = Arc::new(Mutex::new(BTreeMap::from([
        ("/".to_owned(), format!("{VIOLATION}<a href=\"/b\">b</a>")),
        ("/b".to_owned(), VIOLATION.to_owned()),
    ])));
    let srv = changing_site(pages.clone());
    let sc = Scratch::new();
    let d = desk(&sc.db());
    let s = Scheduler::start(
        d.clone(),
        vec![
            crawl_job("site", "a.test", srv.port, 50.0),
            recheck_job(&["a.test"], srv.port),
        ],
        config(),
    )
    .unwrap();
    let r = wait(&s, s.run_now("site").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.messages);
    assert_eq!(s.next_deadline(), None, "nothing notified yet");
    let all = d.list(&Query::default()).unwrap().findings;
    let on = |path: &str| -> Vec<_> {
        all.iter()
            .filter(|f| matches!(&f.evidence, Evidence::Page(p) if p.url.ends_with(path)))
            .map(|f| f.id)
            .collect()
    };
    let (home, b) = (on(&format!(":{}/", srv.port)), on("/b"));
    assert!(!home.is_empty() && !b.is_empty());
    let both: Vec<_> = home.iter().chain(&b).copied().collect();
    decide(&d, &both, Action::Confirm);
    // the home page is rectified before its deadline, which has passed; /b
    // has until the end of 2099
    pages.lock().unwrap().insert(
        "/".into(),
        "<p>本平台已整改，仅提供信息服务。</p><a href=\"/b\">b</a>".into(),
    );
    decide(
        &d,
        &home,
        Action::Notify {
            deadline: "2026-01-31".parse().unwrap(),
        },
    );
    decide(
        &d,
        &b,
        Action::Notify {
            deadline: "2099-12-31".parse().unwrap(),
        },
    );
    let home_requests = srv.count("a.test", "/");
    s.deadlines_changed();

    let run = until("the deadline's recheck", || {
        s.runs("recheck", 5)
            .unwrap()
            .into_iter()
            .find(|r| r.outcome != RunOutcome::Running)
    })
    .await;
    assert_eq!(run.trigger, Trigger::Deadline);
    assert_eq!(run.outcome, RunOutcome::Ok, "{:?}", run.messages);
    assert_eq!(run.detail.as_ref().unwrap()["pages_fetched"], 1);
    assert_eq!(
        srv.count("a.test", "/"),
        home_requests + 1,
        "the due page fetched again"
    );
    for id in &home {
        let f = d.get(*id).unwrap().unwrap();
        assert_eq!(f.status, Status::Rectified, "{id}");
        let last = d.history(*id).unwrap().pop().unwrap();
        assert_eq!(last.action, Action::Rectify);
        assert_eq!(last.reviewer, "finscan");
        assert!(last.recheck.unwrap().sha256.is_some());
    }
    for id in &b {
        assert_eq!(d.get(*id).unwrap().unwrap().status, Status::Notified);
    }
    // the next fire is /b's deadline: the end of 2099-12-31 in Shanghai
    let next = until("the next deadline", || s.next_deadline()).await;
    assert_eq!(next, "2099-12-31T16:00:01Z".parse().unwrap());
    // the passed deadline fired once: the recheck covered it
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.runs("recheck", 10).unwrap().len(), 1);
    s.shutdown(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_recheck_job_one_is_added_for_deadlines() {
    let sc = Scratch::new();
    let s = Scheduler::start(desk(&sc.db()), Vec::new(), config()).unwrap();
    let jobs = s.list();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].name.as_str(), jobs[0].kind),
        ("recheck", JobKind::Recheck)
    );
    assert_eq!(jobs[0].schedule, None);
    // with nothing notified it runs, decides nothing, and is ok
    let r = wait(&s, s.run_now("recheck").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.messages);
    assert_eq!(r.detail.unwrap()["recheck"]["due"], 0);
    s.shutdown(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_job_definitions_are_refused_at_start_naming_the_job() {
    let sc = Scratch::new();
    let d = desk(&sc.db());
    let mut bad = crawl_job("x", "a.test", 80, 1.0);
    crawl_options(&mut bad).rate_per_host = f64::NAN;
    let e = Scheduler::start(d.clone(), vec![bad], config())
        .err()
        .unwrap();
    assert!(
        e.to_string().contains("job \"x\": option `rate_per_host`"),
        "{e}"
    );
    let twice = vec![
        crawl_job("x", "a.test", 80, 1.0),
        crawl_job("x", "b.test", 80, 1.0),
    ];
    let e = Scheduler::start(d, twice, config()).err().unwrap();
    assert!(e.to_string().contains("two jobs are named \"x\""), "{e}");
}

const PROFILE: &str = r#"
name = "test-registry"
url_patterns = ['^http://reg\.test:\d+/list/\d+$']
record = "table.co tbody tr"
next_page = "a.next"
[fields]
name = ".n"
uscc = ".c"
"#;

fn registry_site(r: &Request) -> Response {
    match r.path() {
        "/robots.txt" => allow_all(),
        "/list/1" => html(
            r#"<table class="co"><tbody>
            <tr><td class="n">安康鑫源理财咨询有限公司</td><td class="c">91610902MA70B5XK71</td></tr>
            <tr><td class="n">西安企业管理咨询有限公司</td><td class="c">91610113MA6X8W9U0</td></tr>
            </tbody></table><a class="next" href="/list/2">下一页</a>"#,
        ),
        "/list/2" => html(
            r#"<table class="co"><tbody>
            <tr><td class="n">陕西Ｐ２Ｐ网贷信息服务有限公司</td><td class="c">91610113MA6U5R2T3</td></tr>
            </tbody></table>"#,
        ),
        _ => Response::not_found(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_profile_job_reads_companies_from_registry_pages() {
    let srv = serve(registry_site);
    let sc = Scratch::new();
    let profile = sc.dir.path().join("profile.toml");
    std::fs::write(&profile, PROFILE).unwrap();
    let mut job = crawl_job("registry-pages", "reg.test", srv.port, 50.0);
    let mut o = crawl_options(&mut job).clone();
    o.urls = vec![format!("http://reg.test:{}/list/1", srv.port)];
    o.profile = Some(profile);
    job.options = JobOptions::RegistryProfile(o);
    let d = desk(&sc.db());
    let s = Scheduler::start(d.clone(), vec![job], config()).unwrap();
    let r = wait(&s, s.run_now("registry-pages").unwrap()).await;
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.messages);
    let detail = r.detail.unwrap();
    assert_eq!(detail["registry_records"], 3, "{detail}");
    let flagged = detail["registry_flagged"].as_u64().unwrap();
    assert!(flagged >= 2, "理财 and 网贷 in names: {detail}");
    // the flagged companies are findings on the desk
    let registry = d
        .list(&Query {
            source: Some(finscan::review::SourceKind::Registry),
            ..Query::default()
        })
        .unwrap()
        .findings;
    assert_eq!(registry.len() as u64, flagged);
    s.shutdown(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_run_is_recorded_and_not_resumed() {
    let srv = serve(|r| pages_site(r, 40));
    let sc = Scratch::new();
    let job = || {
        vec![
            crawl_job("site", "a.test", srv.port, 10.0),
            crawl_job("other", "b.test", srv.port, 10.0),
        ]
    };
    let id = {
        let s = Scheduler::start(desk(&sc.db()), job(), config()).unwrap();
        assert!(matches!(
            s.cancel_job("site"),
            Err(JobsError::NotRunning(_))
        ));
        let id = s.run_now("site").unwrap();
        // a run waiting for the crawler is cancelled by its id
        let waiting = s.run_now("other").unwrap();
        s.cancel_run(waiting).unwrap();
        let w = wait(&s, waiting).await;
        assert_eq!(w.outcome, RunOutcome::Cancelled, "{:?}", w.messages);
        until("a few pages", || (page_requests(&srv) >= 4).then_some(())).await;
        assert_eq!(s.cancel_job("site").unwrap(), id);
        let r = wait(&s, id).await;
        assert_eq!(r.outcome, RunOutcome::Cancelled, "{:?}", r.messages);
        assert!(r.counts.pages > 0 && r.counts.pages < 40, "{:?}", r.counts);
        assert!(matches!(s.cancel_run(id), Err(JobsError::RunNotRunning(_))));
        s.shutdown(Duration::from_secs(30)).await;
        id
    };
    let s = Scheduler::start(desk(&sc.db()), job(), config()).unwrap();
    let runs = s.runs("site", 10).unwrap();
    assert_eq!(runs.len(), 1, "not resumed: {runs:?}");
    assert_eq!(runs[0].id, id);
    assert!(s.list().iter().all(|j| j.running.is_none()));
    s.shutdown(Duration::from_secs(30)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_job_turns_flagged_companies_into_findings_once() {
    let sc = Scratch::new();
    let csv = sc.dir.path().join("export.csv");
    std::fs::write(
        &csv,
        "企业名称,统一社会信用代码,经营范围\n\
         安康鑫源理财咨询有限公司,91610902MA70B5XK71,投资理财咨询\n\
         陕西网贷信息服务有限公司,91610113MA6U5R2T3X,网络借贷信息中介\n\
         西安日用百货有限公司,91610113MA6X8W9U0Y,日用百货销售\n\
         坏行\n",
    )
    .unwrap();
    let missing = sc.dir.path().join("not-exported-yet.csv");
    let d = desk(&sc.db());
    let s = Scheduler::start(
        d.clone(),
        vec![registry_job("registry", vec![csv, missing])],
        config(),
    )
    .unwrap();
    let registry_findings = || {
        d.list(&Query {
            source: Some(finscan::review::SourceKind::Registry),
            ..Query::default()
        })
        .unwrap()
        .findings
    };

    let r = wait(&s, s.run_now("registry").unwrap()).await;
    // a file missing and a bad row: counted and named, the run goes on
    assert_eq!(r.outcome, RunOutcome::Ok, "{:?}", r.messages);
    assert!(
        r.messages
            .iter()
            .any(|m| m.contains("not-exported-yet.csv") && m.contains("skipped")),
        "{:?}",
        r.messages
    );
    let detail = r.detail.clone().unwrap();
    // the bad row is a record with a problem
    assert_eq!(detail["records"], 4, "{detail}");
    let flagged = detail["flagged"].as_u64().unwrap();
    assert!(flagged >= 2, "理财 and 网贷: {detail}");
    assert_eq!(detail["files_failed"], 1, "{detail}");
    assert_eq!(
        (
            r.counts.pages,
            r.counts.findings_new,
            r.counts.findings_seen
        ),
        (4, flagged, 0)
    );
    assert_eq!(r.counts.errors, 2, "{:?}", r.counts);
    let first = registry_findings();
    assert_eq!(first.len() as u64, flagged);
    assert!(
        first.iter().all(|f| matches!(
            &f.evidence,
            Evidence::Registry(c) if !c.name.contains("日用百货")
        )),
        "companies, and the shop is not flagged"
    );

    // the same export again: seen again, not doubled
    let again = wait(&s, s.run_now("registry").unwrap()).await;
    assert_eq!(again.outcome, RunOutcome::Ok, "{:?}", again.messages);
    assert_eq!(
        (again.counts.findings_new, again.counts.findings_seen),
        (0, flagged)
    );
    let ids = |v: &[finscan::review::Finding]| -> BTreeSet<String> {
        v.iter().map(|f| f.id.to_string()).collect()
    };
    assert_eq!(ids(&registry_findings()), ids(&first));
    assert_eq!(d.total().unwrap(), flagged);
    s.shutdown(Duration::from_secs(30)).await;
}
