//! The HTTP API: routes, bearer-token authentication, roles, JSON errors
//! and the OpenAPI description (generated from the handlers' annotations
//! by `utoipa`, served at `/openapi.json`).
//!
//! Every handler is a thin shell: it reads the request with the same
//! vocabulary as the command line ([`crate::review::filter`]), calls the
//! review desk or an exporter on tokio's blocking pool (sled is
//! synchronous; the desk is shared behind an `Arc`, a sled handle being
//! thread-safe), and writes JSON or a file.
//!
//! Roles ([`Role`]): `reviewer` reads and reviews, `recipient` only gets the
//! takedown list and the report, `admin` does everything, and alone sees
//! and runs the jobs (the issue's "admin: also jobs and config": a job
//! fetches from the internet and writes the database, which is the
//! operator's call, not a reviewer's). A route's access is checked in one
//! place ([`Access`]), after the token.
//!
//! Jobs: the handlers ask the server's [`Scheduler`] (list, run now,
//! cancel, history); a decision that notifies a finding tells it that the
//! deadlines changed, so the deadline's recheck is scheduled at once.
//!
//! Exports: the takedown and companies lists are built whole by their
//! writers (XLSX must be), into an unnamed temporary file in the database
//! directory that is then streamed; the WARC and the report are streamed
//! as they are written, through a bounded channel, so none is held in
//! memory. Times in JSON are RFC 3339 in UTC (`hits list --json` shows
//! them in the reader's zone); exports and the report take `tz`.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Json;
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::{IntoParams, OpenApi, ToSchema};

use super::config::{Config, Role};
use super::token::{Caller, TokenStore};
use crate::export::{ExportError, Format, PageSelection};
use crate::jobs::{JobsError, RunId, Scheduler};
use crate::review::filter::{self, FilterError};
use crate::review::{Action, Decision, Desk, FindingId, Query, ReviewError, SourceKind};
use crate::time::Zone;

/// The header that carries an export's summary (rows, pages, skips) as
/// percent-encoded JSON, for clients that print one, as the command line
/// does.
pub const SUMMARY_HEADER: &str = "x-finscan-summary";

/// What the routes share.
pub struct AppState {
    pub desk: Arc<Desk>,
    /// The scheduler of the config's jobs, over the same desk.
    pub jobs: Scheduler,
    pub tokens: TokenStore,
    /// The server's zone: dates in filters, times in exports.
    pub zone: Zone,
    pub config: Config,
}

/// An error as the API answers it: a status and a JSON body whose `error`
/// says what went wrong in words; other keys add what a program needs.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub body: Value,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl std::fmt::Display) -> ApiError {
        ApiError {
            status,
            body: json!({ "error": message.to_string() }),
        }
    }

    fn bad_request(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    fn with(mut self, key: &str, value: Value) -> ApiError {
        self.body[key] = value;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl From<ReviewError> for ApiError {
    fn from(e: ReviewError) -> ApiError {
        match &e {
            ReviewError::NotFound(id) => {
                ApiError::new(StatusCode::NOT_FOUND, &e).with("finding", json!(id.to_string()))
            }
            ReviewError::Refused(refusals) => {
                let list: Vec<Value> = refusals
                    .iter()
                    .map(|(id, t)| {
                        json!({
                            "finding": id.to_string(),
                            "current": t.from.as_str(),
                            "action": t.action.as_str(),
                            "allowed": t.from.allowed().iter().map(|a| a.as_str()).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let mut err = ApiError::new(StatusCode::CONFLICT, &e);
                if let [one] = list.as_slice() {
                    for k in ["current", "action", "allowed"] {
                        err = err.with(k, one[k].clone());
                    }
                }
                err.with("refused", Value::Array(list))
            }
            ReviewError::BadDecision(_) | ReviewError::BadQuery(_) => ApiError::bad_request(&e),
            _ => internal(e),
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(e: FilterError) -> ApiError {
        ApiError::bad_request(e)
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %e, "request failed");
    ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e)
}

/// Runs `f` with the desk on the blocking pool.
async fn with_desk<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&Desk) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let desk = state.desk.clone();
    tokio::task::spawn_blocking(move || f(&desk))
        .await
        .map_err(internal)?
}

/// `axum::Json` whose refusals are JSON errors: 400 for a body that is not
/// JSON or does not fit (an unknown field, a wrong type), 415 without a
/// JSON content type, 413 when too large.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match Json::<T>::from_request(req, state).await {
            Ok(Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(match &rejection {
                JsonRejection::JsonDataError(_) | JsonRejection::JsonSyntaxError(_) => {
                    ApiError::bad_request(format!("request body: {}", rejection.body_text()))
                }
                _ => ApiError::new(rejection.status(), rejection.body_text()),
            }),
        }
    }
}

// ── access ────────────────────────────────────────────────────────────────

/// What a route needs of the caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Any valid token (the OpenAPI description).
    Any,
    /// Findings, sites, history, the consistency check, the companies
    /// list and the WARC.
    Read,
    /// Review decisions.
    Review,
    /// The takedown list and the report: what the recipients receive.
    Deliver,
    /// The config and the jobs.
    Admin,
}

impl Access {
    pub fn allows(self, role: Role) -> bool {
        matches!(
            (role, self),
            (_, Access::Any)
                | (Role::Admin, _)
                | (
                    Role::Reviewer,
                    Access::Read | Access::Review | Access::Deliver
                )
                | (Role::Recipient, Access::Deliver)
        )
    }

    fn name(self) -> &'static str {
        match self {
            Access::Any => "any token",
            Access::Read => "reviewer or admin",
            Access::Review => "reviewer or admin",
            Access::Deliver => "recipient, reviewer or admin",
            Access::Admin => "admin",
        }
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Checks the bearer token of every request but `/health`, and puts the
/// caller in the request (for the routes) and in the response (for the
/// request log).
async fn authenticate(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    if req.uri().path() == "/health" {
        return next.run(req).await;
    }
    let refuse = |message: &str| {
        let mut r = ApiError::new(StatusCode::UNAUTHORIZED, message).into_response();
        r.headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        r
    };
    let Some(token) = bearer(req.headers()) else {
        return refuse("this endpoint needs a bearer token (Authorization: Bearer TOKEN)");
    };
    let Some(caller) = state.tokens.current().verify(token) else {
        return refuse("the bearer token is not valid (unknown or revoked)");
    };
    req.extensions_mut().insert(caller.clone());
    let mut resp = next.run(req).await;
    resp.extensions_mut().insert(caller);
    resp
}

/// Refuses a caller whose role lacks `access` (403).
async fn authorize(State(access): State<Access>, req: Request, next: Next) -> Response {
    let role = req.extensions().get::<Caller>().map(|c| c.role);
    match role {
        Some(role) if access.allows(role) => next.run(req).await,
        Some(role) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "a {role} token may not use this endpoint (it needs {})",
                access.name()
            ),
        )
        .with("role", json!(role.as_str()))
        .into_response(),
        None => ApiError::new(StatusCode::UNAUTHORIZED, "no caller").into_response(),
    }
}

/// Writes one log line per request: method, path, status, latency and the
/// token's name (never the token, never the query string).
async fn log_request(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let resp = next.run(req).await;
    let token = resp
        .extensions()
        .get::<Caller>()
        .map_or("-", |c| c.name.as_str());
    tracing::info!(
        target: "finscan::serve::request",
        method = %method,
        path = %path,
        status = resp.status().as_u16(),
        latency_ms = (start.elapsed().as_secs_f64() * 1000.0 * 10.0).round() / 10.0,
        token,
        "request"
    );
    resp
}

/// Turns every error response that is not JSON yet (a timeout, a body too
/// large, a method not allowed, a path that does not decode) into the API's
/// JSON error.
async fn json_errors(State(max_body): State<usize>, req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let (parts, body) = resp.into_parts();
    let text = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let message = match status {
        StatusCode::PAYLOAD_TOO_LARGE => {
            format!("the request body is larger than {max_body} bytes")
        }
        StatusCode::SERVICE_UNAVAILABLE if text.is_empty() => {
            "the request took too long and was stopped".into()
        }
        StatusCode::METHOD_NOT_ALLOWED => "this method is not allowed on this path".into(),
        _ if !text.is_empty() => text,
        _ => status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_lowercase(),
    };
    let mut r = ApiError::new(status, message).into_response();
    for (k, v) in parts.headers.iter() {
        if k != header::CONTENT_TYPE && k != header::CONTENT_LENGTH {
            r.headers_mut().insert(k.clone(), v.clone());
        }
    }
    r
}

async fn no_such_endpoint() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no such endpoint (see /openapi.json)",
    )
}

