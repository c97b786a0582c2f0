//! SQL jobs on SQLite: which database a job may use, and the command that runs it.
//!
//! The SQL runs in a child process, this same binary started as `portico __sql-engine`
//! (`src/sql/`), so an SQL job is a process group like every other: kill and pause act on it
//! at once, mid-query, and a query that builds a huge result or sorts a huge table grows the
//! child, never the server. Which database: a user's own (`users/<user>/sqlite/default.db`,
//! created on first use, never reachable by another user), or a database named in the config
//! and open to the user, chosen with `params.configuration.runtime.database`. A path never
//! comes from the request. `jdbc-*` jobs run against the one database `[engines.jdbc]` names.

use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use super::{user_database, Engine, EngineError, Launch};
use crate::config::Config;

/// The job's SQL, as a file the engine reads.
pub(super) const SCRIPT: &str = "job.sql";

/// Where in a submission's `params` a job names its database.
pub const DATABASE_PARAM: &str = "/configuration/runtime/database";

/// The database file `engine` runs `user`'s job against, or why it may not.
pub(super) fn database_for(
    engine: Engine,
    config: &Config,
    user: &str,
    params: &Value,
) -> Result<PathBuf, EngineError> {
    let chosen = params.pointer(DATABASE_PARAM).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty());
    let name = match (engine, chosen) {
        (Engine::Jdbc, _) => config.sqlite.jdbc_database.as_deref().ok_or_else(|| {
            EngineError::Refused(
                "jdbc jobs are not set up on this server (the config's [engines.jdbc] names no database)".into(),
            )
        })?,
        (_, None) => return Ok(user_database(config, user)),
        (_, Some(name)) => name,
    };
    config
        .sqlite
        .databases
        .iter()
        .find(|d| d.name == name && d.users.iter().any(|u| u == "*" || u == user))
        .map(|d| d.path.clone())
        .ok_or_else(|| EngineError::Refused(format!("No database named {name:?} is open to user {user}")))
}

/// `portico __sql-engine …` for the job, its SQL written to `job.sql` in its working directory.
pub(super) fn command(engine: Engine, job: &Launch<'_>, config: &Config) -> Result<Command, EngineError> {
    let database = database_for(engine, config, job.user, job.params)?;
    if database == user_database(config, job.user) {
        if let Some(dir) = database.parent() {
            std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
        }
    }
    let script = job.work_dir.join(SCRIPT);
    std::fs::write(&script, job.code)?;
    let mut command = Command::new(std::env::current_exe()?);
    command
        .arg(crate::sql::SUBCOMMAND)
        .arg("--database")
        .arg(&database)
        .arg("--script")
        .arg(&script)
        .arg("--result-dir")
        .arg(job.result_dir)
        .arg("--row-cap")
        .arg(config.sqlite.row_cap.to_string())
        .arg("--max-result-bytes")
        .arg(config.limits.max_result_set_bytes.to_string());
    Ok(command)
}
