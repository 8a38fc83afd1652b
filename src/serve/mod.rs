//! `finscan serve`: one long-running process that owns the database and
//! answers an HTTP API for reviewers, the command line and the internet
//! information office.
//!
//! * [`config`]: `finscan.toml`: the database, the listen address, limits,
//!   tokens with roles, and the jobs (checked; see below).
//! * [`token`]: API tokens: made once, stored as SHA-256 in the config,
//!   checked in constant time, re-read when the config changes.
//! * [`api`]: the routes (findings, review, sites, exports, report, jobs,
//!   config, check, health), their roles, JSON errors, the OpenAPI
//!   description.
//! * [`http`]: the connections: bounded in number and in idle time, shut
//!   down gracefully with the scheduler's jobs, the database flushed.
//! * [`owner`]: who owns a database: the serve file a server writes into
//!   it, and the process holding sled's lock when a command cannot open it.
//! * [`client`]: the API client the command line uses when a server owns
//!   the database.
//!
//! The scheduler is [`crate::jobs::Scheduler`], started by [`Server::bind`]
//! over the server's own review desk and stopped by its shutdown; the API
//! lists, runs and cancels its jobs and reads their history.
//!
//! One writer of the registry's index file: the registry store
//! ([`crate::registry::store`]) is opened by registry scans, registry-page
//! crawls, rechecks and the desk's intake of new companies
//! ([`crate::review::Desk::sync`]) — all inside job runs, which take turns
//! at the scheduler ([`crate::jobs::JobKind::takes_turns`]) — and once by
//! [`Server::bind`] before the scheduler starts. No request handler opens
//! it: the API reads findings, which the desk keeps in trees of its own.
//!
//! Must not touch: the stores behind the review desk (it goes through
//! [`crate::review::Desk`] and the exporters only).

pub mod api;
pub mod client;
pub mod config;
pub mod http;
pub mod owner;
pub mod token;

pub use config::{Config, ConfigError, Role};
pub use http::{ServeError, Server, shutdown_signal};