/// Limits applied around the routes.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

/// The API's routes with their access, limits, errors and log.
pub fn router(state: Arc<AppState>, limits: Limits) -> Router {
    let group = |access: Access, r: Router<Arc<AppState>>| {
        r.route_layer(middleware::from_fn_with_state(access, authorize))
    };
    let read = group(
        Access::Read,
        Router::new()
            .route("/api/findings", get(list_findings))
            .route("/api/findings/{id}", get(get_finding))
            .route("/api/findings/{id}/history", get(finding_history))
            .route("/api/sites", get(list_sites))
            .route("/api/exports/companies", get(export_companies))
            .route("/api/exports/warc", get(export_warc))
            .route("/api/check", get(check)),
    );
    let review = group(
        Access::Review,
        Router::new()
            .route("/api/findings/{id}/review", post(review_finding))
            .route("/api/review", post(review_batch)),
    );
    let deliver = group(
        Access::Deliver,
        Router::new()
            .route("/api/exports/takedown", get(export_takedown))
            .route("/api/report", get(report)),
    );
    let admin = group(
        Access::Admin,
        Router::new()
            .route("/api/config", get(config_view))
            .route("/api/jobs", get(list_jobs))
            .route("/api/jobs/{name}/run", post(run_job))
            .route("/api/jobs/{name}/cancel", post(cancel_job))
            .route("/api/jobs/{name}/runs", get(job_runs)),
    );
    let any = group(
        Access::Any,
        Router::new().route("/openapi.json", get(openapi_json)),
    );
    Router::new()
        .route("/health", get(health))
        .merge(read)
        .merge(review)
        .merge(deliver)
        .merge(admin)
        .merge(any)
        .fallback(no_such_endpoint)
        .layer(middleware::from_fn_with_state(state.clone(), authenticate))
        .layer(axum::extract::DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(
            limits.max_body_bytes,
        ))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ))
        .layer(middleware::from_fn_with_state(
            limits.max_body_bytes,
            json_errors,
        ))
        .layer(middleware::from_fn(log_request))
        .with_state(state)
}

// ── query strings ─────────────────────────────────────────────────────────

/// A query string's pairs, decoded, with the keys a handler takes itself
/// removed as it takes them; what is left are filters.
struct Params(Vec<(String, String)>);

