//! Helpers for the crawler's integration tests: run the real binary against
//! servers on 127.0.0.1 (several host names mapped there with `--resolve`)
//! and read back what it stored.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

#[allow(unused_imports)]
pub use finscan::crawl::loopback::{Body, Request, Response, Server};

pub const BIN: &str = env!("CARGO_BIN_EXE_finscan");

/// Starts a server from a closure.
pub fn serve(f: impl Fn(&Request) -> Response + Send + Sync + 'static) -> Server {
    Server::start(Arc::new(f)).expect("start loopback server")
}

/// A robots.txt that allows everything.
pub fn allow_all() -> Response {
    Response::bytes("text/plain", "User-agent: *\nAllow: /\n")
}

pub fn html(body: &str) -> Response {
    Response::html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>{body}</body></html>"
    ))
}

/// Page `i` of a site of `n` pages (`/`, `/p/1` …): it links to the next
/// three; every third page carries `violation`, the others `plain` (HTML).
pub fn chain_site(r: &Request, n: usize, violation: &str, plain: &str) -> Response {
    if r.path() == "/robots.txt" {
        return allow_all();
    }
    let i: usize = r.path().trim_start_matches("/p/").parse().unwrap_or(0);
    if r.path() != "/" && !r.path().starts_with("/p/") || i >= n {
        return Response::not_found();
    }
    let links: String = (i + 1..(i + 4).min(n))
        .map(|j| format!(r#"<a href="/p/{j}">{j}</a> "#))
        .collect();
    let text = if i % 3 == 0 { violation } else { plain };
    html(&format!("<h1>第{i}页</h1>{text}{links}"))
}

/// A scratch directory with a database path and a seeds file.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Self {
        Scratch {
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    pub fn seeds(&self, lines: &[String]) -> PathBuf {
        let p = self.dir.path().join("seeds.txt");
        std::fs::write(&p, lines.join("\n")).expect("write seeds");
        p
    }
}

pub fn url(host: &str, port: u16, path: &str) -> String {
    format!("http://{host}:{port}{path}")
}

/// `finscan crawl` arguments for seeds on `hosts` served at `port`, with a
/// fast rate limit unless the test passes its own `--rate-per-host`.
pub fn crawl_cmd(
    s: &Scratch,
    port: u16,
    hosts: &[&str],
    seeds: &[String],
    extra: &[&str],
) -> Command {
    let mut c = human_crawl_cmd(s, port, hosts, seeds, extra);
    c.arg("--json").env("FINSCAN_LOG", "finscan=info");
    c
}

/// `finscan crawl` as a user at a terminal runs it: the human summary on
/// stderr, the default log level (no `FINSCAN_LOG`); otherwise as
/// [`crawl_cmd`].
pub fn human_crawl_cmd(
    s: &Scratch,
    port: u16,
    hosts: &[&str],
    seeds: &[String],
    extra: &[&str],
) -> Command {
    let mut c = Command::new(BIN);
    c.arg("crawl")
        .arg("--seeds")
        .arg(s.seeds(seeds))
        .arg("--db")
        .arg(s.db());
    if !extra.contains(&"--rate-per-host") {
        c.args(["--rate-per-host", "50"]);
    }
    for h in hosts {
        c.arg("--resolve").arg(format!("{h}:{port}:127.0.0.1"));
    }
    c.args(extra)
        .env_remove("FINSCAN_DB")
        .env_remove("FINSCAN_LOG");
    c
}

/// Crawls one site from its home page: `finscan crawl` with `http://host/`
/// as the only seed.
pub fn crawl_site(s: &Scratch, port: u16, host: &str, extra: &[&str]) -> Run {
    run(crawl_cmd(s, port, &[host], &[url(host, port, "/")], extra))
}

pub struct Run {
    pub code: i32,
    pub summary: serde_json::Value,
    pub stderr: String,
}

pub fn run(mut c: Command) -> Run {
    let out: Output = c.output().expect("run finscan");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or(serde_json::Value::Null);
    Run {
        code: out.status.code().unwrap_or(-1),
        summary,
        stderr,
    }
}

/// `finscan pages list --json` (or `hits list`), one value per line.
pub fn list(what: &str, db: &Path, extra: &[&str]) -> Vec<serde_json::Value> {
    let out = Command::new(BIN)
        .args([what, "list", "--json", "--db"])
        .arg(db)
        .args(extra)
        .output()
        .expect("run finscan list");
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{what} list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

pub fn pages(db: &Path) -> Vec<serde_json::Value> {
    list("pages", db, &[])
}

pub fn hits(db: &Path) -> Vec<serde_json::Value> {
    list("hits", db, &[])
}

/// The stored page for `url`.
pub fn page<'a>(pages: &'a [serde_json::Value], url: &str) -> &'a serde_json::Value {
    pages.iter().find(|p| p["url"] == url).unwrap_or_else(|| {
        panic!(
            "no page {url} in {:#?}",
            pages.iter().map(|p| &p["url"]).collect::<Vec<_>>()
        )
    })
}

/// Checks that every stored hit points into the raw bytes of a stored page:
/// its `sha256` names a body in the database whose bytes `start..end`,
/// decoded with the page's charset, are the hit's `matched`; and that the
/// page lists the hit. Opens the database after the binary has exited.
pub fn assert_hits_point_into_stored_bodies(db: &Path) {
    let pages = pages(db);
    let hits = hits(db);
    let store = finscan::store::Store::open(db).expect("open the database");
    for h in &hits {
        let sha = h["sha256"]
            .as_str()
            .unwrap_or_else(|| panic!("hit without sha256: {h}"));
        let body = store
            .body(sha)
            .expect("read body")
            .unwrap_or_else(|| panic!("no stored body {sha} for {h}"));
        let p = page(&pages, h["url"].as_str().unwrap());
        assert_eq!(p["sha256"], h["sha256"], "the hit's page has its body: {h}");
        let (start, end) = (
            h["start"].as_u64().unwrap() as usize,
            h["end"].as_u64().unwrap() as usize,
        );
        let charset = p["charset"].as_str().unwrap_or("utf-8");
        let enc = encoding_rs::Encoding::for_label(charset.as_bytes()).expect("known charset");
        let (written, _) = enc.decode_without_bom_handling(&body[start..end]);
        assert_eq!(written, h["matched"].as_str().unwrap(), "{h}");
        assert!(
            p["hit_ids"].as_array().unwrap().contains(&h["id"]),
            "page {} lists hit {}",
            p["url"],
            h["id"]
        );
    }
    let listed: u64 = pages.iter().map(|p| p["hits"].as_u64().unwrap()).sum();
    assert_eq!(
        listed,
        hits.len() as u64,
        "the pages' hit counts add up to the hits listed"
    );
}
