//! `finscan serve` through the binary: the server runs as a child process
//! on 127.0.0.1 (any free port), over a database made by `finscan demo`;
//! the tests talk to it with reqwest, with raw sockets for the hostile
//! requests, and with the finscan command line itself.

mod serve_support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use serve_support::{Serve, Setup, finscan, request, s, signal, text};

/// Sends `raw` bytes on a new connection and reads the answer to its end.
fn raw(addr: &str, bytes: &[u8]) -> String {
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    c.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn first_id(serve: &mut Serve, token: &str, query: &str) -> String {
    let (st, v) = serve.get(&format!("/api/findings?limit=1&{query}"), Some(token));
    assert_eq!(st, 200, "{v}");
    v["findings"][0]["id"]
        .as_str()
        .expect("a finding")
        .to_owned()
}

#[test]
fn the_example_config_loads_and_a_bad_one_names_file_line_and_key() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("finscan.example.toml");
    let c = finscan::serve::Config::load(&example).expect("the example config loads");
    assert_eq!(c.server.listen.to_string(), "127.0.0.1:8686");
    let kinds: Vec<&str> = c.jobs.iter().map(|j| j.kind().as_str()).collect();
    assert_eq!(
        kinds,
        ["crawl", "registry", "registry-profile", "recheck"],
        "one job of each kind"
    );

    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[server]\nlisten = \"127.0.0.1:0\"\n\n[[jobs]]\nname = \"nightly\"\nkind = \"crawl\"\nschedule = \"0 2 * * *\"\n[jobs.options]\nseeds = \"s.txt\"\nmax_page = 10\n",
    )
    .unwrap();
    let out = finscan(&["serve", "--config", s(&bad)], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("bad.toml:10: jobs[0].options.max_page: unknown field `max_page`"),
        "{}",
        text(&out)
    );
    // a value the library's options refuse, and one only the job's check
    // can (a recheck needs no seeds; a crawl does)
    std::fs::write(
        &bad,
        "[[jobs]]\nname = \"nightly\"\nkind = \"crawl\"\n[jobs.options]\nurls = [\"http://a.test/\"]\nconcurrency = 0\n",
    )
    .unwrap();
    let out = finscan(&["serve", "--config", s(&bad)], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("bad.toml:6: jobs[0].options.concurrency"),
        "{}",
        text(&out)
    );
    std::fs::write(
        &bad,
        "[[jobs]]\nname = \"nightly\"\nkind = \"crawl\"\nschedule = \"0 2 * * *\"\n",
    )
    .unwrap();
    let out = finscan(&["serve", "--config", s(&bad)], &[]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("bad.toml:1: jobs[0].options.seeds: a crawl needs a seeds file"),
        "{}",
        text(&out)
    );
    std::fs::write(
        &bad,
        "[[jobs]]\nname = \"x\"\nkind = \"recheck\"\nschedule = \"every day\"\n",
    )
    .unwrap();
    let out = finscan(&["serve", "--config", s(&bad)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("bad.toml:4: jobs[0].schedule"),
        "{}",
        text(&out)
    );
    let out = finscan(
        &["serve", "--config", s(&dir.path().join("none.toml"))],
        &[],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("no config file"), "{}", text(&out));
}