impl Params {
    fn parse(raw: Option<String>) -> Params {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
                .into_owned()
                .collect(),
        )
    }

    /// Takes the values of `key` out.
    fn take(&mut self, key: &str) -> Vec<String> {
        let (taken, rest) = std::mem::take(&mut self.0)
            .into_iter()
            .partition(|(k, _)| k == key);
        self.0 = rest;
        taken.into_iter().map(|(_, v)| v).collect()
    }

    /// Takes the one value of `key` out, if given; twice is an error.
    fn take_one(&mut self, key: &str) -> Result<Option<String>, ApiError> {
        let mut v = self.take(key);
        match v.len() {
            0 => Ok(None),
            1 => Ok(v.pop()),
            _ => Err(ApiError::bad_request(format!("{key} is given twice"))),
        }
    }

    /// The zone of `tz`, else the server's.
    fn zone(&mut self, default: &Zone) -> Result<Zone, ApiError> {
        match self.take_one("tz")? {
            Some(tz) => Zone::named(&tz).map_err(|e| ApiError::bad_request(format!("tz: {e}"))),
            None => Ok(default.clone()),
        }
    }

    /// The remaining pairs as filters.
    fn query(self, zone: &Zone) -> Result<Query, ApiError> {
        let mut q = Query::default();
        for (k, v) in &self.0 {
            filter::add_filter(&mut q, k, v, zone)?;
        }
        Ok(q)
    }

    /// Refuses any pair left.
    fn finish(self) -> Result<(), ApiError> {
        match self.0.first() {
            Some((k, _)) => Err(ApiError::bad_request(format!(
                "unknown query parameter {k:?}"
            ))),
            None => Ok(()),
        }
    }
}

fn parse_id(s: &str) -> Result<FindingId, ApiError> {
    FindingId::parse(s).map_err(ApiError::bad_request)
}

// ── documentation-only parameter sets ─────────────────────────────────────

/// The filters of `finscan hits list`, as query parameters: values of one
/// key are alternatives (repeat the key), keys combine.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct FindingFilters {
    /// new, confirmed, dismissed, notified, rectified, persisting, referred
    status: Option<Vec<String>>,
    /// A rule category (fund-pool, guaranteed-return …).
    category: Option<Vec<String>>,
    /// high, medium, low
    severity: Option<Vec<String>>,
    /// A rule id (page.guarantee.principal-interest …).
    rule: Option<Vec<String>>,
    /// A registrable domain (a.com.cn) or a host (www.a.com.cn).
    site: Option<Vec<String>>,
    /// A division code or its first digits (610902, 6109).
    county: Option<Vec<String>>,
    /// page or registry
    source: Option<String>,
    /// First seen at or after: a date (its start in the server's zone), a
    /// time, or RFC 3339.
    since: Option<String>,
    /// First seen before: a date includes all of that day.
    until: Option<String>,
    /// Text in the matched evidence or the snippet (case-insensitive).
    search: Option<String>,
}

/// Order and size of a listing.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ListParams {
    /// severity (high first, the default), time (newest first) or site.
    sort: Option<String>,
    /// At most this many findings (default and most: the server's
    /// `list_page`, 10000 unless configured; `more` says whether more match:
    /// ask again with `after` set to the answer's `next`).
    limit: Option<usize>,
    /// Go on after the last finding of an earlier page: that answer's
    /// `next`, with the same filters and order.
    after: Option<String>,
    /// Matches passed over before the first one returned (default 0; after
    /// `after`, when both are given). `after` reads only what it returns,
    /// `offset` also what it passes over.
    offset: Option<usize>,
}

/// An export's format and zone.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ExportParams {
    /// xlsx, csv (UTF-8 with BOM) or json.
    format: String,
    /// The zone of the times written (IANA name; default: the server's).
    tz: Option<String>,
}

/// The WARC's page selection.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct WarcParams {
    /// A host, host:port or registrable domain.
    host: Option<String>,
    /// Only these pages (repeat), their URLs as crawled.
    url: Option<Vec<String>>,
    /// Pages fetched from this time on.
    since: Option<String>,
    /// Pages fetched up to this time (a date includes the day).
    until: Option<String>,
    /// Every page with a stored body, not only pages with hits.
    all_pages: Option<bool>,
    /// The zone of bare dates in since and until.
    tz: Option<String>,
}

/// The report's period and title.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReportParams {
    /// Only findings first seen from this time on.
    since: Option<String>,
    /// The report's title.
    title: Option<String>,
    /// The zone of days, weeks and times shown (default: the server's).
    tz: Option<String>,
}

// ── bodies ────────────────────────────────────────────────────────────────

/// An error: `error` says what went wrong; a refused review adds
/// `current`, `action`, `allowed` and `refused`.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
}

/// A reviewer's action, as `finscan review` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReviewAction {
    /// new → confirmed
    Confirm,
    /// new → dismissed
    Dismiss,
    /// confirmed → notified (needs deadline)
    Notify,
    /// persisting → referred
    Refer,
    /// dismissed → new (needs a note with the reason)
    Reopen,
}

/// A decision on one finding.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub action: ReviewAction,
    /// Who decides (recorded with the decision).
    pub reviewer: String,
    pub note: Option<String>,
    /// The rectification deadline (YYYY-MM-DD), with notify only.
    #[schema(value_type = Option<String>, format = Date)]
    pub deadline: Option<jiff::civil::Date>,
}

impl ReviewRequest {
    fn decision(&self) -> Result<Decision, ApiError> {
        let action = match (self.action, self.deadline) {
            (ReviewAction::Notify, Some(deadline)) => Action::Notify { deadline },
            (ReviewAction::Notify, None) => {
                return Err(ApiError::bad_request(
                    "notify needs a deadline (YYYY-MM-DD)",
                ));
            }
            (_, Some(_)) => {
                return Err(ApiError::bad_request("a deadline goes with notify only"));
            }
            (ReviewAction::Confirm, None) => Action::Confirm,
            (ReviewAction::Dismiss, None) => Action::Dismiss,
            (ReviewAction::Refer, None) => Action::Refer,
            (ReviewAction::Reopen, None) => Action::Reopen,
        };
        Ok(Decision {
            action,
            reviewer: self.reviewer.trim().to_owned(),
            note: self.note.clone(),
        })
    }
}

