//! `finscan serve`: one long-running process that owns the database and
//! answers an HTTP API for reviewers, the command line and the internet
//! information office.
//!
//! * [`config`]: `finscan.toml`: the database, the listen address, limits,
//!   tokens with roles, and the jobs (checked; see below).
//! * [`token`]: API tokens: made once, stored as SHA-256 in the config,
//!   checked in constant time, re-read when the config changes.
//! * [`api`]: the routes (findings, review, sites, exports, report, config,
//!   check, health), their roles, JSON errors, the OpenAPI description.
//! * [`http`]: the connections: bounded in number and in idle time, shut
//!   down gracefully, the database flushed.
//! * [`owner`]: who owns a database: the serve file a server writes into
//!   it, and the process holding sled's lock when a command cannot open it.
//! * [`client`]: the API client the command line uses when a server owns
//!   the database.
//!
//! Not here yet: the scheduler. The config's `[[jobs]]` are read and
//! checked (kind, cron schedule, options) so that a config written now
//! stays valid, but no job runs and the API has no jobs endpoints until
//! the crawl, registry and recheck pipelines are library calls the
//! scheduler can make.
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
