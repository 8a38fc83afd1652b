//! A tiny HTTP/1.1 server on 127.0.0.1, for `finscan demo` and for tests.
//!
//! It exists because the demo must run with no network and the tests need
//! servers that misbehave on purpose (slow bodies, endless bodies, redirect
//! loops, 429s) in ways a real server cannot be told to. It answers GET
//! requests with whatever the handler returns, keeps connections alive, logs
//! every request with its host and arrival time, and stops when dropped. It
//! is not a general web server: no request bodies, no chunked uploads, no TLS.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A request as the handler sees it.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// `Host` header without the port, lower case.
    pub host: String,
    pub headers: Vec<(String, String)>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("/")
    }
}

/// How the body is sent.
#[derive(Debug, Clone)]
pub enum Body {
    Bytes(Vec<u8>),
    /// Chunks written with a pause before each (slow server).
    Slow {
        chunks: Vec<Vec<u8>>,
        delay: Duration,
    },
    /// `chunk` repeated until `total` bytes (huge bodies without the memory).
    Repeat {
        chunk: Vec<u8>,
        total: usize,
    },
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
    /// Pause before the status line.
    pub delay: Duration,
}

impl Response {
    pub fn new(status: u16) -> Self {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Bytes(Vec::new()),
            delay: Duration::ZERO,
        }
    }

    pub fn bytes(content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Response::new(200)
            .header("Content-Type", content_type)
            .body(body)
    }

    pub fn html(body: impl Into<Vec<u8>>) -> Self {
        Response::bytes("text/html; charset=utf-8", body)
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        Response::new(status).header("Location", location)
    }

    pub fn not_found() -> Self {
        Response::new(404)
            .header("Content-Type", "text/plain")
            .body("not found")
    }

    pub fn header(mut self, k: &str, v: &str) -> Self {
        self.headers.push((k.to_owned(), v.to_owned()));
        self
    }

    pub fn body(mut self, b: impl Into<Vec<u8>>) -> Self {
        self.body = Body::Bytes(b.into());
        self
    }

    pub fn with_body(mut self, b: Body) -> Self {
        self.body = b;
        self
    }

    pub fn delayed(mut self, d: Duration) -> Self {
        self.delay = d;
        self
    }
}

pub type Handler = Arc<dyn Fn(&Request) -> Response + Send + Sync>;

/// One logged request.
#[derive(Debug, Clone)]
pub struct Logged {
    pub host: String,
    pub target: String,
    /// The User-Agent header ("" when absent).
    pub user_agent: String,
    pub at: Instant,
}

/// A running server; stops when dropped.
pub struct Server {
    pub port: u16,
    log: Arc<Mutex<Vec<Logged>>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Server {
    /// Binds 127.0.0.1 on a free port and serves from a thread of its own
    /// (so it works under any runtime, or none).
    pub fn start(handler: Handler) -> io::Result<Server> {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        std_listener.set_nonblocking(true)?;
        let port = std_listener.local_addr()?.port();
        let log = Arc::new(Mutex::new(Vec::new()));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let log2 = log.clone();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let thread = std::thread::Builder::new()
            .name("loopback-http".into())
            .spawn(move || {
                rt.block_on(async move {
                    let Ok(listener) = tokio::net::TcpListener::from_std(std_listener) else {
                        return;
                    };
                    let accept = async {
                        loop {
                            let Ok((sock, _)) = listener.accept().await else {
                                continue;
                            };
                            let h = handler.clone();
                            let l = log2.clone();
                            tokio::spawn(async move {
                                let _ = serve_conn(sock, h, l).await;
                            });
                        }
                    };
                    tokio::select! {
                        _ = accept => {}
                        _ = stop_rx => {}
                    }
                });
                rt.shutdown_background();
            })?;
        Ok(Server {
            port,
            log,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Every request so far, in arrival order.
    pub fn log(&self) -> Vec<Logged> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// How many requests asked for `target` on `host`.
    pub fn count(&self, host: &str, target: &str) -> usize {
        self.log()
            .iter()
            .filter(|l| l.host == host && l.target == target)
            .count()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

async fn serve_conn(
    mut sock: TcpStream,
    handler: Handler,
    log: Arc<Mutex<Vec<Logged>>>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(4096);
    loop {
        // Read one request head.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            if buf.len() > 64 * 1024 {
                return Ok(());
            }
            let mut chunk = [0u8; 4096];
            let n = sock.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let mut lines = head.split("\r\n");
        let mut first = lines.next().unwrap_or("").split_whitespace();
        let method = first.next().unwrap_or("").to_owned();
        let target = first.next().unwrap_or("/").to_owned();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        let host = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("host"))
            .map(|(_, v)| {
                v.rsplit_once(':')
                    .map_or(v.as_str(), |(h, _)| h)
                    .to_ascii_lowercase()
            })
            .unwrap_or_default();
        let close = headers
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"));
        let req = Request {
            method,
            target,
            host,
            headers,
        };
        if let Ok(mut l) = log.lock() {
            l.push(Logged {
                host: req.host.clone(),
                target: req.target.clone(),
                user_agent: req.header("user-agent").unwrap_or("").to_owned(),
                at: Instant::now(),
            });
        }
        let resp = handler(&req);
        if !resp.delay.is_zero() {
            tokio::time::sleep(resp.delay).await;
        }
        let len = match &resp.body {
            Body::Bytes(b) => b.len(),
            Body::Slow { chunks, .. } => chunks.iter().map(Vec::len).sum(),
            Body::Repeat { total, .. } => *total,
        };
        let mut head = format!(
            "HTTP/1.1 {} {}\r\nContent-Length: {len}\r\n",
            resp.status,
            reason(resp.status)
        );
        for (k, v) in &resp.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(if close {
            "Connection: close\r\n\r\n"
        } else {
            "Connection: keep-alive\r\n\r\n"
        });
        sock.write_all(head.as_bytes()).await?;
        if req.method != "HEAD" {
            match resp.body {
                Body::Bytes(b) => sock.write_all(&b).await?,
                Body::Slow { chunks, delay } => {
                    for c in chunks {
                        tokio::time::sleep(delay).await;
                        sock.write_all(&c).await?;
                        sock.flush().await?;
                    }
                }
                Body::Repeat { chunk, total } => {
                    let mut left = total;
                    while left > 0 {
                        let n = left.min(chunk.len().max(1));
                        sock.write_all(&chunk[..n.min(chunk.len())]).await?;
                        left -= n;
                    }
                }
            }
        }
        sock.flush().await?;
        if close {
            return Ok(());
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}