/// One filter value or several (alternatives).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

/// A decision on many findings: by `ids`, or on every finding `where`
/// matches (the filter keys of `GET /api/findings`) that the action is
/// allowed from. `dry_run` returns the ids it would decide on and changes
/// nothing.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub action: ReviewAction,
    pub reviewer: String,
    pub note: Option<String>,
    #[schema(value_type = Option<String>, format = Date)]
    pub deadline: Option<jiff::civil::Date>,
    /// Finding ids (16 hex digits).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub ids: Vec<FindingId>,
    #[serde(default, rename = "where")]
    pub filter: BTreeMap<String, OneOrMany>,
    /// The zone of bare dates in `where` (default: the server's).
    pub tz: Option<String>,
    #[serde(default)]
    pub dry_run: bool,
}

/// What a batch decided (or, in a dry run, would decide).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    pub dry_run: bool,
    /// Findings the decision applies to.
    pub matched: usize,
    /// Findings decided (0 in a dry run).
    pub reviewed: usize,
    pub ids: Vec<String>,
}

// ── handlers ──────────────────────────────────────────────────────────────

/// Whether the server is up. No token needed.
#[utoipa::path(get, path = "/health", tag = "server", security(()),
    responses((status = 200, description = "The server answers", body = Health)))]
async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
    })
}

/// Findings matching the filters, high severity first (as `finscan hits
/// list --json`, times in UTC).
#[utoipa::path(get, path = "/api/findings", tag = "findings", params(FindingFilters, ListParams),
    responses(
        (status = 200, description = "`findings`: the findings as `hits list --json` writes them; `more`: more match than `limit`; `next`: when more match, the cursor to ask again with (`after`)", body = Object),
        (status = 400, description = "A bad filter", body = ErrorBody),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 403, description = "The token's role may not read findings", body = ErrorBody)))]
async fn list_findings(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::parse(raw);
    let sort = p
        .take_one("sort")?
        .map(|s| filter::parse_sort(&s))
        .transpose()?;
    let mut number = |key: &str| -> Result<Option<usize>, ApiError> {
        p.take_one(key)?
            .map(|l| {
                l.parse::<usize>()
                    .map_err(|_| ApiError::bad_request(format!("{key}={l}: not a number")))
            })
            .transpose()
    };
    // no request holds a whole desk of findings: a longer listing is
    // read in pages
    let page = state.config.server.list_page;
    let limit = number("limit")?.map_or(page, |l| l.min(page));
    let offset = number("offset")?.unwrap_or(0);
    let after = p.take_one("after")?.map(|c| c.parse()).transpose()?;
    let mut q = p.query(&state.zone)?;
    q.sort = sort.unwrap_or_default();
    q.limit = Some(limit);
    q.offset = offset;
    q.after = after;
    with_desk(&state, move |desk| {
        let mut rows = Vec::new();
        let next = desk.each_row(&q, |r| {
            rows.push(r);
            Ok::<_, ReviewError>(())
        })?;
        let more = next.is_some();
        let next = next.map(|c| c.to_string());
        Ok(Json(
            json!({ "findings": rows, "more": more, "next": next }),
        ))
    })
    .await
}

/// One finding with its page, evidence text and events (as `finscan hits
/// show --json`).
#[utoipa::path(get, path = "/api/findings/{id}", tag = "findings",
    params(("id" = String, Path, description = "Finding id (16 hex digits)")),
    responses(
        (status = 200, description = "`finding`, `evidence_text`, `page`, `events`", body = Object),
        (status = 400, description = "Not a finding id", body = ErrorBody),
        (status = 404, description = "No such finding", body = ErrorBody)))]
async fn get_finding(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    with_desk(&state, move |desk| {
        let d = desk.detail(id)?.ok_or(ReviewError::NotFound(id))?;
        serde_json::to_value(d).map(Json).map_err(internal)
    })
    .await
}

/// A finding's review events, oldest first.
#[utoipa::path(get, path = "/api/findings/{id}/history", tag = "findings",
    params(("id" = String, Path, description = "Finding id (16 hex digits)")),
    responses(
        (status = 200, description = "The events, as `hits history --json` writes them", body = [Object]),
        (status = 404, description = "No such finding", body = ErrorBody)))]
async fn finding_history(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    with_desk(&state, move |desk| {
        desk.get(id)?.ok_or(ReviewError::NotFound(id))?;
        serde_json::to_value(desk.history(id)?)
            .map(Json)
            .map_err(internal)
    })
    .await
}

/// Records a decision on one finding.
#[utoipa::path(post, path = "/api/findings/{id}/review", tag = "review",
    params(("id" = String, Path, description = "Finding id (16 hex digits)")),
    request_body = ReviewRequest,
    responses(
        (status = 200, description = "`finding`: the finding after the decision; `event`: the event recorded", body = Object),
        (status = 400, description = "A body that is not JSON, an unknown field, a missing deadline", body = ErrorBody),
        (status = 404, description = "No such finding", body = ErrorBody),
        (status = 409, description = "The action is not allowed from the finding's state: `current`, `allowed`", body = ErrorBody),
        (status = 413, description = "The body is too large", body = ErrorBody)))]
async fn review_finding(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<ReviewRequest>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let d = body.decision()?;
    let notifies = matches!(d.action, Action::Notify { .. });
    let answer = with_desk(&state, move |desk| {
        desk.review(&[id], &d, |_, _| {})?;
        let f = desk.get(id)?.ok_or(ReviewError::NotFound(id))?;
        let event = desk.history(id)?.pop();
        Ok(Json(json!({ "finding": desk.row(f)?, "event": event })))
    })
    .await?;
    if notifies {
        state.jobs.deadlines_changed();
    }
    Ok(answer)
}

