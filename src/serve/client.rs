//! The API client of the command line: when a server owns the database,
//! `finscan hits`, `sites`, `review`, `export` and `report` send their
//! request here and print the answer as they print what they read
//! themselves.
//!
//! Blocking calls over a private current-thread runtime: the commands are
//! synchronous and make a few calls each.
//!
//! Where the server is: `--server URL` / `FINSCAN_SERVER`, else the serve
//! file in the database directory ([`super::owner::ServeFile`]). The token:
//! `--token` / `FINSCAN_TOKEN` (prefer the variable: a command line is
//! visible to every user of the machine).

use std::io::Write;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::api::SUMMARY_HEADER;

/// A request that failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error: its `error` text, as the command
    /// would have said it working on the database itself.
    #[error("{message}")]
    Api {
        status: u16,
        message: String,
        body: Value,
    },
    #[error("the finscan server at {url}: {message}")]
    Transport { url: String, message: String },
    #[error("writing the download: {0}")]
    Write(#[from] std::io::Error),
}

/// A connection to one server with one token.
pub struct Client {
    base: url::Url,
    token: String,
    http: reqwest::Client,
    rt: tokio::runtime::Runtime,
}

fn http_client(timeout: Option<Duration>) -> Result<reqwest::Client, String> {
    // reqwest is built without a default TLS provider; the API is plain
    // HTTP on loopback, but the builder still wants one installed
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut b = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(Duration::from_secs(600))
        .no_proxy();
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build().map_err(|e| e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// Whether a finscan server answers `/health` at `base` within `timeout`.
pub fn answers(base: &str, timeout: Duration) -> bool {
    let (Ok(http), Ok(rt), Ok(url)) = (
        http_client(Some(timeout)),
        runtime(),
        url::Url::parse(base).and_then(|u| u.join("/health")),
    ) else {
        return false;
    };
    rt.block_on(async {
        match http.get(url).send().await {
            Ok(r) if r.status().is_success() => r
                .bytes()
                .await
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .is_some_and(|v| v["status"] == "ok"),
            _ => false,
        }
    })
}

impl Client {
    pub fn new(base: &str, token: &str) -> Result<Client, ClientError> {
        let transport = |message: String| ClientError::Transport {
            url: base.to_owned(),
            message,
        };
        let base = url::Url::parse(base).map_err(|e| transport(format!("not a URL: {e}")))?;
        Ok(Client {
            base,
            token: token.to_owned(),
            http: http_client(None).map_err(transport)?,
            rt: runtime().map_err(transport)?,
        })
    }

    /// The server's base URL.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    fn url_for(&self, path: &str, query: &[(&str, String)]) -> Result<url::Url, ClientError> {
        let mut u = self.base.join(path).map_err(|e| self.transport(e))?;
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(u)
    }

    fn transport(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Transport {
            url: self.url().to_owned(),
            message: e.to_string(),
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(|e| self.transport(e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let message = body["error"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| {
                format!(
                    "HTTP {status}: {}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
                )
            });
        Err(ClientError::Api {
            status: status.as_u16(),
            message,
            body,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, ClientError> {
        let resp = self.send(req).await?;
        let bytes = resp.bytes().await.map_err(|e| self.transport(e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| self.transport(format!("unreadable answer: {e}")))
    }

    /// `GET path?query` as JSON.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, ClientError> {
        let url = self.url_for(path, query)?;
        self.rt.block_on(self.json(self.http.get(url)))
    }

    /// `POST path` with a JSON body, answered in JSON.
    pub fn post_json<T: DeserializeOwned>(
        &self,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T, ClientError> {
        let url = self.url_for(path, &[])?;
        let body = serde_json::to_vec(body).map_err(|e| self.transport(e))?;
        self.rt.block_on(
            self.json(
                self.http
                    .post(url)
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body),
            ),
        )
    }

    /// `GET path?query` written to `out` as it arrives; returns the
    /// export's summary header. A transfer cut short is an error.
    pub fn download(
        &self,
        path: &str,
        query: &[(&str, String)],
        out: &mut impl Write,
    ) -> Result<Value, ClientError> {
        let url = self.url_for(path, query)?;
        self.rt.block_on(async {
            let mut resp = self.send(self.http.get(url)).await?;
            let summary = resp
                .headers()
                .get(SUMMARY_HEADER)
                .and_then(|v| v.to_str().ok())
                .map(|v| {
                    url::form_urlencoded::parse(format!("s={v}").as_bytes())
                        .next()
                        .map(|(_, s)| s.into_owned())
                        .unwrap_or_default()
                })
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(Value::Null);
            while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
                out.write_all(&chunk)?;
            }
            Ok(summary)
        })
    }
}