/// Every endpoint, with the roles that may use it.
fn endpoints(id: &str) -> Vec<(&'static str, String, Option<Value>, &'static [&'static str])> {
    let review = json!({"action": "dismiss", "reviewer": "t", "note": "x"});
    let batch = json!({"action": "confirm", "reviewer": "t", "where": {"site": "nowhere.example"}});
    const RW: &[&str] = &["reviewer", "admin"];
    const ALL: &[&str] = &["reviewer", "admin", "recipient"];
    vec![
        ("GET", "/api/findings".into(), None, RW),
        ("GET", format!("/api/findings/{id}"), None, RW),
        ("GET", format!("/api/findings/{id}/history"), None, RW),
        ("GET", "/api/sites".into(), None, RW),
        ("GET", "/api/check".into(), None, RW),
        ("GET", "/api/exports/companies?format=json".into(), None, RW),
        ("GET", "/api/exports/warc".into(), None, RW),
        (
            "POST",
            format!("/api/findings/{id}/review"),
            Some(review),
            RW,
        ),
        ("POST", "/api/review".into(), Some(batch), RW),
        ("GET", "/api/exports/takedown?format=csv".into(), None, ALL),
        ("GET", "/api/report".into(), None, ALL),
        ("GET", "/api/config".into(), None, &["admin"]),
        ("GET", "/openapi.json".into(), None, ALL),
        // the jobs: the implicit recheck job (none is configured)
        ("GET", "/api/jobs".into(), None, &["admin"]),
        ("GET", "/api/jobs/recheck/runs".into(), None, &["admin"]),
        ("POST", "/api/jobs/recheck/run".into(), None, &["admin"]),
        ("POST", "/api/jobs/recheck/cancel".into(), None, &["admin"]),
    ]
}

#[test]
fn every_endpoint_group_refuses_no_token_a_wrong_token_and_the_wrong_role() {
    let setup = Setup::new(true, "");
    // token list names the holders and roles, never a token or its hash
    let out = finscan(
        &["token", "list", "--json", "--config", s(&setup.config())],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let listed = String::from_utf8_lossy(&out.stdout).into_owned();
    let roles: Vec<(String, String)> = listed
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (
                v["name"].as_str().unwrap().into(),
                v["role"].as_str().unwrap().into(),
            )
        })
        .collect();
    assert_eq!(
        roles,
        [
            ("wang.li", "reviewer"),
            ("root", "admin"),
            ("wangxinban", "recipient")
        ]
        .map(|(n, r)| (n.to_string(), r.to_string()))
    );
    let config_text = std::fs::read_to_string(setup.config()).unwrap();
    for t in [&setup.reviewer, &setup.admin, &setup.recipient] {
        assert!(!listed.contains(t.as_str()) && !config_text.contains(t.as_str()));
    }
    assert!(!listed.contains("sha256"), "{listed}");
    let mut serve = Serve::start(&setup);
    let (st, v) = serve.get("/health", None);
    assert_eq!((st, v["status"].as_str()), (200, Some("ok")));
    let id = first_id(&mut serve, &setup.reviewer.clone(), "status=new");
    let forged = format!("fst_{}", "0".repeat(64));
    for (method, path, body, roles) in endpoints(&id) {
        for token in [
            None,
            Some(forged.as_str()),
            Some("Bearer"),
            Some(setup.admin.as_str()).map(|t| &t[..t.len() - 1]),
        ] {
            let (st, v) = serve.call(method, &path, token, body.as_ref());
            assert_eq!(st, 401, "{method} {path} with {token:?}: {v}");
            assert!(v["error"].is_string(), "{v}");
        }
        for (role, token) in [
            ("reviewer", setup.reviewer.clone()),
            ("admin", setup.admin.clone()),
            ("recipient", setup.recipient.clone()),
        ] {
            let (st, v) = serve.call(method, &path, Some(&token), body.as_ref());
            if roles.contains(&role) {
                // a refused transition, a job already running or not
                // running (409), a run started (202): past the role check
                assert!(
                    st == 200 || (method == "POST" && (st == 202 || st == 409)),
                    "{method} {path} as {role}: {st} {v}"
                );
            } else {
                assert_eq!(st, 403, "{method} {path} as {role}: {v}");
                assert_eq!(v["role"], role, "{v}");
            }
        }
    }
    // the log names the callers, never their tokens
    drop(serve);
    let log = std::fs::read_to_string(setup.log()).unwrap();
    for t in [&setup.reviewer, &setup.admin, &setup.recipient] {
        assert!(!log.contains(t.as_str()), "a token is in the log");
    }
    let requests: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "finscan::serve::request")
        .collect();
    assert!(requests.len() > 50, "{log}");
    let names: std::collections::BTreeSet<&str> = requests
        .iter()
        .filter_map(|v| v["token"].as_str())
        .collect();
    for n in ["wang.li", "root", "wangxinban", "-"] {
        assert!(names.contains(n), "{names:?}");
    }
    for v in &requests {
        for key in ["method", "path", "status", "latency_ms", "token"] {
            assert!(!v[key].is_null(), "{key} missing in {v}");
        }
    }
}