/// Records a decision on many findings, by ids or by filter: all or
/// nothing as to validity (any refusal and nothing is written), committed
/// in transactions of 500.
#[utoipa::path(post, path = "/api/review", tag = "review", request_body = BatchRequest,
    responses(
        (status = 200, description = "What was (or would be) decided", body = BatchResponse),
        (status = 400, description = "Bad JSON, an unknown field or filter, both or neither of ids and where", body = ErrorBody),
        (status = 404, description = "An id that is no finding", body = ErrorBody),
        (status = 409, description = "Some findings refuse the action: `refused` lists them", body = ErrorBody)))]
async fn review_batch(
    State(state): State<Arc<AppState>>,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    let d = ReviewRequest {
        action: body.action,
        reviewer: body.reviewer.clone(),
        note: body.note.clone(),
        deadline: body.deadline,
    }
    .decision()?;
    if body.ids.is_empty() == body.filter.is_empty() {
        return Err(ApiError::bad_request(
            "give finding ids or where filters (one of the two)",
        ));
    }
    let zone = match &body.tz {
        Some(tz) => Zone::named(tz).map_err(|e| ApiError::bad_request(format!("tz: {e}")))?,
        None => state.zone.clone(),
    };
    let mut q = Query::default();
    for (k, v) in &body.filter {
        let values = match v {
            OneOrMany::One(s) => std::slice::from_ref(s),
            OneOrMany::Many(m) => m.as_slice(),
        };
        for v in values {
            filter::add_filter(&mut q, k, v, &zone)?;
        }
    }
    let by_filter = body.ids.is_empty();
    let ids = body.ids;
    let dry_run = body.dry_run;
    let notifies = matches!(d.action, Action::Notify { .. });
    let answer = with_desk(&state, move |desk| {
        let ids = if by_filter {
            desk.batch_targets(&q, &d)?
        } else {
            ids
        };
        let reviewed = if dry_run || ids.is_empty() {
            0
        } else {
            desk.review(&ids, &d, |_, _| {})?
        };
        Ok(Json(BatchResponse {
            dry_run,
            matched: ids.len(),
            reviewed,
            ids: ids.iter().map(|i| i.to_string()).collect(),
        }))
    })
    .await?;
    if notifies && answer.reviewed > 0 {
        state.jobs.deadlines_changed();
    }
    Ok(answer)
}

/// One row per site (registrable domain) with its findings (as `finscan
/// sites list --json`, times in UTC).
#[utoipa::path(get, path = "/api/sites", tag = "findings",
    responses((status = 200, description = "The sites", body = [Object])))]
async fn list_sites(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    with_desk(&state, |desk| {
        serde_json::to_value(desk.sites()?)
            .map(Json)
            .map_err(internal)
    })
    .await
}

/// The `format` parameter of a sheet-like export.
fn take_format(p: &mut Params) -> Result<Format, ApiError> {
    p.take_one("format")?
        .ok_or_else(|| ApiError::bad_request("format is needed: xlsx, csv or json"))?
        .parse()
        .map_err(ApiError::bad_request)
}

/// Percent-encodes a summary's JSON for a header.
fn summary_header(v: &Value) -> HeaderValue {
    let s: String = url::form_urlencoded::byte_serialize(v.to_string().as_bytes()).collect();
    HeaderValue::from_str(&s).unwrap_or_else(|_| HeaderValue::from_static("{}"))
}

/// A response that streams `file` from its start.
fn file_response(
    file: std::fs::File,
    content_type: &'static str,
    filename: &str,
    summary: Value,
) -> Response {
    let stream = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file));
    attachment(Body::from_stream(stream), content_type, filename, summary)
}

fn attachment(body: Body, content_type: &'static str, filename: &str, summary: Value) -> Response {
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    h.insert(SUMMARY_HEADER, summary_header(&summary));
    r
}

/// An unnamed file in the database directory for an export built whole:
/// written by path, then unlinked once open, so it disappears with the
/// response however that ends.
fn scratch_file<T, E: std::fmt::Display>(
    desk: &Desk,
    write: impl FnOnce(&std::path::Path) -> Result<T, E>,
) -> Result<(T, std::fs::File), ApiError> {
    let tmp = tempfile::Builder::new()
        .prefix(".export-")
        .tempfile_in(desk.store().dir())
        .map_err(internal)?;
    let made = write(tmp.path()).map_err(internal)?;
    let file = tmp.reopen().map_err(internal)?;
    drop(tmp);
    Ok((made, file))
}

/// A sheet-like export built whole: the `format`, `tz` and filter
/// parameters, `refuse` for filters the list has no rows for, then `write`
/// (rows into a scratch file, returning the summary) and the file streamed
/// as `{name}.{format}`.
async fn sheet_export(
    state: Arc<AppState>,
    raw: Option<String>,
    name: &'static str,
    refuse: impl FnOnce(&Query) -> Option<&'static str>,
    write: impl FnOnce(&Desk, &Query, &Zone, Format, &std::path::Path) -> Result<Value, ExportError>
    + Send
    + 'static,
) -> Result<Response, ApiError> {
    let mut p = Params::parse(raw);
    let format = take_format(&mut p)?;
    let zone = p.zone(&state.zone)?;
    let q = p.query(&zone)?;
    if let Some(why) = refuse(&q) {
        return Err(ApiError::bad_request(why));
    }
    let (summary, file) = with_desk(&state, move |desk| {
        scratch_file(desk, |path| write(desk, &q, &zone, format, path))
    })
    .await?;
    Ok(file_response(
        file,
        format.content_type(),
        &format!("{name}.{}", format.name()),
        summary,
    ))
}

