//! Portico: a Linkis-compatible job entrance in one small binary.
//!
//! The crate's public surface is what the binary, the integration tests and the benchmarks
//! need: [`Config`] and [`Server`] to start a server, a few start-up helpers, and the job
//! [`History`] for its benchmark. Every module is private, so the layers below are the
//! compiler's to enforce, not a convention's. `http/` speaks the Linkis wire format
//! and knows nothing of processes; `job/` schedules and runs jobs and knows nothing of HTTP;
//! `storage/` reads and writes the files that outlive a request.

mod accounts;
mod backup;
mod clock;
mod config;
mod data_dir;
mod engine;
mod export;
mod http;
mod job;
mod logging;
mod metrics;
mod names;
mod procfs;
mod random;
mod retention;
mod signals;
mod sql;
mod storage;
mod sync;

use std::io;
use std::net::SocketAddr;

pub use accounts::hash_password;
/// `portico backup DEST`: a copy of a data directory's job history, beside its running server.
pub use backup::command as backup_main;
pub use config::{Config, ConfigError};
/// For the client: what a bare engine name stands for, from the same table the server uses.
pub use engine::versioned_engine_type;
/// The documented (method, path) pairs, for the test that checks the served document against them.
pub use http::openapi::ENDPOINTS as OPENAPI_ENDPOINTS;
pub use logging::flush as flush_log;
pub use logging::init as init_logging;
pub use signals::on_termination;
/// The SQL engine's child process, which the server starts as `portico __sql-engine`.
pub use sql::{main as sql_engine_main, SUBCOMMAND as SQL_ENGINE_SUBCOMMAND};
/// The job history on its own, for the benchmark that measures its queries.
pub use storage::history::{History, HistoryError, JobRecord, JobUpdate, ListFilter};
/// The table result-set writer on its own, for the benchmark that measures it.
pub use storage::result_set::{Column, TableResultWriter, TableWriteError};

/// The request parsers, each behind an entry point that takes arbitrary bytes and panics when
/// they break a rule: for `cargo fuzz` (`fuzz/`) and the bounded run in `tests/fuzz.rs`.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::http::fuzz::{chunked_body, http_head, job_id, query, submit_body};
}

/// The transport with a fixed answer and no application behind it: the status-polling
/// benchmark's ceiling (`benches/polling.rs`).
#[doc(hidden)]
pub mod benching {
    pub use crate::http::HttpServer;
}

use accounts::Accounts;
use data_dir::{DataDirLock, Layout};
use http::{Context, HttpServer};
use job::scheduler::Scheduler;
use retention::Retention;

/// A running Portico: the HTTP front end and the job scheduler behind it.
pub struct Server {
    http: HttpServer,
    scheduler: Scheduler,
    /// Removes what retention says is old, in the background; `None` when it keeps everything.
    retention: Option<Retention>,
    /// Held for the server's life: no second server may use the data directory meanwhile.
    _data_dir: DataDirLock,
}

impl Server {
    /// Takes the data directory (creating it), binds, starts the workers, and starts serving.
    pub fn start(mut config: Config) -> io::Result<Server> {
        let (data_dir, mut lock) = DataDirLock::acquire(&config.data_dir)?;
        config.data_dir = data_dir;
        cap_connections_by_descriptors(&mut config);
        let listener = http::bind(&config.bind)?;
        let addr = listener.local_addr()?;
        lock.record_holder(&addr.to_string())?;
        let accounts = Accounts::load(&config).map_err(|e| io::Error::other(e.to_string()))?;
        let scheduler =
            Scheduler::start(config.clone(), addr.to_string()).map_err(|e| io::Error::other(e.to_string()))?;
        let retention = Retention::start(config.retention.clone(), scheduler.clone(), Layout::new(&config.data_dir))?;
        let http = HttpServer::start(listener, Context::new(config, scheduler.clone(), accounts))?;
        Ok(Server { http, scheduler, retention, _data_dir: lock })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.http.addr()
    }

    /// Blocks until the server can no longer accept connections (an error) or is stopped.
    pub fn wait(&mut self) -> io::Result<()> {
        self.http.wait()
    }

    /// A handle that stops the server from another thread (a signal handler's thread):
    /// [`Server::wait`] then returns `Ok`.
    pub fn stop_trigger(&self) -> impl Fn() + Send + Sync + 'static {
        self.http.stop_trigger()
    }

    /// Stops accepting requests, lets running jobs finish for up to `grace`, kills the rest,
    /// and returns once every job is recorded. Queued jobs stay queued for the next start.
    pub fn shutdown(mut self, grace: std::time::Duration) {
        self.http.stop();
        drop(self.http);
        if let Some(mut retention) = self.retention.take() {
            retention.stop();
        }
        self.scheduler.shutdown(grace);
    }
}

/// Keeps `max_connections` within the open-file limit, leaving descriptors for the jobs' pipes
/// and files, the history and the logs: past it, accepting would fail instead of evicting.
fn cap_connections_by_descriptors(config: &mut Config) {
    // SAFETY: getrlimit only writes the struct we pass.
    let soft = unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return;
        }
        limit.rlim_cur as u64
    };
    let reserved = 64 + 16 * config.workers as u64;
    let room = soft.saturating_sub(reserved).max(16) as usize;
    if config.max_connections > room {
        log::warn!(
            "max_connections {} is more than the open-file limit {soft} leaves room for; using {room}",
            config.max_connections
        );
        config.max_connections = room;
    }
}

/// Raises the soft open-file limit to the hard limit: every connection and every running
/// job's pipes and files need descriptors.
pub fn raise_fd_limit() -> io::Result<u64> {
    // SAFETY: getrlimit/setrlimit only read and write the struct we pass.
    unsafe {
        let mut limit: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(io::Error::last_os_error());
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(limit.rlim_cur as u64)
    }
}
