//! The server's connections: accepting, bounding, shutting down.
//!
//! Two bounds keep the server answering whatever clients do: at most
//! `max_connections` connections are served at once (one more is closed as
//! soon as it is accepted, so it holds neither a file descriptor nor
//! memory), and a connection that has not sent a whole request head within
//! `header_timeout_secs` — a new one, or a kept-alive one between requests
//! — is closed by hyper's header read timeout. A thousand idle connections
//! therefore cost at most `max_connections` sockets for at most that long,
//! and `/health` answers again as soon as they are gone. Each request then
//! has `request_timeout_secs` until its response starts, and a body of at
//! most `max_body_bytes` (see [`super::api::router`]).
//!
//! The scheduler ([`crate::jobs::Scheduler`]) starts with the server, over
//! the server's own review desk: one process owns the database, and the
//! jobs' findings are on the desk the API reads as soon as a run ends.
//!
//! Shutdown (SIGTERM, Ctrl-C): the listener closes first; connections
//! finish the request they are serving, idle ones close, and at the same
//! time the scheduler asks its running jobs to stop at their next
//! checkpoint (recorded `interrupted`, resumed at the next start); after
//! `shutdown_grace_secs` the remaining connections are dropped and a job
//! still running is left to be resumed as after a crash. Then the database
//! is flushed and the serve file removed.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::sync::Semaphore;

use super::api::{AppState, Limits, router};
use super::config::Config;
use super::owner::{self, ServeFile};
use super::token::TokenStore;
use crate::jobs::{JobsError, Scheduler, SchedulerConfig};
use crate::review::{Desk, ReviewError};

/// Why the server could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot create the database directory {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Locked(String),
    #[error("cannot open the database {}: {source}", path.display())]
    Open { path: PathBuf, source: ReviewError },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot write {}: {source}", path.display())]
    ServeFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start the scheduler: {0}")]
    Jobs(#[from] JobsError),
    #[error("flushing the database: {0}")]
    Flush(ReviewError),
}

/// A server bound to its address and owning its database, not yet serving.
pub struct Server {
    state: Arc<AppState>,
    listener: std::net::TcpListener,
    db: PathBuf,
    /// Findings taken in from crawls and scans when the database opened.
    pub new_findings: usize,
}

/// What a run did, for the last log line.
#[derive(Debug, Clone, Default)]
pub struct RunSummary {
    /// Connections closed at once because `max_connections` were open.
    pub refused_connections: u64,
    /// Connections still open when the shutdown grace ran out.
    pub cut_connections: usize,
    /// Job runs stopped at a checkpoint by the shutdown (resumed at the
    /// next start).
    pub jobs_stopped: usize,
    /// Job runs still going when the grace ran out (resumed at the next
    /// start, as after a crash).
    pub jobs_unfinished: usize,
}