/// The takedown list for the internet information office: one row per
/// site with confirmed findings (as `finscan export takedown`).
#[utoipa::path(get, path = "/api/exports/takedown", tag = "exports", params(ExportParams, FindingFilters),
    responses(
        (status = 200, description = "The file (x-finscan-summary: rows)", content_type = "application/octet-stream"),
        (status = 400, description = "A bad format or filter", body = ErrorBody)))]
async fn export_takedown(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    use crate::export::takedown;
    let refuse = |q: &Query| {
        (q.source == Some(SourceKind::Registry))
            .then_some("the takedown list is of sites: source=registry has no rows here")
    };
    sheet_export(
        state,
        raw,
        "takedown",
        refuse,
        |desk, q, zone, format, path| {
            let rows = takedown::takedown_rows(desk, q, zone)?;
            takedown::write(&rows, format, path)?;
            Ok(json!({ "rows": rows.len() }))
        },
    )
    .await
}

/// The flagged companies for the county governments (as `finscan export
/// companies`: without a status filter, the confirmed findings).
#[utoipa::path(get, path = "/api/exports/companies", tag = "exports", params(ExportParams, FindingFilters),
    responses(
        (status = 200, description = "The file (x-finscan-summary: rows, counties)", content_type = "application/octet-stream"),
        (status = 400, description = "A bad format or filter", body = ErrorBody)))]
async fn export_companies(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    use crate::export::companies;
    let refuse = |q: &Query| {
        if q.source == Some(SourceKind::Page) {
            Some("the companies list is of registry findings: source=page has no rows here")
        } else if !q.sites.is_empty() {
            Some("the companies list is of registry findings: site has no rows here")
        } else {
            None
        }
    };
    sheet_export(
        state,
        raw,
        "companies",
        refuse,
        |desk, q, zone, format, path| {
            let rows = companies::company_rows(desk, q, zone)?;
            companies::write(&rows, format, path)?;
            let counties = companies::sheets(&rows).len();
            Ok(json!({ "rows": rows.len(), "counties": counties }))
        },
    )
    .await
}

/// A `Write` that sends what is written, in chunks, into a bounded channel
/// that a response body reads: a blocking exporter writes at the pace the
/// client reads, and stops (a broken pipe) when the client goes away.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: Vec<u8>,
}

const CHUNK: usize = 64 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// Runs `write` on the blocking pool into a streamed body. An error after
/// the response started ends the body short (the client sees an
/// incomplete transfer, never a complete-looking file).
fn streamed(write: impl FnOnce(&mut ChannelWriter) -> Result<(), String> + Send + 'static) -> Body {
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::task::spawn_blocking(move || {
        let mut w = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(CHUNK),
        };
        let result = write(&mut w).and_then(|()| w.flush().map_err(|e| e.to_string()));
        if let Err(e) = result {
            tracing::warn!(error = %e, "a streamed export stopped");
            let _ = tx.blocking_send(Err(std::io::Error::other(e)));
        }
    });
    Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    }))
}

/// Evidence as WARC 1.1 (gzip members): the response and request records
/// of the selected pages, streamed as written (as `finscan export warc`).
#[utoipa::path(get, path = "/api/exports/warc", tag = "exports", params(WarcParams),
    responses(
        (status = 200, description = "The WARC, gzip (x-finscan-summary: pages, records, no_body, faults)", content_type = "application/warc"),
        (status = 400, description = "A bad parameter", body = ErrorBody)))]
async fn export_warc(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut p = Params::parse(raw);
    let zone = p.zone(&state.zone)?;
    let time = |p: &mut Params, key: &str, end: bool| -> Result<_, ApiError> {
        p.take_one(key)?
            .map(|s| {
                zone.parse(&s, end)
                    .map_err(|e| ApiError::bad_request(format!("{key}: {e}")))
            })
            .transpose()
    };
    let selection = PageSelection {
        host: p.take_one("host")?,
        urls: p.take("url"),
        since: time(&mut p, "since", false)?,
        until: time(&mut p, "until", true)?,
        all_pages: match p.take_one("all_pages")?.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(v) => {
                return Err(ApiError::bad_request(format!(
                    "all_pages={v}: expected true or false"
                )));
            }
        },
    };
    p.finish()?;
    // the summary is known before the first byte: one pass over the page
    // records (not the bodies) counts what the export will write and skip
    let sel = selection.clone();
    let summary = with_desk(&state, move |desk| {
        let store = desk.store();
        let (mut pages, mut no_body, mut faults) = (0u64, 0u64, Vec::new());
        for p in sel.pages(store) {
            match p {
                Ok(page) => match page.sha256.as_deref() {
                    None => no_body += 1,
                    Some(sha) => {
                        let held = hex::decode(sha)
                            .ok()
                            .map(|k| store.bodies.contains_key(k))
                            .transpose()
                            .map_err(internal)?
                            .unwrap_or(false);
                        if held {
                            pages += 1;
                        } else {
                            faults.push(format!(
                                "{}: body {sha} is missing from the database",
                                page.url
                            ));
                        }
                    }
                },
                Err(ExportError::NoSuchPage { url }) => {
                    faults.push(format!("{url}: no page is stored under this URL"))
                }
                Err(e) => return Err(internal(e)),
            }
        }
        let earlier = sel.earlier_evidence(store).map_err(internal)?;
        let mut held = 0u64;
        for e in &earlier {
            let key = hex::decode(&e.sha256).map_err(internal)?;
            if store.bodies.contains_key(key).map_err(internal)? {
                held += 1;
            } else {
                faults.push(format!(
                    "{}: body {} is missing from the database",
                    e.url, e.sha256
                ));
            }
        }
        Ok((
            json!({
                "pages": pages,
                "earlier": held,
                "records": 1 + 2 * pages + held,
                "no_body": no_body,
                "faults": faults,
                "selection": sel.describe(),
            }),
            earlier,
        ))
    })
    .await?;
    let (summary, earlier) = summary;
    let desk = state.desk.clone();
    let body = streamed(move |w| {
        let store = desk.store();
        crate::export::export_warc(
            store,
            selection.pages(store),
            &earlier,
            w,
            Some("finscan.warc.gz"),
            &selection.describe(),
        )
        .map(|_| ())
        .map_err(|e| e.to_string())
    });
    Ok(attachment(
        body,
        "application/warc",
        "finscan.warc.gz",
        summary,
    ))
}