#[test]
fn hostile_requests_are_refused_with_json_errors_and_the_server_stays_up() {
    let setup = Setup::new(true, "max_body_bytes = 4096\n");
    let mut serve = Serve::start(&setup);
    let t = setup.reviewer.clone();
    let id = first_id(&mut serve, &t, "status=new");
    let review = format!("/api/findings/{id}/review");

    // oversized body: refused before it is read
    let big = json!({"action": "confirm", "reviewer": "x".repeat(10_000)});
    let (st, v) = serve.call("POST", &review, Some(&t), Some(&big));
    assert_eq!(st, 413, "{v}");
    assert!(v["error"].as_str().unwrap().contains("4096"), "{v}");
    // malformed JSON, unknown fields, wrong types, a bad action
    for (body, what) in [
        ("{\"action\": \"confirm\"", "EOF"),
        (
            "{\"action\": \"confirm\", \"reviewer\": \"w\", \"colour\": 1}",
            "unknown field `colour`",
        ),
        ("{\"action\": \"confirm\", \"reviewer\": 7}", "reviewer"),
        ("{\"action\": \"approve\", \"reviewer\": \"w\"}", "approve"),
        ("[]", "request body"),
    ] {
        let (st, _, b) = request(&serve.url, "POST", &review, Some(&t), Some(body.into()));
        let v: Value = serde_json::from_slice(&b).unwrap();
        assert_eq!(st, 400, "{body}: {v}");
        assert!(v["error"].as_str().unwrap().contains(what), "{body}: {v}");
    }
    let (st, v) = serve.call(
        "POST",
        "/api/review",
        Some(&t),
        Some(&json!({"action": "confirm", "reviewer": "w", "where": {"colour": "red"}})),
    );
    assert_eq!(st, 400, "{v}");
    let (st, v) = serve.get("/api/findings?status=maybe", Some(&t));
    assert_eq!(st, 400, "{v}");
    // ids and paths with .. in them
    for path in [
        "/api/findings/..%2F..%2Fetc%2Fpasswd",
        "/api/findings/../../etc/passwd/history",
        "/api/findings/%2e%2e/review",
    ] {
        let (st, v) = serve.get(path, Some(&t));
        assert!(st == 400 || st == 404 || st == 405, "{path}: {st} {v}");
        assert!(v["error"].is_string(), "{path}: {v}");
    }
    let answer = raw(
        &serve.addr(),
        format!(
            "GET /api/exports/../../../../etc/passwd HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(!answer.contains("root:"), "{answer}");
    let (st, v) = serve.get("/api/exports/takedown?format=../../etc/passwd", Some(&t));
    assert_eq!(st, 400, "{v}");
    // unknown finding, refused transition with the state and what it allows
    let (st, v) = serve.call(
        "POST",
        "/api/findings/0000000000000001/review",
        Some(&t),
        Some(&json!({"action": "confirm", "reviewer": "w"})),
    );
    assert_eq!(st, 404, "{v}");
    let (st, v) = serve.call(
        "POST",
        &review,
        Some(&t),
        Some(&json!({"action": "refer", "reviewer": "w"})),
    );
    assert_eq!(st, 409, "{v}");
    assert_eq!(v["current"], "new");
    assert_eq!(v["allowed"], json!(["confirm", "dismiss"]));
    // garbage instead of HTTP
    let answer = raw(&serve.addr(), b"\x16\x03\x01\x02\x00garbage\r\n\r\n");
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 400"),
        "{answer}"
    );
    // and nothing was decided by any of it
    let (st, v) = serve.get(&format!("/api/findings/{id}"), Some(&t));
    assert_eq!(st, 200);
    assert_eq!(v["finding"]["status"], "new");
    assert_eq!(serve.get("/health", None).0, 200);
}

#[test]
fn a_thousand_idle_connections_are_bounded_and_health_answers_afterwards() {
    let setup = Setup::new(true, "max_connections = 64\nheader_timeout_secs = 2\n");
    let mut serve = Serve::start(&setup);
    raise_fd_limit(4096);
    let mut idle = Vec::new();
    for _ in 0..1000 {
        match TcpStream::connect(serve.addr()) {
            Ok(c) => idle.push(c),
            Err(e) => panic!("connect: {e}"),
        }
    }
    // every idle connection is closed by the server: at once past the
    // 64th, after the header timeout for the others
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut closed = 0;
    for c in &mut idle {
        c.set_read_timeout(Some(
            deadline
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(10)),
        ))
        .unwrap();
        let mut b = [0u8; 64];
        match c.read(&mut b) {
            Ok(0) => closed += 1,
            Err(e)
                if e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut =>
            {
                closed += 1
            }
            _ => {}
        }
    }
    assert_eq!(closed, 1000, "idle connections the server closed");
    // /health answers afterwards, still holding the idle sockets' ends
    let (st, _) = serve.get("/health", None);
    assert_eq!(st, 200);
    drop(idle);
    let (st, _) = serve.get("/api/sites", Some(&setup.reviewer.clone()));
    assert_eq!(st, 200);
}

