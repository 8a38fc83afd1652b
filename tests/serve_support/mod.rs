//! Helpers for the tests of `finscan serve`: the binary run as a child
//! process on 127.0.0.1 (any free port) with a config of the test's, a
//! token of each role, and requests made with reqwest.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const BIN: &str = env!("CARGO_BIN_EXE_finscan");

/// Long enough for a slow, busy 2-core machine; never waited unless
/// something is broken.
pub const PATIENCE: Duration = Duration::from_secs(90);

/// Runs the binary with `env` added, none of finscan's own variables
/// inherited, times in Asia/Shanghai.
pub fn finscan(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env_remove("FINSCAN_DB")
        .env_remove("FINSCAN_CONFIG")
        .env_remove("FINSCAN_SERVER")
        .env_remove("FINSCAN_TOKEN")
        .env("TZ", "Asia/Shanghai")
        .stdin(Stdio::null());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run finscan")
}

/// Standard output and standard error, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

pub fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// Polls `f` until it gives a value.
pub fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(start.elapsed() < PATIENCE, "gave up waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A database directory (`db`, with `finscan demo`'s findings or none
/// yet), a config (`[server]` on 127.0.0.1:0 and `config_tail` after its
/// first keys) and a token of each role.
pub struct Setup {
    pub dir: tempfile::TempDir,
    pub reviewer: String,
    pub admin: String,
    pub recipient: String,
}

impl Setup {
    pub fn new(demo: bool, config_tail: &str) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        if demo {
            let out = finscan(&["demo", "--db", s(&dir.path().join("db"))], &[]);
            assert!(out.status.code().is_some_and(|c| c <= 1), "{}", text(&out));
        }
        let config = dir.path().join("finscan.toml");
        std::fs::write(
            &config,
            format!("[server]\ndb = \"db\"\nlisten = \"127.0.0.1:0\"\n{config_tail}"),
        )
        .unwrap();
        let token = |name: &str, role: &str| {
            let out = finscan(
                &["token", "add", name, "--role", role, "--config", s(&config)],
                &[],
            );
            assert_eq!(out.status.code(), Some(0), "{}", text(&out));
            String::from_utf8(out.stdout).unwrap().trim().to_owned()
        };
        Setup {
            reviewer: token("wang.li", "reviewer"),
            admin: token("root", "admin"),
            recipient: token("wangxinban", "recipient"),
            dir,
        }
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("db")
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("finscan.toml")
    }

    /// The server's log (appended to by every start).
    pub fn log(&self) -> PathBuf {
        self.dir.path().join("serve.log")
    }
}

/// A running `finscan serve`; killed when dropped.
pub struct Serve {
    pub child: Child,
    pub url: String,
}

impl Serve {
    /// Starts the server with a JSON log and waits for `/health`.
    pub fn start(setup: &Setup) -> Serve {
        Serve::start_logging(setup, "json")
    }

    pub fn start_logging(setup: &Setup, format: &str) -> Serve {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(setup.log())
            .unwrap();
        let child = Command::new(BIN)
            .args([
                "serve",
                "--config",
                s(&setup.config()),
                "--log-format",
                format,
            ])
            .env_remove("FINSCAN_DB")
            .env("TZ", "Asia/Shanghai")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start finscan serve");
        let serve_file = setup.db().join("serve.json");
        let url = until("the serve file", || {
            std::fs::read(&serve_file)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(|v| v["pid"] == child.id())
                .map(|v| v["url"].as_str().unwrap().to_owned())
        });
        let mut serve = Serve { child, url };
        until("/health", || {
            (serve.get("/health", None).0 == 200).then_some(())
        });
        serve
    }

    pub fn addr(&self) -> String {
        self.url.trim_start_matches("http://").to_owned()
    }

    /// One request: the status and the JSON body (null if not JSON).
    pub fn call(
        &mut self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let (status, _, bytes) =
            request(&self.url, method, path, token, body.map(|b| b.to_string()));
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub fn get(&mut self, path: &str, token: Option<&str>) -> (u16, Value) {
        self.call("GET", path, token, None)
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// Sends `sig` and waits for the process to end.
    pub fn signal_and_wait(mut self, sig: i32) -> std::process::ExitStatus {
        signal(self.pid(), sig);
        until("the server to stop", || self.child.try_wait().unwrap())
    }

    /// SIGTERM, and the exit status.
    pub fn stop(self) -> std::process::ExitStatus {
        self.signal_and_wait(libc::SIGTERM)
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) with a child's pid and a standard signal
    unsafe {
        libc::kill(pid, sig);
    }
}

/// One request with reqwest: status, headers, body.
pub fn request(
    base: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<String>,
) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let c = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        let mut r = c.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            format!("{base}{path}"),
        );
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        if let Some(b) = body {
            r = r.header("content-type", "application/json").body(b);
        }
        let resp = r.send().await.expect("request");
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body").to_vec();
        (status, headers, bytes)
    })
}