/// The periodic report: one self-contained HTML file (as `finscan
/// report`), streamed as written.
#[utoipa::path(get, path = "/api/report", tag = "exports", params(ReportParams),
    responses(
        (status = 200, description = "The report (x-finscan-summary: findings, top_sites)", content_type = "text/html"),
        (status = 400, description = "A bad parameter", body = ErrorBody)))]
async fn report(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let mut p = Params::parse(raw);
    let zone = p.zone(&state.zone)?;
    let since = p
        .take_one("since")?
        .map(|s| {
            zone.parse(&s, false)
                .map_err(|e| ApiError::bad_request(format!("since: {e}")))
        })
        .transpose()?;
    let title = p.take_one("title")?;
    p.finish()?;
    let z = zone.clone();
    let data = with_desk(&state, move |desk| {
        let mut data = desk
            .report_data(since, crate::time::now(), &z)
            .map_err(internal)?;
        if let Some(t) = title {
            data.title = t;
        }
        Ok(data)
    })
    .await?;
    let total: u64 = data.by_status.iter().map(|c| c.count).sum();
    let summary = json!({ "findings": total, "top_sites": data.top_sites.len() });
    let body =
        streamed(move |w| crate::report::write_html(&data, &zone, w).map_err(|e| e.to_string()));
    Ok(attachment(
        body,
        "text/html; charset=utf-8",
        "report.html",
        summary,
    ))
}

// ── jobs ──────────────────────────────────────────────────────────────────

impl From<JobsError> for ApiError {
    fn from(e: JobsError) -> ApiError {
        match &e {
            JobsError::UnknownJob(name) => {
                ApiError::new(StatusCode::NOT_FOUND, &e).with("job", json!(name))
            }
            JobsError::AlreadyRunning { job, run } => ApiError::new(StatusCode::CONFLICT, &e)
                .with("job", json!(job))
                .with("run", json!(run)),
            JobsError::NotRunning(name) => {
                ApiError::new(StatusCode::CONFLICT, &e).with("job", json!(name))
            }
            JobsError::ShuttingDown => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, &e),
            _ => internal(e),
        }
    }
}

/// The run history's page size.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct RunsParams {
    /// At most this many runs, newest first (default 20, at most 1000).
    limit: Option<usize>,
}

/// Runs listed by default, and at most.
const RUNS_DEFAULT: usize = 20;
const RUNS_MAX: usize = 1000;

/// A run started or asked to stop.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunAccepted {
    pub job: String,
    /// The run's id (its record: `GET /api/jobs/{name}/runs`).
    #[schema(value_type = u64)]
    pub run: RunId,
}

/// Every job with its schedule, its next fire, the run going on (with its
/// progress) and the last run that ended; `next_deadline` is when the
/// recheck of a notified finding's deadline fires next.
#[utoipa::path(get, path = "/api/jobs", tag = "jobs",
    responses(
        (status = 200, description = "`jobs`: name, kind, schedule, next_fire, running (run, trigger, started, waiting_for_crawler, stopping, progress) or null, last (run, outcome, started, ended) or null; `next_deadline`", body = Object),
        (status = 401, description = "No token, or not a valid one", body = ErrorBody),
        (status = 403, description = "Not an admin token", body = ErrorBody)))]
async fn list_jobs(State(state): State<Arc<AppState>>) -> Json<Value> {
    Json(json!({
        "jobs": state.jobs.list(),
        "next_deadline": state.jobs.next_deadline(),
    }))
}

/// Starts a run of the job now. Refused while the job runs, naming that
/// run. A run of a job that drives the crawler may wait for another such
/// run to end (`waiting_for_crawler` in `GET /api/jobs`).
#[utoipa::path(post, path = "/api/jobs/{name}/run", tag = "jobs",
    params(("name" = String, Path, description = "The job's name")),
    responses(
        (status = 202, description = "Started: its run id", body = RunAccepted),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is running: `run` is the running run's id", body = ErrorBody),
        (status = 503, description = "The server is shutting down", body = ErrorBody)))]
async fn run_job(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RunAccepted>), ApiError> {
    let run = state.jobs.run_now(&name)?;
    Ok((StatusCode::ACCEPTED, Json(RunAccepted { job: name, run })))
}

/// Asks the job's running run to stop at its next checkpoint: what it
/// stored is kept, the run is recorded `cancelled` and not resumed.
#[utoipa::path(post, path = "/api/jobs/{name}/cancel", tag = "jobs",
    params(("name" = String, Path, description = "The job's name")),
    responses(
        (status = 202, description = "Asked to stop: the run's id (it ends shortly)", body = RunAccepted),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is not running", body = ErrorBody)))]
async fn cancel_job(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> Result<(StatusCode, Json<RunAccepted>), ApiError> {
    let run = state.jobs.cancel_job(&name)?;
    Ok((StatusCode::ACCEPTED, Json(RunAccepted { job: name, run })))
}

/// The job's run history, newest first: trigger, start, end, outcome,
/// pages (or records), findings new and seen, errors, messages, and the
/// job's own report (`detail`).
#[utoipa::path(get, path = "/api/jobs/{name}/runs", tag = "jobs",
    params(("name" = String, Path, description = "The job's name"), RunsParams),
    responses(
        (status = 200, description = "`runs`: id, job, kind, trigger, started, ended, outcome, pages, findings_new, findings_seen, errors, messages, resumed_by, detail", body = Object),
        (status = 400, description = "A bad limit", body = ErrorBody),
        (status = 404, description = "No such job, and no history under that name", body = ErrorBody)))]