fn raise_fd_limit(n: u64) {
    // SAFETY: getrlimit/setrlimit on this process with a valid struct
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) == 0 && r.rlim_cur < n {
            r.rlim_cur = n.min(r.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

/// With a page of 2 findings a request, a listing goes through the server
/// in pages and reads as it does locally.
#[test]
fn the_command_line_goes_through_the_server_with_the_same_output() {
    let setup = Setup::new(true, "list_page = 2\n");
    let db = setup.db();
    let local = |args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--db", s(&db)]);
        finscan(&a, &[])
    };
    let list_json = local(&["hits", "list", "--json"]);
    let list_table = local(&["hits", "list", "--status", "new", "--sort", "site"]);
    let list_five = local(&["hits", "list", "--json", "--limit", "5"]);
    let total = String::from_utf8_lossy(&list_json.stdout).lines().count();
    assert!(total > 5, "{total} findings: too few for pages of 2");
    let sites = local(&["sites", "list", "--json"]);
    let id = String::from_utf8_lossy(&list_json.stdout)
        .lines()
        .find_map(|l| {
            let v: Value = serde_json::from_str(l).ok()?;
            (v["source"] == "page").then(|| v["id"].as_str().unwrap().to_owned())
        })
        .expect("a page finding");
    let show = local(&["hits", "show", &id, "--json"]);

    let mut serve = Serve::start(&setup);
    let with = |token: &str, args: &[&str]| {
        let mut a = args.to_vec();
        a.extend(["--db", s(&db)]);
        finscan(&a, &[("FINSCAN_TOKEN", token)])
    };
    let t = setup.reviewer.clone();
    for (args, before) in [
        (&["hits", "list", "--json"][..], &list_json),
        (
            &["hits", "list", "--status", "new", "--sort", "site"][..],
            &list_table,
        ),
        (&["hits", "list", "--json", "--limit", "5"][..], &list_five),
        (&["sites", "list", "--json"][..], &sites),
        (&["hits", "show", &id, "--json"][..], &show),
    ] {
        let out = with(&t, args);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&before.stdout),
            "{args:?} through the server"
        );
    }
    // one request answers at most a page, and says that more match
    let (st, v) = serve.get("/api/findings?limit=100", Some(&t));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["findings"].as_array().unwrap().len(), 2);
    assert_eq!(v["more"], true);
    let (st, v) = serve.get(&format!("/api/findings?offset={}", total - 1), Some(&t));
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["findings"].as_array().unwrap().len(), 1);
    assert_eq!(v["more"], false);
    let (st, v) = serve.get("/api/findings?offset=x", Some(&t));
    assert_eq!(st, 400, "{v}");
    // the cursor goes on where the page before stopped; a bad one is refused
    let (st, v) = serve.get("/api/findings?sort=time", Some(&t));
    assert_eq!(st, 200, "{v}");
    let next = v["next"].as_str().expect("a cursor when more match");
    let (st, w) = serve.get(&format!("/api/findings?sort=time&after={next}"), Some(&t));
    assert_eq!(st, 200, "{w}");
    let (st, u) = serve.get("/api/findings?sort=time&offset=2", Some(&t));
    assert_eq!(st, 200, "{u}");
    assert_eq!(w["findings"], u["findings"]);
    for bad in ["zz", "00"] {
        let (st, e) = serve.get(&format!("/api/findings?after={bad}"), Some(&t));
        assert_eq!(st, 400, "{bad}: {e}");
        assert!(e["error"].as_str().unwrap().contains("cursor"), "{e}");
    }
    // a review through the command line while the server runs
    let out = with(&t, &["review", &id, "--confirm", "--reviewer", "王审核"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("1 of 1 finding(s): confirm recorded by 王审核"),
        "{}",
        text(&out)
    );
    let (st, v) = serve.get(&format!("/api/findings/{id}/history"), Some(&t));
    assert_eq!(st, 200);
    assert_eq!(v.as_array().unwrap().last().unwrap()["reviewer"], "王审核");
    // refused as it would be locally
    let out = with(&t, &["review", &id, "--confirm", "--reviewer", "王审核"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("cannot confirm a finding that is confirmed: allowed: notify"),
        "{}",
        text(&out)
    );
    // a batch by filter, with its count first
    let out = with(
        &t,
        &[
            "review",
            "--dismiss",
            "--reviewer",
            "王审核",
            "--where",
            "status=new",
            "--yes",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let said = text(&out);
    let n: usize = said
        .split("finscan: ")
        .nth(1)
        .and_then(|l| l.split(' ').next())
        .and_then(|n| n.parse().ok())
        .expect("a count");
    assert!(
        said.contains(&format!("{n} of {n} finding(s): dismiss recorded")),
        "{said}"
    );
    // exports and the report land where they are asked for
    let out_dir = setup.dir.path();
    for (args, file) in [
        (
            vec!["export", "takedown", "--format", "csv", "--out"],
            "t.csv",
        ),
        (
            vec!["export", "companies", "--format", "json", "--out"],
            "c.json",
        ),
        (vec!["export", "warc", "--out"], "e.warc.gz"),
        (vec!["report", "--out"], "r.html"),
    ] {
        let path = out_dir.join(file);
        let mut a = args.clone();
        a.push(s(&path));
        let out = with(&t, &a);
        assert_eq!(out.status.code(), Some(0), "{a:?}: {}", text(&out));
        assert!(
            text(&out).contains("written to") || text(&out).contains("WARC records"),
            "{}",
            text(&out)
        );
        let bytes = std::fs::read(&path).unwrap();
        assert!(!bytes.is_empty(), "{file}");
    }
    assert!(
        std::fs::read(out_dir.join("t.csv"))
            .unwrap()
            .starts_with("\u{feff}".as_bytes())
    );
    assert!(
        std::fs::read(out_dir.join("e.warc.gz"))
            .unwrap()
            .starts_with(&[0x1f, 0x8b])
    );
    assert!(
        String::from_utf8_lossy(&std::fs::read(out_dir.join("r.html")).unwrap()).contains("<svg")
    );
    // without a token: which server owns the database, and how to pass one
    let out = finscan(&["hits", "list", "--db", s(&db)], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains(&format!("finscan serve (pid {}", serve.pid()))
            && text(&out).contains("FINSCAN_TOKEN"),
        "{}",
        text(&out)
    );
    // a revoked token is refused at once
    let out = finscan(
        &["token", "revoke", "wang.li", "--config", s(&setup.config())],
        &[],
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(serve.get("/api/sites", Some(&t)).0, 401);

    // SIGTERM: exits cleanly, removes its serve file, the database holds
    // what was decided through it
    let status = serve.stop();
    assert!(status.success(), "{status:?}");
    assert!(!db.join("serve.json").exists());
    let out = local(&["hits", "history", &id, "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("王审核"));
}

#[test]
fn a_locked_database_names_the_process_that_holds_it() {
    let setup = Setup::new(true, "");
    let db = setup.db();
    // a server that does not answer (stopped): its pid and what to do
    let serve = Serve::start(&setup);
    signal(serve.pid(), libc::SIGSTOP);
    let out = finscan(
        &["hits", "list", "--db", s(&db)],
        &[("FINSCAN_TOKEN", &setup.reviewer)],
    );
    signal(serve.pid(), libc::SIGCONT);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let said = text(&out);
    assert!(said.contains(&format!("pid {}", serve.pid())), "{said}");
    assert!(said.contains(&format!("kill {}", serve.pid())), "{said}");
    assert!(!said.contains("could not acquire lock"), "{said}");
    drop(serve);

    // another process (this test) holds it, with no serve file
    // (its serve file is left behind, naming a process that is gone)
    let store = open_when_free(&db);
    for args in [
        &["hits", "list"][..],
        &["sites", "list"][..],
        &["report", "--out", "/tmp/never.html"][..],
    ] {
        let mut a = args.to_vec();
        a.extend(["--db", s(&db)]);
        let out = finscan(&a, &[]);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let said = text(&out);
        assert!(
            said.contains(&format!("process {}", std::process::id())),
            "{args:?}: {said}"
        );
        assert!(!said.contains("could not acquire lock"), "{said}");
    }
    drop(store);
}

/// Opens the database in this process once the killed server has let go.
fn open_when_free(db: &Path) -> finscan::store::Store {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match finscan::store::Store::open(db) {
            Ok(s) => return s,
            Err(e) => {
                assert!(Instant::now() < deadline, "{e}");
                std::thread::sleep(Duration::from_millis(100));
            }
        }
    }
}

#[test]
fn exports_are_served_to_their_roles_in_their_formats() {
    let setup = Setup::new(true, "");
    let mut serve = Serve::start(&setup);
    // confirm a page finding so the takedown list has a row
    let t = setup.reviewer.clone();
    let id = first_id(&mut serve, &t, "status=new&source=page");
    let (st, v) = serve.call(
        "POST",
        &format!("/api/findings/{id}/review"),
        Some(&t),
        Some(&json!({"action": "confirm", "reviewer": "w"})),
    );
    assert_eq!(st, 200, "{v}");
    assert_eq!(v["finding"]["status"], "confirmed");
    assert_eq!(v["event"]["to"], "confirmed");
    let office = setup.recipient.clone();
    for (format, magic) in [
        ("xlsx", &b"PK"[..]),
        ("csv", "\u{feff}".as_bytes()),
        ("json", b"["),
    ] {
        let (st, headers, body) = request(
            &serve.url,
            "GET",
            &format!("/api/exports/takedown?format={format}&tz=UTC"),
            Some(&office),
            None,
        );
        assert_eq!(st, 200, "{format}");
        assert!(body.starts_with(magic), "{format}");
        let summary = headers["x-finscan-summary"].to_str().unwrap();
        assert!(summary.contains("rows"), "{summary}");
        assert!(
            headers["content-disposition"]
                .to_str()
                .unwrap()
                .contains(&format!("takedown.{format}"))
        );
    }
    let (_, _, json_list) = request(
        &serve.url,
        "GET",
        "/api/exports/takedown?format=json",
        Some(&office),
        None,
    );
    let rows: Value = serde_json::from_slice(&json_list).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1, "{rows}");
    let (st, _, html) = request(
        &serve.url,
        "GET",
        "/api/report?title=月报",
        Some(&office),
        None,
    );
    assert_eq!(st, 200);
    assert!(String::from_utf8_lossy(&html).contains("月报"));
    let (st, headers, warc) = request(
        &serve.url,
        "GET",
        "/api/exports/warc?all_pages=true",
        Some(&t),
        None,
    );
    assert_eq!(st, 200);
    assert!(warc.starts_with(&[0x1f, 0x8b]));
    let summary = headers["x-finscan-summary"].to_str().unwrap();
    assert!(summary.contains("pages"), "{summary}");
    // the exports leave no file behind in the database directory
    let left: Vec<_> = std::fs::read_dir(setup.db())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".export-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    // the OpenAPI description is the running server's
    let (st, doc) = serve.get("/openapi.json", Some(&office));
    assert_eq!(st, 200);
    assert!(
        doc["paths"]["/api/findings/{id}/review"]["post"].is_object(),
        "{doc}"
    );
}

#[test]
fn sigterm_lets_a_request_in_flight_finish_and_bounds_the_wait() {
    let setup = Setup::new(true, "shutdown_grace_secs = 3\n");
    let mut serve = Serve::start(&setup);
    let t = setup.reviewer.clone();
    let id = first_id(&mut serve, &t, "status=new");
    let body = json!({"action": "confirm", "reviewer": "在途"}).to_string();
    let head = format!(
        "POST /api/findings/{id}/review HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // a request whose body is half sent when the signal comes
    let mut c = TcpStream::connect(serve.addr()).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let (first, rest) = body.as_bytes().split_at(body.len() / 2);
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    signal(serve.pid(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        serve.child.try_wait().unwrap().is_none(),
        "the server waits for the request in flight"
    );
    assert!(
        TcpStream::connect(serve.addr()).is_err(),
        "no new connection is taken once shutting down"
    );
    c.write_all(rest).unwrap();
    let mut answer = String::new();
    let _ = c.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let status = serve.stop();
    assert!(status.success(), "{status:?}");
    // the decision made in flight is in the database, flushed
    let out = finscan(
        &["hits", "history", &id, "--json", "--db", s(&setup.db())],
        &[],
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("在途"),
        "{}",
        text(&out)
    );

    // a request that never finishes is cut when the grace runs out
    let mut serve = Serve::start(&setup);
    let mut c = TcpStream::connect(serve.addr()).unwrap();
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(first).unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    signal(serve.pid(), libc::SIGTERM);
    let status = loop {
        if let Some(st) = serve.child.try_wait().unwrap() {
            break st;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the shutdown grace is not bounded"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        start.elapsed() >= Duration::from_secs(2),
        "it waited for the grace"
    );
    drop(c);
}

/// The text log written to a file (not a terminal) is plain text: no
/// colour escapes for a journal or a log file to carry.
#[test]
fn a_text_log_to_a_file_has_no_escape_sequences() {
    let setup = Setup::new(true, "");
    let mut serve = Serve::start_logging(&setup, "text");
    let (st, _) = serve.get("/api/findings?limit=1", Some(&setup.reviewer.clone()));
    assert_eq!(st, 200);
    assert!(serve.stop().success());
    let log = std::fs::read_to_string(setup.log()).unwrap();
    assert!(log.contains("serving"), "{log}");
    assert!(
        !log.contains('\x1b'),
        "escape sequences in the log: {log:?}"
    );
}