impl Server {
    /// Opens (creating if needed) the database of `config`, binds `listen`
    /// (else the config's address) and starts the scheduler of the
    /// config's jobs, which resumes the runs a previous process left
    /// unfinished. A database another process holds is refused with that
    /// process named. Call inside a tokio runtime (the scheduler's tasks
    /// are spawned on it).
    pub fn bind(config: Config, listen: Option<SocketAddr>) -> Result<Server, ServeError> {
        let db = config.db_dir();
        std::fs::create_dir_all(&db).map_err(|source| ServeError::CreateDir {
            path: db.clone(),
            source,
        })?;
        let (desk, opened) = match Desk::open(&db) {
            Ok(d) => d,
            Err(e) if owner::is_lock_error(&e) => {
                return Err(ServeError::Locked(owner::locked_message(&db)));
            }
            Err(source) => {
                return Err(ServeError::Open {
                    path: db.clone(),
                    source,
                });
            }
        };
        let addr = listen.unwrap_or(config.server.listen);
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .map_err(|source| ServeError::Bind { addr, source })?;
        let desk = Arc::new(desk);
        let jobs = Scheduler::start(
            desk.clone(),
            config.jobs.clone(),
            SchedulerConfig {
                zone: config.zone(),
                ..SchedulerConfig::default()
            },
        )?;
        Ok(Server {
            state: Arc::new(AppState {
                desk,
                jobs,
                tokens: TokenStore::new(&config),
                zone: config.zone(),
                config,
            }),
            listener,
            db,
            new_findings: opened.new_findings,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn db(&self) -> &std::path::Path {
        &self.db
    }

    pub fn config(&self) -> &Config {
        &self.state.config
    }

    /// Serves until `shutdown` completes, then shuts down gracefully (see
    /// the module doc). Call inside a tokio runtime.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> Result<RunSummary, ServeError> {
        let server = &self.state.config.server;
        let addr = self.local_addr().map_err(|source| ServeError::Bind {
            addr: server.listen,
            source,
        })?;
        let serve_file = ServeFile {
            pid: std::process::id(),
            url: format!("http://{addr}"),
            started_at: crate::time::now().to_string(),
            config: std::path::absolute(&self.state.config.path)
                .unwrap_or_else(|_| self.state.config.path.clone()),
        };
        serve_file
            .write(&self.db)
            .map_err(|source| ServeError::ServeFile {
                path: ServeFile::path(&self.db),
                source,
            })?;
        let listener = tokio::net::TcpListener::from_std(self.listener)
            .map_err(|source| ServeError::Bind { addr, source })?;
        let app = router(
            self.state.clone(),
            Limits {
                max_body_bytes: server.max_body_bytes,
                request_timeout: Duration::from_secs(server.request_timeout_secs),
            },
        );
        let header_timeout = Duration::from_secs(server.header_timeout_secs);
        let grace = Duration::from_secs(server.shutdown_grace_secs);
        let slots = Arc::new(Semaphore::new(server.max_connections));
        let graceful = GracefulShutdown::new();
        let mut summary = RunSummary::default();
        tokio::pin!(shutdown);
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        // out of file descriptors, or a connection reset
                        // before it was accepted: wait a moment, go on
                        tracing::warn!(error = %e, "accepting a connection failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                summary.refused_connections += 1;
                if summary.refused_connections.is_power_of_two() {
                    tracing::warn!(
                        refused = summary.refused_connections,
                        max_connections = server.max_connections,
                        "connection closed: max_connections are open"
                    );
                }
                drop(stream);
                continue;
            };
            let _ = stream.set_nodelay(true);
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .keep_alive(true);
            let conn = builder
                .serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
                drop(slot);
            });
        }
        drop(listener);
        tracing::info!("shutting down: finishing the requests in flight, stopping the jobs");
        let connections = async {
            tokio::select! {
                () = graceful.shutdown() => 0,
                () = tokio::time::sleep(grace) => {
                    let cut = server.max_connections - slots.available_permits();
                    tracing::warn!(connections = cut, "shutdown grace ran out: connections cut");
                    cut
                }
            }
        };
        let (cut, jobs) = tokio::join!(connections, self.state.jobs.shutdown(grace));
        summary.cut_connections = cut;
        summary.jobs_stopped = jobs.stopped.len();
        summary.jobs_unfinished = jobs.unfinished.len();
        if !jobs.unfinished.is_empty() {
            tracing::warn!(
                runs = ?jobs.unfinished.iter().map(|r| r.0).collect::<Vec<_>>(),
                "shutdown grace ran out: job runs still going are resumed at the next start"
            );
        }
        // the desk is closed, so that sled writes its snapshot, when nothing
        // else holds it any more (a job run past the grace still may)
        let desk = self.state.desk.clone();
        drop(app);
        drop(self.state);
        let flushed = tokio::task::spawn_blocking(move || match Arc::try_unwrap(desk) {
            Ok(desk) => desk.close().map(|snapshot| {
                tracing::debug!(snapshot, "database closed");
            }),
            Err(desk) => desk.flush(),
        })
        .await
        .unwrap_or(Ok(()));
        ServeFile::remove_if_ours(&self.db);
        flushed.map_err(ServeError::Flush)?;
        Ok(summary)
    }
}

/// Completes on SIGTERM or Ctrl-C (SIGINT).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