async fn job_runs(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let mut p = Params::parse(raw);
    let limit = match p.take_one("limit")? {
        None => RUNS_DEFAULT,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=RUNS_MAX).contains(&n) => n,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "limit={l}: expected a number from 1 to {RUNS_MAX}"
                )));
            }
        },
    };
    p.finish()?;
    let jobs = state.jobs.clone();
    let runs = tokio::task::spawn_blocking(move || jobs.runs(&name, limit))
        .await
        .map_err(internal)??;
    Ok(Json(json!({ "runs": runs })))
}

/// The config the server runs with: listen address, database, limits, the
/// tokens' names and roles (never their hashes) and the jobs.
#[utoipa::path(get, path = "/api/config", tag = "server",
    responses((status = 200, description = "The config", body = Object),
        (status = 403, description = "Not an admin token", body = ErrorBody)))]
async fn config_view(State(state): State<Arc<AppState>>) -> Json<Value> {
    let c = &state.config;
    let s = &c.server;
    Json(json!({
        "config": c.path,
        "server": {
            "db": c.db_dir(),
            "listen": s.listen.to_string(),
            "allow_remote": s.allow_remote,
            "tz": state.zone.name(),
            "max_body_bytes": s.max_body_bytes,
            "request_timeout_secs": s.request_timeout_secs,
            "header_timeout_secs": s.header_timeout_secs,
            "max_connections": s.max_connections,
            "shutdown_grace_secs": s.shutdown_grace_secs,
        },
        "tokens": state.tokens.current_names(),
        "jobs": c.jobs.iter().map(|j| json!({
            "name": j.name,
            "kind": j.kind(),
            "schedule": j.schedule,
        })).collect::<Vec<_>>(),
    }))
}

/// Checks every finding against its events and the indexes (as `finscan
/// hits check --json`; repairing needs the server stopped).
#[utoipa::path(get, path = "/api/check", tag = "server",
    responses((status = 200, description = "The check report", body = Object),
        (status = 403, description = "A recipient token", body = ErrorBody)))]
async fn check(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    with_desk(&state, |desk| {
        serde_json::to_value(desk.check()?)
            .map(Json)
            .map_err(internal)
    })
    .await
}

/// This description.
#[utoipa::path(get, path = "/openapi.json", tag = "server",
    responses((status = 200, description = "The OpenAPI 3.1 description of this API", body = Object)))]
async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI description, from the handlers' annotations.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "finscan",
        description = "The review desk of finscan over HTTP: findings, review decisions, sites, exports and the report and the scheduled jobs. Every endpoint but /health needs `Authorization: Bearer TOKEN`; roles: reviewer (read and review), recipient (takedown list and report), admin (everything, and alone the config and the jobs)."
    ),
    paths(
        health,
        list_findings,
        get_finding,
        finding_history,
        review_finding,
        review_batch,
        list_sites,
        export_takedown,
        export_companies,
        export_warc,
        report,
        config_view,
        check,
        list_jobs,
        run_job,
        cancel_job,
        job_runs,
        openapi_json
    ),
    components(schemas(ErrorBody, Health, ReviewAction, ReviewRequest, BatchRequest, BatchResponse, OneOrMany, RunAccepted)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

impl TokenStore {
    /// The current tokens' names and roles, for `/api/config`.
    fn current_names(&self) -> Value {
        json!(
            self.current()
                .callers()
                .map(|c| json!({"name": c.name, "role": c.role}))
                .collect::<Vec<_>>()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_reach_their_endpoints_only() {
        use Access::*;
        for a in [Any, Read, Review, Deliver, Admin] {
            assert!(a.allows(Role::Admin));
        }
        assert!(Read.allows(Role::Reviewer) && Review.allows(Role::Reviewer));
        assert!(Deliver.allows(Role::Reviewer) && !Admin.allows(Role::Reviewer));
        assert!(Deliver.allows(Role::Recipient) && Any.allows(Role::Recipient));
        for a in [Read, Review, Admin] {
            assert!(!a.allows(Role::Recipient), "{a:?}");
        }
    }

    #[test]
    fn the_description_names_every_path_of_the_issue() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for path in [
            "/health",
            "/api/findings",
            "/api/findings/{id}",
            "/api/findings/{id}/history",
            "/api/findings/{id}/review",
            "/api/review",
            "/api/sites",
            "/api/exports/takedown",
            "/api/exports/companies",
            "/api/exports/warc",
            "/api/report",
            "/api/jobs",
            "/api/jobs/{name}/run",
            "/api/jobs/{name}/cancel",
            "/api/jobs/{name}/runs",
        ] {
            assert!(doc["paths"].get(path).is_some(), "{path} is not described");
        }
        assert_eq!(
            doc["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
    }

    #[test]
    fn a_decision_needs_its_deadline_and_only_with_notify() {
        let r = |action, deadline: Option<&str>| ReviewRequest {
            action,
            reviewer: "wang".into(),
            note: None,
            deadline: deadline.map(|d| d.parse().unwrap()),
        };
        assert!(r(ReviewAction::Notify, None).decision().is_err());
        assert!(
            r(ReviewAction::Confirm, Some("2026-05-01"))
                .decision()
                .is_err()
        );
        assert!(matches!(
            r(ReviewAction::Notify, Some("2026-05-01"))
                .decision()
                .unwrap()
                .action,
            Action::Notify { .. }
        ));
    }
}
